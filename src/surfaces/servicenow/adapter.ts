import { createHash } from 'node:crypto';
import type { Engine } from '../../workflow/engine.ts';
import type { Logger } from '../../engine/logger.ts';
import type { Actor, Clock, Request, RequestState } from '../../engine/model.ts';
import type { SurfaceIdStore } from '../../engine/surface-ids.ts';
import type { RequestWorkflow, WorkflowMessage, WorkflowNotice } from '../../workflow/workflow.ts';
import type { FormCatalog } from '../../forms/catalog.ts';
import type { Directory } from '../../policy/index.ts';
import { QueryCatalog, parseQueryText, type QueryInvocation } from '../../workflow/queries.ts';
import type { IntakeJobData } from '../../queue/queues.ts';
import type { NoticeAttempt } from '../../queue/workers.ts';
import { MessageRenderer, statusMarker } from '../shared/messages.ts';
import { parseCommand } from '../shared/surface-event.ts';
import { TicketHandler, isFinished, type DriftCommands, type StackCommands, type TicketInput } from '../shared/ticket-handler.ts';
import type { RequestView, SurfaceHints } from '../shared/request-view.ts';
import type { ViewBuilder } from '../shared/view-builder.ts';
import type { InboundHeaders, SurfaceAdapter } from '../surface.ts';
import { ServiceNowChanges } from './change-requests.ts';
import type { ServiceNowClient, ServiceNowRow } from './client.ts';
import type { ServiceNowSurfaceConfig } from './config.ts';
import { ServiceNowDirectory } from './directory.ts';
import { ServiceNowApprovalRecords } from './approval-records.ts';
import { QUESTION_ITEM_KEY } from './forms-sync.ts';
import { DECOMMISSION_ITEM_KEY, decommissionAnswers } from './decommission-item.ts';
import { decommissionIntake } from '../../workflow/decommission.ts';
import { RequestedItemAnswers } from './item-answers.ts';
import { STACK_ITEM_KEY, ServiceNowStackNotes, stackItemAnswers } from './stack-item.ts';
import type { StackNotifier } from '../../workflow/stacks.ts';
import { ServiceNowJournal, entryWord, type Audience } from './journal.ts';
import { isServiceNowOwnEcho, serviceNowWebhookSchema, verifyServiceNowDelivery, type ServiceNowWebhookAuth } from './webhook.ts';

/** Dependencies of {@link ServiceNowSurface}. */
export interface ServiceNowSurfaceDeps {
  config: ServiceNowSurfaceConfig;
  client: ServiceNowClient;
  /** Shared secret (and optional Basic fallback) of the shipped Business Rule. */
  webhook: ServiceNowWebhookAuth;
  engine: Engine;
  workflow: RequestWorkflow;
  forms: FormCatalog;
  ids: SurfaceIdStore;
  views: ViewBuilder;
  clock: Clock;
  logger: Logger;
  /** Instance URL, for links people open. */
  instanceUrl: string;
  /** user_name the client logs in as: its own journal entries are never commands. */
  integrationUser: string;
  renderer?: MessageRenderer;
  /** Read-only queries answered for `/ask` and the question item; default: a catalog over `engine`. */
  queries?: QueryCatalog;
  /** The drift desk for `/drift` (read at each use, like the workflow); absent: `/drift` is refused. */
  drift?: () => DriftCommands | undefined;
  /** The stack desk for `/stack`, `/extend`, `/resume` and the preview environment item (read at each use); absent: not understood. */
  stacks?: () => StackCommands | undefined;
}

const SURFACE = 'servicenow';

/** sc_req_item.state codes. */
export const RITM_STATE = { pending: '-5', open: '1', workInProgress: '2', closedComplete: '3', closedIncomplete: '4', closedSkipped: '7' } as const;

