/**
 * In-memory state of the ServiceNow sandbox and the platform rules that change it: records of
 * every table as strings, sys columns, task numbers, journal fields written to
 * `sys_journal_field`, the catalog `order_now` (request, requested item, variable values),
 * approvals, and the business rules the service runs into (normal change state model, planned
 * dates, closing a task). Every change is reported to the listener given to the constructor with
 * the columns that changed, so the server can run the shipped Business Rule's logic and send its
 * webhook. Failures are {@link ServiceNowApiError}s carrying the platform's error shape.
 */
import { randomBytes } from 'node:crypto';
import { DateTime } from 'luxon';
import type { Clock } from '../../src/engine/model.ts';
import { systemClock } from '../../src/engine/model.ts';
import { matchesQuery, parseEncodedQuery, sortByQuery, type ParsedQuery } from './encoded-query.ts';
import { LAYOUT_VARIABLE_TYPES, NORMAL_CHANGE_TRANSITIONS, TableCatalog, type FieldDef } from './tables.ts';

/** A REST failure in ServiceNow's shape: `{ error: { message, detail }, status: "failure" }`. */
export class ServiceNowApiError extends Error {
  readonly status: number;
  readonly detail: string;
  constructor(status: number, message: string, detail = '') {
    super(message);
    this.status = status;
    this.detail = detail;
  }
}

/** A stored record: every value a string (internal values; references hold sys_ids). */
export type Row = Record<string, string>;

/** A change the Business Rules see. */
export interface StateEvent {
  operation: 'insert' | 'update' | 'delete';
  /** The record's class (`sys_class_name`). */
  table: string;
  /** The record after the change (before, for a delete). */
  record: Row;
  /** The record before an update. */
  previous?: Row;
  /** Columns whose value changed (journal columns count when an entry was written). */
  changed: string[];
  /** `user_name` of the user who made the change. */
  actor: string;
}

/** An operation an ACL guards. */
export type AclOperation = 'read' | 'create' | 'write' | 'delete';

/** A user to seed. */
export interface SeedUser {
  user_name: string;
  name?: string;
  first_name?: string;
  last_name?: string;
  email?: string;
  /** Basic-auth password; users without one cannot call the API. Never rendered. */
  password?: string;
  active?: boolean;
  /** Group names the user is a member of (groups are created when missing). */
  groups?: string[];
  sys_id?: string;
  time_zone?: string;
  /** Role names the user holds (`sys_user_has_role`; roles are created when missing). */
  roles?: string[];
}

/** A catalog variable to seed (an `item_option_new` row, plus its choices). */
export interface SeedVariable {
  name: string;
  question_text?: string;
  /** item_option_new.type code (default 6, Single Line Text). */
  type?: number;
  mandatory?: boolean;
  default_value?: string;
  order?: number;
  choices?: Array<{ value: string; text?: string; inactive?: boolean }>;
}

/** A catalog item to seed. */
export interface SeedCatalogItem {
  name: string;
  short_description?: string;
  description?: string;
  sys_id?: string;
  active?: boolean;
  variables?: SeedVariable[];
  /**
   * Group whose active members get `sysapproval_approver` records when the item is ordered, as a
   * catalog flow with a group approval would create them.
   */
  approvalGroup?: string;
}

/** A blackout schedule with its entries (times in the schedule's zone, `YYYY-MM-DD HH:mm:ss`). */
export interface SeedBlackout {
  name: string;
  time_zone?: string;
  spans: Array<{ name?: string; start: string; end: string }>;
}

/** Seed data. */
export interface ServiceNowSeed {
  users?: SeedUser[];
  groups?: Array<{ name: string; description?: string; members?: string[]; sys_id?: string; active?: boolean }>;
  catalogItems?: SeedCatalogItem[];
  blackouts?: SeedBlackout[];
  /** Raw rows per table, written as the API user would. */
  records?: Record<string, Array<Record<string, unknown>>>;
}

/** sys_ids of what a seed created, by user_name / name. */
export interface SeedResult {
  users: Record<string, string>;
  groups: Record<string, string>;
  catalogItems: Record<string, string>;
  /** Variables by `<item name>.<variable name>`. */
  variables: Record<string, string>;
  blackouts: Record<string, string>;
  records: Record<string, string[]>;
}

/** What `order_now` created. */
export interface OrderResult {
  request: Row;
  items: Row[];
}

/** Options of {@link ServiceNowSandboxState}. */
export interface StateOptions {
  clock?: Clock;
  /** Enforce the normal change state model (default true). */
  strictChangeModel?: boolean;
  /** The instance's time zone (`glide.sys.default.tz`), for people without one of their own (default UTC). */
  timeZone?: string;
}

