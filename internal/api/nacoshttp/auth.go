package nacoshttp

import (
	"crypto/rand"
	"errors"
	"math/big"
	"net/http"
	"strings"
	"time"

	"github.com/distrod/distrod/internal/auth"
	"github.com/distrod/distrod/internal/naming"
)

// Access rules: what a route needs from the caller when auth is on.
type access int

const (
	// accessAdmin needs ROLE_ADMIN. Routes missing from authRules get it.
	accessAdmin access = iota
	// accessOpen needs nothing: health probes, login, the first-admin API.
	accessOpen
	// accessUser needs any authenticated user (Nacos leaves these open).
	accessUser
	// accessRead and accessWrite need permission r or w on the naming
	// resource named by namespaceId, groupName and serviceName.
	accessRead
	accessWrite
	// accessSelfOrAdmin needs the user named by the username parameter,
	// or ROLE_ADMIN (password changes).
	accessSelfOrAdmin
)

// codeAccessDenied is Nacos's v2 code for a refused access.
const codeAccessDenied = 10001

// authRules maps every endpoint's api name to its access rule, as Nacos's
// @Secured annotations do. A route without a rule needs ROLE_ADMIN.
var authRules = map[string]access{
	"v1_instance_register":        accessWrite,
	"v1_instance_deregister":      accessWrite,
	"v1_instance_update":          accessWrite,
	"v1_instance_patch":           accessWrite,
	"v1_instance_detail":          accessRead,
	"v1_instance_list":            accessRead,
	"v1_instance_beat":            accessWrite,
	"v1_instance_statuses":        accessRead,
	"v1_instance_metadata_update": accessWrite,
	"v1_instance_metadata_delete": accessWrite,
	"v1_service_create":           accessWrite,
	"v1_service_delete":           accessWrite,
	"v1_service_update":           accessWrite,
	"v1_service_detail":           accessRead,
	"v1_service_list":             accessRead,
	"v1_service_names":            accessRead,
	"v1_catalog_services":         accessRead,
	"v1_catalog_instances":        accessRead,
	"v1_catalog_service":          accessRead,
	"v1_operator_metrics":         accessUser,
	"v1_operator_switches":        accessUser,
	"v1_operator_switches_update": accessAdmin,
	"v1_operator_distro_client":   accessUser,

	"v2_instance_register":        accessWrite,
	"v2_instance_deregister":      accessWrite,
	"v2_instance_update":          accessWrite,
	"v2_instance_detail":          accessRead,
	"v2_instance_list":            accessRead,
	"v2_instance_beat":            accessWrite,
	"v2_instance_metadata_update": accessWrite,
	"v2_instance_metadata_delete": accessWrite,
	"v2_service_create":           accessWrite,
	"v2_service_delete":           accessWrite,
	"v2_service_update":           accessWrite,
	"v2_service_detail":           accessRead,
	"v2_service_list":             accessRead,
	"v2_client_list":              accessAdmin,
	"v2_client_detail":            accessAdmin,
	"v2_catalog_instances":        accessRead,
	"v2_operator_metrics":         accessUser,
	"v2_operator_switches":        accessUser,
	"v2_operator_switches_update": accessAdmin,

	"console_liveness":  accessOpen,
	"console_readiness": accessOpen,

	// The endpoints of parity.go and loader.go. Nacos secures neither the
	// selector types nor the health greeting and checkers; subscribers and
	// health updates are naming reads and writes; client introspection is
	// its nacos/admin resource; the loader needs ROLE_ADMIN here.
	"v1_service_subscribers":        accessRead,
	"v1_selector_types":             accessOpen,
	"v1_operator_push_state":        accessUser,
	"v1_operator_log":               accessAdmin,
	"v1_health_server":              accessOpen,
	"v1_health_checkers":            accessOpen,
	"v1_health_update":              accessWrite,
	"v2_health_update":              accessWrite,
	"v2_instance_patch":             accessWrite,
	"v2_instance_statuses":          accessRead,
	"v2_client_publish_list":        accessAdmin,
	"v2_client_subscribe_list":      accessAdmin,
	"v2_client_service_publishers":  accessAdmin,
	"v2_client_service_subscribers": accessAdmin,
	"v2_console_liveness":           accessOpen,
	"v2_console_readiness":          accessOpen,
	"core_loader_current":           accessAdmin,
	"core_loader_reload_current":    accessAdmin,
	"core_loader_reload_client":     accessAdmin,
	"core_loader_cluster":           accessAdmin,
	"core_loader_smart_reload":      accessAdmin,

	// Users, roles and permissions are Nacos's console/ resources, which
	// only ROLE_ADMIN passes.
	"auth_login":             accessOpen,
	"auth_admin_init":        accessOpen,
	"auth_users_list":        accessAdmin,
	"auth_users_search":      accessAdmin,
	"auth_user_create":       accessAdmin,
	"auth_user_delete":       accessAdmin,
	"auth_user_password":     accessSelfOrAdmin,
	"auth_roles_list":        accessAdmin,
	"auth_roles_search":      accessAdmin,
	"auth_role_add":          accessAdmin,
	"auth_role_delete":       accessAdmin,
	"auth_permissions_list":  accessAdmin,
	"auth_permission_add":    accessAdmin,
	"auth_permission_delete": accessAdmin,
}

