import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createHmac } from 'node:crypto';
import axios from 'axios';
import { createLogger } from '../../src/engine/logger.ts';
import { startStoryWorld, shiftedClock, type StoryWorld } from '../../src/demo/story.ts';
import { syncStoryForms, conversation, waitFor, fileDatabaseRequest } from '../../src/demo/story-steps.ts';
import { PEOPLE, STATUSES } from '../../sandbox/jira/index.ts';
import type { Request } from '../../src/engine/model.ts';
import { jobId } from '../../src/queue/queues.ts';

const run = promisify(execFile);
let world: StoryWorld;
const ctx = { actor: 'platform-admin', surface: 'cli' as const };

before(async () => {
  // Tuesday 10:00 in Berlin: the staging window (Mon-Fri 07:00-20:00) is open.
  world = await startStoryWorld({ logger: createLogger('silent'), clock: shiftedClock(new Date('2026-11-24T09:00:00Z')), webhookRetryDelaysMs: [50, 100] });
  const { engine } = world.runtime.opened;
  await engine.createProject({ id: 'checkout', name: 'Checkout' }, ctx);
  await engine.createEnvironment({ project: 'checkout', name: 'staging', labels: { production: false } }, ctx);
  await engine.attest('postgres-database', '1.4.0', 'qa-signed', 'quinn', ctx);
  await syncStoryForms(world);
});
after(async () => {
  await world?.close();
});

async function latestRequest(key: string): Promise<Request> {
  const all = await world.runtime.opened.engine.requests.forOrigin('jira', key);
  return all.sort((a, b) => a.createdAt.localeCompare(b.createdAt)).pop()!;
}

async function psql(sql: string): Promise<string> {
  const env = { ...process.env, ...world.pg.superuserEnv() };
  const { stdout } = await run('psql', ['-X', '-A', '-t', '-c', sql], { env });
  return stdout.trim();
}

test('a developer requests a database; the approver signs off; it is created for real', { timeout: 120_000 }, async () => {
  const sb = world.sandbox;
  const key = await fileDatabaseRequest(world, PEOPLE.developer, { package: 'orders-db', database: 'checkout_orders', username: 'checkout_app', size: 50 });

  const planned = await waitFor(() => conversation(sb, key).find((c) => c.status && /AWAITING APPROVAL/.test(c.text)), 'the plan comment');
  assert.match(planned.text, /3 to add · 0 to change · 0 to destroy/);
  assert.match(planned.text, /postgresql_database\.main/);
  assert.match(planned.text, /platform-approvers/);
  assert.match(planned.text, /qa-signed/);
  assert.match(planned.text, /open now/i);
  await waitFor(async () => ((await world.runtime.jira!['deps'].client.getStatus(key)) === STATUSES.awaitingApproval ? true : undefined), 'awaiting approval status');

  // Bad approvals first: each is refused with a comment saying why, nothing applied.
  sb.as(PEOPLE.developer).transition(key, STATUSES.approved);
  await waitFor(() => conversation(sb, key).find((c) => /requester cannot approve/.test(c.text)), 'self-approval refusal');
  await waitFor(async () => ((await world.runtime.jira!['deps'].client.getStatus(key)) === STATUSES.awaitingApproval ? true : undefined), 'moved back');
  sb.as(PEOPLE.inactiveApprover).transition(key, STATUSES.approved);
  await waitFor(() => conversation(sb, key).find((c) => /not counted/.test(c.text) && /not an active user/.test(c.text)), 'inactive refusal');
  await waitFor(async () => ((await world.runtime.jira!['deps'].client.getStatus(key)) === STATUSES.awaitingApproval ? true : undefined), 'moved back');
  sb.as(PEOPLE.outsider).transition(key, STATUSES.approved);
  await waitFor(() => conversation(sb, key).find((c) => /not counted/.test(c.text) && /platform-approvers/.test(c.text) && /not in/i.test(c.text)), 'outsider refusal');
  await waitFor(async () => ((await world.runtime.jira!['deps'].client.getStatus(key)) === STATUSES.awaitingApproval ? true : undefined), 'moved back');
  assert.equal(await psql("select count(*) from pg_database where datname = 'checkout_orders'"), '0');

  sb.as(PEOPLE.approver).transition(key, STATUSES.approved);
  const applied = await waitFor(() => conversation(sb, key).find((c) => c.status && /APPLIED/.test(c.text)), 'the result', 60_000);
  assert.match(applied.text, /checkout_orders/);
  assert.match(applied.text, /password/i);
  assert.equal(await psql("select count(*) from pg_database where datname = 'checkout_orders'"), '1');
  assert.equal(await psql("select count(*) from pg_roles where rolname = 'checkout_app'"), '1');
  await waitFor(async () => ((await world.runtime.jira!['deps'].client.getStatus(key)) === STATUSES.done ? true : undefined), 'issue done');

  // The password exists (the artifact) and is in no comment.
  const pkg = await world.runtime.opened.engine.getPackage('checkout-staging-orders-db', { reveal: true });
  const password = JSON.stringify(pkg.artifacts).match(/"password":"([^"]+)"/)?.[1];
  assert.ok(password && password.length >= 12);
  for (const c of conversation(sb, key)) assert.ok(!c.text.includes(password), 'password leaked into a comment');

  // Exactly one status comment, edited in place.
  assert.equal(conversation(sb, key).filter((c) => c.status).length, 1);
  const r = await latestRequest(key);
  assert.equal(r.state, 'applied');
  assert.deepEqual(sb.violations(), []);
});

