/**
 * `forms sync --surface jira` with one issue type per bundle: each bundle's questions go only on
 * the screens of the issue type configured for it (found through the project's issue type screen
 * scheme and screen schemes), the generic request issue type keeps every bundle's questions and
 * the Bundle field, questions of other bundles placed by an earlier sync are taken off, fields
 * the sync does not own and other projects' screens are left alone, and a second sync writes
 * nothing. Zero contract violations.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../src/config.ts';
import { openEngine, type OpenedEngine } from '../../src/workflow/bootstrap.ts';
import { createLogger } from '../../src/engine/logger.ts';
import { SurfaceIdStore } from '../../src/engine/surface-ids.ts';
import { FormCatalog } from '../../src/forms/catalog.ts';
import { EngineOptionSources } from '../../src/workflow/form-options.ts';
import { JiraClient } from '../../src/surfaces/jira/client.ts';
import { jiraSurfaceConfigSchema, type JiraSurfaceConfig } from '../../src/surfaces/jira/config.ts';
import { JiraFormsSync } from '../../src/surfaces/jira/forms-sync.ts';
import { startJiraSandbox, exampleSeed, PEOPLE, type JiraSandbox, type SandboxSeed } from '../../sandbox/jira/index.ts';
import { useRedis } from '../helpers/redis.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const logger = createLogger('silent');
const ctx = { actor: 'platform-admin', surface: 'cli' as const };
const redis = useRedis();
const PREFIX = 'ts-bundles:';
let opened: OpenedEngine;
let dataDir: string;
let sb: JiraSandbox;

/**
 * INFRA with a generic request type and one issue type per bundle, each with a screen scheme of
 * its own in INFRA's issue type screen scheme; P01, another team's project, with its own screens.
 */
function perBundleSite(): SandboxSeed {
  const seed = exampleSeed();
  const screens = ['INFRA create', 'INFRA view', 'Redis create', 'Redis view', 'PostgreSQL create', 'PostgreSQL view', 'P01 create', 'P01 view'].map((name) => ({ name }));
  return {
    ...seed,
    issueTypes: [...seed.issueTypes!, { name: 'Redis cache' }, { name: 'PostgreSQL database' }],
    screens,
    screenSchemes: [
      { name: 'INFRA requests', screens: { default: 'INFRA view', create: 'INFRA create' } },
      { name: 'Redis', screens: { default: 'Redis view', create: 'Redis create' } },
      { name: 'PostgreSQL', screens: { default: 'PostgreSQL view', create: 'PostgreSQL create' } },
      { name: 'P01', screens: { default: 'P01 view', create: 'P01 create' } },
    ],
    issueTypeScreenSchemes: [
      { name: 'INFRA scheme', mappings: { default: 'INFRA requests', 'Redis cache': 'Redis', 'PostgreSQL database': 'PostgreSQL' } },
      { name: 'P01 scheme', mappings: { default: 'P01' } },
    ],
    projects: [
      { ...seed.projects!.find((p) => p.key === 'INFRA')!, issueTypes: ['Infrastructure request', 'Infrastructure question', 'Redis cache', 'PostgreSQL database'], issueTypeScreenScheme: 'INFRA scheme' },
      { key: 'P01', name: 'Another team', issueTypes: ['Infrastructure request', 'Redis cache'], workflow: 'ticket-surface request', issueTypeScreenScheme: 'P01 scheme' },
    ],
  };
}

