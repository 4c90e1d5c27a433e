/**
 * The CLI as installed: `bin/ticket-surface.mjs` runs the compiled JavaScript in dist/ under plain
 * node (no tsx loader, which could not load a .ts file), from another working directory, and the
 * files it reads beside the code (package.json, the artifact definitions of contracts/) resolve.
 * The commands that need no Redis run with no redis-server to be found on PATH, and a module-load
 * probe shows they load neither the runtime, the workflow, nor Redis, queue, HTTP or Jira clients.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ensureBuilt } from '../../scripts/build.mjs';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'bin/ticket-surface.mjs');
const run = promisify(execFile);
const PROBE = join(ROOT, 'test/helpers/module-probe.mjs');

/** Runs the installed CLI with plain node from a temporary directory. */
function cli(args: string[]) {
  return run(process.execPath, [BIN, ...args], { cwd: tmpdir(), env: { PATH: process.env.PATH, HOME: process.env.HOME } });
}

test('the build writes dist/ with the CLI, the service and the worker', { timeout: 120_000 }, async () => {
  await ensureBuilt();
  for (const f of ['cli.js', 'main.js', 'worker-main.js', 'surfaces/shared/templates/status.md', 'policy/policy-schema.json']) {
    assert.ok(existsSync(join(ROOT, 'dist', f)), `dist/${f}`);
  }
});

test('the compiled CLI prints its version and lints an example bundle under plain node', { timeout: 120_000 }, async () => {
  await ensureBuilt();
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  assert.equal((await cli(['--version'])).stdout.trim(), pkg.version);
  assert.equal((await cli(['bundle', 'lint', join(ROOT, 'examples/bundles/postgres-database')])).stdout.trim(), 'ok');
});

/** What a command that needs no Redis must not load. */
const OFFLINE_MUST_NOT_LOAD = [
  '/dist/runtime.js',
  '/dist/workflow/',
  '/dist/queue/',
  '/node_modules/ioredis/',
  '/node_modules/bullmq/',
  '/node_modules/express/',
  '/node_modules/axios/',
  '/node_modules/jira.js/',
];

/**
 * Runs the compiled CLI with no redis-server reachable (PATH is an empty directory, REDIS_URL
 * unset) under the module probe; resolves to its exit code, output and the modules it loaded.
 */
async function offline(dir: string, args: string[]): Promise<{ code: number; out: string; loaded: string[] }> {
  const probeFile = join(dir, `modules-${Math.random().toString(36).slice(2)}.txt`);
  writeFileSync(probeFile, '');
  const env = { PATH: join(dir, 'empty-path'), HOME: dir, DATA_DIR: join(dir, 'data'), MODULE_PROBE_FILE: probeFile };
  let code = 0;
  let out = '';
  try {
    out = (await run(process.execPath, ['--import', PROBE, BIN, ...args], { cwd: ROOT, env })).stdout;
  } catch (err) {
    const e = err as { code?: number; stdout?: string };
    code = e.code ?? -1;
    out = e.stdout ?? '';
  }
  return { code, out, loaded: readFileSync(probeFile, 'utf8').split('\n').filter(Boolean) };
}

test('--help, --version, bundle lint, form render, form values and webhook inspect start no Redis and load no runtime', { timeout: 180_000 }, async (t) => {
  await ensureBuilt();
  const dir = mkdtempSync(join(tmpdir(), 'cli-offline-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const values = join(dir, 'values.json');
  writeFileSync(values, JSON.stringify({ request_environment: { value: 'staging' }, request_package: 'orders-db', database_name: 'orders', username: 'orders_app', expected_size_gib: 50, production_critical: { value: 'Yes' }, owner_team: 'checkout' }));
  const jira = 'test/fixtures/jira';
  const commands: Array<{ args: string[]; expect: RegExp }> = [
    { args: ['--help'], expect: /^ticket-surface: / },
    { args: ['--version'], expect: /^\d+\.\d+\.\d+/ },
    { args: ['bundle', 'lint', 'examples/bundles/postgres-database'], expect: /^ok$/m },
    { args: ['form', 'render', 'examples/bundles/postgres-database', '--surface', 'jira'], expect: /"bundle": "postgres-database"/ },
    { args: ['form', 'render', 'examples/bundles/postgres-database', '--surface', 'servicenow', '--format', 'text'], expect: /\S/ },
    { args: ['form', 'values', 'examples/bundles/postgres-database', '--surface', 'jira', '--values', values], expect: /"expected_size_gib": 50/ },
    {
      args: ['webhook', 'inspect', '--surface', 'jira', `${jira}/webhook-jira-issue_created.cloud-2024.json`, '--headers', `${jira}/webhook-delivery-headers.cloud-2024.json`],
      expect: /"deliveryId"/,
    },
  ];
  for (const { args, expect } of commands) {
    const r = await offline(dir, args);
    const name = args.slice(0, 2).join(' ');
    assert.equal(r.code, 0, `${name}: exit ${r.code}\n${r.out}`);
    assert.match(r.out, expect, name);
    assert.ok(r.loaded.some((u) => u.includes('/dist/cli.js')), `${name} ran the compiled CLI`);
    assert.deepEqual(r.loaded.filter((u) => u.endsWith('.ts')), [], `${name} loaded no TypeScript`);
    for (const bad of OFFLINE_MUST_NOT_LOAD) assert.ok(!r.loaded.some((u) => u.includes(bad)), `${name} loaded ${bad}`);
  }
});

test('the probe sees what a command loads: bundle list opens the registry through the workflow', { timeout: 120_000 }, async (t) => {
  await ensureBuilt();
  const dir = mkdtempSync(join(tmpdir(), 'cli-offline-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const r = await offline(dir, ['bundle', 'list']);
  assert.equal(r.code, 0, r.out);
  assert.ok(r.loaded.some((u) => u.includes('/dist/workflow/bootstrap.js')));
});
