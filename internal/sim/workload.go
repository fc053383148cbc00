package sim

import (
	"fmt"
	"time"

	"github.com/distrod/distrod/internal/hlc"
	"github.com/distrod/distrod/internal/naming"
)

// addrKey identifies an instance inside a service, as Service() dedupes.
type addrKey struct {
	ip      string
	port    int
	cluster string
}

type hState uint8

const (
	hIdle         hState = iota // never registered yet
	hAlive                      // registered and beating
	hStopped                    // stopped beating: must expire
	hDeregistered               // deregistered (and stopped beating)
)

func (s hState) String() string {
	return [...]string{"idle", "alive", "stopped", "deregistered"}[s]
}

// httpClient is a Nacos v1/v2 open-API user: it registers one instance of
// itself under the IP-port client ip:port#true and beats; every request hits
// a random node, which forwards it to the owner of ip:port (forward.go). It
// has at most one request in flight.
type httpClient struct {
	id       string
	inst     naming.Instance
	svc      naming.ServiceKey
	state    hState
	next     time.Time
	inflight *request

	// lastReg and lastLive are when the client last sent a register, and a
	// register or beat (I8 counts from lastLive).
	lastReg, lastLive time.Time
	// sticky clients send every request to the node that answered the
	// last one (entry) until a request fails, as SDKs that keep one
	// server do; the others pick a node per request.
	sticky bool
	entry  *simNode
	// goneAt is when the client learnt its instance is gone: its
	// deregistration was acknowledged, or (stopped) every ready node
	// stopped listing it. Zero while it may be listed. absent holds the
	// node incarnations that did not list it at a check since goneAt
	// (I3: they must not list it again).
	goneAt time.Time
	absent map[string]bool
	// ownerLoading accumulates the time a ready node routed the tag to a
	// node still loading, isolated the time a node that listed it or its
	// owner by that node's ring was cut off from most members, and held
	// the time such a node held expiry after a member came back (each
	// extends the I8 deadline; see naming.Store.SetExpiryHold); reported
	// ends the episode's checks after its first violation.
	ownerLoading, isolated, held time.Duration
	reported, reported8          bool
	// liveVer is the newest version of the client's record a write of it
	// made live.
	liveVer hlc.Version
	// deregUnknown: the acknowledged deregistration found no instance at
	// the node that executed it.
	deregUnknown bool
	// deregBy (incarnation deregInc) executed the acknowledged
	// deregistration and wrote deregTomb. deregLost: it crashed before any
	// other node held that tombstone, so the delete died with it (a known
	// limit: docs/distro.md), and I3 does not hold the episode against the
	// cluster.
	deregBy   *simNode
	deregInc  int
	deregTomb hlc.Version
	deregLost bool
	// listedOn holds the ready node incarnations that listed the instance
	// at the last check made with every link up (I2 while alive);
	// reported2 ends its checks after a first violation.
	listedOn  map[string]bool
	reported2 bool
	// gapUntil: its beats failed for longer than UnhealthyAfter before the
	// last one took effect; an expiry decided on that gap may still arrive
	// until then.
	gapUntil time.Time
	// lastRegAck is when a registration of the client was last
	// acknowledged.
	lastRegAck time.Time
	// execBeat is the newest time (the executing owner's clock, Unix ms)
	// a register or beat of the client took effect on some node.
	execBeat int64
	// deleted is when a node last deleted the instance itself (expiry, or
	// a deregistration) while the client was not beating.
	deleted time.Time
	// lateWrite is when a write of this client last executed past its
	// deadline (only with Options.NoForwardDeadline).
	lateWrite time.Time
}

// gone starts (at != zero) or ends an I3 episode.
func (h *httpClient) gone(at time.Time) {
	h.goneAt, h.absent, h.reported, h.deregUnknown = at, map[string]bool{}, false, false
	h.listedOn = nil
	h.deregBy, h.deregInc, h.deregTomb, h.deregLost = nil, 0, hlc.Version{}, false
	if at.IsZero() {
		h.ownerLoading, h.isolated, h.held, h.reported8, h.deleted = 0, 0, 0, false, time.Time{}
	}
}

type cState uint8

