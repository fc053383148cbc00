package naming

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"unique"

	"github.com/distrod/distrod/internal/hlc"
)

// Publication is what one client publishes for one service: a single
// instance (Batch false, one element) or a batch registration.
type Publication struct {
	Batch     bool
	Instances []Instance
}

func (p *Publication) clone() *Publication {
	c := &Publication{Batch: p.Batch, Instances: make([]Instance, len(p.Instances))}
	for i := range p.Instances {
		c.Instances[i] = p.Instances[i].Clone()
	}
	return c
}

func (p *Publication) sameContent(o *Publication) bool {
	if p.Batch != o.Batch || len(p.Instances) != len(o.Instances) {
		return false
	}
	for i := range p.Instances {
		if !p.Instances[i].sameContent(&o.Instances[i]) {
			return false
		}
	}
	return true
}

// RecordMeta describes one replicated record without its data.
type RecordMeta struct {
	Key       string
	Version   hlc.Version
	Owner     string
	Tag       string
	Tombstone bool
}

// Record is a replicated record with its encoded data (nil for tombstones).
// Its fields mirror distro.Record; the server adapts one to the other.
type Record struct {
	RecordMeta
	Data []byte
}

// Change is emitted after every mutation of the store.
type Change struct {
	// Record is the record that changed, at its new version.
	Record RecordMeta
	// Local is true when this node wrote the change as owner, false when it
	// applied or dropped a peer's record.
	Local bool
	// Services lists the services whose instance list or metadata changed.
	Services []ServiceKey
	// Dropped is true when the change removed a local copy without a new
	// version (Drop): Record then carries only Key and Tag.
	Dropped bool
	// Refresh is true when the owner's record changed only outside its
	// version (the last beat of its instances): the shell replicates it
	// with distro.Node.Refresh, and nothing a reader sees changed.
	Refresh bool
}

// pubMeta is the replication metadata of one publication record: a live
// publication or the tombstone of a removed one.
type pubMeta struct {
	version   hlc.Version
	owner     string
	tombstone bool
	// beatSent is the newest instance LastBeat the record carried when it
	// was last stamped or applied: what the replicas know of the client's
	// heartbeats. ExpireCheck restamps the record when the owner has seen
	// beats well past it.
	beatSent int64
}

type client struct {
	id string
	// services holds the live publications.
	services pubIndex[*Publication]
	// recs holds the record metadata of every publication, live or
	// tombstoned: services has k iff recs has k and it is live.
	recs pubIndex[*pubMeta]
	// owned and ownedSince say whether, and since when, this node has been
	// responsible for the client: since ExpireCheck first found it so, or
	// since the client wrote to it as its owner. A new owner
	// continues the replicated beat deadline; it only waits a short grace
	// before it flips health, so a client whose beats were still on their
	// way to the old owner is not marked unhealthy by the takeover.
	ownedSince int64
	owned      bool
	kind       ClientKind
	// dueAt is when the expiry index next visits the client (expiry.go).
	dueAt int64
}

// takeOwnership notes that this node acts as the client's owner from now on
// (an IP-port client wrote to it, or ExpireCheck found it responsible).
func (c *client) takeOwnership(now int64) {
	if !c.owned {
		c.owned, c.ownedSince = true, now
	}
}

func newClient(id string) *client {
	return &client{id: id, kind: ClientKindOf(id), dueAt: notArmed}
}

// pubIndex maps a client's services to V, a pointer type whose stored
// values are never nil. Most clients publish one service (an HTTP client
// per endpoint, an application's connection): that entry is held inline,
// and a map is made only for a second one. get returns nil (the zero V) for
// a service it lacks, as a map index does.
type pubIndex[V comparable] struct {
	key ServiceKey
	val V                // the only entry's value when m is nil; zero: none
	m   map[ServiceKey]V // every entry, when there are two or more
}

func (x *pubIndex[V]) lookup(k ServiceKey) (V, bool) {
	var zero V
	if x.m != nil {
		v, ok := x.m[k]
		return v, ok
	}
	if x.val != zero && x.key == k {
		return x.val, true
	}
	return zero, false
}

func (x *pubIndex[V]) get(k ServiceKey) V {
	v, _ := x.lookup(k)
	return v
}

// set stores v (not nil) for k.
func (x *pubIndex[V]) set(k ServiceKey, v V) {
	var zero V
	switch {
	case x.m != nil:
		x.m[k] = v
	case x.val == zero || x.key == k:
		x.key, x.val = k, v
	default:
		x.m = map[ServiceKey]V{x.key: x.val, k: v}
		x.key, x.val = ServiceKey{}, zero
	}
}

func (x *pubIndex[V]) del(k ServiceKey) {
	var zero V
	if x.m == nil {
		if x.val != zero && x.key == k {
			x.key, x.val = ServiceKey{}, zero
		}
		return
	}
	delete(x.m, k)
	if len(x.m) == 1 {
		for k, v := range x.m {
			x.key, x.val = k, v
		}
		x.m = nil
	}
}

func (x *pubIndex[V]) len() int {
	var zero V
	if x.m != nil {
		return len(x.m)
	}
	if x.val != zero {
		return 1
	}
	return 0
}

// all yields every entry, in no particular order.
func (x *pubIndex[V]) all(yield func(ServiceKey, V) bool) {
	var zero V
	if x.m == nil {
		if x.val != zero {
			yield(x.key, x.val)
		}
		return
	}
	for k, v := range x.m {
		if !yield(k, v) {
			return
		}
	}
}

// sortedKeys returns the services in key order.
func (x *pubIndex[V]) sortedKeys() []ServiceKey {
	keys := make([]ServiceKey, 0, x.len())
	for k := range x.all {
		keys = append(keys, k)
	}
	sortKeys(keys)
	return keys
}

func (c *client) recMeta(k ServiceKey) RecordMeta {
	m := c.recs.get(k)
	return RecordMeta{Key: PubKey(c.id, k), Version: m.version, Owner: m.owner, Tag: TagOf(c.id), Tombstone: m.tombstone}
}

// summary describes the client as a whole: its newest record's version and
// writer, and whether it publishes nothing.
func (c *client) summary() RecordMeta {
	var best *pubMeta
	for _, m := range c.recs.all {
		if best == nil || m.version.Newer(best.version) {
			best = m
		}
	}
	r := RecordMeta{Key: c.id, Tag: TagOf(c.id), Tombstone: c.services.len() == 0}
	if best != nil {
		r.Version, r.Owner = best.version, best.owner
	}
	return r
}

// PubKey is the replication key of client id's publication for service k:
// "clientID|namespace##group@@service". Replicating each publication as its
// own record keeps a sync proportional to what changed, however many
// services one client publishes.
func PubKey(clientID string, k ServiceKey) string { return clientID + "|" + k.String() }

