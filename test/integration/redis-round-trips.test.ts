/**
 * What reading and writing a request costs in Redis, counted (not timed): client round trips
 * (writes on the inventory's own connection: one command, or one whole pipeline) and commands
 * (`INFO commandstats` deltas, read on a second connection). Each count would grow if the
 * batching were undone: a notice's view reads the request's package, environment and deployment
 * in ONE round trip, a read scope reads each record (and each list by one index) once, an engine
 * update reads its record once, the notices one step owes are ONE queue job (each job costs
 * BullMQ about seven round trips) whose lock, sent marks and release are two round trips, and a
 * ticket's happy path makes six queue jobs in all.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import type { Redis } from 'ioredis';
import { useRedis, uniqueName } from '../helpers/redis.ts';
import { Inventory } from '../../src/engine/inventory.ts';
import { RequestService } from '../../src/engine/requests.ts';
import type { Clock, Request } from '../../src/engine/model.ts';
import type { Engine } from '../../src/workflow/engine.ts';
import type { ChangeWindowService } from '../../src/policy/index.ts';
import { ViewBuilder } from '../../src/surfaces/shared/view-builder.ts';
import { createLogger } from '../../src/engine/logger.ts';
import { waitFor } from '../../src/demo/wait.ts';
import { jobId, queueNames, WorkflowQueues } from '../../src/queue/queues.ts';
import { WorkflowWorkers } from '../../src/queue/workers.ts';
import { noticesOf, outboxEntries } from '../../src/workflow/owed.ts';
import type { RequestWorkflow, WorkflowNotice } from '../../src/workflow/workflow.ts';
import { startWorkflowWorld, submitCache, waitForState } from './workflow-kit.ts';

const redis = useRedis();
const ops = { actor: 'platform-admin', surface: 'cli' as const };
let probe: Redis;

before(async () => {
  await redis.ready();
  probe = redis.client();
});

/** How many times Redis has run each command so far (from INFO commandstats, on the probe connection). */
async function commandCounts(): Promise<Record<string, number>> {
  const info = await probe.info('commandstats');
  const counts: Record<string, number> = {};
  for (const m of info.matchAll(/^cmdstat_(\w+):calls=(\d+)/gm)) counts[m[1]!] = Number(m[2]);
  return counts;
}

/** Runs `fn` and counts the round trips of `client` (socket writes) and the commands Redis ran meanwhile. */
async function counted(client: Redis, fn: () => Promise<unknown>): Promise<{ roundTrips: number; commands: Record<string, number> }> {
  const stream = (client as unknown as { stream: Socket }).stream;
  const write = stream.write;
  let roundTrips = 0;
  stream.write = function (this: Socket, ...args: unknown[]) {
    roundTrips += 1;
    return (write as (...a: unknown[]) => boolean).apply(this, args);
  } as typeof stream.write;
  const before = await commandCounts();
  try {
    await fn();
  } finally {
    stream.write = write;
  }
  const after = await commandCounts();
  const commands: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) {
    const d = v - (before[k] ?? 0) - (k === 'info' ? 1 : 0);
    if (d > 0) commands[k] = d;
  }
  return { roundTrips, commands };
}

/** An inventory with a project, an environment, a package and a request on it that has a deployment. */
async function world(): Promise<{ client: Redis; inv: Inventory; requests: RequestService; request: Request }> {
  const client = redis.client();
  await client.ping();
  const inv = new Inventory({ redis: client, prefix: `${uniqueName('rt')}:` });
  const requests = new RequestService({ inventory: inv });
  await inv.createProject({ id: 'checkout', name: 'Checkout' }, ops);
  const env = await inv.createEnvironment({ project: 'checkout', name: 'staging' }, ops);
  const pkg = await inv.createPackage({ environment: env.id, name: 'orders-db', bundle: 'postgres-database', version: '1.4.0' }, ops);
  const created = await requests.createRequest({
    kind: 'provision',
    actor: { id: 'dev-1' },
    origin: { surface: 'jira', ref: 'INFRA-1' },
    project: 'checkout',
    environment: 'staging',
    bundle: 'postgres-database',
    version: '1.4.0',
    package: pkg.id,
  });
  const dep = await inv.createDeployment({ package: pkg.id, action: 'plan', request: created.id }, ops);
  const request = await requests.patch(created.id, created.revision, { deployment: dep.id }, ops);
  return { client, inv, requests, request };
}

