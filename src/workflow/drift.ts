/**
 * Drift checks and decisions: reality is one more surface. A check reads reality through the
 * bundle's observe (engine/observe.ts), merges three ways per field (engine/drift-merge.ts),
 * lets policy decide what it may on its own (policy/drift-policy.ts) and stores the observation
 * and the findings on the package in ONE atomic write with the drift notice it owes to the
 * ticket that created or last changed the package (or, when policy says `ticket: new` for the
 * environment, to the ticket of the drift episode, which the surface files once; see
 * {@link episodeAfter}). A check never changes reality.
 *
 * Decisions, authorized like approvals (the package's requester or an approver; ops-owned
 * fields need an approver): adopt (desired := observed, nothing applied, audited with the
 * surface `reality`), revert (a normal update request: plan, approval, window, apply) and
 * ignore until a date.
 */
import { randomUUID } from 'node:crypto';
import type { AuditContext } from '../engine/audit.ts';
import { driftFingerprint, mergeDrift, openFindings } from '../engine/drift-merge.ts';
import { UserError } from '../engine/errors.ts';
import { REDACTED } from '../engine/redact.ts';
import { sensitivePointers } from '../engine/registry/index.ts';
import type { Logger } from '../engine/logger.ts';
import type { Clock, DriftDecision, DriftFinding, DriftState, Package, Request } from '../engine/model.ts';
import type { Observation, ObserveRunner } from '../engine/observe.ts';
import type { FormCatalog } from '../forms/catalog.ts';
import type { Answers } from '../forms/index.ts';
import { driftChoice, driftRulesFor, fieldOwner, type Policy } from '../policy/index.ts';
import type { Authorizer, Caller } from './authorize.ts';
import type { Engine } from './engine.ts';
import { outboxEntries } from './owed.ts';
import type { IntakeInput } from './workflow.ts';

/** A drift decision that cannot be taken (unknown field, nothing drifted, a value the bundle refuses). */
export class DriftDecisionError extends UserError {
  constructor(message: string) {
    super('validation', message);
  }
}

/** Dependencies of {@link DriftDesk}. */
export interface DriftDeskDeps {
  engine: Engine;
  observer: ObserveRunner;
  forms: FormCatalog;
  policy: Policy;
  authorizer: Authorizer;
  /** Files the update request a revert needs (the request workflow's submit). */
  submit: (input: IntakeInput) => Promise<Request>;
  clock: Clock;
  logger: Logger;
}

/** What a check found. */
export interface DriftCheckOutcome {
  package: Package;
  findings: DriftFinding[];
  /** True when the drift differs from the last check's (and the ticket is told). */
  changed: boolean;
  /** Update requests filed because policy reverts on its own. */
  reverts: Request[];
  error?: DriftState['error'];
}

/** Who checks on a schedule. */
export const SCHEDULE_ACTOR = 'drift-schedule';

/** Drift checks and decisions; see the module comment. */
export class DriftDesk {
  constructor(private readonly deps: DriftDeskDeps) {}

  private get inventory() {
    return this.deps.engine.inventory;
  }

