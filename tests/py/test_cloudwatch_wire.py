"""CloudWatch (`monitoring`) on the API port, in its three wire protocols, with real clients
against the real binary.

Which client speaks what (measured here on the wire, see test_clients_speak_json):
- boto3 and the aws CLI v1 (botocore >= 1.42.7): AWS JSON 1.0 with `X-Amz-Target`.
- The other two protocols are driven through boto3 too, by giving botocore a copy of its own
  CloudWatch model whose `protocols` list names only one: botocore then serializes and parses
  Smithy RPC v2 CBOR (what the Go SDK v2, Terraform and the Rust SDK send) or query (what the
  aws CLI v2 sends) with its own code, as for any service of that protocol.
- Raw requests signed with botocore's SigV4 (query forms, cbor2 bodies) pin the exact bytes:
  headers, `__type`, `x-amzn-query-error`, the XML envelope.

Tests marked "waits for crates/cloudwatch" need the service's real answers (PutMetricData then
GetMetricStatistics, alarms, its validation); the others hold whatever the service answers.
"""

import atexit
import copy
import gzip
import json
import os
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone

import boto3
import botocore
import botocore.session
import cbor2
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from harness import REGION, Ferrocache, error_code

NAMESPACE_XML = "http://monitoring.amazonaws.com/doc/2010-08-01/"
TARGET = "GraniteServiceVersion20100801"
CBOR_PATH = f"/service/{TARGET}/operation/"
PROTOCOLS = ["json", "smithy-rpc-v2-cbor", "query"]
NAMESPACE = "Ferrocache/WireTest"
DIMENSIONS = [{"Name": "CacheClusterId", "Value": "wire-001"}]

_model_dirs: dict[str, str] = {}


def model_dir(protocol: str) -> str:
    """A botocore data directory whose CloudWatch model lists only `protocol` (made once per
    process from the installed botocore's own model)."""
    if protocol not in _model_dirs:
        source = os.path.join(os.path.dirname(botocore.__file__), "data", "cloudwatch",
                              "2010-08-01", "service-2.json.gz")
        with gzip.open(source) as f:
            model = json.load(f)
        model = copy.deepcopy(model)
        model["metadata"]["protocols"] = [protocol]
        model["metadata"]["protocol"] = protocol
        root = tempfile.mkdtemp(prefix=f"cw-model-{protocol}-")
        atexit.register(shutil.rmtree, root, True)
        target = os.path.join(root, "cloudwatch", "2010-08-01")
        os.makedirs(target)
        with open(os.path.join(target, "service-2.json"), "w") as f:
            json.dump(model, f)
        _model_dirs[protocol] = root
    return _model_dirs[protocol]


class Wire:
    """What a client sent: the last request's method, URL, headers and body."""

    def __init__(self):
        self.requests = []

    def record(self, request=None, **_kwargs):
        self.requests.append(request)

    @property
    def last(self):
        return self.requests[-1]


def header(request, name):
    """A header of a recorded botocore request, as text."""
    value = request.headers[name]
    return value.decode() if isinstance(value, bytes) else value


def cloudwatch(fc, protocol=None, key="test", secret="test"):
    """A boto3 CloudWatch client for `fc` (no retries), speaking `protocol` (None: botocore's
    own choice), and the Wire it records its requests in."""
    session = botocore.session.Session()
    if protocol is not None:
        session.get_component("data_loader").search_paths.insert(0, model_dir(protocol))
    client = boto3.Session(botocore_session=session).client(
        "cloudwatch", endpoint_url=fc.endpoint_url, region_name=REGION,
        aws_access_key_id=key, aws_secret_access_key=secret,
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"},
                      connect_timeout=10, read_timeout=60))
    wire = Wire()
    client.meta.events.register("before-send.cloudwatch", wire.record)
    client.meta.events.register("after-call.cloudwatch", fc._record_server_error)
    if protocol is not None:
        assert client.meta.service_model.resolved_protocol == protocol
    return client, wire


