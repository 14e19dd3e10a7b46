//! CreateSnapshot / DescribeSnapshots / DeleteSnapshot on the wire. No reconciler runs here:
//! snapshots stay `creating` unless a test writes the control plane's observed facts itself.

use ferrocache_model::snapshot::{SnapshotObserved, SnapshotPhase};
use ferrocache_store::{update, StoreError, WriteExt, Writer};

use crate::assert_model_order;
use crate::replication_group::FAILOVER_LAB;
use crate::support::Harness;

/// `Snapshot` members in model order (`elasticache-api.md` §4.2).
const SNAPSHOT_MODEL: &[&str] = &[
    "SnapshotName",
    "ReplicationGroupId",
    "ReplicationGroupDescription",
    "CacheClusterId",
    "SnapshotStatus",
    "SnapshotSource",
    "CacheNodeType",
    "Engine",
    "EngineVersion",
    "NumCacheNodes",
    "PreferredAvailabilityZone",
    "PreferredOutpostArn",
    "CacheClusterCreateTime",
    "PreferredMaintenanceWindow",
    "TopicArn",
    "Port",
    "CacheParameterGroupName",
    "CacheSubnetGroupName",
    "VpcId",
    "AutoMinorVersionUpgrade",
    "SnapshotRetentionLimit",
    "SnapshotWindow",
    "NumNodeGroups",
    "AutomaticFailover",
    "NodeSnapshots",
    "KmsKeyId",
    "ARN",
    "DataTiering",
    "Durability",
];
/// `NodeSnapshot` members in model order.
const NODE_SNAPSHOT_MODEL: &[&str] = &[
    "CacheClusterId",
    "NodeGroupId",
    "CacheNodeId",
    "NodeGroupConfiguration",
    "CacheSize",
    "CacheNodeCreateTime",
    "SnapshotCreateTime",
];

const GROUP: &str = "practice-redis-replication-multi";

/// Plays the snapshot reconciler having finished `name` (status `available`).
fn complete(h: &Harness, name: &str) {
    let key = Harness::key("us-east-1", name);
    update(
        h.store.as_ref(),
        |w: &mut dyn Writer| -> Result<(), StoreError> {
            w.put_doc(
                &key,
                &SnapshotObserved {
                    phase: SnapshotPhase::Available,
                    key_count: 3,
                    size_bytes: 2 * 1024 * 1024,
                    sha256: Some("ab".repeat(32)),
                    completed_at: Some(chrono::Utc::now()),
                    ..Default::default()
                },
            )
        },
    )
    .expect("complete");
}

async fn cluster_status(h: &Harness, id: &str) -> String {
    h.call(&[("Action", "DescribeCacheClusters"), ("CacheClusterId", id)])
        .await
        .result("DescribeCacheClusters")
        .text("CacheClusters/CacheCluster/CacheClusterStatus")
        .unwrap()
        .to_string()
}

async fn group_status(h: &Harness) -> String {
    h.call(&[
        ("Action", "DescribeReplicationGroups"),
        ("ReplicationGroupId", GROUP),
    ])
    .await
    .result("DescribeReplicationGroups")
    .text("ReplicationGroups/ReplicationGroup/Status")
    .unwrap()
    .to_string()
}

