//! Alarm history: the items AWS writes (configuration updates, state updates, actions) and
//! `DescribeAlarmHistory`. History outlives its alarm (AWS: "CloudWatch retains the history of
//! an alarm even if you delete the alarm") and is kept two weeks.
//!
//! Texts, as AWS writes them: `Alarm "name" created` with `{"version":"1.0","type":"Create",
//! "createdAlarm":{…}}` (a real item quoted publicly), `Alarm updated from INSUFFICIENT_DATA to
//! ALARM` with `{"version":"1.0","oldState":{…},"newState":{…}}` (LocalStack's snapshot of
//! AWS). `[unsure]`: the update's and deletion's data (`"type":"Update"` with `updatedAlarm`
//! and `originalUpdatedAlarm`, `"type":"Delete"` with `deletedAlarm`) and the action items.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::alarm::Alarm;
use crate::error::Refusal;
use crate::evaluate::AlarmTransition;
use crate::paging;
use crate::request::{decode, DescribeAlarmHistoryInput};
use crate::text::{epoch_seconds, iso_millis, json_array, Ordered};
use crate::validate::{timestamp, Checks};
use crate::CloudWatch;

/// How long history is kept.
pub(crate) const KEPT_MS: i64 = 14 * 86_400_000;
/// `DescribeAlarmHistory`'s page when `MaxRecords` is not given. `[unsure]`
const DEFAULT_PAGE: usize = 100;
const ITEM_TYPES: [&str; 5] = [
    "ConfigurationUpdate",
    "StateUpdate",
    "Action",
    "AlarmContributorStateUpdate",
    "AlarmContributorAction",
];

/// One history item.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct HistoryItem {
    pub region: String,
    pub alarm_name: String,
    pub timestamp_ms: i64,
    /// `ConfigurationUpdate`, `StateUpdate` or `Action`.
    pub item_type: String,
    pub summary: String,
    /// JSON text.
    pub data: String,
}

/// The alarm as history data shows it (`createdAlarm`, …).
fn alarm_json(account: &str, a: &Alarm) -> String {
    let mut o = Ordered::new()
        .value("alarmName", &a.name)
        .maybe("alarmDescription", a.description.as_ref())
        .value("alarmArn", &a.arn(account))
        .value(
            "alarmConfigurationUpdatedTimestamp",
            &iso_millis(a.config_updated_ms),
        );
    if let Some(m) = &a.metric {
        let dims: Vec<String> = m
            .dimensions
            .iter()
            .map(|(n, v)| Ordered::new().value("value", v).value("name", n).finish())
            .collect();
        o = o
            .value("namespace", &m.namespace)
            .value("metricName", &m.metric_name)
            .maybe("statistic", m.statistic.as_ref())
            .maybe("extendedStatistic", m.extended_statistic.as_ref())
            .value("period", &m.period)
            .maybe("unit", m.unit.as_ref())
            .raw("dimensions", json_array(&dims));
    } else {
        o = o.value("metrics", &a.metrics);
    }
    o.value("threshold", &a.threshold)
        .value("comparisonOperator", &a.comparison_operator)
        .value("evaluationPeriods", &a.evaluation_periods)
        .maybe("datapointsToAlarm", a.datapoints_to_alarm.as_ref())
        .maybe("treatMissingData", a.treat_missing_data.as_ref())
        .maybe(
            "evaluateLowSampleCountPercentile",
            a.evaluate_low_sample_count_percentile.as_ref(),
        )
        .value("stateValue", a.state.as_str())
        .value("stateUpdatedTimestamp", &iso_millis(a.state_updated_ms))
        .value("actionsEnabled", &a.actions_enabled)
        .value("alarmActions", &a.alarm_actions)
        .value("insufficientDataActions", &a.insufficient_data_actions)
        .value("okactions", &a.ok_actions)
        .finish()
}

/// The `ConfigurationUpdate` item of a created (`previous` none) or updated alarm.
pub(crate) fn configuration(
    account: &str,
    alarm: &Alarm,
    previous: Option<&Alarm>,
    now: i64,
) -> HistoryItem {
    let (summary, data) = match previous {
        None => (
            format!("Alarm \"{}\" created", alarm.name),
            Ordered::new()
                .value("version", "1.0")
                .value("type", "Create")
                .raw("createdAlarm", alarm_json(account, alarm))
                .finish(),
        ),
        Some(old) => (
            format!("Alarm \"{}\" updated", alarm.name),
            Ordered::new()
                .value("version", "1.0")
                .value("type", "Update")
                .raw("updatedAlarm", alarm_json(account, alarm))
                .raw("originalUpdatedAlarm", alarm_json(account, old))
                .finish(),
        ),
    };
    HistoryItem {
        region: alarm.region.clone(),
        alarm_name: alarm.name.clone(),
        timestamp_ms: now,
        item_type: "ConfigurationUpdate".into(),
        summary,
        data,
    }
}

