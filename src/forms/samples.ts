/**
 * Representative answers for a question, derived only from its type, bounds, pattern and
 * options: used by tests (every rendered field must round-trip) and by the CLI to show an example
 * values file. Prefers a value different from the default, so a round trip proves the answer
 * was read rather than defaulted.
 */
import type { Json, JsonSchema } from '../engine/model.ts';
import { matchesPattern } from './regex.ts';
import type { FormField } from './model.ts';
import { staticOptions, schemaType } from './schema-fields.ts';

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

const GENERIC_TEXT = ['example', 'abc', 'a', 'x1', 'example-1', 'example_1', 'Example', '/example', 'example.com', 'https://example.com', '10.0.0.1', '10.0.0.0/16', '1.0.0', 'dev@example.com'];

function numberIn(s: { minimum?: number; maximum?: number; exclusiveMinimum?: number; exclusiveMaximum?: number; multipleOf?: number }, integer: boolean, avoid?: unknown): number | undefined {
  const step = s.multipleOf ?? (integer ? 1 : 0.5);
  let lo = s.minimum ?? (s.exclusiveMinimum !== undefined ? s.exclusiveMinimum + (integer ? 1 : step) : 0);
  if (s.minimum === undefined && s.exclusiveMinimum === undefined && s.maximum !== undefined && s.maximum < 0) lo = s.maximum - 10 * step;
  const hi = s.maximum ?? (s.exclusiveMaximum !== undefined ? s.exclusiveMaximum - (integer ? 1 : step) : lo + 100 * step);
  let v = Math.ceil(lo / step) * step;
  if (integer) v = Math.ceil(v);
  for (let i = 0; i < 50 && v <= hi; i++, v += step) {
    if (s.exclusiveMinimum !== undefined && v <= s.exclusiveMinimum) continue;
    if (s.exclusiveMaximum !== undefined && v >= s.exclusiveMaximum) continue;
    if (!same(v, avoid)) return Number(v.toFixed(6));
  }
  return avoid as number | undefined;
}

function textCandidates(schema: JsonSchema, extra: unknown[]): string[] {
  const out: string[] = [];
  const push = (v: unknown) => typeof v === 'string' && !out.includes(v) && out.push(v);
  if (Array.isArray(schema.examples)) schema.examples.forEach(push);
  extra.forEach(push);
  if (schema.default !== undefined) push(schema.default);
  GENERIC_TEXT.forEach(push);
  return out;
}

function textFits(schema: JsonSchema, v: string): boolean {
  if (typeof schema.minLength === 'number' && v.length < schema.minLength) return false;
  if (typeof schema.maxLength === 'number' && v.length > schema.maxLength) return false;
  if (typeof schema.pattern === 'string' && !matchesPattern(schema.pattern, v)) return false;
  return true;
}

/** A value that satisfies `schema` (best effort), for JSON and list items. */
export function sampleForSchema(schema: JsonSchema, extra: unknown[] = []): Json | undefined {
  if (schema.default !== undefined) return schema.default as Json;
  const opts = staticOptions(schema);
  if (opts?.length) return opts[0].value;
  if (Array.isArray(schema.type)) {
    // several types allowed: any one of them will do
    const first = schema.type.find((t) => t !== 'null');
    return first === undefined ? null : sampleForSchema({ ...schema, type: first }, extra);
  }
  switch (schemaType(schema)) {
    case 'string':
      return textCandidates(schema, extra).find((c) => textFits(schema, c));
    case 'integer':
      return numberIn(schema as never, true);
    case 'number':
      return numberIn(schema as never, false);
    case 'boolean':
      return true;
    case 'array': {
      const n = typeof schema.minItems === 'number' ? schema.minItems : 0;
      const item = isObj(schema.items) ? sampleForSchema(schema.items as JsonSchema) : undefined;
      return item === undefined ? [] : Array.from({ length: n }, () => item);
    }
    case 'object': {
      const out: Record<string, Json> = {};
      const props = isObj(schema.properties) ? schema.properties : {};
      for (const k of Array.isArray(schema.required) ? (schema.required as string[]) : []) {
        const v = isObj(props[k]) ? sampleForSchema(props[k] as JsonSchema) : undefined;
        if (v !== undefined) out[k] = v;
      }
      return out;
    }
    default:
      return undefined;
  }
}

/**
 * A typed param value a person could enter in `field`, or undefined when none can be derived
 * (a dynamic select before its options are resolved, a pattern no candidate fits).
 * `presetValues` are values of the same field from presets (more candidates for patterned text).
 */
export function sampleValue(field: FormField, presetValues: Json[] = []): Json | undefined {
  const avoid = field.default;
  const b = field.bounds;
  switch (field.type) {
    case 'select': {
      const opts = field.options ?? [];
      return (opts.find((o) => !same(o.value, avoid)) ?? opts[0])?.value;
    }
    case 'multiselect': {
      const opts = field.options ?? [];
      if (opts.length === 0) return undefined;
      const n = Math.max(b.minItems ?? 1, Math.min(2, b.maxItems ?? 2, opts.length));
      const pick = opts.slice(0, n).map((o) => o.value);
      return same(pick, avoid) && opts.length > n ? opts.slice(1, n + 1).map((o) => o.value) : pick;
    }
    case 'boolean':
      return avoid === true ? false : true;
    case 'integer':
      return numberIn(b, true, avoid);
    case 'number':
      return numberIn(b, false, avoid);
    case 'date':
      return '2026-01-31';
    case 'datetime':
      return '2026-01-31T09:30:00Z';
    case 'email':
      return 'dev@example.com';
    case 'url':
      return 'https://example.com/app';
    case 'text':
    case 'textarea': {
      const cands = textCandidates(field.schema, presetValues).filter((c) => textFits(field.schema, c));
      return cands.find((c) => !same(c, avoid)) ?? cands[0];
    }
    case 'list': {
      const items = isObj(field.schema.items) ? (field.schema.items as JsonSchema) : {};
      const fromPresets = presetValues.flatMap((v) => (Array.isArray(v) ? v : []));
      const item = field.itemType === 'string' || !field.itemType ? textCandidates(items, fromPresets).find((c) => textFits(items, c)) : sampleForSchema(items);
      if (item === undefined) return undefined;
      const n = Math.max(1, b.minItems ?? 1);
      return field.schema.uniqueItems === true && n > 1 ? undefined : Array.from({ length: n }, () => item as Json);
    }
    case 'json': {
      const fromPreset = presetValues.find((v) => v !== undefined && !same(v, avoid));
      if (fromPreset !== undefined) return fromPreset;
      // A list with one generated item says more than the (often empty) default.
      const { default: _d, ...withoutDefault } = field.schema;
      const generated = sampleForSchema({ ...withoutDefault, ...(schemaType(field.schema) === 'array' ? { minItems: Math.max(1, Number(field.schema.minItems ?? 1)) } : {}) });
      if (generated !== undefined && !same(generated, avoid)) return generated;
      return avoid ?? generated ?? null;
    }
  }
}
