//! The route reconciler: the endpoints of one owner — a replication group, or a standalone
//! cache cluster — written to the store as [`Route`] documents, which the data path follows
//! (see [`crate::routes`]).
//!
//! Node endpoints go to their node; a shard's primary endpoint goes to the member its intent
//! names primary once that member runs as primary *at the shard's epoch* (while a failover
//! switches it has no backend, and the data path holds new connections), tagged with the epoch
//! so the data path fences connections of older epochs; the reader endpoint spreads over the
//! replicas that are healthy and in sync, or the primary when there are none, as ElastiCache's
//! reader endpoint does.
//!
//! Every endpoint also carries who may connect — the sources its security groups admit
//! ([`admission`]) — and, with encryption in transit, the certificate it must serve (every
//! endpoint address of the owner). Only routes that changed are written, and routes of the
//! owner that should no longer exist are deleted, so a run over an unchanged owner writes
//! nothing and wakes nobody.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;

use ferrocache_model::group::{cluster_bus_port, GroupIntent, GroupSpec};
use ferrocache_model::network::{Peer, SecurityGroup};
use ferrocache_model::node::{NodeIntent, NodeObserved, NodeSpec, Role};
use ferrocache_model::route::{
    route_key, Route, RouteAdmission, RouteBackend, RouteKind, RouteTls,
};
use ferrocache_model::shard::ShardIntent;
use ferrocache_model::transit::TransitEncryptionMode;
use ferrocache_store::{tables, update, ReadExt, Reader, WriteExt};
use ipnet::{IpNet, Ipv4Net};

use super::node::socket_path;
use super::{Context, Next, ReconcileError};

/// Where a security-group rule naming a source *group* admits connections from: the hosts
/// registered in that group. Ferrocache runs on one host, whose addresses are the loopback
/// network, so such a rule admits local clients (the default group's self-rule keeps the
/// zero-configuration path open).
pub const SOURCE_GROUP_HOSTS: Ipv4Net = match Ipv4Net::new(Ipv4Addr::new(127, 0, 0, 0), 8) {
    Ok(net) => net,
    Err(_) => panic!("loopback network"),
};

/// The DNS suffix of endpoint names in certificates.
pub use ferrocache_pki::DNS_SUFFIX;

/// The sources that security groups `ids` (of `region`) admit on TCP `port`: every ingress rule
/// for TCP (or all protocols) whose port range covers `port`, CIDR peers as they are,
/// source-group peers as [`SOURCE_GROUP_HOSTS`]. No security group at all (data from before
/// security groups existed) admits everyone; groups whose rules admit nothing on the port admit
/// nobody, as a closed security group does.
pub fn admission(groups: &[SecurityGroup], ids: &[String], port: u16) -> RouteAdmission {
    if ids.is_empty() {
        return RouteAdmission::Any;
    }
    let mut sources: Vec<IpNet> = Vec::new();
    for group in groups.iter().filter(|g| ids.contains(&g.id)) {
        for rule in &group.ingress {
            let covers = match rule.protocol.as_str() {
                "-1" => true,
                "tcp" => match (rule.from_port, rule.to_port) {
                    (Some(from), Some(to)) => (from..=to).contains(&i64::from(port)),
                    _ => false,
                },
                _ => false,
            };
            if !covers {
                continue;
            }
            let net = match &rule.peer {
                Peer::Cidr(cidr) => match cidr.parse::<Ipv4Net>() {
                    Ok(net) => IpNet::V4(net),
                    Err(_) => continue,
                },
                Peer::Group { .. } => IpNet::V4(SOURCE_GROUP_HOSTS),
            };
            if !sources.contains(&net) {
                sources.push(net);
            }
        }
    }
    sources.sort();
    RouteAdmission::Sources(sources.iter().map(ToString::to_string).collect())
}

/// The security groups `ids` of `region` (those that exist).
fn security_groups(
    r: &dyn Reader,
    region: &str,
    ids: &[String],
) -> Result<Vec<SecurityGroup>, ferrocache_store::StoreError> {
    let mut out = Vec::new();
    for id in ids {
        if let Some(g) = r.doc::<SecurityGroup>(&tables::key(region, id))? {
            out.push(g);
        }
    }
    Ok(out)
}

