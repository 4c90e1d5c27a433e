/**
 * Deployments: one run of a package's bundle steps by their provisioners — a plan, an apply or a
 * destroy — under the package's lock, recorded with structured (redacted) step logs.
 *
 * Every run first plans every step (plan JSON validated, summarised and hashed; scanners run over
 * it). An apply or destroy then checks the plan hash against the approved one, applies the steps
 * in order (destroy: reverse order, skipping `skip_on_delete` steps), validates the artifacts a
 * step prints against their artifact definitions and only then stores anything on the package.
 * Any failure — a non-zero exit, a timeout, malformed plan JSON, an invalid artifact — fails the
 * deployment naming the step, with a redacted excerpt; the package keeps its last good state.
 */
import { randomUUID } from 'node:crypto';
import { isAbsolute, join, relative, resolve } from 'node:path';
import type { Redis } from 'ioredis';
import type { Logger } from './logger.ts';
import { DeploymentFailedError, NotFoundError, UserError, type FieldIssue } from './errors.ts';
import {
  systemClock,
  type Bundle,
  type BundleStep,
  type Clock,
  type Deployment,
  type DeploymentAction,
  type DeploymentStatus,
  type DeploymentStep,
  type Environment,
  type Package,
  type PackageStatus,
  type PolicyDecision,
  type RecordMeta,
  type StepLogLine,
} from './model.ts';
import { combineStepPlans, parsePlanJson, planHash, summarizePlan, type StepPlan } from './plan.ts';
import { Redactor, isSensitiveKey } from './redact.ts';
import { sensitivePointers } from './registry/sensitive.ts';
import { costDelta, estimateMonthlyCost, type CostDelta } from './cost.ts';
import { LockLostError, type Lease, type LeaseFence, type PackageLock, type QueuedInfo } from './package-lock.ts';
import { excerptOf, type PlanScanner, type Provisioner, type StepContext } from './provisioner-port.ts';
import type { Inventory } from './inventory.ts';
import type { AuditContext } from './audit.ts';
import { copyStepFolder, isFolder, makePrivateFolder, removeWorkFolder, writeStepFile } from './work-folder.ts';

// ---------------------------------------------------------------------------------------------
// Ports

/** A record's writable fields. */
export type Fields<T extends RecordMeta> = Omit<T, keyof RecordMeta>;

/**
 * What the runner needs of the inventory. Small on purpose, so the real Inventory can implement
 * it (or be wrapped) without the runner knowing anything else of it. Writes made under the package
 * lock carry its `fence`: the store checks it in the same atomic step that writes the record and
 * refuses a stale holder with {@link LockLostError}.
 */
export interface DeploymentStore {
  getPackage(id: string): Promise<Package>;
  getEnvironment(id: string): Promise<Environment>;
  /** Merges `patch` into the package (revision + 1); refused unless `fence` (when given) still holds. */
  updatePackage(id: string, patch: Partial<Fields<Package>>, fence?: LeaseFence): Promise<Package>;
  /** Stores a new deployment; refused unless `fence` (when given) still holds. */
  createDeployment(input: Fields<Deployment>, fence?: LeaseFence): Promise<Deployment>;
  /**
   * Merges `patch` into the deployment (revision + 1); refused unless `fence` (when given) still
   * holds. `current`: the deployment as the store last returned it, which a store may start from
   * instead of reading it again (the revision is still checked when the write lands).
   */
  updateDeployment(id: string, patch: Partial<Fields<Deployment>>, fence?: LeaseFence, current?: Deployment): Promise<Deployment>;
  getDeployment(id: string): Promise<Deployment>;
  /** Deployments in a status (for {@link DeploymentRunner.recoverStale}: `running`). */
  listDeploymentsByStatus(status: DeploymentStatus): Promise<Deployment[]>;
}

/** Finds a bundle version (the registry). */
export type BundleLookup = (name: string, version: string) => Promise<Bundle> | Bundle;

/** Validates artifact data against an artifact definition; returns every problem (no values in messages). */
export type ArtifactValidator = (definitionName: string, data: unknown) => FieldIssue[] | Promise<FieldIssue[]>;

/** JSON pointers of the `$md.sensitive` fields of an artifact definition. */
export type SensitivePointerLookup = (definitionName: string) => string[];

/** Constructor dependencies of {@link DeploymentRunner}. */
export interface DeploymentRunnerDeps {
  store: DeploymentStore;
  getBundle: BundleLookup;
  /** Provisioner name (`exec`, `opentofu`, `terraform`) -> provisioner. */
  provisioners: Record<string, Provisioner>;
  lock: PackageLock;
  validateArtifact: ArtifactValidator;
  sensitivePointers?: SensitivePointerLookup;
  /** Per-deployment working directories are made (and removed) under this. */
  workRoot: string;
  /** Per-package, per-step state directories (`MD_STATE_DIR`) live under this. */
  stateRoot: string;
  clock?: Clock;
  logger?: Logger;
  /** Runs the bundle's scanners over every plan (src/provisioners/scanners.ts implements it). */
  scanner: PlanScanner;
  /** Keep working directories after a run (debugging; they hold connection secrets). */
  keepWorkDirs?: boolean;
}

