import type { Engine } from './engine.ts';
import type { DeploymentOutcome, DeploymentRunner } from '../engine/deployments.ts';
import type { AuditContext } from '../engine/audit.ts';
import { ConflictError, IllegalTransitionError, NotFoundError, UserError, ValidationError, type FieldIssue } from '../engine/errors.ts';
import type { Actor, Clock, Environment, Origin, Package, PolicyDecision, Request, RequestKind, RequestState, SurfaceName } from '../engine/model.ts';
import type { FormCatalog } from '../forms/catalog.ts';
import { mapAnswers, checkImmutable, type Answers, type Form } from '../forms/index.ts';
import {
  ApprovalDesk,
  approvalStatus,
  approvalSubjectOf,
  ChangeWindowService,
  evaluatePolicy,
  overallOutcome,
  type Directory,
  type EnvironmentRef,
  type Policy,
} from '../policy/index.ts';
import type { Logger } from '../engine/logger.ts';
import type { Authorizer } from './authorize.ts';

/** The messages a request's progress produces for its surface. */
export type WorkflowMessage =
  | 'status'
  | 'invalid'
  | 'approval-needed'
  | 'approval-counted'
  | 'approval-refused'
  | 'scheduled'
  | 'moved'
  | 'applied'
  | 'failed'
  | 'refused'
  | 'answer';

/**
 * One thing to write back to where the request came from. The outbox renders it from the
 * request as stored when it runs; `key` makes it idempotent (the same notice is never posted
 * twice).
 */
export interface WorkflowNotice {
  requestId: string;
  message: WorkflowMessage;
  /** Unique per distinct notice: `<request>:<message>:<record revision>`. */
  key: string;
  /** Free text for event messages (who approved, why refused, where it moved). */
  detail?: { actor?: Actor; reason?: string; text?: string };
}

/** A unit of engine work the queue runs (and re-runs after a crash). */
export interface WorkflowJob {
  name: 'evaluate' | 'apply';
  requestId: string;
  /** Idempotency key: the queue drops a second job with the same key. */
  key: string;
  /** Run no earlier than this many milliseconds from now (a change window opening). */
  delayMs?: number;
}

/** Ports the workflow drives: durable queue and outbox (BullMQ in production and in tests). */
export interface WorkflowPorts {
  enqueue(job: WorkflowJob): Promise<void>;
  notify(notice: WorkflowNotice): Promise<void>;
}

/** What a surface hands over when a person files or edits a request. */
export interface IntakeInput {
  kind: RequestKind;
  actor: Actor;
  origin: Origin;
  project: string;
  bundle: string;
  /** Answers keyed by form field name, decoded from the surface's shapes. */
  answers: Answers;
  /** Environment when the surface knows it outside the answers (else the `environment` answer). */
  environment?: string;
  version?: string;
  /** Package name inside the environment (else the `package` answer, else the bundle name). */
  packageName?: string;
  emergency?: boolean;
}

/** Dependencies of {@link RequestWorkflow}. */
export interface RequestWorkflowDeps {
  engine: Engine;
  runner: DeploymentRunner;
  forms: FormCatalog;
  policy: Policy;
  windows: ChangeWindowService;
  /** Who is who, per surface; approvals from a surface without one are refused. */
  directories: Partial<Record<SurfaceName, Directory>>;
  ports: WorkflowPorts;
  clock: Clock;
  logger: Logger;
  /** Who may cancel, reject and re-plan; who each actor is as a person. */
  authorizer: Authorizer;
}

const ENGINE: AuditContext = { actor: 'engine', surface: 'engine' };

/** The bundle version and environment an evaluated request names, both found. */
interface EvaluationTarget {
  bundleVersion: string;
  env: Environment;
}

/** A request whose answers map to valid params for the package they name. */
interface AnsweredRequest extends EvaluationTarget {
  form: Form;
  answers: Answers;
  /** Package name inside the environment, and the package id. */
  pkgName: string;
  pkgId: string;
  /** The package when it exists already (an update). */
  existing?: Package;
  params: Record<string, unknown>;
}

