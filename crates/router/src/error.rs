//! [`RouterError`]: why the router refused to apply an endpoint.
//!
//! [`Router::apply`](crate::Router::apply) reports per-endpoint failures as `std::io::Error`
//! (bind errors are the common case); refusals that are not I/O are wrapped in one with
//! `ErrorKind::InvalidInput` (or `Other` after shutdown) and carry a `RouterError` as their
//! inner error, so callers can `downcast_ref` to it.

use std::net::SocketAddr;

/// A reason, other than the operating system, to refuse an endpoint of a route table.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouterError {
    /// The table offers an epoch lower than the one the endpoint runs: it is stale (published
    /// before a failover), and applying it could route writes back to a demoted primary.
    #[error("endpoint {listen}: stale route epoch {offered} < running epoch {running}")]
    StaleEpoch {
        /// The endpoint's listen address.
        listen: SocketAddr,
        /// The epoch the endpoint runs.
        running: u64,
        /// The lower epoch the table offered.
        offered: u64,
    },
    /// The table lists the same listen address twice; the first entry was applied.
    #[error("endpoint {0}: listed more than once in the route table")]
    DuplicateListen(SocketAddr),
    /// `Router::shutdown` ran; the router serves nothing any more.
    #[error("endpoint {0}: the router is shut down")]
    ShutDown(SocketAddr),
}

impl RouterError {
    /// Wraps the error in the `std::io::Error` that `apply` reports.
    pub(crate) fn into_io(self) -> std::io::Error {
        let kind = match self {
            RouterError::ShutDown(_) => std::io::ErrorKind::Other,
            RouterError::StaleEpoch { .. } | RouterError::DuplicateListen(_) => {
                std::io::ErrorKind::InvalidInput
            }
        };
        std::io::Error::new(kind, self)
    }
}
