//! `CreateSnapshot`, `DescribeSnapshots`, `DeleteSnapshot`, `CopySnapshot`, and the final
//! snapshot of `DeleteReplicationGroup` / `DeleteCacheCluster`.
//!
//! `CreateSnapshot` checks the source, picks the node the RDB comes from, and records the
//! snapshot (status `creating`) in one transaction; from then on the source reads
//! `snapshotting` (see [`super::view`]) and the snapshot reconciler does the work.
//! `DeleteSnapshot` only marks the snapshot `deleting`; the reconciler removes its files, then
//! its records.

use ferrocache_model::arn::{self, ArnType};
use ferrocache_model::node::{ClusterStatus, Role};
use ferrocache_model::shard::SlotRange;
use ferrocache_model::snapshot::{
    self, SnapshotObserved, SnapshotSource, SnapshotSpec, SnapshotStatus,
};
use ferrocache_model::tag::{self, Tag};
use ferrocache_model::{ids, paging, Fault};
use ferrocache_store::{tables, update, view, ReadExt, Reader, WriteExt};

use super::view::{GroupView, NodeView};
use super::{Page, Service, ServiceError};

/// `CreateSnapshot` as decoded from the wire.
#[derive(Debug, Clone, Default)]
pub struct CreateSnapshotRequest {
    /// `SnapshotName`
    pub snapshot_name: String,
    /// `CacheClusterId`
    pub cache_cluster_id: Option<String>,
    /// `ReplicationGroupId`
    pub replication_group_id: Option<String>,
    /// `KmsKeyId` (refused: snapshots are not encrypted here).
    pub kms_key_id: Option<String>,
    /// `Tags`
    pub tags: Vec<Tag>,
}

/// `CopySnapshot` as decoded from the wire.
#[derive(Debug, Clone, Default)]
pub struct CopySnapshotRequest {
    /// `SourceSnapshotName`
    pub source_snapshot_name: String,
    /// `TargetSnapshotName`
    pub target_snapshot_name: String,
    /// `TargetBucket`: export to the object store of `--s3-endpoint` instead of a local copy.
    pub target_bucket: Option<String>,
    /// `KmsKeyId` (refused: snapshots are not encrypted here).
    pub kms_key_id: Option<String>,
    /// `Tags`
    pub tags: Vec<Tag>,
}

/// `DescribeSnapshots` as decoded from the wire.
#[derive(Debug, Clone, Default)]
pub struct DescribeSnapshotsQuery {
    /// `SnapshotName`
    pub snapshot_name: Option<String>,
    /// `CacheClusterId`
    pub cache_cluster_id: Option<String>,
    /// `ReplicationGroupId`
    pub replication_group_id: Option<String>,
    /// `SnapshotSource` (`user`/`system`, or `manual`/`automated`)
    pub snapshot_source: Option<String>,
    /// `MaxRecords` (20–50)
    pub max_records: Option<i64>,
    /// `Marker`
    pub marker: Option<String>,
}

/// A snapshot as a client sees it.
#[derive(Debug, Clone)]
pub struct SnapshotView {
    /// What was asked for.
    pub spec: SnapshotSpec,
    /// Last confirmed facts.
    pub observed: Option<SnapshotObserved>,
    /// `SnapshotStatus`.
    pub status: SnapshotStatus,
    /// `ARN`.
    pub arn: String,
}

impl SnapshotView {
    /// Reads the snapshot `name` of `region`.
    ///
    /// # Errors
    /// Store failures.
    pub fn load(
        r: &dyn Reader,
        region: &str,
        name: &str,
        account: &str,
    ) -> Result<Option<Self>, ferrocache_store::StoreError> {
        let key = tables::key(region, name);
        let Some(spec) = r.doc::<SnapshotSpec>(&key)? else {
            return Ok(None);
        };
        let observed = r.doc::<SnapshotObserved>(&key)?;
        Ok(Some(Self::new(spec, observed, account)))
    }

