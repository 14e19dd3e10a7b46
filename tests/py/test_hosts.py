"""Several hosts on one etcd store: three test hosts (network namespaces made by the test,
tests/py/netns.py), each with an etcd member and a ferrocache. A group's nodes are spread over
the hosts, one per zone as PreferredCacheClusterAZs asks, and replicate over the hosts'
addresses; the host of the primary dies (its ferrocache, its nodes and its etcd member killed)
and the primary fails over to a replica on a live host, with the acknowledged data."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time

import pytest
import redis

import netns
from botocore.exceptions import ClientError

from harness import (Ferrocache, default_binary, hosts_table, kill_nodes_now,
                     wait_group_available, wait_until)

pytestmark = pytest.mark.skipif(
    netns.available() is not None or shutil.which("etcd") is None,
    reason=netns.available() or "etcd-server is not installed")

ZONES = ["us-east-1a", "us-east-1b", "us-east-1c"]


class Site:
    """One test host: its namespace, its etcd member's place, its ferrocache."""

    def __init__(self, host: netns.Host, fc: Ferrocache, name: str, zone: str):
        self.host, self.fc, self.name, self.zone = host, fc, name, zone

    def redis(self, address: str, *command: str) -> str:
        """One redis-cli command from inside this host."""
        out = subprocess.run(["ip", "netns", "exec", self.host.name, "redis-cli", "-h", address,
                              "-p", "6379", *command], capture_output=True, text=True,
                             timeout=20)
        return out.stdout.strip()

    def nodes(self) -> set[str]:
        """The nodes whose directories this host keeps."""
        path = os.path.join(self.fc.data_dir, "nodes")
        return set(os.listdir(path)) if os.path.isdir(path) else set()


@pytest.fixture
def sites(request):
    """Three sites; `request.param` (indirect parametrization) adds arguments to every
    host's `ferrocache up`."""
    more_args = list(getattr(request, "param", []))
    rig = netns.Rig()
    etcd = None
    made: list[Site] = []
    try:
        hosts = [rig.add_host() for _ in range(3)]
        etcd = netns.EtcdCluster(rig, hosts)
        url = etcd.store_url("hosts")
        for index, host in enumerate(hosts):
            name = f"host{index + 1}"
            fc = Ferrocache(listen=f"{host.address}:4566",
                            prefix=["ip", "netns", "exec", host.name], ready_timeout=90,
                            extra_args=["--store", url, "--host-name", name,
                                        "--zone", ZONES[index],
                                        "--advertise-address", host.address,
                                        "--data-path", "router", *more_args])
            made.append(Site(host, fc, name, ZONES[index]))
        # The first leads; the others serve their agents and wait to lead.
        made[0].fc.start()
        for site in made[1:]:
            site.fc.start(wait=False)
        for site in made[1:]:
            wait_until(lambda: any(l.startswith("Host: ") for l in site.fc.lines), 60,
                       what=f"{site.name} registered")
        yield rig, etcd, made
    finally:
        for site in made:
            site.fc.close()
        if etcd is not None:
            etcd.close()
        rig.close()


def members(client, group_id: str) -> dict[str, str]:
    group = client.describe_replication_groups(ReplicationGroupId=group_id)["ReplicationGroups"][0]
    return {m["CacheClusterId"]: m["CurrentRole"]
            for m in group["NodeGroups"][0]["NodeGroupMembers"]}


def create_spread(ec, group_id: str, zones: list[str]) -> tuple[dict, str]:
    """A three-node group, one node per zone of `zones` in order (the first, -001, primary),
    written to once and synced to both replicas; the group and its primary endpoint."""
    ec.create_replication_group(
        ReplicationGroupId=group_id, ReplicationGroupDescription="over three hosts",
        NumCacheClusters=3, CacheNodeType="cache.t3.micro", Engine="redis",
        AutomaticFailoverEnabled=True, MultiAZEnabled=True, PreferredCacheClusterAZs=zones)
    group = wait_group_available(ec, group_id, timeout=int(os.environ.get("HOSTS_WAIT", "120")))
    assert members(ec, group_id)[f"{group_id}-001"] == "primary"
    return group, group["NodeGroups"][0]["PrimaryEndpoint"]["Address"]


