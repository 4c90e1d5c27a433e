import type { Directory, DirectoryUser } from '../../policy/index.ts';

/** Options of {@link CachedDirectory}. */
export interface CachedDirectoryOptions {
  /** How long an answer is reused, in ms; 0 turns the cache off. */
  ttlMs: number;
  /** The clock (ms since the epoch); injected so tests move time by hand. */
  now?: () => number;
  /** At most this many people are remembered (the oldest answer is forgotten first). */
  maxEntries?: number;
}

/**
 * A directory that remembers each person's answer (user and groups) for a short while, so the
 * checks of one ticket (the requester when it is filed, then again when it is planned; the
 * approver) ask Jira once per person instead of once per check.
 *
 * Bound: a person deactivated (or removed from a group) in Jira is seen so at most `ttlMs` after
 * the answer that is reused was fetched; past that the next check asks Jira again. Only people
 * Jira found are remembered: a failed lookup (an error) or an unknown account (null) is never
 * cached, so the next check asks again. Lookups of one person in flight at once share one call.
 */
export class CachedDirectory implements Directory {
  private readonly answers = new Map<string, { user: DirectoryUser; fetchedAt: number }>();
  private readonly pending = new Map<string, Promise<DirectoryUser | null>>();
  private readonly now: () => number;
  private readonly maxEntries: number;

  constructor(
    private readonly inner: Directory,
    private readonly options: CachedDirectoryOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.maxEntries = options.maxEntries ?? 10_000;
  }

  /** {@inheritDoc Directory.getUser} */
  async getUser(id: string): Promise<DirectoryUser | null> {
    if (this.options.ttlMs <= 0) return this.inner.getUser(id);
    const hit = this.answers.get(id);
    if (hit && this.now() - hit.fetchedAt < this.options.ttlMs) return { ...hit.user, groups: [...hit.user.groups] };
    const inFlight = this.pending.get(id);
    if (inFlight) return inFlight;
    const fetchedAt = this.now();
    const lookup = this.inner.getUser(id).then((user) => {
      if (user) this.keep(id, { ...user, groups: [...user.groups] }, fetchedAt);
      else this.answers.delete(id);
      return user;
    });
    this.pending.set(id, lookup);
    try {
      return await lookup;
    } finally {
      this.pending.delete(id);
    }
  }

  /** Remembers `user`, forgetting the oldest answer beyond {@link maxEntries}. */
  private keep(id: string, user: DirectoryUser, fetchedAt: number): void {
    this.answers.delete(id);
    this.answers.set(id, { user, fetchedAt });
    if (this.answers.size > this.maxEntries) this.answers.delete(this.answers.keys().next().value!);
  }
}
