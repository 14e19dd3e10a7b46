//! Routes: the client-facing endpoints the data path serves, as the control plane publishes
//! them in the store.
//!
//! One [`Route`] per endpoint address, owned by the group or standalone cache cluster it
//! belongs to. The control plane's route reconciler writes them from the resources' facts; the
//! data path (today the in-process router) follows the store's change feed and serves them.
//! The two never share memory, so the router could run in another process or on another host
//! and still learn every change — the contract is this document.

use std::net::{Ipv4Addr, SocketAddr};

use serde::{Deserialize, Serialize};

/// What an endpoint stands for; decides how the data path picks and fences backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RouteKind {
    /// One node's own endpoint.
    Node,
    /// A shard's primary endpoint; follows failover.
    Primary,
    /// A shard's reader endpoint; spreads over the replicas in sync.
    Reader,
    /// A cluster-mode group's configuration endpoint; spreads over its healthy members (any
    /// of them answers `CLUSTER SLOTS`).
    Configuration,
}

/// Where a redis-server process accepts connections.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RouteBackend {
    /// Its private TCP address.
    Tcp(SocketAddr),
    /// Its Unix socket (cheaper than TCP, and invisible from the network).
    Unix(std::path::PathBuf),
}

/// Who may connect: the sources the endpoint's security groups admit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RouteAdmission {
    /// Everyone (no security group applies: records from before security groups existed).
    Any,
    /// Only these networks (CIDR strings); empty admits nobody.
    Sources(Vec<String>),
}

/// Encryption in transit of an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteTls {
    /// `TransitEncryptionMode`.
    pub mode: crate::transit::TransitEncryptionMode,
    /// Certificate owner (`<region>/<group or cluster id>`): every endpoint of one owner
    /// serves the same certificate.
    pub certificate: String,
    /// Every endpoint address the certificate must name (its IP SANs).
    pub addresses: Vec<Ipv4Addr>,
    /// DNS names the certificate must name too.
    pub dns_names: Vec<String>,
    /// Sources (CIDR strings) that may speak plaintext although the mode is `required`: the
    /// nodes of a cluster-mode group, which replicate through each other's endpoints.
    #[serde(default)]
    pub plaintext_peers: Vec<String>,
}

/// One endpoint the data path serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// The address the endpoint listens on (its key in the store).
    pub listen: SocketAddr,
    /// `<region>/<id>` of the group or standalone cache cluster it belongs to.
    pub owner: String,
    /// What it stands for.
    pub kind: RouteKind,
    /// Where connections go (`Node`/`Primary`: at most one; none while a failover switches).
    pub backends: Vec<RouteBackend>,
    /// The same nodes' own TCP addresses, in the order of `backends`: a data path that
    /// connects clients straight to the node (the kernel path) uses these. Empty in records
    /// written before it existed (the route reconciler fills it in).
    #[serde(default)]
    pub direct: Vec<SocketAddr>,
    /// The same nodes' own TLS ports (encryption in transit served by the engine), in the
    /// order of `backends`; empty unless every one of them serves TLS.
    #[serde(default)]
    pub direct_tls: Vec<SocketAddr>,
    /// The shard's epoch (0 for node endpoints): the data path refuses a lower one and fences
    /// connections of an older one.
    pub epoch: u64,
    /// A human name for logs and metrics, e.g. `"rg1 primary"`.
    pub label: String,
    /// Who may connect.
    pub admission: RouteAdmission,
    /// TLS, when the owner has encryption in transit.
    pub tls: Option<RouteTls>,
    /// The one host that serves the endpoint, when its nodes run on the leading host with
    /// addresses only that host reaches (its Unix sockets, its loopback); `None`: every host
    /// serves it (its nodes are reached over the hosts' addresses), or there is one host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub served_by: Option<String>,
}

/// The store key of the route listening on `listen`.
pub fn route_key(listen: SocketAddr) -> String {
    listen.to_string()
}
