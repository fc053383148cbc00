package distro

import (
	"github.com/distrod/distrod/internal/hlc"
)

// Record is one replicated item at one version, or its tombstone. The core
// never interprets it beyond Key, Version, Owner, Tag and Tombstone; in
// distrod a record is one client's publication of one service, or one
// service's metadata.
type Record struct {
	// Key identifies the item. The naming store uses
	// "clientID|namespace##group@@service" for a publication (the client id
	// is "ip:port#true" for HTTP clients, a connection id for gRPC
	// clients) and "svc:namespace##group@@service" for service metadata.
	Key string
	// Version is totally ordered across nodes; a receiver installs a record
	// only when its Version is newer than the one it holds.
	Version hlc.Version
	// Owner is the address of the node that wrote this version.
	Owner string
	// Tag is the ownership tag: "ip:port" for HTTP (IP-port) clients, owned by
	// the rendezvous hash of Tag over live members; "" for connection
	// clients, owned by Owner.
	Tag string
	// Tombstone marks a delete by the owner; Data is nil.
	Tombstone bool
	// Data is the opaque encoded client state; the core never interprets it.
	Data []byte
}

// Meta returns the metadata of r (everything but Data).
func (r Record) Meta() Meta {
	return Meta{Key: r.Key, Version: r.Version, Owner: r.Owner, Tag: r.Tag, Tombstone: r.Tombstone}
}

// Meta is a Record without its payload: what the core indexes, digests and
// compares. The shell passes it to Node.Observe.
type Meta struct {
	Key       string
	Version   hlc.Version
	Owner     string
	Tag       string
	Tombstone bool
}

// Storage is implemented by the naming store. It is called only from the
// goroutine driving the Node; it must be thread-safe with respect to the
// store's other users and must never block on the network.
type Storage interface {
	// Get returns the current record for key, tombstones included.
	Get(key string) (Record, bool)
	// Apply installs r iff r.Version is newer than the stored version (or the
	// key is absent) and reports whether it installed r.
	Apply(r Record) bool
	// Drop removes the local copy (record or tombstone) WITHOUT writing a
	// tombstone, and reports whether a copy existed.
	Drop(key string) bool
}

// Refresher is implemented by a Storage whose records carry data outside
// their identity (the naming store: the last heartbeat an instance's owner
// saw). Such data changes without a new version, so it never moves a
// digest or triggers a repair; the owner sends it with Node.Refresh, and a
// receiver that already holds the record's version passes it to Refresh.
type Refresher interface {
	// Refresh offers r, whose version equals the stored one: the storage
	// may take the data outside the record's identity from it. It must not
	// change what the version identifies.
	Refresh(r Record)
}

// MemberState is the health of a cluster member as seen by the local
// membership layer.
type MemberState uint8

const (
	// StateUp is a healthy member. It is on the ownership ring and receives
	// syncs, verifies and snapshot requests.
	StateUp MemberState = iota + 1
	// StateSuspicious is a member that missed some health reports. It stays
	// on the ownership ring (so a short hiccup does not move ownership) and
	// still receives syncs: retries and backoff deal with the losses.
	StateSuspicious
	// StateDown is a member declared dead. It leaves the ownership ring, gets
	// no messages (its sync queue is kept and flushed when it comes back), and
	// after Config.OwnerGrace the connection clients it owned are dropped.
	StateDown
)

// String returns "UP", "SUSPICIOUS", "DOWN" or "UNKNOWN".
func (s MemberState) String() string {
	switch s {
	case StateUp:
		return "UP"
	case StateSuspicious:
		return "SUSPICIOUS"
	case StateDown:
		return "DOWN"
	}
	return "UNKNOWN"
}

// live reports whether a member in state s is on the ownership ring.
func (s MemberState) live() bool { return s == StateUp || s == StateSuspicious }

// Member is one entry of the member view passed to Node.SetMembers.
type Member struct {
	// Addr is the member address ("ip:port"); every node must spell every
	// address byte-identically, or ownership views differ.
	Addr  string
	State MemberState
	// Refused marks a DOWN member whose port refused the connection (or
	// whose host had no route) at the last attempt: no process listens
	// there, so it holds nothing the snapshot load could wait for, and the
	// load gives it up at once. A member that only timed out (it may be
	// cut off, not dead) is not Refused. Ignored unless State is DOWN.
	Refused bool
}

// String returns "addr STATE", with " refused" for a Refused DOWN member.
func (m Member) String() string {
	if m.Refused && m.State == StateDown {
		return m.Addr + " " + m.State.String() + " refused"
	}
	return m.Addr + " " + m.State.String()
}

// Envelope is one outgoing message and its destination address.
type Envelope struct {
	To  string
	Msg Message
}
