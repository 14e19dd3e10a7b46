//! The shard reconciler: the failover state machine, the one writer of a shard's intent.
//!
//! It places a shard (its endpoint addresses and first primary), and moves its primary when the
//! primary is lost, when `TestFailover` asks, or when `ModifyReplicationGroup
//! --primary-cluster-id` asks. Members never decide a role: each reads its order from the
//! intent this module writes ([`ferrocache_model::shard::ShardIntent::order`]) and reports
//! facts (`NodeObserved`), which wake this module again. Every transition is one store
//! transaction that commits only if the epoch it was planned from is unchanged, so a crash
//! anywhere leaves a state this table continues from.
//!
//! The states are [`State`] (the intent's [`Phase`], plus `Unplaced` before the intent exists);
//! [`TRANSITIONS`] is this table, as data — a unit test checks that the two agree row by row,
//! and every transition the code takes is checked against it:
//!
//! | from | trigger | to | what happens |
//! |---|---|---|---|
//! | Unplaced | Placed | Steady | endpoint addresses; first primary: the adopted `PrimaryClusterId`, else the lowest-numbered member; epoch 1 |
//! | Steady | PrimaryLost | Promoting | automatic failover, a live replica, an eligible one: the best becomes primary at epoch + 1 |
//! | Steady | PrimaryLost | Waiting | automatic failover and a live replica, but none eligible: "Failover from primary node … is waiting" once |
//! | Steady | PrimaryLost | Restarting | no automatic failover, or no live replica (in the primary's cluster mode, while a group moves into it): the primary restarts in place |
//! | Steady | Requested | Switching | a `TestFailover` or a promotion, and a candidate: it becomes primary at epoch + 1 and first catches up |
//! | Steady | Requested | Steady | a promotion of the member that is primary already: counted, nothing moves |
//! | Waiting | Candidate | Promoting | a replica became eligible: it becomes primary at epoch + 1 |
//! | Waiting | PrimaryBack | Steady | the primary answers again (a frozen one continued) |
//! | Waiting | PrimaryLost | Restarting | no live replica is left, or automatic failover was turned off |
//! | Switching | CaughtUp | Promoting | the winner has the old primary's stream (or the old primary stopped answering, or the catch-up bound passed) and no replica has more; never while the old primary's host is silent but not yet taken for lost (it may still serve there until it fences itself) |
//! | Switching | BetterReplica | Switching | another replica has more of the old primary's stream: it becomes the winner at epoch + 1 |
//! | Switching | WinnerLost | Promoting | the winner died before its promotion: the best remaining candidate at epoch + 1 |
//! | Switching | WinnerLost | Waiting | the winner died and no candidate is eligible |
//! | Promoting | WinnerPromoted | Steady | the winner runs as primary at this epoch: "Failover from primary node … completed" |
//! | Promoting | WinnerLost | Promoting | the winner died before running as primary: the best remaining candidate at epoch + 1 |
//! | Promoting | WinnerLost | Waiting | the winner died and no candidate is eligible |
//! | Restarting | PrimaryBack | Steady | the primary runs again at this epoch |
//!
//! Eligibility ([`replica_eligible`]): a replica in the middle of a full sync, or one that never
//! synced, is never promoted, nor one whose link to the primary has been down more than
//! `REPLICA_LINK_DOWN_MAX` longer than the primary itself has been known down (it missed
//! writes) — known down by this control plane, or, when every replica lost its link, since the
//! last of them lost it (a leader that took over after the primary's host died learns late). Among eligible candidates the highest replication offset wins, then (Multi-AZ) one
//! outside the old primary's zone, then the lowest id. Only a replica running in the same cluster
//! mode as the primary is a candidate (a group moving into cluster mode has both for a moment). A former primary still running as one
//! because a switch away from it never finished is a candidate too (it is fenced, and may hold
//! the most data).
//!
//! The router fences the old primary as soon as the epoch moves (the primary endpoint carries
//! the epoch) and holds new connections until the winner runs as primary at that epoch.

use std::sync::Arc;
use std::time::Duration;

use ferrocache_agent::{Liveness, Probe};
use ferrocache_engine::info::Role as EngineRole;
use ferrocache_model::event::{text, SourceType};
use ferrocache_model::group::{
    failover_target, replica_eligible, FailoverCandidate, GroupObserved, GroupSpec,
};
use ferrocache_model::ids;
use ferrocache_model::node::{NodeIntent, NodeObserved, NodeSpec, Role};
use ferrocache_model::shard::{Phase, ShardIntent, ShardObserved, ShardSpec};
use ferrocache_store::{tables, update, view, ReadExt, Reader, WriteExt, Writer};

