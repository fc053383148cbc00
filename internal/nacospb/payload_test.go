package nacospb

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	sdkpb "github.com/nacos-group/nacos-sdk-go/v2/api/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/anypb"
)

func TestPayload_RoundTrip(t *testing.T) {
	in := &Payload{
		Type:     "InstanceRequest",
		Headers:  map[string]string{"app": "demo", "accessToken": "t"},
		ClientIP: "10.0.0.5",
		Body:     []byte(`{"requestId":"","module":"naming"}`),
	}
	b := in.Marshal()
	if len(b) != in.Size() {
		t.Fatalf("Size()=%d, encoded %d bytes", in.Size(), len(b))
	}
	var out Payload
	if err := out.Unmarshal(b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, &out) {
		t.Fatalf("round trip: got %+v want %+v", out, *in)
	}
}

// The SDK's generated code is the reference encoder: our bytes must decode
// there and its bytes must decode here.
func TestPayload_InteroperatesWithSDKEncoding(t *testing.T) {
	ref := &sdkpb.Payload{
		Metadata: &sdkpb.Metadata{Type: "ServerCheckRequest", ClientIp: "1.2.3.4", Headers: map[string]string{"k": "v"}},
		Body:     &anypb.Any{Value: []byte(`{"module":"internal"}`)},
	}
	refBytes, err := proto.Marshal(protoadapt.MessageV2Of(ref))
	if err != nil {
		t.Fatal(err)
	}
	var ours Payload
	if err := ours.Unmarshal(refBytes); err != nil {
		t.Fatal(err)
	}
	if ours.Type != "ServerCheckRequest" || ours.ClientIP != "1.2.3.4" || ours.Headers["k"] != "v" ||
		!bytes.Equal(ours.Body, []byte(`{"module":"internal"}`)) {
		t.Fatalf("decoded SDK payload wrong: %+v", ours)
	}
	back := new(sdkpb.Payload)
	if err := proto.Unmarshal(ours.Marshal(), protoadapt.MessageV2Of(back)); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(protoadapt.MessageV2Of(ref), protoadapt.MessageV2Of(back)) {
		t.Fatalf("SDK decoded our bytes as %v, want %v", back, ref)
	}
}

func TestPayload_MalformedInputIsAnError(t *testing.T) {
	for _, b := range [][]byte{{0x12}, {0x12, 0x05, 0x1a}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}} {
		var p Payload
		if err := p.Unmarshal(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("Unmarshal(%x) = %v, want ErrMalformed", b, err)
		}
	}
}

func FuzzPayload_Unmarshal(f *testing.F) {
	f.Add((&Payload{Type: "T", Body: []byte("{}")}).Marshal())
	f.Add([]byte{0x12, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		var p Payload
		if err := p.Unmarshal(b); err != nil {
			return
		}
		var q Payload
		if err := q.Unmarshal(p.Marshal()); err != nil {
			t.Fatalf("re-decoding our own encoding failed: %v", err)
		}
		if q.Type != p.Type || q.ClientIP != p.ClientIP || !bytes.Equal(q.Body, p.Body) || len(q.Headers) != len(p.Headers) {
			t.Fatalf("unstable round trip: %+v vs %+v", p, q)
		}
	})
}

// A body split into a shared Body and a per-message BodyTail encodes
// exactly as the joined body, through Marshal and through the codec, and
// the codec references the shared Body instead of copying it.
func TestPayload_BodyTailEncodesAsOneBody(t *testing.T) {
	shared := []byte(`{"module":"naming","serviceInfo":{"hosts":[]},"requestId":"`)
	split := &Payload{Type: "NotifySubscriberRequest", Headers: map[string]string{"k": "v"}, Body: shared, BodyTail: []byte(`42"}`)}
	joined := &Payload{Type: "NotifySubscriberRequest", Headers: map[string]string{"k": "v"},
		Body: append(append([]byte(nil), shared...), `42"}`...)}
	want := joined.Marshal()
	if got := split.Marshal(); !bytes.Equal(got, want) || split.Size() != len(want) {
		t.Fatalf("Marshal with tail = %q (size %d), want %q", got, split.Size(), want)
	}
	bufs, err := Codec{}.Marshal(split)
	if err != nil {
		t.Fatal(err)
	}
	if got := bufs.Materialize(); !bytes.Equal(got, want) {
		t.Fatalf("codec with tail = %q, want %q", got, want)
	}
	var sharedRef bool
	for _, b := range bufs {
		if d := b.ReadOnlyData(); len(d) > 0 && &d[0] == &shared[0] {
			sharedRef = true
		}
	}
	if !sharedRef {
		t.Fatal("codec copied the shared body")
	}
	var out Payload
	if err := out.Unmarshal(want); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Body, joined.Body) || out.BodyTail != nil {
		t.Fatalf("decoded body %q tail %q", out.Body, out.BodyTail)
	}
}
