/**
 * What both ticket surfaces (Jira, ServiceNow) do the same way, once: the commands people write
 * (`/plan`, `/apply`, `/cancel`, `/ask`, anything else answered with the list), the latest
 * request of a ticket, closing a request without failing the delivery, answering questions,
 * the hints every message carries, filing a request from a ticket or its next revision from an
 * edit (after the request finished: a day-2 update on the same ticket), and the blocks of a
 * notice. The adapters keep only their own words and calls: how a ticket is read, where a
 * remark is written, how states and approvals look there.
 */
import type { Engine } from '../../workflow/engine.ts';
import type { SurfaceIdStore } from '../../engine/surface-ids.ts';
import { UserError } from '../../engine/errors.ts';
import type { Logger } from '../../engine/logger.ts';
import type { Actor, Request, RequestState } from '../../engine/model.ts';
import { QueryError, type QueryAnswer, type QueryCatalog, type QueryInvocation } from '../../workflow/queries.ts';
import { RequestCommandError, type IntakeInput, type RequestWorkflow, type WorkflowNotice } from '../../workflow/workflow.ts';
import { decommissionIntake } from '../../workflow/decommission.ts';
import type { StackDesk } from '../../workflow/stacks.ts';
import type { Block } from './blocks.ts';
import type { MessageName, MessageRenderer } from './messages.ts';
import { buildAnswerView, type RequestView, type SurfaceHints } from './request-view.ts';
import { sanitize } from './sanitize.ts';
import { driftBlocks } from './drift-view.ts';
import type { SurfaceCommand } from './surface-event.ts';

/** The commands a ticket understands, as the answer to an unknown one lists them. */
const COMMANDS: readonly string[] = [
  '/plan — plan again with the current answers',
  '/apply — retry a failed request',
  '/cancel — cancel the request',
  '/decommission — give back the package this ticket created (destroys it, after the approvals its environment needs)',
  '/stack <template> <name> [--labels k=v,...] [--<question> <answer>] — a preview environment of a stack (then /extend <duration>, /resume)',
  '/ask <query> [args] — answer a question, for example /ask most-expensive --top 3',
  '/drift [check | adopt <field> | revert <field> | ignore <field> until <date>] — drift of this ticket\'s package',
];

/** States after which an edit of the ticket is a new (day-2) request rather than a revision. */
const FINISHED = new Set<RequestState>(['applied', 'rejected', 'cancelled', 'superseded']);

/** True when a request in `state` is over: an edit of its ticket files a new request. */
export function isFinished(state: RequestState): boolean {
  return FINISHED.has(state);
}

/** The surface's words for what people see in the shared sentences. */
export interface TicketWords {
  /** What people edit: `fields` (Jira), `variables` (ServiceNow). */
  answers: string;
  /** Where they edit them, after "Edit the <answers> ": `on this issue`, `of this requested item`. */
  ticket: string;
  /** How to retry there, after "Retry with ": `/apply`, `a work note /apply`. */
  retryCommand: string;
}

/** How the shared handler writes on a ticket; each adapter supplies its surface's calls. */
export interface TicketWriter {
  /** Writes a one-line remark (a refused command, close or edit) on ticket `ref`. */
  remark(ref: string, text: string): Promise<void>;
  /**
   * Writes rendered blocks (an answer, a refused question) on ticket `ref`. `key` names what
   * they answer, for a surface that writes each entry once by its key.
   */
  post(ref: string, blocks: Block[], key: string): Promise<void>;
  /** The link a person opens for ticket `ref`. */
  link(ref: string): string;
}

/** Dependencies of {@link TicketHandler}. */
export interface TicketHandlerDeps {
  surface: 'jira' | 'servicenow';
  engine: Engine;
  /** Read at each use: the runtime may build the workflow after the adapter. */
  workflow: () => RequestWorkflow;
  queries: QueryCatalog;
  renderer: MessageRenderer;
  words: TicketWords;
  writer: TicketWriter;
  /** Where the plan each ticket shows is remembered (approvals bind to it). */
  ids: SurfaceIdStore;
  /** Drift checks and decisions (read at each use, like the workflow); absent: `/drift` is refused. */
  drift?: () => DriftCommands | undefined;
  /** The package a ticket filed for a drift episode is about (no request made it); absent: none are. */
  driftTicketPackage?: (ref: string) => Promise<string | undefined>;
  /** Stacks and their leases (read at each use); absent: `/stack`, `/extend` and `/resume` are not understood. */
  stacks?: () => StackCommands | undefined;
}

