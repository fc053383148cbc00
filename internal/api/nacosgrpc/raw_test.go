package nacosgrpc

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distrod/distrod/internal/nacospb"
	"github.com/distrod/distrod/internal/naming"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// rawClient speaks the protocol by hand, to do what the SDK never does.
type rawClient struct {
	t      *testing.T
	cc     *grpc.ClientConn
	st     nacospb.ClientBiStream
	cancel context.CancelFunc
}

func dialRaw(t *testing.T, addr string) *rawClient {
	t.Helper()
	cc, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()), nacospb.DialOption())
	if err != nil {
		t.Fatal(err)
	}
	r := &rawClient{t: t, cc: cc}
	t.Cleanup(r.close)
	return r
}

func (r *rawClient) close() {
	if r.cancel != nil {
		r.cancel()
	}
	r.cc.Close()
}

// setup opens the bi-stream and sends ConnectionSetupRequest.
func (r *rawClient) setup() {
	r.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	st, err := nacospb.OpenBiStream(ctx, r.cc)
	if err != nil {
		r.t.Fatal(err)
	}
	r.st = st
	r.send(typeConnectionSetupRequest, `{"requestId":"","module":"internal","clientVersion":"Nacos-Go-Client:v2.2.7","tenant":"","labels":{"module":"naming","source":"sdk"},"clientAbilities":{}}`)
}

func (r *rawClient) send(typ, body string) {
	r.t.Helper()
	if err := r.st.Send(&nacospb.Payload{Type: typ, Body: []byte(body)}); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rawClient) call(typ, body string) (*nacospb.Payload, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return nacospb.Invoke(ctx, r.cc, &nacospb.Payload{Type: typ, Headers: map[string]string{}, Body: []byte(body)})
}

// mustCall calls and checks the response type and resultCode.
func (r *rawClient) mustCall(typ, body, wantType string, wantCode int) map[string]any {
	r.t.Helper()
	out, err := r.call(typ, body)
	if err != nil {
		r.t.Fatalf("%s: %v", typ, err)
	}
	var m map[string]any
	if err := json.Unmarshal(out.Body, &m); err != nil {
		r.t.Fatalf("%s: response body %q: %v", typ, out.Body, err)
	}
	if out.Type != wantType || int(m["resultCode"].(float64)) != wantCode {
		r.t.Fatalf("%s %s: got %s %s, want %s %d", typ, body, out.Type, out.Body, wantType, wantCode)
	}
	if wantType == typeErrorResponse && (int(m["errorCode"].(float64)) != wantCode || m["success"] != false) {
		r.t.Fatalf("%s: bad ErrorResponse %s", typ, out.Body)
	}
	return m
}

// waitRegistered polls until the connection's requests are accepted.
func (r *rawClient) waitRegistered() {
	r.t.Helper()
	waitFor(r.t, 5*time.Second, "connection registered", func() bool {
		out, err := r.call(typeHealthCheckRequest, `{"requestId":"","module":"internal"}`)
		return err == nil && out.Type == typeHealthCheckResponse
	})
}

const instanceBody = `{"requestId":"","namespace":"public","serviceName":"raw","groupName":"DEFAULT_GROUP","module":"naming","type":"registerInstance","instance":{"instanceId":"","ip":"10.9.0.1","port":80,"weight":1,"healthy":true,"enabled":true,"ephemeral":true,"clusterName":"","serviceName":"","metadata":{},"instanceHeartBeatInterval":0,"ipDeleteTimeout":0,"instanceHeartBeatTimeOut":0}}`

func TestServer_ServerCheckBeforeRegistrationAndUnregistered301(t *testing.T) {
	e := startEnv(t, nil)
	r := dialRaw(t, e.addr)
	m := r.mustCall(typeServerCheckRequest, `{"requestId":"","module":"internal"}`, typeServerCheckResponse, 200)
	if id, _ := m["connectionId"].(string); !regexp.MustCompile(`^\d+_127\.0\.0\.1_\d+$`).MatchString(id) || m["success"] != true {
		t.Fatalf("ServerCheckResponse = %v", m)
	}
	r.mustCall(typeHealthCheckRequest, `{"requestId":"","module":"internal"}`, typeErrorResponse, CodeUnregistered)
	r.mustCall(typeInstanceRequest, instanceBody, typeErrorResponse, CodeUnregistered)
	r.setup()
	r.waitRegistered()
	m = r.mustCall(typeInstanceRequest, instanceBody, typeInstanceResponse, 200)
	if m["type"] != "registerInstance" || m["success"] != true {
		t.Fatalf("InstanceResponse = %v", m)
	}
}

