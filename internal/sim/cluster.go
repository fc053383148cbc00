package sim

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/distrod/distrod/internal/distro"
	"github.com/distrod/distrod/internal/distro/distrotest"
	"github.com/distrod/distrod/internal/hlc"
	"github.com/distrod/distrod/internal/naming"
	"github.com/distrod/distrod/internal/replica"
)

// epoch is the virtual time at which every run starts.
var epoch = time.Unix(1_700_000_000, 0).UTC()

// simNode is one cluster member: the shell around one incarnation of a
// distro.Node and its naming.Store, as internal/server/cluster.go builds it.
type simNode struct {
	addr string
	skew time.Duration // this host's clock offset; constant across restarts
	up   bool
	inc  int // incarnation, 1 at first boot
	boot time.Time

	store *naming.Store
	node  *distro.Node
	// conns are the connection ids this incarnation holds (the gRPC
	// server's connection table).
	conns map[string]bool
	// changes and stale are filled by the store's OnChange listener and
	// drained after every call, like the server's drainChanges.
	changes []replica.Observation
	stale   []string

	view        map[string]distro.MemberState
	viewNet     uint64 // c.netVer when view was computed
	viewPending bool   // a lost peer has not reached DOWN yet
	det         *distrotest.Detector
	ready       bool
	nextExpire  time.Time
	rejected    int

	// I5: live record versions each reachable peer held at boot, and the
	// peers whose link broke (or who crashed) during the load.
	loadBase    map[string]map[string]hlc.Version
	loadBroken  map[string]bool
	loadDropped map[string]bool
}

// t is the node's local clock: virtual time plus its skew.
func (sn *simNode) t(now time.Time) time.Time { return now.Add(sn.skew) }

type timer struct {
	at  time.Time
	seq uint64
	fn  func()
}

// Cluster is one simulated run. Build it with New and run it with Run.
type Cluster struct {
	opt Options
	rng *rand.Rand
	// readRng picks the I4 reads, so that checking never shifts the
	// workload's random stream.
	readRng *rand.Rand
	net     *distrotest.Network
	nodes   []*simNode
	byAddr  map[string]*simNode
	now     time.Time
	trace   *distrotest.Trace
	res     Result

	chaos      bool
	quietStart time.Time
	timers     []timer
	timerSeq   uint64
	partitions int    // active partition/block faults (for I4 bookkeeping)
	netVer     uint64 // bumped on every reachability change

	http  []*httpClient
	apps  []*connApp
	ports int // ephemeral port counter for connection ids

	ever        map[naming.ServiceKey]map[addrKey]bool // every instance ever published
	retired     []retired                              // connection ids whose connection ended
	deaths      []*death
	lastWrite   time.Time // last owner write on any node
	lastFault   time.Time // last fault event, or owner-death cleanup deadline
	converged   bool
	equalDigest uint64 // Store.Digest at the last full equality check
	checks      int
}

// New builds the cluster of opt and boots every node.
func New(opt Options) *Cluster {
	rng := rand.New(rand.NewPCG(opt.Seed, opt.Seed^0x51a15eed))
	c := &Cluster{
		opt:    opt,
		rng:    rng,
		byAddr: map[string]*simNode{},
		now:    epoch,
		trace:  distrotest.NewTrace(),
		res:    Result{Seed: opt.Seed, Nodes: opt.Nodes, ConvergedAfter: -1},
	}
	c.readRng = rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))
	c.net = distrotest.NewNetwork(rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64())), opt.Faults)
	for i := range opt.Nodes {
		addr := fmt.Sprintf("10.0.0.%d:8848", i+1)
		sn := &simNode{addr: addr, skew: time.Duration(rng.IntN(41)-20) * time.Millisecond}
		c.nodes = append(c.nodes, sn)
		c.byAddr[addr] = sn
	}
	c.newWorkload()
	for _, sn := range c.nodes {
		c.boot(sn)
	}
	return c
}

func (c *Cluster) elapsed() time.Duration { return c.now.Sub(epoch) }

func (c *Cluster) violate(format string, args ...any) {
	c.res.ViolationCount++
	if len(c.res.Violations) < 20 {
		c.res.Violations = append(c.res.Violations, fmt.Sprintf("t=%v ", c.elapsed())+fmt.Sprintf(format, args...))
	}
}

// event records a simulation event in the trace hash (and the trace).
func (c *Cluster) event(kind, format string, args ...any) {
	what := fmt.Sprintf(format, args...)
	c.trace.Strings(kind)
	c.trace.Strings(what)
	c.trace.U64(uint64(c.now.UnixNano()))
	if c.opt.Trace != nil {
		fmt.Fprintf(c.opt.Trace, "t=%-8v %-10s %s\n", c.elapsed(), kind, what)
	}
}

