"""Encryption at rest (AtRestEncryptionEnabled, KmsKeyId) for real: an encrypted group keeps no
plaintext RDB on disk — replication is diskless, a clean stop seals the saved file, a start
unseals it and removes the plaintext once loaded — its snapshots are stored sealed, a restore
unseals them, and without the key a restore fails with `restore-failed` and an event.

Method: boto3 against `ferrocache up`; the files under --data-dir are read directly; values
carry a marker string that must never appear in a file at rest."""

import os
from pathlib import Path

import redis

from harness import wait_group_available, wait_until

MARKER = "plaintext-marker-7f3a"
KEYS = 200
MAGIC = b"FCAR1\n"


def create(ec, group_id, **extra):
    ec.create_replication_group(
        ReplicationGroupId=group_id, ReplicationGroupDescription="at rest",
        CacheNodeType="cache.t3.micro", Engine="redis", NumCacheClusters=2, **extra)
    wait_group_available(ec, group_id)
    return ec.describe_replication_groups(ReplicationGroupId=group_id)["ReplicationGroups"][0]


def fill(group):
    primary = group["NodeGroups"][0]["PrimaryEndpoint"]["Address"]
    client = redis.Redis(host=primary, port=6379)
    for i in range(KEYS):
        client.set(f"k{i}", f"{MARKER}-{i}")
    client.close()


def check_keys(group):
    primary = group["NodeGroups"][0]["PrimaryEndpoint"]["Address"]
    client = redis.Redis(host=primary, port=6379)
    assert client.dbsize() == KEYS
    assert client.get("k7") == f"{MARKER}-7".encode()
    client.close()


def files_at_rest(fc, member_ids):
    """Every file in the members' node directories (outside `replaced/`)."""
    found = []
    for member in member_ids:
        node_dir = Path(fc.data_dir) / "nodes" / member
        found += [p for p in node_dir.rglob("*") if p.is_file() and "replaced" not in p.parts]
    return found


def assert_no_plaintext(paths):
    for path in paths:
        data = path.read_bytes()
        assert MARKER.encode() not in data, f"plaintext value in {path}"
        assert not (path.name.endswith(".rdb") and data.startswith(b"REDIS")), path


def wait_snapshot(ec, name):
    wait_until(lambda: ec.describe_snapshots(SnapshotName=name)["Snapshots"][0]
               ["SnapshotStatus"] == "available", timeout=120, poll=0.1, what=name)


# Goal: the whole at-rest life of an encrypted group — create, write, snapshot, clean restart,
# restore — leaves no plaintext data file at rest, and every key survives each step.
def test_encrypted_group_keeps_no_plaintext_at_rest(fc, ec):
    key_arn = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    group = create(ec, "sealed", AtRestEncryptionEnabled=True, KmsKeyId=key_arn)
    assert group["AtRestEncryptionEnabled"] is True
    assert group["KmsKeyId"] == key_arn
    members = group["MemberClusters"]
    for member in members:
        conf = (Path(fc.data_dir) / "nodes" / member / "redis.conf").read_text()
        assert "repl-diskless-sync yes" in conf and "repl-diskless-load swapdb" in conf
    fill(group)
    # The replica's full sync at creation and any later one write no file.
    assert_no_plaintext(files_at_rest(fc, members))

    ec.create_snapshot(ReplicationGroupId="sealed", SnapshotName="sealed-snap")
    wait_snapshot(ec, "sealed-snap")
    snap_file = Path(fc.data_dir) / "snapshots" / "us-east-1" / "sealed-snap" / "dump.rdb"
    assert snap_file.read_bytes().startswith(MAGIC)
    assert_no_plaintext([snap_file])
    assert_no_plaintext(files_at_rest(fc, members))

    # A clean stop saves and seals; nothing readable is left while Ferrocache is down.
    fc.stop()
    sealed = [p for p in files_at_rest(fc, members) if p.name == "dump.rdb.sealed"]
    assert len(sealed) == len(members), files_at_rest(fc, members)
    assert not [p for p in files_at_rest(fc, members) if p.name == "dump.rdb"]
    assert_no_plaintext(files_at_rest(fc, members))
    key_files = list((Path(fc.data_dir) / "keys").iterdir())
    assert key_files and all(os.stat(k).st_mode & 0o777 == 0o600 for k in key_files)
    fc.start()
    wait_group_available(ec, "sealed")
    group = ec.describe_replication_groups(ReplicationGroupId="sealed")["ReplicationGroups"][0]
    # The group read `available` across the restart; wait for the nodes' processes to be
    # back and loaded (the plaintext of the unsealed file is removed right after).
    wait_until(lambda: all(
        (Path(fc.data_dir) / "nodes" / m / "redis.pid").exists()
        and not (Path(fc.data_dir) / "nodes" / m / "dump.rdb").exists()
        and not (Path(fc.data_dir) / "nodes" / m / ".dump.rdb.unsealing").exists()
        for m in members), timeout=60, what="nodes started again")
    wait_until(lambda: check_keys(group) is None, timeout=60, what="keys back")
    assert_no_plaintext(files_at_rest(fc, members))

    # A restore unseals the snapshot into the new nodes, and they seal their own data again.
    ec.create_replication_group(
        ReplicationGroupId="unsealed", ReplicationGroupDescription="restored",
        CacheNodeType="cache.t3.micro", Engine="redis", NumCacheClusters=1,
        SnapshotName="sealed-snap", AtRestEncryptionEnabled=True)
    wait_group_available(ec, "unsealed")
    restored = ec.describe_replication_groups(ReplicationGroupId="unsealed")["ReplicationGroups"][0]
    check_keys(restored)
    assert_no_plaintext(files_at_rest(fc, restored["MemberClusters"]))


