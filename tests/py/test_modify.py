"""ModifyReplicationGroup and ModifyCacheCluster against real nodes: a node type change reaches
every node's `maxmemory` with every key kept, a manual promotion moves the primary endpoint,
automatic failover switched on by a modify really fails over, and the events say so."""

import datetime
import json

import redis

from harness import wait_cluster_available, wait_group_available, wait_until

# `maxmemory` ElastiCache gives each type (memory × (1 − 25 % reserved)), as the node type
# table in crates/model/src/node_type.rs derives it.
GIB = 1024 ** 3


def maxmemory_of(fc, host):
    return int(fc.config_get(host, "maxmemory"))


def member_hosts(ec, group_id):
    group = ec.describe_replication_groups(ReplicationGroupId=group_id)["ReplicationGroups"][0]
    return {m["CacheClusterId"]: m["ReadEndpoint"]["Address"]
            for m in group["NodeGroups"][0]["NodeGroupMembers"]}


def roles(ec, group_id):
    group = ec.describe_replication_groups(ReplicationGroupId=group_id)["ReplicationGroups"][0]
    return {m["CacheClusterId"]: m.get("CurrentRole")
            for m in group["NodeGroups"][0]["NodeGroupMembers"]}


def messages(ec, source_type, source_id):
    events = ec.describe_events(SourceType=source_type, SourceIdentifier=source_id)
    return [e["Message"] for e in events["Events"]]


def test_scale_up_keeps_every_key_and_reaches_every_node(fc, ec):
    ec.create_replication_group(ReplicationGroupId="scale", ReplicationGroupDescription="s",
                                NumCacheClusters=3, CacheNodeType="cache.t3.micro")
    group = wait_group_available(ec, "scale")
    primary = group["NodeGroups"][0]["PrimaryEndpoint"]["Address"]
    writer = redis.Redis(host=primary)
    pipe = writer.pipeline(transaction=False)
    for i in range(20_000):
        pipe.set(f"k:{i}", i)
    pipe.execute()
    hosts = member_hosts(ec, "scale")
    before = {cid: maxmemory_of(fc, h) for cid, h in hosts.items()}
    assert len(set(before.values())) == 1

    # The runbook's way: the aws CLI, applied immediately.
    out = fc.aws("elasticache", "modify-replication-group", "--replication-group-id", "scale",
                 "--cache-node-type", "cache.m6g.large", "--apply-immediately")
    assert json.loads(out.stdout)["ReplicationGroup"]["Status"] in ("modifying", "available")
    group = wait_group_available(ec, "scale")
    wait_until(lambda: ec.describe_replication_groups(ReplicationGroupId="scale")
               ["ReplicationGroups"][0]["CacheNodeType"] == "cache.m6g.large",
               what="the group reports the new node type")
    after = {cid: maxmemory_of(fc, h) for cid, h in hosts.items()}
    assert len(set(after.values())) == 1
    assert next(iter(after.values())) > next(iter(before.values()))
    assert writer.dbsize() == 20_000
    assert writer.get("k:19999") == b"19999"
    for cid in hosts:
        cluster = ec.describe_cache_clusters(CacheClusterId=cid)["CacheClusters"][0]
        assert cluster["CacheNodeType"] == "cache.m6g.large"
        assert "CacheNodeType" not in cluster["PendingModifiedValues"]
        assert ("Succeeded applying modification to cache node type to cache.m6g.large."
                in messages(ec, "cache-cluster", cid))
    assert ("Succeeded applying modification to cache node type to cache.m6g.large."
            in messages(ec, "replication-group", "scale"))


DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def window_around(moment, before_minutes=5, length_minutes=65):
    """A maintenance window (`ddd:hh24:mi-ddd:hh24:mi`, UTC) that starts `before_minutes`
    before `moment`."""
    start = moment - datetime.timedelta(minutes=before_minutes)
    end = start + datetime.timedelta(minutes=length_minutes)
    return f"{DAYS[start.weekday()]}:{start:%H:%M}-{DAYS[end.weekday()]}:{end:%H:%M}"


