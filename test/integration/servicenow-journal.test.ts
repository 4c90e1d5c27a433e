/**
 * The ServiceNow journal against the contract-checked sandbox: journals are append-only, so a
 * request's full status (with its plan) is written once per plan, every later change of state
 * adds one short line, a state already reported or a notice already written adds nothing, and
 * each audience's entries land in the journal the mapping names (additional comments for the
 * requester, work notes for the rest, unless configured otherwise).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../../src/engine/logger.ts';
import type { Block } from '../../src/surfaces/shared/blocks.ts';
import { ServiceNowClient } from '../../src/surfaces/servicenow/client.ts';
import { serviceNowSurfaceConfigSchema } from '../../src/surfaces/servicenow/config.ts';
import { ServiceNowJournal, type StatusEntry } from '../../src/surfaces/servicenow/journal.ts';
import { startServiceNowSandbox, type ServiceNowSandbox } from '../../sandbox/servicenow/servicenow-sandbox.ts';
import { exampleSeed, PEOPLE } from '../../sandbox/servicenow/example-seed.ts';

let sb: ServiceNowSandbox;
before(async () => {
  sb = await startServiceNowSandbox({ contract: true, seed: exampleSeed() });
});
after(async () => {
  await sb?.stop();
});

function journal(mapping: Record<string, unknown> = {}): ServiceNowJournal {
  const client = new ServiceNowClient({ instanceUrl: sb.url, user: sb.credentials.username, password: sb.credentials.password, logger: createLogger('silent') });
  return new ServiceNowJournal({ client, config: serviceNowSurfaceConfigSchema.parse({ project: 'checkout', ...mapping }) });
}

function order(): string {
  const item = sb.state.all('sc_cat_item')[0]!;
  const variables = Object.fromEntries(sb.state.itemVariables(item.sys_id!).map((v) => [v.name!, v.type === '5' ? 'staging' : v.type === '7' ? 'false' : '20']));
  return sb.as(PEOPLE.developer).order(item.sys_id!, { variables }).ritm.sys_id!;
}

const para = (...lines: string[]): Block[] => lines.map((text) => ({ type: 'paragraph', content: [{ type: 'text', text }] }));
const header = (state: string) => `ticket-surface · request req_1 · revision 1 · ${state}`;

/** A status notice of request req_1 at record revision `rev`, in `state`, showing plan `hash`. */
function status(rev: number, state: string, hash = 'aaaa1111', reason?: string): StatusEntry {
  return {
    requestId: 'req_1',
    noticeKey: `req_1:status:${rev}`,
    full: para(header(state), `Plan ${hash}: 3 to add · 0 to change · 0 to destroy`, '| add | postgresql_database.main |', 'Policy: needs 1 approval'),
    line: para(header(state), ...(reason ? [reason] : []), `${state.toLowerCase()} now`),
    planHash: hash,
    ...(reason ? { reason } : {}),
  };
}

const entries = (ritm: string, element: 'work_notes' | 'comments') => sb.state.journal(sb.state.mustGet('sc_req_item', ritm), element).reverse().map((j) => j.value ?? '');

test('the plan once, then one short line per change of state; a state already reported and a notice already written add nothing', async () => {
  const ritm = order();
  const j = journal();
  await j.status(ritm, status(3, 'AWAITING APPROVAL'));
  await j.status(ritm, status(3, 'AWAITING APPROVAL')); // the same notice again (a retried job)
  await j.status(ritm, status(4, 'AWAITING APPROVAL')); // a later notice, still the same state
  await j.status(ritm, status(5, 'APPROVED'));
  await j.status(ritm, status(6, 'APPLYING'));
  await j.status(ritm, status(7, 'APPLYING', 'aaaa1111', 'Queued: another deployment of this package is running.'));
  await j.status(ritm, status(8, 'APPLIED'));
  await j.status(ritm, status(6, 'APPLYING')); // a stale duplicate of a written notice
  const notes = entries(ritm, 'work_notes');
  assert.equal(notes.filter((n) => n.includes('postgresql_database.main')).length, 1, 'the plan is written once');
  assert.match(notes[0]!, /ts:note:req_1:status:3:plan:aaaa1111$/);
  assert.deepEqual(
    notes.map((n) => n.split('\n', 1)[0]),
    [header('AWAITING APPROVAL'), header('APPROVED'), header('APPLYING'), header('APPLYING'), header('APPLIED')],
  );
  assert.match(notes[3]!, /Queued: another deployment/, 'the same state with news is written');
  for (const n of notes.slice(1)) assert.doesNotMatch(n, /Plan |Policy/, 'later entries are short lines');
  assert.deepEqual(entries(ritm, 'comments'), [], 'status is internal');
});

