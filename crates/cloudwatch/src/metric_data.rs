//! `GetMetricData`: metric queries (`MetricStat`) and metric math (`Expression`, see the math
//! module) over a time range, newest first by default, paged by `MaxDatapoints`.
//!
//! The queries' checking and running are shared with math alarms (their `Metrics`).
//!
//! Units: a `MetricStat` without `Unit` over a metric published in several units reads one
//! unit, the first with data in AWS's order, and says so in a `MultipleUnits` message
//! ("Multiple units returned: '[Milliseconds, Seconds]'", LocalStack's snapshot of AWS).
//!
//! Labels: a metric query's default label is the metric's name, followed by the statistic
//! and/or the period when the request's metric queries differ in them (`metric1 Average`, as
//! AWS answered LocalStack); an expression's default label is its id `[unsure]`.
//!
//! Paging: the results' datapoints are counted in request order; a page holds `MaxDatapoints`
//! of them (100,800 by default). A result cut by the page end is `PartialData`, and
//! `NextToken` continues after it.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde_json::{json, Value};

use crate::error::Refusal;
use crate::math::{self, Env, Expr, Series, Val};
use crate::paging;
use crate::request::{decode, GetMetricDataInput, MetricDataQuery};
use crate::series::MetricKey;
use crate::statistics::Statistic;
use crate::text::epoch_seconds;
use crate::validate::{
    dimension_pairs, member, param_member, period_allowed, required, timestamp, Checks,
};
use crate::CloudWatch;

/// The most queries a call holds.
const MAX_QUERIES: usize = 500;
/// `MaxDatapoints` when not given.
const DEFAULT_MAX_DATAPOINTS: i64 = 100_800;

/// A checked query.
#[derive(Clone, Debug)]
pub(crate) struct Query {
    pub id: String,
    pub label: Option<String>,
    pub return_data: bool,
    pub kind: Kind,
}

/// What a query computes.
#[derive(Clone, Debug)]
pub(crate) enum Kind {
    /// A metric's statistic per period.
    Stat {
        key: MetricKey,
        period: u32,
        stat: Statistic,
        unit: Option<String>,
    },
    /// Metric math over the other queries.
    Expression(Expr),
}

/// A query's answer over a time range.
#[derive(Clone, Debug, Default)]
pub(crate) struct Computed {
    /// Timestamp (unix ms) → value, oldest first.
    pub values: Series,
    /// Timestamp → sample count, for metric queries.
    pub counts: BTreeMap<i64, f64>,
    /// `MessageData` (`Code`, `Value`).
    pub messages: Vec<(String, String)>,
    /// An evaluation failure (an expression that yields an array).
    pub error: Option<String>,
}

