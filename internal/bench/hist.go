package bench

import (
	"math"
	"math/bits"
	"time"
)

// subBucketBits sets the histogram's precision: every power-of-two range of
// values is split into 2^subBucketBits linear buckets, so a recorded value
// is reported at most 1/256 (0.4 %) above its true value. Values below 256 ns
// are exact.
const subBucketBits = 8

const (
	subBuckets = 1 << subBucketBits
	// numBuckets covers every uint64: exact values [0, subBuckets) plus one
	// group of subBuckets buckets per leading-bit position above that.
	numBuckets = (64 - subBucketBits + 1) * subBuckets
)

// Histogram records durations in log-linear buckets, in the manner of
// HdrHistogram: constant memory (about 115 KiB), O(1) recording and a
// bounded relative error. The zero value is not ready; use NewHistogram. A
// Histogram is not safe for concurrent use: give each goroutine its own and
// Merge them.
type Histogram struct {
	counts []uint64
	n      uint64
	min    uint64
	max    uint64
	sum    float64
}

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram {
	return &Histogram{counts: make([]uint64, numBuckets), min: math.MaxUint64}
}

// bucketOf maps a value to its bucket index.
func bucketOf(v uint64) int {
	if v < subBuckets {
		return int(v)
	}
	n := bits.Len64(v) // > subBucketBits
	shift := n - 1 - subBucketBits
	mantissa := (v >> shift) & (subBuckets - 1)
	return (n-subBucketBits)*subBuckets + int(mantissa)
}

// bucketHigh is the largest value that maps to bucket i.
func bucketHigh(i int) uint64 {
	if i < subBuckets {
		return uint64(i)
	}
	group := i / subBuckets // = n - subBucketBits
	mantissa := uint64(i % subBuckets)
	shift := group - 1
	low := (subBuckets | mantissa) << shift
	return low + (uint64(1)<<shift - 1)
}

// Record adds one duration. Negative durations are recorded as zero.
func (h *Histogram) Record(d time.Duration) {
	v := uint64(0)
	if d > 0 {
		v = uint64(d)
	}
	h.RecordValue(v)
}

// RecordValue adds one raw value (nanoseconds when used for durations).
func (h *Histogram) RecordValue(v uint64) {
	h.counts[bucketOf(v)]++
	h.n++
	h.sum += float64(v)
	if v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
}

// Merge adds every value recorded in o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o == nil || o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	h.min = min(h.min, o.min)
	h.max = max(h.max, o.max)
}

// Count returns the number of recorded values.
func (h *Histogram) Count() uint64 { return h.n }

// Max returns the largest recorded value exactly (0 when empty).
func (h *Histogram) Max() uint64 { return h.max }

// Min returns the smallest recorded value exactly (0 when empty).
func (h *Histogram) Min() uint64 {
	if h.n == 0 {
		return 0
	}
	return h.min
}

// Mean returns the arithmetic mean of the recorded values (0 when empty).
func (h *Histogram) Mean() float64 {
	if h.n == 0 {
		return 0
	}
	return h.sum / float64(h.n)
}

// ValueAt returns the q-quantile (0 ≤ q ≤ 1) using the nearest-rank
// definition: the k-th smallest value with k = ceil(q·n), k ≥ 1. The answer
// is the highest value of the bucket holding that sample, clamped to the
// exact [Min, Max], so it is ≥ the true sample and exceeds it by less than
// 1/256 of it. An empty histogram answers 0.
func (h *Histogram) ValueAt(q float64) uint64 {
	if h.n == 0 {
		return 0
	}
	q = min(max(q, 0), 1)
	k := uint64(math.Ceil(q * float64(h.n)))
	if k < 1 {
		k = 1
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= k {
			return min(max(bucketHigh(i), h.min), h.max)
		}
	}
	return h.max
}

// Quantile is ValueAt as a duration.
func (h *Histogram) Quantile(q float64) time.Duration { return time.Duration(h.ValueAt(q)) }
