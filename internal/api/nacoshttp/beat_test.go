package nacoshttp

import (
	"net/url"
	"testing"
	"time"

	"github.com/distrod/distrod/internal/naming"
)

// TestBeat_ExpiryWithFakeClock drives heartbeat expiry through the
// injected clock, calling ExpireCheck as the server's timer would.
func TestBeat_ExpiryWithFakeClock(t *testing.T) {
	e := newEnv(t, nil)
	svc := naming.NewServiceKey("", "", "demo")
	owns := func(string) bool { return true }
	expire := func() { e.store.ExpireCheck(e.clock.Now().UnixMilli(), owns) }
	healthy := func() (bool, bool) {
		in, _, ok := e.store.FindInstance(svc, "10.0.0.1", 8080, "")
		return in.Healthy, ok
	}
	if code, body := e.do("POST", v1+"/instance", "serviceName=demo&ip=10.0.0.1&port=8080"); code != 200 || body != "ok" {
		t.Fatalf("register: %d %q", code, body)
	}
	expire() // first check takes ownership and starts the deadline now

	e.clock.Advance(16 * time.Second)
	expire()
	if h, ok := healthy(); !ok || h {
		t.Fatalf("after 16 s without beats: present=%v healthy=%v, want present and unhealthy", ok, h)
	}
	if code, body := e.do("GET", v1+"/instance/list?serviceName=demo&healthyOnly=true", ""); code != 200 ||
		!contains(body, `"reachProtectionThreshold":true`) {
		t.Fatalf("all unhealthy must trigger protection: %s", body)
	}

	if _, body := e.do("PUT", v1+"/instance/beat?serviceName=demo&ip=10.0.0.1&port=8080", ""); body != `{"clientBeatInterval":5000,"code":10200,"lightBeatEnabled":true}` {
		t.Fatalf("beat: %s", body)
	}
	if h, ok := healthy(); !ok || !h {
		t.Fatalf("after a beat: present=%v healthy=%v, want healthy", ok, h)
	}

	e.clock.Advance(31 * time.Second)
	expire()
	if _, ok := healthy(); ok {
		t.Fatal("instance still present 31 s after its last beat")
	}

	// A light beat of the expired instance: 20404, nothing re-created.
	if _, body := e.do("PUT", v1+"/instance/beat?serviceName=demo&ip=10.0.0.1&port=8080", ""); body != `{"clientBeatInterval":5000,"code":20404,"lightBeatEnabled":true}` {
		t.Fatalf("light beat of an expired instance: %s", body)
	}
	if _, ok := healthy(); ok {
		t.Fatal("a light beat must not re-create an instance")
	}

	// A full beat re-creates it, as the Go v1 client never re-registers.
	beat := `serviceName=DEFAULT_GROUP@@demo&beat={"ip":"10.0.0.1","port":8080,"weight":1,"serviceName":"DEFAULT_GROUP@@demo","cluster":"","metadata":{},"scheduled":false}`
	if _, body := e.do("PUT", v1+"/instance/beat", beat); body != `{"clientBeatInterval":5000,"code":10200,"lightBeatEnabled":true}` {
		t.Fatalf("full beat: %s", body)
	}
	if h, ok := healthy(); !ok || !h {
		t.Fatalf("full beat must re-create a healthy instance: present=%v healthy=%v", ok, h)
	}
	// And its clock restarts: 10 s later it is still healthy.
	e.clock.Advance(10 * time.Second)
	expire()
	if h, ok := healthy(); !ok || !h {
		t.Fatalf("re-created instance expired early: present=%v healthy=%v", ok, h)
	}
}

func contains(s, sub string) bool { return indexOf(s, sub) >= 0 }

// TestParams_RawV1Bodies checks the lenient parser on the bodies the Go v1
// client sends unescaped, in any key order.
func TestParams_RawV1Bodies(t *testing.T) {
	beat := `{"ip":"1.2.3.4","port":80,"metadata":{"a":"x+y %zz 50%","b":"c\u0026d=e","sp":"two words"},"scheduled":false}`
	for _, body := range []string{
		"serviceName=DEFAULT_GROUP@@svc&beat=" + beat + "&namespaceId=ns1",
		"beat=" + beat + "&serviceName=DEFAULT_GROUP@@svc&namespaceId=ns1",
		"namespaceId=ns1&beat=" + beat + "&serviceName=DEFAULT_GROUP@@svc",
	} {
		p := params{}
		parseParams(p, body, DefaultMaxParams)
		if p.get("beat") != beat || p.get("serviceName") != "DEFAULT_GROUP@@svc" || p.get("namespaceId") != "ns1" {
			t.Fatalf("parse %q: %v", body, p)
		}
	}
	// Escaped bodies decode normally; an escaped JSON value is unescaped.
	p := params{}
	parseParams(p, "serviceName=a%40%40b&metadata=%7B%22k%22%3A%22v+w%22%7D&x=%zz", DefaultMaxParams)
	if p.get("serviceName") != "a@@b" || p.get("metadata") != `{"k":"v w"}` || p.get("x") != "%zz" {
		t.Fatalf("escaped: %v", p)
	}
	// A raw JSON value containing a literal '&' not followed by a known key
	// stays whole.
	p = params{}
	parseParams(p, `beat={"metadata":{"q":"a&b=c"}}&serviceName=s`, DefaultMaxParams)
	if p.get("beat") != `{"metadata":{"q":"a&b=c"}}` || p.get("serviceName") != "s" {
		t.Fatalf("literal &: %v", p)
	}
}

// A beat answers with the beat interval the beaten instance's metadata
// sets, and the server's default for one that sets none.
func TestBeat_AnswersTheInstancesBeatInterval(t *testing.T) {
	e := newEnv(t, nil)
	md := url.QueryEscape(`{"preserved.heart.beat.interval":"3000"}`)
	if code, body := e.do("POST", v1+"/instance", "serviceName=demo&ip=10.0.0.1&port=8080&metadata="+md); code != 200 || body != "ok" {
		t.Fatalf("register: %d %q", code, body)
	}
	if code, body := e.do("POST", v1+"/instance", "serviceName=demo&ip=10.0.0.2&port=8080"); code != 200 || body != "ok" {
		t.Fatalf("register: %d %q", code, body)
	}
	if _, body := e.do("PUT", v1+"/instance/beat?serviceName=demo&ip=10.0.0.1&port=8080", ""); body != `{"clientBeatInterval":3000,"code":10200,"lightBeatEnabled":true}` {
		t.Fatalf("beat of an instance with a 3 s interval: %s", body)
	}
	if _, body := e.do("PUT", v1+"/instance/beat?serviceName=demo&ip=10.0.0.2&port=8080", ""); body != `{"clientBeatInterval":5000,"code":10200,"lightBeatEnabled":true}` {
		t.Fatalf("beat of an instance without an interval: %s", body)
	}
}
