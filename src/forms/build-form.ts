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
import type { Overlay, OverlayDoc, OverlayField } from './overlay.ts';
import { displayPath } from './overlay.ts';
import type { FixedValue, Form, FormField, FormPreset, FormSection, OmittedParam } from './model.ts';
import { defaultOf, paramQuestion, presetQuestion, requestQuestion, type OverlayPath, type QuestionContext } from './questions.ts';
import { humanize, isSensitive, readSchema, type LeafCandidate, type SchemaReading } from './schema-fields.ts';

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

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

/** One form being built: the bundle's params read as questions, the overlay, and the overlay mistakes found so far. */
interface FormBuild extends QuestionContext {
  bundle: Bundle;
  params: JsonSchema;
  reading: SchemaReading;
  doc: OverlayDoc | undefined;
  leafByPointer: Map<string, LeafCandidate>;
  sectionIds: Set<string>;
  /** Param and section pointers, for "did you mean" suggestions. */
  knownPointers: string[];
  issues: FieldIssue[];
}

/** What becomes of the params so far: questions, fixed values, omitted params, and the bundle's own problems. */
interface Dispositions {
  fields: FormField[];
  /** Pointers of the params asked. */
  asked: Set<string>;
  fixed: FixedValue[];
  /** True when the pointer is fixed by the overlay, or lies within a fixed object. */
  isFixed(pointer: string): boolean;
  omitted: OmittedParam[];
  problems: FieldIssue[];
}

/**
 * Builds the form for a bundle. Without an overlay every param is asked (sensitive params are
 * never asked; single-`const` params are fixed). Throws {@link OverlayError} when the overlay does
 * not fit the bundle.
 */
export function buildForm(bundle: Bundle, overlay?: Overlay): Form {
  const b = startFormBuild(bundle, overlay);
  const d = applyFixedValues(b);
  if (b.doc?.fields) askListedFields(b, b.doc.fields, d);
  settleUnlistedParams(b, d);
  checkSectionOverlays(b);
  const presets = presetsFromExamples(b, d.fields);
  if (b.issues.length > 0) throw new OverlayError(overlay?.file ?? `forms/${bundle.name}.yaml`, b.issues);

  const params = b.params;
  const title = b.doc?.title ?? (typeof params.title === 'string' ? params.title : humanize(bundle.name));
  const sections = arrangeForm(b, d.fields, presets, title);
  const description = b.doc?.description ?? bundle.description;
  return {
    bundle: bundle.name,
    version: bundle.version,
    title,
    ...(description ? { description } : {}),
    sections,
    fields: d.fields,
    fixed: d.fixed,
    omitted: d.omitted,
    presets,
    paramsSchema: params,
    problems: d.problems,
    ...(overlay?.file ? { overlayFile: overlay.file } : {}),
  };
}

/** Reads the bundle's params as questions and sets up issue reporting, value checks and field names. */
function startFormBuild(bundle: Bundle, overlay: Overlay | undefined): FormBuild {
  const params = isObj(bundle.params) ? bundle.params : {};
  const reading = readSchema(params, isObj(bundle.ui) ? bundle.ui : {});
  const issues: FieldIssue[] = [];
  const file = overlay?.file;
  const report = (path: OverlayPath, message: string): void => {
    issues.push({ pointer: '', field: displayPath(path), message, ...(file ? { file } : {}), line: overlay?.lineOf(path) });
  };
  const leafByPointer = new Map(reading.leaves.map((l) => [l.pointer, l]));
  const sectionIds = new Set(reading.sections.map((s) => s.id));
  const usedNames = new Set<string>();
  const uniqueName = (base: string): string => {
    let n = base;
    for (let i = 2; usedNames.has(n); i++) n = `${base}_${i}`;
    usedNames.add(n);
    return n;
  };
  const doc = overlay?.doc;
  if (doc && doc.bundle !== bundle.name) report(['bundle'], `names bundle "${doc.bundle}" but is applied to bundle "${bundle.name}"`);
  return {
    bundle, params, reading, doc, leafByPointer, sectionIds, issues, report, uniqueName,
    knownPointers: [...leafByPointer.keys(), ...sectionIds],
    checkValue: valueChecker(),
  };
}

/** Checks a value against a param schema; only overlays have values to check, so the validator is made on first use. */
function valueChecker(): QuestionContext['checkValue'] {
  let ajv: ReturnType<typeof createAjv> | undefined;
  return (schema, value) => {
    try {
      ajv ??= createAjv();
      const v = ajv.compile(prepareSchema(schema) as JsonSchema);
      if (v(value)) return undefined;
      return (v.errors ?? []).map((e) => `${e.instancePath ? `${e.instancePath} ` : ''}${e.message}`).join('; ');
    } catch (err) {
      return `cannot be checked: ${(err as Error).message}`;
    }
  };
}

