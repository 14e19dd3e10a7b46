"""Every implemented operation beyond create/describe, each against real nodes:
standalone cache clusters, adding and removing replicas, reboot, delete keeping the primary,
tags, engine versions and paging."""

import pytest
import redis
from botocore.exceptions import ClientError

from harness import (ACCOUNT_ID, REGION, client_error_code, error_code, pid_alive,
                     wait_cluster_available, wait_for_client_error, wait_group_available,
                     wait_until)


def create_group(ec, group_id, nodes, **extra):
    return ec.create_replication_group(
        ReplicationGroupId=group_id, ReplicationGroupDescription="operations",
        Engine="redis", EngineVersion="7.0", CacheNodeType="cache.t3.micro",
        NumCacheClusters=nodes, **extra)["ReplicationGroup"]


def endpoints(group):
    ng = group["NodeGroups"][0]
    return ng["PrimaryEndpoint"]["Address"], ng["ReaderEndpoint"]["Address"]


def connect(address, port=6379):
    return redis.Redis(host=address, port=port, socket_timeout=10, socket_connect_timeout=10,
                       decode_responses=True)


def node_address(ec, cluster_id):
    cluster = ec.describe_cache_clusters(CacheClusterId=cluster_id,
                                         ShowCacheNodeInfo=True)["CacheClusters"][0]
    endpoint = cluster["CacheNodes"][0]["Endpoint"]
    return endpoint["Address"], endpoint["Port"]


def events_for(ec, source_id, source_type="cache-cluster"):
    return [e["Message"] for e in ec.describe_events(SourceIdentifier=source_id,
                                                     SourceType=source_type)["Events"]]


# Goal: a standalone cache cluster is a real, writable Redis behind its node endpoint, with
# maxmemory from its node type (cache.t3.micro: 0.5 GiB less the 25 % reserved).
# Method: CreateCacheCluster, wait until available, redis-py through the node endpoint.
def test_standalone_cache_cluster(fc, ec):
    created = ec.create_cache_cluster(CacheClusterId="solo", Engine="redis",
                                      EngineVersion="7.0", CacheNodeType="cache.t3.micro",
                                      NumCacheNodes=1)["CacheCluster"]
    assert created["CacheClusterStatus"] == "creating"
    assert not created.get("ReplicationGroupId")
    cluster = wait_cluster_available(ec, "solo")
    assert cluster["CacheNodes"][0]["CacheNodeId"] == "0001"
    address, port = node_address(ec, "solo")
    assert port == 6379
    client = connect(address, port)
    assert client.set("k", "v") is True
    assert client.get("k") == "v"
    assert client.info("replication")["role"] == "master"
    assert int(fc.config_get(address, "maxmemory", port=port)) == 402653184
    assert "Cache cluster created" in events_for(ec, "solo")


# Goal: CreateCacheCluster with ReplicationGroupId adds a replica that syncs from the primary
# and joins MemberClusters and the reader endpoint's pool. Method: a 2-node group, write, add a
# member, check the group and the new node's data and role.
def test_create_cache_cluster_adds_replica(fc, ec):
    create_group(ec, "grow", 2)
    group = wait_group_available(ec, "grow")
    primary, _reader = endpoints(group)
    connect(primary).set("before", "1")

    added = ec.create_cache_cluster(CacheClusterId="grow-extra",
                                    ReplicationGroupId="grow")["CacheCluster"]
    assert added["CacheClusterStatus"] == "creating"
    assert added["ReplicationGroupId"] == "grow"
    wait_cluster_available(ec, "grow-extra")
    group = wait_group_available(ec, "grow")
    assert "grow-extra" in group["MemberClusters"]
    assert len(group["MemberClusters"]) == 3
    roles = {m["CacheClusterId"]: m["CurrentRole"]
             for m in group["NodeGroups"][0]["NodeGroupMembers"]}
    assert roles["grow-extra"] == "replica"

    address, port = node_address(ec, "grow-extra")
    replica = connect(address, port)
    wait_until(lambda: replica.get("before") == "1", timeout=15, what="replica synced")
    assert replica.info("replication")["role"] == "slave"
    with pytest.raises(redis.exceptions.ReadOnlyError):
        replica.set("x", "y")
    assert connect(primary).info("replication")["connected_slaves"] == 2


