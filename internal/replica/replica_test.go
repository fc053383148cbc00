package replica

import (
	"errors"
	"testing"
	"time"

	"github.com/distrod/distrod/internal/distro"
	"github.com/distrod/distrod/internal/hlc"
	"github.com/distrod/distrod/internal/naming"
)

var svc = naming.NewServiceKey("", "", "s")

func TestObserve_FlagsOwnDeadConnectionsFromPeersOnly(t *testing.T) {
	conn := naming.PubKey("1700000000000_10.0.0.1_5000", svc)
	v := hlc.Version{Clock: 1 << 16}
	remote := naming.Change{Record: naming.RecordMeta{Key: conn, Version: v, Owner: "me:1"}}
	if o := Observe(remote, "me:1", nil); !o.Observe || o.StaleClient != "1700000000000_10.0.0.1_5000" {
		t.Fatalf("own connection record from a peer must be stale: %+v", o)
	}
	if o := Observe(remote, "me:1", func(string) bool { return true }); o.StaleClient != "" {
		t.Fatal("a live connection is never stale")
	}
	if o := Observe(remote, "other:1", nil); o.StaleClient != "" {
		t.Fatal("another node's connection is not ours to delete")
	}
	local := remote
	local.Local = true
	if o := Observe(local, "me:1", nil); o.StaleClient != "" {
		t.Fatal("our own write is never stale")
	}
	http := naming.Change{Record: naming.RecordMeta{Key: naming.PubKey("10.0.0.1:80#true", svc), Tag: "10.0.0.1:80", Owner: "me:1", Version: v}}
	if o := Observe(http, "me:1", nil); o.StaleClient != "" {
		t.Fatal("HTTP clients are owned by hash, never reaped")
	}
	if o := Observe(naming.Change{Record: naming.RecordMeta{Key: conn}, Dropped: true}, "me:1", nil); o.Observe {
		t.Fatal("drops are not observed")
	}
}

func TestStorage_AppliesAndReportsRejects(t *testing.T) {
	src := naming.NewStore("a:1", hlc.NewClock("a:1"))
	dst := naming.NewStore("b:1", hlc.NewClock("b:1"))
	_ = src.Publish(1, "c1", svc, naming.Publication{Instances: []naming.Instance{{IP: "1.1.1.1", Port: 1, Weight: 1, Healthy: true, Enabled: true}}})
	rejected := 0
	a := Storage{Store: dst, Now: time.Now, OnReject: func(_ distro.Record, _ error) { rejected++ }}
	r, _ := src.Get(naming.PubKey("c1", svc))
	if !a.Apply(ToDistro(r)) || len(dst.Service(svc, naming.Query{}).Hosts) != 1 {
		t.Fatal("record not applied")
	}
	bad := ToDistro(r)
	bad.Version.Clock += 1 << 16
	bad.Data = []byte{0xff}
	if a.Apply(bad) || rejected != 1 {
		t.Fatalf("bad record: rejected=%d", rejected)
	}
	if got, ok := a.Get(naming.PubKey("c1", svc)); !ok || got.Version != r.Version {
		t.Fatal("get after apply")
	}
	if !a.Drop(naming.PubKey("c1", svc)) || dst.Service(svc, naming.Query{}).Exists {
		t.Fatal("drop")
	}
}

func TestStorage_RefusesVersionsBeyondTheClockOffset(t *testing.T) {
	now := time.UnixMilli(1_800_000_000_000)
	src := naming.NewStore("a:1", hlc.NewClock("a:1"))
	clock := hlc.NewClock("b:1")
	dst := naming.NewStore("b:1", clock)
	_ = src.Publish(now.UnixMilli(), "c1", svc, naming.Publication{Instances: []naming.Instance{{IP: "1.1.1.1", Port: 1, Weight: 1, Healthy: true, Enabled: true}}})
	var rejects []error
	a := Storage{Store: dst, Now: func() time.Time { return now }, MaxClockOffset: 30 * time.Second,
		OnReject: func(_ distro.Record, err error) { rejects = append(rejects, err) }}
	r, _ := src.Get(naming.PubKey("c1", svc))
	for _, clk := range []uint64{^uint64(0), uint64(now.Add(time.Hour).UnixMilli()) << 16, uint64(now.Add(31*time.Second).UnixMilli()) << 16} {
		future := ToDistro(r)
		future.Version.Clock = clk
		if a.Apply(future) {
			t.Fatalf("record at %v applied", future.Version)
		}
	}
	if len(rejects) != 3 || !errors.Is(rejects[0], ErrFutureVersion) {
		t.Fatalf("rejects = %v", rejects)
	}
	if _, ok := dst.Get(naming.PubKey("c1", svc)); ok {
		t.Fatal("a future record reached the store")
	}
	if v := clock.Next(now.UnixMilli()); v.Millis() != now.UnixMilli() {
		t.Fatalf("clock adopted a refused version: next write at %d, now %d", v.Millis(), now.UnixMilli())
	}
	// Within the bound is accepted.
	near := ToDistro(r)
	near.Version.Clock = uint64(now.Add(29*time.Second).UnixMilli()) << 16
	if !a.Apply(near) || len(rejects) != 3 {
		t.Fatal("record within the bound refused")
	}
}