// credentials collects what a request presents, looking at headers before
// parameters as Nacos does: "Authorization: Bearer <token>", accessToken,
// username and password, and the server identity header.
func credentials(r *http.Request, p params, identityKey string) auth.Credentials {
	pick := func(name string) string {
		if v := r.Header.Get(name); v != "" {
			return v
		}
		return p.get(name)
	}
	var c auth.Credentials
	if b, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && b != "" {
		c.Token = b
	} else {
		c.Token = pick("accessToken")
	}
	c.Username, c.Password = pick("username"), pick("password")
	if identityKey != "" {
		c.Identity = r.Header.Get(identityKey)
	}
	return c
}

// namingResource is the resource a naming request touches. When a service
// is named it is the service the handler will touch, parsed the same way
// (naming.ParseServiceKey: the group in "group@@name" wins over
// groupName), so a permitted group cannot be named to reach another.
// Otherwise it is the namespace and group of a listing. The "key" of
// /instance/statuses ("namespace##group@@name") is read too.
func namingResource(p params) auth.Resource {
	ns := strings.TrimSpace(p.get("namespaceId"))
	svc := strings.TrimSpace(p.get("serviceName"))
	group := strings.TrimSpace(p.get("groupName"))
	if svc == "" && p.has("key") {
		key := strings.TrimSpace(p.get("key"))
		if n, name, ok := strings.Cut(key, "##"); ok {
			ns, svc = n, name
		} else {
			svc = key
		}
	}
	if svc != "" {
		if k, err := naming.ParseServiceKey(ns, svc, group); err == nil {
			return auth.Resource{Namespace: k.Namespace, Group: k.Group, Service: k.Name}
		}
	}
	return auth.Resource{Namespace: naming.NormalizeNamespace(ns), Group: group, Service: svc}
}

// authorize applies the endpoint's access rule. It returns false after
// writing the 403 answer.
func (s *server) authorize(w http.ResponseWriter, c *call) bool {
	g := s.o.Auth
	if g == nil || !g.Enabled() {
		return true
	}
	rule, ok := authRules[c.ep.api]
	if !ok {
		rule = accessAdmin
	}
	cred := credentials(c.r, c.p, g.IdentityKey())
	var err error
	switch rule {
	case accessOpen:
		return true
	case accessSelfOrAdmin:
		err = g.CanManageUser(cred, c.p.get("username"), c.now)
	case accessUser:
		_, err = g.CheckUser(cred, c.now)
	case accessRead:
		err = g.Check(cred, namingResource(c.p), auth.Read, c.now)
	case accessWrite:
		err = g.Check(cred, namingResource(c.p), auth.Write, c.now)
	default:
		err = g.CheckAdmin(cred, c.now)
	}
	if err != nil {
		if cred.Identity != "" {
			// As Nacos: a wrong identity value is worth an operator's look.
			s.log.Warn("invalid server identity value", "header", g.IdentityKey(), "remote", c.r.RemoteAddr, "api", c.ep.api)
		}
		s.deny(w, c.r, c.ep.api, err, c.now)
		return false
	}
	return true
}