const SYS_SET = new Set(['sys_id', 'sys_class_name', 'sys_created_on', 'sys_created_by', 'sys_updated_on', 'sys_updated_by', 'sys_mod_count']);
const CLOSED_RITM_STATES = new Set(['3', '4', '7']);
const CLOSED_CHANGE_STATES = new Set(['3', '4']);

/** `YYYY-MM-DD HH:mm:ss` in UTC: how the platform stores and returns date-times. */
export function formatGlideDateTime(d: Date): string {
  return d.toISOString().slice(0, 19).replace('T', ' ');
}

/** A new 32-hex sys_id. */
export function newSysId(): string {
  return randomBytes(16).toString('hex');
}

const GLIDE_DATE_TIME = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/;
const SCHEDULE_DATE_TIME = /^\d{8}T\d{6}$/;

/** The ServiceNow sandbox's records and rules. */
export class ServiceNowSandboxState {
  readonly catalog = new TableCatalog();
  /** Every record by sys_id (a sys_id is unique across tables, as on the platform). */
  readonly records = new Map<string, Row>();
  /** Things the platform would do silently (unknown columns, unparsable dates, ignored query terms). */
  readonly warnings: string[] = [];
  /** Approval group per catalog item sys_id (what the item's flow would ask). */
  readonly itemApprovalGroups = new Map<string, string>();
  private readonly counters = new Map<string, number>();
  /** `<table>.<operation>` an ACL denies to API callers. */
  private readonly denied = new Set<string>();
  private readonly clock: Clock;
  private readonly strictChangeModel: boolean;
  private readonly timeZone: string;
  private readonly listener: (e: StateEvent) => void;
  /** Who acts when the sandbox itself writes (seeds). */
  systemUser: Row;

  /** `listener` hears every insert, update and delete (the Business Rule hook). */
  constructor(listener: (e: StateEvent) => void = () => undefined, options: StateOptions = {}) {
    this.listener = listener;
    this.clock = options.clock ?? systemClock;
    this.strictChangeModel = options.strictChangeModel ?? true;
    this.timeZone = options.timeZone ?? 'UTC';
    // The platform's own `system` account performs seeding; it has no password, so no API access.
    this.systemUser = { sys_id: '6816f79cc0a8016401c5a33be04be441', user_name: 'system', name: 'System Administrator', active: 'true' };
  }

  /** Now as a glide date-time. */
  now(): string {
    return formatGlideDateTime(this.clock.now());
  }

  /** Throws the platform's 400 for an unknown table. */
  assertTable(table: string): void {
    if (!this.catalog.has(table)) throw new ServiceNowApiError(400, `Invalid table ${table}`, '');
  }

  // --- access control -------------------------------------------------------------------

  /**
   * Denies an operation on a table to every API caller, as a missing ACL does on the platform
   * (`read`, `create`, `write`, `delete`); tables extending it are denied too.
   */
  deny(table: string, operations: AclOperation[]): void {
    this.assertTable(table);
    for (const op of operations) this.denied.add(`${table}.${op}`);
  }

  /** Throws the platform's 403 when an ACL denies `operation` on `table` (or a table it extends). */
  assertAllowed(table: string, operation: AclOperation): void {
    if (!this.catalog.has(table)) return;
    const hit = [...this.denied].find((d) => {
      const dot = d.lastIndexOf('.');
      return d.slice(dot + 1) === operation && this.catalog.isA(table, d.slice(0, dot));
    });
    if (!hit) return;
    if (operation === 'read') throw new ServiceNowApiError(403, 'User Not Authorized', 'Failed API level ACL Validation');
    const verb = { create: 'Insert', write: 'Update', delete: 'Delete' }[operation];
    throw new ServiceNowApiError(403, 'Operation Failed', `ACL Exception ${verb} Failed due to security constraints`);
  }

  /** Gives a user a role (the role is created when missing). */
  grantRole(userSysId: string, role: string): void {
    const sys = this.systemUser;
    const existing = this.all('sys_user_role').find((r) => r.name === role);
    const roleRow = existing ?? this.insert('sys_user_role', { name: role }, sys, { silent: true });
    this.insert('sys_user_has_role', { user: userSysId, role: roleRow.sys_id }, sys, { silent: true });
  }

  // --- reading --------------------------------------------------------------------------

  /** The record with this sys_id if it belongs to `table` (or a table extending it). */
  get(table: string, sysId: string): Row | undefined {
    const r = this.records.get(sysId);
    return r && this.catalog.isA(r.sys_class_name as string, table) ? r : undefined;
  }

  /** Like {@link get} but throws the platform's 404. */
  mustGet(table: string, sysId: string): Row {
    this.assertTable(table);
    const r = this.get(table, sysId);
    if (!r) throw new ServiceNowApiError(404, 'No Record found', "Record doesn't exist or ACL restricts the record retrieval");
    return r;
  }

