package e2e

import (
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/distrod/distrod/internal/testutil"
)

func partition(t *testing.T, nd *node, peers ...*node) {
	t.Helper()
	block := ""
	for i, p := range peers {
		if i > 0 {
			block += ","
		}
		block += p.addr()
	}
	code, body, err := do("POST", nd.base()+"/distrod/debug/partition?block="+url.QueryEscape(block))
	if err != nil || code != 200 {
		t.Fatalf("partition via %s: %d %s %v", nd.addr(), code, body, err)
	}
}

// waitState polls until nd sees every one of peers in state.
func waitState(t *testing.T, nd *node, state string, peers ...*node) {
	t.Helper()
	testutil.Eventually(t, 30*time.Second, nd.addr()+" sees peers "+state, func() error {
		st, err := nodeStatus(nd)
		if err != nil {
			return err
		}
		for _, p := range peers {
			found := false
			for _, m := range st.Members {
				if m.Address == p.addr() {
					found = m.State == state
				}
			}
			if !found {
				return fmt.Errorf("%s not %s in %+v", p.addr(), state, st.Members)
			}
		}
		return nil
	})
}

// TestCluster_PartitionBothSidesServeAndMergeAfterHeal cuts node 3 off from
// nodes 1 and 2, writes on both sides (each side owns every key it can
// see), checks that every node keeps answering, heals, and requires one
// identical view with the writes of both sides.
func TestCluster_PartitionBothSidesServeAndMergeAfterHeal(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three processes")
	}
	nodes := startCluster(t, 3, "DISTROD_FAULT_INJECTION=true")
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]
	const svc = "e2e.partition"
	want := map[string]bool{}
	for i := 0; i < 6; i++ {
		ip := fmt.Sprintf("10.3.0.%d", i+1)
		if err := register(n1, svc, ip, 7000); err != nil {
			t.Fatal(err)
		}
		want[ip+":7000"] = true
	}
	for _, nd := range nodes {
		waitHosts(t, nd, svc, want)
	}

	partition(t, n3, n1, n2)
	waitState(t, n3, "DOWN", n1, n2)
	waitState(t, n1, "DOWN", n3)
	waitState(t, n2, "DOWN", n3)

	// Both sides answer reads and take writes.
	for i := 0; i < 5; i++ {
		a, b := fmt.Sprintf("10.4.0.%d", i+1), fmt.Sprintf("10.5.0.%d", i+1)
		if err := register(n1, svc, a, 7000); err != nil {
			t.Fatal(err)
		}
		if err := register(n3, svc, b, 7000); err != nil {
			t.Fatal(err)
		}
		want[a+":7000"], want[b+":7000"] = true, true
	}
	if err := deregister(n3, svc, "10.3.0.1", 7000); err != nil {
		t.Fatal(err)
	}
	delete(want, "10.3.0.1:7000")
	for _, nd := range nodes {
		if _, err := hosts(nd, svc); err != nil {
			t.Fatalf("%s did not answer a read during the partition: %v", nd.addr(), err)
		}
	}

	healed := time.Now()
	partition(t, n3)
	for _, nd := range nodes {
		waitHosts(t, nd, svc, want)
	}
	waitSameDigest(t, nodes)
	t.Logf("converged %v after the heal", time.Since(healed).Round(time.Millisecond))
}
