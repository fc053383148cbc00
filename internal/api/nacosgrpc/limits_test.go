package nacosgrpc

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/distrod/distrod/internal/hlc"
	"github.com/distrod/distrod/internal/nacospb"
	"github.com/distrod/distrod/internal/naming"
	"github.com/distrod/distrod/internal/push"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// TestServer_RefusesWhatHTTPRefuses: names carrying
// key separators, bad IPs and oversize metadata get ErrorResponse 400 with
// a message that says why, as their HTTP equivalents get 400.
func TestServer_RefusesWhatHTTPRefuses(t *testing.T) {
	e := startEnv(t, nil)
	r := dialRaw(t, e.addr)
	r.setup()
	r.waitRegistered()
	reg := func(ns, svc, group, inst string) string {
		return `{"namespace":"` + ns + `","serviceName":"` + svc + `","groupName":"` + group + `","type":"registerInstance","instance":` + inst + `}`
	}
	good := `{"ip":"10.0.0.1","port":1,"ephemeral":true}`
	for _, c := range []struct{ body, msg string }{
		{reg("a##b", "s", "G", good), "Param 'namespaceId/tenant' is illegal"},
		{reg("public", "s|t", "G", good), "Param 'serviceName' is illegal"},
		{reg("public", "s", "G@@H", good), "Param 'group' is illegal"},
		{reg("public", "s", "G", `{"ip":"10.0.0.1|x","port":1,"ephemeral":true}`), "Param 'ip' is illegal"},
		{reg("public", "s", "G", `{"ip":"256.0.0.1","port":1,"ephemeral":true}`), "Param 'ip' is illegal"},
		{reg("public", strings.Repeat("s", 513), "G", good), "should not exceed 512"},
		{reg("public", "s", "G", `{"ip":"10.0.0.1","port":1,"ephemeral":true,"metadata":{"k":"`+strings.Repeat("v", 70<<10)+`"}}`), "Param 'Metadata"},
	} {
		typ := typeInstanceRequest
		if strings.Contains(c.body, "batchRegisterInstance") {
			typ = typeBatchInstanceRequest
		}
		m := r.mustCall(typ, c.body, typeErrorResponse, CodeInvalidParam)
		if msg, _ := m["message"].(string); !strings.Contains(msg, c.msg) {
			t.Errorf("%.80s: message %q, want %q", c.body, msg, c.msg)
		}
	}
	if n := e.store.Stats().Instances; n != 0 {
		t.Fatalf("%d instances stored from refused requests", n)
	}
}

// TestServer_ClosesConnectionsThatNeverSetUp: a transport that never sends
// ConnectionSetupRequest is closed after SetupTimeout; one that did stays.
func TestServer_ClosesConnectionsThatNeverSetUp(t *testing.T) {
	e := startEnv(t, func(o *Options) { o.SetupTimeout = 200 * time.Millisecond })
	good := dialRaw(t, e.addr)
	good.setup()
	good.waitRegistered()
	idle := dialRaw(t, e.addr)
	idle.mustCall(typeServerCheckRequest, `{}`, typeServerCheckResponse, 200)
	waitFor(t, 10*time.Second, "idle transport closed", func() bool {
		return testutil.ToFloat64(e.srv.m.closed.WithLabelValues("setup_timeout")) >= 1
	})
	// The set-up connection's timer fired before the idle one's: it is
	// still registered and serving.
	if e.srv.Connections() != 1 {
		t.Fatalf("%d registered connections, want 1", e.srv.Connections())
	}
	good.mustCall(typeHealthCheckRequest, `{}`, typeHealthCheckResponse, 200)
	e.srv.mu.Lock()
	raw := len(e.srv.raw)
	e.srv.mu.Unlock()
	if raw > 2 { // the good one, and perhaps the idle client's reconnection
		t.Fatalf("%d transports open", raw)
	}
}

// TestServer_CapsTransportsPerIP: a host past MaxConnectionsPerIP gets its
// new transports closed at once; others keep working.
func TestServer_CapsTransportsPerIP(t *testing.T) {
	e := startEnv(t, func(o *Options) { o.MaxConnectionsPerIP = 2 })
	a, b := dialRaw(t, e.addr), dialRaw(t, e.addr)
	for _, r := range []*rawClient{a, b} {
		r.setup()
		r.waitRegistered()
	}
	c := dialRaw(t, e.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	_, err := nacospb.Invoke(ctx, c.cc, &nacospb.Payload{Type: typeServerCheckRequest, Body: []byte(`{}`)})
	cancel()
	if err == nil {
		t.Fatal("third transport from one IP was served")
	}
	if testutil.ToFloat64(e.srv.m.closed.WithLabelValues("per_ip_limit")) < 1 {
		t.Fatal("refusal not counted")
	}
	a.close()
	waitFor(t, 10*time.Second, "a freed slot is usable", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := nacospb.Invoke(ctx, c.cc, &nacospb.Payload{Type: typeServerCheckRequest, Body: []byte(`{}`)})
		return err == nil
	})
}

