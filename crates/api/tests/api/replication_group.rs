//! CreateReplicationGroup / DescribeReplicationGroups / DeleteReplicationGroup /
//! IncreaseReplicaCount / DecreaseReplicaCount on the wire.

use crate::assert_model_order;
use crate::support::Harness;

/// `ReplicationGroup` members in model order (`elasticache-api.md` §4.2).
pub const REPLICATION_GROUP_MODEL: &[&str] = &[
    "ReplicationGroupId",
    "Description",
    "GlobalReplicationGroupInfo",
    "Status",
    "PendingModifiedValues",
    "MemberClusters",
    "NodeGroups",
    "SnapshottingClusterId",
    "AutomaticFailover",
    "MultiAZ",
    "ConfigurationEndpoint",
    "SnapshotRetentionLimit",
    "SnapshotWindow",
    "ClusterEnabled",
    "CacheNodeType",
    "AuthTokenEnabled",
    "AuthTokenLastModifiedDate",
    "TransitEncryptionEnabled",
    "AtRestEncryptionEnabled",
    "MemberClustersOutpostArns",
    "KmsKeyId",
    "StorageEncryptionType",
    "ARN",
    "UserGroupIds",
    "LogDeliveryConfigurations",
    "ReplicationGroupCreateTime",
    "DataTiering",
    "AutoMinorVersionUpgrade",
    "NetworkType",
    "IpDiscovery",
    "TransitEncryptionMode",
    "ClusterMode",
    "Engine",
    "Durability",
    "EffectiveDurability",
];
const NODE_GROUP_MODEL: &[&str] = &[
    "NodeGroupId",
    "Status",
    "PrimaryEndpoint",
    "ReaderEndpoint",
    "Slots",
    "NodeGroupMembers",
];
const NODE_GROUP_MEMBER_MODEL: &[&str] = &[
    "CacheClusterId",
    "CacheNodeId",
    "ReadEndpoint",
    "PreferredAvailabilityZone",
    "PreferredOutpostArn",
    "CurrentRole",
];

/// The failover lab's `create-replication-group` (three nodes, failover, Multi-AZ), plus tags
/// and a security group, as botocore would send it.
pub const FAILOVER_LAB: &[(&str, &str)] = &[
    ("Action", "CreateReplicationGroup"),
    ("ReplicationGroupId", "Practice-Redis-Replication-Multi"),
    (
        "ReplicationGroupDescription",
        "Practice Redis replication & <failover>",
    ),
    ("AutomaticFailoverEnabled", "true"),
    ("MultiAZEnabled", "true"),
    ("NumCacheClusters", "3"),
    ("CacheNodeType", "cache.t3.micro"),
    ("Engine", "redis"),
    ("EngineVersion", "7.0"),
    // The default VPC's `default` security group (its id is derived from account and region).
    ("SecurityGroupIds.SecurityGroupId.1", "sg-7bf2baaa1b9205fd2"),
    ("Tags.Tag.1.Key", "env"),
    ("Tags.Tag.1.Value", "lab"),
];

