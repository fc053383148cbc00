package distro

import (
	"time"
)

// Status is a typed snapshot of the node's state for metrics and the status
// endpoint. It is computed on demand in O(peers + pending keys).
type Status struct {
	Self    string
	Ready   bool
	ReadyAt time.Time // zero until ready
	// Members is the normalised member view (sorted, self UP).
	Members []Member
	// Ring is the sorted list of members that own ip:port tags (UP and
	// SUSPICIOUS).
	Ring []string

	Keys       int // records held, tombstones included
	Live       int // live (non-tombstone) records
	Tombstones int
	// Digest is the wrapping sum of a hash of (key, version) over all live
	// records. Nodes holding the same live records at the same versions have
	// equal digests (used to check convergence, I1).
	Digest uint64
	// Owned is the number of live records this node is responsible for.
	Owned int

	Peers []PeerStatus

	VerifyRoundsSent  uint64 // verify rounds started by this node
	VerifyDigestsSent uint64 // VerifyDigest messages sent (all peers)
	// VerifyDigestsSkipped counts the digests not sent to a peer because
	// a full sync batch or more was queued for it (see verifyRound).
	VerifyDigestsSkipped uint64
	VerifyDigestsRecv    uint64 // VerifyDigest messages compared
	VerifyBucketsDiffer  uint64 // buckets that differed in received digests
	VerifyKeysRecv       uint64 // VerifyKeys messages planned

	RepairsPulled  uint64 // records installed from Records (pull) answers
	RepairsPushed  uint64 // keys pushed back because this node held a newer version
	RepairsDropped uint64 // local copies dropped because their owner holds none

	TombstonesCollected uint64 // tombstones removed after TombstoneTTL
	OwnerCleanupDrops   uint64 // connection records dropped after their owner was DOWN for OwnerGrace

	RecordsApplied   uint64 // remote records installed (sync, pull, snapshot)
	RecordsStale     uint64 // remote records ignored as not newer
	RecordsRefreshed uint64 // remote records at the held version passed to Refresher
	SyncBatchesRecv  uint64
	Unreachable      uint64 // Unreachable calls

	Snapshot SnapshotStatus
}

// PeerStatus is the per-peer part of Status.
type PeerStatus struct {
	Addr  string
	State MemberState
	// Pending is the number of keys queued (unsent or in flight) for the
	// peer; at most one per key.
	Pending int
	// OldestPending is the age of the oldest queued key: the replication
	// lag bound for this peer. Zero if nothing is queued.
	OldestPending time.Duration
	Inflight      int // unacknowledged batches
	RetryKeys     int // queued keys that failed at least once (retry depth)
	Failures      int // consecutive failed batches
	// Backoff is the remaining time before the next send attempt; zero if
	// none.
	Backoff       time.Duration
	BatchesSent   uint64
	RecordsSent   uint64
	BatchesAcked  uint64
	BatchesFailed uint64
	Retries       uint64 // keys re-queued after failures, cumulative
	VerifySent    uint64
	VerifyRecv    uint64
	// Snapshot is this node's load of the peer's snapshot: "idle",
	// "loading", "overdue" (still loading, in the background, after
	// LoadMax made the node ready), "done", "gave-up" (no progress for
	// LoadTimeout) or "refused" (the peer was DOWN refusing connections).
	Snapshot        string
	SnapshotRecords uint64
	SnapshotChunks  uint64
}

// SnapshotStatus summarises the startup load.
type SnapshotStatus struct {
	Started   bool
	StartedAt time.Time
	Loading   int // peers still streaming
	Done      int // peers fully loaded
	GaveUp    int // peers given up (no progress for LoadTimeout)
	Refused   int // peers given up as DOWN and refusing connections
	// Overdue is the number of peers whose stream LoadMax stopped the
	// node's readiness from waiting for (they may have finished since).
	Overdue int
	Records uint64
	Served  uint64 // chunks this node served to others
}

// Status returns the node's current status. Ages are measured at the time
// passed to the most recent call of any method taking now.
func (n *Node) Status() Status {
	s := Status{
		Self:                 n.self,
		Ready:                n.ready,
		ReadyAt:              n.readyAt,
		Members:              append([]Member(nil), n.members...),
		Ring:                 append([]string(nil), n.ring...),
		Keys:                 len(n.idx),
		Live:                 n.live,
		Tombstones:           len(n.tombs),
		Digest:               n.total,
		VerifyRoundsSent:     n.c.verifyRoundsSent,
		VerifyDigestsSent:    n.c.verifyDigestsSent,
		VerifyDigestsSkipped: n.c.verifyDigestsSkipped,
		VerifyDigestsRecv:    n.c.verifyDigestsRecv,
		VerifyBucketsDiffer:  n.c.verifyBucketsDiffer,
		VerifyKeysRecv:       n.c.verifyKeysRecv,
		RepairsPulled:        n.c.repairsPulled,
		RepairsPushed:        n.c.repairsPushed,
		RepairsDropped:       n.c.repairsDropped,
		TombstonesCollected:  n.c.tombstonesCollected,
		OwnerCleanupDrops:    n.c.ownerCleanupDrops,
		RecordsApplied:       n.c.recordsApplied,
		RecordsStale:         n.c.recordsStale,
		RecordsRefreshed:     n.c.recordsRefreshed,
		SyncBatchesRecv:      n.c.syncBatchesRecv,
		Unreachable:          n.c.unreachable,
		Snapshot: SnapshotStatus{
			Started:   n.loadStarted,
			StartedAt: n.loadStart,
			Served:    n.c.snapshotChunksServed,
		},
	}
	s.Owned = n.owned
	now := n.now
	for _, a := range n.peerAddrs {
		p := n.peers[a]
		ps := PeerStatus{
			Addr: a, State: p.state, Pending: len(p.pending), Inflight: len(p.inflight),
			Failures: p.failures, BatchesSent: p.batchesSent, RecordsSent: p.recordsSent,
			BatchesAcked: p.batchesAcked, BatchesFailed: p.batchesFailed, Retries: p.retries,
			VerifySent: p.verifySent, VerifyRecv: p.verifyRecv,
			Snapshot: p.snap.state.String(), SnapshotRecords: p.snap.records, SnapshotChunks: p.snap.chunks,
		}
		if p.snap.overdue {
			s.Snapshot.Overdue++
			if p.snap.state == snapLoading {
				ps.Snapshot = "overdue"
			}
		}
		for _, e := range p.pending { // order-independent: min and count
			if age := now.Sub(e.since); age > ps.OldestPending {
				ps.OldestPending = age
			}
			if e.attempts > 0 {
				ps.RetryKeys++
			}
		}
		if now.Before(p.backoffUntil) {
			ps.Backoff = p.backoffUntil.Sub(now)
		}
		switch p.snap.state {
		case snapLoading:
			s.Snapshot.Loading++
		case snapDone:
			s.Snapshot.Done++
		case snapGaveUp:
			s.Snapshot.GaveUp++
		case snapRefused:
			s.Snapshot.Refused++
		}
		s.Snapshot.Records += p.snap.records
		s.Peers = append(s.Peers, ps)
	}
	return s
}
