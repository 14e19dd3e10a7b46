//! The CloudWatch model (`monitoring`, `2010-08-01`) as far as the wire protocols need it: for
//! each operation the edge answers, the shapes of its input and output, written by hand from
//! botocore's `cloudwatch/2010-08-01/service-2.json`.
//!
//! The protocol-neutral value [`ferrocache_cloudwatch::CloudWatch::call`] takes and returns is
//! the AWS JSON protocol's: members named as in the model, lists as arrays, structures and maps
//! as objects, timestamps as epoch seconds. JSON needs no more than that; the query protocol
//! (form strings in, XML out) and CBOR (typed numbers, tagged timestamps) need to know which
//! member is a number, a timestamp or a list — that is this table.
//!
//! Enums are strings here: the model's enum values are checked by the service, not by the
//! wire. In this model no list has a custom member name and none is flattened, so every query
//! list is `Name.member.N` and every XML list item `<member>`; maps are `Name.entry.N.key` /
//! `.value` and `<entry><key/><value/></entry>`.
//!
//! [`conform`] checks a neutral value against a shape (dropping members the model does not
//! have); it is how JSON and CBOR input is read and how every output is checked before it is
//! written.

use serde_json::{Map, Number, Value};

/// A shape of the model, reduced to what serialization needs.
#[derive(Debug)]
pub enum Shape {
    /// Text, including the model's enums.
    String,
    /// A whole number (`integer` in the model; no `long` member is reached).
    Integer,
    /// A floating-point number (`double`).
    Double,
    /// `true` / `false`.
    Boolean,
    /// A point in time; epoch seconds (maybe fractional) in the neutral value.
    Timestamp,
    /// A list of one shape.
    List(&'static Shape),
    /// A map from strings to one shape.
    Map(&'static Shape),
    /// A structure: its members in model order.
    Structure(&'static [Member]),
}

/// A member of a structure.
#[derive(Debug)]
pub struct Member {
    /// The member name, as on every wire.
    pub name: &'static str,
    /// Its shape.
    pub shape: &'static Shape,
}

/// Shorthand for the table below.
const fn m(name: &'static str, shape: &'static Shape) -> Member {
    Member { name, shape }
}

/// An operation of the table.
#[derive(Debug)]
pub struct Operation {
    /// Its name in the model (`GetMetricStatistics`), also the query `Action`.
    pub name: &'static str,
    /// The input structure.
    pub input: &'static Shape,
    /// The output structure; `None` for operations without output (`PutMetricData`, …),
    /// whose query answer is the `ResponseMetadata` alone and whose CBOR answer has no body.
    pub output: Option<&'static Shape>,
}

static STRING: Shape = Shape::String;
static INTEGER: Shape = Shape::Integer;
static DOUBLE: Shape = Shape::Double;
static BOOLEAN: Shape = Shape::Boolean;
static TIMESTAMP: Shape = Shape::Timestamp;

static STRINGS: Shape = Shape::List(&STRING);
static DOUBLES: Shape = Shape::List(&DOUBLE);
static TIMESTAMPS: Shape = Shape::List(&TIMESTAMP);
static STRING_MAP: Shape = Shape::Map(&STRING);
static DOUBLE_MAP: Shape = Shape::Map(&DOUBLE);

/// `Dimension` (`Name`, `Value`); `DimensionFilter` has the same members (its `Value` is
/// optional, which is the service's concern), so it shares the shape.
static DIMENSION: Shape = Shape::Structure(&[m("Name", &STRING), m("Value", &STRING)]);
static DIMENSIONS: Shape = Shape::List(&DIMENSION);

static STATISTIC_SET: Shape = Shape::Structure(&[
    m("SampleCount", &DOUBLE),
    m("Sum", &DOUBLE),
    m("Minimum", &DOUBLE),
    m("Maximum", &DOUBLE),
]);

static METRIC_DATUM: Shape = Shape::Structure(&[
    m("MetricName", &STRING),
    m("Dimensions", &DIMENSIONS),
    m("Timestamp", &TIMESTAMP),
    m("Value", &DOUBLE),
    m("StatisticValues", &STATISTIC_SET),
    m("Values", &DOUBLES),
    m("Counts", &DOUBLES),
    m("Unit", &STRING),
    m("StorageResolution", &INTEGER),
]);
static METRIC_DATA: Shape = Shape::List(&METRIC_DATUM);

static ENTITY: Shape = Shape::Structure(&[
    m("KeyAttributes", &STRING_MAP),
    m("Attributes", &STRING_MAP),
]);
static ENTITY_METRIC_DATUM: Shape =
    Shape::Structure(&[m("Entity", &ENTITY), m("MetricData", &METRIC_DATA)]);

static METRIC: Shape = Shape::Structure(&[
    m("Namespace", &STRING),
    m("MetricName", &STRING),
    m("Dimensions", &DIMENSIONS),
]);

static METRIC_STAT: Shape = Shape::Structure(&[
    m("Metric", &METRIC),
    m("Period", &INTEGER),
    m("Stat", &STRING),
    m("Unit", &STRING),
]);

static METRIC_DATA_QUERY: Shape = Shape::Structure(&[
    m("Id", &STRING),
    m("MetricStat", &METRIC_STAT),
    m("Expression", &STRING),
    m("Label", &STRING),
    m("ReturnData", &BOOLEAN),
    m("Period", &INTEGER),
    m("AccountId", &STRING),
]);
static METRIC_DATA_QUERIES: Shape = Shape::List(&METRIC_DATA_QUERY);

static MESSAGE_DATA: Shape = Shape::Structure(&[m("Code", &STRING), m("Value", &STRING)]);
static MESSAGES: Shape = Shape::List(&MESSAGE_DATA);

static METRIC_DATA_RESULT: Shape = Shape::Structure(&[
    m("Id", &STRING),
    m("Label", &STRING),
    m("Timestamps", &TIMESTAMPS),
    m("Values", &DOUBLES),
    m("StatusCode", &STRING),
    m("Messages", &MESSAGES),
]);

static DATAPOINT: Shape = Shape::Structure(&[
    m("Timestamp", &TIMESTAMP),
    m("SampleCount", &DOUBLE),
    m("Average", &DOUBLE),
    m("Sum", &DOUBLE),
    m("Minimum", &DOUBLE),
    m("Maximum", &DOUBLE),
    m("Unit", &STRING),
    m("ExtendedStatistics", &DOUBLE_MAP),
]);

static TAG: Shape = Shape::Structure(&[m("Key", &STRING), m("Value", &STRING)]);

static PROMQL_CRITERIA: Shape = Shape::Structure(&[
    m("Query", &STRING),
    m("PendingPeriod", &INTEGER),
    m("RecoveryPeriod", &INTEGER),
]);
/// A union in the model; unions are written as structures on all three wires.
static EVALUATION_CRITERIA: Shape = Shape::Structure(&[m("PromQLCriteria", &PROMQL_CRITERIA)]);

static METRIC_ALARM: Shape = Shape::Structure(&[
    m("AlarmName", &STRING),
    m("AlarmArn", &STRING),
    m("AlarmDescription", &STRING),
    m("AlarmConfigurationUpdatedTimestamp", &TIMESTAMP),
    m("ActionsEnabled", &BOOLEAN),
    m("OKActions", &STRINGS),
    m("AlarmActions", &STRINGS),
    m("InsufficientDataActions", &STRINGS),
    m("StateValue", &STRING),
    m("StateReason", &STRING),
    m("StateReasonData", &STRING),
    m("StateUpdatedTimestamp", &TIMESTAMP),
    m("MetricName", &STRING),
    m("Namespace", &STRING),
    m("Statistic", &STRING),
    m("ExtendedStatistic", &STRING),
    m("Dimensions", &DIMENSIONS),
    m("Period", &INTEGER),
    m("Unit", &STRING),
    m("EvaluationPeriods", &INTEGER),
    m("DatapointsToAlarm", &INTEGER),
    m("Threshold", &DOUBLE),
    m("ComparisonOperator", &STRING),
    m("TreatMissingData", &STRING),
    m("EvaluateLowSampleCountPercentile", &STRING),
    m("Metrics", &METRIC_DATA_QUERIES),
    m("ThresholdMetricId", &STRING),
    m("EvaluationState", &STRING),
    m("StateTransitionedTimestamp", &TIMESTAMP),
    m("EvaluationCriteria", &EVALUATION_CRITERIA),
    m("EvaluationInterval", &INTEGER),
]);

static COMPOSITE_ALARM: Shape = Shape::Structure(&[
    m("ActionsEnabled", &BOOLEAN),
    m("AlarmActions", &STRINGS),
    m("AlarmArn", &STRING),
    m("AlarmConfigurationUpdatedTimestamp", &TIMESTAMP),
    m("AlarmDescription", &STRING),
    m("AlarmName", &STRING),
    m("AlarmRule", &STRING),
    m("InsufficientDataActions", &STRINGS),
    m("OKActions", &STRINGS),
    m("StateReason", &STRING),
    m("StateReasonData", &STRING),
    m("StateUpdatedTimestamp", &TIMESTAMP),
    m("StateValue", &STRING),
    m("StateTransitionedTimestamp", &TIMESTAMP),
    m("ActionsSuppressedBy", &STRING),
    m("ActionsSuppressedReason", &STRING),
    m("ActionsSuppressor", &STRING),
    m("ActionsSuppressorWaitPeriod", &INTEGER),
    m("ActionsSuppressorExtensionPeriod", &INTEGER),
]);

static ALARM_HISTORY_ITEM: Shape = Shape::Structure(&[
    m("AlarmName", &STRING),
    m("AlarmContributorId", &STRING),
    m("AlarmType", &STRING),
    m("Timestamp", &TIMESTAMP),
    m("HistoryItemType", &STRING),
    m("HistorySummary", &STRING),
    m("HistoryData", &STRING),
    m("AlarmContributorAttributes", &STRING_MAP),
]);

static PUT_METRIC_DATA_INPUT: Shape = Shape::Structure(&[
    m("Namespace", &STRING),
    m("MetricData", &METRIC_DATA),
    m("EntityMetricData", &Shape::List(&ENTITY_METRIC_DATUM)),
    m("StrictEntityValidation", &BOOLEAN),
]);

static GET_METRIC_STATISTICS_INPUT: Shape = Shape::Structure(&[
    m("Namespace", &STRING),
    m("MetricName", &STRING),
    m("Dimensions", &DIMENSIONS),
    m("StartTime", &TIMESTAMP),
    m("EndTime", &TIMESTAMP),
    m("Period", &INTEGER),
    m("Statistics", &STRINGS),
    m("ExtendedStatistics", &STRINGS),
    m("Unit", &STRING),
]);
static GET_METRIC_STATISTICS_OUTPUT: Shape = Shape::Structure(&[
    m("Label", &STRING),
    m("Datapoints", &Shape::List(&DATAPOINT)),
]);

static GET_METRIC_DATA_INPUT: Shape = Shape::Structure(&[
    m("MetricDataQueries", &METRIC_DATA_QUERIES),
    m("StartTime", &TIMESTAMP),
    m("EndTime", &TIMESTAMP),
    m("NextToken", &STRING),
    m("ScanBy", &STRING),
    m("MaxDatapoints", &INTEGER),
    m("LabelOptions", &Shape::Structure(&[m("Timezone", &STRING)])),
]);
static GET_METRIC_DATA_OUTPUT: Shape = Shape::Structure(&[
    m("MetricDataResults", &Shape::List(&METRIC_DATA_RESULT)),
    m("NextToken", &STRING),
    m("Messages", &MESSAGES),
]);

static LIST_METRICS_INPUT: Shape = Shape::Structure(&[
    m("Namespace", &STRING),
    m("MetricName", &STRING),
    m("Dimensions", &DIMENSIONS),
    m("NextToken", &STRING),
    m("RecentlyActive", &STRING),
    m("IncludeLinkedAccounts", &BOOLEAN),
    m("OwningAccount", &STRING),
]);
static LIST_METRICS_OUTPUT: Shape = Shape::Structure(&[
    m("Metrics", &Shape::List(&METRIC)),
    m("NextToken", &STRING),
    m("OwningAccounts", &STRINGS),
]);

static PUT_METRIC_ALARM_INPUT: Shape = Shape::Structure(&[
    m("AlarmName", &STRING),
    m("AlarmDescription", &STRING),
    m("ActionsEnabled", &BOOLEAN),
    m("OKActions", &STRINGS),
    m("AlarmActions", &STRINGS),
    m("InsufficientDataActions", &STRINGS),
    m("MetricName", &STRING),
    m("Namespace", &STRING),
    m("Statistic", &STRING),
    m("ExtendedStatistic", &STRING),
    m("Dimensions", &DIMENSIONS),
    m("Period", &INTEGER),
    m("Unit", &STRING),
    m("EvaluationPeriods", &INTEGER),
    m("DatapointsToAlarm", &INTEGER),
    m("Threshold", &DOUBLE),
    m("ComparisonOperator", &STRING),
    m("TreatMissingData", &STRING),
    m("EvaluateLowSampleCountPercentile", &STRING),
    m("Metrics", &METRIC_DATA_QUERIES),
    m("Tags", &Shape::List(&TAG)),
    m("ThresholdMetricId", &STRING),
    m("EvaluationCriteria", &EVALUATION_CRITERIA),
    m("EvaluationInterval", &INTEGER),
]);

static DESCRIBE_ALARMS_INPUT: Shape = Shape::Structure(&[
    m("AlarmNames", &STRINGS),
    m("AlarmNamePrefix", &STRING),
    m("AlarmTypes", &STRINGS),
    m("ChildrenOfAlarmName", &STRING),
    m("ParentsOfAlarmName", &STRING),
    m("StateValue", &STRING),
    m("ActionPrefix", &STRING),
    m("MaxRecords", &INTEGER),
    m("NextToken", &STRING),
]);
static METRIC_ALARMS: Shape = Shape::List(&METRIC_ALARM);
static DESCRIBE_ALARMS_OUTPUT: Shape = Shape::Structure(&[
    m("CompositeAlarms", &Shape::List(&COMPOSITE_ALARM)),
    m("MetricAlarms", &METRIC_ALARMS),
    m("NextToken", &STRING),
]);

static DESCRIBE_ALARMS_FOR_METRIC_INPUT: Shape = Shape::Structure(&[
    m("MetricName", &STRING),
    m("Namespace", &STRING),
    m("Statistic", &STRING),
    m("ExtendedStatistic", &STRING),
    m("Dimensions", &DIMENSIONS),
    m("Period", &INTEGER),
    m("Unit", &STRING),
]);
static DESCRIBE_ALARMS_FOR_METRIC_OUTPUT: Shape =
    Shape::Structure(&[m("MetricAlarms", &METRIC_ALARMS)]);

static DESCRIBE_ALARM_HISTORY_INPUT: Shape = Shape::Structure(&[
    m("AlarmName", &STRING),
    m("AlarmContributorId", &STRING),
    m("AlarmTypes", &STRINGS),
    m("HistoryItemType", &STRING),
    m("StartDate", &TIMESTAMP),
    m("EndDate", &TIMESTAMP),
    m("MaxRecords", &INTEGER),
    m("NextToken", &STRING),
    m("ScanBy", &STRING),
]);
static DESCRIBE_ALARM_HISTORY_OUTPUT: Shape = Shape::Structure(&[
    m("AlarmHistoryItems", &Shape::List(&ALARM_HISTORY_ITEM)),
    m("NextToken", &STRING),
]);

/// `DeleteAlarms`, `EnableAlarmActions` and `DisableAlarmActions` all take `AlarmNames` alone.
static ALARM_NAMES_INPUT: Shape = Shape::Structure(&[m("AlarmNames", &STRINGS)]);

static SET_ALARM_STATE_INPUT: Shape = Shape::Structure(&[
    m("AlarmName", &STRING),
    m("StateValue", &STRING),
    m("StateReason", &STRING),
    m("StateReasonData", &STRING),
]);

/// Every operation the edge answers; any other name is answered as unknown in the caller's
/// protocol without reaching the service.
pub static OPERATIONS: &[Operation] = &[
    Operation {
        name: "PutMetricData",
        input: &PUT_METRIC_DATA_INPUT,
        output: None,
    },
    Operation {
        name: "GetMetricStatistics",
        input: &GET_METRIC_STATISTICS_INPUT,
        output: Some(&GET_METRIC_STATISTICS_OUTPUT),
    },
    Operation {
        name: "GetMetricData",
        input: &GET_METRIC_DATA_INPUT,
        output: Some(&GET_METRIC_DATA_OUTPUT),
    },
    Operation {
        name: "ListMetrics",
        input: &LIST_METRICS_INPUT,
        output: Some(&LIST_METRICS_OUTPUT),
    },
    Operation {
        name: "PutMetricAlarm",
        input: &PUT_METRIC_ALARM_INPUT,
        output: None,
    },
    Operation {
        name: "DescribeAlarms",
        input: &DESCRIBE_ALARMS_INPUT,
        output: Some(&DESCRIBE_ALARMS_OUTPUT),
    },
    Operation {
        name: "DescribeAlarmsForMetric",
        input: &DESCRIBE_ALARMS_FOR_METRIC_INPUT,
        output: Some(&DESCRIBE_ALARMS_FOR_METRIC_OUTPUT),
    },
    Operation {
        name: "DescribeAlarmHistory",
        input: &DESCRIBE_ALARM_HISTORY_INPUT,
        output: Some(&DESCRIBE_ALARM_HISTORY_OUTPUT),
    },
    Operation {
        name: "DeleteAlarms",
        input: &ALARM_NAMES_INPUT,
        output: None,
    },
    Operation {
        name: "SetAlarmState",
        input: &SET_ALARM_STATE_INPUT,
        output: None,
    },
    Operation {
        name: "EnableAlarmActions",
        input: &ALARM_NAMES_INPUT,
        output: None,
    },
    Operation {
        name: "DisableAlarmActions",
        input: &ALARM_NAMES_INPUT,
        output: None,
    },
];

/// The operation named `name` (exactly, as the model spells it).
pub fn operation(name: &str) -> Option<&'static Operation> {
    OPERATIONS.iter().find(|op| op.name == name)
}

/// A value that does not have the shape the model gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// Where: member names and list indexes from the outside in (`MetricData[0].Value`).
    pub path: String,
    /// What the model wants there.
    pub expected: &'static str,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            write!(f, "expected {}", self.expected)
        } else {
            write!(f, "{}: expected {}", self.path, self.expected)
        }
    }
}

