package connlimit

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distrod/distrod/internal/testutil"
)

func TestListener_ClosesConnectionsOverThePerIPCap(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var refused atomic.Int32
	l := New(inner, 2, func(netip.Addr) { refused.Add(1) }).(*Listener)
	defer l.Close()
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	a, b := dial(), dial()
	sa, sb := <-accepted, <-accepted
	_, _ = a, b
	third := dial()
	// The third connection is closed by the server: reading it ends.
	_ = third.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := third.Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !isReset(err) {
		t.Fatalf("third connection read: %v, want EOF or reset", err)
	}
	if refused.Load() != 1 || l.Open(netip.MustParseAddr("127.0.0.1")) != 2 {
		t.Fatalf("refused %d, open %d", refused.Load(), l.Open(netip.MustParseAddr("127.0.0.1")))
	}
	// Closing one frees its slot (twice is harmless).
	sa.Close()
	sa.Close()
	if n := l.Open(netip.MustParseAddr("127.0.0.1")); n != 1 {
		t.Fatalf("open after close: %d", n)
	}
	dial()
	testutil.Eventually(t, 10*time.Second, "fourth connection accepted", func() error {
		select {
		case c := <-accepted:
			c.Close()
			return nil
		default:
			return errors.New("not yet")
		}
	})
	sb.Close()
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op)
}
