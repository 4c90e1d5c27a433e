/**
 * The ServiceNow sandbox: an HTTP server speaking the part of the Table API and the Service
 * Catalog API the service uses, with in-memory state, Basic auth and OAuth 2.0 (the token endpoint
 * and Bearer tokens, see `oauth.ts`), 429 on demand (with or without `Retry-After`), a call log, the
 * shipped Business Rule's signed webhooks, and (optionally) every /api exchange checked against
 * the platform's OpenAPI exports and documentation examples. Control endpoints live outside /api
 * under /_sandbox.
 *
 * Start it with {@link startServiceNowSandbox}; seed it; point `webhook` at the service; act as
 * people through {@link ServiceNowSandbox.as} (or `POST /_sandbox/act`) to order items, edit
 * variables, write work notes and approve or reject, the way people do in ServiceNow.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { systemClock, type Clock } from '../../src/engine/model.ts';
import { decideWebhooks, webhookBody, type WebhookPayload } from './business-rule.ts';
import { SandboxOAuth, type SandboxOAuthClient, type SandboxOAuthOptions } from './oauth.ts';
import { ServiceNowContractRecorder, type ServiceNowViolation } from './servicenow-contracts.ts';
import {
  newSysId,
  ServiceNowApiError,
  type AclOperation,
  ServiceNowSandboxState,
  type Row,
  type SeedResult,
  type SeedUser,
  type ServiceNowSeed,
  type StateEvent,
} from './state.ts';
import { renderOptions, ServiceNowViews } from './views.ts';
import { ServiceNowWebhookSender, type WebhookDelivery, type WebhookTarget } from './webhook-sender.ts';
import { installWebhookRecords, type InstalledWebhook, type WebhookInstallOptions } from './webhook-install.ts';

/** Where the Business Rule posts, as configured by the x_ticket_surface.* properties. */
export interface SandboxWebhookOptions extends WebhookTarget {
  /**
   * `user_name` whose changes send nothing (`x_ticket_surface.integration_user`); default the API
   * user, so the service does not hear its own writes. `null` sends for everyone.
   */
  ignoreUser?: string | null;
}

/** Options of {@link startServiceNowSandbox}. */
export interface ServiceNowSandboxOptions {
  /** Port to listen on (default: a free one). */
  port?: number;
  /** Interface to bind (default 127.0.0.1). */
  host?: string;
  /** Instance URL put in links (default: the listening URL). */
  baseUrl?: string;
  /** People besides the API user (seeded before `seed`). */
  users?: SeedUser[];
  /** Where the Business Rule's webhooks go (also settable later with `setWebhook`). */
  webhook?: SandboxWebhookOptions;
  /** The integration account the service logs in as (Basic, or the OAuth password grant). */
  auth?: { userName?: string; password?: string };
  /**
   * OAuth 2.0: token lifetimes, and application registry entries besides the default one (whose
   * client credentials grant acts as the integration account).
   */
  oauth?: SandboxOAuthOptions & { clients?: SandboxOAuthClient[] };
  /**
   * Check every /api exchange against the ServiceNow exports and documentation examples: on
   * unless `false` (loaded from sandbox/specs); pass a recorder to share one.
   */
  contract?: boolean | ServiceNowContractRecorder;
  /** Seed applied at start. */
  seed?: ServiceNowSeed;
  /** Waits before webhook attempts 2 and 3 (ms). Default 10, 20. */
  webhookRetryDelaysMs?: number[];
  /** Webhook attempt timeout (ms). Default 5,000. */
  webhookTimeoutMs?: number;
  /** Enforce the normal change state model (default true). */
  strictChangeModel?: boolean;
  /** The instance's time zone, for people without one of their own (default UTC). */
  timeZone?: string;
  /** Largest request body accepted (bytes). Default 10 MiB. */
  maxBodyBytes?: number;
  clock?: Clock;
}

/** One /api call the sandbox answered. */
export interface SandboxCall {
  method: string;
  path: string;
  query: string;
  status: number;
  at: Date;
  /** `user_name` of the authenticated caller. */
  user?: string;
  /** How the caller authenticated. */
  auth?: 'basic' | 'bearer';
  /** Parsed JSON request body, when there was one. */
  body?: unknown;
}

