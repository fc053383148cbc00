package distrotest

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/distrod/distrod/internal/distro"
	"github.com/distrod/distrod/internal/hlc"
)

// Options configure one simulated run.
type Options struct {
	Seed  uint64
	Nodes int // cluster size (>= 2)
	// ConnKeys is the number of connection-client ids each node incarnation
	// writes; TagKeys the number of ip:port clients in the workload.
	ConnKeys, TagKeys int
	// Step is the virtual time between two driver rounds.
	Step time.Duration
	// Chaos is how long faults and writes go on; Quiet how long the healed
	// cluster then runs before the final checks.
	Chaos, Quiet time.Duration
	// WriteEvery is the mean interval between two workload writes.
	WriteEvery time.Duration
	// Faults during Chaos (Quiet keeps only MinDelay..MaxDelay).
	Faults Faults
	// Config returns the distro config of the node at addr.
	Config func(addr string) distro.Config
	// WrapStore may replace the Storage a node's core sees (e.g. with a
	// broken one); nil uses the MemStore itself.
	WrapStore func(*MemStore) distro.Storage
	// ConvergeWithin bounds the time from the end of Chaos until all nodes
	// are ready with equal digests (I1's "bounded number of verify rounds").
	ConvergeWithin time.Duration
	// NoCrash, NoPartition and NoFlap disable fault kinds.
	NoCrash, NoPartition, NoFlap bool
}

// SimConfig is the distro config the simulation uses by default: the
// production defaults scaled down ~2-10x so a run covers many verify rounds,
// tombstone lifetimes and owner graces, with tiny batches and few buckets so
// batching, chunking and bucket collisions are exercised.
func SimConfig(addr string) distro.Config {
	c := distro.DefaultConfig(addr)
	c.SyncDelay = 10 * time.Millisecond
	c.SyncTimeout = 500 * time.Millisecond
	c.SyncBatchMaxRecords = 8
	c.SyncMaxInflight = 2
	c.RetryBackoffBase = 50 * time.Millisecond
	c.RetryBackoffMax = time.Second
	c.VerifyInterval = 500 * time.Millisecond
	c.VerifyBuckets = 16
	c.VerifyMaxKeys = 8
	c.TombstoneTTL = 3 * time.Second
	c.LoadTimeout = time.Second
	c.LoadMax = 8 * time.Second
	c.SnapshotRequestTimeout = 300 * time.Millisecond
	c.OwnerGrace = 1500 * time.Millisecond
	return c
}

// DefaultOptions returns the options TestSim uses for seed.
func DefaultOptions(seed uint64) Options {
	return Options{
		Seed:     seed,
		Nodes:    3 + int(seed%3),
		ConnKeys: 8,
		TagKeys:  40,
		Step:     5 * time.Millisecond,
		Chaos:    8 * time.Second,
		Quiet:    4 * time.Second,
		// 200 seeds converge in <1s (p50 ~0.5s); 3s = 6 verify rounds.
		ConvergeWithin: 3 * time.Second,
		WriteEvery:     20 * time.Millisecond,
		Faults: Faults{Drop: 0.05, Duplicate: 0.03, MinDelay: time.Millisecond,
			MaxDelay: 40 * time.Millisecond, Refuse: 0.5},
		Config: SimConfig,
	}
}

// Result is the outcome of a run.
type Result struct {
	Seed       uint64
	TraceHash  uint64   // hash of every event; equal for equal seeds
	Violations []string // empty when every invariant held
	// ConvergedAfter is the virtual time from the start of Quiet until every
	// node was ready with equal data (-1 if never).
	ConvergedAfter time.Duration
	Writes         int
	Messages       int
	Crashes        int
	Partitions     int
	Flaps          int
	Final          []distro.Status
}

// OK reports whether no invariant was violated.
func (r Result) OK() bool { return len(r.Violations) == 0 }

type write struct {
	v    hlc.Version
	tomb bool
	node string
	inc  int
}

type simNode struct {
	addr    string
	up      bool
	inc     int
	store   *MemStore
	node    *distro.Node
	clock   *hlc.Clock
	skew    time.Duration
	view    map[string]distro.MemberState
	det     *Detector
	wasRdy  bool
	startAt time.Time
	// load is the I5 bookkeeping until the node is ready (nil after).
	load *LoadCheck
}

