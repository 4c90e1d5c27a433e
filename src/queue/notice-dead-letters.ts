/**
 * Notices the outbox gave up on: a ticket write that failed for a system reason (the surface
 * down, a 5xx) on every attempt of the outbox's day-long retry schedule. Kept in the Redis hash
 * `<keyPrefix>notices:dead` (one field per notice key), listed with their last error (never the
 * notice's free text), counted by the `ts_notices_dead` metric, and replayed on an operator's
 * word under a fresh job id. Like intake's dead letters (dead-letters.ts), for the other way out.
 */
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { NotFoundError } from '../engine/errors.ts';
import type { WorkflowNotice } from '../workflow/workflow.ts';
import { describeFailure, type DeliveryFailure } from './dead-letters.ts';
import { jobId, noticeJobOptions, QUEUE_STREAMS, type OutboxJobData, type QueueNames } from './queues.ts';

/** A notice whose every outbox attempt failed, as listed to an operator. */
export interface FailedNotice {
  /** What `replay` takes: the notice key. */
  id: string;
  requestId: string;
  message: WorkflowNotice['message'];
  /** Attempts made in the run that failed. */
  attempts: number;
  /** How many times it was replayed before this failure. */
  replays: number;
  /** When the last attempt failed. */
  failedAt: string;
  lastError: DeliveryFailure;
}

interface NoticeLetterRecord extends FailedNotice {
  notice: WorkflowNotice;
}

/** Options of {@link NoticeDeadLetters}. */
export interface NoticeDeadLettersOptions {
  redis: Redis;
  names: Pick<QueueNames, 'outbox'>;
  /** BullMQ key prefix (default `bull`). */
  prefix?: string;
  /** Key prefix of the service's own keys (default `ts:`). */
  keyPrefix?: string;
  /** The outbox queue to replay into; by default one is opened on `redis` (closed by {@link NoticeDeadLetters.close}). */
  outbox?: Queue<OutboxJobData>;
}

/** The outbox's dead letters; see the module comment. */
export class NoticeDeadLetters {
  private readonly key: string;
  private ownQueue: Queue<OutboxJobData> | undefined;

  constructor(private readonly opts: NoticeDeadLettersOptions) {
    this.key = `${opts.keyPrefix ?? 'ts:'}notices:dead`;
  }

  /** Keeps a notice whose last attempt failed with `err` after `attempts` attempts. */
  async record(notice: WorkflowNotice, err: unknown, attempts: number, replays = 0, now = new Date()): Promise<FailedNotice> {
    const listed: FailedNotice = {
      id: notice.key,
      requestId: notice.requestId,
      message: notice.message,
      attempts,
      replays,
      failedAt: now.toISOString(),
      lastError: describeFailure(err),
    };
    const record: NoticeLetterRecord = { ...listed, notice };
    await this.opts.redis.hset(this.key, listed.id, JSON.stringify(record));
    return listed;
  }

  /** True when the notice with this key is kept as a dead letter. */
  async has(key: string): Promise<boolean> {
    return (await this.opts.redis.hexists(this.key, key)) === 1;
  }

  /** Every dead notice, oldest failure first. */
  async list(): Promise<FailedNotice[]> {
    const all = await this.opts.redis.hvals(this.key);
    return all
      .map((raw) => {
        const { notice: _notice, ...listed } = JSON.parse(raw) as NoticeLetterRecord;
        return listed;
      })
      .sort((a, b) => a.failedAt.localeCompare(b.failedAt) || a.id.localeCompare(b.id));
  }

  /** How many notices are dead letters now. */
  async count(): Promise<number> {
    return this.opts.redis.hlen(this.key);
  }

  /**
   * Queues a dead notice again under a fresh job id (its key plus the replay count), then drops
   * the letter. The surface adapters look for a notice's marker before writing, so a notice
   * that did land after all is not written twice.
   * @throws {@link NotFoundError} when there is no dead notice with this key.
   */
  async replay(id: string): Promise<{ id: string; jobId: string; replay: number }> {
    const raw = await this.opts.redis.hget(this.key, id);
    if (raw === null) throw new NotFoundError('failed notice', id);
    const record = JSON.parse(raw) as NoticeLetterRecord;
    const replay = record.replays + 1;
    const id2 = jobId(`${record.notice.key}:replay:${replay}`);
    await this.outbox().add(record.notice.message, record.notice, { ...noticeJobOptions(), jobId: id2 });
    await this.opts.redis.hdel(this.key, id);
    return { id, jobId: id2, replay };
  }

  /** Closes the outbox queue this object opened (not the Redis connection). */
  async close(): Promise<void> {
    await this.ownQueue?.close();
  }

  private outbox(): Queue<OutboxJobData> {
    if (this.opts.outbox) return this.opts.outbox;
    this.ownQueue ??= new Queue<OutboxJobData>(this.opts.names.outbox, { connection: this.opts.redis, streams: QUEUE_STREAMS, ...(this.opts.prefix ? { prefix: this.opts.prefix } : {}) });
    return this.ownQueue;
  }
}
