package chaos

import (
	"reflect"
	"testing"
	"time"
)

// script feeds a checker events at offsets from a fixed start.
type script struct {
	c     *checker
	start time.Time
	id    int64
}

const (
	n1 = "10.77.0.11:8848"
	n2 = "10.77.0.12:8848"
	h1 = "10.200.0.1:7001"
)

func newScript() *script {
	start := time.Unix(1_000_000, 0)
	c := newChecker(bounds{DeleteAfter: 6 * time.Second, ExpiryBound: 5 * time.Second, FailedOp: 5 * time.Second,
		Sync: 5 * time.Second, StartGrace: 5 * time.Second}, start, []string{n1, n2})
	c.nodeUp(n1, start)
	c.nodeUp(n2, start)
	return &script{c: c, start: start}
}

func (s *script) at(sec float64) int64 {
	return s.start.Add(time.Duration(sec * float64(time.Second))).UnixNano()
}

// op feeds an operation of client c1 on h1, invoked at from and answered at to.
func (s *script) op(op string, from, to float64, ok bool) {
	s.id++
	s.c.feed(Event{Kind: KindInvoke, T: s.at(from), ID: s.id, Client: "c1", Service: ServiceHTTP, Addr: h1, Op: op, Node: n1})
	s.c.feed(Event{Kind: KindDone, T: s.at(to), ID: s.id, Client: "c1", Service: ServiceHTTP, Addr: h1, Op: op, Node: n1, OK: ok})
}

// read feeds a ready read of node at sec listing h1 or not.
func (s *script) read(node string, sec float64, has bool) {
	hosts := []string{}
	if has {
		hosts = append(hosts, h1)
	}
	s.c.feed(Event{Kind: KindPoll, Node: node, T: s.at(sec), T1: s.at(sec + 0.01), Ready0: 200, Ready1: 200,
		Codes: map[string]int{ServiceHTTP: 200, ServiceSDK: 200}, Hosts: map[string][]string{ServiceHTTP: hosts}})
}

// opGen feeds an acknowledged operation of client c1 on h1 carrying its
// registration count g (MetaGen).
func (s *script) opGen(op string, from, to float64, g string) {
	s.id++
	s.c.feed(Event{Kind: KindInvoke, T: s.at(from), ID: s.id, Client: "c1", Service: ServiceHTTP, Addr: h1, Op: op, Node: n1, Gen: g})
	s.c.feed(Event{Kind: KindDone, T: s.at(to), ID: s.id, Client: "c1", Service: ServiceHTTP, Addr: h1, Op: op, Node: n1, OK: true})
}

// readGen feeds a ready read of node at sec listing h1 from registration
// g, or not listing it when g is empty.
func (s *script) readGen(node string, sec float64, g string) {
	ev := Event{Kind: KindPoll, Node: node, T: s.at(sec), T1: s.at(sec + 0.01), Ready0: 200, Ready1: 200,
		Codes: map[string]int{ServiceHTTP: 200, ServiceSDK: 200}, Hosts: map[string][]string{ServiceHTTP: {}}}
	if g != "" {
		ev.Hosts[ServiceHTTP] = []string{h1}
		ev.Gens = map[string]string{ServiceHTTP + " " + h1: g}
	}
	s.c.feed(ev)
}

func (s *script) counts() map[string]int {
	counts, _ := s.c.violations()
	return counts
}

func TestChecker_FlagsReappearanceAfterAcknowledgedDeregistration(t *testing.T) {
	s := newScript()
	s.op(OpRegister, 10, 10.01, true)
	s.read(n1, 11, true)
	s.op(OpDeregister, 12, 12.01, true)
	s.read(n1, 13, false)
	s.read(n2, 13, true) // stale on another node: not a resurrection
	s.read(n1, 20, true) // back on n1
	if got, want := s.counts(), map[string]int{"I3": 1}; !reflect.DeepEqual(got, want) {
		t.Fatalf("violations %v, want %v", got, want)
	}
}

