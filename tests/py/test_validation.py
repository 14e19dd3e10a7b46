"""Bad input: every parameter is validated server-side (botocore only checks required members
and minimums) and answered with AWS's wire code and HTTP status in the XML error envelope;
no response is ever a 5xx or HTML."""

import socket
import urllib.parse

import pytest
from botocore.exceptions import ClientError

from harness import error_code

AUTHORIZATION = ("AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/elasticache/aws4_request, "
                 "SignedHeaders=content-type;host;x-amz-date, Signature=" + "0" * 64)


def create(ec, group_id="valid-group", **params):
    args = {"ReplicationGroupId": group_id,
            "ReplicationGroupDescription": "validation", "Engine": "redis",
            "CacheNodeType": "cache.t3.micro"}
    args.update(params)
    return ec.create_replication_group(**args)


def post_raw(fc, body: bytes, content_type="application/x-www-form-urlencoded; charset=utf-8",
             timeout=30.0):
    """POST / with a raw body; returns (status, headers, body) or raises on no response.

    A raw socket is used (not http.client) so that a server answering early (e.g. 413 before
    the whole body was read) is still seen: the response is read even when sending fails."""
    host, port = fc.listen.split(":")
    head = (f"POST / HTTP/1.1\r\nHost: {fc.listen}\r\nContent-Type: {content_type}\r\n"
            f"X-Amz-Date: 20260101T000000Z\r\nAuthorization: {AUTHORIZATION}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    sock = socket.create_connection((host, int(port)), timeout=timeout)
    try:
        try:
            sock.sendall(head + body)
        except OSError:
            pass  # the server may answer and close before reading everything
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        sock.close()
    raw = b"".join(chunks)
    assert raw, "no HTTP response at all (connection closed or reset)"
    header_blob, _, payload = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = header_blob.decode("latin-1").split("\r\n")
    status = int(status_line.split()[1])
    headers = {}
    for line in header_lines:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        payload = dechunk(payload)
    return status, headers, payload.decode("utf-8", "replace")


def dechunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, rest = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out += rest[:size]
        data = rest[size + 2:]
    return out


def assert_xml_client_error(status, body, code=None):
    """A 4xx with an awsQuery XML error envelope (and the given code)."""
    assert 400 <= status < 500, (status, body)
    stripped = body.lstrip().lower()
    assert not stripped.startswith("<html") and not stripped.startswith("<!doctype"), body
    assert "<ErrorResponse" in body and "<Code>" in body, body
    if code is not None:
        assert f"<Code>{code}</Code>" in body, body
    assert "<RequestId>" in body, body


# Goal: ReplicationGroupId follows AWS's identifier rules (1-40 chars, starts with a letter,
# letters/digits/hyphens, no `--`, no trailing hyphen). Method: each bad form through boto3;
# each must be InvalidParameterValue/400 and create nothing.
@pytest.mark.parametrize("bad_id", ["1abc", "a--b", "abc-", "a" * 41, "under_score"])
def test_bad_replication_group_ids(fc, ec, bad_id):
    with pytest.raises(ClientError) as err:
        create(ec, bad_id, NumCacheClusters=1)
    assert error_code(err) == ("InvalidParameterValue", 400)
    assert ec.describe_replication_groups()["ReplicationGroups"] == []


# Goal: the id limits are inclusive and ids are stored lower-case. Method: a 40-char mixed-case
# id is accepted and described back lower-case; a duplicate in another case is a duplicate.
def test_id_limits_and_lower_case(fc, ec):
    group_id = "Ab" + "c" * 38
    created = create(ec, group_id, NumCacheClusters=1)["ReplicationGroup"]
    assert created["ReplicationGroupId"] == group_id.lower()
    with pytest.raises(ClientError) as err:
        create(ec, group_id.lower(), NumCacheClusters=1)
    assert error_code(err) == ("ReplicationGroupAlreadyExists", 400)


# Goal: a second group with the same id is refused. Method: create twice.
def test_duplicate_id(fc, ec):
    create(ec, "dup", NumCacheClusters=1)
    with pytest.raises(ClientError) as err:
        create(ec, "dup", NumCacheClusters=1)
    assert error_code(err) == ("ReplicationGroupAlreadyExists", 400)


# Goal: automatic failover needs at least 2 cache clusters, refused with AWS's exact message.
# Method: AutomaticFailoverEnabled with NumCacheClusters=1.
def test_automatic_failover_needs_two_clusters(fc, ec):
    with pytest.raises(ClientError) as err:
        create(ec, "af-one", NumCacheClusters=1, AutomaticFailoverEnabled=True)
    assert error_code(err) == ("InvalidParameterCombination", 400)
    assert err.value.response["Error"]["Message"] == (
        "When using automatic failover, there must be at least 2 cache clusters in the "
        "replication group.")


# Goal: Multi-AZ needs automatic failover (InvalidParameterCombination). Method: MultiAZEnabled
# with AutomaticFailoverEnabled=false on 2 nodes.
def test_multi_az_needs_automatic_failover(fc, ec):
    with pytest.raises(ClientError) as err:
        create(ec, "maz-no-af", NumCacheClusters=2, MultiAZEnabled=True,
               AutomaticFailoverEnabled=False)
    assert error_code(err) == ("InvalidParameterCombination", 400)


# Goal: out-of-range or unknown values are refused with a 400 (InvalidParameterValue, or
# InvalidParameterCombination where AWS words it so, e.g. an engine version it cannot find).
# Method: one bad member per case.
@pytest.mark.parametrize("params", [
    {"NumCacheClusters": 7},
    {"ReplicasPerNodeGroup": 6},
    {"NumCacheClusters": 2, "Port": 70000},
    {"NumCacheClusters": 1, "CacheNodeType": "cache.nonexistent.huge"},
    {"NumCacheClusters": 1, "Engine": "memcachedx"},
    {"NumCacheClusters": 1, "EngineVersion": "2.0"},
    {"NumCacheClusters": 2, "PreferredCacheClusterAZs": ["us-east-1a"]},
])
def test_invalid_parameter_values(fc, ec, params):
    with pytest.raises(ClientError) as err:
        create(ec, "bad-values", **params)
    code, status = error_code(err)
    assert status == 400, (params, code)
    assert code in ("InvalidParameterValue", "InvalidParameterCombination"), (params, code)


# Goal: NumCacheClusters is 1-6 (1 primary + 5 replicas). Method: ask for 7.
def test_num_cache_clusters_seven(fc, ec):
    with pytest.raises(ClientError) as err:
        create(ec, "seven", NumCacheClusters=7)
    assert error_code(err) == ("InvalidParameterValue", 400)


# Goal: an unknown parameter group is CacheParameterGroupNotFound (404). Method: name one that
# does not exist.
def test_unknown_parameter_group(fc, ec):
    with pytest.raises(ClientError) as err:
        create(ec, "pg-missing", NumCacheClusters=1, CacheParameterGroupName="no-such-pg")
    assert error_code(err) == ("CacheParameterGroupNotFound", 404)


# Goal: an unknown subnet group is CacheSubnetGroupNotFoundFault with HTTP 400, not 404
# (the model's irregular status). Method: name one that does not exist.
def test_unknown_subnet_group(fc, ec):
    with pytest.raises(ClientError) as err:
        create(ec, "sng-missing", NumCacheClusters=1, CacheSubnetGroupName="no-such-subnets")
    assert error_code(err) == ("CacheSubnetGroupNotFoundFault", 400)


# Goal: unknown resources in the other operations. Method: describe/delete/modify what is not
# there.
def test_not_found_codes(fc, ec):
    for call, code, status in [
        (lambda: ec.describe_replication_groups(ReplicationGroupId="nope"),
         "ReplicationGroupNotFoundFault", 404),
        (lambda: ec.delete_replication_group(ReplicationGroupId="nope"),
         "ReplicationGroupNotFoundFault", 404),
        (lambda: ec.describe_cache_clusters(CacheClusterId="nope"),
         "CacheClusterNotFound", 404),
        (lambda: ec.delete_cache_cluster(CacheClusterId="nope"), "CacheClusterNotFound", 404),
        (lambda: ec.reboot_cache_cluster(CacheClusterId="nope", CacheNodeIdsToReboot=["0001"]),
         "CacheClusterNotFound", 404),
        (lambda: ec.increase_replica_count(ReplicationGroupId="nope", NewReplicaCount=2,
                                           ApplyImmediately=True),
         "ReplicationGroupNotFoundFault", 404),
    ]:
        with pytest.raises(ClientError) as err:
            call()
        assert error_code(err) == (code, status)


# Goal: MaxRecords outside AWS's 20-100 is refused. Method: boto3 with 5 and 101.
@pytest.mark.parametrize("max_records", [5, 101])
def test_max_records_range(fc, ec, max_records):
    with pytest.raises(ClientError) as err:
        ec.describe_replication_groups(MaxRecords=max_records)
    assert error_code(err) == ("InvalidParameterValue", 400)


# Goal: requests no SDK would send still get an XML 4xx: unknown action, missing action,
# missing version, a non-numeric MaxRecords, an undecodable form, a non-form body.
# Method: raw HTTP POSTs.
@pytest.mark.parametrize("body,code", [
    (b"Action=NoSuchAction&Version=2015-02-02", "InvalidAction"),
    (b"Version=2015-02-02", None),
    (b"Action=DescribeReplicationGroups&Version=2015-02-02&MaxRecords=abc", None),
    (b"Action=DescribeReplicationGroups&Version=2015-02-02&MaxRecords=99999999999999999999",
     None),
    (b"Action=CreateReplicationGroup&Version=2015-02-02", None),
    (b"Action=CreateReplicationGroup&Version=2015-02-02&ReplicationGroupId=x%ZZ", None),
    (b"Action=DescribeCacheClusters&Version=2015-02-02&ShowCacheNodeInfo=maybe", None),
    (b"\xff\xfe\x00garbage", None),
])
def test_malformed_requests_get_xml_4xx(fc, body, code):
    status, _headers, text = post_raw(fc, body)
    assert_xml_client_error(status, text, code)


# Goal: an unknown action is InvalidAction, HTTP 400, as XML with an XML content type.
# Method: raw POST with Action=FlyToTheMoon.
def test_unknown_action_is_invalid_action_400(fc):
    status, headers, text = post_raw(fc, b"Action=FlyToTheMoon&Version=2015-02-02")
    assert status == 400
    assert_xml_client_error(status, text, "InvalidAction")
    assert "xml" in headers.get("content-type", ""), headers


# Goal: a huge body is refused with a 4xx, with bounded memory, not a 5xx or a hang.
# Method: a 2 MiB form through a raw socket.
def test_oversized_body(fc):
    filler = urllib.parse.quote("x" * (2 * 1024 * 1024))
    body = ("Action=DescribeReplicationGroups&Version=2015-02-02&Junk=" + filler).encode()
    status, _headers, text = post_raw(fc, body)
    assert 400 <= status < 500, (status, text[:200])
    assert not text.lstrip().lower().startswith(("<html", "<!doctype")), text[:200]
    # The server is still healthy afterwards.
    status, _headers, text = post_raw(fc, b"Action=DescribeReplicationGroups&Version=2015-02-02")
    assert status == 200 and "<DescribeReplicationGroupsResult>" in text, text


# Goal: GET and other paths do not produce HTML or 5xx. Method: raw GET requests.
@pytest.mark.parametrize("request_line", ["GET / HTTP/1.1", "GET /nope HTTP/1.1",
                                          "PUT / HTTP/1.1"])
def test_other_methods_are_not_5xx_or_html(fc, request_line):
    host, port = fc.listen.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(f"{request_line}\r\nHost: {fc.listen}\r\nContent-Length: 0\r\n"
                     "Connection: close\r\n\r\n".encode())
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    status = int(raw.split(b" ", 2)[1])
    assert status < 500, raw[:300]
    body = raw.partition(b"\r\n\r\n")[2].lstrip().lower()
    assert not body.startswith((b"<html", b"<!doctype")), raw[:300]
