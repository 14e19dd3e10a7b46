"""A full disk under the data directory: the control plane's store is never left wedged.
Ferrocache runs with its `--data-dir` on a small tmpfs that the test mounts (and removes)."""

import os
import shutil
import signal
import subprocess
import tempfile

import botocore.exceptions
import pytest
import redis

from harness import STORE, Ferrocache, client_error_code, wait_group_available, wait_until

TMPFS_SIZE = "48m"


@pytest.fixture
def small_disk():
    """A tmpfs of TMPFS_SIZE at a fresh directory; unmounted and removed afterwards."""
    where = tempfile.mkdtemp(prefix="fcfull")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs",
                              where], capture_output=True, text=True)
    if mounted.returncode != 0:
        os.rmdir(where)
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", where], capture_output=True)
        os.rmdir(where)


@pytest.fixture
def fc_on_small_disk(small_disk):
    """A started Ferrocache whose --data-dir is on the small tmpfs; closed afterwards."""
    fc = Ferrocache(data_dir=os.path.join(small_disk, "data"))
    try:
        fc.start()
        yield fc
    finally:
        fc.close()


def one_node_group(ec, group_id):
    """Creates a one-node replication group; answers it once available, and a client of its
    primary endpoint."""
    ec.create_replication_group(ReplicationGroupId=group_id, ReplicationGroupDescription="d",
                                NumCacheClusters=1)
    group = wait_group_available(ec, group_id)
    return group, primary_client(group)


def primary_client(group):
    endpoint = group["NodeGroups"][0]["PrimaryEndpoint"]
    return redis.Redis(host=endpoint["Address"], port=endpoint["Port"], socket_timeout=30)


def fill(path):
    """Writes zeros to `path` until the file system is full; returns the bytes written."""
    written = 0
    chunk = b"\0" * (1 << 20)
    with open(path, "wb", buffering=0) as f:
        while True:
            try:
                written += f.write(chunk)
            except OSError:
                break
        # The last bytes, down to the page: nothing is left for anyone.
        for size in (1 << 16, 1 << 12, 1):
            while True:
                try:
                    written += f.write(b"\0" * size)
                except OSError:
                    break
    return written


def reserve_path(fc):
    return os.path.join(fc.data_dir, "state.redb.reserve")


def create_groups_until(ec, prefix, done, limit=3000):
    """CreateCacheParameterGroup `prefix-N` until `done()` or a refusal (returned), at most
    `limit` calls."""
    for i in range(limit):
        if done():
            return None
        try:
            ec.create_cache_parameter_group(
                CacheParameterGroupName=f"{prefix}-{i}", CacheParameterGroupFamily="redis7",
                Description="d" * 200)
        except botocore.exceptions.ClientError as e:
            return e
    raise AssertionError(f"{limit} writes and still not done: the test proves nothing")


# Goal: with the data directory's file system full, the store first writes into its own
# reserve (given back to the file system), then — once that is used up too — a call that must
# write answers a clear error naming the cause (ServiceUnavailable, "no space left"), reads keep
# working, and once space is freed writes work again by themselves: the store is never left
# refusing everything (redb refuses all transactions after an I/O error until it is opened
# again). Method: a 48 MB tmpfs as --data-dir, a filler file until ENOSPC, parameter groups
# created until the reserve is gone (none refused), the filler grown to ENOSPC again, groups
# created until one is refused, a Describe, the filler removed, a create, a restart.
@pytest.mark.skipif(STORE == "etcd", reason="the store is in etcd, not on this disk (etcd's "
                    "own quota is its 'database space exceeded', a NoSpace like this one)")