def test_node_type_change_waits_for_the_maintenance_window(fc, ec):
    now = datetime.datetime.now(datetime.timezone.utc)
    far = window_around(now + datetime.timedelta(hours=12))
    ec.create_cache_cluster(CacheClusterId="later", CacheNodeType="cache.t3.micro",
                            Engine="redis", NumCacheNodes=1, PreferredMaintenanceWindow=far)
    wait_cluster_available(ec, "later")
    cluster = ec.describe_cache_clusters(CacheClusterId="later", ShowCacheNodeInfo=True)[
        "CacheClusters"][0]
    host = cluster["CacheNodes"][0]["Endpoint"]["Address"]
    before = maxmemory_of(fc, host)
    ec.modify_cache_cluster(CacheClusterId="later", CacheNodeType="cache.t3.medium",
                            ApplyImmediately=False)
    cluster = ec.describe_cache_clusters(CacheClusterId="later")["CacheClusters"][0]
    assert cluster["CacheClusterStatus"] == "available"
    assert cluster["CacheNodeType"] == "cache.t3.micro"
    assert cluster["PendingModifiedValues"]["CacheNodeType"] == "cache.t3.medium"
    # A few reconcile passes later, still the old size: the window is hours away.
    fc.aws("elasticache", "describe-cache-clusters", "--cache-cluster-id", "later")
    assert maxmemory_of(fc, host) == before
    # Moving the window over now carries the change out.
    ec.modify_cache_cluster(CacheClusterId="later", PreferredMaintenanceWindow=window_around(now))
    wait_until(lambda: ec.describe_cache_clusters(CacheClusterId="later")["CacheClusters"][0]
               ["CacheNodeType"] == "cache.t3.medium", what="the change applied in the window")
    assert maxmemory_of(fc, host) > before
    cluster = ec.describe_cache_clusters(CacheClusterId="later")["CacheClusters"][0]
    assert "CacheNodeType" not in cluster["PendingModifiedValues"]


def test_manual_promotion_moves_the_primary_endpoint(fc, ec):
    ec.create_replication_group(ReplicationGroupId="promo", ReplicationGroupDescription="p",
                                NumCacheClusters=3)
    group = wait_group_available(ec, "promo")
    primary = group["NodeGroups"][0]["PrimaryEndpoint"]["Address"]
    client = redis.Redis(host=primary)
    for i in range(500):
        client.set(f"p:{i}", i)
    fc.aws("elasticache", "modify-replication-group", "--replication-group-id", "promo",
           "--primary-cluster-id", "promo-002", "--apply-immediately")
    wait_group_available(ec, "promo")
    wait_until(lambda: roles(ec, "promo") == {"promo-001": "replica", "promo-002": "primary",
                                              "promo-003": "replica"},
               what="promo-002 is primary")
    # The same endpoint takes writes again and has every key.
    wait_until(lambda: redis.Redis(host=primary).set("after", 1), what="writes on the endpoint")
    fresh = redis.Redis(host=primary)
    assert fresh.dbsize() == 501
    assert fresh.info("replication")["role"] == "master"
    hosts = member_hosts(ec, "promo")
    wait_until(lambda: redis.Redis(host=hosts["promo-001"]).get("after") == b"1",
               what="the old primary follows the new one")
    group = ec.describe_replication_groups(ReplicationGroupId="promo")["ReplicationGroups"][0]
    assert "PrimaryClusterId" not in group["PendingModifiedValues"]


def test_automatic_failover_turned_on_by_modify_fails_over(fc, ec):
    ec.create_replication_group(ReplicationGroupId="later-af", ReplicationGroupDescription="a",
                                NumCacheClusters=2)
    wait_group_available(ec, "later-af")
    try:
        ec.test_failover(ReplicationGroupId="later-af", NodeGroupId="0001")
        raise AssertionError("TestFailover must need automatic failover")
    except ec.exceptions.InvalidReplicationGroupStateFault:
        pass
    ec.modify_replication_group(ReplicationGroupId="later-af", AutomaticFailoverEnabled=True,
                                MultiAZEnabled=True, ApplyImmediately=True)
    group = wait_group_available(ec, "later-af")
    assert group["AutomaticFailover"] == "enabled" and group["MultiAZ"] == "enabled"
    ec.test_failover(ReplicationGroupId="later-af", NodeGroupId="0001")
    wait_until(lambda: roles(ec, "later-af").get("later-af-002") == "primary",
               what="the failover to the replica")


def test_security_groups_changed_on_a_running_group(fc, ec):
    from test_networking import ec2_client
    ec2 = ec2_client(fc)
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]
    sg = ec2.create_security_group(GroupName="app-cache", Description="cache clients",
                                   VpcId=vpc["VpcId"])["GroupId"]
    ec.create_replication_group(ReplicationGroupId="sgs", ReplicationGroupDescription="s",
                                NumCacheClusters=2)
    wait_group_available(ec, "sgs")
    try:
        ec.modify_replication_group(ReplicationGroupId="sgs", SecurityGroupIds=["sg-0123456789abcdef0"],
                                    ApplyImmediately=True)
        raise AssertionError("an unknown security group must be refused")
    except ec.exceptions.ClientError as error:
        assert error.response["Error"]["Code"] == "InvalidParameterValue"
    ec.modify_replication_group(ReplicationGroupId="sgs", SecurityGroupIds=[sg],
                                ApplyImmediately=True)
    wait_group_available(ec, "sgs")
    for cid in ("sgs-001", "sgs-002"):
        cluster = ec.describe_cache_clusters(CacheClusterId=cid)["CacheClusters"][0]
        assert [g["SecurityGroupId"] for g in cluster["SecurityGroups"]] == [sg]
        assert "Applied change to security group" in messages(ec, "cache-cluster", cid)
