package cp

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"

	"github.com/distrod/distrod/internal/naming"
	"github.com/distrod/distrod/internal/transport"
)

// Options configure a Node.
type Options struct {
	// Self is this node's member address ("ip:port", the HTTP port); it is
	// its Raft server id.
	Self string
	// Members are the member addresses of the cluster, Self included; every
	// node must be given the same list on its first start, which becomes
	// the Raft configuration. Ignored when Standalone.
	Members []string
	// ResolveMembers, when set, is asked for the member list instead of
	// Members, and only when the node bootstraps (its first start).
	ResolveMembers func() ([]string, error)
	// Standalone runs a single-voter Raft without a network transport.
	Standalone bool
	// DataDir holds the Raft log, stable store and snapshots.
	DataDir string
	// PortOffset maps a member address to its Raft address (default -1000).
	PortOffset int
	// Blocked, when set, reports members this node is cut off from by fault
	// injection: connections to and from them fail.
	Blocked func(member string) bool
	// Handshake authenticates Raft connections as the cluster port does.
	Handshake *transport.Handshaker
	// HeartbeatTimeout tunes Raft's timing: election and heartbeat timeouts
	// equal it, the leader lease is half of it (default 1s).
	HeartbeatTimeout time.Duration
	// WriteTimeout bounds a write, including the wait for a leader
	// (default 3s).
	WriteTimeout time.Duration
	// FSM is the state machine to run (default a new one telling
	// OnChange).
	FSM *FSM
	// OnChange is told which services' instances an override changed;
	// used only when FSM is nil.
	OnChange func([]naming.ServiceKey)
	// Logger receives Raft and control plane events.
	Logger *slog.Logger
}

// Node is one member of the control plane.
type Node struct {
	o      Options
	fsm    *FSM
	raft   *raft.Raft
	log    *slog.Logger
	bolt   *raftboltdb.BoltStore
	stream *streamLayer // nil when standalone
	nt     *raft.NetworkTransport
	// fwd keeps connections to the leader for forwarded writes.
	fwd fwdPool

	closeOnce sync.Once
}

// standaloneID is the Raft server id of a standalone node.
const standaloneID = "standalone"

// forwardByte starts a forwarded write on the Raft port; Raft's own RPC
// types are small integers, so the two never meet.
const forwardByte = 'F'

// maxCommandBytes bounds a forwarded command or answer.
const maxCommandBytes = 4 << 20

// RaftAddr returns the Raft address of member (host:port+offset).
func RaftAddr(member string, offset int) string {
	host, p, err := net.SplitHostPort(member)
	if err != nil {
		return member
	}
	port, _ := strconv.Atoi(p)
	return net.JoinHostPort(host, strconv.Itoa(port+offset))
}

