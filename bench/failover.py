#!/usr/bin/env python3
"""Failover RTO/RPO: Ferrocache's primary endpoint against Redis Sentinel, in one run.

A client writes `seq:N` every WRITE_INTERVAL through the endpoint it is given (Ferrocache: the
group's primary endpoint, unchanged; Sentinel: a Sentinel-aware redis-py client that asks the
sentinels for the master). The primary's redis-server is SIGKILLed; RTO is the time from the
kill to the first acknowledged write after it, RPO the number of acknowledged writes missing
afterwards. Each side runs TRIALS times; medians are printed with the ratio.

Environment:
  TRIALS           trials per side (default 5).
  FERROCACHE_ARGS  extra arguments appended to `ferrocache up`, split on spaces, e.g.
                   FERROCACHE_ARGS="--data-path kernel" or "--data-path router" (default: none,
                   so `--data-path auto`: the kernel path as root). The banner's "Data path:"
                   line is printed, so the output says which path the run measured.
  FERROCACHE_LOG   file that keeps `ferrocache up`'s output (default: in the temporary work
                   directory, removed at exit).

Every process started here is stopped by PID at exit; every loop is bounded in count and time.
Run through bench/failover.sh (it builds the release binary and checks the tools).
"""

import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import boto3
import redis
from redis.sentinel import Sentinel

TRIALS = int(os.environ.get("TRIALS", "5"))
WRITE_INTERVAL = 0.001
TRIAL_SECONDS_MAX = 30.0
SENTINEL_DOWN_AFTER_MS = 1000
BIN = os.environ["FERROCACHE_BIN"]
FERROCACHE_ARGS = os.environ.get("FERROCACHE_ARGS", "").split()
STARTED: list[subprocess.Popen] = []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(args, log=None, **kw) -> subprocess.Popen:
    out = subprocess.DEVNULL if log is None else log
    proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT if log else out, **kw)
    STARTED.append(proc)
    return proc


def stop_all():
    for proc in STARTED:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 10
    for proc in STARTED:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()


