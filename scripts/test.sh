#!/usr/bin/env bash
# Runs every check and test of distrod: formatting, go vet, staticcheck
# (configured by staticcheck.conf), and the whole test suite with the race
# detector (unit tests, the seeded Distro simulation, the real-SDK tests and
# the multi-process cluster tests).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
go vet ./...
# The staticcheck release is pinned; the module proxy serves it and the
# build cache keeps it after the first run.
staticcheck="go run honnef.co/go/tools/cmd/staticcheck@v0.8.2"
$staticcheck ./...
# deploy/test is its own module (Helm and the Kubernetes API types stay out
# of distrod's go.mod): the chart, plain manifests and compose files.
(cd deploy/test && go vet ./... && $staticcheck ./... && go test -count=1 ./...)
# -p 2: two packages at a time on the 2-core machines we run on.
go test -race -p 2 -timeout 14m "$@" ./...
