package chaos

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// bounds are the timings the checker judges by.
type bounds struct {
	// DeleteAfter is the nodes' instance delete timeout.
	DeleteAfter time.Duration
	// ExpiryBound is how much later than DeleteAfter after its last beat
	// a silent instance may still be seen (I8).
	ExpiryBound time.Duration
	// CutOffExtra extends the I8 deadline of an instance when some link
	// was cut since its last effect: a node cut off from most members
	// waits one more delete timeout before it removes an instance, and
	// expiry holds after a member comes back.
	CutOffExtra time.Duration
	// FailedOp is how long after its invocation a write the client got no
	// acknowledgement for may still take effect: the client's timeout,
	// which is longer than the deadline the entry node gives a forwarded
	// write.
	FailedOp time.Duration
	// Sync is how long after the links healed a ready node may lack an
	// instance every other ready node holds (I5).
	Sync time.Duration
	// Detect is how long after the links healed the nodes may still act
	// on the views they formed while cut off (their probes have not yet
	// seen the heal), and the repairs of what they decided then arrive:
	// I2 holds from then on.
	Detect time.Duration
	// StartGrace is how long a started process may take to open its
	// listener before I4 expects answers.
	StartGrace time.Duration
}

// violation is one broken invariant, with what a reader needs to judge it.
type violation struct {
	Inv    string
	At     time.Time
	Node   string
	Inst   string
	Detail string
}

// instState is the checker's view of one instance, from its client's
// history.
type instState struct {
	key, client string
	history     []histLine
	// state: "alive" (last operation an acknowledged register, or a beat
	// after it), "gone" (acknowledged deregister, or silent), "unknown"
	// (an operation in flight or unacknowledged).
	state string
	gone  *gone
	// lastEffect is the latest time an operation of the client may have
	// taken effect on a server.
	lastEffect time.Time
	// lastFailed is the invocation of the latest register or beat that
	// was not acknowledged.
	lastFailed time.Time
	// lastFailedAny is the invocation of the latest operation of any kind
	// that was not acknowledged (a deregistration may still land).
	lastFailedAny time.Time
	// lastAck is the latest acknowledged register or beat.
	lastAck time.Time
	// registeredAt is the acknowledgement of the current life's register,
	// gen that register's MetaGen (0: unknown).
	registeredAt time.Time
	gen          int
	// seen is, per node, the newest MetaGen that node listed while ready
	// (kept across ends of life).
	seen    map[string]int
	perNode map[string]*instNode
}

// histLine is one line of a client's history.
type histLine struct {
	at   time.Time
	beat bool // an acknowledged beat: shown only when it is the latest
	text string
}

// gone is the latest end of an instance's life.
type gone struct {
	silent     bool
	start, ack time.Time // deregister: invoke and ack; silent: when it went silent
	deadline   time.Time // silent: the I8 deadline
	// knew holds the nodes that had listed the deregistered registration
	// by the acknowledgement (deregister only).
	knew map[string]bool
}

// instNode is what the checker saw of one instance on one node since its
// latest end of life.
type instNode struct {
	absentAt     time.Time // first ready read without it after the end
	presentSince time.Time // start of the current run of ready reads with it
	// lastPresent is the latest ready read with it, in the node's
	// current process life and a run of ready reads.
	lastPresent time.Time
	reported    map[string]bool
}

// nodeState is one node's process and read history.
type nodeState struct {
	addr      string
	up        bool
	upSince   time.Time
	downSince time.Time
	restarts  int
	// lastPoll is the latest poll, ready reports whether it was a ready read.
	lastPoll     *Event
	lastPollAt   time.Time
	ready        bool
	status       *Event
	failing      int // consecutive unanswered reads while up
	failingSince time.Time
	servedEarly  bool // reported an I5 read-while-loading this life
}

// checker judges the run continuously from the client's events and the
// nemesis's notes. Safe for concurrent use.
type checker struct {
	mu     sync.Mutex
	b      bounds
	start  time.Time
	ops    map[int64]*Event
	inst   map[string]*instState
	nodes  map[string]*nodeState
	order  []string
	pushes map[string]*Event

	linksCut     bool
	linksQuietAt time.Time // when the links were last all healed
	quietAt      time.Time
	timeline     []string

	viol   []violation
	counts map[string]int

	// The control plane history (cpcheck_test.go).
	cpOps   map[int64]*cpOp
	cpOrder []int64
	cpEnded bool
}

