/**
 * The intake worker against real queues: each attempt holds the per-ticket lock under its own
 * owner value and never deletes a lock that passed to another holder.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { useRedis, uniqueName } from '../helpers/redis.ts';
import { createLogger } from '../../src/engine/logger.ts';
import { SystemError } from '../../src/engine/errors.ts';
import { waitFor } from '../../src/demo/wait.ts';
import { deliveryJobId, queueNames, WorkflowQueues, type IntakeJobData } from '../../src/queue/queues.ts';
import { WorkflowWorkers, type IntakeHandler } from '../../src/queue/workers.ts';
import type { RequestWorkflow } from '../../src/workflow/workflow.ts';

const redis = useRedis();
let conn: Redis;
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
  const names = queueNames(name);
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

async function finished(d: Pick<IntakeJobData, 'deliveryId'>): Promise<string> {
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

test('an intake attempt whose lock passed to another holder does not delete it', async () => {
  behaviour.set('d-stolen', async () => {
    // The lock expired and another worker took it while this attempt was still running.
    await conn.set(lockKey('T-3'), 'another-holder', 'PX', 60_000);
  });
  await queues.addDelivery(delivery('d-stolen', 'T-3'));
  assert.equal(await finished({ deliveryId: 'd-stolen' }), 'completed');
  assert.equal(await conn.get(lockKey('T-3')), 'another-holder');
});
