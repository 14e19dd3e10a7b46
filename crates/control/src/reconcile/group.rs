//! The group reconciler: a replication group's endpoints, its primary and epoch, its status and
//! its events.
//!
//! Steps, each idempotent: place the group (primary and reader endpoint addresses, the primary —
//! `-001`, or the adopted `PrimaryClusterId` — at epoch 1) → wait until every member is running
//! in its role and every replica's link is up → mark the group created (AWS's events) or the
//! latest spec generation carried out. A group marked for deletion waits for its members to go
//! (the node reconciler removes them), hands a retained primary back as a standalone cluster,
//! and removes its records.

use std::sync::Arc;
use std::time::Duration;

use ferrocache_agent::Probe;
use ferrocache_engine::NodeAddress;
use ferrocache_model::event::{text, SourceType};
use ferrocache_model::group::{
    failover_target, replica_eligible, FailoverCandidate, GroupIntent, GroupObserved, GroupSpec,
};
use ferrocache_model::ids;
use ferrocache_model::node::{NodeIntent, NodeObserved, NodeSpec};
use ferrocache_store::{tables, update, view, ReadExt, WriteExt, Writer};

use super::node::node_config;
use super::{Context, Next, ReconcileError, POLL_SOON};
use crate::addresses::{self, Pool};
use crate::events;

struct Member {
    spec: NodeSpec,
    observed: Option<NodeObserved>,
}

fn members(
    r: &dyn ferrocache_store::Reader,
    spec: &GroupSpec,
) -> Result<Vec<Member>, ReconcileError> {
    let mut out = Vec::new();
    for (key, node) in r.docs::<NodeSpec>(&tables::region_prefix(&spec.region))? {
        if node.group_id.as_deref() == Some(spec.id.as_str()) {
            out.push(Member {
                observed: r.doc::<NodeObserved>(&key)?,
                spec: node,
            });
        }
    }
    Ok(out)
}

