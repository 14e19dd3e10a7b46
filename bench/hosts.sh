#!/usr/bin/env bash
# Losing a host: Ferrocache on three namespace hosts (etcd store) against Redis Sentinel on the
# same three, one run: RTO and acknowledged writes lost when the primary's host dies, and
# whether two primaries ever take writes when it is cut off; see bench/hosts.py. Needs root
# (network namespaces), etcd (etcd-server), redis-server, redis-sentinel, python3 with boto3
# and redis. TRIALS=N (default 3). FERROCACHE_BIN=path runs that binary instead of building
# target/release/ferrocache; FERROCACHE_PREVIOUS_BIN=path measures a previous build too.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
for tool in etcd redis-server redis-sentinel python3 ip; do
  command -v "$tool" >/dev/null || { echo "hosts bench: $tool is missing (apt-get install etcd-server redis-server redis-sentinel iproute2)"; exit 2; }
done
if [[ -z "${FERROCACHE_BIN:-}" ]]; then
  cargo build --release --quiet -p ferrocache
  export FERROCACHE_BIN="$PWD/target/release/ferrocache"
fi
export FERROCACHE_BIN
exec python3 bench/hosts.py