func (c *Cluster) schedule(after time.Duration, fn func()) {
	c.timerSeq++
	c.timers = append(c.timers, timer{at: c.now.Add(after), seq: c.timerSeq, fn: fn})
}

func (c *Cluster) runTimers() {
	var due, keep []timer
	for _, t := range c.timers {
		if t.at.After(c.now) {
			keep = append(keep, t)
		} else {
			due = append(due, t)
		}
	}
	c.timers = keep
	sort.Slice(due, func(i, j int) bool { return due[i].seq < due[j].seq })
	for _, t := range due {
		t.fn()
	}
}

// boot starts a fresh incarnation of sn: new store, new core, empty
// memory, the same address and host clock.
func (c *Cluster) boot(sn *simNode) {
	sn.up = true
	sn.inc++
	sn.boot = c.now
	sn.store = naming.NewStore(sn.addr, hlc.NewClock(sn.addr))
	sn.store.SetExpiry(c.opt.UnhealthyAfter.Milliseconds(), c.opt.DeleteAfter.Milliseconds())
	sn.changes, sn.stale = nil, nil
	sn.conns = map[string]bool{}
	sn.store.OnChange(c.listener(sn))
	adapter := replica.Storage{Store: sn.store, Now: func() time.Time { return sn.t(c.now) },
		OnReject: func(distro.Record, error) { sn.rejected++ }}
	var st distro.Storage = adapter
	if c.opt.Bug != NoBug {
		st = broken{Storage: adapter, bug: c.opt.Bug}
	}
	n, err := distro.New(c.opt.Config(sn.addr), st, rand.New(rand.NewPCG(c.rng.Uint64(), c.rng.Uint64())))
	if err != nil {
		panic(err) // a bad Config is a bug in the test setup
	}
	sn.node = n
	sn.view, sn.det = nil, distrotest.NewDetector(c.opt.SuspectAfter, c.opt.DownAfter)
	sn.ready = false
	sn.nextExpire = c.now.Add(time.Duration(c.rng.Int64N(int64(c.opt.ExpireEvery))))
	sn.loadBase, sn.loadBroken, sn.loadDropped = map[string]map[string]hlc.Version{}, map[string]bool{}, map[string]bool{}
	c.net.SetDown(sn.addr, false)
	c.netVer++
	for _, p := range c.nodes {
		if p == sn || !p.up {
			continue
		}
		base := map[string]hlc.Version{}
		for _, m := range p.store.Metas() {
			if !m.Tombstone {
				base[m.Key] = m.Version
			}
		}
		sn.loadBase[p.addr] = base
		if !c.linked(sn.addr, p.addr) {
			sn.loadBroken[p.addr] = true
		}
	}
	c.event("boot", "%s inc=%d", sn.addr, sn.inc)
	c.updateView(sn)
}

// listener is the server's onChange (replica.Observe): observe every
// change but drops, and collect own connection clients that arrive from
// peers (they are from an earlier incarnation: their connections died with
// it).
func (c *Cluster) listener(sn *simNode) func(naming.Change) {
	return func(ch naming.Change) {
		m := ch.Record
		o := replica.Observe(ch, sn.addr, func(id string) bool { return sn.conns[id] })
		if !o.Observe {
			// I5 bookkeeping: a record a peer dropped during a load was not
			// held throughout it; one the loader dropped itself before
			// ready (a dead owner's cleanup) is excused.
			for _, l := range c.nodes {
				if l.loadBase == nil {
					continue
				}
				if l == sn {
					l.loadDropped[m.Key] = true
				} else {
					delete(l.loadBase[sn.addr], m.Key)
				}
			}
			return
		}
		if o.StaleClient != "" {
			sn.stale = append(sn.stale, o.StaleClient)
		}
		if ch.Local {
			c.lastWrite = c.now
		}
		sn.changes = append(sn.changes, o)
	}
}

// afterCall plays the shell after every call into the core or the store:
// observe the store's changes, tombstone stale own connections, send the
// outbox.
func (c *Cluster) afterCall(sn *simNode) {
	t := sn.t(c.now)
	for len(sn.changes) > 0 || len(sn.stale) > 0 {
		chs, stale := sn.changes, sn.stale
		sn.changes, sn.stale = nil, nil
		for _, o := range chs {
			o.Feed(t, sn.node)
		}
		if c.opt.NoReap {
			continue
		}
		for _, id := range stale {
			if sn.store.RemoveClient(t.UnixMilli(), id) {
				c.res.Reaped++
				c.event("reap", "%s deletes %s from an earlier incarnation", sn.addr, id)
			}
		}
	}
	for _, env := range sn.node.Outbox() {
		c.res.Sent++
		c.net.Send(c.now, sn.addr, env)
	}
}

// linked reports whether a and b can talk both ways.
func (c *Cluster) linked(a, b string) bool { return c.net.Reachable(a, b) && c.net.Reachable(b, a) }

