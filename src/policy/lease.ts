/**
 * Leases of environments of one kind (preview environments): the `lease:` block of an
 * `environments[]` entry in the policy file. An environment its entry gives a lease is granted
 * `default` when it comes up, may be extended up to `max` in all (counted from the grant), and
 * its ticket is reminded `remind_before` each duration before it expires (a day and an hour
 * when absent).
 */
import type { Labels } from '../engine/model.ts';
import { parseDuration } from './duration.ts';
import { matchEnvironment } from './match.ts';
import type { LeasePolicy, Policy } from './types.ts';

/** The `lease:` block as written. */
export interface RawLease {
  default: string;
  max: string;
  remind_before?: string[];
}

/** Reminders when the policy names none: a day and an hour before expiry. */
export const DEFAULT_REMINDERS = ['1d', '1h'];

/** `raw` normalized; each problem is reported through `report` with its path. */
export function normalizeLease(raw: RawLease, path: (string | number)[], report: (path: (string | number)[], message: string, what: string) => void): LeasePolicy {
  const defaultMs = parseDuration(raw.default) ?? 0;
  const maxMs = parseDuration(raw.max) ?? 0;
  if (defaultMs <= 0) report([...path, 'default'], 'must be longer than zero', 'lease default');
  if (maxMs < defaultMs) report([...path, 'max'], `must be at least the default (${raw.default})`, 'lease max');
  const remindBeforeMs = (raw.remind_before ?? DEFAULT_REMINDERS).map((d) => parseDuration(d) ?? 0).filter((ms) => ms > 0);
  return { defaultMs, maxMs, remindBeforeMs: [...new Set(remindBeforeMs)].sort((a, b) => b - a) };
}

/** The lease policy of environment `env` (its matching entry's), or undefined: not leased. */
export function leasePolicyFor(policy: Policy, env: { name: string; labels: Labels }): LeasePolicy | undefined {
  return matchEnvironment(policy, env)?.lease;
}
