// The form model: JSON Schema coverage, ordering, sections, presets, immutability, fixed and
// omitted params, conditional questions and dynamic option sources.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { JsonSchema } from '../../src/engine/model.ts';
import { buildForm } from '../../src/forms/build-form.ts';
import { parseOverlay } from '../../src/forms/overlay.ts';
import { resolveDynamicOptions, type OptionSources } from '../../src/forms/option-sources.ts';
import type { DynamicOptionSource, FormContext, FormField } from '../../src/forms/model.ts';
import { generateLargeBundle } from '../../src/forms/generate.ts';
import { inlineBundle } from '../fixtures/forms/inline-bundle.ts';

const byKey = (fields: FormField[], key: string) => {
  const f = fields.find((x) => x.key === key);
  assert.ok(f, `no field ${key}`);
  return f;
};

const coverage: JsonSchema = {
  type: 'object',
  required: ['name', 'size'],
  properties: {
    name: { type: 'string', title: 'Name', minLength: 3, maxLength: 20, pattern: '^[a-z]+$', message: { pattern: 'Lowercase letters only.' } },
    notes: { type: 'string', title: 'Notes', maxLength: 2000 },
    size: { type: 'integer', title: 'Size', minimum: 10, maximum: 100, multipleOf: 10, default: 20 },
    ratio: { type: 'number', exclusiveMinimum: 0, maximum: 1 },
    enabled: { type: 'boolean', title: 'Enabled', default: false },
    tier: { type: 'string', enum: ['gold', 'silver'] },
    region: { type: 'string', oneOf: [{ const: 'eu', title: 'Europe' }, { const: 'us', title: 'United States' }] },
    logs: { type: 'array', items: { type: 'string', oneOf: [{ const: 'audit', title: 'Audit' }, { const: 'query', title: 'Query' }] } },
    starts: { type: 'string', format: 'date' },
    at: { type: 'string', format: 'date-time' },
    owner: { type: 'string', format: 'email' },
    docs: { type: 'string', format: 'uri' },
    tags: { type: 'object', additionalProperties: { type: 'string' } },
    rules: { type: 'array', items: { type: 'object', properties: { port: { type: 'integer' } } } },
    anything: { type: ['string', 'integer'] },
    maybe: { type: ['string', 'null'], title: 'Maybe' },
    servers: { type: 'array', items: { type: 'string', pattern: '^\\d+\\.\\d+\\.\\d+\\.\\d+$' } },
    password: { type: 'string', '$md.sensitive': true } as unknown as JsonSchema,
    kind: { const: 'postgres' },
    storage: {
      type: 'object',
      title: 'Storage',
      description: 'Disks',
      required: ['gb'],
      properties: {
        gb: { type: 'integer', title: 'Size (GiB)', minimum: 1 },
        encryption: { type: 'object', title: 'Encryption', properties: { kms: { type: 'string', title: 'KMS key' } } },
      },
    },
  },
};

