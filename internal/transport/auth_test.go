package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/distrod/distrod/internal/distro"
	"github.com/distrod/distrod/internal/testutil"
	pb "github.com/distrod/distrod/internal/transport/clusterpb"
)

const testSecret = "0123456789abcdef0123456789abcdef"

// rawClient dials a node's cluster port with the given credentials, as an
// attacker (or a misconfigured peer) would, without the Transport.
func rawClient(t *testing.T, port int, creds credentials.TransportCredentials) pb.ClusterClient {
	t.Helper()
	conn, err := grpc.NewClient("127.0.0.1:"+strconv.Itoa(port+1001), grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return pb.NewClusterClient(conn)
}

// sendRaw opens one stream, sends envs and returns the stream's outcome.
func sendRaw(c pb.ClusterClient, envs ...*pb.Envelope) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := c.Stream(ctx)
	if err != nil {
		return err
	}
	for _, e := range envs {
		if err := s.Send(e); err != nil {
			break // the server ended the stream; CloseAndRecv says why
		}
	}
	_, err = s.CloseAndRecv()
	return err
}

// listenCounting accepts connections on a fresh port and counts them, to
// prove that nothing dials an address a message named.
func listenCounting(t *testing.T) (addr string, accepted func() int) {
	t.Helper()
	port := testutil.PortBlock(t)
	lis, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+1001))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lis.Close() })
	n := make(chan int, 1)
	n <- 0
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			n <- <-n + 1
			_ = c.Close()
		}
	}()
	return member(port), func() int { v := <-n; n <- v; return v }
}

func snapshotRequest(from string) *pb.Envelope {
	env, _ := Encode(from, &distro.SnapshotRequest{Session: 1, Limit: 1000})
	return env
}

func TestTransport_UnauthenticatedSnapshotReadIsRefused(t *testing.T) {
	pa, pB := testutil.PortBlock(t), testutil.PortBlock(t)
	var recv sink
	b := startNode(t, pB, testSecret, recv.onMsg, func(string, distro.Message) {}, pa)
	// A plain gRPC client that names a real member as its sender.
	c := rawClient(t, pB, insecure.NewCredentials())
	if err := sendRaw(c, snapshotRequest(member(pa))); status.Code(err) != codes.Unavailable {
		t.Fatalf("stream without the handshake: %v, want Unavailable", err)
	}
	if _, err := c.Ping(context.Background(), &pb.PingRequest{From: member(pa)}); err == nil {
		t.Fatal("ping without the handshake succeeded")
	}
	// A client that runs the handshake with a wrong secret.
	bad := rawClient(t, pB, &secretCreds{self: member(pa), secret: []byte("not" + testSecret), timeout: time.Second})
	if err := sendRaw(bad, snapshotRequest(member(pa))); err == nil {
		t.Fatal("stream with a wrong secret succeeded")
	}
	if recv.count() != 0 {
		t.Fatalf("%d unauthenticated messages reached the handler", recv.count())
	}
	if b.Refused()[RefusedHandshake] < 2 {
		t.Fatalf("refused handshakes = %d, want >= 2", b.Refused()[RefusedHandshake])
	}
}

func TestTransport_IdleUnauthenticatedConnectionIsClosed(t *testing.T) {
	pB := testutil.PortBlock(t)
	const hs = 300 * time.Millisecond
	startNodeWith(t, Options{Self: member(pB), Secret: testSecret, HandshakeTimeout: hs}, ignoreMsg, func(string, distro.Message) {})
	for name, prefix := range map[string][]byte{
		"silent":        nil,
		"stalled hello": []byte(hsMagic + "0123"),
	} {
		t.Run(name, func(t *testing.T) {
			conn, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(pB+1001))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := conn.Write(prefix); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_ = conn.SetReadDeadline(start.Add(10 * hs))
			_, err = io.Copy(io.Discard, conn)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("connection still open after %v (handshake timeout %v)", time.Since(start), hs)
			}
			if d := time.Since(start); d > 5*hs {
				t.Fatalf("closed after %v, handshake timeout %v", d, hs)
			}
		})
	}
}

func TestTransport_NonMemberWithTheSecretIsRefused(t *testing.T) {
	pa, pB, pc := testutil.PortBlock(t), testutil.PortBlock(t), testutil.PortBlock(t)
	var recv sink
	b := startNode(t, pB, testSecret, recv.onMsg, func(string, distro.Message) {}, pa)
	// c knows the secret and lists b, but b does not list c.
	c := startNode(t, pc, testSecret, ignoreMsg, func(string, distro.Message) {}, pB)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Ping(ctx, member(pB)); err == nil {
		t.Fatal("a non-member's probe was answered")
	}
	if b.Refused()[RefusedHandshake] == 0 {
		t.Fatal("non-member connection not counted")
	}
	if recv.count() != 0 {
		t.Fatal("non-member message delivered")
	}
}

