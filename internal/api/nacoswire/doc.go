// Package nacoswire is the Nacos naming wire view shared by the HTTP open
// API (nacoshttp), the gRPC API (nacosgrpc) and the push engine (push):
// what a Nacos client reads, built from naming.Store views, and how the
// APIs answer the store's and the control plane's errors.
//
// Documents (serviceinfo.go): Host is one instance as the SDKs read it
// (Java Instance JSON, weights always with a decimal), ServiceInfo the
// serviceInfo document of query and subscribe answers and of every push.
// HostOf converts a stored instance; FromView converts a view the caller
// selected (the HTTP APIs, with their own cacheMillis and lastRefTime);
// Builder selects, converts and stamps under one per-service lock, and
// caches the encoded hosts of unchanged services (BuildJSON).
//
// Stamps: the lastRefTime clock and the requestId sequence are fields of a
// Stamps value, not package state. The SDKs drop a serviceInfo whose
// lastRefTime is not greater than the cached one, and match acks by
// requestId, so one node passes one Stamps (inside one Builder) to the
// push engine and the gRPC API; a Builder given none makes its own.
//
// Errors (errors.go): one table maps the sentinel errors of package naming
// and package cp (errors.Is) to the HTTP status, the v2 envelope code and
// the gRPC resultCode. LookupError finds a row within one plane; each API
// renders the row in its own envelope (nacoshttp's apiError, nacosgrpc's
// ErrorResponse), and RPCCodeOf is the gRPC code of any error.
//
// Lock order: the builder's stripes before naming.Store.mu; the cache lock
// is a leaf.
package nacoswire
