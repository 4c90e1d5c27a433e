/**
 * A requested item's answers, read back through the Table API: its variable values
 * (`sc_item_option` through `sc_item_option_mtom`) mapped to the bundle form's fields by the
 * variables' sys_ids the forms sync remembered. Choice questions are read per variable: a list
 * collector submits `question_choice` sys_ids, which become values through the choices the sync
 * made for that variable, or, for a choice it does not know (made on the instance), through a
 * `question_choice` lookup filtered by that variable's sys_id. A choice of another item's
 * same-named variable is never taken. Date/time values are UTC, as the Table API stores them.
 */
import type { SurfaceIdStore } from '../../engine/surface-ids.ts';
import type { FormCatalog } from '../../forms/catalog.ts';
import type { Answers } from '../../forms/values.ts';
import type { FormField } from '../../forms/model.ts';
import type { ServiceNowClient, ServiceNowRow } from './client.ts';
import { serviceNowAnswer } from './form-values.ts';
import { SERVICENOW_SURFACE } from './forms-sync.ts';

/** Dependencies of {@link RequestedItemAnswers}. */
export interface RequestedItemAnswersDeps {
  client: ServiceNowClient;
  ids: SurfaceIdStore;
  forms: Pick<FormCatalog, 'form'>;
}

/** What a requested item says. */
export interface ItemAnswers {
  /** Answers by form field name; an empty variable is an unanswered question (left out). */
  answers: Answers;
  /** user_name of whoever edited a variable last, when any was edited. */
  editedBy?: string;
}

/** One variable value of a requested item. */
interface VariableValue {
  variableId: string;
  value: string;
}

const SYS_ID = /^[0-9a-f]{32}$/i;

/** Reads the answers of requested items of bundle catalog items. */
export class RequestedItemAnswers {
  constructor(private readonly deps: RequestedItemAnswersDeps) {}

  /** The answers of requested item `ritmSysId`, an item of `bundle`'s catalog item. */
  async read(ritmSysId: string, bundle: string): Promise<ItemAnswers> {
    const { values, editedBy } = await this.values(ritmSysId, bundle);
    const form = await this.deps.forms.form(bundle);
    const known = await this.deps.ids.all(SERVICENOW_SURFACE);
    const answers: Answers = {};
    for (const field of form.fields) {
      const v = values.get(field.name);
      if (!v) continue;
      const choices = field.type === 'select' || field.type === 'multiselect' ? await this.choicesOf(known, bundle, field, v) : {};
      const answer = serviceNowAnswer(field, v.value, choices);
      // An empty variable is an unanswered question, as in the catalog form.
      if (answer !== '') answers[field.name] = answer;
    }
    return { answers, ...(editedBy ? { editedBy } : {}) };
  }

  /** Variable values by field name, and who edited one last. */
  private async values(ritmSysId: string, bundle: string): Promise<{ values: Map<string, VariableValue>; editedBy?: string }> {
    const { client, ids } = this.deps;
    const links = await client.list('sc_item_option_mtom', {
      query: `request_item=${ritmSysId}`,
      fields: ['sc_item_option.item_option_new', 'sc_item_option.value', 'sc_item_option.sys_updated_by', 'sc_item_option.sys_updated_on'],
    });
    const values = new Map<string, VariableValue>();
    let editedAt = '';
    let editedBy: string | undefined;
    const prefix = `variable/${bundle}/`;
    const keys = await ids.keysOf(SERVICENOW_SURFACE, links.map((l) => l['sc_item_option.item_option_new'] ?? ''));
    for (const [i, l] of links.entries()) {
      const variableId = l['sc_item_option.item_option_new'] ?? '';
      const key = keys[i];
      if (!key?.startsWith(prefix)) continue;
      values.set(key.slice(prefix.length), { variableId, value: l['sc_item_option.value'] ?? '' });
      const at = l['sc_item_option.sys_updated_on'] ?? '';
      if (at > editedAt) {
        editedAt = at;
        editedBy = l['sc_item_option.sys_updated_by'];
      }
    }
    return { values, ...(editedBy ? { editedBy } : {}) };
  }

  /**
   * `question_choice` sys_id -> value for the choices `v` names, all of them choices of `v`'s own
   * variable: those the sync made (`known`, the id store, under the field's key), then any other
   * sys_id in the value looked up on the instance among that variable's choices.
   */
  private async choicesOf(known: Record<string, string>, bundle: string, field: FormField, v: VariableValue): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    const prefix = `choice/${bundle}/${field.name}/`;
    for (const [key, id] of Object.entries(known)) {
      if (key.startsWith(prefix)) out[id] = key.slice(prefix.length);
    }
    const unknown = v.value.split(',').map((s) => s.trim()).filter((s) => SYS_ID.test(s) && !(s in out));
    if (!unknown.length) return out;
    const rows: ServiceNowRow[] = await this.deps.client.list('question_choice', {
      query: `sys_idIN${unknown.join(',')}^question=${v.variableId}`,
      fields: ['sys_id', 'value'],
    });
    for (const r of rows) if (r.sys_id && r.value !== undefined) out[r.sys_id] = r.value;
    return out;
  }
}
