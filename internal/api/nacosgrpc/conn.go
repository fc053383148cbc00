package nacosgrpc

import (
	"context"
	"fmt"
	"golang.org/x/time/rate"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distrod/distrod/internal/nacospb"
	"github.com/distrod/distrod/internal/push"
)

type connState uint8

const (
	stateNew        connState = iota // transport up, no ConnectionSetupRequest yet
	stateRegistered                  // bi-stream set up: requests allowed
	stateClosed                      // unregistered; data removed
)

// outMsg is one payload for the stream's sender goroutine.
type outMsg struct {
	p    *nacospb.Payload
	sent chan error // optional
}

// conn is one SDK transport. Its id is the naming client id of everything
// it registers.
//
// Locking: mu guards state and the descriptive fields. Request handlers
// hold mu.RLock while they write to the store or the push engine on the
// connection's behalf, and closeConn takes mu.Lock to move to stateClosed
// before it removes the connection's data, so a request racing with the
// close can never re-create data after the removal.
type conn struct {
	s       *Server
	id      string
	remote  netip.AddrPort
	created time.Time
	raw     net.Conn

	lastActive atomic.Int64 // Unix ms of the last request or ack
	// streamOpened is set when the transport reads the bi-stream's
	// headers, before the stream's handler runs.
	streamOpened atomic.Bool
	probing      atomic.Bool
	limit        *rate.Limiter // nil: no request-rate limit

	mu       sync.RWMutex
	state    connState
	streamOn bool
	clientIP string
	version  string
	labels   map[string]string
	tenant   string
	// abilities is the client's ability table (nil: no negotiation).
	abilities map[string]bool
	// setupWait, made by the first request that waits for the setup
	// (awaitSetup), is closed on registration.
	setupWait chan struct{}

	out  chan outMsg
	done chan struct{} // closed on stateClosed

	// calls counts the unary calls in flight on the transport.
	calls atomic.Int32

	// sendMu guards the sender goroutine's state: stream is set when the
	// bi-stream opens; sending while a sender runs (sendIdle is closed
	// when it exits); sendStopped once the stream handler ended, after
	// which no sender starts.
	sendMu      sync.Mutex
	stream      nacospb.BiStream
	sending     bool
	sendStopped bool
	sendIdle    chan struct{}

	ackMu sync.Mutex
	acks  map[string]chan int

	setupTimer *time.Timer // closes the transport if it never sets up

	// qmu guards queued, the push bytes in out or being sent, and qclosed,
	// set when the connection closes and its bytes were given back.
	qmu     sync.Mutex
	queued  int64
	qclosed bool
}

var _ push.SharedTarget = (*conn)(nil)

// ID returns the connection id ("<ms>_<ip>_<port>").
func (c *conn) ID() string { return c.id }

func (c *conn) touch() { c.lastActive.Store(c.s.o.Now().UnixMilli()) }

// Request sends a server request on the bi-stream and waits for the ack
// with the same requestId; acks are judged by resultCode (the SDK leaves
// success false on some of them).
func (c *conn) Request(ctx context.Context, typ, requestID string, body []byte) error {
	return c.request(ctx, &nacospb.Payload{Type: typ, Body: body}, requestID)
}

// RequestShared is Request for a body split into shared and tail
// (push.SharedTarget): the message references shared, which the push
// engine hands to every subscriber of one service view, instead of
// copying it. Queued bytes are accounted as for Request.
func (c *conn) RequestShared(ctx context.Context, typ, requestID string, shared, tail []byte) error {
	return c.request(ctx, &nacospb.Payload{Type: typ, Body: shared, BodyTail: tail}, requestID)
}

