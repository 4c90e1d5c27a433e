/**
 * Production changes in ServiceNow: one normal `change_request` per requested item, linked to it
 * (`parent`), with planned start and end inside the change window the engine will use, walked
 * through the normal change state model as the request moves:
 *
 *   awaiting approval → New → Assess → Authorize
 *   approved / scheduled → Scheduled
 *   applying → Implement
 *   applied → Review → Closed (successful)
 *   rejected / cancelled → Canceled
 *
 * The instance enforces the state model (one step at a time, back to New only from Assess,
 * Authorize and Scheduled), so every move is one PATCH per step. A new plan after the change was
 * scheduled moves it back to New and forward again with the new dates.
 */
import type { Logger } from '../../engine/logger.ts';
import type { Clock, Request, RequestState } from '../../engine/model.ts';
import type { SurfaceIdStore } from '../../engine/surface-ids.ts';
import type { RequestView } from '../shared/request-view.ts';
import type { ServiceNowClient, ServiceNowRow } from './client.ts';
import type { ServiceNowSurfaceConfig } from './config.ts';

/** change_request.state codes of the normal change model. */
export const CHANGE_STATE = { new: '-5', assess: '-4', authorize: '-3', scheduled: '-2', implement: '-1', review: '0', closed: '3', canceled: '4' } as const;

const FORWARD: string[] = [CHANGE_STATE.new, CHANGE_STATE.assess, CHANGE_STATE.authorize, CHANGE_STATE.scheduled, CHANGE_STATE.implement, CHANGE_STATE.review, CHANGE_STATE.closed];
const CAN_RESTART = new Set<string>([CHANGE_STATE.assess, CHANGE_STATE.authorize, CHANGE_STATE.scheduled]);
const FINAL = new Set<string>([CHANGE_STATE.closed, CHANGE_STATE.canceled]);
const HOUR = 3_600_000;

/** The change state a request state calls for (undefined: leave the change as it is). */
export function changeStateFor(state: RequestState): string | undefined {
  switch (state) {
    case 'planned':
    case 'awaiting_approval':
      return CHANGE_STATE.authorize;
    case 'approved':
    case 'scheduled':
      return CHANGE_STATE.scheduled;
    case 'applying':
      return CHANGE_STATE.implement;
    case 'applied':
      return CHANGE_STATE.closed;
    case 'rejected':
    case 'cancelled':
      return CHANGE_STATE.canceled;
    default:
      return undefined;
  }
}

/** `YYYY-MM-DD HH:mm:ss` in UTC, how the Table API takes date-times. */
export function glideDateTime(d: Date): string {
  return d.toISOString().slice(0, 19).replace('T', ' ');
}

/** Planned start and end of a request's change: inside the next (or current) window. */
export function plannedSpan(request: Request, view: RequestView, now: Date): { start: Date; end: Date } | undefined {
  const w = view.window;
  if (!w && !request.scheduledFor) return undefined;
  const windowStart = w ? new Date(w.start) : new Date(request.scheduledFor!);
  // Whole seconds: the platform stores no milliseconds, and a start before now reads as late.
  const open = request.scheduledFor ? new Date(request.scheduledFor) : w?.openNow ? new Date(Math.ceil(now.getTime() / 1000) * 1000) : windowStart;
  const start = open < windowStart ? windowStart : open;
  const windowEnd = w ? new Date(w.end) : undefined;
  const end = windowEnd && windowEnd > start ? windowEnd : new Date(start.getTime() + HOUR);
  return { start, end };
}

/** Dependencies of {@link ServiceNowChanges}. */
export interface ServiceNowChangesDeps {
  client: ServiceNowClient;
  ids: SurfaceIdStore;
  config: ServiceNowSurfaceConfig;
  clock: Clock;
  logger: Logger;
}

/** Keeps one requested item's production change in step with its request. */
export class ServiceNowChanges {
  constructor(private readonly deps: ServiceNowChangesDeps) {}

  /** The change of a requested item, if one was opened. */
  async find(ritmSysId: string): Promise<ServiceNowRow | undefined> {
    const id = await this.deps.ids.get('servicenow', `change/${ritmSysId}`);
    if (id) {
      const row = await this.deps.client.get('change_request', id);
      if (row) return row;
    }
    const [hit] = await this.deps.client.list('change_request', { query: `parent=${ritmSysId}^type=normal^ORDERBYDESCsys_created_on`, max: 1 });
    return hit;
  }

