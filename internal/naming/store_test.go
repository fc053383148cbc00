package naming

import (
	"errors"
	"testing"

	"github.com/distrod/distrod/internal/hlc"
)

func newTestStore(self string) *Store { return NewStore(self, hlc.NewClock(self)) }

func inst(ip string, port int) Instance {
	return Instance{IP: ip, Port: port, Weight: 1, Healthy: true, Enabled: true, Ephemeral: true}
}

var svcA = NewServiceKey("", "", "a")

func TestStore_PublishIndexesAndQueries(t *testing.T) {
	s := newTestStore("n1:8848")
	var changes []Change
	s.OnChange(func(c Change) { changes = append(changes, c) })
	if err := s.Publish(1000, IPPortClientID("10.0.0.2", 80), svcA, Publication{Instances: []Instance{inst("10.0.0.2", 80)}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Publish(1000, "conn1", svcA, Publication{Batch: true, Instances: []Instance{inst("10.0.0.1", 1), inst("10.0.0.1", 2)}}); err != nil {
		t.Fatal(err)
	}
	v := s.Service(svcA, Query{EnabledOnly: true})
	if !v.Exists || len(v.Hosts) != 3 || v.Hosts[0].Port != 1 || v.Hosts[2].IP != "10.0.0.2" {
		t.Fatalf("unexpected view %+v", v)
	}
	if v.Hosts[0].ClusterName != DefaultCluster {
		t.Fatalf("cluster not defaulted: %q", v.Hosts[0].ClusterName)
	}
	if len(changes) != 2 || !changes[0].Local || changes[0].Services[0] != svcA {
		t.Fatalf("changes %+v", changes)
	}
	// Identical re-publish: no new version, no change.
	before, _ := s.Get(PubKey("conn1", svcA))
	if err := s.Publish(2000, "conn1", svcA, Publication{Batch: true, Instances: []Instance{inst("10.0.0.1", 1), inst("10.0.0.1", 2)}}); err != nil {
		t.Fatal(err)
	}
	after, _ := s.Get(PubKey("conn1", svcA))
	if after.Version != before.Version || len(changes) != 2 {
		t.Fatal("identical re-publish must not bump the version")
	}
	if st := s.Stats(); st.Instances != 3 || st.Clients != 2 || st.Services != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestStore_ValidationLeavesNoPartialState(t *testing.T) {
	s := newTestStore("n1:8848")
	bad := inst("10.0.0.1", 1)
	bad.ClusterName = "bad_cluster!"
	err := s.Publish(1, "c", svcA, Publication{Instances: []Instance{inst("10.0.0.1", 2), bad}})
	if !errors.Is(err, ErrInvalidParam) {
		t.Fatalf("err = %v", err)
	}
	heavy := inst("10.0.0.1", 1)
	heavy.Weight = 10001
	if err := s.Publish(1, "c", svcA, Publication{Instances: []Instance{heavy}}); !errors.Is(err, ErrInvalidParam) {
		t.Fatalf("weight err = %v", err)
	}
	if st := s.Stats(); st.Instances != 0 || st.Clients != 0 || st.Services != 0 {
		t.Fatalf("partial state left: %+v", st)
	}
}

func TestStore_ExpireCheckUnhealthyThenRemoved(t *testing.T) {
	s := newTestStore("n1:8848")
	id := IPPortClientID("10.0.0.9", 9)
	_ = s.Publish(0, id, svcA, Publication{Instances: []Instance{inst("10.0.0.9", 9)}})
	owns := func(string) bool { return true }
	s.ExpireCheck(0, owns) // the writer owns it from the start
	s.ExpireCheck(15000, owns)
	if v := s.Service(svcA, Query{}); !v.Hosts[0].Healthy {
		t.Fatal("unhealthy too early")
	}
	s.ExpireCheck(15001, owns)
	if v := s.Service(svcA, Query{}); v.Hosts[0].Healthy || v.ReachProtectionThreshold {
		// protect threshold 0 with zero healthy fires and marks healthy
		if !v.ReachProtectionThreshold {
			t.Fatal("expected unhealthy")
		}
	}
	if !s.Beat(16000, id, svcA, "10.0.0.9", 9) {
		t.Fatal("beat lost instance")
	}
	if v := s.Service(svcA, Query{HealthyOnly: true}); len(v.Hosts) != 1 || !v.Hosts[0].Healthy {
		t.Fatal("beat did not revive")
	}
	s.ExpireCheck(46001, owns)
	if v := s.Service(svcA, Query{}); v.Exists {
		t.Fatalf("instance should be removed: %+v", v)
	}
	r, ok := s.Get(PubKey(id, svcA))
	if !ok || !r.Tombstone {
		t.Fatalf("the expired publication should be a tombstone: %+v", r)
	}
}

func TestStore_ExpireCheckSkipsClientsNotOwned(t *testing.T) {
	s := newTestStore("n1:8848")
	id := IPPortClientID("10.0.0.9", 9)
	_ = s.Publish(0, id, svcA, Publication{Instances: []Instance{inst("10.0.0.9", 9)}})
	s.ExpireCheck(100000, func(string) bool { return false })
	if v := s.Service(svcA, Query{}); len(v.Hosts) != 1 {
		t.Fatal("a node must not expire what it does not own")
	}
}

// A node that takes a client over continues the deadline the record
// carries: an instance nobody beats is gone one delete timeout after its
// last beat, however often ownership moves (I8).
func TestStore_ExpireCheckNewOwnerContinuesDeadline(t *testing.T) {
	a, b := newTestStore("a:1"), newTestStore("b:1")
	id := IPPortClientID("10.0.0.9", 9)
	_ = a.Publish(1000, id, svcA, Publication{Instances: []Instance{inst("10.0.0.9", 9)}})
	r, _ := a.Get(PubKey(id, svcA))
	if _, err := b.Apply(20000, r); err != nil {
		t.Fatal(err)
	}
	owns := func(string) bool { return true }
	b.ExpireCheck(20000, owns) // b takes over 19 s after the last beat
	b.ExpireCheck(30000, owns)
	if v := b.Service(svcA, Query{}); !v.Exists || !v.Hosts[0].Healthy {
		t.Fatalf("the takeover grace must hold the health flip: %+v", v)
	}
	b.ExpireCheck(30001, owns)
	if v := b.Service(svcA, Query{HealthyOnly: true}); v.ReachProtectionThreshold == false && len(v.Hosts) != 0 {
		t.Fatalf("unhealthy after the grace: %+v", v)
	}
	b.ExpireCheck(31001, owns)
	if v := b.Service(svcA, Query{}); v.Exists {
		t.Fatalf("a new owner must remove 30 s after the last beat, not after the takeover: %+v", v)
	}
}

// While a client beats, its owner sends its record again at the same
// version so the replicas hold a recent last beat; nothing a reader sees,
// and no version, changes.
func TestStore_ExpireCheckRefreshesReplicatedBeat(t *testing.T) {
	a, b := newTestStore("a:1"), newTestStore("b:1")
	id := IPPortClientID("10.0.0.9", 9)
	key := PubKey(id, svcA)
	var refreshes []Change
	a.OnChange(func(ch Change) {
		if ch.Refresh {
			refreshes = append(refreshes, ch)
		}
	})
	_ = a.Publish(1000, id, svcA, Publication{Instances: []Instance{inst("10.0.0.9", 9)}})
	owns := func(string) bool { return true }
	a.ExpireCheck(1000, owns)
	r0, _ := a.Get(key)
	if _, err := b.Apply(1000, r0); err != nil {
		t.Fatal(err)
	}
	a.Beat(6000, id, svcA, "10.0.0.9", 9)
	if a.ExpireCheck(6000, owns); len(refreshes) != 0 {
		t.Fatalf("refreshed after 5 s of beats, want half the 15 s timeout")
	}
	a.Beat(9000, id, svcA, "10.0.0.9", 9)
	if n := a.ExpireCheck(9000, owns); n != 1 || len(refreshes) != 1 || len(refreshes[0].Services) != 0 {
		t.Fatalf("want one refresh after 8 s of beats, got %d changes, %+v", n, refreshes)
	}
	r1, _ := a.Get(key)
	if r1.Version != r0.Version {
		t.Fatalf("a refresh must keep the version: %v -> %v", r0.Version, r1.Version)
	}
	if ok, _ := b.Apply(9500, r1); ok {
		t.Fatal("the same version must not apply as a change")
	}
	if !b.Refresh(9500, r1) {
		t.Fatal("the refresh did not move b's deadline")
	}
	// b takes over at 38 s: the refreshed beat (9 s) says the instance is
	// due for removal at 39 s, the registration alone would have said 31 s.
	b.ExpireCheck(38000, owns)
	if v := b.Service(svcA, Query{}); !v.Exists {
		t.Fatal("removed before the replicated deadline")
	}
	b.ExpireCheck(39001, owns)
	if v := b.Service(svcA, Query{}); v.Exists {
		t.Fatal("kept past the replicated deadline")
	}
}

// A health flip or removal made on one side of a partition, from the
// registration it holds, never outranks the deregistration the client made
// on the other side, even when it happens later.
func TestStore_DerivedChangesRankBelowLaterClientActions(t *testing.T) {
	a, b, c := newTestStore("a:1"), newTestStore("b:1"), newTestStore("c:1")
	id := IPPortClientID("10.0.0.9", 9)
	key := PubKey(id, svcA)
	_ = a.Publish(1000, id, svcA, Publication{Instances: []Instance{inst("10.0.0.9", 9)}})
	reg, _ := a.Get(key)
	for _, x := range []*Store{b, c} {
		if _, err := x.Apply(1001, reg); err != nil {
			t.Fatal(err)
		}
	}
	// Partition: the client deregisters through b at 2 s; a, still owner
	// on its side, flips the instance unhealthy at 16 s and removes it...
	b.Unpublish(2000, id, svcA)
	owns := func(string) bool { return true }
	a.ExpireCheck(16001, owns)
	flip, _ := a.Get(key)
	if flip.Tombstone || !flip.Version.Newer(reg.Version) {
		t.Fatalf("flip %+v", flip.RecordMeta)
	}
	del, _ := b.Get(key)
	if !del.Version.Newer(flip.Version) {
		t.Fatalf("the client's delete %v must outrank the later flip %v", del.Version, flip.Version)
	}
	// ...and after the heal c, which saw neither, applies both in any
	// order and ends at the tombstone.
	if ok, _ := c.Apply(20000, del); !ok {
		t.Fatal("tombstone not applied")
	}
	if ok, _ := c.Apply(20001, flip); ok {
		t.Fatal("a derived flip overwrote a later deregistration")
	}
	if v := c.Service(svcA, Query{}); v.Exists {
		t.Fatal("resurrected")
	}
	// A re-registration after the delete is a client action again: it wins.
	_ = a.Publish(21000, id, svcA, Publication{Instances: []Instance{inst("10.0.0.9", 9)}})
	again, _ := a.Get(key)
	if ok, _ := c.Apply(21001, again); !ok {
		t.Fatal("a later registration must win over the tombstone")
	}
}

// A deregistration on a node that holds no copy still leaves a tombstone,
// which wins over the copy another node holds.
func TestStore_UnpublishUnknownLeavesTombstone(t *testing.T) {
	a, b := newTestStore("a:1"), newTestStore("b:1")
	id := IPPortClientID("10.0.0.9", 9)
	key := PubKey(id, svcA)
	_ = a.Publish(1000, id, svcA, Publication{Instances: []Instance{inst("10.0.0.9", 9)}})
	if b.Unpublish(2000, id, svcA) {
		t.Fatal("b had no publication")
	}
	tomb, ok := b.Get(key)
	if !ok || !tomb.Tombstone {
		t.Fatalf("no tombstone: %+v %v", tomb, ok)
	}
	if ok, _ := a.Apply(3000, tomb); !ok {
		t.Fatal("the tombstone must win over the older registration")
	}
	if v := a.Service(svcA, Query{}); v.Exists {
		t.Fatal("resurrected")
	}
}

func TestStore_ApplyNewerWinsAndTombstonesHold(t *testing.T) {
	a, b := newTestStore("a:1"), newTestStore("b:1")
	_ = a.Publish(1000, "conn1", svcA, Publication{Instances: []Instance{inst("1.1.1.1", 1)}})
	key := PubKey("conn1", svcA)
	r1, _ := a.Get(key)
	a.RemoveClient(2000, "conn1")
	r2, _ := a.Get(key)
	if ok, err := b.Apply(5, r2); !ok || err != nil {
		t.Fatal("tombstone not applied", err)
	}
	if ok, _ := b.Apply(5, r1); ok {
		t.Fatal("older record resurrected a delete")
	}
	if v := b.Service(svcA, Query{}); v.Exists {
		t.Fatal("deleted instance visible")
	}
	if ok, _ := b.Apply(5, r2); ok {
		t.Fatal("duplicate apply must be a no-op")
	}
	if a.Digest() != b.Digest() {
		t.Fatal("digests differ after convergence")
	}
	// Drop removes without tombstone.
	if !b.Drop(key) {
		t.Fatal("drop failed")
	}
	if _, ok := b.Get(key); ok {
		t.Fatal("dropped record still present")
	}
}

func TestStore_ServiceRecordsReplicate(t *testing.T) {
	a, b := newTestStore("a:1"), newTestStore("b:1")
	if err := a.CreateService(1, svcA, ServiceMeta{ProtectThreshold: 0.5, Metadata: map[string]string{"k": "v"}}); err != nil {
		t.Fatal(err)
	}
	if err := a.CreateService(2, svcA, ServiceMeta{}); !errors.Is(err, ErrServiceExists) {
		t.Fatalf("err = %v", err)
	}
	r, ok := a.Get(ServiceRecordKey(svcA))
	if !ok {
		t.Fatal("no service record")
	}
	if ok, err := b.Apply(1, r); !ok || err != nil {
		t.Fatal(err)
	}
	v := b.Service(svcA, Query{})
	if !v.Explicit || v.Meta.ProtectThreshold != 0.5 || v.Meta.Metadata["k"] != "v" {
		t.Fatalf("view %+v", v)
	}
	if err := a.DeleteService(3, svcA); err != nil {
		t.Fatal(err)
	}
	r, _ = a.Get(ServiceRecordKey(svcA))
	if ok, _ := b.Apply(1, r); !ok || b.Service(svcA, Query{}).Exists {
		t.Fatal("service delete did not replicate")
	}
}

func TestStore_ProtectThreshold(t *testing.T) {
	s := newTestStore("a:1")
	_ = s.CreateService(1, svcA, ServiceMeta{ProtectThreshold: 0.6})
	sick := inst("1.1.1.2", 2)
	sick.Healthy = false
	_ = s.Publish(1, "c", svcA, Publication{Batch: true, Instances: []Instance{inst("1.1.1.1", 1), sick}})
	v := s.Service(svcA, Query{HealthyOnly: true})
	if !v.ReachProtectionThreshold || len(v.Hosts) != 2 || !v.Hosts[1].Healthy {
		t.Fatalf("protection should return all marked healthy: %+v", v)
	}
}

func TestParseServiceKey_GroupedNameWins(t *testing.T) {
	k, err := ParseServiceKey("", "g1@@svc", "other")
	if err != nil || k != (ServiceKey{Namespace: "public", Group: "g1", Name: "svc"}) {
		t.Fatalf("%v %v", k, err)
	}
	if _, err := ParseServiceKey("", "@@svc", ""); !errors.Is(err, ErrInvalidParam) {
		t.Fatal("empty group must fail")
	}
	if k, _ := ParseServiceKey("ns", "svc", ""); k.Group != DefaultGroup || k.Namespace != "ns" {
		t.Fatalf("%v", k)
	}
}

func TestStore_DuplicateInstanceFromTwoClientsShowsOnce(t *testing.T) {
	s := newTestStore("a:1")
	old := inst("10.0.0.1", 80)
	old.Metadata = map[string]string{"gen": "old"}
	_ = s.Publish(1000, "conn-dead", svcA, Publication{Instances: []Instance{old}})
	nw := inst("10.0.0.1", 80)
	nw.Metadata = map[string]string{"gen": "new"}
	_ = s.Publish(2000, "conn-new", svcA, Publication{Instances: []Instance{nw}})
	v := s.Service(svcA, Query{})
	if len(v.Hosts) != 1 || v.Hosts[0].Metadata["gen"] != "new" {
		t.Fatalf("want one host from the newest client, got %+v", v.Hosts)
	}
	s.RemoveClient(3000, "conn-new")
	if v := s.Service(svcA, Query{}); len(v.Hosts) != 1 || v.Hosts[0].Metadata["gen"] != "old" {
		t.Fatalf("remaining copy should show: %+v", v.Hosts)
	}
}

func TestStore_EachPublicationIsItsOwnRecord(t *testing.T) {
	a, b := newTestStore("a:1"), newTestStore("b:1")
	svcB := NewServiceKey("", "", "b")
	_ = a.Publish(1, "conn1", svcA, Publication{Instances: []Instance{inst("1.1.1.1", 1)}})
	_ = a.Publish(2, "conn1", svcB, Publication{Instances: []Instance{inst("1.1.1.1", 2)}})
	ms := a.Metas()
	if len(ms) != 2 || ms[0].Key != PubKey("conn1", svcA) || ms[0].Tag != "" || ms[1].Owner != "a:1" {
		t.Fatalf("metas %+v", ms)
	}
	// Replicating only svcB's record shows only svcB on the peer.
	rb, _ := a.Get(PubKey("conn1", svcB))
	if ok, err := b.Apply(5, rb); !ok || err != nil {
		t.Fatal(err)
	}
	if b.Service(svcA, Query{}).Exists || len(b.Service(svcB, Query{}).Hosts) != 1 {
		t.Fatal("per-publication replication mixed services up")
	}
	id, k, err := ParsePubKey(PubKey("10.0.0.1:80#true", svcB))
	if err != nil || id != "10.0.0.1:80#true" || k != svcB || ClientOfKey(PubKey(id, k)) != id {
		t.Fatalf("key round trip: %q %v %v", id, k, err)
	}
	if _, err := b.Apply(5, Record{RecordMeta: RecordMeta{Key: "garbage"}}); err == nil {
		t.Fatal("a malformed key must be an error")
	}
	bad := Record{RecordMeta: RecordMeta{Key: PubKey("c2", svcA), Version: hlc.Version{Clock: 9 << 16}}, Data: []byte(`{"i":[{"ip":"1.1.1.1","port":1,"weight":-4}]}`)}
	if _, err := b.Apply(5, bad); err == nil || b.Service(svcA, Query{}).Exists {
		t.Fatal("an invalid replicated instance must be rejected without state")
	}
}

// Each planted flaw brings back the defect it names (the simulation relies
// on them to prove its checks are not blind).
func TestStore_FlawsReproduceOldDefects(t *testing.T) {
	id := IPPortClientID("10.0.0.9", 9)
	key := PubKey(id, svcA)
	owns := func(string) bool { return true }

	s := newTestStore("b:1")
	s.SetFlaws(Flaws{NoBlindTombstone: true})
	s.Unpublish(2000, id, svcA)
	if _, ok := s.Get(key); ok {
		t.Fatal("NoBlindTombstone still wrote a tombstone")
	}

	a, b := newTestStore("a:1"), newTestStore("b:1")
	a.SetFlaws(Flaws{FreshDerived: true})
	_ = a.Publish(1000, id, svcA, Publication{Instances: []Instance{inst("10.0.0.9", 9)}})
	b.Unpublish(2000, id, svcA)
	a.ExpireCheck(16001, owns)
	flip, _ := a.Get(key)
	del, _ := b.Get(key)
	if !flip.Version.Newer(del.Version) {
		t.Fatal("FreshDerived: the later flip should outrank the delete")
	}

	c := newTestStore("c:1")
	c.SetFlaws(Flaws{FreshDeadline: true})
	reg, _ := a.Get(key)
	reg.Tombstone, reg.Data = false, encodePublication(&Publication{Instances: []Instance{{IP: "10.0.0.9", Port: 9, Weight: 1, Healthy: true, Enabled: true, Ephemeral: true, ClusterName: DefaultCluster, LastBeat: 1000}}})
	if _, err := c.Apply(20000, reg); err != nil {
		t.Fatal(err)
	}
	c.ExpireCheck(40000, owns)
	if v := c.Service(svcA, Query{}); !v.Exists {
		t.Fatal("FreshDeadline: the takeover should have granted a new deadline")
	}
}

// During a partition the old owner, cut off from the client, expires the
// instance while the new owner keeps receiving its beats: after the heal
// the beats win, in either order of arrival, and a later deregistration
// still wins over both.
func TestStore_BeatsOnTheOtherSideOutrankAnExpiry(t *testing.T) {
	x, y, z := newTestStore("x:1"), newTestStore("y:1"), newTestStore("z:1")
	id := IPPortClientID("10.0.0.9", 9)
	key := PubKey(id, svcA)
	owns := func(string) bool { return true }
	_ = x.Publish(1000, id, svcA, Publication{Instances: []Instance{inst("10.0.0.9", 9)}})
	reg, _ := x.Get(key)
	for _, s := range []*Store{y, z} {
		if _, err := s.Apply(1001, reg); err != nil {
			t.Fatal(err)
		}
	}
	// Partition at 2 s: y sees x leave (an episode of contested
	// ownership), takes the client over and gets its beats.
	y.SetContested(2000)
	y.ExpireCheck(3000, owns)
	for b := int64(4000); b <= 40000; b += 5000 {
		y.Beat(b, id, svcA, "10.0.0.9", 9)
		y.ExpireCheck(b, owns)
	}
	// x, alone, flips and then removes the instance.
	x.ExpireCheck(16001, owns)
	x.ExpireCheck(31001, owns)
	if v := x.Service(svcA, Query{}); v.Exists {
		t.Fatal("x should have expired the instance")
	}
	expired, _ := x.Get(key)
	live, _ := y.Get(key)
	if !live.Version.Newer(expired.Version) {
		t.Fatalf("y's beats %v must outrank x's expiry %v", live.Version, expired.Version)
	}
	if ok, _ := z.Apply(41000, expired); !ok {
		t.Fatal("z should take x's expiry first")
	}
	if ok, _ := z.Apply(41001, live); !ok {
		t.Fatal("y's record must win over x's expiry")
	}
	if ok, _ := x.Apply(41001, live); !ok {
		t.Fatal("x must take y's record back")
	}
	if n := y.Stats(); n.Instances != 1 {
		t.Fatalf("y: %+v", n)
	}
	// One derived version for the episode, not one per beat.
	y.Beat(45000, id, svcA, "10.0.0.9", 9)
	y.ExpireCheck(45000, owns)
	if again, _ := y.Get(key); again.Version != live.Version {
		t.Fatalf("a second stamp in one episode: %v -> %v", live.Version, again.Version)
	}
	for _, s := range []*Store{x, z} {
		if v := s.Service(svcA, Query{}); !v.Exists || !v.Hosts[0].Healthy {
			t.Fatalf("%s lost the beating instance: %+v", s.Self(), v)
		}
	}
	// The client's deregistration after the heal wins over everything.
	z.Unpublish(42000, id, svcA)
	del, _ := z.Get(key)
	if !del.Version.Newer(live.Version) {
		t.Fatal("a deregistration must outrank derived changes")
	}
}

// An owner judges a record that arrives already past its deadline at once:
// after a heal the other side's copy may carry beats that ended long ago,
// and it must not be served until the next expiry check.
func TestStore_ExpiresARecordArrivingPastItsDeadline(t *testing.T) {
	a, b := newTestStore("a:1"), newTestStore("b:1")
	id := IPPortClientID("10.0.0.9", 9)
	owns := func(string) bool { return true }
	_ = b.Publish(1000, id, svcA, Publication{Instances: []Instance{inst("10.0.0.9", 9)}})
	b.ExpireCheck(1000, owns) // b owns the client
	_ = a.Publish(2000, id, svcA, Publication{Instances: []Instance{inst("10.0.0.9", 9)}})
	newer, _ := a.Get(PubKey(id, svcA))
	if ok, err := b.Apply(40000, newer); !ok || err != nil {
		t.Fatalf("apply: %v %v", ok, err)
	}
	if v := b.Service(svcA, Query{}); v.Exists {
		t.Fatalf("served a record 38 s past its last beat: %+v", v)
	}
	if r, _ := b.Get(PubKey(id, svcA)); !r.Tombstone || !r.Version.Newer(newer.Version) {
		t.Fatalf("want a removal newer than the arriving record, got %+v", r.RecordMeta)
	}
	// A node that does not own the client judges the removal the same way
	// (a sync retried since a partition delivers such a copy to every
	// node), but leaves health to the owner.
	c := newTestStore("c:1")
	if ok, _ := c.Apply(40000, newer); !ok {
		t.Fatal("apply on a non-owner")
	}
	if v := c.Service(svcA, Query{}); v.Exists {
		t.Fatalf("a non-owner served a record 38 s past its last beat: %+v", v)
	}
	d := newTestStore("d:1")
	if ok, _ := d.Apply(20000, newer); !ok {
		t.Fatal("apply on a non-owner")
	}
	if v := d.Service(svcA, Query{}); !v.Exists || len(v.Hosts) != 1 || !v.Hosts[0].Healthy {
		t.Fatalf("18 s past its last beat a non-owner must keep it healthy for the owner to judge: %+v", v)
	}
}

// A member cut off from a client expires its instance on the beats it saw;
// a node that saw later beats counters the expiry in one step (readers
// never see the instance missing), but never a deregistration.
func TestStore_LaterBeatsCounterAnExpiry(t *testing.T) {
	x, y := newTestStore("x:1"), newTestStore("y:1")
	id := IPPortClientID("10.0.0.9", 9)
	key := PubKey(id, svcA)
	owns := func(string) bool { return true }
	_ = x.Publish(1000, id, svcA, Publication{Instances: []Instance{inst("10.0.0.9", 9)}})
	reg, _ := x.Get(key)
	if _, err := y.Apply(1000, reg); err != nil {
		t.Fatal(err)
	}
	y.Beat(20000, id, svcA, "10.0.0.9", 9) // the client beats on y's side
	x.ExpireCheck(40000, owns)             // x, cut off, removes it
	expired, _ := x.Get(key)
	if !expired.Tombstone || !expired.Version.Derived() {
		t.Fatalf("x: %+v", expired.RecordMeta)
	}
	if ok, _ := y.Apply(41000, expired); !ok {
		t.Fatal("the expiry must be taken")
	}
	if v := y.Service(svcA, Query{}); !v.Exists {
		t.Fatal("a later beat must counter the expiry")
	}
	countered, _ := y.Get(key)
	if countered.Tombstone || !countered.Version.Newer(expired.Version) {
		t.Fatalf("countered: %+v", countered.RecordMeta)
	}
	if ok, _ := x.Apply(41001, countered); !ok {
		t.Fatal("x must take the countered record")
	}
	// A deregistration is never countered.
	x.Unpublish(42000, id, svcA)
	del, _ := x.Get(key)
	if ok, _ := y.Apply(42001, del); !ok {
		t.Fatal("the deregistration must be taken")
	}
	if v := y.Service(svcA, Query{}); v.Exists {
		t.Fatal("a deregistration was countered")
	}
}

// A beat that revives an unhealthy instance is evidence, not a client
// action: a deregistration the client sent right after it, through a node
// across a partition in the same millisecond, wins on both sides.
func TestStore_RevivalLosesToALaterDeregistration(t *testing.T) {
	x, y := newTestStore("x:1"), newTestStore("y:1")
	id := IPPortClientID("10.0.0.9", 9)
	key := PubKey(id, svcA)
	owns := func(string) bool { return true }
	_ = x.Publish(1000, id, svcA, Publication{Instances: []Instance{inst("10.0.0.9", 9)}})
	reg, _ := x.Get(key)
	if _, err := y.Apply(1000, reg); err != nil {
		t.Fatal(err)
	}
	x.ExpireCheck(1000, owns)
	x.ExpireCheck(17000, owns) // no beats for 16 s: unhealthy
	if in, _, ok := x.FindInstance(svcA, "10.0.0.9", 9, DefaultCluster); !ok || in.Healthy {
		t.Fatalf("want an unhealthy instance, got %+v (found %v)", in, ok)
	}
	const at = 20000
	if !x.Beat(at, id, svcA, "10.0.0.9", 9) {
		t.Fatal("beat found no instance")
	}
	revived, _ := x.Get(key)
	y.Unpublish(at, id, svcA)
	dereg, _ := y.Get(key)
	if !dereg.Tombstone || !dereg.Version.Newer(revived.Version) {
		t.Fatalf("the deregistration %v must outrank the revival %v", dereg.Version, revived.Version)
	}
	if ok, _ := y.Apply(at, revived); ok {
		t.Fatal("the revival replaced the deregistration")
	}
	if ok, _ := x.Apply(at, dereg); !ok || x.Service(svcA, Query{}).Exists {
		t.Fatal("the deregistration did not replace the revival")
	}
}
