"""Restore as the restoration guide (shared/reference/elasticache-restoration-guide.md) runs it:
Phase 1-5 with the aws CLI against `ferrocache up` — snapshot a group, create a new group with
--snapshot-name, watch the restore events, compare key counts and values as
verify_restoration.sh does — plus the guide's SnapshotArns mistake and corrupt snapshot files."""

import hashlib
import json
from pathlib import Path

from harness import redis_cli, wait_until

REGION = "us-east-1"
ORIGINAL_CLUSTER = "test-redis-b0607058"
RESTORED_CLUSTER = "test-redis-new-67006b9f"
SNAPSHOT_NAME = "redis-restore-snapshot-20250908-221412"
KEYS = 50


def aws_json(fc, *args: str):
    return json.loads(fc.aws("elasticache", *args, "--region", REGION, "--output", "json").stdout)


def aws_text(fc, *args: str, check: bool = True):
    return fc.aws("elasticache", *args, "--region", REGION, "--output", "text",
                  check=check).stdout.strip()


def group_status(fc, group_id: str) -> str:
    return aws_text(fc, "describe-replication-groups", "--replication-group-id", group_id,
                    "--query", "ReplicationGroups[0].Status")


def wait_group(fc, group_id: str, status: str):
    wait_until(lambda: group_status(fc, group_id) == status, timeout=120, poll=0.2,
               what=f"{group_id} {status}")


def primary_of(fc, group_id: str) -> str:
    return aws_text(fc, "describe-replication-groups", "--replication-group-id", group_id,
                    "--query", "ReplicationGroups[0].NodeGroups[0].PrimaryEndpoint.Address")


def snapshot_from(fc, source_args: list[str], name: str):
    fc.aws("elasticache", "create-snapshot", *source_args, "--snapshot-name", name,
           "--region", REGION)
    wait_until(lambda: aws_text(fc, "describe-snapshots", "--snapshot-name", name,
                                "--query", "Snapshots[0].SnapshotStatus") == "available",
               timeout=120, poll=0.2, what="snapshot available")


def messages(fc, source_id: str, source_type: str) -> list[str]:
    """Event messages of a source, oldest first (DescribeEvents answers newest first)."""
    events = aws_json(fc, "describe-events", "--source-identifier", source_id,
                      "--source-type", source_type, "--duration", "120")["Events"]
    return [e["Message"] for e in reversed(events)]


def create_source_cluster(fc):
    """create-cache-cluster `src` (one node) and wait until it is available."""
    fc.aws("elasticache", "create-cache-cluster", "--cache-cluster-id", "src",
           "--engine", "redis", "--cache-node-type", "cache.t3.micro", "--num-cache-nodes", "1",
           "--region", REGION)
    wait_until(lambda: aws_text(fc, "describe-cache-clusters", "--cache-cluster-id", "src",
                                "--query", "CacheClusters[0].CacheClusterStatus") == "available",
               timeout=120, poll=0.2, what="source available")


def in_order(found: list[str], expected: list[str]) -> bool:
    positions = [found.index(m) if m in found else -1 for m in expected]
    return -1 not in positions and positions == sorted(positions)


