#!/usr/bin/env bash
# Installs what building and testing distrod needs beyond a Go toolchain.
# Everything else comes from the Go module proxy through go.mod.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v go >/dev/null 2>&1; then
  echo "setup: Go 1.26 or newer is required (https://go.dev/dl/)" >&2
  exit 1
fi
go mod download
(cd deploy/test && go mod download)

# The Nacos Node.js client for e2e/node_test.go, at the versions locked in
# e2e/nodeclient/package-lock.json. Without npm that test is skipped.
if command -v npm >/dev/null 2>&1; then
  if [ ! -d e2e/nodeclient/node_modules/nacos ]; then
    npm ci --prefix e2e/nodeclient --no-audit --no-fund --loglevel=error
  fi
else
  echo "setup: npm not found; the Node.js client test will be skipped" >&2
fi

# podman, for the opt-in container image test (DISTROD_IMAGE_TEST=1,
# e2e/image_test.go) and scripts/image.sh. Debian's package; root only.
if [ "${DISTROD_IMAGE_TEST:-}" = 1 ] && ! command -v podman >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman
  else
    echo "setup: DISTROD_IMAGE_TEST=1 needs podman: install it (apt-get install podman)" >&2
  fi
fi

# Chromium, for the console's browser tests (internal/api/console,
# e2e/console_test.go, driven with chromedp). Debian's package; root only.
# Without it those tests are skipped.
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 ||
      echo "setup: could not install chromium; the console browser tests will be skipped" >&2
  else
    echo "setup: chromium not found; the console browser tests will be skipped (apt-get install chromium)" >&2
  fi
fi

# The chaos test (e2e/chaos) runs nodes in network namespaces: it needs
# root, ip (iproute2) and iptables. Install them when we can.
if [ "$(id -u)" = 0 ] && { ! command -v ip >/dev/null 2>&1 || ! command -v iptables >/dev/null 2>&1; }; then
  if command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && apt-get install -y -qq iproute2 iptables) >/dev/null 2>&1 ||
      echo "setup: could not install iproute2/iptables; the chaos test will be skipped" >&2
  fi
fi
