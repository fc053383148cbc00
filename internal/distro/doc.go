// Package distro is the pure, deterministic core of distrod's Distro
// protocol: the AP replication of ephemeral naming clients between equal
// cluster members (docs/distro.md states the rules and the invariants I1–I8).
//
// # Shape
//
// A Node is a state machine in the style of etcd's raft: the shell (one
// goroutine) feeds it inputs and drains its Outbox. The core starts no
// goroutines, opens no sockets, never reads the clock (time arrives as the
// now argument) and draws randomness only from the *rand.Rand given to New.
// Maps are iterated in sorted order wherever order can reach the outbox or
// Storage, so a seeded simulation replays exactly.
//
//	shell                                 core
//	-----                                 ----
//	membership view  --SetMembers-->      ownership ring, peers, load start
//	store change     --Observe----->      index + digests; owner queues sync
//	peer message     --Step-------->      apply / answer / plan repairs
//	timer (~5ms)     --Tick-------->      flush, retry, verify, GC, cleanup
//	send failure     --Unreachable->      backoff / re-request
//	                 <--Outbox------      []Envelope{To, Msg}
//	                 <--Storage-----      Get / Apply / Drop (never blocks)
//
// The payload of a client never passes through the core's memory except on
// its way from Storage to an outgoing message: the core keeps only Meta
// (key, version, writer, tag, tombstone) and hashes.
//
// # Ownership
//
// A connection client (Tag == "") is owned by the node that wrote it (its
// gRPC connection lives there). An IP-port client is owned by the
// rendezvous (highest-random-weight) winner of its "ip:port" tag over the
// UP and SUSPICIOUS members. Rendezvous hashing makes a membership change
// move only the tags of the member that came or went (Nacos's hash % N moves
// almost all), and equal views give equal owners (I6). SUSPICIOUS members
// stay on the ring so a missed health report does not bounce ownership.
//
// Only the owner writes an IP-port client. An HTTP write that reaches
// another node is carried to the owner by the shell (one unary call on the
// cluster channel, not through this core) with an absolute deadline on the
// entry node's clock; the owner refuses it once that deadline has passed by
// its own clock (replica.ForwardExpired), so a request that the network
// delivers late never becomes a fresh write. The owner answers with the
// records the write produced, which the entry node installs by version
// (an ordinary Storage.Apply, then Observe) before it answers the client:
// the write is readable on the node that acknowledged it.
//
// # Versions and tombstones
//
// Records carry an hlc.Version, totally ordered across nodes; Storage.Apply
// installs only newer versions and the core additionally never hands it a
// record older than the version it has indexed. A delete is a tombstone
// record. Each node keeps a tombstone for at least TombstoneTTL, and a node
// that still has it queued for some peer keeps it until that peer
// acknowledged it, so the writer of a delete forgets it only once every
// member in its view holds it. A late or replayed older record therefore
// never resurrects a delete (I3).
//
// Versions come from the naming layer: a client action gets a fresh HLC
// value, a change the server derives from the state it holds (a health
// flip, an expiry) only raises the version's derivation part, so it never
// outranks a later client action made elsewhere (see internal/hlc). The core
// only compares versions; it never makes one.
//
// # Sync
//
// On Observe of a key it owns, or of a version it wrote itself (a write it
// accepted while its view of the owner differed from the writer's), the
// node queues the key (not the record) for every peer: at most one entry per key per peer, so repeated changes merge
// and retry memory is bounded by the key count. SyncDelay after the first
// unsent change the queue is flushed in SyncBatch messages bounded by count
// and bytes, with records read from Storage at that moment (latest state).
// The peer applies by version and acks; an unacked batch (SyncTimeout) or an
// Unreachable report re-queues its keys and backs off exponentially with
// jitter up to RetryBackoffMax. DOWN peers keep their queue and get it when
// they come back. A record a node applied from a peer is forwarded only if
// the node owns it (the owner re-broadcasts a newer version pushed to it).
//
// Refresh queues a key the node owns without a new version: the owner's way
// to replicate data outside the record's identity (the naming store's last
// beat times). A peer that holds that version hands the record to the
// Storage's optional Refresher; digests never move, so a steady stream of
// refreshes costs no verify traffic.
//
// # Verify (anti-entropy)
//
// Every VerifyInterval a ready node sends each peer one VerifyDigest: for
// each of VerifyBuckets buckets (by key hash), the wrapping sum of
// hash(key, version) over the live records it owns. Its size is fixed, so
// steady-state verify cost does not grow with the number of clients. The
// receiver keeps the same sums, incrementally, for the records it attributes
// to each owner, and answers only the buckets that differ (VerifyRequest).
// The owner lists every key it holds in those buckets (VerifyKeys: version,
// tombstone, owned flag; buckets never split), and the receiver plans:
//
//   - owner's version newer, or missing here: pull (PullRequest / Records);
//   - this node's version newer (the other side of a healed partition wrote
//     later, or it holds a newer tombstone): push it through the sync queue;
//     the owner applies it and re-broadcasts, so the newest version wins
//     everywhere (I1);
//   - owner holds no copy of a live record it wrote: it deleted it and
//     collected the tombstone (or, for a connection client, restarted and
//     lost the connection): drop locally without a tombstone (I3), unless
//     the key is still queued for the owner;
//   - owner holds no copy of a live record another node wrote (ownership of
//     an ip:port moved): push it, so a registration made on the other side
//     of a partition is not lost.
//
// A node verifies against a peer only after it has loaded that peer's
// snapshot, because receivers drop what the owner does not hold.
//
// # Snapshot load
//
// On its first SetMembers the node asks every peer for its full content
// (tombstones included) in key order, SyncBatchMaxRecords per chunk, with
// the last key as cursor; chunks are applied by version. Ready turns true
// when every peer that was a member during the load finished its stream,
// made no progress for LoadTimeout, or is DOWN with Member.Refused (its
// port refused connections: no process, nothing to load; a peer DOWN by
// timeouts may be cut off, not dead, and is waited for); or LoadMax after
// the load started, whatever still streams (the streams go on in the
// background). A lone node in a fresh cluster is ready after LoadTimeout
// (at once if its peers refuse), a standalone one at once (I5). A peer
// given up during the load is loaded from again, in the background, as
// soon as it is heard from or comes back UP (a Refused one that comes back
// UP while the node still loads gates readiness again). Until ready the node neither
// sends nor answers verifies, but it serves snapshots and applies syncs.
//
// # Dead owners
//
// When a member goes DOWN (or leaves the view) for OwnerGrace, the live
// connection clients it owns are dropped locally, without tombstones (they
// are not the owner's deletes). If the member was only cut off, it returns
// UP and its verify restores them. IP-port clients are not dropped: their
// tags move to a live member, whose health checks decide.
//
// # Shell contract
//
// Call SetMembers before the first Tick (and on every view change, self
// included); call Observe for every change of Storage, including those the
// core made through Apply (it is idempotent) and feed the same version to
// the node's hlc.Clock; deliver Step messages in any order (duplicates and
// reordering are harmless); report send failures with Unreachable; Tick
// every few milliseconds; send Outbox after every call. After a restart the
// naming layer must tombstone the connection clients with Owner == self that
// the snapshot brings back: their connections died with the old process.
// Package distrotest holds a map Storage, a fault network and a seeded
// cluster simulation that checks these rules.
//
// # Tests that keep it so
//
// purity_test.go fails when this package or internal/hlc imports anything
// but the standard library (and hlc), reads or schedules on the wall clock,
// starts a goroutine, or iterates a map without an "order-independent"
// note. script_test.go runs the data-driven scripts of testdata/script:
// members, writes, ticks, deliveries and losses, with every message the
// nodes send printed, compared with the recorded transcript.
package distro
