package config

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/distrod/distrod/internal/memberaddr"
)

// testIP is what DefaultConfig advertises in these tests, so they do not
// depend on the host's interfaces.
const testIP = "192.0.2.10"

func TestMain(m *testing.M) {
	detectIP = func() string { return testIP }
	os.Exit(m.Run())
}

// env turns pairs into a getenv function.
func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func normalized(t *testing.T, c Config) Config {
	t.Helper()
	if err := c.Normalize(); err != nil {
		t.Fatalf("Normalize: %v", err)
	}
	return c
}

func TestDefaultConfig_ValuesAndHelpers(t *testing.T) {
	c := DefaultConfig()
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"Mode", c.Mode, ModeStandalone},
		{"IP", c.IP, testIP},
		{"Port", c.Port, 8848},
		{"GRPCPort", c.GRPCPort(), 9848},
		{"ClusterPort", c.ClusterPort(), 9849},
		{"SelfAddr", c.SelfAddr(), testIP + ":8848"},
		{"ContextPath", c.ContextPath, "/nacos"},
		{"Home", c.Home, "."},
		{"MemberFilePath", c.MemberFilePath(), filepath.Join(".", "conf", "cluster.conf")},
		{"Lookup", c.Lookup(), LookupStatic},
		{"SyncDelay", c.SyncDelay, 5 * time.Millisecond},
		{"SyncRetryMin", c.SyncRetryMin, 100 * time.Millisecond},
		{"SyncRetryMax", c.SyncRetryMax, 5 * time.Second},
		{"VerifyInterval", c.VerifyInterval, time.Second},
		{"SnapshotLoadTimeout", c.SnapshotLoadTimeout, 5 * time.Second},
		{"SnapshotLoadMax", c.SnapshotLoadMax, 2 * time.Minute},
		{"TombstoneTTL", c.TombstoneTTL, 60 * time.Second},
		{"OwnerGrace", c.OwnerGrace, 10 * time.Second},
		{"ProbeInterval", c.ProbeInterval, 500 * time.Millisecond},
		{"ProbeTimeout", c.ProbeTimeout, time.Second},
		{"SuspectAfter", c.SuspectAfter, 1},
		{"DownAfter", c.DownAfter, 3},
		{"MemberFileReload", c.MemberFileReload, 2 * time.Second},
		{"BeatInterval", c.BeatInterval, 5 * time.Second},
		{"InstanceUnhealthyAfter", c.InstanceUnhealthyAfter, 15 * time.Second},
		{"InstanceDeleteAfter", c.InstanceDeleteAfter, 30 * time.Second},
		{"ExpireCheckInterval", c.ExpireCheckInterval, time.Second},
		{"PushDelay", c.PushDelay, 5 * time.Millisecond},
		{"PushTimeout", c.PushTimeout, 5 * time.Second},
		{"PushRetryDelay", c.PushRetryDelay, time.Second},
		{"PushQueueSize", c.PushQueueSize, 1024},
		{"MaxBodyBytes", c.MaxBodyBytes, int64(4 << 20)},
		{"MaxHeaderBytes", c.MaxHeaderBytes, 64 << 10},
		{"MaxGRPCMessageBytes", c.MaxGRPCMessageBytes, 10 << 20},
		{"MaxConnections", c.MaxConnections, 100000},
		{"ForwardTimeout", c.ForwardTimeout, 3 * time.Second},
		{"LogLevel", c.LogLevel, "info"},
		{"LogFormat", c.LogFormat, LogFormatText},
	}
	for _, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("DefaultConfig().Validate() = %v", err)
	}
	n := normalized(t, c)
	if want := []string{testIP + ":8848"}; !reflect.DeepEqual(n.Members, want) {
		t.Errorf("normalized standalone Members = %v, want %v", n.Members, want)
	}
}

