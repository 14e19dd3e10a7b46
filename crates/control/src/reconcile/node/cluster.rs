//! Cluster membership of a cluster-mode member: the node joins its group's cluster and takes
//! the role its shard orders through the cluster, never through `REPLICAOF` (which Redis
//! refuses in cluster mode).
//!
//! Each run, every step idempotent and decided from the node's own `CLUSTER NODES`:
//!
//! - **meet**: every other member that runs and that the node does not know by address yet is
//!   met at its endpoint (the address the members announce; the router forwards its client port
//!   and its bus);
//! - ordered **primary**: a node still running as a replica takes over with
//!   `CLUSTER FAILOVER TAKEOVER` (the shard's failover state machine chose it, with the shard's
//!   epoch; the engine's own failover is off) — but not while its view gives its old primary a
//!   slot that a live primary of another shard serves (a slot move it has not heard of yet: the
//!   takeover would claim the slot with a newer epoch and the real owner drop its keys); those
//!   owners announce their slots first; a primary adds the slots of its shard it does
//!   not serve unless another primary in its view serves any of them (a node fresh from
//!   creation, or restored from a snapshot) — never while a created group is resharded: then
//!   every slot has an owner already, the resharding moves them with their keys, and a node
//!   whose view is not whole yet would otherwise claim slots (and the old owner drop their
//!   keys); a group restored into another layout forms with the snapshot's slots first;
//! - ordered **replica**: `CLUSTER REPLICATE <primary's id>` once the node knows its primary
//!   and serves no slot itself (a demoted primary that still serves slots is turned into a
//!   replica by the cluster itself, once it learns the newer epoch);
//! - **forget** every node of the view that is no member any more (`DecreaseReplicaCount`), and
//!   have primaries the node saw only in a handshake re-announce their slots.
//!
//! The node counts as ready (see [`ready`]) once its cluster is `ok`, it knows every member and
//! every slot has an owner in its view.

use std::net::{IpAddr, Ipv4Addr};

use ferrocache_engine::info::Role as EngineRole;
use ferrocache_engine::{ClusterFailoverMode, ClusterNode, Info, NodeAddress};
use ferrocache_model::group::{cluster_bus_port, GroupObserved, GroupSpec};
use ferrocache_model::node::{NodeIntent, NodeObserved, NodeSpec};
use ferrocache_model::shard::{ShardIntent, ShardSpec, SlotRange};
use ferrocache_store::{tables, view, ReadExt, Reader, StoreError};

use super::super::{Context, ControlConfig, ReconcileError};
use super::{Facts, Target, NODE_CALL_TIMEOUT};

/// Another member of the group, as this node's run sees it.
#[derive(Debug, Clone)]
pub(crate) struct ClusterPeer {
    /// Its cache cluster id.
    pub(crate) id: String,
    /// Its endpoint address (what it announces to the cluster).
    pub(crate) endpoint: Ipv4Addr,
    /// Its client port.
    pub(crate) port: u16,
    /// Where the control plane reaches it.
    pub(crate) admin: NodeAddress,
    /// Its id in the cluster, once it ran.
    pub(crate) node_id: Option<String>,
    /// Its process runs and answers (observed).
    pub(crate) healthy: bool,
}

/// What a cluster-mode member needs to know of its group.
#[derive(Debug, Clone)]
pub(crate) struct ClusterFacts {
    /// The slots the node's shard claims when the cluster forms: its spec's, or while the
    /// group is resharded, the ones it had before (none once the group was created: every slot
    /// has an owner then, only the resharding moves slots, and a node whose view is not whole
    /// yet must never claim one — the owner would drop that slot's keys).
    pub(crate) slots: Vec<SlotRange>,
    /// Every other member of the group (placed ones only).
    pub(crate) peers: Vec<ClusterPeer>,
    /// The cluster id of the shard's primary, once it ran.
    pub(crate) primary_node_id: Option<String>,
}

