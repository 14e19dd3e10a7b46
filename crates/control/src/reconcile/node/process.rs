//! A node's process: adopt it, start it, restart it for a reboot, replace it when it keeps
//! failing to start, stop and remove it when the node is deleted.
//!
//! What to do with a process that died is decided from the node's [`Target`]:
//! - a replica is started again (as a replica of its primary) once its primary runs;
//! - a shard's primary is *not* restarted unless its shard orders a restart in place
//!   (`Target::Primary { restart_in_place: true }`): it is reported down, and the shard's
//!   failover state machine either promotes a replica or orders the restart — restarted empty,
//!   it would wipe the replicas that hold its data;
//! - a standalone node is restarted in place.
//!
//! A primary restarted in place after it vanished (`Liveness::Gone`) comes back empty, as a
//! replaced ElastiCache node does without Multi-AZ: the RDB on disk is from its last full sync
//! or save, and serving it would bring back stale data that its replicas would then copy over
//! their newer one. The file is kept aside, not deleted, with an event. Unless the agent holds
//! evidence that the node's last stop was a clean one that saved this very file
//! ([`ferrocache_agent::clean_stop`]): then the file holds everything the node acknowledged and
//! is loaded — also when the store could not record that stop (a full disk).

use ferrocache_agent::{AgentError, Liveness, NodeProcess};
use ferrocache_engine::config::NodeConfig;
use ferrocache_engine::NodeAddress;
use ferrocache_model::event::{text, SourceType};
use ferrocache_model::ids;
use ferrocache_model::node::{NodeIntent, NodeObserved, NodeSpec};
use ferrocache_store::{update, WriteExt};

use super::super::{Context, Next, ReconcileError};
use super::{mark_down, node_config, record, runs, save, seed, Facts, Target, WAIT_RECHECK};
use crate::events;
use crate::runtime::RuntimeError;

/// Failed starts in a row (the process exits while starting, e.g. on a data file it cannot
/// load) after which a node is replaced by an empty one.
pub const START_FAILURES_BEFORE_REPLACE: u32 = 3;

/// Longest part of a start error quoted in an event.
pub(crate) const EVENT_REASON_LEN_MAX: usize = 200;
/// How soon a start that failed is tried again.
pub const START_RETRY_DELAY: std::time::Duration = std::time::Duration::from_millis(250);

/// Whether the node's process runs after [`run`].
pub(crate) enum Running {
    /// It runs: adopted or started.
    Yes(Box<NodeProcess>),
    /// It does not, and this run ends here: look again then.
    No(Next),
}

/// What a start of the node's process uses.
pub(crate) struct Start<'a> {
    /// Its configuration.
    pub(crate) cfg: &'a mut NodeConfig,
    /// Its own TLS, if any: a start has the certificate issued first, so the process always
    /// starts with fresh files on its host, wherever it ran before.
    pub(crate) tls: Option<&'a mut super::tls::Wanted>,
}

