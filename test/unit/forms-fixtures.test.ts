// Every Massdriver fixture bundle renders for Jira and ServiceNow, and a value submitted in every
// rendered field (in that surface's own shape) comes back as the right typed param. Values are
// generated from each field's type, bounds and options only: no fixture is special-cased.
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BundleRegistry } from '../../src/engine/registry/index.ts';
import type { Bundle, Json, JsonSchema } from '../../src/engine/model.ts';
import { buildForm } from '../../src/forms/build-form.ts';
import type { FieldOption, Form, FormField, DynamicOptionSource } from '../../src/forms/model.ts';
import { resolveDynamicOptions, type OptionSources } from '../../src/forms/option-sources.ts';
import { sampleValue } from '../../src/forms/samples.ts';
import { getAt } from '../../src/forms/json-pointer.ts';
import { generateLargeBundle } from '../../src/forms/generate.ts';
import { inlineBundle } from '../fixtures/forms/inline-bundle.ts';
import { renderJiraForm, type JiraFieldSpec } from '../../src/surfaces/jira/form-renderer.ts';
import { jiraValuesToParams } from '../../src/surfaces/jira/form-values.ts';
import { renderServiceNowForm, type ServiceNowVariableSpec } from '../../src/surfaces/servicenow/form-renderer.ts';
import { serviceNowValuesToParams } from '../../src/surfaces/servicenow/form-values.ts';

const root = fileURLToPath(new URL('../fixtures/massdriver/', import.meta.url));
const jiraSpec = JSON.parse(readFileSync(new URL('../../sandbox/specs/jira-platform-v3.json', import.meta.url), 'utf8'));

/** Options a dynamic source offers in these tests: two per source, named after it. */
const sources: OptionSources = {
  async options(source: DynamicOptionSource): Promise<FieldOption[]> {
    const tag = source.source;
    return [
      { value: `${tag}-one`, label: `${tag} one` },
      { value: `${tag}-two`, label: `${tag} two` },
    ];
  },
};

/** Searcher keys the Jira platform spec allows per custom field type (from CustomFieldDefinitionJsonBean). */
function allowedSearchers(): Map<string, string[]> {
  const text: string = jiraSpec.components.schemas.CustomFieldDefinitionJsonBean.properties.searcherKey.description;
  const out = new Map<string, string[]>();
  for (const m of text.matchAll(/`(\w+)`: `(\w+)`(?: or `(\w+)`)?/g)) out.set(m[1], [m[2], m[3]].filter(Boolean));
  return out;
}

/** Every property pointer of a params schema, walking nested objects (independent of the forms code). */
function propertyPointers(schema: JsonSchema, prefix = ''): { leaves: string[]; objects: string[] } {
  const leaves: string[] = [];
  const objects: string[] = [];
  const props = (schema.properties ?? {}) as Record<string, JsonSchema>;
  for (const [k, s] of Object.entries(props)) {
    const p = `${prefix}/${k}`;
    if (s.type === 'object' && s.properties && Object.keys(s.properties).length > 0) {
      objects.push(p);
      const inner = propertyPointers(s, p);
      leaves.push(...inner.leaves);
      objects.push(...inner.objects);
    } else leaves.push(p);
  }
  return { leaves, objects };
}

const jiraDateTime = (iso: string) => iso.replace(/Z$/, '.000+0000');
const adf = (text: string) => ({ type: 'doc', version: 1, content: text.split('\n').map((line) => ({ type: 'paragraph', content: [{ type: 'text', text: line }] })) });

/** A value in the shape Jira submits for the spec's field type. */
function jiraSubmitted(spec: JiraFieldSpec, field: FormField, value: Json, i: number): unknown {
  const opt = (v: Json) => {
    const idx = spec.options!.findIndex((o) => JSON.stringify(o.paramValue) === JSON.stringify(v));
    assert.ok(idx >= 0, `${spec.key}: no Jira option for ${JSON.stringify(v)}`);
    return { self: `https://jira.example/rest/api/2/customFieldOption/${10000 + idx}`, id: String(10000 + idx), value: spec.options![idx].value };
  };
  switch (spec.kind) {
    case 'select':
    case 'radiobuttons':
      return opt(value);
    case 'multiselect':
    case 'multicheckboxes':
      return (value as Json[]).map(opt);
    case 'float':
      return value; // JSON numbers: 50 and 50.0 are the same value here
    case 'datetime':
      return jiraDateTime(value as string);
    case 'labels':
      return value;
    case 'textarea': {
      const text = field.type === 'json' ? JSON.stringify(value) : field.type === 'list' ? (value as Json[]).join('\n') : String(value);
      return i % 2 === 0 ? adf(text) : text; // REST v3 sends ADF, v2 and webhooks plain text
    }
    default:
      return String(value);
  }
}

