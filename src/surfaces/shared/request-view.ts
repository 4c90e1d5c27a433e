/**
 * The surface-neutral view of a request: everything a ticket message shows, already reduced to
 * what may be shown. Built from the engine's {@link Request} plus facts the request does not hold
 * (package name, costs, the next change window, the surface's own hints). Sensitive artifact
 * values are dropped while the view is built, so no template or renderer can leak them: the view
 * only knows that a `password` exists, never what it is.
 */
import { DateTime } from 'luxon';
import type { Actor, ArtifactDefinition, DecisionOutcome, Origin, PolicyDecision, Request, RequestKind, RequestState } from '../../engine/model.ts';
import { isSensitiveKey } from '../../engine/redact.ts';

/** One artifact field that may be shown. */
export interface ArtifactFieldView {
  key: string;
  value: string;
}

/** An artifact as the ticket shows it: non-sensitive fields, and the names of hidden ones. */
export interface ArtifactView {
  /** Artifact name in the bundle, for example `authentication`. */
  name: string;
  /** Artifact definition name or label, for example `postgresql-authentication`. */
  definitionLabel: string;
  fields: ArtifactFieldView[];
  /** Names of fields that exist but are never shown (`password`). Values are not in the view. */
  hidden: string[];
}

/** The next (or current) change window of the target environment. */
export interface WindowView {
  /** ISO instant the window opens (or opened). */
  start: string;
  /** ISO instant it closes. */
  end: string;
  /** IANA zone the window is defined in. */
  zone: string;
  /** Ready-made sentence, for example "Change window for staging: open now." */
  text: string;
  /** True when the window is open at the time the view was built. */
  openNow: boolean;
}

/** How a person acts on this surface; each is a sentence the surface supplies. */
export interface SurfaceHints {
  /** For example `To approve: move this issue to "Approved".` */
  approve?: string;
  /** For example "Retry with /apply." */
  retry?: string;
  /** For example "Edit the fields on this issue; the plan is recomputed automatically." */
  edit?: string;
  /** For example "ticket-surface artifact show {package} {artifact} --reveal (audited)". */
  reveal?: string;
  /**
   * Where the full status is when there is no status comment to link to; unset: "the status
   * update of this request (edited in place)". A surface whose journal cannot be edited says so.
   */
  details?: string;
}

/** One resource line of the plan table. */
export interface PlanResourceView {
  action: 'add' | 'change' | 'destroy' | 'replace' | 'read';
  address: string;
  destructive: boolean;
}

/** The plan as shown. */
export interface PlanView {
  hash: string;
  /** First 8 characters of the hash, what people quote. */
  hashPrefix: string;
  add: number;
  change: number;
  destroy: number;
  replace: number;
  resources: PlanResourceView[];
  /** Addresses of resources destroyed or replaced. */
  destructive: PlanResourceView[];
  costBefore?: number;
  costAfter?: number;
}

/** A failed plan or apply. */
export interface FailureView {
  step?: string;
  message: string;
  /** Redacted excerpt of the step's output. */
  excerpt?: string;
  /** What was left as it was, in plain words. */
  leftAsIs: string;
}

/** One validation problem by field label. */
export interface IssueView {
  label: string;
  message: string;
  /** What the person entered, only for non-sensitive fields. */
  entered?: string;
}

/** A query answer as a table. */
export interface AnswerView {
  title: string;
  /** ISO instant the answer was computed. */
  asOf: string;
  columns: string[];
  rows: string[][];
  /** For example "12 more stacks: ticket-surface query most-expensive --top 15". */
  footer?: string;
}

/** A finished apply. */
export interface DeploymentView {
  id: string;
  durationMs?: number;
  finishedAt?: string;
}

/** A counted approval. */
export interface ApprovalView {
  by: Actor;
  groups: string[];
  planHashPrefix: string;
  at: string;
}

/** Everything a ticket message about one request can show. */
export interface RequestView {
  id: string;
  /** The content revision (grows when the person edits the request). */
  revision: number;
  state: RequestState;
  kind: RequestKind;
  actor: Actor;
  origin: Origin;
  project: string;
  environment: string;
  packageName?: string;
  bundle: string;
  version?: string;
  /** For promotions: the version running now. */
  previousVersion?: string;
  plan?: PlanView;
  decisions: PolicyDecision[];
  approvals: ApprovalView[];
  window?: WindowView;
  /** ISO instant the apply is scheduled for. */
  scheduledFor?: string;
  hints: SurfaceHints;
  artifacts: ArtifactView[];
  deployment?: DeploymentView;
  error?: FailureView;
  issues: IssueView[];
  answer?: AnswerView;
  /** Links the surface can give: the status comment, the full plan attachment. */
  links: { statusComment?: string; plan?: string };
}

