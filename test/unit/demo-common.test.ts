import { test } from 'node:test';
import assert from 'node:assert/strict';
import { unseenLines, keepInstructions, wantsKeep, CLOCK_LINE } from '../../src/demo/demo-common.ts';
import { loadConfig } from '../../src/config.ts';

test('an edited comment prints its header and only the lines no comment printed before', () => {
  const shown = new Set<string>();
  const result = 'Applied in 1.3 s\nauthentication (PostgreSQL Authentication)\npassword: not shown here';
  assert.deepEqual(unseenLines(result, shown), result.split('\n'));
  const status = `ticket-surface · request r · APPLIED\nPlan for x\n${result}`;
  assert.deepEqual(unseenLines(status, shown), ['ticket-surface · request r · APPLIED', 'Plan for x']);
  assert.deepEqual(unseenLines(status, shown), ['ticket-surface · request r · APPLIED'], 'the header is always shown');
});

test('--keep prints commands that reach the demo\'s own Redis, prefix and data, and says the clock', () => {
  assert.equal(wantsKeep(['node', 'main.ts', '--keep']), true);
  assert.equal(wantsKeep(['node', 'main.ts']), false);
  const config = loadConfig({ REDIS_URL: 'redis://127.0.0.1:6390', DATA_DIR: 'demo-data', REDIS_PREFIX: 'demo:' });
  const lines = keepInstructions(config, 'checkout-staging-orders-db', { service: 'http://s', sandbox: 'http://j' }).join('\n');
  assert.match(lines, /REDIS_URL=redis:\/\/127\.0\.0\.1:6390 REDIS_PREFIX=demo: DATA_DIR=demo-data npx ticket-surface package show checkout-staging-orders-db --reveal/);
  assert.match(CLOCK_LINE, /2026-11-24 10:00 Europe\/Berlin/);
});