/// The `ConfigurationUpdate` item of a deleted alarm.
pub(crate) fn deletion(account: &str, alarm: &Alarm, now: i64) -> HistoryItem {
    HistoryItem {
        region: alarm.region.clone(),
        alarm_name: alarm.name.clone(),
        timestamp_ms: now,
        item_type: "ConfigurationUpdate".into(),
        summary: format!("Alarm \"{}\" deleted", alarm.name),
        data: Ordered::new()
            .value("version", "1.0")
            .value("type", "Delete")
            .raw("deletedAlarm", alarm_json(account, alarm))
            .finish(),
    }
}

/// A state's `{"stateValue", "stateReason", "stateReasonData"}`.
fn state_json(a: &Alarm) -> String {
    let mut o = Ordered::new()
        .value("stateValue", a.state.as_str())
        .value("stateReason", &a.state_reason);
    if let Some(d) = &a.state_reason_data {
        o = o.raw("stateReasonData", d.clone());
    }
    o.finish()
}

/// The `StateUpdate` item from `old` to `new`.
pub(crate) fn state_update(old: &Alarm, new: &Alarm, now: i64) -> HistoryItem {
    HistoryItem {
        region: new.region.clone(),
        alarm_name: new.name.clone(),
        timestamp_ms: now,
        item_type: "StateUpdate".into(),
        summary: format!(
            "Alarm updated from {} to {}",
            old.state.as_str(),
            new.state.as_str()
        ),
        data: Ordered::new()
            .value("version", "1.0")
            .raw("oldState", state_json(old))
            .raw("newState", state_json(new))
            .finish(),
    }
}

/// Adds an `Action` item for one of a transition's actions.
pub(crate) fn record_action(
    cw: &CloudWatch,
    t: &AlarmTransition,
    action: &str,
    error: Option<&str>,
    now: i64,
) {
    let (summary, state) = match error {
        None => (
            format!("Successfully executed action {action}"),
            "Succeeded",
        ),
        Some(e) => (
            format!("Failed to execute action {action}. Received error: \"{e}\""),
            "Failed",
        ),
    };
    let mut data = Ordered::new()
        .value("actionState", state)
        .value("stateUpdateTimestamp", &t.at_ms)
        .value("notificationResource", action)
        .value("publishedMessage", &t.notification);
    if let Some(e) = error {
        data = data.value("error", e);
    }
    let item = HistoryItem {
        region: t.region.clone(),
        alarm_name: t.alarm_name.clone(),
        timestamp_ms: now,
        item_type: "Action".into(),
        summary,
        data: data.finish(),
    };
    let mut reg = cw.alarms.lock().expect("alarm registry lock");
    if let Err(e) = cw.files.append_history(std::slice::from_ref(&item)) {
        tracing::warn!(error = %e, "saving an alarm action's history item");
    }
    reg.add_history(vec![item]);
}

