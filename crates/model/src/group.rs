//! Replication groups: spec, intent, observed facts, the status derived from them, and the
//! rules of `CreateReplicationGroup` / `IncreaseReplicaCount` / `DecreaseReplicaCount`.
//!
//! Only cluster-mode-disabled groups are offered so far: one shard ([`crate::shard`],
//! `NodeGroupId` [`ids::shard_id`]`(1)`) with one primary and up to five replicas. Member cache
//! clusters are [`crate::node`] records that name their group and shard; the group record does
//! not list them, so adding or removing a replica touches one record only. Who is primary, and
//! the failover state, belong to the shard.

use serde::{Deserialize, Serialize};

use crate::{engine, ids, node_type, tag::Tag, zone, Fault, Timestamp};

/// Most nodes (primary + replicas) in a cluster-mode-disabled group.
pub const NODES_PER_GROUP_MAX: u32 = 6;
/// Most replicas per shard.
pub const REPLICAS_PER_SHARD_MAX: u32 = 5;
/// Most shards (node groups) of a cluster-mode group (AWS: 1–90 for Redis 7).
pub const SHARDS_PER_GROUP_MAX: u32 = 90;
/// Most nodes of a cluster-mode group (AWS: 500 for engine 5.0.6 and later).
pub const NODES_PER_CLUSTER_MODE_GROUP_MAX: u32 = 500;
/// Longest `ReplicationGroupDescription`.
pub const DESCRIPTION_LEN_MAX: usize = 255;
/// Largest `SnapshotRetentionLimit`.
pub const SNAPSHOT_RETENTION_MAX: i64 = 35;
/// Default Redis port.
pub const PORT_DEFAULT: u16 = 6379;
/// AWS's default snapshot window shape (one hour, UTC).
pub const SNAPSHOT_WINDOW_DEFAULT: &str = "05:00-06:00";
/// AWS's default maintenance window shape (lower-case, ≥ 60 minutes).
pub const MAINTENANCE_WINDOW_DEFAULT: &str = "sun:23:00-mon:01:30";

/// What the API asked for. Written only by API calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupSpec {
    /// `ReplicationGroupId`, lower-case.
    pub id: String,
    /// Region from the request's SigV4 scope.
    pub region: String,
    /// `ReplicationGroupDescription`.
    pub description: String,
    /// `CacheNodeType` of every member.
    pub node_type: String,
    /// `Engine` (`redis`).
    pub engine: String,
    /// Full engine version the nodes run.
    pub engine_version: String,
    /// Port of every endpoint of the group.
    pub port: u16,
    /// `CacheParameterGroupName`.
    pub parameter_group: String,
    /// `CacheSubnetGroupName`.
    pub subnet_group: String,
    /// `SecurityGroupIds`.
    pub security_group_ids: Vec<String>,
    /// `AutomaticFailoverEnabled`.
    pub automatic_failover: bool,
    /// `MultiAZEnabled`.
    pub multi_az: bool,
    /// `SnapshotRetentionLimit` (0 = no automatic snapshots).
    pub snapshot_retention_limit: u32,
    /// `SnapshotWindow`.
    pub snapshot_window: String,
    /// `PreferredMaintenanceWindow`, lower-case.
    pub maintenance_window: String,
    /// `AutoMinorVersionUpgrade`.
    pub auto_minor_version_upgrade: bool,
    /// Tags.
    pub tags: Vec<Tag>,
    /// When the group was requested.
    pub created_at: Timestamp,
    /// Bumped on every API change that the control plane must carry out; the group reads
    /// `modifying` until `observed.generation` catches up.
    pub generation: u64,
    /// Set by `DeleteReplicationGroup`.
    pub deletion: Option<GroupDeletion>,
    /// When each `TestFailover` of the last rolling day was called (AWS's rate limit, counted
    /// per group; the requests themselves are counted on each shard).
    #[serde(default)]
    pub test_failover_calls: Vec<Timestamp>,
    /// `SnapshottingClusterId`: the member automatic snapshots are taken from.
    #[serde(default)]
    pub snapshotting_cluster: Option<String>,
    /// `SnapshotName` the group was created from: its members are seeded from that snapshot's
    /// RDB before their first start.
    #[serde(default)]
    pub restore_from: Option<String>,
    /// Encryption in transit on the group's endpoints (`None`: off). Members carry a copy.
    #[serde(default)]
    pub transit_encryption: Option<crate::transit::TransitEncryptionMode>,
    /// AUTH tokens of the `default` user (none: AUTH off). Members carry a copy.
    #[serde(default)]
    pub auth: crate::auth::AuthTokens,
    /// `LogDeliveryConfigurations`: one per log type. Members carry a copy.
    #[serde(default)]
    pub log_delivery: Vec<crate::log_delivery::LogDelivery>,
    /// `UserGroupIds` (RBAC): the users of these groups are the nodes' ACL users.
    #[serde(default)]
    pub user_group_ids: Vec<String>,
    /// Encryption at rest of the group's data files and snapshots (`None`: off). Members carry
    /// a copy.
    #[serde(default)]
    pub at_rest_encryption: Option<crate::at_rest::AtRestEncryption>,
    /// `ClusterMode`: whether the keyspace is sharded over the group's shards by hash slot
    /// (the nodes run `cluster-enabled yes`), as its parameter group decided at creation.
    #[serde(default)]
    pub cluster_mode: ClusterMode,
    /// The latest online resharding asked for (`ModifyReplicationGroupShardConfiguration`);
    /// carried out once [`GroupObserved::resharded`] reaches its generation.
    #[serde(default)]
    pub resharding: Option<Resharding>,
    /// The parameter group the group used before `ClusterMode` moved from `disabled` to
    /// `compatible`: what it returns to if the move is given up (keys outside database 0).
    #[serde(default)]
    pub parameter_group_before_cluster_mode: Option<String>,
}

/// An online resharding: the shards' new slots are in their specs; this records the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resharding {
    /// The group generation that asked for it.
    pub generation: u64,
    /// How many slots change shard in all (`ProgressPercentage` counts against it).
    pub slots_to_move: u32,
    /// Each shard's slots before the resharding: what a group restored into another layout
    /// forms its cluster with, before the slots move.
    #[serde(default)]
    pub before: Vec<(String, Vec<crate::shard::SlotRange>)>,
}

/// `ClusterMode` of a replication group.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClusterMode {
    /// `disabled`: one shard holds the whole keyspace; clients use the primary and reader
    /// endpoints.
    #[default]
    Disabled,
    /// `enabled`: shards own hash slots; cluster clients use the configuration endpoint.
    Enabled,
    /// `compatible`: the one step between `disabled` and `enabled` on a live group. Its one
    /// shard runs as a cluster that owns every slot, so cluster clients (configuration
    /// endpoint) and plain ones (primary and reader endpoints) both reach it.
    Compatible,
}

impl ClusterMode {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ClusterMode::Disabled => "disabled",
            ClusterMode::Enabled => "enabled",
            ClusterMode::Compatible => "compatible",
        }
    }

    /// Whether the group is sharded by hash slot as far as the API goes: shards with `Slots`,
    /// no primary or reader endpoint, resharding.
    pub fn enabled(self) -> bool {
        self == ClusterMode::Enabled
    }

    /// Whether the nodes run `cluster-enabled yes` (`enabled`, and `compatible` on the way
    /// there): they form a cluster, and a configuration endpoint reaches it.
    pub fn runs_cluster(self) -> bool {
        matches!(self, ClusterMode::Enabled | ClusterMode::Compatible)
    }
}

/// Where the group's own endpoints are placed (a group's shards place theirs in
/// [`crate::shard::ShardIntent`]). Written only by the group reconciler.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupIntent {
    /// `ConfigurationEndpoint.Address` of a cluster-mode group: where cluster clients start
    /// (any member answers `CLUSTER SLOTS`), on the group's port.
    pub configuration_endpoint: std::net::Ipv4Addr,
}

/// The TCP port a cluster-mode node's bus (node-to-node gossip) listens on, and is reached
/// at behind its endpoint: Redis's own choice, the client port + 10000, or − 10000 for ports
/// above 55535 (which have no room above).
pub fn cluster_bus_port(port: u16) -> u16 {
    match port.checked_add(10000) {
        Some(bus) => bus,
        None => port - 10000,
    }
}

/// A requested deletion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupDeletion {
    /// `RetainPrimaryCluster`: keep the primary as a standalone cache cluster.
    pub retain_primary: bool,
}

