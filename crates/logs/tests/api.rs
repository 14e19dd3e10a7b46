//! Every operation against a real store: answers, refusals (codes and messages), paging, filter
//! patterns.

mod common;

use common::*;
use serde_json::{json, Value};

// ---- log groups ------------------------------------------------------------------------------

#[test]
fn a_log_group_is_created_described_and_deleted() {
    let f = Fixture::new();
    f.ok(
        "CreateLogGroup",
        json!({ "logGroupName": "/aws/elasticache/slow", "kmsKeyId": "arn:aws:kms:us-east-1:123456789012:key/k" }),
    );
    let answer = f.ok("DescribeLogGroups", json!({}));
    assert_eq!(
        answer,
        json!({ "logGroups": [{
            "logGroupName": "/aws/elasticache/slow",
            "creationTime": NOW,
            "metricFilterCount": 0,
            "arn": "arn:aws:logs:us-east-1:123456789012:log-group:/aws/elasticache/slow:*",
            "logGroupArn": "arn:aws:logs:us-east-1:123456789012:log-group:/aws/elasticache/slow",
            "logGroupClass": "STANDARD",
            "storedBytes": 0,
            "deletionProtectionEnabled": false,
            "kmsKeyId": "arn:aws:kms:us-east-1:123456789012:key/k",
        }]})
    );

    let e = f.err(
        "CreateLogGroup",
        json!({ "logGroupName": "/aws/elasticache/slow" }),
    );
    assert_refusal(
        &e,
        "ResourceAlreadyExistsException",
        "The specified log group already exists",
    );

    assert_eq!(
        f.ok(
            "DeleteLogGroup",
            json!({ "logGroupName": "/aws/elasticache/slow" })
        ),
        json!({})
    );
    assert_eq!(
        f.ok("DescribeLogGroups", json!({})),
        json!({ "logGroups": [] })
    );
    let e = f.err(
        "DeleteLogGroup",
        json!({ "logGroupName": "/aws/elasticache/slow" }),
    );
    assert_refusal(
        &e,
        "ResourceNotFoundException",
        "The specified log group does not exist.",
    );
}

#[test]
fn log_group_names_follow_the_model() {
    let f = Fixture::new();
    let e = f.err("CreateLogGroup", json!({ "logGroupName": "bad name" }));
    assert_refusal(
        &e,
        "InvalidParameterException",
        r"1 validation error detected: Value 'bad name' at 'logGroupName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\.\-_/#A-Za-z0-9]+",
    );
    let e = f.err("CreateLogGroup", json!({ "logGroupName": "a".repeat(513) }));
    assert_refusal(
        &e,
        "InvalidParameterException",
        "Invalid LogGroup or LogStream, both must have length less than or equal to 512.",
    );
    f.group(&"a".repeat(512));
    let e = f.err("CreateLogGroup", json!({}));
    assert_refusal(
        &e,
        "InvalidParameterException",
        "1 validation error detected: Value null at 'logGroupName' failed to satisfy constraint: Member must not be null",
    );
    let e = f.err("CreateLogGroup", json!({ "logGroupName": "" }));
    assert_refusal(
        &e,
        "InvalidParameterException",
        "1 validation error detected: Value '' at 'logGroupName' failed to satisfy constraint: Member must have length greater than or equal to 1",
    );
    let e = f.err("CreateLogGroup", json!({ "logGroupName": "aws/mine" }));
    assert_eq!(e.code(), "InvalidParameterException");
    f.group("a.b-c_d/e#f/0");
}