/// Makes the node's process run when its target allows it, and reports what it found.
///
/// # Errors
/// Store failures, and agent failures other than a failed start (which are recorded as facts).
pub(crate) async fn run(
    ctx: &Context,
    key: &str,
    facts: &Facts,
    start: Start<'_>,
    target: &Target,
    liveness: Liveness,
    observed: &mut NodeObserved,
) -> Result<Running, ReconcileError> {
    let spec = &facts.spec;
    let cfg = start.cfg;
    let running = runs(liveness);
    // A process we recorded as running (its pid not cleared by a clean shutdown) that does not
    // run now died, or froze.
    let believed_running = observed.created && facts.observed.pid.is_some();
    // A frozen process (stopped by a signal) answers nothing and cannot be replaced while it
    // lives: it is reported down (its shard fails over from a frozen primary) and looked at
    // again when the agent reports it continued.
    if matches!(liveness, Liveness::Stopped(_)) {
        if observed.healthy {
            tracing::warn!(node = %spec.id, "node process is frozen");
            mark_down(observed);
            save(ctx, key, spec, observed, &[])?;
        }
        return Ok(Running::No(Next::After(WAIT_RECHECK)));
    }
    match target {
        // A replica is (re)started only once its primary runs as primary: pointing it at a
        // node that is not primary yet (a failover in progress) would chain replicas, and a
        // first connection that is refused costs a second of Redis's replication timer.
        Target::Replica { of, primary_up, .. } if of.is_none() || (!running && !primary_up) => {
            // A dead replica waiting for a primary is no standby: say so.
            if !running && observed.healthy {
                mark_down(observed);
                save(ctx, key, spec, observed, &[])?;
            }
            return Ok(Running::No(Next::After(WAIT_RECHECK)));
        }
        // The winner of a switch in flight is not restarted: if it died, its shard starts the
        // switch over from it.
        Target::Standby if !running => {
            if observed.healthy {
                mark_down(observed);
                save(ctx, key, spec, observed, &[])?;
            }
            return Ok(Running::No(Next::After(WAIT_RECHECK)));
        }
        Target::Primary {
            restart_in_place: false,
        } if believed_running && !running => {
            if observed.healthy {
                tracing::warn!(node = %spec.id, ?liveness, "primary is down; its shard decides");
                mark_down(observed);
                save(ctx, key, spec, observed, &[])?;
            }
            return Ok(Running::No(Next::After(WAIT_RECHECK)));
        }
        Target::Primary {
            restart_in_place: true,
        } if believed_running && !running => {
            tracing::warn!(node = %spec.id, ?liveness, "primary is down and nothing takes over; restarting it in place");
            // A data file its last clean stop saved holds everything it acknowledged (whatever
            // the store could record of that stop); any other is older than that, and is set
            // aside, with an event saying so.
            if matches!(liveness, Liveness::Gone) && !ctx.agent.stopped_cleanly(&spec.id).await {
                if let Some(aside) = ctx.agent.set_aside_data(&spec.id).await? {
                    record(
                        ctx,
                        spec,
                        text::data_set_aside(ids::CACHE_NODE_ID, &aside.display().to_string()),
                    )?;
                }
            }
        }
        _ => {}
    }

    // A node restored from a snapshot gets the snapshot's RDB before its first start (again on
    // every retry of that start: the copy is atomic, and the node holds nothing else yet).
    // In cluster mode only the shard's primary is seeded: a node that starts with keys claims
    // their slots, and a replica must start empty to follow its primary.
    let primary = matches!(target, Target::Primary { .. });
    let seeded = primary || !spec.cluster_mode.runs_cluster();
    if let (Some(name), false, Liveness::Gone, true) =
        (&spec.restore_from, observed.created, liveness, seeded)
    {
        if let Some(next) =
            seed::place(ctx, key, spec, cfg.host.as_deref(), name, primary, observed).await?
        {
            return Ok(Running::No(next));
        }
    }

    let rebooting = observed.created && observed.reboots < spec.reboots;
    if rebooting {
        record(ctx, spec, text::cache_node_shutdown(ids::CACHE_NODE_ID))?;
        ctx.agent.stop(&spec.id, &cfg.address(), true).await?;
    }
    // A member moving into cluster mode (`ClusterMode` `compatible`) that is not its shard's
    // primary starts empty and copies the primary through the cluster: its data file is from
    // before, and a cluster node that loads keys claims their slots.
    let starting = !running || rebooting;
    if starting && cfg.cluster.is_some() && observed.created && !observed.cluster_engine && !primary
    {
        let aside = ctx.agent.set_aside_data(&spec.id).await?;
        tracing::info!(node = %spec.id, ?aside, "moving into cluster mode as a replica: starts empty");
    }
    // A process seen running is only adopted, never started: it may have died since, and what
    // to do with a dead node is decided by the next run from fresh facts (its process event
    // wakes it), not from this run's.
    let process = if running && !rebooting {
        match ctx.agent.adopt(cfg).await {
            Ok(Some(p)) => Ok(p),
            Ok(None) => return Ok(Running::No(Next::After(super::POLL_SOON))),
            Err(e) => Err(e),
        }
    } else {
        let issued = match start.tls {
            Some(tls) => super::tls::issue(ctx, spec, tls)
                .await
                .map(|()| Some(tls.engine.clone())),
            None => Ok(None),
        };
        match issued {
            Ok(tls) => {
                if tls.is_some() {
                    cfg.tls = tls;
                }
                ctx.agent.ensure_running(cfg).await
            }
            Err(e) => Err(e),
        }
    };
    match process {
        Ok(p) => Ok(Running::Yes(Box::new(p))),
        // A running node whose host does not answer is not down: the host may be cut off
        // with the node serving there, and until the host is taken for lost (its event
        // stream's silence, after the host has fenced its endpoints) failing it over could
        // leave two primaries taking writes.
        Err(e) if running && e.host_unreachable() => {
            tracing::warn!(node = %spec.id, error = %e, "node's host does not answer; its liveness decides");
            Ok(Running::No(Next::After(START_RETRY_DELAY)))
        }
        Err(e) => {
            start_failed(ctx, key, spec, e, observed).await?;
            Ok(Running::No(Next::After(START_RETRY_DELAY)))
        }
    }
}

