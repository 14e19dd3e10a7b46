//! Moving a node off a host being drained (`ferrocache hosts --drain`).
//!
//! A drain moves each node by the roles it already has: the shard's failover state machine
//! first switches a primary on the draining host over to a replica elsewhere
//! (`super::super::failover`), and a replica there — the old primary included, once switched —
//! is moved here: stopped and removed on the draining host, then placed again on another host
//! (same endpoint address, so clients and routes see the same node), where it starts empty and
//! syncs from its primary like any new replica.
//!
//! A node that is alone with its data — a standalone cache cluster, a group's only node —
//! moves with it: it is stopped with a save (`SHUTDOWN SAVE`: its data file then holds
//! everything it acknowledged), its data file is copied from the draining host to the new one
//! (through the leading host, checked by its SHA-256), and only then is it placed there; it
//! starts with that file. Its directory on the draining host goes in the next run
//! (`NodeObserved::left_on`), so a crash at any step leaves the data where the placement
//! says it is. It is down meanwhile, as a single node is for a reboot.
//!
//! A node moves only when another host has room for it; a node alone with its data that does
//! not run (its process restarts in place first) waits for the next run; a primary whose
//! replicas are all on draining hosts stays.

use ferrocache_agent::Liveness;
use ferrocache_engine::NodeAddress;
use ferrocache_model::host::HostRecord;
use ferrocache_model::node::{NodeIntent, NodeObserved, NodeSpec};
use ferrocache_store::{tables, update, view, ReadExt, WriteExt};

use super::super::{snapshot, Context, Next, ReconcileError};
use super::{node_config, placement, Facts, Target};
use crate::capacity;

/// How a node leaves a draining host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Move {
    /// A replica: it starts empty elsewhere and syncs from its primary.
    Empty,
    /// A node alone with its data: its data file goes with it.
    WithData,
}

/// Moves the node off its host if that host is draining, with somewhere to go: a replica of a
/// primary that runs (not in the middle of a switch), or a node alone with its data that runs;
/// `Some(next)` when it moved (its next run starts it on its new host).
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
    if ctx.config.host.is_none() || spec.deletion.is_some() || !spec.spreads_across_hosts() {
        return Ok(None);
    }
    let how = match target {
        Target::Replica {
            of: Some(_),
            primary_up: true,
            ..
        } => Move::Empty,
        Target::Primary { .. } if matches!(ctx.agent.liveness(&spec.id), Liveness::Running(_)) => {
            Move::WithData
        }
        _ => return Ok(None),
    };
    let to = view(
        ctx.store.as_ref(),
        |r| -> Result<Option<HostRecord>, ReconcileError> {
            if !capacity::draining(r, host)? || (how == Move::WithData && !alone(r, spec)?) {
                return Ok(None);
            }
            placement::host_with_room(r, spec, intent_zone(spec, intent))
        },
    )?;
    let Some(to) = to else {
        return Ok(None);
    };
    let old = node_config(&ctx.config, spec, intent, None);
    match how {
        Move::Empty => {
            tracing::info!(node = %spec.id, %host, "moving a replica off a draining host");
            // Its process and data on the draining host go first: a node runs in one place.
            ctx.agent
                .remove(&spec.id, Some(host), &old.address())
                .await?;
        }
        Move::WithData => {
            tracing::info!(node = %spec.id, %host, to = %to.name, "moving a node with its data off a draining host");
            ctx.agent.stop(&spec.id, &old.address(), true).await?;
            carry_data(ctx, spec, host, &to.name).await?;
        }
    }
    let cidr = ctx.config.cidr;
    let moved = update(ctx.store.as_ref(), |w| -> Result<bool, ReconcileError> {
        if w.doc::<NodeIntent>(key)?.as_ref() != Some(intent) {
            return Ok(false);
        }
        let mut zone = intent_zone(spec, intent).to_string();
        let (private, placed) = match how {
            Move::Empty => placement::on_a_host(w, cidr, spec, &mut zone)?,
            // Where its data was placed.
            Move::WithData => placement::on_chosen_host(w, cidr, to.clone(), &mut zone)?,
        };
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
        // start (an empty replica syncing, or a node loading the data it carried), not a
        // recovery.
        let mut observed = w.doc::<NodeObserved>(key)?.unwrap_or_default();
        observed.pid = None;
        observed.link_up = false;
        observed.role = None;
        if how == Move::WithData {
            observed.left_on = Some(host.to_string());
        }
        super::mark_down(&mut observed);
        w.put_doc(key, &observed)?;
        Ok(true)
    })?;
    Ok(moved.then_some(Next::After(std::time::Duration::ZERO)))
}

/// Whether `spec` is the only node holding its data: a standalone cache cluster, or the only
/// member of its shard.
fn alone(r: &dyn ferrocache_store::Reader, spec: &NodeSpec) -> Result<bool, ReconcileError> {
    Ok(match (&spec.group_id, &spec.shard_id) {
        (Some(group), Some(shard)) => {
            r.lookup_count(
                tables::NODES_BY_SHARD,
                &tables::shard_key(&spec.region, group, shard),
            )? == 1
        }
        _ => true,
    })
}

/// Copies the stopped node's data file from host `from` to host `to`, through a staging file
/// of this host (`<snapshots>/<region>/.move-<node>.rdb`, dot-named: never a snapshot).
async fn carry_data(
    ctx: &Context,
    spec: &NodeSpec,
    from: &str,
    to: &str,
) -> Result<(), ReconcileError> {
    let dir = snapshot::region_dir(&ctx.config.snapshots_dir, &spec.region);
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| ReconcileError::Io(format!("{}: {e}", dir.display())))?;
    let staged = dir.join(format!(".move-{}.rdb", spec.id));
    let _ = tokio::fs::remove_file(&staged).await;
    let carried = async {
        let (_, sha256) = ctx
            .agent
            .copy_data_file(&spec.id, Some(from), &staged)
            .await?;
        ctx.agent
            .seed_data(&spec.id, Some(to), &staged, &sha256)
            .await
    }
    .await;
    let _ = tokio::fs::remove_file(&staged).await;
    Ok(carried?)
}

/// Removes the node's directory from the host it moved off with its data, once it is placed
/// elsewhere (see the module).
///
/// # Errors
/// Agent or store failures; retried.
pub(crate) async fn remove_left_copy(
    ctx: &Context,
    key: &str,
    facts: &Facts,
    intent: &NodeIntent,
) -> Result<(), ReconcileError> {
    let Some(left_on) = &facts.observed.left_on else {
        return Ok(());
    };
    if intent.host_name() != Some(left_on.as_str()) {
        // Its process there was stopped before it moved; the host finds the directory by id.
        let address = NodeAddress::Tcp(super::private_address(&facts.spec, intent));
        ctx.agent
            .remove(&facts.spec.id, Some(left_on), &address)
            .await?;
        tracing::info!(node = %facts.spec.id, host = %left_on, "removed the directory a moved node left");
    }
    update(ctx.store.as_ref(), |w| -> Result<(), ReconcileError> {
        if let Some(mut observed) = w.doc::<NodeObserved>(key)? {
            observed.left_on = None;
            w.put_doc(key, &observed)?;
        }
        Ok(())
    })
}

/// The zone a moving node asks for: the one it was created in, else where it runs now.
fn intent_zone<'a>(spec: &'a ferrocache_model::node::NodeSpec, intent: &'a NodeIntent) -> &'a str {
    spec.preferred_zone.as_deref().unwrap_or(&intent.zone)
}
