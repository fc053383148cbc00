package memlimit

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// HeapStats are the runtime's heap figures a Releaser decides on.
type HeapStats struct {
	// Live is the heap that was live at the last collection.
	Live uint64
	// Objects is the memory of allocated objects, live or not yet
	// collected.
	Objects uint64
	// Free is the memory of free heap pages the runtime keeps mapped
	// (resident, unless the OS swapped them).
	Free uint64
	// Allocs is the cumulative number of bytes allocated.
	Allocs uint64
}

// Reclaimable is what a collection and a release could give back: free
// pages plus objects that are no longer live.
func (h HeapStats) Reclaimable() uint64 {
	r := h.Free
	if h.Objects > h.Live {
		r += h.Objects - h.Live
	}
	return r
}

// ReadHeapStats reads HeapStats from runtime/metrics.
func ReadHeapStats() HeapStats {
	s := []metrics.Sample{
		{Name: "/gc/heap/live:bytes"},
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/free:bytes"},
		{Name: "/gc/heap/allocs:bytes"},
	}
	metrics.Read(s)
	v := func(i int) uint64 {
		if s[i].Value.Kind() == metrics.KindUint64 {
			return s[i].Value.Uint64()
		}
		return 0
	}
	return HeapStats{Live: v(0), Objects: v(1), Free: v(2), Allocs: v(3)}
}

// MinRelease is the least reclaimable memory for which a Releaser acts.
const MinRelease = 64 << 20

// Releaser gives memory back to the OS after bursts. Every Interval it
// reads the heap's figures; when less than the larger of a sixteenth of
// the live heap and MinRelease was allocated since the previous check (the
// process is quiet) and more than the larger of a quarter of the live heap
// and MinRelease could be reclaimed, it calls Release. A busy process is
// left to the collector: what it frees it reuses at once.
type Releaser struct {
	Interval time.Duration
	// Read reads the figures (default ReadHeapStats).
	Read func() HeapStats
	// Release collects and returns free memory (default
	// debug.FreeOSMemory).
	Release func()
	// Released, if set, is told the figures before each release.
	Released func(before HeapStats)

	last    HeapStats
	started bool
}

// Check takes one reading and releases if the figures call for it; it
// reports whether it did.
func (r *Releaser) Check() bool {
	read, release := r.Read, r.Release
	if read == nil {
		read = ReadHeapStats
	}
	if release == nil {
		release = debug.FreeOSMemory
	}
	st := read()
	prev, started := r.last, r.started
	r.last, r.started = st, true
	if !started || !ShouldRelease(prev, st) {
		return false
	}
	if r.Released != nil {
		r.Released(st)
	}
	release()
	r.last = read()
	return true
}

// ShouldRelease is the Releaser's rule for two readings an interval apart.
func ShouldRelease(prev, cur HeapStats) bool {
	allocated := cur.Allocs - prev.Allocs
	if cur.Allocs < prev.Allocs {
		allocated = 0
	}
	quiet := allocated < max(cur.Live/16, MinRelease)
	return quiet && cur.Reclaimable() > max(cur.Live/4, MinRelease)
}

// Run checks every Interval until ctx ends. An Interval of 0 or less
// returns at once.
func (r *Releaser) Run(ctx context.Context) {
	if r.Interval <= 0 {
		return
	}
	t := time.NewTicker(r.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.Check()
		}
	}
}
