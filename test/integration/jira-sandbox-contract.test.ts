/**
 * Proves the contract wiring of the Jira sandbox catches drift: a response whose shape differs
 * from Atlassian's documents, a status the operation does not declare, and a path the documents
 * do not have all end up as violations, over real HTTP.
 */
import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import axios, { type AxiosInstance } from 'axios';
import { startJiraSandbox, type JiraSandbox } from '../../sandbox/jira/jira-sandbox.ts';
import { exampleSeed, PEOPLE } from '../../sandbox/jira/example-seed.ts';

let sb: JiraSandbox;
let http: AxiosInstance;

before(async () => {
  sb = await startJiraSandbox({ contract: true, seed: exampleSeed() });
  http = axios.create({ baseURL: sb.url, headers: { Authorization: sb.authorization }, validateStatus: () => true });
});

beforeEach(() => {
  sb.transformResponse = undefined;
  sb.contract?.clear();
});

after(async () => {
  await sb?.stop();
});

test('a sandbox response drifting from the spec is caught (renamed and mistyped fields)', async () => {
  const key = sb.as(PEOPLE.developer).createIssue({ project: 'INFRA', issueType: 'Infrastructure request', summary: 'x' }).key;
  assert.equal((await http.get(`/rest/api/3/issue/${key}/comment`)).status, 200);
  assert.equal(sb.violations().length, 0, 'the honest response passes');

  // The mistakes a hand-written fake typically makes: snake_case keys, numbers as strings, a missing wrapper.
  sb.transformResponse = ({ path, body }) => {
    if (path === '/rest/api/3/myself') {
      const { accountId, ...rest } = body as Record<string, unknown>;
      return { ...rest, account_id: accountId };
    }
    if (path.endsWith('/comment')) return { ...(body as object), total: '0' };
    if (path.endsWith('/transitions')) return (body as { transitions: unknown[] }).transitions;
    return body;
  };
  await http.get('/rest/api/3/myself');
  await http.get(`/rest/api/3/issue/${key}/comment`);
  await http.get(`/rest/api/3/issue/${key}/transitions`);
  const v = sb.violations();
  assert.deepEqual(
    v.map((x) => [x.operationId, x.kind]),
    [
      ['getCurrentUser', 'response-schema'],
      ['getComments', 'response-schema'],
      ['getTransitions', 'response-schema'],
    ],
  );
  assert.match(v[0]?.message ?? '', /account_id/);
  assert.match(v[1]?.message ?? '', /\/total: must be integer/);
  assert.match(v[2]?.message ?? '', /must be object/);
  assert.throws(() => assert.equal(sb.violations().length, 0, sb.contract?.report()), 'a zero-violations assertion fails');
});

test('JSM responses are checked against the service desk document', async () => {
  sb.transformResponse = ({ path, body }) => (path.startsWith('/rest/servicedeskapi') ? { ...(body as object), isLastPage: 'yes' } : body);
  await http.get('/rest/servicedeskapi/servicedesk');
  const [v] = sb.violations();
  assert.equal(v?.contract, 'jira-servicedesk');
  assert.equal(v?.operationId, 'getServiceDesks');
  assert.match(v?.message ?? '', /\/isLastPage: must be boolean/);
});

test('paths and statuses the documents lack are violations', async () => {
  const unknown = await http.get('/rest/api/3/issue/INFRA-1/frobnicate');
  assert.equal(unknown.status, 501);
  assert.ok(sb.unimplemented.includes('GET /rest/api/3/issue/INFRA-1/frobnicate'));
  // Jira Cloud removed the old search: the sandbox answers 410, which the (older) spec never declared.
  const removed = await http.post('/rest/api/3/search', { jql: 'project = INFRA' });
  assert.equal(removed.status, 410);
  const wrongMethod = await http.delete('/rest/api/3/myself');
  assert.equal(wrongMethod.status, 405);
  assert.deepEqual(
    sb.violations().map((x) => x.kind),
    ['unknown-path', 'undeclared-status', 'unknown-method'],
  );
});
