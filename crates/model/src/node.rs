//! Cache clusters — in Redis, one cluster is one node: spec, intent, observed facts, the status
//! derived from them, and the rules of `CreateCacheCluster`.
//!
//! A node either stands alone or is a member of a replication group (`group_id`). Inside
//! Ferrocache we say *node*; "cache cluster" appears only where the API does.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::group::{self, GroupSpec};
use crate::{engine, ids, node_type, tag::Tag, zone, Fault, Timestamp};

/// What the API asked for. Written only by API calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeSpec {
    /// `CacheClusterId`, lower-case.
    pub id: String,
    /// Region from the request's SigV4 scope.
    pub region: String,
    /// Replication group this node belongs to, if any.
    pub group_id: Option<String>,
    /// `NodeGroupId` of its shard in that group (`None` for a standalone node).
    #[serde(default)]
    pub shard_id: Option<String>,
    /// `CacheNodeType`.
    pub node_type: String,
    /// `Engine`.
    pub engine: String,
    /// Full engine version.
    pub engine_version: String,
    /// Port of the node's endpoint.
    pub port: u16,
    /// `CacheParameterGroupName`.
    pub parameter_group: String,
    /// `CacheSubnetGroupName`.
    pub subnet_group: String,
    /// `SecurityGroupIds`.
    pub security_group_ids: Vec<String>,
    /// `PreferredAvailabilityZone`, if the request named one.
    pub preferred_zone: Option<String>,
    /// `SnapshotRetentionLimit`.
    pub snapshot_retention_limit: u32,
    /// `SnapshotWindow`.
    pub snapshot_window: String,
    /// `PreferredMaintenanceWindow`.
    pub maintenance_window: String,
    /// `AutoMinorVersionUpgrade`.
    pub auto_minor_version_upgrade: bool,
    /// Tags.
    pub tags: Vec<Tag>,
    /// When the node was requested.
    pub created_at: Timestamp,
    /// Bumped on every API change the control plane must carry out.
    pub generation: u64,
    /// Number of reboots requested so far (`RebootCacheCluster`); the node reads
    /// `rebooting cluster nodes` until `observed.reboots` catches up.
    pub reboots: u64,
    /// Set when the node is to be deleted.
    pub deletion: Option<NodeDeletion>,
    /// When a `node_type` different from the one the node runs takes effect.
    #[serde(default)]
    pub node_type_apply: crate::modify::ApplyAt,
    /// Snapshot whose RDB is placed in the node's directory before its first start
    /// (`SnapshotName` of the create that made it); `None` for an empty start.
    #[serde(default)]
    pub restore_from: Option<String>,
    /// Encryption in transit on the node's endpoint (`None`: off); a member's copy of its
    /// group's setting.
    #[serde(default)]
    pub transit_encryption: Option<crate::transit::TransitEncryptionMode>,
    /// AUTH tokens of the node's `default` user; a member's copy of its group's.
    #[serde(default)]
    pub auth: crate::auth::AuthTokens,
    /// `LogDeliveryConfigurations` (its group's copy for a member).
    #[serde(default)]
    pub log_delivery: Vec<crate::log_delivery::LogDelivery>,
    /// Encryption at rest of the node's data files (`None`: off); a member's copy of its
    /// group's setting (standalone cache clusters have none, as on AWS).
    #[serde(default)]
    pub at_rest_encryption: Option<crate::at_rest::AtRestEncryption>,
    /// The node runs `cluster-enabled yes`: a member's copy of its group's `ClusterMode`
    /// (standalone cache clusters never do).
    #[serde(default)]
    pub cluster_mode: crate::group::ClusterMode,
}

impl NodeSpec {
    /// Whether the node can run on any host of a shared store: one that needs the leading
    /// host's own keys (encryption at rest) or runs in cluster mode (its bus is reached
    /// through the leading host's router) stays where the control plane runs. (A restored
    /// node spreads: the snapshot's file is sent to its host.)
    pub fn spreads_across_hosts(&self) -> bool {
        !self.cluster_mode.runs_cluster() && self.at_rest_encryption.is_none()
    }
}

