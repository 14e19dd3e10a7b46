//! `CreateReplicationGroup`, `DescribeReplicationGroups`, `DeleteReplicationGroup`,
//! `IncreaseReplicaCount`, `DecreaseReplicaCount`, `ModifyReplicationGroupShardConfiguration`.

use ferrocache_model::group::{
    self, ClusterMode, CreateContext, CreateGroupRequest, GroupDeletion, GroupSpec, GroupStatus,
    NodeGroupRequest, Resharding,
};
use ferrocache_model::node::{self, NodeDeletion, NodeSpec};
pub use ferrocache_model::reshard::ShardConfigurationRequest;
use ferrocache_model::reshard::{self, CurrentShard};
use ferrocache_model::shard::{ShardSpec, SlotRange};
use ferrocache_model::snapshot::SnapshotSpec;
use ferrocache_model::{ids, paging, Fault};
use ferrocache_store::{tables, update, view, ReadExt, Reader, WriteExt, Writer};

use super::view::{GroupView, ShardView};
use super::{Page, Service, ServiceError};

/// `IncreaseReplicaCount` / `DecreaseReplicaCount` as decoded from the wire.
#[derive(Debug, Clone, Default)]
pub struct ReplicaCountRequest {
    /// `ReplicationGroupId`
    pub replication_group_id: Option<String>,
    /// `NewReplicaCount`
    pub new_replica_count: Option<i64>,
    /// `ReplicaConfiguration`: per shard of a cluster-mode group, its new replica count.
    pub replica_configuration: Vec<ShardReplicaRequest>,
    /// `ReplicasToRemove` (decrease only)
    pub replicas_to_remove: Vec<String>,
    /// `ApplyImmediately`
    pub apply_immediately: Option<bool>,
}

/// One `ReplicaConfiguration` entry (`ConfigureShard`).
#[derive(Debug, Clone, Default)]
pub struct ShardReplicaRequest {
    /// `NodeGroupId`
    pub node_group_id: Option<String>,
    /// `NewReplicaCount`
    pub new_replica_count: Option<i64>,
    /// `PreferredAvailabilityZones`: zones of the new replicas.
    pub preferred_availability_zones: Vec<String>,
}

/// Checks that a parameter group and a subnet group named by a request exist (inside the
/// transaction that writes the request, so a group cannot vanish in between).
///
pub(crate) fn check_references(
    r: &dyn Reader,
    region: &str,
    parameter_group: &str,
    subnet_group: &str,
    cluster_mode: ClusterMode,
) -> Result<(), ServiceError> {
    super::parameter_group::check_usable(r, region, parameter_group, cluster_mode)?;
    super::subnet_group::check_exists(r, region, subnet_group)?;
    Ok(())
}

pub(crate) fn load_group(
    r: &dyn Reader,
    region: &str,
    id: &str,
    account: &str,
) -> Result<GroupView, ServiceError> {
    GroupView::load(r, region, &id.to_ascii_lowercase(), account)?
        .ok_or_else(|| Fault::ReplicationGroupNotFound(id.to_ascii_lowercase()).into())
}

fn required(value: &Option<String>, name: &str) -> Result<String, Fault> {
    value
        .clone()
        .ok_or_else(|| Fault::MissingParameter(name.to_string()))
}

/// The next free member index of a group (`<group>-00N`), or of one shard of a cluster-mode
/// group (`<group>-SSSS-00N`), never reusing one still present.
fn next_member_index(spec: &GroupSpec, shard_id: &str, members: &[NodeSpec]) -> u32 {
    members
        .iter()
        .filter(|m| !spec.cluster_mode.enabled() || m.shard_id.as_deref() == Some(shard_id))
        .filter_map(|m| ids::member_index(&spec.id, &m.id))
        .max()
        .unwrap_or(0)
        + 1
}

