/**
 * JSM approvals for projects configured with `approval: jsm`: approvers answer the request's
 * approval in Jira Service Management (the portal, the issue's Approvals panel, or the service
 * desk API: POST /rest/servicedeskapi/request/{key}/approval/{id} {decision}); the service reads
 * the answers back through the service desk API and hands each approver who approved to the
 * workflow's `approve()`, once, so the same checks as every approval apply: active, in an
 * approver group, not the requester, one person counted once, bound to the plan.
 *
 * Each JSM approval is bound (an issue property) to the request and plan hash it was opened
 * for, when the service moved the issue into the approval status; answers given on an approval
 * bound to an older plan are refused by the workflow ("the plan changed").
 */
import { z } from 'zod';
import type { Logger } from '../../engine/logger.ts';
import type { Request } from '../../engine/model.ts';
import type { RequestWorkflow } from '../../workflow/workflow.ts';
import { sanitize } from '../shared/sanitize.ts';
import type { JiraClient, JsmApproval } from './client.ts';

/** Prefix of the issue property binding one JSM approval (`<prefix>.<approval id>`). */
export const JSM_APPROVAL_PROPERTY = 'ticket-surface.jsm-approval';

const bindingSchema = z.object({
  requestId: z.string(),
  planHash: z.string(),
  /** Account ids of the approvers already handed to the workflow. */
  handed: z.array(z.string()).default([]),
});

/** What a JSM approval is bound to, and whose answers were handed over. */
type Binding = z.infer<typeof bindingSchema>;

/** Dependencies of {@link JsmApprovals}. */
export interface JsmApprovalsDeps {
  client: JiraClient;
  /** Read at each use: the runtime may build the workflow after the adapter. */
  workflow: () => RequestWorkflow;
}

/** Reads JSM approvals and hands their approvers to the workflow (see the module notes). */
export class JsmApprovals {
  constructor(private readonly deps: JsmApprovalsDeps) {}

  /**
   * Binds the pending JSM approvals of ticket `ref` to `request`'s plan: those not bound yet, and
   * those bound to an earlier request that nobody answered yet (the plan changed before anyone
   * looked at it).
   */
  async bind(ref: string, request: Request): Promise<void> {
    if (!request.plan) return;
    for (const approval of await this.deps.client.getApprovals(ref)) {
      if (approval.finalDecision !== 'pending') continue;
      const bound = await this.binding(ref, approval.id);
      const untouched = approval.approvers.every((a) => a.approverDecision === 'pending');
      if (bound && (bound.requestId === request.id || !untouched)) continue;
      await this.save(ref, approval.id, { requestId: request.id, planHash: request.plan.hash, handed: [] });
    }
  }

  /**
   * Hands every approver who approved a JSM approval of ticket `ref`, and was not handed yet, to
   * the workflow (an approval never bound is bound to `latest` first). Refusals are the
   * workflow's: it tells the ticket why (the requester, not in the group, the plan changed).
   */
  async collect(ref: string, latest: Request, log: Logger): Promise<void> {
    for (const approval of await this.deps.client.getApprovals(ref)) {
      const approved = approval.approvers.filter((a) => a.approverDecision === 'approved');
      if (!approved.length) continue;
      const binding = (await this.binding(ref, approval.id)) ?? this.bindingFor(latest);
      if (!binding) continue;
      for (const a of approved) await this.handOver(ref, approval, binding, a.approver, log);
    }
  }

  /** Hands one approver's answer to the workflow, then remembers it was handed (a retry hands it again, harmlessly). */
  private async handOver(ref: string, approval: JsmApproval, binding: Binding, approver: { accountId: string; displayName?: string }, log: Logger): Promise<void> {
    if (binding.handed.includes(approver.accountId)) return;
    const outcome = await this.deps.workflow().approve({
      requestId: binding.requestId,
      approver: { id: approver.accountId, ...(approver.displayName ? { displayName: sanitize(approver.displayName) } : {}) },
      surface: 'jira',
      planHash: binding.planHash,
    });
    binding.handed.push(approver.accountId);
    await this.save(ref, approval.id, binding);
    log.info({ approval: approval.id, approver: approver.accountId, counted: outcome.counted, request: binding.requestId }, 'JSM approval handled');
  }

  /** A new binding to `request`'s plan; none while it has no plan. */
  private bindingFor(request: Request): Binding | undefined {
    return request.plan ? { requestId: request.id, planHash: request.plan.hash, handed: [] } : undefined;
  }

  private async binding(ref: string, approvalId: string): Promise<Binding | undefined> {
    const raw = await this.deps.client.getIssueProperty(ref, `${JSM_APPROVAL_PROPERTY}.${approvalId}`);
    const parsed = bindingSchema.safeParse(raw);
    return parsed.success ? parsed.data : undefined;
  }

  private async save(ref: string, approvalId: string, binding: Binding): Promise<void> {
    await this.deps.client.setIssueProperty(ref, `${JSM_APPROVAL_PROPERTY}.${approvalId}`, binding);
  }
}
