package sim

import (
	"github.com/distrod/distrod/internal/distro"
	"github.com/distrod/distrod/internal/replica"
)

// Bug is a deliberate defect injected between the Distro core and the
// naming store, for tests proving that the invariant checks are not blind.
type Bug uint8

const (
	// NoBug leaves the adapter intact.
	NoBug Bug = iota
	// BugIgnoreDrops makes Drop a no-op that still reports success: dead
	// owners' clients and collected tombstones stay in the store.
	BugIgnoreDrops
	// BugLoseTombstones reports remote tombstones as installed without
	// applying them: deletes never reach this replica's store.
	BugLoseTombstones
)

// String names the bug.
func (b Bug) String() string {
	switch b {
	case BugIgnoreDrops:
		return "IgnoreDrops"
	case BugLoseTombstones:
		return "LoseTombstones"
	}
	return "none"
}

// broken wraps the server's adapter with one Bug.
type broken struct {
	replica.Storage
	bug Bug
}

func (b broken) Apply(r distro.Record) bool {
	if b.bug == BugLoseTombstones && r.Tombstone {
		return true
	}
	return b.Storage.Apply(r)
}

func (b broken) Drop(key string) bool {
	if b.bug == BugIgnoreDrops {
		_, ok := b.Storage.Get(key)
		return ok
	}
	return b.Storage.Drop(key)
}
