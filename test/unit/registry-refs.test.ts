import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BundleRegistry } from '../../src/engine/registry/index.ts';
import type { FieldIssue } from '../../src/engine/errors.ts';
import type { JsonSchema } from '../../src/engine/model.ts';

const FIXTURES = fileURLToPath(new URL('../fixtures/massdriver/', import.meta.url));
const RESOURCE_TYPES = join(FIXTURES, 'massdriver-catalog', 'resource-types');

let root = '';
before(() => {
  root = mkdtempSync(join(tmpdir(), 'registry-refs-'));
});
after(() => {
  rmSync(root, { recursive: true, force: true });
});

/** Writes files (path relative to a fresh folder under the temp root) and returns the folder. */
function workspace(name: string, files: Record<string, string>): string {
  const dir = join(root, name);
  for (const [rel, text] of Object.entries(files)) {
    const p = join(dir, rel);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, text);
  }
  return dir;
}

/** 1-based line of the first line containing `marker`. */
function lineOf(text: string, marker: string): number {
  const i = text.split('\n').findIndex((l) => l.includes(marker));
  assert.ok(i >= 0, `marker ${marker} not in text`);
  return i + 1;
}

function props(schema: JsonSchema): Record<string, JsonSchema> {
  return (schema.properties ?? {}) as Record<string, JsonSchema>;
}

function registry(extra: Partial<ConstructorParameters<typeof BundleRegistry>[0]> = {}): BundleRegistry {
  return new BundleRegistry({ bundlePaths: [], artifactDefinitionPaths: [RESOURCE_TYPES], ...extra });
}

async function load(r: BundleRegistry, dir: string): Promise<{ bundle: NonNullable<Awaited<ReturnType<BundleRegistry['loadBundle']>>['bundle']>; issues: FieldIssue[] }> {
  const { bundle, issues } = await r.loadBundle(dir);
  assert.deepEqual(issues, []);
  assert.ok(bundle);
  return { bundle, issues };
}

