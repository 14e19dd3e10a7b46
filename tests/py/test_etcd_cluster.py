"""Ferrocache on a three-member etcd cluster, each member on its own test host (a network
namespace made by the test, tests/py/netns.py): losing one member — even the one Ferrocache
talks to, even the cluster's leader — changes nothing but a pause while etcd elects a leader;
losing the quorum stops changes, not data; the quorum back, everything carries on."""

from __future__ import annotations

import shutil

import pytest
import redis
from botocore.exceptions import ClientError

import netns
from harness import Ferrocache, client_error_code, wait_group_available, wait_until

pytestmark = pytest.mark.skipif(
    netns.available() is not None or shutil.which("etcd") is None,
    reason=netns.available() or "etcd-server is not installed")


@pytest.fixture
def cluster():
    rig = netns.Rig()
    members = None
    try:
        hosts = [rig.add_host() for _ in range(3)]
        members = netns.EtcdCluster(rig, hosts)
        yield rig, members
    finally:
        if members is not None:
            members.close()
        rig.close()


def create_parameter_group(ec, name: str):
    ec.create_cache_parameter_group(CacheParameterGroupName=name,
                                    CacheParameterGroupFamily="redis7", Description=name)


def create_through_an_election(ec, name: str):
    """Creates a parameter group while etcd may be electing a leader: a refusal (503) during the
    election is retried; AlreadyExists means an earlier try was recorded after all."""
    def created():
        try:
            create_parameter_group(ec, name)
        except ClientError as e:
            if client_error_code(e)[0] != "CacheParameterGroupAlreadyExists":
                raise
        return True

    wait_until(created, 60, poll=0.2, what=f"{name} created")


def stderr_of(fc: Ferrocache) -> str:
    return open(fc.stderr_path(), errors="replace").read()


def test_one_member_lost_changes_nothing_quorum_lost_stops_changes_not_data(cluster):
    rig, etcd = cluster
    first, second, third = etcd.hosts
    fc = Ferrocache(extra_args=["--store", etcd.store_url("cluster")])
    try:
        fc.start()
        ec = fc.client()
        ec.create_replication_group(ReplicationGroupId="spread", ReplicationGroupDescription="s",
                                    NumCacheClusters=2, AutomaticFailoverEnabled=True)
        endpoint = wait_group_available(ec, "spread")["NodeGroups"][0]["PrimaryEndpoint"]
        data = redis.Redis(host=endpoint["Address"], port=endpoint["Port"], socket_timeout=5)
        data.set("k", "0")

        # The member Ferrocache talks to first (the first of the URL) dies: nothing changes.
        etcd.kill(first)
        # (It may have been the raft leader too: then changes pause for the election.)
        create_through_an_election(ec, "one-member-down")
        ec.test_failover(ReplicationGroupId="spread", NodeGroupId="0001")
        def failover_completed():
            events = ec.describe_events(SourceIdentifier="spread",
                                        SourceType="replication-group")["Events"]
            return any(e["Message"].startswith("Failover from primary node")
                       and e["Message"].endswith("completed") for e in events)

        wait_until(failover_completed, 60, what="the failover completes")
        wait_group_available(ec, "spread")
        data.set("k", "1")
        etcd.start(first)
        wait_until(lambda: all(etcd.status(h) for h in etcd.hosts), 30, what="all members back")

        # The cluster's leader dies: changes pause while a new one is elected (about a second,
        # longer on a loaded machine), then go on; the data path does not notice.
        leader = wait_until(etcd.leader, 30, what="a leader")
        etcd.kill(leader)
        create_through_an_election(ec, "leader-down-0")
        assert data.get("k") == b"1"
        for n in range(1, 3):
            create_parameter_group(ec, f"leader-down-{n}")
        etcd.start(leader)
        wait_until(lambda: all(etcd.status(h) for h in etcd.hosts), 30, what="all members back")

        # Two of three cut off: no quorum. Changes are refused; data and reads are not.
        rig.cut(second)
        rig.cut(third)
        with pytest.raises(ClientError) as refused:
            create_parameter_group(ec, "no-quorum")
        assert client_error_code(refused.value) == ("ServiceUnavailable", 503)
        names = [g["CacheParameterGroupName"] for g in
                 ec.describe_cache_parameter_groups()["CacheParameterGroups"]]
        assert "one-member-down" in names and "no-quorum" not in names
        assert data.get("k") == b"1"
        data.set("k", "2")
        assert data.get("k") == b"2"

        # The quorum back: changes are accepted again (once the leadership is held again,
        # if it lapsed meanwhile).
        rig.heal(second)
        rig.heal(third)
        wait_until(lambda: create_parameter_group(ec, "quorum-back") is None, 60, poll=0.5,
                   what="changes accepted again")
        assert data.get("k") == b"2"
        assert wait_group_available(ec, "spread")["Status"] == "available"
    finally:
        fc.close()
