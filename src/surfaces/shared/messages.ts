/**
 * Ticket messages: a {@link RequestView} (plus, for event messages, what happened) turned into
 * template data and rendered through the template files in `templates/`. Every number, date and
 * sentence fragment is formatted here, so templates stay logic-less and every surface says the
 * same thing.
 */
import { DateTime } from 'luxon';
import type { Actor, RequestState } from '../../engine/model.ts';
import type { Block, StatusColor } from './blocks.ts';
import { OUTCOME_ICON, formatDuration, type RequestView } from './request-view.ts';
import { TemplateEngine, type TemplateData } from './template-engine.ts';

/** The messages there are templates for. */
export type MessageName =
  | 'status'
  /** A one-entry status for an append-only journal, once the full status is written (ServiceNow). */
  | 'status-line'
  | 'approval-needed'
  | 'applied'
  | 'failed'
  | 'refused'
  | 'invalid'
  | 'answer'
  | 'approval-counted'
  | 'approval-refused'
  | 'scheduled'
  | 'moved';

/** Every {@link MessageName}, for tests and start-up checks. */
export const MESSAGE_NAMES: readonly MessageName[] = [
  'status',
  'status-line',
  'approval-needed',
  'applied',
  'failed',
  'refused',
  'invalid',
  'answer',
  'approval-counted',
  'approval-refused',
  'scheduled',
  'moved',
];

/** What happened, for event messages (approval counted or refused, moved, rejected). */
export interface MessageEvent {
  /** Who approved, rejected or cancelled. */
  actor?: Actor;
  /** Groups the approver was counted for. */
  groups?: string[];
  /** Why an approval was not counted, why a request was refused, why a schedule moved. */
  reason?: string;
}

/** Input of one message. */
export interface MessageInput {
  view: RequestView;
  event?: MessageEvent;
  /** Exact secret values to scrub as a last line of defence (never needed when views are built right). */
  secrets?: readonly string[];
}

/** The marker text that lets a surface find a request's status comment again. */
export function statusMarker(requestId: string): string {
  return `ts:status:${requestId}`;
}

const STATE_COLOR: Record<RequestState, StatusColor> = {
  received: 'neutral',
  invalid: 'red',
  validated: 'neutral',
  planned: 'blue',
  awaiting_approval: 'yellow',
  approved: 'blue',
  scheduled: 'purple',
  applying: 'blue',
  applied: 'green',
  failed: 'red',
  rejected: 'red',
  cancelled: 'neutral',
  superseded: 'neutral',
};

const ACTION_VERB: Record<string, string> = { destroy: 'DESTROYS', replace: 'REPLACES' };

/**
 * Renders ticket messages. One instance per process; templates are parsed once.
 */
export class MessageRenderer {
  private readonly engine: TemplateEngine;

  /** @param engine defaults to the templates shipped in `templates/`. */
  constructor(engine: TemplateEngine = TemplateEngine.fromDirectory()) {
    this.engine = engine;
    for (const name of MESSAGE_NAMES) if (!engine.names().includes(name)) throw new Error(`template "${name}" is missing`);
  }

  /**
   * Renders message `name`. The status message ends with a small marker paragraph
   * ({@link statusMarker}); renderers and the size limiter keep it last and never drop it.
   */
  render(name: MessageName, input: MessageInput): Block[] {
    const blocks = this.engine.render(name, messageData(input), { secrets: input.secrets });
    if (name === 'status') blocks.push({ type: 'paragraph', small: true, content: [{ type: 'text', text: statusMarker(input.view.id) }] });
    return blocks;
  }
}

