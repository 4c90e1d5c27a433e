/**
 * buildForm: bundle params schema + ui schema + overlay -> {@link Form}. Every param property
 * ends up as exactly one of: a question, a fixed value, or an omitted param with its reason.
 * Overlay mistakes (unknown params, required params left unanswerable) raise an
 * {@link OverlayError} naming the file and line.
 */
import type { Bundle, Json, JsonSchema } from '../engine/model.ts';
import type { FieldIssue } from '../engine/errors.ts';
import { prepareSchema } from '../engine/registry/index.ts';
import { createAjv } from './ajv.ts';
import { OverlayError } from './errors.ts';
import { childPointer, isWithin, parsePointer } from './json-pointer.ts';
import type { Overlay, OverlayField, OverlayOption } from './overlay.ts';
import { displayPath } from './overlay.ts';
import type { DynamicOptionSource, FixedValue, Form, FormField, FormPreset, FormSection, OmittedParam } from './model.ts';
import { boundsOf, connectionEnum, humanize, isSensitive, leafKind, readSchema, staticOptions, type LeafCandidate } from './schema-fields.ts';

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Machine name from a pointer: `/storage/allocated` -> `storage__allocated`. */
function machineName(segments: string[]): string {
  const name = segments
    .map((s) => s.toLowerCase().replace(/[^a-z0-9_]+/g, '_').replace(/^_+|_+$/g, '') || 'x')
    .join('__');
  return /^[a-z]/.test(name) ? name : `p_${name}`;
}

function levenshtein(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length];
}

