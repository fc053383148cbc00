package server

import (
	"net"
	"net/netip"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/distrod/distrod/internal/config"
	"github.com/distrod/distrod/internal/distro"
	"github.com/distrod/distrod/internal/membership"
	"github.com/distrod/distrod/internal/naming"
)

// readElsewhere lists the Config fields optionsFor does not map, with
// where they are read instead. Every other field must have a check in
// arrivals.
var readElsewhere = map[string]string{
	"Mode":                      "New: builds the cluster (transport, forwarder, shell) only in cluster mode",
	"PreferHostMode":            "config.Load: resolves IP to the host name",
	"ClusterSecretFile":         "config.Load: reads the file into ClusterSecret",
	"ClusterInsecure":           "config.Validate and securityWarnings (access.go)",
	"StatusAccess":              "New: restricts /distrod/status (access.go)",
	"DebugAccess":               "mountDebug (access.go)",
	"FaultInjection":            "mountDebug (access.go)",
	"Pprof":                     "mountDebug (access.go)",
	"MemoryLimitPercent":        "memoryDefaults (memory.go; memlimit's tests)",
	"MemoryReleaseInterval":     "memoryDefaults (memory.go; memlimit's tests)",
	"HTTPTLSCertFile":           "loadTLS (tls.go, tls_test.go)",
	"HTTPTLSKeyFile":            "loadTLS (tls.go, tls_test.go)",
	"HTTPTLSClientCAFile":       "loadTLS (tls.go, tls_test.go)",
	"GRPCTLSCertFile":           "loadTLS (tls.go, tls_test.go)",
	"GRPCTLSKeyFile":            "loadTLS (tls.go, tls_test.go)",
	"GRPCTLSClientCAFile":       "loadTLS (tls.go, tls_test.go)",
	"ClusterTLSCertFile":        "loadClusterTLS (tls.go, tls_test.go)",
	"ClusterTLSKeyFile":         "loadClusterTLS (tls.go, tls_test.go)",
	"ClusterTLSCAFile":          "loadClusterTLS (tls.go, tls_test.go)",
	"AuthAdminPassword":         "newGuard seeds the first admin (auth.go, auth_test.go)",
	"LogLevel":                  "NewLogger (log.go)",
	"LogFormat":                 "NewLogger (log.go)",
	"MemberDNSServer":           "checked below with the dns lookup",
	"MemberFile":                "checked below with the file lookup",
	"MemberFileReload":          "checked below with the file lookup",
	"MemberDNS":                 "checked below with the dns lookup",
	"MemberDNSRefresh":          "checked below with the dns lookup",
	"DataDir":                   "openControl (control.go, via Config.DataPath)",
	"RaftPortOffset":            "openControl (control.go)",
	"RaftHeartbeatTimeout":      "openControl (control.go)",
	"CPWriteTimeout":            "openControl (control.go)",
	"PersistentCheckInterval":   "the persistent-instance prober (probe.go)",
	"EmptyServiceCleanAfter":    "the control plane's cleanup loop (control.go)",
	"ExpiredMetadataCleanAfter": "the control plane's cleanup loop (control.go)",
}

