//! Alarm evaluation: which alarms are due, their data, the state it gives, AWS's reason texts
//! and reason data, and the transitions handed to the control plane.
//!
//! # When
//! An alarm is evaluated every minute, or every period when the period is under a minute (10,
//! 20, 30 s) (AWS evaluates standard alarms every minute, whatever their period: its reasons
//! show 5-minute datapoints a minute apart), at a fixed second of that interval chosen per
//! alarm, so that the control plane's calls each evaluate a share of the alarms. A new or
//! updated alarm is first evaluated at its next such time; after a restart every alarm is
//! evaluated at the first call.
//!
//! # On what
//! An evaluation in the interval starting at `t` reads the periods `[t - k·Period,
//! t - (k-1)·Period)` for k from the
//! evaluation range down to 1: the range is `EvaluationPeriods + 2` periods (AWS "retrieves a
//! higher number of data points than specified by Evaluation Periods"; its documentation's
//! examples use 5 for 3). Then, as AWS documents ("How alarm state is evaluated when data is
//! missing", both of its tables hold here):
//! - no datapoint in the range: `missing` → `INSUFFICIENT_DATA`, `ignore` → the state stays,
//!   `breaching` → `ALARM`, `notBreaching` → `OK`;
//! - at least `EvaluationPeriods` datapoints: the newest that many are evaluated;
//! - fewer: `breaching`/`notBreaching` fill the missing ones so that `EvaluationPeriods` are
//!   evaluated; `missing`/`ignore` evaluate the ones there are, and when those are all
//!   breaching but fewer than `DatapointsToAlarm`, the alarm goes to `ALARM` if the oldest
//!   breaching one is at least `DatapointsToAlarm` periods old ("avoiding premature
//!   transitions"; `ignore` keeps the state instead), else to `INSUFFICIENT_DATA` (`ignore`:
//!   stays).
//!
//! `ALARM` when at least `DatapointsToAlarm` (default `EvaluationPeriods`) evaluated
//! datapoints breach, else `OK`. Only a change of state is recorded (reason, history item,
//! transition): AWS leaves the reason of an unchanged state as it was.
//!
//! # Texts
//! Seen in AWS's notifications and DescribeAlarms answers quoted publicly:
//! - "Threshold Crossed: 1 datapoint [42.0 (12/07/26 10:04:00)] was greater than the threshold
//!   (40.0)." — without `DatapointsToAlarm`, the datapoints listed newest first;
//! - "Threshold Crossed: 2 out of the last 2 datapoints [10.25 (05/10/20 06:25:00), 10.0
//!   (05/10/20 06:20:00)] were greater than or equal to the threshold (10.0) (minimum 2
//!   datapoints for OK -> ALARM transition)." — with it; to `OK`, "… were not greater than …
//!   (minimum 1 datapoint for ALARM -> OK transition)" where the minimum is
//!   `EvaluationPeriods - DatapointsToAlarm + 1`;
//! - "Threshold Crossed: no datapoints were received for 2 periods and 2 missing datapoints
//!   were treated as [Breaching]." (LocalStack's snapshot of AWS);
//! - "Insufficient Data: 5 datapoints were unknown.".
//!
//! `[unsure]`: `[NonBreaching]` for `notBreaching`; the insufficient-data text when some
//! datapoints exist; which datapoints a reason lists when missing ones were filled (here: the
//! real ones that agree with the new state).
//!
//! Reason data, as AWS writes it: `{"version":"1.0","queryDate":…,"startDate":…,"unit":…,
//! "statistic":…,"period":…,"recentDatapoints":[oldest first],"threshold":…,
//! "evaluatedDatapoints":[{"timestamp":…,"sampleCount":…,"value":…}, newest first]}` where
//! `startDate` is the oldest datapoint's period and the evaluated datapoints are the newest
//! ones the transition needed (the minimum above).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::alarm::{persist, Alarm, AlarmKey, Registry};
use crate::history::{self, HistoryItem};
use crate::metric_data;
use crate::statistics::Statistic;
use crate::text::{iso_millis, java_double, json_array, reason_date, Ordered};
use crate::CloudWatch;

/// Periods fetched beyond `EvaluationPeriods`.
const EXTRA_PERIODS: usize = 2;

/// An alarm's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AlarmState {
    /// `OK`.
    #[serde(rename = "OK")]
    Ok,
    /// `ALARM`.
    #[serde(rename = "ALARM")]
    Alarm,
    /// `INSUFFICIENT_DATA`.
    #[serde(rename = "INSUFFICIENT_DATA")]
    InsufficientData,
}

impl AlarmState {
    /// The name AWS uses.
    pub fn as_str(self) -> &'static str {
        match self {
            AlarmState::Ok => "OK",
            AlarmState::Alarm => "ALARM",
            AlarmState::InsufficientData => "INSUFFICIENT_DATA",
        }
    }

    /// The state named `s`.
    pub(crate) fn parse(s: &str) -> Option<AlarmState> {
        Some(match s {
            "OK" => AlarmState::Ok,
            "ALARM" => AlarmState::Alarm,
            "INSUFFICIENT_DATA" => AlarmState::InsufficientData,
            _ => return None,
        })
    }
}

/// A change of an alarm's state, for the control plane to act on: when `actions_enabled`,
/// run each of `actions` (SNS topics: publish `notification`), then report each with
/// [`CloudWatch::record_action`](crate::CloudWatch::record_action).
#[derive(Clone, Debug, PartialEq)]
pub struct AlarmTransition {
    /// The alarm's region.
    pub region: String,
    /// Its name.
    pub alarm_name: String,
    /// Its ARN.
    pub alarm_arn: String,
    /// The state before.
    pub old_state: AlarmState,
    /// The state now.
    pub new_state: AlarmState,
    /// The new state's reason.
    pub reason: String,
    /// The new state's reason data (JSON text), if any.
    pub reason_data: Option<String>,
    /// When (unix ms).
    pub at_ms: i64,
    /// Whether the alarm's actions are enabled.
    pub actions_enabled: bool,
    /// The actions configured for the new state (`OKActions`, `AlarmActions` or
    /// `InsufficientDataActions`).
    pub actions: Vec<String>,
    /// The message AWS publishes to an SNS action (JSON text, AWS's members and order).
    pub notification: String,
}