// ParsePubKey splits a publication record key into client id and service.
func ParsePubKey(key string) (string, ServiceKey, error) {
	i := strings.IndexByte(key, '|')
	if i <= 0 {
		return "", ServiceKey{}, fmt.Errorf("%w: bad record key %q", ErrInvalidParam, key)
	}
	rest := key[i+1:]
	j := strings.Index(rest, "##")
	if j < 0 {
		return "", ServiceKey{}, fmt.Errorf("%w: bad record key %q", ErrInvalidParam, key)
	}
	svc, err := ParseServiceKey(rest[:j], rest[j+2:], "")
	if err != nil {
		return "", ServiceKey{}, fmt.Errorf("%w: bad record key %q", ErrInvalidParam, key)
	}
	return key[:i], svc, nil
}

// ClientOfKey returns the client id a record key belongs to ("" for a
// service metadata record or a malformed key).
func ClientOfKey(key string) string {
	if strings.HasPrefix(key, "svc:") {
		return ""
	}
	if i := strings.IndexByte(key, '|'); i > 0 {
		return key[:i]
	}
	return ""
}

type service struct {
	key        ServiceKey
	publishers pubSet
	// meta is nil for a service that exists only because it has publishers.
	meta        *ServiceMeta
	metaVersion hlc.Version
	metaOwner   string
	metaTomb    bool
	revision    uint64
	// instances counts the instances all publishers hold (quota check).
	instances int
}

func (s *service) exists() bool { return s.meta != nil || s.publishers.len() > 0 }

// pubSet is the set of ids of the clients publishing a service. Most
// services have one publisher (an application registers from one place, or
// a batch registration): it is held inline, and a map is made only for a
// second one.
type pubSet struct {
	one  string              // the only member, when more is nil
	more map[string]struct{} // every member, when there are two or more
}

func (p *pubSet) len() int {
	if p.more != nil {
		return len(p.more)
	}
	if p.one != "" {
		return 1
	}
	return 0
}

func (p *pubSet) add(id string) {
	switch {
	case p.more != nil:
		p.more[id] = struct{}{}
	case p.one == "" || p.one == id:
		p.one = id
	default:
		p.more = map[string]struct{}{p.one: {}, id: {}}
		p.one = ""
	}
}

func (p *pubSet) remove(id string) {
	if p.more == nil {
		if p.one == id {
			p.one = ""
		}
		return
	}
	delete(p.more, id)
	if len(p.more) == 1 {
		for k := range p.more {
			p.one = k
		}
		p.more = nil
	}
}

// all yields every member (in no particular order).
func (p *pubSet) all(yield func(string) bool) {
	if p.more == nil {
		if p.one != "" {
			yield(p.one)
		}
		return
	}
	for id := range p.more {
		if !yield(id) {
			return
		}
	}
}

func (s *service) recordMeta() RecordMeta {
	k := ServiceRecordKey(s.key)
	return RecordMeta{Key: k, Version: s.metaVersion, Owner: s.metaOwner, Tag: k, Tombstone: s.metaTomb}
}

// ServiceRecordKey is the replication key of a service's metadata record. It
// is also its ownership tag.
func ServiceRecordKey(k ServiceKey) string { return "svc:" + k.String() }

// Store holds all naming data of one node. It is safe for concurrent use.
type Store struct {
	self  string
	clock *hlc.Clock

	mu          sync.RWMutex
	clients     map[string]*client
	services    map[ServiceKey]*service
	byNamespace map[string]map[ServiceKey]*service
	metaIntern  map[string]*internedMeta
	// lastMeta is the entry the map lastMetaIn was last interned as (see
	// internMetaLocked); an entry whose refs dropped to 0 left the table.
	lastMeta   *internedMeta
	lastMetaIn map[string]string
	instances  int
	limits     Limits

	// unhealthyMs and deleteMs are the expiry defaults for instances whose
	// metadata sets none.
	unhealthyMs, deleteMs int64

	lmu       sync.RWMutex
	listeners []func(Change)

	flaws Flaws
	// overlay adjusts instances on every read (overlay.go).
	overlay atomic.Pointer[Overlay]
	catalog atomic.Pointer[Catalog]
	// contestedSince is the start (Unix ms) of the current episode in
	// which ownership may be contested, 0 when it is not; see
	// SetContested.
	contestedSince int64
	// isolated and holdUntil restrain expiry; see SetExpiryHold.
	isolated  bool
	holdUntil int64
	// exp schedules the IP-port clients for ExpireDue (expiry.go).
	exp expiryIndex
}

// SetExpiryHold tells the store how far this node can trust the silence
// it observes. isolated means its member view holds no majority of UP
// members: it may be the one cut off, while the clients it hears nothing
// from beat on the other side, so it removes an instance only after twice
// its delete timeout (it still marks it unhealthy on time; the longer wait
// bounds how long a dead client outlives a real loss of most members).
// Until holdUntil (Unix ms) it neither removes an instance nor marks one
// unhealthy: a member came back, and the beats it recorded meanwhile are
// on their way (the next verify round repairs every record it holds newer).
// The shell sets both from every member view it pushes.
func (s *Store) SetExpiryHold(isolated bool, holdUntil int64) {
	s.mu.Lock()
	if s.flaws.NoExpiryHold {
		isolated, holdUntil = false, 0
	}
	s.isolated, s.holdUntil = isolated, holdUntil
	s.expiryChangedLocked()
	s.mu.Unlock()
}

// SetContested tells the store since when (Unix ms) ownership may be
// contested (0: it is not): the cluster shell's member view holds a
// member that is not UP, so that member may be cut off from the clients
// and expire their instances on what it alone saw. ExpireCheck then records
// the newest beat this node received as owner in a derived version, at once
// and again with each new beat until the version reflects a beat received
// after the episode began: it reflects a later beat than anything the
// cut-off member saw (which learnt beats only from this node), so it
// outranks such an expiry after the heal. Outside episodes beats travel without versions (Change.Refresh),
// which keeps verify cheap. The shell starts a new episode whenever a
// member leaves the UP state.
func (s *Store) SetContested(since int64) {
	s.mu.Lock()
	if s.flaws.NoContestedBeats {
		since = 0
	}
	s.contestedSince = since
	s.expiryChangedLocked()
	s.mu.Unlock()
}

