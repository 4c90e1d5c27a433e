/**
 * `forms sync --surface servicenow` against the contract-checked ServiceNow sandbox, with the real
 * engine (Redis) behind the dynamic choices and the id store: catalog items, variables with the
 * renderer's type codes, choices, regexes; zero writes on a second run; changed overlays add and
 * deactivate, never delete; a new qa-signed version becomes a choice; a lost id store finds the
 * items again; 429s are waited out.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../src/config.ts';
import { openEngine, type OpenedEngine } from '../../src/workflow/bootstrap.ts';
import { createLogger } from '../../src/engine/logger.ts';
import { BundleRegistry } from '../../src/engine/registry/index.ts';
import { QueryCatalog } from '../../src/workflow/queries.ts';
import { SurfaceIdStore } from '../../src/engine/surface-ids.ts';
import { buildForm, type Form, type OptionSources } from '../../src/forms/index.ts';
import { FormCatalog } from '../../src/forms/catalog.ts';
import { EngineOptionSources } from '../../src/workflow/form-options.ts';
import { renderServiceNowForm } from '../../src/surfaces/servicenow/form-renderer.ts';
import { ServiceNowAuthError, ServiceNowClient, ServiceNowRateLimitedError } from '../../src/surfaces/servicenow/client.ts';
import { managedMarker, questionItem, QUESTION_ITEM_KEY, ServiceNowFormsSync } from '../../src/surfaces/servicenow/forms-sync.ts';
import { startServiceNowSandbox, type ServiceNowSandbox } from '../../sandbox/servicenow/servicenow-sandbox.ts';
import { exampleSeed } from '../../sandbox/servicenow/example-seed.ts';
import { useRedis } from '../helpers/redis.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const logger = createLogger('silent');
const ctx = { actor: 'platform-admin', surface: 'cli' as const };
const redis = useRedis();
let sb: ServiceNowSandbox;
let opened: OpenedEngine;
let dataDir: string;

before(async () => {
  await redis.ready();
  dataDir = mkdtempSync(join(tmpdir(), 'forms-sync-sn-'));
  opened = await openEngine(loadConfig({ REDIS_URL: redis.url, DATA_DIR: dataDir, LOG_LEVEL: 'silent' }));
  sb = await startServiceNowSandbox({ contract: true, seed: exampleSeed() });
  await opened.engine.createProject({ id: 'checkout', name: 'Checkout' }, ctx);
  await opened.engine.createEnvironment({ project: 'checkout', name: 'staging', labels: { production: false } }, ctx);
});
after(async () => {
  await sb?.stop();
  await opened?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

function client(extra: Partial<ConstructorParameters<typeof ServiceNowClient>[0]> = {}): ServiceNowClient {
  return new ServiceNowClient({ instanceUrl: sb.url, user: sb.credentials.username, password: sb.credentials.password, logger, ...extra });
}

function syncer(opts: { formsDir?: string; prefix?: string; forms?: { all(): Promise<Form[]> }; options?: OptionSources; c?: ServiceNowClient } = {}): ServiceNowFormsSync {
  const engine = opened.engine;
  return new ServiceNowFormsSync({
    client: opts.c ?? client(),
    ids: new SurfaceIdStore(redis.client(), opts.prefix ?? 'ts:'),
    forms: opts.forms ?? new FormCatalog(engine.registry, opts.formsDir ?? join(ROOT, 'forms')),
    options: opts.options ?? new EngineOptionSources(engine),
    logger,
    extraItems: () => [questionItem(new QueryCatalog(engine).list())],
  });
}

const rows = (table: string, pred: (r: Record<string, string>) => boolean = () => true) => sb.state.all(table).filter(pred);
const itemNamed = (name: string) => rows('sc_cat_item', (r) => r.name === name && (r.description ?? '').includes('Managed by ticket-surface'));

test('first sync creates one item per bundle plus the question item, with the rendered variables, choices and regexes', async () => {
  const before = sb.writes().length;
  const report = await syncer().sync();
  assert.equal(report.writes, sb.writes().length - before, 'the report counts every write call the sandbox saw');
  const forms = await new FormCatalog(opened.engine.registry, join(ROOT, 'forms')).all();
  const ids = new SurfaceIdStore(redis.client());
  for (const form of forms) {
    const items = itemNamed(form.title);
    assert.equal(items.length, 1, `one item "${form.title}"`);
    const item = items[0]!;
    assert.equal(await ids.get('servicenow', `item/${form.bundle}`), item.sys_id);
    assert.equal(await ids.keyOf('servicenow', item.sys_id!), `item/${form.bundle}`);
    assert.ok(item.description!.includes(managedMarker(form.bundle)));
    const spec = renderServiceNowForm(form);
    const vars = rows('item_option_new', (v) => v.cat_item === item.sys_id);
    assert.equal(vars.length, spec.variables.length);
    for (const want of spec.variables) {
      const v = vars.find((x) => x.name === want.record.name);
      assert.ok(v, `${form.bundle}: variable ${want.record.name}`);
      // The variable's name is the form field's name: a requested item's answers map back by name.
      if (want.formField) assert.equal(v.name, want.formField);
      assert.equal(v.type, String(want.record.type), `${want.record.name} type code`);
      assert.equal(v.question_text, want.record.question_text);
      assert.equal(v.mandatory, String(want.record.mandatory));
      assert.equal(v.order, String(want.record.order));
      assert.equal(await ids.get('servicenow', `variable/${form.bundle}/${v.name}`), v.sys_id);
      if (want.record.validate_regex) {
        const rx = sb.state.get('question_regex', v.validate_regex!);
        assert.ok(rx, `${want.record.name} linked to its regex`);
        assert.equal(rx.regex, spec.regexes.find((r) => r.name === want.record.validate_regex)!.regex);
      } else assert.equal(v.validate_regex, '');
      for (const c of spec.choices.filter((x) => x.question === want.record.name)) {
        const row = rows('question_choice', (r) => r.question === v.sys_id && r.value === c.value);
        assert.equal(row.length, 1, `${form.bundle}/${v.name} choice ${c.value}`);
        assert.equal(row[0]!.text, c.text);
        assert.equal(await ids.get('servicenow', `choice/${form.bundle}/${v.name}/${c.value}`), row[0]!.sys_id);
      }
    }
  }
  // Checked on something we know: the cache's access level is a select box offering both levels.
  const cache = itemNamed('Redis cache')[0]!;
  const access = rows('item_option_new', (v) => v.cat_item === cache.sys_id && v.name === 'access_level')[0]!;
  assert.equal(access.type, '5');
  assert.deepEqual(rows('question_choice', (c) => c.question === access.sys_id).map((c) => c.value).sort(), ['read-only', 'read-write']);
  // The environments choice comes from the engine's environments.
  const env = rows('item_option_new', (v) => v.cat_item === cache.sys_id && v.name === 'request_environment')[0]!;
  assert.deepEqual(rows('question_choice', (c) => c.question === env.sys_id).map((c) => c.value), ['staging']);
  // The question item lists every query of the catalog.
  const qItem = await ids.get('servicenow', `item/${QUESTION_ITEM_KEY}`);
  const qVar = rows('item_option_new', (v) => v.cat_item === qItem && v.name === 'query')[0]!;
  assert.deepEqual(
    rows('question_choice', (c) => c.question === qVar.sys_id).map((c) => c.value),
    new QueryCatalog(opened.engine).list().map((d) => d.name),
  );
  assert.deepEqual(sb.violations(), []);
  assert.deepEqual(sb.unimplemented, []);
});

test('a second sync on an unchanged catalog makes zero write calls', async () => {
  const before = sb.writes().length;
  const report = await syncer().sync();
  assert.equal(report.writes, 0, JSON.stringify(report));
  assert.deepEqual([report.created, report.updated, report.disabled], [[], [], []]);
  assert.equal(sb.writes().length, before, 'the sandbox saw no write call');
  assert.deepEqual(sb.violations(), []);
});

test('a new qa-signed version becomes a Version choice on resync; a revoked one is marked inactive, not deleted', async () => {
  const sync = syncer();
  const ids = new SurfaceIdStore(redis.client());
  const varId = (await ids.get('servicenow', 'variable/checkout-api/request_version'))!;
  assert.deepEqual(rows('question_choice', (c) => c.question === varId), []);
  await opened.engine.attest('checkout-api', '2.14.0', 'qa-signed', 'quinn', ctx);
  const added = await sync.resyncDynamicOptions();
  assert.equal(added.writes, 1);
  const choices = rows('question_choice', (c) => c.question === varId);
  assert.deepEqual(choices.map((c) => [c.value, c.inactive]), [['2.14.0', 'false']]);
  assert.match(choices[0]!.text!, /^2\.14\.0 \(qa-signed by quinn/);
  assert.equal((await sync.resyncDynamicOptions()).writes, 0, 'nothing left to change');

  await opened.engine.attestations.revoke('checkout-api', '2.14.0', 'qa-signed', ctx, 'found a bug');
  const revoked = await sync.resyncDynamicOptions();
  assert.deepEqual(revoked.disabled, ['choice "2.14.0" of checkout-api/request_version']);
  assert.deepEqual(rows('question_choice', (c) => c.question === varId).map((c) => [c.value, c.inactive]), [['2.14.0', 'true']]);
  // And back: attested again, the same row is re-enabled rather than a second one added.
  await opened.engine.attest('checkout-api', '2.14.0', 'qa-signed', 'quinn', ctx);
  await sync.resyncDynamicOptions();
  assert.deepEqual(rows('question_choice', (c) => c.question === varId).map((c) => [c.value, c.inactive]), [['2.14.0', 'false']]);
  assert.equal((await sync.sync()).writes, 0, 'a full sync agrees with the resync');
});

test('a resync reads only the dynamic variables whose offered choices changed since this process last synced them', async () => {
  const sync = syncer();
  const reads = async () => {
    const from = sb.calls.length;
    await sync.resyncDynamicOptions();
    return sb.calls.slice(from).filter((c) => c.method === 'GET' && c.path.endsWith('/question_choice')).length;
  };
  assert.ok((await reads()) > 1, 'the first resync of a process reads every dynamic variable');
  assert.equal(await reads(), 0, 'nothing offered changed: nothing read');
  await opened.engine.attestations.revoke('checkout-api', '2.14.0', 'qa-signed', ctx, 'found a bug');
  assert.equal(await reads(), 1, "only the checkout-api Version variable's choices");
  assert.deepEqual(rows('question_choice', (c) => c.value === '2.14.0').map((c) => c.inactive), ['true']);
  await opened.engine.attest('checkout-api', '2.14.0', 'qa-signed', 'quinn', ctx);
  assert.equal(await reads(), 1);
  await sync.sync();
  assert.ok((await reads()) > 1, 'after a full sync every dynamic variable is read again');
});

test('a changed overlay adds, updates and deactivates: no variable or choice is ever deleted', async () => {
  const formsDir = mkdtempSync(join(tmpdir(), 'forms-sync-sn-overlay-'));
  try {
    cpSync(join(ROOT, 'forms'), formsDir, { recursive: true });
    // Ops stop asking for the memory budget, relabel the key prefix and drop the presets.
    const file = join(formsDir, 'redis-cache.yaml');
    const overlay = readFileSync(file, 'utf8')
      .replace('  - param: /max_memory_mb\n', '')
      .replace('  - param: /key_prefix\n', '  - param: /key_prefix\n    label: Cache key prefix\n')
      .replace('presets: true', 'presets: false');
    assert.notEqual(overlay, readFileSync(file, 'utf8'));
    writeFileSync(file, overlay);
    const deletesBefore = sb.calls.filter((c) => c.method === 'DELETE').length;
    const varsBefore = rows('item_option_new').length;
    const report = await syncer({ formsDir }).sync();
    assert.ok(report.writes > 0);
    assert.ok(report.updated.some((u) => /^variable key_prefix of redis-cache: .*question_text/.test(u)), report.updated.join('\n'));
    assert.ok(report.disabled.includes('variable max_memory_mb of redis-cache'), report.disabled.join('\n'));
    assert.ok(report.disabled.includes('variable preset of redis-cache'), report.disabled.join('\n'));
    const cache = itemNamed('Redis cache')[0]!;
    const memory = rows('item_option_new', (v) => v.cat_item === cache.sys_id && v.name === 'max_memory_mb');
    assert.equal(memory.length, 1, 'the variable is still there');
    assert.equal(memory[0]!.active, 'false');
    assert.equal(rows('item_option_new', (v) => v.cat_item === cache.sys_id && v.name === 'key_prefix')[0]!.question_text, 'Cache key prefix');
    assert.equal(rows('item_option_new').length, varsBefore);
    assert.equal(sb.calls.filter((c) => c.method === 'DELETE').length, deletesBefore, 'no DELETE call');
    assert.equal((await syncer({ formsDir }).sync()).writes, 0, 'the changed catalog is stable');
    // Back to the shipped overlay: the variables come back to life.
    const back = await syncer().sync();
    assert.ok(back.updated.some((u) => u.startsWith('variable max_memory_mb of redis-cache: ') && u.includes('active')));
    assert.equal(rows('item_option_new', (v) => v.cat_item === cache.sys_id && v.name === 'max_memory_mb')[0]!.active, 'true');
  } finally {
    rmSync(formsDir, { recursive: true, force: true });
  }
});

test('a lost id store finds its items again by name and marker: nothing is created twice', async () => {
  const items = rows('sc_cat_item').length;
  const report = await syncer({ prefix: 'ts-lost:' }).sync();
  assert.equal(report.writes, 0, JSON.stringify(report.created));
  assert.equal(rows('sc_cat_item').length, items);
  const fresh = new SurfaceIdStore(redis.client(), 'ts-lost:');
  assert.equal(await fresh.get('servicenow', 'item/postgres-database'), itemNamed('PostgreSQL database')[0]!.sys_id);
  // The seeded, unmarked "PostgreSQL database" item is not ours and was left alone.
  const foreign = rows('sc_cat_item', (r) => r.name === 'PostgreSQL database' && !(r.description ?? '').includes('Managed by ticket-surface'));
  assert.equal(foreign.length, 1);
  assert.equal(foreign[0]!.sys_mod_count, '0');
});

test('every Massdriver fixture bundle syncs (containers, list collectors, regexes) and is stable on the second run', async () => {
  const root = join(ROOT, 'test', 'fixtures', 'massdriver');
  const registry = new BundleRegistry({ bundlePaths: [root], artifactDefinitionPaths: [join(root, 'artifact-definitions'), join(root, 'massdriver-catalog', 'resource-types')] });
  await registry.loadAll();
  const latest = new Map(registry.list().map((b) => [b.name, b]));
  const forms = [...latest.values()].map((b) => buildForm(b));
  assert.ok(forms.length >= 4);
  const fixed: OptionSources = { options: async (s) => [{ value: `${s.source}-a`, label: `${s.source} a` }] };
  const catalog = { all: async () => forms };
  const sync = syncer({ forms: catalog, options: fixed, prefix: 'ts-fixtures:' });
  const first = await sync.sync();
  assert.ok(first.writes > 0);
  const containers = rows('item_option_new', (v) => v.type === '19');
  assert.ok(containers.length > 0, 'nested objects became containers');
  assert.ok(rows('item_option_new', (v) => v.type === '21').length > 0, 'arrays of enums became list collectors');
  for (const f of forms) {
    const spec = renderServiceNowForm(f);
    const item = itemNamed(spec.item.name).find((i) => i.description!.includes(managedMarker(f.bundle)))!;
    assert.ok(item, f.bundle);
    const vars = rows('item_option_new', (v) => v.cat_item === item.sys_id);
    assert.deepEqual(vars.map((v) => [v.name, v.type]).sort(), spec.variables.map((v) => [v.record.name, String(v.record.type)]).sort());
    for (const lc of vars.filter((v) => v.type === '21')) assert.equal(lc.reference_qual, `question=${lc.sys_id}^inactive=false`, 'a list collector lists its own choices');
  }
  const second = await sync.sync();
  assert.equal(second.writes, 0, JSON.stringify(second, null, 1).slice(0, 2000));
  assert.deepEqual(sb.violations(), []);
});

test('the client waits out 429 Retry-After, and maps bad credentials to an auth error without echoing them', async () => {
  const waits: number[] = [];
  const c = client({ sleep: async (ms) => void waits.push(ms) });
  sb.rateLimit(2, 3, { methods: ['GET'] });
  const rowsRead = await c.list('sc_cat_item', { query: 'active=true', fields: ['sys_id', 'name'] });
  assert.ok(rowsRead.length > 0);
  assert.deepEqual(waits, [3000, 3000]);
  sb.rateLimit(1, 60, { methods: ['GET'] });
  await assert.rejects(client().list('sc_cat_item'), (e: unknown) => e instanceof ServiceNowRateLimitedError && e.retryAfterMs === 60_000);
  const bad = new ServiceNowClient({ instanceUrl: sb.url, user: sb.credentials.username, password: 'wrong-password-123', logger });
  await assert.rejects(bad.get('sc_cat_item', 'a'.repeat(32)), (e: unknown) => e instanceof ServiceNowAuthError && !e.message.includes('wrong-password-123'));
  assert.equal(await client().get('sc_cat_item', 'b'.repeat(32)), undefined, 'a missing record is undefined');
});

test('rate limits in the middle of a sync are waited out and the result is the same', async () => {
  const waits: number[] = [];
  sb.rateLimit(3, 1, { path: 'item_option_new' });
  const report = await syncer({ c: client({ sleep: async (ms) => void waits.push(ms) }) }).sync();
  assert.equal(waits.length, 3);
  assert.equal(report.writes, 0);
  assert.deepEqual(sb.violations(), []);
});
