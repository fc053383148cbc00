// Package nacoshttp serves the Nacos naming HTTP open API (v1 and v2) and
// the console health probes on top of a naming.Store, as an http.Handler.
//
// It is a wire adapter only: it parses Nacos's parameters (including the
// unescaped bodies of nacos-sdk-go v1), calls the store, and writes Nacos's
// exact response bodies, field names, JSON types, status codes and error
// texts. v1 errors are plain text with the HTTP status; v2 answers use the
// {code,message,data} envelope with Nacos's error codes. naming's sentinel
// errors are mapped to both in one table (errors.go).
//
// Writes (instance register/deregister/update/patch, beats, metadata
// batches, service writes) are routed through Options.Router: a write
// whose ownership tag belongs to another node is forwarded to it and the
// owner's answer relayed verbatim (forward.go). Reads are always local.
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
