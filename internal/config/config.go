package config

import (
	"log/slog"
	"net"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/distrod/distrod/internal/memberaddr"
)

// Mode says whether the node runs alone or as part of a cluster.
type Mode string

// The supported modes.
const (
	// ModeStandalone runs one node with no peers; the member list is just
	// this node.
	ModeStandalone Mode = "standalone"
	// ModeCluster replicates with the members named by Members, MemberFile or
	// MemberDNS.
	ModeCluster Mode = "cluster"
)

// Member lookup kinds, the values of Config.MemberLookup.
const (
	// LookupStatic uses Config.Members as given (flags, environment, file)
	// and never changes them.
	LookupStatic = "static"
	// LookupFile reads the member list from cluster.conf and reloads it when
	// the file changes.
	LookupFile = "file"
	// LookupDNS resolves Config.MemberDNS periodically; every address it
	// returns is a member on Config.Port.
	LookupDNS = "dns"
)

// Access rules, the values of Config.StatusAccess and Config.DebugAccess.
const (
	// AccessOpen lets every caller in.
	AccessOpen = "open"
	// AccessLocal lets in callers connecting from a loopback address, and
	// callers presenting the cluster secret as a bearer token.
	AccessLocal = "local"
	// AccessToken lets in only callers presenting the cluster secret as a
	// bearer token ("Authorization: Bearer <secret>").
	AccessToken = "token"
)

// Log formats, the values of Config.LogFormat.
const (
	LogFormatText = "text"
	LogFormatJSON = "json"
)

