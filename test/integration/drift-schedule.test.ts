/**
 * Scheduled drift checks: the workers keep one repeatable job per environment at the cadence
 * drift policy gives it (`check_every`), none for an environment checked only on demand, and a
 * hand change to a real Redis cache is found, and its ticket told, without anyone asking.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useRedis, uniqueName } from '../helpers/redis.ts';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/engine/logger.ts';
import { queueNames } from '../../src/queue/queues.ts';
import { DriftSchedule } from '../../src/queue/drift-schedule.ts';
import { startRuntime, type Runtime } from '../../src/runtime.ts';
import { waitFor } from '../../src/demo/story-steps.ts';

const POLICY = `version: 1
environments:
  - name: any
    match: { names: [qa, stage, dev] }
    requesters: anyone
    approvals: none
drift:
  environments:
    - match: { names: [qa] }
      check_every: 2h
    - match: { names: [stage] }
      check_every: 30m
`;

const redis = useRedis();
let dir: string;
let runtime: Runtime;
let prefix: string;
const ctx = { actor: 'platform-admin', surface: 'cli' as const };

before(async () => {
  await redis.ready();
  dir = mkdtempSync(join(tmpdir(), 'drift-schedule-'));
  writeFileSync(join(dir, 'policy.yaml'), POLICY);
  process.env.TS_TARGET_REDIS_URL = redis.url;
  prefix = uniqueName('driftsched');
  const config = loadConfig({ REDIS_URL: redis.url, REDIS_PREFIX: `${prefix}:`, LOG_LEVEL: 'silent', DATA_DIR: join(dir, 'data'), POLICY_FILE: join(dir, 'policy.yaml') });
  runtime = await startRuntime({ config, logger: createLogger('silent'), http: false, workers: true, queues: queueNames(prefix), driftSchedule: { resyncMs: 200 } });
  redis.cleanup(() => runtime.close());
  await runtime.opened.engine.createProject({ id: 'shop', name: 'Shop' }, ctx);
  for (const name of ['qa', 'stage', 'dev']) await runtime.opened.engine.createEnvironment({ project: 'shop', name, labels: { production: false } }, ctx);
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

test('each environment with check_every is scheduled at its cadence; one without is not', { timeout: 30_000 }, async () => {
  const scheduled = await waitFor(async () => {
    const s = await runtime.driftSchedule!.scheduled();
    return Object.keys(s).length === 2 ? s : undefined;
  }, 'two drift schedules');
  assert.deepEqual(scheduled, { 'shop-qa': 2 * 3_600_000, 'shop-stage': 30 * 60_000 });
});

test('with a short cadence, a hand change is found and its ticket told without anyone asking', { timeout: 120_000 }, async () => {
  const r = await runtime.workflow.submit({
    kind: 'provision', actor: { id: 'dana', displayName: 'Dana Developer' }, origin: { surface: 'cli', ref: 'cli-sched-cache' }, project: 'shop', bundle: 'redis-cache',
    answers: { request_environment: 'qa', request_package: 'cache', key_prefix: 'cache', access_level: 'read-write', max_memory_mb: 128 },
  });
  await waitFor(async () => {
    const now = await runtime.opened.engine.requests.get(r.id);
    if (['failed', 'invalid', 'rejected'].includes(now.state)) throw new Error(`request ${now.state}`);
    return now.state === 'applied' ? now : undefined;
  }, 'the cache applied', 60_000);
  // The same schedule at a test's cadence, on its own queue: the workers' own runs every 2 h.
  const fast = new DriftSchedule({
    connection: runtime.opened.redis.redis,
    name: `${queueNames(prefix).drift}-fast`,
    check: (id) => runtime.drift.check(id),
    environments: () => runtime.opened.engine.inventory.list('environment', {}),
    packages: (environment) => runtime.opened.engine.inventory.list('package', { environment }),
    cadence: (env) => (env.name === 'qa' ? 300 : undefined),
    logger: createLogger('silent'),
  });
  await fast.start();
  try {
    await redis.client().call('HSET', '_redis-cache:settings:shop-qa-cache', 'max_memory_mb', '512');
    const pkg = await waitFor(async () => {
      const p = await runtime.opened.engine.inventory.get('package', 'shop-qa-cache');
      return p.drift?.findings.some((f) => f.field === 'max_memory_mb' && f.class === 'drifted') ? p : undefined;
    }, 'the scheduled check finding the hand change', 60_000);
    assert.equal(pkg.desiredParams.max_memory_mb, 128, 'the check decides nothing (qa asks)');
    const history = await runtime.opened.engine.inventory.history('package', 'shop-qa-cache');
    assert.ok(history.some((e) => e.action === 'package.drift.check' && e.actor === 'drift-schedule'), 'checked as the schedule');
    await waitFor(async () => {
      const jobs = await runtime.queues.outbox.getJobs(['waiting', 'active', 'completed', 'failed', 'delayed']);
      return jobs.some((j) => j?.data?.message === 'drift' && j.data.detail?.package === 'shop-qa-cache') ? true : undefined;
    }, 'the drift notice owed to the ticket');
  } finally {
    await fast.close();
  }
});
