"""Cluster mode: the Terraform module's production layout (3 shards, 2 replicas each) created
with boto3, served to cluster clients through the configuration endpoint, and described as
AWS does; every address a client learns from the cluster is a Ferrocache endpoint."""

import subprocess

import pytest
import redis
from redis.cluster import RedisCluster

from harness import wait_group_available, wait_until


def create_cluster_group(ec, group_id, shards=3, replicas=2, **extra):
    return ec.create_replication_group(
        ReplicationGroupId=group_id,
        ReplicationGroupDescription="cluster mode",
        Engine="redis",
        CacheNodeType="cache.t3.micro",
        NumNodeGroups=shards,
        ReplicasPerNodeGroup=replicas,
        AutomaticFailoverEnabled=True,
        **extra,
    )["ReplicationGroup"]


def cluster_client(group):
    """A redis-py RedisCluster client through the group's configuration endpoint."""
    endpoint = group["ConfigurationEndpoint"]
    return RedisCluster(host=endpoint["Address"], port=endpoint["Port"], socket_timeout=5)


def shard_primaries(ec, group):
    """[(NodeGroupId, connection to that shard's primary, its slot ranges)], found by asking
    each member its role through its node endpoint; the caller closes the connections."""
    out = []
    for shard in group["NodeGroups"]:
        ranges = [tuple(int(x) for x in r.split("-")) for r in shard["Slots"].split(",")]
        for member in shard["NodeGroupMembers"]:
            node = ec.describe_cache_clusters(
                CacheClusterId=member["CacheClusterId"],
                ShowCacheNodeInfo=True)["CacheClusters"][0]["CacheNodes"][0]["Endpoint"]
            conn = redis.Redis(host=node["Address"], port=node["Port"], socket_timeout=5)
            if conn.execute_command("ROLE")[0] in (b"master", "master"):
                out.append((shard["NodeGroupId"], conn, ranges))
                break
            conn.close()
    return out


def load_keys(group, expected, batch=1000):
    """Writes `expected` ({key: value}) through the configuration endpoint, `batch` at a time."""
    client = cluster_client(group)
    try:
        names = sorted(expected)
        for start in range(0, len(names), batch):
            client.mset_nonatomic({k: expected[k] for k in names[start:start + batch]})
    finally:
        client.close()


def endpoints_of(ec, group):
    """Every endpoint address a client may be given: the configuration endpoint and each
    member's node endpoint."""
    addresses = {group["ConfigurationEndpoint"]["Address"]}
    for member in group["MemberClusters"]:
        cluster = ec.describe_cache_clusters(CacheClusterId=member, ShowCacheNodeInfo=True)
        for node in cluster["CacheClusters"][0]["CacheNodes"]:
            addresses.add(node["Endpoint"]["Address"])
    return addresses


# Goal: the Terraform module's cluster configuration creates and reads back as on AWS:
# ClusterEnabled, a ConfigurationEndpoint on 6379, three NodeGroups 0001-0003 with AWS's
# even slot split, members named <id>-000S-00N, no primary or reader endpoint per shard.
# Method: CreateReplicationGroup NumNodeGroups=3 ReplicasPerNodeGroup=2 through boto3, wait
# for `available`, read DescribeReplicationGroups.
def test_create_and_describe(ec):
    created = create_cluster_group(ec, "tf-prod")
    assert created["Status"] == "creating"
    assert created["ClusterEnabled"] is True
    group = wait_group_available(ec, "tf-prod", timeout=180)
    assert group["ClusterEnabled"] is True
    assert group["ClusterMode"] == "enabled"
    assert group["ConfigurationEndpoint"]["Port"] == 6379
    shards = group["NodeGroups"]
    assert [s["NodeGroupId"] for s in shards] == ["0001", "0002", "0003"]
    assert [s["Slots"] for s in shards] == ["0-5461", "5462-10922", "10923-16383"]
    for shard in shards:
        assert "PrimaryEndpoint" not in shard and "ReaderEndpoint" not in shard
        ids = [m["CacheClusterId"] for m in shard["NodeGroupMembers"]]
        assert ids == [f"tf-prod-{shard['NodeGroupId']}-00{n}" for n in (1, 2, 3)]
        for member in shard["NodeGroupMembers"]:
            assert "CurrentRole" not in member and "ReadEndpoint" not in member
    assert len(group["MemberClusters"]) == 9
    cluster = ec.describe_cache_clusters(CacheClusterId="tf-prod-0002-001")["CacheClusters"][0]
    assert cluster["ReplicationGroupId"] == "tf-prod"
    assert cluster["CacheParameterGroup"]["CacheParameterGroupName"] == "default.redis7.cluster.on"