/** Result of an approval attempt, for the caller's reply. */
export interface ApprovalOutcome {
  counted: boolean;
  message: string;
  satisfied: boolean;
  request: Request;
}

/**
 * The request workflow shared by every surface: evaluate (map answers, validate, plan, policy),
 * await approval, schedule into a change window, apply, and report through the outbox. Every
 * step reads the request fresh and does nothing when the request is no longer in the state the
 * step expects, so a job that runs twice (a retry, a crashed worker) changes nothing twice.
 */
export class RequestWorkflow {
  constructor(private readonly deps: RequestWorkflowDeps) {}

  private get requests() {
    return this.deps.engine.requests;
  }

  private get inventory() {
    return this.deps.engine.inventory;
  }

  /** Opens a request from a surface and queues its evaluation. */
  async submit(input: IntakeInput): Promise<Request> {
    input = { ...input, actor: await this.deps.authorizer.identify(input.actor, input.origin.surface) };
    const environment = String(input.answers.request_environment ?? input.environment ?? 'unspecified');
    const version = input.answers.request_version ?? input.version;
    const request = await this.requests.createRequest({
      kind: input.kind,
      actor: input.actor,
      origin: input.origin,
      project: input.project,
      environment: this.envName(environment),
      bundle: input.bundle,
      ...(version ? { version: String(version) } : {}),
      submitted: { ...input.answers, ...(input.packageName ? { request_package: input.packageName } : {}), ...(input.emergency ? { emergency: true } : {}) },
    });
    await this.deps.ports.enqueue({ name: 'evaluate', requestId: request.id, key: `${request.id}:evaluate:1` });
    return request;
  }

  /**
   * A person edited the request on its surface: the current plan and approvals are superseded
   * by a new content revision (or, for an invalid or failed request, it is edited in place).
   */
  async revise(requestId: string, input: IntakeInput): Promise<Request> {
    input = { ...input, actor: await this.deps.authorizer.identify(input.actor, input.origin.surface) };
    const current = await this.requests.get(requestId);
    const environment = String(input.answers.request_environment ?? input.environment ?? current.environment.slice(current.project.length + 1));
    const version = input.answers.request_version ?? input.version;
    const next = await this.requests.revise(current.id, current.revision, {
      kind: input.kind,
      actor: input.actor,
      origin: input.origin,
      project: input.project,
      environment: this.envName(environment),
      bundle: input.bundle,
      ...(version ? { version: String(version) } : {}),
      submitted: { ...input.answers, ...(input.packageName ? { request_package: input.packageName } : {}) },
    });
    if (next.id !== current.id) await this.notify(current.id, 'status');
    await this.deps.ports.enqueue({ name: 'evaluate', requestId: next.id, key: `${next.id}:evaluate:${next.revision}` });
    return next;
  }

  private envName(env: string): string {
    const e = env.trim().toLowerCase();
    return /^[a-z0-9]+(?:-[a-z0-9]+)*$/.test(e) ? e : 'unspecified';
  }

  private async notify(requestId: string, message: WorkflowMessage, detail?: WorkflowNotice['detail']): Promise<void> {
    const r = await this.requests.get(requestId);
    await this.deps.ports.notify({ requestId, message, key: `${requestId}:${message}:${r.revision}`, ...(detail ? { detail } : {}) });
  }

  private async move(r: Request, to: RequestState, reason: string, patch?: Parameters<Engine['requests']['transition']>[3]['patch']): Promise<Request> {
    return this.requests.transition(r.id, r.revision, to, { by: 'engine', surface: 'engine', reason, ...(patch ? { patch } : {}) });
  }

  private async environmentOf(r: Request): Promise<Environment | undefined> {
    return this.inventory.find('environment', r.environment);
  }

  private envRef(env: Environment): EnvironmentRef {
    return { name: env.name, labels: env.labels };
  }

