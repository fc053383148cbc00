// Package replica connects the naming store to the Distro core: the
// adapter that lets distro.Node read and write naming records, the rule
// that turns store changes into core observations, and Shell, the
// deterministic part of a cluster node (core, membership, ring, readiness,
// expiry) that the server's goroutine and the simulation both drive, so the
// simulation tests exactly the code production runs.
package replica

import (
	"errors"
	"fmt"
	"time"

	"github.com/distrod/distrod/internal/distro"
	"github.com/distrod/distrod/internal/naming"
)

// Storage adapts a naming.Store to distro.Storage.
type Storage struct {
	// Store is the node's naming store.
	Store *naming.Store
	// Now is the node's clock: installed instances get it as their last
	// heartbeat, so a new owner gives them a full timeout.
	Now func() time.Time
	// MaxClockOffset, when positive, bounds how far past Now the physical
	// time of a remote record's version may lie: a record further in the
	// future is refused with ErrFutureVersion before the store sees it, so
	// it neither lands nor advances the node's hybrid clock (which would
	// make every later local write, deletes included, carry that future
	// time, or wrap the clock around). Zero disables the bound (the
	// simulation, whose versions come from a virtual clock).
	MaxClockOffset time.Duration
	// OnReject is told about a record the store refused (undecodable or
	// invalid data, or ErrFutureVersion); nil ignores them. Rejected
	// records change nothing.
	OnReject func(r distro.Record, err error)
}

// ErrFutureVersion is reported through OnReject for a remote record whose
// version lies more than MaxClockOffset in the future.
var ErrFutureVersion = errors.New("replica: record version too far in the future")

var (
	_ distro.Storage   = Storage{}
	_ distro.Refresher = Storage{}
)

// ToDistro converts a naming record to the core's form.
func ToDistro(r naming.Record) distro.Record {
	return distro.Record{Key: r.Key, Version: r.Version, Owner: r.Owner, Tag: r.Tag, Tombstone: r.Tombstone, Data: r.Data}
}

// MetaToDistro converts record metadata to the core's form.
func MetaToDistro(m naming.RecordMeta) distro.Meta {
	return distro.Meta{Key: m.Key, Version: m.Version, Owner: m.Owner, Tag: m.Tag, Tombstone: m.Tombstone}
}

// Get implements distro.Storage.
func (a Storage) Get(key string) (distro.Record, bool) {
	r, ok := a.Store.Get(key)
	return ToDistro(r), ok
}

// Apply implements distro.Storage.
func (a Storage) Apply(r distro.Record) bool {
	now := a.Now()
	if a.MaxClockOffset > 0 {
		// Millis is the high 48 bits of the clock, so it cannot overflow
		// int64; the limit neither, for any real time and offset.
		if limit := now.Add(a.MaxClockOffset).UnixMilli(); r.Version.Millis() > limit {
			if a.OnReject != nil {
				a.OnReject(r, fmt.Errorf("%w: %d ms past now, bound %v", ErrFutureVersion, r.Version.Millis()-now.UnixMilli(), a.MaxClockOffset))
			}
			return false
		}
	}
	ok, err := a.Store.Apply(now.UnixMilli(), naming.Record{
		RecordMeta: naming.RecordMeta{Key: r.Key, Version: r.Version, Owner: r.Owner, Tag: r.Tag, Tombstone: r.Tombstone},
		Data:       r.Data,
	})
	if err != nil && a.OnReject != nil {
		a.OnReject(r, err)
	}
	return ok
}

// Refresh implements distro.Refresher: the owner's last beats.
func (a Storage) Refresh(r distro.Record) {
	a.Store.Refresh(a.Now().UnixMilli(), naming.Record{
		RecordMeta: naming.RecordMeta{Key: r.Key, Version: r.Version, Owner: r.Owner, Tag: r.Tag, Tombstone: r.Tombstone},
		Data:       r.Data,
	})
}

// Drop implements distro.Storage.
func (a Storage) Drop(key string) bool { return a.Store.Drop(key) }

// Observation is what one store change means for the core.
type Observation struct {
	// Observe is false for drops: the core removed those records itself and
	// observes only new versions.
	Observe bool
	// Meta is the record to pass to distro.Node.Observe.
	Meta distro.Meta
	// Refresh, when true, means the change is the owner's refresh of data
	// outside the version: pass Meta.Key to distro.Node.Refresh instead of
	// observing it.
	Refresh bool
	// StaleClient, when not empty, is a connection client this node wrote
	// before a restart: its connection died with the old process, so the
	// shell must delete it (naming.Store.RemoveClient) as its owner would
	// have. A peer can never hold a newer version of a live connection's
	// record than the node holding the connection, so a remote record of
	// one of our own connection clients that is not live here is stale.
	StaleClient string
}

// Feed passes the observation to the core: Observe, or Refresh for an
// owner's refresh. Call it only when o.Observe is true.
func (o Observation) Feed(now time.Time, n *distro.Node) {
	if o.Refresh {
		n.Refresh(now, o.Meta.Key)
		return
	}
	n.Observe(now, o.Meta)
}

// Observe classifies a store change for node self; live reports whether
// this process holds a gRPC connection id (nil: none).
func Observe(ch naming.Change, self string, live func(id string) bool) Observation {
	if ch.Dropped {
		return Observation{}
	}
	m := ch.Record
	o := Observation{Observe: true, Meta: MetaToDistro(m), Refresh: ch.Refresh}
	id := naming.ClientOfKey(m.Key)
	if !ch.Local && m.Tag == "" && id != "" && !m.Tombstone && m.Owner == self && (live == nil || !live(id)) {
		o.StaleClient = id
	}
	return o
}
