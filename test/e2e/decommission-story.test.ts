/**
 * The demo's decommission story (`npm run demo -- --story decommission`), run as a function on a
 * private world: the database is given back from its ticket, for real.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../../src/engine/logger.ts';
import { startStoryWorld, shiftedClock, type StoryWorld } from '../../src/demo/story.ts';
import { DEMO_START } from '../../src/demo/demo-common.ts';
import { runDecommissionStory } from '../../src/demo/decommission-story.ts';

let world: StoryWorld;

before(async () => {
  world = await startStoryWorld({ logger: createLogger('silent'), clock: shiftedClock(DEMO_START), webhookRetryDelaysMs: [50, 100] });
});
after(async () => {
  await world?.close();
});

test('the decommission story gives a database back: destroy plan with its warning, approval, the database and role gone', { timeout: 240_000 }, async () => {
  const lines: string[] = [];
  const result = await runDecommissionStory(world, (line) => lines.push(line));
  assert.ok(result.ok, lines.join('\n'));
  assert.deepEqual(result.left, { databases: 0, roles: 0 });
  assert.match(result.destroyPlan, /AWAITING APPROVAL/);
  assert.match(result.destroyPlan, /0 to add · 0 to change · 3 to destroy/);
  assert.match(result.destroyPlan, /DESTROYS postgresql_database\.main/);
  assert.match(result.destroyPlan, /Approvers see this warning too/);
  assert.match(result.finalComment, /APPLIED/);
  assert.match(result.finalComment, /Approved by Ari Approver/);
  const pkg = await world.runtime.opened.engine.getPackage('checkout-staging-reports-db');
  assert.equal(pkg.status, 'decommissioned');
  assert.ok(lines.some((l) => /0 database checkout_reports, 0 role reports_app left/.test(l)), 'the story says what is left');
});