/** The requested item's state and approval for a request state (undefined: leave as it is). */
export function ritmStateFor(state: RequestState): { state: string; approval?: string } | undefined {
  switch (state) {
    case 'received':
    case 'validated':
    case 'planned':
    case 'applying':
    case 'failed':
      return { state: RITM_STATE.workInProgress };
    case 'invalid':
      return { state: RITM_STATE.pending };
    case 'awaiting_approval':
      return { state: RITM_STATE.pending, approval: 'requested' };
    case 'approved':
    case 'scheduled':
      return { state: RITM_STATE.pending, approval: 'approved' };
    case 'applied':
      return { state: RITM_STATE.closedComplete, approval: 'approved' };
    case 'rejected':
      return { state: RITM_STATE.closedIncomplete, approval: 'rejected' };
    case 'cancelled':
      return { state: RITM_STATE.closedIncomplete };
    default:
      return undefined;
  }
}

export { noteMarker } from './journal.ts';

/** How to approve a requested item, in every message. */
const APPROVE_HINT = 'To approve: an approver of the group approves this requested item (Approvers related list).';
/** Messages the requester must read: results, refusals to act on, answers. Every other one is internal. */
const FOR_REQUESTER = new Set<WorkflowMessage>(['applied', 'failed', 'refused', 'invalid', 'answer']);
const CLOSED_BY_PERSON = new Set<string>([RITM_STATE.closedIncomplete, RITM_STATE.closedSkipped]);
/** States of a question item not answered yet (or waiting for its asker to fix the question). */
const WAITING_QUESTION = new Set<string>([RITM_STATE.open, RITM_STATE.workInProgress, RITM_STATE.pending]);

/**
 * The ServiceNow surface adapter. In: the shipped Business Rule's signed webhooks, which only
 * say which record changed; the truth (requested item, its variables, the requester, approval
 * records) is read back through the Table API. Out: journal entries rendered from the same
 * templates as every surface (additional comments for the requester, work notes for the rest:
 * see `journal.ts`), the requested item's state and approval, `sysapproval_approver` records for
 * the approver groups, and for production a normal `change_request` walked through its states.
 */
export class ServiceNowSurface implements SurfaceAdapter {
  readonly name = 'servicenow' as const;
  readonly directory: Directory;
  /** People and groups of the instance (the {@link directory}), each answer reused for a short while. */
  private readonly people: ServiceNowDirectory;
  /** The item's `sysapproval_approver` records, following the request. */
  private readonly approvals: ServiceNowApprovalRecords;
  /** Production change requests. */
  readonly changes: ServiceNowChanges;
  private readonly tickets: TicketHandler;
  private readonly answers: RequestedItemAnswers;
  private readonly journal: ServiceNowJournal;
  private readonly renderer: MessageRenderer;
  /** How a requester writes a command here: "an additional comment" or "a work note". */
  private readonly entry: string;
  /** The write in progress per requested item (see {@link publish}). */
  private readonly writing = new Map<string, Promise<void>>();

  constructor(private readonly deps: ServiceNowSurfaceDeps) {
    this.changes = new ServiceNowChanges({ client: deps.client, ids: deps.ids, config: deps.config, clock: deps.clock, logger: deps.logger });
    this.people = new ServiceNowDirectory(deps.client, { ttlMs: deps.config.directoryCacheSeconds * 1000 });
    this.directory = this.people;
    this.approvals = new ServiceNowApprovalRecords({ client: deps.client, ids: deps.ids, people: this.people });
    this.answers = new RequestedItemAnswers({ client: deps.client, ids: deps.ids, forms: deps.forms });
    this.journal = new ServiceNowJournal({ client: deps.client, config: deps.config });
    this.renderer = deps.renderer ?? new MessageRenderer();
    this.entry = entryWord(this.journal.column('requester'));
    this.tickets = new TicketHandler({
      surface: SURFACE,
      engine: deps.engine,
      workflow: () => deps.workflow,
      queries: deps.queries ?? new QueryCatalog(deps.engine),
      renderer: this.renderer,
      words: { answers: 'variables', ticket: 'of this requested item', retryCommand: `${this.entry} /apply` },
      ids: deps.ids,
      ...(deps.drift ? { drift: deps.drift } : {}),
      ...(deps.stacks ? { stacks: deps.stacks } : {}),
      // Remarks (refused commands, closes, edits) and answers are for whoever asked: the requester's journal.
      writer: {
        remark: (ritmSysId, text) => this.journal.remark(ritmSysId, text, 'requester'),
        post: (ritmSysId, blocks, key) => this.journal.post(ritmSysId, blocks, key, 'requester'),
        link: (ritmSysId) => recordUrl(deps.instanceUrl, 'sc_req_item', ritmSysId),
      },
    });
  }

