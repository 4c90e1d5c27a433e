import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { BundleRegistry, SchemaValidator, sensitivePointers } from '../../src/engine/registry/index.ts';
import { MASK, maskAtPointers } from '../../src/engine/redact.ts';
import { NotFoundError, ValidationError } from '../../src/engine/errors.ts';
import type { JsonSchema } from '../../src/engine/model.ts';

const FIXTURES = fileURLToPath(new URL('../fixtures/massdriver/', import.meta.url));
const DEFINITIONS = join(FIXTURES, 'artifact-definitions');
const RESOURCE_TYPES = join(FIXTURES, 'massdriver-catalog', 'resource-types');

/** Walks a schema along property names (`a.b.c` -> properties.a.properties.b.properties.c). */
function prop(schema: JsonSchema, path: string): JsonSchema {
  let cur: JsonSchema = schema;
  for (const key of path.split('.')) {
    const next = (cur.properties as Record<string, JsonSchema> | undefined)?.[key];
    assert.ok(next, `schema has no property ${key} on the way to ${path}`);
    cur = next;
  }
  return cur;
}

/** Every massdriver.yaml in the fixtures, split into bundles and resource types by content. */
function fixtureFiles(): { bundles: string[]; resourceTypes: string[] } {
  const bundles: string[] = [];
  const resourceTypes: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name === 'massdriver.yaml') {
        const doc = parse(readFileSync(p, 'utf8')) as Record<string, unknown>;
        (typeof doc.schema === 'object' && !('params' in doc) ? resourceTypes : bundles).push(join(dir));
      }
    }
  };
  walk(FIXTURES);
  return { bundles, resourceTypes };
}

