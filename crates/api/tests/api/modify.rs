//! ModifyReplicationGroup / ModifyCacheCluster / ListAllowedNodeTypeModifications on the wire.

use crate::support::Harness;

const GROUP: &[(&str, &str)] = &[
    ("Action", "CreateReplicationGroup"),
    ("ReplicationGroupId", "shop"),
    ("ReplicationGroupDescription", "shop cache"),
    ("NumCacheClusters", "2"),
    ("CacheNodeType", "cache.t3.small"),
];

async fn created_group() -> Harness {
    let h = Harness::new();
    h.call(GROUP).await.result("CreateReplicationGroup");
    h.settle();
    h
}

fn modify<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut pairs = vec![
        ("Action", "ModifyReplicationGroup"),
        ("ReplicationGroupId", "shop"),
    ];
    pairs.extend_from_slice(extra);
    pairs
}

#[tokio::test]
async fn nothing_requested_is_terraforms_ignored_error() {
    let h = created_group().await;
    let message = h
        .call(&modify(&[("ApplyImmediately", "true")]))
        .await
        .error("InvalidParameterCombination", 400);
    assert_eq!(message, "No modifications were requested");
}

#[tokio::test]
async fn description_and_windows_change_without_modifying() {
    let h = created_group().await;
    let reply = h
        .call(&modify(&[
            ("ReplicationGroupDescription", "new words"),
            ("SnapshotWindow", "03:00-04:00"),
            ("PreferredMaintenanceWindow", "TUE:05:00-TUE:06:00"),
            ("SnapshotRetentionLimit", "3"),
            ("SnapshottingClusterId", "shop-001"),
        ]))
        .await;
    let group = reply
        .result("ModifyReplicationGroup")
        .get("ReplicationGroup")
        .expect("group");
    assert_eq!(group.text("Description"), Some("new words"));
    assert_eq!(group.text("Status"), Some("available"));
    assert_eq!(group.text("SnapshotWindow"), Some("03:00-04:00"));
    assert_eq!(group.text("SnapshotRetentionLimit"), Some("3"));
    assert_eq!(group.text("SnapshottingClusterId"), Some("shop-001"));
    // Members carry the group's windows.
    let member = h
        .call(&[
            ("Action", "DescribeCacheClusters"),
            ("CacheClusterId", "shop-002"),
        ])
        .await;
    assert_eq!(
        member
            .result("DescribeCacheClusters")
            .text("CacheClusters/CacheCluster/PreferredMaintenanceWindow"),
        Some("tue:05:00-tue:06:00")
    );
}

#[tokio::test]
async fn automatic_failover_rules() {
    let h = created_group().await;
    let reply = h.call(&modify(&[("MultiAZEnabled", "true")])).await;
    reply.error("InvalidParameterCombination", 400);
    let reply = h
        .call(&modify(&[
            ("AutomaticFailoverEnabled", "true"),
            ("MultiAZEnabled", "true"),
        ]))
        .await;
    let group = reply
        .result("ModifyReplicationGroup")
        .get("ReplicationGroup")
        .expect("group");
    assert_eq!(group.text("AutomaticFailover"), Some("enabled"));
    assert_eq!(group.text("MultiAZ"), Some("enabled"));
    assert_eq!(group.text("Status"), Some("modifying"));
    // A second change while modifying is refused.
    h.call(&modify(&[("ReplicationGroupDescription", "x")]))
        .await
        .error("InvalidReplicationGroupState", 400);
    h.settle();
    // Promotion needs automatic failover off.
    h.call(&modify(&[("PrimaryClusterId", "shop-002")]))
        .await
        .error("InvalidParameterCombination", 400);
    let reply = h
        .call(&modify(&[
            ("AutomaticFailoverEnabled", "false"),
            ("PrimaryClusterId", "shop-002"),
            ("ApplyImmediately", "true"),
        ]))
        .await;
    let group = reply
        .result("ModifyReplicationGroup")
        .get("ReplicationGroup")
        .expect("group");
    assert_eq!(group.text("AutomaticFailover"), Some("disabled"));
    assert_eq!(group.text("MultiAZ"), Some("disabled"));
    assert_eq!(
        group.text("PendingModifiedValues/PrimaryClusterId"),
        Some("shop-002")
    );
    h.settle();
    h.call(&modify(&[("PrimaryClusterId", "nobody")]))
        .await
        .error("CacheClusterNotFound", 404);
}

