// Helpers shared by the example bundles' exec steps. Every step folder carries an identical copy
// (the exec provisioner copies one step folder per deployment, so a step cannot import from a
// sibling folder); test/integration/example-bundles.test.ts fails when the copies drift apart.
// Node built-ins only: a step runs outside the service's node_modules.
//
// The exec provisioner contract this follows:
//   argv[2]           plan | apply | destroy (the command the bundle declared)
//   MD_ACTION         the command being run (plan/apply/destroy)
//   MD_PLAN_MODE      what the plan is for: apply (create/update) or destroy; `plan` with
//                     MD_PLAN_MODE=destroy prints a destroy plan
//   MD_PARAMS_FILE, MD_CONNECTIONS_FILE, MD_METADATA_FILE   inputs (default: the *.auto.tfvars.json
//                     files in the working directory)
//   MD_STATE_DIR      persistent per package and step (generated passwords, what apply made)
//   MD_PLAN_FILE      for apply/destroy: the plan JSON that was approved
//   stdout            plan: Terraform plan JSON; apply: artifacts JSON; nothing else, ever
//   stderr            log lines, never a secret

import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A failure the step reports in one line on stderr before exiting 1. */
export class StepError extends Error {}

/** Writes one log line to stderr. Callers pass names and counts, never secret values. */
export function log(message, fields = {}) {
  const extra = Object.entries(fields)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  process.stderr.write(`${message}${extra ? ` ${extra}` : ''}\n`);
}

function readJsonFile(envName, fallback, required) {
  const file = process.env[envName] || fallback;
  if (!existsSync(file)) {
    if (required) throw new StepError(`input file ${file} is missing (${envName})`);
    return {};
  }
  try {
    const value = JSON.parse(readFileSync(file, 'utf8'));
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('not an object');
    return value;
  } catch (err) {
    throw new StepError(`input file ${file} (${envName}) is not a JSON object: ${err.message}`);
  }
}

/**
 * Reads what the provisioner handed the step. `mode` is the command (plan/apply/destroy);
 * `destroying` is true when the deployment destroys the package.
 */
export function readInputs() {
  const mode = process.argv[2];
  if (!['plan', 'apply', 'destroy', 'observe'].includes(mode)) throw new StepError(`first argument must be plan, apply, destroy or observe (got ${JSON.stringify(mode)})`);
  const planMode = process.env.MD_PLAN_MODE || (process.env.MD_ACTION === 'destroy' ? 'destroy' : 'apply');
  const stateDir = process.env.MD_STATE_DIR;
  if (!stateDir) throw new StepError('MD_STATE_DIR is not set');
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const metadataFile = readJsonFile('MD_METADATA_FILE', '_md_variables.auto.tfvars.json', false);
  return {
    mode,
    destroying: mode === 'destroy' || planMode === 'destroy',
    params: readJsonFile('MD_PARAMS_FILE', '_params.auto.tfvars.json', true),
    connections: readJsonFile('MD_CONNECTIONS_FILE', '_connections.auto.tfvars.json', false),
    metadata: metadataFile.md_metadata ?? {},
    stateDir,
    planFile: process.env.MD_PLAN_FILE || undefined,
  };
}

/** Returns `value` when it is a string matching `pattern`; otherwise throws naming `field`. */
export function checkPattern(value, pattern, field) {
  if (typeof value !== 'string' || !pattern.test(value)) {
    throw new StepError(`${field} must match ${pattern} (got ${typeof value === 'string' ? JSON.stringify(value.slice(0, 80)) : typeof value})`);
  }
  return value;
}

/** Returns `value` when it is an integer within [min, max]; otherwise throws naming `field`. */
export function checkInteger(value, min, max, field) {
  if (!Number.isInteger(value) || value < min || value > max) throw new StepError(`${field} must be an integer from ${min} to ${max}`);
  return value;
}

/** Returns `value` when it is one of `allowed`; otherwise throws naming `field`. */
export function checkOneOf(value, allowed, field) {
  if (!allowed.includes(value)) throw new StepError(`${field} must be one of ${allowed.join(', ')}`);
  return value;
}

/**
 * Runs a program without a shell. Resolves with stdout and stderr when it exits 0; rejects with
 * a StepError carrying its stderr (with every string in `redact` blanked) otherwise.
 */
export function run(file, args, { env = {}, input, timeoutMs = 60_000, redact = [] } = {}) {
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      { env: { ...process.env, ...env }, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (!err) return resolve({ stdout, stderr });
        let detail = String(stderr || err.message).trim();
        for (const secret of redact) if (secret) detail = detail.split(secret).join('[redacted]');
        const status = err.killed ? `timed out after ${timeoutMs} ms` : `exit ${err.code}`;
        reject(new StepError(`${file.split('/').pop()} failed (${status}): ${detail.slice(0, 1000)}`));
      },
    );
    if (input !== undefined) child.stdin.end(input);
  });
}

/** Reads the step's JSON state from MD_STATE_DIR ({} on first run). */
export function loadState(stateDir) {
  const file = join(stateDir, 'state.json');
  if (!existsSync(file)) return {};
  return JSON.parse(readFileSync(file, 'utf8'));
}

