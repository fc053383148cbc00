package distro

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// oracleOwner is the brute-force rendezvous owner: score every member of the
// raw view that is UP or SUSPICIOUS (self always UP), in the given order.
func oracleOwner(self string, view []Member, tag string) string {
	best, bestScore := "", uint64(0)
	consider := func(addr string) {
		s := rendezvousScore(strHash(addr), strHash(tag))
		if best == "" || s > bestScore || (s == bestScore && addr < best) {
			best, bestScore = addr, s
		}
	}
	seen := map[string]bool{self: true}
	consider(self)
	for _, m := range view {
		if seen[m.Addr] {
			continue
		}
		seen[m.Addr] = true
		if m.State == StateUp || m.State == StateSuspicious {
			consider(m.Addr)
		}
	}
	return best
}

func testNode(t *testing.T, self string) *Node {
	t.Helper()
	n, err := New(DefaultConfig(self), nopStore{}, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

type nopStore struct{}

func (nopStore) Get(string) (Record, bool) { return Record{}, false }
func (nopStore) Apply(Record) bool         { return true }
func (nopStore) Drop(string) bool          { return false }

func TestOwner_MatchesBruteForceOracle(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	states := []MemberState{StateUp, StateSuspicious, StateDown}
	for iter := range 300 {
		size := 1 + rng.IntN(9)
		var view []Member
		for i := range size {
			view = append(view, Member{Addr: fmt.Sprintf("10.0.%d.%d:8848", iter%7, i), State: states[rng.IntN(3)]})
		}
		self := view[rng.IntN(size)].Addr
		rng.Shuffle(len(view), func(i, j int) { view[i], view[j] = view[j], view[i] })
		n := testNode(t, self)
		n.SetMembers(testEpoch, view)
		for k := range 50 {
			tag := fmt.Sprintf("192.168.%d.%d:%d", rng.IntN(256), rng.IntN(256), 1000+k)
			if got, want := n.Owner(tag), oracleOwner(self, view, tag); got != want {
				t.Fatalf("iter %d view %v self %s tag %s: Owner=%s oracle=%s", iter, view, self, tag, got, want)
			}
		}
	}
}

func TestOwner_EqualViewsEqualOwners(t *testing.T) {
	view := []Member{{Addr: "a:1", State: StateUp}, {Addr: "b:1", State: StateSuspicious}, {Addr: "c:1", State: StateUp}, {Addr: "d:1", State: StateDown}}
	rev := []Member{view[3], view[2], view[1], view[0]}
	x, y := testNode(t, "a:1"), testNode(t, "c:1")
	x.SetMembers(testEpoch, view)
	y.SetMembers(testEpoch, rev)
	for i := range 1000 {
		tag := fmt.Sprintf("10.1.%d.%d:80", i/256, i%256)
		if x.Owner(tag) != y.Owner(tag) {
			t.Fatalf("tag %s: %s vs %s", tag, x.Owner(tag), y.Owner(tag))
		}
		if x.Owner(tag) == "d:1" {
			t.Fatalf("DOWN member owns %s", tag)
		}
	}
}

func TestOwner_RemovingMemberMovesOnlyItsKeys(t *testing.T) {
	for size := 2; size <= 9; size++ {
		var view []Member
		for i := range size {
			view = append(view, Member{Addr: fmt.Sprintf("10.0.0.%d:8848", i+1), State: StateUp})
		}
		before := testNode(t, view[0].Addr)
		before.SetMembers(testEpoch, view)
		gone := view[size-1].Addr
		after := testNode(t, view[0].Addr)
		after.SetMembers(testEpoch, view[:size-1])
		moved, owned := 0, 0
		for i := range 5000 {
			tag := fmt.Sprintf("172.16.%d.%d:8080", i/256, i%256)
			b, a := before.Owner(tag), after.Owner(tag)
			if b == gone {
				owned++
			}
			if a != b {
				moved++
				if b != gone {
					t.Fatalf("size %d: %s moved from %s (still a member) to %s", size, tag, b, a)
				}
			}
		}
		if moved != owned {
			t.Fatalf("size %d: %d keys of the removed member, %d moved", size, owned, moved)
		}
		// Balance: every member owns roughly 1/size of the keys.
		if exp := 5000 / size; owned < exp/2 || owned > exp*3/2 {
			t.Errorf("size %d: removed member owned %d keys, expected ~%d", size, owned, exp)
		}
	}
}

func TestOwner_StandaloneOwnsEverything(t *testing.T) {
	n := testNode(t, "solo:1")
	if n.Owner("1.2.3.4:80") != "solo:1" {
		t.Fatal("standalone node must own every tag")
	}
	n.SetMembers(testEpoch, []Member{{Addr: "solo:1", State: StateDown}, {Addr: "other:1", State: StateDown}})
	if n.Owner("1.2.3.4:80") != "solo:1" {
		t.Fatal("self is always on the ring; the only live member owns everything")
	}
	if !n.Owns(Meta{Key: "c1", Owner: "solo:1"}) || n.Owns(Meta{Key: "c2", Owner: "other:1"}) {
		t.Fatal("connection clients are owned by their writer")
	}
}

func TestRing_AgreesWithNodeOwner(t *testing.T) {
	view := []Member{{Addr: "a:1", State: StateUp}, {Addr: "b:1", State: StateSuspicious}, {Addr: "c:1", State: StateDown}, {Addr: "d:1", State: StateUp}}
	n := testNode(t, "a:1")
	n.SetMembers(testEpoch, view)
	r := NewRing([]string{"d:1", "b:1", "a:1"})
	for i := range 2000 {
		tag := fmt.Sprintf("10.2.%d.%d:80", i/256, i%256)
		if r.Owner(tag) != n.Owner(tag) {
			t.Fatalf("%s: Ring says %s, Node says %s", tag, r.Owner(tag), n.Owner(tag))
		}
	}
}
