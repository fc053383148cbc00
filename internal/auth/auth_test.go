package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// secret32 is the base64 of 32 bytes.
const secret32 = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

var t0 = time.Unix(1_700_000_000, 0)

func TestDecodeSecret_NeedsThirtyTwoBytes(t *testing.T) {
	if _, err := DecodeSecret(secret32); err != nil {
		t.Fatal(err)
	}
	short := base64.StdEncoding.EncodeToString(make([]byte, 31))
	for _, s := range []string{"", short, "not base64!"} {
		if _, err := DecodeSecret(s); !errors.Is(err, ErrBadSecret) {
			t.Errorf("DecodeSecret(%q) = %v, want ErrBadSecret", s, err)
		}
	}
	// Unpadded and URL-safe forms of the same key decode too.
	if _, err := DecodeSecret(strings.TrimRight(secret32, "=")); err != nil {
		t.Errorf("unpadded: %v", err)
	}
}

func TestTokens_NacosFormat(t *testing.T) {
	tk, err := NewTokens(secret32, 18000*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	tok := tk.Issue("alice", t0)
	parts := strings.Split(tok, ".")
	if len(parts) != 3 || parts[0] != "eyJhbGciOiJIUzI1NiJ9" {
		t.Fatalf("token %q: want Nacos's HS256 header", tok)
	}
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	if want := `{"sub":"alice","exp":1700018000}`; string(payload) != want {
		t.Fatalf("payload %s, want %s", payload, want)
	}
	// The signature is HMAC-SHA256 over header.payload with the decoded key.
	key, _ := base64.StdEncoding.DecodeString(secret32)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(parts[0] + "." + parts[1]))
	if got := base64.RawURLEncoding.EncodeToString(m.Sum(nil)); got != parts[2] {
		t.Fatalf("signature %s, want %s", parts[2], got)
	}
	user, exp, err := tk.Verify(tok, t0.Add(18000*time.Second))
	if err != nil || user != "alice" || exp != 1700018000 {
		t.Fatalf("Verify at exp = %q %d %v", user, exp, err)
	}
}