def raw(fc, path, body, headers, sign=True, key="test", secret="test", method="POST"):
    """Sends one request signed for `monitoring` with botocore's SigV4; returns
    (status, {lower-case header: value}, body bytes)."""
    request = AWSRequest(method=method, url=fc.endpoint_url + path, data=body,
                         headers=dict(headers))
    if sign:
        SigV4Auth(Credentials(key, secret), "monitoring", REGION).add_auth(request)
    prepared = request.prepare()
    http = urllib.request.Request(prepared.url, data=prepared.body, method=method,
                                  headers=dict(prepared.headers.items()))
    try:
        with urllib.request.urlopen(http, timeout=30) as answer:
            status, answer_headers, data = answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as e:
        status, answer_headers, data = e.code, e.headers, e.read()
    headers_out = {k.lower(): v for k, v in answer_headers.items()}
    if status >= 500:
        fc.server_errors.append(f"raw {path}: HTTP {status} {data[:300]!r}")
    return status, headers_out, data


def raw_json(fc, operation, body, **kwargs):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return raw(fc, "/", data, {
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": f"{TARGET}.{operation}",
        "x-amzn-query-mode": "true",
    }, **kwargs)


def raw_cbor(fc, operation, body, **kwargs):
    data = body if isinstance(body, bytes) else cbor2.dumps(body, datetime_as_timestamp=True)
    return raw(fc, CBOR_PATH + operation, data, {
        "Content-Type": "application/cbor",
        "Accept": "application/cbor",
        "smithy-protocol": "rpc-v2-cbor",
    }, **kwargs)


def raw_query(fc, params, **kwargs):
    return raw(fc, "/", urllib.parse.urlencode(params).encode(), {
        "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
    }, **kwargs)


def xml_error(body):
    """(Type, Code, Message) of a query ErrorResponse, checking its namespace and RequestId."""
    root = ET.fromstring(body)
    assert root.tag == f"{{{NAMESPACE_XML}}}ErrorResponse", body
    error = root.find(f"{{{NAMESPACE_XML}}}Error")
    assert root.find(f"{{{NAMESPACE_XML}}}RequestId").text
    return tuple(error.find(f"{{{NAMESPACE_XML}}}{name}").text
                 for name in ("Type", "Code", "Message"))


def now():
    return datetime.now(timezone.utc).replace(microsecond=0)


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


# ----- which client speaks what ------------------------------------------------------------


# Goal: boto3 and the aws CLI v1 send AWS JSON 1.0 to CloudWatch (X-Amz-Target, the JSON
# content type, query mode, SigV4 service monitoring), and the three protocols of the
# overridden models are what they claim. Method: record boto3's requests; read the CLI's
# --debug output.
def test_clients_speak_json(fc):
    client, wire = cloudwatch(fc)
    assert client.meta.service_model.resolved_protocol == "json"
    try:
        client.list_metrics(Namespace=NAMESPACE)
    except ClientError:
        pass  # the answer is another test's business
    sent = wire.last
    assert sent.url.rstrip("/") == fc.endpoint_url
    assert header(sent, "X-Amz-Target") == f"{TARGET}.ListMetrics"
    assert header(sent, "Content-Type") == "application/x-amz-json-1.0"
    assert header(sent, "x-amzn-query-mode") == "true"
    assert "/monitoring/aws4_request" in header(sent, "Authorization")

    for protocol, path in [("smithy-rpc-v2-cbor", CBOR_PATH + "ListMetrics"), ("query", "/")]:
        client, wire = cloudwatch(fc, protocol)
        try:
            client.list_metrics(Namespace=NAMESPACE)
        except ClientError:
            pass
        assert urllib.parse.urlparse(wire.last.url).path == path, (protocol, wire.last.url)

    proc = fc.aws("--debug", "cloudwatch", "list-metrics", "--namespace", NAMESPACE,
                  check=False)
    assert f"'X-Amz-Target': b'{TARGET}.ListMetrics'" in proc.stderr \
        or f"'X-Amz-Target': '{TARGET}.ListMetrics'" in proc.stderr, proc.stderr[-3000:]
    assert "application/x-amz-json-1.0" in proc.stderr


# ----- each protocol's error forms (hold today) --------------------------------------------


