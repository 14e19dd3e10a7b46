//! `CreateCacheCluster`, `DescribeCacheClusters`, `DeleteCacheCluster`, `RebootCacheCluster`.

use ferrocache_model::group::{ClusterMode, CreateContext, GroupSpec, NODES_PER_GROUP_MAX};
use ferrocache_model::node::{self, ClusterStatus, CreateNodeRequest, NodeDeletion, NodeSpec};
use ferrocache_model::{ids, paging, Fault};
use ferrocache_store::{tables, update, view, ReadExt, Reader, WriteExt};

use super::replication_group::check_references;
use super::view::{GroupView, NodeView};
use super::{Page, Service, ServiceError};

/// `DescribeCacheClusters` as decoded from the wire.
#[derive(Debug, Clone, Default)]
pub struct DescribeClustersQuery {
    /// `CacheClusterId`
    pub cache_cluster_id: Option<String>,
    /// `MaxRecords`
    pub max_records: Option<i64>,
    /// `Marker`
    pub marker: Option<String>,
    /// `ShowCacheClustersNotInReplicationGroups`
    pub not_in_replication_groups: bool,
}

pub(crate) fn load_node(
    r: &dyn Reader,
    region: &str,
    id: &str,
    account: &str,
) -> Result<NodeView, ServiceError> {
    NodeView::load(r, region, &id.to_ascii_lowercase(), account)?
        .ok_or_else(|| Fault::CacheClusterNotFound(id.to_ascii_lowercase()).into())
}

impl Service {
    /// `CreateCacheCluster`: a standalone node, or (with `ReplicationGroupId`) a new replica of a
    /// group.
    ///
    /// # Errors
    /// AWS's faults for broken rules, unknown references, duplicate ids, full groups.
    pub fn create_cache_cluster(
        &self,
        region: &str,
        req: &CreateNodeRequest,
    ) -> Result<NodeView, ServiceError> {
        let now = chrono::Utc::now();
        let ctx = CreateContext {
            region: region.to_string(),
            engine_version_running: self.config().engine_version_running.clone(),
            now,
            parameter_group_cluster_enabled: None,
        };
        let account = self.account_id().to_string();
        if let Some(group_id) = &req.replication_group_id {
            let group_id = ids::replication_group_id(group_id)?;
            return update(self.store(), |w| -> Result<NodeView, ServiceError> {
                let group = GroupView::load(w, region, &group_id, &account)?
                    .ok_or_else(|| Fault::ReplicationGroupNotFound(group_id.clone()))?;
                group.require_available()?;
                group.refuse_if_compatible("CreateCacheCluster")?;
                if group.spec.cluster_mode.enabled() {
                    return Err(Fault::combination(format!(
                        "Replication group {group_id} has cluster mode enabled: add replicas with IncreaseReplicaCount and shards with ModifyReplicationGroupShardConfiguration."
                    ))
                    .into());
                }
                if group.live_members().count() as u32 >= NODES_PER_GROUP_MAX {
                    return Err(Fault::NodeQuotaForClusterExceeded(format!(
                        "Replication group {group_id} already has the maximum of {NODES_PER_GROUP_MAX} cache clusters."
                    ))
                    .into());
                }
                // A group without cluster mode has one shard; the replica joins it.
                let shard = group
                    .shards
                    .first()
                    .map(|s| s.spec.id.clone())
                    .ok_or_else(|| Fault::ReplicationGroupNotFound(group_id.clone()))?;
                let mut spec = node::plan_replica(req, &group.spec, &shard, &ctx)?;
                let members: Vec<NodeSpec> = group.members.iter().map(|m| m.spec.clone()).collect();
                spec.preferred_zone = super::subnet_group::place_members(
                    w,
                    region,
                    &spec.subnet_group,
                    &members,
                    std::slice::from_ref(&spec.preferred_zone),
                )?
                .remove(0);
                let key = tables::key(region, &spec.id);
                if w.doc::<NodeSpec>(&key)?.is_some() {
                    return Err(Fault::CacheClusterAlreadyExists(spec.id.clone()).into());
                }
                if spec.spreads_across_hosts() {
                    crate::capacity::admit_new(w, &[spec.node_type.as_str()])?;
                }
                w.put_doc(&key, &spec)?;
                let mut group_spec: GroupSpec = group.spec.clone();
                group_spec.generation += 1;
                w.put_doc(&tables::key(region, &group_id), &group_spec)?;
                load_node(w, region, &spec.id, &account)
            });
        }
        let spec = node::plan_standalone(req, &ctx)?;
        update(self.store(), |w| -> Result<NodeView, ServiceError> {
            check_references(
                w,
                region,
                &spec.parameter_group,
                &spec.subnet_group,
                ClusterMode::Disabled,
            )?;
            let spec = super::subnet_group::with_node_network(w, &account, &spec)?;
            let key = tables::key(region, &spec.id);
            if w.doc::<NodeSpec>(&key)?.is_some() {
                return Err(Fault::CacheClusterAlreadyExists(spec.id.clone()).into());
            }
            if let Some(name) = &spec.restore_from {
                self.check_restorable(
                    w,
                    region,
                    name,
                    &[ferrocache_model::shard::SlotRange::even_split(1)],
                    false,
                )?;
                let sealed = spec.at_rest_encryption.is_some();
                self.check_room_to_restore(w, region, name, 0, sealed)?;
            }
            if spec.spreads_across_hosts() {
                crate::capacity::admit_new(w, &[spec.node_type.as_str()])?;
            }
            w.put_doc(&key, &spec)?;
            load_node(w, region, &spec.id, &account)
        })
    }

