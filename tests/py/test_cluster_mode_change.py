"""Changing the cluster mode of a live group, as AWS allows: `disabled` → `compatible` (both
kinds of client work) → `enabled`, with AWS's preconditions and refusals; no acknowledged
write is lost on the way."""

import json
import threading
import time

import botocore.exceptions
import pytest
import redis
from redis.cluster import RedisCluster

from harness import client_error_code, wait_group_available, wait_until

KEYS = 2000


def create_plain_group(ec, group_id, clusters=3, **extra):
    ec.create_replication_group(
        ReplicationGroupId=group_id,
        ReplicationGroupDescription="cluster mode change",
        Engine="redis",
        CacheNodeType="cache.t3.micro",
        NumCacheClusters=clusters,
        AutomaticFailoverEnabled=clusters > 1,
        **extra,
    )
    return wait_group_available(ec, group_id)


def primary_client(group):
    endpoint = group["NodeGroups"][0]["PrimaryEndpoint"]
    return redis.Redis(host=endpoint["Address"], port=endpoint["Port"], socket_timeout=5)


def get_each(conn, keys):
    pipe = conn.pipeline(transaction=False)
    for key in keys:
        pipe.get(key)
    return pipe.execute()


def refused(call, **kwargs):
    with pytest.raises(botocore.exceptions.ClientError) as info:
        call(**kwargs)
    return client_error_code(info.value), info.value.response["Error"]["Message"]


class Writer(threading.Thread):
    """Writes `w:<n>` through the primary endpoint until stopped (bounded in count and
    time), remembering every write the endpoint acknowledged."""

    def __init__(self, group, limit=200_000, seconds=120):
        super().__init__(daemon=True)
        self.endpoint = group["NodeGroups"][0]["PrimaryEndpoint"]
        self.limit, self.deadline = limit, time.monotonic() + seconds
        self.acknowledged, self.errors = [], 0
        self.stopping = threading.Event()

    def run(self):
        conn = None
        for n in range(self.limit):
            if self.stopping.is_set() or time.monotonic() > self.deadline:
                return
            try:
                if conn is None:
                    conn = redis.Redis(host=self.endpoint["Address"],
                                       port=self.endpoint["Port"], socket_timeout=2)
                conn.set(f"w:{n}", n)
                self.acknowledged.append(n)
            except redis.RedisError:
                self.errors += 1
                conn = None
                time.sleep(0.01)

    def stop(self):
        self.stopping.set()
        self.join(timeout=30)


def events_of(ec, group_id):
    return [e["Message"] for e in ec.describe_events(
        SourceIdentifier=group_id, SourceType="replication-group", Duration=60)["Events"]]