test('day 2 on the same ticket: an edit after apply plans an update; an immutable field is refused by its label', { timeout: 120_000 }, async () => {
  const sb = world.sandbox;
  const key = (await world.runtime.opened.engine.requests.list({ package: 'checkout-staging-orders-db' })).find((r) => r.state === 'applied')!.origin.ref;
  const ids = await world.runtime.ids.all('jira');
  const first = await latestRequest(key);
  sb.as(PEOPLE.developer).edit(key, { [ids['postgres-database/expected_size_gib']!]: 80 });
  await waitFor(async () => {
    const r = await latestRequest(key);
    return r.id !== first.id && r.state === 'awaiting_approval' ? r : undefined;
  }, 'a day-2 plan');
  const update = await latestRequest(key);
  assert.equal(update.kind, 'update');
  assert.equal(update.plan!.summary.add, 0);
  assert.ok(update.plan!.summary.change >= 1);
  await waitFor(() => conversation(sb, key).find((c) => c.status && /AWAITING APPROVAL/.test(c.text) && /0 to add/.test(c.text)), 'the update plan in the status comment');
  assert.equal(conversation(sb, key).filter((c) => c.status).length, 1, 'still one status comment on the ticket');
  await waitFor(async () => ((await world.runtime.jira!['deps'].client.getStatus(key)) === STATUSES.awaitingApproval ? true : undefined), 'reopened for approval');
  sb.as(PEOPLE.approver).transition(key, STATUSES.approved);
  await waitFor(async () => ((await latestRequest(key)).state === 'applied' ? true : undefined), 'the update applied', 60_000);
  assert.equal((await world.runtime.opened.engine.getPackage('checkout-staging-orders-db')).lastAppliedParams?.expected_size_gib, 80);

  // The database name cannot change after creation: refused, naming the field.
  sb.as(PEOPLE.developer).edit(key, { [ids['postgres-database/database_name']!]: 'renamed_orders' });
  await waitFor(() => conversation(sb, key).find((c) => /cannot be planned/.test(c.text) && /Database name/.test(c.text)), 'the immutable refusal');
  assert.equal(await psql("select count(*) from pg_database where datname = 'renamed_orders'"), '0');
  assert.equal(await psql("select count(*) from pg_database where datname = 'checkout_orders'"), '1');
});

