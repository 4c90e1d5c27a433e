import { z } from 'zod';
import type { Engine } from '../../workflow/engine.ts';
import { UserError } from '../../engine/errors.ts';
import type { Logger } from '../../engine/logger.ts';
import type { Request, RequestState } from '../../engine/model.ts';
import { QueryCatalog, parseQueryText, type QueryInvocation } from '../../workflow/queries.ts';
import type { SurfaceIdStore } from '../../engine/surface-ids.ts';
import type { RequestWorkflow, WorkflowNotice } from '../../workflow/workflow.ts';
import type { FormCatalog } from '../../forms/catalog.ts';
import { resolveDynamicOptions, type Answers } from '../../forms/index.ts';
import { EngineOptionSources } from '../../workflow/form-options.ts';
import type { Directory, DirectoryUser } from '../../policy/index.ts';
import type { IntakeJobData } from '../../queue/queues.ts';
import type { NoticeAttempt } from '../../queue/workers.ts';
import type { Block } from '../shared/blocks.ts';
import { MessageRenderer } from '../shared/messages.ts';
import { headerValue, WebhookHeaderError } from '../shared/inbound-headers.ts';
import type { SurfaceEvent } from '../shared/surface-event.ts';
import { TicketHandler, type AskOptions, type DriftCommands, type StackCommands, type TicketInput } from '../shared/ticket-handler.ts';
import { parseCommand } from '../shared/surface-event.ts';
import { stackBlocks } from '../shared/stack-view.ts';
import type { StackNotifier } from '../../workflow/stacks.ts';
import type { Stack } from '../../workflow/stack-store.ts';
import { createLogger } from '../../engine/logger.ts';
import type { ViewBuilder } from '../shared/view-builder.ts';
import type { InboundHeaders, SurfaceAdapter } from '../surface.ts';
import { adfText, renderJiraComment, type AdfDoc } from './adf.ts';
import { JiraTransitionRefusedError, type IssuePropertyWrite, type JiraClient, type StatusCommentLedger } from './client.ts';
import type { JiraSurfaceConfig } from './config.ts';
import { jiraAnswers } from './form-values.ts';
import { JsmApprovals } from './jsm-approvals.ts';
import { BUNDLE_ISSUE_TYPES } from './bundle-issue-types.ts';
import { ADMIN_COMMANDS, JiraAdminCommands } from './admin-commands.ts';
import type { FreezeDesk } from '../../workflow/freeze.ts';

import { isJiraOwnEcho, JiraWebhookHeaderError, normalizeJiraDelivery, verifyJiraSignature } from './webhook.ts';
import { driftIssueTarget, JiraDriftTickets } from './drift-tickets.ts';
import { CachedDirectory } from './directory-cache.ts';

/** Dependencies of {@link JiraSurface}. */
export interface JiraSurfaceDeps {
  config: JiraSurfaceConfig;
  client: JiraClient;
  /** Shared secret of the admin webhook. */
  webhookSecret: string;
  engine: Engine;
  workflow: RequestWorkflow;
  forms: FormCatalog;
  ids: SurfaceIdStore;
  views: ViewBuilder;
  /** Browse links: `<baseUrl>/browse/KEY`. */
  baseUrl: string;
  /** The service's own account id (deliveries it caused are ignored); looked up when omitted. */
  selfAccountId?: string;
  renderer?: MessageRenderer;
  /** Read-only queries answered for `/ask` and question issues; default: a catalog over `engine`. */
  queries?: QueryCatalog;
  /** The drift desk for `/drift` (read at each use, like the workflow); absent: `/drift` is refused. */
  drift?: () => DriftCommands | undefined;
  /** The freeze desk for `/freeze` and `/unfreeze` in the admin project (read at each use); absent: refused. */
  freezes?: () => FreezeDesk | undefined;
  /** The stack desk for `/stack`, `/extend`, `/resume` (read at each use); absent: not understood. */
  stacks?: () => StackCommands | undefined;
  /** The clock of the directory cache (ms since the epoch); default `Date.now`. */
  now?: () => number;
}

/** How long a person's user and groups are reused when the configuration does not say (seconds). */
const DIRECTORY_CACHE_SECONDS = 30;

