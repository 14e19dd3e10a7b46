#!/usr/bin/env python3
"""The control plane at N nodes: one `ferrocache up`, N cache clusters, N/10 three-node groups.

Run through bench/scale.sh (it builds the release binary, raises `ulimit -n` and checks the
tools). Phases, each bounded in count and time:

0. reference, with nothing else running: Ferrocache's idle CPU and RSS, and the failover RTO of
   one three-node group `scale-ref` (kept: it is the group failed over again at N);
1. N `CreateCacheCluster` (one node each) one after another, then N/10
   `CreateReplicationGroup` (NumCacheClusters=3, automatic failover), each call sent as raw
   signed HTTP and timed, and each followed by a timed one-record DescribeCacheClusters of
   `scale-ref` (a probe: the same cheap call at every N, so its ratio shows how much the machine
   itself slowed down as the nodes' own CPU grew);
2. paged DescribeCacheClusters / DescribeReplicationGroups (MaxRecords=100) every POLL_S until
   every cluster and group has settled: `available`, or failed for good (`create-failed`);
3. after SETTLE_S, Ferrocache's CPU over IDLE_S seconds (utime+stime from /proc/<pid>/stat, as
   % of one core), its RSS (VmRSS), and the nodes' summed CPU for context;
4. DESCRIBE_CALLS DescribeCacheClusters (MaxRecords=100, ShowCacheNodeInfo) and
   DescribeReplicationGroups (MaxRecords=100) walking the pages round: once as raw signed HTTP
   (the server's latency, what the goal is about) and once through boto3 (adds botocore's
   XML parsing);
5. the failover RTO of `scale-ref` with everything running: a client writes every 1 ms through
   its primary endpoint (redis-py, 1 s socket timeouts, reconnecting); the primary's
   redis-server is SIGKILLed (pid from <data-dir>/nodes/<id>/redis.pid); RTO is the time from
   the kill to the first acknowledged write sent after the old primary was gone. Median of
   RTO_TRIALS;
6. unless SKIP_RESTART=1: one key per standalone node (through its endpoint) and per group
   (through the primary endpoint, WAIT for both replicas), for all of them or RESTART_KEYS
   spread over them; clean stop (SIGTERM, wait for exit);
   `ferrocache up` again on the same data dir; wait until all are `available`; read every key
   back (standalone: its endpoint; group: the primary endpoint and every member's endpoint) and
   check ids and endpoints are unchanged.

Prints a Markdown table with the goals of the issue and the ratios. Every process started here
is stopped by PID (ferrocache by its pid, nodes by their pid files; tests/py/harness.py), also
on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import http.client
import json
import math
import os
import re
import shutil
import signal
import socket
import statistics
import sys
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "py"))
from harness import Ferrocache, node_pids, pid_alive  # noqa: E402

import redis  # noqa: E402
from botocore.auth import SigV4Auth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, str(default)))


def env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, str(default)))


N = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
GROUPS = env_int("GROUP_COUNT", N // 10)  # not GROUPS: bash owns that name
CIDR = os.environ.get("ENDPOINT_CIDR", "127.250.0.0/20")
DESCRIBE_CALLS = env_int("DESCRIBE_CALLS", 200)
IDLE_S = env_float("IDLE_S", 30)
SETTLE_S = env_float("SETTLE_S", 5)
POLL_S = env_float("POLL_S", 1.0)
RTO_TRIALS = env_int("RTO_TRIALS", 3)
SKIP_RESTART = os.environ.get("SKIP_RESTART", "0") not in ("", "0")
SKIP_REFERENCE = os.environ.get("SKIP_REFERENCE", "0") not in ("", "0")
AVAILABLE_TIMEOUT_S = env_float("AVAILABLE_TIMEOUT_S", 1800)
DESCRIBE_TIME_MAX_S = env_float("DESCRIBE_TIME_MAX_S", 180)
LOG_DIR = os.environ.get("LOG_DIR", "/tmp")
STOP_TIMEOUT_S = env_float("STOP_TIMEOUT_S", 600)
RESULTS_JSON = os.environ.get("RESULTS_JSON", "")
COMMIT = os.environ.get("BENCH_COMMIT", "?")
BIN = os.environ["FERROCACHE_BIN"]

PAGE_RECORDS = 100
PAGES_MAX = (N + 3 * GROUPS + 3) // PAGE_RECORDS + 10
WRITE_INTERVAL_S = 0.001
TRIAL_SECONDS_MAX = 30.0
REDIS_TIMEOUT_S = env_float("WRITER_TIMEOUT_S", 1.0)
KEY_WORKERS = 16
RESTART_KEYS = env_int("RESTART_KEYS", 500)
REF_GROUP = "scale-ref"
LONE_CREATES = env_int("LONE_CREATES", 20)
CLK_TCK = os.sysconf("SC_CLK_TCK")

# Goals from the issue.
GOAL_CREATE_RATIO = 1.5
GOAL_DESCRIBE_P99_MS = 10.0
GOAL_IDLE_CPU_PCT = 2.0
GOAL_RSS_MB = 100.0
GOAL_RTO_MS = 250.0

results: dict = {"n": N, "groups": GROUPS, "commit": COMMIT, "binary": BIN}


def log(msg: str):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ----- figures ---------------------------------------------------------------------------------

def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def first_last(latencies: list[float]) -> dict:
    """p50/mean of the first and the last 10 % of the calls (at least one call each)."""
    k = max(1, len(latencies) // 10)
    first, last = latencies[:k], latencies[-k:]
    return {"count": k,
            "first_p50": statistics.median(first), "first_mean": statistics.fmean(first),
            "last_p50": statistics.median(last), "last_mean": statistics.fmean(last),
            "ratio_p50": statistics.median(last) / statistics.median(first),
            "ratio_mean": statistics.fmean(last) / statistics.fmean(first)}


# ----- /proc -----------------------------------------------------------------------------------

def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def threads_and_fds(pid: int) -> tuple[int, int]:
    threads = len(os.listdir(f"/proc/{pid}/task"))
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return threads, fds


def nodes_cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            total += cpu_seconds(pid)
        except (OSError, IndexError, ValueError):
            pass
    return total


def idle_figures(fc: Ferrocache, seconds: float) -> dict:
    """Ferrocache's (and its nodes') CPU over `seconds` of no API traffic, and RSS."""
    pids = list(node_pids(fc.data_dir).values())
    c0, n0, t0 = cpu_seconds(fc.pid), nodes_cpu_seconds(pids), time.monotonic()
    time.sleep(seconds)
    c1, n1, t1 = cpu_seconds(fc.pid), nodes_cpu_seconds(pids), time.monotonic()
    threads, fds = threads_and_fds(fc.pid)
    return {"cpu_pct": (c1 - c0) / (t1 - t0) * 100, "rss_mb": rss_mb(fc.pid),
            "nodes": len(pids), "nodes_cpu_pct": (n1 - n0) / (t1 - t0) * 100,
            "threads": threads, "fds": fds, "seconds": t1 - t0}


class LoadSampler:
    """The 1-minute load average every 5 s while the bench runs (bounded by the stop event)."""

    def __init__(self):
        self.samples: list[float] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.is_set() and len(self.samples) < 100_000:
            self.samples.append(float(Path("/proc/loadavg").read_text().split()[0]))
            self.stop.wait(5)


# ----- API helpers -----------------------------------------------------------------------------

def list_all(ec, operation: str, key: str, **kwargs) -> list[dict]:
    """Every record of a Describe operation, MaxRecords=100 per page."""
    call = getattr(ec, operation)
    out, marker = [], None
    for _ in range(PAGES_MAX):
        args = dict(kwargs, MaxRecords=PAGE_RECORDS)
        if marker:
            args["Marker"] = marker
        page = call(**args)
        out += page[key]
        marker = page.get("Marker")
        if not marker:
            return out
    raise RuntimeError(f"{operation}: more than {PAGES_MAX} pages")


# Statuses a resource does not leave by itself: a failed cache cluster is shown as
# `incompatible-network`, as AWS does.
FAILED_STATUSES = ("create-failed", "restore-failed", "incompatible-network")


class Settled:
    """What the paged Describes said when every resource had settled (or the time ran out)."""

    def __init__(self, clusters: list[dict], groups: list[dict], done: bool, seconds: float):
        self.clusters, self.groups, self.done, self.seconds = clusters, groups, done, seconds
        self.failed_groups = {g["ReplicationGroupId"] for g in groups
                              if g["Status"] in FAILED_STATUSES}
        self.available_groups = [g for g in groups if g["Status"] == "available"]
        self.available_clusters = [c for c in clusters if c["CacheClusterStatus"] == "available"]
        self.standalone = [c for c in clusters if not c.get("ReplicationGroupId")]
        self.available_standalone = [c for c in self.standalone
                                     if c["CacheClusterStatus"] == "available"]

    def summary(self) -> str:
        return (f"clusters {len(self.available_clusters)}/{len(self.clusters)} available "
                f"(standalone {len(self.available_standalone)}/{len(self.standalone)}), groups "
                f"{len(self.available_groups)}/{len(self.groups)} available, "
                f"{len(self.failed_groups)} failed")


def wait_all_available(ec, standalone_expected: int, groups_expected: int,
                       timeout: float) -> Settled:
    """Polls the paged Describes until every cluster and group has settled: `available`, or
    failed for good (FAILED_STATUSES, or a member of a failed group). Polls every
    POLL_S, or as often as the last poll took, so the polling never takes more than half a
    core. Returns at the deadline with done=False."""
    started = time.monotonic()
    deadline = started + timeout
    last_print = 0.0
    while True:
        t0 = time.monotonic()
        clusters = list_all(ec, "describe_cache_clusters", "CacheClusters", ShowCacheNodeInfo=True)
        groups = list_all(ec, "describe_replication_groups", "ReplicationGroups")
        poll_s = time.monotonic() - t0
        state = Settled(clusters, groups, False, time.monotonic() - started)
        state.poll_s = poll_s

        def settled(c):
            # A failed group's members are left to Ferrocache's clean-up, whatever they show.
            status = c["CacheClusterStatus"]
            return status == "available" or status in FAILED_STATUSES \
                or c.get("ReplicationGroupId") in state.failed_groups

        if (len(state.standalone) >= standalone_expected and len(groups) >= groups_expected
                and all(settled(c) for c in clusters)
                and all(g["Status"] == "available" or g["Status"] in FAILED_STATUSES
                        for g in groups)):
            state.done = True
            return state
        now = time.monotonic()
        if now >= deadline:
            log(f"  not settled after {timeout:.0f}s: {state.summary()}")
            return state
        if now - last_print > 10:
            log(f"  {state.summary()} (one poll: {poll_s:.1f}s)")
            last_print = now
        time.sleep(max(POLL_S, poll_s))


class RawQuery:
    """ElastiCache calls sent as signed awsQuery HTTP on one keep-alive connection, timed from
    the request's first byte out to the response's last byte in: the server's latency, without
    botocore's signing and XML parsing (a few ms of Python per call, which grows with the
    machine's load, not with Ferrocache's work)."""

    def __init__(self, port: int):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.signer = SigV4Auth(Credentials("test", "test"), "elasticache", "us-east-1")

    def call(self, action: str, params: dict) -> tuple[float, int, bytes]:
        """(seconds, HTTP status, body) of one call."""
        body = urlencode({"Action": action, "Version": "2015-02-02", **params})
        request = AWSRequest(method="POST", url=f"http://127.0.0.1:{self.port}/", data=body,
                             headers={"Content-Type":
                                      "application/x-www-form-urlencoded; charset=utf-8"})
        self.signer.add_auth(request)
        headers = dict(request.headers.items())
        t0 = time.perf_counter()
        self.conn.request("POST", "/", body=body, headers=headers)
        response = self.conn.getresponse()
        data = response.read()
        return time.perf_counter() - t0, response.status, data

    def checked(self, action: str, params: dict) -> float:
        """Seconds of one call that must succeed."""
        elapsed, status, data = self.call(action, params)
        if status != 200:
            raise RuntimeError(f"{action}: HTTP {status} {data[:300]!r}")
        return elapsed

    def close(self):
        self.conn.close()


class RawDescribe:
    """A paged Describe through RawQuery, following its markers round."""

    MARKER = re.compile(rb"<Marker>([^<]*)</Marker>")

    def __init__(self, port: int, action: str, params: dict):
        self.query, self.action, self.params = RawQuery(port), action, params

    def call(self, marker: str | None) -> tuple[float, str | None]:
        params = dict(self.params)
        if marker:
            params["Marker"] = marker
        elapsed, status, data = self.query.call(self.action, params)
        if status != 200:
            raise RuntimeError(f"{self.action}: HTTP {status} {data[:300]!r}")
        found = self.MARKER.search(data)
        return elapsed, (found.group(1).decode() if found and found.group(1) else None)

    def close(self):
        self.query.close()


def describe_latencies(fc: Ferrocache, ec) -> dict:
    """p50/p99 of DESCRIBE_CALLS calls of each Describe, walking the pages round."""
    out = {}
    cases = [("DescribeCacheClusters", {"MaxRecords": "100", "ShowCacheNodeInfo": "true"},
              "describe_cache_clusters", {"ShowCacheNodeInfo": True}),
             ("DescribeReplicationGroups", {"MaxRecords": "100"},
              "describe_replication_groups", {})]
    for action, form, operation, kwargs in cases:
        raw = RawDescribe(fc.port, action, form)
        raw_times, marker = [], None
        deadline = time.monotonic() + DESCRIBE_TIME_MAX_S
        try:
            for _ in range(DESCRIBE_CALLS):
                elapsed, marker = raw.call(marker)
                raw_times.append(elapsed)
                if time.monotonic() > deadline:
                    break
        finally:
            raw.close()
        boto_times, marker = [], None
        call = getattr(ec, operation)
        deadline = time.monotonic() + DESCRIBE_TIME_MAX_S
        for _ in range(DESCRIBE_CALLS):
            if time.monotonic() > deadline:
                break
            args = dict(kwargs, MaxRecords=PAGE_RECORDS)
            if marker:
                args["Marker"] = marker
            t0 = time.perf_counter()
            page = call(**args)
            boto_times.append(time.perf_counter() - t0)
            marker = page.get("Marker")
        out[action] = {"raw_p50": pct(raw_times, 50), "raw_p99": pct(raw_times, 99),
                       "boto3_p50": pct(boto_times, 50), "boto3_p99": pct(boto_times, 99),
                       "calls": len(raw_times), "boto3_calls": len(boto_times)}
        log(f"  {action} ({len(raw_times)} + {len(boto_times)} calls): raw HTTP p50 {ms(out[action]['raw_p50'])} p99 "
            f"{ms(out[action]['raw_p99'])}; boto3 p50 {ms(out[action]['boto3_p50'])} "
            f"p99 {ms(out[action]['boto3_p99'])}")
    return out


def group_of(ec, group_id: str) -> dict:
    return ec.describe_replication_groups(ReplicationGroupId=group_id)["ReplicationGroups"][0]


def wait_until(fn, timeout: float, what: str, poll: float = 0.05):
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = fn()
            if value:
                return value
        except Exception as e:  # noqa: BLE001 - polling through transient errors
            last_error = e
        time.sleep(poll)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what} ({last_error!r})")


# ----- failover --------------------------------------------------------------------------------

class Writer:
    """Writes seq:N every WRITE_INTERVAL_S through the endpoint; records (sent, acked) times."""

    def __init__(self, address: str, port: int):
        self.address, self.port = address, port
        self.acked: list[tuple[float, float]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def client(self):
        return redis.Redis(host=self.address, port=self.port, socket_timeout=REDIS_TIMEOUT_S,
                           socket_connect_timeout=REDIS_TIMEOUT_S)

    def run(self):
        client = self.client()
        n = 0
        deadline = time.monotonic() + TRIAL_SECONDS_MAX * 2
        while not self.stop.is_set() and time.monotonic() < deadline:
            try:
                sent = time.monotonic()
                client.set(f"seq:{n}", n)
                self.acked.append((sent, time.monotonic()))
                n += 1
            except (redis.exceptions.RedisError, OSError):
                client.close()
                client = self.client()
            time.sleep(WRITE_INTERVAL_S)
        client.close()


def run_id(address: str, port: int) -> str | None:
    """The run_id of the node behind an endpoint; None when it does not answer in time (the
    check it serves is a sanity check, not the measurement)."""
    client = redis.Redis(host=address, port=port, socket_timeout=30, socket_connect_timeout=30)
    try:
        return client.info("server")["run_id"]
    except (redis.exceptions.RedisError, OSError) as e:
        log(f"  INFO server through {address} failed: {type(e).__name__}: {e}")
        return None
    finally:
        client.close()


def rto_trial(fc: Ferrocache, ec, group_id: str) -> float:
    """SIGKILL the group's primary under writes; seconds from the kill to the first write
    acknowledged through the primary endpoint that was sent after the old primary was dead
    (a write already inside the old primary when the signal lands can still be acknowledged)."""
    group = wait_until(lambda: (g := group_of(ec, group_id))["Status"] == "available" and g,
                       120, f"{group_id} available")
    endpoint = group["NodeGroups"][0]["PrimaryEndpoint"]
    address, port = endpoint["Address"], endpoint["Port"]
    probe = redis.Redis(host=address, port=port, socket_timeout=5, socket_connect_timeout=5)
    wait_until(lambda: probe.info("replication")["connected_slaves"] == 2, 120,
               f"{group_id}: two replicas connected", poll=0.1)
    probe.close()
    members = group["NodeGroups"][0]["NodeGroupMembers"]
    primary = next(m["CacheClusterId"] for m in members if m.get("CurrentRole") == "primary")
    pid = int((Path(fc.data_dir) / "nodes" / primary / "redis.pid").read_text().strip())
    old_run_id = run_id(address, port)
    writer = Writer(address, port)
    writer.thread.start()
    try:
        wait_until(lambda: len(writer.acked) > 100, 60, "writes flowing", poll=0.01)
        killed_at = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not pid_alive(pid), 5, f"pid {pid} gone", poll=0.0002)
        dead_at = time.monotonic()
        wait_until(lambda: writer.acked[-1][0] > dead_at, TRIAL_SECONDS_MAX,
                   "a write after the kill", poll=0.005)
        first_after = next(acked for sent, acked in writer.acked if sent > dead_at)
    finally:
        writer.stop.set()
        writer.thread.join(TRIAL_SECONDS_MAX)
    rto = first_after - killed_at
    new_run_id = run_id(address, port)
    if new_run_id is not None and new_run_id == old_run_id:
        raise RuntimeError(f"{group_id}: the primary endpoint still reaches the killed node")
    log(f"  {group_id}: killed primary {primary} (pid {pid}, dead after "
        f"{ms(dead_at - killed_at)}); RTO {ms(rto)}")
    return rto


def rto_trials(fc: Ferrocache, ec, group_id: str) -> dict:
    rtos = [rto_trial(fc, ec, group_id) for _ in range(RTO_TRIALS)]
    return {"trials": rtos, "median": statistics.median(rtos)}


# ----- restart ---------------------------------------------------------------------------------

def key_of(resource_id: str) -> str:
    return f"scale:{resource_id}"


def redis_at(endpoint: dict, timeout: float = 10) -> redis.Redis:
    return redis.Redis(host=endpoint["Address"], port=endpoint["Port"], socket_timeout=timeout,
                       socket_connect_timeout=timeout)


def sample(items: list[dict], id_key: str, owners: set[str]) -> list[dict]:
    return [item for item in items if item[id_key] in owners]


def key_owners(clusters: list[dict], groups: list[dict]) -> set[str]:
    """The standalone clusters and groups that get a key: all of them, or RESTART_KEYS spread
    evenly over the sorted ids (through a stalled router each write can take seconds)."""
    ids = sorted([c["CacheClusterId"] for c in clusters if not c.get("ReplicationGroupId")]
                 + [g["ReplicationGroupId"] for g in groups])
    step = max(1, math.ceil(len(ids) / RESTART_KEYS)) if RESTART_KEYS > 0 else 1
    return set(ids[::step])


def write_keys(clusters: list[dict], groups: list[dict]) -> tuple[int, int]:
    """One key per standalone node and per group (WAIT for both replicas); returns
    (failures, keys)."""
    def standalone(c):
        client = redis_at(c["CacheNodes"][0]["Endpoint"])
        try:
            return client.set(key_of(c["CacheClusterId"]), c["CacheClusterId"]) is True
        finally:
            client.close()

    def group(g):
        client = redis_at(g["NodeGroups"][0]["PrimaryEndpoint"])
        try:
            client.set(key_of(g["ReplicationGroupId"]), g["ReplicationGroupId"])
            return client.execute_command("WAIT", len(g["MemberClusters"]) - 1, 10_000) \
                == len(g["MemberClusters"]) - 1
        finally:
            client.close()

    jobs = [(standalone, c) for c in clusters if not c.get("ReplicationGroupId")]
    jobs += [(group, g) for g in groups]
    with ThreadPoolExecutor(KEY_WORKERS) as pool:
        oks = list(pool.map(lambda job: safe(job[0], job[1]), jobs))
    return sum(1 for ok in oks if not ok), len(oks)


def safe(fn, arg) -> bool:
    try:
        return bool(fn(arg))
    except (redis.exceptions.RedisError, OSError):
        return False


def read_keys(clusters: list[dict], groups: list[dict], owners: set[str],
              timeout: float) -> tuple[int, int]:
    """(checks passed, checks) reading back the keys of `owners` (the clusters and groups a
    key was written to): standalone nodes through their endpoint, groups through the primary
    endpoint and every member's endpoint (replicas may still be syncing after the restart:
    retried until `timeout`). An owner that is gone counts as a failed check."""
    endpoints = {c["CacheClusterId"]: c["CacheNodes"][0]["Endpoint"] for c in clusters
                 if c.get("CacheNodes") and c["CacheNodes"][0].get("Endpoint")}
    checks, missing = [], 0
    for c in clusters:
        if not c.get("ReplicationGroupId") and c["CacheClusterId"] in owners:
            checks.append((endpoints.get(c["CacheClusterId"]), c["CacheClusterId"]))
    for g in groups:
        if g["ReplicationGroupId"] not in owners:
            continue
        checks.append((g["NodeGroups"][0].get("PrimaryEndpoint"), g["ReplicationGroupId"]))
        checks += [(endpoints.get(m), g["ReplicationGroupId"]) for m in g["MemberClusters"]]
    seen = {c["CacheClusterId"] for c in clusters} | {g["ReplicationGroupId"] for g in groups}
    missing = len(owners - seen)

    def check(item):
        endpoint, owner = item
        if not endpoint:
            return False
        client = redis_at(endpoint, timeout=5)
        try:
            return client.get(key_of(owner)) == owner.encode()
        finally:
            client.close()

    pending = checks
    deadline = time.monotonic() + timeout
    with ThreadPoolExecutor(KEY_WORKERS) as pool:
        while pending and time.monotonic() < deadline:
            oks = list(pool.map(lambda item: safe(check, item), pending))
            pending = [item for item, ok in zip(pending, oks) if not ok]
            if pending:
                time.sleep(1)
    return len(checks) - len(pending), len(checks) + missing


def endpoints_of(clusters: list[dict], groups: list[dict]) -> dict:
    out = {c["CacheClusterId"]: c["CacheNodes"][0]["Endpoint"]["Address"] for c in clusters
           if c.get("CacheNodes") and c["CacheNodes"][0].get("Endpoint")}
    for g in groups:
        ng = g["NodeGroups"][0]
        out[g["ReplicationGroupId"]] = (ng.get("PrimaryEndpoint", {}).get("Address"),
                                        ng.get("ReaderEndpoint", {}).get("Address"),
                                        tuple(sorted(g["MemberClusters"])))
    return out


def restart(fc: Ferrocache, ec_factory, before: Settled) -> dict:
    """Keys into everything available, a clean stop, a start on the same data dir; what came
    back. Resources that had failed before the stop are left out of every count."""
    out: dict = {}
    clusters = [c for c in before.available_clusters
                if c.get("ReplicationGroupId") not in before.failed_groups]
    groups = before.available_groups
    owners = key_owners(clusters, groups)
    t0 = time.monotonic()
    out["write_failures"], out["keys_written"] = write_keys(
        sample(clusters, "CacheClusterId", owners), sample(groups, "ReplicationGroupId", owners))
    log(f"  wrote {out['keys_written']} keys in "
        f"{time.monotonic() - t0:.1f}s ({out['write_failures']} failures)")
    endpoints_before = endpoints_of(clusters, groups)
    pids = list(node_pids(fc.data_dir).values())
    t0 = time.monotonic()
    fc.stop_timeout = STOP_TIMEOUT_S
    out["stop_exit_code"] = fc.stop()
    out["stop_s"] = time.monotonic() - t0
    out["nodes_left_running"] = sum(1 for pid in pids if pid_alive(pid))
    log(f"  clean stop: {out['stop_s']:.1f}s, exit {out['stop_exit_code']}, "
        f"{out['nodes_left_running']} of {len(pids)} nodes still running")
    t0 = time.monotonic()
    fc.ready_timeout = 300
    fc.start()
    out["ready_s"] = time.monotonic() - t0
    ec = ec_factory()
    after = wait_all_available(ec, len(before.standalone), len(before.groups),
                               AVAILABLE_TIMEOUT_S)
    out["settled"] = after.done
    out["available_s"] = time.monotonic() - t0
    available_after = {c["CacheClusterId"] for c in after.available_clusters}
    out["clusters_back"] = sum(1 for c in clusters if c["CacheClusterId"] in available_after)
    groups_after = {g["ReplicationGroupId"] for g in after.available_groups}
    out["groups_back"] = sum(1 for g in groups if g["ReplicationGroupId"] in groups_after)
    out["clusters"], out["groups"] = len(clusters), len(groups)
    endpoints_after = endpoints_of(after.clusters, after.groups)
    out["unchanged"] = sum(1 for k, v in endpoints_before.items() if endpoints_after.get(k) == v)
    out["resources"] = len(endpoints_before)
    out["keys_ok"], out["keys_checked"] = read_keys(after.clusters, after.groups, owners, 120)
    out["data_s"] = time.monotonic() - t0
    log(f"  restart: Ready {out['ready_s']:.1f}s, all available {out['available_s']:.1f}s, "
        f"data checked {out['data_s']:.1f}s; clusters {out['clusters_back']}/"
        f"{out['clusters']}, groups {out['groups_back']}/{out['groups']}, ids and endpoints "
        f"unchanged {out['unchanged']}/{out['resources']}, keys {out['keys_ok']}/"
        f"{out['keys_checked']}")
    return out


# ----- report ----------------------------------------------------------------------------------

def verdict(ok: bool) -> str:
    return "yes" if ok else "**no**"


def trials_ms(rto: dict) -> str:
    return ", ".join(f"{t * 1000:.0f}" for t in rto["trials"])


def table(r: dict) -> str:
    rows = ["| measure | value | goal | met |", "|---|---:|---|---|"]

    def row(measure, value, goal="", met=""):
        rows.append(f"| {measure} | {value} | {goal} | {met} |")

    c = r.get("create_clusters")
    if c:
        row(f"CreateCacheCluster, first 10 % ({c['count']} calls): p50 / mean",
            f"{c['first_p50'] * 1000:.1f} / {c['first_mean'] * 1000:.1f} ms")
        row(f"CreateCacheCluster, last 10 % ({c['count']} calls): p50 / mean",
            f"{c['last_p50'] * 1000:.1f} / {c['last_mean'] * 1000:.1f} ms")
        row("create ratio last / first (p50 / mean)",
            f"{c['ratio_p50']:.2f}× / {c['ratio_mean']:.2f}×", f"≤ {GOAL_CREATE_RATIO}×",
            verdict(max(c["ratio_mean"], c["ratio_p50"]) <= GOAL_CREATE_RATIO))
    u = r.get("create_cpu")
    if u:
        row("Ferrocache CPU per CreateCacheCluster (call + reconcile), first / last 10 %",
            f"{u['first_ms']:.2f} / {u['last_ms']:.2f} ms",
            "", f"ratio {u['last_ms'] / u['first_ms']:.2f}×" if u["first_ms"] else "")
    lone, lone_ref = r.get("lone"), r.get("lone_ref")
    if lone and lone_ref:
        row(f"CreateCacheCluster one at a time, nothing pending ({lone['calls']} calls): "
            "p50 before the N / among them", f"{lone_ref['p50'] * 1000:.1f} / {lone['p50'] * 1000:.1f} ms",
            "", f"ratio {lone['p50'] / lone_ref['p50']:.2f}×")
        row("… probe after each (DescribeCacheClusters of one id): p50 before the N / among them",
            f"{lone_ref['probe_p50'] * 1000:.1f} / {lone['probe_p50'] * 1000:.1f} ms",
            "", f"ratio {lone['probe_p50'] / lone_ref['probe_p50']:.2f}×")
    p = r.get("create_probe")
    if p:
        row("probe after each create (DescribeCacheClusters of one id), first / last 10 %: "
            "p50 / mean", f"{p['first_p50'] * 1000:.2f} / {p['first_mean'] * 1000:.2f} → "
            f"{p['last_p50'] * 1000:.2f} / {p['last_mean'] * 1000:.2f} ms")
        row("probe ratio last / first (p50 / mean)",
            f"{p['ratio_p50']:.2f}× / {p['ratio_mean']:.2f}×", "", "the machine's slow-down")
    g = r.get("create_groups")
    if g:
        row(f"CreateReplicationGroup, first / last 10 % ({g['count']} calls): mean",
            f"{g['first_mean'] * 1000:.1f} / {g['last_mean'] * 1000:.1f} ms")
        row("group create ratio last / first (mean)", f"{g['ratio_mean']:.2f}×")
    if "creates_s" in r:
        errors = len(r.get("create_errors", []))
        row(f"all creates issued ({N} + {GROUPS}×3 nodes)", f"{r['creates_s']:.1f} s",
            "", f"{errors} refused" if errors else "")
    a = r.get("available")
    if a:
        row("first create → all settled" if a["done"] else "first create → gave up waiting",
            f"{a['seconds']:.1f} s", "", f"one paged poll took {a['poll_s']:.1f} s")
        row("available: standalone clusters, groups (failed groups)",
            f"{a['standalone']}/{N}, {a['groups']}/{GROUPS + 1} ({a['failed_groups']})",
            "all", verdict(a["standalone"] == N and a["groups"] == GROUPS + 1))
    for action in ("DescribeCacheClusters", "DescribeReplicationGroups"):
        d = (r.get("describe") or {}).get(action)
        if not d:
            continue
        row(f"{action} (100 records), raw HTTP p50 / p99 ({d['calls']} calls)",
            f"{d['raw_p50'] * 1000:.1f} / {d['raw_p99'] * 1000:.1f} ms",
            f"p99 < {GOAL_DESCRIBE_P99_MS:.0f} ms",
            verdict(d["raw_p99"] * 1000 < GOAL_DESCRIBE_P99_MS))
        row(f"{action} through boto3 p50 / p99 ({d['boto3_calls']} calls)",
            f"{d['boto3_p50'] * 1000:.1f} / {d['boto3_p99'] * 1000:.1f} ms")
    i, ref = r.get("idle"), r.get("idle_ref")
    if i:
        row(f"Ferrocache CPU, {i['seconds']:.0f} s idle ({i['nodes']} nodes)",
            f"{i['cpu_pct']:.2f} % of a core", f"< {GOAL_IDLE_CPU_PCT:.0f} %",
            verdict(i["cpu_pct"] < GOAL_IDLE_CPU_PCT))
        row(f"Ferrocache RSS ({i['nodes']} nodes)", f"{i['rss_mb']:.1f} MB",
            f"< {GOAL_RSS_MB:.0f} MB", verdict(i["rss_mb"] < GOAL_RSS_MB))
    if ref:
        row("… with no node: CPU / RSS", f"{ref['cpu_pct']:.2f} % / {ref['rss_mb']:.1f} MB")
    if i:
        row("Ferrocache threads / open fds", f"{i['threads']} / {i['fds']}")
        row(f"all {i['nodes']} redis-servers' CPU, same window",
            f"{i['nodes_cpu_pct']:.1f} % of a core")
    if "create_phase_cpu_pct" in r:
        row("Ferrocache CPU from first create to all settled",
            f"{r['create_phase_cpu_pct']:.0f} % of a core")
    rto, rto_ref = r.get("rto"), r.get("rto_ref")
    if rto:
        nodes = i["nodes"] if i else "all"
        row(f"failover RTO with {nodes} nodes, median of {len(rto['trials'])}",
            f"{rto['median'] * 1000:.0f} ms ({trials_ms(rto)})",
            f"< {GOAL_RTO_MS:.0f} ms", verdict(rto["median"] * 1000 < GOAL_RTO_MS))
    if rto_ref:
        row(f"failover RTO alone (3 nodes), median of {len(rto_ref['trials'])}",
            f"{rto_ref['median'] * 1000:.0f} ms ({trials_ms(rto_ref)})")
    if rto and rto_ref:
        row("RTO ratio at N / alone", f"{rto['median'] / rto_ref['median']:.2f}×", "≈ 1×")
    s = r.get("restart")
    if s:
        row("clean stop (SIGTERM → exit)", f"{s['stop_s']:.1f} s",
            "", f"exit {s['stop_exit_code']}, {s['nodes_left_running']} nodes left")
        row("restart → Ready / → all settled / → data read back",
            f"{s['ready_s']:.1f} / {s['available_s']:.1f} / {s['data_s']:.1f} s")
        all_back = (s["clusters_back"] == s["clusters"] and s["groups_back"] == s["groups"]
                    and s["unchanged"] == s["resources"] and s["keys_ok"] == s["keys_checked"]
                    and s["write_failures"] == 0)
        row("back after restart: clusters, groups, same endpoints, keys",
            f"{s['clusters_back']}/{s['clusters']}, {s['groups_back']}/{s['groups']}, "
            f"{s['unchanged']}/{s['resources']}, {s['keys_ok']}/{s['keys_checked']}",
            "all", verdict(all_back))
    for name, error in r.get("phase_errors", {}).items():
        row(f"phase `{name}` broke", error.replace("|", "/")[:200])
    return "\n".join(rows)


def cidr_is_free(cidr: str) -> bool:
    """Probes a few addresses of the CIDR on 6379 (another instance's endpoints would hold them)."""
    network = cidr.split("/")[0].rsplit(".", 2)[0]
    third = int(cidr.split("/")[0].split(".")[2])
    for host in (f"{network}.{third}.1", f"{network}.{third}.2", f"{network}.{third + 8}.1"):
        with socket.socket() as s:
            # As Ferrocache's listeners do: TIME_WAIT leftovers of an earlier run don't count.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((host, 6379))
            except OSError:
                return False
    return True


def phase(name: str, fn):
    """Runs one phase; a failure is logged and reported, and the next phases still run."""
    try:
        return fn()
    except Exception as e:  # noqa: BLE001 - a bench reports what broke and goes on
        frame = traceback.extract_tb(e.__traceback__)[-1]
        where = f"{Path(frame.filename).name}:{frame.lineno} {frame.name}"
        where_ours = next((f"scale.py:{f.lineno} {f.name}"
                           for f in reversed(traceback.extract_tb(e.__traceback__))
                           if f.filename == __file__), "")
        log(f"phase {name} broke: {type(e).__name__}: {e} (at {where}; {where_ours})")
        results.setdefault("phase_errors", {})[name] = \
            f"{type(e).__name__}: {e} ({where_ours})"
        return None


def keep_logs(fc: Ferrocache) -> str:
    """Copies Ferrocache's stderr logs out of the temp dir (removed at exit)."""
    target = Path(LOG_DIR) / f"scale-{N}-{time.strftime('%Y%m%d-%H%M%S')}"
    target.mkdir(parents=True, exist_ok=True)
    for log_file in Path(fc.root).glob("*.stderr.log"):
        shutil.copy(log_file, target / log_file.name)
    return str(target)


def create_all(port: int, pid: int) -> None:
    """The creates, each sent as raw signed HTTP and followed by a one-record Describe of
    `scale-ref` (the same cheap call at every N: how much the machine itself slowed down)."""
    log(f"creating {N} cache clusters")
    api = RawQuery(port)
    latencies, probes, errors = [], [], []

    def create(action: str, resource_id: str, params: dict) -> float:
        elapsed, status, data = api.call(action, params)
        if status != 200:
            code = re.search(rb"<Code>([^<]*)</Code>", data)
            errors.append(f"{resource_id}: HTTP {status} {code.group(1).decode() if code else ''}")
        probes.append(api.checked("DescribeCacheClusters", {"CacheClusterId": f"{REF_GROUP}-001"}))
        return elapsed

    tenth = max(1, N // 10)
    cpu_marks = {}
    for n in range(N):
        if n in (0, N - tenth):
            cpu_marks[n] = cpu_seconds(pid)
        latencies.append(create("CreateCacheCluster", f"sc-{n:04d}", {
            "CacheClusterId": f"sc-{n:04d}", "Engine": "redis",
            "CacheNodeType": "cache.t3.micro", "NumCacheNodes": "1"}))
        if (n + 1) % max(1, N // 10) == 0:
            last = latencies[-max(1, N // 10):]
            log(f"  {n + 1}/{N}: mean of the last {len(last)} {ms(statistics.fmean(last))}")
        if n + 1 in (tenth, N):
            cpu_marks[n + 1] = cpu_seconds(pid)
    results["create_clusters"] = first_last(latencies)
    # Ferrocache's own CPU per create (the API call and the reconciling it sets off, which
    # overlaps the next calls): the control plane's cost, apart from the machine's load.
    results["create_cpu"] = {
        "first_ms": (cpu_marks[tenth] - cpu_marks[0]) / tenth * 1000,
        "last_ms": (cpu_marks[N] - cpu_marks[N - tenth]) / tenth * 1000}
    results["create_probe"] = first_last(probes)
    log(f"creating {GROUPS} replication groups")
    group_latencies = []
    for n in range(GROUPS):
        group_latencies.append(create("CreateReplicationGroup", f"sg-{n:03d}", group_params(
            f"sg-{n:03d}")))
        if (n + 1) % max(1, GROUPS // 5) == 0:
            last = group_latencies[-max(1, GROUPS // 5):]
            log(f"  {n + 1}/{GROUPS}: mean of the last {len(last)} "
                f"{ms(statistics.fmean(last))}")
    api.close()
    if group_latencies:
        results["create_groups"] = first_last(group_latencies)
    results["create_errors"] = errors
    if errors:
        log(f"  {len(errors)} creates refused, first: {errors[0]}")


def lone_creates(fc, ec, prefix: str) -> dict:
    """LONE_CREATES CreateCacheCluster calls, each sent only when the previous cluster is
    `available` (nothing else pending: the cost of a create at this N, apart from the backlog
    of back-to-back creates); the clusters are deleted again afterwards, and gone before this
    returns, so the counts of the other phases stay N."""
    api = RawQuery(fc.port)
    times, probes = [], []
    ids = [f"{prefix}-{n:02d}" for n in range(LONE_CREATES)]
    for cluster_id in ids:
        times.append(api.checked("CreateCacheCluster", {
            "CacheClusterId": cluster_id, "Engine": "redis",
            "CacheNodeType": "cache.t3.micro", "NumCacheNodes": "1"}))
        probes.append(api.checked("DescribeCacheClusters", {"CacheClusterId": f"{REF_GROUP}-001"}))
        wait_until(lambda: ec.describe_cache_clusters(CacheClusterId=cluster_id)
                   ["CacheClusters"][0]["CacheClusterStatus"] == "available", 60,
                   f"{cluster_id} available")
    for cluster_id in ids:
        api.checked("DeleteCacheCluster", {"CacheClusterId": cluster_id})
    api.close()

    def gone(cluster_id):
        try:
            ec.describe_cache_clusters(CacheClusterId=cluster_id)
            return False
        except ec.exceptions.CacheClusterNotFoundFault:
            return True

    for cluster_id in ids:
        wait_until(lambda: gone(cluster_id), 60, f"{cluster_id} deleted")
    out = {"p50": statistics.median(times), "mean": statistics.fmean(times), "calls": len(times),
           "probe_p50": statistics.median(probes)}
    log(f"  {len(times)} lone creates: p50 {ms(out['p50'])}, mean {ms(out['mean'])}; probe "
        f"after each (DescribeCacheClusters of one id) p50 {ms(out['probe_p50'])}")
    return out


def group_params(group_id: str) -> dict:
    """CreateReplicationGroup's parameters for a three-node group with automatic failover."""
    return {"ReplicationGroupId": group_id, "ReplicationGroupDescription": "scale bench",
            "Engine": "redis", "CacheNodeType": "cache.t3.micro", "NumCacheClusters": "3",
            "AutomaticFailoverEnabled": "true"}


def main() -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGHUP, lambda *_: sys.exit(129))
    if not cidr_is_free(CIDR):
        print(f"scale bench: {CIDR} is in use (another Ferrocache?); set ENDPOINT_CIDR")
        return 2
    loads = LoadSampler()
    loads.thread.start()
    fc = Ferrocache(binary=BIN, cidr=CIDR, ready_timeout=300, stop_timeout=STOP_TIMEOUT_S)
    settled = None
    try:
        fc.start()
        ec = fc.client(retries=1)
        log(f"ferrocache {fc.endpoint_url} (pid {fc.pid}), data {fc.data_dir}, endpoints {CIDR}, "
            f"binary {BIN}; N={N}, groups={GROUPS}")

        if not SKIP_REFERENCE:
            time.sleep(SETTLE_S)
            results["idle_ref"] = idle_figures(fc, IDLE_S)
            log(f"reference, no node: CPU {results['idle_ref']['cpu_pct']:.2f} %, "
                f"RSS {results['idle_ref']['rss_mb']:.1f} MB")
        RawQuery(fc.port).checked("CreateReplicationGroup", group_params(REF_GROUP))
        wait_until(lambda: group_of(ec, REF_GROUP)["Status"] == "available", 120,
                   f"{REF_GROUP} available")
        if not SKIP_REFERENCE and RTO_TRIALS > 0:
            results["rto_ref"] = phase("reference failover", lambda: rto_trials(fc, ec, REF_GROUP))

        if LONE_CREATES > 0:
            log(f"{LONE_CREATES} creates one at a time, with nothing else running")
            results["lone_ref"] = phase("lone creates", lambda: lone_creates(fc, ec, "lone0"))

        cpu0 = cpu_seconds(fc.pid)
        started = time.monotonic()
        phase("create", lambda: create_all(fc.port, fc.pid))
        results["creates_s"] = time.monotonic() - started
        log(f"  all creates issued in {results['creates_s']:.1f}s")

        settled = phase("wait until available", lambda: wait_all_available(
            ec, N, GROUPS + 1, AVAILABLE_TIMEOUT_S))
        if settled:
            results["available"] = {
                "done": settled.done, "seconds": time.monotonic() - started,
                "standalone": len(settled.available_standalone),
                "groups": len(settled.available_groups),
                "failed_groups": len(settled.failed_groups), "poll_s": settled.poll_s}
            results["create_phase_cpu_pct"] = \
                (cpu_seconds(fc.pid) - cpu0) / results["available"]["seconds"] * 100
            log(f"  {settled.summary()}, {results['available']['seconds']:.1f}s after the "
                "first create")

        time.sleep(SETTLE_S)
        results["idle"] = idle_figures(fc, IDLE_S)
        log(f"idle at {results['idle']['nodes']} nodes: CPU {results['idle']['cpu_pct']:.2f} %, "
            f"RSS {results['idle']['rss_mb']:.1f} MB, nodes' CPU "
            f"{results['idle']['nodes_cpu_pct']:.1f} %")
        if LONE_CREATES > 0:
            log(f"{LONE_CREATES} creates one at a time, with {N} clusters running")
            results["lone"] = phase("lone creates at N", lambda: lone_creates(fc, ec, "lone1"))
        if DESCRIBE_CALLS > 0:
            log(f"describe latencies ({DESCRIBE_CALLS} calls each)")
            results["describe"] = phase("describe", lambda: describe_latencies(fc, ec))
        if RTO_TRIALS > 0:
            log(f"failover of {REF_GROUP} with everything running")
            results["rto"] = phase("failover at N", lambda: rto_trials(fc, ec, REF_GROUP))

        if not SKIP_RESTART:
            log("clean stop and restart")
            before = phase("before restart", lambda: wait_all_available(
                ec, N, GROUPS + 1, AVAILABLE_TIMEOUT_S))
            if before:
                results["restart"] = phase("restart", lambda: restart(
                    fc, lambda: fc.client(retries=1), before))
        if fc.server_errors:
            log(f"server errors seen: {len(fc.server_errors)}, first: {fc.server_errors[:3]}")
            results["server_errors"] = fc.server_errors[:20]
    except (KeyboardInterrupt, SystemExit) as e:
        # Stopped from outside (Ctrl-C, SIGTERM, `timeout`): still print what was measured.
        results.setdefault("phase_errors", {})["interrupted"] = repr(e)
        log(f"interrupted ({e!r}): stopping Ferrocache and its nodes")
    finally:
        # A second Ctrl-C or SIGTERM must not cut the clean-up short and leave nodes running.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        loads.stop.set()
        try:
            print(f"ferrocache logs kept in {keep_logs(fc)}", flush=True)
        finally:
            fc.close()
    report(loads)
    return 1 if results.get("phase_errors") else 0


def report(loads: LoadSampler):
    if loads.samples:
        results["load"] = {"min": min(loads.samples), "mean": statistics.fmean(loads.samples),
                           "max": max(loads.samples)}
    load = results.get("load", {"min": 0, "mean": 0, "max": 0})
    print()
    print(f"bench/scale.sh {N}: commit {COMMIT}, {N} cache clusters + {GROUPS} groups of 3 "
          f"(+ {REF_GROUP}), load average during the run {load['min']:.1f}–{load['max']:.1f} "
          f"(mean {load['mean']:.1f}), {os.cpu_count()} CPUs")
    print()
    print(table(results), flush=True)
    if RESULTS_JSON:
        Path(RESULTS_JSON).write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    sys.exit(main())
