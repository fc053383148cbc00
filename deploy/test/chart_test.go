package deploytest

import (
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/distrod/distrod/internal/config"
	"github.com/distrod/distrod/internal/membership"
	"github.com/distrod/distrod/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite deploy/kubernetes/distrod.yaml from the chart")

// repoRoot is the distrod repository root.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// rendered is a chart rendering decoded into API types.
type rendered struct {
	docs        []string // every YAML document, in template order
	statefulSet *appsv1.StatefulSet
	services    map[string]*corev1.Service
	secrets     map[string]*corev1.Secret
	pdb         *policyv1.PodDisruptionBudget
}

// render renders the chart with Helm's engine, as `helm template` does, and
// decodes every object strictly: an unknown or misspelt field, or a value
// of the wrong type, fails.
func render(t *testing.T, release, namespace string, values map[string]any) *rendered {
	t.Helper()
	ch, err := loader.Load(filepath.Join(repoRoot(), "deploy", "helm", "distrod"))
	if err != nil {
		t.Fatal(err)
	}
	if err := chartutil.ValidateAgainstSchema(ch, values); err != nil {
		t.Fatal(err)
	}
	vals, err := chartutil.ToRenderValues(ch, values, chartutil.ReleaseOptions{Name: release, Namespace: namespace, IsInstall: true}, chartutil.DefaultCapabilities)
	if err != nil {
		t.Fatal(err)
	}
	out, err := engine.Render(ch, vals)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	names := make([]string, 0, len(out))
	for name := range out {
		if strings.HasSuffix(name, ".yaml") {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	r := &rendered{services: map[string]*corev1.Service{}, secrets: map[string]*corev1.Secret{}}
	for _, name := range names {
		for _, doc := range strings.Split(out[name], "\n---\n") {
			if strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			r.docs = append(r.docs, strings.TrimSpace(doc))
			var meta metav1.TypeMeta
			if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
				t.Fatalf("%s: %v\n%s", name, err, doc)
			}
			var obj any
			switch meta.APIVersion + " " + meta.Kind {
			case "apps/v1 StatefulSet":
				if r.statefulSet != nil {
					t.Fatalf("two StatefulSets")
				}
				r.statefulSet = &appsv1.StatefulSet{}
				obj = r.statefulSet
			case "v1 Service":
				obj = &corev1.Service{}
			case "v1 Secret":
				obj = &corev1.Secret{}
			case "policy/v1 PodDisruptionBudget":
				r.pdb = &policyv1.PodDisruptionBudget{}
				obj = r.pdb
			default:
				t.Fatalf("%s: unexpected object %s %s", name, meta.APIVersion, meta.Kind)
			}
			if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
				t.Fatalf("%s does not decode strictly as %s: %v\n%s", name, meta.Kind, err, doc)
			}
			switch o := obj.(type) {
			case *corev1.Service:
				r.services[o.Name] = o
			case *corev1.Secret:
				r.secrets[o.Name] = o
			}
		}
	}
	if r.statefulSet == nil {
		t.Fatal("no StatefulSet rendered")
	}
	return r
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// podEnv resolves the container environment of pod ordinal i the way the
// kubelet would: literal values, the pod IP, secrets (from the rendering or
// from extra, for existing Secrets), HOSTNAME (the pod name). Values the
// config does not read (resource fields) are left out.
func (r *rendered) podEnv(t *testing.T, i int, podIP string, extra map[string]map[string]string) map[string]string {
	t.Helper()
	sts := r.statefulSet
	env := map[string]string{"HOSTNAME": fmt.Sprintf("%s-%d", sts.Name, i)}
	c := sts.Spec.Template.Spec.Containers[0]
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.FieldRef != nil:
			if e.ValueFrom.FieldRef.FieldPath != "status.podIP" {
				t.Fatalf("env %s: unexpected field %s", e.Name, e.ValueFrom.FieldRef.FieldPath)
			}
			env[e.Name] = podIP
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			if s, ok := r.secrets[ref.Name]; ok {
				v, ok := s.Data[ref.Key]
				if !ok {
					t.Fatalf("env %s: secret %s has no key %s", e.Name, ref.Name, ref.Key)
				}
				env[e.Name] = string(v)
			} else if v, ok := extra[ref.Name][ref.Key]; ok {
				env[e.Name] = v
			} else if ref.Optional == nil || !*ref.Optional {
				t.Fatalf("env %s: secret %s key %s is neither rendered nor given", e.Name, ref.Name, ref.Key)
			}
		case e.ValueFrom.ResourceFieldRef != nil:
		default:
			t.Fatalf("env %s: unsupported source", e.Name)
		}
	}
	return env
}

// load runs distrod's own configuration loading on a pod's environment.
func load(t *testing.T, env map[string]string) config.Config {
	t.Helper()
	cfg, err := config.Load(nil, func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("config.Load of the pod env %v: %v", env, err)
	}
	return cfg
}

