import type { WorkflowNotice } from '../workflow/workflow.ts';
import type { Logger } from '../engine/logger.ts';
import type { SurfaceName } from '../engine/model.ts';
import type { Directory } from '../policy/index.ts';
import type { IntakeJobData } from '../queue/queues.ts';
import type { NoticeAttempt } from '../queue/workers.ts';

/** Headers of an inbound call, lower-case keys as Node gives them. */
export type InboundHeaders = Record<string, string | string[] | undefined>;

/**
 * One ticket surface (Jira, ServiceNow) behind one small interface. The engine never sees a
 * surface's words: an adapter verifies and normalizes what comes in, turns it into workflow
 * calls, writes the engine's notices back, and answers directory questions for policy.
 */
export interface SurfaceAdapter {
  readonly name: Extract<SurfaceName, 'jira' | 'servicenow'>;
  /**
   * Checks an inbound call on its raw body before anything parses it. Returns the delivery id
   * (the dedupe key); throws a `UserError` with code `unauthorized` naming the header at fault.
   */
  verify(headers: InboundHeaders, rawBody: Buffer): { deliveryId: string };
  /**
   * Whether a verified delivery (its parsed JSON body) was caused by the service's own writes
   * (its comments, notes, transitions): such echoes are answered at the door and never queued.
   * Synchronous and from the body alone; false whenever the body does not say so for sure.
   */
  isOwnEcho?(payload: unknown): boolean;
  /** Turns a verified, durably queued delivery into workflow calls. */
  handle(delivery: IntakeJobData, log: Logger): Promise<void>;
  /**
   * Writes one notice back to the ticket the request came from. `attempt` (from the outbox) says
   * whether an earlier attempt of this notice may have written; absent: assume it may have.
   */
  publish(notice: WorkflowNotice, log: Logger, attempt?: NoticeAttempt): Promise<void>;
  /** Who is who on this surface: active flag and groups, for approvals. */
  readonly directory: Directory;
}
