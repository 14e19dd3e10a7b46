"""Ferrocache killed (SIGKILL) in the middle of a snapshot and in the middle of a restore, then
started again on the same data dir: the snapshot ends `available` with a file that matches its
manifest (never a corrupt `available` one), and the restored group ends `available` with every
key (never an empty `available` group).

Method: boto3 and redis-py against `ferrocache up`; the snapshot's save is slowed
(rdb-key-save-delay) and its saving child frozen while Ferrocache is killed; the restore is
killed right after the create call and again while its primary loads."""

import hashlib
import json
import os
import signal
from pathlib import Path

import pytest
import redis

from harness import wait_group_available, wait_until
from test_snapshots import saving_child

KEYS = 300


def fill(address):
    client = redis.Redis(host=address, socket_timeout=10)
    for i in range(KEYS):
        client.set(f"key:{i}", f"value-{i}")
    client.close()


def snapshot_status(ec, name):
    return ec.describe_snapshots(SnapshotName=name)["Snapshots"][0]["SnapshotStatus"]


def check_files(fc, name):
    snap_dir = Path(fc.data_dir) / "snapshots" / "us-east-1" / name
    manifest = json.loads((snap_dir / "manifest.json").read_text())
    for f in manifest["files"]:
        data = (snap_dir / f["name"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == f["sha256"]
        assert len(data) == f["size_bytes"]
    assert manifest["key_count"] == KEYS
    assert not list(snap_dir.parent.glob(f".{name}*")), "a temporary directory was left"


def slowly_saving_source(fc, ec):
    """Cache cluster `src` holding KEYS keys, its saves slowed to 10 ms a key; answers its
    address and its process id."""
    ec.create_cache_cluster(CacheClusterId="src", CacheNodeType="cache.t3.micro",
                            Engine="redis", NumCacheNodes=1)
    wait_until(lambda: ec.describe_cache_clusters(CacheClusterId="src")["CacheClusters"][0][
        "CacheClusterStatus"] == "available", timeout=120, what="source available")
    address = ec.describe_cache_clusters(CacheClusterId="src", ShowCacheNodeInfo=True)[
        "CacheClusters"][0]["CacheNodes"][0]["Endpoint"]["Address"]
    fill(address)
    fc.admin_command(address, "CONFIG", "SET", "rdb-key-save-delay", "10000")
    return address, fc.node_pids()["src"]


# Goal: a crash while the node saves leaves a snapshot that completes after the restart, with
# its file matching the manifest and every key restorable. Method: freeze the save's child,
# SIGKILL Ferrocache, let the child go, start Ferrocache, wait, restore, count keys.
def test_crash_during_a_snapshot(fc, ec):
    address, node_pid = slowly_saving_source(fc, ec)
    ec.create_snapshot(CacheClusterId="src", SnapshotName="mid-save")
    child = wait_until(lambda: saving_child(node_pid), timeout=60, poll=0.005,
                       what="the saving child")
    os.kill(child, signal.SIGSTOP)
    try:
        fc.kill9()
    finally:
        os.kill(child, signal.SIGCONT)
    fc.start()
    # The save goes on at its slowed pace (300 keys x 10 ms); speed it up once reachable.
    wait_until(lambda: fc.admin_command(address, "CONFIG", "SET", "rdb-key-save-delay", "0"),
               timeout=60, what="the endpoint back")
    wait_until(lambda: snapshot_status(ec, "mid-save") in ("available", "failed"), timeout=120,
               what="the snapshot settled")
    assert snapshot_status(ec, "mid-save") == "available"
    check_files(fc, "mid-save")

    ec.create_replication_group(ReplicationGroupId="back", ReplicationGroupDescription="b",
                                CacheNodeType="cache.t3.micro", NumCacheClusters=1,
                                SnapshotName="mid-save")
    group = wait_group_available(ec, "back")
    restored = redis.Redis(host=group["NodeGroups"][0]["PrimaryEndpoint"]["Address"])
    assert restored.dbsize() == KEYS
    assert restored.get("key:7") == b"value-7"


# Goal: a snapshot whose node restarts before its save is copied — here a clean restart of
# Ferrocache, which stops every node with a save of its own — ends `failed` with its cause,
# never completed later from the restarted node's data (saved at another moment), and the node
# keeps every key. Method: slow the save (rdb-key-save-delay), wait for the saving child,
# SIGTERM and start Ferrocache, wait for the snapshot to settle, read the events and DBSIZE.
def test_clean_restart_during_a_snapshot_fails_it(fc, ec):
    address, node_pid = slowly_saving_source(fc, ec)
    ec.create_snapshot(CacheClusterId="src", SnapshotName="restarted")
    wait_until(lambda: saving_child(node_pid), timeout=60, poll=0.005, what="the saving child")
    fc.restart()
    wait_until(lambda: snapshot_status(ec, "restarted") in ("available", "failed"), timeout=120,
               what="the snapshot settled")
    assert snapshot_status(ec, "restarted") == "failed"
    assert fc.node_pids()["src"] != node_pid, "the node was meant to restart"
    messages = [e["Message"] for e in ec.describe_events(
        SourceType="cache-cluster", SourceIdentifier="src", Duration=60)["Events"]]
    assert ("Snapshot failed for snapshot with ID 'restarted' of cache cluster with ID 'src'"
            in messages), messages
    assert any(m.startswith("Snapshot with ID 'restarted' failed: cache cluster src restarted")
               for m in messages), messages
    assert not list((Path(fc.data_dir) / "snapshots").rglob("*restarted*"))
    assert redis.Redis(host=address, socket_timeout=10).dbsize() == KEYS


# Goal: a crash right after a restore was accepted, and another while it runs, still end in an
# `available` group holding every key of the snapshot. Method: snapshot a group, restore,
# SIGKILL Ferrocache at once, start, SIGKILL again shortly after, start, wait, count keys.
@pytest.mark.parametrize("second_kill_after", [0.0, 0.2])
def test_crash_during_a_restore(fc, ec, second_kill_after):
    import time
    ec.create_replication_group(ReplicationGroupId="orig", ReplicationGroupDescription="o",
                                CacheNodeType="cache.t3.micro", NumCacheClusters=2)
    group = wait_group_available(ec, "orig")
    fill(group["NodeGroups"][0]["PrimaryEndpoint"]["Address"])
    ec.create_snapshot(ReplicationGroupId="orig", SnapshotName="base")
    wait_until(lambda: snapshot_status(ec, "base") == "available", timeout=120, what="snapshot")

    ec.create_replication_group(ReplicationGroupId="restored", ReplicationGroupDescription="r",
                                CacheNodeType="cache.t3.micro", NumCacheClusters=2,
                                SnapshotName="base")
    fc.kill9()
    fc.start()
    time.sleep(second_kill_after)
    fc.kill9()
    fc.start()
    group = wait_group_available(ec, "restored")
    primary = redis.Redis(host=group["NodeGroups"][0]["PrimaryEndpoint"]["Address"])
    assert primary.dbsize() == KEYS
    reader = redis.Redis(host=group["NodeGroups"][0]["ReaderEndpoint"]["Address"])
    wait_until(lambda: reader.dbsize() == KEYS, timeout=60, what="replica holds every key")
