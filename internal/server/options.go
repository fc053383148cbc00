package server

import (
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/distrod/distrod/internal/api/nacosgrpc"
	"github.com/distrod/distrod/internal/api/nacoshttp"
	"github.com/distrod/distrod/internal/auth"
	"github.com/distrod/distrod/internal/config"
	"github.com/distrod/distrod/internal/distro"
	"github.com/distrod/distrod/internal/membership"
	"github.com/distrod/distrod/internal/naming"
	"github.com/distrod/distrod/internal/push"
	"github.com/distrod/distrod/internal/replica"
	"github.com/distrod/distrod/internal/transport"
)

// options is every component's configuration, derived from one
// config.Config by optionsFor. It is the only place Config fields are
// mapped onto component options: the components' own defaults apply to
// library use and tests, never to a server (config.DefaultConfig is the one
// place a server's defaults are set). Runtime dependencies (store, logger,
// registry, callbacks, TLS sources) are filled in by New; options holds
// only settings. The few settings the server reads itself (access rules,
// debug endpoints, TLS files, logging, the admin seed) are listed in
// options_test.go with where they are read.
type options struct {
	// Listen addresses: HTTP and gRPC on every interface, the cluster port
	// on ClusterListenIP.
	httpAddr, grpcAddr, clusterAddr string

	// store
	limits                          naming.Limits
	unhealthyAfterMs, deleteAfterMs int64
	expireEvery                     time.Duration
	shell                           replica.ShellConfig
	transport                       transport.Options
	forwardTimeout, maxClockOffset  time.Duration
	memberSource                    membership.Source
	memberPoll                      time.Duration
	probeTimeout                    time.Duration
	push                            push.Options
	grpc                            nacosgrpc.Options
	http                            nacoshttp.Options
	httpServer                      httpServerOptions
	auth                            auth.Options
}

// httpServerOptions are the http.Server settings of the client port.
type httpServerOptions struct {
	ReadTimeout, ReadHeaderTimeout, WriteTimeout, IdleTimeout time.Duration
	MaxHeaderBytes                                            int
}

// Cluster batch sizes above the core's conservative defaults: records are
// compact binary and a join needs fewer round trips with larger chunks.
const (
	clusterBatchMaxRecords = 4096
	clusterBatchMaxBytes   = 4 << 20
)

// optionsFor maps cfg onto every component's options. cfg must be valid.
func optionsFor(cfg config.Config) (options, error) {
	trusted, err := cfg.UDPPushTrustedPrefixes()
	if err != nil {
		return options{}, fmt.Errorf("server: %w", err)
	}
	self := cfg.SelfAddr()
	o := options{
		httpAddr:    net.JoinHostPort("", strconv.Itoa(cfg.Port)),
		grpcAddr:    net.JoinHostPort("", strconv.Itoa(cfg.GRPCPort())),
		clusterAddr: net.JoinHostPort(cfg.ClusterListenIP, strconv.Itoa(cfg.ClusterPort())),

		limits:           storeLimits(cfg),
		unhealthyAfterMs: cfg.InstanceUnhealthyAfter.Milliseconds(),
		deleteAfterMs:    cfg.InstanceDeleteAfter.Milliseconds(),
		expireEvery:      cfg.ExpireCheckInterval,

		shell: replica.ShellConfig{
			Distro: distroConfig(cfg),
			Membership: membership.TableConfig{
				Self:          self,
				ProbeInterval: cfg.ProbeInterval,
				SuspectAfter:  cfg.SuspectAfter,
				DownAfter:     cfg.DownAfter,
			},
			ExpireEvery:    cfg.ExpireCheckInterval,
			MaxClockOffset: cfg.MaxClockOffset,
			// Without a secret the transport cannot tell who sent a message.
			UntrustedMessages: cfg.ClusterSecret == "",
		},
		transport: transport.Options{
			Self:             self,
			PortOffset:       cfg.ClusterPortOffset,
			Secret:           cfg.ClusterSecret,
			HandshakeTimeout: cfg.ClusterHandshakeTimeout,
			MaxMessageBytes:  cfg.MaxGRPCMessageBytes,
		},
		forwardTimeout: cfg.ForwardTimeout,
		probeTimeout:   cfg.ProbeTimeout,
		maxClockOffset: cfg.MaxClockOffset,

		push: push.Options{
			Delay:      cfg.PushDelay,
			Timeout:    cfg.PushTimeout,
			RetryDelay: cfg.PushRetryDelay,
			QueueSize:  cfg.PushQueueSize,
			UDPRate:    cfg.UDPPushRate,
		},
		grpc: nacosgrpc.Options{
			MaxConnections:      cfg.MaxConnections,
			MaxMessageBytes:     cfg.MaxGRPCMessageBytes,
			MaxRequestRate:      cfg.MaxConnectionRequestRate,
			Self:                self,
			SetupTimeout:        cfg.GRPCSetupTimeout,
			MaxStreams:          cfg.GRPCMaxStreams,
			MaxConnectionsPerIP: cfg.MaxConnectionsPerIP,
			MaxPushBytesPerConn: cfg.PushMaxBytesPerConnection,
			MaxPushBytes:        cfg.PushMaxBytes,
			MaxAnswerBytes:      cfg.MaxListAnswerBytes,
			TLSCompatibility:    cfg.GRPCTLSCompatibility,
		},
		http: nacoshttp.Options{
			ContextPath:    cfg.ContextPath,
			BeatIntervalMs: cfg.BeatInterval.Milliseconds(),
			MaxBodyBytes:   cfg.MaxBodyBytes,
			MaxParams:      cfg.MaxHTTPParams,
			MaxAnswerBytes: cfg.MaxListAnswerBytes,
			UDPTrustedNets: trusted,
		},
		httpServer: httpServerOptions{
			ReadTimeout:       cfg.ReadTimeout,
			ReadHeaderTimeout: min(cfg.ReadHeaderTimeout, cfg.ReadTimeout),
			WriteTimeout:      cfg.WriteTimeout,
			IdleTimeout:       cfg.IdleTimeout,
			MaxHeaderBytes:    cfg.MaxHeaderBytes,
		},
		auth: auth.Options{
			Enabled:       cfg.AuthEnabled,
			Secret:        cfg.AuthTokenSecret,
			TokenTTL:      cfg.AuthTokenTTL,
			IdentityKey:   cfg.AuthIdentityKey,
			IdentityValue: cfg.AuthIdentityValue,
			UserFile:      cfg.AuthUserFilePath(),
		},
	}
	o.memberSource, o.memberPoll = memberSource(cfg)
	return o, nil
}

