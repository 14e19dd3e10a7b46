//! `GetMetricStatistics`: the statistics of one metric per period.
//!
//! Periods and their data: the store serves each period from the finest tier that holds it
//! and whose step divides the period (1-second data for 3 hours, 1-minute for 15 days,
//! 5-minute for 63 days) and leaves out periods no tier can serve. That is AWS's rule that a
//! start older than 3 hours needs a period of whole minutes, older than 15 days of 5 minutes,
//! older than 63 days of an hour, "or no data points in that time range is returned". What we
//! keep ends at 63 days; AWS keeps hourly data for 455 days.
//!
//! Units: with no `Unit`, every unit the metric was published in answers with its own
//! datapoints (AWS does so: a datapoint per unit and period); with a `Unit`, that unit's only.

use ferrocache_timeseries::aligned_start;
use serde_json::{json, Map, Value};

use crate::error::Refusal;
use crate::request::{decode, GetMetricStatisticsInput};
use crate::series::MetricKey;
use crate::statistics::Statistic;
use crate::text::epoch_seconds;
use crate::validate::{
    dimension_pairs, param_member, period_allowed, required, required_str, timestamp, Checks,
    STATISTICS_SHOWN,
};
use crate::CloudWatch;

/// The most datapoints one call may ask for.
pub(crate) const MAX_DATAPOINTS: i64 = 1440;

/// The plain statistics' names in the model.
const PLAIN: [&str; 5] = ["SampleCount", "Average", "Sum", "Minimum", "Maximum"];

