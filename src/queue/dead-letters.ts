import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { NotFoundError, TicketSurfaceError } from '../engine/errors.ts';
import { Redactor } from '../engine/redact.ts';
import { deliveryJobId, intakeJobOptions, QUEUE_STREAMS, type IntakeJobData, type QueueNames } from './queues.ts';

/** Why a delivery failed, without its body: the error's class, code and (safe) message. */
export interface DeliveryFailure {
  /** The error's class name, for example `RemoteUnavailableError`. */
  class: string;
  /** The error code (`system`, `conflict`, `ECONNREFUSED`...), when it has one. */
  code?: string;
  /** Our own errors' messages (they carry no secret), redacted again; otherwise a pointer to the log. */
  message: string;
}

/** A delivery whose every intake attempt failed, as listed to an operator. */
export interface FailedDelivery {
  /** What `replay` takes: `<surface>:<delivery id>`. */
  id: string;
  surface: IntakeJobData['surface'];
  deliveryId: string;
  /** Attempts made in the run that failed. */
  attempts: number;
  /** How many times it was replayed before this failure. */
  replays: number;
  /** When the service first received the delivery. */
  firstReceivedAt: string;
  /** When the last attempt failed. */
  failedAt: string;
  lastError: DeliveryFailure;
}

/** What a replay queued. */
export interface ReplayedDelivery {
  id: string;
  /** The fresh intake job id (delivery id plus replay count). */
  jobId: string;
  /** This delivery's replay count, this replay included. */
  replay: number;
}

/** A stored dead letter: the listing plus the delivery itself (never listed). */
interface DeadLetterRecord extends FailedDelivery {
  delivery: IntakeJobData;
}

/** Options of {@link DeadLetters}. */
export interface DeadLettersOptions {
  /** A plain connection (the CLI's or the service's). */
  redis: Redis;
  /** The queue names (for the intake queue replays go to). */
  names: Pick<QueueNames, 'intake'>;
  /** BullMQ key prefix (default `bull`). */
  prefix?: string;
  /** Key prefix of the service's own keys (default `ts:`); the letters live at `<keyPrefix>deliveries:dead`. */
  keyPrefix?: string;
  /** The intake queue to replay into; by default one is opened on `redis` (and closed by {@link DeadLetters.close}). */
  intake?: Queue<IntakeJobData>;
}

const MESSAGE_LIMIT = 500;

/**
 * The class, code and message of a failure, never the delivery's body: messages of our own
 * errors are kept (redacted once more), as are those of Node's network errors (`ECONNREFUSED`);
 * any other message (a JSON parser's, a library's) may quote the body and is left out.
 */
export function describeFailure(err: unknown): DeliveryFailure {
  const redact = (m: string) => new Redactor().redactText(m).slice(0, MESSAGE_LIMIT);
  if (err instanceof TicketSurfaceError) return { class: err.name, code: err.code, message: redact(err.message) };
  const e = (err ?? {}) as { name?: unknown; code?: unknown; message?: unknown };
  const cls = err instanceof Error ? err.constructor.name || err.name : typeof err;
  const code = typeof e.code === 'string' && /^E[A-Z0-9_]+$/.test(e.code) ? e.code : undefined;
  if (code) return { class: cls, code, message: redact(String(e.message ?? '')) };
  return { class: cls, message: 'not shown (it may quote the delivery); see the worker log' };
}

/**
 * Deliveries intake gave up on, kept in the Redis hash `<keyPrefix>deliveries:dead` (one field
 * per delivery), listed without their bodies and replayed on an operator's word. Used by the
 * intake worker (record, forget), the HTTP API and the CLI (list, replay).
 */
export class DeadLetters {
  private readonly key: string;
  private ownQueue: Queue<IntakeJobData> | undefined;

  constructor(private readonly opts: DeadLettersOptions) {
    this.key = `${opts.keyPrefix ?? 'ts:'}deliveries:dead`;
  }

  /** The dead-letter id of a delivery. */
  static idOf(delivery: Pick<IntakeJobData, 'surface' | 'deliveryId'>): string {
    return `${delivery.surface}:${delivery.deliveryId}`;
  }

  /** Keeps a delivery whose last attempt failed with `err` after `attempts` attempts. */
  async record(delivery: IntakeJobData, err: unknown, attempts: number, now = new Date()): Promise<FailedDelivery> {
    const listed: FailedDelivery = {
      id: DeadLetters.idOf(delivery),
      surface: delivery.surface,
      deliveryId: delivery.deliveryId,
      attempts,
      replays: delivery.replay ?? 0,
      firstReceivedAt: delivery.receivedAt,
      failedAt: now.toISOString(),
      lastError: describeFailure(err),
    };
    const record: DeadLetterRecord = { ...listed, delivery };
    await this.opts.redis.hset(this.key, listed.id, JSON.stringify(record));
    return listed;
  }

  /** True when the delivery is kept as a dead letter. */
  async has(delivery: Pick<IntakeJobData, 'surface' | 'deliveryId'>): Promise<boolean> {
    return (await this.opts.redis.hexists(this.key, DeadLetters.idOf(delivery))) === 1;
  }

  /** Drops a delivery's dead letter (it succeeded after all); true when there was one. */
  async forget(delivery: Pick<IntakeJobData, 'surface' | 'deliveryId'>): Promise<boolean> {
    return (await this.opts.redis.hdel(this.key, DeadLetters.idOf(delivery))) > 0;
  }

  /** Every dead letter, oldest failure first, without bodies. */
  async list(): Promise<FailedDelivery[]> {
    const all = await this.opts.redis.hvals(this.key);
    return all
      .map((raw) => listing(JSON.parse(raw) as DeadLetterRecord))
      .sort((a, b) => a.failedAt.localeCompare(b.failedAt) || a.id.localeCompare(b.id));
  }

  /** How many deliveries are dead letters now. */
  async count(): Promise<number> {
    return this.opts.redis.hlen(this.key);
  }

  /**
   * Queues a dead letter again under a fresh job id (delivery id plus replay count, so the
   * failed job, kept for dedupe, is not in the way) and then drops the letter. If this
   * attempt fails for good too, it comes back as a dead letter with one more replay.
   * @throws {@link NotFoundError} when there is no dead letter with this id.
   */
  async replay(id: string): Promise<ReplayedDelivery> {
    const raw = await this.opts.redis.hget(this.key, id);
    if (raw === null) throw new NotFoundError('failed delivery', id);
    const record = JSON.parse(raw) as DeadLetterRecord;
    const replay = record.replays + 1;
    const data: IntakeJobData = { ...record.delivery, replay };
    const jobId = deliveryJobId(data);
    await this.intake().add(`${data.surface}.delivery`, data, { ...intakeJobOptions(), jobId });
    await this.opts.redis.hdel(this.key, id);
    return { id, jobId, replay };
  }

  /** Closes the intake queue this object opened (not the Redis connection). */
  async close(): Promise<void> {
    await this.ownQueue?.close();
  }

  private intake(): Queue<IntakeJobData> {
    if (this.opts.intake) return this.opts.intake;
    this.ownQueue ??= new Queue<IntakeJobData>(this.opts.names.intake, { connection: this.opts.redis, streams: QUEUE_STREAMS, ...(this.opts.prefix ? { prefix: this.opts.prefix } : {}) });
    return this.ownQueue;
  }
}

function listing(record: DeadLetterRecord): FailedDelivery {
  const { delivery: _delivery, ...listed } = record;
  return listed;
}
