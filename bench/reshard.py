#!/usr/bin/env python3
"""Online resharding 3 → 4 shards with KEYS keys, Ferrocache against the same move by hand.

Run through bench/reshard.sh. In one run, TRIALS times each (reference first):

- **reference**: 4 plain `redis-server --cluster-enabled yes` on 127.0.0.1 (no persistence);
  `redis-cli --cluster create` of 3 of them (`--cluster-replicas 0`), KEYS keys loaded (not
  timed), the 4th added with `redis-cli --cluster add-node` (timed apart, until every node
  knows the 4, reports `cluster_state:ok` and `redis-cli --cluster check` passes: a new
  primary stays `fail` for min(cluster-node-timeout, 5 s) after it joins, and a rebalance
  started earlier dies on CLUSTERDOWN), then `redis-cli --cluster rebalance
  --cluster-use-empty-masters` timed until it returns. `cluster-node-timeout` is 5000 ms, as
  on Ferrocache's cluster-mode nodes.
- **ferrocache**: `CreateReplicationGroup NumNodeGroups=3 ReplicasPerNodeGroup=0` until
  `available`, the same KEYS keys loaded through the configuration endpoint's slot map (not
  timed), then `ModifyReplicationGroupShardConfiguration NodeGroupCount=4` timed until
  DescribeReplicationGroups shows `available` with 4 NodeGroups (polled every 50 ms, sampling
  `PendingModifiedValues.Resharding.SlotMigration.ProgressPercentage`).

During each timed move one thread with a redis-py `RedisCluster` client (through the reference's
first node / Ferrocache's configuration endpoint) writes `w:<n>` keys and reads random loaded
keys, counting exceptions and wrong or missing values. Afterwards every loaded key and every
acknowledged `w:` write is read back with a fresh client (keys lost = missing or wrong).

Prints one line per trial and side, a summary table with the ratio Ferrocache / reference, and
the results as JSON last. If the binary does not offer the call yet (`InvalidAction`, or an
error saying it is not supported), the reference figures are printed with "ferrocache: not
available in this build" and the exit code is 0. Every process is stopped by its pid, every
temp dir removed, every wait bounded in time and every loop in count.
"""

from __future__ import annotations

import atexit
import collections
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "py"))
from harness import Ferrocache, allocate_cidr, wait_group_available, wait_until  # noqa: E402

import redis  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402
from redis.cluster import RedisCluster  # noqa: E402
from redis.crc import key_slot  # noqa: E402


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, str(default)).replace("_", ""))


KEYS = env_int("KEYS", 1_000_000)
TRIALS = env_int("TRIALS", 1)
VALUE_BYTES = env_int("VALUE_BYTES", 64)
RESHARD_TIMEOUT_S = float(os.environ.get("RESHARD_TIMEOUT", "600"))
# Keys per MIGRATE of redis-cli's rebalance; unset = redis-cli's default (10).
REF_PIPELINE = os.environ.get("REF_PIPELINE", "")
POLL_S = 0.05
CLIENT_PAUSE_S = 0.001          # between two iterations (one SET, one GET) of the client
CLIENT_OPS_MAX = 20_000_000     # the client's loop bound in count
CLIENT_TIMEOUT_S = 2.0          # redis-py socket timeouts of the client
LOAD_BATCH = 256                # MSET commands per pipeline round trip while loading
VERIFY_BATCH = 256              # MGET commands per pipeline round trip while verifying
NODE_TIMEOUT_MS = 5000
SLOTS = 16384
SHARDS_BEFORE, SHARDS_AFTER = 3, 4
# Reference ports: 21000..22699 with the bus at +10000 (31000..32699), both below the
# ephemeral range (32768+) so no outgoing connection can take them meanwhile.
REF_PORT_MIN, REF_PORT_MAX, REF_BUS_OFFSET = 21000, 22700, 10000
PORT_PROBES_MAX = 2000

_cleanups: list = []


