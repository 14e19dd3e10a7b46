//! Ferrocache's metrics: the figures every node's engine reports, as last sampled, and
//! Ferrocache's own counters, rendered in Prometheus's text exposition format for
//! `GET /metrics`.
//!
//! The control plane samples the nodes (`ferrocache_control::sampling`) and records each
//! sample here ([`Samples`]); the data path's counters are read from the router at scrape
//! time; the API counts its requests into [`Own`]. [`Exposition::render`] turns all of it into
//! one page: per-node figures under redis_exporter's names and labels (so dashboards built for
//! it work unchanged) and Ferrocache's own under `ferrocache_`.
//!
//! # Layout
//! - [`samples`]: the latest sample of each node ([`Samples`]) and the labels that name it.
//! - [`redis`]: the per-node families, redis_exporter's names mapped from `INFO` fields.
//! - [`own`]: Ferrocache's own figures ([`Own`]): API requests, failovers, reconciles, endpoints.
//! - [`exposition`]: one scrape's page ([`Exposition`]).
//! - [`elasticache`]: ElastiCache's metric set (`AWS/ElastiCache` names and units) from two
//!   readings of a node, for CloudWatch.
//!
//! # Dependency rules
//! No Ferrocache crate: this one knows labels and numbers, not nodes or stores.
//! `prometheus-client` writes the format.

pub mod elasticache;
pub mod exposition;
pub mod own;
pub mod redis;
pub mod samples;

pub use exposition::Exposition;
pub use own::{EndpointFigures, Own};
pub use samples::{NodeLabels, NodeSample, Samples};
