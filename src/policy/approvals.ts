/**
 * Approvals: whether one person's sign-off counts, and whether a request has all it needs.
 *
 * What is required comes from the request's stored policy decisions: every `needs_approval`
 * decision is one requirement (N distinct people from its groups). Requirements add up: one
 * person fills at most one slot across all of them, so an emergency's "1 extra approval" really
 * is one more person. An approval counts only for the plan hash it was given for, only until it
 * expires, never from the requester, never from an unknown or inactive user, and a person who
 * approves twice counts once. "Person" is the directory person the caller stamped on the actors
 * ({@link personKey}), so one human with accounts on several surfaces is still one person.
 */
import type { Actor, Approval, PolicyDecision, Request, SurfaceName } from '../engine/model.ts';
import { durationText } from './duration.ts';
import { approvalNeedText } from './evaluate.ts';
import { matchEnvironment } from './match.ts';
import type { ApproverRequirement, Directory, EnvironmentRef, Policy } from './types.ts';

/** What approval logic reads about a request. Build one from a stored request with {@link approvalSubjectOf}. */
export interface ApprovalSubject {
  id?: string;
  /** The requester. */
  actor: Actor;
  environment: EnvironmentRef;
  /** The current plan; approvals bind to its hash. */
  plan?: { hash: string; revision?: number };
  decisions: PolicyDecision[];
  approvals: Approval[];
}

/** The approval view of a stored request (its environment resolved by the caller to name + labels). */
export function approvalSubjectOf(request: Request, environment: EnvironmentRef): ApprovalSubject {
  return {
    id: request.id,
    actor: request.actor,
    environment,
    plan: request.plan ? { hash: request.plan.hash, revision: request.contentRevision } : undefined,
    decisions: request.decisions,
    approvals: request.approvals,
  };
}

/** Input of {@link evaluateApproval}. */
export interface ApprovalAttempt {
  policy: Policy;
  request: ApprovalSubject;
  approver: Actor;
  /** The plan hash the approver saw (from the ticket, the API call or the CLI). */
  planHash: string;
  /** Content revision the approver saw, when the surface knows it (for "revision 2 replaces revision 1"). */
  seenRevision?: number;
  surface: SurfaceName;
  now: Date;
  directory: Directory;
}

/** Whether an approval counts, and the line the ticket shows either way. */
export type ApprovalResult =
  | { counted: true; approval: Approval; message: string }
  | { counted: false; reason: string; message: string };

/** One requirement taken from a `needs_approval` decision. */
export interface ApprovalRequirementStatus extends ApproverRequirement {
  rule: string;
  approvedBy: Actor[];
  missing: number;
}

/** Result of {@link approvalStatus}. */
export interface ApprovalStatus {
  satisfied: boolean;
  requirements: ApprovalRequirementStatus[];
  /** Approvals that count now. */
  valid: Approval[];
  /** Approvals on the request that do not count, with why. */
  notCounted: { approval: Approval; reason: string }[];
  /** One line per unmet requirement: "needs 1 more approval from release-managers (not the requester)". */
  missing: string[];
  /** One line for the ticket. */
  summary: string;
}

/** The requirements a request's decisions impose. */
export function approvalRequirements(decisions: PolicyDecision[]): (ApproverRequirement & { rule: string })[] {
  return decisions
    .filter((d) => d.outcome === 'needs_approval' && d.approvers && d.approvers.count > 0)
    .map((d) => ({ rule: d.rule, groups: [...d.approvers!.groups], count: d.approvers!.count }));
}

/** How long approvals last in the request's environment. */
export function approvalTtlMs(policy: Policy, environment: EnvironmentRef): number {
  return matchEnvironment(policy, environment)?.approvalTtlMs ?? policy.approvalTtlMs;
}

/**
 * Who an actor is for separation of duties and "one person counts once": the directory person
 * the caller stamped on them (see PersonResolver.identify), else their surface id.
 */
export function personKey(a: Actor): string {
  return a.person ?? a.id;
}

function nameOf(a: Actor): string {
  return a.displayName ?? a.id;
}

function joinOr(groups: string[]): string {
  return groups.length <= 1 ? groups.join('') : `${groups.slice(0, -1).join(', ')} or ${groups[groups.length - 1]}`;
}

function expiresAt(a: Approval, ttlMs: number): number {
  return a.expiresAt ? Date.parse(a.expiresAt) : Date.parse(a.at) + ttlMs;
}

/**
 * Decides whether `approver`'s sign-off on `planHash` counts. Refuses (never assumes) when the
 * plan changed, the approver is the requester, the directory does not know them, they are
 * inactive, they are in none of the required groups, or they already approved this plan.
 */
