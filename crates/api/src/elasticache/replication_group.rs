//! `CreateReplicationGroup`, `DescribeReplicationGroups`, `DeleteReplicationGroup`,
//! `IncreaseReplicaCount`, `DecreaseReplicaCount`, `ModifyReplicationGroupShardConfiguration`,
//! and the `ReplicationGroup` element.
//!
//! One `NodeGroup` per shard, whose members are the shard's cache clusters, each with
//! `CacheNodeId` `0001` and its zone. A cluster-mode-disabled group has one shard (`0001`)
//! with primary and reader endpoints, and each member its `ReadEndpoint` and `CurrentRole`; a
//! cluster-mode group has a `ConfigurationEndpoint` and each shard its `Slots`.

use ferrocache_control::service::replication_group::{
    ReplicaCountRequest, ShardConfigurationRequest, ShardReplicaRequest,
};
use ferrocache_control::service::view::{GroupView, NodeView, ShardView};
use ferrocache_model::group::{CreateGroupRequest, NetworkRequest, NodeGroupRequest};
use ferrocache_model::ids::CACHE_NODE_ID;
use ferrocache_model::shard::SlotRange;

use super::{enabled, endpoint, required, tag};
use crate::error::ApiError;
use crate::operation::Call;
use crate::query::DecodeError;
use crate::xml::Xml;

/// `CreateReplicationGroup` → `<ReplicationGroup>`.
///
/// # Errors
/// Decoding errors, and the service's faults.
pub fn create_replication_group(call: &Call<'_>, x: &mut Xml) -> Result<(), ApiError> {
    let p = call.params;
    let req = CreateGroupRequest {
        replication_group_id: p.string("ReplicationGroupId"),
        description: p.string("ReplicationGroupDescription"),
        primary_cluster_id: p.string("PrimaryClusterId"),
        automatic_failover_enabled: p.boolean("AutomaticFailoverEnabled")?,
        multi_az_enabled: p.boolean("MultiAZEnabled")?,
        num_cache_clusters: p.integer("NumCacheClusters")?,
        preferred_cache_cluster_azs: p.list("PreferredCacheClusterAZs", "AvailabilityZone")?,
        num_node_groups: p.integer("NumNodeGroups")?,
        replicas_per_node_group: p.integer("ReplicasPerNodeGroup")?,
        node_group_configuration: node_group_configuration(p)?,
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
        notification_topic_arn: p.string("NotificationTopicArn"),
        auto_minor_version_upgrade: p.boolean("AutoMinorVersionUpgrade")?,
        snapshot_retention_limit: p.integer("SnapshotRetentionLimit")?,
        snapshot_window: p.string("SnapshotWindow"),
        auth_token: p.string("AuthToken"),
        transit_encryption_enabled: p.boolean("TransitEncryptionEnabled")?,
        at_rest_encryption_enabled: p.boolean("AtRestEncryptionEnabled")?,
        kms_key_id: p.string("KmsKeyId"),
        user_group_ids: p.list("UserGroupIds", "member")?,
        cluster_mode: p.string("ClusterMode"),
        global_replication_group_id: p.string("GlobalReplicationGroupId"),
        data_tiering_enabled: p.boolean("DataTieringEnabled")?,
        network: NetworkRequest {
            network_type: p.string("NetworkType"),
            ip_discovery: p.string("IpDiscovery"),
            transit_encryption_mode: p.string("TransitEncryptionMode"),
        },
    };
    let group = call.service.create_replication_group(call.region, &req)?;
    x.element("ReplicationGroup", |x| replication_group(x, &group));
    Ok(())
}

/// `DescribeReplicationGroups` → `[Marker]`, `<ReplicationGroups>`.
///
/// # Errors
/// Decoding errors, `ReplicationGroupNotFoundFault`, paging faults.
pub fn describe_replication_groups(call: &Call<'_>, x: &mut Xml) -> Result<(), ApiError> {
    let p = call.params;
    let max_records = p.integer("MaxRecords")?;
    let page = call.service.describe_replication_groups(
        call.region,
        p.get("ReplicationGroupId"),
        p.get("Marker"),
        max_records,
    )?;
    x.text_opt("Marker", page.marker.as_deref());
    x.list(
        "ReplicationGroups",
        "ReplicationGroup",
        &page.items,
        replication_group,
    );
    Ok(())
}