  /** All records of a table (and tables extending it), in insertion order. */
  all(table: string): Row[] {
    return [...this.records.values()].filter((r) => this.catalog.isA(r.sys_class_name as string, table));
  }

  /** True when `path` (dot-walked through references) names a column of `table`. */
  knownField(table: string, path: string): boolean {
    let t: string | undefined = table;
    const segs = path.split('.');
    for (let k = 0; k < segs.length; k++) {
      if (!t || !this.catalog.has(t)) return false;
      const f = this.catalog.field(t, segs[k] as string);
      if (!f) return false;
      if (k < segs.length - 1) {
        if (f.type !== 'reference') return false;
        t = f.reference;
      }
    }
    return true;
  }

  /** Reads a dot-walked column ('' when any hop is empty or missing). */
  read(row: Row, path: string): string {
    let cur: Row | undefined = row;
    const segs = path.split('.');
    for (let k = 0; k < segs.length - 1; k++) {
      const v: string = cur?.[segs[k] as string] ?? '';
      cur = v ? this.records.get(v) : undefined;
      if (!cur) return '';
    }
    return cur?.[segs[segs.length - 1] as string] ?? '';
  }

  /** Parses an encoded query for a table (ignored terms are logged as warnings). */
  parseQuery(table: string, query: string): ParsedQuery {
    const q = parseEncodedQuery(query, (p) => this.knownField(table, p));
    for (const t of q.ignored) this.warnings.push(`${table}: ignored invalid query term "${t}"`);
    return q;
  }

  /** Records of a table matching an encoded query, ordered by its ORDERBY terms. */
  query(table: string, query = ''): Row[] {
    this.assertTable(table);
    const q = this.parseQuery(table, query);
    const rows = this.all(table).filter((r) => matchesQuery(q, (p) => this.read(r, p)));
    return sortByQuery(rows, q, (r, p) => this.read(r, p));
  }

  /** The display value of one column of a record. */
  displayValue(row: Row, field: string, def?: FieldDef): string {
    const table = row.sys_class_name as string;
    const f = def ?? this.catalog.field(table, field);
    const v = row[field] ?? '';
    if (!f) return v;
    switch (f.type) {
      case 'reference':
      case 'document_id': {
        const target = v ? this.records.get(v) : undefined;
        if (!target) return '';
        const dt = this.catalog.table(target.sys_class_name as string).displayField;
        return this.displayValue(target, dt);
      }
      case 'choice':
        return f.choices?.[v] ?? v;
      case 'journal':
        return this.journalText(row, field);
      case 'password':
        return '';
      default:
        return v;
    }
  }

  /** Journal entries of a record's column, newest first. */
  journal(row: Row, element: string): Row[] {
    return this.all('sys_journal_field')
      .filter((j) => j.element_id === row.sys_id && (element === 'comments_and_work_notes' ? j.element === 'comments' || j.element === 'work_notes' : j.element === element))
      .reverse();
  }

  /**
   * A journal column's display value as the platform renders it:
   * `<date> - <user name> (Work notes)\n<text>\n\n` per entry, newest first.
   */
  journalText(row: Row, element: string): string {
    const label = (e: string) => (e === 'work_notes' ? 'Work notes' : e === 'comments' ? 'Additional comments' : e);
    return this.journal(row, element)
      .map((j) => {
        const user = this.all('sys_user').find((u) => u.user_name === j.sys_created_by);
        return `${j.sys_created_on} - ${user?.name || j.sys_created_by} (${label(j.element as string)})\n${j.value}\n\n`;
      })
      .join('');
  }

  // --- users ------------------------------------------------------------------------------

  /** A user by user_name or sys_id. */
  user(idOrName: string): Row | undefined {
    const bySys = this.get('sys_user', idOrName);
    return bySys ?? this.all('sys_user').find((u) => u.user_name === idOrName);
  }

  /** Like {@link user} but throws. */
  mustUser(idOrName: string): Row {
    const u = this.user(idOrName);
    if (!u) throw new ServiceNowApiError(404, 'No Record found', `no sys_user ${idOrName}`);
    return u;
  }

  /** The active, unlocked user with these Basic credentials, or undefined. */
  authenticate(userName: string, password: string): Row | undefined {
    const u = this.all('sys_user').find((x) => x.user_name === userName);
    if (!u || !u.user_password || u.user_password !== password) return undefined;
    if (u.active !== 'true' || u.locked_out === 'true') return undefined;
    return u;
  }

