/**
 * Reading a params schema as questions: which properties are leaves (one answer each), which
 * nested objects become sections, what type of input each leaf needs, its options, bounds and
 * pattern, and which questions are conditional (`dependencies`, `oneOf` branches, `if/then`).
 * Pure functions over plain schema data; build-form.ts assembles the form from them.
 */
import type { Json, JsonSchema } from '../engine/model.ts';
import { childPointer } from './json-pointer.ts';
import type { DynamicOptionSource, FieldBounds, FieldCondition, FieldOption, FieldType } from './model.ts';

/** A property that takes one answer (or one fixed / omitted value). */
export interface LeafCandidate {
  pointer: string;
  key: string;
  schema: JsonSchema;
  /** Listed in its parent's `required`. */
  required: boolean;
  section: string;
  ui: Record<string, unknown>;
  condition?: FieldCondition;
}

/** A nested object read as a group of questions. */
export interface SectionCandidate {
  id: string;
  title: string;
  description?: string;
  required: boolean;
}

/** Everything a params schema offers, in display order (ui:order, then schema order). */
export interface SchemaReading {
  leaves: LeafCandidate[];
  sections: SectionCandidate[];
}

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** "allocated_storage_gb" -> "Allocated storage gb". */
export function humanize(key: string): string {
  const words = key.replace(/([a-z0-9])([A-Z])/g, '$1 $2').replace(/[_\-.]+/g, ' ').trim();
  return words.charAt(0).toUpperCase() + words.slice(1).toLowerCase();
}

/** The schema's single type, `null` dropped; `undefined` when absent, `'mixed'` when several remain. */
export function schemaType(schema: JsonSchema): string | undefined {
  const t = schema.type;
  if (typeof t === 'string') return t;
  if (Array.isArray(t)) {
    const rest = t.filter((x) => x !== 'null');
    if (rest.length === 1) return String(rest[0]);
    return rest.length === 0 ? undefined : 'mixed';
  }
  if (isObj(schema.properties)) return 'object';
  if (schema.items !== undefined) return 'array';
  const opts = staticOptions(schema);
  if (opts) {
    const kinds = new Set(opts.map((o) => (typeof o.value === 'number' ? (Number.isInteger(o.value) ? 'integer' : 'number') : typeof o.value)));
    if (kinds.size === 1) return [...kinds][0] === 'boolean' ? 'boolean' : [...kinds][0];
    if ([...kinds].every((k) => k === 'integer' || k === 'number')) return 'number';
    return 'mixed';
  }
  return undefined;
}