  // -------------------------------------------------------------------------------------------
  // In

  /** {@inheritDoc SurfaceAdapter.verify} */
  verify(headers: InboundHeaders, rawBody: Buffer): { deliveryId: string } {
    return { deliveryId: verifyServiceNowDelivery(headers, rawBody, this.deps.webhook).event_id };
  }

  /** {@inheritDoc SurfaceAdapter.isOwnEcho} */
  isOwnEcho(payload: unknown): boolean {
    return isServiceNowOwnEcho(payload, this.deps.integrationUser);
  }

  /** The requested item a delivery is about (its events are handled one at a time). */
  serialKey(delivery: IntakeJobData): string | undefined {
    try {
      const p = JSON.parse(delivery.body) as { table?: unknown; sys_id?: unknown };
      return p.table === 'sc_req_item' && typeof p.sys_id === 'string' ? p.sys_id : undefined;
    } catch {
      return undefined;
    }
  }

  /** {@inheritDoc SurfaceAdapter.handle} */
  async handle(delivery: IntakeJobData, log: Logger): Promise<void> {
    const payload = serviceNowWebhookSchema.parse(JSON.parse(delivery.body));
    const elog = log.child({ event: payload.event, table: payload.table, sysId: payload.sys_id });
    switch (payload.event) {
      case 'ritm.inserted':
      case 'ritm.updated':
        await this.onRequestedItem(payload.sys_id, payload.event, elog);
        return;
      case 'approval.updated':
        await this.onApproval(payload.sys_id, elog);
        return;
      case 'work_note.added':
        await this.onWorkNote(payload.sys_id, payload.sys_updated_on, elog);
        return;
    }
  }

  private async onRequestedItem(sysId: string, event: 'ritm.inserted' | 'ritm.updated', log: Logger): Promise<void> {
    const ritm = await this.deps.client.get('sc_req_item', sysId, ['sys_id', 'number', 'cat_item', 'opened_by', 'requested_for', 'state', 'active', 'sys_updated_by']);
    if (!ritm) {
      log.info('requested item is gone; delivery ignored');
      return;
    }
    const itemKey = ritm.cat_item ? await this.deps.ids.keyOf(SURFACE, ritm.cat_item) : undefined;
    if (!itemKey?.startsWith('item/')) {
      log.info({ item: ritm.cat_item }, 'not a ticket-surface catalog item; delivery ignored');
      return;
    }
    // Questions never become requests: the question item is answered in a work note and closed.
    if (itemKey === `item/${QUESTION_ITEM_KEY}`) {
      await this.oneAtATime(sysId, () => this.onQuestionItem(sysId, log));
      return;
    }
    if (itemKey === `item/${DECOMMISSION_ITEM_KEY}`) {
      await this.onDecommissionItem(ritm, log);
      return;
    }
    if (itemKey === `item/${STACK_ITEM_KEY}`) {
      await this.onStackItem(ritm, log);
      return;
    }
    // The item of a stack follows its stack: its packages' requests are the stack's, not edits of the item.
    if (await this.deps.stacks?.()?.forTicket({ surface: SURFACE, ref: sysId })) return;
    const bundle = itemKey.slice('item/'.length);
    const latest = await this.tickets.latestRequest(sysId);
    if (event === 'ritm.inserted' && latest) return; // a retried delivery of the same order
    if (latest && CLOSED_BY_PERSON.has(ritm.state ?? '') && !isFinished(latest.state)) {
      const by = (await this.people.userByName(ritm.sys_updated_by ?? '')) ?? { id: ritm.sys_updated_by ?? 'unknown' };
      await this.tickets.closeSafely(latest, 'cancelled', by, sysId, log);
      return;
    }
    // Only edited answers file anything (approval and state changes by others do not). The
    // requester files the first request; whoever edited the variables last files the ones after.
    const read = await this.intakeInput(ritm, bundle);
    const actor = async (): Promise<Actor> =>
      latest ? ((await this.people.userByName(read.editedBy ?? '')) ?? latest.actor) : this.people.actorOf(ritm.opened_by || ritm.requested_for || '');
    const filed = await this.tickets.file(sysId, latest, read.input, actor, log);
    if (filed.action !== 'submitted') return;
    log.info({ request: filed.request.id, ritm: ritm.number }, 'requested item submitted');
    // Work in progress while it is planned (a day-2 request reopens a closed item).
    const planning = ritmStateFor('received')!;
    if (ritm.state !== planning.state) await this.deps.client.update('sc_req_item', sysId, { state: planning.state });
  }

