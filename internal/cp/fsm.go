package cp

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"

	"github.com/distrod/distrod/internal/naming"
)

// Errors returned by writes. API layers map them to answers with errors.Is.
var (
	// ErrNoLeader: no leader could be reached within the write timeout
	// (a minority partition, an election in progress).
	ErrNoLeader = errors.New("cp: no leader: the control plane cannot accept writes now")
	// ErrExists: the object to create already exists.
	ErrExists = errors.New("cp: already exists")
	// ErrNotFound: the object to change does not exist.
	ErrNotFound = errors.New("cp: not found")
	// ErrInvalid: the command is malformed.
	ErrInvalid = errors.New("cp: invalid command")
)

// Namespace is an operator-created namespace. The default namespace
// (naming.DefaultNamespace) always exists and is not stored.
type Namespace struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Desc string `json:"desc,omitempty"`
}

// InstanceKey identifies an instance an override applies to.
type InstanceKey struct {
	Service naming.ServiceKey `json:"service"`
	Cluster string            `json:"cluster"`
	IP      string            `json:"ip"`
	Port    int               `json:"port"`
}

// String returns the key's stable text form, "ns##group@@svc#cluster#ip:port".
func (k InstanceKey) String() string {
	return k.Service.String() + "#" + k.Cluster + "#" + k.IP + ":" + strconv.Itoa(k.Port)
}

