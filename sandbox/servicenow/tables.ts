/**
 * The tables the ServiceNow sandbox knows, with the columns the service reads or writes and the
 * platform's defaults. Columns are typed only as far as behaviour depends on it: references
 * render as `{ link, value }`, journal fields read back empty and write to `sys_journal_field`,
 * choices have display labels, booleans and numbers are stored as strings like everything else.
 *
 * Task tables carry the task columns every documented task example shares (see
 * sandbox/specs/servicenow-documented/table-api): the contract check derives that list from the fixtures
 * independently and compares.
 */

/** How a column behaves. */
export type FieldType =
  | 'string'
  | 'reference'
  | 'journal'
  | 'boolean'
  | 'integer'
  | 'choice'
  | 'glide_date_time'
  | 'schedule_date_time'
  | 'guid'
  | 'password'
  | 'document_id';

/** One column. */
export interface FieldDef {
  type: FieldType;
  /** Target table of a reference. */
  reference?: string;
  /** Choice value -> label. */
  choices?: Record<string, string>;
  /** Default for new records (a function gets the insert context). */
  default?: string | ((ctx: DefaultContext) => string);
}

/** What a default may depend on. */
export interface DefaultContext {
  table: string;
  now: string;
  actorSysId: string;
  actorUserName: string;
}

/** One table. */
export interface TableDef {
  name: string;
  /** Parent table (records of this table are also records of the parent). */
  extends?: string;
  /** Own columns (inherited ones come from the parent). */
  fields: Record<string, FieldDef>;
  /** Column shown as the display value of a reference to this table. */
  displayField: string;
  /** Number prefix for task tables (`RITM`). */
  numberPrefix?: string;
}

const s = (d = ''): FieldDef => ({ type: 'string', default: d });
const b = (d: 'true' | 'false'): FieldDef => ({ type: 'boolean', default: d });
const i = (d = ''): FieldDef => ({ type: 'integer', default: d });
const ref = (table: string, d?: FieldDef['default']): FieldDef => ({ type: 'reference', reference: table, default: d ?? '' });
const journal = (): FieldDef => ({ type: 'journal', default: '' });
const choice = (choices: Record<string, string>, d = ''): FieldDef => ({ type: 'choice', choices, default: d });
const dt = (d?: FieldDef['default']): FieldDef => ({ type: 'glide_date_time', default: d ?? '' });

/** sysapproval_approver.state and task.approval choices. */
export const APPROVAL_STATES: Record<string, string> = {
  'not requested': 'Not Yet Requested',
  requested: 'Requested',
  approved: 'Approved',
  rejected: 'Rejected',
  cancelled: 'No Longer Required',
  not_required: 'Not Required',
  duplicate: 'Duplicate',
};

/** sc_req_item.state choices (the task states the catalog uses). */
export const RITM_STATES: Record<string, string> = {
  '-5': 'Pending',
  '1': 'Open',
  '2': 'Work in Progress',
  '3': 'Closed Complete',
  '4': 'Closed Incomplete',
  '7': 'Closed Skipped',
};

/** sc_req_item.stage choices (the default catalog stages). */
export const RITM_STAGES: Record<string, string> = {
  waiting_for_approval: 'Waiting for Approval',
  request_approved: 'Request Approved',
  fulfillment: 'Fulfillment',
  delivery: 'Delivery',
  complete: 'Completed',
  'Request Cancelled': 'Request Cancelled',
};

/** change_request.state codes of the normal change model. */
export const CHANGE_STATES: Record<string, string> = {
  '-5': 'New',
  '-4': 'Assess',
  '-3': 'Authorize',
  '-2': 'Scheduled',
  '-1': 'Implement',
  '0': 'Review',
  '3': 'Closed',
  '4': 'Canceled',
};

/**
 * Moves the normal change state model allows (ServiceNow's `ChangeRequestStateModel_normal`):
 * forward one step, back to New from Assess and Authorize, Canceled from any open state.
 */
