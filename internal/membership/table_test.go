package membership

import (
	"errors"
	"fmt"
	"math/rand"
	"net"
	"os"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	self  = "10.0.0.1:8848"
	peerA = "10.0.0.2:8848"
	peerB = "10.0.0.3:8848"
)

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

func newTable(t *testing.T, suspect, down int, peers ...string) *Table {
	t.Helper()
	tb, err := NewTable(TableConfig{Self: self, ProbeInterval: 500 * time.Millisecond, SuspectAfter: suspect, DownAfter: down}, t0)
	if err != nil {
		t.Fatal(err)
	}
	tb.SetMembers(t0, peers)
	return tb
}

// render prints a view compactly: "v3 a=UP/0 b=SUSPICIOUS/1".
func render(v View) string {
	var b strings.Builder
	fmt.Fprintf(&b, "v%d", v.Version)
	for _, m := range v.Members {
		fmt.Fprintf(&b, " %s=%s/%d", m.Addr, m.State, m.FailCount)
	}
	return b.String()
}

var errTimeout = errors.New("context deadline exceeded")

func TestState_StringMatchesNacos(t *testing.T) {
	for s, want := range map[State]string{Up: "UP", Suspicious: "SUSPICIOUS", Down: "DOWN", 0: "State(0)"} {
		if got := s.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(s), got, want)
		}
	}
}

func TestNewTable_HoldsOnlySelfUp(t *testing.T) {
	tb := newTable(t, 1, 3)
	if got, want := render(tb.View()), "v1 "+self+"=UP/0"; got != want {
		t.Fatalf("view = %q, want %q", got, want)
	}
	if m, _ := tb.Member(self); !m.LastSeen.Equal(t0) {
		t.Fatalf("self LastSeen = %v", m.LastSeen)
	}
	if _, ok := tb.NextProbeAt(); ok {
		t.Fatal("NextProbeAt reports a peer in a self-only table")
	}
	if tb.Self() != self || tb.Version() != 1 {
		t.Fatalf("Self=%q Version=%d", tb.Self(), tb.Version())
	}
}