    fn new(spec: SnapshotSpec, observed: Option<SnapshotObserved>, account: &str) -> Self {
        let status = snapshot::status(&spec, observed.as_ref());
        let arn = arn::format(&spec.region, account, ArnType::Snapshot, &spec.name);
        Self {
            spec,
            observed,
            status,
            arn,
        }
    }
}

/// Snapshots of `region` still being taken, for the `snapshotting` status of their sources.
///
/// # Errors
/// Store failures.
pub fn in_progress(
    r: &dyn Reader,
    region: &str,
) -> Result<Vec<SnapshotSpec>, ferrocache_store::StoreError> {
    let mut out = Vec::new();
    for (key, spec) in r.docs::<SnapshotSpec>(&tables::region_prefix(region))? {
        let observed = r.doc::<SnapshotObserved>(&key)?;
        // A copy reads no node: its source is a snapshot, and the node keeps serving.
        if spec.copied_from.is_none()
            && snapshot::status(&spec, observed.as_ref()) == SnapshotStatus::Creating
        {
            out.push(spec);
        }
    }
    Ok(out)
}

/// The member a group snapshot is taken from: a healthy, linked replica (lowest id), so the
/// primary's latency is untouched, as ElastiCache does; else the primary. With `shard`, only
/// that shard's members.
fn pick_member<'a>(group: &'a GroupView, shard: Option<&str>) -> Option<&'a NodeView> {
    let usable = |m: &&NodeView| {
        m.spec.deletion.is_none()
            && m.status == ClusterStatus::Available
            && shard.is_none_or(|s| m.spec.shard_id.as_deref() == Some(s))
    };
    let healthy_replica = group.live_members().filter(usable).find(|m| {
        m.role == Some(Role::Replica)
            && m.observed
                .as_ref()
                .is_some_and(|o| o.healthy && o.link_up && !o.recovering)
    });
    healthy_replica.or_else(|| primary_of(group, shard))
}

/// The `available` primary of the group (of `shard`, when given).
fn primary_of<'a>(group: &'a GroupView, shard: Option<&str>) -> Option<&'a NodeView> {
    group.live_members().find(|m| {
        m.status == ClusterStatus::Available
            && m.role == Some(Role::Primary)
            && shard.is_none_or(|s| m.spec.shard_id.as_deref() == Some(s))
    })
}

/// Which member of each shard a group snapshot is taken from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// A healthy replica, else the primary ([`pick_member`]).
    Replica,
    /// The primary, else a healthy replica (a final snapshot).
    Primary,
}

/// The description of a group's snapshot: for a cluster-mode group one RDB per shard (each
/// from the member `source` picks in that shard), else one RDB from the member it picks.
/// Answers `None` when some shard has no member that can take it now.
fn describe_group(
    name: &str,
    region: &str,
    group: &GroupView,
    source: Source,
    tags: Vec<Tag>,
) -> Option<SnapshotSpec> {
    let pick = |shard: Option<&str>| match source {
        Source::Replica => pick_member(group, shard),
        Source::Primary => primary_of(group, shard).or_else(|| pick_member(group, shard)),
    };
    if !group.spec.cluster_mode.enabled() {
        let node = pick(None)?;
        return Some(describe_source(name, region, node, Some(group), None, tags));
    }
    let mut shards = Vec::new();
    let mut first = None;
    for shard in &group.shards {
        let node = pick(Some(&shard.spec.id))?;
        first.get_or_insert(node);
        shards.push(snapshot::SnapshotShard {
            shard_id: shard.spec.id.clone(),
            node_id: node.spec.id.clone(),
            slots: shard.spec.slots.clone(),
            zone: node.zone().map(str::to_string),
            node_created_at: node.node_created_at(),
            replica_count: group
                .members_of(&shard.spec.id)
                .filter(|m| m.spec.deletion.is_none())
                .count()
                .saturating_sub(1) as u32,
        });
    }
    let mut spec = describe_source(name, region, first?, Some(group), None, tags);
    spec.shards = shards;
    Some(spec)
}

