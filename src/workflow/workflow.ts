import type { Engine } from './engine.ts';
import type { DeploymentOutcome, DeploymentRunner } from '../engine/deployments.ts';
import type { AuditContext, AuditEventInput } from '../engine/audit.ts';
import { ConflictError, IllegalTransitionError, NotFoundError, SystemError, UserError, ValidationError, type FieldIssue } from '../engine/errors.ts';
import type {
  Actor,
  Approval,
  Clock,
  Deployment,
  Environment,
  Origin,
  Package,
  PolicyDecision,
  Request,
  RequestKind,
  RequestPlan,
  RequestState,
  SurfaceName,
} from '../engine/model.ts';
import type { RequestPatch } from '../engine/requests.ts';
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
  type ScheduleDecision,
} from '../policy/index.ts';
import { durationText } from '../policy/duration.ts';
import type { Logger } from '../engine/logger.ts';
import type { Authorizer } from './authorize.ts';
import { NO_FAULTS, type FaultPoint, type Faults } from './faults.ts';
import { missingEmergencyApproval, withDecision } from './emergency.ts';
import { outboxEntries, owing, type NoticeBatch, type Owed, type WorkflowJob, type WorkflowNotice } from './owed.ts';
import { applyAction, isDecommission, planDecommission } from './decommission.ts';
import { freezeGate, type FreezeReader } from './freeze.ts';

export type { NoticeBatch, WorkflowJob, WorkflowMessage, WorkflowNotice } from './owed.ts';
export { noticesOf } from './owed.ts';

/**
 * The durable queues owed work is handed to (BullMQ in production and in tests). The workflow
 * never calls them itself: every step stores what it owes in the outbox with its state
 * change, and the outbox relay (src/queue/outbox-relay.ts) hands it over through this port.
 * Both calls must be idempotent by `key` (the same job id twice is one job).
 */
