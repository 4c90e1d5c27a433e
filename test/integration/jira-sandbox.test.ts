/**
 * The Jira sandbox through real HTTP clients (axios, and jira.js's Version3Client): every REST
 * operation it implements is exercised, Jira's rules are checked (ADF only, the 32,767-character
 * limit, 429 + Retry-After, disabled-not-deleted options, screens, approvals), and every response
 * is validated against Atlassian's OpenAPI documents: the last test asserts zero violations.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import axios, { type AxiosInstance } from 'axios';
import { Version3Client } from 'jira.js';
import { ContractRecorder } from '../../sandbox/contract/openapi-contract.ts';
import { loadJiraContracts } from '../../sandbox/jira/jira-contracts.ts';
import { startJiraSandbox, type JiraSandbox } from '../../sandbox/jira/jira-sandbox.ts';
import { exampleSeed, PEOPLE } from '../../sandbox/jira/example-seed.ts';
import { JIRA_TEXT_LIMIT, TOO_LONG_MESSAGE, NOT_ADF_MESSAGE } from '../../sandbox/jira/adf.ts';

const SELECT = 'com.atlassian.jira.plugin.system.customfieldtypes:select';
const SELECT_SEARCHER = 'com.atlassian.jira.plugin.system.customfieldtypes:multiselectsearcher';
const BO_TOKEN = 'bo-token';

let sb: JiraSandbox;
let http: AxiosInstance;
let recorder: ContractRecorder;

const doc = (text: string) => ({ type: 'doc', version: 1, content: [{ type: 'paragraph', content: [{ type: 'text', text }] }] });

/** A custom select field, its INFRA context and options, shared by later tests. */
const env = { fieldId: '', contextId: '', stagingId: '', prodId: '', tabId: 0 };

before(async () => {
  recorder = new ContractRecorder(loadJiraContracts());
  const seed = exampleSeed();
  // Bo answers JSM approvals with his own API token in one test.
  seed.users = seed.users?.map((u) => (u.accountId === PEOPLE.secondApprover ? { ...u, apiToken: BO_TOKEN } : u));
  sb = await startJiraSandbox({ contract: recorder, seed });
  http = axios.create({ baseURL: sb.url, headers: { Authorization: sb.authorization }, validateStatus: () => true });
});

after(async () => {
  await sb?.stop();
});

test('Basic auth: missing or wrong credentials are 401, the API user is /myself', async () => {
  const anon = await axios.get(`${sb.url}/rest/api/3/myself`, { validateStatus: () => true });
  assert.equal(anon.status, 401);
  const wrong = await axios.get(`${sb.url}/rest/api/3/myself`, {
    validateStatus: () => true,
    auth: { username: sb.credentials.email, password: 'not-the-token' },
  });
  assert.equal(wrong.status, 401);
  const me = await http.get('/rest/api/3/myself');
  assert.equal(me.status, 200);
  assert.equal(me.data.accountId, sb.apiUser.accountId);
  assert.equal(me.data.apiToken, undefined, 'tokens are never rendered');
});

test('projects, issue types and statuses come from the seed', async () => {
  const p = await http.get('/rest/api/3/project/INFRA');
  assert.equal(p.status, 200);
  assert.equal(p.data.key, 'INFRA');
  assert.deepEqual(p.data.issueTypes.map((t: { name: string }) => t.name), ['Infrastructure request', 'Infrastructure question']);
  const byId = await http.get(`/rest/api/3/project/${p.data.id}`);
  assert.equal(byId.data.key, 'INFRA');
  assert.equal((await http.get('/rest/api/3/project/NOPE')).status, 404);

  const statuses = await http.get('/rest/api/3/project/INFRA/statuses');
  const names = statuses.data[0].statuses.map((s: { name: string }) => s.name).sort();
  assert.deepEqual(names, ['Approved', 'Awaiting approval', 'Cancelled', 'Done', 'Needs info', 'Open', 'Planned', 'Rejected']);
  assert.equal((await http.get('/rest/api/3/status')).data.length, 8);
  assert.equal((await http.get('/rest/api/3/issuetype')).data.length, 2);
  const forOps = await http.get(`/rest/api/3/issuetype/project?projectId=${sb.state.project('OPS').id}`);
  assert.deepEqual(forOps.data.map((t: { name: string }) => t.name), ['Infrastructure request']);
});

test('custom field: create with type and searcher, Jira adds a global default context', async () => {
  const bad = await http.post('/rest/api/3/field', { name: 'X', type: 'select' });
  assert.equal(bad.status, 400);
  assert.match(bad.data.errors.type, /not valid/);

  const created = await http.post('/rest/api/3/field', { name: 'Environment', description: 'Target environment', type: SELECT, searcherKey: SELECT_SEARCHER });
  assert.equal(created.status, 201);
  assert.match(created.data.id, /^customfield_\d+$/);
  assert.equal(created.data.schema.custom, SELECT);
  assert.equal(created.data.schema.type, 'option');
  env.fieldId = created.data.id;

  const all = await http.get('/rest/api/3/field');
  assert.ok(all.data.some((f: { id: string }) => f.id === env.fieldId));
  assert.ok(all.data.some((f: { id: string; custom: boolean }) => f.id === 'summary' && !f.custom));

  const contexts = await http.get(`/rest/api/3/field/${env.fieldId}/context`);
  assert.equal(contexts.data.total, 1);
  assert.equal(contexts.data.values[0].isGlobalContext, true);
});

