import { z } from 'zod';
import type { Engine } from '../../workflow/engine.ts';
import { UserError, type FieldIssue } from '../../engine/errors.ts';
import type { Logger } from '../../engine/logger.ts';
import type { Actor, Request, RequestState } from '../../engine/model.ts';
import { QueryCatalog, QueryError, parseQueryText, type QueryAnswer, type QueryInvocation } from '../../workflow/queries.ts';
import type { SurfaceIdStore } from '../../engine/surface-ids.ts';
import { RequestCommandError, type RequestWorkflow, type WorkflowNotice } from '../../workflow/workflow.ts';
import type { FormCatalog } from '../../forms/catalog.ts';
import { resolveDynamicOptions, type Answers } from '../../forms/index.ts';
import { EngineOptionSources } from '../../workflow/form-options.ts';
import type { Directory, DirectoryUser } from '../../policy/index.ts';
import type { IntakeJobData } from '../../queue/queues.ts';
import { MessageRenderer, type MessageName } from '../shared/messages.ts';
import type { SurfaceEvent } from '../shared/surface-event.ts';
import type { ViewBuilder } from '../shared/view-builder.ts';
import { buildAnswerView, type RequestView } from '../shared/request-view.ts';
import type { Block } from '../shared/blocks.ts';
import type { InboundHeaders, SurfaceAdapter } from '../surface.ts';
import { adfText, renderJiraComment, type AdfDoc } from './adf.ts';
import type { JiraClient } from './client.ts';
import type { JiraSurfaceConfig } from './config.ts';
import { jiraAnswers } from './form-values.ts';
import { normalizeJiraDelivery, verifyJiraSignature } from './webhook.ts';

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
}

/** Issue property marking a question issue as answered (a retried delivery does not answer twice). */
const ANSWER_PROPERTY = 'ticket-surface.answer';

const COMMANDS = [
  '/plan — plan again with the current answers',
  '/apply — retry a failed request',
  '/cancel — cancel the request',
  '/ask <query> [args] — answer a question, for example /ask most-expensive --top 3',
];

/**
 * The Jira surface adapter: signed admin webhooks in, ADF comments, transitions and issue
 * properties out, users and groups from the Jira API for approvals.
 */
export class JiraSurface implements SurfaceAdapter {
  readonly name = 'jira' as const;
  readonly directory: Directory;
  private readonly renderer: MessageRenderer;
  private readonly queries: QueryCatalog;
  private selfAccountId?: string;

  constructor(private readonly deps: JiraSurfaceDeps) {
    this.renderer = deps.renderer ?? new MessageRenderer();
    this.queries = deps.queries ?? new QueryCatalog(deps.engine);
    this.selfAccountId = deps.selfAccountId;
    this.directory = {
      getUser: async (id: string): Promise<DirectoryUser | null> => {
        const user = await deps.client.getUser(id);
        if (!user) return null;
        const groups = await deps.client.getUserGroups(id);
        return { id: user.accountId, displayName: user.displayName ?? id, active: user.active, groups };
      },
    };
  }

  /** {@inheritDoc SurfaceAdapter.verify} */
  verify(headers: InboundHeaders, rawBody: Buffer): { deliveryId: string } {
    const sig = headers['x-hub-signature'];
    verifyJiraSignature(rawBody, Array.isArray(sig) ? sig[0] : sig, this.deps.webhookSecret);
    const id = headers['x-atlassian-webhook-identifier'];
    const deliveryId = (Array.isArray(id) ? id[0] : id)?.trim();
    if (!deliveryId) throw new WebhookHeaderError('X-Atlassian-Webhook-Identifier', 'is missing; it is the dedupe key of every delivery');
    return { deliveryId };
  }

  private async self(): Promise<string> {
    this.selfAccountId ??= (await this.deps.client.myself()).accountId;
    return this.selfAccountId;
  }

