package sim

import (
	"sort"
	"time"

	"github.com/distrod/distrod/internal/hlc"
	"github.com/distrod/distrod/internal/naming"
	"github.com/distrod/distrod/internal/replica"
)

// opKind is an HTTP client's write.
type opKind uint8

const (
	opRegister opKind = iota
	opBeat
	opDeregister
)

func (o opKind) String() string { return [...]string{"register", "beat", "deregister"}[o] }

// Answer codes an HTTP client can get.
const (
	codeOK       = 200
	codeNotFound = 20404 // a beat for an instance the owner does not know
	codeRefused  = 410   // the owner refused a write past its deadline
	codeFailed   = 502   // the entry node could not reach the owner
	codeTimeout  = 504   // the entry node's forward timeout
)

// request is one HTTP write of a client: sent to a random live node (the
// entry), which executes it if it owns the tag by its ring, or forwards it
// to the owner with the absolute deadline entry clock + ForwardTimeout.
type request struct {
	n          uint64
	h          *httpClient
	op         opKind
	sent       time.Time
	entry      *simNode
	entryInc   int
	deadlineMs int64
	// answered: the client got its answer, or gave up (ClientTimeout).
	answered bool
	// unknown: a deregistration found no instance at the node that
	// executed it.
	unknown bool
	// by, byInc and tomb: the node incarnation that executed a
	// deregistration and the tombstone it wrote.
	by    *simNode
	byInc int
	tomb  hlc.Version
}

// hop is a forwarded request, or the owner's answer, in flight between two
// nodes over a TCP connection: if the link is cut it is not lost but held
// (the kernel retransmits) and delivered once the link heals, however late;
// it dies only with either end's process.
type hop struct {
	at             time.Time
	seq            uint64
	from, to       *simNode
	fromInc, toInc int
	req            *request
	answer         bool
	code           int
	records        []naming.Record
}

// send issues a request of h now.
func (c *Cluster) send(h *httpClient, op opKind) {
	c.reqs++
	r := &request{n: c.reqs, h: h, op: op, sent: c.now}
	h.inflight = r
	switch op {
	case opRegister:
		h.lastReg, h.lastLive = c.now, c.now
		h.gone(time.Time{})
		c.res.Registers++
	case opBeat:
		h.lastLive = c.now
		c.res.Beats++
	case opDeregister:
		c.res.Deregisters++
	}
	c.schedule(c.opt.ClientTimeout, func() {
		if !r.answered {
			r.answered = true
			c.res.ClientTimeouts++
			c.event("timeout", "%s %s #%d gave up", h.id, op, r.n)
			c.onAnswer(r, codeTimeout)
		}
	})
	up := c.upNodes()
	if len(up) == 0 {
		c.res.ForwardFailures++
		r.answered = true
		c.onAnswer(r, codeFailed)
		return
	}
	e := h.entry
	if !h.sticky || e == nil || !e.up {
		e = up[c.rng.IntN(len(up))]
		h.entry = e
	}
	r.entry, r.entryInc = e, e.inc
	owner := e.sh.Owner(TagOf(h))
	c.event("request", "%s %s #%d via %s (owner %s)", h.id, op, r.n, e.addr, owner)
	r.deadlineMs = e.t(c.now).Add(c.opt.ForwardTimeout).UnixMilli()
	if owner == e.addr || owner == "" {
		code, _ := c.execute(e, r)
		r.answered = true
		c.onAnswer(r, code)
		return
	}
	o := c.byAddr[owner]
	if !o.up {
		// Nothing listens at the owner's port: refused at once.
		c.res.ForwardFailures++
		r.answered = true
		c.onAnswer(r, codeFailed)
		return
	}
	c.push(&hop{from: e, to: o, fromInc: e.inc, toInc: o.inc, req: r})
	c.schedule(c.opt.ForwardTimeout, func() {
		if !r.answered && e.up && e.inc == r.entryInc {
			r.answered = true
			c.res.ForwardFailures++
			c.onAnswer(r, codeTimeout)
		}
	})
}

func (c *Cluster) push(hp *hop) {
	c.hopSeq++
	hp.seq = c.hopSeq
	hp.at = c.now.Add(c.opt.Faults.MinDelay + time.Duration(c.rng.Int64N(int64(c.opt.Faults.MaxDelay-c.opt.Faults.MinDelay)+1)))
	c.hops = append(c.hops, hp)
}