/** How often the webhook door may start a lookup of the service's own account while it is unknown. */
const SELF_LOOKUP_INTERVAL_MS = 60_000;

/** Where a stack's ticket moves are logged (a refused move is also said in the ticket). */
const STACK_LOG = createLogger('silent');

/** Issue property marking a question issue as answered (a retried delivery does not answer twice). */
const ANSWER_PROPERTY = 'ticket-surface.answer';

/** Issue property remembering the last refused transition said in the ticket (said once). */
const REFUSED_TRANSITION_PROPERTY = 'ticket-surface.transition-refused';

/** States a request passes through on its way to the result: the `ticket-surface.request` property is not rewritten for them. */
const PASSING_STATES: ReadonlySet<RequestState> = new Set(['approved', 'applying']);

/** How to ask again, in the list of queries a refused question gets. */
const HOW_TO_ASK = 'comment /ask <query>, or put the query in the summary of an Infrastructure question';

type JiraProject = JiraSurfaceConfig['projects'][string];

/**
 * The Jira surface adapter: signed admin webhooks in, ADF comments, transitions and issue
 * properties out, users and groups from the Jira API for approvals. Commands, questions, filing
 * and day-2 edits are handled by the shared {@link TicketHandler}; this class keeps Jira's words.
 */
export class JiraSurface implements SurfaceAdapter {
  readonly name = 'jira' as const;
  readonly directory: Directory;
  private readonly queries: QueryCatalog;
  private readonly tickets: TicketHandler;
  private readonly jsm: JsmApprovals;
  private readonly admin: JiraAdminCommands;
  private selfAccountId?: string;
  /** The lookup of {@link selfAccountId} in flight (one per process, however many deliveries wait). */
  private selfLookup?: Promise<string>;
  /** When the door last started a lookup of {@link selfAccountId} (ms since the epoch). */
  private selfLookupStartedAt = -Infinity;
  /** Issues filed per drift episode, when the configuration has an issue type of kind `drift`. */
  private readonly driftTickets?: JiraDriftTickets;
  /** Status comments claimed before their first post and their ids, in Redis (shared by every worker). */
  private readonly statusLedger: StatusCommentLedger;

  constructor(private readonly deps: JiraSurfaceDeps) {
    this.queries = deps.queries ?? new QueryCatalog(deps.engine);
    const driftTarget = driftIssueTarget(deps.config);
    if (driftTarget) this.driftTickets = new JiraDriftTickets(deps.client, driftTarget, deps.ids);
    this.selfAccountId = deps.selfAccountId;
    this.statusLedger = { claim: (key) => deps.ids.claim(STATUS_COMMENTS, key), settle: (key, id) => deps.ids.settle(STATUS_COMMENTS, key, id) };
    this.jsm = new JsmApprovals({ client: deps.client, workflow: () => deps.workflow });
    this.admin = new JiraAdminCommands({
      ...(deps.config.adminProject ? { adminProject: deps.config.adminProject } : {}),
      freezes: () => deps.freezes?.(),
      audit: deps.engine.inventory.audit,
      reply: (ref, text, key) => this.comment(ref, [{ type: 'paragraph', content: [{ type: 'text', text }] }], key),
    });
    // Reused for a few seconds per person (see CachedDirectory for the bound on a deactivation).
    const ttlMs = (deps.config.directoryCacheSeconds ?? DIRECTORY_CACHE_SECONDS) * 1000;
    const jiraDirectory: Directory = {
      getUser: async (id: string): Promise<DirectoryUser | null> => {
        const user = await deps.client.getUser(id);
        if (!user) return null;
        const groups = await deps.client.getUserGroups(id);
        return { id: user.accountId, displayName: user.displayName ?? id, active: user.active, groups };
      },
    };
    this.directory = new CachedDirectory(jiraDirectory, { ttlMs, ...(deps.now ? { now: deps.now } : {}) });
    this.tickets = new TicketHandler({
      surface: 'jira',
      engine: deps.engine,
      workflow: () => deps.workflow,
      queries: this.queries,
      renderer: deps.renderer ?? new MessageRenderer(),
      words: { answers: 'fields', ticket: 'on this issue', retryCommand: '/apply' },
      ids: deps.ids,
      ...(deps.drift ? { drift: deps.drift } : {}),
      ...(this.driftTickets ? { driftTicketPackage: (ref: string) => this.driftTickets!.packageOf(ref) } : {}),
      ...(deps.stacks ? { stacks: deps.stacks } : {}),
      writer: {
        remark: (ref, text) => this.remark(ref, text),
        post: (ref, blocks) => this.comment(ref, blocks),
        link: (ref) => this.browseLink(ref),
      },
    });
  }

