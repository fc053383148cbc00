package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distrod/distrod/internal/testutil"
)

// sdkClients is a running cmd/sdkclients process and what its clients
// last saw.
type sdkClients struct {
	mu    sync.Mutex
	ready bool
	hosts map[int]int // client -> hosts in its latest push
}

// startSDKClients builds and runs cmd/sdkclients: n v2 SDK clients that
// know servers ("ip:port"), each registering one instance of service and
// subscribing to it. The process ends with the test.
func startSDKClients(t *testing.T, servers []string, n int, service string) *sdkClients {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sdkclients")
	build := exec.Command("go", "build", "-o", bin, "./e2e/cmd/sdkclients")
	build.Dir = testutil.ModuleRoot()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./e2e/cmd/sdkclients: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-servers", strings.Join(servers, ","), "-n", strconv.Itoa(n), "-service", service, "-dir", t.TempDir())
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := &sdkClients{hosts: map[int]int{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			var e struct {
				Event  string `json:"event"`
				Client int    `json:"client"`
				Hosts  int    `json:"hosts"`
			}
			if json.Unmarshal(s.Bytes(), &e) != nil {
				continue
			}
			sc.mu.Lock()
			switch e.Event {
			case "ready":
				sc.ready = true
			case "push":
				sc.hosts[e.Client] = e.Hosts
			}
			sc.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		stdin.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		_ = cmd.Wait()
	})
	testutil.Eventually(t, 60*time.Second, "sdk clients registered and subscribed", func() error {
		sc.mu.Lock()
		defer sc.mu.Unlock()
		if !sc.ready {
			return fmt.Errorf("not ready")
		}
		return nil
	})
	return sc
}

// loaderConnections counts a node's connections in /v2/core/loader/current
// and checks each has Nacos's fields.
func loaderConnections(nd *node) (int, error) {
	code, body, err := get(nd.base() + "/nacos/v2/core/loader/current")
	if err != nil {
		return 0, err
	}
	var m map[string]struct {
		MetaInfo struct {
			ConnectionID string `json:"connectionId"`
			SDKSource    bool   `json:"sdkSource"`
		} `json:"metaInfo"`
	}
	if code != 200 || json.Unmarshal([]byte(body), &m) != nil {
		return 0, fmt.Errorf("loader/current: %d %s", code, body)
	}
	for id, c := range m {
		if c.MetaInfo.ConnectionID != id || !c.MetaInfo.SDKSource {
			return 0, fmt.Errorf("connection %s: %s", id, body)
		}
	}
	return len(m), nil
}

func waitConnections(t *testing.T, what string, nodes []*node, want ...int) {
	t.Helper()
	testutil.Eventually(t, 30*time.Second, what, func() error {
		for i, nd := range nodes {
			n, err := loaderConnections(nd)
			if err != nil {
				return err
			}
			if n != want[i] {
				return fmt.Errorf("%s holds %d connections, want %d", nd.addr(), n, want[i])
			}
		}
		return nil
	})
}

// TestLoader_RebalancesSDKConnectionsAndSDKsKeepTheirData: four published
// v2 SDK clients connect to node A of a two-process cluster while B is
// still down (they know both; the nodes have distinct loopback IPs because
// the SDK matches a redirect by IP). smartReloadCluster, asked of B (which
// asks A), moves one to idle B as Nacos's pairing does (avg 2: A keeps
// max(2, 4*0.9) = 3); reloadCurrent on A moves one more. Every client
// keeps its registration, and its subscription: an instance added later
// reaches all four.
func TestLoader_RebalancesSDKConnectionsAndSDKsKeepTheirData(t *testing.T) {
	if l, err := net.Listen("tcp", "127.0.0.2:0"); err != nil {
		t.Skipf("127.0.0.2 is not a loopback address here (%v): the SDK needs distinct server IPs", err)
	} else {
		l.Close()
	}
	bin := testutil.BuildDistrod(t)
	a, b := &node{port: testutil.PortBlock(t)}, &node{port: testutil.PortBlock(t), ip: "127.0.0.2"}
	nodes := []*node{a, b}
	members := []string{a.addr(), b.addr()}
	a.proc = testutil.StartProcess(t, bin, a.port, clusterEnv(a.port, members))
	waitReady(t, a)
	const svc, clients = "loader.rebalance", 4
	sc := startSDKClients(t, members, clients, svc)
	b.proc = testutil.StartProcess(t, bin, b.port, append(clusterEnv(b.port, members), "NACOS_SERVER_IP=127.0.0.2"))
	waitReady(t, b)
	waitConnections(t, "every client on A", nodes, clients, 0)

	code, body, err := get(b.base() + "/nacos/v2/core/loader/cluster")
	var cl struct {
		Total, MetricsCount, Max, Min, Avg int
		Completed                          bool
	}
	if err != nil || code != 200 || json.Unmarshal([]byte(body), &cl) != nil || cl.Total != clients || cl.MetricsCount != 2 ||
		!cl.Completed || cl.Max != clients || cl.Min != 0 || cl.Avg != clients/2 {
		t.Fatalf("loader/cluster: %d %s %v", code, body, err)
	}
	if code, body, err := get(b.base() + "/nacos/v2/core/loader/smartReloadCluster"); err != nil || code != 200 || body != "Ok" {
		t.Fatalf("smartReloadCluster: %d %s %v", code, body, err)
	}
	waitConnections(t, "one client moved by smartReloadCluster", nodes, 3, 1)
	q := url.Values{"count": {"2"}, "redirectAddress": {b.addr()}}
	if code, body, err := get(a.base() + "/nacos/v2/core/loader/reloadCurrent?" + q.Encode()); err != nil || code != 200 || body != "success" {
		t.Fatalf("reloadCurrent: %d %s %v", code, body, err)
	}
	waitConnections(t, "two clients on each node", nodes, 2, 2)

	testutil.Eventually(t, 30*time.Second, "every registration listed on both nodes", func() error {
		for _, nd := range nodes {
			hs, err := hosts(nd, svc)
			if err != nil {
				return err
			}
			if len(hs) != clients {
				return fmt.Errorf("%s lists %v", nd.addr(), hs)
			}
		}
		return nil
	})
	// Subscribers of one member, then of every member (aggregation, the
	// default): the SDK clients share an IP and version, so Nacos's
	// de-duplication leaves one.
	testutil.Eventually(t, 30*time.Second, "subscribers on both nodes", func() error {
		for _, c := range []struct {
			nd   *node
			q    string
			want int
		}{{a, "&aggregation=false", clients / 2}, {b, "&aggregation=false", clients / 2}, {a, "", 1}} {
			nd, q, want := c.nd, c.q, c.want
			code, body, err := get(nd.base() + "/nacos/v1/ns/service/subscribers?serviceName=" + svc + q)
			var out struct{ Count int }
			if err != nil || code != 200 || json.Unmarshal([]byte(body), &out) != nil || out.Count != want {
				return fmt.Errorf("subscribers%s: %d %s %v, want count %d", q, code, body, err, want)
			}
		}
		return nil
	})
	if err := register(a, svc, "10.81.1.1", 80); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, "every subscriber pushed five instances", func() error {
		sc.mu.Lock()
		defer sc.mu.Unlock()
		for i := 0; i < clients; i++ {
			if sc.hosts[i] != clients+1 {
				return fmt.Errorf("client %d last saw %d instances", i, sc.hosts[i])
			}
		}
		return nil
	})
}