/// The snapshot's description of its source, captured now.
fn describe_source(
    name: &str,
    region: &str,
    node: &NodeView,
    group: Option<&GroupView>,
    requested_cluster: Option<&str>,
    tags: Vec<Tag>,
) -> SnapshotSpec {
    let now = chrono::Utc::now();
    let spec = &node.spec;
    SnapshotSpec {
        name: name.to_string(),
        region: region.to_string(),
        source: SnapshotSource::Manual,
        cache_cluster_id: requested_cluster.map(str::to_string),
        group_id: group.map(|g| g.spec.id.clone()),
        group_description: group.map(|g| g.spec.description.clone()),
        node_id: spec.id.clone(),
        node_type: node.node_type().to_string(),
        engine: spec.engine.clone(),
        engine_version: spec.engine_version.clone(),
        port: spec.port,
        parameter_group: spec.parameter_group.clone(),
        subnet_group: spec.subnet_group.clone(),
        zone: node.zone().map(str::to_string),
        source_created_at: group.map_or(spec.created_at, |g| g.spec.created_at),
        node_created_at: node.node_created_at(),
        maintenance_window: spec.maintenance_window.clone(),
        snapshot_retention_limit: group.map_or(spec.snapshot_retention_limit, |g| {
            g.spec.snapshot_retention_limit
        }),
        snapshot_window: group.map_or(spec.snapshot_window.clone(), |g| {
            g.spec.snapshot_window.clone()
        }),
        auto_minor_version_upgrade: spec.auto_minor_version_upgrade,
        automatic_failover: group.map(|g| g.spec.automatic_failover),
        replica_count: group.map_or(0, |g| g.live_members().count().saturating_sub(1) as u32),
        tags,
        created_at: now,
        deleting: false,
        copied_from: None,
        exports: Vec::new(),
        automatic_window: None,
        shard_id: spec.shard_id.clone(),
        shards: Vec::new(),
    }
}

/// Checks that snapshot `name` can be recorded in `region`: the name is free and the quota not
/// reached.
fn check_new_name(w: &dyn Reader, region: &str, name: &str) -> Result<(), ServiceError> {
    if w.doc::<SnapshotSpec>(&tables::key(region, name))?.is_some() {
        return Err(Fault::SnapshotAlreadyExists(name.to_string()).into());
    }
    snapshot::check_quota(
        w.docs::<SnapshotSpec>(&tables::region_prefix(region))?
            .len(),
    )?;
    Ok(())
}

/// Records the final snapshot `name` of a group being deleted, taken from the primary as
/// ElastiCache documents for `FinalSnapshotIdentifier` (latency no longer matters: the group is
/// going, and the primary has every acknowledged write), else from a healthy replica; returns
/// that member's id. Called in the transaction that marks the group for deletion, so both happen
/// or neither.
///
/// # Errors
/// `SnapshotAlreadyExistsFault`, `SnapshotQuotaExceededFault`, `InvalidReplicationGroupState`
/// when no member can take it.
pub(crate) fn record_final_of_group(
    w: &mut dyn ferrocache_store::Writer,
    region: &str,
    name: &str,
    group: &GroupView,
) -> Result<String, ServiceError> {
    check_new_name(w, region, name)?;
    let spec =
        describe_group(name, region, group, Source::Primary, Vec::new()).ok_or_else(|| {
            Fault::InvalidReplicationGroupState(format!(
            "Replication group {} has no available cache cluster to take a final snapshot from.",
            group.spec.id
        ))
        })?;
    w.put_doc(&tables::key(region, name), &spec)?;
    Ok(spec.node_id)
}

/// Records the final snapshot `name` of a cache cluster being deleted (taken from that
/// cluster). Called in the transaction that marks the cluster for deletion.
///
/// # Errors
/// `SnapshotAlreadyExistsFault`, `SnapshotQuotaExceededFault`, `InvalidCacheClusterState` when
/// the cluster is not `available` (it has no data to save).
pub(crate) fn record_final_of_cluster(
    w: &mut dyn ferrocache_store::Writer,
    region: &str,
    name: &str,
    node: &NodeView,
    group: Option<&GroupView>,
) -> Result<(), ServiceError> {
    check_new_name(w, region, name)?;
    node.require_available()?;
    let spec = describe_source(name, region, node, group, Some(&node.spec.id), Vec::new());
    w.put_doc(&tables::key(region, name), &spec)?;
    Ok(())
}

