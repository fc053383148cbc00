package distro_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/distrod/distrod/internal/distro"
	"github.com/distrod/distrod/internal/distro/distrotest"
)

func fastCfg(c *distro.Config) {
	c.SyncBatchMaxRecords = 8
	c.VerifyInterval = 100 * time.Millisecond
	c.TombstoneTTL = 300 * time.Millisecond
	c.LoadTimeout = 200 * time.Millisecond
	c.OwnerGrace = 500 * time.Millisecond
	c.SnapshotRequestTimeout = 100 * time.Millisecond
}

// readyNet returns a cluster of addrs whose (empty) snapshot loads are done.
func readyNet(t *testing.T, mut func(*distro.Config), addrs ...string) *tnet {
	t.Helper()
	nw := newNet(t, mut, addrs...)
	nw.setMembers(t0)
	nw.pump(t0)
	for _, a := range addrs {
		if !nw.nodes[a].node.Ready() {
			t.Fatalf("%s not ready after an empty load", a)
		}
	}
	return nw
}

func peerStatus(t *testing.T, x *tnode, peer string) distro.PeerStatus {
	t.Helper()
	for _, p := range x.node.Status().Peers {
		if p.Addr == peer {
			return p
		}
	}
	t.Fatalf("%s has no peer %s", x.addr, peer)
	return distro.PeerStatus{}
}

func TestNew_RejectsBadInput(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	if _, err := distro.New(distro.Config{}, distrotest.NewMemStore(), rng); !errors.Is(err, distro.ErrInvalidConfig) {
		t.Fatalf("empty config: %v", err)
	}
	if _, err := distro.New(distro.DefaultConfig("a:1"), nil, rng); !errors.Is(err, distro.ErrNilStorage) {
		t.Fatalf("nil storage: %v", err)
	}
	if _, err := distro.New(distro.DefaultConfig("a:1"), distrotest.NewMemStore(), nil); !errors.Is(err, distro.ErrNilRand) {
		t.Fatalf("nil rand: %v", err)
	}
}

func TestConfig_ValidateRejectsContradictions(t *testing.T) {
	if err := distro.DefaultConfig("a:1").Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	for name, mut := range map[string]func(*distro.Config){
		"buckets":   func(c *distro.Config) { c.VerifyBuckets = 100 },
		"ttl":       func(c *distro.Config) { c.TombstoneTTL = c.VerifyInterval },
		"delay":     func(c *distro.Config) { c.SyncDelay = c.SyncTimeout },
		"backoff":   func(c *distro.Config) { c.RetryBackoffMax = c.RetryBackoffBase / 2 },
		"zero":      func(c *distro.Config) { c.OwnerGrace = 0 },
		"batch":     func(c *distro.Config) { c.SyncBatchMaxRecords = 0 },
		"emptySelf": func(c *distro.Config) { c.Self = "" },
	} {
		c := distro.DefaultConfig("a:1")
		mut(&c)
		err := c.Validate()
		if !errors.Is(err, distro.ErrInvalidConfig) || !strings.HasPrefix(err.Error(), "distro: ") {
			t.Errorf("%s: got %v", name, err)
		}
	}
}