// deliverHops delivers the hops due whose link works, holds those whose
// link is cut, and drops those whose sender or receiver process died.
func (c *Cluster) deliverHops() {
	var due, keep []*hop
	for _, hp := range c.hops {
		switch {
		case !hp.from.up || hp.from.inc != hp.fromInc || !hp.to.up || hp.to.inc != hp.toInc:
			// connection reset
		case hp.at.After(c.now) || !c.net.Reachable(hp.from.addr, hp.to.addr):
			keep = append(keep, hp)
		default:
			due = append(due, hp)
		}
	}
	c.hops = keep
	sort.Slice(due, func(i, j int) bool { return due[i].seq < due[j].seq })
	for _, hp := range due {
		r := hp.req
		late := c.now.Sub(hp.at) > c.opt.Faults.MaxDelay
		if late {
			c.res.LateHops++
		}
		c.trace.Strings("hop", r.h.id, r.op.String())
		c.trace.U64(uint64(c.now.UnixNano()), r.n, uint64(hp.code))
		if !hp.answer {
			code, recs := c.execute(hp.to, r)
			c.event("forwarded", "%s %s #%d on %s: %d (late=%v)", r.h.id, r.op, r.n, hp.to.addr, code, late)
			c.push(&hop{from: hp.to, to: hp.from, fromInc: hp.to.inc, toInc: hp.from.inc, req: r, answer: true, code: code, records: recs})
			continue
		}
		if r.answered {
			continue // the entry node gave up on it already
		}
		// Read-your-writes: the entry installs what the write touched
		// before it answers the client.
		e := hp.to
		for _, rec := range hp.records {
			if _, err := e.store.Apply(c.ms(e), rec); err != nil {
				c.violate("%s refused the answer of %s: %v", e.addr, hp.from.addr, err)
			}
		}
		c.afterCall(e)
		r.answered = true
		c.onAnswer(r, hp.code)
	}
}

// execute runs r on node o (the owner by the entry's ring) at o's clock,
// as the HTTP API does, and returns the answer code and the records the
// write touched.
func (c *Cluster) execute(o *simNode, r *request) (int, []naming.Record) {
	h := r.h
	late := replica.ForwardExpired(r.deadlineMs, c.ms(o))
	if late {
		if !c.opt.NoForwardDeadline {
			c.res.Refused++
			return codeRefused, nil
		}
		// The planted defect: executed although the entry node answered
		// its client long ago.
		c.res.LateWrites++
		h.lateWrite = c.now
	}
	key := naming.PubKey(h.id, h.svc)
	code := codeOK
	switch r.op {
	case opRegister:
		pub := naming.Publication{Instances: []naming.Instance{h.inst}}
		if err := o.store.Publish(c.ms(o), h.id, h.svc, pub); err != nil {
			c.violate("publish %s on %s: %v", h.id, o.addr, err)
			return codeFailed, nil
		}
		c.noteEver(h.svc, pub)
	case opBeat:
		if !o.store.Beat(c.ms(o), h.id, h.svc, h.inst.IP, h.inst.Port) {
			code = codeNotFound
		}
	case opDeregister:
		r.unknown = !o.store.Unpublish(c.ms(o), h.id, h.svc)
		r.by, r.byInc = o, o.inc
		if rec, ok := o.store.Get(key); ok && rec.Tombstone {
			r.tomb = rec.Version
		}
	}
	if code == codeOK && (r.op == opRegister || r.op == opBeat) && !late {
		if c.ms(o)-h.execBeat > c.opt.UnhealthyAfter.Milliseconds() {
			// The client's beats failed for a while: somebody may expire
			// it on that gap, rightly, for a while yet (I2 while alive
			// waits).
			h.gapUntil = c.now.Add(c.opt.DeleteAfter + c.opt.ForwardTimeout)
		}
		h.execBeat = max(h.execBeat, c.ms(o))
	}
	c.afterCall(o)
	var recs []naming.Record
	if rec, ok := o.store.Get(key); ok && code == codeOK {
		recs = append(recs, rec)
		if !rec.Tombstone && rec.Version.Newer(h.liveVer) {
			h.liveVer = rec.Version
		}
	}
	return code, recs
}

// onAnswer is the client's reaction to the answer of r.
func (c *Cluster) onAnswer(r *request, code int) {
	h := r.h
	if h.inflight == r {
		h.inflight = nil
	}
	if code == codeTimeout || code == codeFailed || code == codeRefused {
		h.entry = nil // a sticky client moves to another node
		return        // the SDK logs it; the next beat (20404) repairs a register
	}
	switch r.op {
	case opRegister:
		h.lastRegAck = c.now
	case opBeat:
		if code == codeNotFound && h.state == hAlive {
			// 20404: the owner does not know the instance; the client
			// registers it again at once, as the Nacos SDKs do.
			c.res.Reregisters++
			c.send(h, opRegister)
		}
	case opDeregister:
		c.event("dereg-ack", "%s #%d unknown=%v", h.id, r.n, r.unknown)
		h.gone(c.now)
		h.deregUnknown = r.unknown
		h.deregBy, h.deregInc, h.deregTomb = r.by, r.byInc, r.tomb
		if r.sent.Sub(h.lastRegAck) < maxClockSpread {
			// Register and deregister closer together than the nodes'
			// clocks disagree: last-writer-wins may order them either
			// way (a documented limit), so I3 cannot hold this episode.
			h.deregLost = true
			c.res.SkewedDeletes++
			c.event("skewed-delete", "%s deregistered %v after its registration was acknowledged", h.id, r.sent.Sub(h.lastRegAck))
		}
	}
}
