// Package bench is distrod's load generator: simulated Nacos clients that
// speak the real client protocols (the gRPC Payload protocol of the 2.x SDKs
// and the HTTP v1 open API of the 1.x SDKs), a set of scenarios that drive
// them, latency histograms, and a do-nothing "limit baseline" server that
// speaks the same protocols so a figure can be read as a fraction of what the
// client side and the loopback network allow.
//
// The wire bytes are those the published Nacos SDKs send: each simulated
// gRPC client owns one connection, performs the SDK's
// handshake (unary ServerCheckRequest, bi-stream, ConnectionSetupRequest,
// a 100 ms wait) and acknowledges NotifySubscriberRequest pushes by echoing
// the requestId; each simulated HTTP client owns one keep-alive connection
// and encodes parameters the way nacos-sdk-go v1 does (form-encoded POST,
// unescaped GET query, raw unescaped PUT body).
//
// Accounting rule: an operation that fails (transport error, non-2xx HTTP
// status, ErrorResponse, resultCode≠200, wrong response type, malformed or
// short answer) is counted under Errors and never contributes to throughput
// or latency figures.
//
// Scenarios are registered by name in a table (see Scenarios); adding one is
// writing a ScenarioFunc and a line in that table. The cluster scenarios
// join, verify and heal, and the control plane scenarios cpwrite and
// cprestart (cp.go), need a real distrod cluster (cluster.go); without one
// they fail with ErrNeedsCluster.
package bench
