"""Start and stop a real `ferrocache up` for the Python tests (and bench/), like the Rust testkit.

Each instance gets its own temporary --data-dir, a free 127.0.0.1 port for --listen, and a /24
of loopback addresses for --endpoint-cidr derived from the pid and a counter (the Python range
is 127.150.0.0-127.199.255.0; the Rust testkit uses 127.100-149, the JS tests 127.200-209,
bench/ 127.250), so pytest-xdist workers and other suites never collide. Teardown stops
ferrocache by its pid (SIGTERM, then SIGKILL) and kills every redis-server whose pid is in
<data-dir>/nodes/*/redis.pid. Nothing is ever signalled by name.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
READY_LINE = "Ready."

# The Python range of second octets for endpoint CIDRs (see the module doc).
CIDR_SECOND_OCTET_MIN = 150
CIDR_SECOND_OCTET_COUNT = 50
CIDR_PROBES_MAX = 64
SLOTS_PER_PID = 64
REDIS_PORT = 6379

_instances_started = itertools.count()


def default_binary() -> str:
    """FERROCACHE_BIN, else <repo>/target/debug/ferrocache (or $CARGO_TARGET_DIR/debug)."""
    if os.environ.get("FERROCACHE_BIN"):
        return os.environ["FERROCACHE_BIN"]
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO_ROOT / "target"))
    if not target.is_absolute():
        target = REPO_ROOT / target
    return str(target / "debug" / "ferrocache")


def free_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cidr_is_free(second: int, third: int) -> bool:
    for host in range(0, 5):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((f"127.{second}.{third}.{host}", REDIS_PORT))
            except OSError:
                return False
    return True


def allocate_cidr(second_min: int = CIDR_SECOND_OCTET_MIN,
                  second_count: int = CIDR_SECOND_OCTET_COUNT) -> str:
    """A /24 in 127.<second_min..second_min+count-1>.x.0 that no other instance is using."""
    slots = second_count * 256
    pid = os.getpid()
    for _ in range(CIDR_PROBES_MAX):
        slot = (pid * SLOTS_PER_PID + next(_instances_started)) % slots
        second, third = second_min + slot // 256, slot % 256
        if _cidr_is_free(second, third):
            return f"127.{second}.{third}.0/24"
    raise RuntimeError("no free endpoint CIDR found")


def pid_alive(pid: int) -> bool:
    """True when pid is a live process (zombies count as dead)."""
    if pid <= 1:
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return not stat.rsplit(")", 1)[-1].strip().startswith("Z")


def is_redis_server(pid: int) -> bool:
    if not pid_alive(pid):
        return False
    try:
        return b"redis" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def node_pids(data_dir: str | Path) -> dict[str, int]:
    """{cache cluster id: pid} from <data_dir>/nodes/*/redis.pid."""
    result = {}
    nodes = Path(data_dir) / "nodes"
    if not nodes.is_dir():
        return result
    for entry in sorted(nodes.iterdir()):
        try:
            pid = int((entry / "redis.pid").read_text().strip())
        except (OSError, ValueError):
            continue
        if pid > 1:
            result[entry.name] = pid
    return result


def hosts_table(binary: str, url: str, *more: str, prefix: list[str] | None = None
                ) -> dict[str, dict[str, str]]:
    """`ferrocache hosts --store url` (with `more` arguments, run under `prefix`, e.g. `ip netns
    exec H`): each host's cells by heading, cut where the headings start (an empty cell stays
    empty)."""
    out = subprocess.run([*(prefix or []), binary, "hosts", "--store", url, *more],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    header, *lines = out.splitlines()
    starts = [m.start() for m in re.finditer(r"\S+(?: \S+)*", header)]
    bounds = list(zip(starts, starts[1:] + [None]))
    names = [header[a:b].strip() for a, b in bounds]
    rows = {}
    for line in lines:
        cells = [line[a:b].strip() for a, b in bounds]
        rows[cells[0]] = dict(zip(names, cells))
    return rows


def live_node_pids(data_dir: str | Path) -> list[int]:
    """Pids of the redis-server processes recorded under data_dir that still run."""
    return [pid for pid in node_pids(data_dir).values() if is_redis_server(pid)]


def signal_all(pids: list[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except OSError:
            pass


def kill_leftover_nodes(data_dir: str | Path, grace: float = 5.0) -> list[int]:
    """SIGTERM, then SIGKILL, every redis-server recorded under data_dir that still runs."""
    leftovers = live_node_pids(data_dir)
    signal_all(leftovers, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for pid in leftovers:
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
    signal_all([pid for pid in leftovers if pid_alive(pid)], signal.SIGKILL)
    return leftovers


def kill_nodes_now(data_dir: str | Path) -> list[int]:
    """SIGKILL every redis-server recorded under data_dir (a host dying: nothing saved, no
    goodbye to replicas)."""
    pids = live_node_pids(data_dir)
    signal_all(pids, signal.SIGKILL)
    return pids


def redis_processes_under(root: str | Path) -> list[int]:
    """Pids of live redis-server processes whose working directory is inside `root`.

    redis-server chdirs to its `dir`, i.e. its node directory under the data dir, so this
    finds node processes even when no pid file names them (a leak detector, and a safety net
    at teardown). Only processes running as this user with a readable /proc entry are seen."""
    root = os.path.realpath(root)
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd")
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"redis" in cmdline and (cwd == root or cwd.startswith(root + os.sep)) \
                and pid_alive(pid):
            found.append(pid)
    return sorted(found)


def wait_until(fn, timeout: float = 60.0, poll: float = 0.05, what: str = "condition"):
    """Call fn every `poll` seconds until it returns a truthy value; return that value."""
    deadline = time.monotonic() + timeout
    last_error = None
    while True:
        try:
            value = fn()
            if value:
                return value
        except Exception as e:  # noqa: BLE001 - polled calls may fail while things settle
            last_error = e
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what} not met within {timeout}s (last error: {last_error!r})")
        time.sleep(poll)


# The data path every instance is started with (`--data-path`): `auto` (the kernel path where
# it can run: root), or `router`/`kernel` to run a suite on one path (scripts/test.sh runs the
# data-path-sensitive suites again with FERROCACHE_DATA_PATH=router).
DATA_PATH = os.environ.get("FERROCACHE_DATA_PATH", "auto")
# FERROCACHE_ENGINE_TLS=1 starts every instance with `--engine-tls` (nodes serve TLS
# themselves; the kernel path sends TLS clients of `required` endpoints straight to them).
ENGINE_TLS = os.environ.get("FERROCACHE_ENGINE_TLS") == "1"
# FERROCACHE_STORE=etcd keeps every instance's state in etcd (`--store etcd://…/<prefix>`, a
# prefix of its own on one etcd member this test process starts) instead of the embedded file.
STORE = os.environ.get("FERROCACHE_STORE", "embedded")


class EtcdMember:
    """A real single-member etcd on free loopback ports, for the instances of this process;
    stopped (by its pid) when the process exits."""

    _shared: "EtcdMember | None" = None
    _lock = threading.Lock()

    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="fcetcd")
        self.client_port, self.peer_port = free_port(), free_port()
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self):
        """Start the member (again: same ports and data)."""
        client = f"http://127.0.0.1:{self.client_port}"
        peer = f"http://127.0.0.1:{self.peer_port}"
        log_path = os.path.join(self.root, "etcd.log")
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen(
                ["etcd", "--name=test", f"--data-dir={self.root}/data",
                 f"--listen-client-urls={client}", f"--advertise-client-urls={client}",
                 f"--listen-peer-urls={peer}", f"--initial-advertise-peer-urls={peer}",
                 f"--initial-cluster=test={peer}", "--max-txn-ops=10000"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.client_port), 0.2).close()
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("etcd did not start: " + open(log_path).read()[-2000:])
                time.sleep(0.05)

    def kill(self):
        """SIGKILL the member (its data stays, for start())."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    @classmethod
    def shared(cls) -> "EtcdMember":
        with cls._lock:
            if cls._shared is None:
                cls._shared = EtcdMember()
                import atexit
                atexit.register(cls._shared.stop)
            return cls._shared

    def stop(self):
        """Kill the member and remove its data."""
        self.kill()
        shutil.rmtree(self.root, ignore_errors=True)

    @staticmethod
    def version() -> str:
        out = subprocess.run(["etcd", "--version"], capture_output=True, text=True).stdout
        return out.split()[2] if out.startswith("etcd Version:") else "?"

    def store_url(self, prefix: str) -> str:
        return f"etcd://127.0.0.1:{self.client_port}/{prefix}"


class Ferrocache:
    """One `ferrocache up` on private resources. Use as a context manager or call close()."""

    def __init__(self, binary: str | None = None, data_dir: str | None = None,
                 cidr: str | None = None, redis_server: str | None = None,
                 extra_args: list[str] | None = None, ready_timeout: float = 60.0,
                 stop_timeout: float = 30.0, listen: str | None = None,
                 prefix: list[str] | None = None):
        """`listen`: the API's address (default a free port on 127.0.0.1); `prefix`: a command
        the binary runs under, e.g. `ip netns exec <host>` (tests/py/netns.py)."""
        self.binary = binary or default_binary()
        if not os.path.isfile(self.binary):
            raise FileNotFoundError(
                f"ferrocache binary not found at {self.binary}: build it with "
                "`cargo build -p ferrocache` or set FERROCACHE_BIN")
        self.root = tempfile.mkdtemp(prefix="fcpy")
        self.data_dir = data_dir or os.path.join(self.root, "data")
        self.port = int(listen.rsplit(":", 1)[1]) if listen else free_port()
        self.listen = listen or f"127.0.0.1:{self.port}"
        self.prefix = prefix or []
        self.cidr = cidr or allocate_cidr()
        self.redis_server = redis_server
        self.extra_args = extra_args or []
        self.ready_timeout = ready_timeout
        self.stop_timeout = stop_timeout
        self.proc: subprocess.Popen | None = None
        self.lines: list[str] = []
        self.runs = 0
        # With FERROCACHE_STORE=etcd: this instance's store, kept across its restarts.
        self.store_url = (EtcdMember.shared().store_url(os.path.basename(self.root))
                          if STORE == "etcd" else None)
        # Every 5xx or HTML response a boto3 client of this instance saw (see client()).
        self.server_errors: list[str] = []
        self._ready = threading.Event()

    # ----- lifecycle -------------------------------------------------------------------------

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.close()

    def start(self, wait: bool = True) -> "Ferrocache":
        """Spawn `ferrocache up` and (unless `wait` is false) wait for `Ready.`."""
        assert self.proc is None, "already running"
        self.runs += 1
        self._ready = threading.Event()
        args = [*self.prefix, self.binary, "up", "--data-dir", self.data_dir, "--listen", self.listen,
                "--endpoint-cidr", self.cidr]
        if self.redis_server:
            args += ["--redis-server", self.redis_server]
        if not any(a.startswith("--data-path") for a in self.extra_args):
            args += ["--data-path", DATA_PATH]
        if ENGINE_TLS and "--engine-tls" not in self.extra_args:
            args.append("--engine-tls")
        if self.store_url and not any(a.startswith("--store") for a in self.extra_args):
            args += ["--store", self.store_url]
        args += self.extra_args
        stderr = open(self.stderr_path(), "wb")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=stderr)
        stderr.close()
        threading.Thread(target=self._read_stdout, args=(self.proc, self._ready),
                         daemon=True).start()
        if not wait:
            return self
        deadline = time.monotonic() + self.ready_timeout
        while not self._ready.wait(0.02):
            code = self.proc.poll()
            if code is not None:
                time.sleep(0.05)
                self.proc = None
                raise RuntimeError(f"ferrocache exited with {code} before Ready.\n"
                                   + self.log_tail())
            if time.monotonic() >= deadline:
                self.proc.kill()
                self.proc.wait()
                self.proc = None
                raise RuntimeError(f"ferrocache not Ready within {self.ready_timeout}s\n"
                                   + self.log_tail())
        return self

    @property
    def data_path(self) -> str:
        """`kernel` or `router`: the data path the banner says plaintext endpoints use."""
        for line in reversed(self.lines):
            if line.startswith("Data path: "):
                return line.split()[2]
        raise RuntimeError("no 'Data path:' line in the banner")

    @property
    def engine_tls(self) -> bool:
        """Whether TLS-required endpoints reach the nodes' own TLS (kernel path, --engine-tls):
        a plaintext client is then closed by the failed handshake, without the router's
        `ERR SSL/TLS connection required`."""
        return "--engine-tls" in (self.proc.args if self.proc else []) and \
            self.data_path == "kernel"

    def _read_stdout(self, proc: subprocess.Popen, ready: threading.Event):
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.lines.append(line)
            if line.strip() == READY_LINE:
                ready.set()

    def stop(self) -> int:
        """SIGTERM ferrocache and wait; returns its exit code (SIGKILL after stop_timeout)."""
        proc, self.proc = self.proc, None
        if proc is None:
            raise RuntimeError("ferrocache is not running")
        if proc.poll() is not None:
            return proc.returncode
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=self.stop_timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise RuntimeError(f"ferrocache did not exit within {self.stop_timeout}s of SIGTERM")

    def kill9(self):
        """SIGKILL ferrocache alone; its redis-server nodes keep running."""
        proc, self.proc = self.proc, None
        if proc is None:
            raise RuntimeError("ferrocache is not running")
        proc.kill()
        proc.wait()

    def restart(self):
        """Stop (SIGTERM) if running, then start again on the same data dir, port and CIDR."""
        if self.proc is not None:
            self.stop()
        self.start()

    def close(self):
        """Stop ferrocache, kill leftover nodes by pid, remove the temp dir."""
        try:
            if self.proc is not None:
                self.stop()
        finally:
            kill_leftover_nodes(self.data_dir)
            # Safety net: node processes no pid file names (e.g. a crash between spawn and
            # pid file) are found by their working directory inside our temp dir.
            leftovers = set(redis_processes_under(self.root))
            leftovers |= set(redis_processes_under(self.data_dir))
            for pid in leftovers:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            if os.environ.get("FERROCACHE_TEST_KEEP", "0") not in ("", "0"):
                print(f"kept {self.root}")
            else:
                shutil.rmtree(self.root, ignore_errors=True)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    # ----- diagnostics -----------------------------------------------------------------------

    def stderr_path(self, run: int | None = None) -> str:
        return os.path.join(self.root, f"ferrocache-{run or self.runs}.stderr.log")

    def log_tail(self, n: int = 60) -> str:
        out = [f"[stdout] {l}" for l in self.lines[-20:]]
        try:
            with open(self.stderr_path(), "r", errors="replace") as f:
                out += [f"[stderr] {l.rstrip()}" for l in f.readlines()[-n:]]
        except OSError:
            pass
        return "\n".join(out)

    def ca_file(self) -> str:
        """The CA that issues the endpoints' TLS certificates (`ferrocache ca path`)."""
        out = subprocess.run([self.binary, "ca", "path", "--data-dir", self.data_dir],
                             capture_output=True, text=True, check=True, timeout=30)
        return out.stdout.strip().splitlines()[-1]

    def tls_redis(self, host: str, port: int = REDIS_PORT, **kwargs):
        """redis-py over TLS to an endpoint, as the runbooks connect (ssl=True,
        ssl_cert_reqs='required'), trusting this instance's CA."""
        import redis
        kwargs.setdefault("socket_timeout", 10)
        return redis.Redis(host=host, port=port, ssl=True, ssl_cert_reqs="required",
                           ssl_ca_certs=self.ca_file(), **kwargs)

    def tls_raw_reply(self, host: str, line: str, port: int = REDIS_PORT) -> str:
        """Sends one inline command on a fresh TLS connection; returns the first reply line."""
        import socket
        import ssl
        context = ssl.create_default_context(cafile=self.ca_file())
        with socket.create_connection((host, port), timeout=10) as raw:
            with context.wrap_socket(raw, server_hostname=host) as sock:
                sock.sendall(line.encode() + b"\r\n")
                return sock.makefile("rb").readline().decode().rstrip("\r\n")

    def node_pids(self) -> dict[str, int]:
        return node_pids(self.data_dir)

    # ----- the control plane's identity --------------------------------------------------------

    def control_identity(self) -> dict[str, str]:
        """The control plane's internal ACL user, password and secret command names, as stored
        in <data-dir>/control-identity (see docs/restricted-commands.md)."""
        text = (Path(self.data_dir) / "control-identity").read_text()
        pairs = (line.split(" ", 1) for line in text.splitlines()
                 if line and not line.startswith("#"))
        return {key: value for key, value in pairs}

    def admin_redis(self, host: str, port: int = REDIS_PORT, tls: bool = False, **kwargs):
        """A redis-py client logged in as the control plane through an endpoint (over TLS for
        a group that requires it), for tests that must run a restricted command (CONFIG,
        BGSAVE) the way the control plane does."""
        import redis

        identity = self.control_identity()
        if tls:
            return self.tls_redis(host, port=port, username=identity["user"],
                                  password=identity["password"], **kwargs)
        return redis.Redis(host=host, port=port, username=identity["user"],
                           password=identity["password"], **kwargs)

    def admin_command(self, host: str, command: str, *args, port: int = REDIS_PORT,
                      tls: bool = False):
        """Runs restricted `command` (e.g. "CONFIG", "BGSAVE") under its secret name."""
        names = self.control_identity()
        client = self.admin_redis(host, port=port, tls=tls, socket_timeout=30)
        try:
            return client.execute_command(names[command.lower()], *args)
        finally:
            client.close()

    def config_get(self, host: str, name: str, port: int = REDIS_PORT,
                   tls: bool = False) -> str | None:
        """CONFIG GET <name> on the node behind an endpoint, as the control plane sends it."""
        reply = self.admin_command(host, "CONFIG", "GET", name, port=port, tls=tls)
        if not isinstance(reply, dict):
            reply = dict(zip(reply[::2], reply[1::2]))
        value = reply.get(name.encode())
        return None if value is None else value.decode()

    # ----- clients ---------------------------------------------------------------------------

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.listen}"

    def env(self) -> dict[str, str]:
        """The process environment plus what the aws CLI needs; no user config leaks in."""
        env = dict(os.environ)
        for key in list(env):
            if key.startswith("AWS_"):
                del env[key]
        env.update({
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            "AWS_PAGER": "",
        })
        return env

    def client(self, retries: int = 1):
        """A boto3 ElastiCache client; by default no retries, so a 5xx is seen at once."""
        import boto3
        from botocore.config import Config

        client = boto3.client(
            "elasticache", endpoint_url=self.endpoint_url, region_name=REGION,
            aws_access_key_id="test", aws_secret_access_key="test",
            config=Config(retries={"total_max_attempts": retries, "mode": "standard"},
                          connect_timeout=10, read_timeout=60))
        client.meta.events.register("after-call.elasticache", self._record_server_error)
        return client

    def _record_server_error(self, http_response=None, model=None, **_kwargs):
        """botocore hook: remember every 5xx or HTML answer (the fixture fails on any)."""
        if http_response is None:
            return
        body = (http_response.content or b"")[:200].lstrip().lower()
        if http_response.status_code >= 500 or body.startswith((b"<html", b"<!doctype")):
            self.server_errors.append(
                f"{model.name if model else '?'}: HTTP {http_response.status_code} "
                f"{(http_response.content or b'')[:300]!r}")

    def aws(self, *args: str, timeout: float = 900, check: bool = True):
        """Run `aws <args>` with this instance's environment; returns CompletedProcess."""
        proc = subprocess.run(["aws", *args], env=self.env(), capture_output=True, text=True,
                              timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} exited {proc.returncode}\n"
                                 f"stdout: {proc.stdout}\nstderr: {proc.stderr}")
        return proc


def redis_cli(host: str, *args: str, port: int | None = None, timeout: float = 30):
    """Run redis-cli -h host [-p port] args; returns CompletedProcess (text)."""
    cmd = ["redis-cli", "-h", host]
    if port is not None:
        cmd += ["-p", str(port)]
    return subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=timeout)


def wait_group_available(client, group_id: str, timeout: float = 120.0, poll: float = 0.05):
    """Poll DescribeReplicationGroups until the group is `available`; return it."""
    def check():
        groups = client.describe_replication_groups(ReplicationGroupId=group_id)
        group = groups["ReplicationGroups"][0]
        if group["Status"] == "create-failed":
            raise AssertionError(f"group {group_id} failed: {group}")
        return group if group["Status"] == "available" else None
    return wait_until(check, timeout=timeout, poll=poll, what=f"{group_id} available")


def wait_cluster_available(client, cluster_id: str, timeout: float = 120.0,
                           poll: float = 0.05):
    """Poll DescribeCacheClusters until the cluster is `available`; return it."""
    def check():
        out = client.describe_cache_clusters(CacheClusterId=cluster_id, ShowCacheNodeInfo=True)
        cluster = out["CacheClusters"][0]
        return cluster if cluster["CacheClusterStatus"] == "available" else None
    return wait_until(check, timeout=timeout, poll=poll, what=f"{cluster_id} available")


def error_code(excinfo) -> tuple[str, int]:
    """(Error.Code, HTTP status) of a botocore ClientError."""
    response = excinfo.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def wait_for_client_error(fn, timeout: float = 60.0, poll: float = 0.1, what: str = "error"):
    """Call fn until it raises botocore's ClientError; return that error (e.g. NotFound)."""
    from botocore.exceptions import ClientError

    deadline = time.monotonic() + timeout
    while True:
        try:
            fn()
        except ClientError as e:
            return e
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what}: still no error after {timeout}s")
        time.sleep(poll)


def client_error_code(error) -> tuple[str, int]:
    """(Error.Code, HTTP status) of a ClientError instance."""
    return error.response["Error"]["Code"], error.response["ResponseMetadata"]["HTTPStatusCode"]
