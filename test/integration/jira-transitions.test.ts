/**
 * JiraClient.transitionTo against transitions set up as on real sites: a screen that requires a
 * Resolution (read with `expand=transitions.fields` and sent with the transition), a screen with
 * an optional Resolution and a validator that wants one (Jira's 400, retried once with a
 * resolution), and a validator the service cannot satisfy (a typed refusal, nothing moved).
 * Zero contract violations.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../../src/engine/logger.ts';
import { UserError } from '../../src/engine/errors.ts';
import { JiraClient, JiraTransitionRefusedError } from '../../src/surfaces/jira/client.ts';
import { exampleSeed, PEOPLE, STATUSES, startJiraSandbox, type JiraSandbox } from '../../sandbox/jira/index.ts';

const WORKFLOW = 'ticket-surface request';
let sb: JiraSandbox;
let client: JiraClient;

before(async () => {
  sb = await startJiraSandbox({ contract: true, seed: exampleSeed() });
  client = new JiraClient({ baseUrl: sb.url, email: sb.credentials.email, apiToken: sb.credentials.apiToken, logger: createLogger('silent') });
});
after(async () => {
  await sb?.stop();
});

const question = () => sb.as(PEOPLE.developer).createIssue({ project: 'INFRA', issueType: 'Infrastructure question', summary: 'q' }).key;
const posts = (key: string) => sb.calls.filter((c) => c.method === 'POST' && c.path === `/rest/api/3/issue/${key}/transitions`);
const resolutionOf = (key: string) => sb.state.resolutions.get(sb.state.issue(key).resolutionId ?? '')?.name;

test('a screen that requires a resolution gets one with the transition: the one asked for when offered, else the first', async () => {
  const key = question();
  assert.deepEqual(await client.transitionTo(key, STATUSES.done, { resolution: "won't do" }), { transitioned: true });
  assert.equal(resolutionOf(key), "Won't Do");
  assert.deepEqual(posts(key).map((c) => c.status), [204], 'no failed attempt');
  assert.ok(sb.calls.some((c) => c.path === `/rest/api/3/issue/${key}/transitions` && c.method === 'GET' && c.query.includes('expand=transitions.fields')));

  const other = question();
  await client.transitionTo(other, STATUSES.done, { resolution: 'Fixed by magic' });
  assert.equal(resolutionOf(other), 'Done', 'the first the screen offers');
  // A transition without a screen sends no resolution (Jira would refuse one).
  const plain = sb.as(PEOPLE.developer).createIssue({ project: 'INFRA', issueType: 'Infrastructure request', summary: 'r' }).key;
  await client.transitionTo(plain, STATUSES.planned, { resolution: 'Done' });
  assert.equal((posts(plain)[0]!.body as { fields?: unknown }).fields, undefined);
});

test('an optional resolution a validator wants: Jira’s 400, retried once with a resolution', async () => {
  sb.state.setTransitionRules(WORKFLOW, 'Answer', { resolution: 'optional', validators: [{ field: 'resolution', message: 'Resolution is required.' }] });
  try {
    const key = question();
    await client.transitionTo(key, STATUSES.done, { resolution: 'Done' });
    assert.deepEqual(posts(key).map((c) => c.status), [400, 204]);
    assert.equal(resolutionOf(key), 'Done');
    assert.equal(sb.state.statuses.get(sb.state.issue(key).statusId)?.name, STATUSES.done);
  } finally {
    sb.state.setTransitionRules(WORKFLOW, 'Answer', { resolution: 'required', validators: [] });
  }
});

test('a validator the service cannot satisfy: a typed refusal with Jira’s words, the issue stays', async () => {
  sb.state.setTransitionRules(WORKFLOW, 'Answer', { validators: [{ field: 'assignee', message: 'An assignee is required to resolve a question.' }] });
  try {
    const key = question();
    await assert.rejects(client.transitionTo(key, STATUSES.done), (e: unknown) => {
      assert.ok(e instanceof JiraTransitionRefusedError && e instanceof UserError);
      assert.equal(e.status, 400);
      assert.equal(e.transition, 'Answer');
      assert.equal(e.target, STATUSES.done);
      assert.deepEqual(e.remoteMessages, ['An assignee is required to resolve a question.']);
      return true;
    });
    assert.deepEqual(posts(key).map((c) => c.status), [400], 'not retried: a resolution would not help');
    assert.equal(sb.state.statuses.get(sb.state.issue(key).statusId)?.name, STATUSES.open);
    // With an assignee the same transition goes through.
    sb.as(PEOPLE.developer).edit(key, { assignee: { accountId: PEOPLE.developer } });
    assert.deepEqual(await client.transitionTo(key, STATUSES.done), { transitioned: true });
  } finally {
    sb.state.setTransitionRules(WORKFLOW, 'Answer', { validators: [] });
  }
  assert.deepEqual(sb.violations(), []);
});
