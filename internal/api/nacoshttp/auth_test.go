package nacoshttp

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/distrod/distrod/internal/auth"
)

// testSecret is the base64 of 32 bytes.
const testSecret = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

func newAuthEnv(t *testing.T, enabled bool) (*env, *auth.Guard) {
	t.Helper()
	g, err := auth.NewGuard(auth.Options{Enabled: enabled, Secret: testSecret, TokenTTL: time.Hour,
		IdentityKey: "serverIdentity", IdentityValue: "trusted", BcryptCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	return newEnv(t, func(o *Options) { o.Auth = g }), g
}

// token logs in through the API and returns the access token.
func (e *env) token(user, password string) string {
	e.t.Helper()
	code, body := e.do("POST", "/nacos/v1/auth/users/login", "username="+user+"&password="+password)
	var ans loginAnswer
	if code != 200 || json.Unmarshal([]byte(body), &ans) != nil || ans.AccessToken == "" {
		e.t.Fatalf("login %s: %d %s", user, code, body)
	}
	return ans.AccessToken
}

// TestAuthAPI_Golden records the auth API and the access checks on the
// naming API: first admin, login, users, roles, permissions, and the 403
// answers with Nacos's messages.
func TestAuthAPI_Golden(t *testing.T) {
	e, g := newAuthEnv(t, true)
	steps := []step{
		{Name: "login before any user exists", Method: "POST", Path: "/nacos/v1/auth/users/login", Body: "username=nacos&password=nacos"},
		{Name: "no token on a naming read", Method: "GET", Path: "/nacos/v1/ns/instance/list?serviceName=app-1"},
		{Name: "no token on a v2 write", Method: "POST", Path: "/nacos/v2/ns/instance?serviceName=app-1&ip=10.0.0.1&port=80"},
		{Name: "health probes stay open", Method: "GET", Path: "/nacos/v1/console/health/readiness"},
		{Name: "first admin", Method: "POST", Path: "/nacos/v1/auth/users/admin", Body: "password=adminpw"},
		{Name: "first admin again", Method: "POST", Path: "/nacos/v1/auth/users/admin", Body: "password=other"},
		{Name: "wrong password", Method: "POST", Path: "/nacos/v1/auth/users/login", Body: "username=nacos&password=wrong"},
		{Name: "login", Method: "POST", Path: "/nacos/v1/auth/login", Body: "username=nacos&password=adminpw"},
	}
	runScript(t, e, "auth_1_bootstrap", steps)

	// Tokens depend only on the secret, the user and the clock, so these
	// equal the ones the API issues at the same time.
	at := loginAt(g, "nacos", "adminpw", t0)
	steps = []step{
		{Name: "bad token", Method: "GET", Path: "/nacos/v1/ns/instance/list?serviceName=app-1&accessToken=abc"},
		{Name: "create user", Method: "POST", Path: "/nacos/v1/auth/users?accessToken=" + at, Body: "username=app&password=apppw"},
		{Name: "create user twice", Method: "POST", Path: "/nacos/v1/auth/users?accessToken=" + at, Body: "username=app&password=apppw"},
		{Name: "create user nacos", Method: "POST", Path: "/nacos/v1/auth/users?accessToken=" + at, Body: "username=nacos&password=x"},
		{Name: "role for a missing user", Method: "POST", Path: "/nacos/v1/auth/roles?accessToken=" + at, Body: "role=apps&username=ghost"},
		{Name: "grant ROLE_ADMIN", Method: "POST", Path: "/nacos/v1/auth/roles?accessToken=" + at, Body: "role=ROLE_ADMIN&username=app"},
		{Name: "add role", Method: "POST", Path: "/nacos/v1/auth/roles?accessToken=" + at, Body: "role=apps&username=app"},
		{Name: "permission for a missing role", Method: "POST", Path: "/nacos/v1/auth/permissions?accessToken=" + at, Body: "role=none&resource=:*:*&action=r"},
		{Name: "add permission", Method: "POST", Path: "/nacos/v1/auth/permissions?accessToken=" + at, Body: "role=apps&resource=public:DEFAULT_GROUP:naming/app-*&action=rw"},
		{Name: "list users", Method: "GET", Path: "/nacos/v1/auth/users?search=accurate&pageNo=1&pageSize=10&accessToken=" + at},
		{Name: "list roles", Method: "GET", Path: "/nacos/v1/auth/roles?search=blur&pageNo=1&pageSize=10&role=app&accessToken=" + at},
		{Name: "list permissions", Method: "GET", Path: "/nacos/v1/auth/permissions?search=accurate&pageNo=1&pageSize=10&role=apps&accessToken=" + at},
		{Name: "delete the admin", Method: "DELETE", Path: "/nacos/v1/auth/users?username=nacos&accessToken=" + at},
		{Name: "switches as admin", Method: "PUT", Path: "/nacos/v1/ns/operator/switches?entry=lightBeatEnabled&value=true&accessToken=" + at},
	}
	runScript(t, e, "auth_2_admin", steps)

	pt := loginAt(g, "app", "apppw", t0)
	later := t0.Add(time.Hour + time.Second)
	steps = []step{
		{Name: "user registers where permitted", Method: "POST", Path: "/nacos/v1/ns/instance?serviceName=app-1&ip=10.0.0.1&port=80&accessToken=" + pt},
		{Name: "user reads where permitted", Method: "GET", Path: "/nacos/v2/ns/instance/list?serviceName=app-1&accessToken=" + pt},
		{Name: "grouped service name names the group", Method: "DELETE", Path: "/nacos/v1/ns/instance?serviceName=OTHER@@app-1&ip=10.0.0.1&port=80&accessToken=" + pt},
		{Name: "other service", Method: "POST", Path: "/nacos/v2/ns/instance?serviceName=db&ip=10.0.0.1&port=80&accessToken=" + pt},
		{Name: "other namespace", Method: "GET", Path: "/nacos/v1/ns/instance/list?namespaceId=dev&serviceName=app-1&accessToken=" + pt},
		{Name: "switches as a user", Method: "PUT", Path: "/nacos/v1/ns/operator/switches?entry=clientBeatInterval&value=1&accessToken=" + pt},
		{Name: "user administration as a user", Method: "GET", Path: "/nacos/v1/auth/users?accessToken=" + pt},
		{Name: "own password", Method: "PUT", Path: "/nacos/v1/auth/users?accessToken=" + pt, Body: "username=app&newPassword=apppw2"},
		{Name: "another's password", Method: "PUT", Path: "/nacos/v1/auth/users?accessToken=" + pt, Body: "username=nacos&newPassword=x"},
		{Name: "username and password instead of a token", Method: "GET", Path: "/nacos/v1/ns/instance/list?serviceName=app-1&username=app&password=apppw2"},
		{Name: "token expired", Method: "GET", Path: "/nacos/v1/ns/instance/list?serviceName=app-1&accessToken=" + pt, Advance: time.Hour + time.Second},
		{Name: "remove the permission", Method: "DELETE", Path: "/nacos/v1/auth/permissions?role=apps&resource=public:DEFAULT_GROUP:naming/app-*&action=rw&username=nacos&password=adminpw"},
		{Name: "delete role", Method: "DELETE", Path: "/nacos/v1/auth/roles?role=apps&username=app&accessToken=" + loginAt(g, "nacos", "adminpw", later)},
		{Name: "delete user", Method: "DELETE", Path: "/nacos/v1/auth/users?username=app&accessToken=" + loginAt(g, "nacos", "adminpw", later)},
	}
	runScript(t, e, "auth_3_user", steps)
}

func loginAt(g *auth.Guard, user, password string, now time.Time) string {
	r, err := g.Login(user, password, now)
	if err != nil {
		panic(err)
	}
	return r.AccessToken
}

func httpTestServer(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAuth_HeadersCarryCredentials(t *testing.T) {
	e, g := newAuthEnv(t, true)
	if err := g.Store().CreateAdmin("adminpw"); err != nil {
		t.Fatal(err)
	}
	tok := e.token("nacos", "adminpw")
	for _, hdr := range [][]string{
		{"Authorization", "Bearer " + tok},
		{"accessToken", tok},
		{"serverIdentity", "trusted"},
	} {
		if code, body := e.do("PUT", "/nacos/v1/ns/operator/switches?entry=lightBeatEnabled&value=true", "", hdr...); code != 200 {
			t.Errorf("with header %s: %d %s", hdr[0], code, body)
		}
	}
	if code, _ := e.do("PUT", "/nacos/v1/ns/operator/switches?entry=lightBeatEnabled&value=true", "", "serverIdentity", "guess"); code != http.StatusForbidden {
		t.Errorf("wrong identity value: %d, want 403", code)
	}
	// A forwarded write is checked again by its owner: being forwarded is
	// no way around auth.
	h := e.srv.Config.Handler
	fwd := func(hdr http.Header) int {
		ans, err := ServeForwarded(context.Background(), h, ForwardedRequest{
			Method: "POST", RequestURI: "/nacos/v1/ns/instance?serviceName=s&ip=10.0.0.1&port=80",
			Header: hdr, RemoteAddr: "10.7.7.7:4000",
		})
		if err != nil {
			t.Fatal(err)
		}
		return ans.Status
	}
	if code := fwd(http.Header{}); code != http.StatusForbidden {
		t.Errorf("forwarded write without credentials: %d, want 403", code)
	}
	if code := fwd(http.Header{"Authorization": {"Bearer " + tok}}); code != 200 {
		t.Errorf("forwarded write with the client's token: %d, want 200", code)
	}
	if code, _ := e.do("GET", "/nacos/v1/ns/operator/metrics", "", "Authorization", "Bearer "+tok); code != 200 {
		t.Errorf("metrics with a token: %d", code)
	}
}

func TestAuth_ExtraHandlersNeedAdmin(t *testing.T) {
	g, err := auth.NewGuard(auth.Options{Enabled: true, Secret: testSecret, BcryptCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Store().CreateAdmin("adminpw"); err != nil {
		t.Fatal(err)
	}
	if err := g.Store().CreateUser("app", "pw"); err != nil {
		t.Fatal(err)
	}
	nodes := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("nodes")) })
	e := newEnv(t, func(o *Options) {
		o.Auth = g
		o.Extra = map[string]http.Handler{"/v1/core/cluster/nodes": nodes}
	})
	for _, tc := range []struct {
		query string
		want  int
	}{
		{"", 403},
		{"?username=app&password=pw", 403},
		{"?username=nacos&password=adminpw", 200},
		{"?accessToken=" + e.token("nacos", "adminpw"), 200},
	} {
		if code, body := e.do("GET", "/nacos/v1/core/cluster/nodes"+tc.query, ""); code != tc.want {
			t.Errorf("nodes%s: %d %s, want %d", tc.query, code, body, tc.want)
		}
	}
	wrapped := httpTestServer(t, RequireAdmin(g, nodes))
	if code, _ := httpGet(t, wrapped+"/distrod/debug/partition"); code != 403 {
		t.Errorf("RequireAdmin without credentials: %d", code)
	}
	if code, _ := httpGet(t, wrapped+"/distrod/debug/partition?username=nacos&password=adminpw"); code != 200 {
		t.Errorf("RequireAdmin as admin: %d", code)
	}
}

func TestAuth_DisabledKeepsEverythingOpen(t *testing.T) {
	e, _ := newAuthEnv(t, false)
	if code, body := e.do("POST", "/nacos/v1/ns/instance?serviceName=s&ip=10.0.0.1&port=80", ""); code != 200 || body != "ok" {
		t.Fatalf("register with auth off: %d %s", code, body)
	}
	if code, body := e.do("PUT", "/nacos/v1/ns/operator/switches?entry=lightBeatEnabled&value=true", ""); code != 200 {
		t.Fatalf("switches with auth off: %d %s", code, body)
	}
	code, body := e.do("POST", "/nacos/v1/auth/users/login", "username=x&password=y")
	if code != 200 || !strings.Contains(body, `"accessToken":"AUTH_DISABLED","tokenTtl":3600`) {
		t.Fatalf("login with auth off: %d %s", code, body)
	}
	if code, _ := e.do("POST", "/nacos/v1/auth/users/admin", "password=x"); code != 404 {
		t.Fatalf("first-admin API with auth off: %d, want 404", code)
	}
}

func TestAuthRules_CoverEveryRoute(t *testing.T) {
	g, _ := auth.NewGuard(auth.Options{Enabled: true, Secret: testSecret})
	h, err := New(Options{Store: newEnv(t, nil).store, Auth: g})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for path, byMethod := range h.(*server).routes {
		for method, ep := range byMethod {
			n++
			if _, ok := authRules[ep.api]; !ok {
				t.Errorf("%s %s (%s) has no access rule in authRules (it would need ROLE_ADMIN)", method, path, ep.api)
			}
		}
	}
	if n < 50 {
		t.Fatalf("only %d routes found: the auth API or the naming API is missing", n)
	}
}
