package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/distrod/distrod/internal/api/nacosgrpc"
	"github.com/distrod/distrod/internal/api/nacoshttp"
	"github.com/distrod/distrod/internal/config"
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
	admin   atomic.Pointer[func(*http.Request) bool] // see AllowAdmin
}

// New builds a node from a validated configuration. It opens no sockets;
// Run does.
func New(cfg config.Config, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: log, reg: prometheus.NewRegistry()}
	s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.store = naming.NewStore(cfg.SelfAddr(), hlc.NewClock(cfg.SelfAddr()))
	s.store.SetExpiry(cfg.InstanceUnhealthyAfter.Milliseconds(), cfg.InstanceDeleteAfter.Milliseconds())
	s.reg.MustRegister(newStoreCollector(s.store))
	// Push listens to every store change, local or replicated, so a change
	// made on any node reaches this node's subscribers.
	s.push = push.New(push.Options{
		Store:      s.store,
		Delay:      cfg.PushDelay,
		Timeout:    cfg.PushTimeout,
		RetryDelay: cfg.PushRetryDelay,
		QueueSize:  cfg.PushQueueSize,
		Logger:     log.With("component", "push"),
		Registry:   s.reg,
	})
	s.store.OnChange(s.push.OnChange)
	s.reg.MustRegister(newNacosMonitorCollector(s.store, s.push))
	guard, err := newGuard(cfg, log)
	if err != nil {
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
	})
	if err != nil {
		return nil, fmt.Errorf("server: grpc api: %w", err)
	}
	s.grpc = grpcSrv

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
		Extra: map[string]http.Handler{
			"/v1/core/cluster/nodes": http.HandlerFunc(s.handleNodes),
			"/v1/core/cluster/self":  http.HandlerFunc(s.handleSelf),
		},
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
	mux.Handle("/distrod/status", s.restrict(cfg.StatusAccess, "status-access", http.HandlerFunc(s.handleStatus)))
	// Debug endpoints: debug-access decides who may reach them, and when
	// client auth is on they also need ROLE_ADMIN.
	s.mountDebug(mux, func(f http.HandlerFunc) http.Handler { return nacoshttp.RequireAdmin(guard, f) })
	mux.Handle("/", api)
	s.http = &http.Server{
		Handler:           mux,
		ReadTimeout:       cfg.ReadTimeout,
		ReadHeaderTimeout: cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return s, nil
}

// Store returns the node's naming store (for tests and embedding).
func (s *Server) Store() *naming.Store { return s.store }

// ready reports whether the node serves reads and takes SDK connections:
// a standalone node at once, a cluster node once its snapshot load ended.
func (s *Server) ready() bool { return s.cluster == nil || s.cluster.Ready() }

// owns reports whether this node is responsible for an ip:port tag.
func (s *Server) owns(tag string) bool {
	if s.cluster == nil {
		return true
	}
	return s.cluster.Owns(tag)
}

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
	wg.Add(3)
	go func() {
		defer wg.Done()
		if err := s.grpc.Serve(grpcLis); err != nil {
			errc <- fmt.Errorf("server: grpc: %w", err)
		}
	}()
	go func() { defer wg.Done(); s.expireLoop(ctx) }()
	go func() {
		defer wg.Done()
		if err := s.http.Serve(httpLis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("server: http: %w", err)
		}
	}()
	s.log.Info("distrod listening", "mode", s.cfg.Mode, "http", httpLis.Addr().String(),
		"context_path", s.cfg.ContextPath, "grpc", grpcLis.Addr().String(), "cluster", listenAddr(clusterLis),
		"members", s.cfg.Members, "cluster_auth", s.clusterAuth())

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

// expireLoop runs heartbeat expiry for the IP-port clients this node owns.
func (s *Server) expireLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.ExpireCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if s.cluster != nil && !s.cluster.Ready() {
				continue // never expire what a half-loaded node has not seen beats for
			}
			s.store.ExpireCheck(now.UnixMilli(), s.owns)
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
