//! `PutMetricData`: callers' metrics into the store, after AWS's checks. Every datum of a call
//! is checked before any is recorded: a refused call records nothing.
//!
//! `EntityMetricData`'s metrics count with `MetricData`'s (1,000 in all); their entities are not
//! kept (nothing here reads them).
//!
//! A datum is a single `Value`, a distribution (`Values` with optional `Counts`: each distinct
//! value recorded with its count, so percentiles see it) or a `StatisticValues` set. AWS
//! accepts `Values` together with `StatisticValues` (LocalStack found so); the `Values` are
//! recorded then, as they carry the distribution.

use ferrocache_timeseries::Stats;
use serde_json::{json, Value};

use crate::error::Refusal;
use crate::request::{decode, Double, MetricDatum, PutMetricDataInput, StatisticSet};
use crate::series::MetricKey;
use crate::text::java_double;
use crate::validate::{
    dimension_pairs, member, param_member, required_str, reserved_namespace, timestamp, Checks,
};
use crate::CloudWatch;

/// The most data a call carries.
const MAX_DATA: usize = 1000;
/// The most distinct values a datum's `Values` carries.
const MAX_VALUES: usize = 150;
/// How old a datum may be: two weeks.
const MAX_AGE_MS: i64 = 14 * 86_400_000;
/// How far ahead a datum may be: two hours.
const MAX_AHEAD_MS: i64 = 2 * 3_600_000;
/// AWS's bounds on a value's magnitude: 2^360 at most, 2^-360 at least (zero aside).
const MAX_MAGNITUDE: f64 = 2.348_542_582_773_833_2e108;
const MIN_MAGNITUDE: f64 = 4.258_013_273_085_916e-109;

/// One checked datum, ready to record.
struct Checked {
    key: MetricKey,
    unit: String,
    at_ms: i64,
    stats: Vec<Stats>,
    high_resolution: bool,
}

/// `PutMetricData`.
pub(crate) fn put_metric_data(
    cw: &CloudWatch,
    region: &str,
    input: Value,
    now: i64,
) -> Result<Value, Refusal> {
    let req: PutMetricDataInput = decode(input)?;
    // Every datum with its framework path and its parameter name: `MetricData`'s, then each
    // `EntityMetricData`'s (whose entity is not kept).
    let mut data: Vec<(String, String, &MetricDatum)> = Vec::new();
    for (i, d) in req.metric_data.iter().flatten().enumerate() {
        data.push((member("metricData", i), param_member("MetricData", i), d));
    }
    for (e, entity) in req.entity_metric_data.iter().flatten().enumerate() {
        let path = format!("{}.metricData", member("entityMetricData", e));
        let param = format!("{}.MetricData", param_member("EntityMetricData", e));
        for (i, d) in entity.metric_data.iter().flatten().enumerate() {
            data.push((member(&path, i), param_member(&param, i), d));
        }
    }
    let mut checks = Checks::new();
    checks.namespace("namespace", req.namespace.as_deref());
    for (at, _, d) in &data {
        checks.metric_name(&format!("{at}.metricName"), d.metric_name.as_deref());
        checks.dimensions(&format!("{at}.dimensions"), d.dimensions.as_deref());
        checks.unit(&format!("{at}.unit"), d.unit.as_deref());
        checks.range(
            &format!("{at}.storageResolution"),
            d.storage_resolution,
            Some(1),
            None,
        );
    }
    checks.finish()?;

    let namespace = required_str(&req.namespace, "Namespace")?;
    if reserved_namespace(namespace) {
        return Err(Refusal::reserved_namespace());
    }
    if data.is_empty() {
        return Err(Refusal::missing("MetricData"));
    }
    if data.len() > MAX_DATA {
        return Err(Refusal::collection_too_big("MetricData", MAX_DATA));
    }
    let checked = data
        .iter()
        .map(|(_, param, d)| check_datum(region, namespace, param, d, now))
        .collect::<Result<Vec<_>, _>>()?;

    for c in checked {
        let id = cw.metrics.series(&c.key, &c.unit);
        for stats in c.stats {
            cw.metrics
                .record(id, c.at_ms, stats, c.high_resolution)
                .map_err(|e| Refusal::Internal(e.to_string()))?;
        }
    }
    Ok(json!({}))
}