/// A requested deletion of one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeDeletion {
    /// The node goes because its whole group goes (no per-node events then but
    /// "Cache cluster deleted").
    pub with_group: bool,
    /// `FinalSnapshotIdentifier` of the delete: the node is kept (and kept running) until that
    /// snapshot is no longer `creating`, so its last data is saved before the node goes.
    #[serde(default)]
    pub final_snapshot: Option<String>,
}

/// Placement chosen by the control plane. Written only by the control plane.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeIntent {
    /// Availability zone.
    pub zone: String,
    /// Address of the node's endpoint (served by the router on `spec.port`).
    pub endpoint: Ipv4Addr,
    /// Private address the redis-server process binds (on `spec.port`); only the router and
    /// replication reach it. For a node on a named host ([`NodeIntent::host`]), that host's
    /// address.
    pub private: Ipv4Addr,
    /// The host the node runs on when several hosts share the store (`None`: the one host of
    /// an embedded store, or a node placed before hosts existed, which runs where the control
    /// plane runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<HostPlacement>,
}

/// Which host a node runs on, and how others reach it there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostPlacement {
    /// The host's name (`--host-name`).
    pub name: String,
    /// The port the node's redis-server listens on at [`NodeIntent::private`], the host's
    /// address, which all its nodes share. `None` on a host advertising a loopback address
    /// (hosts sharing one machine): the node then has a private address of its own from
    /// `--endpoint-cidr`, on the group's port, as on a single host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

impl NodeIntent {
    /// The TCP address the node's redis-server listens on: its private address on the group's
    /// `port`, or on its own port on a named host.
    pub fn private_socket(&self, port: u16) -> std::net::SocketAddr {
        let port = self.host.as_ref().and_then(|h| h.port).unwrap_or(port);
        std::net::SocketAddr::V4(std::net::SocketAddrV4::new(self.private, port))
    }

    /// The name of the host the node runs on, when it is placed on a named one.
    pub fn host_name(&self) -> Option<&str> {
        self.host.as_ref().map(|h| h.name.as_str())
    }

    /// Whether the node runs on the host named `host` (`None`: a ferrocache with no host name,
    /// alone on its store): a node placed on no named host runs on whichever host leads.
    pub fn runs_on(&self, host: Option<&str>) -> bool {
        self.host_name().is_none() || self.host_name() == host
    }
}

/// Replication role of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    /// Takes writes.
    Primary,
    /// Follows a primary.
    Replica,
}

impl Role {
    /// The wire spelling of `CurrentRole`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Primary => "primary",
            Role::Replica => "replica",
        }
    }
}