// nonDefaultConfig is a valid cluster configuration in which every field
// differs from config.DefaultLocalConfig.
func nonDefaultConfig(t *testing.T) config.Config {
	t.Helper()
	c := config.DefaultLocalConfig()
	c.Mode = config.ModeCluster
	c.IP = "127.0.0.2"
	c.PreferHostMode = config.HostModeHostname
	c.Port = 18848
	c.ContextPath = "/naming"
	c.GRPCPortOffset = 1100
	c.ClusterPortOffset = 1101
	c.Home = t.TempDir()
	c.DataDir = t.TempDir()
	c.RaftPortOffset = -1100
	c.RaftHeartbeatTimeout = 700 * time.Millisecond
	c.CPWriteTimeout = 4 * time.Second
	c.PersistentCheckInterval = 7 * time.Second
	c.EmptyServiceCleanAfter = 70 * time.Second
	c.ExpiredMetadataCleanAfter = 80 * time.Second
	c.Members = []string{"127.0.0.2:18848", "127.0.0.3:18848", "127.0.0.4:18848"}
	c.MemberLookup = config.LookupStatic
	c.MemberFile = "conf/members.conf"
	c.MemberDNS = "distrod-headless.example"
	c.MemberDNSServer = "127.0.0.53:53"
	c.MemberFileReload = 3 * time.Second
	c.MemberDNSRefresh = 7 * time.Second
	c.ClusterSecret = "a-cluster-secret"
	c.ClusterSecretFile = "secret.txt"
	c.ClusterInsecure = true
	c.ClusterListenIP = "127.0.0.2"
	c.ClusterHandshakeTimeout = 4 * time.Second
	c.MaxClockOffset = 20 * time.Second
	c.StatusAccess = config.AccessToken
	c.DebugAccess = config.AccessOpen
	c.FaultInjection = true
	c.Pprof = true
	c.MemoryLimitPercent, c.MemoryReleaseInterval = 80, 20*time.Second
	c.ProbeInterval = 700 * time.Millisecond
	c.ProbeTimeout = 2 * time.Second
	c.SuspectAfter = 2
	c.DownAfter = 5
	c.HTTPTLSCertFile, c.HTTPTLSKeyFile, c.HTTPTLSClientCAFile = "h.crt", "h.key", "hca.crt"
	c.GRPCTLSCertFile, c.GRPCTLSKeyFile, c.GRPCTLSClientCAFile = "g.crt", "g.key", "gca.crt"
	c.GRPCTLSCompatibility = true
	c.ClusterTLSCertFile, c.ClusterTLSKeyFile, c.ClusterTLSCAFile = "c.crt", "c.key", "cca.crt"
	c.SyncDelay = 7 * time.Millisecond
	c.SyncRetryMin = 150 * time.Millisecond
	c.SyncRetryMax = 6 * time.Second
	c.VerifyInterval = 2 * time.Second
	c.SnapshotLoadTimeout = 8 * time.Second
	c.SnapshotLoadMax = 3 * time.Minute
	c.TombstoneTTL = 90 * time.Second
	c.OwnerGrace = 12 * time.Second
	c.BeatInterval = 4 * time.Second
	c.InstanceUnhealthyAfter = 16 * time.Second
	c.InstanceDeleteAfter = 33 * time.Second
	c.ExpireCheckInterval = 2 * time.Second
	c.PushDelay = 9 * time.Millisecond
	c.PushTimeout = 6 * time.Second
	c.PushRetryDelay = 2 * time.Second
	c.PushQueueSize = 333
	c.MaxBodyBytes = 3 << 20
	c.MaxHeaderBytes = 48 << 10
	c.ReadTimeout = 31 * time.Second
	c.WriteTimeout = 32 * time.Second
	c.IdleTimeout = 91 * time.Second
	c.MaxGRPCMessageBytes = 6 << 20
	c.MaxConnections = 777
	c.MaxConnectionRequestRate = 99
	c.ForwardTimeout = 4 * time.Second
	c.AuthEnabled = true
	c.AuthTokenSecret = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA=="
	c.AuthTokenTTL = time.Hour
	c.AuthIdentityKey, c.AuthIdentityValue = "X-Who", "peer"
	c.AuthUserFile = "auth/u.json"
	c.AuthAdminPassword = "adminpass"
	c.MaxHTTPParams = 55
	c.ReadHeaderTimeout = 11 * time.Second
	c.MaxConnectionsPerIP = 66
	c.MaxListAnswerBytes = 5 << 20
	c.MaxNamespaceLength = 60
	c.MaxGroupLength = 120
	c.MaxServiceNameLength = 500
	c.MaxMetadataKeyBytes = 900
	c.MaxMetadataValueBytes = 15 << 10
	c.MaxMetadataBytes = 60 << 10
	c.MaxInstancesPerService = 9000
	c.MaxServicesPerNamespace = 90000
	c.MaxNamespaces = 900
	c.UDPPushTrustedNets = []string{"10.0.0.0/8"}
	c.UDPPushRate = 21
	c.GRPCSetupTimeout = 9 * time.Second
	c.GRPCMaxStreams = 64
	c.PushMaxBytesPerConnection = 15 << 20
	c.PushMaxBytes = 200 << 20
	c.LogLevel = "debug"
	c.LogFormat = config.LogFormatJSON
	return c
}

// arrival returns what a Config field became in the options and what it
// should have become.
type arrival func(c config.Config, o options) (got, want any)

func same[T any](got, want T) arrival {
	return func(config.Config, options) (any, any) { return got, want }
}

