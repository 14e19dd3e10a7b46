"""The failover lab (shared/reference/elasticache-failover-lab.md) as our users run it: its
`aws elasticache` commands ("CLI Alternative") and its redis-cli steps 7-9, verbatim, against
`ferrocache up` with AWS_ENDPOINT_URL set."""

import json

import pytest

from harness import redis_cli, wait_until

GROUP = "practice-redis-replication-multi"
REGION = "us-east-1"


def create_replication_group_command(*extra: str) -> list[str]:
    """Step 3 of the lab's CLI block; the subnet/security-group flags come as `extra`."""
    return [
        "elasticache", "create-replication-group",
        "--replication-group-id", GROUP,
        "--replication-group-description", "Redis replication with failover",
        "--engine", "redis",
        "--engine-version", "7.0",
        "--cache-node-type", "cache.t3.micro",
        "--num-cache-clusters", "3",
        "--automatic-failover-enabled",
        "--multi-az",
        *extra,
        "--region", REGION,
    ]


def run_lab_from_wait(fc):
    """Steps after create: the waiter, the lab's describe query, then steps 7-9 with redis-cli.
    Returns (primary, reader) addresses."""
    fc.aws("elasticache", "wait", "replication-group-available",
           "--replication-group-id", GROUP, "--region", REGION)

    # Step 4 verbatim. For cluster-mode-disabled groups AWS's model puts the endpoints under
    # NodeGroups[0], so this query yields [null, null] on real AWS too: we check it runs and
    # returns a two-element list.
    lab_query = fc.aws("elasticache", "describe-replication-groups",
                       "--replication-group-id", GROUP,
                       "--query", "ReplicationGroups[0].[PrimaryEndpoint.Address,"
                                  "ReaderEndpoint.Address]",
                       "--region", REGION)
    assert len(json.loads(lab_query.stdout)) == 2

    addresses = fc.aws("elasticache", "describe-replication-groups",
                       "--replication-group-id", GROUP,
                       "--query", "ReplicationGroups[0].NodeGroups[0].[PrimaryEndpoint.Address,"
                                  "ReaderEndpoint.Address]",
                       "--output", "text", "--region", REGION)
    primary, reader = addresses.stdout.split()
    assert primary != reader

    # Step 7: connect to the primary and insert data.
    assert redis_cli(primary, "PING").stdout.strip() == "PONG"
    assert redis_cli(primary, "SET", "counter", "100").stdout.strip() == "OK"
    assert redis_cli(primary, "SET", "message", "Hello Replication").stdout.strip() == "OK"
    assert redis_cli(primary, "HSET", "user:1", "name", "Alice", "email",
                     "alice@example.com").stdout.strip() == "2"
    assert redis_cli(primary, "GET", "counter").stdout.strip() == "100"
    assert redis_cli(primary, "HGETALL", "user:1").stdout.split() == [
        "name", "Alice", "email", "alice@example.com"]

    # Step 8: read through the reader endpoint (replication is asynchronous: poll briefly).
    wait_until(lambda: redis_cli(reader, "GET", "counter", port=6379).stdout.strip() == "100",
               timeout=10, what="counter replicated to the reader endpoint")
    wait_until(lambda: redis_cli(reader, "HGETALL", "user:1", port=6379).stdout.split()
               == ["name", "Alice", "email", "alice@example.com"],
               timeout=10, what="user:1 replicated to the reader endpoint")
    readonly = redis_cli(reader, "SET", "readonly-test", "should fail", port=6379)
    assert "READONLY You can't write against a read only replica." in (
        readonly.stdout + readonly.stderr)

    # Step 9: replication status through the primary endpoint.
    info = redis_cli(primary, "INFO", "replication", port=6379).stdout
    assert "role:master" in info
    assert "connected_slaves:2" in info
    return primary, reader


# Goal: the lab's CLI flow runs unchanged (base form: no subnet or security group, which belong
# to a later issue) and its redis-cli steps 7-9 give the lab's outputs; its cleanup command
# (delete with --retain-primary-cluster) leaves the primary as a standalone cluster.
# Method: aws CLI subprocesses with AWS_ENDPOINT_URL and the test credentials, redis-cli
# against the addresses read from NodeGroups[0]; the CLI waiters wait for every transition.
def test_failover_lab_cli_flow(fc):
    created = fc.aws(*create_replication_group_command())
    group = json.loads(created.stdout)["ReplicationGroup"]
    assert group["ReplicationGroupId"] == GROUP
    assert group["Status"] == "creating"

    run_lab_from_wait(fc)

    described = json.loads(fc.aws("elasticache", "describe-replication-groups",
                                  "--replication-group-id", GROUP).stdout)
    group = described["ReplicationGroups"][0]
    assert group["Status"] == "available"
    assert group["AutomaticFailover"] == "enabled"
    assert group["MultiAZ"] == "enabled"
    assert group["MemberClusters"] == [f"{GROUP}-001", f"{GROUP}-002", f"{GROUP}-003"]
    members = group["NodeGroups"][0]["NodeGroupMembers"]
    roles = sorted(m["CurrentRole"] for m in members)
    assert roles == ["primary", "replica", "replica"]

    # Lab cleanup, first command verbatim.
    deleted = fc.aws("elasticache", "delete-replication-group",
                     "--replication-group-id", GROUP, "--retain-primary-cluster",
                     "--region", REGION)
    assert json.loads(deleted.stdout)["ReplicationGroup"]["Status"] == "deleting"
    fc.aws("elasticache", "wait", "replication-group-deleted",
           "--replication-group-id", GROUP, "--region", REGION)
    fc.aws("elasticache", "wait", "cache-cluster-available",
           "--cache-cluster-id", f"{GROUP}-001", "--region", REGION)
    gone = fc.aws("elasticache", "describe-replication-groups",
                  "--replication-group-id", GROUP, check=False)
    assert gone.returncode != 0
    assert "ReplicationGroupNotFoundFault" in gone.stderr


# Goal: the lab's full create command, with its subnet group and security group flags, runs
# once CreateCacheSubnetGroup exists. Method: create the subnet group the lab's step 1 creates,
# then the same flow as above.
@pytest.mark.skip(reason="CreateCacheSubnetGroup and the EC2 security-group subset belong to a "
                         "later issue (configuration); enable this test when they land")
def test_failover_lab_cli_flow_with_subnet_and_security_group(fc):
    fc.aws("elasticache", "create-cache-subnet-group",
           "--cache-subnet-group-name", "practice-redis-subnet-group-multi",
           "--cache-subnet-group-description", "Multi-AZ Redis",
           "--subnet-ids", "subnet-11111111", "subnet-22222222",
           "--region", REGION, "--output", "text")
    sg_id = fc.aws("ec2", "create-security-group", "--group-name", "practice-redis-multi-sg",
                   "--description", "Redis Multi-AZ SG", "--query", "GroupId",
                   "--output", "text", "--region", REGION).stdout.strip()
    fc.aws(*create_replication_group_command(
        "--cache-subnet-group-name", "practice-redis-subnet-group-multi",
        "--security-group-ids", sg_id))
    run_lab_from_wait(fc)
