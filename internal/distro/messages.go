package distro

import (
	"github.com/distrod/distrod/internal/hlc"
)

// MsgType identifies a concrete Message type; transports use it as the wire
// tag.
type MsgType uint8

// The protocol's message types. Values are stable: transports may put them
// on the wire.
const (
	MsgSyncBatch       MsgType = 1 // *SyncBatch: owner -> peer, records to apply
	MsgSyncAck         MsgType = 2 // *SyncAck: peer -> owner, batch applied
	MsgVerifyDigest    MsgType = 3 // *VerifyDigest: owner -> peer, bucket digests
	MsgVerifyRequest   MsgType = 4 // *VerifyRequest: peer -> owner, buckets that differ
	MsgVerifyKeys      MsgType = 5 // *VerifyKeys: owner -> peer, key versions of those buckets
	MsgPullRequest     MsgType = 6 // *PullRequest: keys the asker wants in full
	MsgRecords         MsgType = 7 // *Records: answer to a PullRequest (no ack)
	MsgSnapshotRequest MsgType = 8 // *SnapshotRequest: loader -> peer, next chunk after a cursor
	MsgSnapshotChunk   MsgType = 9 // *SnapshotChunk: peer -> loader, one chunk
)

// String returns the message type's name.
func (t MsgType) String() string {
	switch t {
	case MsgSyncBatch:
		return "SyncBatch"
	case MsgSyncAck:
		return "SyncAck"
	case MsgVerifyDigest:
		return "VerifyDigest"
	case MsgVerifyRequest:
		return "VerifyRequest"
	case MsgVerifyKeys:
		return "VerifyKeys"
	case MsgPullRequest:
		return "PullRequest"
	case MsgRecords:
		return "Records"
	case MsgSnapshotRequest:
		return "SnapshotRequest"
	case MsgSnapshotChunk:
		return "SnapshotChunk"
	}
	return "Unknown"
}

// Message is any protocol message. The concrete types are the pointer types
// listed with MsgType; all fields are exported so that a transport can encode
// them. Step ignores messages of unknown types.
type Message interface {
	// Type returns the wire tag of the message.
	Type() MsgType
}

// SyncBatch carries the latest state of many keys from a node to one peer.
// The receiver applies each record by version and answers SyncAck{Seq}.
type SyncBatch struct {
	// Seq identifies the batch for its ack; unique per sending node
	// incarnation (it starts at a random value).
	Seq     uint64
	Records []Record
}

// SyncAck acknowledges that every record of the batch Seq was applied or was
// already superseded at the receiver.
type SyncAck struct {
	Seq uint64
}

// VerifyDigest is the per-round anti-entropy message: per-bucket digests of
// the live records the sender owns. Its size depends on the bucket count
// only, never on the number of clients.
type VerifyDigest struct {
	// Round is the sender's verify round counter (diagnostics only).
	Round uint64
	// Buckets[i] is the wrapping sum of recordHash over the sender's live
	// owned records whose key falls into bucket i. len(Buckets) is the
	// sender's Config.VerifyBuckets; a receiver with another bucket count
	// ignores the message.
	Buckets []uint64
}

// VerifyRequest asks the digest sender for the key versions of the buckets
// whose digests differ from the receiver's view.
type VerifyRequest struct {
	Round   uint64
	Buckets []uint32
}

// KeyVersion is the metadata of one key in a VerifyKeys answer.
type KeyVersion struct {
	Key       string
	Version   hlc.Version
	Tombstone bool
	// Owned reports whether the sender counts the key as its own (it is in
	// the sender's digest when it is also live).
	Owned bool
}

// VerifyKeys lists every key (tombstones included, owned or not) the sender
// holds in each bucket of Buckets. Buckets are never split across messages,
// so an absent key means the sender holds no copy at all.
type VerifyKeys struct {
	Round   uint64
	Buckets []uint32
	Entries []KeyVersion
}

// PullRequest asks a peer for the full records of Keys; the answer is
// Records.
type PullRequest struct {
	Keys []string
}

// Records carries full records for a PullRequest. It is not acknowledged: a
// lost answer is repaired by the next verify round.
type Records struct {
	Records []Record
}

// SnapshotRequest asks a peer for the next chunk of everything it holds
// (tombstones included), in key order, starting strictly after After.
type SnapshotRequest struct {
	// Session identifies one load from one peer; stale chunks are ignored.
	Session uint64
	// After is the cursor: the last key of the previous chunk, "" at start.
	After string
	// Limit is the maximum number of records the asker wants in the chunk.
	Limit int
}

// SnapshotChunk is one chunk of a snapshot stream.
type SnapshotChunk struct {
	Session uint64
	// After echoes the request's cursor so the asker can discard duplicates.
	After   string
	Records []Record
	// Next is the cursor for the following request (the last key sent).
	Next string
	// Done reports that no key follows Next.
	Done bool
}

// Type implements Message.
func (*SyncBatch) Type() MsgType { return MsgSyncBatch }

// Type implements Message.
func (*SyncAck) Type() MsgType { return MsgSyncAck }

// Type implements Message.
func (*VerifyDigest) Type() MsgType { return MsgVerifyDigest }

// Type implements Message.
func (*VerifyRequest) Type() MsgType { return MsgVerifyRequest }

// Type implements Message.
func (*VerifyKeys) Type() MsgType { return MsgVerifyKeys }

// Type implements Message.
func (*PullRequest) Type() MsgType { return MsgPullRequest }

// Type implements Message.
func (*Records) Type() MsgType { return MsgRecords }

// Type implements Message.
func (*SnapshotRequest) Type() MsgType { return MsgSnapshotRequest }

// Type implements Message.
func (*SnapshotChunk) Type() MsgType { return MsgSnapshotChunk }
