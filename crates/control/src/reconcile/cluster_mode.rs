//! The cluster-mode reconciler: carries a live group's members into cluster mode when its
//! `ClusterMode` moves from `disabled` to `compatible` (`ModifyReplicationGroup`).
//!
//! When every member runs in the group's mode, the group reconciler records it and says so
//! ([`super::group`]).
//!
//! Redis cannot turn `cluster-enabled` on in a running process, and a cluster node refuses
//! `REPLICAOF`, so the members restart in cluster mode one role at a time, each step idempotent
//! and decided from the store:
//!
//! 1. the primary's keyspace is checked: cluster mode keeps database 0 only, so keys in another
//!    database give the change up (the group returns to `disabled` and its former parameter
//!    group, with an event) before anything restarts;
//! 2. the shard's **primary** restarts in cluster mode with its data (a reboot: it saves, then
//!    loads its RDB and serves every slot). The replicas, still plain, keep following it —
//!    Redis lets a plain replica follow a cluster primary;
//! 3. once the primary runs in cluster mode, the **replicas** restart in cluster mode, empty
//!    (their data file from before is set aside: a cluster node that loads keys claims their
//!    slots), meet the primary and copy it through `CLUSTER REPLICATE`.
//!
//! Meanwhile a failover only promotes a replica running in the same mode as the primary it
//! replaces ([`super::failover`]); a primary lost between steps 2 and 3 restarts in place.
//! `compatible` → `enabled` restarts nothing: the members' specs change with the group's and
//! only the endpoints and the API's view follow. The group reads `modifying` until every
//! member runs in the group's mode, in its role.

use std::sync::Arc;

use ferrocache_agent::Probe;
use ferrocache_model::event::{text, SourceType};
use ferrocache_model::group::{ClusterMode, GroupObserved, GroupSpec};
use ferrocache_model::node::{NodeIntent, NodeObserved, NodeSpec, Role};
use ferrocache_model::shard::{ShardIntent, ShardSpec};
use ferrocache_store::{tables, update, view, ReadExt, Reader, WriteExt};

use super::node::{admin_address, NODE_CALL_TIMEOUT, WAIT_RECHECK};
use super::{Context, Next, ReconcileError};
use crate::events;

/// A member as this reconciler sees it.
struct Member {
    key: String,
    spec: NodeSpec,
    intent: Option<NodeIntent>,
    observed: NodeObserved,
}

impl Member {
    /// Its spec asks for cluster mode.
    fn converted(&self) -> bool {
        self.spec.cluster_mode.runs_cluster()
    }

    /// Its process runs in cluster mode, healthy, with every reboot asked for carried out.
    fn runs_cluster(&self) -> bool {
        self.observed.cluster_engine
            && self.observed.healthy
            && self.observed.reboots >= self.spec.reboots
    }
}

struct Facts {
    spec: GroupSpec,
    observed: GroupObserved,
    /// The one shard's intent (a group moving into cluster mode has one shard).
    shard: Option<ShardIntent>,
    members: Vec<Member>,
}

fn load(r: &dyn Reader, key: &str) -> Result<Option<Facts>, ReconcileError> {
    let Some(spec) = r.doc::<GroupSpec>(key)? else {
        return Ok(None);
    };
    let mut shard = None;
    for (shard_key, _) in r.docs::<ShardSpec>(&format!("{key}/"))? {
        shard = r.doc::<ShardIntent>(&shard_key)?;
    }
    let mut members = Vec::new();
    for node_key in r.lookup(tables::NODES_BY_SHARD, key)? {
        let Some(node) = r.doc::<NodeSpec>(&node_key)? else {
            continue;
        };
        if node.deletion.is_some() {
            continue;
        }
        members.push(Member {
            intent: r.doc::<NodeIntent>(&node_key)?,
            observed: r.doc::<NodeObserved>(&node_key)?.unwrap_or_default(),
            spec: node,
            key: node_key,
        });
    }
    Ok(Some(Facts {
        observed: r.doc::<GroupObserved>(key)?.unwrap_or_default(),
        spec,
        shard,
        members,
    }))
}

/// Reconciles the cluster mode of the group stored at `key`.
///
/// # Errors
/// Store failures; retried.
pub(crate) async fn reconcile(ctx: Arc<Context>, key: String) -> Result<Next, ReconcileError> {
    let Some(facts) = view(ctx.store.as_ref(), |r| load(r, &key))? else {
        return Ok(Next::Done);
    };
    let mode = facts.spec.cluster_mode;
    if !mode.runs_cluster() || facts.spec.deletion.is_some() || !facts.observed.created {
        return Ok(Next::Done);
    }
    if facts.members.iter().all(Member::converted) {
        return Ok(Next::Done);
    }
    let Some(shard) = &facts.shard else {
        return Ok(Next::After(WAIT_RECHECK));
    };
    let Some(primary) = facts.members.iter().find(|m| m.spec.id == shard.primary) else {
        return Ok(Next::After(WAIT_RECHECK));
    };
    if !primary.converted() {
        // Step 1, then 2: only a primary that runs and answers is checked and restarted.
        if !(primary.observed.healthy && primary.observed.role == Some(Role::Primary)) {
            return Ok(Next::After(WAIT_RECHECK));
        }
        let Some(intent) = &primary.intent else {
            return Ok(Next::After(WAIT_RECHECK));
        };
        let address = admin_address(&ctx.config, &primary.spec, intent);
        let Probe::Up(info) = ctx.agent.probe(&address, NODE_CALL_TIMEOUT).await else {
            return Ok(Next::After(WAIT_RECHECK));
        };
        let elsewhere = databases_besides_db0(&info.raw);
        if !elsewhere.is_empty() {
            give_up(&ctx, &key, &facts, &elsewhere.join(", "))?;
            return Ok(Next::Done);
        }
        convert(&ctx, &facts, std::slice::from_ref(&primary.key), mode)?;
        return Ok(Next::Done);
    }
    if !primary.runs_cluster() {
        // Its reboot is under way; its facts wake this again.
        return Ok(Next::Done);
    }
    // Step 3: every replica at once (each copies the primary anew either way).
    let replicas: Vec<String> = facts
        .members
        .iter()
        .filter(|m| !m.converted())
        .map(|m| m.key.clone())
        .collect();
    convert(&ctx, &facts, &replicas, mode)?;
    Ok(Next::Done)
}

