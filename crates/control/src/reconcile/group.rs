//! The group reconciler: a replication group's life cycle — its status and events — over
//! its shards and members.
//!
//! Steps, each idempotent: wait until every member is running in its role and every replica's
//! link is up → mark the group created (AWS's events) or the latest spec generation carried
//! out; report node type changes once every member runs the new type. A group marked for
//! deletion waits for its members to go (the node reconciler removes them), hands a retained
//! primary back as a standalone cluster, and removes its own and its shards' records. Who is
//! primary is not decided here: that is each shard's failover state machine
//! ([`super::failover`]). A cluster-mode group gets its configuration endpoint address here
//! (its [`GroupIntent`]).

use std::sync::Arc;

use ferrocache_model::event::{text, SourceType};
use ferrocache_model::group::{ClusterMode, GroupIntent, GroupObserved, GroupSpec};
use ferrocache_model::node::{NodeObserved, NodeSpec, Role};
use ferrocache_model::shard::{ShardIntent, ShardObserved, ShardSpec};
use ferrocache_store::{tables, update, ReadExt, Reader, WriteExt, Writer};

use super::{Context, Next, ReconcileError};
use crate::addresses::{self, Pool};
use crate::events;

struct Member {
    spec: NodeSpec,
    observed: Option<NodeObserved>,
}

fn members(r: &dyn Reader, spec: &GroupSpec) -> Result<Vec<Member>, ReconcileError> {
    let mut out = Vec::new();
    for key in r.lookup(tables::NODES_BY_SHARD, &tables::key(&spec.region, &spec.id))? {
        if let Some(node) = r.doc::<NodeSpec>(&key)? {
            out.push(Member {
                observed: r.doc::<NodeObserved>(&key)?,
                spec: node,
            });
        }
    }
    Ok(out)
}

/// The shards of a group, with their keys.
pub(crate) fn shards(
    r: &dyn Reader,
    region: &str,
    group_id: &str,
) -> Result<Vec<(String, ShardSpec)>, ferrocache_store::StoreError> {
    r.docs::<ShardSpec>(&format!("{}/", tables::key(region, group_id)))
}

/// Reconciles the group stored at `key`.
///
/// # Errors
/// Store failures; the step is retried.
pub(crate) async fn reconcile(ctx: Arc<Context>, key: String) -> Result<Next, ReconcileError> {
    update(ctx.store.as_ref(), |w| -> Result<Next, ReconcileError> {
        let Some(spec) = w.doc::<GroupSpec>(&key)? else {
            return Ok(Next::Done);
        };
        let members = members(w, &spec)?;
        let now = chrono::Utc::now();
        if let Some(deletion) = &spec.deletion {
            let shards = shards(w, &spec.region, &spec.id)?;
            let mut primaries = Vec::new();
            for (shard_key, _) in &shards {
                if let Some(intent) = w.doc::<ShardIntent>(shard_key)? {
                    primaries.push(intent.primary);
                }
            }
            let retained = |m: &&Member| deletion.retain_primary && primaries.contains(&m.spec.id);
            if members.iter().any(|m| !retained(&m)) {
                return Ok(Next::Done);
            }
            if let Some(kept) = members.iter().find(|m| retained(m)) {
                let mut standalone = kept.spec.clone();
                standalone.group_id = None;
                standalone.shard_id = None;
                w.put_doc(&tables::key(&spec.region, &standalone.id), &standalone)?;
            }
            for (shard_key, _) in &shards {
                w.delete_doc::<ShardSpec>(shard_key)?;
                w.delete_doc::<ShardIntent>(shard_key)?;
                w.delete_doc::<ShardObserved>(shard_key)?;
            }
            w.delete_doc::<GroupSpec>(&key)?;
            w.delete_doc::<GroupIntent>(&key)?;
            w.delete_doc::<GroupObserved>(&key)?;
            events::record(
                w,
                &spec.region,
                &spec.id,
                SourceType::ReplicationGroup,
                text::replication_group_deleted(&spec.id),
                now,
            )?;
            return Ok(Next::Done);
        }
        if spec.cluster_mode.runs_cluster() && w.doc::<GroupIntent>(&key)?.is_none() {
            let intent = GroupIntent {
                configuration_endpoint: addresses::allocate(w, ctx.config.cidr, Pool::Endpoint)?,
            };
            w.put_doc(&key, &intent)?;
        }
        let mut observed = w.doc::<GroupObserved>(&key)?.unwrap_or_default();
        let before = observed.clone();
        let mode_reached = cluster_mode_reached(w, &spec, &members, &mut observed, now)?;
        // A group is usable once every shard is placed (its endpoints and primary exist) and
        // every member runs: an adopted `PrimaryClusterId` runs before its shard is placed.
        let mut placed = true;
        for (shard_key, _) in shards(w, &spec.region, &spec.id)? {
            placed &= w.doc::<ShardIntent>(&shard_key)?.is_some();
        }
        // A resharding is part of the generation that asked for it.
        let resharded = spec
            .resharding_pending(w.doc::<GroupObserved>(&key)?.as_ref())
            .is_none();
        let settled = placed
            && resharded
            && mode_reached
            && !members.is_empty()
            && members.iter().all(|m| {
                // A member moving into cluster mode (`reconcile::cluster_mode`) is not done
                // until its process runs in the group's mode.
                m.spec.deletion.is_none()
                    && m.spec.cluster_mode == spec.cluster_mode
                    && m.observed.as_ref().is_some_and(|o| {
                        o.created
                            && o.generation >= m.spec.generation
                            && o.cluster_engine == spec.cluster_mode.runs_cluster()
                    })
            });
        let failure = members.iter().find_map(|m| {
            m.observed
                .as_ref()
                .and_then(|o| o.failed.clone().map(|f| (f, o.restore_failed)))
        });
        let restore_failed = failure.as_ref().is_some_and(|(_, r)| *r);
        let failure = failure.map(|(f, _)| f);
        if !observed.created {
            if let (Some(reason), None) = (&failure, &observed.failed) {
                observed.failed = Some(reason.clone());
                observed.restore_failed = restore_failed;
                record(
                    w,
                    &spec,
                    text::replication_group_create_failed(&spec.id),
                    now,
                )?;
                record(w, &spec, text::deleting_group_clusters(), now)?;
            } else if settled && failure.is_none() {
                observed.created = true;
                observed.generation = spec.generation;
                observed.node_type = Some(spec.node_type.clone());
                record(w, &spec, text::replication_group_created(&spec.id), now)?;
                if spec.automatic_failover {
                    record(w, &spec, text::automatic_failover_enabled(&spec.id), now)?;
                }
            }
        } else {
            if settled && observed.generation < spec.generation {
                observed.generation = spec.generation;
            }
            report_node_type(w, &spec, &members, &mut observed, now)?;
        }
        if observed != before {
            w.put_doc(&key, &observed)?;
        }
        Ok(Next::Done)
    })
}

