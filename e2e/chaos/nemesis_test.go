package chaos

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// Fault kinds.
const (
	faultPartition = "partition" // two groups of nodes cannot reach each other
	faultIsolate   = "isolate"   // one node cannot reach any other node
	faultKill      = "kill"      // SIGKILL, restart when the fault ends
	faultFlap      = "flap"      // one node's links to the others go down and up
)

// fault is one scheduled fault. Link faults drop packets between nodes;
// the clients keep reaching every node that runs.
type fault struct {
	Kind  string
	Start time.Duration // from the nemesis's start
	Dur   time.Duration
	Node  int   // isolate, kill, flap: the target
	Side  []int // partition: one group; the other is every other node
	// Toggles are flap's switch times from Start: the links go down at 0,
	// up at Toggles[0], down at Toggles[1], and so on; up at the end.
	Toggles []time.Duration
}

func (f fault) String() string {
	var what string
	switch f.Kind {
	case faultPartition:
		what = fmt.Sprintf("partition n%s | rest", joinNodes(f.Side))
	case faultFlap:
		what = fmt.Sprintf("flap n%d (%d switches)", f.Node+1, len(f.Toggles))
	default:
		what = fmt.Sprintf("%s n%d", f.Kind, f.Node+1)
	}
	return fmt.Sprintf("%s at %.1fs for %.1fs", what, f.Start.Seconds(), f.Dur.Seconds())
}

func joinNodes(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = fmt.Sprint(n + 1)
	}
	return strings.Join(s, ",n")
}

func between(r *rand.Rand, lo, hi time.Duration) time.Duration {
	return lo + time.Duration(r.Int64N(int64(hi-lo)+1))
}

// schedule draws the faults of a run from seed alone: the same seed, node
// count, duration and concurrency give the same schedule. Faults come in
// slots of one to maxFaults overlapping faults separated by calm gaps;
// every fault ends before duration.
func schedule(seed uint64, nodes int, duration time.Duration, maxFaults int) []fault {
	r := rand.New(rand.NewPCG(seed, 0xc4a05))
	kinds := []string{faultPartition, faultIsolate, faultKill, faultFlap}
	var out []fault
	t := 6 * time.Second // let the clients register first
	for i := 0; i < 1000 && t < duration-3*time.Second; i++ {
		k := 1 + r.IntN(maxFaults)
		slotEnd := t
		killed := map[int]bool{}
		for j := range k {
			f := fault{Kind: kinds[r.IntN(len(kinds))], Start: t}
			if j > 0 {
				f.Start += between(r, 0, 3*time.Second)
			}
			switch f.Kind {
			case faultPartition:
				f.Dur = between(r, 3*time.Second, 12*time.Second)
				perm := r.Perm(nodes)
				f.Side = perm[:1+r.IntN(nodes-1)]
				slices.Sort(f.Side)
			case faultIsolate:
				f.Dur = between(r, 3*time.Second, 12*time.Second)
				f.Node = r.IntN(nodes)
			case faultKill:
				f.Dur = between(r, time.Second, 8*time.Second)
				f.Node = r.IntN(nodes)
				if killed[f.Node] {
					continue
				}
				killed[f.Node] = true
			case faultFlap:
				f.Dur = between(r, 3*time.Second, 8*time.Second)
				f.Node = r.IntN(nodes)
				for o := between(r, 150*time.Millisecond, 600*time.Millisecond); o < f.Dur; o += between(r, 150*time.Millisecond, 600*time.Millisecond) {
					f.Toggles = append(f.Toggles, o)
				}
			}
			if f.Start+f.Dur > duration {
				f.Dur = duration - f.Start
			}
			if f.Dur < time.Second {
				continue
			}
			out = append(out, f)
			slotEnd = max(slotEnd, f.Start+f.Dur)
		}
		t = slotEnd + between(r, 2*time.Second, 6*time.Second)
	}
	return out
}

// action is one step of the nemesis's timeline.
type action struct {
	At    time.Duration
	Fault int // index into the schedule
	// What: "begin", "end", or "toggle" (flap).
	What string
}

// timeline lists the schedule's actions in time order; ties keep schedule
// order, ends before begins.
func timeline(faults []fault) []action {
	var as []action
	for i, f := range faults {
		as = append(as, action{At: f.Start, Fault: i, What: "begin"})
		for _, o := range f.Toggles {
			as = append(as, action{At: f.Start + o, Fault: i, What: "toggle"})
		}
		as = append(as, action{At: f.Start + f.Dur, Fault: i, What: "end"})
	}
	slices.SortStableFunc(as, func(a, b action) int {
		if a.At != b.At {
			return int(a.At - b.At)
		}
		if a.What == "end" && b.What != "end" {
			return -1
		}
		if b.What == "end" && a.What != "end" {
			return 1
		}
		return 0
	})
	return as
}

// cutPairs is the set of node pairs the active link faults cut; down
// reports, per flapping fault, whether its links are down now.
func cutPairs(faults []fault, active map[int]bool, down map[int]bool, nodes int) map[[2]int]bool {
	cut := map[[2]int]bool{}
	pair := func(a, b int) {
		if a > b {
			a, b = b, a
		}
		if a != b {
			cut[[2]int{a, b}] = true
		}
	}
	for i := range faults {
		if !active[i] {
			continue
		}
		f := faults[i]
		switch f.Kind {
		case faultPartition:
			for _, a := range f.Side {
				for b := range nodes {
					if !slices.Contains(f.Side, b) {
						pair(a, b)
					}
				}
			}
		case faultIsolate:
			for b := range nodes {
				pair(f.Node, b)
			}
		case faultFlap:
			if down[i] {
				for b := range nodes {
					pair(f.Node, b)
				}
			}
		}
	}
	return cut
}
