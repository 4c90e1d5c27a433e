import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../../src/engine/logger.ts';
import { startStoryWorld, type StoryWorld } from '../../src/demo/story.ts';
import { syncStoryForms, conversation, waitFor } from '../../src/demo/story-steps.ts';
import { MovableClock, MutableWindowSource, setupCheckoutStack, filePromotionRequest, releaseRecord, type CheckoutStack } from '../../src/demo/promotion-steps.ts';
import { jobId } from '../../src/queue/queues.ts';
import { PEOPLE, STATUSES } from '../../sandbox/jira/index.ts';
import type { Request } from '../../src/engine/model.ts';

// Monday 2026-11-23 12:00 in Berlin; production opens Tue-Thu 10:00-16:00 Europe/Berlin.
const MONDAY_NOON = new Date('2026-11-23T11:00:00Z');
const TUESDAY_OPENING = new Date('2026-11-24T09:00:00Z');
const WEDNESDAY_OPENING = new Date('2026-11-25T09:00:00Z');
const RELEASE_MANAGER = '712020:rm-rae';

const clock = new MovableClock(MONDAY_NOON);
// The release calendar ops keep besides the policy file; blackouts are added while requests wait.
const calendar = new MutableWindowSource('release-calendar');
const ctx = { actor: 'platform-admin', surface: 'cli' as const };
let world: StoryWorld;
let prod: CheckoutStack;

before(async () => {
  world = await startStoryWorld({ logger: createLogger('silent'), clock, windowSources: [calendar], dynamicOptionsPollMs: 3_600_000, webhookRetryDelaysMs: [50, 100] });
  world.sandbox.seed({
    users: [
      { accountId: PEOPLE.outsider, displayName: 'Pat Product', email: 'pat@example.com', groups: ['product', 'product-managers'] },
      { accountId: RELEASE_MANAGER, displayName: 'Rae Release', email: 'rae@example.com', groups: ['release-managers'] },
    ],
  });
  const { engine } = world.runtime.opened;
  await engine.createProject({ id: 'checkout', name: 'Checkout' }, ctx);
  await engine.createEnvironment({ project: 'checkout', name: 'production', labels: { production: true } }, ctx);
  prod = await setupCheckoutStack(world, { project: 'checkout', environment: 'production', databaseName: 'checkout_orders', username: 'checkout_app' }, ctx);
  await engine.attest('checkout-api', '2.14.0', 'qa-signed', 'quinn', ctx);
  await syncStoryForms(world);
});
after(async () => {
  await world?.close();
});

async function latestRequest(key: string): Promise<Request> {
  const all = await world.runtime.opened.engine.requests.forOrigin('jira', key);
  return all.sort((a, b) => a.createdAt.localeCompare(b.createdAt)).pop()!;
}

async function outboxIdle(): Promise<void> {
  await waitFor(async () => {
    const c = await world.runtime.queues.outbox.getJobCounts('wait', 'active', 'delayed', 'prioritized');
    return Object.values(c).every((n) => n === 0) ? true : undefined;
  }, 'an idle outbox');
}

async function delayedApply(r: Request) {
  // The job is owed with the state change and handed to the queue by the outbox relay moments later.
  const job = await waitFor(() => world.runtime.queues.requests.getJob(jobId(`${r.id}:apply:${r.revision}`)), `a delayed apply job for revision ${r.revision}`);
  assert.ok(job, `a delayed apply job for revision ${r.revision}`);
  assert.equal(await job.isDelayed(), true);
  return job;
}

