/**
 * Form -> Jira: one custom field per question (type and searcher key, options, description),
 * a field context scoped to the project and issue type, screen tabs for sections, and the
 * Jira Service Management request-type field view. Pure data out; the sync (elsewhere) turns
 * this into REST calls and remembers the customfield ids.
 */
import type { Json } from '../../engine/model.ts';
import type { DynamicOptionSource, FieldOption, Form, FormField } from '../../forms/model.ts';
import { describeField } from '../../forms/describe.ts';

const CF = 'com.atlassian.jira.plugin.system.customfieldtypes:';

/** Jira's built-in custom field types used by forms, with their searcher (per the platform API). */
export const JIRA_FIELD_TYPES = {
  textfield: { type: `${CF}textfield`, searcherKey: `${CF}textsearcher` },
  textarea: { type: `${CF}textarea`, searcherKey: `${CF}textsearcher` },
  float: { type: `${CF}float`, searcherKey: `${CF}exactnumber` },
  select: { type: `${CF}select`, searcherKey: `${CF}multiselectsearcher` },
  radiobuttons: { type: `${CF}radiobuttons`, searcherKey: `${CF}multiselectsearcher` },
  multiselect: { type: `${CF}multiselect`, searcherKey: `${CF}multiselectsearcher` },
  multicheckboxes: { type: `${CF}multicheckboxes`, searcherKey: `${CF}multiselectsearcher` },
  datepicker: { type: `${CF}datepicker`, searcherKey: `${CF}daterange` },
  datetime: { type: `${CF}datetime`, searcherKey: `${CF}datetimerange` },
  url: { type: `${CF}url`, searcherKey: `${CF}exacttextsearcher` },
  labels: { type: `${CF}labels`, searcherKey: `${CF}labelsearcher` },
} as const;

/** Short name of a Jira field type used by forms. */
export type JiraFieldKind = keyof typeof JIRA_FIELD_TYPES;

/** Where the rendered fields live. Ids are Jira's (numeric strings); absent means "not scoped yet". */
export interface JiraRenderOptions {
  projectId?: string;
  issueTypeId?: string;
  /** Name of the JSM request type, when the project is a service desk. Defaults to the form title. */
  requestTypeName?: string;
}

/** One option as Jira stores it: `value` is the text Jira shows and submits; `paramValue` what it means. */
export interface JiraOptionSpec {
  value: string;
  paramValue: Json;
  disabled: boolean;
}

/** The body of POST /rest/api/3/field (CustomFieldDefinitionJsonBean). */
export interface JiraCreateFieldBody {
  name: string;
  description: string;
  type: string;
  searcherKey: string;
}

/** The body of POST /rest/api/3/field/{id}/context (CreateCustomFieldContext). */
export interface JiraContextBody {
  name: string;
  description: string;
  projectIds: string[];
  issueTypeIds: string[];
}

/** JSM's view of a request-type field (RequestTypeFieldDTO), `fieldId` being the form key until synced. */
export interface JsmRequestTypeField {
  fieldId: string;
  name: string;
  description: string;
  required: boolean;
  visible: boolean;
  validValues: { value: string; label: string; children: [] }[];
  defaultValues: { value: string; label: string; children: [] }[];
  jiraSchema: { type: string; custom: string; items?: string };
}

/** Everything the sync needs to create or update one custom field. */
export interface JiraFieldSpec {
  /** Stable identity for the sync: `<bundle>.<form field name>`. */
  key: string;
  /** {@link FormField.name} of the question. */
  formField: string;
  kind: JiraFieldKind;
  create: JiraCreateFieldBody;
  context: JiraContextBody;
  /** Options of select-like fields, in order. Empty for dynamic fields until their source is resolved. */
  options?: JiraOptionSpec[];
  /** Where dynamic options come from (re-synced when the source changes). */
  dynamic?: DynamicOptionSource;
  /** Default in the shape Jira submits (option text, number, string). */
  defaultValue?: unknown;
  required: boolean;
  /** Screen tab (section title). */
  tab: string;
  jsm: JsmRequestTypeField;
}

