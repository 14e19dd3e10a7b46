//! The snapshot reconciler: has the snapshot's node write its RDB, then stores a copy under
//! `<snapshots_dir>/<region>/<name>/` (`dump.rdb` and `manifest.json`).
//!
//! | state | what is true | next |
//! |---|---|---|
//! | saving, no save asked | the API accepted the snapshot (or the node restarted since we asked) | `INFO` (key count, `run_id`), `BGSAVE`; refused because a save already runs (a replica's disk-based sync, an earlier request) → ask again soon; accepted → record the process's `run_id` |
//! | saving, save asked | that process accepted our `BGSAVE` | `INFO`: another `run_id` → ask again; `rdb_bgsave_in_progress:1` → look again soon; last save failed → `failed` + event; else copy |
//! | copying | the node's `dump.rdb` is a complete save | copy into `<region>/.<name>.tmp/` with the SHA-256, fsync, `manifest.json`, fsync, rename to `<region>/<name>/`, fsync the parent; then `available` + event |
//! | copying a snapshot | `CopySnapshot` accepted (`copied_from`) | copy every file the source's manifest lists into `<region>/.<name>.tmp/`, checking each SHA-256, write the manifest (the source's, renamed), fsync, rename, fsync the parent; then `available` (no event: AWS documents none for a copy) |
//! | exporting (`copying`) | `CopySnapshot --target-bucket` accepted on an `available` snapshot | upload `dump.rdb` as `<target>-0001.rdb` and the manifest as `<target>-manifest.json`; count the export done, with an event (success or failure; the snapshot stays intact) |
//! | deleting | `DeleteSnapshot` accepted | remove both directories, then the records |
//!
//! The node of a final snapshot (`FinalSnapshotIdentifier`) is marked for deletion already;
//! it is still the snapshot's node, and the node reconciler keeps it until the snapshot is no
//! longer `creating`.
//!
//! Crash safety: the final directory appears only by the rename, after every byte is synced, so
//! it is complete or absent. A restarted controller that finds it complete records `available`
//! from its manifest; one that finds only the temporary directory removes it and copies again.
//! A snapshot never reaches `available` without its files.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ferrocache_encryption::KeyRing;
use ferrocache_engine::info::Info;
use ferrocache_model::event::SourceType;
use ferrocache_model::node::{NodeIntent, NodeSpec};
use ferrocache_model::shard::SlotRange;
use ferrocache_model::snapshot::{
    self as snapshot_model, text, SaveSource, SnapshotObserved, SnapshotPhase, SnapshotSpec,
};
use ferrocache_model::Timestamp;
use ferrocache_store::{tables, update, view, ReadExt, StoreError, WriteExt};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{node, Context, Next, ReconcileError};
use crate::events;

mod shards;

/// How long a snapshot may take before it is marked `failed` (the node stays down, or its save
/// never finishes).
pub const SNAPSHOT_DURATION_MAX: Duration = Duration::from_secs(60 * 60);
/// Bound on one admin call to the node.
const NODE_CALL_TIMEOUT: Duration = Duration::from_secs(2);
/// How soon to look again while a save runs.
const SAVE_POLL: Duration = Duration::from_millis(20);
/// How soon to try again when the node does not answer, or files cannot be removed yet.
const RETRY_LATER: Duration = Duration::from_millis(250);
/// Largest dataset (keys) whose snapshot records a `DEBUG DIGEST` for restore verification.
/// The digest blocks the saving node (and later the restored primary) for its whole walk, about
/// 4 µs a key (measured: ~4 s for 1M keys), so beyond this the key count is verified alone.
pub const DIGEST_KEYS_MAX: u64 = 10_000;
/// Buffer of the RDB copy.
const COPY_BUFFER_BYTES: usize = 1 << 20;
/// Name of the RDB file inside a snapshot directory.
pub const SNAPSHOT_RDB_FILE: &str = "dump.rdb";
/// Name of the manifest inside a snapshot directory.
pub const MANIFEST_FILE: &str = "manifest.json";
/// Version of the manifest's layout.
pub const MANIFEST_FORMAT: u32 = 1;

/// One file of a snapshot, as the manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    /// File name inside the snapshot directory.
    pub name: String,
    /// The node the file was saved on.
    pub cache_cluster_id: String,
    /// `NodeGroupId` of that node (`0001`).
    pub node_group_id: String,
    /// Size in bytes.
    pub size_bytes: u64,
    /// SHA-256 of the file, lower-case hex.
    pub sha256: String,
    /// Keys the node held when its save began.
    pub key_count: u64,
    /// The slots of the shard the file was saved on (cluster-mode snapshots; empty otherwise).
    #[serde(default)]
    pub slots: Vec<SlotRange>,
    /// `DEBUG DIGEST` of the file's data, when taken (cluster-mode snapshots; the manifest's
    /// own `digest` covers a single file).
    #[serde(default)]
    pub digest: Option<String>,
}

/// `manifest.json`: what the snapshot is of and how to check its files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// See [`MANIFEST_FORMAT`].
    pub format: u32,
    /// `SnapshotName`.
    pub snapshot_name: String,
    /// Region of the snapshot.
    pub region: String,
    /// Source replication group, if any.
    pub replication_group_id: Option<String>,
    /// Source cache cluster, when the request named one.
    pub cache_cluster_id: Option<String>,
    /// `Engine`.
    pub engine: String,
    /// `EngineVersion`.
    pub engine_version: String,
    /// `CacheNodeType`.
    pub node_type: String,
    /// `CacheParameterGroupName`.
    pub parameter_group: String,
    /// Number of node groups (shards) in the snapshot.
    pub num_node_groups: u32,
    /// Keys over all files.
    pub key_count: u64,
    /// `DEBUG DIGEST` of the saved dataset, when it was taken at the save's fork.
    #[serde(default)]
    pub digest: Option<String>,
    /// Bytes over all files.
    pub size_bytes: u64,
    /// The RDB files.
    pub files: Vec<ManifestFile>,
    /// When the files were complete.
    pub created_at: Timestamp,
    /// The key id the files are sealed with (encryption at rest); `None`: plaintext RDB.
    #[serde(default)]
    pub sealed_with: Option<String>,
}

