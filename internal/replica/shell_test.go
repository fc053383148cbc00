package replica

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/distrod/distrod/internal/distro"
	"github.com/distrod/distrod/internal/hlc"
	"github.com/distrod/distrod/internal/membership"
	"github.com/distrod/distrod/internal/naming"
)

var t0 = time.Unix(1_700_000_000, 0).UTC()

func newTestShell(t *testing.T, self string, peers ...string) (*Shell, *naming.Store) {
	t.Helper()
	store := naming.NewStore(self, hlc.NewClock(self))
	store.SetExpiry(1000, 2000)
	dc := distro.DefaultConfig(self)
	dc.LoadTimeout = 100 * time.Millisecond
	sh, err := NewShell(ShellConfig{
		Distro:      dc,
		Membership:  membership.TableConfig{Self: self, ProbeInterval: 50 * time.Millisecond, SuspectAfter: 1, DownAfter: 2},
		ExpireEvery: 100 * time.Millisecond,
		Rand:        rand.New(rand.NewPCG(1, 2)),
	}, store, t0)
	if err != nil {
		t.Fatal(err)
	}
	sh.SetMembers(t0, append([]string{self}, peers...))
	return sh, store
}

func TestShell_FailedProbesTakePeerOffTheRing(t *testing.T) {
	sh, _ := newTestShell(t, "a:1", "b:1")
	if got := sh.Ring().Members(); len(got) != 2 {
		t.Fatalf("ring %v, want both members", got)
	}
	probes := sh.Probes(t0)
	if len(probes) != 1 || probes[0] != "b:1" {
		t.Fatalf("probes %v, want [b:1]", probes)
	}
	if again := sh.Probes(t0.Add(time.Second)); len(again) != 0 {
		t.Fatalf("a peer with a probe outstanding is probed again: %v", again)
	}
	sh.ProbeResult(t0, "b:1", errors.Join(errors.New("dial"), syscall.ECONNREFUSED))
	if got := sh.Ring().Members(); len(got) != 1 || got[0] != "a:1" {
		t.Fatalf("ring %v after a refused probe, want [a:1]", got)
	}
	if st := sh.Status(); len(st.Members) != 2 || st.Members[1].State != distro.StateDown {
		t.Fatalf("core members %+v, want b DOWN", st.Members)
	}
	sh.Receive(t0.Add(time.Millisecond), "b:1", &distro.SyncAck{})
	if got := sh.Ring().Members(); len(got) != 2 {
		t.Fatalf("hearing from b must bring it back: ring %v", got)
	}
}

func TestShell_ExpiresOnlyOnceReady(t *testing.T) {
	sh, store := newTestShell(t, "a:1", "b:1")
	svc := naming.NewServiceKey("", "", "s")
	id := naming.IPPortClientID("10.0.0.1", 80)
	in := naming.Instance{IP: "10.0.0.1", Port: 80, Weight: 1, Healthy: true, Enabled: true, Ephemeral: true, ClusterName: naming.DefaultCluster}
	if err := store.Publish(t0.UnixMilli(), id, svc, naming.Publication{Instances: []naming.Instance{in}}); err != nil {
		t.Fatal(err)
	}
	// b never answers the snapshot request (its probes time out, DOWN
	// after two: it may be cut off): the node stays loading for
	// LoadTimeout, and must not expire meanwhile even if it owns the tag.
	sh.ProbeResult(t0, "b:1", context.DeadlineExceeded)
	sh.ProbeResult(t0, "b:1", context.DeadlineExceeded)
	now := t0
	for now.Before(t0.Add(5 * time.Second)) {
		now = now.Add(10 * time.Millisecond)
		sh.Tick(now)
		sh.Outbox()
		if !sh.Ready() && sh.Counters().ExpiryWrites > 0 {
			t.Fatal("expiry ran before the node was ready")
		}
	}
	if !sh.Ready() {
		t.Fatal("node never ready")
	}
	if sh.Counters().ExpiryWrites == 0 || store.Service(svc, naming.Query{}).Exists && len(store.Service(svc, naming.Query{}).Hosts) > 0 {
		t.Fatalf("an instance without beats was not expired: writes=%d", sh.Counters().ExpiryWrites)
	}
}

