/**
 * jira.js is loaded only where Jira is written to: the compiled service running as the webhook
 * door (RUN_WORKERS=false), with Jira configured, takes a signed delivery and asks Jira who the
 * service is (to drop its own echoes) without loading jira.js; a process that writes a comment
 * through the same client loads it. Checked with the module-load probe (test/helpers).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ensureBuilt } from '../../scripts/build.mjs';
import { exampleSeed, PEOPLE, startJiraSandbox } from '../../sandbox/jira/index.ts';
import { waitFor } from '../../src/demo/wait.ts';
import { useRedis } from '../helpers/redis.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PROBE = join(ROOT, 'test/helpers/module-probe.mjs');
const SECRET = 'lazy-load-webhook-secret-0123456789';
const redis = useRedis();

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

const loadsJiraJs = (probeFile: string) => readFileSync(probeFile, 'utf8').split('\n').some((url) => url.includes('/node_modules/jira.js/'));

test('the webhook door takes a delivery and looks up its own account without loading jira.js; writing a comment loads it', { timeout: 180_000 }, async (t) => {
  await ensureBuilt();
  const dir = mkdtempSync(join(tmpdir(), 'ts-lazy-'));
  const sb = await startJiraSandbox({ contract: true, seed: exampleSeed(), webhookSecret: SECRET });
  t.after(async () => {
    await sb.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const jiraEnv = { JIRA_BASE_URL: sb.url, JIRA_EMAIL: sb.credentials.email, JIRA_API_TOKEN: sb.credentials.apiToken, JIRA_WEBHOOK_SECRET: SECRET, JIRA_CONFIG_FILE: join(ROOT, 'examples/jira-config.yaml') };

  const doorProbe = join(dir, 'door-modules.txt');
  writeFileSync(doorProbe, '');
  const port = await freePort();
  const env = { PATH: process.env.PATH, HOME: dir, REDIS_URL: redis.url, DATA_DIR: join(dir, 'data'), LOG_LEVEL: 'silent', RUN_WORKERS: 'false', HOST: '127.0.0.1', PORT: String(port), MODULE_PROBE_FILE: doorProbe, ...jiraEnv };
  const door = spawn(process.execPath, ['--import', PROBE, join(ROOT, 'dist/main.js')], { cwd: ROOT, env, stdio: 'ignore' });
  const exited = new Promise((r) => door.once('exit', r));
  t.after(() => door.kill('SIGKILL'));
  await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined))?.ok, 'the service to listen', 60_000);
  sb.registerWebhook({ url: `http://127.0.0.1:${port}/webhooks/jira`, secret: SECRET, events: ['jira:issue_created'] });
  sb.as(PEOPLE.developer).createIssue({ project: 'INFRA', issueType: 'Infrastructure request', summary: 'A delivery for the door' });
  await waitFor(() => sb.calls.some((c) => c.path === '/rest/api/3/myself' && c.status === 200), 'the door to ask Jira who the service is', 60_000);
  await sb.webhooksIdle();
  door.kill('SIGTERM');
  await exited;
  assert.ok(readFileSync(doorProbe, 'utf8').includes('/dist/surfaces/jira/'), 'the door loaded the Jira surface');
  assert.equal(loadsJiraJs(doorProbe), false, 'the door did not load jira.js');

  // The probe does see jira.js where Jira is written to: a comment through the same client.
  const writerProbe = join(dir, 'writer-modules.txt');
  writeFileSync(writerProbe, '');
  const key = sb.as(PEOPLE.developer).createIssue({ project: 'INFRA', issueType: 'Infrastructure request', summary: 'A comment target' }).key;
  const script = `
    const { JiraClient } = await import(${JSON.stringify(join(ROOT, 'dist/surfaces/jira/client.js'))});
    const { createLogger } = await import(${JSON.stringify(join(ROOT, 'dist/engine/logger.js'))});
    const client = new JiraClient({ baseUrl: process.env.JIRA_BASE_URL, email: process.env.JIRA_EMAIL, apiToken: process.env.JIRA_API_TOKEN, logger: createLogger('silent') });
    await client.addComment(${JSON.stringify(key)}, { type: 'doc', version: 1, content: [{ type: 'paragraph', content: [{ type: 'text', text: 'written' }] }] });`;
  await promisify(execFile)(process.execPath, ['--import', PROBE, '--input-type=module', '-e', script], { cwd: ROOT, env: { ...env, MODULE_PROBE_FILE: writerProbe } });
  assert.equal(sb.state.issue(key).comments.length, 1, 'the comment was written');
  assert.equal(loadsJiraJs(writerProbe), true, 'writing through the client loaded jira.js');
});
