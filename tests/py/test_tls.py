"""Encryption in transit as the runbooks use it: `redis-cli -h <endpoint> -p 6379 --tls`,
redis-py with `ssl=True, ssl_cert_reqs='required'` (hostname checked), ioredis-style `tls: {}`
through node's tls module; preferred mode taking TLS and plaintext on one port, required mode
closing plaintext, a TLS 1.0 client refused by the handshake, a garbage handshake harming no
other client, and `ferrocache ca trust` for real when running as root.

Parallel tests trust the CA through `--cacert` / `ssl_ca_certs` / SSL_CERT_FILE (the CA path
comes from `ferrocache ca path`, the command the docs give); only the one `ca trust` test
touches the system trust store."""

import os
import shutil
import socket
import ssl
import subprocess

import pytest
import redis

from harness import REDIS_PORT, wait_group_available, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))


def ca_path(fc) -> str:
    """`ferrocache ca path --data-dir D`: the CA file is the last line printed."""
    out = subprocess.run([fc.binary, "ca", "path", "--data-dir", fc.data_dir],
                         capture_output=True, text=True, check=True, timeout=30)
    path = out.stdout.strip().splitlines()[-1]
    assert os.path.isfile(path), out.stdout
    return path


def create_tls_group(ec, group_id, mode=None, replicas=1):
    args = dict(ReplicationGroupId=group_id, ReplicationGroupDescription="tls",
                NumCacheClusters=1 + replicas, TransitEncryptionEnabled=True)
    if mode:
        args["TransitEncryptionMode"] = mode
    ec.create_replication_group(**args)
    group = wait_group_available(ec, group_id)
    assert group["TransitEncryptionEnabled"] is True
    return group


def endpoints(group):
    """(primary, reader, [node endpoints]) addresses of a cluster-mode-disabled group."""
    node_group = group["NodeGroups"][0]
    nodes = [m["ReadEndpoint"]["Address"] for m in node_group["NodeGroupMembers"]]
    return (node_group["PrimaryEndpoint"]["Address"], node_group["ReaderEndpoint"]["Address"],
            nodes)


def redis_cli(*args, timeout=30):
    return subprocess.run(["redis-cli", *args], capture_output=True, text=True, timeout=timeout)


def tls_client(host, cafile, **kwargs):
    """redis-py as the runbooks write it, trusting our CA by file."""
    return redis.Redis(host=host, port=REDIS_PORT, ssl=True, ssl_cert_reqs="required",
                       ssl_ca_certs=cafile, socket_timeout=10, **kwargs)


def reply_until_closed(host, payload: bytes) -> bytes:
    """Sends `payload` and returns everything the server sends until it closes (a reset counts
    as closed); fails if the server keeps the connection open."""
    got = b""
    with socket.create_connection((host, REDIS_PORT), timeout=10) as s:
        s.sendall(payload)
        try:
            while chunk := s.recv(4096):
                got += chunk
        except ConnectionResetError:
            pass
    return got


REFUSED_REPLY = b"-ERR SSL/TLS connection required\r\n"


def plaintext_refused(host, payload: bytes) -> bool:
    """True when the server answers plaintext with the one error the connectivity runbook
    quotes ("SSL/TLS connection required") and closes the connection."""
    return reply_until_closed(host, payload) == REFUSED_REPLY


def plaintext_refused_by(fc, host, payload: bytes) -> bool:
    """True when the endpoint refuses plaintext as its data path does: the router answers with
    the runbook's error; the nodes' own TLS (kernel path with --engine-tls) closes the
    connection after the failed handshake (at most a TLS alert), without a Redis reply."""
    if fc.engine_tls:
        return closed_with_tls_alert(host, payload)
    return plaintext_refused(host, payload)


def closed_with_tls_alert(host, payload: bytes) -> bool:
    """True when the server closes the connection after at most a TLS alert record (content
    type 21): a refused handshake, never a Redis reply."""
    got = reply_until_closed(host, payload)
    return got == b"" or got[0] == 0x15


