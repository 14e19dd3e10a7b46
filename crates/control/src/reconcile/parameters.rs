//! Applying parameter groups to nodes, as two steps of the node reconciler.
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

use std::time::Duration;

use ferrocache_engine::{EngineError, NodeAddress, NodeConfig};
use ferrocache_model::event::text;
use ferrocache_model::node::{NodeObserved, NodeSpec};
use ferrocache_model::node_type;
use ferrocache_model::parameter::{self, AppliedParameters, DesiredParameters};
use ferrocache_store::view;

use super::{Context, ReconcileError};

/// Bound on one `CONFIG SET` (a local admin call; the node answers in microseconds).
const CONFIG_SET_TIMEOUT: Duration = Duration::from_secs(2);
use crate::runtime::{NodeRuntime, RuntimeError};
use crate::service::parameter_group;

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
pub(crate) fn configure(cfg: &mut NodeConfig, node_type_name: &str, desired: &DesiredParameters) {
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
pub(crate) async fn apply(
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