/// Where the snapshots of `region` live.
pub fn region_dir(snapshots_dir: &Path, region: &str) -> PathBuf {
    snapshots_dir.join(region)
}

/// The final directory of a snapshot.
pub fn snapshot_dir(snapshots_dir: &Path, region: &str, name: &str) -> PathBuf {
    region_dir(snapshots_dir, region).join(name)
}

/// The temporary directory a snapshot is written in before its rename. Names start with a dot,
/// which no snapshot name can, so the two never collide.
fn temp_dir(snapshots_dir: &Path, region: &str, name: &str) -> PathBuf {
    region_dir(snapshots_dir, region).join(format!(".{name}.tmp"))
}

/// Reconciles the snapshot at `key` (`<region>/<name>`).
///
/// # Errors
/// Store failures (retried on the next pass).
///
/// # Cancel safety
/// Cancelling leaves at worst a temporary directory, removed by the next run.
pub(crate) async fn reconcile(ctx: Arc<Context>, key: String) -> Result<Next, ReconcileError> {
    let loaded = view(ctx.store.as_ref(), |r| -> Result<_, StoreError> {
        let Some(spec) = r.doc::<SnapshotSpec>(&key)? else {
            return Ok(None);
        };
        let observed = r.doc::<SnapshotObserved>(&key)?.unwrap_or_default();
        let node_key = tables::key(&spec.region, &spec.node_id);
        let node = match (
            r.doc::<NodeSpec>(&node_key)?,
            r.doc::<NodeIntent>(&node_key)?,
        ) {
            (Some(s), Some(i)) if usable_for(&spec, &s) => Some((s, i)),
            _ => None,
        };
        Ok(Some((spec, observed, node)))
    })?;
    let Some((spec, mut observed, node)) = loaded else {
        return Ok(Next::Done);
    };
    let dirs = &ctx.config.snapshots_dir;
    let final_dir = snapshot_dir(dirs, &spec.region, &spec.name);
    let temp = temp_dir(dirs, &spec.region, &spec.name);
    if spec.deleting {
        return delete(&ctx, &key, final_dir, temp).await;
    }
    if observed.phase == SnapshotPhase::Available && observed.exports_done < spec.exports.len() {
        return export(&ctx, &key, &spec, observed.exports_done, &final_dir).await;
    }
    if observed.phase != SnapshotPhase::Saving {
        return Ok(Next::Done);
    }
    // Renamed into place before a crash, not yet recorded: the files are complete.
    if let Some(manifest) = read_manifest(&final_dir) {
        return finish(&ctx, &key, &spec, Ok(manifest));
    }
    let age = chrono::Utc::now().signed_duration_since(spec.created_at);
    if age.to_std().unwrap_or_default() > SNAPSHOT_DURATION_MAX {
        let _ = remove_dir(temp).await;
        return finish(
            &ctx,
            &key,
            &spec,
            Err("the node's save did not finish in time".into()),
        );
    }
    if let Some(source) = &spec.copied_from {
        let source_dir = match held_here(&ctx, &spec.region, source).await {
            Ok(dir) => dir,
            Err(reason) => {
                let _ = remove_dir(temp).await;
                return finish(&ctx, &key, &spec, Err(reason));
            }
        };
        let name = spec.name.clone();
        let copied = tokio::task::spawn_blocking({
            let temp = temp.clone();
            move || copy_snapshot(&source_dir, &temp, &final_dir, &name)
        })
        .await
        .unwrap_or_else(|e| Err(io::Error::other(e.to_string())));
        return finish_written(&ctx, &key, &spec, copied, temp).await;
    }
    if !spec.shards.is_empty() {
        return shards::save(&ctx, &key, &spec, observed, temp, final_dir).await;
    }
    let Some((node_spec, node_intent)) = node else {
        let _ = remove_dir(temp).await;
        return finish(
            &ctx,
            &key,
            &spec,
            Err(format!("cache cluster {} is gone", spec.node_id)),
        );
    };
    let cfg = node::node_config(&ctx.config, &node_spec, &node_intent, None);
    let addr = cfg.address();
    let info = match ctx.agent.info(&addr, NODE_CALL_TIMEOUT).await {
        Ok(info) => info,
        Err(e) => {
            // The node reconciler restarts a dead node; try again until the deadline.
            tracing::debug!(snapshot = %key, error = %e, "node not answering; will retry");
            return Ok(Next::After(RETRY_LATER));
        }
    };
    match snapshot_model::save_source(
        observed.source_run_id.as_deref(),
        observed.bgsave_run_id.as_deref(),
        &info.run_id,
    ) {
        SaveSource::Restarted => {
            let _ = remove_dir(temp).await;
            return finish(
                &ctx,
                &key,
                &spec,
                Err(text::source_restarted(&spec.node_id)),
            );
        }
        SaveSource::Unrecorded => {
            // Recorded before any save is asked: a restart after this point is always seen.
            observed.source_run_id = Some(info.run_id.clone());
            record_progress(&ctx, &key, &observed)?;
            return Ok(Next::After(Duration::ZERO));
        }
        SaveSource::Same => {}
    }
    let asked = observed.bgsave_run_id.as_deref() == Some(info.run_id.as_str());
    if !asked {
        // `DEBUG DIGEST` blocks the node for the whole walk: only small datasets get one.
        let digest = info.keys_total <= DIGEST_KEYS_MAX;
        let Some(started) = ctx.agent.bgsave(&addr, NODE_CALL_TIMEOUT, digest).await? else {
            return Ok(Next::After(SAVE_POLL));
        };
        observed.bgsave_run_id = Some(info.run_id.clone());
        observed.key_count = started.keys;
        observed.digest = started.digest;
        record_progress(&ctx, &key, &observed)?;
        return Ok(Next::After(SAVE_POLL));
    }
    if info.rdb_bgsave_in_progress {
        return Ok(Next::After(SAVE_POLL));
    }
    if !info.rdb_last_bgsave_ok {
        let _ = remove_dir(temp).await;
        let reason = save_failure(&spec.node_id, &info, &cfg.log_path()).await;
        return finish(&ctx, &key, &spec, Err(reason));
    }
    let manifest = manifest_of(&spec, &observed);
    let rdb = cfg.rdb_path();
    // A node encrypted at rest (on this host): the snapshot is sealed under the node's key,
    // and the plaintext the save wrote is removed as soon as it is sealed.
    let seal = cfg
        .at_rest_key_id
        .clone()
        .map(|key_id| (ctx.config.keys.clone(), key_id));
    let copied = match seal {
        None => {
            write_snapshot_from_host(
                &ctx,
                &node_spec,
                &node_intent,
                temp.clone(),
                final_dir,
                manifest,
            )
            .await
        }
        Some(seal) => {
            blocking({
                let temp = temp.clone();
                move || {
                    let written = write_snapshot(&rdb, &temp, &final_dir, manifest, Some(seal));
                    let _ = fs::remove_file(&rdb);
                    written
                }
            })
            .await
        }
    };
    finish_written(&ctx, &key, &spec, copied, temp).await
}

