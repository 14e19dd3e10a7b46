//! The rules of `ModifyReplicationGroup` and `ModifyCacheCluster`: which changes are allowed,
//! which take effect at once and which wait for the maintenance window, and the spec that
//! results.
//!
//! References to other resources (parameter group, security groups, member clusters) are checked
//! by the caller against the store; these functions see only the request and the current spec.

use serde::{Deserialize, Serialize};

use crate::group::{self, not_yet, ClusterMode, GroupSpec, DESCRIPTION_LEN_MAX};
use crate::node::NodeSpec;
use crate::{engine, ids, node_type, Fault, Timestamp};

/// When a change that ElastiCache defers (the node type) takes effect.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ApplyAt {
    /// `ApplyImmediately=true`: as soon as possible.
    #[default]
    Now,
    /// `ApplyImmediately=false` (AWS's default): in the next maintenance window.
    MaintenanceWindow,
}

/// `ModifyReplicationGroup` as decoded from the wire; every member optional so the rules here
/// decide.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModifyGroupRequest {
    /// `ReplicationGroupId`
    pub replication_group_id: Option<String>,
    /// `ReplicationGroupDescription`
    pub description: Option<String>,
    /// `PrimaryClusterId`
    pub primary_cluster_id: Option<String>,
    /// `SnapshottingClusterId`
    pub snapshotting_cluster_id: Option<String>,
    /// `AutomaticFailoverEnabled`
    pub automatic_failover_enabled: Option<bool>,
    /// `MultiAZEnabled`
    pub multi_az_enabled: Option<bool>,
    /// `NodeGroupId`
    pub node_group_id: Option<String>,
    /// `CacheSecurityGroupNames`
    pub cache_security_group_names: Vec<String>,
    /// `SecurityGroupIds`, when sent.
    pub security_group_ids: Option<Vec<String>>,
    /// `PreferredMaintenanceWindow`
    pub preferred_maintenance_window: Option<String>,
    /// `NotificationTopicArn`
    pub notification_topic_arn: Option<String>,
    /// `NotificationTopicStatus`
    pub notification_topic_status: Option<String>,
    /// `CacheParameterGroupName`
    pub cache_parameter_group_name: Option<String>,
    /// `ApplyImmediately`
    pub apply_immediately: Option<bool>,
    /// `Engine`
    pub engine: Option<String>,
    /// `EngineVersion`
    pub engine_version: Option<String>,
    /// `AutoMinorVersionUpgrade`
    pub auto_minor_version_upgrade: Option<bool>,
    /// `SnapshotRetentionLimit`
    pub snapshot_retention_limit: Option<i64>,
    /// `SnapshotWindow`
    pub snapshot_window: Option<String>,
    /// `CacheNodeType`
    pub cache_node_type: Option<String>,
    /// `AuthToken`
    pub auth_token: Option<String>,
    /// `AuthTokenUpdateStrategy`
    pub auth_token_update_strategy: Option<String>,
    /// `UserGroupIdsToAdd`
    pub user_group_ids_to_add: Vec<String>,
    /// `UserGroupIdsToRemove`
    pub user_group_ids_to_remove: Vec<String>,
    /// `RemoveUserGroups`
    pub remove_user_groups: Option<bool>,
    /// `LogDeliveryConfigurations`
    pub log_deliveries: Vec<crate::log_delivery::LogDeliveryRequest>,
    /// `IpDiscovery`
    pub ip_discovery: Option<String>,
    /// `TransitEncryptionEnabled`
    pub transit_encryption_enabled: Option<bool>,
    /// `TransitEncryptionMode`
    pub transit_encryption_mode: Option<String>,
    /// `ClusterMode`
    pub cluster_mode: Option<String>,
}

/// A member of the group being modified, as the rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberFacts {
    /// Cache cluster id.
    pub id: String,
    /// `NodeGroupId` of its shard.
    pub shard_id: String,
    /// Its status is `available`.
    pub available: bool,
}

/// What a valid `ModifyReplicationGroup` changes.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupModification {
    /// The group's spec afterwards.
    pub spec: GroupSpec,
    /// The control plane has work to do (the group reads `modifying` until it is done).
    pub needs_reconcile: bool,
    /// A node type change for every member, and when it applies.
    pub node_type: Option<(String, ApplyAt)>,
    /// The security groups changed (members get them and AWS's event).
    pub security_groups_changed: bool,
    /// The parameter group changed (members get it).
    pub parameter_group_changed: bool,
    /// `AutomaticFailoverEnabled` went from off to on (AWS's event).
    pub automatic_failover_enabled_now: bool,
    /// The AUTH tokens changed (members get them, applied with `ACL SETUSER`).
    pub auth_changed: bool,
    /// `UserGroupIds` changed (members get the new ACL users).
    pub user_groups_changed: bool,
    /// `PrimaryClusterId`: the member to promote (a request counted on its shard).
    pub promotion: Option<MemberFacts>,
    /// `ClusterMode` moved on (`disabled` → `compatible` → `enabled`); nothing else changed but
    /// perhaps the parameter group.
    pub cluster_mode_changed: bool,
}

