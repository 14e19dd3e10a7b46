//! CloudWatch's rules over Ferrocache's time-series store: the metric operations
//! (`PutMetricData`, `GetMetricStatistics`, `GetMetricData`, `ListMetrics`) and metric alarms
//! (`PutMetricAlarm`, `DescribeAlarms`, `DescribeAlarmsForMetric`, `DescribeAlarmHistory`,
//! `DeleteAlarms`, `SetAlarmState`, `EnableAlarmActions`, `DisableAlarmActions`), with AWS's
//! validation, limits and messages, and alarms evaluated for real on the data.
//!
//! No HTTP: the API edge decodes any of CloudWatch's three wire protocols into one
//! protocol-neutral JSON value (the AWS JSON protocol's shape: members named as in the model,
//! lists as arrays, timestamps as epoch seconds) and calls [`CloudWatch::call`]; the answer
//! comes back in the same shape. Refusals are [`CloudWatchError`]s with AWS's code, status and
//! message.
//!
//! Regions: everything is per region (a metric or an alarm of `us-east-1` is not seen from
//! `eu-west-1`). In the store the region and the unit are reserved dimensions of every series
//! ([`REGION_DIMENSION`], [`UNIT_DIMENSION`]), so the store's namespaces stay the callers'.
//!
//! The control plane records ElastiCache's own metrics through [`CloudWatch::series`] (once
//! per node and metric) and [`CloudWatch::record_point`] (per sample), and calls
//! [`CloudWatch::evaluate`] every second: it evaluates the alarms that are due and returns
//! their state changes ([`AlarmTransition`]) so the control plane can run the actions. It
//! also calls [`CloudWatch::flush`] every few seconds and at shutdown: the store keeps what
//! was recorded since its last flush in memory only.
//!
//! On disk, in the directory given to [`CloudWatch::open`]: the store in `series/`, the alarms
//! in `alarms.json` (replaced atomically) and `alarms.journal` (changes since, appended), their
//! history in `alarm-history.jsonl` (appended); see the `persist` module.
//!
//! # Layout
//! - [`error`]: [`CloudWatchError`] and the typed refusals, with every AWS text.
//! - `request`: the operations' inputs, decoded from the edge's JSON.
//! - `validate`: checks the operations share (the model's constraints, namespaces, dimensions,
//!   units, periods).
//! - `text`: numbers and times as AWS writes them in its texts.
//! - `statistics`: the statistics of a period, percentiles included.
//! - `series`: metrics as store series (region and unit in the key), the index, per-period
//!   statistics.
//! - `put`: `PutMetricData`.
//! - `get_statistics`: `GetMetricStatistics`.
//! - `metric_data`: `GetMetricData`: metric queries, paging, labels.
//! - `math`: metric math expressions (parse and evaluate).
//! - `list`: `ListMetrics`.
//! - `paging`: `NextToken`s.
//! - `alarm`: metric alarms, their model and operations.
//! - `evaluate`: alarm evaluation, state reasons, transitions.
//! - `history`: alarm history items and `DescribeAlarmHistory`.
//! - `persist`: the alarm and history files.
//! - `testing` (tests only): a CloudWatch over a real store in a temporary directory, on a
//!   manual clock.
//!
//! # Dependency rules
//! Ferrocache's `ferrocache-timeseries` only (the store); never axum, hyper, redis or redb:
//! alarms are kept in plain files of this crate's own, the wire is the edge's.

pub mod error;

mod alarm;
mod evaluate;
mod get_statistics;
mod history;
mod list;
mod math;
mod metric_data;
mod paging;
mod persist;
mod put;
mod request;
mod series;
mod statistics;
mod text;
mod validate;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ferrocache_timeseries::{Clock, Options, Retention, Stats, Store};
use serde_json::Value;

pub use error::{CloudWatchError, Fault};
pub use evaluate::{AlarmState, AlarmTransition};
/// The series handle and the store's errors, as [`CloudWatch::series`] and
/// [`CloudWatch::record_point`] give them.
pub use ferrocache_timeseries::{SeriesId, TimeseriesError};
pub use series::{REGION_DIMENSION, UNIT_DIMENSION};

use crate::alarm::Registry;
use crate::error::Refusal;
use crate::persist::Files;
use crate::series::{MetricKey, Metrics};

/// The account id answers use (in ARNs) unless another is given.
pub const DEFAULT_ACCOUNT: &str = "123456789012";