test('fields that fail validation: labelled errors, Needs info, nothing provisioned', { timeout: 60_000 }, async () => {
  const sb = world.sandbox;
  const key = await fileDatabaseRequest(world, PEOPLE.developer, { package: 'tiny-db', database: 'tiny', username: 'tiny_app', size: 2, ownerTeam: null });
  const c = await waitFor(() => conversation(sb, key).find((x) => /cannot be planned/.test(x.text)), 'the validation comment');
  assert.match(c.text, /Expected data size \(GiB\)/);
  assert.match(c.text, /at least 10/);
  assert.match(c.text, /Owner team/);
  await waitFor(async () => ((await world.runtime.jira!['deps'].client.getStatus(key)) === STATUSES.needsInfo ? true : undefined), 'needs info');
  assert.equal(await world.runtime.opened.engine.inventory.find('package', 'checkout-staging-tiny-db'), undefined);
  assert.equal(await psql("select count(*) from pg_database where datname = 'tiny'"), '0');

  // Editing the fields re-plans automatically.
  const ids = await world.runtime.ids.all('jira');
  sb.as(PEOPLE.developer).edit(key, { [ids['postgres-database/expected_size_gib']!]: 20, [ids['postgres-database/owner_team']!]: 'checkout' });
  await waitFor(() => conversation(sb, key).find((x) => x.status && /AWAITING APPROVAL/.test(x.text)), 'a plan after the edit');
});

test('an approval of a superseded plan is refused in the ticket', { timeout: 60_000 }, async () => {
  const sb = world.sandbox;
  const key = await fileDatabaseRequest(world, PEOPLE.developer, { package: 'edit-db', database: 'edit_db', username: 'edit_app', size: 30 });
  await waitFor(() => conversation(sb, key).find((c) => c.status && /AWAITING APPROVAL/.test(c.text)), 'first plan');
  const first = await latestRequest(key);
  const ids = await world.runtime.ids.all('jira');
  sb.as(PEOPLE.developer).edit(key, { [ids['postgres-database/expected_size_gib']!]: 40 });
  await waitFor(async () => ((await latestRequest(key)).id !== first.id ? true : undefined), 'a new revision');
  const out = await world.runtime.workflow.approve({ requestId: first.id, approver: { id: PEOPLE.approver }, surface: 'jira' });
  assert.equal(out.counted, false);
  await waitFor(() => conversation(sb, key).find((c) => /plan changed/.test(c.text)), 'superseded refusal');
  assert.equal((await world.runtime.opened.engine.requests.get(first.id)).state, 'superseded');
});

test('a status approval binds to the plan the ticket showed: a plan the approver never saw is not approved', { timeout: 60_000 }, async () => {
  const sb = world.sandbox;
  const key = await fileDatabaseRequest(world, PEOPLE.developer, { package: 'shown-db', database: 'shown_db', username: 'shown_app', size: 20 });
  await waitFor(() => conversation(sb, key).find((c) => c.status && /AWAITING APPROVAL/.test(c.text)), 'the plan comment');
  const r = await latestRequest(key);
  // Publishing the status remembers the plan it showed (right after the comment is written).
  const shown = await waitFor(() => world.runtime.ids.shownPlan('jira', key), 'the shown plan');
  assert.deepEqual(shown, { requestId: r.id, planHash: r.plan!.hash });
  // The ticket shows another plan than the request holds (a newer plan not yet written to the ticket).
  await world.runtime.ids.setShownPlan('jira', key, { requestId: r.id, planHash: 'f'.repeat(64) });
  await waitFor(async () => ((await world.runtime.jira!['deps'].client.getStatus(key)) === STATUSES.awaitingApproval ? true : undefined), 'awaiting approval status');
  sb.as(PEOPLE.approver).transition(key, STATUSES.approved);
  await waitFor(() => conversation(sb, key).find((c) => /not counted/.test(c.text) && /plan changed/.test(c.text)), 'refused: the plan changed');
  const after = await world.runtime.opened.engine.requests.get(r.id);
  assert.equal(after.state, 'awaiting_approval');
  assert.deepEqual(after.approvals, []);
});

