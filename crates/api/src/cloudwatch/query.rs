//! The query protocol, as the aws CLI v2 and SDKs older than CloudWatch's JSON switch send it:
//! `POST /` with the form `Action=<Op>&Version=2010-08-01&…`, answered in XML in the namespace
//! `http://monitoring.amazonaws.com/doc/2010-08-01/`.
//!
//! Form keys follow the shape table: `Name.Field` for structures, `Name.member.N` for lists
//! (N from 1; `Name=` is the empty list), `Name.entry.N.key` / `.value` for maps; values are
//! strings turned into numbers, booleans and epoch seconds here. Answers write lists as
//! `<member>` elements (`<Name/>` when empty), maps as `<entry><key/><value/></entry>`, and
//! timestamps in ISO 8601 UTC — `2026-12-07T10:04:00Z`, with milliseconds when there are any —
//! as AWS's examples show them.

use chrono::{DateTime, SecondsFormat};
use serde_json::{Map, Value};

use super::error::Error;
use super::shapes::{self, Member, Operation, Shape};
use crate::query::{DecodeError, Params};
use crate::xml::Xml;

/// The API version of CloudWatch's query protocol.
pub const VERSION: &str = "2010-08-01";
/// The XML namespace of every answer and error.
pub const NAMESPACE: &str = "http://monitoring.amazonaws.com/doc/2010-08-01/";

/// The operation of a query request: `Action` in the table, `Version` absent or
/// [`VERSION`].
///
/// # Errors
/// `MissingAction`, `InvalidAction`.
pub fn operation(params: &Params) -> Result<&'static Operation, Error> {
    let action = match params.get("Action") {
        Some(a) if !a.is_empty() => a,
        _ => return Err(crate::ApiError::missing_action().into()),
    };
    if let Some(version) = params.get("Version") {
        if version != VERSION {
            return Err(crate::ApiError::invalid_version(action, version).into());
        }
    }
    shapes::operation(action).ok_or_else(|| Error::invalid_action(action))
}

/// The neutral input of `op` from the form.
///
/// # Errors
/// `InvalidParameterValue` naming the parameter whose text is not its model type, or whose
/// list index is malformed.
pub fn decode(op: &Operation, params: &Params) -> Result<Value, Error> {
    let Shape::Structure(members) = op.input else {
        return Ok(Value::Object(Map::new()));
    };
    structure(params, "", members).map(Value::Object)
}

fn structure(
    params: &Params,
    prefix: &str,
    members: &[Member],
) -> Result<Map<String, Value>, Error> {
    let mut out = Map::new();
    for member in members {
        let key = format!("{prefix}{}", member.name);
        if let Some(v) = value(params, &key, member.shape)? {
            out.insert(member.name.to_string(), v);
        }
    }
    Ok(out)
}

/// The value of the parameter(s) at `key`, read as `shape`; `None` when absent.
fn value(params: &Params, key: &str, shape: &Shape) -> Result<Option<Value>, Error> {
    match shape {
        Shape::Structure(members) => {
            if !params.present(key) {
                return Ok(None);
            }
            structure(params, &format!("{key}."), members).map(|m| Some(Value::Object(m)))
        }
        Shape::List(item) => {
            if !params.present(key) {
                return Ok(None);
            }
            let mut items = Vec::new();
            if is_scalar(item) {
                for (n, text) in params
                    .list(key, "member")
                    .map_err(decode_error)?
                    .iter()
                    .enumerate()
                {
                    items.push(scalar(&format!("{key}.member.{}", n + 1), item, text)?);
                }
            } else {
                for (n, _) in params.structures(key, "member").map_err(decode_error)? {
                    if let Some(v) = value(params, &format!("{key}.member.{n}"), item)? {
                        items.push(v);
                    }
                }
            }
            Ok(Some(Value::Array(items)))
        }
        Shape::Map(item) => {
            if !params.present(key) {
                return Ok(None);
            }
            let mut entries = Map::new();
            for (n, fields) in params.structures(key, "entry").map_err(decode_error)? {
                let Some(name) = fields.get("key") else {
                    return Err(Error::invalid_parameter_value(format!(
                        "The map entry {key}.entry.{n} has no key."
                    )));
                };
                if let Some(v) = value(params, &format!("{key}.entry.{n}.value"), item)? {
                    entries.insert(name.clone(), v);
                }
            }
            Ok(Some(Value::Object(entries)))
        }
        _ => params
            .get(key)
            .map(|text| scalar(key, shape, text))
            .transpose(),
    }
}

