package sim

import (
	"fmt"
	"sort"
	"time"

	"github.com/distrod/distrod/internal/distro"
	"github.com/distrod/distrod/internal/hlc"
	"github.com/distrod/distrod/internal/naming"
)

// Result is the outcome of one run.
type Result struct {
	Seed  uint64
	Nodes int
	// TraceHash hashes every event and every delivered message: equal for
	// equal seeds (determinism).
	TraceHash uint64
	// Violations holds the first 20 invariant violations; ViolationCount
	// counts all of them.
	Violations     []string
	ViolationCount int
	// ConvergedAfter is the time from the last data-changing event of the
	// quiet period (its start, an owner write, a dead owner's grace end)
	// until all live nodes were ready with equal data; -1 if they never
	// were at the end.
	ConvergedAfter time.Duration
	// Killed is the node that died for good at the start of Quiet ("" if
	// none).
	Killed string
	// DeadRestart is the node SIGKILLed and restarted while Killed was
	// already DOWN in every view (Options.DeadRestart; "" if none);
	// DeadRestartReady the time from that boot to Ready (-1 if never),
	// and DeadRestartLoad the state of its load of Killed at that moment
	// ("refused": the dead member refused connections, so readiness did
	// not wait LoadTimeout for it).
	DeadRestart      string
	DeadRestartReady time.Duration
	DeadRestartLoad  string

	Sent, Delivered                              int // protocol messages
	Crashes, Restarts, Partitions, Blocks, Flaps int // faults

	// HTTP workload. ForwardFailures counts writes whose entry node could
	// not reach the owner or timed out; ClientTimeouts, requests the client
	// gave up on; LateHops, forwarded writes or answers held by a cut link
	// and delivered after it healed; Refused, forwarded writes the owner
	// refused past their deadline.
	Registers, Beats, Reregisters, Deregisters, Stops, ExpiryWrites, ForwardFailures int
	ClientTimeouts, LateHops, Refused                                                int
	// LateWrites counts forwarded writes executed past their deadline
	// (only with Options.NoForwardDeadline).
	LateWrites int
	// LostDeletes counts acknowledged deregistrations whose node crashed
	// before any other node held the tombstone; SkewedDeletes, those sent
	// within maxClockSpread of an acknowledged registration (both exempt
	// from I3: docs/distro.md, known limits).
	LostDeletes, SkewedDeletes int
	// SlowLoads counts restarts whose snapshot transfer was throttled.
	SlowLoads int
	// I3Watch counts (client, node) pairs I3 watched after a delete;
	// I8Checks, the expiry deadlines checked.
	I3Watch, I8Checks int
	// Connection workload.
	Connects, Reconnects, Disconnects, Migrations, Publishes, Unpublishes, Died, Reaped int
	// Reads (I4): issued, issued while some link was cut or some node down,
	// and issued on nodes not yet ready.
	Reads, ReadsDuringFaults, ReadsNotReady int
	// StaleChecks counts the I7 deadline checks made.
	StaleChecks int
	// LoadsGivenUp counts reachable peers a loading node gave up on (no
	// progress for LoadTimeout) or stopped waiting for (the load ran past
	// LoadMax), and so were exempt from I5.
	LoadsGivenUp int
	// MustShow and MustHide count the instances the final I2 and I3
	// checks expect present (live clients) and absent (everything else
	// ever published); RetiredIDs the closed or crashed connection ids.
	MustShow, MustHide, RetiredIDs int

	// Final is the core status of every node alive at the end.
	Final []distro.Status
}

// OK reports whether every invariant held.
func (r Result) OK() bool { return r.ViolationCount == 0 }

// Repro is the one-line command that reruns seed with its trace.
func Repro(seed uint64) string {
	return fmt.Sprintf("go test ./internal/sim -run TestSim -seed=%d -v", seed)
}

