/**
 * The reverse mapping: answers (already unwrapped from a surface's shape by
 * src/surfaces/<surface>/form-values.ts) -> typed params, validated with ajv against the bundle's
 * params schema, every problem mapped back to the question's label in plain words. Also the
 * day-2 check that refuses a changed immutable field.
 */
import type { ErrorObject, ValidateFunction } from 'ajv';
import type { Json, JsonSchema } from '../engine/model.ts';
import type { FieldIssue } from '../engine/errors.ts';
import { prepareSchema } from '../engine/registry/index.ts';
import { createAjv, pruneBranchErrors } from './ajv.ts';
import { childPointer, getAt, hasAt, isWithin, parsePointer, setAt, deleteAt } from './json-pointer.ts';
import { echo, listChoices, plainMessage, typeWords } from './messages.ts';
import type { FieldOption, Form, FormField, RequestFieldName, SubmitResult } from './model.ts';
import { staticOptions } from './schema-fields.ts';

/**
 * One answer as a surface hands it over: text, a number, a yes/no, a list of those, or nothing.
 * Select answers may be the option's value or its label.
 */
export type Answer = string | number | boolean | null | undefined | readonly Answer[] | { readonly [k: string]: unknown };

/** Answers keyed by {@link FormField.name}. */
export type Answers = Record<string, Answer>;

/** Options of {@link FormValues.map}. */
export interface MapOptions {
  /** Params to start from (the package's current params on a day-2 request): unanswered questions keep these values. */
  base?: Record<string, unknown>;
}

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** True when a person left the question empty. */
export function isEmptyAnswer(a: unknown): boolean {
  return a === undefined || a === null || (typeof a === 'string' && a.trim() === '') || (Array.isArray(a) && a.length === 0);
}

type Coerced = { ok: true; value: unknown } | { ok: false; message: string };

const INT_RE = /^[-+]?\d+(\.0*)?$/;
const NUM_RE = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

function toInteger(a: unknown): Coerced {
  if (typeof a === 'number') return Number.isInteger(a) ? { ok: true, value: a } : { ok: false, message: `${typeWords('integer')} (you entered ${echo(a)})` };
  if (typeof a === 'string') {
    const s = a.trim().replace(/[_\s]/g, '');
    if (INT_RE.test(s)) return { ok: true, value: Math.trunc(Number(s)) };
  }
  return { ok: false, message: `${typeWords('integer')} (you entered ${echo(a)})` };
}

function toNumber(a: unknown): Coerced {
  if (typeof a === 'number' && Number.isFinite(a)) return { ok: true, value: a };
  if (typeof a === 'string') {
    const s = a.trim().replace(/[_\s]/g, '');
    if (NUM_RE.test(s)) return { ok: true, value: Number(s) };
  }
  return { ok: false, message: `${typeWords('number')} (you entered ${echo(a)})` };
}

function toBoolean(a: unknown): Coerced {
  if (typeof a === 'boolean') return { ok: true, value: a };
  if (typeof a === 'number' && (a === 0 || a === 1)) return { ok: true, value: a === 1 };
  if (typeof a === 'string') {
    const s = a.trim().toLowerCase();
    if (['true', 'yes', 'y', '1', 'on', 'checked'].includes(s)) return { ok: true, value: true };
    if (['false', 'no', 'n', '0', 'off', 'unchecked'].includes(s)) return { ok: true, value: false };
  }
  return { ok: false, message: `${typeWords('boolean')} (you entered ${echo(a)})` };
}

function toText(a: unknown): Coerced {
  if (typeof a === 'string') return { ok: true, value: a };
  if (typeof a === 'number' || typeof a === 'boolean') return { ok: true, value: String(a) };
  return { ok: false, message: typeWords('text') };
}

/** Date answers: YYYY-MM-DD; a date-time answer keeps its date part. */
function toDate(a: unknown): Coerced {
  if (typeof a === 'string') {
    const m = /^(\d{4}-\d{2}-\d{2})(?:[T ].*)?$/.exec(a.trim());
    if (m) return { ok: true, value: m[1] };
  }
  return { ok: false, message: `${typeWords('date')} (you entered ${echo(a)})` };
}

