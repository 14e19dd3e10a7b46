#!/usr/bin/env bash
# The control plane with its state in etcd against the embedded store, in one run: API write
# and read latency, group creation, failover RTO; see bench/store.py. Needs etcd (Debian
# package etcd-server), redis-server, python3 with boto3 and redis. CALLS=N (default 200),
# GROUPS_CREATED=N (3), RTO_TRIALS=N (3). FERROCACHE_BIN=path runs that binary instead of
# building target/release/ferrocache.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
for tool in etcd redis-server python3; do
  command -v "$tool" >/dev/null || { echo "store bench: $tool is missing (apt-get install etcd-server redis-server)"; exit 2; }
done
if [[ -z "${FERROCACHE_BIN:-}" ]]; then
  cargo build --release --quiet -p ferrocache
  export FERROCACHE_BIN="$PWD/target/release/ferrocache"
fi
export FERROCACHE_BIN
exec python3 bench/store.py
