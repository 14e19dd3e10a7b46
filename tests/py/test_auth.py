"""AUTH tokens on the `default` user, as ElastiCache runs them: AWS's token rules and
messages on create, NOAUTH without the token and Redis's WRONGPASS with a wrong one, and
ModifyReplicationGroup ROTATE/SET under a live client load with no failed request and no
dropped connection. Clients connect over TLS (an AUTH token needs encryption in transit, and AWS
refuses it with TransitEncryptionMode=preferred), trusting the instance's CA."""

import threading
import time

import botocore.exceptions
import pytest
import redis

from harness import client_error_code, wait_group_available, wait_until

TOKEN_1 = "first-token-0123456789"
TOKEN_2 = "second-token-!&#$^<>-x"
TOKEN_3 = "third-token-abcdefghijk"
LOAD_COMMANDS_MIN = 2000
LOAD_COMMANDS_MAX = 2_000_000
LOAD_SECONDS_MAX = 300


def create(ec, group_id, **extra):
    return ec.create_replication_group(
        ReplicationGroupId=group_id, ReplicationGroupDescription="auth",
        CacheNodeType="cache.t3.micro", NumCacheClusters=2, **extra)["ReplicationGroup"]


def refused(ec, **extra):
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        create(ec, "refused", **extra)
    return client_error_code(excinfo.value), excinfo.value.response["Error"]["Message"]


def login_error(fc, address, password):
    """The error Redis answers a new TLS connection that logs in with `password` (None: no
    AUTH, as a client that sends its command at once), or None when the login works."""
    if password is None:
        reply = fc.tls_raw_reply(address, "GET probe")
        return reply[1:] if reply.startswith("-") else None
    client = fc.tls_redis(address, password=password)
    try:
        client.get("probe")
        return None
    except (redis.exceptions.AuthenticationError, redis.exceptions.ResponseError) as error:
        return str(error)
    finally:
        client.close()


# Goal: AWS's rules on create: a token needs encryption in transit, and is 16-128 printable
# characters without space, '"', '/' or '@' (one message for every broken rule).
def test_auth_token_rules_on_create(fc, ec):
    code, message = refused(ec, AuthToken=TOKEN_1)
    assert code == ("InvalidParameterValue", 400)
    assert message == "The AUTH token is only supported when encryption-in-transit is enabled"
    for bad in ["too-short", "x" * 129, "has space in it 12345", 'quote"quote"quote"',
                "slash/slash/slash/", "at@at@at@at@at@at"]:
        code, message = refused(ec, AuthToken=bad, TransitEncryptionEnabled=True)
        assert (code, message) == (("InvalidParameterValue", 400),
                                   "Invalid AuthToken provided."), bad
    # A token with plaintext still accepted: refused with AWS's text (seen by Terraform users).
    code, message = refused(ec, AuthToken=TOKEN_1, TransitEncryptionEnabled=True,
                            TransitEncryptionMode="preferred")
    assert (code, message) == (("InvalidParameterCombination", 400),
                               "Transit encryption preferred is not supported with redis "
                               "access control.")


