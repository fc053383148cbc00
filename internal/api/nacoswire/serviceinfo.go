package nacoswire

import (
	"encoding/json"
	"hash/maphash"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distrod/distrod/internal/naming"
)

// DefaultCacheMillis is the cacheMillis every serviceInfo carries: the
// polling period of v1 clients (and of v2 clients with AsyncUpdateService).
const DefaultCacheMillis = 10000

// Stamps hands out the two counters every Nacos wire exchange of a node
// shares: the lastRefTime clock of serviceInfo documents and the requestId
// sequence of server-initiated requests. The SDKs drop every serviceInfo
// whose lastRefTime is not greater than the cached one, so two views of one
// service must never share a stamp and a newer view must never get a
// smaller one, whichever engine or API built it: one node passes one Stamps
// to everything that stamps. The zero value is ready to use.
type Stamps struct {
	lastRef    atomic.Int64
	requestSeq atomic.Uint64
}

// RefTime returns a Unix-millisecond stamp that is greater than every
// stamp s returned before: max(now, last+1).
func (s *Stamps) RefTime(now time.Time) int64 {
	ms := now.UnixMilli()
	for {
		last := s.lastRef.Load()
		next := ms
		if next <= last {
			next = last + 1
		}
		if s.lastRef.CompareAndSwap(last, next) {
			return next
		}
	}
}

// RequestID returns an id, unique among those s returns, for a
// server-initiated request (push, client detection, connect reset).
// Clients echo it in their ack.
func (s *Stamps) RequestID() string { return strconv.FormatUint(s.requestSeq.Add(1), 10) }

// Weight is an instance weight that always encodes as a JSON floating-point
// number (1.0, not 1), as Java peers and tools expect.
type Weight float64

// MarshalJSON writes w with at least one decimal.
func (w Weight) MarshalJSON() ([]byte, error) {
	f := float64(w)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("0.0"), nil
	}
	b := strconv.AppendFloat(nil, f, 'f', -1, 64)
	for _, c := range b {
		if c == '.' {
			return b, nil
		}
	}
	return append(b, '.', '0'), nil
}

// Host is one instance as the Nacos SDKs read it (Java Instance JSON).
type Host struct {
	InstanceID                string            `json:"instanceId"`
	IP                        string            `json:"ip"`
	Port                      int               `json:"port"`
	Weight                    Weight            `json:"weight"`
	Healthy                   bool              `json:"healthy"`
	Enabled                   bool              `json:"enabled"`
	Ephemeral                 bool              `json:"ephemeral"`
	ClusterName               string            `json:"clusterName"`
	ServiceName               string            `json:"serviceName"`
	Metadata                  map[string]string `json:"metadata"`
	InstanceHeartBeatInterval int64             `json:"instanceHeartBeatInterval"`
	InstanceHeartBeatTimeOut  int64             `json:"instanceHeartBeatTimeOut"`
	IPDeleteTimeout           int64             `json:"ipDeleteTimeout"`
	// InstanceIDGenerator is "simple" when the metadata is empty, else the
	// metadata's preserved.instance.id.generator, and absent (nil) when the
	// metadata has no such key, as Java's getter behaves.
	InstanceIDGenerator *string `json:"instanceIdGenerator,omitempty"`
}

// ServiceInfo is the Nacos serviceInfo document: the body of subscribe and
// query answers and of every push. Over gRPC Name is the bare service name;
// the v1 HTTP API and UDP pushes use the grouped form (see Grouped).
type ServiceInfo struct {
	Name                     string `json:"name"`
	GroupName                string `json:"groupName"`
	Clusters                 string `json:"clusters"`
	CacheMillis              int64  `json:"cacheMillis"`
	Hosts                    []Host `json:"hosts"`
	LastRefTime              int64  `json:"lastRefTime"`
	Checksum                 string `json:"checksum"`
	AllIPs                   bool   `json:"allIPs"`
	ReachProtectionThreshold bool   `json:"reachProtectionThreshold"`
	Valid                    bool   `json:"valid"`
}

