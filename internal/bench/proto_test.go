package bench

import (
	"encoding/json"
	"strings"
	"testing"
)

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The golden bodies are the ones nacos-client-protocol.md §2–§5 records
// from nacos-sdk-go v2.3.2 (field order included: the SDK marshals its
// structs with encoding/json). The SDK packages themselves cannot be linked
// here: they pull in a logger module that go.sum does not carry.
func TestRequestBodies_MatchSDKBytes(t *testing.T) {
	inst := Instance{IP: "10.0.0.1", Port: 8080, Weight: 2.5, Healthy: true, Enabled: true, Ephemeral: true,
		Metadata: map[string]string{"k": "v"}}
	const instJSON = `{"instanceId":"","ip":"10.0.0.1","port":8080,"weight":2.5,"healthy":true,"enabled":true,"ephemeral":true,"clusterName":"","serviceName":"","metadata":{"k":"v"},"instanceHeartBeatInterval":0,"ipDeleteTimeout":0,"instanceHeartBeatTimeOut":0}`
	const head = `{"requestId":"","namespace":"public","serviceName":"svc","groupName":"DEFAULT_GROUP","module":"naming"`
	cases := []struct {
		name string
		ours any
		want string
	}{
		{"ServerCheckRequest", internalReq{Module: "internal"}, `{"requestId":"","module":"internal"}`},
		{"ConnectionSetupRequest",
			connectionSetupReq{internalReq: internalReq{Module: "internal"}, ClientVersion: ClientVersionV2,
				Labels: map[string]string{"source": "sdk", "module": "naming"}},
			`{"requestId":"","module":"internal","clientVersion":"Nacos-Go-Client:v2.2.7","tenant":"","labels":{"module":"naming","source":"sdk"},"clientAbilities":{}}`},
		{"Instance", inst, instJSON},
		{"InstanceRequest", instanceReq{namingReq: newNamingReq("", "svc"), Type: "registerInstance", Instance: inst},
			head + `,"type":"registerInstance","instance":` + instJSON + `}`},
		{"BatchInstanceRequest", batchInstanceReq{namingReq: newNamingReq("public", "svc"), Type: "batchRegisterInstance", Instances: []Instance{inst}},
			head + `,"type":"batchRegisterInstance","instances":[` + instJSON + `]}`},
		{"SubscribeServiceRequest", subscribeReq{namingReq: newNamingReq("", "svc"), Subscribe: true},
			head + `,"subscribe":true,"clusters":""}`},
		{"ServiceQueryRequest", serviceQueryReq{namingReq: newNamingReq("", "svc")},
			head + `,"cluster":"","healthyOnly":false,"udpPort":0}`},
		{"NotifySubscriberResponse", ackResp{ResultCode: 200, Success: true, RequestID: "42"},
			`{"resultCode":200,"errorCode":0,"success":true,"message":"","requestId":"42"}`},
	}
	for _, c := range cases {
		if got := mustJSON(t, c.ours); got != c.want {
			t.Errorf("%s:\n ours %s\n want %s", c.name, got, c.want)
		}
	}
}

func TestBeatBody_IsRawUnescapedLikeV1Client(t *testing.T) {
	inst := Instance{IP: "127.0.0.9", Port: 8080, Weight: 1.5, ClusterName: "DEFAULT", Metadata: map[string]string{"a": "b c"}}
	got := BeatBody("", "svc", inst)
	want := `serviceName=DEFAULT_GROUP@@svc&beat={"ip":"127.0.0.9","port":8080,"weight":1.5,"serviceName":"DEFAULT_GROUP@@svc","cluster":"DEFAULT","metadata":{"a":"b c"},"scheduled":false}`
	if got != want {
		t.Fatalf("beat body\n got %s\nwant %s", got, want)
	}
	if !strings.HasPrefix(BeatBody("ns1", "svc", inst), "namespaceId=ns1&serviceName=") {
		t.Fatal("non-empty namespaceId must lead the body")
	}
}

func TestListQuery_GroupedUnescaped(t *testing.T) {
	q := ListQuery("", "svc")
	if !strings.Contains(q, "serviceName=DEFAULT_GROUP@@svc&") || !strings.HasPrefix(q, "namespaceId=&") || !strings.Contains(q, "udpPort=0") {
		t.Fatalf("query %q", q)
	}
}

func TestSeqIP_DistinctLoopbackAndInvertible(t *testing.T) {
	tr := newLagTracker(7, 3, 1)
	seen := map[Host]bool{}
	for g := uint64(0); g < 20000; g += 7 {
		h := Host{IP: SeqIP(g), Port: SeqPort(g)}
		if !strings.HasPrefix(h.IP, "127.") || seen[h] {
			t.Fatalf("seq %d: %v (loopback, distinct)", g, h)
		}
		seen[h] = true
		w, s, ok := tr.decodeHost(h)
		if !ok || globalSeq(w, 7, s) != g {
			t.Fatalf("seq %d decodes to writer %d seq %d ok=%v", g, w, s, ok)
		}
	}
}

func TestParseRSS_ProcAndMetrics(t *testing.T) {
	v, err := parseVmRSS([]byte("Name:\tx\nVmPeak:\t 99 kB\nVmRSS:\t    2048 kB\n"))
	if err != nil || v != 2048<<10 {
		t.Fatalf("VmRSS: %d %v", v, err)
	}
	m := "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes_x 5\nprocess_resident_memory_bytes 1.2e+07 1700000000\n"
	v, err = parseMetricsRSS(strings.NewReader(m))
	if err != nil || v != 12000000 {
		t.Fatalf("metrics: %d %v", v, err)
	}
}

func TestScanRequestID_FindsTheIDAtEitherEnd(t *testing.T) {
	pad := strings.Repeat(`{"ip":"10.0.0.1"},`, 100)
	for _, body := range []string{
		`{"headers":{},"requestId":"17","serviceInfo":{"hosts":[` + pad + `{}]}}`,
		`{"headers":{},"serviceInfo":{"hosts":[` + pad + `{}]},"requestId":"17"}`,
		`{"headers":{},"serviceInfo":{"hosts":[` + pad + `{}]},"requestId":"17","module":"naming","x":"` + strings.Repeat("y", 100) + `"}`,
	} {
		if id, ok := scanRequestID([]byte(body)); !ok || id != "17" {
			t.Fatalf("scanRequestID = %q, %v in %s", id, ok, body)
		}
	}
	if _, ok := scanRequestID([]byte(`{"module":"naming"}`)); ok {
		t.Fatal("found a requestId in a body without one")
	}
}

func TestScanMark_ReadsServiceAndChange(t *testing.T) {
	body := []byte(`{"hosts":[{"metadata":{"bench":"1","fanout.mark":"12.345"}}]}`)
	if svc, seq, ok := scanMark(body); !ok || svc != 12 || seq != 345 {
		t.Fatalf("scanMark = %d, %d, %v", svc, seq, ok)
	}
	if _, _, ok := scanMark([]byte(`{"hosts":[]}`)); ok {
		t.Fatal("found a mark in a body without one")
	}
}
