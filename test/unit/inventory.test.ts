import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useRedis, uniqueName } from '../helpers/redis.ts';
import { Inventory, assertSlug } from '../../src/engine/inventory.ts';
import { AlreadyExistsError, ConflictError, IllegalTransitionError, NotFoundError, ValidationError } from '../../src/engine/errors.ts';
import type { AuditContext } from '../../src/engine/audit.ts';
import type { Clock, Request } from '../../src/engine/model.ts';

const redis = useRedis();
const ctx: AuditContext = { actor: 'alice', surface: 'cli' };

/** A clock that moves one second per reading, so creation order is unambiguous. */
function tickingClock(start = Date.parse('2026-11-24T10:00:00Z')): Clock {
  let t = start;
  return { now: () => new Date((t += 1000)) };
}

function newInventory(): Inventory {
  return new Inventory({ redis: redis.client(), prefix: `${uniqueName('inv')}:`, clock: tickingClock() });
}

async function seed(inv: Inventory): Promise<void> {
  await inv.createProject({ name: 'checkout' }, ctx);
  await inv.createProject({ name: 'search' }, ctx);
  await inv.createEnvironment({ project: 'checkout', name: 'staging', labels: { production: false } }, ctx);
  await inv.createEnvironment({ project: 'checkout', name: 'production', labels: { production: true, tier: 1 } }, ctx);
  await inv.createEnvironment({ project: 'search', name: 'production', labels: { production: true } }, ctx);
}

test('ids are readable slugs derived from project, environment and name; records start at revision 1', async () => {
  const inv = newInventory();
  await seed(inv);
  const env = await inv.get('environment', 'checkout-staging');
  assert.equal(env.project, 'checkout');
  assert.deepEqual(env.labels, { production: false });
  const pkg = await inv.createPackage({ environment: 'checkout-staging', name: 'orders-db', bundle: 'postgres-database', version: '1.4.0' }, ctx);
  assert.equal(pkg.id, 'checkout-staging-orders-db');
  assert.equal(pkg.project, 'checkout');
  assert.equal(pkg.revision, 1);
  assert.equal(pkg.status, 'new');
  assert.equal(pkg.createdAt, pkg.updatedAt);
  assert.deepEqual(await inv.get('package', pkg.id), pkg);
  const dep = await inv.createDeployment({ package: pkg.id, action: 'plan', request: 'req_abcdefgh' }, ctx);
  assert.match(dep.id, /^dep_[a-z2-7]{16}$/);
  assert.equal(dep.status, 'queued');
});

test('bad slugs and bad fields are refused with errors naming the field', async () => {
  const inv = newInventory();
  await seed(inv);
  await assert.rejects(inv.createProject({ name: 'Checkout Team' }, ctx), (e: unknown) => e instanceof ValidationError && e.issues[0]!.pointer === '/name' && /lowercase/.test(e.message));
  await assert.rejects(
    inv.createEnvironment({ project: 'checkout', name: 'dev_1', labels: { ok: true, bad: { x: 1 } as never } }, ctx),
    (e: unknown) => e instanceof ValidationError && e.issues.map((i) => i.pointer).sort().join() === '/labels/bad,/name',
  );
  await assert.rejects(
    inv.createPackage({ environment: 'checkout-staging', name: 'db', bundle: '', version: '1.0.0', costMonthly: -1 }, ctx),
    (e: unknown) => e instanceof ValidationError && e.issues.map((i) => i.field).sort().join() === 'bundle,costMonthly',
  );
  assert.throws(() => assertSlug('environment', '-x'), /environment/);
  await assert.rejects(inv.createProject({ name: 'ok' }, { actor: '', surface: 'cli' }), (e: unknown) => e instanceof ValidationError && e.issues[0]!.field === 'actor');
});

test('unknown ids and parents give NotFoundError; a taken id gives AlreadyExistsError (a conflict)', async () => {
  const inv = newInventory();
  await seed(inv);
  await assert.rejects(inv.get('package', 'nope'), (e: unknown) => e instanceof NotFoundError && e.id === 'nope' && e.code === 'not_found');
  assert.equal(await inv.find('package', 'nope'), undefined);
  await assert.rejects(inv.createEnvironment({ project: 'ghost', name: 'dev' }, ctx), NotFoundError);
  await assert.rejects(inv.createPackage({ environment: 'checkout-dev', name: 'x', bundle: 'b', version: '1' }, ctx), NotFoundError);
  await assert.rejects(inv.createProject({ name: 'checkout' }, ctx), (e: unknown) => e instanceof AlreadyExistsError && e.code === 'conflict');
  await assert.rejects(inv.update('project', 'ghost', 1, () => {}, ctx), NotFoundError);
  // Concurrent creates of the same id: exactly one wins.
  const results = await Promise.allSettled([1, 2, 3, 4].map(() => inv.createProject({ name: 'race' }, ctx)));
  assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
  assert.ok(results.every((r) => r.status === 'fulfilled' || r.reason instanceof AlreadyExistsError));
});

