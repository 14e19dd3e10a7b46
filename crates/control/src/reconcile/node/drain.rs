//! Moving a replica off a host being drained (`ferrocache hosts --drain`).
//!
//! A drain moves each node by the roles it already has: the shard's failover state machine
//! first switches a primary on the draining host over to a replica elsewhere
//! (`super::super::failover`), and a replica there — the old primary included, once switched —
//! is moved here: stopped and removed on the draining host, then placed again on another host
//! (same endpoint address, so clients and routes see the same node), where it starts empty and
//! syncs from its primary like any new replica. A node moves only when another host has room
//! for it; a primary with no replica elsewhere, and a node of no shard, stay (nothing would
//! keep their data while they move).

use ferrocache_model::node::{NodeIntent, NodeObserved};
use ferrocache_store::{update, view, ReadExt, WriteExt};

use super::super::{Context, Next, ReconcileError};
use super::{node_config, placement, Facts, Target};
use crate::capacity;

/// Moves the node off its host if that host is draining and the node is a replica of a primary
/// that runs (not in the middle of a switch), with somewhere to go; `Some(next)` when it moved (its next run starts it on its new host).
///
/// # Errors
/// Agent or store failures; retried.
pub(crate) async fn move_off_draining_host(
    ctx: &Context,
    key: &str,
    facts: &Facts,
    intent: &NodeIntent,
    target: &Target,
) -> Result<Option<Next>, ReconcileError> {
    let spec = &facts.spec;
    let Some(host) = intent.host_name() else {
        return Ok(None);
    };
    if ctx.config.host.is_none()
        || spec.deletion.is_some()
        || spec.shard_id.is_none()
        || !spec.spreads_across_hosts()
        || !matches!(
            target,
            Target::Replica {
                of: Some(_),
                primary_up: true,
                ..
            }
        )
    {
        return Ok(None);
    }
    let movable = view(ctx.store.as_ref(), |r| -> Result<bool, ReconcileError> {
        if !capacity::draining(r, host)? {
            return Ok(false);
        }
        Ok(placement::host_with_room(r, spec, intent_zone(spec, intent))?.is_some())
    })?;
    if !movable {
        return Ok(None);
    }
    tracing::info!(node = %spec.id, %host, "moving a replica off a draining host");
    // Its process and data on the draining host go first: a node runs in one place.
    let old = node_config(&ctx.config, spec, intent, None);
    ctx.agent.remove(&spec.id, &old.address()).await?;
    let cidr = ctx.config.cidr;
    let moved = update(ctx.store.as_ref(), |w| -> Result<bool, ReconcileError> {
        if w.doc::<NodeIntent>(key)?.as_ref() != Some(intent) {
            return Ok(false);
        }
        let mut zone = intent_zone(spec, intent).to_string();
        let (private, placed) = placement::on_a_host(w, cidr, spec, &mut zone)?;
        w.put_doc(
            key,
            &NodeIntent {
                zone,
                endpoint: intent.endpoint,
                private,
                host: Some(placed),
            },
        )?;
        // No process runs for it now, by our hand: the start on the new host is a first
        // start (an empty replica syncing), not a recovery.
        let mut observed = w.doc::<NodeObserved>(key)?.unwrap_or_default();
        observed.pid = None;
        observed.link_up = false;
        observed.role = None;
        super::mark_down(&mut observed);
        w.put_doc(key, &observed)?;
        Ok(true)
    })?;
    Ok(moved.then_some(Next::After(std::time::Duration::ZERO)))
}

/// The zone a moving node asks for: the one it was created in, else where it runs now.
fn intent_zone<'a>(spec: &'a ferrocache_model::node::NodeSpec, intent: &'a NodeIntent) -> &'a str {
    spec.preferred_zone.as_deref().unwrap_or(&intent.zone)
}
