package transport

import (
	"context"
	"net"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/distrod/distrod/internal/distro"
	"github.com/distrod/distrod/internal/hlc"
	"github.com/distrod/distrod/internal/testutil"
)

func allMessages() []distro.Message {
	v := hlc.Version{Clock: 42 << 16, Node: 7}
	recs := []distro.Record{
		{Key: "1.2.3.4:80#true", Version: v, Owner: "a:1", Tag: "1.2.3.4:80", Data: []byte(`[{"x":1}]`)},
		{Key: "123_1.1.1.1_9", Version: v, Owner: "b:1", Tombstone: true},
	}
	return []distro.Message{
		&distro.SyncBatch{Seq: 9, Records: recs},
		&distro.SyncAck{Seq: 9},
		&distro.VerifyDigest{Round: 3, Buckets: []uint64{1, 2, 3}},
		&distro.VerifyRequest{Round: 3, Buckets: []uint32{2}},
		&distro.VerifyKeys{Round: 3, Buckets: []uint32{2}, Entries: []distro.KeyVersion{{Key: "k", Version: v, Tombstone: true, Owned: true}}},
		&distro.PullRequest{Keys: []string{"k1", "k2"}},
		&distro.Records{Records: recs},
		&distro.SnapshotRequest{Session: 5, After: "k", Limit: 100},
		&distro.SnapshotChunk{Session: 5, After: "k", Records: recs, Next: "z", Done: true},
	}
}

func TestEncode_RoundTripsEveryMessage(t *testing.T) {
	for _, m := range allMessages() {
		env, err := Encode("a:1", m)
		if err != nil {
			t.Fatal(err)
		}
		back, err := Decode(env)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(m, back) {
			t.Fatalf("%T: got %+v want %+v", m, back, m)
		}
	}
}

type sink struct {
	mu   sync.Mutex
	got  []distro.Message
	from []string
}

func (s *sink) handle(from string, m distro.Message) {
	s.mu.Lock()
	s.got = append(s.got, m)
	s.from = append(s.from, from)
	s.mu.Unlock()
}

// onMsg is a Handler that records into s.
func (s *sink) onMsg(_ context.Context, from string, m distro.Message) { s.handle(from, m) }

// ignoreMsg is a Handler that drops every message.
func ignoreMsg(context.Context, string, distro.Message) {}

func (s *sink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.got)
}

// member returns the member address of a test node on port.
func member(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

// startNode runs a transport for member 127.0.0.1:port, with its cluster
// port at port+1001, whose members are the nodes on ports.
func startNode(t *testing.T, port int, secret string, h Handler, f FailHandler, ports ...int) *Transport {
	t.Helper()
	return startNodeWith(t, Options{Self: member(port), Secret: secret}, h, f, ports...)
}

func startNodeWith(t *testing.T, o Options, h Handler, f FailHandler, ports ...int) *Transport {
	t.Helper()
	tr := New(o, h, f)
	members := []string{o.Self}
	for _, p := range ports {
		members = append(members, member(p))
	}
	tr.SetMembers(members)
	_, port, _ := net.SplitHostPort(o.Self)
	pn, _ := strconv.Atoi(port)
	lis, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(pn+1001))
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = tr.Serve(lis) }()
	t.Cleanup(tr.Close)
	return tr
}

func TestTransport_HandlerContextEndsWithTheDeliveringStream(t *testing.T) {
	pa, pb := testutil.PortBlock(t), testutil.PortBlock(t)
	ctxs := make(chan context.Context, 16)
	a := startNode(t, pa, "s3cret", ignoreMsg, func(string, distro.Message) {}, pb)
	startNode(t, pb, "s3cret", func(ctx context.Context, _ string, _ distro.Message) { ctxs <- ctx }, func(string, distro.Message) {}, pa)
	a.Send("127.0.0.1:"+strconv.Itoa(pb), &distro.SyncAck{Seq: 1})
	var ctx context.Context
	select {
	case ctx = <-ctxs:
	case <-time.After(10 * time.Second):
		t.Fatal("message not delivered")
	}
	if err := ctx.Err(); err != nil {
		t.Fatalf("handler context done while its stream is open: %v", err)
	}
	a.Close() // ends the stream that delivered the message
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("handler context still live after the delivering stream ended")
	}
}

