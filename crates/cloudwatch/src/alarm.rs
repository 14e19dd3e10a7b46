//! Metric alarms: the model ([`Alarm`]), the registry of a CloudWatch's alarms with their
//! evaluation schedule ([`Registry`]), and the operations `PutMetricAlarm`, `DescribeAlarms`,
//! `DescribeAlarmsForMetric`, `DeleteAlarms`, `SetAlarmState`, `EnableAlarmActions` and
//! `DisableAlarmActions`.
//!
//! Facts from AWS (LocalStack's snapshots of it): a new alarm is `INSUFFICIENT_DATA` with
//! reason "Unchecked: Initial alarm creation" and no reason data; `DescribeAlarms` always has
//! `Dimensions` and the three action lists (empty), and leaves out unset members
//! (`AlarmDescription`, `Unit`, `TreatMissingData`, `DatapointsToAlarm`, `StateReasonData`);
//! `DeleteAlarms` of names that do not exist succeeds (moto and LocalStack both changed to
//! that after checking AWS); `SetAlarmState` of a missing alarm is `ResourceNotFound` without
//! a message. Updating an alarm keeps its state (AWS's documentation) and ignores `Tags`.
//!
//! Not here: composite alarms, anomaly detection bands (`ThresholdMetricId`), PromQL alarms
//! (`EvaluationCriteria`); they are refused.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error::Refusal;
use crate::evaluate::{AlarmState, AlarmTransition};
use crate::history::{self, HistoryItem};
use crate::metric_data::{self, Kind};
use crate::paging;
use crate::request::{
    decode, AlarmNamesInput, DescribeAlarmsForMetricInput, DescribeAlarmsInput, MetricDataQuery,
    PutMetricAlarmInput, SetAlarmStateInput,
};
use crate::text::epoch_seconds;
use crate::validate::{dimension_pairs, member, required, required_str, Checks, STATISTICS_SHOWN};
use crate::CloudWatch;

/// The reason of a new alarm's state.
pub(crate) const INITIAL_REASON: &str = "Unchecked: Initial alarm creation";
/// Alarms per region (AWS's default quota).
const MAX_ALARMS: usize = 5000;
/// `DescribeAlarms`' page when `MaxRecords` is not given. `[unsure]` (Eucalyptus measured 50).
const DEFAULT_PAGE: usize = 50;

/// The comparison operators with a fixed threshold.
pub(crate) const STATIC_OPERATORS: [&str; 4] = [
    "GreaterThanOrEqualToThreshold",
    "GreaterThanThreshold",
    "LessThanThreshold",
    "LessThanOrEqualToThreshold",
];
/// All the model's comparison operators (the last three compare with an anomaly band).
const OPERATORS: [&str; 7] = [
    "GreaterThanOrEqualToThreshold",
    "GreaterThanThreshold",
    "LessThanThreshold",
    "LessThanOrEqualToThreshold",
    "LessThanLowerOrGreaterThanUpperThreshold",
    "LessThanLowerThreshold",
    "GreaterThanUpperThreshold",
];
/// The states, in the order AWS prints their enum (LocalStack's snapshot).
const STATES_SHOWN: [&str; 3] = ["INSUFFICIENT_DATA", "ALARM", "OK"];
const STATES: [&str; 3] = ["OK", "ALARM", "INSUFFICIENT_DATA"];
const PLAIN: [&str; 5] = ["SampleCount", "Average", "Sum", "Minimum", "Maximum"];
const ALARM_TYPES: [&str; 3] = ["CompositeAlarm", "MetricAlarm", "LogAlarm"];

/// The metric of a single-metric alarm.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct SingleMetric {
    pub namespace: String,
    pub metric_name: String,
    /// As given (DescribeAlarms answers in the caller's order).
    pub dimensions: Vec<(String, String)>,
    pub statistic: Option<String>,
    pub extended_statistic: Option<String>,
    pub period: i64,
    pub unit: Option<String>,
}

impl SingleMetric {
    /// The dimensions sorted, as metrics are matched.
    pub(crate) fn sorted_dimensions(&self) -> Vec<(String, String)> {
        let mut d = self.dimensions.clone();
        d.sort();
        d
    }
}

/// A metric alarm, as kept (and written to `alarms.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Alarm {
    pub region: String,
    pub name: String,
    pub description: Option<String>,
    pub config_updated_ms: i64,
    pub actions_enabled: bool,
    pub ok_actions: Vec<String>,
    pub alarm_actions: Vec<String>,
    pub insufficient_data_actions: Vec<String>,
    pub state: AlarmState,
    pub state_reason: String,
    pub state_reason_data: Option<String>,
    pub state_updated_ms: i64,
    pub state_transitioned_ms: i64,
    /// A single-metric alarm's metric; `None` for a math alarm.
    pub metric: Option<SingleMetric>,
    /// A math alarm's queries, as given.
    pub metrics: Option<Vec<MetricDataQuery>>,
    pub evaluation_periods: i64,
    pub datapoints_to_alarm: Option<i64>,
    pub threshold: f64,
    pub comparison_operator: String,
    pub treat_missing_data: Option<String>,
    pub evaluate_low_sample_count_percentile: Option<String>,
    pub tags: Vec<(String, String)>,
}

impl Alarm {
    /// `arn:aws:cloudwatch:<region>:<account>:alarm:<name>`.
    pub(crate) fn arn(&self, account: &str) -> String {
        format!(
            "arn:aws:cloudwatch:{}:{account}:alarm:{}",
            self.region, self.name
        )
    }

    /// The period data is evaluated in: the metric's, or a math alarm's metric queries'.
    pub(crate) fn period(&self) -> i64 {
        if let Some(m) = &self.metric {
            return m.period;
        }
        self.metrics
            .iter()
            .flatten()
            .find_map(|q| q.metric_stat.as_ref().and_then(|s| s.period).or(q.period))
            .unwrap_or(60)
    }

    /// How often the alarm is evaluated: every minute, or every period under a minute.
    pub(crate) fn interval_ms(&self) -> i64 {
        self.period().clamp(1, 60) * 1000
    }

    /// The actions for `state`.
    pub(crate) fn actions_for(&self, state: AlarmState) -> &[String] {
        match state {
            AlarmState::Ok => &self.ok_actions,
            AlarmState::Alarm => &self.alarm_actions,
            AlarmState::InsufficientData => &self.insufficient_data_actions,
        }
    }

