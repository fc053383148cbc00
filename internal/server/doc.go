// Package server is distrod's composition root: it builds the naming store,
// the push engine, the Nacos HTTP and gRPC servers and, in cluster mode, the
// cluster shell, and owns every goroutine and socket.
//
// Configuration (options.go): optionsFor maps every config.Config field
// onto the options of the component that uses it, in one place;
// options_test.go sets every field to a non-default value and checks that
// it arrives (or names where the server reads it itself). The components'
// own defaults serve library use and tests only: a server's defaults are
// config.DefaultConfig's.
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
// Seams (seams.go): the cluster loop sees the cluster transport only as a
// peerLink (send, probe, member view, counters) and the forwarder's entry
// side only as an ownerCaller (run a write on its owner); a linkFactory
// builds both for a node. The loop's inbound side is cluster.onMessage, the
// transport's Handler: it waits for room in the loop's inbox, but gives up
// once the loop stops or the peer stream that delivered the message ends
// (its context). New uses the gRPC transport; the in-process
// cluster tests (inprocess_test.go) join several Servers in one process
// with an in-memory network (memnet_test.go) and follow a write from the
// HTTP API of one node to a gRPC push on another; cluster_test.go runs
// three cluster loops on that network inside a testing/synctest bubble
// (virtual time, and a failure if any goroutine outlives shutdown).
//
// Goroutines: Run starts every long-lived goroutine and joins them before
// it returns; the cluster loop joins its member watch and probes, and the
// transport its peer streams. Shutdown is driven by the context (the
// binary cancels it on SIGINT/SIGTERM): HTTP and gRPC drain, the loop is
// asked to report when nothing is left to replicate (flushFor, bounded),
// then everything stops.
//
// Nacos wire state: New makes one nacoswire.Builder, with the node's one
// nacoswire.Stamps (the lastRefTime clock and the requestId sequence), and
// hands it to both the push engine and the gRPC API, so every serviceInfo
// a client gets from this node, answer or push, is stamped in order.
//
// It also builds the auth guard (auth.go) shared by the HTTP and gRPC APIs,
// seeds the first admin from auth-admin-password, and puts the debug
// endpoints behind ROLE_ADMIN.
//
// Start order in Run: listeners first (so a port clash fails fast), then
// the cluster shell (snapshot load starts at once), then the API servers.
// Until the snapshot load finished, readiness and every naming read answer
// 503 and the SDK gRPC port refuses new connections (ServerCheckRequest
// gets ErrorResponse 300, so the SDK tries its next server); writes and
// liveness are served from the first moment. Shutdown runs in reverse: API
// servers drain, then the shell stops.
//
// TLS (tls.go, docs/security-tls.md): New loads the certificate files of
// each port that has them (package tlsfiles; a bad file fails New). The
// HTTP port then serves HTTPS only, the SDK port TLS (and plaintext too in
// compatibility mode), and the cluster transport runs mutual TLS under its
// secret handshake. Each new handshake re-reads changed files.
//
// The web console (package console, console.go here) is mounted on the
// same HTTP mux: its page at the context path's root, its assets under
// ContextPath/console-ui/, its read-only API under /distrod/console/. For
// the cluster page this node reads each member's /distrod/status over HTTP
// (peerGet).
//
// Forwarded writes (forward.go): an HTTP write for an ip:port or service
// this node does not own goes to the owner as a Forward call on the cluster
// transport (authenticated by the cluster secret), with a deadline of now
// plus ForwardTimeout; the owner refuses it once the deadline has passed
// (replica.ForwardExpired), otherwise runs it through the HTTP API in
// process and sends back the records it touched, which this node installs
// before answering the client (read-your-writes through any node).
package server
