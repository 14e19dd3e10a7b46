"""ElastiCache's metrics in CloudWatch: every node sampled and published under
`AWS/ElastiCache` with `CacheClusterId` (+ `CacheNodeId`), read back with the runbooks' own
`aws cloudwatch get-metric-statistics` lines, high resolution (1 s) for the last hours, alarms
evaluated on them, and all of it kept across a restart.

Method: real nodes, real traffic through the endpoint with redis-py, boto3's `cloudwatch`
client (JSON 1.0, as aws CLI v1 sends) and the aws CLI for the verbatim runbook lines. Waits are
bounded polls; no test asserts on timing."""

import datetime as dt
import json

import boto3
import redis
from botocore.config import Config

from harness import REGION, wait_cluster_available, wait_until

NS = "AWS/ElastiCache"


def cloudwatch(fc):
    return boto3.client(
        "cloudwatch", endpoint_url=fc.endpoint_url, region_name=REGION,
        aws_access_key_id="test", aws_secret_access_key="test",
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))


def now():
    return dt.datetime.now(dt.timezone.utc)


def node_dims(cluster):
    return [{"Name": "CacheClusterId", "Value": cluster}, {"Name": "CacheNodeId", "Value": "0001"}]


def stats(cw, metric, dims, period, statistic, minutes=10):
    end = now() + dt.timedelta(seconds=5)
    return cw.get_metric_statistics(
        Namespace=NS, MetricName=metric, Dimensions=dims, StartTime=end - dt.timedelta(
            minutes=minutes), EndTime=end, Period=period, Statistics=[statistic])["Datapoints"]


def test_node_metrics_in_cloudwatch_at_one_second_and_one_minute(fc, ec):
    cw = cloudwatch(fc)
    ec.create_cache_cluster(CacheClusterId="cwm", CacheNodeType="cache.t3.micro",
                            Engine="redis")
    cluster = wait_cluster_available(ec, "cwm", timeout=120)
    endpoint = cluster["CacheNodes"][0]["Endpoint"]
    r = redis.Redis(host=endpoint["Address"], port=endpoint["Port"], socket_timeout=10)
    r.set("cwm:k", "v")
    for _ in range(50):
        r.get("cwm:k")
    for _ in range(20):
        r.get("cwm:missing")

    # High resolution: one datapoint per second, within seconds.
    def hits():
        points = stats(cw, "CacheHits", node_dims("cwm"), 1, "Sum", minutes=3)
        return sum(p["Sum"] for p in points) >= 50 and points
    points = wait_until(hits, timeout=60, what="1-second CacheHits datapoints")
    assert all(p["Unit"] == "Count" for p in points)
    misses = stats(cw, "CacheMisses", node_dims("cwm"), 1, "Sum", minutes=3)
    assert sum(p["Sum"] for p in misses) >= 20
    connections = wait_until(
        lambda: stats(cw, "CurrConnections", node_dims("cwm"), 1, "Maximum", minutes=3),
        timeout=30, what="CurrConnections")
    assert max(p["Maximum"] for p in connections) >= 1
    primary = stats(cw, "IsPrimary", node_dims("cwm"), 1, "Minimum", minutes=3)
    assert primary and all(p["Minimum"] == 1 for p in primary)

    # The minute's datapoint: one value for the minute (SampleCount 1), as on ElastiCache.
    minute = wait_until(
        lambda: stats(cw, "CPUUtilization", [{"Name": "CacheClusterId", "Value": "cwm"}], 60,
                      "SampleCount"),
        timeout=150, what="a 60-second CPUUtilization datapoint")
    assert all(p["SampleCount"] == 1 for p in minute)
    assert minute[0]["Unit"] == "Percent"

    # The runbooks' lines, verbatim but for the cluster id.
    end = now() + dt.timedelta(minutes=1)
    start = end - dt.timedelta(hours=1)
    fmt = "%Y-%m-%dT%H:%M:%S"
    out = fc.aws("cloudwatch", "get-metric-statistics", "--namespace", "AWS/ElastiCache",
                 "--metric-name", "CPUUtilization",
                 "--dimensions", "Name=CacheClusterId,Value=cwm",
                 "--start-time", start.strftime(fmt), "--end-time", end.strftime(fmt),
                 "--period", "300", "--statistics", "Average", "--output", "json")
    answer = json.loads(out.stdout)
    assert answer["Label"] == "CPUUtilization"
    assert answer["Datapoints"] and "Average" in answer["Datapoints"][0]
    out = fc.aws("cloudwatch", "get-metric-statistics", "--namespace", "AWS/ElastiCache",
                 "--metric-name", "NetworkBytesIn",
                 "--dimensions", "Name=CacheClusterId,Value=cwm",
                 "--start-time", start.strftime(fmt), "--end-time", end.strftime(fmt),
                 "--period", "300", "--statistics", "Sum", "--output", "json")
    assert json.loads(out.stdout)["Datapoints"][0]["Sum"] > 0
    # ElastiCache publishes no ReplicationGroupId dimension: no datapoints, no error.
    rg = cw.get_metric_statistics(
        Namespace=NS, MetricName="CPUUtilization",
        Dimensions=[{"Name": "ReplicationGroupId", "Value": "cwm"}],
        StartTime=start, EndTime=end, Period=300, Statistics=["Average"])
    assert rg["Datapoints"] == []

    listed = cw.list_metrics(Namespace=NS, Dimensions=[{"Name": "CacheClusterId",
                                                         "Value": "cwm"}])["Metrics"]
    names = {m["MetricName"] for m in listed}
    for expected in ("CPUUtilization", "EngineCPUUtilization", "FreeableMemory", "SwapUsage",
                     "NetworkBytesIn", "CacheHits", "CacheHitRate", "CurrConnections",
                     "DatabaseMemoryUsagePercentage", "BytesUsedForCache", "GetTypeCmds",
                     "SetTypeCmds", "StringBasedCmds"):
        assert expected in names, expected

    # Kept across a restart.
    before = stats(cw, "CacheHits", node_dims("cwm"), 1, "Sum", minutes=5)
    fc.restart()
    cw = cloudwatch(fc)
    after = stats(cw, "CacheHits", node_dims("cwm"), 1, "Sum", minutes=6)
    kept = {p["Timestamp"] for p in after}
    assert {p["Timestamp"] for p in before if p["Sum"] > 0} <= kept


