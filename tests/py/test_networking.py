"""Networking as the runbooks use it: the EC2 subset (VPCs, subnets, security groups) and cache
subnet groups, driven by the aws CLI lines of shared/reference (failover lab steps 1-2 and its
CLI block, the connectivity guide's security-group checks, the ksqlDB module's diagnosis) and
by boto3's strict ec2 parser, against `ferrocache up` with only AWS_ENDPOINT_URL set."""

import json

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from harness import REGION, wait_group_available

GROUP = "practice-redis-replication-multi"
SUBNET_GROUP = "practice-redis-subnet-group-multi"


def ec2_client(fc):
    """boto3's EC2 client for `fc`, without retries (a 5xx shows at once)."""
    client = boto3.client(
        "ec2", endpoint_url=fc.endpoint_url, region_name=REGION,
        aws_access_key_id="test", aws_secret_access_key="test",
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))
    client.meta.events.register("after-call.ec2", fc._record_server_error)
    return client


def aws_json(fc, *args):
    return json.loads(fc.aws(*args, "--output", "json").stdout)


def lab_network(fc):
    """The lab's step 1 (a VPC 10.0.0.0/16 with private subnets 10.0.11.0/24 in us-east-1a,
    10.0.12.0/24 in us-east-1b and the optional 10.0.13.0/24 in us-east-1c) with the CLI."""
    vpc_id = fc.aws("ec2", "create-vpc", "--cidr-block", "10.0.0.0/16",
                    "--query", "Vpc.VpcId", "--output", "text").stdout.strip()
    subnets = []
    for cidr, zone in [("10.0.11.0/24", "us-east-1a"), ("10.0.12.0/24", "us-east-1b"),
                       ("10.0.13.0/24", "us-east-1c")]:
        subnets.append(fc.aws("ec2", "create-subnet", "--vpc-id", vpc_id, "--cidr-block", cidr,
                              "--availability-zone", zone, "--query", "Subnet.SubnetId",
                              "--output", "text").stdout.strip())
    return vpc_id, subnets


