"""CreateReplicationGroup's other shapes and the endpoints they produce: ReplicasPerNodeGroup,
PreferredCacheClusterAZs, Port, PrimaryClusterId (adopting a cluster), regions from SigV4,
and how the reader endpoint spreads connections."""

import boto3
import pytest
import redis
from botocore.exceptions import ClientError

from harness import (ACCOUNT_ID, error_code, wait_cluster_available, wait_group_available,
                     wait_until)


def connect(address, port=6379):
    return redis.Redis(host=address, port=port, socket_timeout=10, socket_connect_timeout=10,
                       decode_responses=True)


# Goal: ReplicasPerNodeGroup, PreferredCacheClusterAZs (primary in the first AZ) and a custom
# Port shape the group as AWS documents, and every endpoint listens on that port.
# Method: ReplicasPerNodeGroup=2, AZs [c, a, b], Port=6380; check members, AZs, roles and PING
# every endpoint on 6380.
def test_replicas_per_node_group_azs_and_port(fc, ec):
    ec.create_replication_group(
        ReplicationGroupId="shaped", ReplicationGroupDescription="shaped",
        CacheNodeType="cache.t3.micro", ReplicasPerNodeGroup=2, Port=6380,
        PreferredCacheClusterAZs=["us-east-1c", "us-east-1a", "us-east-1b"])
    group = wait_group_available(ec, "shaped")
    assert group["MemberClusters"] == ["shaped-001", "shaped-002", "shaped-003"]
    node_group = group["NodeGroups"][0]
    members = {m["CacheClusterId"]: m for m in node_group["NodeGroupMembers"]}
    assert members["shaped-001"]["CurrentRole"] == "primary"
    assert members["shaped-001"]["PreferredAvailabilityZone"] == "us-east-1c"
    assert members["shaped-002"]["PreferredAvailabilityZone"] == "us-east-1a"
    assert members["shaped-003"]["PreferredAvailabilityZone"] == "us-east-1b"
    endpoints = [node_group["PrimaryEndpoint"], node_group["ReaderEndpoint"]]
    endpoints += [m["ReadEndpoint"] for m in members.values()]
    for endpoint in endpoints:
        assert endpoint["Port"] == 6380
        assert connect(endpoint["Address"], 6380).ping()
    clusters = ec.describe_cache_clusters(ShowCacheNodeInfo=True)["CacheClusters"]
    assert {c["CacheNodes"][0]["Endpoint"]["Port"] for c in clusters} == {6380}


# Goal: the reader endpoint spreads new connections over the healthy replicas only, and a group
# without replicas serves reads (and writes) from the primary through it.
# Method: 20 connections to the reader endpoint of a 3-node group, collect each node's run_id;
# then a 1-node group's reader endpoint reports role master.
def test_reader_endpoint_spreads_over_replicas(fc, ec):
    ec.create_replication_group(ReplicationGroupId="spread", ReplicationGroupDescription="s",
                                CacheNodeType="cache.t3.micro", NumCacheClusters=3)
    ec.create_replication_group(ReplicationGroupId="lonely", ReplicationGroupDescription="l",
                                CacheNodeType="cache.t3.micro", NumCacheClusters=1)
    group = wait_group_available(ec, "spread")
    primary = group["NodeGroups"][0]["PrimaryEndpoint"]["Address"]
    reader = group["NodeGroups"][0]["ReaderEndpoint"]["Address"]
    primary_run_id = connect(primary).info("server")["run_id"]
    seen = set()
    for _ in range(20):
        client = connect(reader)
        info = client.info()
        assert info["role"] == "slave"
        seen.add(info["run_id"])
        client.close()
    assert primary_run_id not in seen
    assert len(seen) == 2, "both replicas get connections"

    lonely = wait_group_available(ec, "lonely")
    lonely_reader = lonely["NodeGroups"][0]["ReaderEndpoint"]["Address"]
    assert connect(lonely_reader).info("replication")["role"] == "master"


