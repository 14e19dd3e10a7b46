//! Moving hash slots, with their keys, from one primary to another (online resharding), as
//! Redis Cluster does it: for each slot `IMPORTING` on the target, `MIGRATING` on the source,
//! the keys sent over in batches with `MIGRATE` (the source sends, the target restores, the
//! source deletes, key by key atomically), then `NODE` on the target, the source and every
//! other primary. Clients meanwhile follow `ASK` for keys already moved.
//!
//! Every step can be repeated: a slot interrupted anywhere (the control plane crashed, a call
//! timed out) is simply moved again, and keys already moved are no longer on the source, so
//! none is lost or duplicated. One connection per node serves a whole call.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ferrocache_engine::{EngineError, NodeAddress, NodeClient, SlotState};

use crate::node::Agent;

/// Keys asked for and migrated per round trip.
pub const MIGRATE_BATCH_KEYS: u32 = 1000;

/// A primary taking part in a slot move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotOwner {
    /// Where the control plane reaches it.
    pub admin: NodeAddress,
    /// Its cluster node id.
    pub node_id: String,
    /// Where other nodes reach its data port (the target of `MIGRATE`).
    pub data: SocketAddr,
}

impl Agent {
    /// Moves `slots` (each served by `from` now) to `to`, in order, until all are moved or
    /// `deadline` passes; tells the primaries at `others` the new owner of each slot too (best
    /// effort: gossip tells them anyway). `timeout` bounds connecting and each call (a
    /// `MIGRATE` batch included). Returns how many slots were moved.
    ///
    /// # Errors
    ///
    /// A node that cannot be reached or refuses a step; the slots moved before stay moved, and
    /// the interrupted one is moved again by the next call.
    pub async fn move_slots(
        &self,
        from: &SlotOwner,
        to: &SlotOwner,
        others: &[NodeAddress],
        slots: &[u16],
        deadline: Instant,
        timeout: Duration,
    ) -> Result<usize, EngineError> {
        let source = self.admin_client(&from.admin, timeout).await?;
        let target = self.admin_client(&to.admin, timeout).await?;
        let mut bystanders = Vec::new();
        for addr in others {
            if let Ok(client) = self.admin_client(addr, timeout).await {
                bystanders.push(client);
            }
        }
        let auth = self
            .identity()
            .map(|i| (i.user.as_str(), i.password.as_str()));
        let mut moved = 0;
        for &slot in slots {
            if Instant::now() >= deadline {
                break;
            }
            move_slot(&source, &target, from, to, slot, auth, timeout).await?;
            for client in &bystanders {
                // Best effort: a primary that misses this learns it from gossip.
                let _ = client
                    .cluster_setslot(slot, SlotState::Node(&to.node_id))
                    .await;
            }
            moved += 1;
        }
        Ok(moved)
    }
}

impl Agent {
    /// Makes `owner` claim `slots` that no primary serves any more (their owner failed after
    /// taking them, and its replica's takeover did not know them yet): `SETSLOT … NODE` naming
    /// itself for each, then `BUMPEPOCH`, so the claim wins over the failed owner's older one
    /// once gossip carries it (and the failed owner, back as a replica, lets them go).
    ///
    /// # Errors
    ///
    /// `owner` cannot be reached or refuses; claims made before stay made.
    pub async fn claim_slots(
        &self,
        owner: &SlotOwner,
        slots: &[u16],
        timeout: Duration,
    ) -> Result<(), EngineError> {
        let client = self.admin_client(&owner.admin, timeout).await?;
        for &slot in slots {
            client
                .cluster_setslot(slot, SlotState::Node(&owner.node_id))
                .await?;
        }
        client.cluster_bump_epoch().await
    }
}

/// Moves one slot and its keys from `source` to `target`.
async fn move_slot(
    source: &NodeClient,
    target: &NodeClient,
    from: &SlotOwner,
    to: &SlotOwner,
    slot: u16,
    auth: Option<(&str, &str)>,
    timeout: Duration,
) -> Result<(), EngineError> {
    match target
        .cluster_setslot(slot, SlotState::Importing(&from.node_id))
        .await
    {
        Ok(()) => {}
        // An earlier move got as far as the target: only the others are left to be told.
        Err(EngineError::Reply { message, .. }) if message.contains("already the owner") => {
            return settle(source, target, to, slot).await;
        }
        Err(e) => return Err(e),
    }
    source
        .cluster_setslot(slot, SlotState::Migrating(&to.node_id))
        .await?;
    loop {
        let keys = source
            .cluster_keys_in_slot(slot, MIGRATE_BATCH_KEYS)
            .await?;
        if keys.is_empty() {
            break;
        }
        match source.migrate_keys(to.data, &keys, timeout, auth).await {
            Ok(()) => {}
            // The target lost track of the slot's owner: the source it was importing from
            // failed and was forgotten (a replica took over; a node ignores a new owner's
            // claim on a slot it imports). Name the owner again, then import anew.
            Err(EngineError::Reply { message, .. }) if message.contains("not served") => {
                target
                    .cluster_setslot(slot, SlotState::Node(&from.node_id))
                    .await?;
                target
                    .cluster_setslot(slot, SlotState::Importing(&from.node_id))
                    .await?;
            }
            Err(e) => return Err(e),
        }
    }
    settle(source, target, to, slot).await
}

/// Gives the slot to `to`: the target first (it bumps its epoch and owns the slot, so no
/// client is ever sent back to a source that no longer has the keys), then the source.
async fn settle(
    source: &NodeClient,
    target: &NodeClient,
    to: &SlotOwner,
    slot: u16,
) -> Result<(), EngineError> {
    target
        .cluster_setslot(slot, SlotState::Node(&to.node_id))
        .await?;
    source
        .cluster_setslot(slot, SlotState::Node(&to.node_id))
        .await
}
