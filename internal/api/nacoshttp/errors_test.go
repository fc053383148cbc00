package nacoshttp

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/distrod/distrod/internal/naming"
)

// TestErrors_GoldenBadInput sends every kind of bad input to v1 and v2 and
// compares status and body with testdata/errors.golden; afterwards the
// store must hold only the one valid registration.
func TestErrors_GoldenBadInput(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.MaxBodyBytes = 512 })
	big := "serviceName=demo&ip=10.0.0.1&port=1&metadata=" + strings.Repeat("x", 600)
	runScript(t, e, "errors", []step{
		{Name: "setup: one valid instance", Method: "POST", Path: v1 + "/instance", Body: "serviceName=demo&ip=10.0.0.1&port=8080"},
		{Name: "v1 missing serviceName", Method: "POST", Path: v1 + "/instance", Body: "ip=10.0.0.9&port=1"},
		{Name: "v1 missing ip", Method: "POST", Path: v1 + "/instance", Body: "serviceName=demo&port=1"},
		{Name: "v1 missing port", Method: "POST", Path: v1 + "/instance", Body: "serviceName=demo&ip=10.0.0.9"},
		{Name: "v1 port not a number", Method: "POST", Path: v1 + "/instance", Body: "serviceName=demo&ip=10.0.0.9&port=abc"},
		{Name: "v1 port out of range", Method: "POST", Path: v1 + "/instance", Body: "serviceName=demo&ip=10.0.0.9&port=70000"},
		{Name: "v1 weight not a number", Method: "POST", Path: v1 + "/instance", Body: "serviceName=demo&ip=10.0.0.9&port=1&weight=heavy"},
		{Name: "v1 weight above 10000", Method: "POST", Path: v1 + "/instance", Body: "serviceName=demo&ip=10.0.0.9&port=1&weight=10001"},
		{Name: "v1 negative weight", Method: "POST", Path: v1 + "/instance", Body: "serviceName=demo&ip=10.0.0.9&port=1&weight=-1"},
		{Name: "v1 illegal cluster name", Method: "POST", Path: v1 + "/instance", Body: "serviceName=demo&ip=10.0.0.9&port=1&clusterName=bad_name!"},
		{Name: "v1 invalid JSON metadata", Method: "POST", Path: v1 + "/instance", Body: "serviceName=demo&ip=10.0.0.9&port=1&metadata=%7B%22a%22%3A"},
		{Name: "v1 bad k=v metadata", Method: "POST", Path: v1 + "/instance", Body: "serviceName=demo&ip=10.0.0.9&port=1&metadata=a%3D1%2Cb"},
		{Name: "v1 beat interval above timeout", Method: "POST", Path: v1 + "/instance", Body: "serviceName=demo&ip=10.0.0.9&port=1&metadata=preserved.heart.beat.interval%3D20000"},
		{Name: "v1 bad grouped name", Method: "POST", Path: v1 + "/instance", Body: "serviceName=%40%40demo&ip=10.0.0.9&port=1"},
		{Name: "v1 persistent instance", Method: "POST", Path: v1 + "/instance", Body: "serviceName=demo&ip=10.0.0.9&port=1&ephemeral=false"},
		{Name: "v1 oversized body", Method: "POST", Path: v1 + "/instance", Body: big},
		{Name: "v1 deregister missing ip", Method: "DELETE", Path: v1 + "/instance?serviceName=demo&port=1"},
		{Name: "v1 update unknown service", Method: "PUT", Path: v1 + "/instance", Body: "serviceName=nope&ip=10.0.0.9&port=1"},
		{Name: "v1 update unknown instance", Method: "PUT", Path: v1 + "/instance", Body: "serviceName=demo&ip=10.0.0.9&port=1"},
		{Name: "v1 patch weight out of range", Method: "PATCH", Path: v1 + "/instance", Body: "serviceName=demo&ip=10.0.0.1&port=8080&weight=20000"},
		{Name: "v1 detail unknown service", Method: "GET", Path: v1 + "/instance?serviceName=nope&ip=10.0.0.1&port=8080"},
		{Name: "v1 detail unknown ip", Method: "GET", Path: v1 + "/instance?serviceName=demo&ip=10.0.0.2&port=8080"},
		{Name: "v1 detail unknown cluster", Method: "GET", Path: v1 + "/instance?serviceName=demo&ip=10.0.0.1&port=8080&clusterName=zz"},
		{Name: "v1 list missing serviceName", Method: "GET", Path: v1 + "/instance/list"},
		{Name: "v1 list udpPort not a number", Method: "GET", Path: v1 + "/instance/list?serviceName=demo&udpPort=x"},
		{Name: "v1 beat missing serviceName", Method: "PUT", Path: v1 + "/instance/beat", Body: "ip=10.0.0.1&port=8080"},
		{Name: "v1 beat malformed JSON", Method: "PUT", Path: v1 + "/instance/beat", Body: `serviceName=demo&beat={"ip":"10.0.0.1","port":`},
		{Name: "v1 beat port not a number", Method: "PUT", Path: v1 + "/instance/beat?serviceName=demo&ip=10.0.0.1&port=p"},
		{Name: "v1 metadata batch missing metadata", Method: "PUT", Path: v1 + "/instance/metadata/batch", Body: "serviceName=demo"},
		{Name: "v1 metadata batch bad instances", Method: "PUT", Path: v1 + "/instance/metadata/batch", Body: "serviceName=demo&metadata=a%3D1&instances=%5B1"},
		{Name: "v1 metadata batch persist", Method: "PUT", Path: v1 + "/instance/metadata/batch", Body: "serviceName=demo&metadata=a%3D1&consistencyType=persist"},
		{Name: "v1 create existing service", Method: "POST", Path: v1 + "/service", Body: "serviceName=svc"},
		{Name: "v1 create existing service again", Method: "POST", Path: v1 + "/service", Body: "serviceName=svc"},
		{Name: "v1 create service bad threshold", Method: "POST", Path: v1 + "/service", Body: "serviceName=svc2&protectThreshold=high"},
		{Name: "v1 create service bad selector", Method: "POST", Path: v1 + "/service", Body: "serviceName=svc2&selector=%7Bx"},
		{Name: "v1 update service missing threshold", Method: "PUT", Path: v1 + "/service", Body: "serviceName=svc"},
		{Name: "v1 update unknown service", Method: "PUT", Path: v1 + "/service", Body: "serviceName=nope&protectThreshold=0.1"},
		{Name: "v1 delete unknown service", Method: "DELETE", Path: v1 + "/service?serviceName=nope"},
		{Name: "v1 get unknown service", Method: "GET", Path: v1 + "/service?serviceName=nope"},
		{Name: "v1 service list missing pageNo", Method: "GET", Path: v1 + "/service/list?pageSize=10"},
		{Name: "v1 service list pageSize not a number", Method: "GET", Path: v1 + "/service/list?pageNo=1&pageSize=ten"},
		{Name: "v1 service list unknown namespace", Method: "GET", Path: v1 + "/service/list?pageNo=1&pageSize=10&namespaceId=nope"},
		{Name: "v1 catalog service unknown", Method: "GET", Path: v1 + "/catalog/service?serviceName=nope"},
		{Name: "v1 distro client missing ip", Method: "GET", Path: v1 + "/operator/distro/client?port=1"},
		{Name: "v1 switch unknown entry", Method: "PUT", Path: v1 + "/operator/switches?entry=nope&value=1"},
		{Name: "v1 switch read-only entry", Method: "PUT", Path: v1 + "/operator/switches?entry=distroEnabled&value=false"},
		{Name: "v1 switch bad value", Method: "PUT", Path: v1 + "/operator/switches?entry=clientBeatInterval&value=-5"},
		{Name: "v1 switch missing value", Method: "PUT", Path: v1 + "/operator/switches?entry=clientBeatInterval"},
		{Name: "unknown path", Method: "GET", Path: v1 + "/nothing"},
		{Name: "wrong method", Method: "POST", Path: v1 + "/instance/list"},
		{Name: "outside the context path", Method: "GET", Path: "/v1/ns/instance/list?serviceName=demo"},
		{Name: "v2 missing ip", Method: "POST", Path: v2 + "/instance", Body: "serviceName=demo&port=1"},
		{Name: "v2 missing serviceName", Method: "POST", Path: v2 + "/instance", Body: "ip=10.0.0.9&port=1"},
		{Name: "v2 port not a number", Method: "POST", Path: v2 + "/instance", Body: "serviceName=demo&ip=10.0.0.9&port=abc"},
		{Name: "v2 weight out of range", Method: "POST", Path: v2 + "/instance", Body: "serviceName=demo&ip=10.0.0.9&port=1&weight=10000.5"},
		{Name: "v2 illegal cluster", Method: "POST", Path: v2 + "/instance", Body: "serviceName=demo&ip=10.0.0.9&port=1&clusterName=a.b"},
		{Name: "v2 invalid metadata", Method: "POST", Path: v2 + "/instance", Body: "serviceName=demo&ip=10.0.0.9&port=1&metadata=%7Bnope"},
		{Name: "v2 bad grouped name", Method: "POST", Path: v2 + "/instance", Body: "serviceName=g%40%40&ip=10.0.0.9&port=1"},
		{Name: "v2 oversized body", Method: "POST", Path: v2 + "/instance", Body: big},
		{Name: "v2 detail unknown instance", Method: "GET", Path: v2 + "/instance?serviceName=demo&ip=10.0.0.2&port=8080"},
		{Name: "v2 update unknown instance", Method: "PUT", Path: v2 + "/instance", Body: "serviceName=demo&ip=10.0.0.9&port=1"},
		{Name: "v2 create existing service", Method: "POST", Path: v2 + "/service", Body: "serviceName=svc"},
		{Name: "v2 delete service with instances", Method: "DELETE", Path: v2 + "/service?serviceName=demo"},
		{Name: "v2 get unknown service", Method: "GET", Path: v2 + "/service?serviceName=nope"},
		{Name: "v2 unknown client", Method: "GET", Path: v2 + "/client?clientId=nope"},
		{Name: "v2 client missing id", Method: "GET", Path: v2 + "/client"},
		{Name: "v2 switch unknown entry", Method: "PUT", Path: v2 + "/operator/switches?entry=nope&value=1"},
		{Name: "state unchanged: only the valid instance", Method: "GET", Path: v1 + "/instance/list?serviceName=demo"},
	})
	st := e.store.Stats()
	if st.Instances != 1 || st.Clients != 1 {
		t.Fatalf("bad input left state behind: %+v", st)
	}
	if _, _, ok := e.store.FindInstance(naming.NewServiceKey("", "", "demo"), "10.0.0.9", 1, ""); ok {
		t.Fatal("rejected instance was stored")
	}
}