func newChecker(b bounds, start time.Time, nodes []string) *checker {
	c := &checker{b: b, start: start, ops: map[int64]*Event{}, inst: map[string]*instState{},
		nodes: map[string]*nodeState{}, order: nodes, pushes: map[string]*Event{}, counts: map[string]int{},
		cpOps: map[int64]*cpOp{}}
	for _, n := range nodes {
		c.nodes[n] = &nodeState{addr: n}
	}
	return c
}

func (c *checker) rel(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return fmt.Sprintf("+%.3fs", t.Sub(c.start).Seconds())
}

func ts(ns int64) time.Time { return time.Unix(0, ns) }

func (c *checker) report(inv string, at time.Time, node, inst, format string, args ...any) {
	c.counts[inv]++
	if len(c.viol) < 500 {
		c.viol = append(c.viol, violation{Inv: inv, At: at, Node: node, Inst: inst, Detail: fmt.Sprintf(format, args...)})
	}
}

func (c *checker) instance(svc, addr, client string) *instState {
	k := svc + " " + addr
	s := c.inst[k]
	if s == nil {
		s = &instState{key: k, client: client, state: "unknown", perNode: map[string]*instNode{}, seen: map[string]int{}}
		c.inst[k] = s
	}
	return s
}

func (s *instState) on(node string) *instNode {
	n := s.perNode[node]
	if n == nil {
		n = &instNode{reported: map[string]bool{}}
		s.perNode[node] = n
	}
	return n
}

// note records a nemesis action in the timeline.
func (c *checker) note(at time.Time, format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.timeline = append(c.timeline, c.rel(at)+" "+fmt.Sprintf(format, args...))
}

// links records whether any node pair is cut from now on.
func (c *checker) links(at time.Time, cut bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.linksCut && !cut {
		c.linksQuietAt = at
	}
	c.linksCut = cut
}

// nodeUp records that node's process was started at at.
func (c *checker) nodeUp(node string, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[node]
	if !n.upSince.IsZero() {
		n.restarts++
	}
	n.up, n.upSince, n.servedEarly, n.failing, n.ready = true, at, false, 0, false
	c.timeline = append(c.timeline, c.rel(at)+" start "+node)
}

// nodeDown records that node's process was killed at at.
func (c *checker) nodeDown(node string, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[node]
	n.up, n.downSince, n.ready = false, at, false
	c.timeline = append(c.timeline, c.rel(at)+" SIGKILL "+node)
}

