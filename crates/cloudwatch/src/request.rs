//! The operations' inputs as the edge hands them over (the AWS JSON protocol's shape, members
//! named as in the model) decoded into typed structs. Every member is optional here: presence
//! and ranges are the operations' to check, with AWS's texts. Unknown members are ignored
//! (clients send members newer than this service).

use serde::de::{self, DeserializeOwned, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::Refusal;

/// Decodes `input` (an object, or null for an empty request) into `T`.
pub(crate) fn decode<T: DeserializeOwned>(input: Value) -> Result<T, Refusal> {
    let input = if input.is_null() {
        Value::Object(serde_json::Map::new())
    } else {
        input
    };
    serde_json::from_value(input).map_err(|e| Refusal::Serialization(e.to_string()))
}

/// A datapoint value: a JSON number, or one of the strings `NaN`, `Infinity`, `-Infinity` (JSON
/// has no such numbers; the edge passes the query protocol's spelling through) so that they can
/// be refused with AWS's text instead of a decoding error.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(transparent)]
pub(crate) struct Double(pub f64);

impl<'de> Deserialize<'de> for Double {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Double, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(f64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Number(x) => Ok(Double(x)),
            Raw::Text(t) => match t.as_str() {
                "NaN" => Ok(Double(f64::NAN)),
                "Infinity" | "+Infinity" => Ok(Double(f64::INFINITY)),
                "-Infinity" => Ok(Double(f64::NEG_INFINITY)),
                other => other
                    .parse::<f64>()
                    .map(Double)
                    .map_err(|_| de::Error::custom(format!("not a number: {other}"))),
            },
        }
    }
}

/// An integer member: a JSON integer, or a float with no fraction (`60.0`), which some
/// encoders write for integers.
fn integer<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    if let Some(i) = n.as_i64() {
        return Ok(Some(i));
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Some(f as i64)),
        _ => Err(de::Error::custom(format!("not an integer: {n}"))),
    }
}

/// `Dimension`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Dimension {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// `DimensionFilter` (ListMetrics): a name, and a value or not.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct DimensionFilter {
    pub name: Option<String>,
    pub value: Option<String>,
}

/// `StatisticSet`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct StatisticSet {
    pub sample_count: Option<Double>,
    pub sum: Option<Double>,
    pub minimum: Option<Double>,
    pub maximum: Option<Double>,
}

/// `MetricDatum`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct MetricDatum {
    pub metric_name: Option<String>,
    pub dimensions: Option<Vec<Dimension>>,
    pub timestamp: Option<f64>,
    pub value: Option<Double>,
    pub statistic_values: Option<StatisticSet>,
    pub values: Option<Vec<Double>>,
    pub counts: Option<Vec<Double>>,
    pub unit: Option<String>,
    #[serde(default, deserialize_with = "integer")]
    pub storage_resolution: Option<i64>,
}

/// `EntityMetricData`: an entity (not modelled here: dropped) and its metrics.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct EntityMetricData {
    pub metric_data: Option<Vec<MetricDatum>>,
}

/// `PutMetricDataInput` (`StrictEntityValidation` does not matter: entities are dropped).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct PutMetricDataInput {
    pub namespace: Option<String>,
    pub metric_data: Option<Vec<MetricDatum>>,
    pub entity_metric_data: Option<Vec<EntityMetricData>>,
}

/// `GetMetricStatisticsInput`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct GetMetricStatisticsInput {
    pub namespace: Option<String>,
    pub metric_name: Option<String>,
    pub dimensions: Option<Vec<Dimension>>,
    pub start_time: Option<f64>,
    pub end_time: Option<f64>,
    #[serde(default, deserialize_with = "integer")]
    pub period: Option<i64>,
    pub statistics: Option<Vec<String>>,
    pub extended_statistics: Option<Vec<String>>,
    pub unit: Option<String>,
}

/// `Metric`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Metric {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<Vec<Dimension>>,
}

/// `MetricStat`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct MetricStat {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric: Option<Metric>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(default, deserialize_with = "integer")]
    pub period: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stat: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
}

/// `MetricDataQuery` (GetMetricData's queries and a math alarm's `Metrics`; kept as given in
/// an alarm, which DescribeAlarms answers with).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct MetricDataQuery {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric_stat: Option<MetricStat>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub return_data: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(default, deserialize_with = "integer")]
    pub period: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
}

/// `GetMetricDataInput` (`LabelOptions` only changes dynamic labels, which are not expanded).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct GetMetricDataInput {
    pub metric_data_queries: Option<Vec<MetricDataQuery>>,
    pub start_time: Option<f64>,
    pub end_time: Option<f64>,
    pub next_token: Option<String>,
    pub scan_by: Option<String>,
    #[serde(default, deserialize_with = "integer")]
    pub max_datapoints: Option<i64>,
}

/// `ListMetricsInput`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListMetricsInput {
    pub namespace: Option<String>,
    pub metric_name: Option<String>,
    pub dimensions: Option<Vec<DimensionFilter>>,
    pub next_token: Option<String>,
    pub recently_active: Option<String>,
}

