package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"sync"
	"time"
)

// Replication measures how long a write on node A (Targets[0]) takes to
// become visible on every other node (with a single target: on A itself).
// Clients gRPC connections to A register at a fixed total Rate (default
// 5000/s) into Services (default 100) per-run services; each observing
// node has one gRPC connection subscribed to all of them and times the
// arrival of the NotifySubscriberRequest holding the write. If subscribing
// fails on a node, that node is polled with GET /nacos/v1/ns/instance/list
// instead (noted in the result). Lag is measured from the moment the
// write was issued. A connection keeps one registration per service, so a
// later write by the same connection to the same service supersedes an
// earlier one: a view showing the later write also resolves the earlier
// one (the node has then moved past it). Writes not visible Settle after
// the write phase are counted as errors (not-visible).
func Replication(ctx context.Context, cfg Config) (*Result, error) {
	return runLag(ctx, cfg, "replication", observers(cfg), true)
}

// PushLag measures the lag from a gRPC write on node A until a
// NotifySubscriberRequest carrying it arrives at a subscriber connected to
// node C (the last target; with a single target, A itself). Same mechanics
// as Replication with one observer and no polling fallback; default rate
// 1000/s.
func PushLag(ctx context.Context, cfg Config) (*Result, error) {
	return runLag(ctx, cfg, "push", []string{cfg.Targets[len(cfg.Targets)-1]}, false)
}

func observers(cfg Config) []string {
	if len(cfg.Targets) == 1 {
		return cfg.Targets
	}
	return cfg.Targets[1:]
}

func runID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func runLag(ctx context.Context, cfg Config, name string, obs []string, allowPoll bool) (*Result, error) {
	if len(obs) > 64 {
		return nil, fmt.Errorf("bench: %s: at most 64 observing nodes", name)
	}
	res := newResult(name, cfg)
	// A per-run prefix keeps leftovers of earlier runs out of the views.
	names := serviceNames("bench-lag-"+runID()+"-%d", cfg.Services)
	tr := newLagTracker(cfg.Clients, cfg.Services, len(obs))

	pctx, stopPolls := context.WithCancel(ctx)
	var polls sync.WaitGroup
	defer func() { stopPolls(); polls.Wait() }()
	var subs []*GRPCConn
	defer func() { closeAll(subs) }()
	for i, t := range obs {
		c, err := DialGRPC(ctx, t, cfg.grpcOptions(func(p Push) { tr.saw(i, p.At, p.Info.Hosts) }))
		if err == nil {
			for _, s := range names {
				var si ServiceInfo
				if si, err = c.Subscribe(ctx, cfg.Namespace, s); err != nil {
					break
				}
				tr.saw(i, time.Now(), si.Hosts)
			}
		}
		if err == nil {
			subs = append(subs, c)
			res.Note("observer %s: push", t)
			continue
		}
		if c != nil {
			c.Close()
		}
		if !allowPoll {
			return nil, fmt.Errorf("bench: %s: subscribe on %s: %w", name, t, err)
		}
		res.Note("observer %s: polling (subscribe failed: %v)", t, err)
		polls.Add(1)
		go func() {
			defer polls.Done()
			hc := NewHTTPClient(t, cfg.Timeout)
			defer hc.Close()
			for k := 0; pctx.Err() == nil; k++ {
				si, err := hc.List(pctx, cfg.Namespace, names[k%len(names)])
				if err == nil {
					tr.saw(i, time.Now(), si.Hosts)
				}
			}
		}()
	}

	writers, err := dialAll(ctx, cfg, cfg.Clients, func(int) string { return cfg.Targets[0] }, nil)
	if err != nil {
		return nil, err
	}
	defer closeAll(writers)
	rec, elapsed := timed(ctx, cfg, cfg.Rate, func(ctx context.Context, c int, seq uint64, rec *Recorder) {
		inst := BenchInstance(globalSeq(c, cfg.Clients, seq))
		start := time.Now()
		tr.add(c, seq, start)
		// A write issued before the deadline runs to completion (its own
		// timeout applies), so every issued write is either counted or
		// failed, and its visibility is tracked.
		err := writers[c].RegisterInstance(context.Background(), cfg.Namespace, names[seq%uint64(len(names))], inst)
		if err != nil {
			tr.cancel(c, seq)
		}
		rec.Observe(OpWrite, time.Since(start), err)
	})
	_ = waitFor(ctx, cfg.Settle, func() bool { return tr.outstanding() == 0 })
	lagRecs := tr.finish()

	rec.Declare(OpWrite)
	res.AddOp(OpWrite, rec, elapsed)
	all := NewRecorder()
	all.Declare(OpLag)
	for i, r := range lagRecs {
		all.Merge(r)
		if len(obs) > 1 {
			op := OpLag + "@" + obs[i]
			res.AddOp(op, r.renamed(OpLag, op), elapsed)
		}
	}
	res.AddOp(OpLag, all, elapsed)
	for i, c := range subs {
		res.Gauge("pushes."+obs[i], float64(c.Pushes()))
	}
	return res, nil
}

