/**
 * `forms sync --surface jira` in per-bundle mode (`issueTypePerBundle: true`): on a site with two
 * projects, the first sync gives each bundle an issue type, a screen with only its questions (and
 * the summary), a screen scheme, a mapping in the configured project's issue type screen scheme
 * and a place in its issue type scheme; the other project's schemes are untouched; a second sync
 * writes nothing; a scheme shared with another project is refused, naming it, before any write.
 * Zero contract violations.
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
import { ConfigError } from '../../src/engine/errors.ts';
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
const PREFIX = 'ts-bundle-types:';
let opened: OpenedEngine;
let dataDir: string;
let sb: JiraSandbox;

/** INFRA and P01, each with an issue type screen scheme and an issue type scheme of its own. */
function twoProjectSite(): SandboxSeed {
  const seed = exampleSeed();
  return {
    ...seed,
    screens: [{ name: 'INFRA screen' }, { name: 'P01 screen' }],
    screenSchemes: [
      { name: 'INFRA screens', screens: { default: 'INFRA screen' } },
      { name: 'P01 screens', screens: { default: 'P01 screen' } },
    ],
    issueTypeScreenSchemes: [
      { name: 'INFRA scheme', mappings: { default: 'INFRA screens' } },
      { name: 'P01 scheme', mappings: { default: 'P01 screens' } },
    ],
    projects: [
      { ...seed.projects!.find((p) => p.key === 'INFRA')!, issueTypeScreenScheme: 'INFRA scheme' },
      { key: 'P01', name: 'Another team', issueTypes: ['Infrastructure request'], workflow: 'ticket-surface request', issueTypeScreenScheme: 'P01 scheme' },
    ],
  };
}

