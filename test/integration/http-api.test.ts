import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import type { AxiosInstance } from 'axios';
import { useRedis, uniqueName } from '../helpers/redis.ts';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/engine/logger.ts';
import { startService, type RunningService } from '../../src/service.ts';
import { apiAs } from '../helpers/api-tokens.ts';

const redis = useRedis();
let service: RunningService;
let api: AxiosInstance;
let dana: AxiosInstance;
let ari: AxiosInstance;

before(async () => {
  await redis.ready();
  // The example redis-cache bundle acts on this server (ops point bundles at servers with TS_TARGET_*).
  process.env.TS_TARGET_REDIS_URL = redis.url;
  const config = loadConfig({ REDIS_URL: redis.url, PORT: '0', REDIS_PREFIX: `${uniqueName('http')}:`, LOG_LEVEL: 'silent' });
  service = await startService(config, createLogger('silent'));
  redis.cleanup(() => service.close());
  // Quinn is the platform admin of examples/directory.yaml; Dana a requester; Ari an approver.
  api = await apiAs(service.runtime, service.url, 'quinn', 'admin');
  dana = await apiAs(service.runtime, service.url, 'dana', 'requester');
  ari = await apiAs(service.runtime, service.url, 'ari', 'approver');
});

const goodParams = {
  database_name: 'checkout_orders',
  username: 'checkout_app',
  expected_size_gib: 50,
  production_critical: false,
  owner_team: 'checkout',
};

