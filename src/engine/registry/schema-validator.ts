import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { BundleError, type FieldIssue } from '../errors.ts';
import type { JsonSchema } from '../model.ts';
import { escapeToken, isObject, joinPointer, splitPointer } from './json-pointer.ts';

// ajv-formats is CommonJS; under ESM its default export may arrive wrapped.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv) => Ajv;

/**
 * Massdriver keywords that are annotations here: accepted, never validated. ajv refuses dotted
 * keyword names, so `$md.immutable`, `$md.copyable`, `$md.enum`, `$md.sensitive` and any other
 * unknown keyword are tolerated through `strict: false` instead of being registered.
 */
export const MASSDRIVER_KEYWORDS = ['message', '$md'];

// Keys whose value is a map from names to schemas (so a property named "$id" is not a keyword).
const SCHEMA_MAPS = new Set(['properties', 'patternProperties', '$defs', 'definitions', 'dependencies', 'dependentSchemas']);
// Keys whose value is data; nothing under them is a schema.
const DATA_KEYWORDS = new Set(['examples', 'default', 'const', 'enum', 'message', '$md', '$md.enum', 'required']);

const POSIX_CLASSES: Record<string, string> = {
  alpha: 'a-zA-Z',
  digit: '0-9',
  alnum: 'a-zA-Z0-9',
  upper: 'A-Z',
  lower: 'a-z',
  space: '\\s',
  blank: ' \\t',
  word: '\\w',
  xdigit: '0-9A-Fa-f',
  punct: '!-\\/:-@\\[-`{-~',
  cntrl: '\\x00-\\x1f\\x7f',
  print: '\\x20-\\x7e',
  graph: '\\x21-\\x7e',
};

/**
 * Massdriver validates patterns with RE2/PCRE, which know POSIX classes such as `[[:space:]]`
 * (the 2026 catalog uses them); JavaScript does not, so they are rewritten to equivalents.
 */
export function translatePattern(pattern: string): string {
  return pattern.replace(/\[:(alpha|digit|alnum|upper|lower|space|blank|word|xdigit|punct|cntrl|print|graph):\]/g, (_, name: string) => POSIX_CLASSES[name] ?? _);
}

/**
 * The copy of a schema that ajv sees: POSIX classes translated, `$schema`/`$id` dropped (every
 * `$ref` is already inlined, and Massdriver writes `$schema` values ajv does not know).
 */
export function prepareSchema(schema: unknown): unknown {
  return prepare(schema, false);
}

function prepare(node: unknown, isMap: boolean): unknown {
  if (Array.isArray(node)) return node.map((n) => prepare(n, false));
  if (!isObject(node)) return node;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    if (isMap) {
      out[key] = prepare(value, false);
      continue;
    }
    if ((key === '$schema' || key === '$id') && typeof value === 'string') continue;
    if (DATA_KEYWORDS.has(key)) out[key] = value;
    else if (key === 'pattern' && typeof value === 'string') out[key] = translatePattern(value);
    else if (key === 'patternProperties' && isObject(value)) {
      const pp: Record<string, unknown> = {};
      for (const [p, s] of Object.entries(value)) pp[translatePattern(p)] = prepare(s, false);
      out[key] = pp;
    } else out[key] = prepare(value, SCHEMA_MAPS.has(key));
  }
  return out;
}

/** Walks schema positions, calling `visit` with each sub-schema and its pointer. */
function walkSchemas(node: unknown, pointer: string, visit: (schema: Record<string, unknown>, pointer: string) => void, isMap = false): void {
  if (Array.isArray(node)) {
    node.forEach((n, i) => walkSchemas(n, joinPointer(pointer, i), visit));
    return;
  }
  if (!isObject(node)) return;
  if (!isMap) visit(node, pointer);
  for (const [key, value] of Object.entries(node)) {
    if (!isMap && DATA_KEYWORDS.has(key)) continue;
    walkSchemas(value, joinPointer(pointer, key), visit, !isMap && SCHEMA_MAPS.has(key));
  }
}

/**
 * Compiles and runs JSON Schemas the way Massdriver writes them (draft-07, plus `$md.*`,
 * `message` and other unknown keywords tolerated) and turns ajv's errors into plain words.
 * One instance per registry; compiled validators are cached per schema object.
 */
export class SchemaValidator {
  private readonly ajv: Ajv;
  private readonly compiled = new WeakMap<object, ValidateFunction>();

  constructor() {
    this.ajv = new Ajv({
      strict: false,
      allErrors: true,
      verbose: true,
      // Non-unicode mode accepts the escapes RE2 accepts (`\-`, `\ `), which `u` refuses.
      unicodeRegExp: false,
      addUsedSchema: false,
      // Unknown formats are ignored (as Massdriver does) without a console warning per schema.
      logger: false,
    });
    addFormats(this.ajv);
    for (const keyword of MASSDRIVER_KEYWORDS) this.ajv.addKeyword({ keyword });
  }