# Goal: the runbooks' connection lines work verbatim against every endpoint of a TLS group
# (primary, reader, each node), with the certificate verified, hostname (IP) included.
# Method: redis-cli --tls --cacert (the CA from `ferrocache ca path`), redis-py ssl=True
# ssl_cert_reqs='required', SET through the primary, GET through the reader and the nodes.
def test_runbook_forms_verify_every_endpoint(fc, ec):
    group = create_tls_group(ec, "tls-req")
    assert group["TransitEncryptionMode"] == "required"
    primary, reader, nodes = endpoints(group)
    cafile = ca_path(fc)

    out = redis_cli("-h", primary, "-p", "6379", "--tls", "--cacert", cafile, "PING")
    assert out.stdout.strip() == "PONG", out
    out = redis_cli("-h", primary, "-p", "6379", "--tls", "--cacert", cafile,
                    "SET", "testkey", "Hello from Kubernetes")
    assert out.stdout.strip() == "OK", out

    for host in [primary, reader, *nodes]:
        client = tls_client(host, cafile)
        wait_until(lambda c=client: c.get("testkey") == b"Hello from Kubernetes",
                   what=f"the key through {host}")
        client.close()

    # The same client without our CA refuses the certificate: verification is real.
    with pytest.raises(redis.exceptions.ConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
        redis.Redis(host=primary, port=REDIS_PORT, ssl=True, ssl_cert_reqs="required",
                    socket_timeout=10).ping()


# Goal: required mode refuses plaintext: the client reads "ERR SSL/TLS connection required"
# (the connectivity runbook's symptom) and the connection closes; redis-cli without --tls
# fails with that text. Method: raw socket PING and redis-cli; a TLS client still works after.
def test_required_closes_plaintext(fc, ec):
    group = create_tls_group(ec, "tls-only")
    primary, _, _ = endpoints(group)
    assert plaintext_refused_by(fc, primary, b"PING\r\n")
    out = redis_cli("-h", primary, "-p", "6379", "PING")
    assert out.stdout.strip() != "PONG"
    if not fc.engine_tls:
        assert "SSL/TLS connection required" in out.stdout + out.stderr, out
    assert tls_client(primary, ca_path(fc)).ping()


# Goal: preferred mode takes TLS and plaintext on the same port (the migration step).
# Method: redis-py with and without ssl on the primary endpoint, each sees the other's write.
def test_preferred_accepts_both(fc, ec):
    group = create_tls_group(ec, "tls-pref", mode="preferred")
    assert group["TransitEncryptionMode"] == "preferred"
    primary, _, _ = endpoints(group)
    plain = redis.Redis(host=primary, port=REDIS_PORT, socket_timeout=10)
    secure = tls_client(primary, ca_path(fc))
    assert plain.set("from-plain", 1)
    assert secure.set("from-tls", 2)
    assert secure.get("from-plain") == b"1"
    assert plain.get("from-tls") == b"2"


# Goal: a client that speaks only TLS 1.0 (or 1.1) is refused by the handshake; ElastiCache
# takes TLS 1.2 and later. Method: python ssl with maximum_version TLSv1 when the local
# OpenSSL still offers it (security level 0 to allow it on the client side).
@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1 is deprecated:DeprecationWarning")
def test_tls10_client_refused(fc, ec):
    group = create_tls_group(ec, "tls-old", replicas=0)
    primary, _, _ = endpoints(group)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(ca_path(fc))
    try:
        context.minimum_version = ssl.TLSVersion.TLSv1
        context.maximum_version = ssl.TLSVersion.TLSv1
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    except (ValueError, ssl.SSLError) as error:
        pytest.skip(f"the local OpenSSL cannot make a TLS 1.0 client: {error}")
    with socket.create_connection((primary, REDIS_PORT), timeout=10) as raw:
        with pytest.raises((ssl.SSLError, ConnectionResetError)):
            with context.wrap_socket(raw, server_hostname=primary):
                pass
    # The same endpoint still serves a TLS 1.2 client.
    modern = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    modern.load_verify_locations(ca_path(fc))
    modern.maximum_version = ssl.TLSVersion.TLSv1_2
    with socket.create_connection((primary, REDIS_PORT), timeout=10) as raw:
        with modern.wrap_socket(raw, server_hostname=primary) as tls:
            assert tls.version() == "TLSv1.2"
            tls.sendall(b"PING\r\n")
            assert tls.recv(64) == b"+PONG\r\n"


# Goal: a garbage handshake closes only that connection; a TLS client connected before it
# keeps working, and new ones connect. Method: a live TLS client, then several connections
# sending a TLS record header followed by garbage, then the live client again.
def test_garbage_handshake_harms_no_other_client(fc, ec):
    group = create_tls_group(ec, "tls-junk", replicas=0)
    primary, _, _ = endpoints(group)
    live = tls_client(primary, ca_path(fc))
    assert live.set("k", "v")
    for junk in [b"\x16\x03\x01\x00\x05garbage-garbage", b"\x16" + os.urandom(300)]:
        assert closed_with_tls_alert(primary, junk)
    assert live.get("k") == b"v"
    assert tls_client(primary, ca_path(fc)).get("k") == b"v"


# Goal: the JS runbook form (`tls: {}` — Node's defaults: verify the chain and the host name)
# connects. Method: node's tls module with NODE_EXTRA_CA_CERTS pointing at our CA sends PING
# and reads +PONG (ioredis passes `tls: {}` straight to tls.connect).
def test_node_tls_defaults(fc, ec):
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    group = create_tls_group(ec, "tls-node", replicas=0)
    primary, _, _ = endpoints(group)
    script = (
        "const tls = require('tls');"
        f"const s = tls.connect({{host: '{primary}', port: 6379}}, () => s.write('PING\\r\\n'));"
        "s.on('data', d => { process.stdout.write(d.toString()); s.end(); });"
        "s.on('error', e => { console.error(e.message); process.exit(1); });"
    )
    env = dict(os.environ, NODE_EXTRA_CA_CERTS=ca_path(fc))
    out = subprocess.run(["node", "-e", script], capture_output=True, text=True, env=env,
                         timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "+PONG"
    # Without the CA, node refuses the certificate.
    env.pop("NODE_EXTRA_CA_CERTS")
    out = subprocess.run(["node", "-e", script], capture_output=True, text=True, env=env,
                         timeout=30)
    assert out.returncode != 0


# Goal: the certificate follows the group's endpoints: a node added later gets an endpoint
# that verifies too (the certificate is re-issued with the new address). Method: add a replica
# with IncreaseReplicaCount and connect to its node endpoint with hostname checks on.
def test_certificate_follows_new_endpoints(fc, ec):
    create_tls_group(ec, "tls-grow", replicas=0)
    ec.increase_replica_count(ReplicationGroupId="tls-grow", NewReplicaCount=1,
                              ApplyImmediately=True)
    group = wait_group_available(ec, "tls-grow")
    _, _, nodes = endpoints(group)
    assert len(nodes) == 2
    for host in nodes:
        wait_until(lambda h=host: tls_client(h, ca_path(fc)).ping(),
                   what=f"a verified TLS connection to {host}")


# Goal: `ferrocache ca trust` installs the CA into Debian's trust store so the runbook lines
# work with no --cacert at all. Method: as root only: run it, then `redis-cli --tls` and
# redis-py ssl_cert_reqs='required' with no CA option; remove the file and rebuild after.
def test_ca_trust_makes_runbook_lines_work_verbatim(fc, ec):
    if os.geteuid() != 0:
        pytest.skip("ferrocache ca trust changes the system trust store: needs root")
    if shutil.which("update-ca-certificates") is None:
        pytest.skip("update-ca-certificates (Debian ca-certificates) is not installed")
    group = create_tls_group(ec, "tls-trust", replicas=0)
    primary, _, _ = endpoints(group)
    out = subprocess.run([fc.binary, "ca", "trust", "--data-dir", fc.data_dir],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    installed = [line.split(" ", 1)[1] for line in out.stdout.splitlines()
                 if line.startswith("trusted ")]
    assert installed and os.path.isfile(installed[0])
    try:
        out = redis_cli("-h", primary, "-p", "6379", "--tls", "PING")
        assert out.stdout.strip() == "PONG", out
        env_free = redis.Redis(host=primary, port=6379, ssl=True, ssl_cert_reqs="required",
                               socket_timeout=10)
        assert env_free.ping()
    finally:
        os.remove(installed[0])
        subprocess.run(["update-ca-certificates", "--fresh"], capture_output=True, timeout=300)


# Goal: `ferrocache ca trust` run by a non-root user says why it cannot work instead of
# failing half way. Method: run it as `nobody` when we are root (else as ourselves).
def test_ca_trust_needs_root(fc):
    cmd = [fc.binary, "ca", "trust", "--data-dir", fc.data_dir]
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("setpriv is not installed")
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    assert out.returncode != 0
    assert "must run as root" in out.stderr


# Goal: ModifyReplicationGroup migrates a running group as ElastiCache does: enable with mode
# preferred (plaintext clients keep working, TLS clients connect), then required (plaintext
# connections are dropped and new ones refused), with the group available throughout.
# Method: a live plaintext connection across both steps; the shortcut (required at once) is
# refused with InvalidParameterCombination.
def test_modify_migrates_preferred_then_required(fc, ec):
    ec.create_replication_group(ReplicationGroupId="tls-migrate",
                                ReplicationGroupDescription="m", NumCacheClusters=2)
    group = wait_group_available(ec, "tls-migrate")
    assert group["TransitEncryptionEnabled"] is False
    primary, _, _ = endpoints(group)
    held = socket.create_connection((primary, REDIS_PORT), timeout=10)
    held.sendall(b"PING\r\n")
    assert held.recv(64) == b"+PONG\r\n"

    with pytest.raises(ec.exceptions.ClientError) as refused:
        ec.modify_replication_group(ReplicationGroupId="tls-migrate",
                                    TransitEncryptionEnabled=True, ApplyImmediately=True)
    assert refused.value.response["Error"]["Code"] == "InvalidParameterCombination"

    group = ec.modify_replication_group(ReplicationGroupId="tls-migrate",
                                        TransitEncryptionEnabled=True,
                                        TransitEncryptionMode="preferred",
                                        ApplyImmediately=True)["ReplicationGroup"]
    assert group["TransitEncryptionMode"] == "preferred"
    cafile = ca_path(fc)
    wait_until(lambda: tls_client(primary, cafile).ping(), what="TLS on the primary endpoint")
    held.sendall(b"PING\r\n")
    assert held.recv(64) == b"+PONG\r\n"
    assert redis.Redis(host=primary, port=REDIS_PORT, socket_timeout=10).ping()

    group = ec.modify_replication_group(ReplicationGroupId="tls-migrate",
                                        TransitEncryptionMode="required",
                                        ApplyImmediately=True)["ReplicationGroup"]
    assert group["TransitEncryptionMode"] == "required"
    wait_until(lambda: plaintext_refused_by(fc, primary, b"PING\r\n"),
               what="plaintext refused")
    # Closed: by the router (EOF, or a reset once the PING arrives) or, on the kernel path,
    # by a reset the client may already have when it sends.
    try:
        held.sendall(b"PING\r\n")
        assert held.recv(64) == b""
    except ConnectionResetError:
        pass
    held.close()
    assert tls_client(primary, cafile).ping()
    assert wait_group_available(ec, "tls-migrate")["TransitEncryptionEnabled"] is True


# Goal: a standalone cache cluster created with TransitEncryptionEnabled serves TLS on its node
# endpoint with a certificate for that address. Method: CreateCacheCluster, then redis-py
# ssl_cert_reqs='required' and a refused plaintext PING.
def test_standalone_cluster_tls(fc, ec):
    from harness import wait_cluster_available
    ec.create_cache_cluster(CacheClusterId="tls-solo", CacheNodeType="cache.t3.micro",
                            Engine="redis", NumCacheNodes=1, TransitEncryptionEnabled=True)
    cluster = wait_cluster_available(ec, "tls-solo")
    assert cluster["TransitEncryptionEnabled"] is True
    host = cluster["CacheNodes"][0]["Endpoint"]["Address"]
    assert tls_client(host, ca_path(fc)).ping()
    assert plaintext_refused_by(fc, host, b"PING\r\n")


# Goal: with --engine-tls on the kernel path, a TLS client of a `required` endpoint is
# connected straight to the node's own TLS port: the node sees the client's own address, the
# certificate (issued for the endpoints) verifies against the endpoint's address, and a
# failover moves the primary endpoint to the new primary's TLS port. Method: redis-py with
# ssl_cert_reqs='required' on the primary endpoint, CLIENT LIST, TestFailover, a new client.
def test_engine_tls_connects_straight_to_the_node(fc, ec):
    if not fc.engine_tls:
        pytest.skip("needs --engine-tls on the kernel path (FERROCACHE_ENGINE_TLS=1, root)")
    ec.create_replication_group(ReplicationGroupId="tls-engine",
                                ReplicationGroupDescription="tls", NumCacheClusters=2,
                                TransitEncryptionEnabled=True, AutomaticFailoverEnabled=True)
    group = wait_group_available(ec, "tls-engine")
    primary, _, _ = endpoints(group)
    client = tls_client(primary, ca_path(fc))
    wait_until(lambda: client.ping(), what="TLS through the primary endpoint")
    connection = client.connection_pool.get_connection()
    try:
        own = "%s:%d" % connection._sock.getsockname()[:2]
        assert connection._sock.getpeername()[:2] == (primary, REDIS_PORT)
    finally:
        client.connection_pool.release(connection)
    listed = [c["addr"] for c in client.client_list()]
    assert own in listed, (own, listed)
    client.set("k", "v")
    old = [m for m in group["NodeGroups"][0]["NodeGroupMembers"]
           if m["CurrentRole"] == "primary"][0]["CacheClusterId"]
    ec.test_failover(ReplicationGroupId="tls-engine", NodeGroupId="0001")
    def moved():
        g = ec.describe_replication_groups(ReplicationGroupId="tls-engine")["ReplicationGroups"][0]
        members = g["NodeGroups"][0]["NodeGroupMembers"]
        return any(m["CurrentRole"] == "primary" and m["CacheClusterId"] != old
                   for m in members) and g["Status"] == "available"
    wait_until(moved, timeout=60, what="the failover")
    after = tls_client(primary, ca_path(fc))
    wait_until(lambda: after.info("replication")["role"] == "master", what="the new primary")
    assert after.get("k") == b"v"