// Flaws re-creates defects of earlier builds, each of which let
// acknowledged deregistrations come back or instances outlive their
// deadline. They exist only so the simulation's tests can prove their
// checks catch those defects; a server never sets them.
type Flaws struct {
	// NoBlindTombstone: deregistering an instance this node holds no copy
	// of records nothing.
	NoBlindTombstone bool
	// FreshDerived: health flips and expiry removals get a fresh client
	// action version instead of a derived one.
	FreshDerived bool
	// FreshDeadline: replicated records and takeovers restart the beat
	// deadline at the receiving node's time.
	FreshDeadline bool
	// NoContestedBeats: beats received while ownership may be contested
	// are never recorded in a version (SetContested is ignored).
	NoContestedBeats bool
	// NoExpiryHold: a node cut off from most members, or one that just
	// saw a member come back, expires on its own silence at once
	// (SetExpiryHold is ignored).
	NoExpiryHold bool
}

// SetFlaws plants f (simulation tests only). Call before use.
func (s *Store) SetFlaws(f Flaws) {
	s.mu.Lock()
	s.flaws = f
	s.expiryChangedLocked()
	s.mu.Unlock()
}

// SetExpiry changes the default heartbeat timeouts (milliseconds) applied to
// instances whose metadata does not override them. Call before serving.
func (s *Store) SetExpiry(unhealthyMs, deleteMs int64) {
	s.mu.Lock()
	s.unhealthyMs, s.deleteMs = unhealthyMs, deleteMs
	s.expiryChangedLocked()
	s.mu.Unlock()
}

// SetLimits replaces the limits owner writes are checked against (see
// Limits). Call before serving.
func (s *Store) SetLimits(l Limits) {
	s.mu.Lock()
	s.limits = l
	s.mu.Unlock()
}

// checkWriteLocked checks an owner write that gives service k the
// instances ins (replacing those of old, nil if none) against the limits:
// names, metadata, and the count quotas when it would create a service or
// a namespace or add instances.
func (s *Store) checkWriteLocked(k ServiceKey, old *Publication, ins []Instance) error {
	l := s.limits
	if err := k.Check(l); err != nil {
		return err
	}
	for i := range ins {
		if err := l.CheckMetadata(ins[i].Metadata); err != nil {
			return err
		}
	}
	sv := s.services[k]
	if sv == nil {
		ns := s.byNamespace[k.Namespace]
		if ns == nil && l.MaxNamespaces > 0 && len(s.byNamespace) >= l.MaxNamespaces {
			return fmt.Errorf("%w: namespace %s would exceed the limit of %d namespaces (max-namespaces)", ErrLimitExceeded, k.Namespace, l.MaxNamespaces)
		}
		if l.MaxServicesPerNamespace > 0 && len(ns) >= l.MaxServicesPerNamespace {
			return fmt.Errorf("%w: service %s would exceed the limit of %d services in namespace %s (max-services-per-namespace)",
				ErrLimitExceeded, k.Grouped(), l.MaxServicesPerNamespace, k.Namespace)
		}
	}
	if l.MaxInstancesPerService > 0 && len(ins) > 0 {
		n := len(ins)
		if sv != nil {
			n += sv.instances
		}
		if old != nil {
			n -= len(old.Instances)
		}
		if n > l.MaxInstancesPerService && (old == nil || len(ins) > len(old.Instances)) {
			return fmt.Errorf("%w: service %s would hold %d instances; the limit is %d (max-instances-per-service)",
				ErrLimitExceeded, k.Grouped(), n, l.MaxInstancesPerService)
		}
	}
	return nil
}

// NewStore returns an empty store for the node with address self, stamping
// versions from clock.
func NewStore(self string, clock *hlc.Clock) *Store {
	return &Store{
		self:        self,
		clock:       clock,
		clients:     make(map[string]*client),
		services:    make(map[ServiceKey]*service),
		byNamespace: make(map[string]map[ServiceKey]*service),
		metaIntern:  make(map[string]*internedMeta),
		limits:      DefaultLimits(),
		unhealthyMs: DefaultBeatTimeoutMs,
		deleteMs:    DefaultDeleteTimeoutMs,
		exp:         expiryIndex{full: true},
	}
}

// Self returns the address of the node the store belongs to.
func (s *Store) Self() string { return s.self }

// OnChange registers fn to be called after every mutation, outside the
// store's lock, on the goroutine that made the change. fn must not block.
func (s *Store) OnChange(fn func(Change)) {
	s.lmu.Lock()
	s.listeners = append(s.listeners, fn)
	s.lmu.Unlock()
}

func (s *Store) emit(chs []Change) {
	if len(chs) == 0 {
		return
	}
	s.lmu.RLock()
	ls := s.listeners
	s.lmu.RUnlock()
	for _, ch := range chs {
		for _, fn := range ls {
			fn(ch)
		}
	}
}

// --- index maintenance (callers hold s.mu) ---

func (s *Store) serviceLocked(k ServiceKey, create bool) *service {
	sv := s.services[k]
	if sv == nil && create {
		sv = &service{key: k}
		s.services[k] = sv
		ns := s.byNamespace[k.Namespace]
		if ns == nil {
			ns = make(map[ServiceKey]*service)
			s.byNamespace[k.Namespace] = ns
		}
		ns[k] = sv
	}
	return sv
}

func (s *Store) gcServiceLocked(sv *service) {
	if sv.exists() || !sv.metaVersion.IsZero() {
		return
	}
	delete(s.services, sv.key)
	if ns := s.byNamespace[sv.key.Namespace]; ns != nil {
		delete(ns, sv.key)
		if len(ns) == 0 {
			delete(s.byNamespace, sv.key.Namespace)
		}
	}
}

// putPubLocked sets (np != nil) or removes (np == nil) c's publication for
// k, keeping the index in step, and reports whether the content changed.
// It costs O(1) in the number of services the client publishes.
func (s *Store) putPubLocked(c *client, k ServiceKey, np *Publication) bool {
	old, had := c.services.lookup(k)
	if np == nil {
		if !had {
			return false
		}
		s.touchLocked(c)
		c.services.del(k)
		s.instances -= len(old.Instances)
		s.releaseMetaLocked(old)
		if sv := s.services[k]; sv != nil {
			sv.instances -= len(old.Instances)
			sv.publishers.remove(c.id)
			sv.revision++
			s.gcServiceLocked(sv)
		}
		return true
	}
	if had && np.sameContent(old) {
		return false
	}
	s.touchLocked(c)
	for i := range np.Instances {
		in := &np.Instances[i]
		if in.ClusterName != DefaultCluster {
			in.ClusterName = unique.Make(in.ClusterName).Value()
		} else {
			in.ClusterName = DefaultCluster // a constant: no copy, no lookup
		}
		in.Metadata = s.internMetaLocked(in.Metadata)
	}
	sv := s.serviceLocked(k, true)
	if had {
		s.instances -= len(old.Instances)
		sv.instances -= len(old.Instances)
		s.releaseMetaLocked(old)
	}
	s.instances += len(np.Instances)
	sv.instances += len(np.Instances)
	c.services.set(k, np)
	sv.publishers.add(c.id)
	sv.revision++
	return true
}

