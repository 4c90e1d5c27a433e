import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { startPostgresServer } from '../../src/dev/postgres-server.ts';
import { systemClock } from '../../src/engine/model.ts';
import type { PlanJson } from '../../src/engine/plan.ts';
import { runScanners } from '../../src/provisioners/scanners.ts';
import { usePostgres } from '../helpers/postgres.ts';
import { actionsByAddress, allLogText, ExampleBundlePackage, loadExampleRegistry, makeWorkRoot } from './example-bundles-driver.ts';

/** The PostgreSQL authentication artifact as the postgres-database bundle prints it. */
interface PgAuth {
  data: { authentication: { hostname: string; port: number; database: string; username: string; password: string } };
}

describe('example bundle postgres-database against a real PostgreSQL cluster', () => {
  const pg = usePostgres();
  let work: Awaited<ReturnType<typeof makeWorkRoot>>;
  let pkg: ExampleBundlePackage;
  let firstAuth: PgAuth;
  const base = { database_name: 'checkout_orders', username: 'checkout_app', expected_size_gib: 50, production_critical: false, owner_team: 'checkout' };

  before(async () => {
    work = await makeWorkRoot();
    const s = pg.server;
    pkg = new ExampleBundlePackage('postgres-database', 'checkout-staging-orders-db', work.dir, {
      TS_TARGET_PGHOST: s.socketDir,
      TS_TARGET_PGPORT: String(s.port),
      TS_TARGET_PGUSER: s.user,
      TS_TARGET_PSQL: `${s.binDir}/psql`,
    });
  });
  after(async () => {
    await work?.remove();
  });

  /** Runs the bundle's scanners over `plan` in an environment with `labels`; returns the decisions' outcomes. */
  async function scan(plan: PlanJson, labels: Record<string, boolean>): Promise<string[]> {
    const registry = await loadExampleRegistry();
    const file = join(work.dir, `scan-${Math.random().toString(36).slice(2)}.json`);
    await writeFile(file, JSON.stringify(plan));
    const decisions = await runScanners({ bundle: registry.get('postgres-database'), labels, planFiles: [{ step: 'src', file }], clock: systemClock });
    return decisions.map((d) => `${d.rule} ${d.outcome}${d.outcome === 'allow' ? '' : `: ${d.reason}`}`);
  }

  const login = (auth: PgAuth) => ({
    user: auth.data.authentication.username,
    password: auth.data.authentication.password,
    database: auth.data.authentication.database,
  });

  it('creates the database, the login role and the grant, and prints a postgresql-authentication artifact', async () => {
    const planned = await pkg.plan({ params: base });
    assert.deepEqual(actionsByAddress(planned.plan), {
      'postgresql_role.app': 'create',
      'postgresql_database.main': 'create',
      'postgresql_grant.app_all': 'create',
    });
    assert.equal(planned.summary.add, 3);
    assert.deepEqual(await scan(planned.plan, { production: true }), ['scanner:no-database-replacement allow']);
    assert.deepEqual(await pg.query("SELECT datname FROM pg_database WHERE datname = 'checkout_orders'"), [], 'plan changes nothing');

    const out = await pkg.apply({ params: base });
    firstAuth = out.artifacts.authentication as PgAuth;
    assert.deepEqual((await loadExampleRegistry()).validateArtifact('massdriver/postgresql-authentication', firstAuth), []);
    const a = firstAuth.data.authentication;
    assert.deepEqual([a.hostname, a.port, a.username, a.database], ['127.0.0.1', pg.server.port, 'checkout_app', 'checkout_orders']);
    assert.ok(!allLogText(out.logs).includes(a.password), 'the password must not reach the step log');

    assert.deepEqual(await pg.query("SELECT datname, pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'checkout_orders'"), [
      ['checkout_orders', 'checkout_app'],
    ]);
    assert.deepEqual(await pg.query("SELECT rolcanlogin::text, rolconnlimit::text FROM pg_roles WHERE rolname = 'checkout_app'"), [['true', '20']]);
    const comment = await pg.query("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = 'checkout_orders'");
    assert.deepEqual(JSON.parse(comment[0]![0]!), { expected_size_gib: 50, owner_team: 'checkout', production_critical: false });

    // The artifact's credentials log in over TCP (scram-sha-256) and may create tables.
    assert.deepEqual(await pg.queryAs(login(firstAuth), 'CREATE TABLE orders (id int); INSERT INTO orders VALUES (7); SELECT id FROM orders'), [['7']]);
    await assert.rejects(pg.queryAs({ ...login(firstAuth), password: 'wrong-password' }, 'SELECT 1'), /password authentication failed/);
  });

  it('plans nothing when reality matches the params', async () => {
    const planned = await pkg.plan({ params: base });
    assert.equal(planned.summary.resources.length, 0);
  });

  it('updates the role and the database in place and keeps the password', async () => {
    const params = { ...base, expected_size_gib: 200, production_critical: true, connection_limit: 50 };
    const planned = await pkg.plan({ params });
    assert.deepEqual(actionsByAddress(planned.plan), {
      'postgresql_role.app': 'update',
      'postgresql_database.main': 'update',
      'postgresql_grant.app_all': 'no-op',
    });
    assert.equal(planned.summary.destructive, false);
    const out = await pkg.apply({ params });
    assert.equal((out.artifacts.authentication as PgAuth).data.authentication.password, firstAuth.data.authentication.password);
    assert.deepEqual(await pg.query("SELECT rolconnlimit::text FROM pg_roles WHERE rolname = 'checkout_app'"), [['50']]);
    const comment = await pg.query("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = 'checkout_orders'");
    assert.equal(JSON.parse(comment[0]![0]!).expected_size_gib, 200);
    assert.deepEqual(await pg.queryAs(login(firstAuth), 'SELECT id FROM orders'), [['7']]);
  });

  it('shows hand-made drift in the next plan and converges it', async () => {
    const params = { ...base, expected_size_gib: 200, production_critical: true, connection_limit: 50 };
    await pg.query("ALTER ROLE checkout_app PASSWORD 'set-by-hand' CONNECTION LIMIT 3");
    await pg.query('REVOKE ALL ON DATABASE checkout_orders FROM checkout_app');
    const planned = await pkg.plan({ params });
    assert.deepEqual(actionsByAddress(planned.plan), {
      'postgresql_role.app': 'update',
      'postgresql_database.main': 'no-op',
      'postgresql_grant.app_all': 'create',
    });
    const role = planned.plan.resource_changes!.find((r) => r.address === 'postgresql_role.app')!.change;
    assert.deepEqual(role.before, { name: 'checkout_app', login: true, connection_limit: 3, password_matches: false });
    await assert.rejects(pg.queryAs(login(firstAuth), 'SELECT 1'), /password authentication failed/);

    await pkg.apply({ params });
    assert.deepEqual(await pg.queryAs(login(firstAuth), 'SELECT id FROM orders'), [['7']], 'the artifact password works again');
    assert.deepEqual(await pg.query("SELECT rolconnlimit::text FROM pg_roles WHERE rolname = 'checkout_app'"), [['50']]);
    assert.equal((await pkg.plan({ params })).summary.resources.length, 0);
  });

  it('flags renaming the database as a destructive replacement and carries it out only as approved', async () => {
    const params = { ...base, database_name: 'checkout_orders_v2', expected_size_gib: 200, production_critical: true, connection_limit: 50 };
    const planned = await pkg.plan({ params });
    assert.deepEqual(actionsByAddress(planned.plan), {
      'postgresql_role.app': 'no-op',
      'postgresql_database.main': 'delete+create',
      'postgresql_grant.app_all': 'delete+create',
    });
    assert.equal(planned.summary.destructive, true);
    assert.ok(planned.summary.resources.some((r) => r.address === 'postgresql_database.main' && r.action === 'replace' && r.destructive));
    const finding = 'postgresql_database.main would be replaced (checkout_orders -> checkout_orders_v2): its data is lost unless restored from a backup';
    assert.deepEqual(await scan(planned.plan, { production: true }), [`scanner:no-database-replacement deny: ${finding}`]);
    assert.deepEqual(await scan(planned.plan, { production: false }), [`scanner:no-database-replacement warn: ${finding}`]);

    await pkg.applyApproved({ params }, planned.plan);
    assert.deepEqual(await pg.query("SELECT datname FROM pg_database WHERE datname LIKE 'checkout_orders%' ORDER BY 1"), [['checkout_orders_v2']]);
    const auth = { data: { authentication: { ...firstAuth.data.authentication, database: 'checkout_orders_v2' } } };
    assert.deepEqual(await pg.queryAs(login(auth), "SELECT to_regclass('orders') IS NULL"), [['t']], 'a new, empty database');
  });

  it('destroys the database and the role', async () => {
    const params = { ...base, database_name: 'checkout_orders_v2' };
    const out = await pkg.destroy({ params });
    assert.deepEqual(actionsByAddress(out.plan), {
      'postgresql_role.app': 'delete',
      'postgresql_database.main': 'delete',
      'postgresql_grant.app_all': 'delete',
    });
    assert.deepEqual(await pg.query("SELECT datname FROM pg_database WHERE datname LIKE 'checkout_orders%'"), []);
    assert.deepEqual(await pg.query("SELECT rolname FROM pg_roles WHERE rolname = 'checkout_app'"), []);
  });

  it('refuses identifiers that do not match the schema pattern before touching the server', async () => {
    const bad = { ...base, database_name: 'orders"; DROP DATABASE postgres; --' };
    await assert.rejects(pkg.plan({ params: bad }), (err: Error & { excerpt?: string }) => {
      assert.match(`${err.message}\n${err.excerpt}`, /database_name must match/);
      return true;
    });
    assert.equal((await pg.query("SELECT count(*) FROM pg_database WHERE datname = 'postgres'"))[0]![0], '1');
  });
});

describe('private PostgreSQL cluster launcher', () => {
  it('starts a cluster on a free loopback port and leaves nothing behind when stopped', async () => {
    const server = await startPostgresServer();
    assert.equal(server.host, '127.0.0.1');
    assert.ok(existsSync(server.dataDir));
    const reachable = (port: number) =>
      new Promise<boolean>((resolve) => {
        const sock = connect(port, '127.0.0.1');
        sock.on('connect', () => (sock.destroy(), resolve(true)));
        sock.on('error', () => resolve(false));
      });
    assert.equal(await reachable(server.port), true);
    await server.stop();
    assert.equal(await reachable(server.port), false);
    assert.equal(existsSync(server.socketDir), false);
    await server.stop(); // twice is fine
  });
});
