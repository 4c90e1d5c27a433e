import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AxiosInstance } from 'axios';
import { useRedis, uniqueName } from '../helpers/redis.ts';
import { apiClient, tokenFor, ADMIN_CLI_USER } from '../helpers/api-tokens.ts';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/engine/logger.ts';
import { ForbiddenError, NotAuthenticatedError } from '../../src/workflow/authorize.ts';
import { ValidationError } from '../../src/engine/errors.ts';
import { startRuntime, type Runtime } from '../../src/runtime.ts';

// The people are those of examples/directory.yaml: Quinn (admin), Dana (requester), Ari (an
// approver through platform-approvers), Erin (reader), Former (inactive).
const redis = useRedis();
const METRICS_TOKEN = 'metrics-token-0123456789';
let runtime: Runtime;
let url: string;
let prefix: string;
/** Moves the service's clock (token expiry) without waiting. */
let offsetMs = 0;
const admin = () => runtime.authorizer.cliPrincipal(ADMIN_CLI_USER);

before(async () => {
  await redis.ready();
  prefix = `${uniqueName('auth')}:`;
  const dir = mkdtempSync(join(tmpdir(), 'auth-api-'));
  redis.cleanup(() => rmSync(dir, { recursive: true, force: true }));
  const config = loadConfig({ REDIS_URL: redis.url, PORT: '0', REDIS_PREFIX: prefix, LOG_LEVEL: 'silent', DATA_DIR: dir, METRICS_TOKEN });
  runtime = await startRuntime({ config, logger: createLogger('silent'), http: true, workers: false, clock: { now: () => new Date(Date.now() + offsetMs) } });
  redis.cleanup(() => runtime.close());
  url = runtime.url!;
});

async function as(person: string, role: Parameters<typeof tokenFor>[2]): Promise<AxiosInstance> {
  return apiClient(url, await tokenFor(runtime, person, role));
}

test('no credential: 401 with WWW-Authenticate, and an X-Actor header grants nothing', async () => {
  const anonymous = apiClient(url);
  const r = await anonymous.get('/v1/bundles');
  assert.equal(r.status, 401);
  assert.equal(r.data.error.code, 'unauthorized');
  assert.match(r.data.error.message, /missing credential/);
  assert.equal(r.headers['www-authenticate'], 'Bearer realm="ticket-surface"');
  // The old way of naming the caller: ignored, for reads and for writes alike.
  const claimed = await anonymous.post('/v1/projects', { id: 'claimed' }, { headers: { 'x-actor': 'quinn' } });
  assert.equal(claimed.status, 401);
  assert.equal((await anonymous.get('/v1/requests', { headers: { 'x-actor': 'quinn' } })).status, 401);
  const quinn = await as('quinn', 'admin');
  assert.equal((await quinn.get('/v1/projects')).data.projects.some((p: { id: string }) => p.id === 'claimed'), false, 'nothing was created');
  // With a token, an X-Actor naming someone else changes nothing: the token's person acts.
  const created = await quinn.post('/v1/projects', { id: 'shop' }, { headers: { 'x-actor': 'mallory' } });
  assert.equal(created.status, 201);
  const events = (await quinn.get('/v1/audit', { params: { subject: 'project:shop' } })).data.events;
  assert.deepEqual(events.map((e: { actor: string; surface: string }) => [e.actor, e.surface]), [['quinn', 'http']]);
  // Health and readiness stay open.
  assert.equal((await anonymous.get('/healthz')).status, 200);
  assert.equal((await anonymous.get('/readyz')).status, 200);
});

