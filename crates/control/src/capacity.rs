//! Hosts' memory for cache nodes, when several hosts share the store.
//!
//! Each registered host gives cache nodes some memory (`HostRecord::memory`, from
//! `--host-memory`); each node placed on it takes its node type's memory
//! ([`NodeType::memory_bytes`](ferrocache_model::node_type::NodeType)), used or not, as an
//! ElastiCache node type is a size bought, not a use measured. What a host's nodes take is read
//! from the store's index of the nodes on each host (nothing separate to keep in sync: a node
//! deleted, its intent gone, frees its memory), so a check reads one host's nodes, never
//! every node.
//!
//! The API checks up front that the nodes it is asked for fit ([`admit_new`],
//! [`admit_resize`]): AWS's `InsufficientCacheClusterCapacity`, at once, rather than a group
//! that never leaves `creating`. Placement then picks only a host with room
//! ([`fits`]). Nodes that stay on the leading host (cluster mode, encryption at rest:
//! `NodeSpec::spreads_across_hosts`) are not counted: they are not placed on a named host.

use std::collections::BTreeMap;

use ferrocache_model::host::{HostRecord, HostSpec};
use ferrocache_model::node::{NodeIntent, NodeSpec};
use ferrocache_model::{node_type, Fault};
use ferrocache_store::tables::{self, NODES_BY_HOST};
use ferrocache_store::{ReadExt, Reader, StoreError};

/// Why nodes cannot be given the memory they need.
#[derive(Debug, thiserror::Error)]
pub enum CapacityError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No host has room: `InsufficientCacheClusterCapacity`.
    #[error(transparent)]
    Insufficient(#[from] Fault),
}

impl From<CapacityError> for crate::reconcile::ReconcileError {
    fn from(e: CapacityError) -> Self {
        match e {
            CapacityError::Store(e) => e.into(),
            CapacityError::Insufficient(f) => f.into(),
        }
    }
}

impl From<CapacityError> for crate::service::ServiceError {
    fn from(e: CapacityError) -> Self {
        match e {
            CapacityError::Store(e) => e.into(),
            CapacityError::Insufficient(f) => f.into(),
        }
    }
}

/// The memory a node of `node_type` takes on its host (0 for a name that is no node type:
/// those are refused before anything is placed).
pub fn node_memory(node_type: &str) -> u64 {
    node_type::lookup(node_type).map_or(0, |t| t.memory_bytes)
}

/// The memory the nodes placed on host `host` take.
///
/// # Errors
/// Store failures.
pub fn used(r: &dyn Reader, host: &str) -> Result<u64, StoreError> {
    let mut total = 0u64;
    for key in r.lookup(NODES_BY_HOST, host)? {
        if let Some(spec) = r.doc::<NodeSpec>(&key)? {
            total = total.saturating_add(node_memory(&spec.node_type));
        }
    }
    Ok(total)
}

/// The memory `host` has left for nodes (`None`: it is not limited).
///
/// # Errors
/// Store failures.
pub fn free(r: &dyn Reader, host: &HostRecord) -> Result<Option<u64>, StoreError> {
    match host.memory {
        None => Ok(None),
        Some(memory) => Ok(Some(memory.saturating_sub(used(r, &host.name)?))),
    }
}

/// Whether a node of `node_type` fits on `host` now.
///
/// # Errors
/// Store failures.
pub fn fits(r: &dyn Reader, host: &HostRecord, node_type: &str) -> Result<bool, StoreError> {
    Ok(free(r, host)?.is_none_or(|free| free >= node_memory(node_type)))
}

/// Whether host `host` is being drained (`ferrocache hosts --drain`): nothing new goes there.
///
/// # Errors
/// Store failures.
pub fn draining(r: &dyn Reader, host: &str) -> Result<bool, StoreError> {
    Ok(r.doc::<HostSpec>(host)?.is_some_and(|s| s.draining))
}

/// The hosts nodes can be placed on (registered with an agent, not draining), and the memory
/// each has left.
fn hosts_with_room(r: &dyn Reader) -> Result<Vec<(HostRecord, Option<u64>)>, StoreError> {
    let mut out = Vec::new();
    for (_, host) in r.docs::<HostRecord>("")? {
        if host.agent.is_some() && !draining(r, &host.name)? {
            let free = free(r, &host)?;
            out.push((host, free));
        }
    }
    Ok(out)
}

