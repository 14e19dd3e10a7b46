"""Snapshots as the restoration guide (shared/reference/elasticache-restoration-guide.md) takes
them: Phase 1-2 commands verbatim (ids aside) with the aws CLI against `ferrocache up`, the
source reading `snapshotting` while the save runs, the files on disk, and delete-snapshot."""

import hashlib
import json
import os
import signal
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from harness import client_error_code, redis_cli, wait_until

REGION = "us-east-1"
CLUSTER_ID = "test-redis-b0607058"
SNAPSHOT_NAME = "redis-restore-snapshot-20250908-221412"
KEYS = 100
# Per-key pause of the engine's save (microseconds), so the save lasts long enough for the
# test to find and freeze the saving child; the test never depends on how long it takes.
SAVE_DELAY_US = 10000


def describe_json(fc, *args: str):
    return json.loads(fc.aws("elasticache", *args, "--region", REGION, "--output", "json").stdout)


def saving_child(parent_pid: int) -> int | None:
    """The pid of a child process of `parent_pid` (redis-server forks one per save)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the command name (which may hold spaces) start with state, ppid.
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == parent_pid:
            return int(entry.name)
    return None


def snapshot_status(fc, name: str) -> str:
    return fc.aws("elasticache", "describe-snapshots", "--snapshot-name", name,
                  "--query", "Snapshots[0].SnapshotStatus", "--output", "text",
                  "--region", REGION).stdout.strip()


# Goal: the guide's Phase 1-2 (identify the group, pick MemberClusters[0], check it is
# available, create-snapshot, poll describe-snapshots until available) works verbatim; while the
# save runs the cluster and its group read `snapshotting` and a second snapshot is refused with
# InvalidCacheClusterState; the snapshot's files hold the RDB with the manifest's SHA-256 and key
# count; the success event is recorded; delete-snapshot removes it. Method: a 2-node group with
# 100 keys; the primary's save is slowed (rdb-key-save-delay) and its saving child frozen with
# SIGSTOP while the statuses are checked, then continued.
def test_restoration_guide_phase_1_2(fc):
    fc.aws("elasticache", "create-replication-group",
           "--replication-group-id", CLUSTER_ID,
           "--replication-group-description", "restore drill source",
           "--engine", "redis", "--engine-version", "7.0",
           "--cache-node-type", "cache.t3.micro", "--num-cache-clusters", "2",
           "--region", REGION)
    fc.aws("elasticache", "wait", "replication-group-available",
           "--replication-group-id", CLUSTER_ID, "--region", REGION)

    # Phase 1: identify the source.
    table = fc.aws("elasticache", "describe-replication-groups",
                   "--query", "ReplicationGroups[*].[ReplicationGroupId,Status,CacheNodeType]",
                   "--output", "table", "--region", REGION).stdout
    assert CLUSTER_ID in table and "available" in table
    group = describe_json(fc, "describe-replication-groups", "--replication-group-id", CLUSTER_ID)
    group = group["ReplicationGroups"][0]
    primary = group["NodeGroups"][0]["PrimaryEndpoint"]["Address"]
    for i in range(KEYS):
        assert redis_cli(primary, "SET", f"key:{i}", f"value-{i}").stdout.strip() == "OK"

    # Phase 2: the member cache cluster, available, then create-snapshot.
    cache_cluster_id = fc.aws("elasticache", "describe-replication-groups",
                              "--replication-group-id", CLUSTER_ID,
                              "--query", "ReplicationGroups[0].MemberClusters[0]",
                              "--output", "text", "--region", REGION).stdout.strip()
    assert cache_cluster_id == f"{CLUSTER_ID}-001"
    status = fc.aws("elasticache", "describe-cache-clusters",
                    "--cache-cluster-id", cache_cluster_id,
                    "--query", "CacheClusters[0].CacheClusterStatus",
                    "--output", "text", "--region", REGION).stdout.strip()
    assert status == "available"

    node_pid = fc.node_pids()[cache_cluster_id]
    assert fc.admin_command(primary, "CONFIG", "SET", "rdb-key-save-delay",
                            str(SAVE_DELAY_US)) == b"OK"
    created = describe_json(fc, "create-snapshot", "--cache-cluster-id", cache_cluster_id,
                            "--snapshot-name", SNAPSHOT_NAME)["Snapshot"]
    assert created["SnapshotStatus"] == "creating"
    assert created["SnapshotSource"] == "manual"
    assert created["CacheClusterId"] == cache_cluster_id

    child = wait_until(lambda: saving_child(node_pid), timeout=60, poll=0.005,
                       what="the node's saving child")
    os.kill(child, signal.SIGSTOP)
    try:
        assert snapshot_status(fc, SNAPSHOT_NAME) == "creating"
        status = fc.aws("elasticache", "describe-cache-clusters",
                        "--cache-cluster-id", cache_cluster_id,
                        "--query", "CacheClusters[0].CacheClusterStatus",
                        "--output", "text", "--region", REGION).stdout.strip()
        assert status == "snapshotting"
        group_status = fc.aws("elasticache", "describe-replication-groups",
                              "--replication-group-id", CLUSTER_ID,
                              "--query", "ReplicationGroups[0].Status",
                              "--output", "text", "--region", REGION).stdout.strip()
        assert group_status == "snapshotting"
        second = fc.aws("elasticache", "create-snapshot", "--cache-cluster-id", cache_cluster_id,
                        "--snapshot-name", "second-snapshot", "--region", REGION, check=False)
        assert second.returncode != 0
        assert "InvalidCacheClusterState" in second.stderr, second.stderr
    finally:
        os.kill(child, signal.SIGCONT)

    # Phase 3: poll until available (bounded).
    wait_until(lambda: snapshot_status(fc, SNAPSHOT_NAME) == "available", timeout=120, poll=0.2,
               what="snapshot available")
    fc.admin_command(primary, "CONFIG", "SET", "rdb-key-save-delay", "0")
    details = describe_json(fc, "describe-snapshots", "--snapshot-name", SNAPSHOT_NAME)
    snap = details["Snapshots"][0]
    assert snap["SnapshotStatus"] == "available"
    assert snap["CacheClusterId"] == cache_cluster_id
    assert snap["ARN"] == f"arn:aws:elasticache:{REGION}:123456789012:snapshot:{SNAPSHOT_NAME}"
    assert snap["NodeSnapshots"][0]["CacheSize"].endswith(" MB")
    status = fc.aws("elasticache", "describe-cache-clusters",
                    "--cache-cluster-id", cache_cluster_id,
                    "--query", "CacheClusters[0].CacheClusterStatus",
                    "--output", "text", "--region", REGION).stdout.strip()
    assert status == "available"

    # The files: the RDB and a manifest that vouches for it.
    snapshot_dir = Path(fc.data_dir) / "snapshots" / REGION / SNAPSHOT_NAME
    manifest = json.loads((snapshot_dir / "manifest.json").read_text())
    rdb = (snapshot_dir / "dump.rdb").read_bytes()
    assert rdb.startswith(b"REDIS")
    assert manifest["files"][0]["sha256"] == hashlib.sha256(rdb).hexdigest()
    assert manifest["size_bytes"] == len(rdb)
    assert manifest["key_count"] == KEYS
    assert manifest["replication_group_id"] == CLUSTER_ID
    assert manifest["cache_cluster_id"] == cache_cluster_id
    assert manifest["node_type"] == "cache.t3.micro"
    assert manifest["engine_version"].startswith("7.0")
    assert not [p for p in snapshot_dir.parent.iterdir() if p.name.startswith(".")]

    events = describe_json(fc, "describe-events", "--source-type", "cache-cluster",
                           "--source-identifier", cache_cluster_id)["Events"]
    expected = (f"Snapshot succeeded for snapshot with ID '{SNAPSHOT_NAME}' "
                f"of replication group with ID '{CLUSTER_ID}'")
    assert expected in [e["Message"] for e in events]

    deleted = describe_json(fc, "delete-snapshot", "--snapshot-name", SNAPSHOT_NAME)
    assert deleted["Snapshot"]["SnapshotStatus"] == "deleting"

    def gone():
        proc = fc.aws("elasticache", "describe-snapshots", "--snapshot-name", SNAPSHOT_NAME,
                      "--region", REGION, check=False)
        return proc.returncode != 0 and "SnapshotNotFoundFault" in proc.stderr
    wait_until(gone, timeout=60, poll=0.2, what="snapshot deleted")
    assert not snapshot_dir.exists()


# Goal: a snapshot of a group is taken from a healthy replica (the primary's latency is left
# alone) and completes; the group reads `available` afterwards. Method: boto3 create_snapshot by
# ReplicationGroupId on a 2-node group, poll until available, read NodeSnapshots.
def test_group_snapshot_from_replica(fc, ec):
    ec.create_replication_group(ReplicationGroupId="src", ReplicationGroupDescription="s",
                                Engine="redis", CacheNodeType="cache.t3.micro",
                                NumCacheClusters=2)
    wait_until(lambda: ec.describe_replication_groups(ReplicationGroupId="src")
               ["ReplicationGroups"][0]["Status"] == "available", timeout=120,
               what="group available")
    snap = ec.create_snapshot(ReplicationGroupId="src", SnapshotName="src-backup")["Snapshot"]
    assert snap["ReplicationGroupId"] == "src"
    assert snap["NodeSnapshots"][0]["CacheClusterId"] == "src-002"

    def available():
        s = ec.describe_snapshots(SnapshotName="src-backup")["Snapshots"][0]
        assert s["SnapshotStatus"] in ("creating", "available"), s
        return s if s["SnapshotStatus"] == "available" else None
    done = wait_until(available, timeout=120, poll=0.1, what="snapshot available")
    assert done["NodeSnapshots"][0]["CacheSize"].endswith(" MB")
    assert ec.describe_replication_groups(ReplicationGroupId="src")[
        "ReplicationGroups"][0]["Status"] == "available"
    listed = ec.describe_snapshots(ReplicationGroupId="src", ShowNodeGroupConfig=True)
    assert [s["SnapshotName"] for s in listed["Snapshots"]] == ["src-backup"]

    with pytest.raises(ClientError) as excinfo:
        ec.create_snapshot(ReplicationGroupId="src", SnapshotName="src-backup")
    assert client_error_code(excinfo.value) == ("SnapshotAlreadyExistsFault", 400)


def aws_text(fc, *args: str, check: bool = True) -> str:
    return fc.aws("elasticache", *args, "--region", REGION, "--output", "text",
                  check=check).stdout.strip()


def make_group(fc, group_id: str, *extra: str) -> str:
    """Creates a 2-node group (optionally restored with `extra`), waits until it is available
    and returns its primary endpoint's address."""
    fc.aws("elasticache", "create-replication-group", "--replication-group-id", group_id,
           "--replication-group-description", group_id, "--engine", "redis",
           "--cache-node-type", "cache.t3.micro", "--num-cache-clusters", "2", *extra,
           "--region", REGION)
    wait_until(lambda: aws_text(fc, "describe-replication-groups", "--replication-group-id",
                                group_id, "--query", "ReplicationGroups[0].Status")
               == "available", timeout=120, poll=0.2, what=f"{group_id} available")
    return aws_text(fc, "describe-replication-groups", "--replication-group-id", group_id,
                    "--query", "ReplicationGroups[0].NodeGroups[0].PrimaryEndpoint.Address")


