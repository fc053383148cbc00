package naming

import (
	"sort"
	"strings"

	"github.com/distrod/distrod/internal/hlc"
)

// Query selects instances of a service.
type Query struct {
	// Clusters keeps only instances in these clusters; empty keeps all.
	Clusters []string
	// HealthyOnly keeps only healthy instances (unless protection fires).
	HealthyOnly bool
	// EnabledOnly drops disabled instances (true for every list Nacos serves).
	EnabledOnly bool
	// Admin is an operator's read (catalog, instance detail, statuses): it
	// shows real health, the protection threshold applying only to what
	// clients discover.
	Admin bool
}

// ParseClusters splits Nacos's comma-separated cluster list.
func ParseClusters(s string) []string {
	var out []string
	for _, c := range strings.Split(s, ",") {
		if c = strings.TrimSpace(c); c != "" {
			out = append(out, c)
		}
	}
	return out
}

// ServiceView is a consistent copy of one service's state.
type ServiceView struct {
	Key ServiceKey
	// Exists is false for a service nobody created or publishes to.
	Exists bool
	// Explicit is true when the service was created with metadata.
	Explicit bool
	Meta     ServiceMeta
	// Hosts are the selected instances, sorted by ip and port. They are
	// copies, but their Metadata maps are shared with the store and must
	// not be modified.
	Hosts []Instance
	// ReachProtectionThreshold is set when too few instances were healthy
	// and every instance is returned marked healthy.
	ReachProtectionThreshold bool
	// Revision increases with every change of the service.
	Revision uint64
	// Clusters are the names of all clusters with instances, sorted.
	Clusters []string
}

// Service returns the selected view of service k.
func (s *Store) Service(k ServiceKey, q Query) ServiceView {
	s.mu.RLock()
	defer s.mu.RUnlock()
	v := ServiceView{Key: k}
	sv := s.services[k]
	cm, inCatalog := s.catalogMeta(k)
	persistent := s.catalogPersistent(k)
	if (sv == nil || !sv.exists()) && !inCatalog && len(persistent) == 0 {
		return v
	}
	v.Exists = true
	switch {
	case inCatalog:
		v.Explicit, v.Meta = true, cm
	case sv != nil && sv.meta != nil:
		v.Explicit = true
		v.Meta = *sv.meta
		v.Meta.Metadata = cloneMap(sv.meta.Metadata)
	}
	v.Revision = s.catalogRevision(k)
	if sv == nil {
		sv = &service{key: k}
	}
	v.Revision += sv.revision
	want := map[string]bool{}
	for _, c := range q.Clusters {
		want[c] = true
	}
	clusters := map[string]bool{}
	// An instance (ip, port, cluster) published by several clients — a
	// gRPC client that re-registered on another node while the copy from
	// its dead connection still waits for cleanup — is shown once: the
	// copy from the most recently written client wins.
	type pick struct {
		in *Instance
		v  hlc.Version
	}
	type addrKey struct {
		ip      string
		port    int
		cluster string
	}
	picked := make(map[addrKey]pick, 8)
	ov := s.overlayFor(k)
	for id := range sv.publishers.all {
		c := s.clients[id]
		p := c.services.get(k)
		for i := range p.Instances {
			in := &p.Instances[i]
			if ov != nil {
				cp := *in
				ov(&cp)
				in = &cp
			}
			clusters[in.ClusterName] = true
			if len(want) > 0 && !want[in.ClusterName] {
				continue
			}
			if q.EnabledOnly && !in.Enabled {
				continue
			}
			ak := addrKey{in.IP, in.Port, in.ClusterName}
			v := c.recs.get(k).version
			if old, ok := picked[ak]; ok && !v.Newer(old.v) {
				continue
			}
			picked[ak] = pick{in: in, v: v}
		}
	}
	// Persistent instances (the catalog's) come after the ephemeral ones:
	// an address both hold is shown once, as the ephemeral copy.
	for i := range persistent {
		in := &persistent[i]
		if ov != nil {
			ov(in)
		}
		clusters[in.ClusterName] = true
		if (len(want) > 0 && !want[in.ClusterName]) || (q.EnabledOnly && !in.Enabled) {
			continue
		}
		ak := addrKey{in.IP, in.Port, in.ClusterName}
		if _, ok := picked[ak]; !ok {
			picked[ak] = pick{in: in}
		}
	}
	hosts := make([]Instance, 0, len(picked))
	healthy := 0
	for _, pk := range picked {
		if pk.in.Healthy {
			healthy++
		}
		hosts = append(hosts, *pk.in) // shares Metadata: see ServiceView.Hosts
	}
	for c := range clusters {
		v.Clusters = append(v.Clusters, c)
	}
	sort.Strings(v.Clusters)
	if !q.Admin && len(hosts) > 0 && float64(healthy)/float64(len(hosts)) <= v.Meta.ProtectThreshold {
		v.ReachProtectionThreshold = true
		for i := range hosts {
			hosts[i].Healthy = true
		}
	} else if q.HealthyOnly {
		kept := hosts[:0]
		for _, h := range hosts {
			if h.Healthy {
				kept = append(kept, h)
			}
		}
		hosts = kept
	}
	sortInstances(hosts)
	v.Hosts = hosts
	return v
}

