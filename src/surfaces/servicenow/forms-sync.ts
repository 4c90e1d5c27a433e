/**
 * `forms sync --surface servicenow`: one catalog item (`sc_cat_item`) per bundle form, plus any
 * other items given as data (the question item, the decommission item), each with its variables (`item_option_new`),
 * choices (`question_choice`) and validation regexes (`question_regex`). What is in ServiceNow is
 * read back through the Table API and compared column by column with what the renderer wants;
 * only what is missing or different is written. Nothing is ever deleted: variables no longer
 * asked are deactivated, choices no longer offered are marked inactive. sys_ids are remembered in
 * the {@link SurfaceIdStore} under `item/<key>`, `variable/<key>/<field>`,
 * `choice/<key>/<field>/<value>` and `regex/<key>/<field>`.
 */
import { randomBytes } from 'node:crypto';
import { SystemError, UserError } from '../../engine/errors.ts';
import type { Logger } from '../../engine/logger.ts';
import type { SurfaceIdStore } from '../../engine/surface-ids.ts';
import type { QueryDescription } from '../../workflow/queries.ts';
import type { FormCatalog } from '../../forms/catalog.ts';
import { resolveDynamicOptions, type OptionSources } from '../../forms/index.ts';
import type { ServiceNowClient, ServiceNowRow } from './client.ts';
import {
  listCollectorQualifier,
  renderServiceNowForm,
  SN_VARIABLE_TYPES,
  type ServiceNowCatalogSpec,
  type ServiceNowChoiceRecord,
  type ServiceNowRenderOptions,
  type ServiceNowVariableRecord,
  type ServiceNowVariableSpec,
} from './form-renderer.ts';

/** The surface name under which ids are stored. */
export const SERVICENOW_SURFACE = 'servicenow';

/** One catalog item the sync keeps: our stable key (a bundle name, or `@question`) and its rendering. */
export interface ServiceNowItemDefinition {
  /** Stable key: the bundle name for bundle items; extra items use a key no bundle can have (`@...`). */
  key: string;
  spec: ServiceNowCatalogSpec;
}

/** What one sync did. */
export interface ServiceNowSyncReport {
  created: string[];
  updated: string[];
  disabled: string[];
  /** Write calls made (POST/PATCH); 0 on an unchanged catalog. */
  writes: number;
}

/** Dependencies of {@link ServiceNowFormsSync}. */
export interface ServiceNowFormsSyncDeps {
  client: ServiceNowClient;
  ids: SurfaceIdStore;
  /** The forms to publish (a {@link FormCatalog}; anything that lists forms will do). */
  forms: Pick<FormCatalog, 'all'>;
  options: OptionSources;
  logger: Logger;
  /** Where the items are published: `sc_catalog` / `sc_category` by title or sys_id. */
  publish?: { catalog?: string; category?: string };
  /** Items besides one per bundle (for example {@link questionItem}); read on every sync. */
  extraItems?: () => ServiceNowItemDefinition[] | Promise<ServiceNowItemDefinition[]>;
}

const ITEM_COLUMNS = ['name', 'short_description', 'description', 'active', 'sc_catalogs', 'category'] as const;
const VARIABLE_COLUMNS = [
  'cat_item',
  'name',
  'question_text',
  'type',
  'order',
  'mandatory',
  'read_only',
  'active',
  'help_text',
  'show_help',
  'tooltip',
  'default_value',
  'validate_regex',
  'attributes',
  'list_table',
  'reference_qual',
  'display_title',
] as const;
const CHOICE_COLUMNS = ['question', 'text', 'value', 'order', 'inactive'] as const;
const REGEX_COLUMNS = ['name', 'regex', 'validation_message', 'flags', 'active'] as const;

/** A literal value inside an encoded query: `^` is written `^^`. */
function q(value: string): string {
  return value.replace(/\^/g, '^^');
}

const SYS_ID = /^[0-9a-f]{32}$/i;

/** The line that marks an item as ours, so it is found again if the id store was lost. */
export function managedMarker(key: string): string {
  return `Managed by ticket-surface (${key}): change the form overlay, not this item.`;
}

/** Columns that differ between what we want and what is there (missing columns read as ''). */
function diff(want: Record<string, string>, have: ServiceNowRow): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(want)) if ((have[k] ?? '') !== v) out[k] = v;
  return out;
}

