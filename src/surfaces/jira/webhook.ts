/**
 * Jira webhook intake: signature verification over the raw body, then normalization of the
 * (v2-shaped) delivery into a neutral {@link SurfaceEvent}. Nothing here touches the network or
 * Redis; the HTTP route calls {@link verifyJiraSignature} before parsing JSON, then
 * {@link normalizeJiraDelivery}, then enqueues.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { ConfigError, UserError, ValidationError, type FieldIssue } from '../../engine/errors.ts';
import type { Actor } from '../../engine/model.ts';
import { sanitize } from '../shared/sanitize.ts';
import { parseCommand, type SurfaceEvent } from '../shared/surface-event.ts';
import { headerValue } from '../shared/inbound-headers.ts';
import type { InboundHeaders } from '../surface.ts';
import { adfText, type AdfNode } from './adf.ts';

/** Header carrying `sha256=<hex HMAC-SHA256 of the raw body>` on signed admin webhooks. */
export const SIGNATURE_HEADER = 'X-Hub-Signature';
/** Header carrying the delivery id, the same across retries. */
export const IDENTIFIER_HEADER = 'X-Atlassian-Webhook-Identifier';
/** Header present on retried deliveries, carrying the retry count. */
export const RETRY_HEADER = 'X-Atlassian-Webhook-Retry';

/** Why a signature was refused. */
export type SignatureProblem = 'missing' | 'malformed' | 'mismatch';

/** A delivery whose `X-Hub-Signature` is missing, malformed or wrong: answer 401, queue nothing. */
export class JiraSignatureError extends UserError {
  readonly header = SIGNATURE_HEADER;
  readonly problem: SignatureProblem;
  constructor(problem: SignatureProblem) {
    const what: Record<SignatureProblem, string> = {
      missing: 'is missing; the webhook must be configured with a secret',
      malformed: 'is malformed; expected sha256=<64 hex digits>',
      mismatch: 'does not match the body; the secret differs or the body was altered',
    };
    super('unauthorized', `${SIGNATURE_HEADER} ${what[problem]}`);
    this.problem = problem;
  }
}

/** A delivery lacking a header the intake needs (the delivery id). */
export class JiraWebhookHeaderError extends UserError {
  readonly header: string;
  constructor(header: string, message: string) {
    super('validation', `${header} ${message}`);
    this.header = header;
  }
}

/**
 * Verifies Jira's webhook signature: `X-Hub-Signature: sha256=<hex>` where hex is the
 * HMAC-SHA256 of the raw request body keyed with the webhook secret. Must run on the exact bytes
 * received, before any JSON parsing. The comparison is constant-time.
 * @throws {@link JiraSignatureError} when the header is missing, malformed or does not match.
 * @throws {@link ConfigError} when no secret is configured (the service must refuse to start).
 */
export function verifyJiraSignature(rawBody: Buffer, header: string | undefined, secret: string): void {
  if (!secret) throw new ConfigError('JIRA_WEBHOOK_SECRET', 'required to verify Jira webhooks');
  if (header === undefined || header.trim() === '') throw new JiraSignatureError('missing');
  const m = /^sha256=([0-9a-fA-F]{64})$/.exec(header.trim());
  if (!m) throw new JiraSignatureError('malformed');
  const given = Buffer.from(m[1]!, 'hex');
  const expected = createHmac('sha256', secret).update(rawBody).digest();
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new JiraSignatureError('mismatch');
}

