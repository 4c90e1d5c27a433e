import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';

/** Deletes the key only while it still holds the owner value (KEYS[1] key, ARGV[1] owner). */
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;
/** Adds ARGV[2] to the set KEYS[2], then deletes KEYS[1] only while it still holds the owner value ARGV[1]. */
const MARK_AND_RELEASE = `redis.call('sadd', KEYS[2], ARGV[2]) if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;
/** 2 when ARGV[3] is in the set KEYS[2] (the work is done); else 1 when `SET KEYS[1] ARGV[1] PX ARGV[2] NX` took the lock, 0 when it is held. */
const TAKE_UNLESS_DONE = `if redis.call('sismember', KEYS[2], ARGV[3]) == 1 then return 2 end if redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then return 1 end return 0`;
/** Extends the key's expiry only while it still holds the owner value (ARGV[2] ttl in ms). */
const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;

/**
 * A lock held in Redis under a value unique to this attempt. It is released and renewed by
 * compare-and-delete / compare-and-pexpire, so a holder whose lock expired and was taken by
 * another attempt can neither delete nor extend the new holder's lock.
 */
export class HeldLock {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly redis: Redis,
    /** The Redis key of the lock. */
    readonly key: string,
    /** The value only this attempt holds. */
    readonly owner: string,
    private readonly ttlMs: number,
  ) {}

  /** Extends the lock by its TTL; false when it is no longer ours. */
  async renew(): Promise<boolean> {
    return (await this.redis.eval(RENEW, 1, this.key, this.owner, String(this.ttlMs))) === 1;
  }

  /**
   * Renews the lock every third of its TTL until {@link release}, so work that outlasts the TTL
   * (a write waiting out a 429) keeps it. A failed renewal is reported, and renewing goes on.
   */
  keepAlive(onError: (err: unknown) => void): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.renew().catch(onError), Math.max(1, Math.floor(this.ttlMs / 3)));
    this.timer.unref();
  }

  /**
   * Stops renewing and deletes the lock if it is still ours; true when it was. With `done`, first
   * adds its member to its set (the work is marked done whoever holds the lock now), in the same
   * script: one round trip.
   */
  async release(done?: WorkDone): Promise<boolean> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (done) return (await this.redis.eval(MARK_AND_RELEASE, 2, this.key, done.set, this.owner, done.member)) === 1;
    return (await this.redis.eval(RELEASE, 1, this.key, this.owner)) === 1;
  }
}

/**
 * Takes a lock: `SET key <owner> PX ttl NX` with an owner value unique to this attempt (`who`,
 * for example the job id, plus a random part, so two attempts of one job are two owners).
 * Undefined when someone else holds it.
 */
export async function takeLock(redis: Redis, key: string, ttlMs: number, who: string): Promise<HeldLock | undefined> {
  const owner = `${who}:${randomUUID()}`;
  const got = await redis.set(key, owner, 'PX', ttlMs, 'NX');
  return got ? new HeldLock(redis, key, owner, ttlMs) : undefined;
}

/** A piece of work marked done by its `member` in the Redis set `set`. */
export interface WorkDone {
  set: string;
  member: string;
}

/**
 * {@link takeLock} for work that may be done already: `'done'` (and no lock taken) when
 * `done.member` is in `done.set`, else the lock or undefined as {@link takeLock}. The check and
 * the take are one script: one round trip.
 */
export async function takeLockUnlessDone(redis: Redis, key: string, ttlMs: number, who: string, done: WorkDone): Promise<HeldLock | 'done' | undefined> {
  const owner = `${who}:${randomUUID()}`;
  const got = await redis.eval(TAKE_UNLESS_DONE, 2, key, done.set, owner, String(ttlMs), done.member);
  if (got === 2) return 'done';
  return got === 1 ? new HeldLock(redis, key, owner, ttlMs) : undefined;
}