impl Mismatch {
    fn new(expected: &'static str) -> Self {
        Self {
            path: String::new(),
            expected,
        }
    }

    /// Prefixes the path with a member name (the path is built on the way out).
    fn within_member(mut self, name: &str) -> Self {
        self.path = if self.path.is_empty() {
            name.to_string()
        } else if self.path.starts_with('[') {
            format!("{name}{}", self.path)
        } else {
            format!("{name}.{}", self.path)
        };
        self
    }

    /// Prefixes the path with a list index or map key.
    fn within_item(mut self, item: impl std::fmt::Display) -> Self {
        self.path = if self.path.is_empty() || self.path.starts_with('[') {
            format!("[{item}]{}", self.path)
        } else {
            format!("[{item}].{}", self.path)
        };
        self
    }
}

/// `value` checked against `shape` and brought to the neutral form: members the model does not
/// have are dropped, `null` counts as absent (`Ok(None)`), whole-valued numbers are accepted
/// for integers, and RFC 3339 text is accepted for timestamps (turned into epoch seconds).
///
/// # Errors
/// [`Mismatch`] naming the first member whose value has another type.
pub fn conform(shape: &Shape, value: &Value) -> Result<Option<Value>, Mismatch> {
    if value.is_null() {
        return Ok(None);
    }
    let conformed = match shape {
        Shape::String => match value {
            Value::String(_) => value.clone(),
            _ => return Err(Mismatch::new("a string")),
        },
        Shape::Boolean => match value {
            Value::Bool(_) => value.clone(),
            _ => return Err(Mismatch::new("a boolean")),
        },
        Shape::Integer => Value::from(integer(value).ok_or(Mismatch::new("an integer"))?),
        Shape::Double => match value {
            Value::Number(_) => value.clone(),
            Value::String(text) if NON_FINITE.contains(&text.as_str()) => value.clone(),
            _ => return Err(Mismatch::new("a number")),
        },
        Shape::Timestamp => match value {
            Value::Number(_) => value.clone(),
            Value::String(text) => {
                epoch_value(parse_timestamp(text).ok_or(Mismatch::new("a timestamp"))?)
                    .ok_or(Mismatch::new("a timestamp"))?
            }
            _ => return Err(Mismatch::new("a timestamp")),
        },
        Shape::List(item) => {
            let Value::Array(items) = value else {
                return Err(Mismatch::new("a list"));
            };
            let mut out = Vec::with_capacity(items.len());
            for (index, v) in items.iter().enumerate() {
                if let Some(v) = conform(item, v).map_err(|e| e.within_item(index))? {
                    out.push(v);
                }
            }
            Value::Array(out)
        }
        Shape::Map(item) => {
            let Value::Object(entries) = value else {
                return Err(Mismatch::new("a map"));
            };
            let mut out = Map::new();
            for (key, v) in entries {
                if let Some(v) = conform(item, v).map_err(|e| e.within_item(key))? {
                    out.insert(key.clone(), v);
                }
            }
            Value::Object(out)
        }
        Shape::Structure(members) => {
            let Value::Object(fields) = value else {
                return Err(Mismatch::new("a structure"));
            };
            let mut out = Map::new();
            for member in members.iter() {
                let Some(v) = fields.get(member.name) else {
                    continue;
                };
                if let Some(v) =
                    conform(member.shape, v).map_err(|e| e.within_member(member.name))?
                {
                    out.insert(member.name.to_string(), v);
                }
            }
            Value::Object(out)
        }
    };
    Ok(Some(conformed))
}