// TestServer_CapsConcurrentStreams: calls that are opened and never
// finished hold at most MaxStreams streams of a connection.
func TestServer_CapsConcurrentStreams(t *testing.T) {
	e := startEnv(t, func(o *Options) { o.MaxStreams = 2 })
	r := dialRaw(t, e.addr)
	r.mustCall(typeServerCheckRequest, `{}`, typeServerCheckResponse, 200)
	desc := &grpc.StreamDesc{}
	var cancels []context.CancelFunc
	for i := 0; i < 2; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		cancels = append(cancels, cancel)
		if _, err := r.cc.NewStream(ctx, desc, nacospb.MethodRequest); err != nil {
			t.Fatal(err)
		}
	}
	defer func() {
		for _, c := range cancels {
			c()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	_, err := nacospb.Invoke(ctx, r.cc, &nacospb.Payload{Type: typeServerCheckRequest, Body: []byte(`{}`)})
	cancel()
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("third concurrent call: %v, want it to wait for a free stream", err)
	}
	cancels[0]()
	waitFor(t, 10*time.Second, "a finished stream frees a slot", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := nacospb.Invoke(ctx, r.cc, &nacospb.Payload{Type: typeServerCheckRequest, Body: []byte(`{}`)})
		return err == nil
	})
}

// TestServer_ClosesSlowConsumers: a subscriber that never reads its
// stream cannot make the server queue pushes without bound; it is closed
// once MaxPushBytesPerConn is queued, and the queued bytes are given back.
func TestServer_ClosesSlowConsumers(t *testing.T) {
	store := naming.NewStore("127.0.0.1:8848", hlc.NewClock("127.0.0.1:8848"))
	eng := push.New(push.Options{Store: store, Timeout: 200 * time.Millisecond, RetryDelay: 20 * time.Millisecond})
	store.OnChange(eng.OnChange)
	if err := eng.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer eng.Stop()
	const limit = 600 << 10
	srv, err := NewServer(Options{Store: store, Push: eng, Registry: prometheus.NewRegistry(), MaxPushBytesPerConn: limit})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	defer srv.Stop()
	// A small, fixed flow-control window: the client stops accepting data
	// after 64 KiB that nobody reads.
	cc, err := grpc.NewClient("passthrough:///"+lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		nacospb.DialOption(), grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
	if err != nil {
		t.Fatal(err)
	}
	r := &rawClient{t: t, cc: cc}
	t.Cleanup(r.close)
	r.setup()
	r.waitRegistered()
	r.mustCall(typeSubscribeServiceRequest, `{"namespace":"public","serviceName":"big","groupName":"DEFAULT_GROUP","subscribe":true,"clusters":""}`,
		typeSubscribeServiceResponse, 200)
	// About 250 KB per push.
	var ins []naming.Instance
	for i := 0; i < 100; i++ {
		ins = append(ins, naming.Instance{IP: fmt.Sprintf("10.0.%d.%d", i/250, i%250+1), Port: 80, Weight: 1, Healthy: true, Enabled: true,
			Ephemeral: true, Metadata: map[string]string{"pad": fmt.Sprint(i, strings.Repeat("x", 2400))}})
	}
	if err := store.Publish(1, "publisher", naming.NewServiceKey("", "", "big"), naming.Publication{Batch: true, Instances: ins}); err != nil {
		t.Fatal(err)
	}
	var peak int64
	waitFor(t, 20*time.Second, "slow consumer closed", func() bool {
		peak = max(peak, srv.QueuedPushBytes())
		return testutil.ToFloat64(srv.m.closed.WithLabelValues("slow_consumer")) >= 1
	})
	if peak > limit {
		t.Fatalf("%d push bytes queued, limit %d", peak, limit)
	}
	waitFor(t, 10*time.Second, "connection unregistered and its bytes given back", func() bool {
		return srv.Connections() == 0 && srv.QueuedPushBytes() == 0
	})
}

func TestServer_CapsAnswerSize(t *testing.T) {
	e := startEnv(t, func(o *Options) { o.MaxAnswerBytes = 400 })
	r := dialRaw(t, e.addr)
	r.setup()
	r.waitRegistered()
	query := `{"namespace":"public","serviceName":"raw","groupName":"DEFAULT_GROUP","cluster":"","healthyOnly":false}`
	r.mustCall(typeServiceQueryRequest, query, typeQueryServiceResponse, 200)
	r.mustCall(typeInstanceRequest, instanceBody, typeInstanceResponse, 200)
	if err := e.store.Publish(1, "other", naming.NewServiceKey("", "", "raw"), naming.Publication{Batch: true, Instances: []naming.Instance{
		{IP: "10.9.0.3", Port: 1, Weight: 1, Healthy: true, Enabled: true, Ephemeral: true},
		{IP: "10.9.0.4", Port: 1, Weight: 1, Healthy: true, Enabled: true, Ephemeral: true}}}); err != nil {
		t.Fatal(err)
	}
	m := r.mustCall(typeServiceQueryRequest, query, typeErrorResponse, CodeServerError)
	if msg, _ := m["message"].(string); !strings.Contains(msg, "max-list-answer-bytes") {
		t.Fatalf("message %q", msg)
	}
}
