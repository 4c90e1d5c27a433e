/**
 * Per-bundle mode through the Jira story: INFRA gets an issue type screen scheme of its own, a
 * forms sync with `issueTypePerBundle: true` gives the Redis bundle its issue type "Redis cache",
 * and a ticket of that issue type, with no Bundle field, is filed and planned as a redis-cache
 * request from its own questions. Zero contract violations.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { StoryWorld } from '../../src/demo/story.ts';
import { conversation, waitFor } from '../../src/demo/story-steps.ts';
import { createLogger } from '../../src/engine/logger.ts';
import { JiraClient } from '../../src/surfaces/jira/client.ts';
import { loadJiraConfig } from '../../src/surfaces/jira/config.ts';
import { JiraFormsSync } from '../../src/surfaces/jira/forms-sync.ts';
import { EngineOptionSources } from '../../src/workflow/form-options.ts';
import { PEOPLE } from '../../sandbox/jira/index.ts';
import { latestJiraRequest, startStagingStory } from '../helpers/jira-staging.ts';

let world: StoryWorld;

before(async () => {
  world = await startStagingStory();
});
after(async () => {
  await world?.close();
});

/** Turns per-bundle mode on for INFRA (its screens become its own first) and syncs the forms. */
async function perBundleSync(): Promise<void> {
  const sb = world.sandbox;
  sb.state.seed({ issueTypeScreenSchemes: [{ name: 'INFRA screens', mappings: { default: 'Default Screen Scheme' } }] });
  sb.state.useIssueTypeScreenScheme('INFRA', 'INFRA screens');
  const config = await loadJiraConfig('examples/jira-config.yaml');
  config.projects = { INFRA: { ...config.projects.INFRA!, issueTypePerBundle: true } };
  const logger = createLogger('silent');
  await new JiraFormsSync({
    client: new JiraClient({ baseUrl: sb.url, email: sb.credentials.email, apiToken: sb.credentials.apiToken, logger }),
    ids: world.runtime.ids,
    forms: world.runtime.forms,
    config,
    options: new EngineOptionSources(world.runtime.opened.engine),
    logger,
  }).sync();
}

test('a ticket of the Redis bundle’s own issue type is handled as a redis-cache request', { timeout: 120_000 }, async () => {
  await perBundleSync();
  const ids = await world.runtime.ids.all('jira');
  const issue = world.sandbox.as(PEOPLE.developer).createIssue({
    project: 'INFRA',
    issueType: 'Redis cache',
    summary: 'Cache for checkout',
    fields: {
      [ids['request/environment']!]: { value: 'staging' },
      [ids['request/package']!]: 'checkout-cache',
      [ids['redis-cache/key_prefix']!]: 'checkout',
      [ids['redis-cache/max_memory_mb']!]: 128,
    },
  });
  const filed = await waitFor(() => latestJiraRequest(world, issue.key), 'the request filed from the Redis ticket');
  assert.equal(filed.bundle, 'redis-cache');
  assert.deepEqual(filed.submitted, { request_environment: 'staging', request_package: 'checkout-cache', key_prefix: 'checkout', max_memory_mb: 128 });
  const planned = await waitFor(async () => {
    const r = await latestJiraRequest(world, issue.key);
    return r.params ? r : undefined;
  }, 'the request planned');
  assert.equal(planned.bundle, 'redis-cache');
  assert.equal(planned.package, 'checkout-staging-checkout-cache');
  assert.equal(planned.params!.key_prefix, 'checkout');
  await waitFor(() => conversation(world.sandbox, issue.key).find((c) => c.status), 'the status comment');
  assert.ok(!conversation(world.sandbox, issue.key).some((c) => /Bundle: required/.test(c.text)), 'no Bundle field asked for');
  assert.deepEqual(world.sandbox.violations(), []);
});