# Goal: the failover lab's CLI block runs verbatim over a real subnet group and security group:
# create-cache-subnet-group over two AZs, create-security-group in the lab's VPC,
# authorize-security-group-ingress --protocol tcp --port 6379 --cidr 10.0.0.0/16,
# create-replication-group with --cache-subnet-group-name and --security-group-ids; the members
# spread over the subnet group's zones, report the subnet group and security group, and the
# cleanup refuses to delete the subnet group while the retained primary uses it.
# Method: run the lab's lines with the aws CLI (ids substituted for the lab's placeholders).
def test_failover_lab_cli_block_with_subnet_group_and_security_group(fc):
    vpc_id, subnets = lab_network(fc)
    VPC_ID = vpc_id  # noqa: N806 (the lab's variable name)

    created = aws_json(fc, "elasticache", "create-cache-subnet-group",
                       "--cache-subnet-group-name", SUBNET_GROUP,
                       "--cache-subnet-group-description", "Multi-AZ Redis",
                       "--subnet-ids", subnets[0], subnets[1],
                       "--region", REGION)["CacheSubnetGroup"]
    assert created["VpcId"] == vpc_id
    assert created["ARN"] == f"arn:aws:elasticache:{REGION}:123456789012:subnetgroup:{SUBNET_GROUP}"
    assert [(s["SubnetIdentifier"], s["SubnetAvailabilityZone"]["Name"],
             s["SupportedNetworkTypes"]) for s in created["Subnets"]] == [
        (subnets[0], "us-east-1a", ["ipv4"]), (subnets[1], "us-east-1b", ["ipv4"])]
    assert created["SupportedNetworkTypes"] == ["ipv4"]

    SG_ID = fc.aws("ec2", "create-security-group",  # noqa: N806
                   "--group-name", "practice-redis-multi-sg",
                   "--description", "Redis Multi-AZ SG",
                   "--vpc-id", VPC_ID,
                   "--query", "GroupId",
                   "--output", "text",
                   "--region", REGION).stdout.strip()
    assert SG_ID.startswith("sg-") and len(SG_ID) == 20

    fc.aws("ec2", "authorize-security-group-ingress",
           "--group-id", SG_ID,
           "--protocol", "tcp", "--port", "6379", "--cidr", "10.0.0.0/16",
           "--region", REGION)

    fc.aws("elasticache", "create-replication-group",
           "--replication-group-id", GROUP,
           "--replication-group-description", "Redis replication with failover",
           "--engine", "redis",
           "--engine-version", "7.0",
           "--cache-node-type", "cache.t3.micro",
           "--num-cache-clusters", "3",
           "--automatic-failover-enabled",
           "--multi-az",
           "--cache-subnet-group-name", SUBNET_GROUP,
           "--security-group-ids", SG_ID,
           "--region", REGION)
    fc.aws("elasticache", "wait", "replication-group-available",
           "--replication-group-id", GROUP, "--region", REGION)

    group = aws_json(fc, "elasticache", "describe-replication-groups",
                     "--replication-group-id", GROUP)["ReplicationGroups"][0]
    zones = [m["PreferredAvailabilityZone"] for m in group["NodeGroups"][0]["NodeGroupMembers"]]
    # Three members over a two-AZ subnet group: both zones used, only those.
    assert sorted(set(zones)) == ["us-east-1a", "us-east-1b"], zones

    cluster = aws_json(fc, "elasticache", "describe-cache-clusters",
                       "--cache-cluster-id", f"{GROUP}-001",
                       "--show-cache-node-info")["CacheClusters"][0]
    assert cluster["CacheSubnetGroupName"] == SUBNET_GROUP
    assert cluster["SecurityGroups"] == [{"SecurityGroupId": SG_ID, "Status": "active"}]
    assert cluster["CacheNodes"][0]["CustomerAvailabilityZone"] in ("us-east-1a", "us-east-1b")

    # The connectivity guide's step 2, verbatim.
    REDIS_SG = fc.aws("elasticache", "describe-cache-clusters",  # noqa: N806
                      "--cache-cluster-id", f"{GROUP}-001",
                      "--query", "CacheClusters[0].SecurityGroups[0].SecurityGroupId",
                      "--output", "text").stdout.strip()
    assert REDIS_SG == SG_ID
    table = fc.aws("ec2", "describe-security-groups",
                   "--group-ids", REDIS_SG,
                   "--query", "SecurityGroups[0].IpPermissions",
                   "--output", "table").stdout
    assert "6379" in table and "10.0.0.0/16" in table
    permissions = aws_json(fc, "ec2", "describe-security-groups", "--group-ids", REDIS_SG,
                           "--query", "SecurityGroups[0].IpPermissions")
    assert permissions == [{"IpProtocol": "tcp", "FromPort": 6379, "ToPort": 6379,
                            "UserIdGroupPairs": [], "IpRanges": [{"CidrIp": "10.0.0.0/16"}],
                            "Ipv6Ranges": [], "PrefixListIds": []}]
    # The ksqlDB module's diagnosis line.
    fc.aws("ec2", "describe-security-groups", "--group-ids", REDIS_SG)

    # Cleanup as the lab writes it: the retained primary still uses the subnet group and the
    # security group, so both deletes are refused with AWS's codes.
    fc.aws("elasticache", "delete-replication-group",
           "--replication-group-id", GROUP,
           "--retain-primary-cluster",
           "--region", REGION)
    busy = fc.aws("elasticache", "delete-cache-subnet-group",
                  "--cache-subnet-group-name", SUBNET_GROUP,
                  "--region", REGION, check=False)
    assert busy.returncode != 0 and "CacheSubnetGroupInUse" in busy.stderr, busy.stderr
    busy = fc.aws("ec2", "delete-security-group", "--group-id", SG_ID, "--region", REGION,
                  check=False)
    assert busy.returncode != 0 and "DependencyViolation" in busy.stderr, busy.stderr
    gone = fc.aws("ec2", "terminate-instances", "--instance-ids", "i-0123456789abcdef0",
                  "--region", REGION, check=False)
    assert "InvalidInstanceID.NotFound" in gone.stderr, gone.stderr