  /**
   * Every reason `schema` is not usable as JSON Schema: meta-schema violations, patterns that
   * are not regular expressions, anything ajv refuses to compile. Pointers are prefixed with
   * `at` (where the schema sits in its file).
   */
  check(schema: unknown, at: string, file: string): FieldIssue[] {
    if (typeof schema === 'boolean') return [];
    if (!isObject(schema)) return [{ file, pointer: at, message: 'must be a JSON Schema object' }];
    const prepared = prepareSchema(schema) as Record<string, unknown>;
    const issues: FieldIssue[] = [];
    walkSchemas(schema, at, (sub, pointer) => {
      const candidates: [string, string][] = [];
      if (typeof sub.pattern === 'string') candidates.push([sub.pattern, joinPointer(pointer, 'pattern')]);
      if (isObject(sub.patternProperties)) for (const p of Object.keys(sub.patternProperties)) candidates.push([p, joinPointer(pointer, 'patternProperties', p)]);
      for (const [p, ptr] of candidates) {
        try {
          new RegExp(translatePattern(p));
        } catch (err) {
          issues.push({ file, pointer: ptr, message: `not a valid regular expression: ${(err as Error).message.replace(/^Invalid regular expression: /, '')}` });
        }
      }
    });
    if (!this.ajv.validateSchema(prepared)) {
      const seen = new Set<string>();
      for (const e of this.ajv.errors ?? []) {
        const pointer = at + e.instancePath;
        if (seen.has(pointer)) continue;
        seen.add(pointer);
        const keyword = splitPointer(e.instancePath).pop();
        issues.push({ file, pointer, message: `not valid JSON Schema: ${keyword ? `"${keyword}" ` : ''}${e.message ?? 'is invalid'}` });
      }
    }
    if (issues.length > 0) return issues;
    try {
      this.compile(schema);
    } catch (err) {
      issues.push({ file, pointer: at, message: `not valid JSON Schema: ${(err as Error).message}` });
    }
    return issues;
  }

  /**
   * Validates `data` against `schema`; every problem, in plain words, with the JSON pointer of
   * the value and the `title` of its field. Values are never quoted except numbers and
   * booleans outside `$md.sensitive` fields.
   */
  validate(schema: JsonSchema | boolean, data: unknown): FieldIssue[] {
    let fn: ValidateFunction;
    try {
      fn = this.compile(schema);
    } catch (err) {
      throw new BundleError(`schema cannot be compiled: ${(err as Error).message}`, [{ pointer: '', message: (err as Error).message }]);
    }
    if (fn(data)) return [];
    return summarize(fn.errors ?? [], schema);
  }

  private compile(schema: JsonSchema | boolean): ValidateFunction {
    if (typeof schema === 'boolean') return this.ajv.compile(schema);
    let fn = this.compiled.get(schema);
    if (!fn) {
      fn = this.ajv.compile(prepareSchema(schema) as Record<string, unknown>);
      this.compiled.set(schema, fn);
    }
    return fn;
  }
}

// ---------------------------------------------------------------------------------------------
// ajv errors -> plain words

const COMBINATORS = new Set(['oneOf', 'anyOf']);

/**
 * Collapses ajv's raw errors (one per failed branch) into the issues a person can act on.
 * `root` (the validated schema) supplies titles that the failing sub-schema does not carry,
 * for example a field required by a `then` or `dependencies` branch.
 */
export function summarize(errors: ErrorObject[], root?: unknown): FieldIssue[] {
  return collapse(errors).map((i) => {
    if (i.field !== undefined) return i;
    const field = titleAt(root, i.pointer) ?? lastName(i.pointer);
    return field === undefined ? i : { ...i, field };
  });
}

function collapse(errors: ErrorObject[]): FieldIssue[] {
  const remaining = new Set(errors);
  // Each group is listed at the position of its first raw error, so the order follows the schema.
  const groups: { order: number; issues: FieldIssue[] }[] = [];
  // Outermost combinators first: their branches' errors are consumed before being listed.
  const combinators = errors.filter((e) => COMBINATORS.has(e.keyword)).sort((a, b) => a.schemaPath.length - b.schemaPath.length);
  for (const c of combinators) {
    if (!remaining.has(c)) continue;
    remaining.delete(c);
    const prefix = `${c.schemaPath}/`;
    const inside = errors.filter((e) => remaining.has(e) && e.schemaPath.startsWith(prefix));
    for (const e of inside) remaining.delete(e);
    const order = Math.min(errors.indexOf(c), ...inside.map((e) => errors.indexOf(e)));
    groups.push({ order, issues: explainCombinator(c, inside) });
  }
  for (const e of errors) {
    if (!remaining.has(e) || e.keyword !== 'if') continue;
    // "must match then schema" adds nothing when the then/else errors are listed.
    const base = e.schemaPath.replace(/\/if$/, '');
    if (errors.some((o) => o !== e && (o.schemaPath.startsWith(`${base}/then`) || o.schemaPath.startsWith(`${base}/else`)))) remaining.delete(e);
  }
  errors.forEach((e, order) => {
    if (remaining.has(e)) groups.push({ order, issues: [explain(e)] });
  });
  return dedupe(groups.sort((a, b) => a.order - b.order).flatMap((g) => g.issues));
}

