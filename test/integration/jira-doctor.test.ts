/**
 * `ticket-surface doctor --surface jira` against the sandbox: a site set up as the README says
 * passes with exit 0; a misconfigured one (a transition removed, no webhook, a permission taken,
 * a clock off, wrong credentials) gets each problem named with its fix and exit 1. The doctor
 * only reads: the sandbox sees no write. Zero contract violations.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main, type CliIo } from '../../src/cli.ts';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/engine/logger.ts';
import { SurfaceIdStore } from '../../src/engine/surface-ids.ts';
import { FormCatalog } from '../../src/forms/catalog.ts';
import { EngineOptionSources } from '../../src/workflow/form-options.ts';
import { JiraClient } from '../../src/surfaces/jira/client.ts';
import { loadJiraConfig } from '../../src/surfaces/jira/config.ts';
import { JiraFormsSync } from '../../src/surfaces/jira/forms-sync.ts';
import { jiraTools } from '../../src/surfaces/jira/tools.ts';
import { startJiraSandbox, exampleSeed, type JiraSandbox, type SandboxSeed } from '../../sandbox/jira/index.ts';
import { useRedis } from '../helpers/redis.ts';
import { useStagedEngine } from '../helpers/staged-engine.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const logger = createLogger('silent');
const SECRET = 'doctor-webhook-secret-1234';
const redis = useRedis();
const staged = useStagedEngine(redis, 'jira-doctor');
const sandboxes: JiraSandbox[] = [];

after(async () => {
  for (const sb of sandboxes) await sb.stop();
});

/** A sandbox site set up as the README says: forms synced, the admin webhook registered with its secret and JQL. */
async function configuredSite(seed: SandboxSeed = exampleSeed(), webhook = true): Promise<JiraSandbox> {
  const sb = await startJiraSandbox({ contract: true, seed, maxPageSize: 2 });
  sandboxes.push(sb);
  const config = await loadJiraConfig(join(ROOT, 'examples/jira-config.yaml'));
  await new JiraFormsSync({
    ids: new SurfaceIdStore(staged.opened.redis.redis, `doctor-${sandboxes.length}:`),
    forms: new FormCatalog(staged.opened.engine.registry, join(ROOT, 'examples/forms')),
    options: new EngineOptionSources(staged.opened.engine),
    logger,
    client: new JiraClient({ baseUrl: sb.url, ...sb.credentials, logger }),
    config,
  }).sync();
  if (webhook) sb.registerWebhook({ url: 'https://ticket-surface.example.com/webhooks/jira', secret: SECRET, events: ['jira:issue_created', 'jira:issue_updated', 'comment_created'], jql: 'project in (INFRA, OPS)' });
  return sb;
}

function envFor(sb: JiraSandbox, credentials = sb.credentials): NodeJS.ProcessEnv {
  return { JIRA_BASE_URL: sb.url, JIRA_EMAIL: credentials.email, JIRA_API_TOKEN: credentials.apiToken, JIRA_WEBHOOK_SECRET: SECRET, LOG_LEVEL: 'silent', PATH: process.env.PATH };
}

async function doctorCli(env: NodeJS.ProcessEnv): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIo = { out: (t) => void (out += `${t}\n`), err: (t) => void (err += `${t}\n`), env, cwd: ROOT };
  const code = await main(['doctor', '--surface', 'jira'], io);
  return { code, out, err };
}

test('a site set up as the README says passes every check, and the doctor writes nothing', { timeout: 120_000 }, async () => {
  const sb = await configuredSite();
  const writesBefore = sb.writes().length;
  const r = await doctorCli(envFor(sb));
  assert.equal(r.code, 0, r.out + r.err);
  for (const check of ['credentials', 'clock', 'permissions', 'statuses', 'transitions', 'webhook', 'screens']) assert.match(r.out, new RegExp(`✔ ${check}:`), `${check} passed`);
  assert.match(r.out, /no problems/);
  assert.equal(sb.writes().length, writesBefore, 'read-only');
  assert.deepEqual(sb.violations(), []);
});

test('a missing transition, a missing webhook, a permission taken and a clock off are each named with a fix', { timeout: 120_000 }, async () => {
  const seed = exampleSeed();
  const wf = seed.workflows!['ticket-surface request']!;
  wf.transitions = wf.transitions.filter((t) => t.name !== 'Reject');
  const sb = await configuredSite(seed, false);
  sb.revokePermission('USER_PICKER');
  const config = loadConfig(envFor(sb));
  const skewed = new Date(Date.now() + 10 * 60_000);
  const report = await jiraTools.doctor!({ ...config, JIRA_CONFIG_FILE: join(ROOT, 'examples/jira-config.yaml') }, { logger, now: () => skewed });
  const by = (check: string) => report.problems.filter((p) => p.check === check);
  assert.match(by('transitions')[0]!.problem, /no transition into "Rejected"/);
  assert.match(by('transitions')[0]!.fix, /add a transition/);
  assert.match(by('webhook')[0]!.problem, /no enabled admin webhook sends to \/webhooks\/jira/);
  assert.match(by('webhook')[0]!.fix, /JIRA_WEBHOOK_SECRET/);
  assert.match(by('permissions')[0]!.problem, /Browse users and groups/);
  const skew = /clock is (\d+) s ahead of the site's/.exec(by('clock')[0]!.problem);
  assert.ok(skew && Math.abs(Number(skew[1]) - 600) <= 2, by('clock')[0]!.problem);
  assert.deepEqual(by('statuses'), [], 'every status still exists');
  assert.deepEqual(sb.violations(), []);

  const r = await doctorCli(envFor(sb));
  assert.equal(r.code, 1);
  assert.match(r.out, /✘ transitions: .*\n {4}fix: /);
  assert.match(r.out, /✘ webhook: /);
  assert.match(r.out, /problems found/);
});

test('a webhook without the JQL naming the projects is named', { timeout: 120_000 }, async () => {
  const sb = await configuredSite(exampleSeed(), false);
  sb.registerWebhook({ url: 'https://ticket-surface.example.com/webhooks/jira', secret: SECRET, events: ['jira:issue_created', 'jira:issue_updated', 'comment_created'], jql: 'project = INFRA' });
  const r = await doctorCli(envFor(sb));
  assert.equal(r.code, 1);
  assert.match(r.out, /✘ webhook: .*has no JQL filter naming every configured project \(INFRA, OPS\)/);
});

test('wrong credentials are named, nothing else is tried, and the token is never printed', { timeout: 60_000 }, async () => {
  const sb = await configuredSite();
  const calls = sb.calls.length;
  const r = await doctorCli(envFor(sb, { email: sb.credentials.email, apiToken: 'not-the-token-at-all' }));
  assert.equal(r.code, 1);
  assert.match(r.out, /✘ credentials: Jira refused JIRA_EMAIL and JIRA_API_TOKEN \(401\)/);
  assert.match(r.out, /fix: set JIRA_EMAIL/);
  assert.ok(!(r.out + r.err).includes('not-the-token-at-all'));
  assert.ok(sb.calls.length - calls <= 2, 'stops after the credentials');
});
