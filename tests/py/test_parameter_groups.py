"""Cache parameter groups against real nodes: a custom group's values are in every node's
redis.conf from the start, an `immediate` change made with the aws CLI reaches every node with
CONFIG SET, a `requires-reboot` change waits (pending-reboot) until RebootCacheCluster, and the
Terraform read-back returns exactly what was set."""

import json

from harness import wait_cluster_available, wait_group_available, wait_until

GROUP = "tuned-params"


def aws_json(fc, *args):
    return json.loads(fc.aws("elasticache", *args, "--output", "json").stdout or "{}")


def node_endpoints(ec, group):
    """{cluster id: endpoint address} of every member."""
    out = {}
    for member in group["MemberClusters"]:
        cluster = ec.describe_cache_clusters(CacheClusterId=member,
                                             ShowCacheNodeInfo=True)["CacheClusters"][0]
        out[member] = cluster["CacheNodes"][0]["Endpoint"]["Address"]
    return out


def config_get(fc, address, name):
    """CONFIG GET <name> on the node endpoint, under the control plane's secret name (clients
    cannot run CONFIG, as on ElastiCache)."""
    return fc.config_get(address, name)


def apply_status(ec, cluster_id):
    cluster = ec.describe_cache_clusters(CacheClusterId=cluster_id,
                                         ShowCacheNodeInfo=True)["CacheClusters"][0]
    return (cluster["CacheParameterGroup"]["ParameterApplyStatus"],
            cluster["CacheParameterGroup"].get("CacheNodeIdsToReboot", []),
            cluster["CacheNodes"][0]["ParameterGroupStatus"])


