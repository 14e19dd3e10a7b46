//! Everything Ferrocache needs to talk to a real `redis-server` 7.0, and nothing more.
//!
//! This crate knows how to render a node's `redis.conf`, how to check that the installed
//! `redis-server` is a 7.x binary, how to parse `INFO`, and how to send the handful of admin
//! commands the control plane uses (`PING`, `INFO`, `REPLICAOF`, `CONFIG`, `SHUTDOWN`, `SAVE`,
//! `BGSAVE`, `DBSIZE`, `ROLE`, and for cluster mode the `CLUSTER` subcommands `MEET`,
//! `ADDSLOTSRANGE`, `REPLICATE`, `FAILOVER`, `INFO`, `NODES` and `MYID`) with a timeout on
//! every call. It reports facts and carries out orders; whether a node should be a replica,
//! when to save, whom to promote or which slots a shard owns is decided by `control`.
//!
//! # Layout
//!
//! - [`config`]: [`NodeConfig`] and [`render`], the `redis.conf` we write for every node, with
//!   quoting that keeps a value from injecting a directive; [`ClusterConfig`] for cluster mode.
//! - [`info`]: [`Info`], the typed view of `INFO` output, parsed without ever panicking.
//! - [`cluster`]: [`ClusterInfo`] and [`ClusterNode`], the typed views of `CLUSTER INFO` and
//!   `CLUSTER NODES`, parsed without ever panicking.
//! - [`client`]: [`NodeClient`], an async admin client with per-call timeouts, addressed by
//!   [`NodeAddress`], with command names kept in [`CommandNames`] so they can be renamed.
//! - [`sampling`]: [`SamplingConnection`], a plain socket kept per node for the figures
//!   sampled every second (`INFO`, `SLOWLOG`), polled from the asker's own task so a thousand
//!   nodes are asked at once without a task each.
//! - [`version`]: [`check_redis_server`], the start-up check of the `redis-server` binary.
//! - [`identity`]: [`AdminIdentity`], the control plane's renamed commands and internal ACL
//!   user, which keep the restricted commands from clients.
//! - [`error`]: [`EngineError`], the one error type of this crate.
//!
//! # Dependency rules
//!
//! The engine builds on nothing of ours: it depends on no Ferrocache crate (neither the store
//! nor the model), and has no HTTP: `axum` and `hyper` never appear in its dependency tree.
//! Higher crates (`agent`, `control`) build on it. It must not decide anything: no retries
//! beyond a single call, no policy, no state kept between calls other than an open connection.

pub mod client;
pub mod cluster;
pub mod config;
pub mod error;
pub mod identity;
pub mod info;
pub mod sampling;
pub mod version;

pub use client::{
    ClusterFailoverMode, CommandNames, NodeAddress, NodeClient, ReplicaLink, RoleReply, SaveStart,
    SlotState, SlowlogEntry, BLOCKING_CALL_TIMEOUT_DEFAULT, CALL_TIMEOUT_DEFAULT,
};
pub use cluster::{ClusterInfo, ClusterNode, CLUSTER_NODE_ID_LEN, CLUSTER_SLOTS};
pub use config::{
    check_cluster, check_node_id, render, ClusterConfig, EngineTls, NodeConfig,
    CLUSTER_CONFIG_FILE_NAME, CONFIG_FILE_NAME, LOG_FILE_NAME, PID_FILE_NAME, RDB_FILE_NAME,
};
pub use error::EngineError;
pub use identity::{AdminIdentity, DEFAULT_USER_RULES, IDENTITY_FILE_NAME, RESTRICTED_ACL_RULES};
pub use info::{Info, ReplicaEntry, Role};
pub use sampling::SamplingConnection;
pub use version::{check_redis_server, REQUIRED_MAJOR_VERSION};
