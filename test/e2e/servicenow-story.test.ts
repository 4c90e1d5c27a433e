/**
 * The developer-requests-a-database story through ServiceNow, end to end: the forms sync makes
 * the catalog items, Dana orders the database item, the shipped Business Rule's signed webhook
 * reaches the service, which reads the requested item back through the Table API, plans, writes
 * work notes (the plan once, then a short line per change of state), additional comments for
 * what the requester must read, approval records, and applies for real against PostgreSQL once
 * Ari approves.
 * Then the ServiceNow twins of the Jira story's bad-input cases.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import axios from 'axios';
import { createLogger } from '../../src/engine/logger.ts';
import { shiftedClock } from '../../src/demo/story.ts';
import { startServiceNowWorld, type ServiceNowWorld } from '../../src/demo/servicenow-world.ts';
import { orderDatabase, ritmState, serviceNowClient, syncServiceNowForms, waitFor, workNotes } from '../../src/demo/servicenow-steps.ts';
import { signServiceNowBody } from '../../sandbox/servicenow/webhook-sender.ts';
import { ServiceNowBlackoutSource } from '../../src/surfaces/servicenow/blackouts.ts';
import { ChangeWindowService } from '../../src/policy/index.ts';
import { PEOPLE } from '../../sandbox/servicenow/example-seed.ts';
import type { Request } from '../../src/engine/model.ts';

const run = promisify(execFile);
let world: ServiceNowWorld;
const ctx = { actor: 'platform-admin', surface: 'cli' as const };

before(async () => {
  // Tuesday 10:00 in Berlin: the staging window (Mon-Fri 07:00-20:00) and the production window
  // (Tue-Thu 10:00-16:00) are both open.
  world = await startServiceNowWorld({ logger: createLogger('silent'), clock: shiftedClock(new Date('2026-11-24T09:00:00Z')), webhookRetryDelaysMs: [50, 100] });
  const { engine } = world.runtime.opened;
  await engine.createProject({ id: 'checkout', name: 'Checkout' }, ctx);
  await engine.createEnvironment({ project: 'checkout', name: 'staging', labels: { production: false } }, ctx);
  await engine.createEnvironment({ project: 'checkout', name: 'production', labels: { production: true } }, ctx);
  await engine.attest('postgres-database', '1.4.0', 'qa-signed', 'quinn', ctx);
  await syncServiceNowForms(world);
});
after(async () => {
  await world?.close();
});

async function latestRequest(ritm: string): Promise<Request> {
  const all = await world.runtime.opened.engine.requests.forOrigin('servicenow', ritm);
  return all.sort((a, b) => a.createdAt.localeCompare(b.createdAt)).pop()!;
}

async function psql(sql: string): Promise<string> {
  const env = { ...process.env, ...world.pg.superuserEnv() };
  const { stdout } = await run('psql', ['-X', '-A', '-t', '-c', sql], { env });
  return stdout.trim();
}

function userId(userName: string): string {
  return world.sandbox.state.mustUser(userName).sys_id!;
}

test('forms sync: one catalog item per bundle (and the decommission, question and preview environment items) with variables and choices; a second run writes nothing', async () => {
  const sb = world.sandbox;
  const items = sb.state.all('sc_cat_item').map((i) => i.name).sort();
  assert.deepEqual(items, ['Decommission a package', 'Infrastructure question', 'PostgreSQL database', 'Preview environment', 'Promote checkout-api', 'Redis cache']);
  const itemId = (await world.runtime.ids.get('servicenow', 'item/postgres-database'))!;
  const vars = sb.state.all('item_option_new').filter((v) => v.cat_item === itemId);
  const size = vars.find((v) => v.name === 'expected_size_gib')!;
  assert.equal(size.question_text, 'Expected data size (GiB)');
  assert.equal(size.type, '6');
  assert.equal(size.mandatory, 'true');
  assert.equal(vars.find((v) => v.name === 'production_critical')!.type, '7');
  const env = vars.find((v) => v.name === 'request_environment')!;
  assert.equal(env.type, '5');
  const envChoices = sb.state.all('question_choice').filter((c) => c.question === env.sys_id && c.inactive === 'false').map((c) => c.value).sort();
  assert.deepEqual(envChoices, ['production', 'staging'], 'environments come from the engine');
  assert.equal(await world.runtime.ids.get('servicenow', 'variable/postgres-database/expected_size_gib'), size.sys_id);
  assert.ok(await world.runtime.ids.get('servicenow', 'choice/postgres-database/request_environment/staging'));

  const writes = sb.writes().length;
  const again = await syncServiceNowForms(world);
  assert.equal(again.writes, 0);
  assert.equal(sb.writes().length, writes, 'the sandbox saw no write call');
  assert.deepEqual(sb.violations(), []);
});

test('a developer orders a database; the approver signs off; it is created for real', { timeout: 120_000 }, async () => {
  const sb = world.sandbox;
  const ritm = await orderDatabase(world, PEOPLE.developer, { package: 'orders-db', database: 'checkout_orders', username: 'checkout_app', size: 50 });

  const planned = await waitFor(() => workNotes(sb, ritm.sysId).find((n) => n.status && /AWAITING APPROVAL/.test(n.text)), 'the plan work note');
  assert.equal(planned.journal, 'work_notes', 'the plan is internal detail');
  assert.match(planned.text, /3 to add · 0 to change · 0 to destroy/);
  assert.match(planned.text, /postgresql_database\.main/);
  assert.match(planned.text, /platform-approvers/);
  assert.match(planned.text, /qa-signed/);
  assert.match(planned.text, /open now/i);
  assert.equal(planned.author, sb.credentials.username);
  await waitFor(() => ritmState(sb, ritm.sysId) === 'Pending', 'the requested item pending');

  // Approval records for the active members of platform-approvers, none for the requester or the inactive one.
  const approvals = await waitFor(() => {
    const a = sb.state.approvalsFor(ritm.sysId);
    return a.length >= 2 ? a : undefined;
  }, 'approval records');
  const approvers = approvals.map((a) => sb.state.records.get(a.approver!)!.user_name).sort();
  assert.deepEqual(approvers, [PEOPLE.approver, PEOPLE.secondApprover].sort());
  assert.ok(approvals.every((a) => a.state === 'requested'));
  assert.equal(await psql("select count(*) from pg_database where datname = 'checkout_orders'"), '0');

  sb.as(PEOPLE.approver).approve(ritm.sysId);
  await waitFor(() => workNotes(sb, ritm.sysId).find((n) => n.status && /APPLIED/.test(n.text)), 'the applied status', 60_000);
  // The result is for the requester: an additional comment, with what was created (no secret).
  const applied = await waitFor(() => workNotes(sb, ritm.sysId, 'comments').find((n) => /✔ Applied/.test(n.text)), 'the result comment');
  assert.match(applied.text, /checkout_orders/);
  assert.match(applied.text, /password/i);
  assert.equal(await psql("select count(*) from pg_database where datname = 'checkout_orders'"), '1');
  assert.equal(await psql("select count(*) from pg_roles where rolname = 'checkout_app'"), '1');
  await waitFor(() => ritmState(sb, ritm.sysId) === 'Closed Complete', 'the requested item closed complete');
  // The second approver's record is no longer required once the approval counted.
  await waitFor(() => sb.state.approvalsFor(ritm.sysId).every((a) => a.state !== 'requested'), 'the other approval closed');
  assert.equal(sb.state.approvalsFor(ritm.sysId).find((a) => a.approver === userId(PEOPLE.secondApprover))!.state, 'cancelled');

  // The password exists (the artifact) and is in no journal entry.
  const pkg = await world.runtime.opened.engine.getPackage('checkout-staging-orders-db', { reveal: true });
  const password = JSON.stringify(pkg.artifacts).match(/"password":"([^"]+)"/)?.[1];
  assert.ok(password && password.length >= 12);
  for (const n of workNotes(sb, ritm.sysId)) assert.ok(!n.text.includes(password), 'password leaked into the journal');

  const r = await latestRequest(ritm.sysId);
  assert.equal(r.state, 'applied');
  assert.equal(r.actor.id, userId(PEOPLE.developer));
  assert.equal(r.approvals[0]!.by.id, userId(PEOPLE.approver));
  // No notice was written twice.
  const keys = workNotes(sb, ritm.sysId).map((n) => n.key).filter(Boolean);
  assert.equal(new Set(keys).size, keys.length);
  assertJournal(ritm.sysId, r.id);
  assert.deepEqual(sb.violations(), []);
});

/**
 * What a journal can hold: the full plan once (in the work notes), then one short status line per
 * later change of state, never the same state twice in a row; the requester's result in the
 * additional comments; no sentence claiming an entry is edited in place.
 */