// maxInternedMeta bounds the table of shared metadata maps.
const maxInternedMeta = 1 << 16

// internedMeta is one shared metadata map and the number of stored
// instances holding it.
type internedMeta struct {
	m    map[string]string
	refs int
}

// metaKey is the canonical text of a metadata map: sorted key/value pairs.
func metaKey(m map[string]string) string {
	keys := make([]string, 0, len(m))
	n := 0
	for k, v := range m {
		keys = append(keys, k)
		n += len(k) + len(v) + 2
	}
	sort.Strings(keys)
	b := make([]byte, 0, n)
	for _, k := range keys {
		b = append(b, k...)
		b = append(b, 0)
		b = append(b, m[k]...)
		b = append(b, 0)
	}
	return string(b)
}

// internMetaLocked returns a shared copy of metadata equal to m, so that
// the many instances of a service that carry identical metadata hold one
// map between them (nil when m is empty), and counts the new holder.
// Stored metadata maps are never modified in place: every write replaces
// the map. The table keeps at most maxInternedMeta distinct maps; beyond
// that m is kept as it is.
func (s *Store) internMetaLocked(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	// Decoded records share one map per distinct metadata (codec.go), so
	// the instances of a snapshot mostly pass the map the previous one
	// passed: it then needs no canonical key.
	if e := s.lastMeta; e != nil && e.refs > 0 && sameMap(s.lastMetaIn, m) {
		e.refs++
		return e.m
	}
	key := metaKey(m)
	e, ok := s.metaIntern[key]
	switch {
	case ok:
		e.refs++
	case len(s.metaIntern) >= maxInternedMeta:
		return m
	default:
		e = &internedMeta{m: m, refs: 1}
		s.metaIntern[key] = e
	}
	s.lastMeta, s.lastMetaIn = e, m
	return e.m
}

// sameMap reports whether a and b are the same map (not merely equal).
func sameMap(a, b map[string]string) bool {
	return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}

// stampLocked gives c's publication record for k a new version for a
// client action (register, deregister, update, a beat that revives),
// releaseMetaLocked drops the holds of p's instances on their interned
// metadata; a map nobody holds any more leaves the table. Maps that were
// never interned (the table was full) are not counted.
func (s *Store) releaseMetaLocked(p *Publication) {
	for i := range p.Instances {
		m := p.Instances[i].Metadata
		if len(m) == 0 {
			continue
		}
		key := metaKey(m)
		e, ok := s.metaIntern[key]
		if !ok || !sameMap(e.m, m) {
			continue
		}
		if e.refs--; e.refs <= 0 {
			delete(s.metaIntern, key)
		}
	}
}

// stampLocked gives c's publication record for k a new owner version,
// live or tombstone as the publication now is.
func (s *Store) stampLocked(now int64, c *client, k ServiceKey) Change {
	return s.writeLocked(c, k, func(m *pubMeta) hlc.Version { return s.clock.Next(now) })
}

// deriveLocked gives c's publication record for k the version of a change
// the server derived from the state it holds, reflecting client beats up to
// beat (a health flip or removal on expiry, a new owner recording the beats
// it received): it ranks below every later client action, wherever that was
// made, and below derived changes that reflect later beats (see
// hlc.Clock.Derive).
func (s *Store) deriveLocked(now int64, c *client, k ServiceKey, beat int64, weight uint16) Change {
	if s.flaws.FreshDerived {
		return s.stampLocked(now, c, k)
	}
	return s.writeLocked(c, k, func(m *pubMeta) hlc.Version { return s.clock.Derive(now, m.version, beat, weight) })
}

// Weights of derived changes at equal knowledge of the beats (see
// hlc.Clock.Derive): a removal wins over a health flip, which wins over a
// record of the beats.
const (
	weightBeats   = 0
	weightFlip    = 1
	weightRemoval = 2
)

func (s *Store) writeLocked(c *client, k ServiceKey, version func(*pubMeta) hlc.Version) Change {
	m := c.recs.get(k)
	if m == nil {
		m = &pubMeta{}
		c.recs.set(k, m)
	}
	m.version = version(m)
	m.owner = s.self
	s.touchLocked(c)
	p := c.services.get(k)
	m.tombstone = p == nil
	m.beatSent = p.newestBeat()
	return Change{Record: c.recMeta(k), Local: true, Services: []ServiceKey{k}}
}

// newestBeat is the newest LastBeat of p's instances (0 for nil).
func (p *Publication) newestBeat() int64 {
	var b int64
	if p != nil {
		for i := range p.Instances {
			b = max(b, p.Instances[i].LastBeat)
		}
	}
	return b
}

func sortKeys(ks []ServiceKey) {
	sort.Slice(ks, func(i, j int) bool { return ks[i].Less(ks[j]) })
}

// --- owner writes ---

// Publish sets client's publication for svc (register, re-register, batch
// register). The client is created if needed. An identical re-publish
// changes nothing a reader sees; for an IP-port client it still stamps a
// new version (a client action), for a connection client it only
// refreshes heartbeat times.
func (s *Store) Publish(now int64, clientID string, svc ServiceKey, pub Publication) error {
	if clientID == "" || strings.IndexByte(clientID, '|') >= 0 {
		return fmt.Errorf("%w: bad client id %q", ErrInvalidParam, clientID)
	}
	if svc.Name == "" {
		return fmt.Errorf("%w: serviceName is empty", ErrInvalidParam)
	}
	np := pub.clone()
	for i := range np.Instances {
		if err := np.Instances[i].Normalize(); err != nil {
			return err
		}
		np.Instances[i].LastBeat = now
	}
	s.mu.Lock()
	c := s.clients[clientID]
	if c == nil {
		c = newClient(clientID)
		s.clients[clientID] = c
	}
	s.takeOwnershipLocked(c, now)
	if old, ok := c.services.lookup(svc); ok && old.sameContent(np) {
		for i := range old.Instances {
			old.Instances[i].LastBeat = now
		}
		if c.kind != KindIPPort {
			s.mu.Unlock()
			return nil
		}
		// Same content: an HTTP client's registration is still a client
		// action. It gets a new version (and the new beat time), so that
		// it outranks whatever a member cut off from this client derived
		// from the earlier registration. (Connection clients have no
		// derived changes.)
		ch := s.stampLocked(now, c, svc)
		ch.Services = nil // nothing a reader sees changed
		s.mu.Unlock()
		s.emit([]Change{ch})
		return nil
	}
	if err := s.checkWriteLocked(svc, c.services.get(svc), np.Instances); err != nil {
		if c.recs.len() == 0 {
			delete(s.clients, clientID)
		}
		s.mu.Unlock()
		return err
	}
	s.putPubLocked(c, svc, np)
	ch := s.stampLocked(now, c, svc)
	s.mu.Unlock()
	s.emit([]Change{ch})
	return nil
}