func TestSync_MergesChangesAndBatchesPerPeer(t *testing.T) {
	nw := readyNet(t, fastCfg, "a:1", "b:1")
	a, b := nw.nodes["a:1"], nw.nodes["b:1"]
	nw.sent = nil
	for i := 1; i <= 3; i++ { // three rapid changes of one key
		a.write(ms(i), "conn-1", "", ver(uint64(10+i)), false)
	}
	for i := range 20 {
		a.write(ms(3), fmt.Sprintf("conn-x%02d", i), "", ver(5), false)
	}
	if p := peerStatus(t, a, "b:1"); p.Pending != 21 {
		t.Fatalf("pending %d, want 21 (one entry per key)", p.Pending)
	}
	nw.tick(ms(5)) // first change at 1ms, SyncDelay 5ms: not yet due
	if n := nw.count(distro.MsgSyncBatch); n != 0 {
		t.Fatalf("sent %d batches inside the merge window", n)
	}
	nw.tick(ms(6))
	batches, records, seen := 0, 0, 0
	for _, e := range nw.sent {
		if sb, ok := e.Msg.(*distro.SyncBatch); ok {
			batches++
			records += len(sb.Records)
			for _, r := range sb.Records {
				if r.Key == "conn-1" {
					seen++
					if r.Version != ver(13) {
						t.Fatalf("conn-1 sent at %v, want the latest %v", r.Version, ver(13))
					}
				}
			}
		}
	}
	if batches != 3 || records != 21 || seen != 1 {
		t.Fatalf("batches=%d records=%d conn-1 copies=%d; want 3, 21, 1", batches, records, seen)
	}
	if r, ok := get(t, b, "conn-1"); !ok || r.Version != ver(13) {
		t.Fatalf("b holds %v %v", r.Version, ok)
	}
	if p := peerStatus(t, a, "b:1"); p.Pending != 0 || p.Inflight != 0 || p.BatchesAcked != 3 {
		t.Fatalf("after acks: %+v", p)
	}
}

func TestSync_RetriesWithBoundedBackoffOnUnreachable(t *testing.T) {
	nw := readyNet(t, fastCfg, "a:1", "b:1")
	a, b := nw.nodes["a:1"], nw.nodes["b:1"]
	var failed []distro.Envelope
	nw.drop = func(from, to string, m distro.Message) bool {
		if m.Type() == distro.MsgSyncBatch {
			failed = append(failed, distro.Envelope{To: to, Msg: m})
			return true
		}
		return false
	}
	a.write(ms(0), "k1", "", ver(1), false)
	a.write(ms(0), "k2", "", ver(1), false)
	now := ms(10)
	var backoffs []time.Duration
	for range 8 {
		nw.tick(now)
		if len(failed) == 0 {
			t.Fatalf("at %v: nothing sent", now.Sub(t0))
		}
		for _, e := range failed {
			a.node.Unreachable(now, e.To, e.Msg)
		}
		failed = nil
		p := peerStatus(t, a, "b:1")
		if p.Pending != 2 || p.RetryKeys != 2 {
			t.Fatalf("pending=%d retry keys=%d, want 2 and 2", p.Pending, p.RetryKeys)
		}
		backoffs = append(backoffs, p.Backoff)
		// Nothing is resent before the backoff ends, even with new changes.
		a.write(now, "k1", "", ver(uint64(now.Sub(t0))), false)
		nw.tick(now.Add(p.Backoff - time.Millisecond))
		if len(failed) != 0 {
			t.Fatalf("resent during backoff")
		}
		now = now.Add(p.Backoff)
	}
	cfg := a.node.Config()
	for i, d := range backoffs {
		if d < cfg.RetryBackoffBase/2 || d > cfg.RetryBackoffMax {
			t.Fatalf("backoff %d = %v out of [%v, %v]", i, d, cfg.RetryBackoffBase/2, cfg.RetryBackoffMax)
		}
	}
	if backoffs[len(backoffs)-1] < backoffs[0] {
		t.Fatalf("backoff did not grow: %v", backoffs)
	}
	nw.drop = nil
	nw.tick(now)
	if r, ok := get(t, b, "k1"); !ok || r.Tombstone {
		t.Fatal("k1 not delivered after the peer came back")
	}
	if p := peerStatus(t, a, "b:1"); p.Pending != 0 || p.Failures != 0 || p.Backoff != 0 {
		t.Fatalf("after delivery: %+v", p)
	}
}

func TestSync_LostBatchIsResentAfterSyncTimeout(t *testing.T) {
	nw := readyNet(t, func(c *distro.Config) {
		fastCfg(c)
		c.VerifyInterval, c.TombstoneTTL = time.Hour, 3*time.Hour // no repair by verify here
	}, "a:1", "b:1")
	a, b := nw.nodes["a:1"], nw.nodes["b:1"]
	dropped := 0
	nw.drop = func(from, to string, m distro.Message) bool {
		if m.Type() == distro.MsgSyncBatch && dropped == 0 {
			dropped++
			return true
		}
		return false
	}
	a.write(ms(0), "k1", "", ver(1), false)
	nw.tick(ms(10))
	if _, ok := get(t, b, "k1"); ok || dropped != 1 {
		t.Fatal("first batch should be lost")
	}
	timeout := a.node.Config().SyncTimeout
	nw.tick(ms(10).Add(timeout - time.Millisecond))
	if _, ok := get(t, b, "k1"); ok {
		t.Fatal("resent before SyncTimeout")
	}
	nw.tick(ms(10).Add(timeout))               // times out, backs off
	nw.tick(ms(10).Add(timeout + time.Second)) // past any first backoff
	if _, ok := get(t, b, "k1"); !ok {
		t.Fatal("not resent after the timeout")
	}
}

