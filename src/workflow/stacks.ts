/**
 * Stacks and preview environments with leases. A stack is requested from one ticket: an
 * environment is created with the requested name and labels, and the template's packages are
 * filed one at a time, producers first, as normal requests of the request workflow (its policy,
 * approvals, windows and freezes apply); a consumer is filed once its producers applied, its
 * connections bound to their artifacts. The requests carry the stack's marker
 * (`request_stack`), so their notices come here (see {@link StackDesk.advance}) instead of
 * writing their own comments: the ticket shows ONE stack status comment.
 *
 * A failure stops the stack, naming the package that failed and those left; `/resume` (or the
 * same `/stack` command again) plans the failed package again and goes on. Once every package
 * applied, the environment is leased per its policy (policy/lease.ts): reminders before expiry,
 * each posted once by its key; `/extend <duration>` within the maximum; on expiry every package
 * is decommissioned in reverse order (the decommission path of the workflow), then the ticket
 * is closed with what the stack cost while it lived.
 *
 * Who may: the desk checks every caller itself, whatever the surface (a ticket, the catalog
 * item, the API, the CLI): requesting needs the requester role; `/extend` and `/resume` the
 * stack's requester (the same person) or an admin, active in the directory
 * (Authorizer.requireOnStack). A refusal is audited and thrown as a ForbiddenError.
 *
 * Restarts: lease jobs are delayed queue jobs whose ids derive from (environment, lease
 * generation, kind), re-added at start by {@link StackDesk.recover}; an extension makes a new
 * generation, so the old jobs do nothing when they fire. {@link StackDesk.tick} (the sweep)
 * checks every stack against the clock too, so nothing depends on one job firing.
 */
import type { Logger } from '../engine/logger.ts';
import type { Actor, Clock, Labels, Origin, Package, Request } from '../engine/model.ts';
import { leasePolicyFor, parseDuration, type Policy } from '../policy/index.ts';
import { durationText } from '../policy/duration.ts';
import type { Answers } from '../forms/index.ts';
import type { FormCatalog } from '../forms/catalog.ts';
import type { Authorizer, Caller, StackCaller, StackCommand } from './authorize.ts';
import { decommissionIntake } from './decommission.ts';
import type { Engine } from './engine.ts';
import type { Lease, Stack, StackPackage, StackStore, StackWriteContext } from './stack-store.ts';
import { stackParams, StackTemplateError, type StackTemplate } from './stack-template.ts';
import type { IntakeInput } from './workflow.ts';

/** The answer key that marks a request as one package of a stack. */
export const STACK_MARKER = 'request_stack';

/** Writes a stack's ticket; each write is idempotent (edited in place, posted once by key, a move to done). */
export interface StackNotifier {
  /** Writes the stack's one status comment, found again by its marker and edited in place. */
  status(stack: Stack, view: StackView): Promise<void>;
  /** Posts `text` on the stack's ticket once under `key`. */
  once(stack: Stack, key: string, text: string): Promise<void>;
  /** Closes the stack's ticket. */
  close(stack: Stack): Promise<void>;
}

/** A lease job: remind or expire stack `stack` of lease `generation`, `delayMs` from now. */
export interface LeaseJob {
  id: string;
  stack: string;
  generation: number;
  kind: 'remind' | 'expire';
  /** For a reminder: how long before expiry. */
  beforeMs?: number;
  delayMs: number;
}

/** Durable delayed jobs (BullMQ); `schedule` is idempotent by job id. */
export interface LeaseScheduler {
  schedule(jobs: LeaseJob[]): Promise<void>;
}

/** One package line of the stack status. */
export interface StackPackageView {
  name: string;
  id: string;
  bundle: string;
  version: string;
  state: string;
  /** The package's request now (its provision, or its decommission). */
  request?: string;
  plan?: string;
  costMonthly?: number;
  error?: string;
}

/** What the stack status comment shows. */
export interface StackView {
  title: string;
  state: 'creating' | 'waiting' | 'failed' | 'up' | 'destroying' | 'destroyed';
  summary: string;
  packages: StackPackageView[];
  lease?: string;
  event?: string;
  commands: string[];
}

