"""Automatic failover and TestFailover: the primary endpoint keeps taking writes after the
primary dies or is frozen, acknowledged writes survive, the old primary comes back as a
replica, and the events tell the story in AWS's words."""

import os
import signal
import threading
import time

import botocore.exceptions
import pytest
import redis

from harness import wait_group_available, wait_until

WRITE_LOAD_SECONDS_MAX = 20.0


def members(ec, group_id):
    group = ec.describe_replication_groups(ReplicationGroupId=group_id)["ReplicationGroups"][0]
    return {m["CacheClusterId"]: m.get("CurrentRole")
            for m in group["NodeGroups"][0]["NodeGroupMembers"]}


def primary_of(ec, group_id):
    return next(cid for cid, role in members(ec, group_id).items() if role == "primary")


def group_messages(ec, group_id):
    events = ec.describe_events(SourceType="replication-group", SourceIdentifier=group_id)
    return [e["Message"] for e in events["Events"]]


class SequenceWriter:
    """Writes seq:N = N through an endpoint as fast as acknowledgements come, reconnecting on
    errors, and remembers every N that was acknowledged. Bounded in count and time."""

    def __init__(self, host, count_max=200_000):
        self.host = host
        self.count_max = count_max
        self.acked = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        deadline = time.monotonic() + WRITE_LOAD_SECONDS_MAX
        client = redis.Redis(host=self.host, socket_timeout=2, socket_connect_timeout=2)
        n = 0
        while not self.stop.is_set() and time.monotonic() < deadline and n < self.count_max:
            try:
                client.set(f"seq:{n}", n)
                self.acked.append(n)
                n += 1
            except redis.exceptions.RedisError:
                time.sleep(0.005)
                client = redis.Redis(host=self.host, socket_timeout=2, socket_connect_timeout=2)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=WRITE_LOAD_SECONDS_MAX + 5)


def missing_acked(host, acked):
    client = redis.Redis(host=host, socket_timeout=5)
    pipe = client.pipeline(transaction=False)
    for n in acked:
        pipe.exists(f"seq:{n}")
    return [n for n, present in zip(acked, pipe.execute()) if not present]


# Goal: with automatic failover, SIGKILL of the primary under a steady write load loses no
# acknowledged write; the primary endpoint takes writes again with no client change; a replica
# is primary, the old primary rejoins as a replica, and AWS's events are recorded.
# Method: a 3-node group, a writer thread on the primary endpoint, SIGKILL of the primary's
# redis-server by PID, writes continue until a bound; then check every acknowledged sequence
# number through the primary endpoint, the roles, connected_slaves and the events.
def test_sigkill_of_primary_fails_over_without_losing_acknowledged_writes(fc, ec):
    ec.create_replication_group(ReplicationGroupId="ha", ReplicationGroupDescription="ha",
                                CacheNodeType="cache.t3.micro", NumCacheClusters=3,
                                AutomaticFailoverEnabled=True, MultiAZEnabled=True)
    group = wait_group_available(ec, "ha")
    primary_address = group["NodeGroups"][0]["PrimaryEndpoint"]["Address"]
    old_primary = primary_of(ec, "ha")
    with SequenceWriter(primary_address) as writer:
        wait_until(lambda: len(writer.acked) > 200, timeout=10, what="writes flowing")
        os.kill(fc.node_pids()[old_primary], signal.SIGKILL)
        killed_at = len(writer.acked)
        wait_until(lambda: len(writer.acked) > killed_at + 200, timeout=15,
                   what="writes acknowledged again after the kill")
    assert missing_acked(primary_address, writer.acked) == []
    wait_until(lambda: primary_of(ec, "ha") != old_primary, timeout=10, what="new primary")
    new_primary = primary_of(ec, "ha")
    assert members(ec, "ha")[old_primary] == "replica"
    info = redis.Redis(host=primary_address).info("replication")
    assert info["role"] == "master"
    wait_until(lambda: redis.Redis(host=primary_address).info("replication")[
        "connected_slaves"] == 2, timeout=30, what="old primary rejoined as a replica")
    completed = f"Failover from primary node {old_primary} to replica node {new_primary} completed"
    assert completed in group_messages(ec, "ha")
    wait_until(lambda: "Finished recovery for cache nodes 0001" in [
        e["Message"] for e in ec.describe_events(
            SourceType="cache-cluster", SourceIdentifier=old_primary)["Events"]],
        timeout=30, what="old primary recovered")


