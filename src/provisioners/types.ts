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

/** Whether a variable of the service's environment is passed on to steps. */
function isInherited(name: string): boolean {
  return name === 'PATH' || name === 'HOME' || name === 'LANG' || name.startsWith('TS_TARGET_');
}

/** The inherited variable names of the last environment read, valid while its names are the same. */
let inheritedNames: { base: NodeJS.ProcessEnv; keys: string[]; names: string[] } | undefined;

/** The names of `base` a step inherits; recomputed only when `base` or its set of names changed. */
function inheritedNamesOf(base: NodeJS.ProcessEnv): string[] {
  const keys = Object.keys(base);
  const last = inheritedNames;
  if (last && last.base === base && last.keys.length === keys.length && last.keys.every((k, i) => k === keys[i])) return last.names;
  const names = keys.filter(isInherited);
  inheritedNames = { base, keys, names };
  return names;
}

/**
 * The only parts of the service's own environment a step sees: PATH, HOME, LANG and every
 * `TS_TARGET_*` variable (how ops tell a bundle which server to act on). Which names qualify is
 * worked out once per set of names (variables set later are seen); values are read at each call.
 */
export function inheritedEnv(base: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of inheritedNamesOf(base)) {
    const v = base[k];
    if (v !== undefined) out[k] = v;
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
