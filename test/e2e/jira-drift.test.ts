/**
 * `/drift` from a Jira ticket in the story world: the ticket that created a database hears a
 * hand change when someone comments `/drift check`, and its requester adopts reality with
 * `/drift adopt <field>` (desired := observed, reality left alone).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { StoryWorld } from '../../src/demo/story.ts';
import { conversation, waitFor, fileDatabaseRequest } from '../../src/demo/story-steps.ts';
import { PEOPLE, STATUSES } from '../../sandbox/jira/index.ts';
import { startStagingStory, storyPsql } from '../helpers/jira-staging.ts';

let world: StoryWorld;

before(async () => {
  world = await startStagingStory();
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