  /** The link a person opens for issue `ref`. */
  private browseLink(ref: string): string {
    return `${this.deps.baseUrl.replace(/\/+$/, '')}/browse/${encodeURIComponent(ref)}`;
  }

  /** {@inheritDoc SurfaceAdapter.verify} */
  verify(headers: InboundHeaders, rawBody: Buffer): { deliveryId: string } {
    verifyJiraSignature(rawBody, headerValue(headers, 'x-hub-signature'), this.deps.webhookSecret);
    const deliveryId = headerValue(headers, 'x-atlassian-webhook-identifier');
    if (!deliveryId) throw new WebhookHeaderError('X-Atlassian-Webhook-Identifier', 'is missing; it is the dedupe key of every delivery');
    return { deliveryId };
  }

  /** {@inheritDoc SurfaceAdapter.isOwnEcho} */
  isOwnEcho(payload: unknown): boolean {
    if (this.selfAccountId === undefined) {
      // Not known yet in this process: looked up for the deliveries after this one, at most once
      // a minute while Jira cannot be reached (the door never waits for it, nor hammers it).
      const now = Date.now();
      if (now - this.selfLookupStartedAt >= SELF_LOOKUP_INTERVAL_MS) {
        this.selfLookupStartedAt = now;
        this.self().catch(() => undefined);
      }
      return false;
    }
    return isJiraOwnEcho(payload, this.selfAccountId);
  }

  private self(): Promise<string> {
    if (this.selfAccountId !== undefined) return Promise.resolve(this.selfAccountId);
    this.selfLookup ??= Promise.resolve()
      .then(() => this.deps.client.myself())
      .then(
        (me) => (this.selfAccountId = me.accountId),
        (err: unknown) => {
          this.selfLookup = undefined;
          throw err;
        },
      );
    return this.selfLookup;
  }

  /** Normalizes a delivery into a neutral event (what `webhook inspect` prints). */
  async normalize(headers: InboundHeaders, body: string): Promise<SurfaceEvent> {
    // The issue types forms sync keeps for bundles (per-bundle mode) are requests too, by id.
    const bundleTypeIds = Object.values(await this.deps.ids.all(BUNDLE_ISSUE_TYPES));
    const projects: Record<string, { issueTypes: string[] }> = {};
    for (const [key, p] of Object.entries(this.deps.config.projects)) projects[key] = { issueTypes: [...Object.keys(p.issueTypes), ...bundleTypeIds] };
    let payload: unknown;
    try {
      payload = JSON.parse(body);
    } catch {
      // Signed but not JSON: refused (a user error), not retried as if the service had failed.
      throw new JiraWebhookHeaderError('body', 'is not JSON');
    }
    const { adminProject } = this.deps.config;
    return normalizeJiraDelivery(headers, payload, { projects, baseUrl: this.deps.baseUrl, selfAccountId: await this.self(), ...(adminProject ? { adminProject } : {}) });
  }

  /** The issue a delivery is about (deliveries of one issue are handled one at a time). */
  serialKey(delivery: IntakeJobData): string | undefined {
    try {
      const p = JSON.parse(delivery.body) as { issue?: { key?: unknown } };
      return typeof p.issue?.key === 'string' ? p.issue.key : undefined;
    } catch {
      return undefined;
    }
  }