  /**
   * Maps the answers to typed params, validates them, plans the package, evaluates policy and
   * either asks for approval, refuses, or moves on to scheduling.
   */
  async evaluate(requestId: string): Promise<Request> {
    let r = await this.requests.get(requestId);
    if (r.state !== 'received') return r;
    const target = await this.evaluationTarget(r);
    if ('issues' in target) return this.markInvalid(r, target.issues);
    const answered = await this.answeredParams(r, target);
    if ('issues' in answered) return this.markInvalid(r, answered.issues);
    const { bundleVersion, pkgId, params } = answered;
    r = await this.move(r, 'validated', 'answers are valid', { params, version: bundleVersion, package: pkgId });

    if (!answered.existing) {
      const failed = await this.createPendingPackage(r, answered);
      if (failed) return failed;
    }

    const outcome = await this.deps.runner.plan(pkgId, { request: r.id, params, version: bundleVersion });
    if (outcome.error) return this.markPlanFailed(r, outcome);
    const decisions: PolicyDecision[] = [...(await this.policyDecisions(r, answered, outcome)), ...outcome.decisions];
    r = await this.move(r, 'planned', 'planned', {
      plan: {
        deploymentId: outcome.deployment.id,
        hash: outcome.deployment.planHash!,
        summary: outcome.deployment.plan!,
        ...(outcome.cost ? { costMonthlyBefore: outcome.cost.before, costMonthlyAfter: outcome.cost.after } : {}),
      },
      decisions,
      approvals: [],
    });
    return this.followDecisions(r, decisions);
  }

  /** The bundle version and environment a request names; issues when either does not exist. */
  private async evaluationTarget(r: Request): Promise<EvaluationTarget | { issues: FieldIssue[] }> {
    const issues: FieldIssue[] = [];
    let bundleVersion: string | undefined;
    try {
      bundleVersion = this.deps.engine.registry.get(r.bundle, r.version).version;
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
      issues.push({ pointer: '/version', field: 'Version', message: r.version ? `${r.bundle} has no version ${r.version}` : `unknown bundle ${r.bundle}` });
    }
    const env = await this.environmentOf(r);
    if (!env) issues.push({ pointer: '/environment', field: 'Environment', message: r.environment.endsWith('-unspecified') ? 'required' : `unknown environment "${r.environment}"` });
    if (issues.length) return { issues };
    return { bundleVersion: bundleVersion!, env: env! };
  }

  /**
   * The request's answers through the bundle's form: the package they name, and typed params
   * (on an update, over the package's current params, with immutable params unchanged).
   */
  private async answeredParams(r: Request, target: EvaluationTarget): Promise<AnsweredRequest | { issues: FieldIssue[] }> {
    const { env, bundleVersion } = target;
    const form = await this.deps.forms.form(r.bundle, bundleVersion);
    const answers = { ...(r.submitted ?? {}) } as Answers;
    const pkgName = String(answers.request_package ?? r.package?.slice(env.id.length + 1) ?? r.bundle).trim();
    if (!/^[a-z0-9]+(?:-[a-z0-9]+)*$/.test(pkgName)) {
      return { issues: [{ pointer: '/package', field: form.fields.find((f) => f.name === 'request_package')?.label ?? 'Package name', message: 'must be lowercase letters, digits and hyphens' }] };
    }
    const pkgId = `${env.id}-${pkgName}`;
    const existing = await this.inventory.find('package', pkgId);
    const mapped = mapAnswers(form, answers, existing ? { base: existing.lastAppliedParams ?? existing.desiredParams } : {});
    if (!mapped.ok) return { issues: mapped.issues };
    if (existing?.lastAppliedParams) {
      const immutable = checkImmutable(form, existing.lastAppliedParams, mapped.params);
      if (immutable.length) return { issues: immutable };
    }
    return { ...target, form, answers, pkgName, pkgId, existing, params: mapped.params };
  }

