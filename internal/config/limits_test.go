package config

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestClientLimits_DefaultsAndSettings(t *testing.T) {
	c := DefaultConfig()
	if c.MaxHTTPParams != 1000 || c.MaxConnectionsPerIP != 1024 || c.MaxListAnswerBytes != 8<<20 ||
		c.MaxNamespaceLength != 64 || c.MaxGroupLength != 128 || c.MaxServiceNameLength != 512 ||
		c.MaxMetadataBytes != 64<<10 || c.MaxInstancesPerService != 10000 || c.MaxNamespaces != 1000 ||
		c.UDPPushRate != 20 || c.GRPCSetupTimeout != 10*time.Second || c.GRPCMaxStreams != 128 ||
		c.PushMaxBytesPerConnection != 16<<20 || c.PushMaxBytes != 256<<20 || c.ReadHeaderTimeout != 10*time.Second {
		t.Fatalf("client limit defaults changed: %+v", c)
	}
	got, err := Load([]string{"-max-namespaces", "7", "-udp-push-trusted-nets", "10.0.0.0/8,192.0.2.7"},
		env("DISTROD_GRPC_SETUP_TIMEOUT", "3s", "DISTROD_MAX_METADATA_BYTES", "99"))
	if err != nil {
		t.Fatal(err)
	}
	if got.MaxNamespaces != 7 || got.GRPCSetupTimeout != 3*time.Second || got.MaxMetadataBytes != 99 {
		t.Fatalf("flags/env not applied: %+v", got)
	}
	nets, err := got.UDPPushTrustedPrefixes()
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32")}
	if err != nil || !reflect.DeepEqual(nets, want) {
		t.Fatalf("trusted nets %v %v", nets, err)
	}
}

func TestClientLimits_ValidateRejectsBadValues(t *testing.T) {
	for _, c := range []struct {
		mod  func(*Config)
		want error
		key  string
	}{
		{func(c *Config) { c.MaxHTTPParams = 0 }, ErrInvalidLimit, "max-http-params"},
		{func(c *Config) { c.MaxMetadataBytes = -1 }, ErrInvalidLimit, "max-metadata-bytes"},
		{func(c *Config) { c.PushMaxBytes = 0 }, ErrInvalidLimit, "push-max-bytes"},
		{func(c *Config) { c.MaxNamespaces = -1 }, ErrInvalidLimit, "max-namespaces"},
		{func(c *Config) { c.UDPPushRate = -1 }, ErrInvalidLimit, "udp-push-rate"},
		{func(c *Config) { c.GRPCSetupTimeout = 0 }, ErrInvalidDuration, "grpc-setup-timeout"},
		{func(c *Config) { c.UDPPushTrustedNets = []string{"nope"} }, ErrInvalidValue, "udp-push-trusted-nets"},
		{func(c *Config) { c.MemoryLimitPercent = 101 }, ErrInvalidLimit, "memory-limit-percent"},
		{func(c *Config) { c.MemoryLimitPercent = -1 }, ErrInvalidLimit, "memory-limit-percent"},
		{func(c *Config) { c.MemoryReleaseInterval = -time.Second }, ErrInvalidDuration, "memory-release-interval"},
	} {
		cfg := DefaultLocalConfig()
		c.mod(&cfg)
		err := cfg.Validate()
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.key) {
			t.Errorf("%s: %v", c.key, err)
		}
	}
	cfg := DefaultLocalConfig()
	cfg.MaxNamespaces, cfg.MaxConnectionsPerIP, cfg.UDPPushRate = 0, 0, 0
	cfg.MemoryLimitPercent, cfg.MemoryReleaseInterval = 0, 0
	if err := cfg.Validate(); err != nil {
		t.Fatalf("0 = no limit must be valid: %v", err)
	}
}
