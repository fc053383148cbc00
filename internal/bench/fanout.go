package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Operation names of the fan-out scenarios.
const (
	// OpFanoutLag is, per subscriber and change, the time from the write
	// of the change until the subscriber got a push reflecting it.
	OpFanoutLag = "push-lag"
	// OpFanoutComplete is, per change (fanout), the time until the last
	// subscriber got it.
	OpFanoutComplete = "complete"
)

// fanoutMarkKey is the metadata key of the probe instance every fan-out
// service holds; its value "svc.seq" names the service index and the
// number of the change that wrote it. Subscribers find it with a byte
// scan instead of decoding the pushed serviceInfo.
const fanoutMarkKey = "fanout.mark"

// fanoutManySubs is the total of subscriptions fanout-many spreads over
// its subscriber connections.
const fanoutManySubs = 20000

func init() {
	RegisterScenario(Scenario{Name: "fanout", Summary: "one service of -instances (1000) hosts, -clients (5000) subscriber connections over the targets; per change of one instance, lag until each subscriber got it",
		Defaults: func(c *Config) {
			setDefault(&c.Clients, 5000)
			setDefault(&c.Instances, 1000)
			setDefaultDuration(&c.Duration, 15*time.Second)
		}, Run: Fanout})
	RegisterScenario(Scenario{Name: "fanout-many", Summary: "-services (1000) services of -instances (10), 20000 subscriptions over -clients (5000) connections, -rate (1000) changes/s; push lag, merged pushes",
		Defaults: func(c *Config) {
			setDefault(&c.Clients, 5000)
			setDefault(&c.Services, 1000)
			setDefault(&c.Instances, 10)
			setDefaultRate(c, 1000)
		}, Run: FanoutMany})
}

// scanRequestID finds the requestId of a server request body without
// decoding it. It reads the first "requestId" string member, which is the
// top-level one for every body a Nacos server sends (no serviceInfo field
// or metadata key of the bench is named so).
func scanRequestID(body []byte) (string, bool) {
	const key = `"requestId":"`
	// Servers put it near the start or (distrod) at the very end; look
	// there before scanning a large body whole.
	i := bytes.Index(body[:min(len(body), 128)], []byte(key))
	if tail := max(0, len(body)-64); i < 0 {
		if i = bytes.Index(body[tail:], []byte(key)); i >= 0 {
			i += tail
		} else {
			i = bytes.Index(body, []byte(key))
		}
	}
	if i < 0 {
		return "", false
	}
	rest := body[i+len(key):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return "", false
	}
	return string(rest[:j]), true
}