    /// `DescribeCacheClusters`.
    ///
    /// # Errors
    /// `CacheClusterNotFound`, bad paging values.
    pub fn describe_cache_clusters(
        &self,
        region: &str,
        q: &DescribeClustersQuery,
    ) -> Result<Page<NodeView>, ServiceError> {
        let account = self.account_id().to_string();
        paging::RECORDS.page_size(q.max_records)?;
        view(self.store(), |r| -> Result<Page<NodeView>, ServiceError> {
            if let Some(id) = &q.cache_cluster_id {
                return Ok(Page {
                    items: vec![load_node(r, region, id, &account)?],
                    marker: None,
                });
            }
            let (specs, marker) = super::page_filtered::<NodeSpec>(
                r,
                region,
                q.marker.as_deref(),
                q.max_records,
                paging::RECORDS,
                |spec| !(q.not_in_replication_groups && spec.group_id.is_some()),
            )?;
            let shared = super::view::Shared::load(r, region)?;
            let mut items = Vec::new();
            for (_, spec) in specs {
                items.push(NodeView::of_spec(r, spec, &account, &shared)?);
            }
            Ok(Page { items, marker })
        })
    }

    /// `DeleteCacheCluster`, with AWS's refusals for group members. With
    /// `FinalSnapshotIdentifier` a last snapshot of the cluster is recorded too, and the node
    /// stays until it is no longer `creating`.
    ///
    /// # Errors
    /// `CacheClusterNotFound`, `InvalidCacheClusterState`, and for the final snapshot
    /// `SnapshotAlreadyExistsFault`, `SnapshotQuotaExceededFault`, a bad name.
    pub fn delete_cache_cluster(
        &self,
        region: &str,
        id: &str,
        final_snapshot: Option<&str>,
    ) -> Result<NodeView, ServiceError> {
        let final_snapshot = final_snapshot
            .map(ferrocache_model::snapshot::snapshot_name)
            .transpose()?;
        let account = self.account_id().to_string();
        update(self.store(), |w| -> Result<NodeView, ServiceError> {
            let current = load_node(w, region, id, &account)?;
            let id = current.spec.id.clone();
            if !matches!(
                current.status,
                ClusterStatus::Available | ClusterStatus::Failed | ClusterStatus::RestoreFailed
            ) {
                return Err(Fault::InvalidCacheClusterState(format!(
                    "Cache cluster {id} is not in a valid state to be deleted."
                ))
                .into());
            }
            let mut group_view = None;
            if let Some(group_id) = &current.spec.group_id {
                let group = GroupView::load(w, region, group_id, &account)?
                    .ok_or_else(|| Fault::ReplicationGroupNotFound(group_id.clone()))?;
                if group.spec.cluster_mode.enabled() {
                    return Err(Fault::combination(format!(
                        "Cache cluster {id} belongs to replication group {group_id}, which has cluster mode enabled: its members are removed with DecreaseReplicaCount or ModifyReplicationGroupShardConfiguration."
                    ))
                    .into());
                }
                let live = group.live_members().count();
                if live <= 1 {
                    return Err(Fault::InvalidCacheClusterState(
                        "Cannot delete the cache cluster since it is the only member of a replication group. Delete the replication group instead.".into(),
                    )
                    .into());
                }
                if group.is_primary(&id) {
                    return Err(Fault::InvalidCacheClusterState(format!(
                        "Cache cluster {id} is serving as primary for replication group {group_id} and cannot be deleted. To delete the entire replication group, use DeleteReplicationGroup."
                    ))
                    .into());
                }
                if group.spec.automatic_failover && live <= 2 {
                    return Err(Fault::InvalidCacheClusterState(format!(
                        "Cannot delete the cache cluster because it is the only read replica for replication group {group_id} which has autofailover enabled or pending. You can disable autofailover and then delete this cache cluster. Alternatively, to delete the entire replication group, use DeleteReplicationGroup."
                    ))
                    .into());
                }
                group.require_available()?;
                group.refuse_if_compatible("DeleteCacheCluster")?;
                let mut g = group.spec.clone();
                g.generation += 1;
                w.put_doc(&tables::key(region, group_id), &g)?;
                group_view = Some(group);
            }
            // Recorded with the deletion, in this transaction: a name already taken refuses the
            // call before anything is marked.
            if let Some(name) = &final_snapshot {
                super::snapshot::record_final_of_cluster(
                    w,
                    region,
                    name,
                    &current,
                    group_view.as_ref(),
                )?;
            }
            let mut spec = current.spec.clone();
            spec.deletion = Some(NodeDeletion {
                with_group: false,
                final_snapshot: final_snapshot.clone(),
            });
            w.put_doc(&tables::key(region, &id), &spec)?;
            load_node(w, region, &id, &account)
        })
    }

