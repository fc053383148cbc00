package nacosgrpc

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distrod/distrod/internal/api/nacoswire"
	"github.com/distrod/distrod/internal/auth"
	"github.com/distrod/distrod/internal/connlimit"
	"github.com/distrod/distrod/internal/nacospb"
	"github.com/distrod/distrod/internal/naming"
	"github.com/distrod/distrod/internal/push"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"
)

// Options configures a Server. Zero fields take the documented defaults.
type Options struct {
	// Store holds the naming data. Required.
	Store *naming.Store
	// Persistent keeps persistent instances (PersistentInstanceRequest);
	// nil refuses them.
	Persistent PersistentRegistry
	// Push delivers changes to this server's subscribers. Required.
	Push *push.Engine
	// Wire builds the serviceInfo answers of subscribe and query requests
	// and stamps the requestIds of server-initiated requests. It must be
	// the builder Push pushes from (so answers and pushes share one
	// lastRefTime clock and one requestId sequence), which is the default.
	Wire *nacoswire.Builder
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger receives connection events. Default slog.Default().
	Logger *slog.Logger
	// Registry receives the server's metrics; nil registers nothing.
	Registry prometheus.Registerer
	// MaxConnections caps registered connections; ConnectionSetupRequest
	// beyond it ends the stream (the SDK then tries another server).
	// Default 100000.
	MaxConnections int
	// MaxMessageBytes caps one received gRPC message. Default 10 MiB.
	MaxMessageBytes int
	// IdleDetect: a connection without traffic for this long is probed with
	// ClientDetectionRequest. Default 20s, as Nacos.
	IdleDetect time.Duration
	// DetectTimeout: a probed connection that does not ack with resultCode
	// 200 within this time is closed and its data removed. Default 5s.
	DetectTimeout time.Duration
	// Self is this node's address, for logs and status.
	Self string
	// Ready reports whether the node may take clients (in a cluster: its
	// startup snapshot load finished). nil means always ready. While it
	// returns false the server refuses new connections: ServerCheckRequest
	// gets ErrorResponse 300, as Nacos answers while starting (the SDK
	// retries it for its connect timeout, then tries its next server), and
	// ConnectionSetupRequest ends the stream.
	Ready func() bool
	// MaxRequestRate caps the unary requests one connection may send per
	// second (with a burst of one second's worth); requests beyond it get
	// ErrorResponse 503 (OVER_THRESHOLD), which the SDK retries after a
	// pause. Health checks are never limited. 0 means no limit.
	MaxRequestRate int
	// Auth checks every naming request's identity and permission (auth.go).
	// nil means no checks.
	Auth *auth.Guard
	// TLS, when set, makes the port serve TLS with this configuration
	// (whose GetConfigForClient may pick a fresh certificate per
	// handshake); it should offer ALPN "h2". nil serves plaintext.
	TLS *tls.Config
	// TLSCompatibility, with TLS, also accepts plaintext connections,
	// told apart from TLS ones by their first byte (tls.go).
	TLSCompatibility bool
	// SetupTimeout closes a connection that has not sent
	// ConnectionSetupRequest within it. Default 10s.
	SetupTimeout time.Duration
	// MaxStreams caps the concurrent streams (calls) of one connection.
	// Default 64.
	MaxStreams int
	// MaxConnectionsPerIP caps the open transports from one client IP; a
	// transport beyond it is closed when accepted. 0 means no limit.
	MaxConnectionsPerIP int
	// MaxPushBytesPerConn caps the push bytes queued for one connection (a
	// push larger than it is still sent when nothing else is queued). A
	// connection that would exceed it is closed as a slow consumer.
	// Default 16 MiB.
	MaxPushBytesPerConn int64
	// MaxPushBytes caps the push bytes queued for all connections
	// together; a push beyond it is refused with push.ErrTargetBusy and
	// retried by the engine. Default 256 MiB.
	MaxPushBytes int64
	// MaxAnswerBytes caps the serviceInfo of a query or subscribe answer;
	// a larger one is answered with ErrorResponse 500. 0 means no limit.
	MaxAnswerBytes int
}