/// What both modify operations refuse alike: an AUTH token change and IPv6 (later releases),
/// and EC2-Classic cache security groups.
fn refuse_shared(
    auth_token_change: bool,
    ip_discovery: Option<&str>,
    cache_security_group_names: &[String],
) -> Result<(), Fault> {
    if auth_token_change {
        return Err(not_yet(
            "Changing the AUTH token (AuthToken, AuthTokenUpdateStrategy)",
        ));
    }
    match ip_discovery {
        None | Some("ipv4") => {}
        Some("ipv6") => return Err(not_yet("IpDiscovery ipv6 (endpoints are IPv4)")),
        Some(v) => return Err(Fault::value(format!("Invalid value {v} for IpDiscovery."))),
    }
    if !cache_security_group_names.is_empty() {
        return Err(Fault::combination(
            "CacheSecurityGroupNames are for clusters outside a VPC; use SecurityGroupIds.",
        ));
    }
    Ok(())
}

/// Requests of later releases (IPv6, `RemoveUserGroups`), refused.
fn refuse_not_yet(req: &ModifyGroupRequest) -> Result<(), Fault> {
    refuse_shared(
        // Supported on groups (see `plan_group_modification_at`).
        false,
        req.ip_discovery.as_deref(),
        &req.cache_security_group_names,
    )?;
    if req.remove_user_groups == Some(true) {
        return Err(not_yet("RemoveUserGroups (use UserGroupIdsToRemove)"));
    }
    Ok(())
}

/// The `ClusterMode` a request names.
fn requested_cluster_mode(req: &ModifyGroupRequest) -> Result<Option<ClusterMode>, Fault> {
    match req.cluster_mode.as_deref() {
        None => Ok(None),
        Some("disabled") => Ok(Some(ClusterMode::Disabled)),
        Some("compatible") => Ok(Some(ClusterMode::Compatible)),
        Some("enabled") => Ok(Some(ClusterMode::Enabled)),
        Some(m) => Err(Fault::value(format!("Invalid value {m} for ClusterMode."))),
    }
}

/// A change of `ClusterMode` on a live group, by AWS's rules: only `disabled` → `compatible`
/// → `enabled`, never back; nothing else in the same request but the parameter group; into
/// `compatible` only with automatic failover and a replica. The parameter group must have
/// `cluster-enabled yes` (the caller checks it); a group on `default.redis7` moves to
/// `default.redis7.cluster.on` by itself. (That the keys are all in database 0 is checked on
/// the primary when the change starts.) `None` when the request keeps the current mode.
///
/// Wording: AWS's messages for these refusals were not found; these are Ferrocache's.
fn plan_cluster_mode_change(
    current: &GroupSpec,
    members: &[MemberFacts],
    req: &ModifyGroupRequest,
) -> Result<Option<GroupModification>, Fault> {
    let Some(wanted) = requested_cluster_mode(req)? else {
        return Ok(None);
    };
    if wanted == current.cluster_mode {
        return Ok(None);
    }
    match (current.cluster_mode, wanted) {
        (ClusterMode::Disabled, ClusterMode::Compatible)
        | (ClusterMode::Compatible, ClusterMode::Enabled) => {}
        (ClusterMode::Disabled, ClusterMode::Enabled) => {
            return Err(Fault::combination(
                "Cluster mode can only be changed from disabled to compatible first, then to enabled.",
            ))
        }
        (from, to) => {
            return Err(Fault::combination(format!(
                "Cluster mode cannot be changed from {} to {}: it only moves from disabled to compatible to enabled.",
                from.as_str(),
                to.as_str()
            )))
        }
    }
    if !only_cluster_mode_and_parameter_group(req) {
        return Err(Fault::combination(
            "No other parameter can be modified together with ClusterMode, except CacheParameterGroupName.",
        ));
    }
    if wanted == ClusterMode::Compatible && (!current.automatic_failover || members.len() < 2) {
        return Err(Fault::combination(
            "Changing the cluster mode requires automatic failover enabled and at least 1 replica.",
        ));
    }
    let mut spec = current.clone();
    spec.cluster_mode = wanted;
    if wanted == ClusterMode::Compatible {
        spec.parameter_group_before_cluster_mode = Some(current.parameter_group.clone());
    }
    spec.parameter_group = match &req.cache_parameter_group_name {
        Some(pg) => pg.to_ascii_lowercase(),
        None if current.parameter_group == engine::DEFAULT_PARAMETER_GROUP => {
            engine::default_parameter_group(true).to_string()
        }
        None => current.parameter_group.clone(),
    };
    spec.generation += 1;
    Ok(Some(GroupModification {
        parameter_group_changed: spec.parameter_group != current.parameter_group,
        spec,
        needs_reconcile: true,
        node_type: None,
        security_groups_changed: false,
        automatic_failover_enabled_now: false,
        auth_changed: false,
        user_groups_changed: false,
        promotion: None,
        cluster_mode_changed: true,
    }))
}

