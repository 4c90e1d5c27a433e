/**
 * Who may do what, decided once for every surface.
 *
 * A surface names the action a caller asks for; this file decides. Route-level actions (read,
 * file a request, approve, attest, create projects and environments, write packages, sync
 * forms, manage tokens, reveal secrets) need a role ({@link ACTIONS}); the commands on one request (cancel,
 * reject, `/plan` and `/apply`) need a relation to that request: its requester, one of its
 * approvers (the groups its policy names), or an admin. The commands on one stack (`/extend`,
 * `/resume`) need its requester or an admin, active in the directory. Admins may do everything. Every
 * refusal is audited as `authz.refused` (who, what, why) and thrown as a {@link ForbiddenError}
 * naming what was needed, so the API answers 403 and a ticket is told why.
 *
 * Whether an approval counts is not decided here: the policy's approval rules decide that (an
 * admin's approval counts only when they are in a group the policy names).
 */
import type { AuditEventInput } from '../engine/audit.ts';
import { UserError } from '../engine/errors.ts';
import type { Actor, Request, SurfaceName } from '../engine/model.ts';
import { approvalRequirements, matchEnvironment, ROLES, type Directory, type EnvironmentRef, type People, type Person, type PersonResolver, type Policy, type Role } from '../policy/index.ts';

/** Everything a caller may ask to do. */
export type Action =
  | 'read'
  | 'request.file'
  | 'request.approve'
  | 'request.cancel'
  | 'request.reject'
  | 'request.replan'
  | 'bundle.attest'
  | 'project.create'
  | 'environment.create'
  | 'package.write'
  | 'forms.sync'
  | 'token.manage'
  | 'secrets.reveal'
  | 'deliveries.replay'
  | 'notices.replay'
  | 'drift.check'
  | 'drift.decide'
  | 'drift.decide.ops'
  | 'environment.freeze'
  | 'stack.request'
  | 'stack.extend'
  | 'stack.resume';

/** The role an action needs, and how a refusal names the action. */
export interface ActionRule {
  role: Role;
  doing: string;
}

/** The role each action needs (for the commands on one request, see {@link Authorizer.requireOnRequest}). */
export const ACTIONS: Readonly<Record<Action, ActionRule>> = {
  read: { role: 'reader', doing: 'reading' },
  'request.file': { role: 'requester', doing: 'filing a request' },
  'request.approve': { role: 'approver', doing: 'approving a request' },
  'request.cancel': { role: 'requester', doing: 'cancelling a request' },
  'request.reject': { role: 'approver', doing: 'rejecting a request' },
  'request.replan': { role: 'requester', doing: 'planning a request again' },
  'bundle.attest': { role: 'admin', doing: 'attesting a bundle version' },
  'project.create': { role: 'admin', doing: 'creating a project' },
  'environment.create': { role: 'admin', doing: 'creating an environment' },
  'package.write': { role: 'admin', doing: 'writing a package directly' },
  'forms.sync': { role: 'admin', doing: 'syncing forms' },
  'token.manage': { role: 'admin', doing: 'managing API tokens' },
  'secrets.reveal': { role: 'admin', doing: 'revealing secrets' },
  'deliveries.replay': { role: 'admin', doing: 'replaying a failed webhook delivery' },
  'notices.replay': { role: 'admin', doing: 'replaying a failed ticket write' },
  'drift.check': { role: 'requester', doing: 'checking a package for drift' },
  'drift.decide': { role: 'requester', doing: 'deciding on drift of a request\'s package' },
  'drift.decide.ops': { role: 'approver', doing: 'deciding on drift of an ops-owned field of a request\'s package' },
  'environment.freeze': { role: 'admin', doing: 'freezing or unfreezing an environment' },
  'stack.request': { role: 'requester', doing: 'requesting a stack' },
  'stack.extend': { role: 'requester', doing: 'extending the lease of a stack' },
  'stack.resume': { role: 'requester', doing: 'resuming a stack' },
};

/** Why a credential was not accepted. */
export type AuthProblem =
  | 'missing'
  | 'malformed'
  | 'unknown_token'
  | 'revoked'
  | 'expired'
  | 'not_yet_valid'
  | 'bad_signature'
  | 'unknown_issuer'
  | 'wrong_audience'
  | 'unknown_person'
  | 'not_configured';

