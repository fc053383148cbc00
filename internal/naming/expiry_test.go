package naming

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"strconv"
	"testing"
)

func ownsAll(string) bool { return true }

// publishN registers n IP-port clients 10.1.x.y:80 in svcA at now.
func publishN(t *testing.T, s *Store, now int64, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range n {
		ip := fmt.Sprintf("10.1.%d.%d", i/250, i%250+1)
		ids[i] = IPPortClientID(ip, 80)
		if err := s.Publish(now, ids[i], svcA, Publication{Instances: []Instance{inst(ip, 80)}}); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

func healthyCount(s *Store) (healthy, total int) {
	v := s.Service(svcA, Query{Admin: true})
	for _, h := range v.Hosts {
		if h.Healthy {
			healthy++
		}
	}
	return healthy, len(v.Hosts)
}

func TestExpireDue_VisitsOnlyDueClients(t *testing.T) {
	s := newTestStore("n1:1")
	ids := publishN(t, s, 1000, 200)
	s.ExpireDue(1000, ownsAll) // first check: a full pass
	if st := s.ExpiryStats(); st.FullPasses != 1 || st.Visited != 200 {
		t.Fatalf("first check must judge every client: %+v", st)
	}
	// All but the first ten keep beating every 5 s.
	for now := int64(2000); now <= 40000; now += 1000 {
		if now%5000 == 0 {
			for _, id := range ids[10:] {
				ip := id[:len(id)-len(":80#true")]
				s.Beat(now, id, svcA, ip, 80)
			}
		}
		s.ExpireDue(now, ownsAll)
	}
	healthy, total := healthyCount(s)
	if total != 190 || healthy != 190 {
		t.Fatalf("want the 10 silent clients removed and 190 healthy, got %d of %d healthy", healthy, total)
	}
	st := s.ExpiryStats()
	if st.FullPasses != 1 {
		t.Fatalf("no ownership or setting changed, yet %d full passes", st.FullPasses)
	}
	// 39 checks of 200 clients would be 7,800 visits for a full scan: the
	// beating clients are visited for their refreshes (one per 10 s) and
	// the silent ones for their flip and removal.
	if st.Visited >= 2000 {
		t.Fatalf("visited %d clients, want far fewer than a scan per check", st.Visited)
	}
}

func TestExpireDue_EmitsInClientOrder(t *testing.T) {
	s := newTestStore("n1:1")
	var ids []string
	// Registered in reverse order, at different times, all due together.
	for i := 9; i >= 0; i-- {
		ip := "10.2.0." + strconv.Itoa(i+1)
		id := IPPortClientID(ip, 80)
		ids = append(ids, id)
		if err := s.Publish(int64(1000+10*(9-i)), id, svcA, Publication{Instances: []Instance{inst(ip, 80)}}); err != nil {
			t.Fatal(err)
		}
	}
	s.ExpireDue(1100, ownsAll)
	var got []string
	s.OnChange(func(ch Change) { got = append(got, ClientOfKey(ch.Record.Key)) })
	if n := s.ExpireDue(20000, ownsAll); n != 10 {
		t.Fatalf("want 10 health flips, got %d", n)
	}
	sort.Strings(ids)
	if !reflect.DeepEqual(got, ids) {
		t.Fatalf("changes out of client order: %v", got)
	}
}

func TestExpireDue_BeatRearmsWithoutVisit(t *testing.T) {
	s := newTestStore("n1:1")
	id := IPPortClientID("10.0.0.9", 9)
	_ = s.Publish(1000, id, svcA, Publication{Instances: []Instance{inst("10.0.0.9", 9)}})
	s.ExpireDue(1000, ownsAll)
	s.Beat(5000, id, svcA, "10.0.0.9", 9)
	before := s.ExpiryStats()
	s.ExpireDue(16001, ownsAll) // the deadline armed at registration
	after := s.ExpiryStats()
	if h, _ := healthyCount(s); h != 1 {
		t.Fatal("flipped by the registration's deadline despite a later beat")
	}
	if after.Rearmed != before.Rearmed+1 || after.Visited != before.Visited {
		t.Fatalf("want the client armed again without a visit: %+v -> %+v", before, after)
	}
	s.ExpireDue(20000, ownsAll)
	if h, n := healthyCount(s); h != 1 || n != 1 {
		t.Fatal("flipped before the beat's deadline")
	}
	s.ExpireDue(20001, ownsAll)
	if h, n := healthyCount(s); h != 0 || n != 1 {
		t.Fatal("not flipped at the beat's deadline")
	}
	s.ExpireDue(35000, ownsAll)
	if _, n := healthyCount(s); n != 1 {
		t.Fatal("removed before the delete deadline")
	}
	s.ExpireDue(35001, ownsAll)
	if _, n := healthyCount(s); n != 0 {
		t.Fatal("not removed at the delete deadline")
	}
	if st := s.ExpiryStats(); st.Touched != 0 {
		t.Fatalf("a removed client is still scheduled: %+v", st)
	}
}

func TestExpireDue_OwnersChangedJudgesEveryClient(t *testing.T) {
	s := newTestStore("n1:1")
	ids := publishN(t, s, 1000, 4)
	mine := map[string]bool{}
	owns := func(tag string) bool { return mine[tag] }
	// Before the first check, none is owned by the view.
	s.ExpireDue(1000, owns)
	s.ExpireDue(40000, owns)
	if _, n := healthyCount(s); n != 4 {
		t.Fatal("a node that owns none expired some")
	}
	mine[TagOf(ids[1])], mine[TagOf(ids[3])] = true, true
	s.OwnersChanged()
	s.ExpireDue(40001, owns) // takes over, continues the deadline: removes
	v := s.Service(svcA, Query{})
	if len(v.Hosts) != 2 || v.Hosts[0].IP != "10.1.0.1" || v.Hosts[1].IP != "10.1.0.3" {
		t.Fatalf("want exactly the newly owned clients removed: %+v", v.Hosts)
	}
	if st := s.ExpiryStats(); st.FullPasses != 2 {
		t.Fatalf("want a full pass after OwnersChanged: %+v", st)
	}
}

func TestExpireDue_HoldDefersExpiry(t *testing.T) {
	s := newTestStore("n1:1")
	publishN(t, s, 1000, 3)
	s.ExpireDue(1000, ownsAll)
	s.SetExpiryHold(false, 25000)
	s.ExpireDue(20000, ownsAll)
	if h, _ := healthyCount(s); h != 3 {
		t.Fatal("flipped during the hold")
	}
	s.ExpireDue(24999, ownsAll)
	if h, _ := healthyCount(s); h != 3 {
		t.Fatal("flipped during the hold")
	}
	s.ExpireDue(25000, ownsAll)
	if h, n := healthyCount(s); h != 0 || n != 3 {
		t.Fatalf("want all flipped when the hold ends, got %d of %d healthy", h, n)
	}
	s.SetExpiryHold(true, 0) // isolated: removal waits twice the delete timeout
	s.ExpireDue(40000, ownsAll)
	if _, n := healthyCount(s); n != 3 {
		t.Fatal("removed after one delete timeout while isolated")
	}
	s.ExpireDue(61001, ownsAll)
	if _, n := healthyCount(s); n != 0 {
		t.Fatal("not removed after twice the delete timeout while isolated")
	}
}

// twinStores drives two stores through the same operations; one expires
// with ExpireCheck (every client), the other with ExpireDue (the index).
// Both must emit the same changes in the same order and end in the same
// state.
type twinStores struct {
	t          *testing.T
	full, due  *Store
	peer       *Store
	fch, dch   []Change
	rng        *rand.Rand
	mine       map[string]bool
	now        int64
	ids        []string
	svcs       []ServiceKey
	stepsTaken int
}

func newTwins(t *testing.T, seed uint64) *twinStores {
	w := &twinStores{t: t, full: newTestStore("n1:1"), due: newTestStore("n1:1"), peer: newTestStore("p:1"),
		rng: rand.New(rand.NewPCG(seed, 7)), mine: map[string]bool{}, now: 1000}
	w.full.OnChange(func(c Change) { w.fch = append(w.fch, c) })
	w.due.OnChange(func(c Change) { w.dch = append(w.dch, c) })
	for i := range 12 {
		w.ids = append(w.ids, IPPortClientID("10.3.0."+strconv.Itoa(i+1), 80))
		w.mine[TagOf(w.ids[i])] = i%4 != 0
	}
	w.svcs = []ServiceKey{svcA, NewServiceKey("", "", "b"), NewServiceKey("ns1", "g", "c")}
	return w
}

func (w *twinStores) both(f func(s *Store)) {
	f(w.full)
	f(w.due)
}

func (w *twinStores) ipOf(id string) string { return id[:len(id)-len(":80#true")] }

func (w *twinStores) step() {
	r := w.rng
	w.now += r.Int64N(2500)
	id := w.ids[r.IntN(len(w.ids))]
	k := w.svcs[r.IntN(len(w.svcs))]
	ip := w.ipOf(id)
	switch op := r.IntN(100); {
	case op < 10:
		in := inst(ip, 80)
		if r.IntN(3) == 0 {
			in.Metadata = map[string]string{MetaBeatTimeout: "4000", MetaDeleteTimeout: "9000", MetaBeatInterval: "1000"}
		}
		pub := Publication{Instances: []Instance{in}}
		if r.IntN(4) == 0 {
			in2 := inst(ip, 81)
			pub = Publication{Batch: true, Instances: []Instance{in, in2}}
		}
		w.both(func(s *Store) { _ = s.Publish(w.now, id, k, pub) })
	case op < 45:
		w.both(func(s *Store) { s.Beat(w.now, id, k, ip, 80) })
	case op < 48:
		w.both(func(s *Store) { s.Unpublish(w.now, id, k) })
	case op < 50:
		healthy := r.IntN(2) == 0
		w.both(func(s *Store) {
			_ = s.UpdateInstance(w.now, id, k, ip, 80, "", func(in *Instance) { in.Healthy = healthy })
		})
	case op < 60:
		// A peer's record: registration or beat refresh or deregistration.
		switch r.IntN(3) {
		case 0:
			_ = w.peer.Publish(w.now-r.Int64N(20000), id, k, Publication{Instances: []Instance{inst(ip, 80)}})
		case 1:
			w.peer.Beat(w.now, id, k, ip, 80)
		default:
			w.peer.Unpublish(w.now, id, k)
		}
		rec, ok := w.peer.Get(PubKey(id, k))
		if !ok {
			return
		}
		if r.IntN(2) == 0 {
			w.both(func(s *Store) { _, _ = s.Apply(w.now, rec) })
		} else {
			w.both(func(s *Store) { s.Refresh(w.now, rec) })
		}
	case op < 62:
		since := int64(0)
		if r.IntN(2) == 0 {
			since = w.now
		}
		w.both(func(s *Store) { s.SetContested(since) })
	case op < 64:
		isolated, hold := r.IntN(3) == 0, int64(0)
		if r.IntN(2) == 0 {
			hold = w.now + r.Int64N(8000)
		}
		w.both(func(s *Store) { s.SetExpiryHold(isolated, hold) })
	case op < 66:
		w.mine[TagOf(id)] = !w.mine[TagOf(id)]
		w.due.OwnersChanged()
	case op < 67:
		w.both(func(s *Store) { s.Drop(PubKey(id, k)) })
	default:
		owns := func(tag string) bool { return w.mine[tag] }
		a, b := w.full.ExpireCheck(w.now, owns), w.due.ExpireDue(w.now, owns)
		if a != b {
			w.t.Fatalf("step %d at %d: ExpireCheck made %d changes, ExpireDue %d", w.stepsTaken, w.now, a, b)
		}
	}
	w.stepsTaken++
	if !reflect.DeepEqual(w.fch, w.dch) {
		for _, x := range []*Store{w.full, w.due} {
			for _, cid := range w.ids {
				if c := x.clients[cid]; c != nil {
					w.t.Logf("%s owned %v since %d due %d svcs %d", cid, c.owned, c.ownedSince, c.dueAt, c.services.len())
				}
			}
		}
		w.t.Fatalf("step %d at %d: changes differ:\nfull %+v\ndue  %+v", w.stepsTaken, w.now, w.fch, w.dch)
	}
	w.fch, w.dch = w.fch[:0], w.dch[:0]
}

func (w *twinStores) sameState() {
	fm, dm := w.full.Metas(), w.due.Metas()
	if !reflect.DeepEqual(fm, dm) {
		w.t.Fatalf("records differ:\nfull %+v\ndue  %+v", fm, dm)
	}
	for _, k := range w.svcs {
		fv, dv := w.full.Service(k, Query{Admin: true}), w.due.Service(k, Query{Admin: true})
		if !reflect.DeepEqual(fv.Hosts, dv.Hosts) {
			w.t.Fatalf("instances of %v differ:\nfull %+v\ndue  %+v", k, fv.Hosts, dv.Hosts)
		}
	}
}

// ExpireDue must have exactly ExpireCheck's effects: same changes, same
// order, same state, across beats, registrations, peer records,
// refreshes, contested episodes, holds, isolation and ownership changes.
func TestExpireDue_MatchesExpireCheck(t *testing.T) {
	for seed := range uint64(60) {
		w := newTwins(t, seed)
		for range 3000 {
			w.step()
		}
		w.sameState()
	}
}