// Summary is a one-line description of the run.
func (r Result) Summary() string {
	return fmt.Sprintf("seed=%d nodes=%d killed=%q converged=%v msgs=%d/%d crashes=%d partitions=%d blocks=%d flaps=%d "+
		"http[reg=%d beats=%d rereg=%d dereg=%d stop=%d expiry=%d fwdfail=%d timeout=%d late=%d refused=%d latewrites=%d lostdel=%d skewdel=%d i3watch=%d i8=%d] "+
		"conn[connect=%d redo=%d close=%d migrate=%d pub=%d unpub=%d died=%d reaped=%d] reads=%d/%d/%d stale=%d gaveup=%d show=%d hide=%d retired=%d trace=%x",
		r.Seed, r.Nodes, r.Killed, r.ConvergedAfter, r.Delivered, r.Sent, r.Crashes, r.Partitions, r.Blocks, r.Flaps,
		r.Registers, r.Beats, r.Reregisters, r.Deregisters, r.Stops, r.ExpiryWrites, r.ForwardFailures,
		r.ClientTimeouts, r.LateHops, r.Refused, r.LateWrites, r.LostDeletes, r.SkewedDeletes, r.I3Watch, r.I8Checks,
		r.Connects, r.Reconnects, r.Disconnects, r.Migrations, r.Publishes, r.Unpublishes, r.Died, r.Reaped,
		r.Reads, r.ReadsDuringFaults, r.ReadsNotReady, r.StaleChecks, r.LoadsGivenUp, r.MustShow, r.MustHide, r.RetiredIDs, r.TraceHash)
}

// death is a crashed incarnation whose connection clients must vanish
// everywhere within DownWithin + OwnerGrace (+ slack) if it stays dead (I7).
type death struct {
	node    *simNode
	inc     int
	at      time.Time
	keys    []string   // its connection ids at the crash
	gone    []*connApp // applications that died with it
	lost    []svcInst  // their instances
	checked map[string]bool
	done    bool // superseded by a later death of the same node
}

// periodicChecks runs every 50ms of virtual time: I7 deadlines every
// time; I3 and I8 from each HTTP client's point of view, I4 reads and I6
// owners every 200ms (I3 and I8 at other phases than I4 and I6).
func (c *Cluster) periodicChecks() {
	c.checkStaleness()
	c.checks++
	if c.checks%4 == 2 {
		c.checkClients()
	}
	if c.checks%4 == 0 {
		c.issueReads()
		c.checkOwners()
	}
}

// lists reports whether sn lists h's instance (healthy or not).
func lists(sn *simNode, h *httpClient) bool {
	_, id, ok := sn.store.FindInstance(h.svc, h.inst.IP, h.inst.Port, h.inst.ClusterName)
	return ok && id == h.id
}

