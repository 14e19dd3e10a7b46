#!/usr/bin/env bash
# Cluster mode: create of a 3×3 cluster-mode group and the failover of one shard, against the
# same cluster built by hand with redis-cli --cluster create (Redis Cluster's own failover), in
# one run: see bench/cluster.py. TRIALS=N (default 3). FERROCACHE_BIN=path measures another
# build (default: this checkout's release build).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
for tool in redis-server redis-cli python3 cargo; do
  command -v "$tool" >/dev/null || { echo "cluster bench: $tool is missing"; exit 2; }
done
if [ -z "${FERROCACHE_BIN:-}" ]; then
  cargo build --release --quiet -p ferrocache
  export FERROCACHE_BIN="${CARGO_TARGET_DIR:-$PWD/target}/release/ferrocache"
fi
exec python3 bench/cluster.py