// feed judges one event of the client.
func (c *checker) feed(ev Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch ev.Kind {
	case KindInvoke:
		e := ev
		c.ops[ev.ID] = &e
		s := c.instance(ev.Service, ev.Addr, ev.Client)
		s.history = append(s.history, histLine{at: ts(ev.T), beat: ev.Op == OpBeat,
			text: fmt.Sprintf("%s %s invoke %s via %s (op %d)", c.rel(ts(ev.T)), ev.Client, ev.Op, nodeOr(ev.Node), ev.ID)})
		if ev.Op == OpRegister || ev.Op == OpBeat {
			if s.state == "gone" {
				// A new life: what the checker saw of the old one no
				// longer constrains the nodes.
				s.gone, s.perNode = nil, map[string]*instNode{}
			}
			if ev.Op == OpRegister {
				s.state = "unknown"
			}
		} else {
			s.state = "unknown"
		}
	case KindDone:
		inv := c.ops[ev.ID]
		delete(c.ops, ev.ID)
		if inv == nil {
			return
		}
		s := c.instance(ev.Service, ev.Addr, ev.Client)
		took := ts(ev.T).Sub(ts(inv.T)).Round(time.Millisecond)
		res := "FAILED"
		if ev.OK {
			res = "ok"
		}
		s.history = append(s.history, histLine{at: ts(ev.T), beat: ev.Op == OpBeat && ev.OK,
			text: fmt.Sprintf("%s %s %s %s via %s after %v: %s (op %d)", c.rel(ts(ev.T)), ev.Client, ev.Op, res, nodeOr(ev.Node), took, clip(ev.Res, 160), ev.ID)})
		switch {
		case ev.Op == OpDeregister && ev.OK:
			s.state = "gone"
			s.gone = &gone{start: ts(inv.T), ack: ts(ev.T), knew: map[string]bool{}}
			for node, g := range s.seen { // order-independent: a set
				s.gone.knew[node] = s.gen > 0 && g >= s.gen
			}
			s.perNode = map[string]*instNode{}
		case ev.Op == OpDeregister:
			// May or may not have taken effect.
			s.lastFailedAny = later(s.lastFailedAny, ts(inv.T))
		case ev.OK:
			s.lastEffect = later(s.lastEffect, ts(ev.T))
			s.lastAck = later(s.lastAck, ts(ev.T))
			if ev.Op == OpRegister {
				s.state, s.registeredAt = "alive", ts(ev.T)
				s.gen, _ = strconv.Atoi(inv.Gen)
			}
		default:
			s.lastEffect = later(s.lastEffect, ts(inv.T).Add(c.b.FailedOp))
			s.lastFailed = later(s.lastFailed, ts(inv.T))
			s.lastFailedAny = later(s.lastFailedAny, ts(inv.T))
			if ev.Op == OpRegister {
				s.state = "unknown"
			}
		}
	case KindSilent:
		s := c.instance(ev.Service, ev.Addr, ev.Client)
		s.history = append(s.history, histLine{at: ts(ev.T),
			text: fmt.Sprintf("%s %s goes silent (last effect %s)", c.rel(ts(ev.T)), ev.Client, c.rel(s.lastEffect))})
		s.state = "gone"
		s.gone = &gone{silent: true, start: ts(ev.T), deadline: s.lastEffect.Add(c.b.DeleteAfter + c.b.ExpiryBound)}
		s.perNode = map[string]*instNode{}
	case KindPush:
		e := ev
		c.pushes[ev.Client] = &e
	case KindQuiet:
		c.quietAt = ts(ev.T)
		c.timeline = append(c.timeline, c.rel(ts(ev.T))+" quiet: clients stop changing registrations")
	case KindStatus:
		if n := c.nodes[ev.Node]; n != nil && ev.OK {
			e := ev
			n.status = &e
		}
	case KindPoll:
		c.poll(ev)
	case KindCPInvoke, KindCPDone, KindCPEnd:
		c.cpFeed(ev)
	}
}

