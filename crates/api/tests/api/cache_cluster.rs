//! CreateCacheCluster / DescribeCacheClusters / DeleteCacheCluster / RebootCacheCluster on the
//! wire.

use crate::assert_model_order;
use crate::replication_group::FAILOVER_LAB;
use crate::support::Harness;

/// `CacheCluster` members in model order (`elasticache-api.md` §4.2).
const CACHE_CLUSTER_MODEL: &[&str] = &[
    "CacheClusterId",
    "ConfigurationEndpoint",
    "ClientDownloadLandingPage",
    "CacheNodeType",
    "Engine",
    "EngineVersion",
    "CacheClusterStatus",
    "NumCacheNodes",
    "PreferredAvailabilityZone",
    "PreferredOutpostArn",
    "CacheClusterCreateTime",
    "PreferredMaintenanceWindow",
    "PendingModifiedValues",
    "NotificationConfiguration",
    "CacheSecurityGroups",
    "CacheParameterGroup",
    "CacheSubnetGroupName",
    "CacheNodes",
    "AutoMinorVersionUpgrade",
    "SecurityGroups",
    "ReplicationGroupId",
    "SnapshotRetentionLimit",
    "SnapshotWindow",
    "AuthTokenEnabled",
    "AuthTokenLastModifiedDate",
    "TransitEncryptionEnabled",
    "AtRestEncryptionEnabled",
    "ARN",
    "ReplicationGroupLogDeliveryEnabled",
    "LogDeliveryConfigurations",
    "NetworkType",
    "IpDiscovery",
    "TransitEncryptionMode",
];
const CACHE_NODE_MODEL: &[&str] = &[
    "CacheNodeId",
    "CacheNodeStatus",
    "CacheNodeCreateTime",
    "Endpoint",
    "ParameterGroupStatus",
    "SourceCacheNodeId",
    "CustomerAvailabilityZone",
    "CustomerOutpostArn",
];

// Goal: DescribeCacheClusters with ShowCacheNodeInfo=true answers every member of a placed
// group with the model's names in model order, and one complete CacheNode (the members
// Terraform requires: CacheNodeId, Endpoint.Address/Port, CustomerAvailabilityZone). Method:
// create the failover-lab group, settle it, describe with node info, walk the XML.
#[tokio::test]
async fn describe_cache_clusters_golden() {
    let h = Harness::new();
    h.call(FAILOVER_LAB).await.result("CreateReplicationGroup");
    h.settle();
    let reply = h
        .call(&[
            ("Action", "DescribeCacheClusters"),
            ("ShowCacheNodeInfo", "true"),
        ])
        .await;
    let result = reply.result("DescribeCacheClusters");
    let clusters = result.all("CacheClusters/CacheCluster");
    assert_eq!(clusters.len(), 3);
    let c = clusters[0];
    assert_model_order(&c.child_names(), CACHE_CLUSTER_MODEL);
    assert_eq!(
        c.child_names(),
        [
            "CacheClusterId",
            "ClientDownloadLandingPage",
            "CacheNodeType",
            "Engine",
            "EngineVersion",
            "CacheClusterStatus",
            "NumCacheNodes",
            "PreferredAvailabilityZone",
            "CacheClusterCreateTime",
            "PreferredMaintenanceWindow",
            "PendingModifiedValues",
            "CacheSecurityGroups",
            "CacheParameterGroup",
            "CacheSubnetGroupName",
            "CacheNodes",
            "AutoMinorVersionUpgrade",
            "SecurityGroups",
            "ReplicationGroupId",
            "SnapshotRetentionLimit",
            "SnapshotWindow",
            "AuthTokenEnabled",
            "TransitEncryptionEnabled",
            "AtRestEncryptionEnabled",
            "ARN",
            "ReplicationGroupLogDeliveryEnabled",
            "LogDeliveryConfigurations",
            "NetworkType",
            "IpDiscovery",
        ]
    );
    assert_eq!(
        c.text("CacheClusterId"),
        Some("practice-redis-replication-multi-001")
    );
    assert_eq!(
        c.text("ClientDownloadLandingPage"),
        Some("https://console.aws.amazon.com/elasticache/home#client-download:")
    );
    assert_eq!(c.text("EngineVersion"), Some("7.0.15"));
    assert_eq!(c.text("CacheClusterStatus"), Some("available"));
    assert_eq!(c.text("NumCacheNodes"), Some("1"));
    assert_eq!(c.text("PreferredAvailabilityZone"), Some("us-east-1a"));
    assert_eq!(
        c.text("ReplicationGroupId"),
        Some("practice-redis-replication-multi")
    );
    assert_eq!(
        c.get("CacheParameterGroup").expect("pg").child_names(),
        [
            "CacheParameterGroupName",
            "ParameterApplyStatus",
            "CacheNodeIdsToReboot"
        ]
    );
    assert_eq!(
        c.text("CacheParameterGroup/CacheParameterGroupName"),
        Some("default.redis7")
    );
    assert_eq!(
        c.text("CacheParameterGroup/ParameterApplyStatus"),
        Some("in-sync")
    );
    assert_eq!(
        c.get("SecurityGroups").expect("sgs").child_names(),
        ["member"]
    );
    assert_eq!(
        c.get("SecurityGroups/member").expect("sg").child_names(),
        ["SecurityGroupId", "Status"]
    );
    assert_eq!(
        c.text("SecurityGroups/member/SecurityGroupId"),
        Some("sg-7bf2baaa1b9205fd2")
    );
    assert_eq!(c.text("SecurityGroups/member/Status"), Some("active"));
    assert_eq!(c.text("ARN"), Some("arn:aws:elasticache:us-east-1:123456789012:cluster:practice-redis-replication-multi-001"));
    let nodes = c.all("CacheNodes/CacheNode");
    assert_eq!(nodes.len(), 1);
    let node = nodes[0];
    assert_model_order(&node.child_names(), CACHE_NODE_MODEL);
    assert_eq!(
        node.child_names(),
        [
            "CacheNodeId",
            "CacheNodeStatus",
            "CacheNodeCreateTime",
            "Endpoint",
            "ParameterGroupStatus",
            "CustomerAvailabilityZone"
        ]
    );
    assert_eq!(node.text("CacheNodeId"), Some("0001"));
    assert_eq!(node.text("CacheNodeStatus"), Some("available"));
    assert!(node
        .text("Endpoint/Address")
        .expect("address")
        .starts_with("127.77.0."));
    assert_eq!(node.text("Endpoint/Port"), Some("6379"));
    assert_eq!(node.text("ParameterGroupStatus"), Some("in-sync"));
    assert_eq!(node.text("CustomerAvailabilityZone"), Some("us-east-1a"));
}

