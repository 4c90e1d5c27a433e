/**
 * Every request lands exactly once, whatever crashes: a state change, its audit event, the
 * notices it owes and the jobs it starts are one atomic write (the outbox), and a crashed step
 * is continued by its retried job. Crashes are injected at named points of the real workflow,
 * with real Redis, real BullMQ workers and the real outbox relay.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { useRedis, uniqueName } from '../helpers/redis.ts';
import { waitFor } from '../../src/demo/story-steps.ts';
import { Outbox } from '../../src/engine/outbox.ts';
import { OutboxRelay } from '../../src/queue/outbox-relay.ts';
import { WorkflowQueues, jobId, queueNames } from '../../src/queue/queues.ts';
import { createLogger } from '../../src/engine/logger.ts';
import type { Request } from '../../src/engine/model.ts';
import { ConflictError } from '../../src/engine/errors.ts';
import { noticesOf, type NoticeBatch } from '../../src/workflow/owed.ts';
import { FaultPlan, queued, startWorkflowWorld, submitCache, waitForState, waitQueued, type WorkflowWorld } from './workflow-kit.ts';

const redis = useRedis();
let world: WorkflowWorld;

before(async () => {
  world = await startWorkflowWorld(redis, { start: new Date() });
  redis.cleanup(() => world.close());
});

async function stored(id: string): Promise<Request> {
  return world.runtime.opened.engine.requests.get(id);
}

/** Whether work `key` is owed: still in the outbox, or already handed to its queue. */
async function owed(key: string, queue: 'outbox' | 'requests'): Promise<boolean> {
  const pending = await world.runtime.opened.engine.inventory.outbox.pending(1000);
  const inOutbox = pending.some((e) => e.key === key || ('topic' in e && e.topic === 'notices' && noticesOf(e.data as NoticeBatch).some((n) => n.key === key)));
  return inOutbox || (await queued(world, queue, key)) !== undefined;
}

test('a crash right after a request is filed cannot lose its evaluation: the request and its job are one write', { timeout: 60_000 }, async () => {
  world.faults.crash('between-state-and-notice', async ({ request }) => (await stored(request!)).state === 'received');
  await assert.rejects(submitCache(world, 'qa', 'filed-crash'), /injected crash/);
  const [r] = await world.runtime.opened.engine.requests.forOrigin('cli', 'cli-filed-crash');
  assert.ok(r, 'the request was stored before the crash');
  assert.equal(world.faults.count('between-state-and-notice', r.id), 1);
  await waitForState(world, r.id, 'awaiting_approval');
  assert.ok(await queued(world, 'requests', `${r.id}:evaluate:1`), 'its evaluation job was queued from the outbox');
});

test('a state change and its notices cannot be separated: at the crash point the new state already owes them', { timeout: 60_000 }, async () => {
  const seen: { state: string; approvalNeeded: boolean; status: boolean }[] = [];
  world.faults.crash('between-state-and-notice', async ({ request }) => {
    const r = await stored(request!);
    if (r.state !== 'awaiting_approval') return false;
    seen.push({
      state: r.state,
      approvalNeeded: await owed(`${r.id}:approval-needed:${r.revision}`, 'outbox'),
      status: await owed(`${r.id}:status:${r.revision}`, 'outbox'),
    });
    return true;
  });
  const r = await submitCache(world, 'qa', 'notice-crash');
  const waiting = await waitForState(world, r.id, 'awaiting_approval');
  await waitFor(() => world.faults.count('between-state-and-notice', r.id) === 1 || undefined, 'the injected crash');
  // The crash came right after the move: the notices were stored by the same write.
  assert.deepEqual(seen, [{ state: 'awaiting_approval', approvalNeeded: true, status: true }]);
  const notice = await waitQueued(world, 'outbox', `${r.id}:approval-needed:${waiting.revision}`);
  assert.deepEqual(noticesOf(notice.data as NoticeBatch).map((n) => n.message), ['approval-needed', 'status'], "the step's notices are one outbox job, in order");
  // The crashed evaluate job was retried, found the request awaiting approval and changed nothing.
  await waitFor(async () => ((await queued(world, 'requests', `${r.id}:evaluate:1`))?.finishedOn ? true : undefined), 'the retried evaluation finished');
  const after = await stored(r.id);
  assert.equal(after.revision, waiting.revision);
  assert.equal(after.history.filter((h) => h.to === 'awaiting_approval').length, 1);
});

