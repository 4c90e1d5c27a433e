/**
 * An answer stays inside the instance's work-note limit: with a small `workNoteLimit`, a long
 * most-expensive ranking asked through the question item is cut to the rows that fit, says how
 * many were left out, and keeps who asked and how to get the rest.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { createLogger } from '../../src/engine/logger.ts';
import { startServiceNowWorld, type ServiceNowWorld } from '../../src/demo/servicenow-world.ts';
import { askQuestion, ritmState, syncServiceNowForms, waitFor, workNotes } from '../../src/demo/servicenow-steps.ts';
import { PEOPLE } from '../../sandbox/servicenow/example-seed.ts';

const LIMIT = 900;
const STACKS = 40;
let world: ServiceNowWorld;
let dir: string;
const ctx = { actor: 'platform-admin', surface: 'cli' as const };

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ts-sn-limit-'));
  const shipped = parseYaml(readFileSync(new URL('../../examples/servicenow-config.yaml', import.meta.url), 'utf8')) as Record<string, unknown>;
  const configFile = join(dir, 'servicenow-config.yaml');
  writeFileSync(configFile, toYaml({ ...shipped, workNoteLimit: LIMIT }));
  world = await startServiceNowWorld({ logger: createLogger('silent'), configFile, webhookRetryDelaysMs: [50, 100] });
  const { engine } = world.runtime.opened;
  await engine.createProject({ id: 'fleet' }, ctx);
  // Stack i costs 100 + i: the most expensive is the last one created.
  for (let i = 0; i < STACKS; i++) {
    const name = `env${String(i).padStart(2, '0')}`;
    await engine.createEnvironment({ project: 'fleet', name }, ctx);
    await engine.inventory.createPackage({ environment: `fleet-${name}`, name: 'db', bundle: 'postgres-database', version: '1.4.0', costMonthly: 100 + i }, ctx);
  }
  await syncServiceNowForms(world);
});
after(async () => {
  await world?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('a ranking longer than the work-note limit is cut to the rows that fit, with the rest counted', { timeout: 60_000 }, async () => {
  const sb = world.sandbox;
  const ritm = await askQuestion(world, PEOPLE.developer, { query: 'most-expensive', top: STACKS });
  const note = await waitFor(() => workNotes(sb, ritm.sysId).find((n) => n.key?.startsWith('question:')), 'the answer');
  assert.ok(note.text.length <= LIMIT, `note of ${note.text.length} characters`);
  const rows = note.text.split('\n').filter((l) => /^ {2}\| \d/.test(l));
  assert.ok(rows.length >= 3 && rows.length < STACKS, `${rows.length} rows kept`);
  // The rows kept are the top of the ranking, in order.
  rows.forEach((r, i) => assert.match(r, new RegExp(`^  \\| ${i + 1} +\\| fleet / env${STACKS - 1 - i} `)));
  assert.match(note.text, new RegExp(`${STACKS - rows.length} more`));
  assert.match(note.text, /Asked by Dana Developer\./);
  await waitFor(() => ritmState(sb, ritm.sysId) === 'Closed Complete', 'closed complete');
  assert.deepEqual(sb.violations(), []);
});