use super::node::{admin_address, NODE_CALL_TIMEOUT};
use super::{Context, Next, ReconcileError};
use crate::addresses::{self, Pool};
use crate::events;

/// A state of the machine: the shard's [`Phase`], or `Unplaced` before its intent exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// No intent yet.
    Unplaced,
    /// See [`Phase::Steady`].
    Steady,
    /// See [`Phase::Waiting`].
    Waiting,
    /// See [`Phase::Switching`].
    Switching,
    /// See [`Phase::Promoting`].
    Promoting,
    /// See [`Phase::Restarting`].
    Restarting,
}

impl State {
    /// The state a stored phase is.
    pub fn of(phase: &Phase) -> Self {
        match phase {
            Phase::Steady => State::Steady,
            Phase::Waiting => State::Waiting,
            Phase::Switching { .. } => State::Switching,
            Phase::Promoting { .. } => State::Promoting,
            Phase::Restarting => State::Restarting,
        }
    }
}

/// What moves the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The shard's members exist and it has no intent.
    Placed,
    /// The primary is down (its node reported it), or nothing can take over any more.
    PrimaryLost,
    /// A `TestFailover` or a promotion not carried out yet.
    Requested,
    /// A replica became eligible while waiting.
    Candidate,
    /// The primary answers again.
    PrimaryBack,
    /// The winner of a planned switch has what the old primary had.
    CaughtUp,
    /// Another replica has more of the old primary's stream than the winner.
    BetterReplica,
    /// The winner went down before running as primary.
    WinnerLost,
    /// The winner runs as primary at the current epoch.
    WinnerPromoted,
}

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// State before.
    pub from: State,
    /// What happened.
    pub trigger: Trigger,
    /// State after.
    pub to: State,
}

const fn t(from: State, trigger: Trigger, to: State) -> Transition {
    Transition { from, trigger, to }
}

/// Every transition the machine may take (the module doc's table, row by row).
pub const TRANSITIONS: &[Transition] = &[
    t(State::Unplaced, Trigger::Placed, State::Steady),
    t(State::Steady, Trigger::PrimaryLost, State::Promoting),
    t(State::Steady, Trigger::PrimaryLost, State::Waiting),
    t(State::Steady, Trigger::PrimaryLost, State::Restarting),
    t(State::Steady, Trigger::Requested, State::Switching),
    t(State::Steady, Trigger::Requested, State::Steady),
    t(State::Waiting, Trigger::Candidate, State::Promoting),
    t(State::Waiting, Trigger::PrimaryBack, State::Steady),
    t(State::Waiting, Trigger::PrimaryLost, State::Restarting),
    t(State::Switching, Trigger::CaughtUp, State::Promoting),
    t(State::Switching, Trigger::BetterReplica, State::Switching),
    t(State::Switching, Trigger::WinnerLost, State::Promoting),
    t(State::Switching, Trigger::WinnerLost, State::Waiting),
    t(State::Promoting, Trigger::WinnerPromoted, State::Steady),
    t(State::Promoting, Trigger::WinnerLost, State::Promoting),
    t(State::Promoting, Trigger::WinnerLost, State::Waiting),
    t(State::Restarting, Trigger::PrimaryBack, State::Steady),
];

/// Whether the table allows `from` → `to` on `trigger`.
pub fn allowed(from: State, trigger: Trigger, to: State) -> bool {
    TRANSITIONS.contains(&t(from, trigger, to))
}

/// How long a reconciler waits before looking again at a shard that waits for a candidate or
/// a requested switch that has none yet.
pub const WAIT_RETRY: Duration = Duration::from_millis(250);
/// Longest wait, before promoting the winner of a planned switch, for it to receive what the
/// old primary (alive, and already fenced by the router) acknowledged: a planned switch loses
/// no write.
pub const CATCH_UP_MAX: Duration = Duration::from_secs(2);
/// How often the catch-up compares offsets.
pub const CATCH_UP_POLL: Duration = Duration::from_millis(5);
/// Bound on reaching the old primary during catch-up; a dead one is not waited for.
const OLD_PRIMARY_TIMEOUT: Duration = Duration::from_millis(300);
/// Bound on probing one candidate replica's replication offset.
const CANDIDATE_PROBE_TIMEOUT: Duration = Duration::from_millis(300);

/// A member as the machine sees it.
struct Member {
    spec: NodeSpec,
    intent: Option<NodeIntent>,
    observed: NodeObserved,
    /// Its host is being drained (`ferrocache hosts --drain`).
    draining: bool,
}

