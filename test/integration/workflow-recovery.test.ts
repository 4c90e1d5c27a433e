/**
 * Recovery from every non-terminal state: a request left without an owner (no pending,
 * delayed or running job, no outbox entry) for longer than the bound is resumed from its stored
 * facts; younger ones are left alone; a resume racing a live step loses cleanly. A request
 * left `applying` by a crash is settled from its deployment by its retried job. The sweeps here
 * are run by hand (the periodic one is tested in workflow-recovery-sweep.test.ts) and the clock
 * is moved past the bound, so nothing depends on timing.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { useRedis } from '../helpers/redis.ts';
import { ConflictError } from '../../src/engine/errors.ts';
import type { Request, RequestState } from '../../src/engine/model.ts';
import type { RequestPatch } from '../../src/engine/requests.ts';
import { DEFAULT_STUCK_AFTER_MS } from '../../src/workflow/recovery.ts';
import { advance, cacheAnswers, queued, startWorkflowWorld, submitCache, waitForState, waitQueued, type WorkflowWorld } from './workflow-kit.ts';

const redis = useRedis();
let world: WorkflowWorld;
const ctx = { actor: 'platform-admin', surface: 'cli' as const };

before(async () => {
  // The periodic sweep is out of the way: these tests sweep by hand.
  world = await startWorkflowWorld(redis, { start: new Date(), staleSweepMs: 3_600_000 });
  redis.cleanup(() => world.close());
});

const engine = () => world.runtime.opened.engine;

/**
 * A request stored straight into `path`'s last state with no job and no outbox entry: what a
 * crash, or a job that gave up, leaves behind. `patch` is set on the last move.
 */
async function leftBehind(env: string, pkg: string, path: RequestState[], patch?: RequestPatch): Promise<Request> {
  let r = await engine().requests.createRequest({
    kind: 'provision',
    actor: { id: 'dana', displayName: 'Dana Developer' },
    origin: { surface: 'cli', ref: `cli-${pkg}` },
    project: 'shop',
    environment: env,
    bundle: 'redis-cache',
    submitted: cacheAnswers(env, pkg),
  });
  for (const [i, to] of path.entries()) {
    r = await engine().requests.transition(r.id, r.revision, to, { by: 'engine', ...(i === path.length - 1 && patch ? { patch } : {}) });
  }
  return r;
}

/** The pending package a provision's evaluation creates, and the params it is planned with. */
async function pendingPackage(env: string, pkg: string): Promise<{ id: string; params: Record<string, unknown> }> {
  const params = { key_prefix: pkg, access_level: 'read-write' };
  const p = await engine().createPackage({ project: 'shop', environment: env, name: pkg, bundle: 'redis-cache', params, pending: true }, ctx);
  return { id: p.id, params: p.desiredParams };
}

async function stuckIds(): Promise<string[]> {
  return (await world.runtime.recovery.stuck()).map((s) => s.request.id);
}

async function applyDeployments(id: string) {
  return (await engine().inventory.list('deployment', { request: id })).filter((d) => d.action === 'apply');
}

test('requests left received or validated are re-evaluated once they waited past the bound, not before', { timeout: 60_000 }, async () => {
  const received = await leftBehind('qa', 'lost-received', []);
  const validated = await leftBehind('qa', 'lost-validated', ['validated']);
  // Younger than the bound: live work is never raced.
  let sweep = await world.runtime.recovery.sweep();
  assert.deepEqual(sweep.stuck, []);
  assert.match(world.runtime.metrics.render(), /^ts_requests_stuck 0$/m);
  assert.equal((await engine().requests.get(validated.id)).state, 'validated');

  advance(world, DEFAULT_STUCK_AFTER_MS + 60_000);
  assert.deepEqual((await stuckIds()).sort(), [received.id, validated.id].sort());
  sweep = await world.runtime.recovery.sweep();
  assert.equal(sweep.resumed.length, 2);
  assert.match(world.runtime.metrics.render(), /^ts_requests_stuck 2$/m);
  for (const r of [received, validated]) {
    const done = await waitForState(world, r.id, 'awaiting_approval');
    assert.ok(done.plan?.hash);
    const resumes = (await engine().inventory.history('request', r.id)).filter((e) => e.action === 'request.resume');
    assert.equal(resumes.length, 1);
    assert.match(resumes[0]!.reason ?? '', /no worker owned this (received|validated) request/);
  }
  assert.deepEqual(await stuckIds(), [], 'awaiting a person is not stuck');
  await world.runtime.recovery.sweep();
  assert.match(world.runtime.metrics.render(), /^ts_requests_stuck 0$/m);
});