func TestTokens_LongerKeysPickStrongerAlgorithms(t *testing.T) {
	for n, header := range map[int]string{48: "eyJhbGciOiJIUzM4NCJ9", 64: "eyJhbGciOiJIUzUxMiJ9"} {
		tk, err := NewTokens(base64.StdEncoding.EncodeToString(make([]byte, n)), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		tok := tk.Issue("bob", t0)
		if !strings.HasPrefix(tok, header+".") {
			t.Errorf("%d-byte key: token %s, want header %s", n, tok, header)
		}
		if _, _, err := tk.Verify(tok, t0); err != nil {
			t.Errorf("%d-byte key: %v", n, err)
		}
	}
}

func TestTokens_RejectsWithNacosMessages(t *testing.T) {
	tk, _ := NewTokens(secret32, time.Hour)
	other, _ := NewTokens(base64.StdEncoding.EncodeToString([]byte("another secret of thirty-two b!!")), time.Hour)
	good := tk.Issue("alice", t0)
	parts := strings.Split(good, ".")
	for _, tc := range []struct {
		token string
		now   time.Time
		want  error
		msg   string
	}{
		{"", t0, ErrUserNotFound, "user not found!"},
		{"a.b", t0, ErrTokenInvalid, "token invalid!"},
		{"eyJhbGciOiJub25lIn0." + parts[1] + ".", t0, ErrUnsupportedAlgorithm, "unsupported signature algorithm"},
		{other.Issue("alice", t0), t0, ErrInvalidSignature, "Invalid signature"},
		{parts[0] + "." + parts[1] + "x." + parts[2], t0, ErrInvalidSignature, "Invalid signature"},
		{good, t0.Add(time.Hour + time.Second), ErrTokenExpired, "token expired!"},
	} {
		_, _, err := tk.Verify(tc.token, tc.now)
		if !errors.Is(err, tc.want) || Message(err) != tc.msg {
			t.Errorf("Verify(%q) = %v (%q), want %v (%q)", tc.token, err, Message(err), tc.want, tc.msg)
		}
	}
}

func TestGlob_MatchesLikeNacosRegex(t *testing.T) {
	for _, tc := range []struct {
		p, s string
		want bool
	}{
		{"*", "", true},
		{"*", ":g:naming/s", true},
		{"ns1:*:*", "ns1:DEFAULT_GROUP:naming/svc", true},
		{"ns1:*:*", "ns2:DEFAULT_GROUP:naming/svc", false},
		{":*:*", ":g:naming/s", true},
		{":g:naming/s*", ":g:naming/s-1", true},
		{":g:naming/s", ":g:naming/s-1", false},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
		{"a.b", "axb", false}, // only '*' is special
	} {
		if got := glob(tc.p, tc.s); got != tc.want {
			t.Errorf("glob(%q, %q) = %v, want %v", tc.p, tc.s, got, tc.want)
		}
	}
}

func TestResource_JoinsAsNacos(t *testing.T) {
	for r, want := range map[Resource]string{
		{Namespace: "public", Group: "G", Service: "s"}: ":G:naming/s",
		{Namespace: "", Group: "", Service: ""}:         ":*:naming/*",
		{Namespace: "dev", Group: "G"}:                  "dev:G:naming/*",
	} {
		if got := r.String(); got != want {
			t.Errorf("%+v.String() = %q, want %q", r, got, want)
		}
	}
}

func newStore(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "data", "auth", "users.json")
	s, err := OpenStore(path, bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return s, path
}

func TestStore_PermissionsDecideAccess(t *testing.T) {
	s, _ := newStore(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.CreateAdmin("adminpw"))
	must(s.CreateUser("reader", "pw"))
	must(s.CreateUser("writer", "pw"))
	must(s.CreateUser("nobody", "pw"))
	must(s.AddRole("readers", "reader"))
	must(s.AddRole("writers", "writer"))
	must(s.AddPermission("readers", ":*:*", "r"))
	must(s.AddPermission("writers", "public:DEFAULT_GROUP:naming/app-*", "rw"))
	must(s.AddPermission("writers", "dev:*:*", "w"))

	pub := func(g, svc string) Resource { return Resource{Namespace: "public", Group: g, Service: svc} }
	for _, tc := range []struct {
		user   string
		res    Resource
		action string
		want   bool
	}{
		{"nacos", Resource{Namespace: "x", Group: "y", Service: "z"}, Write, true},
		{"reader", pub("DEFAULT_GROUP", "a"), Read, true},
		{"reader", pub("DEFAULT_GROUP", "a"), Write, false},
		{"reader", Resource{Namespace: "dev", Group: "G", Service: "a"}, Read, false},
		{"writer", pub("DEFAULT_GROUP", "app-1"), Write, true},
		{"writer", pub("DEFAULT_GROUP", "app-1"), Read, true},
		{"writer", pub("OTHER", "app-1"), Write, false},
		{"writer", pub("DEFAULT_GROUP", "db"), Write, false},
		{"writer", Resource{Namespace: "dev", Group: "G", Service: "x"}, Write, true},
		{"writer", Resource{Namespace: "dev", Group: "G", Service: "x"}, Read, false},
		{"nobody", pub("DEFAULT_GROUP", "a"), Read, false},
		{"ghost", pub("DEFAULT_GROUP", "a"), Read, false},
	} {
		if got := s.Allowed(tc.user, tc.res, tc.action); got != tc.want {
			t.Errorf("Allowed(%s, %s, %s) = %v, want %v", tc.user, tc.res, tc.action, got, tc.want)
		}
	}
}

func TestStore_RulesAndMessages(t *testing.T) {
	s, _ := newStore(t)
	if err := s.CreateAdmin("pw"); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUser("u", "pw"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		err  error
		kind error
		msg  string
	}{
		{s.CreateAdmin("other"), ErrAdminExists, "have admin user cannot use it"},
		{s.CreateUser("u", "x"), ErrUserExists, "user 'u' already exist!"},
		{s.CreateUser("v", ""), ErrInvalid, "password is empty"},
		{s.DeleteUser("nacos"), ErrAdminRole, "cannot delete admin: nacos"},
		{s.AddRole(AdminRole, "u"), ErrAdminRole, "role 'ROLE_ADMIN' is not permitted to create!"},
		{s.AddRole("r", "ghost"), ErrNoUser, "user 'ghost' not found!"},
		{s.AddPermission("none", ":*:*", "r"), ErrNoRole, "role none not found!"},
		{s.AddPermission("r", ":*:*", "x"), ErrInvalid, "action 'x' is not r, w or rw"},
		{s.DeleteRole(AdminRole, "nacos"), ErrAdminRole, "role 'ROLE_ADMIN' cannot be deleted"},
		{s.SetPassword("ghost", "x"), ErrNoUser, "user ghost not exist!"},
	} {
		if !errors.Is(tc.err, tc.kind) || Message(tc.err) != tc.msg {
			t.Errorf("got %v (%q), want %v (%q)", tc.err, Message(tc.err), tc.kind, tc.msg)
		}
	}
	if err := s.CheckPassword("u", "wrong"); !errors.Is(err, ErrUserNotFound) {
		t.Errorf("wrong password: %v", err)
	}
	for range 2 { // the second check is answered from the cache
		if err := s.CheckPassword("u", "pw"); err != nil {
			t.Fatalf("right password: %v", err)
		}
	}
	if err := s.SetPassword("u", "new"); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckPassword("u", "new"); err != nil {
		t.Errorf("new password: %v", err)
	}
	if err := s.CheckPassword("u", "pw"); !errors.Is(err, ErrUserNotFound) {
		t.Errorf("old password still accepted after a change: %v", err)
	}
	// Deleting a user drops its role bindings.
	if err := s.AddRole("r", "u"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser("u"); err != nil {
		t.Fatal(err)
	}
	if p := s.Roles("u", "", false, 1, 10); p.TotalCount != 0 {
		t.Errorf("roles of deleted user: %+v", p)
	}
}

func TestStore_PersistsAtomicallyAndReloads(t *testing.T) {
	s, path := newStore(t)
	if err := s.CreateAdmin("pw"); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUser("alice", "apw"); err != nil {
		t.Fatal(err)
	}
	if err := s.AddRole("dev", "alice"); err != nil {
		t.Fatal(err)
	}
	if err := s.AddPermission("dev", "dev:*:*", "rw"); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("user file mode %v, want 0600", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
	data, _ := os.ReadFile(path)
	if strings.Contains(string(data), "apw") {
		t.Fatal("plain password in the user file")
	}
	r, err := OpenStore(path, bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.CheckPassword("alice", "apw"); err != nil {
		t.Errorf("reloaded password: %v", err)
	}
	if !r.IsAdmin("nacos") || !r.Allowed("alice", Resource{Namespace: "dev", Group: "g", Service: "s"}, Write) {
		t.Error("reloaded store lost roles or permissions")
	}
	if got := r.Users("", false, 1, 10); got.TotalCount != 2 || got.PageItems[0].Username != "alice" || got.PageItems[0].Password != "" {
		t.Errorf("Users() = %+v", got)
	}
	// A corrupt file refuses to start rather than silently dropping users.
	if err := os.WriteFile(path, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenStore(path, bcrypt.MinCost); err == nil {
		t.Error("corrupt user file accepted")
	}
}

func TestStore_ListingsPageAndFilter(t *testing.T) {
	s, _ := newStore(t)
	for _, u := range []string{"carol", "alice", "bob", "alina"} {
		if err := s.CreateUser(u, "pw"); err != nil {
			t.Fatal(err)
		}
	}
	p := s.Users("", false, 2, 3)
	if p.TotalCount != 4 || p.PagesAvailable != 2 || p.PageNumber != 2 || len(p.PageItems) != 1 || p.PageItems[0].Username != "carol" {
		t.Errorf("page 2 = %+v", p)
	}
	if p := s.Users("ali", true, 1, 10); p.TotalCount != 2 {
		t.Errorf("blur ali = %+v", p)
	}
	if p := s.Users("ali", false, 1, 10); p.TotalCount != 0 {
		t.Errorf("accurate ali = %+v", p)
	}
	if p := s.Users("", false, 9, 10); len(p.PageItems) != 0 || p.PageItems == nil {
		t.Errorf("page past the end = %+v", p)
	}
}

func TestGuard_ChecksTokensPasswordsAndIdentity(t *testing.T) {
	g, err := NewGuard(Options{Enabled: true, Secret: secret32, TokenTTL: time.Minute,
		IdentityKey: "serverIdentity", IdentityValue: "trusted", BcryptCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	st := g.Store()
	if err := st.CreateAdmin("adminpw"); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateUser("app", "apppw"); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Login("app", "nope", t0); !errors.Is(err, ErrUserNotFound) {
		t.Fatalf("bad login: %v", err)
	}
	res, err := g.Login("app", "apppw", t0)
	if err != nil || res.TokenTTL != 60 || res.GlobalAdmin || res.Username != "app" {
		t.Fatalf("login = %+v, %v", res, err)
	}
	admin, _ := g.Login("nacos", "adminpw", t0)
	if !admin.GlobalAdmin {
		t.Fatal("admin login: globalAdmin false")
	}
	svc := Resource{Namespace: "public", Group: "DEFAULT_GROUP", Service: "s"}
	if err := g.Check(Credentials{Token: res.AccessToken}, svc, Read, t0); !errors.Is(err, ErrForbidden) {
		t.Errorf("no permission: %v", err)
	}
	if err := st.AddRole("apps", "app"); err != nil {
		t.Fatal(err)
	}
	if err := st.AddPermission("apps", ":*:*", "rw"); err != nil {
		t.Fatal(err)
	}
	if err := g.Check(Credentials{Token: res.AccessToken}, svc, Write, t0); err != nil {
		t.Errorf("with permission: %v", err)
	}
	if err := g.Check(Credentials{Username: "app", Password: "apppw"}, svc, Write, t0); err != nil {
		t.Errorf("username and password: %v", err)
	}
	if err := g.Check(Credentials{Token: res.AccessToken}, svc, Write, t0.Add(2*time.Minute)); !errors.Is(err, ErrTokenExpired) {
		t.Errorf("expired: %v", err)
	}
	if err := g.CheckAdmin(Credentials{Token: res.AccessToken}, t0); !errors.Is(err, ErrForbidden) {
		t.Errorf("non-admin on admin API: %v", err)
	}
	if err := g.CheckAdmin(Credentials{Token: admin.AccessToken}, t0); err != nil {
		t.Errorf("admin: %v", err)
	}
	if err := g.CheckAdmin(Credentials{Identity: "trusted"}, t0); err != nil {
		t.Errorf("server identity: %v", err)
	}
	if err := g.CheckAdmin(Credentials{Identity: "guess"}, t0); !errors.Is(err, ErrUserNotFound) {
		t.Errorf("wrong identity: %v", err)
	}
	if err := g.CanManageUser(Credentials{Token: res.AccessToken}, "app", t0); err != nil {
		t.Errorf("own password: %v", err)
	}
	if err := g.CanManageUser(Credentials{Token: res.AccessToken}, "nacos", t0); !errors.Is(err, ErrForbidden) {
		t.Errorf("other's password: %v", err)
	}
}

func TestGuard_DisabledLetsEverythingThrough(t *testing.T) {
	g, err := NewGuard(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.CheckAdmin(Credentials{}, t0); err != nil {
		t.Fatal(err)
	}
	res, err := g.Login("any", "thing", t0)
	if err != nil || res.AccessToken != DisabledToken || res.TokenTTL != 18000 {
		t.Fatalf("login with auth off = %+v, %v", res, err)
	}
	if _, err := NewGuard(Options{Enabled: true, Secret: "c2hvcnQ="}); !errors.Is(err, ErrBadSecret) {
		t.Fatalf("short secret: %v", err)
	}
}
