package server

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/distrod/distrod/internal/distro"
)

// NodeStatus is what /distrod/status reports: this node's view of the
// cluster and its data. Two converged nodes report the same Digest. Its
// JSON is the endpoint's documented format (README): camelCase
// keys, states as words, durations in milliseconds, times in RFC 3339.
type NodeStatus struct {
	Self  string `json:"self"`
	Mode  string `json:"mode"`
	Ready bool   `json:"ready"`
	// Digest is a hash over every live record's key and version, as a hex
	// string: equal on all nodes once the cluster converged.
	Digest    string         `json:"digest"`
	Services  int            `json:"services"`
	Instances int            `json:"instances"`
	Clients   int            `json:"clients"`
	Members   []MemberStatus `json:"members"`
	// Version is the binary's module version and VCS revision.
	Version string `json:"version"`
	// Loader holds this node's connection-load metrics under Nacos's
	// ServerLoaderInfoResponse names (conCount, sdkConCount, load, cpu);
	// /v2/core/loader/cluster reads them from every member.
	Loader map[string]string `json:"loader,omitempty"`
	// Distro is the protocol core's status (cluster mode only).
	Distro *DistroStatus `json:"distro,omitempty"`
}

// MemberStatus is one member in this node's view.
type MemberStatus struct {
	Address string `json:"address"`
	// State is "UP", "SUSPICIOUS" or "DOWN".
	State string `json:"state"`
}

// DistroStatus is the Distro core's status (distro.Status) in the
// endpoint's format.
type DistroStatus struct {
	// ReadyAt is when the startup snapshot load ended; empty before.
	ReadyAt string `json:"readyAt,omitempty"`
	// Ring lists the members that own ip:port tags (UP and SUSPICIOUS).
	Ring []string `json:"ring"`
	// Keys counts the records held, tombstones included; Live and
	// Tombstones split it; Owned counts the live records this node is
	// responsible for.
	Keys       int `json:"keys"`
	Live       int `json:"live"`
	Tombstones int `json:"tombstones"`
	Owned      int `json:"owned"`
	// Peers is the replication state towards each other member.
	Peers []PeerStatus `json:"peers"`

	VerifyRoundsSent    uint64 `json:"verifyRoundsSent"`
	VerifyDigestsSent   uint64 `json:"verifyDigestsSent"`
	VerifyDigestsRecv   uint64 `json:"verifyDigestsReceived"`
	VerifyBucketsDiffer uint64 `json:"verifyBucketsDiffer"`
	VerifyKeysRecv      uint64 `json:"verifyKeysReceived"`
	// RepairsPulled counts records installed from pull answers,
	// RepairsPushed keys pushed back because this node held a newer
	// version, RepairsDropped local copies dropped because their owner
	// holds none.
	RepairsPulled  uint64 `json:"repairsPulled"`
	RepairsPushed  uint64 `json:"repairsPushed"`
	RepairsDropped uint64 `json:"repairsDropped"`
	// TombstonesCollected counts tombstones removed after their TTL;
	// OwnerCleanupDrops connection records dropped after their owner was
	// DOWN for the owner grace.
	TombstonesCollected uint64 `json:"tombstonesCollected"`
	OwnerCleanupDrops   uint64 `json:"ownerCleanupDrops"`
	// RecordsApplied counts remote records installed, RecordsStale those
	// ignored as not newer, RecordsRefreshed those at the held version.
	RecordsApplied   uint64 `json:"recordsApplied"`
	RecordsStale     uint64 `json:"recordsStale"`
	RecordsRefreshed uint64 `json:"recordsRefreshed"`
	SyncBatchesRecv  uint64 `json:"syncBatchesReceived"`
	// Unreachable counts messages the transport could not deliver.
	Unreachable uint64 `json:"unreachable"`

	Snapshot SnapshotStatus `json:"snapshot"`
}

// PeerStatus is the replication state towards one peer.
type PeerStatus struct {
	Address string `json:"address"`
	// State is "UP", "SUSPICIOUS" or "DOWN".
	State string `json:"state"`
	// Pending counts the keys queued (unsent or in flight) for the peer;
	// OldestPendingMs is the age of the oldest, the replication lag bound.
	Pending         int   `json:"pending"`
	OldestPendingMs int64 `json:"oldestPendingMs"`
	// Inflight counts unacknowledged batches, RetryKeys queued keys that
	// failed at least once, Failures consecutive failed batches.
	Inflight  int `json:"inflight"`
	RetryKeys int `json:"retryKeys"`
	Failures  int `json:"failures"`
	// BackoffMs is the time left before the next send attempt.
	BackoffMs      int64  `json:"backoffMs"`
	BatchesSent    uint64 `json:"batchesSent"`
	RecordsSent    uint64 `json:"recordsSent"`
	BatchesAcked   uint64 `json:"batchesAcked"`
	BatchesFailed  uint64 `json:"batchesFailed"`
	Retries        uint64 `json:"retries"`
	VerifySent     uint64 `json:"verifySent"`
	VerifyReceived uint64 `json:"verifyReceived"`
	// Snapshot is this node's load of the peer's snapshot: "idle",
	// "loading", "overdue" (still streaming after snapshot-load-max made
	// the node ready), "done", "gave-up" (no progress for the load
	// timeout) or "refused" (given up at once: the peer was DOWN refusing
	// connections).
	Snapshot        string `json:"snapshot"`
	SnapshotRecords uint64 `json:"snapshotRecords"`
	SnapshotChunks  uint64 `json:"snapshotChunks"`
}