  /** Normalizes a delivery into a neutral event (what `webhook inspect` prints). */
  async normalize(headers: InboundHeaders, body: string): Promise<SurfaceEvent> {
    const projects: Record<string, { issueTypes: string[] }> = {};
    for (const [key, p] of Object.entries(this.deps.config.projects)) projects[key] = { issueTypes: Object.keys(p.issueTypes) };
    return normalizeJiraDelivery(headers, JSON.parse(body) as unknown, { projects, baseUrl: this.deps.baseUrl, selfAccountId: await this.self() });
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
    const project = this.deps.config.projects[event.project ?? ''];
    if (!project) return;
    // Questions never become requests: `/ask` works on any ticket, question issues answer and resolve.
    if (event.kind === 'command' && event.command?.name === 'ask') {
      const cmd = event.command;
      await this.answer(event.ref, { name: cmd.args[0] ?? '', positional: cmd.args.slice(1), args: cmd.flags }, event.actor, elog);
      return;
    }
    if (this.isQuestion(project, event.issueType)) {
      const edited = event.kind === 'request.updated' && event.changed.some((f) => f === 'summary' || f === 'description');
      if (event.kind === 'request.created' || edited) await this.onQuestion(event, project, elog);
      return;
    }
    const latest = await this.latestRequest(event.ref);
    switch (event.kind) {
      case 'request.created':
        if (latest) return; // a retried delivery of the same creation
        await this.submit(event, project);
        return;
      case 'request.updated': {
        if (!latest) {
          await this.submit(event, project);
          return;
        }
        const mapped = await this.mappedFieldIds(event.changed);
        if (mapped.length === 0) return;
        // Edits after the request finished are a day-2 change: a new request on the same ticket.
        if (['applied', 'cancelled', 'rejected'].includes(latest.state)) {
          await this.submit(event, project);
          return;
        }
        if (latest.state === 'applying') {
          await this.deps.client.addComment(event.ref, this.plain('✘ The fields changed while the apply is running. When it has finished, edit them again to plan the change.'));
          return;
        }
        const input = await this.intakeInput(event, project);
        if (!input) return;
        // The same answers again (a late or repeated delivery) are not a new revision.
        if (JSON.stringify(sortKeys(input.answers)) === JSON.stringify(sortKeys(latest.submitted ?? {}))) return;
        await this.deps.workflow.revise(latest.id, input);
        return;
      }
      case 'request.status_changed':
        if (latest) await this.onStatus(event, project, latest, elog);
        return;
      case 'command':
        await this.onCommand(event, latest, elog);
        return;
    }
  }