  /** {@inheritDoc SurfaceAdapter.handle} */
  async handle(delivery: IntakeJobData, log: Logger): Promise<void> {
    const event = await this.normalize(delivery.headers, delivery.body);
    const elog = log.child({ issue: event.ref, event: event.kind });
    if (event.kind === 'ignored') {
      elog.info({ reason: event.ignoreReason }, 'delivery ignored');
      return;
    }
    if (event.kind === 'command' && ADMIN_COMMANDS.has(event.command!.name)) {
      await this.admin.handle(event, event.command!, elog);
      return;
    }
    const project = this.deps.config.projects[event.project ?? ''];
    if (!project) return;
    // Commands work on any ticket: `/ask` is answered whatever the issue; the others need a request.
    if (event.kind === 'command') {
      const ask = (inv: QueryInvocation) => this.tickets.answer(event.ref, inv, event.actor, elog, this.askOptions(`ask:${event.commentId ?? event.deliveryId}`));
      await this.tickets.command(event.ref, event.command!, event.actor, elog, ask);
      return;
    }
    // Drift issues never become requests; a revert filed from one moves it like a request's issue.
    if (this.isKind(project, event.issueType, 'drift')) {
      const latest = event.kind === 'request.status_changed' ? await this.tickets.latestRequest(event.ref) : undefined;
      if (latest) await this.onStatus(event, project, latest, elog);
      return;
    }
    // Questions never become requests: question issues are answered and resolved.
    if (this.isKind(project, event.issueType, 'question')) {
      const edited = event.kind === 'request.updated' && event.changed.some((f) => f === 'summary' || f === 'description');
      if (event.kind === 'request.created' || edited) await this.onQuestion(event, project, elog);
      return;
    }
    let latest = await this.tickets.latestRequest(event.ref);
    // JSM approvals: every update of a request awaiting approval (an approver answered, JSM moved
    // the issue) is a reason to read the answers back.
    if (latest && project.approval === 'jsm' && latest.state === 'awaiting_approval' && event.kind !== 'request.created') {
      await this.jsm.collect(event.ref, latest, elog);
      latest = await this.tickets.latestRequest(event.ref);
    }
    if (event.kind === 'request.status_changed') {
      if (latest) await this.onStatus(event, project, latest, elog);
      return;
    }
    if (event.kind === 'request.created' && latest) return; // a retried delivery of the same creation
    await this.onEdit(event, project, latest, elog);
  }

  /** A created or edited issue: filed, revised, or (after the request finished) a day-2 request. */
  private async onEdit(event: SurfaceEvent, project: JiraProject, latest: Request | undefined, log: Logger): Promise<void> {
    if (latest && (await this.mappedFieldIds(event.changed)).length === 0) return;
    const input = await this.intakeInput(event, project);
    if (!input && !latest && event.kind === 'request.created' && (await this.commandInDescription(event, log))) return;
    if (!input) {
      // An issue of the admin project without a bundle is an admin ticket, not a request.
      if (!latest && event.project !== this.deps.config.adminProject) await this.remark(event.ref, '✘ This request cannot be planned: Bundle: required: choose the bundle to request');
      return;
    }
    // The issue property `ticket-surface.request` is written with the status comment that follows.
    await this.tickets.file(event.ref, latest, input, async () => event.actor, log);
  }

  /** A new issue whose description starts with `/stack ...`: handled as that command; true when it was one. */
  private async commandInDescription(event: SurfaceEvent, log: Logger): Promise<boolean> {
    const d = event.fields.description;
    const command = parseCommand(typeof d === 'string' ? d : d && typeof d === 'object' ? adfText(d as AdfDoc) : '');
    if (command?.name !== 'stack') return false;
    const ask = (inv: QueryInvocation) => this.tickets.answer(event.ref, inv, event.actor, log, this.askOptions(`ask:${event.deliveryId}`));
    await this.tickets.command(event.ref, command, event.actor, log, ask);
    return true;
  }

  /** How a stack's ticket is written: one status comment by its marker, reminders once by key, closed as done. */
  stackNotifier(): StackNotifier {
    return {
      status: async (stack, view) => {
        await this.deps.client.upsertStatusComment(stack.origin.ref, `stack-${stack.id}`, renderJiraComment(stackBlocks(view)).doc);
      },
      once: async (stack, key, text) => this.comment(stack.origin.ref, [{ type: 'paragraph', content: [{ type: 'text', text }] }], key),
      close: async (stack: Stack) => {
        const project = this.deps.config.projects[stack.origin.ref.split('-')[0]!];
        if (project) await this.tryTransition(stack.origin.ref, project.statuses.done, project, STACK_LOG);
      },
    };
  }

