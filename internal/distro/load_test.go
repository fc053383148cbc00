package distro_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/distrod/distrod/internal/distro"
)

// restartView is the view of a node that restarts next to a live peer
// "a:1" and a member "dead:1" in state st (refused or not).
func restartView(self string, st distro.MemberState, refused bool) []distro.Member {
	return []distro.Member{
		{Addr: "a:1", State: distro.StateUp},
		{Addr: "dead:1", State: st, Refused: refused},
		{Addr: self, State: distro.StateUp},
	}
}

func TestSnapshot_RefusingDownPeerDoesNotDelayReady(t *testing.T) {
	nw := newNet(t, fastCfg, "a:1", "b:1")
	a, b := nw.nodes["a:1"], nw.nodes["b:1"]
	for i := range 20 {
		inject(a, t0, conn(fmt.Sprintf("k%02d", i), "a:1", 1, false))
	}
	a.node.SetMembers(t0, restartView("b:1", distro.StateDown, true))
	// b restarts: every member starts UP (the membership table knows
	// nothing yet), and the probe of dead:1 comes back refused at once.
	b.node.SetMembers(t0, restartView("b:1", distro.StateUp, false))
	nw.pump(t0)
	if b.node.Ready() {
		t.Fatal("ready while dead:1 was still UP in the view and not loaded")
	}
	b.node.SetMembers(ms(5), restartView("b:1", distro.StateDown, true))
	nw.pump(ms(5))
	if !b.node.Ready() {
		t.Fatalf("not ready after a:1's stream ended and dead:1 refused: %+v", b.node.Status().Snapshot)
	}
	if b.store.Len() != 20 {
		t.Fatalf("ready holding %d of a:1's 20 records", b.store.Len())
	}
	if got := peerStatus(t, b, "dead:1").Snapshot; got != "refused" {
		t.Fatalf("dead:1's snapshot state %q, want refused", got)
	}
	if st := b.node.Status().Snapshot; st.Refused != 1 || st.GaveUp != 0 {
		t.Fatalf("snapshot status %+v", st)
	}
}

func TestSnapshot_TimedOutDownPeerIsStillWaitedFor(t *testing.T) {
	// DOWN by probe timeouts may be a partition, not a death: the peer
	// may hold data nobody else has, so the load still waits LoadTimeout.
	nw := newNet(t, fastCfg, "a:1", "b:1")
	b := nw.nodes["b:1"]
	nw.nodes["a:1"].node.SetMembers(t0, restartView("b:1", distro.StateDown, false))
	b.node.SetMembers(t0, restartView("b:1", distro.StateUp, false))
	nw.pump(t0)
	b.node.SetMembers(ms(50), restartView("b:1", distro.StateDown, false))
	timeout := b.node.Config().LoadTimeout
	nw.run(ms(50), t0.Add(timeout-time.Millisecond), 10*time.Millisecond)
	if b.node.Ready() {
		t.Fatal("ready before LoadTimeout while a DOWN (not refusing) peer was silent")
	}
	nw.tick(t0.Add(timeout))
	if !b.node.Ready() {
		t.Fatal("not ready after LoadTimeout")
	}
	if got := peerStatus(t, b, "dead:1").Snapshot; got != "gave-up" {
		t.Fatalf("dead:1's snapshot state %q, want gave-up", got)
	}
}

func TestSnapshot_RefusedPeerIsLoadedWhenBack(t *testing.T) {
	nw := newNet(t, fastCfg, "a:1", "b:1", "dead:1")
	a, b, d := nw.nodes["a:1"], nw.nodes["b:1"], nw.nodes["dead:1"]
	inject(d, t0, conn("only-on-dead", "dead:1", 1, false))
	a.node.SetMembers(t0, restartView("b:1", distro.StateDown, true))
	d.node.SetMembers(t0, restartView("b:1", distro.StateUp, false))
	nw.drop = func(from, to string, _ distro.Message) bool { return from == "dead:1" || to == "dead:1" }
	b.node.SetMembers(t0, restartView("b:1", distro.StateDown, true))
	nw.pump(t0)
	if !b.node.Ready() {
		t.Fatal("not ready with a:1 loaded and dead:1 refusing")
	}
	if _, ok := get(t, b, "only-on-dead"); ok {
		t.Fatal("a record only dead:1 held arrived through a cut link")
	}
	// It was only refusing (a firewall, a port not yet bound): once it
	// answers probes again, its snapshot is loaded in the background.
	nw.drop = nil
	b.node.SetMembers(ms(100), restartView("b:1", distro.StateUp, false))
	nw.pump(ms(100))
	if _, ok := get(t, b, "only-on-dead"); !ok {
		t.Fatal("dead:1's records were not loaded after it came back")
	}
	if got := peerStatus(t, b, "dead:1").Snapshot; got != "done" {
		t.Fatalf("dead:1's snapshot state %q, want done", got)
	}
}