    /// The alarm as `DescribeAlarms` answers (a `MetricAlarm`).
    pub(crate) fn describe(&self, account: &str) -> Value {
        let mut a = json!({
            "AlarmName": self.name,
            "AlarmArn": self.arn(account),
            "AlarmConfigurationUpdatedTimestamp": epoch_seconds(self.config_updated_ms),
            "ActionsEnabled": self.actions_enabled,
            "OKActions": self.ok_actions,
            "AlarmActions": self.alarm_actions,
            "InsufficientDataActions": self.insufficient_data_actions,
            "StateValue": self.state.as_str(),
            "StateReason": self.state_reason,
            "StateUpdatedTimestamp": epoch_seconds(self.state_updated_ms),
            "EvaluationPeriods": self.evaluation_periods,
            "Threshold": self.threshold,
            "ComparisonOperator": self.comparison_operator,
            "StateTransitionedTimestamp": epoch_seconds(self.state_transitioned_ms),
        });
        let o = a.as_object_mut().expect("an object");
        if let Some(d) = &self.description {
            o.insert("AlarmDescription".into(), json!(d));
        }
        if let Some(d) = &self.state_reason_data {
            o.insert("StateReasonData".into(), json!(d));
        }
        match &self.metric {
            Some(m) => {
                o.insert("MetricName".into(), json!(m.metric_name));
                o.insert("Namespace".into(), json!(m.namespace));
                if let Some(s) = &m.statistic {
                    o.insert("Statistic".into(), json!(s));
                }
                if let Some(s) = &m.extended_statistic {
                    o.insert("ExtendedStatistic".into(), json!(s));
                }
                o.insert("Dimensions".into(), dimensions_json(&m.dimensions));
                o.insert("Period".into(), json!(m.period));
                if let Some(u) = &m.unit {
                    o.insert("Unit".into(), json!(u));
                }
            }
            None => {
                o.insert("Dimensions".into(), json!([]));
                o.insert(
                    "Metrics".into(),
                    json!(self.metrics.clone().unwrap_or_default()),
                );
            }
        }
        if let Some(n) = self.datapoints_to_alarm {
            o.insert("DatapointsToAlarm".into(), json!(n));
        }
        if let Some(t) = &self.treat_missing_data {
            o.insert("TreatMissingData".into(), json!(t));
        }
        if let Some(e) = &self.evaluate_low_sample_count_percentile {
            o.insert("EvaluateLowSampleCountPercentile".into(), json!(e));
        }
        a
    }
}

/// `[{"Name": …, "Value": …}]`.
fn dimensions_json(dims: &[(String, String)]) -> Value {
    Value::Array(
        dims.iter()
            .map(|(n, v)| json!({"Name": n, "Value": v}))
            .collect(),
    )
}

/// An alarm's key: region and name.
pub(crate) type AlarmKey = (String, String);

/// Every alarm of a CloudWatch, when each is next due for evaluation, their history, and the
/// transitions `SetAlarmState` made that `evaluate` has not handed out yet.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    pub alarms: BTreeMap<AlarmKey, Alarm>,
    /// `(due_ms, key)`, the earliest first.
    schedule: BTreeSet<(i64, AlarmKey)>,
    due: BTreeMap<AlarmKey, i64>,
    pub history: Vec<HistoryItem>,
    pub pending: Vec<AlarmTransition>,
}

impl Registry {
    /// The registry of loaded alarms, all due at once (a restart evaluates them at the first
    /// call).
    pub(crate) fn new(alarms: Vec<Alarm>, history: Vec<HistoryItem>) -> Registry {
        let mut r = Registry {
            history,
            ..Registry::default()
        };
        for a in alarms {
            let key = (a.region.clone(), a.name.clone());
            r.alarms.insert(key.clone(), a);
            r.schedule_at(key, i64::MIN);
        }
        r
    }

    /// Schedules `key` at `due_ms`, replacing its previous time.
    pub(crate) fn schedule_at(&mut self, key: AlarmKey, due_ms: i64) {
        self.unschedule(&key);
        self.schedule.insert((due_ms, key.clone()));
        self.due.insert(key, due_ms);
    }

    /// When `key` is next due, if scheduled.
    #[cfg(test)]
    pub(crate) fn due_at(&self, key: &AlarmKey) -> Option<i64> {
        self.due.get(key).copied()
    }

    /// Removes `key` from the schedule.
    pub(crate) fn unschedule(&mut self, key: &AlarmKey) {
        if let Some(old) = self.due.remove(key) {
            self.schedule.remove(&(old, key.clone()));
        }
    }

    /// The alarms due at `now_ms`, taken off the schedule.
    pub(crate) fn take_due(&mut self, now_ms: i64) -> Vec<AlarmKey> {
        let mut out = Vec::new();
        while let Some(first) = self.schedule.first() {
            if first.0 > now_ms {
                break;
            }
            let (_, key) = self.schedule.pop_first().expect("a first entry");
            self.due.remove(&key);
            out.push(key);
        }
        out
    }

    /// Adds history items (kept in time order).
    pub(crate) fn add_history(&mut self, items: Vec<HistoryItem>) {
        self.history.extend(items);
    }
}

impl Alarm {
    /// Where in each interval the alarm is evaluated: a whole number of seconds after the
    /// interval's start, fixed per alarm (a hash of its region and name). Alarms are spread
    /// over the minute, so that each of the control plane's calls evaluates a few (AWS's
    /// evaluations also fall at any second); and the last period's data has had that long to
    /// arrive.
    pub(crate) fn offset_ms(&self) -> i64 {
        let seconds = (self.interval_ms() / 1000).max(1);
        let hash = crate::paging::fingerprint(&[&self.region, &self.name]);
        (hash % seconds as u64) as i64 * 1000
    }

    /// The first evaluation time after `now_ms`.
    pub(crate) fn next_due(&self, now_ms: i64) -> i64 {
        let interval = self.interval_ms();
        let at = now_ms.div_euclid(interval) * interval + self.offset_ms();
        if at > now_ms {
            at
        } else {
            at + interval
        }
    }
}

/// Saves the alarms of `reg` whose keys are `changed` (deleted ones included) and appends
/// `items` to the history, under the registry's lock.
pub(crate) fn persist(
    cw: &CloudWatch,
    reg: &mut Registry,
    changed: &[AlarmKey],
    items: Vec<HistoryItem>,
) -> Result<(), Refusal> {
    let current: Vec<(AlarmKey, Option<&Alarm>)> = changed
        .iter()
        .map(|k| (k.clone(), reg.alarms.get(k)))
        .collect();
    cw.files
        .save_alarms(&current, || reg.alarms.values().collect())
        .map_err(|e| Refusal::Internal(format!("saving the alarms: {e}")))?;
    cw.files
        .append_history(&items)
        .map_err(|e| Refusal::Internal(format!("saving the alarm history: {e}")))?;
    reg.add_history(items);
    prune_history(cw, reg);
    Ok(())
}