/// Records the progress of a save (unless the snapshot is being deleted): what is recorded
/// here is what a restarted controller goes on from.
fn record_progress(
    ctx: &Context,
    key: &str,
    observed: &SnapshotObserved,
) -> Result<(), ReconcileError> {
    update(ctx.store.as_ref(), |w| -> Result<(), StoreError> {
        let current = w.doc::<SnapshotSpec>(key)?;
        if current.is_some_and(|s| !s.deleting) {
            w.put_doc(key, observed)?;
        }
        Ok(())
    })?;
    Ok(())
}

/// [`finish`] for files written into `temp`: on failure the partial files go first, and the
/// cause is named (a full disk as such).
pub(super) async fn finish_written(
    ctx: &Context,
    key: &str,
    spec: &SnapshotSpec,
    written: io::Result<Manifest>,
    temp: PathBuf,
) -> Result<Next, ReconcileError> {
    let outcome = match written {
        Ok(manifest) => Ok(manifest),
        Err(e) => {
            let reason = write_failure(&e, &ctx.config.snapshots_dir);
            if let Err(e) = remove_dir(temp).await {
                tracing::warn!(snapshot = %key, error = %e, "cannot remove a failed snapshot's partial files");
            }
            Err(reason)
        }
    };
    finish(ctx, key, spec, outcome)
}

/// Why writing into `dir` failed, in words for an event.
pub(super) fn write_failure(error: &io::Error, dir: &Path) -> String {
    if error.kind() == io::ErrorKind::StorageFull {
        format!(
            "no space left on the file system of the snapshots directory ({})",
            dir.display()
        )
    } else {
        format!("writing into {} failed: {error}", dir.display())
    }
}

/// Why node `node_id`'s background save failed: the cause redis-server logged (such as "No
/// space left on device"). On a full disk the node cannot write that line into its log, which
/// lives on the same file system; then a file system with less room than the dataset takes in
/// memory is named as the likely cause (a save rarely takes more; the failed save's temporary
/// file is gone by now, so the room it filled is free again).
pub(super) async fn save_failure(node_id: &str, info: &Info, log: &Path) -> String {
    let log = log.to_path_buf();
    let (cause, free) = tokio::task::spawn_blocking(move || {
        let free = log.parent().and_then(ferrocache_store::free_bytes);
        (last_save_error(&log), free)
    })
    .await
    .unwrap_or_default();
    let dataset = info
        .raw
        .get("used_memory_dataset")
        .and_then(|v| v.parse::<u64>().ok());
    match (cause, free, dataset) {
        (Some(cause), _, _) => {
            format!("the background save of cache cluster {node_id} failed: {cause}")
        }
        (None, Some(free), Some(dataset)) if free < dataset => format!(
            "the background save of cache cluster {node_id} failed: no space left on device, \
             most likely: {} free on the file system of its data, for a dataset of {} in memory",
            crate::disk::megabytes(free),
            crate::disk::megabytes(dataset)
        ),
        _ => format!("the background save of cache cluster {node_id} failed"),
    }
}

/// How much of a node's log is searched for the cause of a failed save.
const LOG_TAIL_BYTES: u64 = 64 << 10;

/// The error of the last failed save in a redis-server log: the text after "for saving: " or
/// "saving DB on disk: " (the two lines Redis 7.0 writes with `strerror`).
fn last_save_error(log: &Path) -> Option<String> {
    use std::io::{Seek, SeekFrom};
    let mut file = File::open(log).ok()?;
    let len = file.metadata().ok()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(LOG_TAIL_BYTES)))
        .ok()?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail).ok()?;
    let tail = String::from_utf8_lossy(&tail);
    tail.lines().rev().find_map(|line| {
        ["for saving: ", "saving DB on disk: "]
            .iter()
            .find_map(|marker| line.split_once(marker))
            .map(|(_, cause)| cause.trim().to_string())
            .filter(|cause| !cause.is_empty())
    })
}