// checkClients checks, on every ready node, what each HTTP client was
// told:
//
//   - I3: once the client's instance is gone (its deregistration was
//     acknowledged, or it stopped beating, some node deleted it and no
//     ready node lists it any more, after every write it sent is answered
//     or past its deadline), a ready node that learnt of the delete (it
//     holds a tombstone newer than every version the client's writes made
//     live) and did not list it must never list it again, unless the
//     client registered again since. A node that never heard of the
//     instance is not watched, except the node that acknowledged a
//     deregistration which found no instance there: it knew of the delete
//     whether or not it recorded it. A delete that died with its node
//     before any other node held it (deregLost) is a known limit, counted
//     and not held against the cluster.
//   - I8: a client that stopped beating (stopped, or deregistered) must be
//     listed by no ready node ForwardTimeout + DeleteAfter + ExpirySlack
//     after it last sent a register or beat, plus the time some ready
//     node's ring gave the tag to a node still loading.
func (c *Cluster) checkClients() {
	ready := c.readyNodes()
	const skew = 40 * time.Millisecond
	on := make([]bool, len(ready))
	for _, h := range c.http {
		if h.state == hAlive {
			c.checkAlive(ready, h)
			continue
		}
		if h.state == hIdle {
			continue
		}
		anywhere, loading, isolated, held := false, false, false, false
		for i, sn := range ready {
			on[i] = lists(sn, h)
			anywhere = anywhere || on[i]
			o := c.byAddr[sn.sh.Owner(TagOf(h))]
			if o.up && !o.ready {
				loading = true
			}
			for _, n := range []*simNode{sn, o} {
				if !n.up || !on[i] && n == sn {
					continue
				}
				iso, hold := n.sh.ExpiryRestrained(n.t(c.now))
				isolated, held = isolated || iso, held || hold
			}
		}
		settled := h.inflight == nil && c.now.After(h.lastLive.Add(c.opt.ForwardTimeout+skew))
		// A stopped client's instance is gone once some node deleted it
		// (and no ready node lists it): a ready node that never held it
		// (it loaded while cut off) does not make it gone.
		deleted := !h.deleted.IsZero() && !h.deleted.Before(h.lastLive)
		if h.goneAt.IsZero() && settled && deleted && len(ready) > 0 && !anywhere {
			h.gone(c.now)
			c.event("gone", "%s listed by no ready node", h.id)
		}
		// I8
		if loading {
			h.ownerLoading += 200 * time.Millisecond
		}
		if isolated && h.isolated < c.opt.DeleteAfter {
			h.isolated += 200 * time.Millisecond
		}
		if held {
			h.held += 200 * time.Millisecond
		}
		deadline := h.lastLive.Add(c.opt.ForwardTimeout + c.opt.DeleteAfter + c.opt.ExpirySlack + h.ownerLoading + h.isolated + h.held)
		if !h.reported8 && c.now.After(deadline) {
			c.res.I8Checks++
			for i, sn := range ready {
				if on[i] {
					h.reported8 = true
					o := c.byAddr[sn.sh.Owner(TagOf(h))]
					_, holds := o.store.Get(naming.PubKey(h.id, h.svc))
					c.violate("I8: %s still lists %s of %s, %v after its last beat (bound %v; owner by its ring %s up=%v ready=%v holds=%v)",
						sn.addr, h.inst.IP, h.id, c.now.Sub(h.lastLive), deadline.Sub(h.lastLive), o.addr, o.up, o.ready, holds && o.up)
					break
				}
			}
		}
		// I3
		if h.goneAt.IsZero() || h.reported || h.deregLost {
			continue
		}
		for i, sn := range ready {
			k := sn.key()
			switch {
			case !on[i] && !h.absent[k] && (sawDelete(sn, h) || h.deregUnknown && sn == h.deregBy && sn.inc == h.deregInc):
				h.absent[k] = true
				c.res.I3Watch++
			case on[i] && h.absent[k]:
				h.reported = true
				rec, _ := sn.store.Get(naming.PubKey(h.id, h.svc))
				why := fmt.Sprintf("; record %v by %s", rec.Version, rec.Owner)
				if h.deregUnknown {
					why += "; its deregistration found no instance where it ran"
				}
				if h.lateWrite.After(h.goneAt) {
					why += fmt.Sprintf("; a write of it executed past its deadline at t=%v", h.lateWrite.Sub(epoch))
				}
				c.violate("I3: %s lists %s again (%s), gone since t=%v, last register sent t=%v%s", sn.addr, h.id,
					h.state, h.goneAt.Sub(epoch), h.lastReg.Sub(epoch), why)
			}
			if h.reported {
				break
			}
		}
	}
}

// sawDelete reports whether sn holds a tombstone of h's record newer than
// every version a write of h made live: sn does not list the instance
// because it learnt of its deletion, not because it never heard of it (a
// node that loaded while cut off from the owner's side). An expiry counts
// only if it reflects the client's last beat that took effect anywhere: a
// member cut off from the client that expired it on the beats it alone
// saw was wrong, and the beats of the other side must correct it.
func sawDelete(sn *simNode, h *httpClient) bool {
	r, ok := sn.store.Get(naming.PubKey(h.id, h.svc))
	if !ok || !r.Tombstone || !r.Version.Newer(h.liveVer) {
		return false
	}
	return !r.Version.Derived() || r.Version.ReflectedBeat() >= h.execBeat
}

