package cp

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/distrod/distrod/internal/naming"
)

type memSink struct{ bytes.Buffer }

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Cancel() error { return nil }
func (s *memSink) Close() error  { return nil }

func apply(t *testing.T, f *FSM, c Command) error {
	t.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	res, _ := f.Apply(&raft.Log{Data: b}).(error)
	return res
}

func ptr[T any](v T) *T { return &v }

func TestFSM_OverridePatchMergesAndSnapshotRoundTrips(t *testing.T) {
	var touched []naming.ServiceKey
	f := NewFSM(func(ks []naming.ServiceKey) { touched = append(touched, ks...) })
	svc := naming.NewServiceKey("", "", "svc")
	k := InstanceKey{Service: svc, Cluster: "DEFAULT", IP: "10.0.0.1", Port: 80}
	if err := apply(t, f, Command{Op: OpOverrideSet, Instance: &k, Override: &Override{Weight: ptr(2.0), Metadata: map[string]string{"a": "1"}}}); err != nil {
		t.Fatal(err)
	}
	if err := apply(t, f, Command{Op: OpOverridePatch, Instance: &k, Override: &Override{Enabled: ptr(false), Metadata: map[string]string{"b": "2"}}}); err != nil {
		t.Fatal(err)
	}
	if err := apply(t, f, Command{Op: OpNamespaceCreate, Namespace: &Namespace{ID: "dev", Name: "Dev"}}); err != nil {
		t.Fatal(err)
	}
	if err := apply(t, f, Command{Op: OpNamespaceCreate, Namespace: &Namespace{ID: "dev"}}); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate namespace: %v", err)
	}
	if err := apply(t, f, Command{Op: OpServiceSet, Service: &svc, ServiceMeta: &naming.ServiceMeta{ProtectThreshold: 0.5}}); err != nil {
		t.Fatal(err)
	}
	if len(touched) != 3 {
		t.Fatalf("touched %v, want the service three times", touched)
	}

	in := naming.Instance{IP: "10.0.0.1", Port: 80, ClusterName: "DEFAULT", Weight: 1, Enabled: true, Metadata: map[string]string{"a": "0", "z": "9"}}
	orig := in.Metadata
	f.Overlay(svc)(&in)
	want := map[string]string{"a": "1", "b": "2", "z": "9"}
	if in.Weight != 2 || in.Enabled || !reflect.DeepEqual(in.Metadata, want) {
		t.Fatalf("overlaid instance %+v", in)
	}
	if orig["a"] != "0" {
		t.Fatal("overlay modified the registered metadata map")
	}

	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	g := NewFSM(nil)
	if err := g.Restore(io.NopCloser(&sink)); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f.st, g.st) {
		t.Fatalf("restored state differs:\n%+v\n%+v", f.st, g.st)
	}
	if m, ok := g.ServiceMeta(svc); !ok || m.ProtectThreshold != 0.5 {
		t.Fatalf("restored service %+v %v", m, ok)
	}

	// Removing the last field removes the override.
	if err := apply(t, f, Command{Op: OpOverrideSet, Instance: &k, Override: &Override{}}); err != nil {
		t.Fatal(err)
	}
	if f.Overlay(svc) != nil {
		t.Fatal("empty override kept")
	}
}

func persistentAddrs(f *FSM, k naming.ServiceKey) []string {
	var out []string
	for _, in := range f.PersistentInstances(k) {
		out = append(out, in.Addr())
	}
	return out
}