/// Records the automatic snapshot `name` of `group` for the window occurrence starting at
/// `window`, taken from `SnapshottingClusterId` when that member is `available`, else from a
/// healthy replica, else from the primary. Called by the automatic-snapshot reconciler inside
/// its transaction; answers `false` (nothing recorded) when no member can take it now.
///
/// # Errors
/// Store failures.
pub(crate) fn record_automatic_of_group(
    w: &mut dyn ferrocache_store::Writer,
    group: &GroupView,
    name: &str,
    window: ferrocache_model::Timestamp,
) -> Result<bool, ferrocache_store::StoreError> {
    let chosen = group
        .spec
        .snapshotting_cluster
        .as_ref()
        .filter(|_| !group.spec.cluster_mode.enabled())
        .and_then(|id| {
            group
                .live_members()
                .find(|m| &m.spec.id == id && m.status == ClusterStatus::Available)
        });
    let spec = match chosen {
        Some(node) => Some(describe_source(
            name,
            &group.spec.region,
            node,
            Some(group),
            None,
            Vec::new(),
        )),
        None => describe_group(name, &group.spec.region, group, Source::Replica, Vec::new()),
    };
    let Some(mut spec) = spec else {
        return Ok(false);
    };
    spec.source = SnapshotSource::Automated;
    spec.automatic_window = Some(window);
    w.put_doc(&tables::key(&group.spec.region, name), &spec)?;
    Ok(true)
}

/// Records the automatic snapshot `name` of the standalone cache cluster `node` (see
/// [`record_automatic_of_group`]).
///
/// # Errors
/// Store failures.
pub(crate) fn record_automatic_of_cluster(
    w: &mut dyn ferrocache_store::Writer,
    node: &NodeView,
    name: &str,
    window: ferrocache_model::Timestamp,
) -> Result<(), ferrocache_store::StoreError> {
    let mut spec = describe_source(
        name,
        &node.spec.region,
        node,
        None,
        Some(&node.spec.id),
        Vec::new(),
    );
    spec.source = SnapshotSource::Automated;
    spec.automatic_window = Some(window);
    w.put_doc(&tables::key(&node.spec.region, name), &spec)
}

/// A snapshot of a cluster-mode group is of the whole group (one RDB per shard): a request
/// naming one member of it is refused rather than saving one shard's keys as the group's.
fn refuse_cluster_member(group: &GroupView, member: &str) -> Result<(), ServiceError> {
    if group.spec.cluster_mode.enabled() {
        return Err(Fault::combination(format!(
            "Cache cluster {member} is a member of replication group {} with cluster mode enabled: snapshot the replication group (ReplicationGroupId) instead.",
            group.spec.id
        ))
        .into());
    }
    Ok(())
}