// Goal: the restoration guide's Phase 2 call — CreateSnapshot from the group's first member —
// answers a `creating`, `manual` snapshot with the model's names in model order; meanwhile the
// member and its group read `snapshotting` and a second snapshot is refused with AWS's state
// faults; once available, both read `available` again. Method: settle the failover-lab group,
// create, describe, create again, complete the snapshot by hand, describe again.
#[tokio::test]
async fn create_snapshot_from_member_cluster() {
    let h = Harness::new();
    h.call(FAILOVER_LAB).await.result("CreateReplicationGroup");
    h.settle();
    let member = format!("{GROUP}-001");
    let reply = h
        .call(&[
            ("Action", "CreateSnapshot"),
            ("CacheClusterId", &member),
            ("SnapshotName", "Redis-Restore-Snapshot-20250908-221412"),
        ])
        .await;
    let s = reply.result("CreateSnapshot").get("Snapshot").unwrap();
    assert_model_order(&s.child_names(), SNAPSHOT_MODEL);
    assert_eq!(
        s.text("SnapshotName"),
        Some("redis-restore-snapshot-20250908-221412")
    );
    assert_eq!(s.text("SnapshotStatus"), Some("creating"));
    assert_eq!(s.text("SnapshotSource"), Some("manual"));
    assert_eq!(s.text("CacheClusterId"), Some(member.as_str()));
    assert_eq!(s.text("ReplicationGroupId"), Some(GROUP));
    assert_eq!(s.text("NumCacheNodes"), Some("1"));
    assert_eq!(s.text("NumNodeGroups"), Some("1"));
    assert_eq!(s.text("AutomaticFailover"), Some("enabled"));
    assert_eq!(
        s.text("ARN"),
        Some("arn:aws:elasticache:us-east-1:123456789012:snapshot:redis-restore-snapshot-20250908-221412")
    );
    let node = s.get("NodeSnapshots/NodeSnapshot").unwrap();
    assert_model_order(&node.child_names(), NODE_SNAPSHOT_MODEL);
    assert_eq!(node.text("CacheClusterId"), Some(member.as_str()));
    assert_eq!(node.text("NodeGroupId"), Some("0001"));
    assert_eq!(node.text("CacheNodeId"), Some("0001"));
    assert_eq!(node.text("CacheSize"), Some(""));

    assert_eq!(cluster_status(&h, &member).await, "snapshotting");
    assert_eq!(group_status(&h).await, "snapshotting");
    assert_eq!(
        cluster_status(&h, &format!("{GROUP}-002")).await,
        "available"
    );
    let msg = h
        .call(&[
            ("Action", "CreateSnapshot"),
            ("CacheClusterId", &member),
            ("SnapshotName", "second"),
        ])
        .await
        .error("InvalidCacheClusterState", 400);
    assert_eq!(
        msg,
        format!("Cache cluster {member} is not in available state. Current status: snapshotting.")
    );
    let msg = h
        .call(&[
            ("Action", "CreateSnapshot"),
            ("ReplicationGroupId", GROUP),
            ("SnapshotName", "second"),
        ])
        .await
        .error("InvalidReplicationGroupState", 400);
    assert_eq!(
        msg,
        format!(
            "Replication group {GROUP} is not in available state. Current status: snapshotting."
        )
    );

    complete(&h, "redis-restore-snapshot-20250908-221412");
    assert_eq!(cluster_status(&h, &member).await, "available");
    assert_eq!(group_status(&h).await, "available");
    let reply = h
        .call(&[
            ("Action", "DescribeSnapshots"),
            ("SnapshotName", "redis-restore-snapshot-20250908-221412"),
            ("ShowNodeGroupConfig", "true"),
        ])
        .await;
    let s = reply
        .result("DescribeSnapshots")
        .get("Snapshots/Snapshot")
        .unwrap();
    assert_eq!(s.text("SnapshotStatus"), Some("available"));
    let node = s.get("NodeSnapshots/NodeSnapshot").unwrap();
    assert_model_order(&node.child_names(), NODE_SNAPSHOT_MODEL);
    assert_eq!(node.text("CacheSize"), Some("2 MB"));
    assert!(node.text("SnapshotCreateTime").is_some());
    assert_eq!(node.text("NodeGroupConfiguration/ReplicaCount"), Some("2"));
    let msg = h
        .call(&[
            ("Action", "CreateSnapshot"),
            ("ReplicationGroupId", GROUP),
            ("SnapshotName", "redis-restore-snapshot-20250908-221412"),
        ])
        .await
        .error("SnapshotAlreadyExistsFault", 400);
    assert_eq!(
        msg,
        "Snapshot redis-restore-snapshot-20250908-221412 already exists."
    );
}