/// `Tag`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Tag {
    pub key: Option<String>,
    pub value: Option<String>,
}

/// `PutMetricAlarmInput` (`EvaluationCriteria`, `EvaluationInterval` and `EvaluationWindow`,
/// PromQL alarms and wall-clock windows, are refused: see the alarm module).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct PutMetricAlarmInput {
    pub alarm_name: Option<String>,
    pub alarm_description: Option<String>,
    pub actions_enabled: Option<bool>,
    #[serde(rename = "OKActions")]
    pub ok_actions: Option<Vec<String>>,
    pub alarm_actions: Option<Vec<String>>,
    pub insufficient_data_actions: Option<Vec<String>>,
    pub metric_name: Option<String>,
    pub namespace: Option<String>,
    pub statistic: Option<String>,
    pub extended_statistic: Option<String>,
    pub dimensions: Option<Vec<Dimension>>,
    #[serde(default, deserialize_with = "integer")]
    pub period: Option<i64>,
    pub unit: Option<String>,
    #[serde(default, deserialize_with = "integer")]
    pub evaluation_periods: Option<i64>,
    #[serde(default, deserialize_with = "integer")]
    pub datapoints_to_alarm: Option<i64>,
    pub threshold: Option<Double>,
    pub comparison_operator: Option<String>,
    pub treat_missing_data: Option<String>,
    pub evaluate_low_sample_count_percentile: Option<String>,
    pub metrics: Option<Vec<MetricDataQuery>>,
    pub tags: Option<Vec<Tag>>,
    pub threshold_metric_id: Option<String>,
    pub evaluation_criteria: Option<Value>,
    pub evaluation_interval: Option<Value>,
}

/// `DescribeAlarmsInput`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct DescribeAlarmsInput {
    pub alarm_names: Option<Vec<String>>,
    pub alarm_name_prefix: Option<String>,
    pub alarm_types: Option<Vec<String>>,
    pub children_of_alarm_name: Option<String>,
    pub parents_of_alarm_name: Option<String>,
    pub state_value: Option<String>,
    pub action_prefix: Option<String>,
    #[serde(default, deserialize_with = "integer")]
    pub max_records: Option<i64>,
    pub next_token: Option<String>,
}

/// `DescribeAlarmsForMetricInput`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct DescribeAlarmsForMetricInput {
    pub metric_name: Option<String>,
    pub namespace: Option<String>,
    pub statistic: Option<String>,
    pub extended_statistic: Option<String>,
    pub dimensions: Option<Vec<Dimension>>,
    #[serde(default, deserialize_with = "integer")]
    pub period: Option<i64>,
    pub unit: Option<String>,
}

/// `DescribeAlarmHistoryInput`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct DescribeAlarmHistoryInput {
    pub alarm_name: Option<String>,
    pub alarm_types: Option<Vec<String>>,
    pub history_item_type: Option<String>,
    pub start_date: Option<f64>,
    pub end_date: Option<f64>,
    #[serde(default, deserialize_with = "integer")]
    pub max_records: Option<i64>,
    pub next_token: Option<String>,
    pub scan_by: Option<String>,
}

/// `DeleteAlarmsInput`, `EnableAlarmActionsInput`, `DisableAlarmActionsInput`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct AlarmNamesInput {
    pub alarm_names: Option<Vec<String>>,
}

/// `SetAlarmStateInput`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct SetAlarmStateInput {
    pub alarm_name: Option<String>,
    pub state_value: Option<String>,
    pub state_reason: Option<String>,
    pub state_reason_data: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_members_are_ignored_and_null_is_empty() {
        let input: PutMetricDataInput =
            decode(json!({"Namespace": "n", "EntityMetricData": [], "New": 1})).unwrap();
        assert_eq!(input.namespace.as_deref(), Some("n"));
        let empty: ListMetricsInput = decode(Value::Null).unwrap();
        assert!(empty.namespace.is_none());
    }

    #[test]
    fn doubles_take_the_special_spellings() {
        let d: MetricDatum = decode(json!({"Value": "NaN", "Values": [1, "Infinity"]})).unwrap();
        assert!(d.value.unwrap().0.is_nan());
        assert_eq!(d.values.unwrap()[1].0, f64::INFINITY);
    }

    #[test]
    fn integers_may_be_written_as_whole_floats() {
        let g: GetMetricStatisticsInput = decode(json!({"Period": 60.0})).unwrap();
        assert_eq!(g.period, Some(60));
        assert!(decode::<GetMetricStatisticsInput>(json!({"Period": 60.5})).is_err());
        let q: MetricDataQuery = decode(json!({"Id": "a"})).unwrap();
        assert_eq!(q.period, None);
    }

    #[test]
    fn a_wrong_type_is_a_serialization_refusal() {
        let e = decode::<GetMetricStatisticsInput>(json!({"Period": "sixty"})).unwrap_err();
        assert!(matches!(e, Refusal::Serialization(_)));
    }
}
