/**
 * The service's Jira client: a thin, typed edge over jira.js's `Version3Client` (platform REST
 * v3) and axios (JSM `servicedeskapi` endpoints). Every response is zod-parsed here, so the rest
 * of the service sees only validated shapes; every failure becomes one of the typed errors below.
 * Rate limits (429) are honoured as Jira documents them (`Retry-After`, `X-RateLimit-Reset`,
 * `RateLimit-Reason`, held back per scope by {@link JiraRateLimits}): short waits in-process,
 * long ones surfaced as a retryable {@link JiraRateLimitedError}, so the outbox can schedule the
 * retry instead of blocking a worker.
 */
import axios, { AxiosError, type AxiosInstance } from 'axios';
import type { HttpException, Version3Client } from 'jira.js';
import { z } from 'zod';
import type { ErrorCode } from '../../engine/errors.ts';
import type { Logger } from '../../engine/logger.ts';
import { statusMarker } from '../shared/messages.ts';
import { sanitize } from '../shared/sanitize.ts';
import { adfText, type AdfDoc, type AdfNode } from './adf.ts';
import { RemoteApiError, RemoteAuthError, RemoteRateLimitedError, RemoteResponseError, RemoteUnavailableError } from '../shared/remote-errors.ts';
import { RemoteCaller, axiosFailure, directHttp, parseAnswer, type RateLimitOptions, type RemoteErrorFactory, type RemoteFailure } from '../shared/remote-call.ts';
import { issueOfPath, JiraRateLimits, parseJiraRateLimitHeaders, type JiraRateLimitsOptions } from './rate-limits.ts';
import { TransitionMemory, type RememberedTransition } from './transition-memory.ts';

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

/**
 * Jira refused a transition (400): a validator failed or a field the transition requires could
 * not be given. The issue stays where it was; the messages are Jira's (sanitized).
 */
