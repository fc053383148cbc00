package transport

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/distrod/distrod/internal/distro"
	pb "github.com/distrod/distrod/internal/transport/clusterpb"
)

// Forwarded writes. An HTTP write that reaches a node which does not own
// its record travels to the owner as one unary Forward call on the cluster
// channel, so it is authenticated like every other cluster message, and it
// carries an absolute deadline: the owner refuses it once the deadline has
// passed by its own clock (replica.ForwardExpired), so bytes that a kernel
// delivers long after the entry node gave up never become a fresh write.

// ErrForwardExpired reports that the owner refused a forwarded write
// because its deadline had passed. A ForwardHandler returns it to refuse.
var ErrForwardExpired = errors.New("transport: forwarded write expired before the owner ran it")

// ForwardRequest is an HTTP write that the entry node forwards to the owner
// of its record.
type ForwardRequest struct {
	// Method and RequestURI (path and query) are the client's.
	Method     string
	RequestURI string
	// Header holds the client's headers that matter to the handler.
	Header http.Header
	// Body is the client's request body.
	Body []byte
	// RemoteAddr is the client's "ip:port" as the entry node saw it.
	RemoteAddr string
	// Entry is the entry node's member address.
	Entry string
	// DeadlineMs is when the entry node stops waiting, in Unix milliseconds
	// on its own clock (replica.ForwardDeadline).
	DeadlineMs int64
}

// ForwardResponse is the owner's answer to a forwarded write.
type ForwardResponse struct {
	// Status, ContentType and Body are the HTTP answer for the client.
	Status      int
	ContentType string
	Body        []byte
	// Records are the owner's copies of the records the write touched, read
	// after it ran; the entry node installs them before it answers.
	Records []distro.Record
}

// ForwardHandler runs a write forwarded by a peer on this node. It is
// called on the RPC's goroutine, concurrently with other calls; ctx ends
// when the caller gives up. Returning ErrForwardExpired refuses the write
// as too late; any other error fails the call.
type ForwardHandler func(ctx context.Context, req ForwardRequest) (ForwardResponse, error)

// Forward sends a write to the member at address to and waits, until ctx
// ends, for its answer. It fails with ErrForwardExpired when the owner
// refused the write as too late, ErrBlocked when fault injection cuts the
// link, and a gRPC status error when the call itself failed.
func (t *Transport) Forward(ctx context.Context, to string, req ForwardRequest) (ForwardResponse, error) {
	if t.isBlocked(to) {
		return ForwardResponse{}, fmt.Errorf("transport: forward to %s: %w", to, ErrBlocked)
	}
	if !t.IsMember(to) {
		t.refuse(RefusedUnknownDestination, "refused to forward to an address that is not a member", "to", to)
		return ForwardResponse{}, fmt.Errorf("transport: forward to %s: %w", to, ErrNotMember)
	}
	p, err := t.peer(to)
	if err != nil {
		return ForwardResponse{}, err
	}
	in := &pb.ForwardRequest{
		Method: req.Method, RequestUri: req.RequestURI, Body: req.Body,
		RemoteAddr: req.RemoteAddr, Entry: req.Entry, DeadlineUnixMs: req.DeadlineMs,
	}
	for name, vs := range req.Header {
		in.Headers = append(in.Headers, &pb.ForwardHeader{Name: name, Values: vs})
	}
	out, err := pb.NewClusterClient(p.conn).Forward(ctx, in)
	if err != nil {
		return ForwardResponse{}, fmt.Errorf("transport: forward to %s: %w", to, err)
	}
	if out.GetExpired() {
		return ForwardResponse{}, fmt.Errorf("transport: forward to %s: %w", to, ErrForwardExpired)
	}
	return ForwardResponse{
		Status: int(out.GetStatus()), ContentType: out.GetContentType(), Body: out.GetBody(),
		Records: fromPBRecords(out.GetRecords()),
	}, nil
}

// Forward serves a peer's forwarded write through Options.Forward.
func (s *service) Forward(ctx context.Context, in *pb.ForwardRequest) (*pb.ForwardResponse, error) {
	if err := s.t.checkSender(ctx, in.GetEntry()); err != nil {
		return nil, err
	}
	if s.t.isBlocked(in.GetEntry()) {
		return nil, status.Error(codes.Unavailable, ErrBlocked.Error())
	}
	if s.t.o.Forward == nil {
		return nil, status.Error(codes.Unimplemented, "transport: this node does not take forwarded writes")
	}
	req := ForwardRequest{
		Method: in.GetMethod(), RequestURI: in.GetRequestUri(), Body: in.GetBody(),
		RemoteAddr: in.GetRemoteAddr(), Entry: in.GetEntry(), DeadlineMs: in.GetDeadlineUnixMs(),
		Header: make(http.Header, len(in.GetHeaders())),
	}
	for _, h := range in.GetHeaders() {
		req.Header[http.CanonicalHeaderKey(h.GetName())] = append(req.Header[http.CanonicalHeaderKey(h.GetName())], h.GetValues()...)
	}
	resp, err := s.t.o.Forward(ctx, req)
	if errors.Is(err, ErrForwardExpired) {
		return &pb.ForwardResponse{Expired: true}, nil
	}
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	return &pb.ForwardResponse{
		Status: int32(resp.Status), ContentType: resp.ContentType, Body: resp.Body,
		Records: toPBRecords(resp.Records),
	}, nil
}