#[tokio::test]
async fn node_type_change_is_pending_until_applied() {
    let h = created_group().await;
    h.call(&modify(&[("CacheNodeType", "cache.x9.huge")]))
        .await
        .error("InvalidParameterValue", 400);
    let reply = h
        .call(&modify(&[("CacheNodeType", "cache.m6g.large")]))
        .await;
    let group = reply
        .result("ModifyReplicationGroup")
        .get("ReplicationGroup")
        .expect("group");
    assert_eq!(
        group.text("Status"),
        Some("available"),
        "waits for the window"
    );
    assert_eq!(group.text("CacheNodeType"), Some("cache.t3.small"));
    let member = h
        .call(&[
            ("Action", "DescribeCacheClusters"),
            ("CacheClusterId", "shop-001"),
        ])
        .await;
    let cluster = member.result("DescribeCacheClusters");
    assert_eq!(
        cluster.text("CacheClusters/CacheCluster/CacheNodeType"),
        Some("cache.t3.small")
    );
    assert_eq!(
        cluster.text("CacheClusters/CacheCluster/PendingModifiedValues/CacheNodeType"),
        Some("cache.m6g.large")
    );
    let reply = h
        .call(&modify(&[
            ("CacheNodeType", "cache.r6g.large"),
            ("ApplyImmediately", "true"),
        ]))
        .await;
    let group = reply
        .result("ModifyReplicationGroup")
        .get("ReplicationGroup")
        .expect("group");
    assert_eq!(group.text("Status"), Some("modifying"));
}

#[tokio::test]
async fn later_features_are_refused() {
    let h = created_group().await;
    // An AUTH token is supported, but only with encryption in transit (AWS's message).
    let message = h
        .call(&modify(&[("AuthToken", "a-long-enough-token-1234")]))
        .await
        .error("InvalidParameterValue", 400);
    assert_eq!(
        message,
        "The AUTH token is only supported when encryption-in-transit is enabled"
    );
    // User groups too, with encryption in transit.
    h.call(&modify(&[("UserGroupIdsToAdd.member.1", "ug")]))
        .await
        .error("InvalidParameterCombination", 400);
    h.call(&modify(&[
        ("NodeGroupId", "0002"),
        ("ReplicationGroupDescription", "x"),
    ]))
    .await
    .error("NodeGroupNotFoundFault", 404);
    h.call(&[
        ("Action", "ModifyReplicationGroup"),
        ("ReplicationGroupId", "nope"),
        ("ReplicationGroupDescription", "x"),
    ])
    .await
    .error("ReplicationGroupNotFoundFault", 404);
}