/// The replicas `DecreaseReplicaCount` removes from a cluster-mode group: in every shard with
/// more, the newest ones down to `NewReplicaCount`, in the shards `ReplicaConfiguration` names down to
/// theirs, or `ReplicasToRemove`. A shard may keep no replica (cluster mode allows it); a
/// primary is never removed.
fn shard_decreases(
    group: &GroupView,
    req: &ReplicaCountRequest,
) -> Result<Vec<String>, ServiceError> {
    let given = usize::from(req.new_replica_count.is_some())
        + usize::from(!req.replica_configuration.is_empty())
        + usize::from(!req.replicas_to_remove.is_empty());
    if given > 1 {
        return Err(Fault::combination(
            "Specify one of NewReplicaCount, ReplicaConfiguration or ReplicasToRemove.",
        )
        .into());
    }
    // Each shard's replicas, oldest first.
    let replicas_of = |shard: &ShardView| -> Vec<String> {
        let mut ids: Vec<String> = group
            .members_of(&shard.spec.id)
            .filter(|m| m.spec.deletion.is_none() && shard.primary() != Some(m.spec.id.as_str()))
            .map(|m| m.spec.id.clone())
            .collect();
        ids.sort();
        ids
    };
    let newest = |ids: Vec<String>, keep: u32| -> Vec<String> {
        ids.into_iter().skip(keep as usize).collect()
    };
    let mut out = Vec::new();
    if let Some(n) = req.new_replica_count {
        // Shards already at (or below) the count keep theirs; at least one must shrink.
        let most = group
            .shards
            .iter()
            .map(|s| replicas_of(s).len())
            .max()
            .unwrap_or(0);
        group::check_decrease(most as u32, n, false)?;
        for shard in &group.shards {
            let ids = replicas_of(shard);
            if ids.len() as i64 > n {
                out.extend(newest(ids, n as u32));
            }
        }
        return Ok(out);
    }
    if !req.replica_configuration.is_empty() {
        for entry in &req.replica_configuration {
            let shard_id = entry.node_group_id.clone().ok_or_else(|| {
                Fault::MissingParameter("ReplicaConfiguration.NodeGroupId".into())
            })?;
            let shard = group
                .shards
                .iter()
                .find(|s| s.spec.id == shard_id)
                .ok_or_else(|| {
                    Fault::NodeGroupNotFound(format!(
                        "NodeGroup {shard_id} not found in replication group {}.",
                        group.spec.id
                    ))
                })?;
            let n = entry.new_replica_count.ok_or_else(|| {
                Fault::MissingParameter("ReplicaConfiguration.NewReplicaCount".into())
            })?;
            let ids = replicas_of(shard);
            let keep = group::check_decrease(ids.len() as u32, n, false)?;
            out.extend(newest(ids, keep));
        }
        return Ok(out);
    }
    if req.replicas_to_remove.is_empty() {
        return Err(Fault::MissingParameter("NewReplicaCount".into()).into());
    }
    for wanted in req
        .replicas_to_remove
        .iter()
        .map(|s| s.to_ascii_lowercase())
    {
        if group.is_primary(&wanted) {
            return Err(
                Fault::value(format!("Cannot remove the primary cache cluster {wanted}.")).into(),
            );
        }
        if !group
            .shards
            .iter()
            .any(|s| replicas_of(s).contains(&wanted))
        {
            return Err(Fault::CacheClusterNotFound(wanted).into());
        }
        out.push(wanted);
    }
    Ok(out)
}

/// New replicas of one shard: its id and each new member's preferred zone.
type ShardAddition = (String, Vec<Option<String>>);

/// The replicas `IncreaseReplicaCount` adds to each shard of a cluster-mode group: per
/// `ReplicaConfiguration` entry (`NodeGroupId`, `NewReplicaCount`, zones), or `NewReplicaCount`
/// for every shard; each named shard must grow.
fn shard_increases(
    group: &GroupView,
    req: &ReplicaCountRequest,
) -> Result<Vec<ShardAddition>, ServiceError> {
    if req.new_replica_count.is_some() && !req.replica_configuration.is_empty() {
        return Err(Fault::combination(
            "Specify either NewReplicaCount or ReplicaConfiguration, not both.",
        )
        .into());
    }
    let replicas_of = |shard_id: &str| {
        group
            .members_of(shard_id)
            .filter(|m| m.spec.deletion.is_none())
            .count()
            .saturating_sub(1) as u32
    };
    let mut out = Vec::new();
    if req.replica_configuration.is_empty() {
        if req.new_replica_count.is_none() {
            return Err(Fault::MissingParameter("NewReplicaCount".into()).into());
        }
        for shard in &group.shards {
            let current = replicas_of(&shard.spec.id);
            let target = group::check_increase(current, req.new_replica_count)?;
            out.push((
                shard.spec.id.clone(),
                vec![None; (target - current) as usize],
            ));
        }
        return Ok(out);
    }
    for entry in &req.replica_configuration {
        let shard_id = entry
            .node_group_id
            .clone()
            .ok_or_else(|| Fault::MissingParameter("ReplicaConfiguration.NodeGroupId".into()))?;
        if !group.shards.iter().any(|s| s.spec.id == shard_id) {
            return Err(Fault::NodeGroupNotFound(format!(
                "NodeGroup {shard_id} not found in replication group {}.",
                group.spec.id
            ))
            .into());
        }
        if out.iter().any(|(id, _)| *id == shard_id) {
            return Err(Fault::value(format!(
                "Duplicate NodeGroupId {shard_id} in ReplicaConfiguration."
            ))
            .into());
        }
        let current = replicas_of(&shard_id);
        let target = group::check_increase(current, entry.new_replica_count)?;
        let added = (target - current) as usize;
        if !entry.preferred_availability_zones.is_empty()
            && entry.preferred_availability_zones.len() != added
        {
            return Err(Fault::combination(format!(
                "The number of PreferredAvailabilityZones ({}) must equal the number of replicas added to node group {shard_id} ({added}).",
                entry.preferred_availability_zones.len()
            ))
            .into());
        }
        let zones = (0..added)
            .map(|i| entry.preferred_availability_zones.get(i).cloned())
            .collect();
        out.push((shard_id, zones));
    }
    Ok(out)
}