  /** Checks `packageId` against reality; `by` is the person asking (absent: the schedule). */
  async check(packageId: string, by?: Caller): Promise<DriftCheckOutcome> {
    const pkg = await this.inventory.get('package', packageId);
    if (!pkg.lastAppliedParams || pkg.status === 'decommissioned') throw new DriftDecisionError(`package ${pkg.id} has nothing applied, so there is no reality to compare`);
    const observation = await this.deps.observer.observe(packageId);
    const ctx: AuditContext = { actor: by?.actor.id ?? SCHEDULE_ACTOR, surface: 'reality' };
    if (observation.error) return this.storeFailure(packageId, observation, ctx);
    const fresh = await this.inventory.get('package', packageId);
    const findings = await this.merge(fresh, observation);
    const fingerprint = driftFingerprint(findings);
    const changed = fingerprint !== (fresh.drift?.fingerprint ?? '') || !!fresh.drift?.error;
    const adopted = findings.filter((f) => f.proposal === 'adopt' && f.class === 'drifted');
    // One instant for the whole write: the notice's episode is read from a dry run of it.
    const at = this.now();
    const stored = await this.store(fresh, ctx, changed || adopted.length > 0, (p) => {
      p.observedParams = { ...(p.lastAppliedParams ?? {}), ...observation.params };
      p.observed = { at, deployment: observation.deployment.id, attributes: observation.attributes };
      p.drift = { checkedAt: at, fingerprint, findings, decisions: p.drift?.decisions ?? [], ...episodeAfter(p.drift, fingerprint, at) };
      for (const f of adopted) this.adoptInto(p, f, 'policy');
    }, 'package.drift.check', driftCheckSummary(openFindings(findings).length));
    const reverts: Request[] = [];
    if (changed && findings.some((f) => f.proposal === 'revert')) reverts.push(await this.fileRevert(stored, { actor: { id: SCHEDULE_ACTOR, displayName: 'drift policy' }, surface: 'engine' }, 'policy'));
    this.deps.logger.info({ package: packageId, open: openFindings(findings).length, changed }, 'drift checked');
    return { package: stored, findings: stored.drift?.findings ?? findings, changed, reverts };
  }

  /** The check could not run: the package keeps its observation, the ticket is told which step failed. */
  private async storeFailure(packageId: string, observation: Observation, ctx: AuditContext): Promise<DriftCheckOutcome> {
    const error = { ...(observation.error!.step ? { step: observation.error!.step } : {}), message: observation.error!.message, at: this.now() };
    const pkg = await this.inventory.get('package', packageId);
    const stored = await this.store(pkg, ctx, true, (p) => {
      const episode = p.drift?.episode ? { episode: p.drift.episode } : {};
      p.drift = { checkedAt: this.now(), fingerprint: p.drift?.fingerprint ?? '', findings: p.drift?.findings ?? [], decisions: p.drift?.decisions ?? [], ...episode, error };
    }, 'package.drift.check', `drift check could not run: ${error.message}`);
    return { package: stored, findings: stored.drift?.findings ?? [], changed: true, reverts: [], error };
  }

  /** The three-way merge of `pkg` with what was observed, owners and policy resolved. */
  private async merge(pkg: Package, observation: Observation): Promise<DriftFinding[]> {
    const env = await this.inventory.get('environment', pkg.environment);
    const rules = driftRulesFor(this.deps.policy, { name: env.name, labels: env.labels });
    const fields = await this.fields(pkg);
    const now = this.deps.clock.now();
    const ignored: Record<string, string> = {};
    for (const d of pkg.drift?.decisions ?? []) if (d.decision === 'ignore' && d.until) ignored[d.field] = d.until;
    const findings = mergeDrift({
      fields,
      base: pkg.lastAppliedParams ?? {},
      desired: pkg.desiredParams ?? {},
      observed: observation.params,
      attributes: observation.attributes,
      choose: (field, owner) => driftChoice(rules, field, owner),
      previous: pkg.drift?.findings ?? [],
      ignored,
      now,
    });
    return maskSensitive(findings, this.sensitiveParams(pkg));
  }

  /** Top-level params of `pkg`'s bundle that hold a `$md.sensitive` value (or contain one). */
  private sensitiveParams(pkg: Package): Set<string> {
    const bundle = this.deps.engine.registry.get(pkg.bundle, pkg.version);
    return new Set(sensitivePointers(bundle.params).map((p) => p.split('/')[1]!).filter(Boolean));
  }

