package config

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/distrod/distrod/internal/auth"
	"github.com/distrod/distrod/internal/memberaddr"
)

// Sentinel errors. Every error from Load, Normalize and Validate wraps one
// of them (Validate may join several); test with errors.Is.
var (
	// ErrInvalidMode: Mode is neither standalone nor cluster.
	ErrInvalidMode = errors.New("config: invalid mode")
	// ErrInvalidPort: a port, or a port derived from it, is out of range,
	// or the port offsets make two listeners collide.
	ErrInvalidPort = errors.New("config: invalid port")
	// ErrInvalidAddr: a member address cannot be parsed.
	ErrInvalidAddr = memberaddr.ErrInvalidAddr
	// ErrSelfAddr: the advertised address cannot identify this node to its
	// peers (empty, a wildcard, or loopback while peers are remote).
	ErrSelfAddr = errors.New("config: unusable self address")
	// ErrPortOverlap: two members on the same host would share a port.
	ErrPortOverlap = errors.New("config: members on one host overlap ports")
	// ErrNoMembers: cluster mode without any member.
	ErrNoMembers = errors.New("config: cluster mode needs at least one member: set NACOS_SERVERS or conf/cluster.conf")
	// ErrStandaloneMembers: peers configured while in standalone mode.
	ErrStandaloneMembers = errors.New("config: standalone mode takes no members")
	// ErrInvalidLookup: MemberLookup is unknown or lacks its input.
	ErrInvalidLookup = errors.New("config: invalid member lookup")
	// ErrInvalidDuration: a duration is zero or negative.
	ErrInvalidDuration = errors.New("config: duration must be positive")
	// ErrTimingOrder: two timings contradict each other.
	ErrTimingOrder = errors.New("config: contradictory timings")
	// ErrInvalidLimit: a size, count or threshold is out of range.
	ErrInvalidLimit = errors.New("config: invalid limit")
	// ErrInvalidContextPath: ContextPath is malformed.
	ErrInvalidContextPath = errors.New("config: invalid context path")
	// ErrInvalidLog: LogLevel or LogFormat is unknown.
	ErrInvalidLog = errors.New("config: invalid logging setting")
	// ErrInvalidValue: an environment variable or flag cannot be parsed.
	ErrInvalidValue = errors.New("config: invalid value")
	// ErrMemberFile: cluster.conf exists but cannot be read.
	ErrMemberFile = memberaddr.ErrMemberFile
	// ErrClusterSecret: cluster mode without a secret and without
	// cluster-insecure, or the secret settings contradict each other.
	ErrClusterSecret = errors.New("config: cluster secret")
	// ErrInvalidAccess: StatusAccess or DebugAccess is unknown or needs a
	// secret that is not set.
	ErrInvalidAccess = errors.New("config: invalid access rule")
	// ErrConfigFile: the YAML config file cannot be read or decoded.
	ErrConfigFile = errors.New("config: bad config file")
	// ErrTLS: a TLS setting is incomplete or contradicts another.
	ErrTLS = errors.New("config: invalid TLS setting")
	// ErrAuth: client authentication is enabled without a usable token
	// secret, or the identity header is half configured.
	ErrAuth = errors.New("config: invalid auth setting")
)

