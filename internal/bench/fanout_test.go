package bench

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func markBody(svc int, seq uint64) []byte {
	return []byte(fmt.Sprintf(`{"serviceInfo":{"hosts":[{"metadata":{%q:"%d.%d"}}]},"requestId":"1"}`, fanoutMarkKey, svc, seq))
}

// A push resolves every change up to the one it shows; one that skips
// changes counts as merged; an old one counts as stale; changes never
// shown are not-visible errors.
func TestFanoutTracker_CountsLagMergesAndMisses(t *testing.T) {
	tr := newFanoutTracker(2, 2)
	tr.subscribe(0, 0, 0)
	tr.subscribe(1, 0, 0)
	tr.subscribe(1, 1, 0)
	t0 := time.Unix(100, 0)
	for seq := uint64(1); seq <= 3; seq++ {
		tr.issue(0, seq, t0.Add(time.Duration(seq)*time.Second))
		tr.done(0, seq, nil)
	}
	tr.issue(1, 1, t0)
	tr.done(1, 1, errors.New("write failed"))

	tr.saw(0, t0.Add(4*time.Second), markBody(0, 3)) // merges 1 and 2 into 3
	tr.saw(0, t0.Add(5*time.Second), markBody(0, 2)) // stale
	tr.saw(1, t0.Add(2*time.Second), markBody(0, 1))
	if n := tr.behind(); n != 1 {
		t.Fatalf("behind = %d, want 1 (conn 1 lacks changes 2 and 3 of svc 0)", n)
	}
	rec := tr.finish()
	h := rec.Hist(OpFanoutLag)
	if h.Count() != 4 || rec.Errors(OpFanoutLag) != 2 {
		t.Fatalf("%d lags, %d errors; want 4 and 2", h.Count(), rec.Errors(OpFanoutLag))
	}
	if h.Max() != uint64(3*time.Second) {
		t.Fatalf("max lag %v, want 3s (change 1 seen at +4s)", time.Duration(h.Max()))
	}
	if tr.merged != 1 || tr.skipped != 2 || tr.stale != 1 || tr.pushes != 3 {
		t.Fatalf("merged %d skipped %d stale %d pushes %d", tr.merged, tr.skipped, tr.stale, tr.pushes)
	}
}