// updateView is the failure detector: a peer unreachable (either way) for
// SuspectAfter is SUSPICIOUS, for DownAfter DOWN; a forced flap raises the
// state until it ends. SetMembers is called whenever the view changes.
func (c *Cluster) updateView(sn *simNode) {
	if sn.view != nil && sn.viewNet == c.netVer && !sn.viewPending && !sn.det.Flapping() {
		return // nothing that feeds the detector changed
	}
	sn.viewNet = c.netVer
	addrs := make([]string, len(c.nodes))
	for i, p := range c.nodes {
		addrs[i] = p.addr
	}
	members, changed, pending := sn.det.Update(c.now, sn.addr, addrs, func(p string) bool { return c.linked(sn.addr, p) })
	sn.viewPending, sn.view = pending, sn.det.View()
	if !changed {
		return
	}
	c.event("view", "%s %v", sn.addr, members)
	sn.node.SetMembers(sn.t(c.now), members)
	c.afterCall(sn)
}

func (c *Cluster) upNodes() []*simNode {
	var out []*simNode
	for _, sn := range c.nodes {
		if sn.up {
			out = append(out, sn)
		}
	}
	return out
}

func (c *Cluster) readyNodes() []*simNode {
	var out []*simNode
	for _, sn := range c.nodes {
		if sn.up && sn.ready {
			out = append(out, sn)
		}
	}
	return out
}

// --- faults ---

func (c *Cluster) crash(sn *simNode) {
	if !sn.up {
		return
	}
	sn.up = false
	c.net.SetDown(sn.addr, true)
	c.netVer++
	c.res.Crashes++
	c.lastFault = c.now
	c.event("crash", "%s inc=%d", sn.addr, sn.inc)
	for _, o := range c.nodes {
		if o.up && o.loadBroken != nil {
			o.loadBroken[sn.addr] = true
		}
	}
	c.onCrash(sn)
}

func (c *Cluster) restart(sn *simNode) {
	if sn.up {
		return
	}
	c.res.Restarts++
	c.boot(sn)
}

func (c *Cluster) partition(g1, g2 []string) {
	c.net.Partition(g1, g2)
	c.netVer++
	c.res.Partitions++
	c.partitions++
	c.lastFault = c.now
	for _, sn := range c.nodes {
		if sn.loadBroken == nil {
			continue
		}
		other := g2
		if !contains(g1, sn.addr) {
			other = g1
		}
		for _, a := range other {
			sn.loadBroken[a] = true
		}
	}
	c.event("partition", "%v | %v", g1, g2)
}

func (c *Cluster) block(a, b string) {
	c.net.Block(a, b)
	c.netVer++
	c.res.Blocks++
	c.partitions++
	c.lastFault = c.now
	for _, sn := range []*simNode{c.byAddr[a], c.byAddr[b]} {
		if sn.loadBroken != nil {
			other := a
			if sn.addr == a {
				other = b
			}
			sn.loadBroken[other] = true
		}
	}
	c.event("block", "%s -> %s", a, b)
}

func (c *Cluster) heal() {
	c.net.Heal()
	c.netVer++
	c.partitions = 0
	c.lastFault = c.now
	c.event("heal", "")
}

