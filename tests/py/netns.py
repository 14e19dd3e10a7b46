"""Test hosts on one machine: network namespaces on a bridge, made and removed by the tests.

`Rig` creates a Linux bridge in the root namespace (with an address of its own, so processes
there — Ferrocache, the test itself — reach every host) and one namespace per host, joined to
the bridge by a veth pair, each with one address of a /24 private to this rig. Every address a
test sends to is one assigned here. `cut(host)` takes the host's link down (a full partition:
it reaches nobody and nobody reaches it) and `heal(host)` brings it back. Every process started
with `run()` is stopped by its pid, and every namespace and link is deleted, by `close()`.

`EtcdCluster` runs one etcd member per host (Debian's etcd-server), a real three-member cluster.
Needs root and iproute2.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

# Rigs of this process so far: with the pid, each rig's names and /24 are its own.
_RIGS = [0]

_CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL("libc.so.6", use_errno=True)


def enter(host: "Host"):
    """Moves the calling thread into `host`'s network namespace (sockets it opens then live
    there); the rest of the process stays where it is."""
    fd = os.open(f"/var/run/netns/{host.name}", os.O_RDONLY)
    try:
        if _libc.setns(fd, _CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {host.name}")
    finally:
        os.close(fd)


def available() -> str | None:
    """Why rigs cannot be made here, or None when they can."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "iproute2 (ip) is not installed"
    return None


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


class Host:
    """One namespace: its name and its address."""

    def __init__(self, rig: "Rig", index: int):
        self.rig = rig
        self.name = f"{rig.tag}h{index}"
        self.address = f"{rig.subnet}.{10 + index}"
        self.link = f"{rig.tag}v{index}"

    def __repr__(self):
        return f"Host({self.name}, {self.address})"


class Rig:
    def __init__(self):
        _RIGS[0] += 1
        serial = (os.getpid() * 8 + _RIGS[0]) % 4000
        # Interface names are at most 15 bytes: "fc" + 4 digits + a suffix.
        self.tag = f"fc{serial:04d}"
        self.subnet = f"10.{200 + serial // 250}.{serial % 250}"
        self.bridge = f"{self.tag}br"
        self.hosts: list[Host] = []
        self.processes: list[subprocess.Popen] = []
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("addr", "add", f"{self.subnet}.1/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")

    @property
    def gateway_address(self) -> str:
        """The root namespace's address on the bridge."""
        return f"{self.subnet}.1"

    def add_host(self) -> Host:
        host = Host(self, len(self.hosts) + 1)
        self.hosts.append(host)
        _ip("netns", "add", host.name)
        _ip("link", "add", host.link, "type", "veth", "peer", "name", "eth0", "netns", host.name)
        _ip("link", "set", host.link, "master", self.bridge)
        _ip("link", "set", host.link, "up")
        _ip("-n", host.name, "addr", "add", f"{host.address}/24", "dev", "eth0")
        _ip("-n", host.name, "link", "set", "eth0", "up")
        _ip("-n", host.name, "link", "set", "lo", "up")
        _ip("-n", host.name, "route", "add", "default", "via", self.gateway_address)
        return host

    def run(self, host: Host, argv: list[str], log_path: str) -> subprocess.Popen:
        """Start `argv` inside `host`; stopped by its pid at close()."""
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(["ip", "netns", "exec", host.name, *argv],
                                    stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        self.processes.append(proc)
        return proc

    def cut(self, host: Host):
        """Partition `host` from everyone."""
        _ip("-n", host.name, "link", "set", "eth0", "down")

    def heal(self, host: Host):
        _ip("-n", host.name, "link", "set", "eth0", "up")
        _ip("-n", host.name, "route", "replace", "default", "via", self.gateway_address)

    def close(self):
        for proc in self.processes:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
        for host in self.hosts:
            # The veth pair goes with its root end at once; a namespace whose last reference
            # (a socket still closing) lingers would keep it otherwise.
            _ip("link", "del", host.link, check=False)
            _ip("netns", "del", host.name, check=False)
        _ip("link", "del", self.bridge, check=False)


class EtcdCluster:
    """One etcd member per host of `rig`, started together as one cluster."""

    def __init__(self, rig: Rig, hosts: list[Host]):
        self.rig, self.hosts = rig, hosts
        self.root = tempfile.mkdtemp(prefix="fcetcdc")
        self.members = {h.name: None for h in hosts}
        self.initial = ",".join(f"{h.name}=http://{h.address}:2380" for h in hosts)
        for host in hosts:
            self.start(host, new=True)
        deadline = time.monotonic() + 30
        while self.leader() is None:
            if time.monotonic() > deadline:
                raise RuntimeError("the etcd cluster elected no leader: " + self.logs())
            time.sleep(0.1)

    def start(self, host: Host, new: bool = False):
        """Start (or start again) the member on `host`."""
        argv = ["etcd", f"--name={host.name}", f"--data-dir={self.root}/{host.name}",
                f"--listen-client-urls=http://{host.address}:2379",
                f"--advertise-client-urls=http://{host.address}:2379",
                f"--listen-peer-urls=http://{host.address}:2380",
                f"--initial-advertise-peer-urls=http://{host.address}:2380",
                f"--initial-cluster={self.initial}", "--initial-cluster-token=ferrocache-test",
                "--max-txn-ops=10000"]
        if new:
            argv.append("--initial-cluster-state=new")
        self.members[host.name] = self.rig.run(host, argv, f"{self.root}/{host.name}.log")

    def kill(self, host: Host):
        proc = self.members[host.name]
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()

    def store_url(self, prefix: str) -> str:
        return "etcd://" + ",".join(f"{h.address}:2379" for h in self.hosts) + f"/{prefix}"

    def status(self, host: Host) -> dict | None:
        """The member's own status (`/v3/maintenance/status`), None when it does not answer."""
        try:
            request = urllib.request.Request(f"http://{host.address}:2379/v3/maintenance/status",
                                             data=b"{}", method="POST")
            with urllib.request.urlopen(request, timeout=1) as answer:
                return json.load(answer)
        except (OSError, ValueError):
            return None

    def leader(self) -> Host | None:
        """The host whose member leads the cluster, as the members that answer say."""
        for host in self.hosts:
            status = self.status(host)
            if status and status.get("leader") and status["leader"] == \
                    status.get("header", {}).get("member_id"):
                return host
        return None

    def logs(self) -> str:
        out = []
        for host in self.hosts:
            try:
                out.append(host.name + ":\n" + open(f"{self.root}/{host.name}.log").read()[-1500:])
            except OSError:
                pass
        return "\n".join(out)

    def close(self):
        for host in self.hosts:
            self.kill(host)
        shutil.rmtree(self.root, ignore_errors=True)


def reachable(address: str, port: int, timeout: float = 0.5) -> bool:
    try:
        socket.create_connection((address, port), timeout).close()
        return True
    except OSError:
        return False