// Goal: a snapshot of a group is taken from a healthy replica, not the primary. Method: settle
// the failover-lab group (member -001 primary), snapshot by ReplicationGroupId, read the node.
#[tokio::test]
async fn group_snapshot_comes_from_a_replica() {
    let h = Harness::new();
    h.call(FAILOVER_LAB).await.result("CreateReplicationGroup");
    h.settle();
    let reply = h
        .call(&[
            ("Action", "CreateSnapshot"),
            ("ReplicationGroupId", GROUP),
            ("SnapshotName", "nightly"),
        ])
        .await;
    let s = reply.result("CreateSnapshot").get("Snapshot").unwrap();
    assert_model_order(&s.child_names(), SNAPSHOT_MODEL);
    assert_eq!(s.text("CacheClusterId"), None);
    assert_eq!(s.text("ReplicationGroupId"), Some(GROUP));
    assert_eq!(
        s.text("NodeSnapshots/NodeSnapshot/CacheClusterId"),
        Some(format!("{GROUP}-002").as_str())
    );
    assert_eq!(
        cluster_status(&h, &format!("{GROUP}-002")).await,
        "snapshotting"
    );
    assert_eq!(
        cluster_status(&h, &format!("{GROUP}-001")).await,
        "available"
    );
    assert_eq!(group_status(&h).await, "snapshotting");
}

// Goal: each broken rule answers AWS's code, status and message. Method: one bad call each.
#[tokio::test]
async fn create_and_describe_faults() {
    let h = Harness::new();
    h.call(&[
        ("Action", "CreateCacheCluster"),
        ("CacheClusterId", "solo"),
        ("Engine", "redis"),
        ("CacheNodeType", "cache.t3.micro"),
    ])
    .await
    .result("CreateCacheCluster");
    let create = |extra: Vec<(&'static str, &'static str)>| {
        let mut pairs = vec![("Action", "CreateSnapshot")];
        pairs.extend(extra);
        pairs
    };
    let msg = h
        .call(&create(vec![("CacheClusterId", "solo")]))
        .await
        .error("MissingParameter", 400);
    assert!(msg.contains("SnapshotName"), "{msg}");
    let msg = h
        .call(&create(vec![
            ("SnapshotName", "s"),
            ("CacheClusterId", "solo"),
            ("ReplicationGroupId", "g"),
        ]))
        .await
        .error("InvalidParameterCombination", 400);
    assert_eq!(
        msg,
        "Only one of CacheClusterId or ReplicationGroupId can be provided."
    );
    let msg = h
        .call(&create(vec![("SnapshotName", "s")]))
        .await
        .error("InvalidParameterValue", 400);
    assert_eq!(
        msg,
        "One of CacheClusterId or ReplicationGroupId must be provided."
    );
    let msg = h
        .call(&create(vec![
            ("SnapshotName", "bad--name"),
            ("CacheClusterId", "solo"),
        ]))
        .await
        .error("InvalidParameterValue", 400);
    assert!(
        msg.starts_with("The parameter SnapshotName is not a valid identifier."),
        "{msg}"
    );
    let msg = h
        .call(&create(vec![
            ("SnapshotName", "s"),
            ("CacheClusterId", "nope"),
        ]))
        .await
        .error("CacheClusterNotFound", 404);
    assert_eq!(msg, "Cache cluster nope not found.");
    h.call(&create(vec![
        ("SnapshotName", "s"),
        ("ReplicationGroupId", "nope"),
    ]))
    .await
    .error("ReplicationGroupNotFoundFault", 404);
    // Not settled: the cluster is still `creating`.
    let msg = h
        .call(&create(vec![
            ("SnapshotName", "s"),
            ("CacheClusterId", "solo"),
        ]))
        .await
        .error("InvalidCacheClusterState", 400);
    assert_eq!(
        msg,
        "Cache cluster solo is not in available state. Current status: creating."
    );
    let msg = h
        .call(&[("Action", "DescribeSnapshots"), ("SnapshotName", "nope")])
        .await
        .error("SnapshotNotFoundFault", 404);
    assert_eq!(msg, "Snapshot nope not found.");
    let msg = h
        .call(&[("Action", "DescribeSnapshots"), ("MaxRecords", "51")])
        .await
        .error("InvalidParameterValue", 400);
    assert_eq!(
        msg,
        "Invalid value 51 for MaxRecords. Value must be between 20 and 50."
    );
    h.call(&[("Action", "DescribeSnapshots"), ("SnapshotSource", "bogus")])
        .await
        .error("InvalidParameterValue", 400);
    let msg = h
        .call(&[("Action", "DeleteSnapshot"), ("SnapshotName", "nope")])
        .await
        .error("SnapshotNotFoundFault", 404);
    assert_eq!(msg, "Snapshot nope not found.");
}

