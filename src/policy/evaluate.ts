/**
 * Policy evaluation: a request in, a list of decisions out (rule, outcome, plain-words reason,
 * approvers). The decisions are stored on the request and rendered in the ticket; approvals and
 * scheduling read them back.
 */
import type { PolicyDecision } from '../engine/model.ts';
import { evaluateCondition } from './conditions.ts';
import { matchEnvironment } from './match.ts';
import type { ApproverRequirement, EnvironmentPolicy, Policy, PolicyDeps, PolicyInput, PolicyRule } from './types.ts';
import { ChangeWindowService, formatOpening, noPolicyText } from './windows.ts';

/** Rule names of the decisions evaluation produces besides the file's own rule ids. */
export const DECISION_RULES = {
  environment: 'environment',
  requester: 'requester',
  kind: 'request-kind',
  approvals: 'approvals',
  emergency: 'emergency',
  window: 'change-window',
} as const;

function joinOr(groups: string[]): string {
  return groups.length <= 1 ? groups.join('') : `${groups.slice(0, -1).join(', ')} or ${groups[groups.length - 1]}`;
}

/** "needs 1 approval from platform-approvers (not the requester)"; `qualifier` adds "extra" or "more". */
export function approvalNeedText(req: ApproverRequirement, qualifier?: 'extra' | 'more'): string {
  const n = req.count;
  const who = n > 1 ? 'distinct people, not the requester' : 'not the requester';
  return `needs ${n}${qualifier ? ` ${qualifier}` : ''} approval${n === 1 ? '' : 's'} from ${joinOr(req.groups)} (${who})`;
}

/** Capitalizes the first letter (reasons are sentences). */
function sentence(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** The overall verdict of a list of decisions: any deny wins, then any needs_approval. */
export function overallOutcome(decisions: PolicyDecision[]): 'deny' | 'needs_approval' | 'allow' {
  if (decisions.some((d) => d.outcome === 'deny')) return 'deny';
  if (decisions.some((d) => d.outcome === 'needs_approval')) return 'needs_approval';
  return 'allow';
}

function ruleDecision(rule: PolicyRule, input: PolicyInput): PolicyDecision | null {
  if (rule.when && !evaluateCondition(rule.when, input).pass) return null;
  const r = evaluateCondition(rule.require, input);
  if (r.pass) return { rule: rule.id, outcome: 'allow', reason: rule.allowReason ?? r.detail };
  // Details are not capitalized: they often start with a bundle or param name, written as is.
  const base = rule.denyReason ? `${rule.denyReason}: ${r.detail}` : r.detail;
  if (rule.onFail === 'needs_approval' && rule.approvers) {
    return { rule: rule.id, outcome: 'needs_approval', reason: `${base}; ${approvalNeedText(rule.approvers, 'extra')}`, approvers: { ...rule.approvers } };
  }
  return { rule: rule.id, outcome: rule.onFail === 'warn' ? 'warn' : 'deny', reason: base };
}

/**
 * Evaluates the policy for one request. Order: environment entry, requester, request kind,
 * rules (file-wide, then the environment's), approvals, then the emergency path and window
 * reachability. A request in an environment no entry covers is denied, as is one from a person
 * the directory cannot find or who is inactive.
 */
export async function evaluatePolicy(policy: Policy, input: PolicyInput, deps: PolicyDeps): Promise<PolicyDecision[]> {
  const env = matchEnvironment(policy, input.environment);
  if (!env) return [{ rule: DECISION_RULES.environment, outcome: 'deny', reason: noPolicyText(policy, input.environment) }];
  const out: PolicyDecision[] = [];

  out.push(await requesterDecision(env, input, deps));

  if (env.kinds && !env.kinds.includes(input.kind)) {
    out.push({
      rule: DECISION_RULES.kind,
      outcome: 'deny',
      reason: `${sentence(input.kind)} requests are not allowed in ${input.environment.name} (allowed: ${env.kinds.join(', ')})`,
    });
  }

  for (const rule of [...policy.rules, ...env.rules]) {
    const d = ruleDecision(rule, input);
    if (d) out.push(d);
  }

  if (env.approvals) {
    out.push({ rule: DECISION_RULES.approvals, outcome: 'needs_approval', reason: approvalNeedText(env.approvals), approvers: { ...env.approvals } });
  } else {
    out.push({ rule: DECISION_RULES.approvals, outcome: 'allow', reason: `No approval needed in ${input.environment.name}` });
  }

  const w = await windowDecision(policy, env, input, deps);
  if (w) out.push(w);
  return out;
}

async function requesterDecision(env: EnvironmentPolicy, input: PolicyInput, deps: PolicyDeps): Promise<PolicyDecision> {
  const rule = DECISION_RULES.requester;
  const envName = input.environment.name;
  const user = await deps.directory.getUser(input.actor.id);
  const name = user?.displayName ?? input.actor.displayName ?? input.actor.id;
  if (!user) return { rule, outcome: 'deny', reason: `${name} is not known to the directory, so the request cannot be checked` };
  if (!user.active) return { rule, outcome: 'deny', reason: `${name} is not an active user` };
  if (env.requesters === 'anyone') return { rule, outcome: 'allow', reason: `Anyone may request changes in ${envName}` };
  if (env.requesters.users.includes(user.id)) return { rule, outcome: 'allow', reason: `${name} may request changes in ${envName}` };
  const via = env.requesters.groups.filter((g) => user.groups.includes(g));
  if (via.length) return { rule, outcome: 'allow', reason: `${name} may request changes in ${envName} (${via.join(', ')})` };
  const who = [...env.requesters.groups, ...env.requesters.users.map((u) => `user ${u}`)];
  return { rule, outcome: 'deny', reason: `${name} may not request changes in ${envName}: only ${joinOr(who)} may` };
}

async function windowDecision(policy: Policy, env: EnvironmentPolicy, input: PolicyInput, deps: PolicyDeps): Promise<PolicyDecision | null> {
  const envName = input.environment.name;
  const now = deps.clock.now();
  const service = new ChangeWindowService(policy, deps.windowSources ?? []);
  const opening = await service.nextWindow(input.environment, now);
  if (!opening) {
    return { rule: DECISION_RULES.window, outcome: 'deny', reason: `No ${envName} change window opens in the foreseeable future (blackouts cover every window)` };
  }
  if (!input.emergency) return null;
  const rule = DECISION_RULES.emergency;
  if (opening.openNow) return { rule, outcome: 'allow', reason: `The ${envName} window is open now; the emergency path is not needed` };
  if (env.emergency?.allowed && env.emergency.approvals) {
    return {
      rule,
      outcome: 'needs_approval',
      reason: `Emergency change outside the ${envName} window: ${approvalNeedText(env.emergency.approvals, 'extra')}`,
      approvers: { ...env.emergency.approvals },
    };
  }
  return {
    rule,
    outcome: 'warn',
    reason: `${envName} has no emergency path: the change waits for the next window (${formatOpening(opening)})`,
  };
}