/** Dependencies of {@link StackDesk}. */
export interface StackDeskDeps {
  engine: Engine;
  store: StackStore;
  forms: FormCatalog;
  policy: Policy;
  templates: Map<string, StackTemplate>;
  /** Files a request (the workflow's submit). */
  submit: (input: IntakeInput) => Promise<Request>;
  /** Plans a failed request again (the workflow's replan). */
  replan: (requestId: string, by: Actor, surface: Origin['surface']) => Promise<Request>;
  /** The ticket writer of a stack's surface (read at each use); none: the ticket is not written. */
  notifier: (stack: Stack) => StackNotifier | undefined;
  scheduler?: LeaseScheduler;
  /** Who may request, extend and resume a stack (see {@link Authorizer.requireOnStack}). */
  authorizer: Pick<Authorizer, 'requireOnStack' | 'actorOf'>;
  clock: Clock;
  logger: Logger;
}

/** What a person asks for: a stack of `template` as environment `name`. */
export interface StackRequestInput {
  template: string;
  name: string;
  labels?: Labels;
  answers?: Record<string, unknown>;
  origin: Origin;
  /** Who asks: a ticket's commenter or a CLI user (actor and surface), or an API principal. */
  by: StackCaller;
}

const FINAL_BAD = new Set(['failed', 'invalid', 'rejected', 'cancelled']);
const LEASE: StackWriteContext = { actor: 'lease', surface: 'engine' };

/** Stacks, their lease and their end; see the module comment. */
export class StackDesk {
  constructor(private readonly deps: StackDeskDeps) {}

  private get inventory() {
    return this.deps.engine.inventory;
  }

  private now(): Date {
    return this.deps.clock.now();
  }

  /** The stack requested from ticket `origin`, if any. */
  forTicket(origin: Pick<Origin, 'surface' | 'ref'>): Promise<Stack | undefined> {
    return this.deps.store.forOrigin(origin);
  }

  /** The names of the templates that can be requested. */
  templateNames(): string[] {
    return [...this.deps.templates.keys()].sort();
  }

  /**
   * Checks that `by` may do `action` on stack `id` (`s`, once it exists): the authorizer's rule,
   * the same for every surface, refusals audited. Returns who they act as, on their surface.
   */
  private async callerFor(by: StackCaller, action: 'stack.request' | StackCommand, id: string, s?: Stack): Promise<Caller> {
    const requester = s ? { requester: { actor: s.actor, surface: s.origin.surface } } : {};
    const p = await this.deps.authorizer.requireOnStack(by, action, { id, ...requester });
    return 'actor' in by ? by : { actor: this.deps.authorizer.actorOf(p), surface: p.surface };
  }

  /**
   * Requests stack `input.template` as environment `input.name` (a person with the requester
   * role): a stack of that environment that stopped on a failure is resumed instead (by its
   * requester or an admin), one in progress is left as it is.
   */
  async request(input: StackRequestInput): Promise<Stack> {
    const template = this.deps.templates.get(input.template);
    if (!template) throw new StackTemplateError(`unknown stack "${input.template}"; stacks: ${this.templateNames().join(', ') || 'none'}`);
    if (!/^[a-z0-9]+(?:-[a-z0-9]+)*$/.test(input.name)) throw new StackTemplateError(`environment name "${input.name}" must be lowercase letters, digits and hyphens`);
    const id = `${template.project}-${input.name}`;
    const { actor } = await this.callerFor(input.by, 'stack.request', id);
    const existing = await this.deps.store.find(id);
    if (existing && (existing.origin.surface !== input.origin.surface || existing.origin.ref !== input.origin.ref)) {
      throw new StackTemplateError(`${id} is a stack already, requested from ${existing.origin.surface} ${existing.origin.ref}; choose another name`);
    }
    if (existing) return existing.failed ? this.resume(existing.id, input.by) : existing;
    const env = await this.inventory.find('environment', id);
    if (env) throw new StackTemplateError(`environment ${id} exists already and is no stack's; choose another name`);
    const params = stackParams(template, input.answers ?? {}, input.name);
    const packages = await this.resolvePackages(template, id, params);
    // The template's labels win: a request cannot make its environment another kind (and escape the lease).
    const labels = { ...(input.labels ?? {}), ...template.labels };
    const ctx = { actor: actor.id, surface: input.origin.surface };
    const at = this.now().toISOString();
    const stack: Stack = { id, template: template.name, project: template.project, name: input.name, labels, origin: input.origin, actor, answers: input.answers ?? {}, packages, phase: 'creating', createdAt: at, updatedAt: at };
    // Resumable: the stack is stored first; its environment and packages are created (when missing) by every advance while it is creating, so a crash in between is repaired by the sweep.
    await this.deps.store.put(stack, undefined, 'stack.request', ctx, `stack ${template.name} requested as ${id}`);
    return this.advance(id);
  }

