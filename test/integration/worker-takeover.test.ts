/**
 * A delivery whose worker dies while handling it (its job lock expires; here a forced close)
 * is taken over by the next worker, again and again: BullMQ's default would fail it for good
 * the second time, though the service answered it 202. A ticket write taken over that way is not
 * its notice's first attempt: the dead worker may have posted it before it died (for the notices
 * of one step, one job, that holds for each of them: their sent marks are written as the job ends).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useRedis, uniqueName } from '../helpers/redis.ts';
import { createLogger } from '../../src/engine/logger.ts';
import { waitFor } from '../../src/demo/wait.ts';
import { deliveryJobId, jobId, queueNames, WorkflowQueues, type IntakeJobData } from '../../src/queue/queues.ts';
import { WorkflowWorkers, type NoticeAttempt, type OutboxWriter } from '../../src/queue/workers.ts';
import type { Redis } from 'ioredis';
import type { RequestWorkflow } from '../../src/workflow/workflow.ts';

const redis = useRedis();

test('a delivery whose worker is killed twice while handling it is taken over and handled, not failed', async () => {
  await redis.ready();
  const conn = redis.client();
  const name = uniqueName('takeover');
  const names = queueNames(name);
  const queues = new WorkflowQueues({ connection: conn, names });
  let handled = 0;
  const workers = () =>
    new WorkflowWorkers({
      connection: conn,
      redis: conn,
      names,
      keyPrefix: `${name}:`,
      workflow: {} as RequestWorkflow,
      intake: {
        jira: {
          // The first two attempts never finish: their worker dies under them.
          handle: async () => {
            handled += 1;
            if (handled <= 2) await new Promise(() => undefined);
          },
        },
      },
      outbox: { deliver: async () => undefined },
      logger: createLogger('silent'),
      stalled: { lockDurationMs: 400, intervalMs: 200 },
    });
  const d: IntakeJobData = { surface: 'jira', deliveryId: 'd-takeover', headers: {}, body: '{}', receivedAt: new Date().toISOString() };
  assert.equal(await queues.addDelivery(d), 'queued');
  for (const dies of [1, 2]) {
    const w = workers();
    w.start();
    await waitFor(async () => (handled >= dies ? true : undefined), `attempt ${dies} started`);
    await w.close(true); // killed: the job is left active, its lock expires
  }
  const last = workers();
  last.start();
  const state = await waitFor(async () => {
    const s = await queues.intake.getJobState(deliveryJobId(d));
    return s === 'completed' || s === 'failed' ? s : undefined;
  }, 'the delivery finished');
  assert.equal(state, 'completed', 'taken over after two dead workers, not failed');
  assert.equal(handled, 3);
  assert.equal(await last.deadLetters.count(), 0);
  await last.close();
  await queues.close();
});

/** Outbox-only workers on queues `name` whose dead worker's job is taken over quickly (400 ms lock). */
function outboxWorkers(conn: Redis, name: string, deliver: OutboxWriter['deliver']): WorkflowWorkers {
  return new WorkflowWorkers({
    connection: conn,
    redis: conn,
    names: queueNames(name),
    keyPrefix: `${name}:`,
    workflow: {} as RequestWorkflow,
    intake: {},
    outbox: { deliver },
    logger: createLogger('silent'),
    stalled: { lockDurationMs: 400, intervalMs: 200 },
  });
}

test('a ticket write whose worker died under it is not a first attempt when taken over', async () => {
  await redis.ready();
  const conn = redis.client();
  const name = uniqueName('takeover-notice');
  const names = queueNames(name);
  const queues = new WorkflowQueues({ connection: conn, names });
  const attempts: boolean[] = [];
  // The first run never finishes: its worker dies under it, perhaps after posting.
  const workers = () =>
    outboxWorkers(conn, name, async (_n, _log, attempt: NoticeAttempt) => {
      attempts.push(attempt.first);
      if (attempts.length === 1) await new Promise(() => undefined);
    });
  const key = 'r-dead:applied:1';
  await queues.notify({ requestId: 'r-dead', message: 'applied', key });
  const first = workers();
  first.start();
  await waitFor(async () => (attempts.length >= 1 ? true : undefined), 'the first run started');
  await first.close(true); // killed: the job is left active, its lock expires
  // The request's outbox lock would expire with the dead process; here its renewal timer lives on in this one.
  await conn.del(`${name}:outbox:lock:r-dead`);
  const next = workers();
  next.start();
  await waitFor(async () => ((await queues.outbox.getJobState(jobId(key))) === 'completed' ? true : undefined), 'the notice written');
  assert.deepEqual(attempts, [true, false], 'the run that took over must look for what the dead one posted');
  await next.close();
  await queues.close();
});

test("the notices of one step taken over from a dead worker after the first was written: each written again as not a first attempt, so the surface looks for what the dead one posted", async () => {
  await redis.ready();
  const conn = redis.client();
  const name = uniqueName('takeover-batch');
  const names = queueNames(name);
  const queues = new WorkflowQueues({ connection: conn, names });
  const attempts: string[] = [];
  // The first run writes the event, then dies under the status write.
  const workers = () =>
    outboxWorkers(conn, name, async (n, _log, attempt: NoticeAttempt) => {
      attempts.push(`${n.message}:${attempt.first ? 'first' : 'again'}`);
      if (attempts.length === 2) await new Promise(() => undefined);
    });
  const key = 'r-dead:applied+status:2';
  await queues.notify({
    requestId: 'r-dead',
    key,
    notices: [
      { requestId: 'r-dead', message: 'applied', key: 'r-dead:applied:2' },
      { requestId: 'r-dead', message: 'status', key: 'r-dead:status:2' },
    ],
  });
  const first = workers();
  first.start();
  await waitFor(async () => (attempts.length >= 2 ? true : undefined), 'the first run reached the status');
  await first.close(true);
  await conn.del(`${name}:outbox:lock:r-dead`);
  const next = workers();
  next.start();
  await waitFor(async () => ((await queues.outbox.getJobState(jobId(key))) === 'completed' ? true : undefined), 'the notices written');
  assert.deepEqual(attempts, ['applied:first', 'status:first', 'applied:again', 'status:again']);
  assert.equal(await conn.sismember(`${name}:outbox:sent`, 'r-dead:applied:2'), 1);
  await next.close();
  await queues.close();
});