def promoted(ec, group_id: str) -> list[str]:
    """The members other than -001 that are primary now."""
    return [n for n, r in members(ec, group_id).items()
            if r == "primary" and n != f"{group_id}-001"]


def test_a_group_spreads_over_hosts_and_fails_over_when_the_primary_host_dies(sites):
    rig, etcd, (leader, second, third) = sites
    ec = leader.fc.client()
    group, primary = create_spread(ec, "spread", [ZONES[1], ZONES[0], ZONES[2]])

    # One node per host, in the host's zone, as asked; the primary (-001) on the second host.
    assert second.nodes() == {"spread-001"}, second.nodes()
    assert leader.nodes() == {"spread-002"}, leader.nodes()
    assert third.nodes() == {"spread-003"}, third.nodes()
    zones = {c["CacheClusterId"]: c["PreferredAvailabilityZone"]
             for c in ec.describe_cache_clusters()["CacheClusters"]}
    assert zones == {"spread-001": ZONES[1], "spread-002": ZONES[0], "spread-003": ZONES[2]}

    # Writes through the primary endpoint reach both replicas on the other hosts.
    assert leader.redis(primary, "SET", "acked", "before") == "OK"
    assert leader.redis(primary, "WAIT", "2", "5000") == "2"

    # The primary's host dies: its ferrocache, its nodes and its etcd member.
    second.fc.kill9()
    kill_nodes_now(second.fc.data_dir)
    etcd.kill(second.host)

    new = wait_until(lambda: promoted(ec, "spread"), 60, poll=0.1, what="a replica promoted")
    assert new[0] in ("spread-002", "spread-003")
    assert wait_until(lambda: leader.redis(primary, "SET", "after", "1") == "OK", 30,
                      poll=0.1, what="writes through the primary endpoint")
    assert leader.redis(primary, "GET", "acked") == "before"
    events = [e["Message"] for e in
              ec.describe_events(SourceIdentifier="spread", SourceType="replication-group",
                                 Duration=60)["Events"]]
    assert any("Failover from primary node spread-001" in m and "completed" in m
               for m in events), events


def node_setting(site: Site, node: str, name: str) -> str:
    """A directive of the node's `redis.conf` on its host."""
    with open(os.path.join(site.fc.data_dir, "nodes", node, "redis.conf")) as f:
        values = [line.split(None, 1)[1].strip().strip('"') for line in f
                  if line.split(None, 1)[:1] == [name]]
    assert len(values) == 1, (node, name, values)
    return values[0]


def replica_connections_at(site: Site, endpoint: str, cafile: str) -> list[str]:
    """`laddr` of each replica connection on the node behind `endpoint` (TLS, from `site`):
    the address and port the replicas connected to."""
    out = subprocess.run(["ip", "netns", "exec", site.host.name, "redis-cli", "--tls",
                          "--cacert", cafile, "-h", endpoint, "-p", "6379",
                          "CLIENT", "LIST", "TYPE", "replica"],
                         capture_output=True, text=True, timeout=20)
    return [field.split("=", 1)[1] for line in out.stdout.splitlines()
            for field in line.split() if field.startswith("laddr=")]


