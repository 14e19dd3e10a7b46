//! The agent's error type. Every variant names the node, and start failures carry the last
//! lines of the node's logs, because "redis-server exited" is useless without Redis's own
//! reason (a bad directive, a port in use, a corrupt RDB).

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use ferrocache_engine::EngineError;

/// Everything that can go wrong while managing node processes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    /// The node id or config cannot be used (bad id, unsafe value, relative path, ...).
    #[error("node {node_id}: {source}")]
    InvalidConfig {
        /// The node.
        node_id: String,
        /// What the engine refused.
        #[source]
        source: EngineError,
    },

    /// The config's `dir` is not the directory the agent keeps this node in.
    #[error("node {node_id}: config dir is {found} but this agent keeps the node in {expected}")]
    DirMismatch {
        /// The node.
        node_id: String,
        /// `<nodes_dir>/<node_id>`.
        expected: PathBuf,
        /// What the config said.
        found: PathBuf,
    },

    /// A file or directory operation failed.
    #[error("node {node_id}: cannot {action} {}: {source}", path.display())]
    Io {
        /// The node.
        node_id: String,
        /// What we were doing (`write`, `create`, `remove`, ...).
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },

    /// `redis-server` could not be started at all.
    #[error("node {node_id}: cannot start {}: {source}", program.display())]
    Spawn {
        /// The node.
        node_id: String,
        /// The `redis-server` binary we tried to run.
        program: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },

    /// `redis-server` started but exited before it was ready.
    #[error(
        "node {node_id}: redis-server exited during start ({status}); last log lines:\n{log_tail}"
    )]
    ExitedDuringStart {
        /// The node.
        node_id: String,
        /// How it exited (exit code or signal), or `exited` for an adopted process.
        status: String,
        /// The last lines of `redis.log` and `stdout.log`.
        log_tail: String,
    },

    /// `redis-server` is running but did not become ready (answer `PING`, `loading:0`) in
    /// time. It is left running: a large RDB may simply still be loading, and a later
    /// `ensure_running` adopts it and keeps waiting.
    #[error("node {node_id}: redis-server (pid {pid}) not ready after {timeout:?}: {last_error}")]
    StartTimeout {
        /// The node.
        node_id: String,
        /// The process that is still starting.
        pid: u32,
        /// The bound that was exceeded.
        timeout: Duration,
        /// Why the last readiness check failed.
        last_error: String,
    },

    /// A live process runs from this node's directory but does not answer as this node on the
    /// configured address (hung, or started with a different address). The agent does not
    /// kill it on its own; `stop` does.
    #[error(
        "node {node_id}: process {pid} runs in the node's directory but does not answer as this \
         node on {addr}: {reason}; stop the node first"
    )]
    Unresponsive {
        /// The node.
        node_id: String,
        /// The process found.
        pid: u32,
        /// The address it was expected on.
        addr: String,
        /// What the check saw.
        reason: String,
    },

    /// `SHUTDOWN SAVE` was refused (the RDB could not be written); the node keeps running so
    /// its data is not lost.
    #[error("node {node_id}: SHUTDOWN SAVE refused, node left running: {source}")]
    ShutdownRefused {
        /// The node.
        node_id: String,
        /// Redis's reply.
        #[source]
        source: EngineError,
    },

    /// The process survived `SHUTDOWN`, SIGTERM and SIGKILL.
    #[error("node {node_id}: process {pid} is still running after SIGKILL")]
    StillRunning {
        /// The node.
        node_id: String,
        /// The process.
        pid: u32,
    },

    /// The node has no live process (for [`Agent::kill`](crate::Agent::kill)).
    #[error("node {node_id}: no running process")]
    NotRunning {
        /// The node.
        node_id: String,
    },

    /// Sending a signal failed.
    #[error("node {node_id}: cannot signal process {pid}: {source}")]
    Signal {
        /// The node.
        node_id: String,
        /// The process.
        pid: u32,
        /// The OS error.
        #[source]
        source: io::Error,
    },

    /// The agent of the host the node runs on could not be reached (no connection, no
    /// answer): the host may be down or cut off, its node still running there. Whether its
    /// nodes are gone is decided by the host's event stream, not by one failed call.
    #[error("node {node_id}: host {host} cannot be reached: {message}")]
    HostUnreachable {
        /// The node.
        node_id: String,
        /// The host's name.
        host: String,
        /// What failed.
        message: String,
    },

    /// The agent of the host the node runs on answered with an error of its own (several
    /// hosts on one store).
    #[error("node {node_id}: host {host}: {message}")]
    Host {
        /// The node.
        node_id: String,
        /// The host's name.
        host: String,
        /// What failed.
        message: String,
    },

    /// A data file to seed a node with does not have the digest its manifest records (corrupt
    /// or replaced); the node's own data file is left as it was.
    #[error("node {node_id}: {} has SHA-256 {actual}, its manifest records {expected}", source_path.display())]
    DigestMismatch {
        /// The node.
        node_id: String,
        /// The file that was to be copied.
        source_path: PathBuf,
        /// The digest the manifest records.
        expected: String,
        /// The digest of the file's bytes.
        actual: String,
    },

    /// Sealing or unsealing the node's data file failed (encryption at rest): its key is not
    /// available, or the sealed file is damaged.
    #[error("node {node_id}: {source}")]
    AtRest {
        /// The node.
        node_id: String,
        /// What went wrong.
        #[source]
        source: ferrocache_encryption::EncryptionError,
    },

    /// A node's own TLS certificate could not be issued: the agent was given no CA, or the
    /// CA refused the names.
    #[error("node {node_id}: cannot issue the node's TLS certificate: {message}")]
    Certificate {
        /// The node.
        node_id: String,
        /// Why.
        message: String,
    },

    /// A node was to be seeded while its process runs (it would overwrite the file under it).
    #[error("node {node_id}: cannot place a data file while the node's process runs")]
    SeedWhileRunning {
        /// The node.
        node_id: String,
    },
}
