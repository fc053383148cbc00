package sim

import (
	"container/heap"
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"syscall"
	"time"

	"github.com/distrod/distrod/internal/distro"
	"github.com/distrod/distrod/internal/distro/distrotest"
	"github.com/distrod/distrod/internal/hlc"
	"github.com/distrod/distrod/internal/membership"
	"github.com/distrod/distrod/internal/naming"
	"github.com/distrod/distrod/internal/replica"
)

// epoch is the virtual time at which every run starts.
var epoch = time.Unix(1_700_000_000, 0).UTC()

// simNode is one cluster member: one incarnation of the server's
// deterministic shell (replica.Shell: Distro core, membership table, ring,
// readiness, expiry) over its naming.Store, driven as
// internal/server/cluster.go drives it, with the virtual clock.
type simNode struct {
	addr   string
	skew   time.Duration // this host's clock offset; constant across restarts
	up     bool
	inc    int // incarnation, 1 at first boot
	incKey string
	boot   time.Time

	store *naming.Store
	sh    *replica.Shell
	// conns are the connection ids this incarnation holds (the gRPC
	// server's connection table).
	conns map[string]bool
	// flaky: until then, this node's probes of the peer time out (a slow
	// peer, a lossy path for probes only).
	flaky map[string]time.Time
	ready bool
	// slow: snapshot chunks to this incarnation are throttled until ready.
	slow bool
	seen replica.ShellCounters

	// load is the I5 bookkeeping until the node is ready (nil after).
	load *distrotest.LoadCheck
}

// maxClockSpread bounds how far two nodes' clocks disagree (skews lie in
// ±20ms).
const maxClockSpread = 41 * time.Millisecond

// t is the node's local clock: virtual time plus its skew.
func (sn *simNode) t(now time.Time) time.Time { return now.Add(sn.skew) }

// key names the incarnation ("addr/inc").
func (sn *simNode) key() string { return sn.incKey }

type timer struct {
	at    time.Time
	seq   uint64
	fault bool // a fault's end (restart, heal): cancelled when Quiet starts
	fn    func()
}

// Cluster is one simulated run. Build it with New and run it with Run.
type Cluster struct {
	opt Options
	rng *rand.Rand
	// readRng picks the I4 reads and probeRng the probe round trips, so
	// that checking and probing never shift the workload's random stream.
	readRng, probeRng *rand.Rand
	net               *distrotest.Network
	nodes             []*simNode
	byAddr            map[string]*simNode
	now               time.Time
	trace             *distrotest.Trace
	res               Result

	chaos      bool
	quietStart time.Time
	lastCrash  time.Time // I2 while alive: a crash may take unsynced writes
	timers     timers
	timerSeq   uint64
	partitions int // active partition/block faults (for I4 bookkeeping)
	long       [2][]string
	longOn     bool

	http     []*httpClient
	httpByID map[string]int // index in http
	apps     []*connApp
	ports    int // ephemeral port counter for connection ids
	hops     []*hop
	reqs     uint64
	hopSeq   uint64

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
	c.probeRng = rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))
	c.net = distrotest.NewNetwork(rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64())), opt.Faults)
	for i := range opt.Nodes {
		addr := fmt.Sprintf("10.0.0.%d:8848", i+1)
		sn := &simNode{addr: addr, skew: time.Duration(rng.IntN(41)-20) * time.Millisecond} // within maxClockSpread
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
	heap.Push(&c.timers, timer{at: c.now.Add(after), seq: c.timerSeq, fn: fn})
}

// scheduleFault schedules the end of a fault; Quiet cancels it.
func (c *Cluster) scheduleFault(after time.Duration, fn func()) {
	c.timerSeq++
	heap.Push(&c.timers, timer{at: c.now.Add(after), seq: c.timerSeq, fault: true, fn: fn})
}

// runTimers runs the timers due, in (time, scheduling) order, including
// those they schedule for now.
func (c *Cluster) runTimers() {
	for len(c.timers) > 0 && !c.timers[0].at.After(c.now) {
		heap.Pop(&c.timers).(timer).fn()
	}
}