# Goal: the failover lab's `test-failover` line (with the CLI's `--node-group-id 0001`) runs,
# the data is intact afterwards, and the events follow AWS's documented order.
# Method: aws CLI create + wait, keys through the primary endpoint, `aws elasticache
# test-failover`, wait for another member to be primary, read the keys back, read the events.
def test_test_failover_cli_keeps_data_and_records_aws_events(fc, ec):
    fc.aws("elasticache", "create-replication-group",
           "--replication-group-id", "lab",
           "--replication-group-description", "Redis replication with failover",
           "--engine", "redis", "--engine-version", "7.0", "--cache-node-type", "cache.t3.micro",
           "--num-cache-clusters", "3", "--automatic-failover-enabled", "--multi-az",
           "--region", "us-east-1")
    fc.aws("elasticache", "wait", "replication-group-available",
           "--replication-group-id", "lab", "--region", "us-east-1")
    group = ec.describe_replication_groups(ReplicationGroupId="lab")["ReplicationGroups"][0]
    primary_address = group["NodeGroups"][0]["PrimaryEndpoint"]["Address"]
    writer = redis.Redis(host=primary_address, socket_timeout=5)
    writer.set("counter", 100)
    writer.set("message", "Hello Replication")
    old_primary = primary_of(ec, "lab")
    out = fc.aws("elasticache", "test-failover", "--replication-group-id", "lab",
                 "--node-group-id", "0001", "--region", "us-east-1")
    assert '"Status": "available"' in out.stdout
    wait_until(lambda: primary_of(ec, "lab") != old_primary, timeout=30, what="switch")
    new_primary = primary_of(ec, "lab")

    def read(key):
        try:
            return redis.Redis(host=primary_address, socket_timeout=2).get(key)
        except redis.exceptions.RedisError:
            return None

    wait_until(lambda: read("counter") == b"100", timeout=15, what="primary endpoint back")
    assert read("message") == b"Hello Replication"
    assert redis.Redis(host=primary_address).set("after", 1)
    completed = f"Failover from primary node {old_primary} to replica node {new_primary} completed"
    wait_until(lambda: "Finished recovery for cache nodes 0001" in [
        e["Message"] for e in ec.describe_events(
            SourceType="cache-cluster", SourceIdentifier=old_primary)["Events"]],
        timeout=30, what="old primary recovered")
    messages = group_messages(ec, "lab")
    assert messages.index(completed) < messages.index(
        "Test Failover API called for node group 0001"), messages  # newest first
    cluster = [e["Message"] for e in ec.describe_events(
        SourceType="cache-cluster", SourceIdentifier=old_primary)["Events"]]
    order = [completed, "Recovering cache nodes 0001", "Finished recovery for cache nodes 0001"]
    assert [cluster.index(m) for m in order] == sorted(
        (cluster.index(m) for m in order), reverse=True), cluster