  /** Creates the environment and the packages of stack `s` that do not exist yet. */
  private async ensureEnvironment(s: Stack): Promise<void> {
    const ctx = { actor: s.actor.id, surface: s.origin.surface };
    if (!(await this.inventory.find('environment', s.id))) await this.deps.engine.createEnvironment({ project: s.project, name: s.name, labels: s.labels }, ctx);
    for (const p of s.packages) await this.createPackage(p, s.id, ctx);
  }

  /** Each template package as a package of environment `env`: its version (or the newest with its attestation), params checked by its bundle. */
  private async resolvePackages(t: StackTemplate, env: string, params: Record<string, Record<string, unknown>>): Promise<StackPackage[]> {
    const out: StackPackage[] = [];
    for (const p of t.packages) {
      let version = p.version ?? this.deps.engine.registry.get(p.bundle).version;
      if (p.attestation && !p.version) {
        const attested = (await this.deps.engine.attestations.list(p.bundle)).filter((a) => a.kind === p.attestation).map((a) => a.version);
        const newest = this.deps.engine.registry.versions(p.bundle).find((v) => attested.includes(v));
        if (!newest) throw new StackTemplateError(`package ${p.name}: no version of ${p.bundle} is ${p.attestation}`, [p.name]);
        version = newest;
      }
      const issues = this.deps.engine.registry.validateParams(this.deps.engine.registry.get(p.bundle, version), params[p.name]);
      if (issues.length) throw new StackTemplateError(`package ${p.name}: ${issues.map((i) => `${i.field ?? i.pointer} ${i.message}`).join('; ')}`, [p.name]);
      out.push({ name: p.name, id: `${env}-${p.name}`, bundle: p.bundle, version, params: params[p.name]!, connections: p.connections });
    }
    return out;
  }

  /** Creates package `p` (new, its connections bound to its producers) unless it exists. */
  private async createPackage(p: StackPackage, env: string, ctx: StackWriteContext): Promise<void> {
    if (await this.inventory.find('package', p.id)) return;
    const connections = Object.fromEntries(p.connections.map((c) => [c.connection, { package: `${env}-${c.producer}`, artifact: c.artifact }]));
    await this.inventory.createPackage({ environment: env, name: p.name, bundle: p.bundle, version: p.version, desiredParams: p.params, connections }, ctx);
  }