// Config is the complete configuration of one distrod node. Build it with
// DefaultConfig or Load, never from a zero value: zero durations and limits
// are rejected by Validate.
//
// Each field's yaml tag is its key in the config file, its flag name and,
// upper-snake-cased behind DISTROD_, its environment variable.
type Config struct {
	// ---- Node identity and listeners ----

	// Mode is "standalone" or "cluster". Default "standalone".
	// Env MODE, as in the Nacos Docker image.
	Mode Mode `yaml:"mode"`

	// IP is the address this node advertises to peers and clients: an IP
	// literal or a host name that peers can resolve. It must not be a
	// wildcard (0.0.0.0, ::). Default: the first non-loopback IPv4 address
	// of an up interface, or 127.0.0.1 if there is none.
	// Env NACOS_SERVER_IP.
	IP string `yaml:"ip"`

	// PreferHostMode is "ip" or "hostname". With "hostname" and no IP
	// given explicitly (NACOS_SERVER_IP, DISTROD_IP, -ip, ip in the file),
	// the node advertises its host name instead of an address: the member
	// of Members whose host is this host name, or starts with it followed
	// by a dot (a pod's short name "distrod-0" picks
	// "distrod-0.distrod-headless.ns.svc.cluster.local" from the list), else
	// the host name itself. The host name is $HOSTNAME, which Docker and
	// Kubernetes set, else the kernel's. Default "ip".
	// Env PREFER_HOST_MODE, as in the Nacos Docker image.
	PreferHostMode string `yaml:"prefer-host-mode"`

	// Port is the HTTP port (Nacos open API and console). The gRPC ports are
	// derived from it. Default 8848. Env NACOS_APPLICATION_PORT.
	Port int `yaml:"port"`

	// ContextPath prefixes every HTTP route. Empty or "/x" without a
	// trailing slash. Default "/nacos". Env SERVER_SERVLET_CONTEXTPATH.
	ContextPath string `yaml:"context-path"`

	// GRPCPortOffset is added to Port to get the SDK gRPC port. Must be
	// non-zero and differ from ClusterPortOffset. Default 1000 (port 9848),
	// which Nacos clients assume.
	GRPCPortOffset int `yaml:"grpc-port-offset"`

	// ClusterPortOffset is added to Port to get the cluster (peer) gRPC
	// port. Default 1001 (port 9849), as Nacos.
	ClusterPortOffset int `yaml:"cluster-port-offset"`

	// Home is the base directory; relative paths such as MemberFile are
	// resolved against it. Default ".". Env NACOS_HOME.
	Home string `yaml:"home"`

	// DataDir holds the durable control plane (Raft log and snapshots),
	// relative to Home unless absolute. Default "data" (NACOS_HOME/data).
	DataDir string `yaml:"data-dir"`

	// RaftPortOffset is added to Port to get the control plane's Raft port
	// in cluster mode. Default -1000 (port 7848), as Nacos.
	RaftPortOffset int `yaml:"raft-port-offset"`

	// RaftHeartbeatTimeout is Raft's heartbeat and election timeout; the
	// leader lease is half of it. Default 1s.
	RaftHeartbeatTimeout time.Duration `yaml:"raft-heartbeat-timeout"`

	// CPWriteTimeout bounds a control plane write (namespaces, overrides,
	// switches), including the wait for a leader: past it the write fails
	// with 503 "no leader". Default 3s.
	CPWriteTimeout time.Duration `yaml:"cp-write-timeout"`

	// PersistentCheckInterval is how often the node probing a persistent
	// instance checks it (TCP connect, or its cluster's HTTP checker); two
	// results in a row that disagree with its health change it. Default 5s.
	PersistentCheckInterval time.Duration `yaml:"persistent-check-interval"`

	// EmptyServiceCleanAfter is how long an explicitly created service
	// may stay without instances (and unchanged) before the control plane
	// leader removes it, as Nacos's empty service cleaner does. Default 60s.
	EmptyServiceCleanAfter time.Duration `yaml:"empty-service-clean-after"`

	// ExpiredMetadataCleanAfter is how long an instance override outlives
	// its instance (so that a client's re-registration finds it) before
	// the leader removes it, as Nacos's expired metadata cleaner. Default
	// 60s.
	ExpiredMetadataCleanAfter time.Duration `yaml:"expired-metadata-clean-after"`

	// ---- Cluster membership ----

	// Members lists the cluster members as "host:port"; a missing port
	// means Port. Space- or comma-separated in the environment and flags.
	// Normalize canonicalises the list, removes duplicates and adds this
	// node (Nacos does the same). Ignored unless Mode is cluster; must then
	// be empty or just this node in standalone mode. Default empty.
	// Env NACOS_SERVERS.
	Members []string `yaml:"members"`

	// MemberLookup says where the member list comes from and whether it can
	// change at run time: "static", "file" or "dns". Default "" (auto):
	// static if Members is set, else dns if MemberDNS is set, else file.
	MemberLookup string `yaml:"member-lookup"`

	// MemberFile is the path of the Nacos-format cluster.conf, relative to
	// Home unless absolute. Read when MemberLookup is file. Default
	// "conf/cluster.conf".
	MemberFile string `yaml:"member-file"`

	// MemberDNS is a DNS name that resolves to the addresses of all members,
	// for example a Kubernetes headless service; every member listens on
	// Port. A name starting with "_" (e.g.
	// "_http._tcp.distrod-headless.ns.svc.cluster.local") is looked up as
	// SRV records instead: each record names a member's host and HTTP
	// port, and the host is resolved to its addresses. Default empty.
	MemberDNS string `yaml:"member-dns"`

	// MemberDNSServer is the DNS server ("host:port", or "host" for port
	// 53) that MemberDNS is resolved with, bypassing the system resolver.
	// Default empty: the system resolver (/etc/resolv.conf).
	MemberDNSServer string `yaml:"member-dns-server"`

	// MemberFileReload is how often MemberFile is polled for changes.
	// Default 2s.
	MemberFileReload time.Duration `yaml:"member-file-reload"`

	// MemberDNSRefresh is how often MemberDNS is resolved again.
	// Default 5s.
	MemberDNSRefresh time.Duration `yaml:"member-dns-refresh"`

	// ---- Cluster security (docs/security-cluster.md) ----

	// ClusterSecret is the shared secret every member proves it knows when
	// a cluster connection is set up (an HMAC challenge-response in both
	// directions; the secret itself never crosses the network). Cluster
	// mode refuses to start without it unless ClusterInsecure is set. Use
	// at least 16 random bytes, e.g. `openssl rand -hex 32`; prefer the
	// environment or ClusterSecretFile to the flag, which other local users
	// can read in the process list. Default empty.
	ClusterSecret string `yaml:"cluster-secret"`

	// ClusterSecretFile names a file holding ClusterSecret (surrounding
	// white space is trimmed), relative to Home unless absolute; Load reads
	// it. Cannot be combined with ClusterSecret. Default empty.
	ClusterSecretFile string `yaml:"cluster-secret-file"`

	// ClusterInsecure lets cluster mode start without a secret: any host
	// that reaches the cluster port can then read and change all data.
	// Only for a network nobody else can reach; logged as a warning at
	// startup and every ten minutes. Default false.
	ClusterInsecure bool `yaml:"cluster-insecure"`

	// ClusterListenIP is the local address the cluster port listens on.
	// Empty listens on every interface; set it to the address of the
	// members' private network to keep the port off the others. Must be an
	// IP literal. Default empty.
	ClusterListenIP string `yaml:"cluster-listen-ip"`

	// ClusterHandshakeTimeout bounds the authentication handshake of a new
	// cluster connection (and the HTTP/2 preface after it); a connection
	// that has not proved itself by then is closed. Default 3s.
	ClusterHandshakeTimeout time.Duration `yaml:"cluster-handshake-timeout"`

	// MaxClockOffset is how far in the future (by this node's wall clock)
	// the physical time of a replicated record's version may lie. Newer
	// records are refused and counted, and never advance this node's
	// clock, so one bad record cannot push every later write of the
	// cluster into the future. NTP keeps servers within milliseconds of
	// each other; 30s tolerates a badly synchronised host while bounding
	// how long a future-dated write can outrank real ones. Default 30s.
	MaxClockOffset time.Duration `yaml:"max-clock-offset"`

	// StatusAccess says who may read /distrod/status: "open" (anyone),
	// "local" (loopback callers, or a bearer token equal to ClusterSecret)
	// or "token" (only the bearer token). Default "open".
	StatusAccess string `yaml:"status-access"`

	// DebugAccess says who may use /distrod/debug/* and /debug/pprof/*
	// (when mounted), with the values of StatusAccess. Default "local".
	DebugAccess string `yaml:"debug-access"`

	// FaultInjection mounts /distrod/debug/partition, which makes this node
	// drop all cluster traffic to and from chosen peers: for partition
	// tests and the heal benchmark. Never enable it in production.
	// Default false.
	FaultInjection bool `yaml:"fault-injection"`

	// Pprof mounts Go's profiler under /debug/pprof/ on the HTTP port.
	// Default false.
	Pprof bool `yaml:"pprof"`

	// ProbeInterval is how often each peer is probed. Default 500ms
	// (Nacos reports to one peer every 2s).
	ProbeInterval time.Duration `yaml:"probe-interval"`

	// ProbeTimeout bounds one probe. Default 1s.
	ProbeTimeout time.Duration `yaml:"probe-timeout"`

	// SuspectAfter is the number of consecutive failed probes after which a
	// peer becomes SUSPICIOUS. Default 1, as Nacos.
	SuspectAfter int `yaml:"suspect-after"`

	// DownAfter is the number of consecutive failed probes after which a
	// peer becomes DOWN; a refused connection makes it DOWN at once.
	// Must be >= SuspectAfter. Default 3 (Nacos: 4).
	DownAfter int `yaml:"down-after"`

	// ---- TLS (docs/security-tls.md) ----
	//
	// Each port serves TLS when its certificate file is set, and nothing
	// but TLS unless grpc-tls-compatibility says otherwise. Files are PEM,
	// relative to Home unless absolute, and are read again when they
	// change (a rotated certificate reaches the next new connection). Load
	// does not open them; server.New does, and refuses to start on a bad
	// file. Every setting defaults to empty (false): no TLS.

	// HTTPTLSCertFile is the certificate chain (leaf first) the HTTP port
	// serves HTTPS with; setting it turns plain HTTP off on that port.
	// Needs HTTPTLSKeyFile. Env SERVER_SSL_CERTIFICATE too (Spring Boot's
	// server.ssl.certificate).
	HTTPTLSCertFile string `yaml:"http-tls-cert-file"`

	// HTTPTLSKeyFile is the private key of HTTPTLSCertFile. Env
	// SERVER_SSL_CERTIFICATE_PRIVATE_KEY too.
	HTTPTLSKeyFile string `yaml:"http-tls-key-file"`

	// HTTPTLSClientCAFile, when set, makes the HTTP port require a client
	// certificate that chains to one of these CAs (mutual TLS); probes must
	// then present one too. Needs HTTPTLSCertFile.
	HTTPTLSClientCAFile string `yaml:"http-tls-client-ca-file"`

	// GRPCTLSCertFile is the certificate chain the SDK gRPC port serves
	// TLS with. Needs GRPCTLSKeyFile. Env
	// NACOS_REMOTE_SERVER_RPC_TLS_CERTCHAINFILE too (Nacos property
	// nacos.remote.server.rpc.tls.certChainFile).
	GRPCTLSCertFile string `yaml:"grpc-tls-cert-file"`

	// GRPCTLSKeyFile is the private key of GRPCTLSCertFile. Env
	// NACOS_REMOTE_SERVER_RPC_TLS_CERTPRIVATEKEY too.
	GRPCTLSKeyFile string `yaml:"grpc-tls-key-file"`

	// GRPCTLSClientCAFile, when set, makes the SDK gRPC port require a
	// client certificate that chains to one of these CAs (Nacos:
	// mutualAuthEnable with trustCollectionCertFile). Needs
	// GRPCTLSCertFile.
	GRPCTLSClientCAFile string `yaml:"grpc-tls-client-ca-file"`

	// GRPCTLSCompatibility lets the SDK gRPC port accept plaintext
	// connections besides TLS ones (told apart by their first byte), for
	// moving clients to TLS one by one. Needs GRPCTLSCertFile. Default
	// false (Nacos defaults to true). Env
	// NACOS_REMOTE_SERVER_RPC_TLS_COMPATIBILITY too.
	GRPCTLSCompatibility bool `yaml:"grpc-tls-compatibility"`

	// ClusterTLSCertFile is this member's certificate on the cluster port,
	// presented both as server and as client; it must name the host of the
	// member's address (an IP or DNS subject alternative name) and allow
	// server and client authentication. Setting it runs every cluster
	// connection in mutual TLS, with the secret handshake inside. Needs
	// ClusterTLSKeyFile, ClusterTLSCAFile and a cluster secret.
	ClusterTLSCertFile string `yaml:"cluster-tls-cert-file"`

	// ClusterTLSKeyFile is the private key of ClusterTLSCertFile.
	ClusterTLSKeyFile string `yaml:"cluster-tls-key-file"`

	// ClusterTLSCAFile is the cluster CA: a peer's certificate must chain
	// to it, in both directions.
	ClusterTLSCAFile string `yaml:"cluster-tls-ca-file"`

	// ---- Distro replication ----

	// SyncDelay is the merge window: changes to the same key within it are
	// sent to peers once. Default 5ms (Nacos 1s).
	SyncDelay time.Duration `yaml:"sync-delay"`

	// SyncRetryMin is the first retry delay of a failed sync; it doubles
	// on each further failure. Default 100ms (Nacos: a fixed 3s).
	SyncRetryMin time.Duration `yaml:"sync-retry-min"`

	// SyncRetryMax caps the sync retry back-off. Must be >= SyncRetryMin.
	// Default 5s.
	SyncRetryMax time.Duration `yaml:"sync-retry-max"`

	// VerifyInterval is the period of the digest-based anti-entropy round
	// with each peer. Default 1s (Nacos 5s).
	VerifyInterval time.Duration `yaml:"verify-interval"`

	// SnapshotLoadTimeout bounds how long a starting node waits for a peer
	// snapshot before it reports ready on its own, e.g. the first node of a
	// fresh cluster. Default 5s.
	SnapshotLoadTimeout time.Duration `yaml:"snapshot-load-timeout"`

	// SnapshotLoadMax bounds the whole snapshot load of a starting node:
	// after it the node reports ready even if a peer still streams its
	// snapshot (slowly, but never stalling for snapshot-load-timeout); the
	// stream goes on in the background. Must be >= SnapshotLoadTimeout.
	// Default 2m.
	SnapshotLoadMax time.Duration `yaml:"snapshot-load-max"`

	// TombstoneTTL is how long a delete is remembered so that a late or
	// replayed change cannot resurrect the record. Must cover at least
	// three verify rounds. Default 60s.
	TombstoneTTL time.Duration `yaml:"tombstone-ttl"`

	// OwnerGrace is how long the copies of a DOWN owner's connection
	// clients are kept, giving the clients time to reconnect elsewhere
	// before their instances are dropped. Default 10s (Nacos 180s).
	OwnerGrace time.Duration `yaml:"owner-grace"`

	// ---- Naming ----

	// BeatInterval is the heartbeat interval advertised to HTTP clients
	// (clientBeatInterval). Default 5s, as Nacos.
	BeatInterval time.Duration `yaml:"beat-interval"`

	// InstanceUnhealthyAfter marks an HTTP instance unhealthy when no beat
	// arrived for this long. Must be >= BeatInterval. Default 15s, as Nacos.
	InstanceUnhealthyAfter time.Duration `yaml:"instance-unhealthy-after"`

	// InstanceDeleteAfter removes an HTTP instance when no beat arrived for
	// this long. Must be >= InstanceUnhealthyAfter. Default 30s, as Nacos.
	InstanceDeleteAfter time.Duration `yaml:"instance-delete-after"`

	// ExpireCheckInterval is how often beat and expiry deadlines are
	// checked. Default 1s (Nacos 5s).
	ExpireCheckInterval time.Duration `yaml:"expire-check-interval"`

	// PushDelay merges service changes before pushing them to subscribers.
	// Default 5ms (Nacos 500ms).
	PushDelay time.Duration `yaml:"push-delay"`

	// PushTimeout is how long a push waits for the client's ack.
	// Default 5s, as Nacos.
	PushTimeout time.Duration `yaml:"push-timeout"`

	// PushRetryDelay is the wait before retrying a failed push.
	// Default 1s, as Nacos.
	PushRetryDelay time.Duration `yaml:"push-retry-delay"`

	// PushQueueSize bounds the pushes queued per client connection; a newer
	// push for the same service replaces a queued older one. Default 1024.
	PushQueueSize int `yaml:"push-queue-size"`

	// ---- Limits ----

	// MaxBodyBytes caps an HTTP request body, in bytes. Default 4 MiB.
	MaxBodyBytes int64 `yaml:"max-body-bytes"`

	// MaxHeaderBytes caps HTTP request headers, in bytes. Default 64 KiB.
	MaxHeaderBytes int `yaml:"max-header-bytes"`

	// ReadTimeout bounds reading one HTTP request, body included.
	// Default 30s.
	ReadTimeout time.Duration `yaml:"read-timeout"`

	// WriteTimeout bounds writing one HTTP response. Default 30s.
	WriteTimeout time.Duration `yaml:"write-timeout"`

	// IdleTimeout closes idle HTTP keep-alive connections. Default 90s.
	IdleTimeout time.Duration `yaml:"idle-timeout"`

	// MaxGRPCMessageBytes caps one gRPC message, in bytes, on both the SDK
	// and the cluster port. Default 10 MiB.
	MaxGRPCMessageBytes int `yaml:"max-grpc-message-bytes"`

	// MaxConnections caps concurrent SDK gRPC connections. Default 100000.
	MaxConnections int `yaml:"max-connections"`

	// MaxConnectionRequestRate caps the gRPC requests one SDK connection
	// may send per second; beyond it requests get ErrorResponse 503
	// (OVER_THRESHOLD), which the SDK retries. A real client sends a few
	// per second. 0 disables the limit. Default 5000.
	MaxConnectionRequestRate int `yaml:"max-connection-request-rate"`

	// ForwardTimeout bounds an HTTP write forwarded to the owning node: the
	// entry node answers 503 after it, and the owner refuses the write once
	// this long has passed since the entry node sent it (by the owner's
	// clock, so member clocks must agree to well within it). Default 3s.
	ForwardTimeout time.Duration `yaml:"forward-timeout"`

	// ---- Client authentication ----

	// AuthEnabled turns on Nacos's client authentication: every API then
	// needs a token from /v1/auth/users/login (or username and password, or
	// the server identity header), checked against users, roles and
	// permissions. Needs AuthTokenSecret. Default false (everything open).
	// Env NACOS_AUTH_ENABLE; Nacos property nacos.core.auth.enabled.
	AuthEnabled bool `yaml:"auth-enabled"`

	// AuthTokenSecret is the base64 of the key that signs access tokens; it
	// must decode to at least 32 bytes, and every node of a cluster needs
	// the same one. Default empty. Env NACOS_AUTH_TOKEN; Nacos property
	// nacos.core.auth.plugin.nacos.token.secret.key.
	AuthTokenSecret string `yaml:"auth-token-secret"`

	// AuthTokenTTL is how long an access token is valid. Default 5h
	// (18000s, as Nacos). Env NACOS_AUTH_TOKEN_EXPIRE_SECONDS, in seconds.
	AuthTokenTTL time.Duration `yaml:"auth-token-ttl"`

	// AuthIdentityKey and AuthIdentityValue name a request header and its
	// value that let trusted callers (other servers, tooling) through every
	// check. Both or neither. Default empty (no identity header).
	// Env NACOS_AUTH_IDENTITY_KEY and NACOS_AUTH_IDENTITY_VALUE.
	AuthIdentityKey   string `yaml:"auth-identity-key"`
	AuthIdentityValue string `yaml:"auth-identity-value"`

	// AuthUserFile is the JSON file holding users, roles and permissions,
	// relative to Home unless absolute. Each node keeps its own file.
	// Default "data/auth/users.json".
	AuthUserFile string `yaml:"auth-user-file"`

	// AuthAdminPassword, when set and no user holds ROLE_ADMIN yet, creates
	// the admin user "nacos" with this password at startup (the
	// non-interactive twin of POST /v1/auth/users/admin). Default empty.
	AuthAdminPassword string `yaml:"auth-admin-password"`
	// ---- Client limits (docs/security-limits.md) ----

	// MaxHTTPParams caps the parameters of one HTTP request, query and form
	// body together; more get 400. Default 1000.
	MaxHTTPParams int `yaml:"max-http-params"`

	// ReadHeaderTimeout bounds reading one HTTP request's headers.
	// Default 10s.
	ReadHeaderTimeout time.Duration `yaml:"read-header-timeout"`

	// MaxConnectionsPerIP caps the open connections from one client IP, on
	// the HTTP port and on the SDK gRPC port each; a connection beyond it
	// is closed at once. 0 means no limit. Default 1024.
	MaxConnectionsPerIP int `yaml:"max-connections-per-ip"`

	// MaxListAnswerBytes caps one encoded HTTP answer or gRPC query or
	// subscribe answer, in bytes; a larger one is refused with a server
	// error that says so. Default 8 MiB.
	MaxListAnswerBytes int `yaml:"max-list-answer-bytes"`

	// MaxNamespaceLength, MaxGroupLength and MaxServiceNameLength cap
	// names, in bytes. Defaults 64, 128 and 512, as Nacos.
	MaxNamespaceLength   int `yaml:"max-namespace-length"`
	MaxGroupLength       int `yaml:"max-group-length"`
	MaxServiceNameLength int `yaml:"max-service-name-length"`

	// MaxMetadataKeyBytes and MaxMetadataValueBytes cap one metadata entry;
	// MaxMetadataBytes caps the keys and values of one instance's or one
	// service's metadata together. Defaults 1 KiB, 16 KiB, 64 KiB.
	MaxMetadataKeyBytes   int `yaml:"max-metadata-key-bytes"`
	MaxMetadataValueBytes int `yaml:"max-metadata-value-bytes"`
	MaxMetadataBytes      int `yaml:"max-metadata-bytes"`

	// MaxInstancesPerService, MaxServicesPerNamespace and MaxNamespaces
	// are count quotas on writes made through this node. 0 means no limit.
	// Defaults 10000, 100000 and 1000.
	MaxInstancesPerService  int `yaml:"max-instances-per-service"`
	MaxServicesPerNamespace int `yaml:"max-services-per-namespace"`
	MaxNamespaces           int `yaml:"max-namespaces"`

	// UDPPushTrustedNets lists networks (CIDRs, e.g. 10.0.0.0/8) whose
	// requests may name a clientIP other than their own address as the
	// v1 UDP push target (a proxy in front of v1 clients). Other requests
	// are pushed to their own address only. Default empty.
	UDPPushTrustedNets []string `yaml:"udp-push-trusted-nets"`

	// UDPPushRate caps the UDP datagrams sent to one target address per
	// second; pushes beyond it are dropped (v1 clients also poll). 0 means
	// no limit. Default 20.
	UDPPushRate int `yaml:"udp-push-rate"`

	// GRPCSetupTimeout closes an SDK gRPC connection that has not sent
	// ConnectionSetupRequest within it. Default 10s.
	GRPCSetupTimeout time.Duration `yaml:"grpc-setup-timeout"`

	// GRPCMaxStreams caps the concurrent streams (calls) of one SDK gRPC
	// connection. Default 128.
	GRPCMaxStreams int `yaml:"grpc-max-streams"`

	// PushMaxBytesPerConnection caps the push bytes queued for one SDK
	// connection; a connection that does not read its pushes past it is
	// closed as a slow consumer. Default 16 MiB.
	PushMaxBytesPerConnection int64 `yaml:"push-max-bytes-per-connection"`

	// PushMaxBytes caps the push bytes queued for all SDK connections
	// together; pushes beyond it wait and are retried. Default 256 MiB.
	PushMaxBytes int64 `yaml:"push-max-bytes"`

	// ---- Memory ----

	// MemoryLimitPercent sets Go's soft memory limit to this percentage
	// of the process's cgroup memory limit when GOMEMLIMIT is not set and
	// such a limit exists (containers): the collector then works harder
	// near the limit instead of the process being killed at it. 0 leaves
	// the runtime's default (no limit). GOMEMLIMIT and GOGC, when set, are
	// honoured as Go honours them. Default 90.
	MemoryLimitPercent int `yaml:"memory-limit-percent"`

	// MemoryReleaseInterval is how often the node checks whether it holds
	// much more heap than it uses while quiet (after a burst of writes or
	// a snapshot load) and then returns the free memory to the OS at once.
	// 0 turns the check off (the Go runtime returns it gradually, as far as
	// its collector's goal allows). Default 10s.
	MemoryReleaseInterval time.Duration `yaml:"memory-release-interval"`

	// ---- Logging ----

	// LogLevel is "debug", "info", "warn" or "error". Default "info".
	LogLevel string `yaml:"log-level"`

	// LogFormat is "text" or "json". Default "text".
	LogFormat string `yaml:"log-format"`
}

