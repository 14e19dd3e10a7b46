#!/usr/bin/env bash
# Start Ferrocache on this machine: installs redis-server (Debian's, 7.0) if it is missing,
# then builds and runs `ferrocache up`. Arguments are passed on, e.g.
#   scripts/up.sh --data-dir /tmp/fc --listen 127.0.0.1:4566
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if ! command -v redis-server >/dev/null; then
  echo "installing redis-server with apt-get" >&2
  as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools >/dev/null
fi
exec cargo run --release --quiet -p ferrocache -- up "$@"