/// Whether node `node` may still be saved for snapshot `spec`: a node being deleted is gone for
/// a snapshot, unless this is its final snapshot.
fn usable_for(spec: &SnapshotSpec, node: &NodeSpec) -> bool {
    node.deletion
        .as_ref()
        .is_none_or(|d| d.final_snapshot.as_deref() == Some(spec.name.as_str()))
}

/// The manifest of a snapshot whose file is not copied yet (sizes and digests filled in by
/// [`write_snapshot`]).
fn manifest_of(spec: &SnapshotSpec, observed: &SnapshotObserved) -> Manifest {
    let file = ManifestFile {
        name: SNAPSHOT_RDB_FILE.to_string(),
        cache_cluster_id: spec.node_id.clone(),
        node_group_id: spec.node_group_id(),
        size_bytes: 0,
        sha256: String::new(),
        key_count: observed.key_count,
        slots: Vec::new(),
        digest: None,
    };
    Manifest::of(spec, vec![file], observed.digest.clone(), None)
}

impl Manifest {
    /// The manifest of snapshot `spec` holding `files`: its key count and size are theirs
    /// summed; `digest` covers the whole dataset (one file), `sealed_with` names the key the
    /// files are sealed with.
    fn of(
        spec: &SnapshotSpec,
        files: Vec<ManifestFile>,
        digest: Option<String>,
        sealed_with: Option<String>,
    ) -> Manifest {
        Manifest {
            format: MANIFEST_FORMAT,
            snapshot_name: spec.name.clone(),
            region: spec.region.clone(),
            replication_group_id: spec.group_id.clone(),
            cache_cluster_id: spec.cache_cluster_id.clone(),
            engine: spec.engine.clone(),
            engine_version: spec.engine_version.clone(),
            node_type: spec.node_type.clone(),
            parameter_group: spec.parameter_group.clone(),
            num_node_groups: spec.num_node_groups(),
            key_count: files.iter().map(|f| f.key_count).sum(),
            digest,
            size_bytes: files.iter().map(|f| f.size_bytes).sum(),
            files,
            created_at: chrono::Utc::now(),
            sealed_with,
        }
    }
}

/// Records the outcome — `available` from the manifest, or `failed` with the reason — and its
/// event, in one transaction, unless the snapshot was deleted or finished meanwhile.
fn finish(
    ctx: &Context,
    key: &str,
    spec: &SnapshotSpec,
    outcome: Result<Manifest, String>,
) -> Result<Next, ReconcileError> {
    update(ctx.store.as_ref(), |w| -> Result<(), StoreError> {
        let Some(current) = w.doc::<SnapshotSpec>(key)? else {
            return Ok(());
        };
        let mut observed = w.doc::<SnapshotObserved>(key)?.unwrap_or_default();
        if current.deleting || observed.phase != SnapshotPhase::Saving {
            return Ok(());
        }
        let now = chrono::Utc::now();
        let message = match &outcome {
            Ok(manifest) => {
                observed.phase = SnapshotPhase::Available;
                observed.size_bytes = manifest.size_bytes;
                observed.key_count = manifest.key_count;
                observed.sha256 = manifest.files.first().map(|f| f.sha256.clone());
                observed.completed_at = Some(manifest.created_at);
                observed.held_by = ctx.config.host.clone();
                match &spec.group_id {
                    Some(g) => text::snapshot_succeeded_group(&spec.name, g),
                    None => text::snapshot_succeeded_cluster(&spec.name, &spec.node_id),
                }
            }
            Err(reason) => {
                tracing::warn!(snapshot = %key, reason = %reason, "snapshot failed");
                observed.phase = SnapshotPhase::Failed;
                observed.failure = Some(reason.clone());
                observed.completed_at = Some(now);
                match &spec.group_id {
                    Some(g) => text::snapshot_failed_group(&spec.name, g),
                    None => text::snapshot_failed_cluster(&spec.name, &spec.node_id),
                }
            }
        };
        w.put_doc(key, &observed)?;
        // AWS records snapshot events on the cache cluster that took the snapshot. AWS
        // documents none for a copy; a failed one still gets its cause.
        if spec.copied_from.is_none() {
            events::record(
                w,
                &spec.region,
                &spec.node_id,
                SourceType::CacheCluster,
                message,
                now,
            )?;
        }
        if let Err(reason) = &outcome {
            events::record(
                w,
                &spec.region,
                &spec.node_id,
                SourceType::CacheCluster,
                text::snapshot_failed_because(&spec.name, reason),
                now,
            )?;
        }
        Ok(())
    })?;
    if let (Some(own), Ok(manifest)) = (&ctx.own, &outcome) {
        if let Ok(took) = (manifest.created_at - spec.created_at).to_std() {
            own.snapshot_completed(took.as_secs_f64());
        }
    }
    Ok(Next::Done)
}