def fill(primary: str, prefix: str, count: int):
    for i in range(count):
        assert redis_cli(primary, "SET", f"{prefix}:{i}", f"value-{i}").stdout.strip() == "OK"
    # Every write reached the replica a group snapshot is taken from.
    assert redis_cli(primary, "WAIT", "1", "5000").stdout.strip() == "1"


def assert_keys(primary: str, prefix: str, count: int):
    assert redis_cli(primary, "DBSIZE").stdout.strip() == str(count)
    for i in range(count):
        assert redis_cli(primary, "GET", f"{prefix}:{i}").stdout.strip() == f"value-{i}"


# Goal: copy-snapshot with the aws CLI makes a second `available` snapshot under the new name
# (creating first), and a group restored from the copy holds the source's keys; export to a
# bucket is refused without an object store (no --s3-endpoint). Method: a 2-node group with 30 keys, create-snapshot,
# copy-snapshot, poll, create-replication-group --snapshot-name <copy>, read every key.
def test_copy_snapshot_then_restore_from_the_copy(fc):
    primary = make_group(fc, "copysrc")
    fill(primary, "copy", 30)
    fc.aws("elasticache", "create-snapshot", "--replication-group-id", "copysrc",
           "--snapshot-name", "copysrc-backup", "--region", REGION)
    wait_until(lambda: snapshot_status(fc, "copysrc-backup") == "available", timeout=120,
               poll=0.2, what="snapshot available")

    copied = describe_json(fc, "copy-snapshot", "--source-snapshot-name", "copysrc-backup",
                           "--target-snapshot-name", "copysrc-copy")["Snapshot"]
    assert copied["SnapshotName"] == "copysrc-copy"
    assert copied["SnapshotStatus"] in ("creating", "available")
    assert copied["ReplicationGroupId"] == "copysrc"
    wait_until(lambda: snapshot_status(fc, "copysrc-copy") == "available", timeout=120,
               poll=0.2, what="copy available")

    failed = fc.aws("elasticache", "copy-snapshot", "--source-snapshot-name", "copysrc-backup",
                    "--target-snapshot-name", "copysrc-copy", "--region", REGION, check=False)
    assert failed.returncode != 0 and "SnapshotAlreadyExistsFault" in failed.stderr
    failed = fc.aws("elasticache", "copy-snapshot", "--source-snapshot-name", "copysrc-backup",
                    "--target-snapshot-name", "exported", "--target-bucket", "my-bucket",
                    "--region", REGION, check=False)
    assert failed.returncode != 0 and "InvalidParameterValue" in failed.stderr
    assert "TargetBucket needs an object store" in failed.stderr  # no --s3-endpoint here

    restored = make_group(fc, "fromcopy", "--snapshot-name", "copysrc-copy")
    assert_keys(restored, "copy", 30)