  private async mappedFieldIds(fieldIds: string[]): Promise<string[]> {
    const keys = await this.deps.ids.keysOf('jira', fieldIds);
    return fieldIds.filter((_, i) => keys[i]);
  }

  /** The bundle and answers of a ticket, decoded through the field ids the forms sync created. */
  private async intakeInput(event: SurfaceEvent, project: JiraProject): Promise<TicketInput | undefined> {
    const type = project.issueTypes[event.issueType ?? ''] ?? {};
    // Deliveries can arrive out of order (retries, parallel handling): the issue as it is now,
    // read back from Jira, is the truth; the payload's copy may be older.
    const current = await this.deps.client.api('GET', `/rest/api/3/issue/${encodeURIComponent(event.ref)}`, z.object({ fields: z.record(z.string(), z.unknown()) }).passthrough());
    this.sawIssue(event.ref, current.fields);
    const issueFields = { ...event.fields, ...current.fields };
    const entries = Object.entries(issueFields);
    const keys = await this.deps.ids.keysOf('jira', entries.map(([fieldId]) => fieldId));
    const byKey: Record<string, unknown> = {};
    entries.forEach(([, value], i) => {
      const key = keys[i];
      if (key) byKey[key] = value;
    });
    // A configured issue type naming a bundle, else a per-bundle issue type forms sync keeps, else the Bundle field.
    let bundle = type.bundle ?? (await this.bundleOfIssueType(current.fields.issuetype));
    if (!bundle) {
      const raw = byKey['request/bundle'] as { value?: string } | string | undefined;
      bundle = typeof raw === 'string' ? raw : raw?.value;
    }
    if (!bundle) return undefined;
    return {
      origin: { surface: 'jira' as const, ref: event.ref, ...(event.url ? { url: event.url } : {}) },
      project: project.project,
      bundle,
      answers: await this.answersOf(bundle, byKey),
    };
  }

  /** Tells the client where an issue read back is (its status walks reuse what it saw). */
  private sawIssue(ref: string, fields: Record<string, unknown>): void {
    const seen = issueSighting.safeParse(fields);
    if (seen.success) this.deps.client.sawIssue(ref, seen.data.project.key, seen.data.issuetype.id, seen.data.status.name);
  }

  /** The bundle whose per-bundle issue type `issuetype` (an issue's `fields.issuetype`) is, if any. */
  private async bundleOfIssueType(issuetype: unknown): Promise<string | undefined> {
    const id = z.looseObject({ id: z.string() }).safeParse(issuetype);
    return id.success ? this.deps.ids.keyOf(BUNDLE_ISSUE_TYPES, id.data.id) : undefined;
  }

