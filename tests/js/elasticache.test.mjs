// The JS SDK v3 (@aws-sdk/client-elasticache) against a real `ferrocache up`.
//
// Smithy-generated SDKs parse awsQuery XML strictly by element name (botocore forgives a wrong
// member tag), so these round trips catch any element name that differs from AWS's model.
// The test starts its own ferrocache like the Python fixture does: private data dir, free port,
// its own endpoint CIDR (127.200-209.x.0/24), teardown by pid.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import {
  ElastiCacheClient,
  CreateReplicationGroupCommand,
  DescribeReplicationGroupsCommand,
  DescribeCacheClustersCommand,
  DeleteReplicationGroupCommand,
} from '@aws-sdk/client-elasticache';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;
const GROUP_WAIT_MS = 120_000;
const GROUP = 'js-roundtrip';

function binaryPath() {
  if (process.env.FERROCACHE_BIN) return process.env.FERROCACHE_BIN;
  const target = process.env.CARGO_TARGET_DIR
    ? path.resolve(REPO_ROOT, process.env.CARGO_TARGET_DIR)
    : path.join(REPO_ROOT, 'target');
  return path.join(target, 'debug', 'ferrocache');
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function canBind(host, port) {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

// A /24 in 127.200.0.0-127.209.255.0 whose first addresses are free on 6379.
async function allocateCidr() {
  const slots = 10 * 256;
  for (let counter = 0; counter < 64; counter++) {
    const slot = (process.pid * 64 + counter) % slots;
    const second = 200 + Math.floor(slot / 256);
    const third = slot % 256;
    let free = true;
    for (let host = 0; host <= 4 && free; host++) {
      free = await canBind(`127.${second}.${third}.${host}`, 6379);
    }
    if (free) return `127.${second}.${third}.0/24`;
  }
  throw new Error('no free endpoint CIDR');
}

function pidAlive(pid) {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !stat.slice(stat.lastIndexOf(')') + 1).trim().startsWith('Z');
  } catch {
    return false;
  }
}

function nodePids(dataDir) {
  const nodes = path.join(dataDir, 'nodes');
  if (!fs.existsSync(nodes)) return [];
  const pids = [];
  for (const entry of fs.readdirSync(nodes)) {
    try {
      const pid = parseInt(fs.readFileSync(path.join(nodes, entry, 'redis.pid'), 'utf8'), 10);
      if (pid > 1) pids.push(pid);
    } catch {
      // a node still starting has no pid file yet
    }
  }
  return pids;
}

async function killLeftoverNodes(dataDir) {
  const leftovers = nodePids(dataDir).filter((pid) => {
    try {
      return pidAlive(pid) && fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('redis');
    } catch {
      return false;
    }
  });
  for (const pid of leftovers) process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + 5_000;
  for (const pid of leftovers) {
    while (pidAlive(pid) && Date.now() < deadline) await sleep(20);
    if (pidAlive(pid)) process.kill(pid, 'SIGKILL');
  }
}

class Ferrocache {
  async start() {
    const binary = binaryPath();
    if (!fs.existsSync(binary)) {
      throw new Error(`ferrocache binary not found at ${binary}: run cargo build -p ferrocache`);
    }
    this.root = fs.mkdtempSync(path.join(os.tmpdir(), 'fcjs'));
    this.dataDir = path.join(this.root, 'data');
    this.listen = `127.0.0.1:${await freePort()}`;
    this.cidr = await allocateCidr();
    this.lines = [];
    const stderr = fs.openSync(path.join(this.root, 'ferrocache.stderr.log'), 'w');
    this.child = spawn(
      binary,
      ['up', '--data-dir', this.dataDir, '--listen', this.listen, '--endpoint-cidr', this.cidr],
      { stdio: ['ignore', 'pipe', stderr] },
    );
    fs.closeSync(stderr);
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => {
      this.exitCode = code;
      resolve({ code, signal });
    }));
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`not Ready in time:\n${this.logTail()}`)),
        READY_TIMEOUT_MS);
      readline.createInterface({ input: this.child.stdout }).on('line', (line) => {
        this.lines.push(line);
        if (line.trim() === 'Ready.') {
          clearTimeout(timer);
          resolve();
        }
      });
      this.exited.then(({ code }) => {
        clearTimeout(timer);
        reject(new Error(`ferrocache exited with ${code} before Ready.\n${this.logTail()}`));
      });
    });
    return this;
  }

  get endpointUrl() {
    return `http://${this.listen}`;
  }

  logTail() {
    let stderr = '';
    try {
      stderr = fs.readFileSync(path.join(this.root, 'ferrocache.stderr.log'), 'utf8');
    } catch {
      // no log yet
    }
    return [...this.lines.slice(-20), ...stderr.split('\n').slice(-60)].join('\n');
  }

  // SIGTERM and wait; then kill leftover nodes by pid and remove the temp dir. Throws when
  // ferrocache needed SIGKILL or exited non-zero (SIGTERM must shut down cleanly).
  async close() {
    let problem;
    try {
      if (this.child && this.child.exitCode === null && this.child.signalCode === null) {
        this.child.kill('SIGTERM');
        let timer;
        const timeout = new Promise((resolve) => {
          timer = setTimeout(() => resolve('timeout'), STOP_TIMEOUT_MS);
        });
        const outcome = await Promise.race([this.exited, timeout]);
        clearTimeout(timer);
        if (outcome === 'timeout') {
          this.child.kill('SIGKILL');
          await this.exited;
          problem = `ferrocache did not exit within ${STOP_TIMEOUT_MS} ms of SIGTERM`;
        } else if (outcome.code !== 0) {
          problem = `ferrocache exited with ${outcome.code}/${outcome.signal} on SIGTERM`;
        }
      }
    } finally {
      if (this.dataDir) await killLeftoverNodes(this.dataDir);
      if (problem) console.error(this.logTail());
      if (this.root) fs.rmSync(this.root, { recursive: true, force: true });
    }
    if (problem) throw new Error(problem);
  }
}