/// Facts the control plane last confirmed about the group as a whole.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupObserved {
    /// The group has been `available` once (creation finished).
    pub created: bool,
    /// The last spec generation fully carried out.
    pub generation: u64,
    /// Creation failed, with the reason (status `create-failed`).
    pub failed: Option<String>,
    /// The node type every member runs with, once all of them do (`None`: the spec's type at
    /// creation).
    #[serde(default)]
    pub node_type: Option<String>,
    /// A node type change the members refused (reported once).
    #[serde(default)]
    pub node_type_refused: Option<String>,
    /// The creation failed because a member could not be seeded from its snapshot (status
    /// `restore-failed` rather than `create-failed`).
    #[serde(default)]
    pub restore_failed: bool,
    /// The generation of the last resharding carried out (see [`GroupSpec::resharding`]).
    #[serde(default)]
    pub resharded: u64,
    /// Slots of the resharding under way moved so far.
    #[serde(default)]
    pub slots_moved: u32,
    /// The `ClusterMode` every member was last found running in (`None` before any was
    /// recorded, and for a group that never ran in cluster mode).
    #[serde(default)]
    pub cluster_mode: Option<ClusterMode>,
}

impl GroupSpec {
    /// The resharding asked for and not carried out yet, given the group's facts.
    pub fn resharding_pending(&self, observed: Option<&GroupObserved>) -> Option<&Resharding> {
        let done = observed.map_or(0, |o| o.resharded);
        self.resharding.as_ref().filter(|r| r.generation > done)
    }
}

/// `ReplicationGroup.Status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum GroupStatus {
    /// `creating`
    Creating,
    /// `available`
    Available,
    /// `modifying`
    Modifying,
    /// `deleting`
    Deleting,
    /// `create-failed`
    CreateFailed,
    /// `snapshotting`
    Snapshotting,
    /// `restore-failed`: a member could not be seeded from the snapshot; the group must be
    /// deleted.
    RestoreFailed,
}

impl GroupStatus {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupStatus::Creating => "creating",
            GroupStatus::Available => "available",
            GroupStatus::Modifying => "modifying",
            GroupStatus::Deleting => "deleting",
            GroupStatus::CreateFailed => "create-failed",
            GroupStatus::Snapshotting => "snapshotting",
            GroupStatus::RestoreFailed => "restore-failed",
        }
    }
}

/// The status a client sees, derived from spec and observed facts.
pub fn status(spec: &GroupSpec, observed: Option<&GroupObserved>) -> GroupStatus {
    if spec.deletion.is_some() {
        return GroupStatus::Deleting;
    }
    match observed {
        Some(o) if o.failed.is_some() && o.restore_failed => GroupStatus::RestoreFailed,
        Some(o) if o.failed.is_some() => GroupStatus::CreateFailed,
        Some(o) if o.created && o.generation >= spec.generation => GroupStatus::Available,
        Some(o) if o.created => GroupStatus::Modifying,
        _ => GroupStatus::Creating,
    }
}

/// `CreateReplicationGroup` as decoded from the wire; every member optional so the rules here,
/// not the decoder, decide what is required.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CreateGroupRequest {
    /// `ReplicationGroupId`
    pub replication_group_id: Option<String>,
    /// `ReplicationGroupDescription`
    pub description: Option<String>,
    /// `PrimaryClusterId`
    pub primary_cluster_id: Option<String>,
    /// `AutomaticFailoverEnabled`
    pub automatic_failover_enabled: Option<bool>,
    /// `MultiAZEnabled`
    pub multi_az_enabled: Option<bool>,
    /// `NumCacheClusters`
    pub num_cache_clusters: Option<i64>,
    /// `PreferredCacheClusterAZs`
    pub preferred_cache_cluster_azs: Vec<String>,
    /// `NumNodeGroups`
    pub num_node_groups: Option<i64>,
    /// `ReplicasPerNodeGroup`
    pub replicas_per_node_group: Option<i64>,
    /// `NodeGroupConfiguration`: one entry per shard (cluster mode).
    pub node_group_configuration: Vec<NodeGroupRequest>,
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
    /// `NotificationTopicArn`
    pub notification_topic_arn: Option<String>,
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
    /// `AtRestEncryptionEnabled`
    pub at_rest_encryption_enabled: Option<bool>,
    /// `KmsKeyId`
    pub kms_key_id: Option<String>,
    /// `UserGroupIds`
    pub user_group_ids: Vec<String>,
    /// `ClusterMode`
    pub cluster_mode: Option<String>,
    /// `GlobalReplicationGroupId`
    pub global_replication_group_id: Option<String>,
    /// `DataTieringEnabled`
    pub data_tiering_enabled: Option<bool>,
    /// `NetworkType`, `IpDiscovery`, `TransitEncryptionMode`.
    pub network: NetworkRequest,
}

/// One `NodeGroupConfiguration` entry: the layout of one shard.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeGroupRequest {
    /// `NodeGroupId` (1–4 digits).
    pub node_group_id: Option<String>,
    /// `Slots` (`0-5460`).
    pub slots: Option<String>,
    /// `ReplicaCount`.
    pub replica_count: Option<i64>,
    /// `PrimaryAvailabilityZone`.
    pub primary_availability_zone: Option<String>,
    /// `ReplicaAvailabilityZones`.
    pub replica_availability_zones: Vec<String>,
}

/// The network members shared by `CreateReplicationGroup` and `CreateCacheCluster`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NetworkRequest {
    /// `NetworkType`
    pub network_type: Option<String>,
    /// `IpDiscovery`
    pub ip_discovery: Option<String>,
    /// `TransitEncryptionMode`
    pub transit_encryption_mode: Option<String>,
}

impl NetworkRequest {
    /// Endpoints are IPv4 loopback addresses: only `ipv4` (or nothing) is honoured; other valid
    /// values are refused rather than silently answered as IPv4. `TransitEncryptionMode` is
    /// checked for its value here and applied by [`crate::transit::on_create`].
    ///
    /// # Errors
    /// [`Fault::InvalidParameterValue`].
    pub fn check(&self) -> Result<(), Fault> {
        for (name, value, allowed) in [
            (
                "NetworkType",
                &self.network_type,
                &["ipv4", "ipv6", "dual_stack"][..],
            ),
            ("IpDiscovery", &self.ip_discovery, &["ipv4", "ipv6"][..]),
        ] {
            match value.as_deref() {
                None | Some("ipv4") => {}
                Some(v) if allowed.contains(&v) => {
                    return Err(not_yet(&format!("{name} {v} (endpoints are IPv4)")))
                }
                Some(v) => return Err(Fault::value(format!("Invalid value {v} for {name}."))),
            }
        }
        match self.transit_encryption_mode.as_deref() {
            None => Ok(()),
            Some(m) => crate::transit::TransitEncryptionMode::parse(m).map(|_| ()),
        }
    }
}

/// A validated `CreateReplicationGroup`: the group's spec and the zones of its new members.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupPlan {
    /// The group's spec.
    pub spec: GroupSpec,
    /// The group's shards (one without cluster mode); an adopted primary joins the first.
    pub shards: Vec<crate::shard::ShardSpec>,
    /// Existing standalone cluster to adopt as primary (`PrimaryClusterId`).
    pub adopt_primary: Option<String>,
    /// Per shard (in `shards` order), the preferred zone of each new member, in member order,
    /// the primary first (`None`: control spreads them).
    pub new_member_zones: Vec<Vec<Option<String>>>,
}

/// Facts outside the request that the rules need.
#[derive(Debug, Clone)]
pub struct CreateContext {
    /// Region of the request.
    pub region: String,
    /// Version of the engine we run (e.g. `7.0.15`).
    pub engine_version_running: String,
    /// Now.
    pub now: Timestamp,
    /// Whether the parameter group the request names has `cluster-enabled yes` (`None`: no
    /// such group, or none named; the plan then picks the default group itself).
    pub parameter_group_cluster_enabled: Option<bool>,
}

fn required<'a>(value: &'a Option<String>, name: &str) -> Result<&'a str, Fault> {
    value
        .as_deref()
        .ok_or_else(|| Fault::MissingParameter(name.to_string()))
}

/// Refuses a feature that a later Ferrocache release brings, rather than pretending to honour it.
pub fn not_yet(feature: &str) -> Fault {
    Fault::value(format!(
        "{feature} is not supported by this Ferrocache release yet."
    ))
}

