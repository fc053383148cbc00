// Package nacospb is the wire codec for Nacos 2.x's gRPC envelope.
//
// Nacos clients speak two gRPC methods, unary /Request/request and the
// bidirectional stream /BiRequestStream/requestBiStream, both carrying one
// message type:
//
//	message Metadata { string type = 3; map<string,string> headers = 7; string clientIp = 8; }
//	message Payload  { Metadata metadata = 2; google.protobuf.Any body = 3; }
//
// The body's Any holds UTF-8 JSON in its value field (type_url stays empty)
// and Metadata.type names the JSON schema (a Java simple class name such as
// "InstanceRequest").
//
// The proto has no package, so its generated Go types register the global
// names "Payload" and "Metadata". Any process that also links a Nacos client
// SDK (our tests do) would panic on the duplicate registration. This package
// therefore encodes the envelope by hand with protowire and plugs it into
// grpc-go as a forced codec: it registers nothing globally, and decoding
// needs no reflection.
package nacospb
