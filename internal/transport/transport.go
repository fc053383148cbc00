// Package transport carries the Distro core's messages between distrod
// nodes over gRPC on the cluster port (HTTP port + 1001), with protobuf
// messages of our own (clusterpb), and answers membership probes.
//
// Each node keeps one long client stream to every peer it talks to and
// writes its messages into it; answers come back on the peer's own stream
// to us. Sending never blocks the caller: every peer has a bounded queue
// drained by its own goroutine, and a message that cannot be queued or
// written is reported through the failure callback, which the Distro core
// turns into a retry. Received messages are handed to the Handler with
// the context of the stream that delivered them, so a handler that waits
// (for room in the receiver's inbox) stops waiting once that stream ends.
//
// Trust: with a cluster secret, every connection starts with a mutual
// challenge-response handshake (auth.go) before gRPC reads a byte; a
// connection that does not complete it within HandshakeTimeout is closed.
// With TLS as well, a mutual TLS handshake against the cluster CA comes
// first and carries everything after it, encrypted.
// The handshake binds the connection to the member address the client
// proved it speaks for, and every message's From must be that address.
// With or without a secret, the transport talks only to current members
// (SetMembers, fed from configuration or DNS, never from a message): a
// message or probe from anyone else is refused, and Send and Ping refuse
// an address that is not a member, so no message can make a node dial an
// address of its sender's choosing and per-peer state is bounded by the
// member list. Refusals are counted (Refused) and logged at a bounded rate.
package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	grpcpeer "google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/distrod/distrod/internal/distro"
	"github.com/distrod/distrod/internal/tlsfiles"
	pb "github.com/distrod/distrod/internal/transport/clusterpb"
)

// Errors.
var (
	ErrBadMessage = errors.New("transport: bad message")
	ErrClosed     = errors.New("transport: closed")
)

// ErrNotMember is returned for a peer address that is not a current
// member of this node's view.
var ErrNotMember = errors.New("transport: not a current member")

// Options configure a Transport.
type Options struct {
	// Self is this node's member address ("ip:port", the HTTP port).
	Self string
	// PortOffset maps a member address to its cluster port (default 1001).
	PortOffset int
	// Secret, when not empty, is the shared cluster secret: connections in
	// both directions must complete the handshake of auth.go. Empty runs
	// plain gRPC (cluster-insecure): membership checks still apply, but
	// anyone who reaches the port can claim to be a member.
	Secret string
	// TLS, when set (with Secret), runs every connection in mutual TLS
	// with the secret handshake inside (auth.go): each member's
	// certificate must chain to the Source's CA and name the host of its
	// member address. The Source's files are re-read when they change.
	TLS *tlsfiles.Source
	// HandshakeTimeout bounds a new connection's handshake (default 3s).
	HandshakeTimeout time.Duration
	// MaxHandshakes bounds the handshakes in progress; a connection beyond
	// it is closed at once (default 256, far above what members need).
	MaxHandshakes int
	// MaxMessageBytes bounds one message (default 10 MiB, the default of
	// config's MaxGRPCMessageBytes, which the server sets it to).
	MaxMessageBytes int
	// QueueSize bounds each peer's outgoing queue, in messages (default 4096).
	QueueSize int
	// Ready reports this node's readiness in Ping answers.
	Ready func() bool
	// Logger receives transport events.
	Logger *slog.Logger
	// Forward runs writes forwarded by peers (forward.go); nil refuses them.
	Forward ForwardHandler
}

// Handler receives a decoded message from a peer. It is called from the
// goroutine of the stream that delivered the message and must not block
// for long; ctx is that stream's context, done once the stream has ended
// (the peer went away or the server is stopping), so a handler that waits
// must give up then.
type Handler func(ctx context.Context, from string, msg distro.Message)

// FailHandler is told about a message that could not be delivered.
type FailHandler func(to string, msg distro.Message)

// Transport is one node's cluster endpoint. Its methods are safe for
// concurrent use.
type Transport struct {
	o      Options
	onMsg  Handler
	onFail FailHandler
	server *grpc.Server

	sent, recv [16]counter // by distro.MsgType

	members  atomic.Pointer[map[string]bool]
	refused  [NumRefusals]atomic.Uint64
	lastWarn [NumRefusals]atomic.Int64 // unix nanos of the last log line

	mu      sync.Mutex
	peers   map[string]*peer
	closed  bool
	blocked map[string]bool
}

