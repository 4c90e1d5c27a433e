/**
 * The one approval call every surface makes: a Jira transition or JSM approval, a ServiceNow
 * approval record, `POST /requests/:id/approvals`, `ticket-surface approve <request> --as <user>`
 * all end here, so the rules (plan binding, separation of duties, directory checks) and the
 * audit trail are the same whichever surface the person used.
 */
import { ConflictError } from '../engine/errors.ts';
import type { Actor, Approval, Clock, SurfaceName } from '../engine/model.ts';
import { approvalStatus, evaluateApproval, type ApprovalResult, type ApprovalStatus, type ApprovalSubject } from './approvals.ts';
import type { Directory, Policy } from './types.ts';

/** Where approvals are read from and written to (the engine's request store implements it). */
export interface ApprovalStorePort {
  /** The request's approval view and the revision of its record. */
  load(requestId: string): Promise<{ subject: ApprovalSubject; revision: number }>;
  /** Appends a counted approval; must throw {@link ConflictError} when the record is no longer at `expectedRevision`. */
  addApproval(requestId: string, approval: Approval, expectedRevision: number): Promise<void>;
}

/** An audit record of an approval attempt (the engine's audit log implements the port). */
export interface ApprovalAuditRecord {
  actor: string;
  surface: SurfaceName;
  action: 'request.approve' | 'request.approval_refused';
  subject: { type: 'request'; id: string };
  request: string;
  after: { planHash: string; counted: boolean; reason?: string; groups?: string[]; expiresAt?: string };
}

/** Appends audit records. */
export interface ApprovalAuditPort {
  append(record: ApprovalAuditRecord): Promise<void>;
}

/** Dependencies of {@link ApprovalDesk}. */
export interface ApprovalDeskDeps {
  policy: Policy;
  directory: Directory;
  clock: Clock;
  store: ApprovalStorePort;
  audit: ApprovalAuditPort;
}

/** One approval attempt from any surface. */
export interface ApproveCommand {
  requestId: string;
  approver: Actor;
  /** Plan hash the approver saw. */
  planHash: string;
  seenRevision?: number;
  surface: SurfaceName;
}

/** Checks, records and audits approvals. */
export class ApprovalDesk {
  constructor(private readonly deps: ApprovalDeskDeps) {}

  /**
   * Evaluates the attempt, stores it when it counts, audits it either way (refusals too, with
   * the surface named), and returns the result with the request's approval status afterwards.
   * A concurrent write to the request makes it re-read and re-decide, so two approvals racing
   * can never both be checked against a stale list.
   */
  async approve(cmd: ApproveCommand): Promise<{ result: ApprovalResult; status: ApprovalStatus }> {
    const { policy, directory, clock, store, audit } = this.deps;
    for (let attempt = 0; ; attempt++) {
      const { subject, revision } = await store.load(cmd.requestId);
      const now = clock.now();
      const result = await evaluateApproval({
        policy,
        request: subject,
        approver: cmd.approver,
        planHash: cmd.planHash,
        seenRevision: cmd.seenRevision,
        surface: cmd.surface,
        now,
        directory,
      });
      if (result.counted) {
        try {
          await store.addApproval(cmd.requestId, result.approval, revision);
        } catch (err) {
          if (err instanceof ConflictError && attempt < 4) continue;
          throw err;
        }
      }
      await audit.append({
        actor: cmd.approver.id,
        surface: cmd.surface,
        action: result.counted ? 'request.approve' : 'request.approval_refused',
        subject: { type: 'request', id: cmd.requestId },
        request: cmd.requestId,
        after: result.counted
          ? { planHash: cmd.planHash, counted: true, groups: result.approval.groups, expiresAt: result.approval.expiresAt }
          : { planHash: cmd.planHash, counted: false, reason: result.reason },
      });
      const after: ApprovalSubject = result.counted ? { ...subject, approvals: [...subject.approvals, result.approval] } : subject;
      return { result, status: approvalStatus(policy, after, now) };
    }
  }
}