/** Options of one run. */
export interface RunOptions {
  /** The request this deployment serves. */
  request?: string;
  /** Params to plan/apply instead of the package's desired params (an update request's new values). */
  params?: Record<string, unknown>;
  /** Bundle version to plan/apply instead of the package's (a promotion); stored on the package when applied. */
  version?: string;
  /** Apply/destroy only if the fresh plan hashes to this (the approved plan); otherwise fail. */
  expectedPlanHash?: string;
  /** Told once when the package is busy and this run waits its turn. */
  onQueued?: (info: QueuedInfo) => void | Promise<void>;
  /** Extra secret strings to blank from logs and excerpts. */
  secrets?: string[];
  signal?: AbortSignal;
}

/** What a run gives back. Step failures do not throw: they come back as a failed deployment. */
export interface DeploymentOutcome {
  deployment: Deployment;
  /** Scanner decisions (allow / warn / deny), for the request. */
  decisions: PolicyDecision[];
  /** Monthly cost before and after (after = 0 for a destroy). */
  cost?: CostDelta;
  /** The failure, when the deployment failed (also recorded on the deployment). */
  error?: UserError;
}

// ---------------------------------------------------------------------------------------------

/** Files the engine writes into every step's working directory. */
export const STEP_FILES = {
  params: '_params.auto.tfvars.json',
  connections: '_connections.auto.tfvars.json',
  metadata: '_md_variables.auto.tfvars.json',
} as const;

const MAX_LOG_LINES_PER_STEP = 2000;

/** `s` made safe as one path segment. */
export function safeSegment(s: string): string {
  const out = s.replace(/[^A-Za-z0-9_.-]+/g, '_').replace(/^\.+/, '_');
  return out || '_';
}

/** `s` lower-cased with runs of other characters turned into one hyphen (names, `name_prefix`). */
export function slug(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
}

/** The provisioner name without a version suffix (`opentofu:1.10` -> `opentofu`). */
export function provisionerName(step: BundleStep): string {
  return step.provisioner.split(':')[0].trim();
}

/** Strings in `params` at fields the params schema marks `$md.sensitive` (the registry's one reading of the marks) or under sensitive-looking keys. */
function registerParamSecrets(redactor: Redactor, schema: unknown, params: unknown): void {
  redactor.addSecretsUnderSensitiveKeys(params);
  redactor.addSensitiveFields(params, sensitivePointers(schema));
}

/** One run's state while it holds the package lock: what it runs, and what it has recorded so far. */
interface LockedRun {
  action: DeploymentAction;
  mode: 'apply' | 'destroy';
  lease: Lease;
  signal: AbortSignal;
  pkg: Package;
  environment: Environment;
  bundle: Bundle;
  params: Record<string, unknown>;
  /** The steps this run plans and applies, in run order (a destroy: reversed, `skip_on_delete` left out). */
  active: { step: BundleStep; index: number }[];
  /** The deployment's step records, in bundle order; changed in place and saved with every {@link LockedRun.save}. */
  steps: DeploymentStep[];
  /** The deployment record as last saved. */
  deployment: Deployment;
  deploymentDir: string;
  redactor: Redactor;
  /** Step index -> its prepared context (working directory, plan file), filled while planning. */
  contexts: Map<number, StepContext>;
  /** The step being planned or applied, named by a failure. */
  currentStep?: number;
  decisions: PolicyDecision[];
  costAfter?: number;
  cost?: CostDelta;
  /** The package status before the run: a failed run gives it back. */
  previousStatus: PackageStatus;
  now(): string;
  /** Saves `patch` and the step records on the deployment, after checking the lock is still ours. */
  save(patch: Partial<Fields<Deployment>>): Promise<void>;
  /** A log sink for step `i` (keeps the last {@link MAX_LOG_LINES_PER_STEP} lines). */
  logTo(i: number): (line: StepLogLine) => void;
}

/** An apply or destroy goes ahead only on the plan that was approved. */
function checkApprovedHash(expectedPlanHash: string | undefined, hash: string): void {
  if (expectedPlanHash !== undefined && expectedPlanHash !== hash) {
    throw new DeploymentFailedError(
      '',
      'the plan changed since it was approved (its hash differs); nothing was applied, the request must be planned and approved again',
      '',
    );
  }
}

/** Every artifact the bundle requires was printed by some step. */
function checkRequiredArtifacts(run: LockedRun, artifacts: Record<string, Record<string, unknown>>): void {
  const { bundle, active } = run;
  const required = Array.isArray(bundle.artifacts?.required) ? (bundle.artifacts.required as string[]) : [];
  const missing = required.filter((n) => !(n in artifacts));
  if (missing.length) {
    const last = active[active.length - 1]?.step.path ?? '';
    throw new DeploymentFailedError(last, `step ${last}: no step printed the required artifact(s) ${missing.join(', ')}`, '');
  }
}