/// Why [`CloudWatch::open`] failed.
#[derive(Debug)]
pub enum OpenError {
    /// The store could not be opened.
    Store(TimeseriesError),
    /// An alarm file could not be read or written.
    Io {
        /// The file.
        path: PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
    /// The alarm file does not decode.
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::Store(e) => write!(f, "opening the metric store: {e}"),
            OpenError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            OpenError::Corrupt { path, reason } => {
                write!(f, "{}: corrupt: {reason}", path.display())
            }
        }
    }
}

impl std::error::Error for OpenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            OpenError::Store(e) => Some(e),
            OpenError::Io { source, .. } => Some(source),
            OpenError::Corrupt { .. } => None,
        }
    }
}

/// The CloudWatch service of one Ferrocache.
pub struct CloudWatch {
    account: String,
    clock: Arc<dyn Clock>,
    metrics: Metrics,
    alarms: Mutex<Registry>,
    files: Files,
}

impl std::fmt::Debug for CloudWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudWatch")
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

impl CloudWatch {
    /// Opens CloudWatch in `dir` for `account` (the id in ARNs; [`DEFAULT_ACCOUNT`] unless
    /// configured): the store in `dir/series` (CloudWatch's retention, the system clock,
    /// background maintenance) and the alarms and their history, as they were.
    ///
    /// # Errors
    /// The store cannot be opened, or an alarm file cannot be read or decoded.
    pub fn open(dir: &Path, account: &str) -> Result<CloudWatch, OpenError> {
        CloudWatch::open_with(dir, account, Options::default())
    }

    /// As [`CloudWatch::open`], with the store's `options`; their clock is CloudWatch's "now"
    /// too (timestamp checks, query rounding), which is how tests drive time.
    ///
    /// # Errors
    /// As [`CloudWatch::open`].
    pub fn open_with(dir: &Path, account: &str, options: Options) -> Result<CloudWatch, OpenError> {
        let clock = options.clock.clone();
        let store = Store::open_with(&dir.join("series"), Retention::default(), options)
            .map_err(OpenError::Store)?;
        let files = Files::new(dir);
        let (alarms, history) = files.load(clock.now_ms())?;
        Ok(CloudWatch {
            account: account.to_string(),
            clock,
            metrics: Metrics::new(store),
            alarms: Mutex::new(Registry::new(alarms, history)),
            files,
        })
    }

    /// Runs `operation` (its name in the model, e.g. `GetMetricStatistics`) for a caller in
    /// `region`, on `input` in the AWS JSON protocol's shape; answers in the same shape.
    ///
    /// # Errors
    /// AWS's refusal for the request; `InvalidAction` for an operation this service does not
    /// have (dashboards, anomaly detectors, composite alarms, metric streams, insight rules,
    /// tagging are not here).
    pub fn call(
        &self,
        region: &str,
        operation: &str,
        input: Value,
    ) -> Result<Value, CloudWatchError> {
        let now = self.clock.now_ms();
        let answer = match operation {
            "PutMetricData" => put::put_metric_data(self, region, input, now),
            "GetMetricStatistics" => {
                get_statistics::get_metric_statistics(self, region, input, now)
            }
            "GetMetricData" => metric_data::get_metric_data(self, region, input, now),
            "ListMetrics" => list::list_metrics(self, region, input, now),
            "PutMetricAlarm" => alarm::put_metric_alarm(self, region, input, now),
            "DescribeAlarms" => alarm::describe_alarms(self, region, input),
            "DescribeAlarmsForMetric" => alarm::describe_alarms_for_metric(self, region, input),
            "DeleteAlarms" => alarm::delete_alarms(self, region, input, now),
            "SetAlarmState" => alarm::set_alarm_state(self, region, input, now),
            "EnableAlarmActions" => alarm::set_actions_enabled(self, region, input, true),
            "DisableAlarmActions" => alarm::set_actions_enabled(self, region, input, false),
            "DescribeAlarmHistory" => history::describe_alarm_history(self, region, input),
            _ => return Err(CloudWatchError::unknown_operation(operation)),
        };
        answer.map_err(Refusal::into_error)
    }

    /// The series of a metric's data in `unit` (a `StandardUnit` name such as `Percent`),
    /// interned on first use: the handle [`CloudWatch::record_point`] takes. Get it once per
    /// node and metric; it stays valid for the life of this `CloudWatch` (and across restarts).
    /// `dimensions` are `(name, value)` pairs in any order.
    pub fn series(
        &self,
        region: &str,
        namespace: &str,
        metric: &str,
        dimensions: &[(&str, &str)],
        unit: &str,
    ) -> SeriesId {
        let dims = dimensions
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        self.metrics
            .series(&MetricKey::new(region, namespace, metric, dims), unit)
    }

