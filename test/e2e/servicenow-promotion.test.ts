/**
 * The product manager's promotion story through ServiceNow: the "Promote checkout-api" item
 * offers only qa-signed versions (choices from the engine's attestations), a release manager
 * orders 2.14.0 for production, the service opens a normal change request inside the production
 * window, an approver signs off, and checkout-api 2.14.0 is really rolled out (its release record
 * in PostgreSQL says so) while the change walks to Closed.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../../src/engine/logger.ts';
import { shiftedClock, type StoryWorld } from '../../src/demo/story.ts';
import { releaseRecord, setupCheckoutStack } from '../../src/demo/promotion-steps.ts';
import { startServiceNowWorld, type ServiceNowWorld } from '../../src/demo/servicenow-world.ts';
import { catalogItem, ritmState, syncServiceNowForms, waitFor, workNotes } from '../../src/demo/servicenow-steps.ts';
import { PEOPLE } from '../../sandbox/servicenow/example-seed.ts';

let world: ServiceNowWorld;
const ctx = { actor: 'platform-admin', surface: 'cli' as const };

before(async () => {
  // Tuesday 10:00 in Berlin: the production window (Tue-Thu 10:00-16:00) is open.
  world = await startServiceNowWorld({ logger: createLogger('silent'), clock: shiftedClock(new Date('2026-11-24T09:00:00Z')), webhookRetryDelaysMs: [50, 100], dynamicOptionsPollMs: 3_600_000 });
  const { engine } = world.runtime.opened;
  await engine.createProject({ id: 'checkout', name: 'Checkout' }, ctx);
  await engine.createEnvironment({ project: 'checkout', name: 'production', labels: { production: true } }, ctx);
  // The stack helpers read only the runtime and PostgreSQL, which both worlds have.
  await setupCheckoutStack(world as unknown as StoryWorld, { project: 'checkout', environment: 'production', databaseName: 'checkout_orders', username: 'checkout_app' }, ctx);
});
after(async () => {
  await world?.close();
});

function versionChoices(): { value: string; text: string; inactive: string }[] {
  const sb = world.sandbox;
  const itemId = sb.state.all('sc_cat_item').find((i) => i.name === 'Promote checkout-api')!.sys_id;
  const variable = sb.state.all('item_option_new').find((v) => v.cat_item === itemId && v.name === 'request_version')!;
  return sb.state.all('question_choice').filter((c) => c.question === variable.sys_id).map((c) => ({ value: c.value!, text: c.text!, inactive: c.inactive! }));
}

test('a release manager promotes checkout-api 2.13.2 → 2.14.0 in production through ServiceNow', { timeout: 120_000 }, async () => {
  const sb = world.sandbox;
  await syncServiceNowForms(world);
  assert.deepEqual(versionChoices(), [], 'no version is qa-signed yet');
  await world.runtime.opened.engine.attest('checkout-api', '2.14.0', 'qa-signed', 'quinn', ctx);
  await syncServiceNowForms(world);
  const offered = versionChoices();
  assert.equal(offered.length, 1);
  assert.equal(offered[0]!.value, '2.14.0');
  assert.match(offered[0]!.text, /^2\.14\.0 \(qa-signed by quinn/);

  const { ritm } = sb.as(PEOPLE.releaseManager).order(await catalogItem(world, 'checkout-api'), {
    variables: { request_version: '2.14.0', request_environment: 'production', request_package: 'checkout-api', replicas: '4' },
  });
  const planned = await waitFor(() => workNotes(sb, ritm.sys_id!).find((n) => n.status && /AWAITING APPROVAL|REJECTED|INVALID|FAILED/.test(n.text)), 'the promotion plan', 60_000);
  assert.match(planned.text, /AWAITING APPROVAL/, planned.text);
  assert.match(planned.text, /2\.14\.0 is qa-signed/);
  assert.match(planned.text, /release-managers/);
  const requests = await world.runtime.opened.engine.requests.forOrigin('servicenow', ritm.sys_id!);
  assert.equal(requests.at(-1)!.kind, 'promote');
  const change = await waitFor(() => sb.state.all('change_request').find((c) => c.parent === ritm.sys_id && c.state === '-3'), 'the change in Authorize');
  assert.ok(change.start_date! >= '2026-11-24 09:00:00' && change.end_date! <= '2026-11-24 15:00:00', `${change.start_date} – ${change.end_date}`);

  sb.as(PEOPLE.approver).approve(ritm.sys_id!);
  await waitFor(() => workNotes(sb, ritm.sys_id!).find((n) => n.status && /APPLIED/.test(n.text)), 'the promotion applied', 60_000);
  assert.equal((await releaseRecord(world as unknown as StoryWorld, 'checkout_orders'))?.version, '2.14.0');
  await waitFor(() => sb.state.get('change_request', change.sys_id!)?.state === '3', 'the change closed');
  assert.equal(ritmState(sb, ritm.sys_id!), 'Closed Complete');
  assert.deepEqual(sb.violations(), []);
});
