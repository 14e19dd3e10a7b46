#!/usr/bin/env bash
# Failover RTO/RPO of Ferrocache's primary endpoint against Redis Sentinel (3 sentinels,
# down-after-milliseconds 1000), measured in one run: see bench/failover.py.
# Needs redis-server, redis-sentinel (Debian package redis-sentinel), python3 with boto3 and
# redis. TRIALS=N changes the number of trials (default 5).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
for tool in redis-server redis-sentinel python3 cargo; do
  command -v "$tool" >/dev/null || { echo "failover bench: $tool is missing (apt-get install redis-sentinel for Sentinel)"; exit 2; }
done
cargo build --release --quiet -p ferrocache
export FERROCACHE_BIN="$PWD/target/release/ferrocache"
exec python3 bench/failover.py
