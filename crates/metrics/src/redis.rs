//! The per-node families: each node's latest `INFO` under redis_exporter's metric names, with
//! its labels (`instance`, `namespace`, `replication_group`, `cache_cluster`, `node`), so
//! dashboards and alerts written for redis_exporter work unchanged.
//!
//! A family is written only with the nodes that reported its field (a node that is down has
//! only `redis_up 0`); counters are rendered with OpenMetrics' `_total` suffix.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;

use crate::samples::{NodeLabels, NodeSample};

/// How a plain field is rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Gauge,
    Counter,
}

/// One `INFO` field rendered as one family.
struct Field {
    /// The family's name without `redis_` (and, for a counter, without `_total`).
    name: &'static str,
    /// The `INFO` field.
    info: &'static str,
    kind: Kind,
    help: &'static str,
}

const fn gauge(name: &'static str, info: &'static str, help: &'static str) -> Field {
    Field {
        name,
        info,
        kind: Kind::Gauge,
        help,
    }
}

const fn counter(name: &'static str, info: &'static str, help: &'static str) -> Field {
    Field {
        name,
        info,
        kind: Kind::Counter,
        help,
    }
}

/// The plain fields, in redis_exporter's names.
const FIELDS: &[Field] = &[
    gauge(
        "uptime_in_seconds",
        "uptime_in_seconds",
        "Seconds since the node's process started",
    ),
    gauge(
        "connected_clients",
        "connected_clients",
        "Client connections open",
    ),
    gauge(
        "blocked_clients",
        "blocked_clients",
        "Clients blocked on a blocking call",
    ),
    gauge(
        "memory_used_bytes",
        "used_memory",
        "Bytes allocated by the engine",
    ),
    gauge(
        "memory_used_rss_bytes",
        "used_memory_rss",
        "Resident set size of the node's process",
    ),
    gauge("memory_max_bytes", "maxmemory", "The node's maxmemory"),
    gauge(
        "mem_fragmentation_ratio",
        "mem_fragmentation_ratio",
        "RSS over allocated memory",
    ),
    counter(
        "commands_processed",
        "total_commands_processed",
        "Commands processed",
    ),
    counter(
        "connections_received",
        "total_connections_received",
        "Connections accepted",
    ),
    counter(
        "rejected_connections",
        "rejected_connections",
        "Connections refused (maxclients)",
    ),
    counter(
        "keyspace_hits",
        "keyspace_hits",
        "Key lookups that found the key",
    ),
    counter(
        "keyspace_misses",
        "keyspace_misses",
        "Key lookups that did not",
    ),
    counter("evicted_keys", "evicted_keys", "Keys evicted for maxmemory"),
    counter("expired_keys", "expired_keys", "Keys expired"),
    counter(
        "net_input_bytes",
        "total_net_input_bytes",
        "Bytes read from the network",
    ),
    counter(
        "net_output_bytes",
        "total_net_output_bytes",
        "Bytes written to the network",
    ),
    counter(
        "cpu_sys_seconds",
        "used_cpu_sys",
        "System CPU seconds of the node's process",
    ),
    counter(
        "cpu_user_seconds",
        "used_cpu_user",
        "User CPU seconds of the node's process",
    ),
    gauge(
        "instantaneous_ops_per_sec",
        "instantaneous_ops_per_sec",
        "Commands per second, as the engine estimates",
    ),
    gauge(
        "connected_slaves",
        "connected_slaves",
        "Replicas connected to this node",
    ),
    gauge(
        "master_repl_offset",
        "master_repl_offset",
        "The node's replication offset",
    ),
    gauge(
        "rdb_bgsave_in_progress",
        "rdb_bgsave_in_progress",
        "1 while a background save runs",
    ),
    gauge(
        "rdb_last_save_timestamp_seconds",
        "rdb_last_save_time",
        "When the last save completed (Unix time)",
    ),
];

/// The per-node families of one scrape, over the nodes' latest samples.
#[derive(Debug)]
pub struct NodeFamilies {
    samples: Vec<NodeSample>,
}

impl NodeFamilies {
    /// The families of `samples`.
    pub fn new(samples: Vec<NodeSample>) -> Self {
        Self { samples }
    }
}

/// One node as a scrape reads it: its labels, whether it is up, its `INFO` fields.
struct Parsed<'a> {
    labels: &'a NodeLabels,
    up: bool,
    fields: std::collections::BTreeMap<&'a str, &'a str>,
}

/// The labels every per-node series carries.
fn labels(node: &NodeLabels) -> Vec<(&'static str, String)> {
    vec![
        ("instance", node.instance.clone()),
        ("namespace", node.replication_group.clone()),
        ("replication_group", node.replication_group.clone()),
        ("cache_cluster", node.cache_cluster.clone()),
        ("node", node.node.clone()),
    ]
}

