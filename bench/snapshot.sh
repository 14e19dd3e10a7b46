#!/usr/bin/env bash
# Benchmark: snapshot and restore against the engine's own save and load of the same data.
#
# Builds the release binary and starts one `ferrocache up` (own data dir, port and endpoint
# CIDR; stopped by pid on exit). Creates a one-node cache cluster, loads KEYS keys with 64-byte
# values (redis-cli --pipe), then, RUNS times:
#
# 1. Reference save: `BGSAVE` on that node until `rdb_bgsave_in_progress:0` with
#    `rdb_last_bgsave_status:ok` (INFO polled every 5 ms).
# 2. Snapshot: `CreateSnapshot` until `DescribeSnapshots` reads `available` (polled every 5 ms).
# 3. Reference load: a plain redis-server started on a copy of that snapshot's RDB, from the
#    spawn until `INFO persistence` reads `loading:0` and PING answers.
# 4. Restore: `CreateReplicationGroup --snapshot-name` (one node) until the group reads
#    `available` (polled every 5 ms); checks the key count; deletes the group.
#
# Prints every time, the medians and the ratios (Ferrocache / engine). Goal: ≤ 1.2.
#
# Usage: bench/snapshot.sh [KEYS] [RUNS]   (default 1000000 keys, 3 runs; needs redis-server,
# redis-cli, boto3 and redis for python3)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
KEYS=${1:-1000000}
RUNS=${2:-3}

cargo build --release --quiet -p ferrocache
export FERROCACHE_BIN="$PWD/target/release/ferrocache"
export BENCH_KEYS="$KEYS" BENCH_RUNS="$RUNS"

exec python3 - <<'PY'
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.getcwd(), "tests", "py"))
from harness import Ferrocache, free_port  # noqa: E402

import redis  # noqa: E402

KEYS = int(os.environ["BENCH_KEYS"])
RUNS = int(os.environ["BENCH_RUNS"])
POLL_S = 0.005
TIMEOUT_S = 600
REGION = "us-east-1"


def wait(fn, what):
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < TIMEOUT_S:
        if fn():
            return time.perf_counter() - t0
        time.sleep(POLL_S)
    raise SystemExit(f"timed out waiting for {what}")


def load(host, count):
    """SET key:N to a 64-byte value for N < count, through redis-cli --pipe, in batches."""
    value = "v" * 64
    batch = 200_000
    for first in range(0, count, batch):
        chunks = []
        for i in range(first, min(first + batch, count)):
            key = f"key:{i}"
            chunks.append(f"*3\r\n$3\r\nSET\r\n${len(key)}\r\n{key}\r\n$64\r\n{value}\r\n")
        subprocess.run(["redis-cli", "-h", host, "--pipe"], input="".join(chunks).encode(),
                       check=True, stdout=subprocess.DEVNULL)


def pings(client):
    try:
        return client.ping()
    except redis.exceptions.ConnectionError:
        return False


def engine_bgsave(node, bgsave_name):
    """Seconds of one BGSAVE of the node, from the call to the finished, successful save.
    `node` is logged in as the control plane, and BGSAVE is sent under its secret name
    (clients cannot run it, as on ElastiCache)."""
    def done():
        info = node.info("persistence")
        return info["rdb_bgsave_in_progress"] == 0
    wait(done, "a save already running to finish")
    before = node.info("persistence")["rdb_last_save_time"]
    t0 = time.perf_counter()
    node.execute_command(bgsave_name)
    while True:
        info = node.info("persistence")
        if info["rdb_bgsave_in_progress"] == 0 and info["rdb_last_save_time"] >= before \
                and info.get("rdb_last_bgsave_status") == "ok" \
                and info["rdb_changes_since_last_save"] == 0:
            return time.perf_counter() - t0
        if time.perf_counter() - t0 > TIMEOUT_S:
            raise SystemExit("BGSAVE did not finish")
        time.sleep(POLL_S)


