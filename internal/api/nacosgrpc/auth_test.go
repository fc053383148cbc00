package nacosgrpc

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/distrod/distrod/internal/auth"
	"github.com/distrod/distrod/internal/nacospb"
)

const testSecret = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

// callWith sends a unary request with metadata headers and returns the
// response type and decoded body.
func (r *rawClient) callWith(typ, body string, headers map[string]string) (string, map[string]any) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := nacospb.Invoke(ctx, r.cc, &nacospb.Payload{Type: typ, Headers: headers, Body: []byte(body)})
	if err != nil {
		r.t.Fatalf("%s: %v", typ, err)
	}
	var m map[string]any
	if err := json.Unmarshal(out.Body, &m); err != nil {
		r.t.Fatalf("%s: body %q: %v", typ, out.Body, err)
	}
	return out.Type, m
}

func TestAuth_RequestsNeedTokenAndPermission(t *testing.T) {
	g, err := auth.NewGuard(auth.Options{Enabled: true, Secret: testSecret, BcryptCost: bcrypt.MinCost,
		IdentityKey: "serverIdentity", IdentityValue: "trusted"})
	if err != nil {
		t.Fatal(err)
	}
	st := g.Store()
	for _, err := range []error{
		st.CreateUser("app", "pw"),
		st.AddRole("apps", "app"),
		st.AddPermission("apps", ":DEFAULT_GROUP:naming/raw", "rw"),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	login, err := g.Login("app", "pw", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	e := startEnv(t, func(o *Options) { o.Auth = g })
	r := dialRaw(t, e.addr)
	r.setup()
	r.waitRegistered() // health checks need no token

	otherGroup := strings.Replace(instanceBody, `"groupName":"DEFAULT_GROUP"`, `"groupName":"G2"`, 1)
	grouped := strings.Replace(instanceBody, `"serviceName":"raw"`, `"serviceName":"G2@@raw"`, 1)
	query := `{"requestId":"q1","namespace":"public","serviceName":"raw","groupName":"DEFAULT_GROUP","module":"naming","cluster":"","healthyOnly":false,"udpPort":0}`
	tok := map[string]string{"accessToken": login.AccessToken}
	for _, tc := range []struct {
		name, typ, body string
		headers         map[string]string
		wantType        string
		wantMsg         string // "" = success
	}{
		{"no token", typeInstanceRequest, instanceBody, nil, typeInstanceResponse, "user not found!"},
		{"bad token", typeInstanceRequest, instanceBody, map[string]string{"accessToken": "x.y.z"}, typeInstanceResponse, "unsupported signature algorithm"},
		{"no token on a query", typeServiceQueryRequest, query, nil, typeQueryServiceResponse, "user not found!"},
		{"permitted", typeInstanceRequest, instanceBody, tok, typeInstanceResponse, ""},
		{"permitted query", typeServiceQueryRequest, query, tok, typeQueryServiceResponse, ""},
		{"other group", typeInstanceRequest, otherGroup, tok, typeInstanceResponse, "authorization failed!"},
		{"group inside serviceName", typeInstanceRequest, grouped, tok, typeInstanceResponse, "authorization failed!"},
		{"token in the body's headers", typeInstanceRequest, strings.Replace(instanceBody, `"requestId":""`, `"headers":{"accessToken":"`+login.AccessToken+`"},"requestId":""`, 1), nil, typeInstanceResponse, ""},
		{"server identity", typeInstanceRequest, otherGroup, map[string]string{"serverIdentity": "trusted"}, typeInstanceResponse, ""},
	} {
		typ, m := r.callWith(tc.typ, tc.body, tc.headers)
		if typ != tc.wantType {
			t.Errorf("%s: response type %s, want %s", tc.name, typ, tc.wantType)
			continue
		}
		if tc.wantMsg == "" {
			if m["resultCode"].(float64) != CodeSuccess {
				t.Errorf("%s: %v, want success", tc.name, m)
			}
			continue
		}
		if m["resultCode"].(float64) != CodeServerError || m["errorCode"].(float64) != CodeNoRight ||
			m["message"] != tc.wantMsg || m["success"] != false {
			t.Errorf("%s: %v, want resultCode 500, errorCode 403, message %q", tc.name, m, tc.wantMsg)
		}
	}
}
