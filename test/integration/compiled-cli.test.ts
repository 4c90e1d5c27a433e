/**
 * The CLI as installed: `bin/ticket-surface.mjs` runs the compiled JavaScript in dist/ under plain
 * node (no tsx loader, which could not load a .ts file), from another working directory, and the
 * files it reads beside the code (package.json, the artifact definitions of contracts/) resolve.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ensureBuilt } from '../../scripts/build.mjs';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'bin/ticket-surface.mjs');
const run = promisify(execFile);

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
