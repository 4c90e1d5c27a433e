/**
 * The outbox tells the writer whether a notice's run is its first attempt (nothing of it can be in
 * the ticket yet, so the writer may skip looking for an earlier post): true on the first run,
 * also after waiting for a sibling's lock; false after a failed attempt and after a rate-limit
 * delay in the middle of a write. The notices one step owes are one job: written in order, each
 * marked sent once written, a refused one not stopping the others.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { useRedis } from '../helpers/redis.ts';
import { startOutboxOnly } from '../helpers/outbox-workers.ts';
import { waitFor } from '../../src/demo/wait.ts';
import { jobId, type WorkflowQueues } from '../../src/queue/queues.ts';
import type { NoticeAttempt } from '../../src/queue/workers.ts';
import { UserError } from '../../src/engine/errors.ts';
import type { WorkflowNotice } from '../../src/workflow/workflow.ts';

const redis = useRedis();
let conn: Redis;
let keyPrefix: string;
let queues: WorkflowQueues;
/** What writing a notice does on its n-th run (0-based), per notice key. */
const writes = new Map<string, (run: number) => Promise<void>>();
/** The attempt each run of a notice was given, per notice key. */
const seen = new Map<string, boolean[]>();

before(async () => {
  ({ conn, queues, keyPrefix } = await startOutboxOnly(redis, 'outbox-attempt', async (n: WorkflowNotice, _log, attempt: NoticeAttempt) => {
    const runs = seen.get(n.key) ?? [];
    runs.push(attempt.first);
    seen.set(n.key, runs);
    await writes.get(n.key)?.(runs.length - 1);
  }));
});

async function written(key: string, promoteRetries = false): Promise<void> {
  await waitFor(async () => {
    const job = await queues.outbox.getJob(jobId(key));
    // A failed attempt waits out the day-long retry schedule: the test runs it now.
    if (promoteRetries && (await job?.getState()) === 'delayed') await job!.promote().catch(() => undefined);
    return (await queues.outbox.getJobState(jobId(key))) === 'completed';
  }, `notice ${key} written`);
}

test('a notice written at the first run is told it is the first attempt', async () => {
  await queues.notify({ requestId: 'r-1', message: 'applied', key: 'r-1:applied:1' });
  await written('r-1:applied:1');
  assert.deepEqual(seen.get('r-1:applied:1'), [true]);
});

test('a run after a failed attempt is not the first', async () => {
  writes.set('r-2:applied:1', async (run) => {
    if (run === 0) throw new Error('the answer was lost');
  });
  await queues.notify({ requestId: 'r-2', message: 'applied', key: 'r-2:applied:1' });
  await written('r-2:applied:1', true);
  assert.deepEqual(seen.get('r-2:applied:1'), [true, false]);
});

test('a run after a rate-limit delay in the middle of a write is not the first, though no attempt was counted', async () => {
  writes.set('r-3:applied:1', async (run) => {
    if (run === 0) throw Object.assign(new Error('429'), { retryAfterMs: 20 });
  });
  await queues.notify({ requestId: 'r-3', message: 'applied', key: 'r-3:applied:1' });
  await written('r-3:applied:1');
  assert.deepEqual(seen.get('r-3:applied:1'), [true, false]);
  // Only the completion counted as an attempt: the delay did not.
  assert.equal((await queues.outbox.getJob(jobId('r-3:applied:1')))?.attemptsMade, 1);
});

test('waiting for a sibling notice of the same request does not make a run a retry', async () => {
  await conn.set(`${keyPrefix}outbox:lock:r-4`, 'a-sibling', 'PX', 300);
  await queues.notify({ requestId: 'r-4', message: 'applied', key: 'r-4:applied:1' });
  await written('r-4:applied:1');
  assert.deepEqual(seen.get('r-4:applied:1'), [true]);
});

test("the notices one step owes are one job, written in order; a failure of a later one retries only what was not sent", async () => {
  const first = { requestId: 'r-5', message: 'applied' as const, key: 'r-5:applied:2' };
  const status = { requestId: 'r-5', message: 'status' as const, key: 'r-5:status:2' };
  const order: string[] = [];
  writes.set(first.key, async () => void order.push('applied'));
  writes.set(status.key, async (run) => {
    order.push('status');
    if (run === 0) throw new Error('the status write failed');
  });
  await queues.notify({ requestId: 'r-5', key: 'r-5:applied+status:2', notices: [first, status] });
  await written('r-5:applied+status:2', true);
  // The event notice was marked sent when its sibling failed: the retry wrote the status alone.
  assert.deepEqual(order, ['applied', 'status', 'status']);
  assert.deepEqual(seen.get(first.key), [true]);
  assert.deepEqual(seen.get(status.key), [true, false]);
  assert.equal(await conn.sismember(`${keyPrefix}outbox:sent`, first.key), 1);
});

test('a notice of a step that the surface refuses does not keep the step\'s other notices from being written', async () => {
  const refused = { requestId: 'r-6', message: 'approval-needed' as const, key: 'r-6:approval-needed:3' };
  const status = { requestId: 'r-6', message: 'status' as const, key: 'r-6:status:3' };
  writes.set(refused.key, async () => {
    throw new UserError('not_found', 'the ticket is gone');
  });
  await queues.notify({ requestId: 'r-6', key: 'r-6:approval-needed+status:3', notices: [refused, status] });
  await written('r-6:approval-needed+status:3');
  assert.deepEqual(seen.get(refused.key), [true]);
  assert.deepEqual(seen.get(status.key), [true]);
});
