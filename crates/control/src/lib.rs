//! The control plane: what every API operation does, and the loops that make it real.
//!
//! API calls land in [`service::Service`], which checks them against the model's rules and the
//! store and writes *spec* in one transaction — nothing slow happens there. The reconcilers in
//! [`reconcile`] wake on every store commit (and on a short tick), compare spec with *intent* and
//! *observed* facts, and do the next step: place nodes ([`addresses`]), start redis-server
//! processes through the agent, wire replication, publish routes ([`routes`]) for the router,
//! record [`events`], and confirm facts. Every step is idempotent, so a crash at any point is
//! finished by the next run.
//!
//! # Layout
//! - [`service`]: one module per resource with the API operations (`replication_group`,
//!   `cache_cluster`, `event`, `tag`, `engine_version`, `parameter_group`) and the
//!   [`service::view`] types the API encodes.
//! - [`reconcile`]: the controller loop ([`reconcile::Controller`]) and one reconciler per
//!   resource (`node`, `group`); `parameters` applies parameter groups to nodes.
//! - [`addresses`]: the address book of endpoint and private addresses inside `--endpoint-cidr`.
//! - [`routes`]: the router's route table computed from the store.
//! - [`events`]: recording and querying events.
//! - [`object_store`]: the [`object_store::ObjectStore`] trait behind `--s3-endpoint` (snapshot
//!   export and seeding from `SnapshotArns`); `ferrocache-s3` implements it.
//! - [`runtime`]: [`runtime::NodeRuntime`], the seam between reconcilers and nodes (real: the
//!   agent; tests: a simulation).
//!
//! # Dependency rules
//! Its Ferrocache dependencies are exactly `model`, `store`, `engine`, `agent`, `encryption`,
//! `pki` and `router` (the route *types*). It must not speak HTTP or XML: `axum`, `hyper`,
//! `http`, `quick-xml` and `xmlparser` never appear in its dependency tree, nor does
//! `aws-sdk-s3` (the S3 client is `ferrocache-s3`'s, behind [`object_store::ObjectStore`]).

pub mod addresses;
pub mod clock;
pub mod events;
pub mod object_store;
pub mod reconcile;
pub mod routes;
pub mod runtime;
pub mod service;

pub use service::{Page, Service, ServiceConfig, ServiceError};

/// Lower-case hex of `bytes` (SHA-256 digests in manifests and events).
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
