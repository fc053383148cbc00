package naming

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Nacos defaults.
const (
	DefaultNamespace = "public"
	DefaultGroup     = "DEFAULT_GROUP"
	DefaultCluster   = "DEFAULT"
	// GroupSeparator joins group and service in a grouped name: "group@@svc".
	GroupSeparator = "@@"
)

// Preserved metadata keys that tune heartbeat timing per instance.
const (
	MetaBeatInterval  = "preserved.heart.beat.interval"
	MetaBeatTimeout   = "preserved.heart.beat.timeout"
	MetaDeleteTimeout = "preserved.ip.delete.timeout"
	MetaIDGenerator   = "preserved.instance.id.generator"
)

// Default heartbeat timing in milliseconds, as Nacos.
const (
	DefaultBeatIntervalMs  = 5000
	DefaultBeatTimeoutMs   = 15000
	DefaultDeleteTimeoutMs = 30000
)

// Validation errors. API layers map them to Nacos codes with errors.Is.
var (
	ErrInvalidParam        = errors.New("naming: invalid parameter")
	ErrServiceNotFound     = errors.New("naming: service not found")
	ErrServiceExists       = errors.New("naming: service already exists")
	ErrServiceHasInstances = errors.New("naming: service has instances")
	ErrInstanceNotFound    = errors.New("naming: instance not found")
	ErrClientNotFound      = errors.New("naming: client not found")
)

// NormalizeNamespace maps "" to DefaultNamespace.
func NormalizeNamespace(ns string) string {
	if ns == "" {
		return DefaultNamespace
	}
	return ns
}

// ServiceKey identifies a service.
type ServiceKey struct {
	Namespace string
	Group     string
	Name      string
}

// NewServiceKey builds a key applying Nacos defaults to namespace and group.
func NewServiceKey(namespace, group, name string) ServiceKey {
	if group == "" {
		group = DefaultGroup
	}
	return ServiceKey{Namespace: NormalizeNamespace(namespace), Group: group, Name: name}
}

// ParseServiceKey accepts a service name that may be grouped ("g@@svc") and
// a separate group parameter, as the v1 API does: a grouped name wins. It
// validates the names' characters as Nacos does (see ServiceKey.Check), so
// that no name can carry a record key separator; lengths are checked
// against the store's Limits on write.
func ParseServiceKey(namespace, serviceName, group string) (ServiceKey, error) {
	if strings.TrimSpace(serviceName) == "" {
		return ServiceKey{}, fmt.Errorf("%w: serviceName is empty", ErrInvalidParam)
	}
	k := NewServiceKey(namespace, group, serviceName)
	if i := strings.Index(serviceName, GroupSeparator); i >= 0 {
		g, n := serviceName[:i], serviceName[i+len(GroupSeparator):]
		if g == "" || n == "" || strings.Contains(n, GroupSeparator) {
			return ServiceKey{}, fmt.Errorf("%w: Param 'serviceName' is illegal, it should be format as 'groupName@@serviceName'", ErrInvalidParam)
		}
		k = NewServiceKey(namespace, g, n)
	}
	if err := k.checkChars(); err != nil {
		return ServiceKey{}, err
	}
	return k, nil
}

// Grouped returns "group@@name".
func (k ServiceKey) Grouped() string { return k.Group + GroupSeparator + k.Name }

// String returns "namespace##group@@name", the form Nacos uses in keys.
func (k ServiceKey) String() string { return k.Namespace + "##" + k.Grouped() }

// Less orders keys by namespace, group, name.
func (k ServiceKey) Less(o ServiceKey) bool {
	if k.Namespace != o.Namespace {
		return k.Namespace < o.Namespace
	}
	if k.Group != o.Group {
		return k.Group < o.Group
	}
	return k.Name < o.Name
}

// Instance is one registered endpoint of a service.
type Instance struct {
	// InstanceID is the id the client chose; empty means "generate on output".
	InstanceID  string            `json:"instanceId,omitempty"`
	IP          string            `json:"ip"`
	Port        int               `json:"port"`
	Weight      float64           `json:"weight"`
	Healthy     bool              `json:"healthy"`
	Enabled     bool              `json:"enabled"`
	Ephemeral   bool              `json:"ephemeral"`
	ClusterName string            `json:"clusterName"`
	Metadata    map[string]string `json:"metadata,omitempty"`
	// LastBeat is the Unix-ms time of the last heartbeat its owner saw. It
	// travels with the record (and is refreshed on the replicas while the
	// client beats, see Store.ExpireCheck), so a node that takes over an
	// IP-port client continues its deadline instead of granting a new one.
	LastBeat int64 `json:"-"`
}

// validClusterName reports whether name matches [0-9a-zA-Z-]+, as Nacos
// requires (a loop: it runs for every instance of every record applied).
func validClusterName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '-') {
			return false
		}
	}
	return true
}