/// Checks the restore members of a create (`SnapshotName`, `SnapshotArns`) and returns what to
/// seed from: a snapshot name, lower-cased as snapshot names are stored, or the S3 object ARN
/// (`arn:aws:s3:::bucket/key.rdb`; no snapshot name contains a colon, so the two never mix —
/// see [`crate::snapshot::s3_object`]).
///
/// An ARN without an object path — typically an ElastiCache snapshot ARN passed where its name
/// belongs, the restoration guide's Issue 1 — gets AWS's own answer.
///
/// # Errors
/// `InvalidParameterCombination` for both members, `InvalidParameterValue` for a bad name, an
/// ARN without an object path, or more than one object (one node group takes one RDB file).
pub fn restore_source(name: Option<&str>, arns: &[String]) -> Result<Option<String>, Fault> {
    if name.is_some() && !arns.is_empty() {
        return Err(Fault::combination(
            "Only one of SnapshotName or SnapshotArns can be provided.",
        ));
    }
    for arn in arns {
        let object = arn
            .strip_prefix("arn:aws:s3:::")
            .and_then(|rest| rest.split_once('/'))
            .filter(|(bucket, key)| !bucket.is_empty() && !key.is_empty());
        if object.is_none() {
            return Err(Fault::value(format!(
                "Must specify an object path for the S3 ARN: {arn}"
            )));
        }
    }
    if let Some(arn) = arns.first() {
        return Ok(Some(arn.clone()));
    }
    name.map(crate::snapshot::existing_snapshot_name)
        .transpose()
}

/// Checks that `SnapshotArns` names at most one RDB object: a group without cluster mode has one
/// node group, and a cluster-mode group is seeded from one object (its keys spread over the
/// shards by slot); several objects into cluster mode are not offered yet.
///
/// # Errors
/// `InvalidParameterValue`.
pub fn one_rdb_object(arns: &[String], cluster_mode: bool) -> Result<(), Fault> {
    match (arns.len(), cluster_mode) {
        (0 | 1, _) => Ok(()),
        (n, false) => Err(Fault::value(format!(
            "SnapshotArns names {n} RDB objects, but a group without cluster mode has one node group: name one object."
        ))),
        (_, true) => Err(not_yet(
            "Restoring several RDB objects into a cluster-mode replication group (SnapshotArns)",
        )),
    }
}

/// A create restoring a cluster-mode snapshot (`shards`, one per RDB file) that does not lay
/// out its own shards takes the snapshot's: each shard's `NodeGroupId`, `Slots` and
/// `ReplicaCount` (unless `ReplicasPerNodeGroup` says), and cluster mode when neither
/// `ClusterMode` nor a parameter group decides it. A different `NumNodeGroups` keeps AWS's even
/// split.
pub fn with_snapshot_layout(
    req: &CreateGroupRequest,
    shards: &[crate::snapshot::SnapshotShard],
) -> CreateGroupRequest {
    let mut req = req.clone();
    let same_count = req.num_node_groups.is_none_or(|n| n == shards.len() as i64);
    if shards.is_empty() || !req.node_group_configuration.is_empty() || !same_count {
        return req;
    }
    req.node_group_configuration = shards
        .iter()
        .map(|shard| NodeGroupRequest {
            node_group_id: Some(shard.shard_id.clone()),
            slots: Some(crate::shard::SlotRange::format_list(&shard.slots)),
            replica_count: match req.replicas_per_node_group {
                Some(_) => None,
                None => Some(i64::from(shard.replica_count)),
            },
            primary_availability_zone: None,
            replica_availability_zones: Vec::new(),
        })
        .collect();
    if req.cluster_mode.is_none() && req.cache_parameter_group_name.is_none() {
        req.cluster_mode = Some("enabled".to_string());
    }
    req
}

/// Checks that a snapshot fits the group restored from it: AWS requires the same number of
/// node groups.
///
/// # Errors
/// [`Fault::InvalidParameterValue`] when the counts differ.
pub fn check_restore_shape(
    snapshot_node_groups: u32,
    requested_node_groups: u32,
) -> Result<(), Fault> {
    if snapshot_node_groups != requested_node_groups {
        return Err(Fault::value(format!(
            "The number of node groups requested ({requested_node_groups}) must match the number of node groups in the snapshot ({snapshot_node_groups})."
        )));
    }
    Ok(())
}

/// Validates `SnapshotWindow` (`hh24:mi-hh24:mi`).
///
/// # Errors
/// [`Fault::InvalidParameterValue`].
pub fn snapshot_window(value: &str) -> Result<String, Fault> {
    let ok = value
        .split_once('-')
        .is_some_and(|(a, b)| hhmm(a).is_some() && hhmm(b).is_some());
    if ok {
        Ok(value.to_string())
    } else {
        Err(Fault::value(format!(
            "Invalid snapshot window: {value}. Specify the window in the format hh24:mi-hh24:mi."
        )))
    }
}

/// Minutes of the day of `hh24:mi`.
pub(crate) fn hhmm(value: &str) -> Option<u32> {
    let (h, m) = value.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

/// Validates `PreferredMaintenanceWindow` (`ddd:hh24:mi-ddd:hh24:mi`, at least 60 minutes) and
/// returns it lower-cased, as AWS stores it.
///
/// # Errors
/// [`Fault::InvalidParameterValue`].
pub fn maintenance_window(value: &str) -> Result<String, Fault> {
    let lower = value.to_ascii_lowercase();
    match maintenance_window_minutes(&lower) {
        Some((start, end)) => {
            let length = (end + MINUTES_PER_WEEK - start) % MINUTES_PER_WEEK;
            if length < 60 {
                Err(Fault::value("The maintenance window must be at least 60 minutes long."))
            } else {
                Ok(lower)
            }
        }
        None => Err(Fault::value(format!(
            "Invalid maintenance window: {value}. Specify the window in the format ddd:hh24:mi-ddd:hh24:mi."
        ))),
    }
}

/// Minutes in a week: maintenance windows are positions in it.
pub(crate) const MINUTES_PER_WEEK: u32 = 7 * 24 * 60;

/// Start and end of a lower-case `ddd:hh24:mi-ddd:hh24:mi` window, as minutes since Sunday
/// 00:00 UTC; `None` when it does not read as one.
pub(crate) fn maintenance_window_minutes(window: &str) -> Option<(u32, u32)> {
    const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
    let minute_of_week = |s: &str| -> Option<u32> {
        let (day, time) = s.split_once(':')?;
        let d = DAYS.iter().position(|x| *x == day)? as u32;
        Some(d * 24 * 60 + hhmm(time)?)
    };
    window
        .split_once('-')
        .and_then(|(a, b)| Some((minute_of_week(a)?, minute_of_week(b)?)))
}

/// Validates a `Port`.
///
/// # Errors
/// [`Fault::InvalidParameterValue`].
pub fn port(value: Option<i64>) -> Result<u16, Fault> {
    match value {
        None => Ok(PORT_DEFAULT),
        Some(p) if (1..=65535).contains(&p) => Ok(p as u16),
        Some(p) => Err(Fault::value(format!("Invalid port number: {p}"))),
    }
}

/// Validates `SnapshotRetentionLimit`.
///
/// # Errors
/// [`Fault::InvalidParameterValue`].
pub fn snapshot_retention(value: Option<i64>) -> Result<u32, Fault> {
    match value {
        None => Ok(0),
        Some(n) if (0..=SNAPSHOT_RETENTION_MAX).contains(&n) => Ok(n as u32),
        Some(n) => Err(Fault::value(format!(
            "Invalid SnapshotRetentionLimit: {n}. The value must be between 0 and {SNAPSHOT_RETENTION_MAX}."
        ))),
    }
}

/// Validates security group ids (`sg-` followed by hex).
///
/// # Errors
/// [`Fault::InvalidParameterValue`].
pub fn security_group_ids(ids: &[String]) -> Result<Vec<String>, Fault> {
    for id in ids {
        let ok = id
            .strip_prefix("sg-")
            .is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()));
        if !ok {
            return Err(Fault::value(format!("Invalid security group id: {id}")));
        }
    }
    Ok(ids.to_vec())
}