/** Date-time answers normalised to RFC 3339: `T` for a space, no zone meaning UTC, `+0000` as `Z`, `+0100` as `+01:00`. */
function toDateTime(a: unknown): Coerced {
  if (typeof a === 'string') {
    const m = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2})(:\d{2}(?:\.\d+)?)?\s*(Z|[+-]\d{2}:?\d{2})?$/i.exec(a.trim());
    if (m) {
      const offset = !m[4] || m[4].toUpperCase() === 'Z' ? 'Z' : m[4].includes(':') ? m[4] : `${m[4].slice(0, 3)}:${m[4].slice(3)}`;
      const zone = /^[+-]00:00$/.test(offset) ? 'Z' : offset;
      // all-zero fractions (some surfaces always send .000) say nothing: drop them so equal instants read equal
      const seconds = (m[3] ?? ':00').replace(/\.0+$/, '');
      return { ok: true, value: `${m[1]}T${m[2]}${seconds}${zone}` };
    }
  }
  return { ok: false, message: `${typeWords('datetime')} (you entered ${echo(a)})` };
}

function scalarFor(type: string | undefined, a: unknown): Coerced {
  if (type === 'integer') return toInteger(a);
  if (type === 'number') return toNumber(a);
  if (type === 'boolean') return toBoolean(a);
  return toText(a);
}

/** Finds the option an answer names: by value, by value's text, then by label (case-insensitive last). */
export function matchOption(options: readonly FieldOption[], a: unknown): FieldOption | undefined {
  const json = JSON.stringify(a);
  const byValue = options.find((o) => JSON.stringify(o.value) === json);
  if (byValue) return byValue;
  if (typeof a !== 'string' && typeof a !== 'number' && typeof a !== 'boolean') return undefined;
  const s = String(a).trim();
  return (
    options.find((o) => String(o.value) === s) ??
    options.find((o) => o.label === s) ??
    options.find((o) => o.label.toLowerCase() === s.toLowerCase() || String(o.value).toLowerCase() === s.toLowerCase())
  );
}

function splitList(a: unknown): unknown[] {
  if (Array.isArray(a)) return a.filter((x) => !isEmptyAnswer(x));
  if (typeof a === 'string') return a.split(/\r?\n/).map((s) => s.trim()).filter((s) => s !== '');
  return [a];
}

function valueType(field: FormField): string | undefined {
  const t = field.schema.type;
  const items = isObj(field.schema.items) ? (field.schema.items as JsonSchema) : undefined;
  const pick = (x: unknown) => (Array.isArray(x) ? (x.find((y) => y !== 'null') as string | undefined) : (x as string | undefined));
  return field.type === 'multiselect' ? pick(items?.type) : pick(t);
}

/** Reads one answer as the field's type. */
export function coerceAnswer(field: FormField, a: unknown): Coerced {
  switch (field.type) {
    case 'text':
    case 'email':
    case 'url': {
      const r = toText(a);
      return r.ok ? { ok: true, value: (r.value as string).trim() } : r;
    }
    case 'textarea':
      return toText(a);
    case 'integer':
      return toInteger(a);
    case 'number':
      return toNumber(a);
    case 'boolean':
      return toBoolean(a);
    case 'date':
      return toDate(a);
    case 'datetime':
      return toDateTime(a);
    case 'select': {
      if (field.options && field.options.length > 0) {
        const o = matchOption(field.options, a);
        if (o) return { ok: true, value: o.value };
        return { ok: false, message: `must be one of: ${listChoices(field.options)} (you entered ${echo(a)})` };
      }
      return scalarFor(valueType(field), a);
    }
    case 'multiselect': {
      const out: unknown[] = [];
      const items = Array.isArray(a) ? a.filter((x) => !isEmptyAnswer(x)) : typeof a === 'string' ? a.split(/\r?\n|,/).map((s) => s.trim()).filter(Boolean) : [a];
      for (const item of items) {
        if (field.options && field.options.length > 0) {
          const o = matchOption(field.options, item);
          if (!o) return { ok: false, message: `each choice must be one of: ${listChoices(field.options)} (you entered ${echo(item)})` };
          out.push(o.value);
        } else {
          const r = scalarFor(valueType(field), item);
          if (!r.ok) return r;
          out.push(r.value);
        }
      }
      return { ok: true, value: out };
    }
    case 'list': {
      const out: unknown[] = [];
      for (const item of splitList(a)) {
        const r = scalarFor(field.itemType, item);
        if (!r.ok) return { ok: false, message: `each entry ${r.message}` };
        out.push(field.itemType === 'string' || !field.itemType ? String(r.value).trim() : r.value);
      }
      return { ok: true, value: out };
    }
    case 'json': {
      if (typeof a !== 'string') return { ok: true, value: a };
      try {
        return { ok: true, value: JSON.parse(a) };
      } catch (err) {
        return { ok: false, message: `must be valid JSON (${(err as Error).message.split('\n')[0]})` };
      }
    }
  }
}

