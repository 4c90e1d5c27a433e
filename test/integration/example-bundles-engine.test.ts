import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { DeploymentRunner, RedisDeploymentStore } from '../../src/engine/deployments.ts';
import { PackageLock } from '../../src/engine/package-lock.ts';
import type { BundleRegistry } from '../../src/engine/registry/index.ts';
import { ExecProvisioner } from '../../src/provisioners/exec.ts';
import { ProcessPlanScanner } from '../../src/provisioners/scanners.ts';
import { usePostgres } from '../helpers/postgres.ts';
import { useRedis } from '../helpers/redis.ts';
import { loadExampleRegistry, makeWorkRoot } from './example-bundles-driver.ts';

/**
 * The example bundles through the real engine: DeploymentRunner + ExecProvisioner + registry,
 * packages and artifacts in Redis, connections resolved from the producing package's artifact.
 */
describe('example bundles deployed by the engine: database, cache, then checkout-api promoted', () => {
  const redis = useRedis();
  const pg = usePostgres();
  let work: Awaited<ReturnType<typeof makeWorkRoot>>;
  let registry: BundleRegistry;
  let admin: Redis;
  let store: RedisDeploymentStore;
  let runner: DeploymentRunner;
  let envId: string;

  before(async () => {
    work = await makeWorkRoot();
    registry = await loadExampleRegistry();
    admin = redis.client();
    store = new RedisDeploymentStore(admin);
    const s = pg.server;
    const baseEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      TS_TARGET_REDIS_URL: redis.url,
      TS_TARGET_PGHOST: s.socketDir,
      TS_TARGET_PGPORT: String(s.port),
      TS_TARGET_PGUSER: s.user,
      TS_TARGET_PSQL: `${s.binDir}/psql`,
    };
    runner = new DeploymentRunner({
      store,
      getBundle: (name, version) => registry.get(name, version),
      provisioners: { exec: new ExecProvisioner({ baseEnv }) },
      lock: new PackageLock(admin),
      validateArtifact: (def, data) => registry.validateArtifact(def, data),
      sensitivePointers: (def) => registry.artifactDefinition(def).sensitivePointers,
      workRoot: `${work.dir}/work`,
      stateRoot: `${work.dir}/state`,
      scanner: new ProcessPlanScanner({ baseEnv }),
    });
    envId = (await store.createEnvironment({ project: 'checkout', name: 'staging', labels: { production: false } })).id;
  });
  after(async () => {
    await work?.remove();
  });

  const newPackage = (name: string, bundle: string, version: string, desiredParams: Record<string, unknown>, connections = {}) =>
    store.createPackage({ project: 'checkout', environment: envId, name, bundle, version, desiredParams, connections, artifacts: {}, status: 'new' });

  it('provisions, promotes and decommissions for real', async () => {
    const db = await newPackage('orders-db', 'postgres-database', '1.4.0', {
      database_name: 'checkout_orders',
      username: 'checkout_app',
      expected_size_gib: 50,
      production_critical: false,
      owner_team: 'checkout',
    });
    const dbRun = await runner.apply(db.id);
    assert.equal(dbRun.error, undefined, dbRun.error?.message);
    assert.equal(dbRun.cost?.after, 38.4);
    assert.deepEqual(await pg.query("SELECT datname FROM pg_database WHERE datname = 'checkout_orders'"), [['checkout_orders']]);
    const stored = await store.getPackage(db.id);
    assert.equal(stored.status, 'ready');
    const password = (stored.artifacts.authentication as { data: { authentication: { password: string } } }).data.authentication.password;
    const deployment = await store.getDeployment(dbRun.deployment.id);
    assert.ok(!JSON.stringify(deployment).includes(password), 'the password is nowhere in the stored deployment');

    const cache = await newPackage('cache', 'redis-cache', '1.2.0', { key_prefix: 'checkout', access_level: 'read-write' });
    assert.equal((await runner.apply(cache.id)).error, undefined);
    assert.notEqual(await admin.call('ACL', 'GETUSER', 'checkout-staging-cache'), null);

    const api = await newPackage('api', 'checkout-api', '2.13.2', { replicas: 2, log_level: 'info' }, {
      database: { package: db.id, artifact: 'authentication' },
      cache: { package: cache.id, artifact: 'authentication' },
    });
    const first = await runner.apply(api.id);
    assert.equal(first.error, undefined, first.error?.message);
    assert.equal(await admin.get('checkout:app:checkout-api:release'), '2.13.2');

    // The product manager's promotion: same params, the next bundle version.
    await store.updatePackage(api.id, { version: '2.14.0' });
    const plan = await runner.plan(api.id);
    assert.deepEqual([plan.deployment.plan?.add, plan.deployment.plan?.change, plan.deployment.plan?.destroy], [0, 2, 0]);
    assert.equal(plan.cost?.delta, 0);
    assert.equal((await runner.apply(api.id)).error, undefined);
    assert.deepEqual(await pg.query("SELECT version FROM app_releases WHERE app = 'checkout-api'", {}, 'checkout_orders'), [['2.14.0']]);
    assert.equal(await admin.get('checkout:app:checkout-api:release'), '2.14.0');

    for (const id of [api.id, cache.id, db.id]) {
      const gone = await runner.destroy(id);
      assert.equal(gone.error, undefined, gone.error?.message);
    }
    assert.deepEqual(await pg.query("SELECT datname FROM pg_database WHERE datname = 'checkout_orders'"), []);
    assert.deepEqual(await pg.query("SELECT rolname FROM pg_roles WHERE rolname = 'checkout_app'"), []);
    assert.equal(await admin.call('ACL', 'GETUSER', 'checkout-staging-cache'), null);
  });
});
