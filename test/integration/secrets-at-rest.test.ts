import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AxiosInstance } from 'axios';
import { useRedis, uniqueName } from '../helpers/redis.ts';
import { apiAs } from '../helpers/api-tokens.ts';
import { dumpRedis, writeProbeFixtures } from '../helpers/secrets.ts';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/engine/logger.ts';
import { MASK, REDACTED } from '../../src/engine/redact.ts';
import { startService, type RunningService } from '../../src/service.ts';
import type { AuditEvent, Package, Request } from '../../src/engine/model.ts';

// A package whose params carry a `$md.sensitive` value, connected to a redis-cache package whose
// artifact carries a generated password: both must be sealed in Redis, masked through the API,
// masked in the audit log, and still reach the steps that need them.
const redis = useRedis();
let service: RunningService;
let api: AxiosInstance;
let root: string;
let out: string;
const apiSecret = `canary-${randomBytes(9).toString('hex')}`;

before(async () => {
  await redis.ready();
  root = await mkdtemp(join(tmpdir(), 'secrets-at-rest-'));
  out = join(root, 'out');
  await mkdir(out);
  const { bundlePath, policyFile } = await writeProbeFixtures(root);
  process.env.TS_TARGET_REDIS_URL = redis.url;
  process.env.TS_TARGET_PROBE_OUT = out;
  const config = loadConfig({ REDIS_URL: redis.url, PORT: '0', REDIS_PREFIX: `${uniqueName('sec')}:`, LOG_LEVEL: 'silent', DATA_DIR: join(root, 'data'), BUNDLE_PATH: bundlePath, POLICY_FILE: policyFile });
  service = await startService(config, createLogger('silent'));
  redis.cleanup(() => service.close());
  // The directory's platform admin, who may create the project, the environment and the package.
  api = await apiAs(service.runtime, service.url, 'quinn', 'admin');
  assert.equal((await api.post('/v1/projects', { id: 'checkout' })).status, 201);
  assert.equal((await api.post('/v1/environments', { project: 'checkout', name: 'dev' })).status, 201);
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Files a request through the API and waits until the workflow is done with it. */
async function fileAndWait(body: Record<string, unknown>): Promise<Request> {
  const filed = await api.post('/v1/requests', { project: 'checkout', environment: 'dev', ...body });
  assert.equal(filed.status, 202, JSON.stringify(filed.data));
  for (let i = 0; i < 300; i++) {
    const r = (await api.get(`/v1/requests/${filed.data.id}`)).data as Request;
    if (['applied', 'failed', 'rejected', 'invalid'].includes(r.state)) return r;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`request ${filed.data.id} did not finish`);
}

test('sensitive params and artifact fields are sealed in Redis, masked in the API and the audit log, and reach the steps', { timeout: 120_000 }, async () => {
  const cache = await fileAndWait({ bundle: 'redis-cache', package: 'cache', params: { key_prefix: 'cache', access_level: 'read-write' } });
  assert.equal(cache.state, 'applied', JSON.stringify(cache.error ?? cache.issues));
  const { engine } = service.runtime.opened;
  const password = (await engine.getPackage('checkout-dev-cache', { reveal: true })).artifacts.authentication!.data as { authentication: { password: string } };
  const cachePassword = password.authentication.password;
  assert.match(cachePassword, /^[A-Za-z0-9_-]{32}$/);

  // The consumer: created with a sensitive param, connected to the cache, then applied by a request.
  const created = await api.post('/v1/packages', {
    project: 'checkout',
    environment: 'dev',
    name: 'probe',
    bundle: 'secret-probe',
    params: { label: 'probe', api_secret: apiSecret },
    connections: { cache: { package: 'checkout-dev-cache', artifact: 'authentication' } },
  });
  assert.equal(created.status, 201, JSON.stringify(created.data));
  assert.equal(created.data.desiredParams.api_secret, MASK);
  const probe = await fileAndWait({ kind: 'update', bundle: 'secret-probe', package: 'probe', params: { label: 'probe' } });
  assert.equal(probe.state, 'applied', JSON.stringify(probe.error ?? probe.issues));

  // The engine read both secrets back: the step got them in clear.
  const params = JSON.parse(await readFile(join(out, 'probe.params.json'), 'utf8'));
  const connections = JSON.parse(await readFile(join(out, 'probe.connections.json'), 'utf8'));
  assert.equal(params.api_secret, apiSecret);
  assert.equal(connections.cache.data.authentication.password, cachePassword);

  // Redis holds neither in clear: every key, every type, read whole.
  const dump = await dumpRedis(redis.client());
  assert.ok(!dump.includes(apiSecret), 'the sensitive param is stored in clear');
  assert.ok(!dump.includes(cachePassword), 'the artifact password is stored in clear');
  assert.match(dump, /enc:v1:[0-9a-f]{16}:/);

  // The API masks them.
  const shownProbe = (await api.get('/v1/packages/checkout-dev-probe')).data as Package;
  assert.equal(shownProbe.desiredParams.api_secret, MASK);
  assert.equal(shownProbe.lastAppliedParams!.api_secret, MASK);
  assert.equal(shownProbe.desiredParams.label, 'probe');
  const shownCache = (await api.get('/v1/packages/checkout-dev-cache')).data as Package;
  const auth = (shownCache.artifacts.authentication!.data as { authentication: Record<string, unknown> }).authentication;
  assert.equal(auth.password, MASK);
  assert.equal(auth.username, 'checkout-dev-cache', 'non-sensitive artifact fields are shown');
  const listed = JSON.stringify((await api.get('/v1/packages')).data);
  assert.ok(!listed.includes(apiSecret) && !listed.includes(cachePassword));

  // The audit log masks exactly the marked fields (the definition-aware redactor is wired in).
  const events = (await api.get('/v1/audit', { params: { limit: 1000 } })).data.events as AuditEvent[];
  const text = JSON.stringify(events);
  assert.ok(!text.includes(apiSecret) && !text.includes(cachePassword));
  const artifactEvent = events.find((e) => e.subject.id === 'checkout-dev-cache' && JSON.stringify(e.after ?? {}).includes('"artifacts":{"authentication"'));
  const audited = (artifactEvent!.after as { artifacts: { authentication: { data: { authentication: Record<string, unknown> } } } }).artifacts.authentication.data.authentication;
  assert.equal(audited.password, REDACTED);
  assert.equal(audited.username, 'checkout-dev-cache');
});

test('a $md.sensitive param given at request time is masked in GET /v1/requests/{id} and the list, and sealed in Redis', { timeout: 60_000 }, async () => {
  const secret = `request-canary-${randomBytes(9).toString('hex')}`;
  const filed = await api.post('/v1/requests', { project: 'checkout', environment: 'dev', bundle: 'secret-probe', package: 'probe-two', params: { label: 'two', api_secret: secret } });
  assert.equal(filed.status, 202);
  assert.equal(filed.data.submitted.api_secret, MASK, 'the answer to the filing masks it too');
  assert.ok(!JSON.stringify(filed.data).includes(secret));
  const shown = await api.get(`/v1/requests/${filed.data.id}`);
  assert.equal(shown.status, 200);
  assert.equal(shown.data.submitted.api_secret, MASK);
  assert.equal(shown.data.submitted.label, 'two');
  assert.ok(!JSON.stringify(shown.data).includes(secret));
  assert.ok(!JSON.stringify((await api.get('/v1/requests')).data).includes(secret));
  assert.ok(!(await dumpRedis(redis.client())).includes(secret), 'the answer is stored in clear');
  const stored = await service.runtime.opened.engine.requests.get(filed.data.id);
  assert.equal(stored.submitted!.api_secret, secret, 'the engine itself still reads the answer');
});
