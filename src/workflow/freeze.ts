/**
 * The freeze switch: an administrator freezes an environment now, with a reason, until it is
 * lifted (or until a given time). It is a blackout that starts now: while it holds, approved
 * and scheduled requests of the environment wait instead of applying, and each ticket in flight
 * is told why, once. Lifting it resumes them in the order they were approved: an approved
 * request is rescheduled for now (its apply re-checks the change window, so it waits for the
 * next opening when the window is closed), a scheduled one keeps its time.
 *
 * Storage: one hash `<prefix>freezes`, environment id -> freeze JSON. Every freeze and lift is
 * written in the same atomic step as its audit event (`environment.freeze`,
 * `environment.unfreeze`). A held request carries a `freeze` decision: its hold and its release
 * are each one request write with the notices and the job they owe (the outbox pattern), so a
 * crash between the lift and the releases leaves requests that the apply job or the recovery
 * sweep (recovery.ts) releases from the stored facts: the freeze is gone, the decision is not.
 */
import type { Redis } from 'ioredis';
import type { AuditLog } from '../engine/audit.ts';
import { NotFoundError, SystemError, ValidationError } from '../engine/errors.ts';
import type { Actor, Clock, PolicyDecision, Request } from '../engine/model.ts';
import type { RequestService } from '../engine/requests.ts';
import type { Inventory } from '../engine/inventory.ts';
import type { Authorizer, Caller, Principal } from './authorize.ts';
import { withDecision } from './emergency.ts';
import { owing, type Owed } from './owed.ts';

/** The decision rule a held request carries. */
export const FREEZE_RULE = 'freeze';

/** One environment's freeze. */
export interface Freeze {
  /** Environment id (`checkout-production`). */
  environment: string;
  reason: string;
  by: Actor;
  /** ISO instant it started. */
  since: string;
  /** ISO instant it ends by itself; absent: until lifted. */
  until?: string;
}

/** Reads freezes (what the workflow's apply asks). */
export interface FreezeReader {
  /** The freeze holding environment `id` now, if any (one past its `until` holds no more). */
  active(id: string): Promise<Freeze | undefined>;
}

/** The sentence a held ticket reads. */
export function freezeText(f: Freeze, state: Request['state']): string {
  const env = f.environment;
  const until = f.until ? ` until ${f.until.slice(0, 16).replace('T', ' ')} UTC` : ' until it is lifted';
  const waits = state === 'scheduled' ? 'is scheduled and waits' : 'is approved and waits';
  return `❄ ${env} is frozen by ${f.by.displayName ?? f.by.id} since ${f.since.slice(0, 16).replace('T', ' ')} UTC${until}: "${f.reason}". This request ${waits}; it applies when the freeze lifts and a window is open.`;
}

/** Dependencies of {@link FreezeStore}. */
export interface FreezeStoreDeps {
  redis: Redis;
  /** Key prefix shared with the inventory. */
  prefix: string;
  audit: AuditLog;
  clock: Clock;
}

/** The stored freezes; each write is atomic with its audit event. */
export class FreezeStore implements FreezeReader {
  constructor(private readonly deps: FreezeStoreDeps) {}

  private get key(): string {
    return `${this.deps.prefix}freezes`;
  }

  /** Every stored freeze (expired ones included), by environment. */
  async list(): Promise<Freeze[]> {
    const all = await this.deps.redis.hvals(this.key);
    return all.map((raw) => JSON.parse(raw) as Freeze).sort((a, b) => a.environment.localeCompare(b.environment));
  }

  /** {@inheritDoc FreezeReader.active} */
  async active(id: string): Promise<Freeze | undefined> {
    const raw = await this.deps.redis.hget(this.key, id);
    if (!raw) return undefined;
    const f = JSON.parse(raw) as Freeze;
    return f.until && Date.parse(f.until) <= this.deps.clock.now().getTime() ? undefined : f;
  }

