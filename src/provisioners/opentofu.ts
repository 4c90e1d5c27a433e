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
 * which the CLI loads by itself. State lives per package and step: by default in `MD_STATE_DIR`
 * (the local backend with `-state`), so every deployment can use a fresh working directory; with a
 * configured remote backend ({@link StateBackend}: `pg` on the project's PostgreSQL, or `http`)
 * it lives there instead, so a package planned on one worker host can be applied on another.
 * Then the working directory gets an override file declaring the backend and a backend config
 * file naming the package's and step's own state (`init -reconfigure -backend-config=...`), and
 * no `-state` flag is passed. Sensitive outputs and the backend's credentials are registered with
 * the run's redactor before anything is logged.
 */
import { writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
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
  /** Where state lives (default: local files in each step's state directory). */
  backend?: StateBackend;
}

/**
 * Where OpenTofu keeps state. `local`: a file per package and step in `MD_STATE_DIR` (one worker
 * host). `pg`: the PostgreSQL backend, one schema per package and step (`<schemaPrefix>_<package>_<step>`).
 * `http`: an HTTP state service, one address per package and step (`<address>/<package>/<step>`),
 * locked and unlocked at the same address.
 */
export type StateBackend =
  | { type: 'local' }
  | { type: 'pg'; connStr: string; schemaPrefix?: string }
  | { type: 'http'; address: string; username?: string; password?: string };

/** The backend config file written into the working directory for a remote backend. */
export const BACKEND_CONFIG_FILE = 'ts-state.tfbackend';
/** The override file declaring the remote backend, so a bundle's module need not declare it. */
export const BACKEND_OVERRIDE_FILE = 'ts_state_override.tf';

/** The name of a step's state in a remote backend: `<package>/<step>`, from its state directory. */
export function stateName(stateDir: string): string {
  return `${basename(dirname(stateDir))}/${basename(stateDir)}`;
}

/** The override file and backend config file of a remote backend for the state named `name`; undefined for `local`. */
export function backendFiles(backend: StateBackend, name: string): { override: string; config: string } | undefined {
  if (backend.type === 'local') return undefined;
  const hcl = (pairs: [string, string | undefined][]) =>
    pairs.filter((p): p is [string, string] => p[1] !== undefined).map(([k, v]) => `${k} = ${JSON.stringify(v)}\n`).join('');
  const override = `terraform {\n  backend "${backend.type}" {}\n}\n`;
  if (backend.type === 'pg') {
    const schema = `${backend.schemaPrefix ?? 'ts_state'}_${name.replace(/[^A-Za-z0-9]+/g, '_')}`.toLowerCase();
    return { override, config: hcl([['conn_str', backend.connStr], ['schema_name', schema]]) };
  }
  const address = `${backend.address.replace(/\/+$/, '')}/${name.split('/').map(encodeURIComponent).join('/')}`;
  return {
    override,
    config: hcl([
      ['address', address],
      ['lock_address', address],
      ['unlock_address', address],
      ['username', backend.username],
      ['password', backend.password],
    ]),
  };
}

/** The command lines of one step run: `-state=<statePath>` with the local backend, the backend config file otherwise. */
export function commandLines(backend: StateBackend, statePath: string, mode: 'apply' | 'destroy') {
  const local = backend.type === 'local';
  const state = local ? [`-state=${statePath}`] : [];
  return {
    init: ['init', '-input=false', '-no-color', ...(local ? [] : ['-reconfigure', `-backend-config=${BACKEND_CONFIG_FILE}`])],
    plan: ['plan', '-input=false', '-no-color', `-out=${PLAN_FILE_NAME}`, ...state, ...(mode === 'destroy' ? ['-destroy'] : [])],
    show: ['show', '-json', '-no-color', PLAN_FILE_NAME],
    apply: ['apply', '-input=false', '-no-color', ...state, PLAN_FILE_NAME],
    output: ['output', '-json', '-no-color', ...state],
  };
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
  private readonly backend: StateBackend;

  constructor(opts: OpenTofuProvisionerOptions = {}) {
    this.binary = opts.binary ?? 'tofu';
    this.name = opts.name ?? 'opentofu';
    this.baseEnv = opts.baseEnv ?? process.env;
    this.timeoutMs = (opts.timeoutSeconds ?? 1800) * 1000;
    this.extraEnv = opts.extraEnv ?? {};
    this.backend = opts.backend ?? { type: 'local' };
  }

  /** init, plan to `tfplan`, and `show -json` of it. */
  async plan(ctx: StepContext): Promise<PlanResult> {
    const cmd = this.commands(ctx);
    await this.writeBackendFiles(ctx);
    await this.cli(ctx, 'plan', cmd.init, true);
    await this.cli(ctx, 'plan', cmd.plan, true);
    const shown = await this.cli(ctx, 'plan', cmd.show, false);
    return { planJson: shown };
  }

  /** Applies the saved plan, then reads the outputs into artifacts. */
  async apply(ctx: StepContext): Promise<ApplyResult> {
    const cmd = this.commands(ctx);
    await this.cli(ctx, 'apply', cmd.apply, true);
    const text = await this.cli(ctx, 'apply', cmd.output, false);
    return { artifacts: this.artifactsFromOutputs(text, ctx) };
  }

  /** Applies the destroy plan saved by `plan` in destroy mode. */
  async destroy(ctx: StepContext): Promise<void> {
    await this.cli(ctx, 'destroy', this.commands(ctx).apply, true);
  }

  /** A refresh-only plan, shown as JSON: what reality holds against the state. Applies nothing. */
  async observe(ctx: StepContext): Promise<ObserveResult> {
    // The same backend as plan and apply: a refresh-only plan of the state they wrote.
    const lines = commandLines(this.backend, join(ctx.stateDir, STATE_FILE_NAME), 'apply');
    await this.writeBackendFiles(ctx);
    await this.cli(ctx, 'observe', lines.init, true);
    await this.cli(ctx, 'observe', [...lines.plan.slice(0, 1), '-refresh-only', ...lines.plan.slice(1)], true);
    const shown = await this.cli(ctx, 'observe', lines.show, false);
    let plan: unknown;
    try {
      plan = JSON.parse(shown);
    } catch {
      throw new DeploymentFailedError(ctx.stepName, `step ${ctx.stepName}: ${this.name} show -json printed something that is not JSON`, '');
    }
    const params = JSON.parse(await readFile(ctx.files.params, 'utf8')) as Record<string, unknown>;
    return observationFromRefreshPlan(plan, Object.keys(params));
  }

  private commands(ctx: StepContext): ReturnType<typeof commandLines> {
    return commandLines(this.backend, join(ctx.stateDir, STATE_FILE_NAME), ctx.mode);
  }

  /** With a remote backend: the override and backend config files (credentials registered as secrets first). */
  private async writeBackendFiles(ctx: StepContext): Promise<void> {
    const files = backendFiles(this.backend, stateName(ctx.stateDir));
    if (!files) return;
    if (this.backend.type === 'pg') ctx.redactor.addSecret(this.backend.connStr);
    if (this.backend.type === 'http') ctx.redactor.addSecret(this.backend.password);
    await writeFile(join(ctx.workDir, BACKEND_OVERRIDE_FILE), files.override);
    await writeFile(join(ctx.workDir, BACKEND_CONFIG_FILE), files.config, { mode: 0o600 });
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
