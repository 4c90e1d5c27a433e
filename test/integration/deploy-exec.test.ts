import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { useRedis } from '../helpers/redis.ts';
import { DeploymentFailedError } from '../../src/engine/errors.ts';
import { STEP_FILES } from '../../src/engine/deployments.ts';
import { makeBundle, makeKit } from './deploy-kit.ts';

const redis = useRedis();

const AUTH_ARTIFACT = {
  authentication: { data: { authentication: { username: '$params.username', password: '$params.password', hostname: '127.0.0.1', port: 6379 } } },
};
const PARAMS_SCHEMA = {
  type: 'object',
  properties: { username: { type: 'string' }, password: { type: 'string', '$md.sensitive': true }, size_gb: { type: 'integer', default: 10 } },
};
const COST = { base: 10, per: [{ param: 'size_gb', rate: 0.5 }] };

test('apply runs plan then apply, validates and stores artifacts, params and cost; a re-plan is a no-op', async () => {
  const kit = await makeKit(redis.client());
  const bundle = await makeBundle(kit.root, {
    name: 'cache',
    params: PARAMS_SCHEMA,
    steps: [{ path: 'src', behaviour: { artifacts: AUTH_ARTIFACT } }],
    artifactTypes: { authentication: 'test-auth' },
    requiredArtifacts: ['authentication'],
    raw: { cost: COST },
  });
  kit.addBundle(bundle);
  const env = await kit.environment();
  const params = { username: 'app', password: 'correct-horse-battery', size_gb: 20 };
  const pkg = await kit.pkg(bundle, env, { desiredParams: params });

  const { deployment, error, cost } = await kit.runner.apply(pkg.id, { request: 'req-1' });
  assert.equal(error, undefined, error?.message);
  assert.equal(deployment.status, 'succeeded');
  assert.equal(deployment.action, 'apply');
  assert.equal(deployment.request, 'req-1');
  assert.deepEqual([deployment.plan?.add, deployment.plan?.change, deployment.plan?.destroy], [1, 0, 0]);
  assert.match(deployment.planHash ?? '', /^[0-9a-f]{64}$/);
  assert.equal(deployment.steps[0].status, 'succeeded');
  assert.ok(deployment.steps[0].log.some((l) => l.stream === 'stderr' && l.line === 'src: apply starting'));
  assert.ok(typeof deployment.fencingToken === 'number' && deployment.fencingToken > 0);
  assert.deepEqual(cost, { before: 0, after: 20, delta: 20, text: '+$20.00/month' });

  const stored = await kit.store.getPackage(pkg.id);
  assert.equal(stored.status, 'ready');
  assert.deepEqual(stored.artifacts.authentication, { data: { authentication: { username: 'app', password: 'correct-horse-battery', hostname: '127.0.0.1', port: 6379 } } });
  assert.deepEqual(stored.lastAppliedParams, params);
  assert.equal(stored.costMonthly, 20);
  assert.equal(stored.lastDeployment, deployment.id);
  // the secret param never reaches the stored logs
  assert.doesNotMatch(JSON.stringify((await kit.store.getDeployment(deployment.id)).steps), /correct-horse-battery/);

  const again = await kit.runner.plan(pkg.id);
  assert.equal(again.deployment.status, 'succeeded');
  assert.equal(again.deployment.action, 'plan');
  assert.deepEqual(again.deployment.plan?.resources, []);
  assert.equal(again.cost?.text, '±$0');

  const changed = await kit.runner.plan(pkg.id, { params: { ...params, size_gb: 40 } });
  assert.equal(changed.deployment.plan?.change, 1);
  assert.equal(changed.deployment.plan?.destructive, false);
  assert.equal(changed.cost?.text, '+$10.00/month');
  // a plan changes nothing on the package
  assert.deepEqual((await kit.store.getPackage(pkg.id)).lastAppliedParams, params);

  // an approval bound to another plan hash is void: nothing is applied
  const stale = await kit.runner.apply(pkg.id, { params: { ...params, size_gb: 40 }, expectedPlanHash: again.deployment.planHash });
  assert.equal(stale.deployment.status, 'failed');
  assert.match(stale.deployment.error?.message ?? '', /plan changed since it was approved/);
  assert.deepEqual((await kit.store.getPackage(pkg.id)).lastAppliedParams, params);

  const approved = await kit.runner.apply(pkg.id, { params: { ...params, size_gb: 40 }, expectedPlanHash: changed.deployment.planHash });
  assert.equal(approved.deployment.status, 'succeeded', approved.error?.message);
  assert.equal((await kit.store.getPackage(pkg.id)).costMonthly, 30);
});

