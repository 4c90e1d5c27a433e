/**
 * `/drift` from a ServiceNow requested item, the twin of jira-drift.test.ts: a work note
 * `/drift check` on the item that created a cache finds a hand change on the real Redis the
 * example bundle manages and writes the drift status as a work note; `/drift adopt` by the
 * requester changes the data model, not reality, and the next plan is a no-op.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import type { ServiceNowWorld } from '../../src/demo/servicenow-world.ts';
import { latestServiceNowRequest, SN_STAGE_CTX, startServiceNowStaging, type ServiceNowStaging } from '../helpers/servicenow-staging.ts';
import { catalogItem, ritmState, waitFor, workNotes } from '../../src/demo/servicenow-steps.ts';
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

const DRIFT_HEAD = /ticket-surface · drift · checkout-staging-drift-cache/;
const PKG = 'checkout-staging-drift-cache';

test('a work note /drift check finds a hand change on the real Redis; /drift adopt changes the data model only', { timeout: 180_000 }, async () => {
  const sb = world.sandbox;
  const variables = { request_environment: 'staging', request_package: 'drift-cache', key_prefix: 'drift-cache', access_level: 'read-write', max_memory_mb: '128' };
  const { ritm } = sb.as(PEOPLE.developer).order(await catalogItem(world, 'redis-cache'), { variables });
  const sysId = ritm.sys_id!;
  await waitFor(() => sb.state.approvalsFor(sysId).some((a) => a.state === 'requested'), 'approval records');
  sb.as(PEOPLE.approver).approve(sysId);
  await waitFor(async () => ((await latestRequest(sysId)).state === 'applied' ? true : undefined), 'the cache applied', 60_000);
  await waitFor(() => ritmState(sb, sysId) === 'Closed Complete', 'the item closed complete');
  const pkg = await world.runtime.opened.engine.getPackage(PKG, { reveal: true });
  const username = JSON.stringify(pkg.artifacts).match(/"username":"([^"]+)"/)?.[1] ?? '';
  const settings = `_redis-cache:settings:${username}`;
  assert.equal(await admin.hget(settings, 'max_memory_mb'), '128');

  // A hand change nobody filed.
  await admin.hset(settings, 'max_memory_mb', '512');
  sb.as(PEOPLE.developer).addWorkNote(sysId, '/drift check');
  const found = await waitFor(() => workNotes(sb, sysId).find((n) => DRIFT_HEAD.test(n.text) && /512/.test(n.text)), 'the drift work note', 60_000);
  assert.equal(found.journal, 'work_notes');
  assert.match(found.text, /Reality differs from what was applied/);
  assert.match(found.text, /\/drift adopt max_memory_mb/);
  assert.ok(!workNotes(sb, sysId).some((n) => /no package to check for drift/.test(n.text)), 'the item knows its package');

  // Seen again: the same drift posts nothing new.
  const notes = workNotes(sb, sysId).filter((n) => DRIFT_HEAD.test(n.text)).length;
  const checked = (await world.runtime.opened.engine.inventory.get('package', PKG)).drift!.checkedAt;
  sb.as(PEOPLE.developer).addWorkNote(sysId, '/drift check');
  await waitFor(async () => ((await world.runtime.opened.engine.inventory.get('package', PKG)).drift!.checkedAt > checked ? true : undefined), 'the second check');

  sb.as(PEOPLE.developer).addWorkNote(sysId, '/drift adopt max_memory_mb');
  await waitFor(() => workNotes(sb, sysId).find((n) => DRIFT_HEAD.test(n.text) && /Adopted by/.test(n.text)), 'the adoption work note', 60_000);
  assert.equal(workNotes(sb, sysId).filter((n) => DRIFT_HEAD.test(n.text)).length, notes + 1, 'the second check posted nothing; the adoption one note');
  const adopted = await world.runtime.opened.engine.inventory.get('package', PKG);
  assert.equal(adopted.desiredParams.max_memory_mb, 512);
  assert.equal(await admin.hget(settings, 'max_memory_mb'), '512', 'adopt leaves reality alone');
  const plan = await world.runtime.runner.plan(PKG);
  assert.deepEqual([plan.deployment.plan?.add, plan.deployment.plan?.change, plan.deployment.plan?.destroy], [0, 0, 0], 'the next plan is a no-op');
  const audit = await world.runtime.opened.engine.inventory.history('package', PKG);
  const event = audit.find((e) => e.action === 'package.drift.adopt')!;
  assert.equal(event.surface, 'reality');
  assert.match(event.reason ?? '', /via servicenow/);
  assert.deepEqual(sb.violations(), []);
});
