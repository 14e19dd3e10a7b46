//! DescribeEvents and DescribeCacheEngineVersions on the wire.

use ferrocache_model::event::SourceType;
use ferrocache_store::{update, StoreError, Writer};

use crate::support::Harness;

fn record(h: &Harness, id: &str, kind: SourceType, message: &str, minutes_ago: i64) {
    let date = chrono::Utc::now() - chrono::Duration::minutes(minutes_ago);
    update(
        h.store.as_ref(),
        |w: &mut dyn Writer| -> Result<(), StoreError> {
            ferrocache_control::events::record(w, "us-east-1", id, kind, message.to_string(), date)
        },
    )
    .expect("record");
}

// Goal: events come back newest first as `<Events><Event>` with the model's members in order,
// filtered by SourceIdentifier/SourceType and by a time window sent URL-encoded (`%3A`).
// Method: record three events at known ages, then describe with several filters.
#[tokio::test]
async fn describe_events() {
    let h = Harness::new();
    record(
        &h,
        "g",
        SourceType::ReplicationGroup,
        "Replication group g created",
        50,
    );
    record(
        &h,
        "g-001",
        SourceType::CacheCluster,
        "Cache cluster created",
        30,
    );
    record(
        &h,
        "g",
        SourceType::ReplicationGroup,
        "Automatic failover has been turned on for replication group g",
        5,
    );
    record(
        &h,
        "old",
        SourceType::CacheCluster,
        "Cache cluster created",
        600,
    );

    let reply = h.call(&[("Action", "DescribeEvents")]).await;
    let result = reply.result("DescribeEvents");
    assert_eq!(result.child_names(), ["Events"]);
    let events = result.all("Events/Event");
    let messages: Vec<&str> = events
        .iter()
        .map(|e| e.text("Message").unwrap_or_default())
        .collect();
    assert_eq!(
        messages,
        [
            "Automatic failover has been turned on for replication group g",
            "Cache cluster created",
            "Replication group g created"
        ],
        "last hour only, newest first"
    );
    assert_eq!(
        events[0].child_names(),
        ["SourceIdentifier", "SourceType", "Message", "Date"]
    );
    assert_eq!(events[0].text("SourceType"), Some("replication-group"));
    assert!(events[0].text("Date").expect("date").ends_with('Z'));

    let by_id = h
        .call(&[
            ("Action", "DescribeEvents"),
            ("SourceIdentifier", "g-001"),
            ("SourceType", "cache-cluster"),
        ])
        .await;
    assert_eq!(by_id.result("DescribeEvents").all("Events/Event").len(), 1);

    let start = (chrono::Utc::now() - chrono::Duration::minutes(700))
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let end = (chrono::Utc::now() - chrono::Duration::minutes(500))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let window = h
        .call(&[
            ("Action", "DescribeEvents"),
            ("StartTime", &start),
            ("EndTime", &end),
        ])
        .await;
    let ids: Vec<String> = window
        .result("DescribeEvents")
        .all("Events/Event")
        .iter()
        .map(|e| e.text("SourceIdentifier").unwrap_or_default().to_string())
        .collect();
    assert_eq!(ids, ["old"]);

    let wide = h
        .call(&[("Action", "DescribeEvents"), ("Duration", "1440")])
        .await;
    assert_eq!(wide.result("DescribeEvents").all("Events/Event").len(), 4);
    h.call(&[("Action", "DescribeEvents"), ("SourceType", "galaxy")])
        .await
        .error("InvalidParameterValue", 400);
}

// Goal: DescribeCacheEngineVersions answers the running engine as `<CacheEngineVersions>
// <CacheEngineVersion>` with the model's members. Method: describe with and without filters.
#[tokio::test]
async fn describe_cache_engine_versions() {
    let h = Harness::new();
    let reply = h
        .call(&[
            ("Action", "DescribeCacheEngineVersions"),
            ("Engine", "redis"),
            ("DefaultOnly", "true"),
        ])
        .await;
    let versions = reply
        .result("DescribeCacheEngineVersions")
        .all("CacheEngineVersions/CacheEngineVersion");
    assert_eq!(versions.len(), 1);
    assert_eq!(
        versions[0].child_names(),
        [
            "Engine",
            "EngineVersion",
            "CacheParameterGroupFamily",
            "CacheEngineDescription",
            "CacheEngineVersionDescription"
        ]
    );
    assert_eq!(versions[0].text("EngineVersion"), Some("7.0.15"));
    assert_eq!(
        versions[0].text("CacheParameterGroupFamily"),
        Some("redis7")
    );
    let none = h
        .call(&[
            ("Action", "DescribeCacheEngineVersions"),
            ("Engine", "memcached"),
        ])
        .await;
    assert!(none
        .result("DescribeCacheEngineVersions")
        .get("CacheEngineVersions")
        .expect("list")
        .children
        .is_empty());
    h.call(&[
        ("Action", "DescribeCacheEngineVersions"),
        ("DefaultOnly", "maybe"),
    ])
    .await
    .error("InvalidParameterValue", 400);
}
