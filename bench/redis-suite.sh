#!/usr/bin/env bash
# The Redis 7.0.15 test suite (external mode) against one redis-server: direct, through a kernel
# endpoint (router_bench --kernel: eBPF connect4 redirect, the client talks to the node itself)
# and through a router endpoint (router_bench: the user-space TCP splice).
#
# Starts one redis-server 7.0 (loopback, its own temp dir, --save '', enable-debug-command yes)
# and two router_bench processes with one Primary endpoint each in front of it
#   D  direct           127.0.0.1:<redis port>
#   K  kernel endpoint  127.99.253.1:<port>   (skipped, with a message, if not root or if
#                                              router_bench --kernel does not come up)
#   R  router endpoint  127.99.253.2:<port>
# Then runs the suite one unit at a time (`./runtest --host H --port P --single UNIT`, the same
# flags for all three), each unit D, K, R back to back, so machine noise hits all three alike
# and an exception (which ends a runtest process) loses only that unit. The redis-server is
# restarted (same port, same flags, empty dataset) before every runtest process: a unit that
# ends in an exception in external mode leaves its config changes behind (e.g. a
# rdb-key-save-delay that makes the next DEBUG RELOAD block for minutes), and must not spoil the
# next target's run of the same unit. The endpoints stay up; they only know the address.
# At the end it prints per target the [ok], [err], [exception], [TIMEOUT] counts and the tests
# that passed ([ok]) in one run but not in another, with what the other runs said. The suite's
# src/redis-cli, src/redis-benchmark, ... are links to the installed (Debian) binaries.
#
# Environment:
#   REDIS_GIT      bare git dir of redis/redis with tag 7.0.15 (default /work/.mirror/redis+redis/repo)
#   REDIS_SUITE    an already extracted source tree with runtest and tests/ (instead of REDIS_GIT)
#   UNITS          units to run, space separated (default: the suite's own ::all_tests list)
#   SUITE_ARGS     extra runtest arguments, the same for all three (default none)
#   SKIP_TESTS     test names to skip (--skipfile), one a line; default: the tests that raise an
#                  exception in external mode on their own (they need the server's pid)
#   TEST_TIMEOUT   runtest --timeout, seconds without progress before a unit is abandoned (120)
#   UNIT_S         hard bound per runtest process, seconds (300)
#   TOTAL_S        no unit is started after this many seconds; the script also stops there (2700)
#   BUILD          1 = cargo build the harness first (default), 0 = use the existing binary
#   LOG_DIR        where the per-unit logs and the summary stay (default /tmp/redis-suite-<time>)
# Every process started here is stopped by PID (runtest by its own process group) on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
REDIS_GIT=${REDIS_GIT:-/work/.mirror/redis+redis/repo}
REDIS_TAG=7.0.15
TEST_TIMEOUT=${TEST_TIMEOUT:-120}
UNIT_S=${UNIT_S:-300}
TOTAL_S=${TOTAL_S:-2700}
BUILD=${BUILD:-1}
SUITE_ARGS=${SUITE_ARGS:-}
LOG_DIR=${LOG_DIR:-/tmp/redis-suite-$(date +%Y%m%d-%H%M%S)}
KERNEL_IP=127.99.253.1
ROUTER_IP=127.99.253.2
READY_POLLS_MAX=200
READY_POLL_SECONDS=0.05
START=$SECONDS

for tool in redis-server redis-cli tclsh ss timeout setsid python3; do
    command -v "$tool" >/dev/null || { echo "redis-suite.sh: $tool not found" >&2; exit 1; }
done

TMP=$(mktemp -d)
mkdir -p "$LOG_DIR"
PIDS=()
GROUPS_=()   # process groups of runtest runs (each started with setsid)
REDIS_PID=
cleanup() {
    local pid
    for pid in "${GROUPS_[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    [ -z "$REDIS_PID" ] || stop_redis
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "redis-suite.sh: $*" >&2; }

# A port nobody listens on right now (any address), at most 200 tries.
free_port() {
    local port i
    for ((i = 0; i < 200; i++)); do
        port=$((30000 + RANDOM % 20000))
        if [ -z "$(ss -Htln "sport = :$port")" ]; then echo "$port"; return 0; fi
    done
    log "no free port found"; exit 1
}