test('contexts: project-scoped context, mappings, one context per project', async () => {
  const infra = sb.state.project('INFRA');
  const created = await http.post(`/rest/api/3/field/${env.fieldId}/context`, { name: 'INFRA requests', projectIds: [infra.id], issueTypeIds: [] });
  assert.equal(created.status, 201);
  assert.deepEqual(created.data.projectIds, [infra.id]);
  env.contextId = created.data.id;

  const again = await http.post(`/rest/api/3/field/${env.fieldId}/context`, { name: 'dup', projectIds: [infra.id] });
  assert.equal(again.status, 409, 'Jira allows one context per project per field');
  const unknown = await http.post(`/rest/api/3/field/${env.fieldId}/context`, { name: 'x', projectIds: ['99999'] });
  assert.equal(unknown.status, 404);

  const scoped = await http.get(`/rest/api/3/field/${env.fieldId}/context?isGlobalContext=false`);
  assert.deepEqual(scoped.data.values.map((c: { id: string }) => c.id), [env.contextId]);
  const pm = await http.get(`/rest/api/3/field/${env.fieldId}/context/projectmapping`);
  assert.ok(pm.data.values.some((r: { contextId: string; projectId?: string }) => r.contextId === env.contextId && r.projectId === infra.id));
  const im = await http.get(`/rest/api/3/field/${env.fieldId}/context/issuetypemapping`);
  assert.ok(im.data.values.some((r: { contextId: string; isAnyIssueType?: boolean }) => r.contextId === env.contextId && r.isAnyIssueType === true));
});

test('options: create, rename, disable (kept, not deleted), duplicates refused', async () => {
  const base = `/rest/api/3/field/${env.fieldId}/context/${env.contextId}/option`;
  const created = await http.post(base, { options: [{ value: 'staging' }, { value: 'production' }, { value: 'scratch' }] });
  assert.equal(created.status, 200);
  assert.equal(created.data.options.length, 3);
  [env.stagingId, env.prodId] = created.data.options.map((o: { id: string }) => o.id);
  const scratchId = created.data.options[2].id;

  assert.equal((await http.post(base, { options: [{ value: 'staging' }] })).status, 400);

  const updated = await http.put(base, { options: [{ id: env.prodId, disabled: true }, { id: scratchId, value: 'sandbox' }] });
  assert.equal(updated.status, 200);
  assert.deepEqual(updated.data.options.map((o: { value: string; disabled: boolean }) => [o.value, o.disabled]), [
    ['production', true],
    ['sandbox', false],
  ]);

  const listed = await http.get(base);
  assert.equal(listed.data.total, 3, 'a disabled option is still there');
  assert.equal(listed.data.values.find((o: { id: string }) => o.id === env.prodId).disabled, true);

  const del = await http.delete(`${base}/${scratchId}`);
  assert.equal(del.status, 204);
  assert.equal((await http.get(base)).data.total, 2);
});

test('screens: a field must be on a screen before issues can carry it', async () => {
  const screens = await http.get('/rest/api/3/screens');
  assert.equal(screens.data.values[0].name, 'Default Screen');
  const tabs = await http.get('/rest/api/3/screens/1/tabs');
  env.tabId = tabs.data[0].id;
  const available = await http.get('/rest/api/3/screens/1/availableFields');
  assert.ok(available.data.some((f: { id: string }) => f.id === env.fieldId));

  // Not on the screen yet: Jira refuses the value.
  const refused = await http.post('/rest/api/3/issue', {
    fields: { project: { key: 'INFRA' }, issuetype: { name: 'Infrastructure request' }, summary: 's', [env.fieldId]: { value: 'staging' } },
  });
  assert.equal(refused.status, 400);
  assert.match(refused.data.errors[env.fieldId], /not on the appropriate screen/);

  const added = await http.post(`/rest/api/3/screens/1/tabs/${env.tabId}/fields`, { fieldId: env.fieldId });
  assert.equal(added.status, 200);
  assert.equal(added.data.id, env.fieldId);
  assert.equal((await http.post(`/rest/api/3/screens/1/tabs/${env.tabId}/fields`, { fieldId: env.fieldId })).status, 400);
  const onTab = await http.get(`/rest/api/3/screens/1/tabs/${env.tabId}/fields`);
  assert.ok(onTab.data.some((f: { id: string }) => f.id === env.fieldId));
});

let issueKey = '';

test('issues: create, get with fields/expand, edit, and field rules', async () => {
  const stringDescription = await http.post('/rest/api/3/issue', {
    fields: { project: { key: 'INFRA' }, issuetype: { name: 'Infrastructure request' }, summary: 's', description: 'plain text' },
  });
  assert.equal(stringDescription.status, 400);
  assert.equal(stringDescription.data.errors.description, NOT_ADF_MESSAGE);

  const missing = await http.post('/rest/api/3/issue', { fields: { project: { key: 'NOPE' } } });
  assert.equal(missing.status, 400);
  assert.deepEqual(Object.keys(missing.data.errors).sort(), ['issuetype', 'project', 'summary']);

  const disabled = await http.post('/rest/api/3/issue', {
    fields: { project: { key: 'INFRA' }, issuetype: { name: 'Infrastructure request' }, summary: 's', [env.fieldId]: { value: 'production' } },
  });
  assert.equal(disabled.status, 400, 'a disabled option cannot be chosen');

  const created = await http.post('/rest/api/3/issue', {
    fields: {
      project: { key: 'INFRA' },
      issuetype: { name: 'Infrastructure request' },
      summary: 'Orders database',
      description: doc('Need a database'),
      labels: ['checkout'],
      [env.fieldId]: { value: 'staging' },
    },
  });
  assert.equal(created.status, 201);
  assert.match(created.data.key, /^INFRA-\d+$/);
  issueKey = created.data.key;

  const got = await http.get(`/rest/api/3/issue/${issueKey}?fields=summary,status,${env.fieldId}&expand=names,transitions,changelog`);
  assert.equal(got.status, 200);
  assert.deepEqual(Object.keys(got.data.fields).sort(), [env.fieldId, 'status', 'summary'].sort());
  assert.equal(got.data.fields.status.name, 'Open');
  assert.equal(got.data.fields[env.fieldId].value, 'staging');
  assert.equal(got.data.fields[env.fieldId].id, env.stagingId);
  assert.equal(got.data.names[env.fieldId], 'Environment');
  assert.ok(got.data.transitions.some((t: { name: string }) => t.name === 'Plan'));

  const all = await http.get(`/rest/api/3/issue/${issueKey}`);
  assert.deepEqual(all.data.fields.description, doc('Need a database'), 'v3 returns ADF');
  assert.equal(all.data.fields.reporter.accountId, sb.apiUser.accountId);

  const edit = await http.put(`/rest/api/3/issue/${issueKey}`, { fields: { summary: 'Orders database (staging)' }, update: { labels: [{ add: 'db' }] } });
  assert.equal(edit.status, 204);
  const returned = await http.put(`/rest/api/3/issue/${issueKey}?returnIssue=true`, { fields: { [env.fieldId]: null } });
  assert.equal(returned.status, 200);
  assert.equal(returned.data.fields[env.fieldId], null);
  assert.deepEqual(returned.data.fields.labels, ['checkout', 'db']);
  assert.equal((await http.put(`/rest/api/3/issue/${issueKey}`, { fields: { status: { name: 'Done' } } })).status, 400);
  assert.equal((await http.get('/rest/api/3/issue/INFRA-999')).status, 404);
  const history = sb.state.issue(issueKey).changelog.flatMap((c) => c.items.map((i) => i.fieldId));
  assert.deepEqual(history, ['summary', 'labels', env.fieldId]);
});