def cleanup_all():
    """Runs every registered cleanup once (also from atexit and on SIGTERM)."""
    while _cleanups:
        fn = _cleanups.pop()
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - cleanup goes on with the rest
            print(f"reshard bench: cleanup failed: {e!r}", file=sys.stderr)


def value_of(n: int) -> bytes:
    return f"{n}:".ljust(VALUE_BYTES, "x").encode()


def written_value(n: int) -> bytes:
    return f"w{n}".encode()


def keys_by_slot(prefix: str, ns) -> dict[int, list[int]]:
    by_slot = collections.defaultdict(list)
    for n in ns:
        by_slot[key_slot(f"{prefix}{n}".encode())].append(n)
    return by_slot


def decode(x):
    return x.decode() if isinstance(x, bytes) else x


def slot_owners(host: str, port: int) -> list[tuple[str, int] | None]:
    """The (host, port) of the primary serving each slot, from CLUSTER SLOTS."""
    client = redis.Redis(host=host, port=port, socket_timeout=10, socket_connect_timeout=5)
    try:
        entries = client.execute_command("CLUSTER", "SLOTS")
    finally:
        client.close()
    owners: list[tuple[str, int] | None] = [None] * SLOTS
    for entry in entries:
        address = (decode(entry[2][0]) or host, int(entry[2][1]))
        for slot in range(int(entry[0]), int(entry[1]) + 1):
            owners[slot] = address
    return owners


def shards_serving(host: str, port: int) -> dict:
    """How many primaries serve slots, and how many slots are served (all 16384 expected)."""
    owners = slot_owners(host, port)
    per = collections.Counter(o for o in owners if o is not None)
    return {"primaries": len(per), "slots_served": sum(per.values()),
            "slots_per_primary": sorted(per.values())}


def group_by_owner(owners, by_slot: dict[int, list[int]]):
    grouped = collections.defaultdict(list)
    for slot in sorted(by_slot):
        grouped[owners[slot]].append(slot)
    return grouped


def load(host: str, port: int, by_slot: dict[int, list[int]]) -> float:
    """SETs every k:<n> with per-primary pipelines of one MSET per slot; returns seconds."""
    t0 = time.monotonic()
    owners = slot_owners(host, port)
    for (h, p), slots in group_by_owner(owners, by_slot).items():
        client = redis.Redis(host=h, port=p, socket_timeout=120, socket_connect_timeout=5)
        try:
            pipe = client.pipeline(transaction=False)
            for i, slot in enumerate(slots, 1):
                pipe.mset({f"k:{n}": value_of(n) for n in by_slot[slot]})
                if i % LOAD_BATCH == 0:
                    pipe.execute()
            pipe.execute()
        finally:
            client.close()
    return time.monotonic() - t0


def verify(host: str, port: int, prefix: str, by_slot: dict[int, list[int]], expected) -> dict:
    """Reads every key back (MGET per slot, pipelined per primary of the current slot map; a
    slot whose owner answers with a redirect is read through a RedisCluster client instead).
    Returns {"missing", "wrong", "checked", "redirected_slots"}."""
    owners = slot_owners(host, port)
    missing = wrong = checked = redirected = 0
    fallback = None
    try:
        for (h, p), slots in group_by_owner(owners, by_slot).items():
            client = redis.Redis(host=h, port=p, socket_timeout=120, socket_connect_timeout=5)
            try:
                for start in range(0, len(slots), VERIFY_BATCH):
                    batch = slots[start:start + VERIFY_BATCH]
                    pipe = client.pipeline(transaction=False)
                    for slot in batch:
                        pipe.mget([f"{prefix}{n}" for n in by_slot[slot]])
                    replies = pipe.execute(raise_on_error=False)
                    for slot, reply in zip(batch, replies):
                        ns = by_slot[slot]
                        if isinstance(reply, Exception):
                            redirected += 1
                            if fallback is None:
                                fallback = RedisCluster(host=host, port=port, socket_timeout=10)
                            reply = fallback.mget_nonatomic([f"{prefix}{n}" for n in ns])
                        for n, got in zip(ns, reply):
                            checked += 1
                            if got is None:
                                missing += 1
                            elif got != expected(n):
                                wrong += 1
            finally:
                client.close()
    finally:
        if fallback is not None:
            fallback.close()
    return {"missing": missing, "wrong": wrong, "checked": checked,
            "redirected_slots": redirected}


