package testutil

import (
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// DNSServer is an authoritative DNS server on a loopback UDP and TCP port,
// answering A and SRV queries from a record set the test can replace at
// any time. It is a real server: the Go resolver (and dig) talk to it over
// the network.
type DNSServer struct {
	// Addr is "127.0.0.1:port", for DISTROD_MEMBER_DNS_SERVER.
	Addr string

	mu  sync.Mutex
	a   map[string][]string // fqdn -> IPv4 addresses
	srv map[string][]SRV    // fqdn -> records
}

// SRV is one SRV record's data.
type SRV struct {
	Target string
	Port   uint16
}

// StartDNS starts a DNS server on 127.0.0.1 (same port for UDP and TCP),
// stopped when the test ends.
func StartDNS(t testing.TB) *DNSServer {
	t.Helper()
	s := &DNSServer{a: map[string][]string{}, srv: map[string][]SRV{}}
	var pc net.PacketConn
	var ln net.Listener
	for i := 0; ; i++ {
		var err error
		pc, err = net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln, err = net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			break
		}
		_ = pc.Close()
		if i == 20 {
			t.Fatalf("no port free for both UDP and TCP: %v", err)
		}
	}
	s.Addr = pc.LocalAddr().String()
	udp := &dns.Server{PacketConn: pc, Handler: s}
	tcp := &dns.Server{Listener: ln, Handler: s}
	for _, srv := range []*dns.Server{udp, tcp} {
		go func() { _ = srv.ActivateAndServe() }()
	}
	t.Cleanup(func() {
		_ = udp.Shutdown()
		_ = tcp.Shutdown()
	})
	return s
}

// SetA replaces the A records of name.
func (s *DNSServer) SetA(name string, ips ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.a[dns.Fqdn(strings.ToLower(name))] = ips
}

// SetSRV replaces the SRV records of name.
func (s *DNSServer) SetSRV(name string, recs ...SRV) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.srv[dns.Fqdn(strings.ToLower(name))] = recs
}

// ServeDNS answers from the record set: NXDOMAIN for an unknown name, an
// empty answer for a known name without records of the asked type.
func (s *DNSServer) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	s.mu.Lock()
	for _, q := range req.Question {
		name := strings.ToLower(q.Name)
		as, okA := s.a[name]
		srvs, okS := s.srv[name]
		if !okA && !okS {
			m.Rcode = dns.RcodeNameError
			continue
		}
		hdr := dns.RR_Header{Name: q.Name, Class: dns.ClassINET, Ttl: 0}
		switch q.Qtype {
		case dns.TypeA:
			for _, ip := range as {
				h := hdr
				h.Rrtype = dns.TypeA
				m.Answer = append(m.Answer, &dns.A{Hdr: h, A: net.ParseIP(ip).To4()})
			}
		case dns.TypeSRV:
			for _, r := range srvs {
				h := hdr
				h.Rrtype = dns.TypeSRV
				m.Answer = append(m.Answer, &dns.SRV{Hdr: h, Priority: 0, Weight: 10, Port: r.Port, Target: dns.Fqdn(r.Target)})
			}
		}
	}
	s.mu.Unlock()
	_ = w.WriteMsg(m)
}
