/**
 * Giving a database back from the Jira ticket that created it: `/decommission` is refused while
 * another package consumes the database (naming it), then plans the destroy (every resource
 * marked, the destructive warning shown), waits for its approval, and destroys the database and
 * its role for real; the package is decommissioned, its artifacts withdrawn, its cost gone.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { StoryWorld } from '../../src/demo/story.ts';
import { conversation, waitFor, fileDatabaseRequest } from '../../src/demo/story-steps.ts';
import { PEOPLE, STATUSES } from '../../sandbox/jira/index.ts';
import type { Request } from '../../src/engine/model.ts';
import { QueryCatalog } from '../../src/workflow/queries.ts';
import { latestJiraRequest, startStagingStory, storyPsql, STAGE_CTX } from '../helpers/jira-staging.ts';

let world: StoryWorld;
const ctx = STAGE_CTX;

before(async () => {
  world = await startStagingStory();
});
after(async () => {
  await world?.close();
});

const latestRequest = (key: string): Promise<Request> => latestJiraRequest(world, key);

const psql = (sql: string): Promise<string> => storyPsql(world, sql);

async function issueStatus(key: string, want: string): Promise<void> {
  await waitFor(async () => ((await world.runtime.jira!['deps'].client.getStatus(key)) === want ? true : undefined), `issue ${want}`);
}

test('/decommission on the ticket that created a database: refused while consumed, then destroyed for real after approval', { timeout: 180_000 }, async () => {
  const sb = world.sandbox;
  const { engine } = world.runtime.opened;
  const key = await fileDatabaseRequest(world, PEOPLE.developer, { package: 'gone-db', database: 'gone_orders', username: 'gone_app', size: 50 });
  await waitFor(() => conversation(sb, key).find((c) => c.status && /AWAITING APPROVAL/.test(c.text)), 'the plan');
  await issueStatus(key, STATUSES.awaitingApproval);
  sb.as(PEOPLE.approver).transition(key, STATUSES.approved);
  await waitFor(async () => ((await latestRequest(key)).state === 'applied' ? true : undefined), 'applied', 60_000);
  assert.equal(await psql("select count(*) from pg_database where datname = 'gone_orders'"), '1');
  assert.equal(await psql("select count(*) from pg_roles where rolname = 'gone_app'"), '1');
  await issueStatus(key, STATUSES.done);

  // An application connected to the database: the decommission is refused, naming it.
  const consumer = await engine.inventory.createPackage(
    { environment: 'checkout-staging', name: 'api', bundle: 'checkout-api', version: '2.14.0', desiredParams: {}, connections: { database: { package: 'checkout-staging-gone-db', artifact: 'authentication' } } },
    ctx,
  );
  sb.as(PEOPLE.developer).comment(key, '/decommission');
  const blocked = await waitFor(async () => {
    const r = await latestRequest(key);
    return r.kind === 'decommission' && r.state === 'rejected' ? r : undefined;
  }, 'the refused decommission');
  assert.match(blocked.decisions.map((d) => d.reason).join('\n'), /Blocked while checkout-staging-api uses its authentication/);
  await waitFor(() => conversation(sb, key).find((c) => /checkout-staging-api/.test(c.text) && /Blocked/.test(c.text)), 'the consumer named in the ticket');
  assert.equal(await psql("select count(*) from pg_database where datname = 'gone_orders'"), '1');

  // The application is given back first; the second /decommission plans the destroy.
  await engine.inventory.update('package', consumer.id, consumer.revision, (d) => void (d.status = 'decommissioned'), ctx);
  sb.as(PEOPLE.developer).comment(key, '/decommission');
  const planned = await waitFor(() => conversation(sb, key).find((c) => c.status && /AWAITING APPROVAL/.test(c.text) && /Decommission/.test(c.text)), 'the destroy plan');
  assert.match(planned.text, /0 to add · 0 to change · 3 to destroy/);
  assert.match(planned.text, /postgresql_database\.main/);
  assert.match(planned.text, /DESTROYS/);
  assert.match(planned.text, /Approvers see this warning too/);
  const request = await latestRequest(key);
  assert.equal(request.kind, 'decommission');
  assert.ok(request.plan!.summary.destructive);
  assert.ok(request.plan!.summary.resources.every((x) => x.action === 'destroy'));
  await issueStatus(key, STATUSES.awaitingApproval);
  assert.equal(await psql("select count(*) from pg_database where datname = 'gone_orders'"), '1', 'nothing destroyed before the approval');

  sb.as(PEOPLE.approver).transition(key, STATUSES.approved);
  await waitFor(async () => ((await latestRequest(key)).state === 'applied' ? true : undefined), 'the decommission applied', 60_000);
  assert.equal(await psql("select count(*) from pg_database where datname = 'gone_orders'"), '0');
  assert.equal(await psql("select count(*) from pg_roles where rolname = 'gone_app'"), '0');
  const pkg = await engine.getPackage('checkout-staging-gone-db', { reveal: true });
  assert.equal(pkg.status, 'decommissioned');
  assert.deepEqual(pkg.artifacts, {});
  assert.equal(pkg.costMonthly, 0);
  const answer = await new QueryCatalog(engine).ask({ name: 'where-runs', positional: ['postgres-database'], args: {} }, ctx);
  assert.ok(!JSON.stringify(answer.rows).includes('gone-db'), 'a decommissioned package is in no query');
  await issueStatus(key, STATUSES.done);
  assert.deepEqual(sb.violations(), []);
});

test('/decommission of a ticket without a package, and of a package given back already, is answered in the ticket', { timeout: 60_000 }, async () => {
  const sb = world.sandbox;
  const key = (await world.runtime.opened.engine.requests.list({ package: 'checkout-staging-gone-db' })).find((r) => r.kind === 'decommission' && r.state === 'applied')!.origin.ref;
  sb.as(PEOPLE.developer).comment(key, '/decommission');
  await waitFor(() => conversation(sb, key).find((c) => /decommissioned already/.test(c.text)), 'nothing left to give back');
  assert.equal((await latestRequest(key)).state, 'invalid');
});