wait_until() { # wait_until COMMAND... ; returns 1 after READY_POLLS_MAX polls
    local i
    for ((i = 0; i < READY_POLLS_MAX; i++)); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep "$READY_POLL_SECONDS"
    done
    return 1
}

# --- the suite -------------------------------------------------------------------------------
SUITE=$TMP/redis-$REDIS_TAG
if [ -n "${REDIS_SUITE:-}" ]; then
    mkdir -p "$SUITE" && cp -r "$REDIS_SUITE/runtest" "$REDIS_SUITE/tests" "$SUITE/"
else
    git --git-dir="$REDIS_GIT" rev-parse -q --verify "$REDIS_TAG^{commit}" >/dev/null 2>&1 || {
        log "no redis/redis git dir with tag $REDIS_TAG at $REDIS_GIT (set REDIS_GIT or REDIS_SUITE)"
        exit 1
    }
    mkdir -p "$SUITE"
    git --git-dir="$REDIS_GIT" archive "$REDIS_TAG" runtest tests | tar -x -C "$SUITE"
fi
if [ -z "${UNITS:-}" ]; then
    # ::all_tests is a literal list at the top of test_helper.tcl: read it without running it.
    UNITS=$(awk '/^set ::all_tests \{/ {on = 1; next} on && /^\}/ {exit} on {print $1}' \
        "$SUITE/tests/test_helper.tcl")
fi
# The suite runs src/redis-cli, src/redis-benchmark, ... from the build tree: Debian's binaries.
mkdir -p "$SUITE/src"
for tool in redis-server redis-cli redis-benchmark redis-check-aof redis-check-rdb; do
    if command -v "$tool" >/dev/null; then ln -sf "$(command -v "$tool")" "$SUITE/src/$tool"; fi
done
read -r -a UNIT_LIST <<<"$(echo $UNITS)"
[ "${#UNIT_LIST[@]}" -gt 0 ] || { log "no units"; exit 1; }

# --- the harness -------------------------------------------------------------------------------
if [ "$BUILD" = 1 ]; then
    log "building router_bench (release)..."
    (cd "$ROOT" && cargo build --release -q -p ferrocache-router --example router_bench)
fi
# A private copy: another build replacing the binary does not touch this run.
cp "$ROOT/target/release/examples/router_bench" "$TMP/router_bench"
BIN=$TMP/router_bench

# --- redis-server ------------------------------------------------------------------------------
REDIS_PORT=$(free_port)
mkdir -p "$TMP/data"
start_redis() {
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
        --enable-debug-command yes --daemonize no --dir "$TMP/data" \
        --logfile "$LOG_DIR/redis-server.log" </dev/null &
    REDIS_PID=$!
    wait_until sh -c "redis-cli -p $REDIS_PORT ping | grep -q PONG" || { log "redis-server did not come up"; exit 1; }
}
redis_ok() { timeout 5 redis-cli -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; }
stop_redis() { # SIGTERM, then SIGKILL after 5 s (a server stuck in a delayed save ignores TERM)
    local i
    kill "$REDIS_PID" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do kill -0 "$REDIS_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$REDIS_PID" 2>/dev/null || true
    wait "$REDIS_PID" 2>/dev/null || true
    rm -rf "$TMP/data" && mkdir -p "$TMP/data"
}
start_redis
log "redis-server $(redis-server --version | awk '{print $3}') pid $REDIS_PID on 127.0.0.1:$REDIS_PORT"

# --- endpoints ---------------------------------------------------------------------------------
TARGETS=("D 127.0.0.1 $REDIS_PORT")
KERNEL_NOTE=
EP_PORT=$(free_port)
if [ "$(id -u)" != 0 ]; then
    KERNEL_NOTE="kernel run skipped: not root (router_bench --kernel loads eBPF programs)"