// Goal: encryption in transit is turned on for an existing group along AWS's path only:
// enabled with mode preferred, then required, and off again only from preferred; the group
// reads the setting back and stays available. Method: the steps and the refused shortcuts.
#[tokio::test]
async fn transit_encryption_migration_path() {
    let h = created_group().await;
    let refused = [
        vec![("TransitEncryptionEnabled", "true")],
        vec![
            ("TransitEncryptionEnabled", "true"),
            ("TransitEncryptionMode", "required"),
        ],
        vec![("TransitEncryptionMode", "preferred")],
    ];
    for extra in &refused {
        h.call(&modify(extra))
            .await
            .error("InvalidParameterCombination", 400);
    }
    type Step<'a> = (&'a [(&'a str, &'a str)], Option<&'a str>);
    let steps: [Step; 3] = [
        (
            &[
                ("TransitEncryptionEnabled", "true"),
                ("TransitEncryptionMode", "preferred"),
            ],
            Some("preferred"),
        ),
        (&[("TransitEncryptionMode", "required")], Some("required")),
        (&[("TransitEncryptionMode", "preferred")], Some("preferred")),
    ];
    for (extra, mode) in steps {
        let reply = h.call(&modify(extra)).await;
        let group = reply
            .result("ModifyReplicationGroup")
            .get("ReplicationGroup")
            .expect("group");
        assert_eq!(group.text("TransitEncryptionEnabled"), Some("true"));
        assert_eq!(group.text("TransitEncryptionMode"), mode);
        assert_eq!(group.text("Status"), Some("available"));
    }
    h.call(&modify(&[("TransitEncryptionMode", "required")]))
        .await
        .result("ModifyReplicationGroup");
    h.call(&modify(&[("TransitEncryptionEnabled", "false")]))
        .await
        .error("InvalidParameterCombination", 400);
    h.call(&modify(&[("TransitEncryptionMode", "preferred")]))
        .await
        .result("ModifyReplicationGroup");
    let reply = h
        .call(&modify(&[("TransitEncryptionEnabled", "false")]))
        .await;
    let group = reply
        .result("ModifyReplicationGroup")
        .get("ReplicationGroup")
        .expect("group");
    assert_eq!(group.text("TransitEncryptionEnabled"), Some("false"));
}

#[tokio::test]
async fn modify_cache_cluster_rules() {
    let h = created_group().await;
    h.call(&[
        ("Action", "CreateCacheCluster"),
        ("CacheClusterId", "solo"),
        ("CacheNodeType", "cache.t3.micro"),
    ])
    .await
    .result("CreateCacheCluster");
    h.settle();
    let reply = h
        .call(&[
            ("Action", "ModifyCacheCluster"),
            ("CacheClusterId", "solo"),
            ("CacheNodeType", "cache.t3.medium"),
            ("ApplyImmediately", "true"),
        ])
        .await;
    let cluster = reply
        .result("ModifyCacheCluster")
        .get("CacheCluster")
        .expect("cluster");
    assert_eq!(cluster.text("CacheClusterStatus"), Some("modifying"));
    assert_eq!(
        cluster.text("PendingModifiedValues/CacheNodeType"),
        Some("cache.t3.medium")
    );
    h.settle();
    h.call(&[
        ("Action", "ModifyCacheCluster"),
        ("CacheClusterId", "solo"),
        ("NumCacheNodes", "2"),
    ])
    .await
    .error("InvalidParameterValue", 400);
    // A member's node type belongs to its group.
    h.call(&[
        ("Action", "ModifyCacheCluster"),
        ("CacheClusterId", "shop-001"),
        ("CacheNodeType", "cache.t3.medium"),
    ])
    .await
    .error("InvalidCacheClusterState", 400);
}

#[tokio::test]
async fn allowed_node_type_modifications() {
    let h = created_group().await;
    let reply = h
        .call(&[
            ("Action", "ListAllowedNodeTypeModifications"),
            ("ReplicationGroupId", "shop"),
        ])
        .await;
    let result = reply.result("ListAllowedNodeTypeModifications");
    let up: Vec<&str> = result
        .all("ScaleUpModifications/member")
        .iter()
        .map(|e| e.text.as_str())
        .collect();
    let down: Vec<&str> = result
        .all("ScaleDownModifications/member")
        .iter()
        .map(|e| e.text.as_str())
        .collect();
    assert!(up.contains(&"cache.r6g.large") && !up.contains(&"cache.t3.small"));
    assert!(down.contains(&"cache.t3.micro") && !down.contains(&"cache.t3.small"));
    assert!(down.contains(&"cache.t3.micro"));
    h.call(&[("Action", "ListAllowedNodeTypeModifications")])
        .await
        .error("InvalidParameterCombination", 400);
    h.call(&[
        ("Action", "ListAllowedNodeTypeModifications"),
        ("CacheClusterId", "ghost"),
    ])
    .await
    .error("CacheClusterNotFound", 404);
}