test('update is a compare-and-set on revision: stale and concurrent writers get ConflictError', async () => {
  const inv = newInventory();
  await seed(inv);
  const p1 = await inv.createPackage({ environment: 'checkout-staging', name: 'cache', bundle: 'redis-cache', version: '1.0.0' }, ctx);
  const p2 = await inv.update('package', p1.id, 1, (d) => void (d.costMonthly = 90), ctx);
  assert.equal(p2.revision, 2);
  assert.equal(p2.costMonthly, 90);
  assert.equal(p2.createdAt, p1.createdAt);
  assert.notEqual(p2.updatedAt, p1.updatedAt);
  await assert.rejects(
    inv.update('package', p1.id, 1, (d) => void (d.costMonthly = 1), ctx),
    (e: unknown) => e instanceof ConflictError && /revision 2/.test(e.message) && /revision 1/.test(e.message),
  );
  // Both read revision 2 before either writes; the check inside Redis lets only one through.
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let entered = 0;
  const writer = (cost: number) =>
    inv.update(
      'package',
      p1.id,
      2,
      async (d) => {
        entered++;
        if (entered === 2) release();
        await gate;
        d.costMonthly = cost;
      },
      ctx,
    );
  const settled = await Promise.allSettled([writer(100), writer(200)]);
  assert.equal(settled.filter((s) => s.status === 'fulfilled').length, 1);
  const loser = settled.find((s) => s.status === 'rejected') as PromiseRejectedResult;
  assert.ok(loser.reason instanceof ConflictError);
  const final = await inv.get('package', p1.id);
  assert.equal(final.revision, 3);
  const winner = (settled.find((s) => s.status === 'fulfilled') as PromiseFulfilledResult<{ costMonthly?: number }>).value;
  assert.equal(final.costMonthly, winner.costMonthly);
  // modify() retries on conflicts: 10 parallel increments all land.
  await Promise.all(Array.from({ length: 10 }, () => inv.modify('package', p1.id, (d) => void (d.costMonthly = (d.costMonthly ?? 0) + 1), ctx, { attempts: 50 })));
  assert.equal((await inv.get('package', p1.id)).costMonthly, final.costMonthly! + 10);
  assert.equal((await inv.get('package', p1.id)).revision, 13);
});

test('identity fields cannot change and a request state only moves along the lifecycle', async () => {
  const inv = newInventory();
  await seed(inv);
  const pkg = await inv.createPackage({ environment: 'checkout-staging', name: 'db', bundle: 'postgres-database', version: '1.0.0' }, ctx);
  await assert.rejects(inv.update('package', pkg.id, 1, (d) => void (d.environment = 'checkout-production'), ctx), (e: unknown) => e instanceof ValidationError && e.issues[0]!.field === 'environment');
  await assert.rejects(inv.update('package', pkg.id, 1, (d) => ({ ...d, id: 'other' }) as typeof d, ctx).then(async () => inv.get('package', 'other')), NotFoundError);
  const req = await inv.create('request', requestRecord('req_statecheck1'), ctx);
  await assert.rejects(inv.update('request', req.id, 1, (d) => void (d.state = 'applied'), ctx), IllegalTransitionError);
  assert.equal((await inv.get('request', req.id)).revision, 1);
});

function requestRecord(id: string, overrides: Partial<Request> = {}): Omit<Request, 'revision' | 'createdAt' | 'updatedAt'> {
  return {
    id,
    kind: 'provision',
    state: 'received',
    contentRevision: 1,
    actor: { id: 'dev-1' },
    origin: { surface: 'jira', ref: 'OPS-1' },
    project: 'checkout',
    environment: 'checkout-staging',
    bundle: 'postgres-database',
    decisions: [],
    approvals: [],
    history: [],
    ...overrides,
  };
}

