package nacospb

import (
	"context"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
)

// Full method names of the two Nacos services (the proto has no package).
const (
	MethodRequest  = "/Request/request"
	MethodBiStream = "/BiRequestStream/requestBiStream"
)

// Codec is a grpc-go codec for *Payload. Install it with ServerOption on a
// server and DialOption on a client; it handles nothing but *Payload.
type Codec struct{}

var _ encoding.CodecV2 = Codec{}

// Name returns "proto": on the wire the messages are ordinary protobuf.
func (Codec) Name() string { return "proto" }

// Marshal encodes a *Payload. A payload with a BodyTail is returned as
// three buffers (envelope, Body, BodyTail) that reference Body and
// BodyTail without copying them.
func (Codec) Marshal(v any) (mem.BufferSlice, error) {
	p, ok := v.(*Payload)
	if !ok {
		return nil, fmt.Errorf("nacospb: cannot marshal %T", v)
	}
	if len(p.BodyTail) == 0 {
		return mem.BufferSlice{mem.SliceBuffer(p.Marshal())}, nil
	}
	head := p.appendHead(make([]byte, 0, p.Size()-p.bodyLen()))
	out := mem.BufferSlice{mem.SliceBuffer(head)}
	if len(p.Body) > 0 {
		out = append(out, mem.SliceBuffer(p.Body))
	}
	return append(out, mem.SliceBuffer(p.BodyTail)), nil
}

// Unmarshal decodes into a *Payload.
func (Codec) Unmarshal(data mem.BufferSlice, v any) error {
	p, ok := v.(*Payload)
	if !ok {
		return fmt.Errorf("nacospb: cannot unmarshal into %T", v)
	}
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	return p.Unmarshal(buf.ReadOnlyData())
}

// ServerOption makes a grpc.Server use Codec for every call.
func ServerOption() grpc.ServerOption { return grpc.ForceServerCodecV2(Codec{}) }

// DialOption makes a client connection use Codec for every call.
func DialOption() grpc.DialOption {
	return grpc.WithDefaultCallOptions(grpc.ForceCodecV2(Codec{}))
}

// RequestHandler serves unary /Request/request calls. It is called on a
// grpc-go server goroutine and may block only for as long as the call may.
type RequestHandler interface {
	Request(ctx context.Context, in *Payload) (*Payload, error)
}

// BiStream is the server side of one /BiRequestStream/requestBiStream call.
// Send must not be called concurrently from several goroutines.
type BiStream interface {
	Context() context.Context
	Send(*Payload) error
	Recv() (*Payload, error)
}

// BiStreamHandler serves bidirectional stream calls; returning ends the stream.
type BiStreamHandler interface {
	RequestBiStream(stream BiStream) error
}

type biStream struct{ grpc.ServerStream }

func (s biStream) Send(p *Payload) error { return s.ServerStream.SendMsg(p) }

func (s biStream) Recv() (*Payload, error) {
	p := new(Payload)
	if err := s.ServerStream.RecvMsg(p); err != nil {
		return nil, err
	}
	return p, nil
}

// RegisterRequest registers h as the "Request" service on s.
func RegisterRequest(s grpc.ServiceRegistrar, h RequestHandler) {
	s.RegisterService(&grpc.ServiceDesc{
		ServiceName: "Request",
		HandlerType: (*RequestHandler)(nil),
		Methods: []grpc.MethodDesc{{
			MethodName: "request",
			Handler: func(srv any, ctx context.Context, dec func(any) error, icpt grpc.UnaryServerInterceptor) (any, error) {
				in := new(Payload)
				if err := dec(in); err != nil {
					return nil, err
				}
				if icpt == nil {
					return srv.(RequestHandler).Request(ctx, in)
				}
				info := &grpc.UnaryServerInfo{Server: srv, FullMethod: MethodRequest}
				return icpt(ctx, in, info, func(ctx context.Context, req any) (any, error) {
					return srv.(RequestHandler).Request(ctx, req.(*Payload))
				})
			},
		}},
		Metadata: "nacos_grpc_service.proto",
	}, h)
}

// RegisterBiStream registers h as the "BiRequestStream" service on s.
func RegisterBiStream(s grpc.ServiceRegistrar, h BiStreamHandler) {
	s.RegisterService(&grpc.ServiceDesc{
		ServiceName: "BiRequestStream",
		HandlerType: (*BiStreamHandler)(nil),
		Streams: []grpc.StreamDesc{{
			StreamName:    "requestBiStream",
			ServerStreams: true,
			ClientStreams: true,
			Handler: func(srv any, stream grpc.ServerStream) error {
				return srv.(BiStreamHandler).RequestBiStream(biStream{stream})
			},
		}},
		Metadata: "nacos_grpc_service.proto",
	}, h)
}

// Invoke sends one unary request on cc (which must use DialOption) and
// returns the response.
func Invoke(ctx context.Context, cc grpc.ClientConnInterface, in *Payload, opts ...grpc.CallOption) (*Payload, error) {
	out := new(Payload)
	if err := cc.Invoke(ctx, MethodRequest, in, out, opts...); err != nil {
		return nil, err
	}
	return out, nil
}

// ClientBiStream is the client side of a bi-stream.
type ClientBiStream struct{ grpc.ClientStream }

// Send sends one payload.
func (s ClientBiStream) Send(p *Payload) error { return s.ClientStream.SendMsg(p) }

// Recv receives one payload.
func (s ClientBiStream) Recv() (*Payload, error) {
	p := new(Payload)
	if err := s.ClientStream.RecvMsg(p); err != nil {
		return nil, err
	}
	return p, nil
}

// OpenBiStream opens /BiRequestStream/requestBiStream on cc.
func OpenBiStream(ctx context.Context, cc grpc.ClientConnInterface, opts ...grpc.CallOption) (ClientBiStream, error) {
	desc := &grpc.StreamDesc{StreamName: "requestBiStream", ServerStreams: true, ClientStreams: true}
	cs, err := cc.NewStream(ctx, desc, MethodBiStream, opts...)
	if err != nil {
		return ClientBiStream{}, err
	}
	return ClientBiStream{cs}, nil
}
