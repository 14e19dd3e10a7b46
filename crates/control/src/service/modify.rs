//! `ModifyReplicationGroup`, `ModifyCacheCluster` and `ListAllowedNodeTypeModifications`.
//!
//! A modification writes the new spec of the group (or node) and of the members it concerns in
//! one transaction; changes with work to do bump the spec generation, so the resource reads
//! `modifying` until the reconcilers have carried them out (a primary switch, a node type
//! change, new parameters), and what waits for the maintenance window shows in
//! `PendingModifiedValues` meanwhile.

use ferrocache_model::event::{text, SourceType};
use ferrocache_model::group::{ClusterMode, GroupSpec};
use ferrocache_model::modify::{
    self, ApplyAt, MemberFacts, ModifyClusterRequest, ModifyGroupRequest,
};
use ferrocache_model::node::{ClusterStatus, NodeSpec};
use ferrocache_model::shard::SlotRange;
use ferrocache_model::Fault;
use ferrocache_store::{tables, update, view, WriteExt, Writer};

use super::cache_cluster::load_node;
use super::replication_group::load_group;
use super::view::{GroupView, NodeView};
use super::{Service, ServiceError};

/// `ListAllowedNodeTypeModifications`: `ScaleUpModifications` and `ScaleDownModifications`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedNodeTypes {
    /// Larger node types.
    pub scale_up: Vec<&'static str>,
    /// Smaller node types.
    pub scale_down: Vec<&'static str>,
}

/// Checks what a modified spec names: the parameter group must be usable, and changed security
/// groups must exist in the subnet group's VPC (an emptied list means the VPC's `default`
/// group, as on create). Returns the security groups to store.
fn check_references(
    w: &mut dyn Writer,
    account: &str,
    region: &str,
    parameter_group: &str,
    subnet_group: &str,
    security_group_ids: &[String],
    cluster_mode: ClusterMode,
) -> Result<Vec<String>, ServiceError> {
    super::replication_group::check_references(
        w,
        region,
        parameter_group,
        subnet_group,
        cluster_mode,
    )?;
    Ok(
        super::subnet_group::network_for(w, account, region, subnet_group, security_group_ids)?
            .security_group_ids,
    )
}

/// Writes what a `ClusterMode` change means for the group's shard: in `compatible` its one
/// shard serves every hash slot. Records the change on the group.
fn start_cluster_mode_change(
    w: &mut dyn Writer,
    region: &str,
    current: &GroupView,
    spec: &GroupSpec,
) -> Result<(), ServiceError> {
    if spec.cluster_mode == ClusterMode::Compatible {
        for shard in &current.shards {
            let mut shard_spec = shard.spec.clone();
            shard_spec.slots = SlotRange::even_split(1);
            w.put_doc(
                &tables::shard_key(region, &spec.id, &shard_spec.id),
                &shard_spec,
            )?;
        }
    }
    crate::events::record(
        w,
        region,
        &spec.id,
        SourceType::ReplicationGroup,
        text::cluster_mode_changing(&spec.id, spec.cluster_mode.as_str()),
        chrono::Utc::now(),
    )?;
    Ok(())
}

/// Records "Applied change to security group" on each cache cluster.
fn record_security_group_change(
    w: &mut dyn Writer,
    region: &str,
    cluster_ids: &[String],
) -> Result<(), ServiceError> {
    let now = chrono::Utc::now();
    for id in cluster_ids {
        crate::events::record(
            w,
            region,
            id,
            SourceType::CacheCluster,
            text::security_group_applied(),
            now,
        )?;
    }
    Ok(())
}

