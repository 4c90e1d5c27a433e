/**
 * The Jira sandbox's outgoing webhooks, received by a real HTTP server: the v2 payload shape
 * compared with a real Jira Cloud delivery, headers as Jira sends them, HMAC signatures verifiable
 * with the secret, JQL and event filters, and Jira's retry rules (same identifier, incremented
 * retry header, retry on 5xx/429/connection failures, no retry on other 4xx, at most 5 retries).
 */
import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import axios from 'axios';
import { startJiraSandbox, type JiraSandbox } from '../../sandbox/jira/jira-sandbox.ts';
import { exampleSeed, PEOPLE } from '../../sandbox/jira/example-seed.ts';
import { signWebhookBody, MAX_WEBHOOK_RETRIES } from '../../sandbox/jira/webhook-sender.ts';

const SECRET = "It's a Secret to Everybody";
const fixture = (name: string) => JSON.parse(readFileSync(new URL(`../fixtures/jira/${name}`, import.meta.url), 'utf8'));
const realDelivery = fixture('webhook-jira-issue_created.cloud-2024.json');
const realHeaders = fixture('webhook-delivery-headers.cloud-2024.json') as Record<string, string>;

interface Received {
  headers: IncomingHttpHeaders;
  raw: Buffer;
  json: Record<string, any>;
}