  /** The answers to `bundle`'s form from the issue's values keyed by form field key. */
  private async answersOf(bundle: string, byKey: Record<string, unknown>): Promise<Answers> {
    // Dynamic dropdowns hold labels ("2.14.0 (qa-signed by quinn, 2026-11-23)"), not values: the
    // form must carry the sources' current options for a label to decode to its value.
    const form = await resolveDynamicOptions(await this.deps.forms.form(bundle), new EngineOptionSources(this.deps.engine));
    const fields: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(byKey)) {
      if (key.startsWith(`${bundle}/`)) fields[key.slice(bundle.length + 1)] = value;
      else if (key.startsWith('request/') && key !== 'request/bundle') fields[`request_${key.slice('request/'.length)}`] = value;
    }
    const answers: Answers = jiraAnswers(form, fields);
    // A version the source no longer offers (attestation revoked, Jira not re-synced yet) keeps
    // its label; the label starts with the version, which the engine then checks again (and refuses).
    for (const f of form.fields) {
      const a = answers[f.name];
      if (f.source?.source === 'versions' && typeof a === 'string') answers[f.name] = a.replace(/ \(.*\)$/, '');
    }
    if (answers.request_environment === undefined && this.deps.config.defaultEnvironment) answers.request_environment = this.deps.config.defaultEnvironment;
    return answers;
  }

  private async onStatus(event: SurfaceEvent, project: JiraProject, latest: Request, log: Logger): Promise<void> {
    if (event.toStatus) this.deps.client.sawStatus(event.ref, event.toStatus);
    const to = (event.toStatus ?? '').toLowerCase();
    const s = project.statuses;
    // JSM moved the issue once its own approval rule was met; the answers were handed to the
    // workflow one by one (see handle). Short of the policy, the issue goes back to waiting.
    if (to === s.approved.toLowerCase() && project.approval === 'jsm') {
      if (latest.state === 'awaiting_approval') await this.tryTransition(event.ref, s.awaitingApproval, project, log);
      return;
    }
    // Status approvals: the person who moved the issue to the approved status approves; checked against policy.
    if (to === s.approved.toLowerCase()) {
      // Bound to the plan the status comment showed when the issue was moved (see approvalBinding).
      const outcome = await this.deps.workflow.approve({ ...(await this.tickets.approvalBinding(event.ref, latest)), approver: event.actor, surface: 'jira' });
      log.info({ counted: outcome.counted }, 'approval handled');
      if (!outcome.counted && latest.state === 'awaiting_approval') await this.tryTransition(event.ref, s.awaitingApproval, project, log);
      return;
    }
    if (to === s.rejected.toLowerCase()) {
      await this.tickets.closeSafely(latest, 'rejected', event.actor, event.ref, log);
      return;
    }
    if (to === s.cancelled.toLowerCase()) {
      await this.tickets.closeSafely(latest, 'cancelled', event.actor, event.ref, log);
    }
  }

  private isKind(project: JiraProject, issueType: string | undefined, kind: 'question' | 'drift'): boolean {
    const want = (issueType ?? '').toLowerCase();
    return Object.entries(project.issueTypes).some(([name, t]) => name.toLowerCase() === want && t.kind === kind);
  }

  /**
   * A question issue: the query is the summary (`most-expensive --top 3`), or, when the summary
   * is a sentence, the first line of the description that names a query. Answered in a comment,
   * then resolved; a question that cannot be answered goes to Needs info with the list of queries.
   */
  private async onQuestion(event: SurfaceEvent, project: JiraProject, log: Logger): Promise<void> {
    if (await this.deps.client.getIssueProperty(event.ref, ANSWER_PROPERTY)) return;
    const answered = await this.tickets.answer(event.ref, this.questionOf(event), event.actor, log, this.askOptions(`question:${event.ref}`));
    if (answered) {
      await this.deps.client.setIssueProperty(event.ref, ANSWER_PROPERTY, { query: answered.query, asOf: answered.asOf });
      await this.tryTransition(event.ref, project.statuses.done, project, log);
    } else {
      await this.tryTransition(event.ref, project.statuses.needsInfo, project, log);
    }
  }

  private questionOf(event: SurfaceEvent): QueryInvocation {
    const summary = typeof event.fields.summary === 'string' ? event.fields.summary : '';
    const d = event.fields.description;
    const description = typeof d === 'string' ? d : d && typeof d === 'object' ? adfText(d as AdfDoc) : '';
    const known = new Set(this.queries.list().map((q) => q.name));
    for (const text of [summary, ...description.split(/\r?\n/)]) {
      const inv = parseQueryText(text.trim());
      if (known.has(inv.name.toLowerCase())) return inv;
    }
    return parseQueryText(summary);
  }

  private askOptions(key: string): AskOptions {
    return { how: HOW_TO_ASK, key };
  }

  /**
   * Posts blocks as one ADF comment; with `key`, at most once (a retry finds the comment by its
   * property; `lookFirst: false` skips the search when no earlier attempt can have posted it).
   */
  private async comment(ref: string, blocks: Block[], key?: string, opts: { lookFirst?: boolean } = {}): Promise<void> {
    const doc = renderJiraComment(blocks).doc;
    if (key) await this.deps.client.addCommentOnce(ref, key, doc, opts);
    else await this.deps.client.addComment(ref, doc);
  }

  /** A one-line comment (refusals, unknown commands). */
  private async remark(ref: string, text: string): Promise<void> {
    await this.comment(ref, [{ type: 'paragraph', content: [{ type: 'text', text }] }]);
  }

  private statusFor(state: RequestState, s: JiraProject['statuses']): string[] {
    switch (state) {
      case 'invalid':
        return [s.needsInfo];
      case 'planned':
        return [s.open, s.planned];
      case 'awaiting_approval':
        // A day-2 change on a finished ticket reopens it first.
        return [s.open, s.planned, s.awaitingApproval];
      case 'approved':
      case 'scheduled':
        return [s.approved];
      case 'applied':
        // Through the approved status when the approval came from elsewhere (JSM, the CLI) and
        // the issue still waits: most workflows reach the done status from there only.
        return [s.approved, s.done];
      case 'rejected':
        return [s.rejected];
      case 'cancelled':
        return [s.cancelled];
      default:
        return [];
    }
  }

  /**
   * Moves the issue to `status` when a transition leads there (with the project's resolution
   * when the transition screen requires one). None leads there: logged, a workflow without that
   * path is normal. Jira refuses it (a validator, a field the service cannot give): said once in
   * the ticket and logged at warn; the request itself goes on.
   */
  private async tryTransition(ref: string, status: string, project: JiraProject, log: Logger): Promise<void> {
    try {
      await this.deps.client.transitionTo(ref, status, { resolution: resolutionFor(project, status) });
    } catch (err) {
      if (err instanceof JiraTransitionRefusedError) return this.transitionRefused(ref, err, log);
      if (!(err instanceof UserError)) throw err;
      log.info({ status, problem: err.message }, 'transition not available');
    }
  }

  /**
   * Moves the issue through `statuses` in order, as {@link tryTransition} does each, reading the
   * transitions once per status the issue passes through (a status no transition leads to is
   * passed over: already there, or no such path in this workflow).
   */
  private async walkStatuses(ref: string, statuses: string[], project: JiraProject, log: Logger, properties: IssuePropertyWrite[]): Promise<{ propertiesWritten: boolean }> {
    const steps = statuses.map((status) => ({ status, resolution: resolutionFor(project, status) }));
    return this.deps.client.transitionAlong(
      ref,
      steps,
      async (status, err) => {
        if (err instanceof JiraTransitionRefusedError) return this.transitionRefused(ref, err, log);
        if (!(err instanceof UserError)) throw err;
        log.info({ status, problem: err.message }, 'transition not available');
      },
      properties,
    );
  }

  /** Tells the ticket (once per target and reason) that Jira refused to move it, and logs it at warn. */
  private async transitionRefused(ref: string, err: JiraTransitionRefusedError, log: Logger): Promise<void> {
    const problem = err.remoteMessages.join('; ') || 'Jira gave no reason';
    log.warn({ status: err.target, transition: err.transition, problem }, 'Jira refused the transition');
    const said = (await this.deps.client.getIssueProperty(ref, REFUSED_TRANSITION_PROPERTY)) as { target?: string; problem?: string } | null;
    if (said?.target === err.target && said.problem === problem) return;
    await this.remark(ref, `✘ Could not move this issue to "${err.target}": Jira refused the transition "${err.transition}" (${problem}). Move it by hand, or ask a Jira administrator to check the workflow.`);
    await this.deps.client.setIssueProperty(ref, REFUSED_TRANSITION_PROPERTY, { target: err.target, problem });
  }

  /** The whole plan as a text attachment, once per plan hash, when the comment had to be shortened. */
  private async attachPlan(ref: string, request: Request): Promise<void> {
    const plan = request.plan!;
    const marker = (await this.deps.client.getIssueProperty(ref, 'ticket-surface.plan-attachment')) as { hash?: string } | null;
    if (marker?.hash === plan.hash) return;
    const s = plan.summary;
    const lines = [
      `ticket-surface plan ${plan.hash} for request ${request.id} (revision ${request.contentRevision})`,
      `${s.add} to add, ${s.change} to change, ${s.destroy} to destroy, ${s.replace} to replace`,
      '',
      ...s.resources.map((r) => `${r.action.padEnd(8)} ${r.address}${r.destructive ? '   (destructive)' : ''}`),
    ];
    await this.deps.client.addAttachment(ref, `plan-${plan.hash.slice(0, 12)}.txt`, `${lines.join('\n')}\n`);
    await this.deps.client.setIssueProperty(ref, 'ticket-surface.plan-attachment', { hash: plan.hash });
  }

  /** {@inheritDoc SurfaceAdapter.publish} */
  async publish(notice: WorkflowNotice, log: Logger, attempt?: NoticeAttempt): Promise<void> {
    const request = await this.deps.engine.requests.get(notice.requestId);
    if (!(await this.tickets.isNews(notice, request))) return;
    const ref = request.origin.ref;
    if (notice.message === 'drift') {
      // One drift comment per package, found again by its marker and edited in place: on the
      // drift episode's own issue when policy files drift as a new ticket, else on this one.
      const episode = notice.detail?.episode;
      const fromJira = request.origin.surface === 'jira';
      const target = episode && this.driftTickets ? await this.driftTickets.issueFor(episode, notice.detail?.package ?? '', fromJira ? this.browseLink(ref) : undefined) : fromJira ? ref : undefined;
      if (!target) return; // no Jira issue to write on (a package made elsewhere, no drift issue type configured)
      const doc = renderJiraComment(await this.tickets.driftNoticeBlocks(notice)).doc;
      await this.deps.client.upsertStatusComment(target, `drift-${notice.detail?.package ?? ''}`, doc);
      return;
    }
    const project = this.deps.config.projects[ref.split('-')[0]!];
    const approve = project ? approveHint(project) : undefined;
    const blocks = this.tickets.noticeBlocks(notice, await this.deps.views.build(request, this.tickets.hints(approve)));
    if (notice.message !== 'status') {
      // On a notice's first attempt nothing of it can be in the ticket yet: posted without the search.
      await this.comment(ref, blocks, notice.key, { lookFirst: !attempt?.first });
      return;
    }
    // One status comment per ticket: the first request's, which its later requests edit in place.
    const all = await this.deps.engine.requests.forOrigin('jira', ref);
    const thread = all.sort((a, b) => a.createdAt.localeCompare(b.createdAt))[0]?.id ?? request.id;
    const rendered = renderJiraComment(blocks);
    if (rendered.shrunk && request.plan) await this.attachPlan(ref, request);
    await this.deps.client.upsertStatusComment(ref, thread, rendered.doc, this.statusLedger);
    await this.tickets.planShown(ref, request);
    // Nothing of the service reads it back: written where a ticket rests (its plan shown, waiting
    // for a window, ended), not at the states a request passes through on its way to the result;
    // with the walk's transitions when there are any, else on its own.
    const property = PASSING_STATES.has(request.state) ? [] : [requestProperty(request)];
    const walked = project ? await this.walkStatuses(ref, this.statusFor(request.state, project.statuses), project, log, property) : undefined;
    // The JSM approval opened by entering the approval status is bound to this plan.
    if (project?.approval === 'jsm' && request.state === 'awaiting_approval') await this.jsm.bind(ref, request);
    for (const p of walked?.propertiesWritten ? [] : property) await this.deps.client.setIssueProperty(ref, p.key, p.value);
  }
}

