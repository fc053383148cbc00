// Package server is distrod's composition root: it builds the naming store,
// the push engine, the Nacos HTTP and gRPC servers and, in cluster mode, the
// Distro shell (membership probes, the cluster transport and the goroutine
// that drives the pure protocol core), and owns every goroutine and socket.
// It also builds the auth guard (auth.go) shared by the HTTP and gRPC APIs,
// seeds the first admin from auth-admin-password, and puts the debug
// endpoints behind ROLE_ADMIN.
//
// Start order in Run: listeners first (so a port clash fails fast), then
// the cluster shell (snapshot load starts at once), then the API servers.
// Reads are served from the first moment; readiness reports the snapshot
// load. Shutdown runs in reverse: API servers drain, then the shell stops.
package server
