/**
 * `ticket-surface doctor --surface servicenow`: reads a live instance's set-up and compares it
 * with what the service needs, without writing anything. It checks, in order: the credentials
 * log in (Basic, or OAuth as configured) and the instance's clock (its `Date` header) agrees with
 * ours; the integration user holds the roles whose ACLs let it write (`itil` for requested items,
 * work notes, approvals and change requests, `catalog_admin` for the forms sync; `admin` covers
 * both); it may read every table the service reads (a table an ACL hides answers 403); the
 * catalog items and variables the forms sync keeps exist and are active; and the webhook is
 * installed as integrations/servicenow/README.md says: the three "after" Business Rules calling
 * the Script Include, the Script Include and the Script Action active, and the system properties
 * pointing at the service's `/webhooks/servicenow` with the secret and the integration user.
 * Writes cannot be tried without writing, which is why they are checked through roles. Each
 * problem says how to fix it.
 */
import { ServiceNowApiError, ServiceNowAuthError, type ServiceNowClient, type ServiceNowCredentials, type ServiceNowRow } from './client.ts';
import { checkClockSkew, DoctorReportBuilder, type DoctorReport } from '../shared/doctor.ts';
import type { ServiceNowSurfaceConfig } from './config.ts';
import { managedMarker, type ServiceNowItemDefinition } from './forms-sync.ts';

/** Roles the integration user needs, and what their ACLs let it do. */
const ROLES: Readonly<Record<string, string>> = {
  itil: 'write requested items, work notes, approvals and change requests',
  catalog_admin: 'create and update catalog items and variables for the forms sync',
};

/** The Business Rules the webhook needs: table, and the operations that must fire them. */
const RULES = [
  { table: 'sc_req_item', insert: true, update: true },
  { table: 'sysapproval_approver', insert: false, update: true },
  { table: 'sc_item_option', insert: false, update: true },
] as const;

const SCRIPT_INCLUDE = 'TicketSurfaceWebhook';
const WEBHOOK_EVENT = 'x_ticket_surface.webhook';
const PROPERTY_PREFIX = 'x_ticket_surface.';
const GUIDE = 'integrations/servicenow/README.md';

/** A table the service reads, and why. */
interface NeededTable {
  table: string;
  why: string;
}

/** Dependencies of {@link ServiceNowDoctor}. */
export interface ServiceNowDoctorDeps {
  client: ServiceNowClient;
  config: ServiceNowSurfaceConfig;
  /** How the service logs in (the fixes name the settings to change). */
  credentials: ServiceNowCredentials;
  /** user_name of the integration user (SERVICENOW_USER; with the client credentials grant, the OAuth entry's application user). */
  user?: string;
  /** The instance URL, for the report. */
  site: string;
  /** The catalog items the forms sync keeps; without them the catalog is not checked. */
  items?: ServiceNowItemDefinition[];
  /** The Business Rule delivers with Basic auth (SERVICENOW_WEBHOOK_USER) rather than a signature. */
  webhookBasic?: boolean;
  /** Our clock, compared with the instance's `Date` header. */
  now(): Date;
}

/** Runs the read-only checks of a ServiceNow instance (see the module notes). */
export class ServiceNowDoctor {
  private readonly out: DoctorReportBuilder;
  private readonly user?: string;

  constructor(private readonly deps: ServiceNowDoctorDeps) {
    this.out = new DoctorReportBuilder('ServiceNow', deps.site);
    this.user = deps.user;
  }

  /** Every check; stops after the credentials when they are refused (nothing else can be read). */
  async run(): Promise<DoctorReport> {
    const me = await this.checkCredentials();
    if (me === false) return this.out.build();
    if (me) await this.checkRoles(me);
    await this.checkTables();
    if (this.deps.items) await this.checkCatalog(this.deps.items);
    await this.checkBusinessRules();
    await this.checkScripts();
    await this.checkProperties();
    return this.out.build();
  }

  /** The login works (false when refused); the integration user's record when it can be read. */
  private async checkCredentials(): Promise<ServiceNowRow | undefined | false> {
    try {
      const { row, date } = await this.deps.client.probe('sys_user', this.user ? `user_name=${this.user}` : '', ['sys_id', 'user_name', 'name']);
      const how = this.deps.credentials.kind === 'basic' ? 'Basic' : `OAuth (${this.deps.credentials.grant} grant)`;
      this.out.ok('credentials', `${how} logs in${this.user ? ` as ${row?.name || this.user}` : ''}`);
      checkClockSkew(this.out, date, this.deps.now());
      return this.user ? row : undefined;
    } catch (err) {
      if (err instanceof ServiceNowApiError && err.status === 403) {
        this.out.ok('credentials', 'accepted (sys_user may not be read, so the clock and roles are not checked)');
        return undefined;
      }
      if (!isLoginRefusal(err)) throw err;
      this.out.problem('credentials', `ServiceNow refused the login (${(err as Error).message})`, loginFix(this.deps.credentials));
      return false;
    }
  }

