/**
 * What the Jira client remembers to spare calls, against the sandbox (and a real Redis for the
 * status-comment ledger): a status walk that reuses the transitions read for another issue of
 * the same workflow, that recovers when a person moved the issue behind its back, and that
 * writes issue properties with its transitions; a status comment posted without a search on
 * its first claim, and found again (never posted twice) after a crash between claim and post.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../../src/engine/logger.ts';
import { SurfaceIdStore } from '../../src/engine/surface-ids.ts';
import { JiraClient, type StatusCommentLedger } from '../../src/surfaces/jira/client.ts';
import { exampleSeed, PEOPLE, STATUSES, startJiraSandbox, type JiraSandbox } from '../../sandbox/jira/index.ts';
import { useRedis } from '../helpers/redis.ts';

const redis = useRedis();
let sb: JiraSandbox;

before(async () => {
  sb = await startJiraSandbox({ contract: true, seed: exampleSeed() });
});
after(async () => {
  await sb?.stop();
});

const newClient = () => new JiraClient({ baseUrl: sb.url, email: sb.credentials.email, apiToken: sb.credentials.apiToken, logger: createLogger('silent') });
const fileIssue = () => sb.as(PEOPLE.developer).createIssue({ project: 'INFRA', issueType: 'Infrastructure request', summary: 'r' });
const statusOf = (key: string) => sb.state.statuses.get(sb.state.issue(key).statusId)?.name;
const callsOn = (key: string, from: number) => sb.calls.slice(from).filter((c) => c.path.startsWith(`/rest/api/3/issue/${key}/`)).map((c) => `${c.method} ${c.path.slice(`/rest/api/3/issue/${key}/`.length)} ${c.status}`);
const refuse = async () => undefined;

/** Tells the client where an issue is, as the adapter does with the issue it reads back at filing. */
function seen(client: JiraClient, key: string): void {
  const issue = sb.state.issue(key);
  client.sawIssue(key, 'INFRA', issue.issueTypeId, statusOf(key)!);
}

const PLAN_WALK = [{ status: STATUSES.open }, { status: STATUSES.planned }, { status: STATUSES.awaitingApproval }];
const RESULT_WALK = [{ status: STATUSES.approved }, { status: STATUSES.done, resolution: 'Done' }];

test('a walk reuses the transitions read for another issue of the same workflow: only the transitions are posted', async () => {
  const client = newClient();
  const first = fileIssue().key;
  seen(client, first);
  await client.transitionAlong(first, PLAN_WALK, refuse);
  assert.equal(statusOf(first), STATUSES.awaitingApproval);

  const second = fileIssue().key;
  seen(client, second);
  const from = sb.calls.length;
  await client.transitionAlong(second, PLAN_WALK, refuse);
  assert.equal(statusOf(second), STATUSES.awaitingApproval);
  assert.deepEqual(callsOn(second, from), ['POST transitions 204', 'POST transitions 204'], 'no GET transitions: both lists were read for the first issue');
  assert.deepEqual(sb.violations(), []);
});

test('a person moved the issue behind the memory: Jira refuses the remembered transition, the walk reads again and ends where it should', async () => {
  const client = newClient();
  const warm = fileIssue().key;
  seen(client, warm);
  await client.transitionAlong(warm, [...PLAN_WALK, ...RESULT_WALK], refuse);

  const key = fileIssue().key;
  seen(client, key);
  await client.transitionAlong(key, PLAN_WALK, refuse);
  // A person sends it back and on to Approved; no delivery reaches this client.
  sb.as(PEOPLE.approver).transition(key, STATUSES.approved);
  assert.equal(statusOf(key), STATUSES.approved);
  const from = sb.calls.length;
  // The client believes it is still awaiting approval: it would pass over nothing and post "Approved".
  await client.transitionAlong(key, RESULT_WALK, refuse);
  assert.equal(statusOf(key), STATUSES.done);
  const calls = callsOn(key, from);
  assert.equal(calls[0], 'POST transitions 400', 'the remembered transition to Approved is not valid from Approved');
  assert.equal(calls.at(-1), 'POST transitions 204');
  assert.ok(calls.includes('GET transitions 200'), `read again: ${calls.join(', ')}`);
});

test('where the service moved the issue itself is no proof it is still there: moved on by automation, a walk moves it back', async () => {
  const client = newClient();
  const key = fileIssue().key;
  seen(client, key);
  await client.transitionAlong(key, PLAN_WALK, refuse);
  // JSM's approval rule moves the issue on its own; the delivery has not reached this process.
  sb.as(PEOPLE.approver).transition(key, STATUSES.approved);
  await client.transitionAlong(key, [{ status: STATUSES.awaitingApproval }], refuse);
  assert.equal(statusOf(key), STATUSES.awaitingApproval, 'not passed over on the belief of its own move');
  // A status seen in a delivery does let a walk pass over: nothing is called.
  client.sawStatus(key, STATUSES.awaitingApproval);
  const from = sb.calls.length;
  await client.transitionAlong(key, [{ status: STATUSES.awaitingApproval }], refuse);
  assert.deepEqual(callsOn(key, from), []);
});