def test_an_alarm_on_a_node_metric_fires_and_notifies(fc, ec):
    cw = cloudwatch(fc)
    ec.create_cache_cluster(CacheClusterId="cwa", CacheNodeType="cache.t3.micro",
                            Engine="redis")
    wait_cluster_available(ec, "cwa", timeout=120)
    topic = f"arn:aws:sns:{REGION}:123456789012:cache-alerts"
    cw.put_metric_alarm(
        AlarmName="cwa-connected", Namespace=NS, MetricName="IsPrimary",
        Dimensions=node_dims("cwa"), Statistic="Maximum", Period=10, EvaluationPeriods=1,
        Threshold=0.5, ComparisonOperator="GreaterThanThreshold", AlarmActions=[topic])
    alarm = cw.describe_alarms(AlarmNames=["cwa-connected"])["MetricAlarms"][0]
    assert alarm["StateValue"] == "INSUFFICIENT_DATA"
    assert alarm["AlarmArn"] == f"arn:aws:cloudwatch:{REGION}:123456789012:alarm:cwa-connected"

    def fired():
        a = cw.describe_alarms(AlarmNames=["cwa-connected"])["MetricAlarms"][0]
        return a["StateValue"] == "ALARM" and a
    alarm = wait_until(fired, timeout=90, what="the alarm in ALARM")
    assert alarm["StateReason"].startswith("Threshold Crossed: 1 datapoint [1.0 (")
    history = cw.describe_alarm_history(AlarmName="cwa-connected")["AlarmHistoryItems"]
    kinds = {h["HistoryItemType"] for h in history}
    assert "StateUpdate" in kinds

    def notified():
        items = cw.describe_alarm_history(AlarmName="cwa-connected",
                                          HistoryItemType="Action")["AlarmHistoryItems"]
        return items
    actions = wait_until(notified, timeout=30, what="the SNS action in the history")
    assert topic in actions[0]["HistorySummary"]
    assert "Successfully executed action" in actions[0]["HistorySummary"]

    # The runbook's alarm (no dimensions: a metric nobody publishes) waits for data.
    fc.aws("cloudwatch", "put-metric-alarm", "--alarm-name", "redis-cpu-high",
           "--alarm-description", "Alert when CPU > 75%", "--metric-name", "CPUUtilization",
           "--namespace", "AWS/ElastiCache", "--statistic", "Average", "--period", "300",
           "--threshold", "75", "--comparison-operator", "GreaterThanThreshold",
           "--evaluation-periods", "2")
    runbook = cw.describe_alarms(AlarmNames=["redis-cpu-high"])["MetricAlarms"][0]
    assert runbook["StateValue"] == "INSUFFICIENT_DATA"
    assert runbook["AlarmDescription"] == "Alert when CPU > 75%"