/// Whether an id is one CloudWatch takes: a lowercase letter, then letters, digits and
/// underscores.
fn valid_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Checks queries (`list`: `MetricDataQueries` or an alarm's `Metrics`; `path`: the
/// framework's name of the list), AWS's problems reported together.
pub(crate) fn check_queries(
    region: &str,
    list: &str,
    path: &str,
    queries: &[MetricDataQuery],
) -> Result<Vec<Query>, Refusal> {
    let mut checks = Checks::new();
    for (i, q) in queries.iter().enumerate() {
        let at = member(path, i);
        checks.length_opt(&format!("{at}.id"), q.id.as_deref(), 1, 255);
        checks.length_opt(
            &format!("{at}.expression"),
            q.expression.as_deref(),
            1,
            2048,
        );
        checks.range(&format!("{at}.period"), q.period, Some(1), None);
        if let Some(ms) = &q.metric_stat {
            let stat_at = format!("{at}.metricStat");
            checks.range(&format!("{stat_at}.period"), ms.period, Some(1), None);
            checks.unit(&format!("{stat_at}.unit"), ms.unit.as_deref());
            if let Some(m) = &ms.metric {
                checks.namespace(
                    &format!("{stat_at}.metric.namespace"),
                    m.namespace.as_deref(),
                );
                checks.metric_name(
                    &format!("{stat_at}.metric.metricName"),
                    m.metric_name.as_deref(),
                );
                checks.dimensions(
                    &format!("{stat_at}.metric.dimensions"),
                    m.dimensions.as_deref(),
                );
            }
        }
    }
    checks.finish()?;

    let mut lines = Vec::new();
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for (i, q) in queries.iter().enumerate() {
        let at = param_member(list, i);
        let id = required(&q.id, &format!("{at}.Id"))?.clone();
        if !valid_id(&id) {
            lines.push(Refusal::not_an_id(&format!("{at}.Id"), &id));
        }
        if !seen.insert(id.clone()) {
            lines.push(Refusal::duplicate_id(&id));
        }
        let kind = match (&q.metric_stat, &q.expression) {
            (Some(ms), None) => {
                let stat_at = format!("{at}.MetricStat");
                let metric = required(&ms.metric, &format!("{stat_at}.Metric"))?;
                let namespace =
                    required(&metric.namespace, &format!("{stat_at}.Metric.Namespace"))?;
                let name = required(&metric.metric_name, &format!("{stat_at}.Metric.MetricName"))?;
                let dims = dimension_pairs(
                    &format!("{stat_at}.Metric.Dimensions"),
                    metric.dimensions.as_deref(),
                )?;
                let period = *required(&ms.period, &format!("{stat_at}.Period"))?;
                let stat_name = required(&ms.stat, &format!("{stat_at}.Stat"))?;
                let stat = Statistic::any(stat_name);
                if stat.is_none() {
                    lines.push(Refusal::not_a_statistic(&format!("{stat_at}.Stat")));
                }
                if !period_allowed(period) {
                    lines.push(Refusal::not_a_period(&format!("{stat_at}.Period")));
                }
                match (stat, u32::try_from(period)) {
                    (Some(stat), Ok(period)) => Kind::Stat {
                        key: MetricKey::new(region, namespace, name, dims),
                        period,
                        stat,
                        unit: ms.unit.clone(),
                    },
                    _ => continue,
                }
            }
            (None, Some(src)) => match math::parse(src) {
                Ok(e) => Kind::Expression(e),
                Err(why) => {
                    lines.push(Refusal::bad_expression(&format!("{at}.Expression"), &why));
                    continue;
                }
            },
            _ => {
                lines.push(Refusal::stat_or_expression(&at));
                continue;
            }
        };
        out.push(Query {
            id,
            label: q.label.clone(),
            return_data: q.return_data.unwrap_or(true),
            kind,
        });
    }
    if lines.is_empty() {
        lines.extend(check_references(list, &out));
    }
    if lines.is_empty() {
        Ok(out)
    } else {
        Err(Refusal::metric_data_invalid(lines))
    }
}

/// Expressions may name only queries of the request, without cycles.
fn check_references(list: &str, queries: &[Query]) -> Vec<String> {
    let index: HashMap<&str, usize> = queries
        .iter()
        .enumerate()
        .map(|(i, q)| (q.id.as_str(), i))
        .collect();
    let deps: Vec<Vec<String>> = queries
        .iter()
        .map(|q| match &q.kind {
            Kind::Expression(e) => {
                let mut refs = Vec::new();
                math::references(e, &mut refs);
                refs
            }
            Kind::Stat { .. } => Vec::new(),
        })
        .collect();
    let mut lines = Vec::new();
    for (i, refs) in deps.iter().enumerate() {
        for r in refs {
            if !index.contains_key(r.as_str()) {
                lines.push(Refusal::bad_expression(
                    &format!("{}.Expression", param_member(list, i)),
                    &format!("unknown metric id {r}"),
                ));
            }
        }
    }
    if !lines.is_empty() {
        return lines;
    }
    // Depth-first search for a cycle: 1 = on the path, 2 = done.
    fn visit(
        i: usize,
        deps: &[Vec<String>],
        index: &HashMap<&str, usize>,
        mark: &mut [u8],
    ) -> bool {
        if mark[i] == 2 {
            return false;
        }
        if mark[i] == 1 {
            return true;
        }
        mark[i] = 1;
        for r in &deps[i] {
            if visit(index[r.as_str()], deps, index, mark) {
                return true;
            }
        }
        mark[i] = 2;
        false
    }
    let mut mark = vec![0u8; queries.len()];
    for i in 0..queries.len() {
        if visit(i, &deps, &index, &mut mark) {
            lines.push(Refusal::bad_expression(
                &format!("{}.Expression", param_member(list, i)),
                "the expressions refer to each other in a cycle",
            ));
            break;
        }
    }
    lines
}

/// Runs checked queries over `[start, end)`: metric queries from the store, then expressions.
pub(crate) fn run(cw: &CloudWatch, queries: &[Query], start: i64, end: i64) -> Vec<Computed> {
    let mut computed: Vec<Option<Computed>> = vec![None; queries.len()];
    for (i, q) in queries.iter().enumerate() {
        if let Kind::Stat {
            key,
            period,
            stat,
            unit,
        } = &q.kind
        {
            computed[i] = Some(run_stat(
                cw,
                key,
                *period,
                stat,
                unit.as_deref(),
                start,
                end,
            ));
        }
    }
    let grid: BTreeSet<i64> = computed
        .iter()
        .flatten()
        .flat_map(|c| c.values.keys().copied())
        .collect();
    let mut env = Evaluation {
        queries,
        computed: &mut computed,
        grid: &grid,
    };
    for (i, q) in queries.iter().enumerate() {
        if matches!(q.kind, Kind::Expression(_)) {
            env.expression(i);
        }
    }
    computed
        .into_iter()
        .map(Option::unwrap_or_default)
        .collect()
}

fn run_stat(
    cw: &CloudWatch,
    key: &MetricKey,
    period: u32,
    stat: &Statistic,
    unit: Option<&str>,
    start: i64,
    end: i64,
) -> Computed {
    let mut out = Computed::default();
    let series = match unit {
        Some(u) => cw
            .metrics
            .units(key)
            .into_iter()
            .find(|(have, _)| have == u)
            .map(|(_, id)| id),
        None => cw
            .metrics
            .choose_unit(key, start, end, period)
            .map(|choice| {
                if choice.units_with_data.len() > 1 {
                    out.messages.push((
                        "MultipleUnits".into(),
                        format!(
                            "Multiple units returned: '[{}]'",
                            choice.units_with_data.join(", ")
                        ),
                    ));
                }
                choice.series
            }),
    };
    if let Some(id) = series {
        for p in cw.metrics.points(id, start, end, period, stat) {
            out.values.insert(p.start_ms, p.value);
            out.counts.insert(p.start_ms, p.count);
        }
    }
    out
}

/// The state of evaluating a request's expressions (memoised in `computed`).
struct Evaluation<'a> {
    queries: &'a [Query],
    computed: &'a mut [Option<Computed>],
    grid: &'a BTreeSet<i64>,
}

