/**
 * The service's Jira client: a thin, typed edge over jira.js's `Version3Client` (platform REST
 * v3) and axios (JSM `servicedeskapi` endpoints). Every response is zod-parsed here, so the rest
 * of the service sees only validated shapes; every failure becomes one of the typed errors below.
 * Rate limits (429) are honoured in-process for short `Retry-After`s and surfaced as a retryable
 * {@link JiraRateLimitedError} for long ones, so the outbox can schedule the retry instead of
 * blocking a worker.
 */
import axios, { AxiosError, type AxiosInstance } from 'axios';
import { HttpException, Version3Client } from 'jira.js';
import { z } from 'zod';
import type { ErrorCode } from '../../engine/errors.ts';
import type { Logger } from '../../engine/logger.ts';
import { statusMarker } from '../shared/messages.ts';
import { sanitize } from '../shared/sanitize.ts';
import { adfText, type AdfDoc, type AdfNode } from './adf.ts';
import { RemoteApiError, RemoteAuthError, RemoteRateLimitedError, RemoteResponseError, RemoteUnavailableError } from '../shared/remote-errors.ts';
import { RemoteCaller, axiosFailure, parseAnswer, type RateLimitOptions, type RemoteErrorFactory, type RemoteFailure } from '../shared/remote-call.ts';

// ---------------------------------------------------------------------------------------------
// Errors

/** Jira refused a call for a reason of the request itself (400, 403, 404 ...). Not retried. */
export class JiraApiError extends RemoteApiError {
  /** Jira's own error texts. */
  get jiraMessages(): string[] {
    return this.remoteMessages;
  }
  constructor(code: ErrorCode, status: number, operation: string, messages: string[]) {
    super('Jira', code, status, operation, messages);
  }
}

/** Jira rejected our credentials (401). A configuration problem: not retryable until fixed. */
export class JiraAuthError extends RemoteAuthError {
  constructor(operation: string) {
    super('Jira', operation, 'JIRA_EMAIL and JIRA_API_TOKEN');
  }
}

/** Jira is down, slow or unreachable (5xx, 408, network). Retry later. */
export class JiraUnavailableError extends RemoteUnavailableError {
  constructor(operation: string, status: number | undefined, detail: string, options?: { cause?: unknown }) {
    super('Jira', operation, status, detail, options);
  }
}

/** Jira kept answering 429 beyond what the client waits for itself. Retry after `retryAfterMs`. */
export class JiraRateLimitedError extends RemoteRateLimitedError {
  constructor(operation: string, retryAfterMs: number) {
    super('Jira', operation, retryAfterMs);
  }
}

/** Jira answered 2xx with a body that does not have the documented shape. */
export class JiraResponseError extends RemoteResponseError {
  constructor(operation: string, detail: string) {
    super('Jira', operation, detail);
  }
}

// ---------------------------------------------------------------------------------------------
// Response shapes (only what the service reads; other keys pass through unchecked)

const commentSchema = z.looseObject({
  id: z.string().min(1),
  body: z.unknown().optional(),
  author: z.looseObject({ accountId: z.string() }).optional(),
  properties: z.array(z.looseObject({ key: z.string(), value: z.unknown() })).optional(),
});
const commentPageSchema = z.looseObject({
  startAt: z.number().int(),
  maxResults: z.number().int(),
  total: z.number().int(),
  comments: z.array(commentSchema),
});
const transitionsSchema = z.looseObject({
  transitions: z.array(z.looseObject({ id: z.string(), name: z.string(), to: z.looseObject({ id: z.string(), name: z.string() }) })),
});
const issueStatusSchema = z.looseObject({ key: z.string(), fields: z.looseObject({ status: z.looseObject({ name: z.string() }) }) });
const propertySchema = z.looseObject({ key: z.string(), value: z.unknown() });
const attachmentsSchema = z.array(z.looseObject({ id: z.union([z.string(), z.number()]).transform(String), filename: z.string(), size: z.number().optional() }));
const userSchema = z.looseObject({
  accountId: z.string(),
  active: z.boolean(),
  displayName: z.string().optional(),
  emailAddress: z.string().optional(),
});
const groupsSchema = z.array(z.looseObject({ name: z.string(), groupId: z.string().nullish() }));
const approvalSchema = z.looseObject({
  id: z.string(),
  name: z.string().optional(),
  finalDecision: z.enum(['approved', 'declined', 'pending']),
  canAnswerApproval: z.boolean().optional(),
  approvers: z.array(
    z.looseObject({
      approver: z.looseObject({ accountId: z.string(), displayName: z.string().optional() }),
      approverDecision: z.enum(['approved', 'declined', 'pending']),
    }),
  ),
});
const approvalPageSchema = z.looseObject({
  values: z.array(approvalSchema),
  isLastPage: z.boolean().optional(),
  start: z.number().int().optional(),
  size: z.number().int().optional(),
});

