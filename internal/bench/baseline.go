package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distrod/distrod/internal/nacospb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/peer"
)

// BaselineOptions configures a Baseline.
type BaselineOptions struct {
	// FailEvery > 0 makes every FailEvery-th request fail (counted
	// separately per protocol and node): gRPC answers ErrorResponse
	// (errorCode 500), HTTP answers status 500. ServerCheckRequest and the
	// readiness probe are never failed. For tests of the error accounting.
	FailEvery int
}

// Baseline is the "limit" server: one or more do-nothing nodes that speak
// the Nacos client protocols and answer every request with a fixed success
// response of the right type, so a scenario run against it measures the
// cost of the client side, the codec and the loopback network alone.
//
// gRPC (HTTP port + 1000): ServerCheckResponse, InstanceResponse,
// BatchInstanceResponse, QueryServiceResponse and SubscribeServiceResponse
// (a fixed 10-host serviceInfo), HealthCheckResponse; any other XRequest
// gets a bare success XResponse. Bi-streams are accepted and read.
// HTTP: POST/DELETE /nacos/v1/ns/instance → "ok"; GET
// /nacos/v1/ns/instance/list → a fixed 10-host list; PUT
// /nacos/v1/ns/instance/beat → {"clientBeatInterval":5000,"code":10200,
// "lightBeatEnabled":true}; GET /nacos/v1/console/health/readiness → "OK".
//
// The one thing it does beyond fixed answers, so the replication and push
// scenarios have a floor to compare with: once some connection has
// subscribed to a service, a register (gRPC or HTTP) of that service on
// any node of the same Baseline is pushed at once as a
// NotifySubscriberRequest carrying just the registered instances to every
// subscriber on every node: replication at zero cost. With no
// subscribers, registers are not even decoded.
type Baseline struct {
	opts  BaselineOptions
	nodes []*baselineNode
	hub   *pushHub
}

type baselineNode struct {
	b        *Baseline
	addr     string
	httpLn   net.Listener
	grpcLn   net.Listener
	httpSrv  *http.Server
	grpcSrv  *grpc.Server
	grpcReqs atomic.Uint64
	httpReqs atomic.Uint64
}

// StartBaseline starts one baseline node per listen address (host:port,
// the HTTP port; gRPC listens on port+1000). Port 0 picks a free pair.
func StartBaseline(listens []string, o BaselineOptions) (*Baseline, error) {
	if len(listens) == 0 {
		return nil, errors.New("bench: baseline needs at least one listen address")
	}
	b := &Baseline{opts: o, hub: newPushHub()}
	for _, l := range listens {
		hl, gl, err := ListenPair(l)
		if err != nil {
			b.Close()
			return nil, err
		}
		n := &baselineNode{b: b, addr: hl.Addr().String(), httpLn: hl, grpcLn: gl}
		n.grpcSrv = grpc.NewServer(nacospb.ServerOption(),
			grpc.MaxRecvMsgSize(10<<20),
			grpc.InitialWindowSize(10<<20), grpc.InitialConnWindowSize(10<<20),
			grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}))
		nacospb.RegisterRequest(n.grpcSrv, n)
		nacospb.RegisterBiStream(n.grpcSrv, n)
		n.httpSrv = &http.Server{Handler: n, ReadHeaderTimeout: 10 * time.Second}
		go n.grpcSrv.Serve(gl)
		go n.httpSrv.Serve(hl)
		b.nodes = append(b.nodes, n)
	}
	return b, nil
}

// ListenPair listens on addr (host:port) for HTTP and on port+1000 for
// gRPC. With port 0 it retries until it finds a free pair.
func ListenPair(addr string) (httpLn, grpcLn net.Listener, err error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("bench: listen %q: %w", addr, err)
	}
	tries := 1
	if port == "0" {
		tries = 100
	}
	for range tries {
		hl, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, nil, err
		}
		p := hl.Addr().(*net.TCPAddr).Port
		if p+GRPCOffset > 65535 {
			hl.Close()
			continue
		}
		gl, gerr := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p+GRPCOffset)))
		if gerr != nil {
			hl.Close()
			err = gerr
			if tries == 1 {
				return nil, nil, err
			}
			continue
		}
		return hl, gl, nil
	}
	return nil, nil, fmt.Errorf("bench: no free port pair on %s (p, p+%d)", host, GRPCOffset)
}

