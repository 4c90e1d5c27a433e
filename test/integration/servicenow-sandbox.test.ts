/**
 * The ServiceNow sandbox through a real HTTP client (axios): every Table API operation, every
 * encoded-query operator the service uses, paging headers, display values, journal fields,
 * `order_now`, approvals, change_request state moves, 429 + Retry-After and Basic auth. Every
 * /api exchange is checked against the platform's OpenAPI exports (paths, methods, query
 * parameters) and the documentation examples (shapes); the last tests assert zero violations and
 * prove that drift is caught.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import axios, { type AxiosInstance } from 'axios';
import { startServiceNowSandbox, type ServiceNowSandbox } from '../../sandbox/servicenow/servicenow-sandbox.ts';
import { ServiceNowContract, ServiceNowContractRecorder } from '../../sandbox/servicenow/servicenow-contracts.ts';
import { DATABASE_ITEM, exampleSeed, GROUPS, PEOPLE, PEOPLE_PASSWORD } from '../../sandbox/servicenow/example-seed.ts';
import type { SeedResult } from '../../sandbox/servicenow/state.ts';

let sb: ServiceNowSandbox;
let http: AxiosInstance;
let recorder: ServiceNowContractRecorder;
let seeded: SeedResult;

const DATE_TIME = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/;
const SYS_ID = /^[0-9a-f]{32}$/;

before(async () => {
  recorder = new ServiceNowContractRecorder();
  sb = await startServiceNowSandbox({ contract: recorder });
  seeded = sb.seed(exampleSeed());
  http = axios.create({ baseURL: sb.url, headers: { Authorization: sb.authorization, Accept: 'application/json' }, validateStatus: () => true });
});

after(async () => {
  await sb?.stop();
});

const table = (name: string) => `/api/now/table/${name}`;

test('Basic auth: no credentials, a wrong password or an inactive user get 401 in the error envelope', async () => {
  const anon = await axios.get(`${sb.url}${table('sys_user')}`, { validateStatus: () => true });
  assert.equal(anon.status, 401);
  assert.deepEqual(anon.data, { error: { message: 'User Not Authenticated', detail: 'Required to provide Auth information' }, status: 'failure' });
  assert.match(String(anon.headers['www-authenticate']), /^BASIC realm=/);
  const wrong = await axios.get(`${sb.url}${table('sys_user')}`, { auth: { username: sb.credentials.username, password: 'nope' }, validateStatus: () => true });
  assert.equal(wrong.status, 401);
  const inactive = await axios.get(`${sb.url}${table('sys_user')}`, { auth: { username: PEOPLE.inactiveApprover, password: PEOPLE_PASSWORD }, validateStatus: () => true });
  assert.equal(inactive.status, 401, 'an inactive user cannot log in');
  const person = await axios.get(`${sb.url}${table('sys_user')}?sysparm_limit=1`, { auth: { username: PEOPLE.developer, password: PEOPLE_PASSWORD }, validateStatus: () => true });
  assert.equal(person.status, 200);
  assert.equal(sb.calls.at(-1)?.user, PEOPLE.developer);
});

test('records: every value a string, references as {link, value}, passwords never rendered', async () => {
  const r = await http.get(table('sys_user'), { params: { sysparm_query: `user_name=${PEOPLE.approver}` } });
  assert.equal(r.status, 200);
  assert.equal(r.data.result.length, 1);
  const u = r.data.result[0];
  assert.equal(u.active, 'true');
  assert.equal(u.name, 'Ari Approver');
  assert.match(u.sys_id, SYS_ID);
  assert.match(u.sys_created_on, DATE_TIME);
  assert.equal('user_password' in u, false);
  for (const [k, v] of Object.entries(u)) assert.ok(typeof v === 'string' || (typeof v === 'object' && v !== null && Object.keys(v).sort().join() === 'link,value'), k);

  const members = await http.get(table('sys_user_grmember'), { params: { sysparm_query: `user=${u.sys_id}` } });
  assert.equal(members.data.result.length, 2);
  const m = members.data.result[0];
  assert.deepEqual(m.user, { link: `${sb.baseUrl}/api/now/table/sys_user/${u.sys_id}`, value: u.sys_id });
  assert.match(m.group.link, /\/api\/now\/table\/sys_user_group\/[0-9a-f]{32}$/);
});

test('POST/GET/PUT/PATCH/DELETE a record; numbers and booleans are stored as strings', async () => {
  const created = await http.post(table('item_option_new'), { cat_item: seeded.catalogItems[DATABASE_ITEM], name: 'region', question_text: 'Region', type: 5, order: 500, mandatory: true });
  assert.equal(created.status, 201);
  const rec = created.data.result;
  assert.equal(rec.type, '5');
  assert.equal(rec.order, '500');
  assert.equal(rec.mandatory, 'true');
  assert.equal(rec.sys_mod_count, '0');
  assert.equal(rec.sys_created_by, sb.credentials.username);
  assert.equal(created.headers.location, `${sb.baseUrl}/api/now/table/item_option_new/${rec.sys_id}`);

  const got = await http.get(`${table('item_option_new')}/${rec.sys_id}`);
  assert.equal(got.data.result.question_text, 'Region');
  const put = await http.put(`${table('item_option_new')}/${rec.sys_id}`, { question_text: 'AWS region' });
  assert.equal(put.status, 200);
  assert.equal(put.data.result.question_text, 'AWS region');
  assert.equal(put.data.result.type, '5', 'PUT updates only the columns sent, like PATCH');
  assert.equal(put.data.result.sys_mod_count, '1');
  const patch = await http.patch(`${table('item_option_new')}/${rec.sys_id}`, { active: false });
  assert.equal(patch.data.result.active, 'false');
  assert.equal(patch.data.result.sys_mod_count, '2');

  const del = await http.delete(`${table('item_option_new')}/${rec.sys_id}`);
  assert.equal(del.status, 204);
  assert.equal(del.data, '');
  const gone = await http.get(`${table('item_option_new')}/${rec.sys_id}`);
  assert.equal(gone.status, 404);
  assert.deepEqual(gone.data, { error: { message: 'No Record found', detail: "Record doesn't exist or ACL restricts the record retrieval" }, status: 'failure' });
  assert.equal((await http.patch(`${table('item_option_new')}/${rec.sys_id}`, { name: 'x' })).status, 404);
  assert.equal((await http.delete(`${table('item_option_new')}/${rec.sys_id}`)).status, 404);
});

test('errors: unknown table 400, bad JSON 400, unimplemented API 400, all in the error envelope', async () => {
  const unknown = await http.get(table('no_such_table'));
  assert.equal(unknown.status, 400);
  assert.equal(unknown.data.error.message, 'Invalid table no_such_table');
  assert.equal(unknown.data.status, 'failure');
  const badJson = await http.post(table('sys_user_group'), '{"name": ', { headers: { 'Content-Type': 'application/json' }, transformRequest: [(d: unknown) => d] });
  assert.equal(badJson.status, 400);
  assert.equal(badJson.data.error.detail, 'The payload is not valid JSON.');
  const arrayBody = await http.post(table('sys_user_group'), [{ name: 'x' }]);
  assert.equal(arrayBody.status, 400);
  const unimplemented = await http.get('/api/now/table/sys_user_group/abc/extra');
  assert.equal(unimplemented.status, 400);
  assert.equal(unimplemented.data.error.message, 'Requested URI does not represent any resource');
  assert.ok(sb.unimplemented.includes('GET /api/now/table/sys_user_group/abc/extra'));
  // The contract flags the made-up path; taken out here so the final zero-violation check holds.
  const flagged = recorder.violations.findIndex((v) => v.kind === 'unknown-path' && v.path === '/api/now/table/sys_user_group/abc/extra');
  assert.ok(flagged >= 0);
  recorder.violations.splice(flagged, 1);
});

test('encoded queries: =, !=, ^, ^OR, IN, NOT IN, STARTSWITH, ENDSWITH, LIKE, ISEMPTY, ISNOTEMPTY, ranges, ORDERBY, ORDERBYDESC, dot-walking', async () => {
  const q = async (sysparm_query: string, t = 'sys_user') => {
    const r = await http.get(table(t), { params: { sysparm_query, sysparm_fields: 'user_name' } });
    assert.equal(r.status, 200, sysparm_query);
    return r.data.result.map((x: { user_name: string }) => x.user_name) as string[];
  };
  const people = Object.values(PEOPLE);
  const sortedPeople = [...people].sort();
  assert.deepEqual(await q(`user_name=${PEOPLE.developer}`), [PEOPLE.developer]);
  assert.deepEqual((await q(`user_name!=${PEOPLE.developer}^user_nameIN${people.join(',')}`)).sort(), sortedPeople.filter((p) => p !== PEOPLE.developer));
  assert.deepEqual(await q(`active=false`), [PEOPLE.inactiveApprover]);
  assert.deepEqual(await q(`user_name=${PEOPLE.developer}^ORuser_name=${PEOPLE.outsider}^ORDERBYuser_name`), [PEOPLE.developer, PEOPLE.outsider]);
  // a AND (b OR c): the OR binds to the condition before it.
  assert.deepEqual(await q(`active=true^user_name=${PEOPLE.inactiveApprover}^ORuser_name=${PEOPLE.approver}`), [PEOPLE.approver]);
  assert.deepEqual(await q(`user_nameIN${PEOPLE.approver},${PEOPLE.secondApprover}^ORDERBYDESCuser_name`), [PEOPLE.secondApprover, PEOPLE.approver]);
  assert.deepEqual((await q(`user_nameNOT IN${people.join(',')}`)), [sb.credentials.username]);
  assert.deepEqual((await q(`user_nameSTARTSWITHbo.`)), [PEOPLE.secondApprover]);
  assert.deepEqual((await q(`emailENDSWITH@example.com^ORDERBYuser_name`)), sortedPeople);
  assert.deepEqual((await q(`nameLIKEapprover^ORDERBYuser_name`)), [PEOPLE.approver, PEOPLE.secondApprover, PEOPLE.inactiveApprover].sort());
  assert.deepEqual((await q(`emailISEMPTY`)), [sb.credentials.username]);
  assert.equal((await q(`emailISNOTEMPTY`)).length, people.length);
  assert.deepEqual(await q(`user_name>=rene^user_name<rene.zzz`), [PEOPLE.releaseManager]);
  // Dot-walking through references: members of a group by the group's name.
  const rows = await http.get(table('sys_user_grmember'), { params: { sysparm_query: `group.name=${GROUPS.platformApprovers}^user.active=true`, sysparm_fields: 'user.user_name' } });
  assert.deepEqual(rows.data.result.map((r: Record<string, string>) => r['user.user_name']).sort(), [PEOPLE.approver, PEOPLE.secondApprover]);
  // ^NQ: a second, OR-ed query.
  assert.deepEqual((await q(`user_name=${PEOPLE.developer}^NQuser_name=${PEOPLE.outsider}`)).sort(), [PEOPLE.developer, PEOPLE.outsider]);
  // An invalid part is ignored, not rejected (Table API docs).
  const warnings = sb.state.warnings.length;
  assert.deepEqual(await q(`no_such_column=1^user_name=${PEOPLE.developer}`), [PEOPLE.developer]);
  assert.ok(sb.state.warnings.slice(warnings).some((w) => w.includes('no_such_column=1')));
});

test('paging: sysparm_limit and sysparm_offset, X-Total-Count and Link first/prev/next/last', async () => {
  const params = { sysparm_query: 'ORDERBYuser_name', sysparm_limit: 2, sysparm_fields: 'user_name' };
  const total = sb.state.all('sys_user').length;
  const first = await http.get(table('sys_user'), { params: { ...params, sysparm_offset: 0 } });
  assert.equal(first.headers['x-total-count'], String(total));
  assert.equal(first.data.result.length, 2);
  const links = Object.fromEntries(
    String(first.headers.link)
      .split(',')
      .map((p) => /^<([^>]+)>;rel="(\w+)"$/.exec(p.trim()))
      .map((m) => [m?.[2], m?.[1]]),
  ) as Record<string, string>;
  assert.deepEqual(Object.keys(links), ['first', 'next', 'last']);
  const next = new URL(links.next as string);
  assert.equal(next.searchParams.get('sysparm_offset'), '2');
  assert.equal(next.searchParams.get('sysparm_query'), 'ORDERBYuser_name', 'links keep the query');
  assert.equal(new URL(links.last as string).searchParams.get('sysparm_offset'), String(Math.floor((total - 1) / 2) * 2));

  // Follow `next` until it disappears: every user exactly once, in order.
  const seen: string[] = [];
  let url: string | undefined = `${table('sys_user')}?sysparm_query=ORDERBYuser_name&sysparm_limit=2&sysparm_fields=user_name`;
  while (url) {
    const page: { data: { result: Array<{ user_name: string }> }; headers: Record<string, unknown> } = await http.get(url.replace(sb.baseUrl, ''));
    seen.push(...page.data.result.map((r: { user_name: string }) => r.user_name));
    url = /<([^>]+)>;rel="next"/.exec(String(page.headers.link))?.[1];
  }
  assert.deepEqual(seen, sb.state.all('sys_user').map((u) => u.user_name).sort());
  const middle = await http.get(table('sys_user'), { params: { ...params, sysparm_offset: 2 } });
  assert.match(String(middle.headers.link), /rel="prev"/);
  const quiet = await http.get(table('sys_user'), { params: { sysparm_limit: 1, sysparm_no_count: true, sysparm_suppress_pagination_header: true } });
  assert.equal(quiet.headers['x-total-count'], undefined);
  assert.equal(quiet.headers.link, undefined);
});

test('display values: true, all, and excluded reference links', async () => {
  const id = seeded.users[PEOPLE.approver] as string;
  const member = sb.state.all('sys_user_grmember').find((m) => m.user === id) as Record<string, string>;
  const path = `${table('sys_user_grmember')}/${member.sys_id}`;
  const t = await http.get(path, { params: { sysparm_display_value: 'true' } });
  assert.deepEqual(t.data.result.user, { display_value: 'Ari Approver', link: `${sb.baseUrl}/api/now/table/sys_user/${id}` });
  const all = await http.get(path, { params: { sysparm_display_value: 'all' } });
  assert.deepEqual(all.data.result.user, { display_value: 'Ari Approver', link: `${sb.baseUrl}/api/now/table/sys_user/${id}`, value: id });
  assert.deepEqual(all.data.result.sys_id, { display_value: member.sys_id, value: member.sys_id });
  const noLink = await http.get(path, { params: { sysparm_exclude_reference_link: 'true' } });
  assert.equal(noLink.data.result.user, id);
  const dvNoLink = await http.get(path, { params: { sysparm_display_value: 'true', sysparm_exclude_reference_link: 'true' } });
  assert.equal(dvNoLink.data.result.user, 'Ari Approver');
  const choice = await http.get(table('item_option_new'), { params: { sysparm_query: 'name=environment', sysparm_display_value: 'all', sysparm_fields: 'type,mandatory' } });
  assert.deepEqual(choice.data.result[0].type, { display_value: 'Select Box', value: '5' });
});

test('order_now creates the request, the requested item and its variable rows; mandatory variables enforced', async () => {
  const item = seeded.catalogItems[DATABASE_ITEM] as string;
  const missing = await http.post(`/api/sn_sc/servicecatalog/items/${item}/order_now`, { sysparm_quantity: 1, variables: { environment: 'staging' } });
  assert.equal(missing.status, 400);
  assert.equal(missing.data.error.message, 'Mandatory Variables are required');
  assert.match(missing.data.error.detail, /data_size_gib/);
  assert.equal(sb.state.all('sc_request').length, 0, 'nothing created on a refused order');
  const nope = await http.post(`/api/sn_sc/servicecatalog/items/${'0'.repeat(32)}/order_now`, { sysparm_quantity: 1, variables: {} });
  assert.equal(nope.status, 400);

  const dana = seeded.users[PEOPLE.developer] as string;
  const r = await http.post(`/api/sn_sc/servicecatalog/items/${item}/order_now`, {
    sysparm_quantity: '1',
    sysparm_requested_for: dana,
    variables: { environment: 'staging', data_size_gib: 50, owner_team: 'checkout' },
  });
  assert.equal(r.status, 200);
  const res = r.data.result;
  assert.deepEqual(Object.keys(res).sort(), ['number', 'request_id', 'request_number', 'sys_id', 'table']);
  assert.equal(res.table, 'sc_request');
  assert.match(res.number, /^REQ\d{7}$/);
  const req = await http.get(`${table('sc_request')}/${res.sys_id}`);
  assert.equal(req.data.result.requested_for.value, dana);

  const ritms = await http.get(table('sc_req_item'), { params: { sysparm_query: `request=${res.sys_id}` } });
  assert.equal(ritms.data.result.length, 1);
  const ritm = ritms.data.result[0];
  assert.match(ritm.number, /^RITM\d{7}$/);
  assert.equal(ritm.cat_item.value, item);
  assert.equal(ritm.requested_for.value, dana);
  assert.equal(ritm.opened_by.value, sb.apiUser.sys_id, 'opened by the caller');
  assert.equal(ritm.state, '1');
  assert.equal(ritm.quantity, '1');

  // Variables, read the way the service reads them: mtom rows, dot-walked to the question name.
  const vars = await http.get(table('sc_item_option_mtom'), {
    params: { sysparm_query: `request_item=${ritm.sys_id}`, sysparm_fields: 'sc_item_option.item_option_new.name,sc_item_option.value', sysparm_exclude_reference_link: 'true' },
  });
  const values = Object.fromEntries(vars.data.result.map((v: Record<string, string>) => [v['sc_item_option.item_option_new.name'], v['sc_item_option.value']]));
  // production_critical was not answered: its default is stored.
  assert.deepEqual(values, { environment: 'staging', data_size_gib: '50', production_critical: 'false', owner_team: 'checkout' });
  // The same through sc_item_option directly.
  const opts = await http.get(table('sc_item_option'), { params: { sysparm_query: `item_option_new.name=owner_team^value=checkout` } });
  assert.equal(opts.data.result.length, 1);
});

test('journal fields: a write appends a sys_journal_field entry; the value reads back empty, the display value renders entries', async () => {
  const ritm = sb.state.all('sc_req_item')[0] as Record<string, string>;
  const path = `${table('sc_req_item')}/${ritm.sys_id}`;
  const w1 = await http.patch(path, { work_notes: 'Plan: 3 to add' });
  assert.equal(w1.status, 200);
  assert.equal(w1.data.result.work_notes, '', 'journal columns read back empty');
  await http.patch(path, { work_notes: 'Applied in 4.2 s', comments: 'Your database is ready' });
  const entries = await http.get(table('sys_journal_field'), { params: { sysparm_query: `element_id=${ritm.sys_id}^element=work_notes^ORDERBYsys_created_on` } });
  assert.deepEqual(entries.data.result.map((e: { value: string }) => e.value), ['Plan: 3 to add', 'Applied in 4.2 s']);
  assert.equal(entries.data.result[0].name, 'sc_req_item');
  assert.equal(entries.data.result[0].sys_created_by, sb.credentials.username);
  const comments = await http.get(table('sys_journal_field'), { params: { sysparm_query: `element_id=${ritm.sys_id}^element=comments` } });
  assert.equal(comments.data.result.length, 1);
  const dv = await http.get(path, { params: { sysparm_display_value: 'true', sysparm_fields: 'work_notes,comments' } });
  assert.match(dv.data.result.work_notes, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d - ticket-surface integration \(Work notes\)\nApplied in 4\.2 s\n\n.*\(Work notes\)\nPlan: 3 to add\n\n$/s);
  assert.match(dv.data.result.comments, /\(Additional comments\)\nYour database is ready/);
  const again = await http.get(path);
  assert.equal(again.data.result.work_notes, '');
  assert.equal(again.data.result.sys_mod_count, '2', 'each journal write is an update');
  const noop = await http.patch(path, { work_notes: '   ' });
  assert.equal(noop.data.result.sys_mod_count, '2', 'a blank journal write changes nothing');
});

test('requested item state: closing sets active=false, closed_at and closed_by', async () => {
  const ritm = sb.state.all('sc_req_item')[0] as Record<string, string>;
  const path = `${table('sc_req_item')}/${ritm.sys_id}`;
  assert.equal((await http.patch(path, { state: '2' })).data.result.state, '2');
  const closed = await http.patch(path, { state: 3 });
  assert.equal(closed.data.result.state, '3');
  assert.equal(closed.data.result.active, 'false');
  assert.match(closed.data.result.closed_at, DATE_TIME);
  assert.equal(closed.data.result.closed_by.value, sb.apiUser.sys_id);
  assert.equal(closed.data.result.stage, 'complete');
});

test('approvals: requested for a group (active members only), decided by people, read through the Table API', async () => {
  const ordered = sb.as(PEOPLE.developer).order(DATABASE_ITEM, { variables: { environment: 'production', data_size_gib: 80, owner_team: 'checkout' } });
  const created = sb.requestApprovals(ordered.ritm.number as string, { group: GROUPS.platformApprovers });
  assert.equal(created.length, 2, 'the inactive member gets no approval');
  const list = await http.get(table('sysapproval_approver'), { params: { sysparm_query: `sysapproval=${ordered.ritm.sys_id}^ORDERBYapprover.user_name`, sysparm_display_value: 'all' } });
  assert.deepEqual(list.data.result.map((a: { approver: { display_value: string } }) => a.approver.display_value), ['Ari Approver', 'Bo Approver']);
  assert.deepEqual(list.data.result.map((a: { state: { value: string } }) => a.state.value), ['requested', 'requested']);
  assert.equal(list.data.result[0].sysapproval.display_value, ordered.ritm.number);
  assert.equal(list.data.result[0].document_id.value, ordered.ritm.sys_id);
  const ritm = await http.get(`${table('sc_req_item')}/${ordered.ritm.sys_id}`);
  assert.equal(ritm.data.result.approval, 'requested');
  assert.equal(ritm.data.result.stage, 'waiting_for_approval');

  sb.as(PEOPLE.approver).approve(ordered.ritm.number as string, 'Looks fine');
  assert.throws(() => sb.as(PEOPLE.approver).approve(ordered.ritm.number as string), { detail: /ari.approver has no requested approval/ });
  assert.throws(() => sb.as(PEOPLE.outsider).reject(ordered.ritm.number as string), { detail: /no requested approval/ });
  sb.as(PEOPLE.secondApprover).reject(ordered.ritm.number as string);
  const after = await http.get(table('sysapproval_approver'), { params: { sysparm_query: `sysapproval=${ordered.ritm.sys_id}^state=approved`, sysparm_fields: 'approver,sys_updated_by' } });
  assert.equal(after.data.result.length, 1);
  assert.equal(after.data.result[0].approver.value, seeded.users[PEOPLE.approver]);
  assert.equal(after.data.result[0].sys_updated_by, PEOPLE.approver);
  const rejected = await http.get(table('sysapproval_approver'), { params: { sysparm_query: `sysapproval=${ordered.ritm.sys_id}^state=rejected` } });
  assert.equal(rejected.data.result.length, 1);
  assert.ok(sb.state.all('sys_journal_field').some((j) => j.name === 'sysapproval_approver' && j.value === 'Looks fine'), 'approval comments are journal entries');

  // The service can also create approvals itself through the Table API.
  const mine = await http.post(table('sysapproval_approver'), { approver: PEOPLE.releaseManager, sysapproval: ordered.ritm.sys_id, state: 'requested' });
  assert.equal(mine.status, 201);
  assert.equal(mine.data.result.approver.value, seeded.users[PEOPLE.releaseManager], 'a reference may be written by display value / user_name');
});

test('change_request: a normal change moves New > Assess > Authorize > Scheduled > Implement > Review > Closed; skips and bad dates are refused', async () => {
  const ritm = sb.state.all('sc_req_item')[0] as Record<string, string>;
  const c = await http.post(table('change_request'), {
    type: 'normal',
    short_description: 'Promote checkout-api 2.14.0 to production',
    parent: ritm.sys_id,
    start_date: '2026-11-25 09:00:00',
    end_date: '2026-11-25 15:00:00',
  });
  assert.equal(c.status, 201);
  const chg = c.data.result;
  assert.match(chg.number, /^CHG\d{7}$/);
  assert.equal(chg.state, '-5');
  assert.equal(chg.type, 'normal');
  assert.equal(chg.parent.value, ritm.sys_id);
  assert.match(chg.parent.link, new RegExp(`/api/now/table/sc_req_item/${ritm.sys_id}$`));
  const path = `${table('change_request')}/${chg.sys_id}`;

  const skip = await http.patch(path, { state: '-2' });
  assert.equal(skip.status, 403, 'the state model refuses New > Scheduled');
  assert.equal(skip.data.error.message, 'Operation Failed');
  assert.match(skip.data.error.detail, /aborted by Business Rule/);
  assert.equal(sb.state.get('change_request', chg.sys_id)?.state, '-5', 'a refused update changes nothing');

  for (const [state, label] of [['-4', 'Assess'], ['-3', 'Authorize'], ['-2', 'Scheduled'], ['-1', 'Implement'], ['0', 'Review'], ['3', 'Closed']]) {
    const r = await http.patch(path, { state }, { params: { sysparm_display_value: 'all', sysparm_fields: 'state,active' } });
    assert.equal(r.status, 200, `to ${label}`);
    assert.deepEqual(r.data.result.state, { display_value: label, value: state });
  }
  const closed = await http.get(path);
  assert.equal(closed.data.result.active, 'false');
  assert.equal((await http.patch(path, { state: '-1' })).status, 403, 'closed is final');

  const bad = await http.post(table('change_request'), { type: 'normal', start_date: '2026-11-25 15:00:00', end_date: '2026-11-25 09:00:00' });
  assert.equal(bad.status, 403);
  assert.match(bad.data.error.detail, /Planned end date must be after planned start date/);
  const iso = await http.post(table('change_request'), { type: 'normal', start_date: '2026-11-25T09:00:00Z' });
  assert.equal(iso.data.result.start_date, '', 'an ISO date is not a glide date-time: the platform stores nothing');
  assert.ok(sb.state.warnings.some((w) => w.includes('change_request.start_date')));
  const cancel = await http.patch(`${table('change_request')}/${iso.data.result.sys_id}`, { state: '4' });
  assert.equal(cancel.data.result.state, '4');
});

test('blackout schedules: cmn_schedule_blackout records (also cmn_schedule) with spans in schedule date-time format', async () => {
  const sched = await http.get(table('cmn_schedule_blackout'));
  assert.equal(sched.data.result.length, 1);
  assert.equal(sched.data.result[0].type, 'blackout');
  assert.equal(sched.data.result[0].time_zone, 'Europe/Berlin');
  const viaParent = await http.get(table('cmn_schedule'), { params: { sysparm_query: 'type=blackout' } });
  assert.equal(viaParent.data.result[0].sys_class_name, 'cmn_schedule_blackout', 'a blackout schedule is a cmn_schedule');
  const spans = await http.get(table('cmn_schedule_span'), { params: { sysparm_query: `schedule=${sched.data.result[0].sys_id}^end_date_time>=20261201T000000` } });
  assert.equal(spans.data.result.length, 1);
  assert.equal(spans.data.result[0].start_date_time, '20261220T000000');
  assert.equal(spans.data.result[0].end_date_time, '20270105T000000');
  const none = await http.get(table('cmn_schedule_span'), { params: { sysparm_query: 'end_date_time<20261201T000000' } });
  assert.equal(none.data.result.length, 0);
});

test('rate limit: 429 with Retry-After and X-RateLimit-* headers in the documented body, then normal service', async () => {
  sb.rateLimit(2, 7, { path: '/api/now/table' });
  const a = await http.get(table('sys_user'), { params: { sysparm_limit: 1 } });
  assert.equal(a.status, 429);
  assert.equal(a.headers['retry-after'], '7');
  assert.ok(a.headers['x-ratelimit-limit']);
  assert.ok(Number(a.headers['x-ratelimit-reset']) > Date.now() / 1000);
  assert.deepEqual(Object.keys(a.data).sort(), ['error', 'status']);
  assert.equal(a.data.error.message, 'Rate limit exceeded');
  assert.equal((await http.get(table('sys_user'), { params: { sysparm_limit: 1 } })).status, 429);
  assert.equal((await http.get(table('sys_user'), { params: { sysparm_limit: 1 } })).status, 200);
  // The control endpoint does the same over HTTP.
  const ctl = await axios.post(`${sb.url}/_sandbox/rate-limit`, { count: 1, retryAfter: 3 });
  assert.equal(ctl.status, 200);
  const b = await http.get(table('sys_user'), { params: { sysparm_limit: 1 } });
  assert.equal(b.status, 429);
  assert.equal(b.headers['retry-after'], '3');
});

test('calls log counts write calls', async () => {
  const before = sb.writes().length;
  await http.get(table('sys_user_group'));
  await http.post(table('sys_user_group'), { name: 'counted' });
  await http.post(table('sys_user_group'), [{}]);
  assert.equal(sb.writes().length, before + 1, 'reads and refused writes are not counted');
  const last = sb.writes().at(-1);
  assert.equal(last?.method, 'POST');
  assert.deepEqual(last?.body, { name: 'counted' });
});

test('contract: zero violations across everything above', () => {
  assert.equal(recorder.report(), '');
  assert.equal(sb.violations().length, 0);
  // Every implemented operation was exercised and matched an operation of the exports.
  const templates = new Set(recorder.exchanges.map((e) => `${e.method} ${e.template}`));
  for (const r of sb.routes) assert.ok(templates.has(`${r.method} ${r.template}`), `${r.method} ${r.template} exercised`);
});

test('contract: drift is caught (unknown parameter, number values, broken envelope, wrong order_now keys, unknown path)', async () => {
  const local = new ServiceNowContractRecorder(ServiceNowContract.load());
  const drift = await startServiceNowSandbox({ contract: local, seed: exampleSeed() });
  try {
    const c = axios.create({ baseURL: drift.url, headers: { Authorization: drift.authorization }, validateStatus: () => true });
    // A parameter the export does not list (the docs' name-value filter style) is a violation.
    await c.get(table('sys_user'), { params: { active: 'true' } });
    assert.deepEqual(local.violations.map((v) => v.kind), ['unknown-parameter']);
    assert.match(local.violations[0]?.message ?? '', /"active"/);
    // sysparm_offset is absent from the export but documented: allowed, and named as such.
    await c.get(table('sys_user'), { params: { sysparm_offset: 1 } });
    assert.equal(local.violations.length, 1);

    drift.transformResponse = (x) => {
      if (x.status >= 400) return { error: { message: 'x' } };
      if (x.path.endsWith('/order_now')) return { result: { sys_id: 'x', number: 'y' } };
      const b = x.body as { result: Array<Record<string, unknown>> | Record<string, unknown> };
      const rows = Array.isArray(b.result) ? b.result : [b.result];
      for (const r of rows) if ('sys_mod_count' in r) r.sys_mod_count = Number(r.sys_mod_count);
      for (const r of rows) if ('sys_created_on' in r) r.sys_created_on = '2026-11-24T10:00:00Z';
      return b;
    };
    local.clear();
    await c.get(table('sys_user'), { params: { sysparm_limit: 1 } });
    assert.ok(local.violations.some((v) => v.kind === 'response-shape' && /sys_mod_count: must be a string/.test(v.message)), local.report());
    assert.ok(local.violations.some((v) => /sys_created_on: .* not in the documented format/.test(v.message)), local.report());
    local.clear();
    await c.get(table('no_such_table'));
    assert.ok(local.violations.some((v) => /\/status must be "failure"/.test(v.message)), local.report());
    local.clear();
    const item = drift.state.all('sc_cat_item')[0]?.sys_id as string;
    await c.post(`/api/sn_sc/servicecatalog/items/${item}/order_now`, { sysparm_quantity: 1, variables: { environment: 'staging', data_size_gib: 1, owner_team: 'x' } });
    assert.ok(local.violations.some((v) => /order_now result keys/.test(v.message)), local.report());
    drift.transformResponse = undefined;
    local.clear();
    // A path no export has (a made-up API) is a violation too.
    await c.get('/api/now/v9/not_an_api');
    assert.ok(local.violations.some((v) => v.kind === 'unknown-path'), local.report());
    // A method the export does not declare for a known path.
    local.clear();
    await c.delete(table('sys_user'));
    assert.ok(local.violations.some((v) => v.kind === 'unknown-method'), local.report());
  } finally {
    await drift.stop();
  }
});

test('contract: the shape rules come from the documentation examples', () => {
  const shapes = ServiceNowContract.load().shapes;
  assert.deepEqual(shapes.errorKeys, ['error', 'status']);
  assert.deepEqual(shapes.errorInnerKeys, ['detail', 'message']);
  assert.equal(shapes.errorStatus, 'failure');
  assert.deepEqual(shapes.referenceKeys, ['link', 'value']);
  assert.ok(shapes.taskKeys.includes('work_notes') && shapes.taskKeys.includes('approval') && shapes.taskKeys.length > 60);
  assert.ok(shapes.dateTime.test('2026-11-24 10:00:00') && !shapes.dateTime.test('2026-11-24T10:00:00Z'));
  assert.deepEqual(shapes.orderNowKeys, ['number', 'request_id', 'request_number', 'sys_id', 'table']);
  // The sandbox's task tables carry every documented task column.
  for (const t of ['sc_request', 'sc_req_item', 'change_request']) {
    const cols = Object.keys(sb.state.catalog.fields(t));
    assert.deepEqual(shapes.taskKeys.filter((k) => !cols.includes(k)), [], t);
  }
});
