/**
 * Shared setup of the deployment integration tests: tiny bundles written into temp dirs (node
 * step scripts), a real Redis-backed store and lock, the real exec provisioner, and artifact
 * validation through the registry's real schema validator.
 */
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import type { Bundle, BundleStep, Environment, Labels, Package } from '../../src/engine/model.ts';
import { DeploymentRunner, RedisDeploymentStore, type Fields } from '../../src/engine/deployments.ts';
import { PackageLock } from '../../src/engine/package-lock.ts';
import { ExecProvisioner } from '../../src/provisioners/exec.ts';
import { ProcessPlanScanner } from '../../src/provisioners/scanners.ts';
import type { Provisioner } from '../../src/provisioners/types.ts';
import { SchemaValidator } from '../../src/engine/registry/schema-validator.ts';
import { sensitivePointers } from '../../src/engine/registry/sensitive.ts';
import { uniqueName } from '../helpers/redis.ts';

/** A small artifact definition: the authentication part of a connection, password sensitive. */
export const TEST_AUTH_DEFINITION = {
  type: 'object',
  required: ['data'],
  properties: {
    data: {
      type: 'object',
      required: ['authentication'],
      properties: {
        authentication: {
          type: 'object',
          required: ['username', 'password', 'hostname', 'port'],
          properties: {
            username: { type: 'string' },
            password: { type: 'string', '$md.sensitive': true },
            hostname: { type: 'string' },
            port: { type: 'integer', minimum: 1, maximum: 65535, title: 'Port' },
          },
        },
      },
    },
  },
};

/** An artifact definition the recorded OpenTofu plan's `map` output satisfies. */
export const TEST_MAP_DEFINITION = {
  type: 'object',
  required: ['foo', 'number'],
  properties: { foo: { type: 'string' }, number: { type: 'integer' } },
};

/**
 * The step script of the test bundles: behaviour comes from `behaviour.json` in the step folder.
 * It plans one `local_thing.<name>` resource from the state it keeps in MD_STATE_DIR, logs to
 * stderr, records every call (argv, env names, inputs) under TS_TARGET_OUT, and on apply prints
 * artifacts templated from params/connections (`"$params.x"`, `"$connections.c.data..."`).
 */