impl ClusterFacts {
    /// Reads the cluster facts of `spec`, a member of a cluster-mode group (`None` for any
    /// other node).
    ///
    /// # Errors
    /// Store failures.
    pub(crate) fn load(
        r: &dyn Reader,
        config: &ControlConfig,
        spec: &NodeSpec,
        shard: Option<&ShardIntent>,
    ) -> Result<Option<Self>, StoreError> {
        let (Some(group), Some(shard_id), true) = (
            &spec.group_id,
            &spec.shard_id,
            spec.cluster_mode.runs_cluster(),
        ) else {
            return Ok(None);
        };
        let group_key = tables::key(&spec.region, group);
        let group_observed = r.doc::<GroupObserved>(&group_key)?;
        let resharding = r
            .doc::<GroupSpec>(&group_key)?
            .and_then(|g| g.resharding_pending(group_observed.as_ref()).cloned());
        let slots = match resharding {
            Some(_) if group_observed.is_some_and(|o| o.created) => Vec::new(),
            Some(r) => r
                .before
                .into_iter()
                .find(|(id, _)| id == shard_id)
                .map(|(_, slots)| slots)
                .unwrap_or_default(),
            None => r
                .doc::<ShardSpec>(&tables::shard_key(&spec.region, group, shard_id))?
                .map(|s| s.slots)
                .unwrap_or_default(),
        };
        let mut peers = Vec::new();
        let mut primary_node_id = None;
        for key in r.lookup(tables::NODES_BY_SHARD, &tables::key(&spec.region, group))? {
            let (Some(peer), Some(intent)) = (r.doc::<NodeSpec>(&key)?, r.doc::<NodeIntent>(&key)?)
            else {
                continue;
            };
            let observed = r.doc::<NodeObserved>(&key)?.unwrap_or_default();
            if shard.is_some_and(|s| s.primary == peer.id) {
                primary_node_id = observed.cluster_node_id.clone();
            }
            // A member still outside the cluster (a group moving into cluster mode converts
            // its replicas after its primary) is no peer yet.
            if peer.id == spec.id || peer.deletion.is_some() || !peer.cluster_mode.runs_cluster() {
                continue;
            }
            peers.push(ClusterPeer {
                admin: super::admin_address(config, &peer, &intent),
                id: peer.id,
                endpoint: intent.endpoint,
                port: peer.port,
                node_id: observed.cluster_node_id,
                healthy: observed.healthy,
            });
        }
        Ok(Some(Self {
            slots,
            peers,
            primary_node_id,
        }))
    }
}

fn ranges(slots: &[SlotRange]) -> Vec<(u16, u16)> {
    slots.iter().map(|r| (r.start, r.end)).collect()
}

/// The slots of `wanted` not in `own` (a node's served ranges), as ranges.
fn missing_slots(own: &[(u16, u16)], wanted: &[SlotRange]) -> Vec<SlotRange> {
    let mut out: Vec<SlotRange> = Vec::new();
    for range in wanted {
        for slot in range.start..=range.end {
            if own.iter().any(|&(s, e)| s <= slot && slot <= e) {
                continue;
            }
            match out.last_mut() {
                Some(last) if last.end + 1 == slot => last.end = slot,
                _ => out.push(SlotRange {
                    start: slot,
                    end: slot,
                }),
            }
        }
    }
    out
}

fn overlaps(node: &ClusterNode, slots: &[SlotRange]) -> bool {
    node.slots
        .iter()
        .any(|&(start, end)| slots.iter().any(|r| start <= r.end && r.start <= end))
}