# Goal: the guide's Phase 1-5 run verbatim (ids aside): the restored group becomes available
# with the source's keys and values on its primary and its replica, the events read "Restore
# from snapshot is in progress …", "… succeeded …", "Cache cluster created", "Replication group
# … created" in that order on `<id>-001` and on the group, the verified-restore event names the
# key count, and verify_restoration.sh's key-count comparison matches. Method: a 2-node source
# with 50 keys, create-snapshot from MemberClusters[0], create-replication-group --snapshot-name,
# bounded polls, then the guide's queries.
def test_restoration_guide_phase_1_to_5(fc):
    fc.aws("elasticache", "create-replication-group",
           "--replication-group-id", ORIGINAL_CLUSTER,
           "--replication-group-description", "restore drill source",
           "--engine", "redis", "--engine-version", "7.0",
           "--cache-node-type", "cache.t3.micro", "--num-cache-clusters", "2",
           "--region", REGION)
    wait_group(fc, ORIGINAL_CLUSTER, "available")
    original = primary_of(fc, ORIGINAL_CLUSTER)
    for i in range(KEYS):
        assert redis_cli(original, "SET", f"key:{i}", f"value-{i}").stdout.strip() == "OK"

    # Phase 1-3: MemberClusters[0], create-snapshot, wait until available.
    member = aws_text(fc, "describe-replication-groups", "--replication-group-id",
                      ORIGINAL_CLUSTER, "--query", "ReplicationGroups[0].MemberClusters[0]")
    snapshot_from(fc, ["--cache-cluster-id", member], SNAPSHOT_NAME)

    # The guide's Issue 1: an ElastiCache snapshot ARN in SnapshotArns.
    arn = f"arn:aws:elasticache:{REGION}:123456789012:snapshot:{SNAPSHOT_NAME}"
    wrong = fc.aws("elasticache", "create-replication-group",
                   "--replication-group-id", RESTORED_CLUSTER,
                   "--replication-group-description", "restored",
                   "--cache-node-type", "cache.t3.micro", "--engine", "redis",
                   "--snapshot-arns", arn, "--region", REGION, check=False)
    assert wrong.returncode != 0
    assert "InvalidParameterValue" in wrong.stderr, wrong.stderr
    assert f"Must specify an object path for the S3 ARN: {arn}" in wrong.stderr, wrong.stderr

    # Phase 4-5: the fix — restore by name — and monitor.
    fc.aws("elasticache", "create-replication-group",
           "--replication-group-id", RESTORED_CLUSTER,
           "--replication-group-description", "restored from snapshot",
           "--engine", "redis", "--engine-version", "7.0",
           "--cache-node-type", "cache.t3.micro", "--num-cache-clusters", "2",
           "--snapshot-name", SNAPSHOT_NAME, "--region", REGION)
    wait_group(fc, RESTORED_CLUSTER, "available")

    in_progress = "Restore from snapshot is in progress for node group 0001"
    succeeded = "Restore from snapshot succeeded for node group 0001"
    on_cluster = messages(fc, f"{RESTORED_CLUSTER}-001", "cache-cluster")
    assert in_order(on_cluster, [in_progress, succeeded, "Cache cluster created"]), on_cluster
    on_group = messages(fc, RESTORED_CLUSTER, "replication-group")
    assert in_order(on_group, [in_progress, succeeded,
                               f"Replication group {RESTORED_CLUSTER} created"]), on_group
    verified = [m for m in on_cluster if m.startswith("Restore verified")]
    # The digest taken at the save's fork matches the restored dataset's (no writes ran
    # during the snapshot here, so the digest was taken).
    assert verified == [f"Restore verified: {KEYS} keys, digest matches"], on_cluster

    # verify_restoration.sh, step 3: the Restore events of <id>-001.
    listed = fc.aws("elasticache", "describe-events",
                    "--source-identifier", f"{RESTORED_CLUSTER}-001",
                    "--source-type", "cache-cluster", "--duration", "120",
                    "--query", "Events[?contains(Message, `Restore`)].[Date,Message]",
                    "--output", "text", "--region", REGION).stdout
    assert in_progress in listed and succeeded in listed, listed

    # Key counts and values, on the primary and (once synced) the replica.
    restored = primary_of(fc, RESTORED_CLUSTER)
    assert restored != original
    assert redis_cli(original, "DBSIZE").stdout.strip() == str(KEYS)
    assert redis_cli(restored, "DBSIZE").stdout.strip() == str(KEYS)
    for i in (0, KEYS // 2, KEYS - 1):
        assert redis_cli(restored, "GET", f"key:{i}").stdout.strip() == f"value-{i}"
    reader = aws_text(fc, "describe-replication-groups", "--replication-group-id",
                      RESTORED_CLUSTER, "--query",
                      "ReplicationGroups[0].NodeGroups[0].ReaderEndpoint.Address")
    wait_until(lambda: redis_cli(reader, "DBSIZE").stdout.strip() == str(KEYS), timeout=60,
               what="replica holds the restored keys")
    # The two groups are independent afterwards.
    redis_cli(restored, "SET", "only-in-restored", "1")
    assert redis_cli(original, "EXISTS", "only-in-restored").stdout.strip() == "0"


def corrupt(path: Path) -> bytes:
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    for i in range(middle, min(middle + 16, len(data) - 9)):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    return bytes(data)


# Goal: a snapshot whose RDB no longer matches its manifest's SHA-256 fails the restored group
# with status `restore-failed` and AWS's restore-failed event — never an `available` group
# without the data — and the group can be deleted. Method: snapshot a cache cluster, flip bytes
# of the stored dump.rdb, create-replication-group --snapshot-name, poll the status.
def test_corrupt_snapshot_fails_the_restore(fc):
    create_source_cluster(fc)
    snapshot_from(fc, ["--cache-cluster-id", "src"], "broken")
    corrupt(Path(fc.data_dir) / "snapshots" / REGION / "broken" / "dump.rdb")

    fc.aws("elasticache", "create-replication-group", "--replication-group-id", "bad",
           "--replication-group-description", "r", "--cache-node-type", "cache.t3.micro",
           "--engine", "redis", "--num-cache-clusters", "2", "--snapshot-name", "broken",
           "--region", REGION)
    wait_group(fc, "bad", "restore-failed")
    assert aws_text(fc, "describe-cache-clusters", "--cache-cluster-id", "bad-001",
                    "--query", "CacheClusters[0].CacheClusterStatus") == "restore-failed"
    on_cluster = messages(fc, "bad-001", "cache-cluster")
    assert "Restore from broken failed for node 0001" in on_cluster, on_cluster
    assert any("does not match the SHA-256" in m for m in on_cluster), on_cluster
    assert "Cache cluster created" not in on_cluster
    fc.aws("elasticache", "delete-replication-group", "--replication-group-id", "bad",
           "--region", REGION)


# Goal: an RDB the engine refuses to load (its manifest updated to match, so only redis-server
# can tell) fails a restored cache cluster with `restore-failed` and the event. Method: snapshot
# a cache cluster holding keys, corrupt the file and rewrite the manifest's digest,
# create-cache-cluster --snapshot-name, poll the status.
def test_rdb_the_engine_refuses_fails_the_restore(fc):
    create_source_cluster(fc)
    address = aws_json(fc, "describe-cache-clusters", "--cache-cluster-id", "src",
                       "--show-cache-node-info")["CacheClusters"][0]["CacheNodes"][0][
                           "Endpoint"]["Address"]
    for i in range(KEYS):
        redis_cli(address, "SET", f"key:{i}", "x" * 64)
    snapshot_from(fc, ["--cache-cluster-id", "src"], "unloadable")
    directory = Path(fc.data_dir) / "snapshots" / REGION / "unloadable"
    data = corrupt(directory / "dump.rdb")
    manifest = json.loads((directory / "manifest.json").read_text())
    manifest["files"][0]["sha256"] = hashlib.sha256(data).hexdigest()
    (directory / "manifest.json").write_text(json.dumps(manifest))

    fc.aws("elasticache", "create-cache-cluster", "--cache-cluster-id", "restored",
           "--engine", "redis", "--cache-node-type", "cache.t3.micro",
           "--snapshot-name", "unloadable", "--region", REGION)
    wait_until(lambda: aws_text(fc, "describe-cache-clusters", "--cache-cluster-id", "restored",
                                "--query", "CacheClusters[0].CacheClusterStatus")
               == "restore-failed", timeout=120, poll=0.2, what="restore-failed")
    on_cluster = messages(fc, "restored", "cache-cluster")
    assert "Restore from unloadable failed for node 0001" in on_cluster, on_cluster
    assert "Cache cluster created" not in on_cluster


# Goal: the dataset digest decides the verification: a snapshot whose recorded digest differs
# from what the restored primary holds gets "Restore verification failed: … differs", and a
# standalone source (a primary, no replica) gets its digest taken too. Method: snapshot a cache
# cluster with keys, change the digest in its manifest (the RDB and its SHA-256 untouched),
# restore, read the events.
def test_digest_mismatch_is_reported(fc):
    create_source_cluster(fc)
    address = aws_text(fc, "describe-cache-clusters", "--cache-cluster-id", "src",
                       "--show-cache-node-info",
                       "--query", "CacheClusters[0].CacheNodes[0].Endpoint.Address")
    for i in range(10):
        redis_cli(address, "SET", f"k{i}", "v")
    snapshot_from(fc, ["--cache-cluster-id", "src"], "digested")
    manifest_path = Path(fc.data_dir) / "snapshots" / REGION / "digested" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    assert len(manifest["digest"]) == 40, manifest
    manifest["digest"] = "0" * 39 + "1"
    manifest_path.write_text(json.dumps(manifest))

    fc.aws("elasticache", "create-cache-cluster", "--cache-cluster-id", "copy",
           "--engine", "redis", "--cache-node-type", "cache.t3.micro", "--num-cache-nodes", "1",
           "--snapshot-name", "digested", "--region", REGION)
    wait_until(lambda: aws_text(fc, "describe-cache-clusters", "--cache-cluster-id", "copy",
                                "--query", "CacheClusters[0].CacheClusterStatus") == "available",
               timeout=120, poll=0.2, what="copy available")
    on_cluster = messages(fc, "copy", "cache-cluster")
    failed = [m for m in on_cluster if m.startswith("Restore verification failed")]
    assert len(failed) == 1 and "differs from the snapshot's 0000" in failed[0], on_cluster