/// Every member of the group (of every shard).
pub(crate) fn members_of(
    r: &dyn Reader,
    region: &str,
    group_id: &str,
) -> Result<Vec<NodeSpec>, ServiceError> {
    let mut out = Vec::new();
    for key in r.lookup(tables::NODES_BY_SHARD, &tables::key(region, group_id))? {
        if let Some(node) = r.doc::<NodeSpec>(&key)? {
            out.push(node);
        }
    }
    Ok(out)
}

/// Records a resharding of group `spec` (whose shards are `shards`) as `plan` lays it out: the
/// group's new generation (when `bump`; a restore reshards in its creating generation) and
/// [`Resharding`], each shard's new slots (removed ones marked), the new shards and their
/// members.
fn write_resharding(
    w: &mut dyn Writer,
    spec: &mut GroupSpec,
    shards: &[ShardSpec],
    plan: &reshard::ReshardPlan,
    now: ferrocache_model::Timestamp,
    bump: bool,
) -> Result<(), ServiceError> {
    if bump {
        spec.generation += 1;
    }
    spec.resharding = Some(Resharding {
        generation: spec.generation,
        slots_to_move: plan.slots_to_move,
        before: shards
            .iter()
            .map(|s| (s.id.clone(), s.slots.clone()))
            .collect(),
    });
    w.put_doc(&tables::key(&spec.region, &spec.id), &*spec)?;
    for shard in shards {
        let mut shard_spec = shard.clone();
        shard_spec.removing = plan.removed.contains(&shard_spec.id);
        shard_spec.slots = plan.slots.get(&shard_spec.id).cloned().unwrap_or_default();
        w.put_doc(
            &tables::shard_key(&spec.region, &spec.id, &shard_spec.id),
            &shard_spec,
        )?;
    }
    for (shard_id, zones) in &plan.new_shards {
        let slots = plan.slots.get(shard_id).cloned().unwrap_or_default();
        let shard_spec = ShardSpec::new(&spec.region, &spec.id, shard_id.clone(), slots);
        w.put_doc(
            &tables::shard_key(&spec.region, &spec.id, shard_id),
            &shard_spec,
        )?;
        add_members(w, spec, shard_id, zones, now, None)?;
    }
    Ok(())
}

/// Whether a cluster-mode restore (`plan`, laid out as asked) must first be formed as its source
/// was — a snapshot's shards, or for an RDB object (`SnapshotArns`) one shard holding every
/// slot — and what to form: the source's shards and the create request that lays them out
/// (each keeps the replica count the layout asked gives a shard of its id, others none: they
/// are emptied and removed once the slots moved). `None` when the layout asked is the source's.
fn restore_formation(
    req: &CreateGroupRequest,
    plan: &group::GroupPlan,
    snapshot: Option<&SnapshotSpec>,
) -> Option<Formation> {
    if !plan.spec.cluster_mode.enabled() {
        return None;
    }
    let formation: Vec<(String, Vec<SlotRange>)> = match (snapshot, &plan.spec.restore_from) {
        (Some(snapshot), _) => snapshot
            .layout()
            .into_iter()
            .map(|s| (s.shard_id, s.slots))
            .collect(),
        (None, Some(_)) => vec![(plan.shards.first()?.id.clone(), SlotRange::even_split(1))],
        (None, None) => return None,
    };
    let wanted: Vec<(String, Vec<SlotRange>)> = plan
        .shards
        .iter()
        .map(|s| (s.id.clone(), s.slots.clone()))
        .collect();
    if formation == wanted {
        return None;
    }
    let replicas_of = |id: &str| {
        plan.shards
            .iter()
            .zip(&plan.new_member_zones)
            .find(|(s, _)| s.id == id)
            .map_or(0, |(_, zones)| zones.len().saturating_sub(1) as i64)
    };
    let request = CreateGroupRequest {
        num_node_groups: Some(formation.len() as i64),
        replicas_per_node_group: None,
        node_group_configuration: formation
            .iter()
            .map(|(id, slots)| NodeGroupRequest {
                node_group_id: Some(id.clone()),
                slots: Some(SlotRange::format_list(slots)),
                replica_count: Some(replicas_of(id)),
                primary_availability_zone: None,
                replica_availability_zones: Vec::new(),
            })
            .collect(),
        cluster_mode: Some("enabled".to_string()),
        ..req.clone()
    };
    Some(Formation {
        shards: formation,
        request,
    })
}

