package e2e

import (
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/distrod/distrod/internal/testutil"
)

// statusMembers returns the members a node's /distrod/status lists, with
// their states.
func statusMembers(nd *node) (map[string]string, error) {
	code, body, err := get(nd.base() + "/distrod/status")
	if err != nil {
		return nil, err
	}
	if code != 200 {
		return nil, fmt.Errorf("status %d %s", code, body)
	}
	var st struct {
		Members []struct {
			Address string `json:"address"`
			State   string `json:"state"`
		} `json:"members"`
	}
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, m := range st.Members {
		out[m.Address] = m.State
	}
	return out, nil
}

// TestDNSMembership_FollowsTheHeadlessServiceRecords runs a real DNS server
// on loopback serving a headless service's SRV and A records, as Kubernetes
// DNS does for a StatefulSet, and distrod processes that find each other
// only through it. The records change 3 -> 5 -> 4 members and every node's
// member list follows.
func TestDNSMembership_FollowsTheHeadlessServiceRecords(t *testing.T) {
	const service = "_http._tcp.distrod-headless.ns.svc.test"
	dns := testutil.StartDNS(t)
	bin := testutil.BuildDistrod(t)

	nodes := make([]*node, 5)
	for i := range nodes {
		nodes[i] = &node{port: testutil.PortBlock(t)}
		dns.SetA(podName(i), "127.0.0.1")
	}
	publish := func(n int) {
		var recs []testutil.SRV
		for i := 0; i < n; i++ {
			recs = append(recs, testutil.SRV{Target: podName(i), Port: uint16(nodes[i].port)})
		}
		dns.SetSRV(service, recs...)
	}
	start := func(nd *node) {
		env := []string{
			"MODE=cluster",
			"NACOS_SERVER_IP=127.0.0.1",
			"NACOS_APPLICATION_PORT=" + strconv.Itoa(nd.port),
			"DISTROD_MEMBER_DNS=" + service,
			"DISTROD_MEMBER_DNS_SERVER=" + dns.Addr,
			"DISTROD_MEMBER_DNS_REFRESH=200ms",
			"DISTROD_PROBE_INTERVAL=200ms",
			"DISTROD_SNAPSHOT_LOAD_TIMEOUT=3s",
			"DISTROD_CLUSTER_SECRET=" + e2eSecret,
		}
		nd.proc = testutil.StartProcess(t, bin, nd.port, env)
	}
	// expect waits until every node in live lists exactly the first n
	// nodes, all UP.
	expect := func(live []*node, n int) {
		t.Helper()
		var want []string
		for i := 0; i < n; i++ {
			want = append(want, nodes[i].addr())
		}
		for _, nd := range live {
			waitMembersUp(t, nd, want, 30*time.Second)
		}
	}

	publish(3)
	for _, nd := range nodes[:3] {
		start(nd)
	}
	for _, nd := range nodes[:3] {
		waitReady(t, nd)
	}
	expect(nodes[:3], 3)
	// A write forwarded to an owner the entry node has not reached yet
	// answers 503, which clients retry.
	testutil.Eventually(t, 10*time.Second, "register", func() error {
		return register(nodes[0], "dns.demo", "10.4.0.1", 80)
	})

	// Scale up: the records come first (publishNotReadyAddresses), then the
	// pods; the new nodes load the data from the others.
	publish(5)
	for _, nd := range nodes[3:] {
		start(nd)
	}
	for _, nd := range nodes[3:] {
		waitReady(t, nd)
	}
	expect(nodes, 5)
	testutil.Eventually(t, 20*time.Second, "data on a new node", func() error {
		h, err := hosts(nodes[4], "dns.demo")
		if err != nil {
			return err
		}
		if !h["10.4.0.1:80"] {
			return fmt.Errorf("hosts %v", h)
		}
		return nil
	})

	// Scale down: the last pod goes away with its record.
	nodes[4].proc.Stop()
	publish(4)
	expect(nodes[:4], 4)
}

func podName(i int) string { return fmt.Sprintf("distrod-%d.distrod-headless.ns.svc.test", i) }