/// How the neutral value spells the doubles JSON has no number for. The query protocol and
/// CBOR can carry them; they are passed on as these strings so that the service refuses them
/// with AWS's own text (`The value NaN for parameter … is invalid.`).
pub const NON_FINITE: [&str; 3] = ["NaN", "Infinity", "-Infinity"];

/// A double as the neutral value holds it: a number, or one of [`NON_FINITE`].
pub fn double_value(x: f64) -> Value {
    match Number::from_f64(x) {
        Some(n) => Value::Number(n),
        None if x.is_nan() => Value::String(NON_FINITE[0].into()),
        None if x > 0.0 => Value::String(NON_FINITE[1].into()),
        None => Value::String(NON_FINITE[2].into()),
    }
}

/// The `f64` of a neutral double (a number or one of [`NON_FINITE`]).
pub fn double(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) if s == NON_FINITE[0] => Some(f64::NAN),
        Value::String(s) if s == NON_FINITE[1] => Some(f64::INFINITY),
        Value::String(s) if s == NON_FINITE[2] => Some(f64::NEG_INFINITY),
        _ => None,
    }
}

/// A JSON number as a whole number: an integer, or a float with no fractional part in range.
pub fn integer(value: &Value) -> Option<i64> {
    let Value::Number(n) = value else {
        return None;
    };
    if let Some(i) = n.as_i64() {
        return Some(i);
    }
    let f = n.as_f64()?;
    // i64::MAX as f64 rounds up to 2^63, which does not fit: the bound is exclusive.
    (f.fract() == 0.0 && f >= i64::MIN as f64 && f < i64::MAX as f64).then_some(f as i64)
}

