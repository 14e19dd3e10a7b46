#!/usr/bin/env bash
# The control plane at N nodes: one `ferrocache up` (release), N single-node cache clusters
# created one after another, then N/10 three-node replication groups. Reports per-create API
# latency (first and last 10 %), time until all are `available`, Describe latency p50/p99
# (100 records a page), Ferrocache's idle CPU and RSS, the failover RTO of one group with all N
# running (against the same group alone, before the creates), and a clean stop and restart
# that must bring every cluster, group and key back. Prints a Markdown table with the issue's
# goals. The phases are described in bench/scale.py.
#
# Usage: bench/scale.sh [N]     (default 1000; N=1000 needs ~4.5 GB of memory; the baseline
#                                 at d513759 takes over 45 min there, N=100 ~2 min)
#
# Environment knobs:
#   FERROCACHE_BIN=path    a ferrocache binary to measure (default: build this checkout with
#                          `cargo build --release -p ferrocache`); two builds compare side by side
#   ENDPOINT_CIDR=cidr     --endpoint-cidr (default 127.250.0.0/20; N=1000 takes ~1500 endpoint
#                          and ~1300 private addresses, so a /20 at least)
#   GROUP_COUNT=n          three-node groups to create (default N/10)
#   SKIP_RESTART=1         no clean stop and restart at the end
#   SKIP_REFERENCE=1       no idle/RTO reference with nothing running (faster)
#   RTO_TRIALS=3           failovers per measurement (median reported; 0: none)
#   LONE_CREATES=20        creates sent one at a time (each waits for `available`) before the
#                          N and among them, then deleted (0: none)
#   DESCRIBE_CALLS=200     calls per Describe operation (0: no Describe series)
#   RESTART_KEYS=500       keys written before the restart, spread over the clusters and groups
#   IDLE_S=30 SETTLE_S=5   idle CPU window, and the pause before it
#   POLL_S=1               how often the paged Describes poll for `available`
#   AVAILABLE_TIMEOUT_S=1800 STOP_TIMEOUT_S=600   bounds on waiting
#   RESULTS_JSON=path      also write every figure as JSON
#   LOG_DIR=/tmp           where Ferrocache's stderr log is copied (scale-<N>-<time>/)
#   DESCRIBE_TIME_MAX_S=180 bound on each Describe series; WRITER_TIMEOUT_S=1 failover client
#   FERROCACHE_TEST_KEEP=1 keep the data dir (tests/py/harness.py)
#
# Needs redis-server (7.0) and python3 with boto3 and redis. Raises `ulimit -n` to the hard
# limit: every node is a redis-server and every endpoint a listening socket.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
N=${1:-1000}
[[ "$N" =~ ^[0-9]+$ && "$N" -ge 10 ]] || { echo "usage: bench/scale.sh [N >= 10]"; exit 2; }

for tool in redis-server python3; do
  command -v "$tool" >/dev/null || { echo "scale bench: $tool is missing"; exit 2; }
done
python3 -c 'import boto3, redis' 2>/dev/null \
  || { echo "scale bench: python3 needs boto3 and redis (pip install boto3 redis)"; exit 2; }

hard=$(ulimit -Hn)
[[ "$hard" == unlimited ]] && hard=1048576
ulimit -n "$hard" || true
need=$((N * 3 + 1000))
if (( $(ulimit -n) < need )); then
  echo "scale bench: warning: ulimit -n is $(ulimit -n), ~$need descriptors may be needed"
fi

if [[ -z "${FERROCACHE_BIN:-}" ]]; then
  cargo build --release --quiet -p ferrocache
  export FERROCACHE_BIN="$PWD/target/release/ferrocache"
  # The commit measured, and the last one that changed the code (bench/ commits change nothing).
  commit=$(git rev-parse --short HEAD)
  code=$(git log -1 --format=%h -- crates Cargo.toml Cargo.lock)
  [[ "$code" == "$commit" ]] || commit="$commit (code as of $code)"
  git diff --quiet HEAD -- crates Cargo.toml Cargo.lock 2>/dev/null || commit="$commit+dirty"
  export BENCH_COMMIT="${BENCH_COMMIT:-$commit}"
else
  export BENCH_COMMIT="${BENCH_COMMIT:-$FERROCACHE_BIN}"
fi
[[ -x "$FERROCACHE_BIN" ]] || { echo "scale bench: $FERROCACHE_BIN is not executable"; exit 2; }

exec python3 bench/scale.py "$N"