// Open starts the node. In cluster mode lis is the Raft port's listener
// (the node owns it from then on); it is ignored when standalone.
func Open(o Options, lis net.Listener) (*Node, error) {
	if o.PortOffset == 0 {
		o.PortOffset = -1000
	}
	if o.HeartbeatTimeout <= 0 {
		o.HeartbeatTimeout = time.Second
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 3 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Handshake == nil {
		o.Handshake = transport.NewHandshaker(o.Self, "", nil, 0, nil)
	}
	if o.Standalone {
		// A fixed id: a standalone node's advertised address may change
		// between starts, and a single voter that is not itself never
		// elects a leader.
		o.Self = standaloneID
	}
	n := &Node{o: o, fsm: o.FSM, log: o.Logger}
	if n.fsm == nil {
		n.fsm = NewFSM(o.OnChange)
	}
	dir := filepath.Join(o.DataDir, "raft")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("cp: data dir: %w", err)
	}
	var err error
	// A data directory in use by another process is an error, not a wait.
	n.bolt, err = raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, "raft.db"),
		BoltOptions: &bbolt.Options{Timeout: 3 * time.Second}})
	if err != nil {
		return nil, fmt.Errorf("cp: open log %s (is another process using this data directory?): %w", dir, err)
	}
	hl := hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Warn, Output: slogWriter{o.Logger}, DisableTime: true})
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, 2, hl)
	if err != nil {
		_ = n.bolt.Close()
		return nil, fmt.Errorf("cp: snapshot store: %w", err)
	}
	var trans raft.Transport
	selfAddr := raft.ServerAddress(RaftAddr(o.Self, o.PortOffset))
	if o.Standalone {
		_, it := raft.NewInmemTransport(selfAddr)
		trans = it
	} else {
		n.stream = newStreamLayer(lis, o, n.serveForward)
		n.nt = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
			Stream: n.stream, MaxPool: 3, Timeout: 5 * time.Second, Logger: hl,
		})
		trans = n.nt
	}
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(o.Self)
	rc.HeartbeatTimeout = o.HeartbeatTimeout
	rc.ElectionTimeout = o.HeartbeatTimeout
	rc.LeaderLeaseTimeout = o.HeartbeatTimeout / 2
	rc.CommitTimeout = 20 * time.Millisecond
	// Raft checks every SnapshotInterval to 2x that whether SnapshotThreshold
	// entries were appended since the last snapshot. At 30s, a cluster
	// registering 100k persistent instances in 40s took no snapshot at
	// all, and a full restart replayed all 100k entries. A snapshot copies
	// the maps under the FSM lock (10ms for 62.5k instances) and encodes
	// them beside Apply, so checking often costs little.
	rc.SnapshotThreshold = 1024
	rc.SnapshotInterval = 5 * time.Second
	rc.Logger = hl
	has, err := raft.HasExistingState(n.bolt, n.bolt, snaps)
	if err != nil {
		n.closeStores()
		return nil, fmt.Errorf("cp: read state: %w", err)
	}
	if !has {
		// Every member bootstraps the same configuration from the same
		// member list; Raft accepts identical bootstraps, and a restarted
		// node never bootstraps again (it has state).
		cfg := raft.Configuration{}
		members := o.Members
		if o.ResolveMembers != nil && !o.Standalone {
			if members, err = o.ResolveMembers(); err != nil {
				n.closeStores()
				return nil, fmt.Errorf("cp: member list for the first start: %w", err)
			}
		}
		if o.Standalone || len(members) == 0 {
			members = []string{o.Self}
		}
		for _, m := range members {
			cfg.Servers = append(cfg.Servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(m),
				Address: raft.ServerAddress(RaftAddr(m, o.PortOffset))})
		}
		if err := raft.BootstrapCluster(rc, n.bolt, n.bolt, snaps, trans, cfg); err != nil {
			n.closeStores()
			return nil, fmt.Errorf("cp: bootstrap: %w", err)
		}
	}
	n.raft, err = raft.NewRaft(rc, n.fsm, n.bolt, n.bolt, snaps, trans)
	if err != nil {
		n.closeStores()
		return nil, fmt.Errorf("cp: start raft: %w", err)
	}
	return n, nil
}

func (n *Node) closeStores() {
	if n.nt != nil {
		_ = n.nt.Close()
	}
	_ = n.bolt.Close()
}

// Close stops Raft and closes the stores and the listener.
func (n *Node) Close() error {
	var err error
	n.closeOnce.Do(func() {
		if f := n.raft.Shutdown(); f.Error() != nil {
			err = fmt.Errorf("cp: shutdown: %w", f.Error())
		}
		n.closeStores()
		n.fwd.close()
	})
	return err
}

// IsLeader reports whether this node is the Raft leader now.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// FSM returns the applied state, for reads.
func (n *Node) FSM() *FSM { return n.fsm }

// Status describes the node's view of the control plane.
type Status struct {
	State        string   `json:"state"`
	Leader       string   `json:"leader"`
	Term         uint64   `json:"term"`
	AppliedIndex uint64   `json:"appliedIndex"`
	CommitIndex  uint64   `json:"commitIndex"`
	Voters       []string `json:"voters"`
}

// Status returns the node's Raft status.
func (n *Node) Status() Status {
	_, id := n.raft.LeaderWithID()
	st := n.raft.Stats()
	term, _ := strconv.ParseUint(st["term"], 10, 64)
	commit, _ := strconv.ParseUint(st["commit_index"], 10, 64)
	s := Status{State: n.raft.State().String(), Leader: string(id), Term: term,
		AppliedIndex: n.raft.AppliedIndex(), CommitIndex: commit}
	if f := n.raft.GetConfiguration(); f.Error() == nil {
		for _, srv := range f.Configuration().Servers {
			s.Voters = append(s.Voters, string(srv.ID))
		}
	}
	return s
}