/** True when the condition of a conditional question holds for `params`. */
function conditionHolds(field: FormField, params: Record<string, unknown>): boolean {
  const c = field.condition;
  if (!c) return true;
  if (!hasAt(params, c.pointer)) return false;
  if (c.present || c.values.length === 0) return true;
  const v = JSON.stringify(getAt(params, c.pointer));
  return c.values.some((x) => JSON.stringify(x) === v);
}

/** Creates every object the schema requires on the way down, so nested requirements are reported at their own field. */
function ensureRequiredObjects(schema: JsonSchema, data: Record<string, unknown>): void {
  const props = isObj(schema.properties) ? schema.properties : {};
  const req = Array.isArray(schema.required) ? (schema.required as string[]) : [];
  for (const [k, s] of Object.entries(props)) {
    if (!isObj(s) || !isObj(s.properties)) continue;
    if (data[k] === undefined && req.includes(k)) data[k] = {};
    if (isObj(data[k])) ensureRequiredObjects(s as JsonSchema, data[k] as Record<string, unknown>);
  }
}

function relativeWords(rel: string[]): string {
  return rel.map((s) => (/^\d+$/.test(s) ? `item ${Number(s) + 1}` : s)).join(' › ');
}

/**
 * Maps answers to params for one form. Compiles the bundle's params schema once; reuse an
 * instance for many submissions of the same form.
 */
export class FormValues {
  private readonly form: Form;
  private readonly validate: ValidateFunction;
  private readonly byKey: Map<string, FormField>;

  constructor(form: Form) {
    this.form = form;
    // $id/$schema dropped: refs are inlined, and one type inlined twice would repeat its $id
    this.validate = createAjv().compile(prepareSchema(form.paramsSchema) as JsonSchema);
    this.byKey = new Map(form.fields.filter((f) => f.target === 'params').map((f) => [f.key, f]));
  }