// memberSource returns the member Source cfg asks for and the interval to
// poll it at: this node alone in standalone mode, cfg.Members for static
// lookup, the member file for file lookup and cfg.MemberDNS for dns lookup.
func memberSource(c config.Config) (membership.Source, time.Duration) {
	switch c.Lookup() {
	case config.LookupFile:
		return membership.NewFileSource(c.MemberFilePath(), c.Port, nil), c.MemberFileReload
	case config.LookupDNS:
		return membership.DNSSource{Host: c.MemberDNS, Port: c.Port, Resolver: membership.NewDNSResolver(c.MemberDNSServer)}, c.MemberDNSRefresh
	}
	if c.Mode == config.ModeStandalone {
		return membership.StaticSource{Addrs: []string{c.SelfAddr()}, DefaultPort: c.Port}, c.MemberFileReload
	}
	return membership.StaticSource{Addrs: c.Members, DefaultPort: c.Port}, c.MemberFileReload
}

// distroConfig maps the replication settings onto the core's Config. A
// batch or snapshot chunk must fit in one cluster message
// (MaxGRPCMessageBytes), with room for the envelope and per-record fields.
func distroConfig(cfg config.Config) distro.Config {
	d := distro.DefaultConfig(cfg.SelfAddr())
	d.SyncDelay = cfg.SyncDelay
	d.RetryBackoffBase = cfg.SyncRetryMin
	d.RetryBackoffMax = cfg.SyncRetryMax
	d.VerifyInterval = cfg.VerifyInterval
	d.LoadTimeout = cfg.SnapshotLoadTimeout
	d.LoadMax = cfg.SnapshotLoadMax
	d.TombstoneTTL = cfg.TombstoneTTL
	d.OwnerGrace = cfg.OwnerGrace
	d.SyncBatchMaxRecords = clusterBatchMaxRecords
	d.SyncBatchMaxBytes = max(1, min(clusterBatchMaxBytes, cfg.MaxGRPCMessageBytes/2))
	return d
}

// storeLimits maps the client limit settings to the naming store's.
func storeLimits(cfg config.Config) naming.Limits {
	return naming.Limits{
		MaxNamespaceLen:         cfg.MaxNamespaceLength,
		MaxGroupLen:             cfg.MaxGroupLength,
		MaxServiceNameLen:       cfg.MaxServiceNameLength,
		MaxMetadataKeyLen:       cfg.MaxMetadataKeyBytes,
		MaxMetadataValueLen:     cfg.MaxMetadataValueBytes,
		MaxMetadataBytes:        cfg.MaxMetadataBytes,
		MaxInstancesPerService:  cfg.MaxInstancesPerService,
		MaxServicesPerNamespace: cfg.MaxServicesPerNamespace,
		MaxNamespaces:           cfg.MaxNamespaces,
	}
}
