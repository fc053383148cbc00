package bench

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// oracle is the nearest-rank quantile of a sorted slice.
func oracle(sorted []uint64, q float64) uint64 {
	k := int(q*float64(len(sorted)) + 0.999999999)
	k = min(max(k, 1), len(sorted))
	return sorted[k-1]
}

func TestHistogram_MatchesSortOracle(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 50 {
		n := 1 + rng.IntN(5000)
		h := NewHistogram()
		vals := make([]uint64, n)
		for i := range vals {
			// Spread values over many magnitudes, including tiny and huge.
			switch rng.IntN(4) {
			case 0:
				vals[i] = rng.Uint64N(300)
			case 1:
				vals[i] = rng.Uint64N(1 << 20)
			case 2:
				vals[i] = rng.Uint64N(1 << 40)
			default:
				vals[i] = rng.Uint64()
			}
			h.RecordValue(vals[i])
		}
		slices.Sort(vals)
		if h.Count() != uint64(n) || h.Min() != vals[0] || h.Max() != vals[n-1] {
			t.Fatalf("trial %d: count/min/max = %d/%d/%d, want %d/%d/%d", trial, h.Count(), h.Min(), h.Max(), n, vals[0], vals[n-1])
		}
		for _, q := range []float64{0, 0.001, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1} {
			want := oracle(vals, q)
			got := h.ValueAt(q)
			if got < want || got-want > want>>subBucketBits || got > h.Max() {
				t.Fatalf("trial %d q=%v: got %d, oracle %d (allowed up to %d)", trial, q, got, want, want+want>>subBucketBits)
			}
		}
	}
}

func TestHistogram_SmallValuesExact(t *testing.T) {
	h := NewHistogram()
	for v := range uint64(subBuckets * 4) {
		h.RecordValue(v)
	}
	for _, q := range []float64{0.1, 0.5, 0.9} {
		if got, want := h.ValueAt(q), oracle(seq(subBuckets*4), q); want < subBuckets && got != want {
			t.Fatalf("q=%v: got %d want %d", q, got, want)
		}
	}
}

func seq(n int) []uint64 {
	out := make([]uint64, n)
	for i := range out {
		out[i] = uint64(i)
	}
	return out
}

func TestHistogram_BucketBoundsConsistent(t *testing.T) {
	for i := range numBuckets - 1 {
		hi := bucketHigh(i)
		if bucketOf(hi) != i || bucketOf(hi+1) != i+1 {
			t.Fatalf("bucket %d: high %d maps to %d, high+1 to %d", i, hi, bucketOf(hi), bucketOf(hi+1))
		}
	}
	if bucketOf(^uint64(0)) != numBuckets-1 {
		t.Fatalf("max value in bucket %d, want %d", bucketOf(^uint64(0)), numBuckets-1)
	}
}

func TestHistogram_MergeEqualsSingle(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	a, b, all := NewHistogram(), NewHistogram(), NewHistogram()
	for i := range 10000 {
		v := rng.Uint64N(1 << 30)
		all.RecordValue(v)
		if i%3 == 0 {
			a.RecordValue(v)
		} else {
			b.RecordValue(v)
		}
	}
	a.Merge(b)
	for _, q := range []float64{0.5, 0.99, 1} {
		if a.ValueAt(q) != all.ValueAt(q) {
			t.Fatalf("q=%v: merged %d single %d", q, a.ValueAt(q), all.ValueAt(q))
		}
	}
	if a.Count() != all.Count() || a.Min() != all.Min() || a.Max() != all.Max() {
		t.Fatal("merged count/min/max differ")
	}
}

func TestHistogram_EmptyIsZero(t *testing.T) {
	h := NewHistogram()
	if h.ValueAt(0.5) != 0 || h.Max() != 0 || h.Min() != 0 || h.Mean() != 0 {
		t.Fatal("empty histogram should answer 0")
	}
}

func TestRecorder_ErrorsNeverTimed(t *testing.T) {
	r := NewRecorder()
	r.Observe("op", time.Millisecond, nil)
	r.Observe("op", time.Hour, errors.New("boom"))
	r.Observe("op", time.Hour, &StatusError{HTTP: 500})
	r.Observe("op", 2*time.Millisecond, nil)
	res := &Result{}
	res.AddOps(r, time.Second)
	o := res.Op("op")
	if o.OK != 2 || o.Errors != 2 || o.Throughput != 2 {
		t.Fatalf("ok=%d errors=%d throughput=%v, want 2/2/2", o.OK, o.Errors, o.Throughput)
	}
	if o.MaxMs > 2.01 {
		t.Fatalf("max %.3f ms includes a failed operation", o.MaxMs)
	}
	if o.ErrorKinds["transport"] != 1 || o.ErrorKinds["http-500"] != 1 {
		t.Fatalf("error kinds %v", o.ErrorKinds)
	}
}
