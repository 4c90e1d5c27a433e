/**
 * The `exec` provisioner: a bundle step declares its own plan/apply/destroy commands.
 *
 * ```yaml
 * steps:
 *   - path: src
 *     provisioner: exec
 *     config:
 *       plan: [node, plan.mjs]          # argv: run without a shell
 *       apply: ./apply.sh               # string: run with /bin/sh -c, written by the bundle author
 *       destroy: [node, destroy.mjs]
 *       observe: [node, observe.mjs]    # optional: reads reality for a drift check
 *       timeout_seconds: 120            # per command, default 300
 * ```
 *
 * Params, connections and metadata reach the commands only as files and `MD_*` environment
 * variables (see {@link stepEnv}); nothing is ever put on a command line. `plan` prints plan JSON
 * on stdout, `apply` prints the artifacts JSON object on stdout, logs go to stderr. `observe`
 * (optional) must change nothing and prints what reality holds as one JSON object:
 * `{ "params": { <param>: <observed value> }, "attributes": { <resource address>: { <attribute>: <value> } } }`
 * (params it cannot read are left out; `attributes` is optional and holds what no param models).
 */
import { z } from 'zod';
import { DeploymentFailedError } from '../engine/errors.ts';
import { describeFailure, excerptOf, runProcess, type RunProcessResult } from './run-process.ts';
import { parseObserveOutput } from './observe-output.ts';
import { stepEnv, type ApplyResult, type ObserveResult, type PlanResult, type Provisioner, type StepContext } from './types.ts';

const CommandSchema = z.union([
  z.string().min(1, 'must not be empty'),
  z.array(z.string()).min(1, 'must name a program'),
]);

/** Zod schema of an `exec` step's `config`. */
export const ExecConfigSchema = z.object({
  plan: CommandSchema,
  apply: CommandSchema,
  destroy: CommandSchema,
  observe: CommandSchema.optional(),
  timeout_seconds: z.number().positive().max(24 * 3600).optional(),
});

/** A validated `exec` step config. */
export type ExecConfig = z.infer<typeof ExecConfigSchema>;

/** Default timeout of one command. */
export const DEFAULT_EXEC_TIMEOUT_SECONDS = 300;

/** Options for {@link ExecProvisioner}. */
export interface ExecProvisionerOptions {
  /** The service's environment, of which only PATH/HOME/LANG/TS_TARGET_* are passed on (default `process.env`). */
  baseEnv?: NodeJS.ProcessEnv;
  /** Overrides every step's timeout (tests). */
  timeoutSeconds?: number;
}

/** Valid configs already read, by the bundle step's config object (a loaded bundle's steps do not change). */
const parsedConfigs = new WeakMap<object, ExecConfig>();

/**
 * Reads and validates an exec step's config; a bad config fails the deployment naming the step
 * and field. A config object read before is not validated again (the answer is the same).
 */
export function parseExecConfig(ctx: Pick<StepContext, 'step' | 'stepName'>): ExecConfig {
  const raw = ctx.step.config;
  const known = raw && typeof raw === 'object' ? parsedConfigs.get(raw) : undefined;
  if (known) return known;
  const parsed = ExecConfigSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    const problems = parsed.error.issues
      .map((i) => `/config${i.path.length ? '/' + i.path.join('/') : ''}: ${i.message}`)
      .join('; ');
    throw new DeploymentFailedError(ctx.stepName, `step ${ctx.stepName}: invalid exec config: ${problems}`, '');
  }
  if (raw && typeof raw === 'object') parsedConfigs.set(raw, parsed.data);
  return parsed.data;
}

/** Runs bundle-declared commands as child processes; see the module comment for the contract. */
export class ExecProvisioner implements Provisioner {
  private readonly baseEnv: NodeJS.ProcessEnv;
  private readonly timeoutOverride?: number;

  constructor(opts: ExecProvisionerOptions = {}) {
    this.baseEnv = opts.baseEnv ?? process.env;
    this.timeoutOverride = opts.timeoutSeconds;
  }