function ping(host, port) {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection({ host, port }, () => socket.write('PING\r\n'));
    socket.setTimeout(10_000, () => socket.destroy(new Error(`PING ${host}:${port} timed out`)));
    socket.once('data', (data) => {
      socket.end();
      resolve(data.toString());
    });
    socket.once('error', reject);
  });
}

let fc;
let client;

before(async () => {
  fc = await new Ferrocache().start();
  client = new ElastiCacheClient({
    endpoint: fc.endpointUrl,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 1,
  });
});

after(async () => {
  if (fc) await fc.close();
});

// Goal: a 2-node group created through the JS SDK reads back with the fields a strict client
// needs. Method: CreateReplicationGroup, poll DescribeReplicationGroups until available, then
// assert NodeGroups[0] endpoints, member roles and MemberClusters; PING the primary endpoint.
test('DescribeReplicationGroups round trip', async () => {
  const created = await client.send(new CreateReplicationGroupCommand({
    ReplicationGroupId: GROUP,
    ReplicationGroupDescription: 'JS SDK round trip',
    Engine: 'redis',
    EngineVersion: '7.0',
    CacheNodeType: 'cache.t3.micro',
    NumCacheClusters: 2,
    AutomaticFailoverEnabled: true,
  }));
  assert.equal(created.ReplicationGroup.ReplicationGroupId, GROUP);
  assert.equal(created.ReplicationGroup.Status, 'creating');

  let group;
  const deadline = Date.now() + GROUP_WAIT_MS;
  for (;;) {
    const out = await client.send(new DescribeReplicationGroupsCommand({
      ReplicationGroupId: GROUP,
    }));
    group = out.ReplicationGroups[0];
    if (group.Status === 'available') break;
    assert.ok(Date.now() < deadline, `group still ${group.Status}`);
    await sleep(100);
  }
  assert.deepEqual(group.MemberClusters, [`${GROUP}-001`, `${GROUP}-002`]);
  assert.equal(group.AutomaticFailover, 'enabled');
  assert.equal(group.NodeGroups.length, 1);
  const [nodeGroup] = group.NodeGroups;
  assert.equal(nodeGroup.NodeGroupId, '0001');
  assert.ok(nodeGroup.PrimaryEndpoint.Address, 'NodeGroups[0].PrimaryEndpoint.Address');
  assert.equal(nodeGroup.PrimaryEndpoint.Port, 6379);
  assert.ok(nodeGroup.ReaderEndpoint.Address, 'NodeGroups[0].ReaderEndpoint.Address');
  assert.equal(nodeGroup.ReaderEndpoint.Port, 6379);
  const roles = nodeGroup.NodeGroupMembers.map((m) => [m.CacheClusterId, m.CurrentRole]).sort();
  assert.deepEqual(roles, [[`${GROUP}-001`, 'primary'], [`${GROUP}-002`, 'replica']]);
  for (const member of nodeGroup.NodeGroupMembers) {
    assert.equal(member.CacheNodeId, '0001');
    assert.equal(member.ReadEndpoint.Port, 6379);
    assert.match(member.PreferredAvailabilityZone, /^us-east-1[a-z]$/);
  }
  assert.equal(await ping(nodeGroup.PrimaryEndpoint.Address, 6379), '+PONG\r\n');
  assert.equal(await ping(nodeGroup.ReaderEndpoint.Address, 6379), '+PONG\r\n');
});

