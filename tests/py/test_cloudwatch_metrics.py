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

from harness import REGION, wait_cluster_available, wait_group_available, wait_until

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


def test_an_alarm_on_connections_goes_ok_alarm_ok(fc, ec):
    cw = cloudwatch(fc)
    ec.create_cache_cluster(CacheClusterId="cwc", CacheNodeType="cache.t3.micro",
                            Engine="redis")
    cluster = wait_cluster_available(ec, "cwc", timeout=120)
    endpoint = cluster["CacheNodes"][0]["Endpoint"]
    base = wait_until(
        lambda: stats(cw, "CurrConnections", node_dims("cwc"), 1, "Maximum", minutes=2),
        timeout=30, what="CurrConnections")
    threshold = max(p["Maximum"] for p in base) + 5
    cw.put_metric_alarm(
        AlarmName="cwc-many", Namespace=NS, MetricName="CurrConnections",
        Dimensions=[{"Name": "CacheClusterId", "Value": "cwc"}], Statistic="Maximum",
        Period=10, EvaluationPeriods=1, Threshold=threshold,
        ComparisonOperator="GreaterThanThreshold")

    def state(want):
        def check():
            a = cw.describe_alarms(AlarmNames=["cwc-many"])["MetricAlarms"][0]
            return a["StateValue"] == want and a
        return check
    wait_until(state("OK"), timeout=90, what="the alarm OK")
    clients = [redis.Redis(host=endpoint["Address"], port=endpoint["Port"], socket_timeout=10)
               for _ in range(10)]
    for c in clients:
        c.ping()
    try:
        wait_until(state("ALARM"), timeout=90, what="the alarm in ALARM with 10 more clients")
    finally:
        for c in clients:
            c.close()
    ok = wait_until(state("OK"), timeout=90, what="the alarm OK again")
    assert "was not greater than the threshold" in ok["StateReason"]
    updates = cw.describe_alarm_history(AlarmName="cwc-many",
                                        HistoryItemType="StateUpdate")["AlarmHistoryItems"]
    summaries = [h["HistorySummary"] for h in updates]
    assert any("from OK to ALARM" in s for s in summaries), summaries
    assert any("from ALARM to OK" in s for s in summaries), summaries


def test_a_failover_shows_in_the_metrics_as_in_the_events(fc, ec):
    cw = cloudwatch(fc)
    ec.create_replication_group(ReplicationGroupId="cwf", ReplicationGroupDescription="f",
                                NumCacheClusters=2, AutomaticFailoverEnabled=True)
    group = wait_group_available(ec, "cwf", timeout=120)
    members = group["NodeGroups"][0]["NodeGroupMembers"]
    old = next(m["CacheClusterId"] for m in members if m["CurrentRole"] == "primary")
    new = next(m["CacheClusterId"] for m in members if m["CurrentRole"] == "replica")

    def role_points(member):
        return stats(cw, "IsPrimary", node_dims(member), 1, "Maximum", minutes=5)
    wait_until(lambda: role_points(old) and role_points(new), timeout=60,
               what="IsPrimary of both members")
    lag = wait_until(lambda: stats(cw, "ReplicationLag", node_dims(new), 1, "Maximum",
                                   minutes=5), timeout=60, what="the replica's ReplicationLag")
    assert lag[0]["Unit"] == "Seconds"

    called = now()
    ec.test_failover(ReplicationGroupId="cwf", NodeGroupId="0001")

    def promoted():
        g = ec.describe_replication_groups(ReplicationGroupId="cwf")["ReplicationGroups"][0]
        roles = {m["CacheClusterId"]: m["CurrentRole"]
                 for m in g["NodeGroups"][0]["NodeGroupMembers"]}
        return g["Status"] == "available" and roles.get(new) == "primary"
    wait_until(promoted, timeout=120, what=f"{new} primary")

    def flipped():
        new_up = [p for p in role_points(new)
                  if p["Maximum"] == 1 and p["Timestamp"] >= called - dt.timedelta(seconds=1)]
        old_down = [p for p in role_points(old)
                    if p["Maximum"] == 0 and p["Timestamp"] >= called - dt.timedelta(seconds=1)]
        return new_up and old_down and (min(p["Timestamp"] for p in new_up),
                                        min(p["Timestamp"] for p in old_down))
    new_up_at, old_down_at = wait_until(flipped, timeout=60, what="IsPrimary flipped")
    events = ec.describe_events(SourceIdentifier="cwf", SourceType="replication-group",
                                Duration=60)["Events"]
    done = now()
    # The metrics and the events tell the same story: the flip happened after the call, as did
    # the failover's event (and both were there once looked for).
    assert called - dt.timedelta(seconds=1) <= new_up_at <= done
    assert called - dt.timedelta(seconds=1) <= old_down_at <= done
    failover = [e for e in events if f"to replica node {new} completed" in e["Message"]]
    assert failover, [e["Message"] for e in events]
    assert called - dt.timedelta(seconds=1) <= failover[0]["Date"] <= done
    # The old primary, now a replica, reports its resync.
    wait_until(lambda: stats(cw, "ReplicationLag", node_dims(old), 1, "Maximum", minutes=2),
               timeout=60, what="the old primary's ReplicationLag as a replica")