// DefaultConfig returns a standalone single-node configuration that needs
// nothing external: it listens on 8848/9848/9849 and advertises the first
// non-loopback IPv4 address (or 127.0.0.1). This is the one place defaults
// are set.
func DefaultConfig() Config {
	return Config{
		Mode:              ModeStandalone,
		IP:                detectIP(),
		Port:              8848,
		ContextPath:       "/nacos",
		GRPCPortOffset:    1000,
		ClusterPortOffset: 1001,
		Home:              ".",
		DataDir:           "data",
		RaftPortOffset:    -1000,

		RaftHeartbeatTimeout: time.Second,
		CPWriteTimeout:       3 * time.Second,

		PersistentCheckInterval: 5 * time.Second,
		EmptyServiceCleanAfter:  time.Minute,

		ExpiredMetadataCleanAfter: time.Minute,
		PreferHostMode:            HostModeIP,

		MemberFile:       "conf/cluster.conf",
		MemberFileReload: 2 * time.Second,
		MemberDNSRefresh: 5 * time.Second,
		ProbeInterval:    500 * time.Millisecond,
		ProbeTimeout:     time.Second,
		SuspectAfter:     1,
		DownAfter:        3,

		ClusterHandshakeTimeout: 3 * time.Second,
		MaxClockOffset:          30 * time.Second,
		StatusAccess:            AccessOpen,
		DebugAccess:             AccessLocal,

		SyncDelay:           5 * time.Millisecond,
		SyncRetryMin:        100 * time.Millisecond,
		SyncRetryMax:        5 * time.Second,
		VerifyInterval:      time.Second,
		SnapshotLoadTimeout: 5 * time.Second,
		SnapshotLoadMax:     2 * time.Minute,
		TombstoneTTL:        60 * time.Second,
		OwnerGrace:          10 * time.Second,

		BeatInterval:           5 * time.Second,
		InstanceUnhealthyAfter: 15 * time.Second,
		InstanceDeleteAfter:    30 * time.Second,
		ExpireCheckInterval:    time.Second,
		PushDelay:              5 * time.Millisecond,
		PushTimeout:            5 * time.Second,
		PushRetryDelay:         time.Second,
		PushQueueSize:          1024,

		MaxBodyBytes:             4 << 20,
		MaxHeaderBytes:           64 << 10,
		ReadTimeout:              30 * time.Second,
		WriteTimeout:             30 * time.Second,
		IdleTimeout:              90 * time.Second,
		MaxGRPCMessageBytes:      10 << 20,
		MaxConnections:           100000,
		MaxConnectionRequestRate: 5000,
		ForwardTimeout:           3 * time.Second,

		AuthTokenTTL:              18000 * time.Second,
		AuthUserFile:              "data/auth/users.json",
		MaxHTTPParams:             1000,
		ReadHeaderTimeout:         10 * time.Second,
		MaxConnectionsPerIP:       1024,
		MaxListAnswerBytes:        8 << 20,
		MaxNamespaceLength:        64,
		MaxGroupLength:            128,
		MaxServiceNameLength:      512,
		MaxMetadataKeyBytes:       1 << 10,
		MaxMetadataValueBytes:     16 << 10,
		MaxMetadataBytes:          64 << 10,
		MaxInstancesPerService:    10000,
		MaxServicesPerNamespace:   100000,
		MaxNamespaces:             1000,
		UDPPushRate:               20,
		GRPCSetupTimeout:          10 * time.Second,
		GRPCMaxStreams:            128,
		PushMaxBytesPerConnection: 16 << 20,
		PushMaxBytes:              256 << 20,

		MemoryLimitPercent:    90,
		MemoryReleaseInterval: 10 * time.Second,

		LogLevel:  "info",
		LogFormat: LogFormatText,
	}
}

