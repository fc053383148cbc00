package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	nacosv1 "github.com/nacos-group/nacos-sdk-go/clients"
	constv1 "github.com/nacos-group/nacos-sdk-go/common/constant"
	nacosv2 "github.com/nacos-group/nacos-sdk-go/v2/clients"
	constv2 "github.com/nacos-group/nacos-sdk-go/v2/common/constant"
	vov2 "github.com/nacos-group/nacos-sdk-go/v2/vo"
	vov1 "github.com/nacos-group/nacos-sdk-go/vo"

	"github.com/distrod/distrod/internal/config"
	"github.com/distrod/distrod/internal/naming"
	"github.com/distrod/distrod/internal/testutil"
	"github.com/distrod/distrod/internal/transport"
)

// testNode is an in-process node on loopback ports.
type testNode struct {
	srv  *Server
	port int
	base string
}

func (n *testNode) addr() string { return "127.0.0.1:" + strconv.Itoa(n.port) }

// clusterConfig is a cluster node's configuration with timings short
// enough for a test.
func clusterConfig(t *testing.T, port int, members []string) config.Config {
	t.Helper()
	cfg := config.DefaultLocalConfig()
	cfg.Mode = config.ModeCluster
	cfg.Port = port
	cfg.Members = members
	cfg.ClusterSecret = "test-secret"
	cfg.ProbeInterval = 100 * time.Millisecond
	cfg.ProbeTimeout = 500 * time.Millisecond
	cfg.SnapshotLoadTimeout = 3 * time.Second
	cfg.VerifyInterval = 500 * time.Millisecond
	cfg.DataDir = t.TempDir() // each node its own control plane store
	return cfg
}

// runNode runs a node until the test ends and waits for its liveness
// probe over plain HTTP.
func runNode(t *testing.T, cfg config.Config) *testNode {
	t.Helper()
	return startNode(t, cfg, "http", http.DefaultClient)
}

// startNode runs a node until the test ends and waits for its liveness
// probe over scheme with hc.
func startNode(t *testing.T, cfg config.Config, scheme string, hc *http.Client) *testNode {
	t.Helper()
	testDataDir(t, &cfg)
	if err := cfg.Normalize(); err != nil {
		t.Fatal(err)
	}
	srv, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return serveNode(t, srv, cfg.Port, scheme, hc)
}

// serveNode runs srv until the test ends and waits for its liveness probe
// over scheme with hc.
func serveNode(t *testing.T, srv *Server, port int, scheme string, hc *http.Client) *testNode {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-errc:
		case <-time.After(15 * time.Second):
			t.Error("node did not stop")
		}
	})
	n := &testNode{srv: srv, port: port, base: scheme + "://127.0.0.1:" + strconv.Itoa(port)}
	testutil.Eventually(t, 10*time.Second, "node up", func() error {
		select {
		case err := <-errc:
			errc <- err // for the cleanup
			t.Fatalf("node stopped before it came up: %v", err)
		default:
		}
		resp, err := hc.Get(n.base + "/nacos/v1/console/health/liveness")
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	})
	return n
}

func waitNodeReady(t *testing.T, n *testNode) {
	t.Helper()
	testutil.Eventually(t, 20*time.Second, n.addr()+" ready", func() error {
		if code, b := body(t, "GET", n.base+"/nacos/v1/console/health/readiness"); code != 200 {
			return fmt.Errorf("readiness %d %s", code, b)
		}
		return nil
	})
}

// startTestCluster runs n cluster nodes that know each other and waits
// until all are ready.
func startTestCluster(t *testing.T, n int) []*testNode {
	t.Helper()
	ports, members := clusterPorts(t, n)
	nodes := make([]*testNode, n)
	for i := range nodes {
		nodes[i] = runNode(t, clusterConfig(t, ports[i], members))
	}
	for _, nd := range nodes {
		waitNodeReady(t, nd)
	}
	return nodes
}

// clusterPorts picks n free port blocks on loopback and returns them with
// the member list they make.
func clusterPorts(t *testing.T, n int) ([]int, []string) {
	t.Helper()
	ports := make([]int, n)
	members := make([]string, n)
	for i := range ports {
		ports[i] = testutil.PortBlock(t)
		members[i] = "127.0.0.1:" + strconv.Itoa(ports[i])
	}
	return ports, members
}

// sdkDir holds the SDKs' logs and caches. It outlives every test: the
// SDKs' loggers are process-wide and v1 clients cannot be closed, so they
// may write after a test ended.
func sdkDir(t *testing.T) string {
	dir := filepath.Join(os.TempDir(), "distrod-server-test-sdk")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// counterValue sums the series of a counter in reg that match labels.
func counterValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue next
				}
			}
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

