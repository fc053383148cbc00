package cp

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// streamLayer is Raft's network layer on the Raft port: every connection
// runs the cluster handshake first, then carries either Raft's RPCs or,
// when its first byte is forwardByte, one forwarded write.
type streamLayer struct {
	lis     net.Listener
	o       Options
	forward func(net.Conn)
	conns   chan net.Conn
	done    chan struct{}
	once    sync.Once
}

func newStreamLayer(lis net.Listener, o Options, forward func(net.Conn)) *streamLayer {
	s := &streamLayer{lis: lis, o: o, forward: forward, conns: make(chan net.Conn), done: make(chan struct{})}
	go s.acceptLoop()
	return s
}

func (s *streamLayer) acceptLoop() {
	for {
		c, err := s.lis.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		go s.admit(c)
	}
}

// admit authenticates c and hands it to Raft or to the forward handler.
func (s *streamLayer) admit(raw net.Conn) {
	conn, peer, err := s.o.Handshake.Server(raw)
	if err != nil {
		s.o.Logger.Warn("refused a raft connection", "remote", raw.RemoteAddr().String(), "err", err)
		_ = raw.Close()
		return
	}
	if peer != "" && s.o.Blocked != nil {
		if s.o.Blocked(peer) {
			_ = conn.Close()
			return
		}
		conn = &blockableConn{Conn: conn, peer: peer, blocked: s.o.Blocked}
	}
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	var first [1]byte
	if _, err := io.ReadFull(conn, first[:]); err != nil {
		_ = conn.Close()
		return
	}
	_ = conn.SetReadDeadline(time.Time{})
	if first[0] == forwardByte {
		s.forward(conn)
		return
	}
	select {
	case s.conns <- &prefixConn{Conn: conn, first: first[0], has: true}:
	case <-s.done:
		_ = conn.Close()
	}
}

// Accept implements net.Listener for Raft.
func (s *streamLayer) Accept() (net.Conn, error) {
	select {
	case c := <-s.conns:
		return c, nil
	case <-s.done:
		return nil, net.ErrClosed
	}
}

// Close implements net.Listener.
func (s *streamLayer) Close() error {
	s.once.Do(func() { close(s.done) })
	return s.lis.Close()
}

// Addr implements net.Listener. It is the address this node advertises to
// its peers (Raft tells followers where the leader is by it), not the
// listener's, which may be the unspecified address.
func (s *streamLayer) Addr() net.Addr { return raftAddr(RaftAddr(s.o.Self, s.o.PortOffset)) }

// raftAddr is an advertised Raft address.
type raftAddr string

// Network implements net.Addr.
func (a raftAddr) Network() string { return "tcp" }

// String implements net.Addr.
func (a raftAddr) String() string { return string(a) }

// Dial implements raft.StreamLayer: it dials a member's Raft port and
// authenticates as this member, expecting the member that address belongs
// to.
func (s *streamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	member := RaftAddr(string(address), -s.o.PortOffset)
	if s.o.Blocked != nil && s.o.Blocked(member) {
		return nil, errBlocked
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	d := net.Dialer{}
	conn, err := d.DialContext(ctx, "tcp", string(address))
	if err != nil {
		return nil, err
	}
	c, err := s.o.Handshake.Client(ctx, conn, member)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	if s.o.Blocked != nil {
		c = &blockableConn{Conn: c, peer: member, blocked: s.o.Blocked}
	}
	return c, nil
}

// prefixConn gives back one byte read ahead of Raft.
type prefixConn struct {
	net.Conn
	first byte
	has   bool
}

// Read implements net.Conn.
func (c *prefixConn) Read(p []byte) (int, error) {
	if c.has && len(p) > 0 {
		p[0] = c.first
		c.has = false
		return 1, nil
	}
	return c.Conn.Read(p)
}

// errBlocked reports a connection cut by fault injection.
var errBlocked = errors.New("cp: peer blocked by fault injection")

// blockableConn fails once fault injection cuts its peer off, so that
// pooled Raft connections honour a partition made after they opened.
type blockableConn struct {
	net.Conn
	peer    string
	blocked func(string) bool
}

// Read implements net.Conn.
func (c *blockableConn) Read(p []byte) (int, error) {
	if c.blocked(c.peer) {
		_ = c.Conn.Close()
		return 0, errBlocked
	}
	return c.Conn.Read(p)
}

// Write implements net.Conn.
func (c *blockableConn) Write(p []byte) (int, error) {
	if c.blocked(c.peer) {
		_ = c.Conn.Close()
		return 0, errBlocked
	}
	return c.Conn.Write(p)
}