// Apply runs c on the leader, forwarding it when this node is not the
// leader, and returns the command's own error. It fails with ErrNoLeader
// when no leader accepted it within the write timeout.
func (n *Node) Apply(ctx context.Context, c Command) error {
	if c.TimeMs == 0 {
		c.TimeMs = time.Now().UnixMilli()
	}
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	ctx, cancel := context.WithTimeout(ctx, n.o.WriteTimeout)
	defer cancel()
	var last error
	for {
		if n.raft.State() == raft.Leader {
			res, _, err := n.applyLocal(ctx, b)
			if err == nil {
				return res
			}
			last = err
		} else if _, id := n.raft.LeaderWithID(); id != "" {
			// The leader's address follows from its id (its member
			// address), as for every voter.
			res, err := n.forward(ctx, RaftAddr(string(id), n.o.PortOffset), string(id), b)
			if err == nil {
				return res
			}
			last = err
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("%w (%v)", ErrNoLeader, last)
			}
			return ErrNoLeader
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// applyLocal appends b on this node as leader and waits for it to apply.
// The first result is the command's own error, the second the log index
// it applied at; the third a failure to commit (lost leadership,
// timeout), after which the caller may retry.
func (n *Node) applyLocal(ctx context.Context, b []byte) (error, uint64, error) {
	d := time.Until(deadlineOf(ctx))
	f := n.raft.Apply(b, d)
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		if err != nil {
			return nil, 0, fmt.Errorf("cp: commit: %w", err)
		}
		res, _ := f.Response().(error)
		return res, f.Index(), nil
	case <-ctx.Done():
		return nil, 0, fmt.Errorf("cp: commit: %w", ctx.Err())
	}
}

// waitApplied waits, until ctx ends, for this node's state machine to
// apply the log up to index, so that a node that forwarded a write reads
// it once it answers. (A node that catches up by installing a snapshot
// only counts again from the next entry it applies: it waits until ctx
// ends, at worst.)
func (n *Node) waitApplied(ctx context.Context, index uint64) {
	if index == 0 {
		return
	}
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	for n.fsm.AppliedIndex() < index {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func deadlineOf(ctx context.Context) time.Time {
	if d, ok := ctx.Deadline(); ok {
		return d
	}
	return time.Now().Add(3 * time.Second)
}

// wireAnswer is a forwarded write's answer.
type wireAnswer struct {
	// Kind is "" on success, else the error class: "exists", "notfound",
	// "invalid", "other"; "retry" asks the caller to find the leader again.
	Kind string `json:"kind,omitempty"`
	Msg  string `json:"msg,omitempty"`
	// Index is the log index the command applied at on the leader.
	Index uint64 `json:"index,omitempty"`
}

func encodeResult(res error) wireAnswer {
	switch {
	case res == nil:
		return wireAnswer{}
	case errors.Is(res, ErrExists):
		return wireAnswer{Kind: "exists", Msg: res.Error()}
	case errors.Is(res, ErrNotFound):
		return wireAnswer{Kind: "notfound", Msg: res.Error()}
	case errors.Is(res, ErrInvalid):
		return wireAnswer{Kind: "invalid", Msg: res.Error()}
	default:
		return wireAnswer{Kind: "other", Msg: res.Error()}
	}
}

// remoteError is a command error reported by the leader.
type remoteError struct {
	kind error
	msg  string
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.kind }

func (a wireAnswer) result() error {
	switch a.Kind {
	case "":
		return nil
	case "exists":
		return &remoteError{ErrExists, a.Msg}
	case "notfound":
		return &remoteError{ErrNotFound, a.Msg}
	case "invalid":
		return &remoteError{ErrInvalid, a.Msg}
	default:
		return errors.New(a.Msg)
	}
}

// forward sends b to the leader at raft address addr (member id) and
// returns the command's result, or an error when the leader could not run
// it. It uses a kept connection when there is one; when that one fails
// (the leader closed it), it tries once more on a new connection.
func (n *Node) forward(ctx context.Context, addr, id string, b []byte) (error, error) {
	key := id + "|" + addr
	fresh := false
	for {
		if n.o.Blocked != nil && n.o.Blocked(id) {
			return nil, fmt.Errorf("cp: forward to leader %s: %w", id, errBlocked)
		}
		var c net.Conn
		if !fresh {
			c = n.fwd.get(key)
		}
		reused := c != nil
		if c == nil {
			var err error
			if c, err = n.dialForward(ctx, addr, id); err != nil {
				return nil, err
			}
			reused = false
		}
		a, err := n.roundTrip(ctx, c, b)
		if err != nil {
			_ = c.Close()
			if reused && ctx.Err() == nil {
				fresh = true
				continue
			}
			return nil, fmt.Errorf("cp: forward to leader %s: %w", id, err)
		}
		n.fwd.put(key, c)
		if a.Kind == "retry" {
			return nil, fmt.Errorf("cp: forward to %s: %s", id, a.Msg)
		}
		// The write is committed; answer once this node applied it too
		// (or the write's time is up, when it answers all the same).
		n.waitApplied(ctx, a.Index)
		return a.result(), nil
	}
}

// dialForward opens an authenticated connection to the leader.
func (n *Node) dialForward(ctx context.Context, addr, id string) (net.Conn, error) {
	n.fwd.dials.Add(1)
	d := net.Dialer{}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("cp: forward to leader %s: %w", id, err)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	c, err := n.o.Handshake.Client(ctx, conn, id)
	if !stop() {
		err = errors.Join(err, ctx.Err())
	}
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("cp: forward to leader %s: %w", id, err)
	}
	return c, nil
}

// roundTrip sends one forwarded write on c and reads its answer. A
// failure leaves c unusable.
func (n *Node) roundTrip(ctx context.Context, c net.Conn, b []byte) (wireAnswer, error) {
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
	a, err := func() (wireAnswer, error) {
		msg := make([]byte, 5, 5+len(b))
		msg[0] = forwardByte
		binary.BigEndian.PutUint32(msg[1:], uint32(len(b)))
		if _, err := c.Write(append(msg, b...)); err != nil {
			return wireAnswer{}, err
		}
		body, err := readFrame(c)
		if err != nil {
			return wireAnswer{}, err
		}
		var a wireAnswer
		if err := json.Unmarshal(body, &a); err != nil {
			return wireAnswer{}, err
		}
		return a, nil
	}()
	if !stop() && err == nil {
		// The deadline was spoiled after the answer arrived.
		err = ctx.Err()
	}
	return a, err
}

func readFrame(r io.Reader) ([]byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	size := binary.BigEndian.Uint32(h[:])
	if size > maxCommandBytes {
		return nil, fmt.Errorf("%w: frame of %d bytes", ErrInvalid, size)
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	return b, nil
}

// serveForward runs the forwarded writes of an authenticated connection
// whose first forward byte was read: one at a time, each answered, until
// the peer closes it or leaves it idle for fwdServerIdle.
func (n *Node) serveForward(conn net.Conn) {
	defer conn.Close()
	for {
		_ = conn.SetDeadline(time.Now().Add(n.o.WriteTimeout + time.Second))
		b, err := readFrame(conn)
		if err != nil {
			n.log.Debug("forwarded write unreadable", "remote", conn.RemoteAddr().String(), "err", err)
			return
		}
		var a wireAnswer
		if n.raft.State() != raft.Leader {
			a = wireAnswer{Kind: "retry", Msg: "not the leader"}
		} else {
			ctx, cancel := context.WithTimeout(context.Background(), n.o.WriteTimeout)
			res, index, err := n.applyLocal(ctx, b)
			cancel()
			if err != nil {
				a = wireAnswer{Kind: "retry", Msg: err.Error()}
			} else {
				a = encodeResult(res)
				a.Index = index
			}
		}
		out, _ := json.Marshal(a)
		frame := make([]byte, 4, 4+len(out))
		binary.BigEndian.PutUint32(frame, uint32(len(out)))
		if _, err := conn.Write(append(frame, out...)); err != nil {
			return
		}
		_ = conn.SetDeadline(time.Now().Add(fwdServerIdle))
		var next [1]byte
		if _, err := io.ReadFull(conn, next[:]); err != nil || next[0] != forwardByte {
			return
		}
	}
}

// slogWriter adapts hclog's text output to slog.
type slogWriter struct{ l *slog.Logger }

// Write implements io.Writer: one log record per line, at the level hclog
// wrote ("[ERROR] raft: ..." is an error, anything else a warning).
func (w slogWriter) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimSpace(string(p)), "\n") {
		lvl := slog.LevelWarn
		if rest, ok := strings.CutPrefix(line, "[ERROR]"); ok {
			lvl, line = slog.LevelError, rest
		} else if rest, ok := strings.CutPrefix(line, "[WARN]"); ok {
			line = rest
		}
		if line = strings.TrimSpace(line); line != "" {
			w.l.Log(context.Background(), lvl, line)
		}
	}
	return len(p), nil
}

// Reconcile makes the Raft voters the given members (Self included or
// not) when this node is the leader; elsewhere it does nothing. Members
// missing from the configuration are added as voters; voters missing from
// the list are removed, but never this node and never when the list holds
// nothing but this node (a member source that lost its peers for a moment
// must not shrink the cluster to one). It returns the changes made.
func (n *Node) Reconcile(members []string) ([]string, error) {
	if n.o.Standalone || !n.IsLeader() {
		return nil, nil
	}
	want := map[string]bool{n.o.Self: true}
	for _, m := range members {
		want[m] = true
	}
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, fmt.Errorf("cp: read configuration: %w", err)
	}
	have := map[string]bool{}
	for _, s := range f.Configuration().Servers {
		have[string(s.ID)] = true
	}
	var changes []string
	for m := range want {
		if have[m] {
			continue
		}
		if err := n.raft.AddVoter(raft.ServerID(m), raft.ServerAddress(RaftAddr(m, n.o.PortOffset)), 0, n.o.WriteTimeout).Error(); err != nil {
			return changes, fmt.Errorf("cp: add voter %s: %w", m, err)
		}
		changes = append(changes, "+"+m)
	}
	if len(want) > 1 {
		for m := range have {
			if want[m] {
				continue
			}
			if err := n.raft.RemoveServer(raft.ServerID(m), 0, n.o.WriteTimeout).Error(); err != nil {
				return changes, fmt.Errorf("cp: remove voter %s: %w", m, err)
			}
			changes = append(changes, "-"+m)
		}
	}
	return changes, nil
}