func TestSync_NonOwnerDoesNotRebroadcastAndObserveIsIdempotent(t *testing.T) {
	nw := readyNet(t, fastCfg, "a:1", "b:1", "c:1")
	a, b := nw.nodes["a:1"], nw.nodes["b:1"]
	a.write(ms(0), "k1", "", ver(7), false)
	nw.tick(ms(10))
	r, _ := get(t, b, "k1")
	// The shell observes the same change again, and an older one.
	b.node.Observe(ms(11), r.Meta())
	old := r.Meta()
	old.Version = ver(3)
	b.node.Observe(ms(11), old)
	a.node.Observe(ms(11), r.Meta())
	for _, x := range []*tnode{a, b} {
		for _, p := range x.node.Status().Peers {
			if p.Pending != 0 {
				t.Fatalf("%s queued %d keys for %s after a duplicate Observe", x.addr, p.Pending, p.Addr)
			}
		}
	}
	if v, _ := b.node.Version("k1"); v != ver(7) {
		t.Fatalf("index went back to %v", v)
	}
}

// conn returns a record written by owner.
func conn(key, owner string, clock uint64, tomb bool) distro.Record {
	r := distro.Record{Key: key, Version: ver(clock), Owner: owner, Tombstone: tomb}
	if !tomb {
		r.Data = []byte(key)
	}
	return r
}

// inject installs r on x as if it arrived from some other peer.
func inject(x *tnode, now time.Time, r distro.Record) {
	x.store.Apply(r)
	x.observe(now)
}

func TestVerify_RepairsMissingOlderAndExtraRecords(t *testing.T) {
	nw := readyNet(t, fastCfg, "a:1", "b:1")
	a, b := nw.nodes["a:1"], nw.nodes["b:1"]
	nw.drop = func(from, to string, m distro.Message) bool { return m.Type() == distro.MsgSyncBatch }
	a.write(ms(0), "missing", "", ver(5), false)
	a.write(ms(0), "older", "", ver(6), false)
	inject(b, ms(0), conn("older", "a:1", 2, false))
	inject(b, ms(0), conn("extra", "a:1", 1, false)) // a deleted it long ago
	nw.sent = nil
	nw.run(ms(1), ms(250), 5*time.Millisecond) // >= 2 verify rounds
	if r, ok := get(t, b, "missing"); !ok || r.Version != ver(5) {
		t.Fatalf("missing not pulled: %v %v", r.Version, ok)
	}
	if r, ok := get(t, b, "older"); !ok || r.Version != ver(6) {
		t.Fatalf("older not repaired: %v", r.Version)
	}
	if _, ok := get(t, b, "extra"); ok {
		t.Fatal("extra record whose owner holds no copy was not dropped")
	}
	st := b.node.Status()
	if st.RepairsPulled != 2 || st.RepairsDropped != 1 {
		t.Fatalf("pulled=%d dropped=%d, want 2 and 1", st.RepairsPulled, st.RepairsDropped)
	}
	if st.Digest != a.node.Status().Digest {
		t.Fatal("digests differ after repair")
	}
	for _, e := range nw.sent {
		if d, ok := e.Msg.(*distro.VerifyDigest); ok && len(d.Buckets) != a.node.Config().VerifyBuckets {
			t.Fatalf("digest of %d buckets", len(d.Buckets))
		}
	}
}

