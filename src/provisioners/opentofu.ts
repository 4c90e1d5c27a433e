/**
 * The `opentofu` and `terraform` provisioners: drive the CLI in the step's working directory.
 *
 * - plan:    `init -input=false -no-color`, then
 *            `plan -input=false -no-color -out=tfplan -state=<MD_STATE_DIR>/terraform.tfstate [-destroy]`,
 *            then `show -json -no-color tfplan` (its stdout is the plan JSON).
 * - apply:   `apply -input=false -no-color -state=<state> tfplan`, then
 *            `output -json -no-color -state=<state>`: outputs named like the bundle's artifacts
 *            become those artifacts, and an output named `artifacts` (an object) adds its keys.
 * - destroy: `apply` of the destroy plan made by `plan` in destroy mode.
 * - observe: `init`, then `plan -refresh-only -input=false -no-color -out=tfplan -state=...`,
 *            then `show -json -no-color tfplan`, whose `resource_drift` is mapped back to params
 *            through the module's variables (see refresh-drift.ts). Nothing is applied.
 *
 * Params, connections and metadata are `*.auto.tfvars.json` files in the working directory,
 * which the CLI loads by itself. State lives per package and step in `MD_STATE_DIR` (the local
 * backend with `-state`), so every deployment can use a fresh working directory. Sensitive
 * outputs are registered with the run's redactor before anything is logged.
 */
import { join } from 'node:path';
import { DeploymentFailedError } from '../engine/errors.ts';
import { describeFailure, excerptOf, runProcess } from './run-process.ts';
import { readFile } from 'node:fs/promises';
import { observationFromRefreshPlan } from './refresh-drift.ts';
import { stepEnv, type ApplyResult, type ObserveResult, type PlanResult, type Provisioner, type StepContext } from './types.ts';

/** Options for {@link OpenTofuProvisioner}. */
export interface OpenTofuProvisionerOptions {
  /** The CLI binary: a path or a name on PATH (default `tofu`; `terraform` for the terraform provisioner). */
  binary?: string;
  /** Name used in logs and errors (`opentofu` or `terraform`). */
  name?: string;
  /** The service's environment, of which only PATH/HOME/LANG/TS_TARGET_* are passed on (default `process.env`). */
  baseEnv?: NodeJS.ProcessEnv;
  /** Timeout of each CLI command, in seconds (default 1800). */
  timeoutSeconds?: number;
  /** Extra variables for the CLI, for example `TF_PLUGIN_CACHE_DIR` (never secrets). */
  extraEnv?: Record<string, string>;
}

/** File name of the saved plan inside the working directory. */
export const PLAN_FILE_NAME = 'tfplan';
/** File name of the state inside the step's state directory. */
export const STATE_FILE_NAME = 'terraform.tfstate';

interface OutputValue {
  sensitive?: boolean;
  type?: unknown;
  value?: unknown;
}

/** Drives the OpenTofu (or Terraform) CLI; see the module comment for the exact commands. */
export class OpenTofuProvisioner implements Provisioner {
  private readonly binary: string;
  private readonly name: string;
  private readonly baseEnv: NodeJS.ProcessEnv;
  private readonly timeoutMs: number;
  private readonly extraEnv: Record<string, string>;

  constructor(opts: OpenTofuProvisionerOptions = {}) {
    this.binary = opts.binary ?? 'tofu';
    this.name = opts.name ?? 'opentofu';
    this.baseEnv = opts.baseEnv ?? process.env;
    this.timeoutMs = (opts.timeoutSeconds ?? 1800) * 1000;
    this.extraEnv = opts.extraEnv ?? {};
  }

  /** init, plan to `tfplan`, and `show -json` of it. */
  async plan(ctx: StepContext): Promise<PlanResult> {
    await this.cli(ctx, 'plan', ['init', '-input=false', '-no-color'], true);
    const args = ['plan', '-input=false', '-no-color', `-out=${PLAN_FILE_NAME}`, `-state=${this.statePath(ctx)}`];
    if (ctx.mode === 'destroy') args.push('-destroy');
    await this.cli(ctx, 'plan', args, true);
    const shown = await this.cli(ctx, 'plan', ['show', '-json', '-no-color', PLAN_FILE_NAME], false);
    return { planJson: shown };
  }

