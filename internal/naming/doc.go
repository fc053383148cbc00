// Package naming is distrod's data model for ephemeral service instances and
// the in-memory store that every API and the Distro protocol work on.
//
// The model follows Nacos: namespace > group > service > cluster > instance.
// Instances are never stored loose: each belongs to a client, the unit of
// ownership and replication.
//
//   - An IP-port client ("ip:port#true") is what an HTTP (v1/v2 open API)
//     user registers through. Its instances live as long as heartbeats
//     arrive at the node responsible for "ip:port".
//   - A connection client (id = the gRPC connection id) belongs to the node
//     holding the connection and lives as long as the connection.
//
// A client holds at most one Publication per service (a single instance, or
// a batch). Every change a client's owner makes stamps a new hlc.Version on
// the whole client; peers apply a client record only if its version is
// newer, and a delete leaves a tombstone. Service metadata (protect
// threshold, metadata, selector) is replicated the same way as a record of
// its own, keyed by ServiceRecordKey.
//
// The store keeps the service index (service -> publishing clients) in the
// same critical section as the client records, so an index can never miss a
// publisher. Callers pass the current time in; the store never reads the
// wall clock, which keeps it usable inside the deterministic simulation.
//
// Names follow Nacos's parameter rules (validate.go): namespace ids are
// [A-Za-z0-9_-], groups [A-Za-z0-9_.:-], service names carry no white
// space, no leading '@' and none of the key separators "@@", "##" and '|';
// instance IPs are IP addresses or host names. ParseServiceKey, Normalize
// and Apply enforce them, so every name splits back out of PubKey and
// ServiceRecordKey unchanged on every node. Limits (name lengths, metadata
// sizes, instance, service and namespace counts) apply to owner writes
// only: a peer's record is applied as its owner accepted it.
//
// Identical instance metadata maps are interned and reference-counted: a
// map leaves the table with the last instance holding it.
//
// Heartbeat expiry (ExpireCheck, ExpireDue) keeps the IP-port clients in a
// deadline-ordered schedule (expiry.go), so a check judges only the clients
// due rather than every client under the write lock.
//
// Lock order: Store.mu is a leaf lock; listeners (and the expiry observer)
// run after it is released.
package naming
