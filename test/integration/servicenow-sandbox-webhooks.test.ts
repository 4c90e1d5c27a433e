/**
 * The ServiceNow sandbox's webhooks, received by a real HTTP server: what the shipped Business
 * Rule sends for orders, variable edits, work notes and approvals, signed with HMAC-SHA256 over
 * the raw body (verifiable with the shared secret), retried on 5xx, Basic auth as the fallback,
 * nothing for the integration user's own writes. Then the shipped script itself
 * (integrations/servicenow/ticket-surface-business-rule.js) runs in a VM with stand-ins for the
 * Glide APIs on the same changes, and its bodies and headers must equal the sandbox's byte for byte.
 */
import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import vm from 'node:vm';
import axios, { type AxiosInstance } from 'axios';
import { startServiceNowSandbox, type ServiceNowSandbox } from '../../sandbox/servicenow/servicenow-sandbox.ts';
import { DATABASE_ITEM, exampleSeed, GROUPS, PEOPLE } from '../../sandbox/servicenow/example-seed.ts';
import type { Row, StateEvent } from '../../sandbox/servicenow/state.ts';

const SECRET = 'webhook-secret-0123456789abcdef';

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

/** A stand-in for the service's webhook endpoint: records requests, answers scripted statuses. */
class Receiver {
  readonly received: Received[] = [];
  /** Statuses to answer, in order; 200 once empty. */
  readonly script: number[] = [];
  private server?: Server;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        res.writeHead(this.script.shift() ?? 200).end();
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', () => resolve()));
    this.url = `http://127.0.0.1:${(this.server?.address() as AddressInfo).port}/webhooks/servicenow`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }
}