function assertJournal(ritmSysId: string, requestId: string): void {
  const entries = workNotes(world.sandbox, ritmSysId).filter((n) => n.author === world.sandbox.credentials.username);
  const withPlan = entries.filter((n) => /\|\s*add\s*\|\s*postgresql_database\.main/.test(n.text));
  assert.equal(withPlan.length, 1, 'the plan table is in the journal once');
  assert.equal(withPlan[0]!.journal, 'work_notes');
  const status = entries.filter((n) => n.status && n.key!.startsWith(`${requestId}:`));
  assert.equal(status[0], withPlan[0], 'the first status entry carries the plan');
  assert.ok(status.length >= 2, `a short line for later states (${status.length} status entries)`);
  const headers = status.map((n) => n.text.split('\n', 1)[0]);
  for (let k = 1; k < headers.length; k++) assert.notEqual(headers[k], headers[k - 1], 'a state is reported once');
  assert.match(headers.at(-1)!, /· APPLIED$/);
  for (const line of status.slice(1)) {
    assert.equal(line.journal, 'work_notes');
    assert.ok(line.text.split('\n').filter((l) => l.trim()).length <= 4, `a short line, not the plan again:\n${line.text}`);
    assert.doesNotMatch(line.text, /to add ·|Policy/);
  }
  const needed = entries.find((n) => /^Approval needed/.test(n.text))!;
  assert.equal(needed.journal, 'work_notes');
  assert.match(needed.text, /never edited/);
  for (const n of entries) assert.doesNotMatch(n.text, /edited in place/);
  assert.deepEqual(entries.filter((n) => n.journal === 'comments').map((n) => n.key?.split(':')[1]), ['applied'], 'the requester reads the result');
}