// Goal: CacheNodes appears only with ShowCacheNodeInfo=true, and holds no half node before
// placement. Method: describe a fresh (unplaced) standalone cluster with and without the flag.
#[tokio::test]
async fn cache_nodes_only_when_asked_and_complete() {
    let h = Harness::new();
    let create = [
        ("Action", "CreateCacheCluster"),
        ("CacheClusterId", "solo"),
        ("CacheNodeType", "cache.t3.micro"),
        ("Engine", "redis"),
    ];
    let created = h.call(&create).await;
    let c = created
        .result("CreateCacheCluster")
        .get("CacheCluster")
        .expect("cluster")
        .clone();
    assert!(c.get("CacheNodes").is_none());
    assert!(c.get("ReplicationGroupId").is_none(), "standalone");
    // The zone is chosen at creation, from the subnet group's zones.
    assert_eq!(c.text("PreferredAvailabilityZone"), Some("us-east-1a"));
    assert_eq!(c.text("CacheClusterStatus"), Some("creating"));

    let plain = h
        .call(&[
            ("Action", "DescribeCacheClusters"),
            ("CacheClusterId", "solo"),
        ])
        .await;
    assert!(plain
        .result("DescribeCacheClusters")
        .get("CacheClusters/CacheCluster/CacheNodes")
        .is_none());
    let shown = h
        .call(&[
            ("Action", "DescribeCacheClusters"),
            ("CacheClusterId", "solo"),
            ("ShowCacheNodeInfo", "true"),
        ])
        .await;
    let nodes = shown
        .result("DescribeCacheClusters")
        .get("CacheClusters/CacheCluster/CacheNodes")
        .expect("CacheNodes")
        .clone();
    assert!(
        nodes.children.is_empty(),
        "not placed: no node rather than a node without an endpoint"
    );
}

// Goal: ShowCacheClustersNotInReplicationGroups filters group members out. Method: a group and
// a standalone cluster, described with the flag.
#[tokio::test]
async fn clusters_not_in_groups() {
    let h = Harness::new();
    h.call(FAILOVER_LAB).await.result("CreateReplicationGroup");
    let create = [
        ("Action", "CreateCacheCluster"),
        ("CacheClusterId", "solo"),
        ("CacheNodeType", "cache.t3.micro"),
    ];
    h.call(&create).await.result("CreateCacheCluster");
    let all = h.call(&[("Action", "DescribeCacheClusters")]).await;
    assert_eq!(
        all.result("DescribeCacheClusters")
            .all("CacheClusters/CacheCluster")
            .len(),
        4
    );
    let solo = h
        .call(&[
            ("Action", "DescribeCacheClusters"),
            ("ShowCacheClustersNotInReplicationGroups", "true"),
        ])
        .await;
    let ids: Vec<String> = solo
        .result("DescribeCacheClusters")
        .all("CacheClusters/CacheCluster")
        .iter()
        .map(|c| c.text("CacheClusterId").unwrap_or_default().to_string())
        .collect();
    assert_eq!(ids, ["solo"]);
}

// Goal: RebootCacheCluster decodes CacheNodeIdsToReboot.CacheNodeId.N and DeleteCacheCluster
// answers `deleting`. Method: settle a standalone cluster, reboot it, settle, delete it.
#[tokio::test]
async fn reboot_and_delete() {
    let h = Harness::new();
    let create = [
        ("Action", "CreateCacheCluster"),
        ("CacheClusterId", "solo"),
        ("CacheNodeType", "cache.t3.micro"),
    ];
    h.call(&create).await.result("CreateCacheCluster");
    h.settle();
    let reboot = h
        .call(&[
            ("Action", "RebootCacheCluster"),
            ("CacheClusterId", "solo"),
            ("CacheNodeIdsToReboot.CacheNodeId.1", "0001"),
        ])
        .await;
    assert_eq!(
        reboot
            .result("RebootCacheCluster")
            .text("CacheCluster/CacheClusterStatus"),
        Some("rebooting cluster nodes")
    );
    h.settle();
    let delete = h
        .call(&[("Action", "DeleteCacheCluster"), ("CacheClusterId", "SOLO")])
        .await;
    assert_eq!(
        delete
            .result("DeleteCacheCluster")
            .text("CacheCluster/CacheClusterStatus"),
        Some("deleting")
    );
}