# Goal: the connectivity guide's fix — `aws elasticache modify-cache-parameter-group …
# maxmemory-policy=allkeys-lru` (plus timeout=300) — takes effect on every node of a group
# using the parameter group, without a restart; values set before the group was created are
# there from the first start; the Terraform read-back (DescribeCacheParameterGroups +
# DescribeCacheParameters Source=user) returns exactly what was set; a requires-reboot change
# reads pending-reboot until each node is rebooted, then in-sync with the new value.
# Method: aws CLI for the parameter-group calls, boto3 for the rest, CONFIG GET (the control plane's name) on
# each node endpoint; waits poll the observable state, never a clock.
def test_parameter_group_applied_live_and_on_reboot(fc, ec):
    fc.aws("elasticache", "create-cache-parameter-group",
           "--cache-parameter-group-name", GROUP,
           "--cache-parameter-group-family", "redis7",
           "--description", "Managed by Terraform")
    fc.aws("elasticache", "modify-cache-parameter-group",
           "--cache-parameter-group-name", GROUP,
           "--parameter-name-values",
           "ParameterName=maxmemory-samples,ParameterValue=7")
    ec.create_replication_group(
        ReplicationGroupId="tuned", ReplicationGroupDescription="parameter groups",
        Engine="redis", EngineVersion="7.0", CacheNodeType="cache.t3.micro",
        NumCacheClusters=3, CacheParameterGroupName=GROUP)
    group = wait_group_available(ec, "tuned")
    nodes = node_endpoints(ec, group)
    assert len(nodes) == 3
    for cluster_id, address in nodes.items():
        # Rendered into redis.conf: the group's value and ElastiCache's defaults.
        assert config_get(fc, address, "maxmemory-samples") == "7", cluster_id
        assert config_get(fc, address, "maxmemory-policy") == "volatile-lru", cluster_id
        assert apply_status(ec, cluster_id) == ("in-sync", [], "in-sync")
        cluster = ec.describe_cache_clusters(CacheClusterId=cluster_id)["CacheClusters"][0]
        assert cluster["CacheParameterGroup"]["CacheParameterGroupName"] == GROUP
    events = [e["Message"] for e in ec.describe_events(
        SourceIdentifier="tuned-001", SourceType="cache-cluster", Duration=60)["Events"]]
    assert f"Updated to use a CacheParameterGroup {GROUP}" in events

    # The connectivity guide's command, on our custom group.
    out = aws_json(fc, "modify-cache-parameter-group",
                   "--cache-parameter-group-name", GROUP,
                   "--parameter-name-values",
                   "ParameterName=maxmemory-policy,ParameterValue=allkeys-lru",
                   "ParameterName=timeout,ParameterValue=300")
    assert out == {"CacheParameterGroupName": GROUP}
    for cluster_id, address in nodes.items():
        wait_until(lambda: config_get(fc, address, "maxmemory-policy") == "allkeys-lru",
                   what=f"maxmemory-policy on {cluster_id}")
        wait_until(lambda: config_get(fc, address, "timeout") == "300",
                   what=f"timeout on {cluster_id}")
        wait_until(lambda: apply_status(ec, cluster_id)[0] == "in-sync",
                   what=f"{cluster_id} in-sync")
    events = [e["Message"] for e in ec.describe_events(
        SourceIdentifier="tuned-002", SourceType="cache-cluster", Duration=60)["Events"]]
    assert "Updated parameter maxmemory-policy to allkeys-lru" in events
    assert "Updated parameter timeout to 300" in events

    # Terraform's read-back: the group, then Source=user parameters that carry a value.
    groups = aws_json(fc, "describe-cache-parameter-groups",
                      "--cache-parameter-group-name", GROUP)["CacheParameterGroups"]
    assert [(g["CacheParameterGroupName"], g["CacheParameterGroupFamily"], g["Description"])
            for g in groups] == [(GROUP, "redis7", "Managed by Terraform")]
    assert groups[0]["ARN"] == f"arn:aws:elasticache:us-east-1:123456789012:parametergroup:{GROUP}"
    user = aws_json(fc, "describe-cache-parameters", "--cache-parameter-group-name", GROUP,
                    "--source", "user")["Parameters"]
    assert {p["ParameterName"]: p["ParameterValue"] for p in user if "ParameterValue" in p} == {
        "maxmemory-samples": "7", "maxmemory-policy": "allkeys-lru", "timeout": "300"}

    # A requires-reboot parameter: pending until each node restarts.
    fc.aws("elasticache", "modify-cache-parameter-group",
           "--cache-parameter-group-name", GROUP,
           "--parameter-name-values", "ParameterName=databases,ParameterValue=32")
    for cluster_id, address in nodes.items():
        wait_until(lambda: apply_status(ec, cluster_id)[0] == "pending-reboot",
                   what=f"{cluster_id} pending-reboot")
        assert apply_status(ec, cluster_id) == ("pending-reboot", ["0001"], "pending-reboot")
        assert config_get(fc, address, "databases") == "16"
    for cluster_id, address in nodes.items():
        ec.reboot_cache_cluster(CacheClusterId=cluster_id, CacheNodeIdsToReboot=["0001"])
        wait_cluster_available(ec, cluster_id)
        wait_until(lambda: apply_status(ec, cluster_id)[0] == "in-sync",
                   what=f"{cluster_id} in-sync after reboot")
        assert config_get(fc, address, "databases") == "32"
        # The live values survived the restart (they are in the new redis.conf).
        assert config_get(fc, address, "maxmemory-policy") == "allkeys-lru"
        assert config_get(fc, address, "timeout") == "300"
    wait_group_available(ec, "tuned")

    # The group is in use: it cannot be deleted until the replication group is gone.
    denied = fc.aws("elasticache", "delete-cache-parameter-group",
                    "--cache-parameter-group-name", GROUP, check=False)
    assert denied.returncode != 0
    assert "InvalidCacheParameterGroupState" in denied.stderr