  /**
   * A requested item of the decommission item: files a decommission request for the package its
   * Package variable names (its reason kept with the request), through the same workflow as
   * `/decommission`; the item then follows that request. Filed once: later deliveries only
   * cancel it when a person closes the item. A package the inventory does not know (a choice
   * gone stale) is refused in the item, which waits Pending for a fixed choice.
   */
  private async onDecommissionItem(ritm: ServiceNowRow, log: Logger): Promise<void> {
    const sysId = ritm.sys_id!;
    const latest = await this.tickets.latestRequest(sysId);
    if (latest) {
      if (CLOSED_BY_PERSON.has(ritm.state ?? '') && !isFinished(latest.state)) {
        const by = (await this.people.userByName(ritm.sys_updated_by ?? '')) ?? { id: ritm.sys_updated_by ?? 'unknown' };
        await this.tickets.closeSafely(latest, 'cancelled', by, sysId, log);
      }
      return;
    }
    if (CLOSED_BY_PERSON.has(ritm.state ?? '')) return;
    const { packageId, reason } = await decommissionAnswers(this.deps.client, this.deps.ids, sysId);
    const pkg = packageId ? await this.deps.engine.inventory.find('package', packageId) : undefined;
    if (!pkg || pkg.project !== this.deps.config.project) {
      await this.journal.remark(sysId, `✘ Nothing to decommission: there is no package "${packageId}" in ${this.deps.config.project}. Choose a package the Package variable offers.`, 'requester');
      if (ritm.state !== RITM_STATE.pending) await this.deps.client.update('sc_req_item', sysId, { state: RITM_STATE.pending });
      return;
    }
    const origin = { surface: SURFACE, ref: sysId, url: recordUrl(this.deps.instanceUrl, 'sc_req_item', sysId) } as const;
    const intake = decommissionIntake(pkg, await this.people.actorOf(ritm.opened_by || ritm.requested_for || ''), origin);
    const request = await this.deps.workflow.submit({ ...intake, answers: reason ? { request_reason: reason } : {} });
    log.info({ request: request.id, ritm: ritm.number, package: pkg.id }, 'decommission item submitted');
    const planning = ritmStateFor('received')!;
    if (ritm.state !== planning.state) await this.deps.client.update('sc_req_item', sysId, { state: planning.state });
  }

  /**
   * A requested item of the preview environment item: its Stack and Environment name are handed
   * to the shared `/stack` command (a refusal is said in the item, which waits Pending for fixed
   * variables). Once its stack exists the item follows the stack; each pair of answers is tried once.
   */
  private async onStackItem(ritm: ServiceNowRow, log: Logger): Promise<void> {
    const sysId = ritm.sys_id!;
    const desk = this.deps.stacks?.();
    if (!desk || CLOSED_BY_PERSON.has(ritm.state ?? '') || (await desk.forTicket({ surface: SURFACE, ref: sysId }))) return;
    const { template, name } = await stackItemAnswers(this.deps.client, this.deps.ids, sysId);
    const tried = `stack-order/${sysId}`;
    const asked = `${sysId} ${template} ${name}`;
    if ((await this.deps.ids.get(SURFACE, tried)) === asked) return;
    await this.deps.ids.set(SURFACE, tried, asked);
    const actor = await this.people.actorOf(ritm.opened_by || ritm.requested_for || '');
    const cmd = { name: 'stack', args: [template, name].filter(Boolean), flags: {}, raw: `/stack ${template} ${name}` };
    await this.tickets.command(sysId, cmd, actor, log, async () => undefined);
    if (!(await desk.forTicket({ surface: SURFACE, ref: sysId })) && ritm.state !== RITM_STATE.pending) await this.deps.client.update('sc_req_item', sysId, { state: RITM_STATE.pending });
  }

