/**
 * `ticket-surface forms sync --surface jira|servicenow`, called in-process (formsCommand) against
 * both contract-checked sandboxes and a real Redis: what it prints, its exit codes, and that the
 * second run reports (and makes) zero write calls.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig, type Config } from '../../src/config.ts';
import type { CliIo } from '../../src/surfaces/cli/io.ts';
import { formsCommand } from '../../src/surfaces/cli/forms-commands.ts';
import { loadSurfaceTools } from '../../src/cli.ts';
import { startJiraSandbox, exampleSeed as jiraSeed, type JiraSandbox } from '../../sandbox/jira/index.ts';
import { startServiceNowSandbox, type ServiceNowSandbox } from '../../sandbox/servicenow/servicenow-sandbox.ts';
import { exampleSeed as serviceNowSeed } from '../../sandbox/servicenow/example-seed.ts';
import { useRedis } from '../helpers/redis.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const redis = useRedis();
let jira: JiraSandbox;
let sn: ServiceNowSandbox;
let dataDir: string;
let config: Config;

before(async () => {
  await redis.ready();
  dataDir = mkdtempSync(join(tmpdir(), 'form-cli-sync-'));
  jira = await startJiraSandbox({ contract: true, seed: jiraSeed() });
  sn = await startServiceNowSandbox({ contract: true, seed: serviceNowSeed() });
  config = loadConfig({
    REDIS_URL: redis.url,
    DATA_DIR: dataDir,
    LOG_LEVEL: 'silent',
    JIRA_BASE_URL: jira.url,
    JIRA_EMAIL: jira.credentials.email,
    JIRA_API_TOKEN: jira.credentials.apiToken,
    JIRA_WEBHOOK_SECRET: 'cli-test-webhook-secret-0123',
    JIRA_CONFIG_FILE: join(ROOT, 'examples', 'jira-config.yaml'),
    SERVICENOW_INSTANCE_URL: sn.url,
    SERVICENOW_USER: sn.credentials.username,
    SERVICENOW_PASSWORD: sn.credentials.password,
    SERVICENOW_WEBHOOK_SECRET: 'cli-test-webhook-secret-0123',
  });
});
after(async () => {
  await jira?.stop();
  await sn?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

async function run(args: string[], cfg: Config = config): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIo = { out: (t) => void (out += `${t}\n`), err: (t) => void (err += `${t}\n`), env: { LOG_LEVEL: 'silent' }, cwd: ROOT };
  return { code: await formsCommand(args, io, cfg, loadSurfaceTools), out, err };
}

test('forms sync --surface servicenow prints what it created and the write count; the second run writes nothing', async () => {
  const first = await run(['sync', '--surface', 'servicenow']);
  assert.equal(first.code, 0, first.err);
  assert.match(first.out, /^created {2}catalog item "PostgreSQL database" \(postgres-database\)$/m);
  assert.match(first.out, /^created {2}variable expected_size_gib \(Single Line Text\) of postgres-database$/m);
  assert.match(first.out, /^created {2}catalog item "Infrastructure question" \(@question\)$/m);
  const writes = Number(/^(\d+) write calls?$/m.exec(first.out)?.[1]);
  assert.equal(writes, sn.writes().length, 'the printed count is what the instance saw');
  assert.ok(writes > 10);

  const second = await run(['sync', '--surface', 'servicenow', '--json']);
  assert.equal(second.code, 0, second.err);
  const report = JSON.parse(second.out) as { writes: number; created: string[] };
  assert.deepEqual([report.writes, report.created], [0, []]);
  assert.equal(sn.writes().length, writes);
  assert.deepEqual(sn.violations(), []);
});

test('forms sync --surface jira prints the created fields; the second run says Jira already matches', async () => {
  const first = await run(['sync', '--surface', 'jira']);
  assert.equal(first.code, 0, first.err);
  assert.match(first.out, /^created {2}field Expected data size \(GiB\) \(postgres-database\/expected_size_gib\) = customfield_\d+$/m);
  const second = await run(['sync', '--surface', 'jira']);
  assert.equal(second.code, 0, second.err);
  assert.match(second.out, /^0 write calls: Jira already matches the catalog$/m);
  assert.deepEqual(jira.violations(), []);
});

test('forms sync refuses a missing surface configuration, naming the variables, and bad usage', async () => {
  const bare = loadConfig({ REDIS_URL: redis.url, DATA_DIR: dataDir, LOG_LEVEL: 'silent' });
  const sn = await run(['sync', '--surface', 'servicenow'], bare);
  assert.equal(sn.code, 2);
  assert.match(sn.err, /SERVICENOW_INSTANCE_URL, SERVICENOW_USER, SERVICENOW_PASSWORD: required for forms sync --surface servicenow/);
  const j = await run(['sync', '--surface', 'jira'], bare);
  assert.equal(j.code, 2);
  assert.match(j.err, /JIRA_BASE_URL, JIRA_EMAIL, JIRA_API_TOKEN: required/);
  assert.equal((await run(['sync', '--surface', 'email'])).code, 2);
  assert.equal((await run(['push', '--surface', 'jira'])).code, 2);
});

test('a ServiceNow that refuses the credentials is a clear error, without the password', async () => {
  const wrong = { ...config, SERVICENOW_PASSWORD: 'not-the-password-42' };
  await assert.rejects(run(['sync', '--surface', 'servicenow'], wrong), (e: Error) => /SERVICENOW_USER and SERVICENOW_PASSWORD/.test(e.message) && !e.message.includes('not-the-password-42'));
});