// Refusal reasons, the indexes of Refused's result.
const (
	// RefusedHandshake: a connection failed authentication.
	RefusedHandshake = iota
	// RefusedNotMember: a message or probe came from an address that is
	// not a current member (or is this node).
	RefusedNotMember
	// RefusedForgedFrom: an authenticated peer sent a message whose From
	// is not the member address it authenticated as.
	RefusedForgedFrom
	// RefusedUnknownDestination: Send or Ping was asked to reach an
	// address that is not a current member.
	RefusedUnknownDestination
	// NumRefusals is the number of refusal reasons.
	NumRefusals
)

// RefusalNames names the refusal reasons, for metric labels.
var RefusalNames = [NumRefusals]string{"handshake", "not_member", "forged_from", "unknown_destination"}

// Refused returns how many connections, messages and sends were refused,
// by reason (indexed by the Refused* constants).
func (t *Transport) Refused() [NumRefusals]uint64 {
	var out [NumRefusals]uint64
	for i := range out {
		out[i] = t.refused[i].Load()
	}
	return out
}

// refuse counts a refusal and logs it, at most once every 10s per reason
// (a flood of forged traffic must not flood the log).
func (t *Transport) refuse(reason int, msg string, attrs ...any) {
	n := t.refused[reason].Add(1)
	now := time.Now().UnixNano()
	last := t.lastWarn[reason].Load()
	if now-last < int64(10*time.Second) || !t.lastWarn[reason].CompareAndSwap(last, now) {
		return
	}
	t.o.Logger.Warn(msg, append(attrs, "reason", RefusalNames[reason], "refused_total", n)...)
}

// SetMembers sets the member addresses this transport talks to: messages
// and probes are accepted only from them, and Send and Ping reach only
// them. Call it with the configured (or resolved) member list, never with
// addresses learned from messages. Safe for concurrent use.
func (t *Transport) SetMembers(addrs []string) {
	m := make(map[string]bool, len(addrs))
	for _, a := range addrs {
		if a != t.o.Self {
			m[a] = true
		}
	}
	t.members.Store(&m)
}

// IsMember reports whether addr is a current member other than this node.
func (t *Transport) IsMember(addr string) bool {
	m := t.members.Load()
	return m != nil && (*m)[addr]
}

// Authenticates reports whether peers must prove the cluster secret, so
// that a message's sender is known to be who it says.
func (t *Transport) Authenticates() bool { return t.o.Secret != "" }

type counter struct{ msgs, bytes atomic.Uint64 }

// Traffic counts messages and encoded bytes of one message type.
type Traffic struct {
	Type         string
	SentMessages uint64
	SentBytes    uint64
	RecvMessages uint64
	RecvBytes    uint64
}

// Traffic returns cumulative per-type counters of messages written to and
// read from peer streams.
func (t *Transport) Traffic() []Traffic {
	var out []Traffic
	for i := 1; i < len(t.sent); i++ {
		name := distro.MsgType(i).String()
		if name == "Unknown" {
			continue
		}
		out = append(out, Traffic{Type: name,
			SentMessages: t.sent[i].msgs.Load(), SentBytes: t.sent[i].bytes.Load(),
			RecvMessages: t.recv[i].msgs.Load(), RecvBytes: t.recv[i].bytes.Load()})
	}
	return out
}

func count(cs *[16]counter, m distro.Message, env *pb.Envelope) {
	if i := int(m.Type()); i > 0 && i < len(cs) {
		cs[i].msgs.Add(1)
		cs[i].bytes.Add(uint64(proto.Size(env)))
	}
}

// ErrBlocked is returned for traffic to or from a peer cut off by Block.
var ErrBlocked = errors.New("transport: peer blocked by fault injection")

// Block cuts this node off from the given peers in both directions: sends
// and probes to them fail, and their messages and probes are refused.
// Block(nil) heals. It exists for partition tests and benchmarks.
func (t *Transport) Block(peers []string) {
	m := make(map[string]bool, len(peers))
	for _, p := range peers {
		m[p] = true
	}
	t.mu.Lock()
	t.blocked = m
	t.mu.Unlock()
}

func (t *Transport) isBlocked(addr string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.blocked[addr]
}