func TestDefaultLocalConfig_AdvertisesLoopback(t *testing.T) {
	c := DefaultLocalConfig()
	if c.IP != "127.0.0.1" {
		t.Fatalf("IP = %q", c.IP)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestFirstNonLoopbackIPv4_ReturnsAnIPv4(t *testing.T) {
	ip := firstNonLoopbackIPv4()
	if _, err := memberaddr.NormalizeMember(ip, 1); err != nil || strings.Count(ip, ".") != 3 {
		t.Fatalf("firstNonLoopbackIPv4() = %q", ip)
	}
}

func TestConfig_RedactedMasksSecret(t *testing.T) {
	c := DefaultConfig()
	c.ClusterSecret = "s3cret"
	if r := c.Redacted(); r.ClusterSecret != "****" || c.ClusterSecret != "s3cret" {
		t.Fatalf("Redacted secret = %q, original %q", r.ClusterSecret, c.ClusterSecret)
	}
}

func TestConfig_SlogLevelParses(t *testing.T) {
	for in, want := range map[string]string{"debug": "DEBUG", "info": "INFO", "WARN": "WARN", "error": "ERROR"} {
		c := DefaultConfig()
		c.LogLevel = in
		if got := c.SlogLevel().String(); got != want {
			t.Errorf("SlogLevel(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestSettings_EveryFieldHasAKey(t *testing.T) {
	typ := reflect.TypeFor[Config]()
	if got := len(settings()); got != typ.NumField() {
		t.Fatalf("%d settings for %d fields: every Config field needs a yaml tag", got, typ.NumField())
	}
	seen := map[string]bool{}
	for _, s := range settings() {
		if seen[s.env] {
			t.Errorf("duplicate env %s", s.env)
		}
		seen[s.env] = true
		if s.key != strings.ToLower(s.key) || strings.Contains(s.key, "_") {
			t.Errorf("key %q is not kebab-case", s.key)
		}
	}
}

func TestPrintUsage_ListsEveryFlagAndEnv(t *testing.T) {
	var b bytes.Buffer
	PrintUsage(&b)
	out := b.String()
	for _, s := range settings() {
		if !strings.Contains(out, "-"+s.key+"\n") || !strings.Contains(out, s.env) {
			t.Errorf("usage misses %s / %s", s.key, s.env)
		}
	}
	for _, e := range nacosEnv {
		if !strings.Contains(out, e.name) {
			t.Errorf("usage misses %s", e.name)
		}
	}
}

func TestLoad_DefaultsWithoutInput(t *testing.T) {
	got, err := Load(nil, env())
	if err != nil {
		t.Fatal(err)
	}
	if want := normalized(t, DefaultConfig()); !reflect.DeepEqual(got, want) {
		t.Fatalf("Load() = %+v\nwant %+v", got, want)
	}
	if _, err := Load(nil, nil); err != nil {
		t.Fatalf("Load with nil getenv: %v", err)
	}
}

func TestLoad_ExampleFileEqualsDefaults(t *testing.T) {
	got, err := Load([]string{"-config", "../../conf/distrod.example.yaml"}, env())
	if err != nil {
		t.Fatal(err)
	}
	if want := normalized(t, DefaultConfig()); !reflect.DeepEqual(got, want) {
		t.Fatalf("example file differs from defaults:\n got %+v\nwant %+v", got, want)
	}
}

func TestLoad_Precedence(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, dir, "distrod.yaml", "sync-delay: 20ms\nport: 7000\nlog-format: json\n")
	tests := []struct {
		name      string
		args      []string
		env       []string
		wantDelay time.Duration
		wantPort  int
	}{
		{"defaults", nil, nil, DefaultConfig().SyncDelay, 8848},
		{"file", []string{"-config", file}, nil, 20 * time.Millisecond, 7000},
		{"file via env", nil, []string{"DISTROD_CONFIG", file}, 20 * time.Millisecond, 7000},
		{"env over file", []string{"-config", file}, []string{"DISTROD_SYNC_DELAY", "30ms", "NACOS_APPLICATION_PORT", "7100"}, 30 * time.Millisecond, 7100},
		{"DISTROD env over Nacos env", nil, []string{"NACOS_APPLICATION_PORT", "7100", "DISTROD_PORT", "7200"}, DefaultConfig().SyncDelay, 7200},
		{"flag over env over file", []string{"-config", file, "-sync-delay", "40ms", "-port=7300"},
			[]string{"DISTROD_SYNC_DELAY", "30ms", "DISTROD_PORT", "7200"}, 40 * time.Millisecond, 7300},
		{"last flag wins", []string{"-port", "7400", "-port", "7500"}, nil, DefaultConfig().SyncDelay, 7500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(tt.args, env(tt.env...))
			if err != nil {
				t.Fatal(err)
			}
			if c.SyncDelay != tt.wantDelay || c.Port != tt.wantPort {
				t.Fatalf("SyncDelay=%v Port=%d, want %v %d", c.SyncDelay, c.Port, tt.wantDelay, tt.wantPort)
			}
		})
	}
}

func TestLoad_NacosDockerEnv(t *testing.T) {
	home := t.TempDir()
	c, err := Load(nil, env(
		"MODE", "Cluster",
		"NACOS_SERVERS", "10.0.0.2:8848, 10.0.0.3 10.0.0.2",
		"NACOS_SERVER_IP", "10.0.0.1",
		"NACOS_APPLICATION_PORT", "8848",
		"NACOS_HOME", home,
		"SERVER_SERVLET_CONTEXTPATH", "/registry",
		"DISTROD_CLUSTER_SECRET", testSecret,
	))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.1:8848", "10.0.0.2:8848", "10.0.0.3:8848"}
	if c.Mode != ModeCluster || !reflect.DeepEqual(c.Members, want) || c.Home != home ||
		c.ContextPath != "/registry" || c.MemberLookup != LookupStatic {
		t.Fatalf("got mode=%s members=%v home=%s ctx=%s lookup=%s", c.Mode, c.Members, c.Home, c.ContextPath, c.MemberLookup)
	}
}

func TestLoad_ClusterConfFromHome(t *testing.T) {
	home := t.TempDir()
	writeFile(t, home, "conf/cluster.conf", "# members\n10.0.0.2:8848\n10.0.0.3 # trailing\n")
	c, err := Load([]string{"-mode", "cluster", "-ip", "10.0.0.1"}, env("NACOS_HOME", home, "DISTROD_CLUSTER_SECRET", testSecret))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.1:8848", "10.0.0.2:8848", "10.0.0.3:8848"}
	if !reflect.DeepEqual(c.Members, want) || c.MemberLookup != LookupFile {
		t.Fatalf("members=%v lookup=%s", c.Members, c.MemberLookup)
	}

	// An absolute member-file wins over home.
	abs := writeFile(t, t.TempDir(), "other.conf", "10.0.0.9\n")
	c, err = Load([]string{"-mode", "cluster", "-ip", "10.0.0.1", "-member-file", abs}, env("NACOS_HOME", home, "DISTROD_CLUSTER_SECRET", testSecret))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"10.0.0.1:8848", "10.0.0.9:8848"}; !reflect.DeepEqual(c.Members, want) {
		t.Fatalf("members=%v", c.Members)
	}
}

func TestLoad_ClusterWithDNS(t *testing.T) {
	c, err := Load([]string{"-mode", "cluster", "-member-dns", "distrod.default.svc", "-ip", "10.0.0.1", "-cluster-insecure", "true"}, env())
	if err != nil {
		t.Fatal(err)
	}
	if c.MemberLookup != LookupDNS || len(c.Members) != 0 {
		t.Fatalf("lookup=%s members=%v", c.MemberLookup, c.Members)
	}
}

func TestLoad_ReportsActionableErrors(t *testing.T) {
	dir := t.TempDir()
	unknownKey := writeFile(t, dir, "unknown.yaml", "sync-dealy: 10ms\n")
	intDuration := writeFile(t, dir, "int.yaml", "sync-delay: 10\n")
	badYAML := writeFile(t, dir, "bad.yaml", "port: [\n")
	writeFile(t, dir, "empty/conf/cluster.conf", "# nobody\n")
	writeFile(t, dir, "bad/conf/cluster.conf", "10.0.0.2:http\n")
	tests := []struct {
		name     string
		args     []string
		env      []string
		want     error
		contains string
	}{
		{"help", []string{"-h"}, nil, flag.ErrHelp, ""},
		{"unknown flag", []string{"-nope"}, nil, ErrInvalidValue, "-nope"},
		{"positional arg", []string{"extra"}, nil, ErrInvalidValue, "extra"},
		{"bad flag int", []string{"-port", "http"}, nil, ErrInvalidValue, "flag -port"},
		{"bad env int", nil, []string{"NACOS_APPLICATION_PORT", "x"}, ErrInvalidValue, "NACOS_APPLICATION_PORT"},
		{"duration without unit", nil, []string{"DISTROD_SYNC_DELAY", "10"}, ErrInvalidValue, "10ms"},
		{"bad duration", []string{"-probe-interval", "soon"}, nil, ErrInvalidValue, "probe-interval"},
		{"missing config file", []string{"-config", filepath.Join(dir, "missing.yaml")}, nil, ErrConfigFile, "missing.yaml"},
		{"unknown yaml key", []string{"-config", unknownKey}, nil, ErrConfigFile, "sync-dealy"},
		{"yaml duration as int", []string{"-config", intDuration}, nil, ErrConfigFile, "unit"},
		{"malformed yaml", []string{"-config", badYAML}, nil, ErrConfigFile, ""},
		{"cluster without cluster.conf", []string{"-mode", "cluster"}, []string{"NACOS_HOME", dir}, ErrNoMembers, "set NACOS_SERVERS or conf/cluster.conf"},
		{"empty cluster.conf", []string{"-mode", "cluster"}, []string{"NACOS_HOME", filepath.Join(dir, "empty")}, ErrNoMembers, "lists no member"},
		{"bad cluster.conf", []string{"-mode", "cluster"}, []string{"NACOS_HOME", filepath.Join(dir, "bad")}, ErrInvalidAddr, "line 1"},
		{"cluster.conf is a directory", []string{"-mode", "cluster", "-member-file", dir}, nil, ErrMemberFile, ""},
		{"bad member in env", nil, []string{"MODE", "cluster", "NACOS_SERVERS", "http://a:1"}, ErrInvalidAddr, "scheme"},
		{"validation runs", []string{"-mode", "solo"}, nil, ErrInvalidMode, "MODE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.args, env(tt.env...))
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.contains) {
				t.Fatalf("err = %q, want it to mention %q", err, tt.contains)
			}
			if tt.want != flag.ErrHelp && !strings.HasPrefix(err.Error(), "config: ") {
				t.Fatalf("err = %q lacks the package prefix", err)
			}
		})
	}
}