// Cluster is a running simulation. Use Run for the standard scenario, or
// drive it step by step (Step, Crash, Restart, Partition, Heal, Write).
type Cluster struct {
	opt    Options
	rng    *rand.Rand
	net    *Network
	nodes  []*simNode
	byAddr map[string]*simNode
	now    time.Time
	start  time.Time
	trace  *Trace
	newest map[string]write
	res    Result
	chaos  bool
	timers []timer
}

// NewCluster builds the nodes of opt and starts them at a fixed epoch.
func NewCluster(opt Options) *Cluster {
	rng := rand.New(rand.NewPCG(opt.Seed, opt.Seed^0x5eed))
	c := &Cluster{
		opt:    opt,
		rng:    rng,
		net:    NewNetwork(rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64())), opt.Faults),
		byAddr: map[string]*simNode{},
		now:    time.Unix(1_700_000_000, 0).UTC(),
		trace:  NewTrace(),
		newest: map[string]write{},
		res:    Result{Seed: opt.Seed, ConvergedAfter: -1},
	}
	c.start = c.now
	for i := range opt.Nodes {
		addr := fmt.Sprintf("10.0.0.%d:8848", i+1)
		sn := &simNode{addr: addr, skew: time.Duration(rng.IntN(41)-20) * time.Millisecond}
		c.nodes = append(c.nodes, sn)
		c.byAddr[addr] = sn
	}
	for _, sn := range c.nodes {
		c.boot(sn)
	}
	return c
}

func (c *Cluster) violate(format string, args ...any) {
	if len(c.res.Violations) < 20 {
		c.res.Violations = append(c.res.Violations, fmt.Sprintf("t=%v ", c.now.Sub(c.start))+fmt.Sprintf(format, args...))
	}
}

func (c *Cluster) boot(sn *simNode) {
	sn.up = true
	sn.inc++
	sn.store = NewMemStore()
	var st distro.Storage = sn.store
	if c.opt.WrapStore != nil {
		st = c.opt.WrapStore(sn.store)
	}
	n, err := distro.New(c.opt.Config(sn.addr), st, rand.New(rand.NewPCG(c.rng.Uint64(), c.rng.Uint64())))
	if err != nil {
		panic(err)
	}
	sn.node = n
	sn.clock = hlc.NewClock(sn.addr)
	sn.view = nil
	sn.det = NewDetector(100*time.Millisecond, 400*time.Millisecond)
	sn.wasRdy = false
	sn.startAt = c.now
	sn.load = NewLoadCheck(sn.addr)
	c.net.SetDown(sn.addr, false)
	for _, p := range c.nodes {
		if p == sn || !p.up {
			continue
		}
		base := map[string]hlc.Version{}
		for _, r := range p.store.Records() {
			if !r.Tombstone {
				base[r.Key] = r.Version
			}
		}
		sn.load.Peer(p.addr, base, c.linked(sn.addr, p.addr))
	}
	c.event("boot", sn.addr, uint64(sn.inc))
	c.updateView(sn)
}

// Crash stops addr, losing its memory; Restart boots it empty.
func (c *Cluster) Crash(addr string) {
	sn := c.byAddr[addr]
	if !sn.up {
		return
	}
	sn.up = false
	c.net.SetDown(addr, true)
	c.res.Crashes++
	c.event("crash", addr, 0)
	for _, o := range c.nodes {
		if o.up && o.load != nil {
			o.load.Break(addr)
		}
	}
}

// Restart boots a crashed node with an empty store.
func (c *Cluster) Restart(addr string) {
	if sn := c.byAddr[addr]; !sn.up {
		c.boot(sn)
	}
}

// Partition splits the cluster into groups of addresses.
func (c *Cluster) Partition(groups ...[]string) {
	c.net.Partition(groups...)
	c.res.Partitions++
	for _, sn := range c.nodes {
		if sn.up && sn.load != nil {
			sn.load.BreakUnlinked(c.addrs(), func(p string) bool { return c.linked(sn.addr, p) })
		}
	}
	c.event("partition", fmt.Sprint(groups), 0)
}

// linked reports whether a and b can talk both ways.
func (c *Cluster) linked(a, b string) bool { return c.net.Reachable(a, b) && c.net.Reachable(b, a) }

// Heal restores all links.
func (c *Cluster) Heal() {
	c.net.Heal()
	c.event("heal", "", 0)
}

func (c *Cluster) event(kind, what string, x uint64) {
	c.trace.Strings(kind)
	c.trace.Strings(what)
	c.trace.U64(uint64(c.now.UnixNano()), x)
}