// New returns a transport; call Serve to accept peers.
func New(o Options, onMsg Handler, onFail FailHandler) *Transport {
	if o.PortOffset == 0 {
		o.PortOffset = 1001
	}
	if o.MaxMessageBytes == 0 {
		o.MaxMessageBytes = 10 << 20
	}
	if o.QueueSize == 0 {
		o.QueueSize = 4096
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Ready == nil {
		o.Ready = func() bool { return true }
	}
	if o.HandshakeTimeout == 0 {
		o.HandshakeTimeout = 3 * time.Second
	}
	if o.MaxHandshakes == 0 {
		o.MaxHandshakes = 256
	}
	t := &Transport{o: o, onMsg: onMsg, onFail: onFail, peers: map[string]*peer{}}
	creds := insecure.NewCredentials()
	if o.Secret != "" {
		sc := &secretCreds{self: o.Self, secret: []byte(o.Secret), timeout: o.HandshakeTimeout,
			slots: make(chan struct{}, o.MaxHandshakes),
			accept: func(p string) error {
				if !t.IsMember(p) {
					return fmt.Errorf("%w: %w: %s", ErrHandshake, ErrNotMember, p)
				}
				return nil
			},
			failed: func(remote net.Addr, err error) {
				t.refuse(RefusedHandshake, "refused a cluster connection", "remote", remote.String(), "err", err)
			},
			tls: o.TLS}
		if o.TLS != nil {
			sc.tlsServer = o.TLS.ServerConfig()
		}
		creds = sc
	}
	t.server = grpc.NewServer(
		grpc.Creds(creds),
		// Bounds the handshake and the HTTP/2 preface after it, so an
		// unauthenticated connection is never kept idle.
		grpc.ConnectionTimeout(o.HandshakeTimeout),
		grpc.MaxRecvMsgSize(o.MaxMessageBytes),
		grpc.MaxSendMsgSize(o.MaxMessageBytes),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
		grpc.UnaryInterceptor(t.authUnary),
		grpc.StreamInterceptor(t.authStream),
	)
	pb.RegisterClusterServer(t.server, &service{t: t})
	return t
}

// ClusterAddr returns the cluster endpoint of a member address.
func ClusterAddr(member string, offset int) (string, error) {
	host, port, err := net.SplitHostPort(member)
	if err != nil {
		return "", fmt.Errorf("transport: member %q: %w", member, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return "", fmt.Errorf("transport: member %q: bad port: %w", member, err)
	}
	return net.JoinHostPort(host, strconv.Itoa(p+offset)), nil
}

// Serve accepts peer connections on lis until Close.
func (t *Transport) Serve(lis net.Listener) error {
	if err := t.server.Serve(lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("transport: serve: %w", err)
	}
	return nil
}

// Close stops the server and every peer stream.
func (t *Transport) Close() {
	t.mu.Lock()
	t.closed = true
	peers := t.peers
	t.peers = map[string]*peer{}
	t.mu.Unlock()
	for _, p := range peers {
		p.close()
	}
	t.server.Stop()
}

// Send queues msg for delivery to the member at address to. It never
// blocks; a full queue, or an address that is not a current member,
// reports the message as failed at once.
func (t *Transport) Send(to string, msg distro.Message) {
	if !t.IsMember(to) {
		t.refuse(RefusedUnknownDestination, "refused to send to an address that is not a member", "to", to)
		t.onFail(to, msg)
		return
	}
	if t.isBlocked(to) {
		t.onFail(to, msg)
		return
	}
	p, err := t.peer(to)
	if err != nil {
		t.onFail(to, msg)
		return
	}
	select {
	case p.queue <- msg:
	default:
		t.onFail(to, msg)
	}
}

// Ping probes a member and reports whether it answered and is ready.
func (t *Transport) Ping(ctx context.Context, to string) (ready bool, err error) {
	if t.isBlocked(to) {
		return false, fmt.Errorf("transport: ping %s: %w", to, ErrBlocked)
	}
	if !t.IsMember(to) {
		t.refuse(RefusedUnknownDestination, "refused to probe an address that is not a member", "to", to)
		return false, fmt.Errorf("transport: ping %s: %w", to, ErrNotMember)
	}
	p, err := t.peer(to)
	if err != nil {
		return false, err
	}
	resp, err := pb.NewClusterClient(p.conn).Ping(ctx, &pb.PingRequest{From: t.o.Self})
	if err != nil {
		return false, fmt.Errorf("transport: ping %s: %w", to, err)
	}
	return resp.GetReady(), nil
}

func (t *Transport) peer(addr string) (*peer, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, ErrClosed
	}
	if p := t.peers[addr]; p != nil {
		return p, nil
	}
	target, err := ClusterAddr(addr, t.o.PortOffset)
	if err != nil {
		return nil, err
	}
	creds := insecure.NewCredentials()
	if t.o.Secret != "" {
		creds = &secretCreds{self: t.o.Self, secret: []byte(t.o.Secret), timeout: t.o.HandshakeTimeout, expect: addr, tls: t.o.TLS}
	}
	conn, err := grpc.NewClient(target,
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(t.o.MaxMessageBytes), grpc.MaxCallSendMsgSize(t.o.MaxMessageBytes)),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 10 * time.Second, Timeout: 5 * time.Second, PermitWithoutStream: true}),
		// Peers restart and come back within seconds; gRPC's default
		// reconnect backoff (1s growing to 2min) would leave a restarted
		// peer unreachable from here long after it is up again.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 20 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
			MinConnectTimeout: time.Second,
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("transport: dial %s: %w", target, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &peer{t: t, addr: addr, conn: conn, queue: make(chan distro.Message, t.o.QueueSize), ctx: ctx, cancel: cancel, done: make(chan struct{})}
	t.peers[addr] = p
	go p.run()
	return p, nil
}