export const STEP_SCRIPT = String.raw`
import { appendFileSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
const action = process.argv[2];
const b = JSON.parse(readFileSync(new URL('./behaviour.json', import.meta.url), 'utf8'));
const params = JSON.parse(readFileSync(process.env.MD_PARAMS_FILE, 'utf8'));
const connections = JSON.parse(readFileSync(process.env.MD_CONNECTIONS_FILE, 'utf8'));
const metadata = JSON.parse(readFileSync(process.env.MD_METADATA_FILE, 'utf8'));
const stateFile = join(process.env.MD_STATE_DIR, 'state.json');
const out = process.env.TS_TARGET_OUT;
const started = Date.now();
const record = (extra) => out && appendFileSync(join(out, 'calls.log'), JSON.stringify({
  step: b.name, action, mode: process.env.MD_PLAN_MODE, started, ended: Date.now(), argv: process.argv.slice(2),
  env: Object.keys(process.env).sort(), cwd: process.cwd(), mdAction: process.env.MD_ACTION,
  planFile: process.env.MD_PLAN_FILE ?? null, stateDir: process.env.MD_STATE_DIR,
  paramsFile: process.env.MD_PARAMS_FILE, params, connections, metadata, ...extra }) + '\n');
process.stderr.write(b.name + ': ' + action + ' starting\n');
if (b.stderr && b.stderr[action]) process.stderr.write(b.stderr[action].replace('$password', params.password ?? '') + '\n');
if (b.leakConnectionPassword && action === 'apply') process.stderr.write('connecting with ' + JSON.stringify(connections) + '\n');
if (b.spawnSleeper && b.spawnSleeper === action) {
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  writeFileSync(join(out, 'sleeper.pid'), String(child.pid));
}
if (b.sleepMs && b.sleepMs[action]) await new Promise((r) => setTimeout(r, b.sleepMs[action]));
if (b.exit && b.exit[action] !== undefined) { record({}); process.exit(b.exit[action]); }
const state = existsSync(stateFile) ? JSON.parse(readFileSync(stateFile, 'utf8')) : null;
const resolve = (v) => {
  if (typeof v === 'string' && v.startsWith('$')) {
    return v.slice(1).split('.').reduce((o, k) => (o == null ? o : o[k]), { params, connections, metadata });
  }
  if (Array.isArray(v)) return v.map(resolve);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, resolve(x)]));
  return v;
};
if (action === 'plan') {
  if (b.malformedPlan) { process.stdout.write('{"format_version":"1.0","resource_changes":[{"address": oops'); record({}); process.exit(0); }
  let actions;
  if (process.env.MD_PLAN_MODE === 'destroy') actions = state ? ['delete'] : ['no-op'];
  else if (!state) actions = ['create'];
  else if (JSON.stringify(state.params) === JSON.stringify(params)) actions = ['no-op'];
  else if (b.replaceOn && state.params[b.replaceOn] !== params[b.replaceOn]) actions = ['delete', 'create'];
  else actions = ['update'];
  const after = actions.length === 1 && actions[0] === 'delete' ? null : params;
  process.stdout.write(JSON.stringify({ format_version: '1.2', timestamp: new Date().toISOString(),
    resource_changes: [{ address: 'local_thing.' + b.name, mode: 'managed', type: 'local_thing', name: b.name,
      change: { actions, before: state ? state.params : null, after } }] }));
} else if (action === 'apply') {
  const plan = JSON.parse(readFileSync(process.env.MD_PLAN_FILE, 'utf8'));
  writeFileSync(stateFile, JSON.stringify({ params, actions: plan.resource_changes[0].change.actions }));
  if (b.artifacts) process.stdout.write(JSON.stringify(resolve(b.artifacts)));
} else if (action === 'destroy') {
  rmSync(stateFile, { force: true });
  process.stdout.write(b.name + ' destroyed\n');
}
record({});
`;

/** One step of a test bundle. */
export interface TestStep {
  path: string;
  provisioner?: string;
  skip_on_delete?: boolean;
  config?: Record<string, unknown>;
  behaviour?: Record<string, unknown>;
  /** Extra files of the step folder. */
  files?: Record<string, string>;
}

/** Writes a bundle into a temp dir and returns the loaded shape the registry would give. */
export async function makeBundle(
  root: string,
  spec: {
    name: string;
    version?: string;
    steps: TestStep[];
    params?: Record<string, unknown>;
    artifactTypes?: Record<string, string>;
    requiredArtifacts?: string[];
    connectionTypes?: Record<string, string>;
    raw?: Record<string, unknown>;
  },
): Promise<Bundle> {
  const dir = join(root, 'bundles', `${spec.name}-${Math.random().toString(36).slice(2, 8)}`);
  const steps: BundleStep[] = [];
  for (const s of spec.steps) {
    const stepDir = join(dir, s.path);
    await mkdir(stepDir, { recursive: true });
    await writeFile(join(stepDir, 'step.mjs'), STEP_SCRIPT);
    await writeFile(join(stepDir, 'behaviour.json'), JSON.stringify({ name: s.path, ...(s.behaviour ?? {}) }));
    for (const [f, text] of Object.entries(s.files ?? {})) await writeFile(join(stepDir, f), text);
    steps.push({
      path: s.path,
      provisioner: s.provisioner ?? 'exec',
      ...(s.skip_on_delete ? { skip_on_delete: true } : {}),
      config: s.config ?? { plan: ['node', 'step.mjs', 'plan'], apply: ['node', 'step.mjs', 'apply'], destroy: ['node', 'step.mjs', 'destroy'], timeout_seconds: 30 },
    });
  }
  const artifactTypes = spec.artifactTypes ?? {};
  return {
    name: spec.name,
    version: spec.version ?? '1.0.0',
    dir,
    file: join(dir, 'massdriver.yaml'),
    params: spec.params ?? { type: 'object', properties: {} },
    connections: { properties: Object.fromEntries(Object.keys(spec.connectionTypes ?? {}).map((k) => [k, {}])) },
    artifacts: { required: spec.requiredArtifacts ?? [], properties: Object.fromEntries(Object.keys(artifactTypes).map((k) => [k, {}])) },
    ui: {},
    steps,
    connectionTypes: spec.connectionTypes ?? {},
    artifactTypes,
    raw: { name: spec.name, ...(spec.raw ?? {}) },
  };
}

