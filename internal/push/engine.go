package push

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/distrod/distrod/internal/api/nacoswire"
	"github.com/distrod/distrod/internal/naming"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
)

// Errors a Target reports from Request.
var (
	// ErrTargetClosed means the target is gone; a push to it counts as done.
	ErrTargetClosed = errors.New("push: target closed")
	// ErrTargetBusy means the target cannot take another request now.
	ErrTargetBusy = errors.New("push: target busy")
)

// TypeNotifySubscriberRequest is the Nacos type of a push.
const TypeNotifySubscriberRequest = "NotifySubscriberRequest"

// Target is a subscriber endpoint that can receive server requests: in
// practice one Nacos 2.x gRPC connection.
type Target interface {
	// ID returns the target's unique, stable id (the connection id).
	ID() string
	// Request sends one server request of type typ whose JSON body carries
	// requestID, and waits until the client acks it with the same
	// requestId. It returns nil for an ack with resultCode 200,
	// ErrTargetClosed when the target is gone, ErrTargetBusy when it cannot
	// queue the request, ctx.Err() on timeout, or another error. The engine
	// calls it from its own goroutines, at most once at a time per target;
	// it must return promptly once ctx is done.
	Request(ctx context.Context, typ, requestID string, body []byte) error
}

// SharedTarget is a Target that can send a request whose body is split in
// two: shared, read-only bytes that the engine passes to every subscriber
// of one service view at once, followed by a small tail of this request's
// own (its requestId). The body on the wire is shared followed by tail.
// The engine sends pushes through RequestShared when a target has it, so
// fanning one view out to many connections copies none of it per
// connection; RequestShared behaves as Request otherwise, and must neither
// change nor keep shared beyond the request.
type SharedTarget interface {
	Target
	RequestShared(ctx context.Context, typ, requestID string, shared, tail []byte) error
}

// Options configures an Engine. Zero fields take the documented defaults.
type Options struct {
	// Store is the data pushed. Required.
	Store *naming.Store
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Delay merges changes of one service before they are pushed; the first
	// change anchors the deadline. Default 5ms (Nacos 500ms).
	Delay time.Duration
	// Timeout is how long one push waits for the client's ack (gRPC and
	// UDP). Default 5s, as Nacos.
	Timeout time.Duration
	// RetryDelay is the wait before a failed gRPC push is retried. Default
	// 1s, as Nacos. gRPC pushes are retried for as long as the subscription
	// lives; UDP pushes are resent once, right after their ack timed out.
	RetryDelay time.Duration
	// QueueSize bounds the pending pushes per target (one per subscribed
	// service and cluster list; a newer change replaces a queued one).
	// Beyond it new keys are dropped and counted. Default 1024.
	QueueSize int
	// UDPAddr is the local address of the UDP socket that sends v1 pushes
	// and receives their acks. Default ":0".
	UDPAddr string
	// UDPIdle expires a UDP subscription that the client has not renewed
	// (v1 clients re-query every cacheMillis = 10s). Default 30s.
	UDPIdle time.Duration
	// UDPRate caps the datagrams sent to one UDP target per second (burst:
	// one second's worth); pushes beyond it are dropped and counted (v1
	// clients also poll every cacheMillis). 0 means no limit.
	UDPRate int
	// Wire builds the serviceInfo documents pushed and stamps their
	// lastRefTime and requestId. Subscribe and query answers must be built
	// by the same builder, so that a client never sees an answer and a push
	// stamped out of order. Default: a builder of the engine's own over
	// Store, with Now and its own Stamps.
	Wire *nacoswire.Builder
	// Logger receives warnings. Default slog.Default().
	Logger *slog.Logger
	// Registry receives the engine's metrics; nil registers nothing.
	Registry prometheus.Registerer
}

