package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distrod/distrod/internal/nacospb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
)

// GRPCOffset is the distance between a node's HTTP and gRPC ports.
const GRPCOffset = 1000

// GRPCAddr turns a host:httpPort target into its host:grpcPort.
func GRPCAddr(target string) (string, error) {
	host, port, err := net.SplitHostPort(target)
	if err != nil {
		return "", fmt.Errorf("bench: target %q: %w", target, err)
	}
	var p int
	if _, err := fmt.Sscanf(port, "%d", &p); err != nil || p <= 0 || p+GRPCOffset > 65535 {
		return "", fmt.Errorf("bench: target %q: bad port", target)
	}
	return net.JoinHostPort(host, fmt.Sprint(p+GRPCOffset)), nil
}

// Push is one NotifySubscriberRequest as received by a GRPCConn.
type Push struct {
	// At is when the payload was read off the stream.
	At time.Time
	// Info is the pushed service view.
	Info ServiceInfo
}

// GRPCOptions configures a GRPCConn. The zero value behaves like the SDK.
type GRPCOptions struct {
	// SetupWait is how long the client waits after ConnectionSetupRequest
	// before its first request. Default 100ms (the SDK's fixed sleep);
	// negative means no wait (tests).
	SetupWait time.Duration
	// Timeout bounds each unary request. Default 10s (the SDK's TimeoutMs).
	Timeout time.Duration
	// HealthInterval: after this long without a successful request the
	// connection sends HealthCheckRequest, as the SDK does every 5s.
	// Default 5s; negative disables.
	HealthInterval time.Duration
	// OnPush, if set, is called on the connection's receive goroutine for
	// every NotifySubscriberRequest, before the ack is sent (the SDK runs
	// its callbacks at the same point). It must not block.
	OnPush func(Push)
	// OnPushRaw, if set, replaces OnPush: it gets the undecoded body of
	// every NotifySubscriberRequest (only its requestId is read, by a byte
	// scan), so one load generator can hold thousands of subscribers of
	// large services without spending its CPU decoding serviceInfo
	// documents. It runs on the receive goroutine, before the ack; body is
	// only valid during the call. It must not block.
	OnPushRaw func(at time.Time, body []byte)
	// Dialer, if set, opens the TCP connection to the node's gRPC
	// address (e.g. from a chosen source address); default net.Dialer.
	Dialer func(ctx context.Context, addr string) (net.Conn, error)
}

// GRPCConn is one simulated nacos-sdk-go v2 naming client: one gRPC
// connection carrying the unary calls and the bi-stream. Call may be used
// from several goroutines; the simulated clients each use their own conn.
type GRPCConn struct {
	cc       *grpc.ClientConn
	stream   nacospb.ClientBiStream
	sendMu   sync.Mutex
	opts     GRPCOptions
	clientIP string
	cancel   context.CancelFunc
	done     chan struct{} // closed when the receive loop ends
	broken   atomic.Bool
	lastOK   atomic.Int64 // unix nanos of the last successful request
	pushes   atomic.Uint64
	resets   atomic.Uint64
	closeErr error
	once     sync.Once
}

// DialGRPC connects to the node whose HTTP address is target and performs
// the SDK's handshake: unary ServerCheckRequest (3 s deadline), open the
// bi-stream, send ConnectionSetupRequest with labels module=naming,
// source=sdk, wait SetupWait.
func DialGRPC(ctx context.Context, target string, o GRPCOptions) (*GRPCConn, error) {
	if o.SetupWait == 0 {
		o.SetupWait = 100 * time.Millisecond
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.HealthInterval == 0 {
		o.HealthInterval = 5 * time.Second
	}
	addr, err := GRPCAddr(target)
	if err != nil {
		return nil, err
	}
	const window = 10 << 20 // SDK: 10 MiB windows and max inbound message
	dopts := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		nacospb.DialOption(),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(window)),
		grpc.WithInitialWindowSize(window),
		grpc.WithInitialConnWindowSize(window),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 60 * time.Second, Timeout: 20 * time.Second, PermitWithoutStream: true}),
	}
	if o.Dialer != nil {
		dopts = append(dopts, grpc.WithContextDialer(o.Dialer))
	}
	cc, err := grpc.NewClient("passthrough:///"+addr, dopts...)
	if err != nil {
		return nil, fmt.Errorf("bench: dial %s: %w", addr, err)
	}
	c := &GRPCConn{cc: cc, opts: o, clientIP: LocalIP(), done: make(chan struct{})}
	if err := c.handshake(ctx); err != nil {
		c.cc.Close()
		return nil, fmt.Errorf("bench: handshake with %s: %w", addr, err)
	}
	return c, nil
}

