/**
 * `/drift` from a Jira ticket in the story world: the ticket that created a database hears a
 * hand change when someone comments `/drift check`, and its requester adopts reality with
 * `/drift adopt <field>` (desired := observed, reality left alone). `/drift ignore <field> until
 * <date>` silences that drift until the date, audited: reported again once the clock passes it.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import type { OutboxEntry } from '../../src/engine/outbox.ts';
import type { StoryWorld } from '../../src/demo/story.ts';
import { conversation, waitFor, fileDatabaseRequest } from '../../src/demo/story-steps.ts';
import { PEOPLE, STATUSES } from '../../sandbox/jira/index.ts';
import { startStagingStory, storyPsql } from '../helpers/jira-staging.ts';

let world: StoryWorld;
/** The story's clock (Tuesday 2026-11-24 10:00 in Berlin), moved forward by the ignore-until test. */
let offset = new Date('2026-11-24T09:00:00Z').getTime() - Date.now();
const clock = { now: (): Date => new Date(Date.now() + offset) };

before(async () => {
  world = await startStagingStory({ clock });
});
after(async () => {
  await world?.close();
});

const psql = (sql: string): Promise<string> => storyPsql(world, sql);

const DRIFT_HEAD = /ticket-surface · drift · checkout-staging-drift-db/;

test('/drift check on the ticket posts the drift comment; /drift adopt by its requester adopts', { timeout: 180_000 }, async () => {
  const sb = world.sandbox;
  const key = await fileDatabaseRequest(world, PEOPLE.developer, { package: 'drift-db', database: 'drift_orders', username: 'drift_app', size: 50 });
  await waitFor(() => conversation(sb, key).find((c) => c.status && /AWAITING APPROVAL/.test(c.text)), 'the plan comment');
  await waitFor(async () => ((await world.runtime.jira!['deps'].client.getStatus(key)) === STATUSES.awaitingApproval ? true : undefined), 'awaiting approval status');
  sb.as(PEOPLE.approver).transition(key, STATUSES.approved);
  await waitFor(() => conversation(sb, key).find((c) => c.status && /APPLIED/.test(c.text)), 'applied', 90_000);

  // A hand change nobody filed.
  await psql('ALTER ROLE drift_app CONNECTION LIMIT 400;');
  sb.as(PEOPLE.developer).comment(key, '/drift check');
  const found = await waitFor(() => conversation(sb, key).find((c) => DRIFT_HEAD.test(c.text) && /400/.test(c.text)), 'the drift comment', 60_000);
  assert.match(found.text, /Reality differs from what was applied/);
  assert.match(found.text, /\/drift adopt connection_limit/);
  assert.ok(!conversation(sb, key).some((c) => /no package to check for drift/.test(c.text)), 'the ticket knows its package');

  sb.as(PEOPLE.developer).comment(key, '/drift adopt connection_limit');
  await waitFor(() => conversation(sb, key).find((c) => DRIFT_HEAD.test(c.text) && /Adopted by/.test(c.text)), 'the adoption in the drift comment', 60_000);
  const pkg = await world.runtime.opened.engine.inventory.get('package', 'checkout-staging-drift-db');
  assert.equal(pkg.desiredParams.connection_limit, 400);
  assert.equal(await psql("select rolconnlimit from pg_roles where rolname = 'drift_app'"), '400', 'adopt leaves reality alone');
  assert.equal(conversation(sb, key).filter((c) => DRIFT_HEAD.test(c.text)).length, 1, 'one drift comment, edited in place');
  assert.deepEqual(sb.violations(), []);
});

/**
 * How many drift notices `id` was owed so far: in the outbox (written in the same atomic step as
 * the check) or handed on to the outbox queue.
 */
async function driftNotices(id: string): Promise<number> {
  const keys = new Set<string>();
  const jobs = await world.runtime.queues.outbox.getJobs(['waiting', 'active', 'completed', 'failed', 'delayed', 'prioritized']);
  for (const j of jobs) if (j?.data?.message === 'drift' && j.data.detail?.package === id) keys.add(j.data.key);
  const redis = new Redis(world.redis.url);
  const entries = await redis.hvals(world.runtime.opened.engine.inventory.outbox.entriesKey);
  redis.disconnect();
  for (const e of entries.map((x) => JSON.parse(x) as OutboxEntry)) {
    const n = e.data as { message?: string; detail?: { package?: string } };
    if (n.message === 'drift' && n.detail?.package === id) keys.add(e.key);
  }
  return keys.size;
}