test('search: POST and GET /search/jql with the JQL subset, id-only default, paging', async () => {
  for (let i = 0; i < 3; i++) sb.as(PEOPLE.developer).createIssue({ project: 'INFRA', issueType: 'Infrastructure question', summary: `q${i}` });
  const ids = await http.post('/rest/api/3/search/jql', { jql: 'project = INFRA AND issuetype = "Infrastructure question"' });
  assert.equal(ids.status, 200);
  assert.equal(ids.data.issues.length, 3);
  assert.deepEqual(Object.keys(ids.data.issues[0]), ['id'], 'fields default to id');

  const page1 = await http.post('/rest/api/3/search/jql', { jql: 'project = INFRA ORDER BY created ASC', fields: ['summary', 'status'], maxResults: 2 });
  assert.equal(page1.data.issues.length, 2);
  assert.equal(page1.data.isLast, false);
  const page2 = await http.post('/rest/api/3/search/jql', { jql: 'project = INFRA ORDER BY created ASC', fields: ['summary'], maxResults: 2, nextPageToken: page1.data.nextPageToken });
  assert.equal(page2.data.isLast, true);
  assert.equal(page1.data.issues.length + page2.data.issues.length, 4);

  const open = await http.get('/rest/api/3/search/jql', { params: { jql: 'status in ("Open", Planned) AND project = INFRA', fields: 'summary' } });
  assert.equal(open.data.issues.length, 4);
  const none = await http.get('/rest/api/3/search/jql', { params: { jql: 'project = OPS' } });
  assert.equal(none.data.issues.length, 0);

  const unsupported = await http.post('/rest/api/3/search/jql', { jql: 'project = INFRA OR project = OPS' });
  assert.equal(unsupported.status, 400);
  assert.ok(unsupported.data.errorMessages[0].includes('AND'));
});

test('issue properties round-trip: 201 then 200 on replace, list, delete, 404', async () => {
  const url = `/rest/api/3/issue/${issueKey}/properties/ticket-surface`;
  assert.equal((await http.get(url)).status, 404);
  assert.equal((await http.put(url, { requestId: 'req-1', revision: 1 })).status, 201);
  assert.equal((await http.put(url, { requestId: 'req-1', revision: 2 })).status, 200);
  const got = await http.get(url);
  assert.deepEqual(got.data, { key: 'ticket-surface', value: { requestId: 'req-1', revision: 2 } });
  const keys = await http.get(`/rest/api/3/issue/${issueKey}/properties`);
  assert.deepEqual(keys.data.keys.map((k: { key: string }) => k.key), ['ticket-surface']);
  const withProps = await http.get(`/rest/api/3/issue/${issueKey}?fields=summary&properties=ticket-surface`);
  assert.deepEqual(withProps.data.properties, { 'ticket-surface': { requestId: 'req-1', revision: 2 } });
  assert.equal((await http.delete(url)).status, 204);
  assert.equal((await http.get(url)).status, 404);
  assert.equal((await http.put(url, { big: 'x'.repeat(40_000) })).status, 400, 'property values are capped at 32 KiB');
});

test('transitions: available ones follow the workflow; an invalid id is 400', async () => {
  const t = await http.get(`/rest/api/3/issue/${issueKey}/transitions`);
  const names = t.data.transitions.map((x: { name: string }) => x.name).sort();
  assert.deepEqual(names, ['Answer', 'Cancel', 'Needs info', 'Plan']);
  const approve = sb.state.project('INFRA').workflow.transitions.find((x) => x.name === 'Approve');
  const wrong = await http.post(`/rest/api/3/issue/${issueKey}/transitions`, { transition: { id: approve?.id } });
  assert.equal(wrong.status, 400);
  const plan = t.data.transitions.find((x: { name: string }) => x.name === 'Plan');
  assert.equal((await http.post(`/rest/api/3/issue/${issueKey}/transitions`, { transition: { id: plan.id } })).status, 204);
  const after = await http.get(`/rest/api/3/issue/${issueKey}?fields=status`);
  assert.equal(after.data.fields.status.name, 'Planned');
});

