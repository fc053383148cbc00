#!/usr/bin/env bash
# Installs what building and testing distrod needs beyond a Go toolchain.
# Everything else comes from the Go module proxy through go.mod.
set -euo pipefail
if ! command -v go >/dev/null 2>&1; then
  echo "setup: Go 1.26 or newer is required (https://go.dev/dl/)" >&2
  exit 1
fi
go mod download
