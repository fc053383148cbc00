package distro

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"time"

	"github.com/distrod/distrod/internal/hlc"
)

// entry is the core's index of one key: the metadata of the newest version
// it knows, plus precomputed hashes. The payload stays in Storage.
type entry struct {
	meta    Meta
	keyHash uint64
	bucket  uint32
	hash    uint64 // recordHash(keyHash, meta.Version)
	attrib  string // owner the live record is attributed to (digest it counts in)
}

// Node is the pure Distro state machine of one cluster member. It is not
// safe for concurrent use: one goroutine (the shell) calls all its methods
// and drains Outbox after each call.
type Node struct {
	cfg   Config
	self  string
	store Storage
	rng   *rand.Rand

	// Member view, normalised by SetMembers: sorted, deduplicated, self UP.
	members  []Member
	state    map[string]MemberState
	ring     []string // live (UP+SUSPICIOUS) addresses, sorted
	ringHash []uint64 // strHash of ring[i]

	// Index of everything Storage holds.
	idx         map[string]*entry
	buckets     []map[string]*entry          // all entries by digest bucket
	digests     map[string][]uint64          // attributed owner -> per-bucket sums (live only)
	conns       map[string]map[string]*entry // live connection records (Tag == "") by Owner
	tombs       map[string]time.Time         // tombstones: when each version was indexed here (TTL)
	total       uint64                       // sum of recordHash over live entries: Status().Digest
	live        int
	sortedKeys  []string // cache for snapshot serving; valid iff sortedOK
	sortedOK    bool
	peers       map[string]*peer
	peerAddrs   []string // sorted keys of peers
	seq         uint64
	downSince   map[string]time.Time
	settledAt   time.Time // since when every member is UP (zero: one is not)
	nextVerify  time.Time
	nextGC      time.Time
	loadStarted bool
	loadStart   time.Time
	ready       bool
	readyAt     time.Time
	owned       int       // live entries attributed to self
	now         time.Time // latest time passed in, for Status ages
	outbox      []Envelope
	c           counters
}

type counters struct {
	verifyRoundsSent     uint64
	verifyDigestsSkipped uint64
	verifyDigestsSent    uint64
	verifyDigestsRecv    uint64
	verifyBucketsDiffer  uint64
	verifyKeysRecv       uint64
	repairsPulled        uint64
	repairsPushed        uint64
	repairsDropped       uint64
	tombstonesCollected  uint64
	ownerCleanupDrops    uint64
	recordsApplied       uint64
	recordsStale         uint64
	recordsRefreshed     uint64
	unreachable          uint64
	syncBatchesRecv      uint64
	snapshotChunksServed uint64
}

// New returns a Node for cfg that reads and writes store and draws all its
// randomness (jitter, sequence and session numbers) from rng. The node is
// not ready until SetMembers started its snapshot load and the load ended.
func New(cfg Config, store Storage, rng *rand.Rand) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("distro: new node: %w", err)
	}
	if store == nil {
		return nil, ErrNilStorage
	}
	if rng == nil {
		return nil, ErrNilRand
	}
	n := &Node{
		cfg:       cfg,
		self:      cfg.Self,
		store:     store,
		rng:       rng,
		members:   []Member{{Addr: cfg.Self, State: StateUp}},
		state:     map[string]MemberState{cfg.Self: StateUp},
		ring:      []string{cfg.Self},
		ringHash:  []uint64{strHash(cfg.Self)},
		idx:       make(map[string]*entry),
		buckets:   make([]map[string]*entry, cfg.VerifyBuckets),
		digests:   make(map[string][]uint64),
		conns:     make(map[string]map[string]*entry),
		tombs:     make(map[string]time.Time),
		peers:     make(map[string]*peer),
		downSince: make(map[string]time.Time),
		seq:       rng.Uint64(),
	}
	for i := range n.buckets {
		n.buckets[i] = make(map[string]*entry)
	}
	return n, nil
}