/** A screen: tabs in order, each listing field keys in order. */
export interface JiraScreenSpec {
  name: string;
  tabs: { name: string; fields: string[] }[];
}

/** The Jira rendering of a form. */
export interface JiraFormSpec {
  bundle: string;
  version: string;
  title: string;
  description?: string;
  fields: JiraFieldSpec[];
  screen: JiraScreenSpec;
  requestType: { name: string; description: string; fields: JsmRequestTypeField[] };
}

/** Jira option texts must be unique and at most 255 characters: duplicates get their value appended. */
export function jiraOptions(field: FormField): JiraOptionSpec[] {
  if (field.type === 'boolean') {
    return [
      { value: 'Yes', paramValue: true, disabled: false },
      { value: 'No', paramValue: false, disabled: false },
    ];
  }
  const opts: FieldOption[] = field.options ?? [];
  const count = new Map<string, number>();
  for (const o of opts) count.set(o.label, (count.get(o.label) ?? 0) + 1);
  const used = new Set<string>();
  return opts.map((o) => {
    let text = (count.get(o.label)! > 1 ? `${o.label} (${typeof o.value === 'string' ? o.value : JSON.stringify(o.value)})` : o.label).slice(0, 255);
    for (let i = 2; used.has(text); i++) text = `${text.slice(0, 250)} #${i}`;
    used.add(text);
    return { value: text, paramValue: o.value, disabled: false };
  });
}

/** Which Jira field type a question becomes. */
export function jiraKind(field: FormField): JiraFieldKind {
  switch (field.type) {
    case 'text':
    case 'email':
      return 'textfield';
    case 'textarea':
    case 'json':
      return 'textarea';
    case 'list':
      return field.widget === 'labels' ? 'labels' : 'textarea';
    case 'number':
    case 'integer':
      return 'float';
    case 'boolean':
      return 'radiobuttons';
    case 'select':
      return field.widget === 'radio' ? 'radiobuttons' : 'select';
    case 'multiselect':
      return field.widget === 'checkboxes' ? 'multicheckboxes' : 'multiselect';
    case 'date':
      return 'datepicker';
    case 'datetime':
      return 'datetime';
    case 'url':
      return 'url';
  }
}

const JIRA_SCHEMA_TYPE: Record<JiraFieldKind, { type: string; items?: string }> = {
  textfield: { type: 'string' },
  textarea: { type: 'string' },
  float: { type: 'number' },
  select: { type: 'option' },
  radiobuttons: { type: 'option' },
  multiselect: { type: 'array', items: 'option' },
  multicheckboxes: { type: 'array', items: 'option' },
  datepicker: { type: 'date' },
  datetime: { type: 'datetime' },
  url: { type: 'string' },
  labels: { type: 'array', items: 'string' },
};

function jiraDefault(field: FormField, options: JiraOptionSpec[] | undefined): unknown {
  const d = field.default;
  if (d === undefined || d === null) return undefined;
  const text = (v: Json) => options?.find((o) => JSON.stringify(o.paramValue) === JSON.stringify(v))?.value;
  switch (jiraKind(field)) {
    case 'select':
    case 'radiobuttons':
      return text(d);
    case 'multiselect':
    case 'multicheckboxes':
      return Array.isArray(d) && d.length > 0 ? d.map((v) => text(v)).filter((v) => v !== undefined) : undefined;
    case 'float':
      return typeof d === 'number' ? d : undefined;
    case 'labels':
      return Array.isArray(d) && d.length > 0 ? d.map(String) : undefined;
    case 'textarea':
      if (field.type === 'json') return JSON.stringify(d, null, 2);
      if (field.type === 'list') return Array.isArray(d) && d.length > 0 ? d.map(String).join('\n') : undefined;
      return String(d);
    default:
      return typeof d === 'string' ? d : JSON.stringify(d);
  }
}