/// Facts the control plane last confirmed about the node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeObserved {
    /// The node reached `available` once.
    pub created: bool,
    /// Last spec generation carried out.
    pub generation: u64,
    /// Reboots carried out.
    pub reboots: u64,
    /// Role the engine reports.
    pub role: Option<Role>,
    /// For replicas: `master_link_status:up`.
    pub link_up: bool,
    /// Process id of the redis-server.
    pub pid: Option<u32>,
    /// The process answered the last probe.
    pub healthy: bool,
    /// When the node was first available (`CacheNodeCreateTime`).
    pub node_created_at: Option<Timestamp>,
    /// Creation failed, with the reason.
    pub failed: Option<String>,
    /// The node's process died and was started again; it is not back in its role yet.
    #[serde(default)]
    pub recovering: bool,
    /// The parameter-group values the process runs with (`None` until first confirmed).
    #[serde(default)]
    pub parameters: Option<crate::parameter::AppliedParameters>,
    /// The node type the process runs with (`None`: the spec's type at creation).
    #[serde(default)]
    pub node_type: Option<String>,
    /// A node type change refused on this node (a scale-down below the memory in use); not
    /// retried until the spec asks for another type.
    #[serde(default)]
    pub node_type_refused: Option<String>,
    /// Failed starts in a row since the node last ran; past a limit the node is replaced.
    #[serde(default)]
    pub start_failures: u32,
    /// Since when the node has been unhealthy (`None` while healthy).
    #[serde(default)]
    pub down_since: Option<Timestamp>,
    /// The snapshot's RDB was placed in the node's directory (and the restore's first event
    /// recorded); set once, so a retried first start copies again but says so only once.
    #[serde(default)]
    pub seeded: bool,
    /// `failed` is a restore failure: the snapshot's RDB did not match its manifest or the
    /// engine refused to load it (status `restore-failed`).
    #[serde(default)]
    pub restore_failed: bool,
    /// The shard epoch under which `role` was last confirmed: a shard counts its winner as
    /// promoted, and routes to a primary, only at the current epoch.
    #[serde(default)]
    pub epoch: u64,
    /// A replica's stream check in progress: the shard epoch and the primary's replication
    /// offset after a marker message; the replica streams once it reaches that offset.
    #[serde(default)]
    pub stream_check: Option<(u64, i64)>,
    /// A cluster-mode node's id in the cluster (`CLUSTER MYID`), as last seen: its peers
    /// replicate from it by this id.
    #[serde(default)]
    pub cluster_node_id: Option<String>,
    /// The running process was started with `cluster-enabled yes`. A node whose spec asks for
    /// cluster mode while this is false is moving into it (`ClusterMode` `compatible`), and
    /// its data on disk is from before: a replica's copy is set aside, never loaded into the
    /// cluster (it would claim the slots of its keys).
    #[serde(default)]
    pub cluster_engine: bool,
    /// The last run found the node in its ordered role: a replica streaming from its primary,
    /// and in cluster mode a cluster whose view is whole (state `ok`, every slot served).
    #[serde(default)]
    pub in_role: bool,
    /// Memory the node's data used (`used_memory`), as last recorded: refreshed when it moved
    /// by more than [`USED_MEMORY_RECORD_STEP`] (or a tenth), so an idle node writes nothing.
    #[serde(default)]
    pub used_memory_bytes: u64,
    /// The engine's own TLS, as the running process serves it (encryption in transit): the
    /// kernel data path connects TLS clients straight to this port.
    #[serde(default)]
    pub tls: Option<ObservedTls>,
    /// A host where the node's directory was left when the node moved off it with its data
    /// (a drain): the next run removes it there.
    #[serde(default)]
    pub left_on: Option<String>,
}

/// A node's own TLS port and the certificate it serves there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedTls {
    /// `tls-port`.
    pub port: u16,
    /// The IP addresses the certificate names (the endpoints that lead to the node).
    pub ips: Vec<Ipv4Addr>,
    /// When the certificate stops being valid (seconds since the epoch).
    pub not_after: i64,
    /// Its replication goes over TLS too (`tls-replication`): nodes on different hosts.
    #[serde(default)]
    pub replication: bool,
}

/// The engine's TLS port of a node whose client port is `port`: on the node's own private
/// address, so only its own ports can collide; the cluster bus takes `port + 10000`.
pub fn engine_tls_port(port: u16) -> u16 {
    if port <= u16::MAX - 20_000 {
        port + 20_000
    } else {
        port - 20_000
    }
}

/// The smallest change of `used_memory` worth recording (see
/// [`NodeObserved::used_memory_bytes`]).
pub const USED_MEMORY_RECORD_STEP: u64 = 1 << 20;

impl NodeObserved {
    /// Records `used` as the node's memory in use if it moved enough to matter.
    pub fn record_used_memory(&mut self, used: u64) {
        let step = USED_MEMORY_RECORD_STEP.max(self.used_memory_bytes / 10);
        if used.abs_diff(self.used_memory_bytes) >= step {
            self.used_memory_bytes = used;
        }
    }
}

/// `CacheCluster.CacheClusterStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClusterStatus {
    /// `creating`
    Creating,
    /// `available`
    Available,
    /// `modifying`
    Modifying,
    /// `deleting`
    Deleting,
    /// `rebooting cluster nodes`
    RebootingClusterNodes,
    /// `restore-failed`
    RestoreFailed,
    /// `snapshotting`
    Snapshotting,
    /// `incompatible-network`
    IncompatibleNetwork,
    /// `create-failed` is not an AWS cluster status; a failed node start is reported as
    /// `incompatible-network`'s sibling the waiters know to fail on.
    Failed,
}

