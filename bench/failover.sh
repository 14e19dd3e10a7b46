#!/usr/bin/env bash
# Failover RTO/RPO of Ferrocache's primary endpoint against Redis Sentinel (3 sentinels,
# down-after-milliseconds 1000), measured in one run: see bench/failover.py.
# Needs redis-server, redis-sentinel (Debian package redis-sentinel), python3 with boto3 and
# redis. TRIALS=N changes the number of trials (default 5). FERROCACHE_ARGS="..." appends
# arguments to `ferrocache up` (e.g. "--data-path kernel" or "--data-path router"; the output
# shows the banner's "Data path:" line). FERROCACHE_BIN=path runs that binary instead of
# building target/release/ferrocache.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
for tool in redis-server redis-sentinel python3; do
  command -v "$tool" >/dev/null || { echo "failover bench: $tool is missing (apt-get install redis-sentinel for Sentinel)"; exit 2; }
done
if [[ -z "${FERROCACHE_BIN:-}" ]]; then
  command -v cargo >/dev/null || { echo "failover bench: cargo is missing"; exit 2; }
  cargo build --release --quiet -p ferrocache
  export FERROCACHE_BIN="$PWD/target/release/ferrocache"
fi
export FERROCACHE_BIN
exec python3 bench/failover.py
