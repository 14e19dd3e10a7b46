"""A full disk under the data directory: the control plane's store is never left wedged.
Ferrocache runs with its `--data-dir` on a small tmpfs that the test mounts (and removes)."""

import os
import subprocess
import tempfile

import botocore.exceptions
import pytest

from harness import Ferrocache, client_error_code

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
# created until one is refused, a Describe, the filler removed, a create.
def test_store_survives_a_full_disk(small_disk):
    fc = Ferrocache(data_dir=os.path.join(small_disk, "data"))
    try:
        fc.start()
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
    finally:
        fc.close()


def fill_more(f):
    for size in (1 << 20, 1 << 16, 1 << 12, 1):
        while True:
            try:
                f.write(b"\0" * size)
            except OSError:
                break


# Goal: a failover works while the data directory is full: the shard's new epoch is written
# into the store's reserve, the replica is promoted and the primary endpoint reaches it.
# Method: a 2-node group with automatic failover on a 48 MB tmpfs, 100 keys, a filler file
# until ENOSPC, SIGKILL of the primary; wait for AWS's "Failover … completed" event, then ROLE
# through the primary endpoint and a key read back.
def test_failover_while_the_disk_is_full(small_disk):
    import signal

    import redis

    from harness import wait_group_available, wait_until

    fc = Ferrocache(data_dir=os.path.join(small_disk, "data"))
    try:
        fc.start()
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
    finally:
        fc.close()


def _role(conn):
    try:
        role = conn.execute_command("ROLE")[0]
        return role.decode() if isinstance(role, bytes) else role
    except Exception:
        return None