export async function evaluateApproval(attempt: ApprovalAttempt): Promise<ApprovalResult> {
  const { request, approver, now } = attempt;
  const refuse = (reason: string, who = nameOf(approver)): ApprovalResult => ({
    counted: false,
    reason,
    message: `Approval by ${who} not counted: ${reason}.`,
  });
  if (!request.plan) return refuse('there is no plan to approve yet');
  if (attempt.planHash !== request.plan.hash) {
    const rev = request.plan.revision;
    const replaces = rev === undefined ? '' : attempt.seenRevision !== undefined ? ` (revision ${rev} replaces revision ${attempt.seenRevision})` : ` (revision ${rev} replaces the plan you saw)`;
    return { counted: false, reason: `the plan changed${replaces}. Approve the new plan`, message: `Approval not counted: the plan changed${replaces}. Approve the new plan.` };
  }
  if (personKey(approver) === personKey(request.actor)) {
    return refuse('the requester cannot approve their own request', request.actor.displayName ?? approver.displayName ?? approver.id);
  }
  const user = await attempt.directory.getUser(approver.id);
  if (!user) return refuse('the directory does not know this user, so the approval cannot be checked');
  const who = user.displayName || approver.displayName || approver.id;
  if (!user.active) return refuse(`${who} is not an active user`, who);
  if (request.decisions.some((d) => d.outcome === 'deny')) return refuse('policy denied this request; an approval cannot override a denial', who);
  const reqs = approvalRequirements(request.decisions);
  if (!reqs.length) return refuse('this request needs no approval', who);
  const wanted = [...new Set(reqs.flatMap((r) => r.groups))];
  const via = wanted.filter((g) => user.groups.includes(g));
  if (!via.length) return refuse(`not in ${joinOr(wanted)}`, who);

  const ttl = approvalTtlMs(attempt.policy, request.environment);
  const by: Actor = { id: user.id, displayName: user.displayName, ...(approver.person ? { person: approver.person } : {}) };
  const again = request.approvals.find((a) => personKey(a.by) === personKey(by) && a.planHash === request.plan!.hash && expiresAt(a, ttl) > now.getTime());
  if (again) return refuse(`${who} already approved this plan; one person counts once`, who);

  const approval: Approval = {
    by,
    surface: attempt.surface,
    planHash: request.plan.hash,
    at: now.toISOString(),
    expiresAt: new Date(now.getTime() + ttl).toISOString(),
    groups: via,
  };
  return {
    counted: true,
    approval,
    message: `Approved by ${who} (${via.join(', ')}) for plan ${request.plan.hash.slice(0, 7)}. Valid for ${durationText(ttl)}.`,
  };
}

/**
 * Whether the request has every approval its decisions require, counting only approvals that
 * are bound to the current plan, unexpired at `now`, not by the requester, and one per person;
 * with what is missing in plain words.
 */
export function approvalStatus(policy: Policy, request: ApprovalSubject, now: Date): ApprovalStatus {
  const ttl = approvalTtlMs(policy, request.environment);
  const notCounted: ApprovalStatus['notCounted'] = [];
  const valid: Approval[] = [];
  const seen = new Set<string>();
  // Newest first, so a person's latest approval is the one that counts.
  const ordered = [...request.approvals].sort((a, b) => Date.parse(b.at) - Date.parse(a.at));
  for (const a of ordered) {
    if (!request.plan || a.planHash !== request.plan.hash) notCounted.push({ approval: a, reason: 'given for a plan that has since changed' });
    else if (personKey(a.by) === personKey(request.actor)) notCounted.push({ approval: a, reason: 'the requester cannot approve their own request' });
    else if (expiresAt(a, ttl) <= now.getTime()) notCounted.push({ approval: a, reason: `expired ${new Date(expiresAt(a, ttl)).toISOString()}` });
    else if (seen.has(personKey(a.by))) notCounted.push({ approval: a, reason: 'the same person already counts once' });
    else {
      seen.add(personKey(a.by));
      valid.push(a);
    }
  }

  const reqs = approvalRequirements(request.decisions);
  const assignment = assign(reqs, valid);
  const requirements: ApprovalRequirementStatus[] = reqs.map((r, i) => {
    const approvedBy = assignment.filter((x) => x.req === i).map((x) => valid[x.approval].by);
    return { ...r, approvedBy, missing: Math.max(0, r.count - approvedBy.length) };
  });
  const missing = requirements
    .filter((r) => r.missing > 0)
    .map((r) => approvalNeedText({ groups: r.groups, count: r.missing }, r.approvedBy.length > 0 ? 'more' : undefined));
  const satisfied = missing.length === 0;
  const by = valid.filter((_, i) => assignment.some((x) => x.approval === i)).map((a) => `${nameOf(a.by)} (${a.groups.join(', ')})`);
  const summary = satisfied
    ? reqs.length
      ? `Approvals complete: ${by.join(', ')}.`
      : 'No approval needed.'
    : `Waiting for approval: ${missing.join('; ')}.`;
  return { satisfied, requirements, valid, notCounted, missing, summary };
}

/**
 * Assigns approvals to requirement slots so that as many slots as possible are filled, each
 * person filling at most one (bipartite matching by augmenting paths; sizes are tiny).
 */
function assign(reqs: ApproverRequirement[], approvals: Approval[]): { req: number; approval: number }[] {
  const slots: number[] = reqs.flatMap((r, i) => Array.from({ length: r.count }, () => i));
  const slotOwner: (number | undefined)[] = slots.map(() => undefined);
  const fits = (a: Approval, slot: number): boolean => reqs[slots[slot]].groups.some((g) => a.groups.includes(g));
  const tryAssign = (ai: number, visited: Set<number>): boolean => {
    for (let s = 0; s < slots.length; s++) {
      if (visited.has(s) || !fits(approvals[ai], s)) continue;
      visited.add(s);
      const owner = slotOwner[s];
      if (owner === undefined || tryAssign(owner, visited)) {
        slotOwner[s] = ai;
        return true;
      }
    }
    return false;
  };
  approvals.forEach((_, ai) => tryAssign(ai, new Set()));
  return slotOwner.flatMap((owner, s) => (owner === undefined ? [] : [{ req: slots[s], approval: owner }]));
}
