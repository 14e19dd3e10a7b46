//! The router's route table, computed from the store.
//!
//! Node endpoints go to their node; a group's primary endpoint goes to the node its intent names
//! primary, tagged with the group's epoch (the router fences connections of older epochs); the
//! reader endpoint spreads over the replicas that are healthy and in sync, or the primary when
//! there are none, as ElastiCache's reader endpoint does.
//!
//! Every endpoint also carries its [`Security`]: the sources its security groups admit (see
//! [`admission`]) and, when the group (or standalone cluster) has encryption in transit, TLS
//! with a certificate naming every endpoint address of the group, issued by the local CA.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::Path;
use std::sync::Arc;

use ferrocache_model::group::{GroupIntent, GroupSpec};
use ferrocache_model::network::{Peer, SecurityGroup};
use ferrocache_model::node::{NodeIntent, NodeObserved, NodeSpec, Role};
use ferrocache_model::transit::TransitEncryptionMode;
use ferrocache_pki::{Certificates, ServerNames, DNS_SUFFIX};
use ferrocache_router::{
    Admission, Backend, EndpointKind, EndpointRoute, RouteTable, Security, Tls, TlsMode,
};
use ferrocache_store::{ReadExt, Reader, StoreError};
use ipnet::{IpNet, Ipv4Net};

use crate::reconcile::node::socket_path;

fn backend(nodes_dir: &Path, spec: &NodeSpec, intent: &NodeIntent) -> Backend {
    match socket_path(nodes_dir, &spec.id) {
        Some(path) => Backend::Unix(path),
        None => Backend::Tcp(SocketAddr::V4(SocketAddrV4::new(intent.private, spec.port))),
    }
}

/// Where a security-group rule naming a source *group* admits connections from: the hosts
/// registered in that group. Ferrocache runs on one host, whose addresses are the loopback
/// network, so such a rule admits local clients (the default group's self-rule keeps the
/// zero-configuration path open).
pub const SOURCE_GROUP_HOSTS: Ipv4Net = match Ipv4Net::new(Ipv4Addr::new(127, 0, 0, 0), 8) {
    Ok(net) => net,
    Err(_) => panic!("loopback network"),
};

