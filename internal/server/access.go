package server

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"strings"
	"time"

	"github.com/distrod/distrod/internal/config"
)

// Who may call what on the HTTP port (docs/security-cluster.md):
//
//   - the Nacos API: everyone (client authentication is a separate layer);
//   - health and /metrics: everyone, because orchestrators and Prometheus
//     scrape them without credentials, and they hold only counts, states
//     and timings, never record data, addresses of clients or secrets;
//   - /distrod/status: config.StatusAccess (default open: it shows member
//     addresses and counts, which /nacos/v1/core/cluster/nodes shows too);
//   - /distrod/debug/* and /debug/pprof/*: config.DebugAccess (default
//     local), since they change the node's behaviour or expose its memory.

// AllowAdmin installs an extra rule for the restricted endpoints: a request
// f accepts is let in whatever StatusAccess and DebugAccess say. It is the
// hook for Nacos client authentication (an admin user's token, say); nil
// removes it. Safe to call at any time.
func (s *Server) AllowAdmin(f func(r *http.Request) bool) {
	if f == nil {
		s.admin.Store(nil)
		return
	}
	s.admin.Store(&f)
}

// restrict lets through to h only the callers that rule admits; setting
// names the setting for the refusal message.
func (s *Server) restrict(rule, setting string, h http.Handler) http.Handler {
	if rule == config.AccessOpen {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.admitted(rule, r) {
			h.ServeHTTP(w, r)
			return
		}
		how := "send \"Authorization: Bearer <cluster secret>\""
		if rule == config.AccessLocal {
			how = "call from this host (loopback), or " + how
		}
		http.Error(w, fmt.Sprintf("forbidden: %s is restricted by %s=%s: %s", r.URL.Path, setting, rule, how), http.StatusForbidden)
	})
}

func (s *Server) admitted(rule string, r *http.Request) bool {
	if f := s.admin.Load(); f != nil && (*f)(r) {
		return true
	}
	if s.cfg.ClusterSecret != "" {
		if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			// Hashing first makes the comparison independent of the length.
			a, b := sha256.Sum256([]byte(tok)), sha256.Sum256([]byte(s.cfg.ClusterSecret))
			if hmac.Equal(a[:], b[:]) {
				return true
			}
		}
	}
	return rule == config.AccessLocal && fromLoopback(r)
}

// fromLoopback reports whether the TCP peer of r is a loopback address.
// Forwarding headers are ignored: anyone can write them.
func fromLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

// mountDebug mounts the profiler (with Pprof) and the fault injection
// endpoint (with FaultInjection, cluster mode), both behind DebugAccess
// and admin (the client-auth check for ROLE_ADMIN).
func (s *Server) mountDebug(mux *http.ServeMux, admin func(http.HandlerFunc) http.Handler) {
	guard := func(h http.HandlerFunc) http.Handler {
		return s.restrict(s.cfg.DebugAccess, "debug-access", admin(h))
	}
	if s.cfg.Pprof {
		mux.Handle("/debug/pprof/", guard(pprof.Index))
		// Never the command line: it holds any secret given as a flag.
		mux.Handle("/debug/pprof/cmdline", guard(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "not served: the command line may hold secrets", http.StatusNotFound)
		}))
		mux.Handle("/debug/pprof/profile", guard(pprof.Profile))
		mux.Handle("/debug/pprof/symbol", guard(pprof.Symbol))
		mux.Handle("/debug/pprof/trace", guard(pprof.Trace))
	}
	if s.cfg.FaultInjection && s.cluster != nil {
		s.log.Warn("fault injection is enabled: /distrod/debug/partition can cut this node off", "debug_access", s.cfg.DebugAccess)
		mux.Handle("/distrod/debug/partition", guard(s.handlePartition))
	}
}

// insecureWarnEvery is how often an insecure cluster is reminded of it.
const insecureWarnEvery = 10 * time.Minute

// securityWarnings logs what weakens the cluster's protection: at once,
// and for an insecure cluster every insecureWarnEvery until ctx ends.
func (s *Server) securityWarnings(ctx context.Context) {
	if s.cluster == nil {
		return
	}
	if s.cfg.ClusterSecret != "" && len(s.cfg.ClusterSecret) < config.MinSecretLen {
		s.log.Warn("the cluster secret is short and can be guessed from a recorded handshake: use at least 16 random bytes, e.g. `openssl rand -hex 32`",
			"length", len(s.cfg.ClusterSecret))
	}
	if !s.cfg.ClusterInsecure {
		return
	}
	warn := func() {
		s.log.Warn("INSECURE CLUSTER: cluster-insecure is set and no cluster secret is configured; anyone who reaches the cluster port "+
			"can read and change all data: set DISTROD_CLUSTER_SECRET on every member", "cluster_port", s.cfg.ClusterPort())
	}
	warn()
	t := time.NewTicker(insecureWarnEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			warn()
		}
	}
}

// clusterAuth names how the cluster port authenticates peers, for the
// startup log.
func (s *Server) clusterAuth() string {
	switch {
	case s.cluster == nil:
		return "none (standalone)"
	case s.cfg.ClusterSecret != "" && s.cfg.ClusterTLSCertFile != "":
		return "secret+mTLS"
	case s.cfg.ClusterSecret != "":
		return "secret"
	default:
		return "INSECURE"
	}
}