// Goal: CreateReplicationGroup answers the model's element names, in model order, with the
// group `creating`, three members named `<id>-00N`, one node group `0001`, the ARN in the
// request's region, and escaped text. Method: send the failover-lab request signed for
// us-west-2 and walk the parsed XML.
#[tokio::test]
async fn create_replication_group_golden() {
    let h = Harness::new();
    // Security groups are regional: name us-west-2's default group instead of us-east-1's.
    let request: Vec<(&str, &str)> = FAILOVER_LAB
        .iter()
        .map(|&(k, v)| match k {
            "SecurityGroupIds.SecurityGroupId.1" => (k, "sg-ababcb351cdf898c7"),
            _ => (k, v),
        })
        .collect();
    let reply = h.call_in("us-west-2", &request).await;
    let group = reply
        .result("CreateReplicationGroup")
        .get("ReplicationGroup")
        .expect("ReplicationGroup");
    let names = group.child_names();
    assert_model_order(&names, REPLICATION_GROUP_MODEL);
    assert_eq!(
        names,
        [
            "ReplicationGroupId",
            "Description",
            "Status",
            "PendingModifiedValues",
            "MemberClusters",
            "NodeGroups",
            "AutomaticFailover",
            "MultiAZ",
            "SnapshotRetentionLimit",
            "SnapshotWindow",
            "ClusterEnabled",
            "CacheNodeType",
            "AuthTokenEnabled",
            "TransitEncryptionEnabled",
            "AtRestEncryptionEnabled",
            "ARN",
            "UserGroupIds",
            "LogDeliveryConfigurations",
            "ReplicationGroupCreateTime",
            "DataTiering",
            "AutoMinorVersionUpgrade",
            "NetworkType",
            "IpDiscovery",
            "ClusterMode",
            "Engine",
        ]
    );
    let id = "practice-redis-replication-multi";
    assert_eq!(group.text("ReplicationGroupId"), Some(id));
    assert_eq!(
        group.text("Description"),
        Some("Practice Redis replication & <failover>")
    );
    assert!(reply.body.contains("replication &amp; &lt;failover&gt;"));
    assert_eq!(group.text("Status"), Some("creating"));
    assert!(group
        .get("PendingModifiedValues")
        .expect("pmv")
        .children
        .is_empty());
    let members: Vec<&str> = group
        .all("MemberClusters/ClusterId")
        .iter()
        .map(|e| e.text.as_str())
        .collect();
    assert_eq!(
        members,
        [
            format!("{id}-001"),
            format!("{id}-002"),
            format!("{id}-003")
        ]
    );
    assert_eq!(
        group.get("NodeGroups").expect("node groups").child_names(),
        ["NodeGroup"]
    );
    let node_group = group.get("NodeGroups/NodeGroup").expect("node group");
    assert_eq!(
        node_group.child_names(),
        ["NodeGroupId", "Status", "NodeGroupMembers"]
    );
    assert_eq!(node_group.text("NodeGroupId"), Some("0001"));
    assert_eq!(node_group.text("Status"), Some("creating"));
    let node_members = node_group.all("NodeGroupMembers/NodeGroupMember");
    assert_eq!(node_members.len(), 3);
    for (i, m) in node_members.iter().enumerate() {
        assert_eq!(
            m.child_names(),
            ["CacheClusterId", "CacheNodeId", "PreferredAvailabilityZone"],
            "not placed yet: no endpoint or role; the zone is chosen at creation"
        );
        assert_eq!(
            m.text("CacheClusterId").map(str::to_string),
            Some(format!("{id}-00{}", i + 1))
        );
        assert_eq!(m.text("CacheNodeId"), Some("0001"));
    }
    assert_eq!(group.text("AutomaticFailover"), Some("enabled"));
    assert_eq!(group.text("MultiAZ"), Some("enabled"));
    assert_eq!(group.text("SnapshotRetentionLimit"), Some("0"));
    assert_eq!(group.text("ClusterEnabled"), Some("false"));
    assert_eq!(group.text("CacheNodeType"), Some("cache.t3.micro"));
    assert_eq!(
        group.text("ARN").map(str::to_string),
        Some(format!(
            "arn:aws:elasticache:us-west-2:123456789012:replicationgroup:{id}"
        ))
    );
    assert!(group
        .get("UserGroupIds")
        .expect("user groups")
        .children
        .is_empty());
    let created = group
        .text("ReplicationGroupCreateTime")
        .expect("create time");
    assert!(
        created.len() == 24 && created.ends_with('Z') && created.as_bytes()[19] == b'.',
        "{created}"
    );
    assert_eq!(group.text("DataTiering"), Some("disabled"));
    assert_eq!(group.text("AutoMinorVersionUpgrade"), Some("true"));
    assert_eq!(group.text("NetworkType"), Some("ipv4"));
    assert_eq!(group.text("ClusterMode"), Some("disabled"));
    assert_eq!(group.text("Engine"), Some("redis"));
}