/// The sources that the security groups `ids` (of `region`) admit on TCP `port`: every
/// ingress rule for TCP (or all protocols) whose port range covers `port`, CIDR peers as they
/// are, source-group peers as [`SOURCE_GROUP_HOSTS`]. No security group at all (data from
/// before security groups existed) admits everyone; groups whose rules admit nothing on the
/// port admit nobody, as a closed security group does.
pub fn admission(
    groups: &HashMap<(String, String), SecurityGroup>,
    region: &str,
    ids: &[String],
    port: u16,
) -> Admission {
    if ids.is_empty() {
        return Admission::Any;
    }
    let mut sources: Vec<IpNet> = Vec::new();
    for id in ids {
        let Some(group) = groups.get(&(region.to_string(), id.clone())) else {
            continue;
        };
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
    Admission::Sources(Arc::from(sources))
}

/// The DNS names in a certificate of `owner` (a group or standalone cluster id) in `region`:
/// `<owner>.<region>.ferrocache.internal` and every name below it (`master.…`, `replica.…`,
/// `<member>.…`), for clients that map such names to the endpoints in `/etc/hosts`.
fn dns_names(owner: &str, region: &str) -> Vec<String> {
    let base = format!("{owner}.{region}.{DNS_SUFFIX}");
    vec![format!("*.{base}"), base]
}

/// TLS for the endpoints of `owner` with `addresses`, or `None` when encryption in transit is
/// off. Without a CA (`certs` is `None`: a controller run without one, as in simulations) or
/// when issuing fails, the endpoints are left out of the table rather than served in
/// plaintext (`Err`).
fn tls_for(
    certs: Option<&Certificates>,
    mode: Option<TransitEncryptionMode>,
    owner: &str,
    region: &str,
    addresses: &[Ipv4Addr],
) -> Result<Option<Tls>, ()> {
    let Some(mode) = mode else {
        return Ok(None);
    };
    let Some(certs) = certs else {
        tracing::warn!(%owner, "encryption in transit without a certificate authority; endpoints not served");
        return Err(());
    };
    let names = ServerNames::new(
        addresses.iter().map(|a| IpAddr::V4(*a)),
        dns_names(owner, region),
    );
    let key = format!("{region}/{owner}");
    match certs.server_tls(&key, &names) {
        Ok(server) => Ok(Some(Tls::new(
            match mode {
                TransitEncryptionMode::Preferred => TlsMode::Preferred,
                TransitEncryptionMode::Required => TlsMode::Required,
            },
            server.config,
            server.fingerprint,
        ))),
        Err(e) => {
            tracing::warn!(%owner, error = %e, "cannot issue a server certificate; endpoints not served");
            Err(())
        }
    }
}

/// The whole route table. `certs` issues the certificates of groups with encryption in
/// transit.
///
/// # Errors
/// Store failures.
pub fn table(
    r: &dyn Reader,
    nodes_dir: &Path,
    certs: Option<&Certificates>,
) -> Result<RouteTable, StoreError> {
    let mut endpoints = Vec::new();
    let security_groups: HashMap<(String, String), SecurityGroup> = r
        .docs::<SecurityGroup>("")?
        .into_iter()
        .map(|(_, g)| ((g.region.clone(), g.id.clone()), g))
        .collect();
    let nodes = r.docs::<NodeSpec>("")?;
    let mut placed = Vec::new();
    for (key, spec) in &nodes {
        let Some(intent) = r.doc::<NodeIntent>(key)? else {
            continue;
        };
        let observed = r.doc::<NodeObserved>(key)?.unwrap_or_default();
        placed.push((spec, intent, observed));
    }
    let mut groups = Vec::new();
    for (key, group) in r.docs::<GroupSpec>("")? {
        if let Some(intent) = r.doc::<GroupIntent>(&key)? {
            groups.push((group, intent));
        }
    }
    // One security per group (its members' node endpoints share it) and per standalone node.
    let mut group_security: HashMap<(String, String), Option<Security>> = HashMap::new();
    for (group, intent) in &groups {
        let mut addresses = vec![intent.primary_endpoint, intent.reader_endpoint];
        addresses.extend(
            placed
                .iter()
                .filter(|(s, _, _)| {
                    s.region == group.region && s.group_id.as_deref() == Some(&group.id)
                })
                .map(|(_, i, _)| i.endpoint),
        );
        let security = tls_for(
            certs,
            group.transit_encryption,
            &group.id,
            &group.region,
            &addresses,
        )
        .ok()
        .map(|tls| Security {
            admission: admission(
                &security_groups,
                &group.region,
                &group.security_group_ids,
                group.port,
            ),
            tls,
        });
        group_security.insert((group.region.clone(), group.id.clone()), security);
    }

    for (spec, intent, _) in &placed {
        let security = match &spec.group_id {
            Some(group_id) => group_security
                .get(&(spec.region.clone(), group_id.clone()))
                .cloned()
                // A member whose group spec is gone (being deleted) keeps its own settings.
                .unwrap_or_else(|| node_security(certs, &security_groups, spec, intent)),
            None => node_security(certs, &security_groups, spec, intent),
        };
        let Some(security) = security else {
            continue;
        };
        endpoints.push(EndpointRoute {
            listen: SocketAddr::V4(SocketAddrV4::new(intent.endpoint, spec.port)),
            kind: EndpointKind::Node,
            backends: vec![backend(nodes_dir, spec, intent)],
            epoch: 0,
            label: format!("{} node", spec.id),
            security,
        });
    }
    for (group, intent) in &groups {
        let Some(Some(security)) = group_security.remove(&(group.region.clone(), group.id.clone()))
        else {
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
            security: security.clone(),
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
            security,
        });
    }
    if let Some(certs) = certs {
        let owners: std::collections::HashSet<String> = groups
            .iter()
            .map(|(g, _)| format!("{}/{}", g.region, g.id))
            .chain(
                placed
                    .iter()
                    .map(|(s, _, _)| format!("{}/{}", s.region, s.id)),
            )
            .collect();
        certs.retain(&|owner| owners.contains(owner));
    }
    endpoints.sort_by_key(|e| e.listen);
    Ok(RouteTable { endpoints })
}

/// The security of a node's own endpoint from its own spec (a standalone cluster, or a member
/// whose group is gone); `None` when its TLS cannot be served.
fn node_security(
    certs: Option<&Certificates>,
    security_groups: &HashMap<(String, String), SecurityGroup>,
    spec: &NodeSpec,
    intent: &NodeIntent,
) -> Option<Security> {
    let tls = tls_for(
        certs,
        spec.transit_encryption,
        &spec.id,
        &spec.region,
        &[intent.endpoint],
    )
    .ok()?;
    Some(Security {
        admission: admission(
            security_groups,
            &spec.region,
            &spec.security_group_ids,
            spec.port,
        ),
        tls,
    })
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

    fn sources(admission: &Admission) -> Vec<String> {
        match admission {
            Admission::Any => vec!["any".into()],
            Admission::Sources(nets) => nets.iter().map(|n| n.to_string()).collect(),
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
        let groups: HashMap<(String, String), SecurityGroup> =
            [app.clone(), default.clone(), other.clone()]
                .into_iter()
                .map(|g| (("us-east-1".to_string(), g.id.clone()), g))
                .collect();

        let on = |ids: &[&String], port| {
            let ids: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
            sources(&admission(&groups, "us-east-1", &ids, port))
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
        // Another region's group of the same id is not this one.
        assert_eq!(
            sources(&admission(&groups, "eu-west-1", &[app.id.clone()], 6379)),
            Vec::<String>::new()
        );
    }
}
