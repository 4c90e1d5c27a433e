/**
 * The outbox's per-request lock against real queues: released only by the attempt that holds
 * it (compare-and-delete on a per-attempt owner value), and renewed while a write runs, so a
 * write that outlasts the lock's TTL (waiting out a 429) keeps its request to itself.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { useRedis } from '../helpers/redis.ts';
import { startOutboxOnly } from '../helpers/outbox-workers.ts';
import { waitFor } from '../../src/demo/wait.ts';
import { jobId, type WorkflowQueues } from '../../src/queue/queues.ts';
import type { WorkflowNotice } from '../../src/workflow/workflow.ts';

const redis = useRedis();
const LOCK_TTL_MS = 900;
let conn: Redis;
let keyPrefix: string;
let queues: WorkflowQueues;
/** What writing a notice does, per notice key (default: nothing). */
const writes = new Map<string, (n: WorkflowNotice) => Promise<void>>();
const journal: string[] = [];

before(async () => {
  ({ conn, queues, keyPrefix } = await startOutboxOnly(
    redis,
    'outbox-locks',
    async (n) => {
      journal.push(`${n.key} start`);
      await writes.get(n.key)?.(n);
      journal.push(`${n.key} end`);
    },
    { lockTtlMs: { outbox: LOCK_TTL_MS } },
  ));
});

const lockKey = (requestId: string) => `${keyPrefix}outbox:lock:${requestId}`;

async function done(key: string): Promise<void> {
  await waitFor(async () => (await queues.outbox.getJobState(jobId(key))) === 'completed', `notice ${key} written`);
}

test('an outbox write whose lock passed to another holder does not delete it', async () => {
  writes.set('r-1:applied:1', async () => {
    await conn.set(lockKey('r-1'), 'another-holder', 'PX', 60_000);
  });
  await queues.notify({ requestId: 'r-1', message: 'applied', key: 'r-1:applied:1' });
  await done('r-1:applied:1');
  assert.equal(await conn.get(lockKey('r-1')), 'another-holder');
});

test('a write that takes longer than the lock TTL keeps its lock, so the request\'s next notice waits for it', async () => {
  let ttlWhileWriting = -2;
  let release!: () => void;
  const slowWrite = new Promise<void>((res) => (release = res));
  writes.set('r-2:status:1', async () => {
    ttlWhileWriting = await conn.pttl(lockKey('r-2'));
    await slowWrite;
  });
  await queues.notify({ requestId: 'r-2', message: 'status', key: 'r-2:status:1' });
  await waitFor(() => journal.includes('r-2:status:1 start'), 'the slow write started');
  await queues.notify({ requestId: 'r-2', message: 'applied', key: 'r-2:applied:2' });
  // Three TTLs pass while the first write runs; the lock is still held, by the same owner.
  const owner = await conn.get(lockKey('r-2'));
  await new Promise((r) => setTimeout(r, 3 * LOCK_TTL_MS));
  assert.ok(ttlWhileWriting > 0 && ttlWhileWriting <= LOCK_TTL_MS, `the lock is held for its TTL (${ttlWhileWriting} ms), not for good`);
  assert.equal(await conn.get(lockKey('r-2')), owner);
  assert.ok(owner);
  assert.ok(!journal.includes('r-2:applied:2 start'), 'the next notice of the request waits for the lock');
  release();
  await done('r-2:applied:2');
  assert.deepEqual(
    journal.filter((j) => j.startsWith('r-2:')),
    ['r-2:status:1 start', 'r-2:status:1 end', 'r-2:applied:2 start', 'r-2:applied:2 end'],
  );
  assert.equal(await conn.get(lockKey('r-2')), null, 'released after the write');
});