/** What `/stack`, `/extend` and `/resume` need of the stack desk (src/workflow/stacks.ts). */
export type StackCommands = Pick<StackDesk, 'request' | 'extend' | 'resume' | 'forTicket'>;

/** What `/drift` needs of the drift desk (src/workflow/drift.ts). */
export interface DriftCommands {
  check(packageId: string, by: { actor: Actor; surface: 'jira' | 'servicenow' }): Promise<unknown>;
  adopt(packageId: string, field: string, by: { actor: Actor; surface: 'jira' | 'servicenow' }): Promise<unknown>;
  revert(packageId: string, field: string, by: { actor: Actor; surface: 'jira' | 'servicenow' }, origin?: Request['origin']): Promise<unknown>;
  ignore(packageId: string, field: string, until: string, by: { actor: Actor; surface: 'jira' | 'servicenow' }): Promise<unknown>;
}

/** What a surface read from a ticket: a request's input but for its kind and actor (decided here). */
export type TicketInput = Omit<IntakeInput, 'kind' | 'actor'>;

/** What {@link TicketHandler.file} did with a ticket's answers. */
export type FileOutcome =
  | { action: 'submitted' | 'revised'; request: Request }
  /** The answers are those of the latest request already (a late, repeated or unrelated delivery). */
  | { action: 'unchanged' }
  /** Edited while the apply runs: the ticket was told to edit again once it finished. */
  | { action: 'refused' };

/** How a question is answered on a ticket: `how` to ask again, `key` of what it answers. */
export interface AskOptions {
  how: string;
  key: string;
}

/** The shared handling of one ticket surface (one instance per adapter). */
export class TicketHandler {
  constructor(private readonly deps: TicketHandlerDeps) {}

  /** Remembers that ticket `ref` now shows `request`'s plan (call once its status is written). */
  async planShown(ref: string, request: Request): Promise<void> {
    if (request.plan) await this.deps.ids.setShownPlan(this.deps.surface, ref, { requestId: request.id, planHash: request.plan.hash });
  }

  /**
   * What an approval given in ticket `ref` approves: the request and plan its status showed
   * last. When a newer revision exists but was not shown yet, that is the older request, so the
   * approval is refused as given for a plan that changed, never counted for a plan nobody saw.
   * Nothing shown yet (a ticket from before plans were remembered): `latest` and its plan now.
   */
  async approvalBinding(ref: string, latest: Request): Promise<{ requestId: string; planHash?: string }> {
    const shown = await this.deps.ids.shownPlan(this.deps.surface, ref);
    return shown ? { requestId: shown.requestId, planHash: shown.planHash } : { requestId: latest.id };
  }

