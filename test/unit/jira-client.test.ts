import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createServer } from 'node:net';
import { createLogger } from '../../src/engine/logger.ts';
import { UserError, SystemError } from '../../src/engine/errors.ts';
import {
  JiraApiError,
  JiraAuthError,
  JiraClient,
  JiraRateLimitedError,
  JiraUnavailableError,
  STATUS_PROPERTY,
  type JiraClientOptions,
} from '../../src/surfaces/jira/client.ts';
import { parseRetryAfter } from '../../src/surfaces/shared/remote-call.ts';
import { renderJiraComment, adfText, JIRA_COMMENT_LIMIT, type AdfDoc } from '../../src/surfaces/jira/adf.ts';
import { MessageRenderer } from '../../src/surfaces/shared/messages.ts';
import { buildRequestView } from '../../src/surfaces/shared/request-view.ts';
import { startJiraSandbox, type JiraSandbox } from '../../sandbox/jira/jira-sandbox.ts';
import { exampleSeed, PEOPLE, STATUSES } from '../../sandbox/jira/example-seed.ts';
import { request, change } from '../fixtures/golden/views.ts';

const API_TOKEN = 'sandbox-token-that-must-never-be-logged-123';
const renderer = new MessageRenderer();

function doc(text: string): AdfDoc {
  return { type: 'doc', version: 1, content: [{ type: 'paragraph', content: [{ type: 'text', text }] }] };
}

function statusDoc(requestId: string, state: 'awaiting_approval' | 'applied' = 'awaiting_approval', resources = 3): AdfDoc {
  const res = Array.from({ length: resources }, (_, i) => change(`null_resource.r${i}_with_a_fairly_long_resource_name`, 'add'));
  const view = buildRequestView(request({ id: requestId, state, plan: { deploymentId: 'd', hash: 'abcdef0123456789', summary: { add: resources, change: 0, destroy: 0, replace: 0, destructive: false, resources: res } } }), {});
  return renderJiraComment(renderer.render('status', { view })).doc;
}

