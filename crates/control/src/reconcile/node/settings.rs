//! A node's settings: its parameter group's values, its node type (`maxmemory`) and its ACL
//! users — rendered into the start configuration, and applied to a running process.
//!
//! Parameter groups:
//!
//! | layer | where | what |
//! |---|---|---|
//! | spec | `ParameterGroupSpec` | the values users set, `generation` bumped on each change |
//! | observed | `NodeObserved::parameters` | group, generation and values the process runs with |
//!
//! [`configure`] renders the group's values into the `redis.conf` of a node about to start
//! (so a start, reboot or recovery always runs the current values). [`apply`] runs after the
//! process is up: when the node has not confirmed the group's current generation, it sends the
//! changed `immediate` settings with `CONFIG SET`, leaves `requires-reboot` ones for the next
//! start (the node reads `pending-reboot` until then), records AWS's "Updated parameter X to Y"
//! events and the generation it applied. `CONFIG SET` is idempotent and the record is written
//! after it, so a crash between the two only repeats the same settings.

//!
//! Node type: on one host a node's size is its `maxmemory`, so a type change is a `CONFIG SET`
//! on the running process when it is due (now, or in the maintenance window) — every key and
//! every client connection stays. A scale-down the data in use does not fit is refused (AWS's
//! event) and not retried until another type is asked for.
//!
//! ACL users: the group's user groups (RBAC), else `default` with the AUTH token; a started
//! node reads them from its configuration, a running one gets them with `ACL SETUSER` when its
//! spec generation moved (clients of kept users stay connected).

use std::time::Duration;

use ferrocache_engine::{EngineError, Info, NodeAddress, NodeConfig};
use ferrocache_model::event::text;
use ferrocache_model::modify::{in_maintenance_window, ApplyAt};
use ferrocache_model::node::{NodeIntent, NodeObserved, NodeSpec};
use ferrocache_model::node_type;
use ferrocache_model::parameter::{self, AppliedParameters, DesiredParameters};
use ferrocache_store::view;

use super::super::{Context, ReconcileError};
use super::{node_config, Target, NODE_CALL_TIMEOUT};

/// Bound on one `CONFIG SET` (a local admin call; the node answers in microseconds).
const CONFIG_SET_TIMEOUT: Duration = Duration::from_secs(2);
/// How often a node with a node type change waiting for its maintenance window looks whether
/// the window has come.
pub const MAINTENANCE_CHECK_INTERVAL: Duration = Duration::from_secs(60);
use crate::runtime::{NodeRuntime, RuntimeError};
use crate::service::parameter_group;

/// The configuration a (re)start of the node uses: its addresses, its primary (a replica),
/// its ACL users and its parameter group's values. A (re)start keeps the node type the node
/// runs with; a requested change is applied by [`apply`] when it is due, not by a restart that
/// happens to come first.
///
/// # Errors
/// Store failures.
pub(crate) fn start_config(
    ctx: &Context,
    spec: &NodeSpec,
    intent: &NodeIntent,
    target: &Target,
    observed: &NodeObserved,
    desired: &DesiredParameters,
) -> Result<NodeConfig, ReconcileError> {
    let replica_of = match target {
        Target::Replica { source, .. } => *source,
        _ => None,
    };
    let mut cfg = node_config(&ctx.config, spec, intent, replica_of);
    if let Some(users) = acl_users(ctx, spec)? {
        cfg.acl_users = users;
    }
    configure(
        &mut cfg,
        observed.node_type.as_deref().unwrap_or(&spec.node_type),
        desired,
    );
    Ok(cfg)
}