/// Whether every member runs in the group's cluster mode. Reaching a mode that runs the cluster
/// takes every member in its shard's role in the cluster (a primary serving, a replica whose
/// link is up), once: it is recorded in `observed`, with an event when the mode moved on a
/// live group (`disabled` → `compatible` → `enabled`); a group created in cluster mode reaches
/// it silently.
fn cluster_mode_reached(
    w: &mut dyn Writer,
    spec: &GroupSpec,
    members: &[Member],
    observed: &mut GroupObserved,
    now: ferrocache_model::Timestamp,
) -> Result<bool, ReconcileError> {
    let mode = spec.cluster_mode;
    if !mode.runs_cluster() || observed.cluster_mode == Some(mode) {
        return Ok(true);
    }
    let mut primaries = Vec::new();
    for (shard_key, _) in shards(w, &spec.region, &spec.id)? {
        if let Some(intent) = w.doc::<ShardIntent>(&shard_key)? {
            primaries.push(intent.primary);
        }
    }
    let in_role = |m: &Member| {
        let Some(o) = &m.observed else { return false };
        let role_held = if primaries.contains(&m.spec.id) {
            o.role == Some(Role::Primary)
        } else {
            o.role == Some(Role::Replica) && o.link_up
        };
        m.spec.cluster_mode == mode && o.cluster_engine && o.healthy && o.in_role && role_held
    };
    let live: Vec<&Member> = members
        .iter()
        .filter(|m| m.spec.deletion.is_none())
        .collect();
    if live.is_empty() || !live.iter().all(|m| in_role(m)) {
        return Ok(false);
    }
    let moved = matches!(
        (observed.cluster_mode, mode),
        (None | Some(ClusterMode::Disabled), ClusterMode::Compatible)
            | (Some(ClusterMode::Compatible), ClusterMode::Enabled)
    );
    observed.cluster_mode = Some(mode);
    if moved {
        record(
            w,
            spec,
            text::cluster_mode_changed(&spec.id, mode.as_str()),
            now,
        )?;
    }
    Ok(true)
}

/// Reports a node type change once every member runs the new type (AWS's event on the group),
/// or once a member refused it (a scale-down the data does not fit).
fn report_node_type(
    w: &mut dyn Writer,
    spec: &GroupSpec,
    members: &[Member],
    observed: &mut GroupObserved,
    now: ferrocache_model::Timestamp,
) -> Result<(), ReconcileError> {
    let target = &spec.node_type;
    if observed.node_type.as_ref().is_none_or(|t| t == target) {
        return Ok(());
    }
    let live: Vec<&Member> = members
        .iter()
        .filter(|m| m.spec.deletion.is_none())
        .collect();
    let runs_target = |m: &&Member| {
        m.observed
            .as_ref()
            .and_then(|o| o.node_type.as_ref())
            .is_some_and(|t| t == target)
    };
    let refused = |m: &&Member| {
        m.observed
            .as_ref()
            .and_then(|o| o.node_type_refused.as_ref())
            .is_some_and(|t| t == target)
    };
    if !live.is_empty() && live.iter().all(runs_target) {
        observed.node_type = Some(target.clone());
        observed.node_type_refused = None;
        record(w, spec, text::node_type_applied(target), now)?;
    } else if live.iter().any(refused) && observed.node_type_refused.as_ref() != Some(target) {
        observed.node_type_refused = Some(target.clone());
        record(w, spec, text::scale_down_refused(&spec.id), now)?;
        record(w, spec, text::node_type_failed(target), now)?;
    }
    Ok(())
}

fn record(
    w: &mut dyn Writer,
    spec: &GroupSpec,
    message: String,
    now: ferrocache_model::Timestamp,
) -> Result<(), ReconcileError> {
    events::record(
        w,
        &spec.region,
        &spec.id,
        SourceType::ReplicationGroup,
        message,
        now,
    )?;
    Ok(())
}