test('comments: ADF only, 32,767-character limit on the stored document, edit in place', async () => {
  const url = `/rest/api/3/issue/${issueKey}/comment`;
  const plain = await http.post(url, { body: 'just text' });
  assert.equal(plain.status, 400);
  assert.deepEqual(plain.data, { errorMessages: [NOT_ADF_MESSAGE], errors: {} });
  const malformed = await http.post(url, { body: { type: 'doc', version: 1, content: [{ type: 'paragraph', content: [{ text: 'no type' }] }] } });
  assert.equal(malformed.status, 400);
  assert.ok(malformed.data.errors.comment);
  assert.equal((await http.post(url, { body: { type: 'doc', version: 2, content: [] } })).status, 400);

  // Exactly at the limit is accepted; one character more is Jira's 400.
  const skeleton = JSON.stringify(doc('')).length;
  const atLimit = doc('a'.repeat(JIRA_TEXT_LIMIT - skeleton));
  assert.equal(JSON.stringify(atLimit).length, JIRA_TEXT_LIMIT);
  assert.equal((await http.post(url, { body: atLimit })).status, 201);
  const over = await http.post(url, { body: doc('a'.repeat(JIRA_TEXT_LIMIT - skeleton + 1)) });
  assert.equal(over.status, 400);
  assert.deepEqual(over.data, { errorMessages: [], errors: { comment: TOO_LONG_MESSAGE } });

  const created = await http.post(url, { body: doc('status: planning'), properties: [{ key: 'ticket-surface.marker', value: { kind: 'status' } }] });
  assert.equal(created.status, 201);
  assert.deepEqual(created.data.body, doc('status: planning'));
  const edited = await http.put(`${url}/${created.data.id}`, { body: doc('status: planned') });
  assert.equal(edited.status, 200);
  assert.deepEqual(edited.data.body, doc('status: planned'));
  assert.equal((await http.put(`${url}/${created.data.id}`, { body: doc('x'.repeat(JIRA_TEXT_LIMIT)) })).status, 400);

  const one = await http.get(`${url}/${created.data.id}?expand=properties`);
  assert.deepEqual(one.data.properties, [{ key: 'ticket-surface.marker', value: { kind: 'status' } }]);
  const list = await http.get(url);
  assert.equal(list.data.total, 2);
  assert.deepEqual(list.data.comments[1].body, doc('status: planned'));
  assert.equal((await http.delete(`${url}/${list.data.comments[0].id}`)).status, 204);
  assert.equal((await http.get(url)).data.total, 1);
});

test('attachments: multipart with X-Atlassian-Token, content readable back', async () => {
  const url = `/rest/api/3/issue/${issueKey}/attachments`;
  const form = () => {
    const fd = new FormData();
    fd.append('file', new Blob(['{"format_version":"1.2"}'], { type: 'application/json' }), 'plan.json');
    return fd;
  };
  assert.equal((await http.post(url, form())).status, 403, 'XSRF check without X-Atlassian-Token: no-check');
  const ok = await http.post(url, form(), { headers: { 'X-Atlassian-Token': 'no-check' } });
  assert.equal(ok.status, 200);
  assert.equal(ok.data[0].filename, 'plan.json');
  assert.equal(ok.data[0].size, 24);
  const content = await http.get(`/rest/api/3/attachment/content/${ok.data[0].id}`, { responseType: 'text' });
  assert.equal(content.data, '{"format_version":"1.2"}');
});

test('users and groups: active flag, groups, members without inactive users by default', async () => {
  const dev = await http.get('/rest/api/3/user', { params: { accountId: PEOPLE.developer, expand: 'groups' } });
  assert.equal(dev.data.active, true);
  assert.deepEqual(dev.data.groups.items.map((g: { name: string }) => g.name), ['developers']);
  const former = await http.get('/rest/api/3/user', { params: { accountId: PEOPLE.inactiveApprover } });
  assert.equal(former.data.active, false);
  assert.equal((await http.get('/rest/api/3/user', { params: { accountId: 'nobody' } })).status, 404);
  const groups = await http.get('/rest/api/3/user/groups', { params: { accountId: PEOPLE.approver } });
  assert.deepEqual(groups.data.map((g: { name: string }) => g.name).sort(), ['developers', 'platform-approvers']);

  const members = await http.get('/rest/api/3/group/member', { params: { groupname: 'platform-approvers' } });
  assert.deepEqual(members.data.values.map((u: { accountId: string }) => u.accountId).sort(), [PEOPLE.approver, PEOPLE.secondApprover].sort());
  const withInactive = await http.get('/rest/api/3/group/member', { params: { groupname: 'platform-approvers', includeInactiveUsers: true } });
  assert.equal(withInactive.data.total, 3);
  const byId = await http.get('/rest/api/3/group/member', { params: { groupId: sb.state.group('platform-approvers')?.groupId } });
  assert.equal(byId.data.total, 2);
  assert.equal((await http.get('/rest/api/3/group/member', { params: { groupname: 'ghosts' } })).status, 404);
});

test('JSM: service desks, request types and their fields', async () => {
  const desks = await http.get('/rest/servicedeskapi/servicedesk');
  assert.equal(desks.data.values[0].projectKey, 'OPS');
  const sdId = desks.data.values[0].id;
  const types = await http.get(`/rest/servicedeskapi/servicedesk/${sdId}/requesttype`);
  assert.equal(types.data.values[0].name, 'Request infrastructure');
  const rtId = types.data.values[0].id;
  assert.equal((await http.get(`/rest/servicedeskapi/servicedesk/${sdId}/requesttype/${rtId}`)).data.id, rtId);
  const fields = await http.get(`/rest/servicedeskapi/servicedesk/${sdId}/requesttype/${rtId}/field`);
  const ids = fields.data.requestTypeFields.map((f: { fieldId: string }) => f.fieldId);
  assert.ok(ids.includes('summary'));
  // The field's global default context applies to OPS too, but holds none of INFRA's options.
  const envField = fields.data.requestTypeFields.find((f: { fieldId: string }) => f.fieldId === env.fieldId);
  assert.deepEqual(envField.validValues, []);
  assert.equal(envField.jiraSchema.custom, SELECT);
  const missing = await http.get(`/rest/servicedeskapi/servicedesk/${sdId}/requesttype/999`);
  assert.equal(missing.status, 404);
  assert.equal(typeof missing.data.errorMessage, 'string', 'JSM errors use its own shape');
});

