package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/distrod/distrod/internal/config"
	"github.com/distrod/distrod/internal/distro"
	"github.com/distrod/distrod/internal/replica"
	"github.com/distrod/distrod/internal/testutil"
	"github.com/distrod/distrod/internal/transport"
	pb "github.com/distrod/distrod/internal/transport/clusterpb"
)

const testSecret = "0123456789abcdef0123456789abcdef"

func addr(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

// secureClusterConfig is a cluster node on loopback with the given peers, quick
// to become ready when the peers send no snapshot.
func secureClusterConfig(t *testing.T, port int, peers ...int) config.Config {
	t.Helper()
	cfg := config.DefaultLocalConfig()
	cfg.Mode, cfg.Port, cfg.ClusterSecret = config.ModeCluster, port, testSecret
	cfg.SnapshotLoadTimeout = 300 * time.Millisecond
	cfg.ClusterListenIP = "127.0.0.1"
	cfg.Members = []string{addr(port)}
	for _, p := range peers {
		cfg.Members = append(cfg.Members, addr(p))
	}
	return cfg
}

// metric returns the value of one sample line of /metrics, or -1.
func metric(t *testing.T, base, sample string) float64 {
	t.Helper()
	_, b := body(t, "GET", base+"/metrics")
	m := regexp.MustCompile("(?m)^" + regexp.QuoteMeta(sample) + ` (\S+)$`).FindStringSubmatch(b)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// recorder collects the records a fake peer receives.
type recorder struct {
	mu   sync.Mutex
	recs []distro.Record
}

func (r *recorder) handle(_ string, m distro.Message) {
	if b, ok := m.(*distro.SyncBatch); ok {
		r.mu.Lock()
		r.recs = append(r.recs, b.Records...)
		r.mu.Unlock()
	}
}

func (r *recorder) find(key string, ok func(distro.Record) bool) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range r.recs {
		if rec.Key == key && ok(rec) {
			return true
		}
	}
	return false
}

func TestServer_FutureVersionsFromAnAuthenticatedPeerAreRefused(t *testing.T) {
	port, fakePort := testutil.PortBlock(t), testutil.PortBlock(t)
	self, fake := addr(port), addr(fakePort)
	// The fake peer is a real transport that knows the secret: an
	// authenticated member with a broken (or hostile) clock.
	var got recorder
	peer := transport.New(transport.Options{Self: fake, Secret: testSecret}, func(_ context.Context, from string, m distro.Message) { got.handle(from, m) }, func(string, distro.Message) {})
	peer.SetMembers([]string{self, fake})
	lis, err := net.Listen("tcp", addr(fakePort+1001))
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = peer.Serve(lis) }()
	t.Cleanup(peer.Close)

	srv, base, _ := startServer(t, secureClusterConfig(t, port, fakePort), slog.New(slog.DiscardHandler))
	testutil.Eventually(t, 10*time.Second, "node ready", func() error {
		if code, _ := body(t, "GET", base+"/nacos/v1/console/health/readiness"); code != 200 {
			return fmt.Errorf("readiness %d", code)
		}
		return nil
	})
	// An instance this node owns, so that it registers and deletes it here.
	ring := distro.NewRing([]string{self, fake})
	ip, ipPort := "10.0.0.1", 0
	for p := 1; ipPort == 0; p++ {
		if ring.Owner(ip+":"+strconv.Itoa(p)) == self {
			ipPort = p
		}
	}
	q := "?serviceName=demo&ip=" + ip + "&port=" + strconv.Itoa(ipPort)
	if code, b := body(t, "POST", base+"/nacos/v1/ns/instance"+q); code != 200 {
		t.Fatalf("register: %d %s", code, b)
	}
	var key string
	for _, m := range srv.store.Metas() {
		if m.Tag == ip+":"+strconv.Itoa(ipPort) {
			key = m.Key
		}
	}
	orig, ok := srv.store.Get(key)
	if !ok {
		t.Fatalf("no record for the instance (key %q)", key)
	}

	hour := uint64(time.Now().Add(time.Hour).UnixMilli()) << 16
	for i, clock := range []uint64{^uint64(0), hour} {
		r := replica.ToDistro(orig)
		r.Version.Clock = clock
		peer.Send(self, &distro.SyncBatch{Seq: uint64(i + 1), Records: []distro.Record{r}})
	}
	testutil.Eventually(t, 10*time.Second, "both records refused", func() error {
		if v := metric(t, base, "distrod_distro_records_future_refused_total"); v != 2 {
			return fmt.Errorf("refused %v", v)
		}
		return nil
	})
	if now, _ := srv.store.Get(key); now.Version != orig.Version {
		t.Fatalf("a future record was applied: version %v, was %v", now.Version, orig.Version)
	}

	// The node's clock did not move: its delete is stamped now, is newer
	// than the record, and reaches the peer.
	if code, b := body(t, "DELETE", base+"/nacos/v1/ns/instance"+q); code != 200 {
		t.Fatalf("deregister: %d %s", code, b)
	}
	del, _ := srv.store.Get(key)
	if !del.Tombstone || !del.Version.Newer(orig.Version) || del.Version.Millis() > time.Now().Add(time.Minute).UnixMilli() {
		t.Fatalf("delete stamped %v (tombstone %v), record was %v", del.Version, del.Tombstone, orig.Version)
	}
	testutil.Eventually(t, 10*time.Second, "delete replicated", func() error {
		if !got.find(key, func(r distro.Record) bool { return r.Tombstone && r.Version == del.Version }) {
			return errors.New("peer has not received the delete")
		}
		return nil
	})
}