class Client(threading.Thread):
    """Writes w:<i> and reads a random k:<n> through a RedisCluster client, in a loop bounded
    in count and time, until stopped."""

    def __init__(self, host: str, port: int, keys: int, seconds_max: float):
        super().__init__(daemon=True)
        self.host, self.port, self.keys = host, port, keys
        self.seconds_max = seconds_max
        self.stop_event = threading.Event()
        self.acked: list[int] = []
        self.errors = collections.Counter()
        self.error_samples: list[str] = []
        self.bad_reads = 0
        self.ops = 0
        self.started_at = self.stopped_at = None

    def error(self, e: Exception):
        self.errors[type(e).__name__] += 1
        if len(self.error_samples) < 10:
            self.error_samples.append(f"{time.monotonic() - self.started_at:.2f}s {e!r}"[:300])

    def run(self):
        rng = random.Random(12345)
        client = RedisCluster(host=self.host, port=self.port, socket_timeout=CLIENT_TIMEOUT_S,
                              socket_connect_timeout=CLIENT_TIMEOUT_S)
        self.started_at = time.monotonic()
        deadline = self.started_at + self.seconds_max
        try:
            for i in range(CLIENT_OPS_MAX):
                if self.stop_event.is_set() or time.monotonic() >= deadline:
                    break
                try:
                    client.set(f"w:{i}", written_value(i))
                    self.acked.append(i)
                except Exception as e:  # noqa: BLE001 - counted: a client error
                    self.error(e)
                n = rng.randrange(self.keys)
                try:
                    if client.get(f"k:{n}") != value_of(n):
                        self.bad_reads += 1
                except Exception as e:  # noqa: BLE001 - counted: a client error
                    self.error(e)
                self.ops += 2
                time.sleep(CLIENT_PAUSE_S)
        finally:
            self.stopped_at = time.monotonic()
            client.close()

    def warm_up(self):
        """Starts the thread and waits until it has done a few operations."""
        self.start()
        wait_until(lambda: self.ops >= 20, timeout=30, poll=0.01, what="client running")

    def finish(self) -> dict:
        self.stop_event.set()
        self.join(timeout=30)
        if self.is_alive():
            raise RuntimeError("client thread did not stop")
        seconds = (self.stopped_at or time.monotonic()) - (self.started_at or time.monotonic())
        return {"ops": self.ops, "ops_per_s": round(self.ops / seconds, 1) if seconds else 0,
                "errors": sum(self.errors.values()), "errors_by_type": dict(self.errors),
                "error_samples": self.error_samples, "bad_reads": self.bad_reads,
                "acked_writes": len(self.acked)}


def check_keys(host: str, port: int, by_slot, client: Client) -> dict:
    t0 = time.monotonic()
    loaded = verify(host, port, "k:", by_slot, value_of)
    written = verify(host, port, "w:", keys_by_slot("w:", client.acked), written_value)
    return {"loaded": loaded, "written": written,
            "keys_lost": loaded["missing"] + loaded["wrong"]
            + written["missing"] + written["wrong"],
            "verify_s": round(time.monotonic() - t0, 2)}


# ----- reference: a plain Redis cluster, moved by hand -------------------------------------------


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def pick_ports(count: int) -> list[int]:
    """`count` ports < 50000 free on 127.0.0.1 with their bus port (+10000) free too."""
    rng = random.Random(os.getpid() * 1_000_003 + time.monotonic_ns())
    chosen: list[int] = []
    for _ in range(PORT_PROBES_MAX):
        if len(chosen) == count:
            return chosen
        port = rng.randrange(REF_PORT_MIN, REF_PORT_MAX)
        if port in chosen:
            continue
        if port_free(port) and port_free(port + REF_BUS_OFFSET):
            chosen.append(port)
    raise RuntimeError("no free reference ports found")