/// Drops history older than two weeks from memory (and, as it piles up, from the file).
pub(crate) fn prune_history(cw: &CloudWatch, reg: &mut Registry) {
    let cutoff = cw.clock.now_ms() - crate::history::KEPT_MS;
    let n = reg.history.partition_point(|i| i.timestamp_ms < cutoff);
    if n > 0 {
        reg.history.drain(..n);
        if let Err(e) = cw.files.expired(n, &reg.history) {
            tracing::warn!(error = %e, "compacting the alarm history file");
        }
    }
}

/// `PutMetricAlarm`.
pub(crate) fn put_metric_alarm(
    cw: &CloudWatch,
    region: &str,
    input: Value,
    now: i64,
) -> Result<Value, Refusal> {
    let req: PutMetricAlarmInput = decode(input)?;
    let mut checks = Checks::new();
    checks.length_opt("alarmName", req.alarm_name.as_deref(), 1, 255);
    checks.length_opt(
        "alarmDescription",
        req.alarm_description.as_deref(),
        0,
        1024,
    );
    for (path, list) in [
        ("oKActions", &req.ok_actions),
        ("alarmActions", &req.alarm_actions),
        ("insufficientDataActions", &req.insufficient_data_actions),
    ] {
        if let Some(list) = list {
            checks.list_len(path, list, 5);
            for (i, a) in list.iter().enumerate() {
                checks.length(&member(path, i), a, 1, 1024);
            }
        }
    }
    checks.metric_name("metricName", req.metric_name.as_deref());
    checks.namespace("namespace", req.namespace.as_deref());
    checks.one_of(
        "statistic",
        req.statistic.as_deref(),
        &PLAIN,
        &STATISTICS_SHOWN,
    );
    checks.dimensions("dimensions", req.dimensions.as_deref());
    checks.range("period", req.period, Some(1), None);
    checks.unit("unit", req.unit.as_deref());
    checks.range("evaluationPeriods", req.evaluation_periods, Some(1), None);
    checks.range("datapointsToAlarm", req.datapoints_to_alarm, Some(1), None);
    checks.one_of(
        "comparisonOperator",
        req.comparison_operator.as_deref(),
        &OPERATORS,
        &OPERATORS,
    );
    checks.length_opt(
        "treatMissingData",
        req.treat_missing_data.as_deref(),
        1,
        255,
    );
    checks.length_opt(
        "evaluateLowSampleCountPercentile",
        req.evaluate_low_sample_count_percentile.as_deref(),
        1,
        255,
    );
    checks.length_opt(
        "thresholdMetricId",
        req.threshold_metric_id.as_deref(),
        1,
        255,
    );
    if let Some(tags) = &req.tags {
        checks.list_len("tags", tags, 50);
        for (i, t) in tags.iter().enumerate() {
            checks.length_opt(
                &format!("{}.key", member("tags", i)),
                t.key.as_deref(),
                1,
                128,
            );
            checks.length_opt(
                &format!("{}.value", member("tags", i)),
                t.value.as_deref(),
                0,
                256,
            );
        }
    }
    checks.finish()?;

    let name = required_str(&req.alarm_name, "AlarmName")?.to_string();
    if req.evaluation_criteria.is_some() || req.evaluation_interval.is_some() {
        return Err(Refusal::ValidationText(
            "EvaluationCriteria and EvaluationInterval (PromQL alarms) are not supported.".into(),
        ));
    }
    let (metric, metrics) = match (&req.metric_name, &req.metrics) {
        (Some(_), Some(_)) => return Err(Refusal::metric_or_metrics(true)),
        (None, None) => return Err(Refusal::metric_or_metrics(false)),
        (Some(metric_name), None) => (Some(single_metric(&req, metric_name)?), None),
        (None, Some(queries)) => {
            for (present, param) in [
                (req.namespace.is_some(), "Namespace"),
                (req.dimensions.is_some(), "Dimensions"),
                (req.period.is_some(), "Period"),
                (req.unit.is_some(), "Unit"),
                (req.statistic.is_some(), "Statistic"),
                (req.extended_statistic.is_some(), "ExtendedStatistic"),
            ] {
                if present {
                    return Err(Refusal::mutually_exclusive("Metrics", param));
                }
            }
            check_math(region, queries)?;
            (None, Some(queries.clone()))
        }
    };
    let evaluation_periods = *required(&req.evaluation_periods, "EvaluationPeriods")?;
    if let Some(m) = req.datapoints_to_alarm {
        if m > evaluation_periods {
            return Err(Refusal::datapoints_to_alarm());
        }
    }
    let operator = required_str(&req.comparison_operator, "ComparisonOperator")?.to_string();
    if req.threshold_metric_id.is_some() {
        return Err(Refusal::threshold_metric_unsupported());
    }
    if !STATIC_OPERATORS.contains(&operator.as_str()) {
        return Err(Refusal::range_operator_needs_threshold_metric());
    }
    let threshold = required(&req.threshold, "Threshold")?.0;
    if !threshold.is_finite() {
        return Err(Refusal::invalid_number(
            "Threshold",
            &crate::text::java_double(threshold),
        ));
    }
    if let Some(t) = &req.treat_missing_data {
        if !["breaching", "notBreaching", "ignore", "missing"].contains(&t.as_str()) {
            return Err(Refusal::treat_missing_data(t));
        }
    }
    if let Some(e) = &req.evaluate_low_sample_count_percentile {
        if !["evaluate", "ignore"].contains(&e.as_str()) {
            return Err(Refusal::low_sample_count(e));
        }
    }
    for list in [
        &req.ok_actions,
        &req.alarm_actions,
        &req.insufficient_data_actions,
    ] {
        for a in list.iter().flatten() {
            if !a.starts_with("arn:") {
                return Err(Refusal::invalid_action(a));
            }
        }
    }
    let mut alarm = Alarm {
        region: region.to_string(),
        name: name.clone(),
        description: req.alarm_description.clone(),
        config_updated_ms: now,
        actions_enabled: req.actions_enabled.unwrap_or(true),
        ok_actions: req.ok_actions.clone().unwrap_or_default(),
        alarm_actions: req.alarm_actions.clone().unwrap_or_default(),
        insufficient_data_actions: req.insufficient_data_actions.clone().unwrap_or_default(),
        state: AlarmState::InsufficientData,
        state_reason: INITIAL_REASON.to_string(),
        state_reason_data: None,
        state_updated_ms: now,
        state_transitioned_ms: now,
        metric,
        metrics,
        evaluation_periods,
        datapoints_to_alarm: req.datapoints_to_alarm,
        threshold,
        comparison_operator: operator,
        treat_missing_data: req.treat_missing_data.clone(),
        evaluate_low_sample_count_percentile: req.evaluate_low_sample_count_percentile.clone(),
        tags: req
            .tags
            .iter()
            .flatten()
            .map(|t| {
                (
                    t.key.clone().unwrap_or_default(),
                    t.value.clone().unwrap_or_default(),
                )
            })
            .collect(),
    };
    let period = alarm.period();
    let max_seconds = if period < 3600 { 86_400 } else { 604_800 };
    if period.saturating_mul(evaluation_periods) > max_seconds {
        return Err(Refusal::evaluation_too_long(max_seconds));
    }

    let key = (region.to_string(), name);
    let mut reg = cw.alarms.lock().expect("alarm registry lock");
    let previous = reg.alarms.get(&key).cloned();
    match &previous {
        Some(old) => {
            // An update keeps the state and the tags.
            alarm.state = old.state;
            alarm.state_reason = old.state_reason.clone();
            alarm.state_reason_data = old.state_reason_data.clone();
            alarm.state_updated_ms = old.state_updated_ms;
            alarm.state_transitioned_ms = old.state_transitioned_ms;
            alarm.tags = old.tags.clone();
        }
        None => {
            let in_region = reg.alarms.keys().filter(|(r, _)| r == region).count();
            if in_region >= MAX_ALARMS {
                return Err(Refusal::too_many_alarms());
            }
        }
    }
    let item = history::configuration(cw.account(), &alarm, previous.as_ref(), now);
    let due = alarm.next_due(now);
    reg.alarms.insert(key.clone(), alarm);
    reg.schedule_at(key.clone(), due);
    if let Err(e) = persist(cw, &mut reg, std::slice::from_ref(&key), vec![item]) {
        // Keep memory as the file is: the call failed.
        match previous {
            Some(old) => {
                reg.alarms.insert(key, old);
            }
            None => {
                reg.alarms.remove(&key);
                reg.unschedule(&key);
            }
        }
        return Err(e);
    }
    Ok(json!({}))
}

