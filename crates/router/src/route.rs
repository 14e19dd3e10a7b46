//! The route table: what the control plane tells the router to serve.
//!
//! A [`RouteTable`] is an immutable snapshot that replaces the previous one whole; the router
//! computes the difference itself, so the publisher never has to describe changes.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use ipnet::IpNet;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

/// Every endpoint the router should serve, keyed by listen address.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RouteTable {
    /// The endpoints; each `listen` address appears at most once.
    pub endpoints: Vec<EndpointRoute>,
}

/// One client-facing endpoint and where its connections go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointRoute {
    /// The address the router listens on, e.g. `127.77.0.5:6379`; the endpoint's unique key.
    pub listen: SocketAddr,
    /// What the endpoint stands for; decides how backends are picked and fenced.
    pub kind: EndpointKind,
    /// Where connections go. `Node`/`Primary`: zero or one entry (zero while a failover is
    /// switching). `Reader`: the healthy replicas, or the primary when there are none.
    pub backends: Vec<Backend>,
    /// The same backends' own TCP addresses, in the same order, for the kernel path (which
    /// connects clients straight to them); empty when they are not known, and then only the
    /// router serves the endpoint.
    pub direct: Vec<SocketAddr>,
    /// The same backends' own TLS ports (the engine terminates TLS there), in the same order;
    /// empty unless every backend serves TLS. With them, the kernel path serves an endpoint
    /// that requires TLS: its clients' TLS goes straight to the engine.
    pub direct_tls: Vec<SocketAddr>,
    /// The group's epoch; it grows on every primary change. A table that offers a lower epoch
    /// than the one running is stale and refused for that endpoint.
    pub epoch: u64,
    /// A human name for logs and metrics, e.g. `"rg1 primary"`.
    pub label: String,
    /// Who may connect and whether the endpoint speaks TLS. Admission changes apply to new
    /// connections (security groups are stateful in AWS too). TLS becoming `Required` closes
    /// the plaintext connections, as ElastiCache does; TLS removed closes the TLS connections.
    pub security: Security,
}

/// The security of one endpoint: admission by source address, then optional TLS.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Security {
    /// Which client addresses may connect.
    pub admission: Admission,
    /// TLS termination; `None`: plaintext only.
    pub tls: Option<Tls>,
}

/// Which source addresses an endpoint admits (its security groups' ingress rules, flattened).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Admission {
    /// Every source (no security groups apply).
    #[default]
    Any,
    /// Only sources inside one of these networks; an empty list admits nobody. A refused
    /// connection is closed at once and counted as `denied`.
    Sources(Arc<[IpNet]>),
}

impl Admission {
    /// Whether a client from `source` may connect. IPv4-mapped IPv6 sources are checked as
    /// the IPv4 address they carry.
    pub fn admits(&self, source: IpAddr) -> bool {
        match self {
            Admission::Any => true,
            Admission::Sources(nets) => {
                let source = source.to_canonical();
                nets.iter().any(|n| n.contains(&source))
            }
        }
    }
}

/// How an endpoint with TLS treats plaintext (ElastiCache's `TransitEncryptionMode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TlsMode {
    /// One port takes both: a connection whose first byte is a TLS handshake record (0x16)
    /// gets TLS, any other is spliced as plaintext.
    Preferred,
    /// Only TLS: a connection whose first byte is not a TLS handshake is closed at once.
    Required,
}

/// TLS termination of an endpoint: the mode and the server configuration (certificate, key,
/// protocol versions). Two `Tls` are equal when mode and certificate fingerprint are, so a
/// republished table with the same certificate changes nothing.
#[derive(Clone)]
pub struct Tls {
    /// Preferred or required.
    pub mode: TlsMode,
    /// Identifies the certificate (e.g. its SHA-256); compared instead of the configuration.
    pub fingerprint: String,
    /// Sources that may speak plaintext even when TLS is required: the nodes of a cluster,
    /// which replicate from each other through their endpoints (Redis announces one address
    /// per node, for clients and peers alike).
    pub plaintext_peers: Admission,
    acceptor: TlsAcceptor,
}

impl Tls {
    /// TLS in `mode` with `config`; `fingerprint` identifies the certificate it serves.
    pub fn new(mode: TlsMode, config: Arc<ServerConfig>, fingerprint: impl Into<String>) -> Self {
        Self {
            mode,
            fingerprint: fingerprint.into(),
            plaintext_peers: Admission::Sources(Arc::from(Vec::new())),
            acceptor: TlsAcceptor::from(config),
        }
    }

    /// The same, letting `peers` speak plaintext (see [`Tls::plaintext_peers`]).
    pub fn with_plaintext_peers(mut self, peers: Admission) -> Self {
        self.plaintext_peers = peers;
        self
    }

    /// The acceptor that runs handshakes with this configuration.
    pub(crate) fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }
}

impl PartialEq for Tls {
    fn eq(&self, other: &Self) -> bool {
        self.mode == other.mode
            && self.fingerprint == other.fingerprint
            && self.plaintext_peers == other.plaintext_peers
    }
}

impl Eq for Tls {}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls")
            .field("mode", &self.mode)
            .field("fingerprint", &self.fingerprint)
            .finish()
    }
}

impl fmt::Display for TlsMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TlsMode::Preferred => "preferred",
            TlsMode::Required => "required",
        })
    }
}

/// The role of an endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EndpointKind {
    /// One node's own endpoint (ElastiCache's per-cache-cluster address).
    Node,
    /// The group's primary endpoint; follows failover.
    Primary,
    /// The group's reader endpoint; spreads connections over the replicas.
    Reader,
}

/// Where a `redis-server` accepts connections.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    /// A TCP address, usually a private loopback port.
    Tcp(SocketAddr),
    /// A Unix socket path (`unixsocket` in redis.conf); cheaper than TCP loopback.
    Unix(PathBuf),
}

impl fmt::Display for EndpointKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EndpointKind::Node => "node",
            EndpointKind::Primary => "primary",
            EndpointKind::Reader => "reader",
        })
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Backend::Tcp(addr) => write!(f, "tcp:{addr}"),
            Backend::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Goal: admission is a plain membership test: any source for `Any`, none for an empty
    // list, IPv4-mapped IPv6 sources checked as IPv4. Method: a few addresses.
    #[test]
    fn admission_matches_sources() {
        let any = Admission::Any;
        assert!(any.admits("10.1.2.3".parse().unwrap()));
        let none = Admission::Sources(Arc::from(Vec::new()));
        assert!(!none.admits("127.0.0.1".parse().unwrap()));
        let some = Admission::Sources(Arc::from(vec![
            "127.0.0.0/24".parse::<IpNet>().unwrap(),
            "10.0.0.5/32".parse().unwrap(),
        ]));
        assert!(some.admits("127.0.0.200".parse().unwrap()));
        assert!(some.admits("10.0.0.5".parse().unwrap()));
        assert!(!some.admits("10.0.0.6".parse().unwrap()));
        assert!(!some.admits("127.0.1.1".parse().unwrap()));
        assert!(some.admits("::ffff:127.0.0.9".parse().unwrap()));
    }
}
