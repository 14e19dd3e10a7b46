//! The latest sample of each node.
//!
//! One entry per cache cluster, replaced by every sample and dropped when the node goes: the
//! memory is bounded by the number of nodes, whatever the uptime.

use std::collections::BTreeMap;
use std::sync::RwLock;
use std::time::SystemTime;

/// The labels that name a node's series, as redis_exporter users expect them, plus
/// ElastiCache's names for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeLabels {
    /// The node's endpoint, `ip:port` (redis_exporter's `instance`).
    pub instance: String,
    /// The replication group it belongs to; for a standalone cache cluster, its own id. Also
    /// rendered as `namespace`, the label dashboard 763 selects instances by.
    pub replication_group: String,
    /// `CacheClusterId` (`rg-001`).
    pub cache_cluster: String,
    /// `CacheNodeId` (`0001`).
    pub node: String,
}

/// What one look at a node found.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeSample {
    /// Which node.
    pub labels: NodeLabels,
    /// Whether it answered.
    pub up: bool,
    /// Its `INFO` text as it answered (empty when down), `commandstats` included; parsed only
    /// when read ([`NodeSample::fields`]), so sampling stays cheap.
    pub info: String,
    /// When it was taken.
    pub taken_at: SystemTime,
}

impl NodeSample {
    /// The `field:value` lines of its `INFO` (section headers and blank lines skipped).
    pub fn fields(&self) -> BTreeMap<&str, &str> {
        self.info
            .lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| line.trim_end_matches('\r').split_once(':'))
            .collect()
    }
}

/// The latest sample of every node, by cache cluster id.
#[derive(Debug, Default)]
pub struct Samples {
    nodes: RwLock<BTreeMap<String, NodeSample>>,
}

impl Samples {
    /// Keeps `info` (none: the node did not answer) taken at `taken_at` as the latest sample
    /// of the node named by `labels`, in place: every second for every node, so the labels
    /// are copied only when they are new or changed.
    pub fn update(&self, labels: &NodeLabels, info: Option<String>, taken_at: SystemTime) {
        let mut nodes = self.nodes.write().unwrap_or_else(|e| e.into_inner());
        let up = info.is_some();
        let info = info.unwrap_or_default();
        match nodes.get_mut(labels.cache_cluster.as_str()) {
            Some(kept) => {
                if kept.labels != *labels {
                    kept.labels = labels.clone();
                }
                kept.up = up;
                kept.info = info;
                kept.taken_at = taken_at;
            }
            None => {
                let sample = NodeSample {
                    labels: labels.clone(),
                    up,
                    info,
                    taken_at,
                };
                nodes.insert(labels.cache_cluster.clone(), sample);
            }
        }
    }

    /// Drops the node `cache_cluster` (deleted).
    pub fn forget(&self, cache_cluster: &str) {
        let mut nodes = self.nodes.write().unwrap_or_else(|e| e.into_inner());
        nodes.remove(cache_cluster);
    }

    /// Every node's latest sample, ordered by cache cluster id.
    pub fn latest(&self) -> Vec<NodeSample> {
        let nodes = self.nodes.read().unwrap_or_else(|e| e.into_inner());
        nodes.values().cloned().collect()
    }

    /// The cache cluster ids sampled.
    pub fn nodes(&self) -> Vec<String> {
        let nodes = self.nodes.read().unwrap_or_else(|e| e.into_inner());
        nodes.keys().cloned().collect()
    }
}
