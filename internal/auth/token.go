package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash"
	"strings"
	"time"
)

// DecodeSecret decodes a base64 token secret (standard or URL alphabet,
// padded or not) and checks that it has at least 32 bytes, as Nacos does.
func DecodeSecret(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	var key []byte
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if key, err = enc.DecodeString(s); err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadSecret, err)
	}
	if len(key) < 32 {
		return nil, fmt.Errorf("%w: it decodes to %d bytes", ErrBadSecret, len(key))
	}
	return key, nil
}

// The JWT headers Nacos issues and accepts, base64url without padding:
// {"alg":"HS256"}, {"alg":"HS384"}, {"alg":"HS512"}.
var algHeaders = map[string]func() hash.Hash{
	"eyJhbGciOiJIUzI1NiJ9": sha256.New,
	"eyJhbGciOiJIUzM4NCJ9": sha512.New384,
	"eyJhbGciOiJIUzUxMiJ9": sha512.New,
}

// Tokens issues and verifies access tokens with one secret.
type Tokens struct {
	key    []byte
	header string
	ttl    time.Duration
}

// NewTokens returns a token issuer for a base64 secret (see DecodeSecret)
// and token lifetime. Like Nacos, the key length picks the algorithm:
// HS256 below 48 bytes, HS384 below 64, HS512 from 64.
func NewTokens(secret string, ttl time.Duration) (*Tokens, error) {
	key, err := DecodeSecret(secret)
	if err != nil {
		return nil, err
	}
	if ttl < time.Second {
		return nil, fmt.Errorf("%w: token lifetime %v is below one second", ErrInvalid, ttl)
	}
	t := &Tokens{key: key, ttl: ttl, header: "eyJhbGciOiJIUzI1NiJ9"}
	switch {
	case len(key) >= 64:
		t.header = "eyJhbGciOiJIUzUxMiJ9"
	case len(key) >= 48:
		t.header = "eyJhbGciOiJIUzM4NCJ9"
	}
	return t, nil
}

// TTL returns the lifetime of the tokens Issue makes.
func (t *Tokens) TTL() time.Duration { return t.ttl }

// claims is the token payload, field order as Nacos writes it.
type claims struct {
	Sub string `json:"sub"`
	Exp int64  `json:"exp"`
}

// Issue returns a token for user that expires TTL after now.
func (t *Tokens) Issue(user string, now time.Time) string {
	payload, _ := json.Marshal(claims{Sub: user, Exp: now.Unix() + int64(t.ttl/time.Second)})
	unsigned := t.header + "." + base64.RawURLEncoding.EncodeToString(payload)
	return unsigned + "." + sign(algHeaders[t.header], t.key, unsigned)
}

// Verify checks token's format, signature and expiry at now and returns
// its user name and expiry (unix seconds). A token is valid through the
// second of its exp, as in Nacos.
func (t *Tokens) Verify(token string, now time.Time) (user string, exp int64, err error) {
	if strings.TrimSpace(token) == "" {
		return "", 0, ErrUserNotFound
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", 0, ErrTokenInvalid
	}
	h, ok := algHeaders[parts[0]]
	if !ok {
		return "", 0, ErrUnsupportedAlgorithm
	}
	want := sign(h, t.key, parts[0]+"."+parts[1])
	if !hmac.Equal([]byte(want), []byte(parts[2])) {
		return "", 0, ErrInvalidSignature
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return "", 0, ErrTokenInvalid
	}
	var c claims
	if err := json.Unmarshal(raw, &c); err != nil {
		return "", 0, ErrTokenInvalid
	}
	if c.Exp < now.Unix() {
		return "", 0, ErrTokenExpired
	}
	return c.Sub, c.Exp, nil
}

func sign(h func() hash.Hash, key []byte, s string) string {
	m := hmac.New(h, key)
	m.Write([]byte(s))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