// clip shortens s to n bytes for the report.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func nodeOr(n string) string {
	if n == "" {
		return "its gRPC connection"
	}
	return n
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// poll judges one read round of one node.
func (c *checker) poll(ev Event) {
	n := c.nodes[ev.Node]
	if n == nil {
		return
	}
	t0, t1 := ts(ev.T), ts(ev.T1)
	e := ev
	n.lastPoll, n.lastPollAt = &e, t1

	// I4: a node that is up answers reads (200, or 503 while loading).
	answered := true
	for _, code := range ev.Codes {
		if code != 200 && code != 503 {
			answered = false
		}
	}
	upThroughout := n.up && !n.upSince.IsZero() && t0.Sub(n.upSince) >= c.b.StartGrace
	switch {
	case answered:
		if n.failing > 0 {
			c.report("I4", n.failingSince, n.addr, "", "node up since %s did not answer %d read round(s) from %s to %s: %s",
				c.rel(n.upSince), n.failing, c.rel(n.failingSince), c.rel(t0), ev.Err)
		}
		n.failing = 0
	case upThroughout:
		if n.failing == 0 {
			n.failingSince = t0
		}
		n.failing++
		if n.failing == 1 {
			n.lastPoll.Err = ev.Err
		}
	default:
		n.failing = 0
	}

	ready := ev.Ready0 == 200 && ev.Ready1 == 200 && answered
	loading := ev.Ready0 == 503 && ev.Ready1 == 503
	n.ready = ready
	// I5: before its snapshot load finished a node answers 503, reads
	// included (readiness was 503 before and after the reads).
	if loading && !n.servedEarly {
		for svc, code := range ev.Codes {
			if code == 200 {
				n.servedEarly = true
				life := "initial start"
				if n.restarts > 0 {
					life = "after restart " + c.rel(n.upSince)
				}
				c.report("I5", t0, n.addr, "", "node served %s's list (%d hosts) at %s while readiness said 503 before and after (%s)",
					svc, len(ev.Hosts[svc]), c.rel(t0), life)
				break
			}
		}
	}
	if !ready {
		for _, s := range c.inst {
			if in := s.perNode[n.addr]; in != nil {
				in.presentSince, in.lastPresent = time.Time{}, time.Time{}
			}
		}
		return
	}
	present := map[string]bool{}
	for svc, hosts := range ev.Hosts {
		for _, h := range hosts {
			present[svc+" "+h] = true
		}
	}
	for h := range present {
		if c.inst[h] == nil {
			c.report("I3", t0, n.addr, h, "an instance no client ever registered is listed")
			c.instance(strings.Fields(h)[0], strings.Fields(h)[1], "?")
		}
	}
	keys := make([]string, 0, len(c.inst))
	for k := range c.inst {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		s := c.inst[k]
		in := s.on(n.addr)
		has := present[k]
		// A copy of an earlier registration than the client's latest
		// acknowledged one is a stale replica: the registration that
		// followed may reach this node after the removal of the earlier
		// one, so it does not count as listing the live instance (I2).
		gen, _ := strconv.Atoi(ev.Gens[k])
		stale := has && gen > 0 && s.gen > 0 && gen < s.gen
		if has && gen > s.seen[n.addr] {
			s.seen[n.addr] = gen
		}
		switch {
		case !has:
			c.checkLost(n, s, in, t0)
			in.presentSince, in.lastPresent = time.Time{}, time.Time{}
		case stale:
			in.presentSince, in.lastPresent = time.Time{}, time.Time{}
		default:
			if in.presentSince.IsZero() {
				in.presentSince = t0
			}
			in.lastPresent = t0
		}
		g := s.gone
		if g == nil {
			continue
		}
		if !g.silent {
			if !has && !t0.Before(g.start) && in.absentAt.IsZero() {
				in.absentAt = t0
			}
			// I3: once gone from a ready node after an acknowledged
			// deregistration, it never comes back there, unless a write
			// of the client that was not acknowledged can still be
			// taking effect (it was invoked within FailedOp before the
			// deregistration) and expire normally.
			excused := !s.lastFailed.IsZero() && !s.lastFailed.Add(c.b.FailedOp).Before(g.start) &&
				t0.Before(s.lastFailed.Add(c.b.FailedOp+c.b.DeleteAfter+c.b.ExpiryBound))
			// A node that never listed the registration the client
			// deregistered, while links were cut since, may simply never
			// have learnt of it nor of its deregistration: a peer on its
			// side that holds the registration may hand it over. (Once
			// it listed that registration, or the links have worked long
			// enough for the deregistration to reach it, its absence
			// counts.)
			cutSince := c.linksCut || c.linksQuietAt.After(g.ack)
			settled := !c.linksCut && t0.After(c.linksQuietAt.Add(c.b.Detect+c.b.Sync))
			excused = excused || (s.gen > 0 && !g.knew[n.addr] && cutSince && !settled)
			if has && !in.absentAt.IsZero() && !excused && !in.reported["I3"] {
				in.reported["I3"] = true
				c.report("I3", t0, n.addr, k, "deregistration acknowledged at %s (invoked %s); %s listed it absent at %s and again present at %s",
					c.rel(g.ack), c.rel(g.start), n.addr, c.rel(in.absentAt), c.rel(t0))
			}
			continue
		}
		// I3 for expiry: once a ready node dropped a silent instance after
		// it could have expired, it never lists it again.
		expired := s.lastEffect.Add(c.b.DeleteAfter)
		if !has && !t0.Before(expired) && in.absentAt.IsZero() {
			in.absentAt = t0
		}
		if has && !in.absentAt.IsZero() && !in.reported["I3"] {
			in.reported["I3"] = true
			c.report("I3", t0, n.addr, k, "client silent since %s (last effect %s, expired from %s); %s listed it absent at %s and again present at %s",
				c.rel(g.start), c.rel(s.lastEffect), c.rel(expired), n.addr, c.rel(in.absentAt), c.rel(t0))
		}
		// I8: a silent instance is gone from every ready node by its deadline.
		deadline := g.deadline
		if c.linksCut || c.linksQuietAt.After(s.lastEffect) {
			deadline = deadline.Add(c.b.CutOffExtra)
		}
		if has && t0.After(deadline) && !in.reported["I8"] {
			in.reported["I8"] = true
			how := "never removed"
			if !in.absentAt.IsZero() {
				how = "came back after being absent at " + c.rel(in.absentAt)
			}
			c.report("I8", t0, n.addr, k, "client silent since %s (last effect %s), deadline %s (delete timeout %v + bound %v); %s still lists it at %s (%s)",
				c.rel(g.start), c.rel(s.lastEffect), c.rel(deadline), c.b.DeleteAfter, deadline.Sub(g.deadline)+c.b.ExpiryBound, n.addr, c.rel(t0), how)
		}
	}
	c.checkLoaded(n, t0, present, keys)
}

