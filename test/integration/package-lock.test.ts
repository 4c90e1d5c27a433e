import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useRedis, uniqueName } from '../helpers/redis.ts';
import { LockLostError, PackageLock, type QueuedInfo } from '../../src/engine/package-lock.ts';
import { makeBundle, makeKit } from './deploy-kit.ts';

const redis = useRedis();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('two concurrent applies on one package run one after the other; the second says it is queued', async () => {
  const kit = await makeKit(redis.client());
  const bundle = await makeBundle(kit.root, { name: 'slow', steps: [{ path: 'src', behaviour: { sleepMs: { apply: 400 } } }] });
  kit.addBundle(bundle);
  const pkg = await kit.pkg(bundle, await kit.environment(), { desiredParams: { n: 1 } });

  const queued: QueuedInfo[] = [];
  const first = kit.runner.apply(pkg.id, { request: 'first' });
  await sleep(50);
  const second = kit.runner.apply(pkg.id, { request: 'second', params: { n: 2 }, onQueued: (q) => void queued.push(q) });
  const [a, b] = await Promise.all([first, second]);

  assert.equal(a.deployment.status, 'succeeded', a.error?.message);
  assert.equal(b.deployment.status, 'succeeded', b.error?.message);
  assert.deepEqual(queued, [{ packageId: pkg.id, position: 0 }], 'the second request was told it is queued');
  assert.ok(Date.parse(b.deployment.startedAt!) >= Date.parse(a.deployment.finishedAt!), 'deployments do not overlap');
  const calls = await kit.calls();
  const [p1, a1, p2, a2] = calls;
  assert.deepEqual(calls.map((c) => `${c.action}:${c.params.n}`), ['plan:1', 'apply:1', 'plan:2', 'apply:2']);
  assert.ok(p2.started >= a1.ended && a1.started >= p1.ended && a2.started >= p2.ended, 'step processes never overlapped');
  assert.ok(b.deployment.fencingToken! > a.deployment.fencingToken!, 'fencing tokens grow');
  // the second plan saw the first apply's state: an update, not a create
  assert.equal(b.deployment.plan?.change, 1);
  assert.deepEqual((await kit.store.getPackage(pkg.id)).lastAppliedParams, { n: 2 });
});

test('waiters get the lock in arrival order', async () => {
  const lock = new PackageLock(redis.client(), { prefix: `${uniqueName('l')}:`, ttlMs: 5000, pollMs: 10, maxPollMs: 30 });
  const holder = await lock.waitForLock('pkg');
  const order: string[] = [];
  const positions: Record<string, number> = {};
  const waiters = ['w1', 'w2', 'w3'].map(async (name, i) => {
    await sleep(30 * i);
    const lease = await lock.waitForLock('pkg', { owner: name, onQueued: (q) => void (positions[name] = q.position) });
    order.push(name);
    await sleep(20);
    await lease.release();
  });
  await sleep(150);
  assert.deepEqual(order, [], 'nobody gets a held lock');
  await holder.release();
  await Promise.all(waiters);
  assert.deepEqual(order, ['w1', 'w2', 'w3']);
  assert.deepEqual(positions, { w1: 0, w2: 1, w3: 2 });
});

test("a crashed holder's lock expires; its lease is fenced off and cannot release its successor's lock", async () => {
  const lock = new PackageLock(redis.client(), { prefix: `${uniqueName('l')}:`, ttlMs: 300, pollMs: 20, maxPollMs: 50 });
  const crashed = await lock.waitForLock('pkg', { owner: 'crashed-worker' });
  // the crashed worker never renews
  const t0 = Date.now();
  const successor = await lock.waitForLock('pkg', { owner: 'next-worker' });
  assert.ok(Date.now() - t0 >= 200, 'waited for the expiry');
  assert.ok(successor.token > crashed.token);
  await assert.rejects(crashed.assertCurrent(), LockLostError);
  assert.equal(await crashed.renew(), false);
  assert.equal(await crashed.release(), false);
  await successor.assertCurrent();
  assert.equal(await lock.currentToken('pkg'), successor.token);
  // keepAlive holds the lock past its ttl
  const stop = successor.keepAlive(() => assert.fail('lost'));
  await sleep(700);
  await successor.assertCurrent();
  stop();
  assert.equal(await successor.release(), true);
  assert.equal(await lock.currentToken('pkg'), undefined);
});