// checkOwners is I6: nodes with equal member views agree on the owner of
// every tag, and the Ring the server routes with agrees with the core.
func (c *Cluster) checkOwners() {
	up := c.upNodes()
	views := make([]string, len(up))
	for i, a := range up {
		views[i] = viewString(a.sh.View())
		ring := a.sh.Ring()
		for _, h := range c.http {
			if o, r := a.sh.Core().Owner(TagOf(h)), ring.Owner(TagOf(h)); o != r {
				c.violate("I6: %s owns %s by %s but its Ring says %s", a.addr, TagOf(h), o, r)
				return
			}
		}
	}
	for i, a := range up {
		for j, b := range up[i+1:] {
			if views[i] != views[i+1+j] {
				continue
			}
			for _, h := range c.http {
				if oa, ob := a.sh.Owner(TagOf(h)), b.sh.Owner(TagOf(h)); oa != ob {
					c.violate("I6: %s and %s share a view but own %s by %s vs %s", a.addr, b.addr, TagOf(h), oa, ob)
					return
				}
			}
		}
	}
}

// checkStaleness is I7: while a crashed node stays dead, every live node
// drops its connection clients within DownWithin + OwnerGrace + slack of the
// crash (or of its own boot, if it booted later).
func (c *Cluster) checkStaleness() {
	for _, d := range c.deaths {
		if d.done || d.node.up {
			continue // restarted: its new incarnation reaps them (checked by I3)
		}
		bound := c.opt.DownWithin() + c.opt.Config(d.node.addr).OwnerGrace + c.opt.StaleSlack
		for _, sn := range c.upNodes() {
			k := fmt.Sprintf("%s/%d", sn.addr, sn.inc)
			from := d.at
			if sn.boot.After(from) {
				from = sn.boot
			}
			if d.checked[k] || c.now.Before(from.Add(bound)) {
				continue
			}
			d.checked[k] = true
			c.res.StaleChecks++
			for _, key := range d.keys {
				if liveClient(sn, key) {
					c.violate("I7: %s still holds %s of %s (dead since t=%v, bound %v)", sn.addr, key, d.node.addr, d.at.Sub(epoch), bound)
				}
			}
			for _, li := range d.lost {
				if id, ok := c.publisher(sn, li); ok && containsStr(d.keys, id) {
					c.violate("I7: %s still shows %s %s:%d of dead %s via %s", sn.addr, li.svc.Name, li.in.ip, li.in.port, d.node.addr, id)
				}
			}
		}
	}
}

// liveClient reports whether sn holds a live publication of client id.
func liveClient(sn *simNode, id string) bool {
	cv, ok := sn.store.Client(id)
	return ok && len(cv.Services) > 0
}

