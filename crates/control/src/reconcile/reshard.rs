//! The resharding reconciler: carries out `ModifyReplicationGroupShardConfiguration` on a
//! cluster-mode group (`<region>/<group>`). The API wrote each shard's new slots into its spec
//! (and created the shards added, marked the ones removed); this moves every slot whose owner
//! in the cluster is not the shard its spec names, with its keys, then removes the shards it
//! emptied.
//!
//! | state | what is true | next |
//! |---|---|---|
//! | waiting | a shard has no running primary known to the cluster yet (new members are still being created, or a failover is under way), or a slot's owner is no member of any shard | look again soon (member facts wake this too) |
//! | claiming | a slot is owned by a member that is no primary any more (it failed right after taking the slot, before its replica's takeover knew of it), or by no primary at all — and the claimant's own view agrees | its shard's primary (for no owner: the planned shard's) claims it and bumps its epoch; look again |
//! | moving | some slot's owner, in the first primary's view, is not the primary of the shard its spec names | move slots source by target, every pair at once, for up to [`MOVE_RUN`]; record the progress; run again |
//! | removing | every slot is where its spec puts it; a removed shard still has members | mark them for deletion (the node reconciler stops and removes them, the others forget them); once none is left, delete the shard |
//! | done | nothing of the above | record the resharding carried out ([`GroupObserved::resharded`]); the group reconciler then reads `available` |
//!
//! Crash safety: nothing is recorded before it is true in the engine. The owner of every slot
//! is read from the cluster on each run, and a slot interrupted anywhere is moved again from the
//! start (see [`ferrocache_agent::slots`]): keys already moved are no longer on the source, so
//! none is lost or duplicated.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrocache_agent::slots::SlotOwner;
use ferrocache_engine::NodeAddress;
use ferrocache_model::group::{GroupObserved, GroupSpec, Resharding};
use ferrocache_model::node::{NodeDeletion, NodeIntent, NodeObserved, NodeSpec, Role};
use ferrocache_model::shard::{ShardIntent, ShardObserved, ShardSpec, SLOTS};
use ferrocache_store::{tables, update, view, ReadExt, Reader, StoreError, WriteExt};

use super::node::{admin_address, private_address, NODE_CALL_TIMEOUT};
use super::{Context, Next, ReconcileError};

/// How long one run moves slots before it records its progress and yields.
pub const MOVE_RUN: Duration = Duration::from_secs(1);
/// How soon to look again while waiting for members.
const WAIT_RECHECK: Duration = Duration::from_millis(200);
/// How soon to try again after a failed move.
const RETRY_LATER: Duration = Duration::from_millis(250);
/// Bound on each call of a move (a `MIGRATE` batch of up to 1000 keys included).
const MOVE_CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// One shard as this run sees it.
#[derive(Debug)]
struct Shard {
    key: String,
    spec: ShardSpec,
    /// Its primary, once it runs and has joined the cluster.
    primary: Option<SlotOwner>,
    /// Keys of its members (all of them, for a shard being removed).
    members: Vec<String>,
    /// The cluster ids of its members that joined the cluster (the primary's included).
    member_ids: Vec<String>,
}

/// What a run needs of the group.
#[derive(Debug)]
struct Loaded {
    resharding: Resharding,
    shards: Vec<Shard>,
}