/// How a restore into another layout is formed first (see [`restore_formation`]).
struct Formation {
    /// The source's shards and their slots.
    shards: Vec<(String, Vec<SlotRange>)>,
    /// The create request that lays them out.
    request: CreateGroupRequest,
}

/// Adds new members (one per entry of `zones`) to shard `shard_id` of `spec` (specs only; the
/// reconcilers start them), each seeded from snapshot `restore_from` when given (members
/// created with a restored group).
fn add_members(
    w: &mut dyn Writer,
    spec: &GroupSpec,
    shard_id: &str,
    zones: &[Option<String>],
    now: ferrocache_model::Timestamp,
    restore_from: Option<&str>,
) -> Result<(), ServiceError> {
    let existing = members_of(w, &spec.region, &spec.id)?;
    // Every new member gets its zone now, from the subnet group's zones, so placement never
    // falls back to the region's zones.
    let zones =
        super::subnet_group::place_members(w, &spec.region, &spec.subnet_group, &existing, zones)?;
    let mut spreading = Vec::new();
    for (index, zone) in (next_member_index(spec, shard_id, &existing)..).zip(zones) {
        let id = if spec.cluster_mode.enabled() {
            ids::shard_member_cluster_id(&spec.id, shard_id, index)
        } else {
            ids::member_cluster_id(&spec.id, index)
        };
        let key = tables::key(&spec.region, &id);
        if w.doc::<NodeSpec>(&key)?.is_some() {
            return Err(Fault::CacheClusterAlreadyExists(id).into());
        }
        let mut member = node::member_spec(spec, shard_id, id, zone.clone(), now);
        member.restore_from = restore_from.map(str::to_string);
        w.put_doc(&key, &member)?;
        if member.spreads_across_hosts() {
            spreading.push(member.node_type);
        }
    }
    let node_types: Vec<&str> = spreading.iter().map(String::as_str).collect();
    crate::capacity::admit_new(w, &node_types)?;
    Ok(())
}

