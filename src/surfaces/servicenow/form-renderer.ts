/**
 * Form -> ServiceNow: a catalog item, its variables (`item_option_new` rows with the platform's
 * type codes), `question_choice` rows for selects, containers for sections, and
 * `question_regex` rows (Variable Validation Regex) for patterns. Pure data out; the sync
 * (elsewhere) writes these through the Table API and remembers the sys_ids.
 */
import { DateTime } from 'luxon';
import type { Json } from '../../engine/model.ts';
import type { DynamicOptionSource, Form, FormField } from '../../forms/model.ts';
import { describeField } from '../../forms/describe.ts';
import { translatePattern } from '../../forms/regex.ts';

/**
 * `item_option_new.type` codes (the platform's choice list for the Type column). Only the codes
 * forms use are named; note container start/end are 19/20 (24 is container split, 25 masked).
 */
export const SN_VARIABLE_TYPES = {
  yesNo: 1,
  multiLineText: 2,
  multipleChoice: 3,
  selectBox: 5,
  singleLineText: 6,
  checkbox: 7,
  date: 9,
  dateTime: 10,
  containerStart: 19,
  containerEnd: 20,
  listCollector: 21,
  email: 26,
  url: 27,
} as const;

const TYPE_NAMES: Record<number, string> = {
  1: 'Yes / No',
  2: 'Multi Line Text',
  3: 'Multiple Choice',
  5: 'Select Box',
  6: 'Single Line Text',
  7: 'CheckBox',
  9: 'Date',
  10: 'Date/Time',
  19: 'Container Start',
  20: 'Container End',
  21: 'List Collector',
  26: 'Email',
  27: 'URL',
};

/** How the catalog item is rendered. */
export interface ServiceNowRenderOptions {
  /** Catalog (`sc_catalog` sys_id or title) the item is published in. */
  catalog?: string;
  /** Category (`sc_category` sys_id or title). */
  category?: string;
  /** `update` renders immutable questions read-only (for a day-2 item); `create` (default) does not. */
  mode?: 'create' | 'update';
}

/** The `sc_cat_item` record. */
export interface ServiceNowItemRecord {
  name: string;
  short_description: string;
  description: string;
  active: boolean;
  sc_catalogs?: string;
  category?: string;
}

/** The `item_option_new` record (columns as the Table API names them). */
export interface ServiceNowVariableRecord {
  name: string;
  question_text: string;
  type: number;
  order: number;
  mandatory: boolean;
  read_only: boolean;
  active: boolean;
  help_text: string;
  show_help: boolean;
  tooltip: string;
  default_value: string;
  /** Name of the question_regex record, linked once both exist. */
  validate_regex?: string;
  /** Variable attributes (`max_length=63`). */
  attributes?: string;
  /** For list collectors: the table choices are read from, and which rows. */
  list_table?: string;
  reference_qual?: string;
  /** Container start: show the section title. */
  display_title?: boolean;
}

/** One variable with what the sync needs beside the record. */
export interface ServiceNowVariableSpec {
  /** {@link FormField.name} of the question; absent for container start/end rows. */
  formField?: string;
  /** Section id for containers. */
  section?: string;
  typeName: string;
  record: ServiceNowVariableRecord;
  dynamic?: DynamicOptionSource;
}

/** A `question_choice` row (`question` names the variable until its sys_id is known). */
export interface ServiceNowChoiceRecord {
  question: string;
  text: string;
  value: string;
  order: number;
  inactive: boolean;
}

/** A `question_regex` row (Variable Validation Regex). */
export interface ServiceNowRegexRecord {
  name: string;
  regex: string;
  validation_message: string;
  flags: string;
  active: boolean;
}

/** The ServiceNow rendering of a form. */
export interface ServiceNowCatalogSpec {
  bundle: string;
  version: string;
  item: ServiceNowItemRecord;
  variables: ServiceNowVariableSpec[];
  choices: ServiceNowChoiceRecord[];
  regexes: ServiceNowRegexRecord[];
}

/** Which variable type a question becomes. */
export function serviceNowType(field: FormField): number {
  const T = SN_VARIABLE_TYPES;
  switch (field.type) {
    case 'text':
    case 'integer':
    case 'number':
      return T.singleLineText;
    case 'textarea':
    case 'json':
    case 'list':
      return T.multiLineText;
    case 'boolean':
      return T.checkbox;
    case 'select':
      return field.widget === 'radio' ? T.multipleChoice : T.selectBox;
    case 'multiselect':
      return T.listCollector;
    case 'date':
      return T.date;
    case 'datetime':
      return T.dateTime;
    case 'email':
      return T.email;
    case 'url':
      return T.url;
  }
}