/** Renders a form as Jira custom fields, a screen and a JSM request type. */
export function renderJiraForm(form: Form, opts: JiraRenderOptions = {}): JiraFormSpec {
  const sectionTitle = new Map(form.sections.map((s) => [s.id, s.title]));
  const fields: JiraFieldSpec[] = form.fields.map((f) => {
    const kind = jiraKind(f);
    const options = ['select', 'radiobuttons', 'multiselect', 'multicheckboxes'].includes(kind) ? jiraOptions(f) : undefined;
    const key = `${form.bundle}.${f.name}`;
    const description = describeField(f).slice(0, 1000);
    const defaultValue = jiraDefault(f, options);
    const schema = JIRA_SCHEMA_TYPE[kind];
    const toValue = (o: JiraOptionSpec) => ({ value: o.value, label: o.value, children: [] as [] });
    return {
      key,
      formField: f.name,
      kind,
      create: { name: f.label, description, ...JIRA_FIELD_TYPES[kind] },
      context: {
        name: `${form.title} (${form.bundle})`,
        description: `ticket-surface form for bundle ${form.bundle}`,
        projectIds: opts.projectId ? [opts.projectId] : [],
        issueTypeIds: opts.issueTypeId ? [opts.issueTypeId] : [],
      },
      ...(options ? { options } : {}),
      ...(f.source ? { dynamic: f.source } : {}),
      ...(defaultValue !== undefined ? { defaultValue } : {}),
      required: f.required,
      tab: sectionTitle.get(f.section) ?? form.title,
      jsm: {
        fieldId: key,
        name: f.label,
        description,
        required: f.required,
        visible: true,
        validValues: (options ?? []).map(toValue),
        defaultValues: options && defaultValue !== undefined ? options.filter((o) => ([] as unknown[]).concat(defaultValue).includes(o.value)).map(toValue) : [],
        jiraSchema: { type: schema.type, custom: JIRA_FIELD_TYPES[kind].type, ...(schema.items ? { items: schema.items } : {}) },
      },
    };
  });
  const tabs: { name: string; fields: string[] }[] = [];
  for (const f of fields) {
    let tab = tabs.find((t) => t.name === f.tab);
    if (!tab) tabs.push((tab = { name: f.tab, fields: [] }));
    tab.fields.push(f.key);
  }
  return {
    bundle: form.bundle,
    version: form.version,
    title: form.title,
    ...(form.description ? { description: form.description } : {}),
    fields,
    screen: { name: `${form.title} (${form.bundle})`, tabs },
    requestType: { name: opts.requestTypeName ?? form.title, description: form.description ?? '', fields: fields.map((f) => f.jsm) },
  };
}

/** A plain-text view of a Jira rendering, for `form render --format text`. */
export function renderJiraText(spec: JiraFormSpec): string {
  const lines: string[] = [`Jira form for ${spec.bundle} ${spec.version}: ${spec.title}`];
  const byKey = new Map(spec.fields.map((f) => [f.key, f]));
  for (const tab of spec.screen.tabs) {
    lines.push('', `Tab "${tab.name}"`);
    for (const key of tab.fields) {
      const f = byKey.get(key)!;
      lines.push(`  ${f.create.name}${f.required ? ' *' : ''}  [${f.kind}, searcher ${f.create.searcherKey.split(':')[1]}]`);
      if (f.options?.length) lines.push(`    options: ${f.options.map((o) => o.value).join(' | ')}`);
      if (f.dynamic) lines.push(`    options from: ${Object.entries(f.dynamic).map(([k, v]) => `${k}=${v}`).join(', ')}`);
      if (f.defaultValue !== undefined) lines.push(`    default: ${typeof f.defaultValue === 'string' ? f.defaultValue : JSON.stringify(f.defaultValue)}`);
      if (f.create.description) lines.push(`    ${f.create.description}`);
    }
  }
  lines.push('', '* required');
  return lines.join('\n');
}
