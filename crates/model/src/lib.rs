//! The resources of Ferrocache and the rules they obey.
//!
//! This crate holds the *types* every other crate speaks: replication groups (`Group`), cache
//! clusters (`Node` — in ElastiCache a "cache cluster" of Redis is exactly one node), events,
//! tags, ARNs, the node-type table and the engine versions, together with the validation rules
//! and AWS's exact messages for breaking them. It decides what is valid; it never does I/O.
//!
//! Each resource is split in three layers (see `docs/architecture.md`):
//! `spec` (what the API asked for, written only by the API path), `intent` (the placement the
//! control plane chose) and `observed` (facts the control plane last confirmed). The status a
//! client sees is *derived* from the three, never stored on its own, so it cannot drift from
//! what really happened.
//!
//! # Layout
//! - [`error`]: [`Fault`], the typed error of every rule, carrying AWS's message.
//! - [`ids`]: identifier rules (`ReplicationGroupId`, `CacheClusterId`, …) and member naming.
//! - [`arn`]: ARNs `arn:aws:elasticache:<region>:<account>:<type>:<id>`.
//! - [`node_type`]: AWS's node-type table (memory, vCPU) and the `maxmemory` it implies.
//! - [`engine`]: engines and engine versions we can run.
//! - [`zone`]: availability zones of a region and placement across them.
//! - [`group`]: replication groups (spec, observed, status) and `CreateReplicationGroup` rules.
//! - [`shard`]: shards (node groups: spec, intent, observed), the failover [`shard::Phase`] and
//!   the [`shard::Order`] each member takes from its shard.
//! - [`node`]: cache clusters / nodes (spec, intent, observed, status) and `CreateCacheCluster` rules.
//! - [`network`]: VPCs, subnets, security groups (the EC2 subset), the default VPC, and cache
//!   subnet groups.
//! - [`event`]: events and AWS's event texts.
//! - [`tag`]: tags and their limits.
//! - [`paging`]: `MaxRecords`/`Marker` rules.
//! - [`parameter`]: cache parameter groups (`redis7`), the parameter table and its rules.
//! - [`reshard`]: online resharding's plan: which slots move between which shards.
//! - [`snapshot`]: snapshots (spec, observed, status), their name rules and event texts.
//! - [`route`]: the endpoints the data path serves, as the control plane publishes them.
//! - [`modify`]: the rules of `ModifyReplicationGroup` / `ModifyCacheCluster` (what changes
//!   at once, what waits for the maintenance window) and the spec that results.
//! - [`auth`]: AUTH tokens of the `default` user and the rules for changing them.
//! - [`user`]: users and user groups (RBAC): their rules, access strings, and the ACL rules
//!   they become on the nodes; [`redis_commands`]: Redis 7.0's command names and ACL
//!   categories that access strings are checked against.
//! - [`at_rest`]: encryption at rest (`AtRestEncryptionEnabled`, `KmsKeyId`).
//! - [`log_delivery`]: `LogDeliveryConfigurations` (slow log and engine log to CloudWatch
//!   Logs): their rules, the nodes' delivery facts and the status derived from them.
//! - [`transit`]: encryption in transit (TLS endpoints, and plaintext while clients migrate).
//! - [`host`]: the hosts that share a store, as each registers itself.
//!
//! # Dependency rules
//! No I/O, no async runtime, no HTTP, no storage: it depends on no Ferrocache crate, and
//! `tokio`, `axum`, `hyper`, `redb` and `redis` never appear in its dependency tree.

pub mod arn;
pub mod at_rest;
pub mod auth;
pub mod engine;
pub mod error;
pub mod event;
pub mod group;
pub mod host;
pub mod ids;
pub mod log_delivery;
pub mod modify;
pub mod network;
pub mod node;
pub mod node_type;
pub mod paging;
pub mod parameter;
pub mod redis_commands;
pub mod reshard;
pub mod route;
pub mod shard;
pub mod snapshot;
pub mod tag;
pub mod transit;
pub mod user;
pub mod zone;

pub use error::Fault;

/// The account id used in ARNs when none is configured (the value AWS emulators and the AWS
/// SDK test suites expect).
pub const DEFAULT_ACCOUNT_ID: &str = "123456789012";

/// A point in time, always UTC.
pub type Timestamp = chrono::DateTime<chrono::Utc>;
