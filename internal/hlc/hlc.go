// Package hlc implements the hybrid logical clock that versions every
// replicated record in distrod.
//
// A Version is totally ordered across nodes: first by Clock (physical
// milliseconds in the high 48 bits, a logical counter in the low 16 bits),
// then by Node (a stable hash of the writing node's address) as a tie-break,
// then by Sub and By. Receivers apply a record only when its version is newer than
// the one they hold, so retries and reordered messages never roll data back,
// and after a partition heals the newest write wins everywhere,
// deterministically.
//
// # Client actions and derived changes
//
// Clock and Node date the newest client action a record reflects (a
// registration, a deregistration, a heartbeat that revived an instance).
// A change the server makes on its own, from the state it holds (a health
// flip or a removal on heartbeat expiry, a new owner recording the beats it
// received), is a derived change: Derive keeps Clock and Node of the
// version it derives from and raises only Sub. A derived change therefore
// ranks above the state it was derived from and below every later client
// action, wherever either was made: a node on one side of a partition that
// expires an instance can never outrank the deregistration its client made
// on the other side, nor a re-registration after it.
//
// Among derived changes of one client action, Sub orders by the newest
// client heartbeat each reflects, then by a count that starts at the
// change's weight: an expiry decided on the beats one side of a partition
// saw loses to the other side's record of later beats, so a client that
// kept beating is not removed by the heal; and at equal knowledge of the
// beats, an expiry (weight 1 or 2) wins over a mere record of them
// (weight 0), since time passed without a newer beat.
//
// The clock never reads the wall clock itself: callers pass the current time
// in, which keeps the protocol core deterministic under simulation.
package hlc

import (
	"fmt"
	"hash/fnv"
	"sync"
)

// logicalBits is the width of the logical counter inside Version.Clock.
const logicalBits = 16

// Version is a hybrid-logical-clock timestamp plus the writer's node hash.
// The zero Version is older than every version a Clock produces.
type Version struct {
	// Clock is physical milliseconds << 16 | logical counter.
	Clock uint64
	// Node is the hash of the address of the node that stamped Clock (see
	// NodeHash).
	Node uint64
	// Sub orders derived changes of the same client action: the newest
	// client heartbeat the change reflects (Unix ms) in the high 48 bits, a
	// count of derivations that reflect the same beat in the low 16. Zero
	// for a client action.
	Sub uint64
	// By is the hash of the node that derived the change (zero for a client
	// action), so two nodes deriving from one version during a partition
	// never produce equal versions with different content.
	By uint64
}

// Compare returns -1, 0 or +1 as v is older than, equal to or newer than o.
func (v Version) Compare(o Version) int {
	switch {
	case v.Clock < o.Clock:
		return -1
	case v.Clock > o.Clock:
		return 1
	case v.Node < o.Node:
		return -1
	case v.Node > o.Node:
		return 1
	case v.Sub < o.Sub:
		return -1
	case v.Sub > o.Sub:
		return 1
	case v.By < o.By:
		return -1
	case v.By > o.By:
		return 1
	}
	return 0
}

// Newer reports whether v is strictly newer than o.
func (v Version) Newer(o Version) bool { return v.Compare(o) > 0 }

// IsZero reports whether v is the zero Version.
func (v Version) IsZero() bool { return v == Version{} }

// Millis returns the physical part of the version in Unix milliseconds.
func (v Version) Millis() int64 { return int64(v.Clock >> logicalBits) }

// Derived reports whether v is the version of a derived change.
func (v Version) Derived() bool { return v.Sub != 0 || v.By != 0 }

// ReflectedBeat returns the newest client heartbeat (Unix ms) a derived
// version reflects (0 for a client action).
func (v Version) ReflectedBeat() int64 { return int64(v.Sub >> subCountBits) }

// subCountBits is the width of the derivation count inside Version.Sub.
const subCountBits = 16

// String formats the version as "millis.logical@nodehash" for logs, with
// "+beat.count/nodehash" for a derived change.
func (v Version) String() string {
	s := fmt.Sprintf("%d.%d@%x", v.Clock>>logicalBits, v.Clock&(1<<logicalBits-1), v.Node)
	if v.Derived() {
		s += fmt.Sprintf("+%d.%d/%x", v.Sub>>subCountBits, v.Sub&(1<<subCountBits-1), v.By)
	}
	return s
}

// NodeHash returns the stable 64-bit hash of a node address used as the
// Version tie-break.
func NodeHash(addr string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(addr))
	return h.Sum64()
}

// Clock issues strictly increasing Versions for one node. It is safe for
// concurrent use.
type Clock struct {
	mu   sync.Mutex
	last uint64
	node uint64
}

// NewClock returns a clock for the node with the given address.
func NewClock(addr string) *Clock { return &Clock{node: NodeHash(addr)} }

// Node returns the node hash this clock stamps into its versions.
func (c *Clock) Node() uint64 { return c.node }

// Next returns a version newer than every version this clock issued or
// observed, given the current physical time in Unix milliseconds.
func (c *Clock) Next(nowMillis int64) Version {
	c.mu.Lock()
	defer c.mu.Unlock()
	phys := uint64(nowMillis) << logicalBits
	if phys > c.last {
		c.last = phys
	} else {
		c.last++
	}
	return Version{Clock: c.last, Node: c.node}
}

// Derive returns the version of a change this node derives from the state
// at version base, reflecting client heartbeats up to beatMillis, with a
// weight (0 to record beats, more for changes that should win over such a
// record at equal knowledge; see the package doc): newer than base, older
// than any version with a larger Clock. Deriving from the zero version is a
// client action's job; Derive then returns Next(nowMillis).
func (c *Clock) Derive(nowMillis int64, base Version, beatMillis int64, weight uint16) Version {
	if base.IsZero() {
		return c.Next(nowMillis)
	}
	sub := base.Sub + 1 + uint64(weight) // same beat as base: one more derivation
	if beatMillis > base.ReflectedBeat() && beatMillis < 1<<(64-subCountBits) {
		sub = uint64(beatMillis)<<subCountBits | uint64(weight)
	}
	return Version{Clock: base.Clock, Node: base.Node, Sub: sub, By: c.node}
}

// Observe moves the clock past a version seen from another node, so that the
// next local write is newer than anything already replicated here.
func (c *Clock) Observe(v Version) {
	c.mu.Lock()
	if v.Clock > c.last {
		c.last = v.Clock
	}
	c.mu.Unlock()
}