// SnapshotStatus summarises the startup snapshot load.
type SnapshotStatus struct {
	Started bool `json:"started"`
	// StartedAt is when the load started; empty before.
	StartedAt string `json:"startedAt,omitempty"`
	// Loading, Done and GaveUp count the peers still streaming, fully
	// loaded, and given up (no progress for the load timeout).
	Loading int `json:"loading"`
	Done    int `json:"done"`
	GaveUp  int `json:"gaveUp"`
	// Refused counts the peers given up at once because they were DOWN
	// refusing connections; Overdue the streams the node stopped waiting
	// for when snapshot-load-max passed.
	Refused int    `json:"refused"`
	Overdue int    `json:"overdue"`
	Records uint64 `json:"records"`
	// ChunksServed counts the chunks this node served to others.
	ChunksServed uint64 `json:"chunksServed"`
}

// rfc3339 formats t, or "" for the zero time.
func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// distroStatus converts the core's status to the endpoint's format.
func distroStatus(ds distro.Status) *DistroStatus {
	out := &DistroStatus{
		ReadyAt: rfc3339(ds.ReadyAt), Ring: ds.Ring,
		Keys: ds.Keys, Live: ds.Live, Tombstones: ds.Tombstones, Owned: ds.Owned,
		Peers:            make([]PeerStatus, 0, len(ds.Peers)),
		VerifyRoundsSent: ds.VerifyRoundsSent, VerifyDigestsSent: ds.VerifyDigestsSent, VerifyDigestsRecv: ds.VerifyDigestsRecv,
		VerifyBucketsDiffer: ds.VerifyBucketsDiffer, VerifyKeysRecv: ds.VerifyKeysRecv,
		RepairsPulled: ds.RepairsPulled, RepairsPushed: ds.RepairsPushed, RepairsDropped: ds.RepairsDropped,
		TombstonesCollected: ds.TombstonesCollected, OwnerCleanupDrops: ds.OwnerCleanupDrops,
		RecordsApplied: ds.RecordsApplied, RecordsStale: ds.RecordsStale, RecordsRefreshed: ds.RecordsRefreshed,
		SyncBatchesRecv: ds.SyncBatchesRecv, Unreachable: ds.Unreachable,
		Snapshot: SnapshotStatus{
			Started: ds.Snapshot.Started, StartedAt: rfc3339(ds.Snapshot.StartedAt),
			Loading: ds.Snapshot.Loading, Done: ds.Snapshot.Done, GaveUp: ds.Snapshot.GaveUp,
			Refused: ds.Snapshot.Refused, Overdue: ds.Snapshot.Overdue,
			Records: ds.Snapshot.Records, ChunksServed: ds.Snapshot.Served,
		},
	}
	if out.Ring == nil {
		out.Ring = []string{}
	}
	for _, p := range ds.Peers {
		out.Peers = append(out.Peers, PeerStatus{
			Address: p.Addr, State: p.State.String(),
			Pending: p.Pending, OldestPendingMs: p.OldestPending.Milliseconds(),
			Inflight: p.Inflight, RetryKeys: p.RetryKeys, Failures: p.Failures, BackoffMs: p.Backoff.Milliseconds(),
			BatchesSent: p.BatchesSent, RecordsSent: p.RecordsSent, BatchesAcked: p.BatchesAcked,
			BatchesFailed: p.BatchesFailed, Retries: p.Retries, VerifySent: p.VerifySent, VerifyReceived: p.VerifyRecv,
			Snapshot: p.Snapshot, SnapshotRecords: p.SnapshotRecords, SnapshotChunks: p.SnapshotChunks,
		})
	}
	return out
}

// Status returns the node's status.
func (s *Server) Status(ctx context.Context) (NodeStatus, error) {
	st := s.store.Stats()
	ns := NodeStatus{Self: s.cfg.SelfAddr(), Mode: string(s.cfg.Mode), Ready: true,
		Services: st.Services, Instances: st.Instances, Clients: st.Clients, Version: buildVersion(),
		Loader: s.loader.metrics()}
	if s.cluster == nil {
		ns.Digest = fmt.Sprintf("%016x", s.store.Digest())
		ns.Members = []MemberStatus{{Address: s.cfg.SelfAddr(), State: "UP"}}
		return ns, nil
	}
	ds, err := s.cluster.Status(ctx)
	if err != nil {
		return ns, fmt.Errorf("server: cluster status: %w", err)
	}
	ns.Ready, ns.Distro = ds.Ready, distroStatus(ds)
	ns.Digest = fmt.Sprintf("%016x", ds.Digest)
	for _, m := range ds.Members {
		ns.Members = append(ns.Members, MemberStatus{Address: m.Addr, State: m.State.String()})
	}
	return ns, nil
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	st, err := s.Status(ctx)
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// handlePartition cuts this node off from the peers listed in the "block"
// parameter (comma-separated member addresses) in both directions; an empty
// list heals. Mounted only with FaultInjection.
func (s *Server) handlePartition(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		http.Error(w, "use POST /distrod/debug/partition?block=ip:port,ip:port (empty heals)", http.StatusMethodNotAllowed)
		return
	}
	var peers []string
	for _, p := range strings.Split(r.FormValue("block"), ",") {
		if p = strings.TrimSpace(p); p != "" {
			peers = append(peers, p)
		}
	}
	s.cluster.tr.Block(peers)
	s.log.Warn("fault injection: cluster traffic blocked", "peers", peers)
	writeJSON(w, http.StatusOK, map[string]any{"blocked": peers})
}
