/**
 * Jira issue field values -> answers -> typed params. Jira hands over option objects
 * (`{ value }` or `{ id, value }`, arrays of them for multi-selects), numbers as floats,
 * dates as strings, and long text either plain (REST v2, webhooks) or as an ADF document
 * (REST v3). This module unwraps those shapes; the forms room does the typing and validation.
 */
import type { Json } from '../../engine/model.ts';
import type { Form, FormField, SubmitResult } from '../../forms/model.ts';
import { FormValues, type Answer, type Answers, type MapOptions } from '../../forms/values.ts';
import { jiraKind, jiraOptions } from './form-renderer.ts';

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Plain text of an ADF node: paragraphs and block nodes end lines, hard breaks break them. */
export function adfToText(node: unknown): string {
  if (!isObj(node)) return '';
  if (node.type === 'text' && typeof node.text === 'string') return node.text;
  if (node.type === 'hardBreak') return '\n';
  const inner = Array.isArray(node.content) ? node.content.map(adfToText).join('') : '';
  const block = ['paragraph', 'heading', 'codeBlock', 'blockquote', 'listItem', 'rule'].includes(String(node.type));
  if (node.type === 'doc') return inner.replace(/\n+$/, '');
  return block ? `${inner}\n` : inner;
}

function isAdf(v: unknown): boolean {
  return isObj(v) && v.type === 'doc' && Array.isArray(v.content);
}

/** Unwraps one Jira value for one question. */
export function jiraAnswer(field: FormField, raw: unknown): Answer {
  if (raw === null || raw === undefined) return undefined;
  const kind = jiraKind(field);
  const options = jiraOptions(field);
  const optionValue = (v: unknown): Answer => {
    const text = isObj(v) ? (typeof v.value === 'string' ? v.value : typeof v.name === 'string' ? v.name : undefined) : typeof v === 'string' ? v : undefined;
    if (text === undefined) return isObj(v) ? undefined : (v as Answer);
    // Jira submits the option text; it stands for the param value the renderer paired it with.
    const o = options.find((x) => x.value === text);
    return o ? (o.paramValue as Answer) : text;
  };
  if (isAdf(raw)) return adfToText(raw);
  if (field.type === 'json') return raw as Answer;
  if (Array.isArray(raw)) return raw.map(optionValue) as Answer;
  if (kind === 'select' || kind === 'radiobuttons' || kind === 'multiselect' || kind === 'multicheckboxes') return optionValue(raw);
  if (isObj(raw)) return typeof raw.value === 'string' ? raw.value : (raw as Answer);
  return raw as Answer;
}

/** Options of {@link jiraValuesToParams}. */
export interface JiraValuesOptions extends MapOptions {
  /**
   * Jira field id (`customfield_10042`) or spec key (`<bundle>.<name>`) -> form field name, as
   * remembered by the sync. Keys already equal to form field names need no entry.
   */
  fieldIds?: Record<string, string>;
}

/** Jira issue `fields` -> answers keyed by form field name. Unknown keys (summary, project...) are ignored. */
export function jiraAnswers(form: Form, fields: Record<string, unknown>, fieldIds: Record<string, string> = {}): Answers {
  const byName = new Map(form.fields.map((f) => [f.name, f]));
  const out: Answers = {};
  for (const [k, v] of Object.entries(fields)) {
    const name = fieldIds[k] ?? (k.startsWith(`${form.bundle}.`) ? k.slice(form.bundle.length + 1) : k);
    const f = byName.get(name);
    if (f) out[name] = jiraAnswer(f, v);
  }
  return out;
}

/** Jira issue `fields` -> typed params, or issues labelled with the questions' names. */
export function jiraValuesToParams(form: Form, fields: Record<string, unknown>, opts: JiraValuesOptions = {}, values = new FormValues(form)): SubmitResult {
  return values.map(jiraAnswers(form, fields, opts.fieldIds), opts);
}

/**
 * A typed param value in the shape Jira accepts for the question (option objects for selects,
 * numbers, strings, text for lists and JSON): for pre-filling a day-2 ticket with current params.
 */
export function toJiraValue(field: FormField, value: Json): unknown {
  const options = jiraOptions(field);
  const opt = (v: Json) => {
    const o = options.find((x) => JSON.stringify(x.paramValue) === JSON.stringify(v));
    return o ? { value: o.value } : { value: String(v) };
  };
  switch (jiraKind(field)) {
    case 'select':
    case 'radiobuttons':
      return opt(value);
    case 'multiselect':
    case 'multicheckboxes':
      return (value as Json[]).map(opt);
    case 'float':
      return value;
    case 'labels':
      return (value as Json[]).map(String);
    case 'textarea':
      if (field.type === 'json') return JSON.stringify(value, null, 2);
      if (field.type === 'list') return (value as Json[]).map(String).join('\n');
      return String(value);
    default:
      return typeof value === 'string' ? value : JSON.stringify(value);
  }
}