export const NORMAL_CHANGE_TRANSITIONS: Record<string, string[]> = {
  '-5': ['-4', '4'],
  '-4': ['-3', '-5', '4'],
  '-3': ['-2', '-5', '4'],
  '-2': ['-1', '-5', '4'],
  '-1': ['0', '4'],
  '0': ['3', '4'],
  '3': [],
  '4': [],
};

/** item_option_new.type codes and their labels (the platform's choice list). */
export const VARIABLE_TYPES: Record<string, string> = {
  '1': 'Yes / No',
  '2': 'Multi Line Text',
  '3': 'Multiple Choice',
  '4': 'Numeric Scale',
  '5': 'Select Box',
  '6': 'Single Line Text',
  '7': 'CheckBox',
  '8': 'Reference',
  '9': 'Date',
  '10': 'Date/Time',
  '11': 'Label',
  '12': 'Break',
  '14': 'Macro',
  '15': 'UI Page',
  '16': 'Wide Single Line Text',
  '17': 'Macro with Label',
  '18': 'Lookup Select Box',
  '19': 'Container Start',
  '20': 'Container End',
  '21': 'List Collector',
  '22': 'Lookup Multiple Choice',
  '23': 'HTML',
  '24': 'Container Split',
  '25': 'Masked',
  '26': 'Email',
  '27': 'URL',
  '28': 'IP Address',
  '29': 'Duration',
  '31': 'Requested For',
  '32': 'Rich Text Label',
  '33': 'Attachment',
};

/** Variable types that hold no answer (layout only). */
export const LAYOUT_VARIABLE_TYPES = new Set(['11', '12', '14', '15', '17', '19', '20', '24', '32']);

/** Columns of `task` every documented task example carries (plus the sys columns). */
const TASK_FIELDS: Record<string, FieldDef> = {
  number: s(),
  active: b('true'),
  activity_due: dt(),
  additional_assignee_list: s(),
  approval: choice(APPROVAL_STATES, 'not requested'),
  approval_history: journal(),
  approval_set: dt(),
  assigned_to: ref('sys_user'),
  assignment_group: ref('sys_user_group'),
  business_duration: s(),
  business_service: ref('cmdb_ci_service'),
  calendar_duration: s(),
  close_notes: s(),
  closed_at: dt(),
  closed_by: ref('sys_user'),
  cmdb_ci: ref('cmdb_ci'),
  comments: journal(),
  comments_and_work_notes: journal(),
  company: ref('core_company'),
  contact_type: s(),
  correlation_display: s(),
  correlation_id: s(),
  delivery_plan: ref('sc_cat_item_delivery_plan'),
  delivery_task: ref('sc_cat_item_delivery_task'),
  description: s(),
  due_date: dt(),
  escalation: i('0'),
  expected_start: dt(),
  follow_up: dt(),
  group_list: s(),
  impact: choice({ '1': '1 - High', '2': '2 - Medium', '3': '3 - Low' }, '3'),
  knowledge: b('false'),
  location: ref('cmn_location'),
  made_sla: b('true'),
  opened_at: dt((c) => c.now),
  opened_by: ref('sys_user', (c) => c.actorSysId),
  order: i(),
  parent: ref('task'),
  priority: choice({ '1': '1 - Critical', '2': '2 - High', '3': '3 - Moderate', '4': '4 - Low', '5': '5 - Planning' }, '4'),
  reassignment_count: i('0'),
  rejection_goto: ref('task'),
  short_description: s(),
  sla_due: dt(),
  state: i('1'),
  sys_domain: ref('sys_user_group', 'global'),
  sys_domain_path: s('/'),
  time_worked: s(),
  upon_approval: choice({ proceed: 'Proceed to Next Task', do_nothing: 'Wait for a User to Close this task' }, 'proceed'),
  upon_reject: choice({ cancel: 'Cancel all future Tasks', goto: 'Go to a previous Task' }, 'cancel'),
  urgency: choice({ '1': '1 - High', '2': '2 - Medium', '3': '3 - Low' }, '3'),
  user_input: s(),
  watch_list: s(),
  wf_activity: ref('wf_activity'),
  work_end: dt(),
  work_notes: journal(),
  work_notes_list: s(),
  work_start: dt(),
};