  /** Runs the plan command; its stdout is the plan JSON. */
  async plan(ctx: StepContext): Promise<PlanResult> {
    const r = await this.run(ctx, 'plan', false);
    ctx.log({ at: ctx.clock.now().toISOString(), stream: 'engine', line: `plan command printed ${Buffer.byteLength(r.stdout)} bytes of plan JSON` });
    return { planJson: r.stdout };
  }

  /** Runs the apply command; its stdout is the artifacts JSON object (empty stdout: no artifacts). */
  async apply(ctx: StepContext): Promise<ApplyResult> {
    const r = await this.run(ctx, 'apply', false);
    const artifacts = parseArtifactsOutput(r.stdout, ctx, r);
    ctx.redactor.addSecretsUnderSensitiveKeys(artifacts);
    return { artifacts };
  }

  /** Runs the destroy command; its output is only logged. */
  async destroy(ctx: StepContext): Promise<void> {
    await this.run(ctx, 'destroy', true);
  }

  /** Runs the observe command; its stdout is what reality holds (see the module comment). */
  async observe(ctx: StepContext): Promise<ObserveResult> {
    if (!parseExecConfig(ctx).observe) {
      throw new DeploymentFailedError(ctx.stepName, `step ${ctx.stepName}: the bundle declares no observe command, so reality cannot be read`, '');
    }
    const r = await this.run(ctx, 'observe', false);
    return parseObserveOutput(r.stdout, ctx.stepName, (l) => ctx.redactor.redactText(l));
  }

  private async run(ctx: StepContext, action: 'plan' | 'apply' | 'destroy' | 'observe', logStdout: boolean): Promise<RunProcessResult> {
    const config = parseExecConfig(ctx);
    const timeoutMs = (this.timeoutOverride ?? config.timeout_seconds ?? DEFAULT_EXEC_TIMEOUT_SECONDS) * 1000;
    ctx.log({ at: ctx.clock.now().toISOString(), stream: 'engine', line: `running ${action} command of step ${ctx.stepName}` });
    const r = await runProcess({
      command: config[action]!,
      cwd: ctx.workDir,
      env: stepEnv(this.baseEnv, ctx, action),
      timeoutMs,
      redactor: ctx.redactor,
      clock: ctx.clock,
      onLog: (l) => ctx.log(l),
      logStdout,
      signal: ctx.signal,
    });
    const failure = describeFailure(r, timeoutMs);
    if (failure) {
      const stdoutTail = logStdout ? [] : r.stdout.split('\n').filter((l) => l.trim()).slice(-10).map((l) => ctx.redactor.redactText(l));
      throw new DeploymentFailedError(
        ctx.stepName,
        `step ${ctx.stepName}: ${action} command ${failure}`,
        excerptOf([...r.tail, ...stdoutTail]),
      );
    }
    return r;
  }
}

/**
 * Parses an apply command's stdout into artifacts. Empty output means no artifacts. When stray
 * lines precede the JSON, the last line that is a JSON object is taken (the rest is logged).
 */
export function parseArtifactsOutput(stdout: string, ctx: Pick<StepContext, 'stepName' | 'redactor' | 'log' | 'clock'>, r?: RunProcessResult): Record<string, unknown> {
  const text = stdout.trim();
  if (text === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    const lines = text.split('\n');
    for (let i = lines.length - 1; i >= 0 && value === undefined; i--) {
      const l = lines[i].trim();
      if (!l.startsWith('{')) continue;
      try {
        value = JSON.parse(l);
        for (const stray of lines.slice(0, i)) {
          ctx.log({ at: ctx.clock.now().toISOString(), stream: 'stdout', line: ctx.redactor.redactText(stray) });
        }
      } catch {
        // keep looking
      }
    }
  }
  if (value === undefined || value === null || typeof value !== 'object' || Array.isArray(value)) {
    const excerpt = excerptOf([...(r?.tail ?? []), ...text.split('\n').slice(-10).map((l) => ctx.redactor.redactText(l))]);
    throw new DeploymentFailedError(
      ctx.stepName,
      `step ${ctx.stepName}: apply must print a JSON object of artifacts on stdout (artifact name -> data)`,
      excerpt,
    );
  }
  return value as Record<string, unknown>;
}