// DefaultLocalConfig is DefaultConfig advertising 127.0.0.1, so that it
// does not depend on the host's interfaces: for tests and local clusters.
func DefaultLocalConfig() Config {
	c := DefaultConfig()
	c.IP = "127.0.0.1"
	return c
}

// detectIP picks the default advertised address. A variable so tests can
// make DefaultConfig independent of the host.
var detectIP = firstNonLoopbackIPv4

// firstNonLoopbackIPv4 returns the first non-loopback, non-link-local IPv4
// address of an up interface, in interface index order, or 127.0.0.1.
func firstNonLoopbackIPv4() string {
	ifaces, err := net.Interfaces()
	if err != nil {
		return "127.0.0.1"
	}
	sort.Slice(ifaces, func(i, j int) bool { return ifaces[i].Index < ifaces[j].Index })
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip4 := ipn.IP.To4()
			if ip4 == nil || ip4.IsLoopback() || ip4.IsLinkLocalUnicast() {
				continue
			}
			return ip4.String()
		}
	}
	return "127.0.0.1"
}

// SelfAddr returns this node's member address, "ip:port" (IPv6 in
// brackets).
func (c Config) SelfAddr() string {
	return net.JoinHostPort(c.IP, strconv.Itoa(c.Port))
}

// GRPCPort returns the SDK gRPC port, Port + GRPCPortOffset.
func (c Config) GRPCPort() int { return c.Port + c.GRPCPortOffset }