// checkLost is I2 during the run: an HTTP instance whose client keeps
// beating successfully does not vanish from a ready node that listed it a
// read earlier, while no link is cut (since Detect after the last heal),
// unless an unacknowledged operation of the client may still have landed
// in between.
func (c *checker) checkLost(n *nodeState, s *instState, in *instNode, t0 time.Time) {
	prev := in.lastPresent
	if prev.IsZero() || s.state != "alive" || !strings.HasPrefix(s.key, ServiceHTTP+" ") ||
		c.linksCut || !c.linksQuietAt.Add(c.b.Detect).Before(prev) || n.upSince.After(prev) ||
		t0.Sub(s.lastAck) > 2*c.b.DeleteAfter/3 || !s.lastFailedAny.Add(c.b.FailedOp).Before(prev) ||
		in.reported["I2"] {
		return
	}
	in.reported["I2"] = true
	c.report("I2", t0, n.addr, s.key, "live instance (registered %s, last acknowledged beat %s) vanished from %s: listed at %s, absent at %s, no link cut since %s; the client's last unacknowledged operation was invoked at %s",
		c.rel(s.registeredAt), c.rel(s.lastAck), n.addr, c.rel(prev), c.rel(t0), c.rel(c.linksQuietAt), c.rel(s.lastFailedAny))
}

// checkLoaded is I5's second half: a ready node connected to every other
// node for the sync bound never lacks a live instance that every other
// ready node has listed for longer than the sync bound.
func (c *checker) checkLoaded(n *nodeState, t0 time.Time, present map[string]bool, keys []string) {
	if c.linksCut || t0.Sub(c.linksQuietAt) < c.b.Sync {
		return
	}
	var others []*nodeState
	for _, a := range c.order {
		o := c.nodes[a]
		if o == n {
			continue
		}
		if o.up && o.ready && t0.Sub(o.lastPollAt) < 2*time.Second {
			others = append(others, o)
		}
	}
	if len(others) == 0 {
		return
	}
	for _, k := range keys {
		s := c.inst[k]
		if present[k] || s.state != "alive" || t0.Sub(s.registeredAt) < c.b.Sync ||
			t0.Sub(s.lastEffect) > c.b.DeleteAfter-c.b.Sync {
			continue
		}
		held := true
		var since []string
		for _, o := range others {
			in := s.perNode[o.addr]
			if in == nil || in.presentSince.IsZero() || t0.Sub(in.presentSince) < c.b.Sync {
				held = false
				break
			}
			since = append(since, o.addr+" since "+c.rel(in.presentSince))
		}
		in := s.on(n.addr)
		if held && !in.reported["I5"] {
			in.reported["I5"] = true
			c.report("I5", t0, n.addr, k, "%s (ready, up since %s, links healed since %s) lacks a live instance at %s that every other ready node has listed for over %v: %s",
				n.addr, c.rel(n.upSince), c.rel(c.linksQuietAt), c.rel(t0), c.b.Sync, strings.Join(since, ", "))
		}
	}
}

// isReady reports whether node's latest read was a ready one.
func (c *checker) isReady(node string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[node].ready
}

// converged reports whether every node is up, ready, reports the same
// digest, and lists exactly the instances whose clients are alive; if
// not, why.
func (c *checker) converged(now time.Time) (bool, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	digest := ""
	for i, a := range c.order {
		n := c.nodes[a]
		switch {
		case !n.up:
			return false, a + " is down"
		case n.status == nil || now.Sub(ts(n.status.T)) > 3*time.Second:
			return false, a + " has no recent status"
		case !n.status.Ready || !n.ready:
			return false, a + " is not ready"
		case i > 0 && n.status.Digest != digest:
			return false, fmt.Sprintf("%s has digest %s, %s has %s", c.order[0], digest, a, n.status.Digest)
		}
		digest = n.status.Digest
		if d := c.diff(n); d != "" {
			return false, d
		}
	}
	return true, ""
}

// diff compares a node's latest read with the clients' final states.
func (c *checker) diff(n *nodeState) string {
	if n.lastPoll == nil {
		return n.addr + " was never read"
	}
	present := map[string]bool{}
	for svc, hosts := range n.lastPoll.Hosts {
		for _, h := range hosts {
			present[svc+" "+h] = true
		}
	}
	var d []string
	for k, s := range c.inst {
		switch {
		case s.state == "alive" && !present[k]:
			d = append(d, "lacks "+k)
		case s.state == "gone" && present[k]:
			d = append(d, "still lists "+k)
		}
	}
	slices.Sort(d)
	if len(d) == 0 {
		return ""
	}
	return n.addr + ": " + strings.Join(d, ", ")
}