  /** Stores `f` (replacing an earlier freeze of its environment), audited. */
  async put(f: Freeze, ctx: { actor: string; surface: Principal['surface'] }): Promise<void> {
    const event = { ...ctx, action: 'environment.freeze', subject: { type: 'environment', id: f.environment }, after: f, reason: f.reason };
    const result = await this.deps.audit.commit(event, { ops: [{ op: 'hset', key: this.key, field: f.environment, value: JSON.stringify(f) }] });
    if (!result.ok) throw new SystemError(`freeze refused: ${result.reason}`);
  }

  /** Removes the freeze of environment `id`, audited; the freeze removed (undefined when there was none). */
  async remove(id: string, ctx: { actor: string; surface: Principal['surface'] }): Promise<Freeze | undefined> {
    const raw = await this.deps.redis.hget(this.key, id);
    if (!raw) return undefined;
    const before = JSON.parse(raw) as Freeze;
    const event = { ...ctx, action: 'environment.unfreeze', subject: { type: 'environment', id }, before };
    const result = await this.deps.audit.commit(event, { guard: { key: this.key, field: id, expect: 'present' }, ops: [{ op: 'hdel', key: this.key, field: id }] });
    return result.ok ? before : undefined;
  }
}

/** What {@link freezeGate} needs. */
export interface FreezeGateDeps {
  requests: RequestService;
  freezes?: FreezeReader;
  clock: Clock;
}

/**
 * The freeze check of approved or scheduled request `r` before it applies: undefined when it
 * may go on; else the request as it is after this check: held (told once, with a job at the
 * freeze's end when it has one), or released from a freeze lifted meanwhile (its apply job
 * owed again). Each outcome is one atomic write, or none.
 */
export async function freezeGate(deps: FreezeGateDeps, r: Request): Promise<Request | undefined> {
  const freeze = await deps.freezes?.active(r.environment);
  if (freeze) return hold(deps, r, freeze);
  if (r.decisions.some((d) => d.rule === FREEZE_RULE)) return release(deps, r);
  return undefined;
}

/** Holds `r` under `freeze`; said once per freeze (a retried job or an extension says nothing new unless it changed). */
export async function hold(deps: FreezeGateDeps, r: Request, freeze: Freeze): Promise<Request> {
  const decision: PolicyDecision = { rule: FREEZE_RULE, outcome: 'warn', reason: freezeText(freeze, r.state) };
  if (r.decisions.some((d) => d.rule === decision.rule && d.reason === decision.reason)) return r;
  const owed: Owed[] = [{ notice: 'status', detail: { text: decision.reason } }];
  if (freeze.until) owed.push({ job: 'apply', delayMs: Math.max(0, Date.parse(freeze.until) - deps.clock.now().getTime()) });
  return deps.requests.patch(r.id, r.revision, { decisions: withDecision(r.decisions, decision) }, { actor: 'engine', surface: 'engine' }, decision.reason, owing(owed));
}

/**
 * Releases `r` from a freeze no longer holding: the freeze decision removed, and in the same
 * write its apply job (an approved request is scheduled for now, so its apply checks the
 * change window; a scheduled one keeps its time) and a status notice.
 */
export async function release(deps: FreezeGateDeps, r: Request): Promise<Request> {
  const now = deps.clock.now();
  const at = r.state === 'scheduled' && r.scheduledFor && Date.parse(r.scheduledFor) > now.getTime() ? new Date(r.scheduledFor) : now;
  const decisions = r.decisions.filter((d) => d.rule !== FREEZE_RULE);
  const text = 'The freeze was lifted: this request goes ahead (inside its change window).';
  const owed: Owed[] = [{ job: 'apply', delayMs: Math.max(0, at.getTime() - now.getTime()) }, { notice: 'status', detail: { text } }];
  return deps.requests.transition(r.id, r.revision, 'scheduled', { by: 'engine', surface: 'engine', reason: text, patch: { decisions, scheduledFor: at.toISOString() }, owes: owing(owed) });
}