/// Checks one datum (`at`: its name, `MetricData.member.N`).
fn check_datum(
    region: &str,
    namespace: &str,
    at: &str,
    d: &MetricDatum,
    now: i64,
) -> Result<Checked, Refusal> {
    let metric = required_str(&d.metric_name, &format!("{at}.MetricName"))?;
    let dims = dimension_pairs(&format!("{at}.Dimensions"), d.dimensions.as_deref())?;
    let value_param = format!("{at}.Value");
    let values_param = format!("{at}.Values");
    let set_param = format!("{at}.StatisticValues");
    if d.value.is_some() && d.values.is_some() {
        return Err(Refusal::mutually_exclusive(&value_param, &values_param));
    }
    if d.value.is_some() && d.statistic_values.is_some() {
        return Err(Refusal::mutually_exclusive(&value_param, &set_param));
    }
    let stats = if let Some(v) = d.value {
        vec![Stats::single(number(&value_param, v)?)]
    } else if let Some(values) = &d.values {
        distribution(at, values, d.counts.as_deref())?
    } else if let Some(set) = &d.statistic_values {
        vec![statistic_set(&set_param, set)?]
    } else {
        return Err(Refusal::value_required(&value_param, &set_param));
    };

    let at_ms = match d.timestamp {
        Some(t) => timestamp(&format!("{at}.Timestamp"), t)?,
        None => now,
    };
    if at_ms < now - MAX_AGE_MS {
        return Err(Refusal::timestamp_too_old(&format!("{at}.Timestamp")));
    }
    if at_ms > now + MAX_AHEAD_MS {
        return Err(Refusal::timestamp_too_new(&format!("{at}.Timestamp")));
    }
    let high_resolution = match d.storage_resolution {
        None | Some(60) => false,
        Some(1) => true,
        Some(_) => {
            return Err(Refusal::storage_resolution(&format!(
                "{at}.StorageResolution"
            )))
        }
    };
    Ok(Checked {
        key: MetricKey::new(region, namespace, metric, dims),
        unit: d.unit.clone().unwrap_or_else(|| "None".to_string()),
        at_ms,
        stats,
        high_resolution,
    })
}

/// A value CloudWatch accepts: finite, and zero or of a magnitude within 2^-360..2^360.
fn number(param: &str, v: Double) -> Result<f64, Refusal> {
    let x = v.0;
    let magnitude = x.abs();
    if !x.is_finite() || magnitude > MAX_MAGNITUDE || (x != 0.0 && magnitude < MIN_MAGNITUDE) {
        return Err(Refusal::invalid_number(param, &java_double(x)));
    }
    Ok(x)
}

/// `Values` with `Counts` (each count 1 when absent) as one aggregate per distinct value.
fn distribution(
    at: &str,
    values: &[Double],
    counts: Option<&[Double]>,
) -> Result<Vec<Stats>, Refusal> {
    let values_param = format!("{at}.Values");
    let counts_param = format!("{at}.Counts");
    if let Some(counts) = counts {
        if counts.len() != values.len() {
            return Err(Refusal::sizes_differ(&values_param, &counts_param));
        }
    }
    if values.len() > MAX_VALUES {
        return Err(Refusal::collection_too_big(&values_param, MAX_VALUES));
    }
    let mut out = Vec::with_capacity(values.len());
    for (i, v) in values.iter().enumerate() {
        let value = number(&param_member(&values_param, i), *v)?;
        let count = match counts {
            Some(c) => {
                let n = c[i].0;
                if !n.is_finite() || n < 0.0 {
                    return Err(Refusal::invalid_number(
                        &param_member(&counts_param, i),
                        &java_double(n),
                    ));
                }
                n
            }
            None => 1.0,
        };
        if count > 0.0 {
            out.push(Stats {
                count,
                sum: value * count,
                min: value,
                max: value,
            });
        }
    }
    if out.is_empty() {
        return Err(Refusal::value_required(
            &format!("{at}.Value"),
            &format!("{at}.StatisticValues"),
        ));
    }
    Ok(out)
}

