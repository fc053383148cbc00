// Package tlsfiles serves TLS configurations built from PEM files, and
// re-reads the files when they change, so that rotating a certificate needs
// no restart.
//
// A Source is created from a certificate chain, its private key and
// optionally a CA bundle. Each new TLS handshake (through the
// GetConfigForClient hook of ServerConfig, or a call to ClientConfig) first
// checks the files' identity, size and modification time with one stat
// each, and reloads them when any changed. Connections already established
// keep the certificate they were set up with; only new ones see the new
// files. A reload that fails (a half-rotated pair whose key does not match
// the certificate, a truncated file) is logged and the previous
// certificate stays in use; the files are tried again as soon as they
// change again. One stat per file per handshake costs microseconds against
// the milliseconds of the handshake's public-key operations, and it makes
// a rotation visible to the very next connection, with no goroutine and
// no polling interval to configure.
//
// Rotation tools should replace the files atomically (write a new file and
// rename it over the old one, or swap a symbolic link as Kubernetes does
// for mounted secrets) and replace the key and certificate together; a
// reader that sees a new certificate with the old key keeps the old pair
// until both match.
package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// ErrFiles is wrapped by every error about unreadable or unusable
// certificate, key or CA files.
var ErrFiles = errors.New("tlsfiles: bad certificate files")

// Files names the PEM files of one TLS endpoint.
type Files struct {
	// Cert is the certificate chain, leaf first. Required.
	Cert string
	// Key is the private key of the leaf certificate (PKCS#1, PKCS#8 or
	// SEC 1, unencrypted). Required.
	Key string
	// CA is a bundle of CA certificates that verifies the other side's
	// certificate: on a server, clients must then present a certificate
	// that chains to it (mutual TLS); on a client it replaces the system
	// roots. Optional.
	CA string
}

// Source hands out TLS configurations for one endpoint, reloading its files
// when they change. Its methods are safe for concurrent use.
type Source struct {
	files Files
	name  string
	log   *slog.Logger
	now   func() time.Time

	mu     sync.Mutex // held while checking and reloading the files
	stamps [3]stamp   // of the files as last read, successfully or not

	cur      atomic.Pointer[state]
	reloads  atomic.Uint64
	failures atomic.Uint64
}

// state is one consistent set of loaded files.
type state struct {
	cert tls.Certificate
	pool *x509.CertPool // nil without a CA file
}

// stamp identifies one version of a file.
type stamp struct {
	info os.FileInfo // nil if the file could not be stat'ed
	err  string
}

func (a stamp) same(b stamp) bool {
	if a.info == nil || b.info == nil {
		return a.info == nil && b.info == nil && a.err == b.err
	}
	return os.SameFile(a.info, b.info) && a.info.Size() == b.info.Size() && a.info.ModTime().Equal(b.info.ModTime())
}

// New loads the files and returns a Source for them. name labels the
// endpoint in log lines (e.g. "http"). It fails when the files cannot be
// read or do not hold a matching certificate and key, so a node with bad
// files refuses to start rather than serve without them.
func New(name string, f Files, log *slog.Logger) (*Source, error) {
	if f.Cert == "" || f.Key == "" {
		return nil, fmt.Errorf("%w: %s: both a certificate file and a key file are needed", ErrFiles, name)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Source{files: f, name: name, log: log, now: time.Now}
	s.stamps = s.stat()
	st, err := s.load()
	if err != nil {
		return nil, err
	}
	s.cur.Store(st)
	s.logLoaded("loaded TLS certificate", st)
	return s, nil
}

// Mutual reports whether a CA file is configured, so that a server built
// from this Source requires client certificates.
func (s *Source) Mutual() bool { return s.files.CA != "" }

// Reloads returns how many times changed files were loaded successfully
// after the first load, and how many reload attempts failed.
func (s *Source) Reloads() (ok, failed uint64) { return s.reloads.Load(), s.failures.Load() }

// Leaf returns the certificate currently served, after checking the files
// for changes.
func (s *Source) Leaf() *x509.Certificate {
	return s.refresh().cert.Leaf
}

// ServerConfig returns a configuration for a TLS listener. Every handshake
// checks the files and serves the current certificate, offering the given
// ALPN protocols. With a CA file, clients must present a certificate that
// chains to it. TLS 1.2 is the minimum version.
func (s *Source) ServerConfig(nextProtos ...string) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: nextProtos,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			st := s.refresh()
			c := &tls.Config{
				MinVersion:   tls.VersionTLS12,
				NextProtos:   nextProtos,
				Certificates: []tls.Certificate{st.cert},
			}
			if st.pool != nil {
				c.ClientCAs = st.pool
				c.ClientAuth = tls.RequireAndVerifyClientCert
			}
			return c, nil
		},
	}
}

// ClientConfig returns a configuration for one outgoing connection to
// serverName (a host name or IP address the server's certificate must
// name). It presents the current certificate as the client certificate
// and, with a CA file, trusts only that CA.
func (s *Source) ClientConfig(serverName string) *tls.Config {
	st := s.refresh()
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		ServerName:   serverName,
		RootCAs:      st.pool,
		Certificates: []tls.Certificate{st.cert},
	}
}

// refresh reloads the files if they changed since they were last read and
// returns the current state. While another goroutine is checking, it
// returns the current state at once rather than wait.
func (s *Source) refresh() *state {
	if !s.mu.TryLock() {
		return s.cur.Load()
	}
	defer s.mu.Unlock()
	stamps := s.stat()
	changed := false
	for i := range stamps {
		if !stamps[i].same(s.stamps[i]) {
			changed = true
		}
	}
	s.stamps = stamps
	if !changed {
		return s.cur.Load()
	}
	st, err := s.load()
	if err != nil {
		s.failures.Add(1)
		s.log.Warn("cannot reload TLS files; still serving the previous certificate", "endpoint", s.name, "err", err)
		return s.cur.Load()
	}
	s.cur.Store(st)
	s.reloads.Add(1)
	s.logLoaded("reloaded TLS certificate", st)
	return st
}

func (s *Source) stat() [3]stamp {
	var out [3]stamp
	for i, p := range []string{s.files.Cert, s.files.Key, s.files.CA} {
		if p == "" {
			continue
		}
		fi, err := os.Stat(p)
		if err != nil {
			out[i] = stamp{err: err.Error()}
			continue
		}
		out[i] = stamp{info: fi}
	}
	return out
}

func (s *Source) load() (*state, error) {
	cert, err := tls.LoadX509KeyPair(s.files.Cert, s.files.Key)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: certificate %s, key %s: %w", ErrFiles, s.name, s.files.Cert, s.files.Key, err)
	}
	st := &state{cert: cert}
	if s.files.CA != "" {
		pem, err := os.ReadFile(s.files.CA)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: CA file: %w", ErrFiles, s.name, err)
		}
		st.pool = x509.NewCertPool()
		if !st.pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: %s: CA file %s holds no PEM certificate", ErrFiles, s.name, s.files.CA)
		}
	}
	return st, nil
}

func (s *Source) logLoaded(msg string, st *state) {
	leaf := st.cert.Leaf
	if leaf == nil {
		return
	}
	attrs := []any{"endpoint", s.name, "subject", leaf.Subject.String(), "serial", leaf.SerialNumber.String(),
		"not_after", leaf.NotAfter.UTC().Format(time.RFC3339), "mutual", st.pool != nil}
	if s.now().After(leaf.NotAfter) {
		s.log.Warn(msg+": the certificate has EXPIRED; clients will refuse it", attrs...)
		return
	}
	s.log.Info(msg, attrs...)
}
