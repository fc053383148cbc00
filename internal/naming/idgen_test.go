package naming

import (
	"regexp"
	"testing"
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
