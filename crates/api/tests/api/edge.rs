//! The edge itself: methods, paths, body limits, the query string, SigV4 regions, malformed
//! parameters, the operation table walked over HTTP, and junk that must never give a 5xx.

use axum::body::Body;
use axum::http::Request;
use ferrocache_api::operation::OPERATIONS;
use ferrocache_api::ApiConfig;

use crate::support::{authorization, Harness};

fn post(body: impl Into<Body>) -> Request<Body> {
    Request::post("/")
        .header(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )
        .header("authorization", authorization("us-east-1"))
        .body(body.into())
        .expect("request")
}

// Goal: the §2.1 malformed values are 400s naming the parameter, never 5xx. Method: one request
// per rule (boolean, integer, timestamp, list index), each signed and form-encoded.
#[tokio::test]
async fn malformed_parameters_are_400() {
    let h = Harness::new();
    let base = [
        ("Action", "CreateReplicationGroup"),
        ("ReplicationGroupId", "g"),
        ("ReplicationGroupDescription", "d"),
    ];
    let cases: [(&str, &str, &str); 6] = [
        ("AutomaticFailoverEnabled", "yes", "Invalid boolean value"),
        ("NumCacheClusters", "three", "NumCacheClusters"),
        ("Port", "99999999999999999999999", "Port"),
        ("Tags.Tag.4294967296.Key", "k", "from 1 to 1000"),
        (
            "SecurityGroupIds.SecurityGroupId.0",
            "sg-1",
            "from 1 to 1000",
        ),
        (
            "PreferredCacheClusterAZs.AvailabilityZone.1.Name",
            "x",
            "no field",
        ),
    ];
    for (name, value, expected) in cases {
        let mut pairs = base.to_vec();
        pairs.push((name, value));
        let message = h.call(&pairs).await.error("InvalidParameterValue", 400);
        assert!(message.contains(expected), "{name}: {message}");
    }
    let message = h
        .call(&[("Action", "DescribeEvents"), ("StartTime", "yesterday")])
        .await
        .error("InvalidParameterValue", 400);
    assert!(message.contains("StartTime"), "{message}");
}