/** A Jira user as the policy module needs it. */
export interface JiraUser {
  accountId: string;
  active: boolean;
  displayName: string;
  email?: string;
}

/** A JSM approval. */
export type JsmApproval = z.infer<typeof approvalSchema>;

/** Outcome of {@link JiraClient.upsertStatusComment}. */
export interface UpsertResult {
  commentId: string;
  /** True when a new comment was posted, false when an existing one was edited. */
  created: boolean;
}

/** Settings of {@link JiraClient} (rate-limit waits: longer ones throw {@link JiraRateLimitedError}). */
export interface JiraClientOptions extends RateLimitOptions {
  /** Site URL, for example https://example.atlassian.net (or the sandbox's URL). */
  baseUrl: string;
  email: string;
  apiToken: string;
  logger: Logger;
  /** Per-request timeout (default 15 s). */
  timeoutMs?: number;
}

/** Key of the comment property (and prefix of the issue property) marking status comments. */
export const STATUS_PROPERTY = 'ticket-surface';

/**
 * How the status comment is found again, never posted twice:
 *
 * Prior art does not carry over: Atlantis posts a new comment per run and recognises its earlier
 * ones by author plus a first line such as "Ran Plan for ...", then minimises them on GitHub
 * (runatlantis/atlantis#897, #1060); tfcmt-style bots hide an HTML comment in the body. Jira can
 * neither minimise a comment nor hold hidden text in ADF, and matching on visible wording breaks
 * when templates change. So three layers are used, cheapest first:
 * 1. an issue property `ticket-surface.status.<requestId>` remembers the comment id (one GET);
 * 2. the comment itself carries an entity property `ticket-surface` = `{kind:'status', requestId}`
 *    set in the same POST that creates it (atomic with the comment, invisible to people, survives
 *    edits of the text); comments are listed with `expand=properties` to find it;
 * 3. the body ends with a small grey `ts:status:<requestId>` token, the fallback when properties
 *    are unavailable (a copied comment, an API without property support).
 * Layers 2 and 3 close the gap where the POST succeeded but recording the id in (1) did not
 * (a crash, a 5xx): the retry finds the comment instead of posting a second one.
 */
/** The `ticket-surface` property of a comment the service wrote: its status comment or one event comment. */
interface CommentProperty {
  kind?: string;
  requestId?: string;
  key?: string;
}

export class JiraClient {
  private readonly v3: Version3Client;
  private readonly http: AxiosInstance;
  private readonly logger: Logger;
  private readonly remote: RemoteCaller;

  constructor(options: JiraClientOptions) {
    const baseUrl = options.baseUrl.replace(/\/+$/, '');
    const timeout = options.timeoutMs ?? 15_000;
    this.v3 = new Version3Client({
      host: baseUrl,
      authentication: { basic: { email: options.email, apiToken: options.apiToken } },
      baseRequestConfig: { timeout },
    });
    this.http = axios.create({
      baseURL: baseUrl,
      timeout,
      auth: { username: options.email, password: options.apiToken },
      headers: { Accept: 'application/json', 'X-ExperimentalApi': 'opt-in' },
    });
    this.logger = options.logger.child({ component: 'jira-client' });
    this.remote = new RemoteCaller({ ...options, system: 'jira', logger: this.logger, errors: JIRA_ERRORS, describe: describeFailure });
  }

  // -------------------------------------------------------------------------------------------
  // Comments

  /** Posts an ADF comment; `properties` are stored on the comment atomically with it. */
  async addComment(issueKey: string, body: AdfDoc, properties: { key: string; value: unknown }[] = []): Promise<{ id: string }> {
    const op = 'POST /rest/api/3/issue/{key}/comment';
    const res = await this.remote.call(op, () =>
      this.v3.issueComments.addComment({ issueIdOrKey: issueKey, comment: body as never, ...(properties.length ? { properties } : {}) }),
    );
    const c = this.parse(op, commentSchema, res);
    return { id: c.id };
  }