/** The overlay's `fixed:` values, each checked against the bundle. */
function applyFixedValues(b: FormBuild): Dispositions {
  const fixed: FixedValue[] = [];
  const fixedPointers = new Set<string>();
  for (const [ptr, value] of Object.entries(b.doc?.fixed ?? {})) {
    const leaf = b.leafByPointer.get(ptr);
    if (!leaf && !b.sectionIds.has(ptr)) {
      b.report(['fixed', ptr], `unknown param ${ptr}: bundle ${b.bundle.name} has no such property${suggest(ptr, b.knownPointers)}`);
      continue;
    }
    const schema = leaf ? leaf.schema : findSectionSchema(b.params, ptr);
    const bad = schema ? b.checkValue(schema, value) : undefined;
    if (bad) b.report(['fixed', ptr], `fixed value for ${ptr} is not allowed by the bundle: ${bad}`);
    fixed.push({ pointer: ptr, value, immutable: schema?.['$md.immutable'] === true });
    fixedPointers.add(ptr);
  }
  return {
    fields: [],
    asked: new Set(),
    fixed,
    isFixed: (ptr) => [...fixedPointers].some((f) => isWithin(ptr, f)),
    omitted: [],
    problems: [],
  };
}

/** Leaves that are never questions, whatever the overlay says. */
function autoDisposition(leaf: LeafCandidate): 'sensitive' | 'const' | 'hidden' | undefined {
  if (isSensitive(leaf.schema)) return 'sensitive';
  if ('const' in leaf.schema) return 'const';
  if (leaf.ui['ui:widget'] === 'hidden' && defaultOf(leaf.schema) !== undefined) return 'hidden';
  return undefined;
}

/** The overlay's `fields:` list, in its order: request questions and the params it asks. */
function askListedFields(b: FormBuild, listed: OverlayField[], d: Dispositions): void {
  const seen = new Map<string, number>();
  listed.forEach((o, i) => {
    const path: OverlayPath = ['fields', i];
    if (o.request) {
      const key = `request:${o.request}`;
      if (seen.has(key)) return b.report([...path, 'request'], `request field "${o.request}" is listed twice (first at fields[${seen.get(key)}])`);
      seen.set(key, i);
      d.fields.push(requestQuestion(b, { ...o, request: o.request }));
      return;
    }
    const ptr = o.param!;
    if (seen.has(ptr)) return b.report([...path, 'param'], `param ${ptr} is listed twice (first at fields[${seen.get(ptr)}])`);
    seen.set(ptr, i);
    const leaf = b.leafByPointer.get(ptr);
    if (!leaf) {
      if (b.sectionIds.has(ptr)) return b.report([...path, 'param'], `${ptr} is a group of params: list the params inside it instead`);
      return b.report([...path, 'param'], `unknown param ${ptr}: bundle ${b.bundle.name} has no such property${suggest(ptr, b.knownPointers)}`);
    }
    if (d.isFixed(ptr)) return b.report([...path, 'param'], `param ${ptr} is both asked and fixed: choose one`);
    if (autoDisposition(leaf) === 'sensitive') return b.report([...path, 'param'], `param ${ptr} is sensitive and can never be asked in a ticket: fix it or leave it out`);
    d.fields.push(paramQuestion(b, leaf, o, path));
    d.asked.add(ptr);
  });
}

/**
 * Every param the overlay neither asked nor fixed: a `const` is fixed, a sensitive or hidden one
 * omitted, the rest asked or omitted as the overlay's `others:` says. A required param left with
 * no way to get a value is an overlay mistake; a sensitive required one is a bundle problem.
 */
function settleUnlistedParams(b: FormBuild, d: Dispositions): void {
  const others = b.doc?.others ?? (b.doc?.fields ? 'omit' : 'ask');
  for (const leaf of b.reading.leaves) {
    if (d.asked.has(leaf.pointer) || d.isFixed(leaf.pointer)) continue;
    const auto = autoDisposition(leaf);
    if (auto === 'const') {
      d.fixed.push({ pointer: leaf.pointer, value: leaf.schema.const as Json, immutable: leaf.schema['$md.immutable'] === true });
      continue;
    }
    if (auto === 'sensitive' || auto === 'hidden') {
      const def = defaultOf(leaf.schema);
      d.omitted.push({ pointer: leaf.pointer, reason: auto === 'hidden' ? 'overlay' : 'sensitive', ...(def !== undefined ? { default: def } : {}) });
      if (auto === 'sensitive' && leaf.required && def === undefined && !leaf.condition)
        d.problems.push({ pointer: leaf.pointer, field: String(leaf.schema.title ?? humanize(leaf.key)), message: 'is sensitive and required: a ticket cannot ask for it, so it must be fixed by an overlay or supplied outside the ticket' });
      continue;
    }
    if (others === 'ask') {
      d.fields.push(paramQuestion(b, leaf));
      d.asked.add(leaf.pointer);
      continue;
    }
    const def = defaultOf(leaf.schema);
    d.omitted.push({ pointer: leaf.pointer, reason: 'overlay', ...(def !== undefined ? { default: def } : {}) });
    if (def === undefined) checkLeftOut(b, leaf, d.asked);
  }
}

