#!/usr/bin/env python3
"""Cluster mode: a 3-shard × 3-node group, Ferrocache against the same cluster built by hand.

Run through bench/cluster.sh. In one run, TRIALS times each:

- **create → ready**: Ferrocache `CreateReplicationGroup NumNodeGroups=3 ReplicasPerNodeGroup=2`
  until `available`, against the reference: 9 plain `redis-server --cluster-enabled yes` on
  loopback (disk-based replication like Ferrocache's nodes), `redis-cli --cluster create …
  --cluster-replicas 2 --cluster-yes`, until every node reports `cluster_state:ok` and every
  replica's link is up (the same end point: every slot served, every replica in sync). Both
  start from no process at all; both are torn down after each trial.
- **failover of one shard**: SIGKILL of shard 0002's primary while a redis-py `RedisCluster`
  client writes through the configuration endpoint; RTO = from the kill to the first
  acknowledged write of a key of that shard sent after the kill. Ferrocache's control plane
  promotes with `CLUSTER FAILOVER TAKEOVER`; the reference is Redis Cluster's own failover
  (`cluster-node-timeout` 1000 ms, replicas allowed to fail over).

Prints each figure and the ratio Ferrocache / reference. Every process is stopped by pid.
"""

from __future__ import annotations

import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "py"))
from harness import Ferrocache, free_port, node_pids, wait_group_available, wait_until  # noqa: E402

import redis  # noqa: E402
from redis.cluster import RedisCluster  # noqa: E402
from redis.crc import key_slot  # noqa: E402

TRIALS = int(os.environ.get("TRIALS", "3"))
NODE_TIMEOUT_MS = 1000
WRITE_SECONDS_MAX = 20.0


def key_in_slot_range(start: int, end: int) -> str:
    """A key whose hash slot is within start..=end (found with CLUSTER KEYSLOT's algorithm)."""
    for n in range(100_000):
        key = f"bench:{n}"
        if start <= key_slot(key.encode()) <= end:
            return key
    raise RuntimeError("no key found")


