/**
 * What every provisioner shares: the environment a step's commands see. The interface itself
 * (the port the deployment runner calls) is defined by the engine in `engine/provisioner-port.ts`.
 */
import type { StepContext } from '../engine/provisioner-port.ts';

export type { StepFiles, StepContext, PlanResult, ApplyResult, ObserveResult, Provisioner } from '../engine/provisioner-port.ts';

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
export function stepEnv(base: NodeJS.ProcessEnv, ctx: StepContext, action: 'plan' | 'apply' | 'destroy' | 'observe'): Record<string, string> {
  const env = inheritedEnv(base);
  env[MD_ENV.action] = action;
  env[MD_ENV.planMode] = ctx.mode;
  env[MD_ENV.paramsFile] = ctx.files.params;
  env[MD_ENV.connectionsFile] = ctx.files.connections;
  env[MD_ENV.metadataFile] = ctx.files.metadata;
  env[MD_ENV.stateDir] = ctx.stateDir;
  if (action === 'apply' || action === 'destroy') env[MD_ENV.planFile] = ctx.planFile;
  return env;
}