/** Computes the header value Jira would send for `rawBody` (sandboxes and tests sign with it). */
export function signJiraBody(rawBody: Buffer | string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(rawBody).digest('hex')}`;
}

// ---------------------------------------------------------------------------------------------
// Payload

const userSchema = z.looseObject({
  accountId: z.string().min(1),
  displayName: z.string().optional(),
  emailAddress: z.string().optional(),
  active: z.boolean().optional(),
});

const issueSchema = z.looseObject({
  id: z.string().min(1),
  key: z.string().min(1),
  self: z.string().optional(),
  fields: z.looseObject({
    project: z.looseObject({ id: z.string().optional(), key: z.string().min(1), name: z.string().optional() }),
    issuetype: z.looseObject({ id: z.string().optional(), name: z.string().min(1) }),
    status: z.looseObject({ name: z.string() }).nullish(),
  }),
});

const changelogSchema = z.looseObject({
  id: z.string().optional(),
  items: z.array(
    z.looseObject({
      field: z.string(),
      fieldId: z.string().optional(),
      fieldtype: z.string().optional(),
      from: z.string().nullish(),
      fromString: z.string().nullish(),
      to: z.string().nullish(),
      toString: z.string().nullish(),
    }),
  ),
});

/** The part of a Jira webhook delivery the service reads (other keys are kept, not checked). */
export const jiraWebhookPayloadSchema = z.looseObject({
  timestamp: z.number().optional(),
  webhookEvent: z.string().min(1),
  issue_event_type_name: z.string().optional(),
  user: userSchema.optional(),
  issue: issueSchema.optional(),
  changelog: changelogSchema.nullish(),
  comment: z
    .looseObject({
      id: z.string().min(1),
      author: userSchema.optional(),
      body: z.union([z.string(), z.looseObject({ type: z.literal('doc') })]),
    })
    .optional(),
});

/** A validated Jira webhook payload. */
export type JiraWebhookPayload = z.infer<typeof jiraWebhookPayloadSchema>;

/** Which Jira projects and issue types are requests. */
export interface JiraIntakeConfig {
  /** Project key -> issue type names (or ids) that are requests in that project. */
  projects: Record<string, { issueTypes: string[] }>;
  /** Base for browse links; defaults to the origin of the issue's `self` URL. */
  baseUrl?: string;
  /** The service's own account: deliveries it caused (its comments, its transitions) are ignored. */
  selfAccountId?: string;
  /** The admin project's key: comments on any of its issues are read for commands (`/freeze`). */
  adminProject?: string;
}

/** The accountId of a user object in a payload, if it has one. */
function accountIdOf(user: unknown): string | undefined {
  const id = (user as { accountId?: unknown } | null | undefined)?.accountId;
  return typeof id === 'string' ? id : undefined;
}

/**
 * Whether a delivery was caused by the account `selfAccountId` (the service's own): a comment
 * it wrote or edited (`comment_created`, `comment_updated`: the comment's author or editor), or an
 * issue it created or changed (`jira:issue_*`: the delivery's user, who made the change). Reads
 * the same author {@link normalizeJiraDelivery} reads, so what it answers `true` for would be
 * ignored as "caused by ticket-surface itself" anyway. False for anything it cannot read.
 */
export function isJiraOwnEcho(payload: unknown, selfAccountId: string): boolean {
  if (typeof payload !== 'object' || payload === null) return false;
  const p = payload as { webhookEvent?: unknown; user?: unknown; comment?: { author?: unknown; updateAuthor?: unknown } | null };
  const comment = p.comment ?? undefined;
  let author: string | undefined;
  if (p.webhookEvent === 'comment_created') author = accountIdOf(comment?.author) ?? accountIdOf(p.user);
  else if (p.webhookEvent === 'comment_updated') author = accountIdOf(comment?.updateAuthor) ?? accountIdOf(comment?.author) ?? accountIdOf(p.user);
  else if (typeof p.webhookEvent === 'string' && p.webhookEvent.startsWith('jira:issue_')) author = accountIdOf(p.user);
  return author !== undefined && author === selfAccountId;
}

/** Parses a raw payload; every problem is reported with its JSON pointer. */
export function parseJiraPayload(payload: unknown): JiraWebhookPayload {
  const parsed = jiraWebhookPayloadSchema.safeParse(payload);
  if (parsed.success) return parsed.data;
  const issues: FieldIssue[] = parsed.error.issues.map((i) => ({
    pointer: i.path.length ? `/${i.path.map((p) => String(p).replace(/~/g, '~0').replace(/\//g, '~1')).join('/')}` : '',
    message: i.message,
  }));
  throw new ValidationError(`Jira webhook payload not understood: ${issues.map((i) => `${i.pointer || '/'} ${i.message}`).join('; ')}`, issues);
}

function toActor(u: z.infer<typeof userSchema>): Actor {
  return {
    id: u.accountId,
    ...(u.displayName ? { displayName: sanitize(u.displayName) } : {}),
    ...(u.emailAddress ? { email: u.emailAddress } : {}),
  };
}

/**
 * Turns one delivery into a {@link SurfaceEvent}.
 * - `jira:issue_created` → `request.created`;
 * - `jira:issue_updated` with a status change → `request.status_changed` (other changed fields
 *   are listed too); with only other field changes → `request.updated`; with none → `ignored`;
 * - `comment_created` whose first line is a `/command` → `command`; other comments → `ignored`;
 * - any other event, an unknown project or issue type, or an event the service itself caused →
 *   `ignored` with the reason.
 * @throws {@link JiraWebhookHeaderError} without `X-Atlassian-Webhook-Identifier`.
 * @throws {@link ValidationError} when the payload lacks what the service reads.
 */