// timers is a min-heap of timers by (at, seq).
type timers []timer

func (h timers) Len() int { return len(h) }
func (h timers) Less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
	}
	return h[i].seq < h[j].seq
}
func (h timers) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *timers) Push(x any)   { *h = append(*h, x.(timer)) }
func (h *timers) Pop() any {
	old := *h
	t := old[len(old)-1]
	*h = old[:len(old)-1]
	return t
}

func (c *Cluster) addrs() []string {
	out := make([]string, len(c.nodes))
	for i, sn := range c.nodes {
		out[i] = sn.addr
	}
	return out
}

// boot starts a fresh incarnation of sn: new store, new shell, empty
// memory, the same address and host clock.
func (c *Cluster) boot(sn *simNode) {
	sn.up = true
	sn.inc++
	sn.incKey = fmt.Sprintf("%s/%d", sn.addr, sn.inc)
	sn.boot = c.now
	sn.store = naming.NewStore(sn.addr, hlc.NewClock(sn.addr))
	sn.store.SetFlaws(c.opt.Flaws)
	sn.store.SetExpiry(c.opt.UnhealthyAfter.Milliseconds(), c.opt.DeleteAfter.Milliseconds())
	sn.conns = map[string]bool{}
	sn.flaky = map[string]time.Time{}
	sn.seen = replica.ShellCounters{}
	// I5 bookkeeping and the last owner write, before the shell's own
	// listener (listeners run in registration order).
	sn.store.OnChange(c.listener(sn))
	cfg := replica.ShellConfig{
		Distro: c.opt.Config(sn.addr),
		Membership: membership.TableConfig{Self: sn.addr, ProbeInterval: c.opt.ProbeInterval,
			SuspectAfter: c.opt.SuspectAfter, DownAfter: c.opt.DownAfter},
		ExpireEvery: c.opt.ExpireEvery,
		LiveConn:    func(id string) bool { return sn.conns[id] || c.opt.NoReap },
		Rand:        rand.New(rand.NewPCG(c.rng.Uint64(), c.rng.Uint64())),
	}
	if c.opt.Bug != NoBug {
		cfg.WrapStorage = func(s replica.Storage) distro.Storage { return broken{Storage: s, bug: c.opt.Bug} }
	}
	sh, err := replica.NewShell(cfg, sn.store, sn.t(c.now))
	if err != nil {
		panic(err) // a bad Config is a bug in the test setup
	}
	sn.sh = sh
	sn.ready = c.opt.ReadyBeforeLoad
	sn.slow = c.chaos && c.now.After(epoch) && c.rng.Float64() < c.opt.SlowLoad
	if sn.slow {
		c.res.SlowLoads++
	}
	sn.load = distrotest.NewLoadCheck(sn.addr)
	c.net.SetDown(sn.addr, false)
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
		sn.load.Peer(p.addr, base, c.linked(sn.addr, p.addr))
	}
	c.event("boot", "%s inc=%d slow=%v", sn.addr, sn.inc, sn.slow)
	sh.SetMembers(sn.t(c.now), c.addrs())
	c.afterCall(sn)
	if sn.ready {
		c.checkLoaded(sn)
	}
}