// HasService reports whether service k exists (created, or holding
// instances), without building a view.
func (s *Store) HasService(k ServiceKey) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sv := s.services[k]
	if sv != nil && sv.exists() {
		return true
	}
	_, ok := s.catalogMeta(k)
	return ok || len(s.catalogPersistent(k)) > 0
}

// Revision returns the revision of service k (0 if unknown), cheaply.
func (s *Store) Revision(k ServiceKey) uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	rev := s.catalogRevision(k)
	if sv := s.services[k]; sv != nil {
		rev += sv.revision
	}
	return rev
}

// FindInstance returns the instance ip:port of service k in cluster ("" =
// any) and the id of the client publishing it.
func (s *Store) FindInstance(k ServiceKey, ip string, port int, cluster string) (Instance, string, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sv := s.services[k]
	if sv == nil {
		sv = &service{key: k}
	}
	ids := make([]string, 0, sv.publishers.len())
	for id := range sv.publishers.all {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		p := s.clients[id].services.get(k)
		for i := range p.Instances {
			in := &p.Instances[i]
			if in.IP == ip && in.Port == port && (cluster == "" || in.ClusterName == cluster) {
				out := in.Clone()
				if ov := s.overlayFor(k); ov != nil {
					ov(&out)
				}
				return out, id, true
			}
		}
	}
	for _, in := range s.catalogPersistent(k) {
		if in.IP == ip && in.Port == port && (cluster == "" || in.ClusterName == cluster) {
			if ov := s.overlayFor(k); ov != nil {
				ov(&in)
			}
			return in, "", true
		}
	}
	return Instance{}, "", false
}

// ServiceSummary is one row of a service listing.
type ServiceSummary struct {
	Key           ServiceKey
	Explicit      bool
	Meta          ServiceMeta
	InstanceCount int
	HealthyCount  int
	ClusterCount  int
}