else
    "$BIN" --kernel --endpoint "$KERNEL_IP:$EP_PORT=tcp:127.0.0.1:$REDIS_PORT" \
        >"$LOG_DIR/kernel.out" 2>"$LOG_DIR/kernel.err" </dev/null &
    KPID=$!
    PIDS+=("$KPID")
    if wait_until grep -q ready "$LOG_DIR/kernel.out" &&
        wait_until sh -c "redis-cli -h $KERNEL_IP -p $EP_PORT ping | grep -q PONG"; then
        TARGETS+=("K $KERNEL_IP $EP_PORT")
    else
        KERNEL_NOTE="kernel run skipped: router_bench --kernel did not come up ($(tail -n 3 "$LOG_DIR/kernel.err" | tr '\n' ' '))"
        kill "$KPID" 2>/dev/null || true
    fi
fi
[ -z "$KERNEL_NOTE" ] || log "$KERNEL_NOTE"
"$BIN" --endpoint "$ROUTER_IP:$EP_PORT=tcp:127.0.0.1:$REDIS_PORT" \
    >"$LOG_DIR/router.out" 2>"$LOG_DIR/router.err" </dev/null &
PIDS+=($!)
if wait_until grep -q ready "$LOG_DIR/router.out" &&
    wait_until sh -c "redis-cli -h $ROUTER_IP -p $EP_PORT ping | grep -q PONG"; then
    TARGETS+=("R $ROUTER_IP $EP_PORT")
else
    log "router endpoint did not come up: $(tail -n 3 "$LOG_DIR/router.err" | tr '\n' ' ')"; exit 1
fi

# --- the runs ----------------------------------------------------------------------------------
SKIP_TESTS=${SKIP_TESTS:-SRANDMEMBER with a dict containing long chain}
printf '%s\n' "$SKIP_TESTS" >"$LOG_DIR/skipfile"
RUNTEST_ARGS=(--timeout "$TEST_TIMEOUT" --clients 1 --skipfile "$LOG_DIR/skipfile" $SUITE_ARGS)
{
    echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo '?')"
    echo "redis-server $(redis-server --version | awk '{print $3}'), suite $REDIS_TAG, runtest ${RUNTEST_ARGS[*]} --single UNIT"
    echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$LOG_DIR/header.txt"
