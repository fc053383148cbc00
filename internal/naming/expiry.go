package naming

import (
	"container/heap"
	"math"
	"sort"
	"sync"
)

// The expiry index keeps ExpireDue's work proportional to what needs
// attention rather than to the number of IP-port clients.
//
// Every IP-port client with live publications that may need ExpireCheck's
// attention at some time is armed at the earliest such time (client.dueAt):
// the moment an instance's beat timeout or delete timeout passes (the
// delete timeout doubled while isolated, health flips not before the end of
// the takeover grace, nothing before the end of a rejoin hold). A client
// whose beats must be passed on (passBeatsLocked would act) is armed at
// once. Arming is conservative: a client visited before anything is due is
// only armed again, never changed, so visiting a client early is always
// harmless; the index's one duty is never to arm a client later than the
// first check that would act on it.
//
// Times only move later by themselves: a beat pushes the deadlines back,
// so the entry already armed stays valid (it fires early, and the client is
// re-armed at its new deadline without a visit). Everything that may bring
// attention forward marks the client touched, which makes the next check
// visit it: every new version or content (writeLocked, putPubLocked), a
// record applied from a peer, a beat that makes this node act as owner
// (takeOwnership) or leaves beats to pass on. What no client write changes
// (the owns function, the expiry defaults, the hold, the contested episode,
// the flaws) makes the next check a full pass over every client, as
// ExpireCheck always is.
//
// The index is a binary min-heap of (time, id) entries with lazy deletion:
// an entry is valid while the client's dueAt still equals its time.

const (
	// notArmed: the client needs no attention until it is touched.
	notArmed int64 = math.MaxInt64
	// dueTouched: the client is in the touched list, visited at the next
	// check.
	dueTouched int64 = math.MinInt64
)

type dueEntry struct {
	at int64
	id string
}

// expiryIndex is the Store's schedule of IP-port clients for ExpireDue
// (guarded by Store.mu).
type expiryIndex struct {
	// passMu serializes checks (a check releases mu between chunks).
	passMu  sync.Mutex
	heap    dueHeap
	touched []string
	// full makes the next ExpireDue visit every client (initially, and
	// after OwnersChanged or a change of the expiry settings).
	full bool
	// inPass suppresses touches while a check visits clients (it arms
	// each visited client itself afterwards).
	inPass bool
	// stopwatch, if set, measures passes (monotonic nanoseconds); observe,
	// if set, is told about each pass after the lock is released.
	stopwatch func() int64
	observe   func(ExpiryPass)
	stats     ExpiryStats
}

// ExpiryPass describes one expiry check (see SetExpiryObserver).
type ExpiryPass struct {
	// Full: the check judged every IP-port client (ExpireCheck, or
	// ExpireDue after OwnersChanged or a change of the expiry settings).
	Full bool
	// Visited is the number of clients judged, Rearmed those whose armed
	// time came but had moved later, Changes the changes emitted.
	Visited, Rearmed, Changes int
	// Nanos is how long the check held the store's lock in all;
	// LongestHoldNanos the longest single hold (it releases the lock every
	// expiryChunk clients).
	Nanos, LongestHoldNanos int64
}

// ExpiryStats counts the work of heartbeat expiry checks since the store
// was made.
type ExpiryStats struct {
	// Passes counts ExpireCheck and ExpireDue calls; FullPasses those that
	// visited every IP-port client.
	Passes, FullPasses uint64
	// Visited counts clients visited (their publications judged); Rearmed
	// counts clients whose armed time came but had moved later (a beat
	// arrived) and were only armed again.
	Visited, Rearmed uint64
	// Changes counts the changes the checks emitted (health flips,
	// removals, beat refreshes and records).
	Changes uint64
	// Nanos is the total time spent holding the store's lock in checks,
	// LastNanos that of the latest check (zero without a stopwatch, see
	// SetExpiryObserver), LastVisited the clients it visited.
	Nanos, LastNanos int64
	LastVisited      int
	// Scheduled is the number of entries in the schedule now (stale
	// entries included); Touched the clients waiting for the next check.
	Scheduled, Touched int
}

// SetExpiryObserver sets a monotonic clock in nanoseconds that expiry
// checks use to measure how long they hold the store's lock (ExpiryStats,
// ExpiryPass) and, if observe is not nil, a function told about every
// check once the lock is released (metrics). The clock only measures:
// expiry decisions use the time the caller passes in. Call before use.
func (s *Store) SetExpiryObserver(stopwatch func() int64, observe func(ExpiryPass)) {
	s.mu.Lock()
	s.exp.stopwatch, s.exp.observe = stopwatch, observe
	s.mu.Unlock()
}

