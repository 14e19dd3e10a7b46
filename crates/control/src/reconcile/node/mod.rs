//! The node reconciler: one redis-server per cache cluster, in the role its shard orders.
//!
//! It decides nothing about roles: a member reads its [`Order`] from its shard's intent (written
//! only by the failover state machine, [`super::failover`]) and carries it out; a standalone
//! node is its own primary. Each run, every step idempotent:
//!
//! 1. [`placement`]: choose the node's zone and addresses (once; again on another host when
//!    its host is drained and it is a replica: [`drain`]);
//! 2. [`process`]: run the process — adopt a live one, start one (after [`seed`]ing a restored
//!    node with its snapshot's RDB), carry out reboots, replace a node that keeps failing to
//!    start, stop and remove a deleted one; a dead primary of a shard is only reported down
//!    (its shard decides whether it fails over or restarts in place);
//! 3. [`role`]: take the ordered role (`REPLICAOF NO ONE`, or `REPLICAOF` the shard's primary
//!    once it runs as one) and check that a replica really streams; in cluster mode through
//!    the cluster instead ([`cluster`]: meet the other members, serve the shard's slots,
//!    `CLUSTER REPLICATE`, `CLUSTER FAILOVER TAKEOVER`);
//! 4. [`settings`]: node type, parameter-group values and ACL users on the running process;
//! 5. record the facts (`NodeObserved`) and AWS's events.
//!
//! The run ends by saying when to look again: soon while something is in progress, after
//! [`RESYNC_INTERVAL`] when all is well (facts such as a replica's link can change without an
//! event), or never until an event (a change in the store, a process event) wakes it.

pub mod cluster;
pub mod drain;
pub mod placement;
pub mod process;
pub mod role;
pub mod seed;
pub mod settings;
pub mod tls;

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ferrocache_agent::Liveness;
use ferrocache_engine::config::{ClusterConfig, NodeConfig};
use ferrocache_engine::NodeAddress;
use ferrocache_model::event::{text, SourceType};
use ferrocache_model::group::cluster_bus_port;
use ferrocache_model::node::{NodeIntent, NodeObserved, NodeSpec, Role};
use ferrocache_model::shard::{Order, ShardIntent};
use ferrocache_model::snapshot::{status as snapshot_status, SnapshotObserved, SnapshotSpec};
use ferrocache_model::{ids, node_type};
use ferrocache_store::{tables, update, view, ReadExt, WriteExt};

use super::{Context, ControlConfig, Next, ReconcileError, POLL_SOON};
use crate::events;

/// Longest Unix socket path the kernel accepts (`sun_path` is 108 bytes with its NUL).
const UNIX_SOCKET_PATH_LEN_MAX: usize = 100;
/// Bound on one admin call to a node.
pub(crate) const NODE_CALL_TIMEOUT: Duration = Duration::from_secs(2);
/// How often a healthy node is looked at although nothing woke it: facts that change without
/// an event (a replica's link to its primary) are refreshed at this pace, as a kube-rs
/// controller requeues a settled object. Each node's period is spread by up to a tenth, so many
/// nodes do not all wake together. (Each look costs an `INFO`; at 1000 nodes this pace is about
/// three a second.)
pub const RESYNC_INTERVAL: Duration = Duration::from_secs(300);
/// How long a node waiting on another resource (its shard's primary, its shard's placement)
/// waits before looking again even if no event came: the event normally comes first.
pub const WAIT_RECHECK: Duration = Duration::from_secs(1);

/// The node's Unix socket, when its path is short enough for the kernel; the router and the
/// control plane prefer it to TCP (cheaper, and invisible from the network).
pub fn socket_path(nodes_dir: &Path, node_id: &str) -> Option<PathBuf> {
    let path = nodes_dir.join(node_id).join("redis.sock");
    (path.as_os_str().len() <= UNIX_SOCKET_PATH_LEN_MAX).then_some(path)
}

/// The address the control plane reaches a node at (its Unix socket when usable and the node
/// runs on this host).
pub fn admin_address(config: &ControlConfig, spec: &NodeSpec, intent: &NodeIntent) -> NodeAddress {
    let here = intent.runs_on(config.host.as_deref());
    match socket_path(&config.nodes_dir, &spec.id).filter(|_| here) {
        Some(path) => NodeAddress::Unix(path),
        None => NodeAddress::Tcp(private_address(spec, intent)),
    }
}