impl Service {
    /// `CreateReplicationGroup`: validates, writes the group's spec and its members' specs.
    ///
    /// # Errors
    /// AWS's faults for broken rules, unknown references and duplicate ids.
    pub fn create_replication_group(
        &self,
        region: &str,
        req: &CreateGroupRequest,
    ) -> Result<GroupView, ServiceError> {
        let now = chrono::Utc::now();
        // The parameter group decides cluster mode; a group that does not exist is reported by
        // `check_references` below, in the write.
        let parameter_group_cluster_enabled = match &req.cache_parameter_group_name {
            Some(name) => view(self.store(), |r| {
                super::parameter_group::load(r, region, &name.to_ascii_lowercase())
            })?
            .map(|g| ferrocache_model::parameter::cluster_mode_enabled(&g)),
            None => None,
        };
        let ctx = CreateContext {
            region: region.to_string(),
            engine_version_running: self.config().engine_version_running.clone(),
            now,
            parameter_group_cluster_enabled,
        };
        let snapshot = match &req.snapshot_name {
            Some(name) => view(self.store(), |r| {
                r.doc::<SnapshotSpec>(&tables::key(region, &name.to_ascii_lowercase()))
            })?,
            None => None,
        };
        // A cluster-mode snapshot lends its shard layout to a create that gives none.
        let snapshot_shards = snapshot
            .as_ref()
            .map(|s| s.shards.clone())
            .unwrap_or_default();
        let mut plan =
            group::plan_create(&group::with_snapshot_layout(req, &snapshot_shards), &ctx)?;
        // A cluster-mode restore into other shards than its source's (another NumNodeGroups,
        // other Slots, or an RDB object, which holds every slot): the group is formed as the
        // source was, then resharded to the layout asked for while it reads `creating`.
        let mut reshard = None;
        if let Some(formation) = restore_formation(req, &plan, snapshot.as_ref()) {
            let target: Vec<_> = plan
                .shards
                .iter()
                .zip(&plan.new_member_zones)
                .map(|(s, zones)| (s.id.clone(), s.slots.clone(), zones.clone()))
                .collect();
            reshard = Some(reshard::plan_layout(&formation.shards, &target));
            plan = group::plan_create(&formation.request, &ctx)?;
        }
        let first_shard = plan.shards[0].id.clone();
        let account = self.account_id().to_string();
        update(self.store(), |w| -> Result<GroupView, ServiceError> {
            check_references(
                w,
                region,
                &plan.spec.parameter_group,
                &plan.spec.subnet_group,
                plan.spec.cluster_mode,
            )?;
            super::user::check_user_groups(w, region, &plan.spec.user_group_ids)?;
            let spec = super::subnet_group::with_network(w, &account, &plan.spec)?;
            let key = tables::key(region, &plan.spec.id);
            if w.doc::<GroupSpec>(&key)?.is_some() {
                return Err(Fault::ReplicationGroupAlreadyExists(plan.spec.id.clone()).into());
            }
            if let Some(name) = &plan.spec.restore_from {
                if plan.adopt_primary.is_some() {
                    return Err(Fault::combination(
                        "PrimaryClusterId cannot be combined with SnapshotName: the primary keeps its own data.",
                    )
                    .into());
                }
                let requested: Vec<_> = plan.shards.iter().map(|s| s.slots.clone()).collect();
                let cluster = plan.spec.cluster_mode.enabled();
                self.check_restorable(w, region, name, &requested, cluster)?;
                let replicas = plan
                    .new_member_zones
                    .iter()
                    .map(|members| members.len().saturating_sub(1))
                    .max()
                    .unwrap_or(0);
                let sealed = plan.spec.at_rest_encryption.is_some();
                self.check_room_to_restore(w, region, name, replicas, sealed)?;
            }
            if let Some(primary_id) = &plan.adopt_primary {
                let primary = super::view::NodeView::load(w, region, primary_id, &account)?
                    .ok_or_else(|| Fault::CacheClusterNotFound(primary_id.clone()))?;
                if primary.spec.group_id.is_some() {
                    return Err(Fault::InvalidCacheClusterState(format!(
                        "Cache cluster {primary_id} is already a member of a replication group."
                    ))
                    .into());
                }
                if primary.status != node::ClusterStatus::Available {
                    return Err(Fault::InvalidCacheClusterState(format!(
                        "Cache cluster {primary_id} is not in available state."
                    ))
                    .into());
                }
                let mut adopted = primary.spec.clone();
                adopted.group_id = Some(plan.spec.id.clone());
                adopted.shard_id = Some(first_shard.clone());
                w.put_doc(&tables::key(region, primary_id), &adopted)?;
            }
            w.put_doc(&key, &spec)?;
            for (shard, zones) in plan.shards.iter().zip(&plan.new_member_zones) {
                w.put_doc(&tables::shard_key(region, &spec.id, &shard.id), shard)?;
                add_members(
                    w,
                    &spec,
                    &shard.id,
                    zones,
                    now,
                    spec.restore_from.as_deref(),
                )?;
            }
            if let Some(resharding) = &reshard {
                let mut spec = spec.clone();
                write_resharding(w, &mut spec, &plan.shards, resharding, now, false)?;
            }
            load_group(w, region, &plan.spec.id, &account)
        })
    }

    /// `DescribeReplicationGroups`: one group, or a page of the region's groups.
    ///
    /// # Errors
    /// `ReplicationGroupNotFoundFault`, bad paging values.
    pub fn describe_replication_groups(
        &self,
        region: &str,
        id: Option<&str>,
        marker: Option<&str>,
        max_records: Option<i64>,
    ) -> Result<Page<GroupView>, ServiceError> {
        let account = self.account_id().to_string();
        paging::RECORDS.page_size(max_records)?;
        view(self.store(), |r| -> Result<Page<GroupView>, ServiceError> {
            if let Some(id) = id {
                return Ok(Page {
                    items: vec![load_group(r, region, id, &account)?],
                    marker: None,
                });
            }
            let (ids, marker) =
                super::page_of::<GroupSpec>(r, region, marker, max_records, paging::RECORDS)?;
            let shared = super::view::Shared::load(r, region)?;
            let mut items = Vec::new();
            for (_, spec) in ids {
                items.push(GroupView::of_spec(r, spec, &account, &shared)?);
            }
            Ok(Page { items, marker })
        })
    }

