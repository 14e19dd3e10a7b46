//! The route table: what the control plane tells the router to serve.
//!
//! A [`RouteTable`] is an immutable snapshot that replaces the previous one whole; the router
//! computes the difference itself, so the publisher never has to describe changes.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

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
    /// The group's epoch; it grows on every primary change. A table that offers a lower epoch
    /// than the one running is stale and refused for that endpoint.
    pub epoch: u64,
    /// A human name for logs and metrics, e.g. `"rg1 primary"`.
    pub label: String,
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