test('a late delivery and transitions learned under it mislead the walk: it starts again from the step it passed over, reading', async () => {
  const client = newClient();
  const warm = fileIssue().key;
  seen(client, warm);
  await client.transitionAlong(warm, [...PLAN_WALK, ...RESULT_WALK], refuse);
  const key = fileIssue().key;
  seen(client, key);
  await client.transitionAlong(key, PLAN_WALK, refuse);
  // JSM's rule moves it to Approved; the service moves it back (policy wants more approvals)...
  sb.as(PEOPLE.approver).transition(key, STATUSES.approved);
  await client.transitionTo(key, STATUSES.awaitingApproval);
  // ...and only then handles the delivery of JSM's move, and reads transitions believing it.
  client.sawStatus(key, STATUSES.approved);
  await client.transitionTo(key, STATUSES.awaitingApproval);
  assert.equal(statusOf(key), STATUSES.awaitingApproval);
  await client.transitionAlong(key, RESULT_WALK, refuse);
  assert.equal(statusOf(key), STATUSES.done, 'through Approved to Done all the same');
});

test('with the memory off every step reads the transitions, as before', async () => {
  const client = new JiraClient({ baseUrl: sb.url, email: sb.credentials.email, apiToken: sb.credentials.apiToken, logger: createLogger('silent'), workflowCacheSeconds: 0 });
  for (let i = 0; i < 2; i++) {
    const key = fileIssue().key;
    seen(client, key);
    const from = sb.calls.length;
    await client.transitionAlong(key, PLAN_WALK, refuse);
    assert.deepEqual(callsOn(key, from), ['GET transitions 200', 'POST transitions 204', 'GET transitions 200', 'POST transitions 204']);
  }
});

test('issue properties go with the walk’s transitions; a walk that moves nothing says so', async () => {
  const client = newClient();
  const key = fileIssue().key;
  const property = { key: 'ticket-surface.request', value: { requestId: 'r-1', state: 'awaiting_approval' } };
  assert.deepEqual(await client.transitionAlong(key, PLAN_WALK, refuse, [property]), { propertiesWritten: true });
  assert.deepEqual(sb.state.issue(key).properties.get('ticket-surface.request'), property.value);
  assert.ok(!sb.calls.some((c) => c.method === 'PUT' && c.path.includes(`/issue/${key}/properties/`)), 'no PUT of the property');
  // Already there: no transition, nothing written; the caller writes the property itself.
  assert.deepEqual(await client.transitionAlong(key, [{ status: STATUSES.awaitingApproval }], refuse, [property]), { propertiesWritten: false });
  assert.deepEqual(sb.violations(), []);
});

/** A ledger over a real Redis, as the adapter builds it. */
function ledger(): StatusCommentLedger {
  const ids = new SurfaceIdStore(redis.client(), `walk-${Math.random().toString(36).slice(2)}:`);
  return { claim: (k) => ids.claim('jira-status-comments', k), settle: (k, id) => ids.settle('jira-status-comments', k, id) };
}
const doc = (text: string) => ({ type: 'doc' as const, version: 1 as const, content: [{ type: 'paragraph', content: [{ type: 'text', text }] }] });
const commentsOf = (key: string) => sb.state.issue(key).comments.length;

test('a status comment is posted without a search on its first claim, and another process edits it with one call', async () => {
  const l = ledger();
  const key = fileIssue().key;
  const from = sb.calls.length;
  const posted = await newClient().upsertStatusComment(key, 'req-a', doc('planned'), l);
  assert.equal(posted.created, true);
  assert.deepEqual(callsOn(key, from), ['POST comment 201']);
  // A second worker process (its own client, nothing in memory) edits the recorded comment.
  const at = sb.calls.length;
  assert.deepEqual(await newClient().upsertStatusComment(key, 'req-a', doc('approved'), l), { commentId: posted.commentId, created: false });
  assert.deepEqual(callsOn(key, at), [`PUT comment/${posted.commentId} 200`]);
  assert.equal(commentsOf(key), 1);
});

test('a crash after the claim and the post but before the id was recorded: the next writer searches and finds it', async () => {
  const l = ledger();
  const key = fileIssue().key;
  const crashing: StatusCommentLedger = { claim: l.claim, settle: async () => { throw new Error('killed before recording the id'); } };
  await assert.rejects(newClient().upsertStatusComment(key, 'req-b', doc('planned'), crashing), /killed/);
  assert.equal(commentsOf(key), 1);
  const from = sb.calls.length;
  const again = await newClient().upsertStatusComment(key, 'req-b', doc('planned'), l);
  assert.equal(again.created, false, 'found, not posted twice');
  assert.ok(callsOn(key, from)[0]!.startsWith('GET comment'), 'looked for first');
  assert.equal(commentsOf(key), 1);
  // Recorded now: the next process edits at once.
  const at = sb.calls.length;
  await newClient().upsertStatusComment(key, 'req-b', doc('applied'), l);
  assert.deepEqual(callsOn(key, at), [`PUT comment/${again.commentId} 200`]);
  assert.deepEqual(sb.violations(), []);
});
