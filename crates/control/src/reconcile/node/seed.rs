//! Seeding a restored node: the snapshot's RDB (or an S3 object named by `SnapshotArns`) placed
//! in the node's directory before its first start, checked against its SHA-256; a restore that
//! cannot be placed or that the engine refuses ends `restore-failed`; once the restored primary
//! runs, its key count and dataset digest are compared with the snapshot's manifest.

use ferrocache_agent::AgentError;
use ferrocache_engine::NodeAddress;
use ferrocache_model::ids;
use ferrocache_model::node::{NodeObserved, NodeSpec};
use ferrocache_model::snapshot::text as snapshot_text;

use super::super::{snapshot, Context, Next, ReconcileError};
use super::{mark_down, process::EVENT_REASON_LEN_MAX, save_with_group, NODE_CALL_TIMEOUT};
use crate::runtime::RuntimeError;

/// Places the RDB of snapshot `name` for the node's first start. Returns `Some(Done)` when the
/// restore failed (recorded: the node is never started), `None` to go on with the start.
///
/// # Errors
/// Store failures.
pub(crate) async fn place(
    ctx: &Context,
    key: &str,
    spec: &NodeSpec,
    host: Option<&str>,
    name: &str,
    primary: bool,
    observed: &mut NodeObserved,
) -> Result<Option<Next>, ReconcileError> {
    let before = observed.clone();
    let seeded = match seed(ctx, spec, host, name).await {
        // The node's host out of reach fails nothing: the seed is tried again.
        Err(Unseeded::HostUnreachable(reason)) => {
            tracing::warn!(node = %spec.id, snapshot = %name, %reason, "cannot seed the node yet");
            return Ok(Some(Next::After(super::process::START_RETRY_DELAY)));
        }
        Err(Unseeded::Failed(reason)) => Err(reason),
        Ok(()) => Ok(()),
    };
    let shard_id = spec.shard_id.clone().unwrap_or_else(|| ids::shard_id(1));
    let mut messages = Vec::new();
    let mut group_messages = Vec::new();
    if !observed.seeded && primary {
        messages.push(snapshot_text::restore_in_progress(&shard_id));
        group_messages.push(snapshot_text::restore_in_progress(&shard_id));
    }
    observed.seeded = true;
    if let Err(reason) = seeded {
        tracing::warn!(node = %spec.id, snapshot = %name, %reason, "restore failed");
        fail(observed, name, &reason, &mut messages);
        mark_down(observed);
        save_with_group(ctx, key, spec, observed, &messages, &group_messages)?;
        return Ok(Some(Next::Done));
    }
    if *observed != before {
        save_with_group(ctx, key, spec, observed, &messages, &group_messages)?;
    }
    Ok(None)
}

/// Marks a restore failed (status `restore-failed`) with AWS's event and the reason.
pub(crate) fn fail(
    observed: &mut NodeObserved,
    name: &str,
    reason: &str,
    messages: &mut Vec<String>,
) {
    let reason: String = reason.chars().take(EVENT_REASON_LEN_MAX).collect();
    observed.failed = Some(reason.clone());
    observed.restore_failed = true;
    messages.push(snapshot_text::restore_failed(name, ids::CACHE_NODE_ID));
    messages.push(snapshot_text::restore_failed_reason(name, &reason));
}

/// Why a seed did not happen.
enum Unseeded {
    /// The restore fails, for this reason (as an event can say it).
    Failed(String),
    /// The node's host could not be reached: try again.
    HostUnreachable(String),
}

impl From<String> for Unseeded {
    fn from(reason: String) -> Self {
        Unseeded::Failed(reason)
    }
}

/// Places the snapshot's RDB in the node's directory on its host (`host`; `None`: this one),
/// checked against the manifest's SHA-256.
async fn seed(
    ctx: &Context,
    spec: &NodeSpec,
    host: Option<&str>,
    name: &str,
) -> Result<(), Unseeded> {
    if let Some((bucket, key)) = ferrocache_model::snapshot::s3_object(name) {
        return seed_from_object(ctx, spec, host, bucket, key).await;
    }
    let dir = snapshot::held_here(ctx, &spec.region, name).await?;
    let manifest = snapshot::read_manifest(&dir)
        .ok_or_else(|| format!("the files of snapshot {name} are missing"))?;
    let file = snapshot_file(&manifest, spec)
        .ok_or_else(|| format!("snapshot {name} lists no RDB file for this node group"))?;
    ctx.agent
        .seed_data(&spec.id, host, &dir.join(&file.name), &file.sha256)
        .await
        .map_err(|e| match e {
            RuntimeError::Agent(AgentError::DigestMismatch { .. }) => Unseeded::Failed(format!(
                "the RDB file of snapshot {name} does not match the SHA-256 in its manifest"
            )),
            other => unseeded(other),
        })
}

