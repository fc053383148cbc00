// Package sim is distrod's deterministic cluster simulation: 3–5 nodes, each
// the server's own deterministic shell (replica.Shell: the Distro core, the
// membership table with its probe schedule, the ownership ring, readiness,
// heartbeat expiry, the restart reap) over the real naming store, on a
// seeded lossy network with a virtual clock, under a naming-level workload
// and injected faults. Invariants (I1–I8 of docs/distro.md) are
// checked continuously while it runs, and at the end.
//
// # Determinism
//
// One seed drives everything: a math/rand/v2 PCG source for the workload
// and the faults, from which each node incarnation, the network, the probes
// and the read checker get their own PCG streams. There are no goroutines
// and no wall-clock reads; time is a virtual clock advanced in Steps of 5ms
// (each node's clock is the virtual time plus a fixed skew of up to ±20ms,
// so HLC versions from different nodes interleave). Maps are iterated in
// sorted order. Every event and every delivered message (with record keys,
// versions and payloads) feeds a trace hash: running a seed twice must give
// the same hash (TestRun_SameSeedSameTrace).
//
// # The shell is the server's
//
// internal/server/cluster.go is goroutines, timers and the cluster
// transport around replica.Shell; the simulation drives the same Shell for
// every node: SetMembers at boot, Receive for every delivered message,
// Unreachable for refused sends, Probes every step with each probe answered
// through the simulated network (success after a round trip if the link
// works both ways, a refused connection at once if the peer's process is
// down, else a timeout after ProbeTimeout), Tick every step (which runs
// ExpireCheck every ExpireEvery once ready), Outbox sent after every call.
// There is no second copy of the shell logic to drift from the server's.
//
// # Workload
//
//   - HTTP clients (naming.IPPortClientID) send each request (register,
//     beat, deregister) to a random live node, ready or loading. The entry
//     node executes it if its ring says it owns ip:port, or forwards it to
//     that owner with the absolute deadline entry clock + ForwardTimeout;
//     the owner refuses it when its own clock is past the deadline
//     (replica.Expired), else executes it and answers with the records it
//     touched, which the entry applies to its store before it answers the
//     client (read-your-writes). A forwarded request or answer in flight
//     when a link is cut is held, as a kernel buffer holds unacknowledged
//     bytes, and delivered when the link heals, however late; it dies only
//     with either end's process. The entry gives up after ForwardTimeout,
//     the client after ClientTimeout; a client has one request in flight.
//     Clients beat every 500ms, re-register at once when a beat answers
//     20404 (as the Nacos SDKs do), deregister, or stop beating (then their
//     instance must expire).
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
// (new store, new shell, same address and host clock), flaps (one node's
// probes of a peer time out for 0.1–2s). Half the restarts load slowly:
// every snapshot chunk sent to the node before it is ready is delayed up to
// ChunkDelay (300ms) more, so the load takes seconds while clients keep
// writing through that node. In a quarter of the seeds a two-way partition
// of 20–40s (LongPartition) outlives many client lifetimes (beats 500ms,
// unhealthy after 1.5s, deleted after 3s), and Chaos lasts until 6s after
// it heals. Then Quiet (10s): links heal, flaps end, crashed nodes restart,
// only delays remain; in half the seeds one node dies for good at its
// start, and in a fifth of the seeds (DeadRestart) it does and, once every
// view holds it DOWN, another node is SIGKILLed and restarted at once: a
// restart next to a member that is dead for good, whose load gives the
// dead member up when its port refuses connections. Alive clients keep
// beating and redo-reconnecting throughout.
//
// # Invariants
//
// A node that is not ready answers reads with 503, as the server does: it
// does not serve reads, which is not a violation; I3 and I8 look at ready
// nodes only.
//
//   - I1 convergence: during Quiet, the time from the last data change (an
//     owner write, the end of faults, a dead owner's grace) until every live
//     node is ready with equal Store.Digest() and equal live Metas() (key,
//     version, owner) must stay under ConvergeWithin (3s, 6 verify rounds);
//     at the end every service must read the same on every node.
//   - I2 no lost registration: at the end, every instance of a beating HTTP
//     client or of an open connection is listed by Service() on every live
//     node (beating HTTP instances healthy). Continuously, while no link is
//     cut and no node crashed lately: the instance of a client whose beats
//     keep taking effect never vanishes from a ready node that listed it
//     at the client's latest registration, unless that node is only behind
//     a newer live version elsewhere (a heal must not remove a beating
//     instance, even for a moment).
//   - I3 no resurrection, every 200ms from each HTTP client's point of
//     view: once its instance is gone (its deregistration was acknowledged,
//     or it stopped beating, some node deleted it and no ready node lists
//     it any more, after every write it sent was answered or is past its
//     deadline), a ready node that learnt of the delete (it holds a
//     tombstone newer than every version the client's writes made live)
//     and did not list it must never list it again, unless the client
//     registered again since. An expiry counts as the delete only if it
//     reflects the client's last beat that took effect anywhere (a member
//     cut off from the client that expired it was wrong, and the beats of
//     the other side must correct it); after a deregistration that found
//     no instance where it ran, the node that acknowledged it is watched.
//     Two known limits are counted, not held against the cluster: a delete
//     that died with its node before any other node held it (lostdel),
//     and a deregistration sent within the nodes' clock spread of its
//     registration (skewdel). At the end, every other instance ever
//     published is absent on every live node, and no closed or crashed
//     connection id is live anywhere.
//   - I4 availability: every 200ms every live ready node answers a local
//     Service() read, partitioned or not; a panic or an instance listed
//     twice is a violation. Reads during faults and 503s are counted.
//   - I5 ready means loaded: when a (re)started node turns ready, it holds
//     at least the version of every live record that each peer reachable
//     throughout the load held, unchanged, since the node's boot (a peer
//     the core gave up on after LoadTimeout without progress, or stopped
//     waiting for at LoadMax, is exempt, as designed, and counted; a peer
//     given up as refusing connections is not: the network refuses only
//     for a process that is down); and it turns ready within ReadyWithin
//     (10s, for throttled loads).
//   - I6 one owner: every 200ms, nodes with equal views agree on the owner
//     of every tag, and the ring the server routes with agrees with the
//     core.
//   - I7 bounded staleness: while a crashed node stays dead, every live node
//     drops its connection clients within DownWithin + OwnerGrace + 250ms
//     of the crash (or of its own boot, if later); DownWithin =
//     ProbeInterval + DownAfter × (ProbeTimeout + ProbeInterval) = 440ms.
//   - I8 bounded expiry, every 200ms: the instance of an HTTP client that
//     stopped beating (it stopped, or deregistered) is listed by no ready
//     node ForwardTimeout + DeleteAfter + ExpirySlack after the client last
//     sent a register or beat, plus the time any ready node's ring gave the
//     tag to a node still loading (it cannot expire before it is ready).
//     ExpirySlack (2.5s) is one ExpireEvery for the owner's check to come
//     round, DownWithin for an owner's death to move the tag, and a second
//     for replication and repair, whatever ownership does meanwhile: a new
//     owner must continue the deadline, not restart it.
//
// # Running
//
//	go test ./internal/sim                         # 200 seeds
//	go test ./internal/sim -seeds=1000             # more seeds
//	go test ./internal/sim -run TestSim -seed=N -v # one seed, with its event trace
//	go test ./internal/sim -run TestSim -seed=N -v -watch=10.1.0.4:8082
//	                                               # ... and every change of that client's records
//	go run ./internal/sim/cmd/simrun -seeds 5000 -start 1
//	go run ./internal/sim/cmd/simrun -seeds 500 -drop 0.3 -chaos 60s -all
//
// A failing seed prints its violations and the one-line reproduction.
// The TestRun_Catches tests prove the checks are not blind: a storage
// adapter that ignores drops or loses tombstones, a shell that does not
// reap (NoReap), nodes that serve as ready before their load
// (ReadyBeforeLoad: I5), owners that execute forwarded writes past their
// deadline (NoForwardDeadline: I3), and the store flaws of earlier builds
// (naming.Flaws: no tombstone for a blind deregistration and fresh
// versions for expiry, I3; deadlines restarted by a takeover, I8; beats
// never recorded in versions while ownership is contested, I2) must each
// fail some seed.
package sim
