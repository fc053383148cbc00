package sim

import (
	"github.com/distrod/distrod/internal/naming"
	"io"
	"time"

	"github.com/distrod/distrod/internal/distro"
	"github.com/distrod/distrod/internal/distro/distrotest"
)

// Options configure one simulated run. DefaultOptions gives the values the
// tests use; every duration is virtual time.
type Options struct {
	Seed uint64
	// Nodes is the cluster size (3–5 in the default runs).
	Nodes int
	// HTTPClients is the number of heartbeat (ip:port) clients, ConnClients
	// the number of gRPC-style applications (each may use several
	// connection ids over the run).
	HTTPClients, ConnClients int

	// Step is the virtual time between two driver rounds; every node is
	// ticked once per step, so it must not exceed the distro SyncDelay.
	Step time.Duration
	// Chaos is how long faults and workload state changes go on; Quiet how
	// long the healed cluster then runs (alive clients keep beating) before
	// the final checks.
	Chaos, Quiet time.Duration
	// Faults are the network faults during Chaos; Quiet keeps only the
	// delays (and so the reordering).
	Faults distrotest.Faults
	// Config returns the distro config of the node at addr.
	Config func(addr string) distro.Config

	// BeatInterval is how often an alive HTTP client beats; UnhealthyAfter
	// and DeleteAfter are the store's expiry defaults; ExpireEvery is the
	// period of every node's ExpireCheck (replica.ShellConfig.ExpireEvery).
	BeatInterval, UnhealthyAfter, DeleteAfter, ExpireEvery time.Duration

	// ProbeInterval, ProbeTimeout, SuspectAfter and DownAfter configure
	// every node's membership table (the server's probe-interval,
	// probe-timeout, suspect-after and down-after): probes travel the
	// simulated network, a refused probe makes a peer DOWN at once.
	ProbeInterval, ProbeTimeout time.Duration
	SuspectAfter, DownAfter     int

	// ForwardTimeout is how long an entry node waits for the owner's answer
	// to a forwarded HTTP write (and the deadline it stamps on it);
	// ClientTimeout is how long an HTTP client waits for any answer. It must
	// exceed ForwardTimeout plus the clock skew between nodes (40ms).
	ForwardTimeout, ClientTimeout time.Duration

	// LongPartition, if positive, is a two-way partition of that length
	// that starts 1–3s into Chaos and outlives many client lifetimes;
	// Chaos is stretched to end at least 6s after it heals. Shorter faults
	// go on meanwhile (their heals keep it in place).
	LongPartition time.Duration
	// SlowLoad is the probability that a node restarted during Chaos loads
	// slowly: every snapshot chunk sent to it before it is ready is delayed
	// by ChunkDelay more (uniform in [0, ChunkDelay]), so its load takes
	// seconds while clients keep writing through it.
	SlowLoad   float64
	ChunkDelay time.Duration

	// ConvergeWithin bounds I1: the time from the last event that changes
	// data (an owner write, the end of faults, a dead owner's grace) until
	// every live node is ready with equal data.
	ConvergeWithin time.Duration
	// ReadyWithin bounds the time from a boot to Ready (0: unbounded). The
	// design bounds only a load that makes no progress, so under heavy loss
	// a slow but progressing load may exceed any fixed bound.
	ReadyWithin time.Duration
	// StaleSlack is added to the failure detection bound and OwnerGrace
	// for the I7 deadline.
	StaleSlack time.Duration
	// ExpirySlack is the I8 bound: an instance whose client stopped beating
	// (it stopped, or deregistered) must be gone from every ready node
	// ForwardTimeout + DeleteAfter + ExpirySlack after the client's last
	// register or beat was sent, plus the time the tag's owner (in some
	// ready node's view) spent loading.
	ExpirySlack time.Duration

	// Bug injects a defect between the core and the store (checker tests).
	Bug Bug
	// NoReap disables the shell rule that a restarted node deletes the
	// connection clients of its earlier incarnation that come back from
	// peers (checker tests: without it I3/I7 must fail).
	NoReap bool
	// ReadyBeforeLoad makes a node serve as ready (reads, connections,
	// I5) from its boot, before its snapshot load finished (checker tests:
	// I5 must fail).
	ReadyBeforeLoad bool
	// NoForwardDeadline makes owners execute forwarded writes whatever
	// their deadline (checker tests: a register delivered after a
	// partition heals resurrects an acknowledged deregistration, I3).
	NoForwardDeadline bool
	// Flaws plants defects of earlier builds in every node's naming store
	// (checker tests: each must fail I3 or I8).
	Flaws naming.Flaws
	// NoKill disables the permanent death of a node at the start of Quiet.
	NoKill bool
	// DeadRestart makes a node die for good at the start of Quiet (unless
	// NoKill) and, once every view holds it DOWN, SIGKILLs and restarts
	// another node at once: a restart while a member is permanently dead
	// (Result.DeadRestart*). Its readiness must not wait LoadTimeout for
	// the dead member, whose port refuses connections.
	DeadRestart bool

	// Watch, if not empty, adds to Trace every change of the records of
	// the client whose id contains it, on every node (debugging).
	Watch string
	// Trace, if not nil, receives one line per simulation event (not per
	// message).
	Trace io.Writer
}

