package distrotest

import (
	"sort"

	"github.com/distrod/distrod/internal/hlc"
)

// LoadCheck is the I5 bookkeeping of one node's snapshot load, shared by
// the simulations: the live record versions each peer held when the node
// booted, the peers whose link broke (or that crashed) during the load, and
// the keys the loading node dropped itself (a dead owner's cleanup).
type LoadCheck struct {
	self    string
	base    map[string]map[string]hlc.Version
	broken  map[string]bool
	dropped map[string]bool
}

// NewLoadCheck returns an empty LoadCheck for the node self.
func NewLoadCheck(self string) *LoadCheck {
	return &LoadCheck{self: self, base: map[string]map[string]hlc.Version{}, broken: map[string]bool{}, dropped: map[string]bool{}}
}

// Peer records the live records peer held at the boot, and whether the
// two could talk both ways then.
func (l *LoadCheck) Peer(peer string, live map[string]hlc.Version, linked bool) {
	l.base[peer] = live
	if !linked {
		l.broken[peer] = true
	}
}

// Break marks peer as cut off (or crashed) during the load: it is exempt.
func (l *LoadCheck) Break(peer string) { l.broken[peer] = true }

// BreakUnlinked marks every peer that linked reports cut off (after a
// reachability change).
func (l *LoadCheck) BreakUnlinked(peers []string, linked func(peer string) bool) {
	for _, p := range peers {
		if !linked(p) {
			l.broken[p] = true
		}
	}
}

// Changed records that peer no longer holds key as it did at the boot (it
// dropped it): the loader need not have it.
func (l *LoadCheck) Changed(peer, key string) { delete(l.base[peer], key) }

// Dropped records that the loading node dropped key itself.
func (l *LoadCheck) Dropped(key string) { l.dropped[key] = true }

// Miss is a record a node turned ready without.
type Miss struct {
	Peer, Key string
	Version   hlc.Version
}

// Missing returns, by peer and key, the records a peer held from the boot
// until now, unchanged, that the loader lacks (or holds older) now that it
// is ready. exempt skips peers (down, given up on); version reads the
// current version of key on a node (a peer, or the loader).
func (l *LoadCheck) Missing(exempt func(peer string) bool, version func(node, key string) (hlc.Version, bool)) []Miss {
	var out []Miss
	for _, p := range sortedKeys(l.base) {
		if l.broken[p] || exempt(p) {
			continue
		}
		base := l.base[p]
		for _, k := range sortedKeys(base) {
			v := base[k]
			if cur, ok := version(p, k); !ok || cur != v {
				continue // changed or gone on the peer since the boot
			}
			if m, ok := version(l.self, k); ok && !v.Newer(m) {
				continue
			}
			if l.dropped[k] {
				continue
			}
			out = append(out, Miss{Peer: p, Key: k, Version: v})
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
