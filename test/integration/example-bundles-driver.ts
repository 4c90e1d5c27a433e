import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { systemClock, type BundleStep, type StepLogLine } from '../../src/engine/model.ts';
import { parsePlanJson, summarizePlan, type PlanJson } from '../../src/engine/plan.ts';
import { Redactor } from '../../src/engine/redact.ts';
import { ExecProvisioner } from '../../src/provisioners/exec.ts';
import type { StepContext } from '../../src/provisioners/types.ts';
import type { PlanSummary } from '../../src/engine/model.ts';
import { BundleRegistry } from '../../src/engine/registry/index.ts';

/**
 * A redactor that blanks nothing, so the captured log lines are exactly what the step wrote on
 * stderr: a test asserting "the password is not in the log" then checks the bundle's own
 * discipline, not the engine's safety net.
 */
class RawRedactor extends Redactor {
  override redactText(text: string): string {
    return text;
  }
}

/** The example bundles folder of this repository. */
export const EXAMPLE_BUNDLES_DIR = fileURLToPath(new URL('../../examples/bundles/', import.meta.url));

/** One step's run: what it printed on stderr (redacted by the engine) and on stdout. */
export interface StepOutcome {
  plan: PlanJson;
  summary: PlanSummary;
  /** Every log line the provisioner captured (plan and apply/destroy). */
  logs: StepLogLine[];
  /** Artifacts printed by apply ({} for plan-only and destroy). */
  artifacts: Record<string, unknown>;
}

/** What one deployment of a package hands its single step. */
export interface PackageInput {
  params: Record<string, unknown>;
  connections?: Record<string, unknown>;
}

/**
 * Runs an example bundle's (single) exec step the way the deployment runner does: a fresh copy
 * of the step folder per deployment with the three input files, a state directory that
 * survives across deployments of the package, and the real {@link ExecProvisioner}.
 */
export class ExampleBundlePackage {
  private readonly bundleDir: string;
  private readonly step: BundleStep;
  private readonly meta: { name: string; version: string };
  private readonly stateDir: string;
  private readonly provisioner: ExecProvisioner;
  private deployments = 0;

  /**
   * @param bundlePath folder of the bundle under examples/bundles (e.g. `checkout-api/2.14.0`)
   * @param packageName name of the package, used as `md_metadata.name_prefix`
   * @param workRoot a temporary folder owned by the test file (state and work dirs go there)
   * @param targetEnv the `TS_TARGET_*` variables ops would set
   */
  constructor(
    bundlePath: string,
    private readonly packageName: string,
    private readonly workRoot: string,
    targetEnv: Record<string, string>,
  ) {
    this.bundleDir = join(EXAMPLE_BUNDLES_DIR, bundlePath);
    const doc = parseYaml(readFileSync(join(this.bundleDir, 'massdriver.yaml'), 'utf8')) as {
      name: string;
      version: string;
      steps: BundleStep[];
    };
    this.meta = { name: doc.name, version: doc.version };
    this.step = doc.steps[0]!;
    this.stateDir = join(workRoot, packageName, 'state', this.step.path);
    this.provisioner = new ExecProvisioner({ baseEnv: { PATH: process.env.PATH, HOME: process.env.HOME, LANG: 'C.UTF-8', ...targetEnv } });
  }

  /** Bundle version this package runs (a promotion makes a new {@link ExampleBundlePackage}). */
  get version(): string {
    return this.meta.version;
  }