// Forget closes the connection to a member that left the cluster.
func (t *Transport) Forget(addr string) {
	t.mu.Lock()
	p := t.peers[addr]
	delete(t.peers, addr)
	t.mu.Unlock()
	if p != nil {
		p.close()
	}
}

type peer struct {
	t      *Transport
	addr   string
	conn   *grpc.ClientConn
	queue  chan distro.Message
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
}

func (p *peer) close() {
	p.cancel()
	<-p.done
	_ = p.conn.Close()
}

// run drains the queue into one client stream, reopening it after errors.
func (p *peer) run() {
	defer close(p.done)
	var stream grpc.ClientStreamingClient[pb.Envelope, pb.StreamSummary]
	var streamCancel context.CancelFunc
	var broken chan error
	var recvDone chan struct{} // closed when the stream's receiver returns
	closeStream := func() {
		if stream != nil {
			_ = stream.CloseSend()
			streamCancel()
			<-recvDone // cancelling the stream ends its receiver
			stream, streamCancel, broken, recvDone = nil, nil, nil, nil
		}
	}
	defer closeStream()
	for {
		var msg distro.Message
		select {
		case <-p.ctx.Done():
			return
		case msg = <-p.queue:
		}
		env, err := Encode(p.t.o.Self, msg)
		if err != nil {
			p.t.o.Logger.Error("cannot encode message", "to", p.addr, "type", fmt.Sprintf("%T", msg), "err", err)
			continue
		}
		if broken != nil {
			select {
			case err := <-broken:
				level := slog.LevelDebug
				if status.Code(err) == codes.Unauthenticated {
					level = slog.LevelError
				}
				p.t.o.Logger.Log(p.ctx, level, "cluster stream to peer ended", "peer", p.addr, "err", err)
				closeStream()
			default:
			}
		}
		open := func() bool {
			// Wait briefly for a reconnecting peer rather than failing at
			// once; the bound keeps one dead peer from stalling its queue.
			if st := p.conn.GetState(); st != connectivity.Ready {
				p.conn.Connect()
				wctx, wcancel := context.WithTimeout(p.ctx, 300*time.Millisecond)
				for st != connectivity.Ready && p.conn.WaitForStateChange(wctx, st) {
					st = p.conn.GetState()
				}
				wcancel()
			}
			ctx, cancel := context.WithCancel(p.ctx)
			s, err := pb.NewClusterClient(p.conn).Stream(ctx)
			if err != nil {
				cancel()
				return false
			}
			stream, streamCancel = s, cancel
			// The server only answers when the stream ends; a receiver
			// goroutine notices that (a refused secret, a restart) so the
			// next message opens a new stream instead of vanishing.
			broken, recvDone = make(chan error, 1), make(chan struct{})
			go func(s grpc.ClientStreamingClient[pb.Envelope, pb.StreamSummary], ch chan error, done chan struct{}) {
				defer close(done)
				err := s.RecvMsg(new(pb.StreamSummary))
				if err == nil {
					err = errors.New("stream closed by peer")
				}
				ch <- err
			}(s, broken, recvDone)
			return true
		}
		if stream == nil && !open() {
			p.t.onFail(p.addr, msg)
			continue
		}
		if err := stream.Send(env); err != nil {
			// The peer may have restarted since the stream opened: one
			// fresh stream before reporting the message as failed.
			closeStream()
			if !open() || stream.Send(env) != nil {
				closeStream()
				p.t.onFail(p.addr, msg)
				continue
			}
		}
		count(&p.t.sent, msg, env)
	}
}