# Goal: a frozen primary (SIGSTOP) is failed over like a dead one, and once continued it comes
# back as a replica of the new primary, never as a second primary.
# Method: SIGSTOP the primary's redis-server, wait for another member to be primary and for the
# primary endpoint to take a write, SIGCONT, then check the old process (same PID) reports
# role:slave through its own node endpoint.
def test_frozen_primary_is_failed_over_and_rejoins_as_replica(fc, ec):
    ec.create_replication_group(ReplicationGroupId="frozen", ReplicationGroupDescription="f",
                                CacheNodeType="cache.t3.micro", NumCacheClusters=2,
                                AutomaticFailoverEnabled=True)
    group = wait_group_available(ec, "frozen")
    primary_address = group["NodeGroups"][0]["PrimaryEndpoint"]["Address"]
    node_address = {m["CacheClusterId"]: m["ReadEndpoint"]["Address"]
                    for m in group["NodeGroups"][0]["NodeGroupMembers"]}
    client = redis.Redis(host=primary_address)
    client.set("before", 1)
    # Replication is asynchronous: make sure the write reached the replica before the freeze.
    assert client.wait(1, 5000) == 1
    old_primary = primary_of(ec, "frozen")
    pid = fc.node_pids()[old_primary]
    os.kill(pid, signal.SIGSTOP)
    try:
        wait_until(lambda: primary_of(ec, "frozen") != old_primary, timeout=30, what="switch")

        def write():
            try:
                return redis.Redis(host=primary_address, socket_timeout=2).set("during", 1)
            except redis.exceptions.RedisError:
                return False

        wait_until(write, timeout=15, what="writes on the new primary")
    finally:
        os.kill(pid, signal.SIGCONT)

    def role_of_old():
        try:
            return redis.Redis(host=node_address[old_primary], socket_timeout=2).info(
                "replication")["role"]
        except redis.exceptions.RedisError:
            return None

    wait_until(lambda: role_of_old() == "slave", timeout=30, what="old primary demoted")
    assert fc.node_pids()[old_primary] == pid
    assert redis.Redis(host=primary_address).get("before") == b"1"


# Goal: TestFailover refuses what AWS refuses, with AWS's codes, and starts nothing.
# Method: boto3 calls on a group without automatic failover, with a wrong node group id, and on
# an unknown group; the group's events gain no "Test Failover" line.
def test_test_failover_refusals(fc, ec):
    ec.create_replication_group(ReplicationGroupId="noaf", ReplicationGroupDescription="n",
                                CacheNodeType="cache.t3.micro", NumCacheClusters=2)
    wait_group_available(ec, "noaf")
    cases = [
        (dict(ReplicationGroupId="noaf", NodeGroupId="0001"), "InvalidReplicationGroupState", 400),
        (dict(ReplicationGroupId="noaf", NodeGroupId="0002"), "NodeGroupNotFoundFault", 404),
        (dict(ReplicationGroupId="nosuch", NodeGroupId="0001"), "ReplicationGroupNotFoundFault",
         404),
    ]
    for args, code, status in cases:
        with pytest.raises(botocore.exceptions.ClientError) as err:
            ec.test_failover(**args)
        assert err.value.response["Error"]["Code"] == code, args
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == status, args
    assert not any("Test Failover" in m for m in group_messages(ec, "noaf"))


# Goal: ten failovers in a row (SIGKILL of whoever is primary each time) lose no acknowledged
# write, and the group ends with one primary and every member back.
# Method: one writer thread through the primary endpoint for the whole run; each round waits for
# both replicas to be connected, kills the current primary's redis-server by PID and waits for
# writes to be acknowledged again; finally every acknowledged key is read back.
def test_ten_failovers_in_a_row_lose_nothing(fc, ec):
    ec.create_replication_group(ReplicationGroupId="ten", ReplicationGroupDescription="t",
                                CacheNodeType="cache.t3.micro", NumCacheClusters=3,
                                AutomaticFailoverEnabled=True)
    group = wait_group_available(ec, "ten")
    address = group["NodeGroups"][0]["PrimaryEndpoint"]["Address"]

    def replicas_in_sync():
        # Connected is not enough: a replica still in its full sync holds nothing yet, and a
        # primary killed then takes the data with it (Ferrocache then restarts it in place, as
        # there is nothing to fail over to). WAIT counts only replicas that acknowledged a write
        # made after they came online.
        try:
            client = redis.Redis(host=address, socket_timeout=2)
            client.set("sync-check", 1)
            return client.execute_command("WAIT", 2, 1000) == 2
        except redis.exceptions.RedisError:
            return False

    with SequenceWriter(address) as writer:
        writer_deadline_guard = time.monotonic() + WRITE_LOAD_SECONDS_MAX - 2
        for _ in range(10):
            wait_until(replicas_in_sync, timeout=30, what="both replicas in sync")
            assert time.monotonic() < writer_deadline_guard, "the writer's time bound is too short"
            primary = primary_of(ec, "ten")
            before = len(writer.acked)
            os.kill(fc.node_pids()[primary], signal.SIGKILL)
            wait_until(lambda: primary_of(ec, "ten") != primary, timeout=15, what="switch")
            wait_until(lambda: len(writer.acked) > before + 50, timeout=15,
                       what="writes after the failover")
    assert missing_acked(address, writer.acked) == []
    roles = sorted(members(ec, "ten").values())
    assert roles == ["primary", "replica", "replica"]