impl Evaluation<'_> {
    /// Evaluates expression `i` if not done yet.
    fn expression(&mut self, i: usize) {
        if self.computed[i].is_some() {
            return;
        }
        let Kind::Expression(e) = &self.queries[i].kind else {
            return;
        };
        let mut out = Computed::default();
        match math::eval(e, self) {
            Ok(Val::Series(s)) => out.values = s,
            Ok(Val::Scalar(x)) if x.is_finite() => {
                out.values = self.grid.iter().map(|t| (*t, x)).collect();
            }
            Ok(Val::Scalar(_)) => {}
            Ok(Val::Array(_)) => {
                out.error = Some("the expression yields several time series".into())
            }
            Err(why) => out.error = Some(why),
        }
        self.computed[i] = Some(out);
    }
}

impl Env for Evaluation<'_> {
    fn value(&mut self, id: &str) -> Result<Val, String> {
        let i = self
            .queries
            .iter()
            .position(|q| q.id == id)
            .ok_or_else(|| format!("unknown metric id {id}"))?;
        self.expression(i);
        let c = self.computed[i].as_ref().expect("computed above");
        if let Some(e) = &c.error {
            return Err(e.clone());
        }
        Ok(Val::Series(c.values.clone()))
    }

    fn metrics(&mut self, filter: Option<&str>) -> Vec<Series> {
        self.queries
            .iter()
            .zip(self.computed.iter())
            .filter(|(q, _)| matches!(q.kind, Kind::Stat { .. }))
            .filter(|(q, _)| filter.is_none_or(|f| default_label(q, &[]).contains(f)))
            .filter_map(|(_, c)| c.as_ref().map(|c| c.values.clone()))
            .collect()
    }
}