function variableColumns(r: ServiceNowVariableRecord, itemId: string, regexId: string, referenceQual: string): Record<string, string> {
  return {
    cat_item: itemId,
    name: r.name,
    question_text: r.question_text,
    type: String(r.type),
    order: String(r.order),
    mandatory: String(r.mandatory),
    read_only: String(r.read_only),
    active: String(r.active),
    help_text: r.help_text,
    show_help: String(r.show_help),
    tooltip: r.tooltip,
    default_value: r.default_value,
    validate_regex: regexId,
    attributes: r.attributes ?? '',
    list_table: r.list_table ?? '',
    reference_qual: referenceQual,
    display_title: String(r.display_title ?? false),
  };
}

function choiceColumns(c: ServiceNowChoiceRecord, questionId: string): Record<string, string> {
  return { question: questionId, text: c.text, value: c.value, order: String(c.order), inactive: String(c.inactive) };
}

/**
 * Keeps ServiceNow's catalog in step with the form catalog. `sync()` does everything;
 * `resyncDynamicOptions()` only the choices of dynamically sourced questions (cheap enough to run
 * whenever an attestation or an environment is added).
 */
export class ServiceNowFormsSync {
  private writes = 0;
  /** Titles resolved to sys_ids during one run (`sc_catalog:<title>`). */
  private readonly resolved = new Map<string, string>();
  /** Per dynamic variable (sys_id): the choices this process last brought the instance to (see {@link resyncDynamicOptions}). */
  private readonly dynamicSynced = new Map<string, string>();

  constructor(private readonly deps: ServiceNowFormsSyncDeps) {}

  /** Every item the catalog asks for: one per bundle (dynamic choices resolved), then the extras. */
  async items(): Promise<ServiceNowItemDefinition[]> {
    const render: ServiceNowRenderOptions = {};
    const out: ServiceNowItemDefinition[] = [];
    for (const form of await this.deps.forms.all()) {
      const resolved = await resolveDynamicOptions(form, this.deps.options, {});
      out.push({ key: form.bundle, spec: renderServiceNowForm(resolved, render) });
    }
    for (const extra of (await this.deps.extraItems?.()) ?? []) {
      if (out.some((d) => d.key === extra.key)) throw new SystemError(`servicenow forms sync: two items share the key ${extra.key}`);
      out.push(extra);
    }
    return out;
  }

  /** Syncs every item. */
  async sync(): Promise<ServiceNowSyncReport> {
    this.writes = 0;
    this.resolved.clear();
    this.dynamicSynced.clear();
    const report: ServiceNowSyncReport = { created: [], updated: [], disabled: [], writes: 0 };
    for (const def of await this.items()) await this.syncItem(def, report);
    report.writes = this.writes;
    this.deps.logger.info({ created: report.created.length, updated: report.updated.length, disabled: report.disabled.length, writes: report.writes }, 'servicenow forms synced');
    return report;
  }

  /**
   * Re-syncs only the choices of questions whose options come from a dynamic source (versions
   * carrying an attestation, environments, packages; an extra item's dynamic variables), for
   * items synced before. Call it when an attestation, environment or package changes. A
   * variable whose offered choices are the same as when this process last synced it is not read
   * again (a deployment changes the packages offered, not the versions or environments); a choice
   * edited by hand on the instance is put back by the next change of its source or the next full sync.
   */
  async resyncDynamicOptions(): Promise<ServiceNowSyncReport> {
    this.writes = 0;
    const report: ServiceNowSyncReport = { created: [], updated: [], disabled: [], writes: 0 };
    for (const form of await this.deps.forms.all()) {
      if (!form.fields.some((f) => f.source)) continue;
      const spec = renderServiceNowForm(await resolveDynamicOptions(form, this.deps.options, {}));
      for (const v of spec.variables) {
        if (!v.dynamic || !v.formField) continue;
        const varId = await this.deps.ids.get(SERVICENOW_SURFACE, `variable/${form.bundle}/${v.record.name}`);
        if (!varId) continue;
        await this.resyncChoices(form.bundle, v.record.name, varId, spec.choices.filter((c) => c.question === v.record.name), report);
      }
    }
    for (const extra of (await this.deps.extraItems?.()) ?? []) await this.resyncExtraChoices(extra, report);
    report.writes = this.writes;
    if (report.writes) this.deps.logger.info({ writes: report.writes, created: report.created, disabled: report.disabled }, 'servicenow dynamic choices re-synced');
    return report;
  }

