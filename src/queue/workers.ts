import { DelayedError, Worker, type ConnectionOptions, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { noticesOf, type RequestWorkflow, type WorkflowNotice } from '../workflow/workflow.ts';
import { ConflictError, UserError } from '../engine/errors.ts';
import type { Logger } from '../engine/logger.ts';
import type { Metrics } from '../engine/metrics.ts';
import { DeadLetters } from './dead-letters.ts';
import { NoticeDeadLetters } from './notice-dead-letters.ts';
import { intakeBackoffStrategy } from './intake-retry.ts';
import { markDone, takeLock, takeLockNotingDone, type HeldLock, type WorkDone } from './locks.ts';
import { jobId, type IntakeJobData, type OutboxJobData, type QueueNames } from './queues.ts';

/** Turns a verified delivery into workflow calls (implemented by each surface adapter). */
export interface IntakeHandler {
  handle(delivery: IntakeJobData, log: Logger): Promise<void>;
  /**
   * The ticket a delivery is about, so deliveries of one ticket are handled one at a time (an
   * issue created and edited within a second must not become two requests). Undefined: no order.
   */
  serialKey?(delivery: IntakeJobData): string | undefined;
}

/**
 * Which attempt of a notice a write is. `first`: no earlier attempt of this notice can have
 * written anything to the ticket (BullMQ's first run of the job: no failed attempt, not taken over
 * from a dead worker, not delayed by a rate limit after it started writing, not a replay of a dead
 * notice), so a writer may skip looking for what an earlier attempt posted. Otherwise (or when
 * not given) a writer must assume an earlier attempt may have posted and its answer was lost.
 */
export interface NoticeAttempt {
  first: boolean;
}

/** Writes one notice back to the request's surface (implemented over the surface adapters). */
export interface OutboxWriter {
  deliver(notice: WorkflowNotice, log: Logger, attempt: NoticeAttempt): Promise<void>;
}

/** The job progress recorded when a notice's write was delayed by a rate limit (it may have written part). */
const MAY_HAVE_WRITTEN = { mayHaveWritten: true };

/**
 * Whether this run of outbox job `job` is its notices' first attempt (see {@link NoticeAttempt}).
 * A batch's notices share it: on the job's first run no notice of it was attempted before.
 */
function noticeAttempt(job: Job<OutboxJobData>): NoticeAttempt {
  const replay = job.id !== jobId(job.data.key);
  const delayedMidWrite = typeof job.progress === 'object' && job.progress !== null && (job.progress as { mayHaveWritten?: unknown }).mayHaveWritten === true;
  return { first: job.attemptsMade === 0 && !job.stalledCounter && !replay && !delayedMidWrite };
}

/** Options of {@link WorkflowWorkers}. */
export interface WorkflowWorkersOptions {
  connection: ConnectionOptions;
  /** A plain connection for the outbox's per-request locks and sent-notice set. */
  redis: Redis;
  names: QueueNames;
  prefix?: string;
  /** Key prefix for the outbox's own keys (default `ts:`). */
  keyPrefix?: string;
  workflow: RequestWorkflow;
  intake: Record<string, IntakeHandler>;
  outbox: OutboxWriter;
  logger: Logger;
  metrics?: Metrics;
  concurrency?: { intake?: number; requests?: number; outbox?: number };
  /** Lock TTLs in ms: intake per ticket (default 60000), outbox per request (default 30000); renewed every third. */
  lockTtlMs?: { intake?: number; outbox?: number };
  /** How jobs of a dead worker are taken over (see {@link STALLED_TAKEOVERS}); tests shorten the times. */
  stalled?: { maxCount?: number; lockDurationMs?: number; intervalMs?: number };
}

/**
 * How many times a job whose worker died (SIGKILL, a lost host: its job lock expired) is taken
 * over by another worker before it is failed. BullMQ's default is 1: a delivery whose worker is
 * killed twice while handling it would fail for good, past every retry and dead letter, though
 * it was answered 202. A job that kills its worker every time still stops after this many and
 * is kept as a dead letter.
 */
export const STALLED_TAKEOVERS = 50;

/** True when a failure of this attempt is the job's last (BullMQ will not retry it). */
function isLastAttempt(job: Job): boolean {
  return job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
}

function retryAfterMs(err: unknown): number | undefined {
  const v = (err as { retryAfterMs?: unknown } | null)?.retryAfterMs;
  return typeof v === 'number' && v >= 0 ? v : undefined;
}

/**
 * The workers of the three queues. User failures are answered (by the workflow, in the ticket)
 * and never retried; system failures are logged and retried with backoff. Intake retries for
 * more than a day (intake-retry.ts), a `ConflictError` included (an edit raced an evaluate; the
 * retry reads the record again), and keeps a delivery it gives up on as a dead letter. The
 * outbox honours 429 `Retry-After` by delaying the job (not counting an attempt), writes one
 * request's notices one at a time, and records each sent notice so a retried job never posts
 * twice. Per-ticket and per-request locks belong to one attempt: renewed while it runs, and
 * released only by it.
 */
export class WorkflowWorkers {
  private readonly workers: Worker[] = [];
  /** Deliveries intake gave up on. */
  readonly deadLetters: DeadLetters;
  /** Notices the outbox gave up on (after more than a day of retries). */
  readonly deadNotices: NoticeDeadLetters;

  constructor(private readonly opts: WorkflowWorkersOptions) {
    const where = { redis: opts.redis, names: opts.names, ...(opts.prefix ? { prefix: opts.prefix } : {}), keyPrefix: opts.keyPrefix ?? 'ts:' };
    this.deadLetters = new DeadLetters(where);
    this.deadNotices = new NoticeDeadLetters(where);
  }

  /** Starts the workers. */
  start(): void {
    const { connection, names, prefix, stalled = {} } = this.opts;
    const base = {
      connection,
      ...(prefix ? { prefix } : {}),
      maxStalledCount: stalled.maxCount ?? STALLED_TAKEOVERS,
      ...(stalled.lockDurationMs ? { lockDuration: stalled.lockDurationMs } : {}),
      ...(stalled.intervalMs ? { stalledInterval: stalled.intervalMs } : {}),
    };
    const c = this.opts.concurrency ?? {};
    this.workers.push(
      new Worker<IntakeJobData>(names.intake, (job, token) => this.runIntake(job, token), {
        ...base,
        concurrency: c.intake ?? 8,
        settings: { backoffStrategy: intakeBackoffStrategy },
      }),
      new Worker<{ requestId: string }>(names.requests, (job) => this.runRequest(job), { ...base, concurrency: c.requests ?? 4 }),
      new Worker<OutboxJobData>(names.outbox, (job, token) => this.runOutbox(job, token), {
        ...base,
        concurrency: c.outbox ?? 8,
        settings: { backoffStrategy: intakeBackoffStrategy },
      }),
    );
    for (const w of this.workers) {
      w.on('failed', (job, err) => {
        this.opts.logger.error({ queue: w.name, job: job?.id, attempts: job?.attemptsMade, err }, 'job failed');
        if (job) void this.keepFailed(w.name, job, err);
      });
      w.on('error', (err) => this.opts.logger.error({ queue: w.name, err: { name: err.name } }, 'worker error'));
    }
  }

  /**
   * A job failed for good without its handler keeping it (its workers kept dying: failed by
   * BullMQ's stalled check): an intake delivery or a notice becomes a dead letter all the same.
   */
  private async keepFailed(queue: string, job: Job, err: Error): Promise<void> {
    try {
      if (!(await job.isFailed())) return;
      if (queue === this.opts.names.intake && !(await this.deadLetters.has(job.data as IntakeJobData))) {
        await this.deadLetters.record(job.data as IntakeJobData, err, job.attemptsMade);
      } else if (queue === this.opts.names.outbox) {
        await this.keepFailedNotices(job as Job<OutboxJobData>, err);
      }
    } catch (e) {
      this.opts.logger.error({ err: e, job: job.id }, 'could not keep the failed job as a dead letter');
    }
  }

  /** The notices of a failed outbox job that are neither dead letters already nor marked sent, kept as dead letters. */
  private async keepFailedNotices(job: Job<OutboxJobData>, err: Error): Promise<void> {
    const sent = `${this.opts.keyPrefix ?? 'ts:'}outbox:sent`;
    for (const notice of noticesOf(job.data)) {
      if (await this.deadNotices.has(notice.key)) continue;
      if (notice.message !== 'status' && (await this.opts.redis.sismember(sent, notice.key)) === 1) continue;
      await this.deadNotices.record(notice, err, job.attemptsMade);
    }
  }

  private async runIntake(job: Job<IntakeJobData>, token?: string): Promise<void> {
    const log = this.opts.logger.child({ delivery: job.data.deliveryId, surface: job.data.surface });
    // Handled already (its body dropped) by an attempt that stopped before BullMQ completed it.
    if (job.data.handled) return;
    const handler = this.opts.intake[job.data.surface];
    if (!handler) {
      log.warn('no intake handler for surface');
      return;
    }
    const serial = handler.serialKey?.(job.data);
    const lockKey = serial ? `${this.opts.keyPrefix ?? 'ts:'}intake:lock:${job.data.surface}:${serial}` : undefined;
    const lock = lockKey ? await takeLock(this.opts.redis, lockKey, this.opts.lockTtlMs?.intake ?? 60_000, job.id ?? 'intake') : undefined;
    if (lockKey && !lock) {
      await job.moveToDelayed(Date.now() + 50 + Math.floor(Math.random() * 100), token);
      throw new DelayedError();
    }
    lock?.keepAlive((err) => log.warn({ err }, 'intake lock renewal failed'));
    try {
      await handler.handle(job.data, log);
      // Resumable: the raw body and headers are dropped once handled (the job id stays the
      // dedupe key); an attempt that stops after this is completed by the `handled` check above.
      await job.updateData({ ...job.data, headers: {}, body: '', handled: true });
      this.opts.metrics?.inc('ts_deliveries_processed_total', 'Webhook deliveries processed', { surface: job.data.surface });
      // A letter recorded by an attempt that crashed before BullMQ failed the job.
      if (isLastAttempt(job)) await this.deadLetters.forget(job.data);
    } catch (err) {
      await this.intakeFailed(job, err, log);
    } finally {
      await this.release(lock, log);
    }
  }

  /**
   * A failed intake attempt: a user error (other than a conflict) is refused for good; anything
   * else is thrown for BullMQ to retry, and kept as a dead letter when it was the last attempt.
   */
  private async intakeFailed(job: Job<IntakeJobData>, err: unknown, log: Logger): Promise<void> {
    if (err instanceof UserError && !(err instanceof ConflictError)) {
      log.warn({ code: err.code, problem: err.message }, 'delivery refused');
      return;
    }
    if (isLastAttempt(job)) {
      await this.deadLetters
        .record(job.data, err, job.attemptsMade + 1)
        .then(() => log.error({ attempts: job.attemptsMade + 1 }, 'delivery failed for good; kept as a dead letter'))
        .catch((e: unknown) => log.error({ err: e }, 'could not keep the failed delivery as a dead letter'));
    }
    throw err;
  }

  /** Releases a lock if still ours; a failure to release is logged (the lock expires by itself). */
  private async release(lock: HeldLock | undefined, log: Logger): Promise<void> {
    if (!lock) return;
    const ours = await lock.release().catch((err: unknown) => {
      log.warn({ err }, 'lock release failed');
      return true;
    });
    if (!ours) log.warn({ lock: lock.key }, 'lock had passed to another holder; left in place');
  }

  private async runRequest(job: Job<{ requestId: string }>): Promise<void> {
    const log = this.opts.logger.child({ request: job.data.requestId, step: job.name });
    try {
      if (job.name === 'evaluate') await this.opts.workflow.evaluate(job.data.requestId);
      else if (job.name === 'apply') await this.opts.workflow.apply(job.data.requestId);
      else log.warn('unknown request job');
    } catch (err) {
      if (err instanceof UserError) {
        log.warn({ code: err.code, problem: err.message }, 'request step refused');
        return;
      }
      log.error({ err }, 'request step failed; will retry');
      throw err;
    }
  }

  /**
   * Writes an outbox job's notices (one, or those one step owes) in order, under the request's
   * lock. An event notice is written at most once: the set of sent ones is read as the lock is
   * taken (a retried batch skips what it sent), and the ones written are marked sent with the
   * lock's release (one script), or before the failure is handled when a later one fails. A crash
   * between a write and its mark leaves it unmarked: the taken-over job's attempt is not the
   * first, so the surface looks for what the dead attempt posted before writing (see NoticeAttempt).
   */
  private async runOutbox(job: Job<OutboxJobData>, token?: string): Promise<void> {
    const notices = noticesOf(job.data);
    const log = this.opts.logger.child({ request: job.data.requestId, notice: job.data.message ?? job.data.key });
    const k = this.opts.keyPrefix ?? 'ts:';
    const sent: WorkDone = { set: `${k}outbox:sent`, members: [] };
    const events = notices.filter((n) => n.message !== 'status').map((n) => n.key);
    // One writer per request at a time, so the status comment is created once and then edited.
    const ttl = this.opts.lockTtlMs?.outbox ?? 30_000;
    const taken = await takeLockNotingDone(this.opts.redis, `${k}outbox:lock:${job.data.requestId}`, ttl, job.id ?? 'outbox', sent.set, events, notices.length);
    if (taken.allDone) return;
    const lock = taken.lock;
    if (!lock) {
      // A sibling notice of the same request is being written; a short jittered wait keeps
      // their order loose but the ticket's latency low (most writes take a few milliseconds).
      await job.moveToDelayed(Date.now() + 10 + Math.floor(Math.random() * 20), token);
      throw new DelayedError();
    }
    // The write may wait out a 429 in the client for longer than the TTL: keep the lock meanwhile.
    lock.keepAlive((err) => log.warn({ err }, 'outbox lock renewal failed'));
    const todo = notices.filter((n) => !taken.done.has(n.key));
    const attempt = noticeAttempt(job);
    let at = 0;
    try {
      for (; at < todo.length; at++) {
        const notice = todo[at]!;
        await this.deliver(notice, log, attempt);
        if (notice.message !== 'status') sent.members.push(notice.key);
        this.opts.metrics?.inc('ts_outbox_delivered_total', 'Notices written back to tickets', { message: notice.message });
      }
    } catch (err) {
      await markDone(this.opts.redis, sent).catch((e: unknown) => log.warn({ err: e }, 'could not mark the written notices sent'));
      try {
        return await this.outboxFailed(job, todo.slice(at), err, log, token);
      } finally {
        await this.release(lock, log);
      }
    }
    if (!(await lock.release(sent))) log.warn({ lock: lock.key }, 'lock had passed to another holder; left in place');
  }

  /** Writes one notice; one the surface refuses (a user error) is refused for good, and the job goes on with the next. */
  private async deliver(notice: WorkflowNotice, log: Logger, attempt: NoticeAttempt): Promise<void> {
    try {
      await this.opts.outbox.deliver(notice, log, attempt);
    } catch (err) {
      if (!(err instanceof UserError)) throw err;
      log.error({ code: err.code, problem: err.message, notice: notice.message }, 'notice refused by the surface');
    }
  }

  /**
   * A failed ticket write: a 429 delays the job by its `Retry-After` (no attempt counted); anything else is thrown for BullMQ to retry on the day-long
   * schedule, and the notices not written (`unwritten`, the failed one first) are kept as dead
   * notices when it was the last attempt.
   */
  private async outboxFailed(job: Job<OutboxJobData>, unwritten: WorkflowNotice[], err: unknown, log: Logger, token?: string): Promise<never> {
    const wait = retryAfterMs(err);
    if (wait !== undefined) {
      log.warn({ retryAfterMs: wait }, 'rate limited; delaying');
      // Not counted as an attempt: the progress says the next run is not the first (see noticeAttempt).
      await job.updateProgress(MAY_HAVE_WRITTEN);
      await job.moveToDelayed(Date.now() + wait, token);
      throw new DelayedError();
    }
    if (isLastAttempt(job)) {
      const replays = Number(/\.replay\.(\d+)$/.exec(job.id ?? '')?.[1] ?? 0);
      await Promise.all(unwritten.map((n) => this.deadNotices.record(n, err, job.attemptsMade + 1, replays)))
        .then(async () => {
          log.error({ attempts: job.attemptsMade + 1, notices: unwritten.length }, 'notice failed for good; kept as a dead letter');
          this.opts.metrics?.set('ts_notices_dead', 'Ticket writes the outbox gave up on, awaiting replay', await this.deadNotices.count());
        })
        .catch((e: unknown) => log.error({ err: e }, 'could not keep the failed notice as a dead letter'));
    }
    throw err;
  }

  /** Waits for running jobs and stops; `force` abandons them instead, as a crash would (their jobs stall and are taken over). */
  async close(force = false): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close(force)));
  }
}