def test_store_survives_a_full_disk(small_disk, fc_on_small_disk):
    fc = fc_on_small_disk
    ec = fc.client()
    ec.create_cache_parameter_group(CacheParameterGroupName="before",
                                    CacheParameterGroupFamily="redis7", Description="x")
    assert os.path.getsize(reserve_path(fc)) == 8 << 20
    filler = os.path.join(small_disk, "filler")
    assert fill(filler) > 0
    refused = create_groups_until(ec, "reserve",
                                  lambda: not os.path.exists(reserve_path(fc)))
    assert refused is None, f"refused while the reserve was there: {refused}"
    # The reserve's room is taken too.
    with open(filler, "ab", buffering=0) as more:
        fill_more(more)
    refusal = create_groups_until(ec, "full", lambda: False)
    assert client_error_code(refusal) == ("ServiceUnavailable", 503)
    message = refusal.response["Error"]["Message"]
    assert "no space left" in message and "data directory" in message, message
    # Reads keep working while the disk is full.
    names = [g["CacheParameterGroupName"] for g in ec.describe_cache_parameter_groups(
        MaxRecords=100)["CacheParameterGroups"]]
    assert "before" in names
    # Still full: still refused the same way, never an internal failure.
    with pytest.raises(botocore.exceptions.ClientError) as again:
        ec.create_cache_parameter_group(CacheParameterGroupName="still-full",
                                        CacheParameterGroupFamily="redis7",
                                        Description="d" * 200)
    assert client_error_code(again.value) == ("ServiceUnavailable", 503)

    os.remove(filler)
    ec.create_cache_parameter_group(CacheParameterGroupName="after",
                                    CacheParameterGroupFamily="redis7", Description="x")
    described = ec.describe_cache_parameter_groups(CacheParameterGroupName="after")
    assert described["CacheParameterGroups"][0]["CacheParameterGroupName"] == "after"
    # With room again, the reserve is written again after the next commit.
    assert os.path.getsize(reserve_path(fc)) == 8 << 20
    # The full disk's refusals were the only 5xx.
    assert all("503" in e or "ServiceUnavailable" in e for e in fc.server_errors), \
        fc.server_errors
    # And a restart finds every change that was acknowledged, none that was refused.
    fc.restart()
    names = {g["CacheParameterGroupName"] for g in ec.describe_cache_parameter_groups(
        MaxRecords=100)["CacheParameterGroups"]}
    assert {"before", "after"} <= names and "still-full" not in names


def fill_more(f):
    for size in (1 << 20, 1 << 16, 1 << 12, 1):
        while True:
            try:
                f.write(b"\0" * size)
            except OSError:
                break


# Goal: a failover works while the data directory is full: the shard's new epoch is written
# into the store's reserve, the replica is promoted and the primary endpoint reaches it. The
# full disk is announced on each cache cluster, and so is its end.
# Method: a 2-node group with automatic failover on a 48 MB tmpfs, 100 keys, a filler file
# until ENOSPC, SIGKILL of the primary; wait for AWS's "Failover … completed" event, then ROLE
# through the primary endpoint and a key read back; the low-space warning on both cache
# clusters, the filler removed, the all-clear, a restart.
def test_failover_while_the_disk_is_full(small_disk, fc_on_small_disk):
    fc = fc_on_small_disk
    ec = fc.client()
    ec.create_replication_group(ReplicationGroupId="full", ReplicationGroupDescription="d",
                                NumCacheClusters=2, AutomaticFailoverEnabled=True)
    group = wait_group_available(ec, "full")
    endpoint = group["NodeGroups"][0]["PrimaryEndpoint"]
    primary = redis.Redis(host=endpoint["Address"], port=endpoint["Port"], socket_timeout=5)
    primary.mset({f"k:{i}": i for i in range(100)})
    old = next(m["CacheClusterId"] for m in group["NodeGroups"][0]["NodeGroupMembers"]
               if m["CurrentRole"] == "primary")
    new = next(m for m in group["MemberClusters"] if m != old)
    wait_until(lambda: primary.info("replication").get("slave0", {}).get("offset", 0)
               >= primary.info("replication")["master_repl_offset"], timeout=30,
               what="replica caught up")
    filler = os.path.join(small_disk, "filler")
    assert fill(filler) > 0

    os.kill(fc.node_pids()[old], signal.SIGKILL)

    def completed():
        events = ec.describe_events(SourceIdentifier="full", SourceType="replication-group",
                                    Duration=60)["Events"]
        return any(e["Message"] == f"Failover from primary node {old} to replica node "
                   f"{new} completed" for e in events)
    wait_until(completed, timeout=60, what="failover completed on a full disk")
    after = redis.Redis(host=endpoint["Address"], port=endpoint["Port"], socket_timeout=5)
    wait_until(lambda: _role(after) == "master", timeout=30, what="endpoint on the new primary")
    assert after.get("k:42") == b"42"

    # The low-space warning on each cache cluster, and its all-clear once room is back.
    def event_on_each(prefix):
        return all(any(m.startswith(prefix) for m in _events(ec, "cache-cluster", member))
                   for member in group["MemberClusters"])
    wait_until(lambda: event_on_each("Low free space in Ferrocache's data directory"),
               timeout=30, what="the low-space warning")
    os.remove(filler)
    wait_until(lambda: event_on_each("Free space in Ferrocache's data directory"),
               timeout=30, what="the all-clear")
    # A restart keeps the failover that happened on the full disk: same primary, same keys.
    fc.restart()
    group = wait_group_available(ec, "full")
    assert [m["CacheClusterId"] for m in group["NodeGroups"][0]["NodeGroupMembers"]
            if m["CurrentRole"] == "primary"] == [new]
    after = redis.Redis(host=endpoint["Address"], port=endpoint["Port"], socket_timeout=5)
    wait_until(lambda: after.get("k:42") == b"42", timeout=30, what="the keys after a restart")


