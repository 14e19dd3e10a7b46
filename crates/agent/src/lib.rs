//! The node processes of one host: start `redis-server` for a node, adopt it again after
//! Ferrocache restarts, stop it (saving or not), remove it, probe it, and inject failures.
//!
//! The agent carries out orders from `control` and reports what it sees; it does not choose
//! roles, ports or when to save. Every operation is idempotent and safe to repeat after a
//! crash at any point, which is what lets the reconcilers above it be simple. Nodes run in
//! process groups of their own, so they outlive Ferrocache: a restart adopts them instead of
//! dropping their data.
//!
//! # Layout
//!
//! - [`node`]: [`Agent`] with `ensure_running`, `stop`, `remove`, `probe`, `pid`, `kill`,
//!   `liveness`, `process_events`, and the `cluster_*` admin calls of cluster mode;
//!   [`NodeProcess`] and [`Probe`].
//! - [`watch`]: one watch per node process the agent starts or adopts, reporting
//!   [`NodeEvent`]s (exit through a pidfd, stop and continue through SIGCHLD or a timer) as
//!   they happen, so nobody has to poll every node.
//! - [`slots`]: moving hash slots with their keys between primaries (online resharding).
//! - [`at_rest`]: a node's data files under encryption at rest (sealing `dump.rdb` on a clean
//!   stop, unsealing it before a start), through `ferrocache-encryption`.
//! - [`process`]: PID-level facts (pidfiles, liveness that treats zombies as dead, identity
//!   across PID reuse, signals, log tails).
//! - [`clean_stop`]: evidence of a clean stop beside the node's data file (a restart loads a
//!   data file it vouches for, whatever the control plane's store could record).
//! - [`tls`]: a node's own TLS files (certificate, key, CA), issued on the node's host from
//!   the CA the agent is given, so a node's private key never leaves its host.
//! - [`host`]: the host's own figures for host-level metrics (available memory, packets, a
//!   process's swap), from `/proc`.
//! - [`error`]: [`AgentError`], the one error type of this crate.
//!
//! # Dependency rules
//!
//! The agent's Ferrocache dependencies are exactly `ferrocache-engine`, through which all its
//! talk to Redis goes (`redis` is not a direct dependency), `ferrocache-encryption` (data
//! files at rest) and `ferrocache-pki` (nodes' own certificates). It must not write the store: `ferrocache-store` and `ferrocache-control`
//! never appear in its dependency tree; and it has no HTTP: neither do `axum` and `hyper`. What
//! it observes is returned to the caller, who records it. Today it is called in-process; later
//! the same API is served over the network, so nothing here may assume it shares memory with
//! the control plane.

pub mod at_rest;
pub mod clean_stop;
pub mod error;
pub mod host;
pub mod node;
pub mod process;
pub mod slots;
pub mod tls;
pub mod watch;

pub use error::AgentError;
pub use node::{
    Agent, Liveness, NodeProcess, Probe, ADMIN_TIMEOUT, KILL_EXIT_TIMEOUT, SHUTDOWN_EXIT_TIMEOUT,
    START_POLL_INTERVAL, START_TIMEOUT_DEFAULT, STDOUT_LOG_FILE_NAME, STDOUT_LOG_LEN_MAX,
    TERM_EXIT_TIMEOUT,
};
pub use process::Signal;
pub use tls::NodeTlsFiles;
pub use watch::{
    NodeEvent, ProcessEvent, EXIT_POLL_FALLBACK_INTERVAL, FROZEN_CHECK_INTERVAL,
    PROCESS_EVENTS_CAPACITY,
};