class Reference:
    """4 plain redis-servers: a 3-primary cluster by redis-cli --cluster create, and a 4th."""

    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="refreshard")
        self.ports = pick_ports(SHARDS_AFTER)
        self.procs: list[subprocess.Popen] = []
        self.closed = False
        _cleanups.append(self.close)

    @property
    def entry(self) -> str:
        return f"127.0.0.1:{self.ports[0]}"

    def start(self):
        for i, port in enumerate(self.ports):
            node_dir = Path(self.root) / str(i)
            node_dir.mkdir()
            self.procs.append(subprocess.Popen(
                ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                 "--cluster-enabled", "yes", "--cluster-port", str(port + REF_BUS_OFFSET),
                 "--cluster-config-file", str(node_dir / "nodes.conf"),
                 "--cluster-node-timeout", str(NODE_TIMEOUT_MS), "--dir", str(node_dir),
                 "--save", "", "--appendonly", "no", "--daemonize", "no"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=open(node_dir / "stderr.log", "wb")))
        for proc, port in zip(self.procs, self.ports):
            wait_until(lambda p=port, pr=proc: pr.poll() is None and self.ping(p), timeout=10,
                       what=f"reference :{port}")
        self.cli(["--cluster", "create",
                  *[f"127.0.0.1:{p}" for p in self.ports[:SHARDS_BEFORE]],
                  "--cluster-replicas", "0", "--cluster-yes"], timeout=60)
        wait_until(lambda: all(self.state_ok(p) for p in self.ports[:SHARDS_BEFORE]),
                   timeout=60, poll=0.01, what="reference cluster_state:ok")

    @staticmethod
    def cli(args: list[str], timeout: float) -> subprocess.CompletedProcess:
        proc = subprocess.run(["redis-cli", *args], capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-20:])
            raise RuntimeError(f"redis-cli {' '.join(args[:2])} exited {proc.returncode}:\n{tail}")
        return proc

    @staticmethod
    def ping(port: int) -> bool:
        try:
            return redis.Redis(port=port, socket_timeout=1).ping()
        except redis.RedisError:
            return False

    @staticmethod
    def state_ok(port: int) -> bool:
        try:
            return redis.Redis(port=port, socket_timeout=1).cluster("info")["cluster_state"] == "ok"
        except redis.RedisError:
            return False

    def agreed(self) -> bool:
        """Every node knows all 4 and `redis-cli --cluster check` finds nothing to fix."""
        for port in self.ports:
            info = redis.Redis(port=port, socket_timeout=1).cluster("info")
            if int(info["cluster_known_nodes"]) != SHARDS_AFTER or info["cluster_state"] != "ok":
                return False
        check = subprocess.run(["redis-cli", "--cluster", "check", self.entry],
                               capture_output=True, text=True, timeout=30,
                               stdin=subprocess.DEVNULL)
        return check.returncode == 0

    def add_node(self) -> float:
        t0 = time.monotonic()
        self.cli(["--cluster", "add-node", f"127.0.0.1:{self.ports[-1]}", self.entry],
                 timeout=60)
        wait_until(self.agreed, timeout=60, poll=0.05, what="reference nodes agree")
        return time.monotonic() - t0

    def rebalance(self) -> tuple[float, str]:
        args = ["--cluster", "rebalance", self.entry, "--cluster-use-empty-masters"]
        if REF_PIPELINE:
            args += ["--cluster-pipeline", REF_PIPELINE]
        t0 = time.monotonic()
        proc = self.cli(args, timeout=RESHARD_TIMEOUT_S)
        return time.monotonic() - t0, proc.stdout

    def close(self):
        if self.closed:
            return
        self.closed = True
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        shutil.rmtree(self.root, ignore_errors=True)


