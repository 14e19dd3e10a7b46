//! One scrape's page: the nodes' latest samples, Ferrocache's own figures, and what is read
//! live at scrape time (the work queue, the endpoints' counters).

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::own::{EndpointFigures, Own};
use crate::redis::NodeFamilies;
use crate::samples::Samples;

/// The `Content-Type` of the page (OpenMetrics text, which Prometheus reads natively).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// What is read where it lives at each scrape.
#[derive(Debug, Clone, Default)]
pub struct Live {
    /// Work items ready, running or timed in the control plane's queue.
    pub queue_depth: u64,
    /// Every endpoint's counters.
    pub endpoints: Vec<EndpointFigures>,
    /// Room on the file system of the data directory: free and total bytes, when known.
    pub data_directory: Option<(u64, u64)>,
}

/// Everything `GET /metrics` renders.
pub struct Exposition {
    samples: Arc<Samples>,
    own: Arc<Own>,
    live: Box<dyn Fn() -> Live + Send + Sync>,
}

impl std::fmt::Debug for Exposition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exposition").finish_non_exhaustive()
    }
}

impl Exposition {
    /// The page over `samples` and `own`, with `live` asked at every scrape.
    pub fn new(
        samples: Arc<Samples>,
        own: Arc<Own>,
        live: impl Fn() -> Live + Send + Sync + 'static,
    ) -> Self {
        Self {
            samples,
            own,
            live: Box::new(live),
        }
    }

    /// Ferrocache's own figures, for the parts that add to them.
    pub fn own(&self) -> &Arc<Own> {
        &self.own
    }

    /// The page, in OpenMetrics text ([`CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(NodeFamilies::new(self.samples.latest())));
        self.own.register(&mut registry);
        registry.register_collector(Box::new(LiveFamilies((self.live)())));
        let mut page = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut page, &registry);
        page
    }
}

/// The families read at scrape time.
#[derive(Debug)]
struct LiveFamilies(Live);