impl Member {
    /// Its process was running as the shard knew it and is down now (reported by its node).
    fn down(&self) -> bool {
        self.observed.created && !self.observed.healthy
    }

    /// It runs as primary under `epoch`.
    fn primary_at(&self, epoch: u64) -> bool {
        self.observed.healthy
            && self.observed.role == Some(Role::Primary)
            && self.observed.epoch == epoch
    }
}

/// The facts of one run, read in one snapshot of the store.
struct Facts {
    key: String,
    spec: ShardSpec,
    intent: Option<ShardIntent>,
    observed: ShardObserved,
    group: GroupSpec,
    group_created: bool,
    members: Vec<Member>,
}

impl Facts {
    fn member(&self, id: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.spec.id == id)
    }
}

fn load(r: &dyn Reader, key: &str) -> Result<Option<Facts>, ReconcileError> {
    let Some(spec) = r.doc::<ShardSpec>(key)? else {
        return Ok(None);
    };
    let group_key = tables::key(&spec.region, &spec.group_id);
    let Some(group) = r.doc::<GroupSpec>(&group_key)? else {
        return Ok(None);
    };
    let group_created = r
        .doc::<GroupObserved>(&group_key)?
        .is_some_and(|o| o.created);
    let mut members = Vec::new();
    for node_key in r.lookup(tables::NODES_BY_SHARD, key)? {
        let Some(node) = r.doc::<NodeSpec>(&node_key)? else {
            continue;
        };
        if node.deletion.is_some() {
            continue;
        }
        let intent = r.doc::<NodeIntent>(&node_key)?;
        let draining = match intent.as_ref().and_then(NodeIntent::host_name) {
            Some(host) => crate::capacity::draining(r, host)?,
            None => false,
        };
        members.push(Member {
            draining,
            intent,
            observed: r.doc::<NodeObserved>(&node_key)?.unwrap_or_default(),
            spec: node,
        });
    }
    Ok(Some(Facts {
        key: key.to_string(),
        intent: r.doc::<ShardIntent>(key)?,
        observed: r.doc::<ShardObserved>(key)?.unwrap_or_default(),
        spec,
        group,
        group_created,
        members,
    }))
}

/// What a run decided to write.
struct Step {
    trigger: Trigger,
    intent: ShardIntent,
    /// Requests carried out by this step (counted in the same transaction).
    counted: Option<ShardObserved>,
    /// Events on the group, and on the former primary.
    events: Vec<(String, SourceType, String)>,
}

/// Reconciles the shard stored at `key`.
///
/// # Errors
/// Store failures, a full address range; retried.
pub(crate) async fn reconcile(ctx: Arc<Context>, key: String) -> Result<Next, ReconcileError> {
    let Some(facts) = view(ctx.store.as_ref(), |r| load(r, &key))? else {
        return Ok(Next::Done);
    };
    if facts.group.deletion.is_some() {
        return Ok(Next::Done);
    }
    // A shard removed by resharding, emptied and going: nothing to fail over to or from.
    let going = |m: &Member| m.spec.deletion.is_some();
    if facts.spec.removing && !facts.members.is_empty() && facts.members.iter().all(going) {
        return Ok(Next::Done);
    }
    let Some(intent) = facts.intent.clone() else {
        return place(&ctx, &facts);
    };
    // Nothing fails over while the group is being created: its members are not all there.
    if !facts.group_created {
        return Ok(Next::Done);
    }
    let (step, next) = match &intent.phase {
        Phase::Steady => steady(&ctx, &facts, &intent).await?,
        Phase::Waiting => waiting(&ctx, &facts, &intent).await?,
        Phase::Switching { from, since } => switching(&ctx, &facts, &intent, from, *since).await?,
        Phase::Promoting { from } => promoting(&ctx, &facts, &intent, from).await?,
        Phase::Restarting => (restarting(&facts, &intent), Next::Done),
    };
    if let Some(step) = step {
        commit(&ctx, &facts, &intent, step)?;
    }
    Ok(next)
}

/// `Unplaced → Steady`: endpoint addresses and the first primary.
fn place(ctx: &Context, facts: &Facts) -> Result<Next, ReconcileError> {
    let Some(primary) = first_primary(facts) else {
        return Ok(Next::Done);
    };
    let cidr = ctx.config.cidr;
    update(ctx.store.as_ref(), |w| -> Result<(), ReconcileError> {
        if w.doc::<ShardIntent>(&facts.key)?.is_some() || w.doc::<ShardSpec>(&facts.key)?.is_none()
        {
            return Ok(());
        }
        let endpoints = addresses::allocate_many(w, cidr, Pool::Endpoint, 2)?;
        let intent = ShardIntent {
            primary: primary.clone(),
            epoch: 1,
            phase: Phase::Steady,
            primary_endpoint: endpoints[0],
            reader_endpoint: endpoints[1],
        };
        debug_assert!(allowed(State::Unplaced, Trigger::Placed, State::Steady));
        w.put_doc(&facts.key, &intent)?;
        Ok(())
    })?;
    Ok(Next::Done)
}

