/**
 * The one small interface every provisioner implements. The deployment runner prepares a step's
 * working directory (a fresh copy of the step folder with the params, connections and metadata
 * files written into it) and then calls `plan`, and later `apply` or `destroy`, in that same
 * directory. Provisioners never see the inventory, the lock or the request.
 */
import type { BundleStep, Clock, StepLogLine } from '../engine/model.ts';
import type { Redactor } from '../engine/redact.ts';

/** The files the engine wrote into the working directory (absolute paths). */
export interface StepFiles {
  /** `_params.auto.tfvars.json`: the package's params. */
  params: string;
  /** `_connections.auto.tfvars.json`: connection name -> the connected artifact's data. */
  connections: string;
  /** `_md_variables.auto.tfvars.json`: `{ md_metadata: {...} }`. */
  metadata: string;
}

/** Everything a provisioner needs to run one step once. */
export interface StepContext {
  /** The step as the bundle declares it. */
  step: BundleStep;
  /** Name used in logs and errors: the step's path. */
  stepName: string;
  /** What the plan is for: an apply (create/update) or a destroy. */
  mode: 'apply' | 'destroy';
  /** Per-deployment working directory: a fresh copy of the step folder. */
  workDir: string;
  /** Per-package, per-step directory that survives across deployments (state lives here). */
  stateDir: string;
  files: StepFiles;
  /**
   * Where the plan JSON of this deployment's plan run is (or will be) saved. `plan` does not
   * write it (the runner does, after validating); `apply`/`destroy` get it as `MD_PLAN_FILE`.
   */
  planFile: string;
  /** Artifact names the bundle declares (`artifacts.properties`), for mapping outputs. */
  artifactNames: string[];
  /** Blanks secrets in everything logged; provisioners add secrets they discover (sensitive outputs). */
  redactor: Redactor;
  clock: Clock;
  /** Receives each log line, already redacted. */
  log(line: StepLogLine): void;
  /** Aborted when the run must stop now (lost lock, shutdown): kill the child. */
  signal: AbortSignal;
}

/** What `plan` returns: the plan JSON text the step printed (validated by the runner). */
export interface PlanResult {
  planJson: string;
}

/** What `apply` returns: artifact name -> artifact data (not yet validated). */
export interface ApplyResult {
  artifacts: Record<string, unknown>;
}

/**
 * A provisioner runs one bundle step. Every method throws `DeploymentFailedError` (naming the
 * step, with a redacted excerpt) when the step fails; any other error is a system failure.
 */
export interface Provisioner {
  /** Plans the step (for `ctx.mode`) and returns Terraform/OpenTofu plan JSON. */
  plan(ctx: StepContext): Promise<PlanResult>;
  /** Applies the plan made by `plan` in the same working directory; returns the artifacts. */
  apply(ctx: StepContext): Promise<ApplyResult>;
  /** Destroys what the step manages, following the destroy plan made by `plan`. */
  destroy(ctx: StepContext): Promise<void>;
}

/** Engine-set environment variable names every command sees. */
export const MD_ENV = {
  action: 'MD_ACTION',
  planMode: 'MD_PLAN_MODE',
  paramsFile: 'MD_PARAMS_FILE',
  connectionsFile: 'MD_CONNECTIONS_FILE',
  metadataFile: 'MD_METADATA_FILE',
  stateDir: 'MD_STATE_DIR',
  planFile: 'MD_PLAN_FILE',
} as const;

/**
 * The only parts of the service's own environment a step sees: PATH, HOME, LANG and every
 * `TS_TARGET_*` variable (how ops tell a bundle which server to act on).
 */
export function inheritedEnv(base: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(base)) {
    if (v === undefined) continue;
    if (k === 'PATH' || k === 'HOME' || k === 'LANG' || k.startsWith('TS_TARGET_')) out[k] = v;
  }
  if (!out.PATH) out.PATH = '/usr/local/bin:/usr/bin:/bin';
  return out;
}

/** The environment of one command of a step: inherited variables plus the MD_* ones. */
export function stepEnv(base: NodeJS.ProcessEnv, ctx: StepContext, action: 'plan' | 'apply' | 'destroy'): Record<string, string> {
  const env = inheritedEnv(base);
  env[MD_ENV.action] = action;
  env[MD_ENV.planMode] = ctx.mode;
  env[MD_ENV.paramsFile] = ctx.files.params;
  env[MD_ENV.connectionsFile] = ctx.files.connections;
  env[MD_ENV.metadataFile] = ctx.files.metadata;
  env[MD_ENV.stateDir] = ctx.stateDir;
  if (action !== 'plan') env[MD_ENV.planFile] = ctx.planFile;
  return env;
}