// Services lists the services of namespace ns accepted by keep (nil keeps
// all), sorted by group and name.
func (s *Store) Services(ns string, keep func(ServiceKey) bool) []ServiceSummary {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []ServiceSummary
	for k, sv := range s.byNamespace[NormalizeNamespace(ns)] {
		if !sv.exists() || (keep != nil && !keep(k)) {
			continue
		}
		sum := ServiceSummary{Key: k, Explicit: sv.meta != nil}
		if sv.meta != nil {
			sum.Meta = *sv.meta
		}
		if cm, ok := s.catalogMeta(k); ok {
			sum.Explicit, sum.Meta = true, cm
		}
		clusters := map[string]bool{}
		for id := range sv.publishers.all {
			for _, in := range s.clients[id].services.get(k).Instances {
				sum.InstanceCount++
				if in.Healthy {
					sum.HealthyCount++
				}
				clusters[in.ClusterName] = true
			}
		}
		for _, in := range s.catalogPersistent(k) {
			sum.InstanceCount++
			if in.Healthy {
				sum.HealthyCount++
			}
			clusters[in.ClusterName] = true
		}
		sum.ClusterCount = len(clusters)
		out = append(out, sum)
	}
	for _, k := range s.catalogServices(NormalizeNamespace(ns)) {
		if sv := s.byNamespace[k.Namespace][k]; (sv != nil && sv.exists()) || (keep != nil && !keep(k)) {
			continue
		}
		m, explicit := s.catalogMeta(k)
		sum := ServiceSummary{Key: k, Explicit: explicit, Meta: m}
		clusters := map[string]bool{}
		for _, in := range s.catalogPersistent(k) {
			sum.InstanceCount++
			if in.Healthy {
				sum.HealthyCount++
			}
			clusters[in.ClusterName] = true
		}
		sum.ClusterCount = len(clusters)
		out = append(out, sum)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key.Less(out[j].Key) })
	return out
}

// Namespaces returns the namespaces that hold services, sorted.
func (s *Store) Namespaces() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]string, 0, len(s.byNamespace))
	for ns := range s.byNamespace {
		out = append(out, ns)
	}
	for _, ns := range s.catalogNamespaces() {
		if _, ok := s.byNamespace[ns]; !ok {
			out = append(out, ns)
		}
	}
	sort.Strings(out)
	return out
}

// Stats counts what the store holds.
type Stats struct {
	Services          int
	Instances         int
	Clients           int
	ConnectionClients int
	IPPortClients     int
	// Tombstones counts publication tombstones kept for replication.
	Tombstones int
}

// Stats returns current counts.
func (s *Store) Stats() Stats {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st := Stats{Instances: s.instances}
	for _, sv := range s.services {
		if sv.exists() {
			st.Services++
		}
	}
	for _, c := range s.clients {
		st.Tombstones += c.recs.len() - c.services.len()
		if c.services.len() == 0 {
			continue
		}
		st.Clients++
		if c.kind == KindConnection {
			st.ConnectionClients++
		} else {
			st.IPPortClients++
		}
	}
	return st
}

// ClientView describes one client for introspection APIs.
type ClientView struct {
	// Meta summarises the client: Key is the client id, Version and Owner
	// are those of its newest record, Tombstone means it publishes nothing.
	Meta     RecordMeta
	Kind     ClientKind
	Services map[ServiceKey]Publication
}

// Client returns a copy of client id.
func (s *Store) Client(id string) (ClientView, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c := s.clients[id]
	if c == nil {
		return ClientView{}, false
	}
	v := ClientView{Meta: c.summary(), Kind: c.kind, Services: make(map[ServiceKey]Publication, c.services.len())}
	for k, p := range c.services.all {
		v.Services[k] = *p.clone()
	}
	return v, true
}

// ClientIDs returns the ids of all live (non-tombstone) clients, sorted.
func (s *Store) ClientIDs() []string {
	s.mu.RLock()
	out := make([]string, 0, len(s.clients))
	for id, c := range s.clients {
		if c.services.len() > 0 {
			out = append(out, id)
		}
	}
	s.mu.RUnlock()
	sort.Strings(out)
	return out
}

// Digest returns an order-independent hash over every live record's key and
// version (tombstones excluded): two converged nodes report equal digests.
func (s *Store) Digest() uint64 {
	var d uint64
	for _, m := range s.Metas() {
		if m.Tombstone {
			continue
		}
		d += mix(m.Key, m.Version.Clock, m.Version.Node^m.Version.Sub^m.Version.By<<1)
	}
	return d
}

func mix(key string, a, b uint64) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(key); i++ {
		h ^= uint64(key[i])
		h *= 1099511628211
	}
	h ^= a
	h *= 1099511628211
	h ^= b
	h *= 1099511628211
	h ^= h >> 29
	return h
}
