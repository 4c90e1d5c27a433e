/**
 * Read-only questions answered in ServiceNow, end to end through the contract-checked sandbox:
 * the "Infrastructure question" catalog item (kept by the forms sync) is answered in an
 * additional comment (the journal the requester reads) and closed, `/ask <query>` in a work note
 * or comment on any requested item is answered in a reply comment, and a bad question gets the
 * list of queries back, with how to ask again in a comment. Every answer is checked
 * against the seeded inventory (ranking, sums, versions behind), audited once with surface
 * `servicenow`, free of secrets, and changes nothing.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import axios from 'axios';
import { createLogger } from '../../src/engine/logger.ts';
import { shiftedClock } from '../../src/demo/story.ts';
import { startServiceNowWorld, type ServiceNowWorld } from '../../src/demo/servicenow-world.ts';
import { askQuestion, orderDatabase, ritmState, syncServiceNowForms, waitFor, workNotes, type WorkNoteLine } from '../../src/demo/servicenow-steps.ts';
import { QUESTION_ITEM_KEY } from '../../src/surfaces/servicenow/forms-sync.ts';
import { signServiceNowBody } from '../../sandbox/servicenow/webhook-sender.ts';
import { PEOPLE } from '../../sandbox/servicenow/example-seed.ts';
import type { AuditEvent, Request } from '../../src/engine/model.ts';

let world: ServiceNowWorld;
const ctx = { actor: 'platform-admin', surface: 'cli' as const };
const SECRET = 'pw-ServiceNow-7q!must-stay-out';
const QUERY_NAMES = ['most-expensive', 'where-runs', 'environment', 'who-changed', 'waiting', 'frozen', 'leases', 'package', 'drift'];
/** [project, env, package, bundle, version, monthly cost] */
const SEED: [string, string, string, string, string, number][] = [
  ['checkout', 'production', 'orders-db', 'postgres-database', '1.4.0', 620],
  ['checkout', 'production', 'cache', 'redis-cache', '1.0.0', 180],
  ['checkout', 'production', 'api', 'checkout-api', '2.13.2', 440],
  ['search', 'production', 'index', 'postgres-database', '1.4.0', 700],
  ['search', 'production', 'api', 'checkout-api', '2.14.0', 280.5],
  ['checkout', 'staging', 'orders-db', 'postgres-database', '1.4.0', 160],
  ['checkout', 'staging', 'api', 'checkout-api', '2.13.2', 150],
  ['billing', 'dev', 'ledger', 'postgres-database', '1.4.0', 12],
];

before(async () => {
  // Tuesday 10:00 in Berlin: the staging window is open, so an order waits only for approval.
  world = await startServiceNowWorld({ logger: createLogger('silent'), clock: shiftedClock(new Date('2026-11-24T09:00:00Z')), webhookRetryDelaysMs: [50, 100] });
  const { engine } = world.runtime.opened;
  for (const p of new Set(SEED.map((s) => s[0]))) await engine.createProject({ id: p }, ctx);
  for (const e of new Set(SEED.map((s) => `${s[0]}/${s[1]}`))) {
    const [project, name] = e.split('/') as [string, string];
    await engine.createEnvironment({ project, name, labels: { production: name === 'production' } }, ctx);
  }
  for (const [project, env, name, bundle, version, cost] of SEED) {
    await engine.inventory.createPackage({ environment: `${project}-${env}`, name, bundle, version, costMonthly: cost }, ctx);
  }
  await engine.inventory.modify('package', 'checkout-production-orders-db', (d) => {
    d.artifacts = { authentication: { data: { username: 'orders', password: SECRET } } };
    d.desiredParams = { admin_password: SECRET };
  }, ctx);
  await engine.attest('checkout-api', '2.14.0', 'qa-signed', 'quinn', ctx);
  await engine.attest('postgres-database', '1.4.0', 'qa-signed', 'quinn', ctx);
  await syncServiceNowForms(world);
});
after(async () => {
  await world?.close();
});

function userId(userName: string): string {
  return world.sandbox.state.mustUser(userName).sys_id!;
}

async function asks(): Promise<AuditEvent[]> {
  return (await world.runtime.opened.engine.listAudit({ limit: 5000 })).filter((e) => e.action === 'query.ask');
}