/** A param left out with no default must not be one the bundle needs an answer for. */
function checkLeftOut(b: FormBuild, leaf: LeafCandidate, asked: Set<string>): void {
  const fieldsPath = b.doc?.fields ? ['fields'] : ['bundle'];
  if (leaf.required && !leaf.condition && sectionRequired(b.reading.sections, leaf.section)) {
    b.report(fieldsPath, `required param ${leaf.pointer} is neither asked nor fixed and has no default: add it to fields or fixed`);
  } else if (leaf.condition?.requiredThen && asked.has(leaf.condition.pointer)) {
    b.report(fieldsPath, `param ${leaf.pointer} is required when ${leaf.condition.label} is answered a certain way, but it is neither asked nor fixed and has no default: add it to fields or fixed`);
  }
}

/** The overlay's `sections:` must name sections of the bundle (or `''`, the top). */
function checkSectionOverlays(b: FormBuild): void {
  for (const id of Object.keys(b.doc?.sections ?? {})) {
    if (id !== '' && !b.sectionIds.has(id)) b.report(['sections', id], `unknown section ${id}: not an object of the bundle params${suggest(id, [...b.sectionIds])}`);
  }
}

/** Presets from the bundle's named `examples` (those the overlay's `presets:` picks), holding the answers of asked params. */
function presetsFromExamples(b: FormBuild, fields: FormField[]): FormPreset[] {
  const presets: FormPreset[] = [];
  const examples = Array.isArray(b.params.examples) ? (b.params.examples as unknown[]) : [];
  const named = examples.filter((e): e is Record<string, Json> => isObj(e) && typeof e.__name === 'string');
  const wanted = b.doc?.presets;
  if (Array.isArray(wanted)) {
    wanted.forEach((n, i) => {
      if (!named.some((e) => e.__name === n)) b.report(['presets', i], `unknown preset "${n}": the bundle examples are ${named.map((e) => JSON.stringify(e.__name)).join(', ') || 'none'}`);
    });
  }
  if (wanted === false || named.length === 0) return presets;
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
  return presets;
}

/**
 * The form's sections (those with questions, titled by the overlay), the preset question first,
 * and the order of both; `fields` is reordered in place. Returns the sections.
 */
function arrangeForm(b: FormBuild, fields: FormField[], presets: FormPreset[], title: string): FormSection[] {
  const sectionsOverlay = b.doc?.sections ?? {};
  const usedSections = new Set(fields.map((f) => f.section));
  const sections: FormSection[] = [];
  const rootTitle = sectionsOverlay['']?.title ?? title;
  if (usedSections.has('')) sections.push({ id: '', title: rootTitle, order: 0 });
  for (const s of b.reading.sections) {
    if (!usedSections.has(s.id)) continue;
    const o = sectionsOverlay[s.id];
    const description = o?.description ?? s.description;
    sections.push({ id: s.id, title: o?.title ?? s.title, ...(description ? { description } : {}), order: 0 });
  }
  if (presets.length > 0) {
    fields.unshift(presetQuestion(b, presets));
    if (!sections.some((s) => s.id === '')) sections.unshift({ id: '', title: rootTitle, order: 0 });
  }
  // Without an overlay order, questions are grouped by section in reading order; with one, the
  // overlay's order stands and sections follow their first question.
  if (!b.doc?.fields) {
    const rank = new Map(sections.map((s, i) => [s.id, i]));
    fields.sort((x, y) => (rank.get(x.section) ?? 0) - (rank.get(y.section) ?? 0));
  } else {
    const firstSeen = new Map<string, number>();
    fields.forEach((f, i) => (firstSeen.has(f.section) ? undefined : firstSeen.set(f.section, i)));
    sections.sort((x, y) => (firstSeen.get(x.id) ?? 0) - (firstSeen.get(y.id) ?? 0));
  }
  fields.forEach((f, i) => (f.order = (i + 1) * 10));
  sections.forEach((s, i) => (s.order = (i + 1) * 10));
  return sections;
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
