//! A host that does not lead demotes its own nodes that its copy of the store no longer names
//! their shard's primary.
//!
//! Why: a host cut off from the leading host but not from etcd is not fenced (a quorum
//! answers it, see [`crate::fence`]), so its endpoints go on serving. The leader takes it for
//! lost after [`crate::fence::SILENT_HOST_LOST_AFTER`] and promotes a replica on another host;
//! every host's router follows the new routes through etcd, but the old primary — which the
//! leader cannot reach to demote — would go on taking writes from clients of its own node
//! endpoint. Its host sees the promotion in its copy of the store and demotes it itself:
//! `REPLICAOF` the new primary, read-only from then on whether or not it can reach it.
//!
//! The trigger is the commit that records a node as its shard's primary at the shard's
//! current epoch (its observed role, written by the leader once the node answers as primary):
//! the node's shard members on this host that still run as primaries follow it, as the
//! leader's own reconcilers would order. Event-driven: each such commit reads one shard;
//! only at the start, and after the change feed fell behind, are this host's own nodes read
//! (through the store's index of nodes by host), never every node.
//!
//! The leading host does not run this: its control plane orders every role itself.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ferrocache_agent::{Agent, Liveness};
use ferrocache_control::reconcile::node::{private_address, socket_path, tls};
use ferrocache_control::runtime::NodeRuntime;
use ferrocache_engine::{NodeAddress, Role as EngineRole};
use ferrocache_model::node::{NodeIntent, NodeObserved, NodeSpec, Role};
use ferrocache_model::shard::ShardIntent;
use ferrocache_store::tables::{self, NODES_BY_HOST, NODES_BY_SHARD};
use ferrocache_store::{ReadExt, Reader, Store, StoreError};
use tokio::sync::{broadcast, watch};

/// Bound on one call to a local node.
const NODE_CALL_TIMEOUT: Duration = Duration::from_secs(2);
/// Wait before reading the store again after it failed.
const RETRY_AFTER: Duration = Duration::from_millis(250);

/// A node of this host that its shard no longer names primary, and where its primary is.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Demotion {
    /// The node's id.
    node_id: String,
    /// The node's TCP address (used when its Unix socket is not there).
    address: SocketAddr,
    /// Where it is to replicate from: the shard's primary.
    source: SocketAddr,
    /// The shard's epoch.
    epoch: u64,
}

/// Demotes this host's nodes as the store's shards say (see the module) until `stop` turns
/// true.
pub async fn follow(
    store: Arc<dyn Store>,
    agent: Arc<Agent>,
    host: String,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        // Subscribe before reading, so no commit falls in between.
        let mut feed = store.watch();
        match ferrocache_store::view(store.as_ref(), |r| of_host(r, &host)) {
            Ok(demotions) => demote(&agent, demotions).await,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read this host's nodes to check their roles");
                tokio::select! {
                    () = tokio::time::sleep(RETRY_AFTER) => continue,
                    _ = stop.changed() => return,
                }
            }
        }
        loop {
            let commit = tokio::select! {
                c = feed.recv() => c,
                _ = stop.changed() => return,
            };
            let commit = match commit {
                Ok(c) => c,
                // Read this host's nodes again.
                Err(broadcast::error::RecvError::Lagged(_)) => break,
                Err(broadcast::error::RecvError::Closed) => return,
            };
            let promoted: Vec<&str> = commit
                .changes
                .iter()
                .filter(|c| c.is::<NodeObserved>())
                .filter(|c| {
                    let confirmed = |o: &NodeObserved| o.healthy && o.role == Some(Role::Primary);
                    let new = c.new_doc::<NodeObserved>();
                    let old = c.old_doc::<NodeObserved>();
                    new.as_ref().is_some_and(confirmed)
                        && !(old.as_ref().is_some_and(confirmed)
                            && old.as_ref().map(|o| o.epoch) == new.as_ref().map(|o| o.epoch))
                })
                .map(|c| c.key.as_str())
                .collect();
            if promoted.is_empty() {
                continue;
            }
            let read = ferrocache_store::view(store.as_ref(), |r| {
                let mut all = Vec::new();
                for key in &promoted {
                    all.extend(followers_here(r, key, &host)?);
                }
                Ok::<_, StoreError>(all)
            });
            match read {
                Ok(demotions) => demote(&agent, demotions).await,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read a promoted node's shard; reading this host's nodes again");
                    break;
                }
            }
        }
    }
}