test('a wrong credential is 401 saying what was wrong', async () => {
  const cases: [string, RegExp][] = [
    ['Basic cXVpbm46cXVpbm4=', /must read: Bearer/],
    ['Bearer not-a-token', /unknown token/],
    [`Bearer tsk_tk0123456789_${'A'.repeat(43)}`, /unknown API token/],
    ['Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln', /OpenID Connect tokens are not accepted here/],
  ];
  for (const [authorization, message] of cases) {
    const r = await apiClient(url).get('/v1/bundles', { headers: { authorization } });
    assert.equal(r.status, 401, authorization);
    assert.match(r.data.error.message, message);
    assert.match(String(r.headers['www-authenticate']), /^Bearer realm="ticket-surface", error="invalid_token", error_description="/);
  }
  // A real token with one character changed is unknown too.
  const token = await tokenFor(runtime, 'erin', 'reader');
  const tampered = token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A');
  assert.match((await apiClient(url, tampered).get('/v1/bundles')).data.error.message, /unknown API token/);
});

test('API tokens: shown once, stored only as a SHA-256 hash, listed without it, revoked at once', async () => {
  const issued = await runtime.tokens.create({ person: 'erin', role: 'reader', label: 'dashboards' }, admin());
  assert.match(issued.token, /^tsk_tk[0-9a-f]{10}_[\w-]{43}$/);
  assert.equal(issued.record.person, 'erin');
  const stored = await redis.client().hgetall(`${prefix}api-tokens`);
  const raw = JSON.stringify(stored);
  assert.equal(raw.includes(issued.token), false, 'the token text is not stored');
  assert.equal(raw.includes(issued.token.slice(-43)), false, 'nor its secret part');
  const { createHash } = await import('node:crypto');
  assert.ok(raw.includes(createHash('sha256').update(issued.token).digest('hex')), 'its hash is');
  const listed = await runtime.tokens.list(admin(), { person: 'erin' });
  const mine = listed.find((t) => t.id === issued.record.id)!;
  assert.deepEqual(Object.keys(mine).sort(), ['createdAt', 'createdBy', 'id', 'label', 'person', 'role']);
  assert.equal(mine.createdBy, 'quinn');

  const erin = apiClient(url, issued.token);
  assert.equal((await erin.get('/v1/bundles')).status, 200);
  await runtime.tokens.revoke(issued.record.id, admin(), 'rotated');
  const after = await erin.get('/v1/bundles');
  assert.equal(after.status, 401);
  assert.match(after.data.error.message, new RegExp(`API token ${issued.record.id} was revoked`));
  assert.equal((await runtime.tokens.list(admin(), { person: 'erin' })).some((t) => t.id === issued.record.id), false);
  assert.ok((await runtime.tokens.list(admin(), { person: 'erin', includeRevoked: true })).find((t) => t.id === issued.record.id)?.revokedAt);

  const audit = await runtime.opened.engine.listAudit({ subject: { type: 'api-token', id: issued.record.id } });
  assert.deepEqual(audit.map((e) => [e.action, e.actor, e.surface]), [['token.create', ADMIN_CLI_USER, 'cli'], ['token.revoke', ADMIN_CLI_USER, 'cli']]);
  assert.equal(JSON.stringify(audit).includes(issued.token.slice(-43)), false, 'the audit log never holds the secret');
});

test('an expired token is 401 "expired"', async () => {
  const issued = await runtime.tokens.create({ person: 'erin', role: 'reader', expiresAt: new Date(Date.now() + offsetMs + 3_600_000) }, admin());
  const erin = apiClient(url, issued.token);
  assert.equal((await erin.get('/v1/bundles')).status, 200);
  offsetMs += 2 * 3_600_000;
  try {
    const r = await erin.get('/v1/bundles');
    assert.equal(r.status, 401);
    assert.match(r.data.error.message, /API token tk[0-9a-f]{10} expired at/);
  } finally {
    offsetMs = 0;
  }
});

test('tokens are made only by admins, only for listed, active people, and only for a role they hold', async () => {
  const dana = runtime.authorizer.cliPrincipal('dana');
  await assert.rejects(runtime.tokens.create({ person: 'dana', role: 'requester' }, dana), (e: unknown) => e instanceof ForbiddenError && /managing API tokens needs the admin role; Dana Developer holds requester/.test(e.message));
  await assert.rejects(runtime.tokens.list(dana), ForbiddenError);
  await assert.rejects(runtime.tokens.create({ person: 'ghost', role: 'reader' }, admin()), (e: unknown) => e instanceof ValidationError && /lists no person "ghost"/.test(e.message));
  await assert.rejects(runtime.tokens.create({ person: 'dana', role: 'admin' }, admin()), /Dana Developer does not hold the admin role/);
  await assert.rejects(runtime.tokens.create({ person: 'dana', role: 'approver' }, admin()), /does not hold the approver role/);
  await assert.rejects(runtime.tokens.create({ person: 'former', role: 'reader' }, admin()), /Former Approver is not active/);
  assert.throws(() => runtime.authorizer.cliPrincipal('mallory'), NotAuthenticatedError);
  const refused = await runtime.opened.engine.listAudit({ actor: 'dana' });
  assert.ok(refused.some((e) => e.action === 'authz.refused' && (e.after as { action: string }).action === 'token.manage'));
});

test('a valid token without the right is 403 naming the role needed, and every refusal is audited', async () => {
  const erin = await as('erin', 'reader');
  const dana = await as('dana', 'requester');
  const quinnReading = await as('quinn', 'reader');
  const cases: [AxiosInstance, () => Promise<{ status: number; data: { error: { code: string; message: string } } }>, RegExp][] = [
    [erin, () => erin.post('/v1/projects', { id: 'nope' }), /creating a project needs the admin role; Erin Auditor holds reader/],
    [dana, () => dana.post('/v1/environments', { project: 'shop', name: 'dev' }), /creating an environment needs the admin role; Dana Developer holds requester/],
    [dana, () => dana.post('/v1/bundles/redis-cache/versions/1.0.0/attestations', { kind: 'qa-signed', by: 'dana' }), /attesting a bundle version needs the admin role/],
    [erin, () => erin.post('/v1/requests', { project: 'shop', environment: 'dev', bundle: 'redis-cache', package: 'x' }), /filing a request needs the requester role; Erin Auditor holds reader/],
    [dana, () => dana.post('/v1/requests/r-none/approve', {}), /approving a request needs the approver role; Dana Developer is in none of the policy's approval groups/],
    [quinnReading, () => quinnReading.post('/v1/projects', { id: 'nope' }), /creating a project needs the admin role; the API token tk[0-9a-f]{10} allows only the reader role/],
  ];
  const head = (await runtime.opened.engine.inventory.audit.head()).seq;
  for (const [, call, message] of cases) {
    const r = await call();
    assert.equal(r.status, 403, message.source);
    assert.equal(r.data.error.code, 'forbidden');
    assert.match(r.data.error.message, message);
  }
  const refusals = (await runtime.opened.engine.listAudit({ after: head, limit: 100 })).filter((e) => e.action === 'authz.refused');
  assert.deepEqual(
    refusals.map((e) => [e.actor, e.surface, (e.after as { action: string }).action, (e.after as { needs: string }).needs]),
    [
      ['erin', 'http', 'project.create', 'the admin role'],
      ['dana', 'http', 'environment.create', 'the admin role'],
      ['dana', 'http', 'bundle.attest', 'the admin role'],
      ['erin', 'http', 'request.file', 'the requester role'],
      ['dana', 'http', 'request.approve', 'the approver role'],
      ['quinn', 'http', 'project.create', 'the admin role'],
    ],
  );
  assert.ok(refusals.every((e) => typeof e.reason === 'string' && e.reason.includes('needs')), 'each says why');
  // Readers read: every GET route, the audit trail and the queries.
  for (const path of ['/v1/bundles', '/v1/projects', '/v1/requests', '/v1/audit', '/v1/audit/verify', '/v1/queries']) assert.equal((await erin.get(path)).status, 200, path);
});

test('a token whose person the directory no longer lists is refused as an unknown person', async () => {
  const issued = await runtime.tokens.create({ person: 'erin', role: 'reader' }, admin());
  // What a directory edit that removed Erin looks like to the stored token.
  const key = `${prefix}api-tokens`;
  const record = JSON.parse((await redis.client().hget(key, issued.record.id))!) as Record<string, unknown>;
  await redis.client().hset(key, issued.record.id, JSON.stringify({ ...record, person: 'erin-who-left' }));
  const r = await apiClient(url, issued.token).get('/v1/bundles');
  assert.equal(r.status, 401);
  assert.match(r.data.error.message, /belongs to "erin-who-left", whom the directory does not list/);
});

test('/metrics needs METRICS_TOKEN when it is set (an API token does not open it)', async () => {
  const none = await apiClient(url).get('/metrics');
  assert.equal(none.status, 401);
  assert.equal(none.headers['www-authenticate'], 'Bearer realm="ticket-surface"');
  assert.equal((await apiClient(url, 'not-the-metrics-token-at-all').get('/metrics')).status, 401);
  assert.equal((await apiClient(url, await tokenFor(runtime, 'quinn', 'admin')).get('/metrics')).status, 401);
  const ok = await apiClient(url, METRICS_TOKEN).get('/metrics');
  assert.equal(ok.status, 200);
  assert.match(ok.data as string, /ts_http_request_duration_seconds/);
});