// Goal: DescribeSnapshots filters by source cluster, group and SnapshotSource and pages with
// Marker (20–50); DeleteSnapshot refuses a snapshot being created and marks an available one
// `deleting`. Method: 25 snapshots of a standalone cluster (each completed by hand so the next
// may start), one of the group; walk the pages and the filters; delete.
#[tokio::test]
async fn describe_filters_pages_and_delete() {
    let h = Harness::new();
    h.call(FAILOVER_LAB).await.result("CreateReplicationGroup");
    h.call(&[
        ("Action", "CreateCacheCluster"),
        ("CacheClusterId", "solo"),
        ("Engine", "redis"),
        ("CacheNodeType", "cache.t3.micro"),
    ])
    .await
    .result("CreateCacheCluster");
    h.settle();
    for i in 0..25 {
        let name = format!("solo-{i:02}");
        h.call(&[
            ("Action", "CreateSnapshot"),
            ("CacheClusterId", "solo"),
            ("SnapshotName", &name),
        ])
        .await
        .result("CreateSnapshot");
        complete(&h, &name);
    }
    h.call(&[
        ("Action", "CreateSnapshot"),
        ("ReplicationGroupId", GROUP),
        ("SnapshotName", "group-snap"),
    ])
    .await
    .result("CreateSnapshot");

    let reply = h
        .call(&[("Action", "DescribeSnapshots"), ("MaxRecords", "20")])
        .await;
    let page = reply.result("DescribeSnapshots");
    assert_eq!(page.all("Snapshots/Snapshot").len(), 20);
    let marker = page.text("Marker").expect("marker").to_string();
    let reply = h
        .call(&[
            ("Action", "DescribeSnapshots"),
            ("MaxRecords", "20"),
            ("Marker", &marker),
        ])
        .await;
    let page = reply.result("DescribeSnapshots");
    assert_eq!(page.all("Snapshots/Snapshot").len(), 6);
    assert!(page.text("Marker").is_none());

    let count = |reply: &crate::support::Reply| {
        reply
            .result("DescribeSnapshots")
            .all("Snapshots/Snapshot")
            .len()
    };
    let r = h
        .call(&[("Action", "DescribeSnapshots"), ("CacheClusterId", "solo")])
        .await;
    assert_eq!(count(&r), 25);
    let r = h
        .call(&[
            ("Action", "DescribeSnapshots"),
            ("ReplicationGroupId", GROUP),
        ])
        .await;
    assert_eq!(count(&r), 1);
    let r = h
        .call(&[("Action", "DescribeSnapshots"), ("SnapshotSource", "user")])
        .await;
    assert_eq!(count(&r), 26);
    let r = h
        .call(&[
            ("Action", "DescribeSnapshots"),
            ("SnapshotSource", "system"),
        ])
        .await;
    assert_eq!(count(&r), 0);

    let msg = h
        .call(&[("Action", "DeleteSnapshot"), ("SnapshotName", "group-snap")])
        .await
        .error("InvalidSnapshotState", 400);
    assert_eq!(
        msg,
        "Snapshot group-snap is not in a valid state to be deleted. Current status: creating."
    );
    let reply = h
        .call(&[("Action", "DeleteSnapshot"), ("SnapshotName", "solo-00")])
        .await;
    let s = reply.result("DeleteSnapshot").get("Snapshot").unwrap();
    assert_model_order(&s.child_names(), SNAPSHOT_MODEL);
    assert_eq!(s.text("SnapshotStatus"), Some("deleting"));
    let reply = h
        .call(&[("Action", "DescribeSnapshots"), ("SnapshotName", "solo-00")])
        .await;
    assert_eq!(
        reply
            .result("DescribeSnapshots")
            .text("Snapshots/Snapshot/SnapshotStatus"),
        Some("deleting")
    );
    h.call(&[("Action", "DeleteSnapshot"), ("SnapshotName", "solo-00")])
        .await
        .error("InvalidSnapshotState", 400);
}