def engine_load(rdb):
    """Seconds for a plain redis-server to start on `rdb` and serve (loading:0, PING)."""
    tmp = tempfile.mkdtemp(prefix="fcbench-load-")
    shutil.copy(rdb, os.path.join(tmp, "dump.rdb"))
    port = free_port()
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", tmp,
         "--dbfilename", "dump.rdb", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = redis.Redis(port=port)

        def served():
            try:
                return client.info("persistence")["loading"] == 0 and client.ping()
            except (redis.exceptions.ConnectionError, redis.exceptions.BusyLoadingError):
                return False
        wait(served, "the reference load")
        elapsed = time.perf_counter() - t0
        keys = client.dbsize()
        if keys != KEYS:
            raise SystemExit(f"the reference load holds {keys} keys, not {KEYS}")
        return elapsed
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    fc = Ferrocache(binary=os.environ["FERROCACHE_BIN"])
    fc.start()
    try:
        ec = fc.client()
        ec.create_cache_cluster(CacheClusterId="bench", Engine="redis",
                                CacheNodeType="cache.r6g.large", NumCacheNodes=1)
        wait(lambda: ec.describe_cache_clusters(CacheClusterId="bench")["CacheClusters"][0]
             ["CacheClusterStatus"] == "available", "the cluster")
        address = ec.describe_cache_clusters(CacheClusterId="bench", ShowCacheNodeInfo=True)[
            "CacheClusters"][0]["CacheNodes"][0]["Endpoint"]["Address"]
        t0 = time.perf_counter()
        load(address, KEYS)
        node = fc.admin_redis(address)
        bgsave_name = fc.control_identity()["bgsave"]
        if node.dbsize() != KEYS:
            raise SystemExit(f"loaded {node.dbsize()} keys, not {KEYS}")
        print(f"loaded {KEYS} keys of 64 B in {time.perf_counter() - t0:.1f} s; "
              f"load average {os.getloadavg()[0]:.2f}")

        rows = []
        for run in range(RUNS):
            save = engine_bgsave(node, bgsave_name)
            name = f"bench-{run}"
            t0 = time.perf_counter()
            ec.create_snapshot(CacheClusterId="bench", SnapshotName=name)
            snap = wait(lambda: ec.describe_snapshots(SnapshotName=name)["Snapshots"][0]
                        ["SnapshotStatus"] == "available", "the snapshot")
            rdb = os.path.join(fc.data_dir, "snapshots", REGION, name, "dump.rdb")
            size_mb = os.path.getsize(rdb) / 1e6
            engine = engine_load(rdb)
            group = f"restored-{run}"
            t0 = time.perf_counter()
            ec.create_replication_group(ReplicationGroupId=group,
                                        ReplicationGroupDescription="bench restore",
                                        CacheNodeType="cache.r6g.large", NumCacheClusters=1,
                                        SnapshotName=name)
            restore = wait(lambda: ec.describe_replication_groups(ReplicationGroupId=group)[
                "ReplicationGroups"][0]["Status"] == "available", "the restore")
            primary = ec.describe_replication_groups(ReplicationGroupId=group)[
                "ReplicationGroups"][0]["NodeGroups"][0]["PrimaryEndpoint"]["Address"]
            keys = redis.Redis(host=primary).dbsize()
            if keys != KEYS:
                raise SystemExit(f"the restored group holds {keys} keys, not {KEYS}")
            ec.delete_replication_group(ReplicationGroupId=group)
            wait(lambda: not any(g["ReplicationGroupId"] == group for g in
                                 ec.describe_replication_groups()["ReplicationGroups"]),
                 "the restored group to go")
            ec.delete_snapshot(SnapshotName=name)
            rows.append((save, snap, engine, restore))
            print(f"run {run + 1}: RDB {size_mb:.1f} MB  BGSAVE {save * 1000:8.1f} ms  "
                  f"snapshot {snap * 1000:8.1f} ms  |  load {engine * 1000:8.1f} ms  "
                  f"restore {restore * 1000:8.1f} ms")

        med = [statistics.median(r[i] for r in rows) for i in range(4)]
        print()
        print(f"| {KEYS} keys × 64 B, median of {RUNS} | engine | Ferrocache | ratio |")
        print("|---|---:|---:|---:|")
        print(f"| snapshot: BGSAVE vs create-snapshot → available | {med[0] * 1000:.0f} ms "
              f"| {med[1] * 1000:.0f} ms | {med[1] / med[0]:.2f}× |")
        print(f"| restore: redis-server load vs create-replication-group --snapshot-name → "
              f"available | {med[2] * 1000:.0f} ms | {med[3] * 1000:.0f} ms "
              f"| {med[3] / med[2]:.2f}× |")
    finally:
        fc.close()


main()
PY