/// Whether the request names nothing but the group, `ClusterMode`, `CacheParameterGroupName`
/// and `ApplyImmediately`.
fn only_cluster_mode_and_parameter_group(req: &ModifyGroupRequest) -> bool {
    *req == ModifyGroupRequest {
        replication_group_id: req.replication_group_id.clone(),
        cluster_mode: req.cluster_mode.clone(),
        cache_parameter_group_name: req.cache_parameter_group_name.clone(),
        apply_immediately: req.apply_immediately,
        ..ModifyGroupRequest::default()
    }
}

/// While a group is `compatible`, AWS allows no other modification than its parameter group
/// (and moving on to `enabled`).
fn refuse_while_compatible(req: &ModifyGroupRequest) -> Result<(), Fault> {
    if !only_cluster_mode_and_parameter_group(req) {
        return Err(Fault::combination(
            "A replication group in compatible cluster mode can only have its parameter group modified, or its cluster mode set to enabled.",
        ));
    }
    Ok(())
}

/// Checks `Engine`/`EngineVersion` of a modify: the engine cannot change and only the version
/// running (or a prefix of it) is accepted, since Ferrocache runs one engine build.
fn check_engine(
    engine_name: Option<&str>,
    version: Option<&str>,
    current_version: &str,
) -> Result<(), Fault> {
    if let Some(e) = engine_name {
        if engine::engine(Some(e))? != engine::ENGINE_REDIS {
            return Err(Fault::value(format!("Invalid value {e} for Engine.")));
        }
    }
    if let Some(v) = version {
        let resolved = engine::engine_version(Some(v), current_version)?;
        if resolved != current_version {
            return Err(not_yet(&format!(
                "Changing the engine version to {v} (this host runs {current_version})"
            )));
        }
    }
    Ok(())
}

/// Checks a node type change: it must exist and differ from the current one.
fn check_node_type(requested: &str, current: &str) -> Result<Option<String>, Fault> {
    node_type::lookup(requested)?;
    Ok((requested != current).then(|| requested.to_string()))
}

/// Applies AWS's rules to a `ModifyReplicationGroup` of `current` (whose members are
/// `members`), returning the modified spec and what the control plane must carry out.
///
/// # Errors
/// The [`Fault`] AWS answers for the first broken rule; `InvalidParameterCombination`
/// "No modifications were requested" when nothing would change.
pub fn plan_group_modification(
    current: &GroupSpec,
    members: &[MemberFacts],
    req: &ModifyGroupRequest,
) -> Result<GroupModification, Fault> {
    plan_group_modification_at(current, members, req, chrono::Utc::now())
}

/// What `ModifyReplicationGroup` cannot change on a cluster-mode group, in AWS's words where
/// known, and what this release does not offer for such groups yet.
fn refuse_in_cluster_mode(req: &ModifyGroupRequest) -> Result<(), Fault> {
    if req.automatic_failover_enabled == Some(false) {
        return Err(Fault::combination(
            "Turning off automatic failover for replication group with cluster mode enabled is not supported.",
        ));
    }
    if req.primary_cluster_id.is_some() {
        return Err(Fault::combination(
            "PrimaryClusterId cannot be specified for replication groups with cluster mode enabled.",
        ));
    }
    if req.snapshotting_cluster_id.is_some() {
        return Err(Fault::combination(
            "Cannot set snapshotting cluster for cluster mode enabled replication group",
        ));
    }
    Ok(())
}