// Goal: CreateReplicationGroup / CreateCacheCluster with SnapshotName check the snapshot on the
// wire as AWS does — unknown or not yet available: `SnapshotNotFoundFault` (404); both
// SnapshotName and SnapshotArns: `InvalidParameterCombination`; the restoration guide's mistake
// (an ElastiCache snapshot ARN in SnapshotArns) gets its exact `InvalidParameterValue`; an S3
// object ARN is refused without an object store (no --s3-endpoint); an available snapshot is accepted and the new
// group reads `creating`. Method: settle a group, create a snapshot, try each request before
// and after completing the snapshot by hand.
#[tokio::test]
async fn restore_requests_check_the_snapshot() {
    let h = Harness::new();
    h.call(FAILOVER_LAB).await.result("CreateReplicationGroup");
    h.settle();
    let restore = |name: &'static str| {
        [
            ("Action", "CreateReplicationGroup"),
            ("ReplicationGroupId", "restored"),
            ("ReplicationGroupDescription", "restored"),
            ("NumCacheClusters", "2"),
            ("CacheNodeType", "cache.t3.micro"),
            ("Engine", "redis"),
            ("SnapshotName", name),
        ]
    };
    let msg = h
        .call(&restore("nightly"))
        .await
        .error("SnapshotNotFoundFault", 404);
    assert_eq!(msg, "Snapshot nightly not found.");
    h.call(&[
        ("Action", "CreateSnapshot"),
        ("ReplicationGroupId", GROUP),
        ("SnapshotName", "nightly"),
    ])
    .await
    .result("CreateSnapshot");
    // Still `creating`: not restorable yet.
    h.call(&restore("nightly"))
        .await
        .error("SnapshotNotFoundFault", 404);

    let arn = "arn:aws:elasticache:us-east-1:123456789012:snapshot:nightly";
    let mut with_arn: Vec<(&str, &str)> = restore("nightly")[..6].to_vec();
    with_arn.push(("SnapshotArns.SnapshotArn.1", arn));
    let msg = h.call(&with_arn).await.error("InvalidParameterValue", 400);
    assert_eq!(
        msg,
        format!("Must specify an object path for the S3 ARN: {arn}")
    );
    let mut s3 = restore("nightly")[..6].to_vec();
    s3.push((
        "SnapshotArns.SnapshotArn.1",
        "arn:aws:s3:::bucket/path/file.rdb",
    ));
    let msg = h.call(&s3).await.error("InvalidParameterValue", 400);
    assert_eq!(
        msg,
        "Cannot read arn:aws:s3:::bucket/path/file.rdb: this Ferrocache has no object store (start it with --s3-endpoint URL)."
    );
    let mut both = restore("nightly").to_vec();
    both.push(("SnapshotArns.SnapshotArn.1", arn));
    h.call(&both)
        .await
        .error("InvalidParameterCombination", 400);

    complete(&h, "nightly");
    let reply = h.call(&restore("Nightly")).await;
    let g = reply
        .result("CreateReplicationGroup")
        .get("ReplicationGroup")
        .unwrap();
    assert_eq!(g.text("Status"), Some("creating"));
    let reply = h
        .call(&[
            ("Action", "CreateCacheCluster"),
            ("CacheClusterId", "solo"),
            ("CacheNodeType", "cache.t3.micro"),
            ("Engine", "redis"),
            ("SnapshotName", "nightly"),
        ])
        .await;
    let c = reply
        .result("CreateCacheCluster")
        .get("CacheCluster")
        .unwrap();
    assert_eq!(c.text("CacheClusterStatus"), Some("creating"));
    h.call(&[
        ("Action", "CreateCacheCluster"),
        ("CacheClusterId", "solo2"),
        ("CacheNodeType", "cache.t3.micro"),
        ("Engine", "redis"),
        ("SnapshotName", "missing"),
    ])
    .await
    .error("SnapshotNotFoundFault", 404);
}

