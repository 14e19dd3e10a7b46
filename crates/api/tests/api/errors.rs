//! Every wire error code the edge can produce today, reached through a real request, with
//! AWS's HTTP status and the `ErrorResponse` envelope.

use crate::support::Harness;

/// An owned form.
type Form = Vec<(String, String)>;

fn form(pairs: &[(&str, &str)]) -> Form {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn create_group(id: &str) -> Form {
    form(&[
        ("Action", "CreateReplicationGroup"),
        ("ReplicationGroupId", id),
        ("ReplicationGroupDescription", "d"),
    ])
}

fn with(mut base: Form, extra: &[(&str, &str)]) -> Form {
    base.extend(form(extra));
    base
}

async fn call(h: &Harness, pairs: &Form) -> crate::support::Reply {
    let borrowed: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    h.call(&borrowed).await
}

const CLUSTER_ARN: &str = "arn:aws:elasticache:us-east-1:123456789012:cluster:solo";

// Goal: each fault code of the AWS model that the service can raise today comes back with its
// exact wire code and HTTP status (§2.3), as XML with Type Sender. Method: one request per
// code, in a store prepared by earlier requests of the same test.
#[tokio::test]
async fn every_fault_code_is_reachable() {
    let h = Harness::new();
    let solo = form(&[
        ("Action", "CreateCacheCluster"),
        ("CacheClusterId", "solo"),
        ("CacheNodeType", "cache.t3.micro"),
    ]);
    call(&h, &solo).await.result("CreateCacheCluster");
    call(&h, &create_group("taken"))
        .await
        .result("CreateReplicationGroup");
    call(
        &h,
        &with(create_group("full"), &[("NumCacheClusters", "6")]),
    )
    .await
    .result("CreateReplicationGroup");
    // Everything so far becomes available (six nodes in `full`); `creating` is created after
    // and stays in its first state.
    h.settle();
    call(&h, &create_group("creating"))
        .await
        .result("CreateReplicationGroup");

    let mut add_51_tags = form(&[
        ("Action", "AddTagsToResource"),
        ("ResourceName", CLUSTER_ARN),
    ]);
    for i in 1..=51 {
        add_51_tags.push((format!("Tags.Tag.{i}.Key"), format!("k{i}")));
    }
    let tags_of = |arn: &str| form(&[("Action", "ListTagsForResource"), ("ResourceName", arn)]);

    let cases: Vec<(Form, &str, u16)> = vec![
        (
            form(&[
                ("Action", "DescribeReplicationGroups"),
                ("ReplicationGroupId", "nope"),
            ]),
            "ReplicationGroupNotFoundFault",
            404,
        ),
        (
            form(&[
                ("Action", "DescribeCacheClusters"),
                ("CacheClusterId", "nope"),
            ]),
            "CacheClusterNotFound",
            404,
        ),
        (
            with(
                create_group("a"),
                &[("CacheParameterGroupName", "custom-params")],
            ),
            "CacheParameterGroupNotFound",
            404,
        ),
        (
            with(create_group("a"), &[("CacheSubnetGroupName", "private")]),
            "CacheSubnetGroupNotFoundFault",
            400,
        ),
        (
            create_group("1-starts-with-a-digit"),
            "InvalidParameterValue",
            400,
        ),
        (
            with(
                create_group("a"),
                &[
                    ("AutomaticFailoverEnabled", "true"),
                    ("NumCacheClusters", "1"),
                ],
            ),
            "InvalidParameterCombination",
            400,
        ),
        (
            form(&[
                ("Action", "CreateReplicationGroup"),
                ("ReplicationGroupId", "a"),
            ]),
            "MissingParameter",
            400,
        ),
        (create_group("taken"), "ReplicationGroupAlreadyExists", 400),
        (solo.clone(), "CacheClusterAlreadyExists", 400),
        (
            form(&[
                ("Action", "DeleteReplicationGroup"),
                ("ReplicationGroupId", "creating"),
            ]),
            "InvalidReplicationGroupState",
            400,
        ),
        (
            form(&[
                ("Action", "DeleteCacheCluster"),
                ("CacheClusterId", "creating-001"),
            ]),
            "InvalidCacheClusterState",
            400,
        ),
        (
            form(&[
                ("Action", "CreateCacheCluster"),
                ("CacheClusterId", "seventh"),
                ("ReplicationGroupId", "full"),
            ]),
            "NodeQuotaForClusterExceeded",
            400,
        ),
        (tags_of("solo"), "InvalidARN", 400),
        (
            form(&[
                ("Action", "RemoveTagsFromResource"),
                ("ResourceName", CLUSTER_ARN),
                ("TagKeys.member.1", "missing"),
            ]),
            "TagNotFound",
            404,
        ),
        (add_51_tags, "TagQuotaPerResourceExceeded", 400),
        (
            tags_of("arn:aws:elasticache:us-east-1:123456789012:snapshot:snap"),
            "SnapshotNotFoundFault",
            404,
        ),
        (
            tags_of("arn:aws:elasticache:us-east-1:123456789012:user:alice"),
            "UserNotFound",
            404,
        ),
        (
            tags_of("arn:aws:elasticache:us-east-1:123456789012:usergroup:team"),
            "UserGroupNotFound",
            404,
        ),
    ];
    for (request, code, status) in cases {
        let reply = call(&h, &request).await;
        let message = reply.error(code, status);
        assert!(!message.is_empty(), "{code} has a message");
    }
}

// Goal: messages are the model's AWS wording. Method: spot-check three faults end to end.
#[tokio::test]
async fn messages_are_aws_wording() {
    let h = Harness::new();
    let reply = h
        .call(&[
            ("Action", "DescribeReplicationGroups"),
            ("ReplicationGroupId", "Nope"),
        ])
        .await;
    assert_eq!(
        reply.error("ReplicationGroupNotFoundFault", 404),
        "Replication group nope not found."
    );
    let reply = h
        .call(&[
            ("Action", "CreateReplicationGroup"),
            ("ReplicationGroupId", "a"),
        ])
        .await;
    assert_eq!(
        reply.error("MissingParameter", 400),
        "The request must contain the parameter ReplicationGroupDescription"
    );
    let reply = h
        .call(&[
            ("Action", "CreateReplicationGroup"),
            ("ReplicationGroupId", "a"),
            ("ReplicationGroupDescription", "d"),
            ("AutomaticFailoverEnabled", "true"),
        ])
        .await;
    assert_eq!(
        reply.error("InvalidParameterCombination", 400),
        "When using automatic failover, there must be at least 2 cache clusters in the replication group."
    );
}

// Goal: a store failure is a 500 InternalFailure (Type Receiver) with a generic message that
// leaks nothing of the cause. Method: write an undecodable document into the node table, then
// describe the region's cache clusters.
#[tokio::test]
async fn store_failure_is_a_generic_500() {
    let h = Harness::new();
    h.put_raw(
        "node_spec",
        &Harness::key("us-east-1", "broken"),
        b"{ not json",
    );
    let reply = h.call(&[("Action", "DescribeCacheClusters")]).await;
    let message = reply.error("InternalFailure", 500);
    assert_eq!(
        message,
        "The request processing has failed because of an unknown error, exception or failure."
    );
    assert!(
        !reply.body.contains("broken")
            && !reply.body.contains("node_spec")
            && !reply.body.contains("json")
    );
}
