import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useRedis, uniqueName } from '../helpers/redis.ts';
import { Inventory } from '../../src/engine/inventory.ts';
import { InventoryDeploymentStore } from '../../src/engine/deployments.ts';
import { LockLostError, PackageLock } from '../../src/engine/package-lock.ts';
import { makeBundle, makeKit } from './deploy-kit.ts';

const redis = useRedis();

/**
 * The holder was paused (a GC pause, a stopped VM) after checking its lock: meanwhile the lock
 * was taken over. Its write must be refused by the write itself, not by a check made before it.
 */
async function takeOver(lock: PackageLock, packageId: string) {
  const paused = await lock.waitForLock(packageId, { owner: 'paused-worker' });
  await paused.assertCurrent(); // the paused holder's last look: still its lock
  await redis.client().del(lock.lockKey(packageId)); // its lock expired while it was paused
  const successor = await lock.waitForLock(packageId, { owner: 'next-worker' });
  return { paused, successor };
}

test('a paused holder whose package lock was taken over cannot land its package or deployment write (inventory store)', async () => {
  const prefix = `${uniqueName('fence')}:`;
  const inventory = new Inventory({ redis: redis.client(), prefix });
  const store = new InventoryDeploymentStore(inventory);
  const lock = new PackageLock(redis.client(), { prefix });
  const ctx = { actor: 'test', surface: 'cli' as const };
  await inventory.createProject({ name: 'checkout' }, ctx);
  const env = await inventory.createEnvironment({ project: 'checkout', name: 'staging', labels: {} }, ctx);
  const pkg = await inventory.createPackage({ environment: env.id, name: 'cache', bundle: 'cache', version: '1.0.0' }, ctx);
  const dep = await store.createDeployment({ package: pkg.id, action: 'apply', status: 'running', steps: [] });
  const { paused, successor } = await takeOver(lock, pkg.id);
  const eventsBefore = (await inventory.history('package', pkg.id)).length;

  await assert.rejects(store.updatePackage(pkg.id, { status: 'ready', lastDeployment: dep.id }, paused.fence), LockLostError);
  await assert.rejects(store.updateDeployment(dep.id, { status: 'succeeded' }, paused.fence), LockLostError);
  await assert.rejects(store.createDeployment({ package: pkg.id, action: 'apply', status: 'running', steps: [] }, paused.fence), LockLostError);
  assert.equal((await inventory.get('package', pkg.id)).status, 'new', 'the stale write did not land');
  assert.equal((await inventory.get('deployment', dep.id)).status, 'running');
  assert.equal((await inventory.history('package', pkg.id)).length, eventsBefore, 'no audit event for a refused write');

  const updated = await store.updatePackage(pkg.id, { status: 'provisioning' }, successor.fence);
  assert.equal(updated.status, 'provisioning', 'the current holder writes');
  await successor.release();
});

test('a paused holder whose package lock was taken over cannot land its write (Redis store)', async () => {
  const kit = await makeKit(redis.client());
  const bundle = await makeBundle(kit.root, { name: 'x', steps: [{ path: 'src' }] });
  const pkg = await kit.pkg(bundle, await kit.environment(), { status: 'ready' });
  const { paused, successor } = await takeOver(kit.lock, pkg.id);

  await assert.rejects(kit.store.updatePackage(pkg.id, { status: 'decommissioned' }, paused.fence), LockLostError);
  await assert.rejects(kit.store.createDeployment({ package: pkg.id, action: 'apply', status: 'running', steps: [] }, paused.fence), LockLostError);
  assert.equal((await kit.store.getPackage(pkg.id)).status, 'ready');
  assert.deepEqual(await kit.store.listDeploymentsByStatus('running'), []);
  assert.equal((await kit.store.updatePackage(pkg.id, { status: 'provisioning' }, successor.fence)).status, 'provisioning');
  await successor.release();
});

test('a run whose lock is taken over mid-apply does not record its result on the package', async () => {
  const kit = await makeKit(redis.client(), { lockTtlMs: 60_000 });
  const bundle = await makeBundle(kit.root, { name: 'slow', steps: [{ path: 'src', behaviour: { sleepMs: { apply: 3000 } } }] });
  kit.addBundle(bundle);
  const pkg = await kit.pkg(bundle, await kit.environment(), { desiredParams: { n: 1 } });
  const run = kit.runner.apply(pkg.id);
  // Steps log a call when they end: once the plan is logged the apply step is starting or asleep,
  // so the lock is taken over mid-apply (the renewal timer is far away).
  for (let i = 0; i < 500 && !(await kit.calls()).some((c) => c.action === 'plan'); i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(!(await kit.calls()).some((c) => c.action === 'apply'), 'the apply step has not finished yet');
  await redis.client().del(kit.lock.lockKey(pkg.id));
  const successor = await kit.lock.waitForLock(pkg.id, { owner: 'next-worker' });
  await assert.rejects(run, LockLostError);
  const stored = await kit.store.getPackage(pkg.id);
  assert.notEqual(stored.status, 'ready', 'the stale run did not mark the package applied');
  assert.equal(stored.lastAppliedParams, undefined);
  await successor.release();
});
