/**
 * ServiceNow calls of one database request's happy-path lifecycle (ordered, planned, approved on
 * its approval record, applied, result), counted from the sandbox's call log by method and path
 * template, per phase, after a first request that warms the process (as the ticket-to-plan bench
 * does). Counts, not time: each avoidable call the service once made is named here, so bringing
 * it back fails the test.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../src/engine/logger.ts';
import { shiftedClock } from '../../src/demo/story.ts';
import { startServiceNowWorld, type ServiceNowWorld } from '../../src/demo/servicenow-world.ts';
import { syncServiceNowForms, workNotes } from '../../src/demo/servicenow-steps.ts';
import type { WorkflowNotice } from '../../src/workflow/workflow.ts';
import { serviceNowLifecycle } from '../../bench/lib/surface-lifecycles.ts';
import { walkLifecycle, type LifecycleWorld, type WalkedLifecycle } from '../../bench/lib/lifecycle-count.ts';

const ops = { actor: 'platform-admin', surface: 'cli' as const };
/** The world's clock: inside the staging change window. */
const START = new Date('2026-11-24T09:00:00Z');
let world: ServiceNowWorld;
let dir: string;
let offset: number;
/** The requested item of the counted lifecycle. */
let counted: string;

before(async () => {
  // The directory cache's TTL long enough that a slow machine still reuses the warm-up's lookups.
  dir = mkdtempSync(join(tmpdir(), 'servicenow-call-count-'));
  const config = join(dir, 'servicenow-config.yaml');
  writeFileSync(config, `${readFileSync('examples/servicenow-config.yaml', 'utf8')}\ndirectoryCacheSeconds: 3600\n`);
  // Dynamic choices re-synced soon after a deployment, so that write lands inside the lifecycle.
  world = await startServiceNowWorld({ logger: createLogger('silent'), clock: shiftedClock(START), configFile: config, dynamicOptionsPollMs: 200 });
  offset = START.getTime() - Date.now();
  const { engine } = world.runtime.opened;
  await engine.createProject({ id: 'checkout', name: 'Checkout' }, ops);
  await engine.createEnvironment({ project: 'checkout', name: 'staging', labels: { production: false } }, ops);
  await engine.attest('postgres-database', '1.4.0', 'qa-signed', 'quinn', ops);
  await syncServiceNowForms(world);
});
after(async () => {
  await world?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** One requested item's lifecycle, its calls counted per phase (quiet: no call answered for 1 s). */
const lifecycle = (w: LifecycleWorld): Promise<WalkedLifecycle> => walkLifecycle(w, 1_000);

test('one database request costs 9 to 10 ServiceNow calls to its plan and 23 over its lifecycle, none of them avoidable', { timeout: 240_000 }, async () => {
  let n = 0;
  await lifecycle(serviceNowLifecycle(world, () => ++n, offset));
  const { ref, phases } = await lifecycle(serviceNowLifecycle(world, () => ++n, offset));
  counted = ref;
  const [toPlan, approval, , , whole] = phases;
  // The item and its variables read, Work in Progress, the "Approval needed" note (it may land
  // after the status note), the item read for the status, its approval records read and two
  // made, the request's status entries read once, the state with the status note in one PATCH.
  assert.ok(toPlan!.total >= 9 && toPlan!.total <= 10, `created -> plan visible: ${JSON.stringify([...toPlan!.byName])}`);
  assert.deepEqual(Object.fromEntries(approval!.byName), { 'GET /api/now/table/sysapproval_approver/{sys_id}': 1 }, 'the approval record read; the approver is known');
  assert.deepEqual(Object.fromEntries(whole!.byName), {
    'GET /api/now/table/sc_req_item/{sys_id}': 4, // at filing, and before each of the three status notes (a person's close wins)
    'GET /api/now/table/sc_item_option_mtom': 1, // the variables, at filing
    // Work in Progress at filing; 3 event entries (approval needed, approved, applied) with no
    // search before them; 3 status notes, each with the state and approval it brings
    'PATCH /api/now/table/sc_req_item/{sys_id}': 7,
    'GET /api/now/table/sys_journal_field': 3, // the request's status entries, once per status note
    'GET /api/now/table/sysapproval_approver': 2, // requested records: before making them, and before closing the rest (not again once closed)
    'POST /api/now/table/sysapproval_approver': 2, // one per member of platform-approvers
    'GET /api/now/table/sysapproval_approver/{sys_id}': 1, // the approval the webhook names
    'PATCH /api/now/table/sysapproval_approver/{sys_id}': 1, // the other approver's record: No Longer Required
    'GET /api/now/table/question_choice': 1, // the decommission item's packages (the only dynamic choices a deployment changes)
    'POST /api/now/table/question_choice': 1, // the new package offered there
  }, 'no user or group lookup (cached since the first request), no search before a first write, no state PATCH of its own');
  assert.equal(whole!.total, 23);
  assert.deepEqual(world.sandbox.violations(), []);
});

test('a notice written again on a later attempt (its first answer lost) looks first and adds nothing', { timeout: 60_000 }, async () => {
  assert.ok(counted, 'runs after the counted lifecycle');
  const sb = world.sandbox;
  const surface = world.runtime.servicenow!;
  const log = createLogger('silent');
  const notes = workNotes(sb, counted);
  const applied = notes.find((x) => x.key?.includes(':applied:'))!;
  const status = notes.filter((x) => x.status).at(-1)!;
  const requestId = applied.key!.split(':')[0]!;
  const before = sb.calls.length;
  for (const attempt of [{ first: false }, undefined]) {
    await surface.publish({ requestId, message: 'applied', key: applied.key! } satisfies WorkflowNotice, log, attempt);
    await surface.publish({ requestId, message: 'status', key: status.key! } satisfies WorkflowNotice, log, attempt);
  }
  assert.deepEqual(workNotes(sb, counted), notes, 'no entry written twice');
  const calls = sb.calls.slice(before).filter((c) => c.path.startsWith('/api/'));
  assert.deepEqual(calls.filter((c) => c.method !== 'GET'), [], 'nothing written: the entries are there, the state already as the request says');
  assert.equal(calls.filter((c) => c.path.endsWith('/sys_journal_field')).length, 4, 'each looked for once');
});