test('a worker killed after a successful apply, before the request recorded it: the retried job completes it as applied', { timeout: 60_000 }, async () => {
  world.faults.crash('after-apply-before-record', async ({ request }) => (await engine().requests.get(request!)).origin.ref === 'cli-applied-crash');
  const r = await submitCache(world, 'dev', 'applied-crash');
  const done = await waitForState(world, r.id, 'applied');
  assert.equal(world.faults.count('after-apply-before-record', r.id), 1);
  const applies = await applyDeployments(r.id);
  assert.equal(applies.length, 1, 'applied once, recorded once');
  assert.equal(applies[0]!.status, 'succeeded');
  assert.equal(done.deployment, applies[0]!.id);
  await waitQueued(world, 'outbox', `${r.id}:applied:${done.revision}`);
  assert.equal((await engine().inventory.get('package', 'shop-dev-applied-crash')).status, 'ready');
});

test('applying next to a succeeded deployment and no job: the sweep completes it as applied', { timeout: 60_000 }, async () => {
  const pkg = await pendingPackage('dev', 'lost-record');
  const r = await leftBehind('dev', 'lost-record', ['validated', 'planned', 'approved', 'applying'], { package: pkg.id, params: pkg.params });
  const dep = await engine().inventory.createDeployment({ package: pkg.id, action: 'apply', request: r.id, status: 'succeeded' }, ctx);
  assert.deepEqual(await stuckIds(), []);
  advance(world, DEFAULT_STUCK_AFTER_MS + 60_000);
  assert.deepEqual(await stuckIds(), [r.id]);
  await world.runtime.recovery.sweep();
  const done = await waitForState(world, r.id, 'applied');
  assert.equal(done.deployment, dep.id);
  assert.equal((await applyDeployments(r.id)).length, 1, 'nothing applied twice');
  await waitQueued(world, 'outbox', `${r.id}:applied:${done.revision}`);
});

test('a worker killed after the request moved to applying, before the deployment: planned again, same plan, applied', { timeout: 60_000 }, async () => {
  world.faults.crash('before-apply', async ({ request }) => (await engine().requests.get(request!)).origin.ref === 'cli-apply-crash');
  const r = await submitCache(world, 'dev', 'apply-crash');
  const done = await waitForState(world, r.id, 'applied');
  assert.equal(world.faults.count('before-apply', r.id), 1);
  assert.equal((await applyDeployments(r.id)).length, 1);
  const plans = (await engine().inventory.list('deployment', { request: r.id })).filter((d) => d.action === 'plan');
  assert.equal(plans.length, 2, 'the evaluation plan and the check that it is still the approved one');
  assert.equal(plans[1]!.planHash, done.plan!.hash);
});

test('applying without a deployment whose plan changed since approval goes back for approval, saying why; nothing applied', { timeout: 60_000 }, async () => {
  const pkg = await pendingPackage('qa', 'changed-plan');
  const plan = { deploymentId: 'dep_gone000', hash: 'f'.repeat(64), summary: { add: 1, change: 0, destroy: 0, replace: 0, resources: [], destructive: false } };
  const approval = { by: { id: 'bo', displayName: 'Bo Approver' }, surface: 'cli' as const, planHash: plan.hash, at: world.clock.now().toISOString(), groups: ['platform-approvers'] };
  const r = await leftBehind('qa', 'changed-plan', ['validated', 'planned', 'approved', 'applying'], { package: pkg.id, params: pkg.params, plan, approvals: [approval] });
  advance(world, DEFAULT_STUCK_AFTER_MS + 60_000);
  await world.runtime.recovery.sweep();
  const back = await waitForState(world, r.id, 'awaiting_approval');
  assert.notEqual(back.plan!.hash, plan.hash);
  assert.deepEqual(back.approvals, []);
  assert.match(back.decisions.find((d) => d.rule === 'plan-changed')?.reason ?? '', /plan changed since it was approved/);
  assert.ok(back.decisions.some((d) => d.outcome === 'needs_approval'));
  assert.deepEqual(back.history.slice(-2).map((h) => h.to), ['planned', 'awaiting_approval']);
  await waitQueued(world, 'outbox', `${r.id}:approval-needed:${back.revision}`);
  assert.deepEqual(await applyDeployments(r.id), []);
});

test('approved without its job is scheduled by the sweep and applies', { timeout: 60_000 }, async () => {
  const pkg = await pendingPackage('dev', 'lost-approved');
  const r = await leftBehind('dev', 'lost-approved', ['validated', 'planned', 'approved'], { package: pkg.id, params: pkg.params });
  advance(world, DEFAULT_STUCK_AFTER_MS + 60_000);
  await world.runtime.recovery.sweep();
  const done = await waitForState(world, r.id, 'applied');
  assert.equal((await applyDeployments(r.id)).length, 1);
  assert.equal(done.history.filter((h) => h.to === 'applying').length, 1);
});