  /** The bundle's params as merge fields: labels from the form, owners from the overlay and policy. */
  private async fields(pkg: Package): Promise<{ name: string; label: string; owner: 'ops' | 'dev' }[]> {
    const form = await this.deps.forms.form(pkg.bundle, pkg.version);
    const labels = new Map(form.fields.filter((f) => f.target === 'params').map((f) => [f.key.slice(1), f.label]));
    const fixed = new Set(form.fixed.map((f) => f.pointer.slice(1)));
    const bundle = this.deps.engine.registry.get(pkg.bundle, pkg.version);
    const names = Object.keys((bundle.params.properties as Record<string, unknown> | undefined) ?? {});
    return names.map((name) => ({ name, label: labels.get(name) ?? name, owner: fieldOwner(this.deps.policy, name, fixed.has(name)) }));
  }

  /** Adopts `f` into the draft: desired and the baseline := observed; the finding is in sync. */
  private adoptInto(p: Package, f: DriftFinding, by: string): void {
    p.desiredParams = { ...p.desiredParams, [f.field]: f.observed };
    p.lastAppliedParams = { ...(p.lastAppliedParams ?? {}), [f.field]: f.observed };
    const decision: DriftDecision = { field: f.field, decision: 'adopt', by, at: this.now(), from: f.lastApplied, to: f.observed };
    p.drift = this.withDecision(p.drift!, decision, (x) => (x.field === f.field ? { ...x, class: 'in_sync', proposal: 'none', lastApplied: f.observed, desired: f.observed } : x));
  }

  /** `state` with `decision` recorded, the findings mapped, and its fingerprint recomputed. */
  private withDecision(state: DriftState, decision: DriftDecision, map: (f: DriftFinding) => DriftFinding): DriftState {
    const findings = state.findings.map(map);
    return { ...state, findings, fingerprint: driftFingerprint(findings), decisions: [...state.decisions, decision] };
  }

  /**
   * Writes `mutate` on the package (revision-checked), audited as `action` with `ctx`, with the
   * drift notice to the package's ticket in the same atomic step when `notify`.
   */
  private async store(pkg: Package, ctx: AuditContext, notify: boolean, mutate: (p: Package) => void, action: string, reason: string, event?: string): Promise<Package> {
    const ticket = notify ? await this.ticketRequest(pkg) : undefined;
    const episode = ticket ? await this.episodeTicket(pkg, mutate) : undefined;
    const detail = { package: pkg.id, ...(event ? { text: event } : {}), ...(episode ? { episode } : {}) };
    const notices = ticket ? outboxEntries(ticket, [{ notice: 'drift', tag: `${pkg.id}:${pkg.revision + 1}`, detail }]) : [];
    return this.inventory.update('package', pkg.id, pkg.revision, (p) => void mutate(p), ctx, { action, reason, outbox: notices });
  }

  /**
   * The key of the drift episode's own ticket (`<package>@<episode start>`) when policy files
   * `pkg`'s drift as a new ticket and the write `mutate` makes leaves an episode open; else
   * undefined (the notice goes to the ticket that created or last changed the package).
   */
  private async episodeTicket(pkg: Package, mutate: (p: Package) => void): Promise<string | undefined> {
    const env = await this.inventory.get('environment', pkg.environment);
    if (driftRulesFor(this.deps.policy, { name: env.name, labels: env.labels }).ticket !== 'new') return undefined;
    const after = structuredClone(pkg);
    mutate(after);
    return after.drift?.episode ? `${pkg.id}@${after.drift.episode}` : undefined;
  }

  /** The request whose ticket (or other origin) hears about the package's drift: the one that last changed it, else the latest. */
  async ticketRequest(pkg: Package): Promise<Request | undefined> {
    const all = (await this.inventory.list('request', { package: pkg.id })).filter((r) => r.kind !== 'query');
    const applied = all.filter((r) => r.state === 'applied');
    return applied[applied.length - 1] ?? all[all.length - 1];
  }

  private now(): string {
    return this.deps.clock.now().toISOString();
  }