test('a crash after the answers were validated: the retried job continues from validated', { timeout: 60_000 }, async () => {
  world.faults.crash('mid-evaluate', async ({ request }) => (await stored(request!)).origin.ref === 'cli-mid-crash');
  const r = await submitCache(world, 'qa', 'mid-crash');
  const done = await waitForState(world, r.id, 'awaiting_approval');
  assert.equal(world.faults.count('mid-evaluate', r.id), 1);
  assert.deepEqual(
    done.history.map((h) => h.to),
    ['received', 'validated', 'planned', 'awaiting_approval'],
  );
  assert.equal(done.package, 'shop-qa-mid-crash');
  assert.ok(done.plan?.hash);
});

test('a crash after the plan ran, before the request held it: planned again, once', { timeout: 60_000 }, async () => {
  world.faults.crash('after-plan', async ({ request }) => (await stored(request!)).origin.ref === 'cli-plan-crash');
  const r = await submitCache(world, 'qa', 'plan-crash');
  const done = await waitForState(world, r.id, 'awaiting_approval');
  assert.equal(world.faults.count('after-plan', r.id), 1);
  const plans = (await world.runtime.opened.engine.inventory.list('deployment', { request: r.id })).filter((d) => d.action === 'plan');
  assert.equal(plans.length, 2, 'the crashed plan and the one the request holds');
  assert.equal(done.plan!.deploymentId, plans[1]!.id);
  assert.equal(done.history.filter((h) => h.to === 'planned').length, 1);
});

test('an edit supersedes the old revision and creates the next in one write, with the work both owe', { timeout: 60_000 }, async () => {
  const first = await submitCache(world, 'qa', 'edit-crash');
  const waiting = await waitForState(world, first.id, 'awaiting_approval');
  const head = (await world.runtime.opened.engine.inventory.audit.head()).seq;
  world.faults.crash('between-state-and-notice', async ({ request }) => request !== first.id && (await stored(request!)).origin.ref === 'cli-edit-crash');
  await assert.rejects(
    world.runtime.workflow.revise(first.id, {
      kind: 'provision',
      actor: { id: 'dana' },
      origin: { surface: 'cli', ref: 'cli-edit-crash' },
      project: 'shop',
      bundle: 'redis-cache',
      answers: { request_environment: 'qa', request_package: 'edit-crash', key_prefix: 'edit-crash', access_level: 'read-only' },
    }),
    /injected crash/,
  );
  const all = await world.runtime.opened.engine.requests.forOrigin('cli', 'cli-edit-crash');
  const next = all.find((x) => x.id !== first.id)!;
  assert.equal((await stored(first.id)).state, 'superseded');
  assert.equal(next.contentRevision, 2);
  // Both audit events sit next to each other in the chain: one step.
  const events = await world.runtime.opened.engine.inventory.audit.list({ after: head, limit: 10 });
  const superseded = events.find((e) => e.subject.id === first.id && e.action === 'request.transition')!;
  const created = events.find((e) => e.subject.id === next.id && e.action === 'request.create')!;
  assert.equal(created.seq, superseded.seq + 1);
  await waitQueued(world, 'outbox', `${first.id}:status:${waiting.revision + 1}`);
  const planned = await waitForState(world, next.id, 'awaiting_approval');
  assert.equal(planned.submitted?.access_level, 'read-only');
  assert.deepEqual(await world.runtime.opened.engine.inventory.audit.verify(), { ok: true, count: (await world.runtime.opened.engine.inventory.audit.head()).seq });
});

