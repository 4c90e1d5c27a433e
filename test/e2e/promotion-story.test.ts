import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../../src/engine/logger.ts';
import { startStoryWorld, type StoryWorld } from '../../src/demo/story.ts';
import { syncStoryForms, conversation, waitFor } from '../../src/demo/story-steps.ts';
import { MovableClock, MutableWindowSource, setupCheckoutStack, jiraFieldOptions, filePromotionRequest, releaseRecord, type CheckoutStack } from '../../src/demo/promotion-steps.ts';
import { jobId } from '../../src/queue/queues.ts';
import { PEOPLE, STATUSES } from '../sandbox/jira/index.ts';
import type { Request } from '../../src/engine/model.ts';

// Monday 2026-11-23 12:00 in Berlin: the production window (Tue-Thu 10:00-16:00) is closed.
const MONDAY_NOON = new Date('2026-11-23T11:00:00Z');
// Its next opening: Tue 2026-11-24 10:00 Europe/Berlin.
const TUESDAY_OPENING = new Date('2026-11-24T09:00:00Z');
const WEDNESDAY_OPENING = new Date('2026-11-25T09:00:00Z');
const RELEASE_MANAGER = '712020:rm-rae';

const clock = new MovableClock(MONDAY_NOON);
const calendar = new MutableWindowSource('release-calendar');
const ctx = { actor: 'platform-admin', surface: 'cli' as const };
let world: StoryWorld;
let prod: CheckoutStack;

before(async () => {
  // Dropdowns are re-synced by hand here, so the test decides when a change reaches Jira.
  world = await startStoryWorld({ logger: createLogger('silent'), clock, windowSources: [calendar], dynamicOptionsPollMs: 3_600_000, webhookRetryDelaysMs: [50, 100] });
  // Pat files promotions (product-managers may request production changes); Rae signs them off.
  world.sandbox.seed({
    users: [
      { accountId: PEOPLE.outsider, displayName: 'Pat Product', email: 'pat@example.com', groups: ['product', 'product-managers'] },
      { accountId: RELEASE_MANAGER, displayName: 'Rae Release', email: 'rae@example.com', groups: ['release-managers'] },
    ],
  });
  const { engine } = world.runtime.opened;
  await engine.createProject({ id: 'checkout', name: 'Checkout' }, ctx);
  await engine.createEnvironment({ project: 'checkout', name: 'staging', labels: { production: false } }, ctx);
  await engine.createEnvironment({ project: 'checkout', name: 'production', labels: { production: true } }, ctx);
  prod = await setupCheckoutStack(world, { project: 'checkout', environment: 'production', databaseName: 'checkout_orders', username: 'checkout_app' }, ctx);
  await syncStoryForms(world);
});
after(async () => {
  await world?.close();
});

async function latestRequest(key: string): Promise<Request> {
  const all = await world.runtime.opened.engine.requests.forOrigin('jira', key);
  return all.sort((a, b) => a.createdAt.localeCompare(b.createdAt)).pop()!;
}

test('explore', { timeout: 120_000 }, async () => {
  assert.equal((await releaseRecord(world, 'checkout_orders'))?.version, '2.13.2');
  await world.runtime.opened.engine.attest('checkout-api', '2.14.0', 'qa-signed', 'quinn', ctx);
  await world.runtime.jira; // noop
  await syncStoryForms(world);
  console.log(await jiraFieldOptions(world, 'checkout-api/request_version'));
  console.log(await jiraFieldOptions(world, 'request/environment'));
  const key = await filePromotionRequest(world, PEOPLE.outsider, { version: '2.14.0', environment: 'production', package: 'checkout-api' });
  const planned = await waitFor(() => conversation(world.sandbox, key).find((c) => c.status && /AWAITING APPROVAL|REFUSED|REJECTED|INVALID|FAILED/.test(c.text)), 'plan', 60_000);
  console.log(conversation(world.sandbox, key).map((c) => c.text).join('\n-----\n'));
  void planned;
  void latestRequest;
  void jobId;
  void STATUSES;
  void TUESDAY_OPENING;
  void WEDNESDAY_OPENING;
});