/// The private TCP address a node's process binds (replication uses it).
pub fn private_address(spec: &NodeSpec, intent: &NodeIntent) -> SocketAddr {
    intent.private_socket(spec.port)
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
        private_address(spec, intent).port(),
    );
    // A node on another host has its socket there (its agent gives it one): it is reached
    // over TCP from here.
    let here = intent.runs_on(config.host.as_deref());
    cfg.unix_socket = socket_path(&config.nodes_dir, &spec.id).filter(|_| here);
    cfg.host = intent.host_name().map(str::to_string);
    cfg.maxmemory_bytes = maxmemory_bytes(&spec.node_type);
    if spec.cluster_mode.runs_cluster() {
        // The node announces its endpoint, which the router forwards (client port and bus),
        // so every address a client learns from the cluster is an endpoint. Replication is
        // set up through the cluster (`CLUSTER REPLICATE`), never `replicaof`.
        let bus = cluster_bus_port(spec.port);
        cfg.cluster = Some(ClusterConfig {
            announce_ip: IpAddr::V4(intent.endpoint),
            announce_port: spec.port,
            bus_port: bus,
            announce_bus_port: bus,
        });
    } else {
        cfg.replica_of = replica_of;
    }
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

/// `maxmemory` of a node type (0, no limit, for a type not in the table).
fn maxmemory_bytes(node_type_name: &str) -> u64 {
    node_type::lookup(node_type_name)
        .map(|t| t.maxmemory_bytes(node_type::RESERVED_MEMORY_PERCENT_DEFAULT))
        .unwrap_or(0)
}

/// What the node is to be, from its order and its primary's facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// Run as primary; a dead process believed running is restarted only with
    /// `restart_in_place`.
    Primary {
        /// See [`Order::Primary`].
        restart_in_place: bool,
    },
    /// Chosen to take over but not promoted yet: stay as it is.
    Standby,
    /// Follow the primary at `of` (unknown until the primary is placed), which runs as primary
    /// when `primary_up`.
    Replica {
        /// The primary's private address (the control plane talks to it there).
        of: Option<SocketAddr>,
        /// Where the replica connects to it ([`tls::replication_source`]): `of`, or its TLS
        /// port when replication goes over TLS.
        source: Option<SocketAddr>,
        /// The primary runs and answers as primary (observed).
        primary_up: bool,
    },
}

/// Where a member's primary is, and whether it runs as primary.
#[derive(Debug, Clone, Copy)]
struct PrimaryFacts {
    /// Its private address.
    address: SocketAddr,
    /// Where its replicas connect ([`tls::replication_source`]).
    source: SocketAddr,
    /// It runs and answers as primary (observed).
    up: bool,
}

/// The facts a run starts from, read in one snapshot of the store.
pub(crate) struct Facts {
    /// What the API asked for.
    pub(crate) spec: NodeSpec,
    /// The node's placement, once chosen.
    pub(crate) intent: Option<NodeIntent>,
    /// What the last run confirmed.
    pub(crate) observed: NodeObserved,
    /// The shard's intent (members only; `None` until the shard is placed).
    pub(crate) shard: Option<ShardIntent>,
    /// The shard's primary, once placed.
    primary: Option<PrimaryFacts>,
    /// The node is marked for deletion with a final snapshot that is still `creating`.
    pub(crate) final_snapshot_pending: bool,
    /// A cluster-mode member's view of its cluster.
    pub(crate) cluster: Option<cluster::ClusterFacts>,
}

impl Facts {
    /// What the node is to be; `None` for a member whose shard is not placed yet.
    pub(crate) fn target(&self) -> Option<Target> {
        if self.spec.shard_id.is_none() {
            // A standalone node is its own primary; restarted where it is if it dies.
            return Some(Target::Primary {
                restart_in_place: true,
            });
        }
        let shard = self.shard.as_ref()?;
        Some(match shard.order(&self.spec.id) {
            Order::Primary { restart_in_place } => Target::Primary { restart_in_place },
            Order::Standby => Target::Standby,
            Order::Replica { .. } => Target::Replica {
                of: self.primary.map(|p| p.address),
                source: self.primary.map(|p| p.source),
                primary_up: self.primary.is_some_and(|p| p.up),
            },
        })
    }