// Unpublish removes client's publication for svc and reports whether there
// was one. It writes a tombstone either way: a node that holds no copy (the
// instance was registered on the other side of a partition, or this node
// is still loading) must still record the client's delete, so that the
// delete wins over the copies other nodes hold.
func (s *Store) Unpublish(now int64, clientID string, svc ServiceKey) bool {
	if clientID == "" {
		return false
	}
	s.mu.Lock()
	c := s.clients[clientID]
	if s.flaws.NoBlindTombstone && (c == nil || c.services.get(svc) == nil) {
		s.mu.Unlock()
		return false
	}
	if c == nil {
		c = newClient(clientID)
		s.clients[clientID] = c
	}
	had := s.putPubLocked(c, svc, nil)
	ch := s.stampLocked(now, c, svc)
	if !had {
		ch.Services = nil // nothing a reader could see changed
	}
	s.mu.Unlock()
	s.emit([]Change{ch})
	return had
}

// RemoveClient deletes every publication of a client as its owner
// (connection closed), leaving a tombstone for each. It reports whether the
// client published anything.
func (s *Store) RemoveClient(now int64, clientID string) bool {
	s.mu.Lock()
	c := s.clients[clientID]
	if c == nil || c.services.len() == 0 {
		s.mu.Unlock()
		return false
	}
	keys := make([]ServiceKey, 0, c.services.len())
	for k := range c.services.all {
		keys = append(keys, k)
	}
	sortKeys(keys)
	chs := make([]Change, 0, len(keys))
	for _, k := range keys {
		s.putPubLocked(c, k, nil)
		chs = append(chs, s.stampLocked(now, c, k))
	}
	s.mu.Unlock()
	s.emit(chs)
	return true
}

// UpdateInstance applies fn to the instance ip:port (in cluster, "" = any)
// that clientID publishes for svc, as its owner. fn may change Weight,
// Enabled, Healthy and Metadata.
func (s *Store) UpdateInstance(now int64, clientID string, svc ServiceKey, ip string, port int, cluster string, fn func(*Instance)) error {
	s.mu.Lock()
	c := s.clients[clientID]
	if c == nil || c.services.get(svc) == nil {
		s.mu.Unlock()
		return fmt.Errorf("%w: instance %s:%d of %s", ErrInstanceNotFound, ip, port, svc.Grouped())
	}
	np := c.services.get(svc).clone()
	found := false
	for i := range np.Instances {
		in := &np.Instances[i]
		if in.IP == ip && in.Port == port && (cluster == "" || cluster == in.ClusterName) {
			fn(in)
			if err := in.Normalize(); err != nil {
				s.mu.Unlock()
				return err
			}
			found = true
		}
	}
	if !found {
		s.mu.Unlock()
		return fmt.Errorf("%w: instance %s:%d of %s", ErrInstanceNotFound, ip, port, svc.Grouped())
	}
	if err := s.checkWriteLocked(svc, c.services.get(svc), np.Instances); err != nil {
		s.mu.Unlock()
		return err
	}
	if !s.putPubLocked(c, svc, np) {
		s.mu.Unlock()
		return nil
	}
	ch := s.stampLocked(now, c, svc)
	s.mu.Unlock()
	s.emit([]Change{ch})
	return nil
}

// Beat records a heartbeat of ip:port in svc from an IP-port client, on the
// node responsible for it. It reports whether the instance exists; an
// unhealthy instance becomes healthy again (a new derived version).
func (s *Store) Beat(now int64, clientID string, svc ServiceKey, ip string, port int) bool {
	s.mu.Lock()
	c := s.clients[clientID]
	if c == nil || c.services.get(svc) == nil {
		s.mu.Unlock()
		return false
	}
	s.takeOwnershipLocked(c, now)
	pub := c.services.get(svc)
	found, revive := false, false
	for i := range pub.Instances {
		in := &pub.Instances[i]
		if in.IP == ip && in.Port == port {
			found = true
			in.LastBeat = now
			if !in.Healthy {
				revive = true
			}
		}
	}
	if !revive {
		// While ownership may be contested, the beat goes into a version
		// at once (see passBeatsLocked), not at the next expiry check: an
		// expiry from a member that did not see it may be on its way.
		var chs []Change
		if found {
			if ch, ok := s.passBeatsLocked(now, c, svc, true); ok {
				chs = append(chs, ch)
			}
			// Beats to pass on at the next check. (Deadlines only
			// moved later: the client's armed time stays valid.)
			if s.beatsToPassLocked(c, svc, false) {
				s.touchLocked(c)
			}
		}
		s.mu.Unlock()
		s.emit(chs)
		return found
	}
	np := pub.clone()
	for i := range np.Instances {
		if np.Instances[i].IP == ip && np.Instances[i].Port == port {
			np.Instances[i].Healthy = true
		}
	}
	s.putPubLocked(c, svc, np)
	// A revival is evidence of the client, not an action of it: a derived
	// change reflecting this beat. It outranks every expiry that saw older
	// beats, and loses to the client's next action wherever that is made
	// (a deregistration right after this beat, through a node across a
	// partition whose clock ties with this one's, must win).
	ch := s.deriveLocked(now, c, svc, now, weightBeats)
	s.mu.Unlock()
	s.emit([]Change{ch})
	return true
}

// ExpireCheck runs heartbeat expiry on the IP-port clients this node owns
// (owns reports responsibility for an "ip:port" tag): instances without
// beats turn unhealthy after their beat timeout and are removed after their
// delete timeout, counted from the last beat the record carries, so a node
// that takes a client over continues its deadline (a takeover waits
// takeoverGrace before it flips health, never before it removes). These are
// derived changes (see hlc.Clock.Derive): they never outrank a later
// client action made elsewhere. While a client beats, the record is sent
// again at the same version (Change.Refresh) once its owner has seen beats
// half the beat timeout past what the replicas hold (with Nacos's
// defaults, one record every 10 s per beating instance), so every replica
// knows the deadline a new owner must continue; digests do not move.
// While ownership may be contested (SetContested), a beat received since
// the episode began is recorded once in a derived version, so that an
// expiry by a member cut off from the client loses to it after the heal.
// It returns the number of publication records changed.
//
// ExpireCheck judges every IP-port client, whatever owns answered before;
// ExpireDue has the same effects and judges only the clients due.
func (s *Store) ExpireCheck(now int64, owns func(tag string) bool) int {
	s.exp.passMu.Lock()
	defer s.exp.passMu.Unlock()
	s.mu.Lock()
	return s.expirePassLocked(now, owns, nil)
}

