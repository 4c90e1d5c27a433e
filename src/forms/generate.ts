/**
 * Synthetic bundles for benchmarks: a params schema of any size mixing every kind of question,
 * grouped in sections of 50, so render time can be measured on a 1,000-field form.
 */
import type { Bundle, JsonSchema } from '../engine/model.ts';

/** A bundle whose params have `fieldCount` leaf properties across sections of 50. */
export function generateLargeBundle(fieldCount = 1000, name = 'generated-large'): Bundle {
  const properties: Record<string, JsonSchema> = {};
  const ui: Record<string, unknown> = { 'ui:order': [] as string[] };
  for (let i = 0; i < fieldCount; i++) {
    const section = `section_${Math.floor(i / 50)}`;
    if (!properties[section]) {
      properties[section] = { type: 'object', title: `Section ${Math.floor(i / 50) + 1}`, required: [], properties: {} };
      (ui['ui:order'] as string[]).push(section);
    }
    const s = properties[section] as { properties: Record<string, JsonSchema>; required: string[] };
    const key = `field_${i}`;
    const kind = i % 8;
    const title = `Field ${i}`;
    s.properties[key] =
      kind === 0 ? { type: 'string', title, minLength: 1, maxLength: 63, pattern: '^[a-z][a-z0-9_]*$', message: { pattern: 'lowercase' }, default: 'abc' }
      : kind === 1 ? { type: 'integer', title, minimum: 1, maximum: 1000, default: 10 }
      : kind === 2 ? { type: 'number', title, minimum: 0, maximum: 1, multipleOf: 0.25 }
      : kind === 3 ? { type: 'boolean', title, default: false }
      : kind === 4 ? { type: 'string', title, oneOf: [{ const: 'a', title: 'Choice A' }, { const: 'b', title: 'Choice B' }, { const: 'c', title: 'Choice C' }], default: 'a' }
      : kind === 5 ? { type: 'array', title, uniqueItems: true, items: { type: 'string', enum: ['x', 'y', 'z'] } }
      : kind === 6 ? { type: 'string', title, format: 'date' }
      : { type: 'array', title, items: { type: 'object', properties: { k: { type: 'string' } } } };
    if (kind === 1) s.required.push(key);
  }
  const params: JsonSchema = { type: 'object', required: Object.keys(properties), properties };
  return {
    name,
    version: '1.0.0',
    description: `Synthetic bundle with ${fieldCount} params`,
    dir: '.',
    file: 'massdriver.yaml',
    params,
    connections: {},
    artifacts: {},
    ui,
    steps: [],
    connectionTypes: {},
    artifactTypes: {},
    raw: {},
  };
}
