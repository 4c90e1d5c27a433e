import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { useRedis } from '../helpers/redis.ts';
import { actionsByAddress, allLogText, ExampleBundlePackage, loadExampleRegistry, makeWorkRoot } from './example-bundles-driver.ts';

/** The Redis authentication artifact as the redis-cache bundle prints it. */
interface RedisAuth {
  data: { authentication: { hostname: string; port: number; username: string; password: string; key_prefix: string } };
}

describe('example bundle redis-cache against a real redis-server', () => {
  const redis = useRedis();
  let work: Awaited<ReturnType<typeof makeWorkRoot>>;
  let admin: Redis;
  let pkg: ExampleBundlePackage;
  const logins: Redis[] = [];
  const username = 'checkout-staging-cache';

  before(async () => {
    work = await makeWorkRoot();
    admin = redis.client();
    pkg = new ExampleBundlePackage('redis-cache', username, work.dir, { TS_TARGET_REDIS_URL: redis.url });
  });
  after(async () => {
    for (const c of logins) c.disconnect();
    await work?.remove();
  });

  /** Logs in as the artifact's user, the way an application would. */
  async function loginWith(auth: RedisAuth): Promise<Redis> {
    const a = auth.data.authentication;
    const c = new Redis({ host: a.hostname, port: a.port, username: a.username, password: a.password, lazyConnect: true, enableReadyCheck: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
    logins.push(c);
    await c.connect();
    return c;
  }

  let firstAuth: RedisAuth;

  it('creates an ACL user confined to its key prefix and prints a redis-authentication artifact', async () => {
    const params = { key_prefix: 'checkout', access_level: 'read-write', max_memory_mb: 512 };
    const planned = await pkg.plan({ params });
    assert.deepEqual(actionsByAddress(planned.plan), { 'redis_acl_user.app': 'create', 'redis_hash.settings': 'create' });
    assert.equal(await admin.call('ACL', 'GETUSER', username), null, 'plan must not change anything');

    const out = await pkg.apply({ params });
    firstAuth = out.artifacts.authentication as RedisAuth;
    assert.deepEqual((await loadExampleRegistry()).validateArtifact('massdriver/redis-authentication', firstAuth), []);
    const a = firstAuth.data.authentication;
    assert.equal(a.username, username);
    assert.equal(a.port, redis.server.port);
    assert.equal(firstAuth.data.authentication.key_prefix, 'checkout:');
    assert.match(a.password, /^[A-Za-z0-9_-]{32}$/);
    assert.ok(!allLogText(out.logs).includes(a.password), 'the password must not reach the step log');

    assert.notEqual(await admin.call('ACL', 'GETUSER', username), null);
    assert.deepEqual(await admin.hgetall(`_redis-cache:settings:${username}`), {
      key_prefix: 'checkout',
      max_memory_mb: '512',
      eviction_policy: 'allkeys-lru',
    });

    const app = await loginWith(firstAuth);
    await app.set('checkout:cart:1', 'three items');
    assert.equal(await app.get('checkout:cart:1'), 'three items');
    await assert.rejects(app.set('search:x', '1'), /NOPERM/);
    await assert.rejects(app.get('_redis-cache:settings:checkout-staging-cache'), /NOPERM/);
    await assert.rejects(app.flushall(), /NOPERM/);
    await assert.rejects(app.keys('*'), /NOPERM/);
  });

  it('plans nothing when reality matches the params', async () => {
    const planned = await pkg.plan({ params: { key_prefix: 'checkout', access_level: 'read-write', max_memory_mb: 512 } });
    assert.deepEqual(actionsByAddress(planned.plan), { 'redis_acl_user.app': 'no-op', 'redis_hash.settings': 'no-op' });
    assert.equal(planned.summary.resources.length, 0);
  });

  it('updates the access level in place and keeps the password', async () => {
    const params = { key_prefix: 'checkout', access_level: 'read-only', max_memory_mb: 512 };
    const planned = await pkg.plan({ params });
    assert.deepEqual(actionsByAddress(planned.plan), { 'redis_acl_user.app': 'update', 'redis_hash.settings': 'no-op' });
    assert.equal(planned.summary.destructive, false);
    const change = planned.plan.resource_changes!.find((r) => r.address === 'redis_acl_user.app')!.change;
    assert.equal((change.before as { access_level: string }).access_level, 'read-write');
    assert.equal((change.after as { access_level: string }).access_level, 'read-only');

    const out = await pkg.apply({ params });
    const auth = out.artifacts.authentication as RedisAuth;
    assert.equal(auth.data.authentication.password, firstAuth.data.authentication.password);
    const app = await loginWith(auth);
    assert.equal(await app.get('checkout:cart:1'), 'three items');
    await assert.rejects(app.set('checkout:cart:2', 'x'), /NOPERM/);
  });

  it('shows a hand-made change in the next plan and converges it on apply', async () => {
    const params = { key_prefix: 'checkout', access_level: 'read-only', max_memory_mb: 512 };
    await admin.call('ACL', 'SETUSER', username, '+@all');
    const widened = await pkg.plan({ params });
    const change = widened.plan.resource_changes!.find((r) => r.address === 'redis_acl_user.app')!.change;
    assert.deepEqual(change.actions, ['update']);
    assert.equal((change.before as { access_level: string }).access_level, 'unrestricted');

    await admin.call('ACL', 'DELUSER', username);
    const deleted = await pkg.plan({ params });
    assert.deepEqual(actionsByAddress(deleted.plan), { 'redis_acl_user.app': 'create', 'redis_hash.settings': 'no-op' });

    await pkg.apply({ params });
    // Recreated with the password connected packages already hold.
    const app = await loginWith(firstAuth);
    assert.equal(await app.get('checkout:cart:1'), 'three items');
    await assert.rejects(app.flushall(), /NOPERM/);
  });

  it('replaces the cache when the key prefix changes, and refuses a replacement nobody approved', async () => {
    const oldParams = { key_prefix: 'checkout', access_level: 'read-only', max_memory_mb: 512 };
    const params = { key_prefix: 'checkout-v2', access_level: 'read-write', max_memory_mb: 512 };
    const approvedBefore = (await pkg.plan({ params: oldParams })).plan; // a plan showing no replacement
    const planned = await pkg.plan({ params });
    assert.deepEqual(actionsByAddress(planned.plan), { 'redis_acl_user.app': 'delete+create', 'redis_hash.settings': 'update' });
    assert.equal(planned.summary.destructive, true);
    assert.equal(planned.summary.replace, 1);
    const rc = planned.plan.resource_changes!.find((r) => r.address === 'redis_acl_user.app')!;
    assert.deepEqual(rc.change.replace_paths, [['key_pattern']]);

    await assert.rejects(pkg.applyApproved({ params }, approvedBefore), (err: Error & { excerpt?: string }) => {
      assert.match(`${err.message}\n${err.excerpt}`, /approved plan/);
      return true;
    });
    assert.equal(await admin.get('checkout:cart:1'), 'three items', 'a refused apply deletes nothing');

    const out = await pkg.applyApproved({ params }, planned.plan);
    assert.equal(await admin.exists('checkout:cart:1'), 0, 'the old prefix is dropped with the old cache');
    const app = await loginWith(out.artifacts.authentication as RedisAuth);
    await app.set('checkout-v2:cart:1', 'x');
    await assert.rejects(app.set('checkout:cart:1', 'x'), /NOPERM/);
  });

  it('destroys the ACL user, its settings and its keys', async () => {
    const params = { key_prefix: 'checkout-v2', access_level: 'read-write', max_memory_mb: 512 };
    await admin.set('unrelated:key', 'stays');
    const out = await pkg.destroy({ params });
    assert.deepEqual(actionsByAddress(out.plan), { 'redis_acl_user.app': 'delete', 'redis_hash.settings': 'delete' });
    assert.equal(out.summary.destroy, 2);
    assert.equal(await admin.call('ACL', 'GETUSER', username), null);
    assert.equal(await admin.exists(`_redis-cache:settings:${username}`), 0);
    assert.equal(await admin.exists('checkout-v2:cart:1'), 0);
    assert.equal(await admin.get('unrelated:key'), 'stays');
    const again = await pkg.plan({ params }, 'destroy');
    assert.deepEqual(actionsByAddress(again.plan), { 'redis_acl_user.app': 'no-op', 'redis_hash.settings': 'no-op' });
  });

  it('fails with a clear message when ops did not say where the server is', async () => {
    const orphan = new ExampleBundlePackage('redis-cache', 'no-target', work.dir, {});
    await assert.rejects(orphan.plan({ params: { key_prefix: 'x1', access_level: 'read-write' } }), (err: Error & { excerpt?: string }) => {
      assert.match(`${err.message}\n${err.excerpt}`, /TS_TARGET_REDIS_URL is not set/);
      return true;
    });
  });
});