  /** The integration user holds itil and catalog_admin (or admin). */
  private async checkRoles(me: ServiceNowRow): Promise<void> {
    const { client } = this.deps;
    const names = await this.readable('roles', 'sys_user_has_role', async () => {
      const held = await client.list('sys_user_has_role', { query: `user=${me.sys_id}^state=active`, fields: ['role'] });
      const ids = [...new Set(held.map((h) => h.role).filter(Boolean))];
      if (!ids.length) return new Set<string>();
      return new Set((await client.list('sys_user_role', { query: `sys_idIN${ids.join(',')}`, fields: ['name'] })).map((r) => r.name));
    });
    if (!names) return;
    const lacking = names.has('admin') ? [] : Object.keys(ROLES).filter((r) => !names.has(r));
    if (!lacking.length) {
      this.out.ok('roles', `${this.user} holds ${names.has('admin') ? 'admin' : Object.keys(ROLES).join(' and ')}`);
      return;
    }
    const why = lacking.map((r) => `${r} (to ${ROLES[r]})`).join(', ');
    this.out.problem('roles', `${this.user} lacks the role ${why}`, `User Administration → Users → ${this.user} → Roles → Edit: add ${lacking.join(' and ')}`);
  }

  /** Every table the service reads answers a one-row read (403: an ACL hides it; 400: no such table). */
  private async checkTables(): Promise<void> {
    const tables = neededTables(this.deps.config);
    let problems = 0;
    for (const { table, why } of tables) {
      try {
        await this.deps.client.probe(table);
      } catch (err) {
        if (!(err instanceof ServiceNowApiError) || (err.status !== 403 && err.status !== 400)) throw err;
        problems++;
        if (err.status === 400) this.out.problem('tables', `the instance has no table ${table} (to ${why})`, `activate the plugin that provides ${table}${table === 'change_request' ? ' (Change Management), or set changes.enabled: false in SERVICENOW_CONFIG_FILE' : ''}`);
        else this.out.problem('tables', `an ACL denies ${this.account()} reading ${table} (to ${why})`, `System Security → Access Control (ACL): add a read ACL on ${table} for a role ${this.account()} holds, or give it the itil role; check Allow access to this table via web services in the table's Application Access`);
      }
    }
    if (!problems) this.out.ok('tables', `${this.account()} reads all ${tables.length} tables the service uses`);
  }

  /** Each item the forms sync keeps exists (marked as ours), is active, and has its questions. */
  private async checkCatalog(items: ServiceNowItemDefinition[]): Promise<void> {
    const { client } = this.deps;
    const fix = 'run `ticket-surface forms sync --surface servicenow`';
    let problems = 0;
    for (const { key, spec } of items) {
      const named = await this.readable('catalog', 'sc_cat_item', () => client.list('sc_cat_item', { query: `name=${spec.item.name.replace(/\^/g, '^^')}`, fields: ['sys_id', 'name', 'active', 'description'] }));
      if (!named) return;
      const item = named.find((r) => (r.description ?? '').includes(managedMarker(key)));
      const problem = (text: string) => (problems++, this.out.problem('catalog', text, fix));
      if (!item) {
        problem(`catalog item "${spec.item.name}" (${key}) does not exist`);
        continue;
      }
      if (spec.item.active && item.active !== 'true') problem(`catalog item "${spec.item.name}" is inactive`);
      const vars = await client.list('item_option_new', { query: `cat_item=${item.sys_id}^active=true`, fields: ['name'] });
      const have = new Set(vars.map((v) => v.name));
      const missing = spec.variables.filter((v) => v.formField && v.record.active && !have.has(v.record.name)).map((v) => v.record.name);
      if (missing.length) problem(`catalog item "${spec.item.name}" lacks the variable${missing.length === 1 ? '' : 's'} ${missing.join(', ')}`);
    }
    if (!problems) this.out.ok('catalog', `${items.length} catalog item${items.length === 1 ? '' : 's'} with their variables, as the forms sync keeps them`);
  }

