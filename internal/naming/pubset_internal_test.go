package naming

import (
	"slices"
	"testing"
)

func members(p *pubSet) []string {
	var out []string
	for id := range p.all {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

func TestPubSet_AddRemoveKeepsMembers(t *testing.T) {
	var p pubSet
	if p.len() != 0 || len(members(&p)) != 0 {
		t.Fatal("zero set not empty")
	}
	p.add("a")
	p.add("a")
	if p.len() != 1 || !slices.Equal(members(&p), []string{"a"}) {
		t.Fatalf("one member: %v", members(&p))
	}
	p.add("b")
	p.add("c")
	if p.len() != 3 || !slices.Equal(members(&p), []string{"a", "b", "c"}) {
		t.Fatalf("three members: %v", members(&p))
	}
	p.remove("b")
	p.remove("zzz")
	if p.len() != 2 || !slices.Equal(members(&p), []string{"a", "c"}) {
		t.Fatalf("after remove: %v", members(&p))
	}
	p.remove("a")
	if p.len() != 1 || !slices.Equal(members(&p), []string{"c"}) || p.more != nil {
		t.Fatalf("back to one, inline: %v", members(&p))
	}
	p.remove("x")
	p.remove("c")
	if p.len() != 0 || len(members(&p)) != 0 {
		t.Fatalf("empty again: %v", members(&p))
	}
	p.add("d")
	p.add("e")
	n := 0
	for range p.all {
		n++
		break
	}
	if n != 1 {
		t.Fatal("all must stop when yield returns false")
	}
}

func TestPubIndex_InlineThenMap(t *testing.T) {
	var x pubIndex[*Publication]
	a, b, c := NewServiceKey("", "", "a"), NewServiceKey("", "", "b"), NewServiceKey("", "", "c")
	pa, pb, pc := &Publication{}, &Publication{Batch: true}, &Publication{}
	if x.get(a) != nil || x.len() != 0 {
		t.Fatal("empty index answers")
	}
	x.set(a, pa)
	if x.get(a) != pa || x.get(b) != nil || x.len() != 1 || x.m != nil {
		t.Fatal("one entry must be inline")
	}
	x.set(a, pb)
	if x.get(a) != pb || x.len() != 1 {
		t.Fatal("replacing the inline entry")
	}
	x.set(b, pb)
	x.set(c, pc)
	if x.len() != 3 || x.get(a) != pb || x.get(b) != pb || x.get(c) != pc {
		t.Fatal("three entries")
	}
	if got := x.sortedKeys(); len(got) != 3 || got[0] != a || got[1] != b || got[2] != c {
		t.Fatalf("sortedKeys = %v", got)
	}
	x.del(b)
	x.del(NewServiceKey("", "", "zzz"))
	x.del(a)
	if x.len() != 1 || x.m != nil || x.get(c) != pc {
		t.Fatal("back to one inline entry")
	}
	if v, ok := x.lookup(c); !ok || v != pc {
		t.Fatal("lookup of the inline entry")
	}
	if _, ok := x.lookup(a); ok {
		t.Fatal("lookup of a deleted entry")
	}
	x.del(c)
	if x.len() != 0 || len(x.sortedKeys()) != 0 {
		t.Fatal("empty again")
	}
}
