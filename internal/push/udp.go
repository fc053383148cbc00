package push

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distrod/distrod/internal/api/nacoswire"
)

// UDP limits of the v1 protocol.
const (
	// UDPGzipThreshold: datagrams of this size or more are gzipped (Java
	// compresses at 1 KiB).
	UDPGzipThreshold = 1024
	// UDPMaxDatagram: the v1 Go client reads into a 4024-byte buffer, so a
	// datagram must be strictly smaller to arrive whole.
	UDPMaxDatagram = 4024
)

// ErrDatagramTooLarge is returned by EncodeDatagram when even the gzipped
// datagram does not fit UDPMaxDatagram.
var ErrDatagramTooLarge = errors.New("push: udp datagram too large")

// udpPush is the JSON of a v1 push datagram.
type udpPush struct {
	Type        string `json:"type"`
	Data        string `json:"data"`
	LastRefTime int64  `json:"lastRefTime"`
}

// EncodeDatagram encodes a v1 "dom" push of info (whose name must already
// be grouped) stamped with seq, gzipped when it reaches UDPGzipThreshold.
func EncodeDatagram(info nacoswire.ServiceInfo, seq int64) ([]byte, error) {
	data, err := json.Marshal(info)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(udpPush{Type: "dom", Data: string(data), LastRefTime: seq})
	if err != nil {
		return nil, err
	}
	if len(b) >= UDPGzipThreshold {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		zw.Write(b)
		zw.Close()
		b = buf.Bytes()
	}
	if len(b) >= UDPMaxDatagram {
		return nil, fmt.Errorf("%w: %d bytes (max %d)", ErrDatagramTooLarge, len(b), UDPMaxDatagram-1)
	}
	return b, nil
}

// ParseAck extracts lastRefTime from a v1 client's ack. The Go client sends
// it as a JSON string, Java clients as a number: both are accepted.
func ParseAck(b []byte) (int64, error) {
	var a struct {
		Type        string          `json:"type"`
		LastRefTime json.RawMessage `json:"lastRefTime"`
	}
	if err := json.Unmarshal(b, &a); err != nil {
		return 0, fmt.Errorf("push: bad udp ack: %w", err)
	}
	raw := bytes.TrimSpace(a.LastRefTime)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, fmt.Errorf("push: bad udp ack lastRefTime: %w", err)
		}
		raw = []byte(s)
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("push: bad udp ack lastRefTime %q: %w", raw, err)
	}
	return n, nil
}

// udpSender owns the UDP socket: it sends datagrams and matches acks to the
// pushes waiting for them.
type udpSender struct {
	conn *net.UDPConn
	log  *slog.Logger
	seq  atomic.Int64

	mu      sync.Mutex
	waiters map[int64]chan struct{}
}

func newUDPSender(c *net.UDPConn, log *slog.Logger) *udpSender {
	u := &udpSender{conn: c, log: log, waiters: map[int64]chan struct{}{}}
	// Unique per push and unlikely to repeat across restarts, like Java's
	// nanoTime stamp.
	u.seq.Store(time.Now().UnixNano())
	return u
}

func (u *udpSender) readLoop() {
	buf := make([]byte, 64<<10)
	for {
		n, _, err := u.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		seq, err := ParseAck(buf[:n])
		if err != nil {
			u.log.Debug("ignoring udp datagram", "err", err)
			continue
		}
		u.mu.Lock()
		if ch := u.waiters[seq]; ch != nil {
			close(ch)
			delete(u.waiters, seq)
		}
		u.mu.Unlock()
	}
}

func (u *udpSender) wait(seq int64) chan struct{} {
	ch := make(chan struct{})
	u.mu.Lock()
	u.waiters[seq] = ch
	u.mu.Unlock()
	return ch
}

func (u *udpSender) forget(seq int64) {
	u.mu.Lock()
	delete(u.waiters, seq)
	u.mu.Unlock()
}

// pushUDP sends one v1 push to tg and waits for its ack, resending it once
// after a timeout.
func (e *Engine) pushUDP(tg *target, k subKey) {
	u := e.udp
	if u == nil {
		return
	}
	seq := u.seq.Add(1)
	b, err := EncodeDatagram(e.builder.Build(k.svc, k.clusters, false).Grouped(), seq)
	if err != nil {
		e.m.dropped.WithLabelValues("oversize").Inc()
		e.m.fail("udp")
		e.o.Logger.Warn("udp push not sent", "target", tg.id, "service", k.svc.String(), "err", err)
		return
	}
	addr := net.UDPAddrFromAddrPort(tg.udp)
	start := time.Now()
	for attempt := 0; attempt < 2; attempt++ {
		if attempt > 0 {
			e.m.retried.WithLabelValues("udp").Inc()
		}
		if tg.limit != nil && !tg.limit.Allow() {
			e.m.dropped.WithLabelValues("udp_rate_limited").Inc()
			return
		}
		ack := u.wait(seq)
		if _, err := u.conn.WriteToUDP(b, addr); err != nil {
			u.forget(seq)
			e.o.Logger.Debug("udp push write failed", "target", tg.id, "err", err)
			continue
		}
		t := time.NewTimer(e.o.Timeout)
		select {
		case <-ack:
			t.Stop()
			e.m.acked("udp", time.Since(start))
			return
		case <-t.C:
			u.forget(seq)
		case <-e.ctx.Done():
			t.Stop()
			u.forget(seq)
			return
		}
	}
	e.m.fail("udp")
}

// unicastUDP reports whether a is an address a UDP push may go to: never
// the unspecified address, "this network" (0.0.0.0/8), multicast,
// link-local (which includes cloud metadata services such as
// 169.254.169.254), the reserved 240.0.0.0/4 (which includes the limited
// broadcast 255.255.255.255), or the directed broadcast address of one of
// this host's networks.
func (e *Engine) unicastUDP(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() || a.IsUnspecified() || a.IsMulticast() || a.IsLinkLocalUnicast() ||
		a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast() {
		return false
	}
	if a.Is4() {
		b := a.As4()
		if b[0] == 0 || b[0] >= 240 {
			return false
		}
	}
	return !e.broadcast[a]
}

// localBroadcasts returns the directed broadcast addresses of this host's
// IPv4 networks (those with room for one).
func localBroadcasts() map[netip.Addr]bool {
	out := map[netip.Addr]bool{}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return out
	}
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip4 := ipn.IP.To4()
		ones, bits := ipn.Mask.Size()
		if ip4 == nil || bits != 32 || ones > 30 {
			continue
		}
		var b [4]byte
		for i := range b {
			b[i] = ip4[i] | ^ipn.Mask[len(ipn.Mask)-4+i]
		}
		out[netip.AddrFrom4(b)] = true
	}
	return out
}