before(async () => {
  await redis.ready();
  dataDir = mkdtempSync(join(tmpdir(), 'jira-forms-bundles-'));
  opened = await openEngine(loadConfig({ REDIS_URL: redis.url, DATA_DIR: dataDir, LOG_LEVEL: 'silent' }));
  await opened.engine.createProject({ id: 'checkout', name: 'Checkout' }, ctx);
  await opened.engine.createEnvironment({ project: 'checkout', name: 'staging', labels: { production: false } }, ctx);
  sb = await startJiraSandbox({ contract: true, seed: perBundleSite() });
});
after(async () => {
  await sb?.stop();
  await opened?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

function syncer(config: JiraSurfaceConfig): JiraFormsSync {
  return new JiraFormsSync({
    client: new JiraClient({ baseUrl: sb.url, email: sb.credentials.email, apiToken: sb.credentials.apiToken, logger }),
    ids: new SurfaceIdStore(redis.client(), PREFIX),
    forms: new FormCatalog(opened.engine.registry, join(ROOT, 'forms')),
    config,
    options: new EngineOptionSources(opened.engine),
    logger,
  });
}

/** INFRA's configuration: the Redis and PostgreSQL issue types name their bundle, or (`perBundle` false) not. */
const config = (perBundle: boolean) =>
  jiraSurfaceConfigSchema.parse({
    projects: {
      INFRA: {
        project: 'checkout',
        issueTypes: {
          'Infrastructure request': {},
          'Infrastructure question': { kind: 'question' },
          'Redis cache': perBundle ? { bundle: 'redis-cache' } : {},
          'PostgreSQL database': perBundle ? { bundle: 'postgres-database' } : {},
        },
      },
    },
  });

/** Field ids on each screen, by screen name. */
function placement(): Map<string, string[]> {
  return new Map([...sb.state.screens.values()].map((s) => [s.name, s.tabs.flatMap((t) => t.fieldIds)]));
}

/** The sync keys of the fields on a screen (fields the sync does not own are left out). */
async function keysOn(screen: string): Promise<string[]> {
  const ids = await new SurfaceIdStore(redis.client(), PREFIX).all('jira');
  const keyOf = new Map(Object.entries(ids).map(([key, id]) => [id, key]));
  return placement()
    .get(screen)!
    .flatMap((id) => (keyOf.has(id) ? [keyOf.get(id)!] : []))
    .sort();
}

const bundlesOf = (keys: string[]) => [...new Set(keys.map((k) => k.slice(0, k.indexOf('/'))))].sort();

test('each bundle’s issue type shows only its questions; other bundles’ questions placed earlier are taken off; a second sync writes nothing', async () => {
  // An earlier sync, before the issue types named their bundles, put every question everywhere.
  await syncer(config(false)).sync();
  assert.deepEqual(bundlesOf(await keysOn('Redis create')), ['checkout-api', 'postgres-database', 'redis-cache', 'request']);
  // Someone else's field on the Redis screen: not the sync's, never touched.
  const theirs = sb.state.createCustomField({ name: 'Cost centre', type: 'com.atlassian.jira.plugin.system.customfieldtypes:textfield' });
  const redisCreate = [...sb.state.screens.values()].find((s) => s.name === 'Redis create')!;
  sb.state.addFieldToTab(String(redisCreate.id), String(redisCreate.tabs[0]!.id), theirs.id);
  const others = placement().get('P01 create');

  const report = await syncer(config(true)).sync();
  for (const screen of ['Redis create', 'Redis view']) {
    const keys = await keysOn(screen);
    assert.deepEqual(bundlesOf(keys), ['redis-cache', 'request'], `${screen}: ${keys.join(', ')}`);
    assert.deepEqual(keys.filter((k) => k.startsWith('request/')), ['request/environment', 'request/package'], 'shared request fields, no Bundle field');
  }
  for (const screen of ['PostgreSQL create', 'PostgreSQL view']) assert.deepEqual(bundlesOf(await keysOn(screen)), ['postgres-database', 'request'], screen);
  for (const screen of ['INFRA create', 'INFRA view']) {
    const keys = await keysOn(screen);
    assert.deepEqual(bundlesOf(keys), ['checkout-api', 'postgres-database', 'redis-cache', 'request'], `${screen} keeps every bundle`);
    assert.ok(keys.includes('request/bundle'), 'the generic issue type keeps the Bundle field');
  }
  assert.ok(placement().get('Redis create')!.includes(theirs.id), 'a field the sync does not own stays');
  assert.deepEqual(placement().get('P01 create'), others, "another project's screen is untouched");
  assert.ok(report.removed.some((r) => r.startsWith('postgres-database/') && r.includes('from screen "Redis create"')), report.removed.join('\n'));
  assert.ok(!report.removed.some((r) => /screen "INFRA/.test(r)), 'nothing taken off the generic screens');
  assert.deepEqual(report.warnings, []);

  // A Redis ticket takes Redis answers, and Jira refuses a PostgreSQL question on it.
  const fieldOf = async (key: string) => (await new SurfaceIdStore(redis.client(), PREFIX).get('jira', key))!;
  const issue = sb.as(PEOPLE.developer).createIssue({
    project: 'INFRA',
    issueType: 'Redis cache',
    summary: 'cache',
    fields: { [await fieldOf('request/environment')]: { value: 'staging' } },
  });
  assert.ok(issue.key.startsWith('INFRA-'));
  const pgQuestion = await fieldOf((await keysOn('PostgreSQL create')).find((k) => k.startsWith('postgres-database/'))!);
  assert.throws(
    () => sb.as(PEOPLE.developer).createIssue({ project: 'INFRA', issueType: 'Redis cache', summary: 'db', fields: { [pgQuestion]: 'x' } }),
    (e: unknown) => JSON.stringify(e).includes('not on the appropriate screen') || String(e).includes('not on the appropriate screen'),
  );

  const writes = sb.writes().length;
  const second = await syncer(config(true)).sync();
  assert.equal(second.writes, 0);
  assert.deepEqual(second.removed, []);
  assert.equal(sb.writes().length, writes, 'the sandbox saw no write call');
  assert.deepEqual(sb.violations(), []);
});

test('a screen shown by the issue types of two bundles carries both bundles’ questions, and the sync says so', async () => {
  // P01 maps every issue type to one screen scheme: its Redis and its PostgreSQL issue types share the screens.
  const shared = jiraSurfaceConfigSchema.parse({
    projects: { P01: { project: 'checkout', issueTypes: { 'Infrastructure request': { bundle: 'postgres-database' }, 'Redis cache': { bundle: 'redis-cache' } } } },
  });
  const report = await syncer(shared).sync();
  for (const screen of ['P01 create', 'P01 view']) {
    const keys = await keysOn(screen);
    assert.deepEqual(bundlesOf(keys), ['postgres-database', 'redis-cache', 'request'], `${screen}: ${keys.join(', ')}`);
    assert.ok(!keys.includes('request/bundle'), 'no issue type without a bundle shows it: no Bundle field');
  }
  assert.equal(report.warnings.length, 2, report.warnings.join('\n'));
  assert.match(report.warnings[0]!, /screen "P01 (create|view)" is shown by the issue types of bundles postgres-database, redis-cache, so it carries the questions of each: give each bundle's issue type a screen scheme of its own/);
  // With an issue type that leaves the bundle to the Bundle field, the screens carry every bundle's questions.
  const generic = jiraSurfaceConfigSchema.parse({
    projects: { P01: { project: 'checkout', issueTypes: { 'Infrastructure request': {}, 'Redis cache': { bundle: 'redis-cache' } } } },
  });
  const widened = await syncer(generic).sync();
  assert.deepEqual(bundlesOf(await keysOn('P01 create')), ['checkout-api', 'postgres-database', 'redis-cache', 'request']);
  assert.ok((await keysOn('P01 create')).includes('request/bundle'));
  assert.match(widened.warnings[0]!, /shown by the issue types of bundle redis-cache and by one without a bundle, so it carries every bundle's questions/);
  assert.deepEqual(sb.violations(), []);
});
