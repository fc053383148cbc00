package naming

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestParseServiceKey_RefusesKeySeparators: a separator inside a name
// would make PubKey/ServiceRecordKey split back into other names, and the
// nodes would store the record under different keys for ever.
func TestParseServiceKey_RefusesKeySeparators(t *testing.T) {
	for _, c := range []struct{ ns, name, group, msg string }{
		{"a##b", "svc", "", "Param 'namespaceId/tenant' is illegal, illegal characters should not appear in the param."},
		{"a|b", "svc", "", "namespaceId/tenant"},
		{"a@@b", "svc", "", "namespaceId/tenant"},
		{"", "svc", "g##h", "Param 'group' is illegal, illegal characters should not appear in the param."},
		{"", "svc", "g|h", "'group'"},
		{"", "svc", "g@h", "'group'"},
		{"", "s##t", "", "Param 'serviceName' is illegal, illegal characters should not appear in the param."},
		{"", "s|t", "", "'serviceName'"},
		{"", "@svc", "", "'serviceName'"},
		{"", "g@@s@@t", "", "groupName@@serviceName"},
		{"", "s t", "", "'serviceName'"},
		{"", "s\x00t", "", "'serviceName'"},
		{"", "服务", "", "'serviceName'"},
		{"", "g|x@@svc", "", "'group'"},
	} {
		_, err := ParseServiceKey(c.ns, c.name, c.group)
		if !errors.Is(err, ErrInvalidParam) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("ParseServiceKey(%q, %q, %q) = %v; want %q", c.ns, c.name, c.group, err, c.msg)
		}
	}
	for _, c := range [][3]string{
		{"", "svc", ""}, {"dev-1_a", "providers:com.foo.Api:1.0.0:", "G.x:y-z_1"}, {"", "DEFAULT_GROUP@@a.b-c", ""},
		{"ns", "name#with#hash", ""},
	} {
		k, err := ParseServiceKey(c[0], c[1], c[2])
		if err != nil {
			t.Errorf("ParseServiceKey(%q) = %v", c, err)
			continue
		}
		// Every accepted key survives the replication keys.
		id, back, err := ParsePubKey(PubKey("10.0.0.1:80#true", k))
		if err != nil || id != "10.0.0.1:80#true" || back != k {
			t.Errorf("PubKey round trip of %+v: %q %+v %v", k, id, back, err)
		}
		if back, err := parseServiceRecordKey(ServiceRecordKey(k)); err != nil || back != k {
			t.Errorf("ServiceRecordKey round trip of %+v: %+v %v", k, back, err)
		}
	}
}

func TestInstanceNormalize_ChecksIPAndCluster(t *testing.T) {
	for _, ip := range []string{"10.0.0.1", "::1", "2001:db8::7", "host-1.example.com", "svc_a.local", "localhost"} {
		in := inst(ip, 80)
		if err := in.Normalize(); err != nil {
			t.Errorf("ip %q refused: %v", ip, err)
		}
	}
	for _, ip := range []string{"10.0.0.1|x", "1.2.3.999", "a b", "-a.com", "a..b", "fe80::1%eth0", "x:y", "a#b",
		strings.Repeat("a", 129), "10.0.0.1\n", "ä.com"} {
		in := inst(ip, 80)
		if err := in.Normalize(); !errors.Is(err, ErrInvalidParam) {
			t.Errorf("ip %q accepted", ip)
		}
	}
	in := inst("10.0.0.1", 80)
	in.ClusterName = strings.Repeat("c", MaxClusterNameLen+1)
	if err := in.Normalize(); err == nil || !strings.Contains(err.Error(), "Param 'cluster' is illegal, the param length should not exceed 64.") {
		t.Errorf("long cluster: %v", err)
	}
}