/// A single-metric alarm's metric from the request.
fn single_metric(req: &PutMetricAlarmInput, metric_name: &str) -> Result<SingleMetric, Refusal> {
    let namespace = required_str(&req.namespace, "Namespace")?;
    match (&req.statistic, &req.extended_statistic) {
        (Some(_), Some(_)) => {
            return Err(Refusal::mutually_exclusive(
                "Statistic",
                "ExtendedStatistic",
            ))
        }
        (None, None) => return Err(Refusal::alarm_statistic_missing()),
        (None, Some(e)) => {
            if crate::statistics::Statistic::percentile(e).is_none() {
                return Err(Refusal::extended_statistic("ExtendedStatistic", e));
            }
        }
        (Some(_), None) => {}
    }
    let period = *required(&req.period, "Period")?;
    if !(matches!(period, 10 | 20 | 30) || period % 60 == 0) {
        return Err(Refusal::alarm_period());
    }
    Ok(SingleMetric {
        namespace: namespace.to_string(),
        metric_name: metric_name.to_string(),
        dimensions: dimension_pairs("Dimensions", req.dimensions.as_deref())?,
        statistic: req.statistic.clone(),
        extended_statistic: req.extended_statistic.clone(),
        period,
        unit: req.unit.clone(),
    })
}

/// A math alarm's queries: checked as GetMetricData's, exactly one returning data, and one
/// period for every metric.
fn check_math(region: &str, queries: &[MetricDataQuery]) -> Result<(), Refusal> {
    let checked = metric_data::check_queries(region, "Metrics", "metrics", queries)?;
    // In an alarm, ReturnData defaults to true only for a single query. [unsure]
    let returning = queries
        .iter()
        .filter(|q| q.return_data.unwrap_or(queries.len() == 1))
        .count();
    if returning != 1 {
        return Err(Refusal::one_return_data());
    }
    let periods: BTreeSet<u32> = checked
        .iter()
        .filter_map(|q| match &q.kind {
            Kind::Stat { period, .. } => Some(*period),
            Kind::Expression(_) => None,
        })
        .collect();
    if periods.len() > 1 {
        return Err(Refusal::ValidationText(
            "All metrics in an alarm must use the same period.".into(), // [unsure]
        ));
    }
    if let Some(p) = periods.first() {
        if !(matches!(p, 10 | 20 | 30) || p % 60 == 0) {
            return Err(Refusal::alarm_period());
        }
    }
    Ok(())
}

/// `DescribeAlarms`.
pub(crate) fn describe_alarms(
    cw: &CloudWatch,
    region: &str,
    input: Value,
) -> Result<Value, Refusal> {
    let req: DescribeAlarmsInput = decode(input)?;
    let mut checks = Checks::new();
    if let Some(names) = &req.alarm_names {
        checks.list_len("alarmNames", names, 100);
        for (i, n) in names.iter().enumerate() {
            checks.length(&member("alarmNames", i), n, 1, 255);
        }
    }
    checks.length_opt("alarmNamePrefix", req.alarm_name_prefix.as_deref(), 1, 255);
    checks.one_of(
        "stateValue",
        req.state_value.as_deref(),
        &STATES,
        &STATES_SHOWN,
    );
    checks.length_opt("actionPrefix", req.action_prefix.as_deref(), 1, 1024);
    checks.range("maxRecords", req.max_records, Some(1), Some(100));
    if let Some(types) = &req.alarm_types {
        checks.members_one_of("alarmTypes", types, &ALARM_TYPES, &ALARM_TYPES);
    }
    checks.finish()?;
    if req.alarm_names.is_some() && req.alarm_name_prefix.is_some() {
        return Err(Refusal::names_and_prefix());
    }
    let metric_alarms_wanted = req
        .alarm_types
        .as_ref()
        .is_none_or(|t| t.iter().any(|x| x == "MetricAlarm"));
    // Composite alarms are not kept: their children and parents are none.
    let relatives = req.children_of_alarm_name.is_some() || req.parents_of_alarm_name.is_some();

    let reg = cw.alarms.lock().expect("alarm registry lock");
    let matching: Vec<&Alarm> = reg
        .alarms
        .range((region.to_string(), String::new())..)
        .take_while(|((r, _), _)| r == region)
        .map(|(_, a)| a)
        .filter(|_| metric_alarms_wanted && !relatives)
        .filter(|a| req.alarm_names.as_ref().is_none_or(|n| n.contains(&a.name)))
        .filter(|a| {
            req.alarm_name_prefix
                .as_ref()
                .is_none_or(|p| a.name.starts_with(p.as_str()))
        })
        .filter(|a| {
            req.state_value
                .as_ref()
                .is_none_or(|s| a.state.as_str() == s)
        })
        .filter(|a| {
            req.action_prefix.as_ref().is_none_or(|p| {
                a.ok_actions
                    .iter()
                    .chain(&a.alarm_actions)
                    .chain(&a.insufficient_data_actions)
                    .any(|x| x.starts_with(p.as_str()))
            })
        })
        .collect();

    let page = req.max_records.map_or(DEFAULT_PAGE, |m| m as usize);
    let mut parts: Vec<String> = vec![
        req.alarm_name_prefix.clone().unwrap_or_default(),
        req.state_value.clone().unwrap_or_default(),
        req.action_prefix.clone().unwrap_or_default(),
        format!("{:?}", req.alarm_types),
        format!("{:?}", req.alarm_names),
    ];
    parts.push(page.to_string());
    let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
    let fingerprint = paging::fingerprint(&refs);
    let start = match &req.next_token {
        Some(t) => {
            paging::offset(t, "DescribeAlarms", fingerprint).ok_or(Refusal::InvalidNextToken)?
        }
        None => 0,
    };
    let listed: Vec<Value> = matching
        .iter()
        .skip(start)
        .take(page)
        .map(|a| a.describe(cw.account()))
        .collect();
    let mut out = json!({"MetricAlarms": listed, "CompositeAlarms": []});
    if start + page < matching.len() {
        out["NextToken"] = json!(paging::token("DescribeAlarms", fingerprint, start + page));
    }
    Ok(out)
}

