/**
 * Read-only queries: the questions people ask about the inventory ("what is our most expensive
 * stack?"), answered the same way by every surface (HTTP, CLI, Jira `/ask`, question issues).
 *
 * A query reads the inventory, the audit log, the attestations and the registry, and writes
 * exactly one thing: a `query.ask` audit event naming who asked and through which surface.
 * Answers are built from the few non-sensitive fields a ranking or a listing needs (never a
 * package's params or artifacts), and each is capped at `--top` rows with a footer saying how
 * to get the rest, so it fits a ticket comment.
 */
import { z } from 'zod';
import type { Engine } from './engine.ts';
import { compareVersions } from '../engine/attestations.ts';
import { NotFoundError, ValidationError, type FieldIssue } from '../engine/errors.ts';
import type { PackageSummary } from '../engine/inventory.ts';
import type { Package, Request, RequestState, SurfaceName } from '../engine/model.ts';

/** One argument of a query, as the catalog describes it. */
export interface QueryArgSpec {
  /** Name (`top`, `bundle`); also the flag (`--top`) and the HTTP query parameter (`?top=`). */
  name: string;
  description: string;
  /** Positional arguments may be given in order without their flag (`where-runs redis-cache`). */
  positional: boolean;
  required: boolean;
  /** Default value, as text. */
  default?: string;
}

/** A query of the catalog as listed to people: name, what it answers, its arguments. */
export interface QueryDescription {
  name: string;
  summary: string;
  args: QueryArgSpec[];
  /** One usage line, for example `most-expensive [--top N]`. */
  usage: string;
}

/** A query's answer: the table surfaces render (the AnswerView shape) plus structured data for JSON. */
export interface QueryAnswer {
  /** The query and its validated arguments. */
  query: { name: string; args: Record<string, unknown> };
  title: string;
  /** ISO instant the answer was computed. */
  asOf: string;
  columns: string[];
  rows: string[][];
  /** How to get the rows left out, or a total. */
  footer?: string;
  /** The same facts as structured data (numbers as numbers), for `--json` and the API. */
  data: unknown;
}

/** Who asks: recorded on the `query.ask` audit event. */
export interface AskContext {
  actor: string;
  surface: SurfaceName;
}

/** How a query is asked: its name, arguments in order, and named arguments (flags / query parameters). */
export interface QueryInvocation {
  name: string;
  positional?: string[];
  args?: Record<string, string | number | boolean>;
}

/**
 * An unknown query or a bad argument. The message lists every query with its arguments, so a
 * ticket that asked wrongly gets the list back in the answer.
 */
export class QueryError extends ValidationError {
  /** The catalog's usage lines. */
  readonly usage: string[];
  /** The problem alone, without the list. */
  readonly problem: string;
  constructor(problem: string, issues: FieldIssue[], usage: string[]) {
    super(`${problem}\nQueries:\n${usage.map((u) => `  ${u}`).join('\n')}`, issues);
    this.usage = usage;
    this.problem = problem;
  }
}

/** The largest `--top` a query accepts: larger answers would not fit a ticket comment. */
export const MAX_TOP = 100;

const top = (fallback: number) =>
  z.coerce
    .number({ message: 'must be a number' })
    .int('must be a whole number')
    .min(1, 'must be at least 1')
    .max(MAX_TOP, `must be at most ${MAX_TOP}`)
    .default(fallback);
const word = (what: string) =>
  z
    .string({ message: `${what} is required` })
    .min(1, `${what} is required`)
    .max(200, 'is too long')
    .regex(/^[A-Za-z0-9._@:-]+$/, 'may contain only letters, digits and . _ @ : -');

/** One query: its description, its argument schema, and how it reads the answer. */
interface QueryDefinition<S extends z.ZodType> {
  name: string;
  summary: string;
  args: QueryArgSpec[];
  schema: S;
  run(args: z.infer<S>, asOf: Date): Promise<Omit<QueryAnswer, 'query' | 'asOf'>>;
}

const TOP_SPEC = (fallback: number): QueryArgSpec => ({
  name: 'top',
  description: `how many rows to show (1-${MAX_TOP})`,
  positional: false,
  required: false,
  default: String(fallback),
});

