import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useRedis, uniqueName } from '../helpers/redis.ts';
import { Inventory } from '../../src/engine/inventory.ts';
import {
  RequestService,
  REQUEST_STATES,
  REQUEST_TRANSITIONS,
  TERMINAL_STATES,
  assertTransition,
  canTransition,
  parseCreateRequestInput,
  type CreateRequestInput,
} from '../../src/engine/requests.ts';
import { ConflictError, IllegalTransitionError, NotFoundError, ValidationError } from '../../src/engine/errors.ts';
import type { Request, RequestState } from '../../src/engine/model.ts';

const redis = useRedis();

function newService(): { inv: Inventory; svc: RequestService } {
  const inv = new Inventory({ redis: redis.client(), prefix: `${uniqueName('req')}:` });
  return { inv, svc: new RequestService({ inventory: inv }) };
}

function input(overrides: Partial<CreateRequestInput> = {}): CreateRequestInput {
  return {
    kind: 'provision',
    actor: { id: 'dev-1', displayName: 'Dev One' },
    origin: { surface: 'jira', ref: 'OPS-42', url: 'https://jira.example/browse/OPS-42' },
    project: 'checkout',
    environment: 'staging',
    bundle: 'postgres-database',
    version: '1.4.0',
    package: 'checkout-staging-orders-db',
    submitted: { 'Expected data size (GiB)': '50' },
    params: { allocated_storage_gb: 50 },
    ...overrides,
  };
}

/** Shortest legal path of states from `received` to every state (breadth-first over the table). */
function pathsFromReceived(): Map<RequestState, RequestState[]> {
  const paths = new Map<RequestState, RequestState[]>([['received', []]]);
  const queue: RequestState[] = ['received'];
  while (queue.length) {
    const s = queue.shift()!;
    for (const t of REQUEST_TRANSITIONS[s]) {
      if (!paths.has(t)) {
        paths.set(t, [...paths.get(s)!, t]);
        queue.push(t);
      }
    }
  }
  return paths;
}

async function driveTo(svc: RequestService, state: RequestState): Promise<Request> {
  let r = await svc.createRequest(input());
  for (const step of pathsFromReceived().get(state)!) r = await svc.transition(r.id, r.revision, step, { by: 'engine' });
  assert.equal(r.state, state);
  return r;
}

test('the table covers every state, the ones DESIGN.md and the brief name, and terminal states', () => {
  assert.deepEqual(Object.keys(REQUEST_TRANSITIONS).sort(), [...REQUEST_STATES].sort());
  const edges: [RequestState, RequestState][] = [
    ['received', 'validated'],
    ['received', 'invalid'],
    ['invalid', 'received'],
    ['invalid', 'validated'],
    ['validated', 'planned'],
    ['planned', 'awaiting_approval'],
    ['planned', 'approved'],
    ['awaiting_approval', 'approved'],
    ['approved', 'scheduled'],
    ['approved', 'applying'],
    ['scheduled', 'scheduled'],
    ['scheduled', 'applying'],
    ['applying', 'applied'],
    ['applying', 'failed'],
    ['failed', 'applying'],
    ['failed', 'received'],
    ['awaiting_approval', 'rejected'],
  ];
  for (const [from, to] of edges) assert.ok(canTransition(from, to), `${from} -> ${to}`);
  for (const from of ['awaiting_approval', 'planned', 'approved', 'scheduled'] as const) assert.ok(canTransition(from, 'superseded'), from);
  assert.deepEqual([...TERMINAL_STATES].sort(), ['applied', 'cancelled', 'rejected', 'superseded']);
  for (const to of ['planned', 'approved', 'applying', 'applied'] as const) assert.equal(canTransition('received', to), false, `received -> ${to}`);
  assert.equal(canTransition('applying', 'cancelled'), false, 'an apply is never interrupted half way');
  assert.equal(canTransition('validated', 'applied'), false);
  assert.equal(canTransition('validated', 'applied', 'query'), true, 'a query is answered straight after validation');
  assert.throws(() => assertTransition('applied', 'applying', 'provision', 'req_x'), (e: unknown) => e instanceof IllegalTransitionError && e.from === 'applied' && /req_x/.test(e.message));
});