/// [`plan_group_modification`] at time `now` (stamped on an AUTH token change as
/// `AuthTokenLastModifiedDate`).
///
/// # Errors
/// As [`plan_group_modification`].
pub fn plan_group_modification_at(
    current: &GroupSpec,
    members: &[MemberFacts],
    req: &ModifyGroupRequest,
    now: crate::Timestamp,
) -> Result<GroupModification, Fault> {
    refuse_not_yet(req)?;
    if let Some(change) = plan_cluster_mode_change(current, members, req)? {
        return Ok(change);
    }
    if current.cluster_mode == ClusterMode::Compatible {
        refuse_while_compatible(req)?;
    }
    if current.cluster_mode.enabled() {
        refuse_in_cluster_mode(req)?;
    }
    if let Some(ng) = &req.node_group_id {
        if !members.iter().any(|m| m.shard_id == *ng) {
            return Err(Fault::NodeGroupNotFound(format!(
                "NodeGroup {ng} not found in replication group {}.",
                current.id
            )));
        }
    }
    check_engine(
        req.engine.as_deref(),
        req.engine_version.as_deref(),
        &current.engine_version,
    )?;
    let mut spec = current.clone();
    let mut needs_reconcile = false;
    let mut promotion = None;
    crate::log_delivery::require_apply_immediately(&req.log_deliveries, req.apply_immediately)?;
    spec.log_delivery = crate::log_delivery::apply(&current.log_delivery, &req.log_deliveries)?;

    if let Some(d) = &req.description {
        if d.chars().count() > DESCRIPTION_LEN_MAX {
            return Err(Fault::value(format!(
                "The parameter ReplicationGroupDescription must be at most {DESCRIPTION_LEN_MAX} characters long."
            )));
        }
        spec.description = d.clone();
    }
    let automatic_failover = req
        .automatic_failover_enabled
        .unwrap_or(current.automatic_failover);
    // Turning automatic failover off turns Multi-AZ off with it unless the request keeps it on.
    let multi_az = match req.multi_az_enabled {
        Some(m) => m,
        None => current.multi_az && automatic_failover,
    };
    if automatic_failover && members.len() < 2 && !current.cluster_mode.enabled() {
        return Err(Fault::combination(
            "When using automatic failover, there must be at least 2 cache clusters in the replication group.",
        ));
    }
    if multi_az && !automatic_failover {
        return Err(Fault::combination(
            "Multi-AZ can only be enabled when automatic failover is enabled (AutomaticFailoverEnabled=true).",
        ));
    }
    let automatic_failover_enabled_now = automatic_failover && !current.automatic_failover;
    if automatic_failover != current.automatic_failover || multi_az != current.multi_az {
        spec.automatic_failover = automatic_failover;
        spec.multi_az = multi_az;
        needs_reconcile = true;
    }

    let member = |id: &str| -> Result<&MemberFacts, Fault> {
        let id = id.to_ascii_lowercase();
        members.iter().find(|m| m.id == id).ok_or_else(|| {
            Fault::CacheClusterNotFound(format!(
                "Cache cluster {id} is not a member of replication group {}.",
                current.id
            ))
        })
    };
    if let Some(p) = &req.primary_cluster_id {
        ids::cache_cluster_id(p)?;
        let target = member(p)?;
        if automatic_failover {
            return Err(Fault::combination(
                "PrimaryClusterId cannot be specified while automatic failover is enabled. Disable automatic failover (AutomaticFailoverEnabled=false) to promote a replica.",
            ));
        }
        if !target.available {
            return Err(Fault::InvalidCacheClusterState(format!(
                "Cache cluster {} is not in available state.",
                target.id
            )));
        }
        promotion = Some(target.clone());
        needs_reconcile = true;
    }
    if let Some(s) = &req.snapshotting_cluster_id {
        spec.snapshotting_cluster = Some(member(s)?.id.clone());
    }
    if let Some(n) = req.snapshot_retention_limit {
        spec.snapshot_retention_limit = group::snapshot_retention(Some(n))?;
    }
    if let Some(w) = &req.snapshot_window {
        spec.snapshot_window = group::snapshot_window(w)?;
    }
    if let Some(w) = &req.preferred_maintenance_window {
        spec.maintenance_window = group::maintenance_window(w)?;
    }
    if let Some(a) = req.auto_minor_version_upgrade {
        spec.auto_minor_version_upgrade = a;
    }
    let mut security_groups_changed = false;
    if let Some(sgs) = &req.security_group_ids {
        let sgs = group::security_group_ids(sgs)?;
        if sgs != current.security_group_ids {
            spec.security_group_ids = sgs;
            security_groups_changed = true;
            needs_reconcile = true;
        }
    }
    let mut parameter_group_changed = false;
    if let Some(pg) = &req.cache_parameter_group_name {
        let pg = pg.to_ascii_lowercase();
        if pg != current.parameter_group {
            spec.parameter_group = pg;
            parameter_group_changed = true;
            needs_reconcile = true;
        }
    }
    // Encryption in transit changes on the endpoints at once (the router's next table), with
    // no node work: clients migrate while the group stays available.
    spec.transit_encryption = crate::transit::on_modify(
        current.transit_encryption,
        req.transit_encryption_enabled,
        req.transit_encryption_mode.as_deref(),
    )?;
    let apply_at = if req.apply_immediately == Some(true) {
        ApplyAt::Now
    } else {
        ApplyAt::MaintenanceWindow
    };
    let node_type = match &req.cache_node_type {
        Some(t) => check_node_type(t, &current.node_type)?.map(|t| (t, apply_at)),
        None => None,
    };
    if let Some((t, at)) = &node_type {
        spec.node_type = t.clone();
        if *at == ApplyAt::Now {
            needs_reconcile = true;
        }
    }
    let mut auth_changed = false;
    if req.auth_token.is_some() || req.auth_token_update_strategy.is_some() {
        let moving_to_user_groups = !req.user_group_ids_to_add.is_empty();
        spec.auth = current.auth.modified(
            req.auth_token.as_deref(),
            req.auth_token_update_strategy.as_deref(),
            current.transit_encryption.is_some(),
            moving_to_user_groups,
            now,
        )?;
        auth_changed = true;
        needs_reconcile = true;
    }
    let mut user_groups_changed = false;
    if !req.user_group_ids_to_add.is_empty() || !req.user_group_ids_to_remove.is_empty() {
        let ids = crate::user::modified_user_groups(
            &current.user_group_ids,
            &req.user_group_ids_to_add,
            &req.user_group_ids_to_remove,
            current.transit_encryption.is_some(),
        )?;
        if spec.auth.enabled() && !ids.is_empty() {
            return Err(Fault::combination(
                "A replication group with an AUTH token cannot use user groups; remove the token with AuthTokenUpdateStrategy DELETE in the same request.",
            ));
        }
        if ids != current.user_group_ids {
            spec.user_group_ids = ids;
            user_groups_changed = true;
            needs_reconcile = true;
        }
    }
    if spec == *current && promotion.is_none() {
        return Err(Fault::combination("No modifications were requested"));
    }
    crate::transit::check_access_control(
        spec.transit_encryption,
        spec.auth.enabled() || !spec.user_group_ids.is_empty(),
    )?;
    if needs_reconcile {
        spec.generation += 1;
    }
    if auth_changed {
        spec.auth.generation = spec.generation;
    }
    Ok(GroupModification {
        auth_changed,
        user_groups_changed,
        spec,
        needs_reconcile,
        node_type,
        security_groups_changed,
        parameter_group_changed,
        automatic_failover_enabled_now,
        promotion,
        cluster_mode_changed: false,
    })
}

