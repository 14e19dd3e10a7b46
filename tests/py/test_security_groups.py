"""Security groups on the data path: an endpoint admits a connection only when an ingress rule
of one of the group's security groups matches its source address and port; others are closed at
once. Clients pick their source address by binding to another 127.x address (the whole
127.0.0.0/8 is loopback on Linux). Rule changes apply to new connections without a restart."""

import socket

import redis

from harness import REDIS_PORT, wait_group_available, wait_until
from test_networking import ec2_client

ALLOWED = "127.0.0.5"
OTHER = "127.0.0.6"


def ping_from(source: str, host: str) -> bool:
    """PING `host`:6379 from `source`; True on +PONG, False when the server closes at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.bind((source, 0))
        s.connect((host, REDIS_PORT))
        s.sendall(b"PING\r\n")
        try:
            reply = s.recv(64)
        except ConnectionResetError:
            return False
    if reply == b"":
        return False
    assert reply == b"+PONG\r\n", reply
    return True


def default_vpc(ec2):
    return ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]


def cidr_rule(cidr, from_port=6379, to_port=6379, protocol="tcp"):
    return [{"IpProtocol": protocol, "FromPort": from_port, "ToPort": to_port,
             "IpRanges": [{"CidrIp": cidr}]}]


def primary_of(group):
    return group["NodeGroups"][0]["PrimaryEndpoint"]["Address"]


# Goal: with no security group given, the group gets the default VPC's default group, whose
# self-referencing rule admits this host, so the zero-configuration path works from any local
# address. Method: PING from two different 127.x sources.
def test_default_security_group_admits_the_local_machine(fc, ec):
    ec.create_replication_group(ReplicationGroupId="sg-default", ReplicationGroupDescription="d",
                                NumCacheClusters=1)
    group = wait_group_available(ec, "sg-default")
    assert ping_from(ALLOWED, primary_of(group))
    assert ping_from(OTHER, primary_of(group))
    assert redis.Redis(host=primary_of(group), socket_timeout=10).ping()


# Goal: a CIDR rule admits exactly its sources, on every endpoint of the group, and revoking
# and authorizing rules changes who gets in for new connections, with no restart; an open
# connection is not cut by a revoke (security groups are stateful). Method: a group on a new
# security group with 127.0.0.5/32 on 6379; PING from .5 and .6 before and after the changes.
def test_cidr_rules_admit_and_revoke_by_source(fc, ec):
    ec2 = ec2_client(fc)
    sg = ec2.create_security_group(GroupName="app-cache", Description="cache clients",
                                   VpcId=default_vpc(ec2)["VpcId"])["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=cidr_rule(f"{ALLOWED}/32"))
    ec.create_replication_group(ReplicationGroupId="sg-cidr", ReplicationGroupDescription="c",
                                NumCacheClusters=2, SecurityGroupIds=[sg])
    group = wait_group_available(ec, "sg-cidr")
    node_group = group["NodeGroups"][0]
    hosts = [node_group["PrimaryEndpoint"]["Address"], node_group["ReaderEndpoint"]["Address"],
             *[m["ReadEndpoint"]["Address"] for m in node_group["NodeGroupMembers"]]]
    for host in hosts:
        assert ping_from(ALLOWED, host), host
        assert not ping_from(OTHER, host), host

    held = socket.create_connection((hosts[0], REDIS_PORT), timeout=10,
                                    source_address=(ALLOWED, 0))
    held.sendall(b"PING\r\n")
    assert held.recv(64) == b"+PONG\r\n"

    ec2.revoke_security_group_ingress(GroupId=sg, IpPermissions=cidr_rule(f"{ALLOWED}/32"))
    wait_until(lambda: not ping_from(ALLOWED, hosts[0]), what="the revoke to apply")
    held.sendall(b"PING\r\n")
    assert held.recv(64) == b"+PONG\r\n"
    held.close()

    ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=cidr_rule(f"{OTHER}/32"))
    wait_until(lambda: ping_from(OTHER, hosts[0]), what="the new rule to apply")
    assert not ping_from(ALLOWED, hosts[0])


# Goal: only rules for TCP (or all traffic) whose port range covers the group's port count:
# a rule for another port or for UDP admits nobody; an all-traffic rule (-1) and a range that
# covers 6379 do; a rule naming a source security group admits this host. Method: one group,
# rules added one after the other, PING from 127.0.0.5 after each.
def test_rules_must_cover_protocol_and_port(fc, ec):
    ec2 = ec2_client(fc)
    vpc_id = default_vpc(ec2)["VpcId"]
    sg = ec2.create_security_group(GroupName="ports", Description="p", VpcId=vpc_id)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=cidr_rule(
        "127.0.0.0/8", 6380, 6390))
    ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=cidr_rule(
        "127.0.0.0/8", 6379, 6379, "udp"))
    ec.create_replication_group(ReplicationGroupId="sg-ports", ReplicationGroupDescription="p",
                                NumCacheClusters=1, SecurityGroupIds=[sg])
    primary = primary_of(wait_group_available(ec, "sg-ports"))
    assert not ping_from(ALLOWED, primary)

    ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=cidr_rule(
        "127.0.0.0/24", 6000, 7000))
    wait_until(lambda: ping_from(ALLOWED, primary), what="a covering port range to apply")
    ec2.revoke_security_group_ingress(GroupId=sg, IpPermissions=cidr_rule(
        "127.0.0.0/24", 6000, 7000))
    wait_until(lambda: not ping_from(ALLOWED, primary), what="the revoke to apply")

    ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": f"{ALLOWED}/32"}]}])
    wait_until(lambda: ping_from(ALLOWED, primary), what="an all-traffic rule to apply")
    assert not ping_from(OTHER, primary)

    app = ec2.create_security_group(GroupName="app", Description="a", VpcId=vpc_id)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 6379, "ToPort": 6379,
         "UserIdGroupPairs": [{"GroupId": app}]}])
    wait_until(lambda: ping_from(OTHER, primary), what="a source-group rule to apply")