// arrivals checks, for each Config field optionsFor maps, that its value
// reached every component that uses it.
func arrivals(c config.Config, o options) map[string]arrival {
	self := net.JoinHostPort(c.IP, strconv.Itoa(c.Port))
	d := o.shell.Distro
	return map[string]arrival{
		"IP": func(config.Config, options) (any, any) {
			return []string{d.Self, o.shell.Membership.Self, o.transport.Self, o.grpc.Self}, []string{self, self, self, self}
		},
		"Port": func(config.Config, options) (any, any) {
			return []string{o.httpAddr, d.Self}, []string{":" + strconv.Itoa(c.Port), self}
		},
		"ContextPath":    same(o.http.ContextPath, c.ContextPath),
		"GRPCPortOffset": same(o.grpcAddr, ":"+strconv.Itoa(c.Port+c.GRPCPortOffset)),
		"ClusterPortOffset": func(config.Config, options) (any, any) {
			return []any{o.transport.PortOffset, o.clusterAddr},
				[]any{c.ClusterPortOffset, net.JoinHostPort(c.ClusterListenIP, strconv.Itoa(c.Port+c.ClusterPortOffset))}
		},
		"Home":                    same(o.auth.UserFile, filepath.Join(c.Home, c.AuthUserFile)),
		"AuthUserFile":            same(o.auth.UserFile, filepath.Join(c.Home, c.AuthUserFile)),
		"Members":                 same[any](o.memberSource, membership.StaticSource{Addrs: c.Members, DefaultPort: c.Port}),
		"MemberLookup":            same(reflect.TypeOf(o.memberSource).Name(), "StaticSource"),
		"ClusterSecret":           same([]any{o.transport.Secret, o.shell.UntrustedMessages}, []any{c.ClusterSecret, false}),
		"ClusterListenIP":         same(o.clusterAddr, net.JoinHostPort(c.ClusterListenIP, strconv.Itoa(c.ClusterPort()))),
		"ClusterHandshakeTimeout": same(o.transport.HandshakeTimeout, c.ClusterHandshakeTimeout),
		"MaxClockOffset":          same([]time.Duration{o.shell.MaxClockOffset, o.maxClockOffset}, []time.Duration{c.MaxClockOffset, c.MaxClockOffset}),
		"ProbeInterval":           same(o.shell.Membership.ProbeInterval, c.ProbeInterval),
		"ProbeTimeout":            same(o.probeTimeout, c.ProbeTimeout),
		"SuspectAfter":            same(o.shell.Membership.SuspectAfter, c.SuspectAfter),
		"DownAfter":               same(o.shell.Membership.DownAfter, c.DownAfter),
		"GRPCTLSCompatibility":    same(o.grpc.TLSCompatibility, c.GRPCTLSCompatibility),
		"SyncDelay":               same(d.SyncDelay, c.SyncDelay),
		"SyncRetryMin":            same(d.RetryBackoffBase, c.SyncRetryMin),
		"SyncRetryMax":            same(d.RetryBackoffMax, c.SyncRetryMax),
		"VerifyInterval":          same(d.VerifyInterval, c.VerifyInterval),
		"SnapshotLoadTimeout":     same(d.LoadTimeout, c.SnapshotLoadTimeout),
		"SnapshotLoadMax":         same(d.LoadMax, c.SnapshotLoadMax),
		"TombstoneTTL":            same(d.TombstoneTTL, c.TombstoneTTL),
		"OwnerGrace":              same(d.OwnerGrace, c.OwnerGrace),
		"BeatInterval":            same(o.http.BeatIntervalMs, c.BeatInterval.Milliseconds()),
		"InstanceUnhealthyAfter":  same(o.unhealthyAfterMs, c.InstanceUnhealthyAfter.Milliseconds()),
		"InstanceDeleteAfter":     same(o.deleteAfterMs, c.InstanceDeleteAfter.Milliseconds()),
		"ExpireCheckInterval":     same([]time.Duration{o.expireEvery, o.shell.ExpireEvery}, []time.Duration{c.ExpireCheckInterval, c.ExpireCheckInterval}),
		"PushDelay":               same(o.push.Delay, c.PushDelay),
		"PushTimeout":             same(o.push.Timeout, c.PushTimeout),
		"PushRetryDelay":          same(o.push.RetryDelay, c.PushRetryDelay),
		"PushQueueSize":           same(o.push.QueueSize, c.PushQueueSize),
		"MaxBodyBytes":            same(o.http.MaxBodyBytes, c.MaxBodyBytes),
		"MaxHeaderBytes":          same(o.httpServer.MaxHeaderBytes, c.MaxHeaderBytes),
		"ReadTimeout":             same(o.httpServer.ReadTimeout, c.ReadTimeout),
		"WriteTimeout":            same(o.httpServer.WriteTimeout, c.WriteTimeout),
		"IdleTimeout":             same(o.httpServer.IdleTimeout, c.IdleTimeout),
		"ReadHeaderTimeout":       same(o.httpServer.ReadHeaderTimeout, c.ReadHeaderTimeout),
		// The cluster port takes the same message bound as the SDK port,
		// and a sync batch leaves room for the envelope within it.
		"MaxGRPCMessageBytes": same([]int{o.grpc.MaxMessageBytes, o.transport.MaxMessageBytes, d.SyncBatchMaxBytes},
			[]int{c.MaxGRPCMessageBytes, c.MaxGRPCMessageBytes, min(clusterBatchMaxBytes, c.MaxGRPCMessageBytes/2)}),
		"MaxConnections":            same(o.grpc.MaxConnections, c.MaxConnections),
		"MaxConnectionRequestRate":  same(o.grpc.MaxRequestRate, c.MaxConnectionRequestRate),
		"ForwardTimeout":            same(o.forwardTimeout, c.ForwardTimeout),
		"AuthEnabled":               same(o.auth.Enabled, c.AuthEnabled),
		"AuthTokenSecret":           same(o.auth.Secret, c.AuthTokenSecret),
		"AuthTokenTTL":              same(o.auth.TokenTTL, c.AuthTokenTTL),
		"AuthIdentityKey":           same(o.auth.IdentityKey, c.AuthIdentityKey),
		"AuthIdentityValue":         same(o.auth.IdentityValue, c.AuthIdentityValue),
		"MaxHTTPParams":             same(o.http.MaxParams, c.MaxHTTPParams),
		"MaxConnectionsPerIP":       same(o.grpc.MaxConnectionsPerIP, c.MaxConnectionsPerIP),
		"MaxListAnswerBytes":        same([]int{o.grpc.MaxAnswerBytes, o.http.MaxAnswerBytes}, []int{c.MaxListAnswerBytes, c.MaxListAnswerBytes}),
		"MaxNamespaceLength":        same(o.limits.MaxNamespaceLen, c.MaxNamespaceLength),
		"MaxGroupLength":            same(o.limits.MaxGroupLen, c.MaxGroupLength),
		"MaxServiceNameLength":      same(o.limits.MaxServiceNameLen, c.MaxServiceNameLength),
		"MaxMetadataKeyBytes":       same(o.limits.MaxMetadataKeyLen, c.MaxMetadataKeyBytes),
		"MaxMetadataValueBytes":     same(o.limits.MaxMetadataValueLen, c.MaxMetadataValueBytes),
		"MaxMetadataBytes":          same(o.limits.MaxMetadataBytes, c.MaxMetadataBytes),
		"MaxInstancesPerService":    same(o.limits.MaxInstancesPerService, c.MaxInstancesPerService),
		"MaxServicesPerNamespace":   same(o.limits.MaxServicesPerNamespace, c.MaxServicesPerNamespace),
		"MaxNamespaces":             same(o.limits.MaxNamespaces, c.MaxNamespaces),
		"UDPPushTrustedNets":        same(o.http.UDPTrustedNets, []netip.Prefix{netip.MustParsePrefix(c.UDPPushTrustedNets[0])}),
		"UDPPushRate":               same(o.push.UDPRate, c.UDPPushRate),
		"GRPCSetupTimeout":          same(o.grpc.SetupTimeout, c.GRPCSetupTimeout),
		"GRPCMaxStreams":            same(o.grpc.MaxStreams, c.GRPCMaxStreams),
		"PushMaxBytesPerConnection": same(o.grpc.MaxPushBytesPerConn, c.PushMaxBytesPerConnection),
		"PushMaxBytes":              same(o.grpc.MaxPushBytes, c.PushMaxBytes),
	}
}