/** Formats USD: `$1,240.00`. */
export function formatMoney(n: number): string {
  return `$${Math.abs(n).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
}

/** Formats a monthly cost change: `+$38.40/month`, `-$12.00/month`, `±$0`. */
export function formatCostDelta(before: number | undefined, after: number | undefined): string | undefined {
  if (before === undefined && after === undefined) return undefined;
  const delta = Math.round(((after ?? 0) - (before ?? 0)) * 100) / 100;
  if (delta === 0) return '±$0';
  return `${delta > 0 ? '+' : '-'}${formatMoney(delta)}/month`;
}

function who(actor: Actor | undefined): string {
  return actor?.displayName ?? actor?.id ?? 'someone';
}

function utc(iso: string | undefined): string | undefined {
  return iso ? DateTime.fromISO(iso, { zone: 'utc' }).toFormat("yyyy-MM-dd HH:mm 'UTC'") : undefined;
}

function scheduledText(iso: string | undefined, zone: string | undefined): string | undefined {
  if (!iso) return undefined;
  const t = DateTime.fromISO(iso, { zone: 'utc' });
  if (!zone || zone === 'UTC') return `${t.toFormat('ccc yyyy-MM-dd HH:mm')} UTC`;
  return `${t.setZone(zone).toFormat('ccc yyyy-MM-dd HH:mm')} ${zone} (${t.toFormat('HH:mm')} UTC)`;
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** People say "production", not the environment's id "checkout-production". */
function environmentName(view: RequestView): string {
  return view.environment.startsWith(`${view.project}-`) ? view.environment.slice(view.project.length + 1) : view.environment;
}

/** The first line of every message: what the request does, in the words of its kind. */
function headlineOf(view: RequestView): string {
  const pkg = view.packageName ?? view.bundle;
  const versionText = view.version ? ` ${view.version}` : '';
  if (view.kind === 'promote' && view.previousVersion && view.version) {
    const app = pkg.startsWith(`${view.environment}-`) ? pkg.slice(view.environment.length + 1) : pkg;
    return `Promote ${app} ${view.previousVersion} → ${view.version} in ${environmentName(view)}`;
  }
  if (view.kind === 'decommission') return `Decommission ${pkg} (${view.bundle}${versionText}) in ${environmentName(view)}`;
  if (view.kind === 'query') return view.answer?.title ?? 'Question';
  return `Plan for ${pkg} (${view.bundle}${versionText})`;
}

/** The plan table's data: counts and cost in one line, resources, and the destructive warning. */
function planData(view: RequestView): TemplateData | null {
  const plan = view.plan;
  if (!plan) return null;
  const costDelta = formatCostDelta(plan.costBefore, plan.costAfter);
  const counts = [`${plan.add} to add`, `${plan.change} to change`, `${plan.destroy} to destroy`, ...(plan.replace ? [`${plan.replace} to replace`] : [])];
  let destructiveSentence: string | undefined;
  let destructiveList: TemplateData[] = [];
  if (plan.destructive.length === 1) {
    const r = plan.destructive[0]!;
    destructiveSentence = `This change ${ACTION_VERB[r.action] ?? 'DESTROYS'} ${r.address}. Its data is lost unless restored from a backup.`;
  } else if (plan.destructive.length > 1) {
    destructiveSentence = `This change destroys or replaces ${plan.destructive.length} resources. Their data is lost unless restored from a backup.`;
    destructiveList = plan.destructive.map((r) => ({ verb: ACTION_VERB[r.action] ?? 'DESTROYS', address: r.address }));
  }
  return {
    summaryLine: [...counts, ...(costDelta ? [`cost ${costDelta}`] : [])].join(' · '),
    hashPrefix: plan.hashPrefix,
    hasResources: plan.resources.length > 0,
    resources: plan.resources.map((r) => ({ action: r.action, address: r.address })),
    overflowHint: view.links.plan ? `see the full plan: ${view.links.plan}` : 'see the attached plan',
    destructiveSentence,
    destructiveList,
  };
}

/** States in which every approval the policy asked for was given. */
const APPROVAL_MET: ReadonlySet<RequestState> = new Set(['approved', 'scheduled', 'applying', 'applied']);

/**
 * One policy line. Once the request is approved, a "needs approval" decision is shown as met
 * ("✔ got 1 approval from …"), so the status never says it still needs what it already has.
 */
function decisionLine(d: RequestView['decisions'][number], state: RequestState): { icon: string; reason: string } {
  if (d.outcome !== 'needs_approval' || !APPROVAL_MET.has(state)) return { icon: OUTCOME_ICON[d.outcome], reason: d.reason };
  return { icon: OUTCOME_ICON.allow, reason: /^needs\b/.test(d.reason) ? d.reason.replace(/^needs\b/, 'got') : `approved: ${d.reason}` };
}

/** Who must still approve, one clause per policy decision that needs approval. */
function approversText(view: RequestView): string | undefined {
  const needs = view.decisions.filter((d) => d.outcome === 'needs_approval');
  if (!needs.length) return undefined;
  return needs.map((d) => (d.approvers ? `${plural(d.approvers.count, 'approval', 'approvals')} from ${d.approvers.groups.join(' or ')}` : d.reason)).join('; ');
}

/** The state flags templates branch on. */
function stateFlags(state: RequestState): TemplateData {
  return {
    planning: state === 'received' || state === 'validated',
    awaiting: state === 'awaiting_approval' || state === 'planned',
    approved: state === 'approved' || state === 'scheduled',
    applying: state === 'applying',
    applied: state === 'applied',
    failed: state === 'failed',
    invalid: state === 'invalid',
    rejected: state === 'rejected',
    cancelled: state === 'cancelled',
    superseded: state === 'superseded',
  };
}

/** The result of an apply: how long the deployment took, and the artifacts it produced (no secrets). */
function resultData(view: RequestView): TemplateData {
  const pkg = view.packageName ?? view.bundle;
  const hidden = (name: string): TemplateData[] => (view.artifacts.find((a) => a.name === name)?.hidden ?? []).map((h) => ({ name: h }));
  return {
    result: view.deployment
      ? {
          durationText: view.deployment.durationMs !== undefined ? formatDuration(view.deployment.durationMs) : undefined,
          deploymentId: view.deployment.id,
          finishedText: utc(view.deployment.finishedAt),
        }
      : null,
    artifacts: view.artifacts.map((a) => ({
      name: a.name,
      definitionLabel: a.definitionLabel,
      fieldsText: a.fields.map((f) => `${f.key} ${f.value}`).join(' · '),
      hidden: hidden(a.name),
      revealCommand: (view.hints.reveal ?? 'ticket-surface artifact show {package} {artifact} --reveal')
        .replace('{package}', pkg)
        .replace('{artifact}', a.name),
    })),
  };
}

/** A query answer as a table. */
function answerData(view: RequestView): TemplateData | null {
  if (!view.answer) return null;
  return {
    title: view.answer.title,
    asOfText: utc(view.answer.asOf),
    header: view.answer.columns.map((c) => ({ cell: c })),
    rows: view.answer.rows.map((r) => ({ cells: r.map((c) => ({ cell: c })) })),
    footer: view.answer.footer,
  };
}

/** The template data for one message: every value pre-formatted. Exported for tests. */
export function messageData(input: MessageInput): TemplateData {
  const { view, event } = input;
  const state = view.state;
  const failed = view.error;
  const { result, artifacts } = resultData(view);
  return {
    id: view.id,
    revision: view.revision,
    stateText: state.replace(/_/g, ' ').toUpperCase(),
    stateColor: STATE_COLOR[state],
    headline: headlineOf(view),
    requester: who(view.actor),
    origin: view.origin.url ?? view.origin.ref,
    ...stateFlags(state),
    showPlan: Boolean(view.plan) && state !== 'invalid',
    plan: planData(view),
    decisions: view.decisions.map((d) => decisionLine(d, state)),
    hasDecisions: view.decisions.length > 0,
    approversText: approversText(view),
    approvals: view.approvals.map((a) => ({ who: who(a.by), groups: a.groups.join(', '), hashPrefix: a.planHashPrefix })),
    window: view.window ? { text: view.window.text, openNow: view.window.openNow } : null,
    appliesWhenOpen: Boolean(view.window && !view.window.openNow),
    scheduledText: scheduledText(view.scheduledFor, view.window?.zone),
    hints: { ...view.hints },
    result,
    artifacts,
    failure: failed ? { step: failed.step, message: failed.message, excerpt: failed.excerpt, leftAsIs: failed.leftAsIs } : null,
    issueCountText: view.issues.length === 1 ? '1 answer needs a change' : `${view.issues.length} answers need a change`,
    issues: view.issues.map((i) => ({ label: i.label, message: i.message, entered: i.entered })),
    refusals: view.decisions.filter((d) => d.outcome === 'deny').map((d) => ({ reason: d.reason })),
    answer: answerData(view),
    statusLink: view.links.statusComment,
    event: event ? { who: who(event.actor), groups: event.groups?.join(', '), reason: event.reason } : null,
  };
}
