#!/usr/bin/env bash
# Starts a local distrod cluster on loopback for experiments and benchmarks.
#
#   scripts/cluster.sh start [N] [BASE_PORT]   # N nodes (default 3) on BASE_PORT, +10, +20 ... (default 8848)
#   scripts/cluster.sh stop                    # stops the nodes this script started
#
# Extra settings go through the environment (DISTROD_*), e.g.
#   DISTROD_FAULT_INJECTION=true scripts/cluster.sh start
# Logs, PIDs and each node's control plane data (data-PORT, emptied on
# start) live in ${CLUSTER_DIR:-/tmp/distrod-cluster}. The binary is
# built into bin/distrod unless DISTROD_BIN names one. The nodes share the
# cluster secret in DISTROD_CLUSTER_SECRET or, when it is unset, a random
# one written to $CLUSTER_DIR/cluster-secret (mode 0600) and passed as
# DISTROD_CLUSTER_SECRET_FILE; the file holds it for curl's bearer token.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${CLUSTER_DIR:-/tmp/distrod-cluster}
cmd=${1:-start}

# stop ends the nodes started here, including one a benchmark restarted
# with a new PID (found by the port in its environment), and waits for them
# to exit so their ports are free.
stop() {
  [ -d "$dir" ] || return 0
  local pids="" f port p
  for f in "$dir"/node-*.pid; do
    [ -e "$f" ] || continue
    pids="$pids $(cat "$f")"
    port=${f##*/node-}
    port=${port%.pid}
    for p in /proc/[0-9]*; do
      if grep -qxz "NACOS_APPLICATION_PORT=$port" "$p/environ" 2>/dev/null; then
        pids="$pids ${p#/proc/}"
      fi
    done
    rm -f "$f"
  done
  for p in $pids; do kill "$p" 2>/dev/null || true; done
  for p in $pids; do
    for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  done
}

case "$cmd" in
stop) stop; exit 0 ;;
start) ;;
*) echo "usage: $0 start [N] [BASE_PORT] | stop" >&2; exit 2 ;;
esac

n=${2:-3}
base=${3:-8848}
bin=${DISTROD_BIN:-}
if [ -z "$bin" ]; then
  go build -o bin/distrod ./cmd/distrod
  bin=bin/distrod
fi
stop
mkdir -p "$dir"
secret_env=()
if [ -z "${DISTROD_CLUSTER_SECRET:-}" ] && [ "${DISTROD_CLUSTER_INSECURE:-}" != "true" ] && [ -z "${DISTROD_CLUSTER_SECRET_FILE:-}" ]; then
  (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$dir/cluster-secret")
  secret_env=(DISTROD_CLUSTER_SECRET_FILE="$(cd "$dir" && pwd)/cluster-secret")
fi
members=""
for i in $(seq 0 $((n - 1))); do members="$members 127.0.0.1:$((base + 10 * i))"; done
for i in $(seq 0 $((n - 1))); do
  port=$((base + 10 * i))
  # Each node keeps its control plane data apart; a start is a new cluster.
  rm -rf "$dir/data-$port"
  env ${secret_env[@]+"${secret_env[@]}"} MODE=cluster NACOS_SERVER_IP=127.0.0.1 NACOS_SERVERS="$members" NACOS_APPLICATION_PORT=$port \
    DISTROD_DATA_DIR="$(cd "$dir" && pwd)/data-$port" "$bin" >"$dir/node-$port.log" 2>&1 &
  echo $! >"$dir/node-$port.pid"
done
for i in $(seq 0 $((n - 1))); do
  port=$((base + 10 * i))
  for _ in $(seq 1 300); do
    if curl -fs "http://127.0.0.1:$port/nacos/v1/console/health/readiness" >/dev/null 2>&1; then break; fi
    sleep 0.1
  done
  curl -fs "http://127.0.0.1:$port/nacos/v1/console/health/readiness" >/dev/null ||
    { echo "node :$port did not become ready; see $dir/node-$port.log" >&2; exit 1; }
  echo "node 127.0.0.1:$port ready (pid $(cat "$dir/node-$port.pid"), log $dir/node-$port.log)"
done
