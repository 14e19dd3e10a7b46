//! The store on disk: what survives a restart, a torn tail after a crash, retention with a moved
//! clock, the byte cap, and the delivery path Ferrocache itself uses.

mod common;

use std::fs::OpenOptions;
use std::io::Write;
use std::sync::Arc;

use common::*;
use ferrocache_logs::LogsOptions;
use serde_json::{json, Value};

fn get_all(f: &Fixture, group: &str, stream: &str) -> Value {
    f.ok(
        "GetLogEvents",
        json!({ "logGroupName": group, "logStreamName": stream, "startFromHead": true }),
    )
}

#[test]
fn a_restart_keeps_groups_settings_streams_and_events() {
    let f = Fixture::new();
    f.ok(
        "CreateLogGroup",
        json!({ "logGroupName": "g", "tags": { "env": "test" }, "kmsKeyId": "k" }),
    );
    f.ok(
        "PutRetentionPolicy",
        json!({ "logGroupName": "g", "retentionInDays": 30 }),
    );
    f.group("gone");
    f.ok("DeleteLogGroup", json!({ "logGroupName": "gone" }));
    f.stream("g", "s1");
    f.stream("g", "s2");
    f.stream("g", "dropped");
    f.ok(
        "DeleteLogStream",
        json!({ "logGroupName": "g", "logStreamName": "dropped" }),
    );
    f.put("g", "s1", &[(NOW - 3000, "one"), (NOW - 1000, "three")]);
    f.put("g", "s2", &[(NOW - 2000, "two")]);
    let groups_before = f.ok("DescribeLogGroups", json!({}));
    let streams_before = f.ok("DescribeLogStreams", json!({ "logGroupName": "g" }));
    let filtered_before = f.ok("FilterLogEvents", json!({ "logGroupName": "g" }));
    let page = f.ok(
        "GetLogEvents",
        json!({ "logGroupName": "g", "logStreamName": "s1", "limit": 1, "startFromHead": true }),
    );

    let f = f.reopen();
    assert_eq!(f.ok("DescribeLogGroups", json!({})), groups_before);
    assert_eq!(
        f.ok("DescribeLogStreams", json!({ "logGroupName": "g" })),
        streams_before
    );
    assert_eq!(
        f.ok("FilterLogEvents", json!({ "logGroupName": "g" })),
        filtered_before
    );
    assert_eq!(
        f.ok("ListTagsLogGroup", json!({ "logGroupName": "g" })),
        json!({ "tags": { "env": "test" } })
    );
    // A token handed out before the restart reads on after it.
    let next = f.ok(
        "GetLogEvents",
        json!({ "logGroupName": "g", "logStreamName": "s1", "nextToken": page["nextForwardToken"] }),
    );
    assert_eq!(messages(&next), ["three"]);
    // Appends continue where they were.
    f.put("g", "s2", &[(NOW, "four")]);
    let f = f.reopen();
    assert_eq!(messages(&get_all(&f, "g", "s2")), ["two", "four"]);
    assert!(!f.logs.group_exists(REGION, "gone"));
    assert_eq!(f.segment_files().len(), 1);
}

#[test]
fn a_torn_tail_is_cut_off_and_never_read() {
    let f = Fixture::new();
    f.group("g");
    f.stream("g", "s");
    f.put("g", "s", &[(NOW - 2, "kept")]);
    f.put("g", "s", &[(NOW - 1, "torn away")]);
    let segment = f.segment_files().pop().unwrap();
    let len = std::fs::metadata(&segment).unwrap().len();

    // The crash left the last batch half written.
    let f = {
        let Fixture {
            dir,
            clock,
            options,
            logs,
        } = f;
        drop(logs);
        OpenOptions::new()
            .write(true)
            .open(&segment)
            .unwrap()
            .set_len(len - 3)
            .unwrap();
        let logs =
            ferrocache_logs::Logs::open_with(dir.path(), ACCOUNT, options, clock.clone()).unwrap();
        Fixture {
            dir,
            clock,
            options,
            logs,
        }
    };
    assert_eq!(messages(&get_all(&f, "g", "s")), ["kept"]);
    f.put("g", "s", &[(NOW, "after")]);
    assert_eq!(messages(&get_all(&f, "g", "s")), ["kept", "after"]);

    // Garbage after the last whole frame, as a write cut short by a power loss can leave.
    let mut file = OpenOptions::new().append(true).open(&segment).unwrap();
    file.write_all(&[200, 0, 0, 0, 1, 2, 3, 4, 5, 6]).unwrap();
    drop(file);
    let f = f.reopen();
    assert_eq!(messages(&get_all(&f, "g", "s")), ["kept", "after"]);
    let filtered = f.ok("FilterLogEvents", json!({ "logGroupName": "g" }));
    assert_eq!(messages(&filtered), ["kept", "after"]);

    // And the catalog's journal, torn the same way, opens at its last whole record.
    let catalog = f.dir.path().join("catalog.log");
    let mut file = OpenOptions::new().append(true).open(&catalog).unwrap();
    file.write_all(&[50, 0, 0, 0, 9, 9]).unwrap();
    drop(file);
    let f = f.reopen();
    assert!(f.logs.group_exists(REGION, "g"));
    f.stream("g", "s2");
    let f = f.reopen();
    let streams = f.ok("DescribeLogStreams", json!({ "logGroupName": "g" }));
    assert_eq!(streams["logStreams"].as_array().unwrap().len(), 2);
}