# Goal: an unknown operation gets each protocol's own error: JSON and CBOR a 400
# UnknownOperationException with `x-amzn-query-error` (CBOR echoing smithy-protocol), query a
# 400 InvalidAction in CloudWatch's XML namespace. Method: raw signed requests.
def test_unknown_operation_in_each_protocol(fc):
    status, headers, body = raw_json(fc, "PutDashboard", {})
    assert status == 400
    assert headers["content-type"] == "application/x-amz-json-1.0"
    assert headers["x-amzn-query-error"] == "UnknownOperationException;Sender"
    assert headers["x-amzn-requestid"]
    document = json.loads(body)
    assert document["__type"] == "com.amazon.coral.service#UnknownOperationException"
    assert "PutDashboard" in document["message"]

    status, headers, body = raw_cbor(fc, "PutDashboard", {})
    assert status == 400
    assert headers["smithy-protocol"] == "rpc-v2-cbor"
    assert headers["content-type"] == "application/cbor"
    assert headers["x-amzn-query-error"] == "UnknownOperationException;Sender"
    document = cbor2.loads(body)
    assert document["__type"] == "com.amazon.coral.service#UnknownOperationException"

    status, headers, body = raw_query(fc, {"Action": "PutDashboard", "Version": "2010-08-01"})
    assert status == 400
    assert headers["content-type"] == "text/xml"
    assert xml_error(body) == ("Sender", "InvalidAction",
                               "The action PutDashboard is not valid for this web service.")


# Goal: a malformed body is a 400 in the caller's protocol, never a 5xx: JSON and CBOR
# SerializationException, query InvalidParameterValue naming the parameter. Method: a broken
# JSON document, junk CBOR, a CBOR member of the wrong type, a non-numeric Period.
def test_malformed_bodies_in_each_protocol(fc):
    for body in [b"{", b"[1, 2]", json.dumps({"Period": "five"}).encode()]:
        status, headers, data = raw_json(fc, "GetMetricStatistics", body)
        assert status == 400, data
        assert headers["x-amzn-query-error"] == "SerializationException;Sender"
        assert json.loads(data)["__type"] == "com.amazon.coral.service#SerializationException"

    for body in [b"\xff\xff\xff", b"\xa1\x66Period\x61x", b'{"json": true}']:
        status, headers, data = raw_cbor(fc, "GetMetricStatistics", body)
        assert status == 400, data
        assert headers["smithy-protocol"] == "rpc-v2-cbor"
        assert headers["x-amzn-query-error"] == "SerializationException;Sender"
        assert cbor2.loads(data)["__type"] == "com.amazon.coral.service#SerializationException"

    status, _, data = raw_query(fc, {"Action": "GetMetricStatistics",
                                     "Version": "2010-08-01", "Period": "five"})
    assert status == 400
    kind, code, message = xml_error(data)
    assert (kind, code) == ("Sender", "InvalidParameterValue")
    assert "Period" in message


# Goal: CloudWatch requests are counted with the others on /metrics, and ElastiCache answers
# on the same port as before. Method: three CloudWatch calls, one ElastiCache call, a scrape.
def test_requests_are_counted_and_elasticache_still_answers(fc, ec):
    raw_json(fc, "GetMetricStatistics", b"{")
    raw_cbor(fc, "GetMetricStatistics", b"\xff")
    raw_query(fc, {"Action": "PutDashboard", "Version": "2010-08-01"})
    assert ec.describe_cache_clusters()["CacheClusters"] == []
    with urllib.request.urlopen(fc.endpoint_url + "/metrics", timeout=10) as answer:
        text = answer.read().decode()
    counts = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "ferrocache_api_requests_total":
                counts[(sample.labels["operation"], sample.labels["code"])] = sample.value
    assert counts[("GetMetricStatistics", "SerializationException")] == 2
    assert counts[("unknown", "InvalidAction")] == 1
    assert counts[("DescribeCacheClusters", "200")] == 1