/** Runs plan / apply / destroy of packages; see the module comment. */
export class DeploymentRunner {
  private readonly deps: DeploymentRunnerDeps;
  private readonly clock: Clock;

  constructor(deps: DeploymentRunnerDeps) {
    this.deps = deps;
    this.clock = deps.clock ?? systemClock;
  }

  /** Plans the package (for an apply, or for a destroy with `mode: 'destroy'`); changes nothing. */
  plan(packageId: string, opts: RunOptions & { mode?: 'apply' | 'destroy' } = {}): Promise<DeploymentOutcome> {
    return this.run('plan', packageId, opts, opts.mode ?? 'apply');
  }

  /** Plans and applies the package's bundle steps; on success stores artifacts, params and cost on the package. */
  apply(packageId: string, opts: RunOptions = {}): Promise<DeploymentOutcome> {
    return this.run('apply', packageId, opts, 'apply');
  }

  /** Plans a destroy and destroys the package's steps in reverse order (skipping `skip_on_delete`). */
  destroy(packageId: string, opts: RunOptions = {}): Promise<DeploymentOutcome> {
    return this.run('destroy', packageId, opts, 'destroy');
  }

  /**
   * Finds deployments left `running` whose package lock is no longer held with their fencing
   * token (their worker crashed) and marks them failed; nothing they did is marked applied. A
   * package left `provisioning`/`decommissioning` gets its last good status back (or `failed`)
   * when no other deployment holds its lock. Returns the deployments it marked failed.
   */
  async recoverStale(): Promise<Deployment[]> {
    const { store, lock } = this.deps;
    const recovered: Deployment[] = [];
    for (const d of await store.listDeploymentsByStatus('running')) {
      if (d.fencingToken !== undefined && (await lock.isCurrent(d.package, d.fencingToken))) continue;
      const owner = `recover:${d.id}`;
      const lease = (await lock.tryAcquire(d.package, owner)).lease;
      // Busy package: its holder owns the package record; only the deployment record is fixed here.
      if (!lease) await lock.leaveQueue(d.package, owner);
      try {
        // Re-read under the lock: the deployment may have finished meanwhile.
        const fresh = await store.getDeployment(d.id);
        if (fresh.status !== 'running') continue;
        if (fresh.fencingToken !== undefined && (await lock.isCurrent(fresh.package, fresh.fencingToken))) continue;
        const at = this.clock.now().toISOString();
        const marked = await store.updateDeployment(d.id, {
          status: 'failed',
          abandoned: true,
          finishedAt: at,
          steps: fresh.steps.map((s) => (s.status === 'running' ? { ...s, status: 'failed', finishedAt: at, error: 'worker stopped' } : s)),
          error: { message: 'the worker running this deployment stopped and its package lock expired; nothing was marked applied' },
        });
        recovered.push(marked);
        this.deps.logger?.warn({ deployment: d.id, package: d.package }, 'stale deployment marked failed');
        if (lease) {
          const pkg = await store.getPackage(d.package);
          if (pkg.status === 'provisioning' || pkg.status === 'decommissioning') {
            await store.updatePackage(pkg.id, { status: pkg.lastAppliedParams ? 'ready' : 'failed' }, lease.fence);
          }
        }
      } finally {
        await lease?.release();
      }
    }
    return recovered;
  }

  private async run(action: DeploymentAction, packageId: string, opts: RunOptions, mode: 'apply' | 'destroy'): Promise<DeploymentOutcome> {
    const lease = await this.deps.lock.waitForLock(packageId, { onQueued: opts.onQueued, signal: opts.signal });
    const abort = new AbortController();
    const onOuterAbort = (): void => abort.abort();
    opts.signal?.addEventListener('abort', onOuterAbort, { once: true });
    let lost: LockLostError | undefined;
    const stopRenew = lease.keepAlive((err) => {
      lost = err;
      abort.abort();
    });
    try {
      const outcome = await this.runLocked(action, packageId, opts, mode, lease, abort.signal);
      if (lost) throw lost;
      return outcome;
    } catch (err) {
      throw lost ?? err;
    } finally {
      stopRenew();
      opts.signal?.removeEventListener('abort', onOuterAbort);
      await lease.release().catch(() => false);
    }
  }

  /** Plans every step, scans the plan and — for an apply or destroy — applies it; see the module comment. */
  private async runLocked(
    action: DeploymentAction,
    packageId: string,
    opts: RunOptions,
    mode: 'apply' | 'destroy',
    lease: Lease,
    signal: AbortSignal,
  ): Promise<DeploymentOutcome> {
    const run = await this.startRun(action, packageId, opts, mode, lease, signal);
    try {
      const connections = await this.resolveConnections(run.pkg, run.bundle, run.redactor);
      if (action !== 'plan') {
        await this.deps.store.updatePackage(run.pkg.id, { status: mode === 'destroy' ? 'decommissioning' : 'provisioning' }, lease.fence);
      }
      const hash = await this.planAllSteps(run, connections);
      await this.scanPlan(run);
      if (action === 'plan') return await this.finishPlan(run);
      checkApprovedHash(opts.expectedPlanHash, hash);
      const artifacts = await this.applySteps(run);
      if (mode === 'apply') checkRequiredArtifacts(run, artifacts);
      return await this.recordOnPackage(run, artifacts);
    } catch (err) {
      return await this.failRun(run, err);
    } finally {
      if (!this.deps.keepWorkDirs) await removeWorkFolder(run.deploymentDir).catch(() => undefined);
    }
  }