func TestChecker_ExcusesReRegistrationAndLateUnacknowledgedWrite(t *testing.T) {
	s := newScript()
	s.op(OpRegister, 10, 10.01, true)
	s.op(OpBeat, 11, 14, false) // may land until 16
	s.op(OpDeregister, 14, 14.01, true)
	s.read(n1, 14.5, false)
	s.read(n1, 15.5, true) // the failed beat landed late but in bound
	s.op(OpRegister, 40, 40.01, true)
	s.read(n1, 41, true)
	if got := s.counts(); len(got) != 0 {
		t.Fatalf("violations %v, want none", got)
	}
	s.op(OpDeregister, 42, 42.01, true)
	s.read(n1, 43, false)
	s.read(n1, 44, true)
	if got, want := s.counts(), map[string]int{"I3": 1}; !reflect.DeepEqual(got, want) {
		t.Fatalf("violations %v, want %v", got, want)
	}
}

func TestChecker_FlagsSilentInstancePastItsDeadline(t *testing.T) {
	s := newScript()
	s.op(OpRegister, 10, 10.01, true)
	s.op(OpBeat, 11, 11.01, true)
	s.c.feed(Event{Kind: KindSilent, T: s.at(11.5), Client: "c1", Service: ServiceHTTP, Addr: h1})
	s.read(n1, 21.9, true) // 11.01 + 6 + 5 = 22.01: still in bound
	if got := s.counts(); len(got) != 0 {
		t.Fatalf("violations %v, want none", got)
	}
	s.read(n1, 22.1, true)
	s.read(n1, 23, true) // reported once per node
	if got, want := s.counts(), map[string]int{"I8": 1}; !reflect.DeepEqual(got, want) {
		t.Fatalf("violations %v, want %v", got, want)
	}
}

func TestChecker_FlagsExpiredInstanceComingBack(t *testing.T) {
	s := newScript()
	s.op(OpRegister, 10, 10.01, true)
	s.c.feed(Event{Kind: KindSilent, T: s.at(10.5), Client: "c1", Service: ServiceHTTP, Addr: h1})
	s.read(n1, 15, false) // before it could expire: n1 may just lag
	s.read(n1, 15.5, true)
	if got := s.counts(); len(got) != 0 {
		t.Fatalf("violations %v, want none", got)
	}
	s.read(n1, 16.5, false) // expired
	s.read(n1, 17, true)
	if got, want := s.counts(), map[string]int{"I3": 1}; !reflect.DeepEqual(got, want) {
		t.Fatalf("violations %v, want %v", got, want)
	}
}

func TestChecker_FlagsLiveInstanceVanishing(t *testing.T) {
	s := newScript()
	s.op(OpRegister, 10, 10.01, true)
	s.read(n1, 10.5, true)
	s.op(OpBeat, 11, 11.01, true)
	s.read(n1, 11.5, false)
	if got, want := s.counts(), map[string]int{"I2": 1}; !reflect.DeepEqual(got, want) {
		t.Fatalf("violations %v, want %v", got, want)
	}
}

func TestSchedule_SameSeedSameFaultsAllEndInTime(t *testing.T) {
	const d = 2 * time.Minute
	a, b := schedule(7, 5, d, 2), schedule(7, 5, d, 2)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed, different schedules")
	}
	if reflect.DeepEqual(a, schedule(8, 5, d, 2)) {
		t.Fatal("seeds 7 and 8 gave the same schedule")
	}
	kinds := map[string]bool{}
	for _, f := range a {
		kinds[f.Kind] = true
		if f.Start+f.Dur > d || f.Dur < time.Second {
			t.Errorf("fault %v does not fit in %v", f, d)
		}
	}
	if len(kinds) != 4 {
		t.Errorf("a two-minute schedule uses only %v", kinds)
	}
}

func TestChecker_FlagsUnansweredReadsOfARunningNode(t *testing.T) {
	s := newScript()
	fail := func(sec float64) {
		s.c.feed(Event{Kind: KindPoll, Node: n2, T: s.at(sec), T1: s.at(sec + 4), Err: "timeout",
			Codes: map[string]int{ServiceHTTP: 0, ServiceSDK: 0}, Hosts: map[string][]string{}})
	}
	fail(2) // within the start grace
	s.read(n2, 7, false)
	s.c.nodeDown(n2, s.start.Add(8*time.Second))
	fail(8.1) // killed: not a violation
	s.c.nodeUp(n2, s.start.Add(9*time.Second))
	s.read(n2, 15, false)
	if got := s.counts(); len(got) != 0 {
		t.Fatalf("violations %v, want none", got)
	}
	fail(16)
	fail(20)
	s.read(n2, 24, false)
	if got, want := s.counts(), map[string]int{"I4": 1}; !reflect.DeepEqual(got, want) {
		t.Fatalf("violations %v, want %v", got, want)
	}
}