    /// Records one value of a series at `at_ms` (unix ms): the fast path for the control
    /// plane's own metrics (no validation beyond the store's; `AWS/` namespaces allowed).
    /// `high_resolution` keeps it at one-second resolution for three hours as well.
    ///
    /// # Errors
    /// The store's: too old (over 15 days), more than two hours ahead, not finite.
    pub fn record_point(
        &self,
        series: SeriesId,
        at_ms: i64,
        value: f64,
        high_resolution: bool,
    ) -> Result<(), TimeseriesError> {
        self.metrics
            .record(series, at_ms, Stats::single(value), high_resolution)
    }

    /// [`CloudWatch::record_fine`] of several series' values of one instant, in one go.
    ///
    /// # Errors
    /// As [`CloudWatch::record_fine`]: the first refusal met (the other values are kept).
    pub fn record_fine_many(
        &self,
        at_ms: i64,
        values: &[(SeriesId, f64)],
    ) -> Result<(), TimeseriesError> {
        let points: Vec<(SeriesId, Stats)> = values
            .iter()
            .map(|(id, v)| (*id, Stats::single(*v)))
            .collect();
        self.metrics.store().record_fine_many(at_ms, &points)
    }

    /// Makes every metric of `namespace` that carries dimension `name` = `value` known
    /// without it too, in queries and in `ListMetrics`: ElastiCache's metrics are published per
    /// node (`CacheClusterId` + `CacheNodeId` `0001`) and read per cache cluster
    /// (`CacheClusterId` alone), which for Redis is the same one node — stored once.
    pub fn imply_dimension(&self, namespace: &str, name: &str, value: &str) {
        self.metrics.imply_dimension(namespace, name, value);
    }

    /// Records one value of a series at one-second resolution only (kept three hours): the
    /// control plane's per-second samples, whose minutes it records on their own with
    /// [`CloudWatch::record_point`] (a minute's datapoint is then one value, as on ElastiCache,
    /// not the sum of sixty).
    ///
    /// # Errors
    /// The store's: older than the fine tier keeps, more than two hours ahead, not finite.
    pub fn record_fine(
        &self,
        series: SeriesId,
        at_ms: i64,
        value: f64,
    ) -> Result<(), TimeseriesError> {
        self.metrics
            .store()
            .record_fine(series, at_ms, Stats::single(value))
    }

    /// [`CloudWatch::series`] and [`CloudWatch::record_point`] in one call, for occasional
    /// values.
    ///
    /// # Errors
    /// As [`CloudWatch::record_point`].
    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &self,
        region: &str,
        namespace: &str,
        metric: &str,
        dimensions: &[(&str, &str)],
        unit: &str,
        at_ms: i64,
        value: f64,
        high_resolution: bool,
    ) -> Result<(), TimeseriesError> {
        let id = self.series(region, namespace, metric, dimensions, unit);
        self.record_point(id, at_ms, value, high_resolution)
    }

    /// Evaluates every alarm due at `now_ms` (unix ms) and returns the state changes, those
    /// made by `SetAlarmState` since the last call included, oldest first. Cheap when nothing
    /// is due: the control plane calls it every second.
    ///
    /// Each alarm is evaluated once per minute, or once per period for periods under a minute
    /// (10, 20, 30 s), as AWS does; see the `evaluate` module for the rules.
    pub fn evaluate(&self, now_ms: i64) -> Vec<AlarmTransition> {
        evaluate::evaluate_due(self, now_ms)
    }

    /// Adds an `Action` item to an alarm's history: the control plane's report of running one
    /// of a transition's actions (AWS writes "Successfully executed action `arn`" or "Failed
    /// to execute action `arn`. Received error: …").
    pub fn record_action(&self, transition: &AlarmTransition, action: &str, error: Option<&str>) {
        history::record_action(self, transition, action, error, self.clock.now_ms());
    }

    /// Writes the store's unflushed data to disk (alarms are written as they change).
    ///
    /// # Errors
    /// The store's.
    pub fn flush(&self) -> Result<(), TimeseriesError> {
        self.metrics.store().flush()
    }

    /// The account id of ARNs.
    pub fn account(&self) -> &str {
        &self.account
    }
}

#[cfg(test)]
pub(crate) mod testing;

#[cfg(test)]
mod tests {
    #[test]
    fn cloudwatch_is_shared_across_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<super::CloudWatch>();
        shared::<super::AlarmTransition>();
    }
}