// TestStore_ApplyRefusesRecordsWithSeparators: replicated records are
// checked like client writes, so a peer cannot plant a split key.
func TestStore_ApplyRefusesRecordsWithSeparators(t *testing.T) {
	owner := newTestStore("n1:8848")
	if err := owner.Publish(1, "conn1", svcA, Publication{Instances: []Instance{inst("10.0.0.1", 1)}}); err != nil {
		t.Fatal(err)
	}
	rec, _ := owner.Get(PubKey("conn1", svcA))
	peer := newTestStore("n2:8848")
	bad := rec
	bad.Key = "conn1|public##g|x@@a"
	if _, err := peer.Apply(1, bad); !errors.Is(err, ErrInvalidParam) {
		t.Fatalf("apply of %q: %v", bad.Key, err)
	}
	if err := owner.CreateService(1, NewServiceKey("", "", "b"), ServiceMeta{}); err != nil {
		t.Fatal(err)
	}
	srec, _ := owner.Get(ServiceRecordKey(NewServiceKey("", "", "b")))
	srec.Key = "svc:public##DEFAULT_GROUP@@other"
	if _, err := peer.Apply(1, srec); !errors.Is(err, ErrInvalidParam) {
		t.Fatalf("service record under another key: %v", err)
	}
	if len(peer.Metas()) != 0 {
		t.Fatalf("peer stored %v", peer.Metas())
	}
}