/// `GetMetricStatistics`.
pub(crate) fn get_metric_statistics(
    cw: &CloudWatch,
    region: &str,
    input: Value,
    now: i64,
) -> Result<Value, Refusal> {
    let req: GetMetricStatisticsInput = decode(input)?;
    let mut checks = Checks::new();
    checks.namespace("namespace", req.namespace.as_deref());
    checks.metric_name("metricName", req.metric_name.as_deref());
    checks.dimensions("dimensions", req.dimensions.as_deref());
    checks.range("period", req.period, Some(1), None);
    if let Some(stats) = &req.statistics {
        checks.list_min("statistics", stats, 1);
        checks.list_len("statistics", stats, 5);
        checks.members_one_of("statistics", stats, &PLAIN, &STATISTICS_SHOWN);
    }
    if let Some(ext) = &req.extended_statistics {
        checks.list_min("extendedStatistics", ext, 1);
        checks.list_len("extendedStatistics", ext, 10);
    }
    checks.unit("unit", req.unit.as_deref());
    checks.finish()?;

    let namespace = required_str(&req.namespace, "Namespace")?;
    let metric = required_str(&req.metric_name, "MetricName")?;
    let start = timestamp("StartTime", *required(&req.start_time, "StartTime")?)?;
    let end = timestamp("EndTime", *required(&req.end_time, "EndTime")?)?;
    let period = *required(&req.period, "Period")?;
    let statistics = match (&req.statistics, &req.extended_statistics) {
        (Some(_), Some(_)) => return Err(Refusal::both_statistics()),
        (None, None) => return Err(Refusal::no_statistics()),
        (Some(plain), None) => plain
            .iter()
            .filter_map(|s| Statistic::plain(s))
            .collect::<Vec<_>>(),
        (None, Some(extended)) => extended
            .iter()
            .enumerate()
            .map(|(i, s)| {
                Statistic::percentile(s).ok_or_else(|| {
                    Refusal::extended_statistic(&param_member("ExtendedStatistics", i), s)
                })
            })
            .collect::<Result<Vec<_>, _>>()?,
    };
    let dims = dimension_pairs("Dimensions", req.dimensions.as_deref())?;
    if start >= end {
        return Err(Refusal::start_not_before_end());
    }
    if !period_allowed(period) {
        return Err(Refusal::period_not_allowed("Period"));
    }
    let period_s = u32::try_from(period).map_err(|_| Refusal::period_not_allowed("Period"))?;
    let retention = cw.metrics.store().retention();
    let first = aligned_start(start, period_s, now, &retention);
    let period_ms = i64::from(period_s) * 1000;
    let requested = (end - first + period_ms - 1) / period_ms;
    if requested > MAX_DATAPOINTS {
        return Err(Refusal::too_many_datapoints(requested, MAX_DATAPOINTS));
    }

    let key = MetricKey::new(region, namespace, metric, dims);
    let mut units = cw.metrics.units(&key);
    if let Some(unit) = &req.unit {
        units.retain(|(u, _)| u == unit);
    }
    let mut datapoints: Vec<(i64, String, Value)> = Vec::new();
    for (unit, id) in units {
        for bucket in cw.metrics.buckets(id, start, end, period_s) {
            let mut dp = Map::new();
            dp.insert("Timestamp".into(), epoch_seconds(bucket.start_ms));
            let mut extended = Map::new();
            for stat in &statistics {
                let Some(v) = stat.of(&bucket.stats, &bucket.samples) else {
                    continue;
                };
                if stat.is_percentile() {
                    extended.insert(stat.name().to_string(), json!(v));
                } else {
                    dp.insert(stat.name().to_string(), json!(v));
                }
            }
            if dp.len() == 1 && extended.is_empty() {
                continue;
            }
            if !extended.is_empty() {
                dp.insert("ExtendedStatistics".into(), Value::Object(extended));
            }
            dp.insert("Unit".into(), json!(unit));
            datapoints.push((bucket.start_ms, unit.clone(), Value::Object(dp)));
        }
    }
    datapoints.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    Ok(json!({
        "Label": metric,
        "Datapoints": datapoints.into_iter().map(|d| d.2).collect::<Vec<_>>(),
    }))
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use crate::testing::{secs, Harness, MIN, T0};

    fn gms(_h: &Harness, extra: Value) -> Value {
        let mut input = json!({
            "Namespace": "Test", "MetricName": "m",
            "StartTime": secs(T0 - 10 * MIN), "EndTime": secs(T0), "Period": 60,
            "Statistics": ["SampleCount", "Average", "Sum", "Minimum", "Maximum"],
        });
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                input.as_object_mut().unwrap().remove(k);
            } else {
                input[k] = v.clone();
            }
        }
        input
    }

    #[test]
    fn statistics_per_period_with_units() {
        let h = Harness::new();
        for (v, at) in [
            (1.0, T0 - 5 * MIN),
            (3.0, T0 - 5 * MIN + 10_000),
            (10.0, T0 - 2 * MIN),
        ] {
            h.put("m", v, at);
        }
        let out = h.ok("GetMetricStatistics", gms(&h, json!({})));
        assert_eq!(out["Label"], "m");
        assert_eq!(
            out["Datapoints"],
            json!([
                {"Timestamp": (T0 - 5 * MIN) / 1000, "SampleCount": 2.0, "Average": 2.0,
                 "Sum": 4.0, "Minimum": 1.0, "Maximum": 3.0, "Unit": "None"},
                {"Timestamp": (T0 - 2 * MIN) / 1000, "SampleCount": 1.0, "Average": 10.0,
                 "Sum": 10.0, "Minimum": 10.0, "Maximum": 10.0, "Unit": "None"},
            ])
        );
        // Another unit: its own datapoints; a Unit filter picks one.
        h.ok(
            "PutMetricData",
            json!({"Namespace": "Test", "MetricData": [
                {"MetricName": "m", "Value": 5, "Unit": "Count", "Timestamp": secs(T0 - 2 * MIN)}]}),
        );
        let out = h.ok(
            "GetMetricStatistics",
            gms(&h, json!({"Statistics": ["Average"]})),
        );
        let units: Vec<&str> = out["Datapoints"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["Unit"].as_str().unwrap())
            .collect();
        assert_eq!(units, ["None", "Count", "None"]);
        let out = h.ok(
            "GetMetricStatistics",
            gms(&h, json!({"Statistics": ["Average"], "Unit": "Count"})),
        );
        assert_eq!(
            out["Datapoints"],
            json!([{"Timestamp": (T0 - 2 * MIN) / 1000, "Average": 5.0, "Unit": "Count"}])
        );
        let out = h.ok(
            "GetMetricStatistics",
            gms(&h, json!({"Statistics": ["Average"], "Unit": "Bytes"})),
        );
        assert_eq!(out["Datapoints"], json!([]));
    }

    #[test]
    fn periods_align_to_the_rounded_start() {
        let h = Harness::new();
        h.put("m", 1.0, T0 - 7 * MIN);
        h.put("m", 2.0, T0 - 3 * MIN);
        // Start 10:50:30 rounds to 10:50; 5-minute periods from there.
        let out = h.ok(
            "GetMetricStatistics",
            gms(
                &h,
                json!({"StartTime": secs(T0 - 9 * MIN - 30_000), "Period": 300,
                           "Statistics": ["Sum"]}),
            ),
        );
        assert_eq!(
            out["Datapoints"],
            json!([
                {"Timestamp": (T0 - 10 * MIN) / 1000, "Sum": 1.0, "Unit": "None"},
                {"Timestamp": (T0 - 5 * MIN) / 1000, "Sum": 2.0, "Unit": "None"},
            ])
        );
    }

    #[test]
    fn percentiles() {
        let h = Harness::new();
        // One value a minute: the store keeps a sample per minute (values of one minute are
        // merged into their mean, see the statistics module).
        for v in 1..=100 {
            h.put("m", f64::from(v), T0 - i64::from(v) * MIN);
        }
        let input = |ext: Value| {
            gms(
                &h,
                json!({"Statistics": null, "ExtendedStatistics": ext,
                           "StartTime": secs(T0 - 100 * MIN), "Period": 6000}),
            )
        };
        let out = h.ok("GetMetricStatistics", input(json!(["p50", "p99", "p99.9"])));
        assert_eq!(
            out["Datapoints"],
            json!([{"Timestamp": (T0 - 100 * MIN) / 1000, "Unit": "None",
                    "ExtendedStatistics": {"p50": 50.0, "p99": 99.0, "p99.9": 100.0}}])
        );
        assert_eq!(
            h.err("GetMetricStatistics", input(json!(["p101"]))),
            (
                "InvalidParameterValue".into(),
                "The value p101 for parameter ExtendedStatistics.member.1 is not supported.".into()
            )
        );
    }

    #[test]
    fn validation() {
        let h = Harness::new();
        assert_eq!(
            h.err("GetMetricStatistics", gms(&h, json!({"Namespace": null}))),
            (
                "MissingParameter".into(),
                "The parameter Namespace is required.".into()
            )
        );
        assert_eq!(
            h.err("GetMetricStatistics", gms(&h, json!({"Period": null}))),
            (
                "MissingParameter".into(),
                "The parameter Period is required.".into()
            )
        );
        assert_eq!(
            h.err(
                "GetMetricStatistics",
                gms(&h, json!({"EndTime": secs(T0 - 10 * MIN)}))
            ),
            (
                "InvalidParameterValue".into(),
                "The parameter StartTime must be less than the parameter EndTime.".into()
            )
        );
        assert_eq!(
            h.err("GetMetricStatistics", gms(&h, json!({"Period": 45}))),
            (
                "InvalidParameterValue".into(),
                "The parameter Period must be a multiple of 60.".into()
            )
        );
        let (code, msg) = h.err("GetMetricStatistics", gms(&h, json!({"Period": 0})));
        assert_eq!(code, "ValidationError");
        assert_eq!(
            msg,
            "1 validation error detected: Value '0' at 'period' failed to satisfy constraint: \
             Member must have value greater than or equal to 1"
        );
        let (code, msg) = h.err(
            "GetMetricStatistics",
            gms(&h, json!({"Statistics": ["Mean"]})),
        );
        assert_eq!(code, "ValidationError");
        assert!(msg.contains("Value '[Mean]' at 'statistics'"), "{msg}");
        assert_eq!(
            h.err(
                "GetMetricStatistics",
                gms(
                    &h,
                    json!({"Statistics": ["Sum"], "ExtendedStatistics": ["p99"]})
                )
            ),
            (
                "InvalidParameterCombination".into(),
                "The parameters Statistics and ExtendedStatistics are mutually exclusive and you \
                 have specified both."
                    .into()
            )
        );
        assert_eq!(
            h.err("GetMetricStatistics", gms(&h, json!({"Statistics": null}))),
            (
                "MissingParameter".into(),
                "Must specify either Statistics or ExtendedStatistics.".into()
            )
        );
    }

    #[test]
    fn the_datapoint_limit() {
        let h = Harness::new();
        // A day in 1-second periods: 86,400 datapoints.
        assert_eq!(
            h.err(
                "GetMetricStatistics",
                gms(&h, json!({"StartTime": secs(T0 - 1440 * MIN), "Period": 1}))
            ),
            (
                "InvalidParameterCombination".into(),
                "You have requested up to 86400 datapoints, which exceeds the limit of 1440. You \
                 may reduce the datapoints requested by increasing Period, or decreasing the time \
                 range."
                    .into()
            )
        );
        // Exactly 1,440 minutes is allowed; one more is not.
        h.ok(
            "GetMetricStatistics",
            gms(&h, json!({"StartTime": secs(T0 - 1440 * MIN)})),
        );
        let (_, msg) = h.err(
            "GetMetricStatistics",
            gms(&h, json!({"StartTime": secs(T0 - 1441 * MIN)})),
        );
        assert!(
            msg.starts_with("You have requested up to 1441 datapoints"),
            "{msg}"
        );
    }

    #[test]
    fn old_data_needs_coarser_periods() {
        let h = Harness::new();
        let day = 1440 * MIN;
        h.put("m", 1.0, T0 - 2 * MIN);
        h.at(T0 + 16 * day);
        // Sixteen days later the minute is only in the 5-minute tier.
        let input = |period: i64| {
            gms(
                &h,
                json!({"StartTime": secs(T0 - 10 * MIN), "EndTime": secs(T0),
                           "Period": period, "Statistics": ["Sum"]}),
            )
        };
        assert_eq!(
            h.ok("GetMetricStatistics", input(60))["Datapoints"],
            json!([])
        );
        assert_eq!(
            h.ok("GetMetricStatistics", input(300))["Datapoints"],
            json!([{"Timestamp": (T0 - 5 * MIN) / 1000, "Sum": 1.0, "Unit": "None"}])
        );
    }

    #[test]
    fn regions_are_apart() {
        let h = Harness::new();
        h.put("m", 1.0, T0 - 2 * MIN);
        let out =
            h.cw.call("eu-west-1", "GetMetricStatistics", gms(&h, json!({})))
                .unwrap();
        assert_eq!(out["Datapoints"], json!([]));
    }
}
