/**
 * The service's HTTP server as the runtime starts it: a client dripping its headers is cut off
 * (header timeout) while good calls are served.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import axios, { type AxiosInstance } from 'axios';
import { useRedis, uniqueName } from '../helpers/redis.ts';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/engine/logger.ts';
import { startRuntime, type Runtime } from '../../src/runtime.ts';
import { queueNames } from '../../src/queue/queues.ts';

const redis = useRedis();
let runtime: Runtime;
let api: AxiosInstance;
let prefix: string;

before(async () => {
  await redis.ready();
  prefix = uniqueName('intake-http');
  const config = loadConfig({ REDIS_URL: redis.url, PORT: '0', REDIS_PREFIX: `${prefix}:`, DATA_DIR: mkdtempSync(join(tmpdir(), 'intake-http-')), LOG_LEVEL: 'silent' });
  runtime = await startRuntime({
    config,
    logger: createLogger('silent'),
    http: true,
    workers: false,
    queues: queueNames(prefix),
    httpTimeouts: { headersMs: 500, requestMs: 1000, keepAliveMs: 1000 },
  });
  redis.cleanup(() => runtime.close());
  api = axios.create({ baseURL: runtime.url, validateStatus: () => true, headers: { 'x-actor': 'ops' } });
});

test('a client sending its headers slowly is disconnected, and a good call afterwards is served', { timeout: 20_000 }, async () => {
  const { hostname, port } = new URL(runtime.url!);
  const socket = connect(Number(port), hostname);
  const answer: Buffer[] = [];
  socket.on('data', (c: Buffer) => answer.push(c));
  const closed = new Promise<void>((res) => socket.on('close', () => res()));
  socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
  // One more header line every 100 ms, never the blank line that ends them.
  let n = 0;
  const drip = setInterval(() => socket.writable && socket.write(`X-Drip-${n++}: y\r\n`), 100);
  await closed;
  clearInterval(drip);
  assert.match(Buffer.concat(answer).toString('latin1'), /^HTTP\/1\.1 408/, 'answered 408 Request Timeout before the socket closed');
  const good = await api.get('/healthz');
  assert.equal(good.status, 200);
  assert.deepEqual(good.data, { status: 'ok' });
});
