package cp

import (
	"sync"
	"sync/atomic"
	"time"

	"net"
)

// A follower forwards writes to the leader over authenticated
// connections it keeps for the next write: a connection carries one
// forwarded write at a time, each a forwardByte and a frame, answered by
// a frame. A leader of an earlier build closes the connection after one
// write; the follower then finds it closed and dials again.

// fwdIdleMax bounds the idle forwarding connections kept per leader.
const fwdIdleMax = 8

// fwdIdleFor is how long a kept connection may wait for its next write;
// the leader closes one idle for fwdServerIdle, which is longer.
const (
	fwdIdleFor    = 30 * time.Second
	fwdServerIdle = 60 * time.Second
)

type idleConn struct {
	c     net.Conn
	since time.Time
}

// fwdPool holds idle forwarding connections by leader (id and address).
type fwdPool struct {
	mu     sync.Mutex
	idle   map[string][]idleConn
	closed bool
	// dials counts the connections opened (for tests).
	dials atomic.Int64
}

// get returns an idle connection to key, or nil.
func (p *fwdPool) get(key string) net.Conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	for l := p.idle[key]; len(l) > 0; l = p.idle[key] {
		ic := l[len(l)-1]
		p.idle[key] = l[:len(l)-1]
		if time.Since(ic.since) < fwdIdleFor {
			return ic.c
		}
		_ = ic.c.Close()
	}
	return nil
}

// put keeps c for the next write to key, or closes it.
func (p *fwdPool) put(key string, c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || len(p.idle[key]) >= fwdIdleMax {
		_ = c.Close()
		return
	}
	if p.idle == nil {
		p.idle = map[string][]idleConn{}
	}
	p.idle[key] = append(p.idle[key], idleConn{c: c, since: time.Now()})
}

// close closes every idle connection; later puts close theirs.
func (p *fwdPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, l := range p.idle {
		for _, ic := range l {
			_ = ic.c.Close()
		}
	}
	p.idle = nil
}
