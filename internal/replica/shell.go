package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/distrod/distrod/internal/distro"
	"github.com/distrod/distrod/internal/membership"
	"github.com/distrod/distrod/internal/naming"
)

// ShellConfig configures a Shell.
type ShellConfig struct {
	// Distro is the core's configuration; its Self is this node.
	Distro distro.Config
	// Membership configures the member table and its probe schedule; its
	// Self must equal Distro.Self.
	Membership membership.TableConfig
	// ExpireEvery is the period of heartbeat expiry (naming.Store
	// ExpireCheck on the ip:port tags this node owns), run only once the
	// node is ready. Must be positive.
	ExpireEvery time.Duration
	// LiveConn reports whether this process holds gRPC connection id; nil
	// means it holds none. Called by Changed, on the goroutine that wrote
	// the store: it must be safe for concurrent use.
	LiveConn func(id string) bool
	// Rand is the core's randomness (and the expiry phase). Required.
	Rand *rand.Rand
	// WrapStorage, if not nil, replaces the storage adapter the core sees
	// (tests plant defects there).
	WrapStorage func(Storage) distro.Storage
	// MaxClockOffset bounds how far in the future a remote record's version
	// may lie (Storage.MaxClockOffset); 0 means no bound.
	MaxClockOffset time.Duration
	// OnReject, if not nil, is told about every replicated record the
	// store refused, after the shell counted it (on the driving goroutine).
	OnReject func(r distro.Record, err error)
	// UntrustedMessages means the transport does not authenticate peers:
	// a message then does not prove its sender alive (only a probe does),
	// so that nobody can mark a DOWN member UP by sending in its name.
	UntrustedMessages bool
	// RejoinHold is how long heartbeat expiry neither removes instances
	// nor marks them unhealthy after a member came back UP (it may hold
	// beats this node missed; see naming.Store.SetExpiryHold); 0 means two
	// verify intervals, time for a verify round to repair them.
	RejoinHold time.Duration
	// Logger receives member view changes and restart reaps; nil discards.
	Logger *slog.Logger
}

// ShellCounters count what a Shell did on its own initiative.
type ShellCounters struct {
	// Reaped counts connection clients of an earlier incarnation deleted.
	Reaped int
	// ExpiryWrites counts records changed by heartbeat expiry.
	ExpiryWrites int
	// Rejected counts replicated records the store refused.
	Rejected int
	// Views counts member views pushed into the core.
	Views int
}

// ErrShellConfig is returned by NewShell for an unusable ShellConfig.
var ErrShellConfig = errors.New("replica: invalid shell config")

// Shell is the deterministic part of a cluster node around the Distro core:
// it turns store changes into observations (and reaps the connection clients
// of an earlier incarnation), keeps the membership table and its probe
// schedule, pushes member views into the core and republishes the
// ownership ring, tracks readiness, and runs heartbeat expiry once ready.
//
// It starts no goroutines, reads no clock and opens no sockets: every
// method that needs the time takes now, and what must happen outside
// (envelopes to send, peers to probe, peers to forget) is queued for the
// caller. The server drives it from one goroutine with timers and the
// cluster transport; the simulation drives it with a virtual clock and a
// seeded network. Only Changed and QueuedChanges may be called from other
// goroutines (the store's listeners run on the writer's goroutine); every
// other method must be called from the driving goroutine.
type Shell struct {
	cfg   ShellConfig
	self  string
	log   *slog.Logger
	store *naming.Store
	node  *distro.Node
	table *membership.Table

	mu      sync.Mutex // guards changes and stale
	changes []Observation
	stale   []string

	applied    uint64 // membership view version pushed into the core
	ring       *distro.Ring
	known      map[string]bool
	forgotten  []string
	probing    map[string]bool
	nextExpire time.Time
	counters   ShellCounters
	// unsettled holds the members not UP in the last view pushed, down
	// those DOWN.
	unsettled, down map[string]bool
	// wasReady: the node was ready at the last Tick.
	wasReady bool
	// expiryReady: whether the last expiry check ran on a ready node (its
	// owns function differs, see Tick).
	expiryReady bool
	// applyNow is the time of the call in progress: records the core
	// installs through Storage get it as their last heartbeat.
	applyNow time.Time
	// holdUntil is the end of the expiry hold after a member came back;
	// isolated: the last view pushed holds no majority of UP members.
	holdUntil time.Time
	isolated  bool
}