/// `DescribeAlarmHistory`.
pub(crate) fn describe_alarm_history(
    cw: &CloudWatch,
    region: &str,
    input: Value,
) -> Result<Value, Refusal> {
    let req: DescribeAlarmHistoryInput = decode(input)?;
    let mut checks = Checks::new();
    checks.length_opt("alarmName", req.alarm_name.as_deref(), 1, 255);
    checks.one_of(
        "historyItemType",
        req.history_item_type.as_deref(),
        &ITEM_TYPES,
        &ITEM_TYPES,
    );
    checks.range("maxRecords", req.max_records, Some(1), Some(100));
    checks.one_of(
        "scanBy",
        req.scan_by.as_deref(),
        &["TimestampDescending", "TimestampAscending"],
        &["TimestampDescending", "TimestampAscending"],
    );
    if let Some(types) = &req.alarm_types {
        let all = ["CompositeAlarm", "MetricAlarm", "LogAlarm"];
        checks.members_one_of("alarmTypes", types, &all, &all);
    }
    checks.finish()?;
    let start = req
        .start_date
        .map(|s| timestamp("StartDate", s))
        .transpose()?;
    let end = req.end_date.map(|s| timestamp("EndDate", s)).transpose()?;
    let metric_alarms = req
        .alarm_types
        .as_ref()
        .is_none_or(|t| t.iter().any(|x| x == "MetricAlarm"));
    let descending = req.scan_by.as_deref() != Some("TimestampAscending");
    let page = req.max_records.map_or(DEFAULT_PAGE, |m| m as usize);

    let parts = [
        req.alarm_name.clone().unwrap_or_default(),
        req.history_item_type.clone().unwrap_or_default(),
        format!("{start:?}{end:?}{:?}", req.alarm_types),
        req.scan_by.clone().unwrap_or_default(),
        page.to_string(),
    ];
    let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
    let fingerprint = paging::fingerprint(&refs);
    let skip = match &req.next_token {
        Some(t) => paging::offset(t, "DescribeAlarmHistory", fingerprint)
            .ok_or(Refusal::InvalidNextToken)?,
        None => 0,
    };

    let reg = cw.alarms.lock().expect("alarm registry lock");
    let mut items: Vec<&HistoryItem> = reg
        .history
        .iter()
        .filter(|_| metric_alarms)
        .filter(|i| i.region == region)
        .filter(|i| req.alarm_name.as_ref().is_none_or(|n| &i.alarm_name == n))
        .filter(|i| {
            req.history_item_type
                .as_ref()
                .is_none_or(|t| &i.item_type == t)
        })
        .filter(|i| start.is_none_or(|s| i.timestamp_ms >= s))
        .filter(|i| end.is_none_or(|e| i.timestamp_ms <= e))
        .collect();
    // Stable: items of the same millisecond stay in the order they were written.
    items.sort_by_key(|i| i.timestamp_ms);
    if descending {
        items.reverse();
    }
    let listed: Vec<Value> = items
        .iter()
        .skip(skip)
        .take(page)
        .map(|i| {
            json!({
                "AlarmName": i.alarm_name,
                "AlarmType": "MetricAlarm",
                "Timestamp": epoch_seconds(i.timestamp_ms),
                "HistoryItemType": i.item_type,
                "HistorySummary": i.summary,
                "HistoryData": i.data,
            })
        })
        .collect();
    let mut out = json!({ "AlarmHistoryItems": listed });
    if skip + page < items.len() {
        out["NextToken"] = json!(paging::token(
            "DescribeAlarmHistory",
            fingerprint,
            skip + page
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use crate::testing::{Harness, MIN, T0};

    fn items(h: &Harness, input: Value) -> Vec<(String, String)> {
        h.ok("DescribeAlarmHistory", input)["AlarmHistoryItems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                (
                    i["HistoryItemType"].as_str().unwrap().to_string(),
                    i["HistorySummary"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    #[test]
    fn items_filters_order_and_pages() {
        let h = Harness::new();
        h.put_alarm(json!({"AlarmActions": ["arn:aws:sns:us-east-1:123456789012:a"]}));
        h.at(T0 + MIN);
        h.put_alarm(json!({"Threshold": 41}));
        h.put_alarm(json!({"AlarmName": "other"}));
        h.at(T0 + 2 * MIN);
        h.ok(
            "SetAlarmState",
            json!({"AlarmName": "cpu", "StateValue": "ALARM", "StateReason": "r"}),
        );
        // Late in the minute: the alarm's evaluation is due too.
        let t = h.cw.evaluate(T0 + 2 * MIN + 59_000);
        h.at(T0 + 3 * MIN);
        h.cw.record_action(&t[0], "arn:aws:sns:us-east-1:123456789012:a", None);
        h.at(T0 + 4 * MIN);
        h.ok("DeleteAlarms", json!({"AlarmNames": ["cpu"]}));

        assert_eq!(
            items(&h, json!({"AlarmName": "cpu"})),
            [
                (
                    "ConfigurationUpdate".to_string(),
                    "Alarm \"cpu\" deleted".to_string()
                ),
                (
                    "Action".into(),
                    "Successfully executed action arn:aws:sns:us-east-1:123456789012:a".into()
                ),
                // The evaluation right after SetAlarmState found no data.
                (
                    "StateUpdate".into(),
                    "Alarm updated from ALARM to INSUFFICIENT_DATA".into()
                ),
                (
                    "StateUpdate".into(),
                    "Alarm updated from INSUFFICIENT_DATA to ALARM".into()
                ),
                ("ConfigurationUpdate".into(), "Alarm \"cpu\" updated".into()),
                ("ConfigurationUpdate".into(), "Alarm \"cpu\" created".into()),
            ]
        );
        assert_eq!(
            items(
                &h,
                json!({"AlarmName": "cpu", "HistoryItemType": "StateUpdate", "ScanBy": "TimestampAscending"})
            ),
            [
                (
                    "StateUpdate".to_string(),
                    "Alarm updated from INSUFFICIENT_DATA to ALARM".to_string()
                ),
                (
                    "StateUpdate".into(),
                    "Alarm updated from ALARM to INSUFFICIENT_DATA".into()
                ),
            ]
        );
        let window = json!({"StartDate": (T0 + MIN) / 1000, "EndDate": (T0 + 2 * MIN + 59_000) / 1000,
                            "ScanBy": "TimestampAscending"});
        assert_eq!(
            items(&h, window)
                .iter()
                .map(|i| i.1.as_str())
                .collect::<Vec<_>>(),
            [
                "Alarm \"cpu\" updated",
                "Alarm \"other\" created",
                "Alarm updated from INSUFFICIENT_DATA to ALARM",
                "Alarm updated from ALARM to INSUFFICIENT_DATA",
            ]
        );
        assert!(items(&h, json!({"AlarmTypes": ["CompositeAlarm"]})).is_empty());
        let first = h.ok("DescribeAlarmHistory", json!({"MaxRecords": 4}));
        assert_eq!(first["AlarmHistoryItems"].as_array().unwrap().len(), 4);
        let rest = h.ok(
            "DescribeAlarmHistory",
            json!({"MaxRecords": 4, "NextToken": first["NextToken"]}),
        );
        assert_eq!(rest["AlarmHistoryItems"].as_array().unwrap().len(), 3);
        assert!(rest.get("NextToken").is_none());
        assert_eq!(
            h.err("DescribeAlarmHistory", json!({"NextToken": "zz"})).0,
            "InvalidNextToken"
        );
        let (code, msg) = h.err("DescribeAlarmHistory", json!({"HistoryItemType": "Nope"}));
        assert_eq!(code, "ValidationError");
        assert!(msg.contains("at 'historyItemType'"), "{msg}");
        assert!(h
            .cw
            .call("eu-west-1", "DescribeAlarmHistory", json!({}))
            .unwrap()["AlarmHistoryItems"]
            .as_array()
            .unwrap()
            .is_empty());
    }

    #[test]
    fn history_data_as_aws_writes_it() {
        let h = Harness::new();
        h.put_alarm(json!({}));
        h.at(T0 + MIN);
        h.ok(
            "SetAlarmState",
            json!({"AlarmName": "cpu", "StateValue": "OK", "StateReason": "x",
                                     "StateReasonData": "{\"k\":1}"}),
        );
        let out = h.ok(
            "DescribeAlarmHistory",
            json!({"ScanBy": "TimestampAscending"}),
        );
        let created = &out["AlarmHistoryItems"][0];
        assert_eq!(created["AlarmType"], "MetricAlarm");
        assert_eq!(created["Timestamp"], json!(T0 / 1000));
        assert_eq!(
            created["HistoryData"],
            "{\"version\":\"1.0\",\"type\":\"Create\",\"createdAlarm\":{\"alarmName\":\"cpu\",\
             \"alarmArn\":\"arn:aws:cloudwatch:us-east-1:123456789012:alarm:cpu\",\
             \"alarmConfigurationUpdatedTimestamp\":\"2026-07-12T10:00:00.000+0000\",\
             \"namespace\":\"Test\",\"metricName\":\"cpu\",\"statistic\":\"Average\",\"period\":60,\
             \"dimensions\":[],\"threshold\":40.0,\"comparisonOperator\":\"GreaterThanThreshold\",\
             \"evaluationPeriods\":1,\"stateValue\":\"INSUFFICIENT_DATA\",\
             \"stateUpdatedTimestamp\":\"2026-07-12T10:00:00.000+0000\",\"actionsEnabled\":true,\
             \"alarmActions\":[],\"insufficientDataActions\":[],\"okactions\":[]}}"
        );
        assert_eq!(
            out["AlarmHistoryItems"][1]["HistoryData"],
            "{\"version\":\"1.0\",\"oldState\":{\"stateValue\":\"INSUFFICIENT_DATA\",\
             \"stateReason\":\"Unchecked: Initial alarm creation\"},\"newState\":{\"stateValue\":\
             \"OK\",\"stateReason\":\"x\",\"stateReasonData\":{\"k\":1}}}"
        );
    }
}