// Config returns the node's configuration.
func (n *Node) Config() Config { return n.cfg }

// Outbox drains the messages produced since the last call, in the order they
// were produced (deterministic for a given input sequence and rng). The
// caller owns the slice; messages must be treated as read-only (a digest
// slice may be shared by several envelopes).
func (n *Node) Outbox() []Envelope {
	out := n.outbox
	n.outbox = nil
	return out
}

func (n *Node) send(to string, m Message) {
	n.outbox = append(n.outbox, Envelope{To: to, Msg: m})
}

// Ready reports whether the startup snapshot load finished: every peer that
// was a member before the load ended either streamed its whole snapshot,
// made no progress for Config.LoadTimeout, or is DOWN refusing connections
// (Member.Refused: nothing listens there); or Config.LoadMax passed since
// the load started (invariant I5).
func (n *Node) Ready() bool { return n.ready }

// Owner returns the owner of an ip:port tag: the member with the highest
// rendezvous score among the UP and SUSPICIOUS members of the current view.
// SUSPICIOUS members stay on the ring so a short hiccup does not move
// ownership back and forth; only DOWN (or removal) moves their keys. The
// node itself is always counted UP, so a standalone node owns every tag.
func (n *Node) Owner(tag string) string {
	return rendezvousOwner(n.ring, n.ringHash, tag)
}

// Owns reports whether this node is responsible for the record: for an
// IP-port client (Tag != "") when it is Owner(Tag), for a connection client
// when it wrote it (Owner == self).
func (n *Node) Owns(m Meta) bool { return n.attribute(m) == n.self }

func (n *Node) attribute(m Meta) string {
	if m.Tag == "" {
		return m.Owner
	}
	return n.Owner(m.Tag)
}

// SetMembers replaces the member view (it should include self; self is
// always treated as UP). It recomputes ownership, creates and removes peer
// state, and starts the snapshot load on its first call. Members that turn
// DOWN (or disappear) start their OwnerGrace clock; a member coming back
// from DOWN has its retry backoff reset and, if it was given up during the
// snapshot load, is loaded from again (a member given up as refusing
// connections is waited for again if the node is still loading). A DOWN
// member with Member.Refused is given up at once.
func (n *Node) SetMembers(now time.Time, members []Member) {
	n.now = now
	st := make(map[string]MemberState, len(members)+1)
	refused := make(map[string]bool)
	for _, m := range members {
		if m.Addr == "" {
			continue
		}
		s := m.State
		if s != StateUp && s != StateSuspicious {
			s = StateDown
		}
		st[m.Addr] = s
		refused[m.Addr] = s == StateDown && m.Refused
	}
	st[n.self] = StateUp
	addrs := sortedKeys(st)

	for _, a := range sortedKeys(n.state) {
		if _, ok := st[a]; !ok && a != n.self {
			if _, down := n.downSince[a]; !down {
				n.downSince[a] = now
			}
			delete(n.peers, a)
		}
	}
	view := make([]Member, 0, len(addrs))
	var ring []string
	for _, a := range addrs {
		s := st[a]
		view = append(view, Member{Addr: a, State: s})
		if s.live() {
			ring = append(ring, a)
		}
		if a == n.self {
			continue
		}
		p := n.peers[a]
		if p == nil {
			p = newPeer(a)
			n.peers[a] = p
			if n.loadStarted {
				n.startSnapshot(now, p)
			}
		}
		old := p.state
		p.state, p.refused = s, refused[a]
		if s == StateDown {
			if _, down := n.downSince[a]; !down {
				n.downSince[a] = now
			}
			continue
		}
		delete(n.downSince, a)
		if old == StateDown {
			p.failures = 0
			p.backoffUntil = time.Time{}
			// Loaded again: in the background once ready; and at once,
			// gating readiness, if it was given up only because nothing
			// listened there (something does now).
			if p.snap.givenUp() && n.ready || p.snap.state == snapRefused {
				n.startSnapshot(now, p)
			}
		}
	}
	n.members, n.state = view, st
	n.peerAddrs = sortedKeys(n.peers)
	allUp := true
	for _, m := range view {
		allUp = allUp && m.State == StateUp
	}
	switch {
	case !allUp:
		n.settledAt = time.Time{}
	case n.settledAt.IsZero():
		n.settledAt = now
	}
	if !slices.Equal(ring, n.ring) {
		n.ring = ring
		n.ringHash = make([]uint64, len(ring))
		for i, a := range ring {
			n.ringHash[i] = strHash(a)
		}
		n.reattribute()
	}
	if !n.loadStarted {
		n.loadStarted, n.loadStart = true, now
		for _, a := range n.peerAddrs {
			n.startSnapshot(now, n.peers[a])
		}
	}
	n.giveUpRefused()
	n.checkReady(now)
}

