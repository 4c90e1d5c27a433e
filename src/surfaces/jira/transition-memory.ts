/**
 * What this process last saw of issues' statuses and of their workflows' transitions, so that a
 * walk through statuses (Open -> Planned -> Awaiting approval) need not read an issue's
 * transitions before every step. Jira lists only the transitions of the status an issue is in,
 * and they are the same for every issue of one project and issue type in that status (one
 * workflow), so a list read for one issue serves the next one.
 *
 * - A *sighting* is an issue's workflow (project key and issue type id) and status name, as this
 *   process last saw it: read back at filing, moved there by the service itself, or named by a
 *   status change delivered by webhook.
 * - A *list* is the transitions read (with their screens) for an issue while it was sighted in
 *   a status; it is kept for that workflow and status.
 *
 * Both are forgotten `ttlMs` after they were learned (0 keeps nothing). A memory can be stale (a
 * person or Jira's own automation moved the issue and this process has not seen the delivery
 * yet): the walk that used it then posts a transition Jira refuses, forgets what it believed and
 * reads the transitions again. A transition id names one transition of one workflow, so a stale
 * list never moves an issue anywhere but to the status the walk asked for.
 *
 * Only a status *seen* (read back, or named by a delivery) lets a walk pass a step over without
 * a call; a status the service moved the issue to itself is used to pick the next transition,
 * whose post confirms it, but not to conclude the issue is already where a walk wants it: JSM's
 * approval rules move issues on their own, and a walk that passed over its last step on such a
 * belief would leave the issue where the automation put it.
 */

/** One transition of an issue, as the client reads it (`GET .../transitions?expand=transitions.fields`). */
export interface RememberedTransition {
  id: string;
  name: string;
  to: { id: string; name: string };
  fields?: Record<string, { required: boolean; allowedValues?: Array<{ id?: string; name?: string }> }>;
}

interface Sighting {
  workflow: string;
  /** Lower-cased; absent when the status is no longer known (after a refused transition). */
  status?: string;
  /** The status was read back or delivered, not only the target of the service's own move. */
  seen: boolean;
  at: number;
}

/** How many issues and lists are kept at most; the oldest are forgotten first. */
const MAX_ENTRIES = 10_000;

export class TransitionMemory {
  private readonly sightings = new Map<string, Sighting>();
  private readonly lists = new Map<string, { list: RememberedTransition[]; at: number }>();

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** The issue was seen in `status` of the workflow of `projectKey` and issue type `issueTypeId`. */
  saw(issueKey: string, projectKey: string, issueTypeId: string, status: string): void {
    if (this.ttlMs <= 0) return;
    put(this.sightings, issueKey, { workflow: `${projectKey}/${issueTypeId}`, status: status.toLowerCase(), seen: true, at: this.now() });
  }

  /** A delivery says the issue moved to `status` (a person, or Jira's automation): its workflow is kept. */
  sawMove(issueKey: string, status: string): void {
    this.update(issueKey, status, true);
  }

  /** The service moved the issue to `status` itself. */
  moved(issueKey: string, status: string): void {
    this.update(issueKey, status, false);
  }

  private update(issueKey: string, status: string, seen: boolean): void {
    const s = this.fresh(issueKey);
    if (s) put(this.sightings, issueKey, { ...s, status: status.toLowerCase(), seen, at: this.now() });
  }

  /** Forgets where the issue is (a transition was refused): the next walk reads its transitions. */
  lost(issueKey: string): void {
    const s = this.fresh(issueKey);
    if (!s?.status) return;
    this.lists.delete(`${s.workflow} ${s.status}`);
    put(this.sightings, issueKey, { workflow: s.workflow, seen: false, at: s.at });
  }

  /** The status (lower-cased) the issue was last seen in (read back or delivered), within the time kept. */
  seenIn(issueKey: string): string | undefined {
    const s = this.fresh(issueKey);
    return s?.seen ? s.status : undefined;
  }

  /** The transitions of the status the issue is believed to be in, when a list of them is kept. */
  transitionsOf(issueKey: string): RememberedTransition[] | undefined {
    const s = this.fresh(issueKey);
    if (!s?.status) return undefined;
    const key = `${s.workflow} ${s.status}`;
    const kept = this.lists.get(key);
    if (kept && this.now() - kept.at < this.ttlMs) return kept.list;
    this.lists.delete(key);
    return undefined;
  }

  /** `list` was just read for the issue: kept for the status it is believed to be in. */
  learned(issueKey: string, list: RememberedTransition[]): void {
    const s = this.fresh(issueKey);
    if (s?.status) put(this.lists, `${s.workflow} ${s.status}`, { list, at: this.now() });
  }

  private fresh(issueKey: string): Sighting | undefined {
    const s = this.sightings.get(issueKey);
    if (s && this.now() - s.at < this.ttlMs) return s;
    this.sightings.delete(issueKey);
    return undefined;
  }
}

/** Sets `key` as the newest entry, forgetting the oldest beyond {@link MAX_ENTRIES}. */
function put<V>(map: Map<string, V>, key: string, value: V): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > MAX_ENTRIES) map.delete(map.keys().next().value!);
}