func TestShell_ReapsOwnConnectionsFromAnEarlierIncarnation(t *testing.T) {
	sh, store := newTestShell(t, "a:1")
	conn := "1700000000000_10.0.0.9_5000"
	svc := naming.NewServiceKey("", "", "s")
	peer := naming.NewStore("b:1", hlc.NewClock("b:1"))
	_ = peer.Publish(t0.UnixMilli(), conn, svc, naming.Publication{Instances: []naming.Instance{{IP: "10.0.0.9", Port: 1, Weight: 1, Healthy: true, Enabled: true}}})
	r, _ := peer.Get(naming.PubKey(conn, svc))
	r.Owner = "a:1" // written by this node before it restarted
	if ok, err := store.Apply(t0.UnixMilli(), r); !ok || err != nil {
		t.Fatalf("apply: %v %v", ok, err)
	}
	sh.Drain(t0)
	if cv, ok := store.Client(conn); ok && len(cv.Services) > 0 {
		t.Fatal("a connection of an earlier incarnation was not deleted")
	}
	if sh.Counters().Reaped != 1 {
		t.Fatalf("reaped %d, want 1", sh.Counters().Reaped)
	}
}

func TestShell_ForgetsMembersThatLeave(t *testing.T) {
	sh, _ := newTestShell(t, "a:1", "b:1", "c:1")
	if got := sh.Forgotten(); len(got) != 0 {
		t.Fatalf("forgotten %v before anyone left", got)
	}
	sh.SetMembers(t0.Add(time.Second), []string{"a:1", "c:1"})
	if got := sh.Forgotten(); len(got) != 1 || got[0] != "b:1" {
		t.Fatalf("forgotten %v, want [b:1]", got)
	}
	if got := sh.Forgotten(); len(got) != 0 {
		t.Fatalf("Forgotten must clear: %v", got)
	}
	if got := sh.Ring().Members(); len(got) != 2 {
		t.Fatalf("ring %v, want a and c", got)
	}
}

func TestShell_ChangedReportsOnlyTheFirstQueuedChange(t *testing.T) {
	sh, _ := newTestShell(t, "a:1")
	svc := naming.NewServiceKey("", "", "s")
	ch := func(port int) naming.Change {
		key := naming.PubKey(naming.IPPortClientID("10.0.0.1", port), svc)
		return naming.Change{Local: true, Record: naming.RecordMeta{Key: key, Tag: naming.TagOf(naming.IPPortClientID("10.0.0.1", port)),
			Owner: "a:1", Version: hlc.Version{Clock: uint64(port) << 16}}}
	}
	if !sh.Changed(ch(1)) || sh.Changed(ch(2)) || sh.Changed(ch(3)) {
		t.Fatal("only the change into an empty queue must ask for a wake-up")
	}
	if sh.Changed(naming.Change{Record: naming.RecordMeta{Key: "x"}, Dropped: true}) || sh.QueuedChanges() != 3 {
		t.Fatalf("a drop is not queued: %d queued", sh.QueuedChanges())
	}
	sh.Drain(t0)
	if sh.QueuedChanges() != 0 || !sh.Changed(ch(4)) {
		t.Fatal("after Drain the queue is empty and the next change asks again")
	}
}

