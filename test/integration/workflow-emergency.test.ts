/**
 * The emergency path is decided when it matters: an emergency request planned inside its
 * change window needs no emergency approver then, but if the window has closed by the time it
 * is approved, or by the time its apply runs, it would apply outside the window on the normal
 * approvals only. It must have the emergency approvers first: it goes back to awaiting approval
 * with a notice naming who must approve, and applies once they have.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { useRedis } from '../helpers/redis.ts';
import { waitFor } from '../../src/demo/story-steps.ts';
import type { Request } from '../../src/engine/model.ts';
import { startWorkflowWorld, submitCache, waitForState, waitQueued, type WorkflowWorld } from './workflow-kit.ts';

// prod's window: Mon-Fri 10:00-16:00 Europe/Berlin (UTC+1 in November).
const TUESDAY_11 = new Date('2026-11-24T10:00:00Z');
const TUESDAY_17 = new Date('2026-11-24T16:00:00Z');
const WEDNESDAY_11 = new Date('2026-11-25T10:00:00Z');
const WEDNESDAY_17 = new Date('2026-11-25T16:00:00Z');

const redis = useRedis();
let world: WorkflowWorld;

before(async () => {
  world = await startWorkflowWorld(redis, { start: TUESDAY_11, staleSweepMs: 3_600_000 });
  redis.cleanup(() => world.close());
});

const get = (id: string): Promise<Request> => world.runtime.opened.engine.requests.get(id);

async function applyDeployments(id: string) {
  return (await world.runtime.opened.engine.inventory.list('deployment', { request: id })).filter((d) => d.action === 'apply');
}

function emergencyDecision(r: Request) {
  return r.decisions.find((d) => d.rule === 'emergency');
}

test('an emergency planned inside the window and approved after it closed needs the emergency approvers before it applies', { timeout: 60_000 }, async () => {
  world.clock.set(TUESDAY_11);
  const r = await submitCache(world, 'prod', 'late-approval', { emergency: true });
  const waiting = await waitForState(world, r.id, 'awaiting_approval');
  assert.equal(emergencyDecision(waiting)?.outcome, 'allow', 'inside the window the emergency path is not needed');

  world.clock.set(TUESDAY_17);
  const first = await world.runtime.workflow.approve({ requestId: r.id, approver: { id: 'bo' }, surface: 'cli' });
  assert.equal(first.counted, true);
  assert.equal(first.satisfied, false, 'the emergency approval is still missing');
  assert.equal(first.request.state, 'awaiting_approval', 'the normal approval alone does not apply it outside the window');
  const needs = emergencyDecision(first.request)!;
  assert.equal(needs.outcome, 'needs_approval');
  assert.deepEqual(needs.approvers, { groups: ['release-managers'], count: 1 });
  assert.match(needs.reason, /Emergency change outside the prod window: needs 1 extra approval from release-managers/);
  assert.equal(first.request.approvals.length, 1, 'the platform approval still counts');
  const notice = await waitQueued(world, 'outbox', `${r.id}:approval-needed:${first.request.revision}`);
  assert.match(JSON.stringify(notice.data), /release-managers/);
  assert.deepEqual(await applyDeployments(r.id), []);

  const second = await world.runtime.workflow.approve({ requestId: r.id, approver: { id: 'pat' }, surface: 'cli' });
  assert.equal(second.counted, true);
  const done = await waitForState(world, r.id, 'applied');
  assert.deepEqual(done.approvals.map((a) => a.by.id).sort(), ['bo', 'pat']);
});

test('an emergency approved inside the window whose window closes before the apply runs is checked again and waits for the emergency approvers', { timeout: 60_000 }, async () => {
  world.clock.set(WEDNESDAY_11);
  const r = await submitCache(world, 'prod', 'late-apply', { emergency: true });
  await waitForState(world, r.id, 'awaiting_approval');
  // The window closes between the approval and the apply job.
  world.faults.act('between-state-and-notice', async ({ request }) => request === r.id && (await get(r.id)).state === 'approved', () => world.clock.set(WEDNESDAY_17));

  const approved = await world.runtime.workflow.approve({ requestId: r.id, approver: { id: 'bo' }, surface: 'cli' });
  assert.equal(approved.request.state, 'approved', 'inside the window, the normal approval is enough');
  const back = await waitFor(async () => {
    const x = await get(r.id);
    return x.state === 'awaiting_approval' && x.history.some((h) => h.to === 'approved') ? x : undefined;
  }, 'the request back for the emergency approval');
  assert.equal(world.faults.count('between-state-and-notice', r.id), 1);
  assert.deepEqual(back.history.slice(-2).map((h) => h.to), ['planned', 'awaiting_approval']);
  assert.equal(emergencyDecision(back)?.outcome, 'needs_approval');
  assert.equal(back.approvals.length, 1);
  await waitQueued(world, 'outbox', `${r.id}:approval-needed:${back.revision}`);
  assert.deepEqual(await applyDeployments(r.id), []);

  await world.runtime.workflow.approve({ requestId: r.id, approver: { id: 'pat' }, surface: 'cli' });
  await waitForState(world, r.id, 'applied');
});

test('an emergency approved while its window is still open applies on the normal approvals', { timeout: 60_000 }, async () => {
  world.clock.set(new Date('2026-11-26T10:00:00Z'));
  const r = await submitCache(world, 'prod', 'in-window', { emergency: true });
  await waitForState(world, r.id, 'awaiting_approval');
  await world.runtime.workflow.approve({ requestId: r.id, approver: { id: 'bo' }, surface: 'cli' });
  const done = await waitForState(world, r.id, 'applied');
  assert.equal(emergencyDecision(done)?.outcome, 'allow');
  assert.deepEqual(done.approvals.map((a) => a.by.id), ['bo']);
});