// Goal: CopySnapshot answers the copy reading `creating` with the source's description under
// the new name, and AWS's faults: unknown source (404), source not `available`, target taken,
// bad target name, TargetBucket refused without an object store (no --s3-endpoint); the source cannot be deleted
// while the copy reads its files, and the copy does not make the source's node `snapshotting`.
// Method: settle the failover-lab group, snapshot it, try each call before and after
// completing the snapshot by hand.
#[tokio::test]
async fn copy_snapshot_and_its_faults() {
    let h = Harness::new();
    h.call(FAILOVER_LAB).await.result("CreateReplicationGroup");
    h.settle();
    let copy = |source: &'static str, target: &'static str| {
        [
            ("Action", "CopySnapshot"),
            ("SourceSnapshotName", source),
            ("TargetSnapshotName", target),
        ]
    };
    let msg = h
        .call(&copy("nightly", "nightly-copy"))
        .await
        .error("SnapshotNotFoundFault", 404);
    assert_eq!(msg, "Snapshot nightly not found.");
    h.call(&[
        ("Action", "CreateSnapshot"),
        ("ReplicationGroupId", GROUP),
        ("SnapshotName", "nightly"),
    ])
    .await
    .result("CreateSnapshot");
    let msg = h
        .call(&copy("nightly", "nightly-copy"))
        .await
        .error("InvalidSnapshotState", 400);
    assert_eq!(
        msg,
        "Snapshot nightly is not in available state. Current status: creating."
    );
    complete(&h, "nightly");
    let msg = h
        .call(&copy("nightly", "nightly"))
        .await
        .error("SnapshotAlreadyExistsFault", 400);
    assert_eq!(msg, "Snapshot nightly already exists.");
    let msg = h
        .call(&copy("nightly", "bad--copy"))
        .await
        .error("InvalidParameterValue", 400);
    assert!(
        msg.starts_with("The parameter SnapshotName is not a valid identifier."),
        "{msg}"
    );
    let mut export = copy("nightly", "exported").to_vec();
    export.push(("TargetBucket", "my-bucket"));
    let msg = h.call(&export).await.error("InvalidParameterValue", 400);
    assert!(
        msg.starts_with(
            "TargetBucket needs an object store: start ferrocache up with --s3-endpoint URL"
        ),
        "{msg}"
    );
    h.call(&[
        ("Action", "CopySnapshot"),
        ("SourceSnapshotName", "nightly"),
    ])
    .await
    .error("MissingParameter", 400);

    let reply = h.call(&copy("nightly", "Nightly-Copy")).await;
    let s = reply.result("CopySnapshot").get("Snapshot").unwrap();
    assert_model_order(&s.child_names(), SNAPSHOT_MODEL);
    assert_eq!(s.text("SnapshotName"), Some("nightly-copy"));
    assert_eq!(s.text("SnapshotStatus"), Some("creating"));
    assert_eq!(s.text("ReplicationGroupId"), Some(GROUP));
    assert_eq!(
        s.text("NodeSnapshots/NodeSnapshot/CacheClusterId"),
        Some(format!("{GROUP}-002").as_str())
    );
    assert_eq!(
        cluster_status(&h, &format!("{GROUP}-002")).await,
        "available"
    );
    assert_eq!(group_status(&h).await, "available");
    let msg = h
        .call(&[("Action", "DeleteSnapshot"), ("SnapshotName", "nightly")])
        .await
        .error("InvalidSnapshotState", 400);
    assert!(msg.contains("is being copied"), "{msg}");
    complete(&h, "nightly-copy");
    h.call(&[("Action", "DeleteSnapshot"), ("SnapshotName", "nightly")])
        .await
        .result("DeleteSnapshot");
}

