{{/* The name of every object of a release. */}}
{{- define "distrod.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "distrod.headless" -}}
{{- printf "%s-headless" (include "distrod.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "distrod.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "distrod.labels" -}}
{{ include "distrod.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "distrod.secretName" -}}
{{- default (printf "%s-cluster" (include "distrod.fullname" .)) .Values.clusterSecret.existingSecret -}}
{{- end -}}

{{/* The headless service's DNS name, which resolves to every member. */}}
{{- define "distrod.headlessFQDN" -}}
{{- printf "%s.%s.svc.%s" (include "distrod.headless" .) .Release.Namespace .Values.cluster.clusterDomain -}}
{{- end -}}

{{/* NACOS_SERVERS for static discovery: each pod's stable DNS name. */}}
{{- define "distrod.servers" -}}
{{- $fullname := include "distrod.fullname" . -}}
{{- $fqdn := include "distrod.headlessFQDN" . -}}
{{- $port := int .Values.port -}}
{{- $servers := list -}}
{{- range $i := until (int .Values.replicaCount) -}}
{{- $servers = append $servers (printf "%s-%d.%s:%d" $fullname $i $fqdn $port) -}}
{{- end -}}
{{- join " " $servers -}}
{{- end -}}
