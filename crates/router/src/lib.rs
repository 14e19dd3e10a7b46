//! The client-facing endpoints of Ferrocache: accept a connection, pick a `redis-server` from
//! the route table, copy bytes both ways.
//!
//! Every endpoint a client sees (a node endpoint, a group's primary endpoint, its reader
//! endpoint) is one TCP listener of the [`Router`] on its own loopback address, e.g.
//! `127.77.0.5:6379`. Its owner hands it the endpoints whose routes changed
//! ([`Router::apply_changes`]) or a whole [`RouteTable`] ([`Router::apply`], diffed against
//! what runs); the router binds, re-routes or closes endpoints. Each accepted connection is spliced to one backend (a TCP address or a
//! Unix socket of a `redis-server`) and the router never looks inside the bytes: Redis parses
//! the protocol, we only move it.
//!
//! Primary changes are fenced: when a `Primary` (or `Node`) endpoint's epoch grows or its
//! backend changes, every live connection spliced under the old route is closed before
//! `apply` returns, so an old-epoch connection can never keep writing to a demoted node.
//!
//! # The kernel path
//! A router made with [`Router::with_kernel`] hands each endpoint it can to the kernel
//! ([`ferrocache_redirect`]): a plaintext endpoint whose backends have TCP addresses
//! ([`EndpointRoute::direct`]) gets its admitted clients connected straight to the node by eBPF
//! at `connect()`, with no user-space hop; the listener still takes what the kernel leaves
//! (refused sources, a failover's wait, TLS). The router keeps the route snapshot and decides
//! the fence; the kernel is told the route before it is stored, and the redirected connections
//! the new route does not keep are closed at once, then swept once more (`kernel`).
//! [`Router::data_path`] and [`EndpointStats::data_path`] say which path serves an endpoint.
//!
//! The hot path follows the engineering guide: the accept loop reads an immutable route
//! snapshot swapped atomically ([`arc_swap`]), a connection copies through two fixed-size
//! buffers allocated once, counters are relaxed atomics, and no lock is held while copying.
//!
//! # Layout
//! - [`route`]: [`RouteTable`], [`EndpointRoute`], [`EndpointKind`], [`Backend`],
//!   [`Security`] ([`Admission`] by source address, optional [`Tls`]) — the input.
//! - [`limits`]: [`RouterLimits`] and the named defaults for every bound.
//! - [`stats`]: [`RouterStats`] and [`EndpointStats`], the per-endpoint counters.
//! - [`error`]: [`RouterError`], why `apply` refused an endpoint.
//! - `router`: [`Router`], the table diff (bind, re-route, fence, remove).
//! - `endpoint`: one listener, its accept loop, its route snapshot and its live connections.
//! - `connection`: one client connection: TLS or plaintext (first byte), wait for a backend,
//!   connect, register, splice.
//! - `splice`: the two-direction copy loop.
//! - `kernel`: [`DataPath`]; which endpoints the kernel serves, and the sweeps that fence the
//!   connections it made.
//!
//! # Dependency rules
//! The router reads route tables only: it depends on no Ferrocache crate but
//! `ferrocache-redirect` (the kernel path, which knows only addresses) — not `store`, `model`
//! or `control` — and on nothing that speaks XML or HTTP: `quick-xml`, `axum` and `hyper` never
//! appear in its dependency tree. It never parses Redis commands on the hot path, so `redis`
//! does not appear either.
//!
//! # Security
//! Each endpoint admits a connection only if its source address is in the route's
//! [`Admission`] (checked in the accept loop, before any task is spawned: a refused connection
//! is closed at once and counted as `denied`). With [`Tls`], the connection's first byte tells
//! a TLS handshake (0x16) from plaintext: `Required` closes plaintext at once, `Preferred`
//! splices it as usual; a TLS connection is handshaken (bounded by the handshake timeout),
//! then spliced through `tokio-rustls`. A plaintext endpoint takes the same path as before.

mod connection;
mod endpoint;
pub mod error;
mod kernel;
pub mod limits;
pub mod route;
mod router;
mod splice;
pub mod stats;

pub use error::RouterError;
pub use ferrocache_redirect::{RedirectError, Redirector};
pub use kernel::DataPath;
pub use limits::RouterLimits;
pub use route::{
    Admission, Backend, EndpointKind, EndpointRoute, RouteTable, Security, Tls, TlsMode,
};
pub use router::Router;
pub use stats::{EndpointStats, RouterStats};
/// The rustls types a [`Tls`] is built from.
pub use tokio_rustls::rustls;