// final judges the end of the run: I1 (converged within the bound) and I2
// (every alive client's instance on every node), plus instances that
// stayed after their end.
func (c *checker) final(convergedOK bool, why string, bound time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if !convergedOK {
		var ds []string
		for _, a := range c.order {
			if st := c.nodes[a].status; st != nil {
				ds = append(ds, fmt.Sprintf("%s ready=%v digest=%s", a, st.Ready, st.Digest))
			}
		}
		c.report("I1", now, "", "", "not converged %v after the faults stopped (at %s): %s; last status: %s",
			bound, c.rel(c.quietAt), why, strings.Join(ds, "; "))
	}
	keys := make([]string, 0, len(c.inst))
	for k := range c.inst {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, a := range c.order {
		n := c.nodes[a]
		if n.lastPoll == nil || !n.ready {
			continue
		}
		present := map[string]bool{}
		for svc, hosts := range n.lastPoll.Hosts {
			for _, h := range hosts {
				present[svc+" "+h] = true
			}
		}
		at := ts(n.lastPoll.T)
		for _, k := range keys {
			s := c.inst[k]
			in := s.on(a)
			switch {
			case s.state == "alive" && !present[k]:
				c.report("I2", at, a, k, "client alive (registered at %s, last effect %s) but %s does not list it at the end (%s)",
					c.rel(s.registeredAt), c.rel(s.lastEffect), a, c.rel(at))
			case s.state == "gone" && !s.gone.silent && present[k] && !in.reported["I3"]:
				in.reported["I3"] = true
				c.report("I3", at, a, k, "deregistration acknowledged at %s, still listed by %s at the end (%s)",
					c.rel(s.gone.ack), a, c.rel(at))
			}
		}
	}
	// Every subscriber's last push is the converged list.
	if convergedOK {
		var want []string
		for _, k := range keys {
			if s := c.inst[k]; s.state == "alive" && strings.HasPrefix(k, ServiceSDK+" ") {
				want = append(want, strings.TrimPrefix(k, ServiceSDK+" "))
			}
		}
		if len(want) > 0 {
			for cl, p := range c.pushes {
				if p.Res != strings.Join(want, ",") {
					c.report("I2", ts(p.T), "", "", "SDK subscriber %s's last push (at %s) was [%s], the cluster converged on [%s]",
						cl, c.rel(ts(p.T)), p.Res, strings.Join(want, ","))
				}
			}
		}
	}
}

// violations returns the counts per invariant and the recorded violations.
func (c *checker) violations() (map[string]int, []violation) {
	c.mu.Lock()
	defer c.mu.Unlock()
	counts := map[string]int{}
	for k, v := range c.counts {
		counts[k] = v
	}
	return counts, slices.Clone(c.viol)
}

// explain renders a violation with the instance's client history around it.
func (c *checker) explain(v violation) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "%s at %s", v.Inv, c.rel(v.At))
	if v.Node != "" {
		fmt.Fprintf(&b, " on %s", v.Node)
	}
	if v.Inst != "" {
		fmt.Fprintf(&b, " instance %s", v.Inst)
	}
	fmt.Fprintf(&b, ": %s\n", v.Detail)
	if s := c.inst[v.Inst]; s != nil {
		// Up to a second after the violation; acknowledged beats (and
		// their invocations) only when they are the latest line.
		var h []string
		for i, l := range s.history {
			if l.at.After(v.At.Add(time.Second)) {
				break
			}
			if l.beat && i+1 < len(s.history) && s.history[i+1].beat && !s.history[i+1].at.After(v.At.Add(time.Second)) {
				continue
			}
			h = append(h, l.text)
		}
		if len(h) > 16 {
			h = h[len(h)-16:]
		}
		fmt.Fprintf(&b, "    client history (last %d lines up to the violation, acknowledged beats folded):\n", len(h))
		for _, l := range h {
			fmt.Fprintf(&b, "      %s\n", l)
		}
	}
	return b.String()
}

// timelineText is the nemesis's actions, one per line.
func (c *checker) timelineText() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.timeline, "\n")
}
