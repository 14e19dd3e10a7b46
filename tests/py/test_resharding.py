"""Online resharding (`ModifyReplicationGroupShardConfiguration`): shards added, removed and
rebalanced while a client keeps writing and reading through the configuration endpoint; every
key is checked afterwards, one by one, in the shard that owns its slot."""

import threading
import time

import pytest

from harness import error_code, wait_group_available, wait_until
from test_cluster_mode import cluster_client, create_cluster_group, load_keys, shard_primaries

KEYS = 3000





def check_every_key(ec, group, expected):
    """Every key reads back through the cluster client, and each lives on the primary of the
    shard whose slots hold it (and nowhere else)."""
    client = cluster_client(group)
    shards = []
    try:
        names = sorted(expected)
        for start in range(0, len(names), 500):
            batch = names[start:start + 500]
            values = client.mget_nonatomic(batch)
            wrong = [k for k, v in zip(batch, values) if v != expected[k].encode()]
            assert not wrong, f"{len(wrong)} keys wrong or lost, e.g. {wrong[:5]}"
        shards = shard_primaries(ec, group)
        assert len(shards) == len(group["NodeGroups"])
        total = 0
        for _, conn, ranges in shards:
            total += conn.dbsize()
        assert total == len(expected), f"{total} keys on the primaries, {len(expected)} expected"
        for name in names[:300]:
            slot = client.keyslot(name)
            owners = [sid for sid, _, ranges in shards
                      if any(a <= slot <= b for a, b in ranges)]
            assert len(owners) == 1
            # Any node's keys count, owned slot or not: a key left behind would show here.
            holder = [sid for sid, conn, _ in shards
                      if conn.execute_command("CLUSTER", "COUNTKEYSINSLOT", slot) > 0]
            assert holder == owners, (name, slot, holder, owners)
    finally:
        client.close()
        for _, conn, _ in shards:
            conn.close()


class Load:
    """A client writing new keys and reading old ones through the configuration endpoint
    while the shards change; it records every acknowledged write and every error."""

    def __init__(self, group, expected):
        self.group = group
        self.client = cluster_client(group)
        self.expected = expected
        self.written = {}
        self.errors = []
        # redis-py's own bug while a cluster shrinks or rebalances: its slot table briefly
        # names no node for a slot and a command fails inside the client with an
        # AttributeError on None (redis/redis-py#2432, #3835) before anything is sent. Kept
        # apart from the errors the nodes give; the client is made again and the load goes on.
        self.client_bugs = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        n = 0
        names = sorted(self.expected)
        deadline = time.monotonic() + 300
        while not self.stop.is_set() and time.monotonic() < deadline and n < 200_000:
            key = f"live:{n}"
            try:
                self.client.set(key, str(n))
                self.written[key] = str(n)
                probe = names[n % len(names)]
                value = self.client.get(probe)
                if value != self.expected[probe].encode():
                    self.errors.append(f"read {probe}: {value!r}")
            except AttributeError as e:
                if "'NoneType' object has no attribute" not in str(e):
                    raise
                self.client_bugs.append(repr(e))
                self.client.close()
                self.client = cluster_client(self.group)
            except Exception as e:  # noqa: BLE001 - every client-visible error is recorded
                self.errors.append(repr(e))
            n += 1

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=30)
        self.client.close()


def wait_resharded(ec, group_id, shards, timeout=300):
    seen = []

    def check():
        group = ec.describe_replication_groups(ReplicationGroupId=group_id)["ReplicationGroups"][0]
        pending = group.get("PendingModifiedValues", {}).get("Resharding")
        if pending:
            seen.append(pending["SlotMigration"]["ProgressPercentage"])
        if group["Status"] == "available" and len(group["NodeGroups"]) == shards:
            return group
        return None
    group = wait_until(check, timeout=timeout, poll=0.1, what=f"{group_id} resharded")
    return group, seen