/// Checks that new nodes of `node_types` (nodes that spread across hosts) fit on the hosts
/// together: each, largest first, on the host with the most memory left. No host registered:
/// nothing to check (one host alone, or placement says so).
///
/// # Errors
/// [`CapacityError::Insufficient`] naming the node type that does not fit; store failures.
pub fn admit_new(r: &dyn Reader, node_types: &[&str]) -> Result<(), CapacityError> {
    if node_types.is_empty() {
        return Ok(());
    }
    let mut hosts = hosts_with_room(r)?;
    if hosts.is_empty() || hosts.iter().any(|(_, free)| free.is_none()) {
        return Ok(());
    }
    let mut wanted: Vec<(&str, u64)> = node_types.iter().map(|t| (*t, node_memory(t))).collect();
    wanted.sort_by_key(|(_, memory)| std::cmp::Reverse(*memory));
    for (node_type, memory) in wanted {
        let roomiest = hosts
            .iter_mut()
            .filter_map(|(_, free)| free.as_mut())
            .max_by_key(|free| **free)
            .filter(|free| **free >= memory);
        match roomiest {
            Some(free) => *free -= memory,
            None => return Err(insufficient(node_type, &hosts).into()),
        }
    }
    Ok(())
}

/// Checks that nodes already placed still fit once their node type changes: `changes` holds
/// each node's key, its node type now and the one asked for.
///
/// # Errors
/// [`CapacityError::Insufficient`] naming the host without room; store failures.
pub fn admit_resize(r: &dyn Reader, changes: &[(String, &str, &str)]) -> Result<(), CapacityError> {
    let mut growth: BTreeMap<String, (u64, u64, &str)> = BTreeMap::new();
    for (key, from, to) in changes {
        let Some(host) = r.doc::<NodeIntent>(key)?.and_then(|i| i.host) else {
            continue;
        };
        let entry = growth.entry(host.name).or_insert((0, 0, to));
        entry.0 += node_memory(from);
        entry.1 += node_memory(to);
    }
    for (name, (before, after, node_type)) in growth {
        if after <= before {
            continue;
        }
        let Some(host) = r.doc::<HostRecord>(&name)? else {
            continue;
        };
        if let Some(free) = free(r, &host)? {
            if free < after - before {
                return Err(Fault::InsufficientCacheClusterCapacity(format!(
                    "Insufficient capacity for cache node type {node_type}: host {name} has {} free for cache nodes and the change needs {} more.",
                    megabytes(free),
                    megabytes(after - before)
                ))
                .into());
            }
        }
    }
    Ok(())
}

/// The fault for a node of `node_type` that no host has room for.
pub fn insufficient(node_type: &str, hosts: &[(HostRecord, Option<u64>)]) -> Fault {
    let roomiest = hosts
        .iter()
        .filter_map(|(_, free)| *free)
        .max()
        .unwrap_or(0);
    Fault::InsufficientCacheClusterCapacity(format!(
        "Insufficient capacity for cache node type {node_type}: it needs {}, and the host with the most memory left for cache nodes has {} (start more hosts, or give them more with --host-memory).",
        megabytes(node_memory(node_type)),
        megabytes(roomiest)
    ))
}

/// The fault placement answers with when no registered host has room for `spec` now.
///
/// # Errors
/// Store failures.
pub fn insufficient_now(r: &dyn Reader, spec: &NodeSpec) -> Result<Fault, StoreError> {
    Ok(insufficient(&spec.node_type, &hosts_with_room(r)?))
}

fn megabytes(bytes: u64) -> String {
    format!("{} MiB", bytes / (1024 * 1024))
}