test('variables that fail validation: labelled errors in a comment, Pending, nothing provisioned; editing them re-plans', { timeout: 60_000 }, async () => {
  const sb = world.sandbox;
  const ritm = await orderDatabase(world, PEOPLE.developer, { package: 'tiny-db', database: 'tiny', username: 'tiny_app', size: 2, ownerTeam: 'Checkout Team!' });
  const note = await waitFor(() => workNotes(sb, ritm.sysId).find((n) => /cannot be planned/.test(n.text)), 'the validation comment');
  assert.equal(note.journal, 'comments', 'the requester must act on it: an additional comment');
  assert.match(note.text, /Expected data size \(GiB\)/);
  assert.match(note.text, /at least 10/);
  assert.match(note.text, /Owner team/);
  await waitFor(() => ritmState(sb, ritm.sysId) === 'Pending', 'the requested item pending');
  assert.equal((await latestRequest(ritm.sysId)).state, 'invalid');
  assert.equal(await world.runtime.opened.engine.inventory.find('package', 'checkout-staging-tiny-db'), undefined);
  assert.equal(await psql("select count(*) from pg_database where datname = 'tiny'"), '0');

  // Editing the variables (the Business Rule on sc_item_option) re-plans automatically.
  sb.as(PEOPLE.developer).editVariables(ritm.sysId, { expected_size_gib: '20', owner_team: 'checkout' });
  await waitFor(() => workNotes(sb, ritm.sysId).find((n) => n.status && /AWAITING APPROVAL/.test(n.text)), 'a plan after the edit');
  const r = await latestRequest(ritm.sysId);
  assert.equal(r.state, 'awaiting_approval');
  assert.equal(r.params?.expected_size_gib, 20);
});

