/**
 * Drift checks from the command line (`ticket-surface drift check <package>`) and the API
 * (`POST /v1/packages/{id}/drift-check`): a hand change to a real Redis cache is printed and
 * answered, the exit code says whether reality is in sync, and the API asks for `drift.check`.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { useRedis, uniqueName } from '../helpers/redis.ts';
import { apiAs, apiClient } from '../helpers/api-tokens.ts';
import { main, type CliIo } from '../../src/cli.ts';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/engine/logger.ts';
import { startRuntime, type Runtime } from '../../src/runtime.ts';
import { waitFor } from '../../src/demo/story-steps.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
// No drift section: every environment asks.
const POLICY = `version: 1
environments:
  - name: qa
    match: { names: [qa] }
    requesters: anyone
    approvals: none
`;

const redis = useRedis();
let dir: string;
let env: NodeJS.ProcessEnv;
let runtime: Runtime;
const PKG = 'shop-qa-cache';

before(async () => {
  await redis.ready();
  dir = mkdtempSync(join(tmpdir(), 'drift-cli-'));
  writeFileSync(join(dir, 'policy.yaml'), POLICY);
  process.env.TS_TARGET_REDIS_URL = redis.url;
  env = { REDIS_URL: redis.url, REDIS_PREFIX: `${uniqueName('driftcli')}:`, LOG_LEVEL: 'silent', DATA_DIR: join(dir, 'data'), POLICY_FILE: join(dir, 'policy.yaml'), PORT: '0' };
  runtime = await startRuntime({ config: loadConfig(env), logger: createLogger('silent'), http: true, workers: true });
  redis.cleanup(() => runtime.close());
  const ctx = { actor: 'platform-admin', surface: 'cli' as const };
  await runtime.opened.engine.createProject({ id: 'shop', name: 'Shop' }, ctx);
  await runtime.opened.engine.createEnvironment({ project: 'shop', name: 'qa', labels: { production: false } }, ctx);
  const r = await runtime.workflow.submit({
    kind: 'provision', actor: { id: 'dana', displayName: 'Dana Developer' }, origin: { surface: 'cli', ref: 'cli-drift-cache' }, project: 'shop', bundle: 'redis-cache',
    answers: { request_environment: 'qa', request_package: 'cache', key_prefix: 'cache', access_level: 'read-write', max_memory_mb: 128 },
  });
  await waitFor(async () => {
    const now = await runtime.opened.engine.requests.get(r.id);
    if (['failed', 'invalid', 'rejected'].includes(now.state)) throw new Error(`request ${now.state}`);
    return now.state === 'applied' ? now : undefined;
  }, 'the cache applied', 60_000);
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Runs the CLI as the operating-system user `as`. */
async function cli(args: string[], as: string): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIo = { out: (t) => void (out += `${t}\n`), err: (t) => void (err += `${t}\n`), env: { ...env, USER: as }, cwd: ROOT };
  const code = await main(args, io);
  return { code, out, err };
}

test('ticket-surface drift check: exit 0 in sync, exit 1 with the drifted field after a hand change', { timeout: 90_000 }, async () => {
  const clean = await cli(['drift', 'check', PKG], 'dana');
  assert.equal(clean.code, 0, clean.err);
  assert.match(clean.out, /✔ shop-qa-cache is in sync/);

  await redis.client().call('HSET', '_redis-cache:settings:shop-qa-cache', 'max_memory_mb', '512');
  const drifted = await cli(['drift', 'check', PKG], 'dana');
  assert.equal(drifted.code, 1);
  assert.match(drifted.out, /max_memory_mb: drifted; last applied 128, desired 128, observed 512; owner dev; proposal ask/);
  const json = await cli(['drift', 'check', PKG, '--json'], 'dana');
  const parsed = JSON.parse(json.out) as { inSync: boolean; findings: { field: string; observed: unknown }[] };
  assert.equal(parsed.inSync, false);
  assert.equal(parsed.findings.find((f) => f.field === 'max_memory_mb')?.observed, 512);
  assert.equal((await runtime.opened.engine.inventory.get('package', PKG)).desiredParams.max_memory_mb, 128, 'a check decides nothing');

  const nobody = await cli(['drift', 'check', PKG], 'mallory');
  assert.notEqual(nobody.code, 0);
  assert.match(nobody.err, /no person with CLI user "mallory"/);
});

test('POST /v1/packages/{id}/drift-check answers the findings to a requester; a reader and no token are refused', { timeout: 60_000 }, async () => {
  const dana = await apiAs(runtime, runtime.url!, 'dana', 'requester');
  const res = await dana.post(`/v1/packages/${PKG}/drift-check`);
  assert.equal(res.status, 200);
  assert.equal(res.data.package, PKG);
  assert.equal(res.data.inSync, false);
  const mem = (res.data.findings as { field: string; class: string; observed: unknown; lastApplied: unknown }[]).find((f) => f.field === 'max_memory_mb')!;
  assert.deepEqual([mem.class, mem.lastApplied, mem.observed], ['drifted', 128, 512]);

  const erin = await apiAs(runtime, runtime.url!, 'erin', 'reader');
  assert.equal((await erin.post(`/v1/packages/${PKG}/drift-check`)).status, 403);
  assert.equal((await apiClient(runtime.url!).post(`/v1/packages/${PKG}/drift-check`)).status, 401);
  assert.equal((await dana.post('/v1/packages/shop-qa-nothing/drift-check')).status, 404);
});
