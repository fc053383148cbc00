package hlc

import "testing"

func TestClock_NextIsStrictlyIncreasing(t *testing.T) {
	c := NewClock("10.0.0.1:8848")
	prev := c.Next(1000)
	for i, now := range []int64{1000, 999, 1000, 1001, 5, 2000} {
		v := c.Next(now)
		if !v.Newer(prev) {
			t.Fatalf("step %d: %v not newer than %v", i, v, prev)
		}
		prev = v
	}
}

func TestClock_ObserveMovesPastRemote(t *testing.T) {
	a, b := NewClock("a:1"), NewClock("b:1")
	va := a.Next(5000)
	b.Observe(va)
	if vb := b.Next(10); !vb.Newer(va) {
		t.Fatalf("%v should be newer than observed %v", vb, va)
	}
}

func TestVersion_CompareTieBreaksOnNode(t *testing.T) {
	x := Version{Clock: 7, Node: 1}
	y := Version{Clock: 7, Node: 2}
	if x.Compare(y) != -1 || y.Compare(x) != 1 || x.Compare(x) != 0 {
		t.Fatal("tie-break on node hash is wrong")
	}
	if (Version{}).Newer(x) || !x.Newer(Version{}) {
		t.Fatal("zero version must be oldest")
	}
}

// A derived version ranks above its base and below every later client
// action, on any node; two nodes deriving from one base differ.
func TestClock_DeriveRanksBetweenBaseAndLaterActions(t *testing.T) {
	a, b := NewClock("a:1"), NewClock("b:1")
	base := a.Next(1000)
	b.Observe(base)
	after := b.Next(999) // b saw base: its next action is newer whatever its clock says
	da := a.Derive(50000, base, 1000, 1)
	db := b.Derive(50000, base, 1000, 1)
	if !da.Newer(base) || !db.Newer(base) {
		t.Fatalf("derived %v %v not newer than base %v", da, db, base)
	}
	if !after.Newer(da) || !after.Newer(db) {
		t.Fatalf("a later client action %v must outrank derived %v %v", after, da, db)
	}
	if da == db {
		t.Fatal("two nodes derived the same version")
	}
	if dd := a.Derive(60000, da, 1000, 0); !dd.Newer(da) || !after.Newer(dd) {
		t.Fatalf("second derivation %v", dd)
	}
	// A derivation that reflects later beats outranks one that reflects
	// earlier ones, whichever node made them and in whatever order.
	early := a.Derive(90000, da, 2000, 2)
	late := b.Derive(80000, base, 5000, 0)
	if !late.Newer(early) || !late.Newer(da) || !after.Newer(late) {
		t.Fatalf("beat order: late %v early %v", late, early)
	}
	// At equal knowledge of the beats, the heavier change wins.
	record := a.Derive(90000, base, 7000, 0)
	expiry := b.Derive(90000, base, 7000, 1)
	if !expiry.Newer(record) {
		t.Fatalf("an expiry %v must win over a record %v of the same beat", expiry, record)
	}
	if z := a.Derive(70000, Version{}, 0, 0); z.Derived() || z.IsZero() {
		t.Fatalf("derive from zero = %v, want a client action", z)
	}
}