// Goal: DescribeCacheClusters with ShowCacheNodeInfo parses into CacheNodes with endpoint and
// AZ. Method: describe the members of the group created above.
test('DescribeCacheClusters round trip', async () => {
  const out = await client.send(new DescribeCacheClustersCommand({ ShowCacheNodeInfo: true }));
  const clusters = out.CacheClusters.sort((a, b) => a.CacheClusterId.localeCompare(b.CacheClusterId));
  assert.deepEqual(clusters.map((c) => c.CacheClusterId), [`${GROUP}-001`, `${GROUP}-002`]);
  for (const cluster of clusters) {
    assert.equal(cluster.CacheClusterStatus, 'available');
    assert.equal(cluster.ReplicationGroupId, GROUP);
    assert.equal(cluster.Engine, 'redis');
    assert.equal(cluster.NumCacheNodes, 1);
    assert.equal(cluster.CacheNodes.length, 1);
    const [node] = cluster.CacheNodes;
    assert.equal(node.CacheNodeId, '0001');
    assert.equal(node.CacheNodeStatus, 'available');
    assert.equal(node.Endpoint.Port, 6379);
    assert.ok(node.Endpoint.Address);
    assert.match(node.CustomerAvailabilityZone, /^us-east-1[a-z]$/);
    assert.equal(await ping(node.Endpoint.Address, node.Endpoint.Port), '+PONG\r\n');
  }
});

// Goal: modeled errors become the SDK's typed exceptions (name and HTTP status). Method:
// describe an unknown group and an unknown cluster; delete the group and see it go away.
test('typed errors and delete', async () => {
  await assert.rejects(
    client.send(new DescribeReplicationGroupsCommand({ ReplicationGroupId: 'no-such-group' })),
    (err) => {
      assert.equal(err.name, 'ReplicationGroupNotFoundFault');
      assert.equal(err.$metadata.httpStatusCode, 404);
      return true;
    },
  );
  await assert.rejects(
    client.send(new DescribeCacheClustersCommand({ CacheClusterId: 'no-such-cluster' })),
    (err) => {
      assert.equal(err.name, 'CacheClusterNotFoundFault');
      assert.equal(err.$metadata.httpStatusCode, 404);
      return true;
    },
  );
  const deleted = await client.send(new DeleteReplicationGroupCommand({
    ReplicationGroupId: GROUP,
  }));
  assert.equal(deleted.ReplicationGroup.Status, 'deleting');
  const deadline = Date.now() + GROUP_WAIT_MS;
  for (;;) {
    try {
      await client.send(new DescribeReplicationGroupsCommand({ ReplicationGroupId: GROUP }));
    } catch (err) {
      assert.equal(err.name, 'ReplicationGroupNotFoundFault');
      break;
    }
    assert.ok(Date.now() < deadline, 'group never went away');
    await sleep(100);
  }
});