// ExpiryStats returns the work counters of expiry checks.
func (s *Store) ExpiryStats() ExpiryStats {
	s.mu.RLock()
	st := s.exp.stats
	st.Scheduled, st.Touched = len(s.exp.heap), len(s.exp.touched)
	s.mu.RUnlock()
	return st
}

// OwnersChanged tells the store that the owns function given to ExpireDue
// may answer differently than at the previous check (a new member view, a
// node that became ready): the next ExpireDue visits every client.
func (s *Store) OwnersChanged() {
	s.mu.Lock()
	s.exp.full = true
	s.mu.Unlock()
}

// expiryChunk is how many clients a check judges (or, while it looks for
// the due ones, how many schedule entries it takes) per hold of the
// store's write lock: between two holds, writes and reads go on, so a
// check of many clients never stalls them for long.
const expiryChunk = 1024

// ExpireDue is ExpireCheck for a caller whose owns function answers the
// same from one check to the next until the caller says otherwise with
// OwnersChanged. It has exactly ExpireCheck's effects and emits the same
// changes in the same order (by client id), but judges only the clients
// whose next deadline has come or that changed since the previous check,
// not every IP-port client. It returns the number of changes.
func (s *Store) ExpireDue(now int64, owns func(tag string) bool) int {
	s.exp.passMu.Lock()
	defer s.exp.passMu.Unlock()
	s.mu.Lock()
	if s.exp.full {
		return s.expirePassLocked(now, owns, nil)
	}
	h := s.startPassLocked()
	var ids []string
	for _, id := range s.exp.touched {
		if c := s.clients[id]; c != nil && c.dueAt == dueTouched {
			c.dueAt = notArmed
			// ExpireCheck judges only clients with live publications.
			if c.services.len() > 0 {
				ids = append(ids, id)
			}
		}
	}
	clear(s.exp.touched)
	s.exp.touched = s.exp.touched[:0]
	taken := 0
	for len(s.exp.heap) > 0 && s.exp.heap[0].at <= now {
		if taken++; taken%expiryChunk == 0 {
			// Only checks push entries: the schedule stays as it is.
			s.yieldLocked(&h)
		}
		e := s.popDue()
		c := s.clients[e.id]
		if c == nil || c.dueAt != e.at {
			continue // stale: re-armed, touched or gone
		}
		c.dueAt = notArmed
		if t := s.nextDueLocked(c, now); t > now {
			// Its deadline moved (a beat arrived): nothing to do yet.
			s.armLocked(c, t)
			h.rearmed++
			continue
		}
		ids = append(ids, e.id)
	}
	if n := len(s.clients); len(s.exp.heap) > 2*n+1024 {
		s.rebuildHeapLocked()
	}
	h.ids = ids
	return s.expirePassLocked(now, owns, &h)
}

// passOf is a check in progress: the clients to judge, and the time the
// check has held the lock (see yieldLocked).
type passOf struct {
	ids     []string
	rearmed int
	// held is when the current hold began; locked sums the holds, longest
	// is the longest one (stopwatch nanoseconds, 0 without a stopwatch).
	held, locked, longest int64
}

func (s *Store) startPassLocked() passOf {
	s.exp.inPass = true
	return passOf{held: s.stopwatchLocked()}
}

func (s *Store) stopwatchLocked() int64 {
	if s.exp.stopwatch != nil {
		return s.exp.stopwatch()
	}
	return 0
}

// endHoldLocked accounts for the hold of the lock that ends now.
func (s *Store) endHoldLocked(h *passOf) {
	d := s.stopwatchLocked() - h.held
	h.locked += d
	h.longest = max(h.longest, d)
}

// yieldLocked lets writers and readers in for a moment during a check.
// Clients they touch meanwhile are judged by this check if it has not
// come to them yet, else by the next: as if their writes had come just
// before or just after the check.
func (s *Store) yieldLocked(h *passOf) {
	s.endHoldLocked(h)
	s.exp.inPass = false
	s.mu.Unlock()
	s.mu.Lock()
	s.exp.inPass = true
	h.held = s.stopwatchLocked()
}