// Targets returns the nodes' HTTP addresses, usable as Config.Targets.
func (b *Baseline) Targets() []string {
	out := make([]string, len(b.nodes))
	for i, n := range b.nodes {
		out[i] = n.addr
	}
	return out
}

// Requests returns how many gRPC and HTTP requests the nodes answered.
func (b *Baseline) Requests() (grpcReqs, httpReqs uint64) {
	for _, n := range b.nodes {
		grpcReqs += n.grpcReqs.Load()
		httpReqs += n.httpReqs.Load()
	}
	return
}

// Close stops every node at once (streams are cut, not drained).
func (b *Baseline) Close() {
	for _, n := range b.nodes {
		n.grpcSrv.Stop()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = n.httpSrv.Shutdown(ctx)
		cancel()
		n.httpSrv.Close()
	}
}

// fixed answers, encoded once.
var (
	okHead        = `"resultCode":200,"errorCode":0,"success":true,"message":"","requestId":""`
	fixedHosts    = baselineHosts()
	fixedInfoGRPC = `{"name":"bench-query","groupName":"DEFAULT_GROUP","clusters":"","cacheMillis":10000,"hosts":` + fixedHosts +
		`,"lastRefTime":1700000000000,"checksum":"","allIPs":false,"reachProtectionThreshold":false,"valid":true}`
	fixedAnswers = map[string]*nacospb.Payload{
		TypeServerCheckRequest:      {Type: TypeServerCheckResponse, Body: []byte(`{` + okHead + `,"connectionId":"baseline"}`)},
		TypeHealthCheckRequest:      {Type: TypeHealthCheckResponse, Body: []byte(`{` + okHead + `}`)},
		TypeInstanceRequest:         {Type: TypeInstanceResponse, Body: []byte(`{` + okHead + `,"type":"registerInstance"}`)},
		TypeBatchInstanceRequest:    {Type: TypeBatchInstanceResponse, Body: []byte(`{` + okHead + `,"type":"batchRegisterInstance"}`)},
		TypeServiceQueryRequest:     {Type: TypeQueryServiceResponse, Body: []byte(`{` + okHead + `,"serviceInfo":` + fixedInfoGRPC + `}`)},
		TypeSubscribeServiceRequest: {Type: TypeSubscribeServiceResponse, Body: []byte(`{` + okHead + `,"serviceInfo":` + fixedInfoGRPC + `}`)},
	}
	errorAnswer = &nacospb.Payload{Type: TypeErrorResponse,
		Body: []byte(`{"resultCode":500,"errorCode":500,"success":false,"message":"baseline: injected failure","requestId":""}`)}
	fixedListHTTP = []byte(`{"name":"DEFAULT_GROUP@@bench-query","groupName":"DEFAULT_GROUP","clusters":"","cacheMillis":10000,"hosts":` +
		fixedHosts + `,"lastRefTime":1700000000000,"checksum":"","allIPs":false,"reachProtectionThreshold":false,"valid":true}`)
	beatAnswer = []byte(`{"clientBeatInterval":5000,"code":10200,"lightBeatEnabled":true}`)
)

func baselineHosts() string {
	hosts := make([]map[string]any, 10)
	for i := range hosts {
		inst := BenchInstance(uint64(i))
		hosts[i] = map[string]any{"instanceId": fmt.Sprintf("%s#%d#DEFAULT#DEFAULT_GROUP@@bench-query", inst.IP, inst.Port),
			"ip": inst.IP, "port": inst.Port, "weight": 1.0, "healthy": true, "enabled": true, "ephemeral": true,
			"clusterName": "DEFAULT", "serviceName": "DEFAULT_GROUP@@bench-query", "metadata": inst.Metadata,
			"instanceHeartBeatInterval": 5000, "instanceHeartBeatTimeOut": 15000, "ipDeleteTimeout": 30000}
	}
	b, _ := json.Marshal(hosts)
	return string(b)
}

