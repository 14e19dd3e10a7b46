#!/usr/bin/env python3
"""The console's Redis clusters list at N replication groups. Run through bench/console.sh (it
builds the release binary and raises `ulimit -n`).

1. `ferrocache up` (tests/py/harness.py: own data dir, free port, ENDPOINT_CIDR);
2. N `CreateReplicationGroup` (`NumCacheClusters=1`, boto3, eight at a time), then paged
   `DescribeReplicationGroups` (MaxRecords=100) until all are `available` (or
   AVAILABLE_TIMEOUT_S), and a few seconds' settling;
3. LOADS times: a fresh browser context (nothing cached) opens
   `/console/#/elasticache/redis` in headless Chromium; a script installed before the page's
   own (Playwright's init script) watches the DOM and notes `performance.now()` (ms since the
   navigation started) when the first row of the "Redis clusters" table appears, and when the
   heading shows the total "(N)" with the first page of rows (50) in the table; each time is
   taken at the next animation frame, i.e. once the browser can paint it.

Prints the median and every load's figures, and the number of DescribeReplicationGroups calls
the page made. Ferrocache and its nodes are stopped by PID (harness), also on Ctrl-C.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "py"))
from harness import Ferrocache  # noqa: E402

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
BINARY = sys.argv[2] if len(sys.argv) > 2 else None
LOADS = int(os.environ.get("LOADS", "5"))
CIDR = os.environ.get("ENDPOINT_CIDR", "127.232.0.0/19")
AVAILABLE_TIMEOUT_S = float(os.environ.get("AVAILABLE_TIMEOUT_S", "1800"))
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
PAGE_ROWS = 50  # the list's default page size
REGION = "us-east-1"

WATCH = """
(() => {
  const n = %d, rows = %d;
  window.__marks = {};
  const at = (name) => {
    if (window.__marks[name] !== undefined) return;
    window.__marks[name] = null;
    requestAnimationFrame(() => { window.__marks[name] = performance.now(); });
  };
  const check = () => {
    const table = document.querySelector('table[aria-label="Redis clusters"]');
    const links = table ? table.querySelectorAll("tbody tr a").length : 0;
    if (links) at("firstRows");
    const count = document.querySelector("h1 .count");
    if (count && count.textContent === `(${n})` && links === rows) at("all");
  };
  new MutationObserver(check).observe(document, { subtree: true, childList: true,
                                                  characterData: true });
})();
"""


def create_groups(fc: Ferrocache) -> float:
    ec = boto3.client("elasticache", endpoint_url=fc.endpoint_url, region_name=REGION,
                      aws_access_key_id="test", aws_secret_access_key="test",
                      config=Config(retries={"total_max_attempts": 3, "mode": "standard"},
                                    read_timeout=120, max_pool_connections=16))
    started = time.monotonic()

    def create(i: int):
        ec.create_replication_group(
            ReplicationGroupId=f"c{i:04d}", ReplicationGroupDescription=f"console bench {i}",
            Engine="redis", CacheNodeType="cache.t3.micro", NumCacheClusters=1)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(create, range(N)))
    print(f"{N} CreateReplicationGroup sent in {time.monotonic() - started:.1f} s", flush=True)
    deadline = time.monotonic() + AVAILABLE_TIMEOUT_S
    while True:
        available = 0
        for page in ec.get_paginator("describe_replication_groups").paginate(
                PaginationConfig={"PageSize": 100}):
            available += sum(g["Status"] == "available" for g in page["ReplicationGroups"])
        if available >= N or time.monotonic() > deadline:
            break
        time.sleep(2)
    ready = time.monotonic() - started
    print(f"{available}/{N} groups available after {ready:.1f} s", flush=True)
    return ready


def measure(fc: Ferrocache) -> list[dict]:
    url = f"{fc.endpoint_url}/console/#/elasticache/redis"
    rows = min(N, PAGE_ROWS)
    loads = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update"])
        try:
            for _ in range(LOADS + 1):  # the first load warms the server and the OS caches
                context = browser.new_context(viewport={"width": 1400, "height": 900})
                context.add_init_script(WATCH % (N, rows))
                page = context.new_page()
                calls = []
                page.on("request", lambda r: calls.append(1) if r.method == "POST" and
                        "DescribeReplicationGroups" in (r.post_data or "") else None)
                page.goto(url)
                page.wait_for_function("() => window.__marks && window.__marks.all",
                                       timeout=120_000, polling=50)
                marks = page.evaluate("() => window.__marks")
                # For context: when the page's script had run (DOMContentLoaded) and when its
                # first API call (the sign-in probe) and its first DescribeReplicationGroups
                # left, from the browser's own timeline.
                timeline = page.evaluate("""() => {
                  const nav = performance.getEntriesByType("navigation")[0];
                  const api = performance.getEntriesByType("resource")
                    .filter((e) => new URL(e.name).pathname === "/");
                  return { dcl: nav.domContentLoadedEventEnd,
                           probe: api.length ? api[0].startTime : null,
                           list: api.length > 1 ? api[1].startTime : null };
                }""")
                shown = page.locator('table[aria-label="Redis clusters"] tbody tr').count()
                heading = page.locator("h1").inner_text()
                loads.append({"first_rows_ms": marks["firstRows"], "all_ms": marks["all"],
                              "dcl_ms": timeline["dcl"], "probe_ms": timeline["probe"],
                              "list_ms": timeline["list"],
                              "rows": shown, "heading": heading, "calls": len(calls)})
                context.close()
        finally:
            browser.close()
    return loads[1:]


def main():
    fc = Ferrocache(binary=BINARY, cidr=CIDR, stop_timeout=300)
    fc.start()
    try:
        ready = create_groups(fc)
        time.sleep(5)
        loads = measure(fc)
    finally:
        fc.close()
    first = statistics.median(x["first_rows_ms"] for x in loads)
    complete = statistics.median(x["all_ms"] for x in loads)
    print()
    print(f"| {N} replication groups (1 node each), {len(loads)} loads | median | each |")
    print("|---|---:|---|")
    print(f"| navigation → first rows shown | {first:.0f} ms | "
          + ", ".join(f"{x['first_rows_ms']:.0f}" for x in loads) + " |")
    print(f"| navigation → total ({N}) and first page ({min(N, PAGE_ROWS)} rows) shown | "
          f"{complete:.0f} ms | " + ", ".join(f"{x['all_ms']:.0f}" for x in loads) + " |")
    for key, what in [("dcl_ms", "navigation → the console's script has run (DOMContentLoaded)"),
                      ("probe_ms", "navigation → first API call (the sign-in probe) sent"),
                      ("list_ms", "navigation → first DescribeReplicationGroups sent")]:
        values = [x[key] for x in loads if x[key] is not None]
        if values:
            print(f"| {what} | {statistics.median(values):.0f} ms | "
                  + ", ".join(f"{v:.0f}" for v in values) + " |")
    print(f"| DescribeReplicationGroups calls per load | {loads[0]['calls']} | |")
    print(f"\nheading: {loads[0]['heading']!r}; groups available after {ready:.0f} s")


if __name__ == "__main__":
    main()
