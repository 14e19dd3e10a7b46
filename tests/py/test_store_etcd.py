"""The control plane's state in etcd (`ferrocache up --store etcd://…`): moving a data
directory's state there, one leader per store, and a leader that loses etcd stopping.

Each test starts its own etcd member (Debian's etcd-server) and stops it by its pid."""

from __future__ import annotations

import subprocess
import threading

import pytest
import redis
from botocore.exceptions import ClientError

from harness import (EtcdMember, Ferrocache, client_error_code, hosts_table,
                     wait_group_available, wait_until)

pytestmark = pytest.mark.skipif(subprocess.run(["which", "etcd"], capture_output=True)
                                .returncode != 0, reason="etcd-server is not installed")


@pytest.fixture
def etcd():
    member = EtcdMember()
    yield member
    member.stop()


def on_store(url: str, **kwargs) -> Ferrocache:
    return Ferrocache(extra_args=["--store", url], **kwargs)


def test_migrate_a_data_dir_into_etcd_and_run_on_it(etcd):
    fc = Ferrocache()
    fc.store_url = None  # this instance starts on the embedded store, whatever the run uses
    try:
        fc.start()
        ec = fc.client()
        ec.create_cache_parameter_group(CacheParameterGroupName="kept",
                                        CacheParameterGroupFamily="redis7", Description="k")
        ec.modify_cache_parameter_group(
            CacheParameterGroupName="kept",
            ParameterNameValues=[{"ParameterName": "maxmemory-policy",
                                  "ParameterValue": "allkeys-lru"}])
        ec.create_replication_group(ReplicationGroupId="moved", ReplicationGroupDescription="m",
                                    NumCacheClusters=2, CacheParameterGroupName="kept")
        group = wait_group_available(ec, "moved")
        primary = group["NodeGroups"][0]["PrimaryEndpoint"]["Address"]
        redis.Redis(host=primary).set("survives", "the move")
        fc.stop()

        url = etcd.store_url("moved")
        migrate = [fc.binary, "store", "migrate", "--data-dir", fc.data_dir, "--to", url]
        done = subprocess.run(migrate, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert f"into {url}" in done.stdout
        again = subprocess.run(migrate, capture_output=True, text=True, timeout=60)
        assert again.returncode != 0
        assert "must be empty" in again.stderr

        fc.extra_args = ["--store", url]
        fc.start()
        assert any(line == f"Store: {url} (leading)" for line in fc.lines), fc.lines
        ec = fc.client()
        group = wait_group_available(ec, "moved")
        assert group["NodeGroups"][0]["PrimaryEndpoint"]["Address"] == primary
        params = ec.describe_cache_parameters(CacheParameterGroupName="kept",
                                              Source="user")["Parameters"]
        assert [(p["ParameterName"], p["ParameterValue"]) for p in params] == \
            [("maxmemory-policy", "allkeys-lru")]
        assert redis.Redis(host=primary).get("survives") == b"the move"
    finally:
        fc.close()


def hosts(fc: Ferrocache, url: str) -> dict[str, dict]:
    """`ferrocache hosts --store url`, by host name."""
    table = hosts_table(fc.binary, url)
    return {name: {"zone": row["ZONE"], "address": row["ADDRESS"], "leads": row["LEADS"] == "yes"}
            for name, row in table.items()}


def test_a_second_ferrocache_on_the_store_registers_and_waits_for_the_leader(etcd):
    url = etcd.store_url("shared")
    first = Ferrocache(extra_args=["--store", url, "--host-name", "first",
                                   "--zone", "us-east-1a"])
    second = Ferrocache(extra_args=["--store", url, "--host-name", "second",
                                    "--zone", "us-east-1b", "--advertise-address", "127.0.0.2"],
                        ready_timeout=60)
    try:
        first.start()
        first.client().create_cache_parameter_group(
            CacheParameterGroupName="from-first", CacheParameterGroupFamily="redis7",
            Description="f")
        started = threading.Thread(target=second.start)
        started.start()
        wait_until(lambda: "another process leads the store; waiting"
                   in open(second.stderr_path(), errors="replace").read(),
                   30, what="the second says it waits")
        assert not second._ready.is_set()
        listed = hosts(first, url)
        assert listed == {
            "first": {"zone": "us-east-1a", "address": "127.0.0.1", "leads": True},
            "second": {"zone": "us-east-1b", "address": "127.0.0.2", "leads": False},
        }, listed
        assert first.stop() == 0
        started.join(60)
        assert second.running
        names = [g["CacheParameterGroupName"] for g in
                 second.client().describe_cache_parameter_groups()["CacheParameterGroups"]]
        assert "from-first" in names
        # A clean stop withdraws the host at once (its lease revoked).
        assert hosts(second, url) == {
            "second": {"zone": "us-east-1b", "address": "127.0.0.2", "leads": True}}
    finally:
        first.close()
        second.close()


def stderr_of(fc: Ferrocache) -> str:
    return open(fc.stderr_path(), errors="replace").read()


def test_losing_etcd_stops_changes_not_data(etcd):
    """etcd out of reach: changes are refused (503), the leadership lapses, the endpoints keep
    serving reads and writes; etcd back: the leadership is taken again and changes work."""
    fc = on_store(etcd.store_url("lost"))
    try:
        fc.start()
        ec = fc.client()
        ec.create_replication_group(ReplicationGroupId="kept", ReplicationGroupDescription="k",
                                    NumCacheClusters=2)
        primary = wait_group_available(ec, "kept")["NodeGroups"][0]["PrimaryEndpoint"]
        data = redis.Redis(host=primary["Address"], port=primary["Port"])
        data.set("before", "1")
        etcd.kill()
        with pytest.raises(ClientError) as refused:
            ec.create_cache_parameter_group(CacheParameterGroupName="during",
                                            CacheParameterGroupFamily="redis7",
                                            Description="d")
        assert client_error_code(refused.value) == ("ServiceUnavailable", 503)
        wait_until(lambda: "lost the store's leadership" in stderr_of(fc), 60, poll=0.2,
                   what="the leadership lapses")
        assert fc.running
        assert data.get("before") == b"1"
        data.set("while-away", "2")
        assert data.get("while-away") == b"2"
        etcd.start()
        wait_until(lambda: "leading the store again" in stderr_of(fc), 60, poll=0.2,
                   what="the leadership is taken again")
        ec.create_cache_parameter_group(CacheParameterGroupName="after",
                                        CacheParameterGroupFamily="redis7", Description="a")
        assert wait_group_available(ec, "kept")["Status"] == "available"
        assert data.get("while-away") == b"2"
    finally:
        fc.close()


def test_reads_keep_answering_while_etcd_is_away(etcd):
    fc = on_store(etcd.store_url("reads"))
    try:
        fc.start()
        ec = fc.client()
        ec.create_cache_parameter_group(CacheParameterGroupName="readable",
                                        CacheParameterGroupFamily="redis7", Description="r")
        etcd.stop()
        names = [g["CacheParameterGroupName"] for g in
                 ec.describe_cache_parameter_groups()["CacheParameterGroups"]]
        assert "readable" in names
    finally:
        fc.close()


def test_a_host_name_is_one_host(etcd):
    url = etcd.store_url("names")
    first = Ferrocache(extra_args=["--store", url, "--host-name", "cache-a"])
    twin = Ferrocache(extra_args=["--store", url, "--host-name", "cache-a"], ready_timeout=30)
    try:
        first.start()
        with pytest.raises(RuntimeError) as refused:
            twin.start()
        assert "exited with" in str(refused.value)
        stderr = open(twin.stderr_path(), errors="replace").read()
        assert "host name cache-a is registered" in stderr, stderr[-2000:]
        assert first.running
    finally:
        twin.proc = None
        first.close()
        twin.close()
