#!/usr/bin/env bash
# One cluster-size measurement of the scale issue: starts an N-node distrod
# cluster (scripts/cluster.sh, fault injection on), runs one distrod-bench
# scenario against all its nodes, prints each node's /distrod/status digest
# afterwards (convergence), and stops the cluster.
#
#   scripts/bench-scale-cluster.sh N SCENARIO [distrod-bench flags...]
#
# Environment: BENCH_PORT (first HTTP port, default 23000; nodes +10 apart),
# DISTROD_BIN (server binary, default bin/distrod), BENCH_BIN (default
# bin/distrod-bench), CLUSTER_DIR (default /tmp/distrod-scale-cluster),
# BENCH_SETTLE_DIGESTS (seconds to wait for equal digests, default 60).
# Benchmarks share the machine: run one at a time.
set -euo pipefail
cd "$(dirname "$0")/.."
n=$1
scenario=$2
shift 2
PORT=${BENCH_PORT:-23000}
export CLUSTER_DIR=${CLUSTER_DIR:-/tmp/distrod-scale-cluster}
export DISTROD_BIN=${DISTROD_BIN:-bin/distrod}
BENCH=${BENCH_BIN:-bin/distrod-bench}
trap 'scripts/cluster.sh stop || true' EXIT
DISTROD_FAULT_INJECTION=true scripts/cluster.sh start "$n" "$PORT" >&2
T=""
for i in $(seq 0 $((n - 1))); do T="$T${T:+,}127.0.0.1:$((PORT + 10 * i))"; done
PIDS=$(for i in $(seq 0 $((n - 1))); do cat "$CLUSTER_DIR/node-$((PORT + 10 * i)).pid"; done | paste -sd,)
"$BENCH" -scenario "$scenario" -targets "$T" -pids "$PIDS" "$@"
# Convergence: every node's digest, polled until equal or the deadline.
digest() {
	local d
	d=$(curl -s -m 5 "http://$1/distrod/status" | sed -n 's/.*"digest": *"\([^"]*\)".*/\1/p' | head -1)
	echo "${d:-none}"
}
# joindown leaves the last target dead for good: compare the others.
D=$T
if [ "$scenario" = joindown ]; then D=${T%,*}; fi
t0=$(date +%s.%N)
deadline=$(($(date +%s) + ${BENCH_SETTLE_DIGESTS:-60}))
while :; do
	all=""
	for t in ${D//,/ }; do all="$all $t=$(digest "$t")"; done
	distinct=$(for kv in $all; do echo "${kv#*=}"; done | sort -u | wc -l)
	if { [ "$distinct" = 1 ] && [[ $all != *=none* ]]; } || [ "$(date +%s)" -ge "$deadline" ]; then break; fi
	sleep 0.2
done
echo "digests after the scenario ($n nodes), $(echo "$(date +%s.%N) - $t0" | bc) s after it ended:"
for kv in $all; do echo "  $kv"; done
echo "distinct digests: $distinct"