before(async () => {
  await redis.ready();
  dataDir = mkdtempSync(join(tmpdir(), 'jira-bundle-types-'));
  opened = await openEngine(loadConfig({ REDIS_URL: redis.url, DATA_DIR: dataDir, LOG_LEVEL: 'silent' }));
  await opened.engine.createProject({ id: 'checkout', name: 'Checkout' }, ctx);
  await opened.engine.createEnvironment({ project: 'checkout', name: 'staging', labels: { production: false } }, ctx);
  sb = await startJiraSandbox({ contract: true, seed: twoProjectSite(), maxPageSize: 2 });
});
after(async () => {
  await sb?.stop();
  await opened?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

const ids = () => new SurfaceIdStore(redis.client(), PREFIX);

function syncer(config: JiraSurfaceConfig): JiraFormsSync {
  return new JiraFormsSync({
    client: new JiraClient({ baseUrl: sb.url, email: sb.credentials.email, apiToken: sb.credentials.apiToken, logger }),
    ids: ids(),
    forms: new FormCatalog(opened.engine.registry, join(ROOT, 'forms')),
    config,
    options: new EngineOptionSources(opened.engine),
    logger,
  });
}

/** `key` in per-bundle mode (its request issue type and question type as in the example). */
const perBundle = (...keys: string[]) =>
  jiraSurfaceConfigSchema.parse({
    projects: Object.fromEntries(
      keys.map((key) => [key, { project: 'checkout', issueTypePerBundle: true, issueTypes: { 'Infrastructure request': {}, 'Infrastructure question': { kind: 'question' } } }]),
    ),
  });

/** Everything of a project's schemes as an administrator sees it. */
function schemesOf(key: string): unknown {
  const p = sb.state.project(key);
  const itss = sb.state.issueTypeScreenSchemes.get(p.issueTypeScreenSchemeId!)!;
  const screenSchemes = Object.values(itss.mappings).map((id) => sb.state.screenSchemes.get(id)!);
  const screens = screenSchemes.flatMap((ss) => Object.values(ss.screens).map((id) => sb.state.screens.get(id)!));
  return structuredClone({ issueTypes: p.issueTypeIds, itss, screenSchemes, screens, its: sb.state.issueTypeSchemes.get(p.issueTypeSchemeId!) });
}

/** The sync keys of the fields on the screen named `name` (summary as itself). */
async function keysOn(name: string): Promise<string[]> {
  const keyOf = new Map(Object.entries(await ids().all('jira')).map(([key, id]) => [id, key]));
  const screen = [...sb.state.screens.values()].find((s) => s.name === name)!;
  return screen.tabs.flatMap((t) => t.fieldIds).map((id) => keyOf.get(id) ?? id).sort();
}

test('per-bundle mode: the first sync creates each bundle’s issue type, screen and schemes in the configured project only; a second writes nothing', async () => {
  const other = schemesOf('P01');
  const report = await syncer(perBundle('INFRA')).sync();
  const infra = sb.state.project('INFRA');
  const itss = sb.state.issueTypeScreenSchemes.get(infra.issueTypeScreenSchemeId!)!;
  for (const [bundle, title] of [['redis-cache', 'Redis cache'], ['postgres-database', 'PostgreSQL database'], ['checkout-api', 'Promote checkout-api']] as const) {
    const type = sb.state.issueTypeByName(title);
    assert.ok(type, `issue type ${title}`);
    assert.match(type.description, /ticket-surface/);
    assert.ok(infra.issueTypeIds.includes(type.id), `${title} is in INFRA's issue type scheme`);
    const scheme = sb.state.screenSchemes.get(itss.mappings[type.id]!)!;
    assert.equal(scheme.name, `ticket-surface: ${title}`);
    assert.equal(sb.state.screens.get(scheme.screens.default)!.name, `ticket-surface: ${title}`);
    const keys = await keysOn(`ticket-surface: ${title}`);
    assert.deepEqual([...new Set(keys.map((k) => k.split('/')[0]))].sort(), [bundle, 'request', 'summary'].sort(), keys.join(', '));
    assert.ok(!keys.includes('request/bundle'), 'no Bundle field on a bundle’s own screen');
  }
  assert.ok((await keysOn('INFRA screen')).includes('request/bundle'), 'the generic request type keeps every bundle and the Bundle field');
  assert.deepEqual(schemesOf('P01'), other, "the other project's schemes are untouched");
  assert.ok(report.created.some((c) => c === 'issue type "Redis cache" for bundle redis-cache'), report.created.join('\n'));

  // A ticket of the Redis issue type takes Redis answers (its fields' contexts include the new type).
  const fieldOf = async (key: string) => (await ids().get('jira', key))!;
  const issue = sb.as(PEOPLE.developer).createIssue({
    project: 'INFRA',
    issueType: 'Redis cache',
    summary: 'cache',
    fields: { [await fieldOf('request/environment')]: { value: 'staging' }, [await fieldOf('redis-cache/key_prefix')]: 'checkout' },
  });
  assert.ok(issue.key.startsWith('INFRA-'));

  const writes = sb.writes().length;
  const second = await syncer(perBundle('INFRA')).sync();
  assert.equal(second.writes, 0, [...second.created, ...second.updated].join('\n'));
  assert.equal(sb.writes().length, writes, 'the sandbox saw no write call');
  assert.deepEqual(schemesOf('P01'), other);
  assert.deepEqual(sb.violations(), []);
});

test('per-bundle mode refuses a project whose issue type screen scheme or issue type scheme another project shares, naming it, and writes nothing', async () => {
  sb.state.seed({
    screens: [{ name: 'Shared screen' }],
    screenSchemes: [{ name: 'Shared screens', screens: { default: 'Shared screen' } }],
    issueTypeScreenSchemes: [{ name: 'Shared ITSS', mappings: { default: 'Shared screens' } }, { name: 'P04 ITSS', mappings: { default: 'Shared screens' } }, { name: 'P05 ITSS', mappings: { default: 'Shared screens' } }],
    projects: [
      { key: 'P02', name: 'Shares screens', issueTypes: ['Infrastructure request'], workflow: 'ticket-surface request', issueTypeScreenScheme: 'Shared ITSS' },
      { key: 'P03', name: 'Shares screens too', issueTypes: ['Infrastructure request'], workflow: 'ticket-surface request', issueTypeScreenScheme: 'Shared ITSS' },
      { key: 'P04', name: 'Shares types', issueTypes: ['Infrastructure request'], workflow: 'ticket-surface request', issueTypeScreenScheme: 'P04 ITSS', issueTypeScheme: 'Shared types' },
      { key: 'P05', name: 'Shares types too', issueTypes: ['Infrastructure request'], workflow: 'ticket-surface request', issueTypeScreenScheme: 'P05 ITSS', issueTypeScheme: 'Shared types' },
    ],
  });
  const writes = sb.writes().length;
  await assert.rejects(syncer(perBundle('P02')).sync(), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    assert.match(e.message, /issue type screen scheme "Shared ITSS" of project P02 is shared with P03/);
    assert.match(e.message, /issueTypePerBundle: false/);
    return true;
  });
  await assert.rejects(syncer(perBundle('P04')).sync(), (e: unknown) => e instanceof ConfigError && /issue type scheme "Shared types" of project P04 is shared with P05/.test(e.message));
  assert.equal(sb.writes().length, writes, 'a refusal writes nothing');
  // Both sharing projects configured in per-bundle mode: the scheme is theirs alone, so it is used.
  const both = await syncer(perBundle('P04', 'P05')).sync();
  assert.ok(both.created.some((c) => /issue types? in issue type scheme "Shared types"/.test(c)), both.created.join('\n'));
  assert.deepEqual(sb.violations(), []);
});
