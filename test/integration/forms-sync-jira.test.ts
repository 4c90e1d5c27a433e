/**
 * `forms sync --surface jira` against the contract-checked Jira sandbox with the real engine
 * (Redis) behind dynamic options and the id store: field types and searchers, contexts scoped to
 * the configured projects and request issue types, options, screen placement; zero writes on a
 * second run; a changed overlay adds and disables options (never deletes); dynamic versions
 * follow attestations; the id store round-trips.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../src/config.ts';
import { openEngine, type OpenedEngine } from '../../src/workflow/bootstrap.ts';
import { createLogger } from '../../src/engine/logger.ts';
import { SurfaceIdStore } from '../../src/engine/surface-ids.ts';
import { FormCatalog } from '../../src/forms/catalog.ts';
import { EngineOptionSources } from '../../src/workflow/form-options.ts';
import { resolveDynamicOptions } from '../../src/forms/index.ts';
import { loadJiraConfig } from '../../src/surfaces/jira/config.ts';
import { JiraClient } from '../../src/surfaces/jira/client.ts';
import { jiraSurfaceConfigSchema } from '../../src/surfaces/jira/config.ts';
import { JiraFormsSync } from '../../src/surfaces/jira/forms-sync.ts';
import { renderJiraForm } from '../../src/surfaces/jira/form-renderer.ts';
import { startJiraSandbox, exampleSeed, type JiraSandbox } from '../../sandbox/jira/index.ts';
import { useRedis } from '../helpers/redis.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const logger = createLogger('silent');
const ctx = { actor: 'platform-admin', surface: 'cli' as const };
const redis = useRedis();
let sb: JiraSandbox;
let opened: OpenedEngine;
let dataDir: string;

before(async () => {
  await redis.ready();
  dataDir = mkdtempSync(join(tmpdir(), 'forms-sync-jira-'));
  opened = await openEngine(loadConfig({ REDIS_URL: redis.url, DATA_DIR: dataDir, LOG_LEVEL: 'silent' }));
  sb = await startJiraSandbox({ contract: true, seed: exampleSeed() });
  await opened.engine.createProject({ id: 'checkout', name: 'Checkout' }, ctx);
  await opened.engine.createEnvironment({ project: 'checkout', name: 'staging', labels: { production: false } }, ctx);
});
after(async () => {
  await sb?.stop();
  await opened?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

const ids = () => new SurfaceIdStore(redis.client());
const catalog = (formsDir = join(ROOT, 'forms')) => new FormCatalog(opened.engine.registry, formsDir);

async function syncer(formsDir?: string): Promise<JiraFormsSync> {
  return new JiraFormsSync({
    client: new JiraClient({ baseUrl: sb.url, email: sb.credentials.email, apiToken: sb.credentials.apiToken, logger }),
    ids: ids(),
    forms: catalog(formsDir),
    config: await loadJiraConfig(join(ROOT, 'examples', 'jira-config.yaml')),
    options: new EngineOptionSources(opened.engine),
    logger,
  });
}

/** The options of a synced field's context, as stored in the sandbox. */
async function optionsOf(key: string): Promise<{ value: string; disabled: boolean }[]> {
  const fieldId = (await ids().get('jira', key))!;
  const contextId = (await ids().get('jira', `context/${fieldId}`))!;
  return sb.state.context(fieldId, contextId).options.map((o) => ({ value: o.value, disabled: o.disabled }));
}

test('the example Jira config parses and names the sandbox projects', async () => {
  const cfg = await loadJiraConfig(join(ROOT, 'examples', 'jira-config.yaml'));
  assert.deepEqual(Object.keys(cfg.projects).sort(), ['INFRA', 'OPS']);
  for (const key of Object.keys(cfg.projects)) assert.ok(sb.state.project(key), `${key} exists in the sandbox`);
  assert.equal(cfg.projects.INFRA!.statuses.awaitingApproval, 'Awaiting approval');
  assert.equal(cfg.projects.OPS!.approval, 'jsm');
  // Defaults fill what a file leaves out; a bad key is named.
  assert.equal(jiraSurfaceConfigSchema.parse({ projects: { X1: { project: 'p', issueTypes: {} } } }).projects.X1!.statuses.done, 'Done');
  assert.equal(jiraSurfaceConfigSchema.safeParse({ projects: { lower: { project: 'p', issueTypes: {} } } }).success, false);
});

