//! The router's route table, computed from the store.
//!
//! Node endpoints go to their node; a group's primary endpoint goes to the node its intent names
//! primary, tagged with the group's epoch (the router fences connections of older epochs); the
//! reader endpoint spreads over the replicas that are healthy and in sync, or the primary when
//! there are none, as ElastiCache's reader endpoint does.

use std::net::{SocketAddr, SocketAddrV4};
use std::path::Path;

use ferrocache_model::group::{GroupIntent, GroupSpec};
use ferrocache_model::node::{NodeIntent, NodeObserved, NodeSpec, Role};
use ferrocache_router::{Backend, EndpointKind, EndpointRoute, RouteTable};
use ferrocache_store::{tables, ReadExt, Reader, StoreError};

use crate::reconcile::node::socket_path;

fn backend(nodes_dir: &Path, spec: &NodeSpec, intent: &NodeIntent) -> Backend {
    match socket_path(nodes_dir, &spec.id) {
        Some(path) => Backend::Unix(path),
        None => Backend::Tcp(SocketAddr::V4(SocketAddrV4::new(intent.private, spec.port))),
    }
}

/// The whole route table.
///
/// # Errors
/// Store failures.
pub fn table(r: &dyn Reader, nodes_dir: &Path) -> Result<RouteTable, StoreError> {
    let mut endpoints = Vec::new();
    let nodes = r.docs::<NodeSpec>("")?;
    let mut placed = Vec::new();
    for (key, spec) in &nodes {
        let Some(intent) = r.doc::<NodeIntent>(key)? else {
            continue;
        };
        let observed = r.doc::<NodeObserved>(key)?.unwrap_or_default();
        endpoints.push(EndpointRoute {
            listen: SocketAddr::V4(SocketAddrV4::new(intent.endpoint, spec.port)),
            kind: EndpointKind::Node,
            backends: vec![backend(nodes_dir, spec, &intent)],
            epoch: 0,
            label: format!("{} node", spec.id),
        });
        placed.push((spec, intent, observed));
    }
    for (key, group) in r.docs::<GroupSpec>("")? {
        let Some(intent) = r.doc::<GroupIntent>(&key)? else {
            continue;
        };
        let members: Vec<_> = placed
            .iter()
            .filter(|(s, _, _)| {
                s.region == group.region && s.group_id.as_deref() == Some(&group.id)
            })
            .collect();
        let primary = members.iter().find(|(s, _, _)| s.id == intent.primary);
        // Only a primary that runs as one takes connections; while a failover switches, the
        // endpoint has no backend and the router holds new connections (bounded) for the new one.
        let primary_backend: Vec<Backend> = primary
            .filter(|(_, _, o)| o.healthy && o.role == Some(Role::Primary))
            .map(|(s, i, _)| backend(nodes_dir, s, i))
            .into_iter()
            .collect();
        let replicas: Vec<Backend> = members
            .iter()
            .filter(|(s, _, o)| {
                s.id != intent.primary
                    && s.deletion.is_none()
                    && o.healthy
                    && o.link_up
                    && o.role == Some(Role::Replica)
            })
            .map(|(s, i, _)| backend(nodes_dir, s, i))
            .collect();
        endpoints.push(EndpointRoute {
            listen: SocketAddr::V4(SocketAddrV4::new(intent.primary_endpoint, group.port)),
            kind: EndpointKind::Primary,
            backends: primary_backend.clone(),
            epoch: intent.epoch,
            label: format!("{} primary", group.id),
        });
        endpoints.push(EndpointRoute {
            listen: SocketAddr::V4(SocketAddrV4::new(intent.reader_endpoint, group.port)),
            kind: EndpointKind::Reader,
            backends: if replicas.is_empty() {
                primary_backend
            } else {
                replicas
            },
            epoch: intent.epoch,
            label: format!("{} reader", group.id),
        });
    }
    endpoints.sort_by_key(|e| e.listen);
    let _ = tables::key;
    Ok(RouteTable { endpoints })
}