// lagTracker matches writes to the views observers receive. All methods
// are safe for concurrent use (writers and receive goroutines).
type lagTracker struct {
	mu       sync.Mutex
	clients  int
	services int
	pending  map[lagKey][]pendingWrite
	open     int // writes some observer has not seen yet
	recs     []*Recorder
	full     uint64 // bitmask with one bit per observer
}

type lagKey struct{ writer, svc int }

type pendingWrite struct {
	seq   uint64
	start time.Time
	left  uint64 // observers that have not seen it
}

func newLagTracker(clients, services, observers int) *lagTracker {
	t := &lagTracker{clients: clients, services: services, pending: map[lagKey][]pendingWrite{},
		full: uint64(1)<<observers - 1}
	if observers == 64 {
		t.full = ^uint64(0)
	}
	for range observers {
		r := NewRecorder()
		r.Declare(OpLag)
		t.recs = append(t.recs, r)
	}
	return t
}

func (t *lagTracker) key(writer int, seq uint64) lagKey {
	return lagKey{writer, int(seq % uint64(t.services))}
}

// add notes a write about to be issued.
func (t *lagTracker) add(writer int, seq uint64, start time.Time) {
	t.mu.Lock()
	k := t.key(writer, seq)
	t.pending[k] = append(t.pending[k], pendingWrite{seq: seq, start: start, left: t.full})
	t.open++
	t.mu.Unlock()
}

// cancel forgets a write that failed.
func (t *lagTracker) cancel(writer int, seq uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := t.key(writer, seq)
	l := t.pending[k]
	for i := len(l) - 1; i >= 0; i-- {
		if l[i].seq == seq {
			if l[i].left != 0 {
				t.open--
			}
			t.pending[k] = append(l[:i], l[i+1:]...)
			return
		}
	}
}

// decodeHost inverts BenchInstance(globalSeq(...)): ok is false for hosts
// that are not ours.
func (t *lagTracker) decodeHost(h Host) (writer int, seq uint64, ok bool) {
	ip := net.ParseIP(h.IP).To4()
	if ip == nil || ip[0] != 127 || h.Port < 10000 || h.Port >= 11000 {
		return 0, 0, false
	}
	n := uint64(ip[1])<<16 | uint64(ip[2])<<8 | uint64(ip[3])
	if n == 0 {
		return 0, 0, false
	}
	g := (n-1)*1000 + (h.Port - 10000)
	return int(g % uint64(t.clients)), g / uint64(t.clients), true
}

// saw resolves, for observer obs, every pending write shown (or superseded)
// by hosts, which arrived at at.
func (t *lagTracker) saw(obs int, at time.Time, hosts []Host) {
	bit := uint64(1) << obs
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, h := range hosts {
		w, seq, ok := t.decodeHost(h)
		if !ok {
			continue
		}
		k := t.key(w, seq)
		l := t.pending[k]
		for i := range l {
			if l[i].seq > seq {
				break
			}
			if l[i].left&bit != 0 {
				l[i].left &^= bit
				t.recs[obs].Observe(OpLag, at.Sub(l[i].start), nil)
				if l[i].left == 0 {
					t.open--
				}
			}
		}
		drop := 0
		for drop < len(l) && l[drop].left == 0 {
			drop++
		}
		if drop == len(l) {
			delete(t.pending, k)
		} else if drop > 0 {
			t.pending[k] = l[drop:]
		}
	}
}

func (t *lagTracker) outstanding() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.open
}

// finish counts every write still unseen as a not-visible error for each
// observer that missed it, and returns the per-observer recorders.
func (t *lagTracker) finish() []*Recorder {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, l := range t.pending {
		for _, p := range l {
			for obs := range t.recs {
				if p.left&(uint64(1)<<obs) != 0 {
					t.recs[obs].Observe(OpLag, 0, ErrNotVisible)
				}
			}
		}
	}
	t.pending = map[lagKey][]pendingWrite{}
	t.open = 0
	out := make([]*Recorder, len(t.recs))
	for i, r := range t.recs {
		out[i] = NewRecorder()
		out[i].Merge(r)
	}
	return out
}