test('params, connections and metadata reach the step as files and MD_* variables, never on the command line', async () => {
  const kit = await makeKit(redis.client());
  const bundle = await makeBundle(kit.root, { name: 'probe', params: PARAMS_SCHEMA, steps: [{ path: 'src' }] });
  kit.addBundle(bundle);
  const env = await kit.environment({ production: false, team: 'checkout' });
  const params = { username: 'distinctive-user-value', password: 'pw-never-on-argv', size_gb: 5 };
  const pkg = await kit.pkg(bundle, env, { desiredParams: params, name: 'orders-cache' });
  const { deployment } = await kit.runner.apply(pkg.id);
  assert.equal(deployment.status, 'succeeded', deployment.error?.message);

  const calls = await kit.calls();
  assert.deepEqual(calls.map((c) => `${c.action}/${c.mdAction}/${c.mode}`), ['plan/plan/apply', 'apply/apply/apply']);
  for (const c of calls) {
    assert.deepEqual(c.argv, [c.action], 'argv is only what the bundle declared');
    assert.doesNotMatch(JSON.stringify(c.argv), /distinctive-user-value|pw-never-on-argv/);
    assert.deepEqual(c.params, params);
    assert.deepEqual(c.connections, {});
    assert.equal(c.paramsFile, join(c.cwd, STEP_FILES.params));
    assert.ok(c.stateDir.startsWith(join(kit.root, 'state')));
    const allowed = (k: string) => ['PATH', 'HOME', 'LANG'].includes(k) || k.startsWith('TS_TARGET_') || k.startsWith('MD_');
    const foreign = c.env.filter((k: string) => !allowed(k));
    assert.deepEqual(foreign, [], 'no other service variable reaches the step');
    assert.ok(!c.env.includes('SERVICE_DB_PASSWORD'));
    assert.ok(c.env.includes('TS_TARGET_OUT'));
  }
  assert.equal(calls[0].planFile, null, 'the plan run has no MD_PLAN_FILE');
  assert.ok(calls[1].planFile, 'the apply run gets the saved plan');
  assert.equal(calls[0].cwd, calls[1].cwd, 'plan and apply share the deployment working directory');
  assert.deepEqual(calls[0].metadata.md_metadata, {
    name_prefix: `checkout-${env.name}-orders-cache`,
    package: 'orders-cache',
    project: 'checkout',
    environment: env.name,
    labels: { production: false, team: 'checkout' },
    bundle: 'probe',
    version: '1.0.0',
    deployment: deployment.id,
  });
  assert.equal(existsSync(calls[0].cwd), false, 'the working directory (it holds secrets) is removed afterwards');
});

test('a step that exits non-zero fails the deployment naming the step, excerpt redacted, last good state kept', async () => {
  const kit = await makeKit(redis.client());
  const good = await makeBundle(kit.root, { name: 'cache', params: PARAMS_SCHEMA, steps: [{ path: 'src', behaviour: { artifacts: AUTH_ARTIFACT } }], artifactTypes: { authentication: 'test-auth' } });
  kit.addBundle(good);
  const env = await kit.environment();
  const params = { username: 'app', password: 'first-password-1', size_gb: 1 };
  const pkg = await kit.pkg(good, env, { desiredParams: params });
  assert.equal((await kit.runner.apply(pkg.id)).deployment.status, 'succeeded');
  const before = await kit.store.getPackage(pkg.id);

  const failing = await makeBundle(kit.root, {
    name: 'cache',
    version: '1.1.0',
    params: PARAMS_SCHEMA,
    steps: [{ path: 'src', behaviour: { exit: { apply: 3 }, stderr: { apply: 'FATAL: could not set password $password for user' } } }],
    artifactTypes: { authentication: 'test-auth' },
  });
  kit.addBundle(failing);
  await kit.store.updatePackage(pkg.id, { version: '1.1.0' });
  const { deployment, error } = await kit.runner.apply(pkg.id, { params: { ...params, password: 'second-password-2' } });
  assert.ok(error instanceof DeploymentFailedError);
  assert.equal(deployment.status, 'failed');
  assert.equal(deployment.error?.step, 'src');
  assert.match(deployment.error?.message ?? '', /step src: apply command exited with code 3/);
  assert.match(deployment.error?.excerpt ?? '', /FATAL: could not set password \[redacted\] for user/);
  assert.doesNotMatch(JSON.stringify(await kit.store.getDeployment(deployment.id)), /second-password-2/);
  assert.equal(deployment.steps[0].status, 'failed');

  const after = await kit.store.getPackage(pkg.id);
  assert.equal(after.status, 'ready');
  assert.deepEqual(after.artifacts, before.artifacts);
  assert.deepEqual(after.lastAppliedParams, params);
  assert.equal(after.costMonthly, before.costMonthly);
});