/** The caller could not be authenticated (HTTP 401); `problem` says what was wrong. */
export class NotAuthenticatedError extends UserError {
  constructor(
    readonly problem: AuthProblem,
    message: string,
  ) {
    super('unauthorized', message);
  }
}

/** The caller is known but may not do this (HTTP 403; a remark in a ticket); `needs` names who may. */
export class ForbiddenError extends UserError {
  constructor(
    readonly action: Action,
    readonly needs: string,
    message: string,
  ) {
    super('forbidden', message);
  }
}

/** An authenticated caller of the API or the CLI (or a ticket's commenter, for an admin command). */
export interface Principal {
  person: Person;
  surface: 'http' | 'cli' | 'jira' | 'servicenow';
  /** The id they act under on that surface: the person id (API), the CLI user (CLI), the ticket account. */
  account: string;
  /** The most the credential allows (an API token's role); absent: whatever the person holds. */
  scope?: Role;
  /** How they proved who they are, for messages: `API token tk_1a2b3c`, `OpenID Connect token`. */
  via: string;
}

/** Someone acting on a surface (a ticket's commenter, an approver, a CLI user). */
export interface Caller {
  actor: Actor;
  surface: SurfaceName;
}

/** The commands on one stack (a preview environment) that need a relation to it: `/extend`, `/resume`. */
export type StackCommand = 'stack.extend' | 'stack.resume';

/** Who acts on a stack: a surface's actor (a ticket's commenter, a CLI user), or an authenticated principal (an API caller). */
export type StackCaller = Caller | Principal;

/** What deciding on a stack needs to know of it. */
export interface StackSubject {
  /** The stack's environment id (its refusals are audited under that environment). */
  id: string;
  /** Who requested it, on which surface (for `/extend` and `/resume`; none known: only an admin may). */
  requester?: Caller;
}

/** How a surface's account is named in messages, by surface. */
const ACCOUNT_WORDS: Record<Principal['surface'], string> = { http: 'person', cli: 'CLI user', jira: 'Jira account', servicenow: 'ServiceNow account' };

/** The commands on one request that need a relation to it. */
export type RequestCommand = 'request.cancel' | 'request.reject' | 'request.replan' | 'drift.decide' | 'drift.decide.ops';

/** Dependencies of {@link Authorizer}. */
export interface AuthorizerDeps {
  policy: Policy;
  resolver: PersonResolver;
  /** Who is who per surface, for the groups of a ticket's actor (read at each use). */
  directories: () => Partial<Record<SurfaceName, Directory>>;
  audit: { append(input: AuditEventInput): Promise<unknown> };
  /** The environment a request is for, as policy sees it. */
  environmentOf(request: Request): Promise<EnvironmentRef | undefined>;
}

/** Every group the policy names as approvers, anywhere. */
function policyApproverGroups(policy: Policy): Set<string> {
  const out = new Set<string>();
  const rules = [...policy.rules, ...policy.environments.flatMap((e) => e.rules)];
  for (const r of rules) for (const g of r.approvers?.groups ?? []) out.add(g);
  for (const e of policy.environments) for (const g of [...(e.approvals?.groups ?? []), ...(e.emergency?.approvals?.groups ?? [])]) out.add(g);
  return out;
}

function joinOr(items: string[]): string {
  return items.length <= 1 ? items.join('') : `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`;
}

/** Decides who may do what; see the file comment. */
export class Authorizer {
  private readonly approverGroups: Set<string>;

  constructor(private readonly deps: AuthorizerDeps) {
    this.approverGroups = policyApproverGroups(deps.policy);
  }

  /** The directory's people. */
  get people(): People {
    return this.deps.resolver.people;
  }

  /** Whether `person` holds `role` (admins hold every role; approvers are the policy's groups' members). */
  holds(person: Person, role: Role): boolean {
    if (!person.active) return false;
    if (person.roles.includes('admin')) return true;
    if (role === 'reader') return true;
    if (role === 'requester') return person.roles.includes('requester');
    if (role === 'approver') return person.groups.some((g) => this.approverGroups.has(g));
    return false;
  }

  /** The principal of CLI user `user`; refused when the directory lists no person with that CLI id. */
  cliPrincipal(user: string): Principal {
    const person = this.deps.resolver.people.bySurfaceId('cli', user);
    if (!person) throw new NotAuthenticatedError('unknown_person', `the directory lists no person with CLI user "${user}"`);
    return { person, surface: 'cli', account: user, via: `CLI user ${user}` };
  }

