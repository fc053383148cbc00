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
