//! `CreateCacheCluster`, `DescribeCacheClusters`, `DeleteCacheCluster`, `RebootCacheCluster`,
//! and the `CacheCluster` element.
//!
//! A Redis cache cluster is one node: `NumCacheNodes` is 1 and its one `CacheNode` is `0001`.
//! `CacheNodes` is written only with `ShowCacheNodeInfo=true`, and then holds the node as soon
//! as it has an endpoint: Terraform fails on a `CacheNode` without `CacheNodeId`,
//! `Endpoint.Address`, `Endpoint.Port` or `CustomerAvailabilityZone`, so a node is never
//! written half.

use ferrocache_control::service::cache_cluster::DescribeClustersQuery;
use ferrocache_control::service::view::NodeView;
use ferrocache_model::group::NetworkRequest;
use ferrocache_model::ids::CACHE_NODE_ID;
use ferrocache_model::node::CreateNodeRequest;
use ferrocache_model::parameter::ApplyStatus;

use super::{endpoint, required, tag};
use crate::error::ApiError;
use crate::operation::Call;
use crate::xml::Xml;

/// `ClientDownloadLandingPage` of every cache cluster (AWS's console page for client downloads).
pub const CLIENT_DOWNLOAD_LANDING_PAGE: &str =
    "https://console.aws.amazon.com/elasticache/home#client-download:";
/// `SecurityGroups[].Status` of an attached VPC security group.
pub const SECURITY_GROUP_ACTIVE: &str = "active";

/// `CreateCacheCluster` → `<CacheCluster>`.
///
/// # Errors
/// Decoding errors, the service's faults.
pub fn create_cache_cluster(call: &Call<'_>, x: &mut Xml) -> Result<(), ApiError> {
    let p = call.params;
    let req = CreateNodeRequest {
        cache_cluster_id: p.string("CacheClusterId"),
        replication_group_id: p.string("ReplicationGroupId"),
        az_mode: p.string("AZMode"),
        preferred_availability_zone: p.string("PreferredAvailabilityZone"),
        preferred_availability_zones: p
            .list("PreferredAvailabilityZones", "PreferredAvailabilityZone")?,
        num_cache_nodes: p.integer("NumCacheNodes")?,
        cache_node_type: p.string("CacheNodeType"),
        engine: p.string("Engine"),
        engine_version: p.string("EngineVersion"),
        cache_parameter_group_name: p.string("CacheParameterGroupName"),
        cache_subnet_group_name: p.string("CacheSubnetGroupName"),
        cache_security_group_names: p.list("CacheSecurityGroupNames", "CacheSecurityGroupName")?,
        security_group_ids: p.list("SecurityGroupIds", "SecurityGroupId")?,
        tags: tag::decode_tags(p)?,
        log_deliveries: super::log_delivery::requests(p)?,
        snapshot_arns: p.list("SnapshotArns", "SnapshotArn")?,
        snapshot_name: p.string("SnapshotName"),
        preferred_maintenance_window: p.string("PreferredMaintenanceWindow"),
        port: p.integer("Port")?,
        auto_minor_version_upgrade: p.boolean("AutoMinorVersionUpgrade")?,
        snapshot_retention_limit: p.integer("SnapshotRetentionLimit")?,
        snapshot_window: p.string("SnapshotWindow"),
        auth_token: p.string("AuthToken"),
        transit_encryption_enabled: p.boolean("TransitEncryptionEnabled")?,
        network: NetworkRequest {
            network_type: p.string("NetworkType"),
            ip_discovery: p.string("IpDiscovery"),
            transit_encryption_mode: p.string("TransitEncryptionMode"),
        },
    };
    // Members the model's request does not carry yet are still checked for their shape.
    p.list("PreferredOutpostArns", "PreferredOutpostArn")?;
    let node = call.service.create_cache_cluster(call.region, &req)?;
    x.element("CacheCluster", |x| cache_cluster(x, &node, false));
    Ok(())
}

/// `DescribeCacheClusters` (`ShowCacheNodeInfo`, `ShowCacheClustersNotInReplicationGroups`) →
/// `[Marker]`, `<CacheClusters>`.
///
/// # Errors
/// Decoding errors, `CacheClusterNotFound`, paging faults.
pub fn describe_cache_clusters(call: &Call<'_>, x: &mut Xml) -> Result<(), ApiError> {
    let p = call.params;
    let show_nodes = p.boolean("ShowCacheNodeInfo")?.unwrap_or(false);
    let query = DescribeClustersQuery {
        cache_cluster_id: p.string("CacheClusterId"),
        max_records: p.integer("MaxRecords")?,
        marker: p.string("Marker"),
        not_in_replication_groups: p
            .boolean("ShowCacheClustersNotInReplicationGroups")?
            .unwrap_or(false),
    };
    let page = call.service.describe_cache_clusters(call.region, &query)?;
    x.text_opt("Marker", page.marker.as_deref());
    x.list("CacheClusters", "CacheCluster", &page.items, |x, node| {
        cache_cluster(x, node, show_nodes)
    });
    Ok(())
}