// reattribute moves every live tagged entry to the digest of its owner under
// the new ring. O(keys × ring size); runs only when the ring changes.
func (n *Node) reattribute() {
	for _, k := range n.sortedIndexKeys() {
		e := n.idx[k]
		if e.meta.Tombstone || e.meta.Tag == "" {
			continue
		}
		owner := n.Owner(e.meta.Tag)
		if owner == e.attrib {
			continue
		}
		n.digest(e.attrib)[e.bucket] -= e.hash
		n.countOwned(e.attrib, -1)
		e.attrib = owner
		n.digest(owner)[e.bucket] += e.hash
		n.countOwned(owner, 1)
	}
}

// Observe tells the core that Storage now holds meta for meta.Key: an owner
// write, or a record installed by Apply (also when the core itself applied
// it). It is idempotent: a version not newer than the indexed one is a
// no-op. If this node owns the key, or wrote this version itself (a write
// accepted while its view of the owner differed from the writer's), the
// key is queued for sync to every peer; a record a non-owner learned from
// a peer is never re-broadcast. The shell should also feed meta.Version to
// its hlc.Clock (Observe) so its next write is newer than anything it has
// seen.
func (n *Node) Observe(now time.Time, meta Meta) {
	n.now = now
	if n.indexMeta(now, meta) && (n.Owns(meta) || meta.Owner == n.self) {
		n.enqueueAll(now, meta.Key, "")
	}
}

// Refresh queues key for sync to every peer without a new version, when
// this node holds it live: the way to replicate data outside the record's
// identity that changed here (see Refresher), usually on the owner, also
// on a node that took writes while views disagreed on the owner. Peers
// apply it only at the version they hold, so it never moves a digest:
// steady-state verify cost stays independent of how often such data
// changes.
func (n *Node) Refresh(now time.Time, key string) {
	n.now = now
	if e := n.idx[key]; e != nil && !e.meta.Tombstone {
		n.enqueueAll(now, key, "")
	}
}

// applyRemote installs a record received from peer from, indexes it and, if
// this node owns it, forwards it to the other peers.
func (n *Node) applyRemote(now time.Time, from string, r Record) bool {
	if e := n.idx[r.Key]; e != nil && !r.Version.Newer(e.meta.Version) {
		if r.Version == e.meta.Version && !r.Tombstone {
			if rf, ok := n.store.(Refresher); ok {
				rf.Refresh(r)
				n.c.recordsRefreshed++
				return false
			}
		}
		n.c.recordsStale++
		return false
	}
	if !n.store.Apply(r) {
		n.c.recordsStale++
		return false
	}
	n.c.recordsApplied++
	m := r.Meta()
	if n.indexMeta(now, m) && n.Owns(m) {
		n.enqueueAll(now, r.Key, from)
	}
	return true
}

