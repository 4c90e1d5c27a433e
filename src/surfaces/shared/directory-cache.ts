import type { Directory, DirectoryUser } from '../../policy/index.ts';

/** Options of {@link RecentAnswers} and {@link CachedDirectory}. */
export interface CachedDirectoryOptions {
  /** How long an answer is reused, in ms; 0 turns the cache off. */
  ttlMs: number;
  /** The clock (ms since the epoch); injected so tests move time by hand. */
  now?: () => number;
  /** At most this many answers are remembered (the oldest is forgotten first). */
  maxEntries?: number;
}

/**
 * Answers of a surface's directory lookups (a person, a group's members) remembered by key for
 * a short while, so the checks of one ticket ask the surface once per person or group instead
 * of once per check.
 *
 * Bound: a change made on the surface (a person deactivated, a member added) is seen at most
 * `ttlMs` after the answer that is reused was fetched; past that the next lookup asks again.
 * Only answers found are remembered: a failed lookup (an error) or nothing found (null or
 * undefined) is never cached, so the next lookup asks again. Lookups of one key in flight at
 * once share one call. Every caller gets its own copy (`copy`), so changing it changes nothing.
 */
export class RecentAnswers<V> {
  private readonly answers = new Map<string, { value: V; fetchedAt: number }>();
  private readonly pending = new Map<string, Promise<V | null | undefined>>();
  private readonly now: () => number;
  private readonly maxEntries: number;

  constructor(
    private readonly options: CachedDirectoryOptions,
    private readonly copy: (value: V) => V,
  ) {
    this.now = options.now ?? Date.now;
    this.maxEntries = options.maxEntries ?? 10_000;
  }

  /** The answer for `key`: remembered when fetched less than the TTL ago, else from `lookup`. */
  async get<N extends null | undefined>(key: string, lookup: () => Promise<V | N>): Promise<V | N> {
    if (this.options.ttlMs <= 0) return lookup();
    const hit = this.recent(key);
    if (hit !== undefined) return hit;
    const inFlight = this.pending.get(key) as Promise<V | N> | undefined;
    if (inFlight) return inFlight.then((v) => (v === null || v === undefined ? v : this.copy(v)));
    const fetchedAt = this.now();
    const fetched = lookup().then((v) => {
      if (v === null || v === undefined) this.answers.delete(key);
      else this.remember(key, this.copy(v), fetchedAt);
      return v;
    });
    this.pending.set(key, fetched);
    try {
      return await fetched;
    } finally {
      this.pending.delete(key);
    }
  }

  /** A copy of the answer for `key` when it was fetched less than the TTL ago. */
  recent(key: string): V | undefined {
    if (this.options.ttlMs <= 0) return undefined;
    const hit = this.answers.get(key);
    return hit && this.now() - hit.fetchedAt < this.options.ttlMs ? this.copy(hit.value) : undefined;
  }

  /** Remembers `value` for `key` as fetched at `fetchedAt` (default now), forgetting the oldest answer beyond the limit. */
  remember(key: string, value: V, fetchedAt = this.now()): void {
    if (this.options.ttlMs <= 0) return;
    this.answers.delete(key);
    this.answers.set(key, { value: this.copy(value), fetchedAt });
    if (this.answers.size > this.maxEntries) this.answers.delete(this.answers.keys().next().value!);
  }
}

/**
 * A directory that remembers each person's answer (user and groups) for a short while (see
 * {@link RecentAnswers} for the bound): the checks of one ticket (the requester when it is filed,
 * then again when it is planned; the approver) ask the surface once per person.
 */
export class CachedDirectory implements Directory {
  private readonly people: RecentAnswers<DirectoryUser>;

  constructor(
    private readonly inner: Directory,
    options: CachedDirectoryOptions,
  ) {
    this.people = new RecentAnswers(options, (u) => ({ ...u, groups: [...u.groups] }));
  }

  /** {@inheritDoc Directory.getUser} */
  async getUser(id: string): Promise<DirectoryUser | null> {
    return this.people.get(id, () => this.inner.getUser(id));
  }
}
