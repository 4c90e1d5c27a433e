/**
 * The hostile-input campaign: hundreds of generated inputs against each webhook and the API
 * (bad signatures, oversize and deeply nested bodies, invalid UTF-8, prototype keys, shell code,
 * header floods; on the API also missing, malformed, unknown, tampered, revoked and expired
 * credentials, each a 401 saying what was wrong, and a reader's token on the writes, a 403).
 * Every answer must be a 4xx (or, for input the service may take as data, at least not a 5xx),
 * nothing may crash, and a good call still works afterwards. Shell code in a param reaches a
 * step only as data. Last, a secret canary set at provision time is searched for everywhere
 * people or machines can read: ticket comments and work notes, every log line (debug), every
 * API answer, the audit log and a raw dump of Redis (the API token of the calls too).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import axios from 'axios';
import { conversation, waitFor } from '../../src/demo/story-steps.ts';
import { askQuestion, workNotes } from '../../src/demo/servicenow-steps.ts';
import type { Request } from '../../src/engine/model.ts';
import { PEOPLE as JIRA_PEOPLE } from '../../sandbox/jira/index.ts';
import { PEOPLE as SN_PEOPLE } from '../../sandbox/servicenow/example-seed.ts';
import { dumpRedis } from '../helpers/secrets.ts';
import { startHostileWorld, syncForms, type HostileWorld } from './hostile-world.ts';
import { apiInputs, jiraPayloads, serviceNowPayloads, webhookInputs, type HostileInput } from './hostile-inputs.ts';

let world: HostileWorld;
/** Every API answer of this file, for the canary search. */
const answers: string[] = [];
const ctx = { actor: 'platform-admin', surface: 'cli' as const };

before(async () => {
  world = await startHostileWorld();
  const { engine } = world.runtime.opened;
  await engine.createProject({ id: 'checkout', name: 'Checkout' }, ctx);
  await engine.createEnvironment({ project: 'checkout', name: 'dev', labels: { production: false } }, ctx);
  await syncForms(world);
});
after(async () => {
  await world?.close();
});

/** Sends one input; the HTTP status and the answer, or the network error's code when no answer came. */
async function send(input: HostileInput): Promise<{ status: number | string; text: string }> {
  try {
    const res = await axios.request({
      baseURL: world.url,
      url: input.path,
      method: input.method,
      headers: input.headers,
      ...(input.body ? { data: input.body } : {}),
      transformRequest: [(d: unknown) => d],
      responseType: 'text',
      transformResponse: [(d: unknown) => d],
      validateStatus: () => true,
      maxBodyLength: Infinity,
      maxContentLength: Infinity,
    });
    answers.push(String(res.data));
    return { status: res.status, text: String(res.data) };
  } catch (err) {
    return { status: (err as { code?: string }).code ?? String(err), text: '' };
  }
}

/** Whether an answer is the one `input` expects (see {@link HostileInput.expect}). */
function answeredAsDue(input: HostileInput, status: number | string, text: string): boolean {
  // A header block over Node's limit is answered 431 and the connection closed at once; a client
  // still sending a large body then sees the reset instead of the answer.
  if (status === 'ECONNRESET' && input.name.endsWith(' hugeHeader')) return true;
  if (typeof status !== 'number' || status >= 500) return false;
  if (input.expect === 'not5xx') return true;
  if (input.expect === '4xx') return status >= 400;
  return status === input.expect.status && input.expect.message.test(text);
}

/**
 * Runs a campaign; returns the inputs answered wrongly (a 5xx, no answer, or not a 4xx where one
 * was due), and every error the service logged meanwhile (a job that failed as a system error:
 * a hostile input must be refused, not retried as if the service had broken).
 */
async function campaign(inputs: HostileInput[]): Promise<string[]> {
  const logged = world.logs.length;
  const wrong: string[] = [];
  for (const input of inputs) {
    const { status, text } = await send(input);
    if (!answeredAsDue(input, status, text)) wrong.push(`${input.name}: ${status} ${text.slice(0, 200)}`);
  }
  // Signed deliveries were queued: let the workers take them all before reading the log.
  await waitFor(async () => {
    const c = await world.runtime.queues.intake.getJobCounts('waiting', 'active');
    return (c.waiting ?? 0) + (c.active ?? 0) === 0 ? true : undefined;
  }, 'the intake queue drained', 120_000);
  for (const line of world.logs.slice(logged)) if (JSON.parse(line).level >= 50) wrong.push(`logged: ${line.slice(0, 300)}`);
  return wrong;
}

function assertNotPolluted(): void {
  const probe = {} as Record<string, unknown>;
  assert.equal(probe.polluted, undefined, 'Object.prototype was polluted');
  assert.equal(probe.isAdmin, undefined, 'Object.prototype was polluted');
}