/// The member that starts as primary: the adopted `PrimaryClusterId` (the one member whose id is
/// not `<group>-NNN`), else the lowest-numbered member.
fn first_primary(facts: &Facts) -> Option<String> {
    let group = &facts.spec.group_id;
    facts
        .members
        .iter()
        .find(|m| ids::member_index(group, &m.spec.id).is_none())
        .or_else(|| {
            facts
                .members
                .iter()
                .min_by_key(|m| ids::member_index(group, &m.spec.id))
        })
        .map(|m| m.spec.id.clone())
}

/// Some member other than `primary` is a replica whose process lives (even frozen): it holds
/// the data, and can take over once it answers.
fn standby(ctx: &Context, facts: &Facts, primary: &str) -> bool {
    facts.members.iter().any(|m| {
        m.spec.id != primary
            && same_engine_mode(facts, m, primary)
            && m.observed.created
            && m.observed.role == Some(Role::Replica)
            && !matches!(ctx.agent.liveness(&m.spec.id), Liveness::Gone)
    })
}

/// Whether `member` runs in the same cluster mode as `other`: while a group moves into cluster
/// mode (primary first), a replica still outside the cluster cannot take over from a primary
/// inside it, nor the other way round (a cluster node cannot follow a plain one).
fn same_engine_mode(facts: &Facts, member: &Member, other: &str) -> bool {
    facts
        .member(other)
        .is_none_or(|o| o.observed.cluster_engine == member.observed.cluster_engine)
}

/// How long the member has been known down (zero when it is up).
fn down_for(member: Option<&Member>) -> Duration {
    member
        .and_then(|m| m.observed.down_since)
        .and_then(|t| (chrono::Utc::now() - t).to_std().ok())
        .unwrap_or_default()
}

/// The best eligible candidate among the healthy members other than `excluded` (only `only`,
/// when given), probed now. `lost` is the primary being replaced (its zone and how long it
/// has been down decide ties and eligibility).
async fn pick(
    ctx: &Context,
    facts: &Facts,
    excluded: &[&str],
    only: Option<&str>,
    lost: &str,
) -> Option<String> {
    let lost_member = facts.member(lost);
    let primary_down_for = down_for(lost_member);
    let old_zone = lost_member
        .and_then(|m| m.intent.as_ref())
        .map(|i| i.zone.clone());
    let mut answers = Vec::new();
    for m in &facts.members {
        if excluded.contains(&m.spec.id.as_str())
            || only.is_some_and(|o| o != m.spec.id)
            || !m.observed.healthy
            || m.observed.role.is_none()
            || !same_engine_mode(facts, m, lost)
        {
            continue;
        }
        let Some(intent) = &m.intent else { continue };
        let address = admin_address(&ctx.config, &m.spec, intent);
        let Probe::Up(info) = ctx.agent.probe(&address, CANDIDATE_PROBE_TIMEOUT).await else {
            continue;
        };
        let link_down = info
            .raw
            .get("master_link_down_since_seconds")
            .and_then(|v| v.parse::<i64>().ok());
        answers.push((m, intent, info, link_down));
    }
    // When every replica lost its link, the primary has been out of reach since the last of
    // them lost it at the latest, even if this control plane learnt it later (it took the
    // lead after the primary's host died): a replica is measured against the freshest one.
    let replicas_lost_it_for = answers
        .iter()
        .filter(|(_, _, info, _)| info.slave_repl_offset.is_some())
        .map(|(_, _, _, link_down)| link_down.filter(|s| *s >= 0).map(|s| s as u64))
        .collect::<Option<Vec<u64>>>()
        .and_then(|downs| downs.into_iter().min())
        .map(std::time::Duration::from_secs)
        .unwrap_or_default();
    let primary_down_for = primary_down_for.max(replicas_lost_it_for);
    let mut probed = Vec::new();
    for (m, intent, info, link_down) in answers {
        let is_replica = info.slave_repl_offset.is_some();
        if is_replica
            && !replica_eligible(info.master_sync_in_progress, link_down, primary_down_for)
        {
            tracing::warn!(shard = %facts.key, replica = %m.spec.id, ?link_down, "replica out of sync; not eligible");
            continue;
        }
        probed.push(FailoverCandidate {
            id: m.spec.id.clone(),
            offset: info.slave_repl_offset.unwrap_or(info.master_repl_offset),
            zone: intent.zone.clone(),
        });
    }
    failover_target(&probed, old_zone.as_deref(), facts.group.multi_az).map(|c| c.id.clone())
}

