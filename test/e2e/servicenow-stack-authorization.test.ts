/**
 * Who may act on a stack from ServiceNow, the twin of jira-stack-authorization: a work note
 * `/extend` by someone who is not the stack's requester is refused in the item and audited, the
 * lease unchanged; the "Preview environment" item ordered by an inactive person makes no stack.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { catalogItem, waitFor, workNotes } from '../../src/demo/servicenow-steps.ts';
import { PEOPLE } from '../../sandbox/servicenow/example-seed.ts';
import { STACK_ITEM_KEY } from '../../src/surfaces/servicenow/stack-item.ts';
import type { Stack } from '../../src/workflow/stack-store.ts';
import { startServiceNowStaging, type ServiceNowStaging } from '../helpers/servicenow-staging.ts';

const DAY = 86_400_000;
let staging: ServiceNowStaging;

before(async () => {
  staging = await startServiceNowStaging();
});
after(async () => {
  await staging?.close();
});

const comments = (sysId: string) => workNotes(staging.world.sandbox, sysId, 'comments');

/** `user` orders the preview environment item for environment `name`; the requested item. */
async function orderPreview(user: string, name: string): Promise<string> {
  const { ritm } = staging.world.sandbox.as(user).order(await catalogItem(staging.world, STACK_ITEM_KEY), { variables: { template: 'preview-checkout', name } });
  return ritm.sys_id!;
}

/** The `authz.refused` events of environment `id`: surface, action, person. */
async function refusals(id: string): Promise<Array<[string, string, string | undefined]>> {
  const events = await staging.world.runtime.opened.engine.listAudit({ subject: { type: 'environment', id }, limit: 1000 });
  return events.filter((e) => e.action === 'authz.refused').map((e) => {
    const after = e.after as { action: string; person?: string };
    return [e.surface, after.action, after.person];
  });
}

test('a work note /extend by another requester is refused in the item and audited; the lease is unchanged', { timeout: 120_000 }, async () => {
  // Dana's order names no valid environment, so no stack is made: the item is then given Dana's stack by hand.
  const sysId = await orderPreview(PEOPLE.developer, 'Not Valid');
  await waitFor(() => comments(sysId).find((c) => /\/stack not done: environment name "Not Valid"/.test(c.text)), 'the order refused');
  const now = staging.world.runtime.opened.engine.inventory.clock.now().getTime();
  const at = new Date(now).toISOString();
  const stack: Stack = {
    id: 'checkout-pr-5', template: 'preview-checkout', project: 'checkout', name: 'pr-5', labels: { preview: true },
    origin: { surface: 'servicenow', ref: sysId }, actor: { id: PEOPLE.developer, displayName: 'Dana Developer', email: 'dana@example.com' }, answers: {}, packages: [],
    phase: 'up', costMonthly: 12.5, upAt: at, createdAt: at, updatedAt: at,
    lease: { generation: 1, grantedAt: at, expiresAt: new Date(now + 2 * DAY).toISOString(), maxUntil: new Date(now + 7 * DAY).toISOString(), maxText: '7d', remindBeforeMs: [DAY] },
  };
  const up = await staging.world.runtime.opened.engine.stacks!.put(stack, undefined, 'lease.granted', { actor: 'lease', surface: 'engine' }, 'test stack');

  staging.world.sandbox.as(PEOPLE.outsider).addWorkNote(sysId, '/extend 1d');
  await waitFor(() => comments(sysId).find((c) => /\/extend not done: extending the lease of stack checkout-pr-5 needs its requester \(Dana Developer\) or the admin role; Pat Product is none of these/.test(c.text)), 'the refusal');
  assert.deepEqual((await staging.world.runtime.opened.engine.stacks!.get('checkout-pr-5')).lease, up.lease, 'the lease is unchanged');
  assert.deepEqual(await refusals('checkout-pr-5'), [['servicenow', 'stack.extend', 'pat']]);
  assert.deepEqual(staging.world.sandbox.violations(), []);
});

test('the preview environment item ordered by an inactive person is refused in the item; no stack is made', { timeout: 60_000 }, async () => {
  const sysId = await orderPreview(PEOPLE.inactiveApprover, 'pr-8');
  await waitFor(() => comments(sysId).find((c) => /\/stack not done: requesting stack checkout-pr-8 needs an active person; Former Approver is not active in the directory/.test(c.text)), 'the refusal');
  assert.equal(await staging.world.runtime.opened.engine.stacks!.find('checkout-pr-8'), undefined);
  assert.deepEqual(await refusals('checkout-pr-8'), [['servicenow', 'stack.request', 'former']]);
});