  private async latestRequest(ref: string): Promise<Request | undefined> {
    const all = await this.deps.engine.requests.forOrigin('jira', ref);
    return all.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.contentRevision - b.contentRevision).pop();
  }

  private async mappedFieldIds(fieldIds: string[]): Promise<string[]> {
    const out: string[] = [];
    for (const id of fieldIds) if (await this.deps.ids.keyOf('jira', id)) out.push(id);
    return out;
  }

  /** The bundle and answers of a ticket, decoded through the field ids the forms sync created. */
  private async intakeInput(event: SurfaceEvent, project: JiraSurfaceConfig['projects'][string]) {
    const type = project.issueTypes[event.issueType ?? ''] ?? {};
    // Deliveries can arrive out of order (retries, parallel handling): the issue as it is now,
    // read back from Jira, is the truth; the payload's copy may be older.
    const current = await this.deps.client.api('GET', `/rest/api/3/issue/${encodeURIComponent(event.ref)}`, z.object({ fields: z.record(z.string(), z.unknown()) }).passthrough());
    const issueFields = { ...event.fields, ...current.fields };
    const byKey: Record<string, unknown> = {};
    for (const [fieldId, value] of Object.entries(issueFields)) {
      const key = await this.deps.ids.keyOf('jira', fieldId);
      if (key) byKey[key] = value;
    }
    let bundle = type.bundle;
    if (!bundle) {
      const raw = byKey['request/bundle'] as { value?: string } | string | undefined;
      bundle = typeof raw === 'string' ? raw : raw?.value;
    }
    if (!bundle) return undefined;
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
    return {
      kind: 'provision' as const,
      actor: event.actor,
      origin: { surface: 'jira' as const, ref: event.ref, ...(event.url ? { url: event.url } : {}) },
      project: project.project,
      bundle,
      answers,
    };
  }

  private async submit(event: SurfaceEvent, project: JiraSurfaceConfig['projects'][string]): Promise<void> {
    const input = await this.intakeInput(event, project);
    if (!input) {
      await this.deps.client.addComment(event.ref, this.adf('refused-plain', [{ pointer: '/bundle', field: 'Bundle', message: 'required: choose the bundle to request' }]));
      return;
    }
    // An existing package makes it a day-2 change: a promotion when a version is asked, else an update.
    const env = String(input.answers.request_environment ?? this.deps.config.defaultEnvironment ?? '');
    const name = String(input.answers.request_package ?? input.bundle);
    const pkg = await this.deps.engine.inventory.find('package', `${project.project}-${env}-${name}`);
    const live = pkg && pkg.status !== 'decommissioned' && pkg.status !== 'new';
    const kind = !live ? 'provision' : input.answers.request_version !== undefined ? 'promote' : 'update';
    const request = await this.deps.workflow.submit({ ...input, kind });
    await this.deps.client.setIssueProperty(event.ref, 'ticket-surface.request', { requestId: request.id, revision: request.contentRevision });
  }

  private async onStatus(event: SurfaceEvent, project: JiraSurfaceConfig['projects'][string], latest: Request, log: Logger): Promise<void> {
    const to = (event.toStatus ?? '').toLowerCase();
    const s = project.statuses;
    // Both approval modes end in the approved status: moved by the approver, or by JSM when the
    // approver answers the JSM approval. Either way the approver is checked against policy.
    if (to === s.approved.toLowerCase()) {
      const outcome = await this.deps.workflow.approve({ requestId: latest.id, approver: event.actor, surface: 'jira' });
      log.info({ counted: outcome.counted }, 'approval handled');
      if (!outcome.counted && latest.state === 'awaiting_approval') await this.tryTransition(event.ref, s.awaitingApproval, log);
      return;
    }
    if (to === s.rejected.toLowerCase()) {
      await this.closeSafely(latest, 'rejected', event.actor, event.ref, log);
      return;
    }
    if (to === s.cancelled.toLowerCase()) {
      await this.closeSafely(latest, 'cancelled', event.actor, event.ref, log);
    }
  }

  private async closeSafely(r: Request, to: 'rejected' | 'cancelled', actor: Actor, ref: string, log: Logger): Promise<void> {
    try {
      await this.deps.workflow.close(r.id, to, actor, 'jira');
    } catch (err) {
      if (!(err instanceof RequestCommandError)) throw err;
      log.info({ problem: err.message }, 'close refused');
      await this.deps.client.addComment(ref, this.plain(`✘ ${err.message}`));
    }
  }

  private async onCommand(event: SurfaceEvent, latest: Request | undefined, log: Logger): Promise<void> {
    const cmd = event.command!;
    if (!latest) return;
    try {
      switch (cmd.name) {
        case 'plan':
        case 'apply':
          await this.deps.workflow.replan(latest.id, event.actor, 'jira');
          return;
        case 'cancel':
          await this.deps.workflow.close(latest.id, 'cancelled', event.actor, 'jira');
          return;
        default:
          await this.deps.client.addComment(event.ref, this.plain(`✘ Unknown command /${cmd.name}. Commands: ${COMMANDS.join(' · ')}`));
      }
    } catch (err) {
      if (!(err instanceof UserError)) throw err;
      log.info({ code: err.code, problem: err.message }, 'command refused');
      await this.deps.client.addComment(event.ref, this.plain(`✘ /${cmd.name} not done: ${err.message}`));
    }
  }

  private isQuestion(project: JiraSurfaceConfig['projects'][string], issueType: string | undefined): boolean {
    const want = (issueType ?? '').toLowerCase();
    return Object.entries(project.issueTypes).some(([name, t]) => name.toLowerCase() === want && t.kind === 'question');
  }

  /**
   * A question issue: the query is the summary (`most-expensive --top 3`), or, when the summary
   * is a sentence, the first line of the description that names a query. Answered in a comment,
   * then resolved; a question that cannot be answered goes to Needs info with the list of queries.
   */
  private async onQuestion(event: SurfaceEvent, project: JiraSurfaceConfig['projects'][string], log: Logger): Promise<void> {
    if (await this.deps.client.getIssueProperty(event.ref, ANSWER_PROPERTY)) return;
    const answered = await this.answer(event.ref, this.questionOf(event), event.actor, log);
    if (answered) {
      await this.deps.client.setIssueProperty(event.ref, ANSWER_PROPERTY, { query: answered.query, asOf: answered.asOf });
      await this.tryTransition(event.ref, project.statuses.done, log);
    } else {
      await this.tryTransition(event.ref, project.statuses.needsInfo, log);
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

  /** Answers a query in a comment (an ADF table); a bad query is answered with the list of queries. */
  private async answer(ref: string, inv: QueryInvocation, actor: Actor, log: Logger): Promise<QueryAnswer | undefined> {
    try {
      const answer = await this.queries.ask(inv, { actor: actor.id, surface: 'jira' });
      const blocks = this.renderer.render('answer', { view: this.answerView(answer, actor, ref) });
      await this.deps.client.addComment(ref, renderJiraComment(blocks).doc);
      log.info({ query: answer.query.name, rows: answer.rows.length }, 'question answered');
      return answer;
    } catch (err) {
      if (!(err instanceof UserError)) throw err;
      log.info({ code: err.code, problem: err.message }, 'question refused');
      const problem = err instanceof QueryError ? err.problem : err.message;
      const blocks: Block[] = [
        { type: 'paragraph', content: [{ type: 'text', text: `✘ ${problem}` }] },
        { type: 'paragraph', content: [{ type: 'text', text: 'Queries you can ask (comment /ask <query>, or put the query in the summary of an Infrastructure question):' }] },
        { type: 'bulletList', items: this.queries.usage().map((u) => [{ type: 'text', text: u }]) },
      ];
      await this.deps.client.addComment(ref, renderJiraComment(blocks).doc);
      return undefined;
    }
  }

  /** The view the answer template renders, for a question asked on `ref`. */
  private answerView(answer: QueryAnswer, actor: Actor, ref: string): RequestView {
    return buildAnswerView(answer, actor, { surface: 'jira', ref, url: `${this.deps.baseUrl.replace(/\/+$/, '')}/browse/${encodeURIComponent(ref)}` });
  }

  private plain(text: string) {
    return renderJiraComment([{ type: 'paragraph', content: [{ type: 'text', text }] }]).doc;
  }

  private adf(_kind: 'refused-plain', issues: FieldIssue[]) {
    return this.plain(`✘ This request cannot be planned: ${issues.map((i) => `${i.field}: ${i.message}`).join('; ')}`);
  }

  private hints(project: JiraSurfaceConfig['projects'][string] | undefined) {
    return {
      approve: project ? `To approve: move this issue to "${project.statuses.approved}".` : undefined,
      retry: 'Retry with /apply, or edit the fields.',
      edit: 'Edit the fields on this issue; the plan is recomputed automatically.',
      reveal: 'ticket-surface package show {package} --reveal',
    };
  }

  private statusFor(state: RequestState, s: JiraSurfaceConfig['projects'][string]['statuses']): string[] {
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
        return [s.done];
      case 'rejected':
        return [s.rejected];
      case 'cancelled':
        return [s.cancelled];
      default:
        return [];
    }
  }

  private async tryTransition(ref: string, status: string, log: Logger): Promise<void> {
    try {
      await this.deps.client.transitionTo(ref, status);
    } catch (err) {
      if (!(err instanceof UserError)) throw err;
      log.info({ status, problem: err.message }, 'transition not available');
    }
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
  async publish(notice: WorkflowNotice, log: Logger): Promise<void> {
    const request = await this.deps.engine.requests.get(notice.requestId);
    const ref = request.origin.ref;
    const projectKey = ref.split('-')[0]!;
    const project = this.deps.config.projects[projectKey];
    const view = await this.deps.views.build(request, this.hints(project));
    const all = await this.deps.engine.requests.forOrigin('jira', ref);
    const thread = all.sort((a, b) => a.createdAt.localeCompare(b.createdAt))[0]?.id ?? request.id;
    // A superseded revision's notices are not news: its successor's comment is the one to read.
    const latest = all.sort((a, b) => a.createdAt.localeCompare(b.createdAt)).pop();
    if (notice.message === 'status') {
      if (latest && latest.id !== request.id) return;
      const blocks = this.renderer.render('status', { view, ...(notice.detail?.text ? { event: { reason: notice.detail.text } } : {}) });
      const rendered = renderJiraComment(blocks);
      if (rendered.shrunk && request.plan) await this.attachPlan(ref, request);
      await this.deps.client.upsertStatusComment(ref, thread, rendered.doc);
      if (project) for (const st of this.statusFor(request.state, project.statuses)) await this.tryTransition(ref, st, log);
      await this.deps.client.setIssueProperty(ref, 'ticket-surface.request', {
        requestId: request.id,
        revision: request.contentRevision,
        state: request.state,
        ...(request.plan ? { planHash: request.plan.hash } : {}),
      });
      return;
    }
    const name = notice.message as MessageName;
    const blocks = this.renderer.render(name, {
      view,
      event: {
        ...(notice.detail?.actor ? { actor: notice.detail.actor } : {}),
        ...(notice.detail?.reason ? { reason: notice.detail.reason } : notice.detail?.text ? { reason: notice.detail.text } : {}),
      },
    });
    await this.deps.client.addComment(ref, renderJiraComment(blocks).doc);
  }
}

function sortKeys(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]]));
}

/** A required webhook header is missing or malformed. */
export class WebhookHeaderError extends UserError {
  constructor(header: string, problem: string) {
    super('unauthorized', `${header} ${problem}`);
  }
}
