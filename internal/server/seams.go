package server

import (
	"context"
	"net"

	"github.com/distrod/distrod/internal/distro"
	"github.com/distrod/distrod/internal/transport"
)

// peerLink is the cluster transport as the cluster loop, the metrics and
// the fault-injection endpoint use it: messages out, probes, the member
// view, and counters. transport.Transport implements it over gRPC; the
// in-process cluster tests use an in-memory network.
type peerLink interface {
	// Send queues msg for to and never blocks; an undeliverable message is
	// reported to the FailHandler the link was built with.
	Send(to string, msg distro.Message)
	// Ping probes a member and reports whether it is ready.
	Ping(ctx context.Context, to string) (ready bool, err error)
	// SetMembers sets the addresses the link talks to.
	SetMembers(addrs []string)
	// Forget drops what the link holds for a member that left.
	Forget(addr string)
	// Serve accepts peers on lis until Close.
	Serve(lis net.Listener) error
	// Close stops the link; messages are no longer delivered.
	Close()
	// Block cuts the link to peers in both directions (fault injection).
	Block(peers []string)
	// IsBlocked reports whether Block cuts this node off from addr (the
	// control plane's Raft port honours the same partition); IsMember
	// whether addr is a current member other than this node; Members
	// those members, sorted.
	IsBlocked(addr string) bool
	IsMember(addr string) bool
	Members() []string
	// Traffic and Refused are the link's cumulative counters.
	Traffic() []transport.Traffic
	Refused() [transport.NumRefusals]uint64
}

// ownerCaller is the cluster transport as the forwarder's entry side uses
// it: one call that runs a write on its owner.
type ownerCaller interface {
	Forward(ctx context.Context, to string, req transport.ForwardRequest) (transport.ForwardResponse, error)
}

// clusterLink is one node's cluster transport: both seams.
type clusterLink interface {
	peerLink
	ownerCaller
}

// linkFactory builds a node's cluster transport: o.Forward runs writes
// peers forward to this node, onMsg receives their messages and onFail
// hears of messages that could not be delivered.
type linkFactory func(o transport.Options, onMsg transport.Handler, onFail transport.FailHandler) clusterLink

// grpcLink is the production linkFactory: the gRPC cluster transport.
func grpcLink(o transport.Options, onMsg transport.Handler, onFail transport.FailHandler) clusterLink {
	return transport.New(o, onMsg, onFail)
}
