package cp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/distrod/distrod/internal/naming"
	"github.com/distrod/distrod/internal/testutil"
	"github.com/distrod/distrod/internal/transport"
)

const testOffset = 1002

type testCluster struct {
	members []string
	dirs    []string
	nodes   []*Node
}

func member(p int) string { return "127.0.0.1:" + strconv.Itoa(p) }

func newTestCluster(t *testing.T, n int) *testCluster {
	t.Helper()
	tc := &testCluster{}
	for range n {
		tc.members = append(tc.members, member(testutil.PortBlock(t)))
		tc.dirs = append(tc.dirs, t.TempDir())
	}
	tc.nodes = make([]*Node, n)
	for i := range n {
		tc.start(t, i)
	}
	t.Cleanup(func() {
		for _, nd := range tc.nodes {
			if nd != nil {
				_ = nd.Close()
			}
		}
	})
	return tc
}

func (tc *testCluster) start(t *testing.T, i int) {
	t.Helper()
	self := tc.members[i]
	// Every interface, as a server listens: the address peers learn must
	// still be the advertised one.
	_, port, _ := net.SplitHostPort(RaftAddr(self, testOffset))
	lis, err := net.Listen("tcp", ":"+port)
	if err != nil {
		t.Fatal(err)
	}
	nd, err := Open(Options{
		Self: self, Members: tc.members, DataDir: tc.dirs[i], PortOffset: testOffset,
		Handshake:        transport.NewHandshaker(self, "test-secret", nil, time.Second, nil),
		HeartbeatTimeout: 200 * time.Millisecond, WriteTimeout: 2 * time.Second,
	}, lis)
	if err != nil {
		t.Fatal(err)
	}
	tc.nodes[i] = nd
}

func (tc *testCluster) stop(i int) {
	_ = tc.nodes[i].Close()
	tc.nodes[i] = nil
}

func (tc *testCluster) leader(t *testing.T) int {
	t.Helper()
	idx := -1
	testutil.Eventually(t, 10*time.Second, "a leader", func() error {
		for i, nd := range tc.nodes {
			if nd != nil && nd.Status().State == "Leader" {
				idx = i
				return nil
			}
		}
		return errors.New("no leader yet")
	})
	return idx
}

func TestNode_WritesFromAnyNodeReachEveryNode(t *testing.T) {
	tc := newTestCluster(t, 3)
	l := tc.leader(t)
	for i, nd := range tc.nodes {
		ns := Namespace{ID: fmt.Sprintf("ns-%d", i), Name: "n"}
		if err := nd.Apply(context.Background(), Command{Op: OpNamespaceCreate, Namespace: &ns}); err != nil {
			t.Fatalf("create from node %d (leader %d): %v", i, l, err)
		}
	}
	for i, nd := range tc.nodes {
		if addr, id := nd.raft.LeaderWithID(); string(addr) != RaftAddr(string(id), testOffset) {
			t.Fatalf("node %d knows leader %s at %s, not its advertised address", i, id, addr)
		}
	}
	err := tc.nodes[(l+1)%3].Apply(context.Background(), Command{Op: OpNamespaceCreate, Namespace: &Namespace{ID: "ns-0"}})
	if !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate create from a follower: %v, want ErrExists", err)
	}
	for i, nd := range tc.nodes {
		testutil.Eventually(t, 5*time.Second, "namespaces applied", func() error {
			if got := len(nd.FSM().Namespaces()); got != 3 {
				return fmt.Errorf("node %d has %d namespaces", i, got)
			}
			return nil
		})
	}
}

func TestNode_RestartKeepsState(t *testing.T) {
	tc := newTestCluster(t, 3)
	tc.leader(t)
	on := true
	k := InstanceKey{Service: naming.NewServiceKey("", "", "svc"), Cluster: "DEFAULT", IP: "10.0.0.1", Port: 80}
	if err := tc.nodes[0].Apply(context.Background(), Command{Op: OpOverrideSet, Instance: &k, Override: &Override{Enabled: &on}}); err != nil {
		t.Fatal(err)
	}
	for i := range tc.nodes {
		tc.stop(i)
	}
	for i := range tc.nodes {
		tc.start(t, i)
	}
	for i, nd := range tc.nodes {
		testutil.Eventually(t, 10*time.Second, "override after restart", func() error {
			if _, ok := nd.FSM().Override(k); !ok {
				return fmt.Errorf("node %d lost the override", i)
			}
			return nil
		})
	}
}

