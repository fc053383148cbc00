package membership

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"time"
)

// State is a member's health as seen by this node. The names match Nacos's
// NodeState; STARTING and ISOLATION are not used.
type State int

// The member states. The zero State is invalid.
const (
	// Up: the last probe succeeded or the member is new. Distro sends to it.
	Up State = iota + 1
	// Suspicious: at least SuspectAfter and fewer than DownAfter consecutive
	// probes failed. Nacos still counts it as healthy for ownership.
	Suspicious
	// Down: DownAfter consecutive probes failed, or a connection was
	// refused. Only a success brings it back Up.
	Down
)

// String returns "UP", "SUSPICIOUS" or "DOWN", as Nacos's NodeState names.
func (s State) String() string {
	switch s {
	case Up:
		return "UP"
	case Suspicious:
		return "SUSPICIOUS"
	case Down:
		return "DOWN"
	default:
		return fmt.Sprintf("State(%d)", int(s))
	}
}

// Member is one entry of a View.
type Member struct {
	// Addr is the member's "host:port" (HTTP port), the table key.
	Addr string
	// State is the member's health.
	State State
	// FailCount is the number of consecutive failed probes; 0 when Up.
	FailCount int
	// LastSeen is the time of the last successful probe or message heard;
	// zero if none yet. For this node, the time the table was created.
	LastSeen time.Time
	// Refused is true when a probe of the member failed because its port
	// refused the connection or its host had no route (nothing listened
	// there: the process was gone) and no success or message came since.
	// Probes that merely time out never set it: that may be a partition.
	Refused bool
}

// View is an immutable, deterministic snapshot of a Table.
type View struct {
	// Version increases whenever the member set, a member's State or its
	// Refused flag changes. FailCount and LastSeen updates alone do not
	// change it, so a consumer can skip views whose Version it has already
	// applied.
	Version uint64
	// Self is this node's address; it is always among Members, Up.
	Self string
	// Members is sorted by Addr.
	Members []Member
}

// Addrs returns the addresses of all members, sorted.
func (v View) Addrs() []string {
	out := make([]string, len(v.Members))
	for i, m := range v.Members {
		out[i] = m.Addr
	}
	return out
}

// InState returns the sorted addresses of the members in any of states.
// For example v.InState(Up, Suspicious) gives the members Nacos counts as
// healthy.
func (v View) InState(states ...State) []string {
	out := []string{}
	for _, m := range v.Members {
		if slices.Contains(states, m.State) {
			out = append(out, m.Addr)
		}
	}
	return out
}

// TableConfig configures a Table.
type TableConfig struct {
	// Self is this node's address, "host:port". Required.
	Self string
	// ProbeInterval is the time between two probes of one peer. Must be
	// positive.
	ProbeInterval time.Duration
	// SuspectAfter is the number of consecutive failures that make a peer
	// SUSPICIOUS. At least 1.
	SuspectAfter int
	// DownAfter is the number of consecutive failures that make a peer
	// DOWN. At least SuspectAfter.
	DownAfter int
}

// ErrInvalidTableConfig is returned by NewTable for an unusable
// TableConfig.
var ErrInvalidTableConfig = errors.New("membership: invalid table config")

// Validate reports what is wrong with tc, wrapping ErrInvalidTableConfig.
func (tc TableConfig) Validate() error {
	switch {
	case tc.Self == "":
		return fmt.Errorf("%w: Self is empty", ErrInvalidTableConfig)
	case tc.ProbeInterval <= 0:
		return fmt.Errorf("%w: ProbeInterval %v must be positive", ErrInvalidTableConfig, tc.ProbeInterval)
	case tc.SuspectAfter < 1:
		return fmt.Errorf("%w: SuspectAfter %d must be at least 1", ErrInvalidTableConfig, tc.SuspectAfter)
	case tc.DownAfter < tc.SuspectAfter:
		return fmt.Errorf("%w: DownAfter %d must be at least SuspectAfter %d", ErrInvalidTableConfig, tc.DownAfter, tc.SuspectAfter)
	}
	return nil
}

// entry is the mutable per-member record.
type entry struct {
	state     State
	refused   bool
	fails     int
	lastSeen  time.Time
	nextProbe time.Time
}

// Table is the pure membership state machine. It is not safe for
// concurrent use: the owning goroutine serialises calls. Addresses are
// opaque keys; pass them normalised (the Sources do), so that one member
// has one spelling.
type Table struct {
	cfg     TableConfig
	members map[string]*entry
	addrs   []string // sorted keys of members, for deterministic iteration
	version uint64
}

// NewTable returns a table holding only this node, Up, at version 1.
func NewTable(cfg TableConfig, now time.Time) (*Table, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	t := &Table{
		cfg:     cfg,
		members: map[string]*entry{cfg.Self: {state: Up, lastSeen: now}},
		addrs:   []string{cfg.Self},
		version: 1,
	}
	return t, nil
}

// Self returns this node's address.
func (t *Table) Self() string { return t.cfg.Self }