#[test]
fn regions_do_not_see_each_others_groups() {
    let f = Fixture::new();
    f.group("shared");
    f.ok_in(
        "eu-west-1",
        "CreateLogGroup",
        json!({ "logGroupName": "shared" }),
    );
    f.ok_in(
        "eu-west-1",
        "CreateLogGroup",
        json!({ "logGroupName": "only-eu" }),
    );
    let names = |region: &str| -> Vec<String> {
        f.ok_in(region, "DescribeLogGroups", json!({}))["logGroups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["logGroupName"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(REGION), ["shared"]);
    assert_eq!(names("eu-west-1"), ["only-eu", "shared"]);
    let eu = f.ok_in(
        "eu-west-1",
        "DescribeLogGroups",
        json!({ "logGroupNamePrefix": "only" }),
    );
    assert_eq!(
        eu["logGroups"][0]["arn"],
        "arn:aws:logs:eu-west-1:123456789012:log-group:only-eu:*"
    );
    assert!(f.logs.group_exists("eu-west-1", "only-eu"));
    assert!(!f.logs.group_exists(REGION, "only-eu"));
}

#[test]
fn describe_log_groups_filters_and_pages() {
    let f = Fixture::new();
    for name in ["app/b", "app/a", "app/c", "db/x", "db/app-y"] {
        f.group(name);
    }
    let names = |answer: &Value| -> Vec<String> {
        answer["logGroups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["logGroupName"].as_str().unwrap().to_string())
            .collect()
    };
    let prefix = f.ok("DescribeLogGroups", json!({ "logGroupNamePrefix": "app/" }));
    assert_eq!(names(&prefix), ["app/a", "app/b", "app/c"]);

    let pattern = f.ok("DescribeLogGroups", json!({ "logGroupNamePattern": "app" }));
    assert_eq!(names(&pattern), ["app/a", "app/b", "app/c", "db/app-y"]);
    // A pattern search answers fewer members, as AWS does.
    assert!(pattern["logGroups"][0].get("storedBytes").is_none());
    assert!(pattern["logGroups"][0].get("logGroupArn").is_some());

    let first = f.ok("DescribeLogGroups", json!({ "limit": 2 }));
    assert_eq!(names(&first), ["app/a", "app/b"]);
    let token = first["nextToken"].as_str().unwrap();
    let second = f.ok(
        "DescribeLogGroups",
        json!({ "limit": 2, "nextToken": token }),
    );
    assert_eq!(names(&second), ["app/c", "db/app-y"]);
    let third = f.ok(
        "DescribeLogGroups",
        json!({ "limit": 2, "nextToken": second["nextToken"] }),
    );
    assert_eq!(names(&third), ["db/x"]);
    assert!(third.get("nextToken").is_none());

    let e = f.err(
        "DescribeLogGroups",
        json!({ "logGroupNamePrefix": "a", "logGroupNamePattern": "b" }),
    );
    assert_refusal(
        &e,
        "InvalidParameterException",
        "LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.",
    );
    let e = f.err("DescribeLogGroups", json!({ "limit": 51 }));
    assert_refusal(
        &e,
        "InvalidParameterException",
        "1 validation error detected: Value '51' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 50",
    );
    let e = f.err("DescribeLogGroups", json!({ "nextToken": "bogus" }));
    assert_refusal(
        &e,
        "InvalidParameterException",
        "The specified nextToken is invalid.",
    );
}

#[test]
fn retention_policies_are_set_shown_and_removed() {
    let f = Fixture::new();
    f.group("g");
    f.ok(
        "PutRetentionPolicy",
        json!({ "logGroupName": "g", "retentionInDays": 7 }),
    );
    let g = &f.ok("DescribeLogGroups", json!({}))["logGroups"][0];
    assert_eq!(g["retentionInDays"], 7);

    let e = f.err(
        "PutRetentionPolicy",
        json!({ "logGroupName": "g", "retentionInDays": 2 }),
    );
    assert_refusal(
        &e,
        "InvalidParameterException",
        "1 validation error detected: Value '2' at 'retentionInDays' failed to satisfy constraint: Member must satisfy enum value set: [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653]",
    );
    let e = f.err("PutRetentionPolicy", json!({ "logGroupName": "g" }));
    assert!(e.message().contains("Value null at 'retentionInDays'"));
    for days in [1, 3653] {
        f.ok(
            "PutRetentionPolicy",
            json!({ "logGroupName": "g", "retentionInDays": days }),
        );
    }

    f.ok("DeleteRetentionPolicy", json!({ "logGroupName": "g" }));
    let g = &f.ok("DescribeLogGroups", json!({}))["logGroups"][0];
    assert!(g.get("retentionInDays").is_none());

    let e = f.err(
        "PutRetentionPolicy",
        json!({ "logGroupName": "missing", "retentionInDays": 7 }),
    );
    assert_refusal(
        &e,
        "ResourceNotFoundException",
        "The specified log group does not exist.",
    );
    let e = f.err(
        "DeleteRetentionPolicy",
        json!({ "logGroupName": "missing" }),
    );
    assert_eq!(e.code(), "ResourceNotFoundException");
}

#[test]
fn tags_are_kept_and_changed() {
    let f = Fixture::new();
    f.ok(
        "CreateLogGroup",
        json!({ "logGroupName": "g", "tags": { "env": "test" } }),
    );
    let arn = "arn:aws:logs:us-east-1:123456789012:log-group:g";
    assert_eq!(
        f.ok("ListTagsForResource", json!({ "resourceArn": arn })),
        json!({ "tags": { "env": "test" } })
    );
    f.ok(
        "TagResource",
        json!({ "resourceArn": arn, "tags": { "team": "cache", "env": "prod" } }),
    );
    f.ok(
        "UntagResource",
        json!({ "resourceArn": arn, "tagKeys": ["team"] }),
    );
    assert_eq!(
        f.ok("ListTagsLogGroup", json!({ "logGroupName": "g" })),
        json!({ "tags": { "env": "prod" } })
    );
    f.ok(
        "TagLogGroup",
        json!({ "logGroupName": "g", "tags": { "a": "1" } }),
    );
    f.ok(
        "UntagLogGroup",
        json!({ "logGroupName": "g", "tags": ["env"] }),
    );
    assert_eq!(
        f.ok("ListTagsForResource", json!({ "resourceArn": arn })),
        json!({ "tags": { "a": "1" } })
    );
    let e = f.err(
        "ListTagsForResource",
        json!({ "resourceArn": format!("{arn}:*") }),
    );
    assert_eq!(e.code(), "InvalidParameterException");
    let e = f.err(
        "ListTagsForResource",
        json!({ "resourceArn": "arn:aws:logs:us-east-1:123456789012:log-group:none" }),
    );
    assert_eq!(e.code(), "ResourceNotFoundException");
    let many: serde_json::Map<String, Value> =
        (0..51).map(|i| (format!("k{i}"), json!("v"))).collect();
    let e = f.err("TagResource", json!({ "resourceArn": arn, "tags": many }));
    assert_eq!(e.code(), "InvalidParameterException");
}

#[test]
fn deletion_protection_blocks_deleting() {
    let f = Fixture::new();
    f.ok(
        "CreateLogGroup",
        json!({ "logGroupName": "kept", "deletionProtectionEnabled": true }),
    );
    let e = f.err("DeleteLogGroup", json!({ "logGroupName": "kept" }));
    assert_eq!(e.code(), "ValidationException");
    assert_eq!(
        f.ok("DescribeLogGroups", json!({}))["logGroups"][0]["deletionProtectionEnabled"],
        true
    );
}

#[test]
fn unknown_operations_and_mistyped_members_are_refused() {
    let f = Fixture::new();
    let e = f.err("StartQuery", json!({}));
    assert_eq!(e.code(), "UnknownOperationException");
    let e = f.err("DescribeLogGroups", json!({ "limit": "ten" }));
    assert_eq!(e.code(), "SerializationException");
    assert_eq!(e.status(), 400);
}

// ---- log streams -----------------------------------------------------------------------------

#[test]
fn a_log_stream_is_created_described_and_deleted() {
    let f = Fixture::new();
    f.group("g");
    f.stream("g", "node-0001");
    let e = f.err(
        "CreateLogStream",
        json!({ "logGroupName": "g", "logStreamName": "node-0001" }),
    );
    assert_refusal(
        &e,
        "ResourceAlreadyExistsException",
        "The specified log stream already exists",
    );
    let e = f.err(
        "CreateLogStream",
        json!({ "logGroupName": "none", "logStreamName": "s" }),
    );
    assert_refusal(
        &e,
        "ResourceNotFoundException",
        "The specified log group does not exist.",
    );
    let e = f.err(
        "CreateLogStream",
        json!({ "logGroupName": "g", "logStreamName": "a:b" }),
    );
    assert_refusal(
        &e,
        "InvalidParameterException",
        "1 validation error detected: Value 'a:b' at 'logStreamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [^:*]*",
    );

    let answer = f.ok("DescribeLogStreams", json!({ "logGroupName": "g" }));
    assert_eq!(
        answer,
        json!({ "logStreams": [{
            "logStreamName": "node-0001",
            "creationTime": NOW,
            "arn": "arn:aws:logs:us-east-1:123456789012:log-group:g:log-stream:node-0001",
            "storedBytes": 0,
        }]})
    );

    f.clock.advance(MINUTE);
    f.put("g", "node-0001", &[(NOW - HOUR, "a"), (NOW, "b")]);
    let s = &f.ok("DescribeLogStreams", json!({ "logGroupName": "g" }))["logStreams"][0];
    assert_eq!(s["firstEventTimestamp"], NOW - HOUR);
    assert_eq!(s["lastEventTimestamp"], NOW);
    assert_eq!(s["lastIngestionTime"], NOW + MINUTE);
    assert_eq!(s["storedBytes"], 0);

    f.ok(
        "DeleteLogStream",
        json!({ "logGroupName": "g", "logStreamName": "node-0001" }),
    );
    let e = f.err(
        "DeleteLogStream",
        json!({ "logGroupName": "g", "logStreamName": "node-0001" }),
    );
    assert_refusal(
        &e,
        "ResourceNotFoundException",
        "The specified log stream does not exist.",
    );
    // A stream made again under the same name starts empty.
    f.stream("g", "node-0001");
    let events = f.ok(
        "GetLogEvents",
        json!({ "logGroupName": "g", "logStreamName": "node-0001" }),
    );
    assert!(messages(&events).is_empty());
}

#[test]
fn describe_log_streams_orders_filters_and_pages() {
    let f = Fixture::new();
    f.group("g");
    for (name, ts) in [
        ("b", NOW - 3 * MINUTE),
        ("a", NOW - MINUTE),
        ("c", NOW - 2 * MINUTE),
    ] {
        f.stream("g", name);
        f.put("g", name, &[(ts, "x")]);
    }
    f.stream("g", "other");
    let names = |answer: &Value| -> Vec<String> {
        answer["logStreams"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["logStreamName"].as_str().unwrap().to_string())
            .collect()
    };
    let all = f.ok("DescribeLogStreams", json!({ "logGroupName": "g" }));
    assert_eq!(names(&all), ["a", "b", "c", "other"]);
    let desc = f.ok(
        "DescribeLogStreams",
        json!({ "logGroupName": "g", "descending": true }),
    );
    assert_eq!(names(&desc), ["other", "c", "b", "a"]);
    let by_time = f.ok(
        "DescribeLogStreams",
        json!({ "logGroupName": "g", "orderBy": "LastEventTime", "descending": true }),
    );
    assert_eq!(names(&by_time), ["a", "c", "b", "other"]);
    let prefix = f.ok(
        "DescribeLogStreams",
        json!({ "logGroupName": "g", "logStreamNamePrefix": "o" }),
    );
    assert_eq!(names(&prefix), ["other"]);

    let mut seen = Vec::new();
    let mut token: Option<Value> = None;
    loop {
        let mut input = json!({ "logGroupName": "g", "orderBy": "LastEventTime", "limit": 1 });
        if let Some(t) = &token {
            input["nextToken"] = t.clone();
        }
        let page = f.ok("DescribeLogStreams", input);
        seen.extend(names(&page));
        match page.get("nextToken") {
            Some(t) => token = Some(t.clone()),
            None => break,
        }
    }
    assert_eq!(seen, ["other", "b", "c", "a"]);

    let e = f.err(
        "DescribeLogStreams",
        json!({ "logGroupName": "g", "orderBy": "LastEventTime", "logStreamNamePrefix": "a" }),
    );
    assert_eq!(e.code(), "InvalidParameterException");
    let e = f.err(
        "DescribeLogStreams",
        json!({ "logGroupName": "g", "logGroupIdentifier": "g" }),
    );
    assert_refusal(
        &e,
        "ValidationException",
        "LogGroup name and LogGroup ARN are mutually exclusive parameters.",
    );
    let by_arn = f.ok(
        "DescribeLogStreams",
        json!({ "logGroupIdentifier": "arn:aws:logs:us-east-1:123456789012:log-group:g" }),
    );
    assert_eq!(names(&by_arn), ["a", "b", "c", "other"]);
    // The model's pattern for identifiers has no `*`: the IAM form of the ARN is refused.
    let e = f.err(
        "DescribeLogStreams",
        json!({ "logGroupIdentifier": "arn:aws:logs:us-east-1:123456789012:log-group:g:*" }),
    );
    assert_refusal(
        &e,
        "InvalidParameterException",
        r"1 validation error detected: Value 'arn:aws:logs:us-east-1:123456789012:log-group:g:*' at 'logGroupIdentifier' failed to satisfy constraint: Member must satisfy regular expression pattern: [\w#+=/:,.@-]*",
    );
    let e = f.err(
        "DescribeLogStreams",
        json!({ "logGroupIdentifier": "arn:aws:logs:eu-west-1:123456789012:log-group:g" }),
    );
    assert_eq!(e.code(), "ResourceNotFoundException");
    let e = f.err(
        "DescribeLogStreams",
        json!({ "logGroupName": "g", "orderBy": "Size" }),
    );
    assert_refusal(
        &e,
        "InvalidParameterException",
        "1 validation error detected: Value 'Size' at 'orderBy' failed to satisfy constraint: Member must satisfy enum value set: [LogStreamName, LastEventTime]",
    );
}

// ---- PutLogEvents ----------------------------------------------------------------------------

#[test]
fn put_log_events_stores_and_answers_a_sequence_token() {
    let f = Fixture::new();
    f.group("g");
    f.stream("g", "s");
    let answer = f.put(
        "g",
        "s",
        &[(NOW - 2, "hello"), (NOW - 2, "world"), (NOW, "🙀 参よ")],
    );
    let token = answer["nextSequenceToken"].as_str().unwrap();
    assert_eq!(token.len(), 56);
    assert!(answer.get("rejectedLogEventsInfo").is_none());
    let got = f.ok(
        "GetLogEvents",
        json!({ "logGroupName": "g", "logStreamName": "s" }),
    );
    assert_eq!(messages(&got), ["hello", "world", "🙀 参よ"]);
    assert_eq!(got["events"][0]["ingestionTime"], NOW);
    assert_eq!(
        f.ok("DescribeLogGroups", json!({}))["logGroups"][0]["storedBytes"]
            .as_u64()
            .unwrap(),
        f.logs.stored_bytes()
    );
}

#[test]
fn put_log_events_refuses_what_aws_refuses() {
    let f = Fixture::new();
    f.group("g");
    f.stream("g", "s");
    let put = |events: Value| {
        f.err(
            "PutLogEvents",
            json!({ "logGroupName": "g", "logStreamName": "s", "logEvents": events }),
        )
    };
    let e = put(
        json!([{ "timestamp": NOW, "message": "a" }, { "timestamp": NOW - 2 * DAY, "message": "b" }]),
    );
    assert_refusal(
        &e,
        "InvalidParameterException",
        "Log events in a single PutLogEvents request must be in chronological order.",
    );
    let e = put(
        json!([{ "timestamp": NOW - 25 * HOUR, "message": "a" }, { "timestamp": NOW, "message": "b" }]),
    );
    assert_refusal(
        &e,
        "InvalidParameterException",
        "The batch of log events in a single PutLogEvents request cannot span more than 24 hours.",
    );
    let big = "x".repeat(600_000);
    let e =
        put(json!([{ "timestamp": NOW, "message": big }, { "timestamp": NOW, "message": big }]));
    assert_refusal(
        &e,
        "InvalidParameterException",
        "Upload too large: 1200052 bytes exceeds limit of 1048576",
    );
    let e = put(json!([{ "timestamp": NOW, "message": "" }]));
    assert_refusal(
        &e,
        "InvalidParameterException",
        "1 validation error detected: Value '' at 'logEvents.1.member.message' failed to satisfy constraint: Member must have length greater than or equal to 1",
    );
    let e = put(json!([]));
    assert_eq!(e.code(), "InvalidParameterException");
    let many: Vec<Value> = (0..10_001)
        .map(|_| json!({ "timestamp": NOW, "message": "m" }))
        .collect();
    let e = put(Value::Array(many));
    assert_refusal(
        &e,
        "InvalidParameterException",
        "1 validation error detected: Value at 'logEvents' failed to satisfy constraint: Member must have length less than or equal to 10000",
    );

    let e = f.err(
        "PutLogEvents",
        json!({ "logGroupName": "g", "logStreamName": "none", "logEvents": [{ "timestamp": NOW, "message": "m" }] }),
    );
    assert_refusal(
        &e,
        "ResourceNotFoundException",
        "The specified log stream does not exist.",
    );
    let e = f.err(
        "PutLogEvents",
        json!({ "logGroupName": "none", "logStreamName": "s", "logEvents": [{ "timestamp": NOW, "message": "m" }] }),
    );
    assert_refusal(
        &e,
        "ResourceNotFoundException",
        "The specified log group does not exist.",
    );
    assert!(messages(&f.ok(
        "GetLogEvents",
        json!({ "logGroupName": "g", "logStreamName": "s" })
    ))
    .is_empty());
}

#[test]
fn put_log_events_rejects_too_old_too_new_and_expired_events_but_keeps_the_rest() {
    let f = Fixture::new();
    f.group("g");
    f.stream("g", "s");
    let answer = f.put(
        "g",
        "s",
        &[
            (NOW - 15 * DAY, "too old"),
            (NOW - HOUR, "kept 1"),
            (NOW + HOUR, "kept 2"),
            (NOW + 3 * HOUR, "too new"),
        ],
    );
    assert_eq!(
        answer["rejectedLogEventsInfo"],
        json!({ "tooOldLogEventEndIndex": 1, "tooNewLogEventStartIndex": 3 })
    );
    let got = f.ok(
        "GetLogEvents",
        json!({ "logGroupName": "g", "logStreamName": "s" }),
    );
    assert_eq!(messages(&got), ["kept 1", "kept 2"]);

    // The span rule counts only the kept events.
    let answer = f.put("g", "s", &[(NOW - 15 * DAY, "old"), (NOW, "now")]);
    assert_eq!(
        answer["rejectedLogEventsInfo"],
        json!({ "tooOldLogEventEndIndex": 1 })
    );

    f.ok(
        "PutRetentionPolicy",
        json!({ "logGroupName": "g", "retentionInDays": 1 }),
    );
    let answer = f.put("g", "s", &[(NOW - 2 * DAY, "expired"), (NOW, "fresh")]);
    assert_eq!(
        answer["rejectedLogEventsInfo"],
        json!({ "expiredLogEventEndIndex": 1 })
    );
    let answer = f.put("g", "s", &[(NOW - 20 * DAY, "ancient")]);
    assert_eq!(
        answer["rejectedLogEventsInfo"],
        json!({ "tooOldLogEventEndIndex": 1 })
    );
}

// ---- GetLogEvents ----------------------------------------------------------------------------

/// A group `g` with stream `s` holding events `e0`…`e{n-1}`, one a second.
fn stream_of(n: i64) -> Fixture {
    let f = Fixture::new();
    f.group("g");
    f.stream("g", "s");
    let messages: Vec<String> = (0..n).map(|i| format!("e{i}")).collect();
    let events: Vec<(i64, &str)> = (0..n)
        .map(|i| (NOW - HOUR + i * 1000, messages[i as usize].as_str()))
        .collect();
    f.put("g", "s", &events);
    f
}

fn get(f: &Fixture, extra: Value) -> Value {
    let mut input = json!({ "logGroupName": "g", "logStreamName": "s" });
    input
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    f.ok("GetLogEvents", input)
}

fn names(range: std::ops::Range<i32>) -> Vec<String> {
    range.map(|i| format!("e{i}")).collect()
}

#[test]
fn get_log_events_pages_forward_from_the_head() {
    let f = stream_of(25);
    let p1 = get(&f, json!({ "startFromHead": true, "limit": 10 }));
    assert_eq!(messages(&p1), names(0..10));
    let forward = p1["nextForwardToken"].as_str().unwrap();
    assert!(forward.starts_with("f/") && forward.ends_with("/s"));
    assert!(p1["nextBackwardToken"].as_str().unwrap().starts_with("b/"));

    let p2 = get(
        &f,
        json!({ "startFromHead": true, "limit": 10, "nextToken": forward }),
    );
    assert_eq!(messages(&p2), names(10..20));
    let p3 = get(
        &f,
        json!({ "startFromHead": true, "limit": 10, "nextToken": p2["nextForwardToken"] }),
    );
    assert_eq!(messages(&p3), names(20..25));
    let end = p3["nextForwardToken"].clone();
    let p4 = get(
        &f,
        json!({ "startFromHead": true, "limit": 10, "nextToken": end }),
    );
    assert!(messages(&p4).is_empty());
    // At the end, the token passed comes back: the reader's signal to stop.
    assert_eq!(p4["nextForwardToken"], end);

    // Backward from the second page is the first page.
    let back = get(
        &f,
        json!({ "limit": 10, "nextToken": p2["nextBackwardToken"] }),
    );
    assert_eq!(messages(&back), names(0..10));
}

#[test]
fn get_log_events_starts_from_the_tail_by_default_and_pages_backward() {
    let f = stream_of(25);
    let p1 = get(&f, json!({ "limit": 10 }));
    assert_eq!(messages(&p1), names(15..25));
    let p2 = get(
        &f,
        json!({ "limit": 10, "nextToken": p1["nextBackwardToken"] }),
    );
    assert_eq!(messages(&p2), names(5..15));
    let p3 = get(
        &f,
        json!({ "limit": 10, "nextToken": p2["nextBackwardToken"] }),
    );
    assert_eq!(messages(&p3), names(0..5));
    let end = p3["nextBackwardToken"].clone();
    let p4 = get(&f, json!({ "limit": 10, "nextToken": end }));
    assert!(messages(&p4).is_empty());
    assert_eq!(p4["nextBackwardToken"], end);

    // The forward token of the newest page follows the stream as it grows.
    let tail = p1["nextForwardToken"].clone();
    let quiet = get(&f, json!({ "nextToken": tail }));
    assert!(messages(&quiet).is_empty());
    assert_eq!(quiet["nextForwardToken"], tail);
    f.put("g", "s", &[(NOW, "new 1"), (NOW, "new 2")]);
    let more = get(&f, json!({ "nextToken": tail }));
    assert_eq!(messages(&more), ["new 1", "new 2"]);
}

#[test]
fn get_log_events_reads_a_time_window() {
    let f = stream_of(10);
    let window = get(
        &f,
        json!({ "startTime": NOW - HOUR + 2000, "endTime": NOW - HOUR + 5000, "startFromHead": true }),
    );
    // endTime is exclusive.
    assert_eq!(messages(&window), names(2..5));
    let tail = get(&f, json!({ "endTime": NOW - HOUR + 5000, "limit": 2 }));
    assert_eq!(messages(&tail), names(3..5));
    let empty = get(&f, json!({ "startTime": NOW + DAY }));
    assert!(messages(&empty).is_empty());
    assert_eq!(
        timestamps(&get(&f, json!({ "limit": 1 }))),
        [NOW - HOUR + 9000]
    );
}

#[test]
fn get_log_events_refuses_what_aws_refuses() {
    let f = stream_of(3);
    let e = f.err(
        "GetLogEvents",
        json!({ "logGroupName": "g", "logStreamName": "s", "limit": 10001 }),
    );
    assert_refusal(
        &e,
        "InvalidParameterException",
        "1 validation error detected: Value '10001' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 10000",
    );
    let e = f.err(
        "GetLogEvents",
        json!({ "logGroupName": "g", "logStreamName": "s", "nextToken": "invalid-token" }),
    );
    assert_refusal(
        &e,
        "InvalidParameterException",
        "The specified nextToken is invalid.",
    );
    let e = f.err(
        "GetLogEvents",
        json!({ "logGroupName": "none", "logStreamName": "s" }),
    );
    assert_refusal(
        &e,
        "ResourceNotFoundException",
        "The specified log group does not exist.",
    );
    let e = f.err(
        "GetLogEvents",
        json!({ "logGroupName": "g", "logStreamName": "none" }),
    );
    assert_refusal(
        &e,
        "ResourceNotFoundException",
        "The specified log stream does not exist.",
    );
    let e = f.err(
        "GetLogEvents",
        json!({ "logGroupName": "g", "logGroupIdentifier": "g", "logStreamName": "s" }),
    );
    assert_eq!(e.code(), "ValidationException");
    let by_arn = f.ok(
        "GetLogEvents",
        json!({ "logGroupIdentifier": "arn:aws:logs:us-east-1:123456789012:log-group:g", "logStreamName": "s" }),
    );
    assert_eq!(messages(&by_arn), names(0..3));
}

// ---- FilterLogEvents -------------------------------------------------------------------------

/// A group `g` with two streams of interleaved events.
fn two_streams() -> Fixture {
    let f = Fixture::new();
    f.group("g");
    f.stream("g", "node-1");
    f.stream("g", "node-2");
    f.put(
        "g",
        "node-1",
        &[
            (NOW - 50, "ERROR disk full"),
            (NOW - 30, "INFO started"),
            (NOW - 10, "WARN slow reply"),
        ],
    );
    f.put(
        "g",
        "node-2",
        &[
            (NOW - 40, "ERROR WARN both"),
            (NOW - 20, r#"{"Command": "KEYS *", "Duration (us)": 1500}"#),
            (NOW, r#"{"Command": "GET k", "Duration (us)": 20}"#),
        ],
    );
    f
}

fn filter(f: &Fixture, extra: Value) -> Value {
    let mut input = json!({ "logGroupName": "g" });
    input
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    f.ok("FilterLogEvents", input)
}

#[test]
fn filter_log_events_interleaves_streams_by_time() {
    let f = two_streams();
    let all = filter(&f, json!({}));
    assert_eq!(
        timestamps(&all),
        [NOW - 50, NOW - 40, NOW - 30, NOW - 20, NOW - 10, NOW]
    );
    let first = &all["events"][0];
    assert_eq!(first["logStreamName"], "node-1");
    assert_eq!(first["message"], "ERROR disk full");
    assert_eq!(first["ingestionTime"], NOW);
    assert_eq!(first["eventId"].as_str().unwrap().len(), 56);
    assert_eq!(all["searchedLogStreams"], json!([]));
    assert!(all.get("nextToken").is_none());

    let one = filter(&f, json!({ "logStreamNames": ["node-2"] }));
    assert_eq!(timestamps(&one), [NOW - 40, NOW - 20, NOW]);
    let prefixed = filter(&f, json!({ "logStreamNamePrefix": "node-1" }));
    assert_eq!(timestamps(&prefixed), [NOW - 50, NOW - 30, NOW - 10]);
    let window = filter(&f, json!({ "startTime": NOW - 40, "endTime": NOW - 20 }));
    // Both ends are inclusive here.
    assert_eq!(timestamps(&window), [NOW - 40, NOW - 30, NOW - 20]);
    let newest_first = filter(&f, json!({ "startFromHead": false, "limit": 2 }));
    assert_eq!(timestamps(&newest_first), [NOW, NOW - 10]);
    let by_arn = f.ok(
        "FilterLogEvents",
        json!({ "logGroupIdentifier": "arn:aws:logs:us-east-1:123456789012:log-group:g" }),
    );
    assert_eq!(timestamps(&by_arn).len(), 6);
}

#[test]
fn filter_log_events_applies_patterns() {
    let f = two_streams();
    let matching = |pattern: &str| messages(&filter(&f, json!({ "filterPattern": pattern })));
    assert_eq!(matching("ERROR"), ["ERROR disk full", "ERROR WARN both"]);
    assert_eq!(matching("ERROR WARN"), ["ERROR WARN both"]);
    assert_eq!(matching("\"disk full\""), ["ERROR disk full"]);
    assert_eq!(
        matching("?INFO ?WARN"),
        ["ERROR WARN both", "INFO started", "WARN slow reply"]
    );
    assert_eq!(matching("ERROR -WARN"), ["ERROR disk full"]);
    assert_eq!(matching("error"), Vec::<String>::new());
    assert_eq!(
        matching("{ $.['Duration (us)'] > 100 }"),
        [r#"{"Command": "KEYS *", "Duration (us)": 1500}"#]
    );
    assert_eq!(
        matching(r#"{ $.Command = "GET*" || $.['Duration (us)'] >= 1500 }"#).len(),
        2
    );
    assert_eq!(matching("%^WARN%"), ["WARN slow reply"]);
    assert_eq!(matching("").len(), 6);

    let e = f.err(
        "FilterLogEvents",
        json!({ "logGroupName": "g", "filterPattern": "{ $.a = 1" }),
    );
    assert_refusal(
        &e,
        "InvalidParameterException",
        "If a filter pattern starts with '{' it must end with '}'",
    );
    let e = f.err(
        "FilterLogEvents",
        json!({ "logGroupName": "g", "filterPattern": "{ $.a >< 1 }" }),
    );
    assert_refusal(&e, "InvalidParameterException", "Invalid filter pattern");
}

#[test]
fn filter_log_events_pages_with_next_token() {
    let f = two_streams();
    let mut seen = Vec::new();
    let mut token: Option<Value> = None;
    for _ in 0..10 {
        let mut extra = json!({ "limit": 4 });
        if let Some(t) = &token {
            extra["nextToken"] = t.clone();
        }
        let page = filter(&f, extra);
        seen.extend(timestamps(&page));
        match page.get("nextToken") {
            Some(t) => token = Some(t.clone()),
            None => break,
        }
    }
    assert_eq!(
        seen,
        [NOW - 50, NOW - 40, NOW - 30, NOW - 20, NOW - 10, NOW]
    );

    let p1 = filter(&f, json!({ "limit": 4, "startFromHead": false }));
    assert_eq!(timestamps(&p1), [NOW, NOW - 10, NOW - 20, NOW - 30]);
    let p2 = filter(&f, json!({ "limit": 4, "nextToken": p1["nextToken"] }));
    assert_eq!(timestamps(&p2), [NOW - 40, NOW - 50]);
    assert!(p2.get("nextToken").is_none());

    let e = f.err(
        "FilterLogEvents",
        json!({ "logGroupName": "g", "nextToken": "invalid-token" }),
    );
    assert_refusal(
        &e,
        "InvalidParameterException",
        "The specified nextToken is invalid.",
    );
    let e = f.err(
        "FilterLogEvents",
        json!({ "logGroupName": "g", "limit": 10001 }),
    );
    assert_refusal(
        &e,
        "InvalidParameterException",
        "1 validation error detected: Value '10001' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 10000",
    );
    let e = f.err(
        "FilterLogEvents",
        json!({ "logGroupName": "g", "logStreamNames": ["node-1"], "logStreamNamePrefix": "n" }),
    );
    assert_eq!(e.code(), "InvalidParameterException");
    let e = f.err(
        "FilterLogEvents",
        json!({ "logGroupName": "g", "startFromHead": false, "startTime": 1_600_000_000_000i64 }),
    );
    assert_eq!(e.code(), "InvalidParameterException");
    let e = f.err("FilterLogEvents", json!({ "logGroupName": "none" }));
    assert_refusal(
        &e,
        "ResourceNotFoundException",
        "The specified log group does not exist.",
    );
}