/** The surface-id namespace of requests' status comments (`<issue key> <request id>` → comment id). */
const STATUS_COMMENTS = 'jira-status-comments';

/** Where an issue read back is: its project, issue type and status (what a status walk needs to know). */
const issueSighting = z.looseObject({
  project: z.looseObject({ key: z.string() }),
  issuetype: z.looseObject({ id: z.string() }),
  status: z.looseObject({ name: z.string() }),
});

/** The `ticket-surface.request` issue property: the request the issue rests at, for people and tools reading Jira. */
function requestProperty(request: Request): IssuePropertyWrite {
  const value = { requestId: request.id, revision: request.contentRevision, state: request.state, ...(request.plan ? { planHash: request.plan.hash } : {}) };
  return { key: 'ticket-surface.request', value };
}

/** The resolution a transition into `status` sends when its screen requires one (done, rejected, cancelled). */
function resolutionFor(project: JiraProject, status: string): string | undefined {
  const want = status.toLowerCase();
  const { statuses, resolutions } = project;
  if (want === statuses.done.toLowerCase()) return resolutions.done;
  if (want === statuses.rejected.toLowerCase()) return resolutions.rejected;
  if (want === statuses.cancelled.toLowerCase()) return resolutions.cancelled;
  return undefined;
}

/** How a person approves in this project, for every message. */
function approveHint(project: JiraProject): string {
  if (project.approval === 'jsm') return 'To approve: approve this request in its Approvals panel (Jira Service Management).';
  return `To approve: move this issue to "${project.statuses.approved}".`;
}
