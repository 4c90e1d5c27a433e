/**
 * The emergency path, decided when it matters. Whether an emergency request needs the
 * environment's emergency approvers depends on the clock: planned inside its window it needs
 * none, but if the window has closed by the time it is approved or applies, it would apply
 * outside the window on the normal approvals only. So the workflow asks again when the
 * request is approved (before scheduling) and right before it applies.
 */
import type { PolicyDecision, Request } from '../engine/model.ts';
import { approvalNeedText, DECISION_RULES, matchEnvironment, type ChangeWindowService, type EnvironmentRef, type Policy } from '../policy/index.ts';

/**
 * The emergency requirement request `r` lacks at `now`, or undefined. It lacks one when it is
 * an emergency, the environment's window is closed now (so it would take the emergency path),
 * the environment names emergency approvers, and the request's decisions do not yet require
 * them. The decision returned is the one policy evaluation makes outside the window.
 */
export async function missingEmergencyApproval(policy: Policy, windows: ChangeWindowService, r: Request, env: EnvironmentRef, now: Date): Promise<PolicyDecision | undefined> {
  if (r.submitted?.emergency !== true) return undefined;
  if (r.decisions.some((d) => d.rule === DECISION_RULES.emergency && d.outcome === 'needs_approval')) return undefined;
  const decision = await windows.scheduleDecision(env, now, true);
  // Inside the window (or waiting for it): the emergency path is not taken.
  if (decision.action !== 'apply_now' || !decision.emergency) return undefined;
  const approvers = matchEnvironment(policy, env)?.emergency?.approvals;
  if (!approvers) return undefined;
  return {
    rule: DECISION_RULES.emergency,
    outcome: 'needs_approval',
    reason: `Emergency change outside the ${env.name} window: ${approvalNeedText(approvers, 'extra')}`,
    approvers: { ...approvers },
  };
}

/** `decisions` with `d` in place of any earlier decision of the same rule. */
export function withDecision(decisions: readonly PolicyDecision[], d: PolicyDecision): PolicyDecision[] {
  return [...decisions.filter((x) => x.rule !== d.rule), d];
}