test('JSM approvals: opened on entering the approval status; only approvers may answer', async () => {
  const dev = sb.as(PEOPLE.developer);
  const issue = dev.createIssue({ project: 'OPS', issueType: 'Infrastructure request', summary: 'Cache please' });
  assert.equal((await http.get(`/rest/servicedeskapi/request/${issue.key}/approval`)).data.size, 0);
  dev.transition(issue.key, 'Planned');
  dev.transition(issue.key, 'Awaiting approval');

  const list = await http.get(`/rest/servicedeskapi/request/${issue.key}/approval`);
  assert.equal(list.data.size, 1);
  const approval = list.data.values[0];
  assert.equal(approval.finalDecision, 'pending');
  assert.equal(approval.canAnswerApproval, false, 'the API user is not an approver');
  const approvers = approval.approvers.map((a: { approver: { accountId: string } }) => a.approver.accountId).sort();
  assert.deepEqual(approvers, [PEOPLE.approver, PEOPLE.secondApprover].sort(), 'active group members only');

  const notApprover = await http.post(`/rest/servicedeskapi/request/${issue.key}/approval/${approval.id}`, { decision: 'approve' });
  assert.equal(notApprover.status, 403);

  const asBo = axios.create({ baseURL: sb.url, auth: { username: 'bo@example.com', password: BO_TOKEN }, validateStatus: () => true });
  const boView = await asBo.get(`/rest/servicedeskapi/request/${issue.key}/approval/${approval.id}`);
  assert.equal(boView.data.canAnswerApproval, true);
  const declined = await asBo.post(`/rest/servicedeskapi/request/${issue.key}/approval/${approval.id}`, { decision: 'decline' });
  assert.equal(declined.status, 200);
  assert.equal(declined.data.finalDecision, 'declined');
  assert.equal(sb.state.statuses.get(sb.state.issue(issue.key).statusId)?.name, 'Rejected');
  const twice = await asBo.post(`/rest/servicedeskapi/request/${issue.key}/approval/${approval.id}`, { decision: 'approve' });
  assert.equal(twice.status, 409);

  const second = dev.createIssue({ project: 'OPS', issueType: 'Infrastructure request', summary: 'Queue please' });
  dev.transition(second.key, 'Planned');
  dev.transition(second.key, 'Awaiting approval');
  sb.as(PEOPLE.approver).approve(second.key);
  assert.equal(sb.state.statuses.get(sb.state.issue(second.key).statusId)?.name, 'Approved');
});

test('rate limiting: the next N calls answer 429 with Retry-After, then service resumes', async () => {
  const ctl = await axios.post(`${sb.url}/_sandbox/rate-limit`, { count: 2, retryAfter: 7 });
  assert.equal(ctl.status, 200);
  const first = await http.get('/rest/api/3/myself');
  assert.equal(first.status, 429);
  assert.equal(first.headers['retry-after'], '7');
  assert.equal((await http.get('/rest/api/3/field')).status, 429);
  assert.equal((await http.get('/rest/api/3/myself')).status, 200);

  // Only writes limited: reads pass while the fault waits for a POST.
  sb.rateLimit(1, 3, { methods: ['POST'] });
  assert.equal((await http.get('/rest/api/3/myself')).status, 200);
  const write = await http.post(`/rest/api/3/issue/${issueKey}/comment`, { body: doc('hi') });
  assert.equal(write.status, 429);
  assert.equal(write.headers['retry-after'], '3');

  sb.fail(1, 503);
  assert.equal((await http.get('/rest/api/3/myself')).status, 503);
  assert.equal((await http.get('/rest/api/3/myself')).status, 200);
});

test('request log: writes are countable (a second sync must make zero)', async () => {
  const before = sb.writes().length;
  await http.get(`/rest/api/3/issue/${issueKey}`);
  await http.get('/rest/api/3/field');
  assert.equal(sb.writes().length, before, 'reads are not writes');
  await http.put(`/rest/api/3/issue/${issueKey}/properties/x`, { a: 1 });
  await http.post(`/rest/api/3/issue/${issueKey}/comment`, { body: 'not adf' });
  const after = sb.writes();
  assert.equal(after.length, before + 1, 'a refused write is not counted');
  assert.equal(after.at(-1)?.path, `/rest/api/3/issue/${issueKey}/properties/x`);
  assert.equal(after.at(-1)?.actorId, sb.apiUser.accountId);
  assert.deepEqual(after.at(-1)?.body, { a: 1 });
});