func (o *Options) setDefaults() error {
	if o.Wire == nil && o.Push != nil {
		o.Wire = o.Push.Builder()
	}
	if o.Store == nil || o.Push == nil {
		return errors.New("nacosgrpc: Options.Store and Options.Push are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MaxConnections <= 0 {
		o.MaxConnections = 100000
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = 10 << 20
	}
	if o.IdleDetect <= 0 {
		o.IdleDetect = 20 * time.Second
	}
	if o.DetectTimeout <= 0 {
		o.DetectTimeout = 5 * time.Second
	}
	if o.SetupTimeout <= 0 {
		o.SetupTimeout = 10 * time.Second
	}
	if o.MaxStreams <= 0 {
		o.MaxStreams = 64
	}
	if o.MaxPushBytesPerConn <= 0 {
		o.MaxPushBytesPerConn = 16 << 20
	}
	if o.MaxPushBytes <= 0 {
		o.MaxPushBytes = 256 << 20
	}
	return nil
}

// Server is the SDK-facing Nacos gRPC server: /Request/request and
// /BiRequestStream/requestBiStream on one port.
type Server struct {
	o Options
	// ids assigns snowflake instance ids at registration.
	ids  *naming.Snowflake
	log  *slog.Logger
	grpc *grpc.Server
	m    *serverMetrics

	mu      sync.Mutex
	conns   map[string]*conn // registered connections
	raw     map[string]net.Conn
	stop    chan struct{}
	stopped bool
	wg      sync.WaitGroup
	serve   bool
	// pushBytes is the push payload queued for all connections.
	pushBytes atomic.Int64
}

// NewServer builds a server; call Serve to accept connections.
func NewServer(o Options) (*Server, error) {
	if err := o.setDefaults(); err != nil {
		return nil, err
	}
	s := &Server{
		o:     o,
		ids:   naming.SnowflakeFor(o.Store.Self()),
		log:   o.Logger.With("component", "nacosgrpc", "self", o.Self),
		conns: map[string]*conn{},
		raw:   map[string]net.Conn{},
		stop:  make(chan struct{}),
	}
	m, err := newServerMetrics(o.Registry, s)
	if err != nil {
		return nil, err
	}
	s.m = m
	s.grpc = grpc.NewServer(
		nacospb.ServerOption(),
		grpc.Creds(transportCreds(o.TLS, o.TLSCompatibility)),
		grpc.StatsHandler(statsHandler{s}),
		grpc.MaxRecvMsgSize(o.MaxMessageBytes),
		// Every open stream holds a goroutine and buffers; a client that
		// opens calls and never finishes them is bounded here.
		grpc.MaxConcurrentStreams(uint32(o.MaxStreams)),
		// The SDK pings after 60s of silence; enforcing anything stricter
		// would answer GOAWAY too_many_pings.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: time.Minute, Timeout: 20 * time.Second}),
		// SDK connections are long-lived and mostly idle: small per-
		// connection buffers, and write buffers returned to a shared pool
		// after each flush, keep an idle connection cheap.
		grpc.ReadBufferSize(8<<10),
		grpc.WriteBufferSize(8<<10),
		// No HPACK dynamic table for the client's headers: each table held
		// the few headers of the connection's calls for its whole life
		// (~1 KiB per connection); without it a unary call's headers
		// travel as literals, some 100 bytes more per call.
		grpc.HeaderTableSize(0),
		// Marks a connection whose bi-stream arrived, on the transport's
		// reader, before any later call of it is dispatched (awaitSetup).
		grpc.InTapHandle(func(ctx context.Context, info *tap.Info) (context.Context, error) {
			if info.FullMethodName == nacospb.MethodBiStream {
				if c := connFrom(ctx); c != nil {
					c.streamOpened.Store(true)
				}
			}
			return ctx, nil
		}),
	)
	nacospb.RegisterRequest(s.grpc, s)
	nacospb.RegisterBiStream(s.grpc, s)
	return s, nil
}

// Serve accepts connections on lis until Stop or GracefulStop. It also
// runs the idle-connection detection.
func (s *Server) Serve(lis net.Listener) error {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		lis.Close()
		return grpc.ErrServerStopped
	}
	if !s.serve {
		s.serve = true
		s.wg.Add(1)
		go s.detectLoop()
	}
	s.mu.Unlock()
	lis = connlimit.New(lis, s.o.MaxConnectionsPerIP, func(ip netip.Addr) {
		s.m.closed.WithLabelValues("per_ip_limit").Inc()
		s.log.Debug("connection refused: per-IP limit", "ip", ip, "max", s.o.MaxConnectionsPerIP)
	})
	return s.grpc.Serve(&trackingListener{Listener: lis, s: s})
}

