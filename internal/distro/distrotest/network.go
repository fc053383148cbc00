package distrotest

import (
	"math/rand/v2"
	"sort"
	"time"

	"github.com/distrod/distrod/internal/distro"
)

// Faults are the per-message fault probabilities and delays of a Network.
type Faults struct {
	Drop      float64       // probability a message is silently lost
	Duplicate float64       // probability a message is delivered twice
	MinDelay  time.Duration // delivery delay is uniform in [MinDelay, MaxDelay]
	MaxDelay  time.Duration // (random delays reorder messages)
	// Refuse is the probability that a message to a crashed or partitioned
	// node is reported back to the sender as unreachable (connection
	// refused) instead of vanishing silently.
	Refuse float64
}

// Delivery is one event the Network hands back to the driver: a message to
// deliver (Unreachable false) or a send failure to report to From
// (Unreachable true, To is the failed destination).
type Delivery struct {
	At          time.Time
	From, To    string
	Msg         distro.Message
	Unreachable bool
	seq         uint64
	toEpoch     uint64
}

// Network is a simulated, seeded, lossy network with a virtual clock. It is
// deterministic: the same sequence of calls with the same seed yields the
// same deliveries.
type Network struct {
	rng     *rand.Rand
	Faults  Faults
	queue   []Delivery
	seq     uint64
	blocked map[[2]string]bool
	down    map[string]bool
	epoch   map[string]uint64 // bumped on crash so in-flight messages to the old process die
}

// NewNetwork returns a network drawing its faults from rng.
func NewNetwork(rng *rand.Rand, f Faults) *Network {
	return &Network{rng: rng, Faults: f, blocked: map[[2]string]bool{}, down: map[string]bool{}, epoch: map[string]uint64{}}
}

// Reachable reports whether messages from a can currently reach b.
func (nw *Network) Reachable(a, b string) bool {
	return !nw.down[a] && !nw.down[b] && !nw.blocked[[2]string{a, b}]
}

// Partition cuts every link between nodes in different groups (both ways).
// Links inside a group are untouched; earlier cuts stay.
func (nw *Network) Partition(groups ...[]string) {
	for i, g := range groups {
		for j, h := range groups {
			if i == j {
				continue
			}
			for _, a := range g {
				for _, b := range h {
					nw.blocked[[2]string{a, b}] = true
				}
			}
		}
	}
}

// Block cuts the directed link a -> b (an asymmetric fault).
func (nw *Network) Block(a, b string) { nw.blocked[[2]string{a, b}] = true }

// Heal restores every link.
func (nw *Network) Heal() { nw.blocked = map[[2]string]bool{} }

// SetDown marks a node crashed (true) or running (false). Crashing drops
// every message in flight to it.
func (nw *Network) SetDown(addr string, down bool) {
	nw.down[addr] = down
	if down {
		nw.epoch[addr]++
	}
}

// Send queues env from from at now, applying faults.
func (nw *Network) Send(now time.Time, from string, env distro.Envelope) {
	nw.SendDelayed(now, from, env, 0)
}

// SendDelayed is Send with extra delivery delay (a throttled transfer).
func (nw *Network) SendDelayed(now time.Time, from string, env distro.Envelope, extra time.Duration) {
	to := env.To
	if !nw.Reachable(from, to) {
		if nw.rng.Float64() < nw.Faults.Refuse {
			nw.push(Delivery{At: now.Add(nw.Faults.MinDelay), From: from, To: to, Msg: env.Msg, Unreachable: true})
		}
		return
	}
	if nw.rng.Float64() < nw.Faults.Drop {
		return
	}
	copies := 1
	if nw.rng.Float64() < nw.Faults.Duplicate {
		copies = 2
	}
	for range copies {
		nw.push(Delivery{At: now.Add(nw.delay() + extra), From: from, To: to, Msg: env.Msg, toEpoch: nw.epoch[to]})
	}
}

func (nw *Network) delay() time.Duration {
	d := nw.Faults.MinDelay
	if span := nw.Faults.MaxDelay - nw.Faults.MinDelay; span > 0 {
		d += time.Duration(nw.rng.Int64N(int64(span) + 1))
	}
	return d
}

func (nw *Network) push(d Delivery) {
	nw.seq++
	d.seq = nw.seq
	nw.queue = append(nw.queue, d)
}

// Due removes and returns, in (time, send order), the events due at or
// before now. Messages whose link broke or whose destination crashed since
// they were sent are lost.
func (nw *Network) Due(now time.Time) []Delivery {
	var due, rest []Delivery
	for _, d := range nw.queue {
		if d.At.After(now) {
			rest = append(rest, d)
			continue
		}
		if !d.Unreachable && (!nw.Reachable(d.From, d.To) || nw.epoch[d.To] != d.toEpoch) {
			continue
		}
		due = append(due, d)
	}
	nw.queue = rest
	sort.Slice(due, func(i, j int) bool {
		if !due[i].At.Equal(due[j].At) {
			return due[i].At.Before(due[j].At)
		}
		return due[i].seq < due[j].seq
	})
	return due
}

// Pending returns the number of queued events.
func (nw *Network) Pending() int { return len(nw.queue) }

// RandomSplit divides addrs into two non-empty groups at random (each
// sorted), for a partition fault. addrs must hold at least two addresses.
func RandomSplit(rng *rand.Rand, addrs []string) (g1, g2 []string) {
	perm := rng.Perm(len(addrs))
	cut := 1 + rng.IntN(len(addrs)-1)
	for i, j := range perm {
		if i < cut {
			g1 = append(g1, addrs[j])
		} else {
			g2 = append(g2, addrs[j])
		}
	}
	sort.Strings(g1)
	sort.Strings(g2)
	return g1, g2
}