test('a step that outlives its timeout is killed with everything it started', async () => {
  const kit = await makeKit(redis.client());
  const bundle = await makeBundle(kit.root, {
    name: 'slow',
    steps: [{
      path: 'src',
      behaviour: { sleepMs: { plan: 20_000 }, spawnSleeper: 'plan' },
      config: { plan: ['node', 'step.mjs', 'plan'], apply: ['node', 'step.mjs', 'apply'], destroy: ['node', 'step.mjs', 'destroy'], timeout_seconds: 1 },
    }],
  });
  kit.addBundle(bundle);
  const pkg = await kit.pkg(bundle, await kit.environment());
  const { deployment } = await kit.runner.apply(pkg.id);
  assert.equal(deployment.status, 'failed');
  assert.equal(deployment.error?.step, 'src');
  assert.match(deployment.error?.message ?? '', /plan command timed out after 1 s/);
  const pid = Number(readFileSync(join(kit.out, 'sleeper.pid'), 'utf8'));
  await new Promise((r) => setTimeout(r, 200));
  // Gone, or a zombie waiting for a reaper (an orphan in a container whose init does not reap).
  const stat = existsSync(`/proc/${pid}/stat`) ? readFileSync(`/proc/${pid}/stat`, 'utf8') : '';
  assert.ok(stat === '' || / Z /.test(stat), `the grandchild was killed with the process group (${stat})`);
  const after = await kit.store.getPackage(pkg.id);
  assert.equal(after.status, 'failed');
  assert.deepEqual(after.artifacts, {});
  assert.equal(after.lastAppliedParams, undefined);
});

test('malformed plan JSON fails the deployment naming the step; nothing is applied', async () => {
  const kit = await makeKit(redis.client());
  const bundle = await makeBundle(kit.root, { name: 'bad-plan', steps: [{ path: 'infra', behaviour: { malformedPlan: true } }] });
  kit.addBundle(bundle);
  const pkg = await kit.pkg(bundle, await kit.environment());
  const { deployment, error } = await kit.runner.apply(pkg.id);
  assert.ok(error instanceof DeploymentFailedError);
  assert.equal(deployment.error?.step, 'infra');
  assert.match(deployment.error?.message ?? '', /step infra printed malformed plan JSON/);
  assert.match(deployment.error?.excerpt ?? '', /"address": oops/);
  assert.deepEqual((await kit.calls()).map((c) => c.action), ['plan'], 'apply never ran');
  assert.equal((await kit.store.getPackage(pkg.id)).status, 'failed');
});

