"""Log delivery: a group's slow log and engine log delivered to CloudWatch Logs, as the
connectivity write-up's Terraform configures it (`log_delivery_configuration` slow-log, json,
to an `aws_cloudwatch_log_group`), read back with the Logs API.

Method: boto3's `logs` client (JSON 1.1) against the same endpoint; a parameter group with
`slowlog-log-slower-than 0` so every command is a slow log entry; commands sent through the
group's primary endpoint with redis-py; statuses read from `DescribeReplicationGroups`."""

import json

import boto3
import pytest
import redis
from botocore.config import Config
from botocore.exceptions import ClientError

from harness import REGION, wait_group_available, wait_until


def logs_client(fc):
    return boto3.client(
        "logs", endpoint_url=fc.endpoint_url, region_name=REGION,
        aws_access_key_id="test", aws_secret_access_key="test",
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))


def deliveries(ec, group_id):
    group = ec.describe_replication_groups(ReplicationGroupId=group_id)["ReplicationGroups"][0]
    return {d["LogType"]: d for d in group.get("LogDeliveryConfigurations", [])}


def slow_log_to(group, fmt="json"):
    return {"LogType": "slow-log", "DestinationType": "cloudwatch-logs",
            "DestinationDetails": {"CloudWatchLogsDetails": {"LogGroup": group}},
            "LogFormat": fmt}


def engine_log_to(group, fmt="text"):
    return {"LogType": "engine-log", "DestinationType": "cloudwatch-logs",
            "DestinationDetails": {"CloudWatchLogsDetails": {"LogGroup": group}},
            "LogFormat": fmt}