// authorizeExtra checks an Extra handler (cluster endpoints): ROLE_ADMIN.
// It returns false after writing the 403 answer.
func (s *server) authorizeExtra(w http.ResponseWriter, r *http.Request) bool {
	g := s.o.Auth
	if g == nil || !g.Enabled() {
		return true
	}
	p := params{}
	_ = parseParams(p, r.URL.RawQuery, DefaultMaxParams)
	now := s.o.Now()
	if err := g.CheckAdmin(credentials(r, p, g.IdentityKey()), now); err != nil {
		s.deny(w, r, "extra", err, now)
		return false
	}
	return true
}

// RequireAdmin wraps h so that, when g is enabled, only ROLE_ADMIN (or the
// server identity) reaches it; others get Nacos's 403. For handlers mounted
// outside the API (debug endpoints).
func RequireAdmin(g *auth.Guard, h http.Handler) http.Handler {
	if g == nil || !g.Enabled() {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := params{}
		_ = parseParams(p, r.URL.RawQuery, DefaultMaxParams)
		now := time.Now()
		if err := g.CheckAdmin(credentials(r, p, g.IdentityKey()), now); err != nil {
			writeForbidden(w, r, err, now)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (s *server) deny(w http.ResponseWriter, r *http.Request, api string, err error, now time.Time) {
	s.log.Debug("access denied", "api", api, "method", r.Method, "path", r.URL.Path,
		"remote", r.RemoteAddr, "reason", auth.Message(err))
	writeForbidden(w, r, err, now)
}

// springError is the body Spring Boot writes for the 403 that Nacos's
// AuthFilter sends (server.error.include-message=ALWAYS), on v1 and v2.
type springError struct {
	Timestamp string `json:"timestamp"`
	Status    int    `json:"status"`
	Error     string `json:"error"`
	Message   string `json:"message"`
	Path      string `json:"path"`
}

func writeForbidden(w http.ResponseWriter, r *http.Request, err error, now time.Time) {
	writeJSON(w, http.StatusForbidden, springError{
		Timestamp: now.UTC().Format("2006-01-02T15:04:05.000-07:00"),
		Status:    http.StatusForbidden,
		Error:     "Forbidden",
		Message:   auth.Message(err),
		Path:      r.URL.Path,
	})
}

// restResult is Nacos's RestResult, which the auth controllers answer with
// HTTP 200 even for failures (code 409).
type restResult struct {
	Code    int `json:"code"`
	Message any `json:"message"`
	Data    any `json:"data"`
}

func restOK(data string) restResult { return restResult{Code: 200, Data: data} }

// registerAuth mounts Nacos's auth API: login, the first admin, users,
// roles and permissions. Without Options.Auth nothing is mounted. With
// auth off only login is (it answers Nacos's AUTH_DISABLED token, so
// clients configured with credentials work): the first-admin API must not
// be open to anyone while nothing is checked, or whoever calls it first
// owns the server once auth is turned on.
func (s *server) registerAuth() {
	if s.o.Auth == nil {
		return
	}
	a := func(path string, methods []string, api string, fn func(*call) (any, error)) {
		s.handle("/v1/auth"+path, methods, endpoint{api: api, fn: fn})
	}
	a("/users/login", ms(post), "auth_login", (*call).login)
	a("/login", ms(post), "auth_login", (*call).login)
	if !s.o.Auth.Enabled() {
		return
	}
	a("/users/admin", ms(post), "auth_admin_init", (*call).createAdmin)
	a("/users", ms(get), "auth_users_list", (*call).listUsers)
	a("/users/search", ms(get), "auth_users_search", (*call).searchUsers)
	a("/users", ms(post), "auth_user_create", (*call).createUser)
	a("/users", ms(del), "auth_user_delete", (*call).deleteUser)
	a("/users", ms(put), "auth_user_password", (*call).updatePassword)
	a("/roles", ms(get), "auth_roles_list", (*call).listRoles)
	a("/roles/search", ms(get), "auth_roles_search", (*call).searchRoles)
	a("/roles", ms(post), "auth_role_add", (*call).addRole)
	a("/roles", ms(del), "auth_role_delete", (*call).deleteRole)
	a("/permissions", ms(get), "auth_permissions_list", (*call).listPermissions)
	a("/permissions", ms(post), "auth_permission_add", (*call).addPermission)
	a("/permissions", ms(del), "auth_permission_delete", (*call).deletePermission)
}

// authParam is a required @RequestParam of the auth controllers.
func (c *call) authParam(name string) (string, error) {
	v := c.p.get(name)
	if strings.TrimSpace(v) == "" {
		return "", missingRequestParam(name)
	}
	return v, nil
}

// authError maps store errors: invalid requests are Nacos's
// IllegalArgumentException answer (400 "caused: ...;"), access errors 403.
func authError(err error) error {
	var ae *auth.AccessError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ae):
		return newErr(http.StatusForbidden, codeAccessDenied, "%s", ae.Message())
	case errors.Is(err, auth.ErrInvalid), errors.Is(err, auth.ErrUserExists), errors.Is(err, auth.ErrNoUser),
		errors.Is(err, auth.ErrNoRole), errors.Is(err, auth.ErrAdminRole):
		return newErr(http.StatusBadRequest, codeParameterValidate, "caused: %s;", auth.Message(err))
	}
	return newErr(http.StatusInternalServerError, codeServerError, "caused: %s;", err.Error())
}

// loginAnswer is Nacos's login JSON.
type loginAnswer struct {
	AccessToken string `json:"accessToken"`
	TokenTTL    int64  `json:"tokenTtl"`
	GlobalAdmin bool   `json:"globalAdmin"`
	Username    string `json:"username"`
}

func (c *call) login() (any, error) {
	g := c.s.o.Auth
	res, err := g.Login(c.p.get("username"), c.p.get("password"), c.now)
	if err != nil {
		c.s.log.Info("login failed", "username", c.p.get("username"), "remote", c.r.RemoteAddr)
		return nil, authError(err)
	}
	return loginAnswer{AccessToken: res.AccessToken, TokenTTL: res.TokenTTL, GlobalAdmin: res.GlobalAdmin, Username: res.Username}, nil
}

// createAdmin is Nacos 2.4's first-admin API: while no user holds
// ROLE_ADMIN, anyone may create the admin "nacos", with the given password
// or a random one, which the answer shows once.
func (c *call) createAdmin() (any, error) {
	pw := c.p.get("password")
	if strings.TrimSpace(pw) == "" {
		pw = randomPassword()
	}
	err := c.s.o.Auth.Store().CreateAdmin(pw)
	if errors.Is(err, auth.ErrAdminExists) {
		return restResult{Code: http.StatusConflict, Message: auth.Message(err)}, nil
	}
	if err != nil {
		return nil, authError(err)
	}
	c.s.log.Info("admin user created through the API", "username", auth.AdminUser, "remote", c.r.RemoteAddr)
	return struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}{auth.AdminUser, pw}, nil
}