def wait_until(fn, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = fn()
            if value:
                return value
        except Exception:  # noqa: BLE001 - polling through transient errors
            pass
        time.sleep(0.01)
    raise SystemExit(f"timed out waiting for {what}")


class Writer:
    """Writes seq:N every WRITE_INTERVAL through `get_client()`; records ack times."""

    def __init__(self, get_client):
        self.get_client = get_client
        self.acked: list[tuple[int, float]] = []
        self.sent: list[float] = []  # when each acknowledged write was sent
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        client = self.get_client()
        n = 0
        deadline = time.monotonic() + TRIAL_SECONDS_MAX
        while not self.stop.is_set() and time.monotonic() < deadline:
            try:
                sent = time.monotonic()
                client.set(f"seq:{n}", n)
                self.sent.append(sent)
                self.acked.append((n, time.monotonic()))
                n += 1
            except (redis.exceptions.RedisError, OSError):
                try:
                    client = self.get_client()
                except (redis.exceptions.RedisError, OSError):
                    pass
            time.sleep(WRITE_INTERVAL)


def trial(kill_primary, get_client, check_client) -> tuple[float, int]:
    writer = Writer(get_client)
    writer.thread.start()
    wait_until(lambda: len(writer.acked) > 200, 10, "writes flowing")
    killed_at = time.monotonic()
    kill_primary()
    wait_until(lambda: writer.acked[-1][1] > killed_at, TRIAL_SECONDS_MAX, "writes after the kill")
    first, first_after = next((i, t) for i, (_, t) in enumerate(writer.acked) if t > killed_at)
    if writer.sent[first] < killed_at:
        # RTO stays "kill to first acknowledged write"; this says when that write was sent.
        print(f"  note: the first write acknowledged after the kill was sent "
              f"{(killed_at - writer.sent[first]) * 1000:.1f} ms before it", flush=True)
    time.sleep(0.3)
    writer.stop.set()
    writer.thread.join(TRIAL_SECONDS_MAX)

    def count_missing():
        # Retried (bounded): a sentinel that has not yet seen the switch can still name the
        # killed master for a moment after the writer found the new one.
        client = check_client()
        pipe = client.pipeline(transaction=False)
        for n, _ in writer.acked:
            pipe.exists(f"seq:{n}")
        return (sum(1 for present in pipe.execute() if not present),)

    (missing,) = wait_until(count_missing, 10, "the check of acknowledged writes")
    wait_until(lambda: check_client().flushall(), 10, "FLUSHALL after the check")
    return first_after - killed_at, missing


def banner_line(log_path, prefix):
    """The first line of ferrocache's banner starting with `prefix` (None before it shows)."""
    with open(log_path, errors="replace") as f:
        return next((line.strip() for line in f if line.startswith(prefix)), None)


def ferrocache_trials(workdir) -> tuple[list[tuple[float, int]], str]:
    port = free_port()
    cidr = "127.251.0.0/24"
    log_path = os.environ.get("FERROCACHE_LOG") or f"{workdir}/ferrocache.log"
    args = [BIN, "up", "--data-dir", f"{workdir}/fc", "--listen", f"127.0.0.1:{port}",
            "--endpoint-cidr", cidr, *FERROCACHE_ARGS]
    print("ferrocache: " + " ".join(args[1:]) + f"  (output in {log_path})", flush=True)
    with open(log_path, "w") as log:
        proc = spawn(args, log=log)
    try:
        wait_until(lambda: proc.poll() is not None or banner_line(log_path, "Ready."), 30,
                   "ferrocache's banner")
    except SystemExit:
        if proc.poll() is None:
            raise
    if proc.returncode is not None:
        with open(log_path, errors="replace") as f:
            tail = f.read()[-2000:]
        raise SystemExit(f"ferrocache up exited ({proc.returncode}):\n{tail}")
    data_path = banner_line(log_path, "Data path:") or "Data path: (not in the banner)"
    print(f"ferrocache: {data_path}", flush=True)
    ec = boto3.client("elasticache", endpoint_url=f"http://127.0.0.1:{port}",
                      region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    wait_until(lambda: ec.describe_cache_engine_versions(), 30, "ferrocache API")
    ec.create_replication_group(ReplicationGroupId="bench", ReplicationGroupDescription="b",
                                NumCacheClusters=3, AutomaticFailoverEnabled=True)

    def group():
        return ec.describe_replication_groups(ReplicationGroupId="bench")["ReplicationGroups"][0]

    wait_until(lambda: group()["Status"] == "available", 60, "group available")
    address = group()["NodeGroups"][0]["PrimaryEndpoint"]["Address"]
    results = []
    for _ in range(TRIALS):
        members = group()["NodeGroups"][0]["NodeGroupMembers"]
        wait_until(lambda: redis.Redis(host=address).info("replication")["connected_slaves"] == 2,
                   60, "two replicas in sync")
        primary = next(m["CacheClusterId"] for m in members if m.get("CurrentRole") == "primary")
        pid = int(open(f"{workdir}/fc/nodes/{primary}/redis.pid").read())
        print(f"ferrocache trial: killing {primary} (pid {pid})", flush=True)
        results.append(trial(lambda: os.kill(pid, signal.SIGKILL),
                             lambda: redis.Redis(host=address, socket_timeout=1,
                                                 socket_connect_timeout=1),
                             lambda: redis.Redis(host=address)))
        rto, lost = results[-1]
        print(f"ferrocache trial: RTO {rto * 1000:.0f} ms, lost {lost}", flush=True)
    return results, data_path.removeprefix("Data path:").split()[0]


def sentinel_trials(workdir) -> list[tuple[float, int]]:
    ports = [free_port() for _ in range(3)]
    pids = {}
    for i, port in enumerate(ports):
        d = f"{workdir}/redis{i}"
        os.makedirs(d)
        args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", d,
                "--save", "", "--appendonly", "no", "--repl-diskless-sync", "yes",
                "--repl-diskless-sync-delay", "0", "--daemonize", "no"]
        if i:
            args += ["--replicaof", "127.0.0.1", str(ports[0])]
        pids[port] = spawn(args)
    sentinel_ports = [free_port() for _ in range(3)]
    for i, port in enumerate(sentinel_ports):
        conf = f"{workdir}/sentinel{i}.conf"
        with open(conf, "w") as f:
            f.write(f"port {port}\nbind 127.0.0.1\ndir {workdir}\n"
                    f"sentinel monitor bench 127.0.0.1 {ports[0]} 2\n"
                    f"sentinel down-after-milliseconds bench {SENTINEL_DOWN_AFTER_MS}\n"
                    "sentinel failover-timeout bench 5000\n"
                    "sentinel parallel-syncs bench 2\n")
        spawn(["redis-sentinel", conf])
    sentinel = Sentinel([("127.0.0.1", p) for p in sentinel_ports], socket_timeout=1)
    wait_until(lambda: sentinel.discover_master("bench"), 30, "sentinels see the master")
    wait_until(lambda: len(sentinel.discover_slaves("bench")) == 2, 30, "sentinels see replicas")
    # A failover needs a majority of sentinels that know each other (they meet through hello
    # messages on the master, every 2 s).
    wait_until(lambda: all(len(s.sentinel_sentinels("bench")) == 2 for s in sentinel.sentinels),
               30, "sentinels see each other")
    results = []
    for _ in range(TRIALS):
        master = sentinel.discover_master("bench")
        wait_until(lambda: redis.Redis(*master).info("replication")["connected_slaves"] == 2
                   and len(sentinel.discover_slaves("bench")) == 2, 60, "two replicas in sync")
        victim = pids[master[1]]
        print(f"sentinel trial: killing master {master}", flush=True)

        def kill():
            victim.send_signal(signal.SIGKILL)

        results.append(trial(kill,
                             lambda: sentinel.master_for("bench", socket_timeout=1),
                             lambda: sentinel.master_for("bench", socket_timeout=5)))
        rto, lost = results[-1]
        print(f"sentinel trial: RTO {rto * 1000:.0f} ms, lost {lost}", flush=True)
        victim.wait(10)
        # Bring the old master back (Sentinel reconfigures it as a replica), as Ferrocache does.
        port = master[1]
        d = f"{workdir}/redis{ports.index(port)}"
        new_master = wait_until(lambda: sentinel.discover_master("bench") != master and
                                sentinel.discover_master("bench"), 30, "new master")
        pids[port] = spawn(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                            "--dir", d, "--save", "", "--appendonly", "no",
                            "--replicaof", new_master[0], str(new_master[1]),
                            "--daemonize", "no"])
    return results


