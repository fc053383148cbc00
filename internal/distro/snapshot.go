package distro

import (
	"sort"
	"time"
)

// startSnapshot (re)starts loading p's full snapshot from the beginning.
func (n *Node) startSnapshot(now time.Time, p *peer) {
	p.snap = snapPeer{
		state:        snapLoading,
		gating:       !n.ready,
		session:      n.rng.Uint64(),
		lastProgress: now,
	}
	n.requestChunk(now, p)
}

func (n *Node) requestChunk(now time.Time, p *peer) {
	p.snap.sentAt = now
	p.snap.retryAt = time.Time{}
	n.send(p.addr, &SnapshotRequest{Session: p.snap.session, After: p.snap.cursor, Limit: n.cfg.SyncBatchMaxRecords})
}

// tickSnapshot re-sends timed-out chunk requests, gives up on peers that
// made no progress for LoadTimeout and, LoadMax after the load started,
// stops the node's readiness from waiting for the streams still running.
func (n *Node) tickSnapshot(now time.Time) {
	overdue := !n.ready && now.Sub(n.loadStart) >= n.cfg.LoadMax
	for _, a := range n.peerAddrs {
		p := n.peers[a]
		if p.snap.state != snapLoading {
			continue
		}
		if overdue && p.snap.gating {
			// The whole load took too long (a peer trickling chunks
			// forever): the node turns ready, the stream goes on.
			p.snap.gating, p.snap.overdue = false, true
		}
		if now.Sub(p.snap.lastProgress) >= n.cfg.LoadTimeout {
			p.snap.state = snapGaveUp
			continue
		}
		switch {
		case !p.snap.sentAt.IsZero() && now.Sub(p.snap.sentAt) >= n.cfg.SnapshotRequestTimeout:
			n.requestChunk(now, p)
		case p.snap.sentAt.IsZero() && !p.snap.retryAt.IsZero() && !now.Before(p.snap.retryAt):
			n.requestChunk(now, p)
		}
	}
}

// giveUpRefused abandons the load from every peer that is DOWN and refused
// connections: no process listens there, so there is nothing to load, and
// readiness must not wait LoadTimeout for it. A peer that is DOWN by
// timeouts alone may be cut off rather than dead; it is still waited for.
// An abandoned peer is loaded again once heard from or back UP.
func (n *Node) giveUpRefused() {
	for _, a := range n.peerAddrs {
		if p := n.peers[a]; p.refused && p.snap.state == snapLoading {
			p.snap.state = snapRefused
			p.snap.sentAt, p.snap.retryAt = time.Time{}, time.Time{}
		}
	}
}

// checkReady turns the node ready once no peer that gates the load is still
// loading. It never turns back.
func (n *Node) checkReady(now time.Time) {
	if n.ready || !n.loadStarted {
		return
	}
	for _, p := range n.peers { // order-independent: read only
		if p.snap.state == snapLoading && p.snap.gating {
			return
		}
	}
	n.ready, n.readyAt = true, now
	// The first verify round is jittered so nodes started together do not
	// verify in lockstep.
	n.nextVerify = now.Add(time.Duration(n.rng.Int64N(int64(n.cfg.VerifyInterval))))
}

// serveSnapshot answers one chunk of everything this node holds, tombstones
// included, whatever its own readiness (the asker merges by version from
// every peer).
func (n *Node) serveSnapshot(to string, m *SnapshotRequest) {
	n.c.snapshotChunksServed++
	keys := n.sortedIndexKeys()
	i := sort.SearchStrings(keys, m.After)
	if m.After != "" && i < len(keys) && keys[i] == m.After {
		i++
	}
	limit := n.cfg.SyncBatchMaxRecords
	if m.Limit > 0 && m.Limit < limit {
		limit = m.Limit
	}
	chunk := &SnapshotChunk{Session: m.Session, After: m.After, Next: m.After}
	size := 0
	for ; i < len(keys) && len(chunk.Records) < limit; i++ {
		r, ok := n.store.Get(keys[i])
		if !ok {
			chunk.Next = keys[i]
			continue
		}
		sz := len(r.Key) + len(r.Data)
		if len(chunk.Records) > 0 && size+sz > n.cfg.SyncBatchMaxBytes {
			break
		}
		size += sz
		chunk.Records = append(chunk.Records, r)
		chunk.Next = keys[i]
	}
	chunk.Done = i >= len(keys)
	n.send(to, chunk)
}

func (n *Node) onSnapshotChunk(now time.Time, from string, m *SnapshotChunk) {
	p := n.peers[from]
	if p == nil || p.snap.state != snapLoading || p.snap.session != m.Session || p.snap.cursor != m.After {
		return // stale, duplicate or unasked
	}
	for _, r := range m.Records {
		n.applyRemote(now, from, r)
	}
	p.snap.records += uint64(len(m.Records))
	p.snap.chunks++
	p.snap.lastProgress = now
	p.snap.sentAt = time.Time{}
	if m.Done || m.Next == p.snap.cursor {
		p.snap.state = snapDone
		return
	}
	p.snap.cursor = m.Next
	n.requestChunk(now, p)
}
