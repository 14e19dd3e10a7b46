//! Snapshots (backups): spec, observed facts, the status derived from them, and the rules of
//! `CreateSnapshot` / `DescribeSnapshots` / `DeleteSnapshot`, exports and automatic snapshots.
//!
//! A snapshot of a cluster-mode-disabled group or of a cache cluster is the RDB file of one
//! node plus a manifest. The spec records what the snapshot is of — copied from the source when
//! the API accepted it, so the snapshot still describes its source after the source is gone —
//! and which node the RDB is taken from. Observed facts (written only by the control plane)
//! say whether the file is complete. A snapshot is `available` only once its files are on disk
//! under their final name.

use serde::{Deserialize, Serialize};

use crate::shard::SlotRange;
use crate::{ids, tag::Tag, Fault, Timestamp};

/// Longest `SnapshotName`.
pub const SNAPSHOT_NAME_LEN_MAX: usize = 255;
/// Most snapshots one region holds (Ferrocache's limit: each is a full copy of a node's data
/// on the local disk). Crossing it is `SnapshotQuotaExceededFault`.
pub const SNAPSHOTS_PER_REGION_MAX: usize = 1000;

/// `Snapshot.SnapshotSource`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SnapshotSource {
    /// `manual`: taken by `CreateSnapshot`.
    Manual,
    /// `automated`: taken in the `SnapshotWindow` (`SnapshotRetentionLimit` > 0).
    Automated,
}

impl SnapshotSource {
    /// The wire spelling of `Snapshot.SnapshotSource`.
    pub fn as_str(self) -> &'static str {
        match self {
            SnapshotSource::Manual => "manual",
            SnapshotSource::Automated => "automated",
        }
    }

    /// Parses the `DescribeSnapshots` `SnapshotSource` filter: AWS documents `user` and
    /// `system`; the values it prints (`manual`, `automated`) are accepted too.
    ///
    /// # Errors
    /// [`Fault::InvalidParameterValue`] for any other value.
    pub fn parse_filter(value: &str) -> Result<Self, Fault> {
        match value {
            "user" | "manual" => Ok(SnapshotSource::Manual),
            "system" | "automated" => Ok(SnapshotSource::Automated),
            other => Err(Fault::value(format!(
                "Invalid value '{other}' for SnapshotSource. Valid values are: user, system."
            ))),
        }
    }
}

/// What the API asked for, with the source's description captured at creation. Written only by
/// API calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotSpec {
    /// `SnapshotName`, lower-case.
    pub name: String,
    /// Region from the request's SigV4 scope.
    pub region: String,
    /// `SnapshotSource`.
    pub source: SnapshotSource,
    /// `CacheClusterId`: the cache cluster the request named (`None` when it named a group).
    pub cache_cluster_id: Option<String>,
    /// `ReplicationGroupId`: the group of the source, if any.
    pub group_id: Option<String>,
    /// `ReplicationGroupDescription` of that group.
    pub group_description: Option<String>,
    /// The node whose RDB is taken (for a group: a healthy replica if there is one).
    pub node_id: String,
    /// `CacheNodeType` of the source.
    pub node_type: String,
    /// `Engine`.
    pub engine: String,
    /// `EngineVersion`.
    pub engine_version: String,
    /// `Port`.
    pub port: u16,
    /// `CacheParameterGroupName`.
    pub parameter_group: String,
    /// `CacheSubnetGroupName`.
    pub subnet_group: String,
    /// `PreferredAvailabilityZone` of the node the RDB is taken from.
    pub zone: Option<String>,
    /// `CacheClusterCreateTime` of the source.
    pub source_created_at: Timestamp,
    /// `NodeSnapshots[].CacheNodeCreateTime`.
    pub node_created_at: Option<Timestamp>,
    /// `PreferredMaintenanceWindow`.
    pub maintenance_window: String,
    /// `SnapshotRetentionLimit` of the source.
    pub snapshot_retention_limit: u32,
    /// `SnapshotWindow` of the source.
    pub snapshot_window: String,
    /// `AutoMinorVersionUpgrade`.
    pub auto_minor_version_upgrade: bool,
    /// `AutomaticFailover` of the source group.
    pub automatic_failover: Option<bool>,
    /// Replicas in the source's node group (`NodeGroupConfiguration.ReplicaCount`).
    pub replica_count: u32,
    /// Tags.
    pub tags: Vec<Tag>,
    /// When `CreateSnapshot` was accepted.
    pub created_at: Timestamp,
    /// Set by `DeleteSnapshot`; the control plane removes the files, then the records.
    #[serde(default)]
    pub deleting: bool,
    /// `CopySnapshot`: the snapshot whose files this one copies (no node is saved then; the
    /// source's description above was copied with it).
    #[serde(default)]
    pub copied_from: Option<String>,
    /// `CopySnapshot` with `TargetBucket`: exports of this snapshot to the object store, in the
    /// order they were asked for; [`SnapshotObserved::exports_done`] of them are finished.
    #[serde(default)]
    pub exports: Vec<SnapshotExport>,
    /// An automatic snapshot: the start of the `SnapshotWindow` occurrence it was taken in (one
    /// per occurrence; `None` for every other snapshot).
    #[serde(default)]
    pub automatic_window: Option<Timestamp>,
    /// `NodeGroupId` of the shard the snapshot was taken on (`None` for a standalone cache
    /// cluster, and for records from before shards existed).
    #[serde(default)]
    pub shard_id: Option<String>,
    /// A cluster-mode group's snapshot: one RDB per shard, each taken from the node named here
    /// (empty for every other snapshot, whose one RDB comes from [`SnapshotSpec::node_id`]).
    #[serde(default)]
    pub shards: Vec<SnapshotShard>,
}