/// The `dbN` (other than `db0`) that hold keys, from `INFO`'s keyspace section.
fn databases_besides_db0(raw: &std::collections::BTreeMap<String, String>) -> Vec<String> {
    raw.iter()
        .filter(|(field, value)| {
            field.starts_with("db")
                && field[2..].chars().all(|c| c.is_ascii_digit())
                && field.as_str() != "db0"
                && !value.starts_with("keys=0,")
        })
        .map(|(field, _)| field.clone())
        .collect()
}

/// Moves the members at `keys` into the group's cluster mode: a reboot in the new mode.
fn convert(
    ctx: &Context,
    facts: &Facts,
    keys: &[String],
    mode: ClusterMode,
) -> Result<(), ReconcileError> {
    update(ctx.store.as_ref(), |w| -> Result<(), ReconcileError> {
        for key in keys {
            let Some(mut node) = w.doc::<NodeSpec>(key)? else {
                continue;
            };
            if node.cluster_mode.runs_cluster() || node.group_id.as_deref() != Some(&facts.spec.id)
            {
                continue;
            }
            tracing::info!(node = %node.id, mode = mode.as_str(), "moving into cluster mode");
            node.cluster_mode = mode;
            node.reboots += 1;
            node.generation += 1;
            w.put_doc(key, &node)?;
        }
        Ok(())
    })
}

/// Gives the change into `compatible` up before any member restarted: the group is
/// `disabled` again, on its former parameter group, with an event saying why.
fn give_up(ctx: &Context, key: &str, facts: &Facts, databases: &str) -> Result<(), ReconcileError> {
    tracing::warn!(group = %facts.spec.id, databases, "keys outside database 0: cluster mode change given up");
    update(ctx.store.as_ref(), |w| -> Result<(), ReconcileError> {
        let Some(mut spec) = w.doc::<GroupSpec>(key)? else {
            return Ok(());
        };
        if spec.cluster_mode != ClusterMode::Compatible {
            return Ok(());
        }
        for node_key in w.lookup(tables::NODES_BY_SHARD, key)? {
            // A member already moved: too late to give the change up.
            if w.doc::<NodeSpec>(&node_key)?
                .is_some_and(|n| n.cluster_mode.runs_cluster())
            {
                return Ok(());
            }
        }
        spec.cluster_mode = ClusterMode::Disabled;
        let before = spec.parameter_group_before_cluster_mode.take();
        let parameter_group = before.unwrap_or_else(|| spec.parameter_group.clone());
        spec.parameter_group = parameter_group.clone();
        spec.generation += 1;
        w.put_doc(key, &spec)?;
        for (shard_key, mut shard) in w.docs::<ShardSpec>(&format!("{key}/"))? {
            shard.slots.clear();
            w.put_doc(&shard_key, &shard)?;
        }
        for node_key in w.lookup(tables::NODES_BY_SHARD, key)? {
            if let Some(mut node) = w.doc::<NodeSpec>(&node_key)? {
                if node.parameter_group != parameter_group {
                    node.parameter_group = parameter_group.clone();
                    node.generation += 1;
                    w.put_doc(&node_key, &node)?;
                }
            }
        }
        events::record(
            w,
            &spec.region,
            &spec.id,
            SourceType::ReplicationGroup,
            text::cluster_mode_refused_keys_outside_db0(&spec.id, databases),
            chrono::Utc::now(),
        )?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Goal: only databases other than 0 that hold keys stop the change. Method: INFO's
    // keyspace lines as Redis writes them, with db0 and other fields that start with "db".
    #[test]
    fn finds_keys_outside_db0() {
        let raw = |fields: &[(&str, &str)]| {
            fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let only_db0 = raw(&[
            ("db0", "keys=10,expires=0,avg_ttl=0"),
            ("dbfilename", "dump.rdb"),
        ]);
        assert!(databases_besides_db0(&only_db0).is_empty());
        let more = raw(&[
            ("db0", "keys=10,expires=0,avg_ttl=0"),
            ("db3", "keys=1,expires=0,avg_ttl=0"),
        ]);
        assert_eq!(databases_besides_db0(&more), ["db3"]);
    }
}