func TestServer_MalformedPayloadsGetErrorResponsesAndServerStaysHealthy(t *testing.T) {
	e := startEnv(t, func(o *Options) { o.MaxMessageBytes = 64 << 10 })
	r := dialRaw(t, e.addr)
	r.setup()
	r.waitRegistered()
	cases := []struct {
		typ, body string
		code      int
	}{
		{"NoSuchRequest", `{}`, CodeNoHandler},
		{typeInstanceRequest, `{`, CodeBadGateway},
		{typeInstanceRequest, `[]`, CodeBadGateway},
		{typeInstanceRequest, ``, CodeBadGateway},
		{typeInstanceRequest, `{"namespace":1}`, CodeBadGateway},
		{typeInstanceRequest, `{"instance":{"port":"80"}}`, CodeBadGateway},
		{typeServiceListRequest, `{"pageNo":"1"}`, CodeBadGateway},
		{"DistroDataRequest", `{}`, CodeBadGateway},
		{typeInstanceResponse, `{}`, CodeBadGateway},
		{typeInstanceRequest, `{"serviceName":"","type":"registerInstance","instance":{"ip":"1.1.1.1","port":1,"ephemeral":true}}`, CodeInvalidParam},
		{typeInstanceRequest, `{"serviceName":"s","type":"bogus","instance":{"ip":"1.1.1.1","port":1,"ephemeral":true}}`, CodeInvalidParam},
		{typeInstanceRequest, `{"serviceName":"s","type":"registerInstance","instance":{"ip":"","port":1,"ephemeral":true}}`, CodeInvalidParam},
		{typeInstanceRequest, `{"serviceName":"s","type":"registerInstance","instance":{"ip":"1.1.1.1","port":1,"weight":-1,"ephemeral":true}}`, CodeInvalidParam},
		{typeInstanceRequest, `{"serviceName":"s","type":"registerInstance","instance":{"ip":"1.1.1.1","port":1,"clusterName":"a b","ephemeral":true}}`, CodeInvalidParam},
		{typeBatchInstanceRequest, `{"serviceName":"s","type":"registerInstance","instances":[]}`, CodeInvalidParam},
	}
	for _, c := range cases {
		r.mustCall(c.typ, c.body, typeErrorResponse, c.code)
	}
	// A message over the limit is refused by gRPC itself.
	_, err := r.call(typeInstanceRequest, `{"x":"`+strings.Repeat("a", 100<<10)+`"}`)
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("oversize message: %v, want ResourceExhausted", err)
	}
	// Still healthy: the same connection and a new one work.
	r.mustCall(typeHealthCheckRequest, `{"requestId":"","module":"internal"}`, typeHealthCheckResponse, 200)
	r.mustCall(typeInstanceRequest, instanceBody, typeInstanceResponse, 200)
	r2 := dialRaw(t, e.addr)
	r2.setup()
	r2.waitRegistered()
	m := r2.mustCall(typeServiceQueryRequest, `{"namespace":"public","serviceName":"raw","groupName":"DEFAULT_GROUP","cluster":"","healthyOnly":false}`, typeQueryServiceResponse, 200)
	si := m["serviceInfo"].(map[string]any)
	if si["name"] != "raw" || len(si["hosts"].([]any)) != 1 {
		t.Fatalf("query after malformed traffic: %v", si)
	}
}

func TestServer_RefusesSetupBeyondMaxConnections(t *testing.T) {
	e := startEnv(t, func(o *Options) { o.MaxConnections = 1 })
	a := dialRaw(t, e.addr)
	a.setup()
	a.waitRegistered()
	b := dialRaw(t, e.addr)
	b.setup()
	if _, err := b.st.Recv(); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("second stream ended with %v, want ResourceExhausted", err)
	}
	b.mustCall(typeHealthCheckRequest, `{}`, typeErrorResponse, CodeUnregistered)
	if n := e.srv.Connections(); n != 1 {
		t.Fatalf("Connections() = %d", n)
	}
}

