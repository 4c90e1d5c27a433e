/**
 * The transactional outbox: work a request owes (a notice for its ticket, a step to run) is
 * written into Redis in the SAME atomic step as the state change that owes it (see
 * {@link Outbox.ops}, carried by the inventory's audited write), so a crash can never keep the
 * one and lose the other. A relay (src/queue/outbox-relay.ts) later hands each entry to the
 * durable queues under a job id derived from the entry's key, and only then removes it: a
 * crash between the hand-over and the removal hands it over again under the same job id,
 * which the queue ignores.
 *
 * Layout (under the inventory's prefix):
 * - `outbox:entries` hash key -> entry JSON
 * - `outbox:pending` list of keys, oldest first (the order the work was owed in)
 */
import type { Redis } from 'ioredis';
import type { WriteOp } from './audit.ts';

/** One piece of owed work. The engine stores it; what `data` means is the workflow's business. */
export interface OutboxEntry {
  /** Unique per piece of work (`<request>:<message>:<revision>`); the queue's job id derives from it. */
  key: string;
  /** `job`: a request step to run; `notice`: something to write back to the request's ticket; `notices`: several, owed by one step, written in order. */
  topic: 'job' | 'notice' | 'notices';
  /** The request the work is for. */
  request: string;
  /** The job or notice itself, as JSON. */
  data: unknown;
  /** Earliest time the job may run (epoch milliseconds, the queue's clock); absent: at once. */
  runAt?: number;
}

/** A pending key whose entry is gone (removed meanwhile) or unreadable: the relay just drops it. */
export interface LostEntry {
  key: string;
  /** `gone`: another relay handed it over and removed it meanwhile (normal with several processes); `unreadable`: its JSON is damaged. */
  lost: 'gone' | 'unreadable';
}

/** Options of {@link Outbox}. */
export interface OutboxOptions {
  redis: Redis;
  /** Key prefix shared with the inventory (default `ts:`). */
  prefix?: string;
}

/** The durable outbox of owed work; see the module comment. */
export class Outbox {
  private readonly redis: Redis;
  private readonly prefix: string;
  private readonly listeners = new Set<(entries: readonly OutboxEntry[]) => void>();

  constructor(options: OutboxOptions) {
    this.redis = options.redis;
    this.prefix = options.prefix ?? 'ts:';
  }

  /** Redis key of the entries hash. */
  get entriesKey(): string {
    return `${this.prefix}outbox:entries`;
  }

  /** Redis key of the list of pending keys. */
  get pendingKey(): string {
    return `${this.prefix}outbox:pending`;
  }

  /** The operations that store `entries`, to run inside an audited write (one atomic step). */
  ops(entries: readonly OutboxEntry[]): WriteOp[] {
    return entries.flatMap((e): WriteOp[] => [
      { op: 'hset', key: this.entriesKey, field: e.key, value: JSON.stringify(e) },
      { op: 'rpush', key: this.pendingKey, member: e.key },
    ]);
  }

  /**
   * Stores entries owed by no record change (a notice that a deployment waits for its package's
   * lock), atomically among themselves, and tells this process's relay.
   */
  async add(entries: readonly OutboxEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const tx = this.redis.multi();
    for (const e of entries) tx.hset(this.entriesKey, e.key, JSON.stringify(e)).rpush(this.pendingKey, e.key);
    await tx.exec();
    this.written(entries);
  }

  /** The oldest `limit` entries still owed, in the order they were owed. */
  async pending(limit = 100): Promise<(OutboxEntry | LostEntry)[]> {
    const keys = [...new Set(await this.redis.lrange(this.pendingKey, 0, limit - 1))];
    if (keys.length === 0) return [];
    const raws = await this.redis.hmget(this.entriesKey, ...keys);
    return keys.map((key, i): OutboxEntry | LostEntry => {
      const raw = raws[i];
      // Removed meanwhile by another relay: nothing left to do for it.
      if (raw === null || raw === undefined) return { key, lost: 'gone' };
      try {
        return JSON.parse(raw) as OutboxEntry;
      } catch {
        return { key, lost: 'unreadable' };
      }
    });
  }

  /** Removes an entry once the queue has it (idempotent). */
  async remove(key: string): Promise<void> {
    await this.removeAll([key]);
  }

  /** Removes entries once the queue has them (idempotent), all in one MULTI block: one round trip. */
  async removeAll(keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    const tx = this.redis.multi();
    for (const key of keys) tx.lrem(this.pendingKey, 0, key);
    await tx.hdel(this.entriesKey, ...keys).exec();
  }

  /** How many entries are owed. */
  async size(): Promise<number> {
    return this.redis.llen(this.pendingKey);
  }

  /** Requests with work still in the outbox (they have an owner: the relay). */
  async requestIds(): Promise<Set<string>> {
    const raws = await this.redis.hvals(this.entriesKey);
    const ids = new Set<string>();
    for (const raw of raws) {
      try {
        ids.add((JSON.parse(raw) as OutboxEntry).request);
      } catch {
        // An unreadable entry names no request; the relay drops it.
      }
    }
    return ids;
  }

  /** Calls `listener` with the entries whenever this process stored some; returns the unsubscribe function. */
  onWrite(listener: (entries: readonly OutboxEntry[]) => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  /** Tells this process's listeners that `entries` were stored (the inventory calls it after a step). */
  written(entries: readonly OutboxEntry[]): void {
    for (const l of this.listeners) l(entries);
  }
}
