package nacoshttp

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
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
	h      http.Handler
	srv    *httptest.Server
}

// network connects test nodes as distrod's server does, minus the cluster
// transport: the owner runs the write through ServeForwarded and the entry
// node installs the records it touched before answering.
type network struct {
	mu    sync.Mutex
	nodes map[string]*node
}

type forwarder struct {
	net  *network
	self *node
}

func (f forwarder) Forward(ctx context.Context, owner string, req ForwardedRequest) (ForwardedAnswer, error) {
	f.net.mu.Lock()
	o := f.net.nodes[owner]
	f.net.mu.Unlock()
	if o == nil {
		return ForwardedAnswer{}, fmt.Errorf("%s is unreachable", owner)
	}
	ans, err := ServeForwarded(ctx, o.h, req)
	if err != nil {
		return ans, err
	}
	for _, k := range ans.Keys {
		if r, ok := o.store.Get(k); ok {
			if _, err := f.self.store.Apply(t0.UnixMilli(), r); err != nil {
				return ans, err
			}
		}
	}
	return ans, nil
}

// newNode starts a handler on its own listener; the store's self address
// is the listener's address, as in a real cluster.
func (nw *network) newNode(t *testing.T) *node {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n := &node{addr: ln.Addr().String()}
	n.store = naming.NewStore(n.addr, hlc.NewClock(n.addr))
	n.router = &fakeRouter{self: n.addr, m: map[string]string{}}
	n.h, err = New(Options{Store: n.store, Router: n.router, Forwarder: forwarder{net: nw, self: n}, Now: (&fakeClock{t: t0}).Now})
	if err != nil {
		t.Fatal(err)
	}
	n.srv = httptest.NewUnstartedServer(n.h)
	n.srv.Listener.Close()
	n.srv.Listener = ln
	n.srv.Start()
	t.Cleanup(n.srv.Close)
	nw.mu.Lock()
	if nw.nodes == nil {
		nw.nodes = map[string]*node{}
	}
	nw.nodes[n.addr] = n
	nw.mu.Unlock()
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

// owned returns the owner of key in st's copy ("" when absent).
func owned(st *naming.Store, key string) string {
	r, ok := st.Get(key)
	if !ok {
		return ""
	}
	return r.Owner
}

// TestForward_WritesGoToOwnerWithLoopGuardAnd503 proves that a write for
// a tag owned by another node is run by the owner, its answer relayed and
// its records installed on the entry node before the answer; that a
// forwarded request is never forwarded again; and that an unreachable
// owner gives 503.
func TestForward_WritesGoToOwnerWithLoopGuardAnd503(t *testing.T) {
	var nw network
	a, b := nw.newNode(t), nw.newNode(t)
	svc := naming.NewServiceKey("", "", "demo")
	key := naming.PubKey(naming.IPPortClientID("10.0.0.1", 8080), svc)
	// a believes b owns 10.0.0.1:8080; b agrees.
	a.router.set("10.0.0.1:8080", b.addr)
	b.router.set("10.0.0.1:8080", b.addr)

	code, body := send(t, "POST", a.srv.URL+"/nacos/v1/ns/instance", "serviceName=demo&ip=10.0.0.1&port=8080")
	if code != 200 || body != "ok" {
		t.Fatalf("forwarded register: %d %q", code, body)
	}
	if owned(b.store, key) != b.addr {
		t.Fatal("owner b did not write the forwarded registration")
	}
	// Read-your-writes: a holds b's record (b's version, not a write of
	// its own) as soon as it answered.
	ra, _ := a.store.Get(key)
	rb, _ := b.store.Get(key)
	if ra.Owner != b.addr || ra.Version != rb.Version {
		t.Fatalf("entry a holds %+v, owner b holds %+v", ra.RecordMeta, rb.RecordMeta)
	}
	if _, body = send(t, "GET", a.srv.URL+"/nacos/v1/ns/instance/list?serviceName=demo", ""); !strings.Contains(body, `"ip":"10.0.0.1"`) {
		t.Fatalf("read on a right after the write: %s", body)
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
	// A deregistration through a is absent from a right after.
	if code, body = send(t, "DELETE", a.srv.URL+"/nacos/v2/ns/instance?serviceName=demo&ip=10.0.0.1&port=8080", ""); code != 200 {
		t.Fatalf("forwarded deregister: %d %q", code, body)
	}
	if _, body = send(t, "GET", a.srv.URL+"/nacos/v1/ns/instance/list?serviceName=demo", ""); strings.Contains(body, `"ip":"10.0.0.1"`) {
		t.Fatalf("deregistered instance still listed on a: %s", body)
	}
	if r, _ := a.store.Get(key); !r.Tombstone || r.Owner != b.addr {
		t.Fatalf("a lacks b's tombstone: %+v", r.RecordMeta)
	}
	// Service writes route by the service record key.
	skey := naming.NewServiceKey("", "", "svc")
	tag := naming.ServiceRecordKey(skey)
	a.router.set(tag, b.addr)
	if code, body = send(t, "POST", a.srv.URL+"/nacos/v2/ns/service", "serviceName=svc"); code != 200 || body != `{"code":0,"message":"success","data":"ok"}` {
		t.Fatalf("forwarded service create: %d %q", code, body)
	}
	if v := b.store.Service(skey, naming.Query{}); !v.Explicit {
		t.Fatal("owner b did not create the service")
	}
	if v := a.store.Service(skey, naming.Query{}); !v.Explicit || owned(a.store, tag) != b.addr {
		t.Fatal("entry a does not hold b's service record")
	}

	// Loop guard: views disagree (b thinks a owns 10.0.0.2:1, a thinks b
	// does). The write is forwarded once and run by the receiver.
	a.router.set("10.0.0.2:1", b.addr)
	b.router.set("10.0.0.2:1", a.addr)
	if code, body = send(t, "POST", a.srv.URL+"/nacos/v1/ns/instance", "serviceName=demo&ip=10.0.0.2&port=1"); code != 200 || body != "ok" {
		t.Fatalf("register with disagreeing views: %d %q", code, body)
	}
	if k := naming.PubKey(naming.IPPortClientID("10.0.0.2", 1), svc); owned(b.store, k) != b.addr || owned(a.store, k) != b.addr {
		t.Fatalf("loop guard: want written once by b, got owner %q on a, %q on b", owned(a.store, k), owned(b.store, k))
	}

	// Unreachable owner: 503, v1 text and v2 envelope, nothing applied.
	dead := "127.0.0.1:1"
	a.router.set("10.0.0.3:1", dead)
	code, body = send(t, "POST", a.srv.URL+"/nacos/v1/ns/instance", "serviceName=demo&ip=10.0.0.3&port=1")
	if code != 503 || !strings.HasPrefix(body, "distrod: owner "+dead+" of 10.0.0.3:1 did not take the write: ") {
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

// TestForward_ClientHeaderDoesNotMarkAWriteForwarded proves that the
// X-Distrod-Forwarded header older versions trusted is ignored: a write
// carrying it, sent to a non-owner, is run by the owner, not applied by
// the node that received it.
func TestForward_ClientHeaderDoesNotMarkAWriteForwarded(t *testing.T) {
	var nw network
	a, b := nw.newNode(t), nw.newNode(t)
	a.router.set("10.0.0.5:1", b.addr)
	b.router.set("10.0.0.5:1", b.addr)
	req, _ := http.NewRequest("POST", a.srv.URL+"/nacos/v1/ns/instance?serviceName=demo&ip=10.0.0.5&port=1", nil)
	req.Header.Set("X-Distrod-Forwarded", "10.9.9.9:8848")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("register: %d", resp.StatusCode)
	}
	key := naming.PubKey(naming.IPPortClientID("10.0.0.5", 1), naming.NewServiceKey("", "", "demo"))
	if owned(b.store, key) != b.addr || owned(a.store, key) != b.addr {
		t.Fatalf("want the write run by owner b, got owner %q on a, %q on b", owned(a.store, key), owned(b.store, key))
	}
}

type udpRecorder struct {
	mu    sync.Mutex
	addrs []string
	uas   []string
}

func (u *udpRecorder) SubscribeUDP(_ naming.ServiceKey, _ string, addr netip.AddrPort, ua string) {
	u.mu.Lock()
	u.addrs = append(u.addrs, addr.String())
	u.uas = append(u.uas, ua)
	u.mu.Unlock()
}

// TestServeForwarded_RunsLocallyWithClientAddressAndKeys checks that a
// request run by ServeForwarded is handled here whatever the router says,
// reports the keys it touched, and sees the original client's address and
// headers (a UDP subscription goes to the client, not to the entry node).
func TestServeForwarded_RunsLocallyWithClientAddressAndKeys(t *testing.T) {
	udp := &udpRecorder{}
	st := naming.NewStore("127.0.0.1:8848", hlc.NewClock("127.0.0.1:8848"))
	router := &fakeRouter{self: "127.0.0.1:8848", m: map[string]string{"10.0.0.6:1": "127.0.0.1:1"}}
	h, err := New(Options{Store: st, Router: router, Forwarder: forwarder{net: &network{}}, UDP: udp, Now: (&fakeClock{t: t0}).Now})
	if err != nil {
		t.Fatal(err)
	}
	ans, err := ServeForwarded(context.Background(), h, ForwardedRequest{
		Method: "PUT", RequestURI: "/nacos/v1/ns/instance/beat?serviceName=demo",
		Header:     http.Header{"Content-Type": {"application/x-www-form-urlencoded"}},
		Body:       []byte(`beat={"ip":"10.0.0.6","port":1}`),
		RemoteAddr: "10.7.7.7:4000",
	})
	if err != nil || ans.Status != 200 || !strings.Contains(string(ans.Body), `"code":10200`) {
		t.Fatalf("forwarded beat: %+v %v", ans, err)
	}
	key := naming.PubKey(naming.IPPortClientID("10.0.0.6", 1), naming.NewServiceKey("", "", "demo"))
	if len(ans.Keys) != 1 || ans.Keys[0] != key || owned(st, key) != "127.0.0.1:8848" {
		t.Fatalf("keys %v, owner %q", ans.Keys, owned(st, key))
	}
	ans, err = ServeForwarded(context.Background(), h, ForwardedRequest{
		Method: "GET", RequestURI: "/nacos/v1/ns/instance/list?serviceName=demo&udpPort=5555",
		Header: http.Header{"User-Agent": {"Nacos-Go-Client:v1.0.8"}}, RemoteAddr: "10.7.7.7:4000",
	})
	if err != nil || ans.Status != 200 || ans.ContentType != "application/json;charset=UTF-8" {
		t.Fatalf("forwarded list: %+v %v", ans, err)
	}
	udp.mu.Lock()
	defer udp.mu.Unlock()
	if len(udp.addrs) != 1 || udp.addrs[0] != "10.7.7.7:5555" || udp.uas[0] != "Nacos-Go-Client:v1.0.8" {
		t.Fatalf("UDP subscription %v %v, want the original client 10.7.7.7:5555", udp.addrs, udp.uas)
	}
}