  /** Answers -> typed params (or labelled issues). Fixed values win; then answers, base params, the chosen preset, defaults. */
  map(answers: Answers, options: MapOptions = {}): SubmitResult {
    const form = this.form;
    const issues: FieldIssue[] = [];
    const params: Record<string, unknown> = {};
    const request: Partial<Record<RequestFieldName, string>> = {};
    const badPointers = new Set<string>();

    let preset: string | undefined;
    const presetField = form.fields.find((f) => f.target === 'preset');
    if (presetField && !isEmptyAnswer(answers[presetField.name])) {
      const o = matchOption(presetField.options ?? [], answers[presetField.name]);
      if (!o) issues.push({ pointer: '', field: presetField.label, message: `must be one of: ${listChoices(presetField.options)} (you entered ${echo(answers[presetField.name])})` });
      else preset = String(o.value);
    }
    const presetValues = form.presets.find((p) => p.name === preset)?.values ?? {};

    const answered = new Set<string>();
    for (const f of form.fields) {
      const a = answers[f.name];
      if (f.target === 'preset') continue;
      if (f.target === 'request') {
        if (isEmptyAnswer(a)) {
          if (f.required) issues.push({ pointer: '', field: f.label, message: 'required' });
          continue;
        }
        const o = f.options && f.options.length > 0 ? matchOption(f.options, a) : undefined;
        if (f.options && f.options.length > 0 && !o) {
          issues.push({ pointer: '', field: f.label, message: `must be one of: ${listChoices(f.options)} (you entered ${echo(a)})` });
          continue;
        }
        request[f.key as RequestFieldName] = String(o ? o.value : a).trim();
        continue;
      }
      if (isEmptyAnswer(a)) continue;
      const r = coerceAnswer(f, a);
      if (!r.ok) {
        issues.push({ pointer: f.key, field: f.label, message: r.message });
        badPointers.add(f.key);
        continue;
      }
      if (f.source && f.options && f.options.length > 0) {
        const vals = Array.isArray(r.value) ? r.value : [r.value];
        const off = vals.find((v) => !matchOption(f.options!, v));
        if (off !== undefined) {
          issues.push({ pointer: f.key, field: f.label, message: `must be one of the offered choices: ${listChoices(f.options)} (you entered ${echo(off)})` });
          badPointers.add(f.key);
          continue;
        }
      }
      setAt(params, f.key, r.value);
      answered.add(f.key);
    }

    // Unanswered questions: base params, then the preset, then the default.
    for (const f of form.fields) {
      if (f.target !== 'params' || answered.has(f.key) || badPointers.has(f.key)) continue;
      if (options.base && hasAt(options.base, f.key)) setAt(params, f.key, structuredClone(getAt(options.base, f.key)));
      else if (f.key in presetValues) setAt(params, f.key, structuredClone(presetValues[f.key]));
      else if (f.default !== undefined) setAt(params, f.key, structuredClone(f.default));
    }
    for (const o of form.omitted) {
      if (options.base && hasAt(options.base, o.pointer)) setAt(params, o.pointer, structuredClone(getAt(options.base, o.pointer)));
      else if (o.default !== undefined && !hasAt(params, o.pointer)) setAt(params, o.pointer, structuredClone(o.default));
    }
    for (const fx of form.fixed) setAt(params, fx.pointer, structuredClone(fx.value));
    // A conditional question whose condition does not hold is not part of the request.
    for (const f of form.fields) if (f.condition && !conditionHolds(f, params)) deleteAt(params, f.key);
    ensureRequiredObjects(form.paramsSchema, params);

    if (!this.validate(params)) issues.push(...this.explain(this.validate.errors ?? [], params, badPointers));
    if (issues.length > 0) return { ok: false, issues: this.sortIssues(dedupe(issues)) };
    return { ok: true, params, request, ...(preset ? { preset } : {}) };
  }

  /** ajv errors -> issues labelled with the question they belong to. */
  private explain(errors: ErrorObject[], params: Record<string, unknown>, skip: Set<string>): FieldIssue[] {
    const out: FieldIssue[] = [];
    const pruned = pruneBranchErrors(errors).filter((e) => e.keyword !== 'if');
    for (const e of pruned) {
      const p = e.params as Record<string, unknown>;
      const pointer =
        (e.keyword === 'required' || e.keyword === 'dependencies' || e.keyword === 'dependentRequired') && typeof p.missingProperty === 'string'
          ? childPointer(e.instancePath, p.missingProperty)
          : e.instancePath;
      if ([...skip].some((s) => isWithin(pointer, s))) continue;
      const field = this.fieldFor(pointer);
      const value = getAt(params, e.instancePath);
      const schemaAt = field && field.key === pointer ? field.schema : undefined;
      const patternMessage =
        e.keyword === 'pattern' ? patternMessageAt(this.form.paramsSchema, e.schemaPath) ?? (field?.key === pointer ? field.patternMessage : undefined) : undefined;
      const depLabel =
        typeof p.property === 'string' ? this.fieldFor(childPointer(e.instancePath, p.property))?.label ?? p.property : undefined;
      const options = field && field.key === pointer ? field.options ?? (schemaAt ? staticOptions(schemaAt) : undefined) : undefined;
      let message = plainMessage(e, value, { options, patternMessage, sensitive: false, dependencyLabel: depLabel });
      let label: string;
      if (field) {
        label = field.label;
        if (field.key !== pointer) message = `${relativeWords(parsePointer(pointer).slice(parsePointer(field.key).length))}: ${message}`;
      } else {
        label = this.labelOf(pointer);
        if (this.form.fixed.some((fx) => isWithin(pointer, fx.pointer))) message += ' (value fixed by the form overlay: ask ops to fix forms/' + this.form.bundle + '.yaml)';
      }
      out.push({ pointer, field: label, message });
    }
    return out;
  }