/** Replaces the step's JSON state atomically, readable by its owner only. */
export function saveState(stateDir, state) {
  const file = join(stateDir, 'state.json');
  writeFileSync(`${file}.tmp`, JSON.stringify(state, null, 2), { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
}

/**
 * The generated password kept in MD_STATE_DIR under `name`: created on first use, the same on
 * every later run, so a re-apply keeps the credential connected packages already hold.
 */
export function ensurePassword(stateDir, name, { create = true } = {}) {
  const file = join(stateDir, `${name}.password`);
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  if (!create) return undefined;
  const password = randomBytes(24).toString('base64url');
  writeFileSync(file, password, { mode: 0o600 });
  chmodSync(file, 0o600);
  return password;
}

/** Hex SHA-256 of a string. */
export function sha256Hex(text) {
  return createHash('sha256').update(text).digest('hex');
}

function stable(value) {
  if (Array.isArray(value)) return value.map(stable);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, stable(value[k])]),
    );
  }
  return value;
}

function sameValue(a, b) {
  return JSON.stringify(stable(a)) === JSON.stringify(stable(b));
}

/**
 * One entry of `resource_changes`, with Terraform's action list derived from `before` (the real
 * current state, null when absent) and `after` (the desired state, null when it must go).
 * A difference in any of `replaceWhen` (attribute names) replaces instead of updating.
 */
export function resourceChange(type, name, before, after, { replaceWhen = [], sensitive = [] } = {}) {
  let actions;
  let replacePaths;
  if (before === null && after === null) actions = ['no-op'];
  else if (before === null) actions = ['create'];
  else if (after === null) actions = ['delete'];
  else if (sameValue(before, after)) actions = ['no-op'];
  else {
    replacePaths = replaceWhen.filter((k) => !sameValue(before[k], after[k])).map((k) => [k]);
    actions = replacePaths.length ? ['delete', 'create'] : ['update'];
  }
  const marks = Object.fromEntries(sensitive.map((k) => [k, true]));
  const change = {
    actions,
    before,
    after,
    after_unknown: {},
    before_sensitive: before === null ? false : marks,
    after_sensitive: after === null ? false : marks,
  };
  if (replacePaths?.length) change.replace_paths = replacePaths;
  const rc = { address: `${type}.${name}`, mode: 'managed', type, name, provider_name: 'registry.local/ticket-surface/exec', change };
  if (replacePaths?.length) rc.action_reason = 'replace_because_cannot_update';
  return rc;
}

/** The Terraform machine-readable plan document (format 1.2) for `changes`. */
export function planDocument(changes) {
  return {
    format_version: '1.2',
    terraform_version: 'exec',
    applyable: changes.some((c) => !c.change.actions.includes('no-op')),
    complete: true,
    errored: false,
    resource_changes: changes,
  };
}

const isDestructive = (actions) => actions.includes('delete');

/**
 * Refuses to delete or replace anything the approved plan (MD_PLAN_FILE) did not show as deleted
 * or replaced: reality may have moved since approval, and nobody approved losing data. Other
 * differences are converged without asking (an apply always brings reality to the params).
 */
export function checkAgainstApprovedPlan(planFile, changes) {
  if (!planFile || !existsSync(planFile)) return;
  let approved;
  try {
    approved = JSON.parse(readFileSync(planFile, 'utf8'));
  } catch {
    throw new StepError(`MD_PLAN_FILE ${planFile} is not valid JSON`);
  }
  const approvedActions = new Map((approved.resource_changes ?? []).map((rc) => [rc.address, rc.change?.actions ?? []]));
  for (const rc of changes) {
    if (!isDestructive(rc.change.actions)) continue;
    const before = approvedActions.get(rc.address) ?? [];
    if (!isDestructive(before)) {
      throw new StepError(
        `${rc.address} would now be ${rc.change.actions.join('+')} but the approved plan shows ${before.join('+') || 'nothing'} for it; reality changed since the plan: plan again`,
      );
    }
  }
  for (const rc of changes) {
    const before = approvedActions.get(rc.address);
    if (before && !sameValue(before, rc.change.actions)) {
      log('reality moved since the plan; converging anyway', { address: rc.address, planned: before.join('+'), now: rc.change.actions.join('+') });
    }
  }
}

/** Actions of `address` in `changes`, for apply code that acts per resource. */
export function actionsOf(changes, address) {
  return changes.find((c) => c.address === address)?.change.actions ?? ['no-op'];
}

/**
 * Runs the step: parses inputs, calls `handlers.plan(inputs)` (returns resource changes) and,
 * for apply/destroy, `handlers.apply(inputs, changes)` (returns the artifacts for apply).
 * Prints the plan or artifacts JSON on stdout; any failure becomes one stderr line and exit 1.
 */
export async function main(handlers) {
  try {
    const inputs = readInputs();
    // A drift check: read reality, change nothing, print { params, attributes }.
    if (inputs.mode === 'observe') {
      if (!handlers.observe) throw new StepError('this step cannot observe reality');
      process.stdout.write(`${JSON.stringify(await handlers.observe(inputs))}\n`);
      return;
    }
    const changes = await handlers.plan(inputs);
    if (inputs.mode === 'plan') {
      process.stdout.write(`${JSON.stringify(planDocument(changes))}\n`);
      return;
    }
    // A destroy is its own approval to delete; an apply may only delete what was approved.
    if (inputs.mode === 'apply') checkAgainstApprovedPlan(inputs.planFile, changes);
    const artifacts = await handlers.apply(inputs, changes);
    if (inputs.mode === 'apply') process.stdout.write(`${JSON.stringify(artifacts ?? {})}\n`);
  } catch (err) {
    process.stderr.write(`error: ${err instanceof StepError ? err.message : (err?.stack ?? String(err))}\n`);
    process.exitCode = 1;
  }
}