log "logs in $LOG_DIR; ${#UNIT_LIST[@]} units x ${#TARGETS[@]} targets"
STOPPED_AT=
for unit in "${UNIT_LIST[@]}"; do
    if ((SECONDS - START >= TOTAL_S)); then STOPPED_AT=$unit; log "TOTAL_S=$TOTAL_S reached before $unit"; break; fi
    for t in "${TARGETS[@]}"; do
        read -r name host port <<<"$t"
        if ! redis_ok; then
            log "redis-server not answering after the previous run (before $name $unit)"
            echo "before $name $unit: redis-server was not answering" >>"$LOG_DIR/not-answering.txt"
        fi
        stop_redis
        start_redis
        out=$LOG_DIR/$name/${unit//\//_}.log
        mkdir -p "$LOG_DIR/$name"
        left=$((TOTAL_S - (SECONDS - START)))
        bound=$((left < UNIT_S ? (left > 10 ? left : 10) : UNIT_S))
        t0=$SECONDS
        echo "[unit]: $unit" >"$out"
        # setsid: runtest and the test client it spawns share one process group, stopped as one.
        (cd "$SUITE" && exec setsid timeout -k 10 "$bound" ./runtest --host "$host" --port "$port" \
            "${RUNTEST_ARGS[@]}" --single "$unit") >>"$out" 2>&1 </dev/null &
        rpid=$!
        GROUPS_=("$rpid")
        rc=0
        wait "$rpid" || rc=$?
        kill -TERM -- "-$rpid" 2>/dev/null || true   # anything left in that group
        GROUPS_=()
        echo "[runtest-exit]: $rc ($((SECONDS - t0)) s)" >>"$out"
        printf '%s %-40s rc=%-3s %4ss  ok=%s\n' "$name" "$unit" "$rc" "$((SECONDS - t0))" \
            "$(sed 's/\x1b\[[0-9;]*m//g' "$out" | grep -c '^\[ok\]' || true)" >&2
    done
done

# --- summary -----------------------------------------------------------------------------------
# Stop the endpoints now (by PID): router_bench prints its per-endpoint counters on the way out.
for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
done
PIDS=()
{
    cat "$LOG_DIR/header.txt"
    [ -z "$KERNEL_NOTE" ] || echo "$KERNEL_NOTE"
    [ -z "$STOPPED_AT" ] || echo "INCOMPLETE: TOTAL_S=$TOTAL_S reached, units from $STOPPED_AT on were not run"
    echo "redis-server not answering after a run: $(cat "$LOG_DIR/not-answering.txt" 2>/dev/null | wc -l) time(s)"
    echo "endpoint counters: $(grep -h '^bench ' "$LOG_DIR/kernel.err" "$LOG_DIR/router.err" 2>/dev/null | cut -d' ' -f4-6 | tr '\n' ';' || true)"
    echo "wall time: $((SECONDS - START)) s"
    python3 - "$LOG_DIR" "${TARGETS[@]%% *}" <<'EOF'
import os, re, sys, collections
log_dir, names = sys.argv[1], sys.argv[2:]
label = {"D": "direct", "K": "kernel endpoint", "R": "router endpoint"}
ansi = re.compile(r"\x1b\[[0-9;]*m")
res = {}        # name -> {key: status}
counts = {}
for n in names:
    d = os.path.join(log_dir, n)
    res[n], c = {}, collections.Counter()
    aborted = set()   # units whose run ended in an exception (later tests never ran)
    for f in sorted(os.listdir(d)):
        unit = f[:-4]
        seen = collections.Counter()
        for line in open(os.path.join(d, f), errors="replace"):
            line = ansi.sub("", line.rstrip("\n"))
            if line.startswith("[unit]: "):
                unit = line[8:]
                continue
            m = re.match(r"^\[(ok|err|exception|skip|ignore|TIMEOUT)\]: (.*)$", line)
            if not m:
                m2 = re.match(r"^\[runtest-exit\]: (\d+)", line)
                if m2 and m2.group(1) == "124":
                    c["runtest killed (UNIT_S)"] += 1
                continue
            st, text = m.groups()
            c[st] += 1
            if st in ("exception", "TIMEOUT"):
                aborted.add(unit)
            if st == "ok":
                text = re.sub(r" \(\d+ ms\)$", "", text)
            elif st == "err":
                text = re.sub(r" in tests/\S+$", "", text)
            elif st in ("exception", "TIMEOUT"):
                text = "(" + st + ") " + text
            seen[text] += 1
            key = (unit, text if seen[text] == 1 else f"{text} #{seen[text]}")
            res[n][key] = st
    counts[n] = c
    res[n]["aborted"] = aborted
print()
print("| target | [ok] | [err] | [exception] | [TIMEOUT] | [skip]+[ignore] |")
print("|---|---:|---:|---:|---:|---:|")
for n in names:
    c = counts[n]
    extra = f" (runtest killed: {c['runtest killed (UNIT_S)']})" if c["runtest killed (UNIT_S)"] else ""
    print(f"| {label[n]} | {c['ok']} | {c['err']} | {c['exception']} | {c['TIMEOUT']}{extra} | {c['skip'] + c['ignore']} |")
print()
def status(n, k):
    if k in res[n]:
        return res[n][k]
    return "not run (unit ended in exception)" if k[0] in res[n]["aborted"] else "absent"
keys = sorted({k for n in names for k, st in res[n].items() if st == "ok"})
diff = [k for k in keys if any(res[n].get(k) != "ok" for n in names)]
print(f"tests [ok] in one run but not in another: {len(diff)}")
for unit, text in diff:
    where = ", ".join(f"{n}={status(n, (unit, text))}" for n in names)
    print(f"  {unit}: {text}   [{where}]")
others = sorted({k for n in names for k, st in res[n].items() if k != "aborted" and st in ("err", "exception", "TIMEOUT")})
if others:
    print()
    print("every [err]/[exception]/[TIMEOUT] line, by target:")
    for unit, text in others:
        where = ", ".join(f"{n}={res[n].get((unit, text), '-')}" for n in names)
        print(f"  {unit}: {text}   [{where}]")
EOF
} | tee "$LOG_DIR/summary.txt"
