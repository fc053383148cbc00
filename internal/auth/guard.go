package auth

import (
	"crypto/subtle"
	"fmt"
	"time"
)

// DisabledToken is the access token login answers while auth is off, as
// Nacos does; nothing checks it.
const DisabledToken = "AUTH_DISABLED"

// Options configures a Guard.
type Options struct {
	// Enabled turns the checks on. When false every check passes and
	// login answers DisabledToken.
	Enabled bool
	// Secret is the base64 token secret (at least 32 bytes decoded).
	// Required when Enabled.
	Secret string
	// TokenTTL is the access token lifetime. Default 18000s.
	TokenTTL time.Duration
	// IdentityKey and IdentityValue: a request carrying header IdentityKey
	// with value IdentityValue passes every check. Both or neither.
	IdentityKey, IdentityValue string
	// UserFile is the store's JSON file; "" keeps users in memory only.
	UserFile string
	// BcryptCost is the cost of new password hashes; 0 means
	// bcrypt.DefaultCost. Tests lower it.
	BcryptCost int
}

// Credentials are what a request presents. Token wins over Username and
// Password, as in Nacos.
type Credentials struct {
	// Token is the access token (accessToken parameter or header, or
	// "Authorization: Bearer" without the prefix).
	Token string
	// Username and Password authenticate directly when there is no token.
	Username, Password string
	// Identity is the value of the IdentityKey header, "" if absent.
	Identity string
}

// LoginResult is a successful login.
type LoginResult struct {
	AccessToken string
	// TokenTTL is the token lifetime in seconds.
	TokenTTL    int64
	GlobalAdmin bool
	Username    string
}

// Guard decides whether requests may pass. It is safe for concurrent use.
type Guard struct {
	enabled bool
	tokens  *Tokens
	store   *Store
	idKey   string
	idValue string
	ttl     time.Duration
}

// NewGuard opens the user store and, when enabled, checks the secret.
func NewGuard(o Options) (*Guard, error) {
	if o.TokenTTL <= 0 {
		o.TokenTTL = 18000 * time.Second
	}
	if (o.IdentityKey == "") != (o.IdentityValue == "") {
		return nil, fmt.Errorf("%w: set both the identity key and value, or neither", ErrInvalid)
	}
	g := &Guard{enabled: o.Enabled, idKey: o.IdentityKey, idValue: o.IdentityValue, ttl: o.TokenTTL}
	if o.Enabled {
		t, err := NewTokens(o.Secret, o.TokenTTL)
		if err != nil {
			return nil, err
		}
		g.tokens = t
	}
	st, err := OpenStore(o.UserFile, o.BcryptCost)
	if err != nil {
		return nil, err
	}
	g.store = st
	return g, nil
}

// Enabled reports whether checks are on.
func (g *Guard) Enabled() bool { return g.enabled }

// Store returns the user store.
func (g *Guard) Store() *Store { return g.store }

// IdentityKey returns the trusted-caller header name, "" if none.
func (g *Guard) IdentityKey() string { return g.idKey }

// Login checks a password and issues a token.
func (g *Guard) Login(username, password string, now time.Time) (LoginResult, error) {
	if !g.enabled {
		return LoginResult{AccessToken: DisabledToken, TokenTTL: int64(g.ttl / time.Second), Username: username}, nil
	}
	if err := g.store.CheckPassword(username, password); err != nil {
		return LoginResult{}, err
	}
	return LoginResult{
		AccessToken: g.tokens.Issue(username, now),
		TokenTTL:    int64(g.tokens.TTL() / time.Second),
		GlobalAdmin: g.store.IsAdmin(username),
		Username:    username,
	}, nil
}

// trusted reports whether c carries the server identity.
func (g *Guard) trusted(c Credentials) bool {
	return g.idKey != "" && c.Identity != "" && subtle.ConstantTimeCompare([]byte(c.Identity), []byte(g.idValue)) == 1
}

// Authenticate returns the user c identifies: by token, else by username
// and password. trusted is true for the server identity (user is then "").
func (g *Guard) Authenticate(c Credentials, now time.Time) (user string, trusted bool, err error) {
	if !g.enabled || g.trusted(c) {
		return "", true, nil
	}
	if c.Token != "" {
		user, _, err := g.tokens.Verify(c.Token, now)
		return user, false, err
	}
	if err := g.store.CheckPassword(c.Username, c.Password); err != nil {
		return "", false, err
	}
	return c.Username, false, nil
}

// Check authenticates c and checks that it may do action (Read or Write)
// on res.
func (g *Guard) Check(c Credentials, res Resource, action string, now time.Time) error {
	user, trusted, err := g.Authenticate(c, now)
	if err != nil || trusted {
		return err
	}
	if !g.store.Allowed(user, res, action) {
		return ErrForbidden
	}
	return nil
}

// CheckUser authenticates c and returns its user ("" when trusted or
// auth is off): for requests any authenticated user may make.
func (g *Guard) CheckUser(c Credentials, now time.Time) (string, error) {
	user, _, err := g.Authenticate(c, now)
	return user, err
}

// CheckAdmin authenticates c and checks that it holds ROLE_ADMIN.
func (g *Guard) CheckAdmin(c Credentials, now time.Time) error {
	user, trusted, err := g.Authenticate(c, now)
	if err != nil || trusted {
		return err
	}
	if !g.store.IsAdmin(user) {
		return ErrForbidden
	}
	return nil
}

// CanManageUser reports whether the caller identified by c may change
// user's password: an admin, the user itself, or a trusted caller.
func (g *Guard) CanManageUser(c Credentials, user string, now time.Time) error {
	who, trusted, err := g.Authenticate(c, now)
	if err != nil || trusted {
		return err
	}
	if who != user && !g.store.IsAdmin(who) {
		return ErrForbidden
	}
	return nil
}
