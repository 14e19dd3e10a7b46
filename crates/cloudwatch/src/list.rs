//! `ListMetrics`: the region's metrics with a datapoint in the last two weeks (AWS's rule), or
//! in the last three hours with `RecentlyActive` `PT3H`, filtered by namespace, name and
//! dimensions (a filter names a dimension the metric must have, with a value or any), 500 a
//! page. A metric published in several units is listed once.

use serde_json::{json, Value};

use crate::error::Refusal;
use crate::paging;
use crate::request::{decode, ListMetricsInput};
use crate::validate::{member, param_member, required_str, Checks};
use crate::CloudWatch;

/// Metrics per page.
pub(crate) const PAGE: usize = 500;
/// How far back a metric's last datapoint may be for it to be listed.
const LISTED_FOR_MS: i64 = 14 * 86_400_000;
/// `RecentlyActive` `PT3H`.
const RECENT_MS: i64 = 3 * 3_600_000;

/// `ListMetrics`.
pub(crate) fn list_metrics(
    cw: &CloudWatch,
    region: &str,
    input: Value,
    now: i64,
) -> Result<Value, Refusal> {
    let req: ListMetricsInput = decode(input)?;
    let mut checks = Checks::new();
    checks.namespace("namespace", req.namespace.as_deref());
    checks.metric_name("metricName", req.metric_name.as_deref());
    if let Some(filters) = &req.dimensions {
        checks.list_len("dimensions", filters, 10);
        for (i, f) in filters.iter().enumerate() {
            let at = member("dimensions", i);
            checks.length_opt(&format!("{at}.name"), f.name.as_deref(), 1, 255);
            checks.length_opt(&format!("{at}.value"), f.value.as_deref(), 1, 1024);
        }
    }
    checks.one_of(
        "recentlyActive",
        req.recently_active.as_deref(),
        &["PT3H"],
        &["PT3H"],
    );
    checks.finish()?;

    let mut filters = Vec::new();
    for (i, f) in req.dimensions.iter().flatten().enumerate() {
        let name = required_str(&f.name, &format!("{}.Name", param_member("Dimensions", i)))?;
        filters.push((name.to_string(), f.value.clone().filter(|v| !v.is_empty())));
    }
    let since = if req.recently_active.is_some() {
        now - RECENT_MS
    } else {
        now - LISTED_FOR_MS
    };

    let mut parts: Vec<String> = vec![
        req.namespace.clone().unwrap_or_default(),
        req.metric_name.clone().unwrap_or_default(),
        req.recently_active.clone().unwrap_or_default(),
    ];
    for (n, v) in &filters {
        parts.push(format!("{n}={}", v.as_deref().unwrap_or("*")));
    }
    let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
    let fingerprint = paging::fingerprint(&refs);
    let start = match &req.next_token {
        Some(t) => {
            paging::offset(t, "ListMetrics", fingerprint).ok_or_else(Refusal::list_next_token)?
        }
        None => 0,
    };

    let all = cw.metrics.list(
        region,
        req.namespace.as_deref(),
        req.metric_name.as_deref(),
        &filters,
        since,
    );
    let page: Vec<Value> = all
        .iter()
        .skip(start)
        .take(PAGE)
        .map(|(key, _)| {
            let dims: Vec<Value> = key
                .dims
                .iter()
                .map(|(n, v)| json!({"Name": n, "Value": v}))
                .collect();
            json!({"Namespace": key.namespace, "MetricName": key.metric, "Dimensions": dims})
        })
        .collect();
    let mut out = json!({ "Metrics": page });
    if start + PAGE < all.len() {
        out["NextToken"] = json!(paging::token("ListMetrics", fingerprint, start + PAGE));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::testing::{secs, Harness, MIN, T0};

    fn put(h: &Harness, ns: &str, metric: &str, dims: serde_json::Value, at: i64) {
        h.ok(
            "PutMetricData",
            json!({"Namespace": ns, "MetricData": [
                {"MetricName": metric, "Dimensions": dims, "Value": 1, "Timestamp": secs(at)}]}),
        );
    }

    fn names(out: &serde_json::Value) -> Vec<String> {
        out["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                let dims: Vec<String> = m["Dimensions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| {
                        format!(
                            "{}={}",
                            d["Name"].as_str().unwrap(),
                            d["Value"].as_str().unwrap()
                        )
                    })
                    .collect();
                format!(
                    "{}/{}[{}]",
                    m["Namespace"].as_str().unwrap(),
                    m["MetricName"].as_str().unwrap(),
                    dims.join(",")
                )
            })
            .collect()
    }

    #[test]
    fn an_implied_dimension_makes_a_node_metric_the_cache_clusters_too() {
        // Stored once per node (CacheClusterId + CacheNodeId 0001): listed and read per cache
        // cluster as well; a dimension filter the short form lacks keeps it out.
        let h = Harness::new();
        h.cw.imply_dimension("AWS/ElastiCache", "CacheNodeId", "0001");
        let node = [("CacheClusterId", "c1"), ("CacheNodeId", "0001")];
        h.cw.record(
            "us-east-1",
            "AWS/ElastiCache",
            "CurrConnections",
            &node,
            "Count",
            T0 - 2 * MIN,
            3.0,
            false,
        )
        .unwrap();
        let all = h.ok("ListMetrics", json!({"Namespace": "AWS/ElastiCache"}));
        assert_eq!(
            names(&all),
            vec![
                "AWS/ElastiCache/CurrConnections[CacheClusterId=c1]",
                "AWS/ElastiCache/CurrConnections[CacheClusterId=c1,CacheNodeId=0001]",
            ]
        );
        let by_node = h.ok(
            "ListMetrics",
            json!({"Namespace": "AWS/ElastiCache", "Dimensions": [{"Name": "CacheNodeId"}]}),
        );
        assert_eq!(names(&by_node).len(), 1);
        let out = h.ok(
            "GetMetricStatistics",
            json!({"Namespace": "AWS/ElastiCache", "MetricName": "CurrConnections",
                   "Dimensions": [{"Name": "CacheClusterId", "Value": "c1"}],
                   "StartTime": secs(T0 - 10 * MIN), "EndTime": secs(T0), "Period": 60,
                   "Statistics": ["Maximum"]}),
        );
        assert_eq!(out["Datapoints"][0]["Maximum"], json!(3.0));
        // Another namespace is not affected.
        let other = h.ok(
            "GetMetricStatistics",
            json!({"Namespace": "Custom", "MetricName": "CurrConnections",
                   "Dimensions": [{"Name": "CacheClusterId", "Value": "c1"}],
                   "StartTime": secs(T0 - 10 * MIN), "EndTime": secs(T0), "Period": 60,
                   "Statistics": ["Maximum"]}),
        );
        assert_eq!(other["Datapoints"], json!([]));
    }

    #[test]
    fn filters() {
        let h = Harness::new();
        put(
            &h,
            "A",
            "cpu",
            json!([{"Name": "Host", "Value": "h1"}]),
            T0 - MIN,
        );
        put(
            &h,
            "A",
            "cpu",
            json!([{"Name": "Host", "Value": "h2"}, {"Name": "Az", "Value": "a"}]),
            T0 - MIN,
        );
        put(&h, "A", "mem", json!([]), T0 - MIN);
        put(
            &h,
            "B",
            "cpu",
            json!([{"Name": "Host", "Value": "h1"}]),
            T0 - MIN,
        );
        // The same metric in two units is listed once.
        h.ok(
            "PutMetricData",
            json!({"Namespace": "A", "MetricData": [
                {"MetricName": "mem", "Value": 1, "Unit": "Bytes", "Timestamp": secs(T0 - MIN)}]}),
        );
        assert_eq!(
            names(&h.ok("ListMetrics", json!({}))),
            [
                "A/cpu[Az=a,Host=h2]",
                "A/cpu[Host=h1]",
                "A/mem[]",
                "B/cpu[Host=h1]"
            ]
        );
        assert_eq!(
            names(&h.ok(
                "ListMetrics",
                json!({"Namespace": "A", "MetricName": "cpu"})
            )),
            ["A/cpu[Az=a,Host=h2]", "A/cpu[Host=h1]"]
        );
        assert_eq!(
            names(&h.ok(
                "ListMetrics",
                json!({"Dimensions": [{"Name": "Host", "Value": "h1"}]})
            )),
            ["A/cpu[Host=h1]", "B/cpu[Host=h1]"]
        );
        assert_eq!(
            names(&h.ok("ListMetrics", json!({"Dimensions": [{"Name": "Az"}]}))),
            ["A/cpu[Az=a,Host=h2]"]
        );
        // Other regions see nothing.
        let other = h.cw.call("eu-west-1", "ListMetrics", json!({})).unwrap();
        assert_eq!(other["Metrics"], json!([]));
        assert_eq!(
            h.err("ListMetrics", json!({"Dimensions": [{"Value": "x"}]})),
            (
                "MissingParameter".into(),
                "The parameter Dimensions.member.1.Name is required.".into()
            )
        );
        let (code, msg) = h.err("ListMetrics", json!({"RecentlyActive": "PT1H"}));
        assert_eq!(code, "ValidationError");
        assert!(
            msg.contains("Member must satisfy enum value set: [PT3H]"),
            "{msg}"
        );
    }

    #[test]
    fn recently_active_and_two_weeks() {
        let h = Harness::new();
        put(&h, "A", "old", json!([]), T0 - 5 * 60 * MIN);
        put(&h, "A", "new", json!([]), T0 - MIN);
        assert_eq!(
            names(&h.ok("ListMetrics", json!({}))),
            ["A/new[]", "A/old[]"]
        );
        assert_eq!(
            names(&h.ok("ListMetrics", json!({"RecentlyActive": "PT3H"}))),
            ["A/new[]"]
        );
        h.at(T0 + 14 * 1440 * MIN - 2 * MIN);
        assert_eq!(names(&h.ok("ListMetrics", json!({}))), ["A/new[]"]);
    }

    #[test]
    fn pages_of_500() {
        let h = Harness::new();
        let data: Vec<_> = (0..1000)
            .map(|i| json!({"MetricName": format!("m{i:04}"), "Value": 1, "Timestamp": secs(T0 - MIN)}))
            .collect();
        h.ok(
            "PutMetricData",
            json!({"Namespace": "P", "MetricData": data}),
        );
        h.ok(
            "PutMetricData",
            json!({"Namespace": "P", "MetricData": [{"MetricName": "m1000", "Value": 1}]}),
        );
        let first = h.ok("ListMetrics", json!({"Namespace": "P"}));
        assert_eq!(first["Metrics"].as_array().unwrap().len(), 500);
        let token = first["NextToken"].clone();
        let second = h.ok("ListMetrics", json!({"Namespace": "P", "NextToken": token}));
        assert_eq!(second["Metrics"].as_array().unwrap().len(), 500);
        let third = h.ok(
            "ListMetrics",
            json!({"Namespace": "P", "NextToken": second["NextToken"]}),
        );
        assert_eq!(third["Metrics"].as_array().unwrap().len(), 1);
        assert!(third.get("NextToken").is_none());
        assert_eq!(
            h.err("ListMetrics", json!({"Namespace": "Q", "NextToken": token})),
            (
                "InvalidParameterValue".into(),
                "Request parameter NextToken is invalid".into()
            )
        );
    }
}