impl Service {
    /// Checks that a create may be restored from `source` (see
    /// [`ferrocache_model::group::restore_source`]): a snapshot that exists, is `available` and
    /// fits the new resource's shards — `requested`, each shard's slots (one entry for a
    /// resource without cluster mode); or an S3 object, which needs an object store
    /// (`--s3-endpoint`; the object itself is read by the node reconciler, and a missing or
    /// unloadable one fails the restore with `restore-failed`). Called inside the transaction
    /// that writes the new resource, so the snapshot cannot vanish in between.
    ///
    /// A snapshot fits when it has as many shards as the new resource (AWS's rule without
    /// cluster mode) and, in cluster mode, each shard keeps the slots it had: each shard's RDB
    /// seeds the shard's primary as it is. (A create asking for another shard count is
    /// restored in the snapshot's layout and resharded; only `Slots` of one's own that differ
    /// from the snapshot's are refused here.)
    ///
    /// # Errors
    /// `SnapshotNotFoundFault` for a missing, deleting or not yet `available` snapshot;
    /// `InvalidParameterValue` for an object without an object store, or a shard count that
    /// differs (without cluster mode).
    pub(crate) fn check_restorable(
        &self,
        r: &dyn Reader,
        region: &str,
        source: &str,
        requested: &[Vec<SlotRange>],
        cluster_mode: bool,
    ) -> Result<(), ServiceError> {
        if snapshot::s3_object(source).is_some() {
            if self.object_store().is_none() {
                return Err(Fault::value(format!(
                    "Cannot read {source}: this Ferrocache has no object store (start it with --s3-endpoint URL)."
                ))
                .into());
            }
            return Ok(());
        }
        let key = tables::key(region, source);
        let Some(spec) = r.doc::<SnapshotSpec>(&key)? else {
            return Err(Fault::SnapshotNotFound(source.to_string()).into());
        };
        let observed = r.doc::<SnapshotObserved>(&key)?;
        if snapshot::status(&spec, observed.as_ref()) != SnapshotStatus::Available {
            return Err(Fault::SnapshotNotFound(source.to_string()).into());
        }
        // A cluster-mode restore into another layout is formed as the snapshot was, then
        // resharded (see `CreateReplicationGroup`): any layout fits.
        if !cluster_mode {
            ferrocache_model::group::check_restore_shape(
                spec.num_node_groups(),
                requested.len() as u32,
            )?;
        }
        Ok(())
    }

    /// Refuses up front a restore of snapshot `source` whose data cannot fit where the nodes
    /// live. The seed itself takes no room (the primary's data file is linked to the
    /// snapshot's), but unsealing one for encryption at rest writes it whole, and without
    /// encryption at rest each replica's first sync writes it twice more (the primary's save,
    /// the replica's copy): about the snapshot's size for each. An S3 object's size is not
    /// known before it is read; it is not checked.
    ///
    /// # Errors
    /// [`ServiceError::NoRoom`] when that is more than is free.
    pub(crate) fn check_room_to_restore(
        &self,
        r: &dyn Reader,
        region: &str,
        source: &str,
        replicas: usize,
        encrypted_at_rest: bool,
    ) -> Result<(), ServiceError> {
        let Some(dir) = self.config.nodes_dir.as_deref() else {
            return Ok(());
        };
        if snapshot::s3_object(source).is_some() {
            return Ok(());
        }
        let size = r
            .doc::<SnapshotObserved>(&tables::key(region, source))?
            .map_or(0, |o| o.size_bytes);
        let copies = if encrypted_at_rest {
            1
        } else if replicas > 0 {
            1 + replicas as u64
        } else {
            0
        };
        let needed = size.saturating_mul(copies);
        let Some(free) = ferrocache_store::free_bytes(dir) else {
            return Ok(());
        };
        if needed > free {
            return Err(ServiceError::NoRoom {
                operation: format!(
                    "Restoring snapshot {source} ({}, with {replicas} replica(s) per shard)",
                    crate::disk::megabytes(size)
                ),
                needed,
                free,
                dir: dir.to_path_buf(),
            });
        }
        Ok(())
    }