/// Epoch seconds as a neutral value: an integer when whole, else a float; `None` when not
/// finite.
pub fn epoch_value(seconds: f64) -> Option<Value> {
    if seconds.fract() == 0.0 && seconds.abs() < 1e15 {
        return Some(Value::from(seconds as i64));
    }
    Number::from_f64(seconds).map(Value::Number)
}

/// Seconds since the epoch of an ISO 8601 timestamp: RFC 3339 (`Z` or an offset, with or
/// without a fraction), or without a zone read as UTC, as the query protocol sends them.
pub fn parse_timestamp(text: &str) -> Option<f64> {
    let t = match chrono::DateTime::parse_from_rfc3339(text) {
        Ok(t) => t.with_timezone(&chrono::Utc),
        Err(_) => chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
            .ok()?
            .and_utc(),
    };
    Some(t.timestamp() as f64 + f64::from(t.timestamp_subsec_nanos()) / 1e9)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // Goal: the table has each of the twelve operations once, and every output-less one is the
    // model's (botocore lists no output for them). Method: walk the table.
    #[test]
    fn table_covers_the_operations() {
        let names: Vec<_> = OPERATIONS.iter().map(|op| op.name).collect();
        assert_eq!(names.len(), 12);
        for name in &names {
            assert_eq!(names.iter().filter(|n| *n == name).count(), 1, "{name}");
        }
        let without: Vec<_> = OPERATIONS
            .iter()
            .filter(|op| op.output.is_none())
            .map(|op| op.name)
            .collect();
        assert_eq!(
            without,
            [
                "PutMetricData",
                "PutMetricAlarm",
                "DeleteAlarms",
                "SetAlarmState",
                "EnableAlarmActions",
                "DisableAlarmActions"
            ]
        );
        assert!(operation("GetMetricStatistics").is_some());
        assert!(operation("getmetricstatistics").is_none());
    }

    // Goal: conform keeps model members with their types, drops unknown ones and nulls, turns
    // ISO text into epoch seconds and whole floats into integers. Method: a GetMetricData input.
    #[test]
    fn conform_normalises() {
        let input = json!({
            "MetricDataQueries": [{
                "Id": "q1",
                "MetricStat": {
                    "Metric": {"Namespace": "AWS/ElastiCache", "MetricName": "CPUUtilization",
                               "Dimensions": [{"Name": "CacheClusterId", "Value": "c"}]},
                    "Period": 60.0, "Stat": "Average"},
                "ReturnData": true,
                "Unknown": 1
            }],
            "StartTime": "2026-12-07T10:00:00Z",
            "EndTime": 1796637900.5,
            "NextToken": null
        });
        let out = conform(operation("GetMetricData").unwrap().input, &input)
            .unwrap()
            .unwrap();
        assert_eq!(
            out,
            json!({
                "MetricDataQueries": [{
                    "Id": "q1",
                    "MetricStat": {
                        "Metric": {"Namespace": "AWS/ElastiCache", "MetricName": "CPUUtilization",
                                   "Dimensions": [{"Name": "CacheClusterId", "Value": "c"}]},
                        "Period": 60, "Stat": "Average"},
                    "ReturnData": true
                }],
                "StartTime": 1796637600,
                "EndTime": 1796637900.5
            })
        );
    }

    // Goal: a type error names where it is. Method: wrong types at three depths.
    #[test]
    fn mismatches_name_their_path() {
        let op = operation("PutMetricData").unwrap();
        let cases = [
            (json!({"Namespace": 1}), "Namespace: expected a string"),
            (
                json!({"MetricData": [{"MetricName": "a"}, {"Value": "x"}]}),
                "MetricData[1].Value: expected a number",
            ),
            (
                json!({"MetricData": [{"Dimensions": [{"Name": true}]}]}),
                "MetricData[0].Dimensions[0].Name: expected a string",
            ),
            (
                json!({"MetricData": [{"StorageResolution": 1.5}]}),
                "MetricData[0].StorageResolution: expected an integer",
            ),
            (json!([]), "expected a structure"),
        ];
        for (value, message) in cases {
            assert_eq!(conform(op.input, &value).unwrap_err().to_string(), message);
        }
        let map = json!({"Datapoints": [{"ExtendedStatistics": {"p99": "x"}}]});
        let e = conform(
            operation("GetMetricStatistics").unwrap().output.unwrap(),
            &map,
        );
        assert_eq!(
            e.unwrap_err().to_string(),
            "Datapoints[0].ExtendedStatistics[p99]: expected a number"
        );
    }

    // Goal: timestamps in the forms clients send read as the same instant. Method: parse each.
    #[test]
    fn timestamps() {
        assert_eq!(parse_timestamp("2026-12-07T10:04:00Z"), Some(1796637840.0));
        assert_eq!(
            parse_timestamp("2026-12-07T10:04:00.250000Z"),
            Some(1796637840.25)
        );
        assert_eq!(
            parse_timestamp("2026-12-07T11:04:00+01:00"),
            Some(1796637840.0)
        );
        assert_eq!(parse_timestamp("2026-12-07T10:04:00"), Some(1796637840.0));
        assert_eq!(parse_timestamp("yesterday"), None);
        assert_eq!(epoch_value(1.0), Some(json!(1)));
        assert_eq!(epoch_value(1.5), Some(json!(1.5)));
        assert_eq!(epoch_value(f64::NAN), None);
        assert_eq!(integer(&json!(3.0)), Some(3));
        assert_eq!(double_value(f64::NAN), json!("NaN"));
        assert_eq!(double_value(f64::NEG_INFINITY), json!("-Infinity"));
        assert_eq!(double(&json!("Infinity")), Some(f64::INFINITY));
        assert_eq!(double(&json!(2)), Some(2.0));
        let op = operation("PutMetricData").unwrap();
        let input = json!({"MetricData": [{"Value": "NaN", "Values": ["-Infinity", 1]}]});
        assert_eq!(conform(op.input, &input).unwrap().unwrap(), input);
        assert!(conform(op.input, &json!({"MetricData": [{"Value": "nan"}]})).is_err());
        assert_eq!(integer(&json!(9.3e18)), None);
        assert_eq!(integer(&json!(u64::MAX)), None);
    }
}