// Goal: a list with a gap is read in index order, and the highest allowed index is accepted.
// Method: create with AZs at indexes 1 and 1000, read back the zones the group asked for.
#[tokio::test]
async fn list_gaps_close_up() {
    let h = Harness::new();
    let reply = h
        .call(&[
            ("Action", "CreateReplicationGroup"),
            ("ReplicationGroupId", "gaps"),
            ("ReplicationGroupDescription", "d"),
            ("NumCacheClusters", "2"),
            (
                "PreferredCacheClusterAZs.AvailabilityZone.1000",
                "us-east-1c",
            ),
            ("PreferredCacheClusterAZs.AvailabilityZone.1", "us-east-1b"),
        ])
        .await;
    reply.result("CreateReplicationGroup");
    let clusters = h.call(&[("Action", "DescribeCacheClusters")]).await;
    let zones: Vec<String> = clusters
        .result("DescribeCacheClusters")
        .all("CacheClusters/CacheCluster")
        .iter()
        .map(|c| {
            c.text("PreferredAvailabilityZone")
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(zones, ["us-east-1b", "us-east-1c"]);
}

// Goal: Action and Version are checked in one place: missing → MissingAction, unknown or not
// implemented → InvalidAction with AWS's message, other Version → InvalidAction, missing
// Version accepted. Method: raw bodies.
#[tokio::test]
async fn actions_and_versions() {
    let h = Harness::new();
    h.send(post("Version=2015-02-02"))
        .await
        .error("MissingAction", 400);
    h.send(post("")).await.error("MissingAction", 400);
    let msg = h
        .send(post("Action=FlyToTheMoon&Version=2015-02-02"))
        .await
        .error("InvalidAction", 400);
    assert_eq!(
        msg,
        "The action FlyToTheMoon is not valid for this web service."
    );
    let msg = h
        .send(post("Action=BatchApplyUpdateAction&Version=2015-02-02"))
        .await
        .error("InvalidAction", 400);
    assert_eq!(
        msg,
        "The action BatchApplyUpdateAction is not valid for this web service."
    );
    let msg = h
        .send(post("Action=DescribeEvents&Version=2014-09-30"))
        .await
        .error("InvalidAction", 400);
    assert_eq!(
        msg,
        "Could not find operation DescribeEvents for version 2014-09-30."
    );
    h.send(post("Action=DescribeEvents"))
        .await
        .result("DescribeEvents");
}

// Goal: only POST and GET reach the table; other methods and other paths get XML errors, never
// HTML. Method: PUT/DELETE/PATCH on `/`, a POST to `/nope`.
#[tokio::test]
async fn methods_and_paths() {
    let h = Harness::new();
    for method in ["PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"] {
        let request = Request::builder()
            .method(method)
            .uri("/?Action=DescribeEvents")
            .body(Body::empty())
            .expect("request");
        let reply = h.send(request).await;
        if method == "HEAD" {
            // HEAD has no body by definition; the status still says no.
            assert_eq!(reply.status.as_u16(), 405);
            continue;
        }
        reply.error("MethodNotAllowed", 405);
    }
    let reply = h
        .send(
            Request::post("/nope")
                .body(Body::from("Action=DescribeEvents"))
                .expect("request"),
        )
        .await;
    reply.error("NotFound", 404);
}

// Goal: parameters in the query string work for GET and POST, as on AWS. Method: GET with the
// whole request in the query string; POST with Action in the query and members in the body.
#[tokio::test]
async fn query_string_parameters() {
    let h = Harness::new();
    let get = Request::get("/?Action=DescribeCacheEngineVersions&Version=2015-02-02")
        .body(Body::empty())
        .expect("request");
    h.send(get).await.result("DescribeCacheEngineVersions");
    let mixed = Request::post("/?Action=CreateReplicationGroup&Version=2015-02-02")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(
            "ReplicationGroupId=q&ReplicationGroupDescription=via+query",
        ))
        .expect("request");
    let reply = h.send(mixed).await;
    assert_eq!(
        reply
            .result("CreateReplicationGroup")
            .text("ReplicationGroup/Description"),
        Some("via query")
    );
}

// Goal: bodies over the limit are 413 RequestEntityTooLarge as XML, whether the length is
// declared or the body streams without one, and memory stays bounded (the streamed body is
// far larger than the limit but is cut off at it). Method: a 1 KiB limit; a declared 2 KiB
// body; a 64 MiB chunked stream.
#[tokio::test]
async fn oversized_bodies_are_413() {
    let h = Harness::with_config(ApiConfig {
        body_bytes_max: 1024,
        ..ApiConfig::default()
    });
    let big = format!("Action=DescribeEvents&Pad={}", "x".repeat(2048));
    let reply = h.send(post(big)).await;
    reply.error("RequestEntityTooLarge", 413);

    let chunks = (0..1024).map(|_| Ok::<_, std::io::Error>(vec![b'x'; 64 * 1024]));
    let stream = Body::from_stream(futures_util::stream::iter(chunks));
    let reply = h.send(post(stream)).await;
    reply.error("RequestEntityTooLarge", 413);

    // Just under the limit is fine.
    let fits = format!("Action=DescribeEvents&Pad={}", "x".repeat(900));
    h.send(post(fits)).await.result("DescribeEvents");
}

// Goal: the region comes from the SigV4 scope of a botocore header, unsigned requests land in
// the configured default region, and unreadable credentials are a 403, not a silent default.
// Method: create groups three ways and read the region out of their ARNs.
#[tokio::test]
async fn regions_from_sigv4() {
    let h = Harness::with_config(ApiConfig {
        default_region: "eu-central-1".into(),
        ..ApiConfig::default()
    });
    let create = "Action=CreateReplicationGroup&Version=2015-02-02&ReplicationGroupId=r1&ReplicationGroupDescription=d";
    let signed = h
        .call_in(
            "ap-southeast-1",
            &[
                ("Action", "CreateReplicationGroup"),
                ("ReplicationGroupId", "r0"),
                ("ReplicationGroupDescription", "d"),
            ],
        )
        .await;
    assert_eq!(
        signed
            .result("CreateReplicationGroup")
            .text("ReplicationGroup/ARN"),
        Some("arn:aws:elasticache:ap-southeast-1:123456789012:replicationgroup:r0")
    );
    let unsigned = h
        .send(
            Request::post("/")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from(create))
                .expect("request"),
        )
        .await;
    assert_eq!(
        unsigned
            .result("CreateReplicationGroup")
            .text("ReplicationGroup/ARN"),
        Some("arn:aws:elasticache:eu-central-1:123456789012:replicationgroup:r1")
    );
    let bad = Request::post("/")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", "AWS4-HMAC-SHA256 Credential=AKID/20261121/us-east-1:evil/elasticache/aws4_request, Signature=0")
        .body(Body::from(create))
        .expect("request");
    h.send(bad).await.error("IncompleteSignature", 403);
}