  /** A new package is created pending (nothing applied yet); returns the failed request when its params are refused. */
  private async createPendingPackage(r: Request, a: AnsweredRequest): Promise<Request | undefined> {
    try {
      await this.deps.engine.createPackage(
        { project: r.project, environment: a.env.id, name: a.pkgName, bundle: r.bundle, version: a.bundleVersion, params: a.params, pending: true },
        { actor: r.actor.id, surface: r.origin.surface, request: r.id },
      );
    } catch (err) {
      if (err instanceof ValidationError) return this.markFailedValidation(r, err.issues);
      if (!(err instanceof ConflictError)) throw err;
    }
    return undefined;
  }

  private async markPlanFailed(r: Request, outcome: DeploymentOutcome): Promise<Request> {
    const next = await this.move(r, 'failed', 'the plan failed', {
      deployment: outcome.deployment.id,
      error: { ...(outcome.deployment.error ?? { message: outcome.error!.message }) },
    });
    await this.notify(next.id, 'failed');
    await this.notify(next.id, 'status');
    return next;
  }

  /** What policy decides about the planned request: its kind, actor, environment, bundle, params, plan and cost. */
  private async policyDecisions(r: Request, a: AnsweredRequest, outcome: DeploymentOutcome): Promise<PolicyDecision[]> {
    const attestations = (await this.deps.engine.attestations.list(r.bundle, a.bundleVersion)).map(({ version: _v, ...att }) => att);
    const bundle = this.deps.engine.registry.get(r.bundle, a.bundleVersion);
    const paramLabels: Record<string, string> = {};
    for (const f of a.form.fields) if (f.target === 'params') paramLabels[f.key.replace(/^\//, '').replace(/\//g, '.')] = f.label;
    return evaluatePolicy(
      this.deps.policy,
      {
        kind: r.kind,
        actor: r.actor,
        environment: this.envRef(a.env),
        bundle: bundle.name,
        version: bundle.version,
        params: a.params,
        paramLabels,
        attestations,
        plan: outcome.deployment.plan ?? { destructive: false },
        ...(outcome.cost ? { costDelta: outcome.cost.delta } : {}),
        ...(a.answers.emergency === true ? { emergency: true } : {}),
      },
      { directory: this.directoryFor(r.origin.surface), clock: this.deps.clock },
    );
  }

  /** A planned request is refused, waits for approval, or — when policy needs none — moves on to scheduling. */
  private async followDecisions(r: Request, decisions: PolicyDecision[]): Promise<Request> {
    const overall = overallOutcome(decisions);
    if (overall === 'deny') {
      const reasons = decisions.filter((d) => d.outcome === 'deny').map((d) => d.reason);
      r = await this.move(r, 'rejected', reasons.join('; '));
      // Named, so the ticket reads "refused by policy" rather than "refused by someone".
      await this.notify(r.id, 'refused', { actor: { id: 'policy', displayName: 'policy' }, reason: reasons.join('; ') });
      await this.notify(r.id, 'status');
      return r;
    }
    if (overall === 'needs_approval') {
      r = await this.move(r, 'awaiting_approval', 'needs approval');
      await this.notify(r.id, 'approval-needed');
      await this.notify(r.id, 'status');
      return r;
    }
    r = await this.move(r, 'approved', 'policy needs no approval');
    return this.schedule(r.id);
  }

  private async markInvalid(r: Request, issues: FieldIssue[]): Promise<Request> {
    const next = await this.move(r, 'invalid', `${issues.length} answer(s) need a change`, { issues });
    await this.notify(next.id, 'invalid');
    await this.notify(next.id, 'status');
    return next;
  }

  private async markFailedValidation(r: Request, issues: FieldIssue[]): Promise<Request> {
    const next = await this.move(r, 'failed', 'the package could not be created', {
      issues,
      error: { message: issues.map((i) => `${i.field ?? i.pointer}: ${i.message}`).join('; ') },
    });
    await this.notify(next.id, 'failed');
    await this.notify(next.id, 'status');
    return next;
  }

  private directoryFor(surface: SurfaceName): Directory {
    const d = this.deps.directories[surface] ?? this.deps.directories.engine;
    if (d) return d;
    return { getUser: async () => null };
  }

  /**
   * One approval call for every surface. The approval binds to `planHash` (default: the plan
   * the request holds now); it is refused when the request is not awaiting approval, when the
   * plan changed, or when policy refuses the person. Audited either way.
   */
  async approve(input: { requestId: string; approver: Actor; surface: SurfaceName; planHash?: string }): Promise<ApprovalOutcome> {
    input = { ...input, approver: await this.deps.authorizer.identify(input.approver, input.surface) };
    const r = await this.requests.get(input.requestId);
    if (r.state !== 'awaiting_approval') {
      const why =
        r.state === 'superseded'
          ? 'the plan changed (a newer revision replaces this one). Approve the new plan.'
          : `the request is ${r.state.replace(/_/g, ' ')}, not awaiting approval.`;
      await this.inventory.audit.append({
        actor: input.approver.id,
        surface: input.surface,
        action: 'request.approval_refused',
        subject: { type: 'request', id: r.id },
        request: r.id,
        after: { counted: false, reason: why },
      });
      await this.deps.ports.notify({
        requestId: r.id,
        message: 'approval-refused',
        key: `${r.id}:approval-refused:${input.approver.id}:${r.revision}`,
        detail: { actor: input.approver, reason: why },
      });
      return { counted: false, message: `Approval by ${input.approver.displayName ?? input.approver.id} not counted: ${why}`, satisfied: false, request: r };
    }
    const env = (await this.environmentOf(r))!;
    const envRef = this.envRef(env);
    const desk = new ApprovalDesk({
      policy: this.deps.policy,
      directory: this.directoryFor(input.surface),
      clock: this.deps.clock,
      store: {
        load: async (id) => {
          const cur = await this.requests.get(id);
          const requester = await this.deps.authorizer.identify(cur.actor, cur.origin.surface);
          return { subject: { ...approvalSubjectOf(cur, envRef), actor: requester.person ? requester : cur.actor }, revision: cur.revision };
        },
        addApproval: async (id, approval, expectedRevision) => {
          await this.requests.patch(id, expectedRevision, { approvals: [...(await this.requests.get(id)).approvals, approval] }, { actor: approval.by.id, surface: input.surface, request: id });
        },
      },
      audit: { append: async (rec) => void (await this.inventory.audit.append(rec)) },
    });
    const { result, status } = await desk.approve({
      requestId: r.id,
      approver: input.approver,
      planHash: input.planHash ?? r.plan?.hash ?? '',
      surface: input.surface,
    });
    let current = await this.requests.get(r.id);
    if (!result.counted) {
      await this.deps.ports.notify({
        requestId: r.id,
        message: 'approval-refused',
        key: `${r.id}:approval-refused:${input.approver.id}:${current.revision}`,
        detail: { actor: input.approver, reason: result.reason },
      });
      return { counted: false, message: result.message, satisfied: false, request: current };
    }
    await this.notify(r.id, 'approval-counted', { actor: input.approver, text: result.message });
    if (status.satisfied && current.state === 'awaiting_approval') {
      current = await this.move(current, 'approved', status.summary);
      current = await this.schedule(current.id);
    } else {
      await this.notify(r.id, 'status');
    }
    return { counted: true, message: result.message, satisfied: status.satisfied, request: current };
  }

  /** Is the request's approval requirement met now (approvals may have expired)? */
  async approvalSatisfied(r: Request): Promise<boolean> {
    const env = (await this.environmentOf(r))!;
    return approvalStatus(this.deps.policy, approvalSubjectOf(r, this.envRef(env)), this.deps.clock.now()).satisfied;
  }

  /** Applies now when the change window is open, else schedules for its exact next opening. */
  async schedule(requestId: string): Promise<Request> {
    let r = await this.requests.get(requestId);
    if (r.state !== 'approved') return r;
    const env = (await this.environmentOf(r))!;
    const decision = await this.deps.windows.scheduleDecision(this.envRef(env), this.deps.clock.now(), r.submitted?.emergency === true);
    if (decision.action === 'apply_now') {
      await this.deps.ports.enqueue({ name: 'apply', requestId: r.id, key: `${r.id}:apply:${r.revision}` });
      return r;
    }
    if (decision.action === 'blocked') {
      r = await this.requests.patch(r.id, r.revision, { decisions: [...r.decisions, { rule: 'change-window', outcome: 'warn', reason: decision.reason }] }, ENGINE, decision.reason);
      await this.notify(r.id, 'status');
      return r;
    }
    r = await this.move(r, 'scheduled', decision.reason, { scheduledFor: decision.at.toISOString() });
    await this.deps.ports.enqueue({
      name: 'apply',
      requestId: r.id,
      key: `${r.id}:apply:${r.revision}`,
      delayMs: Math.max(0, decision.at.getTime() - this.deps.clock.now().getTime()),
    });
    await this.notify(r.id, 'scheduled', { text: decision.reason });
    await this.notify(r.id, 'status');
    return r;
  }

  /**
   * Applies the approved plan. A scheduled request is checked again first: a blackout added
   * meanwhile moves it to the next opening (and the ticket says so). The apply refuses to run
   * a plan other than the approved one.
   */
  async apply(requestId: string): Promise<Request> {
    let r = await this.requests.get(requestId);
    if (r.state === 'scheduled') {
      const env = (await this.environmentOf(r))!;
      const recheck = await this.deps.windows.recheck(this.envRef(env), this.deps.clock.now(), new Date(r.scheduledFor!));
      if (recheck.action === 'moved') {
        const unchanged = recheck.at.getTime() === new Date(r.scheduledFor!).getTime();
        r = await this.move(r, 'scheduled', recheck.reason, { scheduledFor: recheck.at.toISOString() });
        await this.deps.ports.enqueue({
          name: 'apply',
          requestId: r.id,
          key: `${r.id}:apply:${r.revision}`,
          delayMs: Math.max(0, recheck.at.getTime() - this.deps.clock.now().getTime()),
        });
        // A job that ran early (clock skew) keeps its time: nothing moved, nothing to tell.
        if (unchanged) return r;
        // The moved message writes "Moved:" and the new time itself; it wants only the cause
        // ("a blackout (Datacenter move) now covers Tue"), not the whole recheck sentence.
        const cause = recheck.reason.replace(/^Moved: /, '').replace(/; rescheduled to [^;]*$/, '');
        await this.notify(r.id, 'moved', { text: cause });
        await this.notify(r.id, 'status');
        return r;
      }
      if (recheck.action === 'blocked') {
        await this.notify(r.id, 'status');
        return r;
      }
    }
    if (r.state !== 'approved' && r.state !== 'scheduled') return r;
    if (!(await this.approvalSatisfied(r))) {
      // Approvals expired while the request waited for its window: ask again.
      r = await this.move(r, 'planned', 'approvals expired before the window opened', { approvals: [] });
      r = await this.move(r, 'awaiting_approval', 'needs approval again');
      await this.notify(r.id, 'approval-needed');
      await this.notify(r.id, 'status');
      return r;
    }
    r = await this.move(r, 'applying', 'applying the approved plan');
    await this.notify(r.id, 'status');
    const outcome = await this.deps.runner.apply(r.package!, {
      request: r.id,
      ...(r.params ? { params: r.params } : {}),
      ...(r.version ? { version: r.version } : {}),
      ...(r.plan ? { expectedPlanHash: r.plan.hash } : {}),
      onQueued: async () => {
        await this.notify(r.id, 'status', { text: 'Queued: another deployment of this package is running; this one waits its turn.' });
      },
    });
    r = await this.requests.get(r.id);
    if (outcome.error) {
      r = await this.move(r, 'failed', 'the apply failed', {
        deployment: outcome.deployment.id,
        error: { ...(outcome.deployment.error ?? { message: outcome.error.message }) },
      });
      await this.notify(r.id, 'failed');
      await this.notify(r.id, 'status');
      return r;
    }
    r = await this.move(r, 'applied', 'applied', { deployment: outcome.deployment.id });
    await this.notify(r.id, 'applied');
    await this.notify(r.id, 'status');
    return r;
  }

  /**
   * Requests left `applying` by a worker that died: once their deployment is no longer running
   * (the lock expired and `recoverStale` marked it failed), they are failed with that reason,
   * so nothing stays "applying" forever. Returns the requests it failed.
   */
  async reconcileApplying(): Promise<Request[]> {
    const failed: Request[] = [];
    for (const r of await this.requests.list({ state: 'applying' })) {
      const deployments = await this.inventory.list('deployment', { request: r.id }, { order: 'desc' });
      const last = deployments.find((d) => d.action === 'apply');
      if (!last || last.status === 'running' || last.status === 'queued') continue;
      if (last.status === 'succeeded') continue; // the apply finished; its job will record it
      const next = await this.move(r, 'failed', 'the worker applying this request stopped', {
        deployment: last.id,
        error: { ...(last.error ?? { message: 'the worker applying this request stopped' }) },
      });
      await this.notify(next.id, 'failed');
      await this.notify(next.id, 'status');
      failed.push(next);
    }
    return failed;
  }

  /**
   * Cancels (its requester, or an admin) or rejects (one of its approvers, or an admin) a request
   * that has not started applying; anyone else gets a ForbiddenError saying who may.
   */
  async close(requestId: string, to: 'cancelled' | 'rejected', by: Actor, surface: SurfaceName, reason?: string): Promise<Request> {
    const r = await this.requests.get(requestId);
    await this.deps.authorizer.requireOnRequest({ actor: by, surface }, to === 'cancelled' ? 'request.cancel' : 'request.reject', r);
    if (r.state === to) return r;
    try {
      const next = await this.requests.transition(r.id, r.revision, to, { by: by.id, surface, reason: reason ?? `${to} by ${by.displayName ?? by.id}` });
      await this.notify(next.id, to === 'rejected' ? 'refused' : 'status', { actor: by, reason: reason ?? `${to} by ${by.displayName ?? by.id}` });
      if (to === 'rejected') await this.notify(next.id, 'status');
      return next;
    } catch (err) {
      if (err instanceof IllegalTransitionError) throw new RequestCommandError(`the request is ${r.state.replace(/_/g, ' ')} and can no longer be ${to}`);
      throw err;
    }
  }

  /**
   * `/plan` (and `/apply`, a retry): evaluate again with the same answers (a fresh plan voids
   * earlier approvals). Only its requester, one of its approvers or an admin may.
   */
  async replan(requestId: string, by: Actor, surface: SurfaceName): Promise<Request> {
    const r = await this.requests.get(requestId);
    await this.deps.authorizer.requireOnRequest({ actor: by, surface }, 'request.replan', r);
    if (['applying', 'applied', 'cancelled', 'rejected', 'superseded'].includes(r.state)) {
      throw new RequestCommandError(`the request is ${r.state.replace(/_/g, ' ')}; /plan is not possible`);
    }
    return this.revise(r.id, {
      kind: r.kind,
      actor: by,
      origin: { ...r.origin, surface: r.origin.surface },
      project: r.project,
      bundle: r.bundle,
      answers: (r.submitted ?? {}) as Answers,
      environment: r.environment.slice(r.project.length + 1),
      ...(r.version ? { version: r.version } : {}),
    }).then(async (next) => {
      void surface;
      return next;
    });
  }
}

/** A ticket command that cannot be done in the request's state; answered in the ticket. */
export class RequestCommandError extends UserError {
  constructor(message: string) {
    super('illegal_transition', message);
  }
}
