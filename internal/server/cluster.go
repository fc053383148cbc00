package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distrod/distrod/internal/config"
	"github.com/distrod/distrod/internal/distro"
	"github.com/distrod/distrod/internal/membership"
	"github.com/distrod/distrod/internal/naming"
	"github.com/distrod/distrod/internal/replica"
	"github.com/distrod/distrod/internal/transport"
)

// event is something the cluster loop must handle; exactly one field set.
type event struct {
	from, to string
	msg      distro.Message
	failed   bool
	probe    *probeResult
	members  []string
	status   chan distro.Status
}

type probeResult struct {
	addr string
	err  error
}

// cluster is the imperative shell around the Distro core: it owns the
// goroutine that drives distro.Node and membership.Table, the transport,
// and the probes. Everything else talks to it through channels and atomics.
type cluster struct {
	cfg   config.Config
	log   *slog.Logger
	store *naming.Store
	node  *distro.Node
	table *membership.Table
	tr    *transport.Transport

	inbox      chan event
	changeMu   sync.Mutex
	changes    []replica.Observation
	stale      []string // own connection clients from before a restart
	changeKick chan struct{}
	// liveConn reports whether this process holds gRPC connection id; set
	// before run by the server (nil: none).
	liveConn func(id string) bool

	ring    atomic.Pointer[distro.Ring]
	ready   atomic.Bool
	applied uint64 // membership view version pushed into the core
	probing map[string]bool
	known   map[string]bool
	done    chan struct{}

	futureRefused atomic.Uint64 // remote records refused by MaxClockOffset
	futureLogged  time.Time     // loop goroutine only
}

func newCluster(cfg config.Config, log *slog.Logger, store *naming.Store, forward transport.ForwardHandler) (*cluster, error) {
	now := time.Now()
	dcfg := distro.DefaultConfig(cfg.SelfAddr())
	dcfg.SyncDelay = cfg.SyncDelay
	dcfg.RetryBackoffBase = cfg.SyncRetryMin
	dcfg.RetryBackoffMax = cfg.SyncRetryMax
	dcfg.VerifyInterval = cfg.VerifyInterval
	dcfg.LoadTimeout = cfg.SnapshotLoadTimeout
	dcfg.TombstoneTTL = cfg.TombstoneTTL
	dcfg.OwnerGrace = cfg.OwnerGrace
	// Larger batches and snapshot chunks than the core's conservative
	// defaults: records are compact binary, the transport takes messages up
	// to 64 MiB, and a join needs fewer round trips.
	dcfg.SyncBatchMaxRecords = 4096
	dcfg.SyncBatchMaxBytes = 4 << 20
	var c *cluster
	adapter := replica.Storage{Store: store, Now: time.Now, MaxClockOffset: cfg.MaxClockOffset, OnReject: func(r distro.Record, err error) {
		if errors.Is(err, replica.ErrFutureVersion) {
			c.refuseFuture(r, err)
			return
		}
		log.Warn("rejected a replicated record", "key", r.Key, "owner", r.Owner, "err", err)
	}}
	node, err := distro.New(dcfg, adapter, rand.New(rand.NewPCG(uint64(now.UnixNano()), 0x5eed)))
	if err != nil {
		return nil, fmt.Errorf("server: distro core: %w", err)
	}
	table, err := membership.NewTable(membership.TableConfigFor(cfg), now)
	if err != nil {
		return nil, fmt.Errorf("server: membership: %w", err)
	}
	c = &cluster{
		cfg: cfg, log: log.With("component", "distro"), store: store, node: node, table: table,
		inbox:      make(chan event, 4096),
		changeKick: make(chan struct{}, 1),
		probing:    map[string]bool{},
		known:      map[string]bool{},
		done:       make(chan struct{}),
	}
	clusterTLS, err := loadClusterTLS(cfg, log)
	if err != nil {
		return nil, err
	}
	c.tr = transport.New(transport.Options{
		Self:       cfg.SelfAddr(),
		PortOffset: cfg.ClusterPortOffset,
		Secret:     cfg.ClusterSecret,
		TLS:        clusterTLS,
		Ready:      c.ready.Load,
		Logger:     c.log,
		Forward:    forward,

		HandshakeTimeout: cfg.ClusterHandshakeTimeout,
	}, c.onMessage, c.onFail)
	c.ring.Store(distro.NewRing([]string{cfg.SelfAddr()}))
	store.OnChange(c.onChange)
	table.SetMembers(now, cfg.Members)
	c.tr.SetMembers(table.View().Addrs())
	return c, nil
}

