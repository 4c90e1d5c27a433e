// Renderers: Jira custom fields / screen / JSM request type, ServiceNow catalog item / variables /
// question_choice / question_regex. Golden outputs for the example overlay, plus targeted checks.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BundleRegistry } from '../../src/engine/registry/index.ts';
import type { JsonSchema } from '../../src/engine/model.ts';
import { buildForm } from '../../src/forms/build-form.ts';
import { loadOverlay, parseOverlay } from '../../src/forms/overlay.ts';
import { resolveDynamicOptions } from '../../src/forms/option-sources.ts';
import { generateLargeBundle } from '../../src/forms/generate.ts';
import { renderJiraForm, renderJiraText } from '../../src/surfaces/jira/form-renderer.ts';
import { renderServiceNowForm, renderServiceNowText, SN_VARIABLE_TYPES } from '../../src/surfaces/servicenow/form-renderer.ts';
import { inlineBundle } from '../fixtures/forms/inline-bundle.ts';

const massdriver = fileURLToPath(new URL('../fixtures/massdriver/', import.meta.url));
const goldenDir = fileURLToPath(new URL('../fixtures/forms/golden/', import.meta.url));

/** Compares with a golden file; UPDATE_GOLDEN=1 rewrites it instead. */
function golden(name: string, actual: string): void {
  const file = join(goldenDir, name);
  if (process.env.UPDATE_GOLDEN === '1' || !existsSync(file)) {
    mkdirSync(goldenDir, { recursive: true });
    writeFileSync(file, actual);
    if (process.env.UPDATE_GOLDEN !== '1') assert.fail(`golden file ${name} was missing and has been written: review it and run again`);
    return;
  }
  assert.equal(actual, readFileSync(file, 'utf8'), `${name} differs from its golden copy (UPDATE_GOLDEN=1 to accept)`);
}

async function exampleForm() {
  const registry = new BundleRegistry({ bundlePaths: [join(massdriver, 'massdriver-catalog', 'bundles')], artifactDefinitionPaths: [join(massdriver, 'massdriver-catalog', 'resource-types')] });
  await registry.loadAll();
  const overlay = await loadOverlay(fileURLToPath(new URL('../fixtures/forms/postgres.yaml', import.meta.url)));
  overlay.file = 'forms/postgres.yaml'; // the path inside the checkout varies; the golden copy must not
  const form = buildForm(registry.get('postgres'), overlay);
  return resolveDynamicOptions(form, {
    options: async (source) =>
      source.source === 'environments'
        ? [
            { value: 'env-staging', label: 'staging' },
            { value: 'env-production', label: 'production' },
          ]
        : [],
  });
}

describe('golden renderings of the example overlay (catalog postgres bundle)', () => {
  it('Jira: JSON and text', async () => {
    const spec = renderJiraForm(await exampleForm(), { projectId: '10000', issueTypeId: '10001' });
    golden('postgres.jira.json', JSON.stringify(spec, null, 2) + '\n');
    golden('postgres.jira.txt', renderJiraText(spec) + '\n');
  });

  it('ServiceNow: JSON and text', async () => {
    const spec = renderServiceNowForm(await exampleForm(), { catalog: 'Service Catalog', category: 'Databases' });
    golden('postgres.servicenow.json', JSON.stringify(spec, null, 2) + '\n');
    golden('postgres.servicenow.txt', renderServiceNowText(spec) + '\n');
  });
});

const params: JsonSchema = {
  type: 'object',
  required: ['name', 'size'],
  properties: {
    name: { type: 'string', title: 'Name', maxLength: 30, pattern: '^[^[:space:]]+$', message: { pattern: 'No spaces.' }, '$md.immutable': true },
    size: { type: 'integer', title: 'Size', minimum: 20, default: 20 },
    ha: { type: 'boolean', title: 'HA' },
    tier: { type: 'string', title: 'Tier', oneOf: [{ const: 'a', title: 'Same' }, { const: 'b', title: 'Same' }] },
    logs: { type: 'array', title: 'Logs', items: { enum: ['x', 'y'] } },
    day: { type: 'string', format: 'date', title: 'Day' },
    at: { type: 'string', format: 'date-time', title: 'At' },
    mail: { type: 'string', format: 'email', title: 'Mail' },
    link: { type: 'string', format: 'uri', title: 'Link' },
    notes: { type: 'string', maxLength: 5000, title: 'Notes' },
    extra: { type: 'object', title: 'Extra' },
    disk: { type: 'object', title: 'Disk', properties: { gb: { type: 'integer', title: 'GB' } } },
  },
};