func TestNewTable_RejectsBadConfig(t *testing.T) {
	good := TableConfig{Self: self, ProbeInterval: time.Second, SuspectAfter: 1, DownAfter: 3}
	for name, mutate := range map[string]func(*TableConfig){
		"no self":          func(c *TableConfig) { c.Self = "" },
		"zero interval":    func(c *TableConfig) { c.ProbeInterval = 0 },
		"zero suspect":     func(c *TableConfig) { c.SuspectAfter = 0 },
		"down before susp": func(c *TableConfig) { c.DownAfter = 0 },
	} {
		c := good
		mutate(&c)
		if _, err := NewTable(c, t0); !errors.Is(err, ErrInvalidTableConfig) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

// step is one scripted operation on a table and the view expected after.
type step struct {
	do   func(*Table) bool
	want string // rendered view
	ret  bool   // expected return value of do
}

func runSteps(t *testing.T, tb *Table, steps []step) {
	t.Helper()
	for i, s := range steps {
		if got := s.do(tb); got != s.ret {
			t.Errorf("step %d returned %v, want %v", i, got, s.ret)
		}
		if got := render(tb.View()); got != s.want {
			t.Fatalf("step %d: view\n got %s\nwant %s", i, got, s.want)
		}
	}
}

func fail(ms int, addr string, err error) func(*Table) bool {
	return func(tb *Table) bool { return tb.ProbeResult(at(ms), addr, false, err) }
}

func ok(ms int, addr string) func(*Table) bool {
	return func(tb *Table) bool { return tb.ProbeResult(at(ms), addr, true, nil) }
}

func TestTable_FailuresLeadToSuspiciousThenDown(t *testing.T) {
	tb := newTable(t, 1, 3, peerA)
	runSteps(t, tb, []step{
		{fail(0, peerA, errTimeout), "v3 " + self + "=UP/0 " + peerA + "=SUSPICIOUS/1", true},
		{fail(500, peerA, errTimeout), "v3 " + self + "=UP/0 " + peerA + "=SUSPICIOUS/2", false},
		{fail(1000, peerA, nil), "v4 " + self + "=UP/0 " + peerA + "=DOWN/3", true},
		{fail(1500, peerA, errTimeout), "v4 " + self + "=UP/0 " + peerA + "=DOWN/4", false},
		{ok(2000, peerA), "v5 " + self + "=UP/0 " + peerA + "=UP/0", true},
		{ok(2500, peerA), "v5 " + self + "=UP/0 " + peerA + "=UP/0", false},
	})
	if m, _ := tb.Member(peerA); !m.LastSeen.Equal(at(2500)) {
		t.Fatalf("LastSeen = %v, want %v", m.LastSeen, at(2500))
	}
}

func TestTable_SuspectAfterDelaysSuspicion(t *testing.T) {
	tb := newTable(t, 2, 2, peerA)
	runSteps(t, tb, []step{
		{fail(0, peerA, nil), "v2 " + self + "=UP/0 " + peerA + "=UP/1", false},
		{fail(1, peerA, nil), "v3 " + self + "=UP/0 " + peerA + "=DOWN/2", true},
	})
	tb = newTable(t, 2, 3, peerA)
	runSteps(t, tb, []step{
		{fail(0, peerA, nil), "v2 " + self + "=UP/0 " + peerA + "=UP/1", false},
		{fail(1, peerA, nil), "v3 " + self + "=UP/0 " + peerA + "=SUSPICIOUS/2", true},
	})
}

func TestTable_ConnectionRefusedIsDownAtOnce(t *testing.T) {
	refused := []error{
		&net.OpError{Op: "dial", Net: "tcp", Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}},
		errors.New("rpc error: code = Unavailable desc = connection error: dial tcp 10.0.0.2:9849: connect: Connection Refused"),
	}
	for _, err := range refused {
		tb := newTable(t, 1, 3, peerA)
		runSteps(t, tb, []step{
			{fail(0, peerA, err), "v3 " + self + "=UP/0 " + peerA + "=DOWN/1", true},
			// A later, ordinary failure does not lift DOWN to SUSPICIOUS.
			{fail(1, peerA, errTimeout), "v3 " + self + "=UP/0 " + peerA + "=DOWN/2", false},
		})
	}
}

func TestTable_HeardCountsAsSuccess(t *testing.T) {
	tb := newTable(t, 1, 3, peerA)
	tb.ProbeResult(at(0), peerA, false, errTimeout)
	runSteps(t, tb, []step{
		{func(tb *Table) bool { return tb.Heard(at(10), peerA) }, "v4 " + self + "=UP/0 " + peerA + "=UP/0", true},
		{func(tb *Table) bool { return tb.Heard(at(20), "10.9.9.9:8848") }, "v4 " + self + "=UP/0 " + peerA + "=UP/0", false},
		{func(tb *Table) bool { return tb.Heard(at(30), self) }, "v4 " + self + "=UP/0 " + peerA + "=UP/0", false},
	})
	if m, _ := tb.Member(peerA); !m.LastSeen.Equal(at(10)) {
		t.Fatalf("LastSeen = %v", m.LastSeen)
	}
	// A late report with an older time does not move LastSeen back.
	tb.Heard(at(5), peerA)
	if m, _ := tb.Member(peerA); !m.LastSeen.Equal(at(10)) {
		t.Fatalf("LastSeen moved back to %v", m.LastSeen)
	}
}

func TestTable_ProbeResultIgnoresSelfAndStrangers(t *testing.T) {
	tb := newTable(t, 1, 3, peerA)
	runSteps(t, tb, []step{
		{fail(0, self, errors.New("connection refused")), "v2 " + self + "=UP/0 " + peerA + "=UP/0", false},
		{fail(0, "10.9.9.9:8848", nil), "v2 " + self + "=UP/0 " + peerA + "=UP/0", false},
		{ok(0, "10.9.9.9:8848"), "v2 " + self + "=UP/0 " + peerA + "=UP/0", false},
	})
	if _, found := tb.Member("10.9.9.9:8848"); found {
		t.Fatal("a probe result added a member")
	}
}

func TestTable_SetMembersKeepsKnownStates(t *testing.T) {
	tb := newTable(t, 1, 3)
	runSteps(t, tb, []step{
		{func(tb *Table) bool { return tb.SetMembers(at(0), []string{peerA, "", peerA}) },
			"v2 " + self + "=UP/0 " + peerA + "=UP/0", true},
		{fail(1, peerA, nil), "v3 " + self + "=UP/0 " + peerA + "=SUSPICIOUS/1", true},
		// Same set (self listed explicitly this time): no change.
		{func(tb *Table) bool { return tb.SetMembers(at(2), []string{self, peerA}) },
			"v3 " + self + "=UP/0 " + peerA + "=SUSPICIOUS/1", false},
		// Adding B keeps A's state; B starts UP.
		{func(tb *Table) bool { return tb.SetMembers(at(3), []string{peerB, peerA}) },
			"v4 " + self + "=UP/0 " + peerA + "=SUSPICIOUS/1 " + peerB + "=UP/0", true},
		// Dropping A, and self is kept although not listed.
		{func(tb *Table) bool { return tb.SetMembers(at(4), []string{peerB}) },
			"v5 " + self + "=UP/0 " + peerB + "=UP/0", true},
		// An empty list leaves self alone.
		{func(tb *Table) bool { return tb.SetMembers(at(5), nil) }, "v6 " + self + "=UP/0", true},
		// A re-added member starts fresh.
		{func(tb *Table) bool { return tb.SetMembers(at(6), []string{peerA}) },
			"v7 " + self + "=UP/0 " + peerA + "=UP/0", true},
	})
}

func TestTable_NextProbesEachPeerEveryInterval(t *testing.T) {
	tb := newTable(t, 1, 3, peerB, peerA)
	if at0, ok := tb.NextProbeAt(); !ok || !at0.Equal(t0) {
		t.Fatalf("NextProbeAt = %v, %v; want %v (new members are due at once)", at0, ok, t0)
	}
	tests := []struct {
		ms   int
		want []string
	}{
		{0, []string{peerA, peerB}},
		{0, nil},
		{499, nil},
		{500, []string{peerA, peerB}},
		{1200, []string{peerA, peerB}}, // late: next due 500ms after now, not in a burst
		{1600, nil},
		{1700, []string{peerA, peerB}},
	}
	for _, tt := range tests {
		if got := tb.Next(at(tt.ms)); !reflect.DeepEqual(got, tt.want) {
			t.Fatalf("Next(%dms) = %v, want %v", tt.ms, got, tt.want)
		}
	}
	if next, _ := tb.NextProbeAt(); !next.Equal(at(2200)) {
		t.Fatalf("NextProbeAt = %v, want %v", next, at(2200))
	}
	// A member added later is due at its own time.
	tb.SetMembers(at(1800), []string{peerA, peerB, "10.0.0.4:8848"})
	if next, _ := tb.NextProbeAt(); !next.Equal(at(1800)) {
		t.Fatalf("NextProbeAt = %v, want %v", next, at(1800))
	}
	if got := tb.Next(at(1800)); !reflect.DeepEqual(got, []string{"10.0.0.4:8848"}) {
		t.Fatalf("Next = %v", got)
	}
}

func TestView_AddrsAndInState(t *testing.T) {
	tb := newTable(t, 1, 3, peerA, peerB)
	tb.ProbeResult(t0, peerB, false, nil)
	v := tb.View()
	if got, want := v.Addrs(), []string{self, peerA, peerB}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Addrs = %v", got)
	}
	if got, want := v.InState(Up), []string{self, peerA}; !reflect.DeepEqual(got, want) {
		t.Fatalf("InState(Up) = %v", got)
	}
	if got, want := v.InState(Up, Suspicious), []string{self, peerA, peerB}; !reflect.DeepEqual(got, want) {
		t.Fatalf("InState(Up, Suspicious) = %v", got)
	}
	if got := v.InState(Down); len(got) != 0 {
		t.Fatalf("InState(Down) = %v", got)
	}
	// The view is a snapshot: later changes do not show through.
	tb.ProbeResult(t0, peerA, false, nil)
	if v.Members[1].State != Up {
		t.Fatal("View shares state with the table")
	}
}

