/**
 * `decommission.with_consumers: allow`: in an environment whose policy says so, a database
 * another package consumes is destroyed anyway, and the ticket warns naming the consumer (the
 * default, deny, is in jira-decommission.test.ts: refused naming them).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../src/engine/logger.ts';
import { startStoryWorld, shiftedClock, type StoryWorld } from '../../src/demo/story.ts';
import { conversation, fileDatabaseRequest, syncStoryForms, waitFor } from '../../src/demo/story-steps.ts';
import { PEOPLE } from '../../sandbox/jira/index.ts';
import { latestJiraRequest, storyPsql, STAGE_CTX } from '../helpers/jira-staging.ts';

let world: StoryWorld;
let dir: string;

before(async () => {
  // The example policy, with dev (no approvals, no window) allowing a decommission with consumers.
  dir = mkdtempSync(join(tmpdir(), 'ts-consumers-'));
  const policy = readFileSync('examples/policy.yaml', 'utf8').replace(
    '    match: { names: [dev] }\n    requesters: anyone\n    approvals: none\n',
    '    match: { names: [dev] }\n    requesters: anyone\n    approvals: none\n    decommission: { with_consumers: allow }\n',
  );
  assert.match(policy, /with_consumers: allow/);
  writeFileSync(join(dir, 'policy.yaml'), policy);
  world = await startStoryWorld({ logger: createLogger('silent'), clock: shiftedClock(new Date('2026-11-24T09:00:00Z')), webhookRetryDelaysMs: [50, 100], policyFile: join(dir, 'policy.yaml') });
  const { engine } = world.runtime.opened;
  await engine.createProject({ id: 'checkout', name: 'Checkout' }, STAGE_CTX);
  await engine.createEnvironment({ project: 'checkout', name: 'dev', labels: { production: false } }, STAGE_CTX);
  await engine.attest('postgres-database', '1.4.0', 'qa-signed', 'quinn', STAGE_CTX);
  await syncStoryForms(world);
});
after(async () => {
  await world?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('with_consumers: allow destroys a consumed database, warning in the ticket naming the consumer', { timeout: 180_000 }, async () => {
  const sb = world.sandbox;
  const { engine } = world.runtime.opened;
  const key = await fileDatabaseRequest(world, PEOPLE.developer, { environment: 'dev', package: 'shared-db', database: 'shared_orders', username: 'shared_app', size: 10 });
  await waitFor(async () => ((await latestJiraRequest(world, key))?.state === 'applied' ? true : undefined), 'applied without approval', 60_000);
  assert.equal(await storyPsql(world, "select count(*) from pg_database where datname = 'shared_orders'"), '1');
  await engine.inventory.createPackage(
    { environment: 'checkout-dev', name: 'api', bundle: 'checkout-api', version: '2.14.0', desiredParams: {}, connections: { database: { package: 'checkout-dev-shared-db', artifact: 'authentication' } } },
    STAGE_CTX,
  );

  sb.as(PEOPLE.developer).comment(key, '/decommission');
  const done = await waitFor(async () => {
    const r = await latestJiraRequest(world, key);
    return r?.kind === 'decommission' && r.state === 'applied' ? r : undefined;
  }, 'the decommission applied', 60_000);
  const warning = done.decisions.find((d) => d.rule === 'decommission-consumers');
  assert.equal(warning?.outcome, 'warn');
  assert.match(warning!.reason, /checkout-dev-api uses its authentication; policy allows decommissioning it anyway/);
  assert.equal(await storyPsql(world, "select count(*) from pg_database where datname = 'shared_orders'"), '0');
  assert.equal(await storyPsql(world, "select count(*) from pg_roles where rolname = 'shared_app'"), '0');
  assert.equal((await engine.getPackage('checkout-dev-shared-db')).status, 'decommissioned');
  await waitFor(() => conversation(sb, key).find((c) => /checkout-dev-api uses its authentication/.test(c.text) && /allows decommissioning it anyway/.test(c.text)), 'the warning in the ticket');
  assert.deepEqual(sb.violations(), []);
});
