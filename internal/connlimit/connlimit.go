// Package connlimit caps the connections a listener holds open per client
// IP: a connection beyond the cap is closed as soon as it is accepted, so
// one host cannot exhaust the process's file descriptors and starve every
// other client of the port.
package connlimit

import (
	"net"
	"net/netip"
	"sync"
)

// Listener wraps a net.Listener with a per-IP cap on open connections.
// Accept never returns a refused connection: it closes it, reports it to
// OnRefuse and waits for the next one.
type Listener struct {
	net.Listener
	max      int
	onRefuse func(ip netip.Addr)

	mu   sync.Mutex
	open map[netip.Addr]int
}

// New wraps l so that at most max connections per remote IP are open at a
// time. max <= 0 returns l unchanged. onRefuse, if not nil, is called on
// the accepting goroutine for every refused connection; it must not block.
func New(l net.Listener, max int, onRefuse func(ip netip.Addr)) net.Listener {
	if max <= 0 {
		return l
	}
	return &Listener{Listener: l, max: max, onRefuse: onRefuse, open: map[netip.Addr]int{}}
}

// Accept returns the next connection whose IP is under the cap.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := remoteIP(c)
		l.mu.Lock()
		if l.open[ip] >= l.max {
			l.mu.Unlock()
			// Counted before the close, so that a client that sees its
			// connection end finds the refusal already reported.
			if l.onRefuse != nil {
				l.onRefuse(ip)
			}
			_ = c.Close()
			continue
		}
		l.open[ip]++
		l.mu.Unlock()
		return &conn{Conn: c, l: l, ip: ip}, nil
	}
}

// Open returns the number of open connections from ip.
func (l *Listener) Open(ip netip.Addr) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open[ip]
}

func (l *Listener) release(ip netip.Addr) {
	l.mu.Lock()
	if l.open[ip]--; l.open[ip] <= 0 {
		delete(l.open, ip)
	}
	l.mu.Unlock()
}

func remoteIP(c net.Conn) netip.Addr {
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// conn releases its slot once, on the first Close.
type conn struct {
	net.Conn
	l    *Listener
	ip   netip.Addr
	once sync.Once
}

func (c *conn) Close() error {
	c.once.Do(func() { c.l.release(c.ip) })
	return c.Conn.Close()
}

// NetConn returns the wrapped connection. Whoever reads and writes it
// directly must still Close this one, which gives back the slot.
func (c *conn) NetConn() net.Conn { return c.Conn }