  /**
   * The principal of a ticket's commenter asking for `action` (an admin command): their
   * directory person. Refused (audited) when the directory lists nobody for them.
   */
  ticketPrincipal(caller: Caller & { surface: 'jira' | 'servicenow' }, action: Action): Promise<Principal> {
    return this.callerPrincipal(caller, action, `${ACTIONS[action].doing} needs the ${ACTIONS[action].role} role`, { type: 'action', id: action });
  }

  /**
   * The principal of a surface's actor: their directory person. Refused (audited) when the
   * directory lists nobody for them, as `refusal` (what was asked and what it needs) followed by why.
   */
  private async callerPrincipal(caller: Caller, action: Action, refusal: string, subject: { type: string; id: string }): Promise<Principal> {
    const person = await this.deps.resolver.personOf(caller.actor, caller.surface);
    const who = caller.actor.displayName ?? caller.actor.id;
    if (!person) return this.refuse(caller, action, 'a person in the directory', `${refusal}; ${who} is not in the directory`, subject);
    // The resolver finds people on the API, the CLI and the ticket surfaces only.
    const surface = caller.surface as Principal['surface'];
    return { person, surface, account: caller.actor.id, via: `${ACCOUNT_WORDS[surface]} ${who}` };
  }

  /** The actor a principal acts as on its surface (stamped with their person). */
  actorOf(p: Principal): Actor {
    return { id: p.account, displayName: p.person.displayName, ...(p.person.email ? { email: p.person.email } : {}), person: p.person.id };
  }

  /** `actor` stamped with the directory person it belongs to (see PersonResolver.identify). */
  identify(actor: Actor, surface: SurfaceName): Promise<Actor> {
    return this.deps.resolver.identify(actor, surface);
  }

  /** Throws an audited {@link ForbiddenError} unless `p` may do `action` (the person's roles and the credential's scope both allow it). */
  async require(p: Principal, action: Action, subject: { type: string; id: string } = { type: 'action', id: action }): Promise<void> {
    const rule = ACTIONS[action];
    const personOk = this.holds(p.person, rule.role);
    const scopeOk = !p.scope || ROLES.indexOf(p.scope) >= ROLES.indexOf(rule.role);
    if (personOk && scopeOk) return;
    const name = p.person.displayName;
    const why = !p.person.active ? `${name} is not active in the directory` : !personOk ? this.standing(p.person, rule.role) : `the ${p.via} allows only the ${p.scope} role`;
    await this.refuse({ actor: this.actorOf(p), surface: p.surface }, action, `the ${rule.role} role`, `${rule.doing} needs the ${rule.role} role; ${why}`, subject);
  }

  /** What a person holds, said against the role they lack. */
  private standing(person: Person, role: Role): string {
    if (role === 'approver') return `${person.displayName} is in none of the policy's approval groups (${joinOr([...this.approverGroups].sort())})`;
    return `${person.displayName} holds ${joinOr(person.roles)}`;
  }

  /**
   * The commands on one request, from any surface: `request.cancel` needs its requester;
   * `request.reject` one of its approvers; `request.replan` (`/plan`, `/apply`) either. Admins
   * may do all three. The requester is compared as a person, whichever surface they use.
   */
  async requireOnRequest(caller: Caller, action: RequestCommand, request: Request): Promise<void> {
    const { resolver } = this.deps;
    const person = await resolver.personOf(caller.actor, caller.surface);
    const subject = { type: 'request', id: request.id };
    if (person && !person.active) {
      await this.refuse(caller, action, 'an active person', `${ACTIONS[action].doing} needs an active person; ${person.displayName} is not active in the directory`, subject, request.id);
    }
    if (person && this.holds(person, 'admin')) return;
    const approverOnly = action === 'request.reject' || action === 'drift.decide.ops';
    if (!approverOnly && (await resolver.keyOf(caller.actor, caller.surface)) === (await resolver.keyOf(request.actor, request.origin.surface))) return;
    const groups = action === 'request.cancel' ? [] : await this.approverGroupsOf(request);
    if (groups.length && (await this.inGroups(caller, groups))) return;
    const requester = `its requester (${request.actor.displayName ?? request.actor.id})`;
    const approver = `an approver (${joinOr(groups)})`;
    const needs = action === 'request.cancel' ? `${requester} or the admin role` : approverOnly ? `${approver} or the admin role` : `${requester}, ${approver} or the admin role`;
    const who = person?.displayName ?? caller.actor.displayName ?? caller.actor.id;
    await this.refuse(caller, action, needs, `${ACTIONS[action].doing.replace('a request', `request ${request.id}`)} needs ${needs}; ${who} is none of these`, subject, request.id);
  }