func (c *cluster) onMessage(from string, msg distro.Message) { c.inbox <- event{from: from, msg: msg} }

func (c *cluster) onFail(to string, msg distro.Message) {
	select {
	case c.inbox <- event{to: to, msg: msg, failed: true}:
	default:
		// The loop is saturated; the core's retry timers and verify rounds
		// recover the message, so dropping the notice is safe.
	}
}

func (c *cluster) onChange(ch naming.Change) {
	o := replica.Observe(ch, c.cfg.SelfAddr(), c.liveConn)
	if !o.Observe {
		return
	}
	c.changeMu.Lock()
	c.changes = append(c.changes, o)
	if o.StaleClient != "" {
		c.stale = append(c.stale, o.StaleClient)
	}
	c.changeMu.Unlock()
	select {
	case c.changeKick <- struct{}{}:
	default:
	}
}

// Route implements the HTTP API's write routing.
func (c *cluster) Route(tag string) (string, bool) {
	owner := c.ring.Load().Owner(tag)
	return owner, owner == "" || owner == c.cfg.SelfAddr()
}

// Owns reports whether this node is responsible for an ip:port tag.
func (c *cluster) Owns(tag string) bool {
	_, local := c.Route(tag)
	return local
}

// Ready reports whether the snapshot load has finished.
func (c *cluster) Ready() bool { return c.ready.Load() }

// Status returns the core's status, computed on the loop goroutine.
func (c *cluster) Status(ctx context.Context) (distro.Status, error) {
	ch := make(chan distro.Status, 1)
	select {
	case c.inbox <- event{status: ch}:
	case <-ctx.Done():
		return distro.Status{}, ctx.Err()
	}
	select {
	case st := <-ch:
		return st, nil
	case <-ctx.Done():
		return distro.Status{}, ctx.Err()
	}
}

// MemberView returns the membership view (safe from any goroutine only via
// the loop, so it rides on Status).
func (c *cluster) serve(lis net.Listener) error { return c.tr.Serve(lis) }

// run drives the core until ctx ends.
func (c *cluster) run(ctx context.Context) {
	defer close(c.done)
	defer c.tr.Close()
	src, interval := membership.SourceFor(c.cfg)
	go func() {
		_ = membership.Watch(ctx, src, interval, func(addrs []string) {
			select {
			case c.inbox <- event{members: addrs}:
			case <-ctx.Done():
			}
		}, func(err error) { c.log.Warn("member source failed", "err", err) })
	}()

	// The core needs a tick within SyncDelay of a change to keep
	// replication lag in milliseconds, but an idle node need not wake every
	// few milliseconds: it ticks fast while there is recent activity
	// (changes, messages) and slowly otherwise; verify rounds, retries and
	// timeouts are all far coarser than the slow tick.
	fast := min(max(c.cfg.SyncDelay/2, time.Millisecond), 50*time.Millisecond)
	const slow = 25 * time.Millisecond
	const busyFor = 250 * time.Millisecond
	timer := time.NewTimer(fast)
	defer timer.Stop()
	busyUntil := time.Now().Add(busyFor)
	c.applyMembers(time.Now())
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-c.inbox:
			c.handle(ctx, ev)
			busyUntil = time.Now().Add(busyFor)
		case <-c.changeKick:
			c.drainChanges()
			busyUntil = time.Now().Add(busyFor)
		case <-timer.C:
			now := time.Now()
			c.drainChanges()
			c.node.Tick(now)
			c.startProbes(ctx, now)
			if now.Before(busyUntil) {
				timer.Reset(fast)
			} else {
				timer.Reset(min(slow, max(fast, c.cfg.ProbeInterval/4)))
			}
		}
		c.flush()
	}
}

