package distro

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors. Callers test them with errors.Is.
var (
	// ErrInvalidConfig wraps every Config.Validate failure.
	ErrInvalidConfig = errors.New("distro: invalid config")
	// ErrNilStorage is returned by New without a Storage.
	ErrNilStorage = errors.New("distro: nil storage")
	// ErrNilRand is returned by New without a random source.
	ErrNilRand = errors.New("distro: nil rand")
)

// Config tunes one Node. DefaultConfig fills every field; the defaults are
// sized for a LAN cluster of 3–15 nodes and up to ~100k clients, and
// SyncDelay and TombstoneTTL match the server's defaults. The server sets
// SyncDelay, the retry back-off, VerifyInterval, TombstoneTTL, LoadTimeout,
// OwnerGrace and the batch bounds from its configuration (internal/config
// holds the server's defaults; internal/server/options.go maps them).
type Config struct {
	// Self is this node's address ("ip:port"), byte-identical to the address
	// the other members use for it. Required.
	Self string

	// SyncDelay is the merge window: a change is sent to a peer at most this
	// long after the first unsent change to that peer, merged with every
	// later change to the same key. Default 5ms (Nacos: 1000ms): long enough
	// to coalesce a burst (register + metadata + health flip), short enough
	// that replication lag stays well under a push cycle.
	SyncDelay time.Duration
	// SyncTimeout is how long a sent SyncBatch may stay unacknowledged before
	// it counts as failed and its keys are retried. Default 2s.
	SyncTimeout time.Duration
	// SyncBatchMaxRecords bounds the records in one SyncBatch, Records or
	// SnapshotChunk message. Default 512.
	SyncBatchMaxRecords int
	// SyncBatchMaxBytes bounds the summed len(Key)+len(Data) of one such
	// message (a single larger record is still sent, alone). Default 1 MiB,
	// well below gRPC's 4 MiB default message limit.
	SyncBatchMaxBytes int
	// SyncMaxInflight is the number of unacknowledged SyncBatches per peer.
	// Default 4.
	SyncMaxInflight int
	// RetryBackoffBase is the first retry delay after a failed batch; each
	// consecutive failure doubles it (with jitter from the rng). It is also
	// the retry delay of a failed snapshot request. Default 100ms.
	RetryBackoffBase time.Duration
	// RetryBackoffMax caps the retry delay. Default 5s. Retry memory is
	// bounded by key merging: at most one pending entry per key per peer.
	RetryBackoffMax time.Duration

	// VerifyInterval is the anti-entropy period: one VerifyDigest per peer
	// per interval. Default 1s (Nacos: 5s, one RPC per client); ours costs
	// VerifyBuckets*8 bytes per peer per round whatever the client count.
	VerifyInterval time.Duration
	// VerifyBuckets is the number of digest buckets, a power of two in
	// [1, 65536]; every node must use the same value. Default 256: a 2 KiB
	// digest, and one differing key costs ~1/256 of the keys to compare.
	VerifyBuckets int
	// VerifyMaxKeys is the soft bound of entries in one VerifyKeys message
	// (buckets are never split, so one bucket may exceed it). Default 4096.
	VerifyMaxKeys int

	// TombstoneTTL is the minimum time a tombstone is kept after this node
	// learned it. A node that still has the delete queued for some peer keeps
	// it until that peer acknowledged it. Default 60s (60 verify rounds): a
	// late or replayed older record arriving within it cannot resurrect the
	// client. Must be at least 3 VerifyIntervals.
	TombstoneTTL time.Duration

	// LoadTimeout bounds the startup snapshot load: a peer that made no
	// progress (no chunk) for this long is given up. A lone node in a fresh
	// cluster becomes ready after it (unless its peers refuse connections,
	// see Member.Refused). Default 5s.
	LoadTimeout time.Duration
	// LoadMax bounds the whole startup snapshot load: LoadMax after it
	// started the node turns ready even if a peer still streams (a peer
	// that sends chunks forever, each within LoadTimeout); the streams
	// still running go on in the background. Default 2m, far above the
	// load of millions of records. Must be at least LoadTimeout.
	LoadMax time.Duration
	// SnapshotRequestTimeout is how long one SnapshotRequest may stay
	// unanswered before it is re-sent. Default 1s.
	SnapshotRequestTimeout time.Duration

	// OwnerGrace is how long connection clients (Tag == "") of a member that
	// went DOWN are kept before their local copies are dropped (no
	// tombstone). Long enough for SDKs to reconnect elsewhere (their redo
	// loop runs every 3s), far below Nacos's 180s. Default 10s.
	OwnerGrace time.Duration
}