    /// `CopySnapshot` with `TargetBucket`: exports an `available` snapshot to the object store
    /// as `<target>-0001.rdb` (plus `<target>-manifest.json`). The bucket is checked now — a
    /// missing one, one that refuses us, an unreachable store or a name already taken in it is
    /// answered with ElastiCache's words and nothing changes; the upload itself is the snapshot
    /// reconciler's, and the snapshot reads `copying` until it is done. Answers the source
    /// snapshot.
    ///
    /// Runs on the blocking pool (as every handler does) and waits there for the store.
    ///
    /// # Errors
    /// `SnapshotNotFoundFault`, `InvalidSnapshotState`, `InvalidParameterValue` (bad names, no
    /// object store, the bucket's errors).
    fn export_snapshot(
        &self,
        region: &str,
        req: &CopySnapshotRequest,
        bucket: &str,
    ) -> Result<SnapshotView, ServiceError> {
        let objects = self.object_store().ok_or_else(|| {
            Fault::value(
                "TargetBucket needs an object store: start ferrocache up with --s3-endpoint URL (and AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY).",
            )
        })?;
        let source_name = req.source_snapshot_name.to_ascii_lowercase();
        let target = snapshot::snapshot_name(&req.target_snapshot_name)?;
        let account = self.account_id().to_string();
        let require_available = |r: &dyn Reader| -> Result<SnapshotView, ServiceError> {
            let source = SnapshotView::load(r, region, &source_name, &account)?
                .ok_or_else(|| Fault::SnapshotNotFound(source_name.clone()))?;
            if source.status != SnapshotStatus::Available {
                return Err(Fault::InvalidSnapshotState(format!(
                    "Snapshot {source_name} is not in available state. Current status: {}.",
                    source.status.as_str()
                ))
                .into());
            }
            Ok(source)
        };
        let source = view(self.store(), |r| require_available(r))?;
        let object_key = snapshot::export_object_key(&target, &source.spec.node_group_id());
        let checked = tokio::runtime::Handle::current().block_on(async {
            objects.check_bucket(bucket).await?;
            objects.exists(bucket, &object_key).await
        });
        match checked {
            Ok(false) => {}
            Ok(true) => {
                return Err(Fault::value(format!(
                    "The S3 bucket {bucket} already contains an object with key {object_key}."
                ))
                .into())
            }
            Err(e) => return Err(export_fault(bucket, &e).into()),
        }
        update(self.store(), |w| -> Result<SnapshotView, ServiceError> {
            let source = require_available(w)?;
            let mut spec = source.spec.clone();
            spec.exports.push(snapshot::SnapshotExport {
                bucket: bucket.to_string(),
                target_name: target.clone(),
                requested_at: chrono::Utc::now(),
            });
            w.put_doc(&tables::key(region, &source_name), &spec)?;
            Ok(SnapshotView::new(spec, source.observed, &account))
        })
    }

    /// `CopySnapshot`: a local copy of an `available` snapshot under a new name. The copy
    /// reads `creating` until the snapshot reconciler has copied the files, then `available`.
    ///
    /// # Errors
    /// `SnapshotNotFoundFault`, `SnapshotAlreadyExistsFault`, `InvalidSnapshotState` (source
    /// not `available`), `SnapshotQuotaExceededFault`, bad names; `KmsKeyId` is refused as not
    /// supported. With `TargetBucket` see [`Service::export_snapshot`].
    pub fn copy_snapshot(
        &self,
        region: &str,
        req: &CopySnapshotRequest,
    ) -> Result<SnapshotView, ServiceError> {
        if req.kms_key_id.is_some() {
            return Err(Fault::value(
                "KmsKeyId is not supported by this Ferrocache release: snapshots are not encrypted.",
            )
            .into());
        }
        if let Some(bucket) = req.target_bucket.as_deref().filter(|b| !b.is_empty()) {
            return self.export_snapshot(region, req, bucket);
        }
        let source_name = req.source_snapshot_name.to_ascii_lowercase();
        let target = snapshot::snapshot_name(&req.target_snapshot_name)?;
        let mut tags = Vec::new();
        tag::merge(&mut tags, &req.tags)?;
        let account = self.account_id().to_string();
        update(self.store(), |w| -> Result<SnapshotView, ServiceError> {
            let source = SnapshotView::load(w, region, &source_name, &account)?
                .ok_or_else(|| Fault::SnapshotNotFound(source_name.clone()))?;
            check_new_name(w, region, &target)?;
            if source.status != SnapshotStatus::Available {
                return Err(Fault::InvalidSnapshotState(format!(
                    "Snapshot {source_name} is not in available state. Current status: {}.",
                    source.status.as_str()
                ))
                .into());
            }
            // The copy describes what the source describes; only its own facts are new.
            let spec = SnapshotSpec {
                name: target.clone(),
                tags: tags.clone(),
                created_at: chrono::Utc::now(),
                deleting: false,
                copied_from: Some(source_name.clone()),
                exports: Vec::new(),
                // A copy is the user's own, even of an automatic snapshot (AWS keeps copies
                // when it deletes the automatic ones).
                source: SnapshotSource::Manual,
                automatic_window: None,
                ..source.spec
            };
            w.put_doc(&tables::key(region, &target), &spec)?;
            Ok(SnapshotView::new(spec, None, &account))
        })
    }

