// Package membership tracks the cluster's member list and the health of
// each peer.
//
// It has a pure core and a thin shell:
//
//   - Table is a deterministic state machine: it holds the members, their
//     state (UP, SUSPICIOUS, DOWN, as Nacos's NodeState), consecutive probe
//     failures and last-success time. It never reads the clock, starts no
//     goroutine and does no I/O; the caller passes now into every method
//     and performs the probes Next asks for, reporting back with
//     ProbeResult. View returns a sorted snapshot with a Version that
//     changes only when the member set or a member's state changes, so the
//     server pushes the view into the Distro core only when it matters.
//
//   - Sources produce member lists: StaticSource (flags, environment),
//     FileSource (cluster.conf, reloaded when its mtime or content changes)
//     and DNSSource (a name such as a Kubernetes headless service: A/AAAA
//     records, or SRV records for a name starting with "_"; the resolver
//     can be a given DNS server, NewDNSResolver). A Watcher polls a Source
//     and calls back when the list changes; tests call Watcher.Poll
//     directly instead of sleeping. Addresses are normalised by package
//     memberaddr; the server picks the source its configuration asks for
//     (internal/server/options.go).
//
// Failure detection follows Nacos: one failed probe makes a peer
// SUSPICIOUS, DownAfter consecutive failures (or a refused connection) make
// it DOWN, and any success, or any message heard from the peer, makes it UP
// again. The server reports a message as heard only when it arrived on a
// connection that authenticated as that member (a cluster secret is set):
// otherwise anyone could mark a DOWN member UP by writing its address. A new member starts UP; this node is always a member and always UP.
package membership