// expireClientLocked is ExpireCheck's work on one IP-port client with live
// publications: it appends the changes to chs.
func (s *Store) expireClientLocked(now int64, c *client, owns func(tag string) bool, chs []Change) []Change {
	owned := owns(TagOf(c.id))
	if !owned {
		c.owned = false
	} else {
		if !c.owned && s.flaws.FreshDeadline {
			for _, p := range c.services.all {
				for i := range p.Instances {
					p.Instances[i].LastBeat = now
				}
			}
		}
		c.takeOwnership(now)
	}
	keys := c.services.sortedKeys()
	for _, k := range keys {
		if owned {
			if ch, ok := s.expireLocked(now, c, k, true, true); ok {
				chs = append(chs, ch)
				continue
			}
		}
		// Not expired: pass on the beats received here. A node that
		// does not own the client by its view passes on the beats
		// peers forwarded to it while views disagreed.
		if ch, ok := s.passBeatsLocked(now, c, k, false); ok {
			chs = append(chs, ch)
		}
	}
	return chs
}

// expireLocked applies heartbeat expiry to c's publication for k: it flips
// instances past their beat timeout unhealthy and removes those past their
// delete timeout, as a derived change, and reports whether it changed
// anything. SetExpiryHold restrains both; hold says whether its rejoin
// hold applies, flips whether instances may be marked unhealthy.
func (s *Store) expireLocked(now int64, c *client, k ServiceKey, hold, flips bool) (Change, bool) {
	if hold && now < s.holdUntil {
		return Change{}, false
	}
	p := c.services.get(k)
	if !s.expiresLocked(now, c, p, flips) {
		return Change{}, false
	}
	var keep []Instance
	dirty, weight := false, uint16(weightFlip)
	for i := range p.Instances {
		in := p.Instances[i]
		idle := now - in.LastBeat
		del := in.metaMs(MetaDeleteTimeout, s.deleteMs)
		if s.isolated {
			del *= 2
		}
		if idle > del {
			dirty, weight = true, weightRemoval
			continue
		}
		if flips && in.Healthy && idle > in.metaMs(MetaBeatTimeout, s.unhealthyMs) && now-c.ownedSince >= takeoverGrace(&in) {
			in = in.Clone()
			in.Healthy = false
			dirty = true
		}
		keep = append(keep, in)
	}
	if !dirty {
		return Change{}, false
	}
	beat := p.newestBeat()
	if len(keep) == 0 {
		s.putPubLocked(c, k, nil)
	} else {
		s.putPubLocked(c, k, &Publication{Batch: p.Batch, Instances: keep})
	}
	return s.deriveLocked(now, c, k, beat, weight), true
}

// passBeatsLocked passes on the beats this node received for c's
// publication for k. While ownership may be contested (SetContested) it
// records the newest beat in a derived version, at once and again with
// each new beat until the version reflects one received since the episode
// began; otherwise it refreshes the replicas without a version once they
// lag half a beat timeout behind.
func (s *Store) passBeatsLocked(now int64, c *client, k ServiceKey, contestedOnly bool) (Change, bool) {
	p, m := c.services.get(k), c.recs.get(k)
	if !s.beatsToPass(p, m, contestedOnly) {
		return Change{}, false
	}
	beat, since := p.newestBeat(), s.contestedSince
	reflected := m.version.ReflectedBeat()
	switch {
	case since > 0 && beat > reflected && reflected < since && m.version.Millis() < since:
		ch := s.deriveLocked(now, c, k, beat, weightBeats)
		ch.Services = nil // nothing a reader sees changed
		return ch, true
	case !contestedOnly && beat-m.beatSent >= refreshOf(p, s.unhealthyMs):
		m.beatSent = beat
		return Change{Record: c.recMeta(k), Local: true, Refresh: true}, true
	}
	return Change{}, false
}

// counterExpiryLocked answers an expiry (a derived tombstone) of c's
// publication for k that reflects older beats than this node saw: the
// member that decided it was cut off from the client, which kept beating
// here. The node takes the expiry's version and at once records its live
// copy in a derived version reflecting its newest beat, which outranks the
// expiry, in one step (readers never see the instance missing). A
// deregistration (a client action) is never countered.
func (s *Store) counterExpiryLocked(now int64, c *client, k ServiceKey, r Record) (Change, bool) {
	local := c.services.get(k)
	if !r.Tombstone || !r.Version.Derived() || local == nil || s.flaws.NoContestedBeats {
		return Change{}, false
	}
	beat := local.newestBeat()
	if beat <= r.Version.ReflectedBeat() || beat <= r.Version.Millis() {
		return Change{}, false
	}
	m := c.recs.get(k)
	m.version, m.owner, m.tombstone = r.Version, r.Owner, true
	ch := s.deriveLocked(now, c, k, beat, weightBeats) // content unchanged: still live
	ch.Services = nil
	return ch, true
}

// keepLocalBeats raises the last beats of np's instances to those old
// holds for the same endpoint: a beat this node saw is evidence whatever
// version replaces the record.
func keepLocalBeats(old, np *Publication) {
	for i := range np.Instances {
		in := &np.Instances[i]
		for j := range old.Instances {
			o := &old.Instances[j]
			if o.IP == in.IP && o.Port == in.Port && o.ClusterName == in.ClusterName && o.LastBeat > in.LastBeat {
				in.LastBeat = o.LastBeat
			}
		}
	}
}

// refreshOf is how far an owner lets the beats the replicas know of fall
// behind for p: half the shortest beat timeout of its instances.
func refreshOf(p *Publication, defaultMs int64) int64 {
	r := int64(-1)
	for i := range p.Instances {
		if t := p.Instances[i].metaMs(MetaBeatTimeout, defaultMs) / 2; r < 0 || t < r {
			r = t
		}
	}
	return r
}

// takeoverGrace is how long a new owner waits before it marks an instance
// unhealthy: two beat intervals, time for the client's next beat to be
// routed to it. Removal never waits for it, so the delete deadline holds
// whatever ownership does.
func takeoverGrace(in *Instance) int64 { return 2 * in.BeatIntervalMs() }

// --- service metadata (owner writes) ---

