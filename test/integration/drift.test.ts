/**
 * Drift end to end on the real PostgreSQL and Redis the example bundles manage: hand changes are
 * found and classified, adopt changes the data model and not reality (the next plan is a no-op),
 * revert restores reality through an approved apply, both sides asks, policy's automatic choice
 * is honoured per environment, a failing observe keeps the package's state, and the same drift
 * seen again owes no new notice.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/engine/logger.ts';
import type { Request } from '../../src/engine/model.ts';
import { queueNames } from '../../src/queue/queues.ts';
import { startRuntime, type Runtime } from '../../src/runtime.ts';
import { waitFor } from '../../src/demo/story-steps.ts';
import { usePostgres } from '../helpers/postgres.ts';
import { uniqueName, useRedis } from '../helpers/redis.ts';

const POLICY = `version: 1
environments:
  - name: dev
    match: { names: [dev] }
    requesters: anyone
    approvals: none
  - name: prod
    match: { names: [prod] }
    requesters: anyone
    approvals: { groups: [platform-approvers], count: 1 }
drift:
  ops_fields: [production_critical]
  environments:
    - match: { names: [dev] }
      default: adopt
    - match: { names: [prod] }
      check_every: 1h
      default: ask
`;

const DANA = { id: 'dana', displayName: 'Dana Developer' };
const dana = { actor: DANA, surface: 'cli' as const };

describe('drift against the real PostgreSQL and Redis of the example bundles', () => {
  let runtime: Runtime;
  let dir: string;
  // Registered first so it runs before the servers stop.
  after(async () => {
    await runtime?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  const redis = useRedis();
  const pg = usePostgres();

  before(async () => {
    await redis.ready();
    dir = mkdtempSync(join(tmpdir(), 'drift-'));
    writeFileSync(join(dir, 'policy.yaml'), POLICY);
    const s = pg.server;
    Object.assign(process.env, { TS_TARGET_REDIS_URL: redis.url, TS_TARGET_PGHOST: s.socketDir, TS_TARGET_PGPORT: String(s.port), TS_TARGET_PGUSER: s.user, TS_TARGET_PSQL: `${s.binDir}/psql` });
    const prefix = uniqueName('drift');
    const config = loadConfig({ REDIS_URL: redis.url, REDIS_PREFIX: `${prefix}:`, LOG_LEVEL: 'silent', DATA_DIR: join(dir, 'data'), POLICY_FILE: join(dir, 'policy.yaml') });
    runtime = await startRuntime({ config, logger: createLogger('silent'), http: false, workers: true, queues: queueNames(prefix) });
    const ctx = { actor: 'platform-admin', surface: 'cli' as const };
    await runtime.opened.engine.createProject({ id: 'shop', name: 'Shop' }, ctx);
    for (const name of ['dev', 'prod']) await runtime.opened.engine.createEnvironment({ project: 'shop', name, labels: { production: name === 'prod' } }, ctx);
  });
  const state = (id: string, want: string): Promise<Request> =>
    waitFor(async () => {
      const r = await runtime.opened.engine.requests.get(id);
      if (r.state !== want && ['failed', 'invalid', 'rejected'].includes(r.state)) throw new Error(`${r.state}: ${JSON.stringify(r.error ?? r.issues)}`);
      return r.state === want ? r : undefined;
    }, `request ${id} ${want}`, 60_000);

  async function provision(env: string, bundle: string, pkg: string, answers: Record<string, unknown>): Promise<string> {
    const r = await runtime.workflow.submit({ kind: 'provision', actor: DANA, origin: { surface: 'cli', ref: `cli-${env}-${pkg}` }, project: 'shop', bundle, answers: { request_environment: env, request_package: pkg, ...answers } });
    if (env === 'prod') {
      await state(r.id, 'awaiting_approval');
      await runtime.workflow.approve({ requestId: r.id, approver: { id: 'bo' }, surface: 'cli' });
    }
    await state(r.id, 'applied');
    return `shop-${env}-${pkg}`;
  }

  /** The drift notices owed for `pkg` that reached the outbox queue. */
  async function driftNotices(pkg: string): Promise<number> {
    const jobs = await runtime.queues.outbox.getJobs(['waiting', 'active', 'completed', 'failed', 'delayed']);
    return jobs.filter((j) => j?.data?.message === 'drift' && j.data.detail?.package === pkg).length;
  }

  const db = { database_name: 'orders', username: 'orders_app', expected_size_gib: 50, production_critical: true, owner_team: 'checkout' };

  it('a hand change to a production connection limit is found, adopted by the owner, and the next plan is a no-op', async () => {
    const id = await provision('prod', 'postgres-database', 'orders-db', db);
    const clean = await runtime.drift.check(id, dana);
    assert.deepEqual(clean.findings.filter((f) => f.class !== 'in_sync'), []);

    await pg.query('ALTER ROLE orders_app CONNECTION LIMIT 400;');
    const found = await runtime.drift.check(id, dana);
    const limit = found.findings.find((f) => f.field === 'connection_limit')!;
    assert.deepEqual([limit.class, limit.proposal, limit.lastApplied, limit.desired, limit.observed, limit.owner], ['drifted', 'ask', 20, 20, 400, 'dev']);
    assert.equal(found.changed, true);
    const stored = await runtime.opened.engine.inventory.get('package', id);
    assert.equal(stored.observedParams?.connection_limit, 400);
    assert.match(stored.observed!.deployment, /^dep_/);
    await waitFor(async () => ((await driftNotices(id)) >= 1 ? true : undefined), 'drift notice');
    const notices = await driftNotices(id);

    const again = await runtime.drift.check(id, dana);
    assert.equal(again.changed, false, 'the same drift seen again is not news');
    assert.equal(await driftNotices(id), notices, 'nothing is posted twice');

    await runtime.drift.adopt(id, 'connection_limit', dana);
    const adopted = await runtime.opened.engine.inventory.get('package', id);
    assert.equal(adopted.desiredParams.connection_limit, 400);
    assert.deepEqual(await pg.query("SELECT rolconnlimit FROM pg_roles WHERE rolname = 'orders_app'"), [['400']], 'adopt leaves reality alone');
    const plan = await runtime.runner.plan(id);
    assert.deepEqual([plan.deployment.plan?.add, plan.deployment.plan?.change, plan.deployment.plan?.destroy], [0, 0, 0], 'the next plan is a no-op');
    const audit = await runtime.opened.engine.inventory.history('package', id);
    const event = audit.find((e) => e.action === 'package.drift.adopt')!;
    assert.deepEqual([event.actor, event.surface], ['dana', 'reality']);
    const after = await runtime.drift.check(id, dana);
    assert.deepEqual(after.findings.filter((f) => f.class !== 'in_sync'), []);
  });

  it('revert files an update request that restores reality through an approved apply', async () => {
    const id = 'shop-prod-orders-db';
    await pg.query("COMMENT ON DATABASE orders IS '{\"expected_size_gib\":50,\"owner_team\":\"payments\",\"production_critical\":true}';");
    const found = await runtime.drift.check(id, dana);
    const team = found.findings.find((f) => f.field === 'owner_team')!;
    assert.deepEqual([team.class, team.observed, team.proposal], ['drifted', 'payments', 'ask']);
    const r = await runtime.drift.revert(id, 'owner_team', dana);
    assert.equal(r.kind, 'update');
    await state(r.id, 'awaiting_approval');
    assert.equal((await pg.query("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = 'orders'"))[0]![0]!.includes('payments'), true, 'nothing changes before the approval');
    await runtime.workflow.approve({ requestId: r.id, approver: { id: 'bo' }, surface: 'cli' });
    await state(r.id, 'applied');
    const comment = (await pg.query("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = 'orders'"))[0]![0]!;
    assert.equal(JSON.parse(comment).owner_team, 'checkout');
    assert.equal((await runtime.drift.check(id, dana)).findings.find((f) => f.field === 'owner_team')!.class, 'in_sync');
  });

  it('a field changed on both sides asks; adopting a value the schema refuses is refused naming the field', async () => {
    const id = 'shop-prod-orders-db';
    await runtime.opened.engine.inventory.modify('package', id, (p) => void (p.desiredParams = { ...p.desiredParams, expected_size_gib: 80 }), { actor: 'dana', surface: 'cli' });
    await pg.query("COMMENT ON DATABASE orders IS '{\"expected_size_gib\":5,\"owner_team\":\"checkout\",\"production_critical\":true}';");
    const found = await runtime.drift.check(id, dana);
    const size = found.findings.find((f) => f.field === 'expected_size_gib')!;
    assert.deepEqual([size.class, size.proposal, size.lastApplied, size.desired, size.observed], ['both_sides', 'ask', 50, 80, 5]);
    await assert.rejects(runtime.drift.adopt(id, 'expected_size_gib', dana), (err: Error) => /Expected data size \(GiB\) cannot be adopted/.test(err.message));
    // Ops-owned fields need an approver.
    await pg.query("COMMENT ON DATABASE orders IS '{\"expected_size_gib\":50,\"owner_team\":\"checkout\",\"production_critical\":false}';");
    const ops = (await runtime.drift.check(id, dana)).findings.find((f) => f.field === 'production_critical')!;
    assert.deepEqual([ops.owner, ops.class], ['ops', 'drifted']);
    await assert.rejects(runtime.drift.adopt(id, 'production_critical', dana), (err: Error & { code?: string }) => err.code === 'forbidden');
  });

  it('in dev, policy adopts on its own; redis ACL changes made by hand are found', async () => {
    const id = await provision('dev', 'redis-cache', 'cache', { key_prefix: 'cache', access_level: 'read-write', max_memory_mb: 128 });
    const admin = redis.client();
    await admin.call('HSET', '_redis-cache:settings:shop-dev-cache', 'max_memory_mb', '512');
    await admin.call('ACL', 'SETUSER', 'shop-dev-cache', 'off');
    const found = await runtime.drift.check(id);
    const mem = found.findings.find((f) => f.field === 'max_memory_mb')!;
    assert.deepEqual([mem.class, mem.proposal], ['in_sync', 'none'], 'adopted by policy in the same write');
    const pkg = await runtime.opened.engine.inventory.get('package', id);
    assert.equal(pkg.desiredParams.max_memory_mb, 512);
    assert.equal(pkg.drift!.decisions.find((d) => d.field === 'max_memory_mb')?.by, 'policy');
    const acl = found.findings.find((f) => f.field === 'redis_acl_user.app.enabled')!;
    assert.deepEqual([acl.class, acl.observed, acl.proposal], ['reality_only', false, 'ask']);
    await assert.rejects(runtime.drift.adopt(id, 'redis_acl_user.app.enabled', { actor: { id: 'bo' }, surface: 'cli' }), /cannot be adopted: the bundle has no field/);
  });

  it('an observe that fails names the step and the package keeps its state', async () => {
    const id = 'shop-dev-cache';
    const before = await runtime.opened.engine.inventory.get('package', id);
    const saved = process.env.TS_TARGET_REDIS_URL;
    process.env.TS_TARGET_REDIS_URL = 'redis://127.0.0.1:1';
    try {
      const failed = await runtime.drift.check(id);
      assert.equal(failed.error?.step, 'src');
      assert.match(failed.error!.message, /step src: observe command/);
    } finally {
      process.env.TS_TARGET_REDIS_URL = saved;
    }
    const afterFail = await runtime.opened.engine.inventory.get('package', id);
    assert.deepEqual(afterFail.observedParams, before.observedParams);
    assert.deepEqual(afterFail.desiredParams, before.desiredParams);
    assert.equal(afterFail.drift?.error?.step, 'src');
  });
});