# Goal: delete-replication-group --final-snapshot-identifier reads `deleting`, the group is then
# gone, and the final snapshot is `available` with the group's keys (a group restored from it
# holds them all); a name already taken is SnapshotAlreadyExistsFault with the group untouched.
# Method: a 2-node group with 40 keys; delete with a taken name, then with a new one; poll until
# the group is not found; restore the final snapshot and read every key.
def test_delete_group_with_final_snapshot(fc):
    primary = make_group(fc, "finalsrc")
    fill(primary, "final", 40)
    fc.aws("elasticache", "create-snapshot", "--replication-group-id", "finalsrc",
           "--snapshot-name", "finalsrc-taken", "--region", REGION)
    wait_until(lambda: snapshot_status(fc, "finalsrc-taken") == "available", timeout=120,
               poll=0.2, what="snapshot available")
    wait_until(lambda: aws_text(fc, "describe-replication-groups", "--replication-group-id",
                                "finalsrc", "--query", "ReplicationGroups[0].Status")
               == "available", timeout=60, poll=0.2, what="group available again")

    failed = fc.aws("elasticache", "delete-replication-group", "--replication-group-id",
                    "finalsrc", "--final-snapshot-identifier", "finalsrc-taken",
                    "--region", REGION, check=False)
    assert failed.returncode != 0 and "SnapshotAlreadyExistsFault" in failed.stderr
    assert aws_text(fc, "describe-replication-groups", "--replication-group-id", "finalsrc",
                    "--query", "ReplicationGroups[0].Status") == "available"

    deleted = describe_json(fc, "delete-replication-group", "--replication-group-id",
                            "finalsrc", "--final-snapshot-identifier", "finalsrc-final")
    assert deleted["ReplicationGroup"]["Status"] == "deleting"

    def gone():
        r = fc.aws("elasticache", "describe-replication-groups", "--replication-group-id",
                   "finalsrc", "--region", REGION, check=False)
        return r.returncode != 0 and "ReplicationGroupNotFoundFault" in r.stderr
    wait_until(gone, timeout=120, poll=0.2, what="group deleted")
    assert snapshot_status(fc, "finalsrc-final") == "available"
    snap = describe_json(fc, "describe-snapshots", "--snapshot-name", "finalsrc-final")[
        "Snapshots"][0]
    assert snap["ReplicationGroupId"] == "finalsrc"
    assert snap["NodeSnapshots"][0]["CacheClusterId"] == "finalsrc-001"  # the primary, as AWS

    restored = make_group(fc, "fromfinal", "--snapshot-name", "finalsrc-final")
    assert_keys(restored, "final", 40)