/** The first aligned table of a journal entry, as rows of cells (the header row first). */
function tableOf(text: string): string[][] {
  return text
    .split('\n')
    .filter((l) => /^ {2}\| /.test(l))
    .map((l) => l.trim().slice(1, -1).split(' | ').map((c) => c.trim()));
}

/** The service's entries on a requested item that answer something (question item or `/ask`): additional comments, for the requester. */
function answers(ritm: string): WorkNoteLine[] {
  const all = workNotes(world.sandbox, ritm).filter((n) => n.author === world.sandbox.credentials.username && /^(question|ask):/.test(n.key ?? ''));
  assert.ok(all.every((n) => n.journal === 'comments'), 'answers go to the additional comments the requester sees');
  return all;
}

/** The expected stacks, computed from SEED, most expensive first. */
function ranking(): { stack: string; cost: number; top: string }[] {
  const by = new Map<string, { cost: number; pkgs: [string, number][] }>();
  for (const [p, e, name, , , c] of SEED) {
    const s = by.get(`${p} / ${e}`) ?? { cost: 0, pkgs: [] };
    s.cost += c;
    s.pkgs.push([name, c]);
    by.set(`${p} / ${e}`, s);
  }
  const money = (n: number) => (Number.isInteger(n) ? `$${n}` : `$${n.toFixed(2)}`);
  return [...by.entries()]
    .map(([stack, s]) => ({ stack, cost: s.cost, top: s.pkgs.sort((a, b) => b[1] - a[1]).slice(0, 3).map(([n, c]) => `${n} ${money(c)}`).join(' · ') }))
    .sort((a, b) => b.cost - a.cost);
}

function assertNoSecret(ritm: string): void {
  for (const n of workNotes(world.sandbox, ritm)) {
    assert.ok(!n.text.includes(SECRET), 'a secret reached the journal');
    assert.ok(!n.text.includes('admin_password'), 'a sensitive param name reached the journal');
  }
}

test('the forms sync keeps the "Infrastructure question" item: one choice per query; a second sync writes nothing', async () => {
  const sb = world.sandbox;
  const itemId = await world.runtime.ids.get('servicenow', `item/${QUESTION_ITEM_KEY}`);
  assert.ok(itemId, 'the question item was synced');
  assert.equal(sb.state.mustGet('sc_cat_item', itemId).name, 'Infrastructure question');
  const query = sb.state.all('item_option_new').find((v) => v.cat_item === itemId && v.name === 'query')!;
  const choices = sb.state.all('question_choice').filter((c) => c.question === query.sys_id && c.inactive === 'false').map((c) => c.value);
  assert.deepEqual(choices, QUERY_NAMES);
  assert.deepEqual(world.runtime.servicenowSync && (await world.runtime.servicenowSync.items()).map((i) => i.key).at(-1), QUESTION_ITEM_KEY);
  const again = await syncServiceNowForms(world);
  assert.equal(again.writes, 0);
});

test('most-expensive through the question item: an aligned table in a comment, ranked and summed, the item Closed Complete', { timeout: 60_000 }, async () => {
  const sb = world.sandbox;
  const before = (await asks()).length;
  const packagesBefore = JSON.stringify(await world.runtime.opened.engine.listPackages({}));
  const ritm = await askQuestion(world, PEOPLE.developer, { query: 'most-expensive', top: 2 });
  const [note] = await waitFor(() => {
    const a = answers(ritm.sysId);
    return a.length ? a : undefined;
  }, 'the answer comment');
  const expected = ranking();
  const table = tableOf(note!.text);
  assert.deepEqual(table[0], ['#', 'project / environment', 'cost/month', 'biggest packages']);
  assert.equal(table.length, 3, 'header and the top 2');
  assert.deepEqual(table.slice(1).map((r) => r[1]), expected.slice(0, 2).map((e) => e.stack));
  assert.equal(table[1]![2], '$1,240.00');
  assert.equal(table[2]![2], `$${expected[1]!.cost.toLocaleString('en-US', { minimumFractionDigits: 2 })}`);
  assert.equal(table[1]![3], expected[0]!.top);
  assert.equal(table[2]![3], expected[1]!.top, 'cents shown when there are some');
  // Aligned columns: every line of the table is as wide as the header.
  const lines = note!.text.split('\n').filter((l) => /^ {2}\|/.test(l));
  assert.equal(new Set(lines.map((l) => [...l].length)).size, 1, `columns not aligned:\n${lines.join('\n')}`);
  assert.match(note!.text, /^Most expensive stacks \(monthly estimate\) \(2026-11-24 \d{2}:\d{2} UTC\)/);
  assert.match(note!.text, new RegExp(`Asked by Dana Developer\\. ${expected.length - 2} more stacks: ticket-surface query most-expensive --top ${expected.length}`));
  assert.ok(note!.text.length <= world.runtime.servicenow!['deps'].config.workNoteLimit);

  await waitFor(() => ritmState(sb, ritm.sysId) === 'Closed Complete', 'the question item closed complete');
  const audited = (await asks()).slice(before);
  assert.equal(audited.length, 1, 'one query.ask audit event');
  assert.equal(audited[0]!.surface, 'servicenow');
  assert.equal(audited[0]!.actor, userId(PEOPLE.developer), 'the requester asked');
  assert.deepEqual(audited[0]!.subject, { type: 'query', id: 'most-expensive' });
  assert.deepEqual((audited[0]!.after as { args: unknown }).args, { top: 2 });
  // A question is no request and changes nothing.
  assert.equal((await world.runtime.opened.engine.requests.forOrigin('servicenow', ritm.sysId)).length, 0);
  assert.equal(JSON.stringify(await world.runtime.opened.engine.listPackages({})), packagesBefore);
  assert.equal(answers(ritm.sysId).length, 1, 'one answer, nothing else');
  assertNoSecret(ritm.sysId);
});