/// `DescribeAlarmsForMetric`: the single-metric alarms on exactly this metric (same
/// dimensions), optionally of one statistic, period and unit.
pub(crate) fn describe_alarms_for_metric(
    cw: &CloudWatch,
    region: &str,
    input: Value,
) -> Result<Value, Refusal> {
    let req: DescribeAlarmsForMetricInput = decode(input)?;
    let mut checks = Checks::new();
    checks.metric_name("metricName", req.metric_name.as_deref());
    checks.namespace("namespace", req.namespace.as_deref());
    checks.one_of(
        "statistic",
        req.statistic.as_deref(),
        &PLAIN,
        &STATISTICS_SHOWN,
    );
    checks.dimensions("dimensions", req.dimensions.as_deref());
    checks.range("period", req.period, Some(1), None);
    checks.unit("unit", req.unit.as_deref());
    checks.finish()?;
    let metric_name = required_str(&req.metric_name, "MetricName")?;
    let namespace = required_str(&req.namespace, "Namespace")?;
    let mut dims = dimension_pairs("Dimensions", req.dimensions.as_deref())?;
    dims.sort();

    let reg = cw.alarms.lock().expect("alarm registry lock");
    let found: Vec<Value> = reg
        .alarms
        .values()
        .filter(|a| a.region == region)
        .filter(|a| {
            let Some(m) = &a.metric else { return false };
            m.metric_name == metric_name
                && m.namespace == namespace
                && m.sorted_dimensions() == dims
                && req
                    .statistic
                    .as_ref()
                    .is_none_or(|s| m.statistic.as_ref() == Some(s))
                && req
                    .extended_statistic
                    .as_ref()
                    .is_none_or(|s| m.extended_statistic.as_ref() == Some(s))
                && req.period.is_none_or(|p| m.period == p)
                && req.unit.as_ref().is_none_or(|u| m.unit.as_ref() == Some(u))
        })
        .map(|a| a.describe(cw.account()))
        .collect();
    Ok(json!({ "MetricAlarms": found }))
}

/// The `AlarmNames` of DeleteAlarms and Enable/DisableAlarmActions, checked.
fn alarm_names(input: Value) -> Result<Vec<String>, Refusal> {
    let req: AlarmNamesInput = decode(input)?;
    let mut checks = Checks::new();
    if let Some(names) = &req.alarm_names {
        checks.list_len("alarmNames", names, 100);
        for (i, n) in names.iter().enumerate() {
            checks.length(&member("alarmNames", i), n, 1, 255);
        }
    }
    checks.finish()?;
    match req.alarm_names {
        Some(n) if !n.is_empty() => Ok(n),
        _ => Err(Refusal::missing("AlarmNames")),
    }
}

/// `DeleteAlarms`: names that do not exist are passed over, as AWS does.
pub(crate) fn delete_alarms(
    cw: &CloudWatch,
    region: &str,
    input: Value,
    now: i64,
) -> Result<Value, Refusal> {
    let names = alarm_names(input)?;
    let mut reg = cw.alarms.lock().expect("alarm registry lock");
    let mut items = Vec::new();
    let mut removed = Vec::new();
    for name in names {
        let key = (region.to_string(), name);
        if let Some(alarm) = reg.alarms.remove(&key) {
            reg.unschedule(&key);
            items.push(history::deletion(cw.account(), &alarm, now));
            removed.push(alarm);
        }
    }
    if items.is_empty() {
        return Ok(json!({}));
    }
    let deleted: Vec<AlarmKey> = removed
        .iter()
        .map(|a| (a.region.clone(), a.name.clone()))
        .collect();
    if let Err(e) = persist(cw, &mut reg, &deleted, items) {
        for alarm in removed {
            let key = (alarm.region.clone(), alarm.name.clone());
            let due = alarm.next_due(now);
            reg.alarms.insert(key.clone(), alarm);
            reg.schedule_at(key, due);
        }
        return Err(e);
    }
    Ok(json!({}))
}

/// `EnableAlarmActions` / `DisableAlarmActions`: names that do not exist are passed over.
pub(crate) fn set_actions_enabled(
    cw: &CloudWatch,
    region: &str,
    input: Value,
    enabled: bool,
) -> Result<Value, Refusal> {
    let names = alarm_names(input)?;
    let mut reg = cw.alarms.lock().expect("alarm registry lock");
    let mut changed = Vec::new();
    for name in names {
        if let Some(a) = reg.alarms.get_mut(&(region.to_string(), name)) {
            if a.actions_enabled != enabled {
                a.actions_enabled = enabled;
                changed.push(a.name.clone());
            }
        }
    }
    if changed.is_empty() {
        return Ok(json!({}));
    }
    let changed_keys: Vec<AlarmKey> = changed
        .iter()
        .map(|n| (region.to_string(), n.clone()))
        .collect();
    if let Err(e) = persist(cw, &mut reg, &changed_keys, Vec::new()) {
        for name in changed {
            if let Some(a) = reg.alarms.get_mut(&(region.to_string(), name)) {
                a.actions_enabled = !enabled;
            }
        }
        return Err(e);
    }
    Ok(json!({}))
}