/// The DNS names in a certificate of `owner` (a group or standalone cluster id) in `region`:
/// `<owner>.<region>.ferrocache.internal` and every name below it (`master.…`, `replica.…`,
/// `<member>.…`), for clients that map such names to the endpoints in `/etc/hosts`.
pub(crate) fn dns_names(owner: &str, region: &str) -> Vec<String> {
    let base = format!("{owner}.{region}.{DNS_SUFFIX}");
    vec![format!("*.{base}"), base]
}

fn tls(
    mode: Option<TransitEncryptionMode>,
    owner: &str,
    region: &str,
    addresses: Vec<Ipv4Addr>,
) -> Option<RouteTls> {
    mode.map(|mode| RouteTls {
        mode,
        certificate: tables::key(region, owner),
        addresses,
        dns_names: dns_names(owner, region),
        plaintext_peers: Vec::new(),
    })
}

/// A node as a route reaches it: the backend the router splices to (its Unix socket when
/// usable) and its own TCP address (where the kernel path connects clients).
#[derive(Clone)]
struct Target {
    backend: RouteBackend,
    direct: SocketAddr,
    /// The node's own TLS port, once its process serves it.
    direct_tls: Option<SocketAddr>,
}

fn target(ctx: &Context, spec: &NodeSpec, intent: &NodeIntent, observed: &NodeObserved) -> Target {
    let direct = intent.private_socket(spec.port);
    // Every host's router serves the stored routes: a node on a named host is reached over
    // the network from all of them, never by a socket path that exists on one host only.
    let socket = socket_path(&ctx.config.nodes_dir, &spec.id).filter(|_| intent.host.is_none());
    Target {
        backend: match socket {
            Some(path) => RouteBackend::Unix(path),
            None => RouteBackend::Tcp(direct),
        },
        direct,
        // Only `--engine-tls` lets TLS clients reach the engine's TLS straight: without it a
        // plaintext client of a `required` endpoint reads the router's error (the runbooks'
        // text), and nodes on named hosts serve TLS for their replication alone.
        direct_tls: observed
            .tls
            .as_ref()
            .filter(|_| ctx.engine_tls)
            .map(|t| SocketAddr::V4(SocketAddrV4::new(intent.private, t.port))),
    }
}

/// The route fields of `targets`, in the same order: backends, their direct addresses, and
/// their TLS ports (empty unless every one serves TLS).
fn split(targets: Vec<Target>) -> (Vec<RouteBackend>, Vec<SocketAddr>, Vec<SocketAddr>) {
    let direct_tls = targets
        .iter()
        .map(|t| t.direct_tls)
        .collect::<Option<Vec<_>>>()
        .unwrap_or_default();
    let (backends, direct) = targets.into_iter().map(|t| (t.backend, t.direct)).unzip();
    (backends, direct, direct_tls)
}

struct Placed {
    spec: NodeSpec,
    intent: NodeIntent,
    observed: NodeObserved,
}

/// The routes `owner` should have now, each marked with the host that alone can serve it,
/// if one must.
fn desired(ctx: &Context, r: &dyn Reader, owner: &str) -> Result<Vec<Route>, ReconcileError> {
    let mut routes = owner_routes(ctx, r, owner)?;
    let served_by = served_by(ctx, r, owner)?;
    for route in &mut routes {
        route.served_by.clone_from(&served_by);
    }
    Ok(routes)
}

/// With several hosts: the leading host (this one), when a node of `owner` runs here on no
/// named host — staying on the leading host, reached by its Unix socket or loopback address,
/// which no other host can reach.
fn served_by(ctx: &Context, r: &dyn Reader, owner: &str) -> Result<Option<String>, ReconcileError> {
    let Some(leader) = &ctx.config.host else {
        return Ok(None);
    };
    let nodes = match r.doc::<GroupSpec>(owner)? {
        Some(_) => r.lookup(tables::NODES_BY_SHARD, owner)?,
        None => vec![owner.to_string()],
    };
    for key in nodes {
        if r.doc::<NodeIntent>(&key)?.is_some_and(|i| i.host.is_none()) {
            return Ok(Some(leader.clone()));
        }
    }
    Ok(None)
}

