// Package clusterpb holds the generated protobuf and gRPC code of the
// distrod cluster protocol (cluster.proto). Regenerate with `go generate`
// (needs protoc, protoc-gen-go and protoc-gen-go-grpc; see scripts/gen-proto.sh).
package clusterpb

//go:generate protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative cluster.proto