// ExpiryRestrained reports how heartbeat expiry is restrained at now:
// isolated, the member view holds no majority of UP members (removals wait
// twice their delete timeout); held, a member came back within RejoinHold
// (expiry waits). See naming.Store.SetExpiryHold.
func (s *Shell) ExpiryRestrained(now time.Time) (isolated, held bool) {
	return s.isolated, now.Before(s.holdUntil)
}

// rejoinHold is how long expiry waits after a member comes back.
func (s *Shell) rejoinHold() time.Duration {
	if s.cfg.RejoinHold > 0 {
		return s.cfg.RejoinHold
	}
	return 2 * s.cfg.Distro.VerifyInterval
}

// NewShell builds the shell of one node incarnation over store, at now,
// and registers its change listener on store. Call SetMembers before the
// first Tick.
func NewShell(cfg ShellConfig, store *naming.Store, now time.Time) (*Shell, error) {
	switch {
	case cfg.Rand == nil:
		return nil, fmt.Errorf("%w: Rand is nil", ErrShellConfig)
	case cfg.ExpireEvery <= 0:
		return nil, fmt.Errorf("%w: ExpireEvery %v must be positive", ErrShellConfig, cfg.ExpireEvery)
	case cfg.Membership.Self != cfg.Distro.Self:
		return nil, fmt.Errorf("%w: membership self %q differs from distro self %q", ErrShellConfig, cfg.Membership.Self, cfg.Distro.Self)
	}
	s := &Shell{
		cfg:     cfg,
		self:    cfg.Distro.Self,
		log:     cfg.Logger,
		store:   store,
		known:   map[string]bool{},
		probing: map[string]bool{},
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	adapter := Storage{Store: store, Now: func() time.Time { return s.applyNow }, MaxClockOffset: cfg.MaxClockOffset, OnReject: func(r distro.Record, err error) {
		s.counters.Rejected++
		if cfg.OnReject != nil {
			cfg.OnReject(r, err)
			return
		}
		s.log.Warn("rejected a replicated record", "key", r.Key, "owner", r.Owner, "err", err)
	}}
	s.applyNow = now
	var st distro.Storage = adapter
	if cfg.WrapStorage != nil {
		st = cfg.WrapStorage(adapter)
	}
	// The first expiry runs at a random phase within one period, so that
	// nodes booted together do not expire in lockstep.
	s.nextExpire = now.Add(time.Duration(cfg.Rand.Int64N(int64(cfg.ExpireEvery))))
	node, err := distro.New(cfg.Distro, st, cfg.Rand)
	if err != nil {
		return nil, fmt.Errorf("replica: distro core: %w", err)
	}
	table, err := membership.NewTable(cfg.Membership, now)
	if err != nil {
		return nil, fmt.Errorf("replica: membership: %w", err)
	}
	s.node, s.table = node, table
	s.ring = distro.NewRing([]string{s.self})
	store.OwnersChanged()
	store.OnChange(func(ch naming.Change) { s.Changed(ch) })
	return s, nil
}

// Changed queues a store change for the core. It is the store listener
// NewShell registers, safe from any goroutine; it reports whether the queue
// was empty before, so a driver can wake its goroutine only then.
func (s *Shell) Changed(ch naming.Change) bool {
	if s.log.Enabled(context.Background(), slog.LevelDebug) {
		r := ch.Record
		s.log.Debug("record change", "key", r.Key, "version", r.Version.String(), "owner", r.Owner,
			"tombstone", r.Tombstone, "local", ch.Local, "refresh", ch.Refresh, "dropped", ch.Dropped)
	}
	o := Observe(ch, s.self, s.cfg.LiveConn)
	if !o.Observe {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	first := len(s.changes) == 0
	s.changes = append(s.changes, o)
	if o.StaleClient != "" {
		s.stale = append(s.stale, o.StaleClient)
	}
	return first
}

// QueuedChanges returns the number of store changes not yet observed; safe
// from any goroutine.
func (s *Shell) QueuedChanges() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.changes)
}

