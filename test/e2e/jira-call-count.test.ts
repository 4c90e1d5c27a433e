/**
 * Jira calls of one ticket's happy-path lifecycle (filed, planned, approved, applied, result),
 * counted from the sandbox's call log by method and path template, per phase, after a first
 * ticket that warms the process (as the ticket-to-plan bench does). Counts, not time: each
 * avoidable call the service once made is named here, so bringing it back fails the test.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../src/engine/logger.ts';
import { startStoryWorld, type StoryWorld } from '../../src/demo/story.ts';
import { syncStoryForms } from '../../src/demo/story-steps.ts';
import type { PhaseCount } from '../../bench/lib/call-count.ts';
import { noopWorldOptions } from '../../bench/lib/noop-request.ts';
import { jiraLifecycle } from '../../bench/lib/surface-lifecycles.ts';
import { walkLifecycle, type LifecycleWorld } from '../../bench/lib/lifecycle-count.ts';

const ops = { actor: 'platform-admin', surface: 'cli' as const };
let world: StoryWorld;
let dir: string;

before(async () => {
  // The directory cache's TTL long enough that a slow machine still reuses the warm-up's lookups.
  dir = mkdtempSync(join(tmpdir(), 'jira-call-count-'));
  const config = join(dir, 'jira-config.yaml');
  writeFileSync(config, `${readFileSync('examples/jira-config.yaml', 'utf8')}\ndirectoryCacheSeconds: 3600\n`);
  world = await startStoryWorld({ logger: createLogger('silent'), jiraConfigFile: config, ...noopWorldOptions() });
  await world.runtime.opened.engine.createProject({ id: 'checkout', name: 'Checkout' }, ops);
  await world.runtime.opened.engine.createEnvironment({ project: 'checkout', name: 'staging', labels: { production: false } }, ops);
  await syncStoryForms(world);
});
after(async () => {
  await world?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** One ticket's lifecycle, its calls counted per phase (quiet: no call answered for 800 ms). */
const lifecycle = async (w: LifecycleWorld): Promise<PhaseCount[]> => (await walkLifecycle(w, 800)).phases;

test('one ticket costs 2 to 3 Jira calls to its plan and 10 over its lifecycle, none of them avoidable', { timeout: 180_000 }, async () => {
  let n = 0;
  await lifecycle(jiraLifecycle(world, () => ++n));
  const phases = await lifecycle(jiraLifecycle(world, () => ++n));
  const [toPlan, , , , whole] = phases;
  // The issue read back and the status comment's POST (its first claim: no search); the
  // "Approval needed" event comment may land before the status comment does.
  assert.ok(toPlan!.total >= 2 && toPlan!.total <= 3, `created -> plan visible: ${JSON.stringify(toPlan)}`);
  const by = Object.fromEntries(whole!.byName);
  assert.deepEqual(by, {
    'GET /rest/api/3/issue/{issueIdOrKey}': 1, // the issue as it is now, at filing
    'POST /rest/api/3/issue/{issueIdOrKey}/comment': 4, // the status comment and three event comments, no search before them
    'PUT /rest/api/3/issue/{issueIdOrKey}/comment/{id}': 2, // the status comment edited in place
    // Open -> Planned -> Awaiting approval, Approved -> Done, each with the ticket-surface.request
    // property where the ticket rests; the transitions were read for the first ticket.
    'POST /rest/api/3/issue/{issueIdOrKey}/transitions': 3,
  }, 'no user or group lookup (cached since the first ticket), no status pointer property, no search before the status comment, no transitions read');
  assert.equal(whole!.total, 10);
  // The property is there all the same, written with the transitions.
  const last = [...world.sandbox.state.issues.values()].at(-1)!;
  assert.equal((last.properties.get('ticket-surface.request') as { state?: string } | undefined)?.state, 'applied');
  assert.deepEqual(world.sandbox.violations(), []);
});
