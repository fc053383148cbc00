package nacoshttp

import (
	"math"
	"strconv"
	"strings"

	"github.com/distrod/distrod/internal/naming"
)

// jfloat is a float64 written the way Java's Double.toString writes it
// (1.0, 2.5, 1.0E7), because Nacos clients and golden outputs see Jackson's
// doubles.
type jfloat float64

// MarshalJSON implements json.Marshaler.
func (f jfloat) MarshalJSON() ([]byte, error) { return []byte(javaDouble(float64(f))), nil }

func javaDouble(f float64) string {
	switch {
	case math.IsNaN(f):
		return `"NaN"`
	case math.IsInf(f, 0):
		return `"Infinity"`
	case f == 0:
		return "0.0"
	}
	a := math.Abs(f)
	if a >= 1e-3 && a < 1e7 {
		s := strconv.FormatFloat(f, 'f', -1, 64)
		if !strings.ContainsRune(s, '.') {
			s += ".0"
		}
		return s
	}
	// Scientific: Go "1.5E+07" -> Java "1.5E7".
	s := strconv.FormatFloat(f, 'E', -1, 64)
	mant, exp, _ := strings.Cut(s, "E")
	if !strings.ContainsRune(mant, '.') {
		mant += ".0"
	}
	e, _ := strconv.Atoi(exp)
	return mant + "E" + strconv.Itoa(e)
}

// instanceJSON is Nacos's Instance as Jackson writes it, derived getters
// included, in Nacos's field order.
type instanceJSON struct {
	InstanceID                string            `json:"instanceId"`
	IP                        string            `json:"ip"`
	Port                      int               `json:"port"`
	Weight                    jfloat            `json:"weight"`
	Healthy                   bool              `json:"healthy"`
	Enabled                   bool              `json:"enabled"`
	Ephemeral                 bool              `json:"ephemeral"`
	ClusterName               string            `json:"clusterName"`
	ServiceName               string            `json:"serviceName"`
	Metadata                  map[string]string `json:"metadata"`
	InstanceHeartBeatInterval int64             `json:"instanceHeartBeatInterval"`
	InstanceHeartBeatTimeOut  int64             `json:"instanceHeartBeatTimeOut"`
	IPDeleteTimeout           int64             `json:"ipDeleteTimeout"`
	InstanceIDGenerator       *string           `json:"instanceIdGenerator,omitempty"`
}

func toInstanceJSON(svc naming.ServiceKey, in *naming.Instance) instanceJSON {
	md := in.Metadata
	if md == nil {
		md = map[string]string{}
	}
	out := instanceJSON{
		InstanceID:                in.ID(svc),
		IP:                        in.IP,
		Port:                      in.Port,
		Weight:                    jfloat(in.Weight),
		Healthy:                   in.Healthy,
		Enabled:                   in.Enabled,
		Ephemeral:                 in.Ephemeral,
		ClusterName:               in.ClusterName,
		ServiceName:               svc.Grouped(),
		Metadata:                  md,
		InstanceHeartBeatInterval: in.BeatIntervalMs(),
		InstanceHeartBeatTimeOut:  in.BeatTimeoutMs(),
		IPDeleteTimeout:           in.DeleteTimeoutMs(),
	}
	// Java: "simple" only when metadata is empty; otherwise the metadata
	// value, and the field disappears when the key is absent.
	if len(in.Metadata) == 0 {
		g := "simple"
		out.InstanceIDGenerator = &g
	} else if g, ok := in.Metadata[naming.MetaIDGenerator]; ok {
		out.InstanceIDGenerator = &g
	}
	return out
}

// serviceInfoJSON is Nacos's ServiceInfo as the HTTP APIs write it (grouped
// name).
type serviceInfoJSON struct {
	Name                     string         `json:"name"`
	GroupName                string         `json:"groupName"`
	Clusters                 string         `json:"clusters"`
	CacheMillis              int64          `json:"cacheMillis"`
	Hosts                    []instanceJSON `json:"hosts"`
	LastRefTime              int64          `json:"lastRefTime"`
	Checksum                 string         `json:"checksum"`
	AllIPs                   bool           `json:"allIPs"`
	ReachProtectionThreshold bool           `json:"reachProtectionThreshold"`
	Valid                    bool           `json:"valid"`
}

func toServiceInfoJSON(v naming.ServiceView, clusters string, cacheMillis, nowMs int64) serviceInfoJSON {
	hosts := make([]instanceJSON, 0, len(v.Hosts))
	for i := range v.Hosts {
		hosts = append(hosts, toInstanceJSON(v.Key, &v.Hosts[i]))
	}
	return serviceInfoJSON{
		Name:                     v.Key.Grouped(),
		GroupName:                v.Key.Group,
		Clusters:                 clusters,
		CacheMillis:              cacheMillis,
		Hosts:                    hosts,
		LastRefTime:              nowMs,
		Checksum:                 "",
		ReachProtectionThreshold: v.ReachProtectionThreshold,
		Valid:                    true,
	}
}

// selectorJSON is a service selector; Nacos writes {"type":"none"} when no
// selector is set.
type selectorJSON struct {
	Type       string `json:"type"`
	Expression string `json:"expression,omitempty"`
}

func toSelectorJSON(s naming.Selector) selectorJSON {
	if s.Type == "" {
		return selectorJSON{Type: "none"}
	}
	return selectorJSON{Type: s.Type, Expression: s.Expression}
}

type healthCheckerJSON struct {
	Type string `json:"type"`
}

type clusterJSON struct {
	Name          string            `json:"name"`
	HealthChecker healthCheckerJSON `json:"healthChecker"`
	Metadata      map[string]string `json:"metadata"`
}

func clustersJSON(names []string) []clusterJSON {
	out := make([]clusterJSON, 0, len(names))
	for _, n := range names {
		out = append(out, clusterJSON{Name: n, HealthChecker: healthCheckerJSON{Type: "TCP"}, Metadata: map[string]string{}})
	}
	return out
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}