// Drain observes every queued store change and deletes the connection
// clients of an earlier incarnation that came back from peers (their
// deletes are changes too, observed in the same call).
func (s *Shell) Drain(now time.Time) {
	s.applyNow = now
	for {
		s.mu.Lock()
		chs, stale := s.changes, s.stale
		s.changes, s.stale = nil, nil
		s.mu.Unlock()
		if len(chs) == 0 && len(stale) == 0 {
			return
		}
		for _, o := range chs {
			o.Feed(now, s.node)
		}
		for _, id := range stale {
			if s.store.RemoveClient(now.UnixMilli(), id) {
				s.counters.Reaped++
				s.log.Info("deleted a connection client left from before a restart", "client", id)
			}
		}
	}
}

// SetMembers replaces the configured member list (self is always a
// member) and pushes a changed view into the core.
func (s *Shell) SetMembers(now time.Time, addrs []string) {
	s.applyNow = now
	s.table.SetMembers(now, addrs)
	s.applyMembers(now)
	s.Drain(now)
}

// Receive hands the core a message from a peer; hearing from a peer
// proves it alive, as a successful probe does.
func (s *Shell) Receive(now time.Time, from string, msg distro.Message) {
	s.applyNow = now
	s.Drain(now)
	if !s.cfg.UntrustedMessages && s.table.Heard(now, from) {
		s.applyMembers(now)
	}
	s.node.Step(now, from, msg)
	s.Drain(now)
}

// Unreachable reports that msg could not be sent to peer to.
func (s *Shell) Unreachable(now time.Time, to string, msg distro.Message) {
	s.applyNow = now
	s.node.Unreachable(now, to, msg)
	s.Drain(now)
}

// Probes returns, sorted, the peers to probe now. Each must be answered
// with exactly one ProbeResult; a peer with a probe outstanding is not
// returned again.
func (s *Shell) Probes(now time.Time) []string {
	var out []string
	for _, addr := range s.table.Next(now) {
		if s.probing[addr] {
			continue
		}
		s.probing[addr] = true
		out = append(out, addr)
	}
	return out
}

// ProbeResult records the outcome of a probe Probes asked for: err nil is
// a success; an error that says the connection was refused makes the peer
// DOWN at once.
func (s *Shell) ProbeResult(now time.Time, addr string, err error) {
	s.applyNow = now
	delete(s.probing, addr)
	s.table.ProbeResult(now, addr, err == nil, err)
	s.applyMembers(now)
	s.Drain(now)
}

// Tick observes queued changes, advances the core's timers and runs
// heartbeat expiry when it is due (before the node is ready, only to pass
// on the beats it received).
func (s *Shell) Tick(now time.Time) {
	s.applyNow = now
	s.Drain(now)
	s.node.Tick(now)
	s.Drain(now)
	if ready := s.node.Ready(); ready && !s.wasReady {
		// Just loaded: judge the deadlines it now holds at once rather
		// than up to a period later.
		s.wasReady, s.nextExpire = true, now
	}
	if now.Before(s.nextExpire) {
		return
	}
	s.nextExpire = now.Add(s.cfg.ExpireEvery)
	ring := s.ring
	owns := func(tag string) bool { return ring.Owner(tag) == s.self }
	ready := s.node.Ready()
	if !ready {
		// Never expire what a half-loaded node has not seen beats for; but
		// pass on the beats peers forwarded here (owning nothing, the
		// check only refreshes).
		owns = func(string) bool { return false }
	}
	if ready != s.expiryReady {
		s.expiryReady = ready
		s.store.OwnersChanged()
	}
	// The store judges only the clients due; every change of the ring (applyMembers)
	// and readiness change make it judge them all.
	n := s.store.ExpireDue(now.UnixMilli(), owns)
	s.counters.ExpiryWrites += n
	s.Drain(now)
}

