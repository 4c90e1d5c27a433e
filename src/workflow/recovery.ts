/**
 * Recovery of requests nobody is working on. A request in a state that the engine (not a
 * person) moves on from — received, validated, planned, approved, scheduled, applying, or
 * awaiting approval with its approvals complete — normally has an owner: a queued, delayed
 * or running job, or an entry in the outbox. A crash, a job that gave up, or a lost job can
 * leave it without one. The sweep finds those that waited longer than a bound (so live work is
 * never raced) and resumes each from its stored facts ({@link RequestWorkflow.resume}); every
 * resume is revision-checked, so a live step that moved the request meanwhile wins.
 */
import { ConflictError, IllegalTransitionError } from '../engine/errors.ts';
import type { Logger } from '../engine/logger.ts';
import type { Metrics } from '../engine/metrics.ts';
import type { Clock, Request, RequestState } from '../engine/model.ts';
import type { Outbox } from '../engine/outbox.ts';
import type { RequestService } from '../engine/requests.ts';
import type { RequestWorkflow } from './workflow.ts';

/** Default bound: a request is stuck once it waited this long (ms since its last update) without an owner. */
export const DEFAULT_STUCK_AFTER_MS = 2 * 60_000;

/** States the engine moves a request on from (awaiting approval only once its approvals are complete). */
export const ENGINE_OWNED_STATES: readonly RequestState[] = ['received', 'validated', 'planned', 'awaiting_approval', 'approved', 'scheduled', 'applying'];

/** Who works on requests right now, besides the outbox: the queue's pending, delayed and running jobs. */
export interface JobOwners {
  requestsWithJobs(): Promise<Set<string>>;
}

/** A request waiting without an owner. */
export interface StuckRequest {
  request: Request;
  /** Milliseconds since its last update. */
  waitedMs: number;
}

/** Dependencies of {@link RequestRecovery}. */
export interface RequestRecoveryDeps {
  workflow: RequestWorkflow;
  requests: RequestService;
  outbox: Outbox;
  jobs: JobOwners;
  clock: Clock;
  logger: Logger;
  /** True for a request a freeze holds on purpose (freeze.ts): not stuck, the freeze owns it. */
  held?: (r: Request) => Promise<boolean>;
  /** Where each sweep reports `ts_requests_stuck` (and counts resumes). */
  metrics?: Metrics;
}

/** What one sweep found and did. */
export interface SweepResult {
  stuck: StuckRequest[];
  /** Requests given their work back (as they are after the resume). */
  resumed: Request[];
}

/** Finds and resumes requests without an owner; see the module comment. */
export class RequestRecovery {
  constructor(private readonly deps: RequestRecoveryDeps) {}

  /**
   * Requests that waited longer than `olderThanMs` since their last update in a state the
   * engine moves on from, with no job and no outbox entry for them, longest waiting first.
   */
  async stuck(olderThanMs: number = DEFAULT_STUCK_AFTER_MS): Promise<StuckRequest[]> {
    const now = this.deps.clock.now().getTime();
    const waiting: StuckRequest[] = [];
    for (const state of ENGINE_OWNED_STATES) {
      for (const request of await this.deps.requests.list({ state })) {
        const waitedMs = now - Date.parse(request.updatedAt);
        if (request.kind !== 'query' && waitedMs >= olderThanMs) waiting.push({ request, waitedMs });
      }
    }
    if (waiting.length === 0) return [];
    const [jobs, owed] = await Promise.all([this.deps.jobs.requestsWithJobs(), this.deps.outbox.requestIds()]);
    const stuck: StuckRequest[] = [];
    for (const s of waiting) {
      if (jobs.has(s.request.id) || owed.has(s.request.id)) continue;
      if (await this.deps.held?.(s.request)) continue;
      // Awaiting approval is a person's move, unless the approvals are complete and the move was lost.
      if (s.request.state === 'awaiting_approval' && (s.request.approvals.length === 0 || !(await this.deps.workflow.approvalSatisfied(s.request)))) continue;
      stuck.push(s);
    }
    return stuck.sort((a, b) => b.waitedMs - a.waitedMs);
  }

  /**
   * Resumes every stuck request (see {@link stuck}). A request that moved meanwhile (a live
   * step won the revision check) is skipped; a failure on one request does not stop the others.
   */
  async sweep(olderThanMs: number = DEFAULT_STUCK_AFTER_MS): Promise<SweepResult> {
    const stuck = await this.stuck(olderThanMs);
    this.deps.metrics?.set('ts_requests_stuck', 'Requests found waiting longer than the bound without a job or outbox entry (last sweep)', stuck.length);
    const resumed: Request[] = [];
    for (const { request } of stuck) {
      try {
        resumed.push(await this.deps.workflow.resume(request));
        this.deps.metrics?.inc('ts_requests_resumed_total', 'Requests without an owner given their work back', { state: request.state });
        this.deps.logger.warn({ request: request.id, state: request.state }, 'request without an owner resumed');
      } catch (err) {
        if (err instanceof ConflictError || err instanceof IllegalTransitionError) continue;
        this.deps.logger.error({ request: request.id, state: request.state, err }, 'resuming a request failed');
      }
    }
    return { stuck, resumed };
  }
}