fn is_scalar(shape: &Shape) -> bool {
    !matches!(shape, Shape::Structure(_) | Shape::List(_) | Shape::Map(_))
}

/// A form string read as a scalar of `shape`.
fn scalar(key: &str, shape: &Shape, text: &str) -> Result<Value, Error> {
    let bad = |what: &str| {
        Error::invalid_parameter_value(format!(
            "Invalid {what} value {:?} for parameter {key}.",
            crate::query::echo(text)
        ))
    };
    match shape {
        Shape::Integer => text
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| bad("integer")),
        // Non-finite values (`NaN`, `Infinity`) pass on for the service to refuse in AWS's words.
        Shape::Double => text
            .parse::<f64>()
            .map(shapes::double_value)
            .map_err(|_| bad("number")),
        Shape::Boolean => {
            if text.eq_ignore_ascii_case("true") {
                Ok(Value::Bool(true))
            } else if text.eq_ignore_ascii_case("false") {
                Ok(Value::Bool(false))
            } else {
                Err(bad("boolean"))
            }
        }
        Shape::Timestamp => shapes::parse_timestamp(text)
            .or_else(|| text.parse::<f64>().ok())
            .and_then(shapes::epoch_value)
            .ok_or_else(|| bad("timestamp")),
        _ => Ok(Value::String(text.to_string())),
    }
}

fn decode_error(error: DecodeError) -> Error {
    Error::invalid_parameter_value(error.to_string())
}

/// The XML answer of `op`: `<OpResponse xmlns=…><OpResult>…</OpResult><ResponseMetadata>…`,
/// without `<OpResult>` for an operation without output.
///
/// # Errors
/// `InternalFailure` (logged) when the output does not fit the model.
pub fn encode(op: &Operation, output: &Value, request_id: &str) -> Result<String, Error> {
    let mut body = format!("<{}Response xmlns=\"{NAMESPACE}\">", op.name);
    if let Some(shape) = op.output {
        let value = super::checked_output(op, shape, output)?;
        let mut x = Xml::new();
        x.element(&format!("{}Result", op.name), |x| {
            if let (Shape::Structure(members), Value::Object(fields)) = (shape, &value) {
                write_members(x, members, fields);
            }
        });
        body.push_str(&x.into_string());
    }
    let mut x = Xml::new();
    x.element("ResponseMetadata", |x| x.text("RequestId", request_id));
    body.push_str(&x.into_string());
    body.push_str(&format!("</{}Response>", op.name));
    Ok(body)
}

fn write_members(x: &mut Xml, members: &[Member], fields: &Map<String, Value>) {
    for member in members {
        if let Some(v) = fields.get(member.name) {
            write(x, member.name, member.shape, v);
        }
    }
}

/// Writes `value` (already conformed to `shape`) as the element `name`.
fn write(x: &mut Xml, name: &str, shape: &Shape, value: &Value) {
    match (shape, value) {
        (Shape::Structure(members), Value::Object(fields)) => {
            x.element(name, |x| write_members(x, members, fields));
        }
        (Shape::List(item), Value::Array(items)) => {
            if items.is_empty() {
                x.empty(name);
            } else {
                x.element(name, |x| {
                    for v in items {
                        write(x, "member", item, v);
                    }
                });
            }
        }
        (Shape::Map(item), Value::Object(entries)) => {
            if entries.is_empty() {
                x.empty(name);
            } else {
                x.element(name, |x| {
                    for (k, v) in entries {
                        x.element("entry", |x| {
                            x.text("key", k);
                            write(x, "value", item, v);
                        });
                    }
                });
            }
        }
        (Shape::String, Value::String(s)) => x.text(name, s),
        (Shape::Boolean, Value::Bool(b)) => x.boolean(name, *b),
        (Shape::Integer, v) => {
            if let Some(n) = shapes::integer(v) {
                x.integer(name, n);
            }
        }
        (Shape::Double, v) => {
            if let Some(f) = shapes::double(v) {
                x.text(name, &double(f));
            }
        }
        (Shape::Timestamp, Value::Number(n)) => {
            if let Some(t) = n.as_f64().and_then(timestamp) {
                x.text(name, &t);
            }
        }
        // `conform` ran first: nothing else reaches here.
        _ => {}
    }
}