  /**
   * Reads the package, its environment and bundle, and records the deployment as `running` (one
   * step entry per bundle step); sets up the redactor and the cost estimate of the run.
   */
  private async startRun(
    action: DeploymentAction,
    packageId: string,
    opts: RunOptions,
    mode: 'apply' | 'destroy',
    lease: Lease,
    signal: AbortSignal,
  ): Promise<LockedRun> {
    const { store, logger } = this.deps;
    const pkg = await store.getPackage(packageId);
    const environment = await store.getEnvironment(pkg.environment);
    const bundle = await this.deps.getBundle(pkg.bundle, opts.version ?? pkg.version);
    const params = opts.params ?? pkg.desiredParams ?? {};
    const now = (): string => this.clock.now().toISOString();

    const ordered = bundle.steps.map((step, index) => ({ step, index }));
    if (mode === 'destroy') ordered.reverse();
    const active = ordered.filter(({ step }) => !(mode === 'destroy' && step.skip_on_delete));

    const steps: DeploymentStep[] = bundle.steps.map((s) => ({
      path: s.path,
      provisioner: s.provisioner,
      status: mode === 'destroy' && s.skip_on_delete ? 'skipped' : 'pending',
      log: [],
    }));

    const deployment = await store.createDeployment({
      package: pkg.id,
      ...(opts.request ? { request: opts.request } : {}),
      action,
      status: 'running',
      steps,
      fencingToken: lease.token,
      startedAt: now(),
    }, lease.fence);
    const deploymentDir = join(this.deps.workRoot, safeSegment(deployment.id));
    logger?.info({ deployment: deployment.id, package: pkg.id, action }, 'deployment started');

    const redactor = new Redactor(opts.secrets ?? []);
    registerParamSecrets(redactor, bundle.params, params);
    const costAfter = this.estimateCostAfter(bundle, params, mode);
    const cost = costAfter === undefined ? undefined : costDelta(pkg.costMonthly, costAfter, String((bundle.raw?.cost as { currency?: string })?.currency ?? 'USD'));

    const run: LockedRun = {
      action, mode, lease, signal, pkg, environment, bundle, params, active, steps, deployment, deploymentDir, redactor,
      contexts: new Map(),
      costAfter,
      cost,
      previousStatus: pkg.status,
      decisions: [],
      now,
      save: async (patch) => {
        run.deployment = await store.updateDeployment(run.deployment.id, { ...patch, steps: steps.map((s) => ({ ...s, log: [...s.log] })) }, lease.fence, run.deployment);
      },
      logTo: (i) => (line) => {
        const log = steps[i].log;
        log.push(line);
        if (log.length > MAX_LOG_LINES_PER_STEP) log.splice(0, log.length - MAX_LOG_LINES_PER_STEP);
      },
    };
    return run;
  }

  /** The package's monthly cost after the run (0 for a destroy); undefined when the estimate fails. */
  private estimateCostAfter(bundle: Bundle, params: Record<string, unknown>, mode: 'apply' | 'destroy'): number | undefined {
    try {
      return mode === 'destroy' ? 0 : estimateMonthlyCost(bundle, params);
    } catch (err) {
      this.deps.logger?.warn({ bundle: bundle.name, err: (err as Error).message }, 'cost estimate failed');
      return undefined;
    }
  }

  /** Plans every active step and records the combined plan summary and hash; returns the hash. */
  private async planAllSteps(run: LockedRun, connections: Record<string, unknown>): Promise<string> {
    // Plan every step first: the whole plan is hashed, scanned and checked before anything changes.
    const stepPlans: StepPlan[] = [];
    for (const { step, index } of run.active) {
      run.currentStep = index;
      run.steps[index] = { ...run.steps[index], status: 'running', startedAt: run.now() };
      await run.save({});
      stepPlans.push(await this.planStep(run, step, index, connections));
      if (run.action === 'plan') run.steps[index] = { ...run.steps[index], status: 'succeeded', finishedAt: run.now() };
      await run.save({});
    }
    run.currentStep = undefined;
    // No active steps (a destroy where every step is skip_on_delete) plans nothing.
    const { summary: planSummary, hash } = stepPlans.length
      ? combineStepPlans(stepPlans)
      : { summary: summarizePlan({ format_version: '1.0' }), hash: planHash({ format_version: '1.0' }) };
    await run.save({ plan: planSummary, planHash: hash });
    return hash;
  }