test("a notice's view reads the request's package, environment and deployment in one round trip", async () => {
  const { client, inv, request } = await world();
  const engine = { inventory: inv } as unknown as Engine;
  const windows = { nextWindow: async () => undefined } as unknown as ChangeWindowService;
  const clock: Clock = { now: () => new Date() };
  let view: Awaited<ReturnType<ViewBuilder['build']>> | undefined;
  const c = await counted(client, async () => {
    view = await new ViewBuilder(engine, windows, clock).build(request);
  });
  assert.equal(view?.deployment?.id, request.deployment);
  assert.equal(c.roundTrips, 1, 'one pipeline for the three records');
  assert.deepEqual(c.commands, { hget: 3 });
});

test('within a read scope a request and its records are read from Redis once, however often the step asks', async () => {
  const { client, inv, requests, request } = await world();
  // The server learns the list script once (NOSCRIPT, then EVAL); from then on it is one EVALSHA.
  await requests.forOrigin('jira', 'INFRA-1');
  const c = await counted(client, () =>
    inv.readScope(async () => {
      const r = await requests.get(request.id);
      await inv.findEach([
        { kind: 'package', id: r.package },
        { kind: 'environment', id: r.environment },
      ]);
      // What a surface's publish asks again: the request, its package and its environment.
      await requests.get(request.id);
      await inv.find('package', r.package!);
      await inv.find('environment', r.environment);
      await requests.forOrigin('jira', 'INFRA-1');
      // What the notice's "is it news?" check asks again: the ticket's requests.
      await requests.forOrigin('jira', 'INFRA-1');
    }),
  );
  // The request, one pipeline for package and environment, the origin index with its records (one script): nothing asked twice.
  assert.equal(c.roundTrips, 3);
  assert.deepEqual(c.commands, { hget: 3, evalsha: 1, zrevrange: 1, hmget: 1 });
});

test('a list by one index reads the ids and their records in one round trip', async () => {
  const { client, inv, requests, request } = await world();
  await requests.forOrigin('jira', 'INFRA-1');
  let found: Request[] = [];
  const c = await counted(client, async () => {
    found = await requests.forOrigin('jira', 'INFRA-1');
  });
  assert.deepEqual(
    found.map((r) => r.id),
    [request.id],
  );
  assert.equal(c.roundTrips, 1);
  assert.deepEqual(c.commands, { evalsha: 1, zrevrange: 1, hmget: 1 });
  assert.deepEqual(await inv.list('request', { origin: { surface: 'jira', ref: 'INFRA-404' } }), []);
});

test('a read scope keeps what its own writes stored, and a read outside any scope goes to Redis', async () => {
  const { client, inv, requests, request } = await world();
  const c = await counted(client, () =>
    inv.readScope(async () => {
      const r = await requests.get(request.id);
      const patched = await requests.patch(r.id, r.revision, { version: '1.5.0' }, ops);
      const again = await requests.get(request.id);
      assert.equal(again.revision, patched.revision);
      assert.equal(again.version, '1.5.0');
    }),
  );
  assert.equal(c.roundTrips, 2, 'the read and the write; the read after the write is answered by the scope');
  const outside = await counted(client, () => requests.get(request.id));
  assert.equal(outside.roundTrips, 1);
});

test('an engine update (modify) reads its record once and writes it in one script', async () => {
  const { client, inv, request } = await world();
  const c = await counted(client, () => inv.modify('deployment', request.deployment!, (d) => void (d.status = 'running'), ops));
  // One HGET, then the audited write script (whose own reads count as commands too, not as round trips).
  assert.equal(c.roundTrips, 2);
  assert.equal(c.commands.evalsha, 1);
  assert.equal((await inv.get('deployment', request.deployment!)).status, 'running');
});

