//! The control plane: what every API operation does, and the loops that make it real.
//!
//! API calls land in [`service::Service`], which checks them against the model's rules and the
//! store and writes *spec* in one transaction — nothing slow happens there. The controller in
//! [`reconcile`] queues the resources each store commit concerns (and the nodes whose process
//! exited or froze), compares spec with *intent* and *observed* facts, and does the next step:
//! place nodes ([`addresses`]), start redis-server processes through the agent, wire
//! replication, move primaries (one failover state machine per shard), write the routes the
//! data path serves ([`routes`]), record [`events`], and confirm facts. Every step is
//! idempotent, so a crash at any point is finished by the next run.
//!
//! # Layout
//! - [`service`]: one module per resource with the API operations (`replication_group`,
//!   `cache_cluster`, `snapshot`, `parameter_group`, `subnet_group`, `network`, `user`,
//!   `modify`, `event`, `tag`, `engine_version`) and the [`service::view`] types the API
//!   encodes.
//! - [`reconcile`]: the controller ([`reconcile::Controller`]), its work `queue` and
//!   `triggers`, and one reconciler per resource: `node` (with `placement`, `drain`, `process`, `seed`,
//!   `role`, `cluster` (cluster-mode membership), `settings`, `tls` (a node's own TLS port
//!   and certificate)), `failover` (a shard's state machine), `group`, `routes`, `snapshot`
//!   (with `shards`: one RDB per shard of a cluster-mode group), `automatic`, `reshard`
//!   (online resharding: slots moved with their keys), `cluster_mode` (a live group's members
//!   carried into cluster mode).
//! - [`addresses`]: the address book of endpoint and private addresses inside `--endpoint-cidr`.
//! - [`capacity`]: hosts' memory for cache nodes (several hosts on one store).
//! - [`routes`]: the data path's side of routes: the stored routes served by the router.
//! - [`migrate`]: brings an older data directory to this release's layout at start-up.
//! - [`events`]: recording and querying events.
//! - [`disk`]: free space where the nodes keep their data (the low-space event).
//! - [`sampling`]: every node's engine figures, sampled every second for `GET /metrics` and,
//!   as ElastiCache's metrics, for CloudWatch (through a [`sampling::MetricPublisher`]).
//! - [`log_delivery`]: the nodes' slow logs and engine logs delivered to CloudWatch Logs (through
//!   a [`log_delivery::LogSink`]) in ElastiCache's formats (`format`), with the delivery facts
//!   the status is derived from.
//! - [`clock`]: the clock of automatic-snapshot windows (shiftable in tests).
//! - [`object_store`]: the [`object_store::ObjectStore`] trait behind `--s3-endpoint` (snapshot
//!   export and seeding from `SnapshotArns`); `ferrocache-s3` implements it.
//! - [`runtime`]: [`runtime::NodeRuntime`], the seam between reconcilers and nodes (real: the
//!   agent; tests: a simulation).
//!
//! # Dependency rules
//! Its Ferrocache dependencies are exactly `model`, `store`, `engine`, `agent`, `encryption`,
//! `pki`, `router` (the route *types*) and `metrics` (where samples and counts go). It must not speak HTTP or XML: `axum`, `hyper`,
//! `http`, `quick-xml` and `xmlparser` never appear in its dependency tree, nor does
//! `aws-sdk-s3` (the S3 client is `ferrocache-s3`'s, behind [`object_store::ObjectStore`]).

pub mod addresses;
pub mod capacity;
pub mod clock;
pub mod disk;
pub mod events;
pub mod log_delivery;
pub mod migrate;
pub mod object_store;
pub mod reconcile;
pub mod routes;
pub mod runtime;
pub mod sampling;
pub mod service;

pub use service::{Page, Service, ServiceConfig, ServiceError};

/// Lower-case hex of `bytes` (SHA-256 digests in manifests and events).
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