type service struct {
	pb.UnimplementedClusterServer
	t *Transport
}

func (s *service) Stream(stream grpc.ClientStreamingServer[pb.Envelope, pb.StreamSummary]) error {
	var n uint64
	for {
		env, err := stream.Recv()
		if err != nil {
			return stream.SendAndClose(&pb.StreamSummary{Received: n})
		}
		n++
		if err := s.t.checkSender(stream.Context(), env.GetFrom()); err != nil {
			// A member never sends this; end the stream rather than read on.
			return err
		}
		if s.t.isBlocked(env.GetFrom()) {
			continue
		}
		msg, err := Decode(env)
		if err != nil {
			s.t.o.Logger.Warn("dropping undecodable cluster message", "from", env.GetFrom(), "err", err)
			continue
		}
		count(&s.t.recv, msg, env)
		s.t.onMsg(stream.Context(), env.GetFrom(), msg)
	}
}

func (s *service) Ping(ctx context.Context, req *pb.PingRequest) (*pb.PingResponse, error) {
	if err := s.t.checkSender(ctx, req.GetFrom()); err != nil {
		return nil, err
	}
	if s.t.isBlocked(req.GetFrom()) {
		return nil, status.Error(codes.Unavailable, ErrBlocked.Error())
	}
	return &pb.PingResponse{Addr: s.t.o.Self, Ready: s.t.o.Ready()}, nil
}

// authenticatedPeer returns the member address the connection of ctx
// authenticated as, or "" when the transport runs without a secret.
func (t *Transport) authenticatedPeer(ctx context.Context) (string, error) {
	if t.o.Secret == "" {
		return "", nil
	}
	p, ok := grpcpeer.FromContext(ctx)
	if !ok {
		return "", status.Error(codes.Unauthenticated, "transport: unauthenticated cluster connection")
	}
	ai, ok := p.AuthInfo.(AuthInfo)
	if !ok || ai.Peer == "" {
		return "", status.Error(codes.Unauthenticated, "transport: unauthenticated cluster connection")
	}
	return ai.Peer, nil
}

// authorized is the per-call check. The handshake already refused every
// connection without the secret; this makes sure no call is served on a
// connection that bypassed it, and that the authenticated peer is still a
// member (it may have been removed since it connected).
func (t *Transport) authorized(ctx context.Context) error {
	p, err := t.authenticatedPeer(ctx)
	if err != nil || p == "" {
		return err
	}
	if !t.IsMember(p) {
		t.refuse(RefusedNotMember, "refused a call from a peer that is no longer a member", "peer", p)
		return status.Errorf(codes.PermissionDenied, "transport: %s is not a member of %s", p, t.o.Self)
	}
	return nil
}

// checkSender refuses a message or probe whose From is not a current
// member, or differs from the member the connection authenticated as.
func (t *Transport) checkSender(ctx context.Context, from string) error {
	p, err := t.authenticatedPeer(ctx)
	if err != nil {
		return err
	}
	if p != "" && from != p {
		t.refuse(RefusedForgedFrom, "refused a cluster message whose sender differs from the authenticated peer", "peer", p, "from", from)
		return status.Errorf(codes.PermissionDenied, "transport: connection authenticated as %s sent a message from %q", p, from)
	}
	if !t.IsMember(from) {
		t.refuse(RefusedNotMember, "refused a cluster message from an address that is not a member", "from", from)
		return status.Errorf(codes.PermissionDenied, "transport: %q is not a member of %s", from, t.o.Self)
	}
	return nil
}

func (t *Transport) authUnary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if err := t.authorized(ctx); err != nil {
		return nil, err
	}
	return h(ctx, req)
}

func (t *Transport) authStream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if err := t.authorized(ss.Context()); err != nil {
		return err
	}
	return h(srv, ss)
}