// Stop closes every connection at once (their data is removed as for any
// closed connection) and stops serving.
func (s *Server) Stop() {
	s.stopDetect()
	s.grpc.Stop()
	s.closeAll("server stopped", false)
}

// GracefulStop ends every bi-stream (clients reconnect elsewhere), lets
// in-flight unary calls finish, and stops serving. A bi-stream ends with
// its transport, closed once the connection's unary calls are done.
func (s *Server) GracefulStop() {
	s.stopDetect()
	done := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(done)
	}()
	// Bi-streams never end by themselves; end them until GracefulStop
	// returns (a connection may register while the listener closes).
	// A bi-stream's handler is blocked receiving, so a stream ends by
	// closing its transport, once no unary call of it is in flight (a
	// call that starts after the close only gets 301).
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	var ending []*conn
	for {
		ending = append(ending, s.closeAll("server stopping", false)...)
		kept := ending[:0]
		for _, c := range ending {
			if c.calls.Load() > 0 {
				kept = append(kept, c)
			} else if c.raw != nil {
				c.raw.Close()
			}
		}
		ending = kept
		select {
		case <-done:
			return
		case <-t.C:
		}
	}
}

func (s *Server) stopDetect() {
	s.mu.Lock()
	first := !s.stopped
	s.stopped = true
	s.mu.Unlock()
	if first {
		close(s.stop)
	}
	s.wg.Wait()
}

// closeAll closes every registered connection and returns them.
func (s *Server) closeAll(reason string, kill bool) []*conn {
	s.mu.Lock()
	cs := make([]*conn, 0, len(s.conns))
	for _, c := range s.conns {
		cs = append(cs, c)
	}
	s.mu.Unlock()
	for _, c := range cs {
		s.closeConn(c, reason, kill)
	}
	return cs
}

// Connections returns the number of registered connections.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// HasConnection reports whether connection id is registered here.
func (s *Server) HasConnection(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.conns[id]
	return ok
}

// ConnectionInfo describes one registered connection.
type ConnectionInfo struct {
	ID            string
	Remote        netip.AddrPort
	ClientIP      string
	ClientVersion string
	Labels        map[string]string
	// Tenant is the namespace the client named in ConnectionSetupRequest.
	Tenant string
	// AbilityTable is the client's ability table; nil when it does not
	// negotiate.
	AbilityTable map[string]bool
	Created      time.Time
	LastActive   time.Time
}

// SDKSource reports whether the connection is an SDK's (label
// source=sdk), the only kind Nacos moves with ConnectResetRequest.
func (ci ConnectionInfo) SDKSource() bool { return ci.Labels["source"] == "sdk" }

// AppName is the client's application name (label AppName), "-" if unset.
func (ci ConnectionInfo) AppName() string {
	if v := ci.Labels["AppName"]; v != "" {
		return v
	}
	return "-"
}