# Goal: with --credentials, each protocol's signature is checked (the CBOR path and JSON and
# CBOR bodies included): a key of the file passes, a wrong secret is a 403
# SignatureDoesNotMatch in the caller's protocol. Method: boto3 in each protocol.
def test_signatures_on_each_protocol(tmp_path):
    path = tmp_path / "credentials"
    path.write_text("[default]\naws_access_key_id = AKIDCLOUDWATCH\n"
                    "aws_secret_access_key = cw-secret/with+signs=\n")
    os.chmod(path, 0o600)
    instance = Ferrocache(extra_args=["--credentials", str(path)])
    try:
        instance.start()
        for protocol in PROTOCOLS:
            good, _ = cloudwatch(instance, protocol, "AKIDCLOUDWATCH", "cw-secret/with+signs=")
            try:
                good.list_metrics(Namespace=NAMESPACE)
            except ClientError as e:
                # Until crates/cloudwatch answers, the call itself may be refused — but not
                # by the signature check.
                assert e.response["ResponseMetadata"]["HTTPStatusCode"] != 403, \
                    (protocol, e.response)
            bad, _ = cloudwatch(instance, protocol, "AKIDCLOUDWATCH", "wrong")
            with pytest.raises(ClientError) as e:
                bad.list_metrics(Namespace=NAMESPACE)
            assert error_code(e) == ("SignatureDoesNotMatch", 403), protocol
        assert not instance.server_errors, instance.server_errors
    finally:
        instance.close()


# ----- the service's answers (wait for crates/cloudwatch) ----------------------------------


# Goal: PutMetricData then GetMetricStatistics, GetMetricData and ListMetrics round-trip in
# every protocol, with typed values (datetimes, floats) as botocore parses them.
# Waits for crates/cloudwatch. Method: boto3 in each protocol, a metric per protocol.
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_metric_round_trip(fc, protocol):
    client, _ = cloudwatch(fc, protocol)
    metric = f"Latency-{protocol}"
    at = now() - timedelta(seconds=120)
    client.put_metric_data(Namespace=NAMESPACE, MetricData=[
        {"MetricName": metric, "Dimensions": DIMENSIONS, "Timestamp": at, "Value": 12.5,
         "Unit": "Milliseconds"},
        {"MetricName": metric, "Dimensions": DIMENSIONS, "Timestamp": at,
         "StatisticValues": {"SampleCount": 2, "Sum": 3, "Minimum": 1, "Maximum": 2},
         "Unit": "Milliseconds"},
    ])
    out = client.get_metric_statistics(
        Namespace=NAMESPACE, MetricName=metric, Dimensions=DIMENSIONS,
        StartTime=at - timedelta(minutes=10), EndTime=now() + timedelta(minutes=1), Period=60,
        Statistics=["Sum", "SampleCount", "Maximum", "Minimum", "Average"])
    assert out["Label"] == metric
    points = out["Datapoints"]
    assert len(points) == 1, points
    point = points[0]
    assert isinstance(point["Timestamp"], datetime) and point["Timestamp"].tzinfo
    assert point["Sum"] == 15.5 and point["SampleCount"] == 3.0
    assert point["Maximum"] == 12.5 and point["Minimum"] == 1.0
    assert point["Unit"] == "Milliseconds"

    data = client.get_metric_data(
        MetricDataQueries=[{"Id": "m1", "ReturnData": True, "MetricStat": {
            "Metric": {"Namespace": NAMESPACE, "MetricName": metric, "Dimensions": DIMENSIONS},
            "Period": 60, "Stat": "Sum"}}],
        StartTime=at - timedelta(minutes=10), EndTime=now() + timedelta(minutes=1))
    result = data["MetricDataResults"][0]
    assert result["Id"] == "m1"
    assert result["StatusCode"] == "Complete"
    assert sum(result["Values"]) == 15.5
    assert all(isinstance(t, datetime) for t in result["Timestamps"])

    metrics = client.list_metrics(Namespace=NAMESPACE, MetricName=metric)["Metrics"]
    assert metrics == [{"Namespace": NAMESPACE, "MetricName": metric,
                        "Dimensions": DIMENSIONS}]