/// `ModifyCacheCluster` as decoded from the wire.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModifyClusterRequest {
    /// `CacheClusterId`
    pub cache_cluster_id: Option<String>,
    /// `NumCacheNodes`
    pub num_cache_nodes: Option<i64>,
    /// `CacheNodeIdsToRemove`
    pub cache_node_ids_to_remove: Vec<String>,
    /// `AZMode`
    pub az_mode: Option<String>,
    /// `NewAvailabilityZones`
    pub new_availability_zones: Vec<String>,
    /// `CacheSecurityGroupNames`
    pub cache_security_group_names: Vec<String>,
    /// `SecurityGroupIds`, when sent.
    pub security_group_ids: Option<Vec<String>>,
    /// `PreferredMaintenanceWindow`
    pub preferred_maintenance_window: Option<String>,
    /// `NotificationTopicArn`
    pub notification_topic_arn: Option<String>,
    /// `CacheParameterGroupName`
    pub cache_parameter_group_name: Option<String>,
    /// `NotificationTopicStatus`
    pub notification_topic_status: Option<String>,
    /// `ApplyImmediately`
    pub apply_immediately: Option<bool>,
    /// `Engine`
    pub engine: Option<String>,
    /// `EngineVersion`
    pub engine_version: Option<String>,
    /// `AutoMinorVersionUpgrade`
    pub auto_minor_version_upgrade: Option<bool>,
    /// `SnapshotRetentionLimit`
    pub snapshot_retention_limit: Option<i64>,
    /// `SnapshotWindow`
    pub snapshot_window: Option<String>,
    /// `CacheNodeType`
    pub cache_node_type: Option<String>,
    /// `AuthToken`
    pub auth_token: Option<String>,
    /// `AuthTokenUpdateStrategy`
    pub auth_token_update_strategy: Option<String>,
    /// `LogDeliveryConfigurations`
    pub log_deliveries: Vec<crate::log_delivery::LogDeliveryRequest>,
    /// `IpDiscovery`
    pub ip_discovery: Option<String>,
}