// ConnectionInfos lists the registered connections, sorted by id.
func (s *Server) ConnectionInfos() []ConnectionInfo {
	s.mu.Lock()
	cs := make([]*conn, 0, len(s.conns))
	for _, c := range s.conns {
		cs = append(cs, c)
	}
	s.mu.Unlock()
	out := make([]ConnectionInfo, 0, len(cs))
	for _, c := range cs {
		c.mu.RLock()
		out = append(out, ConnectionInfo{ID: c.id, Remote: c.remote, ClientIP: c.clientIP, ClientVersion: c.version,
			Labels: c.labels, Tenant: c.tenant, AbilityTable: c.abilities, Created: c.created, LastActive: time.UnixMilli(c.lastActive.Load())})
		c.mu.RUnlock()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// ResetConnection asks connection id to move to another server with
// ConnectResetRequest (load shedding). serverIP may be empty; the client
// honours it only if it is in its own server list, and with an empty one it
// stays put while its current connection is healthy. It waits for the ack.
func (s *Server) ResetConnection(ctx context.Context, id, serverIP string, serverPort int) error {
	s.mu.Lock()
	c := s.conns[id]
	s.mu.Unlock()
	if c == nil {
		return fmt.Errorf("nacosgrpc: connection %s: %w", id, push.ErrTargetClosed)
	}
	rid := s.o.Wire.Stamps().RequestID()
	req := connectResetRequest{serverRequest: serverRequest{Headers: map[string]string{}, RequestID: rid, Module: moduleInternal},
		ServerIP: serverIP, ConnectionID: id}
	if serverPort > 0 {
		req.ServerPort = strconv.Itoa(serverPort)
	}
	body, _ := json.Marshal(req)
	return c.Request(ctx, typeConnectResetRequest, rid, body)
}

// CloseConnection closes connection id's transport; its data is removed.
func (s *Server) CloseConnection(id string) bool {
	s.mu.Lock()
	c := s.conns[id]
	s.mu.Unlock()
	if c == nil {
		return false
	}
	s.closeConn(c, "closed by server", true)
	return true
}

// --- transport tracking ---

type connKey struct{}

func connFrom(ctx context.Context) *conn {
	c, _ := ctx.Value(connKey{}).(*conn)
	return c
}

// trackingListener remembers accepted net.Conns by remote address, so the
// server can tear down a transport that grpc-go gives no handle on.
type trackingListener struct {
	net.Listener
	s *Server
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, s: l.s, key: c.RemoteAddr().String()}
	l.s.mu.Lock()
	l.s.raw[tc.key] = tc
	l.s.mu.Unlock()
	return tc, nil
}

type trackedConn struct {
	net.Conn
	s    *Server
	key  string
	once sync.Once
}

// NetConn returns the wrapped connection (see plainCreds).
func (c *trackedConn) NetConn() net.Conn { return c.Conn }

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.s.mu.Lock()
		if c.s.raw[c.key] == net.Conn(c) {
			delete(c.s.raw, c.key)
		}
		c.s.mu.Unlock()
	})
	return c.Conn.Close()
}

// statsHandler ties connection ids to transports: TagConn creates the
// connection state, ConnEnd tears it down.
type statsHandler struct{ s *Server }

func (h statsHandler) TagConn(ctx context.Context, info *stats.ConnTagInfo) context.Context {
	s := h.s
	now := s.o.Now()
	remote, _ := netip.ParseAddrPort(info.RemoteAddr.String())
	remote = netip.AddrPortFrom(remote.Addr().Unmap(), remote.Port())
	c := &conn{
		s:       s,
		id:      strconv.FormatInt(now.UnixMilli(), 10) + "_" + remote.Addr().String() + "_" + strconv.Itoa(int(remote.Port())),
		remote:  remote,
		created: now,
		out:     make(chan outMsg, 16),
		done:    make(chan struct{}),
		acks:    map[string]chan int{},
	}
	if s.o.MaxRequestRate > 0 {
		c.limit = rate.NewLimiter(rate.Limit(s.o.MaxRequestRate), s.o.MaxRequestRate)
	}
	c.lastActive.Store(now.UnixMilli())
	s.mu.Lock()
	c.raw = s.raw[info.RemoteAddr.String()]
	s.mu.Unlock()
	// A transport that never sets up would otherwise hold its socket (and
	// any half-open calls) for ever.
	c.setupTimer = time.AfterFunc(s.o.SetupTimeout, func() {
		c.mu.RLock()
		stale := c.state == stateNew
		c.mu.RUnlock()
		if stale {
			s.m.closed.WithLabelValues("setup_timeout").Inc()
			s.log.Debug("closing connection: no ConnectionSetupRequest in time", "conn", c.id, "timeout", s.o.SetupTimeout)
			s.closeConn(c, "setup timeout", true)
		}
	})
	return context.WithValue(ctx, connKey{}, c)
}

func (h statsHandler) HandleConn(ctx context.Context, st stats.ConnStats) {
	if _, end := st.(*stats.ConnEnd); end {
		if c := connFrom(ctx); c != nil {
			h.s.closeConn(c, "transport closed", false)
			// grpc-go closed the connection it served, which may be the
			// bare TCP connection under the listener wrappers (plainCreds):
			// close them too, giving back the per-IP slot.
			if c.raw != nil {
				c.raw.Close()
			}
		}
	}
}