// Goal: a body that is not a form (another protocol's JSON) is not read as one. Method: JSON
// content type with an Action-looking body.
#[tokio::test]
async fn non_form_bodies_are_not_parsed() {
    let h = Harness::new();
    let json = Request::post("/")
        .header("content-type", "application/x-amz-json-1.0")
        .body(Body::from("Action=DescribeEvents"))
        .expect("request");
    h.send(json).await.error("MissingAction", 400);
}

// Goal: walk the operation table over HTTP: every action is answered (not InvalidAction), with
// XML, and a request carrying only `Action` is never a 5xx. Method: one bare request per row.
#[tokio::test]
async fn every_table_row_answers() {
    let h = Harness::new();
    for op in OPERATIONS {
        let reply = h.call(&[("Action", op.action)]).await;
        assert!(
            !reply.status.is_server_error(),
            "{}: {}",
            op.action,
            reply.body
        );
        if reply.status.is_success() {
            reply.result(op.action);
        } else {
            assert_ne!(reply.error_code(), "InvalidAction", "{}", op.action);
            if let Some(first) = op.required.first() {
                assert_eq!(reply.error_code(), "MissingParameter", "{}", op.action);
                assert!(
                    reply
                        .doc
                        .text("Error/Message")
                        .unwrap_or_default()
                        .ends_with(first),
                    "{}",
                    reply.body
                );
            }
        }
    }
}

// Goal: handlers never panic or 5xx on junk (client input is an operating error). Method: a
// deterministic generator of parameter soups over every action: known member names with
// hostile values (huge numbers, bad booleans, control bytes, odd list keys), 300 requests.
#[tokio::test]
async fn junk_never_gives_5xx() {
    let h = Harness::new();
    let names = [
        "ReplicationGroupId",
        "ReplicationGroupDescription",
        "CacheClusterId",
        "NumCacheClusters",
        "Port",
        "AutomaticFailoverEnabled",
        "MultiAZEnabled",
        "ShowCacheNodeInfo",
        "MaxRecords",
        "Marker",
        "StartTime",
        "Duration",
        "ResourceName",
        "NewReplicaCount",
        "ApplyImmediately",
        "Tags.Tag.1.Key",
        "Tags.Tag.2.Value",
        "TagKeys.member.3",
        "ReplicasToRemove.member.1",
        "CacheNodeIdsToReboot.CacheNodeId.1",
        "SourceType",
        "PreferredCacheClusterAZs.AvailabilityZone.999",
        "ReplicaConfiguration.ConfigureShard.1.NodeGroupId",
        "NodeGroupConfiguration.NodeGroupConfiguration.2.Slots",
        "SnapshotRetentionLimit",
        "EngineVersion",
        "RetainPrimaryCluster",
        "FinalSnapshotIdentifier",
        "ReplicationGroupId.member.1",
        "Tags.Tag..Key",
    ];
    let values = [
        "",
        "true",
        "false",
        "TRUE",
        "1",
        "-1",
        "0",
        "20",
        "101",
        "9223372036854775807",
        "99999999999999999999",
        "a",
        "A-b",
        "--",
        "x".repeat(300).leak(),
        "\u{0}\u{1b}",
        "<&>",
        "2026-11-21T21:00:00Z",
        "arn:aws:elasticache:us-east-1:123456789012:cluster:a",
        "arn:aws:elasticache::::",
        "sg-zz",
        "us-east-1a",
        "0001",
        "%",
        "\u{FFFF}",
    ];
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..300 {
        let action = OPERATIONS[(next() % OPERATIONS.len() as u64) as usize].action;
        let mut pairs = vec![("Action", action)];
        for _ in 0..(next() % 8) {
            pairs.push((
                names[(next() % names.len() as u64) as usize],
                values[(next() % values.len() as u64) as usize],
            ));
        }
        let reply = h.call(&pairs).await;
        assert!(!reply.status.is_server_error(), "{pairs:?}: {}", reply.body);
        assert!(reply.request_id.is_some());
    }
}
