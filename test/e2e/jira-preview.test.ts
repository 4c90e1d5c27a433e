/**
 * A preview environment from one Jira issue: `/stack preview-checkout pr-42` creates the
 * environment and applies its packages producers first (database, cache, then the application
 * connected to both), with ONE stack status comment; the lease is granted per policy, reminded
 * once, extended once (beyond the maximum refused naming the limit), and when it runs out on a
 * moved clock everything is destroyed for real, consumers first, and the issue is closed with
 * what the stack cost.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { StoryWorld } from '../../src/demo/story.ts';
import { conversation, waitFor } from '../../src/demo/story-steps.ts';
import { attestPreviewBundles, movableClock, requestPreviewStack, stackIn } from '../../src/demo/preview-steps.ts';
import { PEOPLE, STATUSES } from '../../sandbox/jira/index.ts';
import { QueryCatalog } from '../../src/workflow/queries.ts';
import { startStagingStory, storyPsql, STAGE_CTX } from '../helpers/jira-staging.ts';

const HOUR = 3600_000;
const clock = movableClock(new Date('2026-11-24T09:00:00Z'));
let world: StoryWorld;

before(async () => {
  world = await startStagingStory({ clock });
  await attestPreviewBundles(world, ['checkout-api']);
});
after(async () => {
  await world?.close();
});

const psql = (sql: string): Promise<string> => storyPsql(world, sql);
const aclUsers = async (): Promise<string[]> => (await world.runtime.opened.redis.redis.call('ACL', 'USERS')) as string[];
const statusComments = (key: string) => conversation(world.sandbox, key).filter((c) => /Stack preview-checkout/.test(c.text));

test('a stack that stops on a package says which failed and which are left, and /resume goes on from there', { timeout: 240_000 }, async () => {
  const sb = world.sandbox;
  const key = requestPreviewStack(world, 'pr-7');
  // checkout-api 2.14.0 is not qa-signed yet: its request is refused by policy, after its producers applied.
  const stopped = await waitFor(async () => (await world.runtime.opened.engine.stacks!.find('checkout-pr-7'))?.failed, 'the stop', 120_000);
  assert.equal(stopped.package, 'api');
  assert.match(stopped.message, /Only qa-signed versions may leave dev/);
  await waitFor(() => statusComments(key).find((c) => /FAILED/.test(c.text) && /api failed: .*Left: nothing\. Fix the cause and comment \/resume/.test(c.text)), 'the failure in the status');
  assert.equal(await psql("select count(*) from pg_database where datname = 'checkout_pr_7'"), '1', 'what applied stays');
  await attestPreviewBundles(world);
  sb.as(PEOPLE.developer).comment(key, '/resume');
  await waitFor(async () => ((await world.runtime.opened.engine.stacks!.get('checkout-pr-7')).failed ? undefined : true), 'the failure cleared');
  await stackIn(world, 'checkout-pr-7', 'up', 120_000);
  await waitFor(() => statusComments(key).find((c) => /Resumed by .* from api/.test(c.text) || /UP/.test(c.text)), 'resumed in the status');
  assert.equal(statusComments(key).length, 1, 'still one status comment');
});

test('a preview stack comes up from one issue, is reminded and extended once, and is destroyed for real when its lease runs out', { timeout: 300_000 }, async () => {
  const sb = world.sandbox;
  const key = requestPreviewStack(world, 'pr-42');
  const up = await stackIn(world, 'checkout-pr-42', 'up', 120_000);
  assert.equal(up.packages.at(-1)!.name, 'api', 'the consumer comes after its producers');
  const env = await world.runtime.opened.engine.inventory.get('environment', 'checkout-pr-42');
  assert.deepEqual([env.labels.preview, env.labels.owner], [true, 'dev']);
  // The real objects.
  assert.equal(await psql("select count(*) from pg_database where datname = 'checkout_pr_42'"), '1');
  assert.equal(await psql("select count(*) from pg_roles where rolname = 'checkout_pr_42'"), '1');
  assert.ok((await aclUsers()).some((u) => u.includes('pr-42')), 'the cache ACL user exists');
  const api = await world.runtime.opened.engine.getPackage('checkout-pr-42-api');
  assert.equal(api.status, 'ready');
  // The application logged in through its connections: its release is recorded in the stack's own cache.
  assert.equal(await world.runtime.opened.redis.redis.get('checkout-pr-42:app:checkout-api:release'), '2.14.0');
  // One status comment for the whole stack, with every package's plan and the lease.
  const status = await waitFor(() => statusComments(key).find((c) => /Lease: expires 2026-11-26 09:/.test(c.text)), 'the lease in the status');
  assert.equal(statusComments(key).length, 1);
  for (const id of ['checkout-pr-42-db', 'checkout-pr-42-cache', 'checkout-pr-42-api']) assert.match(status.text, new RegExp(id));
  assert.match(status.text, /to add/);
  assert.ok(!conversation(sb, key).some((c) => c.status && /AWAITING|APPLIED/.test(c.text) && !/Stack/.test(c.text)), 'no per-package status comment');

  // The leases query.
  const answer = await new QueryCatalog(world.runtime.opened.engine).ask({ name: 'leases', positional: [], args: {} }, STAGE_CTX);
  const row = answer.rows.find((r) => r[0] === 'checkout-pr-42')!;
  assert.match(row.join(' '), /preview-checkout 2026-11-26 09:\d\d UTC 2026-12-01 09:\d\d UTC \$\d+\.\d\d/);

  // A day before expiry: one reminder, however often the sweep looks.
  clock.advance(25 * HOUR);
  await world.runtime.stacks.tick();
  await world.runtime.stacks.tick();
  const reminders = () => conversation(sb, key).filter((c) => /Reminder: checkout-pr-42 expires/.test(c.text));
  await waitFor(() => reminders().length === 1, 'the reminder');
  assert.equal(reminders().length, 1);

  // Beyond the maximum: refused, naming the limit. Within it: extended once.
  sb.as(PEOPLE.developer).comment(key, '/extend 7d');
  await waitFor(() => conversation(sb, key).find((c) => /\/extend not done: the lease of checkout-pr-42 can last at most 7d \(policy lease\.max\)/.test(c.text)), 'the refusal');
  sb.as(PEOPLE.developer).comment(key, '/extend 1d');
  await waitFor(async () => ((await world.runtime.opened.engine.stacks!.get('checkout-pr-42')).lease?.generation === 2 ? true : undefined), 'the extension');
  const extended = await world.runtime.opened.engine.stacks!.get('checkout-pr-42');
  assert.equal(Date.parse(extended.lease!.expiresAt) - Date.parse(up.lease!.expiresAt), 24 * HOUR);
  await waitFor(() => statusComments(key).find((c) => /Lease extended by .* by 1d/.test(c.text)), 'the extension in the status');
  // The old generation's jobs do nothing now; the new ones are waiting.
  assert.equal((await world.runtime.stacks.leaseDue('checkout-pr-42', 1))?.phase, 'up');
  const waiting = (await world.runtime.leaseJobs!.waiting()).map((j) => j.id);
  assert.ok(waiting.some((id) => id.includes('checkout-pr-42.2.expire')), `expiry job of generation 2 scheduled: ${waiting.join(', ')}`);
  // At a restart the jobs are scheduled again from the stored leases: same ids, nothing twice.
  await world.runtime.stacks.recover();
  assert.deepEqual((await world.runtime.leaseJobs!.waiting()).map((j) => j.id).sort(), [...waiting].sort());

  // The lease runs out: destroyed consumers first, for real; the issue closed with the cost.
  clock.advance(2 * 24 * HOUR);
  await world.runtime.stacks.tick();
  const gone = await stackIn(world, 'checkout-pr-42', 'destroyed', 120_000);
  assert.ok(gone.costLived! > 0);
  assert.equal(await psql("select count(*) from pg_database where datname = 'checkout_pr_42'"), '0');
  assert.equal(await psql("select count(*) from pg_roles where rolname = 'checkout_pr_42'"), '0');
  assert.ok(!(await aclUsers()).some((u) => u.includes('pr-42')), 'the cache ACL user is gone');
  const decommissions = (await world.runtime.opened.engine.requests.list({})).filter((r) => r.kind === 'decommission' && r.environment === 'checkout-pr-42');
  const order = decommissions.sort((a, b) => a.createdAt.localeCompare(b.createdAt)).map((r) => r.package);
  assert.equal(order[0], 'checkout-pr-42-api', 'the consumer is destroyed first');
  await waitFor(() => statusComments(key).find((c) => /Destroyed .* It cost \$[0-9.]+ while it lived/.test(c.text)), 'the cost in the status');
  await waitFor(async () => ((await world.runtime.jira!['deps'].client.getStatus(key)) === STATUSES.done ? true : undefined), 'issue done');
  await waitFor(async () => ((await world.runtime.opened.engine.stacks!.get('checkout-pr-42')).closed ? true : undefined), 'the close recorded');
  const audit = (await world.runtime.opened.engine.listAudit({ subject: { type: 'environment', id: 'checkout-pr-42' } })).map((e) => e.action);
  for (const a of ['lease.granted', 'lease.extended', 'lease.expired']) assert.ok(audit.includes(a), `${a} audited`);
  assert.deepEqual(sb.violations(), []);
});

test('a stack is never made over an environment that is no stack\'s, and an unknown question is refused', async () => {
  const sb = world.sandbox;
  const key = sb.as(PEOPLE.developer).createIssue({ project: 'INFRA', issueType: 'Infrastructure request', summary: 'Preview over staging', description: '/stack preview-checkout staging' }).key;
  await waitFor(() => conversation(sb, key).find((c) => /\/stack not done: environment checkout-staging exists already and is no stack's/.test(c.text)), 'the refusal');
  sb.as(PEOPLE.developer).comment(key, '/stack preview-checkout pr-9 --colour blue');
  await waitFor(() => conversation(sb, key).find((c) => /\/stack not done: unknown question\(s\) colour; this stack asks: team, replicas/.test(c.text)), 'the unknown question');
  assert.equal(await world.runtime.opened.engine.stacks!.find('checkout-pr-9'), undefined);
  assert.equal(await world.runtime.opened.engine.inventory.find('environment', 'checkout-pr-9'), undefined);
});
