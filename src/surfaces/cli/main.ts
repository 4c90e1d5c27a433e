import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { loadConfig, type Config } from '../../config.ts';
import { openEngine, openRegistry, type OpenedEngine } from '../../workflow/bootstrap.ts';
import { UserError, ValidationError, BundleError, ConfigError, type FieldIssue } from '../../engine/errors.ts';
import type { AuditContext } from '../../engine/audit.ts';
import { BundleRegistry } from '../../engine/registry/index.ts';
import type { Labels } from '../../engine/model.ts';

/** Where the CLI writes; tests pass buffers. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  env: NodeJS.ProcessEnv;
  cwd: string;
}

const defaultIo: CliIo = {
  out: (t) => process.stdout.write(t.endsWith('\n') ? t : `${t}\n`),
  err: (t) => process.stderr.write(t.endsWith('\n') ? t : `${t}\n`),
  env: process.env,
  cwd: process.cwd(),
};

const USAGE = `ticket-surface: infrastructure bundles as ticket forms, one engine behind every surface

Usage:
  ticket-surface bundle lint <dir>                 check a bundle; prints ok or each problem (file, JSON pointer)
  ticket-surface bundle list [--json]              bundles and their versions
  ticket-surface project create <id> [--name N]
  ticket-surface env create <project> <name> [--label key=value ...]
  ticket-surface env list [--project P] [--json]
  ticket-surface package create --project P --env E --name N --bundle B [--version V]
                                [--params file.json] [--set key=value ...]
  ticket-surface package show <id> [--json] [--reveal]   (--reveal shows secrets; audited)
  ticket-surface package list [--project P] [--env E] [--json]
  ticket-surface attest <bundle>@<version> <kind> --by <user> [--note text]
  ticket-surface audit list [--limit N] [--json]
  ticket-surface audit verify
  ticket-surface request list [--state S] [--json]
  ticket-surface request show <id> [--json]
  ticket-surface query [<name> [args]] [--json]    read-only questions, for example: query most-expensive --top 5,
                                                 query where-runs redis-cache; without a name lists every query
  ticket-surface approve <request> --as <user>     approve the request's current plan (checked against policy)
  ticket-surface reject <request> --as <user> [--note why]
  ticket-surface webhook inspect --surface jira <payload.json> [--headers headers.json]
                                                 the normalized event a delivery becomes, or why it is refused
  ticket-surface forms sync --surface jira|servicenow
  ticket-surface form render <bundle-dir> [--overlay file] --surface jira|servicenow [--format json|text]
  ticket-surface form values <bundle-dir> --surface jira|servicenow --values file.json

Environment: REDIS_URL (unset: a private redis-server in DATA_DIR), BUNDLE_PATH,
ARTIFACT_DEFINITIONS_PATH, SCHEMA_MIRROR; see README.md.
Acting user: --as <user> or TS_ACTOR (default: $USER).`;

function issueLine(i: FieldIssue, cwd: string): string {
  const where = i.file ? `${relative(cwd, i.file) || i.file}${i.line ? `:${i.line}` : ''}` : '';
  const ptr = i.pointer !== undefined ? `#${i.pointer}` : '';
  const label = i.field ? `${i.field}: ` : '';
  return `${where}${ptr} ${label}${i.message}`.trim();
}

/** Parses `--set a=1 --set b.c=true` into an object (values parsed as JSON when they parse). */
function parseSets(sets: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const s of sets) {
    const eq = s.indexOf('=');
    if (eq < 1) throw new ValidationError(`--set ${s}: expected key=value`, [{ pointer: '', field: '--set', message: 'expected key=value' }]);
    const path = s.slice(0, eq).split('.');
    const raw = s.slice(eq + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      value = raw;
    }
    let cur = out;
    path.slice(0, -1).forEach((k) => {
      cur[k] = (cur[k] as Record<string, unknown>) ?? {};
      cur = cur[k] as Record<string, unknown>;
    });
    cur[path[path.length - 1]!] = value;
  }
  return out;
}

function parseLabels(labels: string[]): Labels {
  const out: Labels = {};
  for (const l of labels) {
    const eq = l.indexOf('=');
    if (eq < 1) throw new ValidationError(`--label ${l}: expected key=value`, [{ pointer: '/labels', field: '--label', message: 'expected key=value' }]);
    const v = l.slice(eq + 1);
    out[l.slice(0, eq)] = v === 'true' ? true : v === 'false' ? false : /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v;
  }
  return out;
}