func TestChecker_FlagsReadsServedWhileLoadingAndReadyNodeLacking(t *testing.T) {
	s := newScript()
	s.c.feed(Event{Kind: KindPoll, Node: n2, T: s.at(1), T1: s.at(1.01), Ready0: 503, Ready1: 503,
		Codes: map[string]int{ServiceHTTP: 200, ServiceSDK: 200}, Hosts: map[string][]string{ServiceHTTP: {}}})
	if got, want := s.counts(), map[string]int{"I5": 1}; !reflect.DeepEqual(got, want) {
		t.Fatalf("violations %v, want %v", got, want)
	}
	s.op(OpRegister, 10, 10.01, true)
	for sec := 10.5; sec < 17; sec += 0.5 {
		s.read(n1, sec, true)
		s.op(OpBeat, sec, sec+0.01, true)
	}
	s.read(n2, 14, false) // n1 has listed it for 3.5 s only
	if got, want := s.counts(), map[string]int{"I5": 1}; !reflect.DeepEqual(got, want) {
		t.Fatalf("violations %v, want %v", got, want)
	}
	s.read(n1, 17, true)
	s.read(n2, 17, false)
	if got, want := s.counts(), map[string]int{"I5": 2}; !reflect.DeepEqual(got, want) {
		t.Fatalf("violations %v, want %v", got, want)
	}
}

// A node that lists a stale copy of an earlier registration may drop it
// (the deregistration that followed it arrives) before the client's newer
// registration reaches it: not I2. Dropping the current one is.
func TestChecker_ExcusesDroppingAStaleRegistration(t *testing.T) {
	s := newScript()
	s.opGen(OpRegister, 10, 10.01, "1")
	s.opGen(OpDeregister, 12, 12.01, "1")
	s.opGen(OpRegister, 13, 13.01, "2")
	s.opGen(OpBeat, 13.5, 13.51, "2")
	s.readGen(n2, 14, "1") // n2 still holds the first registration
	s.readGen(n2, 14.3, "")
	s.readGen(n2, 14.6, "2")
	if got := s.counts(); len(got) != 0 {
		t.Fatalf("violations %v, want none", got)
	}
	s.opGen(OpBeat, 14.7, 14.71, "2")
	s.readGen(n2, 15, "")
	if got, want := s.counts(), map[string]int{"I2": 1}; !reflect.DeepEqual(got, want) {
		t.Fatalf("violations %v, want %v", got, want)
	}
}

// A node cut off from the side that took a registration and its
// deregistration may get the registration from a peer on its own side
// after the client deregistered: it never knew either, not a resurrection
// (until the links have worked long enough to bring the tombstone).
func TestChecker_ExcusesANodeThatNeverSawTheRegistration(t *testing.T) {
	s := newScript()
	s.c.links(s.start.Add(9*time.Second), true) // n2 cut off from n1
	s.opGen(OpRegister, 10, 10.01, "1")
	s.readGen(n1, 10.5, "1")
	s.readGen(n2, 10.5, "")
	s.opGen(OpDeregister, 12, 12.01, "1")
	s.readGen(n2, 12.5, "")
	s.readGen(n2, 13, "1") // handed over by a peer on n2's side
	if got := s.counts(); len(got) != 0 {
		t.Fatalf("violations %v, want none", got)
	}
	s.c.links(s.start.Add(14*time.Second), false)
	s.readGen(n2, 14.5, "")
	s.readGen(n2, 40, "1") // long after the heal: a resurrection
	if got, want := s.counts(), map[string]int{"I3": 1}; !reflect.DeepEqual(got, want) {
		t.Fatalf("violations %v, want %v", got, want)
	}
}