test('indexes follow every write: list by project, environment, bundle, status, state, origin, package', async () => {
  const inv = newInventory();
  await seed(inv);
  await inv.createPackage({ environment: 'checkout-staging', name: 'db', bundle: 'postgres-database', version: '1.0.0' }, ctx);
  await inv.createPackage({ environment: 'checkout-production', name: 'db', bundle: 'postgres-database', version: '1.0.0' }, ctx);
  await inv.createPackage({ environment: 'checkout-production', name: 'cache', bundle: 'redis-cache', version: '2.0.0' }, ctx);
  await inv.createPackage({ environment: 'search-production', name: 'index', bundle: 'object-storage', version: '0.1.0' }, ctx);
  const ids = (xs: { id: string }[]) => xs.map((x) => x.id);

  assert.deepEqual(ids(await inv.list('environment', { project: 'checkout' })), ['checkout-staging', 'checkout-production']);
  assert.deepEqual(ids(await inv.list('package', { project: 'checkout' })), ['checkout-staging-db', 'checkout-production-db', 'checkout-production-cache']);
  assert.deepEqual(ids(await inv.list('package', { environment: 'checkout-production' }, { order: 'desc' })), ['checkout-production-cache', 'checkout-production-db']);
  assert.deepEqual(ids(await inv.list('package', { bundle: 'postgres-database', project: 'checkout' })), ['checkout-staging-db', 'checkout-production-db']);
  assert.deepEqual(ids(await inv.list('package', {}, { offset: 1, limit: 2 })), ['checkout-production-db', 'checkout-production-cache']);
  assert.equal(await inv.count('package'), 4);

  const db = await inv.get('package', 'checkout-production-db');
  await inv.update('package', db.id, db.revision, (d) => void (d.status = 'ready'), ctx);
  assert.deepEqual(ids(await inv.list('package', { status: 'ready' })), ['checkout-production-db']);
  assert.deepEqual(ids(await inv.list('package', { status: 'new' })), ['checkout-staging-db', 'checkout-production-cache', 'search-production-index']);
  assert.deepEqual(ids(await inv.list('package', { status: 'ready', environment: 'checkout-staging' })), []);

  const r1 = await inv.create('request', requestRecord('req_aaaaaaaa', { package: 'checkout-staging-db' }), ctx);
  await inv.create('request', requestRecord('req_bbbbbbbb', { origin: { surface: 'servicenow', ref: 'RITM001' } }), ctx);
  await inv.update('request', r1.id, 1, (d) => void (d.state = 'validated'), ctx);
  assert.deepEqual(ids(await inv.list('request', { state: 'validated' })), ['req_aaaaaaaa']);
  assert.deepEqual(ids(await inv.list('request', { state: 'received' })), ['req_bbbbbbbb']);
  assert.deepEqual(ids(await inv.list('request', { origin: { surface: 'jira', ref: 'OPS-1' } })), ['req_aaaaaaaa']);
  assert.deepEqual(ids(await inv.list('request', { package: 'checkout-staging-db' })), ['req_aaaaaaaa']);

  const d1 = await inv.createDeployment({ package: 'checkout-staging-db', action: 'plan', request: r1.id }, ctx);
  await inv.createDeployment({ package: 'checkout-production-db', action: 'apply' }, ctx);
  await inv.update('deployment', d1.id, 1, (d) => void (d.status = 'succeeded'), ctx);
  assert.deepEqual(ids(await inv.list('deployment', { package: 'checkout-staging-db' })), [d1.id]);
  assert.deepEqual(ids(await inv.list('deployment', { status: 'succeeded' })), [d1.id]);
  assert.deepEqual(ids(await inv.list('deployment', { status: 'queued' })).length, 1);
});