test('first sync: fields with the rendered type and searcher, scoped contexts, options, screen placement', async () => {
  const sync = await syncer();
  const writesBefore = sb.writes().length;
  const report = await sync.sync();
  assert.equal(report.writes, sb.writes().length - writesBefore);
  const store = ids();
  const infra = sb.state.project('INFRA');
  const ops = sb.state.project('OPS');
  const requestType = sb.state.issueTypeByName('Infrastructure request')!;
  const questionType = sb.state.issueTypeByName('Infrastructure question')!;
  for (const form of await catalog().all()) {
    const spec = renderJiraForm(await resolveDynamicOptions(form, new EngineOptionSources(opened.engine)));
    for (const f of spec.fields) {
      // Environment and package are shared across bundles; a version's options are the bundle's own.
      const key = f.formField === 'request_environment' || f.formField === 'request_package' ? `request/${f.formField.slice('request_'.length)}` : `${form.bundle}/${f.formField}`;
      const id = await store.get('jira', key);
      assert.ok(id, `${key} remembered`);
      assert.equal(await store.keyOf('jira', id), key, `${key} maps back`);
      const field = sb.state.field(id);
      assert.equal(field.schema.custom, f.create.type, `${key} type`);
      assert.equal(field.searcherKey, f.create.searcherKey, `${key} searcher`);
      if (key.startsWith(`${form.bundle}/`)) {
        assert.equal(field.name, f.create.name, `${key} named by its label`);
        assert.ok(field.description?.endsWith(`(ticket-surface: bundle ${form.bundle})`), `${key} says its bundle: ${field.description}`);
      }
      // Jira gives a new field a default global context; ours is the one scoped to the projects.
      const ours = field.contexts.find((c) => c.projectIds.length > 0);
      assert.ok(ours, `${key}: a project-scoped context`);
      assert.equal(field.contexts.filter((c) => c.projectIds.length > 0).length, 1, `${key}: one scoped context`);
      assert.deepEqual([...ours.projectIds].sort(), [infra.id, ops.id].sort());
      assert.deepEqual(ours.issueTypeIds, [requestType.id], 'request issue types only, not questions');
      assert.ok(!ours.issueTypeIds.includes(questionType.id));
      assert.equal(await store.get('jira', `context/${id}`), ours.id);
      const contexts = [ours];
      for (const o of f.options ?? []) assert.ok(contexts[0]!.options.some((x) => x.value === o.value && !x.disabled), `${key} offers ${o.value}`);
      assert.ok(sb.state.fieldOnScreen(id), `${key} on a screen`);
    }
  }
  // The Bundle select offers every bundle; a ticket picks the bundle with it.
  assert.deepEqual((await optionsOf('request/bundle')).map((o) => o.value).sort(), ['checkout-api', 'postgres-database', 'redis-cache']);
  assert.match(sb.state.field((await store.get('jira', 'request/environment'))!).description ?? '', /shared by every bundle\)$/);
  // One shared Environment field, not one per bundle.
  assert.equal([...sb.state.fields.values()].filter((f) => f.custom && f.name === 'Environment').length, 1);
  assert.deepEqual((await optionsOf('request/environment')).map((o) => o.value), ['staging']);
  assert.deepEqual(sb.violations(), []);
});

test('second sync on an unchanged catalog makes zero write calls', async () => {
  const before = sb.writes().length;
  const report = await (await syncer()).sync();
  assert.equal(report.writes, 0, JSON.stringify(report));
  assert.equal(sb.writes().length, before);
});

test('a changed overlay option set disables the dropped option and adds it back later; nothing is deleted', async () => {
  const formsDir = mkdtempSync(join(tmpdir(), 'forms-sync-jira-overlay-'));
  try {
    cpSync(join(ROOT, 'forms'), formsDir, { recursive: true });
    const file = join(formsDir, 'redis-cache.yaml');
    const shipped = readFileSync(file, 'utf8');
    writeFileSync(file, shipped.replace('  - param: /access_level\n', '  - param: /access_level\n    options:\n      - { value: read-only, label: Read only }\n'));
    const before = await optionsOf('redis-cache/access_level');
    assert.equal(before.length, 2);
    const deletes = sb.calls.filter((c) => c.method === 'DELETE').length;
    const changed = await (await syncer(formsDir)).sync();
    assert.ok(changed.created.includes('option "Read only" of redis-cache/access_level'), changed.created.join('\n'));
    assert.equal(changed.disabled.length, 2, changed.disabled.join('\n'));
    const after = await optionsOf('redis-cache/access_level');
    assert.equal(after.length, 3, 'old options kept');
    assert.deepEqual(after.filter((o) => !o.disabled).map((o) => o.value), ['Read only']);
    assert.equal(sb.calls.filter((c) => c.method === 'DELETE').length, deletes, 'no DELETE call');
    assert.equal((await (await syncer(formsDir)).sync()).writes, 0, 'the changed catalog is stable');
    // Back to the shipped overlay: the two options are enabled again, the relabelled one disabled.
    const back = await (await syncer()).sync();
    assert.equal(back.updated.filter((u) => u.endsWith('re-enabled')).length, 2);
    assert.deepEqual((await optionsOf('redis-cache/access_level')).filter((o) => o.disabled).map((o) => o.value), ['Read only']);
  } finally {
    rmSync(formsDir, { recursive: true, force: true });
  }
});

