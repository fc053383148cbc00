package naming

import (
	"errors"
	"reflect"
	"testing"
)

func TestCodec_RoundTripsEveryField(t *testing.T) {
	p := &Publication{Batch: true, Instances: []Instance{
		{InstanceID: "id-1", IP: "10.0.0.1", Port: 8080, Weight: 2.5, Healthy: true, Enabled: false, Ephemeral: true,
			ClusterName: "c-1", Metadata: map[string]string{"b": "2", "a": "1", "": "empty key"}},
		{IP: "::1", Port: 0, Weight: 0, ClusterName: "DEFAULT"},
	}}
	got, err := decodePublication(encodePublication(p))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, p) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, p)
	}
}

func TestCodec_ReadsTheJSONForm(t *testing.T) {
	got, err := decodePublication([]byte(`{"b":true,"i":[{"ip":"1.2.3.4","port":5,"weight":1,"healthy":true,"enabled":true,"ephemeral":true,"clusterName":"DEFAULT"}]}`))
	if err != nil || !got.Batch || len(got.Instances) != 1 || got.Instances[0].Port != 5 {
		t.Fatalf("%+v %v", got, err)
	}
}

func TestCodec_MalformedDataIsAnError(t *testing.T) {
	for _, b := range [][]byte{nil, {0x02}, {codecV1, 0x12, 0x05, 0x01}, {codecV1, 0x12, 0x02, 0x18, 0xff}, []byte("{nope")} {
		if _, err := decodePublication(b); !errors.Is(err, errBadRecord) {
			t.Errorf("decode(%x) = %v, want errBadRecord", b, err)
		}
	}
}

func FuzzCodec_Decode(f *testing.F) {
	f.Add(encodePublication(&Publication{Instances: []Instance{{IP: "1.1.1.1", Port: 1, Metadata: map[string]string{"k": "v"}}}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodePublication(b)
		if err != nil {
			return
		}
		if _, err := decodePublication(encodePublication(p)); err != nil {
			t.Fatalf("re-decoding our own encoding failed: %v", err)
		}
	})
}

func TestCodec_DecodedInstancesShareIdenticalMetadata(t *testing.T) {
	meta := map[string]string{"version": "1.2", "zone": "a"}
	p := &Publication{Instances: []Instance{
		{IP: "10.0.0.1", Port: 1, ClusterName: DefaultCluster, Metadata: meta},
		{IP: "10.0.0.2", Port: 1, ClusterName: "c-2", Metadata: map[string]string{"zone": "a", "version": "1.2"}},
		{IP: "10.0.0.3", Port: 1, ClusterName: DefaultCluster, Metadata: map[string]string{"zone": "b"}},
	}}
	got, err := decodePublication(encodePublication(p))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, p) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, p)
	}
	same := func(a, b map[string]string) bool {
		return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
	}
	if !same(got.Instances[0].Metadata, got.Instances[1].Metadata) {
		t.Fatal("identical metadata decoded into two maps")
	}
	if same(got.Instances[0].Metadata, got.Instances[2].Metadata) {
		t.Fatal("different metadata share a map")
	}
	again, err := decodePublication(encodePublication(p))
	if err != nil || !same(again.Instances[0].Metadata, got.Instances[0].Metadata) {
		t.Fatalf("a second record does not share the first's map: %v", err)
	}
	// Far more distinct maps than the cache holds still decode right.
	for i := range 2 * metaCacheMax {
		m := map[string]string{"i": string(rune('a' + i%26)), "n": string(rune(i))}
		q, err := decodePublication(encodePublication(&Publication{Instances: []Instance{{IP: "10.0.0.1", Metadata: m}}}))
		if err != nil || !reflect.DeepEqual(q.Instances[0].Metadata, m) {
			t.Fatalf("map %d: %v %v", i, q, err)
		}
	}
}