  /** The newest request filed from ticket `ref` (its latest revision), if any. */
  async latestRequest(ref: string): Promise<Request | undefined> {
    const all = await this.deps.engine.requests.forOrigin(this.deps.surface, ref);
    return all.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.contentRevision - b.contentRevision).pop();
  }

  /**
   * Files what ticket `ref` now says. No request yet: a new one. The same answers as the latest
   * request: nothing. The latest request finished: a day-2 request on the same ticket (an
   * update, or a promotion when a version is asked; immutable fields are refused by the
   * workflow, by their labels). Applying: refused with a remark. Otherwise: the next revision.
   * `actor` is asked only when something is filed.
   */
  async file(ref: string, latest: Request | undefined, input: TicketInput, actor: () => Promise<Actor>, log: Logger): Promise<FileOutcome> {
    if (!latest) return { action: 'submitted', request: await this.submit({ ...input, actor: await actor() }) };
    if (sameAnswers(input.answers, latest.submitted ?? {})) return { action: 'unchanged' };
    if (isFinished(latest.state)) {
      const request = await this.submit({ ...input, actor: await actor() });
      log.info({ request: request.id, after: latest.id, kind: request.kind }, 'edited after the request finished: day-2 request filed');
      return { action: 'submitted', request };
    }
    if (latest.state === 'applying') {
      const answers = this.deps.words.answers;
      await this.deps.writer.remark(ref, `✘ The ${answers} changed while the apply is running. When it has finished, edit them again to plan the change.`);
      return { action: 'refused' };
    }
    const request = await this.deps.workflow().revise(latest.id, { ...input, actor: await actor(), kind: latest.kind });
    return { action: 'revised', request };
  }

  /** Submits a new request; a live package makes it a promotion (a version asked) or an update. */
  private async submit(input: Omit<IntakeInput, 'kind'>): Promise<Request> {
    const env = String(input.answers.request_environment ?? '');
    const name = String(input.answers.request_package ?? input.bundle);
    const pkg = await this.deps.engine.inventory.find('package', `${input.project}-${env}-${name}`);
    const live = pkg && pkg.status !== 'decommissioned' && pkg.status !== 'new';
    const kind = !live ? 'provision' : input.answers.request_version !== undefined ? 'promote' : 'update';
    return this.deps.workflow().submit({ ...input, kind });
  }

  /** Rejects or cancels `request`; when its state no longer allows it, or the person may not, the ticket is told why. */
  async closeSafely(request: Request, to: 'rejected' | 'cancelled', actor: Actor, ref: string, log: Logger): Promise<void> {
    try {
      await this.deps.workflow().close(request.id, to, actor, this.deps.surface);
    } catch (err) {
      if (!(err instanceof UserError)) throw err;
      log.info({ problem: err.message }, 'close refused');
      await this.deps.writer.remark(ref, `✘ ${err.message}`);
    }
  }

  /**
   * A command written on ticket `ref`: `/ask` is handed to `ask`; `/plan`, `/apply` (planned
   * again) and `/cancel` act on the ticket's latest request (none: nothing to do); any other
   * command is answered with the list. A refused command is answered with the reason.
   */
  async command(ref: string, cmd: SurfaceCommand, actor: Actor, log: Logger, ask: (inv: QueryInvocation) => Promise<unknown>): Promise<void> {
    if (cmd.name === 'ask') {
      await ask({ name: cmd.args[0] ?? '', positional: cmd.args.slice(1), args: cmd.flags });
      return;
    }
    const { surface, writer } = this.deps;
    try {
      if (await this.stackCommand(ref, cmd, actor)) return;
    } catch (err) {
      if (!(err instanceof UserError)) throw err;
      log.info({ code: err.code, problem: err.message }, 'stack command refused');
      await writer.remark(ref, `✘ /${cmd.name} not done: ${err.message}`);
      return;
    }
    const latest = await this.latestRequest(ref);
    const driftTicket = !latest && cmd.name === 'drift' ? await this.deps.driftTicketPackage?.(ref) : undefined;
    if (driftTicket) return this.driftOnTicket(ref, driftTicket, cmd, actor, log);
    if (!latest) return;
    try {
      if (cmd.name === 'drift') await this.driftCommand(latest.package, latest.origin, cmd, actor);
      else if (cmd.name === 'plan' || cmd.name === 'apply') await this.deps.workflow().replan(latest.id, actor, surface);
      else if (cmd.name === 'cancel') await this.deps.workflow().close(latest.id, 'cancelled', actor, surface);
      else if (cmd.name === 'decommission') await this.decommission(latest, actor);
      else await writer.remark(ref, `✘ Unknown command /${cmd.name}. Commands: ${COMMANDS.filter((c) => this.deps.stacks || !c.startsWith('/stack')).join(' · ')}`);
    } catch (err) {
      if (!(err instanceof UserError)) throw err;
      log.info({ code: err.code, problem: err.message }, 'command refused');
      await writer.remark(ref, `✘ /${cmd.name} not done: ${err.message}`);
    }
  }

  /**
   * `/stack <template> <name>` (any ticket), `/extend <duration>` and `/resume` (on a stack's
   * ticket): true when the command was a stack's.
   */
  private async stackCommand(ref: string, cmd: SurfaceCommand, actor: Actor): Promise<boolean> {
    const desk = this.deps.stacks?.();
    if (!desk || !['stack', 'extend', 'resume'].includes(cmd.name)) return false;
    const origin = { surface: this.deps.surface, ref, url: this.deps.writer.link(ref) };
    // Who may is decided by the desk (the stack's requester, an admin), the same for every surface.
    const by = { actor, surface: this.deps.surface };
    if (cmd.name === 'stack') {
      const [template, name] = cmd.args;
      if (!template || !name) throw new UserError('validation', 'use /stack <template> <name>, for example /stack preview-checkout pr-42');
      const { labels, ...answers } = cmd.flags;
      const pairs = typeof labels === 'string' ? labels.split(',').map((kv) => kv.split('=')).filter((kv) => kv.length === 2) : [];
      await desk.request({ template, name, labels: Object.fromEntries(pairs.map(([k, v]) => [k!.trim(), v!.trim()])), answers, origin, by });
      return true;
    }
    const stack = await desk.forTicket(origin);
    if (!stack) return false;
    if (cmd.name === 'extend') await desk.extend(stack.id, cmd.args[0] ?? '', by);
    else await desk.resume(stack.id, by);
    return true;
  }

  /** `/drift` on a ticket filed for a drift episode of `packageId` (a revert it files lives on that ticket). */
  private async driftOnTicket(ref: string, packageId: string, cmd: SurfaceCommand, actor: Actor, log: Logger): Promise<void> {
    try {
      await this.driftCommand(packageId, { surface: this.deps.surface, ref, url: this.deps.writer.link(ref) }, cmd, actor);
    } catch (err) {
      if (!(err instanceof UserError)) throw err;
      log.info({ code: err.code, problem: err.message }, 'command refused');
      await this.deps.writer.remark(ref, `✘ /${cmd.name} not done: ${err.message}`);
    }
  }

  /** `/drift check`, `/drift adopt <field>`, `/drift revert <field>`, `/drift ignore <field> until <date>` on `packageId`; a revert is filed on `origin`. */
  private async driftCommand(packageId: string | undefined, origin: Request['origin'], cmd: SurfaceCommand, actor: Actor): Promise<void> {
    const desk = this.deps.drift?.();
    if (!desk || !packageId) throw new UserError('validation', 'this ticket has no package to check for drift');
    const by = { actor, surface: this.deps.surface };
    const [verb = 'check', field, word, until] = cmd.args;
    if (verb === 'check') await desk.check(packageId, by);
    else if (!field) throw new UserError('validation', `/drift ${verb} needs a field, for example /drift ${verb} connection_limit`);
    else if (verb === 'adopt') await desk.adopt(packageId, field, by);
    else if (verb === 'revert') await desk.revert(packageId, field, by, origin);
    else if (verb === 'ignore' && word === 'until' && until) await desk.ignore(packageId, field, until, by);
    else throw new UserError('validation', 'use /drift check, /drift adopt <field>, /drift revert <field> or /drift ignore <field> until <YYYY-MM-DD>');
  }

  /** The blocks of a drift notice: the package's drift comment, with the decision just taken. */
  async driftNoticeBlocks(notice: WorkflowNotice): Promise<Block[]> {
    const id = notice.detail?.package ?? '';
    const pkg = await this.deps.engine.inventory.get('package', id);
    const history = await this.deps.engine.inventory.history('package', id);
    const lastChange = [...history].reverse().find((e) => e.surface !== 'reality' && e.actor !== 'engine' && !e.action.startsWith('package.drift'));
    return driftBlocks(pkg, lastChange, notice.detail?.text);
  }

  /**
   * `/decommission`: files a decommission request for the package the ticket's latest request
   * names, on the same ticket, once that request has finished (or failed, or was refused).
   */
  private async decommission(latest: Request, actor: Actor): Promise<Request> {
    const pkg = latest.package ? await this.deps.engine.inventory.find('package', latest.package) : undefined;
    if (!pkg) throw new RequestCommandError('this ticket has no package to give back');
    if (!isFinished(latest.state) && latest.state !== 'failed' && latest.state !== 'invalid') {
      throw new RequestCommandError(`the request on this ticket is ${latest.state.replace(/_/g, ' ')}; let it finish, or /cancel it, first`);
    }
    return this.deps.workflow().submit(decommissionIntake(pkg, actor, latest.origin));
  }

  /**
   * Asks the query as `actor` and posts the answer (the `answer` template) on ticket `ref`; a
   * bad query or argument is answered with the list of queries and how to ask again. Returns
   * the answer, or undefined when refused.
   */
  async answer(ref: string, inv: QueryInvocation, actor: Actor, log: Logger, opts: AskOptions): Promise<QueryAnswer | undefined> {
    const { queries, renderer, writer, surface } = this.deps;
    try {
      const answer = await queries.ask(inv, { actor: actor.id, surface });
      await writer.post(ref, renderer.render('answer', { view: this.answerView(answer, actor, ref) }), opts.key);
      log.info({ query: answer.query.name, rows: answer.rows.length }, 'question answered');
      return answer;
    } catch (err) {
      if (!(err instanceof UserError)) throw err;
      log.info({ code: err.code, problem: err.message }, 'question refused');
      const problem = err instanceof QueryError ? err.problem : err.message;
      const text = (t: string): Block => ({ type: 'paragraph', content: [{ type: 'text', text: t }] });
      const blocks: Block[] = [
        text(`✘ ${sanitize(problem)}`),
        text(`Queries you can ask (${opts.how}):`),
        { type: 'bulletList', items: queries.usage().map((u) => [{ type: 'text', text: u }]) },
      ];
      await writer.post(ref, blocks, opts.key);
      return undefined;
    }
  }

  /** The view the answer template renders, for a question asked on ticket `ref`. */
  private answerView(answer: QueryAnswer, actor: Actor, ref: string): RequestView {
    return buildAnswerView(answer, actor, { surface: this.deps.surface, ref, url: this.deps.writer.link(ref) });
  }

  /** How a person acts on this surface, for every message; `approve` says how to approve there. */
  hints(approve: string | undefined): SurfaceHints {
    const { answers, ticket, retryCommand } = this.deps.words;
    return {
      approve,
      retry: `Retry with ${retryCommand}, or edit the ${answers}.`,
      edit: `Edit the ${answers} ${ticket}; the plan is recomputed automatically.`,
      reveal: 'ticket-surface package show {package} --reveal',
    };
  }

  /** False for a superseded revision's status: its successor's entries are the ones to read. */
  async isNews(notice: WorkflowNotice, request: Request): Promise<boolean> {
    if (notice.message !== 'status') return true;
    const latest = await this.latestRequest(request.origin.ref);
    return !latest || latest.id === request.id;
  }

  /** The blocks of one notice: the status message, or the event message it names. */
  noticeBlocks(notice: WorkflowNotice, view: RequestView): Block[] {
    const detail = notice.detail;
    if (notice.message === 'status') return this.deps.renderer.render('status', { view, ...(detail?.text ? { event: { reason: detail.text } } : {}) });
    return this.deps.renderer.render(notice.message as MessageName, {
      view,
      event: {
        ...(detail?.actor ? { actor: detail.actor } : {}),
        ...(detail?.reason ? { reason: detail.reason } : detail?.text ? { reason: detail.text } : {}),
      },
    });
  }
}

/** Same answers, whatever the key order (values compared as the strings a ticket holds; empty = unanswered). */
function sameAnswers(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  const norm = (o: Record<string, unknown>) =>
    JSON.stringify(
      Object.keys(o)
        .filter((k) => o[k] !== undefined && o[k] !== '')
        .sort()
        .map((k) => [k, typeof o[k] === 'string' ? o[k] : JSON.stringify(o[k])]),
    );
  return norm(a) === norm(b);
}
