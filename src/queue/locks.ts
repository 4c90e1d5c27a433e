import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';

/** Deletes the key only while it still holds the owner value (KEYS[1] key, ARGV[1] owner). */
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;
/** Adds ARGV[2..] to the set KEYS[2], then deletes KEYS[1] only while it still holds the owner value ARGV[1]. */
const MARK_AND_RELEASE = `for i = 2, #ARGV do redis.call('sadd', KEYS[2], ARGV[i]) end if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;
/**
 * Which of ARGV[4..] are in the set KEYS[2], as a list of 0/1 flags after a first element: 2 when
 * all ARGV[3] pieces of work are among them (done, no lock taken); else 1 when
 * `SET KEYS[1] ARGV[1] PX ARGV[2] NX` took the lock, 0 when it is held.
 */
const TAKE_NOTING_DONE = `local flags, done = {}, 0
for i = 4, #ARGV do flags[i - 3] = redis.call('sismember', KEYS[2], ARGV[i]) done = done + flags[i - 3] end
if done == tonumber(ARGV[3]) then return {2, unpack(flags)} end
if redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then return {1, unpack(flags)} end
return {0, unpack(flags)}`;
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
   * adds its members to its set (the work is marked done whoever holds the lock now), in the same
   * script: one round trip.
   */
  async release(done?: WorkDone): Promise<boolean> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (done && done.members.length > 0) return (await this.redis.eval(MARK_AND_RELEASE, 2, this.key, done.set, this.owner, ...done.members)) === 1;
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

/** Pieces of work marked done by their `members` in the Redis set `set`. */
export interface WorkDone {
  set: string;
  members: string[];
}

/** What {@link takeLockNotingDone} found: the lock (undefined when held by another, or when all the work is done) and which members are done. */
export interface TakenNotingDone {
  lock: HeldLock | undefined;
  /** True when every one of the `total` pieces of work is done (no lock taken). */
  allDone: boolean;
  done: Set<string>;
}

/**
 * {@link takeLock} for `total` pieces of work, `members` of which may be marked done in `set`
 * (the others are never marked): which members are done, and the lock unless all `total` are.
 * The checks and the take are one script: one round trip.
 */
export async function takeLockNotingDone(redis: Redis, key: string, ttlMs: number, who: string, set: string, members: readonly string[], total: number): Promise<TakenNotingDone> {
  const owner = `${who}:${randomUUID()}`;
  const [got, ...flags] = (await redis.eval(TAKE_NOTING_DONE, 2, key, set, owner, String(ttlMs), String(total), ...members)) as number[];
  const done = new Set(members.filter((_, i) => flags[i] === 1));
  return { lock: got === 1 ? new HeldLock(redis, key, owner, ttlMs) : undefined, allDone: got === 2, done };
}

/** Marks `done.members` done (work finished under a lock that could not be released with them). */
export async function markDone(redis: Redis, done: WorkDone): Promise<void> {
  if (done.members.length > 0) await redis.sadd(done.set, ...done.members);
}
