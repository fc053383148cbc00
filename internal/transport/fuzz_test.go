package transport

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/distrod/distrod/internal/distro"
	"github.com/distrod/distrod/internal/hlc"
	pb "github.com/distrod/distrod/internal/transport/clusterpb"
)

// FuzzDecode feeds arbitrary bytes to the cluster message decoder: it must
// answer a message or an error, never panic, and a message it accepts must
// encode again. The seed corpus runs with every `go test`; run
// `go test ./internal/transport -fuzz FuzzDecode -fuzztime 5m` for longer.
func FuzzDecode(f *testing.F) {
	v := hlc.Version{Clock: 1 << 20, Node: 7, Sub: 3 << 16, By: 9}
	for _, m := range []distro.Message{
		&distro.SyncBatch{Seq: 1, Records: []distro.Record{{Key: "k", Version: v, Owner: "a:1", Tag: "t", Data: []byte{1, 2}}}},
		&distro.SyncAck{Seq: 2},
		&distro.VerifyDigest{Round: 3, Buckets: []uint64{1, 2, 3}},
		&distro.VerifyRequest{Round: 3, Buckets: []uint32{1}},
		&distro.VerifyKeys{Round: 3, Buckets: []uint32{1}, Entries: []distro.KeyVersion{{Key: "k", Version: v, Owned: true}}},
		&distro.PullRequest{Keys: []string{"k"}},
		&distro.Records{Records: []distro.Record{{Key: "k", Version: v, Tombstone: true}}},
		&distro.SnapshotRequest{Session: 4, After: "a", Limit: 10},
		&distro.SnapshotChunk{Session: 4, After: "a", Next: "b", Done: true},
	} {
		env, err := Encode("a:1", m)
		if err != nil {
			f.Fatal(err)
		}
		b, err := proto.Marshal(env)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		var env pb.Envelope
		if proto.Unmarshal(b, &env) != nil {
			return
		}
		m, err := Decode(&env)
		if err != nil {
			return
		}
		if _, err := Encode(env.GetFrom(), m); err != nil {
			t.Fatalf("decoded %T does not encode again: %v", m, err)
		}
	})
}