describe('buildForm: JSON Schema coverage', () => {
  const form = buildForm(inlineBundle(coverage));
  const f = (k: string) => byKey(form.fields, k);

  it('gives each kind of property the right question type', () => {
    const types = Object.fromEntries(form.fields.map((x) => [x.key, x.type]));
    assert.deepEqual(types, {
      '/name': 'text',
      '/notes': 'textarea',
      '/size': 'integer',
      '/ratio': 'number',
      '/enabled': 'boolean',
      '/tier': 'select',
      '/region': 'select',
      '/logs': 'multiselect',
      '/starts': 'date',
      '/at': 'datetime',
      '/owner': 'email',
      '/docs': 'url',
      '/tags': 'json',
      '/rules': 'json',
      '/anything': 'json',
      '/maybe': 'text',
      '/servers': 'list',
      '/storage/gb': 'integer',
      '/storage/encryption/kms': 'text',
    });
  });

  it('copies bounds, pattern and the Massdriver pattern message, required and default', () => {
    assert.deepEqual(f('/size').bounds, { minimum: 10, maximum: 100, multipleOf: 10 });
    assert.equal(f('/size').default, 20);
    assert.equal(f('/size').required, true);
    assert.deepEqual(f('/ratio').bounds, { exclusiveMinimum: 0, maximum: 1 });
    assert.deepEqual(f('/name').bounds, { minLength: 3, maxLength: 20 });
    assert.equal(f('/name').pattern, '^[a-z]+$');
    assert.equal(f('/name').patternMessage, 'Lowercase letters only.');
    assert.equal(f('/notes').required, false);
    assert.equal(f('/servers').pattern, '^\\d+\\.\\d+\\.\\d+\\.\\d+$');
    assert.equal(f('/servers').itemType, 'string');
  });

  it('labels enum and oneOf const/title options', () => {
    assert.deepEqual(f('/tier').options, [
      { value: 'gold', label: 'gold' },
      { value: 'silver', label: 'silver' },
    ]);
    assert.deepEqual(f('/region').options, [
      { value: 'eu', label: 'Europe' },
      { value: 'us', label: 'United States' },
    ]);
    assert.deepEqual(f('/logs').options?.map((o) => o.label), ['Audit', 'Query']);
  });

  it('makes free-form objects, arrays of objects and mixed types JSON text fields and says so', () => {
    for (const k of ['/tags', '/rules', '/anything']) assert.match(f(k).help ?? '', /JSON text/);
    assert.match(f('/rules').help ?? '', /list of objects/);
  });

  it('flattens nested objects into sections titled from the schema', () => {
    assert.deepEqual(
      form.sections.map((s) => [s.id, s.title]),
      [
        ['', 'Demo'],
        ['/storage', 'Storage'],
        ['/storage/encryption', 'Storage › Encryption'],
      ],
    );
    assert.equal(f('/storage/gb').section, '/storage');
    assert.equal(f('/storage/gb').name, 'storage__gb');
    assert.equal(form.sections[1].description, 'Disks');
  });

  it('never asks for a sensitive param, fixes single-const params, and drops nothing', () => {
    assert.ok(!form.fields.some((x) => x.key === '/password'));
    assert.deepEqual(form.omitted, [{ pointer: '/password', reason: 'sensitive' }]);
    assert.deepEqual(form.fixed, [{ pointer: '/kind', value: 'postgres', immutable: false }]);
    const accounted = new Set([...form.fields.map((x) => x.key), ...form.omitted.map((o) => o.pointer), ...form.fixed.map((x) => x.pointer)]);
    for (const k of Object.keys(coverage.properties as object)) {
      if (k === 'storage') continue;
      assert.ok(accounted.has(`/${k}`), `/${k} accounted for`);
    }
  });

  it('never asks for a JSON field that would carry a sensitive value inside it', () => {
    const f2 = buildForm(
      inlineBundle({
        type: 'object',
        properties: {
          users: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' }, password: { type: 'string', '$md.sensitive': true } } } },
          tags: { type: 'object', additionalProperties: { type: 'string' } },
        },
      } as JsonSchema),
    );
    assert.deepEqual(f2.fields.map((x) => x.key), ['/tags']);
    assert.deepEqual(f2.omitted, [{ pointer: '/users', reason: 'sensitive' }]);
  });

  it('reports a sensitive required param without default as a form problem', () => {
    const f2 = buildForm(inlineBundle({ type: 'object', required: ['token'], properties: { token: { type: 'string', title: 'API token', '$md.sensitive': true } as unknown as JsonSchema } }));
    assert.equal(f2.problems.length, 1);
    assert.equal(f2.problems[0].field, 'API token');
  });
});

describe('buildForm: order, immutability, presets', () => {
  const params: JsonSchema = {
    type: 'object',
    examples: [
      { __name: 'Small', a: 'x', b: 1, nested: { c: true } },
      { __name: 'Large', a: 'y', b: 9 },
      { a: 'unnamed' },
    ],
    properties: {
      a: { type: 'string', '$md.immutable': true } as unknown as JsonSchema,
      b: { type: 'integer' },
      z: { type: 'string' },
      nested: { type: 'object', title: 'Nested', properties: { c: { type: 'boolean' }, d: { type: 'string' } } },
    },
  };
  const ui = { 'ui:order': ['nested', 'b', '*'], nested: { 'ui:order': ['d', 'c'] } };

  it('orders by ui:order (with *) when there is no overlay, schema order for the rest', () => {
    const form = buildForm(inlineBundle(params, ui));
    assert.deepEqual(
      form.fields.map((f) => f.key),
      ['preset', '/b', '/a', '/z', '/nested/d', '/nested/c'],
    );
    assert.deepEqual(
      form.fields.map((f) => f.order),
      [10, 20, 30, 40, 50, 60],
    );
  });

  it('orders by the overlay when it lists fields, then by ui:order for the rest', () => {
    const overlay = parseOverlay('bundle: demo\nfields:\n  - param: /z\n  - param: /nested/c\n  - param: /a\nothers: ask\n', 'forms/demo.yaml');
    const form = buildForm(inlineBundle(params, ui), overlay);
    assert.deepEqual(
      form.fields.map((f) => f.key),
      ['preset', '/z', '/nested/c', '/a', '/nested/d', '/b'],
    );
  });

  it('marks $md.immutable and overlay-immutable fields', () => {
    const overlay = parseOverlay('bundle: demo\nfields:\n  - param: /a\n  - param: /b\n    immutable: true\n', 'forms/demo.yaml');
    const form = buildForm(inlineBundle(params), overlay);
    assert.equal(byKey(form.fields, '/a').immutable, true);
    assert.equal(byKey(form.fields, '/b').immutable, true);
    assert.equal(buildForm(inlineBundle(params)).fields.find((f) => f.key === '/b')?.immutable, false);
  });

  it('offers named examples as presets, flattened to field pointers', () => {
    const form = buildForm(inlineBundle(params));
    assert.deepEqual(form.presets, [
      { name: 'Small', values: { '/a': 'x', '/b': 1, '/nested/c': true } },
      { name: 'Large', values: { '/a': 'y', '/b': 9 } },
    ]);
    const preset = form.fields[0];
    assert.equal(preset.target, 'preset');
    assert.deepEqual(preset.options?.map((o) => o.value), ['Small', 'Large']);
    const none = buildForm(inlineBundle(params), parseOverlay('bundle: demo\npresets: false\n', 'forms/demo.yaml'));
    assert.equal(none.presets.length, 0);
    assert.ok(!none.fields.some((f) => f.target === 'preset'));
    const some = buildForm(inlineBundle(params), parseOverlay('bundle: demo\npresets: [Large]\n', 'forms/demo.yaml'));
    assert.deepEqual(some.presets.map((p) => p.name), ['Large']);
  });
});

