package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

const testAuthSecret = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" // 32 bytes

func TestLoad_NacosAuthEnv(t *testing.T) {
	c, err := Load(nil, env(
		"NACOS_AUTH_ENABLE", "true",
		"NACOS_AUTH_TOKEN", testAuthSecret,
		"NACOS_AUTH_TOKEN_EXPIRE_SECONDS", "600",
		"NACOS_AUTH_IDENTITY_KEY", "serverIdentity",
		"NACOS_AUTH_IDENTITY_VALUE", "security",
		"DISTROD_AUTH_ADMIN_PASSWORD", "s3cret",
	))
	if err != nil {
		t.Fatal(err)
	}
	if !c.AuthEnabled || c.AuthTokenSecret != testAuthSecret || c.AuthTokenTTL != 600*time.Second ||
		c.AuthIdentityKey != "serverIdentity" || c.AuthIdentityValue != "security" || c.AuthAdminPassword != "s3cret" {
		t.Fatalf("got %+v", c)
	}
	r := c.Redacted()
	if r.AuthTokenSecret != "****" || r.AuthIdentityValue != "****" || r.AuthAdminPassword != "****" {
		t.Fatalf("Redacted kept a secret: %+v", r)
	}
	// The DISTROD_ name wins, and takes a Go duration.
	c, err = Load([]string{"-auth-enabled=false"}, env("NACOS_AUTH_ENABLE", "true", "DISTROD_AUTH_TOKEN_TTL", "1m"))
	if err != nil || c.AuthEnabled || c.AuthTokenTTL != time.Minute {
		t.Fatalf("flag over env: enabled=%v ttl=%v err=%v", c.AuthEnabled, c.AuthTokenTTL, err)
	}
}

func TestValidate_AuthNeedsSecret(t *testing.T) {
	for _, tc := range []struct {
		name, secret, want string
	}{
		{"missing", "", "set NACOS_AUTH_TOKEN"},
		{"short", "c2hvcnQ=", "decodes to 5 bytes"},
		{"not base64", "!!!!", "base64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(nil, env("NACOS_AUTH_ENABLE", "true", "NACOS_AUTH_TOKEN", tc.secret))
			if !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrAuth mentioning %q", err, tc.want)
			}
		})
	}
	// Auth off: a bad secret is ignored, as in Nacos.
	if _, err := Load(nil, env("NACOS_AUTH_TOKEN", "c2hvcnQ=")); err != nil {
		t.Fatalf("auth off with short secret: %v", err)
	}
	if _, err := Load(nil, env("NACOS_AUTH_IDENTITY_KEY", "k")); !errors.Is(err, ErrAuth) {
		t.Fatalf("identity key without value: %v", err)
	}
}