/// Joins the cluster and takes the ordered role through it (see the module doc); returns the
/// node's `INFO` after any change.
///
/// # Errors
/// The node cannot be reached or refuses; the run is retried.
pub(crate) async fn apply(
    ctx: &Context,
    facts: &Facts,
    cluster: &ClusterFacts,
    target: &Target,
    address: &NodeAddress,
    mut info: Info,
    observed: &mut NodeObserved,
) -> Result<Info, ReconcileError> {
    let agent = &ctx.agent;
    observed.cluster_node_id = Some(agent.cluster_myid(address, NODE_CALL_TIMEOUT).await?);
    let nodes = agent.cluster_nodes(address, NODE_CALL_TIMEOUT).await?;
    let me = nodes.iter().find(|n| n.myself);
    let mut changed = false;
    match target {
        Target::Primary { .. } if info.role != EngineRole::Master => {
            let behind = behind_a_slot_move(ctx, cluster, &nodes, me).await;
            if behind.is_empty() {
                tracing::info!(node = %facts.spec.id, epoch = facts.epoch(), "taking over its shard's slots");
                agent
                    .cluster_failover(address, ClusterFailoverMode::Takeover, NODE_CALL_TIMEOUT)
                    .await?;
                changed = true;
            } else {
                // Not now: the owners announce their slots first, and the next run (soon: the
                // node is not in its role yet) takes over from an up-to-date view.
                tracing::warn!(node = %facts.spec.id, owners = ?behind.iter().map(|p| &p.id).collect::<Vec<_>>(), "the view is behind a slot move; the owners announce their slots before the takeover");
                for peer in behind {
                    greet(ctx, facts, peer).await;
                }
            }
            meet(ctx, facts, cluster, address, &nodes).await?;
        }
        Target::Primary { .. } => {
            // A primary restored from a snapshot already claimed the slots its keys are in
            // (Redis does at start-up); it adds the rest of its shard's.
            let missing = missing_slots(me.map_or(&[][..], |m| &m.slots), &cluster.slots);
            let served_elsewhere = nodes
                .iter()
                .any(|n| !n.myself && n.primary && !n.failed && overlaps(n, &missing));
            // Slots first, then meet: every ping carries the sender's slots, so peers met after
            // learn them in the handshake, where slots added later would only spread with the
            // next regular ping (up to seconds).
            if !missing.is_empty() && !served_elsewhere {
                agent
                    .cluster_add_slots_range(address, &ranges(&missing), NODE_CALL_TIMEOUT)
                    .await?;
            }
            meet(ctx, facts, cluster, address, &nodes).await?;
        }
        Target::Replica { .. } => {
            meet(ctx, facts, cluster, address, &nodes).await?;
            if let (Some(primary), Some(me)) = (&cluster.primary_node_id, me) {
                let follows = me.primary_id.as_deref() == Some(primary.as_str());
                let knows_primary = nodes.iter().any(|n| &n.id == primary);
                if !follows && knows_primary && me.slots.is_empty() {
                    agent
                        .cluster_replicate(address, primary, NODE_CALL_TIMEOUT)
                        .await?;
                    changed = true;
                }
            }
        }
        Target::Standby => meet(ctx, facts, cluster, address, &nodes).await?,
    }
    if changed {
        info = agent.info(address, NODE_CALL_TIMEOUT).await?;
    }
    announce_slots(ctx, facts, cluster, &nodes).await;
    forget_removed(ctx, facts, cluster, address, &nodes).await?;
    Ok(info)
}

/// Forgets every node of the view that is no member of the group any more (a replica removed
/// by `DecreaseReplicaCount`, a member being deleted): a node is recognised by its address, the
/// endpoint of a member. Every member is woken when one is removed, so all of them forget it
/// within Redis's 60-second ban, and gossip cannot bring it back.
async fn forget_removed(
    ctx: &Context,
    facts: &Facts,
    cluster: &ClusterFacts,
    address: &NodeAddress,
    nodes: &[ClusterNode],
) -> Result<(), ReconcileError> {
    let me = nodes.iter().find(|n| n.myself);
    let strangers = |peers: &[ClusterPeer]| -> Vec<&ClusterNode> {
        let members: Vec<IpAddr> = peers
            .iter()
            .map(|p| IpAddr::V4(p.endpoint))
            .chain(facts.intent.iter().map(|i| IpAddr::V4(i.endpoint)))
            .collect();
        nodes
            .iter()
            .filter(|node| {
                !node.myself
                    && !node.handshake
                    && node.ip.is_some_and(|ip| !members.contains(&ip))
                    && me.is_none_or(|m| m.primary_id.as_deref() != Some(node.id.as_str()))
            })
            .collect()
    };
    if strangers(&cluster.peers).is_empty() {
        return Ok(());
    }
    // The run's facts were read before this node's view: a member placed and started since
    // then would look removed. Members are placed before they start, so the store read now
    // knows every member the view can hold.
    let fresh = view(ctx.store.as_ref(), |r| {
        ClusterFacts::load(r, &ctx.config, &facts.spec, facts.shard.as_ref())
    })?;
    let Some(fresh) = fresh else { return Ok(()) };
    for node in strangers(&fresh.peers) {
        tracing::info!(node = %facts.spec.id, forgotten = %node.id, "forgetting a removed cluster node");
        ctx.agent
            .cluster_forget(address, &node.id, NODE_CALL_TIMEOUT)
            .await?;
    }
    Ok(())
}