/// One shard of a cluster-mode group's snapshot: where its RDB is taken from and what the shard
/// was (`NodeSnapshots[]`, `NodeGroupConfiguration`), captured when the snapshot was accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotShard {
    /// `NodeGroupId`.
    pub shard_id: String,
    /// The member whose RDB is taken (a healthy replica if the shard has one).
    pub node_id: String,
    /// The slots the shard served (`NodeGroupConfiguration.Slots`).
    pub slots: Vec<SlotRange>,
    /// `PreferredAvailabilityZone` of that member.
    pub zone: Option<String>,
    /// `CacheNodeCreateTime` of that member.
    pub node_created_at: Option<Timestamp>,
    /// `NodeGroupConfiguration.ReplicaCount`.
    pub replica_count: u32,
}

/// The name of the RDB file of shard `shard_id` in a cluster-mode snapshot's directory.
pub fn shard_file_name(shard_id: &str) -> String {
    format!("{shard_id}.rdb")
}

/// Prefix of automatic snapshot names (`automatic.<id>-YYYY-MM-DD-HH-MM`).
pub const AUTOMATIC_PREFIX: &str = "automatic.";

/// The name of an automatic snapshot of `source_id` (group or cache cluster) taken at `at`, as
/// ElastiCache names them: `automatic.<id>-YYYY-MM-DD-HH-MM` (UTC).
pub fn automatic_name(source_id: &str, at: Timestamp) -> String {
    format!(
        "{AUTOMATIC_PREFIX}{source_id}-{}",
        at.format("%Y-%m-%d-%H-%M")
    )
}

/// Validates the name of an existing snapshot to restore or copy from: a user's name
/// ([`snapshot_name`]) or an automatic one (`automatic.` plus a valid name); lower-cased.
///
/// # Errors
/// [`Fault::InvalidParameterValue`] with AWS's identifier wording.
pub fn existing_snapshot_name(value: &str) -> Result<String, Fault> {
    match value.get(..AUTOMATIC_PREFIX.len()) {
        Some(prefix) if prefix.eq_ignore_ascii_case(AUTOMATIC_PREFIX) => {
            let rest = snapshot_name(&value[AUTOMATIC_PREFIX.len()..])?;
            Ok(format!("{AUTOMATIC_PREFIX}{rest}"))
        }
        _ => snapshot_name(value),
    }
}

/// Parses a `SnapshotWindow` (`hh24:mi-hh24:mi`, UTC) into its start and end as minutes of the
/// day.
pub fn parse_window(window: &str) -> Option<(u32, u32)> {
    let (a, b) = window.split_once('-')?;
    Some((crate::group::hhmm(a)?, crate::group::hhmm(b)?))
}