/// A new state with its reason.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Change {
    pub state: AlarmState,
    pub reason: String,
    pub reason_data: Option<String>,
}

/// Sets alarm `key`'s state (which must exist) and returns the history item and, if the
/// state value changed, the transition.
pub(crate) fn apply(
    cw: &CloudWatch,
    reg: &mut Registry,
    key: &AlarmKey,
    change: Change,
    now: i64,
) -> (Option<HistoryItem>, Option<AlarmTransition>) {
    let Some(alarm) = reg.alarms.get_mut(key) else {
        return (None, None);
    };
    let old = alarm.clone();
    alarm.state = change.state;
    alarm.state_reason = change.reason;
    alarm.state_reason_data = change.reason_data;
    alarm.state_updated_ms = now;
    let changed = old.state != alarm.state;
    if changed {
        alarm.state_transitioned_ms = now;
    }
    let item = history::state_update(&old, alarm, now);
    let transition = changed.then(|| transition(cw.account(), &old, alarm, now));
    (Some(item), transition)
}

fn transition(account: &str, old: &Alarm, new: &Alarm, now: i64) -> AlarmTransition {
    AlarmTransition {
        region: new.region.clone(),
        alarm_name: new.name.clone(),
        alarm_arn: new.arn(account),
        old_state: old.state,
        new_state: new.state,
        reason: new.state_reason.clone(),
        reason_data: new.state_reason_data.clone(),
        at_ms: now,
        actions_enabled: new.actions_enabled,
        actions: new.actions_for(new.state).to_vec(),
        notification: notification(account, old.state, new, now),
    }
}

/// Evaluates the alarms due at `now` (see the module doc) and returns the transitions, those
/// `SetAlarmState` made since the last call first.
pub(crate) fn evaluate_due(cw: &CloudWatch, now: i64) -> Vec<AlarmTransition> {
    let (due, mut out) = {
        let mut reg = cw.alarms.lock().expect("alarm registry lock");
        let mut due = Vec::new();
        for key in reg.take_due(now) {
            let Some(alarm) = reg.alarms.get(&key) else {
                continue;
            };
            // The periods evaluated end at the interval's start.
            let interval = alarm.interval_ms();
            let at = now.div_euclid(interval) * interval;
            let next = alarm.next_due(now);
            due.push((key.clone(), alarm.clone(), at));
            reg.schedule_at(key, next);
        }
        (due, std::mem::take(&mut reg.pending))
    };
    let decisions: Vec<(AlarmKey, i64, Change)> = due
        .iter()
        .filter_map(|(key, alarm, at)| {
            let change = decide(cw, alarm, *at, now)?;
            (change.state != alarm.state).then(|| (key.clone(), alarm.config_updated_ms, change))
        })
        .collect();
    if decisions.is_empty() {
        return out;
    }
    let mut reg = cw.alarms.lock().expect("alarm registry lock");
    let mut items = Vec::new();
    let mut changed = Vec::new();
    for (key, config_ms, change) in decisions {
        // Changed meanwhile (updated, deleted, set): this evaluation is stale.
        let current = reg.alarms.get(&key);
        if current.is_none_or(|a| a.config_updated_ms != config_ms || a.state == change.state) {
            continue;
        }
        let (item, t) = apply(cw, &mut reg, &key, change, now);
        items.extend(item);
        out.extend(t);
        changed.push(key);
    }
    if items.is_empty() {
        return out;
    }
    if let Err(e) = persist(cw, &mut reg, &changed, items.clone()) {
        tracing::warn!(error = ?e, "saving alarm states after an evaluation");
        reg.add_history(items);
    }
    out
}

/// One period of the evaluation range.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Datapoint {
    /// The period's start (unix ms).
    at: i64,
    value: f64,
    /// Samples (`None` for a math alarm's value).
    count: Option<f64>,
}

/// An evaluated datapoint: a real one, or a missing one filled by `TreatMissingData`.
#[derive(Clone, Copy, Debug)]
struct Evaluated {
    at: i64,
    real: Option<Datapoint>,
    breaching: bool,
}

/// What the data says.
enum Outcome {
    /// Keep the state.
    Retain,
    /// No datapoint at all in the range; the state from `TreatMissingData`.
    NoData(AlarmState),
    /// Some datapoints, too few and all breaching, not old enough: `INSUFFICIENT_DATA`.
    TooFew { unknown: usize },
    /// A state from evaluated datapoints.
    Decided {
        state: AlarmState,
        evaluated: Vec<Evaluated>,
    },
}