// cluster returns a valid three-member cluster config on 10.0.0.1.
func cluster() Config {
	c := DefaultConfig()
	c.Mode = ModeCluster
	c.IP = "10.0.0.1"
	c.Members = []string{"10.0.0.1", "10.0.0.2", "10.0.0.3"}
	c.ClusterSecret = testSecret
	return c
}

// testSecret is a cluster secret for tests.
const testSecret = "0123456789abcdef0123456789abcdef"

func TestValidate_RejectsEachContradiction(t *testing.T) {
	tests := []struct {
		name     string
		base     func() Config
		mutate   func(*Config)
		want     error
		contains string
	}{
		{"mode", DefaultConfig, func(c *Config) { c.Mode = "solo" }, ErrInvalidMode, "solo"},
		{"port zero", DefaultConfig, func(c *Config) { c.Port = 0 }, ErrInvalidPort, "NACOS_APPLICATION_PORT"},
		{"port too big", DefaultConfig, func(c *Config) { c.Port = 70000 }, ErrInvalidPort, "70000"},
		{"derived port too big", DefaultConfig, func(c *Config) { c.Port = 65000 }, ErrInvalidPort, "gRPC port 66000"},
		{"zero offset", DefaultConfig, func(c *Config) { c.GRPCPortOffset = 0 }, ErrInvalidPort, "non-zero"},
		{"equal offsets", DefaultConfig, func(c *Config) { c.ClusterPortOffset = 1000 }, ErrInvalidPort, "must differ"},
		{"empty ip", DefaultConfig, func(c *Config) { c.IP = "" }, ErrSelfAddr, "NACOS_SERVER_IP"},
		{"wildcard ip", DefaultConfig, func(c *Config) { c.IP = "0.0.0.0" }, ErrSelfAddr, "wildcard"},
		{"wildcard ipv6", DefaultConfig, func(c *Config) { c.IP = "::" }, ErrSelfAddr, "wildcard"},
		{"garbage ip", DefaultConfig, func(c *Config) { c.IP = "a b" }, ErrSelfAddr, "invalid"},
		{"loopback self, remote peers", cluster, func(c *Config) { c.IP = "127.0.0.1" }, ErrSelfAddr, "loopback"},
		{"no members", cluster, func(c *Config) { c.Members = nil; c.MemberLookup = LookupStatic }, ErrNoMembers, "NACOS_SERVERS"},
		{"no members auto", cluster, func(c *Config) { c.Members = nil }, ErrNoMembers, "conf/cluster.conf"},
		{"bad member", cluster, func(c *Config) { c.Members = append(c.Members, "10.0.0.4:x") }, ErrInvalidAddr, "10.0.0.4:x"},
		{"member derived port", cluster, func(c *Config) { c.Members = append(c.Members, "10.0.0.4:65000") }, ErrInvalidPort, "10.0.0.4:65000"},
		{"members overlap on one host", DefaultLocalConfig, func(c *Config) {
			c.Mode, c.ClusterSecret = ModeCluster, testSecret
			c.Members = []string{"127.0.0.1:8848", "127.0.0.1:8849"}
		}, ErrPortOverlap, "9849"},
		{"members in standalone", DefaultConfig, func(c *Config) { c.Members = []string{"10.0.0.2"} }, ErrStandaloneMembers, "MODE=cluster"},
		{"dns in standalone", DefaultConfig, func(c *Config) { c.MemberDNS = "x.svc" }, ErrStandaloneMembers, "member-dns"},
		{"unknown lookup", cluster, func(c *Config) { c.MemberLookup = "zookeeper" }, ErrInvalidLookup, "zookeeper"},
		{"unknown lookup in standalone", DefaultConfig, func(c *Config) { c.MemberLookup = "zk" }, ErrInvalidLookup, "zk"},
		{"dns lookup without name", cluster, func(c *Config) { c.MemberLookup = LookupDNS }, ErrInvalidLookup, "member-dns"},
		{"zero duration", DefaultConfig, func(c *Config) { c.SyncDelay = 0 }, ErrInvalidDuration, "sync-delay"},
		{"negative duration", DefaultConfig, func(c *Config) { c.ProbeTimeout = -time.Second }, ErrInvalidDuration, "probe-timeout"},
		{"retry max below min", DefaultConfig, func(c *Config) { c.SyncRetryMax = 50 * time.Millisecond }, ErrTimingOrder, "sync-retry-max"},
		{"unhealthy below beat", DefaultConfig, func(c *Config) { c.InstanceUnhealthyAfter = time.Second }, ErrTimingOrder, "beat-interval"},
		{"delete below unhealthy", DefaultConfig, func(c *Config) { c.InstanceDeleteAfter = 10 * time.Second }, ErrTimingOrder, "instance-delete-after"},
		{"tombstone too short", DefaultConfig, func(c *Config) { c.TombstoneTTL = 2 * time.Second }, ErrTimingOrder, "tombstone-ttl"},
		{"load max below load timeout", DefaultConfig, func(c *Config) { c.SnapshotLoadMax = time.Second }, ErrTimingOrder, "snapshot-load-max"},
		{"suspect zero", DefaultConfig, func(c *Config) { c.SuspectAfter = 0 }, ErrInvalidLimit, "suspect-after"},
		{"down below suspect", DefaultConfig, func(c *Config) { c.SuspectAfter = 4 }, ErrInvalidLimit, "down-after"},
		{"queue size", DefaultConfig, func(c *Config) { c.PushQueueSize = 0 }, ErrInvalidLimit, "push-queue-size"},
		{"body bytes", DefaultConfig, func(c *Config) { c.MaxBodyBytes = -1 }, ErrInvalidLimit, "max-body-bytes"},
		{"header bytes", DefaultConfig, func(c *Config) { c.MaxHeaderBytes = 0 }, ErrInvalidLimit, "max-header-bytes"},
		{"grpc bytes", DefaultConfig, func(c *Config) { c.MaxGRPCMessageBytes = 0 }, ErrInvalidLimit, "max-grpc-message-bytes"},
		{"connections", DefaultConfig, func(c *Config) { c.MaxConnections = 0 }, ErrInvalidLimit, "max-connections"},
		{"context path no slash", DefaultConfig, func(c *Config) { c.ContextPath = "nacos" }, ErrInvalidContextPath, "leading slash"},
		{"context path trailing slash", DefaultConfig, func(c *Config) { c.ContextPath = "/nacos/" }, ErrInvalidContextPath, "/nacos/"},
		{"log level", DefaultConfig, func(c *Config) { c.LogLevel = "loud" }, ErrInvalidLog, "loud"},
		{"log format", DefaultConfig, func(c *Config) { c.LogFormat = "xml" }, ErrInvalidLog, "xml"},
		{"cluster without secret", cluster, func(c *Config) { c.ClusterSecret = "" }, ErrClusterSecret, "DISTROD_CLUSTER_SECRET"},
		{"secret and insecure", cluster, func(c *Config) { c.ClusterInsecure = true }, ErrClusterSecret, "DISTROD_CLUSTER_INSECURE"},
		{"secret with spaces", cluster, func(c *Config) { c.ClusterSecret += "\n" }, ErrClusterSecret, "white space"},
		{"unknown access", DefaultConfig, func(c *Config) { c.DebugAccess = "lan" }, ErrInvalidAccess, "debug-access"},
		{"token access without secret", DefaultConfig, func(c *Config) { c.StatusAccess = AccessToken }, ErrInvalidAccess, "status-access"},
		{"cluster listen host name", cluster, func(c *Config) { c.ClusterListenIP = "eth0" }, ErrInvalidAddr, "cluster-listen-ip"},
		{"zero clock offset", cluster, func(c *Config) { c.MaxClockOffset = 0 }, ErrInvalidDuration, "max-clock-offset"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.base()
			if err := c.Validate(); err != nil {
				t.Fatalf("base config invalid: %v", err)
			}
			tt.mutate(&c)
			err := c.Validate()
			if !errors.Is(err, tt.want) {
				t.Fatalf("Validate() = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.contains) {
				t.Fatalf("Validate() = %q, want it to mention %q", err, tt.contains)
			}
		})
	}
}

