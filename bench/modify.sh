#!/usr/bin/env bash
# Benchmark: how long configuration changes take to reach every node of a running group.
#
# Builds the release binary and starts one `ferrocache up` (own data dir, port and endpoint
# CIDR; stopped by pid on exit). Creates a 3-node group with its own parameter group and loads
# KEYS keys of 64 bytes through the primary endpoint (redis-cli --pipe), then measures:
#
# 1. Scale-up: `ModifyReplicationGroup --cache-node-type … --apply-immediately` until the group
#    reports the new type and every node's `maxmemory` is the new one, and that every key is
#    still there. Reference in the same run: what ElastiCache's way of scaling costs the engine
#    at the very least — one fresh redis-server doing a full sync of the same data from the
#    primary (REPLICAOF until master_link_status:up with every key).
# 2. Parameter change: `ModifyCacheParameterGroup maxmemory-policy=…` until `CONFIG GET` on all
#    three nodes shows the new value. Reference in the same run: the same three `CONFIG SET`
#    calls made by hand.
#
# Prints each time, the medians and the ratios (ours / reference).
#
# Usage: bench/modify.sh [KEYS] [RUNS]   (default 1000000 keys, 3 runs; needs redis-server,
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
from harness import Ferrocache, free_port, wait_group_available  # noqa: E402

import redis  # noqa: E402

KEYS = int(os.environ["BENCH_KEYS"])
RUNS = int(os.environ["BENCH_RUNS"])
POLL_S = 0.005
TIMEOUT_S = 600
# Each run scales up one step; the group starts at the first type.
SIZES = ["cache.t3.medium", "cache.m6g.large", "cache.r6g.large", "cache.r6g.xlarge",
         "cache.r6g.2xlarge"]


def ms(seconds):
    return f"{seconds * 1000:9.1f} ms"


def wait(fn, what):
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < TIMEOUT_S:
        if fn():
            return time.perf_counter() - t0
        time.sleep(POLL_S)
    raise SystemExit(f"timed out waiting for {what}")


def load(host, count):
    """SET key:N to a 64-byte value for N < count, through redis-cli --pipe."""
    value = "v" * 64
    chunks = []
    for i in range(count):
        key = f"key:{i}"
        chunks.append(f"*3\r\n$3\r\nSET\r\n${len(key)}\r\n{key}\r\n$64\r\n{value}\r\n")
    subprocess.run(["redis-cli", "-h", host, "--pipe"], input="".join(chunks).encode(),
                   check=True, stdout=subprocess.DEVNULL)


def in_sync(hosts, count):
    return all(redis.Redis(host=h).dbsize() == count for h in hosts)


def full_sync_reference(primary_host, identity):
    """Seconds for a fresh redis-server to full-sync the data set from `primary_host`, logging
    in as the control plane's internal user (clients may not PSYNC, as on ElastiCache)."""
    tmp = tempfile.mkdtemp(prefix="fcbench-sync-")
    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", tmp,
         "--save", "", "--appendonly", "no", "--repl-diskless-load", "disabled",
         "--masteruser", identity["user"], "--masterauth", identity["password"]],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        replica = redis.Redis(port=port)
        wait(lambda: _pings(replica), "the reference replica to start")
        t0 = time.perf_counter()
        replica.replicaof(primary_host, 6379)
        wait(lambda: replica.info("replication").get("master_link_status") == "up"
             and replica.dbsize() == KEYS, "the reference full sync")
        return time.perf_counter() - t0
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def _pings(client):
    try:
        return client.ping()
    except redis.exceptions.ConnectionError:
        return False


def main():
    fc = Ferrocache(binary=os.environ["FERROCACHE_BIN"])
    fc.start()
    try:
        ec = fc.client()
        ec.create_cache_parameter_group(CacheParameterGroupName="bench",
                                        CacheParameterGroupFamily="redis7",
                                        Description="bench")
        ec.create_replication_group(ReplicationGroupId="bench", ReplicationGroupDescription="b",
                                    NumCacheClusters=3, CacheNodeType="cache.t3.small",
                                    CacheParameterGroupName="bench")
        group = wait_group_available(ec, "bench", timeout=TIMEOUT_S)
        primary = group["NodeGroups"][0]["PrimaryEndpoint"]["Address"]
        hosts = [m["ReadEndpoint"]["Address"] for m in group["NodeGroups"][0]["NodeGroupMembers"]]
        t0 = time.perf_counter()
        load(primary, KEYS)
        wait(lambda: in_sync(hosts, KEYS), "the replicas to have every key")
        print(f"loaded {KEYS} keys of 64 B in {time.perf_counter() - t0:.1f} s")

        scale, sync = [], []
        for size in SIZES[:RUNS]:
            t0 = time.perf_counter()
            ec.modify_replication_group(ReplicationGroupId="bench", CacheNodeType=size,
                                        ApplyImmediately=True)
            wait(lambda: _group_runs(ec, size), f"the group to run {size}")
            elapsed = time.perf_counter() - t0
            maxmemory = {int(fc.config_get(h, "maxmemory")) for h in hosts}
            assert len(maxmemory) == 1, maxmemory
            assert all(redis.Redis(host=h).dbsize() == KEYS for h in hosts), "keys lost"
            reference = full_sync_reference(primary, fc.control_identity())
            scale.append(elapsed)
            sync.append(reference)
            print(f"scale-up to {size:18} ours {ms(elapsed)}   one full sync {ms(reference)}"
                  f"   ratio {elapsed / reference:.3f}")

        params, by_hand = [], []
        for i in range(RUNS * 2):
            policy = "allkeys-lru" if i % 2 == 0 else "volatile-lru"
            t0 = time.perf_counter()
            ec.modify_cache_parameter_group(
                CacheParameterGroupName="bench",
                ParameterNameValues=[{"ParameterName": "maxmemory-policy",
                                      "ParameterValue": policy}])
            wait(lambda: all(fc.config_get(h, "maxmemory-policy") == policy for h in hosts),
                 "the parameter on every node")
            params.append(time.perf_counter() - t0)
            other = "volatile-ttl"
            t0 = time.perf_counter()
            for h in hosts:
                fc.admin_command(h, "CONFIG", "SET", "maxmemory-policy", other)
            by_hand.append(time.perf_counter() - t0)
            for h in hosts:
                fc.admin_command(h, "CONFIG", "SET", "maxmemory-policy", policy)
            print(f"parameter change       ours {ms(params[-1])}   3 CONFIG SET by hand "
                  f"{ms(by_hand[-1])}")

        print()
        print(f"scale-up median         {ms(statistics.median(scale))}  vs full sync "
              f"{ms(statistics.median(sync))}  ratio "
              f"{statistics.median(scale) / statistics.median(sync):.3f}")
        print(f"parameter change median {ms(statistics.median(params))}  vs by hand "
              f"{ms(statistics.median(by_hand))}  ratio "
              f"{statistics.median(params) / statistics.median(by_hand):.1f}")
    finally:
        fc.close()


def _group_runs(ec, size):
    group = ec.describe_replication_groups(ReplicationGroupId="bench")["ReplicationGroups"][0]
    return group["CacheNodeType"] == size and group["Status"] == "available"


main()
PY
