import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { usePostgres } from '../helpers/postgres.ts';
import { useRedis } from '../helpers/redis.ts';
import { actionsByAddress, allLogText, ExampleBundlePackage, loadExampleRegistry, makeWorkRoot } from './example-bundles-driver.ts';

describe('example bundle checkout-api, connected to a real database and cache, promoted 2.13.2 -> 2.14.0', () => {
  const pg = usePostgres();
  const redis = useRedis();
  let work: Awaited<ReturnType<typeof makeWorkRoot>>;
  let admin: Redis;
  let connections: { database: Record<string, any>; cache: Record<string, any> };
  let passwords: string[];
  const dbParams = { database_name: 'checkout_orders', username: 'checkout_app', expected_size_gib: 50, production_critical: false, owner_team: 'checkout' };
  const cacheParams = { key_prefix: 'checkout', access_level: 'read-write' };
  const appPackage = 'checkout-staging-api';

  const pkgAt = (version: string) => new ExampleBundlePackage(`checkout-api/${version}`, appPackage, work.dir, {});
  const releaseRow = () => pg.query("SELECT version, image, replicas::text, log_level, features::text FROM app_releases WHERE app = 'checkout-api'", {}, 'checkout_orders');

  before(async () => {
    work = await makeWorkRoot();
    admin = redis.client();
    const s = pg.server;
    const db = new ExampleBundlePackage('postgres-database', 'checkout-staging-orders-db', work.dir, {
      TS_TARGET_PGHOST: s.socketDir,
      TS_TARGET_PGPORT: String(s.port),
      TS_TARGET_PGUSER: s.user,
      TS_TARGET_PSQL: `${s.binDir}/psql`,
    });
    const cache = new ExampleBundlePackage('redis-cache', 'checkout-staging-cache', work.dir, { TS_TARGET_REDIS_URL: redis.url });
    // The connections a deployment hands checkout-api: the artifacts of the connected packages.
    connections = {
      database: (await db.apply({ params: dbParams })).artifacts.authentication as Record<string, any>,
      cache: (await cache.apply({ params: cacheParams })).artifacts.authentication as Record<string, any>,
    };
    passwords = [connections.database.data.authentication.password, connections.cache.data.authentication.password];
  });
  after(async () => {
    await work?.remove();
  });

  it('declares typed connections the registry enforces', async () => {
    const registry = await loadExampleRegistry();
    assert.deepEqual(registry.versions('checkout-api').slice(0, 2), ['2.14.0', '2.13.2']);
    const bundle = registry.get('checkout-api', '2.14.0');
    assert.doesNotThrow(() => registry.checkConnection(bundle, 'database', 'massdriver/postgresql-authentication'));
    assert.throws(() => registry.checkConnection(bundle, 'database', 'massdriver/redis-authentication'), /accepts postgresql-authentication/);
    assert.doesNotThrow(() => registry.checkConnection(bundle, 'cache', 'redis-authentication'));
  });

  it('deploys 2.13.2 by recording its release with the connected credentials', async () => {
    const pkg = pkgAt('2.13.2');
    const planned = await pkg.plan({ params: { replicas: 2, log_level: 'info' }, connections });
    assert.deepEqual(actionsByAddress(planned.plan), {
      'postgresql_table.app_releases': 'create',
      'app_release.checkout_api': 'create',
      'redis_key.release': 'create',
    });
    const out = await pkg.apply({ params: { replicas: 2, log_level: 'info' }, connections });
    assert.deepEqual(out.artifacts, {});
    for (const p of passwords) assert.ok(!allLogText([...planned.logs, ...out.logs]).includes(p), 'a connected password reached the step log');
    assert.deepEqual(await releaseRow(), [['2.13.2', 'ghcr.io/acme/checkout-api:2.13.2', '2', 'info', '{}']]);
    // Written as the application's role, not as the superuser.
    assert.deepEqual(await pg.query("SELECT tableowner FROM pg_tables WHERE tablename = 'app_releases'", {}, 'checkout_orders'), [['checkout_app']]);
    assert.equal(await admin.get('checkout:app:checkout-api:release'), '2.13.2');
  });

  it('shows the promotion to 2.14.0 as changes only, and applies it', async () => {
    const pkg = pkgAt('2.14.0');
    const params = { replicas: 2, log_level: 'info', express_checkout: true };
    const planned = await pkg.plan({ params, connections });
    assert.deepEqual(actionsByAddress(planned.plan), {
      'postgresql_table.app_releases': 'no-op',
      'app_release.checkout_api': 'update',
      'redis_key.release': 'update',
    });
    assert.deepEqual([planned.summary.add, planned.summary.change, planned.summary.destroy], [0, 2, 0]);
    const release = planned.plan.resource_changes!.find((r) => r.address === 'app_release.checkout_api')!.change;
    assert.equal((release.before as { version: string }).version, '2.13.2');
    assert.equal((release.after as { version: string }).version, '2.14.0');

    await pkg.apply({ params, connections });
    assert.deepEqual(await releaseRow(), [['2.14.0', 'ghcr.io/acme/checkout-api:2.14.0', '2', 'info', '{"express_checkout": true}']]);
    assert.equal(await admin.get('checkout:app:checkout-api:release'), '2.14.0');
    assert.equal((await pkg.plan({ params, connections })).summary.resources.length, 0);
  });

  it('sees a release record changed by hand as drift', async () => {
    await pg.query("UPDATE app_releases SET replicas = 9 WHERE app = 'checkout-api'", {}, 'checkout_orders');
    const planned = await pkgAt('2.14.0').plan({ params: { replicas: 2, log_level: 'info', express_checkout: true }, connections });
    assert.equal(actionsByAddress(planned.plan)['app_release.checkout_api'], 'update');
  });

  it('fails naming the connection when its credentials are wrong', async () => {
    const wrong = structuredClone(connections);
    wrong.database.data.authentication.password = 'not-the-password';
    await assert.rejects(pkgAt('2.14.0').plan({ params: { replicas: 2, log_level: 'info' }, connections: wrong }), (err: Error & { excerpt?: string }) => {
      assert.match(`${err.message}\n${err.excerpt}`, /connection "database" \(postgresql-authentication\): psql failed \(exit 2\): .*password authentication failed/);
      assert.ok(!`${err.message}\n${err.excerpt}`.includes('not-the-password'));
      return true;
    });
  });

  it('destroys the release record, its table and its cache key', async () => {
    const out = await pkgAt('2.14.0').destroy({ params: { replicas: 2, log_level: 'info', express_checkout: true }, connections });
    assert.deepEqual(actionsByAddress(out.plan), {
      'postgresql_table.app_releases': 'delete',
      'app_release.checkout_api': 'delete',
      'redis_key.release': 'delete',
    });
    assert.deepEqual(await pg.query("SELECT to_regclass('public.app_releases') IS NULL", {}, 'checkout_orders'), [['t']]);
    assert.equal(await admin.exists('checkout:app:checkout-api:release'), 0);
  });
});