// Goal: the connectivity runbook's ioredis form, `tls: {}` (Node's defaults: the chain and the
// host name are verified), reaches a group created with TransitEncryptionEnabled. Method: the
// CA path from `ferrocache ca path`; a child node process with NODE_EXTRA_CA_CERTS (how Node
// adds a CA to its defaults) runs ioredis with `tls: {}` verbatim and PINGs the primary
// endpoint; without the CA the same client is refused.
test('ioredis tls: {} against a TLS group', async () => {
  const created = await client.send(new CreateReplicationGroupCommand({
    ReplicationGroupId: 'js-tls',
    ReplicationGroupDescription: 'ioredis tls',
    NumCacheClusters: 1,
    TransitEncryptionEnabled: true,
  }));
  assert.equal(created.ReplicationGroup.TransitEncryptionEnabled, true);
  let group;
  const deadline = Date.now() + GROUP_WAIT_MS;
  for (;;) {
    const out = await client.send(new DescribeReplicationGroupsCommand({ ReplicationGroupId: 'js-tls' }));
    group = out.ReplicationGroups[0];
    if (group.Status === 'available') break;
    assert.ok(Date.now() < deadline, `group still ${group.Status}`);
    await sleep(100);
  }
  assert.equal(group.TransitEncryptionMode, 'required');
  const host = group.NodeGroups[0].PrimaryEndpoint.Address;
  const caPath = spawnSync(binaryPath(), ['ca', 'path', '--data-dir', fc.dataDir], { encoding: 'utf8' })
    .stdout.trim().split('\n').pop();
  assert.ok(fs.existsSync(caPath), caPath);
  const script = `
    const Redis = require('ioredis');
    const redis = new Redis({ host: ${JSON.stringify(host)}, port: 6379, tls: {},
      maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true });
    redis.connect()
      .then(() => redis.set('from-ioredis', 'ok'))
      .then(() => redis.get('from-ioredis'))
      .then((v) => { console.log(v); redis.disconnect(); })
      .catch((e) => { console.error(e.message); process.exit(1); });`;
  const run = (env) => spawnSync(process.execPath, ['-e', script],
    { encoding: 'utf8', env, cwd: path.dirname(fileURLToPath(import.meta.url)), timeout: 30_000 });
  const trusted = run({ ...process.env, NODE_EXTRA_CA_CERTS: caPath });
  assert.equal(trusted.status, 0, trusted.stderr);
  assert.equal(trusted.stdout.trim(), 'ok');
  const { NODE_EXTRA_CA_CERTS: _unused, ...withoutCa } = process.env;
  const untrusted = run(withoutCa);
  assert.notEqual(untrusted.status, 0);
});

// Goal: the Terraform module's cluster configuration through the JS SDK (3 shards, 2 replicas
// each) parses as AWS's model says (ClusterEnabled, ConfigurationEndpoint, NodeGroups with
// Slots and no per-shard endpoints), and ioredis `Cluster` works through the configuration
// endpoint unchanged. Method: CreateReplicationGroup NumNodeGroups=3 ReplicasPerNodeGroup=2,
// poll until available, then a child node process runs ioredis Cluster: 100 keys written and
// read back across the shards.
test('cluster mode: JS SDK create and ioredis Cluster', async () => {
  const created = await client.send(new CreateReplicationGroupCommand({
    ReplicationGroupId: 'js-cluster',
    ReplicationGroupDescription: 'cluster mode',
    CacheNodeType: 'cache.t3.micro',
    NumNodeGroups: 3,
    ReplicasPerNodeGroup: 2,
    AutomaticFailoverEnabled: true,
  }));
  assert.equal(created.ReplicationGroup.ClusterEnabled, true);
  let group;
  const deadline = Date.now() + GROUP_WAIT_MS;
  for (;;) {
    const out = await client.send(new DescribeReplicationGroupsCommand({ ReplicationGroupId: 'js-cluster' }));
    group = out.ReplicationGroups[0];
    if (group.Status === 'available') break;
    assert.ok(Date.now() < deadline, `group still ${group.Status}`);
    await sleep(100);
  }
  assert.equal(group.ClusterEnabled, true);
  assert.equal(group.ClusterMode, 'enabled');
  assert.equal(group.ConfigurationEndpoint.Port, 6379);
  assert.deepEqual(group.NodeGroups.map((g) => g.Slots), ['0-5461', '5462-10922', '10923-16383']);
  for (const nodeGroup of group.NodeGroups) {
    assert.equal(nodeGroup.PrimaryEndpoint, undefined);
    assert.equal(nodeGroup.NodeGroupMembers.length, 3);
  }
  assert.equal(group.MemberClusters.length, 9);
  const host = group.ConfigurationEndpoint.Address;
  const script = `
    const { Cluster } = require('ioredis');
    const cluster = new Cluster([{ host: ${JSON.stringify(host)}, port: 6379 }],
      { clusterRetryStrategy: () => null, redisOptions: { maxRetriesPerRequest: 2 } });
    (async () => {
      for (let n = 0; n < 100; n++) await cluster.set('js:' + n, String(n));
      let ok = 0;
      for (let n = 0; n < 100; n++) if ((await cluster.get('js:' + n)) === String(n)) ok++;
      console.log(ok);
      cluster.disconnect();
    })().catch((e) => { console.error(e.message); process.exit(1); });`;
  const run = spawnSync(process.execPath, ['-e', script],
    { encoding: 'utf8', cwd: path.dirname(fileURLToPath(import.meta.url)), timeout: 30_000 });
  assert.equal(run.status, 0, run.stderr);
  assert.equal(run.stdout.trim(), '100');
});