// scanMark finds the probe instance's mark in a pushed body.
func scanMark(body []byte) (svc int, seq uint64, ok bool) {
	const key = `"` + fanoutMarkKey + `":"`
	i := bytes.Index(body, []byte(key))
	if i < 0 {
		return 0, 0, false
	}
	rest := body[i+len(key):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return 0, 0, false
	}
	v := rest[:j]
	dot := bytes.IndexByte(v, '.')
	if dot < 0 {
		return 0, 0, false
	}
	s, err1 := strconv.Atoi(string(v[:dot]))
	q, err2 := strconv.ParseUint(string(v[dot+1:]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return s, q, true
}

// probeInstance is the instance whose metadata every change rewrites.
func probeInstance(svc int, seq uint64) Instance {
	in := BenchInstance(1 << 22)
	in.Metadata = map[string]string{"bench": "1", fanoutMarkKey: fmt.Sprintf("%d.%d", svc, seq)}
	return in
}

// fanoutTracker matches the changes written to the pushes subscribers
// receive. Changes of one service are numbered 1, 2, ... in write order;
// a subscriber's state per subscribed service is the last number it saw.
type fanoutTracker struct {
	mu sync.Mutex
	// issued[svc][k-1] is when change k of svc was written (zero: failed).
	issued [][]time.Time
	// okSeq[svc] is the last change of svc whose write succeeded.
	okSeq []uint64
	// last[conn][svc] is the last change of svc conn's pushes showed.
	last []map[int]uint64
	rec  *Recorder

	pushes  uint64 // pushes seen with a mark
	stale   uint64 // pushes showing no new change
	merged  uint64 // pushes that skipped at least one change
	skipped uint64 // changes never shown on their own
}

func newFanoutTracker(services, conns int) *fanoutTracker {
	t := &fanoutTracker{issued: make([][]time.Time, services), okSeq: make([]uint64, services),
		last: make([]map[int]uint64, conns), rec: NewRecorder()}
	for i := range t.last {
		t.last[i] = map[int]uint64{}
	}
	t.rec.Declare(OpFanoutLag)
	return t
}

// subscribe starts tracking svc for conn at change seq (its subscribe
// answer).
func (t *fanoutTracker) subscribe(conn, svc int, seq uint64) {
	t.mu.Lock()
	if seq > t.last[conn][svc] || t.last[conn][svc] == 0 {
		t.last[conn][svc] = seq
	}
	t.mu.Unlock()
}

// issue notes that change seq of svc is about to be written.
func (t *fanoutTracker) issue(svc int, seq uint64, at time.Time) {
	t.mu.Lock()
	for uint64(len(t.issued[svc])) < seq {
		t.issued[svc] = append(t.issued[svc], time.Time{})
	}
	t.issued[svc][seq-1] = at
	t.mu.Unlock()
}

// done notes the outcome of the write of change seq of svc.
func (t *fanoutTracker) done(svc int, seq uint64, err error) {
	t.mu.Lock()
	if err != nil {
		t.issued[svc][seq-1] = time.Time{}
	} else if seq > t.okSeq[svc] {
		t.okSeq[svc] = seq
	}
	t.mu.Unlock()
}

// saw takes a push to conn received at at.
func (t *fanoutTracker) saw(conn int, at time.Time, body []byte) {
	svc, seq, ok := scanMark(body)
	if !ok {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if svc < 0 || svc >= len(t.issued) {
		return
	}
	t.pushes++
	last, subscribed := t.last[conn][svc]
	if !subscribed {
		return
	}
	if seq <= last {
		t.stale++
		return
	}
	if seq > last+1 {
		t.merged++
		t.skipped += seq - last - 1
	}
	for k := last + 1; k <= seq && k <= uint64(len(t.issued[svc])); k++ {
		if t0 := t.issued[svc][k-1]; !t0.IsZero() {
			t.rec.Observe(OpFanoutLag, at.Sub(t0), nil)
		}
	}
	t.last[conn][svc] = seq
}

// behind counts the subscriptions whose subscriber has not seen the last
// successful change of its service.
func (t *fanoutTracker) behind() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, m := range t.last {
		for svc, last := range m {
			if last < t.okSeq[svc] {
				n++
			}
		}
	}
	return n
}

// finish counts every (subscription, change) never shown as a
// not-visible error and returns the lag recorder.
func (t *fanoutTracker) finish() *Recorder {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, m := range t.last {
		for svc, last := range m {
			for k := last + 1; k <= t.okSeq[svc]; k++ {
				if !t.issued[svc][k-1].IsZero() {
					t.rec.Observe(OpFanoutLag, 0, ErrNotVisible)
				}
			}
		}
	}
	out := NewRecorder()
	out.Merge(t.rec)
	return out
}

func (t *fanoutTracker) gauges(res *Result) {
	t.mu.Lock()
	defer t.mu.Unlock()
	res.Gauge("pushes", float64(t.pushes))
	res.Gauge("pushes.stale", float64(t.stale))
	res.Gauge("pushes.merged", float64(t.merged))
	res.Gauge("changes.merged-away", float64(t.skipped))
}

// fanoutSubscribers dials n subscriber connections, connection i to
// Targets[i mod len], and subscribes connection i to the services
// svcs(i). At most 128 handshakes are under way at once.
func fanoutSubscribers(ctx context.Context, cfg Config, n int, names []string, svcs func(i int) []int, tr *fanoutTracker) ([]*GRPCConn, error) {
	conns := make([]*GRPCConn, n)
	sem := make(chan struct{}, 128)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	var failed atomic.Int64
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			o := cfg.grpcOptions(nil)
			o.OnPushRaw = func(at time.Time, body []byte) { tr.saw(i, at, body) }
			c, err := DialGRPC(ctx, cfg.Targets[i%len(cfg.Targets)], o)
			if err == nil {
				conns[i] = c
				for _, s := range svcs(i) {
					// Subscribed before the request: a push racing with the
					// answer is then matched too.
					tr.subscribe(i, s, 0)
					body, _ := json.Marshal(subscribeReq{namingReq: newNamingReq(cfg.Namespace, names[s]), Subscribe: true})
					if err = subscribeRetrying(ctx, c, body); err != nil {
						break
					}
				}
			}
			if err != nil {
				failed.Add(1)
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		closeAll(conns)
		return nil, fmt.Errorf("bench: %d of %d subscribers failed: %w", failed.Load(), n, firstErr)
	}
	return conns, nil
}

// subscribeRetrying sends a SubscribeServiceRequest; while the server has
// not registered the connection yet (resultCode 301, a loaded server
// taking longer than the SDK's 100ms setup wait) it retries, as the SDK
// retries a failed request.
func subscribeRetrying(ctx context.Context, c *GRPCConn, body []byte) error {
	for try := 0; ; try++ {
		_, err := c.Call(ctx, TypeSubscribeServiceRequest, map[string]string{"app": AppName}, body, TypeSubscribeServiceResponse)
		var se *StatusError
		if err == nil || try == 50 || !errors.As(err, &se) || (se.ResultCode != 301 && se.ErrorCode != 301) {
			return err
		}
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// fanoutLoad registers, on node A, instances-1 filler instances into each
// service (one BatchInstanceRequest per service, 16 at a time) and waits
// until every target shows them with the probe. The filler connections
// are returned: closing them would remove their instances.
func fanoutLoad(ctx context.Context, cfg Config, names []string, instances int, probes []*GRPCConn, probeOf func(svc int) int) ([]*GRPCConn, error) {
	fillers, err := dialAll(ctx, cfg, min(16, len(names)), func(i int) string { return cfg.Targets[i%len(cfg.Targets)] }, nil)
	if err != nil {
		return nil, err
	}
	err = forEachClient(len(fillers), func(w int) error {
		for s := w; s < len(names); s += len(fillers) {
			var insts []Instance
			for i := range instances - 1 {
				insts = append(insts, BenchInstance(uint64(i)))
			}
			if len(insts) > 0 {
				if err := fillers[w].BatchRegister(ctx, cfg.Namespace, names[s], insts); err != nil {
					return fmt.Errorf("bench: load %s: %w", names[s], err)
				}
			}
			if err := probes[probeOf(s)].RegisterInstance(ctx, cfg.Namespace, names[s], probeInstance(s, 0)); err != nil {
				return fmt.Errorf("bench: probe %s: %w", names[s], err)
			}
		}
		return nil
	})
	if err == nil {
		err = waitFor(ctx, cfg.Settle+time.Duration(len(names))*10*time.Millisecond, func() bool {
			for _, t := range cfg.Targets {
				c, err := DialGRPC(ctx, t, cfg.grpcOptions(nil))
				if err != nil {
					return false
				}
				ok := true
				for s := len(names) - 1; s >= 0 && ok; s -= max(1, len(names)/20) {
					si, err := c.QueryService(ctx, cfg.Namespace, names[s])
					ok = err == nil && len(si.Hosts) >= instances
				}
				c.Close()
				if !ok {
					return false
				}
			}
			return true
		})
	}
	if err != nil {
		closeAll(fillers)
		return nil, err
	}
	return fillers, nil
}

// Fanout measures push fan-out of one large service: one service of
// Instances hosts (Instances-1 registered in one batch on node A, plus a
// probe instance), Clients subscriber connections spread over the
// targets, each a simulated SDK connection that subscribes and acks its
// pushes. A writer on node A then rewrites the probe's metadata, one
// change at a time: it waits until every subscriber got a push showing the
// change (or Settle passed), pauses 300ms, and writes the next, until
// Duration is over. push-lag has one sample per subscriber and change
// (write issued → push read off the stream); complete one per change (the
// slowest subscriber). A subscriber that never saw a change counts as a
// not-visible error.
func Fanout(ctx context.Context, cfg Config) (*Result, error) {
	res := newResult("fanout", cfg)
	names := []string{"bench-fanout-" + runID()}
	tr := newFanoutTracker(1, cfg.Clients)
	probe, err := DialGRPC(ctx, cfg.Targets[0], cfg.grpcOptions(nil))
	if err != nil {
		return nil, err
	}
	defer probe.Close()
	fillers, err := fanoutLoad(ctx, cfg, names, cfg.Instances, []*GRPCConn{probe}, func(int) int { return 0 })
	if err != nil {
		return nil, err
	}
	defer closeAll(fillers)
	setup := time.Now()
	subs, err := fanoutSubscribers(ctx, cfg, cfg.Clients, names, func(int) []int { return []int{0} }, tr)
	if err != nil {
		return nil, err
	}
	defer closeAll(subs)
	res.Note("%d subscribers connected and subscribed in %s", len(subs), time.Since(setup).Round(time.Millisecond))

	writes, complete := NewRecorder(), NewRecorder()
	writes.Declare(OpWrite)
	complete.Declare(OpFanoutComplete)
	start := time.Now()
	for seq := uint64(1); time.Since(start) < cfg.Duration && ctx.Err() == nil; seq++ {
		t0 := time.Now()
		tr.issue(0, seq, t0)
		err := probe.RegisterInstance(ctx, cfg.Namespace, names[0], probeInstance(0, seq))
		tr.done(0, seq, err)
		writes.Observe(OpWrite, time.Since(t0), err)
		if err != nil {
			continue
		}
		if waitFor(ctx, cfg.Settle, func() bool { return tr.behind() == 0 }) == nil {
			complete.Observe(OpFanoutComplete, time.Since(t0), nil)
		} else {
			complete.Observe(OpFanoutComplete, 0, ErrNotVisible)
		}
		select {
		case <-time.After(300 * time.Millisecond):
		case <-ctx.Done():
		}
	}
	elapsed := time.Since(start)
	res.AddOp(OpWrite, writes, elapsed)
	res.AddOp(OpFanoutLag, tr.finish(), elapsed)
	res.AddOp(OpFanoutComplete, complete, elapsed)
	tr.gauges(res)
	res.Gauge("subscribers", float64(len(subs)))
	return res, nil
}

// FanoutMany measures push lag under many changes: Services services of
// Instances hosts each; 20,000 subscriptions over Clients subscriber
// connections (connection c subscribes to services c·k … c·k+k-1 mod
// Services, k = 20000/Clients), spread over the targets; 250 writer
// connections (spread over the targets, each owning every 250th service)
// rewrite the probe instance of a random owned service at Rate changes/s
// in total for Duration (each writer waits for its write, so the changes of
// one service reach the store in order; 250 writers keep 1000/s offered
// even at 250ms a write). push-lag has one sample per subscription and
// change (write issued → first push showing it or a later change); a push
// that skips changes counts in pushes.merged (changes.merged-away counts
// the changes never shown on their own: latest state wins).
func FanoutMany(ctx context.Context, cfg Config) (*Result, error) {
	res := newResult("fanout-many", cfg)
	names := serviceNames("bench-fanmany-"+runID()+"-%d", cfg.Services)
	perConn := max(1, min(cfg.Services, (fanoutManySubs+cfg.Clients-1)/cfg.Clients))
	tr := newFanoutTracker(cfg.Services, cfg.Clients)
	const writers = 250
	probes, err := dialAll(ctx, cfg, writers, func(i int) string { return cfg.Targets[i%len(cfg.Targets)] }, nil)
	if err != nil {
		return nil, err
	}
	defer closeAll(probes)
	fillers, err := fanoutLoad(ctx, cfg, names, cfg.Instances, probes, func(s int) int { return s % writers })
	if err != nil {
		return nil, err
	}
	defer closeAll(fillers)
	setup := time.Now()
	subs, err := fanoutSubscribers(ctx, cfg, cfg.Clients, names, func(i int) []int {
		out := make([]int, perConn)
		for k := range out {
			out[k] = (i*perConn + k) % cfg.Services
		}
		return out
	}, tr)
	if err != nil {
		return nil, err
	}
	defer closeAll(subs)
	res.Note("%d subscribers with %d subscriptions each connected in %s", len(subs), perConn, time.Since(setup).Round(time.Millisecond))

	wctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	recs := make([]*Recorder, writers)
	start := time.Now()
	_ = forEachClient(writers, func(w int) error {
		rec := NewRecorder()
		recs[w] = rec
		var owned []int
		for s := w; s < cfg.Services; s += writers {
			owned = append(owned, s)
		}
		if len(owned) == 0 {
			return nil
		}
		seqs := make(map[int]uint64, len(owned))
		rng := rand.New(rand.NewPCG(uint64(w), uint64(start.UnixNano())))
		p := newPacer(cfg.Rate, writers)
		for p.wait(wctx) {
			s := owned[rng.IntN(len(owned))]
			seqs[s]++
			seq := seqs[s]
			t0 := time.Now()
			tr.issue(s, seq, t0)
			// A write issued before the deadline runs to completion.
			err := probes[w].RegisterInstance(context.Background(), cfg.Namespace, names[s], probeInstance(s, seq))
			tr.done(s, seq, err)
			rec.Observe(OpWrite, time.Since(t0), err)
		}
		return nil
	})
	elapsed := time.Since(start)
	_ = waitFor(ctx, cfg.Settle, func() bool { return tr.behind() == 0 })
	writes := NewRecorder()
	writes.Declare(OpWrite)
	for _, r := range recs {
		if r != nil {
			writes.Merge(r)
		}
	}
	res.AddOp(OpWrite, writes, elapsed)
	res.AddOp(OpFanoutLag, tr.finish(), elapsed)
	tr.gauges(res)
	res.Gauge("subscribers", float64(len(subs)))
	res.Gauge("subscriptions", float64(len(subs)*perConn))
	return res, nil
}