def reference_trial(by_slot) -> dict:
    ref = Reference()
    try:
        ref.start()
        load_s = load("127.0.0.1", ref.ports[0], by_slot)
        add_node_s = ref.add_node()
        client = Client("127.0.0.1", ref.ports[0], KEYS, RESHARD_TIMEOUT_S + 60)
        client.warm_up()
        try:
            reshard_s, output = ref.rebalance()
        finally:
            seen = client.finish()
        moved = sum(int(m) for m in re.findall(r"Moving (\d+) slots from", output))
        shards = shards_serving("127.0.0.1", ref.ports[0])
        keys = check_keys("127.0.0.1", ref.ports[0], by_slot, client)
        return {"reshard_s": round(reshard_s, 3), "add_node_s": round(add_node_s, 3),
                "load_s": round(load_s, 2), "slots_moved": moved, "shards": shards,
                "client": seen, **keys}
    finally:
        ref.close()


# ----- Ferrocache ------------------------------------------------------------------------------


class NotAvailable(Exception):
    """The build does not offer ModifyReplicationGroupShardConfiguration (yet)."""

    def __init__(self, reason: str, create_s: float, load_s: float):
        super().__init__(reason)
        self.create_s, self.load_s = create_s, load_s


def not_supported(e: ClientError) -> bool:
    error = e.response.get("Error", {})
    message = str(error.get("Message", "")).lower()
    return error.get("Code") == "InvalidAction" or "not supported" in message \
        or "not valid for this web service" in message


def delete_group(ec, group_id: str):
    ec.delete_replication_group(ReplicationGroupId=group_id)

    def gone():
        try:
            ec.describe_replication_groups(ReplicationGroupId=group_id)
            return False
        except ec.exceptions.ReplicationGroupNotFoundFault:
            return True
    wait_until(gone, timeout=120, poll=0.1, what=f"{group_id} deleted")


def ferrocache_trial(ec, n: int, by_slot) -> dict:
    group_id = "reshard" if n == 0 else f"reshard-{n + 1}"
    t0 = time.monotonic()
    ec.create_replication_group(
        ReplicationGroupId=group_id, ReplicationGroupDescription="bench",
        NumNodeGroups=SHARDS_BEFORE, ReplicasPerNodeGroup=0, AutomaticFailoverEnabled=True,
        CacheNodeType="cache.r6g.large", Engine="redis")
    try:
        group = wait_group_available(ec, group_id, timeout=180, poll=POLL_S)
        create_s = time.monotonic() - t0
        host = group["ConfigurationEndpoint"]["Address"]
        port = int(group["ConfigurationEndpoint"]["Port"])
        load_s = load(host, port, by_slot)
        client = Client(host, port, KEYS, RESHARD_TIMEOUT_S + 60)
        client.warm_up()
        samples = []     # (seconds since the call, Status, NodeGroups, ProgressPercentage)
        try:
            t0 = time.monotonic()
            try:
                ec.modify_replication_group_shard_configuration(
                    ReplicationGroupId=group_id, NodeGroupCount=SHARDS_AFTER,
                    ApplyImmediately=True)
            except ClientError as e:
                if not_supported(e):
                    raise NotAvailable(f"{e.response['Error'].get('Code')}: "
                                       f"{e.response['Error'].get('Message')}",
                                       create_s, load_s) from e
                raise
            call_s = time.monotonic() - t0
            done = None
            for _ in range(int(RESHARD_TIMEOUT_S / POLL_S) + 1):
                group = ec.describe_replication_groups(
                    ReplicationGroupId=group_id)["ReplicationGroups"][0]
                elapsed = time.monotonic() - t0
                progress = (group.get("PendingModifiedValues", {}).get("Resharding", {})
                            .get("SlotMigration", {}).get("ProgressPercentage"))
                status = group["Status"]
                samples.append((round(elapsed, 3), status, len(group.get("NodeGroups", [])),
                                progress))
                if status == "available" and len(group.get("NodeGroups", [])) == SHARDS_AFTER:
                    done = elapsed
                    break
                if status in ("create-failed", "incompatible-network", "deleting"):
                    raise RuntimeError(f"group {group_id} went {status}")
                if elapsed >= RESHARD_TIMEOUT_S:
                    break
                time.sleep(POLL_S)
            if done is None:
                raise TimeoutError(f"{group_id} not available with {SHARDS_AFTER} shards within "
                                   f"{RESHARD_TIMEOUT_S:.0f}s (last: {samples[-1]})")
        finally:
            seen = client.finish()
        progress = [p for *_, p in samples if p is not None]
        shards = shards_serving(host, port)
        keys = check_keys(host, port, by_slot, client)
        statuses = list(dict.fromkeys(s for _, s, _, _ in samples))
        return {"reshard_s": round(done, 3), "call_s": round(call_s, 3),
                "create_s": round(create_s, 2), "load_s": round(load_s, 2),
                "progress_max": max(progress) if progress else None,
                "progress_samples": len(progress),
                "progress_rising": any(b > a for a, b in zip(progress, progress[1:])),
                "statuses": statuses, "slots": [g.get("Slots") for g in group["NodeGroups"]],
                "shards": shards, "client": seen, **keys}
    finally:
        delete_group(ec, group_id)