  /** Prepares one step's working directory, plans it, and keeps its validated plan JSON in the plan file. */
  private async planStep(run: LockedRun, step: BundleStep, index: number, connections: Record<string, unknown>): Promise<StepPlan> {
    const { steps, redactor, now } = run;
    const ctx = await this.prepareStep(run, step, index, connections);
    run.contexts.set(index, ctx);
    const provisioner = this.provisionerFor(step);
    const { planJson } = await provisioner.plan(ctx);
    const excerpt = (): string => excerptOf([
      ...steps[index].log.filter((l) => l.stream !== 'engine').map((l) => l.line),
      ...planJson.split('\n').slice(-10).map((l) => redactor.redactText(l)),
    ]);
    const plan = parsePlanJson(planJson, { step: step.path, excerpt: excerpt() });
    await writeStepFile(ctx.planFile, JSON.stringify(plan));
    const summary = summarizePlan(plan);
    const stepPlan: StepPlan = { step: step.path, summary, hash: planHash(plan) };
    run.logTo(index)({ at: now(), stream: 'engine', line: `plan: ${summary.add} to add, ${summary.change} to change, ${summary.destroy} to destroy, ${summary.replace} to replace` });
    return stepPlan;
  }

  /** Runs the bundle's scanners over the plan files; a deny fails an apply or destroy (a plan only reports it). */
  private async scanPlan(run: LockedRun): Promise<void> {
    run.decisions = await this.deps.scanner.scan({
      bundle: run.bundle,
      labels: run.environment.labels,
      planFiles: run.active.map(({ step, index }) => ({ step: step.path, file: run.contexts.get(index)!.planFile })),
      redactor: run.redactor,
      clock: this.clock,
      signal: run.signal,
    });
    const denied = run.decisions.find((d) => d.outcome === 'deny');
    if (denied && run.action !== 'plan') {
      throw new DeploymentFailedError(denied.rule, `${denied.rule} denied the plan: ${denied.reason}`, denied.reason);
    }
  }

  /** A plan-only run ends here: the deployment succeeded and the package is untouched. */
  private async finishPlan(run: LockedRun): Promise<DeploymentOutcome> {
    await run.save({ status: 'succeeded', finishedAt: run.now() });
    this.deps.logger?.info({ deployment: run.deployment.id, package: run.pkg.id }, 'plan succeeded');
    return { deployment: run.deployment, decisions: run.decisions, cost: run.cost };
  }

  /** Applies (or destroys) the active steps in order; returns the validated artifacts they printed. */
  private async applySteps(run: LockedRun): Promise<Record<string, Record<string, unknown>>> {
    const artifacts: Record<string, Record<string, unknown>> = {};
    for (const { step, index } of run.active) {
      run.currentStep = index;
      const ctx = run.contexts.get(index)!;
      const provisioner = this.provisionerFor(step);
      if (run.mode === 'destroy') {
        await provisioner.destroy(ctx);
      } else {
        const result = await provisioner.apply(ctx);
        Object.assign(artifacts, await this.validateArtifacts(step, run.bundle, result.artifacts, run.redactor));
      }
      run.steps[index] = { ...run.steps[index], status: 'succeeded', finishedAt: run.now() };
      await run.save({});
    }
    run.currentStep = undefined;
    return artifacts;
  }

  /** Stores the run's result on the package, then marks the deployment succeeded. */
  private async recordOnPackage(run: LockedRun, artifacts: Record<string, Record<string, unknown>>): Promise<DeploymentOutcome> {
    const { store, logger } = this.deps;
    const { pkg, params, deployment, costAfter } = run;
    // Everything succeeded and validated: only now does the package change.
    const fence = run.lease.fence;
    if (run.mode === 'destroy') {
      await store.updatePackage(pkg.id, { status: 'decommissioned', artifacts: {}, costMonthly: 0, lastDeployment: deployment.id }, fence);
    } else {
      await store.updatePackage(pkg.id, {
        status: 'ready',
        artifacts,
        version: run.bundle.version,
        desiredParams: params,
        lastAppliedParams: params,
        lastDeployment: deployment.id,
        ...(costAfter !== undefined ? { costMonthly: costAfter } : {}),
      }, fence);
    }
    await run.save({ status: 'succeeded', finishedAt: run.now() });
    logger?.info({ deployment: run.deployment.id, package: pkg.id, action: run.action }, 'deployment succeeded');
    return { deployment: run.deployment, decisions: run.decisions, cost: run.cost };
  }

