"""`ferrocache up --credentials FILE`: the API verifies SigV4 signatures against the keys of an
AWS shared-credentials file and answers as AWS does (HTTP 403 with `InvalidClientTokenId`,
`SignatureDoesNotMatch`, `MissingAuthenticationToken`); without the flag any key is accepted.

Method: a real `ferrocache up` with a credentials file of two profiles; boto3 (ElastiCache and
EC2) and the aws CLI signing with good, unknown and wrong keys, and no signature at all."""

import os
import subprocess

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from harness import REGION, Ferrocache, error_code

KEYS = {"AKIDFERROCACHEAPP": "app-secret/with+signs=", "AKIDFERROCACHECI": "ci-secret"}


@pytest.fixture
def signed_fc(tmp_path):
    path = tmp_path / "credentials"
    path.write_text("".join(
        f"[p{i}]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n\n"
        for i, (key, secret) in enumerate(KEYS.items())))
    os.chmod(path, 0o600)
    instance = Ferrocache(extra_args=["--credentials", str(path)])
    try:
        instance.start()
        yield instance
    finally:
        instance.close()


def client(fc, service, key, secret, signed=True):
    config = Config(retries={"total_max_attempts": 1, "mode": "standard"},
                    signature_version=None if signed else UNSIGNED)
    return boto3.client(service, endpoint_url=fc.endpoint_url, region_name=REGION,
                        aws_access_key_id=key, aws_secret_access_key=secret, config=config)


# Goal: a key of the file works for ElastiCache and EC2 calls, from boto3 and the aws CLI.
def test_keys_of_the_file_are_accepted(signed_fc):
    for key, secret in KEYS.items():
        ec = client(signed_fc, "elasticache", key, secret)
        assert ec.describe_cache_clusters()["CacheClusters"] == []
        ec2 = client(signed_fc, "ec2", key, secret)
        assert ec2.describe_vpcs()["Vpcs"], "the default VPC is listed"
    env = signed_fc.env()
    key, secret = next(iter(KEYS.items()))
    env.update({"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret})
    proc = subprocess.run(["aws", "elasticache", "describe-cache-parameter-groups",
                           "--max-items", "1"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr


# Goal: an unknown key, a wrong secret and an unsigned request are refused with AWS's codes,
# HTTP 403, in each API's own error document; nothing is created by a refused call.
def test_bad_credentials_are_refused(signed_fc):
    ec = client(signed_fc, "elasticache", "AKIDNOTINTHEFILE", "whatever")
    with pytest.raises(ClientError) as e:
        ec.describe_cache_clusters()
    assert error_code(e) == ("InvalidClientTokenId", 403)

    ec = client(signed_fc, "elasticache", "AKIDFERROCACHEAPP", "wrong-secret")
    with pytest.raises(ClientError) as e:
        ec.create_cache_cluster(CacheClusterId="never", CacheNodeType="cache.t3.micro",
                                Engine="redis")
    assert error_code(e) == ("SignatureDoesNotMatch", 403)
    assert "does not match the signature you provided" in str(e.value)

    ec2 = client(signed_fc, "ec2", "AKIDFERROCACHEAPP", "wrong-secret")
    with pytest.raises(ClientError) as e:
        ec2.describe_security_groups()
    assert error_code(e) == ("SignatureDoesNotMatch", 403)

    anonymous = client(signed_fc, "elasticache", "x", "y", signed=False)
    with pytest.raises(ClientError) as e:
        anonymous.describe_cache_clusters()
    assert error_code(e) == ("MissingAuthenticationToken", 403)

    good = client(signed_fc, "elasticache", *next(iter(KEYS.items())))
    assert good.describe_cache_clusters()["CacheClusters"] == []


# Goal: without --credentials any key, and no signature at all, is accepted (the default).
def test_without_the_flag_any_key_is_accepted(fc):
    assert client(fc, "elasticache", "AKIDANY", "any").describe_cache_clusters()
    assert client(fc, "elasticache", "x", "y", signed=False).describe_cache_clusters()


# Goal: a broken credentials file stops start-up with one line naming the problem.
def test_a_broken_credentials_file_stops_start_up(tmp_path):
    path = tmp_path / "credentials"
    path.write_text("[only-a-key]\naws_access_key_id = AKIDX\n")
    instance = Ferrocache(extra_args=["--credentials", str(path)])
    try:
        with pytest.raises(RuntimeError) as e:
            instance.start()
        assert "aws_secret_access_key" in str(e.value)
    finally:
        instance.close()