/// How long the peers' own views are waited for before a takeover.
const PEER_VIEW_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(300);

/// The live primaries of other shards that serve slots this replica's view still gives its own
/// primary. Redis learns a slot's new owner from the owner's own packets, so right after a slot
/// moved (online resharding) the replicas of the old owner can be behind for a moment; a
/// takeover then would claim the moved slots with a newer epoch, and their real owner would drop
/// their keys. Each primary is asked for its own claims (at once, bounded); one that does not
/// answer is not waited for.
async fn behind_a_slot_move<'a>(
    ctx: &Context,
    cluster: &'a ClusterFacts,
    nodes: &[ClusterNode],
    me: Option<&ClusterNode>,
) -> Vec<&'a ClusterPeer> {
    let Some(primary_id) = me.and_then(|m| m.primary_id.as_ref()) else {
        return Vec::new();
    };
    let Some(primary) = nodes.iter().find(|n| &n.id == primary_id) else {
        return Vec::new();
    };
    let owners: Vec<&ClusterPeer> = cluster
        .peers
        .iter()
        .filter(|p| {
            p.healthy
                && p.node_id.as_ref().is_some_and(|id| {
                    id != primary_id && nodes.iter().any(|n| &n.id == id && n.primary && !n.failed)
                })
        })
        .collect();
    let views = futures_util::future::join_all(
        owners
            .iter()
            .map(|p| ctx.agent.cluster_nodes(&p.admin, PEER_VIEW_TIMEOUT)),
    )
    .await;
    owners
        .into_iter()
        .zip(views)
        .filter(|(_, view)| {
            view.as_ref().is_ok_and(|v| {
                v.iter()
                    .any(|n| n.myself && n.primary && ranges_overlap(&n.slots, &primary.slots))
            })
        })
        .map(|(p, _)| p)
        .collect()
}

/// Whether two lists of inclusive slot ranges share a slot.
fn ranges_overlap(a: &[(u16, u16)], b: &[(u16, u16)]) -> bool {
    a.iter()
        .any(|&(s, e)| b.iter().any(|&(bs, be)| s <= be && bs <= e))
}

/// Has `peer` greet this node: a `CLUSTER MEET` from a node that knows it already carries the
/// peer's slots at once (see [`announce_slots`]). Best effort.
async fn greet(ctx: &Context, facts: &Facts, peer: &ClusterPeer) {
    let Some(intent) = &facts.intent else { return };
    let port = facts.spec.port;
    let greeted = ctx
        .agent
        .cluster_meet(
            &peer.admin,
            IpAddr::V4(intent.endpoint),
            port,
            cluster_bus_port(port),
            NODE_CALL_TIMEOUT,
        )
        .await;
    if let Err(error) = greeted {
        tracing::debug!(node = %facts.spec.id, peer = %peer.id, %error, "cannot ask a primary to announce its slots");
    }
}

