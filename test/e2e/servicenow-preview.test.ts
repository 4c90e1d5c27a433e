/**
 * A preview environment from one ServiceNow requested item, the twin of jira-preview: the
 * "Preview environment" catalog item (made by the forms sync) asks for `preview-checkout` as
 * pr-42; its packages are applied producers first with the real objects created, the stack's
 * status is written in the item's work notes once per change, a reminder is posted once, a work
 * note `/extend` extends the lease once (beyond the maximum refused naming the limit), and when
 * the lease runs out on a moved clock everything is destroyed for real and the item is Closed
 * Complete with what the stack cost.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createLogger } from '../../src/engine/logger.ts';
import { movableClock } from '../../src/demo/preview-steps.ts';
import { startServiceNowWorld, type ServiceNowWorld } from '../../src/demo/servicenow-world.ts';
import { catalogItem, ritmState, syncServiceNowForms, waitFor, workNotes } from '../../src/demo/servicenow-steps.ts';
import { PEOPLE } from '../../sandbox/servicenow/example-seed.ts';
import { STACK_ITEM_KEY } from '../../src/surfaces/servicenow/stack-item.ts';
import type { Stack, StackPhase } from '../../src/workflow/stack-store.ts';

const HOUR = 3600_000;
const STAGE = { actor: 'platform-admin', surface: 'cli' as const };
const clock = movableClock(new Date('2026-11-24T09:00:00Z'));
let world: ServiceNowWorld;

before(async () => {
  world = await startServiceNowWorld({ logger: createLogger('silent'), clock, webhookRetryDelaysMs: [50, 100] });
  const { engine } = world.runtime.opened;
  await engine.createProject({ id: 'checkout', name: 'Checkout' }, STAGE);
  await engine.createEnvironment({ project: 'checkout', name: 'staging', labels: { production: false } }, STAGE);
  // Preview environments are outside dev: the versions the stack uses are signed off by QA.
  for (const [bundle, version] of [['postgres-database', '1.4.0'], ['redis-cache', engine.registry.get('redis-cache').version], ['checkout-api', '2.14.0']] as const) {
    await engine.attest(bundle, version, 'qa-signed', 'quinn', STAGE);
  }
  await syncServiceNowForms(world);
});
after(async () => {
  await world?.close();
});

async function psql(sql: string): Promise<string> {
  const { stdout } = await promisify(execFile)('psql', ['-X', '-A', '-t', '-c', sql], { env: { ...process.env, ...world.pg.superuserEnv() } });
  return stdout.trim();
}
const aclUsers = async (): Promise<string[]> => (await world.runtime.opened.redis.redis.call('ACL', 'USERS')) as string[];
const statusNotes = (sysId: string) => workNotes(world.sandbox, sysId, 'work_notes').filter((n) => /Stack preview-checkout/.test(n.text));
const comments = (sysId: string) => workNotes(world.sandbox, sysId, 'comments');

/** The stack of environment `id` once it is in `phase` (and not stopped on a failure). */
async function stackIn(id: string, phase: StackPhase): Promise<Stack> {
  return waitFor(async () => {
    const s = await world.runtime.opened.engine.stacks!.find(id);
    if (s?.failed) throw new Error(`stack ${id} stopped: ${s.failed.package} ${s.failed.message}`);
    return s?.phase === phase ? s : undefined;
  }, `stack ${id} ${phase}`, 120_000);
}

/** The developer orders the preview environment item; the requested item. */
async function orderPreview(name: string): Promise<string> {
  const { ritm } = world.sandbox.as(PEOPLE.developer).order(await catalogItem(world, STACK_ITEM_KEY), { variables: { template: 'preview-checkout', name } });
  return ritm.sys_id!;
}