// Goal: DeleteReplicationGroup with FinalSnapshotIdentifier — a name already taken is
// `SnapshotAlreadyExistsFault` and nothing is deleted; a bad name is `InvalidParameterValue`;
// otherwise the group reads `deleting` and the final snapshot `creating`, taken from the primary,
// described as the group's. Method: settle the failover-lab group, take a snapshot, delete with
// the taken name, a bad one, then a new one.
#[tokio::test]
async fn delete_group_with_final_snapshot() {
    let h = Harness::new();
    h.call(FAILOVER_LAB).await.result("CreateReplicationGroup");
    h.settle();
    h.call(&[
        ("Action", "CreateSnapshot"),
        ("ReplicationGroupId", GROUP),
        ("SnapshotName", "taken"),
    ])
    .await
    .result("CreateSnapshot");
    complete(&h, "taken");
    let delete = |name: &'static str| {
        [
            ("Action", "DeleteReplicationGroup"),
            ("ReplicationGroupId", GROUP),
            ("FinalSnapshotIdentifier", name),
        ]
    };
    let msg = h
        .call(&delete("taken"))
        .await
        .error("SnapshotAlreadyExistsFault", 400);
    assert_eq!(msg, "Snapshot taken already exists.");
    assert_eq!(group_status(&h).await, "available");
    h.call(&delete("bad--name"))
        .await
        .error("InvalidParameterValue", 400);
    assert_eq!(group_status(&h).await, "available");

    let reply = h.call(&delete("Final-Snap")).await;
    let g = reply
        .result("DeleteReplicationGroup")
        .get("ReplicationGroup")
        .unwrap();
    assert_eq!(g.text("Status"), Some("deleting"));
    let reply = h
        .call(&[
            ("Action", "DescribeSnapshots"),
            ("SnapshotName", "final-snap"),
        ])
        .await;
    let s = reply
        .result("DescribeSnapshots")
        .get("Snapshots/Snapshot")
        .unwrap();
    assert_eq!(s.text("SnapshotStatus"), Some("creating"));
    assert_eq!(s.text("ReplicationGroupId"), Some(GROUP));
    assert_eq!(s.text("CacheClusterId"), None);
    assert_eq!(
        s.text("NodeSnapshots/NodeSnapshot/CacheClusterId"),
        Some(format!("{GROUP}-001").as_str())
    );
    assert_eq!(
        cluster_status(&h, &format!("{GROUP}-002")).await,
        "deleting"
    );
    h.call(&delete("again"))
        .await
        .error("InvalidReplicationGroupState", 400);
}

// Goal: DeleteCacheCluster with FinalSnapshotIdentifier records a `creating` snapshot of that
// cluster and marks it `deleting`; a taken name is `SnapshotAlreadyExistsFault` with the
// cluster untouched. Method: a settled standalone cluster, a snapshot, two deletes.
#[tokio::test]
async fn delete_cluster_with_final_snapshot() {
    let h = Harness::new();
    h.call(&[
        ("Action", "CreateCacheCluster"),
        ("CacheClusterId", "solo"),
        ("Engine", "redis"),
        ("CacheNodeType", "cache.t3.micro"),
    ])
    .await
    .result("CreateCacheCluster");
    h.settle();
    h.call(&[
        ("Action", "CreateSnapshot"),
        ("CacheClusterId", "solo"),
        ("SnapshotName", "taken"),
    ])
    .await
    .result("CreateSnapshot");
    complete(&h, "taken");
    let delete = |name: &'static str| {
        [
            ("Action", "DeleteCacheCluster"),
            ("CacheClusterId", "solo"),
            ("FinalSnapshotIdentifier", name),
        ]
    };
    h.call(&delete("taken"))
        .await
        .error("SnapshotAlreadyExistsFault", 400);
    assert_eq!(cluster_status(&h, "solo").await, "available");
    let reply = h.call(&delete("solo-final")).await;
    assert_eq!(
        reply
            .result("DeleteCacheCluster")
            .text("CacheCluster/CacheClusterStatus"),
        Some("deleting")
    );
    let reply = h
        .call(&[
            ("Action", "DescribeSnapshots"),
            ("SnapshotName", "solo-final"),
        ])
        .await;
    let s = reply
        .result("DescribeSnapshots")
        .get("Snapshots/Snapshot")
        .unwrap();
    assert_eq!(s.text("SnapshotStatus"), Some("creating"));
    assert_eq!(s.text("CacheClusterId"), Some("solo"));
}
