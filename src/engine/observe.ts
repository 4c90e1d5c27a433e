/**
 * Observing reality for a drift check: each step of the package's bundle is asked, through its
 * provisioner's `observe`, what the real objects hold now, under the package's lock (never while
 * an apply runs) and recorded as a deployment with action `observe`. Nothing is applied and the
 * package is not written here: the caller (the drift check in src/workflow/drift.ts) stores the
 * observation together with what it owes, in one atomic write.
 *
 * A step's working directory gets the package's LAST APPLIED params (they name the real objects)
 * and its connections, like a plan's. A step that fails, times out or prints something that is
 * not an observation fails the check naming the step.
 */
import { join, resolve } from 'node:path';
import { DeploymentFailedError, UserError } from './errors.ts';
import { systemClock, type Bundle, type BundleStep, type Clock, type Deployment, type DeploymentStep, type Environment, type Package } from './model.ts';
import { provisionerName, safeSegment, slug, STEP_FILES, type BundleLookup, type DeploymentStore } from './deployments.ts';
import type { PackageLock } from './package-lock.ts';
import type { ObserveResult, Provisioner, StepContext } from './provisioner-port.ts';
import { Redactor } from './redact.ts';
import { copyStepFolder, makePrivateFolder, removeWorkFolder, writeStepFile } from './work-folder.ts';

/** Constructor dependencies of {@link ObserveRunner} (the deployment runner's, less what applies). */
export interface ObserveRunnerDeps {
  store: DeploymentStore;
  getBundle: BundleLookup;
  provisioners: Record<string, Provisioner>;
  lock: PackageLock;
  workRoot: string;
  stateRoot: string;
  clock?: Clock;
}

/** What one observation of a package read, or why it could not. */
export interface Observation {
  deployment: Deployment;
  /** Params read from reality (merged over the steps); absent params were not observed. */
  params: Record<string, unknown>;
  attributes: Record<string, Record<string, unknown>>;
  /** The failure (the step, a redacted excerpt), when the check could not run. */
  error?: { step?: string; message: string; excerpt?: string };
}

/** Runs the observe side of a package's bundle steps; see the module comment. */
export class ObserveRunner {
  private readonly clock: Clock;

  constructor(private readonly deps: ObserveRunnerDeps) {
    this.clock = deps.clock ?? systemClock;
  }

  /** Observes `packageId` under its lock; a step failure comes back in `error`, other errors throw. */
  async observe(packageId: string): Promise<Observation> {
    const lease = await this.deps.lock.waitForLock(packageId);
    try {
      const pkg = await this.deps.store.getPackage(packageId);
      const environment = await this.deps.store.getEnvironment(pkg.environment);
      const bundle = await this.deps.getBundle(pkg.bundle, pkg.version);
      const steps: DeploymentStep[] = bundle.steps.map((s) => ({ path: s.path, provisioner: s.provisioner, status: 'pending', log: [] }));
      const deployment = await this.deps.store.createDeployment({ package: pkg.id, action: 'observe', status: 'running', steps, fencingToken: lease.token, startedAt: this.now() });
      const dir = join(this.deps.workRoot, safeSegment(deployment.id));
      try {
        const seen = await this.observeSteps({ pkg, environment, bundle, deployment, dir, steps });
        const done = await this.deps.store.updateDeployment(deployment.id, { status: 'succeeded', finishedAt: this.now(), steps });
        return { deployment: done, ...seen };
      } catch (err) {
        if (!(err instanceof UserError)) throw err;
        const error = { ...(err instanceof DeploymentFailedError ? { step: err.step, excerpt: err.excerpt } : {}), message: err.message };
        const failed = await this.deps.store.updateDeployment(deployment.id, { status: 'failed', finishedAt: this.now(), steps, error });
        return { deployment: failed, params: {}, attributes: {}, error };
      } finally {
        await removeWorkFolder(dir).catch(() => undefined);
      }
    } finally {
      await lease.release().catch(() => false);
    }
  }