func (c *GRPCConn) handshake(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	body, _ := json.Marshal(internalReq{Module: "internal"})
	out, err := nacospb.Invoke(cctx, c.cc, &nacospb.Payload{Type: TypeServerCheckRequest, Headers: map[string]string{},
		ClientIP: c.clientIP, Body: body})
	if err != nil {
		return err
	}
	// The SDK accepts any JSON answer here (only a body that is not JSON
	// fails the connection).
	var h respHead
	if err := json.Unmarshal(out.Body, &h); err != nil {
		return fmt.Errorf("%w: ServerCheck body: %v", ErrShortAnswer, err)
	}
	sctx, scancel := context.WithCancel(context.Background())
	c.cancel = scancel
	st, err := nacospb.OpenBiStream(sctx, c.cc)
	if err != nil {
		scancel()
		return err
	}
	c.stream = st
	go c.recvLoop()
	setup, _ := json.Marshal(connectionSetupReq{internalReq: internalReq{Module: "internal"},
		ClientVersion: ClientVersionV2, Labels: map[string]string{"module": "naming", "source": "sdk"}})
	if err := c.send(&nacospb.Payload{Type: TypeConnectionSetupRequest, Headers: map[string]string{}, ClientIP: c.clientIP, Body: setup}); err != nil {
		scancel()
		return err
	}
	if c.opts.SetupWait > 0 {
		t := time.NewTimer(c.opts.SetupWait)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			scancel()
			return ctx.Err()
		}
	}
	c.lastOK.Store(time.Now().UnixNano())
	if c.opts.HealthInterval > 0 {
		go c.healthLoop()
	}
	return nil
}

func (c *GRPCConn) send(p *nacospb.Payload) error {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	return c.stream.Send(p)
}

// recvLoop answers server requests on the bi-stream as the SDK does.
func (c *GRPCConn) recvLoop() {
	defer close(c.done)
	for {
		p, err := c.stream.Recv()
		if err != nil {
			c.broken.Store(true)
			return
		}
		at := time.Now()
		var ackType string
		var reqID *string
		switch p.Type {
		case TypeNotifySubscriberRequest:
			if c.opts.OnPushRaw != nil {
				id, ok := scanRequestID(p.Body)
				if !ok {
					continue
				}
				c.pushes.Add(1)
				c.opts.OnPushRaw(at, p.Body)
				ackType, reqID = TypeNotifySubscriberResponse, &id
				break
			}
			var n notifyReq
			if err := json.Unmarshal(p.Body, &n); err != nil {
				continue // SDK: undecodable -> log, no reply
			}
			c.pushes.Add(1)
			if c.opts.OnPush != nil {
				c.opts.OnPush(Push{At: at, Info: n.ServiceInfo})
			}
			ackType, reqID = TypeNotifySubscriberResponse, n.RequestID
		case TypeClientDetectionRequest:
			var h struct {
				RequestID *string `json:"requestId"`
			}
			if json.Unmarshal(p.Body, &h) != nil {
				continue
			}
			ackType, reqID = TypeClientDetectionResponse, h.RequestID
		case TypeConnectResetRequest:
			// The SDK acks and reconnects; a simulated client acks, counts
			// the reset and keeps its connection (scenarios report resets).
			var h struct {
				RequestID *string `json:"requestId"`
			}
			if json.Unmarshal(p.Body, &h) != nil {
				continue
			}
			c.resets.Add(1)
			ackType, reqID = TypeConnectResetResponse, h.RequestID
		default:
			continue // SDK: unsupported payload type -> log, no reply
		}
		ack := ackResp{ResultCode: 200, Success: ackType == TypeNotifySubscriberResponse}
		if reqID != nil {
			ack.RequestID = *reqID
		}
		body, _ := json.Marshal(ack)
		if err := c.send(&nacospb.Payload{Type: ackType, ClientIP: c.clientIP, Body: body}); err != nil {
			c.broken.Store(true)
			return
		}
	}
}

// healthLoop sends HealthCheckRequest when the connection has been idle
// for HealthInterval, like the SDK's keep-alive timer.
func (c *GRPCConn) healthLoop() {
	t := time.NewTicker(c.opts.HealthInterval)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case now := <-t.C:
			if now.UnixNano()-c.lastOK.Load() < int64(c.opts.HealthInterval) {
				continue
			}
			body, _ := json.Marshal(internalReq{Module: "internal"})
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			_, _ = c.Call(ctx, TypeHealthCheckRequest, nil, body, TypeHealthCheckResponse)
			cancel()
		}
	}
}

// Call sends one unary request with a pre-encoded JSON body and returns the
// response body; see CallInto.
func (c *GRPCConn) Call(ctx context.Context, reqType string, headers map[string]string, body []byte, wantType string) ([]byte, error) {
	return c.CallInto(ctx, reqType, headers, body, wantType, new(respHead))
}