  /** The three "after" Business Rules calling the Script Include, active, firing on the right operations. */
  private async checkBusinessRules(): Promise<void> {
    const query = `collectionIN${RULES.map((r) => r.table).join(',')}^scriptLIKE${SCRIPT_INCLUDE}`;
    const rules = await this.readable('business rule', 'sys_script', () => this.deps.client.list('sys_script', { query, fields: ['name', 'collection', 'active', 'when', 'action_insert', 'action_update'] }));
    if (!rules) return;
    let problems = 0;
    const problem = (text: string, fix: string) => (problems++, this.out.problem('business rule', text, fix));
    for (const want of RULES) {
      const ops = [want.insert ? 'Insert' : '', want.update ? 'Update' : ''].filter(Boolean).join(' and ');
      const onTable = rules.filter((r) => r.collection === want.table);
      const rule = onTable.find((r) => r.active === 'true') ?? onTable[0];
      if (!rule) {
        problem(`no Business Rule on ${want.table} calls ${SCRIPT_INCLUDE}`, `System Definition → Business Rules → New: table ${want.table}, Advanced, When after, ${ops}, the script of ${GUIDE} step 5`);
        continue;
      }
      const open = `System Definition → Business Rules → "${rule.name}"`;
      if (rule.active !== 'true') problem(`Business Rule "${rule.name}" on ${want.table} is inactive: its changes send no webhook`, `${open}: tick Active`);
      if (rule.when !== 'after') problem(`Business Rule "${rule.name}" runs ${rule.when || 'before'}, not after (the script needs changes())`, `${open}: set When to after`);
      const lacking = [want.insert && rule.action_insert !== 'true' ? 'Insert' : '', want.update && rule.action_update !== 'true' ? 'Update' : ''].filter(Boolean);
      if (lacking.length) problem(`Business Rule "${rule.name}" does not run on ${lacking.join(' and ')}`, `${open}: tick ${lacking.join(' and ')}`);
    }
    if (!problems) this.out.ok('business rule', `active "after" rules on ${RULES.map((r) => r.table).join(', ')} call ${SCRIPT_INCLUDE}`);
  }

  /** The Script Include and the Script Action that delivers the queued event, both active. */
  private async checkScripts(): Promise<void> {
    const { client } = this.deps;
    const include = await this.readable('business rule', 'sys_script_include', () => client.list('sys_script_include', { query: `name=${SCRIPT_INCLUDE}`, fields: ['name', 'active'] }));
    if (include) {
      const active = include.find((r) => r.active === 'true');
      if (active) this.out.ok('script include', `${SCRIPT_INCLUDE} is active`);
      else this.out.problem('script include', include.length ? `Script Include ${SCRIPT_INCLUDE} is inactive` : `there is no Script Include ${SCRIPT_INCLUDE}`, `System Definition → Script Includes: ${include.length ? 'tick Active' : `create it with the content of integrations/servicenow/ticket-surface-business-rule.js (${GUIDE} step 2)`}`);
    }
    const actions = await this.readable('business rule', 'sysevent_script_action', () => client.list('sysevent_script_action', { query: `event_name=${WEBHOOK_EVENT}`, fields: ['name', 'active'] }));
    if (!actions) return;
    if (actions.some((a) => a.active === 'true')) this.out.ok('script action', `delivers ${WEBHOOK_EVENT}`);
    else this.out.problem('script action', actions.length ? `the Script Action "${actions[0]!.name}" is inactive: events are queued but never sent` : `no Script Action handles ${WEBHOOK_EVENT}: events are queued but never sent`, `System Policy → Events → Script Actions: ${actions.length ? 'tick Active' : `create it (${GUIDE} steps 3 and 4)`}`);
  }

  /** x_ticket_surface.url points at the service's webhook; the secret and the integration user are set. */
  private async checkProperties(): Promise<void> {
    const rows = await this.readable('properties', 'sys_properties', () => this.deps.client.list('sys_properties', { query: `nameSTARTSWITH${PROPERTY_PREFIX}`, fields: ['name', 'value'] }));
    if (!rows) return;
    const props = new Map(rows.map((r) => [r.name, r.value ?? '']));
    const fix = (name: string, value: string) => `System Properties → All Properties (sys_properties.list): set ${name} to ${value} (${GUIDE} step 1)`;
    let problems = 0;
    const problem = (text: string, how: string) => (problems++, this.out.problem('properties', text, how));
    const url = props.get(`${PROPERTY_PREFIX}url`);
    const expected = this.deps.config.webhookUrl;
    const shown = expected ?? 'https://<your service>/webhooks/servicenow';
    if (!url) problem(`${PROPERTY_PREFIX}url is not set: the Business Rule has nowhere to send`, fix(`${PROPERTY_PREFIX}url`, shown));
    else if (expected ? url !== expected : !/\/webhooks\/servicenow\/?$/.test(safePath(url))) problem(`${PROPERTY_PREFIX}url is ${url}, not ${expected ?? 'the service’s /webhooks/servicenow'}`, fix(`${PROPERTY_PREFIX}url`, shown));
    else if (!url.startsWith('https://')) problem(`${PROPERTY_PREFIX}url is ${url}: webhooks would travel unencrypted`, fix(`${PROPERTY_PREFIX}url`, 'an https:// URL of the service'));
    if (this.deps.webhookBasic) {
      if (!props.get(`${PROPERTY_PREFIX}basic_user`)) problem(`${PROPERTY_PREFIX}basic_user is not set, but the service expects Basic auth on its webhook`, fix(`${PROPERTY_PREFIX}basic_user`, 'SERVICENOW_WEBHOOK_USER'));
    } else if (!props.get(`${PROPERTY_PREFIX}secret`)) {
      problem(`${PROPERTY_PREFIX}secret is not set: deliveries cannot be signed`, fix(`${PROPERTY_PREFIX}secret`, 'the value of SERVICENOW_WEBHOOK_SECRET (type password2, read role admin)'));
    }
    const integration = props.get(`${PROPERTY_PREFIX}integration_user`);
    if (this.user && integration !== this.user) problem(`${PROPERTY_PREFIX}integration_user is ${integration ? `"${integration}"` : 'not set'}, not ${this.user}: the service’s own writes would come back as webhooks`, fix(`${PROPERTY_PREFIX}integration_user`, this.user));
    if (!problems) this.out.ok('properties', `webhooks go to ${url}, ${this.deps.webhookBasic ? 'with Basic auth' : 'signed (the secret cannot be read back: SERVICENOW_WEBHOOK_SECRET must equal it)'}`);
  }