test('approvals that do not count: self-approval, an inactive approver, someone outside the group; each refused in a work note', { timeout: 60_000 }, async () => {
  const sb = world.sandbox;
  const ritm = await orderDatabase(world, PEOPLE.developer, { package: 'refused-db', database: 'refused_db', username: 'refused_app', size: 20 });
  await waitFor(() => workNotes(sb, ritm.sysId).find((n) => n.status && /AWAITING APPROVAL/.test(n.text)), 'the plan');
  // A flow (or an admin) asks people who may not approve; the service checks every decision against policy.
  sb.requestApprovals(ritm.sysId, { approvers: [PEOPLE.developer, PEOPLE.inactiveApprover, PEOPLE.outsider] });

  sb.as(PEOPLE.developer).approve(ritm.sysId);
  await waitFor(() => workNotes(sb, ritm.sysId).find((n) => /not counted/.test(n.text) && /requester cannot approve/.test(n.text)), 'self-approval refusal');
  sb.as(PEOPLE.inactiveApprover).approve(ritm.sysId);
  await waitFor(() => workNotes(sb, ritm.sysId).find((n) => /not counted/.test(n.text) && /not an active user/.test(n.text)), 'inactive refusal');
  sb.as(PEOPLE.outsider).approve(ritm.sysId);
  await waitFor(() => workNotes(sb, ritm.sysId).find((n) => /not counted/.test(n.text) && /platform-approvers/.test(n.text) && /not in/i.test(n.text)), 'outsider refusal');

  const r = await latestRequest(ritm.sysId);
  assert.equal(r.state, 'awaiting_approval');
  assert.equal(r.approvals.length, 0);
  // The refused decisions do not look like approvals in ServiceNow either.
  for (const who of [PEOPLE.developer, PEOPLE.inactiveApprover, PEOPLE.outsider]) {
    const rec = await waitFor(() => sb.state.approvalsFor(ritm.sysId).find((a) => a.approver === userId(who) && a.state === 'cancelled'), `${who}'s approval marked no longer required`);
    assert.ok(rec);
  }
  assert.equal(ritmState(sb, ritm.sysId), 'Pending');
  assert.equal(await psql("select count(*) from pg_database where datname = 'refused_db'"), '0');
});

test('an approval of a superseded plan is refused in a work note; the old approval records are no longer required', { timeout: 60_000 }, async () => {
  const sb = world.sandbox;
  const ritm = await orderDatabase(world, PEOPLE.developer, { package: 'edit-db', database: 'edit_db', username: 'edit_app', size: 30 });
  await waitFor(() => workNotes(sb, ritm.sysId).find((n) => n.status && /AWAITING APPROVAL/.test(n.text)), 'first plan');
  const first = await latestRequest(ritm.sysId);
  const firstRecords = await waitFor(() => {
    const a = sb.state.approvalsFor(ritm.sysId);
    return a.length >= 2 ? a.map((x) => x.sys_id!) : undefined;
  }, 'approval records of the first plan');

  sb.as(PEOPLE.developer).editVariables(ritm.sysId, { expected_size_gib: '40' });
  await waitFor(async () => ((await latestRequest(ritm.sysId)).id !== first.id ? true : undefined), 'a new revision');
  const second = await latestRequest(ritm.sysId);
  await waitFor(() => workNotes(sb, ritm.sysId).find((n) => n.status && n.key?.startsWith(`${second.id}:`) && /AWAITING APPROVAL/.test(n.text)), 'the second plan');
  await waitFor(() => firstRecords.every((id) => sb.state.records.get(id)!.state === 'cancelled'), 'the first plan\'s approvals no longer required');
  const fresh = await waitFor(() => {
    const a = sb.state.approvalsFor(ritm.sysId).filter((x) => x.state === 'requested');
    return a.length ? a : undefined;
  }, 'approval records of the new plan');
  assert.equal(fresh.length, 2, 'new approval records for the new plan');
  assert.ok(fresh.every((a) => !firstRecords.includes(a.sys_id!)));

  const out = await world.runtime.workflow.approve({ requestId: first.id, approver: { id: userId(PEOPLE.approver) }, surface: 'servicenow' });
  assert.equal(out.counted, false);
  await waitFor(() => workNotes(sb, ritm.sysId).find((n) => /plan changed/.test(n.text)), 'superseded refusal');
  assert.equal((await world.runtime.opened.engine.requests.get(first.id)).state, 'superseded');
});