/// Applies AWS's rules to a `CreateReplicationGroup`.
///
/// References to other resources (parameter group, subnet group, `PrimaryClusterId`, id
/// uniqueness) are checked by the caller against the store.
///
/// # Errors
/// The [`Fault`] AWS answers for the first broken rule.
pub fn plan_create(req: &CreateGroupRequest, ctx: &CreateContext) -> Result<GroupPlan, Fault> {
    let id = ids::replication_group_id(required(&req.replication_group_id, "ReplicationGroupId")?)?;
    let shard_group_id = id.clone();
    let description = required(&req.description, "ReplicationGroupDescription")?;
    if description.chars().count() > DESCRIPTION_LEN_MAX {
        return Err(Fault::value(format!(
            "The parameter ReplicationGroupDescription must be at most {DESCRIPTION_LEN_MAX} characters long."
        )));
    }
    let restore_from = restore_source(req.snapshot_name.as_deref(), &req.snapshot_arns)?;
    if req.auth_token.is_some() && req.transit_encryption_enabled != Some(true) {
        return Err(Fault::value(
            "The AUTH token is only supported when encryption-in-transit is enabled",
        ));
    }
    let transit_encryption = crate::transit::on_create(
        req.transit_encryption_enabled,
        req.network.transit_encryption_mode.as_deref(),
    )?;
    let auth = crate::auth::AuthTokens::on_create(
        req.auth_token.as_deref(),
        transit_encryption.is_some(),
        ctx.now,
    )?;
    if auth.enabled() && !req.user_group_ids.is_empty() {
        return Err(Fault::combination(
            "AuthToken and UserGroupIds cannot be specified together.",
        ));
    }
    let at_rest_encryption =
        crate::at_rest::on_create(req.at_rest_encryption_enabled, req.kms_key_id.as_deref())?;
    let user_group_ids =
        crate::user::attached_user_groups(&req.user_group_ids, transit_encryption.is_some())?;
    crate::transit::check_access_control(
        transit_encryption,
        auth.enabled() || !user_group_ids.is_empty(),
    )?;
    if req.global_replication_group_id.is_some() {
        return Err(not_yet("Global datastores (GlobalReplicationGroupId)"));
    }
    req.network.check()?;
    if req.data_tiering_enabled == Some(true) {
        return Err(not_yet("Data tiering (DataTieringEnabled)"));
    }
    if !req.cache_security_group_names.is_empty() {
        return Err(Fault::combination(
            "CacheSecurityGroupNames are for clusters outside a VPC; use SecurityGroupIds.",
        ));
    }
    if let Some(n) = req.num_node_groups {
        if n < 1 {
            return Err(Fault::value(format!(
                "Invalid value {n} for NumNodeGroups. The value must be at least 1."
            )));
        }
    }
    let cluster_mode = cluster_mode_of(req, ctx)?;
    let automatic_failover = req.automatic_failover_enabled.unwrap_or(false);
    let multi_az = req.multi_az_enabled.unwrap_or(false);
    // A group is created `enabled` or `disabled`; `compatible` is only reached by a modify.
    let layout = match cluster_mode.enabled() {
        true => cluster_layout(req, ctx, automatic_failover)?,
        false => single_shard_layout(req, ctx, automatic_failover)?,
    };

    let node_type = req
        .cache_node_type
        .clone()
        .unwrap_or_else(|| node_type::NODE_TYPE_DEFAULT.to_string());
    node_type::lookup(&node_type)?;
    let engine = engine::engine(req.engine.as_deref())?;
    let engine_version =
        engine::engine_version(req.engine_version.as_deref(), &ctx.engine_version_running)?;
    let parameter_group = req
        .cache_parameter_group_name
        .clone()
        .unwrap_or_else(|| engine::default_parameter_group(cluster_mode.runs_cluster()).to_string())
        .to_ascii_lowercase();
    let subnet_group = req
        .cache_subnet_group_name
        .clone()
        .unwrap_or_else(|| "default".to_string())
        .to_ascii_lowercase();
    let snapshot_window = match &req.snapshot_window {
        Some(w) => snapshot_window(w)?,
        None => SNAPSHOT_WINDOW_DEFAULT.to_string(),
    };
    let maintenance_window = match &req.preferred_maintenance_window {
        Some(w) => maintenance_window(w)?,
        None => MAINTENANCE_WINDOW_DEFAULT.to_string(),
    };
    let mut tags = Vec::new();
    crate::tag::merge(&mut tags, &req.tags)?;

    Ok(GroupPlan {
        spec: GroupSpec {
            id,
            region: ctx.region.clone(),
            description: description.to_string(),
            node_type,
            engine,
            engine_version,
            port: port(req.port)?,
            parameter_group,
            subnet_group,
            security_group_ids: security_group_ids(&req.security_group_ids)?,
            automatic_failover,
            multi_az,
            snapshot_retention_limit: snapshot_retention(req.snapshot_retention_limit)?,
            snapshot_window,
            maintenance_window,
            auto_minor_version_upgrade: req.auto_minor_version_upgrade.unwrap_or(true),
            tags,
            created_at: ctx.now,
            generation: 1,
            deletion: None,
            log_delivery: crate::log_delivery::apply(&[], &req.log_deliveries)?,
            test_failover_calls: Vec::new(),
            snapshotting_cluster: None,
            restore_from,
            transit_encryption,
            auth,
            user_group_ids,
            at_rest_encryption,
            cluster_mode,
            resharding: None,
            parameter_group_before_cluster_mode: None,
        },
        shards: layout
            .shards
            .into_iter()
            .map(|(shard_id, slots)| {
                crate::shard::ShardSpec::new(&ctx.region, &shard_group_id, shard_id, slots)
            })
            .collect(),
        adopt_primary: layout.adopt_primary,
        new_member_zones: layout.new_member_zones,
    })
}

/// The shards and members a create asks for, before the rest of the group's spec.
struct Layout {
    /// Per shard: its id and slots (none without cluster mode).
    shards: Vec<(String, Vec<crate::shard::SlotRange>)>,
    /// `PrimaryClusterId` (cluster mode disabled only).
    adopt_primary: Option<String>,
    /// Per shard, the zones of its new members.
    new_member_zones: Vec<Vec<Option<String>>>,
}

/// Whether the new group runs in cluster mode: its parameter group decides (`cluster-enabled`),
/// and `ClusterMode` and more than one shard must agree with it. With no parameter group named,
/// asking for cluster mode picks `default.redis7.cluster.on`.
fn cluster_mode_of(req: &CreateGroupRequest, ctx: &CreateContext) -> Result<ClusterMode, Fault> {
    let sharded =
        req.num_node_groups.is_some_and(|n| n > 1) || req.node_group_configuration.len() > 1;
    let asked = match req.cluster_mode.as_deref() {
        None => None,
        Some("enabled") => Some(true),
        Some("disabled") => Some(false),
        Some("compatible") => {
            return Err(Fault::value(
                "ClusterMode compatible can only be set by ModifyReplicationGroup, on a replication group whose cluster mode is disabled.",
            ))
        }
        Some(m) => return Err(Fault::value(format!("Invalid value {m} for ClusterMode."))),
    };
    let from_parameter_group = match &req.cache_parameter_group_name {
        Some(_) => ctx.parameter_group_cluster_enabled.unwrap_or(false),
        None => asked.unwrap_or(sharded),
    };
    if asked == Some(false) && from_parameter_group {
        return Err(Fault::combination(
            "Cluster mode should be disabled in parameter group, but found it is enabled.",
        ));
    }
    if (asked == Some(true) || sharded) && !from_parameter_group {
        return Err(Fault::combination(
            "Cluster mode should be enabled in parameter group, but found it is disabled.",
        ));
    }
    Ok(if from_parameter_group {
        ClusterMode::Enabled
    } else {
        ClusterMode::Disabled
    })
}

/// The one shard of a group without cluster mode: `NumCacheClusters`, or
/// `ReplicasPerNodeGroup` + 1, or an adopted primary alone.
fn single_shard_layout(
    req: &CreateGroupRequest,
    ctx: &CreateContext,
    automatic_failover: bool,
) -> Result<Layout, Fault> {
    one_rdb_object(&req.snapshot_arns, false)?;
    if req.node_group_configuration.len() == 1 {
        // One entry may place the shard's members; slots mean nothing without cluster mode.
        let entry = &req.node_group_configuration[0];
        if entry.slots.is_some() {
            return Err(Fault::combination(
                "Slots can only be specified for replication groups with cluster mode enabled.",
            ));
        }
    }
    // Node count: NumCacheClusters, or ReplicasPerNodeGroup + 1, or the adopted primary alone.
    let from_replicas = match req.replicas_per_node_group {
        Some(r) if !(0..=REPLICAS_PER_SHARD_MAX as i64).contains(&r) => {
            return Err(Fault::value(format!(
                "Invalid value {r} for ReplicasPerNodeGroup. The value must be between 0 and {REPLICAS_PER_SHARD_MAX}."
            )))
        }
        Some(r) => Some(r + 1),
        None => None,
    };
    let count = match (req.num_cache_clusters, from_replicas) {
        (Some(n), Some(m)) if n != m => {
            return Err(Fault::combination(
                "NumCacheClusters and ReplicasPerNodeGroup specify different numbers of nodes.",
            ))
        }
        (Some(n), _) => n,
        (None, Some(m)) => m,
        (None, None) => 1,
    };
    if !(1..=NODES_PER_GROUP_MAX as i64).contains(&count) {
        return Err(Fault::value(format!(
            "Invalid value {count} for NumCacheClusters. The number of cache clusters in a replication group must be between 1 and {NODES_PER_GROUP_MAX}."
        )));
    }
    let count = count as u32;
    let multi_az = req.multi_az_enabled.unwrap_or(false);
    if automatic_failover && count < 2 && req.primary_cluster_id.is_none() {
        return Err(Fault::combination(
            "When using automatic failover, there must be at least 2 cache clusters in the replication group.",
        ));
    }
    if multi_az && !automatic_failover {
        return Err(Fault::combination(
            "Multi-AZ can only be enabled when automatic failover is enabled (AutomaticFailoverEnabled=true).",
        ));
    }
    if !req.preferred_cache_cluster_azs.is_empty()
        && req.preferred_cache_cluster_azs.len() != count as usize
    {
        return Err(Fault::combination(format!(
            "The number of preferred availability zones ({}) must equal the number of cache clusters ({count}).",
            req.preferred_cache_cluster_azs.len()
        )));
    }
    for z in &req.preferred_cache_cluster_azs {
        zone::validate(&ctx.region, z)?;
    }

    let adopt_primary = match &req.primary_cluster_id {
        Some(p) => Some(ids::cache_cluster_id(p)?),
        None => None,
    };
    // With an adopted primary, the new members are the replicas only.
    let new_members = if adopt_primary.is_some() {
        count.saturating_sub(1) as usize
    } else {
        count as usize
    };
    let skip = usize::from(adopt_primary.is_some());
    let new_member_zones = (0..new_members)
        .map(|i| req.preferred_cache_cluster_azs.get(i + skip).cloned())
        .collect();
    Ok(Layout {
        shards: vec![(ids::shard_id(1), Vec::new())],
        adopt_primary,
        new_member_zones: vec![new_member_zones],
    })
}