test('from EVERY state, every legal move succeeds and every illegal one throws and changes nothing', async () => {
  const { inv, svc } = newService();
  for (const from of REQUEST_STATES) {
    for (const to of REQUEST_STATES) {
      if (canTransition(from, to)) {
        const r = await driveTo(svc, from);
        const moved = await svc.transition(r.id, r.revision, to, { by: 'tester', reason: `${from} to ${to}` });
        assert.equal(moved.state, to, `${from} -> ${to}`);
        assert.equal(moved.revision, r.revision + 1);
        assert.deepEqual(moved.history.at(-1), { from, to, at: moved.updatedAt, by: 'tester', reason: `${from} to ${to}` });
      } else {
        const r = await driveTo(svc, from);
        const seqBefore = (await inv.audit.head()).seq;
        await assert.rejects(
          svc.transition(r.id, r.revision, to, { by: 'tester' }),
          (e: unknown) => e instanceof IllegalTransitionError && e.from === from && e.to === to && e.code === 'illegal_transition',
          `${from} -> ${to} must be refused`,
        );
        assert.deepEqual(await inv.get('request', r.id), r, `${from} -> ${to} left the request unchanged`);
        assert.equal((await inv.audit.head()).seq, seqBefore, `${from} -> ${to} wrote no audit event`);
      }
    }
  }
  assert.deepEqual(await inv.audit.verify(), { ok: true, count: (await inv.audit.head()).seq });
});

test('createRequest validates input, expands the environment, starts in received with history', async () => {
  const { inv, svc } = newService();
  const r = await svc.createRequest(input());
  assert.match(r.id, /^req_[a-z2-7]{16}$/);
  assert.equal(r.state, 'received');
  assert.equal(r.environment, 'checkout-staging');
  assert.equal(r.contentRevision, 1);
  assert.deepEqual(r.decisions, []);
  assert.deepEqual(r.history, [{ from: null, to: 'received', at: r.createdAt, by: 'dev-1' }]);
  assert.equal((await svc.createRequest(input({ environment: 'checkout-production' }))).environment, 'checkout-production');
  const events = await inv.audit.list({ request: r.id });
  assert.deepEqual(events.map((e) => [e.action, e.actor, e.surface]), [['request.create', 'dev-1', 'jira']]);

  await assert.rejects(
    svc.createRequest({ ...input(), kind: 'explode' as never, origin: { surface: 'jira', ref: '' }, project: 'Checkout' }),
    (e: unknown) =>
      e instanceof ValidationError &&
      ['/kind', '/origin/ref', '/project'].every((p) => e.issues.some((i) => i.pointer === p)) &&
      e.issues.find((i) => i.pointer === '/project')!.field === 'project',
  );
  assert.throws(() => parseCreateRequestInput({ kind: 'query' }), (e: unknown) => e instanceof ValidationError && e.issues.some((i) => i.pointer === '/actor'));
  await assert.rejects(svc.get('req_doesnotexist'), NotFoundError);
});