func (statsHandler) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (statsHandler) HandleRPC(context.Context, stats.RPCStats)                       {}

// --- unary requests ---

// Request serves /Request/request in Nacos's pipeline order: server check,
// handler lookup (302/502), registration (301), parse (502), parameters
// (400), handler.
func (s *Server) Request(ctx context.Context, in *nacospb.Payload) (*nacospb.Payload, error) {
	c := connFrom(ctx)
	if c != nil {
		// GracefulStop closes a transport only once its calls are done.
		c.calls.Add(1)
		defer c.calls.Add(-1)
	}
	if in.Type == typeServerCheckRequest {
		if !s.ready() {
			return s.fail(in, errorf(CodeServerStatus, msgServerStarting)), nil
		}
		id := ""
		if c != nil {
			id = c.id
		}
		s.m.request(in.Type, CodeSuccess)
		return reply(typeServerCheckResponse, serverCheckResponse{responseHead: ok(requestIDOf(in.Body)), ConnectionID: id, SupportAbilityNegotiation: true}), nil
	}
	if err := lookup(in.Type); err != nil {
		return s.fail(in, err), nil
	}
	if c == nil {
		return s.fail(in, errorf(CodeUnregistered, msgUnregistered)), nil
	}
	c.mu.RLock()
	if c.state == stateNew && c.streamOpened.Load() {
		c.mu.RUnlock()
		s.awaitSetup(ctx, c)
		c.mu.RLock()
	}
	defer c.mu.RUnlock()
	if c.state != stateRegistered {
		return s.fail(in, errorf(CodeUnregistered, msgUnregistered)), nil
	}
	c.touch()
	if c.limit != nil && in.Type != typeHealthCheckRequest && !c.limit.Allow() {
		return s.fail(in, errorf(CodeOverThreshold, "connection %s exceeds %d requests/s, slow down", c.id, s.o.MaxRequestRate)), nil
	}
	req, derr := decodeRequest(in.Type, in.Body)
	if derr != nil {
		return s.fail(in, derr), nil
	}
	if denied := s.authorize(in, req); denied != nil {
		return denied, nil
	}
	typ, resp, err := s.handle(c, req)
	if err != nil {
		return s.fail(in, err), nil
	}
	s.m.request(in.Type, CodeSuccess)
	return reply(typ, resp), nil
}

// setupGrace bounds how long a request waits for its connection's
// ConnectionSetupRequest, already on the open bi-stream, to be processed.
const setupGrace = 3 * time.Second

// awaitSetup waits (at most setupGrace, or until ctx ends) while c has its
// bi-stream open (seen by the transport: its handler may not run yet) but
// is not registered yet. The SDK sends its first request 100ms after
// ConnectionSetupRequest, which travelled before it on the same transport;
// a node busy with a reconnect storm may not have run the stream's handler
// within those 100ms, and a 301 would make the SDK drop the connection and
// start over, feeding the storm. A connection without a stream is not
// waited for: it gets 301 at once, as in Nacos.
func (s *Server) awaitSetup(ctx context.Context, c *conn) {
	c.mu.Lock()
	if c.state != stateNew {
		c.mu.Unlock()
		return
	}
	if c.setupWait == nil {
		c.setupWait = make(chan struct{})
	}
	registered := c.setupWait
	c.mu.Unlock()
	t := time.NewTimer(setupGrace)
	defer t.Stop()
	select {
	case <-registered:
	case <-c.done:
	case <-ctx.Done():
	case <-t.C:
	}
}

func (s *Server) fail(in *nacospb.Payload, err error) *nacospb.Payload {
	code := codeOf(err)
	msg := err.Error()
	var re *rpcError
	if errors.As(err, &re) {
		msg = re.msg
	}
	s.m.request(in.Type, code)
	if code >= CodeServerError && code != CodeBadGateway {
		s.log.Warn("request failed", "type", in.Type, "code", code, "err", err)
	}
	return reply(typeErrorResponse, responseHead{ResultCode: code, ErrorCode: code, Message: msg, RequestID: requestIDOf(in.Body)})
}