test('jira.js Version3Client works against the sandbox', async () => {
  const client = new Version3Client({ host: sb.url, authentication: { basic: { email: sb.credentials.email, apiToken: sb.credentials.apiToken } } });
  const me = await client.myself.getCurrentUser();
  assert.equal(me.accountId, sb.apiUser.accountId);
  const created = await client.issues.createIssue({
    fields: { project: { key: 'INFRA' }, issuetype: { name: 'Infrastructure request' }, summary: 'via jira.js', description: doc('from jira.js') as never },
  });
  assert.match(created.key, /^INFRA-/);
  const issue = await client.issues.getIssue({ issueIdOrKey: created.key, fields: ['summary', 'description'] });
  assert.equal(issue.fields.summary, 'via jira.js');
  const comment = await client.issueComments.addComment({ issueIdOrKey: created.key, comment: doc('hello from jira.js') as never });
  assert.ok(comment.id);
  await client.issueProperties.setIssueProperty({ issueIdOrKey: created.key, propertyKey: 'ticket-surface', propertyValue: { requestId: 'r-9' } });
  const prop = await client.issueProperties.getIssueProperty({ issueIdOrKey: created.key, propertyKey: 'ticket-surface' });
  assert.deepEqual(prop.value, { requestId: 'r-9' });
  const found = await client.issueSearch.searchForIssuesUsingJqlEnhancedSearchPost({ jql: 'project = INFRA AND issuetype = "Infrastructure request"', fields: ['summary'] });
  assert.ok(found.issues?.some((i) => i.fields.summary === 'via jira.js'));
  const attached = await client.issueAttachments.addAttachment({ issueIdOrKey: created.key, attachment: { filename: 'plan.txt', file: Buffer.from('full plan') } });
  assert.equal(attached[0]?.filename, 'plan.txt');
  // jira.js wraps a plain string in ADF itself; an oversize body is Jira's 400, surfaced as a rejection.
  await assert.rejects(client.issueComments.addComment({ issueIdOrKey: created.key, comment: 'x'.repeat(JIRA_TEXT_LIMIT) }));
  await assert.rejects(client.issues.createIssue({ fields: { project: { key: 'INFRA' }, issuetype: { name: 'Nope' }, summary: 'x' } }));
});

test('transition screens and validators: a required Resolution and a failing validator are Jira’s 400', async () => {
  const key = sb.as(PEOPLE.developer).createIssue({ project: 'INFRA', issueType: 'Infrastructure question', summary: 'resolve me' }).key;
  const listed = await http.get(`/rest/api/3/issue/${key}/transitions`, { params: { expand: 'transitions.fields' } });
  const answer = listed.data.transitions.find((t: { name: string }) => t.name === 'Answer');
  assert.equal(answer.hasScreen, true);
  assert.equal(answer.fields.resolution.required, true);
  assert.ok(answer.fields.resolution.allowedValues.some((r: { name: string }) => r.name === "Won't Do"));
  assert.equal(listed.data.transitions.find((t: { name: string }) => t.name === 'Plan').fields.resolution, undefined);
  const bare = await http.post(`/rest/api/3/issue/${key}/transitions`, { transition: { id: answer.id } });
  assert.equal(bare.status, 400);
  assert.deepEqual(bare.data, { errorMessages: [], errors: { resolution: 'Resolution is required.' } });
  sb.state.setTransitionRules('ticket-surface request', 'Answer', { validators: [{ field: 'assignee', message: 'An assignee is required to answer.' }] });
  const blocked = await http.post(`/rest/api/3/issue/${key}/transitions`, { transition: { id: answer.id }, fields: { resolution: { name: 'Done' } } });
  assert.equal(blocked.status, 400);
  assert.deepEqual(blocked.data.errorMessages, ['An assignee is required to answer.']);
  assert.equal(sb.state.issue(key).resolutionId, undefined, 'nothing changed');
  sb.state.setTransitionRules('ticket-surface request', 'Answer', { validators: [] });
  const done = await http.post(`/rest/api/3/issue/${key}/transitions`, { transition: { id: answer.id }, fields: { resolution: { name: "Won't Do" } } });
  assert.equal(done.status, 204);
  const issue = await http.get(`/rest/api/3/issue/${key}`, { params: { fields: 'resolution,status' } });
  assert.equal(issue.data.fields.resolution.name, "Won't Do");
  // Reopened: the resolution is cleared; a screenless transition refuses one.
  const reopen = (await http.get(`/rest/api/3/issue/${key}/transitions`)).data.transitions.find((t: { name: string }) => t.name === 'Reopen');
  const withResolution = await http.post(`/rest/api/3/issue/${key}/transitions`, { transition: { id: reopen.id }, fields: { resolution: { name: 'Done' } } });
  assert.equal(withResolution.status, 400);
  assert.equal((await http.post(`/rest/api/3/issue/${key}/transitions`, { transition: { id: reopen.id } })).status, 204);
  assert.equal((await http.get(`/rest/api/3/issue/${key}`, { params: { fields: 'resolution' } })).data.fields.resolution, null);
});

