//! A store in a temporary directory, a hand-moved clock, and shorthands for calls.

#![allow(dead_code)] // each test file uses its own part

use std::path::PathBuf;
use std::sync::Arc;

use ferrocache_logs::{Logs, LogsError, LogsOptions, ManualClock};
use serde_json::{json, Value};

pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "123456789012";
/// 2025-06-15T15:06:40Z.
pub const NOW: i64 = 1_750_000_000_000;
pub const MINUTE: i64 = 60_000;
pub const HOUR: i64 = 60 * MINUTE;
pub const DAY: i64 = 24 * HOUR;

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub clock: Arc<ManualClock>,
    pub options: LogsOptions,
    pub logs: Logs,
}

impl Fixture {
    pub fn new() -> Self {
        Self::with_options(LogsOptions::default())
    }

    pub fn with_options(options: LogsOptions) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(NOW));
        let logs = Logs::open_with(dir.path(), ACCOUNT, options, clock.clone()).unwrap();
        Fixture {
            dir,
            clock,
            options,
            logs,
        }
    }

    /// Closes the store and opens it again from its directory.
    pub fn reopen(self) -> Self {
        let Fixture {
            dir,
            clock,
            options,
            logs,
        } = self;
        drop(logs);
        let logs = Logs::open_with(dir.path(), ACCOUNT, options, clock.clone()).unwrap();
        Fixture {
            dir,
            clock,
            options,
            logs,
        }
    }

    pub fn ok(&self, operation: &str, input: Value) -> Value {
        self.ok_in(REGION, operation, input)
    }

    pub fn ok_in(&self, region: &str, operation: &str, input: Value) -> Value {
        match self.logs.call(region, operation, input.clone()) {
            Ok(v) => v,
            Err(e) => panic!("{operation} {input} refused: {e}"),
        }
    }

    pub fn err(&self, operation: &str, input: Value) -> LogsError {
        match self.logs.call(REGION, operation, input.clone()) {
            Ok(v) => panic!("{operation} {input} answered {v}, expected a refusal"),
            Err(e) => e,
        }
    }

    pub fn group(&self, name: &str) {
        self.ok("CreateLogGroup", json!({ "logGroupName": name }));
    }

    pub fn stream(&self, group: &str, stream: &str) {
        self.ok(
            "CreateLogStream",
            json!({ "logGroupName": group, "logStreamName": stream }),
        );
    }

    /// Puts `(timestamp, message)` events; the answer.
    pub fn put(&self, group: &str, stream: &str, events: &[(i64, &str)]) -> Value {
        let events: Vec<Value> = events
            .iter()
            .map(|(ts, m)| json!({ "timestamp": ts, "message": m }))
            .collect();
        self.ok(
            "PutLogEvents",
            json!({ "logGroupName": group, "logStreamName": stream, "logEvents": events }),
        )
    }

    /// The segment files, in name order.
    pub fn segment_files(&self) -> Vec<PathBuf> {
        let mut files = Vec::new();
        for group in std::fs::read_dir(self.dir.path().join("groups")).unwrap() {
            for f in std::fs::read_dir(group.unwrap().path()).unwrap() {
                let path = f.unwrap().path();
                if path.extension().is_some_and(|e| e == "seg") {
                    files.push(path);
                }
            }
        }
        files.sort();
        files
    }
}

pub fn assert_refusal(e: &LogsError, code: &str, message: &str) {
    assert_eq!((e.code(), e.message()), (code, message), "{e}");
    assert_eq!(e.status(), 400);
}

/// The messages of an answer's `events`.
pub fn messages(answer: &Value) -> Vec<String> {
    answer["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap().to_string())
        .collect()
}

/// The timestamps of an answer's `events`.
pub fn timestamps(answer: &Value) -> Vec<i64> {
    answer["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["timestamp"].as_i64().unwrap())
        .collect()
}