/** Columns every table has. */
export const SYS_FIELDS: Record<string, FieldDef> = {
  sys_id: { type: 'guid' },
  sys_class_name: { type: 'string', default: (c) => c.table },
  sys_created_on: dt((c) => c.now),
  sys_created_by: { type: 'string', default: (c) => c.actorUserName },
  sys_updated_on: dt((c) => c.now),
  sys_updated_by: { type: 'string', default: (c) => c.actorUserName },
  sys_mod_count: i('0'),
  sys_tags: s(),
};

/** Every table of the sandbox. */
export const TABLES: TableDef[] = [
  { name: 'task', fields: TASK_FIELDS, displayField: 'number', numberPrefix: 'TASK' },
  {
    name: 'sc_request',
    extends: 'task',
    displayField: 'number',
    numberPrefix: 'REQ',
    fields: {
      request_state: choice({ draft: 'Draft', requested: 'Pending Approval', in_process: 'Approved', closed_complete: 'Closed Complete', closed_incomplete: 'Closed Incomplete', closed_cancelled: 'Closed Cancelled', closed_rejected: 'Closed Rejected', closed_skipped: 'Closed Skipped' }, 'requested'),
      requested_for: ref('sys_user', (c) => c.actorSysId),
      requested_date: s(),
      price: s('0'),
      stage: s('requested'),
      special_instructions: s(),
      delivery_address: s(),
      calendar_stc: s(),
    },
  },
  {
    name: 'sc_req_item',
    extends: 'task',
    displayField: 'number',
    numberPrefix: 'RITM',
    fields: {
      state: choice(RITM_STATES, '1'),
      stage: choice(RITM_STAGES, 'request_approved'),
      request: ref('sc_request'),
      cat_item: ref('sc_cat_item'),
      requested_for: ref('sys_user', (c) => c.actorSysId),
      quantity: i('1'),
      price: s('0'),
      recurring_price: s('0'),
      recurring_frequency: s(),
      order_guide: ref('sc_cat_item_guide'),
      configuration_item: ref('cmdb_ci'),
      backordered: b('false'),
      sc_catalog: ref('sc_catalog'),
      estimated_delivery: dt(),
      context: ref('wf_context'),
    },
  },
  {
    name: 'change_request',
    extends: 'task',
    displayField: 'number',
    numberPrefix: 'CHG',
    fields: {
      state: choice(CHANGE_STATES, '-5'),
      type: choice({ normal: 'Normal', standard: 'Standard', emergency: 'Emergency' }, 'normal'),
      start_date: dt(),
      end_date: dt(),
      risk: choice({ '1': 'Very High', '2': 'High', '3': 'Moderate', '4': 'Low' }, '3'),
      category: s('Other'),
      justification: s(),
      implementation_plan: s(),
      backout_plan: s(),
      test_plan: s(),
      reason: s(),
      requested_by: ref('sys_user', (c) => c.actorSysId),
      chg_model: ref('chg_model'),
      phase: s('requested'),
      on_hold: b('false'),
      conflict_status: s('Not Run'),
      cab_required: b('false'),
      review_date: dt(),
      close_code: choice({ successful: 'Successful', successful_issues: 'Successful with issues', unsuccessful: 'Unsuccessful' }),
    },
  },
  {
    name: 'sc_cat_item',
    displayField: 'name',
    fields: {
      name: s(),
      short_description: s(),
      description: s(),
      active: b('true'),
      sc_catalogs: s(),
      category: ref('sc_category'),
      price: s('0'),
      type: s('item'),
      order: i('0'),
      no_quantity: b('false'),
      flow_designer_flow: ref('sys_hub_flow'),
      workflow: ref('wf_workflow'),
    },
  },
  {
    name: 'item_option_new',
    displayField: 'question_text',
    fields: {
      cat_item: ref('sc_cat_item'),
      name: s(),
      question_text: s(),
      type: choice(VARIABLE_TYPES, '6'),
      order: i('100'),
      mandatory: b('false'),
      read_only: b('false'),
      active: b('true'),
      help_text: s(),
      show_help: b('false'),
      tooltip: s(),
      default_value: s(),
      validate_regex: ref('question_regex'),
      attributes: s(),
      list_table: s(),
      reference: s(),
      reference_qual: s(),
      display_title: b('false'),
      variable_set: ref('item_option_new_set'),
    },
  },
  {
    name: 'question_choice',
    displayField: 'text',
    fields: { question: ref('item_option_new'), text: s(), value: s(), order: i('100'), inactive: b('false'), price: s('0') },
  },
  {
    name: 'question_regex',
    displayField: 'name',
    fields: { name: s(), regex: s(), validation_message: s(), flags: s(), active: b('true') },
  },
  { name: 'sc_catalog', displayField: 'title', fields: { title: s(), description: s(), active: b('true') } },
  { name: 'sc_category', displayField: 'title', fields: { title: s(), description: s(), sc_catalog: ref('sc_catalog'), parent: ref('sc_category'), active: b('true') } },
  {
    name: 'sc_item_option',
    displayField: 'value',
    fields: { item_option_new: ref('item_option_new'), value: s(), order: i('0'), cart_item: ref('sc_cart_item') },
  },
  {
    name: 'sc_item_option_mtom',
    displayField: 'sys_id',
    fields: { request_item: ref('sc_req_item'), sc_item_option: ref('sc_item_option') },
  },
  {
    name: 'sys_journal_field',
    displayField: 'value',
    // element_id is a plain GUID column (not a reference) on the platform.
    fields: { element: s(), element_id: { type: 'guid', default: '' }, name: s(), value: s() },
  },
  {
    name: 'sys_user',
    displayField: 'name',
    fields: {
      user_name: s(),
      first_name: s(),
      last_name: s(),
      name: s(),
      email: s(),
      title: s(),
      department: ref('cmn_department'),
      manager: ref('sys_user'),
      active: b('true'),
      locked_out: b('false'),
      time_zone: s(),
      user_password: { type: 'password', default: '' },
    },
  },
  {
    name: 'sys_user_group',
    displayField: 'name',
    fields: { name: s(), description: s(), active: b('true'), manager: ref('sys_user'), email: s(), type: s(), parent: ref('sys_user_group') },
  },
  { name: 'sys_user_grmember', displayField: 'sys_id', fields: { user: ref('sys_user'), group: ref('sys_user_group') } },
  {
    name: 'sysapproval_approver',
    displayField: 'approver',
    fields: {
      approver: ref('sys_user'),
      state: choice(APPROVAL_STATES, 'requested'),
      sysapproval: ref('task'),
      document_id: { type: 'document_id', default: '' },
      source_table: s(),
      group: ref('sysapproval_group'),
      comments: journal(),
      due_date: dt(),
      expected_start: dt(),
      approval_source: s(),
      order: i(),
    },
  },
  {
    name: 'cmn_schedule',
    displayField: 'name',
    fields: { name: s(), description: s(), type: s(), time_zone: s(), parent: ref('cmn_schedule') },
  },
  { name: 'cmn_schedule_condition', extends: 'cmn_schedule', displayField: 'name', fields: { applies_to: s('none'), condition: s() } },
  { name: 'cmn_schedule_blackout', extends: 'cmn_schedule_condition', displayField: 'name', fields: { type: s('blackout') } },
  { name: 'cmn_schedule_maintenance', extends: 'cmn_schedule_condition', displayField: 'name', fields: { type: s('maintenance') } },
  {
    name: 'cmn_schedule_span',
    displayField: 'name',
    fields: {
      schedule: ref('cmn_schedule'),
      name: s(),
      // Schedule entries store local times of the schedule's time zone as `yyyyMMddTHHmmss`.
      start_date_time: { type: 'schedule_date_time', default: '' },
      end_date_time: { type: 'schedule_date_time', default: '' },
      all_day: b('false'),
      repeat_type: s(),
      repeat_count: i('1'),
      repeat_until: s(),
      days_of_week: s(),
      type: s(),
      show_as: s('busy'),
    },
  },
  // Roles, as the doctor reads the integration user's.
  { name: 'sys_user_role', displayField: 'name', fields: { name: s(), description: s() } },
  { name: 'sys_user_has_role', displayField: 'role', fields: { user: ref('sys_user'), role: ref('sys_user_role'), state: s('active'), inherited: b('false') } },
  // What an administrator installs for the webhook (integrations/servicenow/README.md).
  {
    name: 'sys_script',
    displayField: 'name',
    fields: {
      name: s(),
      collection: s(),
      active: b('true'),
      advanced: b('false'),
      when: choice({ before: 'before', after: 'after', async: 'async', display: 'display' }, 'before'),
      action_insert: b('false'),
      action_update: b('false'),
      action_delete: b('false'),
      action_query: b('false'),
      order: i('100'),
      script: s(),
    },
  },
  { name: 'sys_script_include', displayField: 'name', fields: { name: s(), api_name: s(), active: b('true'), access: s('package_private'), client_callable: b('false'), script: s() } },
  { name: 'sysevent_register', displayField: 'event_name', fields: { event_name: s(), table: s(), description: s() } },
  { name: 'sysevent_script_action', displayField: 'name', fields: { name: s(), event_name: s(), active: b('true'), script: s() } },
  { name: 'sys_properties', displayField: 'name', fields: { name: s(), type: s('string'), value: s(), description: s(), read_roles: s(), write_roles: s() } },
];