def report(name, results):
    rtos = [r for r, _ in results]
    lost = [m for _, m in results]
    print(f"{name:<24} RTO ms: " + " ".join(f"{r * 1000:7.0f}" for r in rtos)
          + f"   median {statistics.median(rtos) * 1000:7.0f}"
          f"   min {min(rtos) * 1000:.0f}   max {max(rtos) * 1000:.0f}   lost writes: {lost}")
    return statistics.median(rtos)


def main():
    workdir = tempfile.mkdtemp(prefix="failover-bench-")
    try:
        fc, path = ferrocache_trials(workdir)
        stop_all()
        STARTED.clear()
        se = sentinel_trials(workdir)
    finally:
        stop_all()
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"\nfailover bench: SIGKILL of the primary under a write every {WRITE_INTERVAL * 1000:.0f} ms,"
          f" {TRIALS} trials each; Sentinel: 3 sentinels, down-after-milliseconds "
          f"{SENTINEL_DOWN_AFTER_MS}")
    if FERROCACHE_ARGS:
        print(f"ferrocache up extra arguments (FERROCACHE_ARGS): {' '.join(FERROCACHE_ARGS)}")
    a = report(f"ferrocache ({path})", fc)
    b = report("redis-sentinel", se)
    print(f"ratio sentinel / ferrocache (RTO median): {b / a:.1f}x")


if __name__ == "__main__":
    sys.exit(main())