// Grouped returns a copy whose Name is "group@@name", the form v1 clients
// use as their cache key.
func (si ServiceInfo) Grouped() ServiceInfo {
	si.Name = si.GroupName + naming.GroupSeparator + si.Name
	return si
}

// HostOf converts a stored instance of svc to its wire form.
func HostOf(svc naming.ServiceKey, in *naming.Instance) Host {
	md := in.Metadata
	if md == nil {
		md = map[string]string{}
	}
	h := Host{
		InstanceID:                in.ID(svc),
		IP:                        in.IP,
		Port:                      in.Port,
		Weight:                    Weight(in.Weight),
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
	if len(in.Metadata) == 0 {
		g := "simple"
		h.InstanceIDGenerator = &g
	} else if g, ok := in.Metadata[naming.MetaIDGenerator]; ok {
		h.InstanceIDGenerator = &g
	}
	return h
}

// FromView is the serviceInfo of a view the caller has already selected,
// as the HTTP APIs write it: the grouped name, clusters echoed, and the
// caller's cacheMillis and lastRefTime. Every host of the view is kept.
func FromView(v naming.ServiceView, clusters string, cacheMillis, lastRefTime int64) ServiceInfo {
	hosts := make([]Host, 0, len(v.Hosts))
	for i := range v.Hosts {
		hosts = append(hosts, HostOf(v.Key, &v.Hosts[i]))
	}
	return ServiceInfo{
		Name:                     v.Key.Grouped(),
		GroupName:                v.Key.Group,
		Clusters:                 clusters,
		CacheMillis:              cacheMillis,
		Hosts:                    hosts,
		LastRefTime:              lastRefTime,
		ReachProtectionThreshold: v.ReachProtectionThreshold,
		Valid:                    true,
	}
}

// Builder builds stamped serviceInfo documents from a store. Building and
// stamping one service happen under one lock, so for each service a larger
// lastRefTime always comes with content at least as new.
type Builder struct {
	store   *naming.Store
	now     func() time.Time
	stamps  *Stamps
	seed    maphash.Seed
	stripes [64]sync.Mutex

	// cache holds the encoded hosts of recent answers by service revision,
	// so repeated queries of an unchanged service skip selection and
	// encoding. It is bounded by cacheMaxBytes and emptied when full.
	cacheMu    sync.Mutex
	cache      map[hostsKey]hostsEntry
	cacheBytes int
}

type hostsKey struct {
	svc         naming.ServiceKey
	clusters    string
	healthyOnly bool
}

type hostsEntry struct {
	rev   uint64
	raw   json.RawMessage
	reach bool
}

// cacheMaxBytes bounds the encoded hosts the builder keeps.
const cacheMaxBytes = 32 << 20

// NewBuilder returns a builder over store using now as its clock and
// stamps for lastRefTime. A nil now is time.Now; a nil stamps is a fresh
// Stamps of the builder's own.
func NewBuilder(store *naming.Store, now func() time.Time, stamps *Stamps) *Builder {
	if now == nil {
		now = time.Now
	}
	if stamps == nil {
		stamps = new(Stamps)
	}
	return &Builder{store: store, now: now, stamps: stamps, seed: maphash.MakeSeed()}
}

// Stamps returns the counters b stamps with.
func (b *Builder) Stamps() *Stamps { return b.stamps }

// stripe returns the lock that serializes building and stamping svc.
func (b *Builder) stripe(svc naming.ServiceKey) *sync.Mutex {
	var h maphash.Hash
	h.SetSeed(b.seed)
	h.WriteString(svc.String())
	return &b.stripes[h.Sum64()%uint64(len(b.stripes))]
}

// Build returns the current view of svc for a subscriber of clusters (the
// comma-separated string is echoed in the result), hiding disabled
// instances and applying protection; healthyOnly keeps healthy ones only.
// Hosts that several clients publish with the same ip, port and cluster
// (a client re-registering on a new connection before its old one closed)
// appear once.
func (b *Builder) Build(svc naming.ServiceKey, clusters string, healthyOnly bool) ServiceInfo {
	mu := b.stripe(svc)
	mu.Lock()
	defer mu.Unlock()
	si := b.build(svc, clusters, healthyOnly)
	si.LastRefTime = b.stamps.RefTime(b.now())
	return si
}

// build selects and converts the hosts; the caller holds the stripe lock.
func (b *Builder) build(svc naming.ServiceKey, clusters string, healthyOnly bool) ServiceInfo {
	v := b.store.Service(svc, naming.Query{Clusters: naming.ParseClusters(clusters), HealthyOnly: healthyOnly, EnabledOnly: true})
	si := ServiceInfo{
		Name:                     svc.Name,
		GroupName:                svc.Group,
		Clusters:                 clusters,
		CacheMillis:              DefaultCacheMillis,
		Hosts:                    make([]Host, 0, len(v.Hosts)),
		ReachProtectionThreshold: v.ReachProtectionThreshold,
		Valid:                    true,
	}
	for i := range v.Hosts {
		in := &v.Hosts[i]
		if i > 0 {
			p := &v.Hosts[i-1]
			if p.IP == in.IP && p.Port == in.Port && p.ClusterName == in.ClusterName {
				continue
			}
		}
		si.Hosts = append(si.Hosts, HostOf(svc, in))
	}
	return si
}

// BuildJSON is Build, encoded. The hosts of an unchanged service (same
// store revision) are encoded once and reused; every answer still gets its
// own, strictly increasing lastRefTime.
func (b *Builder) BuildJSON(svc naming.ServiceKey, clusters string, healthyOnly bool) json.RawMessage {
	mu := b.stripe(svc)
	mu.Lock()
	defer mu.Unlock()
	key := hostsKey{svc, clusters, healthyOnly}
	// The revision is read before the content: content cached under a
	// revision is never older than that revision.
	rev := b.store.Revision(svc)
	b.cacheMu.Lock()
	e, hit := b.cache[key]
	b.cacheMu.Unlock()
	if !hit || e.rev != rev {
		si := b.build(svc, clusters, healthyOnly)
		raw, _ := json.Marshal(si.Hosts)
		e = hostsEntry{rev: rev, raw: raw, reach: si.ReachProtectionThreshold}
		b.cacheMu.Lock()
		if b.cache == nil || b.cacheBytes+len(raw) > cacheMaxBytes {
			b.cache, b.cacheBytes = make(map[hostsKey]hostsEntry), 0
		}
		if old, ok := b.cache[key]; ok {
			b.cacheBytes -= len(old.raw)
		}
		b.cache[key] = e
		b.cacheBytes += len(raw)
		b.cacheMu.Unlock()
	}
	// Assembled by hand: json.Marshal would re-validate the cached hosts
	// on every answer, which costs more than everything else together.
	head, _ := json.Marshal(struct {
		Name        string `json:"name"`
		GroupName   string `json:"groupName"`
		Clusters    string `json:"clusters"`
		CacheMillis int64  `json:"cacheMillis"`
	}{svc.Name, svc.Group, clusters, DefaultCacheMillis})
	out := make([]byte, 0, len(head)+len(e.raw)+128)
	out = append(out, head[:len(head)-1]...)
	out = append(out, `,"hosts":`...)
	out = append(out, e.raw...)
	out = append(out, `,"lastRefTime":`...)
	out = strconv.AppendInt(out, b.stamps.RefTime(b.now()), 10)
	out = append(out, `,"checksum":"","allIPs":false,"reachProtectionThreshold":`...)
	out = strconv.AppendBool(out, e.reach)
	out = append(out, `,"valid":true}`...)
	return out
}
