package push

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distrod/distrod/internal/naming"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestEngine_UDPRefusesNonUnicastTargets: a v1 subscription must not turn
// the node into a reflector towards broadcast, multicast or link-local
// addresses (cloud metadata services among them).
func TestEngine_UDPRefusesNonUnicastTargets(t *testing.T) {
	e := newEnv(t, Options{})
	bad := []string{"255.255.255.255:9", "224.0.0.1:9", "239.1.2.3:9", "0.0.0.0:9", "0.1.2.3:9",
		"169.254.169.254:80", "240.0.0.1:9", "[::]:9", "[ff02::1]:9", "[fe80::1]:9", "127.255.255.255:9"}
	for _, a := range bad {
		e.eng.SubscribeUDP(svcA, "", netip.MustParseAddrPort(a), "test")
	}
	if subs := e.eng.Subscribers(svcA); len(subs) != 0 {
		t.Fatalf("non-unicast targets subscribed: %+v", subs)
	}
	if n := testutil.ToFloat64(e.eng.m.dropped.WithLabelValues("udp_target_refused")); n != float64(len(bad)) {
		t.Fatalf("refusals counted %v, want %d", n, len(bad))
	}
	e.eng.SubscribeUDP(svcA, "", netip.MustParseAddrPort("127.0.0.1:9"), "test")
	e.eng.SubscribeUDP(svcA, "", netip.MustParseAddrPort("[::ffff:10.1.2.3]:9"), "test")
	if subs := e.eng.Subscribers(svcA); len(subs) != 2 {
		t.Fatalf("unicast targets refused: %+v", subs)
	}
}

// TestEngine_UDPPushesAreRateLimitedPerTarget: one target subscribed to
// many services gets at most UDPRate datagrams a second, however many
// changes there are; the rest are dropped and counted.
func TestEngine_UDPPushesAreRateLimitedPerTarget(t *testing.T) {
	e := newEnv(t, Options{UDPRate: 3, Timeout: 2 * time.Second})
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	var received atomic.Int32
	go func() {
		buf := make([]byte, UDPMaxDatagram)
		for {
			n, from, err := pc.ReadFromUDP(buf)
			if err != nil {
				return
			}
			var d udpPush
			if json.Unmarshal(buf[:n], &d) != nil {
				continue
			}
			received.Add(1)
			pc.WriteToUDP([]byte(`{"type":"push-ack","lastRefTime":"`+itoa(d.LastRefTime)+`","data":""}`), from)
		}
	}()
	const services = 30
	for i := 0; i < services; i++ {
		e.eng.SubscribeUDP(naming.NewServiceKey("", "", fmt.Sprint("s", i)), "", pc.LocalAddr().(*net.UDPAddr).AddrPort(), "test")
	}
	start := time.Now()
	for i := 0; i < services; i++ {
		e.publish(t, "x", naming.NewServiceKey("", "", fmt.Sprint("s", i)), inst("10.0.0.1", 1, ""))
	}
	dropped := func() float64 { return testutil.ToFloat64(e.eng.m.dropped.WithLabelValues("udp_rate_limited")) }
	sent := func() float64 { return testutil.ToFloat64(e.eng.m.sent.WithLabelValues("udp")) }
	waitFor(t, "every push sent or dropped", func() bool { return dropped()+sent() == services })
	// The burst is 3, and 3 more tokens arrive every second.
	allowed := 3 + 3*time.Since(start).Seconds() + 1
	if s := sent(); s < 3 || s > allowed {
		t.Fatalf("%v pushes sent to one target, want at most %.0f (dropped %v)", s, allowed, dropped())
	}
	if r := received.Load(); float64(r) != sent() {
		t.Fatalf("received %d datagrams, sent %v", r, sent())
	}
}
