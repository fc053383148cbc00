package transport

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"google.golang.org/grpc/credentials"

	"github.com/distrod/distrod/internal/tlsfiles"
)

// ErrHandshake is returned when a cluster connection fails authentication:
// a wrong or missing secret, a peer that is not a current member, a
// malformed or late handshake.
var ErrHandshake = errors.New("transport: cluster handshake failed")

// The handshake, run on every new TCP connection before gRPC sees it:
//
//	client -> server  hello:     magic, client nonce, client member address
//	server -> client  challenge: magic, server nonce, server member address
//	client -> server  proof:     HMAC(secret, "client" || transcript)
//	server -> client  proof:     HMAC(secret, "server" || transcript)
//
// where the transcript is both nonces and both addresses. The client proves
// itself first, so a stranger who connects learns nothing computed from the
// secret; each side's proof covers the other's fresh nonce, so a recorded
// proof cannot be replayed; the labels keep one side's proof from serving
// as the other's. The secret never crosses the network. Without TLS the
// connection then carries plain HTTP/2: the handshake authenticates who set
// the connection up, it does not encrypt or integrity-protect the traffic.
//
// With TLS (Options.TLS), the connection first runs a mutual TLS handshake
// in which each side's certificate must chain to the cluster CA and name
// the host of the member address it is reached at (the client checks the
// server's certificate against the member it dialled; the server checks
// the client's against the member address the client then proves it
// speaks for). The secret handshake and all traffic run inside the TLS
// channel, which encrypts them and protects their integrity. The secret
// stays required: a certificate alone would make every certificate the CA
// ever issued (an organisation's CA often signs many services) a member
// credential.
const (
	hsMagic    = "DSTRDHS1"
	nonceLen   = 32
	macLen     = sha256.Size
	maxAddrLen = 255
	authType   = "distrod-hmac"
)

// AuthInfo describes an authenticated cluster connection; gRPC exposes it
// through peer.FromContext on the server side.
type AuthInfo struct {
	credentials.CommonAuthInfo
	// Peer is the member address the other side proved it speaks for.
	Peer string
}

// AuthType implements credentials.AuthInfo.
func (AuthInfo) AuthType() string { return authType }

// secretCreds are gRPC transport credentials that run the handshake above.
type secretCreds struct {
	self    string
	secret  []byte
	timeout time.Duration
	// expect is, on the client side, the member being dialled: the server
	// must prove it is that member. Empty on the server side.
	expect string
	// accept decides, on the server side, whether an authenticated client
	// address may connect (a current member, not this node).
	accept func(peer string) error
	// failed is told about every failed server-side handshake.
	failed func(remote net.Addr, err error)
	// slots bounds the server-side handshakes in progress (nil: no bound),
	// so that connections which never finish cost bounded memory.
	slots chan struct{}
	// tls, when set, runs mutual TLS first (see above); tlsServer is its
	// server configuration, built once.
	tls       *tlsfiles.Source
	tlsServer *tls.Config
}

var _ credentials.TransportCredentials = (*secretCreds)(nil)

func (c *secretCreds) Info() credentials.ProtocolInfo {
	return credentials.ProtocolInfo{SecurityProtocol: authType}
}

// authInfo returns the AuthInfo of a connection authenticated as peer.
func (c *secretCreds) authInfo(peer string) AuthInfo {
	level := credentials.NoSecurity
	if c.tls != nil {
		level = credentials.PrivacyAndIntegrity
	}
	return AuthInfo{CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: level}, Peer: peer}
}

// memberHost returns the host part of a member address.
func memberHost(member string) string {
	host, _, err := net.SplitHostPort(member)
	if err != nil {
		return member
	}
	return host
}

func (c *secretCreds) Clone() credentials.TransportCredentials {
	cp := *c
	return &cp
}

// OverrideServerName is unused by gRPC (deprecated there).
func (c *secretCreds) OverrideServerName(string) error { return nil }

