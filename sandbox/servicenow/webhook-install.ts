/**
 * The records an administrator creates on an instance when installing the webhook as
 * integrations/servicenow/README.md describes: the system properties, the Script Include holding
 * the shipped script, the event registration, the Script Action, and the three "after" Business
 * Rules. The sandbox keeps them as records only (its webhooks are sent by `business-rule.ts`
 * whatever these say); `ticket-surface doctor --surface servicenow` reads them, so a test can
 * install them, deactivate one or leave one out.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { ServiceNowSandboxState } from './state.ts';

/** What the installation points at. */
export interface WebhookInstallOptions {
  /** `x_ticket_surface.url`: where the Script Action posts. */
  url: string;
  /** `x_ticket_surface.integration_user`: whose changes send nothing. */
  integrationUser: string;
  /** Leave out the shared secret property (the Basic auth fallback is used instead). */
  withoutSecret?: boolean;
}

/** sys_ids of what was installed, for tests that break one piece. */
export interface InstalledWebhook {
  /** Business Rules by table (`sc_req_item`, `sysapproval_approver`, `sc_item_option`). */
  rules: Record<string, string>;
  scriptInclude: string;
  scriptAction: string;
  /** System properties by name. */
  properties: Record<string, string>;
}

/** The shipped script, as pasted into the Script Include. */
const SCRIPT_URL = new URL('../../integrations/servicenow/ticket-surface-business-rule.js', import.meta.url);

/** The Business Rules' script (README step 5). */
export const BUSINESS_RULE_SCRIPT = `(function executeRule(current, previous /*null when async*/) {
  new TicketSurfaceWebhook().onChange(current);
})(current, previous);`;

/** The three rules: table, name and which operations fire them. */
export const WEBHOOK_RULES = [
  { table: 'sc_req_item', name: 'ticket-surface: requested item', insert: true, update: true },
  { table: 'sysapproval_approver', name: 'ticket-surface: approval', insert: false, update: true },
  { table: 'sc_item_option', name: 'ticket-surface: variable', insert: false, update: true },
] as const;

/** Creates the installation's records as the platform's `system` account (no webhook is sent). */
export function installWebhookRecords(state: ServiceNowSandboxState, options: WebhookInstallOptions): InstalledWebhook {
  const sys = state.systemUser;
  const insert = (table: string, values: Record<string, unknown>): string => state.insert(table, values, sys, { silent: true }).sys_id as string;
  const properties: Record<string, string> = {};
  const property = (name: string, type: string, value: string) => (properties[name] = insert('sys_properties', { name, type, value, read_roles: type === 'password2' ? 'admin' : '' }));
  property('x_ticket_surface.url', 'string', options.url);
  // A password2 value reads back encrypted: the secret itself is never served.
  if (!options.withoutSecret) property('x_ticket_surface.secret', 'password2', randomBytes(24).toString('base64'));
  property('x_ticket_surface.integration_user', 'string', options.integrationUser);
  const scriptInclude = insert('sys_script_include', { name: 'TicketSurfaceWebhook', api_name: 'global.TicketSurfaceWebhook', access: 'public', script: readFileSync(SCRIPT_URL, 'utf8') });
  insert('sysevent_register', { event_name: 'x_ticket_surface.webhook', description: 'ticket-surface webhook, parm1 = body, parm2 = event name' });
  const scriptAction = insert('sysevent_script_action', { name: 'ticket-surface webhook delivery', event_name: 'x_ticket_surface.webhook', script: 'new TicketSurfaceWebhook().deliver(event.parm1);' });
  const rules: Record<string, string> = {};
  for (const r of WEBHOOK_RULES) {
    rules[r.table] = insert('sys_script', { name: r.name, collection: r.table, advanced: true, when: 'after', action_insert: r.insert, action_update: r.update, script: BUSINESS_RULE_SCRIPT });
  }
  return { rules, scriptInclude, scriptAction, properties };
}
