package distro

import (
	"sort"
	"time"
)

// verifySkipMax is how many verify rounds in a row an owner may skip for a
// peer while it has a full sync batch or more queued for it (see
// verifyRound).
const verifySkipMax = 9

// verifyRound sends this node's owned-record digests to every peer that is
// not DOWN and whose snapshot this node has fully loaded. The second
// condition matters: a receiver drops records the owner does not hold, so an
// owner must not verify against a peer whose data it may never have seen
// (e.g. after a restart during which that peer was unreachable).
//
// While a full sync batch or more (SyncBatchMaxRecords) is queued or in
// flight for a peer, as during a bulk load, that peer's digests of this
// node's records differ in many buckets: a round would only have it ask
// for, and this node list, every key of those buckets, and pull again the
// records the queue is delivering, each second, until the queue drains. At
// 5M instances those answers and pulls outgrew the data itself. Such a peer
// is skipped, but never more than verifySkipMax rounds in a row, so
// verification still runs during a long stream of writes. A short queue
// (ordinary traffic) never skips a round.
func (n *Node) verifyRound() {
	n.c.verifyRoundsSent++
	d := make([]uint64, n.cfg.VerifyBuckets)
	copy(d, n.digests[n.self])
	round := n.c.verifyRoundsSent
	for _, a := range n.peerAddrs {
		p := n.peers[a]
		if p.state == StateDown || p.snap.state != snapDone {
			continue
		}
		if len(p.pending) >= n.cfg.SyncBatchMaxRecords && p.verifySkipped < verifySkipMax {
			p.verifySkipped++
			n.c.verifyDigestsSkipped++
			continue
		}
		p.verifySkipped = 0
		p.verifySent++
		n.c.verifyDigestsSent++
		n.send(a, &VerifyDigest{Round: round, Buckets: d})
	}
}

// onVerifyDigest compares the sender's digests of the records it owns with
// this node's digests of the records it attributes to the sender, and asks
// for the key versions of the buckets that differ.
func (n *Node) onVerifyDigest(from string, m *VerifyDigest) {
	if !n.ready || len(m.Buckets) != n.cfg.VerifyBuckets {
		return
	}
	n.c.verifyDigestsRecv++
	if p := n.peers[from]; p != nil {
		p.verifyRecv++
	}
	mine := n.digests[from]
	var diff []uint32
	for i, v := range m.Buckets {
		var have uint64
		if mine != nil {
			have = mine[i]
		}
		if have != v {
			diff = append(diff, uint32(i))
		}
	}
	if len(diff) == 0 {
		return
	}
	n.c.verifyBucketsDiffer += uint64(len(diff))
	n.send(from, &VerifyRequest{Round: m.Round, Buckets: diff})
}

// onVerifyRequest lists every key held in the requested buckets. Buckets are
// never split across messages so the asker can treat a missing key as "the
// owner holds no copy".
func (n *Node) onVerifyRequest(from string, m *VerifyRequest) {
	bs := make([]uint32, 0, len(m.Buckets))
	for _, b := range m.Buckets {
		if int(b) < n.cfg.VerifyBuckets {
			bs = append(bs, b)
		}
	}
	sort.Slice(bs, func(i, j int) bool { return bs[i] < bs[j] })
	bs = compactU32(bs)
	cur := &VerifyKeys{Round: m.Round}
	for _, b := range bs {
		for _, k := range sortedKeys(n.buckets[b]) {
			e := n.buckets[b][k]
			cur.Entries = append(cur.Entries, KeyVersion{
				Key: k, Version: e.meta.Version, Tombstone: e.meta.Tombstone,
				Owned: n.attribute(e.meta) == n.self,
			})
		}
		cur.Buckets = append(cur.Buckets, b)
		if len(cur.Entries) >= n.cfg.VerifyMaxKeys {
			n.send(from, cur)
			cur = &VerifyKeys{Round: m.Round}
		}
	}
	if len(cur.Buckets) > 0 {
		n.send(from, cur)
	}
}