# Goal: a group with encryption in transit replicates between hosts over TLS, also after a
# failover, and each node's private key is made on its own host and stays there. Method: a
# TransitEncryptionEnabled group over the three hosts; the nodes' TLS files are looked for on
# every host; on the primary, CLIENT LIST TYPE replica (through the TLS endpoint) says which
# port the replicas connected to — its TLS port, which speaks nothing but TLS — and WAIT
# counts them; then the primary's host dies and the same holds on the new primary.
def test_replication_between_hosts_goes_over_tls_when_the_group_encrypts_in_transit(sites):
    rig, etcd, (leader, second, third) = sites
    ec = leader.fc.client()
    ec.create_replication_group(
        ReplicationGroupId="sealed", ReplicationGroupDescription="TLS across hosts",
        NumCacheClusters=3, CacheNodeType="cache.t3.micro", Engine="redis",
        AutomaticFailoverEnabled=True, MultiAZEnabled=True, TransitEncryptionEnabled=True,
        PreferredCacheClusterAZs=[ZONES[1], ZONES[0], ZONES[2]])
    group = wait_group_available(ec, "sealed", timeout=int(os.environ.get("HOSTS_WAIT", "120")))
    primary = group["NodeGroups"][0]["PrimaryEndpoint"]["Address"]
    placed = {second: "sealed-001", leader: "sealed-002", third: "sealed-003"}
    for site, node in placed.items():
        assert site.nodes() == {node}, (site.name, site.nodes())
        key = os.path.join(site.fc.data_dir, "nodes", node, "tls", "server.key")
        assert os.stat(key).st_mode & 0o777 == 0o600
        assert node_setting(site, node, "tls-replication") == "yes"
    cafile = leader.fc.ca_file()

    def replicated_over_tls(site: Site, node: str, replicas: int):
        tls_port = node_setting(site, node, "tls-port")
        plain_port = node_setting(site, node, "port")
        assert tls_port != plain_port
        ports = wait_until(
            lambda: (lambda p: p if len(p) == replicas else None)(
                [a.rsplit(":", 1)[1] for a in replica_connections_at(leader, primary, cafile)]),
            30, poll=0.2, what=f"{replicas} replicas connected to {node}")
        assert ports == [tls_port] * replicas, (ports, tls_port)

    replicated_over_tls(second, "sealed-001", 2)
    tls = ["--tls", "--cacert", cafile]
    assert leader.redis(primary, *tls, "SET", "acked", "before") == "OK"
    assert leader.redis(primary, *tls, "WAIT", "2", "5000") == "2"

    second.fc.kill9()
    kill_nodes_now(second.fc.data_dir)
    etcd.kill(second.host)
    new = wait_until(lambda: promoted(ec, "sealed"), 60, poll=0.1, what="a replica promoted")[0]
    site = leader if new == "sealed-002" else third
    assert wait_until(lambda: leader.redis(primary, *tls, "SET", "after", "1") == "OK", 30,
                      poll=0.1, what="writes through the primary endpoint")
    replicated_over_tls(site, new, 1)
    assert leader.redis(primary, *tls, "WAIT", "1", "5000") == "1"
    assert leader.redis(primary, *tls, "GET", "acked") == "before"


def test_the_leaders_host_dies_another_host_leads_and_fails_its_primary_over(sites):
    rig, etcd, (leader, second, third) = sites
    ec = leader.fc.client()
    group, primary = create_spread(ec, "led", ZONES)
    assert leader.nodes() == {"led-001"}
    assert leader.redis(primary, "SET", "acked", "before") == "OK"
    assert leader.redis(primary, "WAIT", "2", "5000") == "2"

    # The leader's host dies: another host takes the lead once the lease runs out, adopts the
    # nodes that still run, and promotes one of them.
    leader.fc.kill9()
    kill_nodes_now(leader.fc.data_dir)
    etcd.kill(leader.host)
    wait_until(lambda: second.fc._ready.is_set() or third.fc._ready.is_set(), 60, poll=0.1,
               what="another host leads")
    new = second if second.fc._ready.is_set() else third
    ec = new.fc.client()

    wait_until(lambda: promoted(ec, "led"), 60, poll=0.1, what="a replica promoted")
    wait_group_available(ec, "led", timeout=60)
    assert wait_until(lambda: new.redis(primary, "SET", "after", "1") == "OK", 30, poll=0.1,
                      what="writes through the primary endpoint on the new leader's host")
    assert new.redis(primary, "GET", "acked") == "before"
    # The nodes on the live hosts kept running: adopted, not restarted.
    assert second.nodes() == {"led-002"} and third.nodes() == {"led-003"}