func TestServer_DetectionClosesUnresponsiveConnectionAndKeepsResponsiveOne(t *testing.T) {
	e := startEnv(t, func(o *Options) { o.IdleDetect = 100 * time.Millisecond; o.DetectTimeout = 300 * time.Millisecond })
	svc := naming.NewServiceKey("", "", "raw")
	mute := dialRaw(t, e.addr)
	mute.setup()
	mute.waitRegistered()
	mute.mustCall(typeInstanceRequest, instanceBody, typeInstanceResponse, 200)

	live := dialRaw(t, e.addr)
	live.setup()
	live.waitRegistered()
	probes := make(chan map[string]any, 100)
	go func() {
		for {
			p, err := live.st.Recv()
			if err != nil {
				return
			}
			var m map[string]any
			json.Unmarshal(p.Body, &m)
			if p.Type == typeClientDetectionRequest {
				// The SDK acks with success:false; resultCode decides.
				live.st.Send(&nacospb.Payload{Type: typeClientDetectionResponse,
					Body: []byte(`{"resultCode":200,"errorCode":0,"success":false,"message":"","requestId":"` + m["requestId"].(string) + `"}`)})
				probes <- m
			}
		}
	}()
	waitFor(t, 20*time.Second, "unresponsive connection removed", func() bool {
		return e.srv.Connections() == 1 && len(e.hosts(svc)) == 0
	})
	for range 3 {
		select {
		case m := <-probes:
			if m["module"] != "internal" || m["requestId"] == "" {
				t.Fatalf("bad ClientDetectionRequest %v", m)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("responsive connection was not probed")
		}
	}
	if e.srv.Connections() != 1 {
		t.Fatal("responsive connection was closed")
	}
	live.mustCall(typeHealthCheckRequest, `{}`, typeHealthCheckResponse, 200)
}

func TestServer_ResetConnectionSendsStringPortAndWaitsForAck(t *testing.T) {
	e := startEnv(t, nil)
	r := dialRaw(t, e.addr)
	r.setup()
	r.waitRegistered()
	infos := e.srv.ConnectionInfos()
	if len(infos) != 1 || infos[0].Labels["module"] != "naming" || infos[0].ClientVersion != "Nacos-Go-Client:v2.2.7" {
		t.Fatalf("ConnectionInfos = %+v", infos)
	}
	done := make(chan error, 1)
	go func() { done <- e.srv.ResetConnection(context.Background(), infos[0].ID, "127.0.0.1", 8848) }()
	p, err := r.st.Recv()
	if err != nil || p.Type != typeConnectResetRequest {
		t.Fatalf("got %v, %v", p, err)
	}
	var m map[string]any
	json.Unmarshal(p.Body, &m)
	if m["serverPort"] != "8848" || m["serverIp"] != "127.0.0.1" || m["requestId"] == "" {
		t.Fatalf("ConnectResetRequest body %s", p.Body)
	}
	r.send(typeConnectResetResponse, `{"resultCode":200,"errorCode":0,"success":false,"requestId":"`+m["requestId"].(string)+`"}`)
	if err := <-done; err != nil {
		t.Fatalf("ResetConnection = %v", err)
	}
}

func TestServer_NonReadingSubscriberHasBoundedMergedQueue(t *testing.T) {
	e := startEnv(t, nil)
	r := dialRaw(t, e.addr)
	r.setup() // never reads the stream
	r.waitRegistered()
	for _, name := range []string{"q1", "q2"} {
		r.mustCall(typeSubscribeServiceRequest, `{"namespace":"public","serviceName":"`+name+`","groupName":"DEFAULT_GROUP","subscribe":true,"clusters":""}`, typeSubscribeServiceResponse, 200)
	}
	maxPending := 0
	for i := range 2000 {
		for _, name := range []string{"q1", "q2"} {
			svc := naming.NewServiceKey("", "", name)
			big := map[string]string{"pad": strings.Repeat("x", 512)}
			e.store.Publish(int64(i), "1.1.1.1:1#true", svc, naming.Publication{Instances: []naming.Instance{{IP: "1.1.1.1", Port: i%60000 + 1, Weight: 1, Enabled: true, Healthy: true, Metadata: big}}})
		}
		maxPending = max(maxPending, e.eng.Stats().Pending)
	}
	if maxPending > 2 {
		t.Fatalf("pending pushes grew to %d for 2 subscriptions", maxPending)
	}
	t.Logf("max pending pushes for a non-reading client with 2 subscriptions after 4000 changes: %d", maxPending)
	r.close()
	waitFor(t, 20*time.Second, "target dropped", func() bool { return e.eng.Stats().Targets == 0 && e.srv.Connections() == 0 })
}

func TestServer_GracefulStopEndsStreamsAndRemovesTheirData(t *testing.T) {
	e := startEnv(t, nil)
	r := dialRaw(t, e.addr)
	r.setup()
	r.waitRegistered()
	r.mustCall(typeInstanceRequest, instanceBody, typeInstanceResponse, 200)
	done := make(chan struct{})
	go func() {
		e.srv.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("GracefulStop did not return")
	}
	if _, err := r.st.Recv(); err == nil {
		t.Fatal("stream still open after GracefulStop")
	}
	if n := len(e.hosts(naming.NewServiceKey("", "", "raw"))); n != 0 || e.srv.Connections() != 0 {
		t.Fatalf("after GracefulStop: %d hosts, %d connections", n, e.srv.Connections())
	}
}

func TestServer_FloodingConnectionGetsOverThresholdAndOthersAreServed(t *testing.T) {
	e := startEnv(t, func(o *Options) { o.MaxRequestRate = 20 })
	flood := dialRaw(t, e.addr)
	flood.setup()
	flood.waitRegistered()
	limited := 0
	for i := 0; i < 200; i++ {
		out, err := flood.call(typeInstanceRequest, instanceBody)
		if err != nil {
			t.Fatal(err)
		}
		if out.Type == typeErrorResponse {
			var m map[string]any
			_ = json.Unmarshal(out.Body, &m)
			if int(m["errorCode"].(float64)) != CodeOverThreshold || !strings.Contains(m["message"].(string), "requests/s") {
				t.Fatalf("unexpected error %s", out.Body)
			}
			limited++
		}
	}
	if limited == 0 {
		t.Fatal("200 requests at once on a 20/s connection were all served")
	}
	// Health checks of the flooding connection still pass, and another
	// connection is not affected.
	flood.mustCall(typeHealthCheckRequest, `{"requestId":"","module":"internal"}`, typeHealthCheckResponse, CodeSuccess)
	other := dialRaw(t, e.addr)
	other.setup()
	other.waitRegistered()
	other.mustCall(typeInstanceRequest, strings.Replace(instanceBody, `"raw"`, `"other"`, 1), typeInstanceResponse, CodeSuccess)
	// The bucket refills: the flooding connection is served again.
	waitFor(t, 20*time.Second, "served again after a pause", func() bool {
		out, err := flood.call(typeInstanceRequest, instanceBody)
		return err == nil && out.Type == typeInstanceResponse
	})
}

// TestServer_RefusesConnectionsUntilReady checks what a node that has not
// finished its startup load answers on the SDK port: ServerCheckRequest
// gets ErrorResponse 300 (the SDK retries it, then tries its next server)
// and ConnectionSetupRequest ends the stream; once ready, both work.
func TestServer_RefusesConnectionsUntilReady(t *testing.T) {
	var ready atomic.Bool
	e := startEnv(t, func(o *Options) { o.Ready = ready.Load })
	r := dialRaw(t, e.addr)
	m := r.mustCall(typeServerCheckRequest, `{"requestId":"","module":"internal"}`, typeErrorResponse, CodeServerStatus)
	if m["message"] != msgServerStarting {
		t.Fatalf("ServerCheck while not ready: %v", m)
	}
	r.setup()
	if _, err := r.st.Recv(); status.Code(err) != codes.Unavailable {
		t.Fatalf("setup while not ready ended with %v, want Unavailable", err)
	}
	r.mustCall(typeHealthCheckRequest, `{}`, typeErrorResponse, CodeUnregistered)
	if n := e.srv.Connections(); n != 0 {
		t.Fatalf("Connections() = %d while not ready", n)
	}
	ready.Store(true)
	r2 := dialRaw(t, e.addr)
	r2.mustCall(typeServerCheckRequest, `{"requestId":"","module":"internal"}`, typeServerCheckResponse, 200)
	r2.setup()
	r2.waitRegistered()
	r2.mustCall(typeInstanceRequest, instanceBody, typeInstanceResponse, 200)
}

// TestServer_RequestRightAfterSetupWaitsForIt: a request sent right after
// ConnectionSetupRequest, without the SDK's 100ms pause (as a busy node
// sees it when the stream's handler runs late), is served once the setup
// is processed instead of getting 301.
func TestServer_RequestRightAfterSetupWaitsForIt(t *testing.T) {
	e := startEnv(t, nil)
	for i := range 20 {
		r := dialRaw(t, e.addr)
		r.mustCall(typeServerCheckRequest, `{"requestId":"","module":"internal"}`, typeServerCheckResponse, 200)
		r.setup()
		m := r.mustCall(typeInstanceRequest, instanceBody, typeInstanceResponse, 200)
		if m["success"] != true {
			t.Fatalf("connection %d: InstanceResponse = %v", i, m)
		}
		r.close()
	}
}