func (o *Options) setDefaults() {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Delay <= 0 {
		o.Delay = 5 * time.Millisecond
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.RetryDelay <= 0 {
		o.RetryDelay = time.Second
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 1024
	}
	if o.UDPAddr == "" {
		o.UDPAddr = ":0"
	}
	if o.UDPIdle <= 0 {
		o.UDPIdle = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Wire == nil {
		o.Wire = nacoswire.NewBuilder(o.Store, o.Now, nil)
	}
}

// subKey is one subscription of a target: a service seen through a
// cluster list.
type subKey struct {
	svc      naming.ServiceKey
	clusters string
}

type targetSub struct {
	id       string
	clusters string
}

// target is the engine's state for one subscriber endpoint.
type target struct {
	id  string
	rpc Target // nil for UDP targets
	udp netip.AddrPort
	// subs maps each subscription to its last renewal (UDP expiry).
	subs       map[subKey]time.Time
	agent      string
	limit      *rate.Limiter // UDP targets with Options.UDPRate only
	pending    []subKey
	pendingSet map[subKey]bool
	running    bool
	closed     bool
}

// cacheEntry is the shared part of a push (notifyHead) of one service
// view, valid while the service's generation is unchanged. The first
// worker that needs it builds it; the others wait on done, so a change
// fanned out to thousands of subscribers is built and encoded once.
type cacheEntry struct {
	gen  uint64
	done chan struct{} // closed once head is set
	head []byte        // read-only once done is closed
}

// Engine pushes service changes to the subscribers held by this node. It is
// safe for concurrent use.
type Engine struct {
	o       Options
	builder *nacoswire.Builder
	m       *metrics

	mu      sync.Mutex
	targets map[string]*target
	bySvc   map[naming.ServiceKey]map[targetSub]struct{}
	dirty   map[naming.ServiceKey]time.Time
	// gen changes with every change of a subscribed service; cache holds
	// push bodies built at a generation.
	gen     map[naming.ServiceKey]uint64
	genSeq  uint64
	cache   map[naming.ServiceKey]map[string]*cacheEntry // by service, then clusters
	depth   int
	stopped bool

	kick    chan struct{}
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	started bool

	udp *udpSender
	// broadcast holds the directed broadcast addresses of this host's
	// IPv4 networks, which a UDP push must never be sent to.
	broadcast map[netip.Addr]bool
}

// New returns an engine; call Start before changes are expected to flow.
func New(o Options) *Engine {
	o.setDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	e := &Engine{
		o:       o,
		builder: o.Wire,
		targets: map[string]*target{},
		bySvc:   map[naming.ServiceKey]map[targetSub]struct{}{},
		dirty:   map[naming.ServiceKey]time.Time{},
		gen:     map[naming.ServiceKey]uint64{},
		cache:   map[naming.ServiceKey]map[string]*cacheEntry{},
		kick:    make(chan struct{}, 1),
		ctx:     ctx,
		cancel:  cancel,

		broadcast: localBroadcasts(),
	}
	e.m = newMetrics(o.Registry, o.Logger, e)
	return e
}

// Builder returns the serviceInfo builder the engine pushes from
// (Options.Wire, or the engine's own when that was nil). Subscribe and
// query answers must come from the same builder (see package nacoswire).
func (e *Engine) Builder() *nacoswire.Builder { return e.builder }

// Start opens the UDP socket and starts the scheduler. ctx ends the engine
// like Stop.
func (e *Engine) Start(ctx context.Context) error {
	pc, err := net.ListenPacket("udp", e.o.UDPAddr)
	if err != nil {
		return fmt.Errorf("push: udp listen %s: %w", e.o.UDPAddr, err)
	}
	e.mu.Lock()
	e.started = true
	e.mu.Unlock()
	e.udp = newUDPSender(pc.(*net.UDPConn), e.o.Logger)
	e.wg.Add(2)
	go func() { defer e.wg.Done(); e.udp.readLoop() }()
	go func() { defer e.wg.Done(); e.schedule() }()
	go func() {
		select {
		case <-ctx.Done():
			e.Stop()
		case <-e.ctx.Done():
		}
	}()
	return nil
}

// UDPAddr returns the local address of the UDP push socket (nil before
// Start).
func (e *Engine) UDPAddr() net.Addr {
	if e.udp == nil {
		return nil
	}
	return e.udp.conn.LocalAddr()
}

// Stop ends the scheduler and every push in flight, and waits for them.
func (e *Engine) Stop() {
	e.mu.Lock()
	if e.stopped {
		e.mu.Unlock()
		return
	}
	e.stopped = true
	e.mu.Unlock()
	e.cancel()
	if e.udp != nil {
		e.udp.conn.Close()
	}
	e.wg.Wait()
}

// Subscribe subscribes target to svc seen through clusters (Nacos's
// comma-separated list, "" for all). Subscribing again is a no-op. The
// caller answers the subscribe request with ServiceInfo built after this
// call returns, so no change can fall between the answer and the first
// push; that is why no extra targeted push is sent to a new subscriber
// (Nacos sends one 500ms later, carrying what the answer already held).
func (e *Engine) Subscribe(t Target, svc naming.ServiceKey, clusters string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	tg := e.targets[t.ID()]
	if tg == nil {
		tg = &target{id: t.ID(), rpc: t, subs: map[subKey]time.Time{}, pendingSet: map[subKey]bool{}}
		e.targets[t.ID()] = tg
	}
	e.addSubLocked(tg, subKey{svc, clusters}, e.o.Now())
}

func (e *Engine) addSubLocked(tg *target, k subKey, now time.Time) {
	_, had := tg.subs[k]
	tg.subs[k] = now
	if had {
		return
	}
	m := e.bySvc[k.svc]
	if m == nil {
		m = map[targetSub]struct{}{}
		e.bySvc[k.svc] = m
		e.genSeq++
		e.gen[k.svc] = e.genSeq
	}
	m[targetSub{tg.id, k.clusters}] = struct{}{}
	e.m.subscriptions.Inc()
}

// Unsubscribe ends the subscription of target id to svc through clusters.
func (e *Engine) Unsubscribe(id string, svc naming.ServiceKey, clusters string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if tg := e.targets[id]; tg != nil {
		e.removeSubLocked(tg, subKey{svc, clusters})
		if len(tg.subs) == 0 && !tg.running {
			e.dropLocked(tg)
		}
	}
}

func (e *Engine) removeSubLocked(tg *target, k subKey) {
	if _, ok := tg.subs[k]; !ok {
		return
	}
	delete(tg.subs, k)
	e.m.subscriptions.Dec()
	if tg.pendingSet[k] {
		delete(tg.pendingSet, k)
		for i, p := range tg.pending {
			if p == k {
				tg.pending = append(tg.pending[:i], tg.pending[i+1:]...)
				break
			}
		}
		e.depth--
	}
	m := e.bySvc[k.svc]
	delete(m, targetSub{tg.id, k.clusters})
	// A cached payload of a cluster list nobody subscribes to any more
	// lingers until the service's next change or last unsubscribe.
	if len(m) == 0 {
		delete(e.bySvc, k.svc)
		delete(e.gen, k.svc)
		delete(e.dirty, k.svc)
		delete(e.cache, k.svc)
	}
}

// DropTarget removes every subscription of target id (its connection
// closed) and forgets its pending pushes.
func (e *Engine) DropTarget(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if tg := e.targets[id]; tg != nil {
		e.dropLocked(tg)
	}
}

func (e *Engine) dropLocked(tg *target) {
	for k := range tg.subs {
		e.removeSubLocked(tg, k)
	}
	tg.closed = true
	delete(e.targets, tg.id)
}

// SubscribeUDP subscribes (or renews the subscription of) the v1 client
// listening on addr to svc through clusters. userAgent is the client's
// User-Agent, kept for introspection. A subscription not renewed within
// Options.UDPIdle expires.
func (e *Engine) SubscribeUDP(svc naming.ServiceKey, clusters string, addr netip.AddrPort, userAgent string) {
	if !addr.IsValid() || addr.Port() == 0 {
		return
	}
	addr = netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
	if !e.unicastUDP(addr.Addr()) {
		e.m.dropped.WithLabelValues("udp_target_refused").Inc()
		e.o.Logger.Debug("udp subscription refused: not a unicast address", "addr", addr.String())
		return
	}
	id := "udp:" + addr.String()
	e.mu.Lock()
	defer e.mu.Unlock()
	tg := e.targets[id]
	if tg == nil {
		tg = &target{id: id, udp: addr, subs: map[subKey]time.Time{}, pendingSet: map[subKey]bool{}}
		if e.o.UDPRate > 0 {
			tg.limit = rate.NewLimiter(rate.Limit(e.o.UDPRate), e.o.UDPRate)
		}
		e.targets[id] = tg
	}
	tg.agent = userAgent
	e.addSubLocked(tg, subKey{svc, clusters}, e.o.Now())
}

// expireUDP drops UDP subscriptions idle for at least UDPIdle at now.
func (e *Engine) expireUDP(now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, tg := range e.targets {
		if tg.rpc != nil {
			continue
		}
		for k, seen := range tg.subs {
			if now.Sub(seen) >= e.o.UDPIdle {
				e.removeSubLocked(tg, k)
			}
		}
		if len(tg.subs) == 0 {
			e.dropLocked(tg)
		}
	}
}

// Subscriber describes one subscription, for introspection.
type Subscriber struct {
	// Target is the connection id, or "udp:ip:port" for v1 clients.
	Target string
	// Clusters is the subscribed cluster list ("" for all).
	Clusters string
	// UDP is the v1 client's push address (invalid for gRPC targets).
	UDP netip.AddrPort
	// UserAgent is the v1 client's User-Agent.
	UserAgent string
}

// Subscribers lists the subscribers of svc on this node, sorted by target.
func (e *Engine) Subscribers(svc naming.ServiceKey) []Subscriber {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Subscriber
	for ts := range e.bySvc[svc] {
		tg := e.targets[ts.id]
		s := Subscriber{Target: ts.id, Clusters: ts.clusters}
		if tg != nil && tg.rpc == nil {
			s.UDP, s.UserAgent = tg.udp, tg.agent
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Target != out[j].Target {
			return out[i].Target < out[j].Target
		}
		return out[i].Clusters < out[j].Clusters
	})
	return out
}

// Stats counts the engine's state.
type Stats struct {
	Targets       int
	Subscriptions int
	Pending       int
}

// Stats returns current counts.
func (e *Engine) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := Stats{Targets: len(e.targets), Pending: e.depth}
	for _, m := range e.bySvc {
		st.Subscriptions += len(m)
	}
	return st
}

// OnChange takes a store change; wire it with store.OnChange(e.OnChange).
// It never blocks.
func (e *Engine) OnChange(ch naming.Change) {
	if len(ch.Services) == 0 {
		return
	}
	now := e.o.Now()
	e.mu.Lock()
	marked := false
	for _, svc := range ch.Services {
		if _, ok := e.bySvc[svc]; !ok {
			continue
		}
		e.genSeq++
		e.gen[svc] = e.genSeq
		delete(e.cache, svc)
		if _, ok := e.dirty[svc]; !ok {
			e.dirty[svc] = now.Add(e.o.Delay)
			marked = true
		}
	}
	e.mu.Unlock()
	if marked {
		select {
		case e.kick <- struct{}{}:
		default:
		}
	}
}

// schedule is the engine's timer goroutine: it moves due services into
// their subscribers' queues and expires idle UDP subscriptions.
func (e *Engine) schedule() {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	sweep := time.NewTicker(time.Second)
	defer sweep.Stop()
	for {
		now := e.o.Now()
		next, ok := e.flushDue(now)
		if ok {
			timer.Reset(max(next.Sub(now), 0))
		} else {
			timer.Reset(time.Hour)
		}
		select {
		case <-e.ctx.Done():
			return
		case <-e.kick:
		case <-timer.C:
		case <-sweep.C:
			e.expireUDP(e.o.Now())
		}
	}
}

// flushDue enqueues every service whose merge deadline passed at now to all
// its subscribers, and returns the earliest remaining deadline.
func (e *Engine) flushDue(now time.Time) (time.Time, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var due []naming.ServiceKey
	var next time.Time
	have := false
	for svc, dl := range e.dirty {
		if !dl.After(now) {
			due = append(due, svc)
		} else if !have || dl.Before(next) {
			next, have = dl, true
		}
	}
	sort.Slice(due, func(i, j int) bool { return due[i].Less(due[j]) })
	for _, svc := range due {
		delete(e.dirty, svc)
		subs := make([]targetSub, 0, len(e.bySvc[svc]))
		for ts := range e.bySvc[svc] {
			subs = append(subs, ts)
		}
		sort.Slice(subs, func(i, j int) bool { return subs[i].id < subs[j].id })
		for _, ts := range subs {
			if tg := e.targets[ts.id]; tg != nil {
				e.enqueueLocked(tg, subKey{svc, ts.clusters})
			}
		}
	}
	return next, have
}

// enqueueLocked adds k to tg's pending set (merging with a queued push of
// the same key) and starts the target's worker if it is idle.
func (e *Engine) enqueueLocked(tg *target, k subKey) {
	if tg.closed || e.stopped || tg.pendingSet[k] {
		return
	}
	if _, ok := tg.subs[k]; !ok {
		return
	}
	if len(tg.pending) >= e.o.QueueSize {
		e.m.dropped.WithLabelValues("queue_full").Inc()
		e.o.Logger.Warn("push queue full, dropping push", "target", tg.id, "service", k.svc.String())
		return
	}
	tg.pending = append(tg.pending, k)
	tg.pendingSet[k] = true
	e.depth++
	if !tg.running {
		tg.running = true
		e.wg.Add(1)
		go e.work(tg)
	}
}

// work sends tg's pending pushes one at a time until none is left.
func (e *Engine) work(tg *target) {
	defer e.wg.Done()
	for {
		e.mu.Lock()
		if tg.closed || e.stopped || len(tg.pending) == 0 {
			tg.running = false
			if !tg.closed && len(tg.subs) == 0 {
				e.dropLocked(tg)
			}
			e.mu.Unlock()
			return
		}
		k := tg.pending[0]
		tg.pending = tg.pending[1:]
		delete(tg.pendingSet, k)
		e.depth--
		e.mu.Unlock()
		if tg.rpc != nil {
			e.pushRPC(tg, k)
		} else {
			e.pushUDP(tg, k)
		}
	}
}

// notifyHead returns the shared part of a push of k's current view: the
// NotifySubscriberRequest up to its requestId value (see notifyHead in
// notify.go). It is built once per service generation and cluster list and
// shared by every subscriber; callers must not change it.
func (e *Engine) notifyHead(k subKey) []byte {
	e.mu.Lock()
	gen, subscribed := e.gen[k.svc]
	if c := e.cache[k.svc][k.clusters]; c != nil && c.gen == gen {
		e.mu.Unlock()
		<-c.done
		return c.head
	}
	c := &cacheEntry{gen: gen, done: make(chan struct{})}
	if subscribed {
		if e.cache[k.svc] == nil {
			e.cache[k.svc] = map[string]*cacheEntry{}
		}
		e.cache[k.svc][k.clusters] = c
	}
	e.mu.Unlock()
	e.m.built.Inc()
	c.head = notifyHead(k.svc, e.builder.BuildJSON(k.svc, k.clusters, false))
	close(c.done)
	return c.head
}

func (e *Engine) pushRPC(tg *target, k subKey) {
	id := e.builder.Stamps().RequestID()
	head, tail := e.notifyHead(k), notifyTail(id)
	ctx, cancel := context.WithTimeout(e.ctx, e.o.Timeout)
	start := time.Now()
	var err error
	if st, ok := tg.rpc.(SharedTarget); ok {
		err = st.RequestShared(ctx, TypeNotifySubscriberRequest, id, head, tail)
	} else {
		body := make([]byte, 0, len(head)+len(tail))
		err = tg.rpc.Request(ctx, TypeNotifySubscriberRequest, id, append(append(body, head...), tail...))
	}
	cancel()
	switch {
	case err == nil:
		e.m.acked("grpc", time.Since(start))
	case errors.Is(err, ErrTargetClosed):
		// Nacos counts a push to a vanished connection as done.
	case e.ctx.Err() != nil:
	default:
		e.m.fail("grpc")
		e.o.Logger.Debug("push failed, will retry", "target", tg.id, "service", k.svc.String(), "err", err)
		time.AfterFunc(e.o.RetryDelay, func() {
			e.mu.Lock()
			defer e.mu.Unlock()
			if e.targets[tg.id] == tg {
				e.m.retried.WithLabelValues("grpc").Inc()
				e.enqueueLocked(tg, k)
			}
		})
	}
}