def test_a_cut_off_primary_host_fails_over_and_comes_back_as_a_replica(sites):
    rig, etcd, (leader, second, third) = sites
    ec = leader.fc.client()
    group, primary = create_spread(ec, "cut", [ZONES[1], ZONES[0], ZONES[2]])
    assert second.nodes() == {"cut-001"}
    assert leader.redis(primary, "SET", "acked", "before") == "OK"
    assert leader.redis(primary, "WAIT", "2", "5000") == "2"

    # Cut off (its node keeps running there): the leader loses its stream and fails over.
    rig.cut(second.host)

    wait_until(lambda: promoted(ec, "cut"), 60, poll=0.1, what="a replica promoted")
    assert wait_until(lambda: leader.redis(primary, "SET", "during", "cut") == "OK", 30,
                      poll=0.1, what="writes through the primary endpoint")

    # Back: the old primary follows the new one and holds what was written meanwhile.
    rig.heal(second.host)
    wait_group_available(ec, "cut", timeout=60)
    wait_until(lambda: members(ec, "cut").get("cut-001") == "replica", 60, poll=0.2,
               what="the old primary back as a replica")
    node = next(c for c in ec.describe_cache_clusters(CacheClusterId="cut-001",
                                                      ShowCacheNodeInfo=True)["CacheClusters"])
    address = node["CacheNodes"][0]["Endpoint"]["Address"]
    wait_until(lambda: leader.redis(address, "GET", "during") == "cut", 60, poll=0.2,
               what="the old primary synced from the new one")
    assert leader.redis(address, "GET", "acked") == "before"



# Goal: a snapshot of a group spread over hosts is taken from a replica on another host than
# the leader's (as ElastiCache takes it from a replica), holds the acknowledged data, and
# restores — also through a host that leads later, which copies the files from the host
# holding them. Method: the primary on the leader's host and the lowest replica (the
# snapshot's source) on the second; CreateSnapshot, then a new group from it, its data read
# back; then the leader stops (another host leads), comes back as a plain host, and a second
# group is restored through the new leader.
def test_a_snapshot_taken_on_another_host_holds_the_data_and_restores(sites):
    rig, etcd, (leader, second, third) = sites
    ec = leader.fc.client()
    group, primary = create_spread(ec, "snapped", [ZONES[0], ZONES[1], ZONES[2]])
    assert second.nodes() == {"snapped-002"}
    for i in range(50):
        assert leader.redis(primary, "SET", f"k{i}", f"v{i}") == "OK"
    assert leader.redis(primary, "WAIT", "2", "5000") == "2"
    ec.create_snapshot(ReplicationGroupId="snapped", SnapshotName="snapped-1")
    snapshot = wait_until(
        lambda: (lambda s: s if s["SnapshotStatus"] != "creating" else None)(
            ec.describe_snapshots(SnapshotName="snapped-1")["Snapshots"][0]),
        60, poll=0.2, what="the snapshot done")
    assert snapshot["SnapshotStatus"] == "available", snapshot
    assert [n["CacheClusterId"] for n in snapshot["NodeSnapshots"]] == ["snapped-002"]
    # Restored over the three hosts too: the snapshot's file is sent to each node's host.
    ec.create_replication_group(
        ReplicationGroupId="restored", ReplicationGroupDescription="from a snapshot",
        NumCacheClusters=3, CacheNodeType="cache.t3.micro", Engine="redis",
        AutomaticFailoverEnabled=True, PreferredCacheClusterAZs=[ZONES[2], ZONES[0], ZONES[1]],
        SnapshotName="snapped-1")
    back = wait_group_available(ec, "restored", timeout=120)
    assert "restored-001" in third.nodes() and "restored-002" in leader.nodes()
    assert "restored-003" in second.nodes()
    endpoint = back["NodeGroups"][0]["PrimaryEndpoint"]["Address"]
    assert leader.redis(endpoint, "DBSIZE") == "50"
    assert leader.redis(endpoint, "GET", "k49") == "v49"

    leader.fc.stop()
    wait_until(lambda: second.fc._ready.is_set() or third.fc._ready.is_set(), 60, poll=0.1,
               what="another host leads")
    new = second if second.fc._ready.is_set() else third
    leader.fc.start(wait=False)
    wait_until(lambda: sum(l.startswith("Host: ") for l in leader.fc.lines) >= 2, 60,
               what="the first host back, not leading")
    ec = new.fc.client()
    ec.create_replication_group(
        ReplicationGroupId="again", ReplicationGroupDescription="from a snapshot held elsewhere",
        NumCacheClusters=1, CacheNodeType="cache.t3.micro", Engine="redis",
        PreferredCacheClusterAZs=[new.zone], SnapshotName="snapped-1")
    again = wait_group_available(ec, "again", timeout=120)
    endpoint = again["NodeGroups"][0]["PrimaryEndpoint"]["Address"]
    assert new.redis(endpoint, "DBSIZE") == "50"
    assert new.redis(endpoint, "GET", "k0") == "v0"
    assert "copied a snapshot's files from the host holding them" in new.fc.log_tail(4000)


