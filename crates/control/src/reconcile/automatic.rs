//! Automatic snapshots of one source — a replication group, or a standalone cache cluster —
//! with `SnapshotRetentionLimit` > 0: one snapshot per occurrence of its `SnapshotWindow`
//! (`hh24:mi-hh24:mi`, UTC), named `automatic.<id>-YYYY-MM-DD-HH-MM`, `SnapshotSource`
//! `automated`; the oldest beyond the limit are deleted, and so are a source's automatic
//! snapshots once the source is gone (AWS deletes them with their cluster; copies, which are
//! manual, stay).
//!
//! | state | next |
//! |---|---|
//! | now (see [`crate::clock`]) inside a window occurrence, no snapshot recorded for it, source `available` | record the snapshot (`creating`), taken from `SnapshottingClusterId`, else a healthy replica, else the primary; the snapshot reconciler does the rest |
//! | source not `available` (snapshotting, modifying, …) | nothing; looked at again soon while the window lasts |
//! | more finished automatic snapshots than the limit | the oldest are marked `deleting` |
//! | source gone | its finished automatic snapshots are marked `deleting` |
//!
//! Each source is its own piece of work, woken by changes to it or to its snapshots, and by a
//! timer at its next window: nothing walks every source. Everything happens in one transaction
//! per run, so a crash records a window's snapshot whole or not at all; the occurrence is
//! remembered in the snapshot itself (`automatic_window`), so it is never taken twice.

use std::sync::Arc;
use std::time::Duration;

use ferrocache_model::group::GroupSpec;
use ferrocache_model::node::NodeSpec;
use ferrocache_model::snapshot::{
    self, SnapshotObserved, SnapshotSource, SnapshotSpec, SnapshotStatus,
};
use ferrocache_store::{tables, update, ReadExt, WriteExt};

use super::{Context, Next, ReconcileError};
use crate::service::snapshot::{record_automatic_of_cluster, record_automatic_of_group};
use crate::service::view::{GroupView, NodeView};

/// Account id for the views read here (they are used for their members and status, never for
/// an ARN).
const NO_ACCOUNT: &str = "";
/// How soon a source inside its window that could not be snapshotted yet (not `available`) is
/// looked at again.
pub const WINDOW_RETRY: Duration = Duration::from_secs(1);
/// Longest wait before a source with automatic snapshots is looked at again (its next window
/// is usually sooner); with a test clock, which can jump, the wait is [`TEST_CLOCK_RECHECK`].
pub const RECHECK_MAX: Duration = Duration::from_secs(3600);
/// See [`RECHECK_MAX`].
pub const TEST_CLOCK_RECHECK: Duration = Duration::from_millis(250);