  /** Replaces the body of comment `commentId`. */
  async updateComment(issueKey: string, commentId: string, body: AdfDoc): Promise<void> {
    const op = 'PUT /rest/api/3/issue/{key}/comment/{id}';
    const res = await this.remote.call(op, () => this.v3.issueComments.updateComment({ issueIdOrKey: issueKey, id: commentId, body: body as never, notifyUsers: false }));
    this.parse(op, commentSchema, res);
  }

  /**
   * Writes the request's one status comment: edits it in place when it exists, posts it
   * otherwise. Never posts a second one for the same request (see the class notes).
   */
  async upsertStatusComment(issueKey: string, requestId: string, body: AdfDoc): Promise<UpsertResult> {
    const pointerKey = `${STATUS_PROPERTY}.status.${requestId}`;
    const remembered = await this.getIssueProperty(issueKey, pointerKey);
    const rememberedId = z.object({ commentId: z.string() }).safeParse(remembered);
    if (rememberedId.success) {
      try {
        await this.updateComment(issueKey, rememberedId.data.commentId, body);
        return { commentId: rememberedId.data.commentId, created: false };
      } catch (err) {
        // Someone deleted the comment: fall through and look for (or post) another.
        if (!(err instanceof JiraApiError && err.status === 404)) throw err;
      }
    }
    const found = await this.findStatusComment(issueKey, requestId);
    if (found) {
      await this.updateComment(issueKey, found, body);
      await this.setIssueProperty(issueKey, pointerKey, { commentId: found });
      return { commentId: found, created: false };
    }
    const { id } = await this.addComment(issueKey, body, [{ key: STATUS_PROPERTY, value: { kind: 'status', requestId } }]);
    await this.setIssueProperty(issueKey, pointerKey, { commentId: id });
    this.logger.info({ issueKey, requestId, commentId: id }, 'status comment posted');
    return { commentId: id, created: true };
  }

  /**
   * Posts an event comment once per `key` (a notice key): the comment carries the property
   * `{kind:'event', key}`, set in the same POST, and is looked for first. A retry after Jira
   * accepted the POST but the answer was lost (a timeout, a 5xx, a crash) finds it and posts
   * nothing; `created` says which happened.
   */
  async addCommentOnce(issueKey: string, key: string, body: AdfDoc): Promise<UpsertResult> {
    const found = await this.findComment(issueKey, (p) => p?.kind === 'event' && p.key === key);
    if (found) return { commentId: found, created: false };
    const { id } = await this.addComment(issueKey, body, [{ key: STATUS_PROPERTY, value: { kind: 'event', key } }]);
    return { commentId: id, created: true };
  }

  /** Finds the status comment of `requestId` by its comment property or, failing that, its marker text. */
  findStatusComment(issueKey: string, requestId: string): Promise<string | undefined> {
    return this.findComment(issueKey, (p) => p?.kind === 'status' && p.requestId === requestId, statusMarker(requestId));
  }

  /**
   * The first comment whose `ticket-surface` property satisfies `ours`; failing that, the first
   * whose text ends with `marker` (when given).
   */
  private async findComment(issueKey: string, ours: (prop: CommentProperty | undefined) => boolean, marker?: string): Promise<string | undefined> {
    const op = 'GET /rest/api/3/issue/{key}/comment';
    let byText: string | undefined;
    for (let startAt = 0; ; ) {
      const res = await this.remote.call(op, () =>
        this.v3.issueComments.getComments({ issueIdOrKey: issueKey, startAt, maxResults: 100, orderBy: 'created', expand: 'properties' }),
      );
      const page = this.parse(op, commentPageSchema, res);
      for (const c of page.comments) {
        const prop = c.properties?.find((p) => p.key === STATUS_PROPERTY)?.value as CommentProperty | undefined;
        if (ours(prop)) return c.id;
        if (marker && !byText && c.body && typeof c.body === 'object' && endsWithMarker(c.body as AdfNode, marker)) byText = c.id;
      }
      startAt += page.comments.length;
      if (page.comments.length === 0 || startAt >= page.total) break;
    }
    return byText;
  }

  // -------------------------------------------------------------------------------------------
  // Transitions and properties

