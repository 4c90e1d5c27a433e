/**
 * The recovery sweep runs where the stale-deployment sweep runs, in every worker: a request
 * whose evaluation was lost after it was validated is evaluated again once it waited past the
 * bound, with nobody calling anything, and `ts_requests_stuck` reports what the sweeps found.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { useRedis } from '../helpers/redis.ts';
import { waitFor } from '../../src/demo/story-steps.ts';
import { DEFAULT_STUCK_AFTER_MS } from '../../src/workflow/recovery.ts';
import { advance, cacheAnswers, startWorkflowWorld, waitForState, type WorkflowWorld } from './workflow-kit.ts';

const redis = useRedis();
let world: WorkflowWorld;

before(async () => {
  world = await startWorkflowWorld(redis, { start: new Date(), staleSweepMs: 100 });
  redis.cleanup(() => world.close());
});

test('a request left validated is picked up by the periodic sweep once it waited past the bound', { timeout: 60_000 }, async () => {
  const { requests } = world.runtime.opened.engine;
  let r = await requests.createRequest({
    kind: 'provision',
    actor: { id: 'dana' },
    origin: { surface: 'cli', ref: 'cli-periodic' },
    project: 'shop',
    environment: 'qa',
    bundle: 'redis-cache',
    submitted: cacheAnswers('qa', 'periodic'),
  });
  r = await requests.transition(r.id, r.revision, 'validated', { by: 'engine' });
  // Sweeps run meanwhile and leave the young request alone.
  await waitFor(() => /^ts_requests_stuck 0$/m.test(world.runtime.metrics.render()) || undefined, 'a sweep');
  assert.equal((await requests.get(r.id)).state, 'validated');

  advance(world, DEFAULT_STUCK_AFTER_MS + 60_000);
  const done = await waitForState(world, r.id, 'awaiting_approval');
  assert.ok(done.plan?.hash);
  assert.match(world.runtime.metrics.render(), /^ts_requests_resumed_total\{state="validated"\} 1$/m);
});

test('a request left applying next to its succeeded deployment is completed as applied by the periodic sweep', { timeout: 60_000 }, async () => {
  const { engine } = world.runtime.opened;
  const ctx = { actor: 'platform-admin', surface: 'cli' as const };
  const params = { key_prefix: 'periodic-applied', access_level: 'read-write' };
  const pkg = await engine.createPackage({ project: 'shop', environment: 'dev', name: 'periodic-applied', bundle: 'redis-cache', params, pending: true }, ctx);
  let r = await engine.requests.createRequest({
    kind: 'provision',
    actor: { id: 'dana' },
    origin: { surface: 'cli', ref: 'cli-periodic-applied' },
    project: 'shop',
    environment: 'dev',
    bundle: 'redis-cache',
    submitted: cacheAnswers('dev', 'periodic-applied'),
  });
  for (const to of ['validated', 'planned', 'approved', 'applying'] as const) {
    r = await engine.requests.transition(r.id, r.revision, to, { by: 'engine', ...(to === 'applying' ? { patch: { package: pkg.id, params } } : {}) });
  }
  // The worker finished the apply and died before the request said so.
  const dep = await engine.inventory.createDeployment({ package: pkg.id, action: 'apply', request: r.id, status: 'succeeded' }, ctx);
  advance(world, DEFAULT_STUCK_AFTER_MS + 60_000);
  const done = await waitForState(world, r.id, 'applied');
  assert.equal(done.deployment, dep.id);
});