/// The data of `alarm`'s evaluation range ending at `end`, by period start.
fn fetch(cw: &CloudWatch, alarm: &Alarm, start: i64, end: i64) -> BTreeMap<i64, Datapoint> {
    let mut out = BTreeMap::new();
    if let Some(m) = &alarm.metric {
        let Ok(period) = u32::try_from(m.period) else {
            return out;
        };
        let stat = m
            .statistic
            .as_deref()
            .and_then(Statistic::plain)
            .or_else(|| {
                m.extended_statistic
                    .as_deref()
                    .and_then(Statistic::percentile)
            });
        let Some(stat) = stat else { return out };
        let key = crate::series::MetricKey::new(
            &alarm.region,
            &m.namespace,
            &m.metric_name,
            m.dimensions.clone(),
        );
        let series = match &m.unit {
            Some(u) => cw
                .metrics
                .units(&key)
                .into_iter()
                .find(|(have, _)| have == u)
                .map(|(_, id)| id),
            None => cw
                .metrics
                .choose_unit(&key, start, end, period)
                .map(|c| c.series),
        };
        if let Some(id) = series {
            for p in cw.metrics.points(id, start, end, period, &stat) {
                out.insert(
                    p.start_ms,
                    Datapoint {
                        at: p.start_ms,
                        value: p.value,
                        count: Some(p.count),
                    },
                );
            }
        }
    } else if let Some(raw) = &alarm.metrics {
        let Ok(queries) = metric_data::check_queries(&alarm.region, "Metrics", "metrics", raw)
        else {
            return out;
        };
        let computed = metric_data::run(cw, &queries, start, end);
        let single = queries.len() == 1;
        let pick = raw
            .iter()
            .position(|q| q.return_data.unwrap_or(single))
            .and_then(|i| computed.get(i));
        if let Some(c) = pick {
            for (at, value) in &c.values {
                out.insert(
                    *at,
                    Datapoint {
                        at: *at,
                        value: *value,
                        count: None,
                    },
                );
            }
        }
    }
    out
}

/// Whether `value` breaches the alarm's threshold.
fn breaches(alarm: &Alarm, value: f64) -> bool {
    let t = alarm.threshold;
    match alarm.comparison_operator.as_str() {
        "GreaterThanOrEqualToThreshold" => value >= t,
        "GreaterThanThreshold" => value > t,
        "LessThanThreshold" => value < t,
        "LessThanOrEqualToThreshold" => value <= t,
        _ => false,
    }
}

/// How the comparison reads in a reason.
fn comparison_words(operator: &str) -> &'static str {
    match operator {
        "GreaterThanOrEqualToThreshold" => "greater than or equal to",
        "GreaterThanThreshold" => "greater than",
        "LessThanThreshold" => "less than",
        _ => "less than or equal to",
    }
}

/// Whether a percentile datapoint has too few samples to count, for
/// `EvaluateLowSampleCountPercentile` `ignore`: fewer than 10/(1-p) samples for p ≥ 0.5,
/// 10/p below (AWS's documentation).
fn low_samples(alarm: &Alarm, d: &Datapoint) -> bool {
    let Some(m) = &alarm.metric else { return false };
    if alarm.evaluate_low_sample_count_percentile.as_deref() != Some("ignore") {
        return false;
    }
    let Some(Statistic::Percentile(p, _)) = m
        .extended_statistic
        .as_deref()
        .and_then(Statistic::percentile)
    else {
        return false;
    };
    let q = p / 100.0;
    let needed = if q >= 0.5 {
        10.0 / (1.0 - q).max(1e-9)
    } else {
        10.0 / q.max(1e-9)
    };
    d.count.is_some_and(|c| c < needed)
}

/// The state `alarm`'s data gives at the evaluation ending at `at` (`now`: the query time),
/// or `None` to keep it.
pub(crate) fn decide(cw: &CloudWatch, alarm: &Alarm, at: i64, now: i64) -> Option<Change> {
    let period_ms = alarm.period() * 1000;
    let n = usize::try_from(alarm.evaluation_periods)
        .unwrap_or(1)
        .max(1);
    let m = alarm
        .datapoints_to_alarm
        .and_then(|m| usize::try_from(m).ok())
        .unwrap_or(n)
        .clamp(1, n);
    let range = n + EXTRA_PERIODS;
    let start = at - range as i64 * period_ms;
    let data = fetch(cw, alarm, start, at);
    let present: Vec<Datapoint> = data.values().copied().collect();
    if present.last().is_some_and(|d| low_samples(alarm, d)) {
        return None;
    }
    let treat = alarm.treat_missing_data.as_deref().unwrap_or("missing");
    let outcome = outcome(alarm, &present, treat, n, m, start, period_ms, range);
    let slots: Vec<i64> = (1..=n as i64).map(|k| at - k * period_ms).collect();
    let (state, reason, evaluated) = match outcome {
        Outcome::Retain => return None,
        Outcome::NoData(state) => {
            let reason = match state {
                AlarmState::InsufficientData => format!(
                    "Insufficient Data: {n} {} unknown.",
                    plural_was(n, "datapoint")
                ),
                _ => missing_treated(n, state == AlarmState::Alarm),
            };
            let evaluated: Vec<String> = slots
                .iter()
                .map(|t| Ordered::new().value("timestamp", &iso_millis(*t)).finish())
                .collect();
            (state, reason, evaluated)
        }
        Outcome::TooFew { unknown } => (
            AlarmState::InsufficientData,
            format!(
                "Insufficient Data: {unknown} {} unknown.",
                plural_was(unknown, "datapoint")
            ),
            Vec::new(),
        ),
        Outcome::Decided { state, evaluated } => {
            let to_alarm = state == AlarmState::Alarm;
            let minimum = if to_alarm { m } else { n - m + 1 };
            let agreeing: Vec<&Evaluated> = evaluated
                .iter()
                .rev()
                .filter(|e| e.breaching == to_alarm)
                .collect();
            let listed: Vec<String> = agreeing
                .iter()
                .filter_map(|e| e.real)
                .map(|d| format!("{} ({})", java_double(d.value), reason_date(d.at)))
                .collect();
            let k = listed.len();
            let verb = if k == 1 { "was" } else { "were" };
            let words = format!(
                "{}{}",
                if to_alarm { "" } else { "not " },
                comparison_words(&alarm.comparison_operator)
            );
            let threshold = java_double(alarm.threshold);
            let premature =
                to_alarm && evaluated.len() < n && !matches!(treat, "breaching" | "notBreaching");
            let reason = if listed.is_empty() {
                // Only filled datapoints agree with the new state. [unsure]
                missing_treated(agreeing.len(), to_alarm)
            } else if alarm.datapoints_to_alarm.is_some() || premature {
                format!(
                    "Threshold Crossed: {k} out of the last {n} datapoints [{}] {verb} {words} the \
                     threshold ({threshold}) (minimum {minimum} {} for {} transition).",
                    listed.join(", "),
                    if minimum == 1 { "datapoint" } else { "datapoints" },
                    if to_alarm { "OK -> ALARM" } else { "ALARM -> OK" },
                )
            } else {
                format!(
                    "Threshold Crossed: {k} {} [{}] {verb} {words} the threshold ({threshold}).",
                    if k == 1 { "datapoint" } else { "datapoints" },
                    listed.join(", "),
                )
            };
            let evaluated: Vec<String> = agreeing
                .iter()
                .take(minimum)
                .map(|e| {
                    let o = Ordered::new().value("timestamp", &iso_millis(e.at));
                    match e.real {
                        Some(d) => o
                            .maybe("sampleCount", d.count.as_ref())
                            .value("value", &d.value),
                        None => o,
                    }
                    .finish()
                })
                .collect();
            (state, reason, evaluated)
        }
    };
    Some(Change {
        state,
        reason,
        reason_data: Some(reason_data(alarm, &present, &evaluated, now)),
    })
}

