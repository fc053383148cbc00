package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"log"
	"log/slog"
	"strings"

	"github.com/distrod/distrod/internal/config"
	"github.com/distrod/distrod/internal/tlsfiles"
)

// tlsSources holds the TLS files of the HTTP and SDK gRPC ports (the
// cluster port's are loaded by newCluster); a nil field serves plaintext.
// Loading them in New makes a node with a missing or bad file refuse to
// start instead of serving without TLS.
type tlsSources struct {
	http, grpc *tlsfiles.Source
}

func loadTLS(cfg config.Config, log *slog.Logger) (tlsSources, error) {
	var ts tlsSources
	var err error
	if cfg.HTTPTLSCertFile != "" {
		ts.http, err = tlsfiles.New("http", tlsfiles.Files{Cert: cfg.HomePath(cfg.HTTPTLSCertFile),
			Key: cfg.HomePath(cfg.HTTPTLSKeyFile), CA: cfg.HomePath(cfg.HTTPTLSClientCAFile)}, log.With("component", "tls"))
		if err != nil {
			return ts, fmt.Errorf("server: http TLS: %w", err)
		}
	}
	if cfg.GRPCTLSCertFile != "" {
		ts.grpc, err = tlsfiles.New("grpc", tlsfiles.Files{Cert: cfg.HomePath(cfg.GRPCTLSCertFile),
			Key: cfg.HomePath(cfg.GRPCTLSKeyFile), CA: cfg.HomePath(cfg.GRPCTLSClientCAFile)}, log.With("component", "tls"))
		if err != nil {
			return ts, fmt.Errorf("server: grpc TLS: %w", err)
		}
	}
	return ts, nil
}

// loadClusterTLS returns the cluster port's TLS files, or nil when cluster
// TLS is off.
func loadClusterTLS(cfg config.Config, log *slog.Logger) (*tlsfiles.Source, error) {
	if cfg.ClusterTLSCertFile == "" {
		return nil, nil
	}
	src, err := tlsfiles.New("cluster", tlsfiles.Files{Cert: cfg.HomePath(cfg.ClusterTLSCertFile),
		Key: cfg.HomePath(cfg.ClusterTLSKeyFile), CA: cfg.HomePath(cfg.ClusterTLSCAFile)}, log.With("component", "tls"))
	if err != nil {
		return nil, fmt.Errorf("server: cluster TLS: %w", err)
	}
	return src, nil
}

// httpConfig is the HTTP server's TLS configuration (HTTP/2 and HTTP/1.1),
// or nil for plain HTTP.
func (ts tlsSources) httpConfig() *tls.Config {
	if ts.http == nil {
		return nil
	}
	return ts.http.ServerConfig("h2", "http/1.1")
}

// grpcConfig is the SDK port's TLS configuration, or nil for plaintext.
func (ts tlsSources) grpcConfig() *tls.Config {
	if ts.grpc == nil {
		return nil
	}
	return ts.grpc.ServerConfig("h2")
}

// describeTLS names a port's TLS mode for the startup log.
func describeTLS(src *tlsfiles.Source, plaintextToo bool) string {
	if src == nil {
		return "off"
	}
	mode := "on"
	if src.Mutual() {
		mode = "mutual"
	}
	if plaintextToo {
		mode += "+plaintext"
	}
	return mode
}

// httpErrorLog is the HTTP server's error log: warnings, except failed TLS
// handshakes, which are logged at debug level. Load balancers and TCP
// probes open connections and close them without a handshake, so with
// HTTPS every probe would otherwise log a warning.
func httpErrorLog(l *slog.Logger) *log.Logger {
	return log.New(errorLogWriter{l}, "", 0)
}

type errorLogWriter struct{ l *slog.Logger }

func (w errorLogWriter) Write(p []byte) (int, error) {
	msg := strings.TrimSuffix(string(p), "\n")
	level := slog.LevelWarn
	if strings.HasPrefix(msg, "http: TLS handshake error") {
		level = slog.LevelDebug
	}
	w.l.Log(context.Background(), level, msg)
	return len(p), nil
}
