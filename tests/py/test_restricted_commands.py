"""Restricted commands, as ElastiCache restricts them: through every kind of endpoint a client
gets Redis's own unknown-command error for the commands the control plane owns, and a NOPERM
for the subcommands Redis cannot rename (ACL writes, CLUSTER topology) and for SYNC/PSYNC
(replicas send those by name); reads stay available. Meanwhile the control plane, which sends
the secret names as its internal user, keeps replicating, failing over and saving."""

import redis

from harness import wait_group_available, wait_until

# Whole commands that are renamed: Redis answers as for a command it does not know.
RENAMED = [
    ("CONFIG", "GET", "maxmemory"),
    ("CONFIG", "SET", "maxmemory", "1"),
    ("REPLICAOF", "NO", "ONE"),
    ("SLAVEOF", "NO", "ONE"),
    ("SHUTDOWN",),
    ("DEBUG", "SLEEP", "0"),
    ("SAVE",),
    ("BGSAVE",),
    ("BGREWRITEAOF",),
    ("MIGRATE", "127.0.0.1", "1", "k", "0", "1000"),
]

# Subcommands and replication commands: refused by ACL.
DENIED = [
    ("SYNC",),
    ("PSYNC", "?", "-1"),
    ("ACL", "SETUSER", "intruder", "on", ">secretsecretsecret", "+@all"),
    ("ACL", "DELUSER", "default"),
    ("ACL", "LOAD"),
    ("ACL", "SAVE"),
    ("CLUSTER", "MEET", "127.0.0.1", "7000"),
    ("CLUSTER", "FORGET", "abc"),
    ("CLUSTER", "ADDSLOTS", "1"),
    ("CLUSTER", "SETSLOT", "1", "STABLE"),
    ("CLUSTER", "FAILOVER"),
]


def endpoints(ec, group_id):
    """(kind, address) for the primary, reader and every node endpoint of the group."""
    group = ec.describe_replication_groups(ReplicationGroupId=group_id)["ReplicationGroups"][0]
    node_group = group["NodeGroups"][0]
    found = [("primary", node_group["PrimaryEndpoint"]["Address"]),
             ("reader", node_group["ReaderEndpoint"]["Address"])]
    found += [(f"node {m['CacheClusterId']}", m["ReadEndpoint"]["Address"])
              for m in node_group["NodeGroupMembers"]]
    return found


def refusal(client, command):
    """The error text Redis answers `command` with (fails if it is accepted)."""
    try:
        reply = client.execute_command(*command)
    except redis.exceptions.ResponseError as error:
        return str(error)
    raise AssertionError(f"{command} was accepted: {reply!r}")


# Goal: every restricted command is refused on every endpoint kind with Redis's own errors,
# the connection stays usable, read-only diagnostics still work, and the control plane keeps
# working with its own names (the replica syncs, the data replicates, a failover and a
# snapshot still complete). Method: redis-py per endpoint; Redis 7.0's exact error texts.
def test_restricted_commands_refused_on_every_endpoint(fc, ec):
    ec.create_replication_group(ReplicationGroupId="locked", ReplicationGroupDescription="r",
                                CacheNodeType="cache.t3.micro", NumCacheClusters=2,
                                AutomaticFailoverEnabled=True)
    group = wait_group_available(ec, "locked")
    primary = redis.Redis(host=group["NodeGroups"][0]["PrimaryEndpoint"]["Address"])
    assert primary.set("k", "v")

    for kind, address in endpoints(ec, "locked"):
        client = redis.Redis(host=address, socket_timeout=10)
        for command in RENAMED:
            text = refusal(client, command)
            assert text.startswith(f"unknown command '{command[0]}'"), (kind, command, text)
        for command in DENIED:
            text = refusal(client, command)
            assert text.startswith("this user has no permissions to run the"), \
                (kind, command, text)
        # The same connection still serves, and diagnosis stays possible.
        assert client.ping()
        assert client.execute_command("ACL", "WHOAMI") == b"default"
        assert client.info("replication")["connected_slaves"] in (0, 1)
        wait_until(lambda: client.get("k") == b"v", timeout=30, what=f"k on {kind}")
        client.close()

    # The control plane's names work through an endpoint for its own user only.
    assert fc.config_get(group["NodeGroups"][0]["PrimaryEndpoint"]["Address"],
                         "maxmemory") == "402653184"
    names = fc.control_identity()
    assert refusal(primary, (names["config"], "GET", "maxmemory")).startswith(
        "this user has no permissions")

    # Replication runs as the internal user; failover and snapshots use the secret names.
    ec.test_failover(ReplicationGroupId="locked", NodeGroupId="0001")
    wait_until(lambda: ec.describe_replication_groups(ReplicationGroupId="locked")
               ["ReplicationGroups"][0]["NodeGroups"][0]["NodeGroupMembers"][0]
               ["CurrentRole"] == "replica"
               and wait_group_available(ec, "locked"),
               timeout=120, what="failover done")
    after = redis.Redis(host=group["NodeGroups"][0]["PrimaryEndpoint"]["Address"])
    wait_until(lambda: after.set("k2", "v2"), timeout=60, what="writes after failover")
    ec.create_snapshot(ReplicationGroupId="locked", SnapshotName="locked-snap")
    wait_until(lambda: ec.describe_snapshots(SnapshotName="locked-snap")["Snapshots"][0]
               ["SnapshotStatus"] == "available", timeout=120, what="snapshot available")