/// What a valid `ModifyCacheCluster` changes.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterModification {
    /// The node's spec afterwards.
    pub spec: NodeSpec,
    /// The control plane has work to do (the cluster reads `modifying` until it is done).
    pub needs_reconcile: bool,
    /// The security groups changed (AWS's event).
    pub security_groups_changed: bool,
}

/// Applies AWS's rules to a `ModifyCacheCluster` of `current`.
///
/// A member of a replication group takes only what is its own (maintenance window, minor
/// version upgrades); what the whole group shares is changed with `ModifyReplicationGroup`.
///
/// # Errors
/// The [`Fault`] AWS answers for the first broken rule; `InvalidParameterCombination`
/// "No modifications were requested" when nothing would change.
pub fn plan_cluster_modification(
    current: &NodeSpec,
    req: &ModifyClusterRequest,
) -> Result<ClusterModification, Fault> {
    refuse_shared(
        req.auth_token.is_some() || req.auth_token_update_strategy.is_some(),
        req.ip_discovery.as_deref(),
        &req.cache_security_group_names,
    )?;
    match req.num_cache_nodes {
        None | Some(1) => {}
        Some(n) => {
            return Err(Fault::value(format!(
            "Invalid value {n} for NumCacheNodes. A Redis cache cluster has exactly 1 cache node."
        )))
        }
    }
    if !req.cache_node_ids_to_remove.is_empty() {
        return Err(Fault::value(
            "CacheNodeIdsToRemove is only valid for Memcached cache clusters.",
        ));
    }
    if let Some(mode) = req.az_mode.as_deref() {
        if mode != "single-az" {
            return Err(Fault::value(
                "AZMode cross-az is only valid for Memcached cache clusters.",
            ));
        }
    }
    if !req.new_availability_zones.is_empty() {
        return Err(Fault::value(
            "NewAvailabilityZones is only valid for Memcached cache clusters.",
        ));
    }
    check_engine(
        req.engine.as_deref(),
        req.engine_version.as_deref(),
        &current.engine_version,
    )?;
    if let Some(group_id) = &current.group_id {
        let shared = req.security_group_ids.is_some()
            || !req.log_deliveries.is_empty()
            || req.cache_parameter_group_name.is_some()
            || req.cache_node_type.is_some()
            || req.snapshot_retention_limit.is_some()
            || req.snapshot_window.is_some();
        if shared {
            return Err(Fault::InvalidCacheClusterState(format!(
                "Cache cluster {} is a member of replication group {group_id}; modify the replication group instead.",
                current.id
            )));
        }
    }
    let mut spec = current.clone();
    let mut needs_reconcile = false;
    crate::log_delivery::require_apply_immediately(&req.log_deliveries, req.apply_immediately)?;
    spec.log_delivery = crate::log_delivery::apply(&current.log_delivery, &req.log_deliveries)?;
    if let Some(n) = req.snapshot_retention_limit {
        spec.snapshot_retention_limit = group::snapshot_retention(Some(n))?;
    }
    if let Some(w) = &req.snapshot_window {
        spec.snapshot_window = group::snapshot_window(w)?;
    }
    if let Some(w) = &req.preferred_maintenance_window {
        spec.maintenance_window = group::maintenance_window(w)?;
    }
    if let Some(a) = req.auto_minor_version_upgrade {
        spec.auto_minor_version_upgrade = a;
    }
    let mut security_groups_changed = false;
    if let Some(sgs) = &req.security_group_ids {
        let sgs = group::security_group_ids(sgs)?;
        if sgs != current.security_group_ids {
            spec.security_group_ids = sgs;
            security_groups_changed = true;
            needs_reconcile = true;
        }
    }
    if let Some(pg) = &req.cache_parameter_group_name {
        let pg = pg.to_ascii_lowercase();
        if pg != current.parameter_group {
            spec.parameter_group = pg;
            needs_reconcile = true;
        }
    }
    if let Some(t) = &req.cache_node_type {
        if let Some(t) = check_node_type(t, &current.node_type)? {
            spec.node_type = t;
            spec.node_type_apply = if req.apply_immediately == Some(true) {
                ApplyAt::Now
            } else {
                ApplyAt::MaintenanceWindow
            };
            needs_reconcile |= spec.node_type_apply == ApplyAt::Now;
        }
    }
    if spec == *current {
        return Err(Fault::combination("No modifications were requested"));
    }
    crate::transit::check_access_control(spec.transit_encryption, spec.auth.enabled())?;
    if needs_reconcile {
        spec.generation += 1;
    }
    Ok(ClusterModification {
        spec,
        needs_reconcile,
        security_groups_changed,
    })
}