// request queues p and waits for the ack of requestID. The stream's sender
// gives back len(p.Body) queued bytes when it has sent p.
func (c *conn) request(ctx context.Context, p *nacospb.Payload, requestID string) error {
	typ := p.Type
	ch := make(chan int, 1)
	c.ackMu.Lock()
	select {
	case <-c.done:
		c.ackMu.Unlock()
		return push.ErrTargetClosed
	default:
	}
	c.acks[requestID] = ch
	c.ackMu.Unlock()
	defer func() {
		c.ackMu.Lock()
		delete(c.acks, requestID)
		c.ackMu.Unlock()
	}()
	n := int64(len(p.Body))
	if err := c.reserve(n); err != nil {
		return err
	}
	select {
	case c.out <- outMsg{p: p}:
		c.kick()
	case <-c.done:
		c.release(n)
		return push.ErrTargetClosed
	case <-ctx.Done():
		c.release(n)
		return ctx.Err()
	}
	select {
	case code := <-ch:
		if code != CodeSuccess {
			return fmt.Errorf("nacosgrpc: %s %s acked with resultCode %d", typ, requestID, code)
		}
		return nil
	case <-c.done:
		return push.ErrTargetClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// kick starts the sender goroutine unless one runs (or the stream has
// ended, or has not opened yet: nothing is queued before registration,
// which happens on the open stream).
func (c *conn) kick() {
	c.sendMu.Lock()
	if c.sending || c.sendStopped || c.stream == nil {
		c.sendMu.Unlock()
		return
	}
	c.sending = true
	c.sendIdle = make(chan struct{})
	st := c.stream
	c.sendMu.Unlock()
	go c.sendQueued(st)
}

// sendQueued sends what is queued on the bi-stream, the only sender while
// it runs, and exits when the queue is empty (checked under sendMu, so a
// message queued meanwhile finds either this sender still running or none,
// and then starts one) or the connection closed.
func (c *conn) sendQueued(st nacospb.BiStream) {
	for {
		select {
		case <-c.done:
			c.senderExit()
			return
		case m := <-c.out:
			err := st.Send(m.p)
			c.release(int64(len(m.p.Body)))
			if m.sent != nil {
				m.sent <- err
			}
			if err != nil {
				c.senderExit()
				c.s.closeConn(c, "send failed", true)
				return
			}
		default:
			c.sendMu.Lock()
			if len(c.out) == 0 || c.sendStopped {
				c.sending = false
				close(c.sendIdle)
				c.sendMu.Unlock()
				return
			}
			c.sendMu.Unlock()
		}
	}
}

func (c *conn) senderExit() {
	c.sendMu.Lock()
	c.sending = false
	close(c.sendIdle)
	c.sendMu.Unlock()
}

// stopSender is called when the stream handler ends: no sender starts any
// more, and a running one is waited for, as the stream must not be sent on
// after its handler returns. A sender stuck in Send (a client that
// half-closed and reads nothing) is unblocked by closing the transport
// after streamDrainWait.
func (c *conn) stopSender() {
	c.sendMu.Lock()
	c.sendStopped = true
	var idle chan struct{}
	if c.sending {
		idle = c.sendIdle
	}
	c.sendMu.Unlock()
	if idle == nil {
		return
	}
	t := time.NewTimer(streamDrainWait)
	defer t.Stop()
	select {
	case <-idle:
	case <-t.C:
		if c.raw != nil {
			c.raw.Close()
		}
		<-idle
	}
}

func (c *conn) ack(requestID string, code int) {
	c.ackMu.Lock()
	ch := c.acks[requestID]
	delete(c.acks, requestID)
	c.ackMu.Unlock()
	if ch != nil {
		ch <- code
	}
}

// reserve accounts n bytes about to be queued for this connection. A
// connection whose queue would pass MaxPushBytesPerConn is not reading its
// pushes: it is closed (a slow consumer) and ErrTargetClosed returned. When
// all connections together would pass MaxPushBytes the push is refused
// with ErrTargetBusy, and the engine retries it later.
func (c *conn) reserve(n int64) error {
	s := c.s
	c.qmu.Lock()
	if c.qclosed {
		c.qmu.Unlock()
		return push.ErrTargetClosed
	}
	if c.queued > 0 && c.queued+n > s.o.MaxPushBytesPerConn {
		queued := c.queued
		c.qmu.Unlock()
		s.m.closed.WithLabelValues("slow_consumer").Inc()
		s.log.Warn("closing connection: it does not read its pushes", "conn", c.id, "queued_bytes", queued,
			"max", s.o.MaxPushBytesPerConn)
		s.closeConn(c, "slow consumer", true)
		return push.ErrTargetClosed
	}
	if total := s.pushBytes.Load(); total > 0 && total+n > s.o.MaxPushBytes {
		c.qmu.Unlock()
		s.m.pushBusy.Inc()
		return push.ErrTargetBusy
	}
	c.queued += n
	s.pushBytes.Add(n)
	c.qmu.Unlock()
	return nil
}

// release gives back n bytes that left the queue.
func (c *conn) release(n int64) {
	c.qmu.Lock()
	if !c.qclosed {
		c.queued -= n
		c.s.pushBytes.Add(-n)
	}
	c.qmu.Unlock()
}

// releaseAll gives back everything still queued when the connection
// closes; later releases are no-ops.
func (c *conn) releaseAll() {
	c.qmu.Lock()
	c.s.pushBytes.Add(-c.queued)
	c.queued, c.qclosed = 0, true
	c.qmu.Unlock()
}

// QueuedPushBytes returns the push bytes queued for all connections.
func (s *Server) QueuedPushBytes() int64 { return s.pushBytes.Load() }