/// Uploads export number `index` of the snapshot (`<target>-<node group>.rdb` for each RDB
/// file, then `<target>-manifest.json` with the target's name) and records the outcome — an
/// event either way, and the export counted done — unless the snapshot changed meanwhile. A
/// failure leaves the snapshot itself `available` and untouched. A crash mid-upload uploads
/// again (a `PUT` replaces the object whole).
async fn export(
    ctx: &Context,
    key: &str,
    spec: &SnapshotSpec,
    index: usize,
    final_dir: &Path,
) -> Result<Next, ReconcileError> {
    let job = &spec.exports[index];
    let outcome = match ctx.objects.as_deref() {
        None => Err("this Ferrocache has no object store (--s3-endpoint)".to_string()),
        Some(objects) => match held_here(ctx, &spec.region, &spec.name).await {
            Ok(dir) => {
                debug_assert_eq!(dir, final_dir);
                upload(objects, &dir, &job.bucket, &job.target_name)
                    .await
                    .map_err(|e| e.to_string())
            }
            Err(reason) => Err(reason),
        },
    };
    update(ctx.store.as_ref(), |w| -> Result<(), StoreError> {
        let Some(current) = w.doc::<SnapshotSpec>(key)? else {
            return Ok(());
        };
        let mut observed = w.doc::<SnapshotObserved>(key)?.unwrap_or_default();
        if current.deleting || observed.exports_done != index {
            return Ok(());
        }
        observed.exports_done = index + 1;
        w.put_doc(key, &observed)?;
        let message = match &outcome {
            Ok(object_keys) => {
                text::export_succeeded(&spec.name, &job.bucket, &object_keys.join(", "))
            }
            Err(reason) => {
                tracing::warn!(snapshot = %key, bucket = %job.bucket, %reason, "export failed");
                text::export_failed(&spec.name, &job.bucket, reason)
            }
        };
        events::record(
            w,
            &spec.region,
            &spec.node_id,
            SourceType::CacheCluster,
            message,
            chrono::Utc::now(),
        )
    })?;
    Ok(Next::Done)
}

/// Uploads each of a snapshot's RDB files as `<target>-<node group>.rdb` and its manifest
/// (renamed `target`, naming the uploaded objects) beside them; answers the RDB objects' keys.
async fn upload(
    objects: &dyn crate::object_store::ObjectStore,
    dir: &Path,
    bucket: &str,
    target: &str,
) -> Result<Vec<String>, crate::object_store::ObjectError> {
    let mut manifest = read_manifest(dir).ok_or_else(|| {
        io::Error::new(io::ErrorKind::NotFound, "the snapshot's files are missing")
    })?;
    if manifest.files.is_empty() {
        return Err(
            io::Error::new(io::ErrorKind::InvalidData, "the snapshot lists no RDB file").into(),
        );
    }
    let mut object_keys = Vec::new();
    for file in &mut manifest.files {
        let object_key = snapshot_model::export_object_key(target, &file.node_group_id);
        objects
            .put_file(bucket, &object_key, &dir.join(&file.name))
            .await?;
        file.name = object_key.clone();
        object_keys.push(object_key);
    }
    manifest.snapshot_name = target.to_string();
    let json = serde_json::to_vec_pretty(&manifest).map_err(io::Error::other)?;
    objects
        .put_bytes(bucket, &snapshot_model::export_manifest_key(target), json)
        .await?;
    Ok(object_keys)
}

/// Removes a deleted snapshot's files, then its records.
async fn delete(
    ctx: &Context,
    key: &str,
    final_dir: PathBuf,
    temp: PathBuf,
) -> Result<Next, ReconcileError> {
    if let Err(e) = remove_dir(final_dir).await.and(remove_dir(temp).await) {
        tracing::warn!(snapshot = %key, error = %e, "cannot remove snapshot files; will retry");
        return Ok(Next::After(RETRY_LATER));
    }
    update(ctx.store.as_ref(), |w| -> Result<(), StoreError> {
        if w.doc::<SnapshotSpec>(key)?.is_some_and(|s| s.deleting) {
            w.delete_doc::<SnapshotSpec>(key)?;
            w.delete_doc::<SnapshotObserved>(key)?;
        }
        Ok(())
    })?;
    Ok(Next::Done)
}

/// Removes a directory and everything in it; a missing one is fine.
async fn remove_dir(dir: PathBuf) -> io::Result<()> {
    tokio::task::spawn_blocking(move || match fs::remove_dir_all(&dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    })
    .await
    .unwrap_or_else(|e| Err(io::Error::other(e.to_string())))
}

/// The directory of snapshot `name` here, with its files: when this host does not have them
/// but another holds them (`SnapshotObserved::held_by`: the host that led when they were
/// written), they are copied from that host first — through a temporary directory, each file
/// checked against the manifest's size and SHA-256, then renamed into place — so a host that
/// takes the leadership can restore, copy and export the snapshots taken before. Returns why
/// not, as an event can say it.
pub(crate) async fn held_here(ctx: &Context, region: &str, name: &str) -> Result<PathBuf, String> {
    let dirs = &ctx.config.snapshots_dir;
    let dir = snapshot_dir(dirs, region, name);
    if read_manifest(&dir).is_some() {
        return Ok(dir);
    }
    let missing = || format!("the files of snapshot {name} are missing");
    let key = tables::key(region, name);
    let holder = view(ctx.store.as_ref(), |r| r.doc::<SnapshotObserved>(&key))
        .map_err(|e| e.to_string())?
        .and_then(|o| o.held_by)
        .filter(|h| ctx.config.host.as_ref() != Some(h))
        .ok_or_else(missing)?;
    let temp = region_dir(dirs, region).join(format!(".{name}.fetch"));
    let fetched = fetch(ctx, &holder, region, name, &temp, &dir).await;
    if fetched.is_err() {
        let _ = remove_dir(temp).await;
    }
    fetched.map_err(|e| format!("cannot copy snapshot {name} from host {holder}: {e}"))?;
    tracing::info!(snapshot = %name, %holder, "copied a snapshot's files from the host holding them");
    Ok(dir)
}