/// The shards of a cluster-mode group: `NumNodeGroups` and `ReplicasPerNodeGroup`, or one
/// `NodeGroupConfiguration` entry per shard (ids, slots, replica counts and zones), with
/// the slots split evenly where none are given.
fn cluster_layout(
    req: &CreateGroupRequest,
    ctx: &CreateContext,
    automatic_failover: bool,
) -> Result<Layout, Fault> {
    if !automatic_failover {
        return Err(Fault::combination(
            "AutomaticFailoverEnabled must be enabled for Redis (cluster mode enabled) replication groups.",
        ));
    }

    if req.primary_cluster_id.is_some() {
        return Err(Fault::combination(
            "PrimaryClusterId cannot be specified for replication groups with cluster mode enabled.",
        ));
    }
    one_rdb_object(&req.snapshot_arns, true)?;
    if req.num_cache_clusters.is_some() || !req.preferred_cache_cluster_azs.is_empty() {
        return Err(Fault::combination(
            "NumCacheClusters and PreferredCacheClusterAZs are for replication groups with cluster mode disabled; use NumNodeGroups, ReplicasPerNodeGroup and NodeGroupConfiguration.",
        ));
    }
    let entries = &req.node_group_configuration;
    let count = match (req.num_node_groups, entries.len()) {
        (Some(n), m) if m > 0 && n != m as i64 => {
            return Err(Fault::combination(format!(
                "NumNodeGroups ({n}) does not match the number of NodeGroupConfiguration entries ({m})."
            )))
        }
        (Some(n), _) => n,
        (None, 0) => 1,
        (None, m) => m as i64,
    };
    if count > SHARDS_PER_GROUP_MAX as i64 {
        return Err(Fault::NodeGroupsPerReplicationGroupQuotaExceeded(format!(
            "The number of node groups ({count}) exceeds the maximum of {SHARDS_PER_GROUP_MAX} per replication group."
        )));
    }
    let count = count as usize;
    let replicas_default = match req.replicas_per_node_group {
        Some(r) if !(0..=REPLICAS_PER_SHARD_MAX as i64).contains(&r) => {
            return Err(Fault::value(format!(
                "Invalid value {r} for ReplicasPerNodeGroup. The value must be between 0 and {REPLICAS_PER_SHARD_MAX}."
            )))
        }
        Some(r) => r as usize,
        None => 0,
    };
    let given_slots = entries.iter().filter(|e| e.slots.is_some()).count();
    if !req.snapshot_arns.is_empty() && (given_slots == 0 || given_slots != count) {
        return Err(Fault::combination(
            "Slots must be provided when restoring from snapshot ARNs with cluster mode enabled",
        ));
    }
    if given_slots != 0 && given_slots != count {
        return Err(Fault::combination(
            "Slots must be specified for every node group in NodeGroupConfiguration, or for none.",
        ));
    }
    let even = crate::shard::SlotRange::even_split(count as u16);
    let mut shards = Vec::with_capacity(count);
    let mut new_member_zones = Vec::with_capacity(count);
    let mut nodes = 0usize;
    for (index, even_slots) in even.into_iter().enumerate() {
        let entry = entries.get(index).cloned().unwrap_or_default();
        let shard_id = match entry.node_group_id.as_deref() {
            Some(id) => node_group_id(id)?,
            None => ids::shard_id(index as u32 + 1),
        };
        if shards.iter().any(|(id, _)| *id == shard_id) {
            return Err(Fault::value(format!(
                "Duplicate NodeGroupId {shard_id} in NodeGroupConfiguration."
            )));
        }
        let slots = match entry.slots.as_deref() {
            Some(text) => crate::shard::SlotRange::parse_list(text)?,
            None => vec![even_slots],
        };
        let replicas = match entry.replica_count {
            Some(r) if !(0..=REPLICAS_PER_SHARD_MAX as i64).contains(&r) => {
                return Err(Fault::value(format!(
                    "Invalid value {r} for ReplicaCount. The value must be between 0 and {REPLICAS_PER_SHARD_MAX}."
                )))
            }
            Some(r) => r as usize,
            None => replicas_default,
        };
        if !entry.replica_availability_zones.is_empty()
            && entry.replica_availability_zones.len() != replicas
        {
            return Err(Fault::combination(format!(
                "The number of ReplicaAvailabilityZones ({}) must equal the ReplicaCount ({replicas}) of node group {shard_id}.",
                entry.replica_availability_zones.len()
            )));
        }
        let mut zones = vec![entry.primary_availability_zone.clone()];
        zones.extend((0..replicas).map(|i| entry.replica_availability_zones.get(i).cloned()));
        for zone in zones.iter().flatten() {
            zone::validate(&ctx.region, zone)?;
        }
        nodes += zones.len();
        shards.push((shard_id, slots));
        new_member_zones.push(zones);
    }
    if nodes > NODES_PER_CLUSTER_MODE_GROUP_MAX as usize {
        return Err(Fault::NodeQuotaForClusterExceeded(format!(
            "The number of nodes ({nodes}) exceeds the maximum of {NODES_PER_CLUSTER_MODE_GROUP_MAX} per replication group."
        )));
    }
    let slots: Vec<Vec<crate::shard::SlotRange>> = shards.iter().map(|(_, s)| s.clone()).collect();
    crate::shard::SlotRange::check_cover(&slots)?;
    Ok(Layout {
        shards,
        adopt_primary: None,
        new_member_zones,
    })
}

/// A `NodeGroupId` as given (1–4 digits), written with four (`1` → `0001`) like the ids
/// ElastiCache picks itself.
fn node_group_id(id: &str) -> Result<String, Fault> {
    match id.parse::<u32>() {
        Ok(n)
            if (1..=9999).contains(&n)
                && id.len() <= 4
                && id.bytes().all(|b| b.is_ascii_digit()) =>
        {
            Ok(ids::shard_id(n))
        }
        _ => Err(Fault::value(format!(
            "Invalid value {id} for NodeGroupId. It must be 1 to 4 digits, not all zeros."
        ))),
    }
}

/// A replica that could become primary, as the failover sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailoverCandidate {
    /// Cache cluster id.
    pub id: String,
    /// Its replication offset (`slave_repl_offset`): how much of the old primary's stream it has.
    pub offset: i64,
    /// Its availability zone.
    pub zone: String,
}

/// How much longer than the primary's own outage a replica's link to it may have been down for
/// the replica to be promoted: one that lost its primary earlier misses what was written
/// meanwhile, and promoting it would silently drop those writes. (Redis Sentinel's rule has the
/// same shape.)
pub const REPLICA_LINK_DOWN_MAX: std::time::Duration = std::time::Duration::from_secs(10);

/// Whether a replica is in sync enough to be promoted: not in the middle of a full sync (its
/// data set is incomplete), ever connected, and its link down no longer than the primary has
/// been down plus [`REPLICA_LINK_DOWN_MAX`].
///
/// `link_down_seconds` is `master_link_down_since_seconds` (absent while the link is up, `-1`
/// when it never came up); `primary_down_for` is how long the primary has been known down
/// (zero for a planned switch, whose primary is up).
pub fn replica_eligible(
    sync_in_progress: bool,
    link_down_seconds: Option<i64>,
    primary_down_for: std::time::Duration,
) -> bool {
    if sync_in_progress {
        return false;
    }
    match link_down_seconds {
        None => true,
        Some(s) if s < 0 => false,
        Some(s) => s as u64 <= (primary_down_for + REPLICA_LINK_DOWN_MAX).as_secs(),
    }
}

