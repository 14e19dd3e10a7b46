//! Events (`DescribeEvents`) and AWS's event texts.
//!
//! Every text here is AWS's wording where AWS published one (see
//! `shared/reference/elasticache-behaviour.md` §1); functions are named for the moment they
//! describe so a reader finds the text from the transition.

use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// How long events are kept (AWS: up to 14 days are retrievable).
pub const EVENT_RETENTION_DAYS: i64 = 14;
/// The default `DescribeEvents` window when no time is given, in minutes.
pub const EVENT_WINDOW_DEFAULT_MINUTES: i64 = 60;

/// The kind of resource an event is about (`SourceType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SourceType {
    /// `cache-cluster`
    CacheCluster,
    /// `cache-parameter-group`
    CacheParameterGroup,
    /// `cache-security-group`
    CacheSecurityGroup,
    /// `cache-subnet-group`
    CacheSubnetGroup,
    /// `replication-group`
    ReplicationGroup,
    /// `serverless-cache`
    ServerlessCache,
    /// `serverless-cache-snapshot`
    ServerlessCacheSnapshot,
    /// `user`
    User,
    /// `user-group`
    UserGroup,
}

impl SourceType {
    /// Every source type, for parsing.
    pub const ALL: [SourceType; 9] = [
        SourceType::CacheCluster,
        SourceType::CacheParameterGroup,
        SourceType::CacheSecurityGroup,
        SourceType::CacheSubnetGroup,
        SourceType::ReplicationGroup,
        SourceType::ServerlessCache,
        SourceType::ServerlessCacheSnapshot,
        SourceType::User,
        SourceType::UserGroup,
    ];

    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceType::CacheCluster => "cache-cluster",
            SourceType::CacheParameterGroup => "cache-parameter-group",
            SourceType::CacheSecurityGroup => "cache-security-group",
            SourceType::CacheSubnetGroup => "cache-subnet-group",
            SourceType::ReplicationGroup => "replication-group",
            SourceType::ServerlessCache => "serverless-cache",
            SourceType::ServerlessCacheSnapshot => "serverless-cache-snapshot",
            SourceType::User => "user",
            SourceType::UserGroup => "user-group",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == value)
    }
}

/// One event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Region of the resource.
    pub region: String,
    /// Id of the resource (`SourceIdentifier`).
    pub source_id: String,
    /// Kind of the resource.
    pub source_type: SourceType,
    /// AWS's text.
    pub message: String,
    /// When it happened.
    pub date: Timestamp,
}