impl Service {
    /// `ModifyReplicationGroup`: checks the request against AWS's rules and the group's state,
    /// then writes the new spec of the group and of its members.
    ///
    /// # Errors
    /// `ReplicationGroupNotFoundFault`, `InvalidReplicationGroupState` (not available),
    /// `CacheClusterNotFound`, `CacheParameterGroupNotFound`, `NodeGroupNotFoundFault`,
    /// `InvalidParameterValue`, `InvalidParameterCombination`.
    pub fn modify_replication_group(
        &self,
        region: &str,
        req: &ModifyGroupRequest,
    ) -> Result<GroupView, ServiceError> {
        let id = req
            .replication_group_id
            .clone()
            .ok_or_else(|| Fault::MissingParameter("ReplicationGroupId".into()))?;
        let account = self.account_id().to_string();
        update(self.store(), |w| -> Result<GroupView, ServiceError> {
            let current = load_group(w, region, &id, &account)?;
            current.require_available()?;
            let members: Vec<MemberFacts> = current
                .live_members()
                .map(|m| MemberFacts {
                    id: m.spec.id.clone(),
                    shard_id: m.spec.shard_id.clone().unwrap_or_default(),
                    available: m.status == ClusterStatus::Available,
                })
                .collect();
            let plan = modify::plan_group_modification_at(
                &current.spec,
                &members,
                req,
                chrono::Utc::now(),
            )?;
            let mut spec = plan.spec;
            if plan.user_groups_changed {
                super::user::check_user_groups(w, region, &spec.user_group_ids)?;
            }
            let security_groups = check_references(
                w,
                &account,
                region,
                &spec.parameter_group,
                &spec.subnet_group,
                &spec.security_group_ids,
                spec.cluster_mode,
            )?;
            if plan.security_groups_changed {
                spec.security_group_ids = security_groups;
            }
            if let Some((node_type, _)) = &plan.node_type {
                let changes: Vec<(String, &str, &str)> = current
                    .live_members()
                    .map(|m| {
                        let key = tables::key(region, &m.spec.id);
                        (key, m.spec.node_type.as_str(), node_type.as_str())
                    })
                    .collect();
                crate::capacity::admit_resize(w, &changes)?;
            }
            w.put_doc(&tables::key(region, &spec.id), &spec)?;
            if plan.cluster_mode_changed {
                start_cluster_mode_change(w, region, &current, &spec)?;
            }
            // A promotion is a request to the member's shard, whose failover state machine
            // carries it out.
            if let Some(target) = &plan.promotion {
                if let Some(shard) = current.shards.iter().find(|s| s.spec.id == target.shard_id) {
                    let mut shard_spec = shard.spec.clone();
                    shard_spec.promotion_requests += 1;
                    shard_spec.promotion_target = Some(target.id.clone());
                    w.put_doc(
                        &tables::shard_key(region, &spec.id, &shard_spec.id),
                        &shard_spec,
                    )?;
                }
            }
            let member_ids: Vec<String> = members.iter().map(|m| m.id.clone()).collect();
            for member in current.live_members() {
                let mut node = member.spec.clone();
                let mut work = false;
                if let Some((node_type, at)) = &plan.node_type {
                    node.node_type = node_type.clone();
                    node.node_type_apply = *at;
                    work |= *at == ApplyAt::Now;
                }
                if plan.parameter_group_changed {
                    node.parameter_group = spec.parameter_group.clone();
                    work = true;
                }
                if plan.security_groups_changed {
                    node.security_group_ids = spec.security_group_ids.clone();
                }
                if plan.auth_changed {
                    node.auth = spec.auth.clone();
                    work = true;
                }
                work |= plan.user_groups_changed;
                // Into `compatible`, the members move one by one, primary first (the group's
                // reconciler, `reconcile::cluster_mode`); `enabled` changes only what the API
                // and the endpoints show.
                if plan.cluster_mode_changed && spec.cluster_mode.enabled() {
                    node.cluster_mode = spec.cluster_mode;
                    work = true;
                }
                node.maintenance_window = spec.maintenance_window.clone();
                node.snapshot_retention_limit = spec.snapshot_retention_limit;
                node.snapshot_window = spec.snapshot_window.clone();
                node.auto_minor_version_upgrade = spec.auto_minor_version_upgrade;
                node.transit_encryption = spec.transit_encryption;
                node.log_delivery = spec.log_delivery.clone();
                if work {
                    node.generation += 1;
                }
                if node != member.spec {
                    w.put_doc(&tables::key(region, &node.id), &node)?;
                }
            }
            if plan.security_groups_changed {
                record_security_group_change(w, region, &member_ids)?;
            }
            load_group(w, region, &spec.id, &account)
        })
    }

    /// `ModifyCacheCluster`: checks the request against AWS's rules and the cluster's state,
    /// then writes the node's new spec.
    ///
    /// # Errors
    /// `CacheClusterNotFound`, `InvalidCacheClusterState` (not available, or a change that
    /// belongs to its replication group), `CacheParameterGroupNotFound`,
    /// `InvalidParameterValue`, `InvalidParameterCombination`.
    pub fn modify_cache_cluster(
        &self,
        region: &str,
        req: &ModifyClusterRequest,
    ) -> Result<NodeView, ServiceError> {
        let id = req
            .cache_cluster_id
            .clone()
            .ok_or_else(|| Fault::MissingParameter("CacheClusterId".into()))?;
        let account = self.account_id().to_string();
        update(self.store(), |w| -> Result<NodeView, ServiceError> {
            let current = load_node(w, region, &id, &account)?;
            current.require_available()?;
            let plan = modify::plan_cluster_modification(&current.spec, req)?;
            let mut spec: NodeSpec = plan.spec;
            let security_groups = check_references(
                w,
                &account,
                region,
                &spec.parameter_group,
                &spec.subnet_group,
                &spec.security_group_ids,
                ClusterMode::Disabled,
            )?;
            if plan.security_groups_changed {
                spec.security_group_ids = security_groups;
            }
            if spec.node_type != current.spec.node_type {
                let key = tables::key(region, &spec.id);
                let change = (
                    key,
                    current.spec.node_type.as_str(),
                    spec.node_type.as_str(),
                );
                crate::capacity::admit_resize(w, &[change])?;
            }
            w.put_doc(&tables::key(region, &spec.id), &spec)?;
            if plan.security_groups_changed {
                record_security_group_change(w, region, std::slice::from_ref(&spec.id))?;
            }
            load_node(w, region, &spec.id, &account)
        })
    }

    /// `ListAllowedNodeTypeModifications` for a cache cluster or a replication group.
    ///
    /// # Errors
    /// `CacheClusterNotFound`, `ReplicationGroupNotFoundFault`, `InvalidParameterCombination`
    /// when neither (or both) is named.
    pub fn list_allowed_node_type_modifications(
        &self,
        region: &str,
        cache_cluster_id: Option<&str>,
        replication_group_id: Option<&str>,
    ) -> Result<AllowedNodeTypes, ServiceError> {
        let account = self.account_id().to_string();
        let current = view(self.store(), |r| -> Result<String, ServiceError> {
            match (cache_cluster_id, replication_group_id) {
                (Some(c), None) => Ok(load_node(r, region, c, &account)?.node_type().to_string()),
                (None, Some(g)) => Ok(load_group(r, region, g, &account)?.node_type().to_string()),
                _ => Err(Fault::combination(
                    "Exactly one of CacheClusterId and ReplicationGroupId must be specified.",
                )
                .into()),
            }
        })?;
        let (scale_up, scale_down) = modify::allowed_node_type_modifications(&current)?;
        Ok(AllowedNodeTypes {
            scale_up,
            scale_down,
        })
    }
}