  /** Applies the saved plan, then reads the outputs into artifacts. */
  async apply(ctx: StepContext): Promise<ApplyResult> {
    await this.cli(ctx, 'apply', ['apply', '-input=false', '-no-color', `-state=${this.statePath(ctx)}`, PLAN_FILE_NAME], true);
    const text = await this.cli(ctx, 'apply', ['output', '-json', '-no-color', `-state=${this.statePath(ctx)}`], false);
    return { artifacts: this.artifactsFromOutputs(text, ctx) };
  }

  /** Applies the destroy plan saved by `plan` in destroy mode. */
  async destroy(ctx: StepContext): Promise<void> {
    await this.cli(ctx, 'destroy', ['apply', '-input=false', '-no-color', `-state=${this.statePath(ctx)}`, PLAN_FILE_NAME], true);
  }

  /** A refresh-only plan, shown as JSON: what reality holds against the state. Applies nothing. */
  async observe(ctx: StepContext): Promise<ObserveResult> {
    await this.cli(ctx, 'observe', ['init', '-input=false', '-no-color'], true);
    await this.cli(ctx, 'observe', ['plan', '-refresh-only', '-input=false', '-no-color', `-out=${PLAN_FILE_NAME}`, `-state=${this.statePath(ctx)}`], true);
    const shown = await this.cli(ctx, 'observe', ['show', '-json', '-no-color', PLAN_FILE_NAME], false);
    let plan: unknown;
    try {
      plan = JSON.parse(shown);
    } catch {
      throw new DeploymentFailedError(ctx.stepName, `step ${ctx.stepName}: ${this.name} show -json printed something that is not JSON`, '');
    }
    const params = JSON.parse(await readFile(ctx.files.params, 'utf8')) as Record<string, unknown>;
    return observationFromRefreshPlan(plan, Object.keys(params));
  }

  private statePath(ctx: StepContext): string {
    return join(ctx.stateDir, STATE_FILE_NAME);
  }

  /** Maps `output -json` to artifacts: outputs named like declared artifacts, plus the keys of an `artifacts` output. */
  private artifactsFromOutputs(text: string, ctx: StepContext): Record<string, unknown> {
    let outputs: Record<string, OutputValue>;
    try {
      const parsed: unknown = JSON.parse(text.trim() || '{}');
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
      outputs = parsed as Record<string, OutputValue>;
    } catch {
      throw new DeploymentFailedError(ctx.stepName, `step ${ctx.stepName}: ${this.name} output -json printed malformed JSON`, '');
    }
    // Register sensitive outputs first: nothing derived from them may be logged in clear.
    for (const out of Object.values(outputs)) {
      if (out && out.sensitive) ctx.redactor.addSensitiveFields(out.value, ['']);
    }
    const artifacts: Record<string, unknown> = {};
    const bundled = outputs.artifacts?.value;
    if (bundled && typeof bundled === 'object' && !Array.isArray(bundled)) Object.assign(artifacts, bundled);
    for (const name of ctx.artifactNames) {
      if (name in outputs) artifacts[name] = outputs[name].value;
    }
    ctx.redactor.addSecretsUnderSensitiveKeys(artifacts);
    return artifacts;
  }

  /** Runs one CLI command; `logStdout` for human output, otherwise stdout is returned (machine output). */
  private async cli(ctx: StepContext, phase: 'plan' | 'apply' | 'destroy' | 'observe', args: string[], logStdout: boolean): Promise<string> {
    ctx.log({ at: ctx.clock.now().toISOString(), stream: 'engine', line: `${this.name} ${args.join(' ')}` });
    const env = { ...stepEnv(this.baseEnv, ctx, phase), TF_IN_AUTOMATION: '1', TF_INPUT: '0', ...this.extraEnv };
    const r = await runProcess({
      command: [this.binary, ...args],
      cwd: ctx.workDir,
      env,
      timeoutMs: this.timeoutMs,
      redactor: ctx.redactor,
      clock: ctx.clock,
      onLog: (l) => ctx.log(l),
      logStdout,
      signal: ctx.signal,
    });
    const failure = describeFailure(r, this.timeoutMs);
    if (failure) {
      throw new DeploymentFailedError(ctx.stepName, `step ${ctx.stepName}: ${this.name} ${args[0]} ${failure}`, excerptOf(r.tail));
    }
    return r.stdout;
  }
}