func TestTransport_ForgedFromIsRefusedAndNeverDialled(t *testing.T) {
	pa, pB := testutil.PortBlock(t), testutil.PortBlock(t)
	forged, accepted := listenCounting(t)
	var recv, failed sink
	var b *Transport
	// The handler answers like the Distro core: to the message's sender.
	reply := func(_ context.Context, from string, m distro.Message) {
		recv.handle(from, m)
		b.Send(from, &distro.SyncAck{Seq: 1})
	}
	b = startNode(t, pB, testSecret, reply, failed.handle, pa)
	// An authenticated member (a) that puts someone else's address in From.
	c := rawClient(t, pB, &secretCreds{self: member(pa), secret: []byte(testSecret), timeout: time.Second, expect: member(pB)})
	err := sendRaw(c, snapshotRequest(forged))
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("forged From: %v, want PermissionDenied", err)
	}
	// Its own address is accepted on a new stream.
	if err := sendRaw(c, snapshotRequest(member(pa))); err != nil {
		t.Fatalf("genuine From: %v", err)
	}
	testutil.Eventually(t, 5*time.Second, "genuine message delivered", func() error {
		if recv.count() != 1 {
			return errors.New("not yet")
		}
		return nil
	})
	// Sending to an address that is not a member fails at once, without
	// dialling it.
	b.Send(forged, &distro.SyncAck{Seq: 2})
	failed.mu.Lock()
	failedForged := slices.Contains(failed.from, forged)
	failed.mu.Unlock()
	if !failedForged {
		t.Fatal("send to a non-member not reported as failed")
	}
	if _, err := b.Ping(context.Background(), forged); !errors.Is(err, ErrNotMember) {
		t.Fatalf("ping of a non-member: %v", err)
	}
	// The same for forwarded writes: in another member's name, or to a
	// non-member.
	if _, err := c.Forward(context.Background(), &pb.ForwardRequest{Entry: forged}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("forward with a forged entry: %v", err)
	}
	if _, err := b.Forward(context.Background(), forged, ForwardRequest{Entry: member(pB)}); !errors.Is(err, ErrNotMember) {
		t.Fatalf("forward to a non-member: %v", err)
	}
	r := b.Refused()
	if r[RefusedForgedFrom] != 2 || r[RefusedUnknownDestination] != 3 || accepted() != 0 {
		t.Fatalf("refused %v, forged address dialled %d times", r, accepted())
	}
}

func TestTransport_ManyForgedSendersCostNoGoroutines(t *testing.T) {
	pa, pB := testutil.PortBlock(t), testutil.PortBlock(t)
	// Without a secret (cluster-insecure) anyone can connect, so this is
	// the weakest setting: membership alone must bound what forged senders
	// cost.
	var b *Transport
	reply := func(_ context.Context, from string, m distro.Message) { b.Send(from, &distro.SyncAck{Seq: 1}) }
	b = startNode(t, pB, "", reply, func(string, distro.Message) {}, pa)
	c := rawClient(t, pB, insecure.NewCredentials())
	if err := sendRaw(c, snapshotRequest(member(pa))); err != nil {
		t.Fatalf("warm-up: %v", err)
	}
	before := runtime.NumGoroutine()
	const n = 1000
	for i := range n {
		from := "10.99." + strconv.Itoa(i/250) + "." + strconv.Itoa(i%250) + ":8848"
		if err := sendRaw(c, snapshotRequest(from)); status.Code(err) != codes.PermissionDenied {
			t.Fatalf("forged sender %s: %v", from, err)
		}
		b.Send(from, &distro.SyncAck{Seq: 1})
	}
	if got := b.Refused()[RefusedNotMember]; got != n {
		t.Fatalf("refused %d forged senders, want %d", got, n)
	}
	b.mu.Lock()
	peers := len(b.peers)
	b.mu.Unlock()
	// Finished streams release their goroutines asynchronously.
	testutil.Eventually(t, 5*time.Second, "goroutines back to their level", func() error {
		if g := runtime.NumGoroutine(); g > before+20 || peers > 1 {
			return errors.New("goroutines " + strconv.Itoa(g) + " (before " + strconv.Itoa(before) + "), peers " + strconv.Itoa(peers))
		}
		return nil
	})
}

func TestTransport_HandshakesInProgressAreBounded(t *testing.T) {
	pB := testutil.PortBlock(t)
	b := startNodeWith(t, Options{Self: member(pB), Secret: testSecret, HandshakeTimeout: time.Minute, MaxHandshakes: 2},
		ignoreMsg, func(string, distro.Message) {})
	dial := func() net.Conn {
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(pB+1001))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	// Two silent connections take both slots...
	for range 2 {
		dial()
	}
	// ...so a third one is closed at once, long before the handshake
	// timeout; earlier ones may still be taking their slots, so retry.
	testutil.Eventually(t, 10*time.Second, "third connection closed at once", func() error {
		c := dial()
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, err := c.Read(make([]byte, 1))
		var ne net.Error
		if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
			return fmt.Errorf("still open: %v", err)
		}
		return nil
	})
	if b.Refused()[RefusedHandshake] == 0 {
		t.Fatal("refusal not counted")
	}
}
