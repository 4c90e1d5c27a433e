import type { Redis } from 'ioredis';

/** The request and plan a ticket's status showed last. */
export interface ShownPlan {
  requestId: string;
  planHash: string;
}

/**
 * Remembers, per surface, the ids a surface gave to what we created there (Jira custom field
 * ids, option ids, ServiceNow sys_ids), keyed by our own stable keys (`<bundle>/<field>`).
 * Two hashes, key→id and id→key, written together, so a webhook's field ids map back.
 */
export class SurfaceIdStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix = 'ts:',
  ) {}

  private fwd(surface: string): string {
    return `${this.prefix}surface-ids:${surface}:by-key`;
  }

  private rev(surface: string): string {
    return `${this.prefix}surface-ids:${surface}:by-id`;
  }

  /** The surface's id for our `key`. */
  async get(surface: string, key: string): Promise<string | undefined> {
    return (await this.redis.hget(this.fwd(surface), key)) ?? undefined;
  }

  /** Records that our `key` is `id` on the surface (replacing an earlier id). */
  async set(surface: string, key: string, id: string): Promise<void> {
    const old = await this.get(surface, key);
    const m = this.redis.multi();
    if (old && old !== id) m.hdel(this.rev(surface), old);
    m.hset(this.fwd(surface), key, id);
    m.hset(this.rev(surface), id, key);
    await m.exec();
  }

  /** Our key for the surface's `id`. */
  async keyOf(surface: string, id: string): Promise<string | undefined> {
    return (await this.redis.hget(this.rev(surface), id)) ?? undefined;
  }

  /** Our keys for the surface's `ids`, in their order (undefined where an id is unknown), in one HMGET. */
  async keysOf(surface: string, ids: readonly string[]): Promise<(string | undefined)[]> {
    if (ids.length === 0) return [];
    const keys = await this.redis.hmget(this.rev(surface), ...ids);
    return keys.map((k) => k ?? undefined);
  }

  /**
   * Records which request's plan ticket `ref` shows now (written when its status is published),
   * so an approval given in the ticket binds to the plan the approver saw.
   */
  async setShownPlan(surface: string, ref: string, shown: ShownPlan): Promise<void> {
    await this.redis.hset(`${this.prefix}surface-ids:${surface}:shown-plans`, ref, JSON.stringify(shown));
  }

  /** The plan ticket `ref` showed last (see {@link setShownPlan}), if any was shown. */
  async shownPlan(surface: string, ref: string): Promise<ShownPlan | undefined> {
    const raw = await this.redis.hget(`${this.prefix}surface-ids:${surface}:shown-plans`, ref);
    return raw ? (JSON.parse(raw) as ShownPlan) : undefined;
  }

  /**
   * Claims our `key` before something is created for it on the surface (one round trip):
   * `first` when no one claimed it before, so nothing of it can be there yet; otherwise the id
   * {@link settle} recorded for it, if the creation got that far. A claim is never released:
   * after a crash between the claim and the creation, the next writer looks on the surface.
   */
  async claim(surface: string, key: string): Promise<{ first: boolean; id?: string }> {
    const res = await this.redis.multi().hsetnx(this.fwd(surface), key, '').hget(this.fwd(surface), key).exec();
    const [claimed, id] = (res ?? []).map(([err, value]) => {
      if (err) throw err;
      return value;
    });
    return { first: claimed === 1, ...(typeof id === 'string' && id ? { id } : {}) };
  }

  /** Records the surface's id of what was created for a claimed `key` (key → id only). */
  async settle(surface: string, key: string, id: string): Promise<void> {
    await this.redis.hset(this.fwd(surface), key, id);
  }

  /** Every key → id of a surface. */
  async all(surface: string): Promise<Record<string, string>> {
    return this.redis.hgetall(this.fwd(surface));
  }
}