// updateView recomputes sn's member view from reachability (failure
// detection: SUSPICIOUS after 100ms unreachable, DOWN after 400ms) and
// forced flaps, and calls SetMembers when it changed.
func (c *Cluster) updateView(sn *simNode) {
	members, changed, _ := sn.det.Update(c.now, sn.addr, c.addrs(), func(p string) bool {
		return c.linked(sn.addr, p)
	})
	sn.view = sn.det.View()
	if !changed {
		return
	}
	sn.node.SetMembers(c.now, members)
	c.afterCall(sn)
}

// addrs returns the node addresses in cluster order.
func (c *Cluster) addrs() []string {
	out := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = n.addr
	}
	return out
}

// afterCall plays the shell: feed storage changes to Observe (and the HLC),
// then hand the outbox to the network.
func (c *Cluster) afterCall(sn *simNode) {
	for {
		ch := sn.store.TakeChanges()
		if len(ch) == 0 {
			break
		}
		for _, m := range ch {
			sn.clock.Observe(m.Version)
			sn.node.Observe(c.now, m)
		}
	}
	for _, env := range sn.node.Outbox() {
		c.res.Messages++
		c.net.Send(c.now, sn.addr, env)
	}
}

// Write performs one owner write on sn (tombstone or live).
func (c *Cluster) Write(sn *simNode, key, tag string, tomb bool) {
	v := sn.clock.Next(c.now.Add(sn.skew).UnixMilli())
	r := distro.Record{Key: key, Version: v, Owner: sn.addr, Tag: tag, Tombstone: tomb}
	if !tomb {
		r.Data = []byte(fmt.Sprintf("%s@%s", key, v))
	}
	if !sn.store.Put(r) {
		c.violate("owner write %s %v on %s not installed", key, v, sn.addr)
		return
	}
	c.res.Writes++
	if w, ok := c.newest[key]; !ok || v.Newer(w.v) {
		c.newest[key] = write{v: v, tomb: tomb, node: sn.addr, inc: sn.inc}
	}
	c.trace.Strings(key)
	c.trace.U64(v.Clock, v.Node, v.Sub, v.By)
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

func (c *Cluster) workload() {
	up := c.upNodes()
	if len(up) == 0 {
		return
	}
	sn := up[c.rng.IntN(len(up))]
	if c.rng.IntN(2) == 0 {
		key := fmt.Sprintf("conn/%s/%d/%d", sn.addr, sn.inc, c.rng.IntN(c.opt.ConnKeys))
		cur, ok := sn.store.Get(key)
		c.Write(sn, key, "", ok && !cur.Tombstone && c.rng.IntN(3) == 0)
		return
	}
	i := c.rng.IntN(c.opt.TagKeys)
	tag := fmt.Sprintf("192.168.%d.%d:8080", i/200, i%200)
	key := tag + "#true"
	meta := distro.Meta{Key: key, Tag: tag, Owner: sn.addr}
	if !sn.node.Owns(meta) {
		return // a real write would be forwarded to the owner
	}
	cur, ok := sn.store.Get(key)
	c.Write(sn, key, tag, ok && !cur.Tombstone && c.rng.IntN(3) == 0)
}

// reapOldConnections plays the naming layer of a restarted node: connection
// clients it owned in an earlier incarnation came back with the snapshot,
// but their connections died with the old process, so it deletes them.
func (c *Cluster) reapOldConnections(sn *simNode) {
	prefix := fmt.Sprintf("conn/%s/", sn.addr)
	cur := fmt.Sprintf("conn/%s/%d/", sn.addr, sn.inc)
	keys := sn.store.Select(func(r distro.Record) bool {
		return r.Tag == "" && !r.Tombstone && r.Owner == sn.addr &&
			strings.HasPrefix(r.Key, prefix) && !strings.HasPrefix(r.Key, cur)
	})
	for _, k := range keys {
		c.Write(sn, k, "", true)
	}
}

// Step advances the virtual clock by one step and runs one driver round.
func (c *Cluster) Step() {
	c.now = c.now.Add(c.opt.Step)
	for _, sn := range c.upNodes() {
		c.updateView(sn)
	}
	for _, d := range c.net.Due(c.now) {
		src, dst := c.byAddr[d.From], c.byAddr[d.To]
		if d.Unreachable {
			if src.up {
				c.trace.Strings("unreach")
				c.trace.Message(c.now, d.From, d.To, d.Msg, false)
				src.node.Unreachable(c.now, d.To, d.Msg)
				c.afterCall(src)
			}
			continue
		}
		if !dst.up {
			continue
		}
		c.trace.Message(c.now, d.From, d.To, d.Msg, false)
		dst.node.Step(c.now, d.From, d.Msg)
		c.afterCall(dst)
	}
	if c.chaos && c.opt.WriteEvery > 0 && c.rng.Float64() < float64(c.opt.Step)/float64(c.opt.WriteEvery) {
		c.workload()
	}
	for _, sn := range c.upNodes() {
		sn.node.Tick(c.now)
		c.afterCall(sn)
		if sn.node.Ready() && !sn.wasRdy {
			sn.wasRdy = true
			c.checkLoaded(sn)
		}
		if sn.wasRdy && sn.inc > 1 && c.now.UnixMilli()%100 == 0 {
			c.reapOldConnections(sn)
		}
	}
}

// checkLoaded is I5: when a node turns ready, it holds (at least the
// version of) every live record that each peer held when the node booted,
// still holds unchanged, and could reach it throughout the load.
func (c *Cluster) checkLoaded(sn *simNode) {
	if d := c.now.Sub(sn.startAt); d > 4*c.opt.Config(sn.addr).LoadTimeout {
		c.violate("I5: %s took %v to become ready", sn.addr, d)
	}
	exempt := func(p string) bool { return !c.byAddr[p].up }
	version := func(n, k string) (hlc.Version, bool) {
		r, ok := c.byAddr[n].store.Get(k)
		return r.Version, ok
	}
	for _, m := range sn.load.Missing(exempt, version) {
		c.violate("I5: %s ready without %s@%v that %s held", sn.addr, m.Key, m.Version, m.Peer)
	}
	sn.load = nil
}

// checkOwners is I6: nodes with equal member views agree on every owner.
func (c *Cluster) checkOwners() {
	up := c.upNodes()
	for i, a := range up {
		for _, b := range up[i+1:] {
			if a.view == nil || !maps.Equal(a.view, b.view) {
				continue
			}
			for t := range c.opt.TagKeys {
				tag := fmt.Sprintf("192.168.%d.%d:8080", t/200, t%200)
				if oa, ob := a.node.Owner(tag), b.node.Owner(tag); oa != ob {
					c.violate("I6: %s and %s share a view but own %s by %s vs %s", a.addr, b.addr, tag, oa, ob)
					return
				}
			}
		}
	}
}

func (c *Cluster) chaosEvent() {
	addrs := make([]string, len(c.nodes))
	for i, sn := range c.nodes {
		addrs[i] = sn.addr
	}
	switch c.rng.IntN(6) {
	case 0, 1: // crash one node for 0.3-3s
		if c.opt.NoCrash {
			return
		}
		sn := c.nodes[c.rng.IntN(len(c.nodes))]
		if sn.up && len(c.upNodes()) > 1 {
			c.Crash(sn.addr)
			c.schedule(time.Duration(300+c.rng.IntN(2700))*time.Millisecond, func() { c.Restart(sn.addr) })
		}
	case 2, 3: // partition for 0.5-4s
		if c.opt.NoPartition {
			return
		}
		g1, g2 := RandomSplit(c.rng, addrs)
		c.Partition(g1, g2)
		c.schedule(time.Duration(500+c.rng.IntN(3500))*time.Millisecond, c.Heal)
	default: // one node's view of one peer flaps SUSPICIOUS or DOWN for 0.1-2s
		if c.opt.NoFlap {
			return
		}
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
		c.event("flap", sn.addr+">"+p.addr, uint64(st))
	}
}

type timer struct {
	at time.Time
	fn func()
}

// Run executes the standard scenario: Chaos with random faults and writes,
// then Quiet with everything healed and no writes, then the final checks.
func Run(opt Options) Result {
	c := NewCluster(opt)
	return c.run()
}

func (c *Cluster) schedule(after time.Duration, fn func()) {
	c.timers = append(c.timers, timer{at: c.now.Add(after), fn: fn})
}

func (c *Cluster) run() Result {
	c.chaos = true
	end := c.start.Add(c.opt.Chaos)
	nextEvent := c.now.Add(time.Duration(200+c.rng.IntN(800)) * time.Millisecond)
	nextCheck := c.now
	for c.now.Before(end) {
		c.Step()
		var keep []timer
		for _, t := range c.timers {
			if !t.at.After(c.now) {
				t.fn()
			} else {
				keep = append(keep, t)
			}
		}
		c.timers = keep
		if !c.now.Before(nextEvent) {
			c.chaosEvent()
			nextEvent = c.now.Add(time.Duration(200+c.rng.IntN(800)) * time.Millisecond)
		}
		if !c.now.Before(nextCheck) {
			c.checkOwners()
			nextCheck = c.now.Add(250 * time.Millisecond)
		}
	}
	// Faults stop: heal, restart, clear flaps, keep only delays.
	c.chaos = false
	c.net.Faults = Faults{MinDelay: c.opt.Faults.MinDelay, MaxDelay: c.opt.Faults.MaxDelay}
	c.Heal()
	for _, sn := range c.nodes {
		c.Restart(sn.addr)
		sn.det.ClearFlaps()
	}
	c.timers = nil
	quiet := c.now
	for c.now.Before(quiet.Add(c.opt.Quiet)) {
		c.Step()
		if c.res.ConvergedAfter < 0 && c.converged() {
			c.res.ConvergedAfter = c.now.Sub(quiet)
		}
	}
	c.checkOwners()
	c.finalChecks()
	c.res.TraceHash = c.trace.Sum()
	for _, sn := range c.nodes {
		c.res.Final = append(c.res.Final, sn.node.Status())
	}
	return c.res
}

// liveSet returns key -> version of the live records in sn's store.
func liveSet(sn *simNode) map[string]hlc.Version {
	out := map[string]hlc.Version{}
	for _, r := range sn.store.Records() {
		if !r.Tombstone {
			out[r.Key] = r.Version
		}
	}
	return out
}

func (c *Cluster) converged() bool {
	var d uint64
	for i, sn := range c.nodes {
		st := sn.node.Status()
		if !st.Ready {
			return false
		}
		if i == 0 {
			d = st.Digest
		} else if st.Digest != d {
			return false
		}
	}
	return true
}

// finalChecks: I1 (all nodes hold the same live records, digests equal,
// reached within Quiet), I3 (no deleted client is live anywhere) and no
// rollback (every surviving newest write is what every node holds).
func (c *Cluster) finalChecks() {
	if c.res.ConvergedAfter < 0 || (c.opt.ConvergeWithin > 0 && c.res.ConvergedAfter > c.opt.ConvergeWithin) {
		c.violate("I1: converged after %v (-1: never), bound %v", c.res.ConvergedAfter, c.opt.ConvergeWithin)
	}
	ref := liveSet(c.nodes[0])
	for _, sn := range c.nodes {
		st := sn.node.Status()
		if !st.Ready {
			c.violate("I5: %s not ready at the end", sn.addr)
		}
		set := liveSet(sn)
		if st.Live != len(set) {
			c.violate("index: %s core counts %d live records, store holds %d", sn.addr, st.Live, len(set))
		}
		for _, k := range sortedKeys(set) {
			if rv, ok := ref[k]; !ok || rv != set[k] {
				c.violate("I1: %s holds %s@%v, %s holds %v (present=%v)", sn.addr, k, set[k], c.nodes[0].addr, rv, ok)
			}
		}
		for _, k := range sortedKeys(ref) {
			if _, ok := set[k]; !ok {
				c.violate("I1: %s lacks %s@%v held by %s", sn.addr, k, ref[k], c.nodes[0].addr)
			}
		}
		if st.Digest != c.nodes[0].node.Status().Digest {
			c.violate("I1: digest of %s differs", sn.addr)
		}
	}
	for _, k := range sortedKeys(c.newest) {
		w := c.newest[k]
		writer := c.byAddr[w.node]
		survived := writer.inc == w.inc // the writer did not crash since
		for _, sn := range c.nodes {
			r, ok := sn.store.Get(k)
			live := ok && !r.Tombstone
			switch {
			case live && r.Version.Newer(w.v):
				c.violate("phantom: %s holds %s@%v newer than any write (%v)", sn.addr, k, r.Version, w.v)
			case !survived:
			case w.tomb && live:
				c.violate("I3: %s resurrected %s@%v after delete %v by %s", sn.addr, k, r.Version, w.v, w.node)
			case !w.tomb && (!ok || r.Version != w.v):
				c.violate("lost/rolled back: %s holds %s present=%v %v, newest write %v by %s", sn.addr, k, ok, r.Version, w.v, w.node)
			}
		}
	}
}

// Repro is the command that reruns a failing seed.
func Repro(seed uint64) string {
	return fmt.Sprintf("go test ./internal/distro -run 'TestSim_Seeds' -seed=%d -v", seed)
}
