package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/distrod/distrod/internal/api/console"
	"github.com/distrod/distrod/internal/api/nacosgrpc"
	"github.com/distrod/distrod/internal/api/nacoshttp"
	"github.com/distrod/distrod/internal/config"
	"github.com/distrod/distrod/internal/connlimit"
	"github.com/distrod/distrod/internal/hlc"
	"github.com/distrod/distrod/internal/naming"
	"github.com/distrod/distrod/internal/push"
)

// Server is one distrod node.
type Server struct {
	cfg     config.Config
	log     *slog.Logger
	reg     *prometheus.Registry
	store   *naming.Store
	cluster *cluster // nil in standalone mode
	http    *http.Server
	push    *push.Engine
	grpc    *nacosgrpc.Server
	loader  *loader
	admin   atomic.Pointer[func(*http.Request) bool] // see AllowAdmin
	tls     tlsSources
	// httpRefused counts HTTP connections closed over the per-IP limit.
	httpRefused prometheus.Counter
}

// New builds a node from a validated configuration. It opens no sockets;
// Run does.
func New(cfg config.Config, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: log, reg: prometheus.NewRegistry()}
	s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.httpRefused = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "distrod_http_connections_refused_total", Help: "HTTP connections closed on accept over max-connections-per-ip.",
	})
	s.reg.MustRegister(s.httpRefused)
	s.store = naming.NewStore(cfg.SelfAddr(), hlc.NewClock(cfg.SelfAddr()))
	s.store.SetExpiry(cfg.InstanceUnhealthyAfter.Milliseconds(), cfg.InstanceDeleteAfter.Milliseconds())
	s.store.SetLimits(storeLimits(cfg))
	s.reg.MustRegister(newStoreCollector(s.store))
	// Push listens to every store change, local or replicated, so a change
	// made on any node reaches this node's subscribers.
	s.push = push.New(push.Options{
		Store:      s.store,
		Delay:      cfg.PushDelay,
		Timeout:    cfg.PushTimeout,
		RetryDelay: cfg.PushRetryDelay,
		QueueSize:  cfg.PushQueueSize,
		UDPRate:    cfg.UDPPushRate,
		Logger:     log.With("component", "push"),
		Registry:   s.reg,
	})
	s.store.OnChange(s.push.OnChange)
	s.reg.MustRegister(newNacosMonitorCollector(s.store, s.push))
	guard, err := newGuard(cfg, log)
	if err != nil {
		return nil, err
	}
	if s.tls, err = loadTLS(cfg, log); err != nil {
		return nil, err
	}
	grpcSrv, err := nacosgrpc.NewServer(nacosgrpc.Options{
		Store:           s.store,
		Push:            s.push,
		Logger:          log.With("component", "grpc"),
		Registry:        s.reg,
		MaxConnections:  cfg.MaxConnections,
		MaxMessageBytes: cfg.MaxGRPCMessageBytes,
		MaxRequestRate:  cfg.MaxConnectionRequestRate,
		Self:            cfg.SelfAddr(),
		Ready:           s.ready,
		Auth:            guard,

		SetupTimeout:        cfg.GRPCSetupTimeout,
		MaxStreams:          cfg.GRPCMaxStreams,
		MaxConnectionsPerIP: cfg.MaxConnectionsPerIP,
		MaxPushBytesPerConn: cfg.PushMaxBytesPerConnection,
		MaxPushBytes:        cfg.PushMaxBytes,
		MaxAnswerBytes:      cfg.MaxListAnswerBytes,

		TLS:              s.tls.grpcConfig(),
		TLSCompatibility: cfg.GRPCTLSCompatibility,
	})
	if err != nil {
		return nil, fmt.Errorf("server: grpc api: %w", err)
	}
	s.grpc = grpcSrv
	s.loader = &loader{s: s}

	trusted, err := cfg.UDPPushTrustedPrefixes()
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	var router nacoshttp.Router
	var fwd nacoshttp.Forwarder
	var fw *forwarder
	if cfg.Mode == config.ModeCluster {
		fw = newForwarder(cfg.SelfAddr(), cfg.ForwardTimeout, s.store, log, s.reg)
		c, err := newCluster(cfg, log, s.store, fw.serve)
		if err != nil {
			return nil, err
		}
		c.liveConn = grpcSrv.HasConnection
		s.cluster = c
		fw.tr = c.tr
		fw.maxClockOffset, fw.future = cfg.MaxClockOffset, &c.futureRefused
		router, fwd = c, fw
		s.reg.MustRegister(newClusterCollector(c))
		s.reg.MustRegister(newSnapshotCollector(c))
	}

	api, err := nacoshttp.New(nacoshttp.Options{
		Store:          s.store,
		Router:         router,
		UDP:            s.push,
		Registry:       s.reg,
		Logger:         log.With("component", "http"),
		ContextPath:    cfg.ContextPath,
		BeatIntervalMs: cfg.BeatInterval.Milliseconds(),
		MaxBodyBytes:   cfg.MaxBodyBytes,
		Forwarder:      fwd,
		Ready:          s.ready,
		Auth:           guard,
		MaxParams:      cfg.MaxHTTPParams,
		MaxAnswerBytes: cfg.MaxListAnswerBytes,
		UDPTrustedNets: trusted,
		Loader:         s.loader,
		Introspect:     introspector{s},
		SetLogLevel:    setLogLevel,
		LocalPort:      func() int { return cfg.Port },
		Extra:          s.coreHandlers(),
	})
	if err != nil {
		return nil, fmt.Errorf("server: http api: %w", err)
	}
	if fw != nil {
		fw.api = api
	}
	mux := http.NewServeMux()
	metrics := promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg})
	mux.Handle("/metrics", metrics)
	mux.Handle(cfg.ContextPath+"/actuator/prometheus", metrics)
	// The console and SDKs read the server state before they log in.
	mux.Handle(cfg.ContextPath+"/v1/console/server/state", methodOnly(http.MethodGet, s.handleServerState))
	mux.Handle("/distrod/status", s.restrict(cfg.StatusAccess, "status-access", http.HandlerFunc(s.handleStatus)))
	// Debug endpoints: debug-access decides who may reach them, and when
	// client auth is on they also need ROLE_ADMIN.
	s.mountDebug(mux, func(f http.HandlerFunc) http.Handler { return nacoshttp.RequireAdmin(guard, f) })
	var peers func(context.Context) []string
	if s.cluster != nil {
		peers = s.peers
	}
	cons, err := console.New(console.Options{
		Peers:       peers,
		Store:       s.store,
		Subscribers: s.push.Subscribers,
		Cluster:     s.clusterReports,
		PeerGet:     s.peerGet,
		ContextPath: cfg.ContextPath,
		Self:        cfg.SelfAddr(),
		AuthEnabled: guard != nil && guard.Enabled(),
		Protect:     func(h http.Handler) http.Handler { return nacoshttp.RequireAdmin(guard, h) },
		Logger:      log.With("component", "console"),
	})
	if err != nil {
		return nil, fmt.Errorf("server: console: %w", err)
	}
	cons.Mount(mux)
	mux.Handle("/", api)
	s.http = &http.Server{
		Handler:           mux,
		ReadTimeout:       cfg.ReadTimeout,
		ReadHeaderTimeout: min(cfg.ReadHeaderTimeout, cfg.ReadTimeout),
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		ErrorLog:          httpErrorLog(log),
		TLSConfig:         s.tls.httpConfig(),
	}
	return s, nil
}