func TestTransport_DeliversInOrderBetweenRealListeners(t *testing.T) {
	pa, pb := testutil.PortBlock(t), testutil.PortBlock(t)
	var recv sink
	var failed sink
	a := startNode(t, pa, "s3cret", ignoreMsg, failed.handle, pb)
	startNode(t, pb, "s3cret", recv.onMsg, failed.handle, pa)
	to := "127.0.0.1:" + strconv.Itoa(pb)
	msgs := allMessages()
	for _, m := range msgs {
		a.Send(to, m)
	}
	testutil.Eventually(t, 10*time.Second, "all messages delivered", func() error {
		if recv.count() < len(msgs) {
			return context.DeadlineExceeded
		}
		return nil
	})
	for i, m := range msgs {
		if !reflect.DeepEqual(recv.got[i], m) || recv.from[i] != "127.0.0.1:"+strconv.Itoa(pa) {
			t.Fatalf("message %d: got %+v from %s", i, recv.got[i], recv.from[i])
		}
	}
	var sentMsgs, sentBytes uint64
	for _, tr := range a.Traffic() {
		sentMsgs += tr.SentMessages
		sentBytes += tr.SentBytes
	}
	if sentMsgs != uint64(len(msgs)) || sentBytes == 0 {
		t.Fatalf("traffic counters: %d messages, %d bytes", sentMsgs, sentBytes)
	}
	ready, err := a.Ping(context.Background(), to)
	if err != nil || !ready {
		t.Fatalf("ping: %v %v", ready, err)
	}
}

func TestTransport_WrongSecretIsRefused(t *testing.T) {
	pa, pb := testutil.PortBlock(t), testutil.PortBlock(t)
	var recv, failed sink
	a := startNode(t, pa, "wrong", ignoreMsg, failed.handle, pb)
	b := startNode(t, pb, "right", recv.onMsg, failed.handle, pa)
	to := "127.0.0.1:" + strconv.Itoa(pb)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := a.Ping(ctx, to); err == nil {
		t.Fatal("ping with the wrong secret must fail")
	}
	// A stream with the wrong secret delivers nothing, and its end is
	// noticed so later messages are reported as failed.
	testutil.Eventually(t, 10*time.Second, "send reported as failed", func() error {
		a.Send(to, &distro.SyncAck{Seq: 1})
		if failed.count() == 0 {
			return context.DeadlineExceeded
		}
		return nil
	})
	if recv.count() != 0 {
		t.Fatal("unauthenticated messages were delivered")
	}
	if b.Refused()[RefusedHandshake] == 0 {
		t.Fatal("refused handshakes are not counted")
	}
}

func TestTransport_UnreachablePeerReportsFailure(t *testing.T) {
	pa, pdead := testutil.PortBlock(t), testutil.PortBlock(t)
	var failed sink
	a := startNode(t, pa, "", ignoreMsg, failed.handle, pdead)
	a.Send(member(pdead), &distro.SyncAck{Seq: 1})
	testutil.Eventually(t, 20*time.Second, "failure reported", func() error {
		if failed.count() == 0 {
			return context.DeadlineExceeded
		}
		return nil
	})
}

func TestTransport_BlockCutsBothDirectionsUntilHealed(t *testing.T) {
	pa, pb := testutil.PortBlock(t), testutil.PortBlock(t)
	var recvA, recvB, failed sink
	a := startNode(t, pa, "", recvA.onMsg, failed.handle, pb)
	b := startNode(t, pb, "", recvB.onMsg, failed.handle, pa)
	addrA, addrB := "127.0.0.1:"+strconv.Itoa(pa), "127.0.0.1:"+strconv.Itoa(pb)
	a.Block([]string{addrB})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := a.Ping(ctx, addrB); err == nil {
		t.Fatal("ping out of a blocked node must fail")
	}
	if _, err := b.Ping(ctx, addrA); err == nil {
		t.Fatal("ping into a blocked node must fail")
	}
	a.Send(addrB, &distro.SyncAck{Seq: 1})
	if failed.count() != 1 {
		t.Fatal("send to a blocked peer must be reported as failed")
	}
	a.Block(nil)
	testutil.Eventually(t, 10*time.Second, "traffic flows after heal", func() error {
		b.Send(addrA, &distro.SyncAck{Seq: 2})
		if recvA.count() == 0 {
			return context.DeadlineExceeded
		}
		return nil
	})
}