  private async context(mode: 'apply' | 'destroy', input: PackageInput, logs: StepLogLine[]): Promise<StepContext> {
    this.deployments += 1;
    const deployment = `dep-${this.deployments}`;
    const workDir = join(this.workRoot, this.packageName, 'work', `${deployment}-${Math.random().toString(36).slice(2, 8)}`);
    await mkdir(join(workDir, '..'), { recursive: true });
    await cp(join(this.bundleDir, this.step.path), workDir, { recursive: true });
    await mkdir(this.stateDir, { recursive: true });
    const files = {
      params: join(workDir, '_params.auto.tfvars.json'),
      connections: join(workDir, '_connections.auto.tfvars.json'),
      metadata: join(workDir, '_md_variables.auto.tfvars.json'),
    };
    await writeFile(files.params, JSON.stringify(input.params));
    await writeFile(files.connections, JSON.stringify(input.connections ?? {}));
    await writeFile(
      files.metadata,
      JSON.stringify({
        md_metadata: {
          name_prefix: this.packageName,
          package: this.packageName,
          project: 'checkout',
          environment: 'staging',
          labels: { production: false },
          bundle: this.meta.name,
          version: this.meta.version,
          deployment,
        },
      }),
    );
    const redactor = new RawRedactor();
    return {
      step: this.step,
      stepName: this.step.path,
      mode,
      workDir,
      stateDir: this.stateDir,
      files,
      planFile: join(workDir, '..', `${deployment}.plan.json`),
      artifactNames: [],
      redactor,
      clock: systemClock,
      log: (line) => logs.push(line),
      signal: new AbortController().signal,
    };
  }

  private async planIn(ctx: StepContext): Promise<{ plan: PlanJson; summary: PlanSummary }> {
    const { planJson } = await this.provisioner.plan(ctx);
    const plan = parsePlanJson(planJson, { step: ctx.stepName });
    await writeFile(ctx.planFile, planJson);
    return { plan, summary: summarizePlan(plan) };
  }

  /** Plans a create/update (or, with `mode: 'destroy'`, a destroy) without changing anything. */
  async plan(input: PackageInput, mode: 'apply' | 'destroy' = 'apply'): Promise<StepOutcome> {
    const logs: StepLogLine[] = [];
    const ctx = await this.context(mode, input, logs);
    return { ...(await this.planIn(ctx)), logs, artifacts: {} };
  }

  /** Plans, then applies that plan in the same working directory; returns the artifacts. */
  async apply(input: PackageInput): Promise<StepOutcome> {
    const logs: StepLogLine[] = [];
    const ctx = await this.context('apply', input, logs);
    const planned = await this.planIn(ctx);
    const { artifacts } = await this.provisioner.apply(ctx);
    return { ...planned, logs, artifacts };
  }

  /** Applies a plan saved earlier (approval happened in between): `approved` is that plan's JSON. */
  async applyApproved(input: PackageInput, approved: PlanJson): Promise<StepOutcome> {
    const logs: StepLogLine[] = [];
    const ctx = await this.context('apply', input, logs);
    await writeFile(ctx.planFile, JSON.stringify(approved));
    const { artifacts } = await this.provisioner.apply(ctx);
    return { plan: approved, summary: summarizePlan(approved), logs, artifacts };
  }

  /** Plans a destroy, then destroys. */
  async destroy(input: PackageInput): Promise<StepOutcome> {
    const logs: StepLogLine[] = [];
    const ctx = await this.context('destroy', input, logs);
    const planned = await this.planIn(ctx);
    await this.provisioner.destroy(ctx);
    return { ...planned, logs, artifacts: {} };
  }
}

/** A temporary folder for one test file's packages; `remove()` deletes it. */
export async function makeWorkRoot(): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'example-bundles-'));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** `address -> actions joined with +` for terse assertions. */
export function actionsByAddress(plan: PlanJson): Record<string, string> {
  return Object.fromEntries((plan.resource_changes ?? []).map((rc) => [rc.address, rc.change.actions.join('+')]));
}

/** Every line of every stream in `logs`, joined. */
export function allLogText(logs: StepLogLine[]): string {
  return logs.map((l) => l.line).join('\n');
}

/** A registry over examples/bundles and the project's own artifact definitions, loaded; throws on any problem. */
export async function loadExampleRegistry(): Promise<BundleRegistry> {
  const registry = new BundleRegistry({ bundlePaths: [EXAMPLE_BUNDLES_DIR], artifactDefinitionPaths: [] });
  const issues = await registry.loadAll();
  if (issues.length) throw new Error(`example bundles do not load: ${JSON.stringify(issues, null, 2)}`);
  return registry;
}