/// The start of the occurrence of `window` that `now` falls in, if it falls in one. A window
/// may cross midnight (`23:30-00:30`); one whose start equals its end lasts a whole day.
pub fn window_containing(window: &str, now: Timestamp) -> Option<Timestamp> {
    use chrono::{Duration, NaiveTime, Timelike};
    let (start, end) = parse_window(window)?;
    let length = match (end + 24 * 60 - start) % (24 * 60) {
        0 => 24 * 60,
        n => n,
    };
    let start_time = NaiveTime::from_hms_opt(start / 60, start % 60, 0)?;
    let today = now
        .date_naive()
        .and_time(start_time)
        .and_utc()
        .with_nanosecond(0)?;
    [today, today - Duration::days(1)]
        .into_iter()
        .find(|s| *s <= now && now < *s + Duration::minutes(i64::from(length)))
}

/// The start of the next occurrence of `window` after `now` (strictly later).
pub fn next_window_start(window: &str, now: Timestamp) -> Option<Timestamp> {
    use chrono::{Duration, NaiveTime, Timelike};
    let (start, _) = parse_window(window)?;
    let start_time = NaiveTime::from_hms_opt(start / 60, start % 60, 0)?;
    let today = now
        .date_naive()
        .and_time(start_time)
        .and_utc()
        .with_nanosecond(0)?;
    [today, today + Duration::days(1)]
        .into_iter()
        .find(|s| *s > now)
}

impl SnapshotSpec {
    /// The `NodeGroupId` its RDB file belongs to (the only shard, `0001`, when unknown).
    pub fn node_group_id(&self) -> String {
        self.shard_id
            .clone()
            .unwrap_or_else(|| crate::ids::shard_id(1))
    }

    /// Every node a save is taken from: each shard's for a cluster-mode group, else the one.
    pub fn nodes(&self) -> impl Iterator<Item = &str> + '_ {
        let single = self.shards.is_empty().then_some(self.node_id.as_str());
        single
            .into_iter()
            .chain(self.shards.iter().map(|s| s.node_id.as_str()))
    }

    /// The shards the snapshot holds, as a cluster-mode restore lays them out: a cluster-mode
    /// group's, or the one shard (every slot) of any other source.
    pub fn layout(&self) -> Vec<SnapshotShard> {
        if !self.shards.is_empty() {
            return self.shards.clone();
        }
        vec![SnapshotShard {
            shard_id: self.node_group_id(),
            node_id: self.node_id.clone(),
            slots: SlotRange::even_split(1),
            zone: self.zone.clone(),
            node_created_at: self.node_created_at,
            replica_count: self.replica_count,
        }]
    }

    /// `NumNodeGroups`: how many shards (RDB files) the snapshot holds.
    pub fn num_node_groups(&self) -> u32 {
        (self.shards.len() as u32).max(1)
    }

    /// The id of the resource the snapshot was taken of, as automatic snapshots are grouped:
    /// the replication group, else the cache cluster named, else the node.
    pub fn source_id(&self) -> &str {
        self.group_id
            .as_deref()
            .or(self.cache_cluster_id.as_deref())
            .unwrap_or(&self.node_id)
    }
}

/// The automatic snapshots to delete so that at most `limit` remain: the oldest first.
/// `snapshots` are `(name, created_at)` of one source's automatic snapshots.
pub fn beyond_retention(mut snapshots: Vec<(String, Timestamp)>, limit: u32) -> Vec<String> {
    snapshots.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    let excess = snapshots.len().saturating_sub(limit as usize);
    snapshots.into_iter().take(excess).map(|(n, _)| n).collect()
}

/// One export of a snapshot to an S3 bucket (`CopySnapshot --target-bucket`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotExport {
    /// `TargetBucket`.
    pub bucket: String,
    /// `TargetSnapshotName`: the exported objects are named after it ([`export_object_key`]).
    pub target_name: String,
    /// When `CopySnapshot` was accepted.
    pub requested_at: Timestamp,
}

/// The object an export writes for node group `node_group_id`: `<target>-<node group>.rdb`,
/// as ElastiCache names exported RDB files (`my-export-0001.rdb`).
pub fn export_object_key(target_name: &str, node_group_id: &str) -> String {
    format!("{target_name}-{node_group_id}.rdb")
}