test('where-runs through the question item: the Arguments variable names the bundle; versions behind the latest qa-signed', { timeout: 60_000 }, async () => {
  const sb = world.sandbox;
  const ritm = await askQuestion(world, PEOPLE.outsider, { query: 'where-runs', arguments: 'checkout-api' });
  const note = await waitFor(() => answers(ritm.sysId)[0], 'the answer');
  const table = tableOf(note.text);
  assert.deepEqual(table[0], ['project / environment', 'package', 'version', 'latest qa-signed', 'behind']);
  const rows = Object.fromEntries(table.slice(1).map((r) => [`${r[0]} ${r[1]}`, [r[2], r[3], r[4]]]));
  assert.equal(table.length - 1, SEED.filter((s) => s[3] === 'checkout-api').length);
  assert.deepEqual(rows['checkout / production api'], ['2.13.2', '2.14.0', '1 version behind']);
  assert.deepEqual(rows['checkout / staging api'], ['2.13.2', '2.14.0', '1 version behind']);
  assert.deepEqual(rows['search / production api'], ['2.14.0', '2.14.0', 'up to date']);
  assert.match(note.text, /3 packages, 2 behind the latest qa-signed version\./);
  assert.match(note.text, /Asked by Pat Product\./);
  await waitFor(() => ritmState(sb, ritm.sysId) === 'Closed Complete', 'closed complete');
  const mine = (await asks()).filter((e) => e.actor === userId(PEOPLE.outsider));
  assert.equal(mine.length, 1);
  assert.equal(mine[0]!.surface, 'servicenow');
  assert.deepEqual((mine[0]!.after as { args: unknown }).args, { bundle: 'checkout-api', top: 20 });
});