# ----- main ------------------------------------------------------------------------------------


def med(rows, key):
    return statistics.median(r[key] for r in rows) if rows else None


def fmt_client(c: dict) -> str:
    types = ", ".join(f"{k} {v}" for k, v in sorted(c["errors_by_type"].items()))
    return (f"client errors {c['errors']}{f' ({types})' if types else ''}, bad reads "
            f"{c['bad_reads']}, {c['ops']} ops")


def main() -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    atexit.register(cleanup_all)
    t0 = time.monotonic()
    by_slot = keys_by_slot("k:", range(KEYS))
    print(f"reshard bench: {KEYS} keys × {VALUE_BYTES} B, {SHARDS_BEFORE} → {SHARDS_AFTER} "
          f"shards, no replicas, {TRIALS} trial(s); keys hashed in "
          f"{time.monotonic() - t0:.1f} s; load average {os.getloadavg()[0]:.1f}", flush=True)
    results = {"keys": KEYS, "value_bytes": VALUE_BYTES, "trials": TRIALS,
               "shards": [SHARDS_BEFORE, SHARDS_AFTER], "replicas_per_shard": 0,
               "reference": [], "ferrocache": [], "ferrocache_available": True,
               "ferrocache_unavailable_reason": None}
    loads = []
    fc = Ferrocache(binary=os.environ["FERROCACHE_BIN"],
                    cidr=allocate_cidr(second_min=250, second_count=1))
    _cleanups.append(fc.close)
    fc.start()
    try:
        ec = fc.client()
        for n in range(TRIALS):
            loads.append(os.getloadavg()[0])
            ref = reference_trial(by_slot)
            results["reference"].append(ref)
            print(f"trial {n + 1} reference: rebalance {ref['reshard_s']:.2f} s (add-node "
                  f"{ref['add_node_s']:.2f} s, {ref['slots_moved']} slots moved), keys lost "
                  f"{ref['keys_lost']}, {fmt_client(ref['client'])}; keys loaded in "
                  f"{ref['load_s']:.1f} s", flush=True)
            if not results["ferrocache_available"]:
                continue
            try:
                fcr = ferrocache_trial(ec, n, by_slot)
            except NotAvailable as e:
                results["ferrocache_available"] = False
                results["ferrocache_unavailable_reason"] = str(e)
                results["ferrocache_before_call"] = {"create_s": round(e.create_s, 2),
                                                     "load_s": round(e.load_s, 2)}
                print(f"trial {n + 1} ferrocache: created in {e.create_s:.2f} s, loaded in "
                      f"{e.load_s:.1f} s, then: not available in this build ({e})", flush=True)
                continue
            results["ferrocache"].append(fcr)
            print(f"trial {n + 1} ferrocache: to available {fcr['reshard_s']:.2f} s (call "
                  f"{fcr['call_s'] * 1000:.0f} ms, statuses {'→'.join(fcr['statuses'])}), keys "
                  f"lost {fcr['keys_lost']}, {fmt_client(fcr['client'])}, ProgressPercentage max "
                  f"{fcr['progress_max']} ({fcr['progress_samples']} samples, rising "
                  f"{'yes' if fcr['progress_rising'] else 'no'}); keys loaded in "
                  f"{fcr['load_s']:.1f} s", flush=True)
    except Exception:
        print(fc.log_tail(), file=sys.stderr)
        raise
    finally:
        fc.close()
    summary(results, loads)
    print(json.dumps(results, indent=1, default=str))
    return 0