    /// The epoch of the node's shard (0 for a standalone node).
    pub(crate) fn epoch(&self) -> u64 {
        self.shard.as_ref().map_or(0, |s| s.epoch)
    }
}

fn load(ctx: &Context, key: &str) -> Result<Option<Facts>, ReconcileError> {
    view(
        ctx.store.as_ref(),
        |r| -> Result<Option<Facts>, ReconcileError> {
            let Some(spec) = r.doc::<NodeSpec>(key)? else {
                return Ok(None);
            };
            let intent = r.doc::<NodeIntent>(key)?;
            let observed = r.doc::<NodeObserved>(key)?.unwrap_or_default();
            let shard = match (&spec.group_id, &spec.shard_id) {
                (Some(group), Some(shard)) => {
                    r.doc::<ShardIntent>(&tables::shard_key(&spec.region, group, shard))?
                }
                _ => None,
            };
            let primary = match &shard {
                Some(shard) => {
                    let primary_key = tables::key(&spec.region, &shard.primary);
                    let up = r
                        .doc::<NodeObserved>(&primary_key)?
                        .is_some_and(|o| o.healthy && o.role == Some(Role::Primary));
                    // Members share their group's encryption in transit and way of placement,
                    // so this member's spec says how the primary replicates.
                    r.doc::<NodeIntent>(&primary_key)?.map(|pi| PrimaryFacts {
                        address: private_address(&spec, &pi),
                        source: tls::replication_source(&spec, &pi),
                        up,
                    })
                }
                None => None,
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
                            snapshot_status(&s, observed.as_ref())
                                == ferrocache_model::snapshot::SnapshotStatus::Creating
                        }
                        None => false,
                    }
                }
                None => false,
            };
            let cluster = cluster::ClusterFacts::load(r, &ctx.config, &spec, shard.as_ref())?;
            Ok(Some(Facts {
                spec,
                intent,
                observed,
                shard,
                primary,
                final_snapshot_pending,
                cluster,
            }))
        },
    )
}