# Goal: IncreaseReplicaCount and DecreaseReplicaCount (ApplyImmediately) change the number of
# real replicas: status goes through `modifying` back to `available`, MemberClusters follows,
# and the primary sees the replicas come and go. Method: 2-node group, increase to 3 replicas,
# then decrease to 1, checking INFO replication through the primary endpoint each time.
def test_increase_and_decrease_replica_count(fc, ec):
    create_group(ec, "scale", 2)
    group = wait_group_available(ec, "scale")
    primary, _ = endpoints(group)
    connect(primary).set("kept", "yes")

    increased = ec.increase_replica_count(ReplicationGroupId="scale", NewReplicaCount=3,
                                          ApplyImmediately=True)["ReplicationGroup"]
    assert increased["Status"] == "modifying"
    group = wait_group_available(ec, "scale")
    assert group["MemberClusters"] == ["scale-001", "scale-002", "scale-003", "scale-004"]
    assert connect(primary).info("replication")["connected_slaves"] == 3
    for member in ("scale-003", "scale-004"):
        address, port = node_address(ec, member)
        wait_until(lambda: connect(address, port).get("kept") == "yes", timeout=15,
                   what=f"{member} synced")

    decreased = ec.decrease_replica_count(ReplicationGroupId="scale", NewReplicaCount=1,
                                          ApplyImmediately=True)["ReplicationGroup"]
    assert decreased["Status"] == "modifying"
    group = wait_group_available(ec, "scale")
    assert len(group["MemberClusters"]) == 2
    assert "scale-001" in group["MemberClusters"]
    wait_until(lambda: connect(primary).info("replication")["connected_slaves"] == 1,
               timeout=30, what="replicas removed")
    removed = {"scale-002", "scale-003", "scale-004"} - set(group["MemberClusters"])
    for member in removed:
        err = wait_for_client_error(lambda: ec.describe_cache_clusters(CacheClusterId=member),
                                    timeout=30, what=f"{member} gone")
        assert client_error_code(err) == ("CacheClusterNotFound", 404)
    assert connect(primary).get("kept") == "yes"


# Goal: RebootCacheCluster restarts the node for real: status `rebooting cluster nodes`, then
# `available`, a new process, and AWS's "Cache node 0001 restarted" event. Method: reboot a
# standalone cluster and compare the redis-server pid and run_id before and after.
def test_reboot_cache_cluster(fc, ec):
    ec.create_cache_cluster(CacheClusterId="reboot-me", Engine="redis",
                            CacheNodeType="cache.t3.micro", NumCacheNodes=1)
    wait_cluster_available(ec, "reboot-me")
    address, port = node_address(ec, "reboot-me")
    run_id_before = connect(address, port).info("server")["run_id"]

    rebooted = ec.reboot_cache_cluster(CacheClusterId="reboot-me",
                                       CacheNodeIdsToReboot=["0001"])["CacheCluster"]
    assert rebooted["CacheClusterStatus"] == "rebooting cluster nodes"
    wait_cluster_available(ec, "reboot-me")
    run_id_after = wait_until(lambda: connect(address, port).info("server")["run_id"],
                              timeout=30, what="node answers after reboot")
    assert run_id_after != run_id_before
    assert "Cache node 0001 restarted" in events_for(ec, "reboot-me")


# Goal: DeleteReplicationGroup with RetainPrimaryCluster deletes the replicas and the group but
# keeps the primary, with its data, as a standalone cache cluster. Method: 3-node group, write
# through the primary endpoint, delete with retain, wait for NotFound, read from the survivor.
def test_delete_replication_group_retain_primary(fc, ec):
    create_group(ec, "retain", 3)
    group = wait_group_available(ec, "retain")
    primary, _ = endpoints(group)
    connect(primary).set("survives", "yes")
    replica_pids = {k: v for k, v in fc.node_pids().items() if k != "retain-001"}

    deleted = ec.delete_replication_group(ReplicationGroupId="retain",
                                          RetainPrimaryCluster=True)["ReplicationGroup"]
    assert deleted["Status"] == "deleting"
    ec.get_waiter("replication_group_deleted").wait(
        ReplicationGroupId="retain", WaiterConfig={"Delay": 1, "MaxAttempts": 120})

    survivor = wait_cluster_available(ec, "retain-001")
    assert not survivor.get("ReplicationGroupId")
    for gone in ("retain-002", "retain-003"):
        err = wait_for_client_error(lambda: ec.describe_cache_clusters(CacheClusterId=gone),
                                    timeout=30, what=f"{gone} deleted")
        assert client_error_code(err) == ("CacheClusterNotFound", 404)
    wait_until(lambda: not any(pid_alive(pid) for pid in replica_pids.values()), timeout=30,
               what="replica processes stopped")
    address, port = node_address(ec, "retain-001")
    node = connect(address, port)
    assert node.get("survives") == "yes"
    assert node.info("replication")["role"] == "master"
    assert node.set("still-writable", "1") is True