    /// `CreateSnapshot` from a cache cluster or a replication group.
    ///
    /// # Errors
    /// AWS's faults: bad name or source combination, unknown source, source not `available`
    /// (which includes one already `snapshotting`), name taken, quota reached.
    pub fn create_snapshot(
        &self,
        region: &str,
        req: &CreateSnapshotRequest,
    ) -> Result<SnapshotView, ServiceError> {
        let name = snapshot::snapshot_name(&req.snapshot_name)?;
        snapshot::check_source(
            req.cache_cluster_id.as_deref(),
            req.replication_group_id.as_deref(),
        )?;
        if req.kms_key_id.is_some() {
            return Err(Fault::value(
                "KmsKeyId is not supported by this Ferrocache release: snapshots are not encrypted.",
            )
            .into());
        }
        let mut tags = Vec::new();
        tag::merge(&mut tags, &req.tags)?;
        let account = self.account_id().to_string();
        update(self.store(), |w| -> Result<SnapshotView, ServiceError> {
            let key = tables::key(region, &name);
            check_new_name(w, region, &name)?;
            let spec = if let Some(cluster) = &req.cache_cluster_id {
                let id = cluster.to_ascii_lowercase();
                let node = NodeView::load(w, region, &id, &account)?
                    .ok_or_else(|| Fault::CacheClusterNotFound(id.clone()))?;
                node.require_available()?;
                let group = match &node.spec.group_id {
                    Some(g) => GroupView::load(w, region, g, &account)?,
                    None => None,
                };
                if let Some(group) = &group {
                    group.require_available()?;
                    refuse_cluster_member(group, &id)?;
                }
                describe_source(
                    &name,
                    region,
                    &node,
                    group.as_ref(),
                    Some(&id),
                    tags.clone(),
                )
            } else {
                let raw = req.replication_group_id.as_deref().unwrap_or_default();
                let id = ids::replication_group_id(raw)?;
                let group = GroupView::load(w, region, &id, &account)?
                    .ok_or_else(|| Fault::ReplicationGroupNotFound(id.clone()))?;
                group.require_available()?;
                describe_group(&name, region, &group, Source::Replica, tags.clone()).ok_or_else(
                    || {
                        Fault::InvalidReplicationGroupState(format!(
                            "Replication group {id} has no available cache cluster to take a snapshot from."
                        ))
                    },
                )?
            };
            w.put_doc(&key, &spec)?;
            Ok(SnapshotView::new(spec, None, &account))
        })
    }