  /**
   * A run that threw: a lost lock is rethrown as such; a system error marks the deployment failed
   * and is rethrown; a user error (a failed step) marks it failed and comes back in the outcome.
   */
  private async failRun(run: LockedRun, err: unknown): Promise<DeploymentOutcome> {
    const { pkg, lease } = run;
    if (err instanceof LockLostError) throw err;
    if (run.signal.aborted && !(await this.deps.lock.isCurrent(pkg.id, lease.token, lease.owner))) throw new LockLostError(pkg.id, lease.token);
    if (!(err instanceof UserError)) {
      await this.markFailed(run, { message: 'internal error while running the deployment' }).catch(() => undefined);
      throw err;
    }
    const { currentStep, redactor } = run;
    const stepName = err instanceof DeploymentFailedError ? err.step : currentStep !== undefined ? run.bundle.steps[currentStep].path : undefined;
    const excerpt = err instanceof DeploymentFailedError ? redactor.redactText(err.excerpt) : undefined;
    const message = redactor.redactText(err.message);
    await this.markFailed(run, {
      ...(stepName ? { step: stepName } : {}),
      message,
      ...(excerpt ? { excerpt } : {}),
    });
    this.deps.logger?.warn({ deployment: run.deployment.id, package: pkg.id, action: run.action, step: stepName }, 'deployment failed');
    return { deployment: run.deployment, decisions: run.decisions, cost: run.cost, error: err };
  }

  private async markFailed(run: LockedRun, error: { step?: string; message: string; excerpt?: string }): Promise<void> {
    const { steps, currentStep, now } = run;
    if (currentStep !== undefined) {
      steps[currentStep] = { ...steps[currentStep], status: 'failed', finishedAt: now(), error: error.message };
    }
    for (let i = 0; i < steps.length; i++) {
      if (steps[i].status === 'running') steps[i] = { ...steps[i], status: 'pending' };
    }
    if (run.action !== 'plan') {
      // The last good state stands: artifacts and last-applied params are left as they were.
      const previousStatus = run.previousStatus;
      const status: PackageStatus = previousStatus === 'ready' || previousStatus === 'decommissioned' ? previousStatus : 'failed';
      await this.deps.store.updatePackage(run.pkg.id, { status }, run.lease.fence);
    }
    await run.save({ status: 'failed', finishedAt: now(), error });
  }

  private provisionerFor(step: BundleStep): Provisioner {
    const name = provisionerName(step);
    const p = this.deps.provisioners[name];
    if (!p) throw new DeploymentFailedError(step.path, `step ${step.path}: provisioner "${name}" is not available here`, '');
    return p;
  }

  /** Connection name -> the connected artifact's data; sensitive fields registered as secrets. */
  private async resolveConnections(pkg: Package, bundle: Bundle, redactor: Redactor): Promise<Record<string, unknown>> {
    const out: Record<string, unknown> = {};
    for (const [name, binding] of Object.entries(pkg.connections ?? {})) {
      let source: Package;
      try {
        source = await this.deps.store.getPackage(binding.package);
      } catch (err) {
        if (err instanceof NotFoundError) {
          throw new DeploymentFailedError('', `connection ${name}: package ${binding.package} does not exist`, '');
        }
        throw err;
      }
      const data = source.artifacts?.[binding.artifact];
      if (data === undefined) {
        throw new DeploymentFailedError('', `connection ${name}: package ${source.name} has no artifact "${binding.artifact}" yet (apply it first)`, '');
      }
      const definition = bundle.connectionTypes?.[name];
      if (definition && this.deps.sensitivePointers) redactor.addSensitiveFields(data, this.deps.sensitivePointers(definition));
      redactor.addSecretsUnderSensitiveKeys(data);
      out[name] = data;
    }
    return out;
  }

  /** Checks every artifact a step printed: declared by the bundle and valid for its definition. */
  private async validateArtifacts(
    step: BundleStep,
    bundle: Bundle,
    printed: Record<string, unknown>,
    redactor: Redactor,
  ): Promise<Record<string, Record<string, unknown>>> {
    const allPointers: string[] = [];
    for (const [name, data] of Object.entries(printed)) {
      const def = bundle.artifactTypes?.[name];
      if (!def) continue;
      const pointers = this.deps.sensitivePointers?.(def) ?? [];
      redactor.addSensitiveFields(data, pointers);
      allPointers.push(...pointers.map((p) => `/${name.replace(/~/g, '~0').replace(/\//g, '~1')}${p}`));
    }
    redactor.addSecretsUnderSensitiveKeys(printed);
    const problems: string[] = [];
    for (const [name, data] of Object.entries(printed)) {
      const def = bundle.artifactTypes?.[name];
      if (!def) {
        problems.push(`artifact "${name}" is not declared by bundle ${bundle.name}`);
        continue;
      }
      if (!data || typeof data !== 'object' || Array.isArray(data)) {
        problems.push(`artifact "${name}" must be a JSON object`);
        continue;
      }
      const issues = await this.deps.validateArtifact(def, data);
      for (const i of issues) problems.push(`artifact "${name}" does not match ${def}: ${i.pointer || '(root)'} ${redactor.redactText(i.message)}`);
    }
    if (problems.length) {
      const excerpt = JSON.stringify(redactor.redactValue(printed, allPointers), null, 2);
      throw new DeploymentFailedError(
        step.path,
        `step ${step.path}: ${problems.slice(0, 10).join('; ')}`,
        excerpt.length > 2000 ? excerpt.slice(0, 2000) + '…' : excerpt,
      );
    }
    return printed as Record<string, Record<string, unknown>>;
  }