// Goal: once placed, DescribeReplicationGroups carries the primary and reader endpoints, each
// member's ReadEndpoint, zone and CurrentRole, and SnapshottingClusterId when backups are on —
// all in model order. Method: create, let the harness settle the group, describe by id (in
// another case than created).
#[tokio::test]
async fn describe_replication_groups_golden() {
    let h = Harness::new();
    let mut create = FAILOVER_LAB.to_vec();
    create.push(("SnapshotRetentionLimit", "1"));
    h.call(&create).await.result("CreateReplicationGroup");
    h.settle();
    let reply = h
        .call(&[
            ("Action", "DescribeReplicationGroups"),
            ("ReplicationGroupId", "PRACTICE-redis-replication-multi"),
        ])
        .await;
    let result = reply.result("DescribeReplicationGroups");
    assert_eq!(
        result.child_names(),
        ["ReplicationGroups"],
        "one page: no Marker"
    );
    let groups = result.all("ReplicationGroups/ReplicationGroup");
    assert_eq!(groups.len(), 1);
    let group = groups[0];
    assert_model_order(&group.child_names(), REPLICATION_GROUP_MODEL);
    assert_eq!(group.text("Status"), Some("available"));
    assert_eq!(
        group.text("SnapshottingClusterId"),
        Some("practice-redis-replication-multi-002")
    );
    let node_group = group.get("NodeGroups/NodeGroup").expect("node group");
    assert_eq!(
        node_group.child_names(),
        [
            "NodeGroupId",
            "Status",
            "PrimaryEndpoint",
            "ReaderEndpoint",
            "NodeGroupMembers"
        ]
    );
    assert_model_order(&node_group.child_names(), NODE_GROUP_MODEL);
    for endpoint in ["PrimaryEndpoint", "ReaderEndpoint"] {
        let e = node_group.get(endpoint).expect(endpoint);
        assert_eq!(e.child_names(), ["Address", "Port"]);
        assert!(e.text("Address").expect("address").starts_with("127.77.0."));
        assert_eq!(e.text("Port"), Some("6379"));
    }
    let members = node_group.all("NodeGroupMembers/NodeGroupMember");
    let roles: Vec<&str> = members
        .iter()
        .map(|m| m.text("CurrentRole").expect("role"))
        .collect();
    assert_eq!(roles, ["primary", "replica", "replica"]);
    let zones: Vec<&str> = members
        .iter()
        .map(|m| m.text("PreferredAvailabilityZone").expect("zone"))
        .collect();
    assert_eq!(zones, ["us-east-1a", "us-east-1b", "us-east-1c"]);
    for m in members {
        assert_eq!(
            m.child_names(),
            [
                "CacheClusterId",
                "CacheNodeId",
                "ReadEndpoint",
                "PreferredAvailabilityZone",
                "CurrentRole"
            ]
        );
        assert_model_order(&m.child_names(), NODE_GROUP_MEMBER_MODEL);
        assert_eq!(
            m.get("ReadEndpoint").expect("read endpoint").child_names(),
            ["Address", "Port"]
        );
    }
}

// Goal: DescribeReplicationGroups pages with MaxRecords/Marker (Marker only when there is a
// next page) and stays inside the caller's region. Method: 21 groups, pages of 20, then the
// same call signed for another region.
#[tokio::test]
async fn describe_pages_and_regions() {
    let h = Harness::new();
    for i in 0..21 {
        let id = format!("g{i:02}");
        h.call(&[
            ("Action", "CreateReplicationGroup"),
            ("ReplicationGroupId", &id),
            ("ReplicationGroupDescription", "d"),
        ])
        .await
        .result("CreateReplicationGroup");
    }
    let first = h
        .call(&[
            ("Action", "DescribeReplicationGroups"),
            ("MaxRecords", "20"),
        ])
        .await;
    let result = first.result("DescribeReplicationGroups");
    assert_eq!(result.child_names(), ["Marker", "ReplicationGroups"]);
    assert_eq!(result.all("ReplicationGroups/ReplicationGroup").len(), 20);
    let marker = result.text("Marker").expect("marker").to_string();
    let second = h
        .call(&[
            ("Action", "DescribeReplicationGroups"),
            ("MaxRecords", "20"),
            ("Marker", &marker),
        ])
        .await;
    let result = second.result("DescribeReplicationGroups");
    assert_eq!(result.child_names(), ["ReplicationGroups"]);
    assert_eq!(
        result.text("ReplicationGroups/ReplicationGroup/ReplicationGroupId"),
        Some("g20")
    );

    let elsewhere = h
        .call_in("eu-west-1", &[("Action", "DescribeReplicationGroups")])
        .await;
    assert!(elsewhere
        .result("DescribeReplicationGroups")
        .get("ReplicationGroups")
        .expect("list")
        .children
        .is_empty());
    h.call_in(
        "eu-west-1",
        &[
            ("Action", "DescribeReplicationGroups"),
            ("ReplicationGroupId", "g00"),
        ],
    )
    .await
    .error("ReplicationGroupNotFoundFault", 404);
}