  /** Opens, moves and dates the change of `ritm` for the request as it is now. */
  async follow(request: Request, ritm: ServiceNowRow, view: RequestView): Promise<ServiceNowRow | undefined> {
    const target = changeStateFor(request.state);
    if (!target) return undefined;
    const { client, ids, logger } = this.deps;
    let change = await this.find(ritm.sys_id!);
    const describe = this.describe(request, ritm, view);
    if (!change || (FINAL.has(change.state ?? '') && !FINAL.has(target))) {
      // Nothing to open for a request that is already over.
      if (FINAL.has(target) && target !== CHANGE_STATE.closed) return undefined;
      const span = plannedSpan(request, view, this.deps.clock.now());
      change = await client.create('change_request', {
        type: 'normal',
        parent: ritm.sys_id,
        ...(ritm.opened_by ? { requested_by: ritm.opened_by } : {}),
        category: this.deps.config.changes.category,
        ...(this.deps.config.changes.assignmentGroup ? { assignment_group: this.deps.config.changes.assignmentGroup } : {}),
        correlation_display: 'ticket-surface',
        correlation_id: request.id,
        ...describe,
        ...(span ? { start_date: glideDateTime(span.start), end_date: glideDateTime(span.end) } : {}),
      });
      await ids.set('servicenow', `change/${ritm.sys_id}`, change.sys_id!);
      logger.info({ ritm: ritm.number, change: change.number, request: request.id }, 'change request opened');
    }
    const sysId = change.sys_id!;
    const state = change.state ?? CHANGE_STATE.new;
    // Before implementation the plan, its dates and the request it belongs to may still change.
    if (!FINAL.has(target) && FORWARD.indexOf(state) <= FORWARD.indexOf(CHANGE_STATE.scheduled) && FORWARD.indexOf(target) <= FORWARD.indexOf(CHANGE_STATE.scheduled)) {
      const span = plannedSpan(request, view, this.deps.clock.now());
      const want: Record<string, string> = { correlation_id: request.id, ...describe, ...(span ? { start_date: glideDateTime(span.start), end_date: glideDateTime(span.end) } : {}) };
      const diff = Object.fromEntries(Object.entries(want).filter(([k, v]) => (change![k] ?? '') !== v));
      if (Object.keys(diff).length) change = await client.update('change_request', sysId, diff);
    }
    if (target === CHANGE_STATE.canceled) {
      if (!FINAL.has(state)) change = await client.update('change_request', sysId, { state: CHANGE_STATE.canceled, close_notes: `Request ${request.id} was ${request.state}.` });
      return change;
    }
    let from = FORWARD.indexOf(state);
    const to = FORWARD.indexOf(target);
    if (from > to) {
      if (!CAN_RESTART.has(state)) {
        logger.warn({ change: change.number, state, target }, 'change request cannot move back; left as it is');
        return change;
      }
      change = await client.update('change_request', sysId, { state: CHANGE_STATE.new });
      from = 0;
    }
    for (let k = from + 1; k <= to; k++) {
      const next = FORWARD[k]!;
      const extra: Record<string, string> =
        next === CHANGE_STATE.closed ? { close_code: 'successful', close_notes: `Applied by ticket-surface (request ${request.id}${request.deployment ? `, deployment ${request.deployment}` : ''}).` } : {};
      change = await client.update('change_request', sysId, { state: next, ...extra });
    }
    return change;
  }

  private describe(request: Request, ritm: ServiceNowRow, view: RequestView): Record<string, string> {
    const pkg = view.packageName ?? request.package ?? request.bundle;
    const env = request.environment.slice(request.project.length + 1) || request.environment;
    const version = request.version ? ` ${request.version}` : '';
    const plan = request.plan?.summary;
    const lines = plan ? plan.resources.map((r) => `${r.action.padEnd(8)} ${r.address}${r.destructive ? '   (destructive)' : ''}`) : [];
    return {
      short_description: `ticket-surface: ${request.kind} ${pkg} (${request.bundle}${version}) in ${env}`.slice(0, 160),
      description: `Requested item ${ritm.number ?? ritm.sys_id}, ticket-surface request ${request.id} (revision ${request.contentRevision}).`,
      implementation_plan: plan ? [`Plan ${request.plan!.hash.slice(0, 12)}: ${plan.add} to add, ${plan.change} to change, ${plan.destroy} to destroy, ${plan.replace} to replace`, ...lines].join('\n') : '',
      backout_plan: 'Re-apply the previous parameters of the package through ticket-surface.',
    };
  }
}