test('webhook intake: a bad or missing signature is 401 and queues nothing; a retried event is dropped', async () => {
  const url = `${world.runtime.url}/webhooks/servicenow`;
  const body = JSON.stringify({ event_id: 'a'.repeat(32), event: 'ritm.inserted', table: 'sc_req_item', sys_id: 'b'.repeat(32), sys_updated_on: '2026-11-24 09:00:00' });
  const before = await world.runtime.queues.intake.count();
  const bad = await axios.post(url, body, { headers: { 'content-type': 'application/json', 'x-servicenow-signature': `sha256=${'0'.repeat(64)}` }, validateStatus: () => true });
  assert.equal(bad.status, 401);
  assert.match(JSON.stringify(bad.data), /X-ServiceNow-Signature/);
  const missing = await axios.post(url, body, { headers: { 'content-type': 'application/json' }, validateStatus: () => true });
  assert.equal(missing.status, 401);
  assert.match(JSON.stringify(missing.data), /X-ServiceNow-Signature/);
  const wrongSecret = await axios.post(url, body, { headers: { 'content-type': 'application/json', 'x-servicenow-signature': signServiceNowBody('another-secret-0123456789', body) }, validateStatus: () => true });
  assert.equal(wrongSecret.status, 401);
  assert.equal(await world.runtime.queues.intake.count(), before);

  const headers = { 'content-type': 'application/json', 'x-servicenow-signature': signServiceNowBody(world.webhookSecret, body), 'x-servicenow-event-id': 'a'.repeat(32) };
  const first = await axios.post(url, body, { headers, validateStatus: () => true });
  assert.equal(first.status, 202);
  assert.equal(first.data.status, 'queued');
  const again = await axios.post(url, body, { headers, validateStatus: () => true });
  assert.equal(again.status, 202);
  assert.equal(again.data.status, 'duplicate');
  // The event id is the signed one: a different header cannot make a replay look new.
  const replay = await axios.post(url, body, { headers: { ...headers, 'x-servicenow-event-id': 'c'.repeat(32) }, validateStatus: () => true });
  assert.equal(replay.status, 401);
});

test('ServiceNow answering 429 and 503: the outbox waits, retries, and still writes each work note once', { timeout: 90_000 }, async () => {
  const sb = world.sandbox;
  sb.rateLimit(2, 1, { methods: ['PATCH'] });
  sb.fail(2, 503, { methods: ['PATCH', 'POST'] });
  const ritm = await orderDatabase(world, PEOPLE.developer, { package: 'busy-db', database: 'busy_db', username: 'busy_app', size: 20 });
  await waitFor(() => workNotes(sb, ritm.sysId).find((n) => n.status && /AWAITING APPROVAL/.test(n.text)), 'the plan despite 429 and 503', 60_000);
  await new Promise((r) => setTimeout(r, 1500));
  const notes = workNotes(sb, ritm.sysId);
  const keys = notes.map((n) => n.key);
  assert.equal(new Set(keys).size, keys.length, 'no work note twice');
  assert.equal(notes.filter((n) => /^Approval needed/.test(n.text)).length, 1, 'one approval-needed note');
  assert.ok(sb.calls.some((c) => c.status === 429), 'the sandbox did answer 429');
});