#[test]
fn retention_hides_expired_events_and_frees_their_space() {
    let f = Fixture::new();
    f.group("short");
    f.group("forever");
    for g in ["short", "forever"] {
        f.stream(g, "s");
        f.put(g, "s", &[(NOW - HOUR, "old"), (NOW, "new")]);
    }
    f.ok(
        "PutRetentionPolicy",
        json!({ "logGroupName": "short", "retentionInDays": 1 }),
    );
    let stored = f.logs.stored_bytes();
    assert!(stored > 0);

    // A day later the first event has expired: reads no longer show it.
    f.clock.advance(DAY - 30 * MINUTE);
    assert_eq!(messages(&get_all(&f, "short", "s")), ["new"]);
    assert_eq!(
        messages(&f.ok("FilterLogEvents", json!({ "logGroupName": "short" }))),
        ["new"]
    );
    f.logs.enforce_limits().unwrap();
    // The segment still holds an event within retention: it stays.
    assert_eq!(f.logs.stored_bytes(), stored);

    f.clock.advance(HOUR);
    assert!(messages(&get_all(&f, "short", "s")).is_empty());
    f.logs.enforce_limits().unwrap();
    assert!(f.logs.stored_bytes() < stored);
    let groups = f.ok(
        "DescribeLogGroups",
        json!({ "logGroupNamePrefix": "short" }),
    );
    assert_eq!(groups["logGroups"][0]["storedBytes"], 0);

    // No retention: nothing ever expires.
    f.clock.advance(3653 * DAY);
    f.logs.enforce_limits().unwrap();
    assert_eq!(messages(&get_all(&f, "forever", "s")), ["old", "new"]);

    // Appends sweep on their own: a shortened retention takes effect without being asked.
    f.ok(
        "PutRetentionPolicy",
        json!({ "logGroupName": "forever", "retentionInDays": 1 }),
    );
    let before = f.logs.stored_bytes();
    f.stream("short", "t");
    f.logs
        .deliver(REGION, "short", "t", &[(NOW + 3653 * DAY + 2 * DAY, "x")])
        .unwrap();
    assert!(f.logs.stored_bytes() < before);
    assert!(messages(&get_all(&f, "forever", "s")).is_empty());
}

#[test]
fn the_byte_cap_drops_the_oldest_events_first() {
    let options = LogsOptions::with_max_bytes(64 * 1024);
    assert_eq!(options.segment_bytes, 4096);
    let f = Fixture::with_options(options);
    f.group("a");
    f.group("b");
    let line = "x".repeat(500);
    for i in 0..400i64 {
        let group = if i % 2 == 0 { "a" } else { "b" };
        f.logs
            .deliver(
                REGION,
                group,
                "s",
                &[(NOW - 400 * 1000 + i * 1000, line.as_str())],
            )
            .unwrap();
        assert!(f.logs.stored_bytes() <= options.max_bytes);
    }
    let a = timestamps(&get_all(&f, "a", "s"));
    let b = timestamps(&get_all(&f, "b", "s"));
    // The newest survive in both groups; the oldest are gone.
    assert_eq!(*a.last().unwrap(), NOW - 2000);
    assert_eq!(*b.last().unwrap(), NOW - 1000);
    assert!(a[0] > NOW - 400 * 1000 + 100 * 1000, "{}", a[0]);
    assert!(a.len() + b.len() < 400);
    // What each group has left is a run of its newest events (segments go whole, so the two
    // runs start a segment's worth apart at most).
    assert!(a.windows(2).all(|w| w[1] - w[0] == 2000));
    assert!(b.windows(2).all(|w| w[1] - w[0] == 2000));
    assert!((a[0] - b[0]).abs() < 20 * 1000, "{} {}", a[0], b[0]);

    let stored = f.logs.stored_bytes();
    let f = f.reopen();
    assert_eq!(f.logs.stored_bytes(), stored);
}