func TestVerify_SteadyStateCostIndependentOfClients(t *testing.T) {
	sizes := map[int]int{}
	for _, clients := range []int{10, 1000} {
		nw := readyNet(t, fastCfg, "a:1", "b:1")
		a := nw.nodes["a:1"]
		for i := range clients {
			a.write(ms(0), fmt.Sprintf("c%05d", i), "", ver(1), false)
		}
		nw.run(ms(10), ms(1000), 10*time.Millisecond) // sync everything
		nw.sent = nil
		nw.run(ms(1010), ms(2010), 10*time.Millisecond) // ~10 verify rounds
		for _, e := range nw.sent {
			switch m := e.Msg.(type) {
			case *distro.VerifyDigest:
				sizes[clients] += len(m.Buckets)
			case *distro.VerifyRequest, *distro.VerifyKeys, *distro.PullRequest, *distro.Records, *distro.SyncBatch:
				t.Fatalf("%d clients: steady state sent %s", clients, m.Type())
			}
		}
	}
	if sizes[10] == 0 || sizes[10] != sizes[1000] {
		t.Fatalf("verify volume depends on clients: %v", sizes)
	}
}

// tagOwnedBy finds an ip:port tag that x's ring gives to owner.
func tagOwnedBy(t *testing.T, x *tnode, owner string) string {
	for i := range 1000 {
		tag := fmt.Sprintf("10.9.%d.%d:80", i/256, i%256)
		if x.node.Owner(tag) == owner {
			return tag
		}
	}
	t.Fatal("no tag found")
	return ""
}

func TestVerify_PushesNewerAndForeignWritesToTheOwner(t *testing.T) {
	nw := readyNet(t, fastCfg, "a:1", "b:1", "c:1")
	a, b, c := nw.nodes["a:1"], nw.nodes["b:1"], nw.nodes["c:1"]
	tag := tagOwnedBy(t, a, "a:1")
	a.write(ms(0), tag+"#true", tag, ver(1), false)
	nw.tick(ms(10))
	// During a partition b learned newer versions from d, which believed it
	// owned the tags and then left for good: only b holds them, and b
	// (not their writer) does not queue them.
	b.writeAs(ms(20), "d:1", tag+"#true", tag, ver(9), false)
	tag2 := tagOwnedBy(t, a, "a:1")
	for i := 0; tag2 == tag; i++ {
		tag2 = fmt.Sprintf("10.8.0.%d:80", i)
		if a.node.Owner(tag2) != "a:1" {
			tag2 = tag
		}
	}
	b.writeAs(ms(20), "d:1", tag2+"#true", tag2, ver(4), false)
	nw.run(ms(30), ms(400), 5*time.Millisecond)
	for _, x := range []*tnode{a, c} {
		if r, _ := get(t, x, tag+"#true"); r.Version != ver(9) {
			t.Fatalf("%s holds %v of the newer write", x.addr, r.Version)
		}
		if r, ok := get(t, x, tag2+"#true"); !ok || r.Version != ver(4) {
			t.Fatalf("%s lacks the foreign write", x.addr)
		}
	}
	if b.node.Status().RepairsPushed == 0 {
		t.Fatal("no push counted")
	}
}