/// The routes `owner` should have now.
fn owner_routes(ctx: &Context, r: &dyn Reader, owner: &str) -> Result<Vec<Route>, ReconcileError> {
    if let Some(group) = r.doc::<GroupSpec>(owner)? {
        return group_routes(ctx, r, owner, &group);
    }
    let Some(spec) = r.doc::<NodeSpec>(owner)? else {
        return Ok(Vec::new());
    };
    if spec.group_id.is_some() {
        // A member's endpoint belongs to its group.
        return Ok(Vec::new());
    }
    let Some(intent) = r.doc::<NodeIntent>(owner)? else {
        return Ok(Vec::new());
    };
    let groups = security_groups(r, &spec.region, &spec.security_group_ids)?;
    let observed = r.doc::<NodeObserved>(owner)?.unwrap_or_default();
    let (backends, direct, direct_tls) = split(vec![target(ctx, &spec, &intent, &observed)]);
    Ok(vec![Route {
        listen: SocketAddr::V4(SocketAddrV4::new(intent.endpoint, spec.port)),
        owner: owner.to_string(),
        kind: RouteKind::Node,
        backends,
        direct,
        direct_tls,
        epoch: 0,
        label: format!("{} node", spec.id),
        admission: admission(&groups, &spec.security_group_ids, spec.port),
        tls: tls(
            spec.transit_encryption,
            &spec.id,
            &spec.region,
            vec![intent.endpoint],
        ),
        served_by: None,
    }])
}

fn group_routes(
    ctx: &Context,
    r: &dyn Reader,
    owner: &str,
    group: &GroupSpec,
) -> Result<Vec<Route>, ReconcileError> {
    let mut placed = Vec::new();
    for key in r.lookup(tables::NODES_BY_SHARD, owner)? {
        let (Some(spec), Some(intent)) = (r.doc::<NodeSpec>(&key)?, r.doc::<NodeIntent>(&key)?)
        else {
            continue;
        };
        let observed = r.doc::<NodeObserved>(&key)?.unwrap_or_default();
        placed.push(Placed {
            spec,
            intent,
            observed,
        });
    }
    let mut shards = Vec::new();
    for (key, shard) in super::group::shards(r, &group.region, &group.id)? {
        if let Some(intent) = r.doc::<ShardIntent>(&key)? {
            shards.push((shard.id, intent));
        }
    }
    // `compatible` runs the cluster (configuration endpoint, bus) and still serves the
    // primary and reader endpoints; `enabled` serves the cluster alone.
    let cluster = group.cluster_mode.runs_cluster();
    let sharded = group.cluster_mode.enabled();
    let configuration = match cluster {
        true => r.doc::<GroupIntent>(owner)?,
        false => None,
    };
    // A cluster-mode group shows no primary or reader endpoint per shard (clients follow the
    // cluster's slot map instead), so it serves none.
    let mut addresses: Vec<Ipv4Addr> = match sharded {
        true => Vec::new(),
        false => shards
            .iter()
            .flat_map(|(_, i)| [i.primary_endpoint, i.reader_endpoint])
            .collect(),
    };
    addresses.extend(configuration.iter().map(|c| c.configuration_endpoint));
    addresses.extend(placed.iter().map(|p| p.intent.endpoint));
    let groups = security_groups(r, &group.region, &group.security_group_ids)?;
    let mut admission = admission(&groups, &group.security_group_ids, group.port);
    if cluster {
        // A replica in cluster mode replicates from the address its primary announces, the
        // primary's endpoint: the nodes' own addresses must get through.
        if let RouteAdmission::Sources(sources) = &mut admission {
            sources.push(ctx.config.cidr.to_string());
        }
    }
    let mut tls = tls(
        group.transit_encryption,
        &group.id,
        &group.region,
        addresses,
    );
    if let (true, Some(tls)) = (cluster, tls.as_mut()) {
        // Replicas replicate through their primary's endpoint, in plaintext (the router's
        // TLS ends at the endpoint; the hop to the node is local either way).
        tls.plaintext_peers = vec![ctx.config.cidr.to_string()];
    }
    let route = |listen: Ipv4Addr, kind, targets: Vec<Target>, epoch, label| {
        let (backends, direct, direct_tls) = split(targets);
        Route {
            listen: SocketAddr::V4(SocketAddrV4::new(listen, group.port)),
            owner: owner.to_string(),
            kind,
            backends,
            direct,
            direct_tls,
            epoch,
            label,
            admission: admission.clone(),
            tls: tls.clone(),
            served_by: None,
        }
    };
    let mut routes = Vec::new();
    for p in &placed {
        routes.push(Route {
            listen: SocketAddr::V4(SocketAddrV4::new(p.intent.endpoint, p.spec.port)),
            ..route(
                p.intent.endpoint,
                RouteKind::Node,
                vec![target(ctx, &p.spec, &p.intent, &p.observed)],
                0,
                format!("{} node", p.spec.id),
            )
        });
    }
    if cluster {
        routes.extend(cluster_routes(
            ctx,
            owner,
            group,
            &placed,
            configuration,
            &route,
        ));
    }
    if sharded {
        return Ok(routes);
    }
    for (shard_id, intent) in &shards {
        let members: Vec<&Placed> = placed
            .iter()
            .filter(|p| p.spec.shard_id.as_deref() == Some(shard_id.as_str()))
            .collect();
        // Only a primary that runs as one at this epoch takes connections; while a failover
        // switches, the endpoint has no backend and the data path holds new connections
        // (bounded) for the new one.
        let primary: Vec<Target> = members
            .iter()
            .filter(|p| {
                p.spec.id == intent.primary
                    && p.observed.healthy
                    && p.observed.role == Some(Role::Primary)
                    && p.observed.epoch == intent.epoch
            })
            .map(|p| target(ctx, &p.spec, &p.intent, &p.observed))
            .collect();
        let replicas: Vec<Target> = members
            .iter()
            .filter(|p| {
                p.spec.id != intent.primary
                    && p.spec.deletion.is_none()
                    && p.observed.healthy
                    && p.observed.link_up
                    && p.observed.role == Some(Role::Replica)
            })
            .map(|p| target(ctx, &p.spec, &p.intent, &p.observed))
            .collect();
        // The labels name the group alone while it has one shard (as before shards existed).
        let name = if shards.len() == 1 {
            group.id.clone()
        } else {
            format!("{} {shard_id}", group.id)
        };
        routes.push(route(
            intent.primary_endpoint,
            RouteKind::Primary,
            primary.clone(),
            intent.epoch,
            format!("{name} primary"),
        ));
        // In `compatible` the replicas are cluster replicas: a plain client's read there is
        // answered `MOVED` (only a cluster client's `READONLY` connection reads a replica), so
        // the reader endpoint reaches the primary until the group is `enabled`.
        let replicas_serve_plain_reads = !cluster;
        routes.push(route(
            intent.reader_endpoint,
            RouteKind::Reader,
            if replicas.is_empty() || !replicas_serve_plain_reads {
                primary
            } else {
                replicas
            },
            intent.epoch,
            format!("{name} reader"),
        ));
    }
    Ok(routes)
}