test('an engine update from the record it holds writes at once; from a stale one it is refused inside Redis, reads and writes again', async () => {
  const { client, inv, request } = await world();
  const held = await inv.get('deployment', request.deployment!);
  const fresh = await counted(client, () => inv.modify('deployment', held.id, (d) => void (d.status = 'running'), ops, { current: held }));
  assert.equal(fresh.roundTrips, 1, 'the write alone');
  // `held` is stale now: the first write is refused by its revision guard, the second reads and lands.
  const stale = await counted(client, () => inv.modify('deployment', held.id, (d) => void (d.error = { message: 'late' }), ops, { current: held }));
  assert.equal(stale.roundTrips, 3);
  const stored = await inv.get('deployment', held.id);
  assert.equal(stored.status, 'running');
  assert.equal(stored.error?.message, 'late');
  assert.equal(stored.revision, held.revision + 2);
});

test('a workflow move from the request it holds is one round trip, and starts from the request as stored, not as changed since', async () => {
  const { client, requests, request } = await world();
  const held = await requests.get(request.id);
  // A caller changing its copy does not change what the write starts from.
  held.version = '9.9.9';
  let moved: Request | undefined;
  const c = await counted(client, async () => {
    moved = await requests.transition(held.id, held.revision, 'validated', { by: 'engine', current: held });
  });
  assert.equal(c.roundTrips, 1, 'the audited write alone');
  assert.equal(moved?.state, 'validated');
  assert.equal(moved?.version, '1.4.0');
  assert.equal((await requests.get(request.id)).version, '1.4.0');
  // A request the engine did not hand out is read first.
  const copy = structuredClone(moved!);
  const again = await counted(client, () => requests.transition(copy.id, copy.revision, 'planned', { by: 'engine', current: copy }));
  assert.equal(again.roundTrips, 2);
});

test("a notice's reads (its request, then the view's package, environment and deployment) are one round trip in a read scope", async () => {
  const { client, inv, requests, request } = await world();
  const engine = { inventory: inv } as unknown as Engine;
  const windows = { nextWindow: async () => undefined } as unknown as ChangeWindowService;
  const views = new ViewBuilder(engine, windows, { now: () => new Date() });
  // The server learns the script once (NOSCRIPT, then EVAL); from then on it is one EVALSHA.
  await inv.findRequestWithLinks(request.id);
  const c = await counted(client, () =>
    inv.readScope(async () => {
      const linked = await inv.findRequestWithLinks(request.id);
      assert.equal(linked.package?.id, request.package);
      assert.equal(linked.deployment?.id, request.deployment);
      const r = await requests.get(request.id);
      await views.build(r);
    }),
  );
  assert.equal(c.roundTrips, 1, 'one read-only script');
  assert.deepEqual(c.commands, { evalsha: 1, hget: 4 });
  assert.deepEqual(await inv.findRequestWithLinks('req_doesnotexist1'), {});
});

test('a list by one index is kept by the read scope until the scope writes', async () => {
  const { client, inv, requests, request } = await world();
  await requests.forOrigin('jira', 'INFRA-1');
  const c = await counted(client, () =>
    inv.readScope(async () => {
      await requests.forOrigin('jira', 'INFRA-1');
      await requests.forOrigin('jira', 'INFRA-1');
      const r = await requests.get(request.id);
      await requests.patch(r.id, r.revision, { version: '1.5.0' }, ops);
      // A write may change what an index holds: the list is read again.
      const again = await requests.forOrigin('jira', 'INFRA-1');
      assert.equal(again[0]?.version, '1.5.0');
    }),
  );
  assert.equal(c.roundTrips, 3, 'the list, the write, the list again (the request itself came with the first list)');
});

