//! The harness's error type: what can go wrong while starting, stopping or waiting on the
//! binary. Each variant carries what a developer needs to see why a test could not even begin
//! (the path looked at, the log tail of a binary that died).

use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

/// Why the harness could not do what a test asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The `ferrocache` binary is not where the harness looked.
    #[error(
        "ferrocache binary not found at {path}: build it with `cargo build -p ferrocache` \
         or point FERROCACHE_BIN at it"
    )]
    BinaryNotFound {
        /// The path that was looked at.
        path: PathBuf,
    },
    /// A file or process operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What the harness was doing.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Ferrocache exited before it printed `Ready.`.
    #[error("ferrocache exited with {status} before it was ready; log tail:\n{log}")]
    Exited {
        /// How it exited.
        status: ExitStatus,
        /// The last lines of its stdout and stderr.
        log: String,
    },
    /// Ferrocache did not print `Ready.` in time (it has been killed).
    #[error("ferrocache did not print `Ready.` within {timeout:?}; log tail:\n{log}")]
    NotReady {
        /// How long the harness waited.
        timeout: Duration,
        /// The last lines of its stdout and stderr.
        log: String,
    },
    /// Ferrocache did not exit within the stop timeout after SIGTERM (it has been killed).
    #[error("ferrocache did not exit within {timeout:?} of SIGTERM (killed with SIGKILL)")]
    StopTimeout {
        /// How long the harness waited after SIGTERM.
        timeout: Duration,
    },
    /// The operation needs a running instance and there is none.
    #[error("ferrocache is not running")]
    NotRunning,
    /// A [`crate::wait_until`] condition did not hold in time.
    #[error("condition not met within {timeout:?}")]
    Timeout {
        /// How long the harness waited.
        timeout: Duration,
    },
}

impl Error {
    /// Wraps an I/O error with what the harness was doing.
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}