/// Reconciles the node stored at `key`.
///
/// # Errors
/// Store, agent or engine failures; the step is retried.
pub(crate) async fn reconcile(ctx: Arc<Context>, key: String) -> Result<Next, ReconcileError> {
    let Some(facts) = load(&ctx, &key)? else {
        return Ok(Next::Done);
    };
    let spec = &facts.spec;
    // A node whose final snapshot is still being taken is kept, and kept running: the snapshot
    // reconciler saves it, and this node is woken when the snapshot's records change.
    if spec.deletion.is_some() && !facts.final_snapshot_pending {
        return process::delete(&ctx, &key, &facts).await;
    }
    // A node whose restore failed is never started: it would come up empty and read
    // `available` with none of the snapshot's data. It waits to be deleted, as on AWS.
    if facts.observed.restore_failed {
        return Ok(Next::Done);
    }
    // Members wait for their shard's intent: it says who is primary.
    let Some(target) = facts.target() else {
        return Ok(Next::After(WAIT_RECHECK));
    };
    let intent = match &facts.intent {
        Some(i) => i.clone(),
        None => placement::place(&ctx, &key, spec)?,
    };
    if let Some(next) = drain::move_off_draining_host(&ctx, &key, &facts, &intent, &target).await? {
        return Ok(next);
    }
    drain::remove_left_copy(&ctx, &key, &facts, &intent).await?;
    let mut observed = facts.observed.clone();
    observed.left_on = None;
    let desired = settings::desired(&ctx, spec)?;
    let mut tls = tls::prepare(&ctx, &facts, &intent, &observed);
    let mut cfg = settings::start_config(&ctx, spec, &intent, &target, &observed, &desired)?;
    cfg.tls = tls.as_ref().map(|t| t.engine.clone());
    let liveness = ctx.agent.liveness(&spec.id);
    let starting = process::Start {
        cfg: &mut cfg,
        tls: tls.as_mut(),
    };
    let process = match process::run(
        &ctx,
        &key,
        &facts,
        starting,
        &target,
        liveness,
        &mut observed,
    )
    .await?
    {
        process::Running::Yes(process) => process,
        process::Running::No(next) => return Ok(next),
    };
    observed.cluster_engine = cfg.cluster.is_some();
    let mut new_events = Vec::new();
    let rebooted = observed.created && observed.reboots < spec.reboots;
    if rebooted {
        observed.reboots = spec.reboots;
        new_events.push(text::cache_node_restarted(ids::CACHE_NODE_ID));
    }
    observed.start_failures = 0;

    let address = cfg.address();
    let info = role::apply(
        &ctx,
        &facts,
        &target,
        &address,
        &process,
        &mut observed,
        &mut new_events,
    )
    .await?;
    observed.pid = Some(process.pid);
    observed.healthy = true;
    observed.down_since = None;
    observed.record_used_memory(info.used_memory);
    // A process we believed running (a pid recorded, not cleared by a clean shutdown) had to
    // be started anew, and not for a reboot: the node died and is being recovered.
    if observed.created && !rebooted && !process.adopted && facts.observed.pid.is_some() {
        observed.recovering = true;
        new_events.push(text::recovering_cache_nodes(ids::CACHE_NODE_ID));
    }
    settings::apply(
        &ctx,
        spec,
        &cfg,
        &info,
        &desired,
        !process.adopted,
        &mut observed,
        &mut new_events,
    )
    .await?;
    tls::apply(
        &ctx,
        spec,
        &address,
        tls.as_mut(),
        !process.adopted,
        &mut observed,
    )
    .await?;
    let ready = role::ready(&ctx, &facts, &target, &address, &mut observed).await;
    observed.in_role = ready;
    if !ready {
        tracing::debug!(node = %spec.id, ?target, role = ?observed.role, link_up = observed.link_up, "not ready yet");
    }
    if ready && observed.recovering {
        observed.recovering = false;
        new_events.push(text::finished_recovery(ids::CACHE_NODE_ID));
    }
    let mut group_events = Vec::new();
    if ready && !observed.created && matches!(target, Target::Primary { .. }) {
        if let Some(name) = &spec.restore_from {
            let shard_id = spec.shard_id.clone().unwrap_or_else(|| ids::shard_id(1));
            for m in seed::verify(&ctx, spec, &shard_id, name, &address, info.keys_total).await {
                new_events.push(m.clone());
                group_events.push(m);
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
    if observed != facts.observed || !new_events.is_empty() {
        save_with_group(&ctx, &key, spec, &observed, &new_events, &group_events)?;
    }
    Ok(if !ready {
        Next::After(POLL_SOON)
    } else if let Some(at) = settings::next_maintenance_check(spec, &observed) {
        Next::After(at.min(resync_interval(&key)))
    } else {
        Next::After(resync_interval(&key))
    })
}

/// [`RESYNC_INTERVAL`], spread by up to a tenth by a hash of the key (stable per node).
fn resync_interval(key: &str) -> Duration {
    let spread = key
        .bytes()
        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)))
        % 1000;
    RESYNC_INTERVAL + RESYNC_INTERVAL / 10 * spread as u32 / 1000
}

/// Records the node as unhealthy, and since when (the failover's lag rule measures replicas'
/// links against it).
pub(crate) fn mark_down(observed: &mut NodeObserved) {
    observed.healthy = false;
    observed.in_role = false;
    observed.down_since.get_or_insert_with(chrono::Utc::now);
}

/// Whether the process is known to run (stopped or gone otherwise).
pub(crate) fn runs(liveness: Liveness) -> bool {
    matches!(liveness, Liveness::Running(_))
}

/// [`save`], plus events on the node's replication group (the restore's events are recorded
/// on both, in one transaction so their order is the same on each).
pub(crate) fn save_with_group(
    ctx: &Context,
    key: &str,
    spec: &NodeSpec,
    observed: &NodeObserved,
    messages: &[String],
    group_messages: &[String],
) -> Result<(), ReconcileError> {
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
        if let Some(group_id) = &spec.group_id {
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
        }
        Ok(())
    })
}

/// Writes observed facts and events together, unless the node was deleted meanwhile.
pub(crate) fn save(
    ctx: &Context,
    key: &str,
    spec: &NodeSpec,
    observed: &NodeObserved,
    messages: &[String],
) -> Result<(), ReconcileError> {
    save_with_group(ctx, key, spec, observed, messages, &[])
}

/// Records one event on the node.
pub(crate) fn record(
    ctx: &Context,
    spec: &NodeSpec,
    message: String,
) -> Result<(), ReconcileError> {
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
