import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useRedis, uniqueName } from '../helpers/redis.ts';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/engine/logger.ts';
import { startRuntime, type Runtime } from '../../src/runtime.ts';
import { queueNames } from '../../src/queue/queues.ts';
import { waitFor } from '../../src/demo/story-steps.ts';

const redis = useRedis();
let runtime: Runtime;

before(async () => {
  await redis.ready();
  const prefix = uniqueName('crash');
  const config = loadConfig({ REDIS_URL: redis.url, REDIS_PREFIX: `${prefix}:`, DATA_DIR: mkdtempSync(join(tmpdir(), 'crash-')), LOG_LEVEL: 'silent' });
  runtime = await startRuntime({ config, logger: createLogger('silent'), http: false, workers: true, staleSweepMs: 100, queues: queueNames(prefix) });
  redis.cleanup(() => runtime.close());
});

test('a request left applying by a crashed worker is planned again once its deployment lock has expired, not failed for it', { timeout: 30_000 }, async () => {
  const { engine } = runtime.opened;
  const ctx = { actor: 'ops', surface: 'cli' as const };
  await engine.createProject({ id: 'shop' }, ctx);
  await engine.createEnvironment({ project: 'shop', name: 'dev', labels: {} }, ctx);
  const pkg = await engine.createPackage({ project: 'shop', environment: 'dev', name: 'cache', bundle: 'redis-cache', params: { key_prefix: 'shop', access_level: 'read-write' } }, ctx);
  let r = await engine.requests.createRequest({
    kind: 'provision',
    actor: { id: 'dana' },
    origin: { surface: 'cli', ref: 'manual-1' },
    project: 'shop',
    environment: 'dev',
    bundle: 'redis-cache',
    package: pkg.id,
  });
  for (const to of ['validated', 'planned', 'approved', 'applying'] as const) r = await engine.requests.transition(r.id, r.revision, to, { by: 'engine' });
  // The worker that was applying died: its deployment says running, and no one holds its lock.
  const dep = await engine.inventory.createDeployment({ package: pkg.id, action: 'apply', request: r.id, status: 'running' }, ctx);
  await engine.inventory.modify('deployment', dep.id, (d) => ({ ...d, fencingToken: 424242, steps: [{ path: 'src', provisioner: 'exec', status: 'running', log: [] }] }), ctx);

  // What the dead worker did is unknown: the deployment is failed and abandoned, the request planned again.
  const moved = await waitFor(async () => {
    const cur = await engine.requests.get(r.id);
    return cur.state !== 'applying' ? cur : undefined;
  }, 'the request resumed by the sweep', 20_000);
  // Re-planned (this test runtime has no Redis target for the bundle, so that plan fails), not failed for the dead worker.
  assert.ok(!moved.history.some((h) => h.reason === 'the worker applying this request stopped'), JSON.stringify(moved.history));
  const plans = (await engine.inventory.list('deployment', { request: r.id })).filter((d) => d.action === 'plan');
  assert.equal(plans.length, 1, 'planned again');
  const stale = await engine.inventory.get('deployment', dep.id);
  assert.deepEqual([stale.status, stale.abandoned], ['failed', true]);
});
