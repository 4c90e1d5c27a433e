import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { useRedis, uniqueName } from '../helpers/redis.ts';
import { Inventory } from '../../src/engine/inventory.ts';
import { DeploymentRunner, InventoryDeploymentStore } from '../../src/engine/deployments.ts';
import { PackageLock } from '../../src/engine/package-lock.ts';
import { ExecProvisioner } from '../../src/provisioners/exec.ts';
import { ProcessPlanScanner } from '../../src/provisioners/scanners.ts';
import { SchemaValidator } from '../../src/engine/registry/schema-validator.ts';
import { sensitivePointers } from '../../src/engine/registry/sensitive.ts';
import { makeBundle, makeKit, TEST_AUTH_DEFINITION } from './deploy-kit.ts';

const redis = useRedis();

test('the runner on the real Inventory: audited package and deployment writes, secrets kept out of the audit log', async () => {
  const client = redis.client();
  const kit = await makeKit(client); // for the temp dirs and bundle writing
  const prefix = `${uniqueName('inv')}:`;
  const inventory = new Inventory({ redis: client, prefix });
  const store = new InventoryDeploymentStore(inventory);
  const validator = new SchemaValidator();
  const bundle = await makeBundle(kit.root, {
    name: 'cache',
    params: { type: 'object', properties: { password: { type: 'string', '$md.sensitive': true } } },
    steps: [{ path: 'src', behaviour: { artifacts: { authentication: { data: { authentication: { username: 'u', password: '$params.password', hostname: 'h', port: 1 } } } } } }],
    artifactTypes: { authentication: 'test-auth' },
  });
  const runner = new DeploymentRunner({
    store,
    getBundle: () => bundle,
    provisioners: { exec: new ExecProvisioner({ baseEnv: { PATH: process.env.PATH, TS_TARGET_OUT: kit.out } }) },
    scanner: new ProcessPlanScanner(),
    lock: new PackageLock(client, { prefix }),
    validateArtifact: (_def, data) => validator.validate(TEST_AUTH_DEFINITION, data),
    sensitivePointers: () => sensitivePointers(TEST_AUTH_DEFINITION),
    workRoot: join(kit.root, 'work'),
    stateRoot: join(kit.root, 'state'),
  });
  const ctx = { actor: 'test', surface: 'cli' as const };
  await inventory.createProject({ name: 'checkout' }, ctx);
  const env = await inventory.createEnvironment({ project: 'checkout', name: 'staging', labels: { production: false } }, ctx);
  const pkg = await inventory.createPackage({ environment: env.id, name: 'cache', bundle: 'cache', version: '1.0.0', desiredParams: { password: 'inv-secret-pw-1' } }, ctx);

  const ok = await runner.apply(pkg.id, { request: 'req_abcdef123' });
  assert.equal(ok.deployment.status, 'succeeded', ok.error?.message);
  assert.match(ok.deployment.id, /^dep_/);
  const stored = await inventory.get('package', pkg.id);
  assert.equal(stored.status, 'ready');
  assert.equal((stored.artifacts.authentication as any).data.authentication.password, 'inv-secret-pw-1');
  const dep = await inventory.get('deployment', ok.deployment.id);
  assert.equal(dep.request, 'req_abcdef123');
  assert.equal(dep.steps[0].status, 'succeeded');
  const history = await inventory.history('package', pkg.id);
  assert.ok(history.some((e) => e.action === 'package.deploy'), 'package writes are audited');
  assert.doesNotMatch(JSON.stringify(history), /inv-secret-pw-1/);
  assert.deepEqual(await store.listDeploymentsByStatus('running'), []);
});