test('Jira webhook: 200+ hostile deliveries are refused with a 4xx (or taken as data), never a 5xx; a real issue is still answered', { timeout: 300_000 }, async () => {
  const inputs = webhookInputs({ path: '/webhooks/jira', signatureHeader: 'x-hub-signature', deliveryHeader: 'x-atlassian-webhook-identifier', secret: world.jiraSecret, payloads: jiraPayloads(join(world.scratch, 'jira-marker')), checksBody: false });
  assert.ok(inputs.length >= 200, `${inputs.length} inputs`);
  assert.deepEqual(await campaign(inputs), []);
  assertNotPolluted();
  const issue = world.jira.as(JIRA_PEOPLE.developer).createIssue({ project: 'INFRA', issueType: 'Infrastructure request', summary: 'After the campaign' });
  await waitFor(() => conversation(world.jira, issue.key).find((c) => /cannot be planned/.test(c.text)), 'the answer to a real issue', 60_000);
  assert.ok(!existsSync(join(world.scratch, 'jira-marker')));
});

test('ServiceNow webhook: 200+ hostile deliveries are refused with a 4xx (or taken as data), never a 5xx; a real question is still answered', { timeout: 300_000 }, async () => {
  const inputs = webhookInputs({ path: '/webhooks/servicenow', signatureHeader: 'x-servicenow-signature', secret: world.servicenowSecret, payloads: serviceNowPayloads(join(world.scratch, 'sn-marker')), checksBody: true });
  assert.ok(inputs.length >= 200, `${inputs.length} inputs`);
  assert.deepEqual(await campaign(inputs), []);
  assertNotPolluted();
  const ritm = await askQuestion({ sandbox: world.servicenow, runtime: world.runtime } as never, SN_PEOPLE.developer, { query: 'waiting' });
  await waitFor(() => workNotes(world.servicenow, ritm.sysId).find((n) => /^question:/.test(n.key ?? '')), 'the answer to a real question', 60_000);
  assert.ok(!existsSync(join(world.scratch, 'sn-marker')));
});

test('API: 200+ hostile calls on every route are answered with a 4xx (or taken as data), never a 5xx; a good call still works', { timeout: 300_000 }, async () => {
  const inputs = apiInputs(world.credentials, join(world.scratch, 'api-marker'));
  assert.ok(inputs.length >= 200, `${inputs.length} inputs`);
  const refusals = inputs.filter((i) => typeof i.expect === 'object');
  assert.ok(refusals.length >= 100, `${refusals.length} refused credentials`);
  for (const name of ['missing', 'expired', 'revoked', 'tampered']) assert.ok(refusals.some((i) => i.name.includes(` ${name} `)), `${name} credentials are among the inputs`);
  assert.deepEqual(await campaign(inputs), []);
  assertNotPolluted();
  assert.equal((await world.api.get('/healthz')).status, 200);
  const good = await world.api.post('/v1/projects', { id: 'after-campaign' });
  assert.equal(good.status, 201, JSON.stringify(good.data));
  assert.ok(!existsSync(join(world.scratch, 'api-marker')));
});

/** Files a request through the API (good credentials) and waits for the workflow to finish with it. */
async function fileAndWait(body: Record<string, unknown>): Promise<Request> {
  const filed = await world.api.post('/v1/requests', { project: 'checkout', environment: 'dev', ...body });
  answers.push(JSON.stringify(filed.data));
  assert.equal(filed.status, 202, JSON.stringify(filed.data));
  return waitFor(async () => {
    const r = await world.runtime.opened.engine.requests.get(filed.data.id);
    return ['applied', 'failed', 'rejected', 'invalid'].includes(r.state) ? r : undefined;
  }, `request ${filed.data.id}`, 60_000);
}

test('shell metacharacters in params reach the step only as data: the params file holds them literally, nothing ran', { timeout: 300_000 }, async () => {
  const shapes = ['$(touch M)', '`touch M`', '; touch M', '&& touch M', '| touch M', '\ntouch M\n', "'; touch M; '", '"; touch M; "', '$(IFS=_;touch${IFS}M)', '>(touch M)', '${touch M}', '%0atouch M', '\\`touch M\\`'];
  const cases = shapes.map((shape, i) => ({ pkg: `shell-${i}`, marker: join(world.scratch, `shell-marker-${i}`), label: shape.replace(/M/g, join(world.scratch, `shell-marker-${i}`)) }));
  const done = await Promise.all(cases.map((c) => fileAndWait({ bundle: 'secret-probe', package: c.pkg, params: { label: c.label } })));
  for (const [i, r] of done.entries()) {
    const c = cases[i]!;
    assert.equal(r.state, 'applied', `${c.label}: ${JSON.stringify(r.error ?? r.issues)}`);
    const params = JSON.parse(await readFile(join(world.probeOut, `${c.pkg}.params.json`), 'utf8'));
    assert.equal(params.label, c.label, 'the step got the value literally');
    assert.ok(!existsSync(c.marker), `${c.label} was executed`);
  }
});