/// The object holding an export's manifest (Ferrocache's addition: sizes, SHA-256 and key
/// counts of the RDB files beside it).
pub fn export_manifest_key(target_name: &str) -> String {
    format!("{target_name}-manifest.json")
}

/// The S3 object a restore seeds from, when `restore_from` (see
/// [`crate::group::restore_source`]) is an `arn:aws:s3:::bucket/key` rather than a snapshot
/// name: `(bucket, key)`.
pub fn s3_object(restore_from: &str) -> Option<(&str, &str)> {
    restore_from
        .strip_prefix("arn:aws:s3:::")
        .and_then(|rest| rest.split_once('/'))
        .filter(|(bucket, key)| !bucket.is_empty() && !key.is_empty())
}

/// How far the control plane got with a snapshot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SnapshotPhase {
    /// The RDB is being written or copied.
    #[default]
    Saving,
    /// The files are complete under their final name.
    Available,
    /// The snapshot could not be taken (`failure` says why).
    Failed,
}

/// Facts the control plane last confirmed about a snapshot. Written only by the control plane.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotObserved {
    /// See [`SnapshotPhase`].
    pub phase: SnapshotPhase,
    /// `run_id` of the node process our `BGSAVE` was accepted by; `None` until then.
    #[serde(default)]
    pub bgsave_run_id: Option<String>,
    /// `run_id` of the node process the snapshot is taken from, recorded before any save is
    /// asked: a different process later (the node restarted, with data saved at another
    /// moment) fails the snapshot rather than taking it from other data (see [`save_source`]).
    #[serde(default)]
    pub source_run_id: Option<String>,
    /// Keys the node held when its save began (sum over databases).
    #[serde(default)]
    pub key_count: u64,
    /// `DEBUG DIGEST` of the saved data, when it could be taken at the save's fork.
    #[serde(default)]
    pub digest: Option<String>,
    /// Size of the RDB file in bytes.
    #[serde(default)]
    pub size_bytes: u64,
    /// SHA-256 of the RDB file, lower-case hex.
    #[serde(default)]
    pub sha256: Option<String>,
    /// When the files were complete (`SnapshotCreateTime`).
    #[serde(default)]
    pub completed_at: Option<Timestamp>,
    /// Why the snapshot failed.
    #[serde(default)]
    pub failure: Option<String>,
    /// How many of [`SnapshotSpec::exports`] are finished (uploaded, or failed with an event).
    #[serde(default)]
    pub exports_done: usize,
    /// A cluster-mode group's snapshot: the save of each of [`SnapshotSpec::shards`], in order.
    #[serde(default)]
    pub shards: Vec<ShardSave>,
    /// The host whose data directory holds the files, when several hosts share the store
    /// (the one that led when they were written); `None`: a single host's.
    #[serde(default)]
    pub held_by: Option<String>,
}

/// How far the save of one shard of a cluster-mode snapshot got.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardSave {
    /// `run_id` of the node process our `BGSAVE` was accepted by (see
    /// [`SnapshotObserved::bgsave_run_id`]).
    pub bgsave_run_id: Option<String>,
    /// `run_id` of the process the shard's file is taken from (see
    /// [`SnapshotObserved::source_run_id`]).
    #[serde(default)]
    pub source_run_id: Option<String>,
    /// Keys the node held when its save began.
    pub key_count: u64,
    /// `DEBUG DIGEST` of the saved data, when taken.
    pub digest: Option<String>,
    /// The RDB copied into the snapshot's temporary directory and synced: its size and SHA-256.
    pub copied: Option<(u64, String)>,
    /// The key the copy is sealed with (encryption at rest).
    #[serde(default)]
    pub sealed_with: Option<String>,
}

/// Whether a snapshot's save still comes from the node process it began with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveSource {
    /// No process recorded yet: record this one before asking for a save.
    Unrecorded,
    /// The process the snapshot began with.
    Same,
    /// Another process: the node restarted since, its data is from another moment.
    Restarted,
}