/// `DeleteReplicationGroup` (`RetainPrimaryCluster`, `FinalSnapshotIdentifier`) →
/// `<ReplicationGroup>` reading `deleting`.
///
/// # Errors
/// Decoding errors, the service's faults.
pub fn delete_replication_group(call: &Call<'_>, x: &mut Xml) -> Result<(), ApiError> {
    let p = call.params;
    let id = required(p, "ReplicationGroupId")?;
    let retain_primary = p.boolean("RetainPrimaryCluster")?.unwrap_or(false);
    let group = call.service.delete_replication_group(
        call.region,
        id,
        retain_primary,
        p.get("FinalSnapshotIdentifier"),
    )?;
    x.element("ReplicationGroup", |x| replication_group(x, &group));
    Ok(())
}

/// `TestFailover` → `<ReplicationGroup>`.
///
/// # Errors
/// Decoding errors, the service's faults.
pub fn test_failover(call: &Call<'_>, x: &mut Xml) -> Result<(), ApiError> {
    let p = call.params;
    let id = required(p, "ReplicationGroupId")?;
    let node_group_id = required(p, "NodeGroupId")?;
    let group = call.service.test_failover(call.region, id, node_group_id)?;
    x.element("ReplicationGroup", |x| replication_group(x, &group));
    Ok(())
}

/// `IncreaseReplicaCount` → `<ReplicationGroup>`.
///
/// # Errors
/// Decoding errors, the service's faults.
pub fn increase_replica_count(call: &Call<'_>, x: &mut Xml) -> Result<(), ApiError> {
    let req = replica_count_request(call, false)?;
    let group = call.service.increase_replica_count(call.region, &req)?;
    x.element("ReplicationGroup", |x| replication_group(x, &group));
    Ok(())
}

/// `DecreaseReplicaCount` (`NewReplicaCount` or `ReplicasToRemove`) → `<ReplicationGroup>`.
///
/// # Errors
/// Decoding errors, the service's faults.
pub fn decrease_replica_count(call: &Call<'_>, x: &mut Xml) -> Result<(), ApiError> {
    let req = replica_count_request(call, true)?;
    let group = call.service.decrease_replica_count(call.region, &req)?;
    x.element("ReplicationGroup", |x| replication_group(x, &group));
    Ok(())
}

/// `ModifyReplicationGroupShardConfiguration` → `<ReplicationGroup>` reading `modifying`.
///
/// # Errors
/// Decoding errors, the service's faults.
pub fn modify_replication_group_shard_configuration(
    call: &Call<'_>,
    x: &mut Xml,
) -> Result<(), ApiError> {
    let p = call.params;
    let req = ShardConfigurationRequest {
        replication_group_id: p.string("ReplicationGroupId"),
        node_group_count: p.integer("NodeGroupCount")?,
        apply_immediately: p.boolean("ApplyImmediately")?,
        resharding_configuration: struct_list(
            p,
            "ReshardingConfiguration",
            "ReshardingConfiguration",
            |e| {
                Ok((
                    e.string("NodeGroupId"),
                    e.list("PreferredAvailabilityZones.AvailabilityZone.")?,
                ))
            },
        )?,
        node_groups_to_remove: p.list("NodeGroupsToRemove", "NodeGroupToRemove")?,
        node_groups_to_retain: p.list("NodeGroupsToRetain", "NodeGroupToRetain")?,
    };
    let group = call.service.modify_shard_configuration(call.region, &req)?;
    x.element("ReplicationGroup", |x| replication_group(x, &group));
    Ok(())
}

/// One entry of a list of structures (`<list>.<member>.<n>.*`), read field by field; errors
/// name the field by its full path.
struct StructEntry<'a> {
    path: String,
    fields: &'a std::collections::BTreeMap<String, String>,
}

impl<'a> StructEntry<'a> {
    fn string(&self, key: &str) -> Option<String> {
        self.fields.get(key).cloned()
    }