func TestOptionsFor_EveryConfigFieldArrives(t *testing.T) {
	def := config.DefaultLocalConfig()
	cfg := nonDefaultConfig(t)
	o, err := optionsFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	checks := arrivals(cfg, o)
	ct, cv, dv := reflect.TypeFor[config.Config](), reflect.ValueOf(cfg), reflect.ValueOf(def)
	for i := range ct.NumField() {
		name := ct.Field(i).Name
		if reflect.DeepEqual(cv.Field(i).Interface(), dv.Field(i).Interface()) {
			t.Errorf("%s is left at its default in nonDefaultConfig: set it to another value", name)
		}
		check, ok := checks[name]
		if !ok {
			if _, ok := readElsewhere[name]; !ok {
				t.Errorf("Config.%s is neither mapped by optionsFor (add it, and a check to arrivals) nor listed in readElsewhere", name)
			}
			continue
		}
		if got, want := check(cfg, o); !reflect.DeepEqual(got, want) {
			t.Errorf("Config.%s: the options got %v, want %v", name, got, want)
		}
	}
	for name := range checks { // order-independent: each check stands alone
		if _, ok := ct.FieldByName(name); !ok {
			t.Errorf("arrivals checks %s, which is no Config field", name)
		}
	}
}

func TestOptionsFor_MemberLookupPicksTheSource(t *testing.T) {
	standalone := config.DefaultLocalConfig()
	if src, _ := memberSource(standalone); !reflect.DeepEqual(src, membership.StaticSource{Addrs: []string{"127.0.0.1:8848"}, DefaultPort: 8848}) {
		t.Errorf("standalone: source %#v, want this node alone", src)
	}

	cfg := nonDefaultConfig(t)

	cfg.MemberLookup = config.LookupFile
	o, err := optionsFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	fs, ok := o.memberSource.(*membership.FileSource)
	if !ok || fs.Path() != filepath.Join(cfg.Home, cfg.MemberFile) || o.memberPoll != cfg.MemberFileReload {
		t.Errorf("file lookup: source %#v every %v, want the file %s every %v", o.memberSource, o.memberPoll,
			filepath.Join(cfg.Home, cfg.MemberFile), cfg.MemberFileReload)
	}

	cfg.MemberLookup = config.LookupDNS
	if o, err = optionsFor(cfg); err != nil {
		t.Fatal(err)
	}
	ds, ok := o.memberSource.(membership.DNSSource)
	if !ok || ds.Host != cfg.MemberDNS || ds.Port != cfg.Port || o.memberPoll != cfg.MemberDNSRefresh ||
		ds.Resolver == nil || ds.Resolver == net.DefaultResolver {
		t.Errorf("dns lookup: source %#v every %v, want %s:%d through %s every %v", o.memberSource, o.memberPoll,
			cfg.MemberDNS, cfg.Port, cfg.MemberDNSServer, cfg.MemberDNSRefresh)
	}
}

