// Package nacosgrpc is the SDK-facing Nacos 2.x gRPC server: the unary
// /Request/request and the bidirectional /BiRequestStream/requestBiStream,
// carrying JSON bodies in nacospb Payloads.
//
// Connections. A stats.Handler gives every transport a connection id
// "<ms>_<ip>_<port>" when it is accepted; unary calls and the bi-stream find
// their connection through the context, because the SDK never sends the id.
// ServerCheckRequest is answered before anything else: ErrorResponse 300
// while the node is not ready (Options.Ready; the SDK retries, then tries
// its next server, and a ConnectionSetupRequest is refused meanwhile),
// ServerCheckResponse otherwise. The
// ConnectionSetupRequest that opens the bi-stream registers the connection
// synchronously (the SDK sends its first request 100ms later without
// waiting for an answer); any other request on an unregistered connection
// gets ErrorResponse 301, which makes the SDK reconnect. A connection whose
// transport or stream ends, or that fails to ack ClientDetectionRequest
// after being idle, is unregistered: its naming client is removed from the
// store (a tombstone that Distro replicates) and its subscriptions are
// dropped from the push engine.
//
// Resource limits: a transport that has not sent ConnectionSetupRequest
// within Options.SetupTimeout is closed; a connection has at most
// Options.MaxStreams concurrent calls; one client IP at most
// Options.MaxConnectionsPerIP transports. Push bytes queued on a
// connection are counted: past MaxPushBytesPerConn the connection is
// closed as a slow consumer, and past MaxPushBytes for all connections a
// push is deferred (ErrTargetBusy) and retried by the engine.
//
// Requests follow Nacos's pipeline order: server check, handler lookup
// (302 unknown type; 502 cluster-only types and non-requests), registration
// (301), JSON decoding (502), parameter checks (400), handler (typed
// response, or ErrorResponse with the mapped code). Every answer has the
// exact response type the SDK expects: it type-asserts without checking.
//
// Auth (auth.go): with Options.Auth enabled, naming requests are checked
// after decoding (pipeline step "filters"): the token comes from the
// payload's metadata headers (accessToken), the resource from the request
// as its handler parses it, the action from the type (InstanceRequest and
// BatchInstanceRequest write, the others read). A refusal is the handler's
// own response type with resultCode 500, errorCode 403 and Nacos's reason.
// Server checks, health checks and the connection setup need no identity.
//
// TLS (tls.go): with Options.TLS the port serves TLS only, as Nacos does
// with nacos.remote.server.rpc.tls.enableTls and compatibility=false; with
// TLSCompatibility as well, a connection whose first byte starts a TLS
// handshake gets TLS and any other is served in plaintext (Nacos's
// compatibility mode). Client certificates, when required, are checked by
// the tls.Config (see package tlsfiles).
//
// Naming semantics: the connection id is the naming client id; a
// connection holds at most one registration per service (register
// replaces, deregister removes whatever ip:port it names, a batch replaces
// the whole set). Instances are stored exactly as sent. serviceInfo answers
// come from Options.Wire, the nacoswire.Builder the push engine pushes from
// (bare name, echoed clusters, strictly increasing lastRefTime, disabled
// instances hidden); the requestIds of server-initiated requests (client
// detection, connect reset, setup ack) come from its Stamps, the sequence
// pushes use, so no two requests on one connection share an id. Errors are
// answered with the resultCode of the shared error table
// (nacoswire.RPCCodeOf) unless the handler chose one.
//
// Goroutines: an idle connection costs grpc-go's three (reader, writer,
// keepalive) and the bi-stream handler, which only receives; server
// requests (pushes, probes, resets, setup acks) are sent by a goroutine
// that runs only while some are queued. The plaintext port hands grpc-go
// the bare TCP connection, whose read buffer comes from a pool only while
// data is ready (tls.go, plainCreds).
//
// Lock order: conn.mu, then Server.mu; neither (nor conn.sendMu) is held
// while sending on a stream. Store and push-engine calls are made with at most conn.mu held
// for reading.
package nacosgrpc