# Goal: cluster clients work through the configuration endpoint unchanged, and no reply
# carries a private address: CLUSTER SLOTS / SHARDS / NODES and MOVED name only endpoints.
# (MOVED names the announced address like the others; redis-cli -c follows one below.)
# Method: redis-py RedisCluster writes and reads 300 keys spread over all shards; redis-cli -c
# follows a MOVED; every address in CLUSTER SLOTS, SHARDS and NODES is one of the group's
# endpoint addresses.
def test_cluster_clients_see_only_endpoints(ec):
    create_cluster_group(ec, "cc", replicas=1)
    group = wait_group_available(ec, "cc", timeout=180)
    host = group["ConfigurationEndpoint"]["Address"]
    allowed = endpoints_of(ec, group)

    client = RedisCluster(host=host, port=6379, socket_timeout=5)
    try:
        for n in range(300):
            client.set(f"key:{n}", n)
        for n in range(300):
            assert client.get(f"key:{n}") == str(n).encode()
    finally:
        client.close()

    plain = redis.Redis(host=host, port=6379, socket_timeout=5)
    seen = set()
    for entry in plain.execute_command("CLUSTER", "SLOTS"):
        for node in entry[2:]:
            seen.add(node[0].decode() if isinstance(node[0], bytes) else node[0])
    def as_dict(reply):
        """redis-py gives CLUSTER SHARDS entries as dicts (str keys) or flat lists."""
        if isinstance(reply, dict):
            return {k.decode() if isinstance(k, bytes) else k: v for k, v in reply.items()}
        return {k.decode(): v for k, v in zip(reply[::2], reply[1::2])}

    def text(value):
        return value.decode() if isinstance(value, bytes) else value

    for shard in plain.execute_command("CLUSTER", "SHARDS"):
        for node in as_dict(shard)["nodes"]:
            node = as_dict(node)
            seen.add(text(node["ip"]))
            seen.add(text(node["endpoint"]))
    nodes_text = plain.execute_command("CLUSTER", "NODES")
    if isinstance(nodes_text, dict):  # redis-py parses CLUSTER NODES into a dict
        seen.update(address.split(":")[0] for address in nodes_text)
    else:
        for line in nodes_text.decode().splitlines():
            seen.add(line.split()[1].split("@")[0].rsplit(":", 1)[0])
    plain.close()
    assert seen, "CLUSTER SLOTS/NODES named no node"
    assert seen <= allowed, f"private addresses leaked: {seen - allowed}"

    # MOVED through redis-cli -c: a key of another shard is fetched after the redirection.
    out = subprocess.run(
        ["redis-cli", "-c", "-h", host, "-p", "6379", "GET", "key:7"],
        capture_output=True, text=True, timeout=20, check=True)
    assert out.stdout.strip() == "7"