// indexMeta records m if it is newer than the indexed version.
func (n *Node) indexMeta(now time.Time, m Meta) bool {
	e := n.idx[m.Key]
	if e != nil {
		if !m.Version.Newer(e.meta.Version) {
			return false
		}
		n.removeContrib(e)
	} else {
		kh := strHash(m.Key)
		e = &entry{keyHash: kh, bucket: bucketOf(kh, n.cfg.VerifyBuckets)}
		n.idx[m.Key] = e
		n.buckets[e.bucket][m.Key] = e
		n.sortedOK = false
	}
	e.meta = m
	e.hash = recordHash(e.keyHash, m.Version)
	n.addContrib(now, e)
	return true
}

func (n *Node) digest(owner string) []uint64 {
	d := n.digests[owner]
	if d == nil {
		d = make([]uint64, n.cfg.VerifyBuckets)
		n.digests[owner] = d
	}
	return d
}

func (n *Node) countOwned(attrib string, d int) {
	if attrib == n.self {
		n.owned += d
	}
}

func (n *Node) addContrib(now time.Time, e *entry) {
	if e.meta.Tombstone {
		n.tombs[e.meta.Key] = now
		return
	}
	e.attrib = n.attribute(e.meta)
	n.countOwned(e.attrib, 1)
	n.digest(e.attrib)[e.bucket] += e.hash
	n.total += e.hash
	n.live++
	if e.meta.Tag == "" {
		set := n.conns[e.meta.Owner]
		if set == nil {
			set = make(map[string]*entry)
			n.conns[e.meta.Owner] = set
		}
		set[e.meta.Key] = e
	}
}

func (n *Node) removeContrib(e *entry) {
	if e.meta.Tombstone {
		delete(n.tombs, e.meta.Key)
		return
	}
	n.digests[e.attrib][e.bucket] -= e.hash
	n.countOwned(e.attrib, -1)
	n.total -= e.hash
	n.live--
	if e.meta.Tag == "" {
		if set := n.conns[e.meta.Owner]; set != nil {
			delete(set, e.meta.Key)
			if len(set) == 0 {
				delete(n.conns, e.meta.Owner)
			}
		}
	}
	e.attrib = ""
}

// dropLocal removes the local copy of key if Storage still holds the indexed
// version (a newer, not yet observed version is left alone).
func (n *Node) dropLocal(key string) bool {
	e := n.idx[key]
	if e == nil {
		return false
	}
	if r, ok := n.store.Get(key); ok && (r.Version != e.meta.Version || r.Tombstone != e.meta.Tombstone) {
		return false
	}
	n.store.Drop(key)
	n.removeContrib(e)
	delete(n.idx, key)
	delete(n.buckets[e.bucket], key)
	n.sortedOK = false
	return true
}

func (n *Node) sortedIndexKeys() []string {
	if !n.sortedOK {
		n.sortedKeys = n.sortedKeys[:0]
		for k := range n.idx { // order-independent: sorted below
			n.sortedKeys = append(n.sortedKeys, k)
		}
		sort.Strings(n.sortedKeys)
		n.sortedOK = true
	}
	return n.sortedKeys
}

// Step handles one message from peer from. Unknown message types are
// ignored.
func (n *Node) Step(now time.Time, from string, msg Message) {
	n.now = now
	if p := n.peers[from]; p != nil && p.snap.givenUp() && n.ready {
		// A peer we gave up on during the load is reachable again: load
		// what it holds in the background before verifying against it.
		n.startSnapshot(now, p)
	}
	switch m := msg.(type) {
	case *SyncBatch:
		n.c.syncBatchesRecv++
		for _, r := range m.Records {
			n.applyRemote(now, from, r)
		}
		n.send(from, &SyncAck{Seq: m.Seq})
	case *SyncAck:
		if p := n.peers[from]; p != nil {
			n.onAck(now, p, m.Seq)
		}
	case *VerifyDigest:
		n.onVerifyDigest(from, m)
	case *VerifyRequest:
		n.onVerifyRequest(from, m)
	case *VerifyKeys:
		n.onVerifyKeys(now, from, m)
	case *PullRequest:
		n.sendRecords(from, m.Keys)
	case *Records:
		for _, r := range m.Records {
			if n.applyRemote(now, from, r) {
				n.c.repairsPulled++
			}
		}
	case *SnapshotRequest:
		n.serveSnapshot(from, m)
	case *SnapshotChunk:
		n.onSnapshotChunk(now, from, m)
	}
	n.checkReady(now)
}