def _role(conn):
    try:
        role = conn.execute_command("ROLE")[0]
        return role.decode() if isinstance(role, bytes) else role
    except Exception:
        return None


KEYS = 40_000
VALUE_BYTES = 1024


def _events(ec, source_type, source_id):
    return [e["Message"] for e in ec.describe_events(
        SourceType=source_type, SourceIdentifier=source_id, Duration=60)["Events"]]


def _snapshot_status(ec, name):
    return ec.describe_snapshots(SnapshotName=name)["Snapshots"][0]["SnapshotStatus"]


# Goal: the issue's own sequence ends with every status true and no data lost. A snapshot that
# cannot be written on a full disk ends `failed` with AWS's event and one naming the cause, its
# partial files gone, the group back to `available` and still taking writes (a failed save must
# not turn the primary read-only: MISCONF); clean restarts keep the 40,000 keys — when the
# node's save at the stop does not fit (it keeps running, is adopted) and when it does (it
# loads its file) — and the interrupted snapshot is never completed later from other data.
# Method: --data-dir on a 48 MB tmpfs, a one-node group, 40,000 random 1 KB values through the
# primary endpoint, more while their RDB could still fit in the free space,
# CreateSnapshot, then two SIGTERM restarts, the second after deleting all but 15,000 keys.
def test_snapshot_on_a_full_disk_fails_and_restarts_keep_the_data(small_disk, fc_on_small_disk):
    fc = fc_on_small_disk
    ec = fc.client()
    group, cache = one_node_group(ec, "full")
    node = group["MemberClusters"][0]
    keys = 0
    # The 40,000 keys, and more while their RDB (random values do not compress) could
    # still fit in what is free: the save must not fit.
    while keys < KEYS or keys * VALUE_BYTES < shutil.disk_usage(small_disk).free + (2 << 20):
        assert keys < 3 * KEYS, "the disk keeps growing: the test proves nothing"
        write_random_values(cache, keys, 1000)
        keys += 1000
    assert cache.dbsize() == keys

    ec.create_snapshot(ReplicationGroupId="full", SnapshotName="s1")
    wait_until(lambda: _snapshot_status(ec, "s1") == "failed", timeout=120,
               what="the snapshot failed")
    messages = _events(ec, "cache-cluster", node)
    assert ("Snapshot failed for snapshot with ID 's1' of replication group with ID 'full'"
            in messages), messages
    cause = [m for m in messages if m.startswith("Snapshot with ID 's1' failed: ")]
    assert cause and "no space left on device" in cause[0].lower(), messages
    snapshots = os.path.join(fc.data_dir, "snapshots")
    leftovers = [os.path.join(d, f) for d, _, files in os.walk(snapshots) for f in files]
    assert leftovers == [], leftovers
    node_dir = os.path.join(fc.data_dir, "nodes", node)
    assert not [f for f in os.listdir(node_dir) if f.startswith("temp-")]
    assert wait_group_available(ec, "full")["Status"] == "available"
    cache.set("after-the-failed-save", "1")
    ec.create_cache_parameter_group(CacheParameterGroupName="writable",
                                    CacheParameterGroupFamily="redis7", Description="x")

    # A clean restart whose node save cannot fit: the node refuses to stop without its data
    # and keeps running; the next start adopts it.
    fc.restart()
    cache = primary_client(wait_group_available(ec, "full"))
    wait_until(lambda: cache.dbsize() == keys + 1, timeout=60, what="every key back")
    assert _snapshot_status(ec, "s1") == "failed"

    # A clean restart whose node save fits: the node stops, saved, and loads that file.
    for start in range(0, keys - 15_000, 1000):
        cache.delete(*[f"key:{i}" for i in range(start, start + 1000)])
    pid_before = fc.node_pids()[node]
    fc.restart()
    cache = primary_client(wait_group_available(ec, "full"))
    wait_until(lambda: cache.dbsize() == 15_000 + 1, timeout=60, what="the saved keys loaded")
    assert fc.node_pids()[node] != pid_before, "the node was meant to stop this time"
    assert cache.get("after-the-failed-save") == b"1"
    replaced = os.path.join(node_dir, "replaced")
    assert not os.path.isdir(replaced) or not os.listdir(replaced)
    assert _snapshot_status(ec, "s1") == "failed"
    # Room for a snapshot of what is left: it completes.
    ec.create_snapshot(ReplicationGroupId="full", SnapshotName="s2")
    wait_until(lambda: _snapshot_status(ec, "s2") == "available", timeout=120,
               what="a snapshot that fits")
    assert all("503" in e or "ServiceUnavailable" in e for e in fc.server_errors), \
        fc.server_errors