/** A produced artifact as the engine holds it, with its definition (for the sensitive pointers). */
export interface ArtifactInput {
  name: string;
  definition?: Pick<ArtifactDefinition, 'name' | 'label' | 'sensitivePointers'>;
  /** The artifact document (`{ data, specs }`) or just its `data` part. */
  value: Record<string, unknown>;
}

/** Facts a {@link RequestView} needs that the {@link Request} does not hold. */
export interface RequestViewExtras {
  packageName?: string;
  previousVersion?: string;
  /** Override of the request's plan costs (monthly, USD). */
  costBefore?: number;
  costAfter?: number;
  window?: WindowView;
  hints?: SurfaceHints;
  artifacts?: ArtifactInput[];
  deployment?: DeploymentView;
  /** What a failed run left as it was; a sensible default is derived from the request. */
  leftAsIs?: string;
  /** Entered values by field pointer, for "(you entered 2)"; pass only non-sensitive fields. */
  entered?: Record<string, string>;
  answer?: AnswerView;
  links?: { statusComment?: string; plan?: string };
}

/** Builds the view of `request`; sensitive artifact values are dropped here and go no further. */
export function buildRequestView(request: Request, extras: RequestViewExtras = {}): RequestView {
  const plan = request.plan;
  const resources: PlanResourceView[] = (plan?.summary.resources ?? []).map((r) => ({
    action: r.action,
    address: r.address,
    destructive: r.destructive || r.action === 'destroy' || r.action === 'replace',
  }));
  const failed = request.error;
  return {
    id: request.id,
    revision: request.contentRevision,
    state: request.state,
    kind: request.kind,
    actor: request.actor,
    origin: request.origin,
    project: request.project,
    environment: request.environment,
    packageName: extras.packageName,
    bundle: request.bundle,
    version: request.version,
    previousVersion: extras.previousVersion,
    plan: plan && {
      hash: plan.hash,
      hashPrefix: plan.hash.slice(0, 8),
      add: plan.summary.add,
      change: plan.summary.change,
      destroy: plan.summary.destroy,
      replace: plan.summary.replace,
      resources,
      destructive: resources.filter((r) => r.destructive),
      costBefore: extras.costBefore ?? plan.costMonthlyBefore,
      costAfter: extras.costAfter ?? plan.costMonthlyAfter,
    },
    decisions: request.decisions,
    approvals: request.approvals.map((a) => ({ by: a.by, groups: a.groups, planHashPrefix: a.planHash.slice(0, 8), at: a.at })),
    window: extras.window,
    scheduledFor: request.scheduledFor,
    hints: extras.hints ?? {},
    artifacts: (extras.artifacts ?? []).map(buildArtifactView),
    deployment: extras.deployment ?? (request.deployment ? { id: request.deployment } : undefined),
    error: failed && {
      step: failed.step,
      message: failed.message,
      excerpt: failed.excerpt,
      leftAsIs: extras.leftAsIs ?? defaultLeftAsIs(request),
    },
    issues: (request.issues ?? []).map((i) => ({
      label: i.field ?? (i.pointer || 'request'),
      message: i.message,
      entered: extras.entered?.[i.pointer],
    })),
    answer: extras.answer,
    links: extras.links ?? {},
  };
}

function defaultLeftAsIs(request: Request): string {
  if (request.state === 'failed' && request.deployment) {
    return 'Steps before the failed one stayed applied; nothing after it ran. Resources the failed step did not reach are as they were.';
  }
  return 'Nothing was changed.';
}

/**
 * Reduces an artifact to what a ticket may show: every scalar leaf not under a sensitive pointer
 * (`$md.sensitive`) and not under a secret-looking key becomes a field; the sensitive ones
 * contribute only their names to `hidden`.
 */