func TestNode_NoQuorumFailsFast(t *testing.T) {
	tc := newTestCluster(t, 3)
	l := tc.leader(t)
	survivor := (l + 1) % 3
	for i := range tc.nodes {
		if i != survivor {
			tc.stop(i)
		}
	}
	start := time.Now()
	err := tc.nodes[survivor].Apply(context.Background(), Command{Op: OpSwitchSet, Switch: "x", Value: "1"})
	if !errors.Is(err, ErrNoLeader) {
		t.Fatalf("write without quorum: %v, want ErrNoLeader", err)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Fatalf("write without quorum took %v", d)
	}
}

// TestNode_RaftPortRefusesAWrongSecret: a forwarded write from a peer
// that does not know the cluster secret is refused at the handshake.
func TestNode_RaftPortRefusesAWrongSecret(t *testing.T) {
	tc := newTestCluster(t, 3)
	l := tc.leader(t)
	leader := tc.members[l]
	other := tc.members[(l+1)%3]
	stranger := &Node{o: Options{Handshake: transport.NewHandshaker(other, "wrong-secret", nil, time.Second, nil), WriteTimeout: time.Second}}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := stranger.forward(ctx, RaftAddr(leader, testOffset), leader, []byte(`{"op":"switch.set","switch":"x","value":"1"}`))
	if !errors.Is(err, transport.ErrHandshake) {
		t.Fatalf("forward with a wrong secret: %v, want a handshake failure", err)
	}
	if got := tc.nodes[l].FSM().Switches(); len(got) != 0 {
		t.Fatalf("switches %v written by a stranger", got)
	}
}

// TestNode_ReconcileAddsAndRemovesVoters: a member started later (with the
// longer member list) becomes a voter when the leader reconciles, receives
// what was written before, and leaves the configuration when the list no
// longer names it.
func TestNode_ReconcileAddsAndRemovesVoters(t *testing.T) {
	tc := newTestCluster(t, 3)
	l := tc.leader(t)
	if err := tc.nodes[l].Apply(context.Background(), Command{Op: OpNamespaceCreate, Namespace: &Namespace{ID: "before"}}); err != nil {
		t.Fatal(err)
	}
	tc.members = append(tc.members, member(testutil.PortBlock(t)))
	tc.dirs = append(tc.dirs, t.TempDir())
	tc.nodes = append(tc.nodes, nil)
	tc.start(t, 3)
	testutil.Eventually(t, 10*time.Second, "the new member joins", func() error {
		l := tc.leader(t)
		if _, err := tc.nodes[l].Reconcile(tc.members); err != nil {
			return err
		}
		if _, ok := tc.nodes[3].FSM().Namespace("before"); !ok {
			return errors.New("the new member lacks the earlier write")
		}
		return nil
	})
	if got := len(tc.nodes[tc.leader(t)].Status().Voters); got != 4 {
		t.Fatalf("%d voters, want 4", got)
	}
	tc.stop(3)
	testutil.Eventually(t, 10*time.Second, "the departed member leaves", func() error {
		l := tc.leader(t)
		if _, err := tc.nodes[l].Reconcile(tc.members[:3]); err != nil {
			return err
		}
		if got := len(tc.nodes[l].Status().Voters); got != 3 {
			return fmt.Errorf("%d voters", got)
		}
		return nil
	})
	if err := tc.nodes[tc.leader(t)].Apply(context.Background(), Command{Op: OpNamespaceCreate, Namespace: &Namespace{ID: "after"}}); err != nil {
		t.Fatal(err)
	}
}