/// The key a node's intent and spec share (see `tables::key`), for callers holding specs.
pub fn node_key(spec: &NodeSpec) -> String {
    tables::key(&spec.region, &spec.id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrocache_model::node::HostPlacement;
    use ferrocache_store::{update, view, RedbStore, WriteExt};

    fn host(name: &str, memory: Option<u64>) -> HostRecord {
        HostRecord {
            name: name.into(),
            zone: "us-east-1a".into(),
            address: "10.0.0.1".into(),
            data_dir: format!("/d/{name}"),
            registered: "2026-12-07T00:00:00Z".into(),
            version: "test".into(),
            agent: Some("10.0.0.1:7000".into()),
            memory,
        }
    }

    const MIB: u64 = 1024 * 1024;

    fn place(w: &mut dyn ferrocache_store::Writer, id: &str, node_type: &str, on: &str) {
        let mut spec: NodeSpec = test_spec(id, node_type);
        spec.region = "us-east-1".into();
        let key = node_key(&spec);
        w.put_doc(&key, &spec).unwrap();
        let intent = NodeIntent {
            zone: "us-east-1a".into(),
            endpoint: "10.0.0.9".parse().unwrap(),
            private: "10.0.0.1".parse().unwrap(),
            host: Some(HostPlacement {
                name: on.into(),
                port: None,
            }),
        };
        w.put_doc(&key, &intent).unwrap();
    }

    fn test_spec(id: &str, node_type: &str) -> NodeSpec {
        let request = ferrocache_model::node::CreateNodeRequest {
            cache_cluster_id: Some(id.into()),
            cache_node_type: Some(node_type.into()),
            engine: Some("redis".into()),
            ..Default::default()
        };
        let context = ferrocache_model::group::CreateContext {
            region: "us-east-1".into(),
            engine_version_running: "7.0.15".into(),
            now: chrono::Utc::now(),
            parameter_group_cluster_enabled: None,
        };
        ferrocache_model::node::plan_standalone(&request, &context)
            .expect("a valid standalone node")
    }

    // Goal: what a host's nodes take is the sum of their node types' memory; new nodes are
    // admitted only while some host has room for each (largest first); a resize is checked
    // against its own host; hosts with no limit, or no hosts at all, admit anything.
    #[test]
    fn memory_is_counted_per_host_and_admission_respects_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStore::open(&dir.path().join("s.redb")).unwrap();
        // cache.t3.micro is 512 MiB (AWS's maxmemory table).
        let micro = node_memory("cache.t3.micro");
        assert_eq!(micro, 512 * MIB);
        update(&store, |w| -> Result<(), StoreError> {
            assert!(
                admit_new(w, &["cache.r6g.16xlarge"]).is_ok(),
                "no host: not checked"
            );
            w.put_doc("h1", &host("h1", Some(1024 * MIB)))?;
            w.put_doc("h2", &host("h2", Some(1024 * MIB)))?;
            place(w, "a1", "cache.t3.micro", "h1");
            place(w, "a2", "cache.t3.micro", "h1");
            place(w, "b1", "cache.t3.micro", "h2");
            Ok(())
        })
        .unwrap();
        view(&store, |r| -> Result<(), StoreError> {
            assert_eq!(used(r, "h1")?, 1024 * MIB);
            assert_eq!(used(r, "h2")?, 512 * MIB);
            assert!(!fits(r, &host("h1", Some(1024 * MIB)), "cache.t3.micro")?);
            assert!(fits(r, &host("h2", Some(1024 * MIB)), "cache.t3.micro")?);
            assert!(admit_new(r, &["cache.t3.micro"]).is_ok());
            let refused = admit_new(r, &["cache.t3.micro", "cache.t3.micro"]).unwrap_err();
            assert!(
                matches!(&refused, CapacityError::Insufficient(Fault::InsufficientCacheClusterCapacity(m)) if m.contains("cache.t3.micro")),
                "{refused:?}"
            );
            // b1 growing to 3 GiB does not fit h2's 512 MiB left; a1 moving to a type of the
            // same memory fits a full host.
            let key = |id: &str| tables::key("us-east-1", id);
            assert!(admit_resize(r, &[(key("b1"), "cache.t3.micro", "cache.t3.medium")]).is_err());
            assert!(admit_resize(r, &[(key("a1"), "cache.t3.micro", "cache.t4g.micro")]).is_ok());
            Ok(())
        })
        .unwrap();
        update(&store, |w| -> Result<(), StoreError> {
            w.put_doc("h3", &host("h3", None))?;
            assert!(
                admit_new(w, &["cache.r6g.16xlarge"]).is_ok(),
                "a host without a limit"
            );
            Ok(())
        })
        .unwrap();
    }
}
