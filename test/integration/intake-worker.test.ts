/**
 * The intake worker against real queues: a ConflictError (an edit racing an evaluate) is
 * retried, not dropped; each attempt holds the per-ticket lock under its own owner value and
 * never deletes a lock that passed to another holder; a delivery whose every attempt failed is
 * kept as a dead letter (listed without its body) and replayed under a fresh job id.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { useRedis, uniqueName } from '../helpers/redis.ts';
import { createLogger } from '../../src/engine/logger.ts';
import { ConflictError, NotFoundError, SystemError, ValidationError } from '../../src/engine/errors.ts';
import { waitFor } from '../../src/demo/wait.ts';
import { DeadLetters } from '../../src/queue/dead-letters.ts';
import { deliveryJobId, queueNames, WorkflowQueues, type IntakeJobData, type QueueNames } from '../../src/queue/queues.ts';
import { WorkflowWorkers, type IntakeHandler } from '../../src/queue/workers.ts';
import type { RequestWorkflow } from '../../src/workflow/workflow.ts';

const redis = useRedis();
let conn: Redis;
let names: QueueNames;
let keyPrefix: string;
let queues: WorkflowQueues;
/** What the intake handler does with a delivery, per delivery id (default: succeed). */
const behaviour = new Map<string, (d: IntakeJobData, attempt: number) => Promise<void>>();
const attempts = new Map<string, IntakeJobData[]>();

const handler: IntakeHandler = {
  async handle(d) {
    const seen = attempts.get(d.deliveryId) ?? [];
    seen.push(d);
    attempts.set(d.deliveryId, seen);
    await behaviour.get(d.deliveryId)?.(d, seen.length);
  },
  serialKey: (d) => JSON.parse(d.body).issue as string,
};

before(async () => {
  await redis.ready();
  conn = redis.client();
  const name = uniqueName('intake-worker');
  names = queueNames(name);
  keyPrefix = `${name}:`;
  queues = new WorkflowQueues({ connection: conn, names });
  const workers = new WorkflowWorkers({
    connection: conn,
    redis: conn,
    names,
    keyPrefix,
    workflow: {} as RequestWorkflow,
    intake: { jira: handler },
    outbox: { deliver: async () => undefined },
    logger: createLogger('silent'),
  });
  workers.start();
  redis.cleanup(async () => {
    await workers.close();
    await queues.close();
  });
});

function delivery(deliveryId: string, issue: string, body: Record<string, unknown> = {}): IntakeJobData {
  return { surface: 'jira', deliveryId, headers: {}, body: JSON.stringify({ issue, ...body }), receivedAt: '2025-03-01T10:00:00.000Z' };
}

async function finished(d: Pick<IntakeJobData, 'deliveryId' | 'replay'>): Promise<string> {
  const id = deliveryJobId({ surface: 'jira', ...d });
  return waitFor(async () => {
    const s = await queues.intake.getJobState(id);
    return s === 'completed' || s === 'failed' ? s : undefined;
  }, `job ${id} finished`);
}

const lockKey = (issue: string) => `${keyPrefix}intake:lock:jira:${issue}`;

test('each intake attempt holds the per-ticket lock under its own owner value, and releases it', async () => {
  const owners: string[] = [];
  behaviour.set('d-owners', async (_d, attempt) => {
    owners.push((await conn.get(lockKey('T-1')))!);
    if (attempt === 1) throw new SystemError('Jira is down');
  });
  assert.equal(await queues.addDelivery(delivery('d-owners', 'T-1')), 'queued');
  assert.equal(await finished({ deliveryId: 'd-owners' }), 'completed');
  assert.equal(owners.length, 2);
  const jobId = deliveryJobId({ surface: 'jira', deliveryId: 'd-owners' });
  for (const o of owners) assert.ok(o.startsWith(`${jobId}:`) && o.length > jobId.length + 8, `owner ${o} names the job and the attempt`);
  assert.notEqual(owners[0], owners[1], 'two attempts of one job are two owners');
  assert.equal(await conn.get(lockKey('T-1')), null, 'released after the attempt');
});

test('a handled delivery keeps its job (the dedupe key) but not its raw body or headers', async () => {
  const d = { ...delivery('d-dropped', 'T-9', { secretish: 'raw webhook text' }), headers: { 'x-hub-signature': 'sha256=abc' } };
  assert.equal(await queues.addDelivery(d), 'queued');
  assert.equal(await finished({ deliveryId: 'd-dropped' }), 'completed');
  assert.equal(attempts.get('d-dropped')?.[0]?.body, d.body, 'the handler saw the body');
  const job = await queues.intake.getJob(deliveryJobId({ surface: 'jira', deliveryId: 'd-dropped' }));
  assert.equal(job?.data.body, '');
  assert.deepEqual(job?.data.headers, {});
  assert.equal(job?.data.handled, true);
  assert.equal(await queues.addDelivery(d), 'duplicate', 'a retried delivery is still a duplicate');
});

