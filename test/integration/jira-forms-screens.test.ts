/**
 * `forms sync --surface jira` on a site with many projects and screens (more than a page of
 * each list): fields go only on the screens of the configured projects' request issue types,
 * found through each project's issue type screen scheme and screen scheme, or on the screens a
 * project names; a project with neither is refused before anything is written. Every list is
 * read to its last page (the sandbox answers small pages here). Zero contract violations.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
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
import { useStagedEngine } from '../helpers/staged-engine.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const logger = createLogger('silent');
const redis = useRedis();
const OTHER_PROJECTS = 60;
const staged = useStagedEngine(redis, 'jira-forms-screens');
const sandboxes: JiraSandbox[] = [];

after(async () => {
  for (const sb of sandboxes) await sb.stop();
});

/**
 * The example site grown big: INFRA and OPS with their own schemes (INFRA's questions on a
 * screen of their own), SHR sharing OPS's scheme, 60 other projects with three screens each,
 * and TEAM, a team-managed project without a scheme.
 */
function bigSite(): SandboxSeed {
  const seed = exampleSeed();
  const screens = ['INFRA create', 'INFRA view', 'INFRA questions', 'OPS screen'].map((name) => ({ name }));
  const screenSchemes: NonNullable<SandboxSeed['screenSchemes']> = [
    { name: 'INFRA requests', screens: { default: 'INFRA view', create: 'INFRA create' } },
    { name: 'INFRA questions', screens: { default: 'INFRA questions' } },
    { name: 'OPS', screens: { default: 'OPS screen' } },
  ];
  const itss: NonNullable<SandboxSeed['issueTypeScreenSchemes']> = [
    { name: 'INFRA scheme', mappings: { default: 'INFRA requests', 'Infrastructure question': 'INFRA questions' } },
    { name: 'OPS scheme', mappings: { default: 'OPS' } },
  ];
  const projects: NonNullable<SandboxSeed['projects']> = seed.projects!.map((p) => ({ ...p, issueTypeScreenScheme: `${p.key} scheme` }));
  projects.push({ key: 'SHR', name: 'Shares the OPS screens', issueTypes: ['Infrastructure request'], workflow: 'ticket-surface request', issueTypeScreenScheme: 'OPS scheme' });
  projects.push({ key: 'TEAM', name: 'Team-managed', issueTypes: ['Infrastructure request'], workflow: 'ticket-surface request', issueTypeScreenScheme: null });
  for (let i = 1; i <= OTHER_PROJECTS; i++) {
    const key = `P${String(i).padStart(2, '0')}`;
    for (const kind of ['create', 'edit', 'view']) screens.push({ name: `${key} ${kind}` });
    screenSchemes.push({ name: `${key} screens`, screens: { default: `${key} view`, create: `${key} create`, edit: `${key} edit` } });
    itss.push({ name: `${key} scheme`, mappings: { default: `${key} screens` } });
    projects.push({ key, name: `Project ${key}`, issueTypes: ['Infrastructure request'], workflow: 'ticket-surface request', issueTypeScreenScheme: `${key} scheme` });
  }
  return { ...seed, screens, screenSchemes, issueTypeScreenSchemes: itss, projects };
}

async function site(): Promise<JiraSandbox> {
  const sb = await startJiraSandbox({ contract: true, seed: bigSite(), maxPageSize: 2 });
  sandboxes.push(sb);
  return sb;
}

function syncer(sb: JiraSandbox, config: JiraSurfaceConfig, prefix: string): JiraFormsSync {
  return new JiraFormsSync({
    client: new JiraClient({ baseUrl: sb.url, email: sb.credentials.email, apiToken: sb.credentials.apiToken, logger }),
    ids: new SurfaceIdStore(redis.client(), prefix),
    forms: new FormCatalog(staged.opened.engine.registry, join(ROOT, 'forms')),
    config,
    options: new EngineOptionSources(staged.opened.engine),
    logger,
  });
}

const config = (projects: Record<string, object>) =>
  jiraSurfaceConfigSchema.parse({
    projects: Object.fromEntries(
      Object.entries(projects).map(([key, extra]) => [key, { project: 'checkout', issueTypes: { 'Infrastructure request': {}, 'Infrastructure question': { kind: 'question' } }, ...extra }]),
    ),
  });

/** Field ids on each screen, by screen name. */
function placement(sb: JiraSandbox): Map<string, string[]> {
  return new Map([...sb.state.screens.values()].map((s) => [s.name, s.tabs.flatMap((t) => t.fieldIds)]));
}