    /// `DeleteReplicationGroup`: marks the group and its members for deletion; the status reads
    /// `deleting` at once, so `wait replication-group-deleted` and Terraform see it. With
    /// `FinalSnapshotIdentifier` the snapshot is recorded too, and the members stay until it is
    /// no longer `creating`.
    ///
    /// # Errors
    /// `ReplicationGroupNotFoundFault`, `InvalidReplicationGroupState`, and for the final
    /// snapshot `SnapshotAlreadyExistsFault`, `SnapshotQuotaExceededFault`, a bad name.
    pub fn delete_replication_group(
        &self,
        region: &str,
        id: &str,
        retain_primary: bool,
        final_snapshot: Option<&str>,
    ) -> Result<GroupView, ServiceError> {
        let final_snapshot = final_snapshot
            .map(ferrocache_model::snapshot::snapshot_name)
            .transpose()?;
        let account = self.account_id().to_string();
        update(self.store(), |w| -> Result<GroupView, ServiceError> {
            let current = load_group(w, region, id, &account)?;
            if current.spec.cluster_mode.enabled() && retain_primary {
                return Err(group::not_yet(
                    "RetainPrimaryCluster on a cluster-mode replication group",
                )
                .into());
            }
            match current.status {
                GroupStatus::Available | GroupStatus::CreateFailed | GroupStatus::RestoreFailed => {
                }
                GroupStatus::Deleting | GroupStatus::Modifying | GroupStatus::Snapshotting => {
                    return Err(Fault::InvalidReplicationGroupState(format!(
                        "Replication group {} has status {} which is not valid for deletion.",
                        current.spec.id,
                        current.status.as_str()
                    ))
                    .into())
                }
                GroupStatus::Creating => {
                    let member = current
                        .members
                        .first()
                        .map_or(current.spec.id.as_str(), |m| m.spec.id.as_str());
                    return Err(Fault::InvalidReplicationGroupState(format!(
                        "Cache cluster {member} is not in a valid state to be deleted."
                    ))
                    .into());
                }
            }
            // The final snapshot is recorded with the deletion, in this transaction: a name
            // already taken refuses the call before anything is marked.
            if let Some(name) = &final_snapshot {
                super::snapshot::record_final_of_group(w, region, name, &current)?;
            }
            let mut spec = current.spec.clone();
            spec.deletion = Some(GroupDeletion { retain_primary });
            w.put_doc(&tables::key(region, &spec.id), &spec)?;
            for member in &current.members {
                if retain_primary && current.is_primary(&member.spec.id) {
                    continue;
                }
                let mut m = member.spec.clone();
                m.deletion = Some(NodeDeletion {
                    with_group: true,
                    final_snapshot: final_snapshot.clone(),
                });
                w.put_doc(&tables::key(region, &m.id), &m)?;
            }
            load_group(w, region, &spec.id, &account)
        })
    }

    /// `IncreaseReplicaCount`: replicas added to the group's one shard, or in cluster mode to
    /// each shard (`NewReplicaCount`) or to the shards `ReplicaConfiguration` names.
    ///
    /// # Errors
    /// `ReplicationGroupNotFoundFault`, `InvalidReplicationGroupState`, `InvalidParameterValue`.
    pub fn increase_replica_count(
        &self,
        region: &str,
        req: &ReplicaCountRequest,
    ) -> Result<GroupView, ServiceError> {
        let id = required(&req.replication_group_id, "ReplicationGroupId")?;
        check_apply_immediately(req.apply_immediately)?;
        let account = self.account_id().to_string();
        let now = chrono::Utc::now();
        update(self.store(), |w| -> Result<GroupView, ServiceError> {
            let current = load_group(w, region, &id, &account)?;
            current.require_available()?;
            current.refuse_if_compatible("IncreaseReplicaCount")?;
            let additions = if current.spec.cluster_mode.enabled() {
                shard_increases(&current, req)?
            } else {
                if !req.replica_configuration.is_empty() {
                    return Err(Fault::combination(
                        "ReplicaConfiguration is for replication groups with cluster mode enabled; use NewReplicaCount.",
                    )
                    .into());
                }
                let replicas = current.live_members().count().saturating_sub(1) as u32;
                let target = group::check_increase(replicas, req.new_replica_count)?;
                let shard = current
                    .shards
                    .first()
                    .map(|s| s.spec.id.clone())
                    .ok_or_else(|| Fault::ReplicationGroupNotFound(current.spec.id.clone()))?;
                vec![(shard, vec![None; (target - replicas) as usize])]
            };
            let mut spec = current.spec.clone();
            spec.generation += 1;
            w.put_doc(&tables::key(region, &spec.id), &spec)?;
            for (shard, zones) in &additions {
                add_members(w, &spec, shard, zones, now, None)?;
            }
            load_group(w, region, &spec.id, &account)
        })
    }