test('scheduled without its delayed job gets it back, due at its time', { timeout: 30_000 }, async () => {
  const at = new Date(world.clock.now().getTime() + 24 * 3600_000);
  const pkg = await pendingPackage('qa', 'lost-scheduled');
  const r = await leftBehind('qa', 'lost-scheduled', ['validated', 'planned', 'approved', 'scheduled'], { package: pkg.id, params: pkg.params, scheduledFor: at.toISOString() });
  advance(world, DEFAULT_STUCK_AFTER_MS + 60_000);
  const { resumed } = await world.runtime.recovery.sweep();
  const now = resumed.find((x) => x.id === r.id)!;
  assert.equal(now.state, 'scheduled');
  assert.equal(now.scheduledFor, at.toISOString());
  const job = await waitQueued(world, 'requests', `${r.id}:apply:${now.revision}`);
  assert.equal(await job.isDelayed(), true);
  // The job's due instant in real time, against `at` moved by the test clock's constant offset:
  // neither side depends on how long the test has run.
  const offset = world.clock.now().getTime() - Date.now();
  const due = job.timestamp + (job.opts.delay ?? 0) + offset;
  assert.ok(Math.abs(due - at.getTime()) < 60_000, `due at ${new Date(due).toISOString()}, scheduled for ${at.toISOString()}`);
  assert.ok(!(await stuckIds()).includes(r.id), 'its delayed job owns it now');
});

test('approvals completed but the move to approved lost: the sweep approves and applies it', { timeout: 60_000 }, async () => {
  const r = await submitCache(world, 'qa', 'lost-approval');
  const waiting = await waitForState(world, r.id, 'awaiting_approval');
  const now = world.clock.now();
  const approval = { by: { id: 'bo', displayName: 'Bo Approver' }, surface: 'cli' as const, planHash: waiting.plan!.hash, at: now.toISOString(), expiresAt: new Date(now.getTime() + 3600_000).toISOString(), groups: ['platform-approvers'] };
  await engine().requests.patch(r.id, waiting.revision, { approvals: [approval] }, { actor: 'bo', surface: 'cli' });
  advance(world, DEFAULT_STUCK_AFTER_MS + 60_000);
  assert.deepEqual(await stuckIds(), [r.id]);
  await world.runtime.recovery.sweep();
  await waitForState(world, r.id, 'applied');
});

test('a resume racing a live step loses cleanly: the revision check refuses it and it owes nothing', { timeout: 30_000 }, async () => {
  const r = await leftBehind('qa', 'raced', []);
  // A live step moves the request after the sweep read it.
  const moved = await engine().requests.transition(r.id, r.revision, 'cancelled', { by: 'dana', surface: 'cli' });
  await assert.rejects(world.runtime.workflow.resume(r), ConflictError);
  assert.equal((await engine().requests.get(r.id)).revision, moved.revision);
  assert.equal(await queued(world, 'requests', `${r.id}:evaluate:${r.revision + 1}`), undefined);
  assert.ok(!(await engine().inventory.outbox.requestIds()).has(r.id));
});

test('a worker killed during the apply (its deployment abandoned, outcome unknown): planned again and applied, not failed', { timeout: 60_000 }, async () => {
  const pkg = await pendingPackage('dev', 'abandoned-apply');
  const r = await leftBehind('dev', 'abandoned-apply', ['validated', 'planned', 'approved', 'applying'], { package: pkg.id, params: pkg.params });
  // What the stale sweep leaves of a deployment whose worker died: failed, abandoned.
  const dep = await engine().inventory.createDeployment({ package: pkg.id, action: 'apply', request: r.id, status: 'running' }, ctx);
  advance(world, 1000);
  await engine().inventory.modify('deployment', dep.id, (d) => ({ ...d, status: 'failed', abandoned: true, error: { message: 'the worker running this deployment stopped' } }), ctx);
  advance(world, 1000);
  const resumed = await world.runtime.workflow.reconcileApplying();
  assert.deepEqual(resumed.map((x) => [x.id, x.state]), [[r.id, 'applying']], 'given an apply job, not failed');
  assert.deepEqual(await world.runtime.workflow.reconcileApplying(), [], 'once');
  const done = await waitForState(world, r.id, 'applied');
  assert.ok(!done.history.some((h) => h.to === 'failed'), 'never failed');
  const applies = await applyDeployments(r.id);
  assert.equal(applies.filter((d) => d.status === 'succeeded').length, 1, 'applied once after the abandoned one');
});