  private now(): string {
    return this.clock.now().toISOString();
  }

  /** Observes every step in order; later steps' params win. */
  private async observeSteps(run: ObserveRun): Promise<ObserveResult> {
    const out: ObserveResult = { params: {}, attributes: {} };
    const connections = await this.connections(run.pkg);
    for (const [index, step] of run.bundle.steps.entries()) {
      run.steps[index] = { ...run.steps[index]!, status: 'running', startedAt: this.now() };
      const provisioner = this.deps.provisioners[provisionerName(step)];
      if (!provisioner?.observe) {
        run.steps[index] = { ...run.steps[index]!, status: 'failed', error: 'cannot observe' };
        throw new DeploymentFailedError(step.path, `step ${step.path}: provisioner "${provisionerName(step)}" cannot observe reality here`, '');
      }
      const ctx = await this.prepare(run, step, index, connections);
      try {
        const seen = await provisioner.observe(ctx);
        Object.assign(out.params, seen.params);
        for (const [address, attrs] of Object.entries(seen.attributes)) out.attributes[address] = { ...out.attributes[address], ...attrs };
        run.steps[index] = { ...run.steps[index]!, status: 'succeeded', finishedAt: this.now() };
      } catch (err) {
        run.steps[index] = { ...run.steps[index]!, status: 'failed', finishedAt: this.now(), error: (err as Error).message };
        throw err;
      }
    }
    return out;
  }

  /** Connection name -> the connected artifact's data (what a plan of the package would get). */
  private async connections(pkg: Package): Promise<Record<string, unknown>> {
    const out: Record<string, unknown> = {};
    for (const [name, binding] of Object.entries(pkg.connections ?? {})) {
      const source = await this.deps.store.getPackage(binding.package);
      out[name] = source.artifacts?.[binding.artifact] ?? {};
    }
    return out;
  }

  /** A fresh copy of the step folder with the input files (last applied params), as a plan gets. */
  private async prepare(run: ObserveRun, step: BundleStep, index: number, connections: Record<string, unknown>): Promise<StepContext> {
    const { pkg, environment, bundle, deployment, dir } = run;
    const name = `${index}-${safeSegment(slug(step.path) || 'step')}`;
    const workDir = join(dir, name);
    await copyStepFolder(resolve(bundle.dir, step.path), workDir);
    const stateDir = join(this.deps.stateRoot, safeSegment(pkg.id), safeSegment(slug(step.path) || 'step'));
    makePrivateFolder(stateDir);
    const files = { params: join(workDir, STEP_FILES.params), connections: join(workDir, STEP_FILES.connections), metadata: join(workDir, STEP_FILES.metadata) };
    const md_metadata = {
      name_prefix: slug(`${pkg.project}-${environment.name}-${pkg.name}`),
      package: pkg.name, project: pkg.project, environment: environment.name, labels: environment.labels,
      bundle: bundle.name, version: bundle.version, deployment: deployment.id,
    };
    await writeStepFile(files.params, JSON.stringify(pkg.lastAppliedParams ?? pkg.desiredParams ?? {}, null, 2));
    await writeStepFile(files.connections, JSON.stringify(connections, null, 2));
    await writeStepFile(files.metadata, JSON.stringify({ md_metadata }, null, 2));
    const redactor = new Redactor([]);
    redactor.addSecretsUnderSensitiveKeys(connections);
    const log = (line: DeploymentStep['log'][number]): void => void run.steps[index]!.log.push(line);
    return {
      step, stepName: step.path, mode: 'apply', workDir, stateDir, files, planFile: join(dir, `${name}.plan.json`),
      artifactNames: Object.keys(bundle.artifactTypes ?? {}), redactor, clock: this.clock, log, signal: new AbortController().signal,
    };
  }
}

/** One observation in progress. */
interface ObserveRun {
  pkg: Package;
  environment: Environment;
  bundle: Bundle;
  deployment: Deployment;
  dir: string;
  steps: DeploymentStep[];
}