// DefaultConfig returns the documented defaults for the node at self.
func DefaultConfig(self string) Config {
	return Config{
		Self:                   self,
		SyncDelay:              5 * time.Millisecond,
		SyncTimeout:            2 * time.Second,
		SyncBatchMaxRecords:    512,
		SyncBatchMaxBytes:      1 << 20,
		SyncMaxInflight:        4,
		RetryBackoffBase:       100 * time.Millisecond,
		RetryBackoffMax:        5 * time.Second,
		VerifyInterval:         time.Second,
		VerifyBuckets:          256,
		VerifyMaxKeys:          4096,
		TombstoneTTL:           60 * time.Second,
		LoadTimeout:            5 * time.Second,
		LoadMax:                2 * time.Minute,
		SnapshotRequestTimeout: time.Second,
		OwnerGrace:             10 * time.Second,
	}
}

// Validate reports the first contradiction in c, wrapped in ErrInvalidConfig.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...)
	}
	if c.Self == "" {
		return bad("Self is empty; set it to this node's ip:port as the other members spell it")
	}
	durations := []struct {
		name string
		d    time.Duration
	}{
		{"SyncDelay", c.SyncDelay}, {"SyncTimeout", c.SyncTimeout},
		{"RetryBackoffBase", c.RetryBackoffBase}, {"RetryBackoffMax", c.RetryBackoffMax},
		{"VerifyInterval", c.VerifyInterval}, {"TombstoneTTL", c.TombstoneTTL},
		{"LoadTimeout", c.LoadTimeout}, {"LoadMax", c.LoadMax}, {"SnapshotRequestTimeout", c.SnapshotRequestTimeout},
		{"OwnerGrace", c.OwnerGrace},
	}
	for _, f := range durations {
		if f.d <= 0 {
			return bad("%s is %v; it must be positive", f.name, f.d)
		}
	}
	if c.SyncDelay >= c.SyncTimeout {
		return bad("SyncDelay %v must be below SyncTimeout %v", c.SyncDelay, c.SyncTimeout)
	}
	if c.LoadMax < c.LoadTimeout {
		return bad("LoadMax %v is below LoadTimeout %v", c.LoadMax, c.LoadTimeout)
	}
	if c.RetryBackoffMax < c.RetryBackoffBase {
		return bad("RetryBackoffMax %v is below RetryBackoffBase %v", c.RetryBackoffMax, c.RetryBackoffBase)
	}
	if c.TombstoneTTL < 3*c.VerifyInterval {
		return bad("TombstoneTTL %v must be at least 3 VerifyIntervals (%v) so a delete outlives several verify rounds",
			c.TombstoneTTL, 3*c.VerifyInterval)
	}
	if c.SyncBatchMaxRecords < 1 || c.SyncBatchMaxBytes < 1 || c.SyncMaxInflight < 1 || c.VerifyMaxKeys < 1 {
		return bad("SyncBatchMaxRecords, SyncBatchMaxBytes, SyncMaxInflight and VerifyMaxKeys must be at least 1")
	}
	if c.VerifyBuckets < 1 || c.VerifyBuckets > 1<<16 || c.VerifyBuckets&(c.VerifyBuckets-1) != 0 {
		return bad("VerifyBuckets %d must be a power of two between 1 and 65536", c.VerifyBuckets)
	}
	return nil
}