/**
 * The resolved schema: columns per table including inherited ones, and `isA` for inheritance.
 */
export class TableCatalog {
  private readonly defs = new Map<string, TableDef>();
  private readonly resolved = new Map<string, Record<string, FieldDef>>();

  /** Builds the catalog from table definitions. */
  constructor(defs: TableDef[] = TABLES) {
    for (const d of defs) this.defs.set(d.name, d);
  }

  /** True when the table exists. */
  has(table: string): boolean {
    return this.defs.has(table);
  }

  /** The table definition (throws for an unknown table: callers check {@link has} first). */
  table(name: string): TableDef {
    const d = this.defs.get(name);
    if (!d) throw new Error(`unknown table ${name}`);
    return d;
  }

  /** Every column of the table, inherited ones first, sys columns last. */
  fields(table: string): Record<string, FieldDef> {
    const hit = this.resolved.get(table);
    if (hit) return hit;
    const d = this.table(table);
    const own = { ...(d.extends ? this.fields(d.extends) : {}), ...d.fields };
    for (const k of Object.keys(SYS_FIELDS)) delete own[k];
    const all = { ...own, ...SYS_FIELDS };
    this.resolved.set(table, all);
    return all;
  }

  /** The column, or undefined. */
  field(table: string, name: string): FieldDef | undefined {
    return this.fields(table)[name];
  }

  /** True when `table` is `ancestor` or extends it. */
  isA(table: string, ancestor: string): boolean {
    for (let t: string | undefined = table; t; t = this.defs.get(t)?.extends) if (t === ancestor) return true;
    return false;
  }

  /** The number prefix of a table (inherited), if any. */
  numberPrefix(table: string): string | undefined {
    return this.table(table).numberPrefix;
  }

  /** Names of all tables. */
  names(): string[] {
    return [...this.defs.keys()];
  }
}