// ErrNotLeader: an operation only the leader can run was asked of a
// follower.
var ErrNotLeader = errors.New("cp: this node is not the Raft leader")

// Snapshot snapshots the state machine now and compacts the log behind
// it. Nothing applied since the last snapshot is not an error.
func (n *Node) Snapshot() error {
	err := n.raft.Snapshot().Error()
	if err == nil || errors.Is(err, raft.ErrNothingNewToSnapshot) {
		return nil
	}
	return fmt.Errorf("cp: snapshot: %w", err)
}

// TransferLeadership hands the leadership to the voter named by target,
// its member address (the Raft server id) or its Raft address. It must run
// on the leader (ErrNotLeader names the leader otherwise); naming the
// leader itself is a no-op.
func (n *Node) TransferLeadership(target string) error {
	if n.o.Standalone {
		return fmt.Errorf("%w: a standalone node is the only voter", ErrInvalid)
	}
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return fmt.Errorf("cp: configuration: %w", err)
	}
	var to *raft.Server
	for _, s := range f.Configuration().Servers {
		if string(s.ID) == target || string(s.Address) == target {
			to = &s
			break
		}
	}
	if to == nil {
		return fmt.Errorf("%w: %s is not a voter", ErrInvalid, target)
	}
	_, leader := n.raft.LeaderWithID()
	if leader == to.ID {
		return nil
	}
	if n.raft.State() != raft.Leader {
		return fmt.Errorf("%w: the leader is %q", ErrNotLeader, leader)
	}
	if err := n.raft.LeadershipTransferToServer(to.ID, to.Address).Error(); err != nil {
		return fmt.Errorf("cp: leadership transfer to %s: %w", to.ID, err)
	}
	return nil
}