// TestTable_MatchesOracle drives the table with random operations and
// checks every member against a naive model of the rules, and that the
// version moves exactly when the member set, a state or a Refused flag
// changes.
func TestTable_MatchesOracle(t *testing.T) {
	addrs := []string{peerA, peerB, "10.0.0.4:8848", "10.0.0.5:8848"}
	for seed := int64(1); seed <= 20; seed++ {
		rng := rand.New(rand.NewSource(seed))
		suspect := 1 + rng.Intn(3)
		down := suspect + rng.Intn(3)
		tb := newTable(t, suspect, down)
		type model struct {
			fails   int
			refused bool // refused since the last success
		}
		oracle := map[string]*model{}
		prev := tb.View()
		for i := range 400 {
			now := at(i)
			addr := addrs[rng.Intn(len(addrs))]
			switch op := rng.Intn(10); {
			case op == 0: // new member set
				var set []string
				for _, a := range addrs {
					if rng.Intn(2) == 0 {
						set = append(set, a)
					}
				}
				tb.SetMembers(now, set)
				next := map[string]*model{}
				for _, a := range set {
					if m, ok := oracle[a]; ok {
						next[a] = m
					} else {
						next[a] = &model{}
					}
				}
				oracle = next
			case op <= 4:
				tb.ProbeResult(now, addr, true, nil)
				if m, ok := oracle[addr]; ok {
					*m = model{}
				}
			case op == 5:
				tb.Heard(now, addr)
				if m, ok := oracle[addr]; ok {
					*m = model{}
				}
			default:
				var err error
				if op == 9 {
					err = syscall.ECONNREFUSED
				}
				tb.ProbeResult(now, addr, false, err)
				if m, ok := oracle[addr]; ok {
					m.fails++
					m.refused = m.refused || err != nil
				}
			}
			v := tb.View()
			if len(v.Members) != len(oracle)+1 {
				t.Fatalf("seed %d op %d: %d members, oracle %d", seed, i, len(v.Members), len(oracle))
			}
			for _, m := range v.Members {
				want := Up
				if m.Addr != self {
					o := oracle[m.Addr]
					switch {
					case o.refused || o.fails >= down:
						want = Down
					case o.fails >= suspect:
						want = Suspicious
					}
					if m.Refused != o.refused {
						t.Fatalf("seed %d op %d: %s refused=%v, oracle %v", seed, i, m.Addr, m.Refused, o.refused)
					}
					if m.FailCount != o.fails {
						t.Fatalf("seed %d op %d: %s fails %d, oracle %d", seed, i, m.Addr, m.FailCount, o.fails)
					}
				}
				if m.State != want {
					t.Fatalf("seed %d op %d: %s is %s, oracle %s", seed, i, m.Addr, m.State, want)
				}
			}
			changed := !reflect.DeepEqual(stateOf(prev), stateOf(v))
			if changed != (v.Version != prev.Version) {
				t.Fatalf("seed %d op %d: states changed=%v but version %d -> %d", seed, i, changed, prev.Version, v.Version)
			}
			if v.Version < prev.Version || v.Version > prev.Version+1 {
				t.Fatalf("seed %d op %d: version %d -> %d", seed, i, prev.Version, v.Version)
			}
			prev = v
		}
	}
}