  /** Makes the step's working directory (a fresh copy of its folder) and writes the input files. */
  private async prepareStep(run: LockedRun, step: BundleStep, index: number, connections: Record<string, unknown>): Promise<StepContext> {
    const { deployment, deploymentDir, pkg, environment, bundle, mode, params, redactor, signal } = run;
    const log = run.logTo(index);
    const source = resolve(bundle.dir, step.path);
    const rel = relative(resolve(bundle.dir), source);
    if (rel.startsWith('..') || isAbsolute(rel)) {
      throw new DeploymentFailedError(step.path, `step ${step.path}: path leaves the bundle directory`, '');
    }
    if (!isFolder(source)) throw new DeploymentFailedError(step.path, `step ${step.path}: folder ${step.path} does not exist in bundle ${bundle.name}`, '');

    const name = `${index}-${safeSegment(slug(step.path) || 'step')}`;
    const workDir = join(deploymentDir, name);
    await copyStepFolder(source, workDir);
    const stateDir = join(this.deps.stateRoot, safeSegment(pkg.id), safeSegment(slug(step.path) || 'step'));
    makePrivateFolder(stateDir);

    const files = {
      params: join(workDir, STEP_FILES.params),
      connections: join(workDir, STEP_FILES.connections),
      metadata: join(workDir, STEP_FILES.metadata),
    };
    const namePrefix = slug(`${pkg.project}-${environment.name}-${pkg.name}`);
    const metadata = {
      md_metadata: {
        name_prefix: namePrefix,
        package: pkg.name,
        project: pkg.project,
        environment: environment.name,
        labels: environment.labels,
        bundle: bundle.name,
        version: bundle.version,
        deployment: deployment.id,
      },
    };
    await writeStepFile(files.params, JSON.stringify(params, null, 2));
    await writeStepFile(files.connections, JSON.stringify(connections, null, 2));
    await writeStepFile(files.metadata, JSON.stringify(metadata, null, 2));

    const artifactProps = bundle.artifacts?.properties;
    return {
      step,
      stepName: step.path,
      mode,
      workDir,
      stateDir,
      files,
      planFile: join(deploymentDir, `${name}.plan.json`),
      artifactNames: artifactProps && typeof artifactProps === 'object' ? Object.keys(artifactProps) : Object.keys(bundle.artifactTypes ?? {}),
      redactor,
      clock: this.clock,
      log,
      signal,
    };
  }
}

// ---------------------------------------------------------------------------------------------
// A Redis-backed store for the port, until the inventory is plugged in

/**
 * Stores one record (and moves it between status sets), refused with 0 unless the lock at KEYS[2]
 * still holds ARGV[2] (empty: no fence). KEYS: record, lock, status set left, status set joined;
 * ARGV: JSON, fence value, member leaving KEYS[3] (or empty), member joining KEYS[4] (or empty).
 */
const STORE_FENCED = `
if ARGV[2] ~= '' and redis.call('GET', KEYS[2]) ~= ARGV[2] then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
if ARGV[3] ~= '' then redis.call('SREM', KEYS[3], ARGV[3]) end
if ARGV[4] ~= '' then redis.call('SADD', KEYS[4], ARGV[4]) end
return 1
`;

/** Options for {@link RedisDeploymentStore}. */
export interface RedisDeploymentStoreOptions {
  /** Key prefix (default `ts:`). */
  prefix?: string;
  clock?: Clock;
}

/**
 * A minimal {@link DeploymentStore} on Redis (JSON per record, a set of running deployments).
 * It exists so the runner can be used and tested end to end before the inventory implements the
 * port; the inventory should replace it.
 */
export class RedisDeploymentStore implements DeploymentStore {
  private readonly redis: Redis;
  private readonly prefix: string;
  private readonly clock: Clock;

  constructor(redis: Redis, opts: RedisDeploymentStoreOptions = {}) {
    this.redis = redis;
    this.prefix = opts.prefix ?? 'ts:';
    this.clock = opts.clock ?? systemClock;
  }

  private key(kind: string, id: string): string {
    return `${this.prefix}${kind}:${id}`;
  }

  private async read<T>(kind: string, id: string): Promise<T> {
    const raw = await this.redis.get(this.key(kind, id));
    if (!raw) throw new NotFoundError(kind, id);
    return JSON.parse(raw) as T;
  }

  private stamp<T extends object>(fields: T, id?: string): T & RecordMeta {
    const at = this.clock.now().toISOString();
    return { ...fields, id: id ?? randomUUID(), revision: 1, createdAt: at, updatedAt: at };
  }

  /** Writes the record in one step with its status-set move, refused when `fence` no longer holds. */
  private async store(kind: string, record: RecordMeta, fence?: LeaseFence, move?: { from?: string; to?: string }): Promise<void> {
    const sets = (status?: string): string => `${this.prefix}deployments:${status ?? '-'}`;
    const stored = await this.redis.eval(
      STORE_FENCED, 4, this.key(kind, record.id), fence?.key ?? `${this.prefix}no-fence`, sets(move?.from), sets(move?.to),
      JSON.stringify(record), fence?.value ?? '', move?.from ? record.id : '', move?.to ? record.id : '',
    );
    if (stored !== 1 && fence) throw new LockLostError(fence.packageId, fence.token);
  }