  /** The package's open finding for `field`, or a decision error naming what can be decided. */
  private finding(pkg: Package, field: string): DriftFinding {
    const f = pkg.drift?.findings.find((x) => x.field === field);
    const open = openFindings(pkg.drift?.findings ?? []).map((x) => x.field);
    if (!f || f.class === 'in_sync') {
      throw new DriftDecisionError(`${field} has not drifted on ${pkg.id}${open.length ? `; drifted: ${open.join(', ')}` : ' (run a drift check first)'}`);
    }
    return f;
  }

  /** Authorizes `caller` for a decision on `f` of `pkg`: its ticket's requester or an approver (ops-owned: an approver). */
  private async authorize(pkg: Package, f: DriftFinding, caller: Caller): Promise<void> {
    const ticket = (await this.ticketRequest(pkg)) ?? (await this.inventory.list('request', { package: pkg.id })).pop();
    const action = f.owner === 'ops' ? 'drift.decide.ops' : 'drift.decide';
    if (ticket) return this.deps.authorizer.requireOnRequest(caller, action, ticket);
    const principal = caller.surface === 'cli' ? this.deps.authorizer.cliPrincipal(caller.actor.id) : undefined;
    if (principal) return this.deps.authorizer.require(principal, 'package.write', { type: 'package', id: pkg.id });
    throw new DriftDecisionError(`no request made ${pkg.id}, so only an admin can decide on its drift (from the CLI)`);
  }

  /**
   * Adopts reality for `field`: desired := observed, nothing applied, audited as a change from
   * the surface `reality` by `caller`. Refused, naming the field, when the value breaks the
   * bundle's schema (revert instead) or when the bundle does not model the field.
   */
  async adopt(packageId: string, field: string, caller: Caller): Promise<Package> {
    const pkg = await this.inventory.get('package', packageId);
    const f = this.finding(pkg, field);
    await this.authorize(pkg, f, caller);
    if (f.sensitive) throw new DriftDecisionError(`${f.label} is a secret: its value is never read back into the data model. Revert it, or change it through a request.`);
    if (f.class === 'reality_only') throw new DriftDecisionError(`${f.label} cannot be adopted: the bundle has no field for it. Revert it, or ignore it for a while.`);
    const bundle = this.deps.engine.registry.get(pkg.bundle, pkg.version);
    const issues = this.deps.engine.registry.validateParams(bundle, { ...pkg.desiredParams, [field]: f.observed });
    if (issues.length) throw new DriftDecisionError(`${f.label} cannot be adopted: ${JSON.stringify(f.observed)} ${issues[0]!.message}. Revert it instead.`);
    const who = caller.actor.displayName ?? caller.actor.id;
    const event = `✔ Adopted by ${who}: ${f.label} ${JSON.stringify(f.lastApplied)} → ${JSON.stringify(f.observed)} (from reality). The next plan is a no-op.`;
    return this.store(pkg, { actor: caller.actor.id, surface: 'reality' }, true, (p) => this.adoptInto(p, f, caller.actor.id), 'package.drift.adopt', `${field} adopted from reality by ${who} (via ${caller.surface})`, event);
  }

  /** Reverts reality for `field` through a normal update request of the desired params (plan, approval, window, apply). */
  async revert(packageId: string, field: string, caller: Caller, origin?: IntakeInput['origin']): Promise<Request> {
    const pkg = await this.inventory.get('package', packageId);
    const f = this.finding(pkg, field);
    await this.authorize(pkg, f, caller);
    return this.fileRevert(pkg, caller, caller.actor.id, origin, [f]);
  }