/// A double as AWS's XML writes it: whole values with `.0` (`1.0`), others in the shortest
/// form that reads back exactly, `NaN` and `Infinity` as Java spells them.
fn double(f: f64) -> String {
    if f.is_nan() {
        shapes::NON_FINITE[0].to_string()
    } else if f.is_infinite() {
        shapes::NON_FINITE[if f > 0.0 { 1 } else { 2 }].to_string()
    } else if f.fract() == 0.0 && f.abs() < 1e16 {
        format!("{f:.1}")
    } else {
        f.to_string()
    }
}

/// Epoch seconds as ISO 8601 UTC: `2026-12-07T10:04:00Z`, or `…:00.250Z` when there are
/// milliseconds. `None` out of chrono's range.
fn timestamp(seconds: f64) -> Option<String> {
    let millis = (seconds * 1000.0).round();
    if !millis.is_finite() || millis.abs() >= i64::MAX as f64 {
        return None;
    }
    let t = DateTime::from_timestamp_millis(millis as i64)?;
    let format = if t.timestamp_subsec_millis() == 0 {
        SecondsFormat::Secs
    } else {
        SecondsFormat::Millis
    };
    Some(t.to_rfc3339_opts(format, true))
}

/// The error document: `<ErrorResponse xmlns=…><Error><Type/><Code/><Message/></Error>
/// <RequestId/></ErrorResponse>`.
pub fn error_body(error: &Error, request_id: &str) -> String {
    let mut x = Xml::new();
    x.element("Error", |x| {
        x.text("Type", error.fault_name());
        x.text("Code", error.code());
        x.text("Message", error.message());
    });
    x.text("RequestId", request_id);
    let mut body = format!("<ErrorResponse xmlns=\"{NAMESPACE}\">");
    body.push_str(&x.into_string());
    body.push_str("</ErrorResponse>");
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn form(text: &str) -> Params {
        Params::parse(None, text.as_bytes()).unwrap()
    }

    // Goal: the aws CLI v2's GetMetricStatistics form reads as the neutral value. Method:
    // decode the form botocore's query serializer writes for the reference runbook's call.
    #[test]
    fn get_metric_statistics_form() {
        let p = form("Action=GetMetricStatistics&Version=2010-08-01&Namespace=AWS%2FElastiCache&MetricName=CPUUtilization&Dimensions.member.1.Name=CacheClusterId&Dimensions.member.1.Value=x&StartTime=2026-12-07T10%3A00%3A00Z&EndTime=2026-12-07T11%3A00%3A00.500000Z&Period=300&Statistics.member.1=Average&Statistics.member.2=Maximum");
        let op = operation(&p).unwrap();
        assert_eq!(
            decode(op, &p).unwrap(),
            json!({"Namespace": "AWS/ElastiCache", "MetricName": "CPUUtilization",
                   "Dimensions": [{"Name": "CacheClusterId", "Value": "x"}],
                   "StartTime": 1796637600, "EndTime": 1796641200.5, "Period": 300,
                   "Statistics": ["Average", "Maximum"]})
        );
    }

    // Goal: nesting composes (lists of structures in structures in lists), maps read their
    // entries, booleans and doubles convert, `Name=` is an empty list, gaps close up.
    // Method: a PutMetricData and a GetMetricData form.
    #[test]
    fn nested_forms() {
        let p = form("Action=PutMetricData&Namespace=N&MetricData.member.1.MetricName=m&MetricData.member.1.Value=1.5&MetricData.member.1.Values.member.1=1&MetricData.member.1.Values.member.3=2e3&MetricData.member.1.Dimensions=&MetricData.member.1.StatisticValues.Sum=4&MetricData.member.1.StorageResolution=1&EntityMetricData.member.1.Entity.KeyAttributes.entry.1.key=Type&EntityMetricData.member.1.Entity.KeyAttributes.entry.1.value=Service&StrictEntityValidation=false");
        let op = operation(&p).unwrap();
        assert_eq!(
            decode(op, &p).unwrap(),
            json!({"Namespace": "N",
                   "MetricData": [{"MetricName": "m", "Dimensions": [], "Value": 1.5,
                                   "StatisticValues": {"Sum": 4.0}, "Values": [1.0, 2000.0],
                                   "StorageResolution": 1}],
                   "EntityMetricData": [{"Entity": {"KeyAttributes": {"Type": "Service"}}}],
                   "StrictEntityValidation": false})
        );
        // Non-finite values pass on, spelled as the service expects them.
        let p = form("Action=PutMetricData&MetricData.member.1.Value=NaN&MetricData.member.2.Value=-Infinity");
        assert_eq!(
            decode(operation(&p).unwrap(), &p).unwrap(),
            json!({"MetricData": [{"Value": "NaN"}, {"Value": "-Infinity"}]})
        );
        let p = form("Action=GetMetricData&MetricDataQueries.member.1.Id=q&MetricDataQueries.member.1.ReturnData=true&MetricDataQueries.member.1.MetricStat.Period=60&MetricDataQueries.member.1.MetricStat.Stat=Average&MetricDataQueries.member.1.MetricStat.Metric.Dimensions.member.1.Name=CacheClusterId&MetricDataQueries.member.1.MetricStat.Metric.Dimensions.member.1.Value=c&StartTime=1796637600&EndTime=2026-12-07T11%3A00%3A00Z");
        let op = operation(&p).unwrap();
        assert_eq!(
            decode(op, &p).unwrap(),
            json!({"MetricDataQueries": [{"Id": "q", "ReturnData": true,
                     "MetricStat": {"Metric": {"Dimensions": [{"Name": "CacheClusterId", "Value": "c"}]},
                                    "Period": 60, "Stat": "Average"}}],
                   "StartTime": 1796637600, "EndTime": 1796641200})
        );
    }

    // Goal: malformed values and list keys are InvalidParameterValue naming the parameter;
    // missing or unknown actions and other versions are MissingAction/InvalidAction.
    // Method: decode each.
    #[test]
    fn bad_forms() {
        for (text, name) in [
            ("Action=GetMetricStatistics&Period=five", "Period"),
            (
                "Action=GetMetricStatistics&StartTime=yesterday",
                "StartTime",
            ),
            (
                "Action=PutMetricData&MetricData.member.1.Value=1,5",
                "MetricData.member.1.Value",
            ),
            (
                "Action=GetMetricStatistics&Statistics.member.0=Average",
                "Statistics.member.0",
            ),
            (
                "Action=GetMetricData&MetricDataQueries.member.1.ReturnData=yes",
                "ReturnData",
            ),
            (
                "Action=PutMetricData&EntityMetricData.member.1.Entity.Attributes.entry.1.value=v",
                "entry.1",
            ),
        ] {
            let p = form(text);
            let e = decode(operation(&p).unwrap(), &p).unwrap_err();
            assert_eq!(e.code(), "InvalidParameterValue", "{text}");
            assert!(e.message().contains(name), "{text}: {}", e.message());
        }
        assert_eq!(
            operation(&form("Version=2010-08-01")).unwrap_err().code(),
            "MissingAction"
        );
        let e = operation(&form("Action=PutDashboard")).unwrap_err();
        assert_eq!(e.code(), "InvalidAction");
        assert_eq!(
            e.message(),
            "The action PutDashboard is not valid for this web service."
        );
        let e = operation(&form("Action=ListMetrics&Version=2015-02-02")).unwrap_err();
        assert_eq!(e.code(), "InvalidAction");
    }

    // Goal: the XML answer has AWS's envelope, `<member>` lists, maps as entries, typed text
    // and ISO times. Method: encode a GetMetricStatistics answer and compare byte for byte.
    #[test]
    fn answers() {
        let op = shapes::operation("GetMetricStatistics").unwrap();
        let xml = encode(
            op,
            &json!({"Label": "CPU <1>", "Datapoints": [
                {"Timestamp": 1796637840, "Average": 12.5, "Sum": 25, "Unit": "Percent",
                 "ExtendedStatistics": {"p99": 13}},
                {"Timestamp": 1796637900.25, "SampleCount": 2.0}]}),
            "rid",
        )
        .unwrap();
        assert_eq!(
            xml,
            format!(
                "<GetMetricStatisticsResponse xmlns=\"{NAMESPACE}\"><GetMetricStatisticsResult>\
                 <Label>CPU &lt;1&gt;</Label><Datapoints>\
                 <member><Timestamp>2026-12-07T10:04:00Z</Timestamp><Average>12.5</Average><Sum>25.0</Sum>\
                 <Unit>Percent</Unit><ExtendedStatistics><entry><key>p99</key><value>13.0</value></entry></ExtendedStatistics></member>\
                 <member><Timestamp>2026-12-07T10:05:00.250Z</Timestamp><SampleCount>2.0</SampleCount></member>\
                 </Datapoints></GetMetricStatisticsResult>\
                 <ResponseMetadata><RequestId>rid</RequestId></ResponseMetadata></GetMetricStatisticsResponse>"
            )
        );
        let op = shapes::operation("DescribeAlarms").unwrap();
        let xml = encode(op, &json!({"CompositeAlarms": [], "MetricAlarms": [{"AlarmName": "a", "ActionsEnabled": true, "Period": 300, "OKActions": []}]}), "r").unwrap();
        assert!(xml.contains("<DescribeAlarmsResult><CompositeAlarms/><MetricAlarms><member><AlarmName>a</AlarmName><ActionsEnabled>true</ActionsEnabled><OKActions/><Period>300</Period></member></MetricAlarms></DescribeAlarmsResult>"), "{xml}");
        let op = shapes::operation("DeleteAlarms").unwrap();
        assert_eq!(
            encode(op, &json!({}), "r").unwrap(),
            format!("<DeleteAlarmsResponse xmlns=\"{NAMESPACE}\"><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></DeleteAlarmsResponse>")
        );
    }

    // Goal: the error document is AWS's, in CloudWatch's namespace. Method: render one.
    #[test]
    fn error_document() {
        let e = Error::invalid_action("Nope");
        assert_eq!(
            error_body(&e, "rid"),
            "<ErrorResponse xmlns=\"http://monitoring.amazonaws.com/doc/2010-08-01/\"><Error><Type>Sender</Type>\
             <Code>InvalidAction</Code><Message>The action Nope is not valid for this web service.</Message></Error>\
             <RequestId>rid</RequestId></ErrorResponse>"
        );
    }

    // Goal: doubles and times are written as AWS writes them. Method: format a few.
    #[test]
    fn formats() {
        assert_eq!(double(1.0), "1.0");
        assert_eq!(double(-0.5), "-0.5");
        assert_eq!(double(1e20), "100000000000000000000");
        assert_eq!(double(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(double(f64::NAN), "NaN");
        assert_eq!(double(f64::NEG_INFINITY), "-Infinity");
        assert_eq!(timestamp(0.0).as_deref(), Some("1970-01-01T00:00:00Z"));
        assert_eq!(
            timestamp(1796637840.0004).as_deref(),
            Some("2026-12-07T10:04:00Z")
        );
        assert_eq!(timestamp(1e300), None);
    }
}
