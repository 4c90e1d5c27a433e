import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { useRedis } from '../helpers/redis.ts';
import { OpenTofuProvisioner } from '../../src/provisioners/opentofu.ts';
import type { Bundle } from '../../src/engine/model.ts';
import { makeKit, type DeployKit } from './deploy-kit.ts';

const redis = useRedis();
const STANDIN = fileURLToPath(new URL('../fixtures/opentofu/tofu-standin.mjs', import.meta.url));

before(() => {
  // git may not keep the executable bit on every checkout
  chmodSync(STANDIN, 0o755);
});

async function tofuKit(extraEnv: Record<string, string> = {}): Promise<{ kit: DeployKit; bundle: Bundle; log: string }> {
  const kit = await makeKit(redis.client(), {
    provisioners: (out) => ({
      opentofu: new OpenTofuProvisioner({
        binary: STANDIN,
        extraEnv: { ...extraEnv, TOFU_STANDIN_LOG: join(out, 'tofu.log') },
        baseEnv: { PATH: process.env.PATH, HOME: process.env.HOME, SERVICE_TOKEN: 'must-not-pass' },
      }),
    }),
  });
  const log = join(kit.out, 'tofu.log');
  const dir = join(kit.root, 'bundles', 'tofu-map');
  await mkdir(join(dir, 'src'), { recursive: true });
  await writeFile(join(dir, 'src', 'main.tf'), 'variable "foo" { type = string }\noutput "map" { value = { foo = var.foo, number = 42 } }\n');
  const bundle: Bundle = {
    name: 'tofu-map',
    version: '1.0.0',
    dir,
    file: join(dir, 'massdriver.yaml'),
    params: { type: 'object', properties: { foo: { type: 'string' }, db_password: { type: 'string' } } },
    connections: { properties: {} },
    artifacts: { required: ['map'], properties: { map: {} } },
    ui: {},
    steps: [{ path: 'src', provisioner: 'opentofu:1.8' }],
    connectionTypes: {},
    artifactTypes: { map: 'test-map' },
    raw: { name: 'tofu-map' },
  };
  kit.addBundle(bundle);
  return { kit, bundle, log };
}