    /// `DescribeSnapshots`, filtered and paged (`MaxRecords` 20–50).
    ///
    /// # Errors
    /// `SnapshotNotFoundFault` for a named snapshot that does not exist, bad filter or paging
    /// values.
    pub fn describe_snapshots(
        &self,
        region: &str,
        q: &DescribeSnapshotsQuery,
    ) -> Result<Page<SnapshotView>, ServiceError> {
        let account = self.account_id().to_string();
        paging::SNAPSHOT_RECORDS.page_size(q.max_records)?;
        let source = q
            .snapshot_source
            .as_deref()
            .map(SnapshotSource::parse_filter)
            .transpose()?;
        let name = q.snapshot_name.as_deref().map(str::to_ascii_lowercase);
        let cluster = q.cache_cluster_id.as_deref().map(str::to_ascii_lowercase);
        let group = q
            .replication_group_id
            .as_deref()
            .map(str::to_ascii_lowercase);
        let items = view(
            self.store(),
            |r| -> Result<Vec<SnapshotView>, ServiceError> {
                let mut items = Vec::new();
                for (key, spec) in r.docs::<SnapshotSpec>(&tables::region_prefix(region))? {
                    let observed = r.doc::<SnapshotObserved>(&key)?;
                    items.push(SnapshotView::new(spec, observed, &account));
                }
                Ok(items)
            },
        )?;
        if let Some(n) = &name {
            if !items.iter().any(|v| &v.spec.name == n) {
                return Err(Fault::SnapshotNotFound(n.clone()).into());
            }
        }
        let items: Vec<SnapshotView> = items
            .into_iter()
            .filter(|v| name.as_ref().is_none_or(|n| &v.spec.name == n))
            .filter(|v| {
                cluster.as_ref().is_none_or(|c| {
                    v.spec.cache_cluster_id.as_ref() == Some(c) || v.spec.nodes().any(|n| n == c)
                })
            })
            .filter(|v| {
                group
                    .as_ref()
                    .is_none_or(|g| v.spec.group_id.as_ref() == Some(g))
            })
            .filter(|v| source.is_none_or(|s| v.spec.source == s))
            .collect();
        let (items, marker) = paging::page(
            items,
            |v| v.spec.name.clone(),
            q.marker.as_deref(),
            q.max_records,
            paging::SNAPSHOT_RECORDS,
        )?;
        Ok(Page { items, marker })
    }

    /// `DeleteSnapshot`: the snapshot reads `deleting` at once; its files go next.
    ///
    /// # Errors
    /// `SnapshotNotFoundFault`; `InvalidSnapshotState` while it is being created or deleted.
    pub fn delete_snapshot(&self, region: &str, name: &str) -> Result<SnapshotView, ServiceError> {
        let name = name.to_ascii_lowercase();
        let account = self.account_id().to_string();
        update(self.store(), |w| -> Result<SnapshotView, ServiceError> {
            let current = SnapshotView::load(w, region, &name, &account)?
                .ok_or_else(|| Fault::SnapshotNotFound(name.clone()))?;
            if !matches!(
                current.status,
                SnapshotStatus::Available | SnapshotStatus::Failed
            ) {
                return Err(Fault::InvalidSnapshotState(format!(
                    "Snapshot {name} is not in a valid state to be deleted. Current status: {}.",
                    current.status.as_str()
                ))
                .into());
            }
            // A copy still reading this snapshot's files would fail without them.
            let mut copying = false;
            for (key, s) in w.docs::<SnapshotSpec>(&tables::region_prefix(region))? {
                if s.copied_from.as_deref() == Some(name.as_str()) {
                    let observed = w.doc::<SnapshotObserved>(&key)?;
                    copying |= snapshot::status(&s, observed.as_ref()) == SnapshotStatus::Creating;
                }
            }
            if copying {
                return Err(Fault::InvalidSnapshotState(format!(
                    "Snapshot {name} is being copied and cannot be deleted until the copy is complete."
                ))
                .into());
            }
            let mut spec = current.spec.clone();
            spec.deleting = true;
            w.put_doc(&tables::key(region, &name), &spec)?;
            Ok(SnapshotView::new(spec, current.observed, &account))
        })
    }
}

/// ElastiCache's answer to an export the object store refused (AWS's `CopySnapshot` error
/// texts; an unreachable store has none, and says so plainly).
fn export_fault(bucket: &str, e: &crate::object_store::ObjectError) -> Fault {
    use crate::object_store::ObjectError;
    match e {
        ObjectError::NoSuchBucket(_) => {
            Fault::value(format!("The S3 bucket {bucket} does not exist."))
        }
        ObjectError::AccessDenied(_) => Fault::value(format!(
            "ElastiCache has not been granted WRITE permissions {bucket} on the S3 Bucket."
        )),
        other => Fault::value(format!(
            "The S3 bucket {bucket} cannot be used for the export: {other}."
        )),
    }
}