const (
	cIdle      cState = iota // not connected (yet, or between connections)
	cConnected               // holds connection id on node
	cRedo                    // its node crashed: reconnects elsewhere at next
	cGone                    // closed for good, or died with its node
)

// connApp is a Nacos 2.x SDK user: it holds one gRPC connection (client id
// "ms_ip_port") to one node, publishes a single instance and a batch, and
// when the connection dies it reconnects (new id) and re-registers
// everything it had (the SDK's redo).
type connApp struct {
	n     int
	ip    string
	svcA  naming.ServiceKey // single-instance publication
	svcB  naming.ServiceKey // batch publication
	state cState
	id    string
	node  *simNode
	inc   int
	pubs  map[naming.ServiceKey]naming.Publication // the redo set
	next  time.Time
}

// retired is a connection id that no longer has a connection.
type retired struct {
	id   string
	node string
	how  string
}

func svcKey(name string) naming.ServiceKey { return naming.NewServiceKey("", "", name) }

func (c *Cluster) services() []naming.ServiceKey {
	return []naming.ServiceKey{svcKey("batch-0"), svcKey("batch-1"), svcKey("svc-0"), svcKey("svc-1"), svcKey("svc-2"), svcKey("svc-3")}
}

func (c *Cluster) newWorkload() {
	c.ever = map[naming.ServiceKey]map[addrKey]bool{}
	c.httpByID = map[string]int{}
	for i := range c.opt.HTTPClients {
		ip := fmt.Sprintf("10.1.%d.%d", i/200, i%200+1)
		port := 8080 + c.rng.IntN(3)
		in := naming.Instance{IP: ip, Port: port, Weight: 1, Healthy: true, Enabled: true, Ephemeral: true, ClusterName: naming.DefaultCluster}
		if c.rng.IntN(3) == 0 {
			in.ClusterName = "c1"
		}
		c.httpByID[naming.IPPortClientID(ip, port)] = len(c.http)
		c.http = append(c.http, &httpClient{
			id: naming.IPPortClientID(ip, port), inst: in, svc: svcKey(fmt.Sprintf("svc-%d", i%4)),
			next:   epoch.Add(time.Duration(c.rng.Int64N(int64(2 * time.Second)))),
			sticky: i%2 == 0,
		})
	}
	for i := range c.opt.ConnClients {
		c.apps = append(c.apps, &connApp{
			n: i, ip: fmt.Sprintf("172.16.%d.%d", i/200, i%200+1),
			svcA: svcKey(fmt.Sprintf("svc-%d", (i+1)%4)), svcB: svcKey(fmt.Sprintf("batch-%d", i%2)),
			pubs: map[naming.ServiceKey]naming.Publication{},
			next: epoch.Add(time.Duration(c.rng.Int64N(int64(2 * time.Second)))),
		})
	}
}

func (c *Cluster) noteEver(svc naming.ServiceKey, pub naming.Publication) {
	m := c.ever[svc]
	if m == nil {
		m = map[addrKey]bool{}
		c.ever[svc] = m
	}
	for _, in := range pub.Instances {
		m[addrKey{in.IP, in.Port, in.ClusterName}] = true
	}
}

func (c *Cluster) ms(sn *simNode) int64 { return sn.t(c.now).UnixMilli() }

// clients runs every client whose next action is due.
func (c *Cluster) clients() {
	for _, h := range c.http {
		if c.now.Before(h.next) {
			continue
		}
		c.httpAct(h)
	}
	for _, a := range c.apps {
		if c.now.Before(a.next) {
			continue
		}
		c.appAct(a)
	}
}

