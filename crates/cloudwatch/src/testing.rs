//! Test helpers: a `CloudWatch` over a real store in a temporary directory, on a manual clock.

use std::sync::Arc;

use ferrocache_timeseries::{ManualClock, Options};
use serde_json::Value;
use tempfile::TempDir;

use crate::{CloudWatch, CloudWatchError};

/// 2026-07-12T10:00:00Z, a whole hour.
pub(crate) const T0: i64 = 1_783_850_400_000;
/// A minute in ms.
pub(crate) const MIN: i64 = 60_000;

/// A `CloudWatch` in a temporary directory whose clock tests set.
pub(crate) struct Harness {
    pub cw: CloudWatch,
    pub clock: Arc<ManualClock>,
    pub dir: TempDir,
}

impl Harness {
    /// A fresh one at [`T0`].
    pub(crate) fn new() -> Harness {
        let dir = tempfile::tempdir().expect("temp dir");
        let clock = Arc::new(ManualClock::new(T0));
        let cw = open(&dir, &clock);
        Harness { cw, clock, dir }
    }

    /// Reopens the same directory (a restart).
    pub(crate) fn restart(self) -> Harness {
        let Harness { cw, clock, dir } = self;
        cw.flush().expect("flush");
        drop(cw);
        let cw = open(&dir, &clock);
        Harness { cw, clock, dir }
    }

    /// Sets the clock.
    pub(crate) fn at(&self, ms: i64) {
        self.clock.set(ms);
    }

    /// Calls `op` in `us-east-1`.
    pub(crate) fn call(&self, op: &str, input: Value) -> Result<Value, CloudWatchError> {
        self.cw.call("us-east-1", op, input)
    }

    /// Calls `op` in `us-east-1`, which must succeed.
    pub(crate) fn ok(&self, op: &str, input: Value) -> Value {
        match self.call(op, input) {
            Ok(v) => v,
            Err(e) => panic!("{op} refused: {e}"),
        }
    }

    /// Calls `op`, which must fail; its (code, message).
    pub(crate) fn err(&self, op: &str, input: Value) -> (String, String) {
        match self.call(op, input) {
            Ok(v) => panic!("{op} accepted: {v}"),
            Err(e) => (e.code().to_string(), e.message().to_string()),
        }
    }

    /// Puts one value of `metric` in namespace `Test` with no dimensions at `at_ms`.
    pub(crate) fn put(&self, metric: &str, value: f64, at_ms: i64) {
        self.ok(
            "PutMetricData",
            serde_json::json!({
                "Namespace": "Test",
                "MetricData": [{"MetricName": metric, "Value": value, "Timestamp": secs(at_ms)}]
            }),
        );
    }
}

fn open(dir: &TempDir, clock: &Arc<ManualClock>) -> CloudWatch {
    let options = Options {
        clock: clock.clone(),
        maintenance_every: None,
    };
    CloudWatch::open_with(dir.path(), "123456789012", options).expect("open")
}

/// `base` with `extra`'s members set (a null member removes it).
pub(crate) fn with(mut base: Value, extra: Value) -> Value {
    for (k, v) in extra.as_object().expect("an object") {
        if v.is_null() {
            base.as_object_mut().expect("an object").remove(k);
        } else {
            base[k] = v.clone();
        }
    }
    base
}

/// A plain alarm on `Test`/`cpu`: Average over 60 s, 1 period, > 40.
pub(crate) fn alarm_input(extra: Value) -> Value {
    with(
        serde_json::json!({
            "AlarmName": "cpu", "Namespace": "Test", "MetricName": "cpu", "Statistic": "Average",
            "Period": 60, "EvaluationPeriods": 1, "Threshold": 40,
            "ComparisonOperator": "GreaterThanThreshold",
        }),
        extra,
    )
}

impl Harness {
    /// Creates (or updates) an alarm from [`alarm_input`].
    pub(crate) fn put_alarm(&self, extra: Value) {
        self.ok("PutMetricAlarm", alarm_input(extra));
    }

    /// The alarm `name` as DescribeAlarms shows it.
    pub(crate) fn alarm(&self, name: &str) -> Value {
        let out = self.ok("DescribeAlarms", serde_json::json!({"AlarmNames": [name]}));
        out["MetricAlarms"][0].clone()
    }
}

/// Unix ms as the JSON epoch seconds requests carry.
pub(crate) fn secs(ms: i64) -> Value {
    Value::from(ms as f64 / 1000.0)
}