test('a preview environment ordered in ServiceNow comes up, is reminded and extended once, and is destroyed for real when its lease runs out', { timeout: 300_000 }, async () => {
  const sb = world.sandbox;
  const sysId = await orderPreview('pr-42');
  const up = await stackIn('checkout-pr-42', 'up');
  assert.deepEqual(up.origin.surface, 'servicenow');
  assert.equal(up.packages.at(-1)!.name, 'api', 'the consumer comes after its producers');
  // The real objects.
  assert.equal(await psql("select count(*) from pg_database where datname = 'checkout_pr_42'"), '1');
  assert.equal(await psql("select count(*) from pg_roles where rolname = 'checkout_pr_42'"), '1');
  assert.ok((await aclUsers()).some((u) => u.includes('pr-42')), 'the cache ACL user exists');
  assert.equal((await world.runtime.opened.engine.getPackage('checkout-pr-42-api')).status, 'ready');
  // The stack's status in the work notes, with every package and the lease; no per-package status note.
  const status = await waitFor(() => statusNotes(sysId).find((n) => /Lease: expires 2026-11-26 09:/.test(n.text)), 'the lease in the status');
  for (const id of ['checkout-pr-42-db', 'checkout-pr-42-cache', 'checkout-pr-42-api']) assert.match(status.text, new RegExp(id));
  assert.ok(!workNotes(sb, sysId).some((n) => n.status), 'no per-package status note');
  // One note per change: the stack up with its lease is said once (the later status without news adds nothing).
  assert.equal(statusNotes(sysId).filter((n) => /^UP/.test(n.text)).length, 1);
  assert.equal(ritmState(sb, sysId), 'Work in Progress', 'the item stays open while the stack lives');

  // A day before expiry: one reminder, however often the sweep looks.
  clock.advance(25 * HOUR);
  await world.runtime.stacks.tick();
  await world.runtime.stacks.tick();
  const reminders = () => comments(sysId).filter((c) => /Reminder: checkout-pr-42 expires/.test(c.text));
  await waitFor(() => reminders().length === 1, 'the reminder');
  await world.runtime.stacks.tick();
  assert.equal(reminders().length, 1);

  // Beyond the maximum: refused, naming the limit. Within it: extended once, by a work note.
  sb.as(PEOPLE.developer).addWorkNote(sysId, '/extend 7d');
  await waitFor(() => comments(sysId).find((c) => /\/extend not done: the lease of checkout-pr-42 can last at most 7d \(policy lease\.max\)/.test(c.text)), 'the refusal');
  sb.as(PEOPLE.developer).addWorkNote(sysId, '/extend 1d');
  await waitFor(async () => ((await world.runtime.opened.engine.stacks!.get('checkout-pr-42')).lease?.generation === 2 ? true : undefined), 'the extension');
  const extended = await world.runtime.opened.engine.stacks!.get('checkout-pr-42');
  assert.equal(Date.parse(extended.lease!.expiresAt) - Date.parse(up.lease!.expiresAt), 24 * HOUR);
  await waitFor(() => statusNotes(sysId).find((n) => /Lease extended by .* by 1d/.test(n.text)), 'the extension in the status');
  assert.equal(statusNotes(sysId).filter((n) => /Lease extended/.test(n.text)).length, 1, 'the extension is written once');

  // The lease runs out: destroyed consumers first, for real; the item Closed Complete with the cost.
  clock.advance(2 * 24 * HOUR);
  await world.runtime.stacks.tick();
  const gone = await stackIn('checkout-pr-42', 'destroyed');
  assert.ok(gone.costLived! > 0);
  assert.equal(await psql("select count(*) from pg_database where datname = 'checkout_pr_42'"), '0');
  assert.equal(await psql("select count(*) from pg_roles where rolname = 'checkout_pr_42'"), '0');
  assert.ok(!(await aclUsers()).some((u) => u.includes('pr-42')), 'the cache ACL user is gone');
  const decommissions = (await world.runtime.opened.engine.requests.list({})).filter((r) => r.kind === 'decommission' && r.environment === 'checkout-pr-42');
  assert.equal(decommissions.sort((a, b) => a.createdAt.localeCompare(b.createdAt))[0]?.package, 'checkout-pr-42-api', 'the consumer is destroyed first');
  await waitFor(() => statusNotes(sysId).find((n) => /Destroyed .* It cost \$[0-9.]+ while it lived/.test(n.text)), 'the cost in the status');
  await waitFor(() => ritmState(sb, sysId) === 'Closed Complete', 'the item closed complete');
  await waitFor(async () => ((await world.runtime.opened.engine.stacks!.get('checkout-pr-42')).closed ? true : undefined), 'the close recorded');
  assert.equal(statusNotes(sysId).filter((n) => /^DESTROYED/.test(n.text)).length, 1, 'the end is said once');
  await waitFor(() => comments(sysId).find((c) => /checkout-pr-42 destroyed: everything in it is gone\. It cost \$[0-9.]+ while it lived/.test(c.text)), 'the cost for the requester');
  const audit = (await world.runtime.opened.engine.listAudit({ subject: { type: 'environment', id: 'checkout-pr-42' } })).map((e) => e.action);
  for (const a of ['lease.granted', 'lease.extended', 'lease.expired']) assert.ok(audit.includes(a), `${a} audited`);
  assert.deepEqual(sb.violations(), []);
});

test('a preview environment over one that is no stack\'s is refused in the item, and a work note /stack goes the same way', { timeout: 60_000 }, async () => {
  const sb = world.sandbox;
  const sysId = await orderPreview('staging');
  await waitFor(() => comments(sysId).find((c) => /\/stack not done: environment checkout-staging exists already and is no stack's/.test(c.text)), 'the refusal');
  await waitFor(() => ritmState(sb, sysId) === 'Pending', 'the item waiting for fixed variables');
  sb.as(PEOPLE.developer).addWorkNote(sysId, '/stack preview-checkout pr-9 --colour blue');
  await waitFor(() => comments(sysId).find((c) => /\/stack not done: unknown question\(s\) colour; this stack asks: team, replicas/.test(c.text)), 'the unknown question');
  assert.equal(await world.runtime.opened.engine.stacks!.find('checkout-pr-9'), undefined);
  assert.equal(comments(sysId).filter((c) => /checkout-staging exists already/.test(c.text)).length, 1, 'the order is refused once');
  assert.deepEqual(sb.violations(), []);
});