// Outbox returns and clears the envelopes the core wants sent.
func (s *Shell) Outbox() []distro.Envelope { return s.node.Outbox() }

// Forgotten returns and clears the addresses that left the member list
// since the last call (the transport closes their connections).
func (s *Shell) Forgotten() []string {
	out := s.forgotten
	s.forgotten = nil
	return out
}

// Ready reports whether the snapshot load has finished.
func (s *Shell) Ready() bool { return s.node.Ready() }

// Ring returns the ownership ring of the current view (UP and SUSPICIOUS
// members). It is immutable: a driver may publish it to other goroutines.
func (s *Shell) Ring() *distro.Ring { return s.ring }

// Owner returns the member responsible for an ip:port tag.
func (s *Shell) Owner(tag string) string { return s.ring.Owner(tag) }

// Status returns the core's status.
func (s *Shell) Status() distro.Status { return s.node.Status() }

// Core returns the Distro core, for inspection (status, versions, owners)
// only: inputs must go through the Shell.
func (s *Shell) Core() *distro.Node { return s.node }

// View returns the membership view.
func (s *Shell) View() membership.View { return s.table.View() }

// Counters returns what the shell did on its own initiative so far.
func (s *Shell) Counters() ShellCounters { return s.counters }

// applyMembers pushes a changed membership view into the core and
// republishes the ownership ring.
func (s *Shell) applyMembers(now time.Time) {
	if s.table.Version() == s.applied && s.applied != 0 {
		return
	}
	view := s.table.View()
	s.applied = view.Version
	ms := make([]distro.Member, 0, len(view.Members))
	present := make(map[string]bool, len(view.Members))
	for _, m := range view.Members {
		present[m.Addr] = true
		ms = append(ms, distro.Member{Addr: m.Addr, State: MemberState(m.State), Refused: m.Refused})
	}
	s.node.SetMembers(now, ms)
	ring := distro.NewRing(view.InState(membership.Up, membership.Suspicious))
	if !slices.Equal(ring.Members(), s.ring.Members()) {
		// Owners may have moved: the next expiry check judges every client.
		s.store.OwnersChanged()
	}
	s.ring = ring
	// A member that leaves the UP state may be cut off from the clients
	// and expire their instances on what it alone sees: that starts an
	// episode in which the store records the beats it receives in
	// versions (naming.Store.SetContested), until every member is UP.
	unsettled := make(map[string]bool, len(view.Members))
	down := make(map[string]bool, len(view.Members))
	fresh, back, up := false, false, 0
	for _, m := range view.Members {
		switch m.State {
		case membership.Up:
			up++
			back = back || s.down[m.Addr]
			continue
		case membership.Down:
			down[m.Addr] = true
		}
		unsettled[m.Addr] = true
		fresh = fresh || !s.unsettled[m.Addr]
	}
	s.down = down
	switch {
	case len(unsettled) == 0:
		s.store.SetContested(0)
	case fresh:
		s.store.SetContested(now.UnixMilli())
	}
	s.unsettled = unsettled
	// Expiry trusts this node's own silence only with most members in
	// view, and not right after a member came back: its beats from the
	// time it was away arrive with the next verify round.
	if back {
		s.holdUntil = now.Add(s.rejoinHold())
	}
	s.isolated = 2*up <= len(view.Members)
	s.store.SetExpiryHold(s.isolated, s.holdUntil.UnixMilli())
	for _, addr := range sortedKeys(s.known) {
		if !present[addr] {
			s.forgotten = append(s.forgotten, addr)
			delete(s.probing, addr)
		}
	}
	s.known = present
	s.counters.Views++
	s.log.Info("member view", "version", view.Version, "members", fmt.Sprint(ms))
}

// MemberState maps a membership state to the core's.
func MemberState(st membership.State) distro.MemberState {
	switch st {
	case membership.Suspicious:
		return distro.StateSuspicious
	case membership.Down:
		return distro.StateDown
	}
	return distro.StateUp
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