# Goal: the two-step move of AWS's guide works on a live group through the CLI, with both
# kinds of client served while `compatible` and no acknowledged write lost: a 3-node group
# holding 2000 keys (plus a writer running through the primary endpoint during the move)
# becomes `compatible` — default.redis7 switched to default.redis7.cluster.on, a
# configuration endpoint next to the primary endpoint, plain and cluster clients both reading
# every key — then `enabled` (one shard serving 0-16383, no primary endpoint), and a shard
# failover still works afterwards. Method: aws CLI for the two modifications, boto3 for the
# rest; every key and every acknowledged write is read back at the end.
def test_disabled_to_compatible_to_enabled_under_writes(fc, ec):
    group = create_plain_group(ec, "cm")
    plain = primary_client(group)
    plain.mset({f"k:{i}": f"v{i}" for i in range(KEYS)})
    writer = Writer(group)
    writer.start()
    time.sleep(0.3)

    out = fc.aws("elasticache", "modify-replication-group", "--replication-group-id", "cm",
                 "--cluster-mode", "compatible", "--apply-immediately")
    modifying = json.loads(out.stdout)["ReplicationGroup"]
    assert modifying["Status"] == "modifying"
    assert modifying["ClusterMode"] == "compatible"
    fc.aws("elasticache", "wait", "replication-group-available", "--replication-group-id", "cm")
    time.sleep(0.3)
    writer.stop()
    assert writer.acknowledged, "the writer never got a write through"
    print(f"writer: {len(writer.acknowledged)} acknowledged, {writer.errors} errors")

    group = ec.describe_replication_groups(ReplicationGroupId="cm")["ReplicationGroups"][0]
    assert group["ClusterMode"] == "compatible"
    assert group["ClusterEnabled"] is True
    assert group["ConfigurationEndpoint"]["Port"] == 6379
    shard = group["NodeGroups"][0]
    assert "PrimaryEndpoint" in shard and "ReaderEndpoint" in shard
    # The replicas now redirect a plain read (MOVED): the reader endpoint serves the primary.
    reader = redis.Redis(host=shard["ReaderEndpoint"]["Address"],
                         port=shard["ReaderEndpoint"]["Port"], socket_timeout=5)
    assert reader.get("k:1") == b"v1"
    reader.close()
    for member in group["MemberClusters"]:
        cluster = ec.describe_cache_clusters(CacheClusterId=member)["CacheClusters"][0]
        assert cluster["CacheParameterGroup"]["CacheParameterGroupName"] == \
            "default.redis7.cluster.on"

    # Plain clients through the primary endpoint: every key, every acknowledged write (one
    # GET each: in cluster mode a multi-key command must stay within one slot).
    plain = primary_client(group)
    values = get_each(plain, [f"k:{i}" for i in range(KEYS)])
    assert values == [f"v{i}".encode() for i in range(KEYS)]
    acknowledged = get_each(plain, [f"w:{n}" for n in writer.acknowledged])
    lost = [n for n, v in zip(writer.acknowledged, acknowledged) if v != str(n).encode()]
    assert not lost, f"{len(lost)} acknowledged writes lost, e.g. {lost[:5]}"
    # Cluster clients through the configuration endpoint, writing too.
    endpoint = group["ConfigurationEndpoint"]
    cluster = RedisCluster(host=endpoint["Address"], port=endpoint["Port"], socket_timeout=5)
    assert cluster.get("k:7") == b"v7"
    cluster.set("through-the-cluster", "yes")
    assert plain.get("through-the-cluster") == b"yes"
    cluster.close()
    # Every member runs in cluster mode and knows the others.
    for member in group["MemberClusters"]:
        node = ec.describe_cache_clusters(CacheClusterId=member, ShowCacheNodeInfo=True)[
            "CacheClusters"][0]["CacheNodes"][0]["Endpoint"]
        conn = redis.Redis(host=node["Address"], port=node["Port"], socket_timeout=5)
        info = conn.execute_command("CLUSTER", "INFO")
        info = info.decode() if isinstance(info, bytes) else str(info)
        assert "cluster_state:ok" in info and "cluster_known_nodes:3" in info, info
        conn.close()
    messages = events_of(ec, "cm")
    assert "Modifying cluster mode of replication group cm to compatible" in messages
    assert "Cluster mode of replication group cm is now compatible" in messages

    # While compatible, nothing else changes.
    code, _ = refused(ec.increase_replica_count, ReplicationGroupId="cm", NewReplicaCount=3,
                      ApplyImmediately=True)
    assert code == ("InvalidReplicationGroupState", 400)
    code, _ = refused(ec.modify_replication_group, ReplicationGroupId="cm",
                      SnapshotRetentionLimit=3, ApplyImmediately=True)
    assert code == ("InvalidParameterCombination", 400)
    code, _ = refused(ec.modify_replication_group, ReplicationGroupId="cm",
                      ClusterMode="disabled", ApplyImmediately=True)
    assert code == ("InvalidParameterCombination", 400)

    fc.aws("elasticache", "modify-replication-group", "--replication-group-id", "cm",
           "--cluster-mode", "enabled", "--apply-immediately")
    fc.aws("elasticache", "wait", "replication-group-available", "--replication-group-id", "cm")
    group = ec.describe_replication_groups(ReplicationGroupId="cm")["ReplicationGroups"][0]
    assert group["ClusterMode"] == "enabled" and group["ClusterEnabled"] is True
    shard = group["NodeGroups"][0]
    assert shard["Slots"] == "0-16383"
    assert "PrimaryEndpoint" not in shard and "ReaderEndpoint" not in shard
    assert "Cluster mode of replication group cm is now enabled" in events_of(ec, "cm")
    code, _ = refused(ec.modify_replication_group, ReplicationGroupId="cm",
                      ClusterMode="compatible", ApplyImmediately=True)
    assert code == ("InvalidParameterCombination", 400)

    # A shard failover of the converted group; every key still there afterwards.
    ec.test_failover(ReplicationGroupId="cm", NodeGroupId="0001")
    wait_until(lambda: any("Failover from primary node" in m and "completed" in m
                           for m in events_of(ec, "cm")), timeout=60, what="failover")
    wait_group_available(ec, "cm")
    cluster = RedisCluster(host=endpoint["Address"], port=endpoint["Port"], socket_timeout=5)
    keys = [f"k:{i}" for i in range(0, KEYS, 7)]
    assert cluster.mget_nonatomic(keys) == [f"v{i}".encode() for i in range(0, KEYS, 7)]
    assert cluster.get("through-the-cluster") == b"yes"
    cluster.close()


