package tlsfiles

import (
	"crypto/tls"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/distrod/distrod/internal/testutil"
)

// handshake runs one TLS handshake between server and client configs over
// a loopback TCP connection and returns the serial of the certificate the
// client was served, and the error of either side.
func handshake(server, client *tls.Config) (*big.Int, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer lis.Close()
	b, err := net.Dial("tcp", lis.Addr().String())
	if err != nil {
		return nil, err
	}
	defer b.Close()
	a, err := lis.Accept()
	if err != nil {
		return nil, err
	}
	defer a.Close()
	deadline := time.Now().Add(5 * time.Second)
	_ = a.SetDeadline(deadline)
	_ = b.SetDeadline(deadline)
	srvErr := make(chan error, 1)
	go func() {
		s := tls.Server(a, server)
		err := s.Handshake()
		if err == nil {
			// TLS 1.3 servers learn of a refused client certificate
			// only after the handshake: read to see the alert.
			_, err = s.Read(make([]byte, 1))
		}
		srvErr <- err
		_ = a.Close()
	}()
	c := tls.Client(b, client)
	if err := c.Handshake(); err != nil {
		return nil, err
	}
	serial := c.ConnectionState().PeerCertificates[0].SerialNumber
	// Write a byte so a server that accepted us returns from Read.
	if _, err := c.Write([]byte{1}); err != nil {
		return nil, err
	}
	if err := <-srvErr; err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	return serial, nil
}