// TestNode_TransferLeadershipAndSnapshot: a follower refuses a transfer
// and names the leader; the leader hands leadership to the voter named by
// its Raft address; a snapshot succeeds, with or without news.
func TestNode_TransferLeadershipAndSnapshot(t *testing.T) {
	tc := newTestCluster(t, 3)
	l := tc.leader(t)
	to := (l + 1) % 3
	other := (l + 2) % 3
	if err := tc.nodes[other].TransferLeadership(tc.members[to]); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("transfer from a follower: %v, want ErrNotLeader", err)
	}
	if err := tc.nodes[l].TransferLeadership("127.0.0.1:1"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("transfer to a non-voter: %v, want ErrInvalid", err)
	}
	if err := tc.nodes[l].TransferLeadership(tc.members[l]); err != nil {
		t.Fatalf("transfer to the leader itself: %v", err)
	}
	if err := tc.nodes[l].TransferLeadership(RaftAddr(tc.members[to], testOffset)); err != nil {
		t.Fatalf("transfer: %v", err)
	}
	testutil.Eventually(t, 10*time.Second, "the new leader", func() error {
		if st := tc.nodes[to].Status(); st.State != "Leader" {
			return fmt.Errorf("node %d is %s", to, st.State)
		}
		return nil
	})
	ns := Namespace{ID: "team", Name: "Team"}
	if err := tc.nodes[to].Apply(context.Background(), Command{Op: OpNamespaceCreate, Namespace: &ns}); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := tc.nodes[to].Snapshot(); err != nil {
			t.Fatalf("snapshot %d: %v", i, err)
		}
	}
}

// TestNode_FollowerReadsItsOwnWrite: a write taken by a follower is in
// that follower's state when Apply returns, with no wait.
func TestNode_FollowerReadsItsOwnWrite(t *testing.T) {
	tc := newTestCluster(t, 3)
	f := (tc.leader(t) + 1) % 3
	for i := range 20 {
		ns := Namespace{ID: fmt.Sprintf("ns-%d", i), Name: "N"}
		if err := tc.nodes[f].Apply(context.Background(), Command{Op: OpNamespaceCreate, Namespace: &ns}); err != nil {
			t.Fatal(err)
		}
		if _, ok := tc.nodes[f].FSM().Namespace(ns.ID); !ok {
			t.Fatalf("write %d not applied on the follower that took it", i)
		}
	}
}

// TestNode_FollowerReusesItsForwardingConnection: a follower's forwarded
// writes share one connection to the leader, and a kept connection that
// no longer works is replaced without failing the write.
func TestNode_FollowerReusesItsForwardingConnection(t *testing.T) {
	tc := newTestCluster(t, 3)
	l := tc.leader(t)
	fol := tc.nodes[(l+1)%3]
	const writes = 30
	for i := range writes {
		ns := Namespace{ID: fmt.Sprintf("ns-%d", i)}
		if err := fol.Apply(context.Background(), Command{Op: OpNamespaceCreate, Namespace: &ns}); err != nil {
			t.Fatal(err)
		}
	}
	// One connection, or one per leader should leadership have moved.
	if d := fol.fwd.dials.Load(); d > 3 {
		t.Fatalf("%d connections for %d sequential forwarded writes", d, writes)
	}

	_, id := fol.raft.LeaderWithID()
	key := string(id) + "|" + RaftAddr(string(id), testOffset)
	c := fol.fwd.get(key)
	if c == nil {
		t.Fatal("no kept connection to the leader")
	}
	_ = c.Close()
	fol.fwd.put(key, c)
	before := fol.fwd.dials.Load()
	if err := fol.Apply(context.Background(), Command{Op: OpNamespaceCreate, Namespace: &Namespace{ID: "after-close"}}); err != nil {
		t.Fatalf("write over a dead kept connection: %v", err)
	}
	if d := fol.fwd.dials.Load() - before; d != 1 {
		t.Fatalf("%d new connections after the kept one died, want 1", d)
	}
	if _, ok := fol.FSM().Namespace("after-close"); !ok {
		t.Fatal("the write was not applied")
	}
}
