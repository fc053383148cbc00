package distro_test

import (
	"flag"
	"fmt"
	"testing"

	"github.com/distrod/distrod/internal/distro"
	"github.com/distrod/distrod/internal/distro/distrotest"
)

var (
	seedFlag  = flag.Uint64("seed", 0, "run only this simulation seed (TestSim_Seeds)")
	seedsFlag = flag.Int("seeds", 200, "number of simulation seeds TestSim_Seeds runs")
)

func runSeed(t *testing.T, seed uint64) distrotest.Result {
	t.Helper()
	res := distrotest.Run(distrotest.DefaultOptions(seed))
	if !res.OK() {
		for _, v := range res.Violations {
			t.Errorf("seed %d: %s", seed, v)
		}
		t.Errorf("reproduce with: %s", distrotest.Repro(seed))
	}
	return res
}

func TestSim_Seeds(t *testing.T) {
	if *seedFlag != 0 {
		res := runSeed(t, *seedFlag)
		t.Logf("seed %d: writes=%d msgs=%d crashes=%d partitions=%d flaps=%d converged after %v trace=%x",
			res.Seed, res.Writes, res.Messages, res.Crashes, res.Partitions, res.Flaps, res.ConvergedAfter, res.TraceHash)
		for _, st := range res.Final {
			t.Logf("  %s ready=%v live=%d tombs=%d digest=%x pulled=%d pushed=%d dropped=%d gc=%d cleanup=%d",
				st.Self, st.Ready, st.Live, st.Tombstones, st.Digest, st.RepairsPulled, st.RepairsPushed,
				st.RepairsDropped, st.TombstonesCollected, st.OwnerCleanupDrops)
		}
		return
	}
	n := *seedsFlag
	if testing.Short() {
		n = min(n, 30)
	}
	// Seeds are independent clusters: run them on every core.
	for seed := uint64(1); seed <= uint64(n); seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			runSeed(t, seed)
		})
	}
}

func TestSim_SameSeedSameTrace(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		a := distrotest.Run(distrotest.DefaultOptions(seed))
		b := distrotest.Run(distrotest.DefaultOptions(seed))
		if a.TraceHash != b.TraceHash || a.Messages != b.Messages {
			t.Fatalf("seed %d not deterministic: trace %x vs %x, messages %d vs %d", seed, a.TraceHash, b.TraceHash, a.Messages, b.Messages)
		}
	}
}

func TestSim_CatchesBrokenStorage(t *testing.T) {
	cases := []struct {
		name string
		bug  distrotest.BrokenStore
	}{
		{"IgnoreDrops", distrotest.BrokenStore{IgnoreDrops: true}},
		{"LoseTombstones", distrotest.BrokenStore{LoseTombstones: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			caught := 0
			for seed := uint64(1); seed <= 5; seed++ {
				opt := distrotest.DefaultOptions(seed)
				opt.WrapStore = func(s *distrotest.MemStore) distro.Storage {
					b := tc.bug
					b.MemStore = s
					return b
				}
				if res := distrotest.Run(opt); !res.OK() {
					caught++
				}
			}
			if caught == 0 {
				t.Fatalf("a %s storage passed 5 seeds: the checker is blind", tc.name)
			}
			t.Logf("%s caught in %d/5 seeds", tc.name, caught)
		})
	}
}

// TestSim_CoreShieldsVersionIgnoringStorage documents that the core never
// hands Storage a record older than the version it indexed: a store that
// ignores versions still converges (when the shell observes every change).
func TestSim_CoreShieldsVersionIgnoringStorage(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		opt := distrotest.DefaultOptions(seed)
		opt.WrapStore = func(s *distrotest.MemStore) distro.Storage {
			return distrotest.BrokenStore{MemStore: s, IgnoreVersions: true}
		}
		if res := distrotest.Run(opt); !res.OK() {
			t.Fatalf("seed %d: %v", seed, res.Violations)
		}
	}
}
