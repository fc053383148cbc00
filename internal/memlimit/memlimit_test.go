package memlimit

import (
	"context"
	"testing"
	"testing/fstest"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestCgroupLimit_ReadsV1AndV2(t *testing.T) {
	cases := []struct {
		name string
		fs   fstest.MapFS
		want int64
	}{
		{"v2 own cgroup", fstest.MapFS{
			"proc/self/cgroup":                          {Data: []byte("0::/kubepods/pod1/c1\n")},
			"sys/fs/cgroup/kubepods/pod1/c1/memory.max": {Data: []byte("1073741824\n")},
			"sys/fs/cgroup/kubepods/memory.max":         {Data: []byte("max\n")},
		}, 1 << 30},
		{"v2 parent is smaller", fstest.MapFS{
			"proc/self/cgroup":             {Data: []byte("0::/a/b\n")},
			"sys/fs/cgroup/a/b/memory.max": {Data: []byte("max\n")},
			"sys/fs/cgroup/a/memory.max":   {Data: []byte("536870912\n")},
		}, 512 << 20},
		{"v2 in a namespace: the own cgroup is the root", fstest.MapFS{
			"proc/self/cgroup":         {Data: []byte("0::/\n")},
			"sys/fs/cgroup/memory.max": {Data: []byte("2147483648\n")},
		}, 2 << 30},
		{"v1 path not visible, root has the limit", fstest.MapFS{
			"proc/self/cgroup":                           {Data: []byte("5:devices:/x\n4:memory:/process_api/abc\n0::/\n")},
			"sys/fs/cgroup/memory/memory.limit_in_bytes": {Data: []byte("805306368\n")},
		}, 768 << 20},
		{"v1 unlimited", fstest.MapFS{
			"proc/self/cgroup":                           {Data: []byte("4:memory:/\n")},
			"sys/fs/cgroup/memory/memory.limit_in_bytes": {Data: []byte("9223372036854771712\n")},
		}, 0},
		{"no cgroup file", fstest.MapFS{}, 0},
		{"garbage", fstest.MapFS{
			"proc/self/cgroup":         {Data: []byte("0::/\n")},
			"sys/fs/cgroup/memory.max": {Data: []byte("lots\n")},
		}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := CgroupLimit(c.fs); got != c.want {
				t.Fatalf("CgroupLimit = %d, want %d", got, c.want)
			}
		})
	}
}

func TestDecide_HonoursGOMEMLIMITAndPercent(t *testing.T) {
	fs := fstest.MapFS{
		"proc/self/cgroup":         {Data: []byte("0::/\n")},
		"sys/fs/cgroup/memory.max": {Data: []byte("1000000000\n")},
	}
	if d := Decide(env(nil), 90, fs); d.Source != "cgroup" || d.Limit != 900000000 || d.Cgroup != 1000000000 {
		t.Fatalf("cgroup: %+v", d)
	}
	if d := Decide(env(map[string]string{"GOMEMLIMIT": "2GiB"}), 90, fs); d.Source != "GOMEMLIMIT" || d.Limit != 0 {
		t.Fatalf("GOMEMLIMIT set: %+v", d)
	}
	if d := Decide(env(nil), 0, fs); d.Source != "disabled" || d.Limit != 0 {
		t.Fatalf("percent 0: %+v", d)
	}
	if d := Decide(env(nil), 90, fstest.MapFS{}); d.Source != "none" || d.Limit != 0 {
		t.Fatalf("no cgroup: %+v", d)
	}
	if d := Decide(env(nil), 150, fs); d.Limit != 1000000000 {
		t.Fatalf("percent above 100 is capped: %+v", d)
	}
}

func TestShouldRelease_OnlyWhenQuietAndMuchIsFree(t *testing.T) {
	const mib = 1 << 20
	live := uint64(1000 * mib)
	prev := HeapStats{Live: live, Objects: live, Allocs: 5000 * mib}
	cases := []struct {
		name string
		cur  HeapStats
		want bool
	}{
		{"quiet, half the live heap free", HeapStats{Live: live, Objects: live, Free: 500 * mib, Allocs: prev.Allocs + 10*mib}, true},
		{"quiet, garbage not yet collected", HeapStats{Live: live, Objects: live + 400*mib, Allocs: prev.Allocs + 10*mib}, true},
		{"busy", HeapStats{Live: live, Objects: live, Free: 500 * mib, Allocs: prev.Allocs + 200*mib}, false},
		{"quiet, little free", HeapStats{Live: live, Objects: live, Free: 100 * mib, Allocs: prev.Allocs}, false},
		{"small heap below MinRelease", HeapStats{Live: 10 * mib, Objects: 10 * mib, Free: 50 * mib, Allocs: prev.Allocs}, false},
	}
	for _, c := range cases {
		if got := ShouldRelease(prev, c.cur); got != c.want {
			t.Errorf("%s: ShouldRelease = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestReleaser_ReleasesOnceAfterABurst(t *testing.T) {
	const mib = 1 << 20
	readings := []HeapStats{
		{Live: 800 * mib, Objects: 900 * mib, Free: 100 * mib, Allocs: 1000 * mib}, // first reading: no previous
		{Live: 800 * mib, Objects: 900 * mib, Free: 700 * mib, Allocs: 3000 * mib}, // burst
		{Live: 800 * mib, Objects: 900 * mib, Free: 700 * mib, Allocs: 3001 * mib}, // quiet: release
		{Live: 800 * mib, Objects: 800 * mib, Allocs: 3001 * mib},                  // after the release
		{Live: 800 * mib, Objects: 800 * mib, Allocs: 3002 * mib},                  // nothing to give back
	}
	i, releases := 0, 0
	r := &Releaser{
		Read:    func() HeapStats { s := readings[min(i, len(readings)-1)]; i++; return s },
		Release: func() { releases++ },
	}
	var got []bool
	for range 4 {
		got = append(got, r.Check())
	}
	want := []bool{false, false, true, false}
	for k := range want {
		if got[k] != want[k] {
			t.Fatalf("checks = %v, want %v", got, want)
		}
	}
	if releases != 1 {
		t.Fatalf("releases = %d, want 1", releases)
	}
}

func TestReleaser_RunStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	checks := make(chan struct{}, 16)
	r := &Releaser{Interval: time.Millisecond, Read: func() HeapStats {
		select {
		case checks <- struct{}{}:
		default:
		}
		return HeapStats{}
	}, Release: func() {}}
	go func() { r.Run(ctx); close(done) }()
	<-checks
	cancel()
	<-done
	(&Releaser{}).Run(context.Background()) // Interval 0: returns at once
}

func TestReadHeapStats_ReadsTheRuntime(t *testing.T) {
	st := ReadHeapStats()
	if st.Allocs == 0 || st.Objects == 0 {
		t.Fatalf("ReadHeapStats = %+v, want non-zero allocs and objects", st)
	}
}