/// Reconciles the group stored at `key`.
///
/// # Errors
/// Store failures or a full address range; the step is retried.
pub(crate) async fn reconcile(ctx: Arc<Context>, key: String) -> Result<Next, ReconcileError> {
    if let Some(next) = failover(&ctx, &key).await? {
        return Ok(next);
    }
    let cidr = ctx.config.cidr;
    update(ctx.store.as_ref(), |w| -> Result<Next, ReconcileError> {
        let Some(spec) = w.doc::<GroupSpec>(&key)? else {
            return Ok(Next::Done);
        };
        let members = members(w, &spec)?;
        let now = chrono::Utc::now();
        if let Some(deletion) = &spec.deletion {
            let intent = w.doc::<GroupIntent>(&key)?;
            let primary = intent.as_ref().map(|i| i.primary.as_str());
            let retained =
                |m: &&Member| deletion.retain_primary && Some(m.spec.id.as_str()) == primary;
            if members.iter().any(|m| !retained(&m)) {
                return Ok(Next::Done);
            }
            if let Some(kept) = members.iter().find(|m| retained(m)) {
                let mut standalone = kept.spec.clone();
                standalone.group_id = None;
                w.put_doc(&tables::key(&spec.region, &standalone.id), &standalone)?;
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
        let intent = match w.doc::<GroupIntent>(&key)? {
            Some(i) => i,
            None => {
                let Some(primary) = choose_primary(&spec, &members) else {
                    return Ok(Next::Done);
                };
                let mut used = addresses::taken(w)?;
                let intent = GroupIntent {
                    primary_endpoint: addresses::allocate(cidr, Pool::Endpoint, &mut used)?,
                    reader_endpoint: addresses::allocate(cidr, Pool::Endpoint, &mut used)?,
                    primary,
                    epoch: 1,
                    previous_primary: None,
                };
                w.put_doc(&key, &intent)?;
                intent
            }
        };
        let _ = intent;
        let mut observed = w.doc::<GroupObserved>(&key)?.unwrap_or_default();
        let before = observed.clone();
        let settled = !members.is_empty()
            && members.iter().all(|m| {
                m.spec.deletion.is_none()
                    && m.observed
                        .as_ref()
                        .is_some_and(|o| o.created && o.generation >= m.spec.generation)
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

/// The member that starts as primary: the adopted `PrimaryClusterId` (the one member whose id is
/// not `<group>-NNN`), else the lowest-numbered member.
fn choose_primary(spec: &GroupSpec, members: &[Member]) -> Option<String> {
    let live: Vec<&Member> = members
        .iter()
        .filter(|m| m.spec.deletion.is_none())
        .collect();
    live.iter()
        .find(|m| ids::member_index(&spec.id, &m.spec.id).is_none())
        .or_else(|| {
            live.iter()
                .min_by_key(|m| ids::member_index(&spec.id, &m.spec.id))
        })
        .map(|m| m.spec.id.clone())
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

/// Bound on probing one candidate replica's replication offset.
const CANDIDATE_PROBE_TIMEOUT: Duration = Duration::from_millis(300);

/// A switch the group needs, decided from one snapshot of the store.
struct FailoverPlan {
    /// A `TestFailover` request (else: the primary is down).
    planned: bool,
    /// The intent's epoch the plan was made at; the switch commits only if it is unchanged.
    epoch: u64,
    /// The primary being replaced.
    old: String,
    /// Zone of the old primary (Multi-AZ prefers a replica elsewhere).
    old_zone: Option<String>,
    multi_az: bool,
    /// Healthy replicas: id, admin address, zone.
    candidates: Vec<(String, NodeAddress, String)>,
    /// A `ModifyReplicationGroup --primary-cluster-id` to carry out: the member to promote.
    promotion: Option<String>,
    /// How long the old primary has been known down (zero when it is up).
    primary_down_for: Duration,
    /// The group already reported that no replica could be promoted.
    blocked_reported: bool,
}

fn plan_failover(ctx: &Context, key: &str) -> Result<Option<FailoverPlan>, ReconcileError> {
    view(
        ctx.store.as_ref(),
        |r| -> Result<Option<FailoverPlan>, ReconcileError> {
            let Some(spec) = r.doc::<GroupSpec>(key)? else {
                return Ok(None);
            };
            let Some(intent) = r.doc::<GroupIntent>(key)? else {
                return Ok(None);
            };
            let observed = r.doc::<GroupObserved>(key)?.unwrap_or_default();
            if spec.deletion.is_some() || !observed.created {
                return Ok(None);
            }
            // A switch is in flight until its winner runs as primary. Requested switches wait
            // for it; but if the winner itself is down, waiting would hold the group forever,
            // so an unplanned failover may start over from it.
            let switching = intent.previous_primary.is_some();
            let promotion = (observed.promotions < spec.promotion_requests && !switching)
                .then(|| spec.promotion_target.clone())
                .flatten();
            let planned =
                !switching && (observed.failovers < spec.failover_requests || promotion.is_some());
            let mut primary_down = false;
            let mut primary_down_for = Duration::ZERO;
            let mut old_zone = None;
            let mut candidates = Vec::new();
            for (node_key, node) in r.docs::<NodeSpec>(&tables::region_prefix(&spec.region))? {
                if node.group_id.as_deref() != Some(spec.id.as_str()) || node.deletion.is_some() {
                    continue;
                }
                let (Some(node_intent), Some(node_observed)) = (
                    r.doc::<NodeIntent>(&node_key)?,
                    r.doc::<NodeObserved>(&node_key)?,
                ) else {
                    continue;
                };
                if node.id == intent.primary {
                    primary_down = node_observed.created && !node_observed.healthy;
                    primary_down_for = node_observed
                        .down_since
                        .and_then(|t| (chrono::Utc::now() - t).to_std().ok())
                        .unwrap_or_default();
                    old_zone = Some(node_intent.zone.clone());
                } else if node_observed.healthy && node_observed.role.is_some() {
                    // Replicas, and a former primary still running as one because the switch
                    // away from it never finished (it is fenced, and may hold the most data).
                    let address = node_config(&ctx.config, &node, &node_intent, None).address();
                    candidates.push((node.id.clone(), address, node_intent.zone.clone()));
                }
            }
            if !(planned || (spec.automatic_failover && primary_down)) {
                return Ok(None);
            }
            Ok(Some(FailoverPlan {
                planned,
                epoch: intent.epoch,
                old: intent.primary,
                old_zone,
                multi_az: spec.multi_az,
                candidates,
                promotion,
                primary_down_for,
                blocked_reported: observed.failover_blocked,
            }))
        },
    )
}

/// Switches the group's primary when `TestFailover` asked for it or the primary is down (with
/// automatic failover): the healthy replica with the highest replication offset wins (then, with
/// Multi-AZ, one outside the old primary's zone; then the lowest id), and the group's intent
/// moves to it with the next epoch. The router fences the old primary as soon as the epoch moves;
/// the node reconcilers then promote the winner and repoint everyone else.
async fn failover(ctx: &Context, key: &str) -> Result<Option<Next>, ReconcileError> {
    let Some(plan) = plan_failover(ctx, key)? else {
        return Ok(None);
    };
    if plan.promotion.as_deref() == Some(plan.old.as_str()) {
        // The member named is primary already: the promotion is done.
        count_switch(ctx, key, &plan)?;
        return Ok(Some(Next::After(POLL_SOON)));
    }
    let mut probed = Vec::new();
    for (id, address, zone) in &plan.candidates {
        if plan.promotion.as_ref().is_some_and(|p| p != id) {
            continue;
        }
        if let Probe::Up(info) = ctx.agent.probe(address, CANDIDATE_PROBE_TIMEOUT).await {
            let link_down = info
                .raw
                .get("master_link_down_since_seconds")
                .and_then(|v| v.parse::<i64>().ok());
            let is_replica = info.slave_repl_offset.is_some();
            if is_replica
                && !replica_eligible(
                    info.master_sync_in_progress,
                    link_down,
                    plan.primary_down_for,
                )
            {
                tracing::warn!(group = %key, replica = %id, ?link_down, "replica out of sync; not eligible");
                continue;
            }
            let offset = info.slave_repl_offset.unwrap_or(info.master_repl_offset);
            probed.push(FailoverCandidate {
                id: id.clone(),
                offset,
                zone: zone.clone(),
            });
        }
    }
    let Some(target) = failover_target(&probed, plan.old_zone.as_deref(), plan.multi_az) else {
        tracing::warn!(group = %key, "no healthy replica in sync to fail over to; retrying");
        if !plan.blocked_reported {
            update(ctx.store.as_ref(), |w| -> Result<(), ReconcileError> {
                let Some(spec) = w.doc::<GroupSpec>(key)? else {
                    return Ok(());
                };
                let mut observed = w.doc::<GroupObserved>(key)?.unwrap_or_default();
                if !observed.failover_blocked {
                    observed.failover_blocked = true;
                    w.put_doc(key, &observed)?;
                    record(
                        w,
                        &spec,
                        text::failover_waiting(&plan.old),
                        chrono::Utc::now(),
                    )?;
                }
                Ok(())
            })?;
        }
        return Ok(Some(Next::After(ctx.config.tick)));
    };
    let (winner, offset) = (target.id.clone(), target.offset);
    update(ctx.store.as_ref(), |w| -> Result<(), ReconcileError> {
        let Some(mut intent) = w.doc::<GroupIntent>(key)? else {
            return Ok(());
        };
        if intent.epoch != plan.epoch || intent.primary != plan.old {
            return Ok(());
        }
        // The member that last served as primary stays the one reported, if a switch away
        // from it is restarted.
        if intent.previous_primary.is_none() {
            intent.previous_primary = Some(intent.primary.clone());
        }
        intent.primary = winner.clone();
        intent.epoch += 1;
        w.put_doc(key, &intent)?;
        count_request(w, key, &plan)?;
        let mut observed = w.doc::<GroupObserved>(key)?.unwrap_or_default();
        if observed.failover_blocked {
            observed.failover_blocked = false;
            w.put_doc(key, &observed)?;
        }
        Ok(())
    })?;
    tracing::info!(group = %key, old = %plan.old, new = %winner, offset, planned = plan.planned, "primary switched");
    Ok(Some(Next::After(POLL_SOON)))
}

/// Counts the request a switch carried out (a `TestFailover` or a promotion), in the
/// transaction that moves the primary, so a crash cannot carry it out twice.
fn count_request(w: &mut dyn Writer, key: &str, plan: &FailoverPlan) -> Result<(), ReconcileError> {
    if !plan.planned {
        return Ok(());
    }
    let Some(spec) = w.doc::<GroupSpec>(key)? else {
        return Ok(());
    };
    let mut observed = w.doc::<GroupObserved>(key)?.unwrap_or_default();
    if plan.promotion.is_some() {
        observed.promotions = spec.promotion_requests;
    } else {
        observed.failovers += 1;
    }
    w.put_doc(key, &observed)?;
    Ok(())
}

/// Counts a promotion of the member that is primary already.
fn count_switch(ctx: &Context, key: &str, plan: &FailoverPlan) -> Result<(), ReconcileError> {
    update(ctx.store.as_ref(), |w| -> Result<(), ReconcileError> {
        match w.doc::<GroupIntent>(key)? {
            Some(intent) if intent.epoch == plan.epoch => count_request(w, key, plan),
            _ => Ok(()),
        }
    })
}