// Validate reports every contradiction in c, joined with errors.Join, or
// nil. It does not modify c; members need not be normalised (Normalize
// adds this node in cluster mode, and Validate accepts a list without it).
func (c Config) Validate() error {
	var errs []error
	add := func(err error) { errs = append(errs, err) }

	// Mode.
	switch c.Mode {
	case ModeStandalone, ModeCluster:
	default:
		add(fmt.Errorf("%w: %q: set MODE to standalone or cluster", ErrInvalidMode, c.Mode))
	}

	// Ports and offsets.
	if !validPort(c.Port) {
		add(fmt.Errorf("%w: port %d not in 1..65535 (NACOS_APPLICATION_PORT, -port)", ErrInvalidPort, c.Port))
	}
	switch {
	case c.GRPCPortOffset == 0 || c.ClusterPortOffset == 0:
		add(fmt.Errorf("%w: grpc-port-offset (%d) and cluster-port-offset (%d) must be non-zero, or the gRPC listeners take the HTTP port",
			ErrInvalidPort, c.GRPCPortOffset, c.ClusterPortOffset))
	case c.GRPCPortOffset == c.ClusterPortOffset:
		add(fmt.Errorf("%w: grpc-port-offset and cluster-port-offset are both %d; they must differ", ErrInvalidPort, c.GRPCPortOffset))
	case c.RaftPortOffset == 0 || c.RaftPortOffset == c.GRPCPortOffset || c.RaftPortOffset == c.ClusterPortOffset:
		add(fmt.Errorf("%w: raft-port-offset (%d) must be non-zero and differ from the gRPC and cluster offsets", ErrInvalidPort, c.RaftPortOffset))
	case c.Mode == ModeCluster && validPort(c.Port) && !validPort(c.RaftPort()):
		add(fmt.Errorf("%w: port %d gives Raft port %d, not in 1..65535: set raft-port-offset", ErrInvalidPort, c.Port, c.RaftPort()))
	case validPort(c.Port):
		if !validPort(c.GRPCPort()) || !validPort(c.ClusterPort()) {
			add(fmt.Errorf("%w: port %d gives gRPC port %d and cluster port %d; both must be in 1..65535: lower the port",
				ErrInvalidPort, c.Port, c.GRPCPort(), c.ClusterPort()))
		}
	}

	// Self address.
	selfHost := strings.TrimSpace(c.IP)
	var self string
	switch h, err := memberaddr.CanonicalHost(selfHost); {
	case selfHost == "":
		add(fmt.Errorf("%w: ip is empty: set NACOS_SERVER_IP to an address peers and clients can reach", ErrSelfAddr))
	case err != nil:
		add(fmt.Errorf("%w: ip %q: %v (NACOS_SERVER_IP)", ErrSelfAddr, c.IP, err))
	case isUnspecified(h):
		add(fmt.Errorf("%w: ip %q is a wildcard, which names no node: set NACOS_SERVER_IP to this node's own address", ErrSelfAddr, c.IP))
	default:
		if validPort(c.Port) {
			self = joinHostPort(h, c.Port)
		}
	}

	switch c.PreferHostMode {
	case HostModeIP, HostModeHostname:
	default:
		add(fmt.Errorf("%w: prefer-host-mode %q: use ip or hostname (PREFER_HOST_MODE)", ErrSelfAddr, c.PreferHostMode))
	}
	if s := c.MemberDNSServer; s != "" {
		if _, err := memberaddr.NormalizeMember(s, 53); err != nil {
			add(fmt.Errorf("%w: member-dns-server %q: want host[:port] of a DNS server", ErrInvalidLookup, s))
		}
	}

	// Members.
	members, err := memberaddr.NormalizeMembers(c.Members, c.Port)
	if err != nil {
		add(fmt.Errorf("%w (members, NACOS_SERVERS or cluster.conf)", err))
	}
	switch c.MemberLookup {
	case "", LookupStatic, LookupFile, LookupDNS:
	default:
		add(fmt.Errorf("%w: member-lookup %q: use static, file or dns (or leave it empty)", ErrInvalidLookup, c.MemberLookup))
	}
	switch c.Mode {
	case ModeStandalone:
		if len(members) > 1 || (len(members) == 1 && self != "" && members[0] != self) {
			add(fmt.Errorf("%w: got %s: set MODE=cluster, or remove NACOS_SERVERS/members", ErrStandaloneMembers, strings.Join(members, ",")))
		}
		if c.MemberDNS != "" {
			add(fmt.Errorf("%w: member-dns %q is set: set MODE=cluster, or remove it", ErrStandaloneMembers, c.MemberDNS))
		}
	case ModeCluster:
		lookup := c.Lookup()
		switch lookup {
		case LookupStatic, LookupFile:
			if err == nil && len(members) == 0 {
				add(fmt.Errorf("%w (member-lookup %s found none)", ErrNoMembers, lookup))
			}
		case LookupDNS:
			if strings.TrimSpace(c.MemberDNS) == "" {
				add(fmt.Errorf("%w: member-lookup is dns but member-dns is empty: set DISTROD_MEMBER_DNS", ErrInvalidLookup))
			}
		}
		if err == nil {
			all := members
			if self != "" && !contains(all, self) {
				all = append(append([]string(nil), members...), self)
			}
			errs = append(errs, c.checkMemberPorts(all)...)
			if self != "" && isLoopbackHost(hostOf(self)) {
				for _, m := range all {
					if !isLoopbackHost(hostOf(m)) {
						add(fmt.Errorf("%w: ip %s is loopback but member %s is remote, so peers cannot reach this node: set NACOS_SERVER_IP",
							ErrSelfAddr, c.IP, m))
						break
					}
				}
			}
		}
	}

	// Cluster security and TLS.
	errs = append(errs, c.validateSecurity()...)
	errs = append(errs, c.validateTLS()...)

	if strings.TrimSpace(c.DataDir) == "" {
		add(fmt.Errorf("%w: data-dir is empty: the control plane needs a directory (default data, under home)", ErrInvalidValue))
	}
	// Durations: every one must be positive, except those where 0 means off.
	rv := reflect.ValueOf(c)
	for _, s := range settings() {
		if s.field.Type == durationType && !zeroMeansOff[s.key] {
			if d := time.Duration(rv.FieldByIndex(s.field.Index).Int()); d <= 0 {
				add(fmt.Errorf("%w: %s is %v", ErrInvalidDuration, s.key, d))
			}
		}
	}
	if c.SyncRetryMin > 0 && c.SyncRetryMax < c.SyncRetryMin {
		add(fmt.Errorf("%w: sync-retry-max (%v) is below sync-retry-min (%v)", ErrTimingOrder, c.SyncRetryMax, c.SyncRetryMin))
	}
	if c.BeatInterval > 0 && c.InstanceUnhealthyAfter < c.BeatInterval {
		add(fmt.Errorf("%w: instance-unhealthy-after (%v) is below beat-interval (%v); instances would flap between beats",
			ErrTimingOrder, c.InstanceUnhealthyAfter, c.BeatInterval))
	}
	if c.InstanceUnhealthyAfter > 0 && c.InstanceDeleteAfter < c.InstanceUnhealthyAfter {
		add(fmt.Errorf("%w: instance-delete-after (%v) is below instance-unhealthy-after (%v)",
			ErrTimingOrder, c.InstanceDeleteAfter, c.InstanceUnhealthyAfter))
	}
	if c.SnapshotLoadTimeout > 0 && c.SnapshotLoadMax < c.SnapshotLoadTimeout {
		add(fmt.Errorf("%w: snapshot-load-max (%v) is below snapshot-load-timeout (%v)", ErrTimingOrder, c.SnapshotLoadMax, c.SnapshotLoadTimeout))
	}
	if c.VerifyInterval > 0 && c.TombstoneTTL < 3*c.VerifyInterval {
		add(fmt.Errorf("%w: tombstone-ttl (%v) must cover at least three verify rounds (3 x verify-interval = %v), or deleted data can come back",
			ErrTimingOrder, c.TombstoneTTL, 3*c.VerifyInterval))
	}

	// Counts and sizes.
	if c.SuspectAfter < 1 {
		add(fmt.Errorf("%w: suspect-after is %d; it must be at least 1", ErrInvalidLimit, c.SuspectAfter))
	}
	if c.DownAfter < c.SuspectAfter || c.DownAfter < 1 {
		add(fmt.Errorf("%w: down-after (%d) must be at least 1 and at least suspect-after (%d)", ErrInvalidLimit, c.DownAfter, c.SuspectAfter))
	}
	for _, l := range []struct {
		key string
		v   int64
	}{
		{"push-queue-size", int64(c.PushQueueSize)},
		{"max-body-bytes", c.MaxBodyBytes},
		{"max-header-bytes", int64(c.MaxHeaderBytes)},
		{"max-grpc-message-bytes", int64(c.MaxGRPCMessageBytes)},
		{"max-connections", int64(c.MaxConnections)},
	} {
		if l.v <= 0 {
			add(fmt.Errorf("%w: %s is %d; it must be positive", ErrInvalidLimit, l.key, l.v))
		}
	}
	if c.MaxConnectionRequestRate < 0 {
		add(fmt.Errorf("%w: max-connection-request-rate is %d; use 0 for no limit or a positive rate", ErrInvalidLimit, c.MaxConnectionRequestRate))
	}

	// Client authentication.
	if c.AuthEnabled {
		if strings.TrimSpace(c.AuthTokenSecret) == "" {
			add(fmt.Errorf("%w: auth is enabled but no token secret is set: set NACOS_AUTH_TOKEN (or -auth-token-secret) to the base64 of at least 32 random bytes, e.g. the output of `openssl rand -base64 32`", ErrAuth))
		} else if _, err := auth.DecodeSecret(c.AuthTokenSecret); err != nil {
			add(fmt.Errorf("%w: NACOS_AUTH_TOKEN (auth-token-secret): %w; generate one with `openssl rand -base64 32`", ErrAuth, err))
		}
		if c.AuthTokenTTL > 0 && c.AuthTokenTTL < time.Second {
			add(fmt.Errorf("%w: auth-token-ttl %v is below one second (NACOS_AUTH_TOKEN_EXPIRE_SECONDS is in seconds)", ErrAuth, c.AuthTokenTTL))
		}
	}
	if (c.AuthIdentityKey == "") != (c.AuthIdentityValue == "") {
		add(fmt.Errorf("%w: set both NACOS_AUTH_IDENTITY_KEY and NACOS_AUTH_IDENTITY_VALUE, or neither", ErrAuth))
	}
	if strings.TrimSpace(c.AuthUserFile) == "" {
		add(fmt.Errorf("%w: auth-user-file is empty: give the path of the users file", ErrAuth))
	}

	// Client limits.
	for _, l := range []struct {
		key string
		v   int64
	}{
		{"max-http-params", int64(c.MaxHTTPParams)},
		{"max-list-answer-bytes", int64(c.MaxListAnswerBytes)},
		{"max-namespace-length", int64(c.MaxNamespaceLength)},
		{"max-group-length", int64(c.MaxGroupLength)},
		{"max-service-name-length", int64(c.MaxServiceNameLength)},
		{"max-metadata-key-bytes", int64(c.MaxMetadataKeyBytes)},
		{"max-metadata-value-bytes", int64(c.MaxMetadataValueBytes)},
		{"max-metadata-bytes", int64(c.MaxMetadataBytes)},
		{"grpc-max-streams", int64(c.GRPCMaxStreams)},
		{"push-max-bytes-per-connection", c.PushMaxBytesPerConnection},
		{"push-max-bytes", c.PushMaxBytes},
	} {
		if l.v <= 0 {
			add(fmt.Errorf("%w: %s is %d; it must be positive", ErrInvalidLimit, l.key, l.v))
		}
	}
	for _, l := range []struct {
		key string
		v   int
	}{
		{"max-connections-per-ip", c.MaxConnectionsPerIP},
		{"max-instances-per-service", c.MaxInstancesPerService},
		{"max-services-per-namespace", c.MaxServicesPerNamespace},
		{"max-namespaces", c.MaxNamespaces},
		{"udp-push-rate", c.UDPPushRate},
	} {
		if l.v < 0 {
			add(fmt.Errorf("%w: %s is %d; use 0 for no limit or a positive number", ErrInvalidLimit, l.key, l.v))
		}
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"read-header-timeout", c.ReadHeaderTimeout}, {"grpc-setup-timeout", c.GRPCSetupTimeout}} {
		if d.v <= 0 {
			add(fmt.Errorf("%w: %s is %v", ErrInvalidDuration, d.key, d.v))
		}
	}
	if c.MemoryLimitPercent < 0 || c.MemoryLimitPercent > 100 {
		add(fmt.Errorf("%w: memory-limit-percent is %d; use 0 (off) or 1..100", ErrInvalidLimit, c.MemoryLimitPercent))
	}
	if c.MemoryReleaseInterval < 0 {
		add(fmt.Errorf("%w: memory-release-interval is %v; use 0 (off) or a positive duration", ErrInvalidDuration, c.MemoryReleaseInterval))
	}
	if _, err := c.UDPPushTrustedPrefixes(); err != nil {
		add(err)
	}

	// HTTP context path.
	if p := c.ContextPath; p != "" && (!strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") || strings.ContainsAny(p, " ?#")) {
		add(fmt.Errorf("%w: %q: use \"\" or a path like /nacos (leading slash, no trailing slash)", ErrInvalidContextPath, p))
	}

	// Logging.
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "warning", "error":
	default:
		add(fmt.Errorf("%w: log-level %q: use debug, info, warn or error", ErrInvalidLog, c.LogLevel))
	}
	switch c.LogFormat {
	case LogFormatText, LogFormatJSON:
	default:
		add(fmt.Errorf("%w: log-format %q: use text or json", ErrInvalidLog, c.LogFormat))
	}

	return errors.Join(errs...)
}