// stateOf is what the view version follows: each member's state and
// Refused flag.
func stateOf(v View) map[string]string {
	m := map[string]string{}
	for _, x := range v.Members {
		m[x.Addr] = fmt.Sprintf("%s/%v", x.State, x.Refused)
	}
	return m
}

func TestTable_RefusedMarksTheMemberUntilItAnswers(t *testing.T) {
	tb := newTable(t, 1, 3, peerA)
	tb.ProbeResult(at(0), peerA, false, errTimeout)
	tb.ProbeResult(at(1), peerA, false, errTimeout)
	tb.ProbeResult(at(2), peerA, false, errTimeout)
	if m, _ := tb.Member(peerA); m.State != Down || m.Refused {
		t.Fatalf("after timeouts: %+v, want DOWN and not refused (it may be cut off)", m)
	}
	v := tb.Version()
	if !tb.ProbeResult(at(3), peerA, false, &net.OpError{Op: "dial", Net: "tcp", Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}) {
		t.Fatal("a refusal of a DOWN member must change the view (the Distro core reads Refused)")
	}
	if m, _ := tb.Member(peerA); !m.Refused || tb.Version() != v+1 || !tb.View().Members[0].Refused && !tb.View().Members[1].Refused {
		t.Fatalf("after a refusal: %+v, version %d (was %d)", m, tb.Version(), v)
	}
	if tb.ProbeResult(at(4), peerA, false, errTimeout) {
		t.Fatal("a later timeout changed the view")
	}
	if m, _ := tb.Member(peerA); !m.Refused {
		t.Fatal("a later timeout cleared Refused: the process that refused has not come back")
	}
	tb.ProbeResult(at(5), peerA, false, errors.New("rpc error: code = Unavailable desc = connection error: dial tcp 10.0.0.2:9849: connect: no route to host"))
	tb.Heard(at(6), peerA)
	if m, _ := tb.Member(peerA); m.Refused || m.State != Up {
		t.Fatalf("after a message: %+v, want UP and not refused", m)
	}
	tb2 := newTable(t, 1, 3, peerA)
	tb2.ProbeResult(at(0), peerA, false, errors.New("dial tcp 10.0.0.2:9849: connect: no route to host"))
	if m, _ := tb2.Member(peerA); m.State != Down || !m.Refused {
		t.Fatalf("no route to host: %+v, want DOWN and refused", m)
	}
}
