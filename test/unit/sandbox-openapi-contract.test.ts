/**
 * OpenApiContract against the real vendor documents (Jira platform v3, JSM, a ServiceNow export)
 * and small inline documents for the OpenAPI 3.0 corners: path matching, undeclared statuses,
 * `nullable`, Jira's date-time offsets, `$ref` resolution, request bodies.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ContractRecorder, ContractSet, OpenApiContract, type OpenApiDocument } from '../../sandbox/contract/openapi-contract.ts';
import { loadJiraContracts } from '../../sandbox/jira/jira-contracts.ts';

const jira = loadJiraContracts();
const example = (name: string) => JSON.parse(readFileSync(new URL(`../fixtures/jira/${name}`, import.meta.url), 'utf8'));

const inline: OpenApiDocument = {
  openapi: '3.0.1',
  info: { title: 'inline' },
  paths: {
    '/things/{id}': {
      get: {
        operationId: 'getThing',
        responses: {
          '200': { content: { 'application/json': { schema: { $ref: '#/components/schemas/Thing' } } } },
          '4XX': { content: { 'application/json': { schema: { type: 'object', required: ['error'], properties: { error: { type: 'string' } } } } } },
        },
      },
    },
  },
  components: {
    schemas: {
      Thing: {
        type: 'object',
        additionalProperties: false,
        required: ['id'],
        properties: {
          id: { type: 'string' },
          note: { type: 'string', nullable: true },
          strict: { type: 'string' },
          at: { type: 'string', format: 'date-time' },
        },
      },
    },
  },
};

test('path matching: literal segments win, parameters are decoded', () => {
  assert.equal(jira.matchOperation('GET', '/rest/api/3/screens/tabs')?.operationId, 'getBulkScreenTabs');
  const screen = jira.matchOperation('GET', '/rest/api/3/screens/12/tabs');
  assert.equal(screen?.operationId, 'getAllScreenTabs');
  assert.deepEqual(screen?.params, { screenId: '12' });
  const prop = jira.matchOperation('PUT', '/rest/api/3/issue/ABC-1/properties/ticket%20surface?x=1');
  assert.deepEqual(prop?.params, { issueIdOrKey: 'ABC-1', propertyKey: 'ticket surface' });
  assert.equal(jira.matchOperation('POST', '/rest/servicedeskapi/request/ABC-1/approval/7')?.operationId, 'answerApproval');
  assert.equal(jira.contractFor('/rest/servicedeskapi/request/ABC-1/approval')?.name, 'jira-servicedesk');
});

test('unknown paths, unknown methods and undeclared statuses are violations; 429 is global', () => {
  const [unknownPath] = jira.checkResponse({ method: 'GET', path: '/rest/api/3/nope', status: 200, body: {} });
  assert.equal(unknownPath?.kind, 'unknown-path');
  const [unknownMethod] = jira.checkResponse({ method: 'PATCH', path: '/rest/api/3/myself', status: 200, body: {} });
  assert.equal(unknownMethod?.kind, 'unknown-method');
  const [undeclared] = jira.checkResponse({ method: 'GET', path: '/rest/api/3/myself', status: 418 });
  assert.equal(undeclared?.kind, 'undeclared-status');
  assert.match(undeclared?.message ?? '', /getCurrentUser does not declare status 418/);
  assert.deepEqual(jira.checkResponse({ method: 'GET', path: '/rest/api/3/myself', status: 429, body: { errorMessages: ['slow down'] } }), []);
  // A declared status without a body schema accepts any body.
  assert.deepEqual(jira.checkResponse({ method: 'GET', path: '/rest/api/3/issue/X-1', status: 404, body: { anything: true } }), []);
});

test("the specs' own examples validate (comment, transitions, JSM approvals)", () => {
  const comment = example('api-addComment-request-and-201.platform-spec-example.json');
  assert.deepEqual(jira.checkResponse({ method: 'POST', path: '/rest/api/3/issue/10010/comment', status: 201, body: comment.response201 }), []);
  assert.deepEqual(jira.checkRequest({ method: 'POST', path: '/rest/api/3/issue/10010/comment', body: comment.request }), []);
  const transitions = example('api-getTransitions-200.platform-spec-example.json');
  assert.deepEqual(jira.checkResponse({ method: 'GET', path: '/rest/api/3/issue/X-1/transitions', status: 200, body: transitions }), []);
  const approvals = example('jsm-getApprovals-200.servicedesk-spec-example.json');
  assert.deepEqual(jira.checkResponse({ method: 'GET', path: '/rest/servicedeskapi/request/2/approval', status: 200, body: approvals }), []);
});

test('additionalProperties is enforced as the spec states it (FieldDetails is closed)', () => {
  // Atlassian's own example carries `untranslatedName`, which its FieldDetails schema does not allow.
  const field = example('api-createCustomField-request-and-201.platform-spec-example.json');
  const [v] = jira.checkResponse({ method: 'POST', path: '/rest/api/3/field', status: 201, body: field.response201 });
  assert.equal(v?.kind, 'response-schema');
  assert.match(v?.message ?? '', /untranslatedName/);
  const { untranslatedName: _dropped, ...rest } = field.response201;
  assert.deepEqual(jira.checkResponse({ method: 'POST', path: '/rest/api/3/field', status: 201, body: rest }), []);
  // Comment is open (additionalProperties: true): extra keys pass.
  const comment = example('api-addComment-request-and-201.platform-spec-example.json').response201;
  assert.deepEqual(jira.checkResponse({ method: 'GET', path: '/rest/api/3/issue/1/comment/1', status: 200, body: { ...comment, extra: 1 } }), []);
});

test('schema errors name the pointer; nullable and Jira date-times are understood', () => {
  const c = new OpenApiContract(inline);
  const check = (body: unknown, status = 200) => c.checkResponse({ method: 'GET', path: '/things/1', status, body });
  assert.deepEqual(check({ id: '1', note: null, at: '2021-01-17T12:34:00.000+0000' }), []);
  assert.deepEqual(check({ id: '1', at: '2024-12-29T08:41:23.303+05:30' }), []);
  const [nullStrict] = check({ id: '1', strict: null });
  assert.match(nullStrict?.message ?? '', /\/strict: must be string/);
  const [badDate] = check({ id: '1', at: 'yesterday' });
  assert.match(badDate?.message ?? '', /\/at: must match format "date-time"/);
  const [missing] = check({ note: 'x' });
  assert.match(missing?.message ?? '', /must have required property 'id'/);
  assert.deepEqual(check({ error: 'gone' }, 404), [], '4XX range response');
  assert.equal(check({ nope: 1 }, 404)[0]?.kind, 'response-schema');
  assert.equal(check(undefined)[0]?.kind, 'missing-body');
});

test('request bodies are checked against requestBody schemas', () => {
  const good = example('api-createCustomField-request-and-201.platform-spec-example.json').request;
  assert.deepEqual(jira.checkRequest({ method: 'POST', path: '/rest/api/3/field', body: good }), []);
  const [bad] = jira.checkRequest({ method: 'POST', path: '/rest/api/3/field', body: { ...good, name: 42 } });
  assert.equal(bad?.kind, 'request-schema');
  assert.match(bad?.message ?? '', /\/name: must be string/);
});

test('reusable for ServiceNow: server base path stripped, operations without responses accepted', () => {
  const sn = OpenApiContract.fromFile(new URL('../../sandbox/specs/servicenow/earlier-dev301473/now-Table_API.json', import.meta.url), { name: 'servicenow-table' });
  const set = new ContractSet([sn]);
  const m = set.matchOperation('GET', '/api/now/table/incident/abc123');
  assert.ok(m, 'the Table API path matches');
  assert.deepEqual(m.params, { tableName: 'incident', sys_id: 'abc123' });
  assert.deepEqual(set.checkResponse({ method: 'GET', path: '/api/now/table/incident', status: 200, body: { result: [] } }), []);
  assert.equal(set.checkResponse({ method: 'GET', path: '/api/now/nothing', status: 200, body: {} })[0]?.kind, 'unknown-path');
  const withBase = new OpenApiContract({ servers: [{ url: 'https://x.example/api' }], paths: { '/now/ping': { get: { responses: {} } } } });
  assert.ok(withBase.matchOperation('GET', '/api/now/ping'));
});

test('ContractRecorder keeps violations and the exchanges it saw', () => {
  const r = new ContractRecorder(jira);
  r.response({ method: 'GET', path: '/rest/api/3/myself', status: 200, body: { accountId: 'a', active: true } });
  assert.equal(r.violations.length, 0);
  assert.equal(r.exchanges[0]?.operationId, 'getCurrentUser');
  r.response({ method: 'GET', path: '/rest/api/3/myself', status: 200, body: { accountId: 5 } });
  assert.equal(r.violations.length, 1);
  assert.match(r.report(), /\[jira-platform-v3\] response-schema GET \/rest\/api\/3\/myself -> 200: \/accountId: must be string/);
  assert.deepEqual(r.request({ method: 'POST', path: '/rest/api/3/field', body: { name: 1 } }), [], 'request checks are opt-in');
  r.clear();
  assert.equal(r.violations.length + r.exchanges.length, 0);
});
