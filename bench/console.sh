#!/usr/bin/env bash
# The web console's Redis clusters list at N replication groups (issue 15's "a page with 1000
# groups renders in < 1 s"): N one-node groups made with boto3, then the list page opened in
# headless Chromium (Playwright) and timed from navigation until the first page of rows and
# the total count are on the page. See bench/console.py.
#
# Usage: bench/console.sh [N]   (default N=1000)
# Knobs: FERROCACHE_BIN (default: this checkout's release build), LOADS=5 (page loads; the
#        median is reported), ENDPOINT_CIDR=127.232.0.0/19, AVAILABLE_TIMEOUT_S=1800,
#        CHROMIUM=/usr/bin/chromium.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
N=${1:-1000}
hard=$(ulimit -Hn)
[[ "$hard" == unlimited ]] && hard=1048576
ulimit -n "$hard" || true
if [[ -z "${FERROCACHE_BIN:-}" ]]; then
  cargo build --release --quiet -p ferrocache
  FERROCACHE_BIN="$PWD/target/release/ferrocache"
fi
exec python3 bench/console.py "$N" "$FERROCACHE_BIN"
