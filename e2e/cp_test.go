package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nacos-group/nacos-sdk-go/v2/model"
	"github.com/nacos-group/nacos-sdk-go/v2/vo"

	"github.com/distrod/distrod/internal/testutil"
)

// cpStatus is a node's view of the control plane (/distrod/cp).
type cpStatus struct {
	State  string   `json:"state"`
	Leader string   `json:"leader"`
	Voters []string `json:"voters"`
}

// waitLeader polls until every node names the same control plane leader.
func waitLeader(t *testing.T, nodes []*node) string {
	t.Helper()
	leader := ""
	testutil.Eventually(t, 30*time.Second, "one control plane leader", func() error {
		leader = ""
		for _, nd := range nodes {
			code, body, err := get(nd.base() + "/distrod/cp")
			if err != nil {
				return err
			}
			var st cpStatus
			if code != 200 || json.Unmarshal([]byte(body), &st) != nil {
				return fmt.Errorf("cp status of %s: %d %s", nd.addr(), code, body)
			}
			if st.Leader == "" || (leader != "" && st.Leader != leader) {
				return fmt.Errorf("%s sees leader %q", nd.addr(), st.Leader)
			}
			leader = st.Leader
		}
		return nil
	})
	return leader
}

func form(method, u string, vals url.Values) (int, string, error) {
	return do(method, u+"?"+vals.Encode())
}

// namespaceIDs returns the namespace ids a node lists (v2 console API).
func namespaceIDs(nd *node) (map[string]bool, error) {
	code, body, err := get(nd.base() + "/nacos/v2/console/namespace/list")
	if err != nil {
		return nil, err
	}
	var res struct {
		Data []struct {
			Namespace string `json:"namespace"`
		} `json:"data"`
	}
	if code != 200 || json.Unmarshal([]byte(body), &res) != nil {
		return nil, fmt.Errorf("namespace list: %d %s", code, body)
	}
	out := map[string]bool{}
	for _, ns := range res.Data {
		out[ns.Namespace] = true
	}
	return out, nil
}