# Goal: what AWS refuses about cluster mode is refused in its words. Method: cluster mode
# without automatic failover, a non-cluster parameter group with three shards, slots that do
# not cover the key space, CreateCacheCluster into a cluster-mode group.
def test_cluster_mode_refusals(ec):
    with pytest.raises(ec.exceptions.InvalidParameterCombinationException) as e:
        ec.create_replication_group(
            ReplicationGroupId="no-af", ReplicationGroupDescription="d",
            NumNodeGroups=2, ReplicasPerNodeGroup=1)
    assert "AutomaticFailoverEnabled must be enabled" in str(e.value)
    with pytest.raises(ec.exceptions.InvalidParameterCombinationException) as e:
        ec.create_replication_group(
            ReplicationGroupId="plain-pg", ReplicationGroupDescription="d",
            NumNodeGroups=3, AutomaticFailoverEnabled=True,
            CacheParameterGroupName="default.redis7")
    assert "Cluster mode should be enabled in parameter group" in str(e.value)
    with pytest.raises(ec.exceptions.InvalidParameterValueException) as e:
        ec.create_replication_group(
            ReplicationGroupId="gap", ReplicationGroupDescription="d",
            AutomaticFailoverEnabled=True, ClusterMode="enabled",
            NodeGroupConfiguration=[{"Slots": "0-8000"}, {"Slots": "8002-16383"}])
    assert "Slot 8001 is not assigned" in str(e.value)
    assert not ec.describe_replication_groups()["ReplicationGroups"]


def cluster_roles(ec, group):
    """{member id: (role, cluster node id)} from each member's own INFO and CLUSTER MYID,
    through its node endpoint."""
    out = {}
    for member in group["MemberClusters"]:
        cluster = ec.describe_cache_clusters(CacheClusterId=member, ShowCacheNodeInfo=True)
        address = cluster["CacheClusters"][0]["CacheNodes"][0]["Endpoint"]["Address"]
        node = redis.Redis(host=address, port=6379, socket_timeout=5)
        try:
            role = node.info("replication")["role"]
            out[member] = (role, node.execute_command("CLUSTER", "MYID"))
        finally:
            node.close()
    return out


def slot_owner(host, slot):
    """The node id CLUSTER SLOTS names as primary of `slot`."""
    client = redis.Redis(host=host, port=6379, socket_timeout=5)
    try:
        for entry in client.execute_command("CLUSTER", "SLOTS"):
            if entry[0] <= slot <= entry[1]:
                node_id = entry[2][2]
                return node_id.decode() if isinstance(node_id, bytes) else node_id
    finally:
        client.close()
    return None


# Goal: a shard whose primary dies fails over on its own, like a group without cluster mode:
# its replica takes the shard's slots, cluster clients keep writing, no acknowledged write is
# lost, and the old primary comes back as a replica of the new one. Method: 2 shards with one
# replica each; RedisCluster writes keys of both shards while the primary of shard 0002 gets
# SIGKILL; then every acknowledged key is read back, CLUSTER SLOTS names the former replica for
# the shard's slots, and the old primary reports role slave.
def test_killed_shard_primary_fails_over(fc, ec):
    import os
    import signal
    import threading
    import time

    from harness import node_pids

    create_cluster_group(ec, "fo", shards=2, replicas=1)
    group = wait_group_available(ec, "fo", timeout=180)
    host = group["ConfigurationEndpoint"]["Address"]
    roles = cluster_roles(ec, group)
    primary = next(m for m, (r, _) in roles.items() if m.startswith("fo-0002-") and r == "master")
    replica = next(m for m, (r, _) in roles.items() if m.startswith("fo-0002-") and r == "slave")
    replica_node_id = roles[replica][1]
    replica_node_id = replica_node_id.decode() if isinstance(replica_node_id, bytes) \
        else replica_node_id

    acked, stop = [], threading.Event()

    def write():
        client = RedisCluster(host=host, port=6379, socket_timeout=2)
        deadline = time.monotonic() + 30
        n = 0
        while not stop.is_set() and time.monotonic() < deadline and n < 50_000:
            try:
                client.set(f"k:{n}", n)
                acked.append(n)
            except Exception:  # noqa: BLE001 - a write during the switch may fail; not acked
                time.sleep(0.01)
            n += 1
        client.close()

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    time.sleep(0.5)
    os.kill(node_pids(fc.data_dir)[primary], signal.SIGKILL)
    # The shard's last slot (8191 ends shard 0001, so 16383 is shard 0002's).
    wait_until(lambda: slot_owner(host, 16383) == replica_node_id, timeout=30,
               what="the replica serves shard 0002's slots")
    time.sleep(1.0)
    stop.set()
    writer.join(timeout=40)
    assert len(acked) > 100

    reader = RedisCluster(host=host, port=6379, socket_timeout=5)
    try:
        missing = [n for n in acked if reader.get(f"k:{n}") != str(n).encode()]
    finally:
        reader.close()
    assert not missing, f"{len(missing)} acknowledged writes lost, e.g. {missing[:5]}"

    def old_primary_is_replica():
        try:
            return cluster_roles(ec, ec.describe_replication_groups(
                ReplicationGroupId="fo")["ReplicationGroups"][0])[primary][0] == "slave"
        except redis.RedisError:
            return False
    wait_until(old_primary_is_replica, timeout=60, what="the old primary back as a replica")
    wait_group_available(ec, "fo", timeout=60)


