"""`GET /metrics` on the API port: every node's figures under redis_exporter's names and labels,
and Ferrocache's own, in OpenMetrics text that prometheus_client's own parser reads."""

import os
import shutil
import signal
import urllib.request

import redis
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from harness import wait_group_available, wait_until


def scrape(fc):
    """{(sample name, frozenset of labels): value} of one scrape, read by prometheus_client's
    OpenMetrics parser (which refuses a malformed page); and the page's content type."""
    with urllib.request.urlopen(fc.endpoint_url + "/metrics", timeout=10) as answer:
        content_type = answer.headers["Content-Type"]
        text = answer.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples, content_type


def value(samples, name, **labels):
    """The value of the one series `name` whose labels include `labels`, else None."""
    found = [v for (n, ls), v in samples.items()
             if n == name and set(labels.items()) <= set(ls)]
    assert len(found) <= 1, f"{name} {labels}: {len(found)} series"
    return found[0] if found else None


# Goal: a scrape shows each node of a group under redis_exporter's names with the labels its
# dashboards select by (instance, namespace) and ElastiCache's names (replication_group,
# cache_cluster, node) — up, role, keys, hits, commands — beside Ferrocache's own API request
# counts (a refusal under its error code), endpoint counters and snapshot durations; a deleted
# group's series go. Method: a 2-node group, 50 keys and reads through the primary endpoint,
# one refused call, scrapes until the sampler (every 5 s) has seen the keys; a snapshot; delete,
# scrape until gone.
def test_nodes_and_ferrocache_figures(fc, ec):
    ec.create_replication_group(ReplicationGroupId="prom", ReplicationGroupDescription="d",
                                NumCacheClusters=2)
    group = wait_group_available(ec, "prom")
    members = {m["CacheClusterId"]: m for m in group["NodeGroups"][0]["NodeGroupMembers"]}
    primary = next(i for i, m in members.items() if m["CurrentRole"] == "primary")
    replica = next(i for i in members if i != primary)
    endpoint = group["NodeGroups"][0]["PrimaryEndpoint"]
    cache = redis.Redis(host=endpoint["Address"], port=endpoint["Port"], socket_timeout=10)
    cache.mset({f"k:{i}": i for i in range(50)})
    for i in range(5):
        cache.get(f"k:{i}")
    cache.get("missing")
    try:
        ec.describe_replication_groups(ReplicationGroupId="nope")
    except ec.exceptions.ReplicationGroupNotFoundFault:
        pass

    samples, content_type = wait_until(
        lambda: (lambda s: s if value(s[0], "redis_db_keys", cache_cluster=primary) == 50
                 else None)(scrape(fc)),
        timeout=60, what="the primary's keys in a sample")
    assert content_type.startswith("application/openmetrics-text")
    address = members[primary]["ReadEndpoint"]["Address"]
    assert value(samples, "redis_up", cache_cluster=primary, node="0001",
                 replication_group="prom", namespace="prom",
                 instance=f"{address}:{members[primary]['ReadEndpoint']['Port']}") == 1
    assert value(samples, "redis_up", cache_cluster=replica) == 1
    assert value(samples, "redis_instance_info", cache_cluster=primary, role="master") == 1
    assert value(samples, "redis_instance_info", cache_cluster=replica, role="slave") == 1
    assert value(samples, "redis_keyspace_hits_total", cache_cluster=primary) >= 5
    assert value(samples, "redis_keyspace_misses_total", cache_cluster=primary) >= 1
    assert value(samples, "redis_commands_total", cache_cluster=primary, cmd="mset") == 1
    assert value(samples, "redis_connected_slaves", cache_cluster=primary) == 1
    assert value(samples, "ferrocache_api_requests_total",
                 operation="CreateReplicationGroup", code="200") == 1
    assert value(samples, "ferrocache_api_requests_total", operation="DescribeReplicationGroups",
                 code="ReplicationGroupNotFoundFault") == 1
    assert value(samples, "ferrocache_endpoint_connections_total", label="prom primary") >= 1
    # Bytes are counted where they pass through Ferrocache: on the router path only.
    if fc.data_path == "kernel":
        assert value(samples, "ferrocache_endpoint_redirected_connections_total",
                     label="prom primary", data_path="kernel") >= 1
    else:
        assert value(samples, "ferrocache_endpoint_received_bytes_total", label="prom primary",
                     data_path="router") > 0
    assert value(samples, "ferrocache_reconcile_duration_seconds_count", kind="node") >= 2
    usage = shutil.disk_usage(fc.data_dir)
    assert 0 < value(samples, "ferrocache_data_directory_free_bytes") <= usage.total
    assert value(samples, "ferrocache_data_directory_size_bytes") == usage.total

    ec.create_snapshot(ReplicationGroupId="prom", SnapshotName="timed")
    wait_until(lambda: ec.describe_snapshots(SnapshotName="timed")["Snapshots"][0][
        "SnapshotStatus"] == "available", timeout=60, what="the snapshot")
    assert value(scrape(fc)[0], "ferrocache_snapshot_duration_seconds_count") == 1

    ec.delete_replication_group(ReplicationGroupId="prom")
    wait_until(lambda: not ec.describe_replication_groups()["ReplicationGroups"], timeout=120,
               what="the group deleted")
    wait_until(lambda: not [k for k in scrape(fc)[0] if ("replication_group", "prom") in k[1]],
               timeout=30, what="the deleted group's series gone")


# Goal: a failover shows in the metrics: counted for its group and node group, timed from the
# primary's loss, and the two nodes' roles swapped in redis_instance_info. Method: a 2-node
# group with automatic failover, SIGKILL of the primary, AWS's "completed" event, scrapes.
def test_failover_counted(fc, ec):
    ec.create_replication_group(ReplicationGroupId="fo", ReplicationGroupDescription="d",
                                NumCacheClusters=2, AutomaticFailoverEnabled=True)
    group = wait_group_available(ec, "fo")
    old = next(m["CacheClusterId"] for m in group["NodeGroups"][0]["NodeGroupMembers"]
               if m["CurrentRole"] == "primary")
    new = next(m for m in group["MemberClusters"] if m != old)
    os.kill(fc.node_pids()[old], signal.SIGKILL)
    wait_until(lambda: any(
        e["Message"] == f"Failover from primary node {old} to replica node {new} completed"
        for e in ec.describe_events(SourceIdentifier="fo", SourceType="replication-group",
                                    Duration=60)["Events"]), timeout=60, what="the failover")
    samples = wait_until(
        lambda: (lambda s: s if value(s, "redis_instance_info", cache_cluster=new,
                                      role="master") == 1 else None)(scrape(fc)[0]),
        timeout=60, what="the new primary's role in a sample")
    assert value(samples, "ferrocache_failovers_total", replication_group="fo",
                 node_group="0001") == 1
    assert value(samples, "ferrocache_failover_duration_seconds_count") == 1
    assert value(samples, "ferrocache_failover_duration_seconds_sum") > 0