/// Reconciles the resharding of the group at `key`.
///
/// # Errors
/// Store failures, or the first primary cannot be read; the step is retried.
pub(crate) async fn reconcile(ctx: Arc<Context>, key: String) -> Result<Next, ReconcileError> {
    let Some(loaded) = view(ctx.store.as_ref(), |r| load(r, &ctx, &key))? else {
        return Ok(Next::Done);
    };
    let mut owners: Vec<(&Shard, &SlotOwner)> = Vec::new();
    for shard in &loaded.shards {
        match &shard.primary {
            Some(p) => owners.push((shard, p)),
            // A removed shard whose members are already going has given all its slots away.
            None if shard.spec.removing && shard.spec.slots.is_empty() => {}
            None => return Ok(Next::After(WAIT_RECHECK)),
        }
    }
    let Some((_, first)) = owners.iter().find(|(s, _)| !s.spec.removing) else {
        return Ok(Next::After(WAIT_RECHECK));
    };
    let nodes = ctx
        .agent
        .cluster_nodes(&first.admin, NODE_CALL_TIMEOUT)
        .await?;
    let known = |id: &str| nodes.iter().any(|n| n.id == id && !n.handshake);
    if owners.iter().any(|(_, o)| !known(&o.node_id)) {
        return Ok(Next::After(WAIT_RECHECK));
    }
    let mut owner_of: Vec<Option<&str>> = vec![None; usize::from(SLOTS)];
    for node in nodes.iter().filter(|n| n.primary && !n.handshake) {
        for &(start, end) in &node.slots {
            for slot in start..=end {
                owner_of[usize::from(slot)] = Some(node.id.as_str());
            }
        }
    }
    // Every slot whose owner is not its shard's primary, by (source, target).
    let index_of = |node_id: &str| owners.iter().position(|(_, o)| o.node_id == node_id);
    // The shard (index into `owners`) a cluster node is a member of.
    let shard_of_member = |node_id: &str| {
        owners
            .iter()
            .position(|(s, _)| s.member_ids.iter().any(|m| m == node_id))
    };
    let mut pairs: BTreeMap<(usize, usize), Vec<u16>> = BTreeMap::new();
    let mut orphans: Vec<(usize, u16)> = Vec::new();
    for (to, (shard, primary)) in owners.iter().enumerate() {
        for range in &shard.spec.slots {
            for slot in range.start..=range.end {
                let owner = owner_of[usize::from(slot)];
                if owner == Some(primary.node_id.as_str()) {
                    continue;
                }
                match (owner, owner.and_then(index_of)) {
                    (_, Some(from)) => pairs.entry((from, to)).or_default().push(slot),
                    // Owned by a member that is no primary any more (it failed after taking the
                    // slot, and its replica's takeover did not know the slot yet): its shard's
                    // primary has the keys (replicated) and claims it.
                    (Some(member), None) if shard_of_member(member).is_some() => {
                        orphans.extend(shard_of_member(member).map(|k| (k, slot)));
                    }
                    // No primary at all: the shard the plan gives it to claims it.
                    (None, None) => orphans.push((to, slot)),
                    (Some(_), None) => {
                        tracing::debug!(group = %key, slot, ?owner, "slot owner is no shard's primary yet");
                        return Ok(Next::After(WAIT_RECHECK));
                    }
                }
            }
        }
    }
    if !orphans.is_empty() {
        return claim_orphans(&ctx, &key, &owners, orphans).await;
    }
    if pairs.is_empty() {
        return finish(&ctx, &key, &loaded);
    }
    let pending: usize = pairs.values().map(Vec::len).sum();
    let pairs = without_chains(pairs);
    let deadline = Instant::now() + MOVE_RUN;
    let moves = pairs.iter().map(|(&(from, to), slots)| {
        let others: Vec<NodeAddress> = owners
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != from && *i != to)
            .map(|(_, (_, o))| o.admin.clone())
            .collect();
        let (source, target) = (owners[from].1, owners[to].1);
        let agent = &ctx.agent;
        async move {
            agent
                .move_slots(source, target, &others, slots, deadline, MOVE_CALL_TIMEOUT)
                .await
        }
    });
    let results = futures_util::future::join_all(moves).await;
    let mut moved = 0;
    let mut failed = None;
    for result in results {
        match result {
            Ok(n) => moved += n,
            Err(e) => failed = Some(e),
        }
    }
    let remaining = (pending - moved) as u32;
    record_progress(&ctx, &key, &loaded.resharding, remaining)?;
    if let Some(error) = failed {
        tracing::warn!(group = %key, %error, "slot move interrupted; will retry");
        return Ok(Next::After(RETRY_LATER));
    }
    Ok(Next::After(Duration::ZERO))
}

