#!/usr/bin/env bash
# Metrics at N nodes (issue 14's benchmark): N single-node cache clusters sampled every second,
# their ElastiCache metrics stored for CloudWatch. Reports Ferrocache's CPU (goal < 5 % of one
# core at 1000), memory at the start, middle and end of the window (goal: flat), CloudWatch's
# bytes on disk per node-hour, and GetMetricStatistics latency over one day at 60 s (goal p99 <
# 20 ms) — for this build and, side by side, for each reference binary given (e.g. the build
# before CloudWatch, which sampled every 5 s for Prometheus only). See bench/metrics.py.
#
# Usage: bench/metrics.sh [N] [REFERENCE_BINARY ...]   (default N=1000)
# Knobs: FERROCACHE_BIN (default: this checkout's release build), IDLE_S=600 (the window),
#        SETTLE_S=10, QUERY_CALLS=200, AVAILABLE_TIMEOUT_S=1800; PERF_OUT=<path> records a
#        profile (perf record -g, PERF_HZ=999) over the first PERF_S=30 s of the window.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
N=${1:-1000}
shift || true
hard=$(ulimit -Hn)
[[ "$hard" == unlimited ]] && hard=1048576
ulimit -n "$hard" || true
if [[ -z "${FERROCACHE_BIN:-}" ]]; then
  cargo build --release --quiet -p ferrocache
  FERROCACHE_BIN="$PWD/target/release/ferrocache"
fi
exec python3 bench/metrics.py "$N" "$FERROCACHE_BIN" "$@"