// Unreachable reports that the transport could not deliver msg to to. A
// failed SyncBatch is retried with exponential backoff; a failed snapshot
// request is re-sent after RetryBackoffBase; verify traffic is simply
// repeated next round.
func (n *Node) Unreachable(now time.Time, to string, msg Message) {
	n.now = now
	n.c.unreachable++
	p := n.peers[to]
	if p == nil {
		return
	}
	switch m := msg.(type) {
	case *SyncBatch:
		n.failBatch(now, p, m.Seq)
	case *SnapshotRequest:
		if p.snap.state == snapLoading && p.snap.session == m.Session && p.snap.cursor == m.After {
			p.snap.sentAt = time.Time{}
			p.snap.retryAt = now.Add(n.cfg.RetryBackoffBase)
		}
	}
}

// Tick advances the node's timers to now: snapshot request timeouts and
// load gating, sync timeouts and flushes, the verify round, tombstone GC and
// dead-owner cleanup. Call it every few milliseconds (at most SyncDelay
// apart for the merge window to hold); calling it more often is harmless.
func (n *Node) Tick(now time.Time) {
	n.now = now
	if !n.loadStarted {
		return
	}
	n.tickSnapshot(now)
	n.checkReady(now)
	n.tickSync(now)
	if n.ready && !now.Before(n.nextVerify) {
		n.verifyRound()
		n.nextVerify = now.Add(n.cfg.VerifyInterval)
	}
	if !now.Before(n.nextGC) {
		n.collectTombstones(now)
		n.nextGC = now.Add(n.cfg.VerifyInterval)
	}
	n.cleanupDeadOwners(now)
}

// collectTombstones drops tombstones older than TombstoneTTL that no peer
// queue still has to deliver, once every member has been UP for
// TombstoneTTL: a member cut off may hold an older live copy (or derive
// changes from one), and only the tombstone keeps it from coming back when
// the partition heals. A member that stays DOWN keeps tombstones until it
// returns or leaves the member list.
func (n *Node) collectTombstones(now time.Time) {
	if n.settledAt.IsZero() || now.Sub(n.settledAt) < n.cfg.TombstoneTTL {
		return
	}
	for _, k := range sortedKeys(n.tombs) {
		if now.Sub(n.tombs[k]) < n.cfg.TombstoneTTL || n.pendingAnywhere(k) {
			continue
		}
		if n.dropLocal(k) {
			n.c.tombstonesCollected++
		}
	}
}

// cleanupDeadOwners drops the live connection records of members DOWN (or
// removed) for at least OwnerGrace. It runs on every Tick so that copies
// re-learned from other peers during the outage go away too.
func (n *Node) cleanupDeadOwners(now time.Time) {
	due := false
	for a, since := range n.downSince { // order-independent: existence check
		if len(n.conns[a]) > 0 && now.Sub(since) >= n.cfg.OwnerGrace {
			due = true
			break
		}
	}
	if !due {
		return
	}
	for _, a := range sortedKeys(n.downSince) {
		if now.Sub(n.downSince[a]) < n.cfg.OwnerGrace || len(n.conns[a]) == 0 {
			continue
		}
		for _, k := range sortedKeys(n.conns[a]) {
			if n.dropLocal(k) {
				n.c.ownerCleanupDrops++
			}
		}
	}
}

// Version returns the indexed version of key and whether the key (live or
// tombstone) is known.
func (n *Node) Version(key string) (hlc.Version, bool) {
	e := n.idx[key]
	if e == nil {
		return hlc.Version{}, false
	}
	return e.meta.Version, true
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m { // order-independent: sorted below
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