test('transition records reason and patch, audits request.transition, and refuses a stale revision', async () => {
  const { inv, svc } = newService();
  const r = await svc.createRequest(input());
  const v = await svc.transition(r.id, 1, 'validated', { by: 'engine' });
  const plan = { deploymentId: 'dep_x', hash: 'abc', summary: { add: 3, change: 0, destroy: 0, replace: 0, resources: [], destructive: false } };
  const p = await svc.transition(v.id, v.revision, 'planned', { by: 'engine', reason: 'plan ready', patch: { plan, decisions: [{ rule: 'size', outcome: 'allow', reason: 'ok' }] } });
  assert.deepEqual(p.plan, plan);
  assert.equal(p.decisions.length, 1);
  assert.deepEqual(p.history.map((h) => h.to), ['received', 'validated', 'planned']);
  const last = (await inv.audit.list({ request: r.id })).at(-1)!;
  assert.equal(last.action, 'request.transition');
  assert.equal(last.reason, 'plan ready');
  assert.equal((last.before as { state: string }).state, 'validated');
  assert.equal((last.after as { state: string }).state, 'planned');
  assert.ok(!('history' in (last.after as object)));

  await assert.rejects(svc.transition(r.id, v.revision, 'awaiting_approval', { by: 'engine' }), ConflictError);
  // Two approvers racing from the same revision: one approval lands, the other must re-read.
  const results = await Promise.allSettled([
    svc.transition(r.id, p.revision, 'approved', { by: 'approver-1', surface: 'jira' }),
    svc.transition(r.id, p.revision, 'approved', { by: 'approver-2', surface: 'servicenow' }),
  ]);
  assert.equal(results.filter((x) => x.status === 'fulfilled').length, 1);
  assert.ok(results.some((x) => x.status === 'rejected' && x.reason instanceof ConflictError));
  const failedPatch = await svc.get(r.id);
  await assert.rejects(svc.transition(r.id, failedPatch.revision, 'scheduled', { by: 'x', patch: { state: 'applied' } as never }), ValidationError);
  const patched = await svc.patch(r.id, failedPatch.revision, { scheduledFor: '2026-11-25T09:00:00.000Z' }, { actor: 'engine', surface: 'engine' });
  assert.equal(patched.state, 'approved');
  assert.equal(patched.scheduledFor, '2026-11-25T09:00:00.000Z');
  const cleared = await svc.transition(r.id, patched.revision, 'scheduled', { by: 'engine', patch: { scheduledFor: undefined } });
  assert.equal('scheduledFor' in cleared, false, 'an undefined patch value removes the member');
});

test('revise supersedes a planned request with a new one, and edits invalid/failed ones in place', async () => {
  const { inv, svc } = newService();
  const planned = await driveTo(svc, 'awaiting_approval');
  const next = await svc.revise(planned.id, planned.revision, input({ params: { allocated_storage_gb: 80 } }));
  assert.notEqual(next.id, planned.id);
  assert.equal(next.contentRevision, 2);
  assert.equal(next.state, 'received');
  assert.deepEqual(next.params, { allocated_storage_gb: 80 });
  assert.equal((await svc.get(planned.id)).state, 'superseded');

  // Someone else (an ops engineer) edits the developer's ticket: the requester stays, the audit names the editor.
  const byOps = await svc.revise(next.id, next.revision, input({ actor: { id: 'ops-7' }, params: { allocated_storage_gb: 90 } }));
  assert.equal(byOps.actor.id, 'dev-1');
  assert.equal(byOps.contentRevision, 3);
  assert.equal(byOps.history[0]!.by, 'ops-7');
  assert.deepEqual((await svc.get(next.id)).history.at(-1)!.by, 'ops-7');
  const created = (await inv.audit.list({ request: byOps.id }))[0]!;
  assert.deepEqual([created.action, created.actor], ['request.create', 'ops-7']);
  assert.deepEqual((await svc.forOrigin('jira', 'OPS-42')).map((r) => r.id).slice(0, 3), [byOps.id, next.id, planned.id]);

  const invalid = await driveTo(svc, 'invalid');
  const edited = await svc.revise(invalid.id, invalid.revision, input({ params: { allocated_storage_gb: 20 } }));
  assert.equal(edited.id, invalid.id);
  assert.equal(edited.state, 'received');
  assert.equal(edited.contentRevision, 2);
  assert.deepEqual(edited.params, { allocated_storage_gb: 20 });

  const applying = await driveTo(svc, 'applying');
  await assert.rejects(svc.revise(applying.id, applying.revision, input()), IllegalTransitionError);
});

test('a query request is answered straight after validation; a provision request cannot skip the plan', async () => {
  const { svc } = newService();
  const q = await svc.createRequest(input({ kind: 'query', query: { name: 'most-expensive', args: { top: 3 } } }));
  const v = await svc.transition(q.id, q.revision, 'validated', { by: 'engine' });
  const done = await svc.transition(v.id, v.revision, 'applied', { by: 'engine', reason: 'answered' });
  assert.equal(done.state, 'applied');
  const p = await driveTo(svc, 'validated');
  await assert.rejects(svc.transition(p.id, p.revision, 'applied', { by: 'engine' }), IllegalTransitionError);
});
