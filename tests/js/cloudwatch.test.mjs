// The JS SDK v3 (@aws-sdk/client-cloudwatch) against a real `ferrocache up`, in each of
// CloudWatch's three wire protocols.
//
// The client's own default is AWS JSON 1.0 with awsQueryCompatible errors (measured below);
// the same client is also built with @aws-sdk/core's RPC v2 CBOR and query protocol classes
// (the client's `protocol` setting), so the SDK's own serializers and strict parsers drive all
// three. The round trips and the validation error wait for crates/cloudwatch's real answers;
// the protocol measurements hold whatever the service answers.
//
// No replication group is created, so no Redis node runs: the instance gets a private data
// dir, port and endpoint CIDR (127.200-209.x.0/24, like elasticache.test.mjs) and is stopped
// by pid.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import {
  CloudWatchClient,
  GetMetricStatisticsCommand,
  ListMetricsCommand,
  PutMetricDataCommand,
} from '@aws-sdk/client-cloudwatch';
import { AwsQueryProtocol, AwsSmithyRpcV2CborProtocol } from '@aws-sdk/core/protocols';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;
const NAMESPACE = 'Ferrocache/JsSdk';
const DIMENSIONS = [{ Name: 'CacheClusterId', Value: 'js-001' }];

// name → [client `protocol` setting (undefined: the client's default), what goes on the wire]
const PROTOCOLS = {
  json: [undefined, { path: '/', header: ['x-amz-target', 'GraniteServiceVersion20100801.ListMetrics'] }],
  cbor: [AwsSmithyRpcV2CborProtocol, {
    path: '/service/GraniteServiceVersion20100801/operation/ListMetrics',
    header: ['smithy-protocol', 'rpc-v2-cbor'],
  }],
  query: [AwsQueryProtocol, { path: '/', header: ['content-type', 'application/x-www-form-urlencoded'] }],
};

function binaryPath() {
  if (process.env.FERROCACHE_BIN) return process.env.FERROCACHE_BIN;
  const target = process.env.CARGO_TARGET_DIR
    ? path.resolve(REPO_ROOT, process.env.CARGO_TARGET_DIR)
    : path.join(REPO_ROOT, 'target');
  return path.join(target, 'debug', 'ferrocache');
}

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

// A /24 in 127.200.0.0-127.209.255.0 whose first addresses are free on 6379; the slot differs
// from elasticache.test.mjs's by the pid (node --test runs each file in its own process).
async function allocateCidr() {
  const slots = 10 * 256;
  for (let counter = 0; counter < 64; counter++) {
    const slot = (process.pid * 64 + counter) % slots;
    const host = `127.${200 + Math.floor(slot / 256)}.${slot % 256}`;
    let free = true;
    for (let last = 0; last <= 4 && free; last++) free = await canBind(`${host}.${last}`, 6379);
    if (free) return `${host}.0/24`;
  }
  throw new Error('no free endpoint CIDR');
}

class Ferrocache {
  async start() {
    const binary = binaryPath();
    if (!fs.existsSync(binary)) {
      throw new Error(`ferrocache binary not found at ${binary}: run cargo build -p ferrocache`);
    }
    this.root = fs.mkdtempSync(path.join(os.tmpdir(), 'fcjscw'));
    this.listen = `127.0.0.1:${await freePort()}`;
    const args = ['up', '--data-dir', path.join(this.root, 'data'), '--listen', this.listen,
      '--endpoint-cidr', await allocateCidr()];
    const stderr = fs.openSync(path.join(this.root, 'ferrocache.stderr.log'), 'w');
    this.child = spawn(binary, args, { stdio: ['ignore', 'pipe', stderr] });
    fs.closeSync(stderr);
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('ferrocache not Ready in time')),
        READY_TIMEOUT_MS);
      readline.createInterface({ input: this.child.stdout }).on('line', (line) => {
        if (line.trim() === 'Ready.') {
          clearTimeout(timer);
          resolve();
        }
      });
      this.exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`ferrocache exited with ${code} before Ready.`));
      });
    });
    return this;
  }

  get endpointUrl() {
    return `http://${this.listen}`;
  }

  async close() {
    try {
      if (this.child && this.child.exitCode === null && this.child.signalCode === null) {
        this.child.kill('SIGTERM');
        let timer;
        const timeout = new Promise((resolve) => {
          timer = setTimeout(() => resolve('timeout'), STOP_TIMEOUT_MS);
        });
        if (await Promise.race([this.exited, timeout]) === 'timeout') this.child.kill('SIGKILL');
        clearTimeout(timer);
      }
    } finally {
      if (this.root) fs.rmSync(this.root, { recursive: true, force: true });
    }
  }
}

