package transport

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distrod/distrod/internal/distro"
	"github.com/distrod/distrod/internal/testutil"
	"github.com/distrod/distrod/internal/tlsfiles"
)

// clusterTLS returns a cluster TLS source for a member certificate leaf of ca.
func clusterTLS(t *testing.T, ca *testutil.CA, leaf testutil.Leaf) *tlsfiles.Source {
	t.Helper()
	src, err := tlsfiles.New("cluster", tlsfiles.Files{Cert: leaf.CertFile, Key: leaf.KeyFile, CA: ca.File}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// syncBuffer is a bytes.Buffer safe for a logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func ping(t *testing.T, from *Transport, to string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := from.Ping(ctx, to)
	return err
}

func TestTransportTLS_MembersExchangeMessagesInsideMutualTLS(t *testing.T) {
	pa, pb := testutil.PortBlock(t), testutil.PortBlock(t)
	ca := testutil.NewCA(t, "cluster CA")
	var recv, failed sink
	a := startNodeWith(t, Options{Self: member(pa), Secret: testSecret, TLS: clusterTLS(t, ca, ca.Issue("127.0.0.1"))},
		ignoreMsg, failed.handle, pb)
	startNodeWith(t, Options{Self: member(pb), Secret: testSecret, TLS: clusterTLS(t, ca, ca.Issue("127.0.0.1"))},
		recv.onMsg, failed.handle, pa)
	a.Send(member(pb), &distro.SyncAck{Seq: 7})
	testutil.Eventually(t, 10*time.Second, "message delivered", func() error {
		if recv.count() != 1 {
			return errors.New("not yet")
		}
		return nil
	})
	if err := ping(t, a, member(pb)); err != nil {
		t.Fatalf("ping over TLS: %v", err)
	}

	// The port speaks nothing but TLS: a member with the right secret but
	// without TLS is refused, and so is a bare secret handshake.
	pc := testutil.PortBlock(t)
	plain := startNode(t, pc, testSecret, ignoreMsg, func(string, distro.Message) {}, pb)
	if err := ping(t, plain, member(pb)); err == nil {
		t.Fatal("a peer without TLS was answered by a TLS cluster port")
	}
	conn, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(pb+1001))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	nonce, _ := newNonce()
	if err := writeHello(conn, nonce, member(pa)); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := readHello(conn); err == nil {
		t.Fatal("the TLS cluster port answered a plaintext secret handshake")
	}
}

func TestTransportTLS_CertificateOfAnotherCAIsRefused(t *testing.T) {
	pa, pb := testutil.PortBlock(t), testutil.PortBlock(t)
	ca, other := testutil.NewCA(t, "cluster CA"), testutil.NewCA(t, "other CA")
	// a trusts the cluster CA but holds a certificate of another CA.
	a := startNodeWith(t, Options{Self: member(pa), Secret: testSecret, TLS: clusterTLS(t, ca, other.Issue("127.0.0.1"))},
		ignoreMsg, func(string, distro.Message) {}, pb)
	b := startNodeWith(t, Options{Self: member(pb), Secret: testSecret, TLS: clusterTLS(t, ca, ca.Issue("127.0.0.1"))},
		ignoreMsg, func(string, distro.Message) {}, pa)
	if err := ping(t, a, member(pb)); err == nil {
		t.Fatal("a member certificate of another CA was accepted")
	}
	if b.Refused()[RefusedHandshake] == 0 {
		t.Fatal("the refused TLS handshake was not counted")
	}
	// And b, dialling a, refuses a's server certificate.
	if err := ping(t, b, member(pa)); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("b accepted a's certificate of another CA: %v", err)
	}
}

func TestTransportTLS_CertificateMustNameTheMemberItAuthenticatesAs(t *testing.T) {
	pa, pb := testutil.PortBlock(t), testutil.PortBlock(t)
	ca := testutil.NewCA(t, "cluster CA")
	var log syncBuffer
	// a's certificate chains to the cluster CA but names another host.
	a := startNodeWith(t, Options{Self: member(pa), Secret: testSecret, TLS: clusterTLS(t, ca, ca.Issue("10.9.9.9"))},
		ignoreMsg, func(string, distro.Message) {}, pb)
	b := startNodeWith(t, Options{Self: member(pb), Secret: testSecret, TLS: clusterTLS(t, ca, ca.Issue("127.0.0.1")),
		Logger: slog.New(slog.NewTextHandler(&log, nil))},
		ignoreMsg, func(string, distro.Message) {}, pa)
	if err := ping(t, a, member(pb)); err == nil {
		t.Fatal("a member whose certificate names another host was accepted")
	}
	if b.Refused()[RefusedHandshake] == 0 || !strings.Contains(log.String(), "certificate for another host") {
		t.Fatalf("refusal not counted or not for the host name: %d refused, log %s", b.Refused()[RefusedHandshake], log.String())
	}
	// Dialling a, b checks a's server certificate against a's address.
	if err := ping(t, b, member(pa)); err == nil || !strings.Contains(err.Error(), "10.9.9.9") {
		t.Fatalf("b accepted a server certificate for another host: %v", err)
	}
}

func TestTransportTLS_RotatedCertificateServesNewConnections(t *testing.T) {
	pa, pb := testutil.PortBlock(t), testutil.PortBlock(t)
	ca := testutil.NewCA(t, "cluster CA")
	leafB, next := ca.Issue("127.0.0.1"), ca.Issue("127.0.0.1")
	srcA := clusterTLS(t, ca, ca.Issue("127.0.0.1"))
	a := startNodeWith(t, Options{Self: member(pa), Secret: testSecret, TLS: srcA},
		ignoreMsg, func(string, distro.Message) {}, pb)
	startNodeWith(t, Options{Self: member(pb), Secret: testSecret, TLS: clusterTLS(t, ca, leafB)},
		ignoreMsg, func(string, distro.Message) {}, pa)
	if err := ping(t, a, member(pb)); err != nil {
		t.Fatal(err)
	}
	served := func() (string, error) {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", "127.0.0.1:"+strconv.Itoa(pb+1001), srcA.ClientConfig("127.0.0.1"))
		if err != nil {
			return "", err
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.String(), nil
	}
	if s, err := served(); err != nil || s != leafB.Serial.String() {
		t.Fatalf("before rotation: serial %s, err %v", s, err)
	}
	next.WriteTo(t, leafB.CertFile, leafB.KeyFile)
	testutil.Eventually(t, 5*time.Second, "rotated certificate served", func() error {
		s, err := served()
		if err != nil {
			return err
		}
		if s != next.Serial.String() {
			return fmt.Errorf("serial %s, want %s", s, next.Serial)
		}
		return nil
	})
	// The existing peer connection keeps working; a new one is accepted.
	if err := ping(t, a, member(pb)); err != nil {
		t.Fatalf("ping after rotation: %v", err)
	}
	a.Forget(member(pb))
	if err := ping(t, a, member(pb)); err != nil {
		t.Fatalf("ping on a new connection after rotation: %v", err)
	}
}