test('production: a normal change request on the requested item, planned inside the window, walked to Closed as the engine applies', { timeout: 120_000 }, async () => {
  const sb = world.sandbox;
  // Rene (release-managers) may request production changes; production databases must be production-critical.
  const ritm = await orderDatabase(world, PEOPLE.releaseManager, { package: 'prod-db', database: 'prod_orders', username: 'prod_app', size: 50, environment: 'production', critical: true });
  await waitFor(() => workNotes(sb, ritm.sysId).find((n) => n.status && /AWAITING APPROVAL/.test(n.text)), 'the production plan');
  const change = await waitFor(() => sb.state.all('change_request').find((c) => c.parent === ritm.sysId && c.state === '-3'), 'a change request in Authorize');
  assert.equal(change.type, 'normal');
  assert.equal(change.correlation_id, (await latestRequest(ritm.sysId)).id);
  // Planned inside today's production window (Tue 10:00-16:00 Europe/Berlin = 09:00-15:00 UTC).
  assert.ok(change.start_date! >= '2026-11-24 09:00:00' && change.start_date! < '2026-11-24 15:00:00', `start ${change.start_date}`);
  assert.ok(change.end_date! > change.start_date! && change.end_date! <= '2026-11-24 15:00:00', `end ${change.end_date}`);

  sb.as(PEOPLE.approver).approve(ritm.sysId);
  await waitFor(() => workNotes(sb, ritm.sysId).find((n) => n.status && /APPLIED/.test(n.text)), 'the production result', 60_000);
  assert.equal(await psql("select count(*) from pg_database where datname = 'prod_orders'"), '1');
  const closed = await waitFor(() => {
    const c = sb.state.get('change_request', change.sys_id!);
    return c?.state === '3' ? c : undefined;
  }, 'the change closed');
  assert.equal(closed.close_code, 'successful');
  assert.equal(closed.active, 'false');
  const walked = sb.changes.filter((e) => e.table === 'change_request' && e.record.sys_id === change.sys_id).map((e) => e.record.state);
  assert.deepEqual([...new Set(walked)], ['-5', '-4', '-3', '-2', '-1', '0', '3'], 'New → Assess → Authorize → Scheduled → Implement → Review → Closed');
  assert.equal(ritmState(sb, ritm.sysId), 'Closed Complete');
  assert.deepEqual(sb.violations(), []);
});

test('ServiceNow blackout schedules are change blackouts for production: a freeze entered there moves the next window', async () => {
  const sb = world.sandbox;
  const source = new ServiceNowBlackoutSource({ client: serviceNowClient(world), config: { enabled: true, environments: 'production', cacheMs: 0 }, logger: createLogger('silent') });
  const production = { name: 'production', labels: { production: true } };
  const staging = { name: 'staging', labels: { production: false } };
  // The seeded year-end freeze: 2026-12-20 00:00 to 2027-01-05 00:00 in Europe/Berlin (UTC+1).
  const yearEnd = (await source.load(production, new Date('2026-12-01T00:00:00Z'), new Date('2027-02-01T00:00:00Z'))).blackouts ?? [];
  assert.deepEqual(
    yearEnd.map((b) => [b.reason, b.start.toISOString(), b.end.toISOString()]),
    [['Year-end freeze', '2026-12-19T23:00:00.000Z', '2027-01-04T23:00:00.000Z']],
  );
  assert.deepEqual((await source.load(staging, new Date('2026-12-01T00:00:00Z'), new Date('2027-02-01T00:00:00Z'))).blackouts ?? [], []);

  // Tuesday 17:00 in Berlin, after the production window: next opening Wednesday 10:00 ...
  const windows = new ChangeWindowService(world.runtime.policy, [source]);
  const after = new Date('2026-11-24T16:00:00Z');
  assert.equal((await windows.nextWindow(production, after))?.start.toISOString(), '2026-11-25T09:00:00.000Z');
  // ... until someone enters a freeze for Wednesday in ServiceNow: then Thursday 10:00.
  sb.seed({ blackouts: [{ name: 'Datacenter move', time_zone: 'Europe/Berlin', spans: [{ name: 'Datacenter move', start: '2026-11-25 00:00:00', end: '2026-11-26 00:00:00' }] }] });
  const moved = await windows.nextWindow(production, after);
  assert.equal(moved?.start.toISOString(), '2026-11-26T09:00:00.000Z');
  assert.deepEqual(moved?.blockedBy.map((b) => b.reason), ['Datacenter move']);
  // Staging is not held back by it (blackouts apply to production): Wednesday noon is open there.
  assert.equal((await windows.nextWindow(staging, new Date('2026-11-25T11:00:00Z')))?.openNow, true);
});