// TestForward_SDKv1ReadsItsWritesThroughAnyNode is read-your-writes with
// the published Go v1 client pointed at one node of a three-node cluster:
// right after RegisterInstance returns, GetService and GetAllServicesInfo
// on that node show the instance, and right after DeregisterInstance they
// do not, 50 times, whichever node owns the instance.
func TestForward_SDKv1ReadsItsWritesThroughAnyNode(t *testing.T) {
	nodes := startTestCluster(t, 3)
	b := nodes[1]
	dir := sdkDir(t)
	cli, err := nacosv1.NewNamingClient(vov1.NacosClientParam{
		ClientConfig: &constv1.ClientConfig{TimeoutMs: 3000, CacheDir: dir, LogDir: dir, LogLevel: "error",
			NotLoadCacheAtStart: true, UpdateThreadNum: 1},
		ServerConfigs: []constv1.ServerConfig{{Scheme: "http", IpAddr: "127.0.0.1", Port: uint64(b.port), ContextPath: "/nacos"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	listed := func(svc string) bool {
		all, err := cli.GetAllServicesInfo(vov1.GetAllServiceInfoParam{PageNo: 1, PageSize: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range all.Doms {
			if d == svc {
				return true
			}
		}
		return false
	}
	forwarded := 0
	start := time.Now()
	for i := 0; i < 50; i++ {
		svc := fmt.Sprintf("ryw.%d", i)
		ip := fmt.Sprintf("10.77.%d.%d", i/200, i%200+1)
		if _, local := b.srv.cluster.Route(ip + ":8080"); !local {
			forwarded++
		}
		ok, err := cli.RegisterInstance(vov1.RegisterInstanceParam{Ip: ip, Port: 8080, ServiceName: svc, Weight: 1, Enable: true, Healthy: true, Ephemeral: true})
		if err != nil || !ok {
			t.Fatalf("register %s: %v %v", svc, ok, err)
		}
		s, err := cli.GetService(vov1.GetServiceParam{ServiceName: svc})
		if err != nil || len(s.Hosts) != 1 || s.Hosts[0].Ip != ip {
			t.Fatalf("GetService right after registering %s:8080 in %s through %s: %+v %v", ip, svc, b.addr(), s.Hosts, err)
		}
		if !listed(svc) {
			t.Fatalf("GetAllServicesInfo right after registering in %s does not list it", svc)
		}
		// The client sends its first beat at once from another goroutine,
		// and a full beat re-creates a missing instance (as in Nacos): let
		// it land before deregistering, or it may undo the deregistration.
		testutil.Eventually(t, 10*time.Second, "first beat of "+svc, func() error {
			if n := counterValue(t, b.srv.reg, "distrod_http_requests_total", map[string]string{"api": "v1_instance_beat"}); n < float64(i+1) {
				return fmt.Errorf("%v beats", n)
			}
			return nil
		})
		ok, err = cli.DeregisterInstance(vov1.DeregisterInstanceParam{Ip: ip, Port: 8080, ServiceName: svc, Ephemeral: true})
		if err != nil || !ok {
			t.Fatalf("deregister %s: %v %v", svc, ok, err)
		}
		if listed(svc) {
			t.Fatalf("GetAllServicesInfo right after deregistering the only instance of %s still lists it", svc)
		}
		// A cluster filter the client has not cached makes it ask the node.
		s, err = cli.GetService(vov1.GetServiceParam{ServiceName: svc, Clusters: []string{"DEFAULT"}})
		if err == nil && len(s.Hosts) != 0 {
			t.Fatalf("GetService right after deregistering %s:8080 from %s: %+v", ip, svc, s.Hosts)
		}
	}
	if forwarded == 0 {
		t.Fatal("no write was forwarded: the test proves nothing")
	}
	if n := counterValue(t, b.srv.reg, "distrod_forwarded_writes_total", map[string]string{"role": "entry", "result": "ok"}); n < float64(2*forwarded) {
		t.Fatalf("forwarded-writes counter %v, want at least %d", n, 2*forwarded)
	}
	t.Logf("50 register/read/deregister/read rounds, %d of them through another owner, in %v", forwarded, time.Since(start).Round(time.Millisecond))
}

// TestForward_ExpiredWriteIsRefusedByTheOwner sends a write whose deadline
// has passed straight to an owner's transport, as a kernel delivering old
// bytes after a partition heals would: the owner must refuse it and not
// apply it.
func TestForward_ExpiredWriteIsRefusedByTheOwner(t *testing.T) {
	nodes := startTestCluster(t, 2)
	a, b := nodes[0], nodes[1]
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := transport.ForwardRequest{Method: "POST", RequestURI: "/nacos/v1/ns/instance?serviceName=late&ip=10.78.0.1&port=1",
		Header: http.Header{}, RemoteAddr: "10.78.0.1:5000", Entry: a.addr()}
	req.DeadlineMs = time.Now().Add(-time.Second).UnixMilli()
	if _, err := a.srv.cluster.tr.(ownerCaller).Forward(ctx, b.addr(), req); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("late write: %v", err)
	}
	if v := b.srv.store.Service(naming.NewServiceKey("", "", "late"), naming.Query{}); v.Exists {
		t.Fatal("the owner applied an expired write")
	}
	if n := counterValue(t, b.srv.reg, "distrod_forwarded_writes_total", map[string]string{"role": "owner", "result": "expired"}); n != 1 {
		t.Fatalf("owner's expired counter = %v, want 1", n)
	}
	req.DeadlineMs = time.Now().Add(5 * time.Second).UnixMilli()
	resp, err := a.srv.cluster.tr.(ownerCaller).Forward(ctx, b.addr(), req)
	if err != nil || resp.Status != 200 || string(resp.Body) != "ok" || len(resp.Records) != 1 {
		t.Fatalf("timely write: %+v %v", resp, err)
	}
}

// TestSDKv2_ConnectsToTheReadyServerOnly gives the published Go v2 client
// two servers, one of which never finishes its startup load: every client
// ends up on the ready one and works.
func TestSDKv2_ConnectsToTheReadyServerOnly(t *testing.T) {
	// The SDK retries a "starting" server for this long before moving on.
	t.Setenv("nacos.remote.client.grpc.timeout", "1000")
	peer := silentPeer(t) // a member that never answers
	port := testutil.PortBlock(t)
	cfg := clusterConfig(t, port, []string{"127.0.0.1:" + strconv.Itoa(port), "127.0.0.1:" + strconv.Itoa(peer)})
	cfg.SnapshotLoadTimeout = 10 * time.Minute
	cfg.SnapshotLoadMax = 10 * time.Minute
	starting := runNode(t, cfg)
	scfg := config.DefaultLocalConfig()
	scfg.Port = testutil.PortBlock(t)
	ready := runNode(t, scfg)
	if code, _ := body(t, "GET", starting.base+"/nacos/v1/ns/instance/list?serviceName=x"); code != http.StatusServiceUnavailable {
		t.Fatalf("reads on a node that is loading: %d, want 503", code)
	}
	dir := sdkDir(t)
	for i := 0; i < 3; i++ {
		cli, err := nacosv2.NewNamingClient(vov2.NacosClientParam{
			ClientConfig: constv2.NewClientConfig(constv2.WithTimeoutMs(5000), constv2.WithNotLoadCacheAtStart(true),
				constv2.WithUpdateCacheWhenEmpty(true), constv2.WithCacheDir(dir), constv2.WithLogDir(dir), constv2.WithLogLevel("error")),
			ServerConfigs: []constv2.ServerConfig{
				*constv2.NewServerConfig("127.0.0.1", uint64(starting.port)),
				*constv2.NewServerConfig("127.0.0.1", uint64(ready.port)),
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		svc := fmt.Sprintf("two.servers.%d", i)
		ok, err := cli.RegisterInstance(vov2.RegisterInstanceParam{Ip: "10.79.0.1", Port: 80, ServiceName: svc, Weight: 1, Enable: true, Healthy: true, Ephemeral: true})
		if err != nil || !ok {
			t.Fatalf("client %d register: %v %v", i, ok, err)
		}
		k := naming.NewServiceKey("", "", svc)
		if !ready.srv.store.Service(k, naming.Query{}).Exists || starting.srv.store.Service(k, naming.Query{}).Exists {
			t.Fatalf("client %d registered on the wrong server", i)
		}
		s, err := cli.GetService(vov2.GetServiceParam{ServiceName: svc})
		if err != nil || len(s.Hosts) != 1 {
			t.Fatalf("client %d GetService: %+v %v", i, s.Hosts, err)
		}
		cli.CloseClient()
	}
	if starting.srv.grpc.Connections() != 0 || starting.srv.ready() {
		t.Fatalf("the loading node took %d connections (ready=%v)", starting.srv.grpc.Connections(), starting.srv.ready())
	}
	t.Logf("refused server checks on the loading node: %v",
		counterValue(t, starting.srv.reg, "distrod_grpc_requests_total", map[string]string{"type": "ServerCheckRequest", "code": "300"}))
}

// silentPeer returns the HTTP port of a member whose cluster port accepts
// connections and never says a word: probes of it time out, so a node
// loading from it waits the load timeout. (A closed port would refuse the
// connection, and the load gives a member that refuses up at once.)
func silentPeer(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held []net.Conn // kept referenced: open until the test ends
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				for _, c := range held {
					_ = c.Close()
				}
				return
			}
			held = append(held, c)
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); <-done })
	return ln.Addr().(*net.TCPAddr).Port - config.DefaultConfig().ClusterPortOffset
}