// checkMemberPorts checks that every member's derived ports are valid and
// that members sharing a host do not collide: each uses Port, GRPCPort and
// ClusterPort, so two local nodes on 8848 and 8849 would both want 9849.
func (c Config) checkMemberPorts(members []string) []error {
	var errs []error
	type owner struct{ member, role string }
	used := map[string]owner{}
	for _, m := range members {
		host := hostOf(m)
		port := portOf(m)
		for _, p := range []struct {
			role string
			port int
		}{{"HTTP", port}, {"gRPC", port + c.GRPCPortOffset}, {"cluster", port + c.ClusterPortOffset}} {
			if !validPort(p.port) {
				errs = append(errs, fmt.Errorf("%w: member %s would need %s port %d", ErrInvalidPort, m, p.role, p.port))
				continue
			}
			key := joinHostPort(host, p.port)
			if o, dup := used[key]; dup && o.member != m {
				errs = append(errs, fmt.Errorf("%w: %s %s port and %s %s port are both %d: space the members' ports further apart",
					ErrPortOverlap, o.member, o.role, m, p.role, p.port))
				continue
			}
			used[key] = owner{m, p.role}
		}
	}
	return errs
}

var durationType = reflect.TypeOf(time.Duration(0))

// zeroMeansOff lists the durations for which 0 turns a feature off; they
// may not be negative (checked in Validate).
var zeroMeansOff = map[string]bool{"memory-release-interval": true}