# Goal: reserved-memory-percent, an ElastiCache-only parameter, changes the node's maxmemory
# (never reaching Redis under its own name), and a reset brings back the default.
# Method: a standalone cache cluster on a custom group; CONFIG GET maxmemory after each call.
def test_reserved_memory_percent_moves_maxmemory(fc, ec):
    ec.create_cache_parameter_group(CacheParameterGroupName="mem",
                                    CacheParameterGroupFamily="redis7", Description="mem")
    ec.create_cache_cluster(CacheClusterId="solo", Engine="redis",
                            CacheNodeType="cache.t3.micro", NumCacheNodes=1,
                            CacheParameterGroupName="mem")
    cluster = wait_cluster_available(ec, "solo")
    address = cluster["CacheNodes"][0]["Endpoint"]["Address"]
    assert config_get(fc, address, "maxmemory") == "402653184"
    ec.modify_cache_parameter_group(
        CacheParameterGroupName="mem",
        ParameterNameValues=[{"ParameterName": "reserved-memory-percent",
                              "ParameterValue": "50"}])
    wait_until(lambda: config_get(fc, address, "maxmemory") == "268435456",
               what="maxmemory at 50 % reserved")
    ec.reset_cache_parameter_group(CacheParameterGroupName="mem", ResetAllParameters=True)
    wait_until(lambda: config_get(fc, address, "maxmemory") == "402653184",
               what="maxmemory back at 25 % reserved")
    wait_until(lambda: apply_status(ec, "solo")[0] == "in-sync", what="solo in-sync")


# Goal: what a node runs with survives a crash of Ferrocache: after SIGKILL and a restart the
# adopted nodes keep their values, a pending requires-reboot change is still pending (the
# process was not restarted behind the user's back), and a change made after the restart is
# applied. Method: modify, wait in-sync, modify a requires-reboot value, kill -9 Ferrocache
# (nodes keep running), start it again on the same data dir, check CONFIG GET and statuses.
def test_parameters_survive_a_ferrocache_crash(fc, ec):
    ec.create_cache_parameter_group(CacheParameterGroupName="crash",
                                    CacheParameterGroupFamily="redis7", Description="crash")
    ec.create_cache_cluster(CacheClusterId="solo", Engine="redis",
                            CacheNodeType="cache.t3.micro", NumCacheNodes=1,
                            CacheParameterGroupName="crash")
    cluster = wait_cluster_available(ec, "solo")
    address = cluster["CacheNodes"][0]["Endpoint"]["Address"]
    pid = fc.node_pids()["solo"]
    ec.modify_cache_parameter_group(
        CacheParameterGroupName="crash",
        ParameterNameValues=[{"ParameterName": "timeout", "ParameterValue": "120"},
                             {"ParameterName": "databases", "ParameterValue": "4"}])
    wait_until(lambda: apply_status(ec, "solo")[0] == "pending-reboot", what="pending-reboot")
    assert config_get(fc, address, "timeout") == "120"

    fc.kill9()
    fc.start()
    ec = fc.client()
    wait_cluster_available(ec, "solo")
    assert fc.node_pids()["solo"] == pid, "the node was adopted, not restarted"
    assert apply_status(ec, "solo") == ("pending-reboot", ["0001"], "pending-reboot")
    assert config_get(fc, address, "timeout") == "120"
    assert config_get(fc, address, "databases") == "16"

    ec.modify_cache_parameter_group(
        CacheParameterGroupName="crash",
        ParameterNameValues=[{"ParameterName": "maxmemory-policy",
                              "ParameterValue": "noeviction"}])
    wait_until(lambda: config_get(fc, address, "maxmemory-policy") == "noeviction",
               what="maxmemory-policy after restart")
    ec.reboot_cache_cluster(CacheClusterId="solo", CacheNodeIdsToReboot=["0001"])
    wait_until(lambda: apply_status(ec, "solo")[0] == "in-sync", what="in-sync after reboot")
    wait_cluster_available(ec, "solo")
    assert config_get(fc, address, "databases") == "4"
    assert config_get(fc, address, "maxmemory-policy") == "noeviction"