  /** The choices of an extra item's dynamic variables (the decommission item's packages), when synced before. */
  private async resyncExtraChoices(def: ServiceNowItemDefinition, report: ServiceNowSyncReport): Promise<void> {
    for (const v of def.spec.variables) {
      if (!v.dynamic) continue;
      const varId = await this.deps.ids.get(SERVICENOW_SURFACE, `variable/${def.key}/${v.record.name}`);
      if (!varId) continue;
      await this.resyncChoices(def.key, v.record.name, varId, def.spec.choices.filter((c) => c.question === v.record.name), report);
    }
  }

  /** The choices of one dynamic variable, read and synced unless this process last synced them to these. */
  private async resyncChoices(key: string, field: string, varId: string, desired: ServiceNowChoiceRecord[], report: ServiceNowSyncReport): Promise<void> {
    const offered = JSON.stringify(desired.map((c) => choiceColumns(c, varId)));
    if (this.dynamicSynced.get(varId) === offered) return;
    this.dynamicSynced.delete(varId);
    const current = await this.deps.client.list('question_choice', { query: `question=${varId}`, fields: ['sys_id', ...CHOICE_COLUMNS] });
    await this.syncChoices(key, field, varId, desired, current, report);
    this.dynamicSynced.set(varId, offered);
  }

  private async write<T>(fn: () => Promise<T>): Promise<T> {
    this.writes++;
    return fn();
  }

  private async syncItem(def: ServiceNowItemDefinition, report: ServiceNowSyncReport): Promise<void> {
    const { key, spec } = def;
    const itemId = await this.ensureItem(def, report);
    const regexIds = await this.syncRegexes(key, spec, report);
    const { client } = this.deps;

    const existing = await client.list('item_option_new', { query: `cat_item=${itemId}^ORDERBYorder`, fields: ['sys_id', ...VARIABLE_COLUMNS] });
    const byName = new Map<string, ServiceNowRow>();
    for (const row of existing) if (!byName.has(row.name!)) byName.set(row.name!, row);
    const varIds = new Map<string, string>();
    for (const v of spec.variables) {
      const have = byName.get(v.record.name);
      // A created variable's sys_id is chosen here so a list collector's qualifier can name it in the same insert.
      const id = have?.sys_id ?? randomBytes(16).toString('hex');
      const want = variableColumns(v.record, itemId, v.record.validate_regex ? (regexIds.get(v.record.validate_regex) ?? '') : '', referenceQual(v, id));
      if (!have) {
        const created = await this.write(() => client.create('item_option_new', { sys_id: id, ...want }));
        report.created.push(`variable ${v.record.name} (${v.typeName}) of ${key}`);
        varIds.set(v.record.name, created.sys_id);
      } else {
        const change = diff(want, have);
        if (Object.keys(change).length) {
          await this.write(() => client.update('item_option_new', have.sys_id!, change));
          report.updated.push(`variable ${v.record.name} of ${key}: ${Object.keys(change).join(', ')}`);
        }
        varIds.set(v.record.name, have.sys_id!);
      }
      await this.deps.ids.set(SERVICENOW_SURFACE, `variable/${key}/${v.record.name}`, varIds.get(v.record.name)!);
    }
    // Questions no longer asked: deactivated, never deleted (requested items still hold their answers).
    const wanted = new Set(spec.variables.map((v) => v.record.name));
    for (const row of existing) {
      if (wanted.has(row.name!) || row.active !== 'true') continue;
      await this.write(() => client.update('item_option_new', row.sys_id!, { active: 'false' }));
      report.disabled.push(`variable ${row.name} of ${key}`);
    }

    const choices = await client.list('question_choice', { query: `question.cat_item=${itemId}`, fields: ['sys_id', ...CHOICE_COLUMNS] });
    for (const v of spec.variables) {
      if (!hasChoices(v)) continue;
      const varId = varIds.get(v.record.name)!;
      await this.syncChoices(
        key,
        v.record.name,
        varId,
        spec.choices.filter((c) => c.question === v.record.name),
        choices.filter((c) => c.question === varId),
        report,
      );
    }
  }