test('an artifact that violates its definition fails the deployment; the excerpt has the secret redacted', async () => {
  const kit = await makeKit(redis.client());
  const bundle = await makeBundle(kit.root, {
    name: 'cache',
    params: PARAMS_SCHEMA,
    steps: [{
      path: 'src',
      behaviour: { artifacts: { authentication: { data: { authentication: { username: 'app', password: '$params.password', hostname: 'h', port: 'six-three-seven-nine' } } } } },
    }],
    artifactTypes: { authentication: 'test-auth' },
  });
  kit.addBundle(bundle);
  const pkg = await kit.pkg(bundle, await kit.environment(), { desiredParams: { username: 'app', password: 'Sup3r-S3cret-Artifact-PW' } });
  const { deployment, error } = await kit.runner.apply(pkg.id);
  assert.ok(error instanceof DeploymentFailedError);
  assert.equal(deployment.error?.step, 'src');
  assert.match(deployment.error?.message ?? '', /artifact "authentication" does not match test-auth: \/data\/authentication\/port/);
  const excerpt = deployment.error?.excerpt ?? '';
  assert.match(excerpt, /"password": "\[redacted\]"/);
  assert.match(excerpt, /six-three-seven-nine/, 'the excerpt shows the offending output');
  assert.doesNotMatch(JSON.stringify(await kit.store.getDeployment(deployment.id)), /Sup3r-S3cret-Artifact-PW/);
  const after = await kit.store.getPackage(pkg.id);
  assert.deepEqual(after.artifacts, {}, 'nothing stored');
  assert.equal(after.lastAppliedParams, undefined);
  assert.equal(after.status, 'failed');
});

test('an artifact the bundle does not declare, or a missing required one, fails the deployment', async () => {
  const kit = await makeKit(redis.client());
  const undeclared = await makeBundle(kit.root, { name: 'x', steps: [{ path: 'src', behaviour: { artifacts: { surprise: { a: 1 } } } }] });
  kit.addBundle(undeclared);
  const env = await kit.environment();
  const r1 = await kit.runner.apply((await kit.pkg(undeclared, env)).id);
  assert.match(r1.deployment.error?.message ?? '', /artifact "surprise" is not declared by bundle x/);
  const missing = await makeBundle(kit.root, { name: 'y', steps: [{ path: 'src' }], artifactTypes: { authentication: 'test-auth' }, requiredArtifacts: ['authentication'] });
  kit.addBundle(missing);
  const r2 = await kit.runner.apply((await kit.pkg(missing, env)).id);
  assert.equal(r2.deployment.error?.step, 'src');
  assert.match(r2.deployment.error?.message ?? '', /required artifact\(s\) authentication/);
});

test('destroy runs the steps in reverse order and skips skip_on_delete steps', async () => {
  const kit = await makeKit(redis.client());
  const bundle = await makeBundle(kit.root, {
    name: 'three-steps',
    steps: [{ path: 'network' }, { path: 'bucket', skip_on_delete: true }, { path: 'app' }],
  });
  kit.addBundle(bundle);
  const pkg = await kit.pkg(bundle, await kit.environment(), { desiredParams: { size_gb: 1 } });
  const applied = await kit.runner.apply(pkg.id);
  assert.equal(applied.deployment.status, 'succeeded', applied.error?.message);
  assert.deepEqual(
    (await kit.calls()).map((c) => `${c.action}:${c.step}`),
    ['plan:network', 'plan:bucket', 'plan:app', 'apply:network', 'apply:bucket', 'apply:app'],
  );
  assert.equal(applied.deployment.plan?.add, 3);
  assert.ok(applied.deployment.plan?.resources.some((r) => r.address === 'bucket:local_thing.bucket'));

  const before = (await kit.calls()).length;
  const destroyed = await kit.runner.destroy(pkg.id);
  assert.equal(destroyed.deployment.status, 'succeeded', destroyed.error?.message);
  const destroyCalls = (await kit.calls()).slice(before);
  assert.deepEqual(destroyCalls.map((c) => `${c.action}:${c.step}:${c.mode}`), [
    'plan:app:destroy', 'plan:network:destroy', 'destroy:app:destroy', 'destroy:network:destroy',
  ]);
  assert.deepEqual(destroyed.deployment.steps.map((s) => `${s.path}:${s.status}`), ['network:succeeded', 'bucket:skipped', 'app:succeeded']);
  assert.equal(destroyed.deployment.plan?.destroy, 2);
  assert.equal(destroyed.deployment.plan?.destructive, true);
  assert.deepEqual(destroyed.cost && [destroyed.cost.after], [0]);
  const after = await kit.store.getPackage(pkg.id);
  assert.equal(after.status, 'decommissioned');
  assert.deepEqual(after.artifacts, {});
  // state survived between deployments (MD_STATE_DIR), and destroy removed it for the destroyed steps only
  assert.equal(existsSync(join(kit.root, 'state', pkg.id, 'bucket', 'state.json')), true);
  assert.equal(existsSync(join(kit.root, 'state', pkg.id, 'app', 'state.json')), false);
});