/// `value` as a number, if it is one.
fn number(value: &str) -> Option<f64> {
    value.trim().parse::<f64>().ok().filter(|v| v.is_finite())
}

/// The `key=value` pairs of a composite `INFO` value (`keys=3,expires=1,avg_ttl=0`).
fn pairs(value: &str) -> impl Iterator<Item = (&str, &str)> {
    value.split(',').filter_map(|pair| pair.split_once('='))
}

/// Writes one family: its descriptor, then one series per `(labels, value)`.
fn family(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    kind: Kind,
    series: Vec<(Vec<(&'static str, String)>, f64)>,
) -> Result<(), std::fmt::Error> {
    if series.is_empty() {
        return Ok(());
    }
    let metric_type = match kind {
        Kind::Gauge => MetricType::Gauge,
        Kind::Counter => MetricType::Counter,
    };
    let mut metric = encoder.encode_descriptor(name, help, None, metric_type)?;
    for (labels, value) in &series {
        let one = metric.encode_family(labels)?;
        match kind {
            Kind::Gauge => ConstGauge::new(*value).encode(one)?,
            Kind::Counter => ConstCounter::new(*value).encode(one)?,
        }
    }
    Ok(())
}

impl Collector for NodeFamilies {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        // Each sample's text is parsed once per scrape, here.
        let nodes: Vec<Parsed> = self
            .samples
            .iter()
            .map(|s| Parsed {
                labels: &s.labels,
                up: s.up,
                fields: s.fields(),
            })
            .collect();
        let up = nodes
            .iter()
            .map(|s| (labels(s.labels), if s.up { 1.0 } else { 0.0 }))
            .collect();
        family(
            &mut encoder,
            "redis_up",
            "1 if the node answered its last sample",
            Kind::Gauge,
            up,
        )?;

        let info = nodes
            .iter()
            .filter(|s| s.up)
            .map(|s| {
                let mut l = labels(s.labels);
                for (label, field) in [
                    ("role", "role"),
                    ("redis_version", "redis_version"),
                    ("redis_mode", "redis_mode"),
                    ("tcp_port", "tcp_port"),
                ] {
                    let value = s.fields.get(field).copied().unwrap_or_default();
                    l.push((label, value.to_string()));
                }
                (l, 1.0)
            })
            .collect();
        family(
            &mut encoder,
            "redis_instance_info",
            "The node's role and engine, as labels",
            Kind::Gauge,
            info,
        )?;

        for field in FIELDS {
            let series = nodes
                .iter()
                .filter_map(|s| {
                    let value = number(s.fields.get(field.info)?)?;
                    Some((labels(s.labels), value))
                })
                .collect();
            let name = format!("redis_{}", field.name);
            family(&mut encoder, &name, field.help, field.kind, series)?;
        }

        // `cmdstat_get:calls=3,usec=12,…`
        let mut calls = Vec::new();
        let mut seconds = Vec::new();
        // `db0:keys=3,expires=1,avg_ttl=0`
        let mut keys = Vec::new();
        let mut expiring = Vec::new();
        for s in &nodes {
            for (field, value) in &s.fields {
                if let Some(cmd) = field.strip_prefix("cmdstat_") {
                    for (k, v) in pairs(value) {
                        let mut l = labels(s.labels);
                        l.push(("cmd", cmd.to_string()));
                        match (k, number(v)) {
                            ("calls", Some(n)) => calls.push((l, n)),
                            ("usec", Some(n)) => seconds.push((l, n / 1e6)),
                            _ => {}
                        }
                    }
                } else if field.len() > 2
                    && field.starts_with("db")
                    && field[2..].bytes().all(|b| b.is_ascii_digit())
                {
                    for (k, v) in pairs(value) {
                        let mut l = labels(s.labels);
                        l.push(("db", field.to_string()));
                        match (k, number(v)) {
                            ("keys", Some(n)) => keys.push((l, n)),
                            ("expires", Some(n)) => expiring.push((l, n)),
                            _ => {}
                        }
                    }
                }
            }
        }
        family(
            &mut encoder,
            "redis_commands",
            "Calls of each command",
            Kind::Counter,
            calls,
        )?;
        family(
            &mut encoder,
            "redis_commands_duration_seconds",
            "Seconds spent in each command",
            Kind::Counter,
            seconds,
        )?;
        family(
            &mut encoder,
            "redis_db_keys",
            "Keys in each database",
            Kind::Gauge,
            keys,
        )?;
        family(
            &mut encoder,
            "redis_db_keys_expiring",
            "Keys with an expiry in each database",
            Kind::Gauge,
            expiring,
        )
    }
}
