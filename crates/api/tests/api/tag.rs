//! ListTagsForResource / AddTagsToResource / RemoveTagsFromResource and tags on create.

use crate::support::Harness;

const ARN: &str = "arn:aws:elasticache:us-east-1:123456789012:cluster:solo";

fn keys_and_values(reply: &crate::support::Reply, action: &str) -> Vec<(String, String)> {
    let result = reply.result(action);
    assert_eq!(result.child_names(), ["TagList"]);
    result
        .all("TagList/Tag")
        .iter()
        .map(|t| {
            assert_eq!(t.child_names(), ["Key", "Value"]);
            (
                t.text("Key").unwrap_or_default().to_string(),
                t.text("Value").unwrap_or_default().to_string(),
            )
        })
        .collect()
}

// Goal: tags given at creation, added, listed and removed all travel as `Tags.Tag.N.Key/Value`
// and `TagKeys.member.N` and come back as `<TagList><Tag>`; a tag without Value has the empty
// value. Method: a round trip on a standalone cluster.
#[tokio::test]
async fn tag_round_trip() {
    let h = Harness::new();
    h.call(&[
        ("Action", "CreateCacheCluster"),
        ("CacheClusterId", "solo"),
        ("CacheNodeType", "cache.t3.micro"),
        ("Tags.Tag.1.Key", "env"),
        ("Tags.Tag.1.Value", "dev"),
    ])
    .await
    .result("CreateCacheCluster");
    let listed = h
        .call(&[("Action", "ListTagsForResource"), ("ResourceName", ARN)])
        .await;
    assert_eq!(
        keys_and_values(&listed, "ListTagsForResource"),
        [("env".into(), "dev".into())]
    );

    let added = h
        .call(&[
            ("Action", "AddTagsToResource"),
            ("ResourceName", ARN),
            ("Tags.Tag.1.Key", "team"),
            ("Tags.Tag.1.Value", "cache & co"),
            ("Tags.Tag.2.Key", "flag"),
        ])
        .await;
    assert_eq!(
        keys_and_values(&added, "AddTagsToResource"),
        [
            ("env".into(), "dev".into()),
            ("team".into(), "cache & co".into()),
            ("flag".into(), String::new())
        ]
    );

    let removed = h
        .call(&[
            ("Action", "RemoveTagsFromResource"),
            ("ResourceName", ARN),
            ("TagKeys.member.1", "env"),
            ("TagKeys.member.2", "flag"),
        ])
        .await;
    assert_eq!(
        keys_and_values(&removed, "RemoveTagsFromResource"),
        [("team".into(), "cache & co".into())]
    );

    // An empty required list is present (botocore sends `Tags=`) and changes nothing.
    let empty = h
        .call(&[
            ("Action", "AddTagsToResource"),
            ("ResourceName", ARN),
            ("Tags", ""),
        ])
        .await;
    assert_eq!(keys_and_values(&empty, "AddTagsToResource").len(), 1);
}

// Goal: a tag entry without Key is MissingParameter naming the entry. Method: Value only at
// index 2.
#[tokio::test]
async fn tag_without_key() {
    let h = Harness::new();
    let reply = h
        .call(&[
            ("Action", "AddTagsToResource"),
            ("ResourceName", ARN),
            ("Tags.Tag.1.Key", "a"),
            ("Tags.Tag.2.Value", "b"),
        ])
        .await;
    assert_eq!(
        reply.error("MissingParameter", 400),
        "The request must contain the parameter Tags.Tag.2.Key"
    );
}