/// Compares the process a snapshot began with (`recorded`; a record from before
/// `source_run_id` existed names it by the accepted save's `legacy` run id) with the one the
/// node runs now.
pub fn save_source(recorded: Option<&str>, legacy: Option<&str>, current: &str) -> SaveSource {
    match recorded.or(legacy) {
        None => SaveSource::Unrecorded,
        Some(id) if id == current => SaveSource::Same,
        Some(_) => SaveSource::Restarted,
    }
}

/// `Snapshot.SnapshotStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SnapshotStatus {
    /// `creating`
    Creating,
    /// `available`
    Available,
    /// `failed`
    Failed,
    /// `deleting`
    Deleting,
    /// `copying`: an export to an S3 bucket is under way (the files are complete; the snapshot
    /// cannot be deleted or exported again until it is done).
    Copying,
}

impl SnapshotStatus {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SnapshotStatus::Creating => "creating",
            SnapshotStatus::Available => "available",
            SnapshotStatus::Failed => "failed",
            SnapshotStatus::Deleting => "deleting",
            SnapshotStatus::Copying => "copying",
        }
    }
}

/// The status a client sees, derived from spec and observed facts.
pub fn status(spec: &SnapshotSpec, observed: Option<&SnapshotObserved>) -> SnapshotStatus {
    if spec.deleting {
        return SnapshotStatus::Deleting;
    }
    match observed.map(|o| o.phase) {
        Some(SnapshotPhase::Available)
            if observed.is_some_and(|o| o.exports_done < spec.exports.len()) =>
        {
            SnapshotStatus::Copying
        }
        Some(SnapshotPhase::Available) => SnapshotStatus::Available,
        Some(SnapshotPhase::Failed) => SnapshotStatus::Failed,
        Some(SnapshotPhase::Saving) | None => SnapshotStatus::Creating,
    }
}

/// Validates a `SnapshotName` (the shared identifier rule, up to [`SNAPSHOT_NAME_LEN_MAX`]) and
/// returns it lower-cased, as AWS stores it.
///
/// # Errors
/// [`Fault::InvalidParameterValue`] with AWS's identifier wording.
pub fn snapshot_name(value: &str) -> Result<String, Fault> {
    ids::identifier("SnapshotName", value, SNAPSHOT_NAME_LEN_MAX)
}

/// Checks the exactly-one-source rule of `CreateSnapshot`.
///
/// # Errors
/// `InvalidParameterCombination` for both, `InvalidParameterValue` for neither (AWS's words).
pub fn check_source(cluster: Option<&str>, group: Option<&str>) -> Result<(), Fault> {
    match (cluster, group) {
        (Some(_), Some(_)) => Err(Fault::combination(
            "Only one of CacheClusterId or ReplicationGroupId can be provided.",
        )),
        (None, None) => Err(Fault::value(
            "One of CacheClusterId or ReplicationGroupId must be provided.",
        )),
        _ => Ok(()),
    }
}

/// Checks that a region can hold one more snapshot.
///
/// # Errors
/// [`Fault::SnapshotQuotaExceeded`] past [`SNAPSHOTS_PER_REGION_MAX`].
pub fn check_quota(existing: usize) -> Result<(), Fault> {
    if existing >= SNAPSHOTS_PER_REGION_MAX {
        return Err(Fault::SnapshotQuotaExceeded(
            "The request cannot be processed because it would exceed the maximum number of snapshots."
                .into(),
        ));
    }
    Ok(())
}

/// `NodeSnapshots[].CacheSize` as AWS prints it (`"5 MB"`, rounded up); empty while creating.
pub fn cache_size(observed: Option<&SnapshotObserved>) -> String {
    match observed {
        Some(o) if o.phase == SnapshotPhase::Available => {
            format!("{} MB", o.size_bytes.div_ceil(1024 * 1024))
        }
        _ => String::new(),
    }
}

/// `NodeSnapshots[index].CacheSize` of a cluster-mode snapshot: the size of that shard's RDB,
/// as [`cache_size`] prints it; empty while creating.
pub fn shard_cache_size(observed: Option<&SnapshotObserved>, index: usize) -> String {
    match observed {
        Some(o) if o.phase == SnapshotPhase::Available => o
            .shards
            .get(index)
            .and_then(|s| s.copied.as_ref())
            .map(|(size, _)| format!("{} MB", size.div_ceil(1024 * 1024)))
            .unwrap_or_default(),
        _ => String::new(),
    }
}