  /**
   * Moves the issue to the status named `statusName` (case-insensitive) by the transition that
   * leads there. Already there → no-op (`transitioned: false`), so retries are harmless.
   * @throws {@link JiraApiError} (`not_found`) naming the available targets when none leads there.
   */
  async transitionTo(issueKey: string, statusName: string): Promise<{ transitioned: boolean }> {
    const op = 'GET /rest/api/3/issue/{key}/transitions';
    const res = await this.remote.call(op, () => this.v3.issues.getTransitions({ issueIdOrKey: issueKey }));
    const { transitions } = this.parse(op, transitionsSchema, res);
    const want = statusName.trim().toLowerCase();
    const t = transitions.find((x) => x.to.name.toLowerCase() === want);
    if (!t) {
      const current = await this.getStatus(issueKey);
      if (current.toLowerCase() === want) return { transitioned: false };
      const targets = [...new Set(transitions.map((x) => `"${x.to.name}"`))].join(', ') || 'none';
      throw new JiraApiError('not_found', 404, op, [`no transition of ${issueKey} leads to "${statusName}" (from "${current}"; available: ${targets})`]);
    }
    await this.remote.call('POST /rest/api/3/issue/{key}/transitions', () => this.v3.issues.doTransition({ issueIdOrKey: issueKey, transition: { id: t.id } }));
    return { transitioned: true };
  }

  /**
   * A REST call jira.js does not cover well (fields, contexts, options, screens), with the same
   * 429 handling and typed errors as every other call; the answer is zod-parsed.
   */
  async api<S extends z.ZodType>(
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    path: string,
    schema: S,
    opts: { params?: Record<string, unknown>; data?: unknown } = {},
  ): Promise<z.infer<S>> {
    const op = `${method} ${path.replace(/\/(customfield_\d+|\d+)(?=\/|$)/g, '/{id}')}`;
    const res = await this.remote.call(op, async () => (await this.http.request({ method, url: path, params: opts.params, data: opts.data })).data as unknown);
    return this.parse(op, schema, res ?? {});
  }

  /** The account the service acts as, so deliveries it caused itself can be ignored. */
  async myself(): Promise<{ accountId: string; displayName?: string }> {
    const op = 'GET /rest/api/3/myself';
    const res = await this.remote.call(op, () => this.v3.myself.getCurrentUser());
    return this.parse(op, z.object({ accountId: z.string(), displayName: z.string().optional() }).passthrough(), res);
  }

  /** The issue's current status name. */
  async getStatus(issueKey: string): Promise<string> {
    const op = 'GET /rest/api/3/issue/{key}';
    const res = await this.remote.call(op, () => this.v3.issues.getIssue({ issueIdOrKey: issueKey, fields: ['status'] }));
    return this.parse(op, issueStatusSchema, res).fields.status.name;
  }

  /**
   * Sets an issue property to any JSON value. Sent through axios rather than jira.js, which
   * hands the value to axios unserialized and so cannot send a bare number or string.
   */
  async setIssueProperty(issueKey: string, key: string, value: unknown): Promise<void> {
    await this.remote.call('PUT /rest/api/3/issue/{key}/properties/{property}', () =>
      this.http.put(`/rest/api/3/issue/${encodeURIComponent(issueKey)}/properties/${encodeURIComponent(key)}`, JSON.stringify(value ?? null), {
        headers: { 'Content-Type': 'application/json' },
      }),
    );
  }

  /** Reads an issue property; null when it is not set. */
  async getIssueProperty(issueKey: string, key: string): Promise<unknown | null> {
    const op = 'GET /rest/api/3/issue/{key}/properties/{property}';
    try {
      const res = await this.remote.call(op, () => this.v3.issueProperties.getIssueProperty({ issueIdOrKey: issueKey, propertyKey: key }));
      return this.parse(op, propertySchema, res).value ?? null;
    } catch (err) {
      if (err instanceof JiraApiError && err.status === 404) return null;
      throw err;
    }
  }

  /** Attaches a file (the full plan, for example) to the issue. */
  async addAttachment(issueKey: string, filename: string, content: Buffer | string): Promise<{ id: string; filename: string }> {
    const op = 'POST /rest/api/3/issue/{key}/attachments';
    const file = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
    const res = await this.remote.call(op, () =>
      this.v3.issueAttachments.addAttachment({ issueIdOrKey: issueKey, attachment: { filename, file, mimeType: guessMime(filename) } }),
    );
    const [first] = this.parse(op, attachmentsSchema, res);
    if (!first) throw new JiraResponseError(op, 'no attachment in the answer');
    return { id: first.id, filename: first.filename };
  }

  // -------------------------------------------------------------------------------------------
  // Directory

  /** A user by account id; null when Jira does not know it. */
  async getUser(accountId: string): Promise<JiraUser | null> {
    const op = 'GET /rest/api/3/user';
    try {
      const res = await this.remote.call(op, () => this.v3.users.getUser({ accountId }));
      const u = this.parse(op, userSchema, res);
      return { accountId: u.accountId, active: u.active, displayName: u.displayName ?? u.accountId, ...(u.emailAddress ? { email: u.emailAddress } : {}) };
    } catch (err) {
      if (err instanceof JiraApiError && err.status === 404) return null;
      throw err;
    }
  }