# Goal: AWS's preconditions refuse a change before anything moves: straight to `enabled`, no
# replica or automatic failover off, another parameter in the same request, an unknown value,
# a parameter group without cluster-enabled. Method: boto3 calls on available groups; each
# group still reads `disabled` and `available` afterwards.
def test_refusals(ec):
    create_plain_group(ec, "two", clusters=2)
    code, _ = refused(ec.modify_replication_group, ReplicationGroupId="two",
                      ClusterMode="enabled", ApplyImmediately=True)
    assert code == ("InvalidParameterCombination", 400)
    code, _ = refused(ec.modify_replication_group, ReplicationGroupId="two",
                      ClusterMode="compatible", SnapshotRetentionLimit=2,
                      ApplyImmediately=True)
    assert code == ("InvalidParameterCombination", 400)
    code, _ = refused(ec.modify_replication_group, ReplicationGroupId="two",
                      ClusterMode="sometimes", ApplyImmediately=True)
    assert code == ("InvalidParameterValue", 400)
    ec.create_cache_parameter_group(CacheParameterGroupName="plain7",
                                    CacheParameterGroupFamily="redis7", Description="no cluster")
    code, message = refused(ec.modify_replication_group, ReplicationGroupId="two",
                            ClusterMode="compatible", CacheParameterGroupName="plain7",
                            ApplyImmediately=True)
    assert code == ("InvalidParameterCombination", 400)
    assert message == "Cluster mode should be enabled in parameter group, but found it is disabled."

    create_plain_group(ec, "single", clusters=1)
    code, message = refused(ec.modify_replication_group, ReplicationGroupId="single",
                            ClusterMode="compatible", ApplyImmediately=True)
    assert code == ("InvalidParameterCombination", 400)
    assert "automatic failover" in message

    code, _ = refused(ec.create_replication_group, ReplicationGroupId="direct",
                      ReplicationGroupDescription="x", NumCacheClusters=2,
                      AutomaticFailoverEnabled=True, ClusterMode="compatible")
    assert code == ("InvalidParameterValue", 400)

    for group_id in ("two", "single"):
        group = ec.describe_replication_groups(ReplicationGroupId=group_id)["ReplicationGroups"][0]
        assert (group["Status"], group["ClusterMode"]) == ("available", "disabled")