# Goal: the connectivity guide's fix, `authorize-security-group-ingress --protocol tcp --port
# 6379 --source-group $EKS_WORKER_SG`, stores a group-to-group rule; a duplicate is refused with
# InvalidPermission.Duplicate; revoke removes it. Method: CLI lines against two groups of the
# default VPC; boto3 parses the answers.
def test_source_group_rule_and_duplicates(fc):
    ec2 = ec2_client(fc)
    REDIS_SG = ec2.create_security_group(  # noqa: N806
        GroupName="redis", Description="redis")["GroupId"]
    EKS_WORKER_SG = ec2.create_security_group(  # noqa: N806
        GroupName="eks-workers", Description="workers")["GroupId"]
    fc.aws("ec2", "authorize-security-group-ingress",
           "--group-id", REDIS_SG,
           "--protocol", "tcp",
           "--port", "6379",
           "--source-group", EKS_WORKER_SG)
    again = fc.aws("ec2", "authorize-security-group-ingress", "--group-id", REDIS_SG,
                   "--protocol", "tcp", "--port", "6379", "--source-group", EKS_WORKER_SG,
                   check=False)
    assert "InvalidPermission.Duplicate" in again.stderr, again.stderr
    group = ec2.describe_security_groups(GroupIds=[REDIS_SG])["SecurityGroups"][0]
    assert group["IpPermissions"][0]["UserIdGroupPairs"] == [
        {"UserId": "123456789012", "GroupId": EKS_WORKER_SG}]
    # The source group is referenced, so it cannot go yet.
    with pytest.raises(ClientError) as e:
        ec2.delete_security_group(GroupId=EKS_WORKER_SG)
    assert e.value.response["Error"]["Code"] == "DependencyViolation"
    fc.aws("ec2", "revoke-security-group-ingress", "--group-id", REDIS_SG,
           "--protocol", "tcp", "--port", "6379", "--source-group", EKS_WORKER_SG)
    assert ec2.describe_security_groups(GroupIds=[REDIS_SG])["SecurityGroups"][0][
        "IpPermissions"] == []
    assert ec2.delete_security_group(GroupId=EKS_WORKER_SG)["Return"] is True


# Goal: the default VPC exists from the start with AWS's shape (172.31.0.0/16, one default
# subnet per zone, a `default` group letting its own members in and everything out), the
# built-in `default` cache subnet group covers its subnets, and a group created without a
# subnet group or security group gets both defaults. Method: boto3's ec2 and elasticache
# clients (strict parsers), plus filters with the CLI.
def test_default_vpc_and_default_subnet_group(fc, ec):
    ec2 = ec2_client(fc)
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    assert len(vpcs) == 1 and vpcs[0]["CidrBlock"] == "172.31.0.0/16" and vpcs[0]["IsDefault"]
    vpc_id = vpcs[0]["VpcId"]
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
    assert sorted(s["AvailabilityZone"] for s in subnets) == [
        "us-east-1a", "us-east-1b", "us-east-1c"]
    assert all(s["DefaultForAz"] for s in subnets)
    default_sg = ec2.describe_security_groups(
        Filters=[{"Name": "group-name", "Values": ["default"]},
                 {"Name": "vpc-id", "Values": [vpc_id]}])["SecurityGroups"][0]
    assert default_sg["IpPermissions"][0]["IpProtocol"] == "-1"
    assert default_sg["IpPermissions"][0]["UserIdGroupPairs"][0]["GroupId"] == default_sg["GroupId"]
    assert default_sg["IpPermissionsEgress"][0]["IpRanges"] == [{"CidrIp": "0.0.0.0/0"}]
    names = fc.aws("ec2", "describe-security-groups", "--group-names", "default",
                   "--query", "SecurityGroups[].GroupName", "--output", "text").stdout.split()
    assert names == ["default"]

    default = ec.describe_cache_subnet_groups(CacheSubnetGroupName="default")[
        "CacheSubnetGroups"][0]
    assert default["VpcId"] == vpc_id
    assert sorted(s["SubnetIdentifier"] for s in default["Subnets"]) == sorted(
        s["SubnetId"] for s in subnets)

    ec.create_replication_group(ReplicationGroupId="plain", ReplicationGroupDescription="d",
                                NumCacheClusters=2)
    wait_group_available(ec, "plain")
    cluster = ec.describe_cache_clusters(CacheClusterId="plain-001")["CacheClusters"][0]
    assert cluster["CacheSubnetGroupName"] == "default"
    assert cluster["SecurityGroups"] == [
        {"SecurityGroupId": default_sg["GroupId"], "Status": "active"}]
    with pytest.raises(ClientError) as e:
        ec2.delete_security_group(GroupId=default_sg["GroupId"])
    assert e.value.response["Error"]["Code"] == "CannotDelete"


