package transport

import (
	"context"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/distrod/distrod/internal/tlsfiles"
)

// Handshaker runs the cluster handshake of auth.go on plain TCP
// connections, for cluster protocols other than the Distro gRPC channel
// (the Raft port): the same secret, the same mutual TLS, the same member
// binding. Without a secret it passes connections through unchanged, as
// the gRPC channel does with cluster-insecure.
type Handshaker struct {
	creds *secretCreds // nil without a secret
}

// NewHandshaker returns a Handshaker for member self. accept decides, on
// the server side, whether an authenticated peer address may connect (nil
// accepts every peer that proved the secret).
func NewHandshaker(self, secret string, tlsSrc *tlsfiles.Source, timeout time.Duration, accept func(peer string) error) *Handshaker {
	if secret == "" {
		return &Handshaker{}
	}
	if timeout <= 0 {
		timeout = 3 * time.Second
	}
	sc := &secretCreds{self: self, secret: []byte(secret), timeout: timeout, accept: accept, tls: tlsSrc,
		slots: make(chan struct{}, 256)}
	if tlsSrc != nil {
		sc.tlsServer = tlsSrc.ServerConfig()
	}
	return &Handshaker{creds: sc}
}

// Authenticates reports whether connections prove the cluster secret.
func (h *Handshaker) Authenticates() bool { return h.creds != nil }

// Client authenticates a connection this node dialled to member expect and
// returns the connection to use from then on.
func (h *Handshaker) Client(ctx context.Context, conn net.Conn, expect string) (net.Conn, error) {
	if h.creds == nil {
		return conn, nil
	}
	c := *h.creds
	c.expect = expect
	out, _, err := c.ClientHandshake(ctx, "", conn)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Server authenticates a connection this node accepted and returns the
// connection to use from then on and the member address the peer proved
// it speaks for ("" without a secret).
func (h *Handshaker) Server(conn net.Conn) (net.Conn, string, error) {
	if h.creds == nil {
		return conn, "", nil
	}
	// ServerHandshake bounds the handshakes in progress, as on the
	// cluster port.
	out, info, err := h.creds.ServerHandshake(conn)
	if err != nil {
		return nil, "", err
	}
	ai, _ := info.(AuthInfo)
	if err := out.SetDeadline(time.Time{}); err != nil {
		return nil, "", fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	return out, ai.Peer, nil
}

// IsBlocked reports whether fault injection (Block) cuts this node off
// from member addr, so that other cluster protocols can honour the same
// partition.
func (t *Transport) IsBlocked(addr string) bool { return t.isBlocked(addr) }

// Members returns the current members other than this node, sorted, as
// last given to SetMembers.
func (t *Transport) Members() []string {
	m := t.members.Load()
	if m == nil {
		return nil
	}
	out := make([]string, 0, len(*m))
	for a := range *m {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}