func randomPassword() string {
	const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
	b := make([]byte, 16)
	for i := range b {
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		b[i] = alphabet[n.Int64()]
	}
	return string(b)
}

// page reads pageNo and pageSize (default 1 and 100) and search
// ("accurate", the default, or "blur").
func (c *call) page() (pageNo, pageSize int, blur bool, err error) {
	if pageNo, err = c.optInt("pageNo", 1); err != nil {
		return
	}
	if pageSize, err = c.optInt("pageSize", 100); err != nil {
		return
	}
	return pageNo, pageSize, c.p.get("search") == "blur", nil
}

func (c *call) listUsers() (any, error) {
	no, size, blur, err := c.page()
	if err != nil {
		return nil, err
	}
	return c.s.o.Auth.Store().Users(c.p.get("username"), blur, no, size), nil
}

func (c *call) searchUsers() (any, error) {
	names := []string{}
	for _, u := range c.s.o.Auth.Store().Users(c.p.get("username"), true, 1, 1<<30).PageItems {
		names = append(names, u.Username)
	}
	return names, nil
}

func (c *call) createUser() (any, error) {
	name, err := c.authParam("username")
	if err != nil {
		return nil, err
	}
	pw, err := c.authParam("password")
	if err != nil {
		return nil, err
	}
	if name == auth.AdminUser {
		return restResult{Code: http.StatusConflict,
			Message: "User `nacos` is default admin user. Please use `/nacos/v1/auth/users/admin` API to init `nacos` users."}, nil
	}
	if err := c.s.o.Auth.Store().CreateUser(name, pw); err != nil {
		return nil, authError(err)
	}
	return restOK("create user ok!"), nil
}