function explainCombinator(c: ErrorObject, inside: ErrorObject[]): FieldIssue[] {
  const parent = (c.parentSchema ?? {}) as Record<string, unknown>;
  const branches = Array.isArray(c.schema) ? (c.schema as unknown[]) : [];
  const base = { pointer: c.instancePath, field: fieldName(parent, c.instancePath) };
  if (branches.length > 0 && branches.every((b) => isObject(b) && 'const' in b)) {
    const options = branches.map((b) => (b as Record<string, unknown>).title ?? (b as Record<string, unknown>).const).map(show);
    return [{ ...base, message: custom(parent, c.keyword) ?? `must be one of: ${listWords(options)}` }];
  }
  if (c.keyword === 'oneOf' && (c.params as { passingSchemas?: unknown }).passingSchemas) {
    return [{ ...base, message: custom(parent, c.keyword) ?? 'matches more than one of the allowed options' }];
  }
  // The branch whose discriminator (const/enum) matched is the one the person meant.
  const byBranch = new Map<number, ErrorObject[]>();
  for (const e of inside) {
    const index = Number(e.schemaPath.slice(c.schemaPath.length + 1).split('/')[0]);
    if (!byBranch.has(index)) byBranch.set(index, []);
    byBranch.get(index)!.push(e);
  }
  const meant = [...byBranch.values()].filter((errs) => !errs.some((e) => e.keyword === 'const' || e.keyword === 'enum'));
  if (meant.length === 1) return collapse(meant[0]!);
  return [{ ...base, message: custom(parent, c.keyword) ?? 'does not match any of the allowed options' }];
}

function explain(e: ErrorObject): FieldIssue {
  const parent = (isObject(e.parentSchema) ? e.parentSchema : {}) as Record<string, unknown>;
  const params = e.params as Record<string, unknown>;
  const childField = (name: string): FieldIssue => {
    const child = isObject(parent.properties) ? (parent.properties as Record<string, unknown>)[name] : undefined;
    const title = isObject(child) && typeof child.title === 'string' ? child.title : undefined;
    return { pointer: `${e.instancePath}/${escapeToken(name)}`, field: title, message: '' };
  };
  const own: FieldIssue = { pointer: e.instancePath, field: fieldName(parent, e.instancePath), message: '' };
  // Numbers are echoed back ("you entered 2") unless the field could hold a secret.
  const sensitive = parent['$md.sensitive'] === true || /pass|secret|token|key|pin/i.test(e.instancePath);
  const entered = !sensitive && (typeof e.data === 'number' || typeof e.data === 'boolean') ? ` (you entered ${String(e.data)})` : '';
  const msg = (text: string): string => custom(parent, e.keyword) ?? text;

  switch (e.keyword) {
    case 'required': {
      const f = childField(String(params.missingProperty));
      return { ...f, message: msg('required') };
    }
    case 'dependencies':
    case 'dependentRequired': {
      const f = childField(String(params.missingProperty));
      const trigger = childField(String(params.property)).field ?? String(params.property);
      return { ...f, message: msg(`required when ${trigger} is set`) };
    }
    case 'additionalProperties': {
      const name = String(params.additionalProperty);
      return { pointer: `${e.instancePath}/${escapeToken(name)}`, message: msg('is not an allowed field') };
    }
    case 'type':
      return { ...own, message: msg(`must be ${typeWords(String(params.type))}`) };
    case 'minimum':
      return { ...own, message: msg(`must be at least ${String(params.limit)}${entered}`) };
    case 'maximum':
      return { ...own, message: msg(`must be at most ${String(params.limit)}${entered}`) };
    case 'exclusiveMinimum':
      return { ...own, message: msg(`must be more than ${String(params.limit)}${entered}`) };
    case 'exclusiveMaximum':
      return { ...own, message: msg(`must be less than ${String(params.limit)}${entered}`) };
    case 'multipleOf':
      return { ...own, message: msg(`must be a multiple of ${String(params.multipleOf)}${entered}`) };
    case 'minLength':
      return { ...own, message: msg(`must be at least ${plural(Number(params.limit), 'character')} long`) };
    case 'maxLength':
      return { ...own, message: msg(`must be at most ${plural(Number(params.limit), 'character')} long`) };
    case 'minItems':
      return { ...own, message: msg(`must have at least ${plural(Number(params.limit), 'item')}`) };
    case 'maxItems':
      return { ...own, message: msg(`must have at most ${plural(Number(params.limit), 'item')}`) };
    case 'minProperties':
      return { ...own, message: msg(`must have at least ${plural(Number(params.limit), 'field')}`) };
    case 'maxProperties':
      return { ...own, message: msg(`must have at most ${plural(Number(params.limit), 'field')}`) };
    case 'uniqueItems':
      return { ...own, message: msg('must not contain the same item twice') };
    case 'pattern':
      return { ...own, message: msg(`must match the pattern ${String(params.pattern)}`) };
    case 'format':
      return { ...own, message: msg(`must be a valid ${String(params.format)}`) };
    case 'enum': {
      const allowed = Array.isArray(params.allowedValues) ? params.allowedValues.map(show) : [];
      return { ...own, message: msg(`must be one of: ${listWords(allowed)}`) };
    }
    case 'const':
      return { ...own, message: msg(`must be ${show(params.allowedValue)}`) };
    case 'not':
    case 'false schema':
      return { ...own, message: msg('is not allowed') };
    case 'propertyNames':
      return { ...own, message: msg(`has a field name that is not allowed (${String(params.propertyName)})`) };
    case 'contains':
      return { ...own, message: msg('must contain at least one matching item') };
    case 'if':
      return { ...own, message: msg('does not meet a condition of this form') };
    default:
      return { ...own, message: msg(e.message ?? 'is invalid') };
  }
}