func TestTombstone_NoResurrectionAndAckedCollection(t *testing.T) {
	nw := readyNet(t, fastCfg, "a:1", "b:1", "c:1")
	a, b, c := nw.nodes["a:1"], nw.nodes["b:1"], nw.nodes["c:1"]
	a.write(ms(0), "k", "", ver(1), false)
	nw.tick(ms(10))
	cDown := true
	nw.drop = func(from, to string, m distro.Message) bool { return cDown && (to == "c:1" || from == "c:1") }
	a.write(ms(20), "k", "", ver(2), true)
	nw.tick(ms(30))
	// A replay of the old live record must not resurrect it.
	b.node.Step(ms(31), "a:1", &distro.SyncBatch{Seq: 1, Records: []distro.Record{conn("k", "a:1", 1, false)}})
	b.observe(ms(31))
	if r, _ := get(t, b, "k"); !r.Tombstone {
		t.Fatal("replayed older record resurrected a delete")
	}
	ttl := a.node.Config().TombstoneTTL
	nw.run(ms(40), ms(40).Add(2*ttl), 10*time.Millisecond)
	if _, ok := get(t, b, "k"); ok {
		t.Fatal("b kept the tombstone past its TTL")
	}
	if r, ok := get(t, a, "k"); !ok || !r.Tombstone {
		t.Fatal("a collected a tombstone c has not acknowledged")
	}
	cDown = false
	end := ms(40).Add(2 * ttl)
	nw.run(end, end.Add(2*ttl+2*a.node.Config().RetryBackoffMax), 50*time.Millisecond)
	end = end.Add(2*ttl + 2*a.node.Config().RetryBackoffMax + 50*time.Millisecond)
	if r, ok := get(t, c, "k"); ok && !r.Tombstone {
		t.Fatal("c still holds the deleted client")
	}
	if _, ok := get(t, a, "k"); ok {
		t.Fatal("a did not collect the tombstone after c acknowledged it")
	}
	// After collection, a late replay is stopped by verify: the owner holds
	// no copy, so the replica drops it again.
	b.node.Step(end, "x:1", &distro.Records{Records: []distro.Record{conn("k", "a:1", 1, false)}})
	b.observe(end)
	nw.run(end, end.Add(300*time.Millisecond), 10*time.Millisecond)
	if _, ok := get(t, b, "k"); ok {
		t.Fatal("replayed record survived verify after tombstone collection")
	}
}

func TestSnapshot_StreamsInChunksAndGatesReady(t *testing.T) {
	nw := newNet(t, fastCfg, "a:1", "b:1")
	a, b := nw.nodes["a:1"], nw.nodes["b:1"]
	for i := range 50 {
		inject(a, t0, conn(fmt.Sprintf("k%02d", i), "a:1", 1, i%10 == 0)) // tombstones too
	}
	stall := true
	chunks := 0
	nw.drop = func(from, to string, m distro.Message) bool {
		if m.Type() == distro.MsgSnapshotChunk && from == "a:1" {
			chunks++
			return stall && chunks > 3
		}
		return false
	}
	nw.setMembers(t0)
	nw.pump(t0)
	if b.node.Ready() {
		t.Fatal("ready with a stalled stream")
	}
	if n := b.store.Len(); n != 24 {
		t.Fatalf("applied %d records from 3 chunks of 8", n)
	}
	stall = false
	nw.tick(t0.Add(b.node.Config().SnapshotRequestTimeout)) // request re-sent, stream resumes
	if !b.node.Ready() || b.store.Len() != 50 {
		t.Fatalf("ready=%v records=%d", b.node.Ready(), b.store.Len())
	}
	if r, ok := get(t, b, "k00"); !ok || !r.Tombstone {
		t.Fatal("snapshot must carry tombstones")
	}
	if st := b.node.Status(); st.Snapshot.Done != 1 || st.Snapshot.Records != 50 {
		t.Fatalf("snapshot status %+v", st.Snapshot)
	}
}

func TestSnapshot_LoneNodeReadyAfterLoadTimeout(t *testing.T) {
	nw := newNet(t, fastCfg, "a:1")
	a := nw.nodes["a:1"]
	a.node.SetMembers(t0, []distro.Member{{Addr: "a:1", State: distro.StateUp}, {Addr: "gone:1", State: distro.StateUp}})
	timeout := a.node.Config().LoadTimeout
	nw.run(t0, t0.Add(timeout-time.Millisecond), 10*time.Millisecond)
	if a.node.Ready() {
		t.Fatal("ready before LoadTimeout with a silent peer")
	}
	nw.tick(t0.Add(timeout))
	if !a.node.Ready() {
		t.Fatal("not ready after LoadTimeout")
	}
	solo := newNet(t, fastCfg, "s:1")
	solo.setMembers(t0)
	if !solo.nodes["s:1"].node.Ready() {
		t.Fatal("a standalone node has nothing to load")
	}
	fresh := newNet(t, fastCfg, "f:1")
	fresh.tick(t0.Add(time.Hour))
	if fresh.nodes["f:1"].node.Ready() {
		t.Fatal("ready before the first SetMembers")
	}
}