  /** Files the update request that plans reality back to the desired params, and records the decision. */
  private async fileRevert(pkg: Package, caller: Caller, by: string, origin?: IntakeInput['origin'], only?: DriftFinding[]): Promise<Request> {
    const ticket = await this.ticketRequest(pkg);
    const env = await this.inventory.get('environment', pkg.environment);
    const form = await this.deps.forms.form(pkg.bundle, pkg.version);
    const answers: Answers = { request_environment: env.name, request_package: pkg.name };
    for (const fld of form.fields) if (fld.target === 'params' && fld.key.slice(1) in pkg.desiredParams) answers[fld.name] = pkg.desiredParams[fld.key.slice(1)] as Answers[string];
    const request = await this.deps.submit({
      kind: 'update', actor: caller.actor, project: pkg.project, bundle: pkg.bundle, answers,
      origin: origin ?? ticket?.origin ?? { surface: caller.surface === 'reality' ? 'engine' : caller.surface, ref: `drift-${pkg.id}-${randomUUID().slice(0, 8)}` },
    });
    const fields = (only ?? pkg.drift?.findings.filter((f) => f.proposal === 'revert') ?? []).map((f) => f.field);
    const fresh = await this.inventory.get('package', pkg.id);
    return this.recordDecisions(fresh, fields, { decision: 'revert', by, request: request.id }, caller).then(() => request);
  }

  /** Records decisions on `fields` (their findings stop asking) and tells the ticket. */
  private async recordDecisions(pkg: Package, fields: string[], d: Omit<DriftDecision, 'field' | 'at'>, caller: Caller, until?: string): Promise<Package> {
    if (!pkg.drift || fields.length === 0) return pkg;
    const who = caller.actor.displayName ?? caller.actor.id;
    const event = d.decision === 'revert' ? `↻ Revert filed by ${who} (request ${d.request}): it plans ${fields.join(', ')} back and needs the usual approval.` : `⏸ Ignored by ${who} until ${until}: ${fields.join(', ')}.`;
    return this.store(pkg, { actor: caller.actor.id, surface: caller.surface }, true, (p) => {
      for (const field of fields) {
        p.drift = this.withDecision(p.drift!, { ...d, field, at: this.now(), ...(until ? { until } : {}) }, (x) => (x.field === field ? { ...x, proposal: 'none', ...(until ? { ignoredUntil: until } : {}) } : x));
      }
    }, `package.drift.${d.decision}`, event, event);
  }

  /** Ignores drift of `field` until `until` (an ISO date or instant in the future). */
  async ignore(packageId: string, field: string, until: string, caller: Caller): Promise<Package> {
    const pkg = await this.inventory.get('package', packageId);
    const f = this.finding(pkg, field);
    await this.authorize(pkg, f, caller);
    const at = new Date(/^\d{4}-\d{2}-\d{2}$/.test(until) ? `${until}T00:00:00Z` : until);
    if (Number.isNaN(at.getTime()) || at <= this.deps.clock.now()) throw new DriftDecisionError(`ignore until needs a future date such as 2026-12-11 (got "${until}")`);
    return this.recordDecisions(pkg, [field], { decision: 'ignore', by: caller.actor.id }, caller, at.toISOString());
  }
}

/**
 * The episode a check with `fingerprint` continues or begins: the previous one while drift stays
 * open, a new one (`now`) when drift opens after the package was in sync, none when in sync.
 */
export function episodeAfter(previous: DriftState | undefined, fingerprint: string, now: string): Pick<DriftState, 'episode'> {
  if (!fingerprint) return {};
  return { episode: previous?.fingerprint && previous.episode ? previous.episode : now };
}

/**
 * Findings with the values of sensitive params replaced by {@link REDACTED}: classified on the
 * real values first, then stored, shown in tickets and answered without them (never adopted).
 */
export function maskSensitive(findings: DriftFinding[], sensitive: ReadonlySet<string>): DriftFinding[] {
  return findings.map((f) => {
    if (!sensitive.has(f.field)) return f;
    const masked: DriftFinding = { ...f, sensitive: true };
    for (const k of ['lastApplied', 'desired', 'observed'] as const) if (k in f) masked[k] = REDACTED;
    return masked;
  });
}

/** The audit line of a drift check: how many fields differ, in plain grammar. */
export function driftCheckSummary(open: number): string {
  if (open === 0) return 'drift check: reality matches what was applied';
  return `drift check: ${open} ${open === 1 ? 'field differs' : 'fields differ'} from what was applied`;
}