    /// `ModifyReplicationGroupShardConfiguration`: online resharding of a cluster-mode group.
    /// Records the shards' new slots (an even spread moving as few slots as it can), creates
    /// the shards added, marks the shards removed, and bumps the group's generation (status
    /// `modifying`); the resharding reconciler then creates the new members, moves the slots
    /// with their keys while clients keep working, and removes the emptied shards.
    ///
    /// # Errors
    /// `ReplicationGroupNotFoundFault`, `InvalidReplicationGroupState` (not available, or
    /// nothing to do), `InvalidParameterValue`, `InvalidParameterCombination` (cluster mode
    /// disabled, removal lists), `NodeGroupNotFoundFault`,
    /// `NodeGroupsPerReplicationGroupQuotaExceeded`.
    pub fn modify_shard_configuration(
        &self,
        region: &str,
        req: &ShardConfigurationRequest,
    ) -> Result<GroupView, ServiceError> {
        let id = required(&req.replication_group_id, "ReplicationGroupId")?;
        check_apply_immediately(req.apply_immediately)?;
        let account = self.account_id().to_string();
        let now = chrono::Utc::now();
        update(self.store(), |w| -> Result<GroupView, ServiceError> {
            let current = load_group(w, region, &id, &account)?;
            current.refuse_if_compatible("ModifyReplicationGroupShardConfiguration")?;
            if !current.spec.cluster_mode.enabled() {
                return Err(Fault::combination(format!(
                    "Replication group {} has cluster mode disabled: ModifyReplicationGroupShardConfiguration needs cluster mode enabled.",
                    current.spec.id
                ))
                .into());
            }
            current.require_available()?;
            let shards: Vec<CurrentShard> = current
                .shards
                .iter()
                .map(|s| CurrentShard {
                    id: s.spec.id.clone(),
                    slots: s.spec.slots.clone(),
                    replicas: current
                        .members_of(&s.spec.id)
                        .filter(|m| m.spec.deletion.is_none())
                        .count()
                        .saturating_sub(1) as u32,
                })
                .collect();
            let plan = reshard::plan_request(&current.spec.id, &shards, req)?;
            if !plan.removed.is_empty() {
                let used: u64 = current
                    .live_members()
                    .filter(|m| current.is_primary(&m.spec.id))
                    .filter_map(|m| m.observed.as_ref().map(|o| o.used_memory_bytes))
                    .sum();
                let maxmemory = ferrocache_model::node_type::lookup(&current.spec.node_type)
                    .map(|t| {
                        t.maxmemory_bytes(
                            ferrocache_model::node_type::RESERVED_MEMORY_PERCENT_DEFAULT,
                        )
                    })
                    .unwrap_or(0);
                reshard::check_fits(&current.spec.id, used, plan.slots.len(), maxmemory)?;
            }
            let mut spec = current.spec.clone();
            let shard_specs: Vec<ShardSpec> =
                current.shards.iter().map(|s| s.spec.clone()).collect();
            write_resharding(w, &mut spec, &shard_specs, &plan, now, true)?;
            load_group(w, region, &spec.id, &account)
        })
    }

    /// `DecreaseReplicaCount` (cluster mode disabled): by `NewReplicaCount` (the newest replicas
    /// go) or by `ReplicasToRemove`.
    ///
    /// # Errors
    /// `ReplicationGroupNotFoundFault`, `InvalidReplicationGroupState`, `InvalidParameterValue`,
    /// `InvalidParameterCombination`.
    pub fn decrease_replica_count(
        &self,
        region: &str,
        req: &ReplicaCountRequest,
    ) -> Result<GroupView, ServiceError> {
        let id = required(&req.replication_group_id, "ReplicationGroupId")?;
        check_apply_immediately(req.apply_immediately)?;
        let account = self.account_id().to_string();
        update(self.store(), |w| -> Result<GroupView, ServiceError> {
            let current = load_group(w, region, &id, &account)?;
            current.require_available()?;
            current.refuse_if_compatible("DecreaseReplicaCount")?;
            let remove = if current.spec.cluster_mode.enabled() {
                shard_decreases(&current, req)?
            } else {
                single_shard_decrease(&current, req)?
            };
            for rid in &remove {
                let key = tables::key(region, rid);
                if let Some(mut m) = w.doc::<NodeSpec>(&key)? {
                    m.deletion = Some(NodeDeletion {
                        with_group: false,
                        final_snapshot: None,
                    });
                    w.put_doc(&key, &m)?;
                }
            }
            let mut spec = current.spec.clone();
            spec.generation += 1;
            w.put_doc(&tables::key(region, &spec.id), &spec)?;
            load_group(w, region, &spec.id, &account)
        })
    }
}