func TestDeadOwner_DropsConnectionClientsAfterGraceAndHeals(t *testing.T) {
	nw := readyNet(t, fastCfg, "a:1", "b:1", "c:1")
	a, c := nw.nodes["a:1"], nw.nodes["c:1"]
	c.write(ms(0), "c-conn-1", "", ver(1), false)
	c.write(ms(0), "c-conn-2", "", ver(1), false)
	tag := tagOwnedBy(t, c, "c:1")
	c.write(ms(0), tag+"#true", tag, ver(1), false)
	nw.tick(ms(10))
	grace := a.node.Config().OwnerGrace
	// c is cut off from a and declared DOWN by a.
	cut := true
	nw.drop = func(from, to string, m distro.Message) bool {
		return cut && ((from == "a:1" && to == "c:1") || (from == "c:1" && to == "a:1"))
	}
	a.node.SetMembers(ms(100), nw.members("c:1"))
	nw.run(ms(100), ms(100).Add(grace-10*time.Millisecond), 10*time.Millisecond)
	if _, ok := get(t, a, "c-conn-1"); !ok {
		t.Fatal("dropped before OwnerGrace")
	}
	nw.tick(ms(100).Add(grace))
	for _, k := range []string{"c-conn-1", "c-conn-2"} {
		if _, ok := get(t, a, k); ok {
			t.Fatalf("%s kept after OwnerGrace", k)
		}
	}
	if _, ok := get(t, a, tag+"#true"); !ok {
		t.Fatal("an ip:port client is not dropped: its new owner health-checks it")
	}
	if st := a.node.Status(); st.OwnerCleanupDrops != 2 || st.Tombstones != 0 {
		t.Fatalf("cleanup drops %d tombstones %d", st.OwnerCleanupDrops, st.Tombstones)
	}
	// c was only partitioned: after the heal its verify brings them back.
	cut = false
	heal := ms(100).Add(grace + 100*time.Millisecond)
	a.node.SetMembers(heal, nw.members())
	nw.run(heal, heal.Add(400*time.Millisecond), 10*time.Millisecond)
	for _, k := range []string{"c-conn-1", "c-conn-2"} {
		if _, ok := get(t, a, k); !ok {
			t.Fatalf("%s not restored by verify after the heal", k)
		}
	}
}

func TestDeadOwner_NoCleanupWhenBackBeforeGrace(t *testing.T) {
	nw := readyNet(t, fastCfg, "a:1", "c:1")
	a, c := nw.nodes["a:1"], nw.nodes["c:1"]
	c.write(ms(0), "c-conn-1", "", ver(1), false)
	nw.tick(ms(10))
	grace := a.node.Config().OwnerGrace
	a.node.SetMembers(ms(100), nw.members("c:1"))
	nw.tick(ms(100).Add(grace / 2))
	a.node.SetMembers(ms(100).Add(grace/2), nw.members())
	nw.run(ms(100).Add(grace/2), ms(100).Add(2*grace), 50*time.Millisecond)
	if _, ok := get(t, a, "c-conn-1"); !ok || a.node.Status().OwnerCleanupDrops != 0 {
		t.Fatal("dropped although the owner came back within the grace")
	}
}

// An owner's refresh carries data outside the version to every peer at
// the version they hold: no digest moves, nothing is repaired.
func TestRefresh_ReplicatesDataWithoutNewVersion(t *testing.T) {
	nw := readyNet(t, fastCfg, "a:1", "b:1", "c:1")
	a := nw.nodes["a:1"]
	tag := tagOwnedBy(t, a, "a:1")
	a.write(ms(0), tag+"#true", tag, ver(1), false)
	nw.run(ms(10), ms(100), 5*time.Millisecond)
	digest := a.node.Status().Digest
	a.store.SetData(tag+"#true", []byte("beat@2"))
	a.node.Refresh(ms(100), tag+"#true")
	nw.run(ms(105), ms(300), 5*time.Millisecond)
	for _, x := range []*tnode{nw.nodes["b:1"], nw.nodes["c:1"]} {
		r, ok := get(t, x, tag+"#true")
		if !ok || string(r.Data) != "beat@2" || r.Version != ver(1) {
			t.Fatalf("%s holds %+v", x.addr, r)
		}
		if st := x.node.Status(); st.Digest != digest || st.RecordsRefreshed == 0 {
			t.Fatalf("%s digest %x (want %x), refreshed %d", x.addr, st.Digest, digest, st.RecordsRefreshed)
		}
	}
	// A tombstone is never refreshed.
	b := nw.nodes["b:1"]
	b.write(ms(300), "gone#true", "gone", ver(2), true)
	nw.run(ms(305), ms(400), 5*time.Millisecond)
	b.node.Refresh(ms(400), "gone#true")
	b.node.Tick(ms(500))
	for _, env := range b.node.Outbox() {
		if _, ok := env.Msg.(*distro.SyncBatch); ok {
			t.Fatalf("a tombstone was refreshed: %+v", env)
		}
	}
}

