import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Directory, DirectoryUser } from '../../src/policy/index.ts';
import { CachedDirectory } from '../../src/surfaces/jira/directory-cache.ts';

/** A directory whose answers the test changes, counting the lookups that reach it. */
function fakeDirectory(): { dir: Directory; people: Map<string, DirectoryUser>; calls: string[]; failNext: { on: boolean } } {
  const people = new Map<string, DirectoryUser>([['ann', { id: 'ann', displayName: 'Ann', active: true, groups: ['approvers'] }]]);
  const calls: string[] = [];
  const failNext = { on: false };
  const dir: Directory = {
    getUser: async (id) => {
      calls.push(id);
      if (failNext.on) {
        failNext.on = false;
        throw new Error('Jira unavailable');
      }
      const p = people.get(id);
      return p ? { ...p, groups: [...p.groups] } : null;
    },
  };
  return { dir, people, calls, failNext };
}

test('a person is looked up once within the TTL, and again after it', async () => {
  const { dir, calls } = fakeDirectory();
  let now = 1_000;
  const cached = new CachedDirectory(dir, { ttlMs: 30_000, now: () => now });
  assert.equal((await cached.getUser('ann'))?.active, true);
  now += 29_999;
  assert.deepEqual((await cached.getUser('ann'))?.groups, ['approvers']);
  assert.deepEqual(calls, ['ann']);
  now += 1;
  await cached.getUser('ann');
  assert.deepEqual(calls, ['ann', 'ann']);
});

test('a person deactivated in Jira is seen inactive once the TTL has passed', async () => {
  const { dir, people } = fakeDirectory();
  let now = 0;
  const cached = new CachedDirectory(dir, { ttlMs: 30_000, now: () => now });
  await cached.getUser('ann');
  people.set('ann', { ...people.get('ann')!, active: false });
  now = 30_000;
  assert.equal((await cached.getUser('ann'))?.active, false);
});

test('failures and unknown people are never cached; TTL 0 always asks', async () => {
  const { dir, calls, failNext, people } = fakeDirectory();
  const now = 0;
  const cached = new CachedDirectory(dir, { ttlMs: 30_000, now: () => now });
  failNext.on = true;
  await assert.rejects(cached.getUser('ann'), /unavailable/);
  assert.equal((await cached.getUser('ann'))?.id, 'ann');
  assert.equal(await cached.getUser('bob'), null);
  people.set('bob', { id: 'bob', displayName: 'Bob', active: true, groups: [] });
  assert.equal((await cached.getUser('bob'))?.id, 'bob');
  assert.deepEqual(calls, ['ann', 'ann', 'bob', 'bob']);
  const off = new CachedDirectory(dir, { ttlMs: 0, now: () => now });
  await off.getUser('ann');
  await off.getUser('ann');
  assert.equal(calls.length, 6);
});

test('lookups of one person at once share one call; a caller changing its answer does not change the next', async () => {
  const { dir, calls } = fakeDirectory();
  const cached = new CachedDirectory(dir, { ttlMs: 30_000, now: () => 0 });
  const [a, b] = await Promise.all([cached.getUser('ann'), cached.getUser('ann')]);
  assert.equal(a?.id, b?.id);
  assert.equal(calls.length, 1);
  (await cached.getUser('ann'))!.groups.push('admins');
  assert.deepEqual((await cached.getUser('ann'))?.groups, ['approvers']);
});