// ClusterPort returns the cluster gRPC port, Port + ClusterPortOffset.
func (c Config) ClusterPort() int { return c.Port + c.ClusterPortOffset }

// RaftPort returns the control plane's Raft port, Port + RaftPortOffset.
func (c Config) RaftPort() int { return c.Port + c.RaftPortOffset }

// DataPath returns DataDir resolved against Home.
func (c Config) DataPath() string { return c.HomePath(c.DataDir) }

// MemberFilePath returns MemberFile resolved against Home.
func (c Config) MemberFilePath() string {
	if filepath.IsAbs(c.MemberFile) {
		return c.MemberFile
	}
	return filepath.Join(c.Home, c.MemberFile)
}

// HomePath resolves a configured file path against Home; an empty or
// absolute path is returned unchanged.
func (c Config) HomePath(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.Home, p)
}

// AuthUserFilePath returns AuthUserFile resolved against Home.
func (c Config) AuthUserFilePath() string {
	if filepath.IsAbs(c.AuthUserFile) {
		return c.AuthUserFile
	}
	return filepath.Join(c.Home, c.AuthUserFile)
}

// Lookup returns the effective member lookup: MemberLookup if set, else
// static when Members is non-empty, dns when MemberDNS is set, file
// otherwise. Standalone mode is always static (just this node).
func (c Config) Lookup() string {
	switch {
	case c.Mode == ModeStandalone:
		return LookupStatic
	case c.MemberLookup != "":
		return c.MemberLookup
	case len(c.Members) > 0:
		return LookupStatic
	case c.MemberDNS != "":
		return LookupDNS
	default:
		return LookupFile
	}
}