export function normalizeJiraDelivery(headers: InboundHeaders, payload: unknown, config: JiraIntakeConfig): SurfaceEvent {
  const p = parseJiraPayload(payload);
  const at = p.timestamp !== undefined ? new Date(p.timestamp).toISOString() : undefined;
  const base = {
    ...deliveryOf(headers),
    surface: 'jira' as const,
    fields: {} as Record<string, unknown>,
    changed: [] as string[],
    ...(at ? { at } : {}),
  };
  const ignored = (reason: string, extra: Partial<SurfaceEvent> = {}): SurfaceEvent => ({
    ...base,
    kind: 'ignored',
    ref: p.issue?.key ?? '',
    actor: p.user ? toActor(p.user) : p.comment?.author ? toActor(p.comment.author) : { id: 'unknown' },
    ignoreReason: reason,
    ...extra,
  });

  const known = ['jira:issue_created', 'jira:issue_updated', 'comment_created'];
  if (!known.includes(p.webhookEvent)) return ignored(`event ${p.webhookEvent} is not handled`);
  const issue = p.issue;
  if (!issue) return ignored(`event ${p.webhookEvent} carries no issue`);

  const projectKey = issue.fields.project.key;
  const issueType = issue.fields.issuetype.name;
  const origin = config.baseUrl?.replace(/\/+$/, '') ?? (issue.self ? safeOrigin(issue.self) : undefined);
  const common = {
    ref: issue.key,
    ticketId: issue.id,
    ...(origin ? { url: `${origin}/browse/${encodeURIComponent(issue.key)}` } : {}),
    project: projectKey,
    issueType,
  };

  const project = Object.hasOwn(config.projects, projectKey) ? config.projects[projectKey] : undefined;
  // Comments in the admin project are read whatever the issue: they may be admin commands.
  const adminComment = p.webhookEvent === 'comment_created' && config.adminProject === projectKey;
  if (!project && !adminComment) return ignored(`project ${projectKey} is not configured for ticket-surface`, common);
  const typeOk = project?.issueTypes.some(
    (t) => t.toLowerCase() === issueType.toLowerCase() || (issue.fields.issuetype.id !== undefined && t === issue.fields.issuetype.id),
  );
  if (!typeOk && !adminComment) return ignored(`issue type ${issueType} is not a request type in project ${projectKey}`, common);

  const actorRaw = p.webhookEvent === 'comment_created' ? (p.comment?.author ?? p.user) : p.user;
  if (!actorRaw) {
    throw new ValidationError('Jira webhook payload not understood: no user', [
      { pointer: p.webhookEvent === 'comment_created' ? '/comment/author' : '/user', message: 'required' },
    ]);
  }
  const actor = toActor(actorRaw);
  if (config.selfAccountId && actor.id === config.selfAccountId) return ignored('caused by ticket-surface itself', { ...common, actor });

  const withIssue = { ...base, ...common, actor, fields: { ...issue.fields } as Record<string, unknown> };
  const ignoredOnIssue: Ignore = (reason, extra = {}) => ignored(reason, { ...common, actor, ...extra });
  if (p.webhookEvent === 'jira:issue_created') return { ...withIssue, kind: 'request.created' };
  if (p.webhookEvent === 'jira:issue_updated') return issueUpdated(p, withIssue, ignoredOnIssue);
  return commentCreated(p, withIssue, ignoredOnIssue);
}

/** An event about an issue, before its kind is known. */
type IssueEvent = Omit<SurfaceEvent, 'kind'>;
/** Makes the `ignored` event of a delivery, for a reason. */
type Ignore = (reason: string, extra?: Partial<SurfaceEvent>) => SurfaceEvent;

/** The delivery id (the dedupe key) and the retry count from the headers. */
function deliveryOf(headers: InboundHeaders): { deliveryId: string; retry: number } {
  const deliveryId = headerValue(headers, IDENTIFIER_HEADER);
  if (!deliveryId) throw new JiraWebhookHeaderError(IDENTIFIER_HEADER, 'is missing; it is the dedupe key of every delivery');
  const retryRaw = headerValue(headers, RETRY_HEADER);
  return { deliveryId, retry: retryRaw && /^\d+$/.test(retryRaw) ? Number(retryRaw) : 0 };
}

/** `jira:issue_updated`: a status change (other changed fields listed too), other field changes, or nothing. */
function issueUpdated(p: JiraWebhookPayload, withIssue: IssueEvent, ignored: Ignore): SurfaceEvent {
  const items = p.changelog?.items ?? [];
  if (!items.length) return ignored('the update changed no field');
  const changed = [...new Set(items.map((i) => i.fieldId ?? i.field))];
  const status = items.find((i) => (i.fieldId ?? i.field).toLowerCase() === 'status');
  if (!status) return { ...withIssue, kind: 'request.updated', changed };
  return {
    ...withIssue,
    kind: 'request.status_changed',
    changed,
    ...(status.fromString ? { fromStatus: status.fromString } : {}),
    ...(status.toString ? { toStatus: status.toString } : {}),
  };
}

/** `comment_created`: a `/command` on its first line, or an ordinary comment (ignored). */
function commentCreated(p: JiraWebhookPayload, withIssue: IssueEvent, ignored: Ignore): SurfaceEvent {
  const comment = p.comment;
  if (!comment) {
    throw new ValidationError('Jira webhook payload not understood: comment_created without a comment', [{ pointer: '/comment', message: 'required' }]);
  }
  const text = typeof comment.body === 'string' ? comment.body : adfText(comment.body as unknown as AdfNode);
  const command = parseCommand(text);
  if (!command) return ignored('the comment is not a command', { commentId: comment.id });
  return { ...withIssue, kind: 'command', command, commentId: comment.id };
}

function safeOrigin(url: string): string | undefined {
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}