describe('$ref resolution', () => {
  test('relative files, fragments into YAML, in-document #/ and $defs refs, sibling keys win', async () => {
    const dir = workspace('refs', {
      'bundle/massdriver.yaml': [
        'name: refs',
        'version: 1.0.0',
        'params:',
        '  $defs:',
        '    port: { type: integer, minimum: 1, maximum: 65535, title: Port }',
        '  properties:',
        '    port:',
        '      $ref: "#/$defs/port"',
        '      title: Listener port',
        '    tags: { $ref: ./schemas/tags.json }',
        '    zone: { $ref: "../shared/defs.yaml#/defs/zone" }',
        '    copy: { $ref: "#/properties/zone" }',
        'connections:',
        '  properties:',
        '    db: { $ref: massdriver/postgres-database, title: Orders database }',
        'artifacts: {}',
        'steps: [{ path: src, provisioner: exec }]',
      ].join('\n'),
      'bundle/schemas/tags.json': JSON.stringify({ $schema: 'http://json-schema.org/draft-07/schema', type: 'object', additionalProperties: { $ref: './tag-value.json' } }),
      'bundle/schemas/tag-value.json': JSON.stringify({ type: 'string', maxLength: 8 }),
      'shared/defs.yaml': 'defs:\n  zone: { type: string, enum: [a, b], title: Zone }\n',
    });
    const r = registry();
    const { bundle } = await load(r, join(dir, 'bundle'));
    const p = props(bundle.params);
    assert.deepEqual(p.port, { type: 'integer', minimum: 1, maximum: 65535, title: 'Listener port' });
    assert.deepEqual(p.tags, { type: 'object', additionalProperties: { type: 'string', maxLength: 8 } });
    assert.deepEqual(p.zone, { type: 'string', enum: ['a', 'b'], title: 'Zone' });
    assert.deepEqual(p.copy, p.zone);
    const db = props(bundle.connections).db!;
    assert.equal(db.title, 'Orders database');
    assert.ok('auth' in props(db));
    assert.deepEqual(bundle.connectionTypes, { db: 'postgres-database' });
    assert.deepEqual(r.validateParams(bundle, { port: 0, tags: { team: 'much-too-long' }, zone: 'c' }), [
      { pointer: '/port', field: 'Listener port', message: 'must be at least 1 (you entered 0)' },
      { pointer: '/tags/team', field: 'team', message: 'must be at most 8 characters long' },
      { pointer: '/zone', field: 'Zone', message: 'must be one of: a, b' },
    ]);
  });

  test('a connection may $ref an artifact definition file by path', async () => {
    const dir = workspace('file-def', {
      'b/massdriver.yaml': 'name: file-def\nconnections:\n  properties:\n    net: { $ref: ../defs/net.json }\n',
      'defs/net.json': JSON.stringify({ $md: { name: 'acme-net' }, type: 'object', properties: { cidr: { type: 'string' } } }),
    });
    const { bundle } = await load(registry(), join(dir, 'b'));
    assert.deepEqual(bundle.connectionTypes, { net: 'acme-net' });
    assert.equal(bundle.version, '0.0.0');
    assert.equal(props(bundle.connections).net!.$md, undefined);
    assert.deepEqual(props(props(bundle.connections).net!).cidr, { type: 'string' });
  });

  test('an unresolved $ref names the file, the JSON pointer of the ref and its line', async () => {
    const text = 'name: broken\nparams:\n  properties:\n    a:\n      $ref: ./missing.json\n';
    const dir = workspace('unresolved', { 'massdriver.yaml': text });
    const issues = await registry().lint(dir);
    assert.equal(issues.length, 1);
    assert.equal(issues[0]!.file, join(dir, 'massdriver.yaml'));
    assert.equal(issues[0]!.pointer, '/params/properties/a/$ref');
    assert.equal(issues[0]!.line, lineOf(text, '$ref: ./missing.json'));
    assert.match(issues[0]!.message, /missing\.json.*file not found|file not found.*missing\.json/);
  });

  test('a broken ref inside a referenced file is reported against that file', async () => {
    const dir = workspace('nested-broken', {
      'massdriver.yaml': 'name: nested\nparams: { $ref: ./p.json }\n',
      'p.json': JSON.stringify({ properties: { x: { $ref: '#/nowhere' } } }),
    });
    const issues = await registry().lint(dir);
    assert.ok(issues.some((i) => i.file === join(dir, 'p.json') && i.pointer === '/properties/x/$ref' && /nowhere/.test(i.message)), JSON.stringify(issues));
  });

  test('unknown artifact definitions and connections that are not artifact definitions are reported', async () => {
    const dir = workspace('bad-connections', {
      'massdriver.yaml': [
        'name: bad-connections',
        'connections:',
        '  properties:',
        '    a: { $ref: massdriver/does-not-exist }',
        '    b: { $ref: ./plain.json }',
        '    c: { type: object }',
      ].join('\n'),
      'plain.json': JSON.stringify({ type: 'object' }),
    });
    const issues = await registry().lint(dir);
    const at = (p: string): FieldIssue | undefined => issues.find((i) => i.pointer === p);
    assert.match(at('/connections/properties/a/$ref')?.message ?? '', /unknown artifact definition "massdriver\/does-not-exist"/);
    assert.match(at('/connections/properties/b/$ref')?.message ?? '', /not an artifact definition/);
    assert.match(at('/connections/properties/c')?.message ?? '', /must be a \$ref to an artifact definition/);
  });

  test('reference cycles are detected across files and inside one document', async () => {
    const dir = workspace('cycles', {
      'files/massdriver.yaml': 'name: cyc\nparams: { $ref: ./a.json }\n',
      'files/a.json': JSON.stringify({ properties: { b: { $ref: './b.json' } } }),
      'files/b.json': JSON.stringify({ properties: { a: { $ref: './a.json' } } }),
      'local/massdriver.yaml': 'name: tree\nparams:\n  $defs:\n    node:\n      properties:\n        child: { $ref: "#/$defs/node" }\n  properties:\n    root: { $ref: "#/$defs/node" }\n',
    });
    for (const sub of ['files', 'local']) {
      const issues = await registry().lint(join(dir, sub));
      assert.ok(issues.length > 0 && issues.every((i) => /cycle/.test(i.message)), JSON.stringify(issues));
    }
  });
});