// Config is the distro config of the simulation: distrotest.SimConfig
// (production defaults scaled down so that a 30-second run covers many
// verify rounds, tombstone lifetimes and owner graces, with tiny batches,
// chunks and few buckets) with the 5 ms sync delay the shell ticks at.
func Config(addr string) distro.Config {
	c := distrotest.SimConfig(addr)
	c.SyncDelay = 5 * time.Millisecond
	return c
}

// DownWithin bounds the time from a peer becoming unreachable to DOWN in
// every view: the next probe slot, then DownAfter probes that each time out
// and wait for the next slot.
func (o Options) DownWithin() time.Duration {
	return o.ProbeInterval + time.Duration(o.DownAfter)*(o.ProbeTimeout+o.ProbeInterval)
}

// DefaultOptions returns the options of seed: 3–5 nodes, 20–60 clients,
// 16 s of chaos (in a quarter of the seeds a 20–40 s partition, and chaos
// long enough to heal it) and 10 s of quiet.
func DefaultOptions(seed uint64) Options {
	o := Options{
		Seed:        seed,
		Nodes:       3 + int(seed%3),
		HTTPClients: 12 + int(seed%19),
		ConnClients: 8 + int(seed/3%13),
		Step:        5 * time.Millisecond,
		Chaos:       16 * time.Second,
		Quiet:       10 * time.Second,
		Faults: distrotest.Faults{Drop: 0.05, Duplicate: 0.03, MinDelay: time.Millisecond,
			MaxDelay: 30 * time.Millisecond, Refuse: 0.5},
		Config:         Config,
		BeatInterval:   500 * time.Millisecond,
		UnhealthyAfter: 1500 * time.Millisecond,
		DeleteAfter:    3 * time.Second,
		ExpireEvery:    time.Second,
		ProbeInterval:  50 * time.Millisecond,
		ProbeTimeout:   80 * time.Millisecond,
		SuspectAfter:   1,
		DownAfter:      3,
		ForwardTimeout: time.Second,
		ClientTimeout:  1500 * time.Millisecond,
		SlowLoad:       0.5,
		ChunkDelay:     300 * time.Millisecond,
		ConvergeWithin: 3 * time.Second,
		StaleSlack:     250 * time.Millisecond,
		ReadyWithin:    10 * time.Second,
		ExpirySlack:    2500 * time.Millisecond,
	}
	if seed%4 == 0 {
		o.LongPartition = time.Duration(20+seed/4%21) * time.Second
	}
	o.DeadRestart = seed%5 == 1
	return o
}
