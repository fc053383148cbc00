package transport

import (
	"context"
	"errors"
	"net"
	"net/http"
	"reflect"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/distrod/distrod/internal/distro"
	"github.com/distrod/distrod/internal/hlc"
	"github.com/distrod/distrod/internal/testutil"
)

// clientNode is the member address of the transports newClientNode builds;
// the nodes startForwardNode runs count it as a member.
const clientNode = "127.0.0.1:1"

// startForwardNode runs a transport whose Forward handler is fwd.
func startForwardNode(t *testing.T, secret string, fwd ForwardHandler) string {
	t.Helper()
	port := testutil.PortBlock(t)
	self := "127.0.0.1:" + strconv.Itoa(port)
	tr := New(Options{Self: self, Secret: secret, Forward: fwd}, ignoreMsg, func(string, distro.Message) {})
	tr.SetMembers([]string{self, clientNode})
	lis, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+1001))
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = tr.Serve(lis) }()
	t.Cleanup(tr.Close)
	return self
}

func newClientNode(t *testing.T, secret, owner string) *Transport {
	t.Helper()
	tr := New(Options{Self: clientNode, Secret: secret}, ignoreMsg, func(string, distro.Message) {})
	tr.SetMembers([]string{clientNode, owner})
	t.Cleanup(tr.Close)
	return tr
}

// TestForward_CarriesRequestAndAnswerWithRecords checks every field of a
// forwarded write and of its answer across real listeners.
func TestForward_CarriesRequestAndAnswerWithRecords(t *testing.T) {
	recs := []distro.Record{
		{Key: "10.0.0.1:80#true|public##DEFAULT_GROUP@@s", Version: hlc.Version{Clock: 7 << 16, Node: 3}, Owner: "o:1", Tag: "10.0.0.1:80", Data: []byte{1, 2}},
		{Key: "svc:public##DEFAULT_GROUP@@s", Version: hlc.Version{Clock: 8 << 16, Node: 3}, Owner: "o:1", Tombstone: true},
	}
	var got ForwardRequest
	owner := startForwardNode(t, "s3cret", func(_ context.Context, req ForwardRequest) (ForwardResponse, error) {
		got = req
		return ForwardResponse{Status: 400, ContentType: "text/plain", Body: []byte("no"), Records: recs}, nil
	})
	a := newClientNode(t, "s3cret", owner)
	req := ForwardRequest{
		Method: "POST", RequestURI: "/nacos/v1/ns/instance?serviceName=s",
		Header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Accesstoken": {"t1", "t2"}},
		Body:   []byte("ip=10.0.0.1&port=80"), RemoteAddr: "10.9.9.9:5555", Entry: clientNode, DeadlineMs: 123456,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := a.Forward(ctx, owner, req)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, req) {
		t.Fatalf("owner got %+v, want %+v", got, req)
	}
	want := ForwardResponse{Status: 400, ContentType: "text/plain", Body: []byte("no"), Records: recs}
	if !reflect.DeepEqual(resp, want) {
		t.Fatalf("answer %+v, want %+v", resp, want)
	}
}

// TestForward_ExpiredWrongSecretAndBlocked checks the refusals: an expired
// write, a caller without the cluster secret (the handler never runs), a
// blocked link.
func TestForward_ExpiredWrongSecretAndBlocked(t *testing.T) {
	var runs atomic.Int32
	owner := startForwardNode(t, "right", func(_ context.Context, req ForwardRequest) (ForwardResponse, error) {
		runs.Add(1)
		if req.DeadlineMs == 1 {
			return ForwardResponse{}, ErrForwardExpired
		}
		return ForwardResponse{Status: 200}, nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	good := newClientNode(t, "right", owner)
	if _, err := good.Forward(ctx, owner, ForwardRequest{Entry: clientNode, DeadlineMs: 1}); !errors.Is(err, ErrForwardExpired) {
		t.Fatalf("expired write: %v", err)
	}
	bad := newClientNode(t, "wrong", owner)
	// The handshake fails, so the call never reaches the owner's server.
	if _, err := bad.Forward(ctx, owner, ForwardRequest{Entry: clientNode, DeadlineMs: 2}); status.Code(errors.Unwrap(err)) != codes.Unavailable {
		t.Fatalf("wrong secret: %v", err)
	}
	if runs.Load() != 1 {
		t.Fatalf("handler ran %d times, want 1 (only the authenticated call)", runs.Load())
	}
	good.Block([]string{owner})
	if _, err := good.Forward(ctx, owner, ForwardRequest{Entry: clientNode, DeadlineMs: 2}); !errors.Is(err, ErrBlocked) {
		t.Fatalf("blocked link: %v", err)
	}
	good.Block(nil)
	if resp, err := good.Forward(ctx, owner, ForwardRequest{Entry: clientNode, DeadlineMs: 2}); err != nil || resp.Status != 200 {
		t.Fatalf("after heal: %+v %v", resp, err)
	}
}