func containsStr(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

// publisher finds the client publishing instance li on sn.
func (c *Cluster) publisher(sn *simNode, li svcInst) (string, bool) {
	_, id, ok := sn.store.FindInstance(li.svc, li.in.ip, li.in.port, li.in.cluster)
	return id, ok
}

// issueReads is I4: every live ready node answers a local read, whatever
// the faults; an answer lists each (ip, port, cluster) once. A node still
// loading answers 503, as the server does: it does not serve reads, which
// is not a violation (counted in ReadsNotReady).
func (c *Cluster) issueReads() {
	svcs := c.services()
	faulty := c.partitions > 0 || len(c.upNodes()) < len(c.nodes)
	for _, sn := range c.upNodes() {
		svc := svcs[c.readRng.IntN(len(svcs))]
		q := naming.Query{HealthyOnly: c.readRng.IntN(2) == 0, EnabledOnly: true}
		c.res.Reads++
		if !sn.ready {
			c.res.ReadsNotReady++
			continue
		}
		if faulty {
			c.res.ReadsDuringFaults++
		}
		func() {
			defer func() {
				if p := recover(); p != nil {
					c.violate("I4: %s panicked answering %s: %v", sn.addr, svc.Name, p)
				}
			}()
			v := sn.store.Service(svc, q)
			seen := map[addrKey]bool{}
			for _, h := range v.Hosts {
				k := addrKey{h.IP, h.Port, h.ClusterName}
				if seen[k] {
					c.violate("I4: %s lists %s:%d twice in %s", sn.addr, h.IP, h.Port, svc.Name)
				}
				seen[k] = true
			}
		}()
	}
}

// checkLoaded is I5: when a restarted node turns ready, it holds (at least
// the version of) every live record that each peer held from the node's
// boot until now without change or drop, and could reach it throughout the
// load (unless the node dropped it itself, as a dead owner's client). A
// peer the core gave up on (no progress for LoadTimeout, e.g. under heavy
// loss) is exempt, as the design allows, and counted in LoadsGivenUp.
func (c *Cluster) checkLoaded(sn *simNode) {
	if d := c.now.Sub(sn.boot); c.opt.ReadyWithin > 0 && d > c.opt.ReadyWithin {
		c.violate("I5: %s took %v to become ready (bound %v)", sn.addr, d, c.opt.ReadyWithin)
	}
	// A peer given up as refusing connections is not exempt here: the
	// simulation refuses only for a process that is down, which the
	// bookkeeping already exempts; so a refusal of a live peer would show.
	gaveUp := map[string]bool{}
	for _, ps := range sn.sh.Status().Peers {
		if ps.Snapshot == "gave-up" || ps.Snapshot == "overdue" {
			gaveUp[ps.Addr] = true
		}
	}
	exempt := func(p string) bool {
		if !c.byAddr[p].up {
			return true
		}
		if gaveUp[p] {
			// Allowed by design (no progress for LoadTimeout: heavy loss;
			// or the whole load ran past LoadMax); counted so that a run
			// shows how often it happens.
			c.res.LoadsGivenUp++
			return true
		}
		return false
	}
	version := func(n, k string) (hlc.Version, bool) {
		r, ok := c.byAddr[n].store.Get(k)
		return r.Version, ok
	}
	for _, m := range sn.load.Missing(exempt, version) {
		c.violate("I5: %s ready without %s@%v that %s held", sn.addr, m.Key, m.Version, m.Peer)
	}
	sn.load = nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// liveMetas returns the live records of sn.
func liveMetas(sn *simNode) []naming.RecordMeta {
	var out []naming.RecordMeta
	for _, m := range sn.store.Metas() {
		if !m.Tombstone {
			out = append(out, m)
		}
	}
	return out
}

// equalData reports whether every live node is ready and holds the same
// live records (equal Store.Digest and equal key, version, owner lists).
func (c *Cluster) equalData() bool {
	up := c.upNodes()
	if len(up) == 0 {
		return true
	}
	// The cores' digests first: O(1) each, and unequal most of the time
	// it matters. Equal core digests already compared in full are trusted
	// until they change (finalChecks compares in full regardless).
	var core uint64
	for i, sn := range up {
		if !sn.ready {
			return false
		}
		d := sn.sh.Status().Digest
		if i > 0 && d != core {
			return false
		}
		core = d
	}
	if c.converged && core == c.equalDigest {
		return true
	}
	ref := up[0].store.Digest()
	for _, sn := range up[1:] {
		if sn.store.Digest() != ref {
			return false
		}
	}
	refMetas := liveMetas(up[0])
	for _, sn := range up[1:] {
		ms := liveMetas(sn)
		if len(ms) != len(refMetas) {
			return false
		}
		for i := range ms {
			if ms[i] != refMetas[i] {
				return false
			}
		}
	}
	c.equalDigest = core
	return true
}

// equalDataFull is equalData without the digest shortcut.
func (c *Cluster) equalDataFull() bool {
	c.equalDigest = 0
	c.converged = false
	return c.equalData()
}

// trackConvergence records, during Quiet, how long after the last
// data-changing event the nodes became equal.
func (c *Cluster) trackConvergence() {
	eq := c.equalData()
	if eq && !c.converged {
		from := c.quietStart
		for _, t := range []time.Time{c.lastWrite, c.lastFault} {
			if t.After(from) {
				from = t
			}
		}
		c.res.ConvergedAfter = max(0, c.now.Sub(from))
	}
	c.converged = eq
}

// finalChecks runs at the end of Quiet: I1, I2, I3, I5 (all ready), the
// core's index against the store, and the retired connection ids.
func (c *Cluster) finalChecks() {
	c.checkStaleness()
	up := c.upNodes()
	c.converged = c.converged && c.equalDataFull()
	if !c.converged {
		c.res.ConvergedAfter = -1
		c.violate("I1: live nodes not converged at the end of Quiet")
		c.explainDivergence()
	} else if c.res.ConvergedAfter > c.opt.ConvergeWithin {
		c.violate("I1: converged %v after the last change, bound %v", c.res.ConvergedAfter, c.opt.ConvergeWithin)
	}
	for _, sn := range up {
		if !sn.ready {
			c.violate("I5: %s not ready at the end", sn.addr)
		}
		if st, n := sn.sh.Status(), len(liveMetas(sn)); st.Live != n {
			c.violate("index: %s core counts %d live records, store holds %d", sn.addr, st.Live, n)
		}
	}

	// Oracle: what must be visible, and what must not.
	want := map[naming.ServiceKey]map[addrKey]bool{}
	healthy := map[naming.ServiceKey]map[addrKey]bool{}
	add := func(m map[naming.ServiceKey]map[addrKey]bool, svc naming.ServiceKey, k addrKey) {
		if m[svc] == nil {
			m[svc] = map[addrKey]bool{}
		}
		m[svc][k] = true
	}
	for _, h := range c.http {
		if h.state == hAlive {
			k := addrKey{h.inst.IP, h.inst.Port, h.inst.ClusterName}
			add(want, h.svc, k)
			add(healthy, h.svc, k)
		}
	}
	for _, a := range c.apps {
		if a.state == cConnected || a.state == cRedo {
			for _, li := range pubsOf(c, a) {
				add(want, li.svc, li.in)
			}
		}
	}
	for _, svc := range c.services() {
		c.res.MustShow += len(want[svc])
		c.res.MustHide += len(c.ever[svc]) - len(want[svc])
	}
	c.res.RetiredIDs = len(c.retired)
	for _, svc := range c.services() {
		var ref []naming.Instance
		for i, sn := range up {
			view := sn.store.Service(svc, naming.Query{})
			got := map[addrKey]naming.Instance{}
			for _, h := range view.Hosts {
				got[addrKey{h.IP, h.Port, h.ClusterName}] = h
			}
			for _, k := range sortedAddrKeys(want[svc]) {
				h, ok := got[k]
				switch {
				case !ok:
					c.violate("I2: %s lacks %s %s:%d/%s of a live client", sn.addr, svc.Name, k.ip, k.port, k.cluster)
				case healthy[svc][k] && !h.Healthy && !view.ReachProtectionThreshold:
					c.violate("I2: %s shows beating %s %s:%d unhealthy", sn.addr, svc.Name, k.ip, k.port)
				}
			}
			for _, k := range sortedAddrKeys(c.ever[svc]) {
				if _, ok := got[k]; ok && !want[svc][k] {
					_, id, _ := sn.store.FindInstance(svc, k.ip, k.port, k.cluster)
					c.violate("I3: %s shows %s %s:%d/%s (client %s) that was deregistered, expired or closed", sn.addr, svc.Name, k.ip, k.port, k.cluster, id)
				}
			}
			if i == 0 {
				ref = view.Hosts
			} else if !sameHosts(ref, view.Hosts) {
				c.violate("I1: %s and %s answer %s differently", up[0].addr, sn.addr, svc.Name)
			}
		}
	}
	for _, r := range c.retired {
		for _, sn := range up {
			if liveClient(sn, r.id) {
				c.violate("I3: %s still holds connection %s (%s on %s)", sn.addr, r.id, r.how, r.node)
			}
		}
	}
}

func sortedAddrKeys(m map[addrKey]bool) []addrKey {
	out := make([]addrKey, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.ip != b.ip {
			return a.ip < b.ip
		}
		if a.port != b.port {
			return a.port < b.port
		}
		return a.cluster < b.cluster
	})
	return out
}

func sameHosts(a, b []naming.Instance) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.IP != y.IP || x.Port != y.Port || x.ClusterName != y.ClusterName || x.Healthy != y.Healthy || x.Weight != y.Weight || x.Enabled != y.Enabled {
			return false
		}
	}
	return true
}