test('the relay crashing between handing an entry over and removing it hands it over again under the same job id', { timeout: 30_000 }, async () => {
  const client = redis.client();
  const prefix = `${uniqueName('relay')}:`;
  const outbox = new Outbox({ redis: client, prefix });
  const queues = new WorkflowQueues({ connection: client, names: queueNames(uniqueName('relayq')) });
  redis.cleanup(() => queues.close());
  const faults = new FaultPlan();
  faults.crash('relay-after-add');
  const relay = new OutboxRelay({ outbox, ports: queues, logger: createLogger('silent'), faults });
  const key = 'req_relaytest1:status:3';
  await outbox.add([{ key, topic: 'notice', request: 'req_relaytest1', data: { requestId: 'req_relaytest1', message: 'status', key } }]);
  await outbox.add([{ key: 'req_relaytest1:apply:3', topic: 'job', request: 'req_relaytest1', data: { name: 'apply', requestId: 'req_relaytest1', key: 'req_relaytest1:apply:3' } }]);

  await assert.rejects(relay.drain(), /injected crash at relay-after-add/);
  assert.ok(await queues.outbox.getJob(jobId(key)), 'handed over before the crash');
  assert.equal(await outbox.size(), 2, 'nothing removed: the crash came first');

  assert.equal(await relay.drain(), 2);
  assert.equal(await outbox.size(), 0);
  assert.equal(await queues.outbox.count(), 1, 'the notice is one job, not two');
  assert.equal((await queues.outbox.getJob(jobId(key)))!.data.key, key);
  assert.ok(await queues.requests.getJob(jobId('req_relaytest1:apply:3')));
  assert.deepEqual([...(await outbox.requestIds())], []);
});

test('a step of several writes is all or nothing: when one guard refuses, no record, event or owed work is stored', { timeout: 30_000 }, async () => {
  const { inventory, requests } = world.runtime.opened.engine;
  const old = await requests.createRequest({ kind: 'provision', actor: { id: 'dana' }, origin: { surface: 'cli', ref: 'cli-all-or-nothing' }, project: 'shop', environment: 'qa', bundle: 'redis-cache' });
  const superseding = await inventory.prepareUpdate('request', old.id, old.revision, (d) => void (d.state = 'superseded'), { actor: 'dana', surface: 'cli' });
  const next = inventory.prepareCreate('request', { ...old, id: 'req_allornothing2', contentRevision: 2 }, { actor: 'dana', surface: 'cli' });
  // Someone else moves the old request between the read and the write.
  const moved = await requests.transition(old.id, old.revision, 'cancelled', { by: 'dana', surface: 'cli' });
  const head = await inventory.audit.head();
  await assert.rejects(
    inventory.commit([superseding, next], [{ key: 'req_allornothing2:evaluate:1', topic: 'job', request: 'req_allornothing2', data: {} }]),
    (e: unknown) => e instanceof ConflictError && /revision/.test(e.message),
  );
  assert.deepEqual(await inventory.audit.head(), head, 'no audit event');
  assert.equal(await inventory.find('request', 'req_allornothing2'), undefined, 'no next revision');
  assert.deepEqual(await requests.get(old.id), moved, 'the old request as the other writer left it');
  assert.equal(await owed('req_allornothing2:evaluate:1', 'requests'), false, 'no owed work');
});

test('the relay drops an entry another relay removed meanwhile quietly, and warns only about a damaged one', { timeout: 30_000 }, async () => {
  const client = redis.client();
  const outbox = new Outbox({ redis: client, prefix: `${uniqueName('relaylost')}:` });
  const queues = new WorkflowQueues({ connection: client, names: queueNames(uniqueName('relaylostq')) });
  redis.cleanup(() => queues.close());
  const lines: string[] = [];
  const sink = { write: (line: string) => void lines.push(line) } as unknown as NodeJS.WritableStream;
  const relay = new OutboxRelay({ outbox, ports: queues, logger: createLogger('info', sink) });
  // A key still listed as pending whose entry another relay removed, and one whose JSON is damaged.
  await client.rpush(outbox.pendingKey, 'req_gone:status:1', 'req_bad:status:1');
  await client.hset(outbox.entriesKey, 'req_bad:status:1', '{not json');

  assert.equal(await relay.drain(), 0, 'neither is handed over');
  assert.equal(await outbox.size(), 0, 'both are dropped from the pending list');
  const warnings = lines.map((l) => JSON.parse(l) as { level: number; key: string }).filter((l) => l.level >= 40);
  assert.deepEqual(warnings.map((w) => w.key), ['req_bad:status:1']);
});
