/**
 * One deployment at a time per package: a lock in Redis with fencing tokens and a fair queue.
 *
 * - The lock is `SET <lock> <owner>|<token> PX <ttl>`, taken only when free; the token comes from
 *   `INCR` on a per-package counter, so every holder ever gets a larger token than the one before.
 * - A holder renews the lock while it works; a crashed holder stops renewing and the lock expires.
 * - Writes made under the lock carry the lease's {@link Lease.fence}: the audited write checks, in
 *   the same Lua step that stores the record, that the lock still holds this owner and token. A
 *   holder whose lock expired (a long GC pause, a partition) is refused there with
 *   {@link LockLostError} instead of overwriting its successor; no window between check and write.
 * - A second request for the same package does not fail: {@link PackageLock.waitForLock} queues it
 *   (a sorted set ordered by arrival, each waiter keeping a heartbeat key alive), tells the caller
 *   once that it is queued and its position, and returns when it is at the head and the lock is free.
 *   Waiters that stop polling (crashed) lose their place when their heartbeat expires.
 *
 * The Lua scripts build a waiter's heartbeat key name from an argument, so they assume a single
 * Redis (not Redis Cluster), like the rest of the service.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import { SystemError } from './errors.ts';
import type { WriteFence } from './audit.ts';

/** The package lock was lost (expired or taken over) while its holder still worked. */
export class LockLostError extends SystemError {
  readonly packageId: string;
  readonly token: number;
  constructor(packageId: string, token: number) {
    super(`lock of package ${packageId} (token ${token}) is no longer held: it expired or another worker took it over`);
    this.packageId = packageId;
    this.token = token;
  }
}

/** A {@link WriteFence} on a package lock, naming the package and token for the error a refusal raises. */
export interface LeaseFence extends WriteFence {
  packageId: string;
  token: number;
}

/** Options for {@link PackageLock}. */
export interface PackageLockOptions {
  /** Key prefix (default `ts:`). */
  prefix?: string;
  /** Lock time-to-live; a holder that stops renewing loses the lock after this long (default 30 s). */
  ttlMs?: number;
  /** First poll interval while queued (default 100 ms); grows by half each time up to `maxPollMs`. */
  pollMs?: number;
  /** Longest poll interval (default 1 s). */
  maxPollMs?: number;
}

/** What a queued request is told. */
export interface QueuedInfo {
  packageId: string;
  /** How many requests are ahead in the queue (the running one not counted). */
  position: number;
}

/** Options for {@link PackageLock.waitForLock}. */
export interface WaitForLockOptions {
  /** Identifies the holder (default: host, pid and a random suffix). */
  owner?: string;
  /** Called once, when the request first finds the package busy. */
  onQueued?: (info: QueuedInfo) => void | Promise<void>;
  /** Give up after this long (default: wait as long as it takes). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

const ACQUIRE = `
local lock, tokenKey, queue, ticketKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local owner, ttl, waiterPrefix, waiterTtl = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if redis.call('zscore', queue, owner) == false then
  redis.call('zadd', queue, redis.call('incr', ticketKey), owner)
end
redis.call('set', waiterPrefix .. owner, '1', 'PX', waiterTtl)
while true do
  local head = redis.call('zrange', queue, 0, 0)
  if #head == 0 or redis.call('exists', waiterPrefix .. head[1]) == 1 then break end
  redis.call('zrem', queue, head[1])
end
local head = redis.call('zrange', queue, 0, 0)
if redis.call('exists', lock) == 1 or head[1] ~= owner then
  return {0, redis.call('zrank', queue, owner)}
end
local token = redis.call('incr', tokenKey)
redis.call('set', lock, owner .. '|' .. token, 'PX', ttl)
redis.call('zrem', queue, owner)
redis.call('del', waiterPrefix .. owner)
return {token, 0}
`;

const RENEW = `
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
`;

const RELEASE = `
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
`;

const LEAVE = `
redis.call('zrem', KEYS[1], ARGV[1])
redis.call('del', KEYS[2])
return 1
`;

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** A held package lock. Renew it while working, check it before every write, release it at the end. */
export class Lease {
  readonly packageId: string;
  readonly owner: string;
  /** Fencing token: larger than every token handed out before for this package. */
  readonly token: number;
  private readonly lock: PackageLock;

  /** @internal created by {@link PackageLock}. */
  constructor(lock: PackageLock, packageId: string, owner: string, token: number) {
    this.lock = lock;
    this.packageId = packageId;
    this.owner = owner;
    this.token = token;
  }

  /** The value stored in the lock key while this lease holds it. */
  get value(): string {
    return `${this.owner}|${this.token}`;
  }

  /** The fence writes made under this lease carry: refused inside the write once the lock is lost. */
  get fence(): LeaseFence {
    return { key: this.lock.lockKey(this.packageId), value: this.value, packageId: this.packageId, token: this.token };
  }

  /** Extends the lock's life; false when it was already lost. */
  renew(): Promise<boolean> {
    return this.lock.renewLease(this);
  }

  /** Releases the lock if still held by this lease; false when it had already expired or been taken over. */
  release(): Promise<boolean> {
    return this.lock.releaseLease(this);
  }

  /**
   * Throws {@link LockLostError} unless this lease still holds the lock. A check before work with
   * outside effects; record writes carry {@link fence} instead, checked inside the write itself.
   */
  async assertCurrent(): Promise<void> {
    if (!(await this.lock.isCurrent(this.packageId, this.token, this.owner))) throw new LockLostError(this.packageId, this.token);
  }