/// "Threshold Crossed: no datapoints were received for 2 periods and 2 missing datapoints
/// were treated as [Breaching]." (`[NonBreaching]` `[unsure]`).
fn missing_treated(n: usize, breaching: bool) -> String {
    format!(
        "Threshold Crossed: no datapoints were received for {n} {} and {n} missing {} treated \
         as [{}].",
        if n == 1 { "period" } else { "periods" },
        plural_was(n, "datapoint"),
        if breaching {
            "Breaching"
        } else {
            "NonBreaching"
        }
    )
}

/// "1 datapoint was" / "2 datapoints were".
fn plural_was(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("{noun} was")
    } else {
        format!("{noun}s were")
    }
}

/// The outcome of the missing-data rules (module doc).
#[allow(clippy::too_many_arguments)]
fn outcome(
    alarm: &Alarm,
    present: &[Datapoint],
    treat: &str,
    n: usize,
    m: usize,
    start: i64,
    period_ms: i64,
    range: usize,
) -> Outcome {
    let real = |d: &Datapoint| Evaluated {
        at: d.at,
        real: Some(*d),
        breaching: breaches(alarm, d.value),
    };
    let decided = |evaluated: Vec<Evaluated>| {
        let breaching = evaluated.iter().filter(|e| e.breaching).count();
        let state = if breaching >= m {
            AlarmState::Alarm
        } else {
            AlarmState::Ok
        };
        Outcome::Decided { state, evaluated }
    };
    if present.is_empty() {
        return match treat {
            "breaching" => Outcome::NoData(AlarmState::Alarm),
            "notBreaching" => Outcome::NoData(AlarmState::Ok),
            "ignore" => Outcome::Retain,
            _ => Outcome::NoData(AlarmState::InsufficientData),
        };
    }
    if present.len() >= n {
        return decided(present[present.len() - n..].iter().map(real).collect());
    }
    match treat {
        "breaching" | "notBreaching" => {
            // The real ones, and missing ones (the newest missing periods) for the rest.
            let mut evaluated: Vec<Evaluated> = present.iter().map(real).collect();
            let have: Vec<i64> = present.iter().map(|d| d.at).collect();
            let mut missing: Vec<i64> = (0..range as i64)
                .map(|k| start + k * period_ms)
                .filter(|t| !have.contains(t))
                .collect();
            missing.reverse();
            for at in missing.into_iter().take(n - present.len()) {
                evaluated.push(Evaluated {
                    at,
                    real: None,
                    breaching: treat == "breaching",
                });
            }
            evaluated.sort_by_key(|e| e.at);
            decided(evaluated)
        }
        _ => {
            let evaluated: Vec<Evaluated> = present.iter().map(real).collect();
            let breaching = evaluated.iter().filter(|e| e.breaching).count();
            if breaching >= m || breaching < evaluated.len() {
                return decided(evaluated);
            }
            // All breaching, too few: premature ALARM if the oldest is old enough.
            let oldest_age =
                ((start + range as i64 * period_ms - present[0].at) / period_ms) as usize;
            if oldest_age >= m && treat != "ignore" {
                Outcome::Decided {
                    state: AlarmState::Alarm,
                    evaluated,
                }
            } else if treat == "ignore" {
                Outcome::Retain
            } else {
                Outcome::TooFew {
                    unknown: n - present.len(),
                }
            }
        }
    }
}

/// `StateReasonData` (module doc).
fn reason_data(alarm: &Alarm, present: &[Datapoint], evaluated: &[String], now: i64) -> String {
    let recent: Vec<String> = present
        .iter()
        .map(|d| serde_json::to_string(&d.value).unwrap_or_default())
        .collect();
    let mut o = Ordered::new()
        .value("version", "1.0")
        .value("queryDate", &iso_millis(now));
    if let Some(first) = present.first() {
        o = o.value("startDate", &iso_millis(first.at));
    }
    if let Some(m) = &alarm.metric {
        o = o
            .maybe("unit", m.unit.as_ref())
            .maybe("statistic", m.statistic.as_ref());
    }
    o.value("period", &alarm.period())
        .raw("recentDatapoints", json_array(&recent))
        .value("threshold", &alarm.threshold)
        .raw("evaluatedDatapoints", json_array(evaluated))
        .finish()
}