  /** How a stack's requested item is written: see {@link ServiceNowStackNotes}. */
  stackNotifier(): StackNotifier {
    return new ServiceNowStackNotes({ client: this.deps.client, journal: this.journal, serialize: (ref, work) => this.oneAtATime(ref, work) });
  }

  /** The bundle and answers of a requested item, read from its variables (not from the webhook). */
  private async intakeInput(ritm: ServiceNowRow, bundle: string): Promise<{ input: TicketInput; editedBy?: string }> {
    const { answers, editedBy } = await this.answers.read(ritm.sys_id!, bundle);
    if (answers.request_environment === undefined && this.deps.config.defaultEnvironment) answers.request_environment = this.deps.config.defaultEnvironment;
    return {
      input: {
        origin: { surface: SURFACE, ref: ritm.sys_id!, url: recordUrl(this.deps.instanceUrl, 'sc_req_item', ritm.sys_id!) },
        project: this.deps.config.project,
        bundle,
        answers,
      },
      ...(editedBy ? { editedBy } : {}),
    };
  }

  private async onApproval(sysId: string, log: Logger): Promise<void> {
    const { client, ids, workflow } = this.deps;
    const a = await client.get('sysapproval_approver', sysId, ['sys_id', 'state', 'approver', 'sysapproval', 'sys_updated_by']);
    if (!a || (a.state !== 'approved' && a.state !== 'rejected')) return;
    const latest = await this.tickets.latestRequest(a.sysapproval ?? '');
    if (!latest) {
      log.info({ task: a.sysapproval }, 'approval of a task without a request; ignored');
      return;
    }
    // Records the service created are bound to the request (and so the plan) they were made for.
    const key = await ids.keyOf(SURFACE, sysId);
    const requestId = key?.startsWith('approval/') ? key.split('/')[1]! : latest.id;
    // Credited to whoever changed the record (read back through the Table API), not to the
    // approver it was assigned to: an admin or a delegate answering for someone is checked as themselves.
    const approver = (await this.people.userByName(a.sys_updated_by ?? '')) ?? (await this.people.actorOf(a.approver ?? ''));
    if (a.state === 'rejected') {
      await this.tickets.closeSafely(await this.deps.engine.requests.get(requestId), 'rejected', approver, a.sysapproval!, log);
      return;
    }
    // Bound to the plan the item's journal showed for that request (see approvalBinding).
    const shown = await this.tickets.approvalBinding(a.sysapproval!, latest);
    const outcome = await workflow.approve({ requestId, approver, surface: SURFACE, ...(shown.requestId === requestId && shown.planHash ? { planHash: shown.planHash } : {}) });
    log.info({ counted: outcome.counted, request: requestId }, 'approval handled');
    if (!outcome.counted) {
      // An approval that does not count must not look like one in ServiceNow either.
      await client.update('sysapproval_approver', sysId, { state: 'cancelled', comments: `Not counted by ticket-surface: ${outcome.message}` });
    }
  }