func newSource(t *testing.T, f Files) *Source {
	t.Helper()
	s, err := New("test", f, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSource_MutualTLSAcceptsOnlyCertificatesOfTheCA(t *testing.T) {
	ca, other := testutil.NewCA(t, "cluster CA"), testutil.NewCA(t, "other CA")
	srvLeaf, cliLeaf, strangerLeaf := ca.Issue("127.0.0.1"), ca.Issue("127.0.0.2"), other.Issue("127.0.0.3")
	srv := newSource(t, Files{Cert: srvLeaf.CertFile, Key: srvLeaf.KeyFile, CA: ca.File})
	cli := newSource(t, Files{Cert: cliLeaf.CertFile, Key: cliLeaf.KeyFile, CA: ca.File})
	stranger := newSource(t, Files{Cert: strangerLeaf.CertFile, Key: strangerLeaf.KeyFile, CA: ca.File})
	if !srv.Mutual() {
		t.Fatal("a source with a CA file is not mutual")
	}

	serial, err := handshake(srv.ServerConfig(), cli.ClientConfig("127.0.0.1"))
	if err != nil || serial.Cmp(srvLeaf.Serial) != 0 {
		t.Fatalf("member handshake: serial %v, err %v", serial, err)
	}
	if _, err := handshake(srv.ServerConfig(), stranger.ClientConfig("127.0.0.1")); err == nil {
		t.Fatal("a client certificate of another CA was accepted")
	}
	noCert := &tls.Config{ServerName: "127.0.0.1", RootCAs: cli.ClientConfig("").RootCAs}
	if _, err := handshake(srv.ServerConfig(), noCert); err == nil {
		t.Fatal("a client without a certificate was accepted")
	}
	if _, err := handshake(srv.ServerConfig(), cli.ClientConfig("10.9.9.9")); err == nil {
		t.Fatal("the client accepted a server certificate that does not name the dialled address")
	}
}

func TestSource_ServerWithoutCAAcceptsClientsWithoutCertificates(t *testing.T) {
	ca := testutil.NewCA(t, "ca")
	leaf := ca.Issue("localhost")
	srv := newSource(t, Files{Cert: leaf.CertFile, Key: leaf.KeyFile})
	if srv.Mutual() {
		t.Fatal("a source without a CA file is mutual")
	}
	pool := newSource(t, Files{Cert: leaf.CertFile, Key: leaf.KeyFile, CA: ca.File}).ClientConfig("").RootCAs
	serial, err := handshake(srv.ServerConfig("h2"), &tls.Config{ServerName: "localhost", RootCAs: pool, NextProtos: []string{"h2"}})
	if err != nil || serial.Cmp(leaf.Serial) != 0 {
		t.Fatalf("handshake: serial %v, err %v", serial, err)
	}
}

func TestSource_RotatedFilesReachTheNextHandshake(t *testing.T) {
	ca := testutil.NewCA(t, "ca")
	first, second := ca.Issue("127.0.0.1"), ca.Issue("127.0.0.1")
	srv := newSource(t, Files{Cert: first.CertFile, Key: first.KeyFile})
	client := &tls.Config{ServerName: "127.0.0.1", RootCAs: newSource(t, Files{Cert: first.CertFile, Key: first.KeyFile, CA: ca.File}).ClientConfig("").RootCAs}
	cfg := srv.ServerConfig()

	if serial, err := handshake(cfg, client); err != nil || serial.Cmp(first.Serial) != 0 {
		t.Fatalf("before rotation: serial %v, err %v", serial, err)
	}
	second.WriteTo(t, first.CertFile, first.KeyFile)
	testutil.Eventually(t, 5*time.Second, "new certificate served", func() error {
		serial, err := handshake(cfg, client)
		if err != nil {
			return err
		}
		if serial.Cmp(second.Serial) != 0 {
			return fmt.Errorf("served serial %v, want %v", serial, second.Serial)
		}
		return nil
	})
	if ok, failed := srv.Reloads(); ok != 1 || failed != 0 {
		t.Fatalf("reloads ok=%d failed=%d, want 1 and 0", ok, failed)
	}
}

func TestSource_HalfRotatedPairKeepsThePreviousCertificate(t *testing.T) {
	ca := testutil.NewCA(t, "ca")
	first, second := ca.Issue("127.0.0.1"), ca.Issue("127.0.0.1")
	srv := newSource(t, Files{Cert: first.CertFile, Key: first.KeyFile})

	// The new certificate arrives before its key: the pair does not match.
	if err := os.WriteFile(first.CertFile, second.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := srv.Leaf().SerialNumber; got.Cmp(first.Serial) != 0 {
		t.Fatalf("serving serial %v during a half rotation, want the previous %v", got, first.Serial)
	}
	if _, failed := srv.Reloads(); failed != 1 {
		t.Fatalf("failed reloads = %d, want 1", failed)
	}
	// An unchanged half-rotated pair is not parsed again on every handshake.
	srv.Leaf()
	if _, failed := srv.Reloads(); failed != 1 {
		t.Fatalf("failed reloads = %d after a second look at unchanged files, want 1", failed)
	}
	// The key follows: the new pair is served.
	if err := os.WriteFile(first.KeyFile, second.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 5*time.Second, "new pair served", func() error {
		if got := srv.Leaf().SerialNumber; got.Cmp(second.Serial) != 0 {
			return fmt.Errorf("serial %v, want %v", got, second.Serial)
		}
		return nil
	})
}

func TestNew_RefusesUnusableFiles(t *testing.T) {
	ca := testutil.NewCA(t, "ca")
	a, b := ca.Issue("a"), ca.Issue("b")
	empty := filepath.Join(t.TempDir(), "empty.pem")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]Files{
		"no key":           {Cert: a.CertFile},
		"missing cert":     {Cert: filepath.Join(t.TempDir(), "nope.pem"), Key: a.KeyFile},
		"mismatched pair":  {Cert: a.CertFile, Key: b.KeyFile},
		"missing CA":       {Cert: a.CertFile, Key: a.KeyFile, CA: filepath.Join(t.TempDir(), "nope.pem")},
		"CA without certs": {Cert: a.CertFile, Key: a.KeyFile, CA: empty},
	} {
		if _, err := New("test", f, nil); !errors.Is(err, ErrFiles) {
			t.Errorf("%s: err = %v, want ErrFiles", name, err)
		}
	}
}