/** A value in the shape ServiceNow submits for the variable's type code. */
function serviceNowSubmitted(spec: ServiceNowVariableSpec, field: FormField, value: Json): string {
  switch (spec.record.type) {
    case 7:
      return value ? 'true' : 'false';
    case 21:
      return (value as Json[]).map(String).join(',');
    case 10:
      return (value as string).replace('T', ' ').replace('Z', '');
    case 2:
      return field.type === 'json' ? JSON.stringify(value, null, 2) : field.type === 'list' ? (value as Json[]).join('\r\n') : String(value);
    default:
      return typeof value === 'string' ? value : JSON.stringify(value);
  }
}

/** Values of the same field in the bundle's presets (more candidates for patterned text). */
function presetValues(form: Form, f: FormField): Json[] {
  return form.presets.map((p) => p.values[f.key]).filter((v) => v !== undefined);
}

/**
 * Rounds of answers: the first answers every field with a sample; each further round forces
 * one condition's deciding answer so the conditional questions behind it are in play.
 */
function rounds(form: Form): { answers: Map<FormField, Json>; checked: FormField[] }[] {
  const params = form.fields.filter((f) => f.target === 'params');
  const base = new Map<FormField, Json>();
  for (const f of params) {
    const v = sampleValue(f, presetValues(form, f));
    assert.notEqual(v, undefined, `${form.bundle}: no sample value for ${f.key} (${f.type})`);
    base.set(f, v as Json);
  }
  const out = [{ answers: base, checked: params.filter((f) => !f.condition) }];
  const groups = new Map<string, FormField[]>();
  for (const f of params.filter((x) => x.condition)) {
    const k = JSON.stringify([f.condition!.pointer, f.condition!.values[0] ?? null]);
    groups.set(k, [...(groups.get(k) ?? []), f]);
  }
  for (const fs of groups.values()) {
    const c = fs[0].condition!;
    const answers = new Map(base);
    const selector = params.find((x) => x.key === c.pointer);
    if (selector && c.values.length > 0) answers.set(selector, c.values[0]);
    out.push({ answers, checked: fs });
  }
  return out;
}

/** Submits a sample in every field through Jira's shapes and checks each comes back typed. */
async function jiraRoundTrip(b: Bundle): Promise<void> {
  const form = await resolveDynamicOptions(buildForm(b), sources);
  const spec = renderJiraForm(form);
  const specOf = new Map(spec.fields.map((f) => [f.formField, f]));
  for (const round of rounds(form)) {
    const fields: Record<string, unknown> = { summary: 'ignored', project: { key: 'OPS' } };
    let i = 0;
    for (const [f, v] of round.answers) fields[`customfield_${10100 + i}`] = jiraSubmitted(specOf.get(f.name)!, f, v, i++);
    const fieldIds = Object.fromEntries([...round.answers.keys()].map((f, j) => [`customfield_${10100 + j}`, f.name]));
    const r = jiraValuesToParams(form, fields, { fieldIds });
    assert.ok(r.ok, `${b.name} (jira): ${JSON.stringify(!r.ok && r.issues)}`);
    // date-times come back in canonical RFC 3339 (zero offset as Z), as the samples are written
    for (const f of round.checked) assert.deepEqual(getAt(r.params, f.key), round.answers.get(f), `${b.name} (jira) ${f.key}`);
  }
}

/** Submits a sample in every field as ServiceNow strings and checks each comes back typed. */
async function serviceNowRoundTrip(b: Bundle): Promise<void> {
  const form = await resolveDynamicOptions(buildForm(b), sources);
  const spec = renderServiceNowForm(form);
  const specOf = new Map(spec.variables.filter((v) => v.formField).map((v) => [v.formField!, v]));
  for (const round of rounds(form)) {
    const variables: Record<string, string> = {};
    for (const [f, v] of round.answers) {
      const s = serviceNowSubmitted(specOf.get(f.name)!, f, v);
      assert.equal(typeof s, 'string');
      variables[specOf.get(f.name)!.record.name] = s;
    }
    const r = serviceNowValuesToParams(form, variables);
    assert.ok(r.ok, `${b.name} (servicenow): ${JSON.stringify(!r.ok && r.issues)}`);
    for (const f of round.checked) assert.deepEqual(getAt(r.params, f.key), round.answers.get(f), `${b.name} (servicenow) ${f.key}`);
  }
}