// expirePassLocked judges the clients of due (every IP-port client with
// live publications when due is nil: a full pass) in order of id, in
// chunks of expiryChunk per hold of the lock, arms each judged client
// again, and emits each chunk's changes after its hold. It is called with
// the lock held and returns with it released.
func (s *Store) expirePassLocked(now int64, owns func(tag string) bool, due *passOf) int {
	full := due == nil
	if full {
		h := s.startPassLocked()
		due = &h
		ids := make([]string, 0, 64)
		for id, c := range s.clients {
			c.dueAt = notArmed
			if c.kind == KindIPPort && c.services.len() > 0 {
				ids = append(ids, id)
			}
		}
		clear(s.exp.touched)
		s.exp.touched = s.exp.touched[:0]
		clear(s.exp.heap)
		s.exp.heap = s.exp.heap[:0]
		s.exp.full = false
		due.ids = ids
	}
	// Sort outside the lock.
	s.endHoldLocked(due)
	s.exp.inPass = false
	s.mu.Unlock()
	sort.Strings(due.ids)
	s.mu.Lock()
	s.exp.inPass = true
	due.held = s.stopwatchLocked()
	var chs []Change
	total, judged := 0, 0
	for i, id := range due.ids {
		if i > 0 && i%expiryChunk == 0 {
			s.endHoldLocked(due)
			s.exp.inPass = false
			s.mu.Unlock()
			s.emit(chs)
			total += len(chs)
			chs = nil
			s.mu.Lock()
			s.exp.inPass = true
			due.held = s.stopwatchLocked()
		}
		c := s.clients[id]
		if c == nil || c.services.len() == 0 {
			// Gone, or published nothing any more, while the lock was
			// released: ExpireCheck would not judge it either.
			continue
		}
		chs = s.expireClientLocked(now, c, owns, chs)
		s.armLocked(c, s.nextDueLocked(c, now))
		judged++
	}
	s.exp.inPass = false
	s.endHoldLocked(due)
	total += len(chs)
	st := &s.exp.stats
	st.Passes++
	if full {
		st.FullPasses++
	}
	st.Visited += uint64(judged)
	st.Rearmed += uint64(due.rearmed)
	st.Changes += uint64(total)
	st.LastVisited = judged
	st.Nanos += due.locked
	st.LastNanos = due.locked
	pass := ExpiryPass{Full: full, Visited: judged, Rearmed: due.rearmed, Changes: total, Nanos: due.locked, LongestHoldNanos: due.longest}
	observe := s.exp.observe
	s.mu.Unlock()
	if observe != nil {
		observe(pass)
	}
	s.emit(chs)
	return total
}

// touchLocked makes the next check visit c: something changed that may
// bring its attention forward.
func (s *Store) touchLocked(c *client) {
	if c.kind != KindIPPort || s.exp.inPass || c.dueAt == dueTouched {
		return
	}
	c.dueAt = dueTouched
	s.exp.touched = append(s.exp.touched, c.id)
}

// armLocked schedules c at exactly at (notArmed: not at all), making any
// other entry of c stale.
func (s *Store) armLocked(c *client, at int64) {
	if c.dueAt == at {
		return
	}
	c.dueAt = at
	if at == notArmed || at == dueTouched {
		return
	}
	s.pushDue(dueEntry{at: at, id: c.id})
}

// nextDueLocked is the earliest time from now on at which ExpireCheck
// could change c or emit a change for it, given the state the store holds
// and with ownership as c.owned says (notArmed if never without a touch).
// It errs early, never late.
func (s *Store) nextDueLocked(c *client, now int64) int64 {
	if c.kind != KindIPPort || c.services.len() == 0 {
		return notArmed
	}
	t := notArmed
	for k, p := range c.services.all {
		if s.beatsToPass(p, c.recs.get(k), false) {
			return now
		}
		if !c.owned {
			continue
		}
		for i := range p.Instances {
			in := &p.Instances[i]
			e, ok := s.instanceDue(c, in)
			if !ok {
				return now
			}
			t = min(t, max(e, s.holdUntil))
		}
	}
	return t
}

// instanceDue is the earliest time at which expireLocked would flip or
// remove in for owner c (ignoring the rejoin hold); ok is false for
// settings whose arithmetic the index does not trust (then the caller
// visits at once).
func (s *Store) instanceDue(c *client, in *Instance) (int64, bool) {
	del := in.metaMs(MetaDeleteTimeout, s.deleteMs)
	if s.isolated {
		del *= 2
	}
	if del < 0 {
		return 0, false
	}
	// Removed once now-LastBeat > del.
	e := afterMs(in.LastBeat, del)
	if !in.Healthy {
		return e, true
	}
	bt, grace := in.metaMs(MetaBeatTimeout, s.unhealthyMs), takeoverGrace(in)
	if bt < 0 || grace < 0 {
		return 0, false
	}
	// Flipped once now-LastBeat > bt and now-ownedSince >= grace.
	flip := max(afterMs(in.LastBeat, bt), afterMs(c.ownedSince, grace-1))
	return min(e, flip), true
}

