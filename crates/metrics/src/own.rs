//! Ferrocache's own figures, under `ferrocache_`: API requests by operation and answer,
//! failovers and how long they took, reconcile runs by kind and how long they took, snapshot
//! durations; at scrape time also the work queue's depth and each endpoint's counters (read
//! from where they live, see [`Live`](crate::exposition::Live)).

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// A label set: name and value pairs.
type Labels = Vec<(&'static str, String)>;

/// Buckets of durations from 1 ms to about 33 s.
fn duration_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// The counters and histograms Ferrocache's parts add to as they work. Cheap to update from
/// any thread (atomics under the hood).
#[derive(Debug)]
pub struct Own {
    api_requests: Family<Labels, Counter>,
    failovers: Family<Labels, Counter>,
    failover_seconds: Histogram,
    reconcile_seconds: Family<Labels, Histogram, fn() -> Histogram>,
    snapshot_seconds: Histogram,
}

impl Default for Own {
    fn default() -> Self {
        Self {
            api_requests: Family::default(),
            failovers: Family::default(),
            failover_seconds: duration_buckets(),
            reconcile_seconds: Family::new_with_constructor(duration_buckets),
            snapshot_seconds: Histogram::new(exponential_buckets(0.01, 2.0, 16)),
        }
    }
}

/// One endpoint's counters at scrape time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointFigures {
    /// `ip:port` it listens on.
    pub listen: String,
    /// Its label (`"rg1 primary"`).
    pub label: String,
    /// Its kind (`node`, `primary`, `reader`).
    pub kind: String,
    /// The data path serving it (`kernel`, `router`).
    pub data_path: String,
    /// Connections accepted since it started, by the router or the kernel.
    pub accepted: u64,
    /// Of those, connections the kernel connected straight to the node (they pass no byte
    /// through Ferrocache, so they are not in the byte counts or `active`).
    pub redirected: u64,
    /// Connections open now.
    pub active: u64,
    /// Connections refused at the connection limit.
    pub refused: u64,
    /// Connections refused because no security group rule admits their source.
    pub denied: u64,
    /// Plaintext connections refused by an endpoint that requires TLS.
    pub plaintext_refused: u64,
    /// Connections closed by fencing (a primary change).
    pub fenced: u64,
    /// Bytes from clients to the node.
    pub bytes_in: u64,
    /// Bytes from the node to clients.
    pub bytes_out: u64,
}

impl Own {
    /// An API request of `operation` answered with `code` (`"200"` or the error code).
    pub fn api_request(&self, operation: &str, code: &str) {
        self.api_requests
            .get_or_create(&vec![
                ("operation", operation.to_string()),
                ("code", code.to_string()),
            ])
            .inc();
    }

    /// A failover of shard `node_group` of `replication_group` completed, in `seconds` from
    /// the primary's loss to the new primary taking writes when that loss was seen (a planned
    /// switch has no loss: counted, not timed).
    pub fn failover_completed(
        &self,
        replication_group: &str,
        node_group: &str,
        seconds: Option<f64>,
    ) {
        self.failovers
            .get_or_create(&vec![
                ("replication_group", replication_group.to_string()),
                ("node_group", node_group.to_string()),
            ])
            .inc();
        if let Some(seconds) = seconds {
            self.failover_seconds.observe(seconds);
        }
    }

    /// A reconcile run of `kind` took `seconds`.
    pub fn reconciled(&self, kind: &str, seconds: f64) {
        self.reconcile_seconds
            .get_or_create(&vec![("kind", kind.to_string())])
            .observe(seconds);
    }

    /// A snapshot completed in `seconds` (request to files in place).
    pub fn snapshot_completed(&self, seconds: f64) {
        self.snapshot_seconds.observe(seconds);
    }

    /// Registers every figure (handles sharing their values) in `registry`.
    pub(crate) fn register(&self, registry: &mut Registry) {
        registry.register(
            "ferrocache_api_requests",
            "ElastiCache API requests, by operation and answer code",
            self.api_requests.clone(),
        );
        registry.register(
            "ferrocache_failovers",
            "Failovers completed, by replication group and node group",
            self.failovers.clone(),
        );
        registry.register(
            "ferrocache_failover_duration_seconds",
            "From a primary's loss to the new primary taking writes",
            self.failover_seconds.clone(),
        );
        registry.register(
            "ferrocache_reconcile_duration_seconds",
            "Reconcile runs by kind of resource, and how long each took",
            self.reconcile_seconds.clone(),
        );
        registry.register(
            "ferrocache_snapshot_duration_seconds",
            "From a snapshot's request to its files in place",
            self.snapshot_seconds.clone(),
        );
    }
}