func (n *baselineNode) fail(counter *atomic.Uint64) bool {
	c := counter.Add(1)
	return n.b.opts.FailEvery > 0 && c%uint64(n.b.opts.FailEvery) == 0
}

// Request implements nacospb.RequestHandler.
func (n *baselineNode) Request(ctx context.Context, in *nacospb.Payload) (*nacospb.Payload, error) {
	if in.Type != TypeServerCheckRequest && n.fail(&n.grpcReqs) {
		return errorAnswer, nil
	}
	// A subscription must be seen even while the hub is idle; registers
	// are decoded only when someone listens.
	if in.Type == TypeSubscribeServiceRequest || n.b.hub.active() {
		n.b.hub.onGRPC(ctx, in)
	}
	if out, ok := fixedAnswers[in.Type]; ok {
		return out, nil
	}
	return &nacospb.Payload{Type: strings.TrimSuffix(in.Type, "Request") + "Response", Body: []byte(`{` + okHead + `}`)}, nil
}

// RequestBiStream implements nacospb.BiStreamHandler: it reads (and
// ignores) everything the client sends and carries hub pushes.
func (n *baselineNode) RequestBiStream(st nacospb.BiStream) error {
	sc := &streamConn{st: st, out: make(chan *nacospb.Payload, 1024)}
	key := peerKey(st.Context())
	n.b.hub.addConn(key, sc)
	defer n.b.hub.dropConn(key, sc)
	go sc.sendLoop(st.Context())
	for {
		if _, err := st.Recv(); err != nil {
			return nil
		}
	}
}

// ServeHTTP implements the fixed HTTP v1 answers.
func (n *baselineNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	const base = "/nacos/v1"
	if r.URL.Path == base+"/console/health/readiness" {
		w.Write([]byte("OK"))
		return
	}
	if n.fail(&n.httpReqs) {
		http.Error(w, "baseline: injected failure", http.StatusInternalServerError)
		return
	}
	switch {
	case r.URL.Path == base+"/ns/instance" && (r.Method == http.MethodPost || r.Method == http.MethodDelete):
		if r.Method == http.MethodPost && n.b.hub.active() {
			n.b.hub.onHTTPRegister(r)
		}
		w.Write([]byte("ok"))
	case r.URL.Path == base+"/ns/instance/list" && r.Method == http.MethodGet:
		w.Header().Set("Content-Type", "application/json")
		w.Write(fixedListHTTP)
	case r.URL.Path == base+"/ns/instance/beat" && r.Method == http.MethodPut:
		w.Header().Set("Content-Type", "application/json")
		w.Write(beatAnswer)
	default:
		http.NotFound(w, r)
	}
}

func peerKey(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return p.Addr.String()
	}
	return ""
}

// streamConn is one client bi-stream held by the baseline's push hub.
type streamConn struct {
	st  nacospb.BiStream
	out chan *nacospb.Payload
}

func (s *streamConn) sendLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case p := <-s.out:
			if s.st.Send(p) != nil {
				return
			}
		}
	}
}

// pushHub ties bi-streams to unary calls by peer address (the client
// sends no connection id) and fans registers out to subscribers.
type pushHub struct {
	mu    sync.Mutex
	subs  atomic.Int64
	conns map[string]*streamConn
	bySvc map[string][]*streamConn // service -> subscribers
	// early holds subscriptions that arrived before their connection's
	// bi-stream handler ran (the client does not wait for the server).
	early map[string][]string
	seq   atomic.Uint64
}

func newPushHub() *pushHub {
	return &pushHub{conns: map[string]*streamConn{}, bySvc: map[string][]*streamConn{}, early: map[string][]string{}}
}

