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
	drained  chan struct{} // closed once nothing is pending (flushFor)
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
	tr    peerLink
	// tlsSrc is the cluster TLS files (nil: none), shared with the Raft port.
	tlsSrc *tlsfiles.Source

	inbox      chan event
	changeKick chan struct{}
	// liveConn reports whether this process holds gRPC connection id; set
	// before run by the server (nil: none).
	liveConn func(id string) bool
	// memberSource is polled every memberPoll for the member list.
	memberSource membership.Source
	memberPoll   time.Duration
	probeTimeout time.Duration

	ring  atomic.Pointer[distro.Ring]
	ready atomic.Bool
	done  chan struct{}
	// stopping is closed when the loop stops: the transport's handler
	// and flushFor stop waiting on it.
	stopping chan struct{}
	// bg holds the loop's helper goroutines (member watch, probes); run
	// joins them before it returns.
	bg sync.WaitGroup
	// drainWaiters are flushFor's channels. Loop goroutine only.
	drainWaiters []chan struct{}
	trView       uint64 // member view version last given to the transport

	futureRefused atomic.Uint64 // remote records refused by MaxClockOffset
	futureLogged  time.Time     // loop goroutine only
}

func newCluster(cfg config.Config, opts options, log *slog.Logger, store *naming.Store, link linkFactory, forward transport.ForwardHandler) (*cluster, ownerCaller, error) {
	now := time.Now()
	c := &cluster{
		cfg: cfg, log: log.With("component", "distro"), store: store,
		inbox:      make(chan event, 4096),
		changeKick: make(chan struct{}, 1),
		done:       make(chan struct{}),
		stopping:   make(chan struct{}),

		memberSource: opts.memberSource,
		memberPoll:   opts.memberPoll,
		probeTimeout: opts.probeTimeout,
	}
	shcfg := opts.shell
	shcfg.LiveConn = func(id string) bool { return c.liveConn != nil && c.liveConn(id) }
	shcfg.Rand = rand.New(rand.NewPCG(uint64(now.UnixNano()), 0x5eed))
	shcfg.Logger, shcfg.OnReject = c.log, c.rejected
	sh, err := replica.NewShell(shcfg, store, now)
	if err != nil {
		return nil, nil, fmt.Errorf("server: cluster shell: %w", err)
	}
	c.sh = sh
	clusterTLS, err := loadClusterTLS(cfg, log)
	if err != nil {
		return nil, nil, err
	}
	c.tlsSrc = clusterTLS
	tropts := opts.transport
	tropts.TLS, tropts.Ready, tropts.Logger, tropts.Forward = clusterTLS, c.ready.Load, c.log, forward
	tr := link(tropts, c.onMessage, c.onFail)
	c.tr = tr
	// The shell's listener (registered by NewShell) queues changes; this
	// one wakes the loop to observe them within SyncDelay.
	store.OnChange(func(naming.Change) { c.kick() })
	sh.SetMembers(now, cfg.Members)
	c.publish()
	return c, tr, nil
}

// onMessage is the transport's Handler. It waits for room in the loop's
// inbox (back-pressure on the peer's stream), but not once the loop has
// stopped nor once ctx, the context of the stream that delivered msg, is
// done: a message whose stream has ended is dropped, as the transport
// drops everything still unread on it, and the peer's retries recover it.
func (c *cluster) onMessage(ctx context.Context, from string, msg distro.Message) {
	select {
	case c.inbox <- event{from: from, msg: msg}:
	case <-c.stopping:
	case <-ctx.Done():
	}
}

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
	// Deferred in reverse: stop taking messages, join the helpers, close
	// the transport (joining its goroutines), then report done.
	defer close(c.done)
	defer c.tr.Close()
	defer c.bg.Wait()
	defer close(c.stopping)
	src, interval := c.memberSource, c.memberPoll
	c.bg.Add(1)
	go func() {
		defer c.bg.Done()
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
	case ev.drained != nil:
		c.drainWaiters = append(c.drainWaiters, ev.drained)
		c.kick()
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
		c.bg.Add(1)
		go func(addr string) {
			defer c.bg.Done()
			pctx, cancel := context.WithTimeout(ctx, c.probeTimeout)
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
	c.notifyDrained()
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
// cluster before the process exits. The loop tells it (see drained); it
// does not poll.
func (c *cluster) flushFor(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	ch := make(chan struct{})
	select {
	case c.inbox <- event{drained: ch}:
	case <-t.C:
		return
	case <-c.stopping:
		return
	}
	select {
	case <-ch:
	case <-t.C:
	case <-c.stopping:
	}
}

// notifyDrained closes the drained waiters once nothing is pending for a
// reachable peer and no change waits to be observed. Loop goroutine only.
func (c *cluster) notifyDrained() {
	if len(c.drainWaiters) == 0 {
		return
	}
	if c.sh.QueuedChanges() > 0 {
		c.kick()
		return
	}
	for _, p := range c.sh.Status().Peers {
		if p.State != distro.StateDown && p.Pending > 0 {
			return
		}
	}
	for _, ch := range c.drainWaiters {
		close(ch)
	}
	c.drainWaiters = nil
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