  /** Finds (by stored id, else by name plus our marker) or creates the item; updates what differs. */
  private async ensureItem(def: ServiceNowItemDefinition, report: ServiceNowSyncReport): Promise<string> {
    const { client, ids } = this.deps;
    const { key, spec } = def;
    const want: Record<string, string> = {
      name: spec.item.name,
      short_description: spec.item.short_description,
      description: [spec.item.description, managedMarker(key)].filter(Boolean).join('\n\n'),
      active: String(spec.item.active),
    };
    const publish = this.deps.publish ?? {};
    if (publish.catalog) want.sc_catalogs = await this.resolveTitle('sc_catalog', publish.catalog);
    if (publish.category) want.category = await this.resolveTitle('sc_category', publish.category);
    const fields = ['sys_id', ...ITEM_COLUMNS];
    const storedId = await ids.get(SERVICENOW_SURFACE, `item/${key}`);
    let have = storedId ? await client.get('sc_cat_item', storedId, fields) : undefined;
    if (!have) {
      const named = await client.list('sc_cat_item', { query: `name=${q(spec.item.name)}`, fields });
      have = named.find((r) => (r.description ?? '').includes(managedMarker(key)));
    }
    if (!have) {
      const created = await this.write(() => client.create('sc_cat_item', want));
      report.created.push(`catalog item "${spec.item.name}" (${key})`);
      await ids.set(SERVICENOW_SURFACE, `item/${key}`, created.sys_id);
      return created.sys_id;
    }
    const change = diff(want, have);
    if (Object.keys(change).length) {
      await this.write(() => client.update('sc_cat_item', have.sys_id!, change));
      report.updated.push(`catalog item "${spec.item.name}" (${key}): ${Object.keys(change).join(', ')}`);
    }
    if (have.sys_id !== storedId) await ids.set(SERVICENOW_SURFACE, `item/${key}`, have.sys_id!);
    return have.sys_id!;
  }

  /** `question_regex` rows by name (global records, named `<bundle>.<field>`); returns name → sys_id. */
  private async syncRegexes(key: string, spec: ServiceNowCatalogSpec, report: ServiceNowSyncReport): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    if (!spec.regexes.length) return out;
    const { client } = this.deps;
    const names = spec.regexes.map((r) => r.name);
    // Names hold no commas (bundle and field names), so one IN query reads them all.
    const existing = await client.list('question_regex', { query: `nameIN${names.map(q).join(',')}`, fields: ['sys_id', ...REGEX_COLUMNS] });
    for (const r of spec.regexes) {
      const want = { name: r.name, regex: r.regex, validation_message: r.validation_message, flags: r.flags, active: String(r.active) };
      const have = existing.find((e) => e.name === r.name);
      let id: string;
      if (!have) {
        id = (await this.write(() => client.create('question_regex', want))).sys_id;
        report.created.push(`validation regex ${r.name}`);
      } else {
        id = have.sys_id!;
        const change = diff(want, have);
        if (Object.keys(change).length) {
          await this.write(() => client.update('question_regex', id, change));
          report.updated.push(`validation regex ${r.name}: ${Object.keys(change).join(', ')}`);
        }
      }
      out.set(r.name, id);
      await this.deps.ids.set(SERVICENOW_SURFACE, `regex/${key}/${r.name.slice(r.name.indexOf('.') + 1)}`, id);
    }
    return out;
  }

  /** Adds missing choices, updates changed ones, re-enables offered ones, marks the rest inactive. */
  private async syncChoices(key: string, field: string, questionId: string, desired: ServiceNowChoiceRecord[], current: ServiceNowRow[], report: ServiceNowSyncReport): Promise<void> {
    const { client, ids } = this.deps;
    const byValue = new Map<string, ServiceNowRow>();
    for (const c of current) if (!byValue.has(c.value!)) byValue.set(c.value!, c);
    for (const c of desired) {
      const want = choiceColumns(c, questionId);
      const have = byValue.get(c.value);
      let id: string;
      if (!have) {
        id = (await this.write(() => client.create('question_choice', want))).sys_id;
        report.created.push(`choice "${c.value}" of ${key}/${field}`);
      } else {
        id = have.sys_id!;
        const change = diff(want, have);
        if (Object.keys(change).length) {
          await this.write(() => client.update('question_choice', id, change));
          report.updated.push(`choice "${c.value}" of ${key}/${field}${change.inactive === 'false' ? ' re-enabled' : `: ${Object.keys(change).join(', ')}`}`);
        }
      }
      await ids.set(SERVICENOW_SURFACE, `choice/${key}/${field}/${c.value}`, id);
    }
    const offered = new Set(desired.map((c) => c.value));
    for (const c of current) {
      if (offered.has(c.value!) || c.inactive === 'true') continue;
      await this.write(() => client.update('question_choice', c.sys_id!, { inactive: 'true' }));
      report.disabled.push(`choice "${c.value}" of ${key}/${field}`);
    }
  }

  /** A catalog or category given by title becomes its sys_id (looked up once per run). */
  private async resolveTitle(table: 'sc_catalog' | 'sc_category', ref: string): Promise<string> {
    if (SYS_ID.test(ref)) return ref;
    const cacheKey = `${table}:${ref}`;
    const hit = this.resolved.get(cacheKey);
    if (hit) return hit;
    const rows = await this.deps.client.list(table, { query: `title=${q(ref)}`, fields: ['sys_id', 'title'], max: 1 });
    const id = rows[0]?.sys_id;
    if (!id) throw new ServiceNowPublishError(table, ref);
    this.resolved.set(cacheKey, id);
    return id;
  }
}

