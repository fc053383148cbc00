package naming

import (
	"regexp"
	"testing"

	"github.com/distrod/distrod/internal/hlc"
)

func TestSnowflake_IDsIncreaseAndCarryClusterAndService(t *testing.T) {
	g := NewSnowflake("10.0.0.1:8848")
	prev := int64(0)
	for i := 0; i < 5000; i++ {
		// The clock stands still and steps back: ids still increase.
		id := g.Next(snowflakeEpoch + 1000 - int64(i%3))
		if id <= prev {
			t.Fatalf("id %d after %d", id, prev)
		}
		prev = id
	}
	svc := NewServiceKey("", "G", "s")
	in := Instance{IP: "10.0.0.1", Port: 80, ClusterName: "c1", Metadata: map[string]string{MetaIDGenerator: IDGeneratorSnowflake}}
	g.AssignID(snowflakeEpoch+5000, &in, svc)
	if !regexp.MustCompile(`^\d+#c1#G@@s$`).MatchString(in.InstanceID) {
		t.Fatalf("snowflake id %q", in.InstanceID)
	}
	simple := Instance{IP: "10.0.0.1", Port: 80, ClusterName: "c1"}
	g.AssignID(snowflakeEpoch+5000, &simple, svc)
	if simple.InstanceID != "" || simple.ID(svc) != "10.0.0.1#80#c1#G@@s" {
		t.Fatalf("simple id %q / %q", simple.InstanceID, simple.ID(svc))
	}
}

// A client that registers an endpoint it already holds keeps its
// snowflake id; another client, or another endpoint, gets a new one.
func TestStore_AssignIDKeepsTheIdOfAReRegistration(t *testing.T) {
	s := NewStore("a:1", hlc.NewClock("a:1"))
	g := NewSnowflake("a:1")
	svc := NewServiceKey("", "", "s")
	in := Instance{IP: "10.0.0.1", Port: 80, Weight: 1, Healthy: true, Enabled: true, Ephemeral: true,
		Metadata: map[string]string{MetaIDGenerator: IDGeneratorSnowflake}}
	first := in
	s.AssignID(g, 1000, "conn-1", svc, &first)
	if err := s.Publish(1000, "conn-1", svc, Publication{Instances: []Instance{first}}); err != nil {
		t.Fatal(err)
	}
	again := in
	s.AssignID(g, 2000, "conn-1", svc, &again)
	if again.InstanceID != first.InstanceID {
		t.Fatalf("re-registration got id %q, want %q", again.InstanceID, first.InstanceID)
	}
	other := in
	s.AssignID(g, 2000, "conn-2", svc, &other)
	moved := in
	moved.Port = 81
	s.AssignID(g, 2000, "conn-1", svc, &moved)
	if other.InstanceID == first.InstanceID || moved.InstanceID == first.InstanceID || other.InstanceID == moved.InstanceID {
		t.Fatalf("ids %q %q %q must differ from each other", first.InstanceID, other.InstanceID, moved.InstanceID)
	}
}