test('a new plan (a replan or a new revision) is written in full again', async () => {
  const ritm = order();
  const j = journal();
  await j.status(ritm, status(3, 'AWAITING APPROVAL', 'aaaa1111'));
  await j.status(ritm, status(4, 'APPROVED', 'aaaa1111'));
  await j.status(ritm, status(9, 'AWAITING APPROVAL', 'bbbb2222'));
  const notes = entries(ritm, 'work_notes');
  assert.equal(notes.length, 3);
  assert.match(notes[2]!, /Plan bbbb2222/);
  assert.match(notes[2]!, /:plan:bbbb2222$/);
});

test('requester entries go to the additional comments, internal ones to the work notes, once per key; the mapping can change both', async () => {
  const ritm = order();
  const j = journal();
  await j.post(ritm, para('✔ Applied: database orders'), 'req_1:applied:8', 'requester');
  await j.post(ritm, para('✔ Applied: database orders'), 'req_1:applied:8', 'requester');
  await j.post(ritm, para('Approval needed for request req_1'), 'req_1:approval-needed:3', 'internal');
  await j.remark(ritm, '✘ /apply not done: nothing to retry', 'requester');
  assert.deepEqual(entries(ritm, 'comments'), ['✔ Applied: database orders\n\nts:note:req_1:applied:8', '✘ /apply not done: nothing to retry']);
  assert.deepEqual(entries(ritm, 'work_notes'), ['Approval needed for request req_1\n\nts:note:req_1:approval-needed:3']);
  assert.equal(await j.entryWith(ritm, 'req_1:applied:8'), '✔ Applied: database orders\n\nts:note:req_1:applied:8', 'found in either journal');

  const notesOnly = journal({ journal: { requester: 'work_notes' } });
  assert.equal(notesOnly.column('requester'), 'work_notes');
  assert.equal(notesOnly.column('internal'), 'work_notes');
  const other = order();
  await notesOnly.post(other, para('answer'), 'ask:1', 'requester');
  assert.deepEqual(entries(other, 'comments'), []);
  assert.equal(entries(other, 'work_notes').length, 1);
  assert.throws(() => serviceNowSurfaceConfigSchema.parse({ project: 'checkout', journal: { requester: 'email' } }));
});

test("a notice's first attempt is written without a search; a later one looks first and adds nothing", async () => {
  const ritm = order();
  const j = journal();
  const from = sb.calls.length;
  await j.post(ritm, para('Approval needed for request req_1'), 'req_1:approval-needed:3', 'internal', { lookFirst: false });
  assert.deepEqual(sb.calls.slice(from).map((c) => `${c.method} ${c.path.split('/')[4]}`), ['PATCH sc_req_item'], 'one PATCH, no search');
  await j.post(ritm, para('Approval needed for request req_1'), 'req_1:approval-needed:3', 'internal');
  assert.equal(entries(ritm, 'work_notes').length, 1);
});

test("a status writes the item's state with its entry in one PATCH, and the state alone when the entry is there already", async () => {
  const ritm = order();
  const j = journal();
  const from = sb.calls.length;
  await j.status(ritm, status(3, 'AWAITING APPROVAL'), { state: '-5', approval: 'requested' });
  const writes = sb.calls.slice(from).filter((c) => c.method !== 'GET');
  assert.equal(writes.length, 1);
  assert.deepEqual(Object.keys(writes[0]!.body as object).sort(), ['approval', 'state', 'work_notes']);
  assert.equal(sb.calls.slice(from).filter((c) => c.method === 'GET').length, 1, "the request's status entries read once");
  assert.equal(sb.state.mustGet('sc_req_item', ritm).state, '-5');
  await j.status(ritm, status(3, 'AWAITING APPROVAL'), { state: '2' }); // the same notice again: the state is still written
  assert.equal(sb.state.mustGet('sc_req_item', ritm).state, '2');
  assert.equal(entries(ritm, 'work_notes').length, 1);
});

test('contract: zero violations', () => {
  assert.deepEqual(sb.violations(), [], sb.contract?.report());
});