test('a site with many screens in many projects: only the configured projects’ request screens get the fields', async () => {
  const sb = await site();
  assert.ok(sb.state.screens.size > 100 && sb.state.projects.size > 50, 'more than a page of screens and projects');
  const before = placement(sb);
  const report = await syncer(sb, config({ INFRA: {}, OPS: {} }), 'ts-screens-a:').sync();
  const ids = Object.values(await new SurfaceIdStore(redis.client(), 'ts-screens-a:').all('jira')).filter((id) => id.startsWith('customfield_'));
  assert.ok(ids.length > 10, `fields synced: ${ids.length}`);
  const after = placement(sb);
  for (const name of ['INFRA create', 'INFRA view', 'OPS screen']) {
    for (const id of ids) assert.ok(after.get(name)!.includes(id), `${id} on ${name}`);
  }
  for (const [name, fields] of after) {
    if (['INFRA create', 'INFRA view', 'OPS screen'].includes(name)) continue;
    assert.deepEqual(fields, before.get(name), `screen "${name}" untouched`);
  }
  // OPS's scheme is SHR's too: said, not refused (the contexts keep the fields off SHR's issues).
  assert.equal(report.warnings.length, 1, report.warnings.join('\n'));
  assert.match(report.warnings[0]!, /"OPS scheme" is also used by SHR/);
  // The lists were read page after page (two items a page here).
  const paged = (path: string) => sb.calls.filter((c) => c.path === path && /startAt=[1-9]/.test(c.query)).length;
  assert.ok(paged('/rest/api/3/issuetypescreenscheme/mapping') > 0, 'scheme mappings paged');
  assert.ok(paged('/rest/api/3/screens') > 0, 'screens paged');

  // The fields work on the configured projects' issues, and a second sync writes nothing.
  const fieldOf = async (key: string) => (await new SurfaceIdStore(redis.client(), 'ts-screens-a:').get('jira', key))!;
  const issue = sb.as(PEOPLE.developer).createIssue({
    project: 'OPS',
    issueType: 'Infrastructure request',
    summary: 'cache',
    fields: { [await fieldOf('request/bundle')]: { value: 'redis-cache' }, [await fieldOf('request/environment')]: { value: 'staging' } },
  });
  assert.ok(issue.key.startsWith('OPS-'));
  // Another team's context on a shared field makes its list longer than a page.
  sb.state.createContext(await fieldOf('request/environment'), { name: 'someone else', projectIds: [sb.state.project('P01').id] });
  assert.equal((await syncer(sb, config({ INFRA: {}, OPS: {} }), 'ts-screens-a:').sync()).writes, 0);
  // It read the options (three bundles, two a page) and contexts to their last page to know.
  assert.ok(sb.calls.some((c) => /\/context\/\d+\/option$/.test(c.path) && /startAt=[1-9]/.test(c.query)), 'options paged');
  assert.ok(sb.calls.some((c) => /\/field\/customfield_\d+\/context$/.test(c.path) && /startAt=[1-9]/.test(c.query)), 'contexts paged');
  assert.deepEqual(sb.violations(), []);
});

test('a project without an issue type screen scheme is refused with what to configure; named screens are used as given', async () => {
  const sb = await site();
  const writes = sb.writes().length;
  await assert.rejects(syncer(sb, config({ INFRA: {}, TEAM: {} }), 'ts-screens-b:').sync(), (e: unknown) => {
    assert.ok(e instanceof ConfigError, String(e));
    assert.match(e.message, /project TEAM has no issue type screen scheme/);
    assert.match(e.message, /projects\.TEAM\.screens: \[<screen id>, \.\.\.\]/);
    return true;
  });
  assert.equal(sb.writes().length, writes, 'refused before any write');

  const screenId = (name: string) => [...sb.state.screens.values()].find((s) => s.name === name)!.id;
  const before = placement(sb);
  await syncer(sb, config({ INFRA: { screens: [screenId('INFRA create')] }, TEAM: { screens: [String(screenId('P07 edit'))] } }), 'ts-screens-b:').sync();
  const after = placement(sb);
  const changed = [...after].filter(([name, fields]) => fields.length !== before.get(name)!.length).map(([name]) => name).sort();
  assert.deepEqual(changed, ['INFRA create', 'P07 edit']);
  // The older `screen` (one screen by name) still works, and an unknown name is said.
  const beforeNamed = placement(sb);
  await syncer(sb, config({ INFRA: { screen: 'INFRA view' } }), 'ts-screens-b:').sync();
  assert.deepEqual([...placement(sb)].filter(([name, fields]) => fields.length !== beforeNamed.get(name)!.length).map(([name]) => name), ['INFRA view']);
  await assert.rejects(syncer(sb, config({ INFRA: { screen: 'Nope' } }), 'ts-screens-b:').sync(), (e: unknown) => e instanceof ConfigError && /no screen named "Nope"/.test(e.message));
  // An unknown screen id is named.
  await assert.rejects(syncer(sb, config({ INFRA: { screens: [999_999] } }), 'ts-screens-b:').sync(), (e: unknown) => e instanceof ConfigError && /no screen with id 999999/.test(e.message));
  assert.deepEqual(sb.violations(), []);
});
