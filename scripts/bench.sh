#!/usr/bin/env bash
# Reduced-size run of every implemented distrod-bench scenario against one
# distrod node started here, each next to the same scenario against the
# do-nothing baseline server (the ratio column is target/baseline).
# Prints markdown rows on stdout; logs go to $BENCH_DIR. Takes ~4 minutes.
#
# Environment (all optional):
#   BENCH_PORT=18848        distrod HTTP port (gRPC = +1000)
#   BENCH_BASE_PORT=28848   baseline HTTP port (gRPC = +1000)
#   BENCH_DURATION=10s      measured phase per scenario
#   BENCH_CLIENTS=16        simulated clients
#   BENCH_STORM_DURATION=45s  must exceed distrod's instance delete timeout
#   BENCH_DIR=$(mktemp -d)  binaries' logs
#   BENCH_DISTROD_BIN=      run this distrod binary instead of building
#                           ./cmd/distrod (it must accept -port N)
set -euo pipefail

cd "$(dirname "$0")/.."
PORT=${BENCH_PORT:-18848}
BASE_PORT=${BENCH_BASE_PORT:-28848}
DUR=${BENCH_DURATION:-10s}
CLIENTS=${BENCH_CLIENTS:-16}
STORM_DUR=${BENCH_STORM_DURATION:-45s}
DIR=${BENCH_DIR:-$(mktemp -d -t distrod-bench.XXXXXX)}
mkdir -p "$DIR" bin

log() { echo "bench.sh: $*" >&2; }
die() { log "FAIL: $*"; exit 1; }

PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	for p in "${PIDS[@]}"; do
		wait "$p" 2>/dev/null || true
	done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_ready PID PORT NAME: poll the readiness endpoint until it answers 2xx,
# the process dies, or 60 s pass.
wait_ready() {
	local pid=$1 port=$2 name=$3 deadline=$((SECONDS + 60))
	until curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$port/nacos/v1/console/health/readiness"; do
		kill -0 "$pid" 2>/dev/null || die "$name exited before becoming ready (log: $DIR/$name.log)"
		((SECONDS < deadline)) || die "$name not ready on port $port after 60s (log: $DIR/$name.log)"
		sleep 0.2
	done
}

log "building (logs in $DIR)"
DISTROD=${BENCH_DISTROD_BIN:-}
if [[ -z $DISTROD ]]; then
	DISTROD=bin/distrod
	go build -o bin/distrod ./cmd/distrod >"$DIR/build-distrod.log" 2>&1 ||
		die "go build ./cmd/distrod failed: the server does not build yet (see $DIR/build-distrod.log)"
fi
[[ -x $DISTROD ]] || die "$DISTROD is not an executable"
go build -o bin/distrod-bench ./cmd/distrod-bench >"$DIR/build-bench.log" 2>&1 ||
	die "go build ./cmd/distrod-bench failed (see $DIR/build-bench.log)"

for p in "$PORT" $((PORT + 1000)) "$BASE_PORT" $((BASE_PORT + 1000)); do
	port_busy "$p" && die "port $p is already in use (set BENCH_PORT / BENCH_BASE_PORT)"
done

# Run from $DIR so anything the server writes to its working directory
# (data, logs) stays out of the repository.
DISTROD=$(cd "$(dirname "$DISTROD")" && pwd)/$(basename "$DISTROD")
(cd "$DIR" && exec "$DISTROD" -port "$PORT") >"$DIR/distrod.log" 2>&1 &
DISTROD_PID=$!
PIDS+=("$DISTROD_PID")
bin/distrod-bench baseline -listen "127.0.0.1:$BASE_PORT" >"$DIR/baseline.log" 2>&1 &
BASE_PID=$!
PIDS+=("$BASE_PID")
wait_ready "$DISTROD_PID" "$PORT" distrod
wait_ready "$BASE_PID" "$BASE_PORT" baseline
log "distrod pid $DISTROD_PID on $PORT, baseline pid $BASE_PID on $BASE_PORT"

T="127.0.0.1:$PORT"
B="127.0.0.1:$BASE_PORT"
FAILED=0
HEADER=-md-header

# run NAME ARGS...: one scenario against distrod, with the baseline ratio.
run() {
	local name=$1
	shift
	log "scenario $name $*"
	if bin/distrod-bench -scenario "$name" -targets "$T" -clients "$CLIENTS" -format md $HEADER "$@" \
		2>"$DIR/$name.err"; then
		HEADER=
	else
		FAILED=1
		log "scenario $name failed: $(tail -n 3 "$DIR/$name.err")"
		echo "| $name | FAILED | - | - | - | - | - | - | - | - | see $DIR/$name.err |"
	fi
	kill -0 "$DISTROD_PID" 2>/dev/null || die "distrod died during $name (log: $DIR/distrod.log)"
}

run register -duration "$DUR" -baseline "$B"
run query -duration "$DUR" -baseline "$B"
run beat -duration "$DUR" -instances 1000 -baseline "$B"
run replication -duration "$DUR" -rate 2000 -baseline "$B"
run push -duration "$DUR" -rate 500 -baseline "$B"
run scale -services 10000 -instances 10 -pids "$DISTROD_PID" -baseline "$B"
run storm -duration "$STORM_DUR" -instances 2000 -rate 100 -pids "$DISTROD_PID"

((FAILED == 0)) || die "some scenarios failed"
log "done"