test('waiting, through the question item and through /ask on the waiting request\'s own item: the request awaiting approval, from whom', { timeout: 120_000 }, async () => {
  const sb = world.sandbox;
  const order = await orderDatabase(world, PEOPLE.developer, { package: 'ask-db', database: 'ask_db', username: 'ask_app', size: 20 });
  await waitFor(() => workNotes(sb, order.sysId).find((n) => n.status && /AWAITING APPROVAL/.test(n.text)), 'the plan');
  const request = (await world.runtime.opened.engine.requests.forOrigin('servicenow', order.sysId))[0]!;

  const ritm = await askQuestion(world, PEOPLE.approver, { query: 'waiting' });
  const note = await waitFor(() => answers(ritm.sysId)[0], 'the waiting answer');
  const table = tableOf(note.text);
  assert.deepEqual(table[0], ['request', 'ticket', 'what', 'state', 'waiting for']);
  assert.deepEqual(table.slice(1), [[request.id, order.sysId, 'provision postgres-database 1.4.0 in checkout / staging', 'awaiting approval', 'approval from platform-approvers']]);
  assert.match(note.text, /1 request waiting\./);
  await waitFor(() => ritmState(sb, ritm.sysId) === 'Closed Complete', 'closed complete');

  // The same question as a work note on the database item itself: a reply, the request untouched.
  const before = (await asks()).length;
  sb.as(PEOPLE.developer).addWorkNote(order.sysId, '/ask waiting --top 5');
  const reply = await waitFor(() => answers(order.sysId)[0], 'the /ask reply');
  assert.deepEqual(tableOf(reply.text).slice(1).map((r) => r[0]), [request.id]);
  assert.match(reply.text, /Asked by Dana Developer\./);
  const audited = (await asks()).slice(before);
  assert.equal(audited.length, 1);
  assert.equal(audited[0]!.surface, 'servicenow');
  assert.equal(audited[0]!.actor, userId(PEOPLE.developer));
  const after: Request[] = await world.runtime.opened.engine.requests.forOrigin('servicenow', order.sysId);
  assert.deepEqual(after.map((r) => [r.id, r.state]), [[request.id, 'awaiting_approval']], 'no new revision, no state change');
  assert.equal(ritmState(sb, order.sysId), 'Pending', 'the database item keeps its state');
  assertNoSecret(order.sysId);
});

