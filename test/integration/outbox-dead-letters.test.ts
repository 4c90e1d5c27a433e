/**
 * The outbox during a long surface outage: a ticket write is retried on a capped schedule that
 * covers more than a day (not ten attempts in four minutes), then kept as a dead notice that is
 * listed, counted and replayed.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { useRedis, uniqueName } from '../helpers/redis.ts';
import { createLogger } from '../../src/engine/logger.ts';
import { SystemError } from '../../src/engine/errors.ts';
import { waitFor } from '../../src/demo/wait.ts';
import { Metrics } from '../../src/engine/metrics.ts';
import { intakeBackoffStrategy } from '../../src/queue/intake-retry.ts';
import { NoticeDeadLetters } from '../../src/queue/notice-dead-letters.ts';
import { jobId, queueNames, WorkflowQueues, type QueueNames } from '../../src/queue/queues.ts';
import { WorkflowWorkers } from '../../src/queue/workers.ts';
import type { RequestWorkflow, WorkflowNotice } from '../../src/workflow/workflow.ts';

const redis = useRedis();
let conn: Redis;
let names: QueueNames;
let keyPrefix: string;
let queues: WorkflowQueues;
const metrics = new Metrics();
let surfaceDown = true;
const written: string[] = [];

before(async () => {
  await redis.ready();
  conn = redis.client();
  const name = uniqueName('outbox-dead');
  keyPrefix = `${name}:`;
  names = queueNames(name);
  queues = new WorkflowQueues({ connection: conn, names });
  const workers = new WorkflowWorkers({
    connection: conn,
    redis: conn,
    names,
    keyPrefix,
    workflow: {} as RequestWorkflow,
    intake: {},
    outbox: {
      deliver: async (n) => {
        if (surfaceDown) throw new SystemError('Jira POST comment failed with 503: service unavailable');
        written.push(n.key);
      },
    },
    logger: createLogger('silent'),
    metrics,
  });
  workers.start();
  redis.cleanup(async () => {
    await workers.close();
    await queues.close();
  });
});

test('outbox jobs retry with capped backoff for more than 24 hours of outage', () => {
  const opts = queues.outbox.defaultJobOptions;
  const attempts = opts.attempts ?? 1;
  let waited = 0;
  let longest = 0;
  for (let made = 1; made < attempts; made++) {
    const wait = intakeBackoffStrategy(made);
    waited += wait;
    longest = Math.max(longest, wait);
  }
  assert.ok(waited > 24 * 3600_000, `retries cover ${Math.round(waited / 3600_000)} h`);
  assert.ok(longest <= 5 * 60_000, 'the wait between attempts is capped');
  assert.equal((opts.backoff as { type?: string }).type, 'outbox', 'the worker runs the capped schedule, not exponential without cap');
});

test('a notice whose every attempt failed is kept as a dead letter, counted, and replayed', async () => {
  const notice: WorkflowNotice = { requestId: 'req_dead1', message: 'applied', key: 'req_dead1:applied:7' };
  // Two attempts instead of the day-long schedule, so the test does not wait a day.
  await queues.outbox.add(notice.message, notice, { jobId: jobId(notice.key), attempts: 2, backoff: { type: 'fixed', delay: 10 } });
  const letters = new NoticeDeadLetters({ redis: conn, names, keyPrefix });
  const listed = await waitFor(async () => {
    const l = await letters.list();
    return l.length === 1 ? l : undefined;
  }, 'one dead notice');
  assert.deepEqual(
    { id: listed[0]!.id, request: listed[0]!.requestId, attempts: listed[0]!.attempts, cls: listed[0]!.lastError.class },
    { id: 'req_dead1:applied:7', request: 'req_dead1', attempts: 2, cls: 'SystemError' },
  );
  await waitFor(async () => /ts_notices_dead 1/.test(metrics.render()), 'the dead-notice gauge set');
  surfaceDown = false;
  const replayed = await letters.replay('req_dead1:applied:7');
  assert.equal(replayed.replay, 1);
  await waitFor(async () => written.includes('req_dead1:applied:7'), 'the replayed notice written');
  // The dead letter is cleared once the replayed job completes (just after its write).
  await waitFor(async () => ((await letters.count()) === 0 ? true : undefined), 'the dead letter cleared');
  await letters.close();
});
