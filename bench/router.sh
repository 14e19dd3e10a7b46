#!/usr/bin/env bash
# Endpoint data paths (kernel redirection, user-space router) against Redis direct, plaintext
# and TLS, in one run on this machine.
#
# Starts one redis-server on a free loopback port, with a Unix socket and a TLS port too (its
# own certificate from a throw-away CA made here with openssl, `tls-auth-clients no`), and in
# front of it:
#   - `router_bench --kernel` (the eBPF cgroup/connect4 path: clients connect straight to the
#     node) with a primary, a reader and a node endpoint on the plaintext port, and a primary
#     endpoint on the engine's TLS port (TLS end to end, the kernel only redirects);
#   - `router_bench` without --kernel (the user-space router) with a primary, a reader and a
#     node endpoint (TCP backend), a primary endpoint with the Unix-socket backend and a
#     TLS-required endpoint (the router terminates TLS, TCP backend);
#   - haproxy in TCP mode, when installed (a reference proxy).
# Every endpoint has the same single backend (the one redis-server): a reader endpoint with a
# replica as second backend would spread reads over two engines and no longer compare.
# Then, for each pipeline depth (-P 1, -P 16) and each test, runs redis-benchmark -c 50 -d 64
# against every target back to back (interleaved per test, so machine noise hits all alike):
#   A   redis direct, plaintext (127.0.0.1)          reference of the plaintext targets
#   KP  kernel path, primary endpoint
#   KR  kernel path, reader endpoint
#   KN  kernel path, node endpoint
#   B   router, primary endpoint, TCP backend
#   BR  router, reader endpoint, TCP backend
#   BN  router, node endpoint, TCP backend
#   C   router, primary endpoint, Unix-socket backend
#   H   haproxy, TCP mode
#   E   redis direct at its own TLS port              reference of the TLS targets
#   KT  kernel path, primary endpoint whose backend is the engine's TLS port
#   T   router TLS termination (mode required, Ferrocache CA) to the plaintext TCP port
# and prints requests/sec, ratios to the matching direct reference (plaintext / A, TLS / E, and
# T/A: router TLS against plaintext direct) and p50/p99 deltas (target minus its reference, ms).
#
# Environment:
#   N_P1, N_P16      requests per test at -P 1 / -P 16 (defaults 50000 / 200000: with
#                    ROUNDS=4 the run takes ~5 min on the 2-CPU VM)
#   ROUNDS           rounds of the whole matrix; each cell reports its best round (highest rps,
#                    with that round's latencies): on a shared 2-CPU machine noise only ever
#                    slows a run down, so the best round is the least disturbed one
#   ROUTER_WORKERS   router runtime: 0 = current-thread, N = multi-thread with N workers
#   TESTS            redis-benchmark tests (default set,get,incr,lpush,hset)
#   KINDS            endpoint kinds measured on the kernel path and the router's TCP backend
#                    (default "primary reader node"; "primary" alone for a shorter run)
#   KERNEL           1 = measure the kernel path (default; needs root), 0 = skip
#   ROUTER           1 = measure the router's plaintext endpoints B, BR, BN, C (default), 0 = skip
#   TLS              1 = measure E, KT, T (default), 0 = skip
#   HAPROXY          1 = also measure H (default when haproxy is on PATH), 0 = skip
#   BUILD            1 = build router_bench first (default), 0 = use the binary already built
# Every process started here is stopped by PID on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
N_P1=${N_P1:-50000}
N_P16=${N_P16:-200000}
ROUNDS=${ROUNDS:-4}
ROUTER_WORKERS=${ROUTER_WORKERS:-1}
TESTS=${TESTS:-set,get,incr,lpush,hset}
KINDS=${KINDS:-primary reader node}
KERNEL=${KERNEL:-1}
ROUTER=${ROUTER:-1}
TLS=${TLS:-1}
BUILD=${BUILD:-1}
CLIENTS=50
VALUE_BYTES=64
# Bounded waits for start-up: READY_POLLS_MAX polls, READY_POLL_SECONDS apart.
READY_POLLS_MAX=100
READY_POLL_SECONDS=0.05
# Listen addresses: the whole 127/8 is loopback on Linux. One port for all of them.
ROUTER_TCP_IP=127.99.250.1     # B
ROUTER_UNIX_IP=127.99.250.2    # C
HAPROXY_IP=127.99.250.3        # H
ROUTER_TLS_IP=127.99.250.4     # T
KERNEL_IP=127.99.250.5         # KP
KERNEL_READER_IP=127.99.250.6  # KR
KERNEL_NODE_IP=127.99.250.7    # KN
ROUTER_READER_IP=127.99.250.8  # BR
ROUTER_NODE_IP=127.99.250.9    # BN
KERNEL_TLS_IP=127.99.250.10    # KT

