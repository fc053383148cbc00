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
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/distrod/distrod/internal/api/console"
	"github.com/distrod/distrod/internal/api/nacosgrpc"
	"github.com/distrod/distrod/internal/api/nacoshttp"
	"github.com/distrod/distrod/internal/api/nacoswire"
	"github.com/distrod/distrod/internal/config"
	"github.com/distrod/distrod/internal/connlimit"
	"github.com/distrod/distrod/internal/cp"
	"github.com/distrod/distrod/internal/hlc"
	"github.com/distrod/distrod/internal/naming"
	"github.com/distrod/distrod/internal/push"
)

// Server is one distrod node.
type Server struct {
	cfg     config.Config
	opts    options
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
	ctl     *control // the durable control plane (control.go)
	// httpRefused counts HTTP connections closed over the per-IP limit.
	httpRefused prometheus.Counter
	// probes counts this node's persistent-instance health checks.
	probes probeCounts
}

// New builds a node from a validated configuration. It opens no sockets;
// Run does.
func New(cfg config.Config, log *slog.Logger) (*Server, error) {
	return newServer(cfg, log, grpcLink)
}

// newServer is New with the cluster transport built by link (tests pass
// an in-memory network).
func newServer(cfg config.Config, log *slog.Logger, link linkFactory) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	opts, err := optionsFor(cfg)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, opts: opts, log: log, reg: prometheus.NewRegistry()}
	s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.httpRefused = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "distrod_http_connections_refused_total", Help: "HTTP connections closed on accept over max-connections-per-ip.",
	})
	s.reg.MustRegister(s.httpRefused)
	s.store = naming.NewStore(cfg.SelfAddr(), hlc.NewClock(cfg.SelfAddr()))
	s.store.SetExpiry(opts.unhealthyAfterMs, opts.deleteAfterMs)
	s.store.SetLimits(opts.limits)
	s.reg.MustRegister(newStoreCollector(s.store))
	watchExpiry(s.store, s.reg)
	// Push listens to every store change, local or replicated, so a change
	// made on any node reaches this node's subscribers.
	// One wire builder, with this node's one set of Stamps, builds and
	// stamps both the pushes and the gRPC answers, so a client never sees
	// them out of order.
	wire := nacoswire.NewBuilder(s.store, opts.push.Now, new(nacoswire.Stamps))
	pushOpts := opts.push
	pushOpts.Store, pushOpts.Logger, pushOpts.Registry, pushOpts.Wire = s.store, log.With("component", "push"), s.reg, wire
	s.push = push.New(pushOpts)
	s.store.OnChange(s.push.OnChange)
	s.ctl = s.newControl()
	s.reg.MustRegister(newCPCollector(s.ctl))
	s.reg.MustRegister(newNacosMonitorCollector(s.store, s.push, &s.probes))
	guard, err := newGuard(cfg, opts.auth, log)
	if err != nil {
		return nil, err
	}
	if s.tls, err = loadTLS(cfg, log); err != nil {
		return nil, err
	}
	grpcOpts := opts.grpc
	grpcOpts.Store, grpcOpts.Push, grpcOpts.Wire, grpcOpts.Registry = s.store, s.push, wire, s.reg
	grpcOpts.Persistent = s.ctl
	grpcOpts.Logger = log.With("component", "grpc")
	grpcOpts.Ready, grpcOpts.Auth, grpcOpts.TLS = s.ready, guard, s.tls.grpcConfig()
	grpcSrv, err := nacosgrpc.NewServer(grpcOpts)
	if err != nil {
		return nil, fmt.Errorf("server: grpc api: %w", err)
	}
	s.grpc = grpcSrv
	s.loader = &loader{s: s}

	var router nacoshttp.Router
	var fwd nacoshttp.Forwarder
	var fw *forwarder
	if cfg.Mode == config.ModeCluster {
		fw = newForwarder(cfg.SelfAddr(), opts.forwardTimeout, s.store, log, s.reg)
		c, caller, err := newCluster(cfg, opts, log, s.store, link, fw.serve)
		if err != nil {
			return nil, err
		}
		c.liveConn = grpcSrv.HasConnection
		s.cluster = c
		fw.tr = caller
		fw.maxClockOffset, fw.future = opts.maxClockOffset, &c.futureRefused
		router, fwd = c, fw
		s.reg.MustRegister(newClusterCollector(c))
		s.reg.MustRegister(newSnapshotCollector(c))
	}

	httpOpts := opts.http
	httpOpts.Store, httpOpts.Router, httpOpts.UDP, httpOpts.Registry = s.store, router, s.push, s.reg
	httpOpts.Logger = log.With("component", "http")
	httpOpts.Forwarder, httpOpts.Ready, httpOpts.Auth = fwd, s.ready, guard
	httpOpts.Control = s.ctl
	httpOpts.Loader, httpOpts.Introspect, httpOpts.SetLogLevel = s.loader, introspector{s}, setLogLevel
	httpOpts.LocalPort = func() int { return cfg.Port }
	httpOpts.Extra = s.coreHandlers()
	api, err := nacoshttp.New(httpOpts)
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
	mux.Handle("/distrod/cp", s.restrict(cfg.StatusAccess, "status-access", http.HandlerFunc(s.handleControlStatus)))
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
		Namespaces:  s.ctl.namespaceIDs,
	})
	if err != nil {
		return nil, fmt.Errorf("server: console: %w", err)
	}
	cons.Mount(mux)
	mux.Handle("/", api)
	s.http = &http.Server{
		Handler:           mux,
		ReadTimeout:       opts.httpServer.ReadTimeout,
		ReadHeaderTimeout: opts.httpServer.ReadHeaderTimeout,
		WriteTimeout:      opts.httpServer.WriteTimeout,
		IdleTimeout:       opts.httpServer.IdleTimeout,
		MaxHeaderBytes:    opts.httpServer.MaxHeaderBytes,
		ErrorLog:          httpErrorLog(log),
		TLSConfig:         s.tls.httpConfig(),
	}
	return s, nil
}