  /**
   * Renews every third of the TTL until stopped; calls `onLost` once if a renewal finds the lock
   * gone. Returns the function that stops renewing.
   */
  keepAlive(onLost: (err: LockLostError) => void): () => void {
    let stopped = false;
    const timer = setInterval(() => {
      this.renew().then(
        (ok) => {
          if (!ok && !stopped) {
            stopped = true;
            clearInterval(timer);
            onLost(new LockLostError(this.packageId, this.token));
          }
        },
        () => {
          // A Redis hiccup: the next tick tries again; the TTL covers two missed ticks.
        },
      );
    }, Math.max(50, Math.floor(this.lock.ttlMs / 3)));
    timer.unref();
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }
}

/** Per-package locks with fencing tokens and a fair wait queue, in Redis. */
export class PackageLock {
  readonly ttlMs: number;
  private readonly redis: Redis;
  private readonly prefix: string;
  private readonly pollMs: number;
  private readonly maxPollMs: number;

  constructor(redis: Redis, opts: PackageLockOptions = {}) {
    this.redis = redis;
    this.prefix = opts.prefix ?? 'ts:';
    this.ttlMs = opts.ttlMs ?? 30_000;
    this.pollMs = opts.pollMs ?? 100;
    this.maxPollMs = opts.maxPollMs ?? 1000;
  }

  /** A fresh holder id: host, pid and a random suffix. */
  static newOwner(): string {
    return `${hostname()}:${process.pid}:${randomBytes(6).toString('hex')}`;
  }

  private keys(packageId: string) {
    const base = `${this.prefix}lock:${packageId}`;
    return { lock: base, token: `${base}:token`, queue: `${base}:queue`, ticket: `${base}:ticket`, waiter: `${base}:waiter:` };
  }

  /** Redis key of the package's lock (its value is `<owner>|<token>` while held). */
  lockKey(packageId: string): string {
    return this.keys(packageId).lock;
  }

  /** Heartbeat TTL of a waiter: several polls long, so a slow poll does not lose the place. */
  private get waiterTtlMs(): number {
    return Math.max(this.maxPollMs * 4, 2000);
  }

  /**
   * One attempt: joins the queue if not in it, takes the lock if it is free and this owner is at
   * the head. Returns the lease, or the number of waiters ahead.
   */
  async tryAcquire(packageId: string, owner: string): Promise<{ lease?: Lease; position: number }> {
    const k = this.keys(packageId);
    const [token, rank] = (await this.redis.eval(
      ACQUIRE, 4, k.lock, k.token, k.queue, k.ticket, owner, String(this.ttlMs), k.waiter, String(this.waiterTtlMs),
    )) as [number, number | null];
    if (token > 0) return { lease: new Lease(this, packageId, owner, Number(token)), position: 0 };
    return { position: Number(rank ?? 0) };
  }

  /**
   * Waits its turn and takes the lock. Calls `onQueued` once when the package is busy. Throws a
   * {@link SystemError} only on timeout or abort (both optional); otherwise it waits.
   */
  async waitForLock(packageId: string, opts: WaitForLockOptions = {}): Promise<Lease> {
    const owner = opts.owner ?? PackageLock.newOwner();
    const deadline = opts.timeoutMs === undefined ? Infinity : Date.now() + opts.timeoutMs;
    let delay = this.pollMs;
    let told = false;
    try {
      for (;;) {
        const { lease, position } = await this.tryAcquire(packageId, owner);
        if (lease) return lease;
        if (!told) {
          told = true;
          await opts.onQueued?.({ packageId, position });
        }
        if (opts.signal?.aborted) throw new SystemError(`stopped waiting for the lock of package ${packageId}`);
        if (Date.now() + delay > deadline) throw new SystemError(`timed out waiting for the lock of package ${packageId}`);
        await sleep(delay, opts.signal);
        delay = Math.min(this.maxPollMs, Math.ceil(delay * 1.5));
      }
    } catch (err) {
      await this.leaveQueue(packageId, owner).catch(() => undefined);
      throw err;
    }
  }

  /** Removes `owner` from the package's wait queue (after a {@link tryAcquire} it will not follow up). */
  async leaveQueue(packageId: string, owner: string): Promise<void> {
    const k = this.keys(packageId);
    await this.redis.eval(LEAVE, 2, k.queue, k.waiter + owner, owner);
  }

  /** The current holder's fencing token, or undefined when the package is not locked. */
  async currentToken(packageId: string): Promise<number | undefined> {
    const v = await this.redis.get(this.keys(packageId).lock);
    if (!v) return undefined;
    const t = Number(v.slice(v.lastIndexOf('|') + 1));
    return Number.isFinite(t) ? t : undefined;
  }

  /** True when the lock is held with `token` (and by `owner`, when given). */
  async isCurrent(packageId: string, token: number, owner?: string): Promise<boolean> {
    const v = await this.redis.get(this.keys(packageId).lock);
    if (!v) return false;
    if (owner !== undefined) return v === `${owner}|${token}`;
    return Number(v.slice(v.lastIndexOf('|') + 1)) === token;
  }

  /** @internal used by {@link Lease.renew}. */
  async renewLease(lease: Lease): Promise<boolean> {
    return (await this.redis.eval(RENEW, 1, this.keys(lease.packageId).lock, lease.value, String(this.ttlMs))) === 1;
  }

  /** @internal used by {@link Lease.release}. */
  async releaseLease(lease: Lease): Promise<boolean> {
    return (await this.redis.eval(RELEASE, 1, this.keys(lease.packageId).lock, lease.value)) === 1;
  }
}
