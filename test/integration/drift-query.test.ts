/**
 * The `drift` query: what has drifted, where, since when, from the packages' last drift checks;
 * field names and classes only, never their values. Asked the same way through the catalog, the
 * API and the command line.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { useRedis, uniqueName } from '../helpers/redis.ts';
import { apiAs } from '../helpers/api-tokens.ts';
import { main, type CliIo } from '../../src/cli.ts';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/engine/logger.ts';
import type { DriftFinding } from '../../src/engine/model.ts';
import { QueryCatalog } from '../../src/workflow/queries.ts';
import { startRuntime, type Runtime } from '../../src/runtime.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const redis = useRedis();
let dir: string;
let env: NodeJS.ProcessEnv;
let runtime: Runtime;
const ctx = { actor: 'platform-admin', surface: 'cli' as const };

const finding = (field: string, cls: DriftFinding['class'], since: string, extra: Partial<DriftFinding> = {}): DriftFinding => ({
  field, label: field.replace(/_/g, ' '), class: cls, owner: 'dev', proposal: cls === 'in_sync' ? 'none' : 'ask', lastApplied: 128, desired: 128, observed: 'hand-set-value', ...(cls === 'in_sync' ? {} : { since }), ...extra,
});

before(async () => {
  await redis.ready();
  dir = mkdtempSync(join(tmpdir(), 'drift-query-'));
  env = { REDIS_URL: redis.url, REDIS_PREFIX: `${uniqueName('driftquery')}:`, LOG_LEVEL: 'silent', DATA_DIR: join(dir, 'data'), PORT: '0' };
  runtime = await startRuntime({ config: loadConfig(env), logger: createLogger('silent'), http: true, workers: false });
  redis.cleanup(() => runtime.close());
  const { engine } = runtime.opened;
  for (const project of ['shop', 'blog']) {
    await engine.createProject({ id: project, name: project }, ctx);
    await engine.createEnvironment({ project, name: 'qa', labels: { production: false } }, ctx);
  }
  const drift: Record<string, DriftFinding[]> = {
    'shop-qa-cache': [finding('max_memory_mb', 'drifted', '2026-11-20T08:00:00.000Z'), finding('key_prefix', 'in_sync', '')],
    'shop-qa-sessions': [finding('max_memory_mb', 'in_sync', ''), finding('eviction_policy', 'drifted', '2026-11-22T09:30:00.000Z', { ignoredUntil: '2099-01-01T00:00:00.000Z' })],
    'blog-qa-cache': [finding('max_memory_mb', 'both_sides', '2026-11-23T10:00:00.000Z'), finding('redis_acl_user.app.enabled', 'reality_only', '2026-11-18T07:15:00.000Z')],
  };
  for (const [id, findings] of Object.entries(drift)) {
    const [project, , name] = id.split('-');
    await engine.createPackage({ project: project!, environment: `${project}-qa`, name: name!, bundle: 'redis-cache', params: { key_prefix: name, access_level: 'read-write' } }, ctx);
    await engine.inventory.modify('package', id, (p) => void (p.drift = { checkedAt: '2026-11-24T09:00:00.000Z', fingerprint: id, findings, decisions: [] }), ctx);
  }
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

test('drift lists the drifted packages, oldest drift first, with field names and classes only', async () => {
  const answer = await new QueryCatalog(runtime.opened.engine).ask({ name: 'drift' }, ctx);
  assert.deepEqual(answer.columns, ['project / environment', 'package', 'fields', 'since', 'checked']);
  assert.deepEqual(answer.rows, [
    ['blog / qa', 'cache', 'max memory mb (both sides), redis acl user.app.enabled (reality only)', '2026-11-18 07:15 UTC', '2026-11-24 09:00 UTC'],
    ['shop / qa', 'cache', 'max memory mb (drifted)', '2026-11-20 08:00 UTC', '2026-11-24 09:00 UTC'],
  ], 'in sync and ignored fields are not drift');
  assert.match(answer.footer!, /2 packages have drifted/);
  assert.ok(!JSON.stringify(answer).includes('hand-set-value'), 'no observed value is shown');

  const shop = await new QueryCatalog(runtime.opened.engine).ask({ name: 'drift', positional: ['shop'] }, ctx);
  assert.deepEqual(shop.rows.map((r) => r[1]), ['cache']);
  assert.equal((shop.data as { packages: { package: string }[] }).packages[0]!.package, 'shop-qa-cache');
});

test('the API and the command line answer drift from the same catalog', { timeout: 60_000 }, async () => {
  const erin = await apiAs(runtime, runtime.url!, 'erin', 'reader');
  const res = await erin.get('/v1/queries/drift', { params: { project: 'blog' } });
  assert.equal(res.status, 200);
  assert.deepEqual(res.data.rows.map((r: string[]) => r[0]), ['blog / qa']);

  let out = '';
  const io: CliIo = { out: (t) => void (out += `${t}\n`), err: () => undefined, env: { ...env, USER: 'erin' }, cwd: ROOT };
  assert.equal(await main(['query', 'drift', '--top', '1'], io), 0);
  assert.match(out, /blog \/ qa/);
  assert.match(out, /1 more package: ticket-surface query drift --top 2/);
});
