#!/usr/bin/env bash
# Builds the distrod container image without pulling anything: the binary
# is compiled here (static, CGO_ENABLED=0) into bin/image/ and copied into
# a FROM scratch image by deploy/docker/Dockerfile (BIN_SOURCE=prebuilt).
#
#   scripts/image.sh [TAG]        default tag distrod:latest
#
# Uses podman, else docker. The Docker format keeps the HEALTHCHECK (OCI
# image configs have no field for it).
set -euo pipefail
cd "$(dirname "$0")/.."
TAG=${1:-distrod:latest}
mkdir -p bin/image
CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags="-s -w" -o bin/image/distrod ./cmd/distrod
if command -v podman >/dev/null 2>&1; then
	podman build --format docker --build-arg BIN_SOURCE=prebuilt -f deploy/docker/Dockerfile -t "$TAG" .
elif command -v docker >/dev/null 2>&1; then
	docker build --build-arg BIN_SOURCE=prebuilt -f deploy/docker/Dockerfile -t "$TAG" .
else
	echo "image.sh: neither podman nor docker found (scripts/setup.sh installs podman with DISTROD_IMAGE_TEST=1)" >&2
	exit 1
fi