export class JiraTransitionRefusedError extends JiraApiError {
  readonly issueKey: string;
  /** The transition's name and the status it leads to. */
  readonly transition: string;
  readonly target: string;
  constructor(issueKey: string, transition: string, target: string, messages: string[]) {
    super('validation', 400, 'POST /rest/api/3/issue/{key}/transitions', messages);
    this.issueKey = issueKey;
    this.transition = transition;
    this.target = target;
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
const screenFieldSchema = z.looseObject({
  required: z.boolean(),
  allowedValues: z.array(z.looseObject({ id: z.string().optional(), name: z.string().optional() })).optional(),
});
const transitionSchema = z.looseObject({
  id: z.string(),
  name: z.string(),
  to: z.looseObject({ id: z.string(), name: z.string() }),
  /** The fields of the transition screen (asked with `expand=transitions.fields`). */
  fields: z.record(z.string(), screenFieldSchema).optional(),
});
const transitionsSchema = z.looseObject({ transitions: z.array(transitionSchema) });
/** One step of a status walk: the status, and the resolution to give when a transition screen asks for one. */
export interface WalkStep {
  status: string;
  resolution?: string;
}
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
export interface JiraClientOptions extends RateLimitOptions, JiraRateLimitsOptions {
  /** Site URL, for example https://example.atlassian.net (or the sandbox's URL). */
  baseUrl: string;
  email: string;
  apiToken: string;
  logger: Logger;
  /** Per-request timeout (default 15 s). */
  timeoutMs?: number;
  /** How long issues' statuses and workflows' transitions seen are reused by status walks (default 300 s; 0: read each time). */
  workflowCacheSeconds?: number;
}

/**
 * Where status comments are claimed before their first post and their ids recorded after it,
 * shared by every process (see {@link JiraClient.upsertStatusComment}).
 */
export interface StatusCommentLedger {
  /** `first`: no writer claimed this status comment before; `id`: the comment recorded for it. */
  claim(key: string): Promise<{ first: boolean; id?: string }>;
  /** Records the id of the status comment posted or found for `key`. */
  settle(key: string, commentId: string): Promise<void>;
}

/** An issue property written with a transition (`IssueUpdateDetails.properties`). */
export interface IssuePropertyWrite {
  key: string;
  value: unknown;
}

/**
 * The memory could not carry a walk on: a remembered transition was refused (`contradicted`:
 * the belief was wrong) or, after a step passed over on the belief, nothing remembered leads on.
 */
class StaleWalkError extends Error {
  constructor(
    readonly step: number,
    readonly contradicted: boolean,
  ) {
    super('the remembered transitions could not carry the walk on');
  }
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
 * when templates change. So these layers are used, cheapest first:
 * 0. the client remembers the ids it wrote or found in this process, so an edit is one PUT; with
 *    a {@link StatusCommentLedger} (Redis, shared by every worker) a status comment is claimed
 *    before its first post and its id recorded after: the first claim posts without a search
 *    (no writer before it can have posted), a later writer edits the recorded id at once, and a
 *    claim without an id (a crash between claim and record) falls through to layers 1 and 2;
 * 1. the comment itself carries an entity property `ticket-surface` = `{kind:'status', requestId}`
 *    set in the same POST that creates it (atomic with the comment, invisible to people, survives
 *    edits of the text); comments are listed with `expand=properties` to find it;
 * 2. the body ends with a small grey `ts:status:<requestId>` token, the fallback when properties
 *    are unavailable (a copied comment, an API without property support).
 * Layers 1 and 2 close the gap where the POST succeeded but its answer was lost (a crash, a 5xx):
 * the retry finds the comment instead of posting a second one. (An issue property pointing at
 * the comment, `ticket-surface.status.<requestId>`, was once read before the search: it cost a
 * GET and a PUT per ticket and spared only that one search, so it is neither read nor written.)
 */
/** The `ticket-surface` property of a comment the service wrote: its status comment or one event comment. */
interface CommentProperty {
  kind?: string;
  requestId?: string;
  key?: string;
}

export class JiraClient {
  /** How jira.js's client is made, on the first call that needs it (see {@link jira}). */
  private readonly v3Options: ConstructorParameters<typeof Version3Client>[0];
  private v3: Promise<Version3Client> | undefined;
  /** Status comment ids this process wrote or found, by `<issueKey> <requestId>` (see upsertStatusComment). */
  private readonly statusComments = new Map<string, string>();
  private readonly http: AxiosInstance;
  private readonly logger: Logger;
  private readonly remote: RemoteCaller;
  /** Statuses and transitions seen, reused by {@link transitionAlong}. */
  private readonly memory: TransitionMemory;

  constructor(options: JiraClientOptions) {
    const baseUrl = options.baseUrl.replace(/\/+$/, '');
    const timeout = options.timeoutMs ?? 15_000;
    this.v3Options = { host: baseUrl, authentication: { basic: { email: options.email, apiToken: options.apiToken } }, baseRequestConfig: { timeout, ...directHttp() } };
    this.http = axios.create({
      baseURL: baseUrl,
      timeout,
      ...directHttp(),
      auth: { username: options.email, password: options.apiToken },
      headers: { Accept: 'application/json', 'X-ExperimentalApi': 'opt-in' },
      // Repeated parameters as Jira reads them: ?projectId=1&projectId=2 (not projectId[]=...).
      paramsSerializer: { indexes: null },
    });
    this.logger = options.logger.child({ component: 'jira-client' });
    const limiter = new JiraRateLimits(options);
    this.remote = new RemoteCaller({ ...options, system: 'jira', logger: this.logger, errors: JIRA_ERRORS, describe: describeFailure, limiter });
    this.memory = new TransitionMemory((options.workflowCacheSeconds ?? 300) * 1000);
  }

  /** The issue was seen (read back, or delivered) in `status` of its project's and issue type's workflow. */
  sawIssue(issueKey: string, projectKey: string, issueTypeId: string, status: string): void {
    this.memory.saw(issueKey, projectKey, issueTypeId, status);
  }

  /** A delivery says the issue moved to `status` (a person's transition). */
  sawStatus(issueKey: string, status: string): void {
    this.memory.sawMove(issueKey, status);
  }

  /**
   * jira.js's client, loaded with the first call that goes through it: a process that never
   * writes to Jira (the webhook door, which only asks who the service is) does not load it.
   */
  private jira(): Promise<Version3Client> {
    this.v3 ??= import('jira.js').then((m) => {
      httpException = m.HttpException;
      return new m.Version3Client(this.v3Options);
    });
    return this.v3;
  }

  // -------------------------------------------------------------------------------------------
  // Comments

  /** Posts an ADF comment; `properties` are stored on the comment atomically with it. */
  async addComment(issueKey: string, body: AdfDoc, properties: { key: string; value: unknown }[] = []): Promise<{ id: string }> {
    const op = 'POST /rest/api/3/issue/{key}/comment';
    const res = await this.remote.call(op, async () =>
      (await this.jira()).issueComments.addComment({ issueIdOrKey: issueKey, comment: body as never, ...(properties.length ? { properties } : {}) }), { subject: issueKey },
    );
    const c = this.parse(op, commentSchema, res);
    return { id: c.id };
  }

  /** Replaces the body of comment `commentId`. */
  async updateComment(issueKey: string, commentId: string, body: AdfDoc): Promise<void> {
    const op = 'PUT /rest/api/3/issue/{key}/comment/{id}';
    const res = await this.remote.call(op, async () => (await this.jira()).issueComments.updateComment({ issueIdOrKey: issueKey, id: commentId, body: body as never, notifyUsers: false }), { subject: issueKey });
    this.parse(op, commentSchema, res);
  }

  /**
   * Writes the request's one status comment: edits it in place when it exists, posts it
   * otherwise. Never posts a second one for the same request (see the class notes). With a
   * `ledger`, the first writer anywhere posts without searching and later writers in other
   * processes edit the recorded comment at once.
   */
  async upsertStatusComment(issueKey: string, requestId: string, body: AdfDoc, ledger?: StatusCommentLedger): Promise<UpsertResult> {
    const memoKey = `${issueKey} ${requestId}`;
    // Layer 0: the id this process wrote or found last time, so an edit is one call.
    const known = this.statusComments.get(memoKey);
    if (known && (await this.editIfThere(issueKey, known, body))) return this.kept(memoKey, known);
    this.statusComments.delete(memoKey);
    const claim = !known && ledger ? await ledger.claim(memoKey) : undefined;
    if (claim?.id && (await this.editIfThere(issueKey, claim.id, body))) return this.kept(memoKey, claim.id);
    // The first claim: no writer before this one can have posted it, so there is nothing to find.
    const found = claim?.first ? undefined : await this.findStatusComment(issueKey, requestId);
    if (found) {
      await this.updateComment(issueKey, found, body);
      await ledger?.settle(memoKey, found);
      return this.kept(memoKey, found);
    }
    const { id } = await this.addComment(issueKey, body, [{ key: STATUS_PROPERTY, value: { kind: 'status', requestId } }]);
    this.remember(memoKey, id);
    await ledger?.settle(memoKey, id);
    this.logger.info({ issueKey, requestId, commentId: id }, 'status comment posted');
    return { commentId: id, created: true };
  }

  /** An edited status comment, remembered. */
  private kept(memoKey: string, commentId: string): UpsertResult {
    this.remember(memoKey, commentId);
    return { commentId, created: false };
  }

  /** Edits comment `commentId`; false when someone deleted it (then it is looked for, or posted, again). */
  private async editIfThere(issueKey: string, commentId: string, body: AdfDoc): Promise<boolean> {
    try {
      await this.updateComment(issueKey, commentId, body);
      return true;
    } catch (err) {
      if (!(err instanceof JiraApiError && err.status === 404)) throw err;
      return false;
    }
  }

  /** Remembers a status comment id in this process (the oldest of 10,000 is forgotten first). */
  private remember(memoKey: string, commentId: string): void {
    this.statusComments.delete(memoKey);
    this.statusComments.set(memoKey, commentId);
    if (this.statusComments.size > 10_000) this.statusComments.delete(this.statusComments.keys().next().value!);
  }

  /**
   * Posts an event comment once per `key` (a notice key): the comment carries the property
   * `{kind:'event', key}`, set in the same POST, and is looked for first. A retry after Jira
   * accepted the POST but the answer was lost (a timeout, a 5xx, a crash) finds it and posts
   * nothing; `created` says which happened. `lookFirst: false` posts without looking: only for a
   * caller that knows no earlier attempt of this key can have posted (a notice's first attempt).
   */
  async addCommentOnce(issueKey: string, key: string, body: AdfDoc, opts: { lookFirst?: boolean } = {}): Promise<UpsertResult> {
    const found = opts.lookFirst === false ? undefined : await this.findComment(issueKey, (p) => p?.kind === 'event' && p.key === key);
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
      const res = await this.remote.call(op, async () =>
        (await this.jira()).issueComments.getComments({ issueIdOrKey: issueKey, startAt, maxResults: 100, orderBy: 'created', expand: 'properties' }), { subject: issueKey },
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
   * leads there. Already there → no-op (`transitioned: false`), so retries are harmless. The
   * transition's screen is read (`expand=transitions.fields`): when it requires a resolution, one
   * is sent (`resolution` when the screen offers it, else the first offered); when Jira refuses
   * the transition for want of a resolution the screen did not mark required, it is retried once
   * with one.
   * @throws {@link JiraApiError} (`not_found`) naming the available targets when none leads there.
   * @throws {@link JiraTransitionRefusedError} when Jira refuses the transition (a validator, a required field).
   */
  async transitionTo(issueKey: string, statusName: string, opts: { resolution?: string } = {}): Promise<{ transitioned: boolean }> {
    const transitions = await this.transitions(issueKey);
    const want = statusName.trim().toLowerCase();
    const t = transitions.find((x) => x.to.name.toLowerCase() === want);
    if (!t) {
      const current = await this.getStatus(issueKey);
      if (current.toLowerCase() === want) return { transitioned: false };
      const targets = [...new Set(transitions.map((x) => `"${x.to.name}"`))].join(', ') || 'none';
      throw new JiraApiError('not_found', 404, 'GET /rest/api/3/issue/{key}/transitions', [`no transition of ${issueKey} leads to "${statusName}" (from "${current}"; available: ${targets})`]);
    }
    try {
      await this.take(issueKey, t, opts.resolution);
    } catch (err) {
      // Someone moved the issue between the read and the post: not a refusal of this transition.
      if (refusal(err) && !(await this.offered(issueKey, t))) return { transitioned: false };
      throw err;
    }
    return { transitioned: true };
  }

  /**
   * Moves the issue along `steps` in order, each as {@link transitionTo} would, but with the
   * transitions read at most once per status the issue is in and no read of the current status:
   * a step no transition leads to is passed over (the issue is there already, or the workflow
   * has no such path from here; the walk goes on either way). A step that fails goes to
   * `onError`, which throws to end the walk or returns to go on with the next step.
   *
   * What this process saw of the issue and its workflow (see {@link TransitionMemory}) spares
   * the reads: a step to the status the issue was last seen in is passed over, and one the
   * remembered transitions lead to is posted at once. When Jira refuses a remembered transition,
   * the belief is dropped and the walk goes on from that step reading the transitions again.
   *
   * `properties` are written with the walk's transitions (in their POST); the answer says
   * whether they were, so a walk that moved nothing leaves the caller to write them.
   */
  async transitionAlong(
    issueKey: string,
    steps: WalkStep[],
    onError: (status: string, err: unknown) => Promise<void>,
    properties: IssuePropertyWrite[] = [],
  ): Promise<{ propertiesWritten: boolean }> {
    const walk = { written: false };
    try {
      await this.walk(issueKey, steps, onError, properties, walk, true);
    } catch (err) {
      if (!(err instanceof StaleWalkError)) throw err;
      this.logger.debug({ issueKey, contradicted: err.contradicted }, 'remembered transitions could not carry the walk on: read again');
      if (err.contradicted) this.memory.lost(issueKey);
      await this.walk(issueKey, steps.slice(err.step), onError, properties, walk, false);
    }
    return { propertiesWritten: walk.written };
  }

  /** One pass of {@link transitionAlong}; with `remembered`, trusts the memory and throws {@link StaleWalkError} when it was wrong. */
  private async walk(
    issueKey: string,
    steps: WalkStep[],
    onError: (status: string, err: unknown) => Promise<void>,
    properties: IssuePropertyWrite[],
    walk: { written: boolean },
    remembered: boolean,
  ): Promise<void> {
    let transitions: RememberedTransition[] | undefined;
    // The first step passed over on the belief alone since the last transition posted: when the
    // belief then leads nowhere, the walk starts again from there, reading.
    let unverified: number | undefined;
    for (const [i, step] of steps.entries()) {
      const want = step.status.trim().toLowerCase();
      if (remembered && this.memory.seenIn(issueKey) === want) {
        unverified ??= i;
        continue;
      }
      const kept = remembered && !transitions ? this.memory.transitionsOf(issueKey)?.find((x) => x.to.name.toLowerCase() === want) : undefined;
      if (remembered && !kept && unverified !== undefined) throw new StaleWalkError(unverified, this.memory.transitionsOf(issueKey) !== undefined);
      transitions ??= kept ? undefined : await this.transitions(issueKey);
      const t = kept ?? transitions?.find((x) => x.to.name.toLowerCase() === want);
      if (!t) {
        this.logger.debug({ issueKey, status: step.status }, 'no transition leads there from here: passed over');
        continue;
      }
      transitions = undefined;
      try {
        await this.take(issueKey, t, step.resolution, properties);
        walk.written ||= properties.length > 0;
        unverified = undefined;
      } catch (err) {
        if (kept && refusal(err)) throw new StaleWalkError(unverified ?? i, true);
        if (refusal(err) && !(await this.offered(issueKey, t))) {
          // Someone moved the issue between the read and the post: not a refusal of this transition.
          this.logger.info({ issueKey, status: step.status }, 'the issue moved meanwhile: step passed over');
          continue;
        }
        await onError(step.status, err);
      }
    }
  }

  /** Whether transition `t` is still offered on the issue (read again). */
  private async offered(issueKey: string, t: RememberedTransition): Promise<boolean> {
    return (await this.transitions(issueKey)).some((x) => x.id === t.id);
  }

  /** Performs transition `t`, with a resolution when its screen requires one or Jira asks for one. */
  private async take(issueKey: string, t: RememberedTransition, resolution: string | undefined, properties: IssuePropertyWrite[] = []): Promise<void> {
    const screen = t.fields?.resolution;
    const first = screen?.required ? { resolution: resolutionValue(screen, resolution) } : undefined;
    try {
      await this.doTransition(issueKey, t, first, properties);
    } catch (err) {
      const refused = refusal(err);
      if (!refused) throw err;
      const retry = !first && screen && refused.some((m) => /resolution/i.test(m)) ? { resolution: resolutionValue(screen, resolution) } : undefined;
      if (!retry) throw new JiraTransitionRefusedError(issueKey, t.name, t.to.name, refused);
      this.logger.info({ issueKey, transition: t.name }, 'transition needs a resolution: retried with one');
      await this.doTransition(issueKey, t, retry, properties);
    }
    this.memory.moved(issueKey, t.to.name);
  }

  /** The transitions available on the issue now, with the fields of their screens (remembered for its status). */
  private async transitions(issueKey: string): Promise<RememberedTransition[]> {
    const op = 'GET /rest/api/3/issue/{key}/transitions';
    const res = await this.remote.call(op, async () => (await this.jira()).issues.getTransitions({ issueIdOrKey: issueKey, expand: 'transitions.fields' }), { subject: issueKey });
    const list = this.parse(op, transitionsSchema, res).transitions;
    this.memory.learned(issueKey, list);
    return list;
  }

  /** Performs transition `t` with `fields` from its screen (and `properties`); a 400 becomes {@link JiraTransitionRefusedError}. */
  private async doTransition(issueKey: string, t: RememberedTransition, fields: Record<string, unknown> | undefined, properties: IssuePropertyWrite[]): Promise<void> {
    try {
      await this.remote.call(
        'POST /rest/api/3/issue/{key}/transitions',
        async () => (await this.jira()).issues.doTransition({ issueIdOrKey: issueKey, transition: { id: t.id }, ...(fields ? { fields } : {}), ...(properties.length ? { properties } : {}) }),
        { subject: issueKey },
      );
    } catch (err) {
      const refused = fields ? refusal(err) : undefined;
      if (refused) throw new JiraTransitionRefusedError(issueKey, t.name, t.to.name, refused);
      throw err;
    }
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
    const op = `${method} ${path.replace(/\/(issue|request)\/[^/]+/, '/$1/{key}').replace(/\/(customfield_\d+|\d+)(?=\/|$)/g, '/{id}')}`;
    const issue = issueOfPath(path);
    const call = async () => (await this.http.request({ method, url: path, params: opts.params, data: opts.data })).data as unknown;
    const res = await this.remote.call(op, call, issue ? { subject: issue } : {});
    return this.parse(op, schema, res ?? {});
  }

  /**
   * Every item of a startAt/maxResults list (fields' contexts and options, screens, schemes),
   * page after page until Jira says `isLast` (or, without it, `total` is reached).
   */
  async pages<S extends z.ZodType>(path: string, item: S, params: Record<string, unknown> = {}, pageSize = 100): Promise<z.infer<S>[]> {
    const pageSchema = z.looseObject({ values: z.array(item), isLast: z.boolean().optional(), total: z.number().int().optional() });
    const out: z.infer<S>[] = [];
    for (let startAt = 0; ; ) {
      const page = await this.api('GET', path, pageSchema, { params: { ...params, startAt, maxResults: pageSize } });
      out.push(...page.values);
      startAt += page.values.length;
      const done = page.isLast ?? (page.total === undefined || startAt >= page.total);
      if (done || page.values.length === 0) return out;
    }
  }

  /** The account the service acts as, so deliveries it caused itself can be ignored. */
  async myself(): Promise<{ accountId: string; displayName?: string }> {
    const op = 'GET /rest/api/3/myself';
    const res = await this.remote.call(op, async () => (await this.http.get('/rest/api/3/myself')).data as unknown);
    return this.parse(op, z.object({ accountId: z.string(), displayName: z.string().optional() }).passthrough(), res);
  }

  /** The account the credentials log in as, with the site's `Date` header (the doctor compares clocks). */
  async whoAmI(): Promise<{ accountId: string; displayName?: string; date?: string }> {
    const op = 'GET /rest/api/3/myself';
    const res = await this.remote.call(op, async () => {
      const r = await this.http.get('/rest/api/3/myself');
      return { ...(r.data as object), date: typeof r.headers.date === 'string' ? r.headers.date : undefined };
    });
    return this.parse(op, z.object({ accountId: z.string(), displayName: z.string().optional(), date: z.string().optional() }).passthrough(), res);
  }

  /** The issue's current status name. */
  async getStatus(issueKey: string): Promise<string> {
    const op = 'GET /rest/api/3/issue/{key}';
    const res = await this.remote.call(op, async () => (await this.jira()).issues.getIssue({ issueIdOrKey: issueKey, fields: ['status'] }), { subject: issueKey });
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
      }), { subject: issueKey },
    );
  }

  /** Reads an issue property; null when it is not set. */
  async getIssueProperty(issueKey: string, key: string): Promise<unknown | null> {
    const op = 'GET /rest/api/3/issue/{key}/properties/{property}';
    try {
      const res = await this.remote.call(op, async () => (await this.jira()).issueProperties.getIssueProperty({ issueIdOrKey: issueKey, propertyKey: key }), { subject: issueKey });
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
    const res = await this.remote.call(op, async () =>
      (await this.jira()).issueAttachments.addAttachment({ issueIdOrKey: issueKey, attachment: { filename, file, mimeType: guessMime(filename) } }), { subject: issueKey },
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
      const res = await this.remote.call(op, async () => (await this.jira()).users.getUser({ accountId }));
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
      const res = await this.remote.call(op, async () => (await this.jira()).users.getUserGroups({ accountId }));
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
      const url = `/rest/servicedeskapi/request/${encodeURIComponent(issueKey)}/approval`;
      const res = await this.remote.call(op, async () => (await this.http.get(url, { params: { start, limit: 50 } })).data, { subject: issueKey });
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
      (await this.http.post(`/rest/servicedeskapi/request/${encodeURIComponent(issueKey)}/approval/${encodeURIComponent(approvalId)}`, { decision })).data, { subject: issueKey },
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

/** jira.js's error class, known once jira.js is loaded (before that no call can have thrown one). */
let httpException: typeof HttpException | undefined;

/** Whether `err` is jira.js's wrapper of a failed call. */
function isHttpException(err: unknown): err is HttpException {
  return httpException !== undefined && err instanceof httpException;
}

function describeFailure(err: unknown): RemoteFailure {
  // jira.js wraps axios errors in HttpException with the AxiosError as cause.
  const axiosErr = err instanceof AxiosError ? err : isHttpException(err) && err.cause instanceof AxiosError ? err.cause : undefined;
  if (!axiosErr?.response && isHttpException(err) && typeof err.status === 'number' && err.status !== 500) {
    return { status: err.status, messages: [], detail: err.message };
  }
  const failure = axiosFailure(axiosErr, err, jiraMessages);
  if (failure.status !== 429 || !axiosErr?.response) return failure;
  // Jira says how long and which limit: Retry-After, X-RateLimit-Reset (ISO 8601), RateLimit-Reason.
  const limit = parseJiraRateLimitHeaders(axiosErr.response.headers as Record<string, unknown>);
  return { ...failure, ...(limit.waitMs !== undefined ? { retryAfterMs: limit.waitMs } : {}), ...(limit.reason ? { rateLimitReason: limit.reason } : {}) };
}

/** Jira's messages when `err` is its 400 refusal of a call, else undefined. */
function refusal(err: unknown): string[] | undefined {
  if (err instanceof JiraTransitionRefusedError) return err.remoteMessages;
  return err instanceof JiraApiError && err.status === 400 ? err.remoteMessages : undefined;
}

/** The resolution to send on a transition screen: `wanted` when the screen offers it, else the first offered. */
function resolutionValue(field: z.infer<typeof screenFieldSchema>, wanted: string | undefined): { id: string } | { name: string } {
  const offered = field.allowedValues ?? [];
  const named = wanted ? offered.find((v) => v.name?.toLowerCase() === wanted.toLowerCase()) : undefined;
  const pick = named ?? offered[0];
  if (pick?.id) return { id: pick.id };
  return { name: pick?.name ?? wanted ?? 'Done' };
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
