/**
 * Steps of the ServiceNow stories, shared by the end-to-end tests and the demo: the forms sync
 * against the world's sandbox, the journal of a requested item (work notes and additional
 * comments) as a person reads it, and
 * ordering the database item as a developer does in the catalog.
 */
import { createLogger } from '../engine/logger.ts';
import { ServiceNowClient } from '../surfaces/servicenow/client.ts';
import { QUESTION_ITEM_KEY, type ServiceNowSyncReport } from '../surfaces/servicenow/forms-sync.ts';
import type { ServiceNowSandbox } from '../../sandbox/servicenow/servicenow-sandbox.ts';
import type { ServiceNowWorld } from './servicenow-world.ts';

/** A client logged in as the integration account of the world's sandbox. */
export function serviceNowClient(world: ServiceNowWorld): ServiceNowClient {
  return new ServiceNowClient({ instanceUrl: world.sandbox.url, user: world.sandbox.credentials.username, password: world.sandbox.credentials.password, logger: createLogger('silent') });
}

/**
 * Runs `forms sync --surface servicenow` against the world's sandbox, as the service keeps it:
 * one catalog item per bundle plus the "Decommission a package" and "Infrastructure question" items.
 */
export async function syncServiceNowForms(world: ServiceNowWorld): Promise<ServiceNowSyncReport> {
  const sync = world.runtime.servicenowSync;
  if (!sync) throw new Error('the world runs without the ServiceNow surface');
  return sync.sync();
}

/** One journal entry (a work note or an additional comment) as a person reads it. */
export interface WorkNoteLine {
  id: string;
  /** Which journal: work notes (internal) or additional comments (the requester sees them). */
  journal: 'work_notes' | 'comments';
  /** user_name of the writer. */
  author: string;
  text: string;
  /** A status note (the request's state, plan and next step). */
  status: boolean;
  /** The notice key the service closed the note with, when it wrote it. */
  key?: string;
  created: string;
}

/**
 * The journal entries of a task (sys_id or number), oldest first: work notes and additional
 * comments (`journal` narrows it to one of them).
 */
export function workNotes(sb: ServiceNowSandbox, task: string, journal?: 'work_notes' | 'comments'): WorkNoteLine[] {
  const row = sb.state.get('task', task) ?? sb.state.all('task').find((t) => t.number === task);
  if (!row) throw new Error(`no task ${task}`);
  return sb.state
    .journal(row, journal ?? 'comments_and_work_notes')
    .reverse()
    .map((j) => {
      const text = j.value ?? '';
      const key = /ts:note:(\S+)\s*$/.exec(text)?.[1];
      const element = j.element === 'comments' ? 'comments' : 'work_notes';
      return { id: j.sys_id!, journal: element, author: j.sys_created_by ?? '', text, status: /^[^:\s]+:status:/.test(key ?? ''), ...(key ? { key } : {}), created: j.sys_created_on ?? '' };
    });
}

/** The requested item's state label (Open, Work in Progress, Pending, Closed Complete...). */
export function ritmState(sb: ServiceNowSandbox, ritm: string): string {
  const row = sb.state.mustGet('sc_req_item', ritm);
  return sb.state.displayValue(row, 'state');
}

export { waitFor } from './wait.ts';

/** What a developer enters in the database catalog item. `null` leaves a question empty. */
export interface ServiceNowDatabaseAnswers {
  package: string;
  database: string;
  username: string;
  size: number | string;
  environment?: string;
  critical?: boolean;
  ownerTeam?: string | null;
}

/** The synced catalog item of a bundle. */
export async function catalogItem(world: ServiceNowWorld, bundle: string): Promise<string> {
  const id = await world.runtime.ids.get('servicenow', `item/${bundle}`);
  if (!id) throw new Error(`the catalog item of ${bundle} was not synced`);
  return id;
}

/** Orders the PostgreSQL database item as `userName` through the catalog; returns the requested item. */
export async function orderDatabase(world: ServiceNowWorld, userName: string, a: ServiceNowDatabaseAnswers): Promise<{ sysId: string; number: string }> {
  const variables: Record<string, unknown> = {
    request_environment: a.environment ?? 'staging',
    request_package: a.package,
    database_name: a.database,
    username: a.username,
    expected_size_gib: String(a.size),
    production_critical: a.critical ? 'true' : 'false',
  };
  if (a.ownerTeam !== null) variables.owner_team = a.ownerTeam ?? 'checkout';
  const { ritm } = world.sandbox.as(userName).order(await catalogItem(world, 'postgres-database'), { variables });
  return { sysId: ritm.sys_id!, number: ritm.number! };
}

/** What a person enters in the "Infrastructure question" item. */
export interface ServiceNowQuestion {
  /** The query (a choice of the Question variable), for example `most-expensive`. */
  query: string;
  /** The Top variable; empty leaves the query's default. */
  top?: number | string;
  /** The Arguments variable, for example `redis-cache` or `checkout production`. */
  arguments?: string;
}

/** Orders the question item as `userName`; returns the requested item. */
export async function askQuestion(world: ServiceNowWorld, userName: string, q: ServiceNowQuestion): Promise<{ sysId: string; number: string }> {
  const variables: Record<string, unknown> = { query: q.query };
  if (q.top !== undefined) variables.top = String(q.top);
  if (q.arguments !== undefined) variables.arguments = q.arguments;
  const { ritm } = world.sandbox.as(userName).order(await catalogItem(world, QUESTION_ITEM_KEY), { variables });
  return { sysId: ritm.sys_id!, number: ritm.number! };
}
