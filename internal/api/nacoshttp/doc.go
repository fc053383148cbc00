// Package nacoshttp serves the Nacos naming HTTP open API (v1 and v2) and
// the console health probes on top of a naming.Store, as an http.Handler.
//
// It is a wire adapter only: it parses Nacos's parameters (including the
// unescaped bodies of nacos-sdk-go v1), calls the store, and writes Nacos's
// exact response bodies, field names, JSON types, status codes and error
// texts. v1 errors are plain text with the HTTP status; v2 answers use the
// {code,message,data} envelope with Nacos's error codes. naming's and cp's
// sentinel errors are mapped to both by the error table of package
// nacoswire, which the gRPC API shares (errors.go, controlError). Instances
// and serviceInfo documents are nacoswire's wire types.
//
// Writes (instance register/deregister/update/patch, beats, metadata
// batches, service writes) are routed through Options.Router: a write
// whose ownership tag belongs to another node is handed to
// Options.Forwarder, and the owner's answer relayed verbatim. On the owner,
// ServeForwarded runs it through the same handler in process, marked in
// its context so it is never forwarded again, and reports the keys of the
// records it touched so the entry node can hold them before it answers
// (forward.go). No client header marks a request as forwarded.
//
// Reads are always local. While Options.Ready reports false (a cluster
// node still loading its startup snapshot) naming reads answer 503 (v1
// text, v2 envelope code 30000) so that clients ask another node; writes,
// liveness and the operator endpoints keep serving.
//
// Auth (auth.go). With Options.Auth enabled, every request is checked
// after its parameters are read and before it is routed or forwarded, by
// the access rule of its endpoint (authRules: open, any user, read or
// write on the naming resource, ROLE_ADMIN; endpoints without a rule need
// ROLE_ADMIN). A refusal is Nacos's 403 with Spring's JSON error body.
// The owner of a forwarded write checks it again (the credentials travel
// with it). Extra handlers need ROLE_ADMIN. /v1/auth/* serves login, the
// first admin, users, roles and permissions.
//
// Parameters are parsed by a lenient parser that is linear in the input
// whatever its content, with a cap on their number (params.go). Answers
// larger than Options.MaxAnswerBytes are refused. A v1 UDP subscription
// pushes to the request's own address; a different clientIP is honoured
// only for requests from Options.UDPTrustedNets.
//
// The handler never reads the wall clock for data decisions: Options.Now
// stamps beats and lastRefTime, so tests drive expiry with a fake clock.
// Heartbeat expiry itself is the server's timer calling Store.ExpireCheck.
package nacoshttp