// Goal: replica changes and deletion decode their members and answer the group with its new
// status. Method: settle a 2-node group; increase to 2 replicas (modifying, 3 members); settle;
// decrease by ReplicasToRemove; settle; delete with RetainPrimaryCluster=false (deleting).
#[tokio::test]
async fn replica_count_and_delete() {
    let h = Harness::new();
    let create = [
        ("Action", "CreateReplicationGroup"),
        ("ReplicationGroupId", "rc"),
        ("ReplicationGroupDescription", "d"),
        ("NumCacheClusters", "2"),
    ];
    h.call(&create).await.result("CreateReplicationGroup");
    h.settle();
    let up = h
        .call(&[
            ("Action", "IncreaseReplicaCount"),
            ("ReplicationGroupId", "rc"),
            ("NewReplicaCount", "2"),
            ("ApplyImmediately", "true"),
        ])
        .await;
    let group = up
        .result("IncreaseReplicaCount")
        .get("ReplicationGroup")
        .expect("group")
        .clone();
    assert_eq!(group.text("Status"), Some("modifying"));
    assert_eq!(group.all("MemberClusters/ClusterId").len(), 3);
    h.settle();
    let down = h
        .call(&[
            ("Action", "DecreaseReplicaCount"),
            ("ReplicationGroupId", "rc"),
            ("ReplicasToRemove.member.1", "rc-003"),
            ("ApplyImmediately", "true"),
        ])
        .await;
    assert_eq!(
        down.result("DecreaseReplicaCount")
            .text("ReplicationGroup/Status"),
        Some("modifying")
    );
    h.settle();
    let reply = h
        .call(&[
            ("Action", "DeleteReplicationGroup"),
            ("ReplicationGroupId", "rc"),
            ("RetainPrimaryCluster", "false"),
        ])
        .await;
    assert_eq!(
        reply
            .result("DeleteReplicationGroup")
            .text("ReplicationGroup/Status"),
        Some("deleting")
    );
    let clusters = h.call(&[("Action", "DescribeCacheClusters")]).await;
    let statuses: Vec<String> = clusters
        .result("DescribeCacheClusters")
        .all("CacheClusters/CacheCluster")
        .iter()
        .map(|c| c.text("CacheClusterStatus").unwrap_or_default().to_string())
        .collect();
    assert_eq!(statuses, ["deleting", "deleting", "deleting"]);
}

// Goal: TransitEncryptionEnabled/TransitEncryptionMode on create are stored and read back as
// AWS answers them: enabled alone means `required`, `preferred` may be asked for in the same
// call, and a mode without encryption enabled is refused. Method: create three groups and a
// refused one, then describe each.
#[tokio::test]
async fn transit_encryption_on_create_reads_back() {
    let h = Harness::new();
    let create = |id: &'static str, extra: &'static [(&'static str, &'static str)]| {
        let mut pairs = vec![
            ("Action", "CreateReplicationGroup"),
            ("ReplicationGroupId", id),
            ("ReplicationGroupDescription", "tls"),
            ("CacheNodeType", "cache.t3.micro"),
        ];
        pairs.extend_from_slice(extra);
        pairs
    };
    for (id, extra, enabled, mode) in [
        ("plain", &[][..], "false", None),
        (
            "tls-required",
            &[("TransitEncryptionEnabled", "true")][..],
            "true",
            Some("required"),
        ),
        (
            "tls-preferred",
            &[
                ("TransitEncryptionEnabled", "true"),
                ("TransitEncryptionMode", "preferred"),
            ][..],
            "true",
            Some("preferred"),
        ),
    ] {
        let reply = h.call(&create(id, extra)).await;
        let group = reply
            .result("CreateReplicationGroup")
            .get("ReplicationGroup")
            .expect("ReplicationGroup");
        assert_eq!(
            group.text("TransitEncryptionEnabled"),
            Some(enabled),
            "{id}"
        );
        assert_eq!(group.text("TransitEncryptionMode"), mode, "{id}");
        let reply = h
            .call(&[
                ("Action", "DescribeCacheClusters"),
                ("CacheClusterId", &format!("{id}-001")),
            ])
            .await;
        let cluster = reply
            .result("DescribeCacheClusters")
            .get("CacheClusters")
            .and_then(|c| c.get("CacheCluster"))
            .expect("CacheCluster");
        assert_eq!(
            cluster.text("TransitEncryptionEnabled"),
            Some(enabled),
            "{id}"
        );
        assert_eq!(cluster.text("TransitEncryptionMode"), mode, "{id}");
    }
    let message = h
        .call(&create(
            "mode-only",
            &[("TransitEncryptionMode", "preferred")],
        ))
        .await
        .error("InvalidParameterCombination", 400);
    assert!(message.contains("encryption-in-transit"), "{message}");
    h.call(&create(
        "bad-mode",
        &[
            ("TransitEncryptionEnabled", "true"),
            ("TransitEncryptionMode", "sometimes"),
        ],
    ))
    .await
    .error("InvalidParameterValue", 400);
}
