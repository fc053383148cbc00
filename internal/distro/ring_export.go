package distro

import "sort"

// Ring is an immutable snapshot of the ownership ring (the live members),
// safe for concurrent use. The server publishes one after every member
// change so that API goroutines can route writes without touching the Node,
// which belongs to a single goroutine.
type Ring struct {
	members []string
	hashes  []uint64
}

// NewRing returns the ring of the given live members (any order).
func NewRing(members []string) *Ring {
	m := append([]string(nil), members...)
	sort.Strings(m)
	h := make([]uint64, len(m))
	for i, a := range m {
		h[i] = strHash(a)
	}
	return &Ring{members: m, hashes: h}
}

// Owner returns the member responsible for tag, the same answer
// Node.Owner gives for the same member view; "" on an empty ring.
func (r *Ring) Owner(tag string) string { return rendezvousOwner(r.members, r.hashes, tag) }

// Members returns the sorted ring members.
func (r *Ring) Members() []string { return append([]string(nil), r.members...) }
