// Package server is distrod's composition root: it builds the naming store,
// the push engine, the Nacos HTTP and gRPC servers and, in cluster mode, the
// cluster shell, and owns every goroutine and socket.
//
// The cluster shell (cluster.go) holds no decisions: replica.Shell, a
// deterministic type the simulation (internal/sim) drives for every node,
// holds the Distro core, the membership table and its probe schedule, the
// ownership ring, readiness and heartbeat expiry. cluster.go is one
// goroutine that feeds it messages, probe results, member lists and ticks
// with the wall clock, starts the probes it asks for, sends its outbox
// through the cluster transport and publishes its ring and readiness to the
// API goroutines through atomics. In standalone mode a ticker runs expiry.
//
// Start order in Run: listeners first (so a port clash fails fast), then
// the cluster shell (snapshot load starts at once), then the API servers.
// Reads are served from the first moment; readiness reports the snapshot
// load. Shutdown runs in reverse: API servers drain, then the shell stops.
package server