func (c *secretCreds) ClientHandshake(ctx context.Context, _ string, conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	deadline := time.Now().Add(c.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := conn.SetDeadline(deadline); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	// Closing the connection when ctx ends unblocks a pending read.
	raw := conn
	stop := context.AfterFunc(ctx, func() { _ = raw.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	if c.tls != nil {
		tc := tls.Client(conn, c.tls.ClientConfig(memberHost(c.expect)))
		if err := tc.Handshake(); err != nil {
			return nil, nil, fmt.Errorf("%w: TLS with member %s: %w", ErrHandshake, c.expect, err)
		}
		conn = tc
	}

	nc, err := newNonce()
	if err != nil {
		return nil, nil, err
	}
	if err := writeHello(conn, nc, c.self); err != nil {
		return nil, nil, err
	}
	ns, server, err := readHello(conn)
	if err != nil {
		return nil, nil, err
	}
	if c.expect != "" && server != c.expect {
		return nil, nil, fmt.Errorf("%w: dialled member %s but the server is %s", ErrHandshake, c.expect, server)
	}
	t := transcript(nc, ns, c.self, server)
	if _, err := conn.Write(c.mac("client", t)); err != nil {
		return nil, nil, fmt.Errorf("%w: write proof: %w", ErrHandshake, err)
	}
	got := make([]byte, macLen)
	if _, err := io.ReadFull(conn, got); err != nil {
		return nil, nil, fmt.Errorf("%w: server %s refused us (wrong secret, or we are not one of its members): %w", ErrHandshake, server, err)
	}
	if !hmac.Equal(got, c.mac("server", t)) {
		return nil, nil, fmt.Errorf("%w: server %s does not know the cluster secret", ErrHandshake, server)
	}
	if !stop() {
		return nil, nil, fmt.Errorf("%w: %w", ErrHandshake, ctx.Err())
	}
	if err := conn.SetDeadline(time.Time{}); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	return conn, c.authInfo(server), nil
}

func (c *secretCreds) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	if c.slots != nil {
		select {
		case c.slots <- struct{}{}:
			defer func() { <-c.slots }()
		default:
			err := fmt.Errorf("%w: %d handshakes already in progress", ErrHandshake, cap(c.slots))
			if c.failed != nil {
				c.failed(conn.RemoteAddr(), err)
			}
			return nil, nil, err
		}
	}
	conn, peer, err := c.serverHandshake(conn)
	if err != nil {
		if c.failed != nil {
			c.failed(conn.RemoteAddr(), err)
		}
		return nil, nil, err
	}
	return conn, c.authInfo(peer), nil
}

// serverHandshake authenticates a new connection and returns the
// connection to use from then on (the TLS one, with TLS) and the member
// address the client proved it speaks for. On error the returned
// connection is the one it was given.
func (c *secretCreds) serverHandshake(raw net.Conn) (net.Conn, string, error) {
	// gRPC's ConnectionTimeout also bounds the handshake; this deadline
	// keeps the bound when the credentials are used on their own.
	if err := raw.SetDeadline(time.Now().Add(c.timeout)); err != nil {
		return raw, "", fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	conn := raw
	var tc *tls.Conn
	if c.tls != nil {
		tc = tls.Server(raw, c.tlsServer)
		if err := tc.Handshake(); err != nil {
			return raw, "", fmt.Errorf("%w: TLS: %w", ErrHandshake, err)
		}
		conn = tc
	}
	client, err := c.secretHandshake(conn, tc)
	if err != nil {
		return raw, "", err
	}
	return conn, client, nil
}

// secretHandshake runs the server side of the secret handshake on conn;
// with TLS, tc is the TLS connection whose client certificate must name
// the member the client proves it is.
func (c *secretCreds) secretHandshake(conn net.Conn, tc *tls.Conn) (string, error) {
	nc, client, err := readHello(conn)
	if err != nil {
		return "", err
	}
	ns, err := newNonce()
	if err != nil {
		return "", err
	}
	if err := writeHello(conn, ns, c.self); err != nil {
		return "", err
	}
	t := transcript(nc, ns, client, c.self)
	got := make([]byte, macLen)
	if _, err := io.ReadFull(conn, got); err != nil {
		return "", fmt.Errorf("%w: read proof: %w", ErrHandshake, err)
	}
	if !hmac.Equal(got, c.mac("client", t)) {
		return "", fmt.Errorf("%w: client claiming to be %q does not know the cluster secret", ErrHandshake, client)
	}
	if c.accept != nil {
		if err := c.accept(client); err != nil {
			return "", err
		}
	}
	if tc != nil {
		// The chain was verified against the cluster CA in the TLS
		// handshake; the leaf must also be this member's own.
		certs := tc.ConnectionState().PeerCertificates
		if len(certs) == 0 {
			return "", fmt.Errorf("%w: member %s presented no certificate (the cluster TLS files need a CA)", ErrHandshake, client)
		}
		if err := certs[0].VerifyHostname(memberHost(client)); err != nil {
			return "", fmt.Errorf("%w: member %s presented a certificate for another host: %w", ErrHandshake, client, err)
		}
	}
	if _, err := conn.Write(c.mac("server", t)); err != nil {
		return "", fmt.Errorf("%w: write proof: %w", ErrHandshake, err)
	}
	// gRPC resets the deadline after the HTTP/2 preface; leaving ours in
	// place until then keeps a client that authenticated but then stalls
	// from holding the connection.
	return client, nil
}

func (c *secretCreds) mac(label string, transcript []byte) []byte {
	h := hmac.New(sha256.New, c.secret)
	h.Write([]byte(label))
	h.Write(transcript)
	return h.Sum(nil)
}

func transcript(nc, ns []byte, client, server string) []byte {
	t := make([]byte, 0, 2*nonceLen+2+len(client)+len(server))
	t = append(t, nc...)
	t = append(t, ns...)
	t = append(t, byte(len(client)))
	t = append(t, client...)
	t = append(t, byte(len(server)))
	return append(t, server...)
}

func newNonce() ([]byte, error) {
	n := make([]byte, nonceLen)
	if _, err := rand.Read(n); err != nil {
		return nil, fmt.Errorf("%w: nonce: %w", ErrHandshake, err)
	}
	return n, nil
}

func writeHello(w io.Writer, nonce []byte, addr string) error {
	if len(addr) > maxAddrLen {
		return fmt.Errorf("%w: member address too long", ErrHandshake)
	}
	b := make([]byte, 0, len(hsMagic)+nonceLen+1+len(addr))
	b = append(b, hsMagic...)
	b = append(b, nonce...)
	b = append(b, byte(len(addr)))
	b = append(b, addr...)
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("%w: write hello: %w", ErrHandshake, err)
	}
	return nil
}

func readHello(r io.Reader) (nonce []byte, addr string, err error) {
	head := make([]byte, len(hsMagic)+nonceLen+1)
	// The magic first, so that a plain gRPC client is refused at once.
	if _, err := io.ReadFull(r, head[:len(hsMagic)]); err != nil {
		return nil, "", fmt.Errorf("%w: read hello: %w", ErrHandshake, err)
	}
	if string(head[:len(hsMagic)]) != hsMagic {
		return nil, "", fmt.Errorf("%w: not a distrod cluster handshake (a plain gRPC client, or a peer without a cluster secret?)", ErrHandshake)
	}
	if _, err := io.ReadFull(r, head[len(hsMagic):]); err != nil {
		return nil, "", fmt.Errorf("%w: read hello: %w", ErrHandshake, err)
	}
	nonce = head[len(hsMagic) : len(hsMagic)+nonceLen]
	a := make([]byte, head[len(head)-1])
	if _, err := io.ReadFull(r, a); err != nil {
		return nil, "", fmt.Errorf("%w: read hello: %w", ErrHandshake, err)
	}
	return nonce, string(a), nil
}