func TestOptionsFor_DefaultsMatchTheServersPreviousSettings(t *testing.T) {
	cfg := config.DefaultLocalConfig()
	o, err := optionsFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.shell.Distro.Validate(); err != nil {
		t.Fatalf("the default core config is invalid: %v", err)
	}
	if got := o.shell.Distro.SyncBatchMaxBytes; got != 4<<20 {
		t.Errorf("SyncBatchMaxBytes with default limits = %d, want 4 MiB", got)
	}
	if !slices.Equal([]int{o.transport.MaxMessageBytes, o.grpc.MaxMessageBytes}, []int{cfg.MaxGRPCMessageBytes, cfg.MaxGRPCMessageBytes}) {
		t.Errorf("message bounds = %d (cluster), %d (SDK), want %d on both", o.transport.MaxMessageBytes, o.grpc.MaxMessageBytes, cfg.MaxGRPCMessageBytes)
	}
	if o.limits == (naming.Limits{}) {
		t.Errorf("limits are all zero")
	}
}

// TestDefaults_CoreAgreesWithTheServer: the core's own defaults (used by
// tests and the simulation's base config) are the server's.
func TestDefaults_CoreAgreesWithTheServer(t *testing.T) {
	cfg := config.DefaultLocalConfig()
	core := distro.DefaultConfig(cfg.SelfAddr())
	mapped := distroConfig(cfg)
	core.SyncBatchMaxRecords, core.SyncBatchMaxBytes = mapped.SyncBatchMaxRecords, mapped.SyncBatchMaxBytes
	if core != mapped {
		t.Errorf("distro.DefaultConfig and the server's defaults disagree:\ncore   %+v\nserver %+v", core, mapped)
	}
}