/// The ACL users of a member whose group uses user groups (`None` otherwise).
fn acl_users(
    ctx: &Context,
    spec: &NodeSpec,
) -> Result<Option<Vec<crate::service::user::AclUser>>, ReconcileError> {
    let Some(group_id) = &spec.group_id else {
        return Ok(None);
    };
    let found = view(ctx.store.as_ref(), |r| {
        use ferrocache_store::ReadExt;
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

/// Brings a running node to its settings: the node type when due, the parameter group's
/// values, and (a running node whose generation moved) its ACL users.
///
/// # Errors
/// The node cannot be reached; nothing is recorded then and the next run tries again.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn apply(
    ctx: &Context,
    spec: &NodeSpec,
    cfg: &NodeConfig,
    info: &Info,
    desired: &DesiredParameters,
    started: bool,
    observed: &mut NodeObserved,
    events: &mut Vec<String>,
) -> Result<(), ReconcileError> {
    if observed.created {
        apply_node_type(
            ctx.agent.as_ref(),
            spec,
            cfg,
            info,
            desired,
            observed,
            events,
        )
        .await?;
    }
    let running_type = observed
        .node_type
        .clone()
        .unwrap_or_else(|| spec.node_type.clone());
    apply_parameters(
        ctx.agent.as_ref(),
        &running_type,
        desired,
        started,
        &cfg.address(),
        observed,
        events,
    )
    .await?;
    // A running node takes a changed AUTH token or user set with `ACL SETUSER` (a started one
    // read them from its config): idempotent, so repeated until the run that records the new
    // generation.
    if !started && observed.generation < spec.generation {
        ctx.agent
            .set_acl_users(&cfg.address(), &cfg.acl_users, NODE_CALL_TIMEOUT)
            .await?;
    }
    Ok(())
}

/// When the node should look again for a node type change waiting for its maintenance window
/// (`None`: nothing waits).
pub(crate) fn next_maintenance_check(spec: &NodeSpec, observed: &NodeObserved) -> Option<Duration> {
    let running = observed.node_type.as_ref().unwrap_or(&spec.node_type);
    let waiting = running != &spec.node_type
        && observed.node_type_refused.as_ref() != Some(&spec.node_type)
        && spec.node_type_apply == ApplyAt::MaintenanceWindow;
    waiting.then_some(MAINTENANCE_CHECK_INTERVAL)
}

/// Carries out a node type change when it is due (see the module doc).
async fn apply_node_type(
    runtime: &dyn NodeRuntime,
    spec: &NodeSpec,
    cfg: &NodeConfig,
    info: &Info,
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

/// The parameters the node of `spec` should run with (read from the store).
///
/// # Errors
/// Store failures.
pub(crate) fn desired(ctx: &Context, spec: &NodeSpec) -> Result<DesiredParameters, ReconcileError> {
    Ok(view(ctx.store.as_ref(), |r| {
        parameter_group::desired_for(r, spec)
    })?)
}

/// Puts the desired values into a node's start configuration: `maxmemory` (node type less
/// `reserved-memory-percent`), `maxmemory-policy` and every other Redis directive, after the
/// node's own settings so they win.
fn configure(cfg: &mut NodeConfig, node_type_name: &str, desired: &DesiredParameters) {
    let Ok(node_type) = node_type::lookup(node_type_name) else {
        return;
    };
    let settings = parameter::engine_settings(&desired.values, node_type);
    cfg.maxmemory_bytes = settings.maxmemory_bytes;
    cfg.maxmemory_policy = settings.maxmemory_policy;
    cfg.extra
        .extend(settings.directives.into_iter().map(|d| (d.name, d.value)));
}

/// Brings a running node to the desired parameters and records what it runs with.
///
/// `started` says the process was just started from a configuration made by [`configure`]
/// with `desired`: it runs every desired value already. Otherwise the changes since the
/// recorded values are sent with `CONFIG SET` (every live setting when nothing is recorded).
///
/// # Errors
/// The node cannot be reached; nothing is recorded then and the next pass tries again.
async fn apply_parameters(
    runtime: &dyn NodeRuntime,
    node_type_name: &str,
    desired: &DesiredParameters,
    started: bool,
    address: &NodeAddress,
    observed: &mut NodeObserved,
    events: &mut Vec<String>,
) -> Result<(), ReconcileError> {
    let previous = observed.parameters.clone();
    let same_type = previous
        .as_ref()
        .is_some_and(|a| a.node_type.as_deref() == Some(node_type_name));
    let current = previous
        .as_ref()
        .is_some_and(|a| a.group == desired.group && a.generation == desired.generation);
    if current && same_type && !started {
        return Ok(());
    }
    let values = if started {
        desired.values.clone()
    } else {
        let mut settings = match (&previous, node_type::lookup(node_type_name)) {
            (Some(a), Ok(t)) => parameter::live_changes(&a.values, &desired.values, t),
            (None, Ok(t)) => parameter::all_live_settings(&desired.values, t),
            (_, Err(_)) => Vec::new(),
        };
        // The node type changed under the same values (ModifyCacheCluster): `maxmemory` follows
        // it with this group's `reserved-memory-percent`.
        if let (false, Ok(t)) = (same_type, node_type::lookup(node_type_name)) {
            if !settings.iter().any(|(n, _)| n == "maxmemory") {
                let bytes = parameter::engine_settings(&desired.values, t).maxmemory_bytes;
                settings.insert(0, ("maxmemory".to_string(), bytes.to_string()));
            }
        }
        config_set_all(runtime, address, &settings).await?;
        match &previous {
            Some(a) => parameter::live_values(&a.values, &desired.values),
            None => desired.values.clone(),
        }
    };
    match &previous {
        Some(a) if a.group == desired.group => {
            for (name, value) in parameter::changed(&a.values, &values) {
                events.push(text::parameter_updated(name, &value));
            }
        }
        // A node that switches groups, or starts on a custom group, says so.
        Some(_) => events.push(text::uses_parameter_group(&desired.group)),
        None if !parameter::is_default_name(&desired.group) => {
            events.push(text::uses_parameter_group(&desired.group));
        }
        None => {}
    }
    observed.parameters = Some(AppliedParameters {
        group: desired.group.clone(),
        generation: desired.generation,
        values,
        node_type: Some(node_type_name.to_string()),
    });
    Ok(())
}

/// `CONFIG SET` of each setting. A value Redis refuses is logged and skipped (it can never
/// succeed on a retry); a node that cannot be reached is an error.
async fn config_set_all(
    runtime: &dyn NodeRuntime,
    address: &NodeAddress,
    settings: &[(String, String)],
) -> Result<(), ReconcileError> {
    for (name, value) in settings {
        match runtime
            .config_set(address, name, value, CONFIG_SET_TIMEOUT)
            .await
        {
            Ok(()) => {}
            Err(RuntimeError::Engine(EngineError::Reply { .. })) => {
                tracing::warn!(%address, %name, %value, "redis refused a parameter value; it keeps its current value");
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