# Goal: TestFailover names one shard of a cluster-mode group and fails over that shard only;
# deleting the group removes every member and its endpoints. Method: 2 shards × 1 replica,
# TestFailover NodeGroupId=0001 with keys in both shards, then the slot owners of both shards,
# the keys, and DeleteReplicationGroup until ReplicationGroupNotFoundFault.
def test_test_failover_of_one_shard_then_delete(ec):
    create_cluster_group(ec, "tf1", shards=2, replicas=1)
    group = wait_group_available(ec, "tf1", timeout=180)
    host = group["ConfigurationEndpoint"]["Address"]
    client = RedisCluster(host=host, port=6379, socket_timeout=5)
    for n in range(200):
        client.set(f"t:{n}", n)
    before = (slot_owner(host, 0), slot_owner(host, 16383))
    ec.test_failover(ReplicationGroupId="tf1", NodeGroupId="0001")
    wait_until(lambda: slot_owner(host, 0) not in (None, before[0]), timeout=30,
               what="shard 0001 served by its replica")
    assert slot_owner(host, 16383) == before[1]
    for n in range(200):
        assert client.get(f"t:{n}") == str(n).encode()
    client.close()
    wait_group_available(ec, "tf1", timeout=60)

    ec.delete_replication_group(ReplicationGroupId="tf1")

    def gone():
        try:
            ec.describe_replication_groups(ReplicationGroupId="tf1")
            return False
        except ec.exceptions.ReplicationGroupNotFoundFault:
            return True
    wait_until(gone, timeout=60, what="tf1 deleted")
    assert not ec.describe_cache_clusters()["CacheClusters"]


# Goal: IncreaseReplicaCount grows the shards of a cluster-mode group as AWS does: one shard
# by ReplicaConfiguration, every shard by NewReplicaCount; the new members are named in their
# shard's sequence, join the cluster as replicas of their shard's primary, and the group is
# `available` again with every slot served. Method: 2 shards × 1 replica; ReplicaConfiguration 0002 → 2, then NewReplicaCount 3; check
# members, each new node's role and its primary in CLUSTER NODES, and redis-cli --cluster check.
def test_increase_replica_count(ec):
    create_cluster_group(ec, "inc", shards=2, replicas=1)
    wait_group_available(ec, "inc", timeout=180)
    ec.increase_replica_count(
        ReplicationGroupId="inc", ApplyImmediately=True,
        ReplicaConfiguration=[{"NodeGroupId": "0002", "NewReplicaCount": 2}])
    group = wait_group_available(ec, "inc", timeout=120)
    shards = {s["NodeGroupId"]: [m["CacheClusterId"] for m in s["NodeGroupMembers"]]
              for s in group["NodeGroups"]}
    assert shards == {"0001": ["inc-0001-001", "inc-0001-002"],
                      "0002": ["inc-0002-001", "inc-0002-002", "inc-0002-003"]}

    ec.increase_replica_count(ReplicationGroupId="inc", ApplyImmediately=True, NewReplicaCount=3)
    group = wait_group_available(ec, "inc", timeout=120)
    assert [len(s["NodeGroupMembers"]) for s in group["NodeGroups"]] == [4, 4]
    roles = cluster_roles(ec, group)
    assert sorted(r for r, _ in roles.values()) == ["master"] * 2 + ["slave"] * 6
    host = group["ConfigurationEndpoint"]["Address"]
    check = subprocess.run(["redis-cli", "--cluster", "check", f"{host}:6379"],
                           capture_output=True, text=True, timeout=30)
    assert "[OK] All 16384 slots covered." in check.stdout, check.stdout
    assert "All nodes agree about slots configuration." in check.stdout, check.stdout
    for shard in group["NodeGroups"]:
        ids = [m["CacheClusterId"] for m in shard["NodeGroupMembers"]]
        primary = next(i for i in ids if roles[i][0] == "master")
        for replica in ids:
            if replica == primary:
                continue
            cluster = ec.describe_cache_clusters(CacheClusterId=replica, ShowCacheNodeInfo=True)
            address = cluster["CacheClusters"][0]["CacheNodes"][0]["Endpoint"]["Address"]
            node = redis.Redis(host=address, socket_timeout=5)
            info = node.info("replication")
            node.close()
            assert info["master_link_status"] == "up"