fn unseeded(error: RuntimeError) -> Unseeded {
    match error.host_unreachable() {
        true => Unseeded::HostUnreachable(error.to_string()),
        false => Unseeded::Failed(error.to_string()),
    }
}

/// The file of `manifest` that seeds node `spec`: a single file seeds every node of the group;
/// in a snapshot of several shards, the file of the node's shard.
fn snapshot_file<'a>(
    manifest: &'a snapshot::Manifest,
    spec: &NodeSpec,
) -> Option<&'a snapshot::ManifestFile> {
    match manifest.files.as_slice() {
        [one] => Some(one),
        files => {
            let shard = spec.shard_id.as_deref()?;
            files.iter().find(|f| f.node_group_id == shard)
        }
    }
}

/// Places the RDB object `bucket/key` (`SnapshotArns`) in the node's directory: downloaded into
/// `<snapshots_dir>/<region>/.seed-<node>.rdb` (dot-named: never a snapshot) with its SHA-256,
/// then copied in by the agent, checked against that digest, as a snapshot's file is. Whether
/// redis-server can load it shows at the node's first start (an RDB it refuses fails the
/// restore).
async fn seed_from_object(
    ctx: &Context,
    spec: &NodeSpec,
    host: Option<&str>,
    bucket: &str,
    key: &str,
) -> Result<(), Unseeded> {
    let objects = ctx
        .objects
        .as_ref()
        .ok_or_else(|| "this Ferrocache has no object store (--s3-endpoint)".to_string())?;
    let dir = snapshot::region_dir(&ctx.config.snapshots_dir, &spec.region);
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let staged = dir.join(format!(".seed-{}.rdb", spec.id));
    let downloaded = objects.get_file(bucket, key, &staged).await;
    let result = match downloaded {
        Ok((_, sha256)) => ctx
            .agent
            .seed_data(&spec.id, host, &staged, &sha256)
            .await
            .map_err(unseeded),
        Err(e) => Err(Unseeded::Failed(format!("cannot read the object: {e}"))),
    };
    let _ = tokio::fs::remove_file(&staged).await;
    result
}

/// AWS's "Restore ... succeeded" and our verdict on the restored primary's data: its key count
/// and (when the snapshot recorded one: small datasets, see `snapshot::DIGEST_KEYS_MAX`) its
/// dataset digest, compared with the manifest. A node that cannot digest, or a failed call, is
/// verified by its key count only.
pub(crate) async fn verify(
    ctx: &Context,
    spec: &NodeSpec,
    shard_id: &str,
    name: &str,
    address: &NodeAddress,
    keys: u64,
) -> Vec<String> {
    let manifest = snapshot::read_manifest(&snapshot::snapshot_dir(
        &ctx.config.snapshots_dir,
        &spec.region,
        name,
    ));
    // Per file when the snapshot has several (each shard's primary holds one file's keys).
    let expected = manifest.as_ref().map(|m| match m.files.as_slice() {
        [_, _, ..] => snapshot_file(m, spec).map_or((0, None), |f| (f.key_count, f.digest.clone())),
        _ => (m.key_count, m.digest.clone()),
    });
    let digest = if expected.as_ref().is_some_and(|(_, d)| d.is_some()) {
        ctx.agent
            .digest(address, NODE_CALL_TIMEOUT)
            .await
            .unwrap_or(None)
    } else {
        None
    };
    let verdict = if ferrocache_model::snapshot::s3_object(name).is_some() {
        snapshot_text::restore_loaded_object(keys, name)
    } else {
        match expected {
            None => snapshot_text::restore_mismatch(keys, 0),
            Some((key_count, expected_digest)) => {
                match (expected_digest.as_deref(), digest.as_deref()) {
                    (Some(expected), Some(actual)) if expected == actual => {
                        snapshot_text::restore_verified_digest(keys)
                    }
                    (Some(expected), Some(actual)) => {
                        snapshot_text::restore_digest_mismatch(keys, actual, expected)
                    }
                    _ if key_count == keys => snapshot_text::restore_verified(keys),
                    _ => snapshot_text::restore_mismatch(keys, key_count),
                }
            }
        }
    };
    vec![snapshot_text::restore_succeeded(shard_id), verdict]
}
