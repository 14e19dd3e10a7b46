"""DescribeCacheClusters with node info, DescribeEvents, and the four botocore waiters."""

import datetime

import pytest
from botocore.exceptions import ClientError

from harness import error_code, pid_alive, wait_group_available, wait_until

FAST_WAITER = {"Delay": 1, "MaxAttempts": 120}


def create_group(ec, group_id, nodes=3, **extra):
    return ec.create_replication_group(
        ReplicationGroupId=group_id, ReplicationGroupDescription="test group",
        Engine="redis", EngineVersion="7.0", CacheNodeType="cache.t3.micro",
        NumCacheClusters=nodes, **extra)["ReplicationGroup"]


# Goal: every member of a group is a cache cluster carrying the node fields Terraform requires
# (CacheNodeId 0001, Endpoint address and port, CustomerAvailabilityZone) and status available.
# Method: create a 3-node group with boto3, wait with the botocore waiter, then
# DescribeCacheClusters(ShowCacheNodeInfo=True), all clusters and one by id.
def test_describe_cache_clusters_show_node_info(fc, ec):
    create_group(ec, "nodes-info", 3, AutomaticFailoverEnabled=True)
    ec.get_waiter("replication_group_available").wait(
        ReplicationGroupId="nodes-info", WaiterConfig=FAST_WAITER)

    clusters = ec.describe_cache_clusters(ShowCacheNodeInfo=True)["CacheClusters"]
    ids = sorted(c["CacheClusterId"] for c in clusters)
    assert ids == ["nodes-info-001", "nodes-info-002", "nodes-info-003"]
    addresses = set()
    for cluster in clusters:
        assert cluster["CacheClusterStatus"] == "available"
        assert cluster["ReplicationGroupId"] == "nodes-info"
        assert cluster["Engine"] == "redis"
        assert cluster["EngineVersion"].startswith("7.0")
        assert cluster["CacheNodeType"] == "cache.t3.micro"
        assert cluster["NumCacheNodes"] == 1
        assert cluster["PreferredAvailabilityZone"].startswith("us-east-1")
        [node] = cluster["CacheNodes"]
        assert node["CacheNodeId"] == "0001"
        assert node["CacheNodeStatus"] == "available"
        assert node["Endpoint"]["Port"] == 6379
        assert node["Endpoint"]["Address"]
        assert node["CustomerAvailabilityZone"].startswith("us-east-1")
        addresses.add(node["Endpoint"]["Address"])
    assert len(addresses) == 3, "each node has its own endpoint address"

    # Without ShowCacheNodeInfo no CacheNodes are listed (AWS's behaviour).
    plain = ec.describe_cache_clusters(CacheClusterId="nodes-info-002")["CacheClusters"]
    assert len(plain) == 1
    assert not plain[0].get("CacheNodes")


# Goal: creation is recorded with AWS's event texts, newest first, for the group and each
# member. Method: create a 3-node group, wait, then DescribeEvents unfiltered and filtered by
# SourceIdentifier/SourceType.
def test_describe_events_after_create(fc, ec):
    create_group(ec, "events-rg", 3, AutomaticFailoverEnabled=True)
    wait_group_available(ec, "events-rg")

    events = ec.describe_events()["Events"]
    dates = [e["Date"] for e in events]
    assert dates == sorted(dates, reverse=True), "events are newest first"

    group_events = ec.describe_events(SourceIdentifier="events-rg",
                                      SourceType="replication-group")["Events"]
    messages = [e["Message"] for e in group_events]
    assert "Replication group events-rg created" in messages
    assert all(e["SourceType"] == "replication-group" for e in group_events)

    for member in ("events-rg-001", "events-rg-002", "events-rg-003"):
        member_events = ec.describe_events(SourceIdentifier=member,
                                           SourceType="cache-cluster")["Events"]
        messages = [e["Message"] for e in member_events]
        assert "Cache cluster created" in messages, messages
        added = [m for m in messages
                 if m.startswith("Added cache node 0001 in availability zone us-east-1")]
        assert len(added) == 1, messages
        # Newest first: the node is added after the cluster is created.
        assert messages.index(added[0]) < messages.index("Cache cluster created")
        assert all(e["SourceIdentifier"] == member for e in member_events)

    # Duration (minutes) limits the window; a window far in the past is empty.
    recent = ec.describe_events(Duration=60)["Events"]
    assert len(recent) >= 7
    old = ec.describe_events(
        StartTime=datetime.datetime(2001, 1, 1, tzinfo=datetime.timezone.utc),
        EndTime=datetime.datetime(2001, 1, 2, tzinfo=datetime.timezone.utc))["Events"]
    assert old == []


# Goal: a delete flips the group to `deleting` synchronously and it then disappears with
# ReplicationGroupNotFoundFault (404), which is what the replication_group_deleted waiter
# needs. Method: create 2 nodes, wait, delete, describe at once, then run the waiter.
def test_replication_group_deleted_waiter(fc, ec):
    create_group(ec, "to-delete", 2)
    wait_group_available(ec, "to-delete")
    deleted = ec.delete_replication_group(ReplicationGroupId="to-delete")["ReplicationGroup"]
    assert deleted["Status"] == "deleting"
    try:
        status = ec.describe_replication_groups(
            ReplicationGroupId="to-delete")["ReplicationGroups"][0]["Status"]
        assert status == "deleting"
    except ClientError as e:  # already gone: fine
        assert e.response["Error"]["Code"] == "ReplicationGroupNotFoundFault"
    ec.get_waiter("replication_group_deleted").wait(
        ReplicationGroupId="to-delete", WaiterConfig=FAST_WAITER)
    with pytest.raises(ClientError) as err:
        ec.describe_replication_groups(ReplicationGroupId="to-delete")
    assert error_code(err) == ("ReplicationGroupNotFoundFault", 404)
    # Its member clusters are gone too.
    with pytest.raises(ClientError) as err:
        ec.describe_cache_clusters(CacheClusterId="to-delete-001")
    assert error_code(err) == ("CacheClusterNotFound", 404)
    # And the group is listed nowhere.
    assert ec.describe_replication_groups()["ReplicationGroups"] == []


# Goal: the cache_cluster_available and cache_cluster_deleted waiters work on a standalone
# cluster (delete must read `deleting` at once, never `available`, or the waiter fails).
# Method: CreateCacheCluster, waiter, DeleteCacheCluster, waiter, then CacheClusterNotFound.
def test_cache_cluster_waiters(fc, ec):
    created = ec.create_cache_cluster(CacheClusterId="waited-cluster", Engine="redis",
                                      CacheNodeType="cache.t3.micro",
                                      NumCacheNodes=1)["CacheCluster"]
    assert created["CacheClusterStatus"] == "creating"
    ec.get_waiter("cache_cluster_available").wait(CacheClusterId="waited-cluster",
                                                  WaiterConfig=FAST_WAITER)
    deleted = ec.delete_cache_cluster(CacheClusterId="waited-cluster")["CacheCluster"]
    assert deleted["CacheClusterStatus"] == "deleting"
    ec.get_waiter("cache_cluster_deleted").wait(CacheClusterId="waited-cluster",
                                                WaiterConfig=FAST_WAITER)
    with pytest.raises(ClientError) as err:
        ec.describe_cache_clusters(CacheClusterId="waited-cluster")
    assert error_code(err) == ("CacheClusterNotFound", 404)
    # Its node process is gone.
    wait_until(lambda: not any(pid_alive(pid) for pid in fc.node_pids().values()),
               timeout=30, what="node process stopped")