/// Records a failed start: a restore the engine refused, a creation that failed, or one more
/// failure of a node that ran before (replaced after [`START_FAILURES_BEFORE_REPLACE`]).
async fn start_failed(
    ctx: &Context,
    key: &str,
    spec: &NodeSpec,
    error: RuntimeError,
    observed: &mut NodeObserved,
) -> Result<(), ReconcileError> {
    let reason = error.to_string();
    tracing::warn!(node = %spec.id, error = %reason, "node did not start");
    let exited = matches!(
        &error,
        RuntimeError::Agent(AgentError::ExitedDuringStart { .. })
    );
    if let (false, true, Some(name)) = (observed.created, exited, spec.restore_from.as_ref()) {
        // The engine exits at start on an RDB it cannot load: the restore failed, and the node
        // is not retried (it would start empty on a later attempt).
        let mut messages = Vec::new();
        let short = match &error {
            RuntimeError::Agent(AgentError::ExitedDuringStart { status, .. }) => {
                format!("redis-server exited while loading the snapshot ({status})")
            }
            other => other.to_string(),
        };
        seed::fail(observed, name, &short, &mut messages);
        mark_down(observed);
        return save(ctx, key, spec, observed, &messages);
    }
    let before = observed.clone();
    let mut messages = Vec::new();
    if !observed.created && observed.failed.is_none() {
        observed.failed = Some(reason.clone());
        mark_down(observed);
        messages.push(text::cache_cluster_create_failed(&reason));
    } else if observed.created {
        mark_down(observed);
        observed.start_failures = if exited {
            observed.start_failures + 1
        } else {
            0
        };
        if observed.start_failures >= START_FAILURES_BEFORE_REPLACE {
            replace(ctx, spec, &error, observed, &mut messages).await?;
        }
    }
    if *observed != before || !messages.is_empty() {
        save(ctx, key, spec, observed, &messages)?;
    }
    Ok(())
}

/// Replaces a node that keeps failing to start: its data file is set aside (kept, not deleted)
/// so the next start begins empty — a replica then resyncs from its primary — and the cache
/// cluster and its group say so.
async fn replace(
    ctx: &Context,
    spec: &NodeSpec,
    error: &RuntimeError,
    observed: &mut NodeObserved,
    messages: &mut Vec<String>,
) -> Result<(), ReconcileError> {
    let aside = ctx.agent.set_aside_data(&spec.id).await?;
    tracing::warn!(node = %spec.id, ?aside, failures = observed.start_failures, "replacing a node that keeps failing to start");
    let reason = match error {
        RuntimeError::Agent(AgentError::ExitedDuringStart { status, .. }) => {
            format!("redis-server exited: {status}")
        }
        other => other.to_string(),
    };
    let reason: String = reason.chars().take(EVENT_REASON_LEN_MAX).collect();
    messages.push(text::cache_node_replaced(
        ids::CACHE_NODE_ID,
        observed.start_failures,
        &reason,
    ));
    observed.start_failures = 0;
    if let Some(group_id) = &spec.group_id {
        update(ctx.store.as_ref(), |w| -> Result<(), ReconcileError> {
            events::record(
                w,
                &spec.region,
                group_id,
                SourceType::ReplicationGroup,
                text::group_node_replaced(&spec.id, ids::CACHE_NODE_ID),
                chrono::Utc::now(),
            )?;
            Ok(())
        })?;
    }
    Ok(())
}

/// Stops and removes a node marked for deletion, then its records.
///
/// # Errors
/// Agent or store failures; retried.
pub(crate) async fn delete(
    ctx: &Context,
    key: &str,
    facts: &Facts,
) -> Result<Next, ReconcileError> {
    let spec = &facts.spec;
    if let Some(intent) = &facts.intent {
        let cfg = node_config(&ctx.config, spec, intent, None);
        ctx.agent
            .remove(&spec.id, cfg.host.as_deref(), &cfg.address())
            .await?;
        if let Some(left_on) = &facts.observed.left_on {
            let address = NodeAddress::Tcp(super::private_address(spec, intent));
            ctx.agent.remove(&spec.id, Some(left_on), &address).await?;
        }
    }
    update(ctx.store.as_ref(), |w| -> Result<(), ReconcileError> {
        w.delete_doc::<NodeSpec>(key)?;
        w.delete_doc::<NodeIntent>(key)?;
        w.delete_doc::<NodeObserved>(key)?;
        events::record(
            w,
            &spec.region,
            &spec.id,
            SourceType::CacheCluster,
            text::cache_cluster_deleted(),
            chrono::Utc::now(),
        )?;
        Ok(())
    })?;
    Ok(Next::Done)
}
