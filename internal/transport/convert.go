package transport

import (
	"fmt"
	"unique"

	"github.com/distrod/distrod/internal/distro"
	"github.com/distrod/distrod/internal/hlc"
	pb "github.com/distrod/distrod/internal/transport/clusterpb"
)

func toPBVersion(v hlc.Version) *pb.Version {
	return &pb.Version{Clock: v.Clock, Node: v.Node, Sub: v.Sub, By: v.By}
}

func fromPBVersion(v *pb.Version) hlc.Version {
	if v == nil {
		return hlc.Version{}
	}
	return hlc.Version{Clock: v.Clock, Node: v.Node, Sub: v.GetSub(), By: v.GetBy()}
}

func toPBRecords(rs []distro.Record) []*pb.Record {
	out := make([]*pb.Record, len(rs))
	for i, r := range rs {
		out[i] = &pb.Record{Key: r.Key, Version: toPBVersion(r.Version), Owner: r.Owner, Tag: r.Tag, Tombstone: r.Tombstone, Data: r.Data}
	}
	return out
}

func fromPBRecords(rs []*pb.Record) []distro.Record {
	out := make([]distro.Record, len(rs))
	for i, r := range rs {
		// Owners are the few member addresses, and every node keeps each
		// record's owner: one shared copy each instead of one per record.
		owner := unique.Make(r.GetOwner()).Value()
		out[i] = distro.Record{Key: r.GetKey(), Version: fromPBVersion(r.GetVersion()), Owner: owner, Tag: r.GetTag(), Tombstone: r.GetTombstone(), Data: r.GetData()}
	}
	return out
}

// Encode converts a core message into its wire envelope.
func Encode(from string, m distro.Message) (*pb.Envelope, error) {
	e := &pb.Envelope{From: from}
	switch m := m.(type) {
	case *distro.SyncBatch:
		e.Msg = &pb.Envelope_SyncBatch{SyncBatch: &pb.SyncBatch{Seq: m.Seq, Records: toPBRecords(m.Records)}}
	case *distro.SyncAck:
		e.Msg = &pb.Envelope_SyncAck{SyncAck: &pb.SyncAck{Seq: m.Seq}}
	case *distro.VerifyDigest:
		e.Msg = &pb.Envelope_VerifyDigest{VerifyDigest: &pb.VerifyDigest{Round: m.Round, Buckets: m.Buckets}}
	case *distro.VerifyRequest:
		e.Msg = &pb.Envelope_VerifyRequest{VerifyRequest: &pb.VerifyRequest{Round: m.Round, Buckets: m.Buckets}}
	case *distro.VerifyKeys:
		kvs := make([]*pb.KeyVersion, len(m.Entries))
		for i, kv := range m.Entries {
			kvs[i] = &pb.KeyVersion{Key: kv.Key, Version: toPBVersion(kv.Version), Tombstone: kv.Tombstone, Owned: kv.Owned}
		}
		e.Msg = &pb.Envelope_VerifyKeys{VerifyKeys: &pb.VerifyKeys{Round: m.Round, Buckets: m.Buckets, Entries: kvs}}
	case *distro.PullRequest:
		e.Msg = &pb.Envelope_PullRequest{PullRequest: &pb.PullRequest{Keys: m.Keys}}
	case *distro.Records:
		e.Msg = &pb.Envelope_Records{Records: &pb.Records{Records: toPBRecords(m.Records)}}
	case *distro.SnapshotRequest:
		e.Msg = &pb.Envelope_SnapshotRequest{SnapshotRequest: &pb.SnapshotRequest{Session: m.Session, After: m.After, Limit: int64(m.Limit)}}
	case *distro.SnapshotChunk:
		e.Msg = &pb.Envelope_SnapshotChunk{SnapshotChunk: &pb.SnapshotChunk{Session: m.Session, After: m.After, Records: toPBRecords(m.Records), Next: m.Next, Done: m.Done}}
	default:
		return nil, fmt.Errorf("%w: cannot encode %T", ErrBadMessage, m)
	}
	return e, nil
}

// Decode converts a wire envelope into a core message.
func Decode(e *pb.Envelope) (distro.Message, error) {
	switch m := e.GetMsg().(type) {
	case *pb.Envelope_SyncBatch:
		return &distro.SyncBatch{Seq: m.SyncBatch.GetSeq(), Records: fromPBRecords(m.SyncBatch.GetRecords())}, nil
	case *pb.Envelope_SyncAck:
		return &distro.SyncAck{Seq: m.SyncAck.GetSeq()}, nil
	case *pb.Envelope_VerifyDigest:
		return &distro.VerifyDigest{Round: m.VerifyDigest.GetRound(), Buckets: m.VerifyDigest.GetBuckets()}, nil
	case *pb.Envelope_VerifyRequest:
		return &distro.VerifyRequest{Round: m.VerifyRequest.GetRound(), Buckets: m.VerifyRequest.GetBuckets()}, nil
	case *pb.Envelope_VerifyKeys:
		kvs := make([]distro.KeyVersion, len(m.VerifyKeys.GetEntries()))
		for i, kv := range m.VerifyKeys.GetEntries() {
			kvs[i] = distro.KeyVersion{Key: kv.GetKey(), Version: fromPBVersion(kv.GetVersion()), Tombstone: kv.GetTombstone(), Owned: kv.GetOwned()}
		}
		return &distro.VerifyKeys{Round: m.VerifyKeys.GetRound(), Buckets: m.VerifyKeys.GetBuckets(), Entries: kvs}, nil
	case *pb.Envelope_PullRequest:
		return &distro.PullRequest{Keys: m.PullRequest.GetKeys()}, nil
	case *pb.Envelope_Records:
		return &distro.Records{Records: fromPBRecords(m.Records.GetRecords())}, nil
	case *pb.Envelope_SnapshotRequest:
		return &distro.SnapshotRequest{Session: m.SnapshotRequest.GetSession(), After: m.SnapshotRequest.GetAfter(), Limit: int(m.SnapshotRequest.GetLimit())}, nil
	case *pb.Envelope_SnapshotChunk:
		c := m.SnapshotChunk
		return &distro.SnapshotChunk{Session: c.GetSession(), After: c.GetAfter(), Records: fromPBRecords(c.GetRecords()), Next: c.GetNext(), Done: c.GetDone()}, nil
	}
	return nil, fmt.Errorf("%w: empty or unknown envelope", ErrBadMessage)
}