  /**
   * `/plan`, `/apply`, `/cancel` written as a work note or comment. Every entry a person wrote
   * since the change the webhook reports is read (several may share a second), and each is
   * acted on once: handled entries are remembered in the id store.
   */
  private async onWorkNote(ritmSysId: string, since: string | undefined, log: Logger): Promise<void> {
    const { client, ids } = this.deps;
    const entries = await client.list('sys_journal_field', {
      query: `element_id=${ritmSysId}^elementINwork_notes,comments^sys_created_by!=${q(this.deps.integrationUser)}${since ? `^sys_created_on>=${q(since)}` : ''}^ORDERBYsys_created_on`,
      fields: ['sys_id', 'value', 'sys_created_by'],
      max: 50,
    });
    for (const entry of entries) {
      const key = `command/${entry.sys_id}`;
      if (await ids.get(SURFACE, key)) continue;
      const cmd = parseCommand(entry.value ?? '');
      if (cmd) {
        const actor = (await this.people.userByName(entry.sys_created_by ?? '')) ?? { id: entry.sys_created_by ?? 'unknown' };
        // `/ask` works on any requested item, with or without a request behind it.
        const ask = (inv: QueryInvocation) => this.oneAtATime(ritmSysId, () => this.onAsk(ritmSysId, entry.sys_id!, inv, actor, log));
        await this.tickets.command(ritmSysId, cmd, actor, log, ask);
      }
      await ids.set(SURFACE, key, entry.sys_id!);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Questions

  /**
   * A requested item of the question item: its variables (query, top, arguments) are read back
   * through the Table API and answered in a work note; the item is then Closed Complete. A
   * question that cannot be answered gets the list of queries and stays Pending, like an item
   * whose variables fail validation: editing the variables (or writing `/ask ...`) answers it.
   * The note's marker names the variables' fingerprint, so a retried delivery or a change of
   * state by someone answers nothing twice, while edited variables are a new question.
   */
  private async onQuestionItem(sysId: string, log: Logger): Promise<void> {
    // Read again once it is this delivery's turn: the one before may have answered and closed it.
    const ritm = await this.deps.client.get('sc_req_item', sysId, ['sys_id', 'state', 'opened_by', 'requested_for']);
    if (!ritm) return;
    const { invocation, fingerprint } = await this.questionOf(sysId);
    const key = `question:${sysId}:${fingerprint}`;
    const earlier = await this.journal.entryWith(sysId, key);
    if (earlier !== undefined) {
      // Answered before; only an answer interrupted before its state was set is finished here,
      // so a state a person chose since is left alone.
      if (ritm.state === RITM_STATE.open) await this.deps.client.update('sc_req_item', sysId, { state: isRefusal(earlier) ? RITM_STATE.pending : RITM_STATE.closedComplete });
      return;
    }
    if (CLOSED_BY_PERSON.has(ritm.state ?? '')) {
      log.info('question item closed by a person; not answered');
      return;
    }
    const actor = await this.people.actorOf(ritm.opened_by || ritm.requested_for || '');
    const answered = await this.tickets.answer(sysId, invocation, actor, log, { how: `edit the Question and Arguments variables of this item, or write ${this.entry} /ask <query>`, key });
    // An item answered before stays closed when its edited question cannot be answered.
    const want = answered ? RITM_STATE.closedComplete : ritm.state === RITM_STATE.closedComplete ? undefined : RITM_STATE.pending;
    if (want && ritm.state !== want) await this.deps.client.update('sc_req_item', sysId, { state: want });
  }

  /** The question item's variables as a query invocation, and a fingerprint of what was asked. */
  private async questionOf(ritmSysId: string): Promise<{ invocation: QueryInvocation; fingerprint: string }> {
    const { client, ids } = this.deps;
    const links = await client.list('sc_item_option_mtom', {
      query: `request_item=${ritmSysId}`,
      fields: ['sc_item_option.item_option_new', 'sc_item_option.value'],
    });
    const prefix = `variable/${QUESTION_ITEM_KEY}/`;
    const variables: Record<string, string> = {};
    const keys = await ids.keysOf(SURFACE, links.map((l) => l['sc_item_option.item_option_new'] ?? ''));
    for (const [i, l] of links.entries()) {
      const key = keys[i];
      if (key?.startsWith(prefix)) variables[key.slice(prefix.length)] = (l['sc_item_option.value'] ?? '').trim();
    }
    let query = variables.query ?? '';
    // A select box holds the choice value; should an instance hand the choice's sys_id, map it back.
    const choiceKey = query ? await ids.keyOf(SURFACE, query) : undefined;
    const choicePrefix = `choice/${QUESTION_ITEM_KEY}/query/`;
    if (choiceKey?.startsWith(choicePrefix)) query = choiceKey.slice(choicePrefix.length);
    const top = variables.top ?? '';
    const rest = variables.arguments ?? '';
    // The arguments are typed like the tail of `/ask` (`redis-cache`, `checkout production --top 3`).
    const parsed = parseQueryText(`- ${rest}`);
    const positional = parsed.positional ?? [];
    // Someone who repeats the query in the arguments (`where-runs redis-cache`) means the same.
    if (query && positional[0]?.toLowerCase() === query.toLowerCase()) positional.shift();
    const invocation: QueryInvocation = {
      name: query,
      positional,
      // The Top variable, when filled in, is what the person chose for the rows shown.
      args: { ...(parsed.args ?? {}), ...(top ? { top } : {}) },
    };
    const fingerprint = createHash('sha256').update(JSON.stringify([query, top, rest])).digest('hex').slice(0, 16);
    return { invocation, fingerprint };
  }

  /**
   * `/ask <query> [args]` in a work note or comment: answered in a reply work note. On a question
   * item still waiting for a fix, an answer closes it, as answering its variables would.
   */
  private async onAsk(ritmSysId: string, entryId: string, inv: QueryInvocation, actor: Actor, log: Logger): Promise<void> {
    const key = `ask:${entryId}`;
    if ((await this.journal.entryWith(ritmSysId, key)) !== undefined) return;
    const answered = await this.tickets.answer(ritmSysId, inv, actor, log, { how: `write ${this.entry} /ask <query> [args]`, key });
    if (!answered) return;
    const ritm = await this.deps.client.get('sc_req_item', ritmSysId, ['sys_id', 'cat_item', 'state']);
    if (!ritm?.cat_item || !WAITING_QUESTION.has(ritm.state ?? '')) return;
    if ((await this.deps.ids.keyOf(SURFACE, ritm.cat_item)) === `item/${QUESTION_ITEM_KEY}`) {
      await this.deps.client.update('sc_req_item', ritmSysId, { state: RITM_STATE.closedComplete });
    }
  }

  // -------------------------------------------------------------------------------------------
  // Out

  /**
   * {@inheritDoc SurfaceAdapter.publish}
   * Notices of one requested item are written one at a time in this process (the outbox already
   * keeps one writer per request across processes), so "is this note there yet?" and the write
   * that follows cannot interleave with another delivery of the same notice.
   */
  async publish(notice: WorkflowNotice, log: Logger, attempt?: NoticeAttempt): Promise<void> {
    const request = await this.deps.engine.requests.get(notice.requestId);
    await this.oneAtATime(request.origin.ref, () => this.publishNow(notice, log, attempt));
  }

  /** Runs `work` after the writes already queued for the requested item `ref` (in this process). */
  private async oneAtATime(ref: string, work: () => Promise<void>): Promise<void> {
    const prior = this.writing.get(ref) ?? Promise.resolve();
    const mine = prior.catch(() => undefined).then(work);
    this.writing.set(ref, mine);
    try {
      await mine;
    } finally {
      if (this.writing.get(ref) === mine) this.writing.delete(ref);
    }
  }

  private async publishNow(notice: WorkflowNotice, log: Logger, attempt?: NoticeAttempt): Promise<void> {
    const request = await this.deps.engine.requests.get(notice.requestId);
    if (!(await this.tickets.isNews(notice, request))) return;
    const ritmSysId = request.origin.ref;
    // On a notice's first attempt nothing of it can be in the item yet: written without the search.
    const lookFirst = !attempt?.first;
    if (notice.message === 'drift') {
      // Work notes cannot be edited: one note per change of the drift, never twice for the same one.
      await this.journal.post(ritmSysId, await this.tickets.driftNoticeBlocks(notice), notice.key, 'internal', { lookFirst });
      return;
    }
    const view = await this.deps.views.build(request, this.hints());
    if (notice.message !== 'status') {
      await this.journal.post(ritmSysId, this.tickets.noticeBlocks(notice, view), notice.key, audienceOf(notice.message), { lookFirst });
      return;
    }
    const ritm = await this.deps.client.get('sc_req_item', ritmSysId, ['sys_id', 'number', 'state', 'approval', 'opened_by']);
    if (!ritm) {
      log.warn({ ritm: ritmSysId }, 'requested item is gone; status not written');
      return;
    }
    // Approval records first, then the state with the note in one PATCH: whoever reads the note finds them in place.
    await this.approvals.sync(request, ritmSysId);
    await this.writeStatus(ritmSysId, request, notice, view, stateChange(ritm, request));
    if (this.deps.config.changes.enabled && (await this.isProduction(request))) await this.changes.follow(request, ritm, view);
  }

  private async isProduction(request: Request): Promise<boolean> {
    const env = await this.deps.engine.inventory.find('environment', request.environment);
    return env?.labels?.production === true;
  }

  /**
   * The request's status in the internal journal: the full status once per plan, then a short
   * line per change of state (see {@link ServiceNowJournal.status}), with the item's `fields`
   * (its state and approval) in the same PATCH.
   */
  private async writeStatus(ritmSysId: string, request: Request, notice: WorkflowNotice, view: RequestView, fields: Record<string, string>): Promise<void> {
    const marker = statusMarker(request.id);
    const full = this.tickets.noticeBlocks(notice, view).filter((b) => !(b.type === 'paragraph' && b.content.length === 1 && b.content[0]!.type === 'text' && b.content[0]!.text === marker));
    const reason = notice.detail?.text;
    const line = this.renderer.render('status-line', { view, ...(reason ? { event: { reason } } : {}) });
    await this.journal.status(ritmSysId, { requestId: request.id, noticeKey: notice.key, full, line, ...(view.plan ? { planHash: view.plan.hashPrefix } : {}), ...(reason ? { reason } : {}) }, fields);
    await this.tickets.planShown(ritmSysId, request);
  }

  /** How people act here, and where the full status is: a journal entry, never edited. */
  private hints(): SurfaceHints {
    const column = this.journal.column('internal') === 'comments' ? 'additional comment' : 'work note';
    return { ...this.tickets.hints(APPROVE_HINT), details: `The full plan is in the status ${column} of this revision; ${column}s are never edited, so each later change of state adds a short one.` };
  }
}

/** A link a person can open for a record. */
export function recordUrl(instanceUrl: string, table: string, sysId: string): string {
  return `${instanceUrl.replace(/\/+$/, '')}/nav_to.do?uri=${encodeURIComponent(`${table}.do?sys_id=${sysId}`)}`;
}

/** A literal value inside an encoded query: `^` is written `^^`. */
function q(value: string): string {
  return value.replace(/\^/g, '^^');
}

/**
 * The item's state and approval the request's state asks for, where they differ from what the
 * item has now. A person closed the item while this request was still open: nothing, their
 * close wins (its own webhook cancels the request), so the service never reopens the item
 * behind their back.
 */
function stateChange(ritm: ServiceNowRow, request: Request): Record<string, string> {
  const want = ritmStateFor(request.state);
  const closedByPerson = CLOSED_BY_PERSON.has(ritm.state ?? '') && !isFinished(request.state);
  const diff: Record<string, string> = {};
  if (!want || closedByPerson) return diff;
  if (ritm.state !== want.state) diff.state = want.state;
  if (want.approval && ritm.approval !== want.approval) diff.approval = want.approval;
  return diff;
}

/** A refusal note starts with ✘ (the answer template never does). */
function isRefusal(note: string): boolean {
  return note.trimStart().startsWith('✘');
}

/** The journal a message is written to: the requester's, or the internal one. */
function audienceOf(message: WorkflowMessage): Audience {
  return FOR_REQUESTER.has(message) ? 'requester' : 'internal';
}