/// `SetAlarmState`: the state until the next evaluation; a change runs the actions (the
/// transition is handed out by the next `evaluate`).
pub(crate) fn set_alarm_state(
    cw: &CloudWatch,
    region: &str,
    input: Value,
    now: i64,
) -> Result<Value, Refusal> {
    let req: SetAlarmStateInput = decode(input)?;
    let mut checks = Checks::new();
    checks.length_opt("alarmName", req.alarm_name.as_deref(), 1, 255);
    checks.one_of(
        "stateValue",
        req.state_value.as_deref(),
        &STATES,
        &STATES_SHOWN,
    );
    checks.length_opt("stateReason", req.state_reason.as_deref(), 0, 1023);
    checks.length_opt("stateReasonData", req.state_reason_data.as_deref(), 0, 4000);
    checks.finish()?;
    let name = required_str(&req.alarm_name, "AlarmName")?;
    let state = AlarmState::parse(required_str(&req.state_value, "StateValue")?)
        .expect("checked against the enum");
    let reason = required(&req.state_reason, "StateReason")?.clone();
    if let Some(data) = &req.state_reason_data {
        if serde_json::from_str::<Value>(data).is_err() {
            return Err(Refusal::state_reason_data());
        }
    }
    let key = (region.to_string(), name.to_string());
    let mut reg = cw.alarms.lock().expect("alarm registry lock");
    let Some(before) = reg.alarms.get(&key).cloned() else {
        return Err(Refusal::NotFound);
    };
    let change = crate::evaluate::Change {
        state,
        reason,
        reason_data: req.state_reason_data.clone(),
    };
    let (item, transition) = crate::evaluate::apply(cw, &mut reg, &key, change, now);
    if let Err(e) = persist(
        cw,
        &mut reg,
        std::slice::from_ref(&key),
        item.into_iter().collect(),
    ) {
        reg.alarms.insert(key, before);
        return Err(e);
    }
    if let Some(t) = transition {
        reg.pending.push(t);
    }
    Ok(json!({}))
}

#[cfg(test)]
pub(crate) mod tests {
    use serde_json::{json, Value};

    use crate::testing::{alarm_input, Harness, MIN, T0};

    /// An alarm as kept, for the file tests.
    pub(crate) fn sample(name: &str) -> super::Alarm {
        super::Alarm {
            region: "us-east-1".into(),
            name: name.into(),
            description: None,
            config_updated_ms: T0,
            actions_enabled: true,
            ok_actions: Vec::new(),
            alarm_actions: Vec::new(),
            insufficient_data_actions: Vec::new(),
            state: crate::AlarmState::InsufficientData,
            state_reason: super::INITIAL_REASON.into(),
            state_reason_data: None,
            state_updated_ms: T0,
            state_transitioned_ms: T0,
            metric: Some(super::SingleMetric {
                namespace: "Test".into(),
                metric_name: "cpu".into(),
                dimensions: Vec::new(),
                statistic: Some("Average".into()),
                extended_statistic: None,
                period: 60,
                unit: None,
            }),
            metrics: None,
            evaluation_periods: 1,
            datapoints_to_alarm: None,
            threshold: 40.0,
            comparison_operator: "GreaterThanThreshold".into(),
            treat_missing_data: None,
            evaluate_low_sample_count_percentile: None,
            tags: Vec::new(),
        }
    }

    #[test]
    fn a_new_alarm_as_described() {
        let h = Harness::new();
        h.put_alarm(json!({
            "AlarmDescription": "CPU high",
            "Dimensions": [{"Name": "Host", "Value": "h1"}, {"Name": "Az", "Value": "a"}],
            "AlarmActions": ["arn:aws:sns:us-east-1:123456789012:ops"],
            "TreatMissingData": "breaching", "DatapointsToAlarm": 1, "Unit": "Percent",
        }));
        assert_eq!(
            h.alarm("cpu"),
            json!({
                "AlarmName": "cpu",
                "AlarmArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:cpu",
                "AlarmDescription": "CPU high",
                "AlarmConfigurationUpdatedTimestamp": T0 / 1000,
                "ActionsEnabled": true,
                "OKActions": [],
                "AlarmActions": ["arn:aws:sns:us-east-1:123456789012:ops"],
                "InsufficientDataActions": [],
                "StateValue": "INSUFFICIENT_DATA",
                "StateReason": "Unchecked: Initial alarm creation",
                "StateUpdatedTimestamp": T0 / 1000,
                "StateTransitionedTimestamp": T0 / 1000,
                "MetricName": "cpu",
                "Namespace": "Test",
                "Statistic": "Average",
                "Dimensions": [{"Name": "Host", "Value": "h1"}, {"Name": "Az", "Value": "a"}],
                "Period": 60,
                "Unit": "Percent",
                "EvaluationPeriods": 1,
                "DatapointsToAlarm": 1,
                "Threshold": 40.0,
                "ComparisonOperator": "GreaterThanThreshold",
                "TreatMissingData": "breaching",
            })
        );
        // A minimal alarm leaves the unset members out.
        h.put_alarm(json!({"AlarmName": "min"}));
        let a = h.alarm("min");
        for absent in [
            "AlarmDescription",
            "TreatMissingData",
            "DatapointsToAlarm",
            "Unit",
            "StateReasonData",
        ] {
            assert!(a.get(absent).is_none(), "{absent}");
        }
        assert_eq!(a["Dimensions"], json!([]));
        // Other regions do not see it.
        let other = h.cw.call("eu-west-1", "DescribeAlarms", json!({})).unwrap();
        assert_eq!(other["MetricAlarms"], json!([]));
    }