/// The nodes of `host` that their shard no longer names primary, its primary confirmed.
fn of_host(r: &dyn Reader, host: &str) -> Result<Vec<Demotion>, StoreError> {
    let mut out = Vec::new();
    for key in r.lookup(NODES_BY_HOST, host)? {
        let Some(spec) = r.doc::<NodeSpec>(&key)? else {
            continue;
        };
        let Some(shard) = shard_of(r, &spec)? else {
            continue;
        };
        if shard.primary != spec.id {
            let primary = tables::key(&spec.region, &shard.primary);
            out.extend(followers_here(r, &primary, host)?);
        }
    }
    out.sort_by(|a, b| a.node_id.cmp(&b.node_id));
    out.dedup();
    Ok(out)
}

fn shard_of(r: &dyn Reader, spec: &NodeSpec) -> Result<Option<ShardIntent>, StoreError> {
    match (&spec.group_id, &spec.shard_id) {
        (Some(group), Some(shard)) => {
            r.doc::<ShardIntent>(&tables::shard_key(&spec.region, group, shard))
        }
        _ => Ok(None),
    }
}

/// When the node at `primary_key` is its shard's primary at the shard's epoch and answers as
/// such: the other members of the shard placed on `host`.
fn followers_here(
    r: &dyn Reader,
    primary_key: &str,
    host: &str,
) -> Result<Vec<Demotion>, StoreError> {
    let (Some(spec), Some(intent), Some(observed)) = (
        r.doc::<NodeSpec>(primary_key)?,
        r.doc::<NodeIntent>(primary_key)?,
        r.doc::<NodeObserved>(primary_key)?,
    ) else {
        return Ok(Vec::new());
    };
    let Some(shard) = shard_of(r, &spec)? else {
        return Ok(Vec::new());
    };
    let confirmed = shard.primary == spec.id
        && observed.healthy
        && observed.role == Some(Role::Primary)
        && observed.epoch == shard.epoch;
    if !confirmed || spec.cluster_mode.runs_cluster() {
        return Ok(Vec::new());
    }
    let (Some(group), Some(shard_id)) = (&spec.group_id, &spec.shard_id) else {
        return Ok(Vec::new());
    };
    let source = tls::replication_source(&spec, &intent);
    let mut out = Vec::new();
    for key in r.lookup(
        NODES_BY_SHARD,
        &tables::shard_key(&spec.region, group, shard_id),
    )? {
        if key == primary_key {
            continue;
        }
        let (Some(member), Some(placed)) = (r.doc::<NodeSpec>(&key)?, r.doc::<NodeIntent>(&key)?)
        else {
            continue;
        };
        if placed.host_name() == Some(host) {
            out.push(Demotion {
                node_id: member.id.clone(),
                address: private_address(&member, &placed),
                source,
                epoch: shard.epoch,
            });
        }
    }
    Ok(out)
}

