package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync/atomic"
	"time"

	"github.com/distrod/distrod/internal/config"
	"github.com/distrod/distrod/internal/distro"
	"github.com/distrod/distrod/internal/membership"
	"github.com/distrod/distrod/internal/naming"
	"github.com/distrod/distrod/internal/replica"
	"github.com/distrod/distrod/internal/tlsfiles"
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

// cluster is the imperative shell around replica.Shell, which holds every
// decision (core, membership, ring, readiness, expiry): cluster owns the
// goroutine that drives it with the wall clock, the timers, the probes and
// the transport. Everything else talks to it through channels and atomics.
type cluster struct {
	cfg   config.Config
	log   *slog.Logger
	store *naming.Store
	sh    *replica.Shell
	tr    *transport.Transport
	// tlsSrc is the cluster TLS files (nil: none), shared with the Raft port.
	tlsSrc *tlsfiles.Source

	inbox      chan event
	changeKick chan struct{}
	// liveConn reports whether this process holds gRPC connection id; set
	// before run by the server (nil: none).
	liveConn func(id string) bool

	ring   atomic.Pointer[distro.Ring]
	ready  atomic.Bool
	done   chan struct{}
	trView uint64 // member view version last given to the transport

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
	c := &cluster{
		cfg: cfg, log: log.With("component", "distro"), store: store,
		inbox:      make(chan event, 4096),
		changeKick: make(chan struct{}, 1),
		done:       make(chan struct{}),
	}
	sh, err := replica.NewShell(replica.ShellConfig{
		Distro:      dcfg,
		Membership:  membership.TableConfigFor(cfg),
		ExpireEvery: cfg.ExpireCheckInterval,
		LiveConn:    func(id string) bool { return c.liveConn != nil && c.liveConn(id) },
		Rand:        rand.New(rand.NewPCG(uint64(now.UnixNano()), 0x5eed)),
		Logger:      c.log,

		MaxClockOffset: cfg.MaxClockOffset,
		OnReject:       c.rejected,
		// Without a secret the transport cannot tell who sent a message.
		UntrustedMessages: cfg.ClusterSecret == "",
	}, store, now)
	if err != nil {
		return nil, fmt.Errorf("server: cluster shell: %w", err)
	}
	c.sh = sh
	clusterTLS, err := loadClusterTLS(cfg, log)
	if err != nil {
		return nil, err
	}
	c.tlsSrc = clusterTLS
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
	// The shell's listener (registered by NewShell) queues changes; this
	// one wakes the loop to observe them within SyncDelay.
	store.OnChange(func(naming.Change) { c.kick() })
	sh.SetMembers(now, cfg.Members)
	c.publish()
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

func (c *cluster) kick() {
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

func (c *cluster) serve(lis net.Listener) error { return c.tr.Serve(lis) }

// run drives the shell until ctx ends.
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
	// (changes, messages) and slowly otherwise; verify rounds, retries,
	// timeouts and expiry are all far coarser than the slow tick.
	fast := min(max(c.cfg.SyncDelay/2, time.Millisecond), 50*time.Millisecond)
	const slow = 25 * time.Millisecond
	const busyFor = 250 * time.Millisecond
	timer := time.NewTimer(fast)
	defer timer.Stop()
	busyUntil := time.Now().Add(busyFor)
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-c.inbox:
			c.handle(ev)
			busyUntil = time.Now().Add(busyFor)
		case <-c.changeKick:
			c.sh.Drain(time.Now())
			busyUntil = time.Now().Add(busyFor)
		case <-timer.C:
			now := time.Now()
			c.sh.Tick(now)
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

func (c *cluster) handle(ev event) {
	now := time.Now()
	switch {
	case ev.status != nil:
		ev.status <- c.sh.Status()
	case ev.members != nil:
		c.sh.SetMembers(now, ev.members)
	case ev.probe != nil:
		c.sh.ProbeResult(now, ev.probe.addr, ev.probe.err)
	case ev.failed:
		c.sh.Unreachable(now, ev.to, ev.msg)
	case ev.msg != nil:
		c.sh.Receive(now, ev.from, ev.msg)
	}
}

func (c *cluster) startProbes(ctx context.Context, now time.Time) {
	for _, addr := range c.sh.Probes(now) {
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

// flush sends the shell's outbox, closes connections to members that left
// and republishes the ring and readiness for other goroutines.
func (c *cluster) flush() {
	for _, env := range c.sh.Outbox() {
		c.tr.Send(env.To, env.Msg)
	}
	for _, addr := range c.sh.Forgotten() {
		c.tr.Forget(addr)
	}
	c.publish()
}

func (c *cluster) publish() {
	if r := c.sh.Ring(); c.ring.Load() != r {
		c.ring.Store(r)
	}
	// The transport talks only to current members: it learns every view.
	if v := c.sh.View(); v.Version != c.trView {
		c.trView = v.Version
		c.tr.SetMembers(v.Addrs())
	}
	c.ready.Store(c.sh.Ready())
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
		c.kick()
		if pending == 0 && c.sh.QueuedChanges() == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// rejected is the shell's OnReject: a record from the future is counted
// and logged at most every 10s, anything else logged. Called on the loop
// goroutine.
func (c *cluster) rejected(r distro.Record, err error) {
	if !errors.Is(err, replica.ErrFutureVersion) {
		c.log.Warn("rejected a replicated record", "key", r.Key, "owner", r.Owner, "err", err)
		return
	}
	n := c.futureRefused.Add(1)
	if now := time.Now(); now.Sub(c.futureLogged) >= 10*time.Second {
		c.futureLogged = now
		c.log.Warn("refused a replicated record from the future: check the clocks of the members (NTP)",
			"key", r.Key, "owner", r.Owner, "err", err, "refused_total", n)
	}
}