    #[test]
    fn validation() {
        let h = Harness::new();
        let err = |extra: Value| h.err("PutMetricAlarm", alarm_input(extra));
        assert_eq!(
            err(json!({"AlarmName": null})),
            (
                "MissingParameter".into(),
                "The parameter AlarmName is required.".into()
            )
        );
        assert_eq!(
            err(json!({"Period": 45})),
            (
                "ValidationError".into(),
                "Period must be 10, 20, 30 or a multiple of 60".into()
            )
        );
        assert_eq!(
            err(json!({"Period": null})),
            (
                "MissingParameter".into(),
                "The parameter Period is required.".into()
            )
        );
        assert_eq!(
            err(json!({"EvaluationPeriods": null})),
            (
                "MissingParameter".into(),
                "The parameter EvaluationPeriods is required.".into()
            )
        );
        assert_eq!(
            err(json!({"Threshold": null})),
            (
                "MissingParameter".into(),
                "The parameter Threshold is required.".into()
            )
        );
        assert_eq!(err(json!({"Statistic": null})).0, "MissingParameter");
        assert_eq!(
            err(json!({"ExtendedStatistic": "p99"})),
            (
                "InvalidParameterCombination".into(),
                "The parameters Statistic and ExtendedStatistic are mutually exclusive and you \
                 have specified both."
                    .into()
            )
        );
        assert_eq!(
            err(json!({"Statistic": null, "ExtendedStatistic": "tm99"})),
            (
                "InvalidParameterValue".into(),
                "The value tm99 for parameter ExtendedStatistic is not supported.".into()
            )
        );
        let (code, msg) = err(json!({"Statistic": "Mean"}));
        assert_eq!(code, "ValidationError");
        assert_eq!(
            msg,
            "1 validation error detected: Value 'Mean' at 'statistic' failed to satisfy \
             constraint: Member must satisfy enum value set: [Maximum, SampleCount, Sum, \
             Minimum, Average]"
        );
        assert_eq!(
            err(json!({"TreatMissingData": "zero"})),
            (
                "ValidationError".into(),
                "The value zero is not supported for TreatMissingData parameter. Supported values \
                 are [breaching, notBreaching, ignore, missing]."
                    .into()
            )
        );
        assert_eq!(
            err(json!({"EvaluateLowSampleCountPercentile": "maybe"})).1,
            "Option maybe is not supported. Supported options for parameter \
             EvaluateLowSampleCountPercentile are evaluate and ignore."
        );
        assert_eq!(
            err(json!({"ComparisonOperator": "GreaterThanUpperThreshold"})).0,
            "ValidationError"
        );
        assert_eq!(
            err(json!({"EvaluationPeriods": 2, "DatapointsToAlarm": 3})).0,
            "ValidationError"
        );
        assert_eq!(
            err(json!({"Period": 60, "EvaluationPeriods": 1441})),
            (
                "InvalidParameterCombination".into(),
                "Metrics cannot be checked across more than a day (EvaluationPeriods * Period \
                 must be <= 86400)."
                    .into()
            )
        );
        // Periods of an hour or more may span seven days.
        h.put_alarm(json!({"AlarmName": "weekly", "Period": 3600, "EvaluationPeriods": 168}));
        assert_eq!(
            err(json!({"Metrics": [{"Id": "m1", "Expression": "1"}]})).0,
            "InvalidParameterCombination"
        );
        assert_eq!(
            err(json!({"MetricName": null})),
            (
                "ValidationError".into(),
                "Exactly one of the parameters MetricName or Metrics must be specified.".into()
            )
        );
        assert_eq!(
            err(json!({"AlarmActions": ["sns-topic"]})),
            (
                "ValidationError".into(),
                "Invalid arn syntax: sns-topic".into()
            )
        );
        let (code, msg) =
            err(json!({"OKActions": ["arn:a", "arn:b", "arn:c", "arn:d", "arn:e", "arn:f"]}));
        assert_eq!(code, "ValidationError");
        assert!(msg.contains("at 'oKActions' failed to satisfy constraint: Member must have length less than or equal to 5"), "{msg}");
    }