# Goal: a group created with a token refuses clients without it (NOAUTH) or with a wrong one
# (WRONGPASS) on every endpoint, serves clients with it, and replicates (the replica's link
# logs in as the internal user, not with the token). ROTATE makes the old and new tokens valid,
# SET leaves only the newest, all while one connection runs a bounded command loop that sees
# no error and is never reconnected (same CLIENT ID before and after). The group reads
# `modifying` with AuthTokenStatus ROTATING/SETTING, then `available`.
def test_auth_token_rotation_under_load(fc, ec):
    created = create(ec, "guarded", AuthToken=TOKEN_1, TransitEncryptionEnabled=True,
                     AutomaticFailoverEnabled=True)
    assert created["AuthTokenEnabled"] is True
    group = wait_group_available(ec, "guarded")
    assert group["AuthTokenEnabled"] is True
    assert "AuthTokenLastModifiedDate" in group
    node_group = group["NodeGroups"][0]
    primary = node_group["PrimaryEndpoint"]["Address"]
    reader = node_group["ReaderEndpoint"]["Address"]
    nodes = [m["ReadEndpoint"]["Address"] for m in node_group["NodeGroupMembers"]]

    for address in [primary, reader, *nodes]:
        assert login_error(fc, address, None) == "NOAUTH Authentication required."
        assert login_error(fc, address, "wrong-token-0123456789") == \
            "invalid username-password pair or user is disabled."
        assert login_error(fc, address, TOKEN_1) is None
    writer = fc.tls_redis(primary, password=TOKEN_1)
    writer.set("before", "1")
    replica = fc.tls_redis(reader, password=TOKEN_1)
    wait_until(lambda: replica.get("before") == b"1", timeout=30, what="replicated")

    # The live load: one connection, a bounded loop, every reply checked.
    load = fc.tls_redis(primary, password=TOKEN_1)
    load_id = load.client_id()
    done = threading.Event()
    result = {"ok": 0, "errors": [], "covered": False}
    deadline = time.monotonic() + LOAD_SECONDS_MAX

    def run_load():
        for i in range(LOAD_COMMANDS_MAX):
            if done.is_set() and i >= LOAD_COMMANDS_MIN:
                # The load ran through both changes, not just part of them.
                result["covered"] = True
                return
            if time.monotonic() > deadline:
                return
            try:
                assert load.set(f"load:{i % 100}", i)
                assert load.get(f"load:{i % 100}") == str(i).encode()
                result["ok"] += 1
            except Exception as error:  # noqa: BLE001 - every failure counts
                result["errors"].append(repr(error))

    thread = threading.Thread(target=run_load)
    thread.start()
    try:
        rotated = ec.modify_replication_group(
            ReplicationGroupId="guarded", AuthToken=TOKEN_2, AuthTokenUpdateStrategy="ROTATE",
            ApplyImmediately=True)["ReplicationGroup"]
        assert rotated["Status"] == "modifying"
        assert rotated["PendingModifiedValues"]["AuthTokenStatus"] == "ROTATING"
        group = wait_group_available(ec, "guarded")
        assert "AuthTokenStatus" not in group["PendingModifiedValues"]
        for address in [primary, reader, *nodes]:
            assert login_error(fc, address, TOKEN_1) is None
            assert login_error(fc, address, TOKEN_2) is None
            assert login_error(fc, address, TOKEN_3) is not None

        set_ = ec.modify_replication_group(
            ReplicationGroupId="guarded", AuthToken=TOKEN_3, AuthTokenUpdateStrategy="SET",
            ApplyImmediately=True)["ReplicationGroup"]
        assert set_["PendingModifiedValues"]["AuthTokenStatus"] == "SETTING"
        wait_group_available(ec, "guarded")
        for address in [primary, reader, *nodes]:
            assert login_error(fc, address, TOKEN_3) is None
            assert login_error(fc, address, TOKEN_1) is not None
            assert login_error(fc, address, TOKEN_2) is not None
            assert login_error(fc, address, None) == "NOAUTH Authentication required."
    finally:
        done.set()
        thread.join(timeout=120)
    assert not thread.is_alive()
    assert result["errors"] == []
    assert result["ok"] >= LOAD_COMMANDS_MIN
    assert result["covered"]
    print(f"rotation under load: {result['ok']} SET+GET pairs, 0 errors, same connection")
    assert load.client_id() == load_id

    # Replication kept working throughout: a write after SET reaches the replica.
    writer = fc.tls_redis(primary, password=TOKEN_3)
    writer.set("after", "2")
    replica = fc.tls_redis(reader, password=TOKEN_3)
    wait_until(lambda: replica.get("after") == b"2", timeout=30, what="replicated after SET")