impl Collector for LiveFamilies {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let depth = ConstGauge::new(self.0.queue_depth as i64);
        depth.encode(encoder.encode_descriptor(
            "ferrocache_reconcile_queue_depth",
            "Work items ready, running or timed in the control plane's queue",
            None,
            depth.metric_type(),
        )?)?;
        if let Some((free, total)) = self.0.data_directory {
            for (name, help, bytes) in [
                (
                    "ferrocache_data_directory_free_bytes",
                    "Bytes that may still be written on the file system of the data directory",
                    free,
                ),
                (
                    "ferrocache_data_directory_size_bytes",
                    "Size of the file system of the data directory",
                    total,
                ),
            ] {
                let gauge = ConstGauge::new(bytes as i64);
                gauge.encode(encoder.encode_descriptor(
                    name,
                    help,
                    None,
                    gauge.metric_type(),
                )?)?;
            }
        }
        type Pick = fn(&EndpointFigures) -> u64;
        let counters: [(&str, &str, Pick); 9] = [
            (
                "ferrocache_endpoint_connections",
                "Connections accepted by each endpoint (by the router or the kernel)",
                |e| e.accepted,
            ),
            (
                "ferrocache_endpoint_redirected_connections",
                "Connections the kernel connected straight to the node",
                |e| e.redirected,
            ),
            (
                "ferrocache_endpoint_refused_connections",
                "Connections refused at the endpoint's connection limit",
                |e| e.refused,
            ),
            (
                "ferrocache_endpoint_denied_connections",
                "Connections refused because no security group rule admits their source",
                |e| e.denied,
            ),
            (
                "ferrocache_endpoint_plaintext_refused_connections",
                "Plaintext connections refused by an endpoint that requires TLS",
                |e| e.plaintext_refused,
            ),
            (
                "ferrocache_endpoint_fenced_connections",
                "Connections closed by fencing (a primary change)",
                |e| e.fenced,
            ),
            (
                "ferrocache_endpoint_received_bytes",
                "Bytes from clients to the node through the router",
                |e| e.bytes_in,
            ),
            (
                "ferrocache_endpoint_sent_bytes",
                "Bytes from the node to clients through the router",
                |e| e.bytes_out,
            ),
            (
                "ferrocache_endpoint_active_connections",
                "Connections open now through the router",
                |e| e.active,
            ),
        ];
        for (name, help, pick) in counters {
            if self.0.endpoints.is_empty() {
                break;
            }
            let active = name.ends_with("active_connections");
            let metric_type = if active {
                prometheus_client::metrics::MetricType::Gauge
            } else {
                prometheus_client::metrics::MetricType::Counter
            };
            let mut metric = encoder.encode_descriptor(name, help, None, metric_type)?;
            for endpoint in &self.0.endpoints {
                let labels = [
                    ("endpoint", endpoint.listen.clone()),
                    ("label", endpoint.label.clone()),
                    ("kind", endpoint.kind.clone()),
                    ("data_path", endpoint.data_path.clone()),
                ];
                let one = metric.encode_family(&labels)?;
                if active {
                    ConstGauge::new(pick(endpoint) as i64).encode(one)?;
                } else {
                    ConstCounter::new(pick(endpoint)).encode(one)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::samples::{NodeLabels, NodeSample};

    /// Keeps `sample` as its node's latest, as the sampler does.
    fn record(samples: &Samples, sample: NodeSample) {
        let info = sample.up.then_some(sample.info);
        samples.update(&sample.labels, info, sample.taken_at);
    }

    fn sample(id: &str, up: bool, info: &[(&str, &str)]) -> NodeSample {
        NodeSample {
            labels: NodeLabels {
                instance: "127.0.0.1:6379".into(),
                replication_group: "rg".into(),
                cache_cluster: id.into(),
                node: "0001".into(),
            },
            up,
            info: std::iter::once("# Server\r\n".to_string())
                .chain(info.iter().map(|(k, v)| format!("{k}:{v}\r\n")))
                .collect(),
            taken_at: std::time::SystemTime::now(),
        }
    }

    // Goal: a node's INFO comes out under redis_exporter's names with its labels — counters
    // with `_total`, commandstats and keyspace as labelled series — a node that is down only
    // as `redis_up 0`, and Ferrocache's own figures beside them. Method: two samples, one
    // API request, one endpoint; look for exact lines in the page.
    #[test]
    fn renders_redis_exporter_names() {
        let samples = Arc::new(Samples::default());
        record(
            &samples,
            sample(
                "rg-001",
                true,
                &[
                    ("role", "master"),
                    ("redis_version", "7.0.15"),
                    ("connected_clients", "3"),
                    ("total_commands_processed", "42"),
                    ("keyspace_hits", "7"),
                    ("cmdstat_get", "calls=5,usec=250,usec_per_call=50.00"),
                    ("db0", "keys=10,expires=2,avg_ttl=0"),
                    ("used_memory", "not a number"),
                ],
            ),
        );
        record(&samples, sample("rg-002", false, &[]));
        let own = Arc::new(Own::default());
        own.api_request("DescribeReplicationGroups", "200");
        let page = Exposition::new(samples, own, || Live {
            queue_depth: 4,
            endpoints: vec![EndpointFigures {
                listen: "127.0.1.1:6379".into(),
                label: "rg primary".into(),
                kind: "primary".into(),
                data_path: "router".into(),
                bytes_in: 9,
                active: 1,
                ..Default::default()
            }],
            data_directory: Some((5, 10)),
        })
        .render();
        let labels = |id: &str| {
            format!("instance=\"127.0.0.1:6379\",namespace=\"rg\",replication_group=\"rg\",cache_cluster=\"{id}\",node=\"0001\"")
        };
        for line in [
            format!("redis_up{{{}}} 1.0", labels("rg-001")),
            format!("redis_up{{{}}} 0.0", labels("rg-002")),
            format!("redis_connected_clients{{{}}} 3.0", labels("rg-001")),
            format!("redis_commands_processed_total{{{}}} 42.0", labels("rg-001")),
            format!("redis_keyspace_hits_total{{{}}} 7.0", labels("rg-001")),
            format!("redis_commands_total{{{},cmd=\"get\"}} 5.0", labels("rg-001")),
            format!(
                "redis_commands_duration_seconds_total{{{},cmd=\"get\"}} 0.00025",
                labels("rg-001")
            ),
            format!("redis_db_keys{{{},db=\"db0\"}} 10.0", labels("rg-001")),
            format!("redis_db_keys_expiring{{{},db=\"db0\"}} 2.0", labels("rg-001")),
            "ferrocache_api_requests_total{operation=\"DescribeReplicationGroups\",code=\"200\"} 1".to_string(),
            "ferrocache_reconcile_queue_depth 4".to_string(),
            "ferrocache_data_directory_free_bytes 5".to_string(),
            "ferrocache_endpoint_received_bytes_total{endpoint=\"127.0.1.1:6379\",label=\"rg primary\",kind=\"primary\",data_path=\"router\"} 9".to_string(),
            "ferrocache_endpoint_active_connections{endpoint=\"127.0.1.1:6379\",label=\"rg primary\",kind=\"primary\",data_path=\"router\"} 1".to_string(),
        ] {
            assert!(page.lines().any(|l| l == line), "missing {line:?} in\n{page}");
        }
        assert!(
            !page.contains("redis_memory_used_bytes"),
            "not a number: left out"
        );
        assert!(
            !page.contains(&format!("redis_connected_clients{{{}}}", labels("rg-002"))),
            "a node that is down has only redis_up"
        );
        assert!(page.trim_end().ends_with("# EOF"));
    }
}
