/**
 * Giving a cache back from the ServiceNow requested item that created it: a work note
 * `/decommission` plans the destroy, the approver approves it in ServiceNow, and the Redis ACL
 * user and its settings are gone for real; the package is decommissioned. A decommission filed
 * through the API goes through the same workflow.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import type { ServiceNowWorld } from '../../src/demo/servicenow-world.ts';
import { latestServiceNowRequest, SN_STAGE_CTX, startServiceNowStaging, type ServiceNowStaging } from '../helpers/servicenow-staging.ts';
import { catalogItem, ritmState, waitFor, workNotes } from '../../src/demo/servicenow-steps.ts';
import { PEOPLE } from '../../sandbox/servicenow/example-seed.ts';
import type { Request } from '../../src/engine/model.ts';
import { apiAs } from '../helpers/api-tokens.ts';

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

/** Orders a cache through the catalog as the developer, has it approved, and returns the requested item and ACL user. */
async function orderedCache(name: string): Promise<{ sysId: string; username: string }> {
  const sb = world.sandbox;
  const variables = { request_environment: 'staging', request_package: name, key_prefix: name, access_level: 'read-write', max_memory_mb: '128' };
  const { ritm } = sb.as(PEOPLE.developer).order(await catalogItem(world, 'redis-cache'), { variables });
  const sysId = ritm.sys_id!;
  await waitFor(() => ritmState(sb, sysId) === 'Pending', 'the cache awaiting approval');
  await waitFor(() => sb.state.approvalsFor(sysId).some((a) => a.state === 'requested'), 'approval records');
  sb.as(PEOPLE.approver).approve(sysId);
  await waitFor(async () => ((await latestRequest(sysId)).state === 'applied' ? true : undefined), 'the cache applied', 60_000);
  const pkg = await world.runtime.opened.engine.getPackage(`checkout-staging-${name}`, { reveal: true });
  const username = JSON.stringify(pkg.artifacts).match(/"username":"([^"]+)"/)?.[1] ?? '';
  assert.ok(username);
  assert.notEqual(await admin.call('ACL', 'GETUSER', username), null, 'the ACL user exists');
  return { sysId, username };
}

test('a work note /decommission gives a cache back: destroy plan, ServiceNow approval, ACL user gone', { timeout: 180_000 }, async () => {
  const sb = world.sandbox;
  const { sysId, username } = await orderedCache('sessions');
  await waitFor(() => ritmState(sb, sysId) === 'Closed Complete', 'the item closed complete');

  sb.as(PEOPLE.developer).addWorkNote(sysId, '/decommission');
  const planned = await waitFor(() => workNotes(sb, sysId).find((n) => n.status && /AWAITING APPROVAL/.test(n.text) && /Decommission/.test(n.text)), 'the destroy plan');
  assert.match(planned.text, /0 to add · 0 to change · 2 to destroy/);
  assert.match(planned.text, /DESTROYS/);
  assert.equal((await latestRequest(sysId)).kind, 'decommission');
  await waitFor(() => ritmState(sb, sysId) === 'Pending', 'the item pending again');
  assert.notEqual(await admin.call('ACL', 'GETUSER', username), null, 'nothing destroyed before the approval');

  await waitFor(() => sb.state.approvalsFor(sysId).some((a) => a.state === 'requested'), 'approval records for the decommission');
  sb.as(PEOPLE.approver).approve(sysId);
  await waitFor(async () => ((await latestRequest(sysId)).state === 'applied' ? true : undefined), 'the decommission applied', 60_000);
  assert.equal(await admin.call('ACL', 'GETUSER', username), null, 'the ACL user is gone');
  assert.equal(await admin.exists(`_redis-cache:settings:${username}`), 0, 'its settings are gone');
  const pkg = await world.runtime.opened.engine.getPackage('checkout-staging-sessions');
  assert.equal(pkg.status, 'decommissioned');
  assert.deepEqual(pkg.artifacts, {});
  await waitFor(() => ritmState(sb, sysId) === 'Closed Complete', 'the item closed complete again');
  assert.deepEqual(sb.violations(), []);
});

test('the API files a decommission like a ticket does; a package that does not exist is invalid, naming it', { timeout: 60_000 }, async () => {
  const api = await apiAs(world.runtime, world.runtime.url!, 'dana', 'requester');
  const res = await api.post('/v1/requests', { kind: 'decommission', project: 'checkout', environment: 'staging', bundle: 'redis-cache', package: 'nothing-here' });
  assert.equal(res.status, 202);
  const id = (res.data as Request).id;
  const r = await waitFor(async () => {
    const cur = await world.runtime.opened.engine.requests.get(id);
    return cur.state === 'invalid' ? cur : undefined;
  }, 'the decommission evaluated');
  assert.match(r.issues!.map((i) => i.message).join(), /no package checkout-staging-nothing-here/);
});