/** Massdriver's `message: { <keyword>: "..." }` replaces the generated text. */
function custom(schema: Record<string, unknown>, keyword: string): string | undefined {
  const m = schema.message;
  if (isObject(m) && typeof m[keyword] === 'string') return m[keyword] as string;
  return undefined;
}

function fieldName(schema: Record<string, unknown>, _pointer: string): string | undefined {
  return typeof schema.title === 'string' ? schema.title : undefined;
}

function lastName(pointer: string): string | undefined {
  const last = splitPointer(pointer).pop();
  return last !== undefined && !/^\d+$/.test(last) ? last : undefined;
}

/** The first `title` of a schema that describes the value at `pointer`, looking through branches. */
function titleAt(root: unknown, pointer: string): string | undefined {
  let level: Record<string, unknown>[] = expand([root]);
  for (const token of splitPointer(pointer)) {
    const next: unknown[] = [];
    for (const s of level) {
      if (isObject(s.properties) && token in s.properties) next.push(s.properties[token]);
      if (isObject(s.patternProperties)) {
        for (const [p, sub] of Object.entries(s.patternProperties)) {
          try {
            if (new RegExp(translatePattern(p)).test(token)) next.push(sub);
          } catch {
            // An invalid pattern was reported by lint; it just supplies no title here.
          }
        }
      }
      if (isObject(s.additionalProperties)) next.push(s.additionalProperties);
      if (/^\d+$/.test(token)) next.push(Array.isArray(s.items) ? s.items[Number(token)] : s.items);
    }
    level = expand(next);
    if (level.length === 0) return undefined;
  }
  return level.map((s) => s.title).find((t): t is string => typeof t === 'string');
}

/** A set of schemas plus every branch that applies to the same value. */
function expand(schemas: unknown[]): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  const queue = [...schemas];
  while (queue.length > 0) {
    const s = queue.shift();
    if (!isObject(s) || out.includes(s)) continue;
    out.push(s);
    for (const k of ['allOf', 'anyOf', 'oneOf']) if (Array.isArray(s[k])) queue.push(...(s[k] as unknown[]));
    for (const k of ['then', 'else']) queue.push(s[k]);
    if (isObject(s.dependencies)) queue.push(...Object.values(s.dependencies).filter(isObject));
  }
  return out;
}

function typeWords(types: string): string {
  const words: Record<string, string> = {
    integer: 'a whole number',
    number: 'a number',
    string: 'text',
    boolean: 'true or false',
    object: 'a group of fields',
    array: 'a list',
    null: 'empty',
  };
  return types
    .split(',')
    .map((t) => words[t] ?? t)
    .join(' or ');
}

function show(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

function listWords(items: string[]): string {
  return items.length > 12 ? `${items.slice(0, 12).join(', ')} (and ${items.length - 12} more)` : items.join(', ');
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function dedupe(issues: FieldIssue[]): FieldIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const key = `${i.pointer}\0${i.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