export function buildArtifactView(input: ArtifactInput): ArtifactView {
  // Definitions point into the whole artifact (`/data/authentication/password`, `*` for any key
  // or index); a package may hold only `data`, so each pointer is also tried without `/data`.
  const patterns = (input.definition?.sensitivePointers ?? []).flatMap((p) => {
    const tokens = p.replace(/^\//, '').split('/').map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
    return tokens[0] === 'data' ? [tokens, tokens.slice(1)] : [tokens];
  });
  const isMarked = (path: string[]): boolean =>
    patterns.some((pat) => pat.length <= path.length && pat.every((t, k) => t === '*' || t === path[k]));
  const leaves: { path: string[]; value: string }[] = [];
  const hidden: string[] = [];
  const walk = (v: unknown, path: string[]): void => {
    const key = path[path.length - 1] ?? input.name;
    if (path.length && (isMarked(path) || isSensitiveKey(key))) {
      if (!hidden.includes(key)) hidden.push(key);
      return;
    }
    if (v === null || v === undefined) return;
    if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...path, String(i)]));
    else if (typeof v === 'object') for (const [k, child] of Object.entries(v)) walk(child, [...path, k]);
    else leaves.push({ path, value: String(v) });
  };
  walk(input.value, []);
  // Show the shortest unambiguous key: `hostname`, unless two leaves share it (`a.port`, `b.port`).
  const fields = leaves.map((l) => {
    const path = l.path[0] === 'data' ? l.path.slice(1) : l.path;
    let n = 1;
    const suffix = (p: string[], k: number): string => p.slice(-k).join('.');
    while (n < path.length && leaves.filter((o) => suffix(o.path, n) === suffix(path, n)).length > 1) n++;
    return { key: suffix(path, n) || input.name, value: l.value };
  });
  return { name: input.name, definitionLabel: input.definition?.label ?? input.definition?.name ?? input.name, fields, hidden };
}

/** Icons used for policy outcomes, the same on every surface. */
export const OUTCOME_ICON: Record<DecisionOutcome, string> = { allow: '✔', deny: '✘', needs_approval: '…', warn: '⚠' };

/**
 * Builds a {@link WindowView} with the sentence TICKET-UX.md shows: "Change window for staging:
 * open now." or "Next production window: Tue 2026-11-25 10:00–16:00 Europe/Berlin (in 14 h 20 min)."
 */
export function describeWindow(environment: string, window: { start: Date | string; end: Date | string; zone: string }, now: Date): WindowView {
  const start = DateTime.fromJSDate(new Date(window.start)).setZone(window.zone);
  const end = DateTime.fromJSDate(new Date(window.end)).setZone(window.zone);
  const at = DateTime.fromJSDate(now);
  const openNow = start <= at && at < end;
  let text: string;
  if (openNow) {
    text = `Change window for ${environment}: open now (until ${end.toFormat('HH:mm')} ${window.zone}).`;
  } else {
    const sameDay = start.hasSame(end, 'day');
    const span = `${start.toFormat('ccc yyyy-MM-dd HH:mm')}–${sameDay ? end.toFormat('HH:mm') : end.toFormat('ccc yyyy-MM-dd HH:mm')}`;
    text = `Next ${environment} window: ${span} ${window.zone} (in ${formatDuration(start.toMillis() - at.toMillis())}).`;
  }
  return { start: start.toUTC().toISO()!, end: end.toUTC().toISO()!, zone: window.zone, text, openNow };
}

/** "14 h 20 min", "3 min", "2 d 4 h", "4.2 s" — coarse, for people. */
export function formatDuration(ms: number): string {
  const m = Math.max(0, ms);
  if (m < 60_000) return `${(m / 1000).toFixed(1)} s`;
  const min = Math.round(m / 60_000);
  const d = Math.floor(min / 1440);
  const h = Math.floor((min % 1440) / 60);
  const mm = min % 60;
  if (d > 0) return `${d} d ${h} h`;
  if (h > 0) return `${h} h ${mm} min`;
  return `${mm} min`;
}

/**
 * The view of a query answer. The answer template renders from a request view; a question has
 * no request behind it, so this is a bare one carrying only who asked, where, and the table.
 */
export function buildAnswerView(
  answer: { query: { name: string }; title: string; asOf: string; columns: string[]; rows: string[][]; footer?: string },
  actor: Actor,
  origin: Origin,
): RequestView {
  return {
    id: `query-${answer.query.name}`,
    revision: 1,
    state: 'applied',
    kind: 'query',
    actor,
    origin,
    project: '',
    environment: '',
    bundle: '',
    decisions: [],
    approvals: [],
    hints: {},
    artifacts: [],
    issues: [],
    answer: { title: answer.title, asOf: answer.asOf, columns: answer.columns, rows: answer.rows, ...(answer.footer ? { footer: answer.footer } : {}) },
    links: {},
  };
}