/** Dependencies of {@link FreezeDesk}. */
export interface FreezeDeskDeps extends FreezeGateDeps {
  store: FreezeStore;
  inventory: Inventory;
  authorizer: Authorizer;
}

/** When the request entered `approved` (the order held requests are released in). */
function approvedAt(r: Request): string {
  return [...r.history].reverse().find((h) => h.to === 'approved')?.at ?? r.updatedAt;
}

/** Freezing and lifting, as administrators do it from the CLI, the API or a ticket. */
export class FreezeDesk {
  constructor(private readonly deps: FreezeDeskDeps) {}

  /** The approved and scheduled requests of environment `id`, in the order they were approved. */
  private async inFlight(id: string): Promise<Request[]> {
    const all = [...(await this.deps.requests.list({ state: 'approved' })), ...(await this.deps.requests.list({ state: 'scheduled' }))];
    return all.filter((r) => r.environment === id).sort((a, b) => approvedAt(a).localeCompare(approvedAt(b)));
  }

  /**
   * Freezes environment `id` now (admins only), with `reason`, until `until` or until lifted;
   * audited. The tickets in flight there are told at once why they wait.
   */
  async freeze(id: string, input: { reason: string; until?: Date }, p: Principal): Promise<Freeze> {
    await this.deps.authorizer.require(p, 'environment.freeze', { type: 'environment', id });
    if (!(await this.deps.inventory.find('environment', id))) throw new NotFoundError('environment', id);
    const reason = input.reason.trim();
    const now = this.deps.clock.now();
    const issues = [
      ...(reason ? [] : [{ pointer: '/reason', field: 'reason', message: 'is required (people read it in their tickets)' }]),
      ...(input.until && input.until.getTime() <= now.getTime() ? [{ pointer: '/until', field: 'until', message: 'must be in the future' }] : []),
    ];
    if (issues.length) throw new ValidationError('the freeze was not set', issues);
    const actor = this.deps.authorizer.actorOf(p);
    const freeze: Freeze = { environment: id, reason, by: actor, since: now.toISOString(), ...(input.until ? { until: input.until.toISOString() } : {}) };
    await this.deps.store.put(freeze, { actor: actor.id, surface: p.surface });
    for (const r of await this.inFlight(id)) await hold(this.deps, r, freeze);
    return freeze;
  }

  /** Lifts the freeze of environment `id` (admins only), audited, and releases its held requests in order. */
  async unfreeze(id: string, p: Principal): Promise<{ lifted?: Freeze; released: Request[] }> {
    await this.deps.authorizer.require(p, 'environment.freeze', { type: 'environment', id });
    const lifted = await this.deps.store.remove(id, { actor: this.deps.authorizer.actorOf(p).id, surface: p.surface });
    const released: Request[] = [];
    for (const r of await this.inFlight(id)) {
      if (r.decisions.some((d) => d.rule === FREEZE_RULE)) released.push(await release(this.deps, r));
    }
    return { ...(lifted ? { lifted } : {}), released };
  }

  /**
   * Who a ticket's commenter is, for {@link freeze} and {@link unfreeze} from a ticket: their
   * directory person (refused, audited, when the directory lists nobody for them).
   */
  principalOf(caller: Caller & { surface: 'jira' | 'servicenow' }): Promise<Principal> {
    return this.deps.authorizer.ticketPrincipal(caller, 'environment.freeze');
  }

  /** The freezes holding now. */
  async frozen(): Promise<Freeze[]> {
    const out: Freeze[] = [];
    for (const f of await this.deps.store.list()) if (await this.deps.store.active(f.environment)) out.push(f);
    return out;
  }

  /** True when `r` waits on a freeze that still holds (the recovery sweep leaves it alone: the freeze owns it). */
  async holds(r: Request): Promise<boolean> {
    return r.decisions.some((d) => d.rule === FREEZE_RULE) && (await this.deps.store.active(r.environment)) !== undefined;
  }
}