test('an approval is credited to whoever changed the approval record: the requester answering an approver\'s record is refused as the requester', { timeout: 60_000 }, async () => {
  const sb = world.sandbox;
  const ritm = await orderDatabase(world, PEOPLE.developer, { package: 'proxy-db', database: 'proxy_db', username: 'proxy_app', size: 20 });
  await waitFor(() => workNotes(sb, ritm.sysId).find((n) => n.status && /AWAITING APPROVAL/.test(n.text)), 'the plan');
  const assigned = await waitFor(() => sb.state.approvalsFor(ritm.sysId).find((a) => a.approver === userId(PEOPLE.approver) && a.state === 'requested'), "the approver's record");
  // The requester sets the approver's record to approved (an ACL that lets them, or a shared login).
  sb.as(PEOPLE.developer).approve(assigned.sys_id as string);
  await waitFor(() => workNotes(sb, ritm.sysId).find((n) => /not counted/.test(n.text) && /requester cannot approve/.test(n.text)), 'refused as the requester');
  const r = await latestRequest(ritm.sysId);
  assert.equal(r.state, 'awaiting_approval');
  assert.deepEqual(r.approvals, []);
  assert.equal(await psql("select count(*) from pg_database where datname = 'proxy_db'"), '0');
});

test('work note commands and closing the item: /plan re-plans, an unknown command is answered, closing the item cancels the request', { timeout: 60_000 }, async () => {
  const sb = world.sandbox;
  const ritm = await orderDatabase(world, PEOPLE.developer, { package: 'cmd-db', database: 'cmd_db', username: 'cmd_app', size: 20 });
  await waitFor(() => workNotes(sb, ritm.sysId).find((n) => n.status && /AWAITING APPROVAL/.test(n.text)), 'the plan');
  const first = await latestRequest(ritm.sysId);

  sb.as(PEOPLE.developer).addWorkNote(ritm.sysId, '/frobnicate now');
  await waitFor(() => workNotes(sb, ritm.sysId).find((n) => /Unknown command \/frobnicate/.test(n.text) && n.author === sb.credentials.username), 'the unknown-command answer');

  sb.as(PEOPLE.developer).addWorkNote(ritm.sysId, '/plan');
  const second = await waitFor(async () => {
    const r = await latestRequest(ritm.sysId);
    return r.id !== first.id && r.state === 'awaiting_approval' ? r : undefined;
  }, 'a fresh plan after /plan');
  assert.equal(second.submitted?.database_name, 'cmd_db');

  // A person closes the item after the service has written what it owed for the new plan.
  await waitFor(async () => {
    const owed = await world.runtime.opened.engine.inventory.outbox.requestIds();
    const counts = await world.runtime.queues.outbox.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
    return !owed.has(second.id) && Object.values(counts).every((n) => n === 0) ? true : undefined;
  }, 'the new plan written to the item');
  // Closing the requested item in ServiceNow (Closed Incomplete) cancels the request.
  sb.as(PEOPLE.developer).update('sc_req_item', ritm.sysId, { state: '4' });
  await waitFor(async () => ((await latestRequest(ritm.sysId)).state === 'cancelled' ? true : undefined), 'the request cancelled');
  await waitFor(() => workNotes(sb, ritm.sysId).find((n) => n.status && /CANCELLED/.test(n.text)), 'the cancelled status');
  assert.ok(sb.state.approvalsFor(ritm.sysId).every((a) => a.state !== 'requested'), 'no approval is left open');
  assert.equal(await psql("select count(*) from pg_database where datname = 'cmd_db'"), '0');
});

// Runs last: every call of every step above was checked against the official API documents.
test('the whole story made no contract violations', () => {
  assert.deepEqual(world.sandbox.violations(), []);
});
