package config

import (
	"errors"
	"reflect"
	"testing"
)

func TestLoad_PreferHostModeHostname(t *testing.T) {
	servers := "distrod-0.distrod-headless.default.svc.cluster.local:8848 " +
		"distrod-1.distrod-headless.default.svc.cluster.local:8848 " +
		"distrod-2.distrod-headless.default.svc.cluster.local:8848"
	tests := []struct {
		name        string
		env         []string
		wantIP      string
		wantMembers int
	}{
		{"pod short name picks its FQDN", []string{"HOSTNAME", "distrod-1", "NACOS_SERVERS", servers},
			"distrod-1.distrod-headless.default.svc.cluster.local", 3},
		{"compose service names", []string{"HOSTNAME", "nacos2", "NACOS_SERVERS", "nacos1:8848 nacos2:8848 nacos3:8848"},
			"nacos2", 3},
		{"upper-case host name", []string{"HOSTNAME", "Nacos2", "NACOS_SERVERS", "nacos1 nacos2 nacos3"},
			"nacos2", 3},
		{"no member matches: the name is added", []string{"HOSTNAME", "other", "NACOS_SERVERS", "nacos1 nacos2"},
			"other", 3},
		{"a prefix of another name does not match", []string{"HOSTNAME", "distrod-1", "NACOS_SERVERS", "distrod-10.x:8848 distrod-2.x:8848"},
			"distrod-1", 3},
		{"another port does not match", []string{"HOSTNAME", "nacos1", "NACOS_SERVERS", "nacos1:8858 nacos2:8848"},
			"nacos1", 3},
		{"NACOS_SERVER_IP wins", []string{"HOSTNAME", "nacos2", "NACOS_SERVERS", "nacos1 nacos2 nacos3", "NACOS_SERVER_IP", "10.0.0.9"},
			"10.0.0.9", 4},
		{"DISTROD_IP wins", []string{"HOSTNAME", "nacos2", "NACOS_SERVERS", "nacos1 nacos2 nacos3", "DISTROD_IP", "10.0.0.9"},
			"10.0.0.9", 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := append([]string{"MODE", "cluster", "PREFER_HOST_MODE", "hostname", "DISTROD_CLUSTER_SECRET", testSecret}, tt.env...)
			c, err := Load(nil, env(e...))
			if err != nil {
				t.Fatal(err)
			}
			if c.IP != tt.wantIP || len(c.Members) != tt.wantMembers || c.PreferHostMode != HostModeHostname {
				t.Fatalf("IP=%q members=%v mode=%q, want IP %q and %d members", c.IP, c.Members, c.PreferHostMode, tt.wantIP, tt.wantMembers)
			}
			if !contains(c.Members, c.SelfAddr()) {
				t.Fatalf("self %s not among members %v", c.SelfAddr(), c.Members)
			}
		})
	}
}

func TestLoad_PreferHostModeFlagIPWins(t *testing.T) {
	c, err := Load([]string{"-ip", "10.0.0.7"}, env("PREFER_HOST_MODE", "hostname", "HOSTNAME", "box"))
	if err != nil {
		t.Fatal(err)
	}
	if c.IP != "10.0.0.7" {
		t.Fatalf("IP = %q, want the flag's 10.0.0.7", c.IP)
	}
	c, err = Load(nil, env("PREFER_HOST_MODE", "hostname", "HOSTNAME", "box"))
	if err != nil {
		t.Fatal(err)
	}
	if c.IP != "box" || !reflect.DeepEqual(c.Members, []string{"box:8848"}) {
		t.Fatalf("standalone: IP=%q members=%v, want box", c.IP, c.Members)
	}
}

func TestLoad_PreferHostModeRejectsUnknown(t *testing.T) {
	_, err := Load(nil, env("PREFER_HOST_MODE", "fqdn"))
	if !errors.Is(err, ErrSelfAddr) {
		t.Fatalf("err = %v, want ErrSelfAddr", err)
	}
}

func TestLoad_MemberDNSServer(t *testing.T) {
	c, err := Load(nil, env("MODE", "cluster", "NACOS_SERVER_IP", "10.0.0.1", "DISTROD_CLUSTER_SECRET", testSecret,
		"DISTROD_MEMBER_DNS", "_http._tcp.distrod-headless", "DISTROD_MEMBER_DNS_SERVER", "127.0.0.1:5353"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Lookup() != LookupDNS || c.MemberDNSServer != "127.0.0.1:5353" {
		t.Fatalf("lookup=%s server=%q", c.Lookup(), c.MemberDNSServer)
	}
	_, err = Load(nil, env("MODE", "cluster", "NACOS_SERVER_IP", "10.0.0.1", "DISTROD_CLUSTER_SECRET", testSecret,
		"DISTROD_MEMBER_DNS", "x.svc", "DISTROD_MEMBER_DNS_SERVER", "dns://bad"))
	if !errors.Is(err, ErrInvalidLookup) {
		t.Fatalf("err = %v, want ErrInvalidLookup", err)
	}
}