# Goal: tags are kept per ARN and can be added, listed and removed, for a group and a cluster.
# Method: create with Tags, then AddTagsToResource / ListTagsForResource /
# RemoveTagsFromResource on arn:aws:elasticache:us-east-1:123456789012:replicationgroup:<id>.
def test_tags(fc, ec):
    group = create_group(ec, "tagged", 1, Tags=[{"Key": "env", "Value": "dev"}])
    arn = f"arn:aws:elasticache:{REGION}:{ACCOUNT_ID}:replicationgroup:tagged"
    assert group["ARN"] == arn
    wait_group_available(ec, "tagged")

    def tags(resource):
        return {t["Key"]: t["Value"]
                for t in ec.list_tags_for_resource(ResourceName=resource)["TagList"]}

    assert tags(arn) == {"env": "dev"}
    added = ec.add_tags_to_resource(ResourceName=arn, Tags=[
        {"Key": "team", "Value": "cache"}, {"Key": "env", "Value": "prod"}])
    assert {t["Key"]: t["Value"] for t in added["TagList"]} == {"env": "prod", "team": "cache"}
    assert tags(arn) == {"env": "prod", "team": "cache"}
    removed = ec.remove_tags_from_resource(ResourceName=arn, TagKeys=["env"])
    assert {t["Key"]: t["Value"] for t in removed["TagList"]} == {"team": "cache"}
    assert tags(arn) == {"team": "cache"}

    cluster_arn = f"arn:aws:elasticache:{REGION}:{ACCOUNT_ID}:cluster:tagged-001"
    ec.add_tags_to_resource(ResourceName=cluster_arn, Tags=[{"Key": "node", "Value": "one"}])
    assert tags(cluster_arn).get("node") == "one"

    with pytest.raises(ClientError) as err:
        ec.list_tags_for_resource(
            ResourceName=f"arn:aws:elasticache:{REGION}:{ACCOUNT_ID}:replicationgroup:nope")
    assert error_code(err)[1] in (400, 404)
    with pytest.raises(ClientError) as err:
        ec.list_tags_for_resource(ResourceName="not-an-arn")
    assert error_code(err) == ("InvalidARN", 400)


# Goal: DescribeCacheEngineVersions lists the Redis 7.0 we run, with its parameter group
# family. Method: filter by engine and by version, and check the default-only flag.
def test_describe_cache_engine_versions(fc, ec):
    versions = ec.describe_cache_engine_versions(Engine="redis")["CacheEngineVersions"]
    assert versions
    redis7 = [v for v in versions if v["EngineVersion"].startswith("7.0")]
    assert redis7, versions
    assert redis7[0]["Engine"] == "redis"
    assert redis7[0]["CacheParameterGroupFamily"] == "redis7"
    assert all(v["Engine"] == "redis" for v in versions)
    default = ec.describe_cache_engine_versions(Engine="redis",
                                                DefaultOnly=True)["CacheEngineVersions"]
    assert len(default) == 1


# Goal: Describe* page with MaxRecords and an opaque Marker over more than one page, without
# losing or repeating an item. Method: 21 one-node groups (cheap real processes), then
# DescribeReplicationGroups and DescribeCacheClusters with MaxRecords=20 page by page and with
# the botocore paginator.
def test_paging_over_21_groups(fc, ec):
    ids = [f"page-{n:02d}" for n in range(21)]
    for group_id in ids:
        create_group(ec, group_id, 1)
    wait_until(lambda: all(g["Status"] == "available" for g in
                           ec.describe_replication_groups()["ReplicationGroups"])
               and len(ec.describe_replication_groups()["ReplicationGroups"]) == 21,
               timeout=180, poll=0.2, what="21 groups available")

    first = ec.describe_replication_groups(MaxRecords=20)
    assert len(first["ReplicationGroups"]) == 20
    assert first.get("Marker")
    second = ec.describe_replication_groups(MaxRecords=20, Marker=first["Marker"])
    assert len(second["ReplicationGroups"]) == 1
    assert not second.get("Marker")
    seen = [g["ReplicationGroupId"] for g in first["ReplicationGroups"]
            + second["ReplicationGroups"]]
    assert sorted(seen) == ids

    paged = []
    for page in ec.get_paginator("describe_replication_groups").paginate(
            PaginationConfig={"PageSize": 20}):
        paged += [g["ReplicationGroupId"] for g in page["ReplicationGroups"]]
    assert sorted(paged) == ids

    clusters = []
    for page in ec.get_paginator("describe_cache_clusters").paginate(
            PaginationConfig={"PageSize": 20}):
        assert len(page["CacheClusters"]) <= 20
        clusters += [c["CacheClusterId"] for c in page["CacheClusters"]]
    assert sorted(clusters) == [f"{i}-001" for i in ids]