/// The intent with `primary` at the next epoch in `phase`.
fn switched(intent: &ShardIntent, primary: String, phase: Phase) -> ShardIntent {
    ShardIntent {
        primary,
        epoch: intent.epoch + 1,
        phase,
        ..intent.clone()
    }
}

fn with_phase(intent: &ShardIntent, phase: Phase) -> ShardIntent {
    ShardIntent {
        phase,
        ..intent.clone()
    }
}

fn group_event(facts: &Facts, message: String) -> (String, SourceType, String) {
    (
        facts.spec.group_id.clone(),
        SourceType::ReplicationGroup,
        message,
    )
}

type Decision = (Option<Step>, Next);

/// `Steady`: a lost primary, or a requested switch.
async fn steady(
    ctx: &Context,
    facts: &Facts,
    intent: &ShardIntent,
) -> Result<Decision, ReconcileError> {
    let old = intent.primary.clone();
    if facts.member(&old).is_some_and(Member::down) {
        return Ok(lost(ctx, facts, intent, &old, &old).await);
    }
    let failover = facts.observed.failovers < facts.spec.failover_requests;
    let promotion = (facts.observed.promotions < facts.spec.promotion_requests)
        .then(|| facts.spec.promotion_target.clone())
        .flatten();
    if !failover && promotion.is_none() {
        if facts.member(&old).is_some_and(|m| m.draining) {
            return Ok(hand_over_from_draining_host(ctx, facts, intent, &old).await);
        }
        return Ok((None, Next::Done));
    }
    let mut counted = facts.observed.clone();
    if failover {
        counted.failovers += 1;
    } else {
        counted.promotions = facts.spec.promotion_requests;
    }
    if promotion.as_deref() == Some(old.as_str()) {
        // The member named is primary already: the promotion is done.
        return Ok((
            Some(Step {
                trigger: Trigger::Requested,
                intent: intent.clone(),
                counted: Some(counted),
                events: Vec::new(),
            }),
            Next::Done,
        ));
    }
    let Some(winner) = pick(ctx, facts, &[&old], promotion.as_deref(), &old).await else {
        tracing::warn!(shard = %facts.key, "a switch was asked for but no candidate is ready; retrying");
        return Ok((None, Next::After(WAIT_RETRY)));
    };
    tracing::info!(shard = %facts.key, %old, new = %winner, "planned switch");
    Ok(planned_switch(intent, winner, &old, Some(counted)))
}

/// A planned switch from `from` to `winner`, as requested (`counted`: the requests it carries
/// out): the winner catches up with the old primary before it is promoted.
fn planned_switch(
    intent: &ShardIntent,
    winner: String,
    from: &str,
    counted: Option<ShardObserved>,
) -> Decision {
    (
        Some(Step {
            trigger: Trigger::Requested,
            intent: switched(
                intent,
                winner,
                Phase::Switching {
                    from: from.to_string(),
                    since: chrono::Utc::now(),
                },
            ),
            counted,
            events: Vec::new(),
        }),
        Next::After(CATCH_UP_POLL),
    )
}

/// The primary `old` runs on a host being drained: a planned switch to the best replica on a
/// host that is not (as a requested one: the old primary turns replica, and then moves off the
/// host with the other replicas there). With no such replica, the primary stays: a shard is
/// never left without one, and a node replica joining elsewhere wakes the shard again.
async fn hand_over_from_draining_host(
    ctx: &Context,
    facts: &Facts,
    intent: &ShardIntent,
    old: &str,
) -> Decision {
    let excluded: Vec<&str> = facts
        .members
        .iter()
        .filter(|m| m.draining)
        .map(|m| m.spec.id.as_str())
        .collect();
    let Some(winner) = pick(ctx, facts, &excluded, None, old).await else {
        tracing::info!(shard = %facts.key, primary = %old, "the primary's host is draining and no replica elsewhere can take over yet");
        return (None, Next::Done);
    };
    tracing::info!(shard = %facts.key, %old, new = %winner, "switch off a draining host");
    planned_switch(intent, winner, old, None)
}

