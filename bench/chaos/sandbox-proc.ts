/**
 * One sandbox of the chaos harness in its own process: `--surface jira|servicenow --service-url URL`.
 *
 * - The Jira or ServiceNow sandbox (example site, in memory) on a free port, behind a loopback
 *   proxy the service talks to. While `flaky` is on, the proxy answers 30 % of API calls with 429
 *   (`Retry-After: 1`) or 503 instead of passing them on.
 * - Its webhooks go to a fan-out in this process that answers the sandbox at once and delivers
 *   every webhook to the service three times, each copy after its own random delay (so copies
 *   and deliveries arrive out of order), each retried until the service takes it.
 * - Harness control on the proxy's port under `/chaos/`: `POST file` (a ticket as the developer),
 *   `POST flaky {on}`, `GET report` (what the sandbox holds: per ticket, its status, the service's
 *   comments or work notes by marker).
 *
 * Prints one line `ready <json>` (its URL and the service's environment) when up.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { startJiraSandbox, exampleSeed as jiraSeed, PEOPLE as JIRA_PEOPLE, type JiraSandbox } from '../../sandbox/jira/index.ts';
import { startServiceNowSandbox, type ServiceNowSandbox } from '../../sandbox/servicenow/servicenow-sandbox.ts';
import { exampleSeed as serviceNowSeed, PEOPLE as SN_PEOPLE } from '../../sandbox/servicenow/example-seed.ts';

const SECRET = 'chaos-webhook-secret-0123456789';
const { values } = parseArgs({ options: { surface: { type: 'string' }, 'service-url': { type: 'string' } } });
const surface = values.surface as 'jira' | 'servicenow';
const serviceUrl = String(values['service-url']).replace(/\/+$/, '');
let flaky = false;
const fan = { received: 0, delivered: 0 };

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Delivers one copy of a webhook to the service, retrying until it is taken (2xx) or refused (4xx other than 429). */
async function deliverCopy(path: string, headers: Record<string, string>, body: Buffer): Promise<void> {
  await sleep(Math.floor(Math.random() * 1500));
  const deadline = Date.now() + 180_000;
  while (Date.now() < deadline) {
    try {
      const r = await fetch(`${serviceUrl}${path}`, { method: 'POST', headers, body, signal: AbortSignal.timeout(10_000) });
      await r.arrayBuffer();
      if (r.status < 300 || (r.status >= 400 && r.status < 500 && r.status !== 429)) {
        fan.delivered += 1;
        return;
      }
    } catch {
      // the service is restarting or Redis is down: try again
    }
    await sleep(500);
  }
}

/** The fan-out endpoint the sandbox's webhooks point at. */
async function fanOut(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = await readBody(req);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (typeof v === 'string' && !['host', 'content-length', 'connection', 'transfer-encoding'].includes(k)) headers[k] = v;
  }
  fan.received += 1;
  res.writeHead(200).end();
  const path = `/webhooks/${surface}`;
  for (let i = 0; i < 3; i++) void deliverCopy(path, headers, body);
}

/** Passes an API call on to the sandbox, or (flaky, 30 %) answers 429 or 503 itself. */
async function proxy(req: IncomingMessage, res: ServerResponse, target: string): Promise<void> {
  const body = await readBody(req);
  const api = req.url!.startsWith('/rest') || req.url!.startsWith('/api');
  if (flaky && api && Math.random() < 0.3) {
    if (Math.random() < 0.5) res.writeHead(429, { 'retry-after': '1', 'content-type': 'application/json' }).end('{"errorMessages":["Rate limit exceeded."]}');
    else res.writeHead(503, { 'content-type': 'application/json' }).end('{"errorMessages":["Service unavailable."]}');
    return;
  }
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (typeof v === 'string' && !['host', 'content-length', 'connection', 'transfer-encoding'].includes(k)) headers[k] = v;
  }
  const r = await fetch(`${target}${req.url}`, { method: req.method, headers, ...(body.length ? { body } : {}) });
  const out = Buffer.from(await r.arrayBuffer());
  const outHeaders: Record<string, string> = {};
  r.headers.forEach((v, k) => {
    if (!['content-length', 'connection', 'transfer-encoding', 'content-encoding'].includes(k)) outHeaders[k] = v;
  });
  res.writeHead(r.status, outHeaders).end(out);
}

