/**
 * `npm run demo -- --story drift` runs as a person would run it: it changes the demo's real
 * PostgreSQL by hand, prints the drift comment, adopts one field, reverts the other through an
 * approved apply, shows the real effect and the audit trail, and exits 0.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';

/** Runs the story in its own process; its exit code and what it printed. */
function runStory(): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/demo/main.ts', '--story', 'drift'], { env: { ...process.env, LOG_LEVEL: 'silent' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out }));
  });
}

test('the drift demo story finds a hand change, adopts one field, reverts another, and exits 0', { timeout: 300_000 }, async () => {
  const { code, out } = await runStory();
  assert.equal(code, 0, out);
  assert.match(out, /ticket-surface · drift · checkout-staging-orders-db/, 'the drift comment is printed');
  assert.match(out, /\| connection_limit \| 20 +\| 20 +\| 400 /);
  assert.match(out, /\| Owner team +\| checkout +\| checkout +\| payments /);
  assert.match(out, /Adopted by Dana Developer: connection_limit 20 → 400 \(from reality\)/);
  assert.match(out, /Revert filed by Dana Developer/);
  assert.match(out, /connection limit 400 \(adopted: data model says 400, reality untouched\)/);
  assert.match(out, /owner team checkout \(reverted by an approved apply\)/);
  assert.match(out, /the next plan: no changes/);
  assert.match(out, /package\.drift\.adopt +by \S+ via reality/);
  assert.match(out, /hash chain intact; Jira contract violations: 0/);
});