func (h *pushHub) active() bool { return h.subs.Load() > 0 }

func (h *pushHub) addConn(key string, sc *streamConn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.conns[key] = sc
	for _, svc := range h.early[key] {
		h.addSubLocked(svc, sc)
	}
	delete(h.early, key)
}

func (h *pushHub) addSubLocked(svc string, sc *streamConn) {
	for _, c := range h.bySvc[svc] {
		if c == sc {
			return
		}
	}
	h.bySvc[svc] = append(h.bySvc[svc], sc)
	h.subs.Add(1)
}

func (h *pushHub) dropConn(key string, sc *streamConn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.conns[key] == sc {
		delete(h.conns, key)
	}
	for svc, l := range h.bySvc {
		for i, c := range l {
			if c == sc {
				l = append(l[:i:i], l[i+1:]...)
				h.subs.Add(-1)
				break
			}
		}
		if len(l) == 0 {
			delete(h.bySvc, svc)
		} else {
			h.bySvc[svc] = l
		}
	}
}

// onGRPC handles the requests the hub cares about; others are ignored.
func (h *pushHub) onGRPC(ctx context.Context, in *nacospb.Payload) {
	switch in.Type {
	case TypeSubscribeServiceRequest:
		h.subscribe(ctx, in)
	case TypeInstanceRequest:
		var r instanceReq
		if json.Unmarshal(in.Body, &r) == nil && r.Type == "registerInstance" {
			h.publish(r.namingReq, []Instance{r.Instance})
		}
	case TypeBatchInstanceRequest:
		var r batchInstanceReq
		if json.Unmarshal(in.Body, &r) == nil {
			h.publish(r.namingReq, r.Instances)
		}
	}
}

func (h *pushHub) subscribe(ctx context.Context, in *nacospb.Payload) {
	var r subscribeReq
	if json.Unmarshal(in.Body, &r) != nil || !r.Subscribe {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	key := peerKey(ctx)
	sc := h.conns[key]
	if sc == nil {
		h.early[key] = append(h.early[key], r.ServiceName)
		return
	}
	h.addSubLocked(r.ServiceName, sc)
}

func (h *pushHub) onHTTPRegister(r *http.Request) {
	if r.ParseForm() != nil {
		return
	}
	svc := r.PostForm.Get("serviceName")
	if i := strings.LastIndex(svc, "@@"); i >= 0 {
		svc = svc[i+2:]
	}
	port, _ := strconv.ParseUint(r.PostForm.Get("port"), 10, 64)
	h.publish(newNamingReq(r.PostForm.Get("namespaceId"), svc),
		[]Instance{{IP: r.PostForm.Get("ip"), Port: port, Weight: 1, Healthy: true, Enabled: true, Ephemeral: true}})
}

func (h *pushHub) publish(nr namingReq, insts []Instance) {
	h.mu.Lock()
	subs := append([]*streamConn(nil), h.bySvc[nr.ServiceName]...)
	h.mu.Unlock()
	if len(subs) == 0 {
		return
	}
	body, err := json.Marshal(struct {
		RequestID   string `json:"requestId"`
		Namespace   string `json:"namespace"`
		ServiceName string `json:"serviceName"`
		GroupName   string `json:"groupName"`
		Module      string `json:"module"`
		ServiceInfo any    `json:"serviceInfo"`
	}{strconv.FormatUint(h.seq.Add(1), 10), nr.Namespace, nr.ServiceName, nr.GroupName, "naming",
		map[string]any{"name": nr.ServiceName, "groupName": nr.GroupName, "clusters": "", "cacheMillis": 10000,
			"hosts": insts, "lastRefTime": time.Now().UnixMilli(), "checksum": "", "allIPs": false,
			"reachProtectionThreshold": false, "valid": true}})
	if err != nil {
		return
	}
	p := &nacospb.Payload{Type: TypeNotifySubscriberRequest, Body: body}
	for _, sc := range subs {
		select {
		case sc.out <- p:
		case <-sc.st.Context().Done():
		}
	}
}
