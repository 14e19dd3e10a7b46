#!/usr/bin/env python3
"""The control plane on etcd against the embedded store, side by side in one run.

Run through bench/store.sh (it builds the release binary and checks the tools). One etcd member
(Debian's etcd-server, on free loopback ports, its own temporary directory) and two
`ferrocache up` from the same binary: `embedded` (state in <data-dir>/state.redb) and `etcd`
(`--store etcd://…/bench`). Every measurement alternates between the two, call by call, so both
see the same machine:

1. writes: CALLS rounds of CreateCacheParameterGroup, ModifyCacheParameterGroup (one
   parameter) and DeleteCacheParameterGroup, each sent as signed awsQuery HTTP and timed to the
   response's last byte (the server's latency, without botocore);
2. reads: CALLS DescribeCacheParameterGroups and DescribeReplicationGroups;
3. CreateReplicationGroup (3 nodes, automatic failover) until DescribeReplicationGroups says
   `available` (polled every 20 ms), GROUPS times each;
4. the failover RTO of one three-node group on each (bench/scale.py's trial: SIGKILL of the
   primary under a write every 1 ms; kill → first acknowledged write), RTO_TRIALS each.

Prints p50/p99 (medians for 3 and 4) per store and the ratio etcd / embedded; the issue's goal
is API latency with etcd within 2x of the embedded store. Every process started here is
stopped by its pid (nodes by their pid files), also on Ctrl-C.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "py"))
sys.path.insert(0, str(REPO / "bench"))
from harness import EtcdMember, Ferrocache  # noqa: E402
from scale import RawQuery, group_of, log, pct, rto_trial, wait_until  # noqa: E402

CALLS = int(os.environ.get("CALLS", "200"))
GROUPS = int(os.environ.get("GROUPS_CREATED", "3"))
RTO_TRIALS = int(os.environ.get("RTO_TRIALS", "3"))
GOAL_RATIO = 2.0


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def summary(name: str, samples: dict[str, list[float]], median_only: bool = False) -> str:
    emb, etc = samples["embedded"], samples["etcd"]
    if median_only:
        a, b = statistics.median(emb), statistics.median(etc)
        return f"| {name} | {ms(a)} | {ms(b)} | {b / a:.2f} | — | — | — |"
    a50, b50 = pct(emb, 50), pct(etc, 50)
    a99, b99 = pct(emb, 99), pct(etc, 99)
    return (f"| {name} | {ms(a50)} | {ms(b50)} | {b50 / a50:.2f} | {ms(a99)} | {ms(b99)} "
            f"| {b99 / a99:.2f} |")


def create_until_available(fc: Ferrocache, ec, group_id: str) -> float:
    t0 = time.perf_counter()
    ec.create_replication_group(
        ReplicationGroupId=group_id, ReplicationGroupDescription="bench",
        Engine="redis", CacheNodeType="cache.t3.micro", NumCacheClusters=3,
        AutomaticFailoverEnabled=True)
    wait_until(lambda: group_of(ec, group_id)["Status"] == "available", 120,
               f"{group_id} available", poll=0.02)
    return time.perf_counter() - t0


def main() -> int:
    etcd = EtcdMember()
    stores = {
        "embedded": Ferrocache(extra_args=["--data-path", "router"]),
        "etcd": Ferrocache(extra_args=["--data-path", "router",
                                       "--store", etcd.store_url("bench")]),
    }
    try:
        for fc in stores.values():
            fc.start()
        for name, fc in stores.items():
            banner = next(line for line in fc.lines if line.startswith("Store: "))
            log(f"{name}: {banner}")
        queries = {name: RawQuery(fc.port) for name, fc in stores.items()}
        clients = {name: fc.client() for name, fc in stores.items()}
        samples: dict[str, dict[str, list[float]]] = {}

        def record(what: str, name: str, seconds: float):
            samples.setdefault(what, {"embedded": [], "etcd": []})[name].append(seconds)

        log(f"writes: {CALLS} rounds of create/modify/delete parameter group")
        for i in range(CALLS):
            for name, q in queries.items():
                group = f"bench-{i}"
                record("CreateCacheParameterGroup", name, q.checked(
                    "CreateCacheParameterGroup",
                    {"CacheParameterGroupName": group, "CacheParameterGroupFamily": "redis7",
                     "Description": "bench"}))
                record("ModifyCacheParameterGroup", name, q.checked(
                    "ModifyCacheParameterGroup",
                    {"CacheParameterGroupName": group,
                     "ParameterNameValues.ParameterNameValue.1.ParameterName":
                         "maxmemory-policy",
                     "ParameterNameValues.ParameterNameValue.1.ParameterValue": "allkeys-lru"}))
                record("DeleteCacheParameterGroup", name, q.checked(
                    "DeleteCacheParameterGroup", {"CacheParameterGroupName": group}))

        log(f"groups: {GROUPS} three-node groups created until available on each")
        for i in range(GROUPS):
            for name, fc in stores.items():
                record("CreateReplicationGroup → available", name,
                       create_until_available(fc, clients[name], f"bench-g{i}"))

        log(f"reads: {CALLS} of each describe")
        for _ in range(CALLS):
            for name, q in queries.items():
                record("DescribeCacheParameterGroups", name, q.checked(
                    "DescribeCacheParameterGroups", {"MaxRecords": "20"}))
                record("DescribeReplicationGroups", name, q.checked(
                    "DescribeReplicationGroups", {}))

        log(f"failover: {RTO_TRIALS} trials on each")
        for _ in range(RTO_TRIALS):
            for name, fc in stores.items():
                record("failover RTO (kill → first acked write)", name,
                       rto_trial(fc, clients[name], "bench-g0"))

        print()
        print(f"etcd {EtcdMember.version()} (one member), {CALLS} calls each, alternating; "
              "times in ms")
        print()
        print("| what | embedded p50 | etcd p50 | ratio | embedded p99 | etcd p99 | ratio |")
        print("|---|---|---|---|---|---|---|")
        worst = 0.0
        for what, by_store in samples.items():
            median_only = "→" in what or "RTO" in what
            print(summary(what, by_store, median_only))
            if not median_only:
                worst = max(worst, pct(by_store["etcd"], 50) / pct(by_store["embedded"], 50))
        print()
        verdict = "met" if worst <= GOAL_RATIO else "NOT met"
        print(f"Goal: API latency with etcd within {GOAL_RATIO}x of embedded (p50): worst "
              f"ratio {worst:.2f} — {verdict}")
        for q in queries.values():
            q.close()
        return 0
    finally:
        for fc in stores.values():
            fc.close()
        etcd.stop()


if __name__ == "__main__":
    sys.exit(main())