    fn integer(&self, key: &str) -> Result<Option<i64>, DecodeError> {
        self.fields
            .get(key)
            .map(|v| {
                v.parse::<i64>().map_err(|_| DecodeError::Integer {
                    name: format!("{}.{key}", self.path),
                    value: crate::query::echo(v),
                })
            })
            .transpose()
    }

    /// The members of the nested list whose keys start with `prefix` (`Name.Member.`), in
    /// index order.
    fn list(&self, prefix: &str) -> Result<Vec<String>, DecodeError> {
        let mut items: Vec<(usize, String)> = Vec::new();
        for (field, value) in self.fields {
            if let Some(index) = field.strip_prefix(prefix) {
                let index = index.parse::<usize>().map_err(|_| DecodeError::Integer {
                    name: format!("{}.{field}", self.path),
                    value: crate::query::echo(index),
                })?;
                items.push((index, value.clone()));
            }
        }
        items.sort();
        Ok(items.into_iter().map(|(_, v)| v).collect())
    }
}

/// Each entry of the structure list `name.member.N.*`, decoded by `decode`.
fn struct_list<T>(
    p: &crate::query::Params,
    name: &str,
    member: &str,
    decode: impl Fn(&StructEntry<'_>) -> Result<T, DecodeError>,
) -> Result<Vec<T>, ApiError> {
    let mut out = Vec::new();
    for (n, fields) in p.structures(name, member)? {
        let entry = StructEntry {
            path: format!("{name}.{member}.{n}"),
            fields: &fields,
        };
        out.push(decode(&entry)?);
    }
    Ok(out)
}

/// `NodeGroupConfiguration.NodeGroupConfiguration.N.*`: one shard layout per entry, in
/// index order.
fn node_group_configuration(p: &crate::query::Params) -> Result<Vec<NodeGroupRequest>, ApiError> {
    struct_list(p, "NodeGroupConfiguration", "NodeGroupConfiguration", |e| {
        Ok(NodeGroupRequest {
            node_group_id: e.string("NodeGroupId"),
            slots: e.string("Slots"),
            replica_count: e.integer("ReplicaCount")?,
            primary_availability_zone: e.string("PrimaryAvailabilityZone"),
            replica_availability_zones: e.list("ReplicaAvailabilityZones.AvailabilityZone.")?,
        })
    })
}

/// `ReplicaConfiguration.ConfigureShard.N.*`: one shard's new replica count per entry.
fn replica_configuration(p: &crate::query::Params) -> Result<Vec<ShardReplicaRequest>, ApiError> {
    struct_list(p, "ReplicaConfiguration", "ConfigureShard", |e| {
        Ok(ShardReplicaRequest {
            node_group_id: e.string("NodeGroupId"),
            new_replica_count: e.integer("NewReplicaCount")?,
            preferred_availability_zones: e
                .list("PreferredAvailabilityZones.PreferredAvailabilityZone.")?,
        })
    })
}

/// The members shared by both replica-count operations (`ReplicasToRemove` on decrease only).
fn replica_count_request(call: &Call<'_>, decrease: bool) -> Result<ReplicaCountRequest, ApiError> {
    let p = call.params;
    Ok(ReplicaCountRequest {
        replication_group_id: p.string("ReplicationGroupId"),
        new_replica_count: p.integer("NewReplicaCount")?,
        replica_configuration: replica_configuration(p)?,
        replicas_to_remove: if decrease {
            p.list("ReplicasToRemove", "member")?
        } else {
            Vec::new()
        },
        apply_immediately: p.boolean("ApplyImmediately")?,
    })
}

/// The children of a `ReplicationGroup` element, in model order.
pub fn replication_group(x: &mut Xml, group: &GroupView) {
    let spec = &group.spec;
    x.text("ReplicationGroupId", &spec.id);
    x.text("Description", &spec.description);
    x.text("Status", group.status.as_str());
    x.element("PendingModifiedValues", |x| {
        x.text_opt("PrimaryClusterId", group.pending_promotion());
        let done = group.observed.as_ref().map_or(0, |o| o.generation);
        x.text_opt("AuthTokenStatus", spec.auth.pending_status(done));
        if let Some(resharding) = spec.resharding_pending(group.observed.as_ref()) {
            let moved = group.observed.as_ref().map_or(0, |o| o.slots_moved);
            let percent = match resharding.slots_to_move {
                0 => 0.0,
                total => f64::from(moved.min(total)) * 100.0 / f64::from(total),
            };
            x.element("Resharding", |x| {
                x.element("SlotMigration", |x| {
                    x.double("ProgressPercentage", percent);
                });
            });
        }
    });
    x.text_list(
        "MemberClusters",
        "ClusterId",
        group.members.iter().map(|m| m.spec.id.as_str()),
    );
    x.list("NodeGroups", "NodeGroup", &group.shards, |x, shard| {
        node_group(x, group, shard)
    });
    x.text_opt("SnapshottingClusterId", group.snapshotting_cluster_id());
    x.text("AutomaticFailover", enabled(spec.automatic_failover));
    x.text("MultiAZ", enabled(spec.multi_az));
    if let Some(configuration) = &group.configuration_endpoint {
        endpoint(x, "ConfigurationEndpoint", configuration);
    }
    x.integer(
        "SnapshotRetentionLimit",
        i64::from(spec.snapshot_retention_limit),
    );
    x.text("SnapshotWindow", &spec.snapshot_window);
    // `compatible` runs the cluster too (its parameter group has `cluster-enabled yes`).
    x.boolean("ClusterEnabled", spec.cluster_mode.runs_cluster());
    x.text("CacheNodeType", group.node_type());
    x.boolean("AuthTokenEnabled", spec.auth.enabled());
    if let Some(at) = &spec.auth.last_modified {
        x.timestamp("AuthTokenLastModifiedDate", at);
    }
    x.boolean(
        "TransitEncryptionEnabled",
        spec.transit_encryption.is_some(),
    );
    x.boolean("AtRestEncryptionEnabled", spec.at_rest_encryption.is_some());
    x.text_opt(
        "KmsKeyId",
        spec.at_rest_encryption
            .as_ref()
            .and_then(|a| a.kms_key_id.as_deref()),
    );
    x.text("ARN", &group.arn);
    x.text_list(
        "UserGroupIds",
        "member",
        spec.user_group_ids.iter().map(String::as_str),
    );
    super::log_delivery::write(x, &group.log_deliveries());
    x.timestamp("ReplicationGroupCreateTime", &spec.created_at);
    x.text("DataTiering", "disabled");
    x.boolean("AutoMinorVersionUpgrade", spec.auto_minor_version_upgrade);
    x.text("NetworkType", "ipv4");
    x.text("IpDiscovery", "ipv4");
    x.text_opt(
        "TransitEncryptionMode",
        spec.transit_encryption.map(|m| m.as_str()),
    );
    x.text("ClusterMode", spec.cluster_mode.as_str());
    x.text("Engine", &spec.engine);
}

/// The children of one `NodeGroup` (a shard). A cluster-mode group shows each shard's
/// `Slots` and, as on AWS, no primary or reader endpoint per shard and no read endpoint or
/// role per member (clients follow the cluster's slot map from the configuration endpoint).
fn node_group(x: &mut Xml, group: &GroupView, shard: &ShardView) {
    let cluster = group.spec.cluster_mode.enabled();
    x.text("NodeGroupId", &shard.spec.id);
    x.text("Status", group.status.as_str());
    if !cluster {
        if let Some(primary) = shard.primary_endpoint(group.spec.port) {
            endpoint(x, "PrimaryEndpoint", &primary);
        }
        if let Some(reader) = shard.reader_endpoint(group.spec.port) {
            endpoint(x, "ReaderEndpoint", &reader);
        }
    } else {
        x.text("Slots", &SlotRange::format_list(&shard.spec.slots));
    }
    let members: Vec<&NodeView> = group.members_of(&shard.spec.id).collect();
    x.list(
        "NodeGroupMembers",
        "NodeGroupMember",
        &members,
        |x, member| {
            x.text("CacheClusterId", &member.spec.id);
            x.text("CacheNodeId", CACHE_NODE_ID);
            if !cluster {
                if let Some(read) = member.endpoint() {
                    endpoint(x, "ReadEndpoint", &read);
                }
            }
            x.text_opt("PreferredAvailabilityZone", member.zone());
            if !cluster {
                x.text_opt("CurrentRole", member.role.map(|r| r.as_str()));
            }
        },
    );
}