/// The routes only a cluster-mode group has: each member's cluster bus behind its endpoint
/// (the nodes announce their endpoint addresses, so they reach each other there; only the
/// nodes' own addresses are admitted, without TLS: the bus is Redis's node-to-node protocol),
/// and the configuration endpoint, over every member that runs healthy.
fn cluster_routes(
    ctx: &Context,
    owner: &str,
    group: &GroupSpec,
    placed: &[Placed],
    configuration: Option<GroupIntent>,
    route: &dyn Fn(Ipv4Addr, RouteKind, Vec<Target>, u64, String) -> Route,
) -> Vec<Route> {
    let mut routes = Vec::new();
    // While a group moves into cluster mode, members still outside the cluster have no bus,
    // and answer no cluster client.
    let in_cluster = |p: &&Placed| p.spec.cluster_mode.runs_cluster();
    for p in placed.iter().filter(in_cluster) {
        let bus = cluster_bus_port(p.spec.port);
        let bus_address = SocketAddr::V4(SocketAddrV4::new(p.intent.private, bus));
        routes.push(Route {
            listen: SocketAddr::V4(SocketAddrV4::new(p.intent.endpoint, bus)),
            owner: owner.to_string(),
            kind: RouteKind::Node,
            backends: vec![RouteBackend::Tcp(bus_address)],
            direct: vec![bus_address],
            direct_tls: Vec::new(),
            epoch: 0,
            label: format!("{} cluster bus", p.spec.id),
            admission: RouteAdmission::Sources(vec![ctx.config.cidr.to_string()]),
            tls: None,
            served_by: None,
        });
    }
    if let Some(configuration) = configuration {
        let healthy = placed
            .iter()
            .filter(in_cluster)
            .filter(|p| {
                p.spec.deletion.is_none()
                    && p.observed.healthy
                    && p.observed.created
                    && p.observed.cluster_engine
            })
            .map(|p| target(ctx, &p.spec, &p.intent, &p.observed))
            .collect();
        routes.push(route(
            configuration.configuration_endpoint,
            RouteKind::Configuration,
            healthy,
            0,
            format!("{} configuration", group.id),
        ));
    }
    routes
}