/// Copies snapshot `name` from `holder` into `temp`, checks it, and renames it to `dir`.
async fn fetch(
    ctx: &Context,
    holder: &str,
    region: &str,
    name: &str,
    temp: &Path,
    dir: &Path,
) -> Result<(), String> {
    let temp_owned = temp.to_path_buf();
    blocking(move || fresh_dir(&temp_owned))
        .await
        .map_err(|e| e.to_string())?;
    ctx.agent
        .copy_snapshot_file(
            holder,
            region,
            name,
            MANIFEST_FILE,
            &temp.join(MANIFEST_FILE),
        )
        .await
        .map_err(|e| e.to_string())?;
    let manifest = read_manifest(temp).ok_or("its manifest cannot be read")?;
    for file in &manifest.files {
        if Path::new(&file.name).file_name() != Some(std::ffi::OsStr::new(&file.name)) {
            return Err(format!(
                "its manifest names an invalid file {:?}",
                file.name
            ));
        }
        let (size, sha256) = ctx
            .agent
            .copy_snapshot_file(holder, region, name, &file.name, &temp.join(&file.name))
            .await
            .map_err(|e| e.to_string())?;
        if size != file.size_bytes || sha256 != file.sha256 {
            return Err(format!(
                "its file {} does not match its manifest",
                file.name
            ));
        }
    }
    let (temp, dir) = (temp.to_path_buf(), dir.to_path_buf());
    blocking(move || commit(&temp, &dir, &manifest))
        .await
        .map_err(|e| e.to_string())
}

/// The manifest of a complete snapshot directory, if there is one.
pub fn read_manifest(dir: &Path) -> Option<Manifest> {
    let bytes = fs::read(dir.join(MANIFEST_FILE)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Copies `rdb` into `temp` with its digest (sealed under the key `seal` names, for encryption
/// at rest), writes the manifest, syncs both and the directory, and renames `temp` to
/// `final_dir`. Returns the completed manifest.
fn write_snapshot(
    rdb: &Path,
    temp: &Path,
    final_dir: &Path,
    mut manifest: Manifest,
    seal: Option<(Option<KeyRing>, String)>,
) -> io::Result<Manifest> {
    fresh_dir(temp)?;
    let target = temp.join(SNAPSHOT_RDB_FILE);
    let (size, sha256) = match seal {
        None => link_or_copy_hashed(rdb, &target)?,
        Some((keys, key_id)) => {
            let keys = keys.ok_or_else(|| {
                io::Error::other(format!("the encryption key {key_id} is not available"))
            })?;
            ferrocache_encryption::encrypt_file(&keys, &key_id, rdb, &target)
                .map_err(io::Error::other)?;
            manifest.sealed_with = Some(key_id);
            hash_file(&target)?
        }
    };
    complete(temp, final_dir, manifest, size, sha256)
}

/// Has the node's host copy its data file into `temp` (`NodeRuntime::copy_data_file`: a link
/// on this host, a transfer from another), then completes the snapshot as [`write_snapshot`]
/// does.
async fn write_snapshot_from_host(
    ctx: &Context,
    node: &NodeSpec,
    intent: &NodeIntent,
    temp: PathBuf,
    final_dir: PathBuf,
    manifest: Manifest,
) -> io::Result<Manifest> {
    blocking({
        let temp = temp.clone();
        move || fresh_dir(&temp)
    })
    .await?;
    let (size, sha256) = ctx
        .agent
        .copy_data_file(&node.id, intent.host_name(), &temp.join(SNAPSHOT_RDB_FILE))
        .await
        .map_err(io::Error::other)?;
    blocking(move || complete(&temp, &final_dir, manifest, size, sha256)).await
}

/// Runs `f` off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(io::Error::other(e.to_string())))
}

/// `temp`, empty (whatever an earlier attempt left is removed).
fn fresh_dir(temp: &Path) -> io::Result<()> {
    match fs::remove_dir_all(temp) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    fs::create_dir_all(temp)
}

/// Records the data file's `size` and `sha256` in `manifest` and commits `temp` as
/// `final_dir`.
fn complete(
    temp: &Path,
    final_dir: &Path,
    mut manifest: Manifest,
    size: u64,
    sha256: String,
) -> io::Result<Manifest> {
    manifest.size_bytes = size;
    manifest.created_at = chrono::Utc::now();
    for file in &mut manifest.files {
        file.size_bytes = size;
        file.sha256 = sha256.clone();
    }
    commit(temp, final_dir, &manifest)?;
    Ok(manifest)
}

/// Copies the complete snapshot in `source_dir` to `final_dir` (through `temp`) as snapshot
/// `name`: every file its manifest lists, each checked against the manifest's size and SHA-256,
/// and the manifest itself with only the name changed (the copy describes the same data).
fn copy_snapshot(
    source_dir: &Path,
    temp: &Path,
    final_dir: &Path,
    name: &str,
) -> io::Result<Manifest> {
    let mut manifest = read_manifest(source_dir).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            "the files of the source snapshot are missing",
        )
    })?;
    match fs::remove_dir_all(temp) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    fs::create_dir_all(temp)?;
    for file in &manifest.files {
        // Names come from our own manifest; a path in one is damage, not a file to follow.
        if Path::new(&file.name).file_name() != Some(std::ffi::OsStr::new(&file.name)) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the source manifest names an invalid file {:?}", file.name),
            ));
        }
        let (size, sha256) =
            link_or_copy_hashed(&source_dir.join(&file.name), &temp.join(&file.name))?;
        if size != file.size_bytes || sha256 != file.sha256 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the file {} of the source snapshot does not match its manifest",
                    file.name
                ),
            ));
        }
    }
    manifest.snapshot_name = name.to_string();
    commit(temp, final_dir, &manifest)?;
    Ok(manifest)
}