func (c *Cluster) httpAct(h *httpClient) {
	if h.inflight != nil {
		return // one request at a time: act when it is answered
	}
	beat := c.opt.BeatInterval
	switch h.state {
	case hIdle, hStopped, hDeregistered:
		if !c.chaos {
			h.next = c.now.Add(time.Hour)
			return
		}
		if h.state != hIdle && c.rng.IntN(2) == 0 {
			h.next = c.now.Add(time.Duration(1000+c.rng.IntN(5000)) * time.Millisecond)
			return
		}
		h.state, h.next = hAlive, c.now.Add(beat)
		c.send(h, opRegister)
	case hAlive:
		if c.chaos {
			switch r := c.rng.IntN(100); {
			case r < 2:
				h.state, h.next = hDeregistered, c.now.Add(time.Duration(1000+c.rng.IntN(5000))*time.Millisecond)
				c.send(h, opDeregister)
				return
			case r < 4:
				h.state, h.next = hStopped, c.now.Add(time.Duration(1000+c.rng.IntN(5000))*time.Millisecond)
				c.res.Stops++
				c.event("stop", "%s stops beating", h.id)
				return
			}
		}
		h.next = c.now.Add(beat)
		c.send(h, opBeat)
	}
}

// TagOf returns the ownership tag of an HTTP client.
func TagOf(h *httpClient) string { return naming.TagOf(h.id) }

func (c *Cluster) connect(a *connApp) bool {
	ready := c.readyNodes()
	if len(ready) == 0 {
		return false
	}
	sn := ready[c.rng.IntN(len(ready))]
	c.ports++
	a.id = fmt.Sprintf("%d_%s_%d", c.ms(sn), a.ip, 40000+c.ports)
	a.node, a.inc, a.state = sn, sn.inc, cConnected
	sn.conns[a.id] = true
	c.res.Connects++
	c.event("connect", "app%d %s to %s", a.n, a.id, sn.addr)
	return true
}

func (c *Cluster) appPublish(a *connApp, svc naming.ServiceKey, pub naming.Publication) {
	sn := a.node
	if err := sn.store.Publish(c.ms(sn), a.id, svc, pub); err != nil {
		c.violate("publish %s on %s: %v", a.id, sn.addr, err)
		return
	}
	a.pubs[svc] = pub
	c.noteEver(svc, pub)
	c.res.Publishes++
	c.afterCall(sn)
}

func (c *Cluster) single(a *connApp) naming.Publication {
	return naming.Publication{Instances: []naming.Instance{{IP: a.ip, Port: 7000, Weight: 1, Healthy: true, Enabled: true, Ephemeral: true, ClusterName: naming.DefaultCluster}}}
}

func (c *Cluster) batch(a *connApp) naming.Publication {
	pub := naming.Publication{Batch: true}
	for p := 7001; p <= 7003; p++ {
		if len(pub.Instances) == 0 || c.rng.IntN(2) == 0 {
			pub.Instances = append(pub.Instances, naming.Instance{IP: a.ip, Port: p, Weight: 1, Healthy: true, Enabled: true, Ephemeral: true, ClusterName: naming.DefaultCluster})
		}
	}
	return pub
}

// redo re-publishes the whole redo set on the current connection, in a
// fixed order.
func (c *Cluster) redo(a *connApp) {
	for _, svc := range c.services() {
		if pub, ok := a.pubs[svc]; ok {
			c.appPublish(a, svc, pub)
		}
	}
}

func (c *Cluster) disconnect(a *connApp, how string) {
	sn := a.node
	sn.store.RemoveClient(c.ms(sn), a.id)
	delete(sn.conns, a.id)
	c.retired = append(c.retired, retired{id: a.id, node: sn.addr, how: how})
	c.event("disconnect", "app%d %s from %s (%s)", a.n, a.id, sn.addr, how)
	c.afterCall(sn)
	a.id, a.node = "", nil
}