func TestStore_LimitsRefuseOwnerWrites(t *testing.T) {
	s := newTestStore("n1:8848")
	s.SetLimits(Limits{MaxNamespaceLen: 8, MaxGroupLen: 16, MaxServiceNameLen: 8, MaxMetadataKeyLen: 4,
		MaxMetadataValueLen: 8, MaxMetadataBytes: 16, MaxInstancesPerService: 3, MaxServicesPerNamespace: 2, MaxNamespaces: 2})
	pub := func(id string, k ServiceKey, md map[string]string, ips ...string) error {
		var ins []Instance
		for _, ip := range ips {
			in := inst(ip, 80)
			in.Metadata = md
			ins = append(ins, in)
		}
		return s.Publish(1, id, k, Publication{Batch: len(ins) > 1, Instances: ins})
	}
	for name, c := range map[string]struct {
		k    ServiceKey
		md   map[string]string
		want string
	}{
		"service name": {NewServiceKey("", "", "123456789"), nil, "Param 'serviceName' is illegal, the param length should not exceed 8."},
		"group":        {NewServiceKey("", "123456789abcdefgh", "s"), nil, "Param 'group' is illegal, the param length should not exceed 16."},
		"namespace":    {NewServiceKey("123456789", "", "s"), nil, "Param 'namespaceId/tenant' is illegal, the param length should not exceed 8."},
		"metadata key": {NewServiceKey("", "", "s"), map[string]string{"12345": "v"}, "the param length should not exceed 4."},
		"value":        {NewServiceKey("", "", "s"), map[string]string{"k": "123456789"}, "the param length should not exceed 8."},
		"total":        {NewServiceKey("", "", "s"), map[string]string{"k1": "1234567", "k2": "1234567"}, "Param 'Metadata' is illegal, the param length should not exceed 16."},
	} {
		err := pub("c", c.k, c.md, "10.0.0.1")
		if !errors.Is(err, ErrInvalidParam) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := s.CreateService(1, NewServiceKey("", "", "s"), ServiceMeta{Metadata: map[string]string{"k": "123456789"}}); !errors.Is(err, ErrInvalidParam) {
		t.Errorf("service metadata: %v", err)
	}
	// Instances per service, over clients.
	if err := pub("c1", svcA, nil, "10.0.0.1", "10.0.0.2"); err != nil {
		t.Fatal(err)
	}
	if err := pub("c2", svcA, nil, "10.0.0.3", "10.0.0.4"); !errors.Is(err, ErrLimitExceeded) {
		t.Fatalf("4th instance: %v", err)
	}
	if err := pub("c2", svcA, nil, "10.0.0.3"); err != nil {
		t.Fatalf("3rd instance: %v", err)
	}
	// Replacing one's own publication with as many instances is fine.
	if err := pub("c1", svcA, nil, "10.0.0.5", "10.0.0.6"); err != nil {
		t.Fatalf("replace: %v", err)
	}
	// Services per namespace, then namespaces.
	if err := s.CreateService(1, NewServiceKey("", "", "b"), ServiceMeta{}); err != nil {
		t.Fatal(err)
	}
	if err := pub("c3", NewServiceKey("", "", "c"), nil, "10.0.0.1"); !errors.Is(err, ErrLimitExceeded) {
		t.Fatalf("3rd service: %v", err)
	}
	if err := s.CreateService(1, NewServiceKey("ns2", "", "a"), ServiceMeta{}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateService(1, NewServiceKey("ns3", "", "a"), ServiceMeta{}); !errors.Is(err, ErrLimitExceeded) {
		t.Fatalf("3rd namespace: %v", err)
	}
	if _, ok := s.Client("c3"); ok {
		t.Fatal("a refused publish left an empty client behind")
	}
	// Peers' records are applied whatever the limits: the owner decides.
	peer := newTestStore("n2:8848")
	for i := 0; i < 4; i++ {
		k := NewServiceKey(fmt.Sprintf("ns%d", i), "", "a-long-service-name")
		if err := peer.Publish(1, "conn", k, Publication{Instances: []Instance{inst("10.0.0.1", 1)}}); err != nil {
			t.Fatal(err)
		}
		r, _ := peer.Get(PubKey("conn", k))
		if ok, err := s.Apply(1, r); !ok || err != nil {
			t.Fatalf("apply %s: %v %v", r.Key, ok, err)
		}
	}
}

// TestStore_InternedMetadataFreedWithLastUser: an interned metadata map
// leaves the table when the last instance holding it goes, so distinct
// metadata of instances that are gone no longer pins memory.
func TestStore_InternedMetadataFreedWithLastUser(t *testing.T) {
	s := newTestStore("n1:8848")
	s.SetLimits(Limits{})
	big := strings.Repeat("x", 32<<10)
	for i := 0; i < 40; i++ {
		in := inst("10.0.0.1", 1000+i)
		in.Metadata = map[string]string{"blob": fmt.Sprint(i, big)}
		if err := s.Publish(1, fmt.Sprint("c", i), svcA, Publication{Instances: []Instance{in}}); err != nil {
			t.Fatal(err)
		}
	}
	// Two holders of one map: it stays until both are gone.
	shared := map[string]string{"zone": "a"}
	for _, id := range []string{"s1", "s2"} {
		in := inst("10.0.0.2", 80)
		in.Metadata = shared
		if err := s.Publish(1, id, svcA, Publication{Instances: []Instance{in}}); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(s.metaIntern); n != 41 {
		t.Fatalf("%d interned maps, want 41", n)
	}
	for i := 0; i < 40; i++ {
		if !s.Unpublish(2, fmt.Sprint("c", i), svcA) {
			t.Fatal("unpublish")
		}
	}
	s.Unpublish(2, "s1", svcA)
	if n := len(s.metaIntern); n != 1 {
		t.Fatalf("%d interned maps after removals, want 1 (the shared one)", n)
	}
	// Updates and expiry swap holders without leaking.
	if err := s.UpdateInstance(3, "s2", svcA, "10.0.0.2", 80, "", func(in *Instance) { in.Metadata = map[string]string{"zone": "b"} }); err != nil {
		t.Fatal(err)
	}
	if n := len(s.metaIntern); n != 1 {
		t.Fatalf("%d interned maps after update, want 1", n)
	}
	s.RemoveClient(4, "s2")
	if n := len(s.metaIntern); n != 0 {
		t.Fatalf("%d interned maps with no instance left", n)
	}
}
