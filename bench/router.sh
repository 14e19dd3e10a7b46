#!/usr/bin/env bash
# Router throughput and latency against Redis direct, in one run on this machine.
#
# Starts one redis-server on a free loopback port (with a Unix socket too) and the
# `router_bench` example with two Primary endpoints in front of it: one with a TCP backend, one
# with a Unix-socket backend. Then, for each pipeline depth (-P 1, -P 16) and each test, runs
# redis-benchmark -c 50 -d 64 against
#   A  redis direct (TCP 127.0.0.1)
#   B  the router, TCP backend
#   C  the router, Unix-socket backend
# back to back (A, B, C interleaved per test, so machine noise hits all three alike) and prints
# requests/sec, B/A and C/A, and p50/p99 deltas (router minus direct, ms).
#
# Environment:
#   N_P1, N_P16      requests per test at -P 1 / -P 16 (defaults keep the run under 2 min)
#   ROUTER_WORKERS   router runtime: 0 = current-thread, N = multi-thread with N workers
#   TESTS            redis-benchmark tests (default set,get,incr,lpush,hset)
# Every process started here is stopped by PID on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
N_P1=${N_P1:-100000}
N_P16=${N_P16:-400000}
ROUTER_WORKERS=${ROUTER_WORKERS:-1}
TESTS=${TESTS:-set,get,incr,lpush,hset}
CLIENTS=50
VALUE_BYTES=64
# Bounded waits for start-up: READY_POLLS_MAX polls, READY_POLL_SECONDS apart.
READY_POLLS_MAX=100
READY_POLL_SECONDS=0.05
# Router listen addresses: the whole 127/8 is loopback on Linux.
ROUTER_TCP_IP=127.99.250.1
ROUTER_UNIX_IP=127.99.250.2

for tool in redis-server redis-cli redis-benchmark ss cargo awk; do
    command -v "$tool" >/dev/null || { echo "router.sh: $tool not found" >&2; exit 1; }
done

echo "building router_bench (release)..." >&2
(cd "$ROOT" && cargo build --release -q -p ferrocache-router --example router_bench)
BIN=$ROOT/target/release/examples/router_bench

TMP=$(mktemp -d)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

# A port nobody listens on at IP $1 right now.
free_port() {
    local ip=$1 port
    while :; do
        port=$((20000 + RANDOM % 40000))
        if [ -z "$(ss -Htln "sport = :$port")" ]; then
            echo "$port"
            return
        fi
    done
}

wait_until() { # wait_until DESCRIPTION COMMAND...
    local what=$1 i
    shift
    for ((i = 0; i < READY_POLLS_MAX; i++)); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep "$READY_POLL_SECONDS"
    done
    echo "router.sh: $what did not come up" >&2
    exit 1
}

REDIS_PORT=$(free_port 127.0.0.1)
REDIS_SOCK=$TMP/redis.sock
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --unixsocket "$REDIS_SOCK" \
    --unixsocketperm 700 --save '' --appendonly no --daemonize no \
    --dir "$TMP" --logfile "$TMP/redis.log" &
PIDS+=($!)
wait_until redis-server sh -c "redis-cli -p $REDIS_PORT ping | grep -q PONG"

ROUTER_PORT=$(free_port "$ROUTER_TCP_IP")
"$BIN" --workers "$ROUTER_WORKERS" \
    --endpoint "$ROUTER_TCP_IP:$ROUTER_PORT=tcp:127.0.0.1:$REDIS_PORT" \
    --endpoint "$ROUTER_UNIX_IP:$ROUTER_PORT=unix:$REDIS_SOCK" \
    >"$TMP/router.out" 2>"$TMP/router.err" &
PIDS+=($!)
wait_until router_bench grep -q ready "$TMP/router.out"

TARGETS=("A 127.0.0.1 $REDIS_PORT" "B $ROUTER_TCP_IP $ROUTER_PORT" "C $ROUTER_UNIX_IP $ROUTER_PORT")
RESULTS=$TMP/results.txt
: >"$RESULTS"
START=$SECONDS
for pipeline in 1 16; do
    if [ "$pipeline" = 1 ]; then n=$N_P1; else n=$N_P16; fi
    for test in ${TESTS//,/ }; do
        for target in "${TARGETS[@]}"; do
            read -r name host port <<<"$target"
            # CSV columns: test, rps, avg, min, p50, p95, p99, max (ms).
            redis-benchmark -h "$host" -p "$port" -c "$CLIENTS" -n "$n" -d "$VALUE_BYTES" \
                -t "$test" -P "$pipeline" --csv |
                awk -F, -v t="$name" -v p="$pipeline" \
                    'NR > 1 { gsub(/"/, ""); split($0, f, ","); print p, f[1], t, f[2], f[5], f[7] }' \
                    >>"$RESULTS"
        done
    done
done
ELAPSED=$((SECONDS - START))

echo
echo "router bench: redis-benchmark -c $CLIENTS -d $VALUE_BYTES, N=$N_P1 (-P 1) / $N_P16 (-P 16);" \
    "router workers=$ROUTER_WORKERS (0 = current-thread); $(nproc) CPUs; ${ELAPSED}s"
echo "A = redis direct, B = router (TCP backend), C = router (Unix-socket backend);" \
    "p50/p99 in ms, deltas = router - direct"
awk '
    { key = $1 " " $2; rps[key, $3] = $4; p50[key, $3] = $5; p99[key, $3] = $6
      if (!(key in seen)) { seen[key] = 1; order[++n] = key } }
    END {
        printf "%-3s %-6s %10s %10s %10s %6s %6s %7s %7s %7s %7s %7s %7s\n",
            "-P", "test", "A rps", "B rps", "C rps", "B/A", "C/A",
            "p50 A", "dB", "dC", "p99 A", "dB", "dC"
        for (i = 1; i <= n; i++) {
            k = order[i]; split(k, f, " ")
            a = rps[k, "A"]; b = rps[k, "B"]; c = rps[k, "C"]
            printf "%-3s %-6s %10.0f %10.0f %10.0f %6.2f %6.2f %7.3f %+7.3f %+7.3f %7.3f %+7.3f %+7.3f\n",
                f[1], f[2], a, b, c, b / a, c / a,
                p50[k, "A"], p50[k, "B"] - p50[k, "A"], p50[k, "C"] - p50[k, "A"],
                p99[k, "A"], p99[k, "B"] - p99[k, "A"], p99[k, "C"] - p99[k, "A"]
            sb[f[1]] += b / a; sc[f[1]] += c / a; cnt[f[1]]++
        }
        for (p in cnt)
            printf "mean ratio at -P %-2s  B/A %.2f  C/A %.2f\n", p, sb[p] / cnt[p], sc[p] / cnt[p]
    }' "$RESULTS"