  /** sys_ids of the active members of a group (by name or sys_id). */
  groupMembers(group: string): string[] {
    const g = this.get('sys_user_group', group) ?? this.all('sys_user_group').find((x) => x.name === group);
    if (!g) return [];
    return this.all('sys_user_grmember')
      .filter((m) => m.group === g.sys_id)
      .map((m) => m.user as string);
  }

  // --- writing ----------------------------------------------------------------------------

  /** Turns an incoming JSON value into the stored string, as the platform coerces it. */
  private toStored(table: string, name: string, f: FieldDef, raw: unknown): string | undefined {
    let v: unknown = raw;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const o = v as Record<string, unknown>;
      v = 'value' in o ? o.value : 'sys_id' in o ? o.sys_id : JSON.stringify(o);
    }
    if (Array.isArray(v)) v = v.map(String).join(',');
    let out = v === null || v === undefined ? '' : typeof v === 'string' ? v : String(v);
    switch (f.type) {
      case 'boolean':
        if (out === '1' || out.toLowerCase() === 'true') out = 'true';
        else if (out === '0' || out.toLowerCase() === 'false' || out === '') out = 'false';
        break;
      case 'reference':
        out = this.resolveReference(f.reference as string, out);
        break;
      case 'glide_date_time':
        if (out !== '' && !GLIDE_DATE_TIME.test(out)) {
          // The platform cannot parse it and leaves the column empty; say so for the tests.
          this.warnings.push(`${table}.${name}: "${out}" is not a date-time (YYYY-MM-DD HH:mm:ss); stored empty`);
          out = '';
        }
        break;
      case 'schedule_date_time':
        if (out !== '' && !SCHEDULE_DATE_TIME.test(out)) {
          this.warnings.push(`${table}.${name}: "${out}" is not a schedule date-time (yyyyMMddTHHmmss); stored empty`);
          out = '';
        }
        break;
    }
    return out;
  }

  /** A reference may be written as a sys_id or as the display value of the target. */
  private resolveReference(target: string, v: string): string {
    if (v === '' || !this.catalog.has(target) || this.get(target, v)) return v;
    const display = this.catalog.table(target).displayField;
    const hit = this.all(target).find((r) => r[display] === v || (target === 'sys_user' && r.user_name === v));
    return hit ? (hit.sys_id as string) : v;
  }

  private nextNumber(prefix: string): string {
    const n = (this.counters.get(prefix) ?? 10000) + 1;
    this.counters.set(prefix, n);
    return `${prefix}${String(n).padStart(7, '0')}`;
  }

  private writeJournal(row: Row, element: string, text: string, actor: Row): void {
    const now = this.now();
    const entry: Row = {
      sys_id: newSysId(),
      sys_class_name: 'sys_journal_field',
      element,
      element_id: row.sys_id as string,
      name: row.sys_class_name as string,
      value: text,
      sys_created_on: now,
      sys_created_by: actor.user_name as string,
      sys_updated_on: now,
      sys_updated_by: actor.user_name as string,
      sys_mod_count: '0',
      sys_tags: '',
    };
    this.records.set(entry.sys_id as string, entry);
  }

  /** Splits input into stored column values and journal entries; unknown columns are ignored. */
  private prepare(table: string, input: Record<string, unknown>): { values: Row; journal: Array<[string, string]> } {
    const fields = this.catalog.fields(table);
    const values: Row = {};
    const journal: Array<[string, string]> = [];
    for (const [name, raw] of Object.entries(input)) {
      const f = fields[name];
      if (!f) {
        this.warnings.push(`${table}: ignored unknown column "${name}"`);
        continue;
      }
      if (SYS_SET.has(name) && name !== 'sys_id') continue;
      const v = this.toStored(table, name, f, raw);
      if (v === undefined) continue;
      if (f.type === 'journal') {
        if (v.trim() !== '') journal.push([name, v]);
        continue;
      }
      values[name] = v;
    }
    return { values, journal };
  }

  /** Inserts a record as `actor`; returns it. */
  insert(table: string, input: Record<string, unknown>, actor: Row, options: { silent?: boolean } = {}): Row {
    this.assertTable(table);
    const fields = this.catalog.fields(table);
    const { values, journal } = this.prepare(table, input);
    const now = this.now();
    const ctx = { table, now, actorSysId: actor.sys_id as string, actorUserName: actor.user_name as string };
    const row: Row = {};
    for (const [name, f] of Object.entries(fields)) {
      const d = typeof f.default === 'function' ? f.default(ctx) : (f.default ?? '');
      row[name] = d;
    }
    Object.assign(row, values);
    row.sys_id = values.sys_id && /^[0-9a-f]{32}$/.test(values.sys_id) ? values.sys_id : newSysId();
    if (this.records.has(row.sys_id as string)) throw new ServiceNowApiError(403, 'Operation Failed', `Error during insert of ${table} (${row.sys_id}): a record with this sys_id exists`);
    row.sys_class_name = table;
    row.sys_created_on = now;
    row.sys_updated_on = now;
    row.sys_created_by = actor.user_name as string;
    row.sys_updated_by = actor.user_name as string;
    row.sys_mod_count = '0';
    const prefix = this.catalog.numberPrefix(table);
    if (prefix && 'number' in fields && !values.number) row.number = this.nextNumber(prefix);
    if (table === 'sys_user' && !values.name) row.name = [row.first_name, row.last_name].filter(Boolean).join(' ') || (row.user_name as string);
    this.beforeWrite(table, row, undefined, actor);
    this.records.set(row.sys_id as string, row);
    for (const [element, text] of journal) this.writeJournal(row, element, text, actor);
    if (!options.silent) this.listener({ operation: 'insert', table, record: { ...row }, changed: Object.keys(values).concat(journal.map(([e]) => e)), actor: actor.user_name as string });
    return row;
  }

  /**
   * Updates a record as `actor` (PUT and PATCH both update only the columns sent, as on the
   * platform). A write that changes nothing leaves sys columns alone and fires no rule.
   */
  update(table: string, sysId: string, input: Record<string, unknown>, actor: Row): Row {
    const row = this.mustGet(table, sysId);
    const cls = row.sys_class_name as string;
    const { values, journal } = this.prepare(cls, input);
    delete values.sys_id;
    const previous = { ...row };
    const next = { ...row, ...values };
    const changed = Object.keys(values).filter((k) => previous[k] !== values[k]);
    if (changed.length === 0 && journal.length === 0) return row;
    this.beforeWrite(cls, next, previous, actor);
    const allChanged = Object.keys(next).filter((k) => previous[k] !== next[k] && !SYS_SET.has(k));
    next.sys_updated_on = this.now();
    next.sys_updated_by = actor.user_name as string;
    next.sys_mod_count = String(Number(previous.sys_mod_count || '0') + 1);
    this.records.set(sysId, next);
    for (const [element, text] of journal) this.writeJournal(next, element, text, actor);
    this.listener({ operation: 'update', table: cls, record: { ...next }, previous, changed: allChanged.concat(journal.map(([e]) => e)), actor: actor.user_name as string });
    return next;
  }

  /** Deletes a record as `actor`. */
  delete(table: string, sysId: string, actor: Row): void {
    const row = this.mustGet(table, sysId);
    this.records.delete(sysId);
    this.listener({ operation: 'delete', table: row.sys_class_name as string, record: row, changed: [], actor: actor.user_name as string });
  }

  /**
   * The platform's before-rules the service meets: the normal change state model, planned
   * dates in order, and closing a task when it reaches a closed state.
   */
  private beforeWrite(table: string, row: Row, previous: Row | undefined, actor: Row): void {
    const abort = (rule: string, message: string) => {
      throw new ServiceNowApiError(
        403,
        'Operation Failed',
        `Operation against file '${table}' was aborted by Business Rule '${rule}^${row.sys_id}'. Business Rule Stack:${rule}. ${message}`,
      );
    };
    if (this.catalog.isA(table, 'change_request')) {
      if (previous && this.strictChangeModel && row.type === 'normal' && previous.state !== row.state) {
        const allowed = NORMAL_CHANGE_TRANSITIONS[previous.state as string] ?? [];
        if (!allowed.includes(row.state as string)) abort('State model - Can\'t change state', `A normal change cannot move from state ${previous.state} to ${row.state}.`);
      }
      if (row.start_date && row.end_date && row.end_date <= row.start_date) abort('Validate planned dates', 'Planned end date must be after planned start date.');
      if (CLOSED_CHANGE_STATES.has(row.state as string) && (!previous || !CLOSED_CHANGE_STATES.has(previous.state as string))) this.close(row, actor);
    }
    if (this.catalog.isA(table, 'sc_req_item') && CLOSED_RITM_STATES.has(row.state as string) && (!previous || !CLOSED_RITM_STATES.has(previous.state as string))) {
      this.close(row, actor);
      if (row.stage !== 'Request Cancelled') row.stage = row.state === '3' ? 'complete' : 'Request Cancelled';
    }
  }

  private close(row: Row, actor: Row): void {
    row.active = 'false';
    if (!row.closed_at) row.closed_at = this.now();
    if (!row.closed_by) row.closed_by = actor.sys_id as string;
  }

  // --- catalog ------------------------------------------------------------------------------

  /** Answer-holding variables of a catalog item, in order. */
  itemVariables(itemSysId: string): Row[] {
    return this.all('item_option_new')
      .filter((v) => v.cat_item === itemSysId && v.active === 'true' && !LAYOUT_VARIABLE_TYPES.has(v.type as string))
      .sort((a, b) => Number(a.order) - Number(b.order));
  }

  /**
   * `POST /api/sn_sc/servicecatalog/items/{sys_id}/order_now`: creates the request, one requested
   * item (carrying the quantity) and its variable values, as `actor`.
   */
  orderNow(itemSysId: string, input: { quantity?: unknown; variables?: unknown; requestedFor?: string }, actor: Row): OrderResult {
    const item = this.get('sc_cat_item', itemSysId);
    if (!item || item.active !== 'true') throw new ServiceNowApiError(400, 'Catalog Item not found', `No active catalog item with sys_id ${itemSysId}`);
    const quantity = input.quantity === undefined || input.quantity === '' ? 1 : Number(input.quantity);
    if (!Number.isInteger(quantity) || quantity < 1) throw new ServiceNowApiError(400, 'Invalid quantity', 'sysparm_quantity must be a positive whole number');
    if (input.variables !== undefined && (input.variables === null || typeof input.variables !== 'object' || Array.isArray(input.variables))) {
      throw new ServiceNowApiError(400, 'Invalid variables', 'variables must be an object of variable name to value');
    }
    const given = (input.variables ?? {}) as Record<string, unknown>;
    const vars = this.itemVariables(itemSysId);
    const values = new Map<string, string>();
    for (const v of vars) {
      const raw = given[v.name as string];
      values.set(v.sys_id as string, raw === undefined ? (v.default_value as string) : this.submittedValue(v, raw, actor));
    }
    const missing = vars.filter((v) => v.mandatory === 'true' && (values.get(v.sys_id as string) ?? '').trim() === '');
    if (missing.length) throw new ServiceNowApiError(400, 'Mandatory Variables are required', missing.map((v) => v.name).join(', '));
    for (const name of Object.keys(given)) if (!vars.some((v) => v.name === name)) this.warnings.push(`order_now ${item.name}: ignored unknown variable "${name}"`);
    const requestedFor = input.requestedFor ? this.mustUser(input.requestedFor) : actor;

    const request = this.insert('sc_request', { requested_for: requestedFor.sys_id, opened_by: actor.sys_id, short_description: item.name, price: item.price }, actor, { silent: true });
    // The item's rules fire once its variables exist, so the row is inserted silently and announced after.
    const ritm = this.insert(
      'sc_req_item',
      {
        request: request.sys_id,
        cat_item: item.sys_id,
        requested_for: requestedFor.sys_id,
        opened_by: actor.sys_id,
        quantity: String(quantity),
        short_description: item.short_description || item.name,
        price: item.price,
      },
      actor,
      { silent: true },
    );
    for (const v of vars) {
      const opt = this.insert('sc_item_option', { item_option_new: v.sys_id, value: values.get(v.sys_id as string) ?? '', order: v.order }, actor, { silent: true });
      this.insert('sc_item_option_mtom', { request_item: ritm.sys_id, sc_item_option: opt.sys_id }, actor, { silent: true });
    }
    this.listener({ operation: 'insert', table: 'sc_request', record: { ...request }, changed: Object.keys(request), actor: actor.user_name as string });
    this.listener({ operation: 'insert', table: 'sc_req_item', record: { ...ritm }, changed: Object.keys(ritm), actor: actor.user_name as string });
    const group = this.itemApprovalGroups.get(item.sys_id as string);
    if (group) this.requestApprovals(ritm.sys_id as string, { group }, this.systemUser);
    return { request: this.records.get(request.sys_id as string) as Row, items: [this.records.get(ritm.sys_id as string) as Row] };
  }

  /** Variable values of a requested item, by variable name. */
  variablesOf(ritmSysId: string): Record<string, string> {
    const out: Record<string, string> = {};
    for (const m of this.all('sc_item_option_mtom').filter((x) => x.request_item === ritmSysId)) {
      const opt = this.records.get(m.sc_item_option as string);
      const q = opt ? this.records.get(opt.item_option_new as string) : undefined;
      if (opt && q) out[q.name as string] = opt.value as string;
    }
    return out;
  }

  /** Edits variable values of a requested item as `actor` (unknown names are an error). */
  setVariables(ritmSysId: string, variables: Record<string, unknown>, actor: Row): void {
    const ritm = this.mustGet('sc_req_item', ritmSysId);
    const links = this.all('sc_item_option_mtom').filter((x) => x.request_item === ritm.sys_id);
    for (const [name, raw] of Object.entries(variables)) {
      const link = links.find((m) => this.read(m, 'sc_item_option.item_option_new.name') === name);
      if (!link) throw new ServiceNowApiError(400, 'Invalid variable', `${ritm.number} has no variable ${name}`);
      const variable = this.records.get(this.read(link, 'sc_item_option.item_option_new')) as Row;
      this.update('sc_item_option', link.sc_item_option as string, { value: this.submittedValue(variable, raw, actor) }, actor);
    }
  }

  /**
   * What the platform stores for a value a person submits for variable `v`: a list collector's
   * picks (choice values or sys_ids) as the sys_ids of the rows its reference qualifier offers;
   * a date/time, entered in the person's time zone (or given with an offset), in UTC; anything
   * else as text.
   */
  private submittedValue(v: Row, raw: unknown, actor: Row): string {
    if (raw === null || raw === undefined) return '';
    const parts = Array.isArray(raw) ? raw.map(String) : String(raw).split(',').map((x) => x.trim());
    if (v.type === '21' && v.list_table) return parts.filter(Boolean).map((p) => this.listPick(v, p)).join(',');
    const text = Array.isArray(raw) ? raw.map(String).join(',') : String(raw);
    if (v.type === '10' && text.trim() !== '') return this.utcDateTime(v, text.trim(), actor);
    return text;
  }

  /** The row of a list collector's table that `pick` names (sys_id, value or label), among those its qualifier offers. */
  private listPick(v: Row, pick: string): string {
    const offered = this.query(v.list_table as string, v.reference_qual ?? '');
    const hit = offered.find((r) => r.sys_id === pick) ?? offered.find((r) => r.value === pick) ?? offered.find((r) => r.text === pick);
    if (hit) return hit.sys_id as string;
    this.warnings.push(`${v.name}: "${pick}" is not offered by the list collector (${v.reference_qual || 'no qualifier'}); stored as given`);
    return pick;
  }

  /** A date/time entered by `actor` (in their time zone, else the instance's) as stored: UTC `YYYY-MM-DD HH:mm:ss`. */
  private utcDateTime(v: Row, text: string, actor: Row): string {
    const zone = actor.time_zone || this.timeZone;
    const withOffset = /(Z|[+-]\d\d:?\d\d)$/i.test(text);
    const t = DateTime.fromISO(text.replace(/^(\d{4}-\d\d-\d\d) /, '$1T'), withOffset ? { setZone: true } : { zone });
    if (!t.isValid) {
      this.warnings.push(`${v.name}: "${text}" is not a date-time; stored as given`);
      return text;
    }
    return t.toUTC().toFormat('yyyy-MM-dd HH:mm:ss');
  }

  // --- approvals ---------------------------------------------------------------------------

  /**
   * Creates `requested` approval records on a task for users and/or a group's active members,
   * as a flow's approval step does, and marks the task's approval as requested.
   */
  requestApprovals(taskSysId: string, who: { approvers?: string[]; group?: string }, actor: Row): Row[] {
    const task = this.mustGet('task', taskSysId);
    const ids = new Set<string>();
    for (const a of who.approvers ?? []) ids.add(this.mustUser(a).sys_id as string);
    if (who.group) {
      const members = this.groupMembers(who.group);
      if (!this.all('sys_user_group').some((g) => g.name === who.group || g.sys_id === who.group)) throw new ServiceNowApiError(404, 'No Record found', `no sys_user_group ${who.group}`);
      for (const m of members) if (this.records.get(m)?.active === 'true') ids.add(m);
    }
    const out: Row[] = [];
    for (const id of ids) {
      out.push(
        this.insert(
          'sysapproval_approver',
          { approver: id, state: 'requested', sysapproval: task.sys_id, document_id: task.sys_id, source_table: task.sys_class_name, approval_source: who.group ?? '' },
          actor,
        ),
      );
    }
    if (out.length && task.approval !== 'requested') {
      const values: Record<string, string> = { approval: 'requested' };
      if (task.sys_class_name === 'sc_req_item') values.stage = 'waiting_for_approval';
      this.update('task', task.sys_id as string, values, actor);
    }
    return out;
  }

  /** Approval records of a task. */
  approvalsFor(taskSysId: string): Row[] {
    return this.all('sysapproval_approver').filter((a) => a.sysapproval === taskSysId);
  }

  /** Approves or rejects an approval record as `actor` (comments go to its journal). */
  decide(approvalSysId: string, decision: 'approved' | 'rejected', actor: Row, comments?: string): Row {
    const a = this.mustGet('sysapproval_approver', approvalSysId);
    if (a.state !== 'requested') throw new ServiceNowApiError(403, 'Operation Failed', `approval ${approvalSysId} is ${a.state}, not requested`);
    return this.update('sysapproval_approver', approvalSysId, { state: decision, ...(comments ? { comments } : {}) }, actor);
  }

  // --- seeding ------------------------------------------------------------------------------

  /** Adds seed data; returns the sys_ids created. */
  seed(seed: ServiceNowSeed): SeedResult {
    const out: SeedResult = { users: {}, groups: {}, catalogItems: {}, variables: {}, blackouts: {}, records: {} };
    const sys = this.systemUser;
    const groupId = (name: string): string => {
      const g = this.all('sys_user_group').find((x) => x.name === name);
      if (g) return g.sys_id as string;
      const created = this.insert('sys_user_group', { name }, sys, { silent: true });
      out.groups[name] = created.sys_id as string;
      return created.sys_id as string;
    };
    for (const g of seed.groups ?? []) {
      const existing = this.all('sys_user_group').find((x) => x.name === g.name);
      const row = existing ?? this.insert('sys_user_group', { name: g.name, description: g.description ?? '', active: g.active ?? true, ...(g.sys_id ? { sys_id: g.sys_id } : {}) }, sys, { silent: true });
      out.groups[g.name] = row.sys_id as string;
    }
    for (const u of seed.users ?? []) {
      const [first, ...rest] = (u.name ?? u.user_name).split(' ');
      const row = this.insert(
        'sys_user',
        {
          user_name: u.user_name,
          name: u.name ?? u.user_name,
          first_name: u.first_name ?? first,
          last_name: u.last_name ?? rest.join(' '),
          email: u.email ?? '',
          active: u.active ?? true,
          user_password: u.password ?? '',
          time_zone: u.time_zone ?? '',
          ...(u.sys_id ? { sys_id: u.sys_id } : {}),
        },
        sys,
        { silent: true },
      );
      out.users[u.user_name] = row.sys_id as string;
      for (const g of u.groups ?? []) this.insert('sys_user_grmember', { user: row.sys_id, group: groupId(g) }, sys, { silent: true });
      for (const r of u.roles ?? []) this.grantRole(row.sys_id as string, r);
    }
    for (const g of seed.groups ?? []) {
      for (const m of g.members ?? []) this.insert('sys_user_grmember', { user: this.mustUser(m).sys_id, group: groupId(g.name) }, sys, { silent: true });
    }
    for (const item of seed.catalogItems ?? []) {
      const row = this.insert(
        'sc_cat_item',
        { name: item.name, short_description: item.short_description ?? item.name, description: item.description ?? '', active: item.active ?? true, ...(item.sys_id ? { sys_id: item.sys_id } : {}) },
        sys,
        { silent: true },
      );
      out.catalogItems[item.name] = row.sys_id as string;
      if (item.approvalGroup) this.itemApprovalGroups.set(row.sys_id as string, item.approvalGroup);
      (item.variables ?? []).forEach((v, k) => {
        const q = this.insert(
          'item_option_new',
          {
            cat_item: row.sys_id,
            name: v.name,
            question_text: v.question_text ?? v.name,
            type: v.type ?? 6,
            mandatory: v.mandatory ?? false,
            default_value: v.default_value ?? '',
            order: v.order ?? (k + 1) * 100,
          },
          sys,
          { silent: true },
        );
        out.variables[`${item.name}.${v.name}`] = q.sys_id as string;
        (v.choices ?? []).forEach((c, n) =>
          this.insert('question_choice', { question: q.sys_id, value: c.value, text: c.text ?? c.value, order: (n + 1) * 100, inactive: c.inactive ?? false }, sys, { silent: true }),
        );
      });
    }
    for (const b of seed.blackouts ?? []) {
      const sched = this.insert('cmn_schedule_blackout', { name: b.name, type: 'blackout', time_zone: b.time_zone ?? 'UTC' }, sys, { silent: true });
      out.blackouts[b.name] = sched.sys_id as string;
      for (const s of b.spans) {
        this.insert(
          'cmn_schedule_span',
          { schedule: sched.sys_id, name: s.name ?? b.name, start_date_time: toScheduleDateTime(s.start), end_date_time: toScheduleDateTime(s.end) },
          sys,
          { silent: true },
        );
      }
    }
    for (const [table, rows] of Object.entries(seed.records ?? {})) {
      out.records[table] = rows.map((r) => this.insert(table, r, sys, { silent: true }).sys_id as string);
    }
    return out;
  }
}

/** `YYYY-MM-DD HH:mm:ss` (or already `yyyyMMddTHHmmss`) -> the schedule entry format. */
export function toScheduleDateTime(v: string): string {
  if (SCHEDULE_DATE_TIME.test(v)) return v;
  const m = /^(\d{4})-(\d\d)-(\d\d)[ T](\d\d):(\d\d)(?::(\d\d))?$/.exec(v);
  if (!m) throw new Error(`blackout span time "${v}": expected YYYY-MM-DD HH:mm:ss`);
  return `${m[1]}${m[2]}${m[3]}T${m[4]}${m[5]}${m[6] ?? '00'}`;
}