/** Jira: per issue, its status, and the service's comments by their property. */
function jiraReport(sb: JiraSandbox, refs: string[]): unknown[] {
  return refs.map((ref) => {
    const issue = sb.state.issue(ref);
    const statusComments: Record<string, number> = {};
    const eventKeys: Record<string, number> = {};
    for (const c of issue.comments) {
      const prop = (c.properties ?? []).find((p: { key: string }) => p.key === 'ticket-surface')?.value as { kind?: string; requestId?: string; key?: string } | undefined;
      if (prop?.kind === 'status') statusComments[prop.requestId!] = (statusComments[prop.requestId!] ?? 0) + 1;
      if (prop?.kind === 'event') eventKeys[prop.key!] = (eventKeys[prop.key!] ?? 0) + 1;
    }
    const status = sb.state.statuses.get(issue.statusId)?.name;
    return { ref, status, statusComments, eventKeys, comments: issue.comments.length };
  });
}

/** ServiceNow: per requested item, its state and the service's work notes by their marker. */
function serviceNowReport(sb: ServiceNowSandbox, refs: string[]): unknown[] {
  return refs.map((ref) => {
    const row = sb.state.mustGet('sc_req_item', ref);
    const noteKeys: Record<string, number> = {};
    for (const j of sb.state.journal(row, 'work_notes')) {
      const key = /ts:note:(\S+)\s*$/.exec(j.value ?? '')?.[1];
      if (key) noteKeys[key] = (noteKeys[key] ?? 0) + 1;
    }
    return { ref, state: sb.state.displayValue(row, 'state'), noteKeys };
  });
}

async function main(): Promise<void> {
  const fanServer = createServer((req, res) => void fanOut(req, res).catch(() => res.writeHead(500).end()));
  await new Promise<void>((r) => fanServer.listen(0, '127.0.0.1', r));
  const fanUrl = `http://127.0.0.1:${(fanServer.address() as AddressInfo).port}/`;
  const filed: string[] = [];
  let target: string;
  let env: Record<string, string>;
  let file: (b: Record<string, unknown>) => string;
  let report: () => unknown[];
  if (surface === 'jira') {
    const sb = await startJiraSandbox({ seed: jiraSeed(), webhookSecret: SECRET, webhookRetryDelaysMs: [200, 400, 800, 1600, 3200] });
    sb.registerWebhook({ url: fanUrl, events: ['jira:issue_created', 'jira:issue_updated', 'comment_created'] });
    target = sb.url;
    env = { JIRA_EMAIL: sb.credentials.email, JIRA_API_TOKEN: sb.credentials.apiToken, JIRA_WEBHOOK_SECRET: SECRET, JIRA_CONFIG_FILE: 'examples/jira-config.yaml' };
    file = (b) => sb.as(JIRA_PEOPLE.developer).createIssue({ project: 'INFRA', issueType: 'Infrastructure request', summary: String(b.summary), fields: b.fields as Record<string, unknown> }).key;
    report = () => jiraReport(sb, filed);
  } else {
    const { catalogItems: _handMade, ...seed } = serviceNowSeed();
    const sb = await startServiceNowSandbox({ seed, webhook: { url: fanUrl, secret: SECRET } });
    target = sb.url;
    env = { SERVICENOW_USER: sb.credentials.username, SERVICENOW_PASSWORD: sb.credentials.password, SERVICENOW_WEBHOOK_SECRET: SECRET, SERVICENOW_CONFIG_FILE: 'examples/servicenow-config.yaml' };
    file = (b) => sb.as(SN_PEOPLE.developer).order(String(b.item), { variables: b.variables as Record<string, unknown> }).ritm.sys_id!;
    report = () => serviceNowReport(sb, filed);
  }
  const server = createServer((req, res) => {
    void (async () => {
      if (req.url === '/chaos/file' && req.method === 'POST') {
        const ref = file(JSON.parse((await readBody(req)).toString('utf8')) as Record<string, unknown>);
        filed.push(ref);
        return json(res, 201, { ref });
      }
      if (req.url === '/chaos/flaky' && req.method === 'POST') {
        flaky = (JSON.parse((await readBody(req)).toString('utf8')) as { on: boolean }).on;
        return json(res, 200, { flaky });
      }
      if (req.url === '/chaos/report') return json(res, 200, { tickets: report(), fan });
      return proxy(req, res, target);
    })().catch((err: unknown) => {
      if (!res.headersSent) json(res, 500, { error: (err as Error).message });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  env[surface === 'jira' ? 'JIRA_BASE_URL' : 'SERVICENOW_INSTANCE_URL'] = url;
  process.stdout.write(`ready ${JSON.stringify({ url, env })}\n`);
  process.on('SIGTERM', () => process.exit(0));
}

await main();
