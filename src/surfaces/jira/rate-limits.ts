/**
 * Jira Cloud's rate limits, as Atlassian documents them: three independent limits, each answered
 * 429 with `Retry-After` (seconds), `X-RateLimit-Reset` (an ISO 8601 timestamp) and
 * `RateLimit-Reason` saying which one was hit, each with its own scope:
 * - `jira-burst-based`: requests per second to one endpoint and method: slow that endpoint only;
 * - `jira-per-issue-on-write`: writes to one issue: space out writes to that issue;
 * - `jira-quota-tenant-based` (and `jira-quota-global-based`): the points quota of the site:
 *   every call waits until the quota resets.
 * {@link JiraRateLimits} holds calls back by those scopes, so a limit on one issue or one
 * endpoint never stops the others.
 */
import type { CallScope, RateLimiter, RemoteFailure } from '../shared/remote-call.ts';
import { parseRetryAfter } from '../shared/remote-call.ts';

/** Which of Jira's limits a 429 came from. */
export type JiraLimitKind = 'burst' | 'per-issue' | 'quota' | 'other';

/** The rate-limit headers of one Jira 429, read. */
export interface JiraRateLimitHeaders {
  /** `Retry-After`, in ms from now. */
  retryAfterMs?: number;
  /** `X-RateLimit-Reset`, in ms from now (0 when already past). */
  resetAfterMs?: number;
  /** `RateLimit-Reason`, as Jira wrote it. */
  reason?: string;
  /** How long to wait: the later of the two, or undefined when Jira said neither. */
  waitMs?: number;
}

/** The limit a `RateLimit-Reason` names; unknown or absent reasons are `other` (held per endpoint). */
export function jiraLimitKind(reason: string | undefined): JiraLimitKind {
  if (reason === 'jira-burst-based') return 'burst';
  if (reason === 'jira-per-issue-on-write') return 'per-issue';
  if (reason?.startsWith('jira-quota-')) return 'quota';
  return 'other';
}

/** Reads `Retry-After`, `X-RateLimit-Reset` and `RateLimit-Reason` from a 429's headers (any casing). */
export function parseJiraRateLimitHeaders(headers: Record<string, unknown>, now = Date.now()): JiraRateLimitHeaders {
  const lower = new Map(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), Array.isArray(v) ? v[0] : v]));
  const retryAfterMs = parseRetryAfter(lower.get('retry-after'), now);
  const resetRaw = lower.get('x-ratelimit-reset');
  const resetAt = typeof resetRaw === 'string' ? Date.parse(resetRaw.trim()) : NaN;
  const resetAfterMs = Number.isNaN(resetAt) ? undefined : Math.max(0, resetAt - now);
  const reasonRaw = lower.get('ratelimit-reason');
  const reason = typeof reasonRaw === 'string' && reasonRaw.trim() ? reasonRaw.trim() : undefined;
  const known = [retryAfterMs, resetAfterMs].filter((x): x is number => x !== undefined);
  return {
    ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    ...(resetAfterMs !== undefined ? { resetAfterMs } : {}),
    ...(reason ? { reason } : {}),
    ...(known.length ? { waitMs: Math.max(...known) } : {}),
  };
}

/** The issue a REST path writes to: `/rest/api/3/issue/{key}/...` or `/rest/servicedeskapi/request/{key}/...`. */
export function issueOfPath(path: string): string | undefined {
  const m = /^\/rest\/(?:api\/[23]\/issue|servicedeskapi\/request)\/([^/?]+)/.exec(path);
  return m ? decodeURIComponent(m[1]!) : undefined;
}

/** Settings of {@link JiraRateLimits}. */
export interface JiraRateLimitsOptions {
  /** Gap kept between writes to an issue after it met its per-issue limit (default 500 ms). */
  perIssueWriteSpacingMs?: number;
  /** How long writes to such an issue stay spaced out (default 60 s). */
  perIssueCooldownMs?: number;
  /** Time source (ms); tests inject one. */
  now?: () => number;
}

/** Per-issue write pacing after a per-issue 429: the next free slot, until the cool-down ends. */
interface IssuePace {
  next: number;
  until: number;
}

/**
 * Holds Jira calls back by the scope of the limit they met: an endpoint and method (burst), an
 * issue's writes (per issue; those writes are then spaced out for a while), or everything
 * (quota). A call that goes through clears the holds of its own scopes.
 */
export class JiraRateLimits implements RateLimiter {
  private readonly held = new Map<string, number>();
  private readonly paced = new Map<string, IssuePace>();
  private readonly spacingMs: number;
  private readonly cooldownMs: number;
  private readonly now: () => number;

  constructor(options: JiraRateLimitsOptions = {}) {
    this.spacingMs = options.perIssueWriteSpacingMs ?? 500;
    this.cooldownMs = options.perIssueCooldownMs ?? 60_000;
    this.now = options.now ?? Date.now;
  }

  /** {@inheritDoc RateLimiter.delay} */
  delay(call: CallScope): number {
    const now = this.now();
    let wait = 0;
    for (const scope of this.scopesOf(call)) {
      const until = this.held.get(scope);
      if (until === undefined) continue;
      if (until <= now) this.held.delete(scope);
      else wait = Math.max(wait, until - now);
    }
    const issue = call.write ? call.subject : undefined;
    const pace = issue ? this.paced.get(issue) : undefined;
    if (issue && pace) {
      if (pace.until <= now) this.paced.delete(issue);
      else {
        const slot = Math.max(now + wait, pace.next);
        pace.next = slot + this.spacingMs;
        wait = slot - now;
      }
    }
    return wait;
  }

  /** {@inheritDoc RateLimiter.limited} */
  limited(call: CallScope, failure: RemoteFailure, waitMs: number): void {
    const now = this.now();
    const kind = jiraLimitKind(failure.rateLimitReason);
    const scope = this.scopeOf(call, kind);
    this.held.set(scope, Math.max(this.held.get(scope) ?? 0, now + waitMs));
    // The limited call's own retry takes the first slot after the wait.
    if (kind === 'per-issue' && call.subject) this.paced.set(call.subject, { next: now + waitMs + this.spacingMs, until: now + waitMs + this.cooldownMs });
  }

  /** {@inheritDoc RateLimiter.passed} */
  passed(call: CallScope): void {
    for (const scope of this.scopesOf(call)) this.held.delete(scope);
  }

  /** The scope a 429 of `kind` holds: everything, one issue's writes, or one endpoint and method. */
  private scopeOf(call: CallScope, kind: JiraLimitKind): string {
    if (kind === 'quota') return 'site';
    if (kind === 'per-issue' && call.subject) return `issue-writes:${call.subject}`;
    return `endpoint:${call.op}`;
  }

  /** Every scope `call` falls in. */
  private scopesOf(call: CallScope): string[] {
    const scopes = ['site', `endpoint:${call.op}`];
    if (call.write && call.subject) scopes.push(`issue-writes:${call.subject}`);
    return scopes;
  }
}
