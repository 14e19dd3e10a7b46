//! Per-endpoint counters: live atomics on the data path, plain snapshots for readers.
//!
//! Connections add to the live `Counters` with relaxed atomics (no lock, no ordering needed: each
//! counter is independent and read only for metrics); [`Router::stats`](crate::Router::stats)
//! copies them into [`RouterStats`].

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::kernel::DataPath;
use crate::route::EndpointKind;

/// The counters of one endpoint at one moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointStats {
    /// The endpoint's listen address.
    pub listen: SocketAddr,
    /// The endpoint's label from its route.
    pub label: String,
    /// The endpoint's kind from its route.
    pub kind: EndpointKind,
    /// Which data path serves it now.
    pub data_path: DataPath,
    /// Connections the kernel connected straight to a node (kernel path); they are not in
    /// `accepted`, `active` or the byte counts, which count what the router carries.
    pub redirected: u64,
    /// Connections accepted since the endpoint started (including refused ones).
    pub accepted: u64,
    /// Connections open now (waiting for a backend or spliced).
    pub active: u64,
    /// Connections closed at once because the endpoint was at its connection limit.
    pub refused: u64,
    /// Connections closed at once because no security group rule admits their source.
    pub denied: u64,
    /// Plaintext connections closed at once by an endpoint that requires TLS.
    pub plaintext_refused: u64,
    /// TLS handshakes completed.
    pub tls_handshakes: u64,
    /// TLS handshakes that failed (garbage, an old protocol version, a timeout).
    pub tls_failed: u64,
    /// Connections closed because their backend could not be reached.
    pub connect_failed: u64,
    /// Connections closed because no backend appeared within the backend wait.
    pub backend_wait_expired: u64,
    /// Connections closed by fencing (primary change, backend removed) or endpoint removal.
    pub fenced: u64,
    /// Bytes read from clients and sent on to backends.
    pub bytes_in: u64,
    /// Bytes read from backends and sent on to clients.
    pub bytes_out: u64,
}

/// The counters of every endpoint, ordered by listen address.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RouterStats {
    /// One entry per running endpoint.
    pub endpoints: Vec<EndpointStats>,
}

impl RouterStats {
    /// The entry of the endpoint listening on `listen`, if it runs.
    pub fn endpoint(&self, listen: SocketAddr) -> Option<&EndpointStats> {
        self.endpoints.iter().find(|e| e.listen == listen)
    }
}

/// The live counters of one endpoint, shared by its accept loop and its connections.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) accepted: AtomicU64,
    pub(crate) active: AtomicU64,
    pub(crate) refused: AtomicU64,
    pub(crate) denied: AtomicU64,
    pub(crate) plaintext_refused: AtomicU64,
    pub(crate) tls_handshakes: AtomicU64,
    pub(crate) tls_failed: AtomicU64,
    pub(crate) connect_failed: AtomicU64,
    pub(crate) backend_wait_expired: AtomicU64,
    pub(crate) fenced: AtomicU64,
    pub(crate) bytes_in: AtomicU64,
    pub(crate) bytes_out: AtomicU64,
}

impl Counters {
    /// Adds one to `counter`.
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Copies the counters into a snapshot for the given endpoint identity.
    pub(crate) fn snapshot(
        &self,
        listen: SocketAddr,
        label: String,
        kind: EndpointKind,
    ) -> EndpointStats {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        EndpointStats {
            listen,
            label,
            kind,
            data_path: DataPath::Router,
            redirected: 0,
            accepted: load(&self.accepted),
            active: load(&self.active),
            refused: load(&self.refused),
            denied: load(&self.denied),
            plaintext_refused: load(&self.plaintext_refused),
            tls_handshakes: load(&self.tls_handshakes),
            tls_failed: load(&self.tls_failed),
            connect_failed: load(&self.connect_failed),
            backend_wait_expired: load(&self.backend_wait_expired),
            fenced: load(&self.fenced),
            bytes_in: load(&self.bytes_in),
            bytes_out: load(&self.bytes_out),
        }
    }
}