def agent_port(site: Site) -> int:
    """The port of the site's agent, from its `Host: … agent at A:P` line."""
    line = next(l for l in site.fc.lines if l.startswith("Host: "))
    return int(line.rsplit(":", 1)[1])


def cut_agent(leader: Site, site: Site, cut: bool = True):
    """Cuts (or heals) the leader's calls to `site`'s agent and the agent's answers, nothing
    else: both hosts still reach etcd, each other's nodes and everyone else."""
    port = str(agent_port(site))
    verb = "add" if cut else "del"
    subprocess.run(["ip", "-n", leader.host.name, "rule", verb, "to", site.host.address,
                    "ipproto", "tcp", "dport", port, "prohibit"], check=True)
    subprocess.run(["ip", "-n", site.host.name, "rule", verb, "to", leader.host.address,
                    "ipproto", "tcp", "sport", port, "prohibit"], check=True)


# Goal: a host cut off from the leading host but not from etcd (so not fenced: a quorum
# answers it) does not keep a second primary taking writes once the leader promoted another:
# it demotes its own node when its copy of the store records the promotion. Method: cut only
# the leader's link to the primary's host's agent (ip rules on its port); the leader takes
# the host for lost and promotes a replica; a client on the cut host writing to the old
# primary's own node endpoint gets READONLY; healed, the group is available with the old
# primary a replica.
def test_a_host_cut_off_from_the_leader_but_not_from_etcd_demotes_its_replaced_primary(sites):
    rig, etcd, (leader, second, third) = sites
    ec = leader.fc.client()
    group, primary = create_spread(ec, "asym", [ZONES[1], ZONES[0], ZONES[2]])
    assert second.nodes() == {"asym-001"}
    node = ec.describe_cache_clusters(CacheClusterId="asym-001",
                                      ShowCacheNodeInfo=True)["CacheClusters"][0]
    own = node["CacheNodes"][0]["Endpoint"]["Address"]
    assert second.redis(own, "SET", "before", "1") == "OK"

    cut_agent(leader, second)
    try:
        wait_until(lambda: promoted(ec, "asym"), 60, poll=0.1, what="a replica promoted")
        # Its endpoints still serve (not fenced), and the old primary refuses writes.
        assert wait_until(lambda: second.redis(own, "SET", "split", "1").startswith("READONLY"),
                          30, poll=0.1, what="the old primary demoted on its own host")
        assert second.redis(own, "GET", "before") == "1"
    finally:
        cut_agent(leader, second, cut=False)
    wait_until(lambda: members(ec, "asym").get("asym-001") == "replica", 60, poll=0.2,
               what="the old primary a replica")
    wait_group_available(ec, "asym", timeout=60)
    assert any("demoted a primary of this host" in line
               for line in second.fc.log_tail(4000).splitlines())