describe('ServiceNow renderer', () => {
  const form = buildForm(inlineBundle(params));
  const spec = renderServiceNowForm(form, { mode: 'update' });
  const v = (label: string) => spec.variables.find((x) => x.record.question_text === label)!;

  it('uses the item_option_new type codes per question type', () => {
    const T = SN_VARIABLE_TYPES;
    assert.deepEqual(
      ['Name', 'Size', 'HA', 'Tier', 'Logs', 'Day', 'At', 'Mail', 'Link', 'Notes', 'Extra', 'GB'].map((l) => [l, v(l).record.type]),
      [
        ['Name', T.singleLineText],
        ['Size', T.singleLineText],
        ['HA', T.checkbox],
        ['Tier', T.selectBox],
        ['Logs', T.listCollector],
        ['Day', T.date],
        ['At', T.dateTime],
        ['Mail', T.email],
        ['Link', T.url],
        ['Notes', T.multiLineText],
        ['Extra', T.multiLineText],
        ['GB', T.singleLineText],
      ],
    );
    assert.deepEqual([T.containerStart, T.containerEnd, T.selectBox, T.checkbox, T.listCollector], [19, 20, 5, 7, 21]);
  });

  it('wraps sections in container start/end rows titled like the section', () => {
    const types = spec.variables.map((x) => x.record.type);
    const start = spec.variables.findIndex((x) => x.record.type === 19 && x.record.question_text === 'Disk');
    assert.ok(start >= 0);
    assert.equal(spec.variables[start + 1].record.question_text, 'GB');
    assert.equal(spec.variables[start + 2].record.type, 20);
    assert.equal(types.filter((t) => t === 19).length, types.filter((t) => t === 20).length);
  });

  it('writes question_choice rows, mandatory, read-only (immutable on update), help, order and default', () => {
    assert.deepEqual(
      spec.choices.filter((c) => c.question === 'tier').map((c) => [c.text, c.value, c.order]),
      [
        ['Same', 'a', 100],
        ['Same', 'b', 200],
      ],
    );
    assert.equal(v('Name').record.mandatory, true);
    assert.equal(v('Name').record.read_only, true);
    assert.equal(renderServiceNowForm(form).variables.find((x) => x.record.name === 'name')!.record.read_only, false);
    assert.equal(v('HA').record.mandatory, false);
    assert.equal(v('HA').record.default_value, 'false');
    assert.equal(v('Size').record.default_value, '20');
    assert.match(v('Size').record.help_text, /Whole number from 20\. Default: 20\./);
    assert.equal(v('Logs').record.list_table, 'question_choice');
  });

  it('links a question_regex with the Massdriver message, POSIX classes translated', () => {
    const rx = spec.regexes.find((r) => r.name === v('Name').record.validate_regex)!;
    assert.equal(rx.regex, '^[^\\s]+$');
    assert.equal(rx.validation_message, 'No spaces.');
    assert.ok(new RegExp(rx.regex).test('abc') && !new RegExp(rx.regex).test('a b'));
    const size = spec.regexes.find((r) => r.name === v('Size').record.validate_regex)!;
    assert.ok(new RegExp(size.regex).test('50') && !new RegExp(size.regex).test('5x'));
    assert.equal(v('Name').record.attributes, 'max_length=30');
  });
});