    #[test]
    fn describe_filters_and_pages() {
        let h = Harness::new();
        for name in ["app-1", "app-2", "db-1"] {
            h.put_alarm(json!({"AlarmName": name}));
        }
        h.put_alarm(
            json!({"AlarmName": "app-3", "OKActions": ["arn:aws:sns:us-east-1:123456789012:ops"]}),
        );
        let names = |input: Value| -> Vec<String> {
            h.ok("DescribeAlarms", input)["MetricAlarms"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["AlarmName"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(names(json!({})), ["app-1", "app-2", "app-3", "db-1"]);
        assert_eq!(
            names(json!({"AlarmNamePrefix": "app-"})),
            ["app-1", "app-2", "app-3"]
        );
        assert_eq!(names(json!({"AlarmNames": ["db-1", "nope"]})), ["db-1"]);
        assert_eq!(names(json!({"ActionPrefix": "arn:aws:sns"})), ["app-3"]);
        assert_eq!(names(json!({"StateValue": "OK"})), Vec::<String>::new());
        assert_eq!(
            names(json!({"AlarmTypes": ["CompositeAlarm"]})),
            Vec::<String>::new()
        );
        assert_eq!(
            h.ok("DescribeAlarms", json!({"AlarmTypes": ["CompositeAlarm"]}))["CompositeAlarms"],
            json!([])
        );
        assert_eq!(
            h.err(
                "DescribeAlarms",
                json!({"AlarmNames": ["a"], "AlarmNamePrefix": "a"})
            )
            .0,
            "InvalidParameterCombination"
        );
        let (code, msg) = h.err("DescribeAlarms", json!({"StateValue": "BAD"}));
        assert_eq!(code, "ValidationError");
        assert!(msg.ends_with("Member must satisfy enum value set: [INSUFFICIENT_DATA, ALARM, OK]"));
        let (code, msg) = h.err("DescribeAlarms", json!({"MaxRecords": 101}));
        assert_eq!(code, "ValidationError");
        assert!(
            msg.ends_with("Member must have value less than or equal to 100"),
            "{msg}"
        );
        let first = h.ok("DescribeAlarms", json!({"MaxRecords": 3}));
        assert_eq!(first["MetricAlarms"].as_array().unwrap().len(), 3);
        let second = h.ok(
            "DescribeAlarms",
            json!({"MaxRecords": 3, "NextToken": first["NextToken"]}),
        );
        assert_eq!(second["MetricAlarms"][0]["AlarmName"], "db-1");
        assert!(second.get("NextToken").is_none());
        assert_eq!(
            h.err(
                "DescribeAlarms",
                json!({"MaxRecords": 2, "NextToken": first["NextToken"]})
            )
            .0,
            "InvalidNextToken"
        );
    }

    #[test]
    fn alarms_for_a_metric() {
        let h = Harness::new();
        let dims = json!([{"Name": "Host", "Value": "h1"}, {"Name": "Az", "Value": "a"}]);
        h.put_alarm(json!({"AlarmName": "a1", "Dimensions": dims}));
        h.put_alarm(
            json!({"AlarmName": "a2", "Dimensions": dims, "Statistic": "Maximum", "Period": 300}),
        );
        h.put_alarm(json!({"AlarmName": "other", "Dimensions": [{"Name": "Host", "Value": "h2"}]}));
        let names = |extra: Value| -> Vec<String> {
            let mut input = json!({"Namespace": "Test", "MetricName": "cpu",
                "Dimensions": [{"Name": "Az", "Value": "a"}, {"Name": "Host", "Value": "h1"}]});
            for (k, v) in extra.as_object().unwrap() {
                input[k] = v.clone();
            }
            h.ok("DescribeAlarmsForMetric", input)["MetricAlarms"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["AlarmName"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(names(json!({})), ["a1", "a2"]);
        assert_eq!(names(json!({"Statistic": "Maximum"})), ["a2"]);
        assert_eq!(names(json!({"Period": 60})), ["a1"]);
        assert_eq!(names(json!({"Dimensions": []})), Vec::<String>::new());
        assert_eq!(
            h.err("DescribeAlarmsForMetric", json!({"Namespace": "Test"})),
            (
                "MissingParameter".into(),
                "The parameter MetricName is required.".into()
            )
        );
    }

    #[test]
    fn delete_enable_disable() {
        let h = Harness::new();
        h.put_alarm(json!({"AlarmName": "a"}));
        h.put_alarm(json!({"AlarmName": "b"}));
        h.ok(
            "DisableAlarmActions",
            json!({"AlarmNames": ["a", "missing"]}),
        );
        assert_eq!(h.alarm("a")["ActionsEnabled"], false);
        h.ok("EnableAlarmActions", json!({"AlarmNames": ["a"]}));
        assert_eq!(h.alarm("a")["ActionsEnabled"], true);
        // Names that do not exist are passed over.
        h.ok("DeleteAlarms", json!({"AlarmNames": ["a", "missing"]}));
        let left = h.ok("DescribeAlarms", json!({}));
        assert_eq!(left["MetricAlarms"].as_array().unwrap().len(), 1);
        assert_eq!(
            h.err("DeleteAlarms", json!({})),
            (
                "MissingParameter".into(),
                "The parameter AlarmNames is required.".into()
            )
        );
        let many: Vec<String> = (0..101).map(|i| format!("a{i}")).collect();
        assert_eq!(
            h.err("DeleteAlarms", json!({"AlarmNames": many})).0,
            "ValidationError"
        );
    }

    #[test]
    fn set_alarm_state() {
        let h = Harness::new();
        h.put_alarm(json!({"AlarmActions": ["arn:aws:sns:us-east-1:123456789012:ops"]}));
        // Before the alarm's first evaluation (a whole second into the minute at the earliest).
        h.at(T0 + 200);
        h.ok(
            "SetAlarmState",
            json!({"AlarmName": "cpu", "StateValue": "ALARM", "StateReason": "testing alarm"}),
        );
        let a = h.alarm("cpu");
        assert_eq!(a["StateValue"], "ALARM");
        assert_eq!(a["StateReason"], "testing alarm");
        assert!(a.get("StateReasonData").is_none());
        assert_eq!(
            a["StateUpdatedTimestamp"],
            json!((T0 + 200) as f64 / 1000.0)
        );
        assert_eq!(
            a["StateTransitionedTimestamp"],
            json!((T0 + 200) as f64 / 1000.0)
        );
        // The change is handed out by the next evaluate, with the actions to run.
        let t = h.cw.evaluate(T0 + 500);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].new_state, crate::AlarmState::Alarm);
        assert_eq!(t[0].actions, ["arn:aws:sns:us-east-1:123456789012:ops"]);
        assert!(h.cw.evaluate(T0 + 600).is_empty());

        h.ok(
            "SetAlarmState",
            json!({"AlarmName": "cpu", "StateValue": "OK", "StateReason": "r", "StateReasonData": "{\"a\":1}"}),
        );
        assert_eq!(h.alarm("cpu")["StateReasonData"], "{\"a\":1}");
        let e = h
            .call(
                "SetAlarmState",
                json!({"AlarmName": "nope", "StateValue": "OK", "StateReason": "r"}),
            )
            .unwrap_err();
        assert_eq!(
            (e.code(), e.status(), e.message()),
            ("ResourceNotFound", 404, "")
        );
        assert_eq!(
            h.err(
                "SetAlarmState",
                json!({"AlarmName": "cpu", "StateValue": "INVALID", "StateReason": "r"})
            ),
            (
                "ValidationError".into(),
                "1 validation error detected: Value 'INVALID' at 'stateValue' failed to satisfy \
                 constraint: Member must satisfy enum value set: [INSUFFICIENT_DATA, ALARM, OK]"
                    .into()
            )
        );
        assert_eq!(
            h.err("SetAlarmState", json!({"AlarmName": "cpu", "StateValue": "OK", "StateReason": "r", "StateReasonData": "{"})).0,
            "InvalidFormat"
        );
        assert_eq!(
            h.err(
                "SetAlarmState",
                json!({"AlarmName": "cpu", "StateValue": "OK"})
            ),
            (
                "MissingParameter".into(),
                "The parameter StateReason is required.".into()
            )
        );
    }

    #[test]
    fn an_update_keeps_state_and_tags() {
        let h = Harness::new();
        h.put_alarm(json!({"Tags": [{"Key": "team", "Value": "ops"}]}));
        h.ok(
            "SetAlarmState",
            json!({"AlarmName": "cpu", "StateValue": "ALARM", "StateReason": "x"}),
        );
        h.at(T0 + MIN);
        h.put_alarm(json!({"Threshold": 50, "Tags": [{"Key": "other", "Value": "x"}]}));
        let a = h.alarm("cpu");
        assert_eq!(a["StateValue"], "ALARM");
        assert_eq!(a["Threshold"], 50.0);
        assert_eq!(
            a["AlarmConfigurationUpdatedTimestamp"],
            json!((T0 + MIN) / 1000)
        );
        let reg = h.cw.alarms.lock().unwrap();
        let alarm = reg.alarms.values().next().unwrap();
        assert_eq!(alarm.tags, [("team".to_string(), "ops".to_string())]);
    }

    #[test]
    fn math_alarms_are_described_with_their_metrics() {
        let h = Harness::new();
        let metrics = json!([
            {"Id": "m1", "MetricStat": {"Metric": {"Namespace": "Test", "MetricName": "a"}, "Period": 60, "Stat": "Sum"}, "ReturnData": false},
            {"Id": "e1", "Expression": "m1 * 2", "ReturnData": true},
        ]);
        h.ok(
            "PutMetricAlarm",
            json!({"AlarmName": "math", "Metrics": metrics, "EvaluationPeriods": 1,
                   "Threshold": 10, "ComparisonOperator": "GreaterThanThreshold"}),
        );
        let a = h.alarm("math");
        assert_eq!(a["Metrics"], metrics);
        assert!(a.get("MetricName").is_none());
        let both_return = json!([
            {"Id": "m1", "MetricStat": {"Metric": {"Namespace": "Test", "MetricName": "a"}, "Period": 60, "Stat": "Sum"}},
            {"Id": "e1", "Expression": "m1 * 2"},
        ]);
        assert_eq!(
            h.err(
                "PutMetricAlarm",
                json!({"AlarmName": "m2", "Metrics": both_return, "EvaluationPeriods": 1,
                       "Threshold": 10, "ComparisonOperator": "GreaterThanThreshold"})
            ),
            (
                "ValidationError".into(),
                "Exactly one element of the metrics list should return data.".into()
            )
        );
    }
}