// TestControlPlane_OverridesAndNamespacesSurviveFullRestart: on three
// processes, a namespace, an explicitly created service, a switch and a
// persistent instance written on different nodes, and a weight override set
// through the HTTP API on a gRPC-registered instance reach every node; a
// v2 SDK subscriber sees the override by push; after all three processes
// stop and start again, all of them are still there,
// and the override still applies after the SDK re-registered its instance
// on reconnect.
func TestControlPlane_OverridesAndNamespacesSurviveFullRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three processes")
	}
	nodes := startCluster(t, 3)
	waitLeader(t, nodes)
	const svc = "e2e.cp.override"

	code, body, err := form("POST", nodes[1].base()+"/nacos/v1/console/namespaces",
		url.Values{"customNamespaceId": {"team-a"}, "namespaceName": {"Team A"}, "namespaceDesc": {"kept"}})
	if err != nil || code != 200 || body != "true" {
		t.Fatalf("create namespace: %d %s %v", code, body, err)
	}

	code, body, err = form("POST", nodes[2].base()+"/nacos/v1/ns/service",
		url.Values{"serviceName": {"e2e.cp.explicit"}, "protectThreshold": {"0.25"}, "metadata": {"tier=gold"}})
	if err != nil || code != 200 || body != "ok" {
		t.Fatalf("create service: %d %s %v", code, body, err)
	}
	code, body, err = form("PUT", nodes[0].base()+"/nacos/v1/ns/operator/switches",
		url.Values{"entry": {"clientBeatInterval"}, "value": {"7000"}})
	if err != nil || code != 200 {
		t.Fatalf("set switch: %d %s %v", code, body, err)
	}

	// A persistent instance on a port this test holds open.
	up, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	upPort := up.Addr().(*net.TCPAddr).Port
	code, body, err = form("POST", nodes[0].base()+"/nacos/v1/ns/instance", url.Values{"serviceName": {"e2e.cp.persistent"},
		"ip": {"127.0.0.1"}, "port": {fmt.Sprint(upPort)}, "ephemeral": {"false"}})
	if err != nil || code != 200 || body != "ok" {
		t.Fatalf("register persistent: %d %s %v", code, body, err)
	}

	// The registering SDK runs in its own process: it reconnects when the
	// cluster restarts, and the SDK's reconnect code has data races of its
	// own that the race detector would report against this test.
	startSDKRegister(t, nodes[0], svc, "10.9.0.1", 8080, "zone=a")
	sub := sdkClient(t, nodes[2])
	var got pushed
	if err := sub.Subscribe(&vo.SubscribeParam{ServiceName: svc, SubscribeCallback: func(ins []model.Instance, err error) {
		if err == nil {
			got.set(ins)
		}
	}}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 20*time.Second, "subscriber sees the instance", func() error {
		if !got.has("10.9.0.1:8080") {
			return fmt.Errorf("pushed %s", &got)
		}
		return nil
	})

	// An operator's edit of the gRPC client's instance, through another node.
	code, body, err = form("PUT", nodes[1].base()+"/nacos/v1/ns/instance",
		url.Values{"serviceName": {svc}, "ip": {"10.9.0.1"}, "port": {"8080"}, "weight": {"7"}, "metadata": {`{"owner":"ops"}`}})
	if err != nil || code != 200 || body != "ok" {
		t.Fatalf("PUT instance of a gRPC client: %d %s %v", code, body, err)
	}
	waitWeight := func(what string) {
		t.Helper()
		testutil.Eventually(t, 30*time.Second, what, func() error {
			if w := got.weight("10.9.0.1:8080"); w != 7 {
				return fmt.Errorf("pushed weight %v (%s)", w, &got)
			}
			return nil
		})
	}
	waitWeight("subscriber sees the override by push")
	for _, nd := range nodes {
		testutil.Eventually(t, 10*time.Second, "override merged on "+nd.addr(), func() error {
			_, body, err := get(nd.base() + "/nacos/v1/ns/instance?serviceName=" + svc + "&ip=10.9.0.1&port=8080")
			if err != nil {
				return err
			}
			if !strings.Contains(body, `"owner":"ops"`) || !strings.Contains(body, `"zone":"a"`) {
				return fmt.Errorf("detail %s", body)
			}
			return nil
		})
	}

	// This subscriber would reconnect too; a new one checks after the
	// restart.
	sub.CloseClient()
	for _, nd := range nodes {
		nd.proc.Stop()
	}
	for _, nd := range nodes {
		nd.proc.Start()
	}
	for _, nd := range nodes {
		waitReady(t, nd)
	}
	for _, nd := range nodes {
		testutil.Eventually(t, 30*time.Second, "namespace kept on "+nd.addr(), func() error {
			ids, err := namespaceIDs(nd)
			if err != nil {
				return err
			}
			if !ids["team-a"] || !ids[""] {
				return fmt.Errorf("namespaces %v", ids)
			}
			return nil
		})
	}
	for _, nd := range nodes {
		testutil.Eventually(t, 30*time.Second, "service and switch kept on "+nd.addr(), func() error {
			_, body, err := get(nd.base() + "/nacos/v1/ns/service?serviceName=e2e.cp.explicit")
			if err != nil {
				return err
			}
			if !strings.Contains(body, `"protectThreshold":0.25`) || !strings.Contains(body, `"tier":"gold"`) {
				return fmt.Errorf("service %s", body)
			}
			_, body, err = get(nd.base() + "/nacos/v1/ns/operator/switches")
			if err != nil {
				return err
			}
			if !strings.Contains(body, `"clientBeatInterval":7000`) {
				return fmt.Errorf("switches %s", body)
			}
			_, body, err = get(nd.base() + "/nacos/v1/ns/instance/list?serviceName=e2e.cp.persistent")
			if err != nil {
				return err
			}
			if !strings.Contains(body, fmt.Sprintf(`"port":%d`, upPort)) || !strings.Contains(body, `"ephemeral":false`) {
				return fmt.Errorf("persistent instance: %s", body)
			}
			return nil
		})
	}
	// The SDK reconnects and re-registers its instance (the restart lost
	// it: it is ephemeral); the override still applies to what it
	// registered, on every read and in a new subscriber's push.
	for _, nd := range nodes {
		testutil.Eventually(t, 30*time.Second, "re-registered instance overridden on "+nd.addr(), func() error {
			_, body, err := get(nd.base() + "/nacos/v1/ns/instance/list?serviceName=" + svc)
			if err != nil {
				return err
			}
			if !strings.Contains(body, `"weight":7.0`) || !strings.Contains(body, `"owner":"ops"`) {
				return fmt.Errorf("list %s", body)
			}
			return nil
		})
	}
	var fresh pushed
	sub2 := sdkClient(t, nodes[1])
	if err := sub2.Subscribe(&vo.SubscribeParam{ServiceName: svc, SubscribeCallback: func(ins []model.Instance, err error) {
		if err == nil {
			fresh.set(ins)
		}
	}}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, "new subscriber sees the override", func() error {
		if w := fresh.weight("10.9.0.1:8080"); w != 7 {
			return fmt.Errorf("pushed weight %v (%s)", w, &fresh)
		}
		return nil
	})
}

