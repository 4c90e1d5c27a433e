/**
 * The service's HTTP server as the runtime starts it: a client dripping its headers is cut off
 * (header timeout) while good calls are served; failed deliveries are listed and replayed
 * through `/v1/deliveries`, and counted in `/metrics` as `ts_deliveries_dead`; ticket writes the
 * outbox gave up on are listed and replayed through `/v1/notices` and the CLI.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import axios, { type AxiosInstance } from 'axios';
import { apiAs, ADMIN_CLI_USER } from '../helpers/api-tokens.ts';
import { useRedis, uniqueName } from '../helpers/redis.ts';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/engine/logger.ts';
import { SystemError } from '../../src/engine/errors.ts';
import { startRuntime, type Runtime } from '../../src/runtime.ts';
import { DeadLetters } from '../../src/queue/dead-letters.ts';
import { NoticeDeadLetters } from '../../src/queue/notice-dead-letters.ts';
import { main, type CliIo } from '../../src/cli.ts';
import type { WorkflowNotice } from '../../src/workflow/owed.ts';
import { deliveryJobId, queueNames, type IntakeJobData } from '../../src/queue/queues.ts';

const redis = useRedis();
let runtime: Runtime;
let api: AxiosInstance;
let prefix: string;
let redisUrl: string;

before(async () => {
  await redis.ready();
  prefix = uniqueName('intake-http');
  redisUrl = redis.url;
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
  api = await apiAs(runtime, runtime.url!, ADMIN_CLI_USER, 'admin');
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

test('failed deliveries are listed, counted in /metrics and replayed through the API', async () => {
  const letters = new DeadLetters({ redis: runtime.opened.redis.redis, names: queueNames(prefix), keyPrefix: `${prefix}:` });
  const delivery: IntakeJobData = { surface: 'servicenow', deliveryId: '0123456789abcdef0123456789abcdef', headers: {}, body: '{"event":"ritm.inserted"}', receivedAt: '2025-03-01T10:00:00.000Z' };
  await letters.record(delivery, new SystemError('ServiceNow GET sc_req_item failed with 503'), 298);

  const listed = await api.get('/v1/deliveries/failed');
  assert.equal(listed.status, 200);
  assert.equal(listed.data.deliveries.length, 1);
  const [only] = listed.data.deliveries;
  assert.equal(only.id, 'servicenow:0123456789abcdef0123456789abcdef');
  assert.equal(only.attempts, 298);
  assert.deepEqual(only.lastError, { class: 'SystemError', code: 'system', message: 'ServiceNow GET sc_req_item failed with 503' });
  assert.equal(only.delivery, undefined, 'the body is never listed');
  assert.match((await api.get('/metrics')).data, /^ts_deliveries_dead 1$/m);

  const replayed = await api.post(`/v1/deliveries/${encodeURIComponent(only.id)}/replay`);
  assert.equal(replayed.status, 202);
  assert.equal(replayed.data.replay, 1);
  const job = await runtime.queues.intake.getJob(replayed.data.jobId);
  assert.equal(job?.id, deliveryJobId({ ...delivery, replay: 1 }));
  assert.equal(job?.data.body, delivery.body);
  assert.deepEqual((await api.get('/v1/deliveries/failed')).data, { deliveries: [] });
  assert.match((await api.get('/metrics')).data, /^ts_deliveries_dead 0$/m);

  const again = await api.post(`/v1/deliveries/${encodeURIComponent(only.id)}/replay`);
  assert.equal(again.status, 404);
  assert.equal(again.data.error.code, 'not_found');
});

/** Runs the CLI against the service's Redis and prefix. */
async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIo = { out: (t) => void (out += `${t}\n`), err: (t) => void (err += `${t}\n`), env: { REDIS_URL: redisUrl, REDIS_PREFIX: `${prefix}:`, LOG_LEVEL: 'silent' }, cwd: process.cwd() };
  return { code: await main(args, io), out, err };
}

test('failed ticket writes are listed without their text and replayed by an admin, through the API and the CLI', async () => {
  const letters = new NoticeDeadLetters({ redis: runtime.opened.redis.redis, names: queueNames(prefix), keyPrefix: `${prefix}:` });
  const notice: WorkflowNotice = { requestId: 'req_dead', message: 'refused', key: 'req_dead:refused:4', detail: { reason: 'a reason only the ticket may read' } };
  await letters.record(notice, new SystemError('Jira POST /rest/api/3/issue/INFRA-9/comment failed with 503'), 40);

  const reader = await apiAs(runtime, runtime.url!, 'dana', 'reader');
  const listed = await reader.get('/v1/notices/failed');
  assert.equal(listed.status, 200);
  assert.deepEqual(listed.data.notices.map((n: { id: string; requestId: string; attempts: number }) => [n.id, n.requestId, n.attempts]), [['req_dead:refused:4', 'req_dead', 40]]);
  assert.doesNotMatch(JSON.stringify(listed.data), /only the ticket/, 'the notice text is never listed');
  const refused = await reader.post(`/v1/notices/${encodeURIComponent(notice.key)}/replay`);
  assert.equal(refused.status, 403, 'a reader may not replay');
  assert.match((await cli(['notices', 'failed'])).out, /^req_dead:refused:4 {2}refused for req_dead {2}40 attempts {2}failed \S+\n {2}SystemError \(system\): Jira POST/m);

  const replayed = await api.post(`/v1/notices/${encodeURIComponent(notice.key)}/replay`);
  assert.equal(replayed.status, 202);
  assert.equal(replayed.data.replay, 1);
  const job = await runtime.queues.outbox.getJob(replayed.data.jobId);
  assert.deepEqual(job?.data, notice, 'the notice itself is queued again');
  assert.deepEqual((await api.get('/v1/notices/failed')).data, { notices: [] });
  assert.match((await cli(['notices', 'failed'])).out, /^no failed ticket writes$/m);
  const unknown = await cli(['notices', 'replay', notice.key]);
  assert.equal(unknown.code, 1, 'replayed already: no such dead letter');
});
