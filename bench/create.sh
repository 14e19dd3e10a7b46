#!/usr/bin/env bash
# Benchmark: how long `create-replication-group` with 3 nodes takes to reach `available`.
#
# Builds the release binary, starts one `ferrocache up` on its own data dir, port and endpoint
# CIDR (127.250.x.0/24; stopped by its pid on exit, leftover nodes killed by their pid files),
# then from one Python process (so CLI start-up is not timed) runs CreateReplicationGroup with
# NumCacheClusters=3 RUNS times, timing the call until DescribeReplicationGroups (polled every
# 20 ms) says `available`, deleting each group after. For reference, in the same run, it times
# the same thing done by hand: start 3 plain redis-servers (with the same replication settings
# as Ferrocache's nodes), REPLICAOF on two, poll until both report master_link_status:up. It prints each time, the medians and the ratio.
#
# Usage: bench/create.sh [RUNS]   (default 5; needs redis-server and boto3/redis for python3)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
RUNS=${1:-5}

cargo build --release --quiet -p ferrocache
export FERROCACHE_BIN="$PWD/target/release/ferrocache"
export BENCH_RUNS="$RUNS"

exec python3 - <<'PY'
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.getcwd(), "tests", "py"))
from harness import Ferrocache, allocate_cidr, free_port, pid_alive  # noqa: E402

import redis  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

RUNS = int(os.environ["BENCH_RUNS"])
POLL_S = 0.020
TIMEOUT_S = 120


def fmt(seconds):
    return f"{seconds * 1000:8.1f} ms"


def create_once(ec, group_id):
    """Seconds from CreateReplicationGroup to `available`."""
    t0 = time.perf_counter()
    ec.create_replication_group(ReplicationGroupId=group_id,
                                ReplicationGroupDescription="bench",
                                Engine="redis", EngineVersion="7.0",
                                CacheNodeType="cache.t3.micro", NumCacheClusters=3,
                                AutomaticFailoverEnabled=True)
    while True:
        status = ec.describe_replication_groups(
            ReplicationGroupId=group_id)["ReplicationGroups"][0]["Status"]
        if status == "available":
            return time.perf_counter() - t0
        if status == "create-failed" or time.perf_counter() - t0 > TIMEOUT_S:
            raise RuntimeError(f"{group_id}: {status} after {time.perf_counter() - t0:.1f}s")
        time.sleep(POLL_S)


def delete_and_wait(ec, group_id):
    ec.delete_replication_group(ReplicationGroupId=group_id)
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            ec.describe_replication_groups(ReplicationGroupId=group_id)
        except ClientError:
            return
        time.sleep(POLL_S)
    raise RuntimeError(f"{group_id} not deleted")


def by_hand_once(workdir):
    """Seconds to start 3 redis-servers, REPLICAOF two of them and see both links up."""
    ports = [free_port() for _ in range(3)]
    procs = []
    t0 = time.perf_counter()
    try:
        for port in ports:
            node_dir = os.path.join(workdir, str(port))
            os.makedirs(node_dir, exist_ok=True)
            procs.append(subprocess.Popen(
                ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                 "--dir", node_dir, "--save", "", "--appendonly", "no",
                 # Same replication settings as Ferrocache's nodes (disk-based full syncs,
                 # see crates/engine/src/config.rs).
                 "--repl-diskless-sync", "no", "--repl-diskless-sync-delay", "0",
                 "--daemonize", "no", "--loglevel", "warning"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        clients = [redis.Redis(host="127.0.0.1", port=p, socket_timeout=5) for p in ports]
        for c in clients:
            while True:
                try:
                    c.ping()
                    break
                except redis.exceptions.ConnectionError:
                    time.sleep(0.002)
        for c in clients[1:]:
            c.replicaof("127.0.0.1", ports[0])
        for c in clients[1:]:
            while c.info("replication").get("master_link_status") != "up":
                if time.perf_counter() - t0 > TIMEOUT_S:
                    raise RuntimeError("by-hand replica never linked")
                time.sleep(POLL_S)
        return time.perf_counter() - t0
    finally:
        for p in procs:
            p.kill()
            p.wait()


def main():
    fc = Ferrocache(binary=os.environ["FERROCACHE_BIN"],
                    cidr=allocate_cidr(second_min=250, second_count=1))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        fc.start()
        ec = fc.client(retries=3)
        print(f"ferrocache {fc.endpoint_url} (pid {fc.pid}), endpoints {fc.cidr}")
        ferro = []
        for n in range(RUNS):
            group_id = f"bench-{n}"
            seconds = create_once(ec, group_id)
            ferro.append(seconds)
            print(f"  create-replication-group (3 nodes) -> available  run {n + 1}: "
                  f"{fmt(seconds)}")
            delete_and_wait(ec, group_id)
    finally:
        fc.close()

    workdir = tempfile.mkdtemp(prefix="fcbench")
    hand = []
    try:
        for n in range(RUNS):
            seconds = by_hand_once(workdir)
            hand.append(seconds)
            print(f"  by hand: 3 redis-server + REPLICAOF -> link up       run {n + 1}: "
                  f"{fmt(seconds)}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    f_med, h_med = statistics.median(ferro), statistics.median(hand)
    print()
    print(f"median ferrocache create -> available : {fmt(f_med)}   (goal: under 1 s)")
    print(f"median by hand (reference)            : {fmt(h_med)}")
    print(f"ratio ferrocache / by hand            : {f_med / h_med:8.2f}x")


main()
PY