/// AWS's event texts.
pub mod text {
    /// A cache cluster (standalone or member) was provisioned.
    pub fn cache_cluster_created() -> String {
        "Cache cluster created".to_string()
    }
    /// A node was added to a cache cluster.
    pub fn cache_node_added(node_id: &str, zone: &str) -> String {
        format!("Added cache node {node_id} in availability zone {zone}")
    }
    /// A replication group finished creating.
    pub fn replication_group_created(group_id: &str) -> String {
        format!("Replication group {group_id} created")
    }
    /// A replication group was created with automatic failover.
    pub fn automatic_failover_enabled(group_id: &str) -> String {
        format!("Automatic failover has been turned on for replication group {group_id}")
    }
    /// A replication group failed to create.
    pub fn replication_group_create_failed(group_id: &str) -> String {
        format!("Failed to create replication group {group_id} due to unsuccessful creation of its cache cluster(s).")
    }
    /// Follows [`replication_group_create_failed`].
    pub fn deleting_group_clusters() -> String {
        "Deleting all cache clusters belonging to this replication group.".to_string()
    }
    /// A cache cluster and its nodes were deleted.
    pub fn cache_cluster_deleted() -> String {
        "Cache cluster deleted".to_string()
    }
    /// A replication group was deleted (AWS's wording is not published; by analogy with the
    /// cluster text).
    pub fn replication_group_deleted(group_id: &str) -> String {
        format!("Replication group {group_id} deleted")
    }
    /// A node was shut down for a reboot.
    pub fn cache_node_shutdown(node_id: &str) -> String {
        format!("Cache node {node_id} shutdown")
    }
    /// A node came back after a reboot.
    pub fn cache_node_restarted(node_id: &str) -> String {
        format!("Cache node {node_id} restarted")
    }
    /// `TestFailover` was accepted for a node group.
    pub fn test_failover_called(node_group_id: &str) -> String {
        format!("Test Failover API called for node group {node_group_id}")
    }
    /// A replica took over as primary (recorded on the old primary's cluster and on the group).
    pub fn failover_completed(old_primary: &str, new_primary: &str) -> String {
        format!("Failover from primary node {old_primary} to replica node {new_primary} completed")
    }
    /// A node was found dead and is being brought back.
    pub fn recovering_cache_nodes(node_id: &str) -> String {
        format!("Recovering cache nodes {node_id}")
    }
    /// A dead node is back and in sync.
    pub fn finished_recovery(node_id: &str) -> String {
        format!("Finished recovery for cache nodes {node_id}")
    }
    /// A cache cluster was created with a parameter group.
    pub fn uses_parameter_group(name: &str) -> String {
        format!("Updated to use a CacheParameterGroup {name}")
    }
    /// A parameter change took effect on a cache cluster.
    pub fn parameter_updated(name: &str, value: &str) -> String {
        format!("Updated parameter {name} to {value}")
    }
    /// `SecurityGroupIds` of a cache cluster changed.
    pub fn security_group_applied() -> String {
        "Applied change to security group".to_string()
    }
    /// A node type change finished (on each cache cluster, then on the group).
    pub fn node_type_applied(node_type: &str) -> String {
        format!("Succeeded applying modification to cache node type to {node_type}.")
    }
    /// A primary that stopped without saving restarts empty: its data file, older than what it
    /// acknowledged, was set aside (Ferrocache's wording).
    pub fn data_set_aside(node_id: &str, path: &str) -> String {
        format!(
            "Cache node {node_id} stopped without saving its data; its data file, older than what it had acknowledged, was set aside to {path} and the node restarts empty"
        )
    }
    /// A `ClusterMode` change was accepted (Ferrocache's wording: AWS's was not found).
    pub fn cluster_mode_changing(group_id: &str, mode: &str) -> String {
        format!("Modifying cluster mode of replication group {group_id} to {mode}")
    }
    /// Every member of the group runs in the new cluster mode (Ferrocache's wording).
    pub fn cluster_mode_changed(group_id: &str, mode: &str) -> String {
        format!("Cluster mode of replication group {group_id} is now {mode}")
    }
    /// A change into `compatible` found keys outside database 0 on the primary and was
    /// given up, the group left as it was (Ferrocache's wording).
    pub fn cluster_mode_refused_keys_outside_db0(group_id: &str, databases: &str) -> String {
        format!(
            "Failed to modify cluster mode of replication group {group_id}: keys are stored in databases other than 0 ({databases}); cluster mode keeps only database 0. The cluster mode is still disabled."
        )
    }
    /// A node type change could not be carried out.
    pub fn node_type_failed(node_type: &str) -> String {
        format!("Failed applying modification to cache node type to {node_type}.")
    }
    /// A scale-down refused because the data does not fit the smaller type.
    pub fn scale_down_refused(group_id: &str) -> String {
        format!("Failed to scale down to cache node type Replication Group [{group_id}] because the node has insufficient memory. Please select a different node type or reduce current memory usage and retry")
    }
    /// A node that kept failing to start is replaced by an empty one (recorded on the cache
    /// cluster; Ferrocache's wording, AWS publishes none).
    pub fn cache_node_replaced(node_id: &str, failures: u32, reason: &str) -> String {
        format!("Replacing cache node {node_id}: it failed to start {failures} times in a row ({reason}). Its data file is kept aside and the node starts empty.")
    }
    /// The same, recorded on the node's replication group.
    pub fn group_node_replaced(cluster_id: &str, node_id: &str) -> String {
        format!("Cache node {node_id} of cache cluster {cluster_id} was replaced after repeated start failures")
    }
    /// A failover is wanted but no replica can be promoted (Ferrocache's wording).
    pub fn failover_waiting(old_primary: &str) -> String {
        format!("Failover from primary node {old_primary} is waiting: no replica is healthy and in sync with it. Retrying.")
    }
    /// A node failed to start: the cluster could not be created.
    pub fn cache_cluster_create_failed(reason: &str) -> String {
        format!("Failed to create the cache cluster: {reason}")
    }
}