test('webhook intake: bad or missing signature is 401 and queues nothing; a retried delivery is dropped', async () => {
  const url = `${world.runtime.url}/webhooks/jira`;
  const body = JSON.stringify({ webhookEvent: 'jira:issue_created', timestamp: Date.now() });
  const bad = await axios.post(url, body, { headers: { 'content-type': 'application/json', 'x-hub-signature': 'sha256=' + '0'.repeat(64), 'x-atlassian-webhook-identifier': 'bad-1' }, validateStatus: () => true });
  assert.equal(bad.status, 401);
  assert.match(JSON.stringify(bad.data), /X-Hub-Signature/);
  const missing = await axios.post(url, body, { headers: { 'content-type': 'application/json', 'x-atlassian-webhook-identifier': 'bad-2' }, validateStatus: () => true });
  assert.equal(missing.status, 401);
  // Nothing queued for either refused delivery (their job ids would be derived from these delivery ids).
  for (const id of ['bad-1', 'bad-2']) assert.equal(await world.runtime.queues.intake.getJob(jobId(`jira:${id}`)), undefined);

  const sig = 'sha256=' + createHmac('sha256', world.webhookSecret).update(body).digest('hex');
  const headers = { 'content-type': 'application/json', 'x-hub-signature': sig, 'x-atlassian-webhook-identifier': 'dup-delivery-1' };
  const first = await axios.post(url, body, { headers, validateStatus: () => true });
  assert.equal(first.status, 202);
  assert.equal(first.data.status, 'queued');
  const again = await axios.post(url, body, { headers: { ...headers, 'x-atlassian-webhook-retry': '1' }, validateStatus: () => true });
  assert.equal(again.status, 202);
  assert.equal(again.data.status, 'duplicate');
});

test('Jira answering 429 and 503: the outbox waits, retries, and still posts each comment once', { timeout: 90_000 }, async () => {
  const sb = world.sandbox;
  // The next comment writes are refused: first rate-limited (Retry-After 1 s), then unavailable.
  sb.rateLimit(2, 1, { methods: ['POST'] });
  sb.fail(2, 503, { methods: ['POST', 'PUT'] });
  const key = await fileDatabaseRequest(world, PEOPLE.developer, { package: 'busy-db', database: 'busy_db', username: 'busy_app', size: 20 });
  await waitFor(() => conversation(sb, key).find((c) => c.status && /AWAITING APPROVAL/.test(c.text)), 'the plan comment despite 429 and 503', 60_000);
  await new Promise((r) => setTimeout(r, 1500));
  const lines = conversation(sb, key);
  assert.equal(lines.filter((c) => c.status).length, 1, 'one status comment');
  assert.equal(lines.filter((c) => /^Approval needed/.test(c.text)).length, 1, 'one approval-needed comment');
  assert.ok(sb.calls.some((c) => c.status === 429), 'the sandbox did answer 429');
});

test('JSM approvals: the approver answers the JSM approval and the request applies', { timeout: 90_000 }, async () => {
  const sb = world.sandbox;
  const key = await fileDatabaseRequest(world, PEOPLE.developer, { project: 'OPS', package: 'jsm-db', database: 'jsm_db', username: 'jsm_app', size: 20 });
  await waitFor(() => conversation(sb, key).find((c) => c.status && /AWAITING APPROVAL/.test(c.text)), 'the plan in the service desk');
  await waitFor(async () => ((await world.runtime.jira!['deps'].client.getStatus(key)) === STATUSES.awaitingApproval ? true : undefined), 'awaiting approval status');
  sb.as(PEOPLE.approver).approve(key);
  await waitFor(() => conversation(sb, key).find((c) => c.status && /APPLIED/.test(c.text)), 'applied after the JSM approval', 60_000);
  assert.equal(await psql("select count(*) from pg_database where datname = 'jsm_db'"), '1');
  const approvals = (await latestRequest(key)).approvals;
  assert.equal(approvals.length, 1);
  assert.equal(approvals[0]!.by.id, PEOPLE.approver);
  assert.equal(approvals[0]!.surface, 'jira');
});