func (c *Cluster) appAct(a *connApp) {
	next := func() { a.next = c.now.Add(time.Duration(300+c.rng.IntN(2700)) * time.Millisecond) }
	switch a.state {
	case cIdle:
		if !c.chaos {
			a.next = c.now.Add(time.Hour)
			return
		}
		next()
		if !c.connect(a) {
			return
		}
		if len(a.pubs) == 0 {
			c.appPublish(a, a.svcA, c.single(a))
			if c.rng.IntN(5) < 3 {
				c.appPublish(a, a.svcB, c.batch(a))
			}
		} else {
			c.redo(a)
		}
	case cRedo:
		if !c.connect(a) {
			a.next = c.now.Add(200 * time.Millisecond)
			return
		}
		c.res.Reconnects++
		c.redo(a)
		next()
		if !c.chaos {
			a.next = c.now.Add(time.Hour)
		}
	case cConnected:
		if !c.chaos {
			a.next = c.now.Add(time.Hour)
			return
		}
		next()
		switch r := c.rng.IntN(100); {
		case r < 25: // redo: an identical re-publish
			c.redo(a)
		case r < 45:
			c.appPublish(a, a.svcB, c.batch(a))
		case r < 55:
			if _, ok := a.pubs[a.svcA]; ok {
				c.event("unpublish", "app%d %s %s", a.n, a.id, a.svcA.Name)
				a.node.store.Unpublish(c.ms(a.node), a.id, a.svcA)
				delete(a.pubs, a.svcA)
				c.res.Unpublishes++
				c.afterCall(a.node)
			}
		case r < 65:
			if _, ok := a.pubs[a.svcA]; !ok {
				c.appPublish(a, a.svcA, c.single(a))
			}
		case r < 75: // the application closes its connection
			c.res.Disconnects++
			c.disconnect(a, "closed")
			if c.rng.IntN(10) < 3 {
				a.state, a.pubs = cGone, nil
			} else {
				a.state, a.pubs = cIdle, map[naming.ServiceKey]naming.Publication{}
			}
		case r < 82: // the SDK switches servers: new connection, redo
			c.res.Migrations++
			c.disconnect(a, "migrated")
			a.state = cRedo
			a.next = c.now
		}
	}
}

// onCrash: the connections of sn died. Most applications reconnect
// elsewhere after a redo delay; some die with the node (I7 candidates).
func (c *Cluster) onCrash(sn *simNode) {
	c.loseDeletes(sn)
	d := &death{node: sn, inc: sn.inc, at: c.now, checked: map[string]bool{}}
	// Connection clients of an earlier death of sn that a short-lived
	// restart did not reap yet are now a dead owner's clients again.
	for _, old := range c.deaths {
		if old.node == sn && !old.done {
			old.done = true
			d.keys = append(d.keys, old.keys...)
		}
	}
	for _, a := range c.apps {
		if a.state != cConnected || a.node != sn {
			continue
		}
		d.keys = append(d.keys, a.id)
		c.retired = append(c.retired, retired{id: a.id, node: sn.addr, how: "crashed"})
		a.id, a.node = "", nil
		if c.rng.IntN(5) == 0 {
			a.state = cGone
			d.gone = append(d.gone, a)
			d.lost = append(d.lost, pubsOf(c, a)...)
			a.pubs = nil
			c.res.Died++
			continue
		}
		a.state = cRedo
		a.next = c.now.Add(time.Duration(100+c.rng.IntN(1400)) * time.Millisecond)
	}
	c.deaths = append(c.deaths, d)
}

type svcInst struct {
	svc naming.ServiceKey
	in  addrKey
}

func pubsOf(c *Cluster, a *connApp) []svcInst {
	var out []svcInst
	for _, svc := range c.services() {
		pub, ok := a.pubs[svc]
		if !ok {
			continue
		}
		for _, in := range pub.Instances {
			cl := in.ClusterName
			if cl == "" {
				cl = naming.DefaultCluster
			}
			out = append(out, svcInst{svc, addrKey{in.IP, in.Port, cl}})
		}
	}
	return out
}

// loseDeletes marks the acknowledged deregistrations that die with sn: sn
// executed them and no other live node holds their tombstone (or a newer
// version) yet.
func (c *Cluster) loseDeletes(sn *simNode) {
	for _, h := range c.http {
		if h.deregBy != sn || h.deregInc != sn.inc || h.deregLost || h.goneAt.IsZero() {
			continue
		}
		key := naming.PubKey(h.id, h.svc)
		held := false
		for _, o := range c.nodes {
			if o == sn || !o.up {
				continue
			}
			if r, ok := o.store.Get(key); ok && !h.deregTomb.Newer(r.Version) {
				held = true
				break
			}
		}
		if !held {
			h.deregLost = true
			c.res.LostDeletes++
			c.event("lost-delete", "%s: its deregistration died with %s before any other node held it", h.id, sn.addr)
		}
	}
}