func validPort(p int) bool { return p >= 1 && p <= 65535 }

func joinHostPort(h string, p int) string {
	if strings.Contains(h, ":") {
		return "[" + h + "]:" + strconv.Itoa(p)
	}
	return h + ":" + strconv.Itoa(p)
}

// hostOf and portOf split a normalised member address.
func hostOf(addr string) string {
	i := strings.LastIndexByte(addr, ':')
	return strings.Trim(addr[:i], "[]")
}

func portOf(addr string) int {
	i := strings.LastIndexByte(addr, ':')
	p, _ := strconv.Atoi(addr[i+1:])
	return p
}

func isUnspecified(h string) bool {
	a, err := netip.ParseAddr(h)
	return err == nil && a.IsUnspecified()
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.IsLoopback()
}

// MinSecretLen is the cluster secret length below which distrod warns: a
// short secret can be guessed offline from one recorded handshake.
const MinSecretLen = 16

// validateSecurity checks the cluster secret and the access rules.
func (c Config) validateSecurity() []error {
	var errs []error
	if c.Mode == ModeCluster {
		switch {
		case c.ClusterSecret == "" && !c.ClusterInsecure:
			errs = append(errs, fmt.Errorf("%w: cluster mode needs a shared secret, the same on every member, or anyone who reaches "+
				"the cluster port can read and change all data: set DISTROD_CLUSTER_SECRET (flag -cluster-secret) or "+
				"DISTROD_CLUSTER_SECRET_FILE (flag -cluster-secret-file) to e.g. the output of `openssl rand -hex 32`; "+
				"on a network nobody else can reach you may instead set DISTROD_CLUSTER_INSECURE=true (flag -cluster-insecure=true)", ErrClusterSecret))
		case c.ClusterSecret != "" && c.ClusterInsecure:
			errs = append(errs, fmt.Errorf("%w: cluster-insecure is true but a cluster secret is set: unset DISTROD_CLUSTER_INSECURE to authenticate peers", ErrClusterSecret))
		}
	}
	if ip := c.ClusterListenIP; ip != "" {
		if _, err := netip.ParseAddr(ip); err != nil {
			errs = append(errs, fmt.Errorf("%w: cluster-listen-ip %q is not an IP address: use one of this host's addresses, or leave it empty for all", ErrInvalidAddr, ip))
		}
	}
	if c.ClusterSecret != strings.TrimSpace(c.ClusterSecret) {
		errs = append(errs, fmt.Errorf("%w: the cluster secret starts or ends with white space", ErrClusterSecret))
	}
	for _, a := range []struct{ key, v string }{{"status-access", c.StatusAccess}, {"debug-access", c.DebugAccess}} {
		switch a.v {
		case AccessOpen, AccessLocal:
		case AccessToken:
			if c.ClusterSecret == "" {
				errs = append(errs, fmt.Errorf("%w: %s is token but no cluster secret is set: set DISTROD_CLUSTER_SECRET or use local", ErrInvalidAccess, a.key))
			}
		default:
			errs = append(errs, fmt.Errorf("%w: %s %q: use open, local or token", ErrInvalidAccess, a.key, a.v))
		}
	}
	return errs
}

