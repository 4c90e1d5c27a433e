import { Queue, type ConnectionOptions, type JobsOptions } from 'bullmq';
import type { NoticeBatch, WorkflowJob, WorkflowNotice, WorkflowPorts } from '../workflow/workflow.ts';
import { INTAKE_BACKOFF_TYPE, intakeAttempts, OUTBOX_BACKOFF_TYPE } from './intake-retry.ts';

/** What an outbox job carries: one notice, or the notices one step owes, written in order. */
export type OutboxJobData = WorkflowNotice | NoticeBatch;

/** A webhook delivery as received: verified, not yet parsed further. */
export interface IntakeJobData {
  surface: 'jira' | 'servicenow';
  deliveryId: string;
  headers: Record<string, string>;
  /** The raw body, as received (UTF-8). */
  body: string;
  receivedAt: string;
  /** How many times an operator replayed this delivery from the dead letters (absent: never). */
  replay?: number;
  /** Set once handled: the body and headers are dropped then, the job stays as the dedupe key. */
  handled?: true;
}

/** What {@link WorkflowQueues.addDelivery} did: queued it, or found it already queued (or done). */
export type DeliveryOutcome = 'queued' | 'duplicate';

/** Names of the queues; tests give each run its own. */
export interface QueueNames {
  intake: string;
  requests: string;
  outbox: string;
  /** Scheduled drift checks (src/queue/drift-schedule.ts). */
  drift: string;
}

/** Default queue names. */
export function queueNames(prefix = 'ts'): QueueNames {
  return { intake: `${prefix}-intake`, requests: `${prefix}-requests`, outbox: `${prefix}-outbox`, drift: `${prefix}-drift` };
}

/** The queue names of a service whose own keys start with `redisPrefix` (REDIS_PREFIX): the CLI finds the service's queues this way. */
export function queueNamesForPrefix(redisPrefix: string): QueueNames {
  return queueNames(redisPrefix.replace(/[^a-z0-9]/gi, '') || 'ts');
}

/**
 * The event streams of every queue of the service: kept to the shortest BullMQ trims to (it
 * trims approximately, in whole stream nodes) instead of BullMQ's default of 10,000 events per
 * queue, since nothing reads them (no `QueueEvents`). Every `Queue` opened on one of these queues
 * must pass it: each one writes it into the queue's meta on start.
 */
export const QUEUE_STREAMS = { events: { maxLen: 0 } };

/** BullMQ refuses `:` in custom job ids and integer-like ids. */
export function jobId(key: string): string {
  return `k.${key.replace(/:/g, '.')}`;
}

/**
 * The intake job id of a delivery: surface and delivery id, plus the replay count of a replayed
 * dead letter. This id is the only dedupe key of webhook deliveries.
 */
export function deliveryJobId(data: Pick<IntakeJobData, 'surface' | 'deliveryId' | 'replay'>): string {
  return jobId(`${data.surface}:${data.deliveryId}${data.replay ? `:replay:${data.replay}` : ''}`);
}

/** Seconds a finished job is kept (a completed one also for dedupe, a failed one for inspection). */
const DAY = 24 * 3600;

/**
 * Options of every intake job. Completed jobs are kept 7 days with no count limit, because the
 * job id is the dedupe key: while the job exists, a retried delivery is answered "duplicate";
 * once BullMQ removes it, the same delivery id would be queued again (surfaces retry within
 * hours, far inside the 7 days). Failed jobs are kept 30 days (their dead letter holds the
 * delivery for replay). Retries follow the intake schedule (intake-retry.ts) for more than a
 * day of surface outage; only the last few stack traces are kept across those attempts.
 */
export function intakeJobOptions(): JobsOptions {
  return {
    attempts: intakeAttempts(),
    backoff: { type: INTAKE_BACKOFF_TYPE },
    stackTraceLimit: 3,
    removeOnComplete: { age: 7 * DAY },
    removeOnFail: { age: 30 * DAY },
  };
}

/**
 * Options of every outbox job (a write back to a ticket): the intake schedule, capped exponential
 * backoff for more than a day of surface outage (not ten attempts in a few minutes), then a dead
 * letter (notice-dead-letters.ts). Finished jobs are kept as the requests' are.
 */
export function noticeJobOptions(): JobsOptions {
  return {
    attempts: intakeAttempts(),
    backoff: { type: OUTBOX_BACKOFF_TYPE },
    stackTraceLimit: 3,
    removeOnComplete: { age: 7 * DAY, count: 100_000 },
    removeOnFail: { age: 30 * DAY },
  };
}

/** Options of {@link WorkflowQueues}. */
export interface WorkflowQueuesOptions {
  connection: ConnectionOptions;
  names: QueueNames;
  /** BullMQ key prefix (default `bull`). */
  prefix?: string;
}

/**
 * The three durable queues: intake (webhook deliveries, job id = delivery id, so a retried
 * delivery is one job), requests (evaluate / apply, job id = the step's idempotency key) and
 * the outbox (every write back to a ticket, job id = the notice key, so nothing is posted
 * twice). Implements the workflow's ports.
 */
export class WorkflowQueues implements WorkflowPorts {
  readonly intake: Queue<IntakeJobData>;
  readonly requests: Queue<{ requestId: string }>;
  readonly outbox: Queue<OutboxJobData>;

  constructor(opts: WorkflowQueuesOptions) {
    const base = { connection: opts.connection, streams: QUEUE_STREAMS, ...(opts.prefix ? { prefix: opts.prefix } : {}) };
    const keep = { removeOnComplete: { age: 7 * DAY, count: 100_000 }, removeOnFail: { age: 30 * DAY } };
    this.intake = new Queue(opts.names.intake, { ...base, defaultJobOptions: intakeJobOptions() });
    this.requests = new Queue(opts.names.requests, { ...base, defaultJobOptions: { attempts: 5, backoff: { type: 'exponential', delay: 1000 }, ...keep } });
    this.outbox = new Queue(opts.names.outbox, { ...base, defaultJobOptions: noticeJobOptions() });
  }

  /**
   * Durably enqueues a delivery, the job id derived from its surface and delivery id; resolves
   * once Redis has it. A delivery whose job already exists (waiting, running, done within the
   * last 7 days, or failed) is a duplicate: BullMQ never adds a second job under one id, so two
   * copies racing each other still make one job (both may then be told "queued").
   */
  async addDelivery(data: IntakeJobData): Promise<DeliveryOutcome> {
    const id = deliveryJobId(data);
    // The job's own hash (every job has a name) exists while the job does, in any state (what
    // BullMQ's add itself checks): one HEXISTS instead of getJobState's scans of the waiting
    // list, which grew with the backlog.
    if ((await (await this.intake.backend.client).hexists(this.intake.toKey(id), 'name')) === 1) return 'duplicate';
    await this.intake.add(`${data.surface}.delivery`, data, { jobId: id });
    return 'queued';
  }

  /** {@inheritDoc WorkflowPorts.enqueue} */
  async enqueue(job: WorkflowJob): Promise<void> {
    await this.requests.add(job.name, { requestId: job.requestId }, { jobId: jobId(job.key), ...(job.delayMs ? { delay: job.delayMs } : {}) });
  }

  /** {@inheritDoc WorkflowPorts.notify} */
  async notify(notice: OutboxJobData): Promise<void> {
    await this.outbox.add(notice.message ?? 'notices', notice, { jobId: jobId(notice.key) });
  }

  async close(): Promise<void> {
    await Promise.all([this.intake.close(), this.requests.close(), this.outbox.close()]);
  }
}