# Goal: the alarm operations work in every protocol: put, describe (typed members, the empty
# CompositeAlarms list), describe for metric, set state and its history, disable/enable
# actions, delete. Waits for crates/cloudwatch. Method: boto3 in each protocol.
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_alarms(fc, protocol):
    client, _ = cloudwatch(fc, protocol)
    name = f"wire-alarm-{protocol}"
    client.put_metric_alarm(
        AlarmName=name, AlarmDescription="wire test", MetricName="CPUUtilization",
        Namespace="AWS/ElastiCache", Statistic="Average", Dimensions=DIMENSIONS, Period=60,
        EvaluationPeriods=2, DatapointsToAlarm=1, Threshold=80.5,
        ComparisonOperator="GreaterThanThreshold", TreatMissingData="notBreaching",
        Tags=[{"Key": "team", "Value": "cache"}])
    out = client.describe_alarms(AlarmNames=[name])
    assert out["CompositeAlarms"] == []
    (alarm,) = out["MetricAlarms"]
    assert alarm["AlarmName"] == name
    assert alarm["AlarmArn"].startswith("arn:aws:cloudwatch:us-east-1:")
    assert alarm["Threshold"] == 80.5 and alarm["Period"] == 60
    assert alarm["EvaluationPeriods"] == 2 and alarm["ActionsEnabled"] is True
    assert alarm["Dimensions"] == DIMENSIONS
    assert isinstance(alarm["AlarmConfigurationUpdatedTimestamp"], datetime)
    assert alarm["StateValue"] in ("INSUFFICIENT_DATA", "OK", "ALARM")

    found = client.describe_alarms_for_metric(MetricName="CPUUtilization",
                                              Namespace="AWS/ElastiCache",
                                              Dimensions=DIMENSIONS)["MetricAlarms"]
    assert [a["AlarmName"] for a in found] == [name]

    client.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="wire test")
    history = client.describe_alarm_history(AlarmName=name)["AlarmHistoryItems"]
    assert any(item["HistoryItemType"] == "StateUpdate" for item in history), history
    assert all(isinstance(item["Timestamp"], datetime) for item in history)

    client.disable_alarm_actions(AlarmNames=[name])
    assert client.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["ActionsEnabled"] \
        is False
    client.enable_alarm_actions(AlarmNames=[name])
    assert client.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["ActionsEnabled"] \
        is True
    client.delete_alarms(AlarmNames=[name])
    assert client.describe_alarms(AlarmNames=[name])["MetricAlarms"] == []


# Goal: a refusal of the service (StartTime after EndTime) reaches every client as
# InvalidParameterValue 400, with the exact wire form of each protocol.
# Waits for crates/cloudwatch (its validation). Method: boto3 in each protocol, then raw.
def test_validation_error_in_each_protocol(fc):
    end = now() - timedelta(hours=1)
    for protocol in PROTOCOLS:
        client, _ = cloudwatch(fc, protocol)
        with pytest.raises(ClientError) as e:
            client.get_metric_statistics(
                Namespace="AWS/ElastiCache", MetricName="CPUUtilization",
                StartTime=now(), EndTime=end, Period=300, Statistics=["Average"])
        assert error_code(e) == ("InvalidParameterValue", 400), protocol

    body = {"Namespace": "AWS/ElastiCache", "MetricName": "CPUUtilization",
            "StartTime": int(now().timestamp()), "EndTime": int(end.timestamp()),
            "Period": 300, "Statistics": ["Average"]}
    status, headers, data = raw_json(fc, "GetMetricStatistics", body)
    assert status == 400
    assert headers["x-amzn-query-error"] == "InvalidParameterValue;Sender"
    document = json.loads(data)
    assert document["__type"] == "com.amazonaws.cloudwatch#InvalidParameterValueException"
    assert document["message"]

    body.update(StartTime=now(), EndTime=end)
    status, headers, data = raw_cbor(fc, "GetMetricStatistics", body)
    assert status == 400
    assert headers["x-amzn-query-error"] == "InvalidParameterValue;Sender"
    assert cbor2.loads(data)["__type"] == \
        "com.amazonaws.cloudwatch#InvalidParameterValueException"

    status, _, data = raw_query(fc, {
        "Action": "GetMetricStatistics", "Version": "2010-08-01",
        "Namespace": "AWS/ElastiCache", "MetricName": "CPUUtilization",
        "StartTime": iso(now()), "EndTime": iso(end), "Period": "300",
        "Statistics.member.1": "Average"})
    assert status == 400
    assert xml_error(data)[:2] == ("Sender", "InvalidParameterValue")