/// The size and SHA-256 of a file.
fn hash_file(path: &Path) -> io::Result<(u64, String)> {
    hash_through(&mut File::open(path)?, &mut io::sink())
}

/// Puts the complete file `source` under the new name `target` and syncs it; returns the size
/// and SHA-256.
///
/// A hard link where the file system allows one, a copy otherwise. An RDB file is never written
/// in place once complete — Redis and Ferrocache replace data files by a rename, snapshot files
/// are never rewritten — so a snapshot may share the saved bytes instead of taking their room a
/// second time: a snapshot (or its copy, or a restore) of a 40 MB dataset then needs no 40 MB
/// more. Whatever was at `target` goes first, unopened: writing into a leftover that is itself
/// a link would change the file it shares.
pub(crate) fn link_or_copy_hashed(source: &Path, target: &Path) -> io::Result<(u64, String)> {
    match fs::remove_file(target) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    match fs::hard_link(source, target) {
        Ok(()) => {
            let hashed = hash_file(target)?;
            File::open(target)?.sync_all()?;
            Ok(hashed)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(e),
        // Another file system, or one without links: a copy.
        Err(_) => copy_hashed(source, target),
    }
}

/// Copies `source` to the new file `target` (which must not exist) and syncs it; returns the
/// size and SHA-256.
///
/// The source is opened once and read to its end: Redis replaces `dump.rdb` by a rename, so the
/// file opened is a complete save even if a newer one lands under the name meanwhile.
fn copy_hashed(source: &Path, target: &Path) -> io::Result<(u64, String)> {
    let mut input = File::open(source)?;
    let mut copy = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(target)?;
    let hashed = hash_through(&mut input, &mut copy)?;
    copy.sync_all()?;
    Ok(hashed)
}

/// Reads `input` to its end, writing every byte to `output`; returns the size and SHA-256.
fn hash_through(input: &mut impl Read, output: &mut impl Write) -> io::Result<(u64, String)> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; COPY_BUFFER_BYTES];
    let mut size: u64 = 0;
    loop {
        let n = input.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        output.write_all(&buffer[..n])?;
        size += n as u64;
    }
    Ok((size, crate::hex(&hasher.finalize())))
}