def test_slow_log_and_engine_log_reach_cloudwatch_logs(fc, ec):
    logs = logs_client(fc)
    logs.create_log_group(logGroupName="/aws/elasticache/ld/slow-log")
    ec.create_cache_parameter_group(CacheParameterGroupName="slow-all",
                                    CacheParameterGroupFamily="redis7",
                                    Description="every command is slow")
    ec.modify_cache_parameter_group(
        CacheParameterGroupName="slow-all",
        ParameterNameValues=[{"ParameterName": "slowlog-log-slower-than",
                              "ParameterValue": "0"}])
    ec.create_replication_group(
        ReplicationGroupId="ld", ReplicationGroupDescription="log delivery",
        NumCacheClusters=2, CacheParameterGroupName="slow-all",
        LogDeliveryConfigurations=[slow_log_to("/aws/elasticache/ld/slow-log"),
                                   engine_log_to("/aws/elasticache/ld/engine-log")])
    group = wait_group_available(ec, "ld", timeout=120)
    primary = group["NodeGroups"][0]["PrimaryEndpoint"]

    # The slow log's group exists: active. The engine log's does not: error, with a reason.
    def statuses():
        d = deliveries(ec, "ld")
        return d["slow-log"]["Status"] == "active" and d["engine-log"]["Status"] == "error"
    wait_until(statuses, timeout=60, what="slow-log active, engine-log error")
    engine = deliveries(ec, "ld")["engine-log"]
    assert "does not exist" in engine["Message"]
    assert engine["DestinationDetails"]["CloudWatchLogsDetails"]["LogGroup"] == \
        "/aws/elasticache/ld/engine-log"
    assert engine["LogFormat"] == "text"

    r = redis.Redis(host=primary["Address"], port=primary["Port"], socket_timeout=10)
    r.set("ld:key", "a-secret-value")
    assert r.get("ld:key") == b"a-secret-value"

    member = group["NodeGroups"][0]["NodeGroupMembers"]
    primary_member = next(m["CacheClusterId"] for m in member if m["CurrentRole"] == "primary")
    stream = f"elasticache/redis/{primary_member}/0001/slow-log"

    def slow_entries():
        try:
            events = logs.get_log_events(logGroupName="/aws/elasticache/ld/slow-log",
                                         logStreamName=stream, startFromHead=True)["events"]
        except ClientError:
            return None
        entries = [json.loads(e["message"]) for e in events]
        sets = [e for e in entries if e["Command"].upper().startswith("SET")]
        return sets or None
    sets = wait_until(slow_entries, timeout=60, what="the SET in the slow log stream")
    entry = sets[-1]
    assert entry["CacheClusterId"] == primary_member
    assert entry["CacheNodeId"] == "0001"
    assert entry["Command"] == "SET ... (2 more arguments)"
    assert isinstance(entry["Duration (us)"], int) and isinstance(entry["Id"], int)
    assert ":" in entry["ClientAddress"]
    streams = logs.describe_log_streams(logGroupName="/aws/elasticache/ld/slow-log")
    names = {s["logStreamName"] for s in streams["logStreams"]}
    assert stream in names
    # Arguments are never delivered.
    all_events = logs.filter_log_events(logGroupName="/aws/elasticache/ld/slow-log")["events"]
    assert not any("a-secret-value" in e["message"] for e in all_events)

    # Once the engine log's group exists, the delivery turns active and the node's own log
    # lines arrive, in AWS's text form.
    logs.create_log_group(logGroupName="/aws/elasticache/ld/engine-log")
    wait_until(lambda: deliveries(ec, "ld")["engine-log"]["Status"] == "active", timeout=60,
               what="engine-log active")

    def engine_lines():
        events = logs.filter_log_events(logGroupName="/aws/elasticache/ld/engine-log",
                                        filterPattern='"Ready to accept connections"')["events"]
        return events or None
    lines = wait_until(engine_lines, timeout=60, what="the start-up line in the engine log")
    assert any(e["message"].startswith(f"{primary_member}/0001:M ") and " UTC * " in e["message"]
               for e in lines)

    # A modify of log delivery needs ApplyImmediately, with AWS's message.
    with pytest.raises(ClientError) as refused:
        ec.modify_replication_group(ReplicationGroupId="ld",
                                    LogDeliveryConfigurations=[slow_log_to("x", "text")])
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert refused.value.response["Error"]["Message"] == (
        "To modify the log delivery configuration, set the apply-immediately parameter to true.")

    # Turned off: the row goes (after `disabling`), and the group stays available.
    ec.modify_replication_group(
        ReplicationGroupId="ld", ApplyImmediately=True,
        LogDeliveryConfigurations=[{"LogType": "engine-log", "Enabled": False}])
    wait_until(lambda: "engine-log" not in deliveries(ec, "ld"), timeout=60,
               what="engine-log delivery removed")
    assert deliveries(ec, "ld")["slow-log"]["Status"] == "active"
    group = ec.describe_replication_groups(ReplicationGroupId="ld")["ReplicationGroups"][0]
    assert group["Status"] == "available"
    members = ec.describe_cache_clusters(CacheClusterId=primary_member)["CacheClusters"][0]
    assert members["ReplicationGroupLogDeliveryEnabled"] is True
    assert [d["LogType"] for d in members["LogDeliveryConfigurations"]] == ["slow-log"]


def test_bad_log_delivery_requests_are_refused(fc, ec):
    bad = slow_log_to("g")
    bad["LogType"] = "audit-log"
    with pytest.raises(ClientError) as refused:
        ec.create_replication_group(ReplicationGroupId="ldbad",
                                    ReplicationGroupDescription="x",
                                    LogDeliveryConfigurations=[bad])
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError) as twice:
        ec.create_replication_group(ReplicationGroupId="ldbad",
                                    ReplicationGroupDescription="x",
                                    LogDeliveryConfigurations=[slow_log_to("a"),
                                                               slow_log_to("b")])
    assert twice.value.response["Error"]["Code"] == "InvalidParameterCombination"
    firehose = {"LogType": "slow-log", "DestinationType": "kinesis-firehose",
                "DestinationDetails": {"KinesisFirehoseDetails": {"DeliveryStream": "s"}},
                "LogFormat": "json"}
    ec.create_cache_cluster(CacheClusterId="ldfh", CacheNodeType="cache.t3.micro",
                            Engine="redis", LogDeliveryConfigurations=[firehose])

    def firehose_error():
        c = ec.describe_cache_clusters(CacheClusterId="ldfh")["CacheClusters"][0]
        rows = c.get("LogDeliveryConfigurations", [])
        return rows and rows[0]["Status"] == "error" and rows[0]
    row = wait_until(firehose_error, timeout=120, what="the firehose delivery in error")
    assert "Firehose" in row["Message"]
    assert row["DestinationDetails"]["KinesisFirehoseDetails"]["DeliveryStream"] == "s"