for tool in redis-server redis-cli redis-benchmark ss awk; do
    command -v "$tool" >/dev/null || { echo "router.sh: $tool not found" >&2; exit 1; }
done
if [ "$TLS" = 1 ] && ! command -v openssl >/dev/null; then
    echo "router.sh: openssl not found, TLS targets skipped" >&2
    TLS=0
fi

BIN=$ROOT/target/release/examples/router_bench
if [ "$BUILD" = 1 ]; then
    command -v cargo >/dev/null || { echo "router.sh: cargo not found" >&2; exit 1; }
    echo "building router_bench (release)..." >&2
    (cd "$ROOT" && cargo build --release -q -p ferrocache-router --example router_bench)
fi
[ -x "$BIN" ] || { echo "router.sh: $BIN not built" >&2; exit 1; }

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

# Stops one process we started (SIGTERM, then waits for it) and forgets its PID.
stop_pid() {
    local pid=$1 keep=() p
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    for p in "${PIDS[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
    PIDS=("${keep[@]}")
}

# A port no TCP socket uses at any address right now (bounded: 1000 tries), below the
# ephemeral range (32768+ on Linux) so that no client connection takes it before we bind it.
free_port() {
    local ip=$1 port i
    for ((i = 0; i < 1000; i++)); do
        port=$((10000 + RANDOM % 22000))
        if [ -z "$(ss -Htan "sport = :$port")" ]; then
            echo "$port"
            return
        fi
    done
    echo "router.sh: no free port at $ip" >&2
    exit 1
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

# Waits for router_bench (PID $1, stdout $2) to print `ready`; fails early if it exits.
router_ready() {
    local pid=$1 out=$2 i
    for ((i = 0; i < READY_POLLS_MAX; i++)); do
        grep -q ready "$out" 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep "$READY_POLL_SECONDS"
    done
    return 1
}

REDIS_PORT=$(free_port 127.0.0.1)
REDIS_SOCK=$TMP/redis.sock
REDIS_TLS_ARGS=()
if [ "$TLS" = 1 ]; then
    # The engine's own TLS: a throw-away CA and a P-256 server certificate for 127.0.0.1 and the
    # kernel endpoint's address (clients connecting through KT verify against the endpoint's).
    REDIS_TLS_PORT=$(free_port 127.0.0.1)
    mkdir "$TMP/engine-pki"
    (
        cd "$TMP/engine-pki"
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
            -keyout ca.key -out ca.pem -days 2 -subj "/CN=router.sh engine CA"
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
            -keyout server.key -out server.csr -subj "/CN=127.0.0.1"
        printf 'subjectAltName=IP:127.0.0.1,IP:%s\n' "$KERNEL_TLS_IP" >server.ext
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
            -days 2 -extfile server.ext -out server.pem
    ) >"$TMP/openssl.log" 2>&1 || { cat "$TMP/openssl.log" >&2; exit 1; }
    REDIS_TLS_ARGS=(--tls-port "$REDIS_TLS_PORT" --tls-cert-file "$TMP/engine-pki/server.pem"
        --tls-key-file "$TMP/engine-pki/server.key" --tls-ca-cert-file "$TMP/engine-pki/ca.pem"
        --tls-auth-clients no)
fi
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --unixsocket "$REDIS_SOCK" \
    --unixsocketperm 700 --save '' --appendonly no --daemonize no \
    --dir "$TMP" --logfile "$TMP/redis.log" "${REDIS_TLS_ARGS[@]}" &
PIDS+=($!)
REDIS_PID=$!
for ((i = 0; i < READY_POLLS_MAX; i++)); do
    redis-cli -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG && break
    kill -0 "$REDIS_PID" 2>/dev/null || i=$READY_POLLS_MAX
    sleep "$READY_POLL_SECONDS"
done
if [ "$i" -ge "$READY_POLLS_MAX" ]; then
    echo "router.sh: redis-server did not come up; its log:" >&2
    tail -n 20 "$TMP/redis.log" >&2 || true
    exit 1
fi
if [ "$TLS" = 1 ]; then
    wait_until "redis-server TLS" sh -c \
        "redis-cli -p $REDIS_TLS_PORT --tls --cacert $TMP/engine-pki/ca.pem ping | grep -q PONG"
fi

PORT=$(free_port "$ROUTER_TCP_IP")
BACKEND=tcp:127.0.0.1:$REDIS_PORT
# Target: name, host, port, then extra redis-benchmark arguments. Listed in run order.
PLAIN_TARGETS=("A 127.0.0.1 $REDIS_PORT")
TLS_TARGETS=()
ENGINE_TLS=()
if [ "$TLS" = 1 ]; then
    ENGINE_TLS=(--tls --cacert "$TMP/engine-pki/ca.pem")
    TLS_TARGETS+=("E 127.0.0.1 $REDIS_TLS_PORT ${ENGINE_TLS[*]}")
fi
has_kind() { [[ " $KINDS " == *" $1 "* ]]; }

KERNEL_NOTE=""
if [ "$KERNEL" = 1 ] && [ "$(id -u)" != 0 ]; then
    KERNEL_NOTE="kernel path skipped: not root (the eBPF programs need CAP_BPF and CAP_NET_ADMIN)"
elif [ "$KERNEL" = 1 ]; then
    KARGS=()
    has_kind primary && KARGS+=(--endpoint "$KERNEL_IP:$PORT=$BACKEND")
    has_kind reader && KARGS+=(--endpoint "reader/$KERNEL_READER_IP:$PORT=$BACKEND")
    has_kind node && KARGS+=(--endpoint "node/$KERNEL_NODE_IP:$PORT=$BACKEND")
    [ "$TLS" = 1 ] && KARGS+=(--endpoint "$KERNEL_TLS_IP:$PORT=tcp:127.0.0.1:$REDIS_TLS_PORT")
    "$BIN" --workers "$ROUTER_WORKERS" --kernel "${KARGS[@]}" \
        >"$TMP/kernel.out" 2>"$TMP/kernel.err" &
    KERNEL_PID=$!
    PIDS+=("$KERNEL_PID")
    if router_ready "$KERNEL_PID" "$TMP/kernel.out"; then
        has_kind primary && PLAIN_TARGETS+=("KP $KERNEL_IP $PORT")
        has_kind reader && PLAIN_TARGETS+=("KR $KERNEL_READER_IP $PORT")
        has_kind node && PLAIN_TARGETS+=("KN $KERNEL_NODE_IP $PORT")
        if [ "$TLS" = 1 ]; then
            wait_until "kernel TLS endpoint" sh -c \
                "redis-cli -h $KERNEL_TLS_IP -p $PORT ${ENGINE_TLS[*]} ping | grep -q PONG"
            TLS_TARGETS+=("KT $KERNEL_TLS_IP $PORT ${ENGINE_TLS[*]}")
        fi
    else
        KERNEL_NOTE="kernel path skipped: router_bench --kernel did not start: $(tr '\n' ' ' <"$TMP/kernel.err")"
        stop_pid "$KERNEL_PID"
        KERNEL_PID=""
    fi
fi
[ -n "$KERNEL_NOTE" ] && echo "router.sh: $KERNEL_NOTE" >&2

RARGS=()
if [ "$ROUTER" = 1 ]; then
    has_kind primary && RARGS+=(--endpoint "$ROUTER_TCP_IP:$PORT=$BACKEND")
    has_kind reader && RARGS+=(--endpoint "reader/$ROUTER_READER_IP:$PORT=$BACKEND")
    has_kind node && RARGS+=(--endpoint "node/$ROUTER_NODE_IP:$PORT=$BACKEND")
    RARGS+=(--endpoint "$ROUTER_UNIX_IP:$PORT=unix:$REDIS_SOCK")
fi
if [ "$TLS" = 1 ]; then
    RARGS+=(--pki-dir "$TMP/pki" --tls-endpoint "$ROUTER_TLS_IP:$PORT=$BACKEND")
fi
ROUTER_PID=""
if [ "${#RARGS[@]}" -gt 0 ]; then
    "$BIN" --workers "$ROUTER_WORKERS" "${RARGS[@]}" >"$TMP/router.out" 2>"$TMP/router.err" &
    ROUTER_PID=$!
    PIDS+=("$ROUTER_PID")
    router_ready "$ROUTER_PID" "$TMP/router.out" ||
        { echo "router.sh: router_bench did not start:" >&2; cat "$TMP/router.err" >&2; exit 1; }
    if [ "$ROUTER" = 1 ]; then
        has_kind primary && PLAIN_TARGETS+=("B $ROUTER_TCP_IP $PORT")
        has_kind reader && PLAIN_TARGETS+=("BR $ROUTER_READER_IP $PORT")
        has_kind node && PLAIN_TARGETS+=("BN $ROUTER_NODE_IP $PORT")
        PLAIN_TARGETS+=("C $ROUTER_UNIX_IP $PORT")
    fi
    if [ "$TLS" = 1 ]; then
        wait_until "router_bench TLS" sh -c \
            "redis-cli -h $ROUTER_TLS_IP -p $PORT --tls --cacert $TMP/pki/ca.pem ping | grep -q PONG"
        TLS_TARGETS+=("T $ROUTER_TLS_IP $PORT --tls --cacert $TMP/pki/ca.pem")
    fi
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
    bind $HAPROXY_IP:$PORT
    default_backend redis
backend redis
    server redis 127.0.0.1:$REDIS_PORT
CFG
    haproxy -db -f "$TMP/haproxy.cfg" >"$TMP/haproxy.log" 2>&1 &
    PIDS+=($!)
    wait_until haproxy sh -c "redis-cli -h $HAPROXY_IP -p $PORT ping | grep -q PONG"
    PLAIN_TARGETS+=("H $HAPROXY_IP $PORT")
fi
TARGETS=("${PLAIN_TARGETS[@]}" "${TLS_TARGETS[@]}")

RESULTS=$TMP/results.txt
: >"$RESULTS"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
START=$SECONDS
for ((round = 1; round <= ROUNDS; round++)); do
    echo "round $round/$ROUNDS ($((SECONDS - START))s)..." >&2
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
                # LPUSH grows one list by N per run: drop it after each, so that every target
                # pushes onto an empty list (same memory to take) and memory stays flat.
                if [ "$test" = lpush ]; then redis-cli -p "$REDIS_PORT" del mylist >/dev/null; fi
            done
        done
    done
done
ELAPSED=$((SECONDS - START))
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# Stop the harnesses now, for their counters (which path served each endpoint, and how often).
[ -n "${KERNEL_PID:-}" ] && stop_pid "$KERNEL_PID"
[ -n "$ROUTER_PID" ] && stop_pid "$ROUTER_PID"

echo
echo "router bench: redis-benchmark -c $CLIENTS -d $VALUE_BYTES, N=$N_P1 (-P 1) / $N_P16 (-P 16)," \
    "best of $ROUNDS rounds; router workers=$ROUTER_WORKERS (0 = current-thread);" \
    "$(nproc) CPUs; $(uname -r); ${ELAPSED}s"
echo "plaintext: A = redis direct; KP/KR/KN = kernel path primary/reader/node endpoint;" \
    "B/BR/BN = router primary/reader/node endpoint (TCP backend); C = router primary (Unix-socket" \
    "backend); H = haproxy tcp mode"
echo "TLS: E = redis's own TLS direct; KT = kernel path to redis's TLS port (TLS end to end);" \
    "T = router TLS termination (TCP backend)"
echo "ratios: plaintext X/A, TLS X/E (T/A: router TLS against plaintext direct);" \
    "p50/p99 deltas in ms, target minus its reference"
echo "load average before / after the run: $LOAD_BEFORE / $LOAD_AFTER"
[ -n "$KERNEL_NOTE" ] && echo "$KERNEL_NOTE"
awk '
    function ref(t) { return (t == "E" || t == "KT" || t == "T") ? "E" : "A" }
    { key = $1 " " $2; has[$3] = 1
      if (!(key in seen)) { seen[key] = 1; order[++n] = key }
      if ($4 > rps[key, $3]) { rps[key, $3] = $4; p50[key, $3] = $5; p99[key, $3] = $6 } }
    END {
        split("A KP KR KN B BR BN C H E KT T", all, " ")
        for (i = 1; i in all; i++) if (all[i] in has) cols[++nc] = all[i]
        # Ratio columns: every target but the references, against its reference; T also / A.
        for (i = 1; i <= nc; i++) {
            c = cols[i]
            if (c != "A" && c != "E") { rn++; rnum[rn] = c; rden[rn] = ref(c) }
            if (c == "T" && ("E" in has)) { rn++; rnum[rn] = "T"; rden[rn] = "A" }
        }
        for (i = 1; i <= rn; i++) if (!(rden[i] in has)) rden[i] = "A"

        print "requests/s"
        printf "%-3s %-6s", "-P", "test"; for (i = 1; i <= nc; i++) printf " %8s", cols[i]; printf "\n"
        for (r = 1; r <= n; r++) {
            k = order[r]; split(k, f, " "); printf "%-3s %-6s", f[1], f[2]
            for (i = 1; i <= nc; i++) printf " %8.0f", rps[k, cols[i]]
            printf "\n"
        }
        print "\nthroughput ratios"
        printf "%-3s %-6s", "-P", "test"; for (i = 1; i <= rn; i++) printf " %5s", rnum[i] "/" rden[i]; printf "\n"
        for (r = 1; r <= n; r++) {
            k = order[r]; split(k, f, " "); printf "%-3s %-6s", f[1], f[2]
            for (i = 1; i <= rn; i++) {
                x = rps[k, rden[i]] > 0 ? rps[k, rnum[i]] / rps[k, rden[i]] : 0
                printf " %5.2f", x; sum[f[1], i] += x; cnt[f[1], i]++
                if (!((f[1], i) in mn) || x < mn[f[1], i]) mn[f[1], i] = x
            }
            printf "\n"
        }
        for (p = 1; p <= 16; p++) if ((p, 1) in cnt) {
            printf "%-3s %-6s", p, "mean"; for (i = 1; i <= rn; i++) printf " %5.2f", sum[p, i] / cnt[p, i]; printf "\n"
            printf "%-3s %-6s", p, "min"; for (i = 1; i <= rn; i++) printf " %5.2f", mn[p, i]; printf "\n"
        }
        for (q = 1; q <= 2; q++) {
            printf "\n%s latency, ms: reference, then delta (target - its reference)\n", q == 1 ? "p50" : "p99"
            printf "%-3s %-6s", "-P", "test"
            for (i = 1; i <= nc; i++) printf " %7s", (cols[i] == "A" || cols[i] == "E") ? cols[i] : "d" cols[i]
            printf "\n"
            for (r = 1; r <= n; r++) {
                k = order[r]; split(k, f, " "); printf "%-3s %-6s", f[1], f[2]
                for (i = 1; i <= nc; i++) {
                    c = cols[i]; v = q == 1 ? p50[k, c] : p99[k, c]; rc = ref(c)
                    if (!(rc in has)) rc = "A"
                    rv = q == 1 ? p50[k, rc] : p99[k, rc]
                    if (c == "A" || c == "E") printf " %7.3f", v; else printf " %+7.3f", v - rv
                }
                printf "\n"
            }
        }
    }' "$RESULTS"
echo
echo "data path per endpoint (router_bench counters at SIGTERM):"
for f in "$TMP/kernel.err" "$TMP/router.err"; do
    [ -s "$f" ] || continue
    { grep ' path=' "$f" || true; } |
        awk '{ path = redirected = accepted = ""
               for (i = 1; i <= NF; i++) {
                   if ($i ~ /^path=/) path = $i
                   if ($i ~ /^redirected=/) redirected = $i
                   if ($i ~ /^accepted=/) accepted = $i
               }
               sub(/ path=.*/, ""); printf "  %-40s %s %s %s\n", $0, path, redirected, accepted }'
done
exit 0