// TestShell_CutOffNodeHoldsRemovals: a node that sees most members DOWN
// may be the one cut off while the clients it hears nothing from beat on
// the other side. It marks a silent instance unhealthy on time but removes
// it only after twice its delete timeout; and once a member comes back it
// neither removes nor flips until the rejoin hold ends, so that the beats
// that member recorded can arrive first.
func TestShell_CutOffNodeHoldsRemovals(t *testing.T) {
	sh, store := newTestShell(t, "a:1", "b:1", "c:1")
	svc := naming.NewServiceKey("", "", "s")
	in := naming.Instance{Port: 80, Weight: 1, Healthy: true, Enabled: true, Ephemeral: true, ClusterName: naming.DefaultCluster}
	// An instance a owns also once b is back.
	ab := distro.NewRing([]string{"a:1", "b:1"})
	for i := 1; in.IP == ""; i++ {
		if ip := fmt.Sprintf("10.0.0.%d", i); ab.Owner(naming.TagOf(naming.IPPortClientID(ip, 80))) == "a:1" {
			in.IP = ip
		}
	}
	listed := func() (naming.Instance, bool) {
		got, _, ok := store.FindInstance(svc, in.IP, in.Port, in.ClusterName)
		return got, ok
	}

	refused := errors.Join(errors.New("dial"), syscall.ECONNREFUSED)
	sh.ProbeResult(t0, "b:1", refused)
	sh.ProbeResult(t0, "c:1", refused)
	if iso, _ := sh.ExpiryRestrained(t0); !iso {
		t.Fatal("with two of three members DOWN the node must count as cut off")
	}
	now := t0
	run := func(until time.Time) {
		for now.Before(until) {
			now = now.Add(10 * time.Millisecond)
			sh.Tick(now)
			sh.Outbox()
			sh.Probes(now) // probes stay unanswered: the peers stay DOWN
		}
	}
	run(t0.Add(time.Second)) // the snapshot load gives up on the DOWN peers
	if !sh.Ready() {
		t.Fatal("node never ready")
	}
	start := now
	if err := store.Publish(start.UnixMilli(), naming.IPPortClientID(in.IP, in.Port), svc, naming.Publication{Instances: []naming.Instance{in}}); err != nil {
		t.Fatal(err)
	}
	// Delete timeout 2 s: cut off, the node keeps it listed until 4 s,
	// then removes it.
	run(start.Add(3500 * time.Millisecond))
	if _, ok := listed(); !ok {
		t.Fatal("cut off, removed 3.5 s after the last beat")
	}
	run(start.Add(4500 * time.Millisecond))
	if _, ok := listed(); ok {
		t.Fatal("cut off, the node must still remove after twice the delete timeout")
	}

	// Again, and b comes back at 2.5 s (the node then sees a majority):
	// nothing is removed before the rejoin hold (two verify intervals)
	// has passed, then the normal deadline applies at once.
	start = now
	if err := store.Publish(start.UnixMilli(), naming.IPPortClientID(in.IP, in.Port), svc, naming.Publication{Instances: []naming.Instance{in}}); err != nil {
		t.Fatal(err)
	}
	run(start.Add(2500 * time.Millisecond))
	sh.Receive(now, "b:1", &distro.SyncAck{})
	back := now
	if iso, held := sh.ExpiryRestrained(now); iso || !held {
		t.Fatalf("after b came back: isolated=%v held=%v, want false, true", iso, held)
	}
	hold := 2 * distro.DefaultConfig("a:1").VerifyInterval
	run(back.Add(hold - 50*time.Millisecond))
	if _, ok := listed(); !ok {
		t.Fatal("removed during the rejoin hold")
	}
	run(back.Add(hold + 200*time.Millisecond))
	if _, ok := listed(); ok {
		t.Fatal("not removed once the rejoin hold ended")
	}
}

func TestShell_RefusedProbeEndsTheLoadOfThatPeer(t *testing.T) {
	sh, _ := newTestShell(t, "a:1", "b:1", "c:1")
	// c answers and streams its (empty) snapshot; b's port refuses: its
	// process is gone, there is nothing to wait LoadTimeout for.
	sh.Receive(t0.Add(time.Millisecond), "c:1", &distro.SnapshotChunk{Session: sessionTo(t, sh, "c:1"), Done: true})
	if sh.Ready() {
		t.Fatal("ready before b:1 was known dead")
	}
	sh.ProbeResult(t0.Add(2*time.Millisecond), "b:1", errors.Join(errors.New("dial"), syscall.ECONNREFUSED))
	if !sh.Ready() {
		t.Fatalf("not ready after b:1 refused: %+v", sh.Status().Snapshot)
	}
	if st := sh.Status().Snapshot; st.Refused != 1 || st.Done != 1 {
		t.Fatalf("snapshot status %+v, want b refused and c done", st)
	}
}

// sessionTo returns the session of the snapshot request the core last
// queued for peer (the outbox must still hold it).
func sessionTo(t *testing.T, sh *Shell, peer string) uint64 {
	t.Helper()
	for _, env := range sh.Outbox() {
		if req, ok := env.Msg.(*distro.SnapshotRequest); ok && env.To == peer {
			return req.Session
		}
	}
	t.Fatalf("no snapshot request to %s", peer)
	return 0
}
