package distro

import (
	"sort"
	"time"
)

// pend is one key queued for one peer. The record itself is read from
// Storage when the batch is built, so a queued key always ships its latest
// state, and rapid changes to one key merge into one entry.
type pend struct {
	since    time.Time // first queued (for the oldest-pending-age metric)
	inflight uint64    // Seq of the batch carrying it, 0 if unsent
	dirty    bool      // changed again while in flight: resend after the ack
	attempts int       // failed sends so far
}

type batch struct {
	seq    uint64
	sentAt time.Time
	keys   []string
}

type snapState uint8

const (
	snapIdle snapState = iota
	snapLoading
	snapDone
	snapGaveUp  // no progress for LoadTimeout
	snapRefused // the member is DOWN and refused connections
)

func (s snapState) String() string {
	switch s {
	case snapLoading:
		return "loading"
	case snapDone:
		return "done"
	case snapGaveUp:
		return "gave-up"
	case snapRefused:
		return "refused"
	}
	return "idle"
}

// snapPeer is the snapshot load from one peer.
type snapPeer struct {
	state        snapState
	gating       bool // started before Ready: Ready waits for it
	overdue      bool // LoadMax made the node ready while this load ran
	session      uint64
	cursor       string
	sentAt       time.Time // request outstanding since; zero if none
	retryAt      time.Time // resend at; zero if none scheduled
	lastProgress time.Time
	records      uint64
	chunks       uint64
}

// givenUp reports whether the load from this peer was abandoned (it is
// loaded again, in the background, once the peer is heard from or back UP).
func (s *snapPeer) givenUp() bool { return s.state == snapGaveUp || s.state == snapRefused }

// peer is everything the node keeps about one other member.
type peer struct {
	addr    string
	state   MemberState
	refused bool // DOWN and refusing connections (Member.Refused)

	pending      map[string]*pend
	anchor       time.Time // merge-window start of the unsent entries; zero if none unsent
	inflight     map[uint64]*batch
	failures     int // consecutive failed batches
	backoffUntil time.Time

	batchesSent   uint64
	recordsSent   uint64
	batchesAcked  uint64
	batchesFailed uint64
	retries       uint64 // keys re-queued after a failure
	verifySent    uint64
	verifyRecv    uint64
	// verifySkipped counts the verify rounds skipped in a row for this
	// peer while records were queued for it (see verifyRound).
	verifySkipped int

	snap snapPeer
}

func newPeer(addr string) *peer {
	return &peer{addr: addr, pending: make(map[string]*pend), inflight: make(map[uint64]*batch)}
}

func (p *peer) markUnsent(now time.Time) {
	if p.anchor.IsZero() {
		p.anchor = now
	}
}

// enqueue queues key for p, merging with an entry already queued.
func (p *peer) enqueue(now time.Time, key string) {
	e := p.pending[key]
	switch {
	case e == nil:
		p.pending[key] = &pend{since: now}
		p.markUnsent(now)
	case e.inflight != 0:
		e.dirty = true
	}
}

func (n *Node) enqueueAll(now time.Time, key, except string) {
	for a, p := range n.peers { // order-independent: only map inserts
		if a != except {
			p.enqueue(now, key)
		}
	}
}

func (n *Node) pendingAnywhere(key string) bool {
	for _, p := range n.peers { // order-independent: read only
		if _, ok := p.pending[key]; ok {
			return true
		}
	}
	return false
}

func (n *Node) nextSeq() uint64 {
	n.seq++
	if n.seq == 0 {
		n.seq++
	}
	return n.seq
}

// tickSync expires unacknowledged batches and flushes due queues.
func (n *Node) tickSync(now time.Time) {
	for _, a := range n.peerAddrs {
		p := n.peers[a]
		if len(p.inflight) > 0 {
			seqs := make([]uint64, 0, len(p.inflight))
			for s, b := range p.inflight { // order-independent: sorted below
				if now.Sub(b.sentAt) >= n.cfg.SyncTimeout {
					seqs = append(seqs, s)
				}
			}
			sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
			for _, s := range seqs {
				n.failBatch(now, p, s)
			}
		}
		if p.state == StateDown || p.anchor.IsZero() || len(p.inflight) >= n.cfg.SyncMaxInflight ||
			now.Before(p.anchor.Add(n.cfg.SyncDelay)) || now.Before(p.backoffUntil) {
			continue
		}
		n.flush(now, p)
	}
}

// flush sends the unsent keys of p in batches bounded by record count and
// bytes, up to SyncMaxInflight batches in flight.
func (n *Node) flush(now time.Time, p *peer) {
	keys := make([]string, 0, len(p.pending))
	for k, e := range p.pending { // order-independent: sorted below
		if e.inflight == 0 {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	i := 0
	for i < len(keys) && len(p.inflight) < n.cfg.SyncMaxInflight {
		seq := n.nextSeq()
		var recs []Record
		var bk []string
		size := 0
		for ; i < len(keys) && len(recs) < n.cfg.SyncBatchMaxRecords; i++ {
			k := keys[i]
			r, ok := n.store.Get(k)
			if !ok {
				delete(p.pending, k) // gone (dropped): nothing left to sync
				continue
			}
			sz := len(k) + len(r.Data)
			if len(recs) > 0 && size+sz > n.cfg.SyncBatchMaxBytes {
				break
			}
			size += sz
			recs = append(recs, r)
			bk = append(bk, k)
			p.pending[k].inflight = seq
		}
		if len(recs) == 0 {
			continue
		}
		p.inflight[seq] = &batch{seq: seq, sentAt: now, keys: bk}
		p.batchesSent++
		p.recordsSent += uint64(len(recs))
		n.send(p.addr, &SyncBatch{Seq: seq, Records: recs})
	}
	if i >= len(keys) {
		p.anchor = time.Time{}
	}
}

func (n *Node) onAck(now time.Time, p *peer, seq uint64) {
	b := p.inflight[seq]
	if b == nil {
		return // duplicate or stale ack
	}
	delete(p.inflight, seq)
	p.batchesAcked++
	for _, k := range b.keys {
		e := p.pending[k]
		if e == nil || e.inflight != seq {
			continue
		}
		if e.dirty {
			e.inflight, e.dirty = 0, false
			p.markUnsent(now)
			continue
		}
		delete(p.pending, k)
	}
	p.failures = 0
	p.backoffUntil = time.Time{}
}

// failBatch returns the keys of batch seq to the queue and backs off
// exponentially (with jitter) before the next send to p.
func (n *Node) failBatch(now time.Time, p *peer, seq uint64) {
	b := p.inflight[seq]
	if b == nil {
		return
	}
	delete(p.inflight, seq)
	p.batchesFailed++
	for _, k := range b.keys {
		e := p.pending[k]
		if e == nil || e.inflight != seq {
			continue
		}
		e.inflight, e.dirty = 0, false
		e.attempts++
		p.retries++
		p.markUnsent(now)
	}
	p.failures++
	d := n.cfg.RetryBackoffBase
	for i := 1; i < p.failures && d < n.cfg.RetryBackoffMax; i++ {
		d *= 2
	}
	d = min(d, n.cfg.RetryBackoffMax)
	// Jitter in [d/2, d] spreads retries of many nodes after a common fault.
	d = d/2 + time.Duration(n.rng.Int64N(int64(d/2)+1))
	p.backoffUntil = now.Add(d)
}