/// A region's name as AWS's notifications write it (`US East (N. Virginia)`); the code for a
/// region not listed.
fn region_name(region: &str) -> &str {
    match region {
        "us-east-1" => "US East (N. Virginia)",
        "us-east-2" => "US East (Ohio)",
        "us-west-1" => "US West (N. California)",
        "us-west-2" => "US West (Oregon)",
        "ca-central-1" => "Canada (Central)",
        "eu-west-1" => "EU (Ireland)",
        "eu-west-2" => "EU (London)",
        "eu-west-3" => "EU (Paris)",
        "eu-central-1" => "EU (Frankfurt)",
        "eu-north-1" => "EU (Stockholm)",
        "eu-south-1" => "EU (Milan)",
        "ap-northeast-1" => "Asia Pacific (Tokyo)",
        "ap-northeast-2" => "Asia Pacific (Seoul)",
        "ap-northeast-3" => "Asia Pacific (Osaka)",
        "ap-southeast-1" => "Asia Pacific (Singapore)",
        "ap-southeast-2" => "Asia Pacific (Sydney)",
        "ap-south-1" => "Asia Pacific (Mumbai)",
        "ap-east-1" => "Asia Pacific (Hong Kong)",
        "sa-east-1" => "South America (Sao Paulo)",
        "me-south-1" => "Middle East (Bahrain)",
        "af-south-1" => "Africa (Cape Town)",
        other => other,
    }
}