// validateTLS checks that each port's TLS files come as a usable set. It
// does not read them: server.New does.
func (c Config) validateTLS() []error {
	var errs []error
	pair := func(port, certKey, cert, keyKey, key, caKey, ca string) {
		switch {
		case cert == "" && key != "":
			errs = append(errs, fmt.Errorf("%w: %s is set but %s is not: set both to serve TLS on the %s port, or neither", ErrTLS, keyKey, certKey, port))
		case cert != "" && key == "":
			errs = append(errs, fmt.Errorf("%w: %s is set but %s is not: set both to serve TLS on the %s port, or neither", ErrTLS, certKey, keyKey, port))
		case cert == "" && ca != "":
			errs = append(errs, fmt.Errorf("%w: %s is set but %s is not: mutual TLS on the %s port needs the server's own certificate too", ErrTLS, caKey, certKey, port))
		}
	}
	pair("HTTP", "http-tls-cert-file", c.HTTPTLSCertFile, "http-tls-key-file", c.HTTPTLSKeyFile, "http-tls-client-ca-file", c.HTTPTLSClientCAFile)
	pair("gRPC", "grpc-tls-cert-file", c.GRPCTLSCertFile, "grpc-tls-key-file", c.GRPCTLSKeyFile, "grpc-tls-client-ca-file", c.GRPCTLSClientCAFile)
	if c.GRPCTLSCompatibility && c.GRPCTLSCertFile == "" {
		errs = append(errs, fmt.Errorf("%w: grpc-tls-compatibility is set but the gRPC port serves no TLS: set grpc-tls-cert-file and grpc-tls-key-file, or unset it", ErrTLS))
	}
	cluster := c.ClusterTLSCertFile != "" || c.ClusterTLSKeyFile != "" || c.ClusterTLSCAFile != ""
	if cluster && (c.ClusterTLSCertFile == "" || c.ClusterTLSKeyFile == "" || c.ClusterTLSCAFile == "") {
		errs = append(errs, fmt.Errorf("%w: cluster TLS needs cluster-tls-cert-file, cluster-tls-key-file and cluster-tls-ca-file together (each member presents its certificate and checks the other's against the cluster CA)", ErrTLS))
	}
	if cluster && c.Mode == ModeCluster && c.ClusterInsecure {
		errs = append(errs, fmt.Errorf("%w: cluster TLS runs under the secret handshake, which cluster-insecure turns off: set DISTROD_CLUSTER_SECRET and unset DISTROD_CLUSTER_INSECURE", ErrTLS))
	}
	return errs
}

// UDPPushTrustedPrefixes parses UDPPushTrustedNets; a bare address is a
// single-address network.
func (c Config) UDPPushTrustedPrefixes() ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(c.UDPPushTrustedNets))
	for _, n := range c.UDPPushTrustedNets {
		p, err := netip.ParsePrefix(n)
		if err != nil {
			a, aerr := netip.ParseAddr(n)
			if aerr != nil {
				return nil, fmt.Errorf("%w: udp-push-trusted-nets entry %q is not a CIDR such as 10.0.0.0/8", ErrInvalidValue, n)
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