/** A bundle with one param of every question type the fixtures lack (dates, email, URL, lists of numbers...). */
const everyType = inlineBundle(
  {
    type: 'object',
    required: ['day', 'owner'],
    properties: {
      day: { type: 'string', format: 'date', title: 'Day' },
      at: { type: 'string', format: 'date-time' },
      owner: { type: 'string', format: 'email' },
      docs: { type: 'string', format: 'uri' },
      ratio: { type: 'number', minimum: 0, maximum: 1, multipleOf: 0.25, default: 0.5 },
      ports: { type: 'array', items: { type: 'integer', minimum: 1, maximum: 65535 } },
      tags: { type: 'object', additionalProperties: { type: 'string' } },
      mixed: { type: ['string', 'integer'] },
      notes: { type: 'string', maxLength: 4000 },
      nested: { type: 'object', title: 'Nested', properties: { deeper: { type: 'object', properties: { flag: { type: 'boolean', default: true } } } } },
    },
  },
  {},
  'every-type',
);

describe('forms: every fixture bundle renders and round-trips on both surfaces', () => {
  let bundles: Bundle[] = [];
  before(async () => {
    const registry = new BundleRegistry({
      bundlePaths: [root],
      artifactDefinitionPaths: [join(root, 'artifact-definitions'), join(root, 'massdriver-catalog', 'resource-types')],
    });
    await registry.loadAll();
    bundles = registry.list();
  });

  it('finds the fixture bundles', () => {
    assert.ok(bundles.length >= 4, `expected the fixture bundles, got ${bundles.map((b) => b.name).join(', ')}`);
  });

  it('accounts for every param property: a question, a fixed value or an omitted param', () => {
    for (const b of bundles) {
      const form = buildForm(b);
      const { leaves } = propertyPointers(b.params);
      const covered = new Set([...form.fields.map((f) => f.key), ...form.fixed.map((f) => f.pointer), ...form.omitted.map((o) => o.pointer)]);
      for (const p of leaves) assert.ok(covered.has(p), `${b.name}: ${p} dropped silently`);
    }
  });

  it('renders Jira fields whose type and searcher pair is one the Jira platform API accepts', () => {
    const allowed = allowedSearchers();
    assert.ok(allowed.size > 10, 'searcher table read from the Jira spec');
    for (const b of bundles) {
      const form = buildForm(b);
      const spec = renderJiraForm(form, { projectId: '10000', issueTypeId: '10001' });
      assert.equal(spec.fields.length, form.fields.length);
      for (const f of spec.fields) {
        const type = f.create.type.split(':')[1];
        const searcher = f.create.searcherKey.split(':')[1];
        assert.ok(allowed.get(type)?.includes(searcher), `${f.key}: ${type} cannot use searcher ${searcher}`);
        assert.deepEqual(f.context.projectIds, ['10000']);
        assert.deepEqual(f.context.issueTypeIds, ['10001']);
        assert.ok(spec.screen.tabs.some((t) => t.fields.includes(f.key)), `${f.key} placed on a tab`);
      }
    }
  });

  it('renders ServiceNow variables for every question, inside balanced containers', () => {
    for (const b of bundles) {
      const form = buildForm(b);
      const spec = renderServiceNowForm(form);
      const questions = spec.variables.filter((v) => v.formField);
      assert.deepEqual(questions.map((v) => v.formField).sort(), form.fields.map((f) => f.name).sort());
      let depth = 0;
      for (const v of spec.variables) {
        if (v.record.type === 19) depth++;
        if (v.record.type === 20) depth--;
        assert.ok(depth >= 0 && depth <= 1, `${b.name}: containers nest badly at ${v.record.name}`);
      }
      assert.equal(depth, 0);
      const orders = spec.variables.map((v) => v.record.order);
      assert.deepEqual(orders, [...orders].sort((x, y) => x - y));
      for (const c of spec.choices) assert.ok(questions.some((q) => q.record.name === c.question));
    }
  });

  it('maps a Jira-shaped value in every field back to the typed param', async () => {
    for (const b of bundles) await jiraRoundTrip(b);
  });

  it('maps a ServiceNow-shaped value in every field back to the typed param', async () => {
    for (const b of bundles) await serviceNowRoundTrip(b);
  });

  it('round-trips the question types the fixtures do not use, and a generated 200-field bundle', async () => {
    for (const b of [everyType, generateLargeBundle(200)]) {
      await jiraRoundTrip(b);
      await serviceNowRoundTrip(b);
    }
  });

  it('accepts each named preset on its own, filling every answer it carries', () => {
    for (const b of bundles) {
      const form = buildForm(b);
      const presetField = form.fields.find((f) => f.target === 'preset');
      for (const p of form.presets) {
        const r = serviceNowValuesToParams(form, { [presetField!.name]: p.name });
        assert.ok(r.ok, `${b.name} preset ${p.name}: ${JSON.stringify(!r.ok && r.issues)}`);
        for (const [ptr, v] of Object.entries(p.values)) {
          const f = form.fields.find((x) => x.key === ptr)!;
          if (f.condition) continue;
          assert.deepEqual(getAt(r.params, ptr), v, `${b.name} preset ${p.name} ${ptr}`);
        }
      }
    }
  });
});