/// Whether `now` falls inside `window` (`ddd:hh24:mi-ddd:hh24:mi`, UTC, as stored lower-case);
/// a window may wrap around the end of the week. An unreadable window is never open.
pub fn in_maintenance_window(window: &str, now: Timestamp) -> bool {
    use chrono::{Datelike, Timelike};
    let Some((start, end)) = group::maintenance_window_minutes(window) else {
        return false;
    };
    let week = group::MINUTES_PER_WEEK;
    let current = now.weekday().num_days_from_sunday() * 24 * 60 + now.hour() * 60 + now.minute();
    let length = (end + week - start) % week;
    (current + week - start) % week < length
}

/// The node types a cluster of type `current` can scale to: larger memory (up) and smaller
/// memory (down), each in the table's order (`ListAllowedNodeTypeModifications`).
///
/// # Errors
/// [`Fault::InvalidParameterValue`] for an unknown `current`.
pub fn allowed_node_type_modifications(
    current: &str,
) -> Result<(Vec<&'static str>, Vec<&'static str>), Fault> {
    let this = node_type::lookup(current)?;
    let up = node_type::NODE_TYPES
        .iter()
        .filter(|t| t.memory_bytes > this.memory_bytes)
        .map(|t| t.name)
        .collect();
    let down = node_type::NODE_TYPES
        .iter()
        .filter(|t| t.memory_bytes < this.memory_bytes)
        .map(|t| t.name)
        .collect();
    Ok((up, down))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::{plan_create, CreateContext, CreateGroupRequest};

    fn spec(count: i64, af: bool) -> GroupSpec {
        let req = CreateGroupRequest {
            replication_group_id: Some("rg".into()),
            description: Some("d".into()),
            num_cache_clusters: Some(count),
            automatic_failover_enabled: Some(af),
            ..Default::default()
        };
        let ctx = CreateContext {
            region: "us-east-1".into(),
            engine_version_running: "7.0.15".into(),
            now: chrono::Utc::now(),
            parameter_group_cluster_enabled: None,
        };
        plan_create(&req, &ctx).unwrap().spec
    }

    fn members(n: usize) -> Vec<MemberFacts> {
        (1..=n)
            .map(|i| MemberFacts {
                id: format!("rg-00{i}"),
                shard_id: crate::ids::shard_id(1),
                available: true,
            })
            .collect()
    }

    #[test]
    fn nothing_to_change_is_refused() {
        let s = spec(2, true);
        let e = plan_group_modification(&s, &members(2), &ModifyGroupRequest::default());
        assert_eq!(
            e.unwrap_err(),
            Fault::combination("No modifications were requested")
        );
        let same = ModifyGroupRequest {
            description: Some(s.description.clone()),
            ..Default::default()
        };
        assert!(plan_group_modification(&s, &members(2), &same).is_err());
    }

    #[test]
    fn description_is_a_spec_change_only() {
        let s = spec(2, true);
        let m = plan_group_modification(
            &s,
            &members(2),
            &ModifyGroupRequest {
                description: Some("new".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(m.spec.description, "new");
        assert!(!m.needs_reconcile);
        assert_eq!(m.spec.generation, s.generation);
    }

    #[test]
    fn automatic_failover_and_multi_az_rules() {
        let one = spec(1, false);
        let on = ModifyGroupRequest {
            automatic_failover_enabled: Some(true),
            ..Default::default()
        };
        assert!(matches!(
            plan_group_modification(&one, &members(1), &on),
            Err(Fault::InvalidParameterCombination(_))
        ));
        let two = spec(2, false);
        let m = plan_group_modification(&two, &members(2), &on).unwrap();
        assert!(m.spec.automatic_failover && m.automatic_failover_enabled_now);
        assert_eq!(m.spec.generation, two.generation + 1);
        let maz = ModifyGroupRequest {
            multi_az_enabled: Some(true),
            ..Default::default()
        };
        assert!(plan_group_modification(&two, &members(2), &maz).is_err());
        // Turning failover off also turns Multi-AZ off.
        let mut both = spec(2, true);
        both.multi_az = true;
        let off = ModifyGroupRequest {
            automatic_failover_enabled: Some(false),
            ..Default::default()
        };
        let m = plan_group_modification(&both, &members(2), &off).unwrap();
        assert!(!m.spec.automatic_failover && !m.spec.multi_az);
    }

    #[test]
    fn promotion_needs_failover_off_and_a_member() {
        let promote = |id: &str| ModifyGroupRequest {
            primary_cluster_id: Some(id.into()),
            ..Default::default()
        };
        let af = spec(2, true);
        assert!(matches!(
            plan_group_modification(&af, &members(2), &promote("rg-002")),
            Err(Fault::InvalidParameterCombination(_))
        ));
        let plain = spec(2, false);
        assert!(matches!(
            plan_group_modification(&plain, &members(2), &promote("other")),
            Err(Fault::CacheClusterNotFound(_))
        ));
        let m = plan_group_modification(&plain, &members(2), &promote("RG-002")).unwrap();
        assert_eq!(m.promotion.map(|p| p.id).as_deref(), Some("rg-002"));
        assert!(m.needs_reconcile);
        // In the same call as turning failover off.
        let both = ModifyGroupRequest {
            automatic_failover_enabled: Some(false),
            primary_cluster_id: Some("rg-002".into()),
            ..Default::default()
        };
        assert!(plan_group_modification(&af, &members(2), &both).is_ok());
    }

    #[test]
    fn node_type_waits_for_the_window_unless_applied_immediately() {
        let s = spec(2, false);
        let later = ModifyGroupRequest {
            cache_node_type: Some("cache.m6g.large".into()),
            ..Default::default()
        };
        let m = plan_group_modification(&s, &members(2), &later).unwrap();
        assert_eq!(
            m.node_type,
            Some(("cache.m6g.large".into(), ApplyAt::MaintenanceWindow))
        );
        assert!(!m.needs_reconcile);
        let now = ModifyGroupRequest {
            apply_immediately: Some(true),
            ..later.clone()
        };
        let m = plan_group_modification(&s, &members(2), &now).unwrap();
        assert!(m.needs_reconcile);
        let bad = ModifyGroupRequest {
            cache_node_type: Some("cache.x9.huge".into()),
            ..Default::default()
        };
        assert!(matches!(
            plan_group_modification(&s, &members(2), &bad),
            Err(Fault::InvalidParameterValue(_))
        ));
    }

    #[test]
    fn later_features_are_refused_not_faked() {
        let s = spec(2, false);
        // AUTH tokens and user groups are supported, but need encryption in transit.
        let token = ModifyGroupRequest {
            auth_token: Some("x".repeat(20)),
            ..Default::default()
        };
        assert!(matches!(
            plan_group_modification(&s, &members(2), &token),
            Err(Fault::InvalidParameterValue(_))
        ));
        let user_groups = ModifyGroupRequest {
            user_group_ids_to_add: vec!["g".into()],
            ..Default::default()
        };
        assert!(matches!(
            plan_group_modification(&s, &members(2), &user_groups),
            Err(Fault::InvalidParameterCombination(_))
        ));
        let engine = ModifyGroupRequest {
            engine_version: Some("6.2".into()),
            ..Default::default()
        };
        assert!(matches!(
            plan_group_modification(&s, &members(2), &engine),
            Err(Fault::InvalidParameterValue(_))
        ));
    }

    #[test]
    fn maintenance_windows_open_and_wrap() {
        use chrono::TimeZone;
        // 2026-11-22 is a Sunday.
        let sun_2330 = chrono::Utc
            .with_ymd_and_hms(2026, 11, 22, 23, 30, 0)
            .unwrap();
        let mon_0200 = chrono::Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap();
        assert!(in_maintenance_window("sun:23:00-mon:01:30", sun_2330));
        assert!(!in_maintenance_window("sun:23:00-mon:01:30", mon_0200));
        let sat_2330 = chrono::Utc
            .with_ymd_and_hms(2026, 11, 28, 23, 30, 0)
            .unwrap();
        assert!(in_maintenance_window("sat:23:00-sun:01:00", sat_2330));
        assert!(!in_maintenance_window("garbage", sat_2330));
    }

    #[test]
    fn scale_lists_split_by_memory() {
        let (up, down) = allowed_node_type_modifications("cache.t3.small").unwrap();
        assert!(up.contains(&"cache.r6g.large") && !up.contains(&"cache.t3.micro"));
        assert!(down.contains(&"cache.t3.micro"));
        assert!(allowed_node_type_modifications("nope").is_err());
    }
}