func (c *cluster) handle(ctx context.Context, ev event) {
	now := time.Now()
	switch {
	case ev.status != nil:
		ev.status <- c.node.Status()
	case ev.members != nil:
		c.table.SetMembers(now, ev.members)
		c.applyMembers(now)
	case ev.probe != nil:
		delete(c.probing, ev.probe.addr)
		c.table.ProbeResult(now, ev.probe.addr, ev.probe.err == nil, ev.probe.err)
		c.applyMembers(now)
	case ev.failed:
		c.node.Unreachable(now, ev.to, ev.msg)
	case ev.msg != nil:
		// A message proves its sender alive only when the connection
		// authenticated it; otherwise anyone could mark a DOWN member UP.
		if c.tr.Authenticates() && c.table.Heard(now, ev.from) {
			c.applyMembers(now)
		}
		c.node.Step(now, ev.from, ev.msg)
	}
}

func (c *cluster) drainChanges() {
	c.changeMu.Lock()
	chs, stale := c.changes, c.stale
	c.changes, c.stale = nil, nil
	c.changeMu.Unlock()
	now := time.Now()
	for _, o := range chs {
		o.Feed(now, c.node)
	}
	for _, id := range stale {
		if c.store.RemoveClient(now.UnixMilli(), id) {
			c.log.Info("deleted a connection client left from before a restart", "client", id)
		}
	}
	if len(stale) > 0 {
		c.drainChanges()
	}
}

// applyMembers pushes a changed membership view into the core and
// republishes the ownership ring.
func (c *cluster) applyMembers(now time.Time) {
	if c.table.Version() == c.applied && c.applied != 0 {
		return
	}
	view := c.table.View()
	c.applied = view.Version
	ms := make([]distro.Member, 0, len(view.Members))
	present := map[string]bool{}
	for _, m := range view.Members {
		present[m.Addr] = true
		st := distro.StateUp
		switch m.State {
		case membership.Suspicious:
			st = distro.StateSuspicious
		case membership.Down:
			st = distro.StateDown
		}
		ms = append(ms, distro.Member{Addr: m.Addr, State: st})
	}
	c.tr.SetMembers(view.Addrs())
	c.node.SetMembers(now, ms)
	c.ring.Store(distro.NewRing(view.InState(membership.Up, membership.Suspicious)))
	for addr := range c.known {
		if !present[addr] {
			c.tr.Forget(addr)
		}
	}
	c.known = present
	c.ready.Store(c.node.Ready())
	c.log.Info("member view", "version", view.Version, "members", fmt.Sprint(ms))
}

func (c *cluster) startProbes(ctx context.Context, now time.Time) {
	for _, addr := range c.table.Next(now) {
		if c.probing[addr] || addr == c.cfg.SelfAddr() {
			continue
		}
		c.probing[addr] = true
		go func(addr string) {
			pctx, cancel := context.WithTimeout(ctx, c.cfg.ProbeTimeout)
			_, err := c.tr.Ping(pctx, addr)
			cancel()
			select {
			case c.inbox <- event{probe: &probeResult{addr: addr, err: err}}:
			case <-ctx.Done():
			}
		}(addr)
	}
}

func (c *cluster) flush() {
	for _, env := range c.node.Outbox() {
		c.tr.Send(env.To, env.Msg)
	}
	c.ready.Store(c.node.Ready())
}

// flushFor waits, at most d, until no key is queued for any reachable peer,
// so that deletes made during shutdown (closed connections) reach the
// cluster before the process exits.
func (c *cluster) flushFor(d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		st, err := c.Status(ctx)
		cancel()
		if err != nil {
			return
		}
		pending := 0
		for _, p := range st.Peers {
			if p.State != distro.StateDown {
				pending += p.Pending
			}
		}
		c.drainKick()
		if pending == 0 && c.noChanges() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (c *cluster) noChanges() bool {
	c.changeMu.Lock()
	defer c.changeMu.Unlock()
	return len(c.changes) == 0
}

func (c *cluster) drainKick() {
	select {
	case c.changeKick <- struct{}{}:
	default:
	}
}

// refuseFuture counts a remote record refused for a version too far in the
// future and logs it at most every 10s. Called on the loop goroutine.
func (c *cluster) refuseFuture(r distro.Record, err error) {
	n := c.futureRefused.Add(1)
	if now := time.Now(); now.Sub(c.futureLogged) >= 10*time.Second {
		c.futureLogged = now
		c.log.Warn("refused a replicated record from the future: check the clocks of the members (NTP)",
			"key", r.Key, "owner", r.Owner, "err", err, "refused_total", n)
	}
}