/** `$1,240.00` */
function money(n: number): string {
  return `$${n.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
}

/** `$620`, or `$12.50` when there are cents: short enough for a "biggest packages" cell. */
function shortMoney(n: number): string {
  const whole = Math.round(n * 100) % 100 === 0;
  return `$${n.toLocaleString('en-US', { minimumFractionDigits: whole ? 0 : 2, maximumFractionDigits: whole ? 0 : 2 })}`;
}

/** `2026-11-24T10:00:00.000Z` → `2026-11-24 10:00 UTC`. */
function utcText(iso: string): string {
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})/.exec(iso);
  return m ? `${m[1]} ${m[2]} UTC` : iso;
}

function cents(n: number): number {
  return Math.round(n * 100) / 100;
}

/** `checkout-production` in project `checkout` → `production`. */
function envName(project: string, environment: string): string {
  return environment.startsWith(`${project}-`) ? environment.slice(project.length + 1) : environment;
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** The CLI line that shows `total` rows of a query, for "N more ...: <command>" footers. */
function moreCommand(name: string, positional: string[], total: number): string {
  return ['ticket-surface query', name, ...positional, `--top ${Math.min(total, MAX_TOP)}`].join(' ');
}

function moreFooter(shown: number, total: number, noun: string, name: string, positional: string[]): string | undefined {
  if (total <= shown) return undefined;
  return `${plural(total - shown, `more ${noun}`, `more ${noun}s`)}: ${moreCommand(name, positional, total)}`;
}

/** A drifted package as the `drift` query shows it: field names and classes, never their values. */
interface DriftEntry {
  package: string;
  name: string;
  project: string;
  environment: string;
  fields: { field: string; label: string; class: string; owner: string; proposal: string; since?: string }[];
  /** The oldest `since` of its open fields. */
  since: string;
  checkedAt: string;
}

/** `pkg`'s open drift (fields that differ and are not ignored), or undefined when it has none. */
function driftEntry(pkg: Package): DriftEntry | undefined {
  const drift = pkg.drift;
  const open = (drift?.findings ?? []).filter((f) => f.class !== 'in_sync' && !f.ignoredUntil);
  if (!drift || open.length === 0) return undefined;
  const fields = open.map((f) => ({ field: f.field, label: f.label, class: f.class, owner: f.owner, proposal: f.proposal, ...(f.since ? { since: f.since } : {}) }));
  const since = fields.map((f) => f.since ?? drift.checkedAt).sort()[0]!;
  return { package: pkg.id, name: pkg.name, project: pkg.project, environment: envName(pkg.project, pkg.environment), fields, since, checkedAt: drift.checkedAt };
}

const WAITING_STATES: readonly RequestState[] = ['awaiting_approval', 'approved', 'scheduled'];
/** Package statuses that no longer cost anything. */
const GONE = new Set(['decommissioned']);

/**
 * The query catalog. Built from the {@link Engine} alone, so every surface (and every process)
 * asks through the same object and gets the same answers.
 */
export class QueryCatalog {
  private readonly definitions: QueryDefinition<z.ZodType>[];

  constructor(private readonly engine: Engine) {
    this.definitions = [
      this.mostExpensive(),
      this.whereRuns(),
      this.environmentQuery(),
      this.whoChanged(),
      this.waiting(),
      this.frozen(),
      this.leases(),
      this.packageQuery(),
      this.driftQuery(),
    ] as unknown as QueryDefinition<z.ZodType>[];
  }

  /** Every query with its arguments, in catalog order. */
  list(): QueryDescription[] {
    return this.definitions.map((d) => ({ name: d.name, summary: d.summary, args: d.args, usage: usageOf(d) }));
  }

  /** One usage line per query, each with what it answers. */
  usage(): string[] {
    return this.definitions.map((d) => `${usageOf(d)} — ${d.summary}`);
  }

  /**
   * Validates the invocation, computes the answer, and records one `query.ask` audit event
   * (who asked, through which surface, with which arguments). Throws {@link QueryError} for an
   * unknown query, a bad argument, or an argument naming something that does not exist.
   */
  async ask(invocation: QueryInvocation, who: AskContext): Promise<QueryAnswer> {
    const name = String(invocation.name ?? '').trim().toLowerCase();
    const def = this.definitions.find((d) => d.name === name);
    if (!def) {
      const problem = name ? `unknown query "${name.slice(0, 60)}"` : 'which query? name one';
      throw new QueryError(problem, [{ pointer: '/name', field: 'query', message: problem }], this.usage());
    }
    const args = this.parseArgs(def, invocation);
    const asOf = this.engine.inventory.clock.now();
    let body: Omit<QueryAnswer, 'query' | 'asOf'>;
    try {
      body = await def.run(args, asOf);
    } catch (err) {
      if (err instanceof NotFoundError) {
        throw new QueryError(`${def.name}: ${err.message}`, [{ pointer: '', field: err.what, message: err.message }], this.usage());
      }
      throw err;
    }
    const answer: QueryAnswer = { query: { name: def.name, args }, asOf: asOf.toISOString(), ...body };
    await this.engine.inventory.audit.append({
      actor: who.actor,
      surface: who.surface,
      action: 'query.ask',
      subject: { type: 'query', id: def.name },
      after: { args, rows: answer.rows.length },
    });
    return answer;
  }

  private parseArgs(def: QueryDefinition<z.ZodType>, inv: QueryInvocation): Record<string, unknown> {
    const issues: FieldIssue[] = [];
    const raw: Record<string, unknown> = {};
    const positional = def.args.filter((a) => a.positional);
    const given = inv.positional ?? [];
    given.forEach((value, i) => {
      const spec = positional[i];
      if (!spec) issues.push({ pointer: `/${i}`, field: value.slice(0, 60), message: `unexpected argument "${value.slice(0, 60)}"` });
      else raw[spec.name] = value;
    });
    for (const [key, value] of Object.entries(inv.args ?? {})) {
      const spec = def.args.find((a) => a.name === key);
      if (!spec) {
        issues.push({ pointer: `/${key}`, field: key, message: `--${key.slice(0, 60)} is not an argument of ${def.name}` });
        continue;
      }
      if (raw[key] !== undefined && raw[key] !== value) {
        issues.push({ pointer: `/${key}`, field: key, message: `${key} is given twice` });
        continue;
      }
      if (value === true) {
        issues.push({ pointer: `/${key}`, field: key, message: `--${key} needs a value` });
        continue;
      }
      raw[key] = value;
    }
    if (!issues.length) {
      const parsed = def.schema.safeParse(raw);
      if (parsed.success) return parsed.data as Record<string, unknown>;
      for (const i of parsed.error.issues) {
        const field = String(i.path[0] ?? '');
        issues.push({ pointer: `/${field}`, field, message: `${field ? `--${field} ` : ''}${i.message}` });
      }
    }
    const problem = `bad argument for ${def.name}: ${issues.map((i) => i.message).join('; ')} (usage: ${usageOf(def)})`;
    throw new QueryError(problem, issues, this.usage());
  }

  // -------------------------------------------------------------------------------------------
  // The queries

  private mostExpensive() {
    const schema = z.object({ top: top(5) }).strict();
    return {
      name: 'most-expensive',
      summary: 'projects and environments ranked by monthly cost, with their biggest packages',
      args: [TOP_SPEC(5)],
      schema,
      run: async (args: z.infer<typeof schema>) => {
        const stacks = rankStacks(await this.engine.inventory.packageSummaries());
        const shown = stacks.slice(0, args.top);
        const total = cents(stacks.reduce((s, x) => s + x.costMonthly, 0));
        return {
          title: 'Most expensive stacks (monthly estimate)',
          columns: ['#', 'project / environment', 'cost/month', 'biggest packages'],
          rows: shown.map((s, i) => [
            String(i + 1),
            `${s.project} / ${s.environmentName}`,
            money(s.costMonthly),
            s.top.map((p) => `${p.name} ${shortMoney(p.costMonthly)}`).join(' · '),
          ]),
          footer: moreFooter(shown.length, stacks.length, 'stack', 'most-expensive', []) ?? `Total of all stacks: ${money(total)}/month.`,
          data: { stacks: shown, totalStacks: stacks.length, totalCostMonthly: total },
        };
      },
    };
  }

  private whereRuns() {
    const schema = z.object({ bundle: word('bundle'), top: top(20) }).strict();
    return {
      name: 'where-runs',
      summary: 'environments and packages running a bundle, their versions, how far behind the latest qa-signed version',
      args: [{ name: 'bundle', description: 'bundle name, for example redis-cache', positional: true, required: true }, TOP_SPEC(20)],
      schema,
      run: async (args: z.infer<typeof schema>) => {
        const pkgs = (await this.engine.inventory.packageSummaries())
          .filter((p) => p.bundle === args.bundle && !GONE.has(p.status))
          .sort((a, b) => a.project.localeCompare(b.project) || a.environment.localeCompare(b.environment) || a.name.localeCompare(b.name));
        const known = this.knownVersions(args.bundle);
        const signed = await this.engine.attestations.versionsWith(args.bundle, 'qa-signed');
        if (!pkgs.length && !known.length && !signed.length) throw new NotFoundError('bundle', args.bundle);
        const latestSigned = signed[0]?.version;
        const versions = [...new Set([...known, ...signed.map((s) => s.version)])];
        const rows = pkgs.map((p) => {
          const behind = latestSigned ? versions.filter((v) => compareVersions(v, p.version) > 0 && compareVersions(v, latestSigned) <= 0).length : undefined;
          const ahead = latestSigned !== undefined && compareVersions(p.version, latestSigned) > 0;
          return { package: p.id, name: p.name, project: p.project, environment: envName(p.project, p.environment), version: p.version, status: p.status, behind, ahead };
        });
        const shown = rows.slice(0, args.top);
        const behindText = (r: (typeof rows)[number]): string => {
          if (r.behind === undefined) return 'no qa-signed version';
          if (r.ahead) return 'newer than qa-signed';
          return r.behind === 0 ? 'up to date' : `${plural(r.behind, 'version', 'versions')} behind`;
        };
        const outdated = rows.filter((r) => (r.behind ?? 0) > 0).length;
        return {
          title: `Where ${args.bundle} runs`,
          columns: ['project / environment', 'package', 'version', 'latest qa-signed', 'behind'],
          rows: shown.map((r) => [`${r.project} / ${r.environment}`, r.name, r.version, latestSigned ?? '—', behindText(r)]),
          footer:
            moreFooter(shown.length, rows.length, 'package', 'where-runs', [args.bundle]) ??
            (!rows.length
              ? `No package runs ${args.bundle}.`
              : latestSigned
                ? `${plural(rows.length, 'package', 'packages')}, ${outdated} behind the latest qa-signed version.`
                : `${plural(rows.length, 'package', 'packages')}; no version of ${args.bundle} is qa-signed yet.`),
          data: { bundle: args.bundle, latestQaSigned: latestSigned ?? null, packages: shown, totalPackages: rows.length },
        };
      },
    };
  }

  private environmentQuery() {
    const schema = z.object({ project: word('project'), env: word('env'), top: top(20) }).strict();
    return {
      name: 'environment',
      summary: 'what runs in one environment: packages, versions, status, cost',
      args: [
        { name: 'project', description: 'project id, for example checkout', positional: true, required: true },
        { name: 'env', description: 'environment name, for example production', positional: true, required: true },
        TOP_SPEC(20),
      ],
      schema,
      run: async (args: z.infer<typeof schema>) => {
        const env = await this.engine.environment(args.project, args.env);
        const pkgs = (await this.engine.inventory.packageSummaries())
          .filter((p) => p.environment === env.id)
          .sort((a, b) => (b.costMonthly ?? 0) - (a.costMonthly ?? 0) || a.name.localeCompare(b.name));
        const shown = pkgs.slice(0, args.top);
        const total = cents(pkgs.filter((p) => !GONE.has(p.status)).reduce((s, p) => s + (p.costMonthly ?? 0), 0));
        return {
          title: `What runs in ${env.project} / ${env.name}`,
          columns: ['package', 'bundle', 'version', 'status', 'cost/month'],
          rows: shown.map((p) => [p.name, p.bundle, p.version, p.status, p.costMonthly !== undefined ? money(p.costMonthly) : '—']),
          footer:
            moreFooter(shown.length, pkgs.length, 'package', 'environment', [args.project, args.env]) ??
            `${plural(pkgs.length, 'package', 'packages')}, ${money(total)}/month.`,
          data: { environment: env.id, project: env.project, name: env.name, labels: env.labels, packages: shown, totalPackages: pkgs.length, totalCostMonthly: total },
        };
      },
    };
  }

  private whoChanged() {
    const schema = z.object({ package: word('package'), top: top(20) }).strict();
    return {
      name: 'who-changed',
      summary: "who changed a package, when, and through which surface (from the audit log)",
      args: [{ name: 'package', description: 'package id, for example checkout-production-orders-db', positional: true, required: true }, TOP_SPEC(20)],
      schema,
      run: async (args: z.infer<typeof schema>) => {
        await this.engine.inventory.get('package', args.package);
        // Newest first, one more than shown to know whether there are more.
        const events = await this.engine.inventory.audit.list({ subject: { type: 'package', id: args.package }, order: 'desc', limit: MAX_TOP + 1 });
        const shown = events.slice(0, args.top);
        const changed = (after: unknown): string[] =>
          after && typeof after === 'object' && !Array.isArray(after) ? Object.keys(after as object).filter((k) => !['id', 'revision', 'createdAt', 'updatedAt'].includes(k)) : [];
        const entries = shown.map((e) => ({
          seq: e.seq,
          at: e.at,
          actor: e.actor,
          surface: e.surface,
          action: e.action,
          // Names of the changed members only: their values may be params or artifacts.
          changed: e.action.endsWith('.create') ? [] : changed(e.after),
          ...(e.request ? { request: e.request } : {}),
        }));
        // The audit read stops at MAX_TOP + 1, so beyond that the exact count is not known.
        const rest = events.length > MAX_TOP ? `More than ${MAX_TOP - shown.length} more changes` : plural(events.length - shown.length, 'more change', 'more changes');
        return {
          title: `Who changed ${args.package}`,
          columns: ['when', 'who', 'surface', 'what'],
          rows: entries.map((e) => [utcText(e.at), e.actor, e.surface, e.changed.length ? `${e.action} (${e.changed.join(', ')})` : e.action]),
          footer:
            events.length > shown.length
              ? `${rest}: ${moreCommand('who-changed', [args.package], events.length)}`
              : `${plural(entries.length, 'change', 'changes')}, newest first.`,
          data: { package: args.package, changes: entries },
        };
      },
    };
  }

  private leases() {
    const schema = z.object({}).strict();
    return {
      name: 'leases',
      summary: 'preview environments with a lease: when each expires, how far it may be extended, what it costs',
      args: [],
      schema,
      run: async () => {
        const stacks = (await this.engine.stacks?.list()) ?? [];
        const leased = stacks.filter((s) => s.lease && s.phase === 'up').sort((a, b) => a.lease!.expiresAt.localeCompare(b.lease!.expiresAt));
        const entries = leased.map((s) => ({ environment: s.id, template: s.template, ticket: s.origin.ref, expiresAt: s.lease!.expiresAt, maxUntil: s.lease!.maxUntil, costMonthly: s.costMonthly ?? 0 }));
        return {
          title: 'Leases',
          columns: ['environment', 'stack', 'expires', 'at most until', 'monthly', 'ticket'],
          rows: entries.map((e) => [e.environment, e.template, utcText(e.expiresAt), utcText(e.maxUntil), `$${e.costMonthly.toFixed(2)}`, e.ticket]),
          footer: entries.length ? `${plural(entries.length, 'leased environment', 'leased environments')}, soonest to expire first.` : 'No environment is leased.',
          data: { leases: entries },
        };
      },
    };
  }

  private frozen() {
    const schema = z.object({}).strict();
    return {
      name: 'frozen',
      summary: 'environments frozen now: by whom, since when, until when, why, and how many requests wait',
      args: [],
      schema,
      run: async () => {
        const store = this.engine.freezes;
        const freezes = [];
        for (const f of store ? await store.list() : []) if (await store!.active(f.environment)) freezes.push(f);
        const held = (await Promise.all(WAITING_STATES.map((state) => this.engine.requests.list({ state })))).flat().filter((r) => r.decisions.some((d) => d.rule === 'freeze'));
        const waits = (env: string) => held.filter((r) => r.environment === env).length;
        return {
          title: 'Frozen environments',
          columns: ['environment', 'by', 'since', 'until', 'reason', 'waiting'],
          rows: freezes.map((f) => [f.environment, f.by.displayName ?? f.by.id, f.since.slice(0, 16).replace('T', ' '), f.until ? f.until.slice(0, 16).replace('T', ' ') : 'until lifted', f.reason, String(waits(f.environment))]),
          footer: freezes.length ? `${plural(freezes.length, 'environment', 'environments')} frozen.` : 'Nothing is frozen.',
          data: { freezes: freezes.map((f) => ({ ...f, waiting: waits(f.environment) })) },
        };
      },
    };
  }

  private waiting() {
    const schema = z.object({ top: top(20) }).strict();
    return {
      name: 'waiting',
      summary: 'requests awaiting approval or scheduled for a change window, and when the window opens',
      args: [TOP_SPEC(20)],
      schema,
      run: async (args: z.infer<typeof schema>) => {
        const lists = await Promise.all(WAITING_STATES.map((state) => this.engine.requests.list({ state })));
        const all = lists.flat().sort(waitingOrder);
        const shown = all.slice(0, args.top);
        const entries = shown.map((r) => ({
          request: r.id,
          ticket: r.origin.ref,
          surface: r.origin.surface,
          kind: r.kind,
          bundle: r.bundle,
          ...(r.version ? { version: r.version } : {}),
          project: r.project,
          environment: envName(r.project, r.environment),
          state: r.state,
          requestedBy: r.actor.displayName ?? r.actor.id,
          since: r.updatedAt,
          ...(r.scheduledFor ? { windowOpens: r.scheduledFor } : {}),
          waitingFor: waitingFor(r),
        }));
        return {
          title: 'Requests waiting',
          columns: ['request', 'ticket', 'what', 'state', 'waiting for'],
          rows: entries.map((e) => [
            e.request,
            e.ticket,
            `${e.kind} ${e.bundle}${e.version ? ` ${e.version}` : ''} in ${e.project} / ${e.environment}`,
            e.state.replace(/_/g, ' '),
            e.waitingFor,
          ]),
          footer:
            moreFooter(shown.length, all.length, 'request', 'waiting', []) ??
            (all.length ? `${plural(all.length, 'request', 'requests')} waiting.` : 'Nothing is waiting.'),
          data: { requests: entries, total: all.length },
        };
      },
    };
  }

  private driftQuery() {
    const schema = z.object({ project: word('project').optional(), top: top(20) }).strict();
    return {
      name: 'drift',
      summary: 'packages whose reality differs from what was applied: which fields, where, since when (from the last drift check)',
      args: [{ name: 'project', description: 'only this project, for example checkout', positional: true, required: false }, TOP_SPEC(20)],
      schema,
      run: async (args: z.infer<typeof schema>) => {
        const drifted = (await this.engine.inventory.list('package', args.project ? { project: args.project } : {}))
          .filter((p) => !GONE.has(p.status))
          .map(driftEntry)
          .filter((e): e is DriftEntry => e !== undefined)
          .sort((a, b) => a.since.localeCompare(b.since) || a.package.localeCompare(b.package));
        const shown = drifted.slice(0, args.top);
        return {
          title: args.project ? `Drift in ${args.project}` : 'Drift',
          columns: ['project / environment', 'package', 'fields', 'since', 'checked'],
          rows: shown.map((e) => [`${e.project} / ${e.environment}`, e.name, e.fields.map((f) => `${f.label} (${f.class.replace(/_/g, ' ')})`).join(', '), utcText(e.since), utcText(e.checkedAt)]),
          footer:
            moreFooter(shown.length, drifted.length, 'package', 'drift', args.project ? [args.project] : []) ??
            (drifted.length ? `${plural(drifted.length, 'package has', 'packages have')} drifted, oldest drift first.` : 'No package has drifted (as of the last checks).'),
          data: { packages: shown, total: drifted.length },
        };
      },
    };
  }

  private packageQuery() {
    const schema = z.object({ id: word('id') }).strict();
    return {
      name: 'package',
      summary: "a package's status and its last deployment",
      args: [{ name: 'id', description: 'package id, for example checkout-production-orders-db', positional: true, required: true }],
      schema,
      run: async (args: z.infer<typeof schema>) => {
        const pkg = await this.engine.inventory.get('package', args.id);
        const deployments = await this.engine.inventory.list('deployment', { package: pkg.id }, { order: 'desc', limit: 1 });
        const d = deployments[0];
        const last = d
          ? { id: d.id, action: d.action, status: d.status, ...(d.request ? { request: d.request } : {}), ...(d.finishedAt ? { finishedAt: d.finishedAt } : {}), ...(d.startedAt ? { startedAt: d.startedAt } : {}) }
          : undefined;
        // Only identity, status and cost: params and artifacts may hold secrets and are never shown.
        const facts = {
          id: pkg.id,
          project: pkg.project,
          environment: envName(pkg.project, pkg.environment),
          name: pkg.name,
          bundle: pkg.bundle,
          version: pkg.version,
          status: pkg.status,
          ...(pkg.costMonthly !== undefined ? { costMonthly: pkg.costMonthly } : {}),
          updatedAt: pkg.updatedAt,
          revision: pkg.revision,
          lastDeployment: last ?? null,
        };
        const when = last?.finishedAt ?? last?.startedAt;
        return {
          title: `Package ${pkg.id}`,
          columns: ['field', 'value'],
          rows: [
            ['project / environment', `${facts.project} / ${facts.environment}`],
            ['bundle', `${pkg.bundle} ${pkg.version}`],
            ['status', pkg.status],
            ['cost/month', pkg.costMonthly !== undefined ? money(pkg.costMonthly) : '—'],
            ['last deployment', last ? `${last.action} ${last.status}${when ? ` at ${utcText(when)}` : ''} (${last.id})` : 'none yet'],
            ['last change', `${utcText(pkg.updatedAt)} (revision ${pkg.revision})`],
          ],
          footer: `Who changed it: ticket-surface query who-changed ${pkg.id}`,
          data: facts,
        };
      },
    };
  }

  private knownVersions(bundle: string): string[] {
    try {
      return this.engine.registry.versions(bundle);
    } catch (err) {
      if (err instanceof NotFoundError) return [];
      throw err;
    }
  }
}

/** One stack (project + environment) of the most-expensive ranking. */
export interface StackCost {
  project: string;
  environment: string;
  environmentName: string;
  costMonthly: number;
  packages: number;
  /** The three biggest packages, most expensive first. */
  top: { id: string; name: string; costMonthly: number }[];
}

/**
 * Sums package costs per (project, environment) and ranks the stacks, most expensive first
 * (ties by name). Packages without a cost or decommissioned are left out; so is a stack with
 * no costed package. One pass over the summaries plus a sort of the stacks.
 */
export function rankStacks(summaries: readonly PackageSummary[]): StackCost[] {
  const byEnv = new Map<string, { project: string; environment: string; cost: number; pkgs: PackageSummary[] }>();
  for (const p of summaries) {
    if (typeof p.costMonthly !== 'number' || GONE.has(p.status)) continue;
    let s = byEnv.get(p.environment);
    if (!s) byEnv.set(p.environment, (s = { project: p.project, environment: p.environment, cost: 0, pkgs: [] }));
    s.cost += p.costMonthly;
    s.pkgs.push(p);
  }
  const out: StackCost[] = [];
  for (const s of byEnv.values()) {
    const top3: PackageSummary[] = [];
    for (const p of s.pkgs) {
      top3.push(p);
      top3.sort((a, b) => b.costMonthly! - a.costMonthly! || a.name.localeCompare(b.name));
      if (top3.length > 3) top3.pop();
    }
    out.push({
      project: s.project,
      environment: s.environment,
      environmentName: envName(s.project, s.environment),
      costMonthly: cents(s.cost),
      packages: s.pkgs.length,
      top: top3.map((p) => ({ id: p.id, name: p.name, costMonthly: p.costMonthly! })),
    });
  }
  return out.sort((a, b) => b.costMonthly - a.costMonthly || a.environment.localeCompare(b.environment));
}

function usageOf(def: { name: string; args: QueryArgSpec[] }): string {
  const parts = def.args.map((a) => {
    if (a.positional) return a.required ? `<${a.name}>` : `[${a.name}]`;
    const flag = `--${a.name} ${a.name === 'top' ? 'N' : a.name.toUpperCase()}`;
    return a.required ? flag : `[${flag}]`;
  });
  return [def.name, ...parts].join(' ');
}

/** Scheduled ones by when their window opens, then the others oldest first. */
function waitingOrder(a: Request, b: Request): number {
  if (a.scheduledFor && b.scheduledFor) return a.scheduledFor.localeCompare(b.scheduledFor);
  if (a.scheduledFor) return -1;
  if (b.scheduledFor) return 1;
  return a.updatedAt.localeCompare(b.updatedAt) || a.id.localeCompare(b.id);
}

function waitingFor(r: Request): string {
  if (r.scheduledFor) return `window opens ${utcText(r.scheduledFor)}`;
  if (r.state === 'awaiting_approval') {
    const groups = r.decisions.flatMap((d) => (d.outcome === 'needs_approval' && d.approvers ? d.approvers.groups : []));
    return groups.length ? `approval from ${[...new Set(groups)].join(' or ')}` : 'approval';
  }
  return 'apply';
}

/**
 * Splits a query as typed (`most-expensive --top 3`, `where-runs redis-cache`) into an
 * invocation: the first word is the query, other bare words are positional arguments,
 * `--name value` and `--name=value` are named ones. A leading `/ask` is ignored.
 */
export function parseQueryText(tokens: string[] | string): QueryInvocation {
  const list = typeof tokens === 'string' ? tokenize(tokens) : [...tokens];
  if (list[0]?.toLowerCase() === '/ask') list.shift();
  const positional: string[] = [];
  const args: Record<string, string | true> = {};
  for (let i = 0; i < list.length; i++) {
    const t = list[i]!;
    const flag = /^--([a-z0-9][a-z0-9-]*)(?:=(.*))?$/i.exec(t);
    if (!flag) {
      positional.push(t);
      continue;
    }
    if (flag[2] !== undefined) args[flag[1]!] = flag[2];
    else if (i + 1 < list.length && !list[i + 1]!.startsWith('--')) args[flag[1]!] = list[++i]!;
    else args[flag[1]!] = true;
  }
  const [name = '', ...rest] = positional;
  return { name, positional: rest, args };
}

function tokenize(s: string): string[] {
  const out: string[] = [];
  const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
  for (let m = re.exec(s); m; m = re.exec(s)) out.push(m[1] ?? m[2] ?? m[3]!);
  return out;
}

/**
 * An answer as a plain-text table (the CLI's output): title and time, aligned columns, footer.
 * Cells are single-line already; nothing here is surface-specific.
 */
export function answerAsText(answer: Pick<QueryAnswer, 'title' | 'asOf' | 'columns' | 'rows' | 'footer'>): string {
  const table = [answer.columns, ...answer.rows];
  const widths = answer.columns.map((_, i) => Math.max(...table.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string => `  ${r.map((c, i) => c.padEnd(widths[i]!)).join('  ')}`.trimEnd();
  const rows = answer.rows.length ? answer.rows.map(line) : ['  (nothing)'];
  return [`${answer.title} (${utcText(answer.asOf)})`, line(answer.columns), ...rows, ...(answer.footer ? [answer.footer] : [])].join('\n');
}
