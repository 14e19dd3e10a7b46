"""The data path: what a client sees of how its connection reaches the node, on whichever path
this run uses (root: the kernel path; FERROCACHE_DATA_PATH=router: the router), and the
fallback to the router where the kernel path cannot run."""

import os
import shutil
import signal
import subprocess
import tempfile
import time

import redis

from harness import (READY_LINE, REDIS_PORT, allocate_cidr, default_binary, free_port,
                     wait_cluster_available)

# Bound on a start-up as another user (it starts no node).
START_TIMEOUT_S = 60


# Goal: on the kernel path the node sees the client itself (CLIENT LIST's addr is the client's
# own address and port) while the client still sees the endpoint as its peer; on the router
# path the node sees the router's side (its Unix socket). Method: a one-node cache cluster,
# redis-py through its endpoint, CLIENT LIST and getpeername on the same connection.
def test_client_list_shows_who_connected(fc, ec):
    ec.create_cache_cluster(CacheClusterId="dp-solo", CacheNodeType="cache.t3.micro",
                            Engine="redis", NumCacheNodes=1)
    node = wait_cluster_available(ec, "dp-solo")["CacheNodes"][0]["Endpoint"]
    client = redis.Redis(host=node["Address"], port=node["Port"], socket_timeout=10)
    client.ping()
    connection = client.connection_pool.get_connection()
    try:
        own = "%s:%d" % connection._sock.getsockname()[:2]
        assert connection._sock.getpeername()[:2] == (node["Address"], REDIS_PORT)
    finally:
        client.connection_pool.release(connection)
    normal = [c for c in client.client_list() if c["user"] == "default"]
    if fc.data_path == "kernel":
        assert [c["addr"] for c in normal] == [own], normal
    else:
        assert len(normal) == 1 and normal[0]["addr"].startswith("/"), normal


def start_unprivileged(extra: list[str]) -> tuple[subprocess.Popen, str, list[str]]:
    """`ferrocache up` without privileges (as user nobody when we are root) on a fresh
    world-writable data directory; returns the process, its directory and the stdout lines up
    to `Ready.` (or to its exit)."""
    root = tempfile.mkdtemp(prefix="fcnobody")
    os.chmod(root, 0o777)
    drop = (["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"]
            if os.geteuid() == 0 else [])
    proc = subprocess.Popen(
        drop + [default_binary(), "up", "--data-dir", os.path.join(root, "data"),
         "--listen", f"127.0.0.1:{free_port()}", "--endpoint-cidr", allocate_cidr()] + extra,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    deadline = time.monotonic() + START_TIMEOUT_S
    for line in proc.stdout:
        lines.append(line.rstrip("\n"))
        if line.strip() == READY_LINE or time.monotonic() > deadline:
            break
    return proc, root, lines


def stop(proc: subprocess.Popen, root: str):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    shutil.rmtree(root, ignore_errors=True)


# Goal: where the kernel path cannot run (not root), `ferrocache up` serves every endpoint with
# the router and says why in its banner; `--data-path kernel` refuses to start, saying why.
# Method: the binary started as user nobody (setpriv), with each option.
def test_unprivileged_start_falls_back_to_the_router():
    proc, root, lines = start_unprivileged([])
    try:
        assert READY_LINE in lines, lines
        banner = [l for l in lines if l.startswith("Data path: ")]
        assert banner and banner[0].startswith(
            "Data path: router (the kernel path cannot run here: not running as root"), lines
    finally:
        stop(proc, root)
    proc, root, lines = start_unprivileged(["--data-path", "kernel"])
    try:
        assert proc.wait(timeout=START_TIMEOUT_S) != 0
        assert "--data-path kernel cannot run here: not running as root" in proc.stderr.read()
    finally:
        stop(proc, root)
