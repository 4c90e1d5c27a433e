import type { Redis } from 'ioredis';
import { createLogger } from '../../src/engine/logger.ts';
import { queueNames, WorkflowQueues } from '../../src/queue/queues.ts';
import { WorkflowWorkers, type OutboxWriter, type WorkflowWorkersOptions } from '../../src/queue/workers.ts';
import type { RequestWorkflow } from '../../src/workflow/workflow.ts';
import { uniqueName, type useRedis } from './redis.ts';

/** Queues and running workers that write notices only (no workflow, no intake), on a test's Redis. */
export interface OutboxOnly {
  conn: Redis;
  queues: WorkflowQueues;
  /** The queues' key prefix (`<name>:`), where the outbox keeps its locks and sent marks. */
  keyPrefix: string;
}

/**
 * Starts real queues and workers on a unique name whose outbox hands every notice to `deliver`;
 * both are closed when the test's Redis is. `options` are passed to the workers (lock TTLs).
 */
export async function startOutboxOnly(
  redis: ReturnType<typeof useRedis>,
  name: string,
  deliver: OutboxWriter['deliver'],
  options: Partial<WorkflowWorkersOptions> = {},
): Promise<OutboxOnly> {
  await redis.ready();
  const conn = redis.client();
  const unique = uniqueName(name);
  const names = queueNames(unique);
  const queues = new WorkflowQueues({ connection: conn, names });
  const workers = new WorkflowWorkers({
    connection: conn,
    redis: conn,
    names,
    keyPrefix: `${unique}:`,
    workflow: {} as RequestWorkflow,
    intake: {},
    outbox: { deliver },
    logger: createLogger('silent'),
    ...options,
  });
  workers.start();
  redis.cleanup(async () => {
    await workers.close();
    await queues.close();
  });
  return { conn, queues, keyPrefix: `${unique}:` };
}