/** How a param value is written as a ServiceNow variable value (everything is a string there). */
export function serviceNowString(field: FormField, value: Json | undefined): string {
  if (value === undefined || value === null) return '';
  if (field.type === 'json') return JSON.stringify(value, null, 2);
  if (field.type === 'list') return (value as Json[]).map(String).join('\n');
  if (field.type === 'multiselect') return (value as Json[]).map(String).join(',');
  if (field.type === 'datetime' && typeof value === 'string') return glideDateTimeOf(value);
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/**
 * A date-time answer as the Table API stores a date/time: `YYYY-MM-DD HH:mm:ss` in UTC (people
 * see it in their own time zone). An offset is converted, not dropped: 2026-12-05T10:00:00+01:00
 * is 2026-12-05 09:00:00. No zone means UTC; text that is no date-time is passed on as it is.
 */
export function glideDateTimeOf(value: string): string {
  const t = DateTime.fromISO(value.trim().replace(/^(\d{4}-\d\d-\d\d) /, '$1T'), { zone: 'utc', setZone: true });
  return t.isValid ? t.toUTC().toFormat('yyyy-MM-dd HH:mm:ss') : value;
}

/**
 * A list collector's qualifier over `question_choice`: the choices of its own variable (by
 * sys_id, `{sys_id}` until the sync knows it), never by a variable name other items share.
 */
export function listCollectorQualifier(variableSysId = '{sys_id}'): string {
  return `question=${variableSysId}^inactive=false`;
}

/**
 * The validation regex for a question: the schema pattern (POSIX classes translated) or, for
 * numbers, a number shape. Unanchored schema patterns stay unanchored in meaning whether the
 * platform searches or matches the whole value.
 */
export function serviceNowRegex(field: FormField): { regex: string; message: string } | undefined {
  if (field.type === 'integer') return { regex: '^[-+]?\\d+$', message: 'Must be a whole number.' };
  if (field.type === 'number') return { regex: '^[-+]?(\\d+\\.?\\d*|\\.\\d+)([eE][-+]?\\d+)?$', message: 'Must be a number.' };
  if (!field.pattern || (field.type !== 'text' && field.type !== 'textarea' && field.type !== 'email' && field.type !== 'url')) return undefined;
  let p = translatePattern(field.pattern);
  if (!p.startsWith('^')) p = `^.*(?:${p})`;
  if (!p.endsWith('$') || p.endsWith('\\$')) p = `${p}.*$`;
  return { regex: p, message: field.patternMessage ?? `Must match the pattern ${field.pattern}` };
}

/** Renders a form as a ServiceNow catalog item with variables, choices and regexes. */
export function renderServiceNowForm(form: Form, opts: ServiceNowRenderOptions = {}): ServiceNowCatalogSpec {
  const variables: ServiceNowVariableSpec[] = [];
  const choices: ServiceNowChoiceRecord[] = [];
  const regexes: ServiceNowRegexRecord[] = [];
  const sectionById = new Map(form.sections.map((s) => [s.id, s]));
  let order = 0;
  const next = () => (order += 100);
  let open: string | undefined;
  const close = () => {
    if (open === undefined) return;
    variables.push({
      section: open,
      typeName: TYPE_NAMES[20],
      record: { ...blank(`${containerName(form, open)}_end`, ''), type: SN_VARIABLE_TYPES.containerEnd, order: next() },
    });
    open = undefined;
  };

  // Fields are grouped by section so each container holds its own questions, in form order.
  const sectionOrder = form.sections.map((s) => s.id);
  const grouped = [...form.fields].sort((a, b) => sectionOrder.indexOf(a.section) - sectionOrder.indexOf(b.section) || a.order - b.order);
  for (const f of grouped) {
    if (f.section !== open) {
      close();
      // Top-level questions sit in a container only when there are other sections to tell apart.
      if (f.section !== '' || form.sections.length > 1) {
        open = f.section;
        variables.push(containerStart(form, f.section, sectionById.get(f.section), next()));
      }
    }
    const rx = serviceNowRegex(f);
    const regexName = rx ? `${form.bundle}.${f.name}` : undefined;
    if (rx) regexes.push({ name: regexName!, regex: rx.regex, validation_message: rx.message, flags: '', active: true });
    const question = questionVariable(f, next(), opts, regexName);
    variables.push(question);
    choices.push(...questionChoices(f, question.record.type));
  }
  close();
  return { bundle: form.bundle, version: form.version, item: catalogItem(form, opts), variables, choices, regexes };
}

/** Name of a section's container variables (`<bundle>__<section>`, `general` for the top level). */
function containerName(form: Form, sectionId: string): string {
  const section = sectionId === '' ? 'general' : sectionId.slice(1).replace(/[^a-z0-9]+/gi, '_').toLowerCase();
  return `${form.bundle.replace(/[^a-z0-9]+/gi, '_').toLowerCase()}__${section}`;
}

/** The container start of a section: its title, and its description as help. */
function containerStart(form: Form, sectionId: string, section: Form['sections'][number] | undefined, order: number): ServiceNowVariableSpec {
  return {
    section: sectionId,
    typeName: TYPE_NAMES[19],
    record: {
      ...blank(`${containerName(form, sectionId)}_start`, section?.title ?? form.title),
      type: SN_VARIABLE_TYPES.containerStart,
      order,
      help_text: section?.description ?? '',
      show_help: Boolean(section?.description),
      display_title: true,
    },
  };
}

/** The variable asking field `f`. */
function questionVariable(f: FormField, order: number, opts: ServiceNowRenderOptions, regexName: string | undefined): ServiceNowVariableSpec {
  const type = serviceNowType(f);
  const attributes = typeof f.bounds.maxLength === 'number' && (type === 6 || type === 2) ? `max_length=${f.bounds.maxLength}` : undefined;
  const help = describeField(f);
  return {
    formField: f.name,
    typeName: TYPE_NAMES[type],
    ...(f.source ? { dynamic: f.source } : {}),
    record: {
      name: f.name,
      question_text: f.label,
      type,
      order,
      // A checkbox always has a value (unchecked is false), and the platform cannot make it mandatory.
      mandatory: type === SN_VARIABLE_TYPES.checkbox ? false : f.required,
      read_only: opts.mode === 'update' && f.immutable,
      active: true,
      help_text: help,
      show_help: help !== '',
      tooltip: (f.help ?? '').slice(0, 255),
      default_value: serviceNowString(f, f.type === 'boolean' ? (f.default ?? false) : f.default),
      ...(regexName ? { validate_regex: regexName } : {}),
      ...(attributes ? { attributes } : {}),
      ...(type === SN_VARIABLE_TYPES.listCollector ? { list_table: 'question_choice', reference_qual: listCollectorQualifier() } : {}),
    },
  };
}

/** The `question_choice` rows of a select, multiple choice or list collector question. */
function questionChoices(f: FormField, type: number): ServiceNowChoiceRecord[] {
  if (type !== SN_VARIABLE_TYPES.selectBox && type !== SN_VARIABLE_TYPES.multipleChoice && type !== SN_VARIABLE_TYPES.listCollector) return [];
  return (f.options ?? []).map((o, i) => ({ question: f.name, text: o.label, value: typeof o.value === 'string' ? o.value : JSON.stringify(o.value), order: (i + 1) * 100, inactive: false }));
}

/** The `sc_cat_item` record of a form. */
function catalogItem(form: Form, opts: ServiceNowRenderOptions): ServiceNowItemRecord {
  return {
    name: form.title,
    short_description: (form.description ?? form.title).split(/(?<=\.)\s/)[0].slice(0, 160),
    description: form.description ?? '',
    active: true,
    ...(opts.catalog ? { sc_catalogs: opts.catalog } : {}),
    ...(opts.category ? { category: opts.category } : {}),
  };
}

function blank(name: string, question: string): ServiceNowVariableRecord {
  return { name, question_text: question, type: 0, order: 0, mandatory: false, read_only: false, active: true, help_text: '', show_help: false, tooltip: '', default_value: '' };
}

/** A plain-text view of a ServiceNow rendering, for `form render --format text`. */
export function renderServiceNowText(spec: ServiceNowCatalogSpec): string {
  const lines: string[] = [`ServiceNow catalog item for ${spec.bundle} ${spec.version}: ${spec.item.name}`];
  if (spec.item.short_description) lines.push(spec.item.short_description);
  const choicesOf = (name: string) => spec.choices.filter((c) => c.question === name);
  const regexOf = new Map(spec.regexes.map((r) => [r.name, r]));
  let indent = '';
  lines.push('');
  for (const v of spec.variables) {
    const r = v.record;
    if (r.type === SN_VARIABLE_TYPES.containerStart) {
      lines.push(`${r.order}  [${r.question_text}]  (container)`);
      indent = '  ';
      continue;
    }
    if (r.type === SN_VARIABLE_TYPES.containerEnd) {
      indent = '';
      continue;
    }
    const flags = [r.mandatory ? 'mandatory' : '', r.read_only ? 'read-only' : ''].filter(Boolean).join(', ');
    lines.push(`${indent}${r.order}  ${r.question_text}  (${r.name}: ${r.type} ${v.typeName}${flags ? `, ${flags}` : ''})`);
    const cs = choicesOf(r.name);
    if (cs.length) lines.push(`${indent}     choices: ${cs.map((c) => (c.text === c.value ? c.text : `${c.text}=${c.value}`)).join(' | ')}`);
    if (v.dynamic) lines.push(`${indent}     choices from: ${Object.entries(v.dynamic).map(([k, x]) => `${k}=${x}`).join(', ')}`);
    if (r.validate_regex) lines.push(`${indent}     regex: ${regexOf.get(r.validate_regex)?.regex}`);
    if (r.default_value) lines.push(`${indent}     default: ${r.default_value.replace(/\n/g, ' ')}`);
    if (r.help_text) lines.push(`${indent}     ${r.help_text}`);
  }
  return lines.join('\n');
}