// Override is what an operator set on one instance. Reads apply it over
// whatever the instance's publisher registered: Enabled and Weight when
// set replace the registered values, Metadata entries are put over the
// registered metadata.
type Override struct {
	Enabled  *bool             `json:"enabled,omitempty"`
	Weight   *float64          `json:"weight,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

// Apply applies o to in. in.Metadata is replaced by a new map when o
// carries metadata, never modified in place.
func (o Override) Apply(in *naming.Instance) {
	if o.Enabled != nil {
		in.Enabled = *o.Enabled
	}
	if o.Weight != nil {
		in.Weight = *o.Weight
	}
	if len(o.Metadata) > 0 {
		m := make(map[string]string, len(in.Metadata)+len(o.Metadata))
		maps.Copy(m, in.Metadata)
		maps.Copy(m, o.Metadata)
		in.Metadata = m
	}
}

// Op names a command.
type Op string

// Commands.
const (
	OpNamespaceCreate Op = "namespace.create"
	OpNamespaceUpdate Op = "namespace.update"
	OpNamespaceDelete Op = "namespace.delete"
	// OpOverrideSet replaces an instance's override.
	OpOverrideSet Op = "override.set"
	// OpOverridePatch changes the given fields of an instance's override;
	// MetadataRemove lists metadata keys to drop.
	OpOverridePatch  Op = "override.patch"
	OpOverrideDelete Op = "override.delete"
	OpSwitchSet      Op = "switch.set"
	// OpServiceCreate creates an explicit service; ErrExists if it is.
	OpServiceCreate Op = "service.create"
	// OpServiceSet creates or replaces an explicit service's settings.
	OpServiceSet Op = "service.set"
	// OpServiceDelete removes an explicit service's settings.
	OpServiceDelete Op = "service.delete"
	// OpClusterSet sets the settings of one cluster of a service.
	OpClusterSet Op = "cluster.set"
	// OpPersistentRegister registers (or replaces) a persistent instance.
	OpPersistentRegister Op = "persistent.register"
	// OpPersistentDeregister removes a persistent instance.
	OpPersistentDeregister Op = "persistent.deregister"
	// OpPersistentHealth sets a persistent instance's health (Healthy).
	// The prober writes OpPersistentHealthBatch; this one stays for
	// operators' health edits and for logs written by earlier builds.
	OpPersistentHealth Op = "persistent.health"
	// OpPersistentHealthBatch sets the health of many persistent
	// instances (Health) in one entry: the changes one prober found in a
	// short window. An instance deregistered meanwhile is skipped.
	OpPersistentHealthBatch Op = "persistent.health.batch"
)

// HealthUpdate is one instance's new health in OpPersistentHealthBatch.
type HealthUpdate struct {
	Instance InstanceKey `json:"instance"`
	Healthy  bool        `json:"healthy"`
}

// ClusterSettings are what an operator set on one cluster of a service
// (PUT /nacos/v1/ns/cluster).
type ClusterSettings struct {
	CheckPort       int               `json:"checkPort"`
	UseInstancePort bool              `json:"useInstancePort"`
	HealthChecker   json.RawMessage   `json:"healthChecker,omitempty"`
	Metadata        map[string]string `json:"metadata,omitempty"`
}

// Command is one write to the state machine.
type Command struct {
	Op Op `json:"op"`
	// TimeMs is when the command was proposed (Unix ms, the proposer's
	// clock; Node.Apply sets it). It is part of the log entry, so every
	// node applies the same value.
	TimeMs    int64        `json:"timeMs,omitempty"`
	Namespace *Namespace   `json:"namespace,omitempty"`
	Instance  *InstanceKey `json:"instance,omitempty"`
	Override  *Override    `json:"override,omitempty"`
	// MetadataRemove lists metadata keys an override patch removes.
	MetadataRemove []string `json:"metadataRemove,omitempty"`
	// Service and ServiceMeta name a service and its settings.
	Service     *naming.ServiceKey  `json:"service,omitempty"`
	ServiceMeta *naming.ServiceMeta `json:"serviceMeta,omitempty"`
	// Cluster and ClusterSettings set one cluster of Service.
	Cluster         string           `json:"cluster,omitempty"`
	ClusterSettings *ClusterSettings `json:"clusterSettings,omitempty"`
	// Persistent is the instance of OpPersistentRegister; Healthy the
	// health of OpPersistentHealth.
	Persistent *naming.Instance `json:"persistent,omitempty"`
	Healthy    bool             `json:"healthy,omitempty"`
	// Health lists the changes of OpPersistentHealthBatch.
	Health []HealthUpdate `json:"health,omitempty"`
	// Switch and Value set one switch.
	Switch string `json:"switch,omitempty"`
	Value  string `json:"value,omitempty"`
}

// state is the replicated data; its JSON form is the snapshot.
type state struct {
	Namespaces map[string]Namespace `json:"namespaces"`
	Overrides  map[string]ovEntry   `json:"overrides"`
	Switches   map[string]string    `json:"switches"`
	Services   map[string]svcEntry  `json:"services"`
	Clusters   map[string]clEntry   `json:"clusters"`
	Persistent map[string]persEntry `json:"persistent"`
}

type persEntry struct {
	Key      InstanceKey     `json:"key"`
	Instance naming.Instance `json:"instance"`
}

type clEntry struct {
	Key      naming.ServiceKey `json:"key"`
	Cluster  string            `json:"cluster"`
	Settings ClusterSettings   `json:"settings"`
}

type svcEntry struct {
	Key  naming.ServiceKey  `json:"key"`
	Meta naming.ServiceMeta `json:"meta"`
	// UpdatedMs is the TimeMs of the command that last wrote it.
	UpdatedMs int64 `json:"updatedMs,omitempty"`
}

type ovEntry struct {
	Key      InstanceKey `json:"key"`
	Override Override    `json:"override"`
}

func newState() state {
	return state{Namespaces: map[string]Namespace{}, Overrides: map[string]ovEntry{}, Switches: map[string]string{},
		Services: map[string]svcEntry{}, Clusters: map[string]clEntry{},
		Persistent: map[string]persEntry{}}
}

// FSM is the control plane's state machine. It implements raft.FSM; its
// read methods are safe for concurrent use with Apply.
type FSM struct {
	mu sync.RWMutex
	st state
	// bySvc indexes Overrides by service, for reads.
	bySvc map[naming.ServiceKey]map[string]Override
	// persBySvc indexes Persistent by service: the ids of its instances.
	persBySvc map[naming.ServiceKey]map[string]struct{}
	// rev counts, per service, the applied commands that changed what
	// readers see of it (not replicated: a local cache key).
	rev map[naming.ServiceKey]uint64
	// onChange, when set, is told (outside the lock) which services'
	// instances changed in an apply or restore.
	onChange func([]naming.ServiceKey)
	// applied is the index of the last log entry Apply ran (0 after a
	// start until one applies; a restore leaves it behind until the next).
	applied atomic.Uint64
}

// AppliedIndex returns the index of the last log entry this state machine
// applied: unlike Raft's applied index, which counts entries handed to the
// state machine, a read after it sees the entry.
func (f *FSM) AppliedIndex() uint64 { return f.applied.Load() }

// NewFSM returns an empty state machine. onChange may be nil.
func NewFSM(onChange func([]naming.ServiceKey)) *FSM {
	f := &FSM{st: newState(), onChange: onChange, rev: map[naming.ServiceKey]uint64{}}
	f.reindex()
	return f
}

func (f *FSM) reindex() {
	f.bySvc = map[naming.ServiceKey]map[string]Override{}
	for _, e := range f.st.Overrides {
		f.indexLocked(e.Key, e.Override)
	}
	f.persBySvc = map[naming.ServiceKey]map[string]struct{}{}
	for id, e := range f.st.Persistent {
		f.indexPersLocked(e.Key.Service, id)
	}
}

func (f *FSM) indexPersLocked(k naming.ServiceKey, id string) {
	m := f.persBySvc[k]
	if m == nil {
		m = map[string]struct{}{}
		f.persBySvc[k] = m
	}
	m[id] = struct{}{}
}

func (f *FSM) unindexPersLocked(k naming.ServiceKey, id string) {
	if m := f.persBySvc[k]; m != nil {
		delete(m, id)
		if len(m) == 0 {
			delete(f.persBySvc, k)
		}
	}
}

func (f *FSM) indexLocked(k InstanceKey, o Override) {
	m := f.bySvc[k.Service]
	if m == nil {
		m = map[string]Override{}
		f.bySvc[k.Service] = m
	}
	m[instAddr(k.Cluster, k.IP, k.Port)] = o
}

func instAddr(cluster, ip string, port int) string {
	return cluster + "#" + ip + ":" + strconv.Itoa(port)
}

// Apply implements raft.FSM: it decodes and runs one command and returns
// its error (nil on success) as the log entry's response.
func (f *FSM) Apply(l *raft.Log) any {
	defer f.applied.Store(l.Index)
	var c Command
	if err := json.Unmarshal(l.Data, &c); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return f.apply(c)
}

// apply runs c; it is deterministic in c and the current state.
func (f *FSM) apply(c Command) error {
	f.mu.Lock()
	touched, err := f.applyLocked(c)
	for _, k := range touched {
		f.rev[k]++
	}
	f.mu.Unlock()
	if err == nil && len(touched) > 0 && f.onChange != nil {
		f.onChange(touched)
	}
	return err
}

func (f *FSM) applyLocked(c Command) ([]naming.ServiceKey, error) {
	switch c.Op {
	case OpNamespaceCreate, OpNamespaceUpdate, OpNamespaceDelete:
		if c.Namespace == nil || c.Namespace.ID == "" {
			return nil, fmt.Errorf("%w: %s without a namespace id", ErrInvalid, c.Op)
		}
		ns := *c.Namespace
		_, exists := f.st.Namespaces[ns.ID]
		switch c.Op {
		case OpNamespaceCreate:
			if exists || ns.ID == naming.DefaultNamespace {
				return nil, fmt.Errorf("%w: namespace %s", ErrExists, ns.ID)
			}
			f.st.Namespaces[ns.ID] = ns
		case OpNamespaceUpdate:
			if !exists {
				return nil, fmt.Errorf("%w: namespace %s", ErrNotFound, ns.ID)
			}
			f.st.Namespaces[ns.ID] = ns
		default:
			if !exists {
				return nil, fmt.Errorf("%w: namespace %s", ErrNotFound, ns.ID)
			}
			delete(f.st.Namespaces, ns.ID)
		}
		return nil, nil
	case OpOverrideSet, OpOverridePatch, OpOverrideDelete:
		if c.Instance == nil || c.Instance.IP == "" {
			return nil, fmt.Errorf("%w: %s without an instance", ErrInvalid, c.Op)
		}
		k := *c.Instance
		id := k.String()
		old, had := f.st.Overrides[id]
		var o Override
		switch c.Op {
		case OpOverrideSet:
			if c.Override == nil {
				return nil, fmt.Errorf("%w: %s without an override", ErrInvalid, c.Op)
			}
			o = cloneOverride(*c.Override)
		case OpOverridePatch:
			o = cloneOverride(old.Override)
			if c.Override != nil {
				if c.Override.Enabled != nil {
					o.Enabled = c.Override.Enabled
				}
				if c.Override.Weight != nil {
					o.Weight = c.Override.Weight
				}
				if len(c.Override.Metadata) > 0 && o.Metadata == nil {
					o.Metadata = map[string]string{}
				}
				maps.Copy(o.Metadata, c.Override.Metadata)
			}
			for _, kk := range c.MetadataRemove {
				delete(o.Metadata, kk)
			}
		default:
			if !had {
				return nil, nil
			}
		}
		if c.Op == OpOverrideDelete || (o.Enabled == nil && o.Weight == nil && len(o.Metadata) == 0) {
			delete(f.st.Overrides, id)
			if m := f.bySvc[k.Service]; m != nil {
				delete(m, instAddr(k.Cluster, k.IP, k.Port))
				if len(m) == 0 {
					delete(f.bySvc, k.Service)
				}
			}
		} else {
			f.st.Overrides[id] = ovEntry{Key: k, Override: o}
			f.indexLocked(k, o)
		}
		return []naming.ServiceKey{k.Service}, nil
	case OpSwitchSet:
		if c.Switch == "" {
			return nil, fmt.Errorf("%w: switch without a name", ErrInvalid)
		}
		f.st.Switches[c.Switch] = c.Value
		return nil, nil
	case OpServiceCreate, OpServiceSet, OpServiceDelete:
		if c.Service == nil || c.Service.Name == "" {
			return nil, fmt.Errorf("%w: %s without a service", ErrInvalid, c.Op)
		}
		k := naming.NewServiceKey(c.Service.Namespace, c.Service.Group, c.Service.Name)
		id := k.String()
		_, exists := f.st.Services[id]
		switch c.Op {
		case OpServiceDelete:
			if !exists {
				return nil, fmt.Errorf("%w: service %s", ErrNotFound, k.Grouped())
			}
			delete(f.st.Services, id)
		default:
			if c.Op == OpServiceCreate && exists {
				return nil, fmt.Errorf("%w: service %s", ErrExists, k.Grouped())
			}
			var m naming.ServiceMeta
			if c.ServiceMeta != nil {
				m = *c.ServiceMeta
				m.Metadata = maps.Clone(m.Metadata)
			}
			f.st.Services[id] = svcEntry{Key: k, Meta: m, UpdatedMs: c.TimeMs}
		}
		return []naming.ServiceKey{k}, nil
	case OpClusterSet:
		if c.Service == nil || c.Service.Name == "" || c.Cluster == "" || c.ClusterSettings == nil {
			return nil, fmt.Errorf("%w: %s without a service, cluster or settings", ErrInvalid, c.Op)
		}
		k := naming.NewServiceKey(c.Service.Namespace, c.Service.Group, c.Service.Name)
		cs := *c.ClusterSettings
		cs.Metadata = maps.Clone(cs.Metadata)
		cs.HealthChecker = slices.Clone(cs.HealthChecker)
		f.st.Clusters[k.String()+"#"+c.Cluster] = clEntry{Key: k, Cluster: c.Cluster, Settings: cs}
		return []naming.ServiceKey{k}, nil
	case OpPersistentRegister:
		if c.Service == nil || c.Service.Name == "" || c.Persistent == nil || c.Persistent.IP == "" {
			return nil, fmt.Errorf("%w: %s without a service or instance", ErrInvalid, c.Op)
		}
		k := naming.NewServiceKey(c.Service.Namespace, c.Service.Group, c.Service.Name)
		in := c.Persistent.Clone()
		in.Ephemeral = false
		if in.ClusterName == "" {
			in.ClusterName = naming.DefaultCluster
		}
		ik := InstanceKey{Service: k, Cluster: in.ClusterName, IP: in.IP, Port: in.Port}
		id := ik.String()
		f.st.Persistent[id] = persEntry{Key: ik, Instance: in}
		f.indexPersLocked(k, id)
		return []naming.ServiceKey{k}, nil
	case OpPersistentDeregister, OpPersistentHealth:
		if c.Instance == nil || c.Instance.IP == "" {
			return nil, fmt.Errorf("%w: %s without an instance", ErrInvalid, c.Op)
		}
		ik := *c.Instance
		ik.Service = naming.NewServiceKey(ik.Service.Namespace, ik.Service.Group, ik.Service.Name)
		e, ok := f.st.Persistent[ik.String()]
		if !ok {
			return nil, fmt.Errorf("%w: persistent instance %s:%d", ErrNotFound, ik.IP, ik.Port)
		}
		if c.Op == OpPersistentDeregister {
			delete(f.st.Persistent, ik.String())
			f.unindexPersLocked(e.Key.Service, ik.String())
		} else {
			if e.Instance.Healthy == c.Healthy {
				return nil, nil
			}
			e.Instance.Healthy = c.Healthy
			f.st.Persistent[ik.String()] = e
		}
		return []naming.ServiceKey{ik.Service}, nil
	case OpPersistentHealthBatch:
		if len(c.Health) == 0 {
			return nil, fmt.Errorf("%w: %s without health updates", ErrInvalid, c.Op)
		}
		var touched []naming.ServiceKey
		seen := map[naming.ServiceKey]bool{}
		for _, u := range c.Health {
			ik := u.Instance
			ik.Service = naming.NewServiceKey(ik.Service.Namespace, ik.Service.Group, ik.Service.Name)
			id := ik.String()
			e, ok := f.st.Persistent[id]
			if !ok || e.Instance.Healthy == u.Healthy {
				continue
			}
			e.Instance.Healthy = u.Healthy
			f.st.Persistent[id] = e
			if !seen[ik.Service] {
				seen[ik.Service] = true
				touched = append(touched, ik.Service)
			}
		}
		return touched, nil
	default:
		return nil, fmt.Errorf("%w: unknown op %q", ErrInvalid, c.Op)
	}
}

func cloneOverride(o Override) Override {
	o.Metadata = maps.Clone(o.Metadata)
	return o
}

// Snapshot implements raft.FSM. It copies the maps of the state under
// the lock and leaves the encoding to Persist, which Raft runs while
// Apply goes on: entries are never changed in place (every apply stores a
// new value), so the copies are a point-in-time view.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return &snapshot{st: state{
		Namespaces: maps.Clone(f.st.Namespaces),
		Overrides:  maps.Clone(f.st.Overrides),
		Switches:   maps.Clone(f.st.Switches),
		Services:   maps.Clone(f.st.Services),
		Clusters:   maps.Clone(f.st.Clusters),
		Persistent: maps.Clone(f.st.Persistent),
	}}, nil
}

// Restore implements raft.FSM: it replaces the state with a snapshot's.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	st := newState()
	if err := json.NewDecoder(rc).Decode(&st); err != nil {
		return fmt.Errorf("cp: restore: %w", err)
	}
	if st.Namespaces == nil {
		st.Namespaces = map[string]Namespace{}
	}
	if st.Overrides == nil {
		st.Overrides = map[string]ovEntry{}
	}
	if st.Switches == nil {
		st.Switches = map[string]string{}
	}
	if st.Services == nil {
		st.Services = map[string]svcEntry{}
	}
	if st.Clusters == nil {
		st.Clusters = map[string]clEntry{}
	}
	if st.Persistent == nil {
		st.Persistent = map[string]persEntry{}
	}
	f.mu.Lock()
	touched := map[naming.ServiceKey]bool{}
	for k := range f.bySvc {
		touched[k] = true
	}
	for _, e := range f.st.Services {
		touched[e.Key] = true
	}
	for k := range f.persBySvc {
		touched[k] = true
	}
	f.st = st
	f.reindex()
	for k := range f.bySvc {
		touched[k] = true
	}
	for _, e := range f.st.Services {
		touched[e.Key] = true
	}
	for k := range f.persBySvc {
		touched[k] = true
	}
	for k := range touched {
		f.rev[k]++
	}
	f.mu.Unlock()
	if len(touched) > 0 && f.onChange != nil {
		keys := slices.Collect(maps.Keys(touched))
		sort.Slice(keys, func(i, j int) bool { return keys[i].Less(keys[j]) })
		f.onChange(keys)
	}
	return nil
}

// snapshot is a point-in-time copy of the state, encoded by Persist.
type snapshot struct{ st state }

// Persist implements raft.FSMSnapshot: it writes the state's JSON form.
func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	w := bufio.NewWriterSize(sink, 64<<10)
	err := json.NewEncoder(w).Encode(s.st)
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("cp: persist snapshot: %w", err)
	}
	return sink.Close()
}

// Release implements raft.FSMSnapshot.
func (s *snapshot) Release() { s.st = state{} }

// --- reads ---

// Namespaces returns the stored namespaces sorted by id (the default
// namespace is not among them).
func (f *FSM) Namespaces() []Namespace {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make([]Namespace, 0, len(f.st.Namespaces))
	for _, ns := range f.st.Namespaces {
		out = append(out, ns)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Namespace returns namespace id.
func (f *FSM) Namespace(id string) (Namespace, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	ns, ok := f.st.Namespaces[id]
	return ns, ok
}

// Override returns the override of instance k.
func (f *FSM) Override(k InstanceKey) (Override, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	e, ok := f.st.Overrides[k.String()]
	return cloneOverride(e.Override), ok
}

// Overlay returns a function applying the overrides of service k to its
// instances, or nil when the service has none. It implements
// naming.Overlay.
func (f *FSM) Overlay(k naming.ServiceKey) func(*naming.Instance) {
	f.mu.RLock()
	m := f.bySvc[k]
	if len(m) == 0 {
		f.mu.RUnlock()
		return nil
	}
	// Apply changes the index under the write lock: copy it for use
	// outside the lock.
	c := maps.Clone(m)
	f.mu.RUnlock()
	return func(in *naming.Instance) {
		if o, ok := c[instAddr(in.ClusterName, in.IP, in.Port)]; ok {
			o.Apply(in)
		}
	}
}

// Switches returns a copy of the switches set through the control plane.
func (f *FSM) Switches() map[string]string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return maps.Clone(f.st.Switches)
}

// ServiceMeta returns the settings of explicitly created service k. It
// implements naming.Catalog.
func (f *FSM) ServiceMeta(k naming.ServiceKey) (naming.ServiceMeta, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	e, ok := f.st.Services[k.String()]
	if !ok {
		return naming.ServiceMeta{}, false
	}
	m := e.Meta
	m.Metadata = maps.Clone(m.Metadata)
	return m, true
}

// CatalogServices returns the explicitly created services of namespace
// ns and those holding persistent instances, sorted. It implements
// naming.Catalog.
func (f *FSM) CatalogServices(ns string) []naming.ServiceKey {
	f.mu.RLock()
	defer f.mu.RUnlock()
	seen := map[naming.ServiceKey]bool{}
	for _, e := range f.st.Services {
		if e.Key.Namespace == ns {
			seen[e.Key] = true
		}
	}
	for k := range f.persBySvc {
		if k.Namespace == ns {
			seen[k] = true
		}
	}
	out := slices.Collect(maps.Keys(seen))
	sort.Slice(out, func(i, j int) bool { return out[i].Less(out[j]) })
	return out
}

// PersistentInstances returns the persistent instances of service k,
// sorted by cluster, ip and port. It implements naming.Catalog.
func (f *FSM) PersistentInstances(k naming.ServiceKey) []naming.Instance {
	f.mu.RLock()
	defer f.mu.RUnlock()
	ids := f.persBySvc[k]
	if len(ids) == 0 {
		return nil
	}
	out := make([]naming.Instance, 0, len(ids))
	for id := range ids {
		e := f.st.Persistent[id]
		out = append(out, e.Instance.Clone())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Addr()+out[i].ClusterName < out[j].Addr()+out[j].ClusterName })
	return out
}

// PersistentEntry is one persistent instance with its key.
type PersistentEntry struct {
	Key      InstanceKey
	Instance naming.Instance
}

// AllPersistent returns every persistent instance, for health probes.
func (f *FSM) AllPersistent() []PersistentEntry {
	f.mu.RLock()
	defer f.mu.RUnlock()
	// The map's keys are the entries' Key.String(): sort those, rather
	// than building two strings per comparison.
	ids := slices.Sorted(maps.Keys(f.st.Persistent))
	out := make([]PersistentEntry, 0, len(ids))
	for _, id := range ids {
		e := f.st.Persistent[id]
		out = append(out, PersistentEntry{Key: e.Key, Instance: e.Instance.Clone()})
	}
	return out
}

// Revision returns a counter of the applied changes to what readers see
// of service k (local to this node). It implements naming.Catalog.
func (f *FSM) Revision(k naming.ServiceKey) uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.rev[k]
}

// CatalogNamespaces returns the namespaces holding explicitly created
// services, sorted. It implements naming.Catalog.
func (f *FSM) CatalogNamespaces() []string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	seen := map[string]bool{}
	for _, e := range f.st.Services {
		seen[e.Key.Namespace] = true
	}
	for k := range f.persBySvc {
		seen[k.Namespace] = true
	}
	out := slices.Collect(maps.Keys(seen))
	sort.Strings(out)
	return out
}

// Clusters returns the cluster settings stored for service k, by cluster
// name.
func (f *FSM) Clusters(k naming.ServiceKey) map[string]ClusterSettings {
	f.mu.RLock()
	defer f.mu.RUnlock()
	var out map[string]ClusterSettings
	for _, e := range f.st.Clusters {
		if e.Key == k {
			if out == nil {
				out = map[string]ClusterSettings{}
			}
			cs := e.Settings
			cs.Metadata = maps.Clone(cs.Metadata)
			out[e.Cluster] = cs
		}
	}
	return out
}

// ExplicitService is an explicitly created service and when it was last
// written.
type ExplicitService struct {
	Key       naming.ServiceKey
	UpdatedMs int64
}

// ExplicitServices returns every explicitly created service, sorted.
func (f *FSM) ExplicitServices() []ExplicitService {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make([]ExplicitService, 0, len(f.st.Services))
	for _, e := range f.st.Services {
		out = append(out, ExplicitService{Key: e.Key, UpdatedMs: e.UpdatedMs})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key.Less(out[j].Key) })
	return out
}

// OverrideKeys returns the instances that have an override, sorted.
func (f *FSM) OverrideKeys() []InstanceKey {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make([]InstanceKey, 0, len(f.st.Overrides))
	for _, e := range f.st.Overrides {
		out = append(out, e.Key)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}
