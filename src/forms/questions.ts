/**
 * The questions of a form, one builder per kind of field: a bundle param (input type, options,
 * bounds and pattern read from its schema, then changed by its overlay field), a request-level
 * question an overlay adds, and the preset choice. build-form.ts decides which params are asked.
 */
import type { Json, JsonSchema } from '../engine/model.ts';
import { parsePointer } from './json-pointer.ts';
import type { OverlayField, OverlayOption } from './overlay.ts';
import type { DynamicOptionSource, FieldBounds, FieldOption, FieldType, FormField, FormPreset, RequestFieldName } from './model.ts';
import { boundsOf, connectionEnum, humanize, leafKind, staticOptions, type LeafCandidate, type LeafKind } from './schema-fields.ts';

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Where a mistake sits in the overlay: `['fields', 2, 'options']`. */
export type OverlayPath = (string | number)[];

/** What a question builder needs from the form being built. */
export interface QuestionContext {
  /** Records an overlay mistake at `path`. */
  report(path: OverlayPath, message: string): void;
  /** Why the bundle does not allow `value` where `schema` applies; undefined when it does. */
  checkValue(schema: JsonSchema, value: unknown): string | undefined;
  /** `base`, or `base_2`, `base_3`, …: a field name this form does not use yet. */
  uniqueName(base: string): string;
}

/** The param's `default`, if its schema has one. */
export function defaultOf(schema: JsonSchema): Json | undefined {
  return 'default' in schema ? (schema.default as Json) : undefined;
}

/** Machine name from a pointer: `/storage/allocated` -> `storage__allocated`. */
function machineName(segments: string[]): string {
  const name = segments
    .map((s) => s.toLowerCase().replace(/[^a-z0-9_]+/g, '_').replace(/^_+|_+$/g, '') || 'x')
    .join('__');
  return /^[a-z]/.test(name) ? name : `p_${name}`;
}

/** Help text for a question: description, ui:help, then what a JSON or conditional field needs to know. */
function helpFor(leaf: LeafCandidate, jsonReason: string | undefined): string | undefined {
  const parts: string[] = [];
  if (typeof leaf.schema.description === 'string') parts.push(leaf.schema.description.trim());
  if (typeof leaf.ui['ui:help'] === 'string') parts.push((leaf.ui['ui:help'] as string).trim());
  if (jsonReason) parts.push(`This is ${jsonReason}, which a ticket field cannot hold: enter it as JSON text. It is checked when the request is submitted.`);
  if (leaf.condition) parts.push(leaf.condition.text);
  return parts.length ? parts.join(' ') : undefined;
}

/** Fills a `connection-enum` overlay source from the param's `$md.enum` when the overlay left parts out. */
function completeSource(src: DynamicOptionSource, schema: JsonSchema): DynamicOptionSource | undefined {
  if (src.source !== 'connection-enum') return src;
  const md = connectionEnum(schema);
  const merged = { ...(md ?? {}), ...Object.fromEntries(Object.entries(src).filter(([, v]) => v !== undefined)) } as Record<string, string>;
  if (!merged.connection || !merged.options || !merged.value) return undefined;
  return merged as unknown as DynamicOptionSource;
}

/** A param's input: its type and its options, fixed or looked up. */
interface ParamChoices {
  type: FieldType;
  options?: FieldOption[];
  source?: DynamicOptionSource;
}

/**
 * The overlay's `options` for a param: a list narrows the choices (each checked against the
 * bundle) and makes it a select; a dynamic source makes it a select filled at render time.
 */
function overlayChoices(ctx: QuestionContext, leaf: LeafCandidate, kind: LeafKind, given: NonNullable<OverlayField['options']>, path: OverlayPath | undefined): ParamChoices {
  if (Array.isArray(given)) {
    const restricted: OverlayOption[] = given;
    const allowed = staticOptions(leaf.schema) ?? (isObj(leaf.schema.items) ? staticOptions(leaf.schema.items as JsonSchema) : undefined);
    const options = restricted.map((r, i) => {
      const target = kind.type === 'multiselect' && isObj(leaf.schema.items) ? (leaf.schema.items as JsonSchema) : leaf.schema;
      const bad = ctx.checkValue(target, r.value);
      if (bad && path) ctx.report([...path, 'options', i, 'value'], `option ${JSON.stringify(r.value)} is not allowed by the bundle: ${bad}`);
      const known = allowed?.find((a) => JSON.stringify(a.value) === JSON.stringify(r.value));
      return { value: r.value, label: r.label ?? known?.label ?? (typeof r.value === 'string' ? r.value : JSON.stringify(r.value)) };
    });
    return { type: kind.type !== 'multiselect' ? 'select' : kind.type, options, source: kind.source };
  }
  const source = completeSource(given, leaf.schema);
  if (!source && path) ctx.report([...path, 'options'], 'connection-enum needs connection, options and value (or $md.enum on the param)');
  return { type: kind.type === 'list' || kind.type === 'multiselect' ? 'multiselect' : 'select', options: [], source };
}