impl ClusterStatus {
    /// The wire spelling (the model's; the CLI sample output's `rebooting cache cluster nodes`
    /// is not what Terraform and the waiters match).
    pub fn as_str(self) -> &'static str {
        match self {
            ClusterStatus::Creating => "creating",
            ClusterStatus::Available => "available",
            ClusterStatus::Modifying => "modifying",
            ClusterStatus::Deleting => "deleting",
            ClusterStatus::RebootingClusterNodes => "rebooting cluster nodes",
            ClusterStatus::RestoreFailed => "restore-failed",
            ClusterStatus::Snapshotting => "snapshotting",
            ClusterStatus::IncompatibleNetwork | ClusterStatus::Failed => "incompatible-network",
        }
    }
}

/// `CacheNode.CacheNodeStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheNodeStatus {
    /// `creating`
    Creating,
    /// `available`
    Available,
    /// `rebooting`
    Rebooting,
    /// `deleting`
    Deleting,
}

impl CacheNodeStatus {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheNodeStatus::Creating => "creating",
            CacheNodeStatus::Available => "available",
            CacheNodeStatus::Rebooting => "rebooting",
            CacheNodeStatus::Deleting => "deleting",
        }
    }
}

/// The status a client sees, derived from spec and observed facts.
pub fn status(spec: &NodeSpec, observed: Option<&NodeObserved>) -> ClusterStatus {
    if spec.deletion.is_some() {
        return ClusterStatus::Deleting;
    }
    match observed {
        Some(o) if o.failed.is_some() && o.restore_failed => ClusterStatus::RestoreFailed,
        Some(o) if o.failed.is_some() => ClusterStatus::Failed,
        Some(o) if !o.created => ClusterStatus::Creating,
        Some(o) if o.reboots < spec.reboots => ClusterStatus::RebootingClusterNodes,
        Some(o) if o.generation < spec.generation => ClusterStatus::Modifying,
        Some(_) => ClusterStatus::Available,
        None => ClusterStatus::Creating,
    }
}

/// The status of the node's one cache node.
pub fn cache_node_status(spec: &NodeSpec, observed: Option<&NodeObserved>) -> CacheNodeStatus {
    match status(spec, observed) {
        ClusterStatus::Deleting => CacheNodeStatus::Deleting,
        ClusterStatus::RebootingClusterNodes => CacheNodeStatus::Rebooting,
        ClusterStatus::Creating | ClusterStatus::Failed | ClusterStatus::RestoreFailed => {
            CacheNodeStatus::Creating
        }
        _ => CacheNodeStatus::Available,
    }
}

/// `CreateCacheCluster` as decoded from the wire.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CreateNodeRequest {
    /// `CacheClusterId`
    pub cache_cluster_id: Option<String>,
    /// `ReplicationGroupId`: add this node to a group as a replica.
    pub replication_group_id: Option<String>,
    /// `AZMode`
    pub az_mode: Option<String>,
    /// `PreferredAvailabilityZone`
    pub preferred_availability_zone: Option<String>,
    /// `PreferredAvailabilityZones`
    pub preferred_availability_zones: Vec<String>,
    /// `NumCacheNodes`
    pub num_cache_nodes: Option<i64>,
    /// `CacheNodeType`
    pub cache_node_type: Option<String>,
    /// `Engine`
    pub engine: Option<String>,
    /// `EngineVersion`
    pub engine_version: Option<String>,
    /// `CacheParameterGroupName`
    pub cache_parameter_group_name: Option<String>,
    /// `CacheSubnetGroupName`
    pub cache_subnet_group_name: Option<String>,
    /// `CacheSecurityGroupNames`
    pub cache_security_group_names: Vec<String>,
    /// `SecurityGroupIds`
    pub security_group_ids: Vec<String>,
    /// `Tags`
    pub tags: Vec<Tag>,
    /// `LogDeliveryConfigurations`
    pub log_deliveries: Vec<crate::log_delivery::LogDeliveryRequest>,
    /// `SnapshotArns`
    pub snapshot_arns: Vec<String>,
    /// `SnapshotName`
    pub snapshot_name: Option<String>,
    /// `PreferredMaintenanceWindow`
    pub preferred_maintenance_window: Option<String>,
    /// `Port`
    pub port: Option<i64>,
    /// `AutoMinorVersionUpgrade`
    pub auto_minor_version_upgrade: Option<bool>,
    /// `SnapshotRetentionLimit`
    pub snapshot_retention_limit: Option<i64>,
    /// `SnapshotWindow`
    pub snapshot_window: Option<String>,
    /// `AuthToken`
    pub auth_token: Option<String>,
    /// `TransitEncryptionEnabled`
    pub transit_encryption_enabled: Option<bool>,
    /// `NetworkType`, `IpDiscovery`, `TransitEncryptionMode`.
    pub network: group::NetworkRequest,
}