/// A query's label: the caller's, or the default (see the module doc); `differ` names the
/// `MetricStat` members that differ between the request's metric queries.
fn default_label(q: &Query, differ: &[&str]) -> String {
    if let Some(l) = &q.label {
        return l.clone();
    }
    match &q.kind {
        Kind::Stat {
            key, period, stat, ..
        } => {
            let mut label = key.metric.clone();
            if differ.contains(&"Stat") {
                label = format!("{label} {}", stat.name());
            }
            if differ.contains(&"Period") {
                label = format!("{label} {period}");
            }
            label
        }
        Kind::Expression(_) => q.id.clone(),
    }
}

/// `GetMetricData`.
pub(crate) fn get_metric_data(
    cw: &CloudWatch,
    region: &str,
    input: Value,
    _now: i64,
) -> Result<Value, Refusal> {
    let req: GetMetricDataInput = decode(input)?;
    let mut checks = Checks::new();
    checks.one_of(
        "scanBy",
        req.scan_by.as_deref(),
        &["TimestampDescending", "TimestampAscending"],
        &["TimestampDescending", "TimestampAscending"],
    );
    checks.finish()?;
    let queries = match &req.metric_data_queries {
        Some(q) if !q.is_empty() => q,
        _ => return Err(Refusal::missing("MetricDataQueries")),
    };
    let start = timestamp("StartTime", *required(&req.start_time, "StartTime")?)?;
    let end = timestamp("EndTime", *required(&req.end_time, "EndTime")?)?;
    if queries.len() > MAX_QUERIES {
        return Err(Refusal::collection_too_big(
            "MetricDataQueries",
            MAX_QUERIES,
        ));
    }
    let queries = check_queries(region, "MetricDataQueries", "metricDataQueries", queries)?;
    if start >= end {
        return Err(Refusal::metric_data_times(start == end));
    }
    let max = req.max_datapoints.unwrap_or(DEFAULT_MAX_DATAPOINTS);
    if max < 1 {
        return Err(Refusal::max_datapoints());
    }
    let max = usize::try_from(max).unwrap_or(usize::MAX);
    let descending = req.scan_by.as_deref() != Some("TimestampAscending");

    let mut parts = vec![
        format!("{}", start),
        format!("{}", end),
        req.scan_by.clone().unwrap_or_default(),
        max.to_string(),
    ];
    parts.extend(queries.iter().map(|q| format!("{q:?}")));
    let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
    let fingerprint = paging::fingerprint(&refs);
    let skip = match &req.next_token {
        Some(t) => {
            paging::offset(t, "GetMetricData", fingerprint).ok_or(Refusal::InvalidNextToken)?
        }
        None => 0,
    };

    let computed = run(cw, &queries, start, end);
    let differ = differing(&queries);
    let mut results = Vec::new();
    let mut position = 0usize;
    let page_end = skip.saturating_add(max);
    let mut more = false;
    for (q, c) in queries.iter().zip(computed) {
        if !q.return_data {
            continue;
        }
        let mut points: Vec<(i64, f64)> = c.values.into_iter().collect();
        if descending {
            points.reverse();
        }
        let from = skip.saturating_sub(position).min(points.len());
        let to = page_end.saturating_sub(position).min(points.len());
        let partial = to < points.len();
        more |= partial;
        position += points.len();
        let page = &points[from..to.max(from)];
        let mut result = json!({
            "Id": q.id,
            "Label": default_label(q, &differ),
            "Timestamps": page.iter().map(|(t, _)| epoch_seconds(*t)).collect::<Vec<_>>(),
            "Values": page.iter().map(|(_, v)| json!(v)).collect::<Vec<_>>(),
            "StatusCode": if c.error.is_some() { "InternalError" } else if partial { "PartialData" } else { "Complete" },
        });
        let mut messages: Vec<Value> = c
            .messages
            .iter()
            .map(|(code, value)| json!({"Code": code, "Value": value}))
            .collect();
        if let Some(e) = &c.error {
            messages.push(json!({"Code": "Error", "Value": e}));
        }
        if !messages.is_empty() {
            result["Messages"] = Value::Array(messages);
        }
        results.push(result);
    }
    let mut out = json!({"MetricDataResults": results, "Messages": []});
    if more {
        out["NextToken"] = json!(paging::token("GetMetricData", fingerprint, page_end));
    }
    Ok(out)
}