func contains(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

// chaosEvent injects one random fault.
func (c *Cluster) chaosEvent() {
	addrs := make([]string, len(c.nodes))
	for i, sn := range c.nodes {
		addrs[i] = sn.addr
	}
	switch k := c.rng.IntN(9); {
	case k < 2: // crash one node for 0.3–3 s
		sn := c.nodes[c.rng.IntN(len(c.nodes))]
		if sn.up && len(c.upNodes()) > 1 {
			c.crash(sn)
			c.schedule(time.Duration(300+c.rng.IntN(2700))*time.Millisecond, func() { c.restart(sn) })
		}
	case k < 4: // partition in two groups for 0.5–4 s
		g1, g2 := distrotest.RandomSplit(c.rng, addrs)
		c.partition(g1, g2)
		c.schedule(time.Duration(500+c.rng.IntN(3500))*time.Millisecond, c.heal)
	case k < 5: // one-way link cut for 0.5–2 s
		i := c.rng.IntN(len(addrs))
		j := (i + 1 + c.rng.IntN(len(addrs)-1)) % len(addrs)
		c.block(addrs[i], addrs[j])
		c.schedule(time.Duration(500+c.rng.IntN(1500))*time.Millisecond, c.heal)
	default: // one node's view of a peer flaps SUSPICIOUS or DOWN, then UP
		sn := c.nodes[c.rng.IntN(len(c.nodes))]
		p := c.nodes[c.rng.IntN(len(c.nodes))]
		if sn == p || !sn.up {
			return
		}
		st := distro.StateSuspicious
		if c.rng.IntN(2) == 0 {
			st = distro.StateDown
		}
		sn.det.Flap(p.addr, st, c.now.Add(time.Duration(100+c.rng.IntN(1900))*time.Millisecond))
		c.res.Flaps++
		c.lastFault = c.now
		c.event("flap", "%s sees %s %v", sn.addr, p.addr, st)
	}
}

// --- the driver ---

// step advances virtual time by one Step and runs one round: views,
// deliveries, client actions, ticks, expiry, readiness.
func (c *Cluster) step() {
	c.now = c.now.Add(c.opt.Step)
	c.runTimers()
	for _, sn := range c.upNodes() {
		c.updateView(sn)
	}
	for _, d := range c.net.Due(c.now) {
		src, dst := c.byAddr[d.From], c.byAddr[d.To]
		if d.Unreachable {
			if src.up {
				c.trace.Strings("unreachable")
				c.trace.Message(c.now, d.From, d.To, d.Msg, true)
				src.node.Unreachable(src.t(c.now), d.To, d.Msg)
				c.afterCall(src)
			}
			continue
		}
		if !dst.up {
			continue
		}
		c.res.Delivered++
		c.trace.Message(c.now, d.From, d.To, d.Msg, true)
		dst.node.Step(dst.t(c.now), d.From, d.Msg)
		c.afterCall(dst)
	}
	c.clients()
	for _, sn := range c.upNodes() {
		sn.node.Tick(sn.t(c.now))
		c.afterCall(sn)
		if !sn.ready && sn.node.Ready() {
			sn.ready = true
			c.event("ready", "%s after %v", sn.addr, c.now.Sub(sn.boot))
			c.checkLoaded(sn)
		}
		// The server's expiry loop: every ExpireEvery, only once ready.
		if !c.now.Before(sn.nextExpire) {
			sn.nextExpire = c.now.Add(c.opt.ExpireEvery)
			if sn.ready {
				n := sn.store.ExpireCheck(sn.t(c.now).UnixMilli(), func(tag string) bool { return sn.node.Owner(tag) == sn.addr })
				if n > 0 {
					c.res.ExpiryWrites += n
					c.event("expire", "%s changed %d records", sn.addr, n)
				}
				c.afterCall(sn)
			}
		}
		if sn.rejected > 0 {
			c.violate("%s rejected %d replicated records", sn.addr, sn.rejected)
			sn.rejected = 0
		}
	}
}

// Run executes the standard scenario: Chaos (faults and workload), then
// Quiet (faults stop; one node may die for good; alive clients keep
// beating), then the final checks.
func Run(opt Options) Result {
	return New(opt).Run()
}

// Run executes the scenario once.
func (c *Cluster) Run() Result {
	c.chaos = true
	end := epoch.Add(c.opt.Chaos)
	nextFault := c.now.Add(time.Duration(200+c.rng.IntN(800)) * time.Millisecond)
	nextCheck := c.now
	for c.now.Before(end) {
		c.step()
		if !c.now.Before(nextFault) {
			c.chaosEvent()
			nextFault = c.now.Add(time.Duration(200+c.rng.IntN(800)) * time.Millisecond)
		}
		if !c.now.Before(nextCheck) {
			c.periodicChecks()
			nextCheck = c.now.Add(50 * time.Millisecond)
		}
	}

	// Faults stop: heal every link, end every flap, restart the crashed
	// nodes, keep only delays; maybe one node dies for good.
	c.chaos = false
	c.quietStart = c.now
	c.timers = nil
	c.net.Faults = distrotest.Faults{MinDelay: c.opt.Faults.MinDelay, MaxDelay: c.opt.Faults.MaxDelay}
	c.heal()
	for _, sn := range c.nodes {
		sn.det.ClearFlaps()
	}
	var alive []*simNode
	for _, sn := range c.nodes {
		if sn.up {
			alive = append(alive, sn)
		}
	}
	for _, sn := range c.nodes {
		c.restart(sn)
	}
	if !c.opt.NoKill && c.rng.IntN(2) == 0 {
		// Prefer a node that was up during chaos: it has clients to lose.
		victim := alive[c.rng.IntN(len(alive))]
		c.res.Killed = victim.addr
		c.crash(victim)
		c.lastFault = c.now.Add(c.opt.DownAfter + c.opt.Config(victim.addr).OwnerGrace)
	}
	quietEnd := c.now.Add(c.opt.Quiet)
	for c.now.Before(quietEnd) {
		c.step()
		if !c.now.Before(nextCheck) {
			c.periodicChecks()
			c.trackConvergence()
			nextCheck = c.now.Add(50 * time.Millisecond)
		}
	}
	c.finalChecks()
	c.res.TraceHash = c.trace.Sum()
	for _, sn := range c.nodes {
		if sn.up {
			c.res.Final = append(c.res.Final, sn.node.Status())
		}
	}
	return c.res
}