/// Validates a standalone `CreateCacheCluster` (no `ReplicationGroupId`) into the node's spec.
///
/// # Errors
/// The [`Fault`] AWS answers for the first broken rule.
pub fn plan_standalone(
    req: &CreateNodeRequest,
    ctx: &group::CreateContext,
) -> Result<NodeSpec, Fault> {
    let id = cluster_id(req)?;
    common_unsupported(req)?;
    let transit_encryption = crate::transit::on_create(
        req.transit_encryption_enabled,
        req.network.transit_encryption_mode.as_deref(),
    )?;
    let auth = crate::auth::AuthTokens::on_create(
        req.auth_token.as_deref(),
        transit_encryption.is_some(),
        ctx.now,
    )?;
    let restore_from = group::restore_source(req.snapshot_name.as_deref(), &req.snapshot_arns)?;
    group::one_rdb_object(&req.snapshot_arns, false)?;
    let engine = engine::engine(req.engine.as_deref())?;
    if let Some(n) = req.num_cache_nodes {
        if n != 1 {
            return Err(Fault::value(format!(
                "Invalid value {n} for NumCacheNodes. A Redis cache cluster has exactly 1 cache node."
            )));
        }
    }
    if let Some(mode) = req.az_mode.as_deref() {
        if mode != "single-az" {
            return Err(Fault::value(format!(
                "Invalid value {mode} for AZMode. Redis cache clusters are single-az."
            )));
        }
    }
    let node_type = req.cache_node_type.clone().ok_or_else(|| {
        Fault::value("The parameter CacheNodeType must be provided and must not be null.")
    })?;
    node_type::lookup(&node_type)?;
    let preferred_zone = req
        .preferred_availability_zone
        .clone()
        .or_else(|| req.preferred_availability_zones.first().cloned());
    if let Some(z) = &preferred_zone {
        zone::validate(&ctx.region, z)?;
    }
    let mut tags = Vec::new();
    crate::tag::merge(&mut tags, &req.tags)?;
    Ok(NodeSpec {
        id,
        region: ctx.region.clone(),
        group_id: None,
        shard_id: None,
        node_type,
        engine,
        engine_version: engine::engine_version(
            req.engine_version.as_deref(),
            &ctx.engine_version_running,
        )?,
        port: group::port(req.port)?,
        parameter_group: req
            .cache_parameter_group_name
            .clone()
            .unwrap_or_else(|| engine::DEFAULT_PARAMETER_GROUP.to_string())
            .to_ascii_lowercase(),
        subnet_group: req
            .cache_subnet_group_name
            .clone()
            .unwrap_or_else(|| "default".into())
            .to_ascii_lowercase(),
        security_group_ids: group::security_group_ids(&req.security_group_ids)?,
        preferred_zone,
        snapshot_retention_limit: group::snapshot_retention(req.snapshot_retention_limit)?,
        snapshot_window: match &req.snapshot_window {
            Some(w) => group::snapshot_window(w)?,
            None => group::SNAPSHOT_WINDOW_DEFAULT.into(),
        },
        maintenance_window: match &req.preferred_maintenance_window {
            Some(w) => group::maintenance_window(w)?,
            None => group::MAINTENANCE_WINDOW_DEFAULT.into(),
        },
        auto_minor_version_upgrade: req.auto_minor_version_upgrade.unwrap_or(true),
        tags,
        created_at: ctx.now,
        generation: 1,
        reboots: 0,
        deletion: None,
        node_type_apply: crate::modify::ApplyAt::Now,
        restore_from,
        log_delivery: crate::log_delivery::apply(&[], &req.log_deliveries)?,
        transit_encryption,
        auth,
        at_rest_encryption: None,
        cluster_mode: crate::group::ClusterMode::Disabled,
    })
}