/// The member `lost` (the primary, or a winner not promoted yet) is down: promote the best
/// candidate, wait for one, or restart the primary in place. `from` is the member that last
/// served as primary (reported when the switch completes).
async fn lost(
    ctx: &Context,
    facts: &Facts,
    intent: &ShardIntent,
    lost: &str,
    from: &str,
) -> Decision {
    let trigger = if intent.phase == Phase::Steady || intent.phase == Phase::Waiting {
        Trigger::PrimaryLost
    } else {
        Trigger::WinnerLost
    };
    let can_fail_over = facts.group.automatic_failover && standby(ctx, facts, lost);
    if !can_fail_over && trigger == Trigger::PrimaryLost {
        tracing::warn!(shard = %facts.key, primary = %lost, "primary is down and nothing can take over; restarting it in place");
        return (
            Some(Step {
                trigger,
                intent: with_phase(intent, Phase::Restarting),
                counted: None,
                events: Vec::new(),
            }),
            Next::Done,
        );
    }
    match pick(ctx, facts, &[lost], None, lost).await {
        Some(winner) => {
            tracing::info!(shard = %facts.key, old = %lost, new = %winner, "primary switched");
            (
                Some(Step {
                    trigger: if intent.phase == Phase::Waiting {
                        Trigger::Candidate
                    } else {
                        trigger
                    },
                    intent: switched(
                        intent,
                        winner,
                        Phase::Promoting {
                            from: from.to_string(),
                        },
                    ),
                    counted: None,
                    events: Vec::new(),
                }),
                Next::Done,
            )
        }
        None if intent.phase == Phase::Waiting => (None, Next::After(WAIT_RETRY)),
        None => {
            tracing::warn!(shard = %facts.key, "no healthy replica in sync to fail over to; waiting");
            (
                Some(Step {
                    trigger,
                    intent: with_phase(intent, Phase::Waiting),
                    counted: None,
                    events: vec![group_event(facts, text::failover_waiting(from))],
                }),
                Next::After(WAIT_RETRY),
            )
        }
    }
}

/// `Waiting`: the primary may answer again, nothing may be left to take over, or a candidate
/// may have become eligible.
async fn waiting(
    ctx: &Context,
    facts: &Facts,
    intent: &ShardIntent,
) -> Result<Decision, ReconcileError> {
    let primary = facts.member(&intent.primary);
    if primary.is_some_and(|m| m.primary_at(intent.epoch)) {
        return Ok((
            Some(Step {
                trigger: Trigger::PrimaryBack,
                intent: with_phase(intent, Phase::Steady),
                counted: None,
                events: Vec::new(),
            }),
            Next::Done,
        ));
    }
    let from = intent.primary.clone();
    if !(facts.group.automatic_failover && standby(ctx, facts, &from)) {
        return Ok((
            Some(Step {
                trigger: Trigger::PrimaryLost,
                intent: with_phase(intent, Phase::Restarting),
                counted: None,
                events: Vec::new(),
            }),
            Next::Done,
        ));
    }
    Ok(lost(ctx, facts, intent, &from, &from).await)
}