// listener keeps the simulation's books on sn's store changes: the last
// owner write (I1) and, for I5, records dropped during a load. The shell's
// own listener (replica.Shell.Changed) does what the server does.
func (c *Cluster) listener(sn *simNode) func(naming.Change) {
	return func(ch naming.Change) {
		if c.opt.Watch != "" && c.opt.Trace != nil && strings.Contains(ch.Record.Key, c.opt.Watch) {
			m := ch.Record
			fmt.Fprintf(c.opt.Trace, "t=%-8v %-10s %s %s v=%v owner=%s tomb=%v local=%v dropped=%v\n", c.elapsed(), "watch",
				sn.addr, m.Key, m.Version, m.Owner, m.Tombstone, ch.Local, ch.Dropped)
		}
		if ch.Dropped {
			// A record a peer dropped during a load was not held
			// throughout it; one the loader dropped itself before ready (a
			// dead owner's cleanup) is excused.
			for _, l := range c.nodes {
				switch {
				case l.load == nil:
				case l == sn:
					l.load.Dropped(ch.Record.Key)
				default:
					l.load.Changed(sn.addr, ch.Record.Key)
				}
			}
			return
		}
		if ch.Local {
			c.lastWrite = c.now
			if i, ok := c.httpByID[naming.ClientOfKey(ch.Record.Key)]; ok && ch.Record.Tombstone {
				if h := c.http[i]; h.state == hStopped || h.state == hDeregistered {
					h.deleted = c.now
				}
			}
		}
	}
}

// afterCall plays the server loop after every input: observe the store's
// changes (the shell reaps stale own connections), send the outbox, and
// trace what the shell did on its own.
func (c *Cluster) afterCall(sn *simNode) {
	sn.sh.Drain(sn.t(c.now))
	for _, env := range sn.sh.Outbox() {
		c.res.Sent++
		var extra time.Duration
		if dst := c.byAddr[env.To]; dst.slow && !dst.ready && env.Msg.Type() == distro.MsgSnapshotChunk {
			extra = time.Duration(c.probeRng.Int64N(int64(c.opt.ChunkDelay) + 1))
		}
		c.net.SendDelayed(c.now, sn.addr, env, extra)
	}
	sn.sh.Forgotten()
	cnt := sn.sh.Counters()
	if d := cnt.Reaped - sn.seen.Reaped; d > 0 {
		c.res.Reaped += d
		c.event("reap", "%s deleted %d connection clients of an earlier incarnation", sn.addr, d)
	}
	if d := cnt.ExpiryWrites - sn.seen.ExpiryWrites; d > 0 {
		c.res.ExpiryWrites += d
		c.event("expire", "%s changed %d records", sn.addr, d)
	}
	if d := cnt.Rejected - sn.seen.Rejected; d > 0 {
		c.violate("%s rejected %d replicated records", sn.addr, d)
	}
	if cnt.Views != sn.seen.Views {
		c.event("view", "%s %s", sn.addr, viewString(sn.sh.View()))
	}
	sn.seen = cnt
	c.noteReady(sn)
}

func viewString(v membership.View) string {
	var b []byte
	for _, m := range v.Members {
		b = fmt.Appendf(b, "%s=%s ", m.Addr, m.State)
	}
	return string(b)
}

// linked reports whether a and b can talk both ways.
func (c *Cluster) linked(a, b string) bool { return c.net.Reachable(a, b) && c.net.Reachable(b, a) }

// probe plays one probe of peer by sn, as the server's startProbes does
// with the transport's Ping: it succeeds after a round trip if the link
// works both ways then (and the peer is not flaky for sn); it fails at once
// with a refused connection if the peer's process is down (with the
// network's Refuse probability), or else after ProbeTimeout.
func (c *Cluster) probe(sn *simNode, peer string) {
	inc, p := sn.inc, c.byAddr[peer]
	rtt := c.opt.Faults.MinDelay*2 + time.Duration(c.probeRng.Int64N(int64(c.opt.Faults.MaxDelay)+1))
	refused := !p.up && c.probeRng.Float64() < c.opt.Faults.Refuse
	report := func(err error) {
		if sn.up && sn.inc == inc {
			sn.sh.ProbeResult(sn.t(c.now), peer, err)
			c.afterCall(sn)
		}
	}
	if refused {
		c.schedule(c.opt.Faults.MinDelay, func() { report(fmt.Errorf("sim: probe %s: %w", peer, syscall.ECONNREFUSED)) })
		return
	}
	sent := c.now
	c.schedule(rtt, func() {
		if p.up && c.linked(sn.addr, peer) && !c.now.Before(sn.flaky[peer]) && rtt < c.opt.ProbeTimeout {
			report(nil)
			return
		}
		c.schedule(sent.Add(c.opt.ProbeTimeout).Sub(c.now), func() { report(fmt.Errorf("sim: probe %s: %w", peer, context.DeadlineExceeded)) })
	})
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
	c.res.Crashes++
	c.lastFault = c.now
	c.lastCrash = c.now
	c.event("crash", "%s inc=%d", sn.addr, sn.inc)
	for _, o := range c.nodes {
		if o.up && o.load != nil {
			o.load.Break(sn.addr)
		}
	}
	c.onCrash(sn)
}