// CallInto sends one unary request with a pre-encoded JSON body, decodes
// the response into dst and returns the raw response body. It fails with a *StatusError for ErrorResponse or a
// non-success answer, ErrShortAnswer for the wrong response type, and
// ErrConnBroken once the bi-stream has ended (a real client would be
// reconnecting then).
func (c *GRPCConn) CallInto(ctx context.Context, reqType string, headers map[string]string, body []byte, wantType string, dst headed) ([]byte, error) {
	if c.broken.Load() {
		return nil, ErrConnBroken
	}
	if headers == nil {
		headers = map[string]string{}
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	out, err := nacospb.Invoke(ctx, c.cc, &nacospb.Payload{Type: reqType, Headers: headers, ClientIP: c.clientIP, Body: body})
	if err != nil {
		return nil, err
	}
	if err := checkResponse(out.Type, out.Body, wantType, dst); err != nil {
		return nil, err
	}
	c.lastOK.Store(time.Now().UnixNano())
	return out.Body, nil
}

// RegisterInstance sends InstanceRequest registerInstance.
func (c *GRPCConn) RegisterInstance(ctx context.Context, namespace, service string, inst Instance) error {
	body, err := json.Marshal(instanceReq{namingReq: newNamingReq(namespace, service), Type: "registerInstance", Instance: inst})
	if err != nil {
		return err
	}
	_, err = c.Call(ctx, TypeInstanceRequest, nil, body, TypeInstanceResponse)
	return err
}

// BatchRegister sends BatchInstanceRequest batchRegisterInstance.
func (c *GRPCConn) BatchRegister(ctx context.Context, namespace, service string, insts []Instance) error {
	body, err := json.Marshal(batchInstanceReq{namingReq: newNamingReq(namespace, service), Type: "batchRegisterInstance", Instances: insts})
	if err != nil {
		return err
	}
	_, err = c.Call(ctx, TypeBatchInstanceRequest, nil, body, TypeBatchInstanceResponse)
	return err
}

// QueryService sends ServiceQueryRequest and returns the serviceInfo.
func (c *GRPCConn) QueryService(ctx context.Context, namespace, service string) (ServiceInfo, error) {
	body, err := json.Marshal(serviceQueryReq{namingReq: newNamingReq(namespace, service)})
	if err != nil {
		return ServiceInfo{}, err
	}
	var r serviceInfoResp
	if _, err := c.CallInto(ctx, TypeServiceQueryRequest, nil, body, TypeQueryServiceResponse, &r); err != nil {
		return ServiceInfo{}, err
	}
	return r.ServiceInfo, nil
}

// Subscribe sends SubscribeServiceRequest (subscribe=true, no clusters) with
// the "app" header, and returns the current serviceInfo.
func (c *GRPCConn) Subscribe(ctx context.Context, namespace, service string) (ServiceInfo, error) {
	body, err := json.Marshal(subscribeReq{namingReq: newNamingReq(namespace, service), Subscribe: true})
	if err != nil {
		return ServiceInfo{}, err
	}
	var r serviceInfoResp
	if _, err := c.CallInto(ctx, TypeSubscribeServiceRequest, map[string]string{"app": AppName}, body, TypeSubscribeServiceResponse, &r); err != nil {
		return ServiceInfo{}, err
	}
	return r.ServiceInfo, nil
}

// Pushes returns how many NotifySubscriberRequests were received.
func (c *GRPCConn) Pushes() uint64 { return c.pushes.Load() }

// Resets returns how many ConnectResetRequests were received.
func (c *GRPCConn) Resets() uint64 { return c.resets.Load() }

// Broken reports whether the bi-stream has ended.
func (c *GRPCConn) Broken() bool { return c.broken.Load() }

// Close ends the stream and the connection, like the SDK's CloseClient:
// no deregistration is sent. It is idempotent.
func (c *GRPCConn) Close() error {
	c.once.Do(func() {
		if c.cancel != nil {
			c.cancel()
		}
		c.closeErr = c.cc.Close()
		if c.cancel != nil {
			<-c.done
		}
	})
	if errors.Is(c.closeErr, io.EOF) {
		return nil
	}
	return c.closeErr
}

var (
	localIPOnce sync.Once
	localIP     string
)

// LocalIP returns what the SDK puts in Metadata.clientIp and the v1
// clientIP parameter: the first non-loopback IPv4 address of this host, or
// "" when there is none. It is only ever sent as data.
func LocalIP() string {
	localIPOnce.Do(func() {
		addrs, err := net.InterfaceAddrs()
		if err != nil {
			return
		}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
				localIP = n.IP.String()
				return
			}
		}
	})
	return localIP
}