test('the notices one step owes are one outbox entry, and one queue job', () => {
  const r = { id: 'req_onejob00001', revision: 7 } as Request;
  const entries = outboxEntries(r, [{ job: 'apply' }, { notice: 'applied' }, { notice: 'status' }]);
  assert.deepEqual(
    entries.map((e) => [e.topic, e.key]),
    [
      ['job', 'req_onejob00001:apply:7'],
      ['notices', 'req_onejob00001:applied+status:7'],
    ],
  );
  assert.deepEqual(
    noticesOf(entries[1]!.data as WorkflowNotice).map((n) => n.key),
    ['req_onejob00001:applied:7', 'req_onejob00001:status:7'],
  );
  // A lone notice is its own entry, under its own key, as before.
  assert.deepEqual(
    outboxEntries(r, [{ notice: 'status' }]).map((e) => [e.topic, e.key]),
    [['notice', 'req_onejob00001:status:7']],
  );
});

test("an outbox job of a step's notices takes its lock and reads the sent marks in one round trip, and marks and releases in one more", async () => {
  const conn = redis.client();
  const own = redis.client();
  await own.ping();
  const name = uniqueName('rt-outbox');
  const names = queueNames(name);
  const queues = new WorkflowQueues({ connection: conn, names });
  const written: string[] = [];
  const workers = new WorkflowWorkers({
    connection: conn,
    redis: own,
    names,
    keyPrefix: `${name}:`,
    workflow: {} as RequestWorkflow,
    intake: {},
    outbox: { deliver: async (n) => void written.push(n.key) },
    logger: createLogger('silent'),
  });
  workers.start();
  try {
    const notices: WorkflowNotice[] = [
      { requestId: 'r-1', message: 'approval-needed', key: 'r-1:approval-needed:4' },
      { requestId: 'r-1', message: 'approval-counted', key: 'r-1:approval-counted:4' },
      { requestId: 'r-1', message: 'status', key: 'r-1:status:4' },
    ];
    const key = 'r-1:approval-needed+approval-counted+status:4';
    const c = await counted(own, async () => {
      await queues.notify({ requestId: 'r-1', key, notices });
      await waitFor(async () => ((await queues.outbox.getJobState(jobId(key))) === 'completed' ? true : undefined), 'the notices written');
    });
    assert.deepEqual(written, notices.map((n) => n.key));
    assert.equal(c.roundTrips, 2, 'the lock with the sent checks, then the marks with the release');
    assert.equal(await own.scard(`${name}:outbox:sent`), 2, 'both event notices marked sent');
  } finally {
    await workers.close();
    await queues.close();
  }
});

test("a ticket's happy path makes six queue jobs: its two request steps and one outbox job per step that owes notices", { timeout: 120_000 }, async () => {
  const flow = await startWorkflowWorld(redis, { start: new Date() });
  try {
    const r = await submitCache(flow, 'qa', 'six-jobs');
    await waitForState(flow, r.id, 'awaiting_approval');
    await flow.runtime.workflow.approve({ requestId: r.id, approver: { id: 'bo' }, surface: 'cli' });
    const done = await waitForState(flow, r.id, 'applied');
    const { requests, outbox } = flow.runtime.queues;
    const states = ['waiting', 'active', 'completed', 'failed', 'delayed', 'prioritized'] as const;
    const notices = await waitFor(async () => {
      const jobs = (await outbox.getJobs([...states])).filter((j) => j?.data?.requestId === r.id);
      return jobs.some((j) => noticesOf(j.data).some((n) => n.key === `${r.id}:applied:${done.revision}`)) ? jobs : undefined;
    }, 'the result notices handed over');
    const steps = (await requests.getJobs([...states])).filter((j) => j?.data?.requestId === r.id);
    assert.deepEqual(steps.map((j) => j.name).sort(), ['apply', 'evaluate']);
    // Awaiting approval (approval-needed, status), the approval counted, applying (status), applied (applied, status).
    assert.deepEqual(
      notices.map((j) => noticesOf(j.data).map((n) => n.message).join('+')).sort(),
      ['applied+status', 'approval-counted', 'approval-needed+status', 'status'],
    );
  } finally {
    await flow.close();
  }
});