/// The SNS message AWS publishes for a state change (members and order as in AWS's
/// notifications: `AlarmName`, `AlarmDescription`, `AWSAccountId`, …, `Trigger`).
fn notification(account: &str, old: AlarmState, alarm: &Alarm, now: i64) -> String {
    let mut trigger = Ordered::new();
    if let Some(m) = &alarm.metric {
        let dims: Vec<String> = m
            .dimensions
            .iter()
            .map(|(n, v)| Ordered::new().value("value", v).value("name", n).finish())
            .collect();
        trigger = trigger
            .value("MetricName", &m.metric_name)
            .value("Namespace", &m.namespace);
        trigger = match (&m.statistic, &m.extended_statistic) {
            (Some(s), _) => trigger
                .value("StatisticType", "Statistic")
                .value("Statistic", &s.to_uppercase()),
            (None, Some(e)) => trigger
                .value("StatisticType", "ExtendedStatistic")
                .value("ExtendedStatistic", e),
            (None, None) => trigger,
        };
        trigger = trigger
            .value("Unit", &m.unit)
            .raw("Dimensions", json_array(&dims))
            .value("Period", &m.period);
    } else {
        trigger = trigger.value("Metrics", &alarm.metrics);
    }
    trigger = trigger
        .value("EvaluationPeriods", &alarm.evaluation_periods)
        .maybe("DatapointsToAlarm", alarm.datapoints_to_alarm.as_ref())
        .value("ComparisonOperator", &alarm.comparison_operator)
        .value("Threshold", &alarm.threshold)
        .value(
            "TreatMissingData",
            alarm.treat_missing_data.as_deref().unwrap_or("missing"),
        )
        .value(
            "EvaluateLowSampleCountPercentile",
            alarm
                .evaluate_low_sample_count_percentile
                .as_deref()
                .unwrap_or(""),
        );
    Ordered::new()
        .value("AlarmName", &alarm.name)
        .value("AlarmDescription", &alarm.description)
        .value("AWSAccountId", account)
        .value(
            "AlarmConfigurationUpdatedTimestamp",
            &iso_millis(alarm.config_updated_ms),
        )
        .value("NewStateValue", alarm.state.as_str())
        .value("NewStateReason", &alarm.state_reason)
        .value("StateChangeTime", &iso_millis(now))
        .value("Region", region_name(&alarm.region))
        .value("AlarmArn", &alarm.arn(account))
        .value("OldStateValue", old.as_str())
        .value("OKActions", &alarm.ok_actions)
        .value("AlarmActions", &alarm.alarm_actions)
        .value("InsufficientDataActions", &alarm.insufficient_data_actions)
        .raw("Trigger", trigger.finish())
        .finish()
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::AlarmState;
    use crate::testing::{secs, Harness, MIN, T0};

    const SEC: i64 = 1000;
    /// Late in an interval: every alarm evaluated every minute is due by then.
    const LATE: i64 = 59 * SEC;

    fn reason(h: &Harness, name: &str) -> (String, String, Value) {
        let a = h.alarm(name);
        let data: Value = a
            .get("StateReasonData")
            .and_then(|d| d.as_str())
            .map(|d| serde_json::from_str(d).unwrap())
            .unwrap_or(Value::Null);
        (
            a["StateValue"].as_str().unwrap().to_string(),
            a["StateReason"].as_str().unwrap().to_string(),
            data,
        )
    }

    #[test]
    fn ok_to_alarm_to_ok() {
        let h = Harness::new();
        h.put_alarm(json!({
            "AlarmActions": ["arn:aws:sns:us-east-1:123456789012:alarm"],
            "OKActions": ["arn:aws:sns:us-east-1:123456789012:ok"],
            "Dimensions": [{"Name": "Host", "Value": "h1"}],
        }));
        let put = |v: f64, at: i64| {
            h.ok(
                "PutMetricData",
                json!({"Namespace": "Test", "MetricData": [{"MetricName": "cpu", "Value": v,
                    "Dimensions": [{"Name": "Host", "Value": "h1"}], "Timestamp": secs(at)}]}),
            );
        };
        h.at(T0 + 30 * SEC);
        put(42.0, T0 + 30 * SEC);
        // An evaluation in the first minute reads the minutes before: no data, no change.
        assert!(h.cw.evaluate(T0 + LATE).is_empty());
        h.at(T0 + MIN + LATE);
        let t = h.cw.evaluate(T0 + MIN + LATE);
        assert_eq!(t.len(), 1);
        assert_eq!(
            (t[0].old_state, t[0].new_state),
            (AlarmState::InsufficientData, AlarmState::Alarm)
        );
        assert_eq!(t[0].actions, ["arn:aws:sns:us-east-1:123456789012:alarm"]);
        assert!(t[0].actions_enabled);
        let expected_reason =
            "Threshold Crossed: 1 datapoint [42.0 (12/07/26 10:00:00)] was greater than the threshold (40.0).";
        assert_eq!(t[0].reason, expected_reason);
        let a = h.alarm("cpu");
        assert_eq!(a["StateValue"], "ALARM");
        assert_eq!(a["StateReason"], expected_reason);
        assert_eq!(
            a["StateReasonData"],
            "{\"version\":\"1.0\",\"queryDate\":\"2026-07-12T10:01:59.000+0000\",\
             \"startDate\":\"2026-07-12T10:00:00.000+0000\",\"statistic\":\"Average\",\
             \"period\":60,\"recentDatapoints\":[42.0],\"threshold\":40.0,\
             \"evaluatedDatapoints\":[{\"timestamp\":\"2026-07-12T10:00:00.000+0000\",\
             \"sampleCount\":1.0,\"value\":42.0}]}"
        );
        assert_eq!(a["StateUpdatedTimestamp"], json!((T0 + MIN + LATE) / 1000));
        // The notification AWS would publish.
        let n: Value = serde_json::from_str(&t[0].notification).unwrap();
        assert_eq!(n["AlarmName"], "cpu");
        assert_eq!(n["AWSAccountId"], "123456789012");
        assert_eq!(n["NewStateValue"], "ALARM");
        assert_eq!(n["OldStateValue"], "INSUFFICIENT_DATA");
        assert_eq!(n["Region"], "US East (N. Virginia)");
        assert_eq!(n["StateChangeTime"], "2026-07-12T10:01:59.000+0000");
        assert_eq!(n["Trigger"]["Statistic"], "AVERAGE");
        assert_eq!(
            n["Trigger"]["Dimensions"],
            json!([{"value": "h1", "name": "Host"}])
        );
        assert!(t[0]
            .notification
            .starts_with("{\"AlarmName\":\"cpu\",\"AlarmDescription\":null,\"AWSAccountId\""));

        // Still breaching a minute later: no new transition.
        h.at(T0 + 2 * MIN + LATE);
        put(45.0, T0 + MIN + 10 * SEC);
        assert!(h.cw.evaluate(T0 + 2 * MIN + LATE).is_empty());
        // Back under.
        h.at(T0 + 3 * MIN + LATE);
        put(10.0, T0 + 2 * MIN + 10 * SEC);
        let t = h.cw.evaluate(T0 + 3 * MIN + LATE);
        assert_eq!(t.len(), 1);
        assert_eq!(
            (t[0].old_state, t[0].new_state),
            (AlarmState::Alarm, AlarmState::Ok)
        );
        assert_eq!(t[0].actions, ["arn:aws:sns:us-east-1:123456789012:ok"]);
        assert_eq!(
            t[0].reason,
            "Threshold Crossed: 1 datapoint [10.0 (12/07/26 10:02:00)] was not greater than the threshold (40.0)."
        );
        let summaries: Vec<String> = h.ok(
            "DescribeAlarmHistory",
            json!({"AlarmName": "cpu", "ScanBy": "TimestampAscending"}),
        )["AlarmHistoryItems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["HistorySummary"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            summaries,
            [
                "Alarm \"cpu\" created",
                "Alarm updated from INSUFFICIENT_DATA to ALARM",
                "Alarm updated from ALARM to OK"
            ]
        );
    }

    #[test]
    fn m_out_of_n() {
        let h = Harness::new();
        h.put_alarm(json!({"EvaluationPeriods": 3, "DatapointsToAlarm": 2}));
        h.at(T0 + 3 * MIN + LATE);
        for (minute, v) in [(0, 50.0), (1, 10.0), (2, 50.0)] {
            h.put("cpu", v, T0 + minute * MIN + SEC);
        }
        let t = h.cw.evaluate(T0 + 3 * MIN + LATE);
        assert_eq!(t[0].new_state, AlarmState::Alarm);
        assert_eq!(
            t[0].reason,
            "Threshold Crossed: 2 out of the last 3 datapoints [50.0 (12/07/26 10:02:00), 50.0 \
             (12/07/26 10:00:00)] were greater than the threshold (40.0) (minimum 2 datapoints for \
             OK -> ALARM transition)."
        );
        let (_, _, data) = reason(&h, "cpu");
        assert_eq!(data["recentDatapoints"], json!([50.0, 10.0, 50.0]));
        assert_eq!(data["startDate"], "2026-07-12T10:00:00.000+0000");
        assert_eq!(
            data["evaluatedDatapoints"],
            json!([
                {"timestamp": "2026-07-12T10:02:00.000+0000", "sampleCount": 1.0, "value": 50.0},
                {"timestamp": "2026-07-12T10:00:00.000+0000", "sampleCount": 1.0, "value": 50.0},
            ])
        );
        h.at(T0 + 4 * MIN + LATE);
        h.put("cpu", 10.0, T0 + 3 * MIN + SEC);
        let t = h.cw.evaluate(T0 + 4 * MIN + LATE);
        assert_eq!(t[0].new_state, AlarmState::Ok);
        assert_eq!(
            t[0].reason,
            "Threshold Crossed: 2 out of the last 3 datapoints [10.0 (12/07/26 10:03:00), 10.0 \
             (12/07/26 10:01:00)] were not greater than the threshold (40.0) (minimum 2 datapoints \
             for ALARM -> OK transition)."
        );
    }

    /// AWS's tables ("How alarm state is evaluated when data is missing"): five periods,
    /// oldest first, `0` within the threshold, `X` breaching, `-` missing; the state for
    /// missing, ignore, breaching, notBreaching (`None`: the state stays).
    #[test]
    fn missing_data_as_aws_documents() {
        use AlarmState::{Alarm as A, InsufficientData as I, Ok as O};
        let three_of_three: [(&str, [Option<AlarmState>; 4]); 6] = [
            ("0 - X - X", [Some(O), Some(O), Some(O), Some(O)]),
            ("0 - - - -", [Some(O), Some(O), Some(O), Some(O)]),
            ("- - - - -", [Some(I), None, Some(A), Some(O)]),
            ("0 X X - X", [Some(A), Some(A), Some(A), Some(A)]),
            ("- - - - X", [Some(I), None, Some(A), Some(O)]),
            ("X - - - -", [Some(A), None, Some(A), Some(O)]),
        ];
        let two_of_three: [(&str, [Option<AlarmState>; 4]); 5] = [
            ("0 - X - X", [Some(A), Some(A), Some(A), Some(A)]),
            ("0 0 X 0 X", [Some(A), Some(A), Some(A), Some(A)]),
            ("0 - X - -", [Some(O), Some(O), Some(A), Some(O)]),
            ("- - - - 0", [Some(O), Some(O), Some(A), Some(O)]),
            ("- - - - X", [Some(I), None, Some(A), Some(O)]),
        ];
        let modes = ["missing", "ignore", "breaching", "notBreaching"];
        for (m, table) in [(3, &three_of_three[..]), (2, &two_of_three[..])] {
            for (pattern, expected) in table {
                for (mode, want) in modes.iter().zip(expected) {
                    for initial in [AlarmState::Ok, AlarmState::Alarm] {
                        let got = run_case(pattern, mode, m, initial);
                        let want = want.unwrap_or(initial);
                        assert_eq!(got, want, "{m} of 3, {pattern}, {mode}, from {initial:?}");
                    }
                }
            }
        }
    }

    fn run_case(pattern: &str, mode: &str, m: i64, initial: AlarmState) -> AlarmState {
        let h = Harness::new();
        h.at(T0 - 10 * MIN);
        h.put_alarm(
            json!({"EvaluationPeriods": 3, "DatapointsToAlarm": m, "TreatMissingData": mode}),
        );
        h.ok(
            "SetAlarmState",
            json!({"AlarmName": "cpu", "StateValue": initial.as_str(), "StateReason": "set"}),
        );
        for (i, c) in pattern.split(' ').enumerate() {
            let at = T0 - (5 - i as i64) * MIN + SEC;
            match c {
                "0" => h.put("cpu", 10.0, at),
                "X" => h.put("cpu", 50.0, at),
                _ => {}
            }
        }
        h.at(T0 + LATE);
        h.cw.evaluate(T0 + LATE);
        AlarmState::parse(h.alarm("cpu")["StateValue"].as_str().unwrap()).unwrap()
    }

    #[test]
    fn texts_without_data() {
        let h = Harness::new();
        h.put_alarm(
            json!({"AlarmName": "b", "EvaluationPeriods": 2, "TreatMissingData": "breaching"}),
        );
        h.put_alarm(json!({"AlarmName": "m"}));
        h.at(T0 + MIN + LATE);
        h.cw.evaluate(T0 + MIN + LATE);
        let (state, text, data) = reason(&h, "b");
        assert_eq!(state, "ALARM");
        assert_eq!(
            text,
            "Threshold Crossed: no datapoints were received for 2 periods and 2 missing datapoints \
             were treated as [Breaching]."
        );
        assert_eq!(data["recentDatapoints"], json!([]));
        assert!(data.get("startDate").is_none());
        assert_eq!(
            data["evaluatedDatapoints"],
            json!([{"timestamp": "2026-07-12T10:00:00.000+0000"}, {"timestamp": "2026-07-12T09:59:00.000+0000"}])
        );
        // A new alarm without data stays INSUFFICIENT_DATA with its first reason: no change.
        let (state, text, _) = reason(&h, "m");
        assert_eq!(
            (state.as_str(), text.as_str()),
            ("INSUFFICIENT_DATA", "Unchecked: Initial alarm creation")
        );
        // From OK, no data makes it INSUFFICIENT_DATA.
        h.ok(
            "SetAlarmState",
            json!({"AlarmName": "m", "StateValue": "OK", "StateReason": "x"}),
        );
        h.at(T0 + 2 * MIN + LATE);
        h.cw.evaluate(T0 + 2 * MIN + LATE);
        assert_eq!(
            reason(&h, "m").1,
            "Insufficient Data: 1 datapoint was unknown."
        );
    }

    #[test]
    fn a_state_made_by_filled_datapoints_says_so() {
        let h = Harness::new();
        h.at(T0 - 10 * MIN);
        h.put_alarm(json!({"EvaluationPeriods": 3, "DatapointsToAlarm": 2, "TreatMissingData": "breaching"}));
        h.put("cpu", 10.0, T0 - MIN + SEC);
        h.at(T0 + LATE);
        h.cw.evaluate(T0 + LATE);
        let (state, text, _) = reason(&h, "cpu");
        assert_eq!(state, "ALARM");
        assert_eq!(
            text,
            "Threshold Crossed: no datapoints were received for 2 periods and 2 missing \
             datapoints were treated as [Breaching]."
        );
    }

    #[test]
    fn each_alarm_is_evaluated_once_per_interval() {
        let h = Harness::new();
        h.put_alarm(json!({"AlarmName": "fast", "Period": 10}));
        h.put_alarm(json!({"AlarmName": "slow", "Period": 300}));
        let due = |name: &str| {
            h.cw.alarms
                .lock()
                .unwrap()
                .due_at(&("us-east-1".to_string(), name.to_string()))
                .unwrap()
        };
        // A fixed whole second of each interval: within 10 s for the 10-second alarm, within
        // the minute for the 5-minute one.
        let (fast, slow) = (due("fast"), due("slow"));
        assert!(
            fast > T0 && fast <= T0 + 10 * SEC && (fast - T0) % SEC == 0,
            "{fast}"
        );
        assert!(
            slow > T0 && slow <= T0 + MIN && (slow - T0) % SEC == 0,
            "{slow}"
        );
        h.cw.evaluate(fast);
        assert_eq!(due("fast"), fast + 10 * SEC);
        // Called again within the interval: not due again.
        h.cw.evaluate(fast + 500);
        assert_eq!(due("fast"), fast + 10 * SEC);
        h.cw.evaluate(slow);
        assert_eq!(due("slow"), slow + MIN);
        // A late call evaluates once and keeps the alarm's second.
        h.cw.evaluate(T0 + 3 * MIN + LATE);
        assert_eq!(due("slow"), slow + 4 * MIN);
        assert_eq!((due("fast") - fast) % (10 * SEC), 0);
    }

    #[test]
    fn high_resolution_alarm() {
        let h = Harness::new();
        h.put_alarm(json!({"Period": 10}));
        h.at(T0 + 19 * SEC);
        h.ok(
            "PutMetricData",
            json!({"Namespace": "Test", "MetricData": [{"MetricName": "cpu", "Value": 50,
                "StorageResolution": 1, "Timestamp": secs(T0 + 3 * SEC)}]}),
        );
        let t = h.cw.evaluate(T0 + 19 * SEC);
        assert_eq!(t[0].new_state, AlarmState::Alarm);
        assert_eq!(
            t[0].reason,
            "Threshold Crossed: 1 datapoint [50.0 (12/07/26 10:00:00)] was greater than the threshold (40.0)."
        );
    }

    #[test]
    fn math_alarm() {
        let h = Harness::new();
        h.ok(
            "PutMetricAlarm",
            json!({"AlarmName": "math", "EvaluationPeriods": 1, "Threshold": 10,
                   "ComparisonOperator": "GreaterThanThreshold", "Metrics": [
                {"Id": "m1", "MetricStat": {"Metric": {"Namespace": "Test", "MetricName": "a"}, "Period": 60, "Stat": "Sum"}, "ReturnData": false},
                {"Id": "e1", "Expression": "m1 * 2", "ReturnData": true}]}),
        );
        h.at(T0 + MIN + LATE);
        h.put("a", 6.0, T0 + SEC);
        let t = h.cw.evaluate(T0 + MIN + LATE);
        assert_eq!(t[0].new_state, AlarmState::Alarm);
        let (_, text, data) = reason(&h, "math");
        assert_eq!(text, "Threshold Crossed: 1 datapoint [12.0 (12/07/26 10:00:00)] was greater than the threshold (10.0).");
        assert!(data.get("statistic").is_none());
        assert_eq!(
            data["evaluatedDatapoints"],
            json!([{"timestamp": "2026-07-12T10:00:00.000+0000", "value": 12.0}])
        );
    }

    #[test]
    fn disabled_actions_are_reported() {
        let h = Harness::new();
        h.put_alarm(json!({"ActionsEnabled": false, "AlarmActions": ["arn:aws:sns:us-east-1:123456789012:a"]}));
        h.at(T0 + MIN + LATE);
        h.put("cpu", 50.0, T0 + SEC);
        let t = h.cw.evaluate(T0 + MIN + LATE);
        assert!(!t[0].actions_enabled);
        assert_eq!(h.alarm("cpu")["ActionsEnabled"], false);
    }

    #[test]
    fn restart_keeps_alarms_and_history() {
        let h = Harness::new();
        h.put_alarm(json!({"AlarmActions": ["arn:aws:sns:us-east-1:123456789012:a"]}));
        h.put_alarm(json!({"AlarmName": "gone"}));
        h.ok("DeleteAlarms", json!({"AlarmNames": ["gone"]}));
        h.at(T0 + MIN + LATE);
        h.put("cpu", 50.0, T0 + SEC);
        h.cw.evaluate(T0 + MIN + LATE);
        let alarms = h.ok("DescribeAlarms", json!({}));
        let history = h.ok("DescribeAlarmHistory", json!({}));
        let stats = json!({"Namespace": "Test", "MetricName": "cpu", "StartTime": secs(T0),
                           "EndTime": secs(T0 + MIN), "Period": 60, "Statistics": ["Maximum"]});
        let data = h.ok("GetMetricStatistics", stats.clone());
        assert_eq!(data["Datapoints"].as_array().unwrap().len(), 1);
        assert_eq!(history["AlarmHistoryItems"].as_array().unwrap().len(), 4);
        let h = h.restart();
        assert_eq!(h.ok("DescribeAlarms", json!({})), alarms);
        assert_eq!(h.ok("DescribeAlarmHistory", json!({})), history);
        assert_eq!(h.ok("GetMetricStatistics", stats), data);
        // After a restart every alarm is evaluated at the first call.
        h.at(T0 + MIN + 30 * SEC);
        h.put("cpu", 10.0, T0 + MIN + SEC);
        h.at(T0 + 2 * MIN + LATE);
        let t = h.cw.evaluate(T0 + 2 * MIN + LATE);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].new_state, AlarmState::Ok);
    }
}

#[cfg(test)]
mod scale {
    use serde_json::json;

    use crate::testing::{Harness, MIN, T0};

    #[test]
    #[ignore = "measurement"]
    fn many_alarms() {
        let h = Harness::new();
        let start = std::time::Instant::now();
        for i in 0..1000 {
            h.put_alarm(
                json!({"AlarmName": format!("a{i}"), "MetricName": format!("m{}", i % 100)}),
            );
        }
        eprintln!("1000 PutMetricAlarm: {:?}", start.elapsed());
        for m in 0..100 {
            h.put(&format!("m{m}"), 50.0, T0 + 1000);
        }
        h.at(T0 + MIN + 59_000);
        let start = std::time::Instant::now();
        let mut n = 0;
        for s in 0..60 {
            let t = std::time::Instant::now();
            n += h.cw.evaluate(T0 + MIN + s * 1000).len();
            if s < 3 {
                eprintln!("one call: {:?}", t.elapsed());
            }
        }
        eprintln!("a minute of calls: {:?}, {n} transitions", start.elapsed());
    }
}
