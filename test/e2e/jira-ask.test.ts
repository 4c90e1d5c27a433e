import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../../src/engine/logger.ts';
import { startStoryWorld, type StoryWorld } from '../../src/demo/story.ts';
import { conversation, waitFor } from '../../src/demo/story-steps.ts';
import { PEOPLE, STATUSES } from '../../sandbox/jira/index.ts';
import type { AuditEvent } from '../../src/engine/model.ts';

let world: StoryWorld;
const ctx = { actor: 'platform-admin', surface: 'cli' as const };
const SECRET = 'pw-Jira-9x!must-stay-out';
const QUERY_NAMES = ['most-expensive', 'where-runs', 'environment', 'who-changed', 'waiting', 'frozen', 'leases', 'package', 'drift'];
/** [project, env, package, bundle, version, monthly cost] */
const SEED: [string, string, string, string, string, number][] = [
  ['checkout', 'production', 'orders-db', 'postgres-database', '1.4.0', 620],
  ['checkout', 'production', 'cache', 'redis-cache', '1.0.0', 180],
  ['checkout', 'production', 'api', 'checkout-api', '2.13.2', 440],
  ['search', 'production', 'index', 'postgres-database', '1.4.0', 700],
  ['search', 'production', 'api', 'checkout-api', '2.14.0', 280],
  ['checkout', 'staging', 'orders-db', 'postgres-database', '1.4.0', 160],
  ['checkout', 'staging', 'api', 'checkout-api', '2.13.2', 150],
  ['billing', 'dev', 'ledger', 'postgres-database', '1.4.0', 12],
];

before(async () => {
  world = await startStoryWorld({ logger: createLogger('silent'), webhookRetryDelaysMs: [50, 100] });
  const { engine } = world.runtime.opened;
  for (const p of new Set(SEED.map((s) => s[0]))) await engine.createProject({ id: p }, ctx);
  for (const e of new Set(SEED.map((s) => `${s[0]}/${s[1]}`))) {
    const [project, name] = e.split('/') as [string, string];
    await engine.createEnvironment({ project, name }, ctx);
  }
  for (const [project, env, name, bundle, version, cost] of SEED) {
    await engine.inventory.createPackage({ environment: `${project}-${env}`, name, bundle, version, costMonthly: cost }, ctx);
  }
  await engine.inventory.modify('package', 'checkout-production-orders-db', (d) => {
    d.artifacts = { authentication: { data: { username: 'orders', password: SECRET } } };
    d.desiredParams = { admin_password: SECRET };
  }, ctx);
  await engine.attest('checkout-api', '2.14.0', 'qa-signed', 'quinn', ctx);
});
after(async () => {
  await world?.close();
});

type AdfNode = { type: string; text?: string; content?: AdfNode[] };

/** The first ADF table of a comment body, as rows of cell texts (the header row first). */
function tableOf(body: unknown): string[][] | undefined {
  const text = (n: AdfNode): string => (n.type === 'text' ? (n.text ?? '') : (n.content ?? []).map(text).join(''));
  const find = (n: AdfNode): AdfNode | undefined => (n.type === 'table' ? n : (n.content ?? []).map(find).find(Boolean));
  const table = find(body as AdfNode);
  return table?.content?.map((row) => (row.content ?? []).map((cell) => text(cell).trim()));
}

function commentsOf(key: string) {
  return world.sandbox.state.issue(key).comments;
}

async function status(key: string): Promise<string> {
  return world.runtime.jira!['deps'].client.getStatus(key);
}

async function asks(): Promise<AuditEvent[]> {
  return (await world.runtime.opened.engine.listAudit({ limit: 1000 })).filter((e) => e.action === 'query.ask');
}

/** The expected top stacks, computed from SEED. */
function ranking(): { stack: string; cost: number }[] {
  const by = new Map<string, number>();
  for (const [p, e, , , , c] of SEED) by.set(`${p} / ${e}`, (by.get(`${p} / ${e}`) ?? 0) + c);
  return [...by.entries()].map(([stack, cost]) => ({ stack, cost })).sort((a, b) => b.cost - a.cost);
}