/// Has each orphaned slot claimed by the primary of the shard found for it, once that primary's
/// own view agrees no live shard primary owns the slot (the first primary's view may only lag
/// behind a takeover), then looks again.
async fn claim_orphans(
    ctx: &Context,
    key: &str,
    owners: &[(&Shard, &SlotOwner)],
    orphans: Vec<(usize, u16)>,
) -> Result<Next, ReconcileError> {
    let mut by_claimant: BTreeMap<usize, Vec<u16>> = BTreeMap::new();
    for (claimant, slot) in orphans {
        by_claimant.entry(claimant).or_default().push(slot);
    }
    for (claimant, slots) in by_claimant {
        let owner = owners[claimant].1;
        let view = ctx
            .agent
            .cluster_nodes(&owner.admin, NODE_CALL_TIMEOUT)
            .await?;
        // Served by a live node that is some shard's primary: then nothing is orphaned.
        let served = |slot: u16| {
            view.iter().any(|n| {
                n.primary
                    && !n.handshake
                    && !n.failed
                    && owners.iter().any(|(_, o)| o.node_id == n.id)
                    && n.slots.iter().any(|&(s, e)| s <= slot && slot <= e)
            })
        };
        let slots: Vec<u16> = slots.into_iter().filter(|&s| !served(s)).collect();
        if slots.is_empty() {
            continue;
        }
        tracing::warn!(group = %key, shard = %owners[claimant].0.spec.id, count = slots.len(), first = slots[0], "slots left without a primary owner; its shard's primary claims them");
        ctx.agent
            .claim_slots(owner, &slots, NODE_CALL_TIMEOUT)
            .await?;
    }
    Ok(Next::After(WAIT_RECHECK))
}

/// The moves to run now: a shard never gives and receives slots at once (a restore into another
/// layout can ask for chains, A → B → C), so a move into a shard that still gives slots away
/// waits until it has; the moves into shards that only receive run first. (Were every pending
/// move part of a cycle, all run.)
fn without_chains(pairs: BTreeMap<(usize, usize), Vec<u16>>) -> BTreeMap<(usize, usize), Vec<u16>> {
    let gives = |shard: usize| pairs.keys().any(|&(from, _)| from == shard);
    let now: BTreeMap<(usize, usize), Vec<u16>> = pairs
        .iter()
        .filter(|((_, to), _)| !gives(*to))
        .map(|(k, v)| (*k, v.clone()))
        .collect();
    if now.is_empty() {
        pairs
    } else {
        now
    }
}

/// Reads the group's resharding, if one is pending, with its shards and their primaries.
fn load(r: &dyn Reader, ctx: &Context, key: &str) -> Result<Option<Loaded>, StoreError> {
    let Some(spec) = r.doc::<GroupSpec>(key)? else {
        return Ok(None);
    };
    let observed = r.doc::<GroupObserved>(key)?;
    let pending = spec.resharding_pending(observed.as_ref()).cloned();
    let (Some(resharding), true, None) = (pending, spec.cluster_mode.enabled(), &spec.deletion)
    else {
        return Ok(None);
    };
    let mut members: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for node_key in r.lookup(tables::NODES_BY_SHARD, key)? {
        if let Some(node) = r.doc::<NodeSpec>(&node_key)? {
            let shard = node.shard_id.clone().unwrap_or_default();
            members.entry(shard).or_default().push(node_key);
        }
    }
    let mut shards = Vec::new();
    for (shard_key, shard_spec) in r.docs::<ShardSpec>(&format!("{key}/"))? {
        let primary = match r.doc::<ShardIntent>(&shard_key)? {
            Some(intent) => primary_of(r, ctx, &spec.region, &intent.primary)?,
            None => None,
        };
        let members = members.remove(&shard_spec.id).unwrap_or_default();
        let mut member_ids = Vec::new();
        for node_key in &members {
            if let Some(id) = r
                .doc::<NodeObserved>(node_key)?
                .and_then(|o| o.cluster_node_id)
            {
                member_ids.push(id);
            }
        }
        shards.push(Shard {
            members,
            member_ids,
            key: shard_key,
            spec: shard_spec,
            primary,
        });
    }
    Ok(Some(Loaded { resharding, shards }))
}

