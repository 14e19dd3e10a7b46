//! Role and replication: a running node takes the role its shard orders, and a replica counts
//! as ready only once its primary really streams to it.
//!
//! - Ordered primary and running as a replica: `REPLICAOF NO ONE`. (The shard's failover state
//!   machine gives this order only once the winner has caught up and no other replica has more
//!   of the old primary's stream.)
//! - Ordered replica of `P`, and `P` runs as primary: `REPLICAOF P` unless it follows `P`
//!   already; a node that ran as primary (a demoted one) is *recovering* until its link is up.
//! - Chosen to take over but not promoted yet (`Standby`): nothing changes.
//!
//! The role the engine reports is recorded with the shard's epoch, so the shard and the routes
//! only trust a role confirmed under the current epoch.

use std::net::SocketAddr;

use ferrocache_agent::NodeProcess;
use ferrocache_engine::info::Role as EngineRole;
use ferrocache_engine::{Info, NodeAddress};
use ferrocache_model::event::text;
use ferrocache_model::ids;
use ferrocache_model::node::{NodeObserved, Role};

use super::super::{Context, ReconcileError};
use super::{Facts, Target, NODE_CALL_TIMEOUT};

/// Channel of the marker messages that check a replica's stream (no client subscribes to it).
const STREAM_CHECK_CHANNEL: &str = "__ferrocache:replication-check";

/// Whether `info` says the node replicates from `primary`.
fn follows(info: &Info, primary: SocketAddr) -> bool {
    info.role == EngineRole::Replica
        && info.master_host.as_deref() == Some(primary.ip().to_string().as_str())
        && info.master_port == Some(primary.port())
}

/// Takes the ordered role and records the role the engine reports; returns the node's `INFO`.
///
/// # Errors
/// The node cannot be reached or refuses; the run is retried.
pub(crate) async fn apply(
    ctx: &Context,
    facts: &Facts,
    target: &Target,
    address: &NodeAddress,
    process: &NodeProcess,
    observed: &mut NodeObserved,
    events: &mut Vec<String>,
) -> Result<Info, ReconcileError> {
    // An adopted node already answered INFO while the agent recognised it; ask again only
    // after a start, or after changing its role.
    let mut info = match &process.info {
        Some(info) => info.clone(),
        None => ctx.agent.info(address, NODE_CALL_TIMEOUT).await?,
    };
    if let Some(cluster) = &facts.cluster {
        info = super::cluster::apply(ctx, facts, cluster, target, address, info, observed).await?;
    }
    let change = match (&facts.cluster, target) {
        // In cluster mode the role is taken through the cluster, above.
        (Some(_), _) => None,
        (None, target) => match target {
            Target::Primary { .. } if info.role != EngineRole::Master => Some(None),
            Target::Replica {
                source: Some(source),
                primary_up: true,
                ..
            } if !follows(&info, *source) => Some(Some(*source)),
            _ => None,
        },
    };
    if let Some(primary) = change {
        match primary {
            None => {
                tracing::info!(node = %facts.spec.id, epoch = facts.epoch(), "promoting to primary");
                ctx.agent
                    .replicaof(address, None, NODE_CALL_TIMEOUT)
                    .await?;
            }
            Some(primary) => {
                if info.role == EngineRole::Master && observed.created {
                    // A demoted primary: it resyncs from the new one, like a recovered node.
                    observed.recovering = true;
                    events.push(text::recovering_cache_nodes(ids::CACHE_NODE_ID));
                }
                ctx.agent
                    .replicaof(address, Some(primary), NODE_CALL_TIMEOUT)
                    .await?;
            }
        }
        info = ctx.agent.info(address, NODE_CALL_TIMEOUT).await?;
    }
    observed.role = Some(if info.role == EngineRole::Master {
        Role::Primary
    } else {
        Role::Replica
    });
    observed.link_up = info.master_link_status_up == Some(true);
    observed.epoch = facts.epoch();
    Ok(info)
}

/// Whether the node is in its ordered role and, for a replica fresh from a full sync or back
/// from a failure, whether its primary really streams to it.
///
/// A replica's link can read `up` while nothing the primary acknowledges reaches it yet: after
/// a diskless full sync Redis 7.0 waits for the replica's first `REPLCONF ACK` (up to a second)
/// before streaming. Nodes sync disk-based for that reason (see `ferrocache_engine::config`),
/// and this check keeps "available" honest whatever the sync: a marker message is published on
/// the primary (it moves the replication offset, not the data), the primary's offset after it
/// is recorded, and the replica counts once it has reached that offset — checked again on the
/// next run, never waited for here.
pub(crate) async fn ready(
    ctx: &Context,
    facts: &Facts,
    target: &Target,
    address: &NodeAddress,
    observed: &mut NodeObserved,
) -> bool {
    if let Some(cluster) = &facts.cluster {
        if !super::cluster::ready(ctx, cluster, address).await {
            return false;
        }
    }
    match target {
        Target::Standby => true,
        Target::Primary { .. } => observed.role == Some(Role::Primary),
        Target::Replica { of, .. } => {
            if observed.role != Some(Role::Replica) || !observed.link_up {
                return false;
            }
            let Some(primary) = of else { return false };
            if observed.created && !observed.recovering {
                observed.stream_check = None;
                return true;
            }
            streams_from(ctx, facts.epoch(), address, *primary, observed).await
        }
    }
}

/// One step of the stream check (see [`ready`]).
async fn streams_from(
    ctx: &Context,
    epoch: u64,
    replica: &NodeAddress,
    primary: SocketAddr,
    observed: &mut NodeObserved,
) -> bool {
    let primary = NodeAddress::Tcp(primary);
    match observed.stream_check {
        Some((at, target)) if at == epoch => {
            match ctx.agent.info(replica, NODE_CALL_TIMEOUT).await {
                Ok(info) if info.slave_repl_offset.unwrap_or(-1) >= target => {
                    observed.stream_check = None;
                    true
                }
                _ => false,
            }
        }
        _ => {
            if ctx
                .agent
                .publish(&primary, STREAM_CHECK_CHANNEL, "", NODE_CALL_TIMEOUT)
                .await
                .is_err()
            {
                return false;
            }
            let Ok(info) = ctx.agent.info(&primary, NODE_CALL_TIMEOUT).await else {
                return false;
            };
            let target = info.master_repl_offset;
            // The marker usually arrives within a millisecond: look once at once.
            match ctx.agent.info(replica, NODE_CALL_TIMEOUT).await {
                Ok(info) if info.slave_repl_offset.unwrap_or(-1) >= target => {
                    observed.stream_check = None;
                    true
                }
                _ => {
                    observed.stream_check = Some((epoch, target));
                    false
                }
            }
        }
    }
}