func TestServer_InsecureClusterMessagesDoNotMarkADeadMemberUp(t *testing.T) {
	port, deadPort := testutil.PortBlock(t), testutil.PortBlock(t)
	cfg := secureClusterConfig(t, port, deadPort)
	cfg.ClusterSecret, cfg.ClusterInsecure = "", true
	cfg.ProbeInterval = time.Minute // the first probe marks it DOWN; no second one during the test
	srv, base, _ := startServer(t, cfg, slog.New(slog.DiscardHandler))
	dead := addr(deadPort)
	state := func() string {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		st, err := srv.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range st.Members {
			if m.Address == dead {
				return m.State
			}
		}
		return "absent"
	}
	testutil.Eventually(t, 10*time.Second, "dead member DOWN", func() error {
		if s := state(); s != "DOWN" {
			return errors.New(s)
		}
		return nil
	})
	// Without a secret anyone can connect and claim to be the dead member.
	conn, err := grpc.NewClient(addr(port+1001), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stream, err := pb.NewClusterClient(conn).Stream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const n = 20
	for i := range n {
		env, _ := transport.Encode(dead, &distro.SyncAck{Seq: uint64(i + 1)})
		if err := stream.Send(env); err != nil {
			t.Fatal(err)
		}
	}
	// The stream ends after the server handed every message to the loop,
	// and Status is answered by the loop after them.
	if sum, err := stream.CloseAndRecv(); err != nil || sum.GetReceived() != n {
		t.Fatalf("stream: %v %v", sum, err)
	}
	if s := state(); s != "DOWN" {
		t.Fatalf("dead member is %s after unauthenticated messages in its name", s)
	}
	if v := metric(t, base, `distrod_distro_received_messages_total{type="SyncAck"}`); v != n {
		t.Fatalf("received %v acks, want %d", v, n)
	}
}

func TestServer_ClusterWithoutSecretDoesNotStart(t *testing.T) {
	cfg := secureClusterConfig(t, testutil.PortBlock(t))
	cfg.ClusterSecret = ""
	_ = cfg.Normalize()
	_, err := New(cfg, slog.New(slog.DiscardHandler))
	if !errors.Is(err, config.ErrClusterSecret) || !strings.Contains(err.Error(), "DISTROD_CLUSTER_SECRET") {
		t.Fatalf("New = %v, want ErrClusterSecret naming DISTROD_CLUSTER_SECRET", err)
	}
}

func TestServer_StandaloneHasNoClusterPort(t *testing.T) {
	base, _ := startStandalone(t)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(base, "http://"))
	p, _ := strconv.Atoi(port)
	if c, err := net.Dial("tcp", addr(p+1001)); err == nil {
		c.Close()
		t.Fatal("a standalone node listens on the cluster port")
	}
}

func TestServer_StatusAndDebugAccessRules(t *testing.T) {
	cfg := config.DefaultLocalConfig()
	cfg.Port = testutil.PortBlock(t)
	cfg.ClusterSecret, cfg.StatusAccess, cfg.Pprof = testSecret, config.AccessToken, true
	srv, base, _ := startServer(t, cfg, slog.New(slog.DiscardHandler))
	get := func(path, token string) int {
		req, _ := http.NewRequest("GET", base+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, c := range []struct {
		path, token string
		want        int
	}{
		{"/distrod/status", "", 403},
		{"/distrod/status", "wrong", 403},
		{"/distrod/status", testSecret, 200},
		{"/debug/pprof/", "", 200}, // debug-access local: this test calls from loopback
		{"/debug/pprof/cmdline", testSecret, 404},
		{"/metrics", "", 200},
		{"/nacos/v1/console/health/liveness", "", 200},
	} {
		if got := get(c.path, c.token); got != c.want {
			t.Errorf("GET %s (token %q) = %d, want %d", c.path, c.token, got, c.want)
		}
	}
	// Remote callers: only the token (or the admin hook) lets them in.
	remote := func(h string) *http.Request {
		r := httptest.NewRequest("GET", "/debug/pprof/", nil)
		r.RemoteAddr = "10.1.2.3:4567"
		if h != "" {
			r.Header.Set("Authorization", h)
		}
		return r
	}
	if srv.admitted(config.AccessLocal, remote("")) || !srv.admitted(config.AccessLocal, remote("Bearer "+testSecret)) {
		t.Error("local rule: remote caller admitted without the token, or refused with it")
	}
	srv.AllowAdmin(func(r *http.Request) bool { return r.Header.Get("Authorization") == "Bearer admin-token" })
	if !srv.admitted(config.AccessToken, remote("Bearer admin-token")) {
		t.Error("the admin hook does not admit")
	}
	if get("/distrod/status", "admin-token") != 200 {
		t.Error("the admin hook does not apply to /distrod/status")
	}
}