function suggest(pointer: string, known: string[]): string {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = levenshtein(pointer, k);
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  return best && bestD <= Math.max(3, Math.floor(pointer.length / 3)) ? ` (did you mean ${best}?)` : '';
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

function defaultOf(schema: JsonSchema): Json | undefined {
  return 'default' in schema ? (schema.default as Json) : undefined;
}

/**
 * Builds the form for a bundle. Without an overlay every param is asked (sensitive params are
 * never asked; single-`const` params are fixed). Throws {@link OverlayError} when the overlay does
 * not fit the bundle.
 */
export function buildForm(bundle: Bundle, overlay?: Overlay): Form {
  const params = isObj(bundle.params) ? bundle.params : {};
  const reading = readSchema(params, isObj(bundle.ui) ? bundle.ui : {});
  const doc = overlay?.doc;
  const issues: FieldIssue[] = [];
  const file = overlay?.file;
  const oIssue = (path: (string | number)[], message: string) =>
    issues.push({ pointer: '', field: displayPath(path), message, ...(file ? { file } : {}), line: overlay?.lineOf(path) });

  if (doc && doc.bundle !== bundle.name) oIssue(['bundle'], `names bundle "${doc.bundle}" but is applied to bundle "${bundle.name}"`);

  const leafByPointer = new Map(reading.leaves.map((l) => [l.pointer, l]));
  const sectionIds = new Set(reading.sections.map((s) => s.id));
  const knownPointers = [...leafByPointer.keys(), ...sectionIds];
  // Only overlays have values to check: create the validator on first use.
  let ajv: ReturnType<typeof createAjv> | undefined;
  const checkValue = (schema: JsonSchema, value: unknown): string | undefined => {
    try {
      ajv ??= createAjv();
      const v = ajv.compile(prepareSchema(schema) as JsonSchema);
      if (v(value)) return undefined;
      return (v.errors ?? []).map((e) => `${e.instancePath ? `${e.instancePath} ` : ''}${e.message}`).join('; ');
    } catch (err) {
      return `cannot be checked: ${(err as Error).message}`;
    }
  };

  // ---- fixed values
  const fixed: FixedValue[] = [];
  const fixedPointers = new Set<string>();
  for (const [ptr, value] of Object.entries(doc?.fixed ?? {})) {
    const leaf = leafByPointer.get(ptr);
    if (!leaf && !sectionIds.has(ptr)) {
      oIssue(['fixed', ptr], `unknown param ${ptr}: bundle ${bundle.name} has no such property${suggest(ptr, knownPointers)}`);
      continue;
    }
    const schema = leaf ? leaf.schema : findSectionSchema(params, ptr);
    const bad = schema ? checkValue(schema, value) : undefined;
    if (bad) oIssue(['fixed', ptr], `fixed value for ${ptr} is not allowed by the bundle: ${bad}`);
    fixed.push({ pointer: ptr, value, immutable: schema?.['$md.immutable'] === true });
    fixedPointers.add(ptr);
  }
  const isFixed = (ptr: string) => [...fixedPointers].some((f) => isWithin(ptr, f));

  // ---- questions
  const fields: FormField[] = [];
  const usedNames = new Set<string>();
  const uniqueName = (base: string) => {
    let n = base;
    for (let i = 2; usedNames.has(n); i++) n = `${base}_${i}`;
    usedNames.add(n);
    return n;
  };
  const omitted: OmittedParam[] = [];
  const problems: FieldIssue[] = [];
  const asked = new Set<string>();

  const leafField = (leaf: LeafCandidate, o: OverlayField | undefined, path: (string | number)[] | undefined): FormField | undefined => {
    const kind = leafKind(leaf.schema, leaf.ui);
    let type = kind.type;
    let options = kind.options;
    let source = kind.source;
    if (o?.options) {
      if (Array.isArray(o.options)) {
        const restricted: OverlayOption[] = o.options;
        const allowed = staticOptions(leaf.schema) ?? (isObj(leaf.schema.items) ? staticOptions(leaf.schema.items as JsonSchema) : undefined);
        options = restricted.map((r, i) => {
          const target = type === 'multiselect' && isObj(leaf.schema.items) ? (leaf.schema.items as JsonSchema) : leaf.schema;
          const bad = checkValue(target, r.value);
          if (bad && path) oIssue([...path, 'options', i, 'value'], `option ${JSON.stringify(r.value)} is not allowed by the bundle: ${bad}`);
          const known = allowed?.find((a) => JSON.stringify(a.value) === JSON.stringify(r.value));
          return { value: r.value, label: r.label ?? known?.label ?? (typeof r.value === 'string' ? r.value : JSON.stringify(r.value)) };
        });
        if (type !== 'multiselect') type = 'select';
      } else {
        source = completeSource(o.options, leaf.schema);
        if (!source && path) oIssue([...path, 'options'], 'connection-enum needs connection, options and value (or $md.enum on the param)');
        options = [];
        type = type === 'list' || type === 'multiselect' ? 'multiselect' : 'select';
      }
    }
    if (o?.widget === 'textarea' && (type === 'text' || type === 'list' || type === 'json')) type = type === 'text' ? 'textarea' : type;
    const required = o?.required ?? leaf.required;
    const def = o && 'default' in o ? o.default : defaultOf(leaf.schema);
    if (o?.required === false && leaf.required && def === undefined && path)
      oIssue([...path, 'required'], `${leaf.pointer} is required by the bundle and has no default: it cannot be made optional`);
    if (o && 'default' in o && path) {
      const bad = checkValue(leaf.schema, o.default);
      if (bad) oIssue([...path, 'default'], `default for ${leaf.pointer} is not allowed by the bundle: ${bad}`);
    }
    const itemsSchema = isObj(leaf.schema.items) ? (leaf.schema.items as JsonSchema) : undefined;
    const pattern = typeof leaf.schema.pattern === 'string' ? leaf.schema.pattern : type === 'list' && typeof itemsSchema?.pattern === 'string' ? (itemsSchema.pattern as string) : undefined;
    const msgHolder = type === 'list' && itemsSchema && !leaf.schema.pattern ? itemsSchema : leaf.schema;
    const patternMessage = isObj(msgHolder.message) && typeof msgHolder.message.pattern === 'string' ? (msgHolder.message.pattern as string) : undefined;
    const bounds = boundsOf(leaf.schema);
    if (type === 'list' && itemsSchema) {
      for (const [k, v] of Object.entries(boundsOf(itemsSchema))) if (!(k in bounds)) (bounds as Record<string, number>)[k] = v;
    }
    const help = o?.help ?? helpFor(leaf, kind.jsonReason);
    const widget = o?.widget ?? (typeof leaf.ui['ui:widget'] === 'string' ? (leaf.ui['ui:widget'] as string) : undefined);
    const placeholder = o?.placeholder ?? (typeof leaf.ui['ui:placeholder'] === 'string' ? (leaf.ui['ui:placeholder'] as string) : undefined);
    return {
      key: leaf.pointer,
      target: 'params',
      name: uniqueName(machineName(parsePointer(leaf.pointer))),
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
  };

  // Leaves that are never questions, whatever the overlay says.
  const autoDisposition = (leaf: LeafCandidate): 'sensitive' | 'const' | 'hidden' | undefined => {
    if (isSensitive(leaf.schema)) return 'sensitive';
    if ('const' in leaf.schema) return 'const';
    if (leaf.ui['ui:widget'] === 'hidden' && defaultOf(leaf.schema) !== undefined) return 'hidden';
    return undefined;
  };

  const listed = doc?.fields;
  if (listed) {
    const seen = new Map<string, number>();
    listed.forEach((o, i) => {
      const path: (string | number)[] = ['fields', i];
      if (o.request) {
        const key = `request:${o.request}`;
        if (seen.has(key)) return oIssue([...path, 'request'], `request field "${o.request}" is listed twice (first at fields[${seen.get(key)}])`);
        seen.set(key, i);
        const source = o.options && !Array.isArray(o.options) ? (o.options as DynamicOptionSource) : undefined;
        fields.push({
          key: o.request,
          target: 'request',
          name: uniqueName(`request_${o.request}`),
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
        });
        return;
      }
      const ptr = o.param!;
      if (seen.has(ptr)) return oIssue([...path, 'param'], `param ${ptr} is listed twice (first at fields[${seen.get(ptr)}])`);
      seen.set(ptr, i);
      const leaf = leafByPointer.get(ptr);
      if (!leaf) {
        if (sectionIds.has(ptr)) return oIssue([...path, 'param'], `${ptr} is a group of params: list the params inside it instead`);
        return oIssue([...path, 'param'], `unknown param ${ptr}: bundle ${bundle.name} has no such property${suggest(ptr, knownPointers)}`);
      }
      if (isFixed(ptr)) return oIssue([...path, 'param'], `param ${ptr} is both asked and fixed: choose one`);
      const auto = autoDisposition(leaf);
      if (auto === 'sensitive') return oIssue([...path, 'param'], `param ${ptr} is sensitive and can never be asked in a ticket: fix it or leave it out`);
      const f = leafField(leaf, o, path);
      if (f) {
        fields.push(f);
        asked.add(ptr);
      }
    });
  }

  const others = doc?.others ?? (listed ? 'omit' : 'ask');
  for (const leaf of reading.leaves) {
    if (asked.has(leaf.pointer) || isFixed(leaf.pointer)) continue;
    const auto = autoDisposition(leaf);
    if (auto === 'const') {
      fixed.push({ pointer: leaf.pointer, value: leaf.schema.const as Json, immutable: leaf.schema['$md.immutable'] === true });
      continue;
    }
    if (auto === 'sensitive' || auto === 'hidden') {
      const def = defaultOf(leaf.schema);
      omitted.push({ pointer: leaf.pointer, reason: auto === 'hidden' ? 'overlay' : 'sensitive', ...(def !== undefined ? { default: def } : {}) });
      if (auto === 'sensitive' && leaf.required && def === undefined && !leaf.condition)
        problems.push({ pointer: leaf.pointer, field: String(leaf.schema.title ?? humanize(leaf.key)), message: 'is sensitive and required: a ticket cannot ask for it, so it must be fixed by an overlay or supplied outside the ticket' });
      continue;
    }
    if (others === 'ask') {
      const f = leafField(leaf, undefined, undefined);
      if (f) {
        fields.push(f);
        asked.add(leaf.pointer);
      }
      continue;
    }
    const def = defaultOf(leaf.schema);
    omitted.push({ pointer: leaf.pointer, reason: 'overlay', ...(def !== undefined ? { default: def } : {}) });
    if (def !== undefined) continue;
    const fieldsPath = doc?.fields ? ['fields'] : ['bundle'];
    if (leaf.required && !leaf.condition && sectionRequired(reading.sections, leaf.section)) {
      oIssue(fieldsPath, `required param ${leaf.pointer} is neither asked nor fixed and has no default: add it to fields or fixed`);
    } else if (leaf.condition?.requiredThen && asked.has(leaf.condition.pointer)) {
      oIssue(fieldsPath, `param ${leaf.pointer} is required when ${leaf.condition.label} is answered a certain way, but it is neither asked nor fixed and has no default: add it to fields or fixed`);
    }
  }

  // ---- overlay section titles
  const sectionsOverlay = doc?.sections ?? {};
  for (const id of Object.keys(sectionsOverlay)) {
    if (id !== '' && !sectionIds.has(id)) oIssue(['sections', id], `unknown section ${id}: not an object of the bundle params${suggest(id, [...sectionIds])}`);
  }

  // ---- presets from examples
  const presets: FormPreset[] = [];
  const examples = Array.isArray(params.examples) ? (params.examples as unknown[]) : [];
  const named = examples.filter((e): e is Record<string, Json> => isObj(e) && typeof e.__name === 'string');
  const wanted = doc?.presets;
  if (Array.isArray(wanted)) {
    wanted.forEach((n, i) => {
      if (!named.some((e) => e.__name === n)) oIssue(['presets', i], `unknown preset "${n}": the bundle examples are ${named.map((e) => JSON.stringify(e.__name)).join(', ') || 'none'}`);
    });
  }
  if (wanted !== false && named.length > 0) {
    const fieldPointers = new Set(fields.filter((f) => f.target === 'params').map((f) => f.key));
    for (const e of named) {
      if (Array.isArray(wanted) && !wanted.includes(String(e.__name))) continue;
      const values: Record<string, Json> = {};
      const walk = (v: unknown, ptr: string) => {
        if (fieldPointers.has(ptr)) values[ptr] = v as Json;
        else if (isObj(v)) for (const [k, x] of Object.entries(v)) if (!(ptr === '' && k === '__name')) walk(x, childPointer(ptr, k));
      };
      walk(e, '');
      presets.push({ name: String(e.__name), values });
    }
  }

  if (issues.length > 0) throw new OverlayError(file ?? `forms/${bundle.name}.yaml`, issues);

  // ---- order and sections
  const title = doc?.title ?? (typeof params.title === 'string' ? params.title : humanize(bundle.name));
  const usedSections = new Set(fields.map((f) => f.section));
  const sections: FormSection[] = [];
  const rootTitle = sectionsOverlay['']?.title ?? title;
  if (usedSections.has('')) sections.push({ id: '', title: rootTitle, order: 0 });
  for (const s of reading.sections) {
    if (!usedSections.has(s.id)) continue;
    const o = sectionsOverlay[s.id];
    const description = o?.description ?? s.description;
    sections.push({ id: s.id, title: o?.title ?? s.title, ...(description ? { description } : {}), order: 0 });
  }
  if (presets.length > 0) {
    fields.unshift({
      key: 'preset',
      target: 'preset',
      name: uniqueName('preset'),
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
    });
    if (!sections.some((s) => s.id === '')) sections.unshift({ id: '', title: rootTitle, order: 0 });
  }
  // Without an overlay order, questions are grouped by section in reading order; with one, the
  // overlay's order stands and sections follow their first question.
  if (!listed) {
    const rank = new Map(sections.map((s, i) => [s.id, i]));
    fields.sort((a, b) => (rank.get(a.section) ?? 0) - (rank.get(b.section) ?? 0));
  } else {
    const firstSeen = new Map<string, number>();
    fields.forEach((f, i) => (firstSeen.has(f.section) ? undefined : firstSeen.set(f.section, i)));
    sections.sort((a, b) => (firstSeen.get(a.id) ?? 0) - (firstSeen.get(b.id) ?? 0));
  }
  fields.forEach((f, i) => (f.order = (i + 1) * 10));
  sections.forEach((s, i) => (s.order = (i + 1) * 10));

  const description = doc?.description ?? bundle.description;
  return {
    bundle: bundle.name,
    version: bundle.version,
    title,
    ...(description ? { description } : {}),
    sections,
    fields,
    fixed,
    omitted,
    presets,
    paramsSchema: params,
    problems,
    ...(file ? { overlayFile: file } : {}),
  };
}

function sectionRequired(sections: { id: string; required: boolean }[], id: string): boolean {
  if (id === '') return true;
  return sections.find((s) => s.id === id)?.required ?? true;
}

function findSectionSchema(params: JsonSchema, ptr: string): JsonSchema | undefined {
  let cur: unknown = params;
  for (const seg of parsePointer(ptr)) {
    if (!isObj(cur) || !isObj(cur.properties)) return undefined;
    cur = cur.properties[seg];
  }
  return isObj(cur) ? cur : undefined;
}

/** Fills a `connection-enum` overlay source from the param's `$md.enum` when the overlay left parts out. */
function completeSource(src: DynamicOptionSource, schema: JsonSchema): DynamicOptionSource | undefined {
  if (src.source !== 'connection-enum') return src;
  const md = connectionEnum(schema);
  const merged = { ...(md ?? {}), ...Object.fromEntries(Object.entries(src).filter(([, v]) => v !== undefined)) } as Record<string, string>;
  if (!merged.connection || !merged.options || !merged.value) return undefined;
  return merged as unknown as DynamicOptionSource;
}