test('/ask most-expensive --top 2 on any ticket is answered in a reply: an ADF table, who asked, how to get the rest', { timeout: 60_000 }, async () => {
  const sb = world.sandbox;
  const issue = sb.as(PEOPLE.developer).createIssue({ project: 'INFRA', issueType: 'Infrastructure request', summary: 'Cache for checkout' });
  // The request flow answers the ticket first (no bundle chosen); the question comes after.
  await waitFor(() => conversation(sb, issue.key).find((c) => /cannot be planned/.test(c.text)), 'the request reply');
  sb.as(PEOPLE.outsider).comment(issue.key, '/ask most-expensive --top 2');
  const reply = await waitFor(() => commentsOf(issue.key).find((c) => tableOf(c.body)), 'the answer comment');
  const table = tableOf(reply.body)!;
  const expected = ranking();
  assert.deepEqual(table[0], ['#', 'project / environment', 'cost/month', 'biggest packages']);
  assert.equal(table.length, 3, 'header and the top 2');
  assert.deepEqual(table.slice(1).map((r) => r[1]), expected.slice(0, 2).map((e) => e.stack));
  assert.equal(table[1]![2], '$1,240.00');
  assert.equal(table[1]![3], 'orders-db $620 · api $440 · cache $180');
  const text = conversation(sb, issue.key).find((c) => c.id === reply.id)!.text;
  assert.match(text, /^Most expensive stacks \(monthly estimate\) \(\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC\)/);
  assert.match(text, new RegExp(`Asked by Pat Product\\. ${expected.length - 2} more stacks: ticket-surface query most-expensive --top ${expected.length}`));
  assert.notEqual(reply.authorId, PEOPLE.outsider, 'answered by the service');

  const audited = (await asks()).filter((e) => e.actor === PEOPLE.outsider);
  assert.equal(audited.length, 1);
  assert.equal(audited[0]!.surface, 'jira');
  assert.deepEqual(audited[0]!.subject, { type: 'query', id: 'most-expensive' });
});

test('an Infrastructure question is answered from its summary and resolved', { timeout: 60_000 }, async () => {
  const sb = world.sandbox;
  const issue = sb.as(PEOPLE.developer).createIssue({ project: 'INFRA', issueType: 'Infrastructure question', summary: 'where-runs checkout-api' });
  const reply = await waitFor(() => commentsOf(issue.key).find((c) => tableOf(c.body)), 'the answer comment');
  const table = tableOf(reply.body)!;
  assert.deepEqual(table[0], ['project / environment', 'package', 'version', 'latest qa-signed', 'behind']);
  const rows = Object.fromEntries(table.slice(1).map((r) => [`${r[0]} ${r[1]}`, r[4]]));
  assert.equal(rows['checkout / production api'], '1 version behind');
  assert.equal(rows['search / production api'], 'up to date');
  assert.equal(table.length - 1, SEED.filter((s) => s[3] === 'checkout-api').length);
  await waitFor(async () => ((await status(issue.key)) === STATUSES.done ? true : undefined), 'the question resolved');
  assert.equal(commentsOf(issue.key).length, 1, 'one answer, nothing else');
  assert.equal((await world.runtime.opened.engine.requests.forOrigin('jira', issue.key)).length, 0, 'a question opens no request');
});

test('a question in words takes its query from the description; the answer holds no secret', { timeout: 60_000 }, async () => {
  const sb = world.sandbox;
  const issue = sb.as(PEOPLE.developer).createIssue({
    project: 'INFRA',
    issueType: 'Infrastructure question',
    summary: 'What runs in checkout production?',
    description: 'Please tell me.\nenvironment checkout production',
  });
  const reply = await waitFor(() => commentsOf(issue.key).find((c) => tableOf(c.body)), 'the answer comment');
  const table = tableOf(reply.body)!;
  assert.deepEqual(table.slice(1).map((r) => r[0]), ['orders-db', 'api', 'cache']);
  await waitFor(async () => ((await status(issue.key)) === STATUSES.done ? true : undefined), 'resolved');

  sb.as(PEOPLE.developer).comment(issue.key, '/ask package checkout-production-orders-db');
  await waitFor(() => (commentsOf(issue.key).filter((c) => tableOf(c.body)).length === 2 ? true : undefined), 'the package answer');
  for (const c of commentsOf(issue.key)) {
    const json = JSON.stringify(c.body);
    assert.ok(!json.includes(SECRET), 'a secret reached a comment');
    assert.ok(!json.includes('admin_password'));
  }
  assert.deepEqual(sb.violations(), []);
});

test('an unknown query or a bad argument is answered with the list of queries; a bad question waits in Needs info', { timeout: 60_000 }, async () => {
  const sb = world.sandbox;
  const issue = sb.as(PEOPLE.developer).createIssue({ project: 'INFRA', issueType: 'Infrastructure question', summary: 'cheapest stack please' });
  const refusal = await waitFor(() => conversation(sb, issue.key).find((c) => /✘/.test(c.text)), 'the refusal');
  assert.match(refusal.text, /unknown query "cheapest"/);
  for (const q of QUERY_NAMES) assert.match(refusal.text, new RegExp(`• ${q}\\b`));
  await waitFor(async () => ((await status(issue.key)) === STATUSES.needsInfo ? true : undefined), 'needs info');

  sb.as(PEOPLE.developer).comment(issue.key, '/ask most-expensive --top 0');
  const bad = await waitFor(() => conversation(sb, issue.key).find((c) => /--top must be at least 1/.test(c.text)), 'the bad-argument reply');
  assert.match(bad.text, /• where-runs <bundle> \[--top N\]/);

  // Fixing the summary answers the question and resolves it.
  sb.as(PEOPLE.developer).edit(issue.key, { summary: 'waiting' });
  await waitFor(() => commentsOf(issue.key).find((c) => tableOf(c.body)), 'the answer after the edit');
  await waitFor(async () => ((await status(issue.key)) === STATUSES.done ? true : undefined), 'resolved after the edit');
  assert.deepEqual(sb.violations(), []);
});