function choiceLabel(value: Json, title?: unknown): string {
  if (typeof title === 'string' && title.trim() !== '') return title;
  if (typeof value === 'boolean') return value ? 'Yes' : 'No';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** Options from `enum` or from a `oneOf`/`anyOf` whose every branch is a titled `const`; undefined otherwise. */
export function staticOptions(schema: JsonSchema): FieldOption[] | undefined {
  if (Array.isArray(schema.enum)) {
    const names = Array.isArray(schema.enumNames) ? (schema.enumNames as unknown[]) : [];
    return (schema.enum as Json[]).filter((v) => v !== null).map((v, i) => ({ value: v, label: choiceLabel(v, names[i]) }));
  }
  for (const k of ['oneOf', 'anyOf'] as const) {
    const branches = schema[k];
    if (Array.isArray(branches) && branches.length > 0) {
      const out: FieldOption[] = [];
      for (const b of branches) {
        if (!isObj(b)) return undefined;
        if ('const' in b) out.push({ value: b.const as Json, label: choiceLabel(b.const as Json, b.title) });
        else if (Array.isArray(b.enum) && b.enum.length === 1) out.push({ value: b.enum[0] as Json, label: choiceLabel(b.enum[0] as Json, b.title) });
        else return undefined;
      }
      return out.filter((o) => o.value !== null);
    }
  }
  return undefined;
}

/** `$md.enum` as a connection-enum source, when the property has one. */
export function connectionEnum(schema: JsonSchema): DynamicOptionSource | undefined {
  const md = schema['$md.enum'];
  if (!isObj(md) || typeof md.connection !== 'string') return undefined;
  return {
    source: 'connection-enum',
    connection: md.connection,
    options: typeof md.options === 'string' ? md.options : '.',
    value: typeof md.value === 'string' ? md.value : '.',
    ...(typeof md.label === 'string' ? { label: md.label } : {}),
  };
}

/**
 * True for values that must never be asked in a ticket: marked sensitive (or write-only, or a
 * password format) themselves, or holding such a value somewhere inside (a JSON field would
 * otherwise carry the secret into the ticket).
 */
export function isSensitive(schema: unknown, depth = 0): boolean {
  if (!isObj(schema) || depth > 32) return false;
  if (schema['$md.sensitive'] === true || schema.writeOnly === true || schema.format === 'password') return true;
  for (const k of ['properties', 'patternProperties', 'dependencies', '$defs', 'definitions']) {
    const m = schema[k];
    if (isObj(m) && Object.values(m).some((s) => isSensitive(s, depth + 1))) return true;
  }
  for (const k of ['items', 'additionalProperties', 'then', 'else', 'not']) if (isSensitive(schema[k], depth + 1)) return true;
  for (const k of ['oneOf', 'anyOf', 'allOf']) {
    const list = schema[k];
    if (Array.isArray(list) && list.some((s) => isSensitive(s, depth + 1))) return true;
  }
  return false;
}

/** Numeric, length and item-count bounds of a schema. */
export function boundsOf(schema: JsonSchema): FieldBounds {
  const out: FieldBounds = {};
  for (const k of ['minimum', 'maximum', 'multipleOf', 'minLength', 'maxLength', 'minItems', 'maxItems'] as const) {
    if (typeof schema[k] === 'number') out[k] = schema[k] as number;
  }
  // draft-04 wrote exclusive bounds as booleans beside minimum/maximum
  if (typeof schema.exclusiveMinimum === 'number') out.exclusiveMinimum = schema.exclusiveMinimum;
  else if (schema.exclusiveMinimum === true && out.minimum !== undefined) {
    out.exclusiveMinimum = out.minimum;
    delete out.minimum;
  }
  if (typeof schema.exclusiveMaximum === 'number') out.exclusiveMaximum = schema.exclusiveMaximum;
  else if (schema.exclusiveMaximum === true && out.maximum !== undefined) {
    out.exclusiveMaximum = out.maximum;
    delete out.maximum;
  }
  return out;
}

/** What a leaf property becomes. */
export interface LeafKind {
  type: FieldType;
  options?: FieldOption[];
  source?: DynamicOptionSource;
  itemType?: 'string' | 'number' | 'integer';
  /** Why it is a JSON field, for help text. */
  jsonReason?: string;
}

/** Decides the input type of a leaf property from its schema and `ui:widget`. */
export function leafKind(schema: JsonSchema, ui: Record<string, unknown> = {}): LeafKind {
  const type = schemaType(schema);
  const widget = typeof ui['ui:widget'] === 'string' ? (ui['ui:widget'] as string) : undefined;
  const opts = staticOptions(schema);
  const dyn = connectionEnum(schema);
  switch (type) {
    case 'string': {
      if (opts) return { type: 'select', options: opts };
      if (dyn) return { type: 'select', options: [], source: dyn };
      switch (schema.format) {
        case 'date':
          return { type: 'date' };
        case 'date-time':
          return { type: 'datetime' };
        case 'email':
        case 'idn-email':
          return { type: 'email' };
        case 'uri':
        case 'url':
        case 'iri':
          return { type: 'url' };
      }
      if (widget === 'textarea' || (typeof schema.maxLength === 'number' && schema.maxLength > 255)) return { type: 'textarea' };
      return { type: 'text' };
    }
    case 'integer':
    case 'number':
      if (opts) return { type: 'select', options: opts };
      return { type };
    case 'boolean':
      return { type: 'boolean' };
    case 'array': {
      const items = isObj(schema.items) ? (schema.items as JsonSchema) : undefined;
      if (!items) return { type: 'json', jsonReason: 'a list whose items have no single shape' };
      const itemOpts = staticOptions(items);
      if (itemOpts) return { type: 'multiselect', options: itemOpts };
      const it = schemaType(items);
      if (it === 'string' || it === 'number' || it === 'integer') return { type: 'list', itemType: it };
      return { type: 'json', jsonReason: it === 'object' ? 'a list of objects' : 'a list of mixed values' };
    }
    case 'object':
      return { type: 'json', jsonReason: 'a free-form object' };
    case 'mixed':
      return { type: 'json', jsonReason: 'a value of several possible types' };
    default:
      if (opts) return { type: 'select', options: opts };
      return { type: 'json', jsonReason: 'a value of any type' };
  }
}

/** True when an object property is read as a section of its own questions (rather than one JSON answer). */
export function isSectionSchema(schema: JsonSchema): boolean {
  return schemaType(schema) === 'object' && isObj(schema.properties) && Object.keys(schema.properties).length > 0;
}

/** Orders keys by `ui:order` (with `*` standing for the rest, in schema order). */
export function orderKeys(keys: string[], ui: Record<string, unknown>): string[] {
  const order = Array.isArray(ui['ui:order']) ? (ui['ui:order'] as unknown[]).map(String) : undefined;
  if (!order) return keys;
  const known = new Set(keys);
  const listed = order.filter((k) => k !== '*' && known.has(k));
  const listedSet = new Set(listed);
  const rest = keys.filter((k) => !listedSet.has(k));
  const star = order.indexOf('*');
  if (star < 0) return [...listed, ...rest];
  const before = order.slice(0, star).filter((k) => known.has(k));
  const after = order.slice(star + 1).filter((k) => known.has(k));
  return [...before, ...rest, ...after];
}

// ---------------------------------------------------------------------------------------------
// Conditional questions

interface ConditionalProp {
  schema?: JsonSchema;
  selector: string;
  values: Json[];
  present: boolean;
  requiredThen: boolean;
}

/** The single property an `if` (or a oneOf branch) selects on, with the values it accepts. */
function selectorOf(branch: JsonSchema, preferred?: string): { key: string; values: Json[] } | undefined {
  const props = isObj(branch.properties) ? branch.properties : {};
  const keys = preferred && preferred in props ? [preferred] : Object.keys(props);
  for (const k of keys) {
    const p = props[k];
    if (!isObj(p)) continue;
    if ('const' in p) return { key: k, values: [p.const as Json] };
    if (Array.isArray(p.enum)) return { key: k, values: p.enum as Json[] };
  }
  return undefined;
}

function addBranch(out: Map<string, ConditionalProp>, branch: JsonSchema, selector: string, values: Json[], present: boolean): void {
  const props = isObj(branch.properties) ? branch.properties : {};
  const required = Array.isArray(branch.required) ? (branch.required as string[]) : [];
  const keys = new Set([...Object.keys(props), ...required]);
  keys.delete(selector);
  for (const k of keys) {
    const prev = out.get(k);
    const schema = isObj(props[k]) ? (props[k] as JsonSchema) : undefined;
    if (prev && prev.selector === selector) {
      prev.values.push(...values.filter((v) => !prev.values.some((x) => JSON.stringify(x) === JSON.stringify(v))));
      prev.requiredThen ||= required.includes(k);
      prev.schema ??= schema;
      prev.present &&= present;
    } else if (!prev) {
      out.set(k, { schema, selector, values: [...values], present, requiredThen: required.includes(k) });
    }
  }
}

function readDependency(out: Map<string, ConditionalProp>, selector: string, dep: unknown): void {
  if (Array.isArray(dep)) {
    for (const k of dep) addBranch(out, { required: [String(k)] }, selector, [], true);
    return;
  }
  if (!isObj(dep)) return;
  const branches = Array.isArray(dep.oneOf) ? dep.oneOf : Array.isArray(dep.anyOf) ? dep.anyOf : undefined;
  if (branches) {
    for (const b of branches) {
      if (!isObj(b)) continue;
      const sel = selectorOf(b, selector);
      if (sel && sel.key === selector) addBranch(out, b, selector, sel.values, false);
      else addBranch(out, b, selector, [], true);
    }
  }
  if (isObj(dep.properties) || Array.isArray(dep.required)) addBranch(out, dep, selector, [], true);
}

function readIfThen(out: Map<string, ConditionalProp>, s: JsonSchema, props: Record<string, unknown>): void {
  if (!isObj(s.if)) return;
  const sel = selectorOf(s.if);
  if (!sel) return;
  if (isObj(s.then)) addBranch(out, s.then, sel.key, sel.values, false);
  if (isObj(s.else)) {
    // "else" holds for the selector's other choices, when the selector has a known list of them
    const all = isObj(props[sel.key]) ? staticOptions(props[sel.key] as JsonSchema) : undefined;
    const selType = isObj(props[sel.key]) ? schemaType(props[sel.key] as JsonSchema) : undefined;
    const universe: Json[] | undefined = all ? all.map((o) => o.value) : selType === 'boolean' ? [true, false] : undefined;
    if (universe) {
      const others = universe.filter((v) => !sel.values.some((x) => JSON.stringify(x) === JSON.stringify(v)));
      addBranch(out, s.else, sel.key, others, false);
    }
  }
}

/** Conditional properties of one object schema, keyed by property name. */
function conditionalProps(s: JsonSchema): Map<string, ConditionalProp> {
  const out = new Map<string, ConditionalProp>();
  const props = isObj(s.properties) ? s.properties : {};
  if (isObj(s.dependencies)) for (const [k, d] of Object.entries(s.dependencies)) readDependency(out, k, d);
  if (isObj(s.dependentRequired)) for (const [k, d] of Object.entries(s.dependentRequired)) readDependency(out, k, d);
  if (isObj(s.dependentSchemas)) for (const [k, d] of Object.entries(s.dependentSchemas)) readDependency(out, k, d);
  readIfThen(out, s, props);
  if (Array.isArray(s.allOf)) for (const part of s.allOf) if (isObj(part)) readIfThen(out, part, props);
  return out;
}

function describeCondition(c: ConditionalProp, selectorSchema: JsonSchema | undefined, selectorLabel: string): string {
  const then = c.requiredThen ? ' (required then)' : '';
  if (c.present || c.values.length === 0) return `Asked only when ${selectorLabel} is answered${then}.`;
  const opts = selectorSchema ? staticOptions(selectorSchema) : undefined;
  const names = c.values.map((v) => opts?.find((o) => JSON.stringify(o.value) === JSON.stringify(v))?.label ?? choiceLabel(v));
  const joined = names.length === 1 ? names[0] : `${names.slice(0, -1).join(', ')} or ${names[names.length - 1]}`;
  return `Asked only when ${selectorLabel} is ${joined}${then}.`;
}

// ---------------------------------------------------------------------------------------------
// Walking

/**
 * Reads a params schema into leaves and sections, in display order. `ui` is the bundle's ui
 * schema (RJSF style: `ui:order` per object, nested by property name).
 */
export function readSchema(params: JsonSchema, ui: JsonSchema = {}): SchemaReading {
  const leaves: LeafCandidate[] = [];
  const sections: SectionCandidate[] = [];
  const walk = (obj: JsonSchema, pointer: string, uiObj: Record<string, unknown>, sectionTitle: string | undefined, required: boolean) => {
    const props = isObj(obj.properties) ? (obj.properties as Record<string, JsonSchema>) : {};
    const req = new Set(Array.isArray(obj.required) ? (obj.required as string[]) : []);
    const conds = conditionalProps(obj);
    const keys = [...Object.keys(props), ...[...conds.keys()].filter((k) => !(k in props) && conds.get(k)!.schema)];
    for (const key of orderKeys(keys, uiObj)) {
      const p = childPointer(pointer, key);
      const cond = conds.get(key);
      const schema = (props[key] ?? cond?.schema) as JsonSchema;
      if (!isObj(schema)) continue;
      const uiChild = isObj(uiObj[key]) ? (uiObj[key] as Record<string, unknown>) : {};
      const label = typeof schema.title === 'string' ? schema.title : humanize(key);
      if (isSectionSchema(schema) && !cond) {
        const title = sectionTitle ? `${sectionTitle} › ${label}` : label;
        sections.push({
          id: p,
          title,
          ...(typeof schema.description === 'string' ? { description: schema.description } : {}),
          required: required && req.has(key),
        });
        walk(schema, p, uiChild, title, required && req.has(key));
        continue;
      }
      let condition: FieldCondition | undefined;
      // a property required outright needs no condition; one required only in a branch does
      if (cond && !req.has(key)) {
        const selSchema = isObj(props[cond.selector]) ? (props[cond.selector] as JsonSchema) : undefined;
        const selLabel = selSchema && typeof selSchema.title === 'string' ? selSchema.title : humanize(cond.selector);
        condition = {
          pointer: childPointer(pointer, cond.selector),
          label: selLabel,
          values: cond.values,
          ...(cond.present ? { present: true } : {}),
          requiredThen: cond.requiredThen,
          text: describeCondition(cond, selSchema, selLabel),
        };
      }
      leaves.push({ pointer: p, key, schema, required: req.has(key), section: pointer, ui: uiChild, ...(condition ? { condition } : {}) });
    }
  };
  walk(params, '', ui as Record<string, unknown>, undefined, true);
  return { leaves, sections };
}
