"""AWS's rules between resources and states: id collisions between groups and clusters,
deleting while creating, replica-count limits, tag quotas, reboot targets, case rules, and
the defaults that must be accepted."""

import pytest
from botocore.exceptions import ClientError

from harness import ACCOUNT_ID, error_code, wait_cluster_available, wait_group_available


# Goal: cache cluster ids are one namespace: a group cannot be created over an existing
# cluster's member id, nor a cluster over an existing one; nothing half-created is left.
# Method: standalone `x-001`, then CreateReplicationGroup `x` and CreateCacheCluster `x-001`.
def test_cluster_id_collisions(fc, ec):
    ec.create_cache_cluster(CacheClusterId="x-001", Engine="redis",
                            CacheNodeType="cache.t3.micro", NumCacheNodes=1)
    with pytest.raises(ClientError) as err:
        ec.create_replication_group(ReplicationGroupId="x", ReplicationGroupDescription="x",
                                    CacheNodeType="cache.t3.micro", NumCacheClusters=2)
    assert error_code(err) == ("CacheClusterAlreadyExists", 400)
    with pytest.raises(ClientError) as err:
        ec.create_cache_cluster(CacheClusterId="x-001", Engine="redis",
                                CacheNodeType="cache.t3.micro", NumCacheNodes=1)
    assert error_code(err) == ("CacheClusterAlreadyExists", 400)
    assert ec.describe_replication_groups()["ReplicationGroups"] == []
    cluster = wait_cluster_available(ec, "x-001")
    assert not cluster.get("ReplicationGroupId")


# Goal: a group still `creating` cannot be deleted (InvalidReplicationGroupState), and once
# available it can; ids are case-insensitive on delete and describe.
# Method: delete right after create, then after it is available, using upper case.
def test_delete_while_creating_and_case(fc, ec):
    ec.create_replication_group(ReplicationGroupId="young", ReplicationGroupDescription="y",
                                CacheNodeType="cache.t3.micro", NumCacheClusters=2)
    try:
        ec.delete_replication_group(ReplicationGroupId="young")
        deleted_at_once = True  # only if creation beat the call (a very fast machine)
    except ClientError as e:
        deleted_at_once = False
        assert (e.response["Error"]["Code"],
                e.response["ResponseMetadata"]["HTTPStatusCode"]) == (
                    "InvalidReplicationGroupState", 400)
    if not deleted_at_once:
        wait_group_available(ec, "young")
        described = ec.describe_replication_groups(ReplicationGroupId="YOUNG")
        assert described["ReplicationGroups"][0]["ReplicationGroupId"] == "young"
        deleted = ec.delete_replication_group(ReplicationGroupId="YOUNG")["ReplicationGroup"]
        assert deleted["Status"] == "deleting"
    ec.get_waiter("replication_group_deleted").wait(
        ReplicationGroupId="young", WaiterConfig={"Delay": 1, "MaxAttempts": 60})


# Goal: replica-count limits and the automatic-failover minimum, with AWS's messages.
# Method: a 2-node group with automatic failover; decrease to 0, increase to 6, delete its
# only replica.
def test_replica_count_limits(fc, ec):
    ec.create_replication_group(ReplicationGroupId="limits", ReplicationGroupDescription="l",
                                CacheNodeType="cache.t3.micro", NumCacheClusters=2,
                                AutomaticFailoverEnabled=True)
    wait_group_available(ec, "limits")
    with pytest.raises(ClientError) as err:
        ec.decrease_replica_count(ReplicationGroupId="limits", NewReplicaCount=0,
                                  ApplyImmediately=True)
    assert error_code(err) == ("InvalidParameterValue", 400)
    assert err.value.response["Error"]["Message"] == (
        "Must have at least 1 replica when cluster mode is disabled with auto failover enabled.")
    with pytest.raises(ClientError) as err:
        ec.increase_replica_count(ReplicationGroupId="limits", NewReplicaCount=6,
                                  ApplyImmediately=True)
    assert error_code(err) == ("InvalidParameterValue", 400)
    with pytest.raises(ClientError) as err:
        ec.delete_cache_cluster(CacheClusterId="limits-002")
    assert error_code(err) == ("InvalidCacheClusterState", 400)
    assert "only read replica" in err.value.response["Error"]["Message"]
    group = wait_group_available(ec, "limits")
    assert group["MemberClusters"] == ["limits-001", "limits-002"]


# Goal: at most 50 tags per resource (TagQuotaPerResourceExceeded), and a reboot names real
# nodes. Method: add 51 tags; reboot node 0002 of a one-node cluster.
def test_tag_quota_and_reboot_target(fc, ec):
    ec.create_replication_group(ReplicationGroupId="quota", ReplicationGroupDescription="q",
                                CacheNodeType="cache.t3.micro", NumCacheClusters=1)
    wait_group_available(ec, "quota")
    arn = f"arn:aws:elasticache:us-east-1:{ACCOUNT_ID}:replicationgroup:quota"
    with pytest.raises(ClientError) as err:
        ec.add_tags_to_resource(ResourceName=arn, Tags=[
            {"Key": f"k{i}", "Value": "v"} for i in range(51)])
    assert error_code(err) == ("TagQuotaPerResourceExceeded", 400)
    assert ec.list_tags_for_resource(ResourceName=arn)["TagList"] == []
    with pytest.raises(ClientError) as err:
        ec.reboot_cache_cluster(CacheClusterId="quota-001", CacheNodeIdsToReboot=["0002"])
    assert error_code(err) == ("InvalidParameterValue", 400)


# Goal: the default parameter group and subnet group are accepted and reported, an empty Tags
# list (botocore sends `Tags=`) is fine. Method: create with each and describe the member.
def test_defaults_are_accepted(fc, ec):
    ec.create_replication_group(ReplicationGroupId="defaults", ReplicationGroupDescription="d",
                                CacheNodeType="cache.t3.micro", NumCacheClusters=1,
                                CacheParameterGroupName="default.redis7",
                                CacheSubnetGroupName="default", Tags=[])
    wait_group_available(ec, "defaults")
    cluster = ec.describe_cache_clusters(CacheClusterId="defaults-001")["CacheClusters"][0]
    assert cluster["CacheParameterGroup"]["CacheParameterGroupName"] == "default.redis7"
    assert cluster["CacheSubnetGroupName"] == "default"