# Goal: cluster mode keeps database 0 only, so a group with keys in another database is not
# moved: the change is given up before any node restarts, the group is `disabled` again on
# its former parameter group, an event names the databases, and no key is lost. Method: a key
# in db 1 through the primary endpoint, then ClusterMode=compatible.
def test_keys_outside_db0_give_the_change_up(ec):
    group = create_plain_group(ec, "dbs", clusters=2)
    endpoint = group["NodeGroups"][0]["PrimaryEndpoint"]
    db0 = redis.Redis(host=endpoint["Address"], port=endpoint["Port"], socket_timeout=5)
    db1 = redis.Redis(host=endpoint["Address"], port=endpoint["Port"], db=1, socket_timeout=5)
    db0.set("zero", "0")
    db1.set("one", "1")
    ec.modify_replication_group(ReplicationGroupId="dbs", ClusterMode="compatible",
                                ApplyImmediately=True)

    def given_up():
        g = ec.describe_replication_groups(ReplicationGroupId="dbs")["ReplicationGroups"][0]
        return g if (g["Status"], g["ClusterMode"]) == ("available", "disabled") else None
    group = wait_until(given_up, timeout=60, what="change given up")
    assert "ConfigurationEndpoint" not in group
    messages = events_of(ec, "dbs")
    assert any("keys are stored in databases other than 0 (db1)" in m for m in messages), messages
    cluster = ec.describe_cache_clusters(CacheClusterId=group["MemberClusters"][0])
    assert cluster["CacheClusters"][0]["CacheParameterGroup"]["CacheParameterGroupName"] == \
        "default.redis7"
    assert db0.get("zero") == b"0" and db1.get("one") == b"1"


def runs_cluster(ec, member):
    node = ec.describe_cache_clusters(CacheClusterId=member, ShowCacheNodeInfo=True)[
        "CacheClusters"][0]["CacheNodes"][0]["Endpoint"]
    conn = redis.Redis(host=node["Address"], port=node["Port"], socket_timeout=1)
    try:
        return conn.info("cluster").get("cluster_enabled") == 1
    except redis.RedisError:
        return False
    finally:
        conn.close()


def node_connection(ec, member):
    node = ec.describe_cache_clusters(CacheClusterId=member, ShowCacheNodeInfo=True)[
        "CacheClusters"][0]["CacheNodes"][0]["Endpoint"]
    return redis.Redis(host=node["Address"], port=node["Port"], socket_timeout=1)


def in_cluster_mode(conn):
    try:
        return conn.info("cluster").get("cluster_enabled") == 1
    except redis.RedisError:
        return False


# Goal: a move into `compatible` interrupted by a crash of Ferrocache finishes after its
# restart with every key intact, whether the crash comes before any node restarted or once
# the primary runs in cluster mode and the replicas do not yet. Method: SIGKILL Ferrocache at
# that point (the nodes keep running; whether the replicas had moved is read from them after
# the crash, and a crash that came too late is tried again on a new group, at most 3 times),
# start it again on the same data directory, wait for `available`; every key read back through
# both kinds of endpoint, every member in the cluster.
@pytest.mark.parametrize("moment", ["at-once", "primary-converted"])
def test_compatible_survives_a_controller_crash(fc, ec, moment):
    for attempt in range(3):
        group_id = f"cc{attempt}"
        group = create_plain_group(ec, group_id)
        plain = primary_client(group)
        plain.mset({f"k:{i}": f"v{i}" for i in range(KEYS)})
        primary = next(m["CacheClusterId"] for m in group["NodeGroups"][0]["NodeGroupMembers"]
                       if m["CurrentRole"] == "primary")
        replicas = [node_connection(ec, m) for m in group["MemberClusters"] if m != primary]
        primary_node = node_connection(ec, primary)
        ec.modify_replication_group(ReplicationGroupId=group_id, ClusterMode="compatible",
                                    ApplyImmediately=True)
        if moment == "primary-converted":
            wait_until(lambda: in_cluster_mode(primary_node), timeout=60, poll=0.005,
                       what="primary in cluster mode")
        fc.kill9()
        in_time = moment == "at-once" or not all(in_cluster_mode(r) for r in replicas)
        fc.start()
        group = wait_group_available(ec, group_id, timeout=120)
        check_converted(ec, group)
        if in_time:
            return
    pytest.fail("three crashes came after the replicas had moved: the window was never hit")


def check_converted(ec, group):
    assert group["ClusterMode"] == "compatible"
    assert all(runs_cluster(ec, m) for m in group["MemberClusters"])
    plain = primary_client(group)
    assert get_each(plain, [f"k:{i}" for i in range(KEYS)]) == \
        [f"v{i}".encode() for i in range(KEYS)]
    endpoint = group["ConfigurationEndpoint"]
    cluster = RedisCluster(host=endpoint["Address"], port=endpoint["Port"], socket_timeout=5)
    assert cluster.get("k:1999") == b"v1999"
    cluster.close()