describe('Jira renderer', () => {
  const form = buildForm(inlineBundle(params));
  const spec = renderJiraForm(form, { projectId: '10000', issueTypeId: '10001', requestTypeName: 'Request a demo' });
  const f = (label: string) => spec.fields.find((x) => x.create.name === label)!;
  const CF = 'com.atlassian.jira.plugin.system.customfieldtypes:';

  it('picks the custom field type and searcher per question', () => {
    assert.deepEqual(
      ['Name', 'Size', 'HA', 'Tier', 'Logs', 'Day', 'At', 'Mail', 'Link', 'Notes', 'Extra'].map((l) => [l, f(l).create.type.replace(CF, ''), f(l).create.searcherKey.replace(CF, '')]),
      [
        ['Name', 'textfield', 'textsearcher'],
        ['Size', 'float', 'exactnumber'],
        ['HA', 'radiobuttons', 'multiselectsearcher'],
        ['Tier', 'select', 'multiselectsearcher'],
        ['Logs', 'multiselect', 'multiselectsearcher'],
        ['Day', 'datepicker', 'daterange'],
        ['At', 'datetime', 'datetimerange'],
        ['Mail', 'textfield', 'textsearcher'],
        ['Link', 'url', 'exacttextsearcher'],
        ['Notes', 'textarea', 'textsearcher'],
        ['Extra', 'textarea', 'textsearcher'],
      ],
    );
  });

  it('makes option texts unique, scopes contexts, and places fields on tabs per section', () => {
    assert.deepEqual(f('Tier').options?.map((o) => [o.value, o.paramValue]), [
      ['Same (a)', 'a'],
      ['Same (b)', 'b'],
    ]);
    assert.deepEqual(f('HA').options?.map((o) => o.value), ['Yes', 'No']);
    assert.deepEqual(f('Size').context.projectIds, ['10000']);
    assert.deepEqual(f('Size').context.issueTypeIds, ['10001']);
    assert.deepEqual(spec.screen.tabs.map((t) => t.name), ['Demo', 'Disk']);
    assert.deepEqual(spec.screen.tabs[1].fields, ['demo.disk__gb']);
    assert.match(f('Size').create.description, /Whole number from 20/);
    assert.equal(f('Size').defaultValue, 20);
  });

  it('describes JSM request-type fields', () => {
    assert.equal(spec.requestType.name, 'Request a demo');
    const tier = spec.requestType.fields.find((x) => x.name === 'Tier')!;
    assert.deepEqual(tier.validValues.map((x) => x.value), ['Same (a)', 'Same (b)']);
    assert.deepEqual(tier.jiraSchema, { type: 'option', custom: `${CF}select` });
    assert.equal(spec.requestType.fields.find((x) => x.name === 'Name')!.required, true);
  });
});

describe('1,000-field form', () => {
  it('builds and renders for both surfaces (time printed, not asserted)', () => {
    const bundle = generateLargeBundle(1000);
    const t0 = performance.now();
    const form = buildForm(bundle);
    const jira = renderJiraForm(form);
    const sn = renderServiceNowForm(form);
    const ms = performance.now() - t0;
    assert.equal(jira.fields.length, 1000);
    assert.equal(sn.variables.filter((x) => x.formField).length, 1000);
    console.log(`# 1,000-field form built and rendered for both surfaces in ${ms.toFixed(1)} ms`);
  });
});

describe('overlay + renderer', () => {
  it('renders request fields and the preset first, and omits fixed params', async () => {
    const form = buildForm(
      inlineBundle({ type: 'object', examples: [{ __name: 'Tiny', size: 1 }], properties: { size: { type: 'integer' }, zone: { type: 'string' } } }),
      parseOverlay('bundle: demo\nfields:\n  - request: environment\n    options: { source: environments }\n  - param: /size\nfixed:\n  /zone: z1\n', 'forms/demo.yaml'),
    );
    const jira = renderJiraForm(form);
    assert.deepEqual(jira.fields.map((x) => x.create.name), ['Preset', 'Environment', 'Size']);
    assert.deepEqual(jira.fields[1].dynamic, { source: 'environments' });
    const sn = renderServiceNowForm(form);
    assert.ok(!sn.variables.some((x) => x.record.name === 'zone'));
  });
});