test('health, readiness and metrics answer', async () => {
  assert.deepEqual((await api.get('/healthz')).data, { status: 'ok' });
  assert.deepEqual((await api.get('/readyz')).data, { status: 'ready' });
  const m = await api.get('/metrics');
  assert.equal(m.status, 200);
  assert.match(String(m.headers['content-type']), /text\/plain/);
  assert.match(m.data as string, /# TYPE ts_http_request_duration_seconds histogram/);
});

test('bundles are listed with their versions, newest first', async () => {
  const r = await api.get('/v1/bundles');
  assert.equal(r.status, 200);
  // No ETag is computed for API answers (they are never revalidated).
  assert.equal(r.headers['etag'], undefined);
  const app = r.data.bundles.find((b: { name: string }) => b.name === 'checkout-api');
  assert.deepEqual(app.versions.slice(0, 2), ['2.14.0', '2.13.2']);
});

test('project, environment and package are created, audited and read back with revisions', async () => {
  assert.equal((await api.post('/v1/projects', { id: 'checkout' })).status, 201);
  const env = await api.post('/v1/environments', { project: 'checkout', name: 'staging', labels: { production: false } });
  assert.equal(env.status, 201);
  assert.equal(env.data.id, 'checkout-staging');
  const pkg = await api.post('/v1/packages', { project: 'checkout', environment: 'staging', name: 'orders-db', bundle: 'postgres-database', params: goodParams });
  assert.equal(pkg.status, 201, JSON.stringify(pkg.data));
  assert.equal(pkg.data.id, 'checkout-staging-orders-db');
  assert.equal(pkg.data.revision, 1);
  assert.equal(pkg.data.version, '1.4.0');
  assert.equal(typeof pkg.data.costMonthly, 'number');

  const audit = await api.get('/v1/audit', { params: { subject: 'package:checkout-staging-orders-db' } });
  assert.equal(audit.data.events.length, 1);
  assert.equal(audit.data.events[0].actor, 'quinn');
  assert.equal(audit.data.events[0].surface, 'http');
});

test('params failing the schema: 400 listing JSON pointer and field title, nothing written', async () => {
  const r = await api.post('/v1/packages', {
    project: 'checkout',
    environment: 'staging',
    name: 'bad-db',
    bundle: 'postgres-database',
    params: { ...goodParams, expected_size_gib: 2, database_name: 'Bad Name' },
  });
  assert.equal(r.status, 400);
  const issues = r.data.error.issues as { pointer: string; field: string; message: string }[];
  const size = issues.find((i) => i.pointer === '/params/expected_size_gib');
  assert.ok(size, JSON.stringify(issues));
  assert.equal(size.field, 'Expected data size (GiB)');
  assert.match(size.message, /at least 10/);
  assert.ok(issues.some((i) => i.pointer === '/params/database_name' && /lowercase letter/.test(i.message)));
  assert.equal((await api.get('/v1/packages/checkout-staging-bad-db')).status, 404);
});

test('unknown bundle, version and environment are 404 with the name', async () => {
  const b = await api.post('/v1/packages', { project: 'checkout', environment: 'staging', name: 'x', bundle: 'nope', params: {} });
  assert.equal(b.status, 404);
  assert.match(b.data.error.message, /nope/);
  const v = await api.post('/v1/packages', { project: 'checkout', environment: 'staging', name: 'x', bundle: 'postgres-database', version: '9.9.9', params: goodParams });
  assert.equal(v.status, 404);
  assert.match(v.data.error.message, /9\.9\.9/);
  const e = await api.post('/v1/packages', { project: 'checkout', environment: 'moon', name: 'x', bundle: 'postgres-database', params: goodParams });
  assert.equal(e.status, 404);
  assert.match(e.data.error.message, /checkout-moon/);
});

test('malformed JSON and missing fields are 400 naming the field', async () => {
  const r = await api.post('/v1/environments', '{"project": ', { headers: { 'content-type': 'application/json' } });
  assert.equal(r.status, 400);
  const m = await api.post('/v1/environments', { name: 'dev' });
  assert.equal(m.status, 400);
  assert.equal(m.data.error.issues[0].pointer, '/project');
});

test('a write based on a stale revision is refused with 409', async () => {
  const p = await api.get('/v1/packages/checkout-staging-orders-db');
  const first = await api.patch('/v1/packages/checkout-staging-orders-db', { revision: p.data.revision, params: { ...goodParams, expected_size_gib: 60 } });
  assert.equal(first.status, 200);
  assert.equal(first.data.revision, p.data.revision + 1);
  const stale = await api.patch('/v1/packages/checkout-staging-orders-db', { revision: p.data.revision, params: { ...goodParams, expected_size_gib: 70 } });
  assert.equal(stale.status, 409);
  assert.equal(stale.data.error.code, 'conflict');
  const now = await api.get('/v1/packages/checkout-staging-orders-db');
  assert.equal(now.data.desiredParams.expected_size_gib, 60);
});

test('attestations are added to a known version only, and audited', async () => {
  const r = await api.post('/v1/bundles/checkout-api/versions/2.14.0/attestations', { kind: 'qa-signed', by: 'quinn' });
  assert.equal(r.status, 201);
  assert.equal(r.data.by, 'quinn');
  const list = await api.get('/v1/bundles/checkout-api/versions/2.14.0/attestations');
  assert.equal(list.data.attestations[0].kind, 'qa-signed');
  const unknown = await api.post('/v1/bundles/checkout-api/versions/0.0.1/attestations', { kind: 'qa-signed', by: 'quinn' });
  assert.equal(unknown.status, 404);
  const verify = await api.get('/v1/audit/verify');
  assert.equal(verify.status, 200);
  assert.equal(verify.data.ok, true);
  assert.ok(verify.data.count >= 4);
});

test('a connection accepts only an artifact of its declared type', async () => {
  const cache = await api.post('/v1/packages', { project: 'checkout', environment: 'staging', name: 'cache', bundle: 'redis-cache', params: { key_prefix: 'checkout', access_level: 'read-write' } });
  assert.equal(cache.status, 201, JSON.stringify(cache.data));
  const wrong = await api.post('/v1/packages', {
    project: 'checkout',
    environment: 'staging',
    name: 'api',
    bundle: 'checkout-api',
    version: '2.13.2',
    params: { replicas: 2, log_level: 'info' },
    connections: { database: { package: 'checkout-staging-cache', artifact: 'authentication' } },
  });
  assert.equal(wrong.status, 400, JSON.stringify(wrong.data));
  const issue = wrong.data.error.issues.find((i: { pointer: string }) => i.pointer === '/connections/database');
  assert.ok(issue, JSON.stringify(wrong.data));
  assert.match(issue.message, /postgresql-authentication/);
  assert.equal((await api.get('/v1/packages/checkout-staging-api')).status, 404);
  const right = await api.post('/v1/packages', {
    project: 'checkout',
    environment: 'staging',
    name: 'api',
    bundle: 'checkout-api',
    version: '2.13.2',
    params: { replicas: 2, log_level: 'info' },
    connections: { database: { package: 'checkout-staging-orders-db', artifact: 'authentication' }, cache: { package: 'checkout-staging-cache', artifact: 'authentication' } },
  });
  assert.equal(right.status, 201, JSON.stringify(right.data));
  assert.deepEqual(right.data.connections.database, { package: 'checkout-staging-orders-db', artifact: 'authentication' });
});

test('a request filed through the API runs the same workflow as a ticket, and approvals go through policy', { timeout: 60_000 }, async () => {
  assert.equal((await api.post('/v1/environments', { project: 'checkout', name: 'dev' })).status, 201);
  const bad = await dana.post('/v1/requests', { project: 'checkout', environment: 'dev', bundle: 'redis-cache' });
  assert.equal(bad.status, 400);
  assert.equal(bad.data.error.issues[0].pointer, '/package');
  // dana is in examples/directory.yaml; her token names her, so she is the requester.
  const filed = await dana.post('/v1/requests', { project: 'checkout', environment: 'dev', bundle: 'redis-cache', package: 'sessions', params: { key_prefix: 'sessions', access_level: 'read-only' } });
  assert.equal(filed.status, 202, JSON.stringify(filed.data));
  assert.equal(filed.data.origin.surface, 'http');
  assert.deepEqual([filed.data.actor.id, filed.data.actor.person], ['dana', 'dana']);
  const id = filed.data.id as string;
  // dev needs no approval and has no window: the plan applies for real.
  let state = '';
  for (let i = 0; i < 200 && !['applied', 'failed', 'rejected', 'invalid'].includes(state); i++) {
    await new Promise((r) => setTimeout(r, 100));
    state = (await api.get(`/v1/requests/${id}`)).data.state;
  }
  const done = (await api.get(`/v1/requests/${id}`)).data;
  assert.equal(state, 'applied', JSON.stringify({ decisions: done.decisions, error: done.error, issues: done.issues }));
  // The ACL user exists on the real server now.
  const users = (await redis.client().call('ACL', 'USERS')) as string[];
  assert.ok(users.some((u) => u.includes('sessions')), users.join(','));
  const pkg = (await api.get('/v1/packages/checkout-dev-sessions')).data;
  assert.equal(pkg.status, 'ready');
  assert.equal(JSON.stringify(pkg.artifacts).includes('"password":"[sensitive]"') || !/"password":"[^[]/.test(JSON.stringify(pkg.artifacts)), true, 'no password through the API');
  const approve = await ari.post(`/v1/requests/${id}/approve`, {});
  assert.equal(approve.status, 403);
  assert.match(approve.data.message, /not awaiting approval/);
  const audit = await api.get('/v1/audit', { params: { request: id } });
  assert.ok(audit.data.events.some((e: { action: string; surface: string }) => e.action === 'request.approval_refused' && e.surface === 'http'));
});
