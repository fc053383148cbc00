#!/usr/bin/env bash
# Every benchmark at reduced size: single-node scenarios (bench.sh) then
# cluster scenarios (bench-cluster.sh). Markdown rows on stdout; about 12
# minutes on a 2-core machine. BENCHMARKS.md says how to run full size.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bench.sh
scripts/bench-cluster.sh | tail -n +3