// TestControlPlane_MinorityRefusesControlWritesButTakesEphemeralOnes: a node
// cut off from both peers answers control plane writes with a quick 503
// naming the missing leader, while it still registers ephemeral instances
// and serves reads; after the heal its writes succeed again.
func TestControlPlane_MinorityRefusesControlWritesButTakesEphemeralOnes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three processes")
	}
	nodes := startCluster(t, 3, "DISTROD_FAULT_INJECTION=true", "DISTROD_CP_WRITE_TIMEOUT=2s")
	waitLeader(t, nodes)
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]
	partition(t, n3, n1, n2)
	partition(t, n1, n3)
	partition(t, n2, n3)

	nsCreate := func(nd *node, id string) (int, string, time.Duration) {
		start := time.Now()
		code, body, err := form("POST", nd.base()+"/nacos/v2/console/namespace",
			url.Values{"namespaceId": {id}, "namespaceName": {id}})
		if err != nil {
			t.Fatal(err)
		}
		return code, body, time.Since(start)
	}
	// The minority's leader (if it was one) steps down within a lease.
	testutil.Eventually(t, 30*time.Second, "minority refuses control writes", func() error {
		code, body, took := nsCreate(n3, "minority")
		if code != 503 {
			return fmt.Errorf("minority write: %d %s", code, body)
		}
		if !strings.Contains(body, "no leader") {
			t.Fatalf("503 without the reason: %s", body)
		}
		if took > 5*time.Second {
			t.Fatalf("minority write took %v", took)
		}
		return nil
	})
	if err := register(n3, "e2e.cp.minority", "10.9.1.1", 80); err != nil {
		t.Fatalf("ephemeral register on the minority: %v", err)
	}
	if _, err := namespaceIDs(n3); err != nil {
		t.Fatalf("read on the minority: %v", err)
	}
	testutil.Eventually(t, 30*time.Second, "majority takes control writes", func() error {
		if code, body, _ := nsCreate(n1, "majority"); code != 200 {
			return fmt.Errorf("majority write: %d %s", code, body)
		}
		return nil
	})

	partition(t, n3)
	partition(t, n1)
	partition(t, n2)
	testutil.Eventually(t, 30*time.Second, "healed node catches up", func() error {
		ids, err := namespaceIDs(n3)
		if err != nil {
			return err
		}
		if !ids["majority"] || ids["minority"] {
			return fmt.Errorf("namespaces on the healed node %v", ids)
		}
		return nil
	})
}

// TestControlPlane_KillingTheLeaderLosesNoAcknowledgedWrite writes
// namespaces through a follower while the leader is killed (SIGKILL):
// every write that was answered 200 is on the survivors once a new leader
// is elected, and on the old leader once it is back.
func TestControlPlane_KillingTheLeaderLosesNoAcknowledgedWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three processes")
	}
	nodes := startCluster(t, 3)
	leaderAddr := waitLeader(t, nodes)
	var leader, entry *node
	for _, nd := range nodes {
		if nd.addr() == leaderAddr {
			leader = nd
		} else if entry == nil {
			entry = nd
		}
	}
	if leader == nil {
		t.Fatalf("leader %s is not a test node", leaderAddr)
	}
	var acked []string
	failed := 0
	for i := 0; i < 40; i++ {
		if i == 15 {
			leader.proc.Kill()
		}
		id := fmt.Sprintf("kill-%02d", i)
		code, _, err := form("POST", entry.base()+"/nacos/v2/console/namespace",
			url.Values{"namespaceId": {id}, "namespaceName": {id}})
		if err == nil && code == 200 {
			acked = append(acked, id)
		} else {
			failed++
		}
	}
	if len(acked) < 20 {
		t.Fatalf("only %d of 40 writes acknowledged across the failover (%d failed)", len(acked), failed)
	}
	check := func(nd *node) {
		t.Helper()
		testutil.Eventually(t, 30*time.Second, "acknowledged writes on "+nd.addr(), func() error {
			ids, err := namespaceIDs(nd)
			if err != nil {
				return err
			}
			for _, id := range acked {
				if !ids[id] {
					return fmt.Errorf("acknowledged namespace %s missing", id)
				}
			}
			return nil
		})
	}
	for _, nd := range nodes {
		if nd != leader {
			check(nd)
		}
	}
	leader.proc.Start()
	waitReady(t, leader)
	check(leader)
	t.Logf("%d writes acknowledged, %d refused during the failover", len(acked), failed)
}

var (
	sdkRegOnce sync.Once
	sdkRegBin  string
	sdkRegErr  error
)

