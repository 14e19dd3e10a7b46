"""Restart keeps everything: after a clean stop (nodes save and stop) and after a crash of
Ferrocache alone (nodes keep running and are adopted), every group and cluster comes back with
the same ids, endpoints and data."""

import redis

from harness import pid_alive, wait_cluster_available, wait_group_available, wait_until


def connect(address, port=6379):
    return redis.Redis(host=address, port=port, socket_timeout=10, socket_connect_timeout=10,
                       decode_responses=True)


def snapshot(ec):
    """What must survive a restart: ids, members, endpoints and node endpoints."""
    groups = {}
    for g in ec.describe_replication_groups()["ReplicationGroups"]:
        ng = g["NodeGroups"][0]
        groups[g["ReplicationGroupId"]] = {
            "members": g["MemberClusters"],
            "primary": ng["PrimaryEndpoint"],
            "reader": ng.get("ReaderEndpoint"),
            "arn": g["ARN"],
        }
    clusters = {}
    for c in ec.describe_cache_clusters(ShowCacheNodeInfo=True)["CacheClusters"]:
        node = c["CacheNodes"][0]
        clusters[c["CacheClusterId"]] = {
            "group": c.get("ReplicationGroupId"),
            "endpoint": node["Endpoint"],
            "az": node["CustomerAvailabilityZone"],
        }
    return groups, clusters


def build_fixture(fc, ec):
    """A 3-node group and a standalone cluster, with data written to both."""
    ec.create_replication_group(ReplicationGroupId="keep", ReplicationGroupDescription="keep",
                                Engine="redis", CacheNodeType="cache.t3.micro",
                                NumCacheClusters=3, AutomaticFailoverEnabled=True,
                                Tags=[{"Key": "env", "Value": "keep"}])
    ec.create_cache_cluster(CacheClusterId="keep-solo", Engine="redis",
                            CacheNodeType="cache.t3.micro", NumCacheNodes=1)
    group = wait_group_available(ec, "keep")
    solo = wait_cluster_available(ec, "keep-solo")
    primary = group["NodeGroups"][0]["PrimaryEndpoint"]["Address"]
    writer = connect(primary)
    for n in range(100):
        writer.set(f"key:{n}", n)
    writer.hset("user:1", mapping={"name": "Alice", "email": "alice@example.com"})
    solo_endpoint = solo["CacheNodes"][0]["Endpoint"]
    connect(solo_endpoint["Address"], solo_endpoint["Port"]).set("solo-key", "solo-value")
    # Replicas must hold the data before a crash test kills nothing but Ferrocache.
    reader = group["NodeGroups"][0]["ReaderEndpoint"]["Address"]
    wait_until(lambda: connect(reader).get("key:99") == "99", timeout=15,
               what="data replicated")


def assert_data_back(ec, before):
    group = wait_group_available(ec, "keep")
    wait_cluster_available(ec, "keep-solo")
    for member in group["MemberClusters"]:
        wait_cluster_available(ec, member)
    after = snapshot(ec)
    assert after == before
    primary = group["NodeGroups"][0]["PrimaryEndpoint"]["Address"]
    reader = group["NodeGroups"][0]["ReaderEndpoint"]["Address"]
    client = connect(primary)
    wait_until(lambda: client.ping(), timeout=30, what="primary endpoint answers")
    assert client.info("replication")["role"] == "master"
    assert [client.get(f"key:{n}") for n in range(100)] == [str(n) for n in range(100)]
    assert client.hgetall("user:1") == {"name": "Alice", "email": "alice@example.com"}
    wait_until(lambda: connect(reader).get("key:42") == "42", timeout=15, what="reader data")
    wait_until(lambda: client.info("replication")["connected_slaves"] == 2, timeout=30,
               what="replicas reconnected")
    solo = after[1]["keep-solo"]["endpoint"]
    assert connect(solo["Address"], solo["Port"]).get("solo-key") == "solo-value"
    # Still writable after the restart.
    assert client.set("after-restart", "1") is True
    # Tags and the event history are state too.
    tags = ec.list_tags_for_resource(ResourceName=after[0]["keep"]["arn"])["TagList"]
    assert tags == [{"Key": "env", "Value": "keep"}]
    messages = [e["Message"] for e in ec.describe_events(SourceIdentifier="keep",
                                                         SourceType="replication-group")["Events"]]
    assert "Replication group keep created" in messages


# Goal: a clean shutdown (SIGTERM) saves every node and stops it, exits 0, and the next
# `ferrocache up` on the same data dir brings back the same ids, endpoints and keys.
# Method: build a group and a standalone cluster with data, SIGTERM, check the node processes
# are gone, start again, compare describe snapshots and read the keys through the endpoints.
def test_restart_after_sigterm_keeps_groups_endpoints_and_data(fc, ec):
    build_fixture(fc, ec)
    before = snapshot(ec)
    pids_before = fc.node_pids()
    assert len(pids_before) == 4

    assert fc.stop() == 0
    wait_until(lambda: not any(pid_alive(p) for p in pids_before.values()), timeout=30,
               what="nodes stopped with ferrocache")

    fc.start()
    assert_data_back(ec, before)


# Goal: after SIGKILL of Ferrocache alone, its redis-server processes keep serving, and a
# restart adopts them (same pids, no restart, no data loss) instead of starting new ones.
# Method: build the fixture, SIGKILL ferrocache, check the node pids still live, start again,
# compare pids, snapshots and keys.
def test_restart_after_sigkill_adopts_running_nodes(fc, ec):
    build_fixture(fc, ec)
    before = snapshot(ec)
    pids_before = fc.node_pids()
    assert len(pids_before) == 4

    fc.kill9()
    assert all(pid_alive(p) for p in pids_before.values()), "nodes outlive ferrocache"

    fc.start()
    assert_data_back(ec, before)
    assert fc.node_pids() == pids_before
    assert all(pid_alive(p) for p in pids_before.values())


# Goal: restart also works twice in a row and for an empty instance (no state is required to
# come up). Method: restart an instance with nothing in it, then one with a group, twice.
def test_repeated_restarts(fc, ec):
    fc.restart()
    assert ec.describe_replication_groups()["ReplicationGroups"] == []
    ec.create_replication_group(ReplicationGroupId="twice", ReplicationGroupDescription="t",
                                NumCacheClusters=2, CacheNodeType="cache.t3.micro")
    group = wait_group_available(ec, "twice")
    primary = group["NodeGroups"][0]["PrimaryEndpoint"]["Address"]
    connect(primary).set("k", "v")
    for _ in range(2):
        fc.restart()
        group = wait_group_available(ec, "twice")
        assert group["NodeGroups"][0]["PrimaryEndpoint"]["Address"] == primary
        assert connect(primary).get("k") == "v"
