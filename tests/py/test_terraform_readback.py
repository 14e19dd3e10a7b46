"""The read-back Terraform's AWS provider performs for `aws_elasticache_replication_group`
(shared/reference/elasticache-api.md §3.3), before and after an in-place update: every value
the configuration set must come back identical, or Terraform would plan a change forever."""

from harness import wait_group_available, wait_until


def read_back(ec, group_id):
    """What the provider's Read does: the group, its tags, and its first member with node info."""
    group = ec.describe_replication_groups(ReplicationGroupId=group_id)["ReplicationGroups"][0]
    tags = ec.list_tags_for_resource(ResourceName=group["ARN"])["TagList"]
    first = group["NodeGroups"][0]["NodeGroupMembers"][0]["CacheClusterId"]
    cluster = ec.describe_cache_clusters(CacheClusterId=first,
                                         ShowCacheNodeInfo=True)["CacheClusters"][0]
    node_group = group["NodeGroups"][0]
    return {
        "description": group["Description"],
        "node_type": group["CacheNodeType"],
        "automatic_failover_enabled": group["AutomaticFailover"] == "enabled",
        "multi_az_enabled": group["MultiAZ"] == "enabled",
        "snapshot_retention_limit": group["SnapshotRetentionLimit"],
        "snapshot_window": group["SnapshotWindow"],
        "num_cache_clusters": len(group["MemberClusters"]),
        "replicas_per_node_group": len(node_group["NodeGroupMembers"]) - 1,
        "port": node_group["PrimaryEndpoint"]["Port"],
        "engine_version": cluster["EngineVersion"],
        "parameter_group_name": cluster["CacheParameterGroup"]["CacheParameterGroupName"],
        "subnet_group_name": cluster["CacheSubnetGroupName"],
        "security_group_ids": sorted(g["SecurityGroupId"] for g in cluster["SecurityGroups"]),
        "maintenance_window": cluster["PreferredMaintenanceWindow"],
        "tags": {t["Key"]: t["Value"] for t in tags},
        "node_info_complete": all(
            {"CacheNodeId", "Endpoint", "CustomerAvailabilityZone"} <= set(n)
            for n in cluster["CacheNodes"]),
    }


def test_replication_group_reads_back_what_terraform_set(fc, ec):
    ec.create_cache_parameter_group(CacheParameterGroupName="tf-params",
                                    CacheParameterGroupFamily="redis7",
                                    Description="Managed by Terraform")
    ec.create_cache_parameter_group(CacheParameterGroupName="tf-params-2",
                                    CacheParameterGroupFamily="redis7",
                                    Description="Managed by Terraform")
    ec.create_replication_group(
        ReplicationGroupId="tf-redis", ReplicationGroupDescription="Managed by Terraform",
        NumCacheClusters=2, CacheNodeType="cache.t3.small", Engine="redis",
        EngineVersion="7.0", CacheParameterGroupName="tf-params", Port=6379,
        AutomaticFailoverEnabled=True, MultiAZEnabled=True, SnapshotRetentionLimit=5,
        SnapshotWindow="03:00-05:00", PreferredMaintenanceWindow="sun:05:00-sun:09:00",
        Tags=[{"Key": "Environment", "Value": "dev"}])
    wait_group_available(ec, "tf-redis")
    expected = {
        "description": "Managed by Terraform",
        "node_type": "cache.t3.small",
        "automatic_failover_enabled": True,
        "multi_az_enabled": True,
        "snapshot_retention_limit": 5,
        "snapshot_window": "03:00-05:00",
        "num_cache_clusters": 2,
        "replicas_per_node_group": 1,
        "port": 6379,
        "parameter_group_name": "tf-params",
        "subnet_group_name": "default",
        "maintenance_window": "sun:05:00-sun:09:00",
        "tags": {"Environment": "dev"},
        "node_info_complete": True,
    }
    got = read_back(ec, "tf-redis")
    assert got["engine_version"].startswith("7.0")
    assert len(got["security_group_ids"]) == 1, "the VPC's default security group"
    for key, value in expected.items():
        assert got[key] == value, f"{key}: {got[key]!r} != {value!r}"

    # An in-place update as the provider sends it: one ModifyReplicationGroup.
    ec.modify_replication_group(
        ReplicationGroupId="tf-redis", ReplicationGroupDescription="changed by Terraform",
        CacheParameterGroupName="tf-params-2", SnapshotRetentionLimit=7,
        SnapshotWindow="01:00-02:00", PreferredMaintenanceWindow="mon:01:00-mon:03:00",
        CacheNodeType="cache.m6g.large", ApplyImmediately=True)
    wait_until(lambda: read_back(ec, "tf-redis")["node_type"] == "cache.m6g.large",
               what="the new node type")
    wait_group_available(ec, "tf-redis")
    got = read_back(ec, "tf-redis")
    expected.update({
        "description": "changed by Terraform",
        "parameter_group_name": "tf-params-2",
        "snapshot_retention_limit": 7,
        "snapshot_window": "01:00-02:00",
        "maintenance_window": "mon:01:00-mon:03:00",
        "node_type": "cache.m6g.large",
    })
    for key, value in expected.items():
        assert got[key] == value, f"after update, {key}: {got[key]!r} != {value!r}"
    # A second apply with nothing changed is the error Terraform ignores.
    try:
        ec.modify_replication_group(ReplicationGroupId="tf-redis",
                                    ReplicationGroupDescription="changed by Terraform",
                                    ApplyImmediately=True)
        raise AssertionError("an empty modification must be refused")
    except ec.exceptions.ClientError as error:
        assert "No modifications were requested" in error.response["Error"]["Message"]