# Goal: AWS's modify rules: SET needs an existing token (ROTATE adds the first one), DELETE
# only comes with a move to user groups, an unknown strategy is refused.
def test_auth_token_modify_rules(fc, ec):
    create(ec, "plain", TransitEncryptionEnabled=True)
    wait_group_available(ec, "plain")
    for extra, code in [
        ({"AuthToken": TOKEN_1, "AuthTokenUpdateStrategy": "SET"},
         "InvalidParameterCombination"),
        ({"AuthTokenUpdateStrategy": "DELETE"}, "InvalidParameterCombination"),
        ({"AuthToken": TOKEN_1, "AuthTokenUpdateStrategy": "BOGUS"}, "InvalidParameterValue"),
        ({"AuthToken": "short", "AuthTokenUpdateStrategy": "ROTATE"}, "InvalidParameterValue"),
    ]:
        with pytest.raises(botocore.exceptions.ClientError) as excinfo:
            ec.modify_replication_group(ReplicationGroupId="plain", ApplyImmediately=True,
                                        **extra)
        assert client_error_code(excinfo.value)[0] == code, extra
    address = ec.describe_replication_groups(ReplicationGroupId="plain")[
        "ReplicationGroups"][0]["NodeGroups"][0]["PrimaryEndpoint"]["Address"]
    assert login_error(fc, address, None) is None
    ec.modify_replication_group(ReplicationGroupId="plain", AuthToken=TOKEN_1,
                                AuthTokenUpdateStrategy="ROTATE", ApplyImmediately=True)
    group = wait_group_available(ec, "plain")
    assert group["AuthTokenEnabled"] is True
    assert login_error(fc, address, None) == "NOAUTH Authentication required."
    assert login_error(fc, address, TOKEN_1) is None


# Goal: after a crash of Ferrocache alone (nodes keep running and are adopted) and after a
# clean restart (nodes restarted from a rewritten redis.conf), a one-node group created with a
# token still demands it, the control plane still reaches its nodes with the
# same secret names (CONFIG GET works, a reboot completes), and CONFIG stays hidden.
def test_token_and_control_identity_survive_restarts(fc, ec):
    ec.create_replication_group(ReplicationGroupId="solo", ReplicationGroupDescription="s",
                                CacheNodeType="cache.t3.micro", NumCacheClusters=1,
                                AuthToken=TOKEN_1, TransitEncryptionEnabled=True)

    def available():
        cluster = ec.describe_cache_clusters(CacheClusterId="solo-001", ShowCacheNodeInfo=True)[
            "CacheClusters"][0]
        return cluster if cluster["CacheClusterStatus"] == "available" else None

    cluster = wait_until(available, timeout=120, what="solo available")
    assert cluster["AuthTokenEnabled"] is True
    address = cluster["CacheNodes"][0]["Endpoint"]["Address"]
    identity = fc.control_identity()
    pid = fc.node_pids()["solo-001"]

    fc.kill9()
    fc.start()
    assert fc.control_identity() == identity
    wait_until(available, timeout=120, what="solo adopted")
    assert fc.node_pids()["solo-001"] == pid
    assert login_error(fc, address, None) == "NOAUTH Authentication required."
    assert login_error(fc, address, TOKEN_1) is None
    assert fc.config_get(address, "maxmemory", tls=True) == "402653184"

    fc.restart()
    # A clean stop saved and stopped the node; the new run starts it again.
    wait_until(lambda: fc.node_pids().get("solo-001") not in (None, pid), timeout=120,
               what="the node started again")
    wait_until(available, timeout=120, what="solo after a clean restart")
    wait_until(lambda: login_error(fc, address, TOKEN_1) is None, timeout=60, what="serving")
    assert login_error(fc, address, None) == "NOAUTH Authentication required."
    assert login_error(fc, address, TOKEN_1) is None
    assert fc.config_get(address, "maxmemory", tls=True) == "402653184"
    assert fc.tls_raw_reply(address, f"AUTH {TOKEN_1}") == "+OK"
    ec.reboot_cache_cluster(CacheClusterId="solo-001", CacheNodeIdsToReboot=["0001"])
    wait_until(available, timeout=120, what="rebooted")
    wait_until(lambda: login_error(fc, address, TOKEN_1) is None, timeout=60, what="serving")
    client = fc.tls_redis(address, password=TOKEN_1)
    assert str(pytest.raises(redis.exceptions.ResponseError, client.execute_command,
                             "CONFIG", "GET", "maxmemory").value).startswith("unknown command")