// onVerifyKeys is the repair planner. For each key that is either in the
// sender's digest (owned by it, live) or in this node's digest for the
// sender (attributed to it, live):
//
//   - the sender's version is newer, or this node has no copy: pull it;
//   - this node's version is newer (the other side of a healed partition
//     wrote later, or this node holds a newer tombstone): push it back
//     through the sync queue, the owner applies it and re-broadcasts;
//   - the sender holds no copy at all of a live record this node attributes
//     to it and the sender wrote that record: the sender deleted it and
//     already collected the tombstone (a writer collects a tombstone only
//     after every peer acknowledged it), or, for a connection client, the
//     sender restarted and the connection is gone. Drop the local copy
//     without a tombstone (I3). Exception: a key still queued for the
//     sender, whose version the queue is about to deliver.
//   - the sender holds no copy of a live record attributed to it that
//     another node wrote (ownership of an ip:port moved, e.g. both sides of
//     a partition owned it): the sender has merely not seen it, so push it.
//     Dropping here would lose a live registration whenever the new owner
//     had not yet received the old owner's write.
func (n *Node) onVerifyKeys(now time.Time, from string, m *VerifyKeys) {
	if !n.ready {
		return
	}
	n.c.verifyKeysRecv++
	inMsg := make(map[uint32]bool, len(m.Buckets))
	for _, b := range m.Buckets {
		if int(b) < n.cfg.VerifyBuckets {
			inMsg[b] = true
		}
	}
	p := n.peers[from]
	held := make(map[string]bool, len(m.Entries))
	var pulls []string
	for _, kv := range m.Entries {
		kh := strHash(kv.Key)
		if !inMsg[bucketOf(kh, n.cfg.VerifyBuckets)] {
			continue
		}
		held[kv.Key] = true
		e := n.idx[kv.Key]
		mineAttr := e != nil && !e.meta.Tombstone && e.attrib == from
		theirsOwned := kv.Owned && !kv.Tombstone
		if !mineAttr && !theirsOwned {
			continue
		}
		switch {
		case e == nil || kv.Version.Newer(e.meta.Version):
			pulls = append(pulls, kv.Key)
		case e.meta.Version.Newer(kv.Version):
			if p != nil {
				p.enqueue(now, kv.Key)
				n.c.repairsPushed++
			}
		}
	}
	bs := make([]uint32, 0, len(inMsg))
	for b := range inMsg { // order-independent: sorted below
		bs = append(bs, b)
	}
	sort.Slice(bs, func(i, j int) bool { return bs[i] < bs[j] })
	for _, b := range bs {
		for _, k := range sortedKeys(n.buckets[b]) {
			e := n.buckets[b][k]
			if held[k] || e.meta.Tombstone || e.attrib != from {
				continue
			}
			if p == nil {
				continue
			}
			if _, queued := p.pending[k]; queued {
				continue // the queue is already delivering this node's version
			}
			if e.meta.Owner != from {
				// Written by another node (ownership moved, e.g. across a
				// partition): the new owner simply has not seen it yet.
				p.enqueue(now, k)
				n.c.repairsPushed++
				continue
			}
			if n.dropLocal(k) {
				n.c.repairsDropped++
			}
		}
	}
	for len(pulls) > 0 {
		c := min(len(pulls), n.cfg.VerifyMaxKeys)
		n.send(from, &PullRequest{Keys: pulls[:c:c]})
		pulls = pulls[c:]
	}
}

// sendRecords answers a PullRequest with the current records of keys, in
// batches bounded like SyncBatch.
func (n *Node) sendRecords(to string, keys []string) {
	var recs []Record
	size := 0
	for _, k := range keys {
		r, ok := n.store.Get(k)
		if !ok {
			continue
		}
		sz := len(k) + len(r.Data)
		if len(recs) > 0 && (len(recs) >= n.cfg.SyncBatchMaxRecords || size+sz > n.cfg.SyncBatchMaxBytes) {
			n.send(to, &Records{Records: recs})
			recs, size = nil, 0
		}
		recs = append(recs, r)
		size += sz
	}
	if len(recs) > 0 {
		n.send(to, &Records{Records: recs})
	}
}

func compactU32(s []uint32) []uint32 {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}
