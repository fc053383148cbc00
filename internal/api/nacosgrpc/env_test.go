package nacosgrpc

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/distrod/distrod/internal/hlc"
	"github.com/distrod/distrod/internal/naming"
	"github.com/distrod/distrod/internal/push"
	"github.com/nacos-group/nacos-sdk-go/v2/clients"
	"github.com/nacos-group/nacos-sdk-go/v2/clients/naming_client"
	"github.com/nacos-group/nacos-sdk-go/v2/common/constant"
	"github.com/nacos-group/nacos-sdk-go/v2/vo"
	"github.com/prometheus/client_golang/prometheus"
)

// testEnv is one node: a store, a push engine and a gRPC server on a
// loopback port.
type testEnv struct {
	t     *testing.T
	store *naming.Store
	eng   *push.Engine
	// engReg holds the engine's metrics.
	engReg *prometheus.Registry
	srv    *Server
	addr   string
	port   int
	opts   Options
	errc   chan error
}

func startEnv(t *testing.T, tweak func(*Options)) *testEnv {
	t.Helper()
	store := naming.NewStore("127.0.0.1:8848", hlc.NewClock("127.0.0.1:8848"))
	engReg := prometheus.NewRegistry()
	eng := push.New(push.Options{Store: store, Registry: engReg, Timeout: 2 * time.Second, RetryDelay: 200 * time.Millisecond})
	store.OnChange(eng.OnChange)
	if err := eng.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	e := &testEnv{t: t, store: store, eng: eng, engReg: engReg}
	e.opts = Options{Store: store, Push: eng, Registry: prometheus.NewRegistry(), Self: "127.0.0.1:8848"}
	if tweak != nil {
		tweak(&e.opts)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.addr = lis.Addr().String()
	e.port = lis.Addr().(*net.TCPAddr).Port
	e.serve(lis)
	t.Cleanup(func() {
		e.srv.Stop()
		eng.Stop()
	})
	return e
}

func (e *testEnv) serve(lis net.Listener) {
	e.t.Helper()
	o := e.opts
	o.Registry = prometheus.NewRegistry()
	srv, err := NewServer(o)
	if err != nil {
		e.t.Fatal(err)
	}
	e.srv = srv
	e.errc = make(chan error, 1)
	go func() { e.errc <- srv.Serve(lis) }()
}

// restart stops the server and serves a new one on the same port with the
// same store and engine.
func (e *testEnv) restart() {
	e.t.Helper()
	e.srv.Stop()
	<-e.errc
	var lis net.Listener
	var err error
	waitFor(e.t, 5*time.Second, "re-listen", func() bool {
		lis, err = net.Listen("tcp", e.addr)
		return err == nil
	})
	e.serve(lis)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// newSDK returns a real nacos-sdk-go v2 naming client connected to e.
func (e *testEnv) newSDK(namespace string) naming_client.INamingClient {
	e.t.Helper()
	dir := e.t.TempDir()
	httpPort := e.port - 1000
	if httpPort <= 0 {
		httpPort = 8848
	}
	cc := constant.ClientConfig{
		NamespaceId:          namespace,
		TimeoutMs:            5000,
		NotLoadCacheAtStart:  true,
		UpdateCacheWhenEmpty: true,
		CacheDir:             dir,
		LogDir:               sdkLogDir(e.t),
		LogLevel:             "error",
	}
	sc := []constant.ServerConfig{{IpAddr: "127.0.0.1", Port: uint64(httpPort), GrpcPort: uint64(e.port)}}
	c, err := clients.NewNamingClient(vo.NacosClientParam{ClientConfig: &cc, ServerConfigs: sc})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(c.CloseClient)
	return c
}

// hosts returns the enabled instances of svc as "ip:port" strings.
func (e *testEnv) hosts(svc naming.ServiceKey) []string {
	v := e.store.Service(svc, naming.Query{EnabledOnly: true})
	out := make([]string, 0, len(v.Hosts))
	for _, h := range v.Hosts {
		out = append(out, h.IP+":"+strconv.Itoa(h.Port))
	}
	return out
}

// counter returns the value of a counter in the engine's registry.
func (e *testEnv) counter(name string, labels map[string]string) float64 {
	mfs, _ := e.engReg.Gather()
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
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// sdkLogDir is a log directory that outlives every test: the SDKs' loggers
// are process-wide, keep the first directory they were given, and write
// from background goroutines after a test ends (v1 clients cannot even be
// closed).
func sdkLogDir(t *testing.T) string {
	dir := filepath.Join(os.TempDir(), "distrod-nacosgrpc-test-sdk-logs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}