/// Demotes each node of `demotions` that runs here as a primary.
async fn demote(agent: &Agent, demotions: Vec<Demotion>) {
    for d in demotions {
        if !matches!(agent.liveness(&d.node_id), Liveness::Running(_)) {
            continue;
        }
        let address = match socket_path(agent.nodes_dir(), &d.node_id) {
            Some(path) if path.exists() => NodeAddress::Unix(path),
            _ => NodeAddress::Tcp(d.address),
        };
        let info = match NodeRuntime::info(agent, &address, NODE_CALL_TIMEOUT).await {
            Ok(info) => info,
            Err(e) => {
                tracing::debug!(node = %d.node_id, error = %e, "cannot ask a node its role");
                continue;
            }
        };
        if info.role != EngineRole::Master {
            continue;
        }
        match NodeRuntime::replicaof(agent, &address, Some(d.source), NODE_CALL_TIMEOUT).await {
            Ok(()) => tracing::warn!(
                node = %d.node_id, primary = %d.source, epoch = d.epoch,
                "demoted a primary of this host: the store names another primary of its shard"
            ),
            Err(e) => {
                tracing::warn!(node = %d.node_id, error = %e, "could not demote a primary of this host");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrocache_model::node::{HostPlacement, NodeSpec};
    use ferrocache_model::shard::Phase;
    use ferrocache_store::{update, RedbStore, WriteExt};

    const REGION: &str = "us-east-1";

    fn member(id: &str) -> NodeSpec {
        let request = ferrocache_model::node::CreateNodeRequest {
            cache_cluster_id: Some(id.into()),
            cache_node_type: Some("cache.t3.micro".into()),
            engine: Some("redis".into()),
            ..Default::default()
        };
        let context = ferrocache_model::group::CreateContext {
            region: REGION.into(),
            engine_version_running: "7.0.15".into(),
            now: chrono::Utc::now(),
            parameter_group_cluster_enabled: None,
        };
        let mut spec = ferrocache_model::node::plan_standalone(&request, &context).unwrap();
        spec.group_id = Some("g".into());
        spec.shard_id = Some("0001".into());
        spec
    }

    fn placed(host: &str, last: u8, port: u16) -> NodeIntent {
        NodeIntent {
            zone: "us-east-1a".into(),
            endpoint: [127, 77, 0, last].into(),
            private: [10, 0, 0, last].into(),
            host: Some(HostPlacement {
                name: host.into(),
                port: Some(port),
            }),
        }
    }

    fn primary_at(epoch: u64) -> NodeObserved {
        NodeObserved {
            healthy: true,
            role: Some(Role::Primary),
            epoch,
            ..Default::default()
        }
    }

    // Goal: a host demotes its node only once the store names another member its shard's
    // primary *and* records that member answering as primary at the shard's current epoch —
    // never on the intent alone (a failover still in flight), never the primary itself,
    // never another host's node. Method: a shard over three hosts in a real store; read
    // what each host would demote as the primary's record moves.
    #[test]
    fn a_node_is_demoted_only_for_a_primary_confirmed_at_the_current_epoch() {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStore::open(&dir.path().join("s.redb")).unwrap();
        let key = |id: &str| tables::key(REGION, id);
        update(&store, |w| -> Result<(), StoreError> {
            for (id, host, last) in [("g-001", "h2", 1), ("g-002", "h1", 2), ("g-003", "h3", 3)] {
                w.put_doc(&key(id), &member(id))?;
                w.put_doc(&key(id), &placed(host, last, 21000))?;
            }
            w.put_doc(
                &tables::shard_key(REGION, "g", "0001"),
                &ShardIntent {
                    primary: "g-002".into(),
                    epoch: 2,
                    phase: Phase::Steady,
                    primary_endpoint: [127, 77, 0, 10].into(),
                    reader_endpoint: [127, 77, 0, 11].into(),
                },
            )?;
            // The old primary's record says what it was.
            w.put_doc(&key("g-001"), &primary_at(1))?;
            Ok(())
        })
        .unwrap();
        let demotions = |host: &str| ferrocache_store::view(&store, |r| of_host(r, host)).unwrap();
        assert_eq!(demotions("h2"), [], "the new primary is not confirmed yet");
        update(&store, |w| w.put_doc(&key("g-002"), &primary_at(1))).unwrap();
        assert_eq!(demotions("h2"), [], "confirmed at an older epoch only");
        update(&store, |w| w.put_doc(&key("g-002"), &primary_at(2))).unwrap();
        assert_eq!(
            demotions("h2"),
            [Demotion {
                node_id: "g-001".into(),
                address: "10.0.0.1:21000".parse().unwrap(),
                source: "10.0.0.2:21000".parse().unwrap(),
                epoch: 2,
            }]
        );
        assert_eq!(demotions("h1"), [], "the primary's own host");
        assert_eq!(demotions("h3").len(), 1, "g-003 follows g-002 too");
        let replicas = ferrocache_store::view(&store, |r| followers_here(r, &key("g-002"), "h2"));
        assert_eq!(replicas.unwrap().len(), 1);
    }
}