# Goal: PrimaryClusterId turns an existing standalone cluster, data included, into the primary
# of a new group. Method: CreateCacheCluster, write, CreateReplicationGroup(PrimaryClusterId),
# read through the new primary endpoint; the cluster now names its group.
def test_primary_cluster_id_adopts_existing_cluster(fc, ec):
    ec.create_cache_cluster(CacheClusterId="seed", Engine="redis",
                            CacheNodeType="cache.t3.micro", NumCacheNodes=1)
    seed = wait_cluster_available(ec, "seed")
    endpoint = seed["CacheNodes"][0]["Endpoint"]
    connect(endpoint["Address"], endpoint["Port"]).set("seeded", "yes")

    created = ec.create_replication_group(ReplicationGroupId="from-seed",
                                          ReplicationGroupDescription="adopt",
                                          PrimaryClusterId="seed")["ReplicationGroup"]
    assert created["MemberClusters"] == ["seed"]
    group = wait_group_available(ec, "from-seed")
    primary = group["NodeGroups"][0]["PrimaryEndpoint"]["Address"]
    assert connect(primary).get("seeded") == "yes"
    cluster = ec.describe_cache_clusters(CacheClusterId="seed")["CacheClusters"][0]
    assert cluster["ReplicationGroupId"] == "from-seed"

    with pytest.raises(ClientError) as err:
        ec.create_replication_group(ReplicationGroupId="from-nothing",
                                    ReplicationGroupDescription="adopt",
                                    PrimaryClusterId="no-such-cluster")
    assert error_code(err) == ("CacheClusterNotFound", 404)


# Goal: the region in the SigV4 credential scope scopes resources (ARNs, AZs, listings), as
# with separate AWS regions. Method: a us-west-2 client creates a group; a us-east-1 client
# does not see it.
def test_region_from_sigv4_scopes_resources(fc, ec):
    west = boto3.client("elasticache", endpoint_url=fc.endpoint_url, region_name="us-west-2",
                        aws_access_key_id="test", aws_secret_access_key="test")
    created = west.create_replication_group(ReplicationGroupId="west-rg",
                                            ReplicationGroupDescription="west",
                                            CacheNodeType="cache.t3.micro",
                                            NumCacheClusters=1)["ReplicationGroup"]
    assert created["ARN"] == f"arn:aws:elasticache:us-west-2:{ACCOUNT_ID}:replicationgroup:west-rg"
    wait_group_available(west, "west-rg")
    [cluster] = west.describe_cache_clusters(ShowCacheNodeInfo=True)["CacheClusters"]
    assert cluster["PreferredAvailabilityZone"].startswith("us-west-2")
    assert cluster["CacheNodes"][0]["CustomerAvailabilityZone"].startswith("us-west-2")
    assert ec.describe_replication_groups()["ReplicationGroups"] == []
    with pytest.raises(ClientError) as err:
        ec.describe_replication_groups(ReplicationGroupId="west-rg")
    assert error_code(err) == ("ReplicationGroupNotFoundFault", 404)


# Goal: a Multi-AZ group places its replicas outside the primary's availability zone.
# Method: MultiAZEnabled with 3 nodes; compare the members' AZs.
def test_multi_az_spreads_nodes(fc, ec):
    ec.create_replication_group(ReplicationGroupId="maz", ReplicationGroupDescription="maz",
                                CacheNodeType="cache.t3.micro", NumCacheClusters=3,
                                AutomaticFailoverEnabled=True, MultiAZEnabled=True)
    group = wait_group_available(ec, "maz")
    assert group["MultiAZ"] == "enabled"
    members = group["NodeGroups"][0]["NodeGroupMembers"]
    primary_az = next(m["PreferredAvailabilityZone"] for m in members
                      if m["CurrentRole"] == "primary")
    replica_azs = {m["PreferredAvailabilityZone"] for m in members
                   if m["CurrentRole"] == "replica"}
    assert replica_azs - {primary_az}, (primary_az, replica_azs)


# Goal: AWS's rules for deleting members of a group. Method: delete the primary member
# (InvalidCacheClusterState with AWS's message) and a replica (allowed: the group shrinks).
def test_delete_cache_cluster_rules_in_group(fc, ec):
    ec.create_replication_group(ReplicationGroupId="members", ReplicationGroupDescription="m",
                                CacheNodeType="cache.t3.micro", NumCacheClusters=3)
    wait_group_available(ec, "members")
    with pytest.raises(ClientError) as err:
        ec.delete_cache_cluster(CacheClusterId="members-001")
    assert error_code(err) == ("InvalidCacheClusterState", 400)
    assert "serving as primary" in err.value.response["Error"]["Message"]

    deleted = ec.delete_cache_cluster(CacheClusterId="members-003")["CacheCluster"]
    assert deleted["CacheClusterStatus"] == "deleting"
    ec.get_waiter("cache_cluster_deleted").wait(CacheClusterId="members-003",
                                                WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    group = wait_until(lambda: (g := ec.describe_replication_groups(
        ReplicationGroupId="members")["ReplicationGroups"][0])["Status"] == "available"
        and len(g["MemberClusters"]) == 2 and g, timeout=60, what="group shrunk")
    assert group["MemberClusters"] == ["members-001", "members-002"]
