package naming

import (
	"slices"
	"testing"

	"github.com/distrod/distrod/internal/hlc"
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

func TestValidClusterName_MatchesNacosPattern(t *testing.T) {
	for name, want := range map[string]bool{
		"DEFAULT": true, "c-1": true, "A9z": true, "-": true,
		"": false, "c_1": false, "c 1": false, "c.1": false, "é": false, "c\x00": false,
	} {
		if got := validClusterName(name); got != want {
			t.Errorf("validClusterName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestStore_InternedMetadataCountsEveryHolder(t *testing.T) {
	src := newTestStore("n1:8848")
	meta := map[string]string{"v": "1"}
	for i := range 20 {
		ins := []Instance{inst("10.0.0.1", 1000+i), inst("10.0.0.2", 1000+i)}
		ins[0].Metadata, ins[1].Metadata = meta, map[string]string{"v": "1"}
		if err := src.Publish(1000, "conn-"+string(rune('a'+i)), svcA, Publication{Batch: true, Instances: ins}); err != nil {
			t.Fatal(err)
		}
	}
	dst := newTestStore("n2:8848")
	for _, m := range src.Metas() {
		r, _ := src.Get(m.Key)
		if _, err := dst.Apply(2000, r); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []*Store{src, dst} {
		if len(s.metaIntern) != 1 {
			t.Fatalf("%d interned maps, want 1", len(s.metaIntern))
		}
		for _, e := range s.metaIntern {
			if e.refs != 40 {
				t.Fatalf("refs = %d, want 40 (one per instance)", e.refs)
			}
		}
	}
	for i := range 20 {
		dst.RemoveClient(3000, "conn-"+string(rune('a'+i)))
	}
	if len(dst.metaIntern) != 0 {
		t.Fatalf("%d interned maps left after every holder went", len(dst.metaIntern))
	}
	// A map interned again after its entry left the table starts afresh.
	r, _ := src.Get(src.Metas()[0].Key)
	if _, err := dst.Apply(4000, Record{RecordMeta: RecordMeta{Key: r.Key, Version: hlc.Version{Clock: 1 << 62}, Owner: r.Owner, Tag: r.Tag}, Data: r.Data}); err != nil {
		t.Fatal(err)
	}
	for _, e := range dst.metaIntern {
		if e.refs != 2 {
			t.Fatalf("refs = %d after re-adding, want 2", e.refs)
		}
	}
}