test('screen schemes: an issue type finds its screens through its project’s issue type screen scheme', async () => {
  sb.seed({
    screens: [{ name: 'SCH create' }, { name: 'SCH view' }],
    screenSchemes: [{ name: 'SCH screens', screens: { default: 'SCH view', create: 'SCH create' } }],
    issueTypeScreenSchemes: [{ name: 'SCH scheme', mappings: { default: 'SCH screens' } }],
    projects: [
      { key: 'SCH', name: 'Own screens', issueTypes: ['Infrastructure request'], workflow: 'ticket-surface request', issueTypeScreenScheme: 'SCH scheme' },
      { key: 'TMP', name: 'Team-managed', issueTypes: ['Infrastructure request'], workflow: 'ticket-surface request', issueTypeScreenScheme: null },
    ],
  });
  const sch = sb.state.project('SCH').id;
  const assoc = await http.get('/rest/api/3/issuetypescreenscheme/project', { params: { projectId: [sch, sb.state.project('TMP').id] }, paramsSerializer: { indexes: null } });
  assert.equal(assoc.status, 200);
  assert.deepEqual(assoc.data.values.map((v: { issueTypeScreenScheme: { name: string }; projectIds: string[] }) => [v.issueTypeScreenScheme.name, v.projectIds]), [['SCH scheme', [sch]]]);
  const itssId = assoc.data.values[0].issueTypeScreenScheme.id;
  assert.equal((await http.get('/rest/api/3/issuetypescreenscheme', { params: { id: itssId } })).data.values[0].name, 'SCH scheme');
  const mapping = await http.get('/rest/api/3/issuetypescreenscheme/mapping', { params: { issueTypeScreenSchemeId: itssId } });
  assert.deepEqual(mapping.data.values.map((m: { issueTypeId: string }) => m.issueTypeId), ['default']);
  const schemes = await http.get('/rest/api/3/screenscheme', { params: { id: mapping.data.values[0].screenSchemeId } });
  const screenIds = schemes.data.values[0].screens;
  assert.deepEqual(Object.keys(screenIds).sort(), ['create', 'default']);
  const users = await http.get(`/rest/api/3/issuetypescreenscheme/${itssId}/project`);
  assert.deepEqual(users.data.values.map((p: { key: string }) => p.key), ['SCH']);
  // A field on the Default Screen is not on SCH's screens: SCH issues cannot carry it.
  const refused = await http.post('/rest/api/3/issue', { fields: { project: { key: 'SCH' }, issuetype: { name: 'Infrastructure request' }, summary: 's', [env.fieldId]: { value: 'staging' } } });
  assert.equal(refused.status, 400);
  // A field put on SCH's create screen and taken off again; a second removal is a 404.
  const create = String(screenIds.create);
  const tab = (await http.get(`/rest/api/3/screens/${create}/tabs`)).data[0].id;
  assert.equal((await http.post(`/rest/api/3/screens/${create}/tabs/${tab}/fields`, { fieldId: env.fieldId })).status, 200);
  assert.deepEqual((await http.get(`/rest/api/3/screens/${create}/tabs/${tab}/fields`)).data.map((f: { id: string }) => f.id), [env.fieldId]);
  assert.equal((await http.delete(`/rest/api/3/screens/${create}/tabs/${tab}/fields/${env.fieldId}`)).status, 204);
  assert.deepEqual((await http.get(`/rest/api/3/screens/${create}/tabs/${tab}/fields`)).data, []);
  assert.equal((await http.delete(`/rest/api/3/screens/${create}/tabs/${tab}/fields/${env.fieldId}`)).status, 404);
  assert.equal((await http.get('/rest/api/3/project/TMP')).data.style, 'next-gen');
});

test('administration: issue types, issue type schemes, screens, screen schemes and mappings, with Jira’s refusals and pages', async () => {
  // An issue type joins the default issue type scheme; INFRA's own scheme gets it only when asked.
  assert.equal((await http.post('/rest/api/3/issuetype', {})).status, 400);
  assert.equal((await http.post('/rest/api/3/issuetype', { name: 'x'.repeat(61) })).status, 400);
  const created = await http.post('/rest/api/3/issuetype', { name: 'Cache', description: 'A cache', hierarchyLevel: 0 });
  assert.equal(created.status, 201);
  assert.equal(created.data.name, 'Cache');
  assert.equal((await http.post('/rest/api/3/issuetype', { name: 'cache' })).status, 409);
  const all = await http.get('/rest/api/3/issuetypescheme', { params: { maxResults: 1 } });
  assert.equal(all.status, 200);
  assert.equal(all.data.isLast, false, 'paged');
  const infra = (await http.get('/rest/api/3/project/INFRA')).data;
  const ops = (await http.get('/rest/api/3/project/OPS')).data;
  const assoc = await http.get('/rest/api/3/issuetypescheme/project', { params: { projectId: infra.id } });
  assert.equal(assoc.status, 200);
  assert.deepEqual(assoc.data.values[0].projectIds, [infra.id], 'INFRA has a scheme of its own');
  assert.equal((await http.get('/rest/api/3/issuetypescheme/project')).status, 400, 'projectId is required');
  const schemeId = assoc.data.values[0].issueTypeScheme.id;
  const items = await http.get('/rest/api/3/issuetypescheme/mapping', { params: { issueTypeSchemeId: schemeId } });
  assert.equal(items.status, 200);
  assert.ok(!items.data.values.some((i: { issueTypeId: string }) => i.issueTypeId === created.data.id));
  assert.equal((await http.put(`/rest/api/3/issuetypescheme/${schemeId}/issuetype`, { issueTypeIds: [] })).status, 400);
  assert.equal((await http.put(`/rest/api/3/issuetypescheme/${schemeId}/issuetype`, { issueTypeIds: ['999999'] })).status, 404);
  assert.equal((await http.put(`/rest/api/3/issuetypescheme/${schemeId}/issuetype`, { issueTypeIds: [created.data.id] })).status, 204);
  assert.equal((await http.put(`/rest/api/3/issuetypescheme/${schemeId}/issuetype`, { issueTypeIds: [created.data.id] })).status, 400, 'already in it');
  assert.ok((await http.get('/rest/api/3/project/INFRA')).data.issueTypes.some((t: { id: string }) => t.id === created.data.id));
  assert.ok(!(await http.get('/rest/api/3/project/OPS')).data.issueTypes.some((t: { id: string }) => t.id === created.data.id), 'OPS has its own scheme');
  assert.ok(ops.id);

  // A screen with a default tab, a screen scheme showing it, an entry in an issue type screen scheme.
  assert.equal((await http.post('/rest/api/3/screens', { description: 'no name' })).status, 400);
  const screen = await http.post('/rest/api/3/screens', { name: 'Cache screen', description: 'Cache questions' });
  assert.equal(screen.status, 201);
  assert.equal((await http.post('/rest/api/3/screens', { name: 'Cache screen' })).status, 400, 'names are unique');
  assert.equal((await http.get(`/rest/api/3/screens/${screen.data.id}/tabs`)).data.length, 1);
  assert.equal((await http.post('/rest/api/3/screenscheme', { name: 'Cache screens' })).status, 400, 'a default screen is required');
  assert.equal((await http.post('/rest/api/3/screenscheme', { name: 'Cache screens', screens: { default: 999999 } })).status, 404);
  const ss = await http.post('/rest/api/3/screenscheme', { name: 'Cache screens', screens: { default: screen.data.id } });
  assert.equal(ss.status, 201);
  const itss = (await http.get('/rest/api/3/issuetypescreenscheme')).data.values[0].id;
  const map = (rows: unknown) => http.put(`/rest/api/3/issuetypescreenscheme/${itss}/mapping`, { issueTypeMappings: rows });
  assert.equal((await map([{ issueTypeId: 'default', screenSchemeId: String(ss.data.id) }])).status, 400);
  assert.equal((await map([{ issueTypeId: created.data.id, screenSchemeId: '999999' }])).status, 404);
  assert.equal((await map([{ issueTypeId: created.data.id, screenSchemeId: String(ss.data.id) }])).status, 204);
  assert.equal((await map([{ issueTypeId: created.data.id, screenSchemeId: String(ss.data.id) }])).status, 400, 'already mapped');
  const rows = (await http.get('/rest/api/3/issuetypescreenscheme/mapping', { params: { issueTypeScreenSchemeId: itss } })).data.values;
  assert.ok(rows.some((r: { issueTypeId: string; screenSchemeId: string }) => r.issueTypeId === created.data.id && r.screenSchemeId === String(ss.data.id)));

  // A context's issue types grow; one already there fails the call.
  const field = await http.post('/rest/api/3/field', { name: 'Cache size', type: 'com.atlassian.jira.plugin.system.customfieldtypes:float' });
  const ctx = (await http.get(`/rest/api/3/field/${field.data.id}/context`)).data.values[0].id;
  const addTypes = (body: unknown) => http.put(`/rest/api/3/field/${field.data.id}/context/${ctx}/issuetype`, body);
  assert.equal((await addTypes({})).status, 400);
  assert.equal((await addTypes({ issueTypeIds: [created.data.id] })).status, 204);
  assert.equal((await addTypes({ issueTypeIds: [created.data.id] })).status, 409);
  const types = await http.get(`/rest/api/3/field/${field.data.id}/context/issuetypemapping`, { params: { contextId: ctx } });
  assert.deepEqual(types.data.values, [{ contextId: ctx, issueTypeId: created.data.id }]);
});