def write_random_values(cache, first, count):
    """SETs `key:<first>` … `key:<first + count - 1>` to random VALUE_BYTES values (which no
    RDB compresses)."""
    pipe = cache.pipeline(transaction=False)
    for i in range(first, first + count):
        pipe.set(f"key:{i}", os.urandom(VALUE_BYTES))
    pipe.execute()


# Goal: a data directory that cannot be written (here a read-only mount) stops `ferrocache up`
# at once with a message naming the directory and the cause, without changing anything; on
# the same directory writable again it starts with its state and data. Method: a group with a
# key, SIGTERM, remount read-only, start (expect exit 1 and the message), remount read-write,
# start and read the key back.
def test_read_only_data_directory_at_start(small_disk, fc_on_small_disk):
    fc = fc_on_small_disk
    ec = fc.client()
    _, cache = one_node_group(ec, "ro")
    cache.set("kept", "yes")
    fc.stop()
    subprocess.run(["mount", "-o", "remount,ro", small_disk], check=True)
    try:
        refused = subprocess.run(
            [fc.binary, "up", "--data-dir", fc.data_dir, "--listen", "127.0.0.1:1",
             "--endpoint-cidr", "127.255.255.0/30"],
            capture_output=True, text=True, timeout=60)
    finally:
        subprocess.run(["mount", "-o", "remount,rw", small_disk], check=True)
    assert refused.returncode == 1, refused
    assert "is not writable" in refused.stderr and fc.data_dir in refused.stderr, refused.stderr
    assert "Read-only file system" in refused.stderr, refused.stderr
    fc.start()
    assert primary_client(wait_group_available(ec, "ro")).get("kept") == b"yes"


# Goal: a restore that cannot fit is refused up front — before anything is written — with an
# error naming the room it needs and the room free, while one that fits is accepted: the seed
# takes no room (the primary's data file is linked to the snapshot's), only each replica's
# first sync does (about the snapshot's size twice). Method: a 6 MB snapshot on a 48 MB tmpfs,
# a filler leaving 4 MB free, CreateReplicationGroup from it with 1 replica (refused, 503,
# nothing created) and with none (available, every key).
def test_restore_refused_up_front_when_it_cannot_fit(small_disk, fc_on_small_disk):
    fc = fc_on_small_disk
    ec = fc.client()
    _, cache = one_node_group(ec, "src")
    write_random_values(cache, 0, 6000)
    ec.create_snapshot(ReplicationGroupId="src", SnapshotName="six")
    wait_until(lambda: _snapshot_status(ec, "six") == "available", timeout=120,
               what="the snapshot")
    with open(os.path.join(small_disk, "filler"), "wb") as filler:
        filler.write(b"\0" * (shutil.disk_usage(small_disk).free - (4 << 20)))

    with pytest.raises(botocore.exceptions.ClientError) as refused:
        ec.create_replication_group(ReplicationGroupId="two", ReplicationGroupDescription="d",
                                    NumCacheClusters=2, SnapshotName="six")
    assert client_error_code(refused.value) == ("ServiceUnavailable", 503)
    message = refused.value.response["Error"]["Message"]
    assert "Restoring snapshot six" in message and "are free" in message, message
    assert fc.data_dir in message, message
    with pytest.raises(botocore.exceptions.ClientError) as missing:
        ec.describe_replication_groups(ReplicationGroupId="two")
    assert client_error_code(missing.value)[0] == "ReplicationGroupNotFoundFault"

    ec.create_replication_group(ReplicationGroupId="one", ReplicationGroupDescription="d",
                                NumCacheClusters=1, SnapshotName="six")
    assert primary_client(wait_group_available(ec, "one")).dbsize() == 6000