func TestValidate_ReportsEveryProblem(t *testing.T) {
	c := DefaultConfig()
	c.Port = 0
	c.LogFormat = "xml"
	c.SyncDelay = 0
	err := c.Validate()
	for _, want := range []error{ErrInvalidPort, ErrInvalidLog, ErrInvalidDuration} {
		if !errors.Is(err, want) {
			t.Errorf("Validate() = %v, missing %v", err, want)
		}
	}
}

func TestValidate_AcceptsEdgeCases(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
	}{
		{"empty context path", func(c *Config) { c.ContextPath = "" }},
		{"host name ip", func(c *Config) { c.IP = "node-1.example" }},
		{"ipv6 ip", func(c *Config) { c.IP = "2001:db8::1" }},
		{"standalone self listed", func(c *Config) { c.Members = []string{c.SelfAddr()} }},
		{"local cluster spaced ports", func(c *Config) {
			c.Mode, c.IP, c.ClusterSecret = ModeCluster, "127.0.0.1", testSecret
			c.Members = []string{"127.0.0.1:8848", "127.0.0.1:8850", "localhost:8852"}
		}},
		{"cluster without self (Normalize adds it)", func(c *Config) {
			c.Mode, c.Members, c.ClusterSecret = ModeCluster, []string{"10.0.0.2"}, testSecret
		}},
		{"single-node cluster", func(c *Config) { c.Mode, c.Members, c.ClusterSecret = ModeCluster, []string{c.IP}, testSecret }},
		{"cluster listen ip", func(c *Config) { c.ClusterListenIP = "10.0.0.1" }},
		{"insecure cluster", func(c *Config) { c.Mode, c.Members, c.ClusterInsecure = ModeCluster, []string{"10.0.0.2"}, true }},
		{"token access with secret", func(c *Config) { c.ClusterSecret, c.StatusAccess, c.DebugAccess = testSecret, AccessToken, AccessToken }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mutate(&c)
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
			if err := c.Normalize(); err != nil {
				t.Fatal(err)
			}
			if err := c.Validate(); err != nil {
				t.Fatalf("after Normalize: %v", err)
			}
		})
	}
}