export interface WorkflowPorts {
  enqueue(job: WorkflowJob): Promise<void>;
  /** Hands over one notice, or the notices one step owes together (one outbox job). */
  notify(notice: WorkflowNotice | NoticeBatch): Promise<void>;
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
  clock: Clock;
  logger: Logger;
  /** Who may cancel, reject and re-plan; who each actor is as a person. */
  authorizer: Authorizer;
  /** Crash injection for tests (see faults.ts); none in production. */
  faults?: Faults;
  /** Environment freezes: approved and scheduled requests wait while one holds (freeze.ts). */
  freezes?: FreezeReader;
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
 *
 * Each state change carries what it owes (notices, jobs; see owed.ts) into the same atomic
 * write, so there is never a state without its notices or its next job. Where a step makes two
 * writes, the comment says why the state between them is resumable: a job retried after a
 * crash continues from the stored state (evaluate accepts `validated` and `planned`, apply
 * accepts `applying`), and the recovery sweep (recovery.ts) resumes any request left without
 * an owner.
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
    }, undefined, owing([{ job: 'evaluate' }]));
    // Atomic: the request and its evaluation job are one write.
    await this.fault('between-state-and-notice', request);
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
    // Atomic: the old revision superseded (with its status notice), the next one created and its evaluation job, in one write.
    const next = await this.requests.revise(
      current.id,
      current.revision,
      {
        kind: input.kind,
        actor: input.actor,
        origin: input.origin,
        project: input.project,
        environment: this.envName(environment),
        bundle: input.bundle,
        ...(version ? { version: String(version) } : {}),
        submitted: { ...input.answers, ...(input.packageName ? { request_package: input.packageName } : {}) },
      },
      (created, superseded) => [...(superseded ? outboxEntries(superseded, [{ notice: 'status' }]) : []), ...outboxEntries(created, [{ job: 'evaluate' }])],
    );
    await this.fault('between-state-and-notice', next);
    return next;
  }

  private envName(env: string): string {
    const e = env.trim().toLowerCase();
    return /^[a-z0-9]+(?:-[a-z0-9]+)*$/.test(e) ? e : 'unspecified';
  }

  /**
   * Work owed by no write (a notice that a deployment waits its turn), keyed by `r`'s revision.
   * Stored in the outbox on its own: it belongs to no state change.
   */
  private async owe(r: Request, owed: Owed[]): Promise<void> {
    await this.inventory.outbox.add(outboxEntries(r, owed));
  }

  /** Moves `r` to `to` (revision-checked) with what the move owes, in one atomic write. */
  private async move(r: Request, to: RequestState, reason: string, patch?: RequestPatch, owed: Owed[] = []): Promise<Request> {
    const next = await this.requests.transition(r.id, r.revision, to, { by: 'engine', surface: 'engine', reason, ...(patch ? { patch } : {}), owes: owing(owed), current: r });
    await this.fault('between-state-and-notice', next);
    return next;
  }

  /** Stores an audit event and the notices it owes in one atomic write (a refused approval: no state change, but a notice). */
  private async auditWithNotices(event: AuditEventInput, r: Request, owed: Owed[]): Promise<void> {
    const entries = outboxEntries(r, owed);
    const result = await this.inventory.audit.commit(event, { ops: this.inventory.outbox.ops(entries) });
    if (!result.ok) throw new SystemError(`audit append refused: ${result.reason}`);
    this.inventory.outbox.written(entries);
  }

  /** The crash-injection hook (tests only). */
  private async fault(point: FaultPoint, r: Request): Promise<void> {
    await (this.deps.faults ?? NO_FAULTS).at(point, { request: r.id });
  }

  private async environmentOf(r: Request): Promise<Environment | undefined> {
    return this.inventory.find('environment', r.environment);
  }

  private envRef(env: Environment): EnvironmentRef {
    return { name: env.name, labels: env.labels };
  }

  /**
   * Maps the answers to typed params, validates them, plans the package, evaluates policy and
   * either asks for approval, refuses, or moves on to scheduling. Continues a request a crash
   * left `validated` (evaluated again from its answers) or `planned` (its stored decisions are
   * followed).
   */
  async evaluate(requestId: string): Promise<Request> {
    // The step reads the request's environment once (its target check, the package's creation and the plan share it).
    return this.inventory.readScope(() => this.evaluateOnce(requestId), ['environment']);
  }

  private async evaluateOnce(requestId: string): Promise<Request> {
    let r = await this.requests.get(requestId);
    // Resumable: the plan and the decisions were stored with the move to planned.
    if (r.state === 'planned') return this.followDecisions(r, r.decisions);
    if (r.state !== 'received' && r.state !== 'validated') return r;
    if (isDecommission(r)) return this.evaluateDecommission(r);
    const target = await this.evaluationTarget(r);
    if ('issues' in target) return this.markInvalid(r, target.issues);
    const answered = await this.answeredParams(r, target);
    if ('issues' in answered) return this.markInvalid(r, answered.issues);
    const { bundleVersion, pkgId, params } = answered;
    // Resumable: a crash after this write leaves `validated`, which a retried job (or the sweep) evaluates again.
    if (r.state === 'received') r = await this.move(r, 'validated', 'answers are valid', { params, version: bundleVersion, package: pkgId });
    await this.fault('mid-evaluate', r);

    if (!answered.existing) {
      const failed = await this.createPendingPackage(r, answered);
      if (failed) return failed;
    }

    const outcome = await this.deps.runner.plan(pkgId, { request: r.id, params, version: bundleVersion });
    await this.fault('after-plan', r);
    if (outcome.error) return this.markPlanFailed(r, outcome);
    const decisions: PolicyDecision[] = [...(await this.policyDecisions(r, answered, outcome)), ...outcome.decisions];
    // Resumable: a crash after this write leaves `planned` with its decisions, which evaluate follows.
    r = await this.move(r, 'planned', 'planned', { params, version: bundleVersion, package: pkgId, plan: planOf(outcome), decisions, approvals: [] });
    return this.followDecisions(r, decisions);
  }

  /**
   * Evaluates decommission request `r` (received or validated): its package's destroy plan and
   * what policy decides (see decommission.ts). Resumable like {@link evaluate}.
   */
  private async evaluateDecommission(r: Request): Promise<Request> {
    const planned = await planDecommission({ ...this.deps, directory: this.directoryFor(r.origin.surface) }, r);
    if ('issues' in planned) return this.markInvalid(r, planned.issues);
    const { pkg, outcome } = planned;
    const fixed: RequestPatch = { package: pkg.id, version: pkg.version, params: pkg.lastAppliedParams ?? pkg.desiredParams };
    // Resumable: a crash after this write leaves `validated`, which is evaluated again.
    if (r.state === 'received') r = await this.move(r, 'validated', 'the package can be decommissioned', fixed);
    if (outcome.error) return this.markPlanFailed(r, outcome);
    r = await this.move(r, 'planned', 'planned', { ...fixed, plan: planOf(outcome), decisions: planned.decisions, approvals: [] });
    return this.followDecisions(r, planned.decisions);
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
    // Atomic: the state and its notices are one write (so are the other marks below).
    return this.move(
      r,
      'failed',
      'the plan failed',
      { deployment: outcome.deployment.id, error: { ...(outcome.deployment.error ?? { message: outcome.error!.message }) } },
      [{ notice: 'failed' }, { notice: 'status' }],
    );
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
    // Atomic: each outcome is one move carrying its notices (approving may add a second write; see approveAndSchedule).
    if (overall === 'deny') {
      const reasons = decisions.filter((d) => d.outcome === 'deny').map((d) => d.reason);
      // Named, so the ticket reads "refused by policy" rather than "refused by someone".
      const refused: Owed = { notice: 'refused', detail: { actor: { id: 'policy', displayName: 'policy' }, reason: reasons.join('; ') } };
      return this.move(r, 'rejected', reasons.join('; '), undefined, [refused, { notice: 'status' }]);
    }
    if (overall === 'needs_approval') return this.move(r, 'awaiting_approval', 'needs approval', undefined, [{ notice: 'approval-needed' }, { notice: 'status' }]);
    return this.approveAndSchedule(r, 'policy needs no approval');
  }

  private async markInvalid(r: Request, issues: FieldIssue[]): Promise<Request> {
    return this.move(r, 'invalid', `${issues.length} answer(s) need a change`, { issues }, [{ notice: 'invalid' }, { notice: 'status' }]);
  }

  private async markFailedValidation(r: Request, issues: FieldIssue[]): Promise<Request> {
    const error = { message: issues.map((i) => `${i.field ?? i.pointer}: ${i.message}`).join('; ') };
    return this.move(r, 'failed', 'the package could not be created', { issues, error }, [{ notice: 'failed' }, { notice: 'status' }]);
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
    // The step reads the request's environment once (its policy, window and emergency checks share it).
    return this.inventory.readScope(() => this.approveOnce(input), ['environment']);
  }

  private async approveOnce(input: { requestId: string; approver: Actor; surface: SurfaceName; planHash?: string }): Promise<ApprovalOutcome> {
    input = { ...input, approver: await this.deps.authorizer.identify(input.approver, input.surface) };
    const r = await this.requests.get(input.requestId);
    if (r.state !== 'awaiting_approval') {
      const why =
        r.state === 'superseded'
          ? 'the plan changed (a newer revision replaces this one). Approve the new plan.'
          : `the request is ${r.state.replace(/_/g, ' ')}, not awaiting approval.`;
      // Atomic: the refusal's audit event and its notice are one write.
      await this.auditWithNotices(
        { actor: input.approver.id, surface: input.surface, action: 'request.approval_refused', subject: { type: 'request', id: r.id }, request: r.id, after: { counted: false, reason: why } },
        r,
        [{ notice: 'approval-refused', tag: input.approver.id, detail: { actor: input.approver, reason: why } }],
      );
      return { counted: false, message: `Approval by ${input.approver.displayName ?? input.approver.id} not counted: ${why}`, satisfied: false, request: r };
    }
    const env = (await this.environmentOf(r))!;
    const envRef = this.envRef(env);
    // The desk's first look is at `r`, just read; a look after a conflict reads again. The approval is
    // added to the request the desk looked at: its revision is checked by the write, so a stale one is refused and looked at again.
    let fresh: Request | undefined = r;
    let seen: Request | undefined;
    const desk = new ApprovalDesk({
      policy: this.deps.policy,
      directory: this.directoryFor(input.surface),
      clock: this.deps.clock,
      store: {
        load: async (id) => {
          const cur = fresh?.id === id ? fresh : await this.requests.get(id);
          fresh = undefined;
          seen = cur;
          const requester = await this.deps.authorizer.identify(cur.actor, cur.origin.surface);
          return { subject: { ...approvalSubjectOf(cur, envRef), actor: requester.person ? requester : cur.actor }, revision: cur.revision };
        },
        addApproval: async (id, approval, expectedRevision) => {
          const cur = seen?.id === id && seen.revision === expectedRevision ? seen : await this.requests.get(id);
          const approvals = [...cur.approvals, approval];
          const satisfied = approvalStatus(this.deps.policy, approvalSubjectOf({ ...cur, approvals }, envRef), this.deps.clock.now()).satisfied;
          // Atomic: the approval and its notices are one write (the status too while more approvals are needed).
          const owed: Owed[] = [{ notice: 'approval-counted', detail: { actor: input.approver, text: countedText(approval, input.approver) } }];
          await this.requests.patch(id, expectedRevision, { approvals }, { actor: approval.by.id, surface: input.surface, request: id }, undefined, owing(satisfied ? owed : [...owed, { notice: 'status' }]));
        },
      },
      audit: {
        append: async (rec) => {
          if (rec.after.counted) return void (await this.inventory.audit.append(rec));
          // Atomic: the refusal's audit event and its notice are one write.
          const detail = { actor: input.approver, ...(rec.after.reason ? { reason: rec.after.reason } : {}) };
          await this.auditWithNotices(rec, await this.requests.get(rec.request), [{ notice: 'approval-refused', tag: input.approver.id, detail }]);
        },
      },
    });
    const { result, status } = await desk.approve({
      requestId: r.id,
      approver: input.approver,
      planHash: input.planHash ?? r.plan?.hash ?? '',
      surface: input.surface,
    });
    let current = await this.requests.get(r.id);
    if (!result.counted) return { counted: false, message: result.message, satisfied: false, request: current };
    // Resumable: a crash before this leaves the approvals complete on an awaiting request, which the sweep completes.
    if (status.satisfied && current.state === 'awaiting_approval') current = await this.completeApproval(current, status.summary);
    // An emergency whose window closed still waits for its emergency approvers: not satisfied yet.
    return { counted: true, message: result.message, satisfied: status.satisfied && current.state !== 'awaiting_approval', request: current };
  }

  /**
   * The approvals of `r` (awaiting approval) are complete: approved and scheduled, unless it
   * is an emergency whose window has closed since it was planned; then the emergency approvers
   * are added to what it needs and it keeps waiting, with a notice saying who must approve.
   */
  private async completeApproval(r: Request, summary: string): Promise<Request> {
    const gap = await this.emergencyGap(r);
    // Atomic: the new requirement and its notices are one write.
    if (gap) return this.requests.patch(r.id, r.revision, { decisions: withDecision(r.decisions, gap) }, ENGINE, gap.reason, owing([{ notice: 'approval-needed', detail: { text: gap.reason } }, { notice: 'status' }]));
    return this.approveAndSchedule(r, summary);
  }

  /** The emergency approval `r` lacks now that its window is closed, if any (see emergency.ts). */
  private async emergencyGap(r: Request): Promise<PolicyDecision | undefined> {
    const env = await this.environmentOf(r);
    return env ? missingEmergencyApproval(this.deps.policy, this.deps.windows, r, this.envRef(env), this.deps.clock.now()) : undefined;
  }

  /** Is the request's approval requirement met now (approvals may have expired)? */
  async approvalSatisfied(r: Request): Promise<boolean> {
    const env = (await this.environmentOf(r))!;
    return approvalStatus(this.deps.policy, approvalSubjectOf(r, this.envRef(env)), this.deps.clock.now()).satisfied;
  }

  /** Applies now when the change window is open, else schedules for its exact next opening. */
  async schedule(requestId: string): Promise<Request> {
    const r = await this.requests.get(requestId);
    if (r.state !== 'approved') return r;
    return this.scheduleApproved(r, await this.windowDecision(r));
  }

  /** What the change window says about applying `r` now (an emergency may apply outside it). */
  private async windowDecision(r: Request): Promise<ScheduleDecision> {
    const env = (await this.environmentOf(r))!;
    return this.deps.windows.scheduleDecision(this.envRef(env), this.deps.clock.now(), r.submitted?.emergency === true);
  }

  /** Approves `r` (planned, or awaiting approval with its approvals complete) and schedules it. */
  private async approveAndSchedule(r: Request, reason: string): Promise<Request> {
    const decision = await this.windowDecision(r);
    // Atomic: approved together with its apply job when the window is open.
    if (decision.action === 'apply_now') return this.move(r, 'approved', reason, undefined, [{ job: 'apply' }]);
    // Resumable: an approved request whose scheduling was lost is scheduled again by the sweep.
    r = await this.move(r, 'approved', reason);
    return this.scheduleApproved(r, decision);
  }

  /** Schedules approved request `r` as the window `decision` says; each branch is one atomic write. */
  private async scheduleApproved(r: Request, decision: ScheduleDecision): Promise<Request> {
    if (decision.action === 'apply_now') {
      // Reached when resuming an approved request that lost its job: the job comes with a resume write.
      return this.requests.resume(r.id, r.revision, decision.reason, owing([{ job: 'apply' }]));
    }
    if (decision.action === 'blocked') {
      const warn: PolicyDecision = { rule: 'change-window', outcome: 'warn', reason: decision.reason };
      if (r.decisions.some((d) => d.rule === warn.rule && d.reason === warn.reason)) return r; // said already
      return this.requests.patch(r.id, r.revision, { decisions: withDecision(r.decisions, warn) }, ENGINE, decision.reason, owing([{ notice: 'status' }]));
    }
    return this.move(r, 'scheduled', decision.reason, { scheduledFor: decision.at.toISOString() }, [
      { job: 'apply', delayMs: Math.max(0, decision.at.getTime() - this.deps.clock.now().getTime()) },
      { notice: 'scheduled', detail: { text: decision.reason } },
      { notice: 'status' },
    ]);
  }

  /**
   * Applies the approved plan. A scheduled request is checked again first: a blackout added
   * meanwhile moves it to the next opening (and the ticket says so). Expired approvals, or an
   * emergency whose window closed without its emergency approvers, send it back for approval.
   * The apply refuses to run a plan other than the approved one. A request already `applying`
   * (a retried job, or one the sweep resumed) is settled from its deployment.
   */
  async apply(requestId: string): Promise<Request> {
    // The step reads the request's environment once (its window, approval and emergency checks share it).
    return this.inventory.readScope(() => this.applyOnce(requestId), ['environment']);
  }

  private async applyOnce(requestId: string): Promise<Request> {
    let r = await this.requests.get(requestId);
    if (r.state === 'applying') return this.resumeApplying(r);
    if (r.state === 'approved' || r.state === 'scheduled') {
      // A freeze holds it (told once), or one lifted meanwhile releases it with a new job.
      const gated = await freezeGate({ requests: this.requests, clock: this.deps.clock, ...(this.deps.freezes ? { freezes: this.deps.freezes } : {}) }, r);
      if (gated) return gated;
    }
    if (r.state === 'scheduled') {
      const rechecked = await this.recheckScheduled(r);
      if (rechecked) return rechecked;
    }
    if (r.state !== 'approved' && r.state !== 'scheduled') return r;
    // Approvals expired while the request waited for its window: ask again.
    if (!(await this.approvalSatisfied(r))) return this.askAgain(r, 'approvals expired before the window opened', { approvals: [] });
    const gap = await this.emergencyGap(r);
    if (gap) return this.askAgain(r, gap.reason, { decisions: withDecision(r.decisions, gap) });
    // Resumable: a crash after this write leaves `applying` without a deployment, which is planned again and applied if still approved.
    r = await this.move(r, 'applying', 'applying the approved plan', undefined, [{ notice: 'status' }]);
    await this.fault('before-apply', r);
    return this.runApply(r);
  }

  /**
   * The window check of a scheduled request whose job fired: undefined when it applies now,
   * else the request moved to the next opening (or left waiting when no window opens).
   */
  private async recheckScheduled(r: Request): Promise<Request | undefined> {
    const env = (await this.environmentOf(r))!;
    const recheck = await this.deps.windows.recheck(this.envRef(env), this.deps.clock.now(), new Date(r.scheduledFor!));
    if (recheck.action === 'moved') {
      const owed: Owed[] = [{ job: 'apply', delayMs: Math.max(0, recheck.at.getTime() - this.deps.clock.now().getTime()) }];
      // A job that ran early (clock skew) keeps its time: nothing moved, nothing to tell.
      if (recheck.at.getTime() !== new Date(r.scheduledFor!).getTime()) {
        // The moved message writes "Moved:" and the new time itself; it wants only the cause
        // ("a blackout (Datacenter move) now covers Tue"), not the whole recheck sentence.
        const cause = recheck.reason.replace(/^Moved: /, '').replace(/; rescheduled to [^;]*$/, '');
        owed.push({ notice: 'moved', detail: { text: cause } }, { notice: 'status' });
      }
      // Atomic: the new time, its job and its notices are one write.
      return this.move(r, 'scheduled', recheck.reason, { scheduledFor: recheck.at.toISOString() }, owed);
    }
    if (recheck.action === 'blocked') {
      // No state change: the status notice is owed on its own (lost in a crash, it is only a repeat of the status).
      await this.owe(r, [{ notice: 'status' }]);
      return r;
    }
    return undefined;
  }

  /**
   * Sends approved or scheduled `r` back for approval with `patch` (approvals cleared, or a
   * requirement added). Resumable: a crash between the two writes leaves `planned` with its
   * decisions, which evaluation follows to awaiting approval.
   */
  private async askAgain(r: Request, reason: string, patch: RequestPatch): Promise<Request> {
    r = await this.move(r, 'planned', reason, patch);
    return this.move(r, 'awaiting_approval', 'needs approval again', undefined, [{ notice: 'approval-needed', detail: { text: reason } }, { notice: 'status' }]);
  }

  /** Runs the apply of `r` (applying) and records how it went. */
  private async runApply(r: Request): Promise<Request> {
    const outcome = await this.deps.runner[applyAction(r)](r.package!, {
      request: r.id,
      ...(r.params ? { params: r.params } : {}),
      ...(r.version ? { version: r.version } : {}),
      ...(r.plan ? { expectedPlanHash: r.plan.hash } : {}),
      onQueued: async () => {
        await this.owe(r, [{ notice: 'status', detail: { text: 'Queued: another deployment of this package is running; this one waits its turn.' } }]);
      },
    });
    // Resumable: a crash here leaves `applying` next to a finished deployment, which settles it.
    await this.fault('after-apply-before-record', r);
    return this.recordApply(await this.requests.get(r.id), outcome.deployment, outcome.error?.message);
  }

  /** Records finished `deployment` on `r` (applying): applied, or failed with its error. Atomic with its notices. */
  private async recordApply(r: Request, deployment: Deployment, errorMessage?: string, reason = 'the apply failed'): Promise<Request> {
    if (deployment.status === 'succeeded' && errorMessage === undefined) {
      return this.move(r, 'applied', 'applied', { deployment: deployment.id }, [{ notice: 'applied' }, { notice: 'status' }]);
    }
    const error = { ...(deployment.error ?? { message: errorMessage ?? reason }) };
    return this.move(r, 'failed', reason, { deployment: deployment.id, error }, [{ notice: 'failed' }, { notice: 'status' }]);
  }

  /**
   * Settles request `r` left `applying` by a worker that stopped, from the stored facts: the
   * apply deployment started since it entered `applying`. Succeeded: applied. Failed: failed.
   * Still running: left alone (the stale sweep fails it once its lock expires). None, or one
   * abandoned by its worker (what it did is unknown): planned again and applied only when the
   * plan is still the approved one; otherwise it goes back for approval, saying why.
   */
  async resumeApplying(r: Request): Promise<Request> {
    const last = await this.lastApply(r);
    if (last?.status === 'running' || last?.status === 'queued') return r;
    if (last?.status === 'succeeded') return this.recordApply(r, last);
    if (last?.status === 'failed' && !last.abandoned) return this.recordApply(r, last, undefined, 'the worker applying this request stopped');
    const outcome = await this.deps.runner.plan(r.package!, { request: r.id, mode: applyAction(r), ...(r.params ? { params: r.params } : {}), ...(r.version ? { version: r.version } : {}) });
    if (outcome.error) return this.markPlanFailed(r, outcome);
    if (outcome.deployment.planHash === r.plan?.hash) return this.runApply(r);
    const reason = last
      ? 'The plan changed since it was approved (its worker stopped during the apply; the new plan shows what is left to do). Approve the new plan.'
      : 'The plan changed since it was approved (the apply was resumed after its worker stopped; nothing was applied). Approve the new plan.';
    const decisions = withDecision(await this.freshDecisions(r, outcome), { rule: 'plan-changed', outcome: 'warn', reason });
    // Resumable: `planned` with its decisions is followed by evaluation.
    r = await this.move(r, 'planned', reason, { plan: planOf(outcome), decisions, approvals: [] });
    return this.followDecisions(r, decisions);
  }

  /** The apply deployment of `r` started since it last entered `applying`, if any. */
  private async lastApply(r: Request): Promise<Deployment | undefined> {
    const since = [...r.history].reverse().find((h) => h.to === 'applying')?.at ?? r.updatedAt;
    const deployments = await this.inventory.list('deployment', { request: r.id }, { order: 'desc' });
    return deployments.find((d) => d.action === applyAction(r) && d.createdAt >= since);
  }

  /** What policy decides about `r` with a fresh plan (its stored decisions when its answers no longer map). */
  private async freshDecisions(r: Request, outcome: DeploymentOutcome): Promise<PolicyDecision[]> {
    if (isDecommission(r)) {
      const planned = await planDecommission({ ...this.deps, directory: this.directoryFor(r.origin.surface) }, r);
      return 'issues' in planned || planned.outcome.error ? r.decisions : planned.decisions;
    }
    const target = await this.evaluationTarget(r);
    if ('issues' in target) return r.decisions;
    const answered = await this.answeredParams(r, target);
    if ('issues' in answered) return r.decisions;
    return [...(await this.policyDecisions(r, answered, outcome)), ...outcome.decisions];
  }

  /**
   * Requests left `applying` by a worker that died, whose deployment is no longer running (the
   * lock expired and `recoverStale` marked it failed and abandoned): given an apply job again
   * (once: not when the request moved since), which plans again and finishes the apply if the
   * plan is still the approved one; nothing stays "applying" forever. Returns the requests it
   * resumed. (Other requests without an owner are resumed by the recovery sweep.)
   */
  async reconcileApplying(): Promise<Request[]> {
    const failed: Request[] = [];
    for (const r of await this.requests.list({ state: 'applying' })) {
      const last = await this.lastApply(r);
      if (last?.status !== 'failed') continue;
      try {
        if (last.abandoned) {
          if (r.updatedAt > (last.updatedAt ?? '')) continue;
          failed.push(await this.requests.resume(r.id, r.revision, 'resumed: the worker applying this request stopped', owing([{ job: 'apply' }])));
          continue;
        }
        failed.push(await this.recordApply(r, last, undefined, 'the worker applying this request stopped'));
      } catch (err) {
        // Its own job recorded it meanwhile: the revision check let that one win.
        if (!(err instanceof ConflictError)) throw err;
      }
    }
    return failed;
  }

  /**
   * Gives request `r`, found without an owner (recovery.ts), the work it lost, from its stored
   * facts. Every write is revision-checked against `r`, so a live step that moved the request
   * meanwhile wins and this one fails with a ConflictError. Returns the request as it is now.
   */
  async resume(r: Request): Promise<Request> {
    const why = `resumed: no worker owned this ${r.state.replace(/_/g, ' ')} request`;
    switch (r.state) {
      case 'received':
      case 'validated':
      case 'planned':
        return this.requests.resume(r.id, r.revision, why, owing([{ job: 'evaluate' }]));
      case 'awaiting_approval':
        return (await this.approvalSatisfied(r)) ? this.completeApproval(r, 'approvals complete') : r;
      case 'approved':
        return this.scheduleApproved(r, await this.windowDecision(r));
      case 'scheduled': {
        const delayMs = Math.max(0, Date.parse(r.scheduledFor ?? '') - this.deps.clock.now().getTime()) || 0;
        return this.requests.resume(r.id, r.revision, why, owing([{ job: 'apply', delayMs }]));
      }
      case 'applying':
        return this.requests.resume(r.id, r.revision, why, owing([{ job: 'apply' }]));
      default:
        return r;
    }
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
      const why = reason ?? `${to} by ${by.displayName ?? by.id}`;
      const detail = { actor: by, reason: why };
      // Atomic: the state and its notices are one write.
      const owed: Owed[] = to === 'rejected' ? [{ notice: 'refused', detail }, { notice: 'status' }] : [{ notice: 'status', detail }];
      return await this.requests.transition(r.id, r.revision, to, { by: by.id, surface, reason: why, owes: owing(owed) });
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
    return await this.revise(r.id, {
      kind: r.kind,
      actor: by,
      origin: { ...r.origin, surface: r.origin.surface },
      project: r.project,
      bundle: r.bundle,
      answers: (r.submitted ?? {}) as Answers,
      environment: r.environment.slice(r.project.length + 1),
      ...(r.version ? { version: r.version } : {}),
    });
  }
}

/** The plan a request holds, from the plan run's outcome. */
function planOf(outcome: DeploymentOutcome): RequestPlan {
  return {
    deploymentId: outcome.deployment.id,
    hash: outcome.deployment.planHash!,
    summary: outcome.deployment.plan!,
    ...(outcome.cost ? { costMonthlyBefore: outcome.cost.before, costMonthlyAfter: outcome.cost.after } : {}),
  };
}

/** The line an approval that counted gets in the ticket (the approval desk's words). */
function countedText(a: Approval, approver: Actor): string {
  const who = a.by.displayName || approver.displayName || approver.id;
  const ttl = Date.parse(a.expiresAt ?? a.at) - Date.parse(a.at);
  return `Approved by ${who} (${a.groups.join(', ')}) for plan ${a.planHash.slice(0, 7)}. Valid for ${durationText(ttl)}.`;
}

/** A ticket command that cannot be done in the request's state; answered in the ticket. */
export class RequestCommandError extends UserError {
  constructor(message: string) {
    super('illegal_transition', message);
  }
}
