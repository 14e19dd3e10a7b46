#!/usr/bin/env python3
"""Losing a host: Ferrocache on three hosts against Redis Sentinel on the same three, one run.

Run through bench/hosts.sh (root, for the network namespaces). Each trial builds its own rig
(tests/py/netns.py): three namespace hosts on a bridge, each with an etcd member and a
`ferrocache up --store etcd://…` (the first leads), then a three-node group with one node per
host and its primary on the second host. The reference is the same three hosts running
redis-server (primary on the second) and a Sentinel each (quorum 2, down-after 1000 ms).

A client on the first host writes `SET seq:N N` every WRITE_INTERVAL (1 ms): for Ferrocache
through the group's primary endpoint (its own host's: every host serves every endpoint), for
Sentinel to the master Sentinel names. Two trials of each kind:

- kill: the primary's host dies (its ferrocache or sentinel, its redis-servers and its etcd
  member SIGKILLed). RTO = kill → first acknowledged write; lost = acknowledged writes missing
  from the new primary afterwards.
- partition: the primary's host is cut off (its link down). A second client, on the cut-off
  host, writes to what it takes for the primary (Sentinel's clients talk to the master
  directly; Ferrocache's through the primary endpoint of the cut-off host, which fences
  itself; a previous build that served endpoints on the leading host only writes nothing
  there, unless PREVIOUS_ENDPOINTS_ON_LEADER_ONLY=0). gap = the new primary's first acknowledged write − the old primary's last
  (both clocks are this machine's monotonic clock): positive means never two writable
  primaries at once; negative is the length of a split brain.

With FERROCACHE_PREVIOUS_BIN, a previous build runs the same trials in the same run.

Prints each trial and the medians; every process is stopped by its pid and every namespace
removed, also on error. Needs root, etcd, redis-server, redis-sentinel, python3 + redis.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import redis

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "py"))
import netns  # noqa: E402
from harness import Ferrocache, kill_nodes_now, wait_until  # noqa: E402

TRIALS = int(os.environ.get("TRIALS", "3"))
WRITE_INTERVAL = float(os.environ.get("WRITE_INTERVAL_MS", "1")) / 1000
TRIAL_SECONDS_MAX = 120
ZONES = ["us-east-1a", "us-east-1b", "us-east-1c"]


def log(text: str):
    print(text, flush=True)


def in_host(host: netns.Host, fn):
    """fn() run on a thread inside `host`; its result (or its exception)."""
    out: dict = {}

    def run():
        try:
            netns.enter(host)
            out["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed back to the caller
            out["error"] = e
    t = threading.Thread(target=run)
    t.start()
    t.join()
    if "error" in out:
        raise out["error"]
    return out["value"]


class Writer:
    """On `host`, writes seq:N every WRITE_INTERVAL through `connect()`; records when each
    acknowledged write was sent and acknowledged, and (with `identify`) by which primary: the
    `master_replid` of `INFO replication`, pipelined with the write (a promoted replica takes a
    new one)."""

    def __init__(self, host: netns.Host, connect, prefix: str = "seq", identify: bool = False):
        self.host, self.connect, self.prefix = host, connect, prefix
        self.identify = identify
        self.acked: list[tuple[int, float, float]] = []  # (n, sent, acked)
        self.by: list[str] = []  # the primary that acknowledged each (with `identify`)
        self.errors: dict[str, int] = {}  # failed writes by kind
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        netns.enter(self.host)
        client = None
        n = 0
        deadline = time.monotonic() + TRIAL_SECONDS_MAX
        while not self.stop.is_set() and time.monotonic() < deadline:
            try:
                if client is None:
                    client = self.connect()
                sent = time.monotonic()
                if self.identify:
                    pipe = client.pipeline(transaction=False)
                    pipe.set(f"{self.prefix}:{n}", n)
                    pipe.info("replication")
                    _, info = pipe.execute()
                    if info.get("role") != "master":
                        raise redis.exceptions.ReadOnlyError("not the primary")
                    self.by.append(info["master_replid"])
                else:
                    client.set(f"{self.prefix}:{n}", n)
                self.acked.append((n, sent, time.monotonic()))
                n += 1
            except Exception as e:  # noqa: BLE001 - any failure is a write not acknowledged
                self.errors[type(e).__name__] = self.errors.get(type(e).__name__, 0) + 1
                client = None
            time.sleep(WRITE_INTERVAL)


def plain(address: str, port: int):
    return lambda: redis.Redis(host=address, port=port, socket_timeout=0.5,
                               socket_connect_timeout=0.5)


# ----- the two systems ------------------------------------------------------------------------

class FerrocacheHosts:
    name = "ferrocache"
    binary: str | None = None  # None: FERROCACHE_BIN

    def __init__(self, rig: netns.Rig, hosts: list[netns.Host]):
        self.rig, self.hosts = rig, hosts
        self.etcd = netns.EtcdCluster(rig, hosts)
        url = self.etcd.store_url("bench")
        self.fcs = []
        for i, host in enumerate(hosts):
            self.fcs.append(Ferrocache(
                binary=self.binary,
                listen=f"{host.address}:4566", prefix=["ip", "netns", "exec", host.name],
                ready_timeout=90,
                extra_args=["--store", url, "--host-name", f"host{i + 1}", "--zone", ZONES[i],
                            "--advertise-address", host.address, "--data-path", "router"]))
        self.fcs[0].start()
        for fc in self.fcs[1:]:
            fc.start(wait=False)
        for fc in self.fcs[1:]:
            wait_until(lambda: any(l.startswith("Host: ") for l in fc.lines), 60,
                       what="hosts registered")
        ec = self.fcs[0].client()
        ec.create_replication_group(
            ReplicationGroupId="bench", ReplicationGroupDescription="bench",
            NumCacheClusters=3, CacheNodeType="cache.t3.micro", Engine="redis",
            AutomaticFailoverEnabled=True, MultiAZEnabled=True,
            PreferredCacheClusterAZs=[ZONES[1], ZONES[0], ZONES[2]])
        group = wait_until(lambda: (g := ec.describe_replication_groups(
            ReplicationGroupId="bench")["ReplicationGroups"][0])["Status"] == "available" and g,
            120, what="group available")
        endpoint = group["NodeGroups"][0]["PrimaryEndpoint"]
        self.endpoint = (endpoint["Address"], endpoint["Port"])
        connect = plain(*self.endpoint)
        wait_until(lambda: in_host(hosts[0], lambda: connect().info("replication")[
            "connected_slaves"]) == 2, 60, what="two replicas connected")

    def client_on_leader(self):
        return plain(*self.endpoint)

    def client_on_primary_host(self):
        # Every host serves every endpoint: a client beside the old primary uses its own
        # host's, which fences itself when the host is cut off.
        return plain(*self.endpoint)

    def kill_primary_host(self) -> list[int]:
        fc = self.fcs[1]
        pids = kill_nodes_now(fc.data_dir)
        fc.kill9()
        self.etcd.kill(self.hosts[1])
        return pids

    def close(self):
        for fc in self.fcs:
            fc.close()
        self.etcd.close()


class PreviousFerrocacheHosts(FerrocacheHosts):
    """The previous build (FERROCACHE_PREVIOUS_BIN), measured in the same run."""
    name = "previous"
    binary = os.environ.get("FERROCACHE_PREVIOUS_BIN")

    def client_on_primary_host(self):
        # Builds before endpoints on every host served them on the leading host only.
        return None if os.environ.get("PREVIOUS_ENDPOINTS_ON_LEADER_ONLY", "1") == "1" \
            else super().client_on_primary_host()


class SentinelHosts:
    name = "sentinel"

    def __init__(self, rig: netns.Rig, hosts: list[netns.Host]):
        self.rig, self.hosts = rig, hosts
        self.root = tempfile.mkdtemp(prefix="fcbenchsent")
        self.redis = []
        self.sentinels = []
        primary = hosts[1].address
        for host in hosts:
            d = f"{self.root}/{host.name}"
            os.makedirs(d)
            argv = ["redis-server", "--bind", host.address, "--port", "6379", "--dir", d,
                    "--save", "", "--appendonly", "no", "--protected-mode", "no"]
            if host is not hosts[1]:
                argv += ["--replicaof", primary, "6379"]
            self.redis.append(rig.run(host, argv, f"{d}/redis.log"))
            conf = f"{d}/sentinel.conf"
            Path(conf).write_text(
                f"bind {host.address}\nport 26379\nprotected-mode no\ndir {d}\n"
                f"sentinel monitor m {primary} 6379 2\n"
                "sentinel down-after-milliseconds m 1000\n"
                "sentinel failover-timeout m 5000\nsentinel parallel-syncs m 1\n")
            self.sentinels.append(rig.run(host, ["redis-sentinel", conf], f"{d}/sentinel.log"))
        wait_until(lambda: in_host(hosts[0], lambda: plain(primary, 6379)().info(
            "replication")["connected_slaves"]) == 2, 60, what="two replicas connected")
        wait_until(lambda: in_host(hosts[0], lambda: int(redis.Redis(
            host=hosts[0].address, port=26379, socket_timeout=1).sentinel_master("m")[
            "num-other-sentinels"])) == 2, 60, what="the sentinels see each other")

    def master_client(self):
        sentinels = [(h.address, 26379) for h in self.hosts]
        return lambda: redis.sentinel.Sentinel(
            sentinels, socket_timeout=0.5, socket_connect_timeout=0.5).master_for(
            "m", socket_timeout=0.5, socket_connect_timeout=0.5)

    def client_on_leader(self):
        return self.master_client()

    def client_on_primary_host(self):
        # A client beside the old master keeps talking to the master it was given.
        return plain(self.hosts[1].address, 6379)

    def kill_primary_host(self) -> list[int]:
        for proc in (self.redis[1], self.sentinels[1]):
            proc.kill()
            proc.wait()
        return []

    def close(self):
        for proc in self.redis + self.sentinels:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        subprocess.run(["rm", "-rf", self.root])


# ----- trials ---------------------------------------------------------------------------------

def missing_after(system, host: netns.Host, writer: Writer) -> int:
    def count():
        client = system.client_on_leader()()
        pipe = client.pipeline(transaction=False)
        for n, _, _ in writer.acked:
            pipe.exists(f"{writer.prefix}:{n}")
        return sum(1 for present in pipe.execute() if not present)
    return wait_until(lambda: (in_host(host, count),), 20, what="acknowledged writes read")[0]


def kill_trial(system_class) -> tuple[float, int]:
    rig = netns.Rig()
    system = None
    try:
        hosts = [rig.add_host() for _ in range(3)]
        system = system_class(rig, hosts)
        writer = Writer(hosts[0], system.client_on_leader())
        writer.thread.start()
        wait_until(lambda: len(writer.acked) > 300, 30, what="writes flowing")
        killed_at = time.monotonic()
        pids = system.kill_primary_host()
        # A write already inside the old primary when the signal lands can still be
        # acknowledged: the RTO counts to the first write sent once the primary was dead.
        wait_until(lambda: not any(os.path.exists(f"/proc/{p}") for p in pids), 5,
                   what="the primary's processes gone", poll=0.0005)
        dead_at = time.monotonic()
        wait_until(lambda: writer.acked[-1][1] > dead_at, TRIAL_SECONDS_MAX,
                   what="a write sent after the kill acknowledged", poll=0.01)
        first_after = next(acked for _, sent, acked in writer.acked if sent > dead_at)
        time.sleep(0.3)
        writer.stop.set()
        writer.thread.join(TRIAL_SECONDS_MAX)
        lost = missing_after(system, hosts[0], writer)
        return first_after - killed_at, lost
    finally:
        if system is not None:
            system.close()
        rig.close()


def partition_trial(system_class) -> float | None:
    """Seconds from the old primary's last acknowledged write to the new one's first; None when
    no new primary took a write within TRIAL_SECONDS_MAX of the cut (reported as such)."""
    rig = netns.Rig()
    system = None
    try:
        hosts = [rig.add_host() for _ in range(3)]
        system = system_class(rig, hosts)
        main = Writer(hosts[0], system.client_on_leader(), prefix="main", identify=True)
        beside = system.client_on_primary_host()
        side = Writer(hosts[1], beside, prefix="side", identify=True) if beside else None
        for w in (main, side):
            if w:
                w.thread.start()
        wait_until(lambda: len(main.acked) > 300 and (side is None or len(side.acked) > 300),
                   30, what="writes flowing")
        cut_at = time.monotonic()
        rig.cut(hosts[1])
        try:
            wait_until(lambda: main.by[-1] != main.by[0], TRIAL_SECONDS_MAX,
                       what=f"a write acknowledged by a new primary (failed: {main.errors})",
                       poll=0.01)
        except TimeoutError as e:
            log(f"{system_class.name}: {e}")
            return None
        time.sleep(3)
        for w in (main, side):
            if w:
                w.stop.set()
                w.thread.join(TRIAL_SECONDS_MAX)
        # Who acknowledged what: the old primary is the one that acknowledged the first write.
        old = main.by[0]
        acks = [(a, by) for (_, _, a), by in zip(main.acked, main.by)]
        if side:
            acks += [(a, by) for (_, _, a), by in zip(side.acked, side.by)]
        old_last = max(a for a, by in acks if by == old)
        new_first = min(a for a, by in acks if by != old)
        rig.heal(hosts[1])
        return new_first - old_last
    finally:
        if system is not None:
            system.close()
        rig.close()


def main():
    problem = netns.available()
    if problem:
        sys.exit(f"hosts bench: {problem}")
    results: dict = {}
    systems = [FerrocacheHosts, SentinelHosts]
    if PreviousFerrocacheHosts.binary:
        systems.insert(1, PreviousFerrocacheHosts)
    for system_class in systems:
        name = system_class.name
        kills = []
        for i in range(TRIALS):
            rto, lost = kill_trial(system_class)
            log(f"{name}: kill the primary's host #{i + 1}: RTO {rto * 1000:.0f} ms, "
                f"acknowledged writes lost {lost}")
            kills.append((rto, lost))
        gaps = []
        for i in range(TRIALS):
            gap = partition_trial(system_class)
            if gap is None:
                log(f"{name}: partition the primary's host #{i + 1}: no new primary took a "
                    f"write within {TRIAL_SECONDS_MAX} s")
                continue
            log(f"{name}: partition the primary's host #{i + 1}: new primary's first write "
                f"{gap * 1000:+.0f} ms after the old primary's last")
            gaps.append(gap)
        results[name] = (kills, gaps)
    log("")
    log(f"{'':12} {'RTO p50':>10} {'lost (sum)':>11} {'gap min':>10}  (gap < 0: two writable primaries)")
    for name, (kills, gaps) in results.items():
        log(f"{name:12} {statistics.median(r for r, _ in kills) * 1000:>8.0f}ms "
            f"{sum(l for _, l in kills):>11} "
            f"{min(gaps) * 1000 if gaps else float('nan'):>+8.0f}ms")
    f = results["ferrocache"]
    for reference in ("sentinel", "previous"):
        if reference in results:
            r = results[reference]
            log(f"RTO ratio ferrocache/{reference}: "
                f"{statistics.median(x for x, _ in f[0]) / statistics.median(x for x, _ in r[0]):.2f}")


if __name__ == "__main__":
    main()