/// The replica a failover promotes: the highest replication offset (the least data lost), then,
/// with Multi-AZ, one outside the old primary's zone, then the lowest id (deterministic).
pub fn failover_target<'a>(
    candidates: &'a [FailoverCandidate],
    old_zone: Option<&str>,
    multi_az: bool,
) -> Option<&'a FailoverCandidate> {
    candidates.iter().max_by(|a, b| {
        let elsewhere = |c: &FailoverCandidate| multi_az && Some(c.zone.as_str()) != old_zone;
        (a.offset, elsewhere(a), std::cmp::Reverse(&a.id)).cmp(&(
            b.offset,
            elsewhere(b),
            std::cmp::Reverse(&b.id),
        ))
    })
}

/// Most `TestFailover` calls per rolling 24 hours (AWS's documented limit).
pub const TEST_FAILOVERS_PER_DAY_MAX: usize = 15;

/// Applies AWS's rules to a `TestFailover` on `spec` at `now` and returns the calls of the last
/// rolling day including this one. `shard_ids` are the group's `NodeGroupId`s.
///
/// # Errors
/// [`Fault::NodeGroupNotFound`] for a node group the group does not have;
/// [`Fault::InvalidReplicationGroupState`] without automatic failover;
/// [`Fault::TestFailoverNotAvailable`] without a replica;
/// [`Fault::ApiCallRateForCustomerExceeded`] past [`TEST_FAILOVERS_PER_DAY_MAX`].
pub fn check_test_failover(
    spec: &GroupSpec,
    node_group_id: &str,
    shard_ids: &[String],
    replicas: usize,
    now: Timestamp,
) -> Result<Vec<Timestamp>, Fault> {
    if !shard_ids.iter().any(|s| s == node_group_id) {
        return Err(Fault::NodeGroupNotFound(format!(
            "Node group {node_group_id} not found in replication group {}.",
            spec.id
        )));
    }
    if !spec.automatic_failover {
        return Err(Fault::InvalidReplicationGroupState(format!(
            "Replication group {} does not have automatic failover enabled. TestFailover requires AutomaticFailoverEnabled.",
            spec.id
        )));
    }
    if replicas == 0 {
        return Err(Fault::TestFailoverNotAvailable(format!(
            "Replication group {} has no replica to fail over to.",
            spec.id
        )));
    }
    let day_ago = now - chrono::Duration::hours(24);
    let mut calls: Vec<Timestamp> = spec
        .test_failover_calls
        .iter()
        .copied()
        .filter(|t| *t > day_ago)
        .collect();
    if calls.len() >= TEST_FAILOVERS_PER_DAY_MAX {
        return Err(Fault::ApiCallRateForCustomerExceeded(format!(
            "TestFailover may be called for at most {TEST_FAILOVERS_PER_DAY_MAX} node groups in a rolling 24-hour period."
        )));
    }
    calls.push(now);
    Ok(calls)
}

/// Validates `NewReplicaCount` of `IncreaseReplicaCount` against the current replica count.
///
/// # Errors
/// [`Fault::InvalidParameterValue`] out of range or not an increase.
pub fn check_increase(current_replicas: u32, new_replica_count: Option<i64>) -> Result<u32, Fault> {
    let n = new_replica_count.ok_or_else(|| Fault::MissingParameter("NewReplicaCount".into()))?;
    if !(0..=REPLICAS_PER_SHARD_MAX as i64).contains(&n) {
        return Err(Fault::value(format!(
            "Invalid value {n} for NewReplicaCount. The value must be between 0 and {REPLICAS_PER_SHARD_MAX}."
        )));
    }
    let n = n as u32;
    if n <= current_replicas {
        return Err(Fault::value(format!(
            "The new replica count ({n}) must be greater than the current replica count ({current_replicas})."
        )));
    }
    Ok(n)
}