func TestNormalize_AddsSelfInClusterMode(t *testing.T) {
	c := cluster()
	c.IP = "10.0.0.9"
	c.Members = []string{"10.0.0.3:8848", "10.0.0.2", "10.0.0.3"}
	c = normalized(t, c)
	want := []string{"10.0.0.2:8848", "10.0.0.3:8848", "10.0.0.9:8848"}
	if !reflect.DeepEqual(c.Members, want) {
		t.Fatalf("Members = %v, want %v", c.Members, want)
	}
	if c.MemberLookup != LookupStatic {
		t.Fatalf("MemberLookup = %q", c.MemberLookup)
	}
}

func TestNormalize_KeepsEmptyClusterListEmpty(t *testing.T) {
	c := cluster()
	c.Members = nil
	c.MemberDNS = "x.svc"
	c = normalized(t, c)
	if len(c.Members) != 0 || c.MemberLookup != LookupDNS {
		t.Fatalf("Members = %v, lookup %s", c.Members, c.MemberLookup)
	}
}

func TestLoad_ClusterNeedsSecretWithActionableError(t *testing.T) {
	_, err := Load([]string{"-mode", "cluster", "-ip", "10.0.0.1"}, env("NACOS_SERVERS", "10.0.0.2"))
	if !errors.Is(err, ErrClusterSecret) {
		t.Fatalf("err = %v, want ErrClusterSecret", err)
	}
	for _, want := range []string{"DISTROD_CLUSTER_SECRET", "-cluster-secret", "DISTROD_CLUSTER_SECRET_FILE", "DISTROD_CLUSTER_INSECURE=true"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	c, err := Load([]string{"-mode", "cluster", "-ip", "10.0.0.1", "-cluster-insecure", "true"}, env("NACOS_SERVERS", "10.0.0.2"))
	if err != nil || !c.ClusterInsecure || c.ClusterSecret != "" {
		t.Fatalf("insecure cluster: %+v %v", c.Redacted(), err)
	}
	// Standalone needs no secret.
	if _, err := Load(nil, env()); err != nil {
		t.Fatalf("standalone: %v", err)
	}
}

func TestLoad_ClusterSecretFile(t *testing.T) {
	home := t.TempDir()
	writeFile(t, home, "conf/secret", "  "+testSecret+"\n")
	base := []string{"-mode", "cluster", "-ip", "10.0.0.1"}
	c, err := Load(append(base, "-cluster-secret-file", "conf/secret"), env("NACOS_HOME", home, "NACOS_SERVERS", "10.0.0.2"))
	if err != nil || c.ClusterSecret != testSecret {
		t.Fatalf("secret from file relative to home: %q %v", c.ClusterSecret, err)
	}
	c, err = Load(base, env("DISTROD_CLUSTER_SECRET_FILE", filepath.Join(home, "conf/secret"), "NACOS_SERVERS", "10.0.0.2"))
	if err != nil || c.ClusterSecret != testSecret {
		t.Fatalf("secret from absolute file in env: %q %v", c.ClusterSecret, err)
	}
	writeFile(t, home, "blank", "\n")
	for name, args := range map[string][]string{
		"missing file": {"-cluster-secret-file", "nope"},
		"empty file":   {"-cluster-secret-file", "blank"},
		"both":         {"-cluster-secret-file", "conf/secret", "-cluster-secret", "x" + testSecret},
	} {
		_, err := Load(append(base, args...), env("NACOS_HOME", home, "NACOS_SERVERS", "10.0.0.2"))
		if !errors.Is(err, ErrClusterSecret) {
			t.Errorf("%s: err = %v, want ErrClusterSecret", name, err)
		} else if strings.Contains(err.Error(), testSecret) {
			t.Errorf("%s: error echoes the secret: %v", name, err)
		}
	}
}
