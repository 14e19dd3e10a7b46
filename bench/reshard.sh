#!/usr/bin/env bash
# Online resharding: 3 → 4 shards of a cluster-mode group holding KEYS keys (default 1,000,000)
# while a client writes and reads through the configuration endpoint, against the same move
# done by hand on a plain Redis cluster (redis-cli --cluster add-node + rebalance) in one run:
# see bench/reshard.py. KEYS=N (default 1000000), TRIALS=N (default 1). FERROCACHE_BIN=path
# measures another build (default: this checkout's release build).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
for tool in redis-server redis-cli python3 cargo; do
  command -v "$tool" >/dev/null || { echo "reshard bench: $tool is missing"; exit 2; }
done
python3 -c 'import boto3, redis' 2>/dev/null \
  || { echo "reshard bench: python3 needs boto3 and redis (redis-py)"; exit 2; }
if [ -z "${FERROCACHE_BIN:-}" ]; then
  nice cargo build --release --quiet -p ferrocache
  export FERROCACHE_BIN="${CARGO_TARGET_DIR:-$PWD/target}/release/ferrocache"
fi
exec python3 bench/reshard.py