describe('JiraClient against the Jira sandbox', () => {
  let sandbox: JiraSandbox;
  let logLines: string[];
  const sleeps: number[] = [];
  let client: JiraClient;
  const make = (over: Partial<JiraClientOptions> = {}): JiraClient =>
    new JiraClient({
      baseUrl: sandbox.url,
      email: 'ticket-surface@example.com',
      apiToken: API_TOKEN,
      logger: createLogger(
        'debug',
        new Writable({
          write(chunk, _enc, cb) {
            logLines.push(String(chunk));
            cb();
          },
        }),
      ),
      sleep: async (ms) => {
        sleeps.push(ms);
      },
      ...over,
    });
  let issueKey: string;

  before(async () => {
    const seed = exampleSeed();
    seed.users!.push({ accountId: '712020:approver-api', displayName: 'Api Approver', email: 'api-approver@example.com', groups: ['platform-approvers'], apiToken: 'approver-token-xyz' } as never);
    sandbox = await startJiraSandbox({ contract: true, auth: { email: 'ticket-surface@example.com', apiToken: API_TOKEN }, seed });
    logLines = [];
    client = make();
    issueKey = sandbox.as(PEOPLE.developer).createIssue({ project: 'INFRA', issueType: 'Infrastructure request', summary: 'orders db' }).key;
  });
  after(async () => {
    await sandbox?.stop();
  });

  test('upsertStatusComment posts once, then edits the same comment in place', async () => {
    const first = await client.upsertStatusComment(issueKey, 'req_A', statusDoc('req_A'));
    assert.equal(first.created, true);
    const second = await client.upsertStatusComment(issueKey, 'req_A', statusDoc('req_A', 'applied'));
    assert.deepEqual(second, { commentId: first.commentId, created: false });
    const issue = sandbox.state.issue(issueKey);
    const mine = issue.comments.filter((c) => adfText(c.body as AdfDoc).includes('ts:status:req_A'));
    assert.equal(mine.length, 1);
    assert.match(adfText(mine[0]!.body as AdfDoc), /APPLIED/);
    assert.deepEqual(mine[0]!.properties, [{ key: STATUS_PROPERTY, value: { kind: 'status', requestId: 'req_A' } }]);
  });

  test('another process (nothing remembered, as after a crash) finds the status comment by its comment property: no second post, no pointer property', async () => {
    const first = await client.upsertStatusComment(issueKey, 'req_B', statusDoc('req_B'));
    const postsBefore = sandbox.writes().filter((c) => c.method === 'POST' && c.path.endsWith('/comment')).length;
    const callsBefore = sandbox.calls.length;
    const again = await make().upsertStatusComment(issueKey, 'req_B', statusDoc('req_B', 'applied'));
    assert.deepEqual(again, { commentId: first.commentId, created: false });
    assert.equal(sandbox.writes().filter((c) => c.method === 'POST' && c.path.endsWith('/comment')).length, postsBefore);
    // One search and the edit: no issue property is read or written for the status comment.
    assert.deepEqual(sandbox.calls.slice(callsBefore).map((c) => c.method + ' ' + c.path.replace(/^\/rest\/api\/3\/issue\/[^/]+/, '')), ['GET /comment', `PUT /comment/${first.commentId}`]);
    assert.throws(() => sandbox.state.issueProperty(issueKey, `${STATUS_PROPERTY}.status.req_B`), /does not exist/);
  });

  test('without any property the trailing marker text finds the comment; a deleted comment is re-posted', async () => {
    const { id } = await client.addComment(issueKey, statusDoc('req_C'));
    const found = await client.upsertStatusComment(issueKey, 'req_C', statusDoc('req_C', 'applied'));
    assert.deepEqual(found, { commentId: id, created: false });
    // Someone deletes the status comment: the remembered id 404s and a new one is posted.
    sandbox.state.deleteComment(issueKey, id);
    const reposted = await client.upsertStatusComment(issueKey, 'req_C', statusDoc('req_C'));
    assert.equal(reposted.created, true);
    assert.notEqual(reposted.commentId, id);
  });

  test('an event comment whose POST Jira accepted but whose answer was lost is not posted again on retry', async () => {
    const posts = () => sandbox.writes().filter((c) => c.method === 'POST' && c.path.endsWith('/comment')).length;
    const before = posts();
    sandbox.fail(1, 503, { methods: ['POST'], path: '/comment', after: true });
    await assert.rejects(client.addCommentOnce(issueKey, 'req_E:event:approved:1', doc('approved by someone')), SystemError);
    const retried = await client.addCommentOnce(issueKey, 'req_E:event:approved:1', doc('approved by someone'));
    assert.equal(retried.created, false, 'the retry found the accepted comment');
    const mine = sandbox.state.issue(issueKey).comments.filter((c) => adfText(c.body as AdfDoc).includes('approved by someone'));
    assert.equal(mine.length, 1, 'one comment in the ticket');
    assert.deepEqual(mine[0]!.properties, [{ key: STATUS_PROPERTY, value: { kind: 'event', key: 'req_E:event:approved:1' } }]);
    assert.equal(posts(), before, 'the only POST was the one answered 503 (the sandbox records 2xx writes)');
    const other = await client.addCommentOnce(issueKey, 'req_E:event:applied:2', doc('applied'));
    assert.equal(other.created, true, 'another notice key is another comment');
  });

  test('a human quoting the marker mid-comment is not mistaken for the status comment', async () => {
    await client.addComment(issueKey, doc('see ts:status:req_D above, thanks'));
    const r = await client.upsertStatusComment(issueKey, 'req_D', statusDoc('req_D'));
    assert.equal(r.created, true);
  });

  test('a 5,000-resource status comment is accepted by the sandbox, which enforces 32,767 characters', async () => {
    const big = statusDoc('req_BIG', 'awaiting_approval', 5000);
    assert.ok(JSON.stringify(big).length <= JIRA_COMMENT_LIMIT);
    const r = await client.upsertStatusComment(issueKey, 'req_BIG', big);
    assert.equal(r.created, true);
    // And the sandbox really refuses what is over the limit.
    const over = doc('x'.repeat(JIRA_COMMENT_LIMIT));
    await assert.rejects(client.addComment(issueKey, over), (e: unknown) => e instanceof JiraApiError && e.status === 400 && e.code === 'validation' && e instanceof UserError);
  });

  test('transitionTo goes by target status name, is a no-op when already there, and names the options otherwise', async () => {
    const key = sandbox.as(PEOPLE.developer).createIssue({ project: 'INFRA', issueType: 'Infrastructure request', summary: 't' }).key;
    assert.deepEqual(await client.transitionTo(key, 'planned'), { transitioned: true });
    assert.equal(await client.getStatus(key), STATUSES.planned);
    assert.deepEqual(await client.transitionTo(key, STATUSES.planned), { transitioned: false });
    await assert.rejects(client.transitionTo(key, STATUSES.done), (e: unknown) => e instanceof JiraApiError && e.code === 'not_found' && /"Awaiting approval"/.test(e.message) && /from "Planned"/.test(e.message));
  });

  test('issue properties round-trip; a missing one is null', async () => {
    await client.setIssueProperty(issueKey, 'ticket-surface.request', { id: 'req_A', revision: 2 });
    assert.deepEqual(await client.getIssueProperty(issueKey, 'ticket-surface.request'), { id: 'req_A', revision: 2 });
    assert.equal(await client.getIssueProperty(issueKey, 'nope'), null);
  });

  test('addAttachment uploads the bytes', async () => {
    const plan = JSON.stringify({ format_version: '1.2', resource_changes: [] });
    const a = await client.addAttachment(issueKey, 'plan-req_A.json', plan);
    assert.equal(a.filename, 'plan-req_A.json');
    assert.equal(sandbox.state.attachment(a.id).content.toString('utf8'), plan);
  });

  test('getUser and getUserGroups', async () => {
    assert.deepEqual(await client.getUser(PEOPLE.approver), { accountId: PEOPLE.approver, active: true, displayName: 'Ari Approver', email: 'ari@example.com' });
    assert.equal((await client.getUser(PEOPLE.inactiveApprover))?.active, false);
    assert.equal(await client.getUser('712020:nobody'), null);
    assert.deepEqual((await client.getUserGroups(PEOPLE.approver)).sort(), ['developers', 'platform-approvers']);
  });

  test('JSM approvals are read and answered', async () => {
    const key = sandbox.as(PEOPLE.developer).createIssue({ project: 'OPS', issueType: 'Infrastructure request', summary: 'approve me' }).key;
    await client.transitionTo(key, STATUSES.planned);
    await client.transitionTo(key, STATUSES.awaitingApproval);
    const approvals = await client.getApprovals(key);
    assert.equal(approvals.length, 1);
    assert.equal(approvals[0]!.finalDecision, 'pending');
    const approverClient = make({ email: 'api-approver@example.com', apiToken: 'approver-token-xyz' });
    const answered = await approverClient.answerApproval(key, approvals[0]!.id, 'approve');
    assert.equal(answered.finalDecision, 'approved');
    assert.equal(await client.getStatus(key), STATUSES.approved);
  });

  test('429: Retry-After is honoured and the call retried; too many or too long becomes JiraRateLimitedError', async () => {
    sleeps.length = 0;
    sandbox.rateLimit(2, 3, { path: '/properties/' });
    await client.setIssueProperty(issueKey, 'rl', 1);
    assert.deepEqual(sleeps, [3000, 3000]);
    assert.equal(await client.getIssueProperty(issueKey, 'rl'), 1);

    // Exactly maxAttempts (4) injected 429s: all used up by this one call.
    sandbox.rateLimit(4, 1, { path: '/properties/' });
    await assert.rejects(client.setIssueProperty(issueKey, 'rl', 2), (e: unknown) => e instanceof JiraRateLimitedError && e.retryable && e.retryAfterMs === 1000 && e instanceof SystemError);
    sandbox.rateLimit(1, 120, { path: '/properties/' });
    sleeps.length = 0;
    await assert.rejects(client.setIssueProperty(issueKey, 'rl', 3), (e: unknown) => e instanceof JiraRateLimitedError && e.retryAfterMs === 120_000);
    // What is left of the endpoint's earlier one-second hold is waited; the two minutes are not.
    assert.ok(!sleeps.some((ms) => ms >= 120_000), `a two-minute wait must not block a worker: ${sleeps.join(', ')}`);
  });

  test('5xx is retryable SystemError; a wrong token is JiraAuthError; nothing logs the token', async () => {
    sandbox.fail(1, 503, { path: '/comment' });
    await assert.rejects(client.addComment(issueKey, doc('x')), (e: unknown) => e instanceof JiraUnavailableError && e.retryable && e.status === 503);
    const wrong = make({ apiToken: 'wrong-token-also-secret-456' });
    await assert.rejects(wrong.getUser(PEOPLE.approver), (e: unknown) => e instanceof JiraAuthError && !e.message.includes('wrong-token'));
    const all = logLines.join('');
    assert.ok(all.length > 0, 'the client logged nothing at all');
    assert.ok(!all.includes(API_TOKEN) && !all.includes('wrong-token-also-secret-456'), 'a token reached the log');
    assert.ok(!all.includes(Buffer.from(`ticket-surface@example.com:${API_TOKEN}`).toString('base64')), 'the Basic header reached the log');
  });

  test('every sandbox response the client met matches the Jira OpenAPI documents', () => {
    assert.deepEqual(sandbox.violations(), []);
  });
});

describe('JiraClient without a server', () => {
  test('a refused connection is a retryable JiraUnavailableError without credentials in it', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer();
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const client = new JiraClient({ baseUrl: `http://127.0.0.1:${port}`, email: 'a@example.com', apiToken: API_TOKEN, logger: createLogger('silent') });
    await assert.rejects(client.getUser('x'), (e: unknown) => {
      assert.ok(e instanceof JiraUnavailableError && e.retryable && e.status === undefined);
      assert.ok(!JSON.stringify(e, Object.getOwnPropertyNames(e)).includes(API_TOKEN));
      assert.ok(!String((e as Error).cause && JSON.stringify((e as Error).cause, Object.getOwnPropertyNames((e as Error).cause))).includes(API_TOKEN));
      return true;
    });
  });

  test('Retry-After parses seconds and HTTP dates', () => {
    assert.equal(parseRetryAfter('7'), 7000);
    assert.equal(parseRetryAfter('Wed, 21 Oct 2015 07:28:10 GMT', Date.parse('Wed, 21 Oct 2015 07:28:00 GMT')), 10_000);
    assert.equal(parseRetryAfter(undefined), undefined);
    assert.equal(parseRetryAfter('soon'), undefined);
  });
});