/// Brings the stored routes of `owner` (`<region>/<id>`) to what its resources say.
///
/// # Errors
/// Store failures; retried.
pub(crate) async fn reconcile(ctx: Arc<Context>, owner: String) -> Result<Next, ReconcileError> {
    update(ctx.store.as_ref(), |w| -> Result<(), ReconcileError> {
        let wanted = desired(&ctx, w, &owner)?;
        let keys: Vec<String> = wanted.iter().map(|r| route_key(r.listen)).collect();
        for stale in w.lookup(tables::ROUTES_BY_OWNER, &owner)? {
            if !keys.contains(&stale) {
                w.delete_doc::<Route>(&stale)?;
            }
        }
        for (key, route) in keys.iter().zip(&wanted) {
            if w.doc::<Route>(key)?.as_ref() != Some(route) {
                w.put_doc(key, route)?;
            }
        }
        Ok(())
    })?;
    Ok(Next::Done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrocache_model::network::{default_security_group, Rule};

    fn rule(protocol: &str, ports: Option<(i64, i64)>, peer: Peer) -> Rule {
        Rule {
            id: String::new(),
            protocol: protocol.into(),
            from_port: ports.map(|p| p.0),
            to_port: ports.map(|p| p.1),
            peer,
            description: None,
        }
    }

    fn cidr(c: &str) -> Peer {
        Peer::Cidr(c.into())
    }

    fn sources(admission: &RouteAdmission) -> Vec<String> {
        match admission {
            RouteAdmission::Any => vec!["any".into()],
            RouteAdmission::Sources(nets) => nets.clone(),
        }
    }

    // Goal: an endpoint admits what its security groups' ingress rules admit on its TCP port:
    // TCP rules covering the port and all-traffic rules count, UDP and other ports do not,
    // a source-group rule admits this host (loopback), unknown groups add nothing, and no
    // security group at all admits everyone. Method: rules on two groups, several ports.
    #[test]
    fn admission_from_ingress_rules() {
        let mut app = default_security_group("123456789012", "us-east-1", "vpc-1", "x");
        app.name = "app".into();
        app.ingress = vec![
            rule("tcp", Some((6379, 6379)), cidr("10.0.0.0/16")),
            rule("tcp", Some((6000, 7000)), cidr("10.1.0.0/16")),
            rule("udp", Some((6379, 6379)), cidr("10.2.0.0/16")),
            rule("tcp", Some((22, 22)), cidr("10.3.0.0/16")),
        ];
        let default = default_security_group("123456789012", "us-east-1", "vpc-1", "default");
        let mut other = default.clone();
        other.id = "sg-0000000000000000b".into();
        other.ingress = vec![rule("-1", None, cidr("192.168.1.0/24"))];
        let groups = vec![app.clone(), default.clone(), other.clone()];

        let on = |ids: &[&String], port| {
            let ids: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
            sources(&admission(&groups, &ids, port))
        };
        assert_eq!(on(&[&app.id], 6379), ["10.0.0.0/16", "10.1.0.0/16"]);
        assert_eq!(on(&[&app.id], 6380), ["10.1.0.0/16"]);
        assert_eq!(on(&[&app.id], 7001), Vec::<String>::new());
        assert_eq!(on(&[&default.id], 6379), ["127.0.0.0/8"]);
        assert_eq!(
            on(&[&app.id, &other.id], 6379),
            ["10.0.0.0/16", "10.1.0.0/16", "192.168.1.0/24"]
        );
        assert_eq!(
            on(&[&"sg-0123456789abcdef0".to_string()], 6379),
            Vec::<String>::new()
        );
        assert_eq!(on(&[], 6379), ["any"]);
    }
}
