package distrotest

import (
	"encoding/binary"
	"hash"
	"hash/fnv"
	"time"

	"github.com/distrod/distrod/internal/distro"
)

// Trace hashes what a simulation did (events, messages) so that two runs
// of one seed can be compared: a deterministic simulation must produce the
// same Sum twice.
type Trace struct{ h hash.Hash64 }

// NewTrace returns an empty trace.
func NewTrace() *Trace { return &Trace{h: fnv.New64a()} }

// Strings adds strings to the trace.
func (t *Trace) Strings(ss ...string) {
	for _, s := range ss {
		_, _ = t.h.Write([]byte(s))
	}
}

// U64 adds numbers to the trace.
func (t *Trace) U64(xs ...uint64) {
	var b [8]byte
	for _, x := range xs {
		binary.LittleEndian.PutUint64(b[:], x)
		_, _ = t.h.Write(b[:])
	}
}

// Message adds one delivered or sent message: endpoints, time, type, and
// the keys and versions it carries (and their data when withData is set).
func (t *Trace) Message(now time.Time, from, to string, m distro.Message, withData bool) {
	t.Strings(from, to)
	t.U64(uint64(now.UnixNano()), uint64(m.Type()))
	var recs []distro.Record
	switch x := m.(type) {
	case *distro.SyncBatch:
		t.U64(x.Seq)
		recs = x.Records
	case *distro.Records:
		recs = x.Records
	case *distro.SnapshotChunk:
		recs = x.Records
	case *distro.VerifyDigest:
		t.U64(x.Buckets...)
	}
	for _, r := range recs {
		t.Strings(r.Key)
		t.U64(r.Version.Clock, r.Version.Node, r.Version.Sub, r.Version.By)
		if withData {
			_, _ = t.h.Write(r.Data)
		}
	}
}

// Sum returns the hash of everything added so far.
func (t *Trace) Sum() uint64 { return t.h.Sum64() }