// startSDKRegister runs e2e/cmd/sdkregister against nd until the test
// ends, once it reported the instance registered.
func startSDKRegister(t *testing.T, nd *node, service, ip string, port int, meta string) {
	t.Helper()
	sdkRegOnce.Do(func() {
		dir, err := os.MkdirTemp("", "distrod-sdkregister-")
		if err != nil {
			sdkRegErr = err
			return
		}
		sdkRegBin = filepath.Join(dir, "sdkregister")
		cmd := exec.Command("go", "build", "-o", sdkRegBin, "./e2e/cmd/sdkregister")
		cmd.Dir = testutil.ModuleRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			sdkRegErr = fmt.Errorf("go build sdkregister: %w\n%s", err, out)
		}
	})
	if sdkRegErr != nil {
		t.Fatal(sdkRegErr)
	}
	cmd := exec.Command(sdkRegBin, "-server", nd.addr(), "-service", service, "-ip", ip,
		"-port", fmt.Sprint(port), "-meta", meta, "-dir", t.TempDir())
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "registered" {
		t.Fatalf("sdkregister: %q %v", line, err)
	}
}

// raftOp posts a /v1/core/ops/raft command to nd and returns the
// RestResult's code and message.
func raftOp(t *testing.T, nd *node, command, value string) (int, string) {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"command": command, "value": value})
	resp, err := httpc.Post(nd.base()+"/nacos/v1/core/ops/raft", "application/json", strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var res struct {
		Code    int     `json:"code"`
		Message *string `json:"message"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil || resp.StatusCode != 200 {
		t.Fatalf("raft %s on %s: HTTP %d %v", command, nd.addr(), resp.StatusCode, err)
	}
	msg := ""
	if res.Message != nil {
		msg = *res.Message
	}
	return res.Code, msg
}

// TestControlPlane_ManualHealthAndRaftOps: on three processes, an
// operator's health of a persistent instance in a NONE-checked cluster,
// set on a node other than those that configured the cluster and
// registered the instance, is served by every node; /core/ops/raft
// snapshots a follower, refuses a transfer sent to a follower (naming the
// leader) and moves the leadership when the leader is asked.
func TestControlPlane_ManualHealthAndRaftOps(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three processes")
	}
	nodes := startCluster(t, 3)
	leader := waitLeader(t, nodes)
	const svc = "e2e.cp.health"
	if code, body, err := form("POST", nodes[0].base()+"/nacos/v1/ns/service", url.Values{"serviceName": {svc}}); err != nil || code != 200 {
		t.Fatalf("create service: %d %s %v", code, body, err)
	}
	code, body, err := form("PUT", nodes[0].base()+"/nacos/v1/ns/cluster", url.Values{"serviceName": {svc}, "clusterName": {"manual"},
		"checkPort": {"80"}, "useInstancePort4Check": {"true"}, "healthChecker": {`{"type":"NONE"}`}})
	if err != nil || code != 200 {
		t.Fatalf("cluster settings: %d %s %v", code, body, err)
	}
	inst := url.Values{"serviceName": {svc}, "ip": {"10.9.9.1"}, "port": {"80"}, "clusterName": {"manual"}}
	reg := url.Values{"ephemeral": {"false"}}
	for k, v := range inst {
		reg[k] = v
	}
	if code, body, err := form("POST", nodes[1].base()+"/nacos/v1/ns/instance", reg); err != nil || code != 200 {
		t.Fatalf("register persistent: %d %s %v", code, body, err)
	}
	health := url.Values{"healthy": {"false"}}
	for k, v := range inst {
		health[k] = v
	}
	if code, body, err := form("PUT", nodes[2].base()+"/nacos/v1/ns/health/instance", health); err != nil || code != 200 || body != "ok" {
		t.Fatalf("set health: %d %s %v", code, body, err)
	}
	testutil.Eventually(t, 10*time.Second, "every node serves the health set", func() error {
		for _, nd := range nodes {
			code, body, err := form("GET", nd.base()+"/nacos/v1/ns/instance", inst)
			if err != nil {
				return err
			}
			if code != 200 || !strings.Contains(body, `"healthy":false`) {
				return fmt.Errorf("%s: %d %s", nd.addr(), code, body)
			}
		}
		return nil
	})

	var li, fi int
	for i, nd := range nodes {
		if nd.addr() == leader {
			li = i
		}
	}
	fi = (li + 1) % 3
	if code, msg := raftOp(t, nodes[fi], "doSnapshot", ""); code != 200 {
		t.Fatalf("snapshot of a follower: %d %s", code, msg)
	}
	if code, msg := raftOp(t, nodes[fi], "transferLeader", nodes[fi].addr()); code != 500 || !strings.Contains(msg, leader) {
		t.Fatalf("transfer sent to a follower: %d %s", code, msg)
	}
	if code, msg := raftOp(t, nodes[li], "transferLeader", nodes[fi].addr()); code != 200 {
		t.Fatalf("transfer: %d %s", code, msg)
	}
	testutil.Eventually(t, 20*time.Second, "the new leader", func() error {
		if l := waitLeader(t, nodes); l != nodes[fi].addr() {
			return fmt.Errorf("leader is %s, want %s", l, nodes[fi].addr())
		}
		return nil
	})
}