class Reference:
    """9 plain redis-servers formed into a 3×3 cluster by redis-cli --cluster create."""

    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="refcluster")
        self.ports = []
        self.procs = []

    def start(self) -> float:
        t0 = time.monotonic()
        for i in range(9):
            port = free_port()
            bus = free_port()
            node_dir = Path(self.root) / str(i)
            node_dir.mkdir()
            proc = subprocess.Popen(
                ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                 "--cluster-enabled", "yes", "--cluster-port", str(bus),
                 "--cluster-config-file", str(node_dir / "nodes.conf"),
                 "--cluster-node-timeout", str(NODE_TIMEOUT_MS), "--dir", str(node_dir),
                 "--save", "", "--appendonly", "no", "--daemonize", "no",
                 # As Ferrocache's nodes: disk-based full syncs (no 5 s diskless delay).
                 "--repl-diskless-sync", "no"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.procs.append(proc)
            self.ports.append(port)
        for port in self.ports:
            wait_until(lambda p=port: self.ping(p), timeout=10, what=f"reference :{port}")
        subprocess.run(["redis-cli", "--cluster", "create",
                        *[f"127.0.0.1:{p}" for p in self.ports],
                        "--cluster-replicas", "2", "--cluster-yes"],
                       check=True, capture_output=True, timeout=60)
        wait_until(lambda: all(self.state_ok(p) and self.synced(p) for p in self.ports),
                   timeout=60, poll=0.01, what="reference cluster_state:ok, replicas synced")
        return time.monotonic() - t0

    @staticmethod
    def synced(port):
        """A primary, or a replica whose link to its primary is up (as Ferrocache's
        `available` requires)."""
        try:
            info = redis.Redis(port=port, socket_timeout=1).info("replication")
        except redis.RedisError:
            return False
        return info["role"] == "master" or info.get("master_link_status") == "up"

    @staticmethod
    def ping(port):
        try:
            return redis.Redis(port=port, socket_timeout=1).ping()
        except redis.RedisError:
            return False

    @staticmethod
    def state_ok(port):
        try:
            return redis.Redis(port=port, socket_timeout=1).cluster("info")["cluster_state"] == "ok"
        except redis.RedisError:
            return False

    def primary_of(self, slot: int) -> tuple[int, int]:
        """(port, pid) of the primary serving `slot`."""
        client = redis.Redis(port=self.ports[0], socket_timeout=2)
        for entry in client.execute_command("CLUSTER", "SLOTS"):
            if entry[0] <= slot <= entry[1]:
                port = entry[2][1]
                index = self.ports.index(port)
                return port, self.procs[index].pid
        raise RuntimeError("slot not served")

    def close(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)


def rto(host: str, port: int, key: str, kill) -> float:
    """Writes `key` (and others) through a RedisCluster client; calls `kill`; returns the time
    from the kill to the first acknowledged write of `key` sent after it."""
    client = RedisCluster(host=host, port=port, socket_timeout=1, socket_connect_timeout=1)
    client.set(key, "0")
    killed_at = [None]
    acked_after = [None]
    stop = threading.Event()

    def writer():
        deadline = time.monotonic() + WRITE_SECONDS_MAX
        n = 0
        while not stop.is_set() and time.monotonic() < deadline:
            sent = time.monotonic()
            try:
                client.set(key, str(n))
                if killed_at[0] is not None and sent > killed_at[0]:
                    acked_after[0] = time.monotonic()
                    return
            except Exception:  # noqa: BLE001 - writes fail during the switch; not acked
                time.sleep(0.001)
            n += 1

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    time.sleep(0.3)
    killed_at[0] = time.monotonic()
    kill()
    thread.join(timeout=WRITE_SECONDS_MAX + 5)
    stop.set()
    client.close()
    if acked_after[0] is None:
        raise RuntimeError("no write acknowledged after the kill")
    return acked_after[0] - killed_at[0]


def ferrocache_trial(fc: Ferrocache, ec, n: int) -> tuple[float, float]:
    group_id = f"bench-{n}"
    t0 = time.monotonic()
    ec.create_replication_group(
        ReplicationGroupId=group_id, ReplicationGroupDescription="bench",
        NumNodeGroups=3, ReplicasPerNodeGroup=2, AutomaticFailoverEnabled=True,
        CacheNodeType="cache.t3.micro")
    group = wait_group_available(ec, group_id, timeout=120, poll=0.01)
    create_s = time.monotonic() - t0
    host = group["ConfigurationEndpoint"]["Address"]
    slots = group["NodeGroups"][1]["Slots"].split("-")
    key = key_in_slot_range(int(slots[0]), int(slots[1]))
    probe = redis.Redis(host=host, socket_timeout=2)
    primary_id = None
    for entry in probe.execute_command("CLUSTER", "SLOTS"):
        if entry[0] <= int(slots[0]) <= entry[1]:
            address = entry[2][0].decode() if isinstance(entry[2][0], bytes) else entry[2][0]
            for member in group["MemberClusters"]:
                node = ec.describe_cache_clusters(CacheClusterId=member, ShowCacheNodeInfo=True)
                if node["CacheClusters"][0]["CacheNodes"][0]["Endpoint"]["Address"] == address:
                    primary_id = member
    probe.close()
    pid = node_pids(fc.data_dir)[primary_id]
    failover_s = rto(host, 6379, key, lambda: os.kill(pid, signal.SIGKILL))
    ec.delete_replication_group(ReplicationGroupId=group_id)

    def gone():
        try:
            ec.describe_replication_groups(ReplicationGroupId=group_id)
            return False
        except ec.exceptions.ReplicationGroupNotFoundFault:
            return True
    wait_until(gone, timeout=60, what=f"{group_id} deleted")
    return create_s, failover_s


def reference_trial() -> tuple[float, float]:
    ref = Reference()
    try:
        create_s = ref.start()
        key = key_in_slot_range(5462, 10922)
        slot = key_slot(key.encode())
        _, pid = ref.primary_of(slot)
        failover_s = rto("127.0.0.1", ref.ports[0], key, lambda: os.kill(pid, signal.SIGKILL))
        return create_s, failover_s
    finally:
        ref.close()


def main() -> int:
    results = {"ferrocache": [], "reference": []}
    fc = Ferrocache(binary=os.environ["FERROCACHE_BIN"])
    fc.start()
    try:
        ec = fc.client()
        for n in range(TRIALS):
            results["reference"].append(reference_trial())
            results["ferrocache"].append(ferrocache_trial(fc, ec, n))
            print(f"trial {n + 1}: ferrocache create {results['ferrocache'][-1][0]:.2f} s, "
                  f"RTO {results['ferrocache'][-1][1] * 1000:.0f} ms; reference create "
                  f"{results['reference'][-1][0]:.2f} s, RTO "
                  f"{results['reference'][-1][1] * 1000:.0f} ms", flush=True)
    finally:
        fc.close()
    med = {k: (statistics.median(c for c, _ in v), statistics.median(r for _, r in v))
           for k, v in results.items()}
    load = os.getloadavg()[0]
    print(f"\nbench/cluster.sh: 3 shards × 3 nodes, {TRIALS} trials (median), load {load:.1f}")
    print("| | Ferrocache | redis-cli --cluster by hand | ratio |")
    print("|---|---:|---:|---:|")
    print(f"| create → every slot served | {med['ferrocache'][0]:.2f} s | "
          f"{med['reference'][0]:.2f} s | {med['ferrocache'][0] / med['reference'][0]:.2f} |")
    print(f"| SIGKILL of a shard's primary → first acked write | "
          f"{med['ferrocache'][1] * 1000:.0f} ms | {med['reference'][1] * 1000:.0f} ms | "
          f"{med['ferrocache'][1] / med['reference'][1]:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