/** The package's drift check instant, to wait for a check that posts nothing. */
async function checkedAt(id: string): Promise<string> {
  return (await world.runtime.opened.engine.inventory.get('package', id)).drift?.checkedAt ?? '';
}

test('/drift ignore until a date silences that drift until then, audited; after it the drift is reported again', { timeout: 180_000 }, async () => {
  const sb = world.sandbox;
  const id = 'checkout-staging-quiet-db';
  const head = /ticket-surface · drift · checkout-staging-quiet-db/;
  const key = await fileDatabaseRequest(world, PEOPLE.developer, { package: 'quiet-db', database: 'quiet_orders', username: 'quiet_app', size: 50 });
  await waitFor(() => conversation(sb, key).find((c) => c.status && /AWAITING APPROVAL/.test(c.text)), 'the plan comment');
  await waitFor(async () => ((await world.runtime.jira!['deps'].client.getStatus(key)) === STATUSES.awaitingApproval ? true : undefined), 'awaiting approval status');
  sb.as(PEOPLE.approver).transition(key, STATUSES.approved);
  await waitFor(() => conversation(sb, key).find((c) => c.status && /APPLIED/.test(c.text)), 'applied', 90_000);

  await psql('ALTER ROLE quiet_app CONNECTION LIMIT 300;');
  sb.as(PEOPLE.developer).comment(key, '/drift check');
  await waitFor(() => conversation(sb, key).find((c) => head.test(c.text) && /300/.test(c.text)), 'the drift comment', 60_000);
  sb.as(PEOPLE.developer).comment(key, '/drift ignore connection_limit until 2026-12-01');
  const ignored = await waitFor(() => conversation(sb, key).find((c) => head.test(c.text) && /Ignored by .* until 2026-12-01/.test(c.text)), 'the ignore in the drift comment', 60_000);
  assert.match(ignored.text, /ignored until 2026-12-01/);
  const audit = await world.runtime.opened.engine.inventory.history('package', id);
  const event = audit.find((e) => e.action === 'package.drift.ignore');
  assert.ok(event, 'the ignore is audited');
  assert.equal(event.surface, 'jira');
  assert.match(event.reason ?? '', /until 2026-12-01/);

  // Before the date: a check finds the same drift and posts nothing new.
  const before = await checkedAt(id);
  const owed = await driftNotices(id);
  assert.ok(owed >= 2, 'the check and the ignore were owed to the ticket');
  sb.as(PEOPLE.developer).comment(key, '/drift check');
  await waitFor(async () => ((await checkedAt(id)) > before ? true : undefined), 'the check before the date');
  assert.equal(await driftNotices(id), owed, 'the check while ignored owes the ticket nothing');
  const pkg = await world.runtime.opened.engine.inventory.get('package', id);
  assert.equal(pkg.drift!.findings.find((f) => f.field === 'connection_limit')!.ignoredUntil, '2026-12-01T00:00:00.000Z');
  const quiet = conversation(sb, key).filter((c) => head.test(c.text));
  assert.deepEqual(quiet.map((c) => [c.text, c.updated]), [[ignored.text, ignored.updated]], 'nothing new is posted while ignored');

  // After the date, on a clock moved a week on: the drift is reported again, with its decisions.
  offset += 7 * 24 * 3600_000;
  const later = await checkedAt(id);
  sb.as(PEOPLE.developer).comment(key, '/drift check');
  await waitFor(async () => ((await checkedAt(id)) > later ? true : undefined), 'the check after the date');
  const again = await waitFor(() => conversation(sb, key).find((c) => head.test(c.text) && c.updated !== ignored.updated && /ask: changed by hand/.test(c.text)), 'the drift reported again', 60_000);
  assert.match(again.text, /300/);
  assert.match(again.text, /\/drift adopt connection_limit/);
  assert.doesNotMatch(again.text, /ignored until/);
  assert.equal(conversation(sb, key).filter((c) => head.test(c.text)).length, 1, 'one drift comment, edited in place');
  assert.deepEqual(sb.violations(), []);
});
