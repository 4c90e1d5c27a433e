/**
 * The one line `npm run bench -- ticket-to-plan` ends with, so runs can be compared by a script:
 *
 * `speed: jira-calls created->plan <n>, lifecycle <n>; redis round-trips per ticket <n>; service cpu per ticket <ms> ms; lone p50 <ms> ms; 100-in-flight p99 <ms> ms (2 workers); load <avg>`
 *
 * A figure that could not be measured is printed as `n/a`.
 */

/** The figures of the summary line. */
export interface SpeedFigures {
  /** Jira calls from "issue created" to "plan comment visible" (happy path). */
  jiraCallsToPlan: number;
  /** Jira calls of a whole lifecycle (created, planned, approved, applied, result). */
  jiraCallsLifecycle: number;
  /** Client round trips to Redis per ticket lifecycle. */
  redisRoundTrips: number;
  /** CPU of the service and worker processes per ticket, in ms. */
  serviceCpuMs: number;
  /** A lone ticket's created -> plan comment, p50, in ms. */
  loneP50Ms: number;
  /** 100 tickets in flight, created -> plan comment, p99, in ms, with two worker processes. */
  inFlightP99Ms: number;
  /** The 1-minute load average. */
  load: number;
}

const int = (v: number) => (Number.isFinite(v) ? String(Math.round(v)) : 'n/a');
const dec = (v: number, d: number) => (Number.isFinite(v) ? v.toFixed(d) : 'n/a');

/** The summary line of a run (see the module comment). */
export function speedSummaryLine(f: SpeedFigures): string {
  return (
    `speed: jira-calls created->plan ${int(f.jiraCallsToPlan)}, lifecycle ${int(f.jiraCallsLifecycle)}; ` +
    `redis round-trips per ticket ${int(f.redisRoundTrips)}; service cpu per ticket ${dec(f.serviceCpuMs, 1)} ms; ` +
    `lone p50 ${int(f.loneP50Ms)} ms; 100-in-flight p99 ${int(f.inFlightP99Ms)} ms (2 workers); load ${dec(f.load, 2)}`
  );
}