// CreateService creates a service explicitly with meta. A service that
// already exists (created, or holding instances) is an error, as in Nacos.
func (s *Store) CreateService(now int64, k ServiceKey, meta ServiceMeta) error {
	s.mu.Lock()
	if err := s.checkServiceWriteLocked(k, &meta); err != nil {
		s.mu.Unlock()
		return err
	}
	sv := s.serviceLocked(k, true)
	if sv.exists() {
		s.mu.Unlock()
		return fmt.Errorf("%w: specified service %s already exists", ErrServiceExists, k.Grouped())
	}
	ch := s.writeMetaLocked(now, sv, &meta)
	s.mu.Unlock()
	s.emit([]Change{ch})
	return nil
}

// UpdateService replaces the metadata of an existing service.
func (s *Store) UpdateService(now int64, k ServiceKey, meta ServiceMeta) error {
	s.mu.Lock()
	sv := s.services[k]
	if sv == nil || !sv.exists() {
		s.mu.Unlock()
		return fmt.Errorf("%w: service %s not found", ErrServiceNotFound, k.Grouped())
	}
	if err := s.checkServiceWriteLocked(k, &meta); err != nil {
		s.mu.Unlock()
		return err
	}
	ch := s.writeMetaLocked(now, sv, &meta)
	s.mu.Unlock()
	s.emit([]Change{ch})
	return nil
}

// DeleteService removes a service that has no instances.
func (s *Store) DeleteService(now int64, k ServiceKey) error {
	s.mu.Lock()
	sv := s.services[k]
	if sv == nil || !sv.exists() {
		s.mu.Unlock()
		return fmt.Errorf("%w: service %s not found", ErrServiceNotFound, k.Grouped())
	}
	if sv.publishers.len() > 0 {
		s.mu.Unlock()
		return fmt.Errorf("%w: service %s has instances, can not delete", ErrServiceHasInstances, k.Grouped())
	}
	ch := s.writeMetaLocked(now, sv, nil)
	s.mu.Unlock()
	s.emit([]Change{ch})
	return nil
}

// checkServiceWriteLocked checks a service metadata write against the
// limits.
func (s *Store) checkServiceWriteLocked(k ServiceKey, meta *ServiceMeta) error {
	if err := s.checkWriteLocked(k, nil, nil); err != nil {
		return err
	}
	return s.limits.CheckMetadata(meta.Metadata)
}