/// `Switching`: the winner of a planned switch catches up with the old primary, then is
/// ordered to promote — unless another replica has more of the old primary's stream.
async fn switching(
    ctx: &Context,
    facts: &Facts,
    intent: &ShardIntent,
    from: &str,
    since: ferrocache_model::Timestamp,
) -> Result<Decision, ReconcileError> {
    let winner = intent.primary.clone();
    let Some(winner_member) = facts.member(&winner) else {
        return Ok(lost(ctx, facts, intent, &winner, from).await);
    };
    if winner_member.down() {
        return Ok(lost(ctx, facts, intent, &winner, from).await);
    }
    let Some(winner_intent) = &winner_member.intent else {
        return Ok((None, Next::After(WAIT_RETRY)));
    };
    let winner_address = admin_address(&ctx.config, &winner_member.spec, winner_intent);
    let Ok(mine) = ctx.agent.info(&winner_address, NODE_CALL_TIMEOUT).await else {
        return Ok((None, Next::After(CATCH_UP_POLL)));
    };
    // An old primary on a host that fell silent may still take writes there, through that
    // host's endpoints, until the host fences itself: whatever the catch-up bound, the winner
    // is not promoted before the host answers again or is taken for lost (after its fence).
    if !ctx.agent.host_in_touch(from) && !matches!(ctx.agent.liveness(from), Liveness::Gone) {
        return Ok((None, Next::After(CATCH_UP_POLL)));
    }
    // Catch-up: while the old primary answers as primary, wait (bounded) until the winner has
    // its whole stream.
    let elapsed = (chrono::Utc::now() - since).to_std().unwrap_or_default();
    if elapsed < CATCH_UP_MAX {
        if let Some(old) = facts
            .member(from)
            .and_then(|m| m.intent.as_ref().map(|i| (m, i)))
        {
            let old_address = admin_address(&ctx.config, &old.0.spec, old.1);
            if let Ok(old_info) = ctx.agent.info(&old_address, OLD_PRIMARY_TIMEOUT).await {
                if old_info.role == EngineRole::Master
                    && mine.slave_repl_offset.unwrap_or(-1) < old_info.master_repl_offset
                {
                    return Ok((None, Next::After(CATCH_UP_POLL)));
                }
            }
        }
    } else {
        tracing::warn!(shard = %facts.key, %winner, "the winner did not catch up with the old primary in time; promoting");
    }
    // The replica with the most of the old primary's stream is the one promoted: a frozen old
    // primary that resumed keeps sending its backlog to the replicas that follow it.
    if let Some(better) = better_replica(ctx, facts, &winner, &mine).await {
        tracing::info!(shard = %facts.key, from = %winner, to = %better, "a replica has more of the old primary's stream; promoting it instead");
        return Ok((
            Some(Step {
                trigger: Trigger::BetterReplica,
                intent: switched(
                    intent,
                    better,
                    Phase::Switching {
                        from: from.to_string(),
                        since,
                    },
                ),
                counted: None,
                events: Vec::new(),
            }),
            Next::After(CATCH_UP_POLL),
        ));
    }
    Ok((
        Some(Step {
            trigger: Trigger::CaughtUp,
            intent: with_phase(
                intent,
                Phase::Promoting {
                    from: from.to_string(),
                },
            ),
            counted: None,
            events: Vec::new(),
        }),
        Next::Done,
    ))
}

/// Another healthy replica of the same primary as the winner with more of its stream.
async fn better_replica(
    ctx: &Context,
    facts: &Facts,
    winner: &str,
    mine: &ferrocache_engine::Info,
) -> Option<String> {
    let (host, port) = (mine.master_host.clone()?, mine.master_port?);
    let mut best = (mine.slave_repl_offset.unwrap_or(-1), None);
    for m in &facts.members {
        if m.spec.id == winner || !m.observed.healthy || m.observed.role != Some(Role::Replica) {
            continue;
        }
        let Some(intent) = &m.intent else { continue };
        let address = admin_address(&ctx.config, &m.spec, intent);
        let Ok(theirs) = ctx.agent.info(&address, CANDIDATE_PROBE_TIMEOUT).await else {
            continue;
        };
        let same_source = theirs.role == EngineRole::Replica
            && theirs.master_host.as_deref() == Some(host.as_str())
            && theirs.master_port == Some(port);
        let offset = theirs.slave_repl_offset.unwrap_or(-1);
        if same_source && offset > best.0 {
            best = (offset, Some(m.spec.id.clone()));
        }
    }
    best.1
}

/// `Promoting`: done once the winner runs as primary at this epoch.
async fn promoting(
    ctx: &Context,
    facts: &Facts,
    intent: &ShardIntent,
    from: &str,
) -> Result<Decision, ReconcileError> {
    let winner = intent.primary.clone();
    match facts.member(&winner) {
        Some(m) if m.primary_at(intent.epoch) => {
            let mut events = Vec::new();
            if from != winner {
                let message = text::failover_completed(from, &winner);
                events.push((from.to_string(), SourceType::CacheCluster, message.clone()));
                events.push(group_event(facts, message));
            }
            Ok((
                Some(Step {
                    trigger: Trigger::WinnerPromoted,
                    intent: with_phase(intent, Phase::Steady),
                    counted: None,
                    events,
                }),
                Next::Done,
            ))
        }
        Some(m) if !m.down() => Ok((None, Next::Done)),
        _ => Ok(lost(ctx, facts, intent, &winner, from).await),
    }
}

/// `Restarting`: done once the primary runs again.
fn restarting(facts: &Facts, intent: &ShardIntent) -> Option<Step> {
    facts
        .member(&intent.primary)
        .is_some_and(|m| m.primary_at(intent.epoch))
        .then(|| Step {
            trigger: Trigger::PrimaryBack,
            intent: with_phase(intent, Phase::Steady),
            counted: None,
            events: Vec::new(),
        })
}