# Goal: the success bytes of CBOR and query are typed as their specs say: CBOR tag-1 times,
# floats for doubles, smithy-protocol echoed, no body for an operation without output; query
# `<member>` lists and ISO times in CloudWatch's namespace. Waits for crates/cloudwatch.
# Method: raw requests with cbor2 and a form.
def test_success_bytes(fc):
    at = now() - timedelta(seconds=120)
    status, headers, data = raw_cbor(fc, "PutMetricData", {
        "Namespace": NAMESPACE,
        "MetricData": [{"MetricName": "Raw", "Dimensions": DIMENSIONS, "Timestamp": at,
                        "Value": 2.0, "Unit": "Count"}]})
    assert status == 200, data
    assert headers["smithy-protocol"] == "rpc-v2-cbor"
    assert data == b"" and "content-type" not in headers

    status, headers, data = raw_cbor(fc, "GetMetricStatistics", {
        "Namespace": NAMESPACE, "MetricName": "Raw", "Dimensions": DIMENSIONS,
        "StartTime": at - timedelta(minutes=5), "EndTime": now() + timedelta(minutes=1),
        "Period": 60, "Statistics": ["Sum"]})
    assert status == 200, data
    assert headers["content-type"] == "application/cbor"
    document = cbor2.loads(data)
    (point,) = document["Datapoints"]
    assert isinstance(point["Timestamp"], datetime)  # cbor2 reads tag 1 as a datetime
    assert isinstance(point["Sum"], float) and point["Sum"] == 2.0

    status, headers, data = raw_query(fc, {
        "Action": "GetMetricStatistics", "Version": "2010-08-01", "Namespace": NAMESPACE,
        "MetricName": "Raw", "Dimensions.member.1.Name": "CacheClusterId",
        "Dimensions.member.1.Value": "wire-001", "StartTime": iso(at - timedelta(minutes=5)),
        "EndTime": iso(now() + timedelta(minutes=1)), "Period": "60",
        "Statistics.member.1": "Sum"})
    assert status == 200, data
    root = ET.fromstring(data)
    ns = {"cw": NAMESPACE_XML}
    assert root.tag == f"{{{NAMESPACE_XML}}}GetMetricStatisticsResponse"
    assert root.find("cw:GetMetricStatisticsResult/cw:Label", ns).text == "Raw"
    (member,) = root.findall("cw:GetMetricStatisticsResult/cw:Datapoints/cw:member", ns)
    assert member.find("cw:Sum", ns).text == "2.0"
    stamp = member.find("cw:Timestamp", ns).text
    assert stamp.endswith("Z") and datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    assert root.find("cw:ResponseMetadata/cw:RequestId", ns).text == headers["x-amzn-requestid"]


# Goal: the reference runbooks' aws CLI v1 calls work verbatim: get-metric-statistics for a
# cluster with no data answers an empty Datapoints list (as AWS does), and a refused call
# prints AWS's error line. Waits for crates/cloudwatch. Method: the CLI with the instance's
# environment (AWS_ENDPOINT_URL).
def test_aws_cli_v1_verbatim(fc):
    end = now()
    proc = fc.aws("cloudwatch", "get-metric-statistics", "--namespace", "AWS/ElastiCache",
                  "--metric-name", "CPUUtilization", "--dimensions",
                  "Name=CacheClusterId,Value=x", "--statistics", "Average", "--period", "300",
                  "--start-time", iso(end - timedelta(hours=1)), "--end-time", iso(end))
    assert json.loads(proc.stdout) == {"Label": "CPUUtilization", "Datapoints": []}

    proc = fc.aws("cloudwatch", "get-metric-statistics", "--namespace", "AWS/ElastiCache",
                  "--metric-name", "CPUUtilization", "--dimensions",
                  "Name=CacheClusterId,Value=x", "--statistics", "Average", "--period", "300",
                  "--start-time", iso(end), "--end-time", iso(end - timedelta(hours=1)),
                  check=False)
    assert proc.returncode != 0
    assert "An error occurred (InvalidParameterValue) when calling the GetMetricStatistics " \
           "operation" in proc.stderr, proc.stderr