def known_nodes(ec, group):
    """{member id: number of nodes in its CLUSTER NODES}."""
    out = {}
    for member in group["MemberClusters"]:
        cluster = ec.describe_cache_clusters(CacheClusterId=member, ShowCacheNodeInfo=True)
        address = cluster["CacheClusters"][0]["CacheNodes"][0]["Endpoint"]["Address"]
        node = redis.Redis(host=address, socket_timeout=5)
        try:
            out[member] = int(node.cluster("info")["cluster_known_nodes"])
        finally:
            node.close()
    return out


# Goal: DecreaseReplicaCount shrinks the shards of a cluster-mode group: the newest replicas
# go, per shard (ReplicaConfiguration), for every shard (NewReplicaCount, down to none, which
# cluster mode allows), or by name (ReplicasToRemove); every remaining node forgets the removed
# ones (no failed entries left behind) and every slot stays served. Method: 2 shards × 3
# replicas; each form in turn; CLUSTER INFO known_nodes on every member and redis-cli --cluster
# check after each; a primary named in ReplicasToRemove is refused.
def test_decrease_replica_count(ec):
    create_cluster_group(ec, "dec", shards=2, replicas=3)
    wait_group_available(ec, "dec", timeout=180)

    def settled(expected_members):
        group = wait_group_available(ec, "dec", timeout=120)
        assert len(group["MemberClusters"]) == expected_members
        wait_until(lambda: set(known_nodes(ec, group).values()) == {expected_members},
                   timeout=30, what=f"every node knows exactly {expected_members} nodes")
        host = group["ConfigurationEndpoint"]["Address"]
        check = subprocess.run(["redis-cli", "--cluster", "check", f"{host}:6379"],
                               capture_output=True, text=True, timeout=30)
        assert "[OK] All 16384 slots covered." in check.stdout, check.stdout
        return group

    ec.decrease_replica_count(
        ReplicationGroupId="dec", ApplyImmediately=True,
        ReplicaConfiguration=[{"NodeGroupId": "0001", "NewReplicaCount": 1}])
    group = settled(6)
    shard1 = [m["CacheClusterId"] for m in group["NodeGroups"][0]["NodeGroupMembers"]]
    assert shard1 == ["dec-0001-001", "dec-0001-002"]

    ec.decrease_replica_count(ReplicationGroupId="dec", ApplyImmediately=True,
                              NewReplicaCount=1)
    group = settled(4)

    primary = next(m for m, (role, _) in cluster_roles(ec, group).items()
                   if role == "master" and m.startswith("dec-0002-"))
    with pytest.raises(ec.exceptions.InvalidParameterValueException):
        ec.decrease_replica_count(ReplicationGroupId="dec", ApplyImmediately=True,
                                  ReplicasToRemove=[primary])
    replica = "dec-0002-002" if primary != "dec-0002-002" else "dec-0002-001"
    ec.decrease_replica_count(ReplicationGroupId="dec", ApplyImmediately=True,
                              ReplicasToRemove=[replica])
    group = settled(3)
    assert replica not in group["MemberClusters"]


