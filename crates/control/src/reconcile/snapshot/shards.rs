//! The save of a cluster-mode group's snapshot: one RDB per shard.
//!
//! Every shard saves at once, each on the member the spec names. As soon as one shard's save
//! is complete its RDB is copied into the snapshot's temporary directory as `<shard>.rdb`
//! (sealed for encryption at rest), the file and the directory are synced, and only then is the
//! copy recorded (`SnapshotObserved.shards`). Once every shard is copied, the manifest (one
//! entry per file, with its slots' shard, size, SHA-256, key count and digest) and the rename
//! make the snapshot whole, as for one file.
//!
//! Crash safety: a shard recorded as copied whose file is missing or of another size (the
//! temporary directory was lost) is saved again; a copy not yet recorded is simply redone.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use ferrocache_model::node::{NodeIntent, NodeSpec};
use std::time::Duration;

use ferrocache_model::snapshot::{save_source, text, SaveSource};
use ferrocache_model::snapshot::{shard_file_name, ShardSave, SnapshotObserved, SnapshotPhase};
use ferrocache_model::snapshot::{SnapshotShard, SnapshotSpec};
use ferrocache_store::{update, view, ReadExt, StoreError, WriteExt};

use super::super::{node, Context, Next, ReconcileError};
use super::{
    commit, finish, finish_written, hash_file, link_or_copy_hashed, save_failure, write_failure,
    Manifest, ManifestFile, DIGEST_KEYS_MAX, NODE_CALL_TIMEOUT, RETRY_LATER, SAVE_POLL,
};

/// One pass over the shards of snapshot `key`: asks for the saves not asked yet, copies the
/// ones complete, and commits the snapshot once every shard is copied.
///
/// # Errors
/// Store failures (retried).
pub(super) async fn save(
    ctx: &Context,
    key: &str,
    spec: &SnapshotSpec,
    mut observed: SnapshotObserved,
    temp: PathBuf,
    final_dir: PathBuf,
) -> Result<Next, ReconcileError> {
    observed
        .shards
        .resize(spec.shards.len(), ShardSave::default());
    let before = observed.clone();
    forget_lost_copies(&mut observed, spec, &temp);
    if observed.shards.iter().all(|s| s.copied.is_none()) {
        // Nothing of ours is in the temporary directory yet: whatever is there is debris.
        let _ = super::remove_dir(temp.clone()).await;
    }
    let mut next: Option<Next> = None;
    let mut soonest = |n: Next| {
        next = Some(match next.take() {
            Some(Next::After(a)) => match n {
                Next::After(b) => Next::After(a.min(b)),
                other => other,
            },
            _ => n,
        });
    };
    for (part, save) in spec.shards.iter().zip(observed.shards.iter_mut()) {
        if save.copied.is_some() {
            continue;
        }
        match step(ctx, spec, part, save, &temp).await {
            Ok(n) => soonest(n),
            Err(reason) => {
                let _ = super::remove_dir(temp).await;
                return finish(ctx, key, spec, Err(reason));
            }
        }
    }
    if observed != before {
        update(ctx.store.as_ref(), |w| -> Result<(), StoreError> {
            let current = w.doc::<SnapshotSpec>(key)?;
            let phase = w.doc::<SnapshotObserved>(key)?.unwrap_or_default().phase;
            if current.is_some_and(|s| !s.deleting) && phase == SnapshotPhase::Saving {
                w.put_doc(key, &observed)?;
            }
            Ok(())
        })?;
    }
    if let Some(next) = next {
        return Ok(next);
    }
    let manifest = manifest_of(spec, &observed);
    let committed = tokio::task::spawn_blocking({
        let temp = temp.clone();
        move || commit(&temp, &final_dir, &manifest).map(|()| manifest)
    })
    .await
    .unwrap_or_else(|e| Err(io::Error::other(e.to_string())));
    finish_written(ctx, key, spec, committed, temp).await
}

/// Forgets copies recorded before a crash whose file is no longer what was recorded.
fn forget_lost_copies(observed: &mut SnapshotObserved, spec: &SnapshotSpec, temp: &Path) {
    for (part, save) in spec.shards.iter().zip(observed.shards.iter_mut()) {
        let Some((size, _)) = &save.copied else {
            continue;
        };
        let present = fs::metadata(temp.join(shard_file_name(&part.shard_id)))
            .is_ok_and(|m| m.len() == *size);
        if !present {
            *save = ShardSave::default();
        }
    }
}