/// Validates a `CreateCacheCluster` that adds a replica to `group`.
///
/// # Errors
/// [`Fault::InvalidParameterCombination`] when the request also sets cluster parameters (a
/// replica takes them from its group), other rule faults as AWS answers them.
pub fn plan_replica(
    req: &CreateNodeRequest,
    group: &GroupSpec,
    shard_id: &str,
    ctx: &group::CreateContext,
) -> Result<NodeSpec, Fault> {
    let id = cluster_id(req)?;
    common_unsupported(req)?;
    let extra = req
        .cache_node_type
        .as_deref()
        .is_some_and(|t| t != group.node_type)
        || req.cache_parameter_group_name.is_some()
        || req.cache_subnet_group_name.is_some()
        || !req.security_group_ids.is_empty()
        || req.port.is_some_and(|p| p != i64::from(group.port))
        || req.num_cache_nodes.is_some_and(|n| n != 1)
        || req.transit_encryption_enabled.is_some()
        || req.auth_token.is_some()
        // A replica's data comes from its primary, never from a snapshot.
        || req.snapshot_name.is_some()
        || !req.snapshot_arns.is_empty();
    if extra {
        return Err(Fault::combination(
            "Cannot specify additional cache cluster parameters when creating a replica cluster",
        ));
    }
    let preferred_zone = req.preferred_availability_zone.clone();
    if let Some(z) = &preferred_zone {
        zone::validate(&ctx.region, z)?;
    }
    let mut spec = member_spec(group, shard_id, id, preferred_zone, ctx.now);
    crate::tag::merge(&mut spec.tags, &req.tags)?;
    Ok(spec)
}

/// The request's `CacheClusterId`, validated and lower-cased.
fn cluster_id(req: &CreateNodeRequest) -> Result<String, Fault> {
    let id = req.cache_cluster_id.as_deref();
    ids::cache_cluster_id(id.ok_or_else(|| Fault::MissingParameter("CacheClusterId".into()))?)
}

fn common_unsupported(req: &CreateNodeRequest) -> Result<(), Fault> {
    req.network.check()?;
    if req.auth_token.is_some() && req.transit_encryption_enabled != Some(true) {
        return Err(Fault::value(
            "The AUTH token is only supported when encryption-in-transit is enabled",
        ));
    }
    if !req.cache_security_group_names.is_empty() {
        return Err(Fault::combination(
            "CacheSecurityGroupNames are for clusters outside a VPC; use SecurityGroupIds.",
        ));
    }
    Ok(())
}