# Goal: the Terraform module's cluster configuration as the aws CLI runs it, verbatim apart
# from the endpoint: create with --num-node-groups 3 --replicas-per-node-group 2, the
# replication-group-available waiter, describe reading the configuration endpoint, and
# redis-cli --cluster check against it. Method: the CLI calls through fc.aws (aws CLI v1).
def test_terraform_cluster_configuration_with_the_cli(fc):
    import json

    fc.aws("elasticache", "create-replication-group",
           "--replication-group-id", "uex-payments-prod",
           "--replication-group-description", "uex-payments prod",
           "--engine", "redis", "--engine-version", "7.0",
           "--cache-node-type", "cache.r6g.xlarge",
           "--num-node-groups", "3", "--replicas-per-node-group", "2",
           "--automatic-failover-enabled", "--multi-az-enabled")
    fc.aws("elasticache", "wait", "replication-group-available",
           "--replication-group-id", "uex-payments-prod")
    out = json.loads(fc.aws("elasticache", "describe-replication-groups",
                            "--replication-group-id", "uex-payments-prod").stdout)
    group = out["ReplicationGroups"][0]
    assert group["ClusterEnabled"] is True and group["MultiAZ"] == "enabled"
    assert len(group["NodeGroups"]) == 3
    assert all(len(g["NodeGroupMembers"]) == 3 for g in group["NodeGroups"])
    endpoint = group["ConfigurationEndpoint"]
    check = subprocess.run(
        ["redis-cli", "--cluster", "check", f"{endpoint['Address']}:{endpoint['Port']}"],
        capture_output=True, text=True, timeout=30)
    assert "[OK] All 16384 slots covered." in check.stdout, check.stdout
    assert "3 masters" in check.stdout or check.stdout.count("M: ") == 3, check.stdout


# Goal: the Terraform module's production cluster (encryption in transit and an AUTH token)
# serves TLS cluster clients through its configuration endpoint: redis-py RedisCluster with
# ssl and the token writes and reads keys in every shard, redis-cli --tls --cluster check
# passes, a client without the token is refused, and replication between the nodes works
# (every replica's link is up) although the endpoints require TLS. Method: create with
# TransitEncryptionEnabled and AuthToken, the CA from `ferrocache ca path`.
def test_tls_and_auth_cluster(fc, ec):
    token = "a-long-enough-auth-token-1234"
    create_cluster_group(ec, "sec", replicas=1, TransitEncryptionEnabled=True,
                         AuthToken=token)
    group = wait_group_available(ec, "sec", timeout=180)
    assert group["TransitEncryptionEnabled"] is True and group["AuthTokenEnabled"] is True
    host = group["ConfigurationEndpoint"]["Address"]
    cafile = subprocess.run([fc.binary, "ca", "path", "--data-dir", fc.data_dir],
                            capture_output=True, text=True, check=True,
                            timeout=30).stdout.strip().splitlines()[-1]
    client = RedisCluster(host=host, port=6379, ssl=True, ssl_ca_certs=cafile,
                          password=token, socket_timeout=5)
    try:
        for n in range(200):
            client.set(f"s:{n}", n)
        assert all(client.get(f"s:{n}") == str(n).encode() for n in range(200))
    finally:
        client.close()
    links = []
    for member in group["MemberClusters"]:
        cluster = ec.describe_cache_clusters(CacheClusterId=member, ShowCacheNodeInfo=True)
        address = cluster["CacheClusters"][0]["CacheNodes"][0]["Endpoint"]["Address"]
        node = redis.Redis(host=address, port=6379, ssl=True, ssl_ca_certs=cafile,
                           password=token, socket_timeout=5)
        info = node.info("replication")
        node.close()
        if info["role"] == "slave":
            links.append(info["master_link_status"])
    assert links == ["up"] * 3, links
    check = subprocess.run(
        ["redis-cli", "--tls", "--cacert", cafile, "-a", token, "--no-auth-warning",
         "--cluster", "check", f"{host}:6379"], capture_output=True, text=True, timeout=30)
    assert "[OK] All 16384 slots covered." in check.stdout, check.stdout + check.stderr
    anonymous = redis.Redis(host=host, port=6379, ssl=True, ssl_ca_certs=cafile,
                            socket_timeout=5)
    with pytest.raises(redis.AuthenticationError):
        anonymous.get("s:1")
    anonymous.close()
