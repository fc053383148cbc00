package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/distrod/distrod/internal/distro"
	"github.com/distrod/distrod/internal/transport"
	pb "github.com/distrod/distrod/internal/transport/clusterpb"
)

// errUnreachable is what a memNet link reports for a node that is not on
// the network (never started, or closed).
var errUnreachable = errors.New("memnet: node unreachable")

// memNet is an in-memory cluster network for in-process clusters: its
// link method is a linkFactory, and each link implements both seams of
// the cluster transport (peerLink, ownerCaller). Messages go through the
// wire encoding (transport.Encode, protobuf, transport.Decode), so no node
// shares memory with another; each link delivers its inbound messages in
// order on one goroutine, which Close joins.
type memNet struct {
	mu       sync.Mutex
	links    map[string]*memLink
	forwards map[[2]string]int // (entry, owner) → forwarded writes
}

func newMemNet() *memNet {
	return &memNet{links: map[string]*memLink{}, forwards: map[[2]string]int{}}
}

// link is a linkFactory.
func (n *memNet) link(o transport.Options, onMsg transport.Handler, onFail transport.FailHandler) clusterLink {
	ctx, cancel := context.WithCancel(context.Background())
	l := &memLink{net: n, o: o, onMsg: onMsg, onFail: onFail, stream: ctx, cancel: cancel,
		wake: make(chan struct{}, 1), closed: ctx.Done(), stopped: make(chan struct{})}
	n.mu.Lock()
	n.links[o.Self] = l
	n.mu.Unlock()
	go l.deliver()
	return l
}

// Forwards returns how many writes entry forwarded to owner.
func (n *memNet) Forwards(entry, owner string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.forwards[[2]string{entry, owner}]
}

// reach returns the open link at addr.
func (n *memNet) reach(addr string) (*memLink, error) {
	n.mu.Lock()
	l := n.links[addr]
	n.mu.Unlock()
	if l == nil {
		return nil, fmt.Errorf("%w: %s", errUnreachable, addr)
	}
	select {
	case <-l.closed:
		return nil, fmt.Errorf("%w: %s (closed)", errUnreachable, addr)
	default:
		return l, nil
	}
}

type memDelivery struct {
	from string
	wire []byte
}

// memLink is one node's endpoint on a memNet.
type memLink struct {
	net    *memNet
	o      transport.Options
	onMsg  transport.Handler
	onFail transport.FailHandler

	mu      sync.Mutex
	members map[string]bool
	blocked []string
	inbox   []memDelivery

	wake chan struct{}
	// stream stands for the context of the peer streams that deliver to
	// this link: done, and closed with it, once Close runs.
	stream    context.Context
	cancel    context.CancelFunc
	closed    <-chan struct{}
	stopped   chan struct{} // closed when deliver returns
	closeOnce sync.Once
}

// allowed reports whether this link may talk to addr: a current member,
// not blocked.
func (l *memLink) allowed(addr string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case slices.Contains(l.blocked, addr):
		return fmt.Errorf("memnet: %s: %w", addr, transport.ErrBlocked)
	case !l.members[addr]:
		return fmt.Errorf("memnet: %s: %w", addr, transport.ErrNotMember)
	}
	return nil
}

// Send implements peerLink.
func (l *memLink) Send(to string, msg distro.Message) {
	dst, err := l.route(to)
	if err != nil {
		l.onFail(to, msg)
		return
	}
	env, err := transport.Encode(l.o.Self, msg)
	if err != nil {
		l.onFail(to, msg)
		return
	}
	wire, err := proto.Marshal(env)
	if err != nil {
		l.onFail(to, msg)
		return
	}
	dst.mu.Lock()
	dst.inbox = append(dst.inbox, memDelivery{from: l.o.Self, wire: wire})
	dst.mu.Unlock()
	select {
	case dst.wake <- struct{}{}:
	default:
	}
}

func (l *memLink) route(to string) (*memLink, error) {
	if err := l.allowed(to); err != nil {
		return nil, err
	}
	return l.net.reach(to)
}