// Goal: the Terraform module's production cluster (encryption in transit and an AUTH token)
// serves ioredis `Cluster` through its configuration endpoint, as ElastiCache's documentation
// configures it (`tls`, `password`, and `dnsLookup` passing the announced name through, since
// CLUSTER SLOTS names endpoints); a client without the token is refused. Method: create 2 shards
// with TransitEncryptionEnabled and AuthToken, a child node process trusting the CA writes and
// reads 100 keys across the shards; the same without the password must fail.
test('cluster mode with TLS and AUTH: ioredis Cluster', async () => {
  const token = 'js-cluster-token-0123456789';
  await client.send(new CreateReplicationGroupCommand({
    ReplicationGroupId: 'js-cluster-tls',
    ReplicationGroupDescription: 'cluster mode, tls, auth',
    CacheNodeType: 'cache.t3.micro',
    NumNodeGroups: 2,
    ReplicasPerNodeGroup: 1,
    AutomaticFailoverEnabled: true,
    TransitEncryptionEnabled: true,
    AuthToken: token,
  }));
  let group;
  const deadline = Date.now() + GROUP_WAIT_MS;
  for (;;) {
    const out = await client.send(new DescribeReplicationGroupsCommand({ ReplicationGroupId: 'js-cluster-tls' }));
    group = out.ReplicationGroups[0];
    if (group.Status === 'available') break;
    assert.ok(Date.now() < deadline, `group still ${group.Status}`);
    await sleep(100);
  }
  assert.equal(group.ClusterEnabled, true);
  assert.equal(group.AuthTokenEnabled, true);
  const host = group.ConfigurationEndpoint.Address;
  const caPath = spawnSync(binaryPath(), ['ca', 'path', '--data-dir', fc.dataDir], { encoding: 'utf8' })
    .stdout.trim().split('\n').pop();
  const script = (password) => `
    const { Cluster } = require('ioredis');
    const cluster = new Cluster([{ host: ${JSON.stringify(host)}, port: 6379 }], {
      dnsLookup: (address, callback) => callback(null, address),
      clusterRetryStrategy: () => null,
      redisOptions: { tls: {}, password: ${JSON.stringify(password)}, maxRetriesPerRequest: 2 },
    });
    (async () => {
      for (let n = 0; n < 100; n++) await cluster.set('tls:' + n, String(n));
      let ok = 0;
      for (let n = 0; n < 100; n++) if ((await cluster.get('tls:' + n)) === String(n)) ok++;
      console.log(ok);
      cluster.disconnect();
    })().catch((e) => { console.error(e.message); cluster.disconnect(); process.exit(1); });`;
  const run = (password) => spawnSync(process.execPath, ['-e', script(password)], {
    encoding: 'utf8',
    env: { ...process.env, NODE_EXTRA_CA_CERTS: caPath },
    cwd: path.dirname(fileURLToPath(import.meta.url)),
    timeout: 30_000,
  });
  const good = run(token);
  assert.equal(good.status, 0, good.stderr);
  assert.equal(good.stdout.trim(), '100');
  const bad = run('not-the-token-0123456789');
  assert.notEqual(bad.status, 0);
});
