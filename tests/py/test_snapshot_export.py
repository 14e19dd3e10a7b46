"""Export and import through an S3-compatible object store (`ferrocache up --s3-endpoint`):
`copy-snapshot --target-bucket` writes `<target>-0001.rdb` (and `<target>-manifest.json`), and
`--snapshot-arns arn:aws:s3:::bucket/key.rdb` seeds a new group or cluster from such an object
— including an RDB written by a plain redis-server (`redis-cli --rdb`, as the Terraform module's
migration section does). The store is `moto_server` (PyPI `moto[server]`), one per test on a
free loopback port, stopped by its pid."""

import hashlib
import json
import signal
import subprocess
import tempfile
import urllib.request
from pathlib import Path

import boto3
import pytest

from harness import Ferrocache, free_port, redis_cli, wait_until

REGION = "us-east-1"
BUCKET = "ferrocache-exports"
KEYS = 40


@pytest.fixture
def store():
    """A moto_server on a free 127.0.0.1 port; yields its URL."""
    port = free_port()
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(port)],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"

    def up():
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=1).close()
            return True
        except OSError:
            assert proc.poll() is None, "moto_server exited"
            return False

    try:
        wait_until(up, timeout=60, poll=0.1, what="moto_server answering")
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def s3(url: str):
    return boto3.client("s3", endpoint_url=url, region_name=REGION,
                        aws_access_key_id="test", aws_secret_access_key="test")