// encodedBody is a response body that is already JSON; reply sends it as it
// is.
type encodedBody []byte

// withServiceInfo encodes head with a serviceInfo that is already encoded,
// without encoding/json re-validating it.
func withServiceInfo(head responseHead, info json.RawMessage) encodedBody {
	b, _ := json.Marshal(head)
	b = append(b[:len(b)-1], `,"serviceInfo":`...)
	b = append(b, info...)
	return append(b, '}')
}

func reply(typ string, body any) *nacospb.Payload {
	if eb, ok := body.(encodedBody); ok {
		return &nacospb.Payload{Type: typ, Body: eb}
	}
	b, err := json.Marshal(body)
	if err != nil {
		b, _ = json.Marshal(responseHead{ResultCode: CodeServerError, ErrorCode: CodeServerError, Message: err.Error()})
		typ = typeErrorResponse
	}
	return &nacospb.Payload{Type: typ, Body: b}
}

// --- the bi-stream ---

// streamDrainWait bounds how long a bi-stream that ended waits for its
// sender to finish a Send before it closes the transport to unblock it.
const streamDrainWait = 5 * time.Second

// RequestBiStream serves /BiRequestStream/requestBiStream: the first
// ConnectionSetupRequest registers the connection; client acks of server
// requests arrive here too. This goroutine only receives: server requests
// are sent by a sender goroutine that runs only while some are queued
// (conn.kick), so an idle connection costs no goroutine of its own beyond
// this one.
func (s *Server) RequestBiStream(st nacospb.BiStream) error {
	c := connFrom(st.Context())
	if c == nil {
		return status.Error(codes.Internal, "nacosgrpc: connection unknown")
	}
	c.mu.Lock()
	if c.streamOn || c.state == stateClosed {
		c.mu.Unlock()
		return status.Error(codes.FailedPrecondition, "nacosgrpc: connection already has a stream")
	}
	c.streamOn = true
	c.mu.Unlock()
	c.sendMu.Lock()
	c.stream = st
	c.sendMu.Unlock()
	err := s.recvLoop(c, st)
	reason := "stream ended"
	select {
	case <-c.done:
		// Closed by the server (GracefulStop, or a kill that ended Recv).
		reason = "closed by server"
	default:
	}
	s.closeConn(c, reason, false)
	c.stopSender()
	if reason == "closed by server" {
		return status.Error(codes.Unavailable, "nacosgrpc: connection closed by server")
	}
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

func (s *Server) recvLoop(c *conn, st nacospb.BiStream) error {
	for {
		p, err := st.Recv()
		if err != nil {
			return err
		}
		c.touch()
		switch {
		case p.Type == typeConnectionSetupRequest:
			var req connectionSetupRequest
			if err := decodeObject(p.Body, &req); err != nil {
				return status.Errorf(codes.InvalidArgument, "nacosgrpc: bad ConnectionSetupRequest: %v", err)
			}
			if err := s.register(c, p.ClientIP, &req); err != nil {
				return err
			}
			if req.AbilityTable != nil {
				s.sendSetupAck(c)
			}
		case len(p.Type) > len("Response") && p.Type[len(p.Type)-len("Response"):] == "Response":
			var a ackResponse
			if err := json.Unmarshal(p.Body, &a); err != nil {
				s.log.Debug("bad ack", "conn", c.id, "type", p.Type, "err", err)
				continue
			}
			c.ack(a.RequestID, a.ResultCode)
		default:
			s.log.Debug("ignoring stream message", "conn", c.id, "type", p.Type)
		}
	}
}

// sendSetupAck queues SetupAckRequest with the server's abilities. Nacos
// expects no ack for it; the client's SetupAckResponse, if any, matches no
// waiting request and is dropped.
func (s *Server) sendSetupAck(c *conn) {
	body, _ := json.Marshal(setupAckRequest{serverRequest: serverRequest{Headers: map[string]string{},
		RequestID: s.o.Wire.Stamps().RequestID(), Module: moduleInternal}, AbilityTable: ServerAbilities(s.o.Persistent != nil)})
	n := int64(len(body))
	if err := c.reserve(n); err != nil {
		s.log.Debug("SetupAckRequest not sent", "conn", c.id, "err", err)
		return
	}
	select {
	case c.out <- outMsg{p: &nacospb.Payload{Type: typeSetupAckRequest, Body: body}}:
		c.kick()
	case <-c.done:
		c.release(n)
	}
}

func (s *Server) ready() bool { return s.o.Ready == nil || s.o.Ready() }

// register makes c a registered connection, synchronously: the SDK sends
// its first request about 100ms after ConnectionSetupRequest.
func (s *Server) register(c *conn, clientIP string, req *connectionSetupRequest) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != stateNew {
		return nil
	}
	if !s.ready() {
		s.m.refused.Inc()
		s.log.Debug("connection refused: node not ready", "conn", c.id)
		return status.Error(codes.Unavailable, "nacosgrpc: "+msgServerStarting)
	}
	s.mu.Lock()
	if len(s.conns) >= s.o.MaxConnections {
		s.mu.Unlock()
		s.m.refused.Inc()
		s.log.Warn("connection refused: limit reached", "conn", c.id, "max", s.o.MaxConnections)
		return status.Errorf(codes.ResourceExhausted, "nacosgrpc: connection limit %d reached", s.o.MaxConnections)
	}
	s.conns[c.id] = c
	s.mu.Unlock()
	c.state = stateRegistered
	c.setupTimer.Stop()
	if c.setupWait != nil {
		close(c.setupWait)
		c.setupWait = nil
	}
	c.clientIP, c.version, c.labels = clientIP, req.ClientVersion, req.Labels
	c.tenant, c.abilities = req.Tenant, req.AbilityTable
	s.log.Debug("connection registered", "conn", c.id, "version", req.ClientVersion, "labels", req.Labels)
	return nil
}