// checkObjects checks what holds for every rendering: the StatefulSet's
// governing service is the headless one, names and selectors line up,
// probes use distrod's health endpoints on a declared port.
func checkObjects(t *testing.T, r *rendered, replicas int) {
	t.Helper()
	sts := r.statefulSet
	if int(*sts.Spec.Replicas) != replicas {
		t.Errorf("replicas %d, want %d", *sts.Spec.Replicas, replicas)
	}
	headless, ok := r.services[sts.Spec.ServiceName]
	if !ok || headless.Spec.ClusterIP != corev1.ClusterIPNone || !headless.Spec.PublishNotReadyAddresses {
		t.Fatalf("serviceName %q: want a rendered headless Service publishing not-ready addresses", sts.Spec.ServiceName)
	}
	podLabels := sts.Spec.Template.Labels
	for k, v := range sts.Spec.Selector.MatchLabels {
		if podLabels[k] != v {
			t.Errorf("StatefulSet selector %s=%s does not match the pod template", k, v)
		}
	}
	c := sts.Spec.Template.Spec.Containers[0]
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ports["grpc"] != ports["http"]+1000 || ports["cluster"] != ports["http"]+1001 {
		t.Errorf("container ports %v: want gRPC = HTTP+1000 and cluster = HTTP+1001", ports)
	}
	var client *corev1.Service
	for _, s := range r.services {
		for k, v := range s.Spec.Selector {
			if podLabels[k] != v {
				t.Errorf("service %s selector %s=%s does not match the pods", s.Name, k, v)
			}
		}
		for _, p := range s.Spec.Ports {
			if _, ok := ports[p.TargetPort.StrVal]; !ok {
				t.Errorf("service %s targets port %q the container does not declare", s.Name, p.TargetPort.StrVal)
			}
		}
		if s.Spec.ClusterIP != corev1.ClusterIPNone {
			client = s
		}
	}
	if client == nil || len(client.Spec.Ports) != 2 || client.Spec.Ports[1].Port != client.Spec.Ports[0].Port+1000 {
		t.Errorf("client Service: want HTTP and gRPC ports 1000 apart, got %+v", client)
	}
	for name, pr := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
		if pr == nil || pr.HTTPGet == nil || pr.HTTPGet.Path != "/nacos/v1/console/health/"+name || ports[pr.HTTPGet.Port.StrVal] == 0 {
			t.Errorf("%s probe %+v: want GET /nacos/v1/console/health/%s on a declared port", name, pr, name)
		}
	}
	if c.Resources.Requests.Memory().IsZero() || c.Resources.Requests.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources %+v: want CPU and memory requests and a memory limit", c.Resources)
	}
	sc := c.SecurityContext
	if ps := sts.Spec.Template.Spec.SecurityContext; ps == nil || ps.RunAsNonRoot == nil || !*ps.RunAsNonRoot || sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("pod must run as non-root with a read-only root file system")
	}
	mounted := false
	for _, m := range c.VolumeMounts {
		mounted = mounted || m.MountPath == "/home/nacos/data"
	}
	if !mounted {
		t.Errorf("the data directory /home/nacos/data is not mounted")
	}
	if replicas > 1 && (r.pdb == nil || r.pdb.Spec.MaxUnavailable == nil || r.pdb.Spec.MaxUnavailable.IntValue() != 1) {
		t.Errorf("PodDisruptionBudget: want maxUnavailable 1, got %+v", r.pdb)
	}
}

func TestChart_DNSDiscoveryGivesEveryPodTheHeadlessMembers(t *testing.T) {
	r := render(t, "reg", "prod", nil)
	checkObjects(t, r, 3)
	sts := r.statefulSet
	if len(sts.Spec.VolumeClaimTemplates) != 1 || sts.Spec.VolumeClaimTemplates[0].Name != "data" {
		t.Errorf("want a data volume claim template, got %+v", sts.Spec.VolumeClaimTemplates)
	}
	secret := r.secrets["reg-distrod-cluster"]
	if secret == nil || len(secret.Data["cluster-secret"]) < 32 {
		t.Fatalf("want a generated cluster secret of 32+ characters, got %+v", secret)
	}
	// A real DNS server plays the cluster DNS: the headless service's name
	// resolves to the three pod IPs, as publishNotReadyAddresses makes it.
	dns := testutil.StartDNS(t)
	ips := []string{"10.1.0.11", "10.1.0.12", "10.1.0.13"}
	dns.SetA("reg-distrod-headless.prod.svc.cluster.local", ips...)
	var want []string
	for _, ip := range ips {
		want = append(want, ip+":8848")
	}
	for i, ip := range ips {
		cfg := load(t, r.podEnv(t, i, ip, nil))
		if cfg.Mode != config.ModeCluster || cfg.Lookup() != config.LookupDNS || cfg.SelfAddr() != ip+":8848" || cfg.ClusterSecret == "" {
			t.Fatalf("pod %d: mode %s lookup %s self %s secret set %t", i, cfg.Mode, cfg.Lookup(), cfg.SelfAddr(), cfg.ClusterSecret != "")
		}
		// The server's dns lookup source, asking the test's cluster DNS.
		src := membership.DNSSource{Host: cfg.MemberDNS, Port: cfg.Port, Resolver: membership.NewDNSResolver(dns.Addr)}
		got, err := src.Members(context.Background())
		if err != nil || !slices.Equal(got, want) || !slices.Contains(got, cfg.SelfAddr()) {
			t.Fatalf("pod %d resolves members %v (%v), want %v including itself", i, got, err, want)
		}
	}
}