    /// `RebootCacheCluster`: the node restarts (saving its data first, as a reboot of an
    /// ElastiCache node keeps a Redis node's data only through its replicas or a snapshot — here
    /// the restart keeps it on disk).
    ///
    /// # Errors
    /// `CacheClusterNotFound`, `InvalidCacheClusterState`, `InvalidParameterValue` for unknown
    /// node ids.
    pub fn reboot_cache_cluster(
        &self,
        region: &str,
        id: &str,
        node_ids: &[String],
    ) -> Result<NodeView, ServiceError> {
        if node_ids.is_empty() {
            return Err(Fault::MissingParameter("CacheNodeIdsToReboot".into()).into());
        }
        if let Some(bad) = node_ids.iter().find(|n| n.as_str() != ids::CACHE_NODE_ID) {
            return Err(
                Fault::value(format!("Cache node {bad} not found in cache cluster {id}.")).into(),
            );
        }
        let account = self.account_id().to_string();
        update(self.store(), |w| -> Result<NodeView, ServiceError> {
            let current = load_node(w, region, id, &account)?;
            current.require_available()?;
            let mut spec = current.spec.clone();
            spec.reboots += 1;
            w.put_doc(&tables::key(region, &spec.id), &spec)?;
            load_node(w, region, &spec.id, &account)
        })
    }
}
