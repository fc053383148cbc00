package nacoshttp

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/distrod/distrod/internal/hlc"
	"github.com/distrod/distrod/internal/naming"
)

// fakeRouter maps tags to owners by a table; unknown tags are local.
type fakeRouter struct {
	self string
	mu   sync.Mutex
	m    map[string]string
	seen []string
}

func (r *fakeRouter) Route(tag string) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, tag)
	if o, ok := r.m[tag]; ok {
		return o, o == r.self
	}
	return r.self, true
}

func (r *fakeRouter) set(tag, owner string) {
	r.mu.Lock()
	r.m[tag] = owner
	r.mu.Unlock()
}

type node struct {
	addr   string
	store  *naming.Store
	router *fakeRouter
	srv    *httptest.Server
}

// newNode starts a handler on its own listener; the store's self address
// is the listener's address, as in a real cluster.
func newNode(t *testing.T) *node {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n := &node{addr: ln.Addr().String()}
	n.store = naming.NewStore(n.addr, hlc.NewClock(n.addr))
	n.router = &fakeRouter{self: n.addr, m: map[string]string{}}
	h, err := New(Options{Store: n.store, Router: n.router, Now: (&fakeClock{t: t0}).Now})
	if err != nil {
		t.Fatal(err)
	}
	n.srv = httptest.NewUnstartedServer(h)
	n.srv.Listener.Close()
	n.srv.Listener = ln
	n.srv.Start()
	t.Cleanup(n.srv.Close)
	return n
}

func send(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestForward_WritesGoToOwnerWithLoopGuardAnd503 proves that a write for
// a tag owned by another node is forwarded and its answer relayed, that a
// forwarded request is never forwarded again, and that an unreachable
// owner gives 503.
func TestForward_WritesGoToOwnerWithLoopGuardAnd503(t *testing.T) {
	a, b := newNode(t), newNode(t)
	svc := naming.NewServiceKey("", "", "demo")
	// a believes b owns 10.0.0.1:8080; b agrees.
	a.router.set("10.0.0.1:8080", b.addr)
	b.router.set("10.0.0.1:8080", b.addr)

	code, body := send(t, "POST", a.srv.URL+"/nacos/v1/ns/instance", "serviceName=demo&ip=10.0.0.1&port=8080")
	if code != 200 || body != "ok" {
		t.Fatalf("forwarded register: %d %q", code, body)
	}
	if _, _, ok := b.store.FindInstance(svc, "10.0.0.1", 8080, ""); !ok {
		t.Fatal("owner b did not store the forwarded registration")
	}
	if _, _, ok := a.store.FindInstance(svc, "10.0.0.1", 8080, ""); ok {
		t.Fatal("non-owner a stored the registration itself")
	}
	// Errors and un-enveloped answers come back verbatim, v1 and v2.
	if code, body = send(t, "POST", a.srv.URL+"/nacos/v1/ns/instance", "serviceName=demo&ip=10.0.0.1&port=8080&weight=-1"); code != 400 ||
		body != "instance format invalid: The weights range from 0.0 to 10000.0" {
		t.Fatalf("forwarded error: %d %q", code, body)
	}
	if code, body = send(t, "PUT", a.srv.URL+"/nacos/v2/ns/instance/beat", "serviceName=demo&ip=10.0.0.1&port=8080"); code != 200 ||
		body != `{"clientBeatInterval":5000,"code":10200,"lightBeatEnabled":true}` {
		t.Fatalf("forwarded v2 beat: %d %q", code, body)
	}
	// A raw v1 beat body (tag taken from the beat JSON) is forwarded intact.
	beat := `serviceName=DEFAULT_GROUP@@demo&beat={"ip":"10.0.0.1","port":8080,"metadata":{"k":"a+b %"}}`
	if code, body = send(t, "PUT", a.srv.URL+"/nacos/v1/ns/instance/beat", beat); code != 200 || !strings.Contains(body, `"code":10200`) {
		t.Fatalf("forwarded raw beat: %d %q", code, body)
	}
	// Reads are local: a has nothing.
	if _, body = send(t, "GET", a.srv.URL+"/nacos/v1/ns/instance/list?serviceName=demo", ""); !strings.Contains(body, `"hosts":[]`) {
		t.Fatalf("read on a must be local: %s", body)
	}
	// Service writes route by the service record key.
	tag := naming.ServiceRecordKey(naming.NewServiceKey("", "", "svc"))
	a.router.set(tag, b.addr)
	if code, body = send(t, "POST", a.srv.URL+"/nacos/v2/ns/service", "serviceName=svc"); code != 200 || body != `{"code":0,"message":"success","data":"ok"}` {
		t.Fatalf("forwarded service create: %d %q", code, body)
	}
	if v := b.store.Service(naming.NewServiceKey("", "", "svc"), naming.Query{}); !v.Explicit {
		t.Fatal("owner b did not create the service")
	}

	// Loop guard: views disagree (b thinks a owns 10.0.0.2:1, a thinks b
	// does). The write is forwarded once and handled by the receiver.
	a.router.set("10.0.0.2:1", b.addr)
	b.router.set("10.0.0.2:1", a.addr)
	if code, body = send(t, "POST", a.srv.URL+"/nacos/v1/ns/instance", "serviceName=demo&ip=10.0.0.2&port=1"); code != 200 || body != "ok" {
		t.Fatalf("register with disagreeing views: %d %q", code, body)
	}
	_, _, onA := a.store.FindInstance(svc, "10.0.0.2", 1, "")
	_, _, onB := b.store.FindInstance(svc, "10.0.0.2", 1, "")
	if onA || !onB {
		t.Fatalf("loop guard: want handled once on b, got a=%v b=%v", onA, onB)
	}

	// Unreachable owner: 503, v1 text and v2 envelope.
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := dead.Addr().String()
	dead.Close()
	a.router.set("10.0.0.3:1", deadAddr)
	code, body = send(t, "POST", a.srv.URL+"/nacos/v1/ns/instance", "serviceName=demo&ip=10.0.0.3&port=1")
	if code != 503 || !strings.HasPrefix(body, "distrod: owner "+deadAddr+" of 10.0.0.3:1 is unreachable") {
		t.Fatalf("unreachable owner v1: %d %q", code, body)
	}
	code, body = send(t, "DELETE", a.srv.URL+"/nacos/v2/ns/instance?serviceName=demo&ip=10.0.0.3&port=1", "")
	if code != 503 || !strings.HasPrefix(body, `{"code":30000,"message":"server error","data":"distrod: owner `) {
		t.Fatalf("unreachable owner v2: %d %q", code, body)
	}
	if _, _, ok := a.store.FindInstance(svc, "10.0.0.3", 1, ""); ok {
		t.Fatal("a write for an unreachable owner must not be applied locally")
	}
	// distro/client reports the router's owner.
	if _, body = send(t, "GET", a.srv.URL+"/nacos/v1/ns/operator/distro/client?ip=10.0.0.1&port=8080", ""); body != `{"responsibleServer":"`+b.addr+`"}` {
		t.Fatalf("distro client: %s", body)
	}
}