// deliver hands inbound messages to onMsg in arrival order until Close.
func (l *memLink) deliver() {
	defer close(l.stopped)
	for {
		select {
		case <-l.closed:
			return
		case <-l.wake:
		}
		l.mu.Lock()
		batch := l.inbox
		l.inbox = nil
		l.mu.Unlock()
		for _, d := range batch {
			if l.allowed(d.from) != nil {
				continue // as the transport refuses non-members and blocked peers
			}
			var env pb.Envelope
			if err := proto.Unmarshal(d.wire, &env); err != nil {
				continue
			}
			msg, err := transport.Decode(&env)
			if err != nil {
				continue
			}
			select {
			case <-l.closed:
				return
			default:
			}
			l.onMsg(l.stream, d.from, msg)
		}
	}
}

// Ping implements peerLink.
func (l *memLink) Ping(ctx context.Context, to string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	dst, err := l.route(to)
	if err != nil {
		return false, err
	}
	if dst.allowed(l.o.Self) != nil {
		return false, fmt.Errorf("memnet: %s refuses %s", to, l.o.Self)
	}
	return dst.o.Ready == nil || dst.o.Ready(), nil
}

// Forward implements ownerCaller: it runs req on the owner's
// ForwardHandler, with copies of what crosses the network.
func (l *memLink) Forward(ctx context.Context, to string, req transport.ForwardRequest) (transport.ForwardResponse, error) {
	dst, err := l.route(to)
	if err != nil {
		return transport.ForwardResponse{}, err
	}
	if dst.o.Forward == nil {
		return transport.ForwardResponse{}, fmt.Errorf("memnet: %s runs no forwarded writes", to)
	}
	l.net.mu.Lock()
	l.net.forwards[[2]string{l.o.Self, to}]++
	l.net.mu.Unlock()
	req.Header = req.Header.Clone()
	req.Body = bytes.Clone(req.Body)
	resp, err := dst.o.Forward(ctx, req)
	if err != nil {
		return transport.ForwardResponse{}, fmt.Errorf("memnet: forward to %s: %w", to, err)
	}
	resp.Body = bytes.Clone(resp.Body)
	recs := make([]distro.Record, len(resp.Records))
	for i, r := range resp.Records {
		r.Data = bytes.Clone(r.Data)
		recs[i] = r
	}
	resp.Records = recs
	return resp, nil
}

// SetMembers implements peerLink.
func (l *memLink) SetMembers(addrs []string) {
	m := make(map[string]bool, len(addrs))
	for _, a := range addrs {
		if a != l.o.Self {
			m[a] = true
		}
	}
	l.mu.Lock()
	l.members = m
	l.mu.Unlock()
}

// Forget implements peerLink; a memLink holds nothing per peer.
func (l *memLink) Forget(string) {}

// Serve implements peerLink: peers reach a memLink through the memNet, so
// it closes lis (if any) and waits for Close.
func (l *memLink) Serve(lis net.Listener) error {
	if lis != nil {
		_ = lis.Close()
	}
	<-l.closed
	return nil
}

// Close implements peerLink: it takes the node off the network and joins
// its delivery goroutine.
func (l *memLink) Close() {
	l.closeOnce.Do(l.cancel)
	<-l.stopped
}

// Block implements peerLink.
func (l *memLink) Block(peers []string) {
	l.mu.Lock()
	l.blocked = slices.Clone(peers)
	l.mu.Unlock()
}

// IsBlocked implements peerLink.
func (l *memLink) IsBlocked(addr string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Contains(l.blocked, addr)
}

// IsMember implements peerLink.
func (l *memLink) IsMember(addr string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.members[addr]
}

// Members implements peerLink.
func (l *memLink) Members() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, 0, len(l.members))
	for a := range l.members {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}

// Traffic implements peerLink; a memLink keeps no counters.
func (l *memLink) Traffic() []transport.Traffic { return nil }

// Refused implements peerLink; a memLink keeps no counters.
func (l *memLink) Refused() [transport.NumRefusals]uint64 {
	return [transport.NumRefusals]uint64{}
}
