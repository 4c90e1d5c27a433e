import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function runMain(env: NodeJS.ProcessEnv, untilLine?: RegExp): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { cwd: ROOT, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env } });
    let out = '';
    let err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    let signalled = false;
    child.stdout.on('data', (d) => {
      out += d;
      if (untilLine && !signalled && untilLine.test(out)) {
        signalled = true;
        child.kill('SIGTERM');
      }
    });
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

test('the service refuses to start without a Jira webhook secret, naming the variable', async () => {
  const r = await runMain({ JIRA_BASE_URL: 'https://example.atlassian.net', JIRA_EMAIL: 'svc@example.com', JIRA_API_TOKEN: 'token-value' });
  assert.equal(r.code, 2);
  assert.equal(r.err.trim(), 'configuration error: JIRA_WEBHOOK_SECRET: required when JIRA_BASE_URL is set');
  assert.ok(!r.err.includes('token-value'));
});

test('with REDIS_URL unset the service starts its own redis-server with AOF in DATA_DIR, and stops cleanly', { timeout: 60_000 }, async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'entry-'));
  const r = await runMain({ DATA_DIR: dataDir, PORT: '0', LOG_LEVEL: 'info' }, /ticket-surface listening/);
  assert.match(r.out, /ticket-surface listening/);
  assert.equal(r.code, 0, r.err);
  const { readdirSync } = await import('node:fs');
  const files = readdirSync(join(dataDir, 'redis'), { recursive: true }).map(String);
  assert.ok(files.some((f) => /appendonly/.test(f)), `AOF files in ${files.join(', ')}`);
});