func (c *call) deleteUser() (any, error) {
	name, err := c.authParam("username")
	if err != nil {
		return nil, err
	}
	if err := c.s.o.Auth.Store().DeleteUser(name); err != nil {
		return nil, authError(err)
	}
	return restOK("delete user ok!"), nil
}

// updatePassword changes a password; the access rule lets the admin change
// any and a user its own.
func (c *call) updatePassword() (any, error) {
	name, err := c.authParam("username")
	if err != nil {
		return nil, err
	}
	pw, err := c.authParam("newPassword")
	if err != nil {
		return nil, err
	}
	if err := c.s.o.Auth.Store().SetPassword(name, pw); err != nil {
		return nil, authError(err)
	}
	return restOK("update user ok!"), nil
}

func (c *call) listRoles() (any, error) {
	no, size, blur, err := c.page()
	if err != nil {
		return nil, err
	}
	return c.s.o.Auth.Store().Roles(c.p.get("username"), c.p.get("role"), blur, no, size), nil
}

func (c *call) searchRoles() (any, error) {
	seen := map[string]bool{}
	names := []string{}
	for _, r := range c.s.o.Auth.Store().Roles("", c.p.get("role"), true, 1, 1<<30).PageItems {
		if !seen[r.Role] {
			seen[r.Role] = true
			names = append(names, r.Role)
		}
	}
	return names, nil
}

func (c *call) addRole() (any, error) {
	role, err := c.authParam("role")
	if err != nil {
		return nil, err
	}
	user, err := c.authParam("username")
	if err != nil {
		return nil, err
	}
	if err := c.s.o.Auth.Store().AddRole(role, user); err != nil {
		return nil, authError(err)
	}
	return restOK("add role ok!"), nil
}

func (c *call) deleteRole() (any, error) {
	role, err := c.authParam("role")
	if err != nil {
		return nil, err
	}
	user := c.p.get("username")
	if err := c.s.o.Auth.Store().DeleteRole(role, user); err != nil {
		return nil, authError(err)
	}
	return restOK("delete role of user " + user + " ok!"), nil
}

func (c *call) listPermissions() (any, error) {
	no, size, blur, err := c.page()
	if err != nil {
		return nil, err
	}
	return c.s.o.Auth.Store().Permissions(c.p.get("role"), blur, no, size), nil
}

func (c *call) permissionParams() (role, resource, action string, err error) {
	if role, err = c.authParam("role"); err != nil {
		return
	}
	if resource, err = c.authParam("resource"); err != nil {
		return
	}
	action, err = c.authParam("action")
	return
}

func (c *call) addPermission() (any, error) {
	role, resource, action, err := c.permissionParams()
	if err != nil {
		return nil, err
	}
	if err := c.s.o.Auth.Store().AddPermission(role, resource, action); err != nil {
		return nil, authError(err)
	}
	return restOK("add permission ok!"), nil
}

func (c *call) deletePermission() (any, error) {
	role, resource, action, err := c.permissionParams()
	if err != nil {
		return nil, err
	}
	if err := c.s.o.Auth.Store().DeletePermission(role, resource, action); err != nil {
		return nil, authError(err)
	}
	return restOK("delete permission ok!"), nil
}