  /** Names of the groups a user belongs to (empty for an unknown user). */
  async getUserGroups(accountId: string): Promise<string[]> {
    const op = 'GET /rest/api/3/user/groups';
    try {
      const res = await this.remote.call(op, () => this.v3.users.getUserGroups({ accountId }));
      return this.parse(op, groupsSchema, res).map((g) => g.name);
    } catch (err) {
      if (err instanceof JiraApiError && err.status === 404) return [];
      throw err;
    }
  }

  // -------------------------------------------------------------------------------------------
  // JSM approvals (servicedeskapi, through axios: jira.js's service-desk client is a separate
  // client with its own config, and two endpoints do not justify it)

  /** Every approval of a JSM request, all pages. */
  async getApprovals(issueKey: string): Promise<JsmApproval[]> {
    const op = 'GET /rest/servicedeskapi/request/{key}/approval';
    const out: JsmApproval[] = [];
    for (let start = 0; ; ) {
      const res = await this.remote.call(op, async () => (await this.http.get(`/rest/servicedeskapi/request/${encodeURIComponent(issueKey)}/approval`, { params: { start, limit: 50 } })).data);
      const page = this.parse(op, approvalPageSchema, res);
      out.push(...page.values);
      if (page.isLastPage !== false || page.values.length === 0) break;
      start += page.values.length;
    }
    return out;
  }

  /** Answers an approval as the client's own account. */
  async answerApproval(issueKey: string, approvalId: string, decision: 'approve' | 'decline'): Promise<JsmApproval> {
    const op = 'POST /rest/servicedeskapi/request/{key}/approval/{id}';
    const res = await this.remote.call(op, async () =>
      (await this.http.post(`/rest/servicedeskapi/request/${encodeURIComponent(issueKey)}/approval/${encodeURIComponent(approvalId)}`, { decision })).data,
    );
    return this.parse(op, approvalSchema, res);
  }

  // -------------------------------------------------------------------------------------------
  // Plumbing

  private parse<S extends z.ZodType>(op: string, schema: S, value: unknown): z.infer<S> {
    return parseAnswer(schema, value, (detail) => new JiraResponseError(op, detail));
  }
}

/** Jira's typed errors, for the shared call loop. */
const JIRA_ERRORS: RemoteErrorFactory = {
  api: (code, status, op, messages) => new JiraApiError(code, status, op, messages),
  auth: (op) => new JiraAuthError(op),
  unavailable: (op, status, detail, options) => new JiraUnavailableError(op, status, detail, options),
  rateLimited: (op, wait) => new JiraRateLimitedError(op, wait),
};

function describeFailure(err: unknown): RemoteFailure {
  // jira.js wraps axios errors in HttpException with the AxiosError as cause.
  const axiosErr = err instanceof AxiosError ? err : err instanceof HttpException && err.cause instanceof AxiosError ? err.cause : undefined;
  if (!axiosErr?.response && err instanceof HttpException && typeof err.status === 'number' && err.status !== 500) {
    return { status: err.status, messages: [], detail: err.message };
  }
  return axiosFailure(axiosErr, err, jiraMessages);
}

function jiraMessages(data: unknown): string[] {
  if (!data || typeof data !== 'object') return [];
  const d = data as { errorMessages?: unknown; errors?: unknown; errorMessage?: unknown };
  const out: string[] = [];
  if (Array.isArray(d.errorMessages)) out.push(...d.errorMessages.filter((m): m is string => typeof m === 'string'));
  if (typeof d.errorMessage === 'string') out.push(d.errorMessage);
  if (d.errors && typeof d.errors === 'object') {
    for (const [k, v] of Object.entries(d.errors as Record<string, unknown>)) if (typeof v === 'string') out.push(`${k}: ${v}`);
  }
  return out.map((m) => sanitize(m).slice(0, 500));
}

function endsWithMarker(body: AdfNode, marker: string): boolean {
  const text = adfText(body).trimEnd();
  return text.endsWith(marker);
}

function guessMime(filename: string): string {
  if (filename.endsWith('.json')) return 'application/json';
  if (filename.endsWith('.txt') || filename.endsWith('.log')) return 'text/plain';
  if (filename.endsWith('.md')) return 'text/markdown';
  return 'application/octet-stream';
}