#[test]
fn delivery_needs_the_group_and_makes_the_stream() {
    let f = Fixture::new();
    let e = f
        .logs
        .deliver(REGION, "/elasticache/slow", "node-1", &[(NOW, "m")])
        .unwrap_err();
    assert_refusal(
        &e,
        "ResourceNotFoundException",
        "The specified log group does not exist.",
    );
    assert!(!f.logs.group_exists(REGION, "/elasticache/slow"));

    f.group("/elasticache/slow");
    assert!(f.logs.group_exists(REGION, "/elasticache/slow"));
    let slow = r#"{"CacheClusterId":"c1","CacheNodeId":"0001","Id":7,"Timestamp":1750000000,"Duration (us)":12000,"Command":"KEYS *","ClientAddress":"10.0.0.1:5000","ClientName":""}"#;
    // In any order, and with nothing of PutLogEvents' batch rules.
    f.logs
        .deliver(
            REGION,
            "/elasticache/slow",
            "c1-0001",
            &[
                (NOW, slow.to_string()),
                (NOW - 40 * DAY, "late".to_string()),
            ],
        )
        .unwrap();
    f.logs
        .deliver::<&str>(REGION, "/elasticache/slow", "c1-0002", &[])
        .unwrap();
    let streams = f.ok(
        "DescribeLogStreams",
        json!({ "logGroupName": "/elasticache/slow" }),
    );
    assert_eq!(streams["logStreams"].as_array().unwrap().len(), 2);
    assert_eq!(
        messages(&get_all(&f, "/elasticache/slow", "c1-0001")),
        ["late", slow]
    );
    let slow_ones = f.ok(
        "FilterLogEvents",
        json!({ "logGroupName": "/elasticache/slow", "filterPattern": "{ $.['Duration (us)'] > 10000 }" }),
    );
    assert_eq!(messages(&slow_ones), [slow]);

    let e = f
        .logs
        .deliver(REGION, "/elasticache/slow", "bad:name", &[(NOW, "m")])
        .unwrap_err();
    assert_eq!(e.code(), "InvalidParameterException");
    let e = f
        .logs
        .deliver("eu-west-1", "/elasticache/slow", "s", &[(NOW, "m")])
        .unwrap_err();
    assert_eq!(e.code(), "ResourceNotFoundException");
}

#[test]
fn many_streams_deliver_at_once() {
    let f = Arc::new(Fixture::new());
    f.group("engine");
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let f = Arc::clone(&f);
            std::thread::spawn(move || {
                for round in 0..20i64 {
                    for s in 0..10 {
                        let stream = format!("node-{t}-{s}");
                        let message = format!("{t}/{s}/{round}");
                        f.logs
                            .deliver(REGION, "engine", &stream, &[(NOW + round, message)])
                            .unwrap();
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let f = Arc::try_unwrap(f).ok().unwrap();
    let mut streams = 0;
    let mut token: Option<Value> = None;
    loop {
        let mut input = json!({ "logGroupName": "engine" });
        if let Some(t) = &token {
            input["nextToken"] = t.clone();
        }
        let page = f.ok("DescribeLogStreams", input);
        streams += page["logStreams"].as_array().unwrap().len();
        match page.get("nextToken") {
            Some(t) => token = Some(t.clone()),
            None => break,
        }
    }
    assert_eq!(streams, 40);
    let all = f.ok("FilterLogEvents", json!({ "logGroupName": "engine" }));
    assert_eq!(messages(&all).len(), 800);
    assert_eq!(
        messages(&get_all(&f, "engine", "node-2-7")),
        (0..20).map(|r| format!("2/7/{r}")).collect::<Vec<_>>()
    );
    let f = f.reopen();
    let all = f.ok("FilterLogEvents", json!({ "logGroupName": "engine" }));
    assert_eq!(messages(&all).len(), 800);
}

#[test]
fn deleting_a_group_deletes_its_events() {
    let f = Fixture::new();
    f.group("g");
    f.stream("g", "s");
    f.put("g", "s", &[(NOW, "m")]);
    assert_eq!(f.segment_files().len(), 1);
    f.ok("DeleteLogGroup", json!({ "logGroupName": "g" }));
    assert!(f.segment_files().is_empty());
    assert_eq!(f.logs.stored_bytes(), 0);
    f.group("g");
    f.stream("g", "s");
    assert!(messages(&get_all(&f, "g", "s")).is_empty());
}