describe('YAML eras and quirks', () => {
  test('anchors, aliases and merge keys', async () => {
    const dir = workspace('anchors', {
      'massdriver.yaml': [
        'name: anchors',
        'version: 2.0.0',
        'params:',
        '  properties:',
        '    primary: &size',
        '      title: Size',
        '      type: integer',
        '      minimum: 10',
        '    replica: *size',
        '    backup:',
        '      <<: *size',
        '      title: Backup size',
      ].join('\n'),
    });
    const r = registry();
    const { bundle } = await load(r, dir);
    const p = props(bundle.params);
    assert.deepEqual(p.replica, p.primary);
    assert.deepEqual(p.backup, { title: 'Backup size', type: 'integer', minimum: 10 });
    assert.deepEqual(
      r.validateParams(bundle, { primary: 20, replica: 5, backup: 1 }).map((i) => `${i.field}: ${i.message}`),
      ['Size: must be at least 10 (you entered 5)', 'Backup size: must be at least 10 (you entered 1)'],
    );
  });

  test('if/then reports the failing `then` requirement only; unknown keys and keywords are tolerated', async () => {
    const dir = workspace('if-then', {
      'massdriver.yaml': [
        'name: if-then',
        'access: private',
        'type: infrastructure',
        'cost: { monthly: 12 }',
        'scanners: [{ name: checkov }]',
        'params:',
        '  properties:',
        '    ha: { type: boolean, title: High availability }',
        '    zones: { type: integer, title: Zones, $md.immutable: true, x-custom: 1, max: 3 }',
        '  if: { properties: { ha: { const: true } }, required: [ha] }',
        '  then: { required: [zones] }',
      ].join('\n'),
    });
    const r = registry();
    const { bundle } = await load(r, dir);
    assert.deepEqual(bundle.raw.cost, { monthly: 12 });
    assert.deepEqual(r.validateParams(bundle, { ha: true }), [{ pointer: '/zones', field: 'Zones', message: 'required' }]);
    assert.deepEqual(r.validateParams(bundle, { ha: false }), []);
  });

  test('malformed YAML names the line', async () => {
    const text = 'name: bad\nparams:\n  properties:\n    a: [1, 2\n    b: { type: string }\n';
    const dir = workspace('malformed', { 'massdriver.yaml': text });
    const issues = await registry().lint(dir);
    assert.ok(issues.length >= 1);
    assert.equal(issues[0]!.file, join(dir, 'massdriver.yaml'));
    assert.ok(issues[0]!.line !== undefined && issues[0]!.line >= lineOf(text, 'a: [1, 2'), JSON.stringify(issues));
    assert.match(issues[0]!.message, /malformed YAML/);
  });

  test('a missing name, a bad version and a schema that is not JSON Schema are each reported with a pointer', async () => {
    const text = [
      'version: one',
      'params:',
      '  properties:',
      '    size: { type: strng }',
      '    count: { type: integer, minimum: "ten" }',
      '    code: { type: string, pattern: "([a-z" }',
      'steps: [{ path: src }]',
    ].join('\n');
    const dir = workspace('invalid-schema', { 'massdriver.yaml': text });
    const issues = await registry().lint(dir);
    const at = (p: string): FieldIssue | undefined => issues.find((i) => i.pointer === p);
    assert.match(at('/name')?.message ?? '', /missing bundle name/);
    assert.match(at('/version')?.message ?? '', /semantic version/);
    assert.equal(at('/version')?.line, 1);
    assert.match(at('/params/properties/size/type')?.message ?? '', /not valid JSON Schema/);
    assert.equal(at('/params/properties/size/type')?.line, lineOf(text, 'size:'));
    assert.match(at('/params/properties/count/minimum')?.message ?? '', /must be number/);
    assert.match(at('/params/properties/code/pattern')?.message ?? '', /regular expression/);
    assert.match(at('/steps/0/provisioner')?.message ?? '', /provisioner is missing/);
  });

  test('versions of one bundle in several folders sort newest first; latest is the default', async () => {
    const files: Record<string, string> = {};
    for (const v of ['1.2.0', '1.10.0', '1.10.0-rc.1', '0.9.0']) files[`v${v}/massdriver.yaml`] = `name: multi\nversion: ${v}\nparams: {}\n`;
    files['node_modules/junk/massdriver.yaml'] = 'name: junk\nversion: 9.9.9\n';
    files['dup/massdriver.yaml'] = 'name: multi\nversion: 1.2.0\n';
    const dir = workspace('versions', files);
    const r = registry({ bundlePaths: [dir] });
    const issues = await r.loadAll();
    assert.equal(issues.length, 1);
    assert.match(issues[0]!.message, /multi@1\.2\.0 is also defined/);
    assert.deepEqual(r.versions('multi'), ['1.10.0', '1.10.0-rc.1', '1.2.0', '0.9.0']);
    assert.equal(r.get('multi').version, '1.10.0');
    assert.equal(r.get('multi', '0.9.0').version, '0.9.0');
    assert.deepEqual(r.versions('junk'), []);
    assert.deepEqual(r.list().map((b) => b.version), ['1.10.0', '1.10.0-rc.1', '1.2.0', '0.9.0']);
  });
});

