//! `ModifyReplicationGroup`, `ModifyCacheCluster` and `ListAllowedNodeTypeModifications`.

use ferrocache_model::modify::{ModifyClusterRequest, ModifyGroupRequest};

use super::cache_cluster::cache_cluster;
use super::replication_group::replication_group;
use crate::error::ApiError;
use crate::operation::Call;
use crate::query::Params;
use crate::xml::Xml;

/// A list member that may be sent to clear (`Name=`) or to set, or left out (`None`).
fn optional_list(p: &Params, name: &str, member: &str) -> Result<Option<Vec<String>>, ApiError> {
    if p.present(name) {
        Ok(Some(p.list(name, member)?))
    } else {
        Ok(None)
    }
}

/// `ModifyReplicationGroup` → `<ReplicationGroup>`.
///
/// # Errors
/// Decoding errors, and the service's faults.
pub fn modify_replication_group(call: &Call<'_>, x: &mut Xml) -> Result<(), ApiError> {
    let p = call.params;
    let req = ModifyGroupRequest {
        replication_group_id: p.string("ReplicationGroupId"),
        description: p.string("ReplicationGroupDescription"),
        primary_cluster_id: p.string("PrimaryClusterId"),
        snapshotting_cluster_id: p.string("SnapshottingClusterId"),
        automatic_failover_enabled: p.boolean("AutomaticFailoverEnabled")?,
        multi_az_enabled: p.boolean("MultiAZEnabled")?,
        node_group_id: p.string("NodeGroupId"),
        cache_security_group_names: p.list("CacheSecurityGroupNames", "CacheSecurityGroupName")?,
        security_group_ids: optional_list(p, "SecurityGroupIds", "SecurityGroupId")?,
        preferred_maintenance_window: p.string("PreferredMaintenanceWindow"),
        notification_topic_arn: p.string("NotificationTopicArn"),
        notification_topic_status: p.string("NotificationTopicStatus"),
        cache_parameter_group_name: p.string("CacheParameterGroupName"),
        apply_immediately: p.boolean("ApplyImmediately")?,
        engine: p.string("Engine"),
        engine_version: p.string("EngineVersion"),
        auto_minor_version_upgrade: p.boolean("AutoMinorVersionUpgrade")?,
        snapshot_retention_limit: p.integer("SnapshotRetentionLimit")?,
        snapshot_window: p.string("SnapshotWindow"),
        cache_node_type: p.string("CacheNodeType"),
        auth_token: p.string("AuthToken"),
        auth_token_update_strategy: p.string("AuthTokenUpdateStrategy"),
        user_group_ids_to_add: p.list("UserGroupIdsToAdd", "member")?,
        user_group_ids_to_remove: p.list("UserGroupIdsToRemove", "member")?,
        remove_user_groups: p.boolean("RemoveUserGroups")?,
        log_deliveries: super::log_delivery::requests(p)?,
        ip_discovery: p.string("IpDiscovery"),
        transit_encryption_enabled: p.boolean("TransitEncryptionEnabled")?,
        transit_encryption_mode: p.string("TransitEncryptionMode"),
        cluster_mode: p.string("ClusterMode"),
    };
    let group = call.service.modify_replication_group(call.region, &req)?;
    x.element("ReplicationGroup", |x| replication_group(x, &group));
    Ok(())
}

/// `ModifyCacheCluster` → `<CacheCluster>`.
///
/// # Errors
/// Decoding errors, and the service's faults.
pub fn modify_cache_cluster(call: &Call<'_>, x: &mut Xml) -> Result<(), ApiError> {
    let p = call.params;
    let req = ModifyClusterRequest {
        cache_cluster_id: p.string("CacheClusterId"),
        num_cache_nodes: p.integer("NumCacheNodes")?,
        cache_node_ids_to_remove: p.list("CacheNodeIdsToRemove", "CacheNodeId")?,
        az_mode: p.string("AZMode"),
        new_availability_zones: p.list("NewAvailabilityZones", "PreferredAvailabilityZone")?,
        cache_security_group_names: p.list("CacheSecurityGroupNames", "CacheSecurityGroupName")?,
        security_group_ids: optional_list(p, "SecurityGroupIds", "SecurityGroupId")?,
        preferred_maintenance_window: p.string("PreferredMaintenanceWindow"),
        notification_topic_arn: p.string("NotificationTopicArn"),
        cache_parameter_group_name: p.string("CacheParameterGroupName"),
        notification_topic_status: p.string("NotificationTopicStatus"),
        apply_immediately: p.boolean("ApplyImmediately")?,
        engine: p.string("Engine"),
        engine_version: p.string("EngineVersion"),
        auto_minor_version_upgrade: p.boolean("AutoMinorVersionUpgrade")?,
        snapshot_retention_limit: p.integer("SnapshotRetentionLimit")?,
        snapshot_window: p.string("SnapshotWindow"),
        cache_node_type: p.string("CacheNodeType"),
        auth_token: p.string("AuthToken"),
        auth_token_update_strategy: p.string("AuthTokenUpdateStrategy"),
        log_deliveries: super::log_delivery::requests(p)?,
        ip_discovery: p.string("IpDiscovery"),
    };
    let node = call.service.modify_cache_cluster(call.region, &req)?;
    x.element("CacheCluster", |x| cache_cluster(x, &node, false));
    Ok(())
}

/// `ListAllowedNodeTypeModifications` → `<ScaleUpModifications>`, `<ScaleDownModifications>`.
///
/// # Errors
/// Not-found faults, `InvalidParameterCombination`.
pub fn list_allowed_node_type_modifications(call: &Call<'_>, x: &mut Xml) -> Result<(), ApiError> {
    let p = call.params;
    let allowed = call.service.list_allowed_node_type_modifications(
        call.region,
        p.get("CacheClusterId"),
        p.get("ReplicationGroupId"),
    )?;
    x.text_list(
        "ScaleUpModifications",
        "member",
        allowed.scale_up.iter().copied(),
    );
    x.text_list(
        "ScaleDownModifications",
        "member",
        allowed.scale_down.iter().copied(),
    );
    Ok(())
}