test('what the doctor reads: permissions (revocable), workflow schemes and workflows with transitions, admin webhooks without their secret', async () => {
  const mine = await http.get('/rest/api/3/mypermissions', { params: { projectKey: 'INFRA', permissions: 'BROWSE_PROJECTS,USER_PICKER' } });
  assert.equal(mine.status, 200);
  assert.equal(mine.data.permissions.USER_PICKER.havePermission, true);
  assert.equal((await http.get('/rest/api/3/mypermissions', { params: { permissions: 'NOT_A_KEY' } })).status, 400);
  const infra = (await http.get('/rest/api/3/project/INFRA')).data;
  const schemes = await http.get('/rest/api/3/workflowscheme/project', { params: { projectId: infra.id } });
  assert.equal(schemes.status, 200);
  const name = schemes.data.values[0].workflowScheme.defaultWorkflow;
  const wf = await http.get('/rest/api/3/workflow/search', { params: { workflowName: name, expand: 'transitions,statuses' } });
  assert.equal(wf.status, 200);
  const byId = new Map(wf.data.values[0].statuses.map((s: { id: string; name: string }) => [s.id, s.name]));
  assert.ok(wf.data.values[0].transitions.some((t: { name: string; to: string }) => t.name === 'Approve' && byId.get(t.to) === 'Approved'));
  const reg = sb.registerWebhook({ url: 'http://127.0.0.1:9/webhooks/jira', secret: 'a-webhook-secret-of-16+', jql: 'project = INFRA' });
  const hooks = await http.get('/rest/webhooks/1.0/webhook');
  const hook = hooks.data.find((h: { self: string }) => h.self.endsWith(`/${reg.id}`));
  assert.equal(hook.filters['issue-related-events-section'], 'project = INFRA');
  assert.ok(!JSON.stringify(hooks.data).includes('a-webhook-secret'), 'the secret is never shown');
  sb.webhooks.unregister(reg.id);
  sb.revokePermission('USER_PICKER');
  const after = await http.get('/rest/api/3/mypermissions', { params: { permissions: 'USER_PICKER' } });
  assert.equal(after.data.permissions.USER_PICKER.havePermission, false);
  sb.revokePermission('ADMINISTER');
  assert.equal((await http.get('/rest/api/3/workflow/search')).status, 403);
});

test('every implemented operation was exercised with a 2xx and matched the OpenAPI documents', () => {
  const contracts = loadJiraContracts();
  const succeeded = new Set(recorder.exchanges.filter((e) => e.status >= 200 && e.status < 300).map((e) => e.operationId));
  const missing: string[] = [];
  for (const r of sb.routes) {
    // The removed search endpoint only ever answers 410; its behaviour is covered in the contract tests.
    if (r.template === '/rest/api/3/search') continue;
    // Admin webhooks are documented on Atlassian's Webhooks page, in no OpenAPI document.
    if (r.template.startsWith('/rest/webhooks/')) continue;
    const op = contracts.matchOperation(r.method, r.template);
    assert.ok(op, `${r.method} ${r.template} is an operation of the Jira OpenAPI documents`);
    if (!succeeded.has(op.operationId)) missing.push(`${r.method} ${r.template} (${op.operationId})`);
  }
  assert.deepEqual(missing, [], 'operations never exercised successfully');
  assert.ok(recorder.exchanges.length > 100);
  assert.deepEqual(sb.unimplemented, []);
  assert.equal(recorder.violations.length, 0, recorder.report());
});