/// Writes `manifest` into `temp`, syncs it and the directory, and renames `temp` to
/// `final_dir` (then syncs the parent): the final directory appears complete or not at all.
fn commit(temp: &Path, final_dir: &Path, manifest: &Manifest) -> io::Result<()> {
    let json = serde_json::to_vec_pretty(manifest).map_err(io::Error::other)?;
    let mut manifest_file = File::create(temp.join(MANIFEST_FILE))?;
    manifest_file.write_all(&json)?;
    manifest_file.sync_all()?;
    File::open(temp)?.sync_all()?;
    // A directory left under the final name without a manifest is not a snapshot (only a
    // rename creates it, so this is someone else's debris); it must not block ours.
    if final_dir.exists() {
        fs::remove_dir_all(final_dir)?;
    }
    fs::rename(temp, final_dir)?;
    if let Some(parent) = final_dir.parent() {
        File::open(parent)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest {
            format: MANIFEST_FORMAT,
            snapshot_name: "s".into(),
            region: "us-east-1".into(),
            replication_group_id: None,
            cache_cluster_id: Some("c".into()),
            engine: "redis".into(),
            engine_version: "7.0.15".into(),
            node_type: "cache.t3.micro".into(),
            parameter_group: "default.redis7".into(),
            num_node_groups: 1,
            key_count: 3,
            digest: None,
            size_bytes: 0,
            files: vec![ManifestFile {
                name: SNAPSHOT_RDB_FILE.into(),
                cache_cluster_id: "c".into(),
                node_group_id: ferrocache_model::ids::shard_id(1),
                size_bytes: 0,
                sha256: String::new(),
                key_count: 3,
                slots: Vec::new(),
                digest: None,
            }],
            created_at: chrono::Utc::now(),
            sealed_with: None,
        }
    }

    // Goal: a snapshot directory appears only complete, with the digest of the bytes copied,
    // and a leftover temporary directory (a crash mid-copy) does not stop the next attempt.
    // Method: write a file, leave debris in the temp dir, copy, read the result back.
    #[test]
    fn writes_atomically_with_digest() {
        let dir = tempfile::tempdir().unwrap();
        let rdb = dir.path().join("dump.rdb");
        fs::write(&rdb, b"abc").unwrap();
        let temp = temp_dir(dir.path(), "us-east-1", "s");
        fs::create_dir_all(&temp).unwrap();
        fs::write(temp.join("half"), b"x").unwrap();
        let final_dir = snapshot_dir(dir.path(), "us-east-1", "s");
        let m = write_snapshot(&rdb, &temp, &final_dir, manifest(), None).unwrap();
        assert!(!temp.exists());
        assert_eq!(
            m.files[0].sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(m.size_bytes, 3);
        assert_eq!(fs::read(final_dir.join(SNAPSHOT_RDB_FILE)).unwrap(), b"abc");
        assert_eq!(read_manifest(&final_dir), Some(m));
        assert!(!final_dir.join("half").exists());
    }

    // Goal: a snapshot of a node encrypted at rest is stored sealed (no plaintext in the
    // snapshot directory), its manifest names the key and digests the sealed bytes, and it
    // opens only with that key. Method: write one with a key ring, unseal with it and with
    // another ring.
    #[test]
    fn sealed_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let rdb = dir.path().join("dump.rdb");
        let plain = b"REDIS0010 plaintext keys and values".repeat(100);
        fs::write(&rdb, &plain).unwrap();
        let keys = KeyRing::in_directory(dir.path().join("keys"));
        let final_dir = snapshot_dir(dir.path(), "us-east-1", "s");
        let m = write_snapshot(
            &rdb,
            &temp_dir(dir.path(), "us-east-1", "s"),
            &final_dir,
            manifest(),
            Some((Some(keys.clone()), "alias/aws/elasticache".into())),
        )
        .unwrap();
        assert_eq!(m.sealed_with.as_deref(), Some("alias/aws/elasticache"));
        let stored = fs::read(final_dir.join(SNAPSHOT_RDB_FILE)).unwrap();
        assert!(!stored.windows(20).any(|w| w == &plain[..20]));
        assert_eq!(
            hash_file(&final_dir.join(SNAPSHOT_RDB_FILE)).unwrap().1,
            m.files[0].sha256
        );
        let back = dir.path().join("back");
        ferrocache_encryption::decrypt_file(&keys, &final_dir.join(SNAPSHOT_RDB_FILE), &back)
            .unwrap();
        assert_eq!(fs::read(&back).unwrap(), plain);
        let stranger = KeyRing::in_directory(dir.path().join("other"));
        assert!(ferrocache_encryption::decrypt_file(
            &stranger,
            &final_dir.join(SNAPSHOT_RDB_FILE),
            &back
        )
        .is_err());
        // Without a key ring the snapshot fails rather than being stored in plaintext.
        let e = write_snapshot(
            &rdb,
            &temp_dir(dir.path(), "us-east-1", "t"),
            &snapshot_dir(dir.path(), "us-east-1", "t"),
            manifest(),
            Some((None, "k".into())),
        )
        .unwrap_err();
        assert!(e.to_string().contains("not available"), "{e}");
    }

    // Goal: a snapshot file shares the saved bytes (a hard link: no second copy on disk), and
    // a leftover at the target that is itself a link to another file is replaced, never
    // written through. Method: a leftover linked to a "victim" file, then link_or_copy_hashed.
    #[test]
    fn links_without_writing_through_leftovers() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("dump.rdb");
        fs::write(&source, b"abc").unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, b"keep me").unwrap();
        let target = dir.path().join("copy.rdb");
        fs::hard_link(&victim, &target).unwrap();
        let (size, sha256) = link_or_copy_hashed(&source, &target).unwrap();
        assert_eq!(size, 3);
        assert_eq!(sha256, hash_file(&source).unwrap().1);
        assert_eq!(fs::read(&victim).unwrap(), b"keep me");
        assert_eq!(
            fs::metadata(&target).unwrap().ino(),
            fs::metadata(&source).unwrap().ino(),
            "one file on disk, two names"
        );
        let missing = link_or_copy_hashed(&dir.path().join("gone"), &target).unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
    }

    // Goal: the cause of a failed save is read from the node's own log — the last failure's
    // errno text — and a log without one gives none. Method: logs written by hand with Redis
    // 7.0's two failure lines.
    #[test]
    fn reads_the_cause_of_a_failed_save_from_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("redis.log");
        assert_eq!(last_save_error(&log), None);
        fs::write(
            &log,
            "1:M 06 Dec 2026 10:00:00.000 * Background saving started by pid 7\n\
             7:C 06 Dec 2026 10:00:00.100 # Failed opening the temp RDB file temp-7.rdb (in \
             server root dir /d) for saving: Permission denied\n\
             8:C 06 Dec 2026 10:00:01.100 # Write error saving DB on disk: No space left on device\n\
             1:M 06 Dec 2026 10:00:01.200 # Background saving error\n",
        )
        .unwrap();
        assert_eq!(
            last_save_error(&log).as_deref(),
            Some("No space left on device")
        );
        fs::write(&log, "1:M * Ready to accept connections\n").unwrap();
        assert_eq!(last_save_error(&log), None);
    }

    // Goal: a copy holds the same bytes and manifest under the new name, and a source file
    // that no longer matches its manifest fails the copy without leaving a final directory.
    // Method: write a snapshot, copy it, then damage the source and copy again.
    #[test]
    fn copies_checked_against_the_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let rdb = dir.path().join("dump.rdb");
        fs::write(&rdb, b"abc").unwrap();
        let source = snapshot_dir(dir.path(), "us-east-1", "s");
        let original = write_snapshot(
            &rdb,
            &temp_dir(dir.path(), "us-east-1", "s"),
            &source,
            manifest(),
            None,
        )
        .unwrap();
        let copy = snapshot_dir(dir.path(), "us-east-1", "c");
        let temp = temp_dir(dir.path(), "us-east-1", "c");
        let m = copy_snapshot(&source, &temp, &copy, "c").unwrap();
        assert_eq!(m.snapshot_name, "c");
        assert_eq!(m.files, original.files);
        assert_eq!(m.created_at, original.created_at);
        assert_eq!(fs::read(copy.join(SNAPSHOT_RDB_FILE)).unwrap(), b"abc");
        assert_eq!(read_manifest(&copy), Some(m));
        assert!(!temp.exists());

        fs::write(source.join(SNAPSHOT_RDB_FILE), b"abd").unwrap();
        let broken = snapshot_dir(dir.path(), "us-east-1", "d");
        let err = copy_snapshot(
            &source,
            &temp_dir(dir.path(), "us-east-1", "d"),
            &broken,
            "d",
        )
        .unwrap_err();
        assert!(err.to_string().contains("does not match"), "{err}");
        assert!(!broken.exists());
    }
}