test('/ask in a comment or work note on any requested item: environment, package and who-changed answered in reply comments, without secrets', { timeout: 60_000 }, async () => {
  const sb = world.sandbox;
  // An answered question item is as good a requested item as any to ask on.
  const ritm = await askQuestion(world, PEOPLE.developer, { query: 'waiting' });
  await waitFor(() => ritmState(sb, ritm.sysId) === 'Closed Complete', 'the first answer');

  sb.as(PEOPLE.developer).addComment(ritm.sysId, '/ask environment checkout production');
  const env = await waitFor(() => answers(ritm.sysId)[1], 'the environment answer');
  const asked = sb.state.journal(sb.state.mustGet('sc_req_item', ritm.sysId), 'comments').find((j) => j.sys_created_by === PEOPLE.developer)!;
  assert.equal(env.key, `ask:${asked.sys_id}`, 'a reply to that comment');
  const envTable = tableOf(env.text);
  assert.deepEqual(envTable.slice(1).map((r) => [r[0], r[4]]), [
    ['orders-db', '$620.00'],
    ['api', '$440.00'],
    ['cache', '$180.00'],
  ]);
  assert.match(env.text, /3 packages, \$1,240\.00\/month\./);

  sb.as(PEOPLE.developer).addWorkNote(ritm.sysId, '/ask package checkout-production-orders-db');
  const pkg = await waitFor(() => answers(ritm.sysId)[2], 'the package answer');
  const facts = Object.fromEntries(tableOf(pkg.text).slice(1).map((r) => [r[0], r[1]]));
  assert.equal(facts['bundle'], 'postgres-database 1.4.0');
  assert.equal(facts['cost/month'], '$620.00');
  assert.equal(facts['last deployment'], 'none yet');

  sb.as(PEOPLE.developer).addWorkNote(ritm.sysId, '/ask who-changed checkout-production-orders-db');
  const who = await waitFor(() => answers(ritm.sysId)[3], 'the who-changed answer');
  const changes = tableOf(who.text).slice(1);
  assert.deepEqual(changes.map((r) => [r[1], r[2]]), [
    ['platform-admin', 'cli'],
    ['platform-admin', 'cli'],
  ]);
  assert.match(changes[0]![3]!, /^package\.\w+ \(/, 'what changed, by name');
  assertNoSecret(ritm.sysId);
  assert.equal(ritmState(sb, ritm.sysId), 'Closed Complete');
  assert.equal((await world.runtime.opened.engine.requests.forOrigin('servicenow', ritm.sysId)).length, 0);
});

test('a bad question: the list of queries in a comment, the item Pending; editing its variables answers and closes it', { timeout: 60_000 }, async () => {
  const sb = world.sandbox;
  const before = (await asks()).length;
  const ritm = await askQuestion(world, PEOPLE.developer, { query: 'where-runs' });
  const refusal = await waitFor(() => answers(ritm.sysId)[0], 'the refusal');
  assert.match(refusal.text, /^✘ bad argument for where-runs: .*bundle is required/);
  assert.match(refusal.text, /edit the Question and Arguments variables of this item/);
  for (const q of QUERY_NAMES) assert.match(refusal.text, new RegExp(`• ${q}\\b`));
  assert.match(refusal.text, /• where-runs <bundle> \[--top N\]/);
  await waitFor(() => ritmState(sb, ritm.sysId) === 'Pending', 'the question item pending');
  assert.equal((await asks()).length, before, 'a refused question is not an asked one');

  sb.as(PEOPLE.developer).editVariables(ritm.sysId, { arguments: 'redis-cache' });
  const answer = await waitFor(() => answers(ritm.sysId)[1], 'the answer after the edit');
  assert.deepEqual(tableOf(answer.text).slice(1).map((r) => [r[0], r[1], r[4]]), [['checkout / production', 'cache', 'no qa-signed version']]);
  await waitFor(() => ritmState(sb, ritm.sysId) === 'Closed Complete', 'closed complete after the edit');
  assert.equal((await asks()).length, before + 1);
  assert.equal((await world.runtime.opened.engine.requests.forOrigin('servicenow', ritm.sysId)).length, 0);
});

test('/ask with an unknown query or a bad argument: the list of queries in a reply; a pending question item is closed by an answered /ask', { timeout: 60_000 }, async () => {
  const sb = world.sandbox;
  const ritm = await askQuestion(world, PEOPLE.developer, { query: 'environment', arguments: 'checkout' });
  await waitFor(() => answers(ritm.sysId)[0], 'the refusal');
  await waitFor(() => ritmState(sb, ritm.sysId) === 'Pending', 'pending');

  sb.as(PEOPLE.developer).addWorkNote(ritm.sysId, '/ask cheapest stack please');
  const unknown = await waitFor(() => answers(ritm.sysId)[1], 'the unknown-query reply');
  assert.match(unknown.text, /^✘ unknown query "cheapest"/);
  assert.match(unknown.text, /write an additional comment \/ask <query> \[args\]/);
  for (const q of QUERY_NAMES) assert.match(unknown.text, new RegExp(`• ${q}\\b`));

  sb.as(PEOPLE.developer).addWorkNote(ritm.sysId, '/ask most-expensive --top 0');
  const bad = await waitFor(() => answers(ritm.sysId)[2], 'the bad-argument reply');
  assert.match(bad.text, /--top must be at least 1/);
  assert.equal(ritmState(sb, ritm.sysId), 'Pending', 'still waiting for a question that can be answered');

  sb.as(PEOPLE.developer).addWorkNote(ritm.sysId, '/ask environment billing dev');
  const ok = await waitFor(() => answers(ritm.sysId)[3], 'the answer');
  assert.deepEqual(tableOf(ok.text).slice(1).map((r) => [r[0], r[4]]), [['ledger', '$12.00']]);
  await waitFor(() => ritmState(sb, ritm.sysId) === 'Closed Complete', 'closed by the answered /ask');
});

test('a retried delivery of an answered question answers nothing twice; no contract violation', { timeout: 60_000 }, async () => {
  const sb = world.sandbox;
  const ritm = await askQuestion(world, PEOPLE.developer, { query: 'most-expensive' });
  await waitFor(() => ritmState(sb, ritm.sysId) === 'Closed Complete', 'answered');
  const asked = (await asks()).length;
  const notes = workNotes(sb, ritm.sysId).length;
  const handled = async () => (await world.runtime.queues.intake.getJobCounts('completed')).completed ?? 0;
  const handledBefore = await handled();
  const body = JSON.stringify({ event_id: 'e'.repeat(32), event: 'ritm.inserted', table: 'sc_req_item', sys_id: ritm.sysId, sys_updated_on: '2026-11-24 09:00:00' });
  const res = await axios.post(`${world.runtime.url}/webhooks/servicenow`, body, {
    headers: { 'content-type': 'application/json', 'x-servicenow-signature': signServiceNowBody(world.webhookSecret, body), 'x-servicenow-event-id': 'e'.repeat(32) },
  });
  assert.equal(res.status, 202);
  await waitFor(async () => ((await handled()) > handledBefore ? true : undefined), 'the delivery handled');
  assert.equal(workNotes(sb, ritm.sysId).length, notes, 'no second answer');
  assert.equal((await asks()).length, asked, 'no second audit event');
  assert.equal(ritmState(sb, ritm.sysId), 'Closed Complete');
  assert.deepEqual(sb.violations(), []);
});