/// The slot owner `node_id` is, once it runs as a created, healthy primary with a cluster id.
fn primary_of(
    r: &dyn Reader,
    ctx: &Context,
    region: &str,
    node_id: &str,
) -> Result<Option<SlotOwner>, StoreError> {
    let node_key = tables::key(region, node_id);
    let (Some(spec), Some(intent), Some(observed)) = (
        r.doc::<NodeSpec>(&node_key)?,
        r.doc::<NodeIntent>(&node_key)?,
        r.doc::<NodeObserved>(&node_key)?,
    ) else {
        return Ok(None);
    };
    let running = observed.created && observed.healthy && observed.role == Some(Role::Primary);
    Ok(match (running, observed.cluster_node_id) {
        (true, Some(cluster_id)) => Some(SlotOwner {
            admin: admin_address(&ctx.config, &spec, &intent),
            node_id: cluster_id,
            data: private_address(&spec, &intent),
        }),
        _ => None,
    })
}

/// Records how far the resharding got, unless another one was asked for meanwhile.
fn record_progress(
    ctx: &Context,
    key: &str,
    resharding: &Resharding,
    remaining: u32,
) -> Result<(), StoreError> {
    update(ctx.store.as_ref(), |w| -> Result<(), StoreError> {
        let current = w.doc::<GroupSpec>(key)?;
        if current.and_then(|s| s.resharding) != Some(resharding.clone()) {
            return Ok(());
        }
        let mut observed = w.doc::<GroupObserved>(key)?.unwrap_or_default();
        let moved = resharding.slots_to_move.saturating_sub(remaining);
        if observed.slots_moved != moved {
            observed.slots_moved = moved;
            w.put_doc(key, &observed)?;
        }
        Ok(())
    })
}

/// Every slot is in place: removes what is left of the removed shards, and records the
/// resharding carried out once they are gone.
fn finish(ctx: &Context, key: &str, loaded: &Loaded) -> Result<Next, ReconcileError> {
    update(ctx.store.as_ref(), |w| -> Result<Next, StoreError> {
        let current = w.doc::<GroupSpec>(key)?;
        let Some(spec) = current.filter(|s| s.resharding.as_ref() == Some(&loaded.resharding))
        else {
            return Ok(Next::Done);
        };
        let mut removing = false;
        for shard in loaded.shards.iter().filter(|s| s.spec.removing) {
            let mut left = false;
            for node_key in &shard.members {
                let Some(mut node) = w.doc::<NodeSpec>(node_key)? else {
                    continue;
                };
                left = true;
                if node.deletion.is_none() {
                    node.deletion = Some(NodeDeletion {
                        with_group: false,
                        final_snapshot: None,
                    });
                    w.put_doc(node_key, &node)?;
                }
            }
            if left {
                removing = true;
            } else {
                w.delete_doc::<ShardSpec>(&shard.key)?;
                w.delete_doc::<ShardIntent>(&shard.key)?;
                w.delete_doc::<ShardObserved>(&shard.key)?;
            }
        }
        if removing {
            // The members' removal wakes this again.
            return Ok(Next::Done);
        }
        let mut observed = w.doc::<GroupObserved>(key)?.unwrap_or_default();
        observed.resharded = loaded.resharding.generation;
        observed.slots_moved = loaded.resharding.slots_to_move;
        w.put_doc(key, &observed)?;
        tracing::info!(group = %spec.id, "resharding carried out");
        Ok(Next::Done)
    })
    .map_err(ReconcileError::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Goal: in a chain of moves no shard gives and receives at once; a cycle still moves.
    // Method: A → B → C (only B → C runs), then A → B alone, then A ⇄ B.
    #[test]
    fn chains_run_from_their_end() {
        let pairs = |list: &[(usize, usize)]| -> BTreeMap<(usize, usize), Vec<u16>> {
            list.iter().map(|&p| (p, vec![1])).collect()
        };
        let keys = |m: BTreeMap<(usize, usize), Vec<u16>>| m.into_keys().collect::<Vec<_>>();
        assert_eq!(keys(without_chains(pairs(&[(0, 1), (1, 2)]))), [(1, 2)]);
        assert_eq!(keys(without_chains(pairs(&[(0, 1)]))), [(0, 1)]);
        assert_eq!(
            keys(without_chains(pairs(&[(0, 1), (1, 0)]))),
            [(0, 1), (1, 0)]
        );
    }
}
