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
#   T  the router with TLS (mode required, TCP backend; redis-benchmark --tls --cacert with the
#      Ferrocache CA the harness creates), the same path as B plus TLS
# back to back (A, B, C, T interleaved per test, so machine noise hits all of them alike) and
# prints requests/sec, B/A, C/A, T/A (TLS against direct plaintext Redis), T/B (TLS on against
# TLS off through the router) and p50/p99 deltas (router minus direct, ms).
#
# Environment:
#   N_P1, N_P16      requests per test at -P 1 / -P 16 (defaults keep the run under 2 min)
#   ROUNDS           rounds of the whole matrix; each cell reports its best round (highest rps,
#                    with that round's latencies): on a shared 2-CPU machine noise only ever
#                    slows a run down, so the best round is the least disturbed one
#   ROUTER_WORKERS   router runtime: 0 = current-thread, N = multi-thread with N workers
#   TESTS            redis-benchmark tests (default set,get,incr,lpush,hset)
#   TLS              1 = measure T (default), 0 = skip
#   HAPROXY          1 = also measure H, haproxy in TCP mode (default when haproxy is on PATH),
#                    0 = skip; the reference proxy measured in the same run, on the same noise
# Every process started here is stopped by PID on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
N_P1=${N_P1:-50000}
N_P16=${N_P16:-150000}
ROUNDS=${ROUNDS:-2}
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
HAPROXY_IP=127.99.250.3
ROUTER_TLS_IP=127.99.250.4
TLS=${TLS:-1}

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
TLS_ARGS=()
if [ "$TLS" = 1 ]; then
    TLS_ARGS=(--pki-dir "$TMP/pki" --tls-endpoint "$ROUTER_TLS_IP:$ROUTER_PORT=tcp:127.0.0.1:$REDIS_PORT")
fi
"$BIN" --workers "$ROUTER_WORKERS" \
    --endpoint "$ROUTER_TCP_IP:$ROUTER_PORT=tcp:127.0.0.1:$REDIS_PORT" \
    --endpoint "$ROUTER_UNIX_IP:$ROUTER_PORT=unix:$REDIS_SOCK" \
    "${TLS_ARGS[@]}" \
    >"$TMP/router.out" 2>"$TMP/router.err" &
PIDS+=($!)
wait_until router_bench grep -q ready "$TMP/router.out"

# Each target: name, host, port, then extra redis-benchmark arguments.
TARGETS=("A 127.0.0.1 $REDIS_PORT" "B $ROUTER_TCP_IP $ROUTER_PORT" "C $ROUTER_UNIX_IP $ROUTER_PORT")
if [ "$TLS" = 1 ]; then
    wait_until "router_bench TLS" sh -c \
        "redis-cli -h $ROUTER_TLS_IP -p $ROUTER_PORT --tls --cacert $TMP/pki/ca.pem ping | grep -q PONG"
    TARGETS+=("T $ROUTER_TLS_IP $ROUTER_PORT --tls --cacert $TMP/pki/ca.pem")
fi

if [ "${HAPROXY:-$(command -v haproxy >/dev/null && echo 1 || echo 0)}" = 1 ]; then
    # Plain TCP-mode haproxy with its defaults (one thread per CPU), as a reference proxy.
    cat >"$TMP/haproxy.cfg" <<CFG
global
    maxconn 4096
defaults
    mode tcp
    timeout connect 5s
    timeout client 1m
    timeout server 1m
frontend bench
    bind $HAPROXY_IP:$ROUTER_PORT
    default_backend redis
backend redis
    server redis 127.0.0.1:$REDIS_PORT
CFG
    haproxy -db -f "$TMP/haproxy.cfg" >"$TMP/haproxy.log" 2>&1 &
    PIDS+=($!)
    wait_until haproxy sh -c "redis-cli -h $HAPROXY_IP -p $ROUTER_PORT ping | grep -q PONG"
    TARGETS+=("H $HAPROXY_IP $ROUTER_PORT")