test('a blackout added after scheduling moves the promotion to the next opening, the ticket says so, and it applies then', { timeout: 120_000 }, async () => {
  const sb = world.sandbox;
  const key = await filePromotionRequest(world, PEOPLE.outsider, { version: '2.14.0', environment: 'production', package: 'checkout-api' });
  await waitFor(() => conversation(sb, key).find((c) => c.status && /AWAITING APPROVAL/.test(c.text)), 'the plan comment', 60_000);
  await waitFor(async () => ((await world.runtime.jira!['deps'].client.getStatus(key)) === STATUSES.awaitingApproval ? true : undefined), 'awaiting approval status');
  sb.as(RELEASE_MANAGER).transition(key, STATUSES.approved);
  const scheduled = await waitFor(async () => {
    const r = await latestRequest(key);
    return r.state === 'scheduled' ? r : undefined;
  }, 'scheduled');
  assert.equal(scheduled.scheduledFor, TUESDAY_OPENING.toISOString());
  const firstJob = await delayedApply(scheduled);

  // Meanwhile ops black out all of Tuesday (Berlin) in the release calendar.
  calendar.addBlackout({ reason: 'Payment provider migration', start: new Date('2026-11-23T23:00:00Z'), end: new Date('2026-11-24T23:00:00Z') });

  // Tuesday 10:00:02: the delayed job runs, checks again, and finds the blackout.
  clock.set(new Date(TUESDAY_OPENING.getTime() + 2_000));
  await firstJob.promote();
  const moved = await waitFor(
    () => conversation(sb, key).find((c) => !c.status && /^↻ Moved/.test(c.text)),
    'the moved comment',
  );
  assert.equal(moved.text.trim(), '↻ Moved: a blackout (Payment provider migration) now covers Tue; rescheduled to Wed 2026-11-25 10:00 Europe/Berlin (09:00 UTC).');
  const again = await latestRequest(key);
  assert.equal(again.id, scheduled.id, 'the same request, still approved');
  assert.equal(again.state, 'scheduled');
  assert.equal(again.scheduledFor, WEDNESDAY_OPENING.toISOString());
  assert.equal(again.deployment, undefined, 'nothing was applied');
  assert.equal((await releaseRecord(world, 'checkout_orders'))?.version, '2.13.2');
  assert.equal((await world.runtime.opened.engine.getPackage(prod.api.id)).version, '2.13.2');
  const status = await waitFor(() => conversation(sb, key).find((c) => c.status && /Scheduled for Wed 2026-11-25 10:00 Europe\/Berlin \(09:00 UTC\)/.test(c.text)), 'the status comment rescheduled');
  assert.match(status.text, /SCHEDULED/);
  const secondJob = await delayedApply(again);
  // The job's due instant in real time, moved by the test clock's constant offset, against the
  // opening: neither side depends on how long the test has run.
  const offset = clock.now().getTime() - Date.now();
  const due = secondJob.timestamp + (secondJob.opts.delay ?? 0) + offset;
  assert.ok(Math.abs(due - WEDNESDAY_OPENING.getTime()) < 10_000, `job due at ${new Date(due).toISOString()}, the window opens at ${WEDNESDAY_OPENING.toISOString()}`);

  // Wednesday 10:00:02: the window is open and no blackout covers it; the promotion applies.
  clock.set(new Date(WEDNESDAY_OPENING.getTime() + 2_000));
  await secondJob.promote();
  await waitFor(() => conversation(sb, key).find((c) => c.status && /APPLIED/.test(c.text)), 'applied', 60_000);
  const done = await latestRequest(key);
  assert.equal(done.state, 'applied');
  const deployment = await world.runtime.opened.engine.inventory.get('deployment', done.deployment!);
  assert.ok(Date.parse(deployment.startedAt!) >= WEDNESDAY_OPENING.getTime(), 'applied inside Wednesday\'s window');
  assert.equal((await releaseRecord(world, 'checkout_orders'))?.version, '2.14.0');
  assert.equal(conversation(sb, key).filter((c) => /^↻ Moved/.test(c.text)).length, 1, 'moved once, said once');
  assert.deepEqual(sb.violations(), []);
});

test('a job that fires before its time keeps its schedule and posts nothing', { timeout: 60_000 }, async () => {
  // The window math itself is unit-tested; this pins the workflow: an early run re-queues silently.
  const { engine } = world.runtime.opened;
  await engine.createEnvironment({ project: 'checkout', name: 'production-eu', labels: { production: true } }, ctx);
  await setupCheckoutStack(world, { project: 'checkout', environment: 'production-eu', databaseName: 'checkout_orders_eu', username: 'checkout_eu' }, ctx);
  await syncStoryForms(world); // the Environment dropdown learns production-eu
  clock.set(new Date('2026-12-07T11:00:00Z')); // Monday 12:00 in Berlin: closed until Tuesday 10:00
  const sb = world.sandbox;
  const key = await filePromotionRequest(world, PEOPLE.outsider, { version: '2.14.0', environment: 'production-eu', package: 'checkout-api' });
  await waitFor(() => conversation(sb, key).find((c) => c.status && /AWAITING APPROVAL/.test(c.text)), 'the plan comment', 60_000);
  await waitFor(async () => ((await world.runtime.jira!['deps'].client.getStatus(key)) === STATUSES.awaitingApproval ? true : undefined), 'awaiting approval status');
  sb.as(RELEASE_MANAGER).transition(key, STATUSES.approved);
  const scheduled = await waitFor(async () => {
    const r = await latestRequest(key);
    return r.state === 'scheduled' ? r : undefined;
  }, 'scheduled');
  assert.equal(scheduled.scheduledFor, '2026-12-08T09:00:00.000Z');
  // The status comment is rendered from the request as stored, so it can say SCHEDULED before the
  // event comments are out: wait for the last of them and for an idle outbox.
  await waitFor(() => conversation(sb, key).find((c) => !c.status && /is approved and scheduled for Tue 2026-12-08 10:00/.test(c.text)), 'the scheduled comment');
  await outboxIdle();
  const before = conversation(sb, key).length;
  const job = await delayedApply(scheduled);
  await job.promote(); // still Monday: too early
  await waitFor(async () => ((await world.runtime.queues.requests.getJob(job.id!))?.finishedOn ? true : undefined), 'the early job finished');
  const requeued = await latestRequest(key);
  assert.ok(requeued.revision > scheduled.revision, 'the job was re-queued under a new revision');
  assert.equal(requeued.state, 'scheduled');
  assert.equal(requeued.scheduledFor, scheduled.scheduledFor);
  await delayedApply(requeued);
  await outboxIdle();
  assert.equal(conversation(sb, key).length, before, 'no comment for a schedule that did not move:\n' + conversation(sb, key).map((c) => c.text).join('\n---\n'));
  assert.equal((await releaseRecord(world, 'checkout_orders_eu'))?.version, '2.13.2');
});