  /** A read that an ACL may deny (system tables need admin): a 403 is a problem saying so. */
  private async readable<T>(check: string, table: string, read: () => Promise<T>): Promise<T | undefined> {
    try {
      return await read();
    } catch (err) {
      if (!(err instanceof ServiceNowApiError && err.status === 403)) throw err;
      this.out.problem(check, `${this.account()} may not read ${table}, so this could not be checked`, `run the doctor with an administrator's credentials, or add a read ACL on ${table} for a role ${this.account()} holds`);
      return undefined;
    }
  }

  private account(): string {
    return this.user ?? 'the OAuth application user';
  }
}

/** The tables the service reads with this configuration, and why. */
function neededTables(config: ServiceNowSurfaceConfig): NeededTable[] {
  const tables: NeededTable[] = [
    { table: 'sc_req_item', why: 'read and update requested items' },
    { table: 'sc_item_option_mtom', why: 'read the answers of requested items' },
    { table: 'sys_journal_field', why: 'read work notes and comments' },
    { table: 'sysapproval_approver', why: 'read and record approvals' },
    { table: 'sys_user', why: 'know who acts' },
    { table: 'sys_user_grmember', why: 'check approvers’ groups' },
    { table: 'sc_cat_item', why: 'keep the catalog items (forms sync)' },
    { table: 'item_option_new', why: 'keep the variables (forms sync)' },
    { table: 'question_choice', why: 'keep the choices (forms sync)' },
    { table: 'question_regex', why: 'keep the validation regexes (forms sync)' },
  ];
  if (config.catalog.catalog) tables.push({ table: 'sc_catalog', why: 'publish items in the configured catalog' });
  if (config.catalog.category) tables.push({ table: 'sc_category', why: 'publish items in the configured category' });
  if (config.changes.enabled) tables.push({ table: 'change_request', why: 'open change requests for production' });
  if (config.blackouts.enabled) tables.push({ table: 'cmn_schedule_blackout', why: 'read blackout schedules' }, { table: 'cmn_schedule_span', why: 'read blackout spans' });
  return tables;
}

/** A refused login: 401 on a call, or the token endpoint refusing the client or grant. */
function isLoginRefusal(err: unknown): boolean {
  if (err instanceof ServiceNowAuthError) return true;
  return err instanceof ServiceNowApiError && err.operation.includes('/oauth_token.do');
}

/** How to fix a refused login, for the configured kind. */
function loginFix(c: ServiceNowCredentials): string {
  if (c.kind === 'basic') return 'set SERVICENOW_USER to the integration user’s user_name and SERVICENOW_PASSWORD to its password; check the user is active and not locked out';
  const entry = 'System OAuth → Application Registry: check the entry’s Client ID and Client Secret equal SERVICENOW_OAUTH_CLIENT_ID and SERVICENOW_OAUTH_CLIENT_SECRET and that it is active';
  if (c.grant === 'password') return `${entry}; SERVICENOW_USER and SERVICENOW_PASSWORD must be the integration user’s`;
  return `${entry}; the client credentials grant needs the system property glide.oauth.inbound.client.credential.grant_type.enabled = true and the entry’s OAuth Application User set`;
}

function safePath(url: string): string {
  try {
    return new URL(url).pathname;
  } catch {
    return url;
  }
}
