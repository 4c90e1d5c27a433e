/**
 * ServiceNow variable values -> answers -> typed params. Every ServiceNow value is a string:
 * "true"/"false" for checkboxes, "50" for numbers, the choice value for select boxes,
 * comma-separated values (or question_choice sys_ids) for list collectors, "YYYY-MM-DD HH:mm:ss"
 * in UTC for date/time (as the Table API stores it; a value without a zone reads as UTC). The
 * Table API may also hand `{ value, display_value }` pairs. This module unwraps those; the forms
 * room types and validates. The way back ({@link toServiceNowValue}) converts offsets to UTC.
 */
import type { Json } from '../../engine/model.ts';
import type { Form, FormField, SubmitResult } from '../../forms/model.ts';
import { FormValues, type Answer, type Answers, type MapOptions } from '../../forms/values.ts';
import { serviceNowString } from './form-renderer.ts';

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Options of {@link serviceNowValuesToParams}. */
export interface ServiceNowValuesOptions extends MapOptions {
  /** question_choice sys_id -> choice value, as remembered by the sync (list collectors submit sys_ids). */
  choiceIds?: Record<string, string>;
}

/** Unwraps one ServiceNow value for one question. */
export function serviceNowAnswer(field: FormField, raw: unknown, choiceIds: Record<string, string> = {}): Answer {
  let v = raw;
  if (isObj(v) && 'value' in v) v = v.value;
  if (v === null || v === undefined) return undefined;
  if (typeof v !== 'string') return v as Answer;
  if (field.type === 'multiselect') {
    return v
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '')
      .map((s) => choiceIds[s] ?? s);
  }
  if (field.type === 'select') return choiceIds[v] ?? v;
  return v;
}

/** ServiceNow variables (name -> value) -> answers keyed by form field name. Unknown variables are ignored. */
export function serviceNowAnswers(form: Form, variables: Record<string, unknown>, choiceIds: Record<string, string> = {}): Answers {
  const out: Answers = {};
  for (const f of form.fields) if (f.name in variables) out[f.name] = serviceNowAnswer(f, variables[f.name], choiceIds);
  return out;
}

/** ServiceNow variables -> typed params, or issues labelled with the questions' names. */
export function serviceNowValuesToParams(
  form: Form,
  variables: Record<string, unknown>,
  opts: ServiceNowValuesOptions = {},
  values = new FormValues(form),
): SubmitResult {
  return values.map(serviceNowAnswers(form, variables, opts.choiceIds), opts);
}

/** A typed param value as the string ServiceNow stores for the question (day-2 pre-fill). */
export function toServiceNowValue(field: FormField, value: Json): string {
  return serviceNowString(field, value);
}