let fc;

before(async () => {
  fc = await new Ferrocache().start();
});

after(async () => {
  if (fc) await fc.close();
});

// A client in `protocol`, and the list of requests it sent (method, path, headers).
function client(protocol) {
  const [protocolClass] = PROTOCOLS[protocol];
  const cw = new CloudWatchClient({
    endpoint: fc.endpointUrl,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 1,
    ...(protocolClass ? { protocol: protocolClass } : {}),
  });
  const sent = [];
  cw.middlewareStack.add((next) => async (args) => {
    sent.push(args.request);
    return next(args);
  }, { step: 'deserialize', name: 'ferrocacheRecorder' });
  return { cw, sent };
}

for (const protocol of Object.keys(PROTOCOLS)) {
  // Goal: what this client puts on the wire in `protocol` (the default client: JSON).
  // Method: one ListMetrics, recorded before it is sent; its answer does not matter here.
  test(`${protocol}: the request's form`, async () => {
    const { cw, sent } = client(protocol);
    try {
      await cw.send(new ListMetricsCommand({ Namespace: NAMESPACE }));
    } catch {
      // the answer is the other tests' business
    }
    const [, expected] = PROTOCOLS[protocol];
    const request = sent[sent.length - 1];
    assert.equal(request.method, 'POST');
    assert.equal(request.path, expected.path);
    const [name, value] = expected.header;
    assert.ok(String(request.headers[name]).startsWith(value), `${name}: ${request.headers[name]}`);
    assert.match(String(request.headers.authorization), /\/monitoring\/aws4_request/);
  });

  // Goal: PutMetricData then GetMetricStatistics round-trip with typed values (Date
  // timestamps, numbers). Waits for crates/cloudwatch. Method: two data, one query.
  test(`${protocol}: PutMetricData then GetMetricStatistics`, async () => {
    const { cw } = client(protocol);
    const metric = `Latency-${protocol}`;
    const at = new Date(Math.floor(Date.now() / 1000) * 1000 - 120_000);
    await cw.send(new PutMetricDataCommand({
      Namespace: NAMESPACE,
      MetricData: [
        { MetricName: metric, Dimensions: DIMENSIONS, Timestamp: at, Value: 12.5, Unit: 'Milliseconds' },
        { MetricName: metric, Dimensions: DIMENSIONS, Timestamp: at, Value: 3, Unit: 'Milliseconds' },
      ],
    }));
    const out = await cw.send(new GetMetricStatisticsCommand({
      Namespace: NAMESPACE,
      MetricName: metric,
      Dimensions: DIMENSIONS,
      StartTime: new Date(at.getTime() - 600_000),
      EndTime: new Date(Date.now() + 60_000),
      Period: 60,
      Statistics: ['Sum', 'Maximum', 'SampleCount'],
    }));
    assert.equal(out.Label, metric);
    assert.equal(out.Datapoints.length, 1);
    const [point] = out.Datapoints;
    assert.ok(point.Timestamp instanceof Date);
    assert.equal(point.Sum, 15.5);
    assert.equal(point.Maximum, 12.5);
    assert.equal(point.SampleCount, 2);
    assert.equal(point.Unit, 'Milliseconds');
  });

  // Goal: the service's refusal (StartTime after EndTime) is the SDK's modeled
  // InvalidParameterValueException, 400, with the query code. Waits for crates/cloudwatch.
  // Method: one bad query.
  test(`${protocol}: a validation error is typed`, async () => {
    const { cw } = client(protocol);
    await assert.rejects(
      cw.send(new GetMetricStatisticsCommand({
        Namespace: 'AWS/ElastiCache',
        MetricName: 'CPUUtilization',
        StartTime: new Date(),
        EndTime: new Date(Date.now() - 3_600_000),
        Period: 300,
        Statistics: ['Average'],
      })),
      (e) => {
        assert.equal(e.name, 'InvalidParameterValueException', `${e.name}: ${e.message}`);
        assert.equal(e.$metadata.httpStatusCode, 400);
        assert.equal(e.$fault, 'client');
        return true;
      },
    );
  });
}