func TestSnapshot_LoadMaxBoundsATricklingLoad(t *testing.T) {
	const records = 200 // 25 chunks of 8
	nw := newNet(t, func(c *distro.Config) {
		fastCfg(c)
		c.LoadMax = time.Second
	}, "a:1", "b:1")
	a, b := nw.nodes["a:1"], nw.nodes["b:1"]
	for i := range records {
		inject(a, t0, conn(fmt.Sprintf("k%03d", i), "a:1", 1, false))
	}
	// a:1 answers one chunk request per 100ms tick (well within the
	// 200ms LoadTimeout), so its stream always progresses but takes 2.5s.
	var held []distro.Envelope
	nw.drop = func(from, to string, m distro.Message) bool {
		if from == "a:1" && m.Type() == distro.MsgSnapshotChunk {
			held = append(held, distro.Envelope{To: to, Msg: m})
			return true
		}
		return from == "a:1" // only the snapshot carries the data
	}
	nw.setMembers(t0)
	nw.pump(t0)
	maxLoad := b.node.Config().LoadMax
	var readyAt time.Time
	for now := t0; now.Before(t0.Add(5 * time.Second)); now = now.Add(100 * time.Millisecond) {
		if len(held) > 0 {
			// The newest answer only: re-sent requests repeat it.
			env := held[len(held)-1]
			held = nil
			b.node.Step(now, "a:1", env.Msg)
			b.observe(now)
		}
		nw.tick(now)
		if b.node.Ready() && readyAt.IsZero() {
			readyAt = now
			if b.store.Len() >= records {
				t.Fatal("the load finished before LoadMax: the test does not trickle")
			}
			if got := peerStatus(t, b, "a:1").Snapshot; got != "overdue" {
				t.Fatalf("a:1's snapshot state %q at ready, want overdue", got)
			}
		}
	}
	if readyAt.IsZero() || readyAt.Sub(t0) < maxLoad || readyAt.Sub(t0) > maxLoad+100*time.Millisecond {
		t.Fatalf("ready at %v, want at LoadMax %v", readyAt.Sub(t0), maxLoad)
	}
	// The stream went on in the background and finished.
	if b.store.Len() != records || peerStatus(t, b, "a:1").Snapshot != "done" {
		t.Fatalf("after the trickle: %d records, state %q", b.store.Len(), peerStatus(t, b, "a:1").Snapshot)
	}
	if st := b.node.Status().Snapshot; st.Overdue != 1 {
		t.Fatalf("snapshot status %+v", st)
	}
}

func TestSnapshot_RefusedPeerBackDuringTheLoadIsWaitedFor(t *testing.T) {
	nw := newNet(t, fastCfg, "a:1", "b:1", "dead:1")
	a, b, d := nw.nodes["a:1"], nw.nodes["b:1"], nw.nodes["dead:1"]
	inject(d, t0, conn("only-on-dead", "dead:1", 1, false))
	a.node.SetMembers(t0, restartView("b:1", distro.StateUp, false))
	d.node.SetMembers(t0, restartView("b:1", distro.StateUp, false))
	// a:1's stream stalls, so b:1 is still loading when dead:1 answers
	// again after a refusal: it was never dead, its snapshot now gates.
	nw.drop = func(from, to string, m distro.Message) bool {
		return from == "a:1" && m.Type() == distro.MsgSnapshotChunk || from == "dead:1" || to == "dead:1"
	}
	b.node.SetMembers(t0, restartView("b:1", distro.StateDown, true))
	nw.pump(t0)
	if got := peerStatus(t, b, "dead:1").Snapshot; got != "refused" || b.node.Ready() {
		t.Fatalf("dead:1 %q, ready %v; want refused and not ready (a:1 stalls)", got, b.node.Ready())
	}
	b.node.SetMembers(ms(10), restartView("b:1", distro.StateUp, false))
	nw.drop = func(from, to string, m distro.Message) bool {
		return from == "a:1" && m.Type() == distro.MsgSnapshotChunk
	}
	nw.pump(ms(10))
	if got := peerStatus(t, b, "dead:1").Snapshot; got != "done" {
		t.Fatalf("dead:1 %q after it answered again during the load, want done", got)
	}
	if _, ok := get(t, b, "only-on-dead"); !ok {
		t.Fatal("dead:1's records were not loaded")
	}
	if b.node.Ready() {
		t.Fatal("ready while a:1 still streams")
	}
}