/** A failure injected into the next matching /api calls. */
export interface InjectedFault {
  status: number;
  remaining: number;
  retryAfter?: number;
  /** A 429 without `Retry-After`: only the `X-RateLimit-*` headers say when to come back. */
  withoutRetryAfter?: boolean;
  methods?: string[];
  /** Substring the path must contain. */
  path?: string;
}

/** What `transformResponse` sees and may replace (used to prove drift is caught). */
export interface ResponseExchange {
  method: string;
  path: string;
  query: URLSearchParams;
  status: number;
  body: unknown;
}

/** What ordering as a person created. */
export interface OrderedItem {
  request: Row;
  ritm: Row;
}

/** Acts in the sandbox as one person, as if they clicked in ServiceNow; webhooks follow. */
export interface ServiceNowActor {
  readonly user: Row;
  /** Orders a catalog item (sys_id or name) through the catalog. */
  order(item: string, input?: { variables?: Record<string, unknown>; quantity?: number; requestedFor?: string }): OrderedItem;
  /** Edits variable values of a requested item (sys_id or number). */
  editVariables(ritm: string, variables: Record<string, unknown>): void;
  /** Adds a work note to a task (sys_id or number). */
  addWorkNote(task: string, text: string): void;
  /** Adds an additional comment (customer visible) to a task. */
  addComment(task: string, text: string): void;
  /** Updates columns of any record. */
  update(table: string, sysId: string, values: Record<string, unknown>): Row;
  /** Approves: an approval sys_id, or this person's pending approval on a task (sys_id or number). */
  approve(target: string, comments?: string): Row;
  /** Rejects, like {@link approve}. */
  reject(target: string, comments?: string): Row;
}

/** A running sandbox. */
export interface ServiceNowSandbox {
  /** Listening URL, e.g. `http://127.0.0.1:34567`. */
  readonly url: string;
  /** Instance URL used in links. */
  readonly baseUrl: string;
  readonly state: ServiceNowSandboxState;
  readonly views: ServiceNowViews;
  /** Every /api call answered, in order (control endpoints excluded). */
  readonly calls: SandboxCall[];
  /** Method and path template of every operation the sandbox implements. */
  readonly routes: ReadonlyArray<{ method: string; template: string }>;
  /** /api calls the sandbox does not implement (answered 400 like the platform). */
  readonly unimplemented: string[];
  /** Webhook payloads the Business Rule produced (sent or not), in order. */
  readonly events: WebhookPayload[];
  /** Every change the Business Rules saw (inserts, updates, deletes), in order. */
  readonly changes: StateEvent[];
  /** The contract recorder, when checking is on. */
  readonly contract?: ServiceNowContractRecorder;
  /** The integration account. */
  readonly apiUser: Row;
  /** Basic credentials of the integration account, and the default OAuth client's id and secret. */
  readonly credentials: { username: string; password: string; clientId: string; clientSecret: string };
  /** The OAuth provider: issued grants, and expiring tokens on demand. */
  readonly oauth: SandboxOAuth;
  /** Ready-made `Authorization` header value for the integration account. */
  readonly authorization: string;
  /** Replace a response body before it is sent and checked (drift tests). */
  transformResponse?: (exchange: ResponseExchange) => unknown;
  /** Adds seed data; returns the sys_ids created. */
  seed(seed: ServiceNowSeed): SeedResult;
  /** Acts as a person (user_name or sys_id). */
  as(user: string): ServiceNowActor;
  /** Sets (or clears) where webhooks go. */
  setWebhook(webhook: SandboxWebhookOptions | undefined): void;
  /**
   * Creates the records an administrator installs for the webhook (properties, Script Include,
   * Script Action, Business Rules; see `webhook-install.ts`); the integration user defaults to the
   * API user. Records only: where webhooks go is still {@link setWebhook}'s.
   */
  installWebhook(options: Omit<WebhookInstallOptions, 'integrationUser'> & { integrationUser?: string }): InstalledWebhook;
  /** From now on an ACL denies API callers these operations on `table` (default all): 403 as on the platform. */
  denyAccess(table: string, operations?: AclOperation[]): void;
  /** Creates requested approvals on a task as a flow would (approvers by user_name/sys_id, or a group). */
  requestApprovals(task: string, who: { approvers?: string[]; group?: string }): Row[];
  /**
   * The next `count` matching /api calls answer 429 with `Retry-After: retryAfter` (seconds) and
   * `X-RateLimit-Reset` that many seconds ahead; `withoutRetryAfter` leaves `Retry-After` out.
   */
  rateLimit(count: number, retryAfter: number, filter?: { methods?: string[]; path?: string; withoutRetryAfter?: boolean }): void;
  /** The next `count` matching /api calls answer `status` (e.g. 503). */
  fail(count: number, status: number, filter?: { methods?: string[]; path?: string }): void;
  /** Calls that changed state (POST/PUT/PATCH/DELETE under /api) answered 2xx. */
  writes(): SandboxCall[];
  /** Contract violations so far (empty when checking is off). */
  violations(): ServiceNowViolation[];
  /** Resolves when every webhook delivery has finished (retries included). */
  webhooksIdle(): Promise<void>;
  /** Deliveries so far. */
  deliveries(): WebhookDelivery[];
  stop(): Promise<void>;
}