test('a waiter that crashes loses its place; a timed-out waiter leaves the queue', async () => {
  const lock = new PackageLock(redis.client(), { prefix: `${uniqueName('l')}:`, ttlMs: 5000, pollMs: 10, maxPollMs: 50 });
  const holder = await lock.waitForLock('pkg');
  // joins the queue once, then "crashes" (never polls again)
  assert.deepEqual((await lock.tryAcquire('pkg', 'ghost')).position, 0);
  await assert.rejects(lock.waitForLock('pkg', { owner: 'impatient', timeoutMs: 100 }), /timed out waiting/);
  await holder.release();
  // Without skipping the ghost (whose heartbeat expired) the patient waiter would never get the lock.
  const next = await lock.waitForLock('pkg', { owner: 'patient', timeoutMs: 60_000 });
  assert.equal(next.owner, 'patient');
  await next.release();
});

test('recoverStale marks a running deployment whose lock expired as failed and gives the package its last good status', async () => {
  // A TTL with room for a loaded CI machine between taking the lock and the first check.
  const kit = await makeKit(redis.client(), { lockTtlMs: 1500 });
  const bundle = await makeBundle(kit.root, { name: 'x', steps: [{ path: 'src' }] });
  kit.addBundle(bundle);
  const pkg = await kit.pkg(bundle, await kit.environment(), { status: 'provisioning', lastAppliedParams: { a: 1 } });
  // a worker took the lock, recorded its deployment, then died
  const lease = await kit.lock.waitForLock(pkg.id, { owner: 'dead-worker' });
  const stale = await kit.store.createDeployment({
    package: pkg.id, action: 'apply', status: 'running', fencingToken: lease.token, startedAt: new Date().toISOString(),
    steps: [{ path: 'src', provisioner: 'exec', status: 'running', log: [] }],
  });
  // a live deployment on another package is left alone
  const other = await kit.pkg(bundle, await kit.environment(), { status: 'provisioning' });
  const live = await kit.lock.waitForLock(other.id, { owner: 'live-worker' });
  const stopLive = live.keepAlive(() => undefined);
  const running = await kit.store.createDeployment({ package: other.id, action: 'apply', status: 'running', fencingToken: live.token, steps: [] });

  assert.deepEqual(await kit.runner.recoverStale(), [], 'nothing is stale while the lock lives');
  await sleep(1800);
  const recovered = await kit.runner.recoverStale();
  assert.deepEqual(recovered.map((d) => d.id), [stale.id]);
  const d = await kit.store.getDeployment(stale.id);
  assert.equal(d.status, 'failed');
  assert.match(d.error?.message ?? '', /worker .* stopped/);
  assert.equal(d.steps[0].status, 'failed');
  assert.equal((await kit.store.getPackage(pkg.id)).status, 'ready');
  assert.equal((await kit.store.getDeployment(running.id)).status, 'running');
  stopLive();
  await live.release();

  // the package can be deployed again
  const again = await kit.runner.apply(pkg.id);
  assert.equal(again.deployment.status, 'succeeded', again.error?.message);
});

test('a deployment whose lock is lost mid-run stops and writes nothing more', async () => {
  const kit = await makeKit(redis.client(), { lockTtlMs: 300 });
  const bundle = await makeBundle(kit.root, { name: 'slow', steps: [{ path: 'src', behaviour: { sleepMs: { apply: 3000 } } }] });
  kit.addBundle(bundle);
  const pkg = await kit.pkg(bundle, await kit.environment());
  const run = kit.runner.apply(pkg.id);
  await sleep(600);
  // someone (an operator, a split brain) deletes the lock: the holder must notice on renewal
  const keys = await redis.client().keys('*lock:' + pkg.id);
  await redis.client().del(...keys);
  await assert.rejects(run, LockLostError);
  const pkgAfter = await kit.store.getPackage(pkg.id);
  assert.deepEqual(pkgAfter.artifacts, {});
  assert.equal(pkgAfter.lastAppliedParams, undefined);
  // never left applying forever
  const [recovered] = await kit.runner.recoverStale();
  assert.equal(recovered.package, pkg.id);
  assert.equal(recovered.status, 'failed');
  assert.equal((await kit.store.getPackage(pkg.id)).status, 'failed');
});