/// The replicas `DecreaseReplicaCount` removes from a group without cluster mode: the newest
/// ones down to `NewReplicaCount`, or `ReplicasToRemove`.
fn single_shard_decrease(
    current: &GroupView,
    req: &ReplicaCountRequest,
) -> Result<Vec<String>, ServiceError> {
    if !req.replica_configuration.is_empty() {
        return Err(Fault::combination(
            "ReplicaConfiguration is for replication groups with cluster mode enabled; use NewReplicaCount.",
        )
        .into());
    }
    let primary = current.primary_id().unwrap_or_default().to_string();
    let mut replicas: Vec<&NodeSpec> = current
        .live_members()
        .map(|m| &m.spec)
        .filter(|s| s.id != primary)
        .collect();
    replicas.sort_by(|a, b| a.id.cmp(&b.id));
    let remove: Vec<String> = match (req.new_replica_count, req.replicas_to_remove.is_empty()) {
        (Some(_), false) => {
            return Err(Fault::combination(
                "Specify either NewReplicaCount or ReplicasToRemove, not both.",
            )
            .into())
        }
        (Some(n), true) => {
            let target =
                group::check_decrease(replicas.len() as u32, n, current.spec.automatic_failover)?;
            replicas
                .iter()
                .rev()
                .take(replicas.len() - target as usize)
                .map(|s| s.id.clone())
                .collect()
        }
        (None, false) => {
            let wanted: Vec<String> = req
                .replicas_to_remove
                .iter()
                .map(|s| s.to_ascii_lowercase())
                .collect();
            for r in &wanted {
                if *r == primary {
                    return Err(Fault::value(format!(
                        "Cannot remove the primary cache cluster {r}."
                    ))
                    .into());
                }
                if !replicas.iter().any(|s| &s.id == r) {
                    return Err(Fault::CacheClusterNotFound(r.clone()).into());
                }
            }
            let left = replicas.len() - wanted.len();
            group::check_decrease(
                replicas.len() as u32,
                left as i64,
                current.spec.automatic_failover,
            )?;
            wanted
        }
        (None, true) => return Err(Fault::MissingParameter("NewReplicaCount".into()).into()),
    };
    Ok(remove)
}

fn check_apply_immediately(value: Option<bool>) -> Result<(), Fault> {
    match value {
        Some(true) => Ok(()),
        Some(false) => Err(Fault::value(
            "This operation only supports ApplyImmediately=true.",
        )),
        None => Err(Fault::MissingParameter("ApplyImmediately".into())),
    }
}

impl Service {
    /// `TestFailover`: records the request (and AWS's "Test Failover API called" event); the
    /// group reconciler then switches the primary to the most up-to-date replica.
    ///
    /// # Errors
    /// `ReplicationGroupNotFoundFault`, `NodeGroupNotFoundFault`, `InvalidReplicationGroupState`
    /// (not available, or no automatic failover), `TestFailoverNotAvailableFault`,
    /// `APICallRateForCustomerExceeded`.
    pub fn test_failover(
        &self,
        region: &str,
        group_id: &str,
        node_group_id: &str,
    ) -> Result<GroupView, ServiceError> {
        let account = self.account_id().to_string();
        let now = chrono::Utc::now();
        update(self.store(), |w| -> Result<GroupView, ServiceError> {
            let current = load_group(w, region, group_id, &account)?;
            current.require_available()?;
            let shard_ids: Vec<String> = current.shards.iter().map(|s| s.spec.id.clone()).collect();
            let shard = current.shards.iter().find(|s| s.spec.id == node_group_id);
            if shard.is_some_and(ShardView::failover_pending) {
                return Err(Fault::InvalidReplicationGroupState(format!(
                    "Replication group {} has a failover in progress.",
                    current.spec.id
                ))
                .into());
            }
            let replicas = current
                .members_of(node_group_id)
                .filter(|m| m.spec.deletion.is_none())
                .count()
                .saturating_sub(1);
            let calls = group::check_test_failover(
                &current.spec,
                node_group_id,
                &shard_ids,
                replicas,
                now,
            )?;
            let mut spec = current.spec.clone();
            spec.test_failover_calls = calls;
            w.put_doc(&tables::key(region, &spec.id), &spec)?;
            if let Some(shard) = shard {
                let mut shard_spec = shard.spec.clone();
                shard_spec.failover_requests += 1;
                w.put_doc(
                    &tables::shard_key(region, &spec.id, &shard_spec.id),
                    &shard_spec,
                )?;
            }
            crate::events::record(
                w,
                region,
                &spec.id,
                ferrocache_model::event::SourceType::ReplicationGroup,
                ferrocache_model::event::text::test_failover_called(node_group_id),
                now,
            )?;
            load_group(w, region, &spec.id, &account)
        })
    }
}
