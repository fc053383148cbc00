#!/usr/bin/env bash
# Reduced-size run of the cluster scenarios of distrod-bench against a
# three-node distrod cluster started here (scripts/cluster.sh, with fault
# injection for heal), next to a three-node do-nothing baseline where a
# baseline makes sense. Prints markdown rows on stdout; takes ~5 minutes.
#
# Environment (all optional):
#   BENCH_PORT=18848        first node's HTTP port; the others +10, +20
#   BENCH_BASE_PORT=28848   baseline ports (three, +10 apart)
#   BENCH_DURATION=10s      measured phase of throughput/lag scenarios
#   BENCH_SCALE_SERVICES=10000  services x 10 instances for scale and join
#   BENCH_VERIFY_RECORDS="10000 100000"  record counts for verify
#   BENCH_CP_SERVICES=10    cprestart: services x 1000 persistent instances
#   BENCH_DIR=$(mktemp -d)  logs
# Full size (1M instances): BENCH_SCALE_SERVICES=100000; 100k persistent
# instances for cprestart: BENCH_CP_SERVICES=100.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${BENCH_PORT:-18848}
BASE_PORT=${BENCH_BASE_PORT:-28848}
DUR=${BENCH_DURATION:-10s}
SCALE=${BENCH_SCALE_SERVICES:-10000}
VERIFY=${BENCH_VERIFY_RECORDS:-10000 100000}
CP_SERVICES=${BENCH_CP_SERVICES:-10}
DIR=${BENCH_DIR:-$(mktemp -d -t distrod-bench-cluster.XXXXXX)}
export CLUSTER_DIR=$DIR/cluster
mkdir -p "$DIR" bin

log() { echo "bench-cluster.sh: $*" >&2; }
die() { log "FAIL: $*"; exit 1; }

BASE_PID=
cleanup() {
	scripts/cluster.sh stop || true
	[[ -n $BASE_PID ]] && kill "$BASE_PID" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

go build -o bin/distrod ./cmd/distrod
go build -o bin/distrod-bench ./cmd/distrod-bench
T="127.0.0.1:$PORT,127.0.0.1:$((PORT + 10)),127.0.0.1:$((PORT + 20))"
B="127.0.0.1:$BASE_PORT,127.0.0.1:$((BASE_PORT + 10)),127.0.0.1:$((BASE_PORT + 20))"

# fresh: a new cluster for a scenario that needs clean state.
fresh() {
	DISTROD_FAULT_INJECTION=true DISTROD_BIN=bin/distrod scripts/cluster.sh start 3 "$PORT" >&2
	PIDS=$(cat "$CLUSTER_DIR"/node-*.pid | paste -sd,)
}

bin/distrod-bench baseline -listen "$B" >"$DIR/baseline.log" 2>&1 &
BASE_PID=$!
for _ in $(seq 1 100); do
	curl -fs "http://127.0.0.1:$BASE_PORT/nacos/v1/console/health/readiness" >/dev/null 2>&1 && break
	sleep 0.1
done

FAILED=0
HEADER=-md-header
run() {
	local name=$1
	shift
	log "scenario $name $*"
	if bin/distrod-bench -scenario "$name" -targets "$T" -format md $HEADER "$@" 2>"$DIR/$name.err"; then
		HEADER=
	else
		FAILED=1
		log "scenario $name failed: $(tail -n 3 "$DIR/$name.err")"
		echo "| $name | FAILED | - | - | - | - | - | - | - | - | see $DIR/$name.err |"
	fi
}

fresh
run register -duration "$DUR" -baseline "$B"
fresh
run replication -duration "$DUR" -rate 5000 -baseline "$B"
fresh
run push -duration "$DUR" -rate 1000 -baseline "$B"
fresh
run scale -services "$SCALE" -instances 10 -clients 32 -pids "$PIDS" -settle 3m -baseline "$B"
fresh
run join -services "$SCALE" -instances 10 -clients 32 -pids "$PIDS" -settle 3m
for n in $VERIFY; do
	fresh
	run verify -services "$n" -instances 1 -clients 32 -duration "$DUR" -settle 3m
done
fresh
run heal -services 200
fresh
run cpwrite -duration 5s
# The persistent instances' addresses have no listener: a probe interval
# longer than the run keeps the probes from marking them all unhealthy.
DISTROD_PERSISTENT_CHECK_INTERVAL=1h fresh
run cprestart -services "$CP_SERVICES" -instances 1000 -clients 64 -pids "$PIDS" -settle 3m

((FAILED == 0)) || die "some scenarios failed"
log "done (logs in $DIR)"