/// Validates `NewReplicaCount` of `DecreaseReplicaCount`.
///
/// # Errors
/// [`Fault::InvalidParameterValue`] out of range, not a decrease, or below the automatic-failover
/// minimum.
pub fn check_decrease(
    current_replicas: u32,
    new_replica_count: i64,
    automatic_failover: bool,
) -> Result<u32, Fault> {
    if !(0..=REPLICAS_PER_SHARD_MAX as i64).contains(&new_replica_count) {
        return Err(Fault::value(format!(
            "Invalid value {new_replica_count} for NewReplicaCount. The value must be between 0 and {REPLICAS_PER_SHARD_MAX}."
        )));
    }
    let n = new_replica_count as u32;
    if automatic_failover && n < 1 {
        return Err(Fault::value("Must have at least 1 replica when cluster mode is disabled with auto failover enabled."));
    }
    if n >= current_replicas {
        return Err(Fault::value(format!(
            "The new replica count ({n}) must be less than the current replica count ({current_replicas})."
        )));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> CreateContext {
        CreateContext {
            region: "us-east-1".into(),
            engine_version_running: "7.0.15".into(),
            now: chrono::Utc::now(),
            parameter_group_cluster_enabled: None,
        }
    }

    fn req(id: &str) -> CreateGroupRequest {
        CreateGroupRequest {
            replication_group_id: Some(id.into()),
            description: Some("d".into()),
            ..Default::default()
        }
    }

    // Goal: a restore of a cluster-mode snapshot that lays out nothing gets the snapshot's
    // shards (ids, slots, replica counts) in cluster mode; ReplicasPerNodeGroup still decides
    // the replicas; another NumNodeGroups keeps the even split. Method: plan the filled request.
    #[test]
    fn restore_takes_the_snapshot_layout() {
        let shard = |id: &str, start, end| crate::snapshot::SnapshotShard {
            shard_id: id.into(),
            node_id: format!("src-{id}-002"),
            slots: vec![crate::shard::SlotRange { start, end }],
            zone: None,
            node_created_at: None,
            replica_count: 2,
        };
        let shards = [shard("0001", 0, 99), shard("0002", 100, 16383)];
        let restore = CreateGroupRequest {
            snapshot_name: Some("s".into()),
            automatic_failover_enabled: Some(true),
            ..req("r")
        };
        let plan = plan_create(&with_snapshot_layout(&restore, &shards), &ctx()).unwrap();
        assert!(plan.spec.cluster_mode.enabled());
        let layout: Vec<_> = plan
            .shards
            .iter()
            .map(|s| (s.id.clone(), s.slots.clone()))
            .collect();
        assert_eq!(
            layout,
            vec![
                ("0001".to_string(), shards[0].slots.clone()),
                ("0002".to_string(), shards[1].slots.clone())
            ]
        );
        assert_eq!(
            plan.new_member_zones
                .iter()
                .map(Vec::len)
                .collect::<Vec<_>>(),
            [3, 3]
        );
        let fewer_replicas = CreateGroupRequest {
            replicas_per_node_group: Some(1),
            ..restore.clone()
        };
        let plan = plan_create(&with_snapshot_layout(&fewer_replicas, &shards), &ctx()).unwrap();
        assert_eq!(
            plan.new_member_zones
                .iter()
                .map(Vec::len)
                .collect::<Vec<_>>(),
            [2, 2]
        );
        let resized = CreateGroupRequest {
            num_node_groups: Some(3),
            ..restore
        };
        let plan = plan_create(&with_snapshot_layout(&resized, &shards), &ctx()).unwrap();
        assert_eq!(plan.shards.len(), 3);
        assert_eq!(
            plan.shards[0].slots,
            crate::shard::SlotRange::even_split(3)[0..1]
        );
    }

    // Goal: the restore members answer as AWS does — SnapshotName kept (lower-cased), both
    // members a combination error, an ARN without an object path the guide's exact error, one S3
    // object kept as the source (two refused), a restored group reading `restore-failed` when a
    // member could not be seeded. Method: each case through `plan_create` and `status`.
    #[test]
    fn restore_rules() {
        let named = CreateGroupRequest {
            snapshot_name: Some("Nightly-1".into()),
            ..req("r")
        };
        assert_eq!(
            plan_create(&named, &ctx())
                .unwrap()
                .spec
                .restore_from
                .as_deref(),
            Some("nightly-1")
        );
        let bad_name = CreateGroupRequest {
            snapshot_name: Some("1bad".into()),
            ..req("r")
        };
        assert!(matches!(
            plan_create(&bad_name, &ctx()),
            Err(Fault::InvalidParameterValue(_))
        ));
        let both = CreateGroupRequest {
            snapshot_arns: vec!["arn:aws:s3:::b/k.rdb".into()],
            ..named.clone()
        };
        assert_eq!(
            plan_create(&both, &ctx()).unwrap_err(),
            Fault::combination("Only one of SnapshotName or SnapshotArns can be provided.")
        );
        let arn = "arn:aws:elasticache:us-east-1:123456789012:snapshot:x";
        for wrong in [
            arn,
            "arn:aws:s3:::bucket",
            "arn:aws:s3:::bucket/",
            "nightly",
        ] {
            let r = CreateGroupRequest {
                snapshot_arns: vec![wrong.into()],
                ..req("r")
            };
            assert_eq!(
                plan_create(&r, &ctx()).unwrap_err(),
                Fault::value(format!(
                    "Must specify an object path for the S3 ARN: {wrong}"
                )),
            );
        }
        let object = CreateGroupRequest {
            snapshot_arns: vec!["arn:aws:s3:::bucket/path/file.rdb".into()],
            ..req("r")
        };
        assert_eq!(
            plan_create(&object, &ctx())
                .unwrap()
                .spec
                .restore_from
                .as_deref(),
            Some("arn:aws:s3:::bucket/path/file.rdb")
        );
        let two = CreateGroupRequest {
            snapshot_arns: vec!["arn:aws:s3:::b/1.rdb".into(), "arn:aws:s3:::b/2.rdb".into()],
            ..req("r")
        };
        assert!(matches!(
            plan_create(&two, &ctx()),
            Err(Fault::InvalidParameterValue(_))
        ));
        assert!(check_restore_shape(1, 1).is_ok());
        assert!(matches!(
            check_restore_shape(1, 2),
            Err(Fault::InvalidParameterValue(_))
        ));

        let spec = plan_create(&named, &ctx()).unwrap().spec;
        let mut observed = GroupObserved {
            failed: Some("digest".into()),
            ..Default::default()
        };
        assert_eq!(status(&spec, Some(&observed)), GroupStatus::CreateFailed);
        observed.restore_failed = true;
        assert_eq!(status(&spec, Some(&observed)).as_str(), "restore-failed");
    }

    #[test]
    fn failover_lab_request_is_valid() {
        let r = CreateGroupRequest {
            engine: Some("redis".into()),
            engine_version: Some("7.0".into()),
            cache_node_type: Some("cache.t3.micro".into()),
            num_cache_clusters: Some(3),
            automatic_failover_enabled: Some(true),
            multi_az_enabled: Some(true),
            ..req("Practice-Redis-Replication-Multi")
        };
        let plan = plan_create(&r, &ctx()).unwrap();
        assert_eq!(plan.spec.id, "practice-redis-replication-multi");
        assert_eq!(plan.new_member_zones[0].len(), 3);
        assert_eq!(plan.spec.engine_version, "7.0.15");
        assert_eq!(plan.spec.port, 6379);
    }

    #[test]
    fn aws_rule_combinations() {
        let af1 = CreateGroupRequest {
            automatic_failover_enabled: Some(true),
            num_cache_clusters: Some(1),
            ..req("a")
        };
        assert_eq!(
            plan_create(&af1, &ctx()).unwrap_err(),
            Fault::combination("When using automatic failover, there must be at least 2 cache clusters in the replication group.")
        );
        let maz = CreateGroupRequest {
            multi_az_enabled: Some(true),
            num_cache_clusters: Some(2),
            ..req("a")
        };
        assert!(matches!(
            plan_create(&maz, &ctx()),
            Err(Fault::InvalidParameterCombination(_))
        ));
        let seven = CreateGroupRequest {
            num_cache_clusters: Some(7),
            ..req("a")
        };
        assert!(matches!(
            plan_create(&seven, &ctx()),
            Err(Fault::InvalidParameterValue(_))
        ));
        let rep6 = CreateGroupRequest {
            replicas_per_node_group: Some(6),
            ..req("a")
        };
        assert!(matches!(
            plan_create(&rep6, &ctx()),
            Err(Fault::InvalidParameterValue(_))
        ));
        let rep2 = CreateGroupRequest {
            replicas_per_node_group: Some(2),
            ..req("a")
        };
        assert_eq!(
            plan_create(&rep2, &ctx()).unwrap().new_member_zones[0].len(),
            3
        );
        let azs = CreateGroupRequest {
            num_cache_clusters: Some(2),
            preferred_cache_cluster_azs: vec!["us-east-1a".into()],
            ..req("a")
        };
        assert!(matches!(
            plan_create(&azs, &ctx()),
            Err(Fault::InvalidParameterCombination(_))
        ));
        let no_desc = CreateGroupRequest {
            description: None,
            ..req("a")
        };
        assert_eq!(
            plan_create(&no_desc, &ctx()).unwrap_err(),
            Fault::MissingParameter("ReplicationGroupDescription".into())
        );
        let bad_type = CreateGroupRequest {
            cache_node_type: Some("cache.q1.big".into()),
            ..req("a")
        };
        assert!(plan_create(&bad_type, &ctx()).is_err());
    }

    #[test]
    fn only_ipv4_networks_are_honoured() {
        let ipv4 = CreateGroupRequest {
            network: NetworkRequest {
                network_type: Some("ipv4".into()),
                ..Default::default()
            },
            ..req("a")
        };
        assert!(plan_create(&ipv4, &ctx()).is_ok());
        for network in [
            NetworkRequest {
                network_type: Some("ipv6".into()),
                ..Default::default()
            },
            NetworkRequest {
                ip_discovery: Some("ipv6".into()),
                ..Default::default()
            },
            NetworkRequest {
                network_type: Some("ipx".into()),
                ..Default::default()
            },
            NetworkRequest {
                transit_encryption_mode: Some("always".into()),
                ..Default::default()
            },
        ] {
            let r = CreateGroupRequest {
                network,
                ..req("a")
            };
            assert!(matches!(
                plan_create(&r, &ctx()),
                Err(Fault::InvalidParameterValue(_))
            ));
        }
    }

    #[test]
    fn test_failover_rules_and_rate_limit() {
        let mut spec = plan_create(
            &CreateGroupRequest {
                num_cache_clusters: Some(2),
                automatic_failover_enabled: Some(true),
                ..req("a")
            },
            &ctx(),
        )
        .unwrap()
        .spec;
        let shards = crate::shard::shard_ids(1);
        let now = chrono::Utc::now();
        assert!(matches!(
            check_test_failover(&spec, "0002", &shards, 1, now),
            Err(Fault::NodeGroupNotFound(_))
        ));
        assert!(matches!(
            check_test_failover(&spec, &shards[0], &shards, 0, now),
            Err(Fault::TestFailoverNotAvailable(_))
        ));
        for i in 0..TEST_FAILOVERS_PER_DAY_MAX {
            spec.test_failover_calls = check_test_failover(
                &spec,
                &shards[0],
                &shards,
                1,
                now + chrono::Duration::minutes(i as i64),
            )
            .unwrap();
        }
        let later = now + chrono::Duration::hours(1);
        assert!(matches!(
            check_test_failover(&spec, &shards[0], &shards, 1, later),
            Err(Fault::ApiCallRateForCustomerExceeded(_))
        ));
        let next_day = now + chrono::Duration::hours(25);
        assert!(check_test_failover(&spec, &shards[0], &shards, 1, next_day).is_ok());
        spec.automatic_failover = false;
        assert!(matches!(
            check_test_failover(&spec, &shards[0], &shards, 1, now),
            Err(Fault::InvalidReplicationGroupState(_))
        ));
    }

    #[test]
    fn only_replicas_in_sync_are_eligible() {
        use std::time::Duration;
        assert!(replica_eligible(false, None, Duration::ZERO));
        assert!(
            !replica_eligible(true, None, Duration::ZERO),
            "mid full sync"
        );
        assert!(
            !replica_eligible(false, Some(-1), Duration::from_secs(60)),
            "never synced"
        );
        assert!(replica_eligible(false, Some(3), Duration::from_secs(2)));
        assert!(replica_eligible(false, Some(12), Duration::from_secs(2)));
        assert!(
            !replica_eligible(false, Some(13), Duration::from_secs(2)),
            "lost it earlier"
        );
        assert!(replica_eligible(false, Some(60), Duration::from_secs(55)));
    }

    #[test]
    fn failover_prefers_offset_then_other_zone_then_lowest_id() {
        let c = |id: &str, offset, zone: &str| FailoverCandidate {
            id: id.into(),
            offset,
            zone: zone.into(),
        };
        let pick = |cs: &[FailoverCandidate], multi_az| {
            failover_target(cs, Some("us-east-1a"), multi_az).map(|c| c.id.clone())
        };
        assert_eq!(pick(&[], true), None);
        let cs = [c("g-002", 100, "us-east-1b"), c("g-003", 120, "us-east-1a")];
        assert_eq!(pick(&cs, true).as_deref(), Some("g-003"));
        let cs = [
            c("g-003", 100, "us-east-1a"),
            c("g-002", 100, "us-east-1a"),
            c("g-004", 100, "us-east-1c"),
        ];
        assert_eq!(pick(&cs, true).as_deref(), Some("g-004"));
        assert_eq!(pick(&cs, false).as_deref(), Some("g-002"));
    }

    #[test]
    fn windows() {
        assert_eq!(
            maintenance_window("Sun:05:00-Sun:06:00").unwrap(),
            "sun:05:00-sun:06:00"
        );
        assert!(maintenance_window("sun:05:00-sun:05:30").is_err());
        assert!(maintenance_window("sat:23:30-sun:00:30").is_ok());
        assert!(snapshot_window("05:00-09:00").is_ok());
        assert!(snapshot_window("5-9").is_err());
    }

    #[test]
    fn replica_counts() {
        assert_eq!(check_increase(2, Some(3)).unwrap(), 3);
        assert!(check_increase(2, Some(2)).is_err());
        assert!(check_increase(2, Some(6)).is_err());
        assert!(check_decrease(2, 0, true).is_err());
        assert_eq!(check_decrease(2, 1, true).unwrap(), 1);
        assert!(check_decrease(1, 1, false).is_err());
    }

    #[test]
    fn status_is_derived() {
        let mut spec = plan_create(&req("a"), &ctx()).unwrap().spec;
        assert_eq!(status(&spec, None), GroupStatus::Creating);
        let obs = GroupObserved {
            created: true,
            generation: 1,
            ..Default::default()
        };
        assert_eq!(status(&spec, Some(&obs)), GroupStatus::Available);
        spec.generation = 2;
        assert_eq!(status(&spec, Some(&obs)), GroupStatus::Modifying);
        spec.deletion = Some(GroupDeletion {
            retain_primary: false,
        });
        assert_eq!(status(&spec, Some(&obs)), GroupStatus::Deleting);
    }

    // Goal: cluster mode follows the parameter group and the shard count as on AWS: asking for
    // shards without a parameter group picks `default.redis7.cluster.on`; a non-cluster group
    // with shards, or `ClusterMode=disabled` with a cluster group, is refused with AWS's words;
    // automatic failover is required. Method: each case through `plan_create`.
    #[test]
    fn cluster_mode_rules() {
        let sharded = CreateGroupRequest {
            num_node_groups: Some(3),
            replicas_per_node_group: Some(2),
            automatic_failover_enabled: Some(true),
            ..req("c")
        };
        let plan = plan_create(&sharded, &ctx()).unwrap();
        assert_eq!(plan.spec.cluster_mode, ClusterMode::Enabled);
        assert_eq!(plan.spec.parameter_group, "default.redis7.cluster.on");
        assert_eq!(
            plan.shards
                .iter()
                .map(|s| s.id.as_str())
                .collect::<Vec<_>>(),
            ["0001", "0002", "0003"]
        );
        assert_eq!(
            plan.shards
                .iter()
                .map(|s| crate::shard::SlotRange::format_list(&s.slots))
                .collect::<Vec<_>>(),
            ["0-5461", "5462-10922", "10923-16383"]
        );
        assert!(plan.new_member_zones.iter().all(|z| z.len() == 3));

        let no_failover = CreateGroupRequest {
            automatic_failover_enabled: None,
            ..sharded.clone()
        };
        assert!(matches!(
            plan_create(&no_failover, &ctx()),
            Err(Fault::InvalidParameterCombination(m)) if m.contains("AutomaticFailoverEnabled must be enabled")
        ));
        let plain_group = CreateGroupRequest {
            cache_parameter_group_name: Some("mine".into()),
            ..sharded.clone()
        };
        let plain_ctx = CreateContext {
            parameter_group_cluster_enabled: Some(false),
            ..ctx()
        };
        assert!(matches!(
            plan_create(&plain_group, &plain_ctx),
            Err(Fault::InvalidParameterCombination(m))
                if m == "Cluster mode should be enabled in parameter group, but found it is disabled."
        ));
        let cluster_ctx = CreateContext {
            parameter_group_cluster_enabled: Some(true),
            ..ctx()
        };
        let one_shard_on = CreateGroupRequest {
            cache_parameter_group_name: Some("mine-on".into()),
            replicas_per_node_group: Some(1),
            automatic_failover_enabled: Some(true),
            ..req("c1")
        };
        let plan = plan_create(&one_shard_on, &cluster_ctx).unwrap();
        assert!(plan.spec.cluster_mode.enabled());
        assert_eq!(plan.shards.len(), 1);
        assert_eq!(plan.shards[0].slots, crate::shard::SlotRange::even_split(1));
        let disabled = CreateGroupRequest {
            cluster_mode: Some("disabled".into()),
            ..one_shard_on.clone()
        };
        assert!(matches!(
            plan_create(&disabled, &cluster_ctx),
            Err(Fault::InvalidParameterCombination(m))
                if m == "Cluster mode should be disabled in parameter group, but found it is enabled."
        ));
        let too_many = CreateGroupRequest {
            num_node_groups: Some(91),
            ..sharded.clone()
        };
        assert!(matches!(
            plan_create(&too_many, &ctx()),
            Err(Fault::NodeGroupsPerReplicationGroupQuotaExceeded(_))
        ));
        let with_clusters = CreateGroupRequest {
            num_cache_clusters: Some(3),
            ..sharded
        };
        assert!(matches!(
            plan_create(&with_clusters, &ctx()),
            Err(Fault::InvalidParameterCombination(_))
        ));
    }

    // Goal: NodeGroupConfiguration lays out each shard — ids (padded to four digits), slots
    // that must cover 0-16383 once, replica counts and zones — and its mistakes are refused.
    // Method: the ksqlDB module's layout, then a gap, slots on some entries only, a duplicate
    // id, a zone count that does not match.
    #[test]
    fn node_group_configuration() {
        let entry = |id: &str, slots: &str, replicas: i64| NodeGroupRequest {
            node_group_id: Some(id.into()),
            slots: Some(slots.into()),
            replica_count: Some(replicas),
            ..Default::default()
        };
        let layout = CreateGroupRequest {
            automatic_failover_enabled: Some(true),
            cluster_mode: Some("enabled".into()),
            node_group_configuration: vec![
                entry("1", "0-5460", 2),
                entry("0002", "5461-10921", 1),
                NodeGroupRequest {
                    primary_availability_zone: Some("us-east-1b".into()),
                    replica_availability_zones: vec!["us-east-1c".into()],
                    ..entry("3", "10922-16383", 1)
                },
            ],
            ..req("k")
        };
        let plan = plan_create(&layout, &ctx()).unwrap();
        assert_eq!(
            plan.shards
                .iter()
                .map(|s| s.id.as_str())
                .collect::<Vec<_>>(),
            ["0001", "0002", "0003"]
        );
        assert_eq!(
            crate::shard::SlotRange::format_list(&plan.shards[1].slots),
            "5461-10921"
        );
        assert_eq!(
            plan.new_member_zones
                .iter()
                .map(Vec::len)
                .collect::<Vec<_>>(),
            [3, 2, 2]
        );
        assert_eq!(
            plan.new_member_zones[2],
            [
                Some("us-east-1b".to_string()),
                Some("us-east-1c".to_string())
            ]
        );

        let mut gap = layout.clone();
        gap.node_group_configuration[1].slots = Some("5462-10921".into());
        assert!(matches!(
            plan_create(&gap, &ctx()),
            Err(Fault::InvalidParameterValue(m)) if m.contains("Slot 5461 is not assigned")
        ));
        let mut some = layout.clone();
        some.node_group_configuration[0].slots = None;
        assert!(matches!(
            plan_create(&some, &ctx()),
            Err(Fault::InvalidParameterCombination(_))
        ));
        let mut twice = layout.clone();
        twice.node_group_configuration[1].node_group_id = Some("0001".into());
        assert!(matches!(
            plan_create(&twice, &ctx()),
            Err(Fault::InvalidParameterValue(m)) if m.contains("Duplicate NodeGroupId 0001")
        ));
        let mut zones = layout.clone();
        zones.node_group_configuration[2]
            .replica_availability_zones
            .push("us-east-1a".into());
        assert!(matches!(
            plan_create(&zones, &ctx()),
            Err(Fault::InvalidParameterCombination(_))
        ));
        let mut bad_id = layout;
        bad_id.node_group_configuration[0].node_group_id = Some("00001".into());
        assert!(matches!(
            plan_create(&bad_id, &ctx()),
            Err(Fault::InvalidParameterValue(_))
        ));
    }
}