test('every create and update is audited with actor, surface and a before/after of what changed', async () => {
  const inv = newInventory();
  await seed(inv);
  const pkg = await inv.createPackage({ environment: 'checkout-staging', name: 'db', bundle: 'postgres-database', version: '1.0.0', desiredParams: { size: 20 } }, ctx);
  await inv.update('package', pkg.id, 1, (d) => void ((d.desiredParams = { size: 50 }), (d.version = '1.1.0')), { actor: 'bob', surface: 'jira', request: 'req_zzzzzzzz' }, { reason: 'bigger' });
  const events = await inv.history('package', pkg.id);
  assert.deepEqual(events.map((e) => e.action), ['package.create', 'package.update']);
  assert.equal(events[0]!.actor, 'alice');
  assert.equal((events[0]!.after as { id: string }).id, pkg.id);
  assert.equal(events[1]!.actor, 'bob');
  assert.equal(events[1]!.surface, 'jira');
  assert.equal(events[1]!.request, 'req_zzzzzzzz');
  assert.equal(events[1]!.reason, 'bigger');
  assert.deepEqual(events[1]!.before, { desiredParams: { size: 20 }, revision: 1, version: '1.0.0' });
  assert.deepEqual(events[1]!.after, { desiredParams: { size: 50 }, revision: 2, version: '1.1.0' });
  assert.equal(events[1]!.at, (await inv.get('package', pkg.id)).updatedAt);
  // A refused write leaves no event behind.
  const before = (await inv.audit.head()).seq;
  await assert.rejects(inv.update('package', pkg.id, 1, () => {}, ctx), ConflictError);
  await assert.rejects(inv.createProject({ name: 'checkout' }, ctx), AlreadyExistsError);
  assert.equal((await inv.audit.head()).seq, before);
  assert.deepEqual(await inv.audit.verify(), { ok: true, count: before });
});

test('package artifacts (credentials) never reach the audit log, by default or with the fields named by a sensitivity lookup', async () => {
  const password = `pw-${Math.random().toString(36).slice(2)}`;
  for (const custom of [false, true]) {
    const client = redis.client();
    const prefix = `${uniqueName('inv')}:`;
    const inv = new Inventory({
      redis: client,
      prefix,
      clock: tickingClock(),
      ...(custom
        ? {
            sensitivePointersFor: (kind) => (kind === 'package' ? ['/artifacts/*/conn'] : []),
          }
        : {}),
    });
    await seed(inv);
    const pkg = await inv.createPackage({ environment: 'checkout-staging', name: 'db', bundle: 'postgres-database', version: '1.0.0' }, ctx);
    await inv.update('package', pkg.id, 1, (d) => void (d.artifacts = { authentication: { host: 'db.local', conn: `postgres://u:${password}@db` } }), ctx);
    const stored = JSON.stringify(await client.hgetall(`${prefix}audit:events`));
    assert.ok(!stored.includes(password), 'credential leaked into the audit log');
    const last = (await inv.history('package', pkg.id)).at(-1)!;
    assert.ok('artifacts' in (last.after as object), 'the change of artifacts is still recorded');
    assert.equal((await inv.get('package', pkg.id)).artifacts.authentication!.conn, `postgres://u:${password}@db`, 'the record itself keeps it');
    if (custom) assert.equal((last.after as { artifacts: { authentication: { host: string } } }).artifacts.authentication.host, 'db.local');
  }
});

test('package summaries and the cost ranking stay in step with updates', async () => {
  const inv = newInventory();
  await seed(inv);
  const a = await inv.createPackage({ environment: 'checkout-production', name: 'db', bundle: 'postgres-database', version: '1.0.0', costMonthly: 620 }, ctx);
  await inv.createPackage({ environment: 'checkout-production', name: 'cache', bundle: 'redis-cache', version: '1.0.0', costMonthly: 180 }, ctx);
  await inv.createPackage({ environment: 'search-production', name: 'index', bundle: 'object-storage', version: '1.0.0', costMonthly: 700 }, ctx);
  await inv.createPackage({ environment: 'checkout-staging', name: 'db', bundle: 'postgres-database', version: '1.0.0' }, ctx);
  assert.deepEqual(await inv.packagesByCost(2), [
    { id: 'search-production-index', costMonthly: 700 },
    { id: 'checkout-production-db', costMonthly: 620 },
  ]);
  await inv.update('package', a.id, 1, (d) => void (d.costMonthly = 900), ctx);
  assert.equal((await inv.packagesByCost(1))[0]!.id, 'checkout-production-db');
  await inv.update('package', a.id, 2, (d) => void delete d.costMonthly, ctx);
  assert.deepEqual((await inv.packagesByCost(10)).map((p) => p.id), ['search-production-index', 'checkout-production-cache']);
  const summaries = (await inv.packageSummaries()).sort((x, y) => x.id.localeCompare(y.id));
  assert.equal(summaries.length, 4);
  assert.deepEqual(summaries.find((s) => s.id === 'checkout-production-cache'), {
    id: 'checkout-production-cache',
    project: 'checkout',
    environment: 'checkout-production',
    name: 'cache',
    bundle: 'redis-cache',
    version: '1.0.0',
    status: 'new',
    costMonthly: 180,
  });
  assert.equal(summaries.find((s) => s.id === a.id)!.costMonthly, undefined);
});