# Goal: resharding 3 → 4 → 2 shards under a write and read load loses no key: the group reads
# `modifying` with Resharding.SlotMigration.ProgressPercentage meanwhile, ends `available` with
# the shards asked for and even slots, and every key (loaded before, or acknowledged during)
# reads back and lives in the shard owning its slot. Method: 3 shards x 1 replica, 3000 keys,
# a client thread writing and reading through the configuration endpoint, NodeGroupCount=4
# then NodeGroupCount=2 with NodeGroupsToRemove, a key-by-key check after each.
def test_reshard_3_to_4_to_2_under_load(ec):
    create_cluster_group(ec, "rs", replicas=1)
    group = wait_group_available(ec, "rs", timeout=180)
    expected = {f"key:{i}": f"value:{i}" for i in range(KEYS)}
    load_keys(group, expected, batch=500)

    with Load(group, expected) as load:
        answer = ec.modify_replication_group_shard_configuration(
            ReplicationGroupId="rs", NodeGroupCount=4, ApplyImmediately=True)["ReplicationGroup"]
        assert answer["Status"] == "modifying"
        assert "Resharding" in answer["PendingModifiedValues"]
        group, progress = wait_resharded(ec, "rs", 4)
    assert not load.errors, load.errors[:10]
    assert progress, "ProgressPercentage was shown while slots moved"
    assert [s["NodeGroupId"] for s in group["NodeGroups"]] == ["0001", "0002", "0003", "0004"]
    sizes = [sum(int(b) - int(a) + 1 for a, b in (r.split("-") for r in s["Slots"].split(",")))
             for s in group["NodeGroups"]]
    assert sizes == [4096] * 4
    assert all(len(s["NodeGroupMembers"]) == 2 for s in group["NodeGroups"])
    expected.update(load.written)
    check_every_key(ec, group, expected)

    with Load(group, expected) as load:
        ec.modify_replication_group_shard_configuration(
            ReplicationGroupId="rs", NodeGroupCount=2, ApplyImmediately=True,
            NodeGroupsToRemove=["0002", "0004"])
        group, _ = wait_resharded(ec, "rs", 2)
    assert not load.errors, load.errors[:10]
    assert [s["NodeGroupId"] for s in group["NodeGroups"]] == ["0001", "0003"]
    assert sorted(group["MemberClusters"]) == [
        "rs-0001-001", "rs-0001-002", "rs-0003-001", "rs-0003-002"]
    expected.update(load.written)
    check_every_key(ec, group, expected)


# Goal: the request rules answer as AWS does: rebalancing an even group is "Nothing to do",
# shrinking without naming shards is refused, unknown shards are NodeGroupNotFound, and a group
# without cluster mode cannot be resharded; nothing changes. Method: each call on a 2-shard group.
def test_reshard_refusals(ec):
    create_cluster_group(ec, "rr", shards=2, replicas=0)
    wait_group_available(ec, "rr", timeout=180)
    with pytest.raises(ec.exceptions.ClientError) as err:
        ec.modify_replication_group_shard_configuration(
            ReplicationGroupId="rr", NodeGroupCount=2, ApplyImmediately=True)
    assert error_code(err) == ("InvalidReplicationGroupState", 400)
    assert "uniformly distributed. Nothing to do." in str(err.value)
    with pytest.raises(ec.exceptions.ClientError) as err:
        ec.modify_replication_group_shard_configuration(
            ReplicationGroupId="rr", NodeGroupCount=1, ApplyImmediately=True)
    assert error_code(err)[0] == "InvalidParameterCombination"
    with pytest.raises(ec.exceptions.ClientError) as err:
        ec.modify_replication_group_shard_configuration(
            ReplicationGroupId="rr", NodeGroupCount=1, ApplyImmediately=True,
            NodeGroupsToRemove=["0007"])
    assert error_code(err) == ("NodeGroupNotFoundFault", 404)
    with pytest.raises(ec.exceptions.ClientError) as err:
        ec.modify_replication_group_shard_configuration(
            ReplicationGroupId="rr", NodeGroupCount=3, ApplyImmediately=False)
    assert error_code(err)[0] == "InvalidParameterValue"
    group = ec.describe_replication_groups(ReplicationGroupId="rr")["ReplicationGroups"][0]
    assert group["Status"] == "available" and len(group["NodeGroups"]) == 2