/// The snapshot event texts (`shared/reference/elasticache-behaviour.md` §1.6).
pub mod text {
    /// A snapshot taken from a cache cluster finished.
    pub fn snapshot_succeeded_cluster(name: &str, cluster_id: &str) -> String {
        format!("Snapshot succeeded for snapshot with ID '{name}' of cache cluster with ID '{cluster_id}'")
    }
    /// A snapshot taken from a replication group finished.
    pub fn snapshot_succeeded_group(name: &str, group_id: &str) -> String {
        format!("Snapshot succeeded for snapshot with ID '{name}' of replication group with ID '{group_id}'")
    }
    /// A snapshot taken from a cache cluster failed.
    pub fn snapshot_failed_cluster(name: &str, cluster_id: &str) -> String {
        format!(
            "Snapshot failed for snapshot with ID '{name}' of cache cluster with ID '{cluster_id}'"
        )
    }
    /// A snapshot taken from a replication group failed (AWS's wording inferred from the
    /// cluster text).
    pub fn snapshot_failed_group(name: &str, group_id: &str) -> String {
        format!("Snapshot failed for snapshot with ID '{name}' of replication group with ID '{group_id}'")
    }
    /// Why a snapshot failed: recorded beside AWS's own text (which names no cause).
    pub fn snapshot_failed_because(name: &str, reason: &str) -> String {
        format!("Snapshot with ID '{name}' failed: {reason}")
    }
    /// The cause of a snapshot whose node restarted before its save was copied.
    pub fn source_restarted(cache_cluster_id: &str) -> String {
        format!(
            "cache cluster {cache_cluster_id} restarted before its save was copied; a snapshot \
             is never taken from data of another moment"
        )
    }
    /// A node group's primary is being seeded from a snapshot (the restoration guide's wording;
    /// recorded on the group and on its primary cache cluster).
    pub fn restore_in_progress(node_group_id: &str) -> String {
        format!("Restore from snapshot is in progress for node group {node_group_id}")
    }
    /// The node group's primary loaded the snapshot and serves.
    pub fn restore_succeeded(node_group_id: &str) -> String {
        format!("Restore from snapshot succeeded for node group {node_group_id}")
    }
    /// A node could not be seeded (AWS's `CacheClusterRestoreFailed` template; the cluster goes
    /// `restore-failed`).
    pub fn restore_failed(source: &str, cache_node_id: &str) -> String {
        format!("Restore from {source} failed for node {cache_node_id}")
    }
    /// Why the restore failed (Ferrocache's wording; AWS's event says only that it did).
    pub fn restore_failed_reason(source: &str, reason: &str) -> String {
        format!("Restore from snapshot {source} failed: {reason}")
    }
    /// The restored primary holds as many keys as the snapshot's manifest records (Ferrocache's
    /// verification; no dataset digest is compared yet, and the text says so).
    pub fn restore_verified(keys: u64) -> String {
        format!("Restore verified: {keys} keys match the snapshot (key count checked; no dataset digest)")
    }
    /// The restored primary holds the snapshot's key count and its dataset digest matches the
    /// one taken when the save forked (Ferrocache's verification).
    pub fn restore_verified_digest(keys: u64) -> String {
        format!("Restore verified: {keys} keys, digest matches")
    }
    /// The restored dataset's digest differs from the snapshot's.
    pub fn restore_digest_mismatch(keys: u64, actual: &str, expected: &str) -> String {
        format!("Restore verification failed: {keys} keys, but the dataset digest {actual} differs from the snapshot's {expected}")
    }
    /// The node was seeded from an S3 object, which has no manifest to verify against.
    pub fn restore_loaded_object(keys: u64, arn: &str) -> String {
        format!("Restore loaded {keys} keys from {arn} (an RDB object has no manifest to verify against)")
    }
    /// A snapshot was exported to an S3 bucket (Ferrocache's event; AWS documents none).
    pub fn export_succeeded(name: &str, bucket: &str, key: &str) -> String {
        format!("Snapshot '{name}' exported to S3 bucket {bucket} as {key}")
    }
    /// An export failed; the snapshot itself is untouched.
    pub fn export_failed(name: &str, bucket: &str, reason: &str) -> String {
        format!("Export of snapshot '{name}' to S3 bucket {bucket} failed: {reason}")
    }
    /// The restored primary's key count differs from the manifest's. Not a failure: the manifest
    /// counts keys when the save began, and keys that expired since are not loaded.
    pub fn restore_mismatch(keys: u64, expected: u64) -> String {
        format!("Restore verification: the node holds {keys} keys but the snapshot's manifest records {expected} (keys written during the save or expired since are counted differently)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Goal: a snapshot's save is taken only from the process it began with, also for records
    // written before the process was recorded on its own. Method: every combination.
    #[test]
    fn save_source_follows_the_first_process() {
        assert_eq!(save_source(None, None, "a"), SaveSource::Unrecorded);
        assert_eq!(save_source(Some("a"), None, "a"), SaveSource::Same);
        assert_eq!(save_source(Some("a"), Some("b"), "a"), SaveSource::Same);
        assert_eq!(save_source(Some("a"), None, "b"), SaveSource::Restarted);
        assert_eq!(save_source(None, Some("a"), "a"), SaveSource::Same);
        assert_eq!(save_source(None, Some("a"), "b"), SaveSource::Restarted);
    }

    fn spec() -> SnapshotSpec {
        SnapshotSpec {
            name: "s".into(),
            region: "us-east-1".into(),
            source: SnapshotSource::Manual,
            cache_cluster_id: Some("c".into()),
            group_id: None,
            group_description: None,
            node_id: "c".into(),
            node_type: "cache.t3.micro".into(),
            engine: "redis".into(),
            engine_version: "7.0.15".into(),
            port: 6379,
            parameter_group: "default.redis7".into(),
            subnet_group: "default".into(),
            zone: None,
            source_created_at: chrono::Utc::now(),
            node_created_at: None,
            maintenance_window: "sun:23:00-mon:01:30".into(),
            snapshot_retention_limit: 0,
            snapshot_window: "05:00-06:00".into(),
            auto_minor_version_upgrade: true,
            automatic_failover: None,
            replica_count: 0,
            tags: vec![],
            created_at: chrono::Utc::now(),
            deleting: false,
            copied_from: None,
            exports: vec![],
            automatic_window: None,
            shard_id: None,
            shards: Vec::new(),
        }
    }

    // Goal: the status follows the phases and deletion wins. Method: each combination.
    #[test]
    fn status_is_derived() {
        let mut s = spec();
        assert_eq!(status(&s, None), SnapshotStatus::Creating);
        let mut o = SnapshotObserved::default();
        assert_eq!(status(&s, Some(&o)), SnapshotStatus::Creating);
        o.phase = SnapshotPhase::Available;
        assert_eq!(status(&s, Some(&o)).as_str(), "available");
        o.phase = SnapshotPhase::Failed;
        assert_eq!(status(&s, Some(&o)).as_str(), "failed");
        o.phase = SnapshotPhase::Available;
        s.exports.push(SnapshotExport {
            bucket: "b".into(),
            target_name: "t".into(),
            requested_at: chrono::Utc::now(),
        });
        assert_eq!(status(&s, Some(&o)).as_str(), "copying");
        o.exports_done = 1;
        assert_eq!(status(&s, Some(&o)).as_str(), "available");
        s.deleting = true;
        assert_eq!(status(&s, Some(&o)).as_str(), "deleting");
    }

    // Goal: names, sources and quota answer with AWS's codes and words. Method: good and bad.
    #[test]
    fn rules() {
        assert_eq!(
            snapshot_name("Redis-Restore-Snapshot-20250908-221412").unwrap(),
            "redis-restore-snapshot-20250908-221412"
        );
        for bad in ["1abc", "a--b", "abc-", "a_b", "", "a.b"] {
            assert!(snapshot_name(bad).is_err(), "{bad}");
        }
        assert!(snapshot_name(&"a".repeat(256)).is_err());
        assert!(matches!(
            check_source(Some("a"), Some("b")),
            Err(Fault::InvalidParameterCombination(m)) if m == "Only one of CacheClusterId or ReplicationGroupId can be provided."
        ));
        assert!(matches!(
            check_source(None, None),
            Err(Fault::InvalidParameterValue(m)) if m == "One of CacheClusterId or ReplicationGroupId must be provided."
        ));
        assert!(check_source(Some("a"), None).is_ok());
        assert!(check_quota(SNAPSHOTS_PER_REGION_MAX - 1).is_ok());
        assert!(matches!(
            check_quota(SNAPSHOTS_PER_REGION_MAX),
            Err(Fault::SnapshotQuotaExceeded(_))
        ));
        assert_eq!(
            SnapshotSource::parse_filter("user").unwrap(),
            SnapshotSource::Manual
        );
        assert_eq!(
            SnapshotSource::parse_filter("system").unwrap(),
            SnapshotSource::Automated
        );
        assert!(SnapshotSource::parse_filter("other").is_err());
        assert_eq!(export_object_key("my-export", "0001"), "my-export-0001.rdb");
        assert_eq!(
            s3_object("arn:aws:s3:::b/dir/f.rdb"),
            Some(("b", "dir/f.rdb"))
        );
        assert_eq!(s3_object("nightly"), None);
    }

    // Goal: automatic snapshots are named as ElastiCache names them, windows (also across
    // midnight) contain exactly their minutes, and retention deletes the oldest. Method: fixed
    // times around the edges.
    #[test]
    fn automatic_rules() {
        use chrono::TimeZone;
        let at =
            |d: u32, h: u32, m: u32| chrono::Utc.with_ymd_and_hms(2026, 3, d, h, m, 0).unwrap();
        assert_eq!(
            automatic_name("my-group", at(4, 5, 7)),
            "automatic.my-group-2026-03-04-05-07"
        );
        assert_eq!(
            existing_snapshot_name("Automatic.My-Group-2026-03-04-05-07").unwrap(),
            "automatic.my-group-2026-03-04-05-07"
        );
        assert!(existing_snapshot_name("automatic.-x").is_err());
        assert_eq!(parse_window("05:00-06:30"), Some((300, 390)));
        for bad in ["5:00-06:00", "05:00", "24:00-01:00", "05:60-06:00"] {
            assert_eq!(parse_window(bad), None, "{bad}");
        }
        assert_eq!(window_containing("05:00-06:00", at(4, 4, 59)), None);
        assert_eq!(
            window_containing("05:00-06:00", at(4, 5, 0)),
            Some(at(4, 5, 0))
        );
        assert_eq!(
            window_containing("05:00-06:00", at(4, 5, 59)),
            Some(at(4, 5, 0))
        );
        assert_eq!(window_containing("05:00-06:00", at(4, 6, 0)), None);
        assert_eq!(
            next_window_start("05:00-06:00", at(4, 4, 59)),
            Some(at(4, 5, 0))
        );
        assert_eq!(
            next_window_start("05:00-06:00", at(4, 5, 0)),
            Some(at(5, 5, 0))
        );
        assert_eq!(
            window_containing("23:30-00:30", at(5, 0, 10)),
            Some(at(4, 23, 30))
        );
        assert_eq!(
            window_containing("23:30-00:30", at(4, 23, 45)),
            Some(at(4, 23, 30))
        );
        assert_eq!(window_containing("23:30-00:30", at(4, 0, 45)), None);
        let snaps = vec![
            ("c".to_string(), at(3, 5, 0)),
            ("a".to_string(), at(1, 5, 0)),
            ("b".to_string(), at(2, 5, 0)),
        ];
        assert_eq!(beyond_retention(snaps.clone(), 2), vec!["a".to_string()]);
        assert_eq!(
            beyond_retention(snaps.clone(), 1),
            vec!["a".to_string(), "b".to_string()]
        );
        assert!(beyond_retention(snaps, 3).is_empty());
    }

    // Goal: CacheSize reads like AWS's ("5 MB"), empty until available. Method: sizes.
    #[test]
    fn cache_size_in_mb() {
        let mut o = SnapshotObserved {
            size_bytes: 5 * 1024 * 1024 - 3,
            ..Default::default()
        };
        assert_eq!(cache_size(Some(&o)), "");
        o.phase = SnapshotPhase::Available;
        assert_eq!(cache_size(Some(&o)), "5 MB");
        o.size_bytes = 0;
        assert_eq!(cache_size(Some(&o)), "0 MB");
    }
}