// Normalize applies defaults (cluster DEFAULT) and validates the instance the
// way Nacos does. It does not touch Weight, Healthy or Enabled: clients'
// values are stored as sent.
func (in *Instance) Normalize() error {
	if in.ClusterName == "" {
		in.ClusterName = DefaultCluster
	}
	if len(in.ClusterName) > MaxClusterNameLen {
		return tooLong("cluster", MaxClusterNameLen)
	}
	if !validClusterName(in.ClusterName) {
		return fmt.Errorf("%w: Param 'cluster' is illegal, it should be format as '[0-9a-zA-Z-]+'", ErrInvalidParam)
	}
	if err := CheckIP(in.IP); err != nil {
		return err
	}
	if in.Port < 0 || in.Port > 65535 {
		return fmt.Errorf("%w: port %d out of range [0,65535]", ErrInvalidParam, in.Port)
	}
	if in.Weight < 0 || in.Weight > 10000 || in.Weight != in.Weight {
		return fmt.Errorf("%w: instance format invalid: The weights range from 0.0 to 10000.0", ErrInvalidParam)
	}
	interval := in.BeatIntervalMs()
	if in.BeatTimeoutMs() < interval || in.DeleteTimeoutMs() < interval {
		return fmt.Errorf("%w: Instance 'heart beat interval' must less than 'heart beat timeout' and 'ip delete timeout'.", ErrInvalidParam)
	}
	return nil
}

func (in *Instance) metaMs(key string, def int64) int64 {
	if v, ok := in.Metadata[key]; ok {
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && n > 0 {
			return n
		}
	}
	return def
}

// BeatIntervalMs is the client beat interval for this instance.
func (in *Instance) BeatIntervalMs() int64 { return in.metaMs(MetaBeatInterval, DefaultBeatIntervalMs) }

// BeatTimeoutMs is how long without beats before the instance is unhealthy.
func (in *Instance) BeatTimeoutMs() int64 { return in.metaMs(MetaBeatTimeout, DefaultBeatTimeoutMs) }

// DeleteTimeoutMs is how long without beats before the instance is removed.
func (in *Instance) DeleteTimeoutMs() int64 {
	return in.metaMs(MetaDeleteTimeout, DefaultDeleteTimeoutMs)
}

// IDGenerator is the instance-id generator name Nacos reports: "simple"
// when the metadata names none.
func (in *Instance) IDGenerator() string {
	if g, ok := in.Metadata[MetaIDGenerator]; ok {
		return g
	}
	return "simple"
}

// ID returns the instance id, generating Nacos's "simple" form
// ip#port#cluster#group@@service when the client set none.
func (in *Instance) ID(svc ServiceKey) string {
	if in.InstanceID != "" {
		return in.InstanceID
	}
	return in.IP + "#" + strconv.Itoa(in.Port) + "#" + in.ClusterName + "#" + svc.Grouped()
}

// Addr returns "ip:port".
func (in *Instance) Addr() string { return in.IP + ":" + strconv.Itoa(in.Port) }

// Clone returns a deep copy.
func (in *Instance) Clone() Instance {
	c := *in
	if in.Metadata != nil {
		c.Metadata = make(map[string]string, len(in.Metadata))
		for k, v := range in.Metadata {
			c.Metadata[k] = v
		}
	}
	return c
}

// sameContent reports whether two instances are equal apart from LastBeat.
func (in *Instance) sameContent(o *Instance) bool {
	if in.InstanceID != o.InstanceID || in.IP != o.IP || in.Port != o.Port || in.Weight != o.Weight ||
		in.Healthy != o.Healthy || in.Enabled != o.Enabled || in.Ephemeral != o.Ephemeral ||
		in.ClusterName != o.ClusterName || len(in.Metadata) != len(o.Metadata) {
		return false
	}
	for k, v := range in.Metadata {
		if ov, ok := o.Metadata[k]; !ok || ov != v {
			return false
		}
	}
	return true
}

// Selector is a service's instance selector (Nacos "none" or "label").
type Selector struct {
	Type       string `json:"type"`
	Expression string `json:"expression,omitempty"`
}

// ServiceMeta is the replicated metadata of a service.
type ServiceMeta struct {
	ProtectThreshold float64           `json:"protectThreshold"`
	Metadata         map[string]string `json:"metadata,omitempty"`
	Selector         Selector          `json:"selector"`
}

// ClientKind tells how a client is owned.
type ClientKind uint8

const (
	// KindIPPort is an HTTP client "ip:port#true", owned by hash of ip:port.
	KindIPPort ClientKind = iota + 1
	// KindConnection is a gRPC connection client, owned by the node holding it.
	KindConnection
)

// IPPortClientID returns the client id of an HTTP client.
func IPPortClientID(ip string, port int) string { return ip + ":" + strconv.Itoa(port) + "#true" }

// ClientKindOf infers the kind from an id: ids with '#' are IP-port clients.
func ClientKindOf(id string) ClientKind {
	if strings.IndexByte(id, '#') >= 0 {
		return KindIPPort
	}
	return KindConnection
}

// TagOf returns the ownership tag of a client id: "ip:port" for IP-port
// clients, "" for connection clients.
func TagOf(id string) string {
	if i := strings.IndexByte(id, '#'); i >= 0 {
		return id[:i]
	}
	return ""
}

// sortInstances orders instances by ip then port then cluster, so every
// answer is deterministic.
func sortInstances(s []Instance) {
	sort.Slice(s, func(i, j int) bool {
		a, b := &s[i], &s[j]
		if a.IP != b.IP {
			return a.IP < b.IP
		}
		if a.Port != b.Port {
			return a.Port < b.Port
		}
		return a.ClusterName < b.ClusterName
	})
}