func (s *Store) writeMetaLocked(now int64, sv *service, meta *ServiceMeta) Change {
	if meta != nil {
		m := *meta
		m.Metadata = cloneMap(meta.Metadata)
		meta = &m
	}
	sv.meta = meta
	sv.metaTomb = meta == nil
	sv.metaVersion = s.clock.Next(now)
	sv.metaOwner = s.self
	sv.revision++
	ch := Change{Record: sv.recordMeta(), Local: true, Services: []ServiceKey{sv.key}}
	return ch
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// --- replication (called by the Distro shell) ---

type wireService struct {
	Namespace string      `json:"ns"`
	Group     string      `json:"g"`
	Name      string      `json:"s"`
	Meta      ServiceMeta `json:"m"`
}

// Get returns the record stored under key (a PubKey or a
// ServiceRecordKey), tombstones included.
func (s *Store) Get(key string) (Record, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if strings.HasPrefix(key, "svc:") {
		if sv := s.serviceOfRecordLocked(key); sv != nil && !sv.metaVersion.IsZero() {
			return s.serviceRecordLocked(sv), true
		}
		return Record{}, false
	}
	id, k, err := ParsePubKey(key)
	if err != nil {
		return Record{}, false
	}
	c := s.clients[id]
	if c == nil || c.recs.get(k) == nil {
		return Record{}, false
	}
	r := Record{RecordMeta: c.recMeta(k)}
	if p := c.services.get(k); p != nil {
		r.Data = encodePublication(p)
	}
	return r, true
}

func (s *Store) serviceRecordLocked(sv *service) Record {
	r := Record{RecordMeta: sv.recordMeta()}
	if sv.meta != nil {
		r.Data, _ = json.Marshal(wireService{Namespace: sv.key.Namespace, Group: sv.key.Group, Name: sv.key.Name, Meta: *sv.meta})
	}
	return r
}

// Apply installs a peer's record if its version is newer than the stored
// one, and reports whether it did. now refreshes the heartbeat times of the
// record's instances. A malformed record is an error and changes nothing.
func (s *Store) Apply(now int64, r Record) (bool, error) {
	if strings.HasPrefix(r.Key, "svc:") {
		s.clock.Observe(r.Version)
		return s.applyService(r)
	}
	id, k, err := ParsePubKey(r.Key)
	if err != nil {
		return false, err
	}
	var np *Publication
	if !r.Tombstone {
		np, err = decodePublication(r.Data)
		if err != nil {
			return false, fmt.Errorf("naming: decode %s: %w", r.Key, err)
		}
		for i := range np.Instances {
			in := &np.Instances[i]
			if err := in.Normalize(); err != nil {
				return false, fmt.Errorf("naming: record %s: %w", r.Key, err)
			}
			// The owner's last beat continues here (capped at this node's
			// time, in case its clock runs ahead); a record of an earlier
			// build carries none and starts the deadline now.
			if in.LastBeat <= 0 || in.LastBeat > now || s.flaws.FreshDeadline {
				in.LastBeat = now
			}
		}
	}
	s.clock.Observe(r.Version)
	s.mu.Lock()
	c := s.clients[id]
	if c != nil && c.recs.get(k) != nil && !r.Version.Newer(c.recs.get(k).version) {
		s.mu.Unlock()
		return false, nil
	}
	if c == nil {
		c = newClient(id)
		s.clients[id] = c
	}
	if ch, ok := s.counterExpiryLocked(now, c, k, r); ok {
		s.mu.Unlock()
		s.emit([]Change{ch})
		return true, nil
	}
	carried := np.newestBeat() // before local beats are merged in
	if old := c.services.get(k); old != nil && np != nil {
		keepLocalBeats(old, np)
	}
	changed := s.putPubLocked(c, k, np)
	if !changed && np != nil {
		// Same content at a newer version (a last-beat refresh): only the
		// deadline moves.
		old := c.services.get(k).Instances
		for i := range old {
			old[i].LastBeat = max(old[i].LastBeat, np.Instances[i].LastBeat)
		}
	}
	m := c.recs.get(k)
	if m == nil {
		m = &pubMeta{}
		c.recs.set(k, m)
	}
	// Owners are the few member addresses: one copy each, not one per record.
	m.version, m.owner, m.tombstone = r.Version, unique.Make(r.Owner).Value(), r.Tombstone
	s.touchLocked(c)
	// What the replicas know of the beats is what the record carried, not the
	// beats this node saw itself (those it still has to pass on).
	m.beatSent = carried
	ch := Change{Record: c.recMeta(k)}
	if changed {
		ch.Services = []ServiceKey{k}
	}
	chs := []Change{ch}
	// A record that arrives past its delete deadline is judged at once
	// (after a heal the other side's copy may carry beats that ended long
	// ago; a sync retried since the partition may deliver it to every
	// node), rather than served until the owner's next expiry check: it
	// carries the beats of the side it comes from, and past the deadline
	// by them and by this node's, it is removed in the same step, also
	// during a rejoin hold. Only the owner marks instances unhealthy.
	if np != nil && c.kind == KindIPPort {
		if exp, ok := s.expireLocked(now, c, k, false, c.owned); ok {
			chs = append(chs, exp)
			s.mu.Unlock()
			s.emit(chs)
			return true, nil
		}
	}
	// This node saw beats the new version does not reflect (another side
	// of a partition registered or expired the client meanwhile): record
	// them in a derived version, or an expiry derived from the new one
	// could remove a client that kept beating here.
	if merged := np.newestBeat(); np != nil && !s.flaws.NoContestedBeats && merged > carried &&
		merged > r.Version.ReflectedBeat() && merged > r.Version.Millis() {
		stamp := s.deriveLocked(now, c, k, merged, weightBeats)
		stamp.Services = nil
		chs = append(chs, stamp)
	}
	s.mu.Unlock()
	s.emit(chs)
	return true, nil
}

func (s *Store) applyService(r Record) (bool, error) {
	var w wireService
	if r.Tombstone {
		k, err := parseServiceRecordKey(r.Key)
		if err != nil {
			return false, err
		}
		w.Namespace, w.Group, w.Name = k.Namespace, k.Group, k.Name
	} else if err := json.Unmarshal(r.Data, &w); err != nil {
		return false, fmt.Errorf("naming: decode service %s: %w", r.Key, err)
	}
	k := ServiceKey{Namespace: w.Namespace, Group: w.Group, Name: w.Name}
	// A record whose names do not rebuild its key would be stored under
	// another key than the one replicated, and nodes would never agree.
	if err := k.checkChars(); err != nil || ServiceRecordKey(k) != r.Key {
		return false, fmt.Errorf("%w: service record %q does not match its data %s", ErrInvalidParam, r.Key, k)
	}
	s.mu.Lock()
	sv := s.serviceLocked(k, true)
	if !r.Version.Newer(sv.metaVersion) {
		s.mu.Unlock()
		return false, nil
	}
	if r.Tombstone {
		sv.meta = nil
	} else {
		m := w.Meta
		sv.meta = &m
	}
	sv.metaTomb, sv.metaVersion, sv.metaOwner = r.Tombstone, r.Version, r.Owner
	sv.revision++
	ch := Change{Record: sv.recordMeta(), Services: []ServiceKey{k}}
	s.mu.Unlock()
	s.emit([]Change{ch})
	return true, nil
}

// serviceOfRecordLocked returns the service whose metadata record key is
// key, nil if there is none.
func (s *Store) serviceOfRecordLocked(key string) *service {
	k, err := parseServiceRecordKey(key)
	if err != nil {
		return nil
	}
	sv := s.services[k]
	if sv == nil || ServiceRecordKey(k) != key {
		return nil
	}
	return sv
}

func parseServiceRecordKey(key string) (ServiceKey, error) {
	rest := strings.TrimPrefix(key, "svc:")
	i := strings.Index(rest, "##")
	if i < 0 {
		return ServiceKey{}, fmt.Errorf("%w: bad service record key %q", ErrInvalidParam, key)
	}
	return ParseServiceKey(rest[:i], rest[i+2:], "")
}

// Refresh takes the last beats of a live publication record whose version
// equals the stored one (the owner's refresh, see Change.Refresh). It
// reports whether it moved a deadline; anything else in r is ignored.
func (s *Store) Refresh(now int64, r Record) bool {
	if r.Tombstone || strings.HasPrefix(r.Key, "svc:") {
		return false
	}
	id, k, err := ParsePubKey(r.Key)
	if err != nil {
		return false
	}
	np, err := decodePublication(r.Data)
	if err != nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.clients[id]
	if c == nil || c.recs.get(k) == nil || c.recs.get(k).version != r.Version || c.services.get(k) == nil {
		return false
	}
	old := c.services.get(k).Instances
	if len(old) != len(np.Instances) {
		return false
	}
	moved := false
	for i := range old {
		if b := min(np.Instances[i].LastBeat, now); b > old[i].LastBeat {
			old[i].LastBeat, moved = b, true
		}
	}
	c.recs.get(k).beatSent = max(c.recs.get(k).beatSent, np.newestBeat())
	if s.beatsToPassLocked(c, k, false) {
		s.touchLocked(c) // a later beat to record while contested
	}
	return moved
}

// Drop removes the local copy of a record without a tombstone: a
// tombstone's garbage collection, or cleanup of a dead owner's clients.
func (s *Store) Drop(key string) bool {
	s.mu.Lock()
	if strings.HasPrefix(key, "svc:") {
		sv := s.serviceOfRecordLocked(key)
		if sv == nil || sv.metaVersion.IsZero() {
			s.mu.Unlock()
			return false
		}
		sv.meta, sv.metaTomb, sv.metaVersion, sv.metaOwner = nil, false, hlc.Version{}, ""
		sv.revision++
		s.gcServiceLocked(sv)
		ch := Change{Record: RecordMeta{Key: key, Tag: key}, Services: []ServiceKey{sv.key}, Dropped: true}
		s.mu.Unlock()
		s.emit([]Change{ch})
		return true
	}
	id, k, err := ParsePubKey(key)
	c := s.clients[id]
	if err != nil || c == nil || c.recs.get(k) == nil {
		s.mu.Unlock()
		return false
	}
	ch := Change{Record: RecordMeta{Key: key, Tag: TagOf(id)}, Dropped: true}
	if s.putPubLocked(c, k, nil) {
		ch.Services = []ServiceKey{k}
	}
	c.recs.del(k)
	if c.recs.len() == 0 {
		delete(s.clients, id)
	}
	s.mu.Unlock()
	s.emit([]Change{ch})
	return true
}

// Metas returns the metadata of every record (publications and services,
// tombstones included), sorted by key.
func (s *Store) Metas() []RecordMeta {
	s.mu.RLock()
	n := len(s.services)
	for _, c := range s.clients {
		n += c.recs.len()
	}
	out := make([]RecordMeta, 0, n)
	for _, c := range s.clients {
		for k := range c.recs.all {
			out = append(out, c.recMeta(k))
		}
	}
	for _, sv := range s.services {
		if !sv.metaVersion.IsZero() {
			out = append(out, sv.recordMeta())
		}
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}