  /** The question a pointer belongs to: itself, or the nearest JSON/list question above it. */
  private fieldFor(pointer: string): FormField | undefined {
    const exact = this.byKey.get(pointer);
    if (exact) return exact;
    const segs = parsePointer(pointer);
    for (let i = segs.length - 1; i > 0; i--) {
      const f = this.byKey.get('/' + segs.slice(0, i).map((s) => s.replace(/~/g, '~0').replace(/\//g, '~1')).join('/'));
      if (f) return f;
    }
    return undefined;
  }

  private labelOf(pointer: string): string {
    const section = this.form.sections.find((s) => s.id === pointer);
    if (section) return section.title;
    let schema: unknown = this.form.paramsSchema;
    for (const seg of parsePointer(pointer)) schema = isObj(schema) && isObj(schema.properties) ? schema.properties[seg] : undefined;
    if (isObj(schema) && typeof schema.title === 'string') return schema.title;
    return pointer || this.form.title;
  }

  private sortIssues(issues: FieldIssue[]): FieldIssue[] {
    const rank = (i: FieldIssue) => this.form.fields.find((f) => f.label === i.field)?.order ?? Number.MAX_SAFE_INTEGER;
    return [...issues].sort((a, b) => rank(a) - rank(b));
  }

  /**
   * Day-2: refuses changes to immutable questions (and immutable fixed values). Returns one issue
   * per changed field; empty when nothing immutable changed. Only fields the previous params had
   * count: setting a value for the first time is allowed.
   */
  checkImmutable(previous: Record<string, unknown>, next: Record<string, unknown>): FieldIssue[] {
    return checkImmutable(this.form, previous, next);
  }
}

function patternMessageAt(root: JsonSchema, schemaPath: string): string | undefined {
  // schemaPath is "#/properties/x/pattern": the message sits beside the pattern keyword
  const segs = schemaPath.replace(/^#/, '').split('/').filter(Boolean).slice(0, -1);
  let cur: unknown = root;
  for (const s of segs) cur = isObj(cur) ? cur[s.replace(/~1/g, '/').replace(/~0/g, '~')] : Array.isArray(cur) ? cur[Number(s)] : undefined;
  return isObj(cur) && isObj(cur.message) && typeof cur.message.pattern === 'string' ? cur.message.pattern : undefined;
}

function dedupe(issues: FieldIssue[]): FieldIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const k = `${i.pointer}|${i.field}|${i.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** The compiled {@link FormValues} of each form mapped so far (a form is not changed once built). */
const compiledForms = new WeakMap<Form, FormValues>();

/** Maps answers to params; the form's schema is compiled once per form object and reused. */
export function mapAnswers(form: Form, answers: Answers, options: MapOptions = {}): SubmitResult {
  let values = compiledForms.get(form);
  if (!values) compiledForms.set(form, (values = new FormValues(form)));
  return values.map(answers, options);
}

/**
 * Day-2 check: every immutable question (or immutable fixed value) whose previous value differs
 * from the new one, as an issue naming the field's label.
 */
export function checkImmutable(form: Form, previous: Record<string, unknown>, next: Record<string, unknown>): FieldIssue[] {
  const out: FieldIssue[] = [];
  const targets: { pointer: string; label: string }[] = [
    ...form.fields.filter((f) => f.target === 'params' && f.immutable).map((f) => ({ pointer: f.key, label: f.label })),
    ...form.fixed.filter((f) => f.immutable).map((f) => ({ pointer: f.pointer, label: labelFromSchema(form.paramsSchema, f.pointer) })),
  ];
  for (const t of targets) {
    if (!hasAt(previous, t.pointer)) continue;
    const before = getAt(previous, t.pointer);
    const after = getAt(next, t.pointer);
    if (JSON.stringify(before) === JSON.stringify(after)) continue;
    out.push({
      pointer: t.pointer,
      field: t.label,
      message: `cannot be changed after creation (it is ${echo(before)}; this request asks for ${after === undefined ? 'no value' : echo(after)})`,
    });
  }
  return out;
}

function labelFromSchema(schema: JsonSchema, pointer: string): string {
  let cur: unknown = schema;
  for (const seg of parsePointer(pointer)) cur = isObj(cur) && isObj(cur.properties) ? cur.properties[seg] : undefined;
  return isObj(cur) && typeof cur.title === 'string' ? cur.title : pointer;
}

/** The answer a form expects for a typed param value (used by tests and by day-2 prefill). */
export function answerFor(field: FormField, value: Json): Answer {
  if (field.type === 'json') return JSON.stringify(value, null, 2);
  if (field.type === 'list') return (value as Json[]).map(String).join('\n');
  return value as Answer;
}
