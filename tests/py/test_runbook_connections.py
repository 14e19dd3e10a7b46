"""The runbooks' TLS and AUTH connection examples, verbatim against `ferrocache up`:

- the connectivity write-up's `redis-cli -h <primary> -p 6379 --tls PING` (no `--cacert`: the
  CA is trusted the way `ferrocache ca trust` makes the system trust it; parallel tests point
  OpenSSL at it with SSL_CERT_FILE instead of changing the machine);
- the restoration guide's Method 1 (`redis-cli … --tls --cacert … -a $AUTH_TOKEN ping`), Method 3
  (its `test_redis_connection.py`, run as a script with its endpoint, token and CA filled in) and
  Method 4 (`redis-cli -h … -a … --tls << EOF INFO keyspace DBSIZE EOF`). The script passes
  redis-py an `ssl_context` argument no redis-py release accepts; it is run as written (it
  fails in the client, as it would against ElastiCache) and then without that argument;
- and the failures the connectivity write-up lists: "NOAUTH Authentication required" without
  the token, "SSL/TLS connection required" without TLS.

Method: boto3 creates the groups (TransitEncryptionEnabled, AuthToken); everything else is the
runbooks' own command lines and script."""

import os
import subprocess
from pathlib import Path

import redis

from harness import wait_group_available

RUNBOOKS = Path(__file__).parent / "runbooks" / "restoration"
AUTH_TOKEN = "restore-drill-token-0123456789"


def ca_file(fc) -> str:
    out = subprocess.run([fc.binary, "ca", "path", "--data-dir", fc.data_dir],
                         capture_output=True, text=True, check=True, timeout=30)
    return out.stdout.strip().splitlines()[-1]


def trusted_env(fc) -> dict:
    """The environment of a machine that trusts the Ferrocache CA (what `ca trust` does to the
    system store), without touching the system store."""
    env = dict(os.environ)
    env["SSL_CERT_FILE"] = ca_file(fc)
    return env


def cli(env, *args, stdin=None):
    return subprocess.run(["redis-cli", *args], env=env, input=stdin, capture_output=True,
                          text=True, timeout=30)


def primary_of(group):
    return group["NodeGroups"][0]["PrimaryEndpoint"]["Address"]


# Goal: the connectivity write-up's Step 1 and its TLS symptom. Method: a TLS-only group.
def test_connectivity_runbook_tls_forms(fc, ec):
    ec.create_replication_group(ReplicationGroupId="durga-puja-redis",
                                ReplicationGroupDescription="app cache",
                                CacheNodeType="cache.t3.micro", NumCacheClusters=2,
                                TransitEncryptionEnabled=True)
    primary = primary_of(wait_group_available(ec, "durga-puja-redis"))
    env = trusted_env(fc)
    out = cli(env, "-h", primary, "-p", "6379", "--tls", "PING")
    assert out.stdout.strip() == "PONG", out
    # The write-up's `-c "SET testkey 'Hello from Kubernetes'"` hands redis-cli the whole
    # command as one argument, which Redis (here as on ElastiCache) takes as a command name.
    out = cli(env, "-h", primary, "-p", "6379", "--tls", "-c",
              "SET testkey 'Hello from Kubernetes'")
    assert "ERR unknown command" in out.stdout, out
    out = cli(env, "-h", primary, "-p", "6379", "--tls", "SET", "testkey", "Hello from Kubernetes")
    assert out.stdout.strip() == "OK", out
    out = cli(env, "-h", primary, "-p", "6379", "--tls", "GET", "testkey")
    assert out.stdout.strip() == "Hello from Kubernetes", out
    # Without --tls: the write-up's "SSL/TLS connection required" (through the router); with
    # --engine-tls the node's own TLS port ends the failed handshake (documented difference).
    out = cli(env, "-h", primary, "-p", "6379", "PING")
    if fc.engine_tls:
        assert out.returncode != 0 and "PONG" not in out.stdout, out
    else:
        assert "SSL/TLS connection required" in out.stdout + out.stderr, out


# Goal: the restoration guide's Methods 1, 3 and 4 against a group with TLS and an AUTH token,
# and NOAUTH without the token. Method: the guide's command lines; its Python script as a file.
def test_restoration_guide_connection_methods(fc, ec, tmp_path):
    ec.create_replication_group(ReplicationGroupId="test-redis-new-67006b9f",
                                ReplicationGroupDescription="restored",
                                CacheNodeType="cache.t3.small", NumCacheClusters=2,
                                TransitEncryptionEnabled=True, AuthToken=AUTH_TOKEN)
    endpoint = primary_of(wait_group_available(ec, "test-redis-new-67006b9f"))
    env = trusted_env(fc)
    ca = ca_file(fc)

    # Method 1.
    out = cli(env, "-h", endpoint, "-p", "6379", "--tls", "--cacert", ca, "-a", AUTH_TOKEN,
              "ping")
    assert out.stdout.strip() == "PONG", out

    # The write-up's NOAUTH, with TLS but no token.
    out = cli(env, "-h", endpoint, "-p", "6379", "--tls", "GET", "x")
    assert "NOAUTH Authentication required" in out.stdout + out.stderr, out

    # Method 3: the guide's script, with its endpoint, token and CA path filled in.
    script = (RUNBOOKS / "redis_connection_check.py").read_text()
    for placeholder, value in [
        ("master.test-redis-new-67006b9f.lojl15.euc1.cache.amazonaws.com", endpoint),
        ("your-auth-token", AUTH_TOKEN),
        ("/path/to/ca-cert.pem", ca),
    ]:
        assert placeholder in script, placeholder
        script = script.replace(placeholder, value)
    path = tmp_path / "test_redis_connection.py"
    path.write_text(script)
    out = subprocess.run(["python3", str(path)], env=env, capture_output=True, text=True,
                         timeout=60)
    # As written, the script passes redis-py an `ssl_context` argument no redis-py release
    # accepts, so it fails in the client before connecting — on ElastiCache as here.
    assert "unexpected keyword argument 'ssl_context'" in out.stdout, out
    # Without that one argument it runs as the guide means it to.
    assert script.count("ssl_context=ssl_context,") == 1
    path.write_text(script.replace("ssl_context=ssl_context,", ""))
    out = subprocess.run(["python3", str(path)], env=env, capture_output=True, text=True,
                         timeout=60)
    assert "✅ Connection successful: True" in out.stdout, out
    assert "✅ Read/Write test: test_value" in out.stdout, out
    assert "Redis Version: 7.0" in out.stdout, out

    # Method 4: INFO keyspace and DBSIZE through a heredoc.
    out = cli(env, "-h", endpoint, "-a", AUTH_TOKEN, "--tls", stdin="INFO keyspace\nDBSIZE\n")
    assert "# Keyspace" in out.stdout and "db0:keys=1" in out.stdout, out
    assert out.stdout.strip().splitlines()[-1] == "1", out

    # redis-py as the runbooks write it: ssl=True, ssl_cert_reqs='required', password.
    client = redis.Redis(host=endpoint, port=6379, password=AUTH_TOKEN, ssl=True,
                         ssl_cert_reqs="required", ssl_ca_certs=ca)
    assert client.get("test_key") == b"test_value"
    client.close()