/** A webhook receiver whose answers are scripted per request (default 200). */
class Receiver {
  readonly received: Received[] = [];
  script: number[] = [];
  private server?: Server;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks);
        this.received.push({ headers: req.headers, raw, json: JSON.parse(raw.toString('utf8')) });
        res.writeHead(this.script.shift() ?? 200).end();
      });
    });
    await new Promise<void>((r) => this.server?.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server?.address() as AddressInfo).port}/webhooks/jira`;
  }

  byEvent(event: string): Received[] {
    return this.received.filter((r) => r.json.webhookEvent === event);
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => this.server?.close(() => r()));
  }
}

let sb: JiraSandbox;
const rx = new Receiver();

before(async () => {
  await rx.start();
  sb = await startJiraSandbox({ seed: exampleSeed(), webhookSecret: SECRET, webhookRetryDelaysMs: [5, 5, 5, 5, 5] });
});

beforeEach(() => {
  for (const w of sb.webhooks.list()) sb.webhooks.unregister(w.id);
  rx.received.length = 0;
  rx.script = [];
});

after(async () => {
  await sb?.stop();
  await rx.stop();
});

/** Verifies `X-Hub-Signature` the way a receiver must: HMAC of the raw bytes, timing-safe. */
function signatureValid(r: Received, secret: string): boolean {
  const header = String(r.headers['x-hub-signature'] ?? '');
  const expected = `sha256=${createHmac('sha256', secret).update(r.raw).digest('hex')}`;
  return header.length === expected.length && timingSafeEqual(Buffer.from(header), Buffer.from(expected));
}

const systemKeys = (fields: Record<string, unknown>) => Object.keys(fields).filter((k) => !k.startsWith('customfield_')).sort();

test('signature: the documented test vector', () => {
  assert.equal(signWebhookBody(SECRET, 'Hello World!'), 'sha256=a4771c39fbe90f317c7824e83ddef3caae9cb3d976c214ace1f2937e133263c9');
});

test('issue_created: v2 payload shaped like the real Jira Cloud delivery, signed, with Jira headers', async () => {
  sb.registerWebhook({ url: rx.url });
  const issue = sb.as(PEOPLE.developer).createIssue({ project: 'INFRA', issueType: 'Infrastructure request', summary: 'Orders database', description: 'Need a **database**' });
  await sb.webhooksIdle();
  const [got] = rx.byEvent('jira:issue_created');
  assert.ok(got, 'an issue_created delivery arrived');
  const p = got.json;

  assert.deepEqual(Object.keys(p).sort(), Object.keys(realDelivery).sort(), 'top-level keys');
  assert.deepEqual(Object.keys(p.issue).sort(), Object.keys(realDelivery.issue).sort(), 'issue keys');
  assert.deepEqual(Object.keys(p.user).sort(), Object.keys(realDelivery.user).sort(), 'user keys');
  assert.deepEqual(systemKeys(p.issue.fields), systemKeys(realDelivery.issue.fields), 'system fields of the issue');
  assert.deepEqual(Object.keys(p.changelog).sort(), Object.keys(realDelivery.changelog).sort(), 'changelog keys');
  const itemKeys = (i: Record<string, unknown>) => Object.keys(i).filter((k) => !k.startsWith('tmp')).sort();
  assert.deepEqual(itemKeys(p.changelog.items[0]), itemKeys(realDelivery.changelog.items[0]), 'changelog item keys');
  for (const k of ['status', 'issuetype', 'project', 'reporter', 'creator', 'priority']) {
    assert.deepEqual(Object.keys(p.issue.fields[k] ?? {}).sort(), Object.keys(realDelivery.issue.fields[k]).sort(), `${k} keys`);
  }

  assert.equal(p.webhookEvent, 'jira:issue_created');
  assert.equal(p.issue_event_type_name, 'issue_created');
  assert.equal(typeof p.timestamp, 'number');
  assert.equal(p.user.accountId, PEOPLE.developer);
  assert.equal(p.issue.key, issue.key);
  assert.equal(p.issue.fields.description, 'Need a **database**', 'webhook bodies are v2: plain text, not ADF');
  assert.match(p.issue.self, /\/rest\/api\/2\//);
  assert.ok(p.changelog.items.some((i: { fieldId: string; toString: string }) => i.fieldId === 'status' && i.toString === 'Open'));

  assert.ok(signatureValid(got, SECRET), 'X-Hub-Signature verifies with the secret');
  assert.ok(!signatureValid(got, 'another secret'));
  for (const h of ['user-agent', 'content-type', 'accept', 'x-atlassian-webhook-flow', 'x-atlassian-webhook-identifier']) {
    assert.equal(typeof got.headers[h], 'string', `${h} present as in the real delivery`);
  }
  assert.equal(got.headers['user-agent'], realHeaders['user-agent']);
  assert.equal(got.headers['content-type'], realHeaders['content-type']);
  assert.match(String(got.headers['x-atlassian-webhook-identifier']), /^\d+$/);
  assert.equal(got.headers['x-atlassian-webhook-retry'], undefined, 'first attempts carry no retry header');
});

test('transition, edit and comment produce issue_updated (with changelog) and comment_created', async () => {
  sb.registerWebhook({ url: rx.url });
  const dev = sb.as(PEOPLE.developer);
  const issue = dev.createIssue({ project: 'INFRA', issueType: 'Infrastructure request', summary: 'Cache' });
  sb.as(PEOPLE.approver).transition(issue.key, 'Planned');
  dev.edit(issue.key, { summary: 'Cache (staging)' });
  dev.comment(issue.key, '/plan');
  await sb.webhooksIdle();

  const updates = rx.byEvent('jira:issue_updated');
  const transition = updates.find((u) => u.json.issue_event_type_name === 'issue_generic');
  assert.ok(transition);
  assert.equal(transition.json.user.accountId, PEOPLE.approver, 'the user is who moved the issue');
  assert.deepEqual(
    transition.json.changelog.items.find((i: { fieldId: string }) => i.fieldId === 'status'),
    { field: 'status', fieldtype: 'jira', fieldId: 'status', from: sb.state.statusByName('Open')?.id, fromString: 'Open', to: sb.state.statusByName('Planned')?.id, toString: 'Planned' },
  );
  assert.equal(transition.json.issue.fields.status.name, 'Planned', 'the issue is rendered as it was after the change');

  const edit = updates.find((u) => u.json.issue_event_type_name === 'issue_updated');
  assert.deepEqual(
    edit?.json.changelog.items.map((i: { fieldId: string; fromString: string; toString: string }) => [i.fieldId, i.fromString, i.toString]),
    [['summary', 'Cache', 'Cache (staging)']],
  );

  const [comment] = rx.byEvent('comment_created');
  assert.ok(comment);
  assert.equal(comment.json.comment.body, '/plan', 'v2 comment bodies are text');
  assert.equal(comment.json.comment.author.accountId, PEOPLE.developer);
  assert.equal(comment.json.issue.key, issue.key);
  assert.ok(updates.some((u) => u.json.issue_event_type_name === 'issue_commented' && u.json.comment?.id === comment.json.comment.id));
  assert.ok(rx.received.every((r) => signatureValid(r, SECRET)));
  const ids = rx.received.map((r) => r.headers['x-atlassian-webhook-identifier']);
  assert.equal(new Set(ids).size, ids.length, 'every delivery has its own identifier');
});

test('API changes send webhooks too, as the API user (the service sees its own comments)', async () => {
  sb.registerWebhook({ url: rx.url, events: ['comment_created'] });
  const issue = sb.as(PEOPLE.developer).createIssue({ project: 'INFRA', issueType: 'Infrastructure request', summary: 'x' });
  const res = await axios.post(
    `${sb.url}/rest/api/3/issue/${issue.key}/comment`,
    { body: { type: 'doc', version: 1, content: [{ type: 'paragraph', content: [{ type: 'text', text: 'plan' }] }] } },
    { headers: { Authorization: sb.authorization } },
  );
  assert.equal(res.status, 201);
  await sb.webhooksIdle();
  assert.equal(rx.received.length, 1, 'the events filter keeps only comment_created');
  assert.equal(rx.received[0]?.json.comment.author.accountId, sb.apiUser.accountId);
});

test('retries: 5xx and 429 are retried with the same identifier and an incremented retry header', async () => {
  sb.registerWebhook({ url: rx.url, events: ['jira:issue_created'] });
  rx.script = [503, 429, 500, 200];
  sb.as(PEOPLE.developer).createIssue({ project: 'INFRA', issueType: 'Infrastructure request', summary: 'retry me' });
  await sb.webhooksIdle();
  assert.equal(rx.received.length, 4);
  const ids = new Set(rx.received.map((r) => r.headers['x-atlassian-webhook-identifier']));
  assert.equal(ids.size, 1, 'one identifier across retries: the dedupe key');
  assert.deepEqual(rx.received.map((r) => r.headers['x-atlassian-webhook-retry']), [undefined, '1', '2', '3']);
  assert.ok(new Set(rx.received.map((r) => r.raw.toString())).size === 1, 'the same bytes each time');
  assert.ok(rx.received.every((r) => signatureValid(r, SECRET)));
  const delivery = sb.deliveries().at(-1);
  assert.equal(delivery?.outcome, 'delivered');
  assert.deepEqual(delivery?.attempts.map((a) => a.status), [503, 429, 500, 200]);
});

test('retries: other 4xx are not retried; persistent failure stops after 5 retries', async () => {
  sb.registerWebhook({ url: rx.url, events: ['jira:issue_created'] });
  rx.script = [400];
  sb.as(PEOPLE.developer).createIssue({ project: 'INFRA', issueType: 'Infrastructure request', summary: 'bad request' });
  await sb.webhooksIdle();
  assert.equal(rx.received.length, 1);
  assert.equal(sb.deliveries().at(-1)?.outcome, 'failed');

  rx.received.length = 0;
  rx.script = Array(10).fill(500);
  sb.as(PEOPLE.developer).createIssue({ project: 'INFRA', issueType: 'Infrastructure request', summary: 'always failing' });
  await sb.webhooksIdle();
  assert.equal(rx.received.length, 1 + MAX_WEBHOOK_RETRIES);
  assert.equal(rx.received.at(-1)?.headers['x-atlassian-webhook-retry'], String(MAX_WEBHOOK_RETRIES));
  assert.equal(sb.deliveries().at(-1)?.outcome, 'gave-up');
});

test('retries: a refused connection is retried until the receiver is up', async () => {
  const probe = new Receiver();
  await probe.start();
  const url = probe.url;
  await probe.stop();
  sb.registerWebhook({ url, events: ['jira:issue_created'] });
  sb.as(PEOPLE.developer).createIssue({ project: 'INFRA', issueType: 'Infrastructure request', summary: 'nobody home' });
  await sb.webhooksIdle();
  const d = sb.deliveries().at(-1);
  assert.equal(d?.outcome, 'gave-up');
  assert.equal(d?.attempts.length, 1 + MAX_WEBHOOK_RETRIES);
  assert.ok(d?.attempts.every((a) => a.status === undefined && a.error));
});

test('filters: JQL restricts deliveries to matching issues; unsigned when the secret is empty', async () => {
  const reg = await axios.post(`${sb.url}/_sandbox/webhooks`, { url: rx.url, secret: '', events: ['jira:issue_created'], jql: 'project = OPS AND issuetype = "Infrastructure request"' });
  assert.equal(reg.status, 201);
  sb.as(PEOPLE.developer).createIssue({ project: 'INFRA', issueType: 'Infrastructure request', summary: 'not for this hook' });
  const act = await axios.post(`${sb.url}/_sandbox/act`, { as: PEOPLE.developer, action: 'create', project: 'OPS', issueType: 'Infrastructure request', summary: 'for this hook' });
  assert.equal(act.status, 201);
  await sb.webhooksIdle();
  assert.equal(rx.received.length, 1);
  assert.equal(rx.received[0]?.json.issue.key, act.data.key);
  assert.equal(rx.received[0]?.headers['x-hub-signature'], undefined);
  const listed = await axios.get(`${sb.url}/_sandbox/webhooks`);
  assert.equal(listed.data[0].signed, false);
  assert.equal(JSON.stringify(listed.data).includes(SECRET), false, 'secrets are never listed');
});

test('control endpoint /_sandbox/act: a developer files, an approver approves in JSM', async () => {
  sb.registerWebhook({ url: rx.url });
  const post = (body: Record<string, unknown>) => axios.post(`${sb.url}/_sandbox/act`, body, { validateStatus: () => true });
  const created = await post({ as: PEOPLE.developer, action: 'create', project: 'OPS', issueType: 'Infrastructure request', summary: 'db' });
  const key = created.data.key;
  assert.equal((await post({ as: PEOPLE.developer, action: 'transition', issue: key, to: 'Planned' })).status, 200);
  assert.equal((await post({ as: PEOPLE.developer, action: 'transition', issue: key, to: 'Done' })).status, 400, 'not a workflow move');
  await post({ as: PEOPLE.developer, action: 'transition', issue: key, to: 'Awaiting approval' });
  assert.equal((await post({ as: PEOPLE.outsider, action: 'approve', issue: key })).status, 403);
  assert.equal((await post({ as: PEOPLE.approver, action: 'approve', issue: key })).status, 200);
  await sb.webhooksIdle();
  const last = rx.byEvent('jira:issue_updated').at(-1);
  assert.equal(last?.json.user.accountId, PEOPLE.approver);
  assert.equal(last?.json.issue.fields.status.name, 'Approved');
});