// closeConn unregisters c, removes its instances (a tombstone that Distro
// replicates) and its subscriptions, and ends its stream; kill also closes
// the transport at once.
func (s *Server) closeConn(c *conn, reason string, kill bool) {
	c.mu.Lock()
	if c.state == stateClosed {
		c.mu.Unlock()
		return
	}
	was := c.state
	c.state = stateClosed
	close(c.done)
	c.mu.Unlock()
	if c.setupTimer != nil {
		c.setupTimer.Stop()
	}
	c.releaseAll()
	s.mu.Lock()
	if s.conns[c.id] == c {
		delete(s.conns, c.id)
	}
	s.mu.Unlock()
	if was == stateRegistered {
		s.o.Push.DropTarget(c.id)
		s.o.Store.RemoveClient(s.o.Now().UnixMilli(), c.id)
		s.log.Debug("connection closed", "conn", c.id, "reason", reason)
	}
	if kill && c.raw != nil {
		c.raw.Close()
	}
}

// detectLoop probes idle connections with ClientDetectionRequest.
func (s *Server) detectLoop() {
	defer s.wg.Done()
	every := min(max(s.o.IdleDetect/4, 10*time.Millisecond), 3*time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		now := s.o.Now().UnixMilli()
		s.mu.Lock()
		var idle []*conn
		for _, c := range s.conns {
			if now-c.lastActive.Load() >= s.o.IdleDetect.Milliseconds() && c.probing.CompareAndSwap(false, true) {
				idle = append(idle, c)
			}
		}
		s.mu.Unlock()
		for _, c := range idle {
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.probing.Store(false)
				s.probe(c)
			}()
		}
	}
}

func (s *Server) probe(c *conn) {
	rid := s.o.Wire.Stamps().RequestID()
	body, _ := json.Marshal(serverRequest{Headers: map[string]string{}, RequestID: rid, Module: moduleInternal})
	ctx, cancel := context.WithTimeout(context.Background(), s.o.DetectTimeout)
	defer cancel()
	go func() {
		select {
		case <-s.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	err := c.Request(ctx, typeClientDetectionRequest, rid, body)
	if err == nil || errors.Is(err, push.ErrTargetClosed) {
		return
	}
	select {
	case <-s.stop:
		return
	default:
	}
	s.m.detectFailed.Inc()
	s.log.Info("client detection failed, closing connection", "conn", c.id, "err", err)
	s.closeConn(c, "detection failed", true)
}
