package server

import (
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/distrod/distrod/internal/cp"
	"github.com/distrod/distrod/internal/naming"
)

// TestProber_ManySimultaneousChangesAreFewWrites: 1,000 instances whose
// probes all fail turn unhealthy through ceil(1000/batchMax) control
// plane writes, with never more probes at once than the workers, and a
// round that changes nothing writes nothing.
func TestProber_ManySimultaneousChangesAreFewWrites(t *testing.T) {
	const n, workers, batchMax = 1000, 8, 300
	fsm := cp.NewFSM(nil)
	var index uint64
	applyCmd := func(c cp.Command) error {
		b, err := json.Marshal(c)
		if err != nil {
			return err
		}
		index++
		res, _ := fsm.Apply(&raft.Log{Index: index, Data: b}).(error)
		return res
	}
	for s := range 10 {
		k := naming.NewServiceKey("", "", "svc"+strconv.Itoa(s))
		for i := range n / 10 {
			in := naming.Instance{IP: "127.1." + strconv.Itoa(s) + "." + strconv.Itoa(i), Port: 9, Healthy: true}
			if err := applyCmd(cp.Command{Op: cp.OpPersistentRegister, Service: &k, Persistent: &in}); err != nil {
				t.Fatal(err)
			}
		}
	}

	var (
		mu       sync.Mutex
		writes   int
		ops      = map[cp.Op]int{}
		updated  int
		inFlight atomic.Int64
		maxSeen  atomic.Int64
	)
	written := make(chan struct{}, 100)
	p := &prober{
		workers:      workers,
		batchMax:     batchMax,
		window:       time.Hour, // only the size bound and the round's end flush
		writeTimeout: time.Minute,
		log:          slog.New(slog.DiscardHandler),
		entries:      fsm.AllPersistent,
		mine:         func(naming.Instance) bool { return true },
		probe: func(context.Context, cp.PersistentEntry) (bool, error) {
			cur := inFlight.Add(1)
			defer inFlight.Add(-1)
			for {
				m := maxSeen.Load()
				if cur <= m || maxSeen.CompareAndSwap(m, cur) {
					break
				}
			}
			return false, nil
		},
		apply: func(_ context.Context, c cp.Command) error {
			mu.Lock()
			writes++
			ops[c.Op]++
			updated += len(c.Health)
			mu.Unlock()
			err := applyCmd(c)
			written <- struct{}{}
			return err
		},
	}
	p.init()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.writeLoop(ctx) }()
	defer func() { cancel(); <-done }()

	p.round(ctx) // first failure of each: no change yet (hysteresis)
	p.round(ctx) // second: every instance changes
	wantWrites := (n + batchMax - 1) / batchMax
	for range wantWrites {
		select {
		case <-written:
		case <-time.After(30 * time.Second):
			t.Fatal("fewer writes than the batches of the changes")
		}
	}
	for _, e := range fsm.AllPersistent() {
		if e.Instance.Healthy {
			t.Fatalf("%s still healthy", e.Key)
		}
	}
	p.round(ctx) // nothing changes: the flush at its end writes nothing
	p.round(ctx)
	mu.Lock()
	defer mu.Unlock()
	if writes != wantWrites || ops[cp.OpPersistentHealthBatch] != wantWrites || updated != n {
		t.Fatalf("%d writes (%v) carrying %d updates, want %d batch writes carrying %d", writes, ops, updated, wantWrites, n)
	}
	if m := maxSeen.Load(); m > workers {
		t.Fatalf("%d probes ran at once, want at most %d", m, workers)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.streak) != 0 {
		t.Fatalf("%d streaks left after the writes", len(p.streak))
	}
}