function invocations(log: string): { argv: string[]; cwd: string; env: Record<string, string>; envKeys: string[] }[] {
  return readFileSync(log, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

test('opentofu end to end against the recorded stand-in: create, no-op, replace, destroy', async () => {
  const { kit, bundle, log } = await tofuKit();
  const pkg = await kit.pkg(bundle, await kit.environment(), { desiredParams: { foo: 'bar' } });
  const statePath = join(kit.root, 'state', pkg.id, 'src', 'terraform.tfstate');

  const created = await kit.runner.apply(pkg.id);
  assert.equal(created.deployment.status, 'succeeded', `${created.error?.message}\n${created.deployment.error?.excerpt}`);
  // the recorded terraform-json basic plan: 7 creates and a data source read
  assert.deepEqual([created.deployment.plan?.add, created.deployment.plan?.change, created.deployment.plan?.destroy], [7, 0, 0]);
  assert.ok(created.deployment.plan?.resources.some((r) => r.address === 'data.null_data_source.baz' && r.action === 'read'));
  const stored = await kit.store.getPackage(pkg.id);
  assert.deepEqual(stored.artifacts, { map: { foo: 'bar', number: 42 } });
  assert.equal(stored.status, 'ready');
  assert.ok(existsSync(statePath), 'state is kept per package in MD_STATE_DIR');

  const calls = invocations(log);
  assert.deepEqual(calls.map((c) => c.argv), [
    ['init', '-input=false', '-no-color'],
    ['plan', '-input=false', '-no-color', '-out=tfplan', `-state=${statePath}`],
    ['show', '-json', '-no-color', 'tfplan'],
    ['apply', '-input=false', '-no-color', `-state=${statePath}`, 'tfplan'],
    ['output', '-json', '-no-color', `-state=${statePath}`],
  ]);
  assert.equal(new Set(calls.map((c) => c.cwd)).size, 1, 'one working directory per deployment');
  for (const c of calls) {
    assert.ok(!c.envKeys.includes('SERVICE_TOKEN'), 'the service environment does not leak');
    assert.equal(c.env.TF_IN_AUTOMATION, '1');
  }

  const same = await kit.runner.plan(pkg.id);
  assert.equal(same.deployment.status, 'succeeded');
  assert.deepEqual(same.deployment.plan?.resources, [], 'unchanged inputs replay the recorded no-op plan');

  const changed = await kit.runner.plan(pkg.id, { params: { foo: 'baz' } });
  assert.equal(changed.deployment.plan?.replace, 1);
  assert.equal(changed.deployment.plan?.destructive, true, 'the recorded requires-replace plan is flagged destructive');
  assert.deepEqual(changed.deployment.plan?.resources.map((r) => r.address), ['test_instance.test']);
  const applied = await kit.runner.apply(pkg.id, { params: { foo: 'baz' }, expectedPlanHash: changed.deployment.planHash });
  assert.equal(applied.deployment.status, 'succeeded', applied.error?.message);
  assert.deepEqual((await kit.store.getPackage(pkg.id)).lastAppliedParams, { foo: 'baz' });

  const before = invocations(log).length;
  const destroyed = await kit.runner.destroy(pkg.id);
  assert.equal(destroyed.deployment.status, 'succeeded', destroyed.error?.message);
  assert.equal(destroyed.deployment.plan?.destroy, 1);
  assert.deepEqual(invocations(log).slice(before).map((c) => c.argv[0] + (c.argv.includes('-destroy') ? ' -destroy' : '')), [
    'init', 'plan -destroy', 'show', 'apply',
  ]);
  const state = JSON.parse(readFileSync(statePath, 'utf8'));
  assert.deepEqual(state.resources, []);
  assert.equal((await kit.store.getPackage(pkg.id)).status, 'decommissioned');
});

test('an opentofu step that fails names the step and redacts secrets from the excerpt; the stand-in rejects unexpected arguments', async () => {
  const { kit, bundle } = await tofuKit({ TOFU_STANDIN_FAIL: 'apply', TOFU_STANDIN_FAIL_TEXT: 'auth failed for db_password=Tofu-Secret-991 on host' });
  const pkg = await kit.pkg(bundle, await kit.environment(), { desiredParams: { foo: 'bar', db_password: 'Tofu-Secret-991' } });
  const { deployment } = await kit.runner.apply(pkg.id);
  assert.equal(deployment.status, 'failed');
  assert.equal(deployment.error?.step, 'src');
  assert.match(deployment.error?.message ?? '', /step src: opentofu apply exited with code 1/);
  assert.match(deployment.error?.excerpt ?? '', /auth failed for db_password=\[redacted\] on host/);
  assert.doesNotMatch(JSON.stringify(await kit.store.getDeployment(deployment.id)), /Tofu-Secret-991/);
  assert.deepEqual((await kit.store.getPackage(pkg.id)).artifacts, {});

  // the stand-in is strict: a command line outside the contract fails loudly
  const { spawnSync } = await import('node:child_process');
  const r = spawnSync(STANDIN, ['plan', '-input=false', '-out=tfplan'], { encoding: 'utf8' });
  assert.equal(r.status, 64);
  assert.match(r.stderr, /unexpected arguments/);
});

test('opentofu observe: a refresh-only plan shown as JSON, resource_drift reported, nothing applied', async () => {
  const { kit, bundle, log } = await tofuKit();
  const pkg = await kit.pkg(bundle, await kit.environment(), { desiredParams: { foo: 'bar' } });
  const statePath = join(kit.root, 'state', pkg.id, 'src', 'terraform.tfstate');
  assert.equal((await kit.runner.apply(pkg.id)).deployment.status, 'succeeded');
  const stateBefore = readFileSync(statePath, 'utf8');
  const callsBefore = invocations(log).length;

  const { ObserveRunner } = await import('../../src/engine/observe.ts');
  const observer = new ObserveRunner({
    store: kit.store,
    getBundle: (name, version) => kit.bundles.get(`${name}@${version}`)!,
    provisioners: { opentofu: new OpenTofuProvisioner({ binary: STANDIN, extraEnv: { TOFU_STANDIN_LOG: log }, baseEnv: { PATH: process.env.PATH, HOME: process.env.HOME } }) },
    lock: kit.lock,
    workRoot: join(kit.root, 'work'),
    stateRoot: join(kit.root, 'state'),
  });
  const seen = await observer.observe(pkg.id);
  assert.equal(seen.error, undefined, seen.error?.message);
  assert.equal(seen.deployment.action, 'observe');
  assert.equal(seen.deployment.status, 'succeeded');
  assert.deepEqual(seen.params, {});
  assert.deepEqual(seen.attributes, { 'test_instance.should_refresh': { ami: 'refreshed' } });
  assert.deepEqual(invocations(log).slice(callsBefore).map((c) => c.argv), [
    ['init', '-input=false', '-no-color'],
    ['plan', '-refresh-only', '-input=false', '-no-color', '-out=tfplan', `-state=${statePath}`],
    ['show', '-json', '-no-color', 'tfplan'],
  ]);
  assert.equal(readFileSync(statePath, 'utf8'), stateBefore, 'the state is untouched');

  // A failing CLI command fails the check naming the step; the package keeps its state.
  const failing = new ObserveRunner({
    store: kit.store,
    getBundle: (name, version) => kit.bundles.get(`${name}@${version}`)!,
    provisioners: { opentofu: new OpenTofuProvisioner({ binary: STANDIN, extraEnv: { TOFU_STANDIN_FAIL: 'plan' }, baseEnv: { PATH: process.env.PATH, HOME: process.env.HOME } }) },
    lock: kit.lock,
    workRoot: join(kit.root, 'work'),
    stateRoot: join(kit.root, 'state'),
  });
  const before = await kit.store.getPackage(pkg.id);
  const failed = await failing.observe(pkg.id);
  assert.equal(failed.error?.step, 'src');
  assert.match(failed.error!.message, /step src: opentofu plan/);
  assert.equal(failed.deployment.status, 'failed');
  assert.deepEqual(await kit.store.getPackage(pkg.id), before);
});
