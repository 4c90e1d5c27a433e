/**
 * What the shipped Business Rule (integrations/servicenow/ticket-surface-business-rule.js)
 * decides for a change, in TypeScript, so the sandbox sends the same webhook the script would:
 *
 * - `sc_req_item` inserted -> `ritm.inserted`
 * - `sc_req_item` updated -> `work_note.added` when only journal columns (work notes, comments)
 *   changed, otherwise `ritm.updated`
 * - `sysapproval_approver` updated with a new state -> `approval.updated`
 * - `sc_item_option` value updated (a variable edited) -> `ritm.updated` for its requested item
 * - nothing for changes made by the integration user (the service's own writes)
 *
 * The body is `JSON.stringify({ event_id, event, table, sys_id, sys_updated_on })` in that key
 * order; a test runs the real script in a VM and compares bytes.
 */
import type { Row, StateEvent } from './state.ts';

/** Events the Business Rule sends. */
export type WebhookEventName = 'ritm.inserted' | 'ritm.updated' | 'approval.updated' | 'work_note.added';

/** The webhook body, in the key order the script writes it. */
export interface WebhookPayload {
  /** 32 hex characters (`gs.generateGUID()`), the same on every retry. */
  event_id: string;
  event: WebhookEventName;
  table: string;
  sys_id: string;
  /** The record's `sys_updated_on` (`YYYY-MM-DD HH:mm:ss`, UTC). */
  sys_updated_on: string;
}

/**
 * Columns of sc_req_item whose change makes an update `ritm.updated` even when a journal entry
 * was written in the same save (the script checks the same list with `changes()`).
 */
export const TRACKED_RITM_COLUMNS = [
  'state',
  'stage',
  'approval',
  'active',
  'cat_item',
  'requested_for',
  'quantity',
  'short_description',
  'description',
  'assigned_to',
  'assignment_group',
];

/** Journal columns whose entries count as `work_note.added`. */
export const JOURNAL_COLUMNS = ['work_notes', 'comments'];

/** One webhook to send: the event and the record it is about. */
export interface BusinessRuleDecision {
  event: WebhookEventName;
  table: string;
  record: Row;
}

/**
 * The Business Rule's decision for one change; `findRitms(optionSysId)` gives the requested
 * items an `sc_item_option` belongs to (through `sc_item_option_mtom`).
 */
export function decideWebhooks(e: StateEvent, integrationUser: string | undefined, findRitms: (optionSysId: string) => Row[]): BusinessRuleDecision[] {
  if (integrationUser && e.actor === integrationUser) return [];
  if (e.table === 'sc_req_item') {
    if (e.operation === 'insert') return [{ event: 'ritm.inserted', table: 'sc_req_item', record: e.record }];
    if (e.operation !== 'update') return [];
    const journal = e.changed.some((c) => JOURNAL_COLUMNS.includes(c));
    const tracked = e.changed.some((c) => TRACKED_RITM_COLUMNS.includes(c));
    return [{ event: journal && !tracked ? 'work_note.added' : 'ritm.updated', table: 'sc_req_item', record: e.record }];
  }
  if (e.table === 'sysapproval_approver' && e.operation === 'update' && e.changed.includes('state')) {
    return [{ event: 'approval.updated', table: 'sysapproval_approver', record: e.record }];
  }
  if (e.table === 'sc_item_option' && e.operation === 'update' && e.changed.includes('value')) {
    return findRitms(e.record.sys_id as string).map((r) => ({ event: 'ritm.updated' as const, table: 'sc_req_item', record: r }));
  }
  return [];
}

/** The exact body bytes the script sends. */
export function webhookBody(payload: WebhookPayload): string {
  const { event_id, event, table, sys_id, sys_updated_on } = payload;
  return JSON.stringify({ event_id, event, table, sys_id, sys_updated_on });
}