// SlogLevel returns LogLevel as a slog.Level (info if unrecognised;
// Validate rejects unrecognised levels).
func (c Config) SlogLevel() slog.Level {
	switch strings.ToLower(c.LogLevel) {
	case "debug":
		return slog.LevelDebug
	case "warn", "warning":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

// Redacted returns a copy safe to log: ClusterSecret and the auth secrets
// are masked.
func (c Config) Redacted() Config {
	for _, p := range []*string{&c.ClusterSecret, &c.AuthTokenSecret, &c.AuthIdentityValue, &c.AuthAdminPassword} {
		if *p != "" {
			*p = "****"
		}
	}
	c.Members = append([]string(nil), c.Members...)
	return c
}

// Normalize canonicalises the member list in place: every entry becomes
// "host:port" (missing port = Port, IPs in canonical form, host names lower
// case), duplicates are removed, the list is sorted, and in cluster mode
// this node is added when missing (as Nacos does) unless the list is empty.
// In standalone mode an empty list becomes just this node. MemberLookup is
// set to the effective lookup and Mode is lower-cased. Load calls it; call
// it yourself before Validate when building a Config in code. It fails
// only on unparseable member addresses.
func (c *Config) Normalize() error {
	c.Mode = Mode(strings.ToLower(strings.TrimSpace(string(c.Mode))))
	members, err := memberaddr.NormalizeMembers(c.Members, c.Port)
	if err != nil {
		return err
	}
	self := c.SelfAddr()
	if s, err := memberaddr.NormalizeMember(self, c.Port); err == nil {
		self = s
	}
	switch {
	case c.Mode == ModeStandalone && len(members) == 0:
		members = []string{self}
	case c.Mode == ModeCluster && len(members) > 0 && !contains(members, self):
		members = append(members, self)
		sort.Strings(members)
	}
	c.Members = members
	c.MemberLookup = c.Lookup()
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
