/**
 * The Jira sandbox: an HTTP server speaking the part of Jira Cloud REST v3 and Jira Service
 * Management the service uses, with in-memory state, Basic auth, rate limiting on demand, a
 * request log, signed webhooks, and (optionally) every response checked against Atlassian's
 * OpenAPI documents. Control endpoints live outside /rest under /_sandbox.
 *
 * Start it with {@link startJiraSandbox}; seed it; register the service's webhook URL; act as
 * users through {@link JiraSandbox.as} (or `POST /_sandbox/act`) to file, edit, comment on,
 * transition and approve issues the way people do in Jira.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Clock } from '../../src/engine/model.ts';
import { systemClock } from '../../src/engine/model.ts';
import { ContractRecorder, type ContractViolation } from '../contract/openapi-contract.ts';
import { adfFromText } from './adf.ts';
import { loadJiraContracts } from './jira-contracts.ts';
import { JqlError, matchesJql } from './jql.ts';
import {
  JiraApiError,
  JiraSandboxState,
  type SandboxIssue,
  type SandboxSeed,
  type SandboxWorkflow,
  type SandboxUser,
  type StateEvent,
  type SandboxIssueTypeScheme,
} from './state.ts';
import { JiraViews } from './views.ts';
import { WebhookSender, type WebhookDelivery, type WebhookRegistration } from './webhook-sender.ts';

/** Options of {@link startJiraSandbox}. */
export interface JiraSandboxOptions {
  /** Port to listen on (default: a free one). */
  port?: number;
  /** Interface to bind (default 127.0.0.1). */
  host?: string;
  /** Site URL put in `self` links (default: the listening URL). */
  baseUrl?: string;
  /** Default secret for webhooks registered without one. */
  webhookSecret?: string;
  /** The API account the service authenticates as (Basic email:token). */
  auth?: { email?: string; apiToken?: string; accountId?: string; displayName?: string };
  /**
   * Check every /rest response against the Jira OpenAPI documents: on unless `false` (the
   * documents are loaded from sandbox/specs); pass a recorder to share one across sandboxes.
   */
  contract?: boolean | ContractRecorder;
  /** Seed applied at start. */
  seed?: SandboxSeed;
  /** Webhook retry waits (ms), at most 5. Default 10, 20, 40, 80, 160. */
  webhookRetryDelaysMs?: number[];
  /** Webhook attempt timeout (ms). Default 5,000. */
  webhookTimeoutMs?: number;
  /** Deliver webhooks concurrently (no order), like Jira. Default: one after another per webhook. */
  concurrentWebhooks?: boolean;
  /** Largest request body accepted (bytes). Default 20 MiB. */
  maxBodyBytes?: number;
  /**
   * Largest page of a startAt/maxResults list (Jira caps `maxResults` per operation); a larger
   * `maxResults` gets this many. Default: no cap. Tests set a small one to make clients page.
   */
  maxPageSize?: number;
  clock?: Clock;
}

/** One call the sandbox answered. */
export interface SandboxCall {
  method: string;
  path: string;
  query: string;
  status: number;
  at: Date;
  /** Account id of the authenticated caller. */
  actorId?: string;
  /** Parsed JSON request body, when there was one. */
  body?: unknown;
}

/** A failure injected into the next matching /rest calls. */
export interface InjectedFault {
  status: number;
  remaining: number;
  retryAfter?: number;
  methods?: string[];
  /** Substring the path must contain. */
  path?: string;
  /** For 429s: which limit answers (`RateLimit-Reason`); default `jira-burst-based`. */
  reason?: RateLimitReason;
  /** Only writes to this issue (key or id) match: Jira's per-issue write limit. */
  issue?: string;
  /**
   * Carry the call out first, then answer `status` instead of its result: Jira accepted the write
   * but the answer was lost (a gateway timeout, a dropped connection), so a client that retries
   * blindly writes twice.
   */
  after?: boolean;
}

/** Jira's documented `RateLimit-Reason` values. */
export type RateLimitReason = 'jira-burst-based' | 'jira-per-issue-on-write' | 'jira-quota-tenant-based' | 'jira-quota-global-based';

/** Which calls an injected 429 or failure answers. */
export interface FaultFilter {
  methods?: string[];
  path?: string;
  /** 429 only: the limit that answers (default `jira-burst-based`). */
  reason?: RateLimitReason;
  /** Only writes (POST/PUT/DELETE) to this issue, by key or id, as Jira's per-issue write limit does. */
  issue?: string;
  /** Carry the call out, then answer the fault (see InjectedFault.after). */
  after?: boolean;
}

/** What `transformResponse` sees and may replace (used to prove drift is caught). */
export interface ResponseExchange {
  method: string;
  path: string;
  status: number;
  body: unknown;
}

/** Acts in the sandbox as one user, as if they clicked in Jira; webhooks follow. */
export interface SandboxActor {
  readonly accountId: string;
  /** Files an issue; `description` may be text or ADF; `fields` are REST field values. */
  createIssue(input: { project: string; issueType: string; summary: string; description?: string | object; fields?: Record<string, unknown> }): SandboxIssue;
  /** Edits fields (REST field values). */
  edit(issueKey: string, fields: Record<string, unknown>): void;
  /** Comments (text or ADF); returns the comment id. */
  comment(issueKey: string, body: string | object): string;
  /** Moves the issue to a status by name through the workflow. */
  transition(issueKey: string, statusName: string): void;
  /** Answers the pending JSM approval (or the given one). */
  approve(issueKey: string, approvalId?: string): void;
  /** Declines the pending JSM approval (or the given one). */
  decline(issueKey: string, approvalId?: string): void;
}

/** A running sandbox. */
export interface JiraSandbox {
  /** Listening URL, e.g. `http://127.0.0.1:34567`. */
  readonly url: string;
  /** Site URL used in links. */
  readonly baseUrl: string;
  readonly state: JiraSandboxState;
  readonly views: JiraViews;
  readonly webhooks: WebhookSender;
  /** Every call answered, in order (control endpoints excluded). */
  readonly calls: SandboxCall[];
  /** Method and path template of every REST operation the sandbox implements. */
  readonly routes: ReadonlyArray<{ method: string; template: string }>;
  /** /rest calls the sandbox does not implement (also answered 501). */
  readonly unimplemented: string[];
  /** The contract recorder, when contract checking is on. */
  readonly contract?: ContractRecorder;
  /** The service's API account. */
  readonly apiUser: SandboxUser;
  /** Basic credentials of the API account. */
  readonly credentials: { email: string; apiToken: string };
  /** Ready-made `Authorization` header value for the API account. */
  readonly authorization: string;
  /** Replace a response body before it is sent and checked (drift tests). */
  transformResponse?: (exchange: ResponseExchange) => unknown;
  /** Adds seed data. */
  seed(seed: SandboxSeed): void;
  /** Acts as a user. */
  as(accountId: string): SandboxActor;
  /** Registers a webhook; `secret` defaults to the sandbox's `webhookSecret` (`''` for unsigned). */
  registerWebhook(input: { url: string; secret?: string; events?: string[]; jql?: string }): WebhookRegistration;
  /**
   * The next `count` matching /rest calls answer 429 as Jira does: `Retry-After: retryAfter`
   * (seconds), `X-RateLimit-Reset` (ISO 8601) and `RateLimit-Reason` (`filter.reason`, default
   * `jira-burst-based`; `jira-per-issue-on-write` with `filter.issue` limits one issue's writes).
   */
  rateLimit(count: number, retryAfter: number, filter?: FaultFilter): void;
  /**
   * Takes a permission (`USER_PICKER`, `TRANSITION_ISSUES`, `ADMINISTER` ...) from an account
   * (default: the API account), as an administrator editing a permission scheme would; every
   * account holds every permission the sandbox knows until then.
   */
  revokePermission(permission: string, accountId?: string): void;
  /** The next `count` matching /rest calls answer `status` (e.g. 503); with `after`, once carried out. */
  fail(count: number, status: number, filter?: { methods?: string[]; path?: string; after?: boolean }): void;
  /** Calls that change state (POST/PUT/DELETE under /rest), answered 2xx. */
  writes(): SandboxCall[];
  /** Contract violations so far (empty when checking is off). */
  violations(): ContractViolation[];
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
  raw?: { content: Buffer; type: string };
  headers?: Record<string, string>;
}