  /** The newest request of stack `s` for package `p` in the phase's kind (decommission or not). */
  private async childRequest(s: Stack, p: StackPackage, destroy: boolean): Promise<Request | undefined> {
    // Found by the stack marker and the package name it asks for (an invalid request has no package id).
    const all = await this.deps.engine.requests.forOrigin(s.origin.surface, s.origin.ref);
    const mine = all.filter((r) => r.submitted?.[STACK_MARKER] === s.id && r.submitted?.request_package === p.name && (r.kind === 'decommission') === destroy && r.state !== 'superseded');
    return mine.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.contentRevision - b.contentRevision).pop();
  }

  /**
   * Moves stack `id` on from its stored facts (a child request's notice, the sweep, a command):
   * files the next package's request, stops on a failure, or finishes the phase. Idempotent and
   * serialized per stack: the child requests are found again by the stack marker, so a crash
   * between filing one and storing the stack files nothing twice. `quiet` (the sweep): the
   * ticket is written only when something moved.
   */
  async advance(id: string, event?: string, quiet = false): Promise<Stack> {
    return this.deps.store.exclusive(id, async () => {
      const s = await this.deps.store.get(id);
      if (s.phase === 'up' || s.phase === 'destroyed') return quiet ? s : this.tell(s, event);
      const destroy = s.phase === 'destroying';
      if (!destroy) await this.ensureEnvironment(s);
      const order = destroy ? [...s.packages].reverse() : s.packages;
      for (const p of order) {
        const r = await this.childRequest(s, p, destroy);
        if (r?.state === 'applied') continue;
        if (r && FINAL_BAD.has(r.state)) return this.stopFailed(s, p, r, quiet);
        if (r && quiet) return s;
        if (!r) await this.fileChild(s, p, destroy);
        return this.tell(s, event);
      }
      return destroy ? this.finishDestroy(s) : this.finishCreate(s);
    });
  }

  /** Files the request of package `p` of stack `s`: its provision, or its decommission. */
  private async fileChild(s: Stack, p: StackPackage, destroy: boolean): Promise<Request> {
    const marker = { [STACK_MARKER]: s.id };
    if (destroy) {
      const pkg = await this.inventory.get('package', p.id);
      // Filed for the person who asked for the stack (policy checks the requester as for any request); the stack's audit events say the lease did it.
      const intake = decommissionIntake(pkg, s.actor, s.origin);
      return this.deps.submit({ ...intake, answers: marker });
    }
    const form = await this.deps.forms.form(p.bundle, p.version);
    const answers: Answers = { ...marker, request_environment: s.name, request_package: p.name, request_version: p.version };
    for (const f of form.fields) if (f.target === 'params' && f.key.slice(1) in p.params) answers[f.name] = p.params[f.key.slice(1)] as Answers[string];
    return this.deps.submit({ kind: 'provision', actor: s.actor, origin: s.origin, project: s.project, bundle: p.bundle, version: p.version, environment: s.name, packageName: p.name, answers });
  }

  /** Stops stack `s` on package `p`'s request `r` that did not apply. */
  private async stopFailed(s: Stack, p: StackPackage, r: Request, quiet = false): Promise<Stack> {
    const why = [r.error?.message, ...(r.issues ?? []).map((i) => `${i.field ?? i.pointer}: ${i.message}`), ...r.decisions.filter((d) => d.outcome === 'deny').map((d) => d.reason)];
    const message = why.filter(Boolean).join('; ') || r.state.replace(/_/g, ' ');
    if (s.failed?.package === p.name && s.failed.message === message) return quiet ? s : this.tell(s);
    const next = { ...s, failed: { package: p.name, message }, updatedAt: this.now().toISOString() };
    return this.tell(await this.deps.store.put(next, s, 'stack.failed', LEASE, `${p.id} ${r.state}: ${message}`));
  }

  /**
   * `/resume` (the stack's requester or an admin): plans the failed package's request again (the
   * workflow's replan: its policy and approvals as usual) and goes on. Nothing failed: the stack
   * is moved on from its facts.
   */
  async resume(id: string, caller: StackCaller): Promise<Stack> {
    const s = await this.deps.store.get(id);
    const { actor: by, surface } = await this.callerFor(caller, 'stack.resume', id, s);
    if (s.failed) {
      const p = s.packages.find((x) => x.name === s.failed!.package)!;
      const r = await this.childRequest(s, p, s.phase === 'destroying');
      const { failed: _f, ...rest } = s;
      // Resumable: the failure is cleared first; a crash before the replan leaves the failed request, which advance finds and reports again.
      await this.deps.store.put({ ...rest, updatedAt: this.now().toISOString() }, s, 'stack.resume', { actor: by.id, surface }, `resumed from ${p.id}`);
      if (r && r.state !== 'rejected' && r.state !== 'cancelled') await this.deps.replan(r.id, by, surface);
      else if (r) await this.fileChild(s, p, s.phase === 'destroying');
    }
    return this.advance(id, s.failed ? `↻ Resumed by ${by.displayName ?? by.id} from ${s.failed.package}.` : undefined);
  }

  /** Every package applied: the stack is up and its lease granted (one write), then its jobs scheduled. */
  private async finishCreate(s: Stack): Promise<Stack> {
    const env = await this.inventory.get('environment', s.id);
    const policy = leasePolicyFor(this.deps.policy, { name: env.name, labels: env.labels });
    const now = this.now();
    const costMonthly = await this.monthlyCost(s);
    const lease: Lease | undefined = policy
      ? { generation: 1, grantedAt: now.toISOString(), expiresAt: new Date(now.getTime() + policy.defaultMs).toISOString(), maxUntil: new Date(now.getTime() + policy.maxMs).toISOString(), maxText: durationText(policy.maxMs), remindBeforeMs: policy.remindBeforeMs }
      : undefined;
    const next: Stack = { ...s, phase: 'up', costMonthly, upAt: now.toISOString(), updatedAt: now.toISOString(), ...(lease ? { lease } : {}) };
    // Resumable: the lease jobs are derived from the stored lease; a crash before they are added is repaired by recover() at start and by tick().
    await this.deps.store.put(next, s, lease ? 'lease.granted' : 'stack.up', LEASE, lease ? `lease granted until ${lease.expiresAt}` : 'every package applied');
    await this.scheduleLease(next);
    return this.tell(next, lease ? `✔ Every package applied. Lease granted until ${utc(lease.expiresAt)}.` : '✔ Every package applied.');
  }

  /** Every package decommissioned: the stack is destroyed, its cost while it lived said, its ticket closed. */
  private async finishDestroy(s: Stack): Promise<Stack> {
    const now = this.now();
    const livedMs = now.getTime() - Date.parse(s.upAt ?? s.createdAt);
    const costLived = Math.round(((s.costMonthly ?? 0) * livedMs) / (30 * 24 * 3600_000) * 100) / 100;
    const next: Stack = { ...s, phase: 'destroyed', costLived, destroyedAt: now.toISOString(), updatedAt: now.toISOString() };
    // Resumable: the ticket is closed after the write and `closed` recorded after that; a crash between is repaired by tick(), which closes it again (idempotent).
    await this.deps.store.put(next, s, 'lease.expired', LEASE, `every package destroyed; it cost $${costLived.toFixed(2)} while it lived`);
    await this.tell(next, `✔ Everything destroyed. It lived ${durationText(livedMs)} and cost $${costLived.toFixed(2)}.`);
    return this.closeTicket(next);
  }

  /** Closes the ticket of destroyed stack `s` and records that it did. */
  private async closeTicket(s: Stack): Promise<Stack> {
    await this.deps.notifier(s)?.close(s);
    return this.deps.store.put({ ...s, closed: true }, s, 'stack.closed', LEASE, 'ticket closed');
  }

  /** The monthly cost of the stack's packages now. */
  private async monthlyCost(s: Stack): Promise<number> {
    let total = 0;
    for (const p of s.packages) total += (await this.inventory.find('package', p.id))?.costMonthly ?? 0;
    return total;
  }

  /** Writes the stack's status comment (with `event`), when its surface is wired. */
  private async tell(s: Stack, event?: string): Promise<Stack> {
    const notifier = this.deps.notifier(s);
    if (notifier) await notifier.status(s, await this.view(s, event));
    return s;
  }

  /** The lease jobs of `s`'s current generation still ahead of now. */
  leaseJobs(s: Stack): LeaseJob[] {
    const lease = s.lease;
    if (!lease || s.phase !== 'up') return [];
    const now = this.now().getTime();
    const expires = Date.parse(lease.expiresAt);
    const base = `lease.${s.id}.${lease.generation}`;
    const jobs: LeaseJob[] = lease.remindBeforeMs
      .filter((ms) => expires - ms > now)
      .map((ms) => ({ id: `${base}.remind-${durationText(ms)}`, stack: s.id, generation: lease.generation, kind: 'remind', beforeMs: ms, delayMs: expires - ms - now }));
    jobs.push({ id: `${base}.expire`, stack: s.id, generation: lease.generation, kind: 'expire', delayMs: Math.max(0, expires - now) });
    return jobs;
  }

  private async scheduleLease(s: Stack): Promise<void> {
    const jobs = this.leaseJobs(s);
    if (jobs.length) await this.deps.scheduler?.schedule(jobs);
  }

  /**
   * `/extend <duration>` (the stack's requester or an admin): the lease ends `duration` later,
   * within the policy's maximum (beyond it: refused naming the limit). A new lease generation:
   * one write (audited `lease.extended`), then its jobs; the old generation's jobs do nothing
   * when they fire.
   */
  async extend(id: string, duration: string, caller: StackCaller): Promise<Stack> {
    const { actor: by, surface } = await this.callerFor(caller, 'stack.extend', id, await this.deps.store.get(id));
    const ms = parseDuration(duration.trim());
    if (!ms) throw new StackTemplateError(`/extend needs a duration such as 4h, 1d or 1d12h (got "${duration}")`);
    const next = await this.deps.store.exclusive(id, async () => {
      const s = await this.deps.store.get(id);
      if (s.phase !== 'up' || !s.lease) throw new StackTemplateError(`${s.id} is ${s.phase === 'up' ? 'not leased' : s.phase}; there is no lease to extend`);
      const lease = s.lease;
      const until = Date.parse(lease.expiresAt) + ms;
      if (until > Date.parse(lease.maxUntil)) {
        throw new StackTemplateError(`the lease of ${s.id} can last at most ${lease.maxText} (policy lease.max), until ${utc(lease.maxUntil)}; ${duration} more would end ${utc(new Date(until).toISOString())}`);
      }
      const extended: Stack = { ...s, lease: { ...lease, generation: lease.generation + 1, expiresAt: new Date(until).toISOString(), reminded: [] }, updatedAt: this.now().toISOString() };
      return this.deps.store.put(extended, s, 'lease.extended', { actor: by.id, surface }, `lease extended by ${duration} until ${new Date(until).toISOString()}`);
    });
    await this.scheduleLease(next);
    return this.tell(next, `⏱ Lease extended by ${by.displayName ?? by.id} by ${duration}: it now expires ${utc(next.lease!.expiresAt)}.`);
  }

  /**
   * A lease job fired (or the sweep looks): a job of an older generation does nothing; a
   * reminder due is posted once (by its key); an expired lease starts the destroy.
   */
  async leaseDue(id: string, generation?: number): Promise<Stack | undefined> {
    const s = await this.deps.store.find(id);
    if (!s?.lease || s.phase !== 'up') return s;
    if (generation !== undefined && generation !== s.lease.generation) return s;
    const now = this.now().getTime();
    const expires = Date.parse(s.lease.expiresAt);
    if (now >= expires) return this.expire(s);
    const due = s.lease.remindBeforeMs.filter((ms) => now >= expires - ms).sort((a, b) => a - b)[0];
    if (due === undefined) return s;
    const key = `lease-${s.id}-${s.lease.generation}-remind-${durationText(due)}`;
    if (s.lease.reminded?.includes(key)) return s;
    await this.deps.notifier(s)?.once(s, key, `⏰ Reminder: ${s.id} expires ${utc(s.lease.expiresAt)} (in about ${durationText(Math.max(60_000, expires - now))}); then everything in it is destroyed. Extend it with /extend <duration> (at most until ${utc(s.lease.maxUntil)}).`);
    // Resumable: the reminder is posted once by its key, then recorded (so the sweep stops asking the ticket); a crash between posts nothing twice.
    return this.deps.store.exclusive(s.id, async () => {
      const fresh = await this.deps.store.get(s.id);
      if (!fresh.lease || fresh.lease.generation !== s.lease!.generation) return fresh;
      const next = { ...fresh, lease: { ...fresh.lease, reminded: [...(fresh.lease.reminded ?? []), key] } };
      return this.deps.store.put(next, fresh, 'lease.reminded', LEASE, `reminded ${durationText(due)} before expiry`);
    });
  }

  /** The lease ran out: the stack moves to destroying (one write) and its first decommission is filed. */
  private async expire(s: Stack): Promise<Stack> {
    await this.deps.store.exclusive(s.id, async () => {
      const fresh = await this.deps.store.get(s.id);
      if (fresh.phase !== 'up') return;
      await this.deps.store.put({ ...fresh, phase: 'destroying', updatedAt: this.now().toISOString() }, fresh, 'stack.destroying', LEASE, `lease expired at ${fresh.lease?.expiresAt}`);
    });
    return this.advance(s.id, `⌛ The lease expired ${utc(s.lease!.expiresAt)}: destroying everything, consumers first.`);
  }

  /** The sweep: every stack checked against the clock and its stored facts (lost jobs and notices repaired). */
  async tick(): Promise<void> {
    for (const s of await this.deps.store.list()) {
      try {
        if (s.phase === 'up') await this.leaseDue(s.id);
        else if (s.phase === 'destroyed' && !s.closed) await this.closeTicket(s);
        else if (s.phase !== 'destroyed' && !s.failed) await this.advance(s.id, undefined, true);
      } catch (err) {
        this.deps.logger.warn({ err, stack: s.id }, 'stack sweep failed');
      }
    }
  }

  /** At start: the lease jobs of every leased stack again (same ids: nothing twice). */
  async recover(): Promise<void> {
    for (const s of await this.deps.store.list()) await this.scheduleLease(s);
  }

  /** The status view of stack `s`. */
  async view(s: Stack, event?: string): Promise<StackView> {
    const destroy = s.phase === 'destroying' || s.phase === 'destroyed';
    const packages: StackPackageView[] = [];
    for (const p of s.packages) packages.push(await this.packageView(s, p, destroy));
    const state: StackView['state'] = s.failed ? 'failed' : s.phase === 'creating' && packages.some((p) => p.state === 'awaiting approval') ? 'waiting' : s.phase;
    return {
      title: `Stack ${s.template} → ${s.id}`,
      state,
      summary: summaryText(s, packages),
      packages,
      ...(s.lease && s.phase === 'up' ? { lease: `Lease: expires ${utc(s.lease.expiresAt)}; extend with /extend <duration>, at most until ${utc(s.lease.maxUntil)} (${s.lease.maxText} in all).` } : {}),
      ...(event ? { event } : {}),
      commands: s.failed ? ['/resume'] : s.phase === 'up' ? ['/extend <duration>'] : [],
    };
  }

  private async packageView(s: Stack, p: StackPackage, destroy: boolean): Promise<StackPackageView> {
    const r = (await this.childRequest(s, p, destroy)) ?? (destroy ? await this.childRequest(s, p, false) : undefined);
    const pkg: Package | undefined = await this.inventory.find('package', p.id);
    const plan = r?.plan?.summary;
    return {
      name: p.name,
      id: p.id,
      bundle: p.bundle,
      version: p.version,
      state: r ? `${r.kind === 'decommission' ? 'destroy ' : ''}${r.state.replace(/_/g, ' ')}` : 'waiting for its producers',
      ...(r ? { request: r.id } : {}),
      ...(plan ? { plan: `${plan.add} to add · ${plan.change} to change · ${plan.destroy} to destroy` } : {}),
      ...(pkg?.costMonthly !== undefined ? { costMonthly: pkg.costMonthly } : {}),
      ...(s.failed?.package === p.name ? { error: s.failed.message } : {}),
    };
  }
}

