/**
 * The freeze switch through the Jira story: an admin freezes staging; an approved database
 * request waits instead of applying, its ticket says why once, the recovery sweep leaves it
 * alone and the `frozen` query lists it; lifting the freeze applies it for real.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { StoryWorld } from '../../src/demo/story.ts';
import { conversation, waitFor, fileDatabaseRequest } from '../../src/demo/story-steps.ts';
import { PEOPLE, STATUSES } from '../../sandbox/jira/index.ts';
import type { Request } from '../../src/engine/model.ts';
import { QueryCatalog } from '../../src/workflow/queries.ts';
import { ForbiddenError } from '../../src/workflow/authorize.ts';
import { ADMIN_CLI_USER, apiAs } from '../helpers/api-tokens.ts';
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

test('a freeze holds an approved request (the ticket says why once); lifting it applies the request for real', { timeout: 180_000 }, async () => {
  const sb = world.sandbox;
  const { runtime } = world;
  const admin = runtime.authorizer.cliPrincipal(ADMIN_CLI_USER);
  await assert.rejects(runtime.freezes.freeze('checkout-staging', { reason: 'nope' }, runtime.authorizer.cliPrincipal('dana')), ForbiddenError);
  const api = await apiAs(runtime, runtime.url!, 'dana', 'requester');
  assert.equal((await api.put('/v1/environments/checkout-staging/freeze', { reason: 'nope' })).status, 403);

  const key = await fileDatabaseRequest(world, PEOPLE.developer, { package: 'frozen-db', database: 'frozen_orders', username: 'frozen_app', size: 20 });
  await waitFor(() => conversation(sb, key).find((c) => c.status && /AWAITING APPROVAL/.test(c.text)), 'the plan');
  await waitFor(async () => ((await runtime.jira!['deps'].client.getStatus(key)) === STATUSES.awaitingApproval ? true : undefined), 'awaiting approval');

  const freeze = await runtime.freezes.freeze('checkout-staging', { reason: 'Year-end freeze' }, admin);
  assert.equal(freeze.by.id, ADMIN_CLI_USER);
  sb.as(PEOPLE.approver).transition(key, STATUSES.approved);
  const held = await waitFor(async () => {
    const r = await latestRequest(key);
    return r.state === 'approved' && r.decisions.some((d) => d.rule === 'freeze') ? r : undefined;
  }, 'the request held by the freeze');
  await waitFor(() => conversation(sb, key).find((c) => /frozen by/.test(c.text) && /Year-end freeze/.test(c.text)), 'the ticket says why');
  await new Promise((res) => setTimeout(res, 1000));
  assert.equal(await psql("select count(*) from pg_database where datname = 'frozen_orders'"), '0', 'nothing applied while frozen');
  assert.equal((await latestRequest(key)).state, 'approved');
  assert.equal((await runtime.recovery.stuck(0)).filter((s) => s.request.id === held.id).length, 0, 'the freeze owns it: not stuck');
  const frozen = await new QueryCatalog(runtime.opened.engine).ask({ name: 'frozen', positional: [], args: {} }, ctx);
  assert.deepEqual(frozen.rows.map((r) => [r[0], r[4], r[5]]), [['checkout-staging', 'Year-end freeze', '1']]);
  const listed = await api.get('/v1/freezes');
  assert.equal(listed.status, 200);
  assert.equal(listed.data.freezes[0].environment, 'checkout-staging');

  const lifted = await runtime.freezes.unfreeze('checkout-staging', admin);
  assert.deepEqual(lifted.released.map((r) => r.id), [held.id]);
  await waitFor(async () => ((await latestRequest(key)).state === 'applied' ? true : undefined), 'applied after the freeze lifted', 60_000);
  assert.equal(await psql("select count(*) from pg_database where datname = 'frozen_orders'"), '1');
  const statusLines = conversation(sb, key).filter((c) => c.status);
  assert.equal(statusLines.length, 1, 'one status comment');
  const events = (await runtime.opened.engine.inventory.audit.list({ limit: 10_000 })).map((e) => e.action);
  assert.ok(events.includes('environment.freeze') && events.includes('environment.unfreeze'), 'freeze and lift audited');
  assert.deepEqual((await new QueryCatalog(runtime.opened.engine).ask({ name: 'frozen', positional: [], args: {} }, ctx)).rows, []);
});