type Handler = (ctx: RequestContext) => Reply | Promise<Reply>;

interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

interface RequestContext {
  method: string;
  path: string;
  url: URL;
  params: Record<string, string>;
  query: URLSearchParams;
  body: unknown;
  actor: Row;
}

interface Route {
  method: string;
  template: string;
  regex: RegExp;
  names: string[];
  handler: Handler;
}

const JSON_TYPE = 'application/json;charset=UTF-8';
const DEFAULT_LIMIT = 10000;

function compileRoute(method: string, template: string, handler: Handler): Route {
  const names: string[] = [];
  const pattern = template
    .split('/')
    .map((seg) => (seg.startsWith('{') ? (names.push(seg.slice(1, -1)), '([^/]+)') : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/');
  return { method, template, regex: new RegExp(`^${pattern}/?$`), names, handler };
}

function nonNegativeInt(q: URLSearchParams, name: string, dflt: number): number {
  const v = q.get(name);
  const n = v === null || v.trim() === '' ? NaN : Number(v);
  return Number.isInteger(n) && n >= 0 ? n : dflt;
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        reject(new ServiceNowApiError(413, 'Request entity too large', `The request body exceeds ${limit} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

const errorBody = (e: ServiceNowApiError) => ({ error: { message: e.message, detail: e.detail }, status: 'failure' });

/**
 * The platform's 429: the documented body, `X-RateLimit-Limit`, `X-RateLimit-Remaining: 0`,
 * `X-RateLimit-Reset` (epoch seconds, on the sandbox's clock) and, unless the fault leaves it out,
 * `Retry-After`.
 */
function rateLimited(fault: InjectedFault, now: Date): Reply {
  const retryAfter = fault.retryAfter ?? 1;
  const reset = Math.ceil(now.getTime() / 1000) + retryAfter;
  const e = new ServiceNowApiError(429, 'Rate limit exceeded', 'Rate limit of 100 requests per hour for Table API exceeded');
  const headers: Record<string, string> = { 'X-RateLimit-Limit': '100', 'X-RateLimit-Remaining': '0', 'X-RateLimit-Reset': String(reset), 'X-RateLimit-Rule': 'ticket-surface sandbox' };
  if (!fault.withoutRetryAfter) headers['Retry-After'] = String(retryAfter);
  return { status: 429, headers, body: errorBody(e) };
}

/** Starts a ServiceNow sandbox; see {@link ServiceNowSandboxOptions}. */
export async function startServiceNowSandbox(options: ServiceNowSandboxOptions = {}): Promise<ServiceNowSandbox> {
  const clock = options.clock ?? systemClock;
  const sender = new ServiceNowWebhookSender({ retryDelaysMs: options.webhookRetryDelaysMs, timeoutMs: options.webhookTimeoutMs });
  const calls: SandboxCall[] = [];
  const unimplemented: string[] = [];
  const events: WebhookPayload[] = [];
  const changes: StateEvent[] = [];
  const faults: InjectedFault[] = [];
  const wanted = options.contract ?? true;
  const contract = wanted === true ? new ServiceNowContractRecorder() : wanted || undefined;
  const maxBody = options.maxBodyBytes ?? 10 * 1024 * 1024;
  const hooks: { webhook?: SandboxWebhookOptions; transformResponse?: (x: ResponseExchange) => unknown } = { webhook: options.webhook };
  const creds = {
    username: options.auth?.userName ?? 'ticket.surface',
    password: options.auth?.password ?? 'sandbox-password',
    clientId: 'a329c4515612210071a5e0c298ee2be8',
    clientSecret: 'sandbox-oauth-client-secret',
  };

  // The Business Rule: decide, build the body once (the event id survives retries), send.
  const onEvent = (e: StateEvent): void => {
    changes.push(e);
    const target = hooks.webhook;
    const ignore = target?.ignoreUser === undefined ? creds.username : (target.ignoreUser ?? undefined);
    const findRitms = (optionId: string) =>
      state
        .all('sc_item_option_mtom')
        .filter((m) => m.sc_item_option === optionId)
        .map((m) => state.records.get(m.request_item as string))
        .filter((r): r is Row => Boolean(r));
    for (const d of decideWebhooks(e, ignore, findRitms)) {
      const payload: WebhookPayload = { event_id: newSysId(), event: d.event, table: d.table, sys_id: d.record.sys_id as string, sys_updated_on: d.record.sys_updated_on as string };
      events.push(payload);
      if (target?.url) sender.send(target, d.event, payload.event_id, webhookBody(payload));
    }
  };

  const state = new ServiceNowSandboxState(onEvent, { clock: options.clock, strictChangeModel: options.strictChangeModel, timeZone: options.timeZone });
  state.seed({ users: [{ user_name: creds.username, name: 'ticket-surface integration', password: creds.password, roles: ['itil', 'catalog_admin'] }] });
  const apiUser = state.mustUser(creds.username);
  const oauth = new SandboxOAuth(state, clock, options.oauth);
  oauth.register({ clientId: creds.clientId, clientSecret: creds.clientSecret, user: creds.username });
  for (const c of options.oauth?.clients ?? []) oauth.register(c);
  if (options.users?.length) state.seed({ users: options.users });
  if (options.seed) state.seed(options.seed);

  const baseUrlHolder = { value: '' };
  const views = new ServiceNowViews(state, () => baseUrlHolder.value);
  const routes: Route[] = [];
  const route = (method: string, template: string, handler: Handler) => routes.push(compileRoute(method, template, handler));
  const jsonObject = (ctx: RequestContext): Record<string, unknown> => {
    if (ctx.body === null || typeof ctx.body !== 'object' || Array.isArray(ctx.body)) {
      throw new ServiceNowApiError(400, 'Exception while reading request', 'The payload is not valid JSON.');
    }
    return ctx.body as Record<string, unknown>;
  };

  // --- Table API --------------------------------------------------------------------------
  route('GET', '/api/now/table/{tableName}', (ctx) => {
    const table = ctx.params.tableName as string;
    state.assertTable(table);
    state.assertAllowed(table, 'read');
    const rows = state.query(table, ctx.query.get('sysparm_query') ?? '');
    const limit = nonNegativeInt(ctx.query, 'sysparm_limit', DEFAULT_LIMIT) || DEFAULT_LIMIT;
    const offset = nonNegativeInt(ctx.query, 'sysparm_offset', 0);
    const page = rows.slice(offset, offset + limit);
    const o = renderOptions(ctx.query);
    const headers: Record<string, string> = {};
    if (ctx.query.get('sysparm_no_count') !== 'true') headers['X-Total-Count'] = String(rows.length);
    if (ctx.query.get('sysparm_suppress_pagination_header') !== 'true') {
      const link = (off: number, rel: string) => {
        const u = new URL(`${baseUrlHolder.value}${ctx.path}`);
        for (const [k, v] of ctx.query) u.searchParams.append(k, v);
        u.searchParams.set('sysparm_limit', String(limit));
        u.searchParams.set('sysparm_offset', String(off));
        return `<${u.toString()}>;rel="${rel}"`;
      };
      const parts = [link(0, 'first')];
      if (offset > 0) parts.push(link(Math.max(0, offset - limit), 'prev'));
      if (offset + limit < rows.length) parts.push(link(offset + limit, 'next'));
      parts.push(link(rows.length ? Math.floor((rows.length - 1) / limit) * limit : 0, 'last'));
      headers.Link = parts.join(',');
    }
    return { status: 200, headers, body: { result: page.map((r) => views.record(table, r, o)) } };
  });
  route('POST', '/api/now/table/{tableName}', (ctx) => {
    const table = ctx.params.tableName as string;
    state.assertTable(table);
    state.assertAllowed(table, 'create');
    const row = state.insert(table, jsonObject(ctx), ctx.actor);
    return { status: 201, headers: { Location: views.recordUrl(table, row.sys_id as string) }, body: { result: views.record(table, row, renderOptions(ctx.query)) } };
  });
  route('GET', '/api/now/table/{tableName}/{sys_id}', (ctx) => {
    const table = ctx.params.tableName as string;
    state.assertAllowed(table, 'read');
    const row = state.mustGet(table, ctx.params.sys_id as string);
    return { status: 200, body: { result: views.record(table, row, renderOptions(ctx.query)) } };
  });
  const update: Handler = (ctx) => {
    const table = ctx.params.tableName as string;
    state.assertAllowed(table, 'write');
    const input = jsonObject(ctx);
    const row = state.update(table, ctx.params.sys_id as string, input, ctx.actor);
    return { status: 200, body: { result: views.record(table, row, renderOptions(ctx.query)) } };
  };
  route('PUT', '/api/now/table/{tableName}/{sys_id}', update);
  route('PATCH', '/api/now/table/{tableName}/{sys_id}', update);
  route('DELETE', '/api/now/table/{tableName}/{sys_id}', (ctx) => {
    state.assertAllowed(ctx.params.tableName as string, 'delete');
    state.delete(ctx.params.tableName as string, ctx.params.sys_id as string, ctx.actor);
    return { status: 204 };
  });

  // --- Service Catalog API ----------------------------------------------------------------
  route('POST', '/api/sn_sc/servicecatalog/items/{sys_id}/order_now', (ctx) => {
    const b = jsonObject(ctx);
    const { request } = state.orderNow(ctx.params.sys_id as string, { quantity: b.sysparm_quantity, variables: b.variables, requestedFor: typeof b.sysparm_requested_for === 'string' ? b.sysparm_requested_for : undefined }, ctx.actor);
    return {
      status: 200,
      body: { result: { sys_id: request.sys_id, number: request.number, request_number: request.number, request_id: request.sys_id, table: 'sc_request' } },
    };
  });

  // --- people ----------------------------------------------------------------------------
  const task = (ref: string): Row => {
    const byId = state.get('task', ref);
    if (byId) return byId;
    const byNumber = state.all('task').find((t) => t.number === ref);
    if (!byNumber) throw new ServiceNowApiError(404, 'No Record found', `no task ${ref}`);
    return byNumber;
  };
  const item = (ref: string): Row => {
    const hit = state.get('sc_cat_item', ref) ?? state.all('sc_cat_item').find((i) => i.name === ref);
    if (!hit) throw new ServiceNowApiError(404, 'No Record found', `no catalog item ${ref}`);
    return hit;
  };
  const as = (who: string): ServiceNowActor => {
    const user = state.mustUser(who);
    const decide = (target: string, decision: 'approved' | 'rejected', comments?: string): Row => {
      const direct = state.get('sysapproval_approver', target);
      const approval = direct ?? state.approvalsFor(task(target).sys_id as string).find((a) => a.approver === user.sys_id && a.state === 'requested');
      if (!approval) throw new ServiceNowApiError(404, 'No Record found', `${user.user_name} has no requested approval on ${target}`);
      return state.decide(approval.sys_id as string, decision, user, comments);
    };
    return {
      user,
      order: (ref, input = {}) => {
        const { request, items } = state.orderNow(item(ref).sys_id as string, { quantity: input.quantity, variables: input.variables ?? {}, requestedFor: input.requestedFor }, user);
        return { request, ritm: items[0] as Row };
      },
      editVariables: (ritm, variables) => state.setVariables(task(ritm).sys_id as string, variables, user),
      addWorkNote: (t, text) => void state.update('task', task(t).sys_id as string, { work_notes: text }, user),
      addComment: (t, text) => void state.update('task', task(t).sys_id as string, { comments: text }, user),
      update: (table, sysId, values) => state.update(table, sysId, values, user),
      approve: (target, comments) => decide(target, 'approved', comments),
      reject: (target, comments) => decide(target, 'rejected', comments),
    };
  };
  const requestApprovals = (t: string, who: { approvers?: string[]; group?: string }) => state.requestApprovals(task(t).sys_id as string, who, state.systemUser);
  const addFault = (f: InjectedFault) => faults.push(f);

  // --- control endpoints (outside /api) ---------------------------------------------------
  const control = async (method: string, path: string, body: unknown): Promise<Reply> => {
    const b = (body && typeof body === 'object' ? body : {}) as Record<string, unknown>;
    const ok = (x: unknown, status = 200): Reply => ({ status, body: x });
    const str = (k: string): string => {
      if (typeof b[k] !== 'string' || b[k] === '') throw new ServiceNowApiError(400, `${k} is required`);
      return b[k] as string;
    };
    if (method === 'POST' && path === '/_sandbox/rate-limit') {
      addFault({ status: 429, remaining: Number(b.count ?? 1), retryAfter: Number(b.retryAfter ?? 1), methods: b.methods as string[] | undefined, path: b.path as string | undefined, withoutRetryAfter: b.withoutRetryAfter === true });
      return ok({ queued: Number(b.count ?? 1) });
    }
    if (method === 'POST' && path === '/_sandbox/oauth/expire') {
      return ok({ accessTokens: oauth.expireAccessTokens(), ...(b.refresh === true ? { refreshTokens: oauth.expireRefreshTokens() } : {}) });
    }
    if (method === 'POST' && path === '/_sandbox/fail') {
      addFault({ status: Number(b.status ?? 500), remaining: Number(b.count ?? 1), methods: b.methods as string[] | undefined, path: b.path as string | undefined });
      return ok({ queued: Number(b.count ?? 1) });
    }
    if (path === '/_sandbox/webhook' && method === 'POST') {
      hooks.webhook = { url: str('url'), secret: b.secret as string | undefined, basic: b.basic as WebhookTarget['basic'], ignoreUser: b.ignoreUser as string | null | undefined };
      return ok({ url: hooks.webhook.url, signed: Boolean(hooks.webhook.secret) });
    }
    if (path === '/_sandbox/webhook' && method === 'DELETE') {
      hooks.webhook = undefined;
      return { status: 204 };
    }
    if (method === 'POST' && path === '/_sandbox/seed') return ok(state.seed(b as ServiceNowSeed), 201);
    if (method === 'POST' && path === '/_sandbox/approvals') {
      const rows = requestApprovals(str('task'), { approvers: b.approvers as string[] | undefined, group: b.group as string | undefined });
      return ok({ approvals: rows.map((r) => r.sys_id) }, 201);
    }
    if (method === 'GET' && path === '/_sandbox/deliveries') return ok(sender.deliveries);
    if (method === 'GET' && path === '/_sandbox/events') return ok(events);
    if (method === 'GET' && path === '/_sandbox/warnings') return ok(state.warnings);
    if (method === 'POST' && path === '/_sandbox/act') {
      const actor = as(str('as'));
      switch (b.action) {
        case 'order': {
          const r = actor.order(str('item'), { variables: b.variables as Record<string, unknown> | undefined, quantity: b.quantity as number | undefined, requestedFor: b.requestedFor as string | undefined });
          return ok({ request: { sys_id: r.request.sys_id, number: r.request.number }, ritm: { sys_id: r.ritm.sys_id, number: r.ritm.number } }, 201);
        }
        case 'variables':
          actor.editVariables(str('ritm'), (b.variables ?? {}) as Record<string, unknown>);
          return ok({ ritm: b.ritm });
        case 'work-note':
          actor.addWorkNote(str('task'), str('text'));
          return ok({ task: b.task }, 201);
        case 'comment':
          actor.addComment(str('task'), str('text'));
          return ok({ task: b.task }, 201);
        case 'update': {
          const r = actor.update(str('table'), str('sys_id'), (b.values ?? {}) as Record<string, unknown>);
          return ok({ sys_id: r.sys_id });
        }
        case 'approve':
        case 'reject': {
          const r = actor[b.action](str('target'), b.comments as string | undefined);
          return ok({ sys_id: r.sys_id, state: r.state });
        }
        default:
          return { status: 400, body: { error: 'action must be order, variables, work-note, comment, update, approve or reject' } };
      }
    }
    return { status: 404, body: { error: `no control endpoint ${method} ${path}` } };
  };

  // --- dispatch ---------------------------------------------------------------------------
  const send = (res: ServerResponse, method: string, url: URL, reply: Reply, call?: Omit<SandboxCall, 'status'>) => {
    const path = url.pathname;
    const onApi = path.startsWith('/api/');
    let body = reply.body;
    if (hooks.transformResponse && onApi) body = hooks.transformResponse({ method, path, query: url.searchParams, status: reply.status, body });
    const headers: Record<string, string> = { ...(reply.headers ?? {}) };
    if (contract && onApi) contract.response({ method, path, query: url.searchParams, status: reply.status, body: reply.status === 204 ? undefined : body, headers });
    if (call) calls.push({ ...call, status: reply.status });
    if (body === undefined || reply.status === 204) {
      res.writeHead(reply.status, headers);
      res.end();
      return;
    }
    const text = JSON.stringify(body);
    res.writeHead(reply.status, { ...headers, 'Content-Type': JSON_TYPE, 'Content-Length': String(Buffer.byteLength(text)) });
    res.end(text);
  };

  // Basic credentials of an active user, or a Bearer token the OAuth provider issued and that has not expired.
  const authenticate = (auth: string): Row | undefined => {
    const bearer = /^Bearer\s+(\S+)$/i.exec(auth);
    if (bearer) return oauth.authenticate(bearer[1] as string);
    const m = /^Basic\s+(.+)$/i.exec(auth);
    const decoded = m ? Buffer.from(m[1] as string, 'base64').toString('utf8') : '';
    const sep = decoded.indexOf(':');
    return sep > 0 ? state.authenticate(decoded.slice(0, sep), decoded.slice(sep + 1)) : undefined;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const method = (req.method ?? 'GET').toUpperCase();
    const url = new URL(req.url ?? '/', 'http://sandbox.invalid');
    const path = url.pathname;
    let raw: Buffer;
    try {
      raw = await readBody(req, maxBody);
    } catch (err) {
      const e = err instanceof ServiceNowApiError ? err : new ServiceNowApiError(400, 'Exception while reading request', 'The request body could not be read.');
      return send(res, method, url, { status: e.status, body: errorBody(e) });
    }
    let body: unknown;
    let badJson = false;
    if (raw.length) {
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        badJson = true;
      }
    }

    if (path.startsWith('/_sandbox/')) {
      if (badJson) return send(res, method, url, { status: 400, body: { error: 'body is not valid JSON' } });
      try {
        send(res, method, url, await control(method, path, body));
      } catch (err) {
        send(res, method, url, { status: err instanceof ServiceNowApiError ? err.status : 400, body: { error: (err as Error).message, detail: err instanceof ServiceNowApiError ? err.detail : undefined } });
      }
      return;
    }

    if (path === '/oauth_token.do') {
      const form = new URLSearchParams(raw.toString('utf8'));
      const reply = oauth.token(form);
      contract?.token({ method, contentType: String(req.headers['content-type'] ?? ''), form, status: reply.status, body: reply.body });
      return send(res, method, url, reply);
    }

    const call: Omit<SandboxCall, 'status'> = { method, path, query: url.search, at: clock.now() };
    const fault = faults.find((f) => f.remaining > 0 && (!f.methods || f.methods.map((m) => m.toUpperCase()).includes(method)) && (!f.path || path.includes(f.path)));
    if (fault && path.startsWith('/api/')) {
      fault.remaining -= 1;
      if (fault.remaining === 0) faults.splice(faults.indexOf(fault), 1);
      if (fault.status === 429) return send(res, method, url, rateLimited(fault, clock.now()), call);
      const e = new ServiceNowApiError(fault.status, 'Sandbox fault', 'The sandbox was told to fail this call.');
      return send(res, method, url, { status: fault.status, body: errorBody(e) }, call);
    }

    const auth = String(req.headers.authorization ?? '');
    const actor = authenticate(auth);
    if (!actor) {
      const e = auth ? new ServiceNowApiError(401, 'User is not authenticated', 'Required to provide Auth information') : new ServiceNowApiError(401, 'User Not Authenticated', 'Required to provide Auth information');
      return send(res, method, url, { status: 401, headers: { 'WWW-Authenticate': 'BASIC realm="Service-now"' }, body: errorBody(e) }, call);
    }
    call.user = actor.user_name;
    call.auth = /^Bearer\s/i.test(auth) ? 'bearer' : 'basic';
    if (contract && path.startsWith('/api/')) contract.request({ method, path, query: url.searchParams });
    if (badJson) return send(res, method, url, { status: 400, body: errorBody(new ServiceNowApiError(400, 'Exception while reading request', 'The payload is not valid JSON.')) }, call);
    // Passwords written to sys_user never reach the call log.
    if (body !== undefined) call.body = body && typeof body === 'object' && !Array.isArray(body) && 'user_password' in body ? { ...body, user_password: '***' } : body;

    let params: Record<string, string> | undefined;
    let handler: Handler | undefined;
    for (const r of routes) {
      const hit = r.regex.exec(path);
      if (!hit || r.method !== method) continue;
      params = {};
      r.names.forEach((n, k) => ((params as Record<string, string>)[n] = decodeURIComponent(hit[k + 1] ?? '')));
      handler = r.handler;
      break;
    }
    if (!handler || !params) {
      unimplemented.push(`${method} ${path}`);
      const e = new ServiceNowApiError(400, 'Requested URI does not represent any resource', `The ServiceNow sandbox does not implement ${method} ${path}`);
      return send(res, method, url, { status: 400, body: errorBody(e) }, call);
    }
    try {
      send(res, method, url, await handler({ method, path, url, params, query: url.searchParams, body, actor }), call);
    } catch (err) {
      if (err instanceof ServiceNowApiError) return send(res, method, url, { status: err.status, body: errorBody(err) }, call);
      send(res, method, url, { status: 500, body: errorBody(new ServiceNowApiError(500, 'Internal server error in the ServiceNow sandbox', '')) }, call);
      throw err;
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      // A handler bug must be loud in tests, not a hung request.
      console.error('servicenow sandbox handler failed', err);
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const url = `http://${addr.address.includes(':') ? `[${addr.address}]` : addr.address}:${addr.port}`;
  const baseUrl = (options.baseUrl ?? url).replace(/\/$/, '');
  baseUrlHolder.value = baseUrl;

  return {
    url,
    baseUrl,
    state,
    views,
    calls,
    routes: routes.map(({ method, template }) => ({ method, template })),
    unimplemented,
    events,
    changes,
    contract,
    apiUser,
    credentials: creds,
    oauth,
    authorization: `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`,
    get transformResponse() {
      return hooks.transformResponse;
    },
    set transformResponse(fn) {
      hooks.transformResponse = fn;
    },
    seed: (seed) => state.seed(seed),
    as,
    setWebhook: (w) => {
      hooks.webhook = w;
    },
    installWebhook: (o) => installWebhookRecords(state, { ...o, integrationUser: o.integrationUser ?? creds.username }),
    denyAccess: (table, operations = ['read', 'create', 'write', 'delete']) => state.deny(table, operations),
    requestApprovals,
    rateLimit: (count, retryAfter, filter) => addFault({ status: 429, remaining: count, retryAfter, methods: filter?.methods, path: filter?.path, withoutRetryAfter: filter?.withoutRetryAfter }),
    fail: (count, status, filter) => addFault({ status, remaining: count, methods: filter?.methods, path: filter?.path }),
    writes: () => calls.filter((c) => c.method !== 'GET' && c.method !== 'HEAD' && c.path.startsWith('/api/') && c.status >= 200 && c.status < 300),
    violations: () => contract?.violations ?? [],
    webhooksIdle: () => sender.idle(),
    deliveries: () => sender.deliveries,
    stop: async () => {
      sender.stop();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
