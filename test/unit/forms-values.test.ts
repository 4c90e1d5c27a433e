// The reverse mapping: Jira and ServiceNow submitted values -> typed params, validation errors
// in plain words under the field's label, conditional questions enforced, JSON fields checked,
// and the day-2 refusal of a changed immutable field.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { JsonSchema } from '../../src/engine/model.ts';
import { buildForm } from '../../src/forms/build-form.ts';
import { parseOverlay } from '../../src/forms/overlay.ts';
import { FormValues, checkImmutable, mapAnswers } from '../../src/forms/values.ts';
import { describeIssue } from '../../src/forms/messages.ts';
import { resolveDynamicOptions } from '../../src/forms/option-sources.ts';
import type { SubmitResult } from '../../src/forms/model.ts';
import { adfToText, jiraValuesToParams, toJiraValue } from '../../src/surfaces/jira/form-values.ts';
import { serviceNowValuesToParams, toServiceNowValue } from '../../src/surfaces/servicenow/form-values.ts';
import { inlineBundle } from '../fixtures/forms/inline-bundle.ts';

const params: JsonSchema = {
  type: 'object',
  required: ['storage_gb', 'owner_team', 'engine', 'zone'],
  properties: {
    storage_gb: { type: 'integer', title: 'Expected data size (GiB)', minimum: 10, maximum: 200, default: 20 },
    owner_team: { type: 'string', title: 'Owner team', pattern: '^[a-z][a-z0-9-]*$', message: { pattern: 'Lowercase letters, digits and dashes, starting with a letter.' } },
    engine: { type: 'string', title: 'Engine', oneOf: [{ const: 'pg15', title: 'PostgreSQL 15' }, { const: 'pg16', title: 'PostgreSQL 16' }], default: 'pg16', '$md.immutable': true },
    critical: { type: 'boolean', title: 'Production-critical', default: false },
    ratio: { type: 'number', title: 'Ratio', maximum: 1 },
    logs: { type: 'array', title: 'Logs', uniqueItems: true, items: { type: 'string', enum: ['audit', 'query', 'error'] } },
    starts_on: { type: 'string', title: 'Starts on', format: 'date' },
    window: { type: 'string', title: 'Window', format: 'date-time' },
    notes: { type: 'string', title: 'Notes', maxLength: 1000 },
    dns: { type: 'array', title: 'DNS servers', items: { type: 'string', pattern: '^\\d+\\.\\d+\\.\\d+\\.\\d+$', message: { pattern: 'Must be an IPv4 address.' } } },
    zone: { type: 'string', title: 'Zone' },
    backup: {
      type: 'object',
      title: 'Backup',
      required: ['days'],
      properties: {
        days: { type: 'integer', title: 'Backup days', minimum: 0, maximum: 35, default: 7 },
        parameters: {
          type: 'array',
          title: 'Database Parameters',
          default: [],
          items: { type: 'object', required: ['name', 'value'], properties: { name: { type: 'string' }, value: { type: 'string' } } },
        },
      },
    },
    ha: { type: 'boolean', title: 'High availability', default: false },
    zones: { type: 'integer', title: 'Number of zones', minimum: 2, maximum: 3 },
  },
  if: { properties: { ha: { const: true } } },
  then: { required: ['zones'] },
};

const overlay = parseOverlay(
  [
    'bundle: demo',
    'others: ask',
    'fields:',
    '  - param: /storage_gb',
    '    label: Storage (GiB)',
    'fixed:',
    '  /zone: us-east-1a',
  ].join('\n'),
  'forms/demo.yaml',
);
const form = buildForm(inlineBundle(params), overlay);
const values = new FormValues(form);
const name = (key: string) => form.fields.find((f) => f.key === key)!.name;

function ok(r: SubmitResult): Record<string, unknown> {
  assert.ok(r.ok, `expected success, got ${JSON.stringify(!r.ok && r.issues)}`);
  return r.params;
}
function messages(r: SubmitResult): string[] {
  assert.ok(!r.ok, 'expected issues');
  return r.issues.map(describeIssue);
}