// A write a node made as owner by its own view reaches every peer through
// the sync queue at once, even when the others' view gives the tag to
// someone else: it does not wait for a verify round to find it.
func TestObserve_OwnWriteQueuedWhateverTheView(t *testing.T) {
	nw := readyNet(t, func(c *distro.Config) {
		fastCfg(c)
		c.VerifyInterval = time.Hour
		c.TombstoneTTL = 3 * time.Hour
	}, "a:1", "b:1", "c:1")
	a, b := nw.nodes["a:1"], nw.nodes["b:1"]
	tag := tagOwnedBy(t, a, "a:1")
	b.write(ms(0), tag+"#true", tag, ver(1), false)
	nw.run(ms(5), ms(100), 5*time.Millisecond)
	for _, x := range []*tnode{a, nw.nodes["c:1"]} {
		if _, ok := get(t, x, tag+"#true"); !ok {
			t.Fatalf("%s lacks b's write", x.addr)
		}
	}
}

func TestVerify_SkipsAPeerWithAFullQueueBoundedly(t *testing.T) {
	nw := readyNet(t, fastCfg, "a:1", "b:1") // SyncBatchMaxRecords 8
	a, b := nw.nodes["a:1"], nw.nodes["b:1"]
	digests := func() int {
		n := 0
		for _, e := range nw.sent {
			if _, ok := e.Msg.(*distro.VerifyDigest); ok && e.To == "b:1" {
				n++
			}
		}
		return n
	}
	// Syncs to b are lost: a full batch stays queued for it.
	nw.drop = func(from, to string, m distro.Message) bool { return to == "b:1" && m.Type() == distro.MsgSyncBatch }
	for i := range 20 {
		a.write(ms(0), fmt.Sprintf("k%02d", i), "", ver(1), false)
	}
	nw.sent = nil
	nw.run(ms(10), ms(3000), 10*time.Millisecond) // ~30 verify rounds
	sent, skipped := digests(), a.node.Status().VerifyDigestsSkipped
	if sent == 0 {
		t.Fatal("a full queue must not stop verification for good")
	}
	if skipped == 0 || sent > 6 {
		t.Fatalf("%d digests sent and %d skipped in ~30 rounds with a full queue; want most skipped", sent, skipped)
	}
	if _, ok := get(t, b, "k07"); !ok {
		t.Fatal("verification did not repair the records the lost syncs never delivered")
	}
	// The queue drains: every round verifies.
	nw.drop = nil
	nw.run(ms(3010), ms(13000), 10*time.Millisecond) // past the retry back-off
	nw.sent = nil
	nw.run(ms(13010), ms(14000), 10*time.Millisecond)
	if n := digests(); n < 9 {
		t.Fatalf("%d digests in ~10 rounds with nothing queued, want one a round", n)
	}
}

func TestVerify_AShortQueueNeverSkips(t *testing.T) {
	nw := readyNet(t, fastCfg, "a:1", "b:1")
	a := nw.nodes["a:1"]
	nw.drop = func(from, to string, m distro.Message) bool { return to == "b:1" && m.Type() == distro.MsgSyncBatch }
	a.write(ms(0), "k1", "", ver(1), false)
	nw.run(ms(10), ms(1000), 10*time.Millisecond)
	if n := a.node.Status().VerifyDigestsSkipped; n != 0 {
		t.Fatalf("%d rounds skipped with one record queued", n)
	}
}