/// `DeleteCacheCluster` (`FinalSnapshotIdentifier`) → `<CacheCluster>` reading `deleting`.
///
/// # Errors
/// Decoding errors, the service's faults.
pub fn delete_cache_cluster(call: &Call<'_>, x: &mut Xml) -> Result<(), ApiError> {
    let p = call.params;
    let id = required(p, "CacheClusterId")?;
    let node =
        call.service
            .delete_cache_cluster(call.region, id, p.get("FinalSnapshotIdentifier"))?;
    x.element("CacheCluster", |x| cache_cluster(x, &node, false));
    Ok(())
}

/// `RebootCacheCluster` (`CacheNodeIdsToReboot.CacheNodeId.N`) → `<CacheCluster>`.
///
/// # Errors
/// Decoding errors, the service's faults.
pub fn reboot_cache_cluster(call: &Call<'_>, x: &mut Xml) -> Result<(), ApiError> {
    let p = call.params;
    let id = required(p, "CacheClusterId")?;
    let node_ids = p.list("CacheNodeIdsToReboot", "CacheNodeId")?;
    let node = call
        .service
        .reboot_cache_cluster(call.region, id, &node_ids)?;
    x.element("CacheCluster", |x| cache_cluster(x, &node, false));
    Ok(())
}

/// The children of a `CacheCluster` element, in model order; `CacheNodes` only when
/// `show_nodes` (`ShowCacheNodeInfo=true`).
pub fn cache_cluster(x: &mut Xml, node: &NodeView, show_nodes: bool) {
    let spec = &node.spec;
    x.text("CacheClusterId", &spec.id);
    x.text("ClientDownloadLandingPage", CLIENT_DOWNLOAD_LANDING_PAGE);
    x.text("CacheNodeType", node.node_type());
    x.text("Engine", &spec.engine);
    x.text("EngineVersion", &spec.engine_version);
    x.text("CacheClusterStatus", node.status.as_str());
    x.integer("NumCacheNodes", 1);
    x.text_opt("PreferredAvailabilityZone", node.zone());
    x.timestamp("CacheClusterCreateTime", &spec.created_at);
    x.text("PreferredMaintenanceWindow", &spec.maintenance_window);
    x.element("PendingModifiedValues", |x| {
        x.text_opt("CacheNodeType", node.pending_node_type());
    });
    x.empty("CacheSecurityGroups");
    x.element("CacheParameterGroup", |x| {
        x.text("CacheParameterGroupName", &spec.parameter_group);
        x.text("ParameterApplyStatus", node.parameter_status.as_str());
        // The one cache node waits for a reboot while a requires-reboot change is pending.
        let to_reboot =
            (node.parameter_status == ApplyStatus::PendingReboot).then_some(CACHE_NODE_ID);
        x.text_list("CacheNodeIdsToReboot", "CacheNodeId", to_reboot);
    });
    x.text("CacheSubnetGroupName", &spec.subnet_group);
    if show_nodes {
        x.list("CacheNodes", "CacheNode", node.endpoint(), |x, address| {
            cache_node(x, node, &address)
        });
    }
    x.boolean("AutoMinorVersionUpgrade", spec.auto_minor_version_upgrade);
    x.list(
        "SecurityGroups",
        "member",
        &spec.security_group_ids,
        |x, id| {
            x.text("SecurityGroupId", id);
            x.text("Status", SECURITY_GROUP_ACTIVE);
        },
    );
    x.text_opt("ReplicationGroupId", spec.group_id.as_deref());
    x.integer(
        "SnapshotRetentionLimit",
        i64::from(spec.snapshot_retention_limit),
    );
    x.text("SnapshotWindow", &spec.snapshot_window);
    x.boolean("AuthTokenEnabled", spec.auth.enabled());
    if let Some(at) = &spec.auth.last_modified {
        x.timestamp("AuthTokenLastModifiedDate", at);
    }
    x.boolean(
        "TransitEncryptionEnabled",
        spec.transit_encryption.is_some(),
    );
    x.boolean("AtRestEncryptionEnabled", spec.at_rest_encryption.is_some());
    x.text("ARN", &node.arn);
    x.boolean(
        "ReplicationGroupLogDeliveryEnabled",
        spec.group_id.is_some() && !spec.log_delivery.is_empty(),
    );
    super::log_delivery::write(x, &node.log_deliveries());
    x.text("NetworkType", "ipv4");
    x.text("IpDiscovery", "ipv4");
    x.text_opt(
        "TransitEncryptionMode",
        spec.transit_encryption.map(|m| m.as_str()),
    );
}

/// The children of the one `CacheNode` of a cache cluster.
fn cache_node(x: &mut Xml, node: &NodeView, address: &ferrocache_control::service::view::Endpoint) {
    x.text("CacheNodeId", CACHE_NODE_ID);
    x.text("CacheNodeStatus", node.cache_node_status.as_str());
    if let Some(created) = node.node_created_at() {
        x.timestamp("CacheNodeCreateTime", &created);
    }
    endpoint(x, "Endpoint", address);
    x.text("ParameterGroupStatus", node.parameter_status.as_str());
    x.text_opt("CustomerAvailabilityZone", node.zone());
}