test('a connection hands the connected artifact to the step; its sensitive fields are redacted from logs', async () => {
  const kit = await makeKit(redis.client());
  const cache = await makeBundle(kit.root, { name: 'cache', params: PARAMS_SCHEMA, steps: [{ path: 'src', behaviour: { artifacts: AUTH_ARTIFACT } }], artifactTypes: { authentication: 'test-auth' } });
  const app = await makeBundle(kit.root, { name: 'app', steps: [{ path: 'src', behaviour: { leakConnectionPassword: true } }], connectionTypes: { cache: 'test-auth' } });
  kit.addBundle(cache);
  kit.addBundle(app);
  const env = await kit.environment();
  const a = await kit.pkg(cache, env, { desiredParams: { username: 'app', password: 'cache-pw-Zq81x' } });
  const b = await kit.pkg(app, env, { connections: { cache: { package: a.id, artifact: 'authentication' } } });

  const early = await kit.runner.plan(b.id);
  assert.equal(early.deployment.status, 'failed');
  assert.match(early.deployment.error?.message ?? '', /connection cache: package .* has no artifact "authentication" yet/);

  assert.equal((await kit.runner.apply(a.id)).deployment.status, 'succeeded');
  const { deployment } = await kit.runner.apply(b.id);
  assert.equal(deployment.status, 'succeeded', deployment.error?.message);
  const call = (await kit.calls()).find((c) => c.step === 'src' && c.action === 'apply' && c.metadata.md_metadata.bundle === 'app');
  assert.deepEqual(call?.connections, { cache: { data: { authentication: { username: 'app', password: 'cache-pw-Zq81x', hostname: '127.0.0.1', port: 6379 } } } });
  const logged = deployment.steps[0].log.map((l) => l.line).join('\n');
  assert.match(logged, /connecting with/);
  assert.doesNotMatch(logged, /cache-pw-Zq81x/);
});

test('scanners run over the plan JSON: a finding hard-fails where production: true and warns elsewhere', async () => {
  const kit = await makeKit(redis.client());
  const scanner = String.raw`
import { readFileSync } from 'node:fs';
const plan = JSON.parse(readFileSync(process.env.MD_PLAN_FILE, 'utf8'));
const big = plan.resource_changes.filter((rc) => rc.change.after && rc.change.after.size_gb > 100);
if (big.length) { console.log(big.map((rc) => rc.address + ' is larger than 100 GiB').join('\n')); process.exit(1); }
`;
  const bundle = await makeBundle(kit.root, {
    name: 'scanned',
    steps: [{ path: 'src', files: { 'size-check.mjs': scanner } }],
    raw: {
      scanners: [
        { name: 'size-limit', command: ['node', 'src/size-check.mjs'], severity: { production: 'fail', default: 'warn' } },
        { name: 'always-ok', command: 'exit 0' },
      ],
    },
  });
  kit.addBundle(bundle);
  const prod = await kit.environment({ production: true });
  const dev = await kit.environment({ production: false });

  const inProd = await kit.pkg(bundle, prod, { desiredParams: { size_gb: 500 } });
  const planned = await kit.runner.plan(inProd.id);
  assert.equal(planned.deployment.status, 'succeeded');
  assert.deepEqual(planned.decisions.map((d) => `${d.rule}:${d.outcome}`), ['scanner:size-limit:deny', 'scanner:always-ok:allow']);
  assert.match(planned.decisions[0].reason, /local_thing.src is larger than 100 GiB/);
  const blocked = await kit.runner.apply(inProd.id);
  assert.equal(blocked.deployment.status, 'failed');
  assert.equal(blocked.deployment.error?.step, 'scanner:size-limit');
  assert.ok(!(await kit.calls()).some((c) => c.action === 'apply'), 'nothing was applied');

  const inDev = await kit.pkg(bundle, dev, { desiredParams: { size_gb: 500 } });
  const warned = await kit.runner.apply(inDev.id);
  assert.equal(warned.deployment.status, 'succeeded');
  assert.equal(warned.decisions[0].outcome, 'warn');

  const small = await kit.pkg(bundle, prod, { desiredParams: { size_gb: 5 } });
  assert.equal((await kit.runner.plan(small.id)).decisions[0].outcome, 'allow');
});
