#!/usr/bin/env python3
"""Metrics at N nodes: every node sampled every second, its ElastiCache metrics stored for
CloudWatch. Run through bench/metrics.sh (it builds the release binary and raises `ulimit -n`).

For each binary given (the build measured first, then each reference, e.g. the build before
CloudWatch), on its own data dir, port and endpoint CIDR, phases bounded in count and time:

1. N `CreateCacheCluster` (one node each, boto3, sent back to back), then paged
   DescribeCacheClusters until all are `available` (or AVAILABLE_TIMEOUT_S);
2. after SETTLE_S, Ferrocache's CPU over IDLE_S seconds (utime+stime of /proc/<pid>/stat, % of
   one core) and its RSS at the start and the end of the window (memory growth);
3. the bytes under <data-dir>/cloudwatch at the start and the end of the window (what a node
   costs per hour on disk, every tier together, as stored by then);
4. QUERY_CALLS GetMetricStatistics (one node's CPUUtilization, one day back, Period 60, Average)
   as raw signed HTTP (the server's latency): p50 and p99.

Prints a Markdown table, with the ratio of each figure to the first reference's. Every process
started here is stopped by PID (tests/py/harness.py), also on Ctrl-C.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "py"))
from harness import Ferrocache  # noqa: E402

import boto3  # noqa: E402
from botocore.auth import SigV4Auth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
BINARIES = sys.argv[2:]
IDLE_S = float(os.environ.get("IDLE_S", "600"))
SETTLE_S = float(os.environ.get("SETTLE_S", "10"))
QUERY_CALLS = int(os.environ.get("QUERY_CALLS", "200"))
AVAILABLE_TIMEOUT_S = float(os.environ.get("AVAILABLE_TIMEOUT_S", "1800"))
# When set, `perf record -g` samples Ferrocache for the first PERF_S seconds (default 30) of the
# idle window into <PERF_OUT>.<binary's file name> (for `perf report -i`).
PERF_OUT = os.environ.get("PERF_OUT")
PERF_S = float(os.environ.get("PERF_S", "30"))
CIDRS = ["127.240.0.0/20", "127.241.0.0/20", "127.242.0.0/20"]
REGION = "us-east-1"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def tree_bytes(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(root, f))
            except OSError:
                pass
    return total


def signed_post(fc: Ferrocache, target: str, body: dict) -> tuple[int, float]:
    payload = json.dumps(body)
    headers = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": target,
               "x-amzn-query-mode": "true"}
    request = AWSRequest(method="POST", url=f"{fc.endpoint_url}/", data=payload, headers=headers)
    SigV4Auth(Credentials("test", "test"), "monitoring", REGION).add_auth(request)
    host, port = fc.listen.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    start = time.perf_counter()
    conn.request("POST", "/", body=payload, headers=dict(request.headers))
    response = conn.getresponse()
    response.read()
    elapsed = time.perf_counter() - start
    conn.close()
    return response.status, elapsed


def measure(binary: str, cidr: str) -> dict:
    fc = Ferrocache(binary=binary, cidr=cidr)
    fc.start()
    try:
        ec = boto3.client("elasticache", endpoint_url=fc.endpoint_url, region_name=REGION,
                          aws_access_key_id="test", aws_secret_access_key="test",
                          config=Config(retries={"total_max_attempts": 3, "mode": "standard"},
                                        read_timeout=120))
        started = time.monotonic()
        for i in range(N):
            ec.create_cache_cluster(CacheClusterId=f"m{i:04d}", CacheNodeType="cache.t3.micro",
                                    Engine="redis")
        deadline = time.monotonic() + AVAILABLE_TIMEOUT_S
        while True:
            available = 0
            for page in ec.get_paginator("describe_cache_clusters").paginate(
                    PaginationConfig={"PageSize": 100}):
                available += sum(c["CacheClusterStatus"] == "available"
                                 for c in page["CacheClusters"])
            if available >= N or time.monotonic() > deadline:
                break
            time.sleep(2)
        ready_s = time.monotonic() - started
        time.sleep(SETTLE_S)
        pid = fc.pid
        cw_dir = Path(fc.data_dir) / "cloudwatch"
        cpu0, rss0, disk0, t0 = cpu_seconds(pid), rss_mb(pid), tree_bytes(cw_dir), time.monotonic()
        rss_mid = None
        if PERF_OUT:
            subprocess.run(["perf", "record", "-q", "-F", os.environ.get("PERF_HZ", "999"), "-g", "-p", str(pid),
                            "-o", f"{PERF_OUT}.{Path(binary).name}", "--",
                            "sleep", str(min(PERF_S, IDLE_S))],
                           check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while time.monotonic() - t0 < IDLE_S:
            time.sleep(min(10.0, IDLE_S))
            if rss_mid is None and time.monotonic() - t0 >= IDLE_S / 2:
                rss_mid = rss_mb(pid)
        elapsed = time.monotonic() - t0
        cpu1, rss1, disk1 = cpu_seconds(pid), rss_mb(pid), tree_bytes(cw_dir)
        latencies = []
        now = int(time.time()) // 60 * 60
        for i in range(QUERY_CALLS):
            status, took = signed_post(fc, "GraniteServiceVersion20100801.GetMetricStatistics", {
                "Namespace": "AWS/ElastiCache", "MetricName": "CPUUtilization",
                "Dimensions": [{"Name": "CacheClusterId", "Value": f"m{i % N:04d}"}],
                "StartTime": now - 86400, "EndTime": now, "Period": 60,
                "Statistics": ["Average"]})
            if status == 200:
                latencies.append(took * 1000)
        latencies.sort()
        return {
            "binary": binary, "nodes": available, "ready_s": ready_s,
            "cpu_pct": (cpu1 - cpu0) / elapsed * 100, "rss_start_mb": rss0,
            "rss_mid_mb": rss_mid or rss1, "rss_end_mb": rss1,
            "disk_bytes_per_node_hour": (disk1 - disk0) / max(available, 1) / elapsed * 3600,
            "cloudwatch_bytes": disk1,
            "query_p50_ms": statistics.median(latencies) if latencies else None,
            "query_p99_ms": latencies[int(len(latencies) * 0.99) - 1] if latencies else None,
            "query_ok": len(latencies),
        }
    finally:
        fc.close()


def main() -> None:
    results = [measure(b, CIDRS[i % len(CIDRS)]) for i, b in enumerate(BINARIES)]
    print(f"\nN={N} single-node cache clusters, IDLE_S={IDLE_S:.0f}, QUERY_CALLS={QUERY_CALLS}\n")
    header = "| figure | " + " | ".join(Path(r["binary"]).name + f" ({i})"
                                         for i, r in enumerate(results)) + " |"
    print(header)
    print("|---" * (len(results) + 1) + "|")
    for key in ("nodes", "ready_s", "cpu_pct", "rss_start_mb", "rss_mid_mb", "rss_end_mb",
                "disk_bytes_per_node_hour", "cloudwatch_bytes", "query_p50_ms", "query_p99_ms",
                "query_ok"):
        cells = []
        for r in results:
            v = r[key]
            cells.append("—" if v is None else (f"{v:.2f}" if isinstance(v, float) else str(v)))
        print(f"| {key} | " + " | ".join(cells) + " |")
    if len(results) > 1 and results[1]["cpu_pct"]:
        print(f"\nCPU ratio (0)/(1): {results[0]['cpu_pct'] / results[1]['cpu_pct']:.2f}")
    print("\n" + json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
