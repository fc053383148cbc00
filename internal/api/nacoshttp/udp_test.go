package nacoshttp

import (
	"net/http"
	"net/netip"
	"sync"
	"testing"

	"github.com/distrod/distrod/internal/naming"
)

type recordingUDP struct {
	mu    sync.Mutex
	addrs []netip.AddrPort
}

func (r *recordingUDP) SubscribeUDP(_ naming.ServiceKey, _ string, addr netip.AddrPort, _ string) {
	r.mu.Lock()
	r.addrs = append(r.addrs, addr)
	r.mu.Unlock()
}

func (r *recordingUDP) take() []netip.AddrPort {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.addrs
	r.addrs = nil
	return out
}

// TestList_UDPPushGoesToTheRequester: a clientIP naming another host
// (169.254.169.254, a broadcast address, a victim) is ignored unless the
// request comes from a trusted network; the push target is the address the
// request came from.
func TestList_UDPPushGoesToTheRequester(t *testing.T) {
	rec := &recordingUDP{}
	e := newEnv(t, func(o *Options) { o.UDP = rec })
	for _, ip := range []string{"169.254.169.254", "255.255.255.255", "10.1.2.3", "not-an-ip", ""} {
		code, body := e.do(http.MethodGet, "/nacos/v1/ns/instance/list?serviceName=s&udpPort=5000&clientIP="+ip, "")
		if code != http.StatusOK {
			t.Fatalf("list: %d %s", code, body)
		}
		got := rec.take()
		if want := netip.MustParseAddrPort("127.0.0.1:5000"); len(got) != 1 || got[0] != want {
			t.Fatalf("clientIP=%q: pushes go to %v, want %v", ip, got, want)
		}
	}

	rec2 := &recordingUDP{}
	trusted := newEnv(t, func(o *Options) {
		o.UDP = rec2
		o.UDPTrustedNets = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	})
	trusted.do(http.MethodGet, "/nacos/v1/ns/instance/list?serviceName=s&udpPort=5000&clientIP=10.1.2.3", "")
	if got := rec2.take(); len(got) != 1 || got[0] != netip.MustParseAddrPort("10.1.2.3:5000") {
		t.Fatalf("trusted requester: pushes go to %v, want 10.1.2.3:5000", got)
	}
}