/// Writes a step, only if the intent is still the one it was planned from.
fn commit(
    ctx: &Context,
    facts: &Facts,
    planned: &ShardIntent,
    step: Step,
) -> Result<(), ReconcileError> {
    let from = State::of(&planned.phase);
    let to = State::of(&step.intent.phase);
    assert!(
        allowed(from, step.trigger, to),
        "failover transition {from:?} --{:?}--> {to:?} is not in the table",
        step.trigger
    );
    let mut applied = false;
    update(
        ctx.store.as_ref(),
        |w: &mut dyn Writer| -> Result<(), ReconcileError> {
            if w.doc::<ShardIntent>(&facts.key)?.as_ref() != Some(planned) {
                return Ok(());
            }
            applied = true;
            if step.intent != *planned {
                w.put_doc(&facts.key, &step.intent)?;
            }
            if let Some(counted) = &step.counted {
                w.put_doc(&facts.key, counted)?;
            }
            let now = chrono::Utc::now();
            for (source, kind, message) in &step.events {
                events::record(w, &facts.spec.region, source, *kind, message.clone(), now)?;
            }
            Ok(())
        },
    )?;
    tracing::debug!(shard = %facts.key, ?from, trigger = ?step.trigger, ?to, epoch = step.intent.epoch, "failover transition");
    if applied && step.trigger == Trigger::WinnerPromoted {
        count_failover(ctx, facts, planned);
    }
    Ok(())
}

/// Counts a completed failover in the metrics, with its duration from the old primary's loss
/// when that was seen (a planned switch has none).
fn count_failover(ctx: &Context, facts: &Facts, planned: &ShardIntent) {
    let (Some(own), Some(from)) = (&ctx.own, planned.phase.switching_from()) else {
        return;
    };
    if from == planned.primary {
        return;
    }
    let seconds = facts
        .member(from)
        .and_then(|m| m.observed.down_since)
        .and_then(|since| (chrono::Utc::now() - since).to_std().ok())
        .map(|d| d.as_secs_f64());
    own.failover_completed(&facts.group.id, &facts.spec.id, seconds);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(name: &str) -> State {
        match name {
            "Unplaced" => State::Unplaced,
            "Steady" => State::Steady,
            "Waiting" => State::Waiting,
            "Switching" => State::Switching,
            "Promoting" => State::Promoting,
            "Restarting" => State::Restarting,
            other => panic!("unknown state {other} in the doc table"),
        }
    }

    fn trigger(name: &str) -> Trigger {
        match name {
            "Placed" => Trigger::Placed,
            "PrimaryLost" => Trigger::PrimaryLost,
            "Requested" => Trigger::Requested,
            "Candidate" => Trigger::Candidate,
            "PrimaryBack" => Trigger::PrimaryBack,
            "CaughtUp" => Trigger::CaughtUp,
            "BetterReplica" => Trigger::BetterReplica,
            "WinnerLost" => Trigger::WinnerLost,
            "WinnerPromoted" => Trigger::WinnerPromoted,
            other => panic!("unknown trigger {other} in the doc table"),
        }
    }

    // Goal: the transition table in this module's doc and `TRANSITIONS` are the same table, row
    // by row. Method: parse the doc's Markdown rows (from | trigger | to | …) from the source.
    #[test]
    fn doc_table_is_the_code_table() {
        let source = include_str!("failover.rs");
        let rows: Vec<Transition> = source
            .lines()
            .take_while(|l| l.starts_with("//!"))
            .map(|l| l.trim_start_matches("//!").trim())
            .filter(|l| l.starts_with('|') && !l.starts_with("| from") && !l.starts_with("|---"))
            .map(|l| {
                let cells: Vec<&str> = l.split('|').map(str::trim).collect();
                t(state(cells[1]), trigger(cells[2]), state(cells[3]))
            })
            .collect();
        assert_eq!(rows, TRANSITIONS);
    }

    // Goal: every state but `Unplaced` can be left, and every state is reachable.
    #[test]
    fn table_is_connected() {
        for s in [
            State::Steady,
            State::Waiting,
            State::Switching,
            State::Promoting,
            State::Restarting,
        ] {
            assert!(
                TRANSITIONS.iter().any(|r| r.from == s),
                "{s:?} has no way out"
            );
            assert!(
                TRANSITIONS.iter().any(|r| r.to == s),
                "{s:?} is unreachable"
            );
        }
    }

    // Goal: the stored phases map onto the states, and a planned switch names where it came
    // from.
    #[test]
    fn phases_are_states() {
        assert_eq!(State::of(&Phase::Steady), State::Steady);
        let from = Phase::Promoting { from: "a".into() };
        assert_eq!(State::of(&from), State::Promoting);
        assert_eq!(from.switching_from(), Some("a"));
        let _ = GroupObserved::default();
    }
}