test('comment commands: an unknown one is answered with the list, /cancel cancels a pending request', { timeout: 60_000 }, async () => {
  const sb = world.sandbox;
  const key = await fileDatabaseRequest(world, PEOPLE.developer, { package: 'cancel-db', database: 'cancel_db', username: 'cancel_app', size: 20 });
  await waitFor(() => conversation(sb, key).find((c) => c.status && /AWAITING APPROVAL/.test(c.text)), 'the plan');
  sb.as(PEOPLE.developer).comment(key, '/frobnicate now');
  await waitFor(() => conversation(sb, key).find((c) => /Unknown command \/frobnicate/.test(c.text) && /\/cancel/.test(c.text)), 'the list of commands');
  sb.as(PEOPLE.developer).comment(key, '/cancel');
  await waitFor(async () => ((await latestRequest(key)).state === 'cancelled' ? true : undefined), 'cancelled');
  await waitFor(async () => ((await world.runtime.jira!['deps'].client.getStatus(key)) === STATUSES.cancelled ? true : undefined), 'issue cancelled');
  assert.equal(await psql("select count(*) from pg_database where datname = 'cancel_db'"), '0');
});

test('an issue created and edited within the same moment becomes one request, not two', { timeout: 60_000 }, async () => {
  const sb = world.sandbox;
  const key = await fileDatabaseRequest(world, PEOPLE.developer, { package: 'race-db', database: 'race_db', username: 'race_app', size: 20 });
  const ids = await world.runtime.ids.all('jira');
  sb.as(PEOPLE.developer).edit(key, { [ids['postgres-database/expected_size_gib']!]: 25 });
  sb.as(PEOPLE.developer).edit(key, { [ids['postgres-database/expected_size_gib']!]: 30 });
  await waitFor(async () => {
    const r = await latestRequest(key);
    return r && r.state === 'awaiting_approval' && r.params?.expected_size_gib === 30 ? r : undefined;
  }, 'the last edit planned', 30_000);
  const all = await world.runtime.opened.engine.requests.forOrigin('jira', key);
  const live = all.filter((r) => r.state !== 'superseded');
  assert.equal(live.length, 1, `one live request, got ${all.map((r) => `${r.id}:${r.state}:${r.contentRevision}`).join(', ')}`);
  assert.equal(all.filter((r) => r.contentRevision === 1).length, 1, 'one first revision');
});

test('a plan too large for one Jira comment is shortened under 32,767 characters and attached in full, once', { timeout: 60_000 }, async () => {
  const sb = world.sandbox;
  const { engine } = world.runtime.opened;
  const issue = sb.as(PEOPLE.developer).createIssue({ project: 'INFRA', issueType: 'Infrastructure question', summary: 'big plan holder' });
  const resources = Array.from({ length: 3000 }, (_, i) => ({
    address: `module.fleet.aws_instance.node[${i}]`,
    type: 'aws_instance',
    name: 'node',
    actions: ['create'],
    action: 'add' as const,
    destructive: false,
  }));
  let r = await engine.requests.createRequest({
    kind: 'provision',
    actor: { id: PEOPLE.developer },
    origin: { surface: 'jira', ref: issue.key },
    project: 'checkout',
    environment: 'staging',
    bundle: 'postgres-database',
  });
  r = await engine.requests.transition(r.id, r.revision, 'validated', { by: 'engine' });
  r = await engine.requests.transition(r.id, r.revision, 'planned', {
    by: 'engine',
    patch: { plan: { deploymentId: 'dep_test', hash: 'f'.repeat(64), summary: { add: 3000, change: 0, destroy: 0, replace: 0, resources, destructive: false } } },
  });
  const notice = { requestId: r.id, message: 'status' as const, key: `${r.id}:status:${r.revision}` };
  await world.runtime.jira!.publish(notice, createLogger('silent'));
  await world.runtime.jira!.publish(notice, createLogger('silent'));
  const status = conversation(sb, issue.key).filter((c) => c.status);
  assert.equal(status.length, 1);
  assert.match(status[0]!.text, /more resources/);
  const stored = sb.state.issue(issue.key).comments.find((c) => c.id === status[0]!.id)!;
  assert.ok(JSON.stringify(stored.body).length <= 32_767);
  const attachments = sb.state.issue(issue.key).attachments.filter((a) => a.filename.startsWith('plan-'));
  assert.equal(attachments.length, 1, 'attached once');
  const text = attachments[0]!.content.toString('utf8');
  assert.equal(text.split('\n').filter((l) => l.startsWith('add ')).length, 3000);
});

// Runs last: every call of every step above was checked against the official API documents.
test('the whole story made no contract violations', () => {
  assert.deepEqual(world.sandbox.violations(), []);
});
