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
	probing    atomic.Bool
	limit      *rate.Limiter // nil: no request-rate limit

	mu       sync.RWMutex
	state    connState
	streamOn bool
	clientIP string
	version  string
	labels   map[string]string

	out  chan outMsg
	done chan struct{} // closed on stateClosed

	ackMu sync.Mutex
	acks  map[string]chan int
}

var _ push.Target = (*conn)(nil)

// ID returns the connection id ("<ms>_<ip>_<port>").
func (c *conn) ID() string { return c.id }

func (c *conn) touch() { c.lastActive.Store(c.s.o.Now().UnixMilli()) }

// Request sends a server request on the bi-stream and waits for the ack
// with the same requestId; acks are judged by resultCode (the SDK leaves
// success false on some of them).
func (c *conn) Request(ctx context.Context, typ, requestID string, body []byte) error {
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
	select {
	case c.out <- outMsg{p: &nacospb.Payload{Type: typ, Body: body}}:
	case <-c.done:
		return push.ErrTargetClosed
	case <-ctx.Done():
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

func (c *conn) ack(requestID string, code int) {
	c.ackMu.Lock()
	ch := c.acks[requestID]
	delete(c.acks, requestID)
	c.ackMu.Unlock()
	if ch != nil {
		ch <- code
	}
}