/** Checks an overlay's `required: false` and `default` against the bundle. */
function checkOverlayAnswerRules(ctx: QuestionContext, leaf: LeafCandidate, o: OverlayField, path: OverlayPath, def: Json | undefined): void {
  if (o.required === false && leaf.required && def === undefined)
    ctx.report([...path, 'required'], `${leaf.pointer} is required by the bundle and has no default: it cannot be made optional`);
  if ('default' in o) {
    const bad = ctx.checkValue(leaf.schema, o.default);
    if (bad) ctx.report([...path, 'default'], `default for ${leaf.pointer} is not allowed by the bundle: ${bad}`);
  }
}

/** Pattern, its message and bounds of a param; a list takes its items' pattern and bounds. */
function textRules(leaf: LeafCandidate, type: FieldType): { pattern?: string; patternMessage?: string; bounds: FieldBounds } {
  const itemsSchema = isObj(leaf.schema.items) ? (leaf.schema.items as JsonSchema) : undefined;
  const pattern = typeof leaf.schema.pattern === 'string' ? leaf.schema.pattern : type === 'list' && typeof itemsSchema?.pattern === 'string' ? (itemsSchema.pattern as string) : undefined;
  const msgHolder = type === 'list' && itemsSchema && !leaf.schema.pattern ? itemsSchema : leaf.schema;
  const patternMessage = isObj(msgHolder.message) && typeof msgHolder.message.pattern === 'string' ? (msgHolder.message.pattern as string) : undefined;
  const bounds = boundsOf(leaf.schema);
  if (type === 'list' && itemsSchema) {
    for (const [k, v] of Object.entries(boundsOf(itemsSchema))) if (!(k in bounds)) (bounds as Record<string, number>)[k] = v;
  }
  return { pattern, patternMessage, bounds };
}

/**
 * The question for a bundle param, from its schema and ui schema, changed by its overlay field
 * `o` (at `path` in the overlay) when there is one.
 */
export function paramQuestion(ctx: QuestionContext, leaf: LeafCandidate, o?: OverlayField, path?: OverlayPath): FormField {
  const kind = leafKind(leaf.schema, leaf.ui);
  let { type, options, source } = o?.options ? overlayChoices(ctx, leaf, kind, o.options, path) : (kind as ParamChoices);
  if (o?.widget === 'textarea' && (type === 'text' || type === 'list' || type === 'json')) type = type === 'text' ? 'textarea' : type;
  const required = o?.required ?? leaf.required;
  const def = o && 'default' in o ? o.default : defaultOf(leaf.schema);
  if (o && path) checkOverlayAnswerRules(ctx, leaf, o, path, def);
  const { pattern, patternMessage, bounds } = textRules(leaf, type);
  const help = o?.help ?? helpFor(leaf, kind.jsonReason);
  const widget = o?.widget ?? (typeof leaf.ui['ui:widget'] === 'string' ? (leaf.ui['ui:widget'] as string) : undefined);
  const placeholder = o?.placeholder ?? (typeof leaf.ui['ui:placeholder'] === 'string' ? (leaf.ui['ui:placeholder'] as string) : undefined);
  return {
    key: leaf.pointer,
    target: 'params',
    name: ctx.uniqueName(machineName(parsePointer(leaf.pointer))),
    label: o?.label ?? (typeof leaf.schema.title === 'string' ? leaf.schema.title : humanize(leaf.key)),
    ...(help ? { help } : {}),
    ...(placeholder ? { placeholder } : {}),
    type,
    required: leaf.condition ? false : required,
    bounds,
    ...(pattern ? { pattern } : {}),
    ...(patternMessage ? { patternMessage } : {}),
    ...(options ? { options } : {}),
    ...(source ? { source } : {}),
    ...(kind.itemType ? { itemType: kind.itemType } : {}),
    ...(def !== undefined ? { default: def } : {}),
    section: leaf.section,
    order: 0,
    immutable: o?.immutable ?? leaf.schema['$md.immutable'] === true,
    ...(leaf.condition ? { condition: leaf.condition } : {}),
    schema: leaf.schema,
    ...(widget ? { widget } : {}),
  };
}

/** A request-level question an overlay adds (`request: title`): free text, or a select from a dynamic source. */
export function requestQuestion(ctx: QuestionContext, o: OverlayField & { request: RequestFieldName }): FormField {
  const source = o.options && !Array.isArray(o.options) ? (o.options as DynamicOptionSource) : undefined;
  return {
    key: o.request,
    target: 'request',
    name: ctx.uniqueName(`request_${o.request}`),
    label: o.label ?? humanize(o.request),
    ...(o.help ? { help: o.help } : {}),
    type: source ? 'select' : 'text',
    required: o.required ?? true,
    bounds: {},
    ...(source ? { source, options: [] } : {}),
    section: '',
    order: 0,
    immutable: false,
    schema: { type: 'string' },
  };
}

/** The optional first question that picks one of the bundle's named examples as a starting point. */
export function presetQuestion(ctx: QuestionContext, presets: FormPreset[]): FormField {
  return {
    key: 'preset',
    target: 'preset',
    name: ctx.uniqueName('preset'),
    label: 'Preset',
    help: 'A named starting point from the bundle: answers you leave empty are taken from it.',
    type: 'select',
    required: false,
    bounds: {},
    options: presets.map((p) => ({ value: p.name, label: p.name })),
    section: '',
    order: 0,
    immutable: false,
    schema: { type: 'string', enum: presets.map((p) => p.name) },
  };
}