test('resyncDynamicOptions: a new qa-signed version is an option right after the attestation', async () => {
  const sync = await syncer();
  assert.deepEqual(await optionsOf('checkout-api/request_version'), []);
  await opened.engine.attest('checkout-api', '2.14.0', 'qa-signed', 'quinn', ctx);
  const report = await sync.resyncDynamicOptions();
  assert.equal(report.writes, 1);
  const opts = await optionsOf('checkout-api/request_version');
  assert.equal(opts.length, 1);
  assert.match(opts[0]!.value, /^2\.14\.0 \(qa-signed by quinn, \d{4}-\d\d-\d\d\)$/);
  assert.equal((await sync.resyncDynamicOptions()).writes, 0);
  assert.deepEqual(sb.violations(), []);
});

test('two processes re-syncing a dynamic dropdown at once: the one Jira refuses takes the options the other added', async () => {
  await opened.engine.attest('checkout-api', '2.13.2', 'qa-signed', 'quinn', ctx);
  /** A client whose option POSTs another process's identical POST overtakes, between its read and its write. */
  class Overtaken extends JiraClient {
    override async api(...args: Parameters<JiraClient['api']>): Promise<never> {
      const [method, path] = args;
      if (method === 'POST' && path.endsWith('/option')) await new JiraClient({ baseUrl: sb.url, email: sb.credentials.email, apiToken: sb.credentials.apiToken, logger }).api(...args);
      return super.api(...args) as Promise<never>;
    }
  }
  const sync = new JiraFormsSync({
    client: new Overtaken({ baseUrl: sb.url, email: sb.credentials.email, apiToken: sb.credentials.apiToken, logger }),
    ids: ids(),
    forms: catalog(),
    config: await loadJiraConfig(join(ROOT, 'examples', 'jira-config.yaml')),
    options: new EngineOptionSources(opened.engine),
    logger,
  });
  const report = await sync.resyncDynamicOptions();
  assert.equal(report.created.filter((c) => c.startsWith('option "2.13.2')).length, 1, JSON.stringify(report));
  assert.ok(sb.calls.some((c) => c.method === 'POST' && c.path.endsWith('/option') && c.status === 400), 'Jira refused the second POST');
  const opts = (await optionsOf('checkout-api/request_version')).filter((o) => o.value.startsWith('2.13.2'));
  assert.equal(opts.length, 1);
  assert.equal((await (await syncer()).resyncDynamicOptions()).writes, 0, 'in step afterwards');
});

test('SurfaceIdStore: key → id and id → key round-trip; a replaced id no longer maps back', async () => {
  const store = new SurfaceIdStore(redis.client(), 'ts-ids-test:');
  await store.set('jira', 'postgres-database/owner_team', 'customfield_10100');
  assert.equal(await store.get('jira', 'postgres-database/owner_team'), 'customfield_10100');
  assert.equal(await store.keyOf('jira', 'customfield_10100'), 'postgres-database/owner_team');
  await store.set('jira', 'postgres-database/owner_team', 'customfield_10200');
  assert.equal(await store.keyOf('jira', 'customfield_10100'), undefined);
  assert.equal(await store.keyOf('jira', 'customfield_10200'), 'postgres-database/owner_team');
  assert.deepEqual(await store.all('jira'), { 'postgres-database/owner_team': 'customfield_10200' });
  // Surfaces and prefixes do not see each other's ids.
  assert.equal(await store.get('servicenow', 'postgres-database/owner_team'), undefined);
  assert.equal(await new SurfaceIdStore(redis.client(), 'ts-other:').get('jira', 'postgres-database/owner_team'), undefined);
});
