// Package hlc implements the hybrid logical clock that versions every
// replicated record in distrod.
//
// A Version is totally ordered across nodes: first by Clock (physical
// milliseconds in the high 48 bits, a logical counter in the low 16 bits),
// then by Node (a stable hash of the writing node's address) as a tie-break,
// then by Sub. Receivers apply a record only when its version is newer than
// the one they hold, so retries and reordered messages never roll data back,
// and after a partition heals the newest write wins everywhere,
// deterministically.
//
// # Client actions and derived changes
//
// Clock and Node date the newest client action a record reflects (a
// registration, a deregistration, a heartbeat that revived an instance).
// A change the server makes on its own, from the state it holds (a health
// flip or a removal on heartbeat expiry, a refresh of the replicated
// last-beat time), is a derived change: Derive keeps Clock and Node of the
// version it derives from and raises only Sub. A derived change therefore
// ranks above the state it was derived from and below every later client
// action, wherever either was made: a node on one side of a partition that
// expires an instance can never outrank the deregistration its client made
// on the other side, nor a re-registration after it.
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
	// Sub orders derived changes of the same client action: the number of
	// derivations in the high 32 bits, the low 32 bits of the deriving
	// node's hash below them (so two nodes deriving from the same version
	// during a partition produce different versions). Zero for a client
	// action.
	Sub uint64
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
	}
	return 0
}

// Newer reports whether v is strictly newer than o.
func (v Version) Newer(o Version) bool { return v.Compare(o) > 0 }

// IsZero reports whether v is the zero Version.
func (v Version) IsZero() bool { return v == Version{} }

// Millis returns the physical part of the version in Unix milliseconds.
func (v Version) Millis() int64 { return int64(v.Clock >> logicalBits) }

// Derivations returns how many derived changes separate v from the client
// action it dates.
func (v Version) Derivations() uint32 { return uint32(v.Sub >> 32) }

// String formats the version as "millis.logical@nodehash" for logs, with
// "+derivations/nodehash" for a derived change.
func (v Version) String() string {
	s := fmt.Sprintf("%d.%d@%x", v.Clock>>logicalBits, v.Clock&(1<<logicalBits-1), v.Node)
	if v.Sub != 0 {
		s += fmt.Sprintf("+%d/%x", v.Sub>>32, uint32(v.Sub))
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
// at version base (see the package doc): newer than base, older than any
// version with a larger Clock. Deriving from the zero version is a client
// action's job; Derive then returns Next(nowMillis).
func (c *Clock) Derive(nowMillis int64, base Version) Version {
	if base.IsZero() {
		return c.Next(nowMillis)
	}
	n := base.Sub>>32 + 1
	if n > 1<<32-1 {
		// 4 billion derivations of one client action: start over as a
		// client action rather than wrap.
		return c.Next(nowMillis)
	}
	return Version{Clock: base.Clock, Node: base.Node, Sub: n<<32 | c.node&(1<<32-1)}
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