def summary(results: dict, loads: list[float]):
    ref, fcr = results["reference"], results["ferrocache"]
    load = max(loads) if loads else os.getloadavg()[0]
    print(f"\nbench/reshard.sh: {KEYS} keys, {SHARDS_BEFORE} → {SHARDS_AFTER} shards, "
          f"{TRIALS} trial(s) (median), load average ≤ {load:.1f}")
    r_s = med(ref, "reshard_s")
    r_all = statistics.median(r["reshard_s"] + r["add_node_s"] for r in ref)
    s = {"reference_s": r_s, "reference_with_add_node_s": round(r_all, 3),
         "reference_keys_lost": sum(r["keys_lost"] for r in ref),
         "reference_client_errors": sum(r["client"]["errors"] for r in ref),
         "reference_bad_reads": sum(r["client"]["bad_reads"] for r in ref)}
    if not results["ferrocache_available"]:
        print(f"| | redis-cli --cluster by hand |\n|---|---:|\n"
              f"| 3 → 4 shards: rebalance returned | {r_s:.2f} s |\n"
              f"| … with add-node | {r_all:.2f} s |\n"
              f"| keys lost | {s['reference_keys_lost']} |\n"
              f"| client errors / bad reads | {s['reference_client_errors']} / "
              f"{s['reference_bad_reads']} |")
        print("ferrocache: not available in this build")
        results["summary"] = s
        return
    f_s = med(fcr, "reshard_s")
    progress = [r["progress_max"] for r in fcr if r["progress_max"] is not None]
    s.update({"ferrocache_s": f_s, "ratio": round(f_s / r_s, 3),
              "ratio_with_add_node": round(f_s / r_all, 3),
              "ferrocache_keys_lost": sum(r["keys_lost"] for r in fcr),
              "ferrocache_client_errors": sum(r["client"]["errors"] for r in fcr),
              "ferrocache_bad_reads": sum(r["client"]["bad_reads"] for r in fcr),
              "progress_max": max(progress) if progress else None,
              "progress_rising": any(r["progress_rising"] for r in fcr)})
    s["goal_met"] = s["ratio"] <= 1.0 and s["ferrocache_keys_lost"] == 0
    results["summary"] = s
    print("| | Ferrocache | redis-cli --cluster by hand | ratio |")
    print("|---|---:|---:|---:|")
    print(f"| 3 → 4 shards → available (by hand: rebalance returned) | {f_s:.2f} s | "
          f"{r_s:.2f} s | {s['ratio']:.2f} |")
    print(f"| … by hand with add-node | | {r_all:.2f} s | {s['ratio_with_add_node']:.2f} |")
    print(f"| keys lost | {s['ferrocache_keys_lost']} | {s['reference_keys_lost']} | |")
    print(f"| client errors | {s['ferrocache_client_errors']} | "
          f"{s['reference_client_errors']} | |")
    print(f"| bad reads (missing/wrong value) | {s['ferrocache_bad_reads']} | "
          f"{s['reference_bad_reads']} | |")
    print(f"| max ProgressPercentage seen (rising) | {s['progress_max']} "
          f"({'yes' if s['progress_rising'] else 'no'}) | | |")
    print(f"goal (ratio ≤ 1.0, 0 keys lost): {'met' if s['goal_met'] else 'not met'}")


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        cleanup_all()