/// The spec of a member node of shard `shard_id` of `group` (new members copy the group's
/// settings). A member is seeded from the group's snapshot only when the caller says so
/// (members created with the group); replicas added later sync from the primary.
pub fn member_spec(
    group: &GroupSpec,
    shard_id: &str,
    id: String,
    preferred_zone: Option<String>,
    now: Timestamp,
) -> NodeSpec {
    NodeSpec {
        id,
        region: group.region.clone(),
        group_id: Some(group.id.clone()),
        shard_id: Some(shard_id.to_string()),
        node_type: group.node_type.clone(),
        engine: group.engine.clone(),
        engine_version: group.engine_version.clone(),
        port: group.port,
        parameter_group: group.parameter_group.clone(),
        subnet_group: group.subnet_group.clone(),
        security_group_ids: group.security_group_ids.clone(),
        preferred_zone,
        snapshot_retention_limit: group.snapshot_retention_limit,
        snapshot_window: group.snapshot_window.clone(),
        maintenance_window: group.maintenance_window.clone(),
        auto_minor_version_upgrade: group.auto_minor_version_upgrade,
        tags: Vec::new(),
        created_at: now,
        generation: 1,
        reboots: 0,
        deletion: None,
        node_type_apply: crate::modify::ApplyAt::Now,
        restore_from: None,
        log_delivery: group.log_delivery.clone(),
        transit_encryption: group.transit_encryption,
        auth: group.auth.clone(),
        at_rest_encryption: group.at_rest_encryption.clone(),
        cluster_mode: group.cluster_mode,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> group::CreateContext {
        group::CreateContext {
            region: "us-east-1".into(),
            engine_version_running: "7.0.15".into(),
            now: chrono::Utc::now(),
            parameter_group_cluster_enabled: None,
        }
    }

    #[test]
    fn standalone_rules() {
        let ok = CreateNodeRequest {
            cache_cluster_id: Some("Solo".into()),
            cache_node_type: Some("cache.t3.micro".into()),
            engine: Some("redis".into()),
            num_cache_nodes: Some(1),
            ..Default::default()
        };
        let spec = plan_standalone(&ok, &ctx()).unwrap();
        assert_eq!(spec.id, "solo");
        let two = CreateNodeRequest {
            num_cache_nodes: Some(2),
            ..ok.clone()
        };
        assert!(plan_standalone(&two, &ctx()).is_err());
        let no_type = CreateNodeRequest {
            cache_node_type: None,
            ..ok
        };
        assert_eq!(
            plan_standalone(&no_type, &ctx()).unwrap_err().to_string(),
            "The parameter CacheNodeType must be provided and must not be null."
        );
    }

    // Goal: a standalone cluster takes SnapshotName (and refuses an ARN without an object path
    // with AWS's words); a replica never takes a snapshot; a restore failure reads
    // `restore-failed`. Method: plan and status for each case.
    #[test]
    fn restore_rules() {
        let base = CreateNodeRequest {
            cache_cluster_id: Some("solo".into()),
            cache_node_type: Some("cache.t3.micro".into()),
            snapshot_name: Some("Nightly".into()),
            ..Default::default()
        };
        let spec = plan_standalone(&base, &ctx()).unwrap();
        assert_eq!(spec.restore_from.as_deref(), Some("nightly"));
        let arn = CreateNodeRequest {
            snapshot_name: None,
            snapshot_arns: vec!["arn:aws:elasticache:us-east-1:123456789012:snapshot:x".into()],
            ..base.clone()
        };
        assert_eq!(
            plan_standalone(&arn, &ctx()).unwrap_err().to_string(),
            "Must specify an object path for the S3 ARN: arn:aws:elasticache:us-east-1:123456789012:snapshot:x"
        );
        let group = group::plan_create(
            &group::CreateGroupRequest {
                replication_group_id: Some("g".into()),
                description: Some("d".into()),
                ..Default::default()
            },
            &ctx(),
        )
        .unwrap()
        .spec;
        let replica = CreateNodeRequest {
            cache_node_type: None,
            replication_group_id: Some("g".into()),
            ..base
        };
        assert!(matches!(
            plan_replica(&replica, &group, &ids::shard_id(1), &ctx()),
            Err(Fault::InvalidParameterCombination(_))
        ));
        let failed = NodeObserved {
            failed: Some("digest".into()),
            restore_failed: true,
            ..Default::default()
        };
        assert_eq!(status(&spec, Some(&failed)).as_str(), "restore-failed");
    }

    #[test]
    fn status_follows_reboots() {
        let mut spec = plan_standalone(
            &CreateNodeRequest {
                cache_cluster_id: Some("a".into()),
                cache_node_type: Some("cache.t3.micro".into()),
                ..Default::default()
            },
            &ctx(),
        )
        .unwrap();
        let obs = NodeObserved {
            created: true,
            generation: 1,
            ..Default::default()
        };
        assert_eq!(status(&spec, Some(&obs)), ClusterStatus::Available);
        spec.reboots = 1;
        assert_eq!(
            status(&spec, Some(&obs)).as_str(),
            "rebooting cluster nodes"
        );
        assert_eq!(
            cache_node_status(&spec, Some(&obs)),
            CacheNodeStatus::Rebooting
        );
    }
}