// ready reports whether the node serves reads and takes SDK connections:
// a standalone node at once, a cluster node once its snapshot load ended.
func (s *Server) ready() bool { return s.cluster == nil || s.cluster.Ready() }

// Run opens the listeners, serves until ctx ends, then shuts down
// gracefully.
func (s *Server) Run(ctx context.Context) error {
	httpLis, err := net.Listen("tcp", s.opts.httpAddr)
	if err != nil {
		return fmt.Errorf("server: http listener: %w", err)
	}
	grpcLis, err := net.Listen("tcp", s.opts.grpcAddr)
	if err != nil {
		_ = httpLis.Close()
		return fmt.Errorf("server: grpc listener: %w", err)
	}
	var clusterLis net.Listener
	if s.cluster != nil {
		clusterLis, err = net.Listen("tcp", s.opts.clusterAddr)
		if err != nil {
			_ = httpLis.Close()
			_ = grpcLis.Close()
			return fmt.Errorf("server: cluster listener: %w", err)
		}
	}
	raftLis, err := s.listenRaft()
	if err == nil {
		var node *cp.Node
		if node, err = s.openControl(raftLis); err == nil {
			defer closeControl(node)
		}
	}
	if err != nil {
		_ = httpLis.Close()
		_ = grpcLis.Close()
		if clusterLis != nil {
			_ = clusterLis.Close()
		}
		return err
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
	go func() { defer wg.Done(); s.memoryDefaults(ctx) }()
	wg.Add(1)
	go func() { defer wg.Done(); s.securityWarnings(ctx) }()
	wg.Add(1)
	go func() { defer wg.Done(); s.probeLoop(ctx) }()
	wg.Add(1)
	go func() { defer wg.Done(); s.cleanLoop(ctx) }()
	wg.Add(1)
	go func() { defer wg.Done(); s.reconcileLoop(ctx) }()
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
		"context_path", s.cfg.ContextPath, "grpc", grpcLis.Addr().String(), "cluster", listenAddr(clusterLis), "raft", listenAddr(raftLis), "data_dir", s.cfg.DataPath(),
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
	t := time.NewTicker(s.opts.expireEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s.store.ExpireDue(now.UnixMilli(), func(string) bool { return true })
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