/// Moves the save of one shard on: asks for it, waits for it, or copies it. Answers when to
/// look again (`Done` once copied), or why the snapshot fails.
async fn step(
    ctx: &Context,
    spec: &SnapshotSpec,
    part: &SnapshotShard,
    save: &mut ShardSave,
    temp: &Path,
) -> Result<Next, String> {
    let node = view(ctx.store.as_ref(), |r| -> Result<_, StoreError> {
        let node_key = ferrocache_store::tables::key(&spec.region, &part.node_id);
        Ok(
            match (
                r.doc::<NodeSpec>(&node_key)?,
                r.doc::<NodeIntent>(&node_key)?,
            ) {
                (Some(s), Some(i)) if super::usable_for(spec, &s) => Some((s, i)),
                _ => None,
            },
        )
    })
    .map_err(|e| e.to_string())?;
    let Some((node_spec, node_intent)) = node else {
        return Err(format!("cache cluster {} is gone", part.node_id));
    };
    let cfg = node::node_config(&ctx.config, &node_spec, &node_intent, None);
    let addr = cfg.address();
    let Ok(info) = ctx.agent.info(&addr, NODE_CALL_TIMEOUT).await else {
        // The node reconciler restarts a dead node; try again until the deadline.
        return Ok(Next::After(RETRY_LATER));
    };
    match save_source(
        save.source_run_id.as_deref(),
        save.bgsave_run_id.as_deref(),
        &info.run_id,
    ) {
        SaveSource::Restarted => return Err(text::source_restarted(&part.node_id)),
        SaveSource::Unrecorded => {
            // Recorded (after this pass) before any save is asked.
            save.source_run_id = Some(info.run_id.clone());
            return Ok(Next::After(Duration::ZERO));
        }
        SaveSource::Same => {}
    }
    if save.bgsave_run_id.as_deref() != Some(info.run_id.as_str()) {
        let digest = info.keys_total <= DIGEST_KEYS_MAX;
        if let Some(started) = ctx
            .agent
            .bgsave(&addr, NODE_CALL_TIMEOUT, digest)
            .await
            .map_err(|e| e.to_string())?
        {
            *save = ShardSave {
                bgsave_run_id: Some(info.run_id.clone()),
                source_run_id: save.source_run_id.take(),
                key_count: started.keys,
                digest: started.digest,
                copied: None,
                sealed_with: None,
            };
        }
        return Ok(Next::After(SAVE_POLL));
    }
    if info.rdb_bgsave_in_progress {
        return Ok(Next::After(SAVE_POLL));
    }
    if !info.rdb_last_bgsave_ok {
        return Err(save_failure(&part.node_id, &info, &cfg.log_path()).await);
    }
    let rdb = cfg.rdb_path();
    let target = temp.join(shard_file_name(&part.shard_id));
    let temp = temp.to_path_buf();
    let seal = cfg
        .at_rest_key_id
        .clone()
        .map(|key_id| (ctx.config.keys.clone(), key_id));
    let sealed_with = seal.as_ref().map(|(_, id)| id.clone());
    let copied = tokio::task::spawn_blocking(move || -> io::Result<(u64, String)> {
        fs::create_dir_all(&temp)?;
        let done = match seal {
            None => link_or_copy_hashed(&rdb, &target),
            Some((keys, key_id)) => {
                let result = keys
                    .ok_or_else(|| {
                        io::Error::other(format!("the encryption key {key_id} is not available"))
                    })
                    .and_then(|keys| {
                        ferrocache_encryption::encrypt_file(&keys, &key_id, &rdb, &target)
                            .map_err(io::Error::other)
                    })
                    .and_then(|_| File::open(&target)?.sync_all())
                    .and_then(|()| hash_file(&target));
                // The plaintext the save wrote goes as soon as it is sealed.
                let _ = fs::remove_file(&rdb);
                result
            }
        }?;
        File::open(&temp)?.sync_all()?;
        Ok(done)
    })
    .await
    .unwrap_or_else(|e| Err(io::Error::other(e.to_string())))
    .map_err(|e| write_failure(&e, &ctx.config.snapshots_dir))?;
    save.copied = Some(copied);
    save.sealed_with = sealed_with;
    Ok(Next::Done)
}

/// The manifest of a snapshot whose shards are all copied.
fn manifest_of(spec: &SnapshotSpec, observed: &SnapshotObserved) -> Manifest {
    let files: Vec<ManifestFile> = spec
        .shards
        .iter()
        .zip(&observed.shards)
        .map(|(part, save)| {
            let (size_bytes, sha256) = save.copied.clone().unwrap_or_default();
            ManifestFile {
                name: shard_file_name(&part.shard_id),
                cache_cluster_id: part.node_id.clone(),
                node_group_id: part.shard_id.clone(),
                size_bytes,
                sha256,
                key_count: save.key_count,
                slots: part.slots.clone(),
                digest: save.digest.clone(),
            }
        })
        .collect();
    let sealed_with = observed.shards.iter().find_map(|s| s.sealed_with.clone());
    Manifest::of(spec, files, None, sealed_with)
}