/** Everything a deployment test needs, wired to one Redis. */
export interface DeployKit {
  root: string;
  out: string;
  store: RedisDeploymentStore;
  lock: PackageLock;
  runner: DeploymentRunner;
  bundles: Map<string, Bundle>;
  addBundle(b: Bundle): void;
  environment(labels?: Labels): Promise<Environment>;
  pkg(bundle: Bundle, env: Environment, fields?: Partial<Fields<Package>>): Promise<Package>;
  /** Lines of calls.log written by the step scripts. */
  calls(): Promise<Record<string, any>[]>;
}

/** Builds a kit; `provisioners` (given the kit's output dir) are added to the exec provisioner. */
export async function makeKit(
  redis: Redis,
  opts: { provisioners?: (out: string) => Record<string, Provisioner>; lockTtlMs?: number; baseEnv?: NodeJS.ProcessEnv } = {},
): Promise<DeployKit> {
  const root = await mkdtemp(join(tmpdir(), 'ts-deploy-'));
  const out = join(root, 'out');
  await mkdir(out, { recursive: true });
  const prefix = `${uniqueName('t')}:`;
  const store = new RedisDeploymentStore(redis, { prefix });
  const lock = new PackageLock(redis, { prefix, ttlMs: opts.lockTtlMs ?? 5000, pollMs: 20, maxPollMs: 100 });
  const baseEnv = opts.baseEnv ?? { PATH: process.env.PATH, HOME: process.env.HOME, LANG: 'C.UTF-8', TS_TARGET_OUT: out, SERVICE_DB_PASSWORD: 'service-own-secret' };
  const definitions: Record<string, Record<string, unknown>> = { 'test-auth': TEST_AUTH_DEFINITION, 'test-map': TEST_MAP_DEFINITION };
  const validator = new SchemaValidator();
  const bundles = new Map<string, Bundle>();
  const runner = new DeploymentRunner({
    store,
    getBundle: (name, version) => {
      const b = bundles.get(`${name}@${version}`);
      if (!b) throw new Error(`test bundle ${name}@${version} missing`);
      return b;
    },
    provisioners: { exec: new ExecProvisioner({ baseEnv }), ...(opts.provisioners?.(out) ?? {}) },
    lock,
    validateArtifact: (def, data) => validator.validate(definitions[def] as never, data),
    sensitivePointers: (def) => sensitivePointers(definitions[def]),
    workRoot: join(root, 'work'),
    stateRoot: join(root, 'state'),
    scanner: new ProcessPlanScanner({ baseEnv }),
  });
  let envCount = 0;
  return {
    root,
    out,
    store,
    lock,
    runner,
    bundles,
    addBundle: (b) => bundles.set(`${b.name}@${b.version}`, b),
    environment: (labels = {}) => store.createEnvironment({ project: 'checkout', name: `env${++envCount}`, labels }),
    pkg: (bundle, env, fields = {}) =>
      store.createPackage({
        project: 'checkout',
        environment: env.id,
        name: `pkg-${Math.random().toString(36).slice(2, 8)}`,
        bundle: bundle.name,
        version: bundle.version,
        desiredParams: {},
        connections: {},
        artifacts: {},
        status: 'new',
        ...fields,
      }),
    async calls() {
      const { readFile } = await import('node:fs/promises');
      const text = await readFile(join(out, 'calls.log'), 'utf8').catch(() => '');
      return text.split('\n').filter(Boolean).map((l) => JSON.parse(l));
    },
  };
}
