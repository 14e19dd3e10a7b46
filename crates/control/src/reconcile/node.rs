//! The node reconciler: one redis-server per cache cluster, in the role its group assigns.
//!
//! Steps, each idempotent: place the node (zone, endpoint and private address) → run the process
//! (adopting a live one after a Ferrocache restart) → carry out requested reboots → set the
//! replication role (`REPLICAOF NO ONE` for the primary, `REPLICAOF <primary>` for replicas) →
//! record observed facts and, the first time the node is ready, AWS's creation events. A node
//! marked for deletion is stopped, its directory removed, and its records deleted.

use std::net::{IpAddr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ferrocache_engine::config::NodeConfig;
use ferrocache_engine::info::Role as EngineRole;
use ferrocache_engine::NodeClient;
use ferrocache_model::event::{text, SourceType};
use ferrocache_model::group::GroupIntent;
use ferrocache_model::node::{NodeIntent, NodeObserved, NodeSpec, Role};
use ferrocache_model::{ids, node_type, zone};
use ferrocache_store::{tables, update, view, ReadExt, WriteExt};

use super::{Context, ControlConfig, Next, ReconcileError, POLL_SOON};
use crate::addresses::{self, Pool};
use crate::events;

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
    cfg.maxmemory_bytes = node_type::lookup(&spec.node_type)
        .map(|t| t.maxmemory_bytes(node_type::RESERVED_MEMORY_PERCENT_DEFAULT))
        .unwrap_or(0);
    cfg.replica_of = replica_of;
    // Replicas connect from their own private address, so a primary's `INFO replication`
    // names each replica by its address as on ElastiCache, not all as 127.0.0.1.
    cfg.extra
        .push(("bind-source-addr".to_string(), intent.private.to_string()));
    cfg
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
                            let up = r.doc::<NodeObserved>(&key)?.is_some_and(|o| o.healthy);
                            (address, up)
                        }
                        None => (None, false),
                    };
                    (gi, primary, up)
                }
                None => (None, None, false),
            };
            Ok(Some(Snapshot {
                spec,
                intent,
                observed,
                group,
                primary_private,
                primary_up,
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
    if spec.deletion.is_some() {
        return delete(&ctx, &key, &snap).await;
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
    let first_start = !snap.observed.created && snap.observed.pid.is_none();
    if desired == Role::Replica && (replica_of.is_none() || (first_start && !snap.primary_up)) {
        return Ok(Next::After(POLL_SOON));
    }
    let cfg = node_config(&ctx.config, spec, &intent, replica_of);
    let mut observed = snap.observed.clone();

    let rebooting = observed.created && observed.reboots < spec.reboots;
    if rebooting {
        record(&ctx, spec, text::cache_node_shutdown(ids::CACHE_NODE_ID))?;
        ctx.agent.stop(&spec.id, &cfg.address(), true).await?;
    }
    let process = match ctx.agent.ensure_running(&cfg).await {
        Ok(p) => p,
        Err(e) => {
            let reason = e.to_string();
            tracing::warn!(node = %spec.id, error = %reason, "node did not start");
            if !observed.created && observed.failed.is_none() {
                observed.failed = Some(reason.clone());
                observed.healthy = false;
                save(
                    &ctx,
                    &key,
                    spec,
                    &observed,
                    &[text::cache_cluster_create_failed(&reason)],
                )?;
            } else if observed.healthy {
                observed.healthy = false;
                save(&ctx, &key, spec, &observed, &[])?;
            }
            return Ok(Next::After(ctx.config.tick));
        }
    };
    let mut new_events = Vec::new();
    if observed.created && observed.reboots < spec.reboots {
        observed.reboots = spec.reboots;
        new_events.push(text::cache_node_restarted(ids::CACHE_NODE_ID));
    }

    // An adopted node already answered INFO while the agent recognised it; ask again only
    // after a start, or after changing its role.
    let mut info = match &process.info {
        Some(info) => info.clone(),
        None => {
            NodeClient::connect(&cfg.address(), NODE_CALL_TIMEOUT)
                .await?
                .info()
                .await?
        }
    };
    let follows = |info: &ferrocache_engine::Info, primary: SocketAddr| {
        info.role == EngineRole::Replica
            && info.master_host.as_deref() == Some(primary.ip().to_string().as_str())
            && info.master_port == Some(primary.port())
    };
    let change = match (desired, replica_of) {
        (Role::Primary, _) if info.role != EngineRole::Master => Some(None),
        (Role::Replica, Some(primary)) if !follows(&info, primary) => Some(Some(primary)),
        _ => None,
    };
    if let Some(primary) = change {
        let client = NodeClient::connect(&cfg.address(), NODE_CALL_TIMEOUT).await?;
        match primary {
            None => client.replicaof_no_one().await?,
            Some(primary) => client.replicaof(primary).await?,
        }
        info = client.info().await?;
    }
    observed.role = Some(if info.role == EngineRole::Master {
        Role::Primary
    } else {
        Role::Replica
    });
    observed.link_up = info.master_link_status_up == Some(true);
    observed.pid = Some(process.pid);
    observed.healthy = true;
    // A process we believed running (a pid recorded, not cleared by a clean shutdown) had to
    // be started anew, and not for a reboot: the node died and is being recovered.
    if observed.created && !rebooting && !process.adopted && snap.observed.pid.is_some() {
        observed.recovering = true;
        new_events.push(text::recovering_cache_nodes(ids::CACHE_NODE_ID));
    }
    let ready = observed.role == Some(desired) && (desired == Role::Primary || observed.link_up);
    if ready && observed.recovering {
        observed.recovering = false;
        new_events.push(text::finished_recovery(ids::CACHE_NODE_ID));
    }
    if ready && !observed.created {
        observed.created = true;
        observed.failed = None;
        observed.node_created_at = Some(chrono::Utc::now());
        observed.reboots = spec.reboots;
        new_events.push(text::cache_cluster_created());
        new_events.push(text::cache_node_added(ids::CACHE_NODE_ID, &intent.zone));
    }
    if observed.created {
        observed.generation = spec.generation;
    }
    if observed != snap.observed || !new_events.is_empty() {
        save(&ctx, &key, spec, &observed, &new_events)?;
    }
    Ok(if ready {
        Next::Done
    } else {
        Next::After(POLL_SOON)
    })
}

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