/// Has every primary this node knows only as a primary without slots greet it again.
///
/// Redis learns a peer's slots from the header of the peer's packets, but not from the pong
/// that ends a handshake (the peer is not known by its id yet when it is read), and the next
/// regular ping between two nodes can be seconds away (a random peer a second, or
/// `cluster-node-timeout` / 2). A `CLUSTER MEET` *from* the primary carries its slots to a
/// node that knows it already, so the node's slot map is whole at once. Best effort: a
/// primary that cannot be reached now is asked again on the next run.
async fn announce_slots(
    ctx: &Context,
    facts: &Facts,
    cluster: &ClusterFacts,
    nodes: &[ClusterNode],
) {
    for peer in cluster.peers.iter().filter(|p| p.healthy) {
        let Some(node_id) = &peer.node_id else {
            continue;
        };
        let slotless_primary = nodes
            .iter()
            .any(|n| &n.id == node_id && n.primary && !n.myself && n.slots.is_empty());
        if slotless_primary {
            greet(ctx, facts, peer).await;
        }
    }
}

/// Meets every running member the node does not know by address yet.
async fn meet(
    ctx: &Context,
    facts: &Facts,
    cluster: &ClusterFacts,
    address: &NodeAddress,
    nodes: &[ClusterNode],
) -> Result<(), ReconcileError> {
    for peer in cluster.peers.iter().filter(|p| p.healthy) {
        let known = nodes
            .iter()
            .any(|n| n.ip == Some(IpAddr::V4(peer.endpoint)) && n.port == peer.port);
        if !known {
            tracing::debug!(node = %facts.spec.id, peer = %peer.id, "meeting cluster peer");
            ctx.agent
                .cluster_meet(
                    address,
                    IpAddr::V4(peer.endpoint),
                    peer.port,
                    cluster_bus_port(peer.port),
                    NODE_CALL_TIMEOUT,
                )
                .await?;
        }
    }
    Ok(())
}

/// Whether the node's view is whole: its cluster is `ok`, it knows every member, and every slot
/// has an owner in its view. (`cluster_state:ok` alone is not enough: with ElastiCache's
/// `cluster-require-full-coverage no` a node reads `ok` while it has not yet heard which
/// primary serves some slots, and would send clients a partial slot map.)
pub(crate) async fn ready(ctx: &Context, cluster: &ClusterFacts, address: &NodeAddress) -> bool {
    let info = match ctx.agent.cluster_info(address, NODE_CALL_TIMEOUT).await {
        Ok(info) => info,
        Err(error) => {
            tracing::debug!(%error, "cannot read CLUSTER INFO");
            return false;
        }
    };
    let whole = info.state_ok
        && info.slots_assigned == u32::from(ferrocache_engine::CLUSTER_SLOTS)
        && info.known_nodes as usize > cluster.peers.len();
    if !whole {
        tracing::debug!(
            state_ok = info.state_ok,
            slots_assigned = info.slots_assigned,
            known_nodes = info.known_nodes,
            "cluster view not whole yet"
        );
    }
    whole
}

#[cfg(test)]
mod tests {
    use super::*;

    // Goal: the check before a takeover finds a shared slot, and only one. Method: ranges that
    // touch at one end, that nest, and that only neighbour each other.
    #[test]
    fn overlapping_ranges() {
        assert!(ranges_overlap(&[(0, 10)], &[(10, 20)]));
        assert!(ranges_overlap(&[(0, 100)], &[(5, 6)]));
        assert!(!ranges_overlap(&[(0, 9), (21, 30)], &[(10, 20)]));
        assert!(!ranges_overlap(&[], &[(0, 16383)]));
    }

    // Goal: a restored primary adds exactly the slots of its shard it does not claim yet.
    #[test]
    fn missing_slots_subtracts_claimed_ranges() {
        let wanted = [
            SlotRange { start: 0, end: 10 },
            SlotRange { start: 20, end: 22 },
        ];
        let own = [(0, 3), (5, 5), (21, 21), (100, 200)];
        let missing = missing_slots(&own, &wanted);
        let pairs: Vec<(u16, u16)> = missing.iter().map(|r| (r.start, r.end)).collect();
        assert_eq!(pairs, vec![(4, 4), (6, 10), (20, 20), (22, 22)]);
        assert!(missing_slots(&[(0, 16383)], &wanted).is_empty());
    }
}