// TestErrors_NotReady checks that a node that has not finished its startup
// snapshot load answers naming reads with 503 (v1 text, v2 envelope) while
// writes, liveness and the operator endpoints keep serving.
func TestErrors_NotReady(t *testing.T) {
	var ready atomic.Bool
	e := newEnv(t, func(o *Options) { o.Ready = ready.Load })
	const msg = "server is not ready: still loading the startup snapshot from its peers, please try again later"
	for _, path := range []string{
		v1 + "/instance/list?serviceName=demo", v1 + "/instance?serviceName=demo&ip=10.0.0.1&port=1",
		v1 + "/service?serviceName=demo", v1 + "/service/list?pageNo=1&pageSize=10", v1 + "/service/names",
		v1 + "/catalog/services", v1 + "/catalog/instances?serviceName=demo&clusterName=DEFAULT",
		v1 + "/instance/statuses?key=public%23%23DEFAULT_GROUP%40%40demo",
	} {
		if code, body := e.do("GET", path, ""); code != http.StatusServiceUnavailable || body != msg {
			t.Fatalf("GET %s while starting: %d %q", path, code, body)
		}
	}
	for _, path := range []string{v2 + "/instance/list?serviceName=demo", v2 + "/service/list", v2 + "/client/list", v2 + "/catalog/instances?serviceName=demo"} {
		if code, body := e.do("GET", path, ""); code != http.StatusServiceUnavailable || body != `{"code":30000,"message":"server error","data":"`+msg+`"}` {
			t.Fatalf("GET %s while starting: %d %q", path, code, body)
		}
	}
	code, body := e.do("GET", "/nacos/v1/console/health/readiness", "")
	if code != http.StatusServiceUnavailable || !strings.HasPrefix(body, "server is not ready") {
		t.Fatalf("readiness while starting: %d %q", code, body)
	}
	if code, body = e.do("GET", v1+"/operator/metrics", ""); code != 200 || body != `{"status":"STARTING"}` {
		t.Fatalf("metrics while starting: %d %q", code, body)
	}
	if code, _ = e.do("GET", "/nacos/v1/console/health/liveness", ""); code != 200 {
		t.Fatalf("liveness while starting: %d", code)
	}
	if code, body = e.do("POST", v1+"/instance", "serviceName=demo&ip=10.0.0.1&port=1"); code != 200 || body != "ok" {
		t.Fatalf("write while starting: %d %q", code, body)
	}
	if code, body = e.do("PUT", v2+"/instance/beat", "serviceName=demo&ip=10.0.0.1&port=1"); code != 200 || !strings.Contains(body, `"code":10200`) {
		t.Fatalf("beat while starting: %d %q", code, body)
	}
	ready.Store(true)
	if code, body = e.do("GET", "/nacos/v1/console/health/readiness", ""); code != 200 || body != "OK" {
		t.Fatalf("readiness when ready: %d %q", code, body)
	}
	if code, body = e.do("GET", v1+"/instance/list?serviceName=demo", ""); code != 200 || !strings.Contains(body, `"ip":"10.0.0.1"`) {
		t.Fatalf("list when ready: %d %q", code, body)
	}
}