// Store returns the node's naming store (for tests and embedding).
func (s *Server) Store() *naming.Store { return s.store }

// ready reports whether the node serves reads and takes SDK connections:
// a standalone node at once, a cluster node once its snapshot load ended.
func (s *Server) ready() bool { return s.cluster == nil || s.cluster.Ready() }

// Run opens the listeners, serves until ctx ends, then shuts down
// gracefully.
func (s *Server) Run(ctx context.Context) error {
	httpLis, err := net.Listen("tcp", net.JoinHostPort("", strconv.Itoa(s.cfg.Port)))
	if err != nil {
		return fmt.Errorf("server: http listener: %w", err)
	}
	grpcLis, err := net.Listen("tcp", net.JoinHostPort("", strconv.Itoa(s.cfg.GRPCPort())))
	if err != nil {
		_ = httpLis.Close()
		return fmt.Errorf("server: grpc listener: %w", err)
	}
	var clusterLis net.Listener
	if s.cluster != nil {
		clusterLis, err = net.Listen("tcp", net.JoinHostPort(s.cfg.ClusterListenIP, strconv.Itoa(s.cfg.ClusterPort())))
		if err != nil {
			_ = httpLis.Close()
			_ = grpcLis.Close()
			return fmt.Errorf("server: cluster listener: %w", err)
		}
	}
	httpLis = connlimit.New(httpLis, s.cfg.MaxConnectionsPerIP, func(ip netip.Addr) {
		s.httpRefused.Inc()
		s.log.Debug("http connection refused: per-IP limit", "ip", ip, "max", s.cfg.MaxConnectionsPerIP)
	})
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := s.push.Start(ctx); err != nil {
		_ = httpLis.Close()
		_ = grpcLis.Close()
		if clusterLis != nil {
			_ = clusterLis.Close()
		}
		return fmt.Errorf("server: push: %w", err)
	}
	defer s.push.Stop()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); s.securityWarnings(ctx) }()
	errc := make(chan error, 4)
	if s.cluster != nil {
		wg.Add(2)
		go func() { defer wg.Done(); s.cluster.run(ctx) }()
		go func() {
			defer wg.Done()
			if err := s.cluster.serve(clusterLis); err != nil {
				errc <- err
			}
		}()
	}
	if s.cluster == nil {
		// In cluster mode the shell runs expiry, once ready.
		wg.Add(1)
		go func() { defer wg.Done(); s.expireLoop(ctx) }()
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := s.grpc.Serve(grpcLis); err != nil {
			errc <- fmt.Errorf("server: grpc: %w", err)
		}
	}()
	go func() {
		defer wg.Done()
		serve := s.http.Serve
		if s.http.TLSConfig != nil {
			// The certificate comes from TLSConfig, re-read as its files change.
			serve = func(l net.Listener) error { return s.http.ServeTLS(l, "", "") }
		}
		if err := serve(httpLis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("server: http: %w", err)
		}
	}()
	s.log.Info("distrod listening", "mode", s.cfg.Mode, "http", httpLis.Addr().String(),
		"context_path", s.cfg.ContextPath, "grpc", grpcLis.Addr().String(), "cluster", listenAddr(clusterLis),
		"members", s.cfg.Members, "cluster_auth", s.clusterAuth(),
		"http_tls", describeTLS(s.tls.http, false), "grpc_tls", describeTLS(s.tls.grpc, s.cfg.GRPCTLSCompatibility))

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	s.log.Info("shutting down")
	shutCtx, done := context.WithTimeout(context.Background(), 10*time.Second)
	defer done()
	_ = s.http.Shutdown(shutCtx)
	// Closing the gRPC connections removes their clients' instances as
	// owner deletes, which the cluster loop still replicates before it stops.
	s.grpc.GracefulStop()
	if s.cluster != nil {
		s.cluster.flushFor(2 * time.Second)
	}
	cancel()
	wg.Wait()
	return runErr
}

// expireLoop runs heartbeat expiry in standalone mode, where this node owns
// every IP-port client.
func (s *Server) expireLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.ExpireCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s.store.ExpireCheck(now.UnixMilli(), func(string) bool { return true })
		}
	}
}

func listenAddr(l net.Listener) string {
	if l == nil {
		return "none (standalone)"
	}
	return l.Addr().String()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
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