describe('remote $refs', () => {
  let server: Server;
  let base = '';
  const hits: string[] = [];
  before(async () => {
    server = createServer((req, res) => {
      hits.push(req.url ?? '');
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ type: 'string', title: 'From the network', minLength: 3 }));
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise<void>((ok) => server.close(() => ok()));
  });

  test('https refs are read from the schema mirror', async () => {
    const mirror = workspace('mirror', {
      'schemas.example.com/common/port.json': JSON.stringify({ $id: 'https://schemas.example.com/common/port.json', type: 'integer', maximum: 65535, definitions: { min: { minimum: 1 } } }),
      'schemas.example.com/common/name.yaml': 'type: string\nallOf: [{ $ref: "./port.json#/definitions/min" }]\n',
    });
    const dir = workspace('uses-mirror', {
      'massdriver.yaml': 'name: mirrored\nparams:\n  properties:\n    port: { $ref: "https://schemas.example.com/common/port.json" }\n    min: { $ref: "https://schemas.example.com/common/name.yaml" }\n',
    });
    const r = registry({ schemaMirror: mirror });
    const { bundle } = await load(r, dir);
    assert.deepEqual(props(bundle.params).port, { type: 'integer', maximum: 65535, definitions: { min: { minimum: 1 } } });
    // A relative ref inside a mirrored document resolves against its URL, so from the mirror too.
    assert.deepEqual(props(bundle.params).min, { type: 'string', allOf: [{ minimum: 1 }] });
  });

  test('the network is refused unless allowed, and used when allowed', async () => {
    const text = `name: remote\nparams:\n  properties:\n    label: { $ref: "${base}/schemas/label.json" }\n`;
    const dir = workspace('uses-network', { 'massdriver.yaml': text });
    const emptyMirror = workspace('empty-mirror', { 'README': 'nothing mirrored\n' });

    for (const opts of [{}, { schemaMirror: emptyMirror }]) {
      const issues = await registry(opts).lint(dir);
      assert.equal(issues.length, 1);
      assert.equal(issues[0]!.pointer, '/params/properties/label/$ref');
      assert.match(issues[0]!.message, /network access is disabled/);
    }
    assert.deepEqual(hits, []);

    const r = registry({ schemaMirror: emptyMirror, allowNetwork: true });
    const { bundle } = await load(r, dir);
    assert.deepEqual(props(bundle.params).label, { type: 'string', title: 'From the network', minLength: 3 });
    assert.deepEqual(hits, ['/schemas/label.json']);
  });
});
