package nacoswire

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/distrod/distrod/internal/hlc"
	"github.com/distrod/distrod/internal/naming"
)

var svcA = naming.NewServiceKey("", "", "a")

func inst(ip string, port int, cluster string) naming.Instance {
	return naming.Instance{IP: ip, Port: port, Weight: 1, Healthy: true, Enabled: true, Ephemeral: true, ClusterName: cluster}
}

func TestBuilder_LastRefTimeStrictlyIncreasesAndDuplicatesCollapse(t *testing.T) {
	store := naming.NewStore("n1", hlc.NewClock("n1"))
	fixed := time.UnixMilli(1000)
	stamps := new(Stamps)
	b := NewBuilder(store, func() time.Time { return fixed }, stamps)
	store.Publish(1, "c1", svcA, naming.Publication{Instances: []naming.Instance{inst("10.0.0.1", 1, "")}})
	store.Publish(1, "c2", svcA, naming.Publication{Instances: []naming.Instance{inst("10.0.0.1", 1, "")}})
	prev := int64(0)
	for range 100 {
		si := b.Build(svcA, "", false)
		if si.LastRefTime <= prev {
			t.Fatalf("lastRefTime %d after %d", si.LastRefTime, prev)
		}
		prev = si.LastRefTime
		if len(si.Hosts) != 1 {
			t.Fatalf("duplicate hosts not collapsed: %+v", si.Hosts)
		}
	}
	if stamps.RefTime(fixed) <= prev {
		t.Fatal("RefTime went back")
	}
}

func TestWeight_MarshalsAsFloat(t *testing.T) {
	for w, want := range map[float64]string{1: "1.0", 2.5: "2.5", 0: "0.0", 10000: "10000.0", 0.001: "0.001"} {
		b, _ := json.Marshal(Weight(w))
		if string(b) != want {
			t.Errorf("Weight(%v) = %s, want %s", w, b, want)
		}
	}
}

func TestBuilder_BuildJSONReusesHostsUntilTheServiceChanges(t *testing.T) {
	store := naming.NewStore("a:1", hlc.NewClock("a:1"))
	svc := naming.NewServiceKey("", "", "cached")
	b := NewBuilder(store, nil, nil)
	pub := func(port int) {
		in := naming.Instance{IP: "10.0.0.1", Port: port, Weight: 1, Healthy: true, Enabled: true, Ephemeral: true}
		if err := store.Publish(1, "c", svc, naming.Publication{Instances: []naming.Instance{in}}); err != nil {
			t.Fatal(err)
		}
	}
	decode := func(raw []byte) ServiceInfo {
		var si ServiceInfo
		if err := json.Unmarshal(raw, &si); err != nil {
			t.Fatal(err)
		}
		return si
	}
	pub(1)
	first := decode(b.BuildJSON(svc, "", false))
	second := decode(b.BuildJSON(svc, "", false))
	if len(first.Hosts) != 1 || second.LastRefTime <= first.LastRefTime {
		t.Fatalf("cached answer must keep hosts and advance lastRefTime: %+v %+v", first, second)
	}
	want, _ := json.Marshal(b.Build(svc, "", false).Hosts)
	got, _ := json.Marshal(second.Hosts)
	if string(want) != string(got) {
		t.Fatalf("cached hosts differ from a fresh build:\n%s\n%s", got, want)
	}
	pub(2)
	if third := decode(b.BuildJSON(svc, "", false)); len(third.Hosts) != 1 || third.Hosts[0].Port != 2 {
		t.Fatalf("a change must invalidate the cache: %+v", third.Hosts)
	}
}

func TestStamps_RequestIDsAreUniquePerStamps(t *testing.T) {
	var a, b Stamps
	seen := map[string]bool{}
	for range 1000 {
		id := a.RequestID()
		if seen[id] {
			t.Fatalf("requestId %s repeated", id)
		}
		seen[id] = true
	}
	if b.RequestID() != "1" {
		t.Fatal("a second Stamps shares the first one's sequence")
	}
}

func TestFromView_GroupsTheNameAndKeepsTheCallersStamps(t *testing.T) {
	v := naming.ServiceView{Key: svcA, Hosts: []naming.Instance{inst("10.0.0.1", 1, "c")}, ReachProtectionThreshold: true}
	si := FromView(v, "c", 3000, 42)
	if si.Name != svcA.Grouped() || si.GroupName != svcA.Group || si.Clusters != "c" || si.CacheMillis != 3000 ||
		si.LastRefTime != 42 || !si.Valid || !si.ReachProtectionThreshold || len(si.Hosts) != 1 || si.Hosts[0].ServiceName != svcA.Grouped() {
		t.Fatalf("FromView = %+v", si)
	}
}
