//! The node reconciler: one redis-server per cache cluster, in the role its group assigns.
//!
//! Steps, each idempotent: place the node (zone, endpoint and private address) → run the process
//! (adopting a live one after a Ferrocache restart) → carry out requested reboots → set the
//! replication role (`REPLICAOF NO ONE` for the primary, `REPLICAOF <primary>` for replicas) →
//! record observed facts and, the first time the node is ready, AWS's creation events. A node
//! marked for deletion is stopped, its directory removed, and its records deleted — once its
//! final snapshot (`FinalSnapshotIdentifier`) is no longer `creating`; until then the node is
//! run as before (started again after a restart of Ferrocache), so the snapshot can finish.

use std::net::{IpAddr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ferrocache_agent::{AgentError, Liveness};
use ferrocache_engine::config::NodeConfig;
use ferrocache_engine::info::Role as EngineRole;
use ferrocache_engine::NodeAddress;
use ferrocache_model::event::{text, SourceType};
use ferrocache_model::group::{GroupIntent, GroupSpec};
use ferrocache_model::modify::{in_maintenance_window, ApplyAt};
use ferrocache_model::node::{NodeIntent, NodeObserved, NodeSpec, Role};
use ferrocache_model::parameter::{self, DesiredParameters};
use ferrocache_model::{ids, node_type, zone};
use ferrocache_store::{tables, update, view, ReadExt, WriteExt};

use ferrocache_model::snapshot::{
    status as snapshot_status, text as snapshot_text, SnapshotObserved, SnapshotSpec,
    SnapshotStatus,
};

use super::{parameters, snapshot, Context, ControlConfig, Next, ReconcileError, POLL_SOON};
use crate::addresses::{self, Pool};
use crate::events;
use crate::runtime::{NodeRuntime, RuntimeError};

/// Longest Unix socket path the kernel accepts (`sun_path` is 108 bytes with its NUL).
const UNIX_SOCKET_PATH_LEN_MAX: usize = 100;
/// Bound on one admin call to a node.
const NODE_CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// The node's Unix socket, when its path is short enough for the kernel; the router and the
/// control plane prefer it to TCP (cheaper, and invisible from the network).
pub fn socket_path(nodes_dir: &Path, node_id: &str) -> Option<PathBuf> {
    let path = nodes_dir.join(node_id).join("redis.sock");
    (path.as_os_str().len() <= UNIX_SOCKET_PATH_LEN_MAX).then_some(path)
}

/// The redis-server configuration of a node.
pub fn node_config(
    config: &ControlConfig,
    spec: &NodeSpec,
    intent: &NodeIntent,
    replica_of: Option<SocketAddr>,
) -> NodeConfig {
    let mut cfg = NodeConfig::new(
        spec.id.clone(),
        config.nodes_dir.join(&spec.id),
        IpAddr::V4(intent.private),
        spec.port,
    );
    cfg.unix_socket = socket_path(&config.nodes_dir, &spec.id);
    cfg.maxmemory_bytes = maxmemory_bytes(&spec.node_type);
    cfg.replica_of = replica_of;
    cfg.at_rest_key_id = spec
        .at_rest_encryption
        .as_ref()
        .map(|a| a.key_id().to_string());
    // Replicas connect from their own private address, so a primary's `INFO replication`
    // names each replica by its address as on ElastiCache, not all as 127.0.0.1.
    cfg.extra
        .push(("bind-source-addr".to_string(), intent.private.to_string()));
    // The `default` user with the AUTH tokens (docs/auth.md).
    cfg.acl_users = vec![("default".to_string(), spec.auth.default_user_rules())];
    cfg
}

/// The ACL users of a member whose group uses user groups (`None` otherwise).
fn acl_users(
    ctx: &Context,
    spec: &NodeSpec,
) -> Result<Option<Vec<crate::service::user::AclUser>>, ReconcileError> {
    let Some(group_id) = &spec.group_id else {
        return Ok(None);
    };
    let found = ferrocache_store::view(ctx.store.as_ref(), |r| {
        let Some(group) = r.doc::<ferrocache_model::group::GroupSpec>(
            &ferrocache_store::tables::key(&spec.region, group_id),
        )?
        else {
            return Ok(None);
        };
        crate::service::user::acl_users_of(r, &spec.region, &group)
    })?;
    Ok(found)
}

/// Records the node as unhealthy, and since when (the failover's lag rule measures replicas'
/// links against it).
fn mark_down(observed: &mut NodeObserved) {
    observed.healthy = false;
    observed.down_since.get_or_insert_with(chrono::Utc::now);
}

/// `maxmemory` of a node type (0, no limit, for a type not in the table).
fn maxmemory_bytes(node_type_name: &str) -> u64 {
    node_type::lookup(node_type_name)
        .map(|t| t.maxmemory_bytes(node_type::RESERVED_MEMORY_PERCENT_DEFAULT))
        .unwrap_or(0)
}

/// Carries out a node type change when it is due (now, or in the maintenance window): on one
/// host a node's size is its `maxmemory`, so the change is a `CONFIG SET` on the running
/// process — every key and every client connection stays. A scale-down the data in use does not
/// fit is refused (AWS's event) and not retried until another type is asked for.
async fn apply_node_type(
    runtime: &dyn NodeRuntime,
    spec: &NodeSpec,
    cfg: &NodeConfig,
    info: &ferrocache_engine::Info,
    parameters: &DesiredParameters,
    observed: &mut NodeObserved,
    new_events: &mut Vec<String>,
) -> Result<(), ReconcileError> {
    let target = &spec.node_type;
    let running = observed.node_type.as_ref().unwrap_or(target);
    if running == target || observed.node_type_refused.as_ref() == Some(target) {
        return Ok(());
    }
    let due = spec.node_type_apply == ApplyAt::Now
        || in_maintenance_window(&spec.maintenance_window, chrono::Utc::now());
    if !due {
        return Ok(());
    }
    // The new size as the parameter group shapes it (`reserved-memory-percent`).
    let limit = node_type::lookup(target)
        .map(|t| parameter::engine_settings(&parameters.values, t).maxmemory_bytes)
        .unwrap_or(0);
    if limit != 0 && info.used_memory > limit {
        tracing::warn!(node = %spec.id, used = info.used_memory, limit, "scale-down refused: data does not fit");
        observed.node_type_refused = Some(target.clone());
        new_events.push(text::node_type_failed(target));
        return Ok(());
    }
    runtime
        .config_set(
            &cfg.address(),
            "maxmemory",
            &limit.to_string(),
            NODE_CALL_TIMEOUT,
        )
        .await?;
    observed.node_type = Some(target.clone());
    observed.node_type_refused = None;
    new_events.push(text::node_type_applied(target));
    Ok(())
}

/// The facts the reconciler starts from.
struct Snapshot {
    spec: NodeSpec,
    intent: Option<NodeIntent>,
    observed: NodeObserved,
    group: Option<GroupIntent>,
    primary_private: Option<SocketAddr>,
    /// The group's primary runs and answers (observed): replicas start only then, because a
    /// replica whose first connection is refused waits for Redis's one-second replication
    /// timer before trying again.
    primary_up: bool,
    /// The group fails over automatically.
    automatic_failover: bool,
    /// The node is marked for deletion with a final snapshot that is still `creating`.
    final_snapshot_pending: bool,
    /// Another member is a replica whose process lives (it holds the data, and can take over
    /// as primary once it answers).
    standby: bool,
}

fn load(ctx: &Context, key: &str) -> Result<Option<Snapshot>, ReconcileError> {
    view(
        ctx.store.as_ref(),
        |r| -> Result<Option<Snapshot>, ReconcileError> {
            let Some(spec) = r.doc::<NodeSpec>(key)? else {
                return Ok(None);
            };
            let intent = r.doc::<NodeIntent>(key)?;
            let observed = r.doc::<NodeObserved>(key)?.unwrap_or_default();
            let (group, primary_private, primary_up) = match &spec.group_id {
                Some(g) => {
                    let gi = r.doc::<GroupIntent>(&tables::key(&spec.region, g))?;
                    let (primary, up) = match &gi {
                        Some(gi) => {
                            let key = tables::key(&spec.region, &gi.primary);
                            let address = r
                                .doc::<NodeIntent>(&key)?
                                .map(|pi| SocketAddr::V4(SocketAddrV4::new(pi.private, spec.port)));
                            let up = r
                                .doc::<NodeObserved>(&key)?
                                .is_some_and(|o| o.healthy && o.role == Some(Role::Primary));
                            (address, up)
                        }
                        None => (None, false),
                    };
                    (gi, primary, up)
                }
                None => (None, None, false),
            };
            let (automatic_failover, standby) = match &spec.group_id {
                Some(g) => {
                    let af = r
                        .doc::<GroupSpec>(&tables::key(&spec.region, g))?
                        .is_some_and(|gs| gs.automatic_failover);
                    let mut standby = false;
                    for (k, other) in r.docs::<NodeSpec>(&tables::region_prefix(&spec.region))? {
                        if other.group_id.as_deref() != Some(g.as_str()) || other.id == spec.id {
                            continue;
                        }
                        // A replica whose process lives — even frozen — holds the data; one
                        // whose process is gone holds nothing a restart would wipe.
                        let replica = r
                            .doc::<NodeObserved>(&k)?
                            .is_some_and(|o| o.created && o.role == Some(Role::Replica));
                        standby |=
                            replica && !matches!(ctx.agent.liveness(&other.id), Liveness::Gone);
                    }
                    (af, standby)
                }
                None => (false, false),
            };
            let final_snapshot_pending = match spec
                .deletion
                .as_ref()
                .and_then(|d| d.final_snapshot.as_deref())
            {
                Some(name) => {
                    let key = tables::key(&spec.region, name);
                    match r.doc::<SnapshotSpec>(&key)? {
                        Some(s) => {
                            let observed = r.doc::<SnapshotObserved>(&key)?;
                            snapshot_status(&s, observed.as_ref()) == SnapshotStatus::Creating
                        }
                        None => false,
                    }
                }
                None => false,
            };
            Ok(Some(Snapshot {
                spec,
                intent,
                observed,
                group,
                primary_private,
                primary_up,
                automatic_failover,
                final_snapshot_pending,
                standby,
            }))
        },
    )
}

/// Reconciles the node stored at `key`.
///
/// # Errors
/// Store, agent or engine failures; the step is retried.
pub(crate) async fn reconcile(ctx: Arc<Context>, key: String) -> Result<Next, ReconcileError> {
    let Some(snap) = load(&ctx, &key)? else {
        return Ok(Next::Done);
    };
    let spec = &snap.spec;
    // A node whose final snapshot is still being taken is kept, and kept running: the snapshot
    // reconciler saves it, and this pass runs again when the snapshot's records change.
    if spec.deletion.is_some() && !snap.final_snapshot_pending {
        return delete(&ctx, &key, &snap).await;
    }
    // A node whose restore failed is never started: it would come up empty and read
    // `available` with none of the snapshot's data. It waits to be deleted, as on AWS.
    if snap.observed.restore_failed {
        return Ok(Next::Done);
    }
    // Members wait for their group's intent: it says who is primary.
    if spec.group_id.is_some() && snap.group.is_none() {
        return Ok(Next::Done);
    }
    let intent = match &snap.intent {
        Some(i) => i.clone(),
        None => place(&ctx, &key, spec)?,
    };
    let desired = match &snap.group {
        Some(g) if g.primary != spec.id => Role::Replica,
        _ => Role::Primary,
    };
    let replica_of = if desired == Role::Replica {
        snap.primary_private
    } else {
        None
    };
    let liveness = ctx.agent.liveness(&spec.id);
    let running = matches!(liveness, Liveness::Running(_));
    // A replica is (re)started only once its primary runs as primary: pointing it at a node
    // that is not primary yet (a failover in progress) would chain replicas, and a first
    // connection that is refused costs a second of Redis's replication timer.
    let mut cfg = node_config(&ctx.config, spec, &intent, replica_of);
    let mut observed = snap.observed.clone();
    // The parameter group's values go into the start configuration, `maxmemory` included (the
    // node type less `reserved-memory-percent`). A (re)start keeps the node type the node runs
    // with; a requested change is applied below, when it is due, not by a restart that happens
    // to come first.
    // The client-facing users: the group's user groups (RBAC), else `default` with the AUTH
    // token (set by `node_config`).
    if let Some(users) = acl_users(&ctx, spec)? {
        cfg.acl_users = users;
    }
    let wanted_parameters = parameters::desired(&ctx, spec)?;
    parameters::configure(
        &mut cfg,
        observed.node_type.as_deref().unwrap_or(&spec.node_type),
        &wanted_parameters,
    );
    if desired == Role::Replica && (replica_of.is_none() || (!running && !snap.primary_up)) {
        // A dead replica waiting for a primary is no standby: say so, or a dead primary would
        // be held for a failover that has nowhere to go.
        if !running && observed.healthy {
            mark_down(&mut observed);
            save(&ctx, &key, spec, &observed, &[])?;
        }
        return Ok(Next::After(POLL_SOON));
    }

    // A primary that died or froze, in a group that fails over, is not restarted in place:
    // restarted empty it would wipe its replicas. It is reported unhealthy, the group
    // reconciler promotes a replica, and this node comes back as a replica of it.
    let believed_running = observed.created && snap.observed.pid.is_some();
    let hold_if_dead =
        desired == Role::Primary && snap.automatic_failover && snap.standby && believed_running;
    if hold_if_dead && !running {
        if observed.healthy {
            tracing::warn!(node = %spec.id, ?liveness, "primary is down; failing over");
            mark_down(&mut observed);
            save(&ctx, &key, spec, &observed, &[])?;
        }
        return Ok(Next::After(POLL_SOON));
    }
    if desired == Role::Primary && believed_running && !running {
        tracing::warn!(
            node = %spec.id,
            ?liveness,
            automatic_failover = snap.automatic_failover,
            standby = snap.standby,
            "primary is down and nothing can take over; restarting it in place"
        );
        if matches!(liveness, Liveness::Gone) {
            // It comes back empty, as a replaced ElastiCache node does without Multi-AZ: the
            // RDB on disk is from its last full sync or clean stop, and serving it would bring
            // back stale data that its replicas would then copy over their newer one. The file
            // is kept aside, not deleted.
            ctx.agent.set_aside_data(&spec.id).await?;
        }
    }

    // A node restored from a snapshot gets the snapshot's RDB before its first start (again on
    // every retry of that start: the copy is atomic, and the node holds nothing else yet).
    if let Some(name) = &spec.restore_from {
        if !observed.created && matches!(liveness, Liveness::Gone) {
            let primary = desired == Role::Primary;
            let seeded = seed(&ctx, spec, name).await;
            let mut messages = Vec::new();
            let mut group_messages = Vec::new();
            if !observed.seeded && primary {
                messages.push(snapshot_text::restore_in_progress(ids::NODE_GROUP_ID));
                group_messages.push(snapshot_text::restore_in_progress(ids::NODE_GROUP_ID));
            }
            observed.seeded = true;
            if let Err(reason) = seeded {
                tracing::warn!(node = %spec.id, snapshot = %name, %reason, "restore failed");
                fail_restore(&mut observed, name, &reason, &mut messages);
                mark_down(&mut observed);
                save_with_group(&ctx, &key, spec, &observed, &messages, &group_messages)?;
                return Ok(Next::Done);
            }
            if observed != snap.observed {
                save_with_group(&ctx, &key, spec, &observed, &messages, &group_messages)?;
            }
        }
    }

    let rebooting = observed.created && observed.reboots < spec.reboots;
    if rebooting {
        record(&ctx, spec, text::cache_node_shutdown(ids::CACHE_NODE_ID))?;
        ctx.agent.stop(&spec.id, &cfg.address(), true).await?;
    }
    // A process this pass saw running is only adopted, never started: it may have died since,
    // and what to do with a dead node (hold a primary for a failover, restart a replica, and in
    // which role) is decided by the next pass from fresh facts, not from this pass's snapshot.
    let process = if running && !rebooting {
        match ctx.agent.adopt(&cfg).await {
            Ok(Some(p)) => Ok(p),
            Ok(None) => return Ok(Next::After(POLL_SOON)),
            Err(e) => Err(e),
        }
    } else {
        ctx.agent.ensure_running(&cfg).await
    };
    let process = match process {
        Ok(p) => p,
        Err(e) => {
            let reason = e.to_string();
            tracing::warn!(node = %spec.id, error = %reason, "node did not start");
            let refused_rdb = matches!(
                &e,
                RuntimeError::Agent(AgentError::ExitedDuringStart { .. })
            );
            if let (false, true, Some(name)) =
                (observed.created, refused_rdb, spec.restore_from.as_ref())
            {
                // The engine exits at start on an RDB it cannot load: the restore failed, and
                // the node is not retried (it would start empty on a later attempt).
                let mut messages = Vec::new();
                let short = match &e {
                    RuntimeError::Agent(AgentError::ExitedDuringStart { status, .. }) => {
                        format!("redis-server exited while loading the snapshot ({status})")
                    }
                    other => other.to_string(),
                };
                fail_restore(&mut observed, name, &short, &mut messages);
                mark_down(&mut observed);
                save(&ctx, &key, spec, &observed, &messages)?;
                return Ok(Next::Done);
            }
            if !observed.created && observed.failed.is_none() {
                observed.failed = Some(reason.clone());
                mark_down(&mut observed);
                save(
                    &ctx,
                    &key,
                    spec,
                    &observed,
                    &[text::cache_cluster_create_failed(&reason)],
                )?;
            } else if observed.created {
                mark_down(&mut observed);
                let exited = matches!(
                    &e,
                    RuntimeError::Agent(AgentError::ExitedDuringStart { .. })
                );
                observed.start_failures = if exited {
                    observed.start_failures + 1
                } else {
                    0
                };
                let mut messages = Vec::new();
                if observed.start_failures >= START_FAILURES_BEFORE_REPLACE {
                    replace(&ctx, spec, &e, &mut observed, &mut messages).await?;
                }
                if observed != snap.observed || !messages.is_empty() {
                    save(&ctx, &key, spec, &observed, &messages)?;
                }
            }
            return Ok(Next::After(ctx.config.tick));
        }
    };
    observed.start_failures = 0;
    let mut new_events = Vec::new();
    if observed.created && observed.reboots < spec.reboots {
        observed.reboots = spec.reboots;
        new_events.push(text::cache_node_restarted(ids::CACHE_NODE_ID));
    }

    // An adopted node already answered INFO while the agent recognised it; ask again only
    // after a start, or after changing its role.
    let mut info = match &process.info {
        Some(info) => info.clone(),
        None => ctx.agent.info(&cfg.address(), NODE_CALL_TIMEOUT).await?,
    };
    let follows = |info: &ferrocache_engine::Info, primary: SocketAddr| {
        info.role == EngineRole::Replica
            && info.master_host.as_deref() == Some(primary.ip().to_string().as_str())
            && info.master_port == Some(primary.port())
    };
    let change = match (desired, replica_of) {
        (Role::Primary, _) if info.role != EngineRole::Master => Some(None),
        // Only once the new primary runs as one (see above).
        (Role::Replica, Some(primary)) if !follows(&info, primary) && snap.primary_up => {
            Some(Some(primary))
        }
        _ => None,
    };
    let switch_unreported = snap
        .group
        .as_ref()
        .is_some_and(|g| g.primary == spec.id && g.previous_primary.is_some());
    if change.is_none() && desired == Role::Primary && switch_unreported {
        // The winner of a switch already runs as primary (a former primary chosen again).
        report_failover(&ctx, spec, &snap)?;
    }
    if let Some(primary) = change {
        let address = cfg.address();
        match primary {
            None => {
                catch_up(ctx.agent.as_ref(), &address, &info).await;
                if let Some(better) = better_replica(&ctx, spec, &address).await? {
                    hand_over(&ctx, spec, &snap, &better)?;
                    return Ok(Next::After(POLL_SOON));
                }
                ctx.agent
                    .replicaof(&address, None, NODE_CALL_TIMEOUT)
                    .await?;
                report_failover(&ctx, spec, &snap)?;
            }
            Some(primary) => {
                if info.role == EngineRole::Master && observed.created {
                    // A demoted primary: it resyncs from the new one, like a recovered node.
                    observed.recovering = true;
                    new_events.push(text::recovering_cache_nodes(ids::CACHE_NODE_ID));
                }
                ctx.agent
                    .replicaof(&address, Some(primary), NODE_CALL_TIMEOUT)
                    .await?;
            }
        }
        info = ctx.agent.info(&address, NODE_CALL_TIMEOUT).await?;
    }
    observed.role = Some(if info.role == EngineRole::Master {
        Role::Primary
    } else {
        Role::Replica
    });
    observed.link_up = info.master_link_status_up == Some(true);
    observed.pid = Some(process.pid);
    observed.healthy = true;
    observed.down_since = None;
    // A process we believed running (a pid recorded, not cleared by a clean shutdown) had to
    // be started anew, and not for a reboot: the node died and is being recovered.
    if observed.created && !rebooting && !process.adopted && snap.observed.pid.is_some() {
        observed.recovering = true;
        new_events.push(text::recovering_cache_nodes(ids::CACHE_NODE_ID));
    }
    if observed.created {
        apply_node_type(
            ctx.agent.as_ref(),
            spec,
            &cfg,
            &info,
            &wanted_parameters,
            &mut observed,
            &mut new_events,
        )
        .await?;
    }
    let running_type = observed
        .node_type
        .clone()
        .unwrap_or_else(|| spec.node_type.clone());
    parameters::apply(
        ctx.agent.as_ref(),
        &running_type,
        &wanted_parameters,
        !process.adopted,
        &cfg.address(),
        &mut observed,
        &mut new_events,
    )
    .await?;
    // A running node takes a changed AUTH token with `ACL SETUSER` (a started one read it from
    // its config): idempotent, so repeated until the pass that records the new generation.
    if process.adopted && observed.generation < spec.generation {
        ctx.agent
            .set_acl_users(&cfg.address(), &cfg.acl_users, NODE_CALL_TIMEOUT)
            .await?;
    }
    let mut ready =
        observed.role == Some(desired) && (desired == Role::Primary || observed.link_up);
    // A replica fresh from a full sync counts only once its primary really streams to it (see
    // `streams_from`); checked when it becomes available or comes back, not on every pass.
    if ready && desired == Role::Replica && (!observed.created || observed.recovering) {
        if let Some(primary) = replica_of {
            ready = streams_from(ctx.agent.as_ref(), &cfg.address(), primary).await;
        }
    }
    if ready && observed.recovering {
        observed.recovering = false;
        new_events.push(text::finished_recovery(ids::CACHE_NODE_ID));
    }
    let mut group_messages = Vec::new();
    if ready && !observed.created && desired == Role::Primary {
        if let Some(name) = &spec.restore_from {
            // Digested only when the snapshot recorded a digest (small datasets, see
            // `snapshot::DIGEST_KEYS_MAX`); a node that cannot digest, or a failed call, is
            // verified by its key count only.
            let recorded = snapshot::read_manifest(&snapshot::snapshot_dir(
                &ctx.config.snapshots_dir,
                &spec.region,
                name,
            ))
            .is_some_and(|m| m.digest.is_some());
            let digest = if recorded {
                ctx.agent
                    .digest(&cfg.address(), NODE_CALL_TIMEOUT)
                    .await
                    .unwrap_or(None)
            } else {
                None
            };
            let verdict = verify_restore(&ctx, spec, name, info.keys_total, digest.as_deref());
            for m in [
                snapshot_text::restore_succeeded(ids::NODE_GROUP_ID),
                verdict,
            ] {
                new_events.push(m.clone());
                group_messages.push(m);
            }
        }
    }
    if ready && !observed.created {
        observed.created = true;
        observed.failed = None;
        observed.node_created_at = Some(chrono::Utc::now());
        observed.reboots = spec.reboots;
        observed.node_type = Some(spec.node_type.clone());
        new_events.push(text::cache_cluster_created());
        new_events.push(text::cache_node_added(ids::CACHE_NODE_ID, &intent.zone));
    }
    if observed.created {
        observed.generation = spec.generation;
    }
    if observed != snap.observed || !new_events.is_empty() {
        save_with_group(&ctx, &key, spec, &observed, &new_events, &group_messages)?;
    }
    Ok(if ready {
        Next::Done
    } else {
        Next::After(POLL_SOON)
    })
}

/// Failed starts in a row (the process exits while starting, e.g. on a data file it cannot
/// load) after which a node is replaced by an empty one.
pub const START_FAILURES_BEFORE_REPLACE: u32 = 3;

/// Longest part of a start error quoted in an event.
const EVENT_REASON_LEN_MAX: usize = 200;

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

/// Channel of the marker messages that check a replica's stream (no client subscribes to it).
const STREAM_CHECK_CHANNEL: &str = "__ferrocache:replication-check";

/// Whether the primary at `primary` streams its writes to the replica at `replica`.
///
/// A replica's link can read `up` while nothing the primary acknowledges reaches it yet: after
/// a diskless full sync Redis 7.0 waits for the replica's first `REPLCONF ACK` (up to a second)
/// before streaming. Nodes sync disk-based for that reason (see `ferrocache_engine::config`),
/// and this check keeps "available" honest whatever the sync: a marker message is published
/// on the primary (it moves the replication offset, not the data) and the replica must have
/// reached the primary's offset.
async fn streams_from(
    runtime: &dyn NodeRuntime,
    replica: &NodeAddress,
    primary: SocketAddr,
) -> bool {
    let primary = NodeAddress::Tcp(primary);
    if runtime
        .publish(&primary, STREAM_CHECK_CHANNEL, "", NODE_CALL_TIMEOUT)
        .await
        .is_err()
    {
        return false;
    }
    let Ok(target) = runtime.info(&primary, NODE_CALL_TIMEOUT).await else {
        return false;
    };
    // The marker usually arrives within a millisecond; a replica not yet streaming is looked at
    // again on the next pass.
    for _ in 0..STREAM_CHECK_POLLS {
        match runtime.info(replica, NODE_CALL_TIMEOUT).await {
            Ok(info) if info.slave_repl_offset.unwrap_or(-1) >= target.master_repl_offset => {
                return true
            }
            Ok(_) => tokio::time::sleep(STREAM_CHECK_POLL).await,
            Err(_) => return false,
        }
    }
    false
}

/// How often, and how many times in one pass, a replica's offset is compared with the marker's.
const STREAM_CHECK_POLL: Duration = Duration::from_millis(2);
const STREAM_CHECK_POLLS: usize = 5;

/// Chooses the node's zone and addresses, in one transaction with the address book.
fn place(ctx: &Context, key: &str, spec: &NodeSpec) -> Result<NodeIntent, ReconcileError> {
    let cidr = ctx.config.cidr;
    update(
        ctx.store.as_ref(),
        |w| -> Result<NodeIntent, ReconcileError> {
            if let Some(existing) = w.doc::<NodeIntent>(key)? {
                return Ok(existing);
            }
            let mut used = addresses::taken(w)?;
            let index = spec
                .group_id
                .as_deref()
                .and_then(|g| ids::member_index(g, &spec.id))
                .unwrap_or(1);
            let zone = spec.preferred_zone.clone().unwrap_or_else(|| {
                zone::spread(&spec.region, &[], index as usize, 0)[index as usize - 1].clone()
            });
            let intent = NodeIntent {
                zone,
                endpoint: addresses::allocate(cidr, Pool::Endpoint, &mut used)?,
                private: addresses::allocate(cidr, Pool::Private, &mut used)?,
            };
            w.put_doc(key, &intent)?;
            Ok(intent)
        },
    )
}

/// Stops and removes a node marked for deletion, then its records.
async fn delete(ctx: &Context, key: &str, snap: &Snapshot) -> Result<Next, ReconcileError> {
    let spec = &snap.spec;
    if let Some(intent) = &snap.intent {
        let cfg = node_config(&ctx.config, spec, intent, None);
        ctx.agent.remove(&spec.id, &cfg.address()).await?;
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

/// Places the snapshot's RDB in the node's directory, checked against the manifest's SHA-256.
/// Returns why it could not, as an event can say it.
async fn seed(ctx: &Context, spec: &NodeSpec, name: &str) -> Result<(), String> {
    if let Some((bucket, key)) = ferrocache_model::snapshot::s3_object(name) {
        return seed_from_object(ctx, spec, bucket, key).await;
    }
    let dir = snapshot::snapshot_dir(&ctx.config.snapshots_dir, &spec.region, name);
    let manifest = snapshot::read_manifest(&dir)
        .ok_or_else(|| format!("the files of snapshot {name} are missing"))?;
    // One node group today: its one file seeds every node of the group.
    let file = manifest
        .files
        .first()
        .ok_or_else(|| format!("snapshot {name} lists no RDB file"))?;
    ctx.agent
        .seed_data(&spec.id, &dir.join(&file.name), &file.sha256)
        .await
        .map_err(|e| match e {
            RuntimeError::Agent(AgentError::DigestMismatch { .. }) => format!(
                "the RDB file of snapshot {name} does not match the SHA-256 in its manifest"
            ),
            other => other.to_string(),
        })
}

/// Places the RDB object `bucket/key` (`SnapshotArns`) in the node's directory: downloaded into
/// `<snapshots_dir>/<region>/.seed-<node>.rdb` (dot-named: never a snapshot) with its SHA-256,
/// then copied in by the agent, checked against that digest, as a snapshot's file is. Whether
/// redis-server can load it shows at the node's first start (an RDB it refuses fails the
/// restore).
async fn seed_from_object(
    ctx: &Context,
    spec: &NodeSpec,
    bucket: &str,
    key: &str,
) -> Result<(), String> {
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
            .seed_data(&spec.id, &staged, &sha256)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(format!("cannot read the object: {e}")),
    };
    let _ = tokio::fs::remove_file(&staged).await;
    result
}

/// Marks a restore failed (status `restore-failed`) with AWS's event and the reason.
fn fail_restore(observed: &mut NodeObserved, name: &str, reason: &str, messages: &mut Vec<String>) {
    let reason: String = reason.chars().take(EVENT_REASON_LEN_MAX).collect();
    observed.failed = Some(reason.clone());
    observed.restore_failed = true;
    messages.push(snapshot_text::restore_failed(name, ids::CACHE_NODE_ID));
    messages.push(snapshot_text::restore_failed_reason(name, &reason));
}

/// Compares the restored primary's key count and dataset digest with the snapshot's manifest
/// and returns the event that says how it went. The digest decides when both sides have one.
fn verify_restore(
    ctx: &Context,
    spec: &NodeSpec,
    name: &str,
    keys: u64,
    digest: Option<&str>,
) -> String {
    if ferrocache_model::snapshot::s3_object(name).is_some() {
        return snapshot_text::restore_loaded_object(keys, name);
    }
    let dir = snapshot::snapshot_dir(&ctx.config.snapshots_dir, &spec.region, name);
    let Some(m) = snapshot::read_manifest(&dir) else {
        return snapshot_text::restore_mismatch(keys, 0);
    };
    match (m.digest.as_deref(), digest) {
        (Some(expected), Some(actual)) if expected == actual => {
            snapshot_text::restore_verified_digest(keys)
        }
        (Some(expected), Some(actual)) => {
            snapshot_text::restore_digest_mismatch(keys, actual, expected)
        }
        _ if m.key_count == keys => snapshot_text::restore_verified(keys),
        _ => snapshot_text::restore_mismatch(keys, m.key_count),
    }
}

/// [`save`], plus events on the node's replication group (the restore's events are recorded
/// on both, in one transaction so their order is the same on each).
fn save_with_group(
    ctx: &Context,
    key: &str,
    spec: &NodeSpec,
    observed: &NodeObserved,
    messages: &[String],
    group_messages: &[String],
) -> Result<(), ReconcileError> {
    let Some(group_id) = spec
        .group_id
        .as_ref()
        .filter(|_| !group_messages.is_empty())
    else {
        return save(ctx, key, spec, observed, messages);
    };
    update(ctx.store.as_ref(), |w| -> Result<(), ReconcileError> {
        if w.doc::<NodeSpec>(key)?.is_none() {
            return Ok(());
        }
        w.put_doc(key, observed)?;
        let now = chrono::Utc::now();
        for m in messages {
            events::record(
                w,
                &spec.region,
                &spec.id,
                SourceType::CacheCluster,
                m.clone(),
                now,
            )?;
        }
        for m in group_messages {
            events::record(
                w,
                &spec.region,
                group_id,
                SourceType::ReplicationGroup,
                m.clone(),
                now,
            )?;
        }
        Ok(())
    })
}

/// Writes observed facts and events together, unless the node was deleted meanwhile.
fn save(
    ctx: &Context,
    key: &str,
    spec: &NodeSpec,
    observed: &NodeObserved,
    messages: &[String],
) -> Result<(), ReconcileError> {
    update(ctx.store.as_ref(), |w| -> Result<(), ReconcileError> {
        if w.doc::<NodeSpec>(key)?.is_none() {
            return Ok(());
        }
        w.put_doc(key, observed)?;
        for m in messages {
            events::record(
                w,
                &spec.region,
                &spec.id,
                SourceType::CacheCluster,
                m.clone(),
                chrono::Utc::now(),
            )?;
        }
        Ok(())
    })
}

fn record(ctx: &Context, spec: &NodeSpec, message: String) -> Result<(), ReconcileError> {
    update(ctx.store.as_ref(), |w| -> Result<(), ReconcileError> {
        events::record(
            w,
            &spec.region,
            &spec.id,
            SourceType::CacheCluster,
            message.clone(),
            chrono::Utc::now(),
        )?;
        Ok(())
    })
}

/// Longest wait, before promoting a replica, for it to receive what the old primary (alive, and
/// already fenced by the router) acknowledged: a planned switch loses no write.
const CATCH_UP_MAX: Duration = Duration::from_secs(2);
/// How often the catch-up compares offsets.
const CATCH_UP_POLL: Duration = Duration::from_millis(5);
/// Bound on reaching the old primary during catch-up; a dead one is not waited for.
const OLD_PRIMARY_TIMEOUT: Duration = Duration::from_millis(300);

/// Waits (bounded) until the replica about to be promoted has the old primary's whole
/// replication stream, when the old primary still answers.
async fn catch_up(
    runtime: &dyn NodeRuntime,
    replica: &NodeAddress,
    info: &ferrocache_engine::Info,
) {
    let (Some(host), Some(port)) = (info.master_host.as_deref(), info.master_port) else {
        return;
    };
    let Ok(ip) = host.parse::<IpAddr>() else {
        return;
    };
    let old = NodeAddress::Tcp(SocketAddr::new(ip, port));
    let Ok(old_info) = runtime.info(&old, OLD_PRIMARY_TIMEOUT).await else {
        return;
    };
    if old_info.role != EngineRole::Master {
        return;
    }
    let target = old_info.master_repl_offset;
    let deadline = tokio::time::Instant::now() + CATCH_UP_MAX;
    while tokio::time::Instant::now() < deadline {
        match runtime.info(replica, NODE_CALL_TIMEOUT).await {
            Ok(now) if now.slave_repl_offset.unwrap_or(-1) >= target => return,
            Ok(_) => tokio::time::sleep(CATCH_UP_POLL).await,
            Err(_) => return,
        }
    }
    tracing::warn!(
        target,
        "replica did not catch up with the old primary in time; promoting"
    );
}

/// Another healthy replica of the same old primary that has more of its stream than this node,
/// right before this node is promoted. A frozen old primary that resumes after the switch was
/// decided still sends its backlog to the replicas that follow it — writes it had acknowledged
/// — so the choice made at planning time is checked again at the last moment.
async fn better_replica(
    ctx: &Context,
    spec: &NodeSpec,
    address: &NodeAddress,
) -> Result<Option<String>, ReconcileError> {
    let Some(group_id) = &spec.group_id else {
        return Ok(None);
    };
    let mine = ctx.agent.info(address, NODE_CALL_TIMEOUT).await?;
    let (Some(host), Some(port)) = (mine.master_host.clone(), mine.master_port) else {
        return Ok(None);
    };
    let mut best = (mine.slave_repl_offset.unwrap_or(-1), None);
    let others = view(
        ctx.store.as_ref(),
        |r| -> Result<Vec<(NodeSpec, NodeIntent)>, ReconcileError> {
            let mut out = Vec::new();
            for (key, other) in r.docs::<NodeSpec>(&tables::region_prefix(&spec.region))? {
                if other.group_id.as_ref() != Some(group_id)
                    || other.id == spec.id
                    || other.deletion.is_some()
                {
                    continue;
                }
                let healthy = r
                    .doc::<NodeObserved>(&key)?
                    .is_some_and(|o| o.healthy && o.role == Some(Role::Replica));
                if let (true, Some(intent)) = (healthy, r.doc::<NodeIntent>(&key)?) {
                    out.push((other, intent));
                }
            }
            Ok(out)
        },
    )?;
    for (other, intent) in others {
        let other_address = node_config(&ctx.config, &other, &intent, None).address();
        let Ok(theirs) = ctx
            .agent
            .info(&other_address, CANDIDATE_CHECK_TIMEOUT)
            .await
        else {
            continue;
        };
        let same_source = theirs.role == EngineRole::Replica
            && theirs.master_host.as_deref() == Some(host.as_str())
            && theirs.master_port == Some(port);
        let offset = theirs.slave_repl_offset.unwrap_or(-1);
        if same_source && offset > best.0 {
            best = (offset, Some(other.id));
        }
    }
    Ok(best.1)
}

/// Bound on asking another replica for its offset before a promotion.
const CANDIDATE_CHECK_TIMEOUT: Duration = Duration::from_millis(300);

/// Moves a switch that is not carried out yet from this node to `better` (the next epoch), so
/// the replica with the most of the old primary's stream is the one promoted.
fn hand_over(
    ctx: &Context,
    spec: &NodeSpec,
    snap: &Snapshot,
    better: &str,
) -> Result<(), ReconcileError> {
    let (Some(group_id), Some(expected)) = (&spec.group_id, &snap.group) else {
        return Ok(());
    };
    let key = tables::key(&spec.region, group_id);
    update(ctx.store.as_ref(), |w| -> Result<(), ReconcileError> {
        let Some(mut intent) = w.doc::<GroupIntent>(&key)? else {
            return Ok(());
        };
        if intent.epoch != expected.epoch || intent.primary != spec.id {
            return Ok(());
        }
        tracing::info!(group = %group_id, from = %spec.id, to = %better, "a replica has more of the old primary's stream; promoting it instead");
        intent.primary = better.to_string();
        intent.epoch += 1;
        w.put_doc(&key, &intent)?;
        Ok(())
    })
}

/// Records AWS's "Failover … completed" events once the new primary runs as primary, and
/// clears the switch from the group's intent.
fn report_failover(ctx: &Context, spec: &NodeSpec, snap: &Snapshot) -> Result<(), ReconcileError> {
    let Some(group_id) = &spec.group_id else {
        return Ok(());
    };
    let Some(expected) = &snap.group else {
        return Ok(());
    };
    let key = tables::key(&spec.region, group_id);
    update(ctx.store.as_ref(), |w| -> Result<(), ReconcileError> {
        let Some(mut intent) = w.doc::<GroupIntent>(&key)? else {
            return Ok(());
        };
        if intent.epoch != expected.epoch || intent.primary != spec.id {
            return Ok(());
        }
        let Some(old) = intent.previous_primary.take() else {
            return Ok(());
        };
        let now = chrono::Utc::now();
        let message = text::failover_completed(&old, &spec.id);
        events::record(
            w,
            &spec.region,
            &old,
            SourceType::CacheCluster,
            message.clone(),
            now,
        )?;
        events::record(
            w,
            &spec.region,
            group_id,
            SourceType::ReplicationGroup,
            message,
            now,
        )?;
        w.put_doc(&key, &intent)?;
        Ok(())
    })
}
