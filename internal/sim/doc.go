// Package sim is distrod's deterministic cluster simulation: 3–5 nodes, each
// the real Distro core (internal/distro) over the real naming store
// (internal/naming), wired exactly as the server's shell wires them
// (internal/server/cluster.go), on a seeded lossy network with a virtual
// clock, under a naming-level workload and injected faults. After every
// run it checks the invariants I1–I7 of shared/design/DISTRO.md.
//
// # Determinism
//
// One seed drives everything: a math/rand/v2 PCG source for the workload
// and the faults, from which each node incarnation, the network and the
// read checker get their own PCG streams. There are no goroutines and no
// wall-clock reads; time is a virtual clock advanced in Steps of 5ms (each
// node's clock is the virtual time plus a fixed skew of up to ±20ms, so HLC
// versions from different nodes interleave). Maps are iterated in sorted
// order. Every event and every delivered message (with record keys,
// versions and payloads) feeds a trace hash: running a seed twice must give
// the same hash (TestRun_SameSeedSameTrace).
//
// # The shell, as the server plays it
//
// For every node the simulation does what internal/server/cluster.go does:
// the storage adapter (Get/Apply/Drop, Apply stamping the node's time as
// last beat); an OnChange listener that observes every change but drops and
// collects connection clients with Owner == self arriving from peers (they
// belong to an earlier incarnation: the node deletes them with RemoveClient);
// SetMembers on every view change; Tick every step; Outbox sent after every
// call; refused sends reported with Unreachable; ExpireCheck every second
// once ready, with owns(tag) = Owner(tag) == self.
//
// Membership is a simple failure detector: a peer unreachable either way
// for 100ms is SUSPICIOUS, for 400ms DOWN; forced flaps raise a member to
// SUSPICIOUS or DOWN in one node's view for 0.1–2s, then it is UP again.
//
// # Workload
//
//   - HTTP clients (naming.IPPortClientID) send each request to a random
//     live node, which forwards it to the owner of ip:port by its own view
//     (the forward fails if that owner is down or cut off). They register,
//     beat every 500ms (a beat the owner does not know re-registers, as the
//     Nacos SDK does on 20404), deregister, or stop beating (then their
//     instance must turn unhealthy and be removed by ExpireCheck).
//   - Connection applications connect to a random ready node with an id
//     "ms_ip_port", publish a single instance and a batch, re-publish (redo),
//     change the batch, unpublish, close, or switch servers. When their node
//     crashes, most reconnect elsewhere with a new id and re-register
//     everything (the SDK's redo); some die with it.
//
// # Faults
//
// During Chaos (16s): message drop (5%), duplication (3%), delay 1–30ms
// (so reordering), refused sends, two-way partitions and one-way link cuts
// healed after 0.5–4s, crashes restarted 0.3–3s later with empty memory
// (new store, new core, same address and host clock), membership flaps.
// Then Quiet (10s): links heal, flaps end, crashed nodes restart, only
// delays remain; in half the seeds one node dies for good at its start.
// Alive clients keep beating and redo-reconnecting throughout.
//
// # Invariants
//
//   - I1 convergence: during Quiet, the time from the last data change (an
//     owner write, the end of faults, a dead owner's grace) until every live
//     node is ready with equal Store.Digest() and equal live Metas() (key,
//     version, owner) must stay under ConvergeWithin (3s, 6 verify rounds);
//     at the end every service must read the same on every node.
//   - I2 no lost registration: at the end, every instance of a beating HTTP
//     client or of an open connection is listed by Service() on every live
//     node (beating HTTP instances healthy).
//   - I3 no resurrection: at the end, every other instance ever published
//     (deregistered, expired, unpublished, closed, died) is absent on every
//     live node, and no closed or crashed connection id is live anywhere.
//   - I4 availability: every 200ms every live node answers a local
//     Service() read, partitioned or not, ready or not; a panic or an
//     instance listed twice is a violation. Reads issued during faults and
//     before ready are counted.
//   - I5 ready means loaded: when a (re)started node turns ready, it holds
//     at least the version of every live record that each peer reachable
//     throughout the load held, unchanged, since the node's boot (a peer
//     the core gave up on after LoadTimeout without progress is exempt, as
//     designed, and counted); and it turns ready within ReadyWithin (4s).
//   - I6 one owner: every 200ms, nodes with equal views agree on the owner
//     of every tag, and the distro.Ring the server routes with agrees with
//     the node.
//   - I7 bounded staleness: while a crashed node stays dead, every live node
//     drops its connection clients within DownAfter + OwnerGrace + 250ms of
//     the crash (or of its own boot, if later).
//
// # Running
//
//	go test ./internal/sim                         # 200 seeds
//	go test ./internal/sim -seeds=1000             # more seeds
//	go test ./internal/sim -run TestSim -seed=N -v # one seed, with its event trace
//	go run ./internal/sim/cmd/simrun -seeds 5000 -start 1
//	go run ./internal/sim/cmd/simrun -seeds 500 -drop 0.3 -chaos 60s -all
//
// A failing seed prints its violations and the one-line reproduction.
// TestRun_CatchesBrokenStorage and TestRun_CatchesMissingRestartReap prove
// the checks are not blind: a storage adapter that ignores drops or loses
// tombstones, or a shell that does not reap, must fail some seed.
package sim