test('a sensitive value set at provision time is in no comment, work note, log line, API answer, audit event or Redis value', { timeout: 300_000 }, async () => {
  const { engine } = world.runtime.opened;
  const canary = `canary-${randomBytes(12).toString('hex')}`;
  // A cache through Jira (its password is generated), then a package with the canary connected to it.
  const ids = await world.runtime.ids.all('jira');
  const fields = { [ids['request/bundle']!]: { value: 'redis-cache' }, [ids['request/environment']!]: { value: 'dev' }, [ids['request/package']!]: 'cache', [ids['redis-cache/key_prefix']!]: 'cache' };
  const cacheIssue = world.jira.as(JIRA_PEOPLE.developer).createIssue({ project: 'INFRA', issueType: 'Infrastructure request', summary: 'A cache', fields });
  await waitFor(async () => ((await engine.requests.forOrigin('jira', cacheIssue.key)).some((r) => r.state === 'applied') ? true : undefined), 'the cache applied', 60_000);
  const artifact = (await engine.getPackage('checkout-dev-cache', { reveal: true })).artifacts.authentication!.data as { authentication: { password: string } };
  const cachePassword = artifact.authentication.password;
  const created = await world.api.post('/v1/packages', { project: 'checkout', environment: 'dev', name: 'canary', bundle: 'secret-probe', params: { label: 'canary', api_secret: canary }, connections: { cache: { package: 'checkout-dev-cache', artifact: 'authentication' } } });
  answers.push(JSON.stringify(created.data));
  assert.equal(created.status, 201, JSON.stringify(created.data));
  const applied = await fileAndWait({ kind: 'update', bundle: 'secret-probe', package: 'canary', params: { label: 'canary' } });
  assert.equal(applied.state, 'applied', JSON.stringify(applied.error ?? applied.issues));
  assert.equal(JSON.parse(await readFile(join(world.probeOut, 'canary.params.json'), 'utf8')).api_secret, canary, 'the step got the secret');
  assert.equal(JSON.parse(await readFile(join(world.probeOut, 'canary.connections.json'), 'utf8')).cache.data.authentication.password, cachePassword);

  // Everyone asks about the package: in Jira, in ServiceNow, through the API.
  world.jira.as(JIRA_PEOPLE.developer).comment(cacheIssue.key, '/ask package checkout-dev-canary');
  world.jira.as(JIRA_PEOPLE.developer).comment(cacheIssue.key, '/ask who-changed checkout-dev-canary');
  await waitFor(() => (conversation(world.jira, cacheIssue.key).filter((c) => /checkout-dev-canary/.test(c.text)).length >= 2 ? true : undefined), 'the Jira answers', 60_000);
  const ritm = await askQuestion({ sandbox: world.servicenow, runtime: world.runtime } as never, SN_PEOPLE.developer, { query: 'who-changed', arguments: 'checkout-dev-canary' });
  await waitFor(() => workNotes(world.servicenow, ritm.sysId).find((n) => /^question:/.test(n.key ?? '')), 'the ServiceNow answer', 60_000);
  for (const path of ['/v1/packages/checkout-dev-canary', '/v1/packages/checkout-dev-cache', '/v1/packages', '/v1/requests', `/v1/requests/${applied.id}`, '/v1/audit?limit=1000', '/v1/queries/package?id=checkout-dev-canary', '/v1/queries/who-changed?package=checkout-dev-canary']) {
    const res = await world.api.get(path, { responseType: 'text', transformResponse: [(d: unknown) => d] });
    assert.equal(res.status, 200, `${path}: ${res.data}`);
    answers.push(String(res.data));
  }

  const places: Record<string, string> = {
    'Jira issues': JSON.stringify([...world.jira.state.issues.values()].map((i) => ({ summary: i.summary, comments: i.comments, fields: i.customFields, properties: [...i.properties.entries()], attachments: i.attachments.map((a) => a.content.toString('utf8')) }))),
    'ServiceNow journal': JSON.stringify(world.servicenow.state.all('sys_journal_field')),
    'log lines': world.logs.join(''),
    'API answers': answers.join('\n'),
    'audit log': JSON.stringify(await engine.listAudit({ limit: 5000 })),
    'Redis (outside sealed values)': (await dumpRedis(world.runtime.opened.redis.redis)).replace(/enc:v1:[0-9a-f]+:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+/g, ''),
  };
  assert.ok(world.logs.length > 0, 'log lines were captured');
  const apiToken = world.credentials.good.authorization!.replace(/^Bearer /, '');
  for (const [place, text] of Object.entries(places)) {
    for (const [what, secret] of [['the sensitive param', canary], ['the artifact password', cachePassword], ['the Jira API token', world.jira.credentials.apiToken], ['the ServiceNow password', world.servicenow.credentials.password], ['the API token of the calls', apiToken]] as const) {
      if (place.startsWith('Jira') && what === 'the Jira API token') continue;
      assert.equal(text.split(secret).length - 1, 0, `${what} found in ${place}`);
    }
  }
});