/// A `StatisticValues` set: all four members, finite, consistent.
fn statistic_set(param: &str, set: &StatisticSet) -> Result<Stats, Refusal> {
    let member = |v: Option<Double>, name: &str| -> Result<f64, Refusal> {
        let p = format!("{param}.{name}");
        let v = v.ok_or_else(|| Refusal::missing(&p))?;
        number(&p, v)
    };
    let stats = Stats {
        count: member(set.sample_count, "SampleCount")?,
        sum: member(set.sum, "Sum")?,
        min: member(set.minimum, "Minimum")?,
        max: member(set.maximum, "Maximum")?,
    };
    if stats.count <= 0.0 {
        return Err(Refusal::statistic_set(format!(
            "The parameter {param}.SampleCount must be greater than 0."
        )));
    }
    if stats.max < stats.min {
        return Err(Refusal::statistic_set(format!(
            "The parameter {param}.Maximum must be greater than {param}.Minimum."
        )));
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::testing::{secs, Harness, MIN, T0};

    fn put_err(h: &Harness, datum: serde_json::Value) -> (String, String) {
        h.err(
            "PutMetricData",
            json!({"Namespace": "Test", "MetricData": [datum]}),
        )
    }

    #[test]
    fn namespace_rules() {
        let h = Harness::new();
        let datum = json!([{"MetricName": "m", "Value": 1}]);
        assert_eq!(
            h.err("PutMetricData", json!({"MetricData": datum})),
            (
                "MissingParameter".into(),
                "The parameter Namespace is required.".into()
            )
        );
        assert_eq!(
            h.err(
                "PutMetricData",
                json!({"Namespace": "AWS/EC2", "MetricData": datum})
            ),
            (
                "InvalidParameterValue".into(),
                "The value AWS/ for parameter Namespace is invalid.".into()
            )
        );
        let (code, msg) = h.err(
            "PutMetricData",
            json!({"Namespace": ":x", "MetricData": datum}),
        );
        assert_eq!(code, "ValidationError");
        assert!(
            msg.contains("Member must satisfy regular expression pattern: [^:].*"),
            "{msg}"
        );
        let long = "n".repeat(256);
        let (code, msg) = h.err(
            "PutMetricData",
            json!({"Namespace": long, "MetricData": datum}),
        );
        assert_eq!(code, "ValidationError");
        assert!(
            msg.ends_with("Member must have length less than or equal to 255"),
            "{msg}"
        );
        assert_eq!(
            h.err("PutMetricData", json!({"Namespace": "Test"})),
            (
                "MissingParameter".into(),
                "The parameter MetricData is required.".into()
            )
        );
    }

    #[test]
    fn value_combinations() {
        let h = Harness::new();
        assert_eq!(
            put_err(
                &h,
                json!({"MetricName": "m", "Value": 1.5, "Values": [1.0, 10.0]})
            ),
            (
                "InvalidParameterCombination".into(),
                "The parameters MetricData.member.1.Value and MetricData.member.1.Values are \
                 mutually exclusive and you have specified both."
                    .into()
            )
        );
        assert_eq!(
            put_err(
                &h,
                json!({"MetricName": "m", "Values": [1.0, 10.0], "Counts": [2, 4, 5]})
            ),
            (
                "InvalidParameterValue".into(),
                "The parameters MetricData.member.1.Values and MetricData.member.1.Counts must be \
                 of the same size."
                    .into()
            )
        );
        let set = json!({"SampleCount": 10, "Sum": 55, "Minimum": 1, "Maximum": 10});
        assert_eq!(
            put_err(
                &h,
                json!({"MetricName": "m", "Value": 1.5, "StatisticValues": set})
            ),
            (
                "InvalidParameterCombination".into(),
                "The parameters MetricData.member.1.Value and MetricData.member.1.StatisticValues \
                 are mutually exclusive and you have specified both."
                    .into()
            )
        );
        // AWS accepts Values with StatisticValues.
        h.ok(
            "PutMetricData",
            json!({"Namespace": "Test", "MetricData": [
                {"MetricName": "m", "Values": [1.0, 10.0], "StatisticValues": set}]}),
        );
        assert_eq!(
            put_err(&h, json!({"MetricName": "m"})),
            (
                "InvalidParameterCombination".into(),
                "At least one of the parameters MetricData.member.1.Value and \
                 MetricData.member.1.StatisticValues must be specified."
                    .into()
            )
        );
        assert_eq!(
            put_err(
                &h,
                json!({"MetricName": "m", "StatisticValues": {"SampleCount": 1, "Sum": 1, "Minimum": 1}})
            ),
            (
                "MissingParameter".into(),
                "The parameter MetricData.member.1.StatisticValues.Maximum is required.".into()
            )
        );
    }

    #[test]
    fn values_must_be_finite_and_in_range() {
        let h = Harness::new();
        assert_eq!(
            put_err(&h, json!({"MetricName": "m", "Value": "NaN"})),
            (
                "InvalidParameterValue".into(),
                "The value NaN for parameter MetricData.member.1.Value is invalid.".into()
            )
        );
        assert_eq!(
            put_err(&h, json!({"MetricName": "m", "Value": "-Infinity"})).1,
            "The value -Infinity for parameter MetricData.member.1.Value is invalid."
        );
        assert_eq!(
            put_err(&h, json!({"MetricName": "m", "Values": [1, "Infinity"]})).1,
            "The value Infinity for parameter MetricData.member.1.Values.member.2 is invalid."
        );
        assert_eq!(
            put_err(&h, json!({"MetricName": "m", "Value": 1e200})).1,
            "The value 1.0E200 for parameter MetricData.member.1.Value is invalid."
        );
        h.ok(
            "PutMetricData",
            json!({"Namespace": "Test", "MetricData": [{"MetricName": "m", "Value": 0}]}),
        );
    }

    #[test]
    fn limits_and_timestamps() {
        let h = Harness::new();
        let many: Vec<_> = (0..1001)
            .map(|_| json!({"MetricName": "m", "Value": 1}))
            .collect();
        assert_eq!(
            h.err(
                "PutMetricData",
                json!({"Namespace": "Test", "MetricData": many})
            ),
            (
                "InvalidParameterValue".into(),
                "The collection MetricData must not have a size greater than 1000.".into()
            )
        );
        let dims: Vec<_> = (0..31)
            .map(|i| json!({"Name": format!("d{i}"), "Value": "v"}))
            .collect();
        let (code, msg) = put_err(
            &h,
            json!({"MetricName": "m", "Value": 1, "Dimensions": dims}),
        );
        assert_eq!(code, "ValidationError");
        assert!(msg.contains("at 'metricData.1.member.dimensions'"), "{msg}");
        assert!(
            msg.ends_with("Member must have length less than or equal to 30"),
            "{msg}"
        );
        assert_eq!(
            put_err(
                &h,
                json!({"MetricName": "m", "Value": 1, "Timestamp": secs(T0 - 15 * 1440 * MIN)})
            ),
            (
                "InvalidParameterValue".into(),
                "The parameter MetricData.member.1.Timestamp must specify a time within the past \
                 two weeks."
                    .into()
            )
        );
        assert_eq!(
            put_err(
                &h,
                json!({"MetricName": "m", "Value": 1, "Timestamp": secs(T0 + 3 * 60 * MIN)})
            )
            .1,
            "The parameter MetricData.member.1.Timestamp must specify a time no more than two \
             hours in the future."
        );
        assert_eq!(
            put_err(
                &h,
                json!({"MetricName": "m", "Value": 1, "StorageResolution": 300})
            ),
            (
                "InvalidParameterValue".into(),
                "The parameter MetricData.member.1.StorageResolution must be a value in the set \
                 [ 1, 60 ]."
                    .into()
            )
        );
        let (code, msg) = put_err(
            &h,
            json!({"MetricName": "m", "Value": 1, "Unit": "Parsecs"}),
        );
        assert_eq!(code, "ValidationError");
        assert!(
            msg.contains("Value 'Parsecs' at 'metricData.1.member.unit'"),
            "{msg}"
        );
        assert_eq!(
            put_err(
                &h,
                json!({"MetricName": "m", "Value": 1, "Dimensions": [{"Name": "a"}]})
            ),
            (
                "MissingParameter".into(),
                "The parameter MetricData.member.1.Dimensions.member.1.Value is required.".into()
            )
        );
    }

    #[test]
    fn entity_metric_data_counts_as_metric_data() {
        let h = Harness::new();
        h.ok(
            "PutMetricData",
            json!({"Namespace": "Test", "EntityMetricData": [{
                "Entity": {"KeyAttributes": {"Type": "Service"}},
                "MetricData": [{"MetricName": "e", "Value": 1}]}]}),
        );
        let listed = h.ok("ListMetrics", json!({"Namespace": "Test"}));
        assert_eq!(listed["Metrics"][0]["MetricName"], "e");
        let (_, msg) = h.err(
            "PutMetricData",
            json!({"Namespace": "Test", "EntityMetricData": [{"MetricData": [{"MetricName": "e"}]}]}),
        );
        assert!(
            msg.contains("EntityMetricData.member.1.MetricData.member.1.Value"),
            "{msg}"
        );
    }

    #[test]
    fn a_refused_call_records_nothing() {
        let h = Harness::new();
        h.err(
            "PutMetricData",
            json!({"Namespace": "Test", "MetricData": [
                {"MetricName": "good", "Value": 1},
                {"MetricName": "bad", "Value": "NaN"}]}),
        );
        let listed = h.ok("ListMetrics", json!({"Namespace": "Test"}));
        assert_eq!(listed["Metrics"], json!([]));
    }
}