describe('Jira values -> params', () => {
  it('reads option objects, float numbers, date strings, ADF and plain text, and rebuilds nested objects', () => {
    const fields = {
      customfield_1: 50.0,
      customfield_2: 'checkout',
      customfield_3: { self: 'https://x/rest/api/2/customFieldOption/10001', id: '10001', value: 'PostgreSQL 15' },
      customfield_4: { value: 'Yes', id: '10010' },
      customfield_5: [{ value: 'audit', id: '1' }, { value: 'error', id: '3' }],
      customfield_6: '2026-11-25',
      customfield_7: '2026-11-25T10:00:00.000+0100',
      customfield_8: { type: 'doc', version: 1, content: [{ type: 'paragraph', content: [{ type: 'text', text: 'first line' }, { type: 'hardBreak' }, { type: 'text', text: 'second' }] }] },
      customfield_9: '10.0.0.2\n10.0.0.3',
      customfield_10: 21.0,
      customfield_11: { type: 'doc', version: 1, content: [{ type: 'codeBlock', content: [{ type: 'text', text: '[{"name": "work_mem", "value": "64MB"}]' }] }] },
      customfield_12: 0.25,
      summary: 'not a form field',
    };
    const fieldIds = {
      customfield_1: name('/storage_gb'),
      customfield_2: name('/owner_team'),
      customfield_3: name('/engine'),
      customfield_4: name('/critical'),
      customfield_5: name('/logs'),
      customfield_6: name('/starts_on'),
      customfield_7: name('/window'),
      customfield_8: name('/notes'),
      customfield_9: name('/dns'),
      customfield_10: name('/backup/days'),
      customfield_11: name('/backup/parameters'),
      customfield_12: name('/ratio'),
    };
    const p = ok(jiraValuesToParams(form, fields, { fieldIds }, values));
    assert.deepEqual(p, {
      storage_gb: 50,
      owner_team: 'checkout',
      engine: 'pg15',
      critical: true,
      logs: ['audit', 'error'],
      starts_on: '2026-11-25',
      window: '2026-11-25T10:00:00+01:00',
      notes: 'first line\nsecond',
      dns: ['10.0.0.2', '10.0.0.3'],
      ratio: 0.25,
      zone: 'us-east-1a',
      backup: { days: 21, parameters: [{ name: 'work_mem', value: '64MB' }] },
      ha: false,
    });
    assert.ok(Number.isInteger(p.storage_gb));
  });

  it('applies defaults and fixed values to unanswered questions', () => {
    const p = ok(jiraValuesToParams(form, { [name('/owner_team')]: 'checkout' }, {}, values));
    assert.deepEqual(p, { storage_gb: 20, owner_team: 'checkout', engine: 'pg16', critical: false, zone: 'us-east-1a', backup: { days: 7, parameters: [] }, ha: false });
  });

  it('converts ADF to text with one line per paragraph', () => {
    const doc = { type: 'doc', version: 1, content: [{ type: 'paragraph', content: [{ type: 'text', text: 'a' }] }, { type: 'paragraph', content: [{ type: 'text', text: 'b' }] }] };
    assert.equal(adfToText(doc), 'a\nb');
  });

  it('pre-fills a day-2 ticket in Jira shapes', () => {
    const engine = form.fields.find((f) => f.key === '/engine')!;
    assert.deepEqual(toJiraValue(engine, 'pg15'), { value: 'PostgreSQL 15' });
    const critical = form.fields.find((f) => f.key === '/critical')!;
    assert.deepEqual(toJiraValue(critical, false), { value: 'No' });
  });
});

describe('ServiceNow values -> params', () => {
  it('reads every value from strings: "true", "50", choice values, comma-separated lists, date/time', () => {
    const variables = {
      [name('/storage_gb')]: '50',
      [name('/owner_team')]: 'checkout',
      [name('/engine')]: 'pg15',
      [name('/critical')]: 'true',
      [name('/logs')]: 'audit,query',
      [name('/starts_on')]: '2026-11-25',
      [name('/window')]: '2026-11-25 10:00:00',
      [name('/dns')]: '10.0.0.2\r\n10.0.0.3',
      [name('/backup/days')]: '0',
      [name('/ha')]: 'false',
      [name('/ratio')]: '',
      unrelated_variable: 'x',
    };
    const p = ok(serviceNowValuesToParams(form, variables, {}, values));
    assert.deepEqual(p, {
      storage_gb: 50,
      owner_team: 'checkout',
      engine: 'pg15',
      critical: true,
      logs: ['audit', 'query'],
      starts_on: '2026-11-25',
      window: '2026-11-25T10:00:00Z',
      dns: ['10.0.0.2', '10.0.0.3'],
      zone: 'us-east-1a',
      backup: { days: 0, parameters: [] },
      ha: false,
    });
  });

  it('maps list-collector sys_ids through the remembered choice ids, and reads {value, display_value} pairs', () => {
    const r = serviceNowValuesToParams(
      form,
      { [name('/owner_team')]: { value: 'checkout', display_value: 'checkout' }, [name('/logs')]: 'a1b2c3,d4e5f6' },
      { choiceIds: { a1b2c3: 'error', d4e5f6: 'audit' } },
      values,
    );
    assert.deepEqual(ok(r).logs, ['error', 'audit']);
  });

  it('writes values back as ServiceNow strings', () => {
    const f = (k: string) => form.fields.find((x) => x.key === k)!;
    assert.equal(toServiceNowValue(f('/critical'), true), 'true');
    assert.equal(toServiceNowValue(f('/logs'), ['audit', 'query']), 'audit,query');
    assert.equal(toServiceNowValue(f('/window'), '2026-11-25T10:00:00Z'), '2026-11-25 10:00:00');
  });
});

