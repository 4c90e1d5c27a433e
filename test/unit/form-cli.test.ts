import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main, type CliIo } from '../../src/cli.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

async function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIo = { out: (t) => void (out += `${t}\n`), err: (t) => void (err += `${t}\n`), env, cwd: ROOT };
  return { code: await main(args, io), out, err };
}

function file(content: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), 'form-cli-'));
  const p = join(dir, 'values.json');
  writeFileSync(p, typeof content === 'string' ? content : JSON.stringify(content));
  return p;
}

test('form render prints the Jira fields with their types, from the bundle and its overlay', async () => {
  const r = await cli(['form', 'render', 'examples/bundles/postgres-database', '--surface', 'jira', '--format', 'json']);
  assert.equal(r.code, 0, r.err);
  const spec = JSON.parse(r.out) as { fields: { formField: string; create: { name: string; type: string; searcherKey: string } }[] };
  const size = spec.fields.find((f) => f.formField === 'expected_size_gib')!;
  assert.equal(size.create.name, 'Expected data size (GiB)');
  assert.match(size.create.type, /:float$/);
  // The overlay asks only what ops would ask: connection_limit is not a question.
  assert.equal(spec.fields.find((f) => f.formField === 'connection_limit'), undefined);
});

test('form values maps Jira shapes to typed params', async () => {
  const values = file({ request_environment: { value: 'staging' }, request_package: 'orders-db', database_name: 'orders', username: 'orders_app', expected_size_gib: 50.0, production_critical: { value: 'Yes' }, owner_team: 'checkout' });
  const r = await cli(['form', 'values', 'examples/bundles/postgres-database', '--surface', 'jira', '--values', values]);
  assert.equal(r.code, 0, r.out + r.err);
  const params = JSON.parse(r.out) as Record<string, unknown>;
  assert.equal(params.expected_size_gib, 50);
  assert.equal(params.production_critical, true);
});

test('form values prints labelled errors and exits 1', async () => {
  const values = file({ database_name: 'orders', username: 'orders_app', expected_size_gib: '2', production_critical: 'false' });
  const r = await cli(['form', 'values', 'examples/bundles/postgres-database', '--surface', 'servicenow', '--values', values]);
  assert.equal(r.code, 1);
  assert.match(r.out, /Expected data size \(GiB\): must be at least 10 \(you entered 2\)/);
  assert.match(r.out, /Owner team: required/);
});

test('webhook inspect understands the real Jira delivery, and refuses a bad signature', async () => {
  const payload = 'test/fixtures/jira/webhook-jira-issue_created.cloud-2024.json';
  const headers = 'test/fixtures/jira/webhook-delivery-headers.cloud-2024.json';
  const ok = await cli(['webhook', 'inspect', '--surface', 'jira', payload, '--headers', headers]);
  assert.equal(ok.code, 0, ok.out + ok.err);
  const event = JSON.parse(ok.out) as { kind: string; ref: string; deliveryId: string };
  // The real delivery's project is not configured here: it is understood and ignored, with the reason.
  assert.match(event.kind, /^(ignored|request\.created)$/);
  assert.ok(event.ref.length > 0);
  const bad = await cli(['webhook', 'inspect', '--surface', 'jira', payload, '--headers', headers], { JIRA_WEBHOOK_SECRET: 'a-secret-of-sixteen-chars' });
  assert.equal(bad.code, 1);
  assert.match(bad.out, /refused: X-Hub-Signature/);
});