/// Takes what the window asks for, prunes, and removes orphans, for the source at `key`
/// (`<region>/<group or cache cluster id>`).
///
/// # Errors
/// Store failures (retried).
pub(crate) async fn reconcile(ctx: Arc<Context>, key: String) -> Result<Next, ReconcileError> {
    let now = ctx.clock.now();
    let next = update(ctx.store.as_ref(), |w| -> Result<Next, ReconcileError> {
        let group = w.doc::<GroupSpec>(&key)?;
        let node = match &group {
            Some(_) => None,
            None => w.doc::<NodeSpec>(&key)?.filter(|n| n.group_id.is_none()),
        };
        // (retention limit, window) of a live source; `None` when it is gone or going.
        let settings = match (&group, &node) {
            (Some(g), _) if g.deletion.is_none() => {
                Some((g.snapshot_retention_limit, g.snapshot_window.clone()))
            }
            (_, Some(n)) if n.deletion.is_none() => {
                Some((n.snapshot_retention_limit, n.snapshot_window.clone()))
            }
            _ => None,
        };
        let mut automatic = Vec::new();
        for snapshot_key in w.lookup(tables::SNAPSHOTS_BY_SOURCE, &key)? {
            let Some(spec) = w.doc::<SnapshotSpec>(&snapshot_key)? else {
                continue;
            };
            if spec.source != SnapshotSource::Automated || spec.deleting {
                continue;
            }
            let observed = w.doc::<SnapshotObserved>(&snapshot_key)?;
            let status = snapshot::status(&spec, observed.as_ref());
            automatic.push((snapshot_key, spec, status));
        }
        let mut next = Next::Done;
        if let Some((_, window)) = settings.as_ref().filter(|(limit, _)| *limit > 0) {
            next = Next::After(recheck(&ctx, window, now));
            if let Some(start) = snapshot::window_containing(window, now) {
                let taken = automatic
                    .iter()
                    .any(|(_, s, _)| s.automatic_window == Some(start));
                if !taken && !take(w, &key, group.as_ref(), node.as_ref(), now, start)? {
                    next = Next::After(WINDOW_RETRY);
                }
            }
        }
        let finished: Vec<&(String, SnapshotSpec, SnapshotStatus)> = automatic
            .iter()
            .filter(|(_, _, s)| matches!(s, SnapshotStatus::Available | SnapshotStatus::Failed))
            .collect();
        let doomed: Vec<String> = match &settings {
            // Gone (or being deleted): its automatic snapshots go with it.
            None => finished.iter().map(|(_, s, _)| s.name.clone()).collect(),
            Some((limit, _)) => snapshot::beyond_retention(
                finished
                    .iter()
                    .map(|(_, s, _)| (s.name.clone(), s.created_at))
                    .collect(),
                *limit,
            ),
        };
        for (snapshot_key, spec, _) in finished {
            if doomed.contains(&spec.name) {
                let mut spec = spec.clone();
                spec.deleting = true;
                w.put_doc(snapshot_key, &spec)?;
                tracing::info!(snapshot = %spec.name, "automatic snapshot deleted (retention or source gone)");
            }
        }
        Ok(next)
    })?;
    Ok(next)
}

/// Records the window's snapshot when the source is `available`; false when it is not (yet).
fn take(
    w: &mut dyn ferrocache_store::Writer,
    key: &str,
    group: Option<&GroupSpec>,
    node: Option<&NodeSpec>,
    now: ferrocache_model::Timestamp,
    window: ferrocache_model::Timestamp,
) -> Result<bool, ReconcileError> {
    if let Some(group) = group {
        let Some(view) = GroupView::load(w, &group.region, &group.id, NO_ACCOUNT)? else {
            return Ok(false);
        };
        if view.require_available().is_err() {
            return Ok(false);
        }
        let name = snapshot::automatic_name(&group.id, now);
        if w.doc::<SnapshotSpec>(&tables::key(&group.region, &name))?
            .is_some()
        {
            return Ok(true);
        }
        if record_automatic_of_group(w, &view, &name, window)? {
            tracing::info!(group = %group.id, snapshot = %name, "automatic snapshot");
            return Ok(true);
        }
        return Ok(false);
    }
    let Some(node) = node else { return Ok(true) };
    let Some(view) = NodeView::load(w, &node.region, &node.id, NO_ACCOUNT)? else {
        return Ok(false);
    };
    if view.require_available().is_err() {
        return Ok(false);
    }
    let name = snapshot::automatic_name(&node.id, now);
    if w.doc::<SnapshotSpec>(&tables::key(&node.region, &name))?
        .is_none()
    {
        record_automatic_of_cluster(w, &view, &name, window)?;
        tracing::info!(cluster = %node.id, snapshot = %name, key, "automatic snapshot");
    }
    Ok(true)
}

/// When to look again: at the next window start (bounded), or often under a test clock.
fn recheck(ctx: &Context, window: &str, now: ferrocache_model::Timestamp) -> Duration {
    if ctx.clock.is_shifted() {
        return TEST_CLOCK_RECHECK;
    }
    snapshot::next_window_start(window, now)
        .and_then(|start| (start - now).to_std().ok())
        .map_or(RECHECK_MAX, |d| d.min(RECHECK_MAX))
}
