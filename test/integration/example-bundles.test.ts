import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { before, describe, it } from 'node:test';
import { costDelta, estimateMonthlyCost } from '../../src/engine/cost.ts';
import type { Bundle } from '../../src/engine/model.ts';
import type { BundleRegistry } from '../../src/engine/registry/index.ts';
import { parseScanners } from '../../src/provisioners/scanners.ts';
import { parseExecConfig } from '../../src/provisioners/exec.ts';
import { EXAMPLE_BUNDLES_DIR, loadExampleRegistry } from './example-bundles-driver.ts';

function walk(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else out.push(p);
  }
  return out;
}

describe('example bundles: descriptors, forms-facing schema, cost and scripts', () => {
  let registry: BundleRegistry;
  before(async () => {
    registry = await loadExampleRegistry();
  });

  it('loads every example bundle version without a problem', () => {
    assert.deepEqual(
      registry.list().map((b) => `${b.name}@${b.version}`),
      ['checkout-api@2.14.0', 'checkout-api@2.13.2', 'postgres-database@1.4.0', 'redis-cache@1.2.0'],
    );
    assert.deepEqual(registry.get('redis-cache').artifactTypes, { authentication: 'redis-authentication' });
    assert.deepEqual(registry.get('postgres-database').artifactTypes, { authentication: 'postgresql-authentication' });
    assert.deepEqual(registry.get('checkout-api').connectionTypes, { database: 'postgresql-authentication', cache: 'redis-authentication' });
  });

  it('describes every param for a form: title, description, ui order, immutability', () => {
    for (const b of registry.list()) {
      const props = b.params.properties as Record<string, Record<string, unknown>>;
      const order = (b.ui['ui:order'] as string[]).filter((k) => k !== '*');
      assert.deepEqual([...order].sort(), Object.keys(props).sort(), `${b.name}@${b.version} ui:order`);
      for (const [name, schema] of Object.entries(props)) {
        assert.ok(typeof schema.title === 'string' && schema.title.length > 0, `${b.name}.${name} has a title`);
        assert.ok(typeof schema.description === 'string' && schema.description.length > 0, `${b.name}.${name} has a description`);
      }
    }
    const immutable = (b: Bundle) =>
      Object.entries(b.params.properties as Record<string, Record<string, unknown>>)
        .filter(([, s]) => s['$md.immutable'] === true)
        .map(([k]) => k);
    assert.deepEqual(immutable(registry.get('redis-cache')), ['key_prefix']);
    assert.deepEqual(immutable(registry.get('postgres-database')), ['database_name', 'username']);
  });

  it('accepts its own examples and rejects bad answers field by field', () => {
    for (const b of registry.list()) {
      for (const example of (b.params.examples as Record<string, unknown>[]) ?? []) {
        const { __name, ...params } = example;
        assert.deepEqual(registry.validateParams(b, params), [], `${b.name}@${b.version} example ${String(__name)}`);
      }
    }
    const pg = registry.get('postgres-database');
    const issues = registry.validateParams(pg, { database_name: 'Orders; DROP', username: 'checkout_app', expected_size_gib: 2, production_critical: false });
    assert.deepEqual(issues.map((i) => i.pointer).sort(), ['/database_name', '/expected_size_gib', '/owner_team']);
    assert.match(issues.find((i) => i.pointer === '/expected_size_gib')!.message, /10/);
    assert.ok(!('express_checkout' in (registry.get('checkout-api', '2.13.2').params.properties as object)), 'express_checkout is new in 2.14.0');
    assert.ok('express_checkout' in (registry.get('checkout-api', '2.14.0').params.properties as object));
  });

  it('estimates monthly cost from each cost model', () => {
    const pg = registry.get('postgres-database');
    const orders = { database_name: 'checkout_orders', username: 'checkout_app', expected_size_gib: 50, production_critical: false, owner_team: 'checkout' };
    assert.equal(estimateMonthlyCost(pg, orders), 38.4);
    assert.equal(estimateMonthlyCost(pg, { ...orders, production_critical: true }), 76.8);
    assert.equal(estimateMonthlyCost(registry.get('redis-cache'), { key_prefix: 'checkout', access_level: 'read-write' }), 14.12);
    const before = estimateMonthlyCost(registry.get('checkout-api', '2.13.2'), { replicas: 2, log_level: 'info' });
    const after = estimateMonthlyCost(registry.get('checkout-api', '2.14.0'), { replicas: 2, log_level: 'info', express_checkout: true });
    assert.equal(before, 70);
    assert.equal(costDelta(before, after).delta, 0, 'a promotion with the same replicas costs nothing more');
  });

  it('declares exec steps as argv arrays and a scanner the engine can parse', () => {
    for (const b of registry.list()) {
      assert.equal(b.steps.length, 1);
      const config = parseExecConfig({ step: b.steps[0]!, stepName: b.steps[0]!.path });
      for (const cmd of [config.plan, config.apply, config.destroy]) assert.ok(Array.isArray(cmd), `${b.name}: commands run without a shell`);
    }
    assert.deepEqual(
      parseScanners(registry.get('postgres-database')).map((s) => [s.name, s.severity]),
      [['no-database-replacement', { production: 'fail', default: 'warn' }]],
    );
  });

  it('ships one identical kit.mjs in every step folder', () => {
    const kits = walk(EXAMPLE_BUNDLES_DIR).filter((f) => f.endsWith('/kit.mjs'));
    assert.equal(kits.length, 4);
    const first = readFileSync(kits[0]!, 'utf8');
    for (const k of kits) assert.equal(readFileSync(k, 'utf8'), first, `${relative(EXAMPLE_BUNDLES_DIR, k)} differs from ${relative(EXAMPLE_BUNDLES_DIR, kits[0]!)}`);
  });

  it('keeps step scripts free of shells and of imports a copied step folder cannot resolve', () => {
    for (const file of walk(EXAMPLE_BUNDLES_DIR).filter((f) => f.endsWith('.mjs'))) {
      const src = readFileSync(file, 'utf8');
      const name = relative(EXAMPLE_BUNDLES_DIR, file);
      assert.doesNotMatch(src, /shell\s*:\s*true|execSync|(?<![.\w])exec\(|spawnSync\(\s*['"]sh['"]/, `${name} must not use a shell`);
      for (const m of src.matchAll(/^import .* from '([^']+)';$/gm)) {
        assert.ok(m[1]!.startsWith('node:') || m[1]!.startsWith('./'), `${name} imports ${m[1]} (only node: built-ins and its own folder)`);
      }
    }
  });
});