# Goal: a snapshot of an encrypted group cannot be restored without its key: the new group
# reads `restore-failed` with an event naming the missing key, and never starts empty.
def test_restore_without_the_key_fails(fc, ec):
    group = create(ec, "keyed", AtRestEncryptionEnabled=True)
    fill(group)
    ec.create_snapshot(ReplicationGroupId="keyed", SnapshotName="keyed-snap")
    wait_snapshot(ec, "keyed-snap")
    keys_dir = Path(fc.data_dir) / "keys"
    aside = Path(fc.data_dir) / "keys-aside"
    keys_dir.rename(aside)
    try:
        ec.create_replication_group(
            ReplicationGroupId="keyless", ReplicationGroupDescription="no key",
            CacheNodeType="cache.t3.micro", Engine="redis", NumCacheClusters=1,
            SnapshotName="keyed-snap")

        def failed():
            g = ec.describe_replication_groups(ReplicationGroupId="keyless")
            return g["ReplicationGroups"][0]["Status"] == "restore-failed"
        wait_until(failed, timeout=60, poll=0.1, what="restore-failed")
        events = [e["Message"] for source, kind in [("keyless", "replication-group"),
                                                      ("keyless-001", "cache-cluster")]
                  for e in ec.describe_events(SourceIdentifier=source, SourceType=kind,
                                              Duration=60)["Events"]]
        assert any("encryption key alias/aws/elasticache is not available" in m
                   for m in events), events
    finally:
        if keys_dir.exists():
            import shutil
            shutil.rmtree(keys_dir)
        aside.rename(keys_dir)


# Goal: without AtRestEncryptionEnabled nothing changes (plain RDB, disk-based sync), and a
# KmsKeyId alone is refused.
def test_unencrypted_groups_and_bad_requests(fc, ec):
    group = create(ec, "plain")
    assert group["AtRestEncryptionEnabled"] is False and "KmsKeyId" not in group
    conf = (Path(fc.data_dir) / "nodes" / group["MemberClusters"][0] / "redis.conf").read_text()
    assert "repl-diskless-sync no" in conf
    import pytest
    from botocore.exceptions import ClientError
    with pytest.raises(ClientError) as e:
        ec.create_replication_group(
            ReplicationGroupId="bad", ReplicationGroupDescription="x",
            CacheNodeType="cache.t3.micro", KmsKeyId="alias/mine")
    assert e.value.response["Error"]["Code"] == "InvalidParameterCombination"