def started(monkeypatch, request, *extra: str) -> Ferrocache:
    """`ferrocache up` with test credentials in its environment and `extra` arguments."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    fc = Ferrocache(extra_args=list(extra))
    request.addfinalizer(fc.close)
    fc.start()
    return fc


def text(fc, *args: str, check: bool = True):
    return fc.aws("elasticache", *args, "--region", REGION, "--output", "text",
                  check=check)


def snapshot_status(fc, name: str) -> str:
    return text(fc, "describe-snapshots", "--snapshot-name", name,
                "--query", "Snapshots[0].SnapshotStatus").stdout.strip()


def cluster_status(fc, cluster: str) -> str:
    return text(fc, "describe-cache-clusters", "--cache-cluster-id", cluster,
                "--query", "CacheClusters[0].CacheClusterStatus").stdout.strip()


def group_status(fc, group: str) -> str:
    return text(fc, "describe-replication-groups", "--replication-group-id", group,
                "--query", "ReplicationGroups[0].Status").stdout.strip()


def cluster_address(fc, cluster: str) -> str:
    return text(fc, "describe-cache-clusters", "--cache-cluster-id", cluster,
                "--show-cache-node-info",
                "--query", "CacheClusters[0].CacheNodes[0].Endpoint.Address").stdout.strip()


def primary_address(fc, group: str) -> str:
    return text(fc, "describe-replication-groups", "--replication-group-id", group,
                "--query", "ReplicationGroups[0].NodeGroups[0].PrimaryEndpoint.Address"
                ).stdout.strip()


def messages(fc, source: str, source_type: str) -> list[str]:
    out = fc.aws("elasticache", "describe-events", "--source-identifier", source,
                 "--source-type", source_type, "--duration", "120", "--region", REGION,
                 "--output", "json").stdout
    return [e["Message"] for e in json.loads(out)["Events"]]


def source_with_snapshot(fc, cluster: str, snapshot: str) -> dict[str, str]:
    """A one-node cluster holding KEYS keys, and an `available` snapshot of it."""
    fc.aws("elasticache", "create-cache-cluster", "--cache-cluster-id", cluster,
           "--engine", "redis", "--cache-node-type", "cache.t3.micro",
           "--num-cache-nodes", "1", "--region", REGION)
    wait_until(lambda: cluster_status(fc, cluster) == "available", timeout=120, poll=0.2,
               what=f"{cluster} available")
    address = cluster_address(fc, cluster)
    data = {f"key:{i}": f"value-{i}" for i in range(KEYS)}
    for k, v in data.items():
        assert redis_cli(address, "SET", k, v).stdout.strip() == "OK"
    fc.aws("elasticache", "create-snapshot", "--cache-cluster-id", cluster,
           "--snapshot-name", snapshot, "--region", REGION)
    wait_until(lambda: snapshot_status(fc, snapshot) == "available", timeout=120, poll=0.2,
               what=f"{snapshot} available")
    return data


def assert_holds(address: str, data: dict[str, str]):
    assert redis_cli(address, "DBSIZE").stdout.strip() == str(len(data))
    for k, v in data.items():
        assert redis_cli(address, "GET", k).stdout.strip() == v, k


# Goal: an export writes the snapshot's exact RDB bytes as `<target>-0001.rdb` (and a manifest
# naming that object with the same SHA-256); the snapshot reads `copying` at most until the
# upload is done and is `available` again after; a missing bucket and a name already taken in the
# bucket get ElastiCache's errors and change nothing; a new group seeded from the exported
# object (SnapshotArns) holds every key and value, with the restore events. Method: a 40-key
# cluster, snapshot, export, compare bytes with the snapshot's file on disk, then restore.
def test_export_then_import_round_trip(store, monkeypatch, request):
    fc = started(monkeypatch, request, "--s3-endpoint", store)
    data = source_with_snapshot(fc, "exsrc", "nightly")
    s3(store).create_bucket(Bucket=BUCKET)

    missing = text(fc, "copy-snapshot", "--source-snapshot-name", "nightly",
                   "--target-snapshot-name", "nightly-export", "--target-bucket", "nosuch",
                   check=False)
    assert missing.returncode != 0
    assert "InvalidParameterValue" in missing.stderr, missing.stderr
    assert "The S3 bucket nosuch does not exist." in missing.stderr, missing.stderr
    assert snapshot_status(fc, "nightly") == "available"

    text(fc, "copy-snapshot", "--source-snapshot-name", "nightly",
         "--target-snapshot-name", "nightly-export", "--target-bucket", BUCKET)
    wait_until(lambda: snapshot_status(fc, "nightly") == "available", timeout=60, poll=0.1,
               what="export done")
    exported = s3(store).get_object(Bucket=BUCKET, Key="nightly-export-0001.rdb")["Body"].read()
    on_disk = Path(fc.data_dir, "snapshots", REGION, "nightly", "dump.rdb").read_bytes()
    assert exported == on_disk
    manifest = json.loads(s3(store).get_object(
        Bucket=BUCKET, Key="nightly-export-manifest.json")["Body"].read())
    assert manifest["snapshot_name"] == "nightly-export"
    assert manifest["files"][0]["name"] == "nightly-export-0001.rdb"
    assert manifest["files"][0]["sha256"] == hashlib.sha256(exported).hexdigest()
    assert manifest["key_count"] == KEYS
    assert ("Snapshot 'nightly' exported to S3 bucket ferrocache-exports as "
            "nightly-export-0001.rdb") in messages(fc, "exsrc", "cache-cluster")

    again = text(fc, "copy-snapshot", "--source-snapshot-name", "nightly",
                 "--target-snapshot-name", "nightly-export", "--target-bucket", BUCKET,
                 check=False)
    assert again.returncode != 0
    assert ("The S3 bucket ferrocache-exports already contains an object with key "
            "nightly-export-0001.rdb.") in again.stderr, again.stderr

    arn = f"arn:aws:s3:::{BUCKET}/nightly-export-0001.rdb"
    fc.aws("elasticache", "create-replication-group", "--replication-group-id", "imported",
           "--replication-group-description", "from S3", "--engine", "redis",
           "--cache-node-type", "cache.t3.micro", "--num-cache-clusters", "2",
           "--snapshot-arns", arn, "--region", REGION)
    wait_until(lambda: group_status(fc, "imported") == "available", timeout=120, poll=0.2,
               what="imported available")
    assert_holds(primary_address(fc, "imported"), data)
    on_cluster = messages(fc, "imported-001", "cache-cluster")
    assert "Restore from snapshot succeeded for node group 0001" in on_cluster, on_cluster
    assert (f"Restore loaded {KEYS} keys from {arn} (an RDB object has no manifest to verify "
            "against)") in on_cluster, on_cluster


# Goal: an RDB written by a plain redis-server (`redis-cli --rdb`, the Terraform module's
# migration path) seeds a cache cluster through SnapshotArns with every key; an object that is
# no RDB fails its group with `restore-failed` and AWS's event, never an empty `available` one;
# a missing object fails the same way. Method: a redis-server we start on a free port, 30 keys,
# --rdb to a file, upload with boto3, create-cache-cluster --snapshot-arns; then junk bytes.
def plain_redis_rdb(request, tmp_path, data) -> Path:
    """An RDB file holding `data`, written by a plain redis-server we start on a free port (and
    stop) with `redis-cli --rdb`."""
    port = free_port()
    server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                               "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    request.addfinalizer(lambda: (server.kill(), server.wait()))
    wait_until(lambda: redis_cli("127.0.0.1", "PING", port=port).stdout.strip() == "PONG",
               timeout=30, poll=0.05, what="redis-server up")
    load = "".join(f"SET {k} {v}\n" for k, v in data.items())
    loaded = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port)], input=load,
                            capture_output=True, text=True, timeout=60)
    assert loaded.stdout.split() == ["OK"] * len(data), loaded.stdout[:200]
    rdb = tmp_path / "plain.rdb"
    dumped = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port), "--rdb", str(rdb)],
                            capture_output=True, text=True, timeout=30)
    assert dumped.returncode == 0, dumped.stderr
    return rdb


def test_plain_redis_rdb_and_bad_objects(store, monkeypatch, request, tmp_path):
    fc = started(monkeypatch, request, "--s3-endpoint", store)
    data = {f"plain:{i}": f"v{i}" for i in range(30)}
    rdb = plain_redis_rdb(request, tmp_path, data)
    client = s3(store)
    client.create_bucket(Bucket=BUCKET)
    client.upload_file(str(rdb), BUCKET, "migrate/plain.rdb")

    fc.aws("elasticache", "create-cache-cluster", "--cache-cluster-id", "migrated",
           "--engine", "redis", "--cache-node-type", "cache.t3.micro", "--num-cache-nodes", "1",
           "--snapshot-arns", f"arn:aws:s3:::{BUCKET}/migrate/plain.rdb", "--region", REGION)
    wait_until(lambda: cluster_status(fc, "migrated") == "available", timeout=120, poll=0.2,
               what="migrated available")
    assert_holds(cluster_address(fc, "migrated"), data)

    client.put_object(Bucket=BUCKET, Key="junk.rdb", Body=b"this is not an RDB file\n" * 10)
    for group, key in [("junked", "junk.rdb"), ("absent", "no/such.rdb")]:
        arn = f"arn:aws:s3:::{BUCKET}/{key}"
        fc.aws("elasticache", "create-replication-group", "--replication-group-id", group,
               "--replication-group-description", "bad object", "--engine", "redis",
               "--cache-node-type", "cache.t3.micro", "--num-cache-clusters", "1",
               "--snapshot-arns", arn, "--region", REGION)
        wait_until(lambda: group_status(fc, group) == "restore-failed", timeout=120, poll=0.2,
                   what=f"{group} restore-failed")
        assert f"Restore from {arn} failed for node 0001" in messages(
            fc, f"{group}-001", "cache-cluster")


# Goal: an unreachable object store is a clear error at the call (the snapshot stays
# `available` and intact); without --s3-endpoint, export and SnapshotArns are refused with a
# clear InvalidParameterValue. Method: --s3-endpoint at a free port nobody listens on; then an
# instance without the flag.
def test_unreachable_or_missing_store(monkeypatch, request):
    dead = f"http://127.0.0.1:{free_port()}"
    fc = started(monkeypatch, request, "--s3-endpoint", dead)
    source_with_snapshot(fc, "unsrc", "kept")
    before = Path(fc.data_dir, "snapshots", REGION, "kept", "dump.rdb").read_bytes()
    failed = text(fc, "copy-snapshot", "--source-snapshot-name", "kept",
                  "--target-snapshot-name", "kept-export", "--target-bucket", BUCKET,
                  check=False)
    assert failed.returncode != 0
    assert "InvalidParameterValue" in failed.stderr, failed.stderr
    assert f"the object store at {dead} cannot be reached" in failed.stderr, failed.stderr
    assert snapshot_status(fc, "kept") == "available"
    assert Path(fc.data_dir, "snapshots", REGION, "kept", "dump.rdb").read_bytes() == before
    fc.close()

    plain = started(monkeypatch, request)
    source_with_snapshot(plain, "nosrc", "local")
    refused = text(plain, "copy-snapshot", "--source-snapshot-name", "local",
                   "--target-snapshot-name", "local-export", "--target-bucket", BUCKET,
                   check=False)
    assert "TargetBucket needs an object store" in refused.stderr, refused.stderr
    seeded = plain.aws("elasticache", "create-cache-cluster", "--cache-cluster-id", "seeded",
                       "--engine", "redis", "--cache-node-type", "cache.t3.micro",
                       "--num-cache-nodes", "1", "--snapshot-arns",
                       f"arn:aws:s3:::{BUCKET}/x.rdb", "--region", REGION, check=False)
    assert seeded.returncode != 0
    assert "InvalidParameterValue" in seeded.stderr, seeded.stderr
    assert "has no object store" in seeded.stderr, seeded.stderr