/**
 * The words after `query`, without the CLI's own options: parseArgs would read `--top 5` as a
 * boolean flag and a stray positional, so query arguments are taken from argv as typed.
 */
function queryTokens(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = argv.indexOf('query') + 1; i < argv.length; i++) {
    const t = argv[i]!;
    if (t === '--json' || t.startsWith('--as=')) continue;
    if (t === '--as') {
      i++;
      continue;
    }
    out.push(t);
  }
  return out;
}

function print(io: CliIo, json: boolean, value: unknown, text: () => string): void {
  io.out(json ? JSON.stringify(value, null, 2) : text());
}

/** Runs the CLI; returns the exit code. */
export async function main(argv: string[], io: CliIo = defaultIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: false,
    options: {
      json: { type: 'boolean' },
      reveal: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
      as: { type: 'string' },
      by: { type: 'string' },
      note: { type: 'string' },
      name: { type: 'string' },
      project: { type: 'string' },
      env: { type: 'string' },
      bundle: { type: 'string' },
      version: { type: 'string' },
      params: { type: 'string' },
      set: { type: 'string', multiple: true },
      label: { type: 'string', multiple: true },
      limit: { type: 'string' },
      state: { type: 'string' },
      surface: { type: 'string' },
      headers: { type: 'string' },
      overlay: { type: 'string' },
      format: { type: 'string' },
      values: { type: 'string' },
    },
  });
  const str = (k: string): string | undefined => (typeof values[k] === 'string' ? (values[k] as string) : undefined);
  const list = (k: string): string[] => (Array.isArray(values[k]) ? (values[k] as string[]) : []);
  const json = values.json === true;
  const [cmd, sub, ...rest] = positionals;
  if (!cmd || values.help) {
    io.out(USAGE);
    return cmd || values.help ? 0 : 2;
  }

  let config: Config;
  try {
    config = loadConfig(io.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      io.err(`configuration error: ${err.message}`);
      return 2;
    }
    throw err;
  }
  const ctx: AuditContext = { actor: str('as') ?? io.env.TS_ACTOR ?? io.env.USER ?? 'cli', surface: 'cli' };

  let opened: OpenedEngine | undefined;
  const engine = async () => (opened ??= await openEngine(config)).engine;
  try {
    switch (`${cmd} ${sub ?? ''}`.trim()) {
      case 'bundle lint': {
        const dir = rest[0];
        if (!dir) {
          io.err('usage: ticket-surface bundle lint <dir>');
          return 2;
        }
        const registry = new BundleRegistry({
          bundlePaths: [],
          artifactDefinitionPaths: config.ARTIFACT_DEFINITIONS_PATH.map((p) => resolve(io.cwd, p)),
          ...(config.SCHEMA_MIRROR ? { schemaMirror: resolve(io.cwd, config.SCHEMA_MIRROR) } : {}),
          allowNetwork: config.SCHEMA_ALLOW_NETWORK,
        });
        const issues = await registry.lint(resolve(io.cwd, dir));
        if (issues.length === 0) {
          io.out('ok');
          return 0;
        }
        for (const i of issues) io.out(issueLine(i, io.cwd));
        io.err(`${issues.length} problem${issues.length === 1 ? '' : 's'}`);
        return 1;
      }
      case 'bundle list': {
        const { registry, issues } = await openRegistry(config);
        const bundles = [...new Set(registry.list().map((b) => b.name))].sort().map((name) => ({ name, versions: registry.versions(name) }));
        print(io, json, { bundles, issues }, () =>
          bundles.map((b) => `${b.name}  ${b.versions.join(', ')}`).join('\n') +
          (issues.length ? `\n\n${issues.length} bundle problem(s):\n${issues.map((i) => `  ${issueLine(i, io.cwd)}`).join('\n')}` : ''),
        );
        return 0;
      }
      case 'project create': {
        const id = rest[0];
        if (!id) {
          io.err('usage: ticket-surface project create <id> [--name N]');
          return 2;
        }
        const p = await (await engine()).createProject({ id, name: str('name') ?? id }, ctx);
        print(io, json, p, () => `project ${p.id} created (revision ${p.revision})`);
        return 0;
      }
      case 'env create': {
        const [project, name] = rest;
        if (!project || !name) {
          io.err('usage: ticket-surface env create <project> <name> [--label key=value ...]');
          return 2;
        }
        const e = await (await engine()).createEnvironment({ project, name, labels: parseLabels(list('label')) }, ctx);
        print(io, json, e, () => `environment ${e.id} created (labels: ${JSON.stringify(e.labels)})`);
        return 0;
      }
      case 'env list': {
        const project = str('project');
        const envs = await (await engine()).listEnvironments(project ? { project } : {});
        print(io, json, envs, () => envs.map((e) => `${e.id}  ${JSON.stringify(e.labels)}`).join('\n') || '(none)');
        return 0;
      }
      case 'package create': {
        const missing = ['project', 'env', 'name', 'bundle'].filter((k) => !str(k));
        if (missing.length) {
          io.err(`missing ${missing.map((m) => `--${m}`).join(', ')}`);
          return 2;
        }
        let params: Record<string, unknown> = {};
        const file = str('params');
        if (file) {
          try {
            params = JSON.parse(readFileSync(resolve(io.cwd, file), 'utf8')) as Record<string, unknown>;
          } catch (e) {
            io.err(`--params ${file}: ${(e as Error).message}`);
            return 2;
          }
        }
        params = { ...params, ...parseSets(list('set')) };
        const pkg = await (await engine()).createPackage(
          { project: str('project')!, environment: str('env')!, name: str('name')!, bundle: str('bundle')!, ...(str('version') ? { version: str('version') } : {}), params },
          ctx,
        );
        print(io, json, pkg, () => `package ${pkg.id} created: ${pkg.bundle}@${pkg.version}, status ${pkg.status}${pkg.costMonthly !== undefined ? `, ~$${pkg.costMonthly.toFixed(2)}/month` : ''}`);
        return 0;
      }
      case 'package show': {
        const id = rest[0];
        if (!id) {
          io.err('usage: ticket-surface package show <id>');
          return 2;
        }
        const pkg = values.reveal === true ? await (await engine()).revealPackage(id, ctx) : await (await engine()).getPackage(id);
        print(io, json, pkg, () =>
          [
            `${pkg.id}  ${pkg.bundle}@${pkg.version}  ${pkg.status}  revision ${pkg.revision}`,
            `  environment: ${pkg.environment}`,
            `  desired params: ${JSON.stringify(pkg.desiredParams)}`,
            ...(pkg.lastAppliedParams ? [`  last applied:   ${JSON.stringify(pkg.lastAppliedParams)}`] : []),
            ...(pkg.costMonthly !== undefined ? [`  cost: $${pkg.costMonthly.toFixed(2)}/month`] : []),
            ...Object.entries(pkg.artifacts).map(([n, a]) => `  artifact ${n}: ${JSON.stringify(a)}`),
          ].join('\n'),
        );
        return 0;
      }
      case 'package list': {
        const f: Record<string, string> = {};
        if (str('project')) f.project = str('project')!;
        if (str('env')) f.environment = str('env')!.includes('-') ? str('env')! : `${str('project')}-${str('env')}`;
        const pkgs = await (await engine()).listPackages(f);
        print(io, json, pkgs, () => pkgs.map((p) => `${p.id}  ${p.bundle}@${p.version}  ${p.status}`).join('\n') || '(none)');
        return 0;
      }
      case 'audit list': {
        const limit = str('limit') ? Number(str('limit')) : 50;
        const events = await (await engine()).listAudit({ limit, order: 'desc' });
        events.reverse();
        print(io, json, events, () => events.map((e) => `#${e.seq} ${e.at} ${e.surface}/${e.actor} ${e.action} ${e.subject.type}:${e.subject.id}`).join('\n') || '(empty)');
        return 0;
      }
      case 'audit verify': {
        const v = await (await engine()).verifyAudit();
        if (v.ok) {
          io.out(`ok: ${v.count} events, chain intact`);
          return 0;
        }
        io.out(`audit chain broken at event #${v.seq}: ${v.reason}`);
        return 1;
      }
      case 'request list': {
        const state = str('state');
        const reqs = await (await engine()).listRequests(state ? { state: state as never } : {});
        print(io, json, reqs, () => reqs.map((r) => `${r.id}  ${r.state}  ${r.kind} ${r.bundle}${r.version ? `@${r.version}` : ''} in ${r.environment}  (${r.origin.surface} ${r.origin.ref})`).join('\n') || '(none)');
        return 0;
      }
      case 'request show': {
        const id = rest[0];
        if (!id) {
          io.err('usage: ticket-surface request show <id>');
          return 2;
        }
        const r = await (await engine()).getRequest(id);
        print(io, json, r, () =>
          [
            `${r.id}  ${r.state}  revision ${r.contentRevision}  ${r.kind} ${r.bundle}${r.version ? `@${r.version}` : ''}`,
            `  environment: ${r.environment}   package: ${r.package ?? '-'}   from: ${r.origin.surface} ${r.origin.ref}`,
            ...(r.plan ? [`  plan ${r.plan.hash.slice(0, 8)}: ${r.plan.summary.add} to add · ${r.plan.summary.change} to change · ${r.plan.summary.destroy} to destroy`] : []),
            ...r.decisions.map((d) => `  ${d.outcome.padEnd(14)} ${d.reason}`),
            ...r.approvals.map((a) => `  approved by ${a.by.id} for plan ${a.planHash.slice(0, 8)} at ${a.at}`),
            ...(r.scheduledFor ? [`  scheduled for ${r.scheduledFor}`] : []),
            ...(r.issues ?? []).map((i) => `  ✘ ${i.field ?? i.pointer}: ${i.message}`),
          ].join('\n'),
        );
        return 0;
      }
      default:
        if (cmd === 'approve' || cmd === 'reject') {
          const id = sub;
          const as = str('as');
          if (!id || !as) {
            io.err(`usage: ticket-surface ${cmd} <request> --as <user>`);
            return 2;
          }
          const { startRuntime } = await import('../../runtime.ts');
          const { createLogger } = await import('../../engine/logger.ts');
          const runtime = await startRuntime({ config, logger: createLogger(io.env.LOG_LEVEL ?? 'silent'), http: false, workers: false });
          try {
            const who = runtime.workflow;
            if (cmd === 'approve') {
              const out = await who.approve({ requestId: id, approver: { id: as }, surface: 'cli' });
              io.out(out.counted ? `✔ ${out.message}${out.satisfied ? ` Request is ${out.request.state}.` : ''}` : `✘ ${out.message}`);
              return out.counted ? 0 : 1;
            }
            const r = await who.close(id, 'rejected', { id: as }, 'cli', str('note'));
            io.out(`request ${r.id} ${r.state}`);
            return 0;
          } finally {
            await runtime.close();
          }
        }
        if (cmd === 'query') {
          const { QueryCatalog, parseQueryText, answerAsText } = await import('../../workflow/queries.ts');
          const catalog = new QueryCatalog(await engine());
          const invocation = parseQueryText(queryTokens(argv));
          if (!invocation.name) {
            print(io, json, catalog.list(), () => `Queries:\n${catalog.usage().map((u) => `  ${u}`).join('\n')}`);
            return 0;
          }
          const answer = await catalog.ask(invocation, ctx);
          print(io, json, answer, () => answerAsText(answer));
          return 0;
        }
        if (`${cmd} ${sub}` === 'webhook inspect') {
          const { inspectWebhook } = await import('./webhook-inspect.ts');
          return inspectWebhook({ surface: str('surface') ?? 'jira', payload: rest[0], headers: str('headers') }, io, config);
        }
        if (cmd === 'forms' || cmd === 'form') {
          const mod = await import('./forms-commands.ts');
          return cmd === 'forms' ? mod.formsCommand(argv.slice(1), io, config) : mod.formCommand(argv.slice(1), io, config);
        }
        if (cmd === 'attest') {
          const target = sub;
          const kind = rest[0];
          const by = str('by');
          const at = target?.lastIndexOf('@') ?? -1;
          if (!target || at < 1 || !kind || !by) {
            io.err('usage: ticket-surface attest <bundle>@<version> <kind> --by <user> [--note text]');
            return 2;
          }
          const a = await (await engine()).attest(target.slice(0, at), target.slice(at + 1), kind, by, ctx, str('note'));
          print(io, json, a, () => `${target} attested ${a.kind} by ${a.by} at ${a.at}`);
          return 0;
        }
        io.err(`unknown command: ${positionals.join(' ')}\n\n${USAGE}`);
        return 2;
    }
  } catch (err) {
    if (err instanceof UserError) {
      io.err(`error: ${err.message}`);
      if (err instanceof ValidationError || err instanceof BundleError) for (const i of err.issues) io.err(`  ${issueLine(i, io.cwd)}`);
      return 1;
    }
    throw err;
  } finally {
    await opened?.close();
  }
}