// deadRestart SIGKILLs a node other than dead and restarts it at once,
// while dead is DOWN in every view (Options.DeadRestart).
func (c *Cluster) deadRestart(dead *simNode) {
	var cands []*simNode
	for _, sn := range c.upNodes() {
		if sn != dead {
			cands = append(cands, sn)
		}
	}
	if len(cands) < 2 {
		return // keep one live peer to load from
	}
	sn := cands[c.rng.IntN(len(cands))]
	c.crash(sn)
	c.restart(sn)
	c.lastFault = maxTime(c.lastFault, c.now.Add(c.opt.DownWithin()+c.opt.Config(sn.addr).OwnerGrace))
	c.res.DeadRestart, c.res.DeadRestartReady = sn.addr, -1
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
	c.res.Partitions++
	c.partitions++
	c.lastFault = c.now
	c.breakLoads()
	c.event("partition", "%v | %v", g1, g2)
}

// breakLoads exempts, for every loading node, the peers it cannot talk to
// both ways now (I5).
func (c *Cluster) breakLoads() {
	for _, sn := range c.nodes {
		if sn.up && sn.load != nil {
			sn.load.BreakUnlinked(c.addrs(), func(p string) bool { return c.linked(sn.addr, p) })
		}
	}
}

func (c *Cluster) block(a, b string) {
	c.net.Block(a, b)
	c.res.Blocks++
	c.partitions++
	c.lastFault = c.now
	c.breakLoads()
	c.event("block", "%s -> %s", a, b)
}

func (c *Cluster) heal() {
	c.net.Heal()
	c.partitions = 0
	if c.longOn {
		c.net.Partition(c.long[0], c.long[1])
		c.partitions = 1
		c.breakLoads()
	}
	c.lastFault = c.now
	c.event("heal", "long partition on=%v", c.longOn)
}

// startLong starts the long partition of Options.LongPartition.
func (c *Cluster) startLong() {
	g1, g2 := distrotest.RandomSplit(c.rng, c.addrs())
	c.long, c.longOn = [2][]string{g1, g2}, true
	c.partition(g1, g2)
	c.event("long", "partition for %v", c.opt.LongPartition)
	c.scheduleFault(c.opt.LongPartition, func() {
		c.longOn = false
		c.heal()
	})
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
			c.scheduleFault(time.Duration(300+c.rng.IntN(2700))*time.Millisecond, func() { c.restart(sn) })
		}
	case k < 4: // partition in two groups for 0.5–4 s
		g1, g2 := distrotest.RandomSplit(c.rng, addrs)
		c.partition(g1, g2)
		c.scheduleFault(time.Duration(500+c.rng.IntN(3500))*time.Millisecond, c.heal)
	case k < 5: // one-way link cut for 0.5–2 s
		i := c.rng.IntN(len(addrs))
		j := (i + 1 + c.rng.IntN(len(addrs)-1)) % len(addrs)
		c.block(addrs[i], addrs[j])
		c.scheduleFault(time.Duration(500+c.rng.IntN(1500))*time.Millisecond, c.heal)
	default: // one node's probes of a peer time out for 0.1–2 s (a flap)
		sn := c.nodes[c.rng.IntN(len(c.nodes))]
		p := c.nodes[c.rng.IntN(len(c.nodes))]
		if sn == p || !sn.up {
			return
		}
		d := time.Duration(100+c.rng.IntN(1900)) * time.Millisecond
		sn.flaky[p.addr] = c.now.Add(d)
		c.res.Flaps++
		c.lastFault = c.now
		c.event("flap", "%s's probes of %s time out for %v", sn.addr, p.addr, d)
	}
}

