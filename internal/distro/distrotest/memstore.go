// Package distrotest provides test doubles and a deterministic cluster
// simulation for the distro core: a map-based Storage, a seeded fault
// network with a virtual clock, and a Cluster runner that checks the Distro
// invariants (I1, I3, I5, I6). It is imported only by tests.
package distrotest

import (
	"slices"
	"strings"
	"sync"

	"github.com/distrod/distrod/internal/distro"
)

// MemStore is a map-based distro.Storage. It records every change it makes
// so that a driver can feed them to Node.Observe, as the naming store's
// change events would.
type MemStore struct {
	mu      sync.Mutex
	m       map[string]distro.Record
	changes []distro.Meta
}

// NewMemStore returns an empty store.
func NewMemStore() *MemStore { return &MemStore{m: make(map[string]distro.Record)} }

// Get implements distro.Storage.
func (s *MemStore) Get(key string) (distro.Record, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.m[key]
	return r, ok
}

// Apply implements distro.Storage: it installs r iff it is newer.
func (s *MemStore) Apply(r distro.Record) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.m[r.Key]; ok && !r.Version.Newer(old.Version) {
		return false
	}
	s.m[r.Key] = r
	s.changes = append(s.changes, r.Meta())
	return true
}

// ForceApply installs r whatever its version (a deliberately broken store
// for checker tests) and records the change.
func (s *MemStore) ForceApply(r distro.Record) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[r.Key] = r
	s.changes = append(s.changes, r.Meta())
	return true
}

// Drop implements distro.Storage. It records no change: the core already
// knows.
func (s *MemStore) Drop(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.m[key]
	delete(s.m, key)
	return ok
}

// Refresh implements distro.Refresher: it takes r's data when r carries
// the stored version of a live record.
func (s *MemStore) Refresh(r distro.Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.m[r.Key]; ok && old.Version == r.Version && !old.Tombstone {
		old.Data = r.Data
		s.m[r.Key] = old
	}
}

// SetData replaces the data of a stored record without a new version (the
// owner's side of a refresh).
func (s *MemStore) SetData(key string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.m[key]; ok {
		r.Data = data
		s.m[key] = r
	}
}

// Put is an owner write: it installs r if newer, like Apply.
func (s *MemStore) Put(r distro.Record) bool { return s.Apply(r) }

// TakeChanges returns and clears the changes recorded since the last call.
func (s *MemStore) TakeChanges() []distro.Meta {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.changes
	s.changes = nil
	return c
}

// Len returns the number of records held, tombstones included.
func (s *MemStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// Records returns every record held, sorted by key.
func (s *MemStore) Records() []distro.Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]distro.Record, 0, len(s.m))
	for _, r := range s.m {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b distro.Record) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// Select returns the sorted keys of the records for which keep is true.
func (s *MemStore) Select(keep func(distro.Record) bool) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for k, r := range s.m {
		if keep(r) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// BrokenStore wraps a MemStore with one deliberate bug, for tests proving
// that the simulation's checkers are not blind.
type BrokenStore struct {
	*MemStore
	// IgnoreVersions installs every applied record, older ones included.
	// (The core indexes versions itself and never hands Storage an older
	// record than it indexed, so this bug alone is masked.)
	IgnoreVersions bool
	// IgnoreDrops makes Drop a no-op that still reports success: dead
	// owners' clients and collected tombstones stay behind.
	IgnoreDrops bool
	// LoseTombstones reports remote tombstones installed without storing
	// them: deletes never reach this replica.
	LoseTombstones bool
}

// Apply implements distro.Storage with the configured bugs.
func (s BrokenStore) Apply(r distro.Record) bool {
	if s.LoseTombstones && r.Tombstone {
		return true
	}
	if s.IgnoreVersions {
		return s.ForceApply(r)
	}
	return s.MemStore.Apply(r)
}

// Drop implements distro.Storage with the configured bugs.
func (s BrokenStore) Drop(key string) bool {
	if s.IgnoreDrops {
		_, ok := s.Get(key)
		return ok
	}
	return s.MemStore.Drop(key)
}
