/**
 * Stack templates at load: the example loads in dependency order with typed connections; a
 * connection cycle and a connection between mismatched artifact types are refused with a typed
 * user error naming the packages; params are checked against each bundle's schema.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { UserError } from '../../src/engine/errors.ts';
import { checkStackTemplate, loadStackTemplates, stackParams, StackTemplateError, stackTemplateSchema } from '../../src/workflow/stack-template.ts';
import { loadExampleRegistry } from '../integration/example-bundles-driver.ts';

const example = async () => stackTemplateSchema.parse(parse(await readFile('examples/stacks/preview-checkout.yaml', 'utf8')));

test('the example stack loads producers first, each connection typed from its producer', async () => {
  const templates = await loadStackTemplates('examples/stacks', await loadExampleRegistry());
  const t = templates.get('preview-checkout')!;
  assert.deepEqual(t.packages.map((p) => p.name).slice(-1), ['api']);
  assert.deepEqual(t.packages.find((p) => p.name === 'api')!.connections, [
    { connection: 'database', producer: 'db', artifact: 'authentication', type: 'postgresql-authentication' },
    { connection: 'cache', producer: 'cache', artifact: 'authentication', type: 'redis-authentication' },
  ]);
  const params = stackParams(t, { replicas: '3' }, 'pr-42');
  assert.equal(params.db!.database_name, 'checkout_pr_42');
  assert.equal(params.cache!.key_prefix, 'checkout-pr-42');
  assert.equal(params.api!.replicas, 3);
  assert.equal(params.db!.owner_team, 'checkout');
});

test('a connection cycle is refused naming the packages on it', async () => {
  const file = await example();
  // The database "consumes" the application, which consumes the database.
  const registry = await loadExampleRegistry();
  file.packages.api!.connections = { database: 'db' };
  file.packages.db!.connections = { loop: 'api' };
  const err = (() => {
    try {
      checkStackTemplate(file, registry);
    } catch (e) {
      return e;
    }
  })();
  assert.ok(err instanceof StackTemplateError && err instanceof UserError);
  assert.match(err.message, /connection cycle (api -> db -> api|db -> api -> db)/);
  assert.deepEqual([...err.packages].sort(), ['api', 'db']);
});

test('a connection between mismatched artifact types is refused naming both packages', async () => {
  const file = await example();
  file.packages.api!.connections = { database: 'cache' };
  assert.throws(() => checkStackTemplate(file, loadedRegistry!), (err: unknown) => {
    assert.ok(err instanceof StackTemplateError);
    assert.deepEqual(err.packages, ['api', 'cache']);
    assert.match(err.message, /api \(checkout-api\) accepts postgresql-authentication, but cache \(redis-cache\) produces authentication \(redis-authentication\)/);
    return true;
  });
});

test('params that break a bundle schema are refused naming the package', async () => {
  const file = await example();
  file.packages.db!.params.expected_size_gib = 'lots';
  assert.throws(() => checkStackTemplate(file, loadedRegistry!), (err: unknown) => err instanceof StackTemplateError && err.packages[0] === 'db' && /expected_size_gib/.test(err.message));
});

let loadedRegistry: Awaited<ReturnType<typeof loadExampleRegistry>> | undefined;
test.before(async () => {
  loadedRegistry = await loadExampleRegistry();
});