# Goal: killing Ferrocache in the middle of a resharding and starting it again finishes the
# resharding with every key intact and none duplicated: the slots interrupted mid-way are moved
# again from where the cluster says they are. Method: 3 shards, 20000 keys, NodeGroupCount=4,
# SIGKILL Ferrocache once ProgressPercentage shows slots moved, start it on the same data dir,
# wait for `available` with 4 shards, check every key and the key count of every primary.
def test_reshard_survives_a_controller_crash(fc, ec):
    create_cluster_group(ec, "rc", replicas=0)
    group = wait_group_available(ec, "rc", timeout=180)
    expected = {f"k:{i}": str(i) for i in range(20000)}
    load_keys(group, expected)

    ec.modify_replication_group_shard_configuration(
        ReplicationGroupId="rc", NodeGroupCount=4, ApplyImmediately=True)

    def mid_way():
        g = ec.describe_replication_groups(ReplicationGroupId="rc")["ReplicationGroups"][0]
        pending = g.get("PendingModifiedValues", {}).get("Resharding")
        if g["Status"] == "available":
            raise AssertionError("the resharding finished before the crash could be injected")
        return pending and 0 < pending["SlotMigration"]["ProgressPercentage"] < 100
    wait_until(mid_way, timeout=180, poll=0.02, what="slots moving")
    fc.kill9()
    fc.start()
    group, _ = wait_resharded(ec, "rc", 4)
    check_every_key(ec, group, expected)


# Goal: the shard-count changes Terraform makes work through the aws CLI as written: growing
# sends only NodeGroupCount, shrinking also NodeGroupsToRemove with the highest ids, and the
# CLI's replication-group-available waiter returns once the resharding is done.
# Method: a 2-shard group; modify-replication-group-shard-configuration to 3, wait, then back
# to 2 removing 0003, wait; the shard ids and the slot split read back each time.
def test_reshard_with_the_cli_as_terraform_does(fc, ec):
    import json

    create_cluster_group(ec, "tfr", shards=2, replicas=0)
    wait_group_available(ec, "tfr", timeout=180)
    fc.aws("elasticache", "modify-replication-group-shard-configuration",
           "--replication-group-id", "tfr", "--node-group-count", "3", "--apply-immediately")
    fc.aws("elasticache", "wait", "replication-group-available", "--replication-group-id", "tfr")
    group = json.loads(fc.aws("elasticache", "describe-replication-groups",
                              "--replication-group-id", "tfr").stdout)["ReplicationGroups"][0]
    assert group["Status"] == "available"
    assert [g["NodeGroupId"] for g in group["NodeGroups"]] == ["0001", "0002", "0003"]
    fc.aws("elasticache", "modify-replication-group-shard-configuration",
           "--replication-group-id", "tfr", "--node-group-count", "2",
           "--node-groups-to-remove", "0003", "--apply-immediately")
    fc.aws("elasticache", "wait", "replication-group-available", "--replication-group-id", "tfr")
    group = json.loads(fc.aws("elasticache", "describe-replication-groups",
                              "--replication-group-id", "tfr").stdout)["ReplicationGroups"][0]
    assert [g["NodeGroupId"] for g in group["NodeGroups"]] == ["0001", "0002"]
    assert [g["Slots"] for g in group["NodeGroups"]] == ["0-8191", "8192-16383"]


# Goal: a primary dying in the middle of a resharding loses no key, whether it gives slots (its
# replica takes over with the keys not yet moved, and the moves go on from it) or receives them
# (the new shard's replica takes over with the keys imported so far); every key ends in the
# shard owning its slot. Method: 3 shards x 1 replica, 20000 keys, NodeGroupCount=4; once slots
# are moving, SIGKILL the primary of shard 0001 (a source) or of the new shard 0004 (the
# target); wait for the group to read `available` with 4 shards, check every key.
@pytest.mark.parametrize("victim_shard", ["0001", "0004"])
def test_reshard_survives_a_primary_failure(fc, ec, victim_shard):
    import os
    import signal

    from harness import node_pids

    create_cluster_group(ec, "rf", replicas=1)
    group = wait_group_available(ec, "rf", timeout=180)
    expected = {f"f:{i}": str(i) for i in range(20000)}
    load_keys(group, expected)
    ec.modify_replication_group_shard_configuration(
        ReplicationGroupId="rf", NodeGroupCount=4, ApplyImmediately=True)

    def moving():
        g = ec.describe_replication_groups(ReplicationGroupId="rf")["ReplicationGroups"][0]
        if g["Status"] == "available":
            raise AssertionError("the resharding finished before the failure could be injected")
        pending = g.get("PendingModifiedValues", {}).get("Resharding")
        return pending and pending["SlotMigration"]["ProgressPercentage"] > 0
    wait_until(moving, timeout=180, poll=0.02, what="slots moving")
    # Members start as `<id>-<shard>-001` primaries; nothing has failed over yet.
    os.kill(node_pids(fc.data_dir)[f"rf-{victim_shard}-001"], signal.SIGKILL)
    group, _ = wait_resharded(ec, "rf", 4, timeout=300)
    check_every_key(ec, group, expected)