interface RequestContext {
  method: string;
  path: string;
  params: Record<string, string>;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  body: unknown;
  rawBody: Buffer;
  actor: SandboxUser;
}

interface Route {
  method: string;
  template: string;
  regex: RegExp;
  names: string[];
  handler: Handler;
}

const JSON_TYPE = 'application/json;charset=UTF-8';

function compileRoute(method: string, template: string, handler: Handler): Route {
  const names: string[] = [];
  const pattern = template
    .split('/')
    .map((seg) => (seg.startsWith('{') ? (names.push(seg.slice(1, -1)), '([^/]+)') : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/');
  return { method, template, regex: new RegExp(`^${pattern}/?$`), names, handler };
}

function int(q: URLSearchParams, name: string, dflt: number): number {
  const v = q.get(name);
  const n = v === null ? NaN : Number(v);
  return Number.isInteger(n) && n >= 0 ? n : dflt;
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        reject(new JiraApiError(413, ['The request body is too large.']));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** True when an injected fault answers this call: method, path substring, and (per-issue limits) a write to its issue. */
function faultMatches(f: InjectedFault, method: string, path: string, state: JiraSandboxState): boolean {
  if (f.methods && !f.methods.includes(method)) return false;
  if (f.path && !path.includes(f.path)) return false;
  if (!f.issue) return true;
  if (method === 'GET' || method === 'HEAD') return false;
  const m = /^\/rest\/(?:api\/[23]\/issue|servicedeskapi\/request)\/([^/]+)/.exec(path);
  if (!m) return false;
  const target = decodeURIComponent(m[1] as string);
  const aliases = state.issues.has(f.issue) || [...state.issues.values()].some((i) => i.key === f.issue) ? [state.issue(f.issue).key, state.issue(f.issue).id] : [f.issue];
  return aliases.includes(target);
}

/** Jira's 429 headers: `Retry-After` (s), `X-RateLimit-Reset` (ISO 8601, request time + Retry-After) and `RateLimit-Reason`. */
function rateLimitHeaders(f: InjectedFault, now: Date): Record<string, string> {
  const seconds = f.retryAfter ?? 1;
  return {
    'Retry-After': String(seconds),
    'X-RateLimit-Reset': new Date(now.getTime() + seconds * 1000).toISOString(),
    'RateLimit-Reason': f.reason ?? (f.issue ? 'jira-per-issue-on-write' : 'jira-burst-based'),
  };
}

/** The permissions the sandbox knows (Jira's keys, ids and types); an account holds each unless revoked. */
const PERMISSIONS: Readonly<Record<string, { id: string; name: string; type: 'GLOBAL' | 'PROJECT'; description: string }>> = {
  ADMINISTER: { id: '0', name: 'Administer Jira', type: 'GLOBAL', description: 'Create and administer projects, issue types, fields, workflows and screens.' },
  USER_PICKER: { id: '27', name: 'Browse users and groups', type: 'GLOBAL', description: 'View and select users or groups from the user picker.' },
  BROWSE_PROJECTS: { id: '10', name: 'Browse Projects', type: 'PROJECT', description: 'Ability to browse projects and the issues within them.' },
  CREATE_ISSUES: { id: '11', name: 'Create Issues', type: 'PROJECT', description: 'Ability to create issues.' },
  EDIT_ISSUES: { id: '12', name: 'Edit Issues', type: 'PROJECT', description: 'Ability to edit issues.' },
  TRANSITION_ISSUES: { id: '46', name: 'Transition Issues', type: 'PROJECT', description: 'Ability to transition issues.' },
  ADD_COMMENTS: { id: '15', name: 'Add Comments', type: 'PROJECT', description: 'Ability to comment on issues.' },
  EDIT_OWN_COMMENTS: { id: '35', name: 'Edit Own Comments', type: 'PROJECT', description: 'Ability to edit own comments made on issues.' },
  CREATE_ATTACHMENTS: { id: '19', name: 'Create Attachments', type: 'PROJECT', description: 'Users with this permission may create attachments.' },
};

/** A workflow as `GET /rest/api/3/workflow/search` shows it, with its transitions and statuses when expanded. */
function workflowView(w: SandboxWorkflow, expand: string[], statusName: (id: string) => string): Record<string, unknown> {
  const out: Record<string, unknown> = { id: { name: w.name, entityId: `wf-${w.name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}` }, description: '' };
  if (expand.includes('transitions')) {
    out.transitions = [
      { id: '1', name: 'Create', description: '', from: [], to: w.initialStatusId, type: 'initial' },
      ...w.transitions.map((t) => ({ id: t.id, name: t.name, description: '', from: t.from, to: t.to, type: t.from.length ? 'directed' : 'global' })),
    ];
  }
  if (expand.includes('statuses')) {
    const ids = new Set([w.initialStatusId, ...w.transitions.flatMap((t) => [...t.from, t.to])]);
    out.statuses = [...ids].map((id) => ({ id, name: statusName(id) }));
  }
  return out;
}

/** An admin webhook as `GET /rest/webhooks/1.0/webhook` shows it (never its secret). */
function adminWebhookView(w: { id: string; url: string; events: string[]; jql?: string }, baseUrl: string): Record<string, unknown> {
  return {
    name: `webhook ${w.id}`,
    url: w.url,
    excludeBody: false,
    filters: { 'issue-related-events-section': w.jql ?? '' },
    events: w.events.length ? w.events : ['jira:issue_created', 'jira:issue_updated', 'jira:issue_deleted', 'comment_created', 'comment_updated', 'comment_deleted'],
    enabled: true,
    self: `${baseUrl}/rest/webhooks/1.0/webhook/${w.id}`,
  };
}

/** Whether a path is judged by the OpenAPI documents: every /rest path but the admin webhooks, which no document describes. */
function contracted(path: string): boolean {
  return path.startsWith('/rest') && !path.startsWith('/rest/webhooks/');
}

/** Starts a Jira sandbox; see {@link JiraSandboxOptions}. */
export async function startJiraSandbox(options: JiraSandboxOptions = {}): Promise<JiraSandbox> {
  const clock = options.clock ?? systemClock;
  const webhooks = new WebhookSender({ retryDelaysMs: options.webhookRetryDelaysMs, timeoutMs: options.webhookTimeoutMs, concurrent: options.concurrentWebhooks });
  const calls: SandboxCall[] = [];
  const unimplemented: string[] = [];
  const faults: InjectedFault[] = [];
  /** `<accountId> <PERMISSION_KEY>` pairs revoked with {@link JiraSandbox.revokePermission}. */
  const revoked = new Set<string>();
  /** Jira administration: in jira-admins and ADMINISTER not revoked; else 403 as Jira answers. */
  const requireAdmin = (ctx: { actor: SandboxUser }): void => {
    if (ctx.actor.groups.includes('jira-admins') && !revoked.has(`${ctx.actor.accountId} ADMINISTER`)) return;
    throw new JiraApiError(403, ['You are not authorized to perform this action. Administrator privileges are required.']);
  };
  const wanted = options.contract ?? true;
  const contract = wanted === true ? new ContractRecorder(loadJiraContracts()) : wanted || undefined;
  const maxBody = options.maxBodyBytes ?? 20 * 1024 * 1024;
  // Views need the base URL, known only once listening; events are rendered through this holder.
  const holder: { views?: JiraViews } = {};

  const onEvent = (event: StateEvent): void => {
    const views = holder.views;
    if (!views) return;
    const timestamp = clock.now().getTime();
    const matches = (q: Parameters<typeof matchesJql>[0]) => matchesJql(q, state.jqlView(event.issue));
    switch (event.type) {
      case 'issue_created':
        webhooks.dispatch(
          'jira:issue_created',
          {
            timestamp,
            webhookEvent: 'jira:issue_created',
            issue_event_type_name: 'issue_created',
            user: views.userRef(event.actorId, '2'),
            issue: views.webhookIssue(event.issue),
            changelog: views.webhookChangelog(event.changelog),
          },
          matches,
        );
        break;
      case 'issue_updated':
        webhooks.dispatch(
          'jira:issue_updated',
          {
            timestamp,
            webhookEvent: 'jira:issue_updated',
            issue_event_type_name: event.eventTypeName,
            user: views.userRef(event.actorId, '2'),
            issue: views.webhookIssue(event.issue),
            ...(event.changelog ? { changelog: views.webhookChangelog(event.changelog) } : {}),
            ...(event.comment ? { comment: views.comment(event.issue, event.comment, '2') } : {}),
          },
          matches,
        );
        break;
      case 'comment_created':
      case 'comment_updated':
        webhooks.dispatch(
          event.type,
          { timestamp, webhookEvent: event.type, comment: views.comment(event.issue, event.comment, '2'), issue: views.webhookIssueShort(event.issue) },
          matches,
        );
        break;
    }
  };

  const state = new JiraSandboxState(onEvent, clock);
  const creds = {
    email: options.auth?.email ?? 'ticket-surface@example.com',
    apiToken: options.auth?.apiToken ?? 'sandbox-api-token',
  };
  state.seed({
    users: [
      {
        accountId: options.auth?.accountId ?? '557058:ticket-surface-bot',
        displayName: options.auth?.displayName ?? 'ticket-surface',
        email: creds.email,
        apiToken: creds.apiToken,
        groups: ['jira-admins'],
      },
    ],
  });
  const apiUser = [...state.users.values()][0] as SandboxUser;
  if (options.seed) state.seed(options.seed);

  const views = (): JiraViews => holder.views as JiraViews;
  const baseUrlHolder = { value: '' };
  const routes: Route[] = [];
  const route = (method: string, template: string, handler: Handler) => routes.push(compileRoute(method, template, handler));
  const ok = (body: unknown, status = 200): Reply => ({ status, body });
  const pageBean = (ctx: RequestContext, values: unknown[]) => {
    const startAt = int(ctx.query, 'startAt', 0);
    const maxResults = Math.min(int(ctx.query, 'maxResults', 50) || 50, options.maxPageSize ?? Number.MAX_SAFE_INTEGER);
    const page = values.slice(startAt, startAt + maxResults);
    const isLast = startAt + page.length >= values.length;
    const self = new URL(ctx.path, baseUrlHolder.value);
    const out: Record<string, unknown> = { self: self.toString(), maxResults, startAt, total: values.length, isLast, values: page };
    if (!isLast) {
      self.searchParams.set('startAt', String(startAt + page.length));
      self.searchParams.set('maxResults', String(maxResults));
      out.nextPage = self.toString();
    }
    return out;
  };
  const jsonBody = (ctx: RequestContext): Record<string, unknown> => {
    if (ctx.body === undefined || ctx.body === null || typeof ctx.body !== 'object' || Array.isArray(ctx.body)) {
      throw new JiraApiError(400, ['The request body must be a JSON object.']);
    }
    return ctx.body as Record<string, unknown>;
  };

  // --- issues -----------------------------------------------------------------------------
  route('POST', '/rest/api/3/issue', (ctx) => {
    const b = jsonBody(ctx);
    const issue = state.createIssue({ fields: (b.fields ?? {}) as Record<string, unknown>, update: b.update as Record<string, unknown>, properties: b.properties as never }, ctx.actor.accountId);
    return ok({ id: issue.id, key: issue.key, self: `${baseUrlHolder.value}/rest/api/3/issue/${issue.id}` }, 201);
  });
  route('GET', '/rest/api/3/issue/{issueIdOrKey}', (ctx) => {
    const issue = state.issue(ctx.params.issueIdOrKey as string);
    return ok(
      views().issueBean(issue, {
        fields: ctx.query.getAll('fields').length ? ctx.query.getAll('fields') : ['*all'],
        expand: ctx.query.getAll('expand'),
        properties: ctx.query.getAll('properties'),
        callerId: ctx.actor.accountId,
      }),
    );
  });
  route('PUT', '/rest/api/3/issue/{issueIdOrKey}', (ctx) => {
    const b = jsonBody(ctx);
    state.editIssue(ctx.params.issueIdOrKey as string, { fields: b.fields as Record<string, unknown>, update: b.update as Record<string, unknown> }, ctx.actor.accountId);
    if (ctx.query.get('returnIssue') === 'true') return ok(views().issueBean(state.issue(ctx.params.issueIdOrKey as string), { expand: ctx.query.getAll('expand') }));
    return { status: 204 };
  });
  const search = (input: { jql?: unknown; fields?: unknown; expand?: unknown; properties?: unknown; maxResults?: unknown; nextPageToken?: unknown }): Reply => {
    if (typeof input.jql !== 'string' || input.jql.trim() === '') throw new JiraApiError(400, ['Unbounded JQL queries are not allowed here. Please add a search restriction to your query.']);
    let hits: SandboxIssue[];
    try {
      hits = state.search(input.jql);
    } catch (err) {
      if (err instanceof JqlError) throw new JiraApiError(400, [err.message]);
      throw err;
    }
    const max = Math.min(typeof input.maxResults === 'number' && input.maxResults > 0 ? input.maxResults : 50, 5000);
    const start = typeof input.nextPageToken === 'string' ? Number(Buffer.from(input.nextPageToken, 'base64url').toString()) || 0 : 0;
    const page = hits.slice(start, start + max);
    const fields = (Array.isArray(input.fields) ? input.fields : typeof input.fields === 'string' ? [input.fields] : []).map(String);
    const idOnly = fields.length === 0 || (fields.length === 1 && fields[0] === 'id');
    const expand = typeof input.expand === 'string' ? [input.expand] : Array.isArray(input.expand) ? input.expand.map(String) : [];
    const properties = Array.isArray(input.properties) ? input.properties.map(String) : [];
    const issues = page.map((i) => (idOnly && !expand.length && !properties.length ? { id: i.id } : views().issueBean(i, { fields: idOnly ? ['id'] : fields, expand, properties })));
    const isLast = start + page.length >= hits.length;
    return ok({ issues, isLast, ...(isLast ? {} : { nextPageToken: Buffer.from(String(start + page.length)).toString('base64url') }) });
  };
  route('POST', '/rest/api/3/search/jql', (ctx) => search(jsonBody(ctx)));
  route('GET', '/rest/api/3/search/jql', (ctx) =>
    search({
      jql: ctx.query.get('jql') ?? undefined,
      fields: ctx.query.getAll('fields').flatMap((f) => f.split(',')),
      expand: ctx.query.get('expand') ?? undefined,
      properties: ctx.query.getAll('properties').flatMap((f) => f.split(',')),
      maxResults: ctx.query.get('maxResults') ? Number(ctx.query.get('maxResults')) : undefined,
      nextPageToken: ctx.query.get('nextPageToken') ?? undefined,
    }),
  );
  // Jira Cloud removed the old search; answering 410 like the product keeps clients honest.
  for (const m of ['GET', 'POST']) route(m, '/rest/api/3/search', () => ({ status: 410, body: { errorMessages: ['The requested API has been removed. Please migrate to the /rest/api/3/search/jql API.'], errors: {} } }));

  // --- issue properties -------------------------------------------------------------------
  route('GET', '/rest/api/3/issue/{issueIdOrKey}/properties', (ctx) => {
    const issue = state.issue(ctx.params.issueIdOrKey as string);
    return ok({ keys: [...issue.properties.keys()].map((key) => ({ key, self: `${baseUrlHolder.value}/rest/api/3/issue/${issue.id}/properties/${encodeURIComponent(key)}` })) });
  });
  route('GET', '/rest/api/3/issue/{issueIdOrKey}/properties/{propertyKey}', (ctx) => {
    const key = ctx.params.propertyKey as string;
    return ok({ key, value: state.issueProperty(ctx.params.issueIdOrKey as string, key) });
  });
  route('PUT', '/rest/api/3/issue/{issueIdOrKey}/properties/{propertyKey}', (ctx) => {
    const created = state.setIssueProperty(ctx.params.issueIdOrKey as string, ctx.params.propertyKey as string, ctx.body);
    return { status: created ? 201 : 200 };
  });
  route('DELETE', '/rest/api/3/issue/{issueIdOrKey}/properties/{propertyKey}', (ctx) => {
    state.deleteIssueProperty(ctx.params.issueIdOrKey as string, ctx.params.propertyKey as string);
    return { status: 204 };
  });

  // --- transitions ------------------------------------------------------------------------
  route('GET', '/rest/api/3/issue/{issueIdOrKey}/transitions', (ctx) => {
    const issue = state.issue(ctx.params.issueIdOrKey as string);
    let ts = state.transitionsFor(issue);
    const only = ctx.query.get('transitionId');
    if (only) ts = ts.filter((t) => t.id === only);
    const withFields = (ctx.query.get('expand') ?? '').split(',').includes('transitions.fields');
    return ok({ transitions: ts.map((t) => views().transition(t, withFields)) });
  });
  route('POST', '/rest/api/3/issue/{issueIdOrKey}/transitions', (ctx) => {
    const b = jsonBody(ctx);
    state.transitionIssue(ctx.params.issueIdOrKey as string, b as never, ctx.actor.accountId);
    return { status: 204 };
  });

  // --- attachments ------------------------------------------------------------------------
  route('POST', '/rest/api/3/issue/{issueIdOrKey}/attachments', async (ctx) => {
    if (String(ctx.headers['x-atlassian-token'] ?? '').toLowerCase() !== 'no-check') {
      return { status: 403, body: { errorMessages: ['XSRF check failed'], errors: {} } };
    }
    state.issue(ctx.params.issueIdOrKey as string);
    const type = String(ctx.headers['content-type'] ?? '');
    if (!type.startsWith('multipart/form-data')) throw new JiraApiError(415, ['Attachments must be sent as multipart/form-data.']);
    const form = await new Request('http://sandbox.invalid/', { method: 'POST', headers: { 'content-type': type }, body: ctx.rawBody }).formData();
    const files: Array<{ filename: string; mimeType: string; content: Buffer }> = [];
    for (const [name, value] of form.entries()) {
      if (name !== 'file' || typeof value === 'string') continue;
      files.push({ filename: value.name || 'attachment', mimeType: value.type || 'application/octet-stream', content: Buffer.from(await value.arrayBuffer()) });
    }
    if (!files.length) throw new JiraApiError(400, ['No file was attached: the multipart parameter must be named "file".']);
    const added = state.addAttachments(ctx.params.issueIdOrKey as string, files, ctx.actor.accountId);
    return ok(added.map((a) => views().attachment(a)));
  });
  route('GET', '/rest/api/3/attachment/content/{id}', (ctx) => {
    const a = state.attachment(ctx.params.id as string);
    return { status: 200, raw: { content: a.content, type: a.mimeType } };
  });

  // --- comments ---------------------------------------------------------------------------
  route('GET', '/rest/api/3/issue/{issueIdOrKey}/comment', (ctx) => {
    const issue = state.issue(ctx.params.issueIdOrKey as string);
    const startAt = int(ctx.query, 'startAt', 0);
    const maxResults = int(ctx.query, 'maxResults', 5000) || 5000;
    const withProps = (ctx.query.get('expand') ?? '').split(',').includes('properties');
    let list = [...issue.comments];
    const order = ctx.query.get('orderBy');
    if (order === '-created' || order === '-created,') list.reverse();
    const page = list.slice(startAt, startAt + maxResults);
    return ok({ comments: page.map((c) => views().comment(issue, c, '3', withProps)), maxResults, startAt, total: list.length });
  });
  route('POST', '/rest/api/3/issue/{issueIdOrKey}/comment', (ctx) => {
    const b = jsonBody(ctx);
    const issue = state.issue(ctx.params.issueIdOrKey as string);
    const c = state.addComment(issue.key, { body: b.body, visibility: b.visibility as never, properties: b.properties as never }, ctx.actor.accountId);
    return ok(views().comment(issue, c), 201);
  });
  route('GET', '/rest/api/3/issue/{issueIdOrKey}/comment/{id}', (ctx) => {
    const issue = state.issue(ctx.params.issueIdOrKey as string);
    const c = issue.comments.find((x) => x.id === ctx.params.id);
    if (!c) throw new JiraApiError(404, [`Can not find a comment for the id: ${ctx.params.id}.`]);
    return ok(views().comment(issue, c, '3', (ctx.query.get('expand') ?? '').split(',').includes('properties')));
  });
  route('PUT', '/rest/api/3/issue/{issueIdOrKey}/comment/{id}', (ctx) => {
    const b = jsonBody(ctx);
    const issue = state.issue(ctx.params.issueIdOrKey as string);
    const c = state.updateComment(issue.key, ctx.params.id as string, { body: b.body, visibility: b.visibility as never }, ctx.actor.accountId);
    return ok(views().comment(issue, c));
  });
  route('DELETE', '/rest/api/3/issue/{issueIdOrKey}/comment/{id}', (ctx) => {
    state.deleteComment(ctx.params.issueIdOrKey as string, ctx.params.id as string);
    return { status: 204 };
  });

  // --- fields, contexts, options ----------------------------------------------------------
  route('GET', '/rest/api/3/field', () => ok([...state.fields.values()].map((f) => views().field(f))));
  route('POST', '/rest/api/3/field', (ctx) => ok(views().field(state.createCustomField(jsonBody(ctx))), 201));
  route('GET', '/rest/api/3/field/{fieldId}/context', (ctx) => {
    const f = state.field(ctx.params.fieldId as string);
    let ctxs = f.contexts;
    const ids = ctx.query.getAll('contextId');
    if (ids.length) ctxs = ctxs.filter((c) => ids.includes(c.id));
    const g = ctx.query.get('isGlobalContext');
    if (g !== null) ctxs = ctxs.filter((c) => (c.projectIds.length === 0) === (g === 'true'));
    const a = ctx.query.get('isAnyIssueType');
    if (a !== null) ctxs = ctxs.filter((c) => (c.issueTypeIds.length === 0) === (a === 'true'));
    return ok(pageBean(ctx, ctxs.map((c) => views().context(c))));
  });
  route('POST', '/rest/api/3/field/{fieldId}/context', (ctx) => {
    const c = state.createContext(ctx.params.fieldId as string, jsonBody(ctx));
    return ok({ id: c.id, name: c.name, description: c.description, projectIds: c.projectIds, issueTypeIds: c.issueTypeIds }, 201);
  });
  route('GET', '/rest/api/3/field/{fieldId}/context/projectmapping', (ctx) => {
    const f = state.field(ctx.params.fieldId as string);
    const rows = f.contexts.flatMap((c): Array<Record<string, unknown>> => (c.projectIds.length ? c.projectIds.map((projectId) => ({ contextId: c.id, projectId })) : [{ contextId: c.id, isGlobalContext: true }]));
    return ok(pageBean(ctx, rows));
  });
  route('GET', '/rest/api/3/field/{fieldId}/context/issuetypemapping', (ctx) => {
    const f = state.field(ctx.params.fieldId as string);
    const only = ctx.query.getAll('contextId');
    const rows = f.contexts.filter((c) => !only.length || only.includes(c.id)).flatMap((c): Array<Record<string, unknown>> => (c.issueTypeIds.length ? c.issueTypeIds.map((issueTypeId) => ({ contextId: c.id, issueTypeId })) : [{ contextId: c.id, isAnyIssueType: true }]));
    return ok(pageBean(ctx, rows));
  });
  route('PUT', '/rest/api/3/field/{fieldId}/context/{contextId}/issuetype', (ctx) => {
    state.addIssueTypesToContext(ctx.params.fieldId as string, ctx.params.contextId as string, jsonBody(ctx));
    return { status: 204 };
  });
  route('GET', '/rest/api/3/field/{fieldId}/context/{contextId}/option', (ctx) => {
    const c = state.context(ctx.params.fieldId as string, ctx.params.contextId as string);
    let opts = c.options;
    const only = ctx.query.get('optionId');
    if (only) opts = opts.filter((o) => o.id === only);
    if (ctx.query.get('onlyOptions') === 'true') opts = opts.filter((o) => !o.optionId);
    return ok(pageBean(ctx, opts.map((o) => ({ id: o.id, value: o.value, disabled: o.disabled, ...(o.optionId ? { optionId: o.optionId } : {}) }))));
  });
  route('POST', '/rest/api/3/field/{fieldId}/context/{contextId}/option', (ctx) => {
    const added = state.createOptions(ctx.params.fieldId as string, ctx.params.contextId as string, jsonBody(ctx).options);
    return ok({ options: added.map((o) => ({ id: o.id, value: o.value, disabled: o.disabled, ...(o.optionId ? { optionId: o.optionId } : {}) })) });
  });
  route('PUT', '/rest/api/3/field/{fieldId}/context/{contextId}/option', (ctx) => {
    const changed = state.updateOptions(ctx.params.fieldId as string, ctx.params.contextId as string, jsonBody(ctx).options);
    return ok({ options: changed.map((o) => ({ id: o.id, value: o.value, disabled: o.disabled })) });
  });
  route('DELETE', '/rest/api/3/field/{fieldId}/context/{contextId}/option/{optionId}', (ctx) => {
    state.deleteOption(ctx.params.fieldId as string, ctx.params.contextId as string, ctx.params.optionId as string);
    return { status: 204 };
  });

  // --- screens ----------------------------------------------------------------------------
  route('GET', '/rest/api/3/screens', (ctx) => {
    let screens = [...state.screens.values()];
    const ids = numbers(ctx, 'id').map(Number);
    if (ids.length) screens = screens.filter((s) => ids.includes(s.id));
    const q = ctx.query.get('queryString');
    if (q) screens = screens.filter((s) => s.name.toLowerCase().includes(q.toLowerCase()));
    return ok(pageBean(ctx, screens.map((s) => ({ id: s.id, name: s.name, description: s.description }))));
  });
  route('POST', '/rest/api/3/screens', (ctx) => {
    const s = state.createScreen(jsonBody(ctx));
    return ok({ id: s.id, name: s.name, description: s.description }, 201);
  });
  route('GET', '/rest/api/3/screens/{screenId}/tabs', (ctx) => ok(state.screen(ctx.params.screenId as string).tabs.map((t) => ({ id: t.id, name: t.name }))));
  route('GET', '/rest/api/3/screens/{screenId}/tabs/{tabId}/fields', (ctx) =>
    ok(state.tab(ctx.params.screenId as string, ctx.params.tabId as string).fieldIds.map((id) => ({ id, name: state.fields.get(id)?.name ?? id }))),
  );
  route('POST', '/rest/api/3/screens/{screenId}/tabs/{tabId}/fields', (ctx) => {
    const f = state.addFieldToTab(ctx.params.screenId as string, ctx.params.tabId as string, jsonBody(ctx).fieldId);
    return ok({ id: f.id, name: f.name });
  });
  route('DELETE', '/rest/api/3/screens/{screenId}/tabs/{tabId}/fields/{id}', (ctx) => {
    state.removeFieldFromTab(ctx.params.screenId as string, ctx.params.tabId as string, ctx.params.id as string);
    return { status: 204 };
  });
  route('GET', '/rest/api/3/screens/{screenId}/availableFields', (ctx) => {
    const s = state.screen(ctx.params.screenId as string);
    const on = new Set(s.tabs.flatMap((t) => t.fieldIds));
    return ok([...state.fields.values()].filter((f) => !on.has(f.id)).map((f) => ({ id: f.id, name: f.name })));
  });

  // --- screen schemes ----------------------------------------------------------------------
  const numbers = (ctx: RequestContext, name: string) => ctx.query.getAll(name).flatMap((v) => v.split(',')).filter(Boolean);
  const itssBean = (x: { id: string; name: string; description: string }) => ({ id: x.id, name: x.name, description: x.description });
  route('GET', '/rest/api/3/issuetypescreenscheme', (ctx) => {
    const ids = numbers(ctx, 'id');
    const all = [...state.issueTypeScreenSchemes.values()].filter((x) => !ids.length || ids.includes(x.id));
    return ok(pageBean(ctx, all.map(itssBean)));
  });
  route('GET', '/rest/api/3/issuetypescreenscheme/project', (ctx) => {
    const wanted = numbers(ctx, 'projectId');
    const projects = [...state.projects.values()].filter((p) => p.issueTypeScreenSchemeId && (!wanted.length || wanted.includes(p.id)));
    const byScheme = new Map<string, string[]>();
    for (const p of projects) byScheme.set(p.issueTypeScreenSchemeId as string, [...(byScheme.get(p.issueTypeScreenSchemeId as string) ?? []), p.id]);
    const rows = [...byScheme].map(([id, projectIds]) => ({ issueTypeScreenScheme: itssBean(state.issueTypeScreenSchemes.get(id) as never), projectIds }));
    return ok(pageBean(ctx, rows));
  });
  route('GET', '/rest/api/3/issuetypescreenscheme/mapping', (ctx) => {
    const ids = numbers(ctx, 'issueTypeScreenSchemeId');
    const schemes = [...state.issueTypeScreenSchemes.values()].filter((x) => !ids.length || ids.includes(x.id));
    const rows = schemes.flatMap((x) => Object.entries(x.mappings).map(([issueTypeId, ss]) => ({ issueTypeId, issueTypeScreenSchemeId: x.id, screenSchemeId: String(ss) })));
    return ok(pageBean(ctx, rows));
  });
  route('GET', '/rest/api/3/issuetypescreenscheme/{issueTypeScreenSchemeId}/project', (ctx) => {
    const id = ctx.params.issueTypeScreenSchemeId as string;
    if (!state.issueTypeScreenSchemes.has(id)) throw new JiraApiError(404, [`The issue type screen scheme with ID ${id} was not found.`]);
    const projects = [...state.projects.values()].filter((p) => p.issueTypeScreenSchemeId === id);
    return ok(pageBean(ctx, projects.map((p) => views().projectDetails(p))));
  });
  route('PUT', '/rest/api/3/issuetypescreenscheme/{issueTypeScreenSchemeId}/mapping', (ctx) => {
    state.appendScreenSchemeMappings(ctx.params.issueTypeScreenSchemeId as string, jsonBody(ctx));
    return { status: 204 };
  });
  route('POST', '/rest/api/3/screenscheme', (ctx) => ok({ id: state.createScreenScheme(jsonBody(ctx)).id }, 201));
  route('GET', '/rest/api/3/screenscheme', (ctx) => {
    const ids = numbers(ctx, 'id').map(Number);
    const q = ctx.query.get('queryString')?.toLowerCase();
    const all = [...state.screenSchemes.values()].filter((x) => (!ids.length || ids.includes(x.id)) && (!q || x.name.toLowerCase().includes(q)));
    return ok(pageBean(ctx, all.map((x) => ({ id: x.id, name: x.name, description: x.description, screens: { ...x.screens } }))));
  });

  // --- projects, issue types, statuses ----------------------------------------------------
  route('GET', '/rest/api/3/project/{projectIdOrKey}', (ctx) => ok(views().project(state.project(ctx.params.projectIdOrKey as string))));
  route('GET', '/rest/api/3/project/{projectIdOrKey}/statuses', (ctx) => {
    const p = state.project(ctx.params.projectIdOrKey as string);
    const ids = new Set([p.workflow.initialStatusId, ...p.workflow.transitions.flatMap((t) => [...t.from, t.to])]);
    const statuses = [...ids].map((id) => views().status(state.statuses.get(id) as never));
    return ok(
      p.issueTypeIds.map((id) => {
        const t = state.issueTypes.get(id) as { id: string; name: string; subtask: boolean };
        return { self: `${baseUrlHolder.value}/rest/api/3/issueType/${t.id}`, id: t.id, name: t.name, subtask: t.subtask, statuses };
      }),
    );
  });
  route('GET', '/rest/api/3/issuetype', () => ok([...state.issueTypes.values()].map((t) => views().issueType(t))));
  route('POST', '/rest/api/3/issuetype', (ctx) => ok(views().issueType(state.createIssueType(jsonBody(ctx))), 201));

  // --- issue type schemes (classic projects) -----------------------------------------------
  const itsBean = (x: SandboxIssueTypeScheme) => ({
    id: x.id,
    name: x.name,
    description: x.description,
    ...(x.issueTypeIds[0] ? { defaultIssueTypeId: x.issueTypeIds[0] } : {}),
    ...(x.isDefault ? { isDefault: true } : {}),
  });
  route('GET', '/rest/api/3/issuetypescheme', (ctx) => {
    const ids = numbers(ctx, 'id');
    return ok(pageBean(ctx, [...state.issueTypeSchemes.values()].filter((x) => !ids.length || ids.includes(x.id)).map(itsBean)));
  });
  // Each scheme used by one of the projects asked for, with every project that uses it.
  route('GET', '/rest/api/3/issuetypescheme/project', (ctx) => {
    const wanted = numbers(ctx, 'projectId');
    if (!wanted.length) throw new JiraApiError(400, ['The projectId parameter is required.']);
    const schemeIds = [...new Set([...state.projects.values()].filter((p) => wanted.includes(p.id) && p.issueTypeSchemeId).map((p) => p.issueTypeSchemeId as string))];
    const rows = schemeIds.map((id) => ({
      issueTypeScheme: itsBean(state.issueTypeScheme(id)),
      projectIds: [...state.projects.values()].filter((p) => p.issueTypeSchemeId === id).map((p) => p.id),
    }));
    return ok(pageBean(ctx, rows));
  });
  route('GET', '/rest/api/3/issuetypescheme/mapping', (ctx) => {
    const ids = numbers(ctx, 'issueTypeSchemeId');
    const schemes = [...state.issueTypeSchemes.values()].filter((x) => !ids.length || ids.includes(x.id));
    return ok(pageBean(ctx, schemes.flatMap((x) => x.issueTypeIds.map((issueTypeId) => ({ issueTypeSchemeId: x.id, issueTypeId })))));
  });
  route('PUT', '/rest/api/3/issuetypescheme/{issueTypeSchemeId}/issuetype', (ctx) => {
    state.addIssueTypesToScheme(ctx.params.issueTypeSchemeId as string, jsonBody(ctx));
    return { status: 204 };
  });
  route('GET', '/rest/api/3/issuetype/project', (ctx) => {
    const id = ctx.query.get('projectId');
    if (!id) throw new JiraApiError(400, ['The projectId parameter is required.']);
    const p = state.project(id);
    return ok(p.issueTypeIds.map((t) => views().issueType(state.issueTypes.get(t) as never)));
  });
  route('GET', '/rest/api/3/status', () => ok([...state.statuses.values()].map((s) => views().status(s))));

  // --- what `ticket-surface doctor` reads: permissions, workflows, admin webhooks ------------
  route('GET', '/rest/api/3/mypermissions', (ctx) => {
    const keys = (ctx.query.get('permissions') ?? '').split(',').map((k) => k.trim()).filter(Boolean);
    if (!keys.length) throw new JiraApiError(400, ['The permissions query parameter is required.']);
    const unknown = keys.filter((k) => !PERMISSIONS[k]);
    if (unknown.length) throw new JiraApiError(400, [`Unrecognized permission keys: ${unknown.join(', ')}`]);
    const project = ctx.query.get('projectKey') ?? ctx.query.get('projectId');
    if (project) state.project(project);
    const out: Record<string, unknown> = {};
    for (const k of keys) out[k] = { ...PERMISSIONS[k], key: k, havePermission: !revoked.has(`${ctx.actor.accountId} ${k}`) };
    return ok({ permissions: out });
  });
  route('GET', '/rest/api/3/workflowscheme/project', (ctx) => {
    requireAdmin(ctx);
    const ids = ctx.query.getAll('projectId');
    if (!ids.length) throw new JiraApiError(400, ['The projectId parameter is required.']);
    const values = ids.map((id) => state.project(id)).map((p) => ({
      projectIds: [p.id],
      workflowScheme: { id: Number(p.id), name: `${p.key}: ${p.workflow.name} scheme`, description: '', defaultWorkflow: p.workflow.name, issueTypeMappings: {}, self: `${baseUrlHolder.value}/rest/api/3/workflowscheme/${p.id}` },
    }));
    return ok({ values });
  });
  route('GET', '/rest/api/3/workflow/search', (ctx) => {
    requireAdmin(ctx);
    const name = ctx.query.get('workflowName');
    const expand = (ctx.query.get('expand') ?? '').split(',');
    const wfs = [...state.workflows.values()].filter((w) => !name || w.name === name);
    return ok(pageBean(ctx, wfs.map((w) => workflowView(w, expand, (id) => state.statuses.get(id)?.name ?? id))));
  });
  // Admin webhooks: Atlassian documents them on its Webhooks page, not in the OpenAPI document,
  // so these answers are not contract-checked; the secret is never shown.
  route('GET', '/rest/webhooks/1.0/webhook', (ctx) => {
    requireAdmin(ctx);
    return ok(webhooks.list().map((w) => adminWebhookView(w, baseUrlHolder.value)));
  });

  // --- users and groups -------------------------------------------------------------------
  route('GET', '/rest/api/3/myself', (ctx) => ok(views().user(ctx.actor)));
  route('GET', '/rest/api/3/user', (ctx) => {
    const id = ctx.query.get('accountId');
    if (!id) throw new JiraApiError(400, ['The accountId query parameter needs to be provided.']);
    const u = state.user(id);
    const body = views().user(u);
    if ((ctx.query.get('expand') ?? '').split(',').includes('groups')) {
      body.groups = { size: u.groups.length, items: u.groups.map((g) => views().group(g)) };
      body.expand = 'groups,applicationRoles';
    }
    return ok(body);
  });
  route('GET', '/rest/api/3/user/groups', (ctx) => {
    const id = ctx.query.get('accountId');
    if (!id) throw new JiraApiError(400, ['The accountId query parameter needs to be provided.']);
    return ok(state.user(id).groups.map((g) => views().group(g)));
  });
  route('GET', '/rest/api/3/group/member', (ctx) => {
    const name = ctx.query.get('groupname') ?? (ctx.query.get('groupId') ? state.group(ctx.query.get('groupId') as string)?.name : undefined);
    if (!name) throw new JiraApiError(400, ['Either the groupname or groupId parameter must be provided.']);
    const members = state.groupMembers(name, ctx.query.get('includeInactiveUsers') === 'true');
    return ok(
      pageBean(
        ctx,
        members.map((u) => {
          const { self, accountId, avatarUrls, displayName, active, timeZone, accountType, emailAddress } = views().user(u);
          return { self, accountId, avatarUrls, displayName, active, timeZone, accountType, ...(emailAddress ? { emailAddress } : {}) };
        }),
      ),
    );
  });

  // --- JSM --------------------------------------------------------------------------------
  const jsmInt = (ctx: RequestContext, name: string, dflt: number) => int(ctx.query, name, dflt);
  route('GET', '/rest/servicedeskapi/servicedesk', (ctx) => {
    const values = [...state.serviceDesks.values()].map((sd) => {
      const p = state.project(sd.projectId);
      return { id: sd.id, projectId: p.id, projectName: p.name, projectKey: p.key, _links: { self: `${baseUrlHolder.value}/rest/servicedeskapi/servicedesk/${sd.id}` } };
    });
    return ok(views().jsmPage(values, jsmInt(ctx, 'start', 0), jsmInt(ctx, 'limit', 50) || 50, ctx.path));
  });
  route('GET', '/rest/servicedeskapi/servicedesk/{serviceDeskId}/requesttype', (ctx) => {
    const sd = state.serviceDesk(ctx.params.serviceDeskId as string);
    return ok(views().jsmPage(sd.requestTypes.map((rt) => views().requestType(rt)), jsmInt(ctx, 'start', 0), jsmInt(ctx, 'limit', 50) || 50, ctx.path));
  });
  route('GET', '/rest/servicedeskapi/servicedesk/{serviceDeskId}/requesttype/{requestTypeId}', (ctx) =>
    ok(views().requestType(state.requestType(ctx.params.serviceDeskId as string, ctx.params.requestTypeId as string))),
  );
  route('GET', '/rest/servicedeskapi/servicedesk/{serviceDeskId}/requesttype/{requestTypeId}/field', (ctx) =>
    ok(views().requestTypeFields(state.requestType(ctx.params.serviceDeskId as string, ctx.params.requestTypeId as string))),
  );
  route('GET', '/rest/servicedeskapi/request/{issueIdOrKey}/approval', (ctx) => {
    const issue = state.issue(ctx.params.issueIdOrKey as string);
    const values = issue.approvals.map((a) => views().approval(issue, a, ctx.actor.accountId));
    return ok(views().jsmPage(values, jsmInt(ctx, 'start', 0), jsmInt(ctx, 'limit', 50) || 50, ctx.path));
  });
  route('GET', '/rest/servicedeskapi/request/{issueIdOrKey}/approval/{approvalId}', (ctx) => {
    const issue = state.issue(ctx.params.issueIdOrKey as string);
    const a = issue.approvals.find((x) => x.id === ctx.params.approvalId);
    if (!a) throw new JiraApiError(404, [`The approval with ID ${ctx.params.approvalId} does not exist.`]);
    return ok(views().approval(issue, a, ctx.actor.accountId));
  });
  route('POST', '/rest/servicedeskapi/request/{issueIdOrKey}/approval/{approvalId}', (ctx) => {
    const issue = state.issue(ctx.params.issueIdOrKey as string);
    const a = state.answerApproval(issue.key, ctx.params.approvalId as string, jsonBody(ctx).decision, ctx.actor.accountId);
    return ok(views().approval(issue, a, ctx.actor.accountId));
  });

  // --- actors -----------------------------------------------------------------------------
  const as = (accountId: string): SandboxActor => {
    state.user(accountId);
    const pending = (key: string, approvalId?: string): string => {
      const issue = state.issue(key);
      const a = approvalId ? issue.approvals.find((x) => x.id === approvalId) : issue.approvals.find((x) => x.finalDecision === 'pending');
      if (!a) throw new JiraApiError(404, [`${issue.key} has no pending approval.`]);
      return a.id;
    };
    const rich = (v: string | object) => (typeof v === 'string' ? adfFromText(v) : v);
    return {
      accountId,
      createIssue: (input) => {
        const project = state.project(input.project);
        const type = state.issueTypeByName(input.issueType);
        return state.createIssue(
          {
            fields: {
              project: { id: project.id },
              issuetype: type ? { id: type.id } : { name: input.issueType },
              summary: input.summary,
              ...(input.description !== undefined ? { description: rich(input.description) } : {}),
              ...(input.fields ?? {}),
            },
          },
          accountId,
        );
      },
      edit: (key, fields) => void state.editIssue(key, { fields }, accountId),
      comment: (key, body) => state.addComment(key, { body: rich(body) }, accountId).id,
      transition: (key, status) => state.transitionTo(key, status, accountId),
      approve: (key, approvalId) => void state.answerApproval(key, pending(key, approvalId), 'approve', accountId),
      decline: (key, approvalId) => void state.answerApproval(key, pending(key, approvalId), 'decline', accountId),
    };
  };

  const registerWebhook = (input: { url: string; secret?: string | null; events?: string[]; jql?: string }) =>
    webhooks.register({ ...input, secret: input.secret === undefined ? options.webhookSecret : input.secret || undefined });

  const addFault = (f: InjectedFault) => {
    if (!Number.isInteger(f.remaining) || f.remaining < 1) throw new Error('count must be a positive integer');
    faults.push(f);
  };

  // --- control endpoints (outside /rest; no auth) ------------------------------------------
  const control = async (method: string, path: string, body: unknown): Promise<Reply> => {
    const b = (body ?? {}) as Record<string, unknown>;
    const filter = {
      methods: Array.isArray(b.methods) ? b.methods.map((m) => String(m).toUpperCase()) : undefined,
      path: typeof b.path === 'string' ? b.path : undefined,
      ...(typeof b.reason === 'string' ? { reason: b.reason as RateLimitReason } : {}),
      ...(typeof b.issue === 'string' ? { issue: b.issue } : {}),
      ...(b.after === true ? { after: true } : {}),
    };
    if (method === 'POST' && path === '/_sandbox/rate-limit') {
      addFault({ status: 429, remaining: Number(b.count ?? 1), retryAfter: Number(b.retryAfter ?? 1), ...filter });
      return ok({ queued: faults.length });
    }
    if (method === 'POST' && path === '/_sandbox/fail') {
      addFault({ status: Number(b.status ?? 503), remaining: Number(b.count ?? 1), ...filter });
      return ok({ queued: faults.length });
    }
    if (method === 'POST' && path === '/_sandbox/webhooks') {
      if (typeof b.url !== 'string') return { status: 400, body: { error: 'url is required' } };
      const reg = registerWebhook({ url: b.url, secret: b.secret as string | undefined, events: b.events as string[] | undefined, jql: b.jql as string | undefined });
      return ok({ id: reg.id }, 201);
    }
    if (method === 'GET' && path === '/_sandbox/webhooks') return ok(webhooks.list());
    const del = /^\/_sandbox\/webhooks\/([^/]+)$/.exec(path);
    if (method === 'DELETE' && del) return { status: webhooks.unregister(decodeURIComponent(del[1] as string)) ? 204 : 404 };
    if (method === 'GET' && path === '/_sandbox/deliveries') return ok(webhooks.deliveries.map(({ body: _b, ...d }) => d));
    if (method === 'GET' && path === '/_sandbox/calls') return ok(calls);
    if (method === 'GET' && path === '/_sandbox/contract') return ok(contract?.violations ?? []);
    if (method === 'POST' && path === '/_sandbox/seed') {
      state.seed(b as SandboxSeed);
      return ok({ ok: true });
    }
    if (method === 'POST' && path === '/_sandbox/act') {
      if (typeof b.as !== 'string') return { status: 400, body: { error: 'as (account id) is required' } };
      const actor = as(b.as);
      const issue = String(b.issue ?? '');
      switch (b.action) {
        case 'create': {
          const i = actor.createIssue({ project: String(b.project), issueType: String(b.issueType), summary: String(b.summary), description: b.description as string | undefined, fields: b.fields as Record<string, unknown> | undefined });
          return ok({ id: i.id, key: i.key }, 201);
        }
        case 'edit':
          actor.edit(issue, (b.fields ?? {}) as Record<string, unknown>);
          return ok({ key: issue });
        case 'comment':
          return ok({ id: actor.comment(issue, b.body as string) }, 201);
        case 'transition':
          actor.transition(issue, String(b.to));
          return ok({ key: issue, status: String(b.to) });
        case 'approve':
        case 'decline':
          actor[b.action](issue, b.approvalId as string | undefined);
          return ok({ key: issue, decision: b.action });
        default:
          return { status: 400, body: { error: 'action must be create, edit, comment, transition, approve or decline' } };
      }
    }
    return { status: 404, body: { error: `no control endpoint ${method} ${path}` } };
  };

  // --- dispatch ---------------------------------------------------------------------------
  const errorBody = (path: string, err: JiraApiError): unknown =>
    path.startsWith('/rest/servicedeskapi')
      ? { errorMessage: err.errorMessages[0] ?? Object.values(err.errors)[0] ?? err.message }
      : { errorMessages: err.errorMessages, errors: err.errors };

  const sandbox = {} as { transformResponse?: (exchange: ResponseExchange) => unknown };

  const send = (req: IncomingMessage, res: ServerResponse, path: string, reply: Reply, call?: Omit<SandboxCall, 'status'>) => {
    const method = (req.method ?? 'GET').toUpperCase();
    let body = reply.body;
    if (sandbox.transformResponse && path.startsWith('/rest') && !reply.raw) {
      body = sandbox.transformResponse({ method, path, status: reply.status, body });
    }
    if (contract && contracted(path)) contract.response({ method, path, status: reply.status, body: reply.raw ? undefined : body });
    if (call) calls.push({ ...call, status: reply.status });
    const headers: Record<string, string> = { ...(reply.headers ?? {}) };
    if (reply.raw) {
      res.writeHead(reply.status, { ...headers, 'Content-Type': reply.raw.type, 'Content-Length': String(reply.raw.content.length) });
      res.end(reply.raw.content);
    } else if (body === undefined || reply.status === 204) {
      res.writeHead(reply.status, headers);
      res.end();
    } else {
      const text = JSON.stringify(body);
      res.writeHead(reply.status, { ...headers, 'Content-Type': JSON_TYPE, 'Content-Length': String(Buffer.byteLength(text)) });
      res.end(text);
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const method = (req.method ?? 'GET').toUpperCase();
    const url = new URL(req.url ?? '/', 'http://sandbox.invalid');
    const path = url.pathname;
    let raw: Buffer;
    try {
      raw = await readBody(req, maxBody);
    } catch (err) {
      const e = err instanceof JiraApiError ? err : new JiraApiError(400, ['Could not read the request body.']);
      send(req, res, path, { status: e.status, body: errorBody(path, e) });
      return;
    }
    const type = String(req.headers['content-type'] ?? '');
    let body: unknown;
    const parseJson = (): JiraApiError | undefined => {
      if (!raw.length || !type.includes('json')) return undefined;
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        return new JiraApiError(400, ['Unexpected character in the request body: it is not valid JSON.']);
      }
      return undefined;
    };

    if (path.startsWith('/_sandbox/')) {
      const bad = parseJson();
      if (bad) return send(req, res, path, { status: 400, body: { error: bad.message } });
      try {
        send(req, res, path, await control(method, path, body));
      } catch (err) {
        send(req, res, path, { status: err instanceof JiraApiError ? err.status : 400, body: { error: (err as Error).message } });
      }
      return;
    }

    const call: Omit<SandboxCall, 'status'> = { method, path, query: url.search, at: clock.now() };
    const fault = faults.find((f) => f.remaining > 0 && faultMatches(f, method, path, state));
    const faulted = fault && path.startsWith('/rest');
    if (faulted) {
      fault.remaining -= 1;
      if (fault.remaining === 0) faults.splice(faults.indexOf(fault), 1);
    }
    const faultReply = (): Reply => {
      const f = fault!;
      const headers = f.status === 429 ? rateLimitHeaders(f, clock.now()) : {};
      const msg = f.status === 429 ? 'Rate limit exceeded.' : 'The sandbox was told to fail this call.';
      return { status: f.status, headers, body: errorBody(path, new JiraApiError(f.status, [msg])) };
    };
    if (faulted && !fault.after) return send(req, res, path, faultReply(), call);

    const auth = String(req.headers.authorization ?? '');
    const m = /^Basic\s+(.+)$/i.exec(auth);
    const decoded = m ? Buffer.from(m[1] as string, 'base64').toString('utf8') : '';
    const sep = decoded.indexOf(':');
    const actor = sep > 0 ? state.authenticate(decoded.slice(0, sep), decoded.slice(sep + 1)) : undefined;
    if (!actor) {
      const e = new JiraApiError(401, ['Client must be authenticated to access this resource.']);
      return send(req, res, path, { status: 401, headers: { 'WWW-Authenticate': 'Basic realm="protected-area"' }, body: errorBody(path, e) }, call);
    }
    call.actorId = actor.accountId;

    const bad = parseJson();
    if (bad) return send(req, res, path, { status: 400, body: errorBody(path, bad) }, call);
    if (body !== undefined) call.body = body;
    if (contract && contracted(path)) contract.request({ method, path, body });

    let params: Record<string, string> | undefined;
    let handler: Handler | undefined;
    let pathKnown = false;
    for (const r of routes) {
      const hit = r.regex.exec(path);
      if (!hit) continue;
      pathKnown = true;
      if (r.method !== method) continue;
      params = {};
      r.names.forEach((n, i) => ((params as Record<string, string>)[n] = decodeURIComponent(hit[i + 1] ?? '')));
      handler = r.handler;
      break;
    }
    if (!handler || !params) {
      unimplemented.push(`${method} ${path}`);
      const status = pathKnown ? 405 : path.startsWith('/rest') ? 501 : 404;
      const e = new JiraApiError(status, [`The Jira sandbox does not implement ${method} ${path}.`]);
      return send(req, res, path, { status, body: errorBody(path, e) }, call);
    }
    try {
      const reply = await handler({ method, path, params, query: url.searchParams, headers: req.headers, body, rawBody: raw, actor });
      send(req, res, path, faulted ? faultReply() : reply, call);
    } catch (err) {
      if (err instanceof JiraApiError) return send(req, res, path, { status: err.status, body: errorBody(path, err) }, call);
      const e = new JiraApiError(500, ['Internal server error in the Jira sandbox.']);
      send(req, res, path, { status: 500, body: errorBody(path, e) }, call);
      throw err;
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      // A handler bug must be loud in tests, not a hung request.
      console.error('jira sandbox handler failed', err);
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
  holder.views = new JiraViews(state, baseUrl);

  const handle2: JiraSandbox = {
    url,
    baseUrl,
    state,
    views: holder.views,
    webhooks,
    calls,
    routes: routes.map(({ method, template }) => ({ method, template })),
    unimplemented,
    contract,
    apiUser,
    credentials: creds,
    authorization: `Basic ${Buffer.from(`${creds.email}:${creds.apiToken}`).toString('base64')}`,
    get transformResponse() {
      return sandbox.transformResponse;
    },
    set transformResponse(fn) {
      sandbox.transformResponse = fn;
    },
    seed: (seed) => state.seed(seed),
    as,
    registerWebhook,
    revokePermission: (permission, accountId) => void revoked.add(`${accountId ?? apiUser.accountId} ${permission}`),
    rateLimit: (count, retryAfter, filter) =>
      addFault({ status: 429, remaining: count, retryAfter, methods: filter?.methods?.map((x) => x.toUpperCase()), path: filter?.path, reason: filter?.reason, issue: filter?.issue }),
    fail: (count, status, filter) =>
      addFault({ status, remaining: count, methods: filter?.methods?.map((x) => x.toUpperCase()), path: filter?.path, ...(filter?.after ? { after: true } : {}) }),
    writes: () => calls.filter((c) => c.method !== 'GET' && c.method !== 'HEAD' && c.path.startsWith('/rest') && c.status >= 200 && c.status < 300),
    violations: () => contract?.violations ?? [],
    webhooksIdle: () => webhooks.idle(),
    deliveries: () => webhooks.deliveries,
    stop: async () => {
      webhooks.stop();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return handle2;
}
