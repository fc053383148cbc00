package nacosgrpc

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// transportCreds returns the credentials of the SDK port: plaintext without
// a TLS configuration, TLS with one, and with compatibility both, told
// apart by each connection's first byte.
func transportCreds(cfg *tls.Config, compatibility bool) credentials.TransportCredentials {
	if cfg == nil {
		return plainCreds{insecure.NewCredentials()}
	}
	creds := credentials.NewTLS(cfg)
	if !compatibility {
		return creds
	}
	return &tlsOrPlain{tls: creds}
}

// plainCreds is plaintext that hands grpc-go the accepted *net.TCPConn
// itself instead of the listener wrappers (trackedConn, the per-IP
// limit's conn). grpc-go reads a bare TCP connection with a read buffer
// taken from a pool only while data is ready, where a wrapped one gets a
// bufio.Reader of ReadBufferSize for its whole life: 8 KiB per idle
// connection. The wrappers are still closed, by the stats handler when the
// transport ends (ConnEnd), or by grpc-go itself when the transport never
// starts (it closes the conn it accepted).
type plainCreds struct {
	credentials.TransportCredentials
}

// netConner is a connection wrapper that exposes the wrapped connection.
type netConner interface{ NetConn() net.Conn }

func (c plainCreds) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	inner := conn
	for {
		w, ok := inner.(netConner)
		if !ok {
			break
		}
		inner = w.NetConn()
	}
	if _, ok := inner.(*net.TCPConn); !ok {
		inner = conn
	}
	return inner, plainInfo{credentials.CommonAuthInfo{SecurityLevel: credentials.NoSecurity}}, nil
}

func (c plainCreds) Clone() credentials.TransportCredentials {
	return plainCreds{c.TransportCredentials.Clone()}
}

// tlsRecordHandshake is the first byte of every TLS connection (the record
// type of the ClientHello). A plaintext gRPC connection starts with the
// HTTP/2 preface "PRI * HTTP/2.0", so the two never collide.
const tlsRecordHandshake = 0x16

// tlsOrPlain serves TLS to clients that start a TLS handshake and
// plaintext to the others (Nacos's "compatibility" mode), so that clients
// can move to TLS one at a time.
type tlsOrPlain struct {
	tls credentials.TransportCredentials
}

// plainInfo is the AuthInfo of a plaintext connection.
type plainInfo struct{ credentials.CommonAuthInfo }

func (plainInfo) AuthType() string { return "insecure" }

func (c *tlsOrPlain) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	// grpc-go bounds the whole handshake with its connection timeout, so
	// a client that never sends a byte does not hold this read for ever.
	first := make([]byte, 1)
	if _, err := io.ReadFull(conn, first); err != nil {
		return nil, nil, fmt.Errorf("nacosgrpc: first byte: %w", err)
	}
	pc := &prefixConn{Conn: conn, prefix: first}
	if first[0] == tlsRecordHandshake {
		return c.tls.ServerHandshake(pc)
	}
	return pc, plainInfo{credentials.CommonAuthInfo{SecurityLevel: credentials.NoSecurity}}, nil
}

func (c *tlsOrPlain) ClientHandshake(ctx context.Context, authority string, conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return c.tls.ClientHandshake(ctx, authority, conn)
}

func (c *tlsOrPlain) Info() credentials.ProtocolInfo { return c.tls.Info() }

func (c *tlsOrPlain) Clone() credentials.TransportCredentials {
	return &tlsOrPlain{tls: c.tls.Clone()}
}

// OverrideServerName is deprecated in grpc-go and unused by servers.
func (c *tlsOrPlain) OverrideServerName(string) error { return nil }

// prefixConn replays bytes already read from a connection before reading
// on from it.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Read(b []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(b, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(b)
}