describe('labelled errors in plain words', () => {
  it('names the field label, the bound and what was entered; required says required', () => {
    const r = jiraValuesToParams(form, { [name('/storage_gb')]: 2 }, {}, values);
    assert.deepEqual(messages(r), ['Storage (GiB): must be at least 10 (you entered 2)', 'Owner team: required']);
  });

  it('uses the Massdriver pattern message, and words for type, options and formats', () => {
    const r = serviceNowValuesToParams(
      form,
      {
        [name('/storage_gb')]: '50.5',
        [name('/owner_team')]: 'Checkout Team',
        [name('/engine')]: 'oracle',
        [name('/critical')]: 'maybe',
        [name('/starts_on')]: '25/11/2026',
        [name('/ratio')]: '3',
        [name('/dns')]: '10.0.0.2\nnot-an-ip',
      },
      {},
      values,
    );
    assert.deepEqual(messages(r).sort(), [
      'DNS servers: item 2: Must be an IPv4 address.',
      'Engine: must be one of: PostgreSQL 15, PostgreSQL 16 (you entered oracle)',
      'Owner team: Lowercase letters, digits and dashes, starting with a letter.',
      'Production-critical: must be yes or no (you entered maybe)',
      'Ratio: must be at most 1 (you entered 3)',
      'Starts on: must be a date such as 2026-01-31 (you entered 25/11/2026)',
      'Storage (GiB): must be a whole number (you entered 50.5)',
    ]);
  });

  it('checks JSON text fields on submit: bad JSON, and JSON that breaks the schema', () => {
    const bad = serviceNowValuesToParams(form, { [name('/owner_team')]: 'ops', [name('/backup/parameters')]: '[{"name": "x",' }, {}, values);
    assert.equal(messages(bad).length, 1);
    assert.match(messages(bad)[0], /^Database Parameters: must be valid JSON \(/);
    const wrong = serviceNowValuesToParams(form, { [name('/owner_team')]: 'ops', [name('/backup/parameters')]: '[{"name": "x"}]' }, {}, values);
    assert.deepEqual(messages(wrong), ['Database Parameters: item 1 › value: required']);
    const issue = !wrong.ok ? wrong.issues[0] : undefined;
    assert.equal(issue?.pointer, '/backup/parameters/0/value');
  });

  it('reports a fixed value the schema refuses as the overlay\'s problem', () => {
    const broken = parseOverlay('bundle: demo\nothers: ask\nfixed:\n  /zone: us-east-1a\n', 'forms/demo.yaml');
    const f = buildForm(inlineBundle({ ...params, properties: { ...(params.properties as object), zone: { type: 'string', title: 'Zone', enum: ['eu-1'] } } }), undefined);
    // the overlay cannot fix /zone to a value the schema refuses:
    assert.throws(() => buildForm(inlineBundle({ ...params, properties: { ...(params.properties as object), zone: { type: 'string', enum: ['eu-1'] } } }), broken), /fixed value for \/zone is not allowed/);
    assert.ok(f.fields.some((x) => x.key === '/zone'));
  });
});

describe('schemas as the registry hands them over', () => {
  it('validates a params schema that inlines the same $id-carrying type twice', () => {
    const cidr = { $id: 'https://schemas.example/cidr.json', type: 'string', title: 'CIDR', pattern: '^\\d+\\.\\d+\\.\\d+\\.\\d+/\\d+$' };
    const f = buildForm(inlineBundle({ $schema: 'http://json-schema.org/draft-07/schema#', type: 'object', properties: { a: cidr, b: { ...cidr, title: 'Other CIDR' } } }));
    assert.deepEqual(ok(mapAnswers(f, { a: '10.0.0.0/16' })), { a: '10.0.0.0/16' });
    assert.deepEqual(messages(mapAnswers(f, { a: '10.0.0.0/16', b: 'x' })), ['Other CIDR: does not have the expected format (pattern ^\\d+\\.\\d+\\.\\d+\\.\\d+/\\d+$)']);
  });
});

describe('conditional questions are enforced at validation', () => {
  it('if/then: the dependent answer is required when the condition holds', () => {
    const r = serviceNowValuesToParams(form, { [name('/owner_team')]: 'ops', [name('/ha')]: 'true' }, {}, values);
    assert.deepEqual(messages(r), ['Number of zones: required']);
    const fine = ok(serviceNowValuesToParams(form, { [name('/owner_team')]: 'ops', [name('/ha')]: 'true', [name('/zones')]: '3' }, {}, values));
    assert.equal(fine.zones, 3);
  });

  it('drops the answer to a question whose condition does not hold', () => {
    const p = ok(serviceNowValuesToParams(form, { [name('/owner_team')]: 'ops', [name('/ha')]: 'false', [name('/zones')]: '3' }, {}, values));
    assert.equal('zones' in p, false);
  });

  it('dependencies/oneOf: the branch chosen by the deciding answer is the one whose errors are reported', () => {
    const f = buildForm(
      inlineBundle({
        type: 'object',
        required: ['type'],
        properties: { type: { type: 'string', title: 'Storage Type', oneOf: [{ const: 'io1', title: 'Provisioned IOPS' }, { const: 'gp3', title: 'GP3' }] } },
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
    assert.deepEqual(messages(mapAnswers(f, { type: 'io1' })), ['IOPS: required']);
    assert.deepEqual(messages(mapAnswers(f, { type: 'io1', iops: '500' })), ['IOPS: must be at least 1000 (you entered 500)']);
    assert.deepEqual(ok(mapAnswers(f, { type: 'io1', iops: '3000' })), { type: 'io1', iops: 3000 });
    assert.deepEqual(ok(mapAnswers(f, { type: 'gp3', iops: '3000' })), { type: 'gp3' });
  });
});

describe('dynamic options and presets on submit', () => {
  it('refuses an answer that is not among the resolved options', async () => {
    const dyn = buildForm(
      inlineBundle({ type: 'object', properties: { version: { type: 'string', title: 'Version' } } }),
      parseOverlay('bundle: demo\nfields:\n  - param: /version\n    options: { source: versions, bundle: api, attestation: qa-signed }\n', 'forms/demo.yaml'),
    );
    const resolved = await resolveDynamicOptions(dyn, { options: async () => [{ value: '2.14.0', label: '2.14.0 (qa-signed)' }] });
    assert.deepEqual(ok(mapAnswers(resolved, { version: '2.14.0 (qa-signed)' })), { version: '2.14.0' });
    assert.deepEqual(messages(mapAnswers(resolved, { version: '2.13.0' })), ['Version: must be one of: 2.14.0 (qa-signed) (you entered 2.13.0)']);
  });

  it('fills unanswered questions from the chosen preset, answers winning', () => {
    const f = buildForm(
      inlineBundle({
        type: 'object',
        examples: [{ __name: 'Big', size: 500, name: 'big' }],
        properties: { size: { type: 'integer', default: 10 }, name: { type: 'string' } },
      }),
    );
    assert.deepEqual(ok(mapAnswers(f, { preset: 'Big', name: 'mine' })), { size: 500, name: 'mine' });
    const r = mapAnswers(f, { preset: 'Big' });
    assert.ok(r.ok && r.preset === 'Big');
  });

  it('returns request-level answers apart from params', async () => {
    const f = buildForm(
      inlineBundle({ type: 'object', properties: { size: { type: 'integer', default: 1 } } }),
      parseOverlay('bundle: demo\nfields:\n  - request: environment\n    options: { source: environments }\n  - param: /size\n', 'forms/demo.yaml'),
    );
    const resolved = await resolveDynamicOptions(f, { options: async () => [{ value: 'env-staging', label: 'staging' }] });
    const r = mapAnswers(resolved, { request_environment: 'staging' });
    assert.ok(r.ok);
    assert.deepEqual(r.request, { environment: 'env-staging' });
    assert.deepEqual(r.params, { size: 1 });
    assert.deepEqual(messages(mapAnswers(resolved, {})), ['Environment: required']);
  });
});

describe('day-2: immutable fields', () => {
  it('refuses a changed immutable field, naming its label; unchanged or new values pass', () => {
    const before = { engine: 'pg16', storage_gb: 20, zone: 'us-east-1a' };
    assert.deepEqual(checkImmutable(form, before, { ...before, storage_gb: 40 }), []);
    const issues = checkImmutable(form, before, { ...before, engine: 'pg15' });
    assert.deepEqual(issues.map(describeIssue), ['Engine: cannot be changed after creation (it is pg16; this request asks for pg15)']);
    assert.deepEqual(checkImmutable(form, { storage_gb: 20 }, { engine: 'pg15' }), []);
  });

  it('keeps the package\'s current params for questions left empty on an update', () => {
    const base = { storage_gb: 80, owner_team: 'checkout', engine: 'pg15', zone: 'us-east-1a', backup: { days: 30 } };
    const p = ok(values.map({ [name('/storage_gb')]: 100 }, { base }));
    assert.equal(p.storage_gb, 100);
    assert.equal(p.engine, 'pg15');
    assert.deepEqual(p.backup, { days: 30, parameters: [] });
    assert.deepEqual(values.checkImmutable(base, p), []);
  });
});
