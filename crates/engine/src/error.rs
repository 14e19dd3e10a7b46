//! The engine's one error type. Variants say which node and which command failed and keep the
//! cause, so the agent and control layers can tell "the node is loading" from "the node is gone"
//! from "Redis refused the command" without parsing strings. The start-up check variants
//! (`RedisServer*`) are written to be shown to a user as is: one line, what is wrong, how to fix
//! it.

use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong while talking to, or preparing to run, a `redis-server`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// A [`NodeConfig`](crate::NodeConfig) field cannot be rendered into a safe `redis.conf`
    /// (a newline in a value, a relative path, a malformed directive name, ...).
    #[error("invalid node config: {field}: {reason}")]
    InvalidConfig {
        /// The field or `extra` directive that was rejected.
        field: String,
        /// Why it was rejected.
        reason: String,
    },

    /// The TCP or Unix connection to the node could not be established.
    #[error("cannot connect to redis node at {addr}: {source}")]
    Connect {
        /// The address we dialled.
        addr: String,
        /// The transport error reported by the client library.
        #[source]
        source: redis::RedisError,
    },

    /// The connection failed (reset, closed, refused, protocol error) while a command ran.
    #[error("{command} to redis node at {addr} failed: {source}")]
    Connection {
        /// The address of the node.
        addr: String,
        /// The command that was in flight.
        command: String,
        /// The transport error reported by the client library.
        #[source]
        source: redis::RedisError,
    },

    /// Connecting or a command did not finish within its timeout.
    #[error("{command} to redis node at {addr} timed out after {timeout:?}")]
    Timeout {
        /// The address of the node.
        addr: String,
        /// The command (or `connect`) that timed out.
        command: String,
        /// The bound that was exceeded.
        timeout: Duration,
    },

    /// The node answered `-LOADING`: it is up but still loading its dataset into memory.
    #[error("redis node at {addr} is loading its dataset")]
    Loading {
        /// The address of the node.
        addr: String,
    },

    /// The node answered the command with an error reply (`-ERR ...`, `-NOPERM ...`, ...).
    #[error("{command} to redis node at {addr} was refused: {message}")]
    Reply {
        /// The address of the node.
        addr: String,
        /// The command that was refused.
        command: String,
        /// Redis's own error code and message, e.g. `ERR Background save already in progress`.
        message: String,
    },

    /// The node answered with a reply of a shape this client does not understand.
    #[error("{command} to redis node at {addr} returned an unexpected reply: {detail}")]
    UnexpectedReply {
        /// The address of the node.
        addr: String,
        /// The command whose reply was not understood.
        command: String,
        /// What was wrong with the reply.
        detail: String,
    },

    /// `INFO` text that lacks what every real `INFO` has (the `role` field).
    #[error("malformed INFO output: {reason}")]
    InfoMalformed {
        /// What is missing or wrong.
        reason: String,
    },

    /// `CLUSTER INFO` or `CLUSTER NODES` text that lacks what every real reply has (a
    /// required field, a readable node line).
    #[error("malformed {command} output: {reason}")]
    ClusterMalformed {
        /// The command whose text was not understood (`CLUSTER INFO`, `CLUSTER NODES`).
        command: String,
        /// What is missing or wrong.
        reason: String,
    },

    /// The `redis-server` binary does not exist at the given path or on `PATH`.
    #[error(
        "redis-server not found at `{}`: install it with `apt-get install redis-server` \
         or pass --redis-server PATH",
        path.display()
    )]
    RedisServerNotFound {
        /// The path (or bare name looked up on `PATH`) that was tried.
        path: PathBuf,
    },

    /// The `redis-server` binary exists but could not be run or did not print a version.
    #[error(
        "cannot run `{} --version`: {reason}; install Redis 7 with `apt-get install \
         redis-server` or pass --redis-server PATH to a working 7.x binary",
        path.display()
    )]
    RedisServerUnusable {
        /// The binary that was tried.
        path: PathBuf,
        /// What went wrong (permission denied, timed out, unrecognised output, ...).
        reason: String,
    },

    /// The `redis-server` binary runs but is not a 7.x release.
    #[error(
        "redis-server at `{}` is version {found}, but Ferrocache needs {required}.x: install \
         Redis 7 (Debian 12: `apt-get install redis-server`) or pass --redis-server PATH to a \
         {required}.x binary",
        path.display()
    )]
    RedisServerVersion {
        /// The binary that was checked.
        path: PathBuf,
        /// The version it reported.
        found: String,
        /// The major version Ferrocache requires.
        required: u32,
    },
}

impl EngineError {
    /// True when the error means "the node answered, but is still loading its dataset".
    pub fn is_loading(&self) -> bool {
        matches!(self, EngineError::Loading { .. })
    }
}