/** What the service does with a delivery: check the signature over the raw bytes. */
function verify(secret: string, r: Received): boolean {
  const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(r.body).digest('hex')}`);
  const got = Buffer.from(String(r.headers['x-servicenow-signature'] ?? ''));
  return got.length === expected.length && timingSafeEqual(got, expected);
}

let sb: ServiceNowSandbox;
let receiver: Receiver;
let http: AxiosInstance;

before(async () => {
  receiver = new Receiver();
  await receiver.start();
  sb = await startServiceNowSandbox({ seed: exampleSeed(), webhook: { url: receiver.url, secret: SECRET }, webhookRetryDelaysMs: [5, 5] });
  http = axios.create({ baseURL: sb.url, headers: { Authorization: sb.authorization }, validateStatus: () => true });
});

after(async () => {
  await sb?.stop();
  await receiver?.stop();
});

beforeEach(async () => {
  await sb.webhooksIdle();
  receiver.received.length = 0;
  receiver.script.length = 0;
  sb.setWebhook({ url: receiver.url, secret: SECRET });
});

const bodies = () => receiver.received.map((r) => JSON.parse(r.body) as Record<string, string>);

test('ordering as a person sends ritm.inserted, signed over the raw body; the service can read the item back', async () => {
  const { ritm } = sb.as(PEOPLE.developer).order(DATABASE_ITEM, { variables: { environment: 'staging', data_size_gib: 50, owner_team: 'checkout' } });
  await sb.webhooksIdle();
  assert.equal(receiver.received.length, 1);
  const r = receiver.received[0] as Received;
  assert.ok(verify(SECRET, r), 'the signature verifies with the shared secret');
  assert.equal(verify('another-secret-0123456789', r), false, 'and not with another one');
  const tampered = { ...r, body: r.body.replace('ritm.inserted', 'ritm.updated') };
  assert.equal(verify(SECRET, tampered), false, 'a changed body no longer verifies');
  assert.equal(r.headers['content-type'], 'application/json');
  const body = JSON.parse(r.body);
  assert.deepEqual(Object.keys(body), ['event_id', 'event', 'table', 'sys_id', 'sys_updated_on'], 'keys in the script order');
  assert.equal(r.body, JSON.stringify(body), 'compact JSON');
  assert.match(body.event_id, /^[0-9a-f]{32}$/);
  assert.equal(r.headers['x-servicenow-event-id'], body.event_id);
  assert.deepEqual({ event: body.event, table: body.table, sys_id: body.sys_id }, { event: 'ritm.inserted', table: 'sc_req_item', sys_id: ritm.sys_id });
  assert.match(body.sys_updated_on, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
  // Reading the truth back: the item and its variables are there when the webhook arrives.
  const back = await http.get(`/api/now/table/sc_item_option_mtom`, { params: { sysparm_query: `request_item=${body.sys_id}` } });
  assert.equal(back.data.result.length, 4);
});

test('edits: variables and fields -> ritm.updated, a work note alone -> work_note.added, an approval decision -> approval.updated', async () => {
  const dana = sb.as(PEOPLE.developer);
  const { ritm } = dana.order(DATABASE_ITEM, { variables: { environment: 'staging', data_size_gib: 10, owner_team: 'checkout' } });
  await sb.webhooksIdle();
  receiver.received.length = 0;

  dana.editVariables(ritm.number as string, { data_size_gib: 75 });
  dana.addWorkNote(ritm.number as string, 'please hurry');
  dana.addComment(ritm.number as string, 'thanks');
  dana.update('sc_req_item', ritm.sys_id as string, { short_description: 'bigger db', work_notes: 'resized' });
  const approvals = sb.requestApprovals(ritm.number as string, { group: GROUPS.platformApprovers });
  sb.as(PEOPLE.approver).approve(ritm.number as string);
  await sb.webhooksIdle();
  assert.deepEqual(
    bodies().map((b) => [b.event, b.table]),
    [
      ['ritm.updated', 'sc_req_item'], // variable edited (sc_item_option rule)
      ['work_note.added', 'sc_req_item'],
      ['work_note.added', 'sc_req_item'], // additional comments count too
      ['ritm.updated', 'sc_req_item'], // a field and a note in one save
      ['ritm.updated', 'sc_req_item'], // the approval step marked the item as waiting for approval
      ['approval.updated', 'sysapproval_approver'],
    ],
  );
  assert.equal(bodies()[0]?.sys_id, ritm.sys_id);
  const decided = approvals.find((a) => a.approver === sb.state.user(PEOPLE.approver)?.sys_id) as Row;
  assert.equal(bodies()[5]?.sys_id, decided.sys_id);
  assert.ok(receiver.received.every((r) => verify(SECRET, r)));
  assert.equal(new Set(bodies().map((b) => b.event_id)).size, 6, 'every event has its own id');
  assert.equal(sb.state.variablesOf(ritm.sys_id as string).data_size_gib, '75');
});

test("the integration user's own Table API writes send nothing (unless told otherwise)", async () => {
  const ritm = sb.state.all('sc_req_item')[0] as Row;
  await http.patch(`/api/now/table/sc_req_item/${ritm.sys_id}`, { state: '2', work_notes: 'planning' });
  await sb.webhooksIdle();
  assert.equal(receiver.received.length, 0);
  sb.setWebhook({ url: receiver.url, secret: SECRET, ignoreUser: null });
  await http.patch(`/api/now/table/sc_req_item/${ritm.sys_id}`, { work_notes: 'echo' });
  await sb.webhooksIdle();
  assert.deepEqual(bodies().map((b) => b.event), ['work_note.added']);
});

test('retries: 5xx is retried with the same body and event id; 4xx is not; three failures give up', async () => {
  receiver.script.push(503, 502);
  sb.as(PEOPLE.developer).addWorkNote(sb.state.all('sc_req_item')[0]?.number as string, 'retry me');
  await sb.webhooksIdle();
  assert.equal(receiver.received.length, 3);
  assert.equal(new Set(receiver.received.map((r) => r.body)).size, 1, 'the same bytes every time');
  assert.equal(new Set(receiver.received.map((r) => r.headers['x-servicenow-event-id'])).size, 1);
  assert.equal(sb.deliveries().at(-1)?.outcome, 'delivered');
  assert.deepEqual(sb.deliveries().at(-1)?.attempts.map((a) => a.status), [503, 502, 200]);

  receiver.received.length = 0;
  receiver.script.push(401);
  sb.as(PEOPLE.developer).addWorkNote(sb.state.all('sc_req_item')[0]?.number as string, 'refused');
  await sb.webhooksIdle();
  assert.equal(receiver.received.length, 1);
  assert.equal(sb.deliveries().at(-1)?.outcome, 'failed');

  receiver.received.length = 0;
  receiver.script.push(500, 500, 500);
  sb.as(PEOPLE.developer).addWorkNote(sb.state.all('sc_req_item')[0]?.number as string, 'down');
  await sb.webhooksIdle();
  assert.equal(receiver.received.length, 3);
  assert.equal(sb.deliveries().at(-1)?.outcome, 'gave-up');
});

test('Basic auth fallback when no secret is set; nothing is sent with neither', async () => {
  sb.setWebhook({ url: receiver.url, basic: { username: 'hook', password: 'hook-password' } });
  sb.as(PEOPLE.developer).addWorkNote(sb.state.all('sc_req_item')[0]?.number as string, 'basic');
  await sb.webhooksIdle();
  assert.equal(receiver.received.length, 1);
  const r = receiver.received[0] as Received;
  assert.equal(r.headers.authorization, `Basic ${Buffer.from('hook:hook-password').toString('base64')}`);
  assert.equal(r.headers['x-servicenow-signature'], undefined);
  assert.equal(sb.deliveries().at(-1)?.headers.Authorization, 'Basic ***', 'the password is not kept in the log');

  receiver.received.length = 0;
  sb.setWebhook({ url: receiver.url });
  sb.as(PEOPLE.developer).addWorkNote(sb.state.all('sc_req_item')[0]?.number as string, 'unsigned');
  await sb.webhooksIdle();
  assert.equal(receiver.received.length, 0);
  assert.equal(sb.deliveries().at(-1)?.outcome, 'failed');
});

test('control endpoints act as people over HTTP: order, variables, work note, approve', async () => {
  const ctl = axios.create({ baseURL: sb.url, validateStatus: () => true });
  const order = await ctl.post('/_sandbox/act', { as: PEOPLE.developer, action: 'order', item: DATABASE_ITEM, variables: { environment: 'production', data_size_gib: 20, owner_team: 'search' } });
  assert.equal(order.status, 201);
  const number = order.data.ritm.number as string;
  assert.equal((await ctl.post('/_sandbox/act', { as: PEOPLE.developer, action: 'variables', ritm: number, variables: { owner_team: 'search-infra' } })).status, 200);
  assert.equal((await ctl.post('/_sandbox/act', { as: PEOPLE.developer, action: 'work-note', task: number, text: '/apply' })).status, 201);
  assert.equal((await ctl.post('/_sandbox/approvals', { task: number, approvers: [PEOPLE.releaseManager] })).status, 201);
  const approve = await ctl.post('/_sandbox/act', { as: PEOPLE.releaseManager, action: 'approve', target: number });
  assert.equal(approve.status, 200);
  assert.equal(approve.data.state, 'approved');
  const refused = await ctl.post('/_sandbox/act', { as: PEOPLE.releaseManager, action: 'approve', target: number });
  assert.equal(refused.status, 404);
  const badItem = await ctl.post('/_sandbox/act', { as: PEOPLE.developer, action: 'order', item: 'nope' });
  assert.equal(badItem.status, 404);
  await sb.webhooksIdle();
  assert.deepEqual(bodies().map((b) => b.event), ['ritm.inserted', 'ritm.updated', 'work_note.added', 'ritm.updated', 'approval.updated']);
});

// --- the shipped script, run in a VM ------------------------------------------------------

const SCRIPT = readFileSync(new URL('../../integrations/servicenow/ticket-surface-business-rule.js', import.meta.url), 'utf8');

interface ScriptRun {
  queued: Array<{ name: string; parm1: string; parm2: string }>;
  requests: Array<{ endpoint: string; method: string; headers: Record<string, string>; body: string; basic?: [string, string] }>;
  logs: string[];
}

/** Minimal stand-ins for the Glide APIs the script uses, backed by the sandbox's records. */
function loadScript(opts: {
  properties: Record<string, string>;
  user: () => string;
  guid: () => string;
  statuses?: number[];
  hmac?: boolean;
}): { api: { new (): Record<string, (...a: unknown[]) => unknown> } & Record<string, unknown>; run: ScriptRun } {
  const run: ScriptRun = { queued: [], requests: [], logs: [] };
  const gs = {
    getProperty: (name: string, dflt?: string) => opts.properties[name] ?? dflt ?? null,
    getUserName: opts.user,
    generateGUID: opts.guid,
    eventQueue: (name: string, _gr: unknown, parm1: string, parm2: string) => run.queued.push({ name, parm1, parm2 }),
    info: (m: string) => run.logs.push(m),
    warn: (m: string) => run.logs.push(m),
    error: (m: string) => run.logs.push(m),
    sleep: () => undefined,
  };
  class RESTMessageV2 {
    private readonly r = { endpoint: '', method: '', headers: {} as Record<string, string>, body: '', basic: undefined as [string, string] | undefined };
    setEndpoint(u: string) {
      this.r.endpoint = u;
    }
    setHttpMethod(m: string) {
      this.r.method = m;
    }
    setHttpTimeout() {}
    setRequestHeader(k: string, v: string) {
      this.r.headers[k] = v;
    }
    setBasicAuth(u: string, p: string) {
      this.r.basic = [u, p];
    }
    setRequestBody(b: string) {
      this.r.body = b;
    }
    execute() {
      run.requests.push({ ...this.r, headers: { ...this.r.headers } });
      const status = opts.statuses?.shift() ?? 200;
      return { getStatusCode: () => status };
    }
  }
  const shared: Record<string, unknown> = {
    Class: { create: () => function (this: { initialize: (...a: unknown[]) => void }, ...a: unknown[]) { this.initialize(...a); } },
    gs,
    GlideStringUtil: { base64Encode: (s: string) => Buffer.from(s, 'utf8').toString('base64') },
    sn_ws: { RESTMessageV2 },
    GlideRecord: makeGlideRecord(),
  };
  if (opts.hmac !== false) {
    shared.GlideCertificateEncryption = class {
      generateMac(key: string, algorithm: string, data: string) {
        assert.equal(algorithm, 'HmacSHA256');
        return createHmac('sha256', Buffer.from(key, 'base64')).update(data, 'utf8').digest('base64');
      }
    };
  }
  const ctx = vm.createContext(shared);
  const api = vm.runInContext(`${SCRIPT}\nTicketSurfaceWebhook;`, ctx);
  return { api, run };
}

/** A GlideRecord over the sandbox's records: addQuery/query/next/get/getValue. */
function makeGlideRecord() {
  return class GlideRecord {
    private readonly table: string;
    private filters: Array<[string, string]> = [];
    private rows: Row[] = [];
    private i = -1;
    private row?: Row;
    constructor(table: string) {
      this.table = table;
    }
    addQuery(f: string, v: string) {
      this.filters.push([f, String(v)]);
    }
    query() {
      this.rows = sb.state.all(this.table).filter((r) => this.filters.every(([f, v]) => r[f] === v));
      this.i = -1;
    }
    next() {
      this.i += 1;
      this.row = this.rows[this.i];
      return Boolean(this.row);
    }
    get(id: string) {
      this.row = sb.state.get(this.table, String(id));
      return Boolean(this.row);
    }
    getValue(f: string) {
      return this.row?.[f] ?? null;
    }
    getUniqueValue() {
      return this.row?.sys_id;
    }
    getTableName() {
      return this.row?.sys_class_name ?? this.table;
    }
  };
}

/** `current` as an after Business Rule sees it for one change. */
function current(e: StateEvent): Record<string, unknown> {
  const gr: Record<string, unknown> = {
    getTableName: () => e.table,
    getUniqueValue: () => e.record.sys_id,
    getValue: (f: string) => e.record[f] ?? null,
    operation: () => e.operation,
  };
  for (const col of new Set([...Object.keys(e.record), 'work_notes', 'comments'])) gr[col] = { changes: () => e.operation === 'update' && e.changed.includes(col) };
  return gr;
}

test('the shipped script, on the same changes, queues the same bodies byte for byte and sends the same headers', async () => {
  // A fresh story through the sandbox: order, edit, notes, approvals, and the service's own writes.
  const fromChange = sb.changes.length;
  const fromEvent = sb.events.length;
  const fromDelivery = sb.deliveries().length;
  const dana = sb.as(PEOPLE.developer);
  const { ritm } = dana.order(DATABASE_ITEM, { variables: { environment: 'staging', data_size_gib: 30, owner_team: 'orders' } });
  dana.editVariables(ritm.number as string, { environment: 'production', owner_team: 'orders-team' });
  dana.addWorkNote(ritm.number as string, 'note ü ✓');
  await http.patch(`/api/now/table/sc_req_item/${ritm.sys_id}`, { state: '2', work_notes: 'service note' });
  const asked = sb.requestApprovals(ritm.number as string, { group: GROUPS.platformApprovers });
  // A comment on an approval without a decision: no approval.updated.
  sb.as(PEOPLE.approver).update('sysapproval_approver', asked[0]?.sys_id as string, { comments: 'looking at it' });
  sb.as(PEOPLE.secondApprover).reject(ritm.number as string, 'too big');
  dana.update('sc_req_item', ritm.sys_id as string, { state: '4' });
  await sb.webhooksIdle();
  const changes = sb.changes.slice(fromChange);
  const events = sb.events.slice(fromEvent);
  const deliveries = sb.deliveries().slice(fromDelivery);
  assert.ok(events.length >= 6, `the story produced ${events.length} events`);

  let actor = '';
  let next = 0;
  const { api, run } = loadScript({
    properties: { 'x_ticket_surface.url': receiver.url, 'x_ticket_surface.secret': SECRET, 'x_ticket_surface.integration_user': sb.credentials.username },
    user: () => actor,
    // The script's event ids come from gs.generateGUID(); hand it the sandbox's, in order.
    guid: () => events[next++]?.event_id ?? 'no-more-events',
  });
  for (const e of changes) {
    actor = e.actor;
    new api().onChange(current(e));
  }
  assert.deepEqual(
    run.queued.map((q) => q.parm1),
    deliveries.map((d) => d.body),
    'the script queues exactly the bodies the sandbox sent',
  );
  assert.ok(run.queued.every((q) => q.name === 'x_ticket_surface.webhook'));
  assert.deepEqual(run.queued.map((q) => q.parm2), events.map((e) => e.event));

  for (const q of run.queued) new api().deliver(q.parm1);
  assert.equal(run.requests.length, deliveries.length);
  run.requests.forEach((r, k) => {
    const d = deliveries[k];
    assert.equal(r.endpoint, receiver.url);
    assert.equal(r.method, 'post');
    assert.equal(r.body, d?.body);
    assert.deepEqual(r.headers, d?.headers, 'Content-Type, Accept, X-ServiceNow-Event-Id and X-ServiceNow-Signature match');
  });
});

test('the shipped script: retries on 5xx and connection failures, not on 4xx; Basic fallback; base64 to hex', () => {
  const props = { 'x_ticket_surface.url': 'https://ts.example/webhooks/servicenow', 'x_ticket_surface.secret': SECRET };
  const body = JSON.stringify({ event_id: 'a'.repeat(32), event: 'ritm.updated', table: 'sc_req_item', sys_id: 'b'.repeat(32), sys_updated_on: '2026-11-24 10:00:00' });
  const retry = loadScript({ properties: props, user: () => 'x', guid: () => 'g', statuses: [503, 0, 200] });
  assert.equal(new retry.api().deliver(body), true);
  assert.equal(retry.run.requests.length, 3);
  const no = loadScript({ properties: props, user: () => 'x', guid: () => 'g', statuses: [400] });
  assert.equal(new no.api().deliver(body), false);
  assert.equal(no.run.requests.length, 1);
  assert.match(no.run.logs.join('\n'), /refused with HTTP 400/);
  const down = loadScript({ properties: props, user: () => 'x', guid: () => 'g', statuses: [500, 500, 500, 200] });
  assert.equal(new down.api().deliver(body), false);
  assert.equal(down.run.requests.length, 3);

  const basic = loadScript({ properties: { ...props, 'x_ticket_surface.basic_user': 'hook', 'x_ticket_surface.basic_password': 'pw' }, user: () => 'x', guid: () => 'g', hmac: false });
  new basic.api().deliver(body);
  assert.deepEqual(basic.run.requests[0]?.basic, ['hook', 'pw']);
  assert.equal(basic.run.requests[0]?.headers['X-ServiceNow-Signature'], undefined);
  const neither = loadScript({ properties: { 'x_ticket_surface.url': props['x_ticket_surface.url'] }, user: () => 'x', guid: () => 'g' });
  assert.equal(new neither.api().deliver(body), false);
  assert.equal(neither.run.requests.length, 0);

  for (let n = 0; n < 50; n++) {
    const bytes = randomBytes(n);
    assert.equal((basic.api.base64ToHex as (b64: string) => string)(bytes.toString('base64')), bytes.toString('hex'));
  }
});