test('10,000 packages: every summary is read and ranked by cost (its speed is measured in bench/queries.bench.ts)', async () => {
  const client = redis.client();
  const inv = new Inventory({ redis: client, prefix: `${uniqueName('inv')}:` });
  await inv.createProject({ name: 'big' }, ctx);
  const envs = ['dev', 'staging', 'production', 'qa'];
  for (const e of envs) await inv.createEnvironment({ project: 'big', name: e }, ctx);
  const N = 10_000;
  const costs = new Map<string, number>();
  for (let start = 0; start < N; start += 500) {
    await Promise.all(
      Array.from({ length: Math.min(500, N - start) }, (_, j) => {
        const i = start + j;
        const cost = Math.round(((i * 7919) % 10007) * 1.37) / 100;
        const env = `big-${envs[i % envs.length]}`;
        costs.set(`${env}-pkg-${i}`, cost);
        return inv.createPackage({ environment: env, name: `pkg-${i}`, bundle: 'redis-cache', version: '1.0.0', costMonthly: cost, desiredParams: { size: i, zones: ['a', 'b'] } }, ctx);
      }),
    );
  }
  const ranked = (await inv.packageSummaries()).sort((x, y) => (y.costMonthly ?? 0) - (x.costMonthly ?? 0));
  assert.equal(ranked.length, N);
  const expected = [...costs.entries()].sort((x, y) => y[1] - x[1]);
  assert.equal(ranked[0]!.costMonthly, expected[0]![1]);
  assert.equal(ranked[N - 1]!.costMonthly, expected[N - 1]![1]);
});

test('deployment step logs stay out of the audit log; step status changes are recorded', async () => {
  const client = redis.client();
  const prefix = `${uniqueName('inv')}:`;
  const inv = new Inventory({ redis: client, prefix, clock: tickingClock() });
  await seed(inv);
  await inv.createPackage({ environment: 'checkout-staging', name: 'db', bundle: 'postgres-database', version: '1.0.0' }, ctx);
  const dep = await inv.createDeployment({ package: 'checkout-staging-db', action: 'apply' }, ctx);
  const line = 'tofu: creating postgresql_database.main (a very distinctive log line)';
  const withLog = await inv.update(
    'deployment',
    dep.id,
    1,
    (d) => void (d.steps = [{ path: 'src', provisioner: 'exec', status: 'running', log: Array.from({ length: 200 }, (_, i) => ({ at: d.updatedAt, stream: 'stdout' as const, line: `${line} ${i}` })) }]),
    ctx,
  );
  const done = await inv.update('deployment', dep.id, withLog.revision, (d) => void ((d.steps[0]!.status = 'succeeded'), (d.status = 'succeeded')), ctx);
  assert.equal(done.steps[0]!.log.length, 200, 'the record keeps its log');
  const stored = JSON.stringify(await client.hgetall(`${prefix}audit:events`));
  assert.ok(!stored.includes('very distinctive'), 'log lines must not be copied into audit events');
  const last = (await inv.history('deployment', dep.id)).at(-1)!;
  assert.deepEqual(last.after, { revision: 3, status: 'succeeded', steps: [{ path: 'src', provisioner: 'exec', status: 'succeeded', logLines: 200 }] });
});

test('lists keep creation order even when every record is created in the same millisecond', async () => {
  const frozen: Clock = { now: () => new Date('2026-11-24T10:00:00Z') };
  const inv = new Inventory({ redis: redis.client(), prefix: `${uniqueName('inv')}:`, clock: frozen });
  await seed(inv);
  const names = ['zeta', 'alpha', 'mu', 'beta', 'omega', 'kappa'];
  for (const name of names) await inv.createPackage({ environment: 'checkout-staging', name, bundle: 'redis-cache', version: '1.0.0' }, ctx);
  const expected = names.map((n) => `checkout-staging-${n}`);
  assert.deepEqual((await inv.list('package', { environment: 'checkout-staging' })).map((p) => p.id), expected);
  // Moving records into another index (in reverse) keeps their creation order there too.
  for (const id of [...expected].reverse()) {
    const p = await inv.get('package', id);
    await inv.update('package', id, p.revision, (d) => void (d.status = 'ready'), ctx);
  }
  assert.deepEqual((await inv.list('package', { status: 'ready' })).map((p) => p.id), expected);
  assert.deepEqual((await inv.list('package', { status: 'ready', project: 'checkout' }, { order: 'desc', limit: 2 })).map((p) => p.id), expected.slice(-2).reverse());
});