describe('buildForm: conditional questions', () => {
  it('reads dependencies/oneOf branches: the branch-only field is optional, with help naming the condition', () => {
    const form = buildForm(
      inlineBundle({
        type: 'object',
        properties: {
          type: { type: 'string', title: 'Storage Type', oneOf: [{ const: 'io1', title: 'Provisioned IOPS' }, { const: 'gp3', title: 'GP3' }] },
        },
        dependencies: {
          type: {
            oneOf: [
              { properties: { type: { const: 'io1' }, iops: { type: 'integer', title: 'IOPS', minimum: 1000 } }, required: ['iops'] },
              { properties: { type: { const: 'gp3' } } },
            ],
          },
        },
      }),
    );
    const iops = byKey(form.fields, '/iops');
    assert.equal(iops.required, false);
    assert.deepEqual(iops.condition?.values, ['io1']);
    assert.equal(iops.condition?.requiredThen, true);
    assert.match(iops.help ?? '', /Asked only when Storage Type is Provisioned IOPS \(required then\)/);
  });

  it('reads if/then/else on a boolean', () => {
    const form = buildForm(
      inlineBundle({
        type: 'object',
        properties: { ha: { type: 'boolean', title: 'High availability' }, zones: { type: 'integer', title: 'Zones' }, note: { type: 'string' } },
        if: { properties: { ha: { const: true } } },
        then: { required: ['zones'] },
        else: { properties: { note: { type: 'string', title: 'Why not' } } },
      }),
    );
    const zones = byKey(form.fields, '/zones');
    assert.deepEqual(zones.condition?.values, [true]);
    assert.match(zones.help ?? '', /Asked only when High availability is Yes \(required then\)/);
    assert.deepEqual(byKey(form.fields, '/note').condition?.values, [false]);
  });

  it('reads property dependencies (array form)', () => {
    const form = buildForm(inlineBundle({ type: 'object', properties: { card: { type: 'string', title: 'Card' }, billing: { type: 'string' } }, dependencies: { card: ['billing'] } }));
    assert.match(byKey(form.fields, '/billing').help ?? '', /Asked only when Card is answered \(required then\)/);
  });
});

describe('buildForm: dynamic option sources', () => {
  const params: JsonSchema = {
    type: 'object',
    properties: {
      version: { type: 'string', title: 'Version' },
      policy: { type: 'string', '$md.enum': { connection: 'database', options: '.policies', value: '.name' } } as unknown as JsonSchema,
    },
  };
  const overlay = parseOverlay(
    [
      'bundle: demo',
      'fields:',
      '  - request: environment',
      '    options: { source: environments }',
      '  - param: /version',
      '    options: { source: versions, bundle: checkout-api, attestation: qa-signed }',
      '  - param: /policy',
    ].join('\n'),
    'forms/demo.yaml',
  );

  it('declares sources from the overlay and from $md.enum, and resolves them through the port once each', async () => {
    const form = buildForm(inlineBundle(params), overlay);
    assert.deepEqual(byKey(form.fields, '/version').source, { source: 'versions', bundle: 'checkout-api', attestation: 'qa-signed' });
    assert.deepEqual(byKey(form.fields, '/policy').source, { source: 'connection-enum', connection: 'database', options: '.policies', value: '.name' });
    assert.equal(byKey(form.fields, 'environment').target, 'request');
    const calls: [DynamicOptionSource, FormContext][] = [];
    const port: OptionSources = {
      async options(source, ctx) {
        calls.push([source, ctx]);
        return source.source === 'versions'
          ? [{ value: '2.14.0', label: '2.14.0', note: 'qa-signed by ana, 2026-11-22' }]
          : [{ value: `${source.source}-a`, label: 'A' }];
      },
    };
    const resolved = await resolveDynamicOptions(form, port, { project: 'checkout' });
    assert.equal(calls.length, 3);
    assert.deepEqual(calls.map(([, ctx]) => ctx.project), ['checkout', 'checkout', 'checkout']);
    assert.deepEqual(byKey(resolved.fields, '/version').options, [{ value: '2.14.0', label: '2.14.0', note: 'qa-signed by ana, 2026-11-22' }]);
    assert.deepEqual(byKey(form.fields, '/version').options, [], 'the unresolved form is left as it was');
  });
});

describe('generateLargeBundle', () => {
  it('makes a bundle whose form has the asked number of questions', () => {
    const form = buildForm(generateLargeBundle(1000));
    assert.equal(form.fields.length, 1000);
    assert.equal(form.sections.length, 20);
  });
});
