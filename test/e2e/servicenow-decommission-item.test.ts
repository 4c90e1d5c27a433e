/**
 * Giving a cache back through the ServiceNow catalog: the "Decommission a package" item, kept by
 * the forms sync, offers the live packages (a new one appears once it is deployed); ordering it
 * files a decommission request through the workflow, the approver approves it in ServiceNow,
 * and the Redis ACL user is gone for real; the item closes like any other.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import type { ServiceNowWorld } from '../../src/demo/servicenow-world.ts';
import { latestServiceNowRequest, SN_STAGE_CTX, startServiceNowStaging, type ServiceNowStaging } from '../helpers/servicenow-staging.ts';
import { catalogItem, ritmState, waitFor, workNotes } from '../../src/demo/servicenow-steps.ts';
import { DECOMMISSION_ITEM_KEY } from '../../src/surfaces/servicenow/decommission-item.ts';
import { PEOPLE } from '../../sandbox/servicenow/example-seed.ts';
import type { Request } from '../../src/engine/model.ts';

let world: ServiceNowWorld;
let admin: Redis;
let staging: ServiceNowStaging | undefined;
const ctx = SN_STAGE_CTX;

before(async () => {
  // Tuesday 10:00 in Berlin: the staging window is open.
  staging = await startServiceNowStaging();
  ({ world, admin } = staging);
});
after(async () => {
  await staging?.close();
});

function latestRequest(ritm: string): Promise<Request> {
  return latestServiceNowRequest(world, ritm);
}

/** The active choices of the decommission item's Package variable, by value. */
async function packageChoices(): Promise<string[]> {
  const varId = await world.runtime.ids.get('servicenow', `variable/${DECOMMISSION_ITEM_KEY}/package`);
  return world.sandbox.state
    .all('question_choice')
    .filter((c) => c.question === varId && c.inactive !== 'true')
    .map((c) => c.value!)
    .sort();
}

test('the decommission catalog item gives a cache back: destroy plan, ServiceNow approval, ACL user gone', { timeout: 180_000 }, async () => {
  const sb = world.sandbox;
  assert.ok(await catalogItem(world, DECOMMISSION_ITEM_KEY), 'the forms sync created the item');
  assert.equal(sb.state.mustGet('sc_cat_item', await catalogItem(world, DECOMMISSION_ITEM_KEY)).name, 'Decommission a package');
  assert.deepEqual(await packageChoices(), [], 'nothing to give back yet');

  const variables = { request_environment: 'staging', request_package: 'old-cache', key_prefix: 'old-cache', access_level: 'read-write', max_memory_mb: '128' };
  const ordered = sb.as(PEOPLE.developer).order(await catalogItem(world, 'redis-cache'), { variables }).ritm.sys_id!;
  await waitFor(() => sb.state.approvalsFor(ordered).some((a) => a.state === 'requested'), 'approval records of the cache');
  sb.as(PEOPLE.approver).approve(ordered);
  await waitFor(async () => ((await latestRequest(ordered)).state === 'applied' ? true : undefined), 'the cache applied', 60_000);
  const pkg = await world.runtime.opened.engine.getPackage('checkout-staging-old-cache', { reveal: true });
  const username = JSON.stringify(pkg.artifacts).match(/"username":"([^"]+)"/)?.[1] ?? '';
  assert.notEqual(await admin.call('ACL', 'GETUSER', username), null, 'the ACL user exists');
  // The deployment re-syncs the item's choices, as it does the bundles' dynamic dropdowns.
  await waitFor(async () => ((await packageChoices()).includes('checkout-staging-old-cache') ? true : undefined), 'the package offered', 30_000);

  const { ritm } = sb.as(PEOPLE.developer).order(await catalogItem(world, DECOMMISSION_ITEM_KEY), { variables: { package: 'checkout-staging-old-cache', reason: 'Replaced by the shared cache' } });
  const sysId = ritm.sys_id!;
  const planned = await waitFor(() => workNotes(sb, sysId).find((n) => n.status && /AWAITING APPROVAL/.test(n.text) && /Decommission/.test(n.text)), 'the destroy plan');
  assert.match(planned.text, /0 to add · 0 to change · 2 to destroy/);
  assert.match(planned.text, /DESTROYS/);
  const request = await latestRequest(sysId);
  assert.equal(request.kind, 'decommission');
  assert.equal(request.package ?? `${request.environment}-${String(request.submitted?.request_package)}`, 'checkout-staging-old-cache');
  assert.equal(request.submitted?.request_reason, 'Replaced by the shared cache');
  assert.equal(request.actor.displayName, 'Dana Developer');
  await waitFor(() => ritmState(sb, sysId) === 'Pending', 'the item pending approval');
  assert.notEqual(await admin.call('ACL', 'GETUSER', username), null, 'nothing destroyed before the approval');

  await waitFor(() => sb.state.approvalsFor(sysId).some((a) => a.state === 'requested'), 'approval records of the decommission');
  sb.as(PEOPLE.approver).approve(sysId);
  await waitFor(async () => ((await latestRequest(sysId)).state === 'applied' ? true : undefined), 'the decommission applied', 60_000);
  assert.equal(await admin.call('ACL', 'GETUSER', username), null, 'the ACL user is gone');
  assert.equal((await world.runtime.opened.engine.getPackage('checkout-staging-old-cache')).status, 'decommissioned');
  await waitFor(() => ritmState(sb, sysId) === 'Closed Complete', 'the item closed complete');
  await waitFor(async () => ((await packageChoices()).includes('checkout-staging-old-cache') ? undefined : true), 'the package no longer offered', 30_000);
  assert.deepEqual(sb.violations(), []);
});

test('an item naming a package the inventory does not know is refused in the item, which waits Pending', { timeout: 60_000 }, async () => {
  const sb = world.sandbox;
  const { ritm } = sb.as(PEOPLE.developer).order(await catalogItem(world, DECOMMISSION_ITEM_KEY), { variables: { package: 'checkout-staging-nothing' } });
  const sysId = ritm.sys_id!;
  await waitFor(() => workNotes(sb, sysId).find((n) => /no package "checkout-staging-nothing"/.test(n.text)), 'the refusal');
  await waitFor(() => ritmState(sb, sysId) === 'Pending', 'the item pending');
  assert.equal((await world.runtime.opened.engine.requests.forOrigin('servicenow', sysId)).length, 0, 'nothing filed');
});