// --- the driver ---

// step advances virtual time by one Step and runs one round: timers
// (faults, probe answers, client timeouts), probes, deliveries, HTTP hops,
// client actions, ticks, readiness.
func (c *Cluster) step() {
	c.now = c.now.Add(c.opt.Step)
	c.runTimers()
	for _, sn := range c.upNodes() {
		for _, p := range sn.sh.Probes(sn.t(c.now)) {
			c.probe(sn, p)
		}
	}
	for _, d := range c.net.Due(c.now) {
		src, dst := c.byAddr[d.From], c.byAddr[d.To]
		if d.Unreachable {
			if src.up {
				c.trace.Strings("unreachable")
				c.trace.Message(c.now, d.From, d.To, d.Msg, true)
				src.sh.Unreachable(src.t(c.now), d.To, d.Msg)
				c.afterCall(src)
			}
			continue
		}
		if !dst.up {
			continue
		}
		c.res.Delivered++
		c.trace.Message(c.now, d.From, d.To, d.Msg, true)
		dst.sh.Receive(dst.t(c.now), d.From, d.Msg)
		c.afterCall(dst)
	}
	c.deliverHops()
	c.clients()
	for _, sn := range c.upNodes() {
		sn.sh.Tick(sn.t(c.now))
		c.afterCall(sn)
	}
}

// noteReady checks I5 at the call that made sn ready (a Tick, a view
// change, a message), before any later input restarts the background load
// of a peer it gave up on.
func (c *Cluster) noteReady(sn *simNode) {
	if sn.ready || !sn.up || sn.load == nil || !sn.sh.Ready() {
		return
	}
	sn.ready = true
	c.event("ready", "%s after %v", sn.addr, c.now.Sub(sn.boot))
	if sn.addr == c.res.DeadRestart && c.res.DeadRestartReady < 0 {
		c.res.DeadRestartReady = c.now.Sub(sn.boot)
		for _, ps := range sn.sh.Status().Peers {
			if ps.Addr == c.res.Killed {
				c.res.DeadRestartLoad = ps.Snapshot
			}
		}
	}
	c.checkLoaded(sn)
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
	if c.opt.LongPartition > 0 {
		at := time.Duration(1000+c.rng.IntN(2000)) * time.Millisecond
		c.schedule(at, c.startLong)
		end = maxTime(end, epoch.Add(at+c.opt.LongPartition+6*time.Second))
	}
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
	// nodes, keep only delays; maybe one node dies for good. Timers of
	// probes and client requests in flight stay.
	c.chaos = false
	c.quietStart = c.now
	c.longOn = false
	var keep timers
	for _, t := range c.timers {
		if !t.fault {
			keep = append(keep, t)
		}
	}
	heap.Init(&keep)
	c.timers = keep
	c.net.Faults = distrotest.Faults{MinDelay: c.opt.Faults.MinDelay, MaxDelay: c.opt.Faults.MaxDelay}
	c.heal()
	for _, sn := range c.nodes {
		sn.flaky = map[string]time.Time{}
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
	if kill := c.rng.IntN(2) == 0; !c.opt.NoKill && (kill || c.opt.DeadRestart) {
		// Prefer a node that was up during chaos: it has clients to lose.
		victim := alive[c.rng.IntN(len(alive))]
		c.res.Killed = victim.addr
		c.crash(victim)
		c.lastFault = c.now.Add(c.opt.DownWithin() + c.opt.Config(victim.addr).OwnerGrace)
		if c.opt.DeadRestart {
			c.schedule(c.opt.DownWithin()+c.opt.Step, func() { c.deadRestart(victim) })
		}
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
			c.res.Final = append(c.res.Final, sn.sh.Status())
		}
	}
	return c.res
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