/** One line saying where the stack is. */
function summaryText(s: Stack, packages: StackPackageView[]): string {
  if (s.failed) {
    const i = s.packages.findIndex((p) => p.name === s.failed!.package);
    const left = (s.phase === 'destroying' ? s.packages.slice(0, i) : s.packages.slice(i + 1)).map((p) => p.name);
    return `✘ ${s.failed.package} failed: ${s.failed.message}. Left: ${left.join(', ') || 'nothing'}. Fix the cause and comment /resume.`;
  }
  const waiting = packages.find((p) => /awaiting approval$/.test(p.state));
  if (waiting) return `Waiting for the approval of ${waiting.name} (request ${waiting.request}), as the environment's policy says; the stack goes on once it is approved.`;
  const cost = `$${(s.costMonthly ?? packages.reduce((t, p) => t + (p.costMonthly ?? 0), 0)).toFixed(2)}/month`;
  if (s.phase === 'destroyed') return `Destroyed ${utc(s.destroyedAt!)}. It cost $${(s.costLived ?? 0).toFixed(2)} while it lived (${cost} while up).`;
  if (s.phase === 'up') return `Up since ${utc(s.upAt!)}: ${s.packages.length} packages, ${cost}.`;
  const done = packages.filter((p) => /applied$/.test(p.state) && (s.phase === 'destroying') === p.state.startsWith('destroy')).length;
  return s.phase === 'destroying' ? `Destroying, consumers first: ${done} of ${s.packages.length} destroyed.` : `Creating, producers first: ${done} of ${s.packages.length} applied.`;
}

/** `2026-11-24 10:00 UTC`. */
function utc(iso: string): string {
  return `${iso.slice(0, 16).replace('T', ' ')} UTC`;
}