fi
RESULTS=$TMP/results.txt
: >"$RESULTS"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
START=$SECONDS
for ((round = 1; round <= ROUNDS; round++)); do
    for pipeline in 1 16; do
        if [ "$pipeline" = 1 ]; then n=$N_P1; else n=$N_P16; fi
        for test in ${TESTS//,/ }; do
            for target in "${TARGETS[@]}"; do
                read -r name host port extra <<<"$target"
                # CSV columns: test, rps, avg, min, p50, p95, p99, max (ms).
                # shellcheck disable=SC2086 # $extra is a list of arguments
                redis-benchmark -h "$host" -p "$port" $extra -c "$CLIENTS" -n "$n" \
                    -d "$VALUE_BYTES" -t "$test" -P "$pipeline" --csv |
                    awk -F, -v t="$name" -v p="$pipeline" 'NR > 1 {
                        gsub(/"/, ""); split($0, f, ","); print p, f[1], t, f[2], f[5], f[7] }' \
                        >>"$RESULTS"
            done
        done
    done
done
ELAPSED=$((SECONDS - START))

echo
echo "router bench: redis-benchmark -c $CLIENTS -d $VALUE_BYTES, N=$N_P1 (-P 1) / $N_P16 (-P 16)," \
    "best of $ROUNDS rounds; router workers=$ROUTER_WORKERS (0 = current-thread);" \
    "$(nproc) CPUs; ${ELAPSED}s"
echo "A = redis direct, B = router (TCP backend), C = router (Unix-socket backend)," \
    "T = router with TLS (TCP backend), H = haproxy tcp mode (if run);" \
    "p50/p99 in ms, deltas = router - direct"
echo "load average before the run: $LOAD_BEFORE"
awk '
    { key = $1 " " $2; has[$3] = 1
      if (!(key in seen)) { seen[key] = 1; order[++n] = key }
      if ($4 > rps[key, $3]) { rps[key, $3] = $4; p50[key, $3] = $5; p99[key, $3] = $6 } }
    END {
        h = ("H" in has); t = ("T" in has)
        printf "%-3s %-6s %9s %9s %9s %5s %5s", "-P", "test", "A rps", "B rps", "C rps", "B/A", "C/A"
        if (t) printf " %9s %5s %5s", "T rps", "T/A", "T/B"
        if (h) printf " %9s %5s", "H rps", "H/A"
        printf " %6s %7s %7s", "p50 A", "dB", "dC"
        if (t) printf " %7s", "dT"
        printf " %6s %7s %7s", "p99 A", "dB", "dC"
        if (t) printf " %7s", "dT"
        printf "\n"
        for (i = 1; i <= n; i++) {
            k = order[i]; split(k, f, " ")
            a = rps[k, "A"]; b = rps[k, "B"]; c = rps[k, "C"]; tt = rps[k, "T"]
            printf "%-3s %-6s %9.0f %9.0f %9.0f %5.2f %5.2f", f[1], f[2], a, b, c, b / a, c / a
            if (t) printf " %9.0f %5.2f %5.2f", tt, tt / a, tt / b
            if (h) printf " %9.0f %5.2f", rps[k, "H"], rps[k, "H"] / a
            printf " %6.3f %+7.3f %+7.3f", p50[k, "A"], p50[k, "B"] - p50[k, "A"], p50[k, "C"] - p50[k, "A"]
            if (t) printf " %+7.3f", p50[k, "T"] - p50[k, "A"]
            printf " %6.3f %+7.3f %+7.3f", p99[k, "A"], p99[k, "B"] - p99[k, "A"], p99[k, "C"] - p99[k, "A"]
            if (t) printf " %+7.3f", p99[k, "T"] - p99[k, "A"]
            printf "\n"
            sb[f[1]] += b / a; sc[f[1]] += c / a; cnt[f[1]]++
            if (t) { sta[f[1]] += tt / a; stb[f[1]] += tt / b }
            if (h) sh[f[1]] += rps[k, "H"] / a
        }
        for (p = 1; p <= 16; p++) if (p in cnt) {
            printf "mean ratio at -P %-2s  B/A %.2f  C/A %.2f", p, sb[p] / cnt[p], sc[p] / cnt[p]
            if (t) printf "  T/A %.2f  T/B %.2f", sta[p] / cnt[p], stb[p] / cnt[p]
            if (h) printf "  H/A %.2f", sh[p] / cnt[p]
            printf "\n"
        }
    }' "$RESULTS"