# Goal: a crash of Ferrocache itself in the middle of a failover is finished after restart:
# one primary, the epoch moved on, no acknowledged write lost.
# Method: SIGKILL of the primary's redis-server immediately followed by SIGKILL of Ferrocache
# (so the switch is somewhere between detection and promotion), restart on the same data dir,
# then check one member is primary, the endpoint takes writes, and the old keys are there.
def test_ferrocache_crash_mid_failover_finishes_after_restart(fc, ec):
    ec.create_replication_group(ReplicationGroupId="midway", ReplicationGroupDescription="m",
                                CacheNodeType="cache.t3.micro", NumCacheClusters=3,
                                AutomaticFailoverEnabled=True)
    group = wait_group_available(ec, "midway")
    address = group["NodeGroups"][0]["PrimaryEndpoint"]["Address"]
    writer = redis.Redis(host=address, socket_timeout=5)
    for n in range(500):
        writer.set(f"k{n}", n)
    writer.wait(2, 5000)
    primary = primary_of(ec, "midway")
    os.kill(fc.node_pids()[primary], signal.SIGKILL)
    time.sleep(0.01)
    fc.kill9()
    fc.start()
    ec = fc.client()
    wait_until(lambda: primary_of(ec, "midway") != primary, timeout=30, what="switch finished")

    def dbsize():
        try:
            return redis.Redis(host=address, socket_timeout=2).dbsize()
        except redis.exceptions.RedisError:
            return None

    wait_until(lambda: dbsize() == 500, timeout=30, what="primary endpoint with the data")
    assert redis.Redis(host=address).set("after", 1)
    wait_until(lambda: sorted(members(ec, "midway").values()) == ["primary", "replica", "replica"]
               and redis.Redis(host=address).info("replication")["connected_slaves"] == 2,
               timeout=30, what="old primary back as a replica")


def test_failover_without_an_eligible_replica_waits_and_says_so(fc, ec):
    """The only replica is frozen when the primary dies: nothing can be promoted, so the group
    says it is waiting (once) and keeps the primary; when the replica continues, the failover
    happens and the data is there."""
    ec.create_replication_group(ReplicationGroupId="lonely", ReplicationGroupDescription="l",
                                NumCacheClusters=2, AutomaticFailoverEnabled=True)
    group = wait_group_available(ec, "lonely")
    address = group["NodeGroups"][0]["PrimaryEndpoint"]["Address"]
    client = redis.Redis(host=address)
    for i in range(100):
        client.set(f"w:{i}", i)
    replica_host = next(m["ReadEndpoint"]["Address"] for m in group["NodeGroups"][0]
                        ["NodeGroupMembers"] if m["CurrentRole"] == "replica")
    wait_until(lambda: redis.Redis(host=replica_host).get("w:99") == b"99",
               what="the replica has every key")
    old = primary_of(ec, "lonely")
    replica = next(cid for cid in members(ec, "lonely") if cid != old)
    pids = fc.node_pids()
    os.kill(pids[replica], signal.SIGSTOP)
    try:
        os.kill(pids[old], signal.SIGKILL)
        waiting = f"Failover from primary node {old} is waiting"
        wait_until(lambda: any(m.startswith(waiting) for m in group_messages(ec, "lonely")),
                   what="the waiting event")
        assert primary_of(ec, "lonely") == old, "nothing eligible was promoted"
    finally:
        os.kill(pids[replica], signal.SIGCONT)
    wait_until(lambda: primary_of(ec, "lonely") == replica, what="the failover once it can")
    wait_until(lambda: redis.Redis(host=address, socket_timeout=1).set("after", 1),
               what="writes on the primary endpoint")
    assert redis.Redis(host=address).get("w:99") == b"99"
    assert sum(m.startswith(waiting) for m in group_messages(ec, "lonely")) == 1