// afterMs is the first time t with t-base > d (d >= 0), notArmed when it
// lies beyond the int64 range.
func afterMs(base, d int64) int64 {
	if base > notArmed-1-d {
		return notArmed
	}
	return base + d + 1
}

// beatsToPassLocked reports whether passBeatsLocked(c, k, contestedOnly)
// would act now.
func (s *Store) beatsToPassLocked(c *client, k ServiceKey, contestedOnly bool) bool {
	return s.beatsToPass(c.services.get(k), c.recs.get(k), contestedOnly)
}

// beatsToPass is beatsToPassLocked for publication p with record m.
func (s *Store) beatsToPass(p *Publication, m *pubMeta, contestedOnly bool) bool {
	beat, since := p.newestBeat(), s.contestedSince
	reflected := m.version.ReflectedBeat()
	return since > 0 && beat > reflected && reflected < since && m.version.Millis() < since ||
		!contestedOnly && beat-m.beatSent >= refreshOf(p, s.unhealthyMs)
}

// expiryChangedLocked notes a change of an expiry setting: the next check
// judges every client.
func (s *Store) expiryChangedLocked() { s.exp.full = true }

func (s *Store) pushDue(e dueEntry) { heap.Push(&s.exp.heap, e) }

func (s *Store) popDue() dueEntry { return heap.Pop(&s.exp.heap).(dueEntry) }

// dueHeap orders entries by time, then id (container/heap).
type dueHeap []dueEntry

func (h dueHeap) Len() int { return len(h) }
func (h dueHeap) Less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].id < h[j].id
}
func (h dueHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *dueHeap) Push(x any)   { *h = append(*h, x.(dueEntry)) }
func (h *dueHeap) Pop() any {
	old := *h
	n := len(old) - 1
	e := old[n]
	old[n] = dueEntry{}
	*h = old[:n]
	return e
}

// rebuildHeapLocked drops the stale entries: one entry per armed client.
func (s *Store) rebuildHeapLocked() {
	h := s.exp.heap[:0]
	for id, c := range s.clients {
		if c.dueAt != notArmed && c.dueAt != dueTouched {
			h = append(h, dueEntry{at: c.dueAt, id: id})
		}
	}
	clear(s.exp.heap[len(h):])
	s.exp.heap = h
	heap.Init(&s.exp.heap)
}

// takeOwnershipLocked is c.takeOwnership, touching c when this node begins
// to act as its owner (the next check judges it by the member view).
func (s *Store) takeOwnershipLocked(c *client, now int64) {
	if !c.owned {
		s.touchLocked(c)
	}
	c.takeOwnership(now)
}

// expiresLocked reports whether expireLocked(now, c, k, _, flips) would
// change p (the rejoin hold aside): an instance past its delete timeout,
// or, with flips, a healthy one past its beat timeout and the takeover
// grace. It spares the check a copy of every publication it judges.
func (s *Store) expiresLocked(now int64, c *client, p *Publication, flips bool) bool {
	for i := range p.Instances {
		in := &p.Instances[i]
		idle := now - in.LastBeat
		del := in.metaMs(MetaDeleteTimeout, s.deleteMs)
		if s.isolated {
			del *= 2
		}
		if idle > del {
			return true
		}
		if flips && in.Healthy && idle > in.metaMs(MetaBeatTimeout, s.unhealthyMs) && now-c.ownedSince >= takeoverGrace(in) {
			return true
		}
	}
	return false
}

// InstanceMeta returns the value of metadata key of the instance ip:port
// that clientID publishes for service k, as readers see it (overlay
// applied), and whether that instance exists. It answers a heartbeat
// without FindInstance's walk over every publisher of the service.
func (s *Store) InstanceMeta(clientID string, k ServiceKey, ip string, port int, key string) (string, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c := s.clients[clientID]
	if c == nil {
		return "", false
	}
	p := c.services.get(k)
	if p == nil {
		return "", false
	}
	for i := range p.Instances {
		in := &p.Instances[i]
		if in.IP != ip || in.Port != port {
			continue
		}
		if ov := s.overlayFor(k); ov != nil {
			out := in.Clone()
			ov(&out)
			return out.Metadata[key], true
		}
		return in.Metadata[key], true
	}
	return "", false
}
