/**
 * The provisioner port: what the deployment runner calls to run a bundle step and to scan a plan.
 * Defined here, on the ground floor, and implemented in `src/provisioners/` (exec, opentofu,
 * terraform, scanners), so the engine never imports a provisioner's implementation.
 *
 * The runner prepares a step's working directory (the step folder with the params, connections and
 * metadata files written into it) and then calls `plan`, and later `apply` or `destroy`, in that
 * same directory. Provisioners never see the inventory, the lock or the request.
 */
import type { Bundle, BundleStep, Clock, Labels, PolicyDecision, StepLogLine } from './model.ts';
import type { Redactor } from './redact.ts';

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
 * What `observe` returns: what reality holds, read without changing anything. `params` holds
 * the params it could read (a param left out was not observed: it counts as unchanged);
 * `attributes` holds resource attributes no param models (resource address -> attribute -> value).
 */
export interface ObserveResult {
  params: Record<string, unknown>;
  attributes: Record<string, Record<string, unknown>>;
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
  /**
   * Reads reality for the step without changing it (a drift check). Absent: the provisioner
   * cannot observe; a step whose bundle declares no way to observe throws `DeploymentFailedError`.
   */
  observe?(ctx: StepContext): Promise<ObserveResult>;
}

/** What the runner hands the plan scanner after every plan. */
export interface ScanInput {
  bundle: Pick<Bundle, 'raw' | 'file' | 'dir'>;
  /** Labels of the package's environment. */
  labels: Labels;
  /** Plan JSON files to scan, one per step (step path -> absolute file). */
  planFiles: { step: string; file: string }[];
  redactor?: Redactor;
  clock: Clock;
  signal?: AbortSignal;
}

/** Runs a bundle's scanners over its plan: one decision per scanner (allow, warn or deny). */
export interface PlanScanner {
  scan(input: ScanInput): Promise<PolicyDecision[]>;
}

/** The last lines of a step's output, shortened for an error message or a ticket. */
export function excerptOf(lines: readonly string[], maxChars = 2000, maxLines = 20): string {
  let out = lines.slice(-maxLines).join('\n');
  if (out.length > maxChars) out = '…' + out.slice(out.length - maxChars);
  return out;
}
