/**
 * `npm run sandbox -- --surface jira|servicenow`, run as a developer runs it: the printed
 * settings reach the sandbox, its signed webhooks reach the printed service URL and pass the
 * service's own checks with the printed secret, and SIGTERM stops it with exit 0.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { verifyJiraSignature } from '../../src/surfaces/jira/webhook.ts';
import { verifyServiceNowDelivery } from '../../src/surfaces/servicenow/webhook.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** A running `npm run sandbox`, with what it printed. */
interface SandboxCommand {
  out: string;
  /** The `export NAME=value` lines. */
  env: Record<string, string>;
  /** SIGTERM, then how the command exited. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((res) => child.once('exit', (code, signal) => res({ code, signal })));
}

/** Runs `npm run sandbox -- <args>` until it has printed its instructions. */
async function sandboxCommand(args: string[]): Promise<SandboxCommand> {
  const child = spawn('npm', ['run', '--silent', 'sandbox', '--', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const exit = exited(child);
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => void (err += d.toString()));
  await new Promise<void>((res, rej) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('Ctrl-C stops the sandbox')) res();
    });
    void exit.then(({ code }) => rej(new Error(`npm run sandbox exited ${code} before it was ready: ${out}${err}`)));
  });
  const env = Object.fromEntries([...out.matchAll(/^ {2}export (\w+)=(\S+)$/gm)].map((m) => [m[1]!, m[2]!]));
  return {
    out,
    env,
    stop: async () => {
      child.kill('SIGTERM');
      return exit;
    },
  };
}

/** Runs `npm run sandbox -- <args>` to its end. */
async function sandboxCommandResult(args: string[]): Promise<{ code: number | null; err: string }> {
  const child = spawn('npm', ['run', '--silent', 'sandbox', '--', ...args], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => void (err += d.toString()));
  const { code } = await exited(child);
  return { code, err };
}

/** One webhook delivery as the service received it. */
interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** A stand-in for the service that records the webhooks it receives and answers 202. */
async function fakeService(): Promise<{ url: string; received: Received[]; next(): Promise<Received>; close(): Promise<void> }> {
  const received: Received[] = [];
  const waiting: ((r: Received) => void)[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r = { path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) };
      received.push(r);
      waiting.shift()?.(r);
      res.writeHead(202).end();
    });
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', () => res()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    next: () => new Promise((res) => (received.length ? res(received.shift()!) : waiting.push(res))),
    close: () => new Promise((res) => server.close(() => res())),
  };
}

/** The JSON body and URL of the printed `curl ... /_sandbox/act -d '<json>'` command. */
function printedAct(out: string): { url: string; body: string } {
  const m = /curl -s -X POST (\S+) -H 'content-type: application\/json' -d '([^']+)'/.exec(out);
  assert.ok(m, `a curl command in ${out}`);
  return { url: m[1]!, body: m[2]! };
}

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

test('jira: the printed credentials log in, the printed ticket command sends a webhook the service accepts, SIGTERM exits 0', { timeout: 60_000 }, async () => {
  const service = await fakeService();
  const sandbox = await sandboxCommand(['--surface', 'jira', '--port', '0', '--service-url', service.url]);
  try {
    const { JIRA_BASE_URL, JIRA_EMAIL, JIRA_API_TOKEN, JIRA_WEBHOOK_SECRET } = sandbox.env;
    assert.match(JIRA_BASE_URL!, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.match(sandbox.out, new RegExp(`listening on ${JIRA_BASE_URL}$`, 'm'));
    assert.match(sandbox.out, /^ {2}npx ticket-surface forms sync --surface jira$/m);
    assert.match(sandbox.out, /^ {2}npm start$/m);
    const me = await fetch(`${JIRA_BASE_URL}/rest/api/3/myself`, { headers: { authorization: basic(JIRA_EMAIL!, JIRA_API_TOKEN!) } });
    assert.equal(me.status, 200);
    assert.equal(((await me.json()) as { emailAddress: string }).emailAddress, JIRA_EMAIL);

    const act = printedAct(sandbox.out);
    const filed = await fetch(act.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: act.body });
    assert.equal(filed.status, 201);
    const delivery = await service.next();
    assert.equal(delivery.path, '/webhooks/jira');
    assert.doesNotThrow(() => verifyJiraSignature(delivery.body, delivery.headers['x-hub-signature'] as string, JIRA_WEBHOOK_SECRET!));
    assert.equal((JSON.parse(delivery.body.toString()) as { webhookEvent: string }).webhookEvent, 'jira:issue_created');
  } finally {
    assert.deepEqual(await sandbox.stop(), { code: 0, signal: null });
    await service.close();
  }
});

test('servicenow: the printed credentials log in, an order sends a Business Rule webhook the service accepts, SIGTERM exits 0', { timeout: 60_000 }, async () => {
  const service = await fakeService();
  const sandbox = await sandboxCommand(['--surface', 'servicenow', '--port', '0', '--service-url', service.url]);
  try {
    const { SERVICENOW_INSTANCE_URL: url, SERVICENOW_USER, SERVICENOW_PASSWORD, SERVICENOW_WEBHOOK_SECRET } = sandbox.env;
    assert.match(url!, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.match(sandbox.out, /^ {2}npx ticket-surface forms sync --surface servicenow$/m);
    const auth = { authorization: basic(SERVICENOW_USER!, SERVICENOW_PASSWORD!), 'content-type': 'application/json', accept: 'application/json' };
    const users = await fetch(`${url}/api/now/table/sys_user?sysparm_query=user_name=dana.developer`, { headers: auth });
    assert.equal(users.status, 200);
    assert.equal(((await users.json()) as { result: unknown[] }).result.length, 1);

    // The item `forms sync` would create, made by hand here so the printed order has something to order.
    const item = await fetch(`${url}/api/now/table/sc_cat_item`, { method: 'POST', headers: auth, body: JSON.stringify({ name: 'Infrastructure question', active: 'true' }) });
    assert.equal(item.status, 201);
    const act = printedAct(sandbox.out);
    const ordered = await fetch(act.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: act.body });
    assert.equal(ordered.status, 201, await ordered.clone().text());
    const delivery = await service.next();
    assert.equal(delivery.path, '/webhooks/servicenow');
    const event = verifyServiceNowDelivery(delivery.headers as Record<string, string>, delivery.body, { secret: SERVICENOW_WEBHOOK_SECRET! });
    assert.equal(event.event, 'ritm.inserted');
  } finally {
    assert.deepEqual(await sandbox.stop(), { code: 0, signal: null });
    await service.close();
  }
});

test('by default webhooks go to the service on 127.0.0.1:8080; a bad command line exits 2 with the usage', { timeout: 60_000 }, async () => {
  const sandbox = await sandboxCommand(['--surface', 'jira', '--port', '0']);
  assert.match(sandbox.out, /^http:\/\/127\.0\.0\.1:8080\/webhooks\/jira /m);
  assert.doesNotMatch(sandbox.out, /export PORT=/);
  assert.deepEqual(await sandbox.stop(), { code: 0, signal: null });

  const bad = await sandboxCommandResult(['--surface', 'email']);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /--surface must be jira or servicenow/);
  assert.match(bad.err, /default 8081 for jira, 8082 for servicenow; 0 picks a free port/);
  assert.equal((await sandboxCommandResult(['--surface', 'jira', '--port', 'many'])).code, 2);
});