func TestFSM_PersistentInstancesFollowWritesAndRestore(t *testing.T) {
	f := NewFSM(nil)
	a := naming.NewServiceKey("", "", "a")
	b := naming.NewServiceKey("dev", "", "b")
	reg := func(k naming.ServiceKey, ip string) {
		t.Helper()
		if err := apply(t, f, Command{Op: OpPersistentRegister, Service: &k, Persistent: &naming.Instance{IP: ip, Port: 80, Healthy: true}}); err != nil {
			t.Fatal(err)
		}
	}
	reg(a, "10.0.0.2")
	reg(a, "10.0.0.1")
	reg(b, "10.0.0.3")
	gone := InstanceKey{Service: a, Cluster: naming.DefaultCluster, IP: "10.0.0.2", Port: 80}
	if err := apply(t, f, Command{Op: OpPersistentDeregister, Instance: &gone}); err != nil {
		t.Fatal(err)
	}
	gone.Service = b
	gone.IP = "10.0.0.3"
	if err := apply(t, f, Command{Op: OpPersistentDeregister, Instance: &gone}); err != nil {
		t.Fatal(err)
	}
	reg(b, "10.0.0.4")
	check := func(g *FSM) {
		t.Helper()
		if got, want := persistentAddrs(g, a), []string{"10.0.0.1:80"}; !reflect.DeepEqual(got, want) {
			t.Fatalf("service a holds %v, want %v", got, want)
		}
		if got, want := persistentAddrs(g, b), []string{"10.0.0.4:80"}; !reflect.DeepEqual(got, want) {
			t.Fatalf("service b holds %v, want %v", got, want)
		}
		if got := g.CatalogServices("dev"); !reflect.DeepEqual(got, []naming.ServiceKey{b}) {
			t.Fatalf("catalog of dev %v", got)
		}
		if got := g.CatalogNamespaces(); !reflect.DeepEqual(got, []string{"dev", a.Namespace}) {
			t.Fatalf("catalog namespaces %v", got)
		}
		var keys []string
		for _, e := range g.AllPersistent() {
			keys = append(keys, e.Key.String())
		}
		if want := []string{"dev##DEFAULT_GROUP@@b#DEFAULT#10.0.0.4:80", "public##DEFAULT_GROUP@@a#DEFAULT#10.0.0.1:80"}; !reflect.DeepEqual(keys, want) {
			t.Fatalf("all persistent %v, want %v", keys, want)
		}
	}
	check(f)

	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	// Writes after the snapshot was taken are not in it.
	reg(a, "10.0.0.9")
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	snap.Release()
	g := NewFSM(nil)
	reg2 := naming.NewServiceKey("", "", "stale")
	if err := apply(t, g, Command{Op: OpPersistentRegister, Service: &reg2, Persistent: &naming.Instance{IP: "10.9.9.9", Port: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := g.Restore(io.NopCloser(&sink)); err != nil {
		t.Fatal(err)
	}
	check(g)
	if got := persistentAddrs(g, reg2); len(got) != 0 {
		t.Fatalf("a restore kept instances of the replaced state: %v", got)
	}
}

// TestFSM_HealthBatchAppliesEveryUpdateAndSurvivesSnapshot: one batch
// command sets the health of instances of several services, skips an
// instance that is gone, reports each changed service once, and the
// result survives a snapshot and restore; the single-instance command of
// earlier builds' logs still applies.
func TestFSM_HealthBatchAppliesEveryUpdateAndSurvivesSnapshot(t *testing.T) {
	var touched [][]naming.ServiceKey
	f := NewFSM(func(ks []naming.ServiceKey) { touched = append(touched, ks) })
	a, b := naming.NewServiceKey("", "", "a"), naming.NewServiceKey("dev", "G", "b")
	var keys []InstanceKey
	for _, svc := range []naming.ServiceKey{a, b} {
		for _, ip := range []string{"10.0.0.1", "10.0.0.2"} {
			if err := apply(t, f, Command{Op: OpPersistentRegister, Service: &svc, Persistent: &naming.Instance{IP: ip, Port: 80, Healthy: true}}); err != nil {
				t.Fatal(err)
			}
			keys = append(keys, InstanceKey{Service: svc, Cluster: naming.DefaultCluster, IP: ip, Port: 80})
		}
	}
	touched = nil
	gone := InstanceKey{Service: a, Cluster: naming.DefaultCluster, IP: "10.0.0.9", Port: 80}
	batch := Command{Op: OpPersistentHealthBatch, Health: []HealthUpdate{
		{Instance: keys[0]}, {Instance: keys[2]}, {Instance: keys[3]}, {Instance: gone},
		{Instance: keys[1], Healthy: true}, // unchanged
	}}
	if err := apply(t, f, batch); err != nil {
		t.Fatal(err)
	}
	if len(touched) != 1 || !reflect.DeepEqual(touched[0], []naming.ServiceKey{a, b}) {
		t.Fatalf("touched %v, want one change of [a b]", touched)
	}
	want := map[string]bool{keys[0].String(): false, keys[1].String(): true, keys[2].String(): false, keys[3].String(): false}
	health := func(g *FSM) map[string]bool {
		out := map[string]bool{}
		for _, e := range g.AllPersistent() {
			out[e.Key.String()] = e.Instance.Healthy
		}
		return out
	}
	if got := health(f); !reflect.DeepEqual(got, want) {
		t.Fatalf("health %v, want %v", got, want)
	}
	if err := apply(t, f, Command{Op: OpPersistentHealthBatch}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("empty batch: %v, want ErrInvalid", err)
	}

	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	g := NewFSM(nil)
	if err := g.Restore(io.NopCloser(&sink)); err != nil {
		t.Fatal(err)
	}
	if got := health(g); !reflect.DeepEqual(got, want) {
		t.Fatalf("restored health %v, want %v", got, want)
	}

	// A single-instance health entry as the previous build logged it.
	old := []byte(`{"op":"persistent.health","timeMs":1,"instance":{"service":{"namespace":"public","group":"DEFAULT_GROUP","name":"a"},"cluster":"DEFAULT","ip":"10.0.0.1","port":80},"healthy":true}`)
	if res, _ := g.Apply(&raft.Log{Data: old}).(error); res != nil {
		t.Fatal(res)
	}
	want[keys[0].String()] = true
	if got := health(g); !reflect.DeepEqual(got, want) {
		t.Fatalf("after the single update %v, want %v", got, want)
	}
}
