//! `CreateSnapshot`, `DescribeSnapshots`, `DeleteSnapshot`, `CopySnapshot`, and the `Snapshot`
//! element.
//!
//! A snapshot names its source as the request did: `CacheClusterId` when it named a cache
//! cluster, `ReplicationGroupId` (with `NumNodeGroups`) whenever the source is in a group.
//! `NodeSnapshots` holds the node each RDB comes from (one per shard of a cluster-mode group); `CacheSize` stays empty until the
//! snapshot is `available`, as in AWS's `create-snapshot` sample.

use ferrocache_control::service::snapshot::{
    CopySnapshotRequest, CreateSnapshotRequest, DescribeSnapshotsQuery, SnapshotView,
};
use ferrocache_model::ids::CACHE_NODE_ID;
use ferrocache_model::shard::SlotRange;
use ferrocache_model::snapshot;

use super::{enabled, required, tag};
use crate::error::ApiError;
use crate::operation::Call;
use crate::xml::Xml;

/// `CreateSnapshot` → `<Snapshot>` reading `creating`.
///
/// # Errors
/// Decoding errors, the service's faults.
pub fn create_snapshot(call: &Call<'_>, x: &mut Xml) -> Result<(), ApiError> {
    let p = call.params;
    let req = CreateSnapshotRequest {
        snapshot_name: required(p, "SnapshotName")?.to_string(),
        cache_cluster_id: p.string("CacheClusterId"),
        replication_group_id: p.string("ReplicationGroupId"),
        kms_key_id: p.string("KmsKeyId"),
        tags: tag::decode_tags(p)?,
    };
    let view = call.service.create_snapshot(call.region, &req)?;
    x.element("Snapshot", |x| snapshot_element(x, &view, false));
    Ok(())
}

/// `CopySnapshot` (`SourceSnapshotName`, `TargetSnapshotName`, `Tags`, `TargetBucket`;
/// `KmsKeyId` refused) → `<Snapshot>`: the copy reading `creating`, or with `TargetBucket` (an
/// export to the object store) the source reading `copying`.
///
/// # Errors
/// Decoding errors, the service's faults.
pub fn copy_snapshot(call: &Call<'_>, x: &mut Xml) -> Result<(), ApiError> {
    let p = call.params;
    let req = CopySnapshotRequest {
        source_snapshot_name: required(p, "SourceSnapshotName")?.to_string(),
        target_snapshot_name: required(p, "TargetSnapshotName")?.to_string(),
        target_bucket: p.string("TargetBucket"),
        kms_key_id: p.string("KmsKeyId"),
        tags: tag::decode_tags(p)?,
    };
    let view = call.service.copy_snapshot(call.region, &req)?;
    x.element("Snapshot", |x| snapshot_element(x, &view, false));
    Ok(())
}

/// `DescribeSnapshots` (`SnapshotName`, `CacheClusterId`, `ReplicationGroupId`,
/// `SnapshotSource`, `ShowNodeGroupConfig`, `MaxRecords` 20–50, `Marker`) → `[Marker]`,
/// `<Snapshots>`.
///
/// # Errors
/// Decoding errors, `SnapshotNotFoundFault`, bad filter or paging values.
pub fn describe_snapshots(call: &Call<'_>, x: &mut Xml) -> Result<(), ApiError> {
    let p = call.params;
    let show_config = p.boolean("ShowNodeGroupConfig")?.unwrap_or(false);
    let query = DescribeSnapshotsQuery {
        snapshot_name: p.string("SnapshotName"),
        cache_cluster_id: p.string("CacheClusterId"),
        replication_group_id: p.string("ReplicationGroupId"),
        snapshot_source: p.string("SnapshotSource"),
        max_records: p.integer("MaxRecords")?,
        marker: p.string("Marker"),
    };
    let page = call.service.describe_snapshots(call.region, &query)?;
    x.text_opt("Marker", page.marker.as_deref());
    x.list("Snapshots", "Snapshot", &page.items, |x, view| {
        snapshot_element(x, view, show_config)
    });
    Ok(())
}

/// `DeleteSnapshot` → `<Snapshot>` reading `deleting`.
///
/// # Errors
/// Decoding errors, `SnapshotNotFoundFault`, `InvalidSnapshotState`.
pub fn delete_snapshot(call: &Call<'_>, x: &mut Xml) -> Result<(), ApiError> {
    let name = required(call.params, "SnapshotName")?;
    let view = call.service.delete_snapshot(call.region, name)?;
    x.element("Snapshot", |x| snapshot_element(x, &view, false));
    Ok(())
}

