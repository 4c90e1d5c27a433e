import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { createLogger } from '../../src/engine/logger.ts';
import { startStoryWorld, type StoryWorld } from '../../src/demo/story.ts';
import { syncStoryForms, waitFor } from '../../src/demo/story-steps.ts';
import { JiraClient } from '../../src/surfaces/jira/client.ts';
import { JiraFormsSync } from '../../src/surfaces/jira/forms-sync.ts';
import { EngineOptionSources } from '../../src/workflow/form-options.ts';
import { loadJiraConfig } from '../../src/surfaces/jira/config.ts';

let world: StoryWorld;
const ctx = { actor: 'platform-admin', surface: 'cli' as const };

before(async () => {
  world = await startStoryWorld({ logger: createLogger('silent') });
  const { engine } = world.runtime.opened;
  await engine.createProject({ id: 'checkout', name: 'Checkout' }, ctx);
  await engine.createEnvironment({ project: 'checkout', name: 'staging', labels: { production: false } }, ctx);
});
after(async () => world?.close());

async function optionsOf(key: string): Promise<{ value: string; disabled?: boolean }[]> {
  const ids = await world.runtime.ids.all('jira');
  const fieldId = ids[key]!;
  const contextId = ids[`context/${fieldId}`]!;
  const client = new JiraClient({ baseUrl: world.sandbox.url, email: world.sandbox.credentials.email, apiToken: world.sandbox.credentials.apiToken, logger: createLogger('silent') });
  const res = await client.api('GET', `/rest/api/3/field/${fieldId}/context/${contextId}/option`, z.object({ values: z.array(z.object({ value: z.string(), disabled: z.boolean().optional() }).passthrough()) }).passthrough());
  return res.values;
}

test('first sync creates fields, contexts, options and screen placement; a second makes zero write calls', async () => {
  const first = await syncStoryForms(world);
  assert.ok(first.writes > 10, `first sync wrote ${first.writes}`);
  assert.ok(first.created.some((c) => c.startsWith('field Expected data size (GiB) (postgres-database/expected_size_gib)')));
  assert.ok(first.created.some((c) => /on screen/.test(c)));
  const writesBefore = world.sandbox.writes().length;
  const second = await syncStoryForms(world);
  assert.equal(second.writes, 0);
  assert.equal(world.sandbox.writes().length, writesBefore, 'the sandbox saw no write call');
  assert.deepEqual(world.sandbox.violations(), []);
});

test('a new qa-signed version shows up in the Version dropdown within seconds; a revoked one is disabled, not deleted', async () => {
  assert.deepEqual((await optionsOf('checkout-api/request_version')).map((o) => o.value), []);
  // Attested through the engine, as the API or the CLI would: the workers notice and re-sync.
  await world.runtime.opened.engine.attest('checkout-api', '2.14.0', 'qa-signed', 'quinn', ctx);
  const opts = await waitFor(async () => {
    const o = await optionsOf('checkout-api/request_version');
    return o.length ? o : undefined;
  }, 'the new version in the dropdown', 10_000);
  assert.equal(opts.length, 1);
  assert.match(opts[0]!.value, /^2\.14\.0 \(qa-signed by quinn/);

  await world.runtime.opened.engine.attestations.revoke('checkout-api', '2.14.0', 'qa-signed', ctx, 'found a bug');
  const after = await waitFor(async () => {
    const o = await optionsOf('checkout-api/request_version');
    return o[0]?.disabled ? o : undefined;
  }, 'the revoked version disabled', 10_000);
  assert.equal(after.length, 1, 'the option is kept, disabled');

  const sync = new JiraFormsSync({
    client: new JiraClient({ baseUrl: world.sandbox.url, email: world.sandbox.credentials.email, apiToken: world.sandbox.credentials.apiToken, logger: createLogger('silent') }),
    ids: world.runtime.ids,
    forms: world.runtime.forms,
    config: await loadJiraConfig('examples/jira-config.yaml'),
    options: new EngineOptionSources(world.runtime.opened.engine),
    logger: createLogger('silent'),
  });
  assert.equal((await sync.resyncDynamicOptions()).writes, 0, 'nothing left to change');
});