  private async merge<T extends RecordMeta>(kind: string, id: string, patch: Partial<T>, fence?: LeaseFence, moves?: (cur: T, next: T) => { from?: string; to?: string }): Promise<T> {
    const cur = await this.read<T>(kind, id);
    const next = { ...cur, ...patch, id: cur.id, createdAt: cur.createdAt, revision: cur.revision + 1, updatedAt: this.clock.now().toISOString() } as T;
    await this.store(kind, next, fence, moves?.(cur, next));
    return next;
  }

  /** Stores a new package (setup for the demo and tests). */
  async createPackage(fields: Fields<Package>, id?: string): Promise<Package> {
    const pkg = this.stamp(fields, id);
    await this.redis.set(this.key('package', pkg.id), JSON.stringify(pkg));
    return pkg;
  }

  /** Stores a new environment (setup for the demo and tests). */
  async createEnvironment(fields: Fields<Environment>, id?: string): Promise<Environment> {
    const env = this.stamp(fields, id);
    await this.redis.set(this.key('environment', env.id), JSON.stringify(env));
    return env;
  }

  getPackage(id: string): Promise<Package> {
    return this.read<Package>('package', id);
  }

  getEnvironment(id: string): Promise<Environment> {
    return this.read<Environment>('environment', id);
  }

  updatePackage(id: string, patch: Partial<Fields<Package>>, fence?: LeaseFence): Promise<Package> {
    return this.merge<Package>('package', id, patch, fence);
  }

  async createDeployment(input: Fields<Deployment>, fence?: LeaseFence): Promise<Deployment> {
    const d = this.stamp(input);
    await this.store('deployment', d, fence, { to: d.status });
    return d;
  }

  updateDeployment(id: string, patch: Partial<Fields<Deployment>>, fence?: LeaseFence): Promise<Deployment> {
    return this.merge<Deployment>('deployment', id, patch, fence, (cur, next) => (cur.status === next.status ? {} : { from: cur.status, to: next.status }));
  }

  getDeployment(id: string): Promise<Deployment> {
    return this.read<Deployment>('deployment', id);
  }

  async listDeploymentsByStatus(status: DeploymentStatus): Promise<Deployment[]> {
    const ids = await this.redis.smembers(`${this.prefix}deployments:${status}`);
    const out: Deployment[] = [];
    for (const id of ids.sort()) {
      const d = await this.getDeployment(id).catch(() => undefined);
      if (d && d.status === status) out.push(d);
    }
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// The port on the real inventory

/**
 * {@link DeploymentStore} on the {@link Inventory}: every write is an audited `modify` (the
 * engine's own changes: status, artifacts, cost, deployment progress). Audit events carry
 * `ctx` (actor `engine` by default); deployment step logs stay out of the audit log.
 */
export class InventoryDeploymentStore implements DeploymentStore {
  private readonly inventory: Inventory;
  private readonly ctx: AuditContext;

  constructor(inventory: Inventory, ctx: AuditContext = { actor: 'engine', surface: 'engine' }) {
    this.inventory = inventory;
    this.ctx = ctx;
  }

  getPackage(id: string): Promise<Package> {
    return this.inventory.get('package', id);
  }

  getEnvironment(id: string): Promise<Environment> {
    return this.inventory.get('environment', id);
  }

  updatePackage(id: string, patch: Partial<Fields<Package>>, fence?: LeaseFence): Promise<Package> {
    return this.inventory.modify('package', id, (draft) => ({ ...draft, ...patch }), this.ctx, { action: 'package.deploy', ...(fence ? { fence } : {}) });
  }

  async createDeployment(input: Fields<Deployment>, fence?: LeaseFence): Promise<Deployment> {
    const ctx = input.request ? { ...this.ctx, request: input.request } : this.ctx;
    const created = await this.inventory.createDeployment(
      { package: input.package, action: input.action, status: input.status, ...(input.request ? { request: input.request } : {}) },
      ctx,
      fence,
    );
    return this.inventory.modify('deployment', created.id, (draft) => ({ ...draft, ...input }), ctx, { current: created, ...(fence ? { fence } : {}) });
  }

  updateDeployment(id: string, patch: Partial<Fields<Deployment>>, fence?: LeaseFence, current?: Deployment): Promise<Deployment> {
    return this.inventory.modify('deployment', id, (draft) => ({ ...draft, ...patch }), this.ctx, { ...(current ? { current } : {}), ...(fence ? { fence } : {}) });
  }

  getDeployment(id: string): Promise<Deployment> {
    return this.inventory.get('deployment', id);
  }

  listDeploymentsByStatus(status: DeploymentStatus): Promise<Deployment[]> {
    return this.inventory.list('deployment', { status });
  }
}
