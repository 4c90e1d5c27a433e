/**
 * The ServiceNow directory reuses what the instance answered about a person or a group for the
 * configured time: one person read once whether asked by sys_id or user_name, a group's members
 * once; nothing found and failures are asked again, and a TTL of 0 always asks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ServiceNowClient, ServiceNowRow, TableQuery } from '../../src/surfaces/servicenow/client.ts';
import { ServiceNowDirectory } from '../../src/surfaces/servicenow/directory.ts';

const ANN: ServiceNowRow = { sys_id: 'a'.repeat(32), user_name: 'ann', name: 'Ann', email: 'ann@example.com', active: 'true' };

/** A client answering sys_user and sys_user_grmember reads from `members`, logging each read. */
function fakeClient(members: Map<string, string[]>): { client: ServiceNowClient; reads: string[]; failNext: { on: boolean } } {
  const reads: string[] = [];
  const failNext = { on: false };
  const list = async (table: string, q: TableQuery = {}): Promise<ServiceNowRow[]> => {
    reads.push(`${table}?${q.query}`);
    if (failNext.on) {
      failNext.on = false;
      throw new Error('instance unavailable');
    }
    if (table === 'sys_user') return q.query!.split('^OR').some((c) => c === `sys_id=${ANN.sys_id}` || c === `user_name=${ANN.user_name}`) ? [{ ...ANN }] : [];
    if (q.query!.startsWith('user=')) return [...members].filter(([, users]) => users.includes(ANN.sys_id!)).map(([group]) => ({ 'group.name': group }));
    return (members.get(/^group\.name=([^^]+)/.exec(q.query!)![1]!) ?? []).map((user) => ({ user }));
  };
  return { client: { list } as unknown as ServiceNowClient, reads, failNext };
}

test('a person asked by sys_id, by user_name and through the directory is read once within the TTL, and again after it', async () => {
  const { client, reads } = fakeClient(new Map([['platform-approvers', [ANN.sys_id!]]]));
  let now = 0;
  const dir = new ServiceNowDirectory(client, { ttlMs: 30_000, now: () => now });
  assert.deepEqual(await dir.actorOf(ANN.sys_id!), { id: ANN.sys_id, displayName: 'Ann', email: 'ann@example.com' });
  assert.equal((await dir.userByName('ann'))?.id, ANN.sys_id);
  assert.deepEqual((await dir.getUser('ann'))?.groups, ['platform-approvers']);
  assert.equal((await dir.getUser('ann'))?.active, true);
  assert.deepEqual(reads, [`sys_user?sys_id=${ANN.sys_id}`, `sys_user_grmember?user=${ANN.sys_id}^group.active=true`]);
  now = 30_000;
  await dir.userByName('ann');
  assert.equal(reads.length, 3, 'read again once the TTL has passed');
});

test("a group's members are read once; an empty group, an unknown person and a failure are asked again; TTL 0 always asks", async () => {
  const members = new Map([['platform-approvers', ['u1', 'u2']]]);
  const { client, reads, failNext } = fakeClient(members);
  const dir = new ServiceNowDirectory(client, { ttlMs: 30_000, now: () => 0 });
  assert.deepEqual(await dir.groupMembers('platform-approvers'), ['u1', 'u2']);
  (await dir.groupMembers('platform-approvers')).push('changed by a caller');
  assert.deepEqual(await dir.groupMembers('platform-approvers'), ['u1', 'u2']);
  assert.deepEqual(await dir.groupMembers('dba'), []);
  members.set('dba', ['u3']);
  assert.deepEqual(await dir.groupMembers('dba'), ['u3']);
  assert.equal(await dir.userByName('bob'), undefined);
  assert.equal(await dir.userByName('bob'), undefined);
  failNext.on = true;
  await assert.rejects(dir.actorOf(ANN.sys_id!), /unavailable/);
  assert.equal((await dir.actorOf(ANN.sys_id!)).displayName, 'Ann');
  assert.equal(reads.length, 7);
  const off = new ServiceNowDirectory(client, { ttlMs: 0 });
  await off.groupMembers('platform-approvers');
  await off.groupMembers('platform-approvers');
  assert.equal(reads.length, 9);
});
