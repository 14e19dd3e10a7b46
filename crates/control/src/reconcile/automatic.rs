//! Automatic snapshots: every group (and standalone cache cluster) with
//! `SnapshotRetentionLimit` > 0 gets one snapshot per occurrence of its `SnapshotWindow`
//! (`hh24:mi-hh24:mi`, UTC), named `automatic.<id>-YYYY-MM-DD-HH-MM`, `SnapshotSource`
//! `automated`; the oldest beyond the limit are deleted, and so are a source's automatic
//! snapshots once the source is gone (AWS deletes them with their cluster; copies, which are
//! manual, stay).
//!
//! | state | next |
//! |---|---|
//! | now (see [`crate::clock`]) inside a window occurrence, no snapshot recorded for it, source `available` | record the snapshot (`creating`), taken from `SnapshottingClusterId`, else a healthy replica, else the primary; the snapshot reconciler does the rest |
//! | source not `available` (snapshotting, modifying, …) | nothing; looked at again on the next pass while the window lasts |
//! | more finished automatic snapshots than the limit | the oldest are marked `deleting` |
//! | source gone | its finished automatic snapshots are marked `deleting` |
//!
//! Everything happens in one transaction per pass, so a crash records a window's snapshot
//! whole or not at all; the occurrence is remembered in the snapshot itself
//! (`automatic_window`), so it is never taken twice.

use std::collections::HashMap;
use std::sync::Arc;

use ferrocache_model::group::GroupSpec;
use ferrocache_model::node::NodeSpec;
use ferrocache_model::snapshot::{
    self, SnapshotObserved, SnapshotSource, SnapshotSpec, SnapshotStatus,
};
use ferrocache_model::Timestamp;
use ferrocache_store::{tables, update, ReadExt, StoreError, WriteExt};

use super::{Context, Next, ReconcileError};
use crate::service::snapshot::{record_automatic_of_cluster, record_automatic_of_group};
use crate::service::view::{GroupView, NodeView};

/// Account id for the views read here (they are used for their members and status, never for
/// an ARN).
const NO_ACCOUNT: &str = "";

/// One automatic snapshot, as the pass sees it.
struct Automatic {
    key: String,
    spec: SnapshotSpec,
    status: SnapshotStatus,
}

/// One pass over every source: take what a window asks for, prune, remove orphans.
///
/// # Errors
/// Store failures (retried on the next pass).
pub(crate) async fn reconcile(ctx: Arc<Context>, _key: String) -> Result<Next, ReconcileError> {
    let now = ctx.clock.now();
    update(ctx.store.as_ref(), |w| -> Result<(), StoreError> {
        let mut by_source: HashMap<(String, String), Vec<Automatic>> = HashMap::new();
        for (key, spec) in w.docs::<SnapshotSpec>("")? {
            if spec.source != SnapshotSource::Automated || spec.deleting {
                continue;
            }
            let observed = w.doc::<SnapshotObserved>(&key)?;
            let status = snapshot::status(&spec, observed.as_ref());
            let source = spec
                .group_id
                .clone()
                .or_else(|| spec.cache_cluster_id.clone())
                .unwrap_or_else(|| spec.node_id.clone());
            by_source
                .entry((spec.region.clone(), source))
                .or_default()
                .push(Automatic { key, spec, status });
        }
        let taken = |list: Option<&Vec<Automatic>>, window: Timestamp| {
            list.is_some_and(|l| l.iter().any(|a| a.spec.automatic_window == Some(window)))
        };
        let mut limits: HashMap<(String, String), u32> = HashMap::new();

        for (_, group) in w.docs::<GroupSpec>("")? {
            let source = (group.region.clone(), group.id.clone());
            if group.deletion.is_some() {
                continue;
            }
            limits.insert(source.clone(), group.snapshot_retention_limit);
            if group.snapshot_retention_limit == 0 {
                continue;
            }
            let Some(window) = snapshot::window_containing(&group.snapshot_window, now) else {
                continue;
            };
            if taken(by_source.get(&source), window) {
                continue;
            }
            let Some(view) = GroupView::load(w, &group.region, &group.id, NO_ACCOUNT)? else {
                continue;
            };
            if view.require_available().is_err() {
                continue;
            }
            let name = snapshot::automatic_name(&group.id, now);
            if w.doc::<SnapshotSpec>(&tables::key(&group.region, &name))?
                .is_some()
            {
                continue;
            }
            if record_automatic_of_group(w, &view, &name, window)? {
                tracing::info!(group = %group.id, snapshot = %name, "automatic snapshot");
            }
        }

        for (_, node) in w.docs::<NodeSpec>("")? {
            if node.group_id.is_some() {
                continue;
            }
            let source = (node.region.clone(), node.id.clone());
            if node.deletion.is_some() {
                continue;
            }
            limits.insert(source.clone(), node.snapshot_retention_limit);
            if node.snapshot_retention_limit == 0 {
                continue;
            }
            let Some(window) = snapshot::window_containing(&node.snapshot_window, now) else {
                continue;
            };
            if taken(by_source.get(&source), window) {
                continue;
            }
            let Some(view) = NodeView::load(w, &node.region, &node.id, NO_ACCOUNT)? else {
                continue;
            };
            if view.require_available().is_err() {
                continue;
            }
            let name = snapshot::automatic_name(&node.id, now);
            if w.doc::<SnapshotSpec>(&tables::key(&node.region, &name))?
                .is_some()
            {
                continue;
            }
            record_automatic_of_cluster(w, &view, &name, window)?;
            tracing::info!(cluster = %node.id, snapshot = %name, "automatic snapshot");
        }

        for (source, list) in by_source {
            let finished: Vec<&Automatic> = list
                .iter()
                .filter(|a| matches!(a.status, SnapshotStatus::Available | SnapshotStatus::Failed))
                .collect();
            let doomed: Vec<String> = match limits.get(&source) {
                // Gone (or being deleted): its automatic snapshots go with it.
                None => finished.iter().map(|a| a.spec.name.clone()).collect(),
                Some(&limit) => snapshot::beyond_retention(
                    finished
                        .iter()
                        .map(|a| (a.spec.name.clone(), a.spec.created_at))
                        .collect(),
                    limit,
                ),
            };
            for a in finished
                .into_iter()
                .filter(|a| doomed.contains(&a.spec.name))
            {
                let mut spec = a.spec.clone();
                spec.deleting = true;
                w.put_doc(&a.key, &spec)?;
                tracing::info!(snapshot = %spec.name, "automatic snapshot deleted (retention or source gone)");
            }
        }
        Ok(())
    })?;
    Ok(Next::Done)
}
