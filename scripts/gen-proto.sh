#!/usr/bin/env bash
# Regenerates internal/transport/clusterpb from cluster.proto. The generated
# files are committed, so building and testing never need this.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v protoc >/dev/null; then apt-get install -y protobuf-compiler; fi
GOBIN=$(go env GOPATH)/bin go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
GOBIN=$(go env GOPATH)/bin go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.5.1
PATH=$(go env GOPATH)/bin:$PATH go generate ./internal/transport/clusterpb