func TestChart_StaticDiscoveryUsesStablePodNames(t *testing.T) {
	r := render(t, "distrod", "default", map[string]any{
		"replicaCount":  5,
		"cluster":       map[string]any{"discovery": "static"},
		"clusterSecret": map[string]any{"existingSecret": "my-secret", "key": "s"},
	})
	checkObjects(t, r, 5)
	if len(r.secrets) != 0 {
		t.Errorf("an existing secret was named, yet the chart renders %d Secrets", len(r.secrets))
	}
	var want []string
	for i := 0; i < 5; i++ {
		want = append(want, fmt.Sprintf("distrod-%d.distrod-headless.default.svc.cluster.local:8848", i))
	}
	for i := 0; i < 5; i++ {
		cfg := load(t, r.podEnv(t, i, "", map[string]map[string]string{"my-secret": {"s": "0123456789abcdef0123"}}))
		if !slices.Equal(cfg.Members, want) || cfg.SelfAddr() != want[i] || cfg.Lookup() != config.LookupStatic {
			t.Fatalf("pod %d: members %v self %s lookup %s, want %v and self %s", i, cfg.Members, cfg.SelfAddr(), cfg.Lookup(), want, want[i])
		}
	}
}

func TestChart_SingleReplicaIsStandaloneAndAuthNeedsASecret(t *testing.T) {
	r := render(t, "one", "default", map[string]any{"replicaCount": 1, "persistence": map[string]any{"enabled": false},
		"auth": map[string]any{"enabled": true, "existingSecret": "auth"}})
	checkObjects(t, r, 1)
	if r.pdb != nil {
		t.Error("a PodDisruptionBudget for one replica would block every node drain")
	}
	if vols := r.statefulSet.Spec.Template.Spec.Volumes; len(vols) != 1 || vols[0].EmptyDir == nil {
		t.Errorf("without persistence: want an emptyDir data volume, got %+v", vols)
	}
	token := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	cfg := load(t, r.podEnv(t, 0, "10.0.0.1", map[string]map[string]string{"auth": {"token-secret": token}}))
	if cfg.Mode != config.ModeStandalone || !cfg.AuthEnabled || cfg.AuthTokenSecret != token || cfg.AuthAdminPassword != "" {
		t.Fatalf("mode %s auth %t", cfg.Mode, cfg.AuthEnabled)
	}

	ch, err := loader.Load(filepath.Join(repoRoot(), "deploy", "helm", "distrod"))
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []map[string]any{
		{"auth": map[string]any{"enabled": true}},
		{"cluster": map[string]any{"discovery": "gossip"}},
	} {
		vals, err := chartutil.ToRenderValues(ch, bad, chartutil.ReleaseOptions{Name: "x", Namespace: "default"}, chartutil.DefaultCapabilities)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := engine.Render(ch, vals); err == nil {
			t.Errorf("values %v rendered; want a failure that says what to set", bad)
		}
	}
}

// TestPlainManifests_MatchTheChart keeps deploy/kubernetes/distrod.yaml
// equal to the chart rendered with release "distrod" in namespace
// "default" and a Secret the user creates.
func TestPlainManifests_MatchTheChart(t *testing.T) {
	r := render(t, "distrod", "default", map[string]any{"clusterSecret": map[string]any{"existingSecret": "distrod-cluster"}})
	checkObjects(t, r, 3)
	var b strings.Builder
	b.WriteString(`# distrod as a three-member cluster: headless Service (peer discovery),
# client Service, StatefulSet, PodDisruptionBudget. Generated from the Helm
# chart in deploy/helm/distrod (release "distrod", namespace "default"); do
# not edit: change the chart and run, in deploy/test,
#   go test -run TestPlainManifests -update
#
# The members authenticate each other with a shared secret; create it first:
#   kubectl create secret generic distrod-cluster --from-literal=cluster-secret="$(openssl rand -hex 32)"
#   kubectl apply -f distrod.yaml
`)
	for _, d := range r.docs {
		b.WriteString("---\n" + d + "\n")
	}
	path := filepath.Join(repoRoot(), "deploy", "kubernetes", "distrod.yaml")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != b.String() {
		t.Fatalf("%s differs from the chart's rendering: run go test -run TestPlainManifests -update in deploy/test", path)
	}
}

// TestChart_HelmLintFindsNothing runs `helm lint`'s rules on the chart.
func TestChart_HelmLintFindsNothing(t *testing.T) {
	for _, values := range []map[string]any{nil, {"cluster": map[string]any{"discovery": "static"}}} {
		l := lint.All(filepath.Join(repoRoot(), "deploy", "helm", "distrod"), values, "default", false)
		for _, m := range l.Messages {
			if m.Severity >= support.WarningSev {
				t.Errorf("helm lint (values %v): %s", values, m)
			}
		}
	}
}