// Version returns the current view version (see View.Version).
func (t *Table) Version() uint64 { return t.version }

// SetMembers replaces the member list with addrs plus this node. Known
// members keep their state and counters, new members start Up (as Nacos)
// and are due for a probe at once, absent ones are dropped. Empty strings
// and duplicates are ignored. It reports whether the member set changed.
func (t *Table) SetMembers(now time.Time, addrs []string) bool {
	next := make([]string, 0, len(addrs)+1)
	next = append(next, t.cfg.Self)
	for _, a := range addrs {
		if a != "" {
			next = append(next, a)
		}
	}
	slices.Sort(next)
	next = slices.Compact(next)
	if slices.Equal(next, t.addrs) {
		return false
	}
	members := make(map[string]*entry, len(next))
	for _, a := range next {
		if e, ok := t.members[a]; ok {
			members[a] = e
		} else {
			members[a] = &entry{state: Up, nextProbe: now}
		}
	}
	t.members, t.addrs = members, next
	t.version++
	return true
}

// ProbeResult records the outcome of a probe of addr at now. Success makes
// the peer Up and resets its failures. A failure counts one more
// consecutive failure: the peer becomes Suspicious from SuspectAfter
// failures and Down from DownAfter failures, or at once when err says the
// connection was refused (as Nacos). A failure never improves a state.
// Results for unknown addresses and for this node are ignored. It reports
// whether the view version changed.
func (t *Table) ProbeResult(now time.Time, addr string, ok bool, err error) bool {
	e := t.peer(addr)
	if e == nil {
		return false
	}
	if ok {
		return t.succeed(now, e)
	}
	e.fails++
	state := e.state
	refused := isRefused(err)
	switch {
	case e.fails >= t.cfg.DownAfter || refused:
		state = Down
	case e.fails >= t.cfg.SuspectAfter && state == Up:
		state = Suspicious
	}
	return t.set(e, state, e.refused || refused)
}

// set gives e state and refused, and counts one view version if either
// changed.
func (t *Table) set(e *entry, s State, refused bool) bool {
	if e.state == s && e.refused == refused {
		return false
	}
	e.state, e.refused = s, refused
	t.version++
	return true
}

// Heard records that a message from addr arrived at now, which proves the
// peer alive: it is handled as a successful probe, but does not postpone
// the next probe (hearing from a peer says nothing about reaching it).
// Unknown addresses and this node are ignored. It reports whether the view
// version changed.
func (t *Table) Heard(now time.Time, addr string) bool {
	e := t.peer(addr)
	if e == nil {
		return false
	}
	return t.succeed(now, e)
}

func (t *Table) succeed(now time.Time, e *entry) bool {
	e.fails = 0
	if now.After(e.lastSeen) {
		e.lastSeen = now
	}
	return t.set(e, Up, false)
}

// peer returns the entry of a member other than self, or nil.
func (t *Table) peer(addr string) *entry {
	if addr == t.cfg.Self {
		return nil
	}
	return t.members[addr]
}

// Next returns, sorted, the peers due for a probe at now, and schedules
// each one's next probe ProbeInterval after now. The caller probes them
// and reports each with ProbeResult. A new member is due at once.
func (t *Table) Next(now time.Time) []string {
	var due []string
	for _, a := range t.addrs {
		e := t.members[a]
		if a == t.cfg.Self || now.Before(e.nextProbe) {
			continue
		}
		due = append(due, a)
		e.nextProbe = now.Add(t.cfg.ProbeInterval)
	}
	return due
}

// NextProbeAt returns when Next will next return a peer, so the shell can
// sleep until then; ok is false when there are no peers.
func (t *Table) NextProbeAt() (at time.Time, ok bool) {
	for _, a := range t.addrs {
		if a == t.cfg.Self {
			continue
		}
		if e := t.members[a]; !ok || e.nextProbe.Before(at) {
			at, ok = e.nextProbe, true
		}
	}
	return at, ok
}

// Member returns the current record of addr.
func (t *Table) Member(addr string) (Member, bool) {
	e, ok := t.members[addr]
	if !ok {
		return Member{}, false
	}
	return Member{Addr: addr, State: e.state, FailCount: e.fails, LastSeen: e.lastSeen, Refused: e.refused}, true
}

// View returns a snapshot of the table, members sorted by address.
func (t *Table) View() View {
	v := View{Version: t.version, Self: t.cfg.Self, Members: make([]Member, len(t.addrs))}
	for i, a := range t.addrs {
		e := t.members[a]
		v.Members[i] = Member{Addr: a, State: e.state, FailCount: e.fails, LastSeen: e.lastSeen, Refused: e.refused}
	}
	return v
}

// isRefused reports whether err says the peer actively refused the
// connection (nothing listens there), which Nacos treats as DOWN at once,
// or that its host has no route (the host is gone). gRPC flattens errors
// into text, hence the string match as a fallback.
func isRefused(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) {
		return true
	}
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "connection refused") || strings.Contains(msg, "no route to host")
}