// explainDivergence reports the first records on which live nodes differ.
func (c *Cluster) explainDivergence() {
	up := c.upNodes()
	all := map[string]bool{}
	per := make([]map[string]naming.RecordMeta, len(up))
	for i, sn := range up {
		per[i] = map[string]naming.RecordMeta{}
		for _, m := range liveMetas(sn) {
			per[i][m.Key] = m
			all[m.Key] = true
		}
	}
	n := 0
	for _, k := range sortedKeys(all) {
		var desc string
		differ := false
		for i, sn := range up {
			m, ok := per[i][k]
			if i > 0 {
				m0, ok0 := per[0][k]
				differ = differ || ok != ok0 || m != m0
			}
			if ok {
				desc += fmt.Sprintf(" %s=%v(owner %s)", sn.addr, m.Version, m.Owner)
			} else {
				desc += fmt.Sprintf(" %s=absent", sn.addr)
			}
		}
		if differ {
			c.violate("I1: %s differs:%s", k, desc)
			if n++; n >= 5 {
				return
			}
		}
	}
}

// checkAlive is I2 while links work: the instance of a client whose beats
// keep taking effect never vanishes from a ready node that listed it (at
// the client's latest registration or later) at the previous check, unless some link was cut in between (a node cut off
// from the client may expire it; the heal must then bring it back, and
// must never take it from a node that saw the beats) or a node crashed
// lately (a write it had not synced yet dies with it; the client's next
// beat answers 20404 and it registers again).
func (c *Cluster) checkAlive(ready []*simNode, h *httpClient) {
	recent := 2 * c.opt.BeatInterval
	if c.partitions > 0 || len(ready) == 0 || c.now.Sub(c.lastCrash) < recent || c.now.Before(h.gapUntil) ||
		h.execBeat < c.ms(ready[0])-recent.Milliseconds() {
		h.listedOn = nil
		return
	}
	if h.listedOn == nil {
		h.listedOn = map[string]bool{}
	}
	for _, sn := range ready {
		k := sn.key()
		on := lists(sn, h)
		if h.listedOn[k] && !on && !h.reported2 {
			h.reported2 = true
			c.violate("I2: %s stopped listing %s of %s, a client whose beats keep taking effect (last at %d), with every link up",
				sn.addr, h.inst.IP, h.id, h.execBeat)
		}
		// Only a copy at least as new as the client's latest write counts
		// as listed: a stale replica may still learn of an older expiry
		// before it learns of the registration that followed it.
		r, _ := sn.store.Get(naming.PubKey(h.id, h.svc))
		h.listedOn[k] = on && !h.liveVer.Newer(r.Version)
	}
}