/** The configured catalog or category does not exist on the instance. */
export class ServiceNowPublishError extends UserError {
  constructor(table: string, title: string) {
    super('config', `ServiceNow has no ${table} titled "${title.slice(0, 80)}": create it or fix the catalog settings`);
  }
}

function hasChoices(v: ServiceNowVariableSpec): boolean {
  const t = v.record.type;
  return t === SN_VARIABLE_TYPES.selectBox || t === SN_VARIABLE_TYPES.multipleChoice || t === SN_VARIABLE_TYPES.listCollector;
}

/**
 * A list collector lists `question_choice` rows: its qualifier names its own variable by sys_id
 * (a name would also match same-named questions of other items).
 */
function referenceQual(v: ServiceNowVariableSpec, sysId: string): string {
  if (v.record.type === SN_VARIABLE_TYPES.listCollector && v.record.list_table === 'question_choice') return listCollectorQualifier(sysId);
  return v.record.reference_qual ?? '';
}

/** Key of the question item. */
export const QUESTION_ITEM_KEY = '@question';

/**
 * The "Infrastructure question" item: which query (a choice per query of the catalog), how many
 * rows, and free arguments (`redis-cache` for where-runs). Data-driven from the query catalog, so
 * a new query shows up as a new choice on the next sync.
 */
export function questionItem(queries: QueryDescription[]): ServiceNowItemDefinition {
  const base = { mandatory: false, read_only: false, active: true, show_help: true, default_value: '' };
  const variables: ServiceNowVariableSpec[] = [
    {
      formField: 'query',
      typeName: 'Select Box',
      record: {
        ...base,
        name: 'query',
        question_text: 'Question',
        type: SN_VARIABLE_TYPES.selectBox,
        order: 100,
        mandatory: true,
        help_text: 'What you want to know about the infrastructure.',
        tooltip: 'Pick a question',
      },
    },
    {
      formField: 'top',
      typeName: 'Single Line Text',
      record: {
        ...base,
        name: 'top',
        question_text: 'Top',
        type: SN_VARIABLE_TYPES.singleLineText,
        order: 200,
        help_text: 'How many rows to show (default depends on the question).',
        tooltip: 'A whole number',
        validate_regex: `${QUESTION_ITEM_KEY}.top`,
      },
    },
    {
      formField: 'arguments',
      typeName: 'Single Line Text',
      record: {
        ...base,
        name: 'arguments',
        question_text: 'Arguments',
        type: SN_VARIABLE_TYPES.singleLineText,
        order: 300,
        help_text: queries.filter((d) => d.args.some((a) => a.positional)).map((d) => d.usage).join('; '),
        tooltip: 'For example a bundle or package name',
      },
    },
  ];
  return {
    key: QUESTION_ITEM_KEY,
    spec: {
      bundle: QUESTION_ITEM_KEY,
      version: '1',
      item: {
        name: 'Infrastructure question',
        short_description: 'Ask a question about the infrastructure inventory.',
        description: queries.map((d) => `${d.name}: ${d.summary}`).join('\n'),
        active: true,
      },
      variables,
      choices: queries.map((d, i) => ({ question: 'query', text: d.summary ? `${d.name}: ${d.summary}`.slice(0, 100) : d.name, value: d.name, order: (i + 1) * 100, inactive: false })),
      regexes: [{ name: `${QUESTION_ITEM_KEY}.top`, regex: '^\\d+$', validation_message: 'Must be a whole number.', flags: '', active: true }],
    },
  };
}