  /**
   * The commands on one stack, from any surface, for an active person of the directory:
   * requesting a stack (`stack.request`) needs the requester role, as filing a request does;
   * `/extend` and `/resume` (`stack.extend`, `stack.resume`) need the stack's requester (the
   * person, whichever surface they use) or the admin role, as `/cancel` on a request does. A
   * principal's credential must allow the requester role (the admin role, for another's stack).
   * Returns the principal the caller acts as; refusals are audited under the stack's environment.
   */
  async requireOnStack(by: StackCaller, action: 'stack.request' | StackCommand, stack: StackSubject): Promise<Principal> {
    const subject = { type: 'environment', id: stack.id };
    const doing = ACTIONS[action].doing.replace('a stack', `stack ${stack.id}`);
    const requester = action === 'stack.request' ? undefined : stack.requester;
    const named = requester && ((await this.deps.resolver.personOf(requester.actor, requester.surface))?.displayName ?? requester.actor.displayName ?? requester.actor.id);
    const needs = named ? `its requester (${named}) or the admin role` : action === 'stack.request' ? 'the requester role' : 'the admin role';
    const p = 'actor' in by ? await this.callerPrincipal(by, action, `${doing} needs ${needs}`, subject) : by;
    const caller = { actor: this.actorOf(p), surface: p.surface };
    const name = p.person.displayName;
    if (!p.person.active) await this.refuse(caller, action, 'an active person', `${doing} needs an active person; ${name} is not active in the directory`, subject);
    const related = requester ? p.person.id === (await this.deps.resolver.keyOf(requester.actor, requester.surface)) : action === 'stack.request' && this.holds(p.person, 'requester');
    const scopeOk = !p.scope || ROLES.indexOf(p.scope) >= ROLES.indexOf('requester');
    if ((this.holds(p.person, 'admin') && (!p.scope || p.scope === 'admin')) || (related && scopeOk)) return p;
    const why = related ? `the ${p.via} allows only the ${p.scope} role` : action === 'stack.request' ? this.standing(p.person, 'requester') : `${name} is none of these`;
    return this.refuse(caller, action, needs, `${doing} needs ${needs}; ${why}`, subject);
  }

  /** The groups whose members approve (and may reject) `request`: its requirements', else its environment's, else the policy's. */
  private async approverGroupsOf(request: Request): Promise<string[]> {
    const groups = new Set(approvalRequirements(request.decisions).flatMap((r) => r.groups));
    const env = await this.deps.environmentOf(request);
    const entry = env ? matchEnvironment(this.deps.policy, env) : null;
    for (const g of [...(entry?.approvals?.groups ?? []), ...(entry?.emergency?.approvals?.groups ?? [])]) groups.add(g);
    return [...(groups.size ? groups : this.approverGroups)].sort();
  }

  /** Whether the caller is an active member of one of `groups`, as their surface's directory says. */
  private async inGroups(caller: Caller, groups: string[]): Promise<boolean> {
    const user = await this.deps.directories()[caller.surface]?.getUser(caller.actor.id);
    return !!user && user.active && user.groups.some((g) => groups.includes(g));
  }

  /** Audits the refusal (`authz.refused`: who, what, why) and throws it. */
  private async refuse(caller: Caller, action: Action, needs: string, message: string, subject: { type: string; id: string }, request?: string): Promise<never> {
    const person = caller.actor.person ?? (await this.deps.resolver.personOf(caller.actor, caller.surface))?.id;
    await this.deps.audit.append({
      actor: caller.actor.id,
      surface: caller.surface,
      action: 'authz.refused',
      subject,
      ...(request ? { request } : {}),
      reason: message,
      after: { action, needs, ...(person ? { person } : {}) },
    });
    throw new ForbiddenError(action, needs, message);
  }
}