# Goal: AWS's refusals for subnet groups and references: unknown subnets, subnets of two VPCs,
# duplicates, unknown names on describe/create-replication-group, a security group of another
# VPC, a preferred zone outside the subnet group; and the EC2 errors boto3 maps by code.
# Method: boto3 calls, checking code and message.
def test_subnet_group_and_reference_errors(fc, ec):
    ec2 = ec2_client(fc)
    vpc_id, subnets = lab_network(fc)
    default_subnet = ec2.describe_subnets(
        Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"][0]["SubnetId"]

    def code(fn, **kw):
        with pytest.raises(ClientError) as e:
            fn(**kw)
        err = e.value.response["Error"]
        return err["Code"], err["Message"]

    assert code(ec.create_cache_subnet_group, CacheSubnetGroupName="g",
                CacheSubnetGroupDescription="d", SubnetIds=["subnet-11111111"]) == (
        "InvalidParameterValue", "Some input subnets in :[subnet-11111111] are invalid.")
    assert code(ec.create_cache_subnet_group, CacheSubnetGroupName="g",
                CacheSubnetGroupDescription="d", SubnetIds=[subnets[0], default_subnet]) == (
        "InvalidSubnet", f"Subnets {subnets[0]} and {default_subnet} are not in the same VPC.")
    assert code(ec.create_cache_subnet_group, CacheSubnetGroupName="bad--name",
                CacheSubnetGroupDescription="d", SubnetIds=[subnets[0]])[0] == (
        "InvalidParameterValue")
    ec.create_cache_subnet_group(CacheSubnetGroupName="Two-AZ", CacheSubnetGroupDescription="d",
                                 SubnetIds=subnets[:2])
    assert code(ec.create_cache_subnet_group, CacheSubnetGroupName="two-az",
                CacheSubnetGroupDescription="d", SubnetIds=subnets[:2]) == (
        "CacheSubnetGroupAlreadyExists", "Cache subnet group two-az already exists.")
    assert code(ec.describe_cache_subnet_groups, CacheSubnetGroupName="nope")[0] == (
        "CacheSubnetGroupNotFoundFault")
    assert code(ec.create_replication_group, ReplicationGroupId="x",
                ReplicationGroupDescription="d", CacheSubnetGroupName="nope")[0] == (
        "CacheSubnetGroupNotFoundFault")
    default_sg = ec2.describe_security_groups(GroupNames=["default"])["SecurityGroups"][0]
    assert code(ec.create_replication_group, ReplicationGroupId="x",
                ReplicationGroupDescription="d", CacheSubnetGroupName="two-az",
                SecurityGroupIds=[default_sg["GroupId"]]) == (
        "InvalidParameterCombination",
        f"Subnet group [two-az] belongs to a different VPC [{vpc_id}] than "
        f"[{default_sg['VpcId']}]")
    assert code(ec.create_replication_group, ReplicationGroupId="x",
                ReplicationGroupDescription="d", CacheSubnetGroupName="two-az",
                NumCacheClusters=2,
                PreferredCacheClusterAZs=["us-east-1a", "us-east-1c"])[0] == (
        "InvalidVPCNetworkStateFault")

    # Modify (description and subnets) and paging over default + two-az.
    modified = ec.modify_cache_subnet_group(CacheSubnetGroupName="two-az",
                                            CacheSubnetGroupDescription="three",
                                            SubnetIds=subnets)["CacheSubnetGroup"]
    assert len(modified["Subnets"]) == 3 and modified["CacheSubnetGroupDescription"] == "three"
    pages = list(ec.get_paginator("describe_cache_subnet_groups").paginate(
        PaginationConfig={"PageSize": 20}))
    assert [g["CacheSubnetGroupName"] for p in pages for g in p["CacheSubnetGroups"]] == [
        "default", "two-az"]
    ec.delete_cache_subnet_group(CacheSubnetGroupName="two-az")

    # EC2 errors by code.
    assert code(ec2.describe_vpcs, VpcIds=["vpc-0123456789abcdef0"]) == (
        "InvalidVpcID.NotFound", "The vpc ID 'vpc-0123456789abcdef0' does not exist")
    assert code(ec2.describe_subnets, SubnetIds=["subnet-0123456789abcdef0"])[0] == (
        "InvalidSubnetID.NotFound")
    assert code(ec2.describe_security_groups, GroupIds=["sg-0123456789abcdef0"]) == (
        "InvalidGroup.NotFound", "The security group 'sg-0123456789abcdef0' does not exist")
    assert code(ec2.create_subnet, VpcId=vpc_id, CidrBlock="10.1.0.0/24")[0] == (
        "InvalidSubnet.Range")
    assert code(ec2.create_subnet, VpcId=vpc_id, CidrBlock="10.0.11.0/25")[0] == (
        "InvalidSubnet.Conflict")
    ec2.create_security_group(GroupName="dup", Description="d", VpcId=vpc_id)
    assert code(ec2.create_security_group, GroupName="dup", Description="d", VpcId=vpc_id) == (
        "InvalidGroup.Duplicate", f"The security group 'dup' already exists for VPC '{vpc_id}'")
    assert code(ec2.describe_vpcs, Filters=[{"Name": "bogus", "Values": ["x"]}])[0] == (
        "InvalidParameterValue")


# Goal: members of a group over a three-AZ subnet group land in three different zones, each
# one of the subnet group's; PreferredCacheClusterAZs are honoured. Method: boto3 create,
# settle, read PreferredAvailabilityZone of each member.
def test_members_spread_over_the_subnet_groups_zones(fc, ec):
    _, subnets = lab_network(fc)
    ec.create_cache_subnet_group(CacheSubnetGroupName="three", CacheSubnetGroupDescription="d",
                                 SubnetIds=subnets)
    ec.create_replication_group(ReplicationGroupId="spread", ReplicationGroupDescription="d",
                                NumCacheClusters=3, CacheSubnetGroupName="three")
    ec.create_replication_group(ReplicationGroupId="pinned", ReplicationGroupDescription="d",
                                NumCacheClusters=2, CacheSubnetGroupName="three",
                                PreferredCacheClusterAZs=["us-east-1c", "us-east-1c"])
    wait_group_available(ec, "spread")
    wait_group_available(ec, "pinned")
    members = ec.describe_replication_groups(ReplicationGroupId="spread")[
        "ReplicationGroups"][0]["NodeGroups"][0]["NodeGroupMembers"]
    assert sorted(m["PreferredAvailabilityZone"] for m in members) == [
        "us-east-1a", "us-east-1b", "us-east-1c"]
    members = ec.describe_replication_groups(ReplicationGroupId="pinned")[
        "ReplicationGroups"][0]["NodeGroups"][0]["NodeGroupMembers"]
    assert [m["PreferredAvailabilityZone"] for m in members] == ["us-east-1c", "us-east-1c"]