/// Which of `Stat` and `Period` differ between the metric queries (for default labels).
fn differing(queries: &[Query]) -> Vec<&'static str> {
    let mut stats = HashSet::new();
    let mut periods = HashSet::new();
    for q in queries {
        if let Kind::Stat { stat, period, .. } = &q.kind {
            stats.insert(stat.name().to_string());
            periods.insert(*period);
        }
    }
    let mut out = Vec::new();
    if stats.len() > 1 {
        out.push("Stat");
    }
    if periods.len() > 1 {
        out.push("Period");
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use crate::testing::{secs, Harness, MIN, T0};

    fn stat(id: &str, metric: &str, stat: &str) -> Value {
        json!({"Id": id, "MetricStat": {
            "Metric": {"Namespace": "Test", "MetricName": metric}, "Period": 60, "Stat": stat}})
    }

    fn gmd(queries: Value) -> Value {
        json!({"MetricDataQueries": queries, "StartTime": secs(T0 - 10 * MIN), "EndTime": secs(T0)})
    }

    fn seeded() -> Harness {
        let h = Harness::new();
        for (i, (a, b)) in [(1.0, 10.0), (2.0, 20.0), (3.0, 30.0)].iter().enumerate() {
            let at = T0 - (5 - i as i64) * MIN;
            h.put("a", *a, at);
            h.put("b", *b, at);
        }
        h
    }

    fn ts(minutes_ago: &[i64]) -> Value {
        json!(minutes_ago
            .iter()
            .map(|m| (T0 - m * MIN) / 1000)
            .collect::<Vec<_>>())
    }

    #[test]
    fn metric_queries_newest_first_with_labels() {
        let h = seeded();
        let out = h.ok(
            "GetMetricData",
            gmd(json!([stat("m1", "a", "Sum"), stat("m2", "a", "Average")])),
        );
        assert_eq!(out["Messages"], json!([]));
        let r = &out["MetricDataResults"];
        assert_eq!(r[0]["Id"], "m1");
        assert_eq!(r[0]["Label"], "a Sum");
        assert_eq!(r[1]["Label"], "a Average");
        assert_eq!(r[0]["Timestamps"], ts(&[3, 4, 5]));
        assert_eq!(r[0]["Values"], json!([3.0, 2.0, 1.0]));
        assert_eq!(r[0]["StatusCode"], "Complete");
        let asc = h.ok(
            "GetMetricData",
            json!({"MetricDataQueries": [stat("m1", "a", "Sum")], "StartTime": secs(T0 - 10 * MIN),
                   "EndTime": secs(T0), "ScanBy": "TimestampAscending"}),
        );
        assert_eq!(
            asc["MetricDataResults"][0]["Values"],
            json!([1.0, 2.0, 3.0])
        );
        assert_eq!(asc["MetricDataResults"][0]["Label"], "a");
    }

    #[test]
    fn math() {
        let h = seeded();
        let queries = json!([
            {"Id": "a", "MetricStat": {"Metric": {"Namespace": "Test", "MetricName": "a"}, "Period": 60, "Stat": "Sum"}, "ReturnData": false},
            {"Id": "b", "MetricStat": {"Metric": {"Namespace": "Test", "MetricName": "b"}, "Period": 60, "Stat": "Sum"}, "ReturnData": false},
            {"Id": "ratio", "Expression": "a / b * 100", "Label": "Ratio"},
            {"Id": "total", "Expression": "SUM([a, b])"},
            {"Id": "avg", "Expression": "AVG([a, b]) - 1"},
            {"Id": "peak", "Expression": "MAX(b)"},
        ]);
        let out = h.ok("GetMetricData", gmd(queries));
        let r = out["MetricDataResults"].as_array().unwrap();
        assert_eq!(r.len(), 4);
        assert_eq!(
            (r[0]["Id"].as_str(), r[0]["Label"].as_str()),
            (Some("ratio"), Some("Ratio"))
        );
        assert_eq!(r[0]["Values"], json!([10.0, 10.0, 10.0]));
        assert_eq!(r[1]["Values"], json!([33.0, 22.0, 11.0]));
        assert_eq!(r[1]["Label"], "total");
        assert_eq!(r[2]["Values"], json!([15.5, 10.0, 4.5]));
        // A number is drawn at every timestamp of the request.
        assert_eq!(r[3]["Values"], json!([30.0, 30.0, 30.0]));
        assert_eq!(r[3]["Timestamps"], ts(&[3, 4, 5]));
    }

    #[test]
    fn paging_by_max_datapoints() {
        let h = seeded();
        let input = |token: Option<&Value>| {
            let mut v = gmd(json!([stat("m1", "a", "Sum"), stat("m2", "b", "Sum")]));
            v["MaxDatapoints"] = json!(4);
            if let Some(t) = token {
                v["NextToken"] = t.clone();
            }
            v
        };
        let first = h.ok("GetMetricData", input(None));
        let r = &first["MetricDataResults"];
        assert_eq!(r[0]["Values"], json!([3.0, 2.0, 1.0]));
        assert_eq!(r[0]["StatusCode"], "Complete");
        assert_eq!(r[1]["Values"], json!([30.0]));
        assert_eq!(r[1]["StatusCode"], "PartialData");
        let token = first["NextToken"].clone();
        assert!(token.is_string());
        let second = h.ok("GetMetricData", input(Some(&token)));
        let r = &second["MetricDataResults"];
        assert_eq!(r[0]["Values"], json!([]));
        assert_eq!(r[1]["Values"], json!([20.0, 10.0]));
        assert_eq!(r[1]["StatusCode"], "Complete");
        assert!(second.get("NextToken").is_none());
        let mut other = gmd(json!([stat("m1", "a", "Sum")]));
        other["NextToken"] = token;
        assert_eq!(h.err("GetMetricData", other).0, "InvalidNextToken");
    }

    #[test]
    fn multiple_units() {
        let h = Harness::new();
        h.ok(
            "PutMetricData",
            json!({"Namespace": "Test", "MetricData": [
                {"MetricName": "m", "Value": 60000, "Unit": "Milliseconds", "Timestamp": secs(T0 - 2 * MIN)},
                {"MetricName": "m", "Value": 60, "Unit": "Seconds", "Timestamp": secs(T0 - 2 * MIN)}]}),
        );
        let out = h.ok("GetMetricData", gmd(json!([stat("m1", "m", "Sum")])));
        let r = &out["MetricDataResults"][0];
        assert_eq!(r["Values"], json!([60000.0]));
        assert_eq!(
            r["Messages"],
            json!([{"Code": "MultipleUnits", "Value": "Multiple units returned: '[Milliseconds, Seconds]'"}])
        );
        let mut one = gmd(json!([stat("m1", "m", "Sum")]));
        one["MetricDataQueries"][0]["MetricStat"]["Unit"] = json!("Seconds");
        let out = h.ok("GetMetricData", one);
        assert_eq!(out["MetricDataResults"][0]["Values"], json!([60.0]));
        assert!(out["MetricDataResults"][0].get("Messages").is_none());
    }

    #[test]
    fn validation() {
        let h = seeded();
        assert_eq!(
            h.err(
                "GetMetricData",
                json!({"StartTime": secs(T0 - MIN), "EndTime": secs(T0)})
            ),
            (
                "MissingParameter".into(),
                "The parameter MetricDataQueries is required.".into()
            )
        );
        let mut bad_time = gmd(json!([stat("m1", "a", "Sum")]));
        bad_time["EndTime"] = secs(T0 - 20 * MIN);
        assert_eq!(
            h.err("GetMetricData", bad_time),
            (
                "ValidationError".into(),
                "The parameter EndTime must be greater than StartTime.".into()
            )
        );
        assert_eq!(
            h.err("GetMetricData", gmd(json!([stat("m1", "a", "Mean"), stat("m2", "a", "Mode")]))),
            (
                "ValidationError".into(),
                "The value for parameter MetricDataQueries.member.1.MetricStat.Stat is not a valid \
                 statistic.\nThe value for parameter MetricDataQueries.member.2.MetricStat.Stat is \
                 not a valid statistic."
                    .into()
            )
        );
        let (code, msg) = h.err("GetMetricData", gmd(json!([stat("M1", "a", "Sum")])));
        assert_eq!(code, "ValidationError");
        assert!(msg.contains("MetricDataQueries.member.1.Id"), "{msg}");
        let (_, msg) = h.err(
            "GetMetricData",
            gmd(json!([stat("m1", "a", "Sum"), stat("m1", "b", "Sum")])),
        );
        assert!(msg.contains("m1 is used more than once"), "{msg}");
        let (_, msg) = h.err(
            "GetMetricData",
            gmd(json!([{"Id": "e1", "Expression": "m9 * 2"}])),
        );
        assert!(msg.contains("unknown metric id m9"), "{msg}");
        let (_, msg) = h.err(
            "GetMetricData",
            gmd(
                json!([{"Id": "e1", "Expression": "e2 + 1"}, {"Id": "e2", "Expression": "e1 + 1"}]),
            ),
        );
        assert!(msg.contains("cycle"), "{msg}");
        let (_, msg) = h.err("GetMetricData", gmd(json!([{"Id": "e1"}])));
        assert!(
            msg.contains("Exactly one of MetricDataQueries.member.1.MetricStat"),
            "{msg}"
        );
        let many: Vec<Value> = (0..501)
            .map(|i| stat(&format!("m{i}"), "a", "Sum"))
            .collect();
        assert_eq!(
            h.err("GetMetricData", gmd(json!(many))),
            (
                "InvalidParameterValue".into(),
                "The collection MetricDataQueries must not have a size greater than 500.".into()
            )
        );
        let mut p = gmd(json!([stat("m1", "a", "Sum")]));
        p["MetricDataQueries"][0]["MetricStat"]["Period"] = json!(45);
        let (_, msg) = h.err("GetMetricData", p);
        assert!(
            msg.contains("MetricDataQueries.member.1.MetricStat.Period"),
            "{msg}"
        );
    }

    #[test]
    fn percentile_stat() {
        let h = Harness::new();
        for v in 1..=100 {
            h.put("m", f64::from(v), T0 - i64::from(v) * MIN);
        }
        let q = json!([{"Id": "m1", "MetricStat": {
            "Metric": {"Namespace": "Test", "MetricName": "m"}, "Period": 6000, "Stat": "p90"}}]);
        let out = h.ok(
            "GetMetricData",
            json!({"MetricDataQueries": q, "StartTime": secs(T0 - 100 * MIN), "EndTime": secs(T0)}),
        );
        assert_eq!(out["MetricDataResults"][0]["Values"], json!([90.0]));
    }
}