class Writer:
    """On `host`, writes through the endpoint `address`:6379 until stopped, each write
    pipelined with `INFO replication`: which primary (`master_replid`) acknowledged it, and
    when (this machine's monotonic clock)."""

    def __init__(self, host: netns.Host, address: str):
        self.host, self.address = host, address
        self.acked: list[tuple[float, str]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        netns.enter(self.host)
        client = None
        deadline = time.monotonic() + 120
        n = 0
        while not self.stop.is_set() and time.monotonic() < deadline:
            try:
                if client is None:
                    client = redis.Redis(host=self.address, port=6379, socket_timeout=0.5,
                                         socket_connect_timeout=0.5)
                pipe = client.pipeline(transaction=False)
                pipe.set(f"w:{self.host.name}:{n}", n)
                pipe.info("replication")
                _, info = pipe.execute()
                if info.get("role") == "master":
                    self.acked.append((time.monotonic(), info["master_replid"]))
                n += 1
            except redis.RedisError:
                client = None
            time.sleep(0.005)

    def close(self) -> list[tuple[float, str]]:
        self.stop.set()
        self.thread.join(30)
        return self.acked


def writes_flowing(*writers: Writer):
    wait_until(lambda: all(len(w.acked) > 20 for w in writers), 30,
               what="writes flowing on both hosts")


def handover(acks: list[tuple[float, str]], old: str) -> tuple[float, float]:
    """When the old primary acknowledged its last write, and the new one its first."""
    return (max(t for t, by in acks if by == old), min(t for t, by in acks if by != old))


def test_every_host_serves_every_endpoint_and_a_cut_off_host_stops_before_the_new_primary_starts(sites):
    rig, etcd, (leader, second, third) = sites
    ec = leader.fc.client()
    group, primary = create_spread(ec, "fence", [ZONES[1], ZONES[0], ZONES[2]])
    assert second.nodes() == {"fence-001"}
    reader = group["NodeGroups"][0]["ReaderEndpoint"]["Address"]

    # Any host's endpoint reaches the group: written on one host, read on the others.
    assert wait_until(lambda: third.redis(primary, "SET", "from", "third") == "OK", 30,
                      poll=0.2, what="the primary endpoint served on the third host")
    assert second.redis(primary, "GET", "from") == "third"
    assert leader.redis(primary, "WAIT", "2", "5000") == "2"
    assert wait_until(lambda: second.redis(reader, "GET", "from") == "third", 30, poll=0.2,
                      what="the reader endpoint served on the second host")

    # Clients on the primary's host and on the leader's write through their own host's
    # primary endpoint while the primary's host is cut off.
    beside, far = Writer(second.host, primary), Writer(leader.host, primary)
    writes_flowing(beside, far)
    old = far.acked[0][1]
    rig.cut(second.host)
    wait_until(lambda: far.acked[-1][1] != old, 60, poll=0.05,
               what="a write acknowledged by the new primary")
    time.sleep(2)
    old_last, new_first = handover(beside.close() + far.close(), old)
    # Never two primaries taking writes: the cut-off host's endpoint stopped serving its
    # primary before the replica elsewhere was promoted.
    assert old_last < new_first, (old_last, new_first)

    # Back: the cut-off host serves the endpoints again, to the new primary.
    rig.heal(second.host)
    try:
        wait_until(lambda: second.redis(primary, "SET", "after", "heal") == "OK", 60,
                   poll=0.2, what="the healed host's primary endpoint serving again")
    except TimeoutError:
        print(second.fc.log_tail(150))
        raise
    assert leader.redis(primary, "GET", "after") == "heal"



def test_a_cut_off_leader_host_fences_its_endpoints_and_another_host_leads(sites):
    rig, etcd, (leader, second, third) = sites
    ec = leader.fc.client()
    group, primary = create_spread(ec, "lead", ZONES)
    assert leader.nodes() == {"lead-001"}
    assert leader.redis(primary, "SET", "acked", "before") == "OK"
    assert leader.redis(primary, "WAIT", "2", "5000") == "2"

    # The leading host, which runs the primary, is cut off with clients on it and on another.
    beside, far = Writer(leader.host, primary), Writer(third.host, primary)
    writes_flowing(beside, far)
    old = beside.acked[0][1]
    rig.cut(leader.host)
    wait_until(lambda: second.fc._ready.is_set() or third.fc._ready.is_set(), 60, poll=0.1,
               what="another host leads")
    new = second if second.fc._ready.is_set() else third
    wait_until(lambda: far.acked and far.acked[-1][1] != old, 60, poll=0.05,
               what="a write acknowledged by the new primary")
    time.sleep(1)
    old_last, new_first = handover(beside.close() + far.close(), old)
    assert old_last < new_first, (old_last, new_first)
    assert new.redis(primary, "GET", "acked") == "before"

    # Back: the old leader's host serves the endpoints again, to the new primary.
    rig.heal(leader.host)
    assert wait_until(lambda: leader.redis(primary, "SET", "after", "heal") == "OK", 60,
                      poll=0.2, what="the healed host's primary endpoint serving again")
    assert new.redis(primary, "GET", "after") == "heal"


MIB = 1024 * 1024


def hosts_listing(site: Site, url: str, *more: str) -> dict[str, dict[str, str]]:
    """`ferrocache hosts` run on `site` (with `more` arguments): each host's cells by heading."""
    return hosts_table(default_binary(), url, *more,
                       prefix=["ip", "netns", "exec", site.host.name])


def node_memory(row: dict[str, str]) -> tuple[int, int]:
    """The NODE MEMORY cell of a `ferrocache hosts` row: MiB taken, MiB given."""
    used, total = row["NODE MEMORY (MiB)"].split("/")
    return int(used), int(total)


@pytest.mark.parametrize("sites", [["--host-memory", "1GiB"]], indirect=True)
def test_hosts_memory_bounds_the_nodes_placed_and_the_api_says_so(sites):
    """Each host gives cache nodes 1 GiB: two cache.t3.micro nodes (512 MiB each) per host,
    six in all. Nodes go where there is room; a call asking for more is refused at once with
    AWS's InsufficientCacheClusterCapacity, writing nothing; deleting a group makes room."""
    rig, etcd, all_sites = sites
    leader = all_sites[0]
    ec = leader.fc.client()
    create_spread(ec, "cap-a", ZONES)
    create_spread(ec, "cap-b", ZONES)
    assert [len(s.nodes()) for s in all_sites] == [2, 2, 2]
    listing = hosts_listing(leader, etcd.store_url("hosts"))
    assert sorted(listing) == ["host1", "host2", "host3"], listing
    for name, row in listing.items():
        assert node_memory(row) == (1024, 1024), (name, row)

    with pytest.raises(ClientError) as refused:
        ec.create_cache_cluster(CacheClusterId="cap-c", CacheNodeType="cache.t3.micro",
                                Engine="redis", NumCacheNodes=1)
    error = refused.value.response
    assert error["Error"]["Code"] == "InsufficientCacheClusterCapacity", error
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "cache.t3.micro" in error["Error"]["Message"], error
    with pytest.raises(ClientError) as refused:
        ec.create_replication_group(ReplicationGroupId="cap-d", ReplicationGroupDescription="x",
                                    NumCacheClusters=2, CacheNodeType="cache.t3.micro",
                                    Engine="redis")
    assert refused.value.response["Error"]["Code"] == "InsufficientCacheClusterCapacity"
    with pytest.raises(ClientError) as missing:
        ec.describe_replication_groups(ReplicationGroupId="cap-d")
    assert missing.value.response["Error"]["Code"] == "ReplicationGroupNotFoundFault"
    with pytest.raises(ClientError) as refused:
        ec.modify_replication_group(ReplicationGroupId="cap-a", CacheNodeType="cache.t3.small",
                                    ApplyImmediately=True)
    assert refused.value.response["Error"]["Code"] == "InsufficientCacheClusterCapacity"

    # Room again once a group is gone: its nodes' memory comes back with their intents.
    ec.delete_replication_group(ReplicationGroupId="cap-b")
    ec.get_waiter("replication_group_deleted").wait(
        ReplicationGroupId="cap-b", WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    ec.create_cache_cluster(CacheClusterId="cap-c", CacheNodeType="cache.t3.micro",
                            Engine="redis", NumCacheNodes=1)
    ec.get_waiter("cache_cluster_available").wait(
        CacheClusterId="cap-c", WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    listing = hosts_listing(leader, etcd.store_url("hosts"))
    assert sum(node_memory(row)[0] for row in listing.values()) == 4 * 512, listing


def test_draining_a_host_moves_its_nodes_to_the_other_hosts(sites):
    """ferrocache hosts --drain: the drained host's primary hands over to a replica on another
    host, then it and any replica there start again on the other hosts (same endpoints), with
    the data; a standalone node there moves with its data file; nothing new goes to the
    drained host until --undrain."""
    rig, etcd, (leader, second, third) = sites
    ec = leader.fc.client()
    url = etcd.store_url("hosts")
    group, primary = create_spread(ec, "drain", [ZONES[1], ZONES[0], ZONES[2]])
    ec.create_cache_cluster(CacheClusterId="lone", CacheNodeType="cache.t3.micro",
                            Engine="redis", NumCacheNodes=1, PreferredAvailabilityZone=ZONES[1])
    ec.get_waiter("cache_cluster_available").wait(
        CacheClusterId="lone", WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    assert second.nodes() == {"drain-001", "lone"}
    endpoints = {c["CacheClusterId"]: c["CacheNodes"][0]["Endpoint"]["Address"]
                 for c in ec.describe_cache_clusters(ShowCacheNodeInfo=True)["CacheClusters"]}
    assert leader.redis(primary, "SET", "kept", "yes") == "OK"
    assert leader.redis(primary, "WAIT", "2", "5000") == "2"
    for i in range(100):
        assert leader.redis(endpoints["lone"], "SET", f"lone{i}", str(i)) == "OK"

    rows = hosts_listing(leader, url, "--drain", "host2")
    assert rows["host2"]["DRAINING"] == "yes", rows
    assert rows["host1"]["DRAINING"] == "", rows

    new = wait_until(lambda: promoted(ec, "drain"), 60, poll=0.1, what="a primary elsewhere")
    assert new[0] in ("drain-002", "drain-003")
    wait_until(lambda: second.nodes() == set(), 60, poll=0.2, what="host2 holds no node")
    wait_until(lambda: leader.redis(primary, "WAIT", "2", "1000") == "2", 60, poll=0.2,
               what="both replicas in sync again")
    assert leader.redis(primary, "GET", "kept") == "yes"
    assert leader.nodes() | third.nodes() == {"drain-001", "drain-002", "drain-003", "lone"}
    # The moved node answers at its own endpoint, as a replica with the data.
    assert leader.redis(endpoints["drain-001"], "GET", "kept") == "yes"
    assert "role:slave" in leader.redis(endpoints["drain-001"], "INFO", "replication")
    rows = hosts_listing(leader, url)
    assert rows["host2"]["NODES"] == "0", rows
    zones = {c["CacheClusterId"]: c["PreferredAvailabilityZone"]
             for c in ec.describe_cache_clusters()["CacheClusters"]}
    assert zones["drain-001"] in (ZONES[0], ZONES[2]), zones
    # The standalone node moved with every key it acknowledged, at its own endpoint.
    ec.get_waiter("cache_cluster_available").wait(
        CacheClusterId="lone", WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    assert leader.redis(endpoints["lone"], "DBSIZE") == "100"
    assert leader.redis(endpoints["lone"], "GET", "lone99") == "99"

    # Nothing new goes to a draining host; after --undrain it takes nodes again.
    ec.create_cache_cluster(CacheClusterId="solo", CacheNodeType="cache.t3.micro",
                            Engine="redis", NumCacheNodes=1, PreferredAvailabilityZone=ZONES[1])
    ec.get_waiter("cache_cluster_available").wait(
        CacheClusterId="solo", WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    assert second.nodes() == set()
    rows = hosts_listing(leader, url, "--undrain", "host2")
    assert rows["host2"]["DRAINING"] == "", rows
    ec.create_cache_cluster(CacheClusterId="solo2", CacheNodeType="cache.t3.micro",
                            Engine="redis", NumCacheNodes=1, PreferredAvailabilityZone=ZONES[1])
    ec.get_waiter("cache_cluster_available").wait(
        CacheClusterId="solo2", WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    assert second.nodes() == {"solo2"}
    with pytest.raises(subprocess.CalledProcessError):
        hosts_listing(leader, url, "--drain", "nosuchhost")