/// The children of a `Snapshot` element, in model order; `NodeGroupConfiguration` only with
/// `ShowNodeGroupConfig=true`.
pub fn snapshot_element(x: &mut Xml, view: &SnapshotView, show_config: bool) {
    let spec = &view.spec;
    x.text("SnapshotName", &spec.name);
    x.text_opt("ReplicationGroupId", spec.group_id.as_deref());
    x.text_opt(
        "ReplicationGroupDescription",
        spec.group_description.as_deref(),
    );
    x.text_opt("CacheClusterId", spec.cache_cluster_id.as_deref());
    x.text("SnapshotStatus", view.status.as_str());
    x.text("SnapshotSource", spec.source.as_str());
    x.text("CacheNodeType", &spec.node_type);
    x.text("Engine", &spec.engine);
    x.text("EngineVersion", &spec.engine_version);
    if spec.cache_cluster_id.is_some() {
        x.integer("NumCacheNodes", 1);
        x.text_opt("PreferredAvailabilityZone", spec.zone.as_deref());
    }
    x.timestamp("CacheClusterCreateTime", &spec.source_created_at);
    x.text("PreferredMaintenanceWindow", &spec.maintenance_window);
    x.integer("Port", i64::from(spec.port));
    x.text("CacheParameterGroupName", &spec.parameter_group);
    x.text("CacheSubnetGroupName", &spec.subnet_group);
    x.boolean("AutoMinorVersionUpgrade", spec.auto_minor_version_upgrade);
    x.integer(
        "SnapshotRetentionLimit",
        i64::from(spec.snapshot_retention_limit),
    );
    x.text("SnapshotWindow", &spec.snapshot_window);
    if spec.group_id.is_some() {
        x.integer("NumNodeGroups", i64::from(spec.num_node_groups()));
    }
    if let Some(on) = spec.automatic_failover {
        x.text("AutomaticFailover", enabled(on));
    }
    let completed = view.observed.as_ref().and_then(|o| o.completed_at);
    x.element("NodeSnapshots", |x| {
        if spec.shards.is_empty() {
            x.element("NodeSnapshot", |x| {
                x.text("CacheClusterId", &spec.node_id);
                if spec.group_id.is_some() {
                    x.text("NodeGroupId", &spec.node_group_id());
                }
                x.text("CacheNodeId", CACHE_NODE_ID);
                if show_config {
                    x.element("NodeGroupConfiguration", |x| {
                        x.text("NodeGroupId", &spec.node_group_id());
                        x.integer("ReplicaCount", i64::from(spec.replica_count));
                        x.text_opt("PrimaryAvailabilityZone", spec.zone.as_deref());
                    });
                }
                x.text("CacheSize", &snapshot::cache_size(view.observed.as_ref()));
                if let Some(created) = &spec.node_created_at {
                    x.timestamp("CacheNodeCreateTime", created);
                }
                if let Some(done) = &completed {
                    x.timestamp("SnapshotCreateTime", done);
                }
            });
        }
        for (index, shard) in spec.shards.iter().enumerate() {
            x.element("NodeSnapshot", |x| {
                x.text("CacheClusterId", &shard.node_id);
                x.text("NodeGroupId", &shard.shard_id);
                x.text("CacheNodeId", CACHE_NODE_ID);
                if show_config {
                    x.element("NodeGroupConfiguration", |x| {
                        x.text("NodeGroupId", &shard.shard_id);
                        x.text("Slots", &SlotRange::format_list(&shard.slots));
                        x.integer("ReplicaCount", i64::from(shard.replica_count));
                        x.text_opt("PrimaryAvailabilityZone", shard.zone.as_deref());
                    });
                }
                x.text(
                    "CacheSize",
                    &snapshot::shard_cache_size(view.observed.as_ref(), index),
                );
                if let Some(created) = &shard.node_created_at {
                    x.timestamp("CacheNodeCreateTime", created);
                }
                if let Some(done) = &completed {
                    x.timestamp("SnapshotCreateTime", done);
                }
            });
        }
    });
    x.text("ARN", &view.arn);
    x.text("DataTiering", "disabled");
}