test('a ConflictError in intake is retried (not dropped)', async () => {
  behaviour.set('d-conflict', async (_d, attempt) => {
    if (attempt === 1) throw new ConflictError('request', 'r-1', 1, 2);
  });
  assert.equal(await queues.addDelivery(delivery('d-conflict', 'T-6')), 'queued');
  assert.equal(await finished({ deliveryId: 'd-conflict' }), 'completed');
  assert.equal(attempts.get('d-conflict')?.length, 2, 'handled again after the conflict');
});

test('other user errors are still refused once, not retried', async () => {
  behaviour.set('d-invalid', async () => {
    throw new ValidationError('payload not understood', [{ pointer: '/issue', message: 'required' }]);
  });
  await queues.addDelivery(delivery('d-invalid', 'T-2'));
  assert.equal(await finished({ deliveryId: 'd-invalid' }), 'completed');
  assert.equal(attempts.get('d-invalid')?.length, 1);
});

test('an intake attempt whose lock passed to another holder does not delete it', async () => {
  behaviour.set('d-stolen', async () => {
    // The lock expired and another worker took it while this attempt was still running.
    await conn.set(lockKey('T-3'), 'another-holder', 'PX', 60_000);
  });
  await queues.addDelivery(delivery('d-stolen', 'T-3'));
  assert.equal(await finished({ deliveryId: 'd-stolen' }), 'completed');
  assert.equal(await conn.get(lockKey('T-3')), 'another-holder');
});

test('a delivery whose every attempt failed is a dead letter: listed without its body, replayed under a fresh job id', async () => {
  const letters = new DeadLetters({ redis: conn, names, keyPrefix });
  const body = { secretish: 'body-text-that-must-not-be-listed' };
  behaviour.set('d-down', async () => {
    throw new SystemError('Jira GET issue failed with 503: service unavailable; token=abc123def456');
  });
  behaviour.set('d-garbled', async (d) => {
    JSON.parse(`${d.body}}`); // a library error whose message quotes the body
  });
  // Two attempts instead of the day-long schedule, so the test does not wait a day.
  for (const d of [delivery('d-down', 'T-4', body), delivery('d-garbled', 'T-5', body)]) await queues.intake.add('jira.delivery', d, { jobId: deliveryJobId(d), attempts: 2, backoff: { type: 'fixed', delay: 10 } });
  assert.equal(await finished({ deliveryId: 'd-down' }), 'failed');
  assert.equal(await finished({ deliveryId: 'd-garbled' }), 'failed');

  const listed = await waitFor(async () => {
    const l = await letters.list();
    return l.length === 2 ? l : undefined;
  }, 'two dead letters');
  assert.equal(await letters.count(), 2);
  assert.doesNotMatch(JSON.stringify(listed), /body-text-that-must-not-be-listed|abc123def456/);
  const down = listed.find((l) => l.deliveryId === 'd-down')!;
  assert.deepEqual(
    { id: down.id, surface: down.surface, attempts: down.attempts, replays: down.replays, firstReceivedAt: down.firstReceivedAt, cls: down.lastError.class, code: down.lastError.code },
    { id: 'jira:d-down', surface: 'jira', attempts: 2, replays: 0, firstReceivedAt: '2025-03-01T10:00:00.000Z', cls: 'SystemError', code: 'system' },
  );
  assert.match(down.lastError.message, /Jira GET issue failed with 503/);
  const garbled = listed.find((l) => l.deliveryId === 'd-garbled')!;
  assert.equal(garbled.lastError.class, 'SyntaxError');
  assert.match(garbled.lastError.message, /not shown/);

  // The surface's own retry of the dead delivery is still a duplicate: only a replay re-runs it.
  assert.equal(await queues.addDelivery(delivery('d-down', 'T-4', body)), 'duplicate');
  behaviour.set('d-down', async () => undefined);
  const replayed = await letters.replay('jira:d-down');
  assert.deepEqual(replayed, { id: 'jira:d-down', jobId: deliveryJobId({ surface: 'jira', deliveryId: 'd-down', replay: 1 }), replay: 1 });
  assert.equal(await finished({ deliveryId: 'd-down', replay: 1 }), 'completed');
  const last = attempts.get('d-down')!.at(-1)!;
  assert.equal(last.replay, 1);
  assert.equal(last.body, delivery('d-down', 'T-4', body).body, 'the replay carries the delivery as received');
  assert.deepEqual((await letters.list()).map((l) => l.id), ['jira:d-garbled']);
  await assert.rejects(letters.replay('jira:d-down'), NotFoundError);
  await letters.close();
});