describe('bundle registry on the Massdriver fixtures', () => {
  const registry = new BundleRegistry({ bundlePaths: [FIXTURES], artifactDefinitionPaths: [DEFINITIONS, RESOURCE_TYPES] });
  let loadIssues: unknown[] = [];
  before(async () => {
    loadIssues = await registry.loadAll();
  });

  test('every bundle of every era loads without a problem, resource types are not bundles', () => {
    assert.deepEqual(loadIssues, []);
    const { bundles, resourceTypes } = fixtureFiles();
    assert.ok(bundles.length >= 4 && resourceTypes.length >= 4);
    const loadedDirs = registry.list().map((b) => b.dir).sort();
    assert.deepEqual(loadedDirs, bundles.map((d) => d.replace(/\/$/, '')).sort());
  });

  test('every fixture bundle lints clean, a resource type folder is reported as not a bundle', async () => {
    const { bundles, resourceTypes } = fixtureFiles();
    for (const dir of bundles) assert.deepEqual(await registry.lint(dir), [], dir);
    const issues = await registry.lint(resourceTypes[0]!);
    assert.equal(issues.length, 1);
    assert.match(issues[0]!.message, /resource type/);
  });

  test('legacy era (schema/draft-07, massdriver/ prefixed refs): connections resolve through relative files', () => {
    const b = registry.get('aws-rds-postgres');
    assert.equal(b.version, '1.0.0');
    assert.equal(b.raw.schema, 'draft-07');
    assert.deepEqual(b.connectionTypes, { network: 'aws-vpc', aws_authentication: 'aws-iam-role' });
    assert.deepEqual(b.artifactTypes, { authentication: 'postgresql-authentication' });
    // aws-vpc's arn is `$ref: ../types/aws-arn.json`, which itself is a plain schema file.
    const arn = prop(b.connections, 'network.data.infrastructure.arn');
    assert.equal(arn.$ref, undefined);
    assert.match(String(arn.pattern), /^\^arn:aws/);
    const subnet = (prop(b.connections, 'network.data.infrastructure.private_subnets').items as JsonSchema);
    assert.ok((subnet.required as string[]).includes('arn'));
    // The artifact got the definition's properties, and the password stays marked sensitive.
    assert.equal(prop(b.artifacts, 'authentication.data.authentication.password')['$md.sensitive'], true);
    assert.equal(prop(b.params, 'networking.subnet_type')['$md.immutable'], true);
    assert.equal(b.steps[0]?.provisioner, 'opentofu');
  });

  test('v2 catalog: un-prefixed refs to resource types, sibling title merged, $md.enum kept', () => {
    const app = registry.get('application');
    assert.deepEqual(app.connectionTypes, { network: 'virtual-network', database: 'postgres-database', bucket: 'object-storage' });
    assert.deepEqual(app.artifactTypes, { application: 'workload' });
    const db = prop(app.connections, 'database');
    assert.equal(db.title, 'PostgreSQL Database');
    assert.deepEqual(db.required, ['auth', 'id', 'policies']);
    assert.equal(prop(db, 'auth.password')['$md.sensitive'], true);
    assert.deepEqual(prop(app.params, 'database_policy')['$md.enum'], { connection: 'database', options: '.policies', value: '.name' });
    assert.equal(app.app?.envs !== undefined, true);
    assert.equal(prop(registry.get('postgres').params, 'username')['$md.copyable'], false);
  });

  test('the legacy bundle matches the legacy massdriver-cli bundle schema; v2 bundles do not, and still load', () => {
    const bundleSchema = JSON.parse(readFileSync(join(FIXTURES, 'massdriver-cli/pkg/bundle/schemas/bundle-schema.json'), 'utf8')) as JsonSchema;
    const validator = new SchemaValidator();
    assert.deepEqual(validator.validate(bundleSchema, registry.get('aws-rds-postgres').raw).filter((i) => i.pointer !== '/access' && i.pointer !== '/type'), []);
    const v2 = validator.validate(bundleSchema, registry.get('postgres').raw).map((i) => i.pointer);
    assert.ok(v2.includes('/access') && v2.includes('/schema'));
  });

  test('a params schema generated by airlock from OpenTofu variables works through a file $ref', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'registry-airlock-'));
    try {
      writeFileSync(join(dir, 'schema-params.json'), readFileSync(join(FIXTURES, 'airlock/pkg/opentofu/testdata/opentofu/simple/schema.json')));
      writeFileSync(join(dir, 'massdriver.yaml'), 'name: airlock-simple\nversion: 0.0.1\nparams: { $ref: ./schema-params.json }\nsteps: [{ path: src, provisioner: opentofu }]\n');
      const { bundle, issues } = await registry.loadBundle(dir);
      assert.deepEqual(issues, []);
      assert.equal(prop(bundle!.params, 'testobject.name').type, 'string');
      const problems = registry.validateParams(bundle!, { teststring: 5 });
      assert.ok(problems.some((i) => i.pointer === '/teststring' && i.field === 'teststring' && i.message === 'must be text'));
      assert.ok(problems.some((i) => i.pointer === '/testnumber' && i.message === 'required'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('unknown top-level keys are kept in raw', () => {
    const net = registry.get('network');
    assert.ok('dependencies' in net.raw);
    assert.ok('source_url' in net.raw);
  });

  test('validateParams uses titles, Massdriver `message` text and plain words', () => {
    const app = registry.get('application');
    const issues = registry.validateParams(app, { image: 'nginx latest', replicas: 0, port: 8080, environment: 'prod' });
    const byPointer = new Map(issues.map((i) => [i.pointer, i]));
    const rawImage = ((app.raw.params as JsonSchema).properties as Record<string, JsonSchema>).image!;
    assert.equal(byPointer.get('/image')?.message, (rawImage.message as Record<string, string>).pattern);
    assert.equal(byPointer.get('/image')?.field, 'Container Image');
    assert.deepEqual(byPointer.get('/replicas'), { pointer: '/replicas', field: 'Replicas', message: 'must be at least 1 (you entered 0)' });
    assert.deepEqual(byPointer.get('/domain_name'), { pointer: '/domain_name', field: 'Domain Name', message: 'required' });
    assert.equal(byPointer.get('/environment')?.message, 'must be one of: Development, Staging, Production');
    // The POSIX class [[:space:]] in the image pattern works after translation.
    const ok = registry.validateParams(app, { image: 'nginx:stable', replicas: 2, port: 8080, domain_name: 'app.example.com', environment: 'staging' });
    assert.deepEqual(ok, []);
  });

  test('validateParams follows `dependencies` into the branch the person chose', () => {
    const b = registry.get('aws-rds-postgres');
    const params = {
      database: { username: 'root', engine_version: '14.3', instance_class: 'db.t3.medium' },
      networking: { subnet_type: 'internal' },
      storage: { allocated: 100, max_allocated: 0, type: 'io1' },
      backup: { retention_period: 7 },
      observability: {},
    };
    assert.deepEqual(registry.validateParams(b, params), [{ pointer: '/storage/iops', field: 'IOPS', message: 'required' }]);
    assert.deepEqual(registry.validateParams(b, { ...params, storage: { ...params.storage, iops: 3000 } }), []);
  });

  test('artifact definitions answer to massdriver/x, x and org/x; precedence goes to configured paths', async () => {
    const a = registry.artifactDefinition('massdriver/aws-vpc');
    assert.equal(registry.artifactDefinition('aws-vpc'), a);
    assert.equal(registry.artifactDefinition('acme/aws-vpc'), a);
    assert.equal(a.label, 'AWS VPC');
    assert.ok(a.aliases.includes('massdriver/aws-vpc'));
    assert.throws(() => registry.artifactDefinition('no-such-thing'), (e: unknown) => e instanceof NotFoundError && e.what === 'artifact definition');
    assert.ok(registry.artifactDefinition('postgresql-authentication').file.startsWith(DEFINITIONS));
    const names = registry.listArtifactDefinitions().map((d) => d.name);
    assert.ok(names.includes('virtual-network') && names.includes('aws-iam-role') && names.includes('redis-authentication'));

    const plain = new BundleRegistry({ bundlePaths: [], artifactDefinitionPaths: [] });
    assert.deepEqual(await plain.loadAll(), []);
    assert.ok(plain.artifactDefinition('postgresql-authentication').file.startsWith(BundleRegistry.builtinDefinitionsDir()));
  });

  test('sensitive pointers are found in JSON definitions and resource types', () => {
    assert.deepEqual(registry.artifactDefinition('postgres-database').sensitivePointers, ['/auth/password']);
    assert.deepEqual(registry.artifactDefinition('postgresql-authentication').sensitivePointers, ['/data/authentication/password']);
    assert.ok(registry.artifactDefinition('kubernetes-cluster').sensitivePointers.includes('/data/authentication/user/token'));
    assert.deepEqual(registry.artifactDefinition('aws-vpc').sensitivePointers, []);
  });

  test('validateArtifact catches a missing field and never repeats a value', () => {
    const good = { id: 'db-1', policies: [{ id: 'ro', name: 'read-only' }], auth: { hostname: 'h', port: 5432, database: 'app', username: 'u', password: 'pw' } };
    assert.deepEqual(registry.validateArtifact('postgres-database', good), []);
    const { password: _pw, ...authWithoutPassword } = good.auth;
    assert.deepEqual(registry.validateArtifact('postgres-database', { ...good, auth: authWithoutPassword }), [
      { pointer: '/auth/password', field: 'Password', message: 'required' },
    ]);
    const leaky = registry.validateArtifact('postgres-database', { ...good, auth: { ...good.auth, password: 987654321 } });
    assert.equal(leaky.length, 1);
    assert.equal(leaky[0]!.pointer, '/auth/password');
    assert.ok(!JSON.stringify(leaky).includes('987654321'));
  });

  test('checkConnection accepts the declared type under any alias and refuses another', () => {
    const app = registry.get('application');
    registry.checkConnection(app, 'database', 'postgres-database');
    registry.checkConnection(app, 'database', 'acme/postgres-database');
    assert.throws(
      () => registry.checkConnection(app, 'database', 'massdriver/aws-vpc'),
      (e: unknown) => e instanceof ValidationError && e.issues[0]?.pointer === '/database' && /postgres-database/.test(e.issues[0].message) && /aws-vpc/.test(e.message),
    );
    assert.throws(() => registry.checkConnection(app, 'nope', 'postgres-database'), ValidationError);
  });

  test('get and versions', () => {
    assert.deepEqual(registry.versions('postgres'), ['0.1.0']);
    assert.equal(registry.get('postgres').name, 'postgres');
    assert.equal(registry.get('postgres@0.1.0').version, '0.1.0');
    assert.throws(() => registry.get('postgres', '9.9.9'), (e: unknown) => e instanceof NotFoundError && e.what === 'bundle version');
    assert.throws(() => registry.get('nope'), (e: unknown) => e instanceof NotFoundError && e.what === 'bundle');
    assert.deepEqual(registry.versions('nope'), []);
  });
});

describe('the project artifact definitions', () => {
  const registry = new BundleRegistry({ bundlePaths: [], artifactDefinitionPaths: [] });
  before(async () => {
    assert.deepEqual(await registry.loadAll(), []);
  });

  test('postgresql-authentication accepts what a local server produces and marks the password', () => {
    const def = registry.artifactDefinition('massdriver/postgresql-authentication');
    assert.deepEqual(def.sensitivePointers, ['/data/authentication/password']);
    const artifact = {
      data: { authentication: { hostname: '127.0.0.1', port: 5432, database: 'checkout_orders', username: 'checkout_app', password: 's3cret' } },
      specs: { rdbms: { engine: 'postgresql', version: '16' } },
    };
    assert.deepEqual(registry.validateArtifact(def.name, artifact), []);
    const bad = registry.validateArtifact(def.name, { data: { authentication: { ...artifact.data.authentication, port: 0, database: undefined } } });
    assert.deepEqual(bad.map((i) => i.pointer).sort(), ['/data/authentication/database', '/data/authentication/port']);
    assert.deepEqual(maskAtPointers(artifact, def.sensitivePointers, MASK), {
      ...artifact,
      data: { authentication: { ...artifact.data.authentication, password: MASK } },
    });
  });

  test('redis-authentication accepts a key-prefixed ACL user', () => {
    const def = registry.artifactDefinition('redis-authentication');
    assert.deepEqual(def.sensitivePointers, ['/data/authentication/password']);
    const data = { data: { authentication: { hostname: '127.0.0.1', port: 6379, username: 'checkout', password: 'x', key_prefix: 'checkout:' } } };
    assert.deepEqual(registry.validateArtifact(def.name, data), []);
    const bad = registry.validateArtifact(def.name, { data: { authentication: { ...data.data.authentication, key_prefix: 'a b' } } });
    assert.deepEqual(bad, [{ pointer: '/data/authentication/key_prefix', field: 'Key prefix', message: 'Letters, digits and : _ . - only.' }]);
  });

  test('sensitivePointers walks items, maps and branches', () => {
    const schema = {
      type: 'object',
      properties: {
        users: { type: 'array', items: { properties: { password: { type: 'string', '$md.sensitive': true } } } },
        tokens: { type: 'object', additionalProperties: { type: 'string', '$md.sensitive': true } },
        auth: { oneOf: [{ properties: { key: { '$md.sensitive': true } } }, { properties: { cert: {} } }] },
      },
    };
    assert.deepEqual(sensitivePointers(schema), ['/auth/key', '/tokens/*', '/users/*/password']);
  });
});
