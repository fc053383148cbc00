package sim

import (
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
	// period of every node's ExpireCheck.
	BeatInterval, UnhealthyAfter, DeleteAfter, ExpireEvery time.Duration

	// SuspectAfter and DownAfter drive the simulated failure detector: a
	// peer unreachable (either way) for that long is SUSPICIOUS or DOWN.
	SuspectAfter, DownAfter time.Duration

	// ConvergeWithin bounds I1: the time from the last event that changes
	// data (an owner write, the end of faults, a dead owner's grace) until
	// every live node is ready with equal data.
	ConvergeWithin time.Duration
	// ReadyWithin bounds the time from a boot to Ready (0: unbounded). The
	// design bounds only a load that makes no progress, so under heavy loss
	// a slow but progressing load may exceed any fixed bound.
	ReadyWithin time.Duration
	// StaleSlack is added to DownAfter + OwnerGrace for the I7 deadline.
	StaleSlack time.Duration

	// Bug injects a defect between the core and the store (checker tests).
	Bug Bug
	// NoReap disables the shell rule that a restarted node deletes the
	// connection clients of its earlier incarnation that come back from
	// peers (checker tests: without it I3/I7 must fail).
	NoReap bool
	// NoKill disables the permanent death of a node at the start of Quiet.
	NoKill bool

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

// DefaultOptions returns the options of seed: 3–5 nodes, 20–60 clients,
// 16 s of chaos and 10 s of quiet.
func DefaultOptions(seed uint64) Options {
	return Options{
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
		SuspectAfter:   100 * time.Millisecond,
		DownAfter:      400 * time.Millisecond,
		ConvergeWithin: 3 * time.Second,
		StaleSlack:     250 * time.Millisecond,
		ReadyWithin:    4 * time.Second,
	}
}
