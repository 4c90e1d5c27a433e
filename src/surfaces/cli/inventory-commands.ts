/** Projects, environments and packages: `project create`, `env create|list`, `package create|show|list`. */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Package } from '../../engine/model.ts';
import type { CommandContext } from './command.ts';
import { print } from './io.ts';
import { parseLabels, parseSets } from './options.ts';

/** `project create <id> [--name N]`. */
export async function projectCreate({ io, args, options, json, actor, engine }: CommandContext): Promise<number> {
  const id = args[0];
  if (!id) {
    io.err('usage: ticket-surface project create <id> [--name N]');
    return 2;
  }
  const p = await (await engine()).createProject({ id, name: options.str('name') ?? id }, actor);
  print(io, json, p, () => `project ${p.id} created (revision ${p.revision})`);
  return 0;
}

/** `env create <project> <name> [--label key=value ...]`. */
export async function envCreate({ io, args, options, json, actor, engine }: CommandContext): Promise<number> {
  const [project, name] = args;
  if (!project || !name) {
    io.err('usage: ticket-surface env create <project> <name> [--label key=value ...]');
    return 2;
  }
  const e = await (await engine()).createEnvironment({ project, name, labels: parseLabels(options.list('label')) }, actor);
  print(io, json, e, () => `environment ${e.id} created (labels: ${JSON.stringify(e.labels)})`);
  return 0;
}

/** `env list [--project P] [--json]`. */
export async function envList({ io, options, json, engine }: CommandContext): Promise<number> {
  const project = options.str('project');
  const envs = await (await engine()).listEnvironments(project ? { project } : {});
  print(io, json, envs, () => envs.map((e) => `${e.id}  ${JSON.stringify(e.labels)}`).join('\n') || '(none)');
  return 0;
}

/** The package's params: the `--params` file, then each `--set` over it; undefined (after saying why) when the file does not read. */
function packageParams({ io, options }: CommandContext): Record<string, unknown> | undefined {
  let params: Record<string, unknown> = {};
  const file = options.str('params');
  if (file) {
    try {
      params = JSON.parse(readFileSync(resolve(io.cwd, file), 'utf8')) as Record<string, unknown>;
    } catch (e) {
      io.err(`--params ${file}: ${(e as Error).message}`);
      return undefined;
    }
  }
  return { ...params, ...parseSets(options.list('set')) };
}

/** `package create --project P --env E --name N --bundle B [--version V] [--params file.json] [--set key=value ...]`. */
export async function packageCreate(ctx: CommandContext): Promise<number> {
  const { io, options, json, actor, engine } = ctx;
  const missing = ['project', 'env', 'name', 'bundle'].filter((k) => !options.str(k));
  if (missing.length) {
    io.err(`missing ${missing.map((m) => `--${m}`).join(', ')}`);
    return 2;
  }
  const params = packageParams(ctx);
  if (!params) return 2;
  const version = options.str('version');
  const pkg = await (await engine()).createPackage(
    { project: options.str('project')!, environment: options.str('env')!, name: options.str('name')!, bundle: options.str('bundle')!, ...(version ? { version } : {}), params },
    actor,
  );
  const cost = pkg.costMonthly !== undefined ? `, ~$${pkg.costMonthly.toFixed(2)}/month` : '';
  print(io, json, pkg, () => `package ${pkg.id} created: ${pkg.bundle}@${pkg.version}, status ${pkg.status}${cost}`);
  return 0;
}

/**
 * The package with its secrets, as the operating-system user's person (who needs the admin
 * role: `secrets.reveal`); the reading, or the refusal, is audited.
 */
async function revealedPackage(ctx: CommandContext, id: string): Promise<Package> {
  const trust = await ctx.openTrust(ctx.config, { logLevel: ctx.io.env.LOG_LEVEL ?? 'silent' });
  try {
    return await trust.engine.revealPackage(id, trust.authorizer.cliPrincipal(ctx.actor.actor), trust.authorizer);
  } finally {
    await trust.close();
  }
}

/** `package show <id> [--json] [--reveal]`: `--reveal` shows secrets to an admin, and is audited. */
export async function packageShow(ctx: CommandContext): Promise<number> {
  const { io, args, options, json, engine } = ctx;
  const id = args[0];
  if (!id) {
    io.err('usage: ticket-surface package show <id>');
    return 2;
  }
  const pkg = options.flag('reveal') ? await revealedPackage(ctx, id) : await (await engine()).getPackage(id);
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

/** `package list [--project P] [--env E] [--json]`: `--env` is an environment id, or a name within `--project`. */
export async function packageList({ io, options, json, engine }: CommandContext): Promise<number> {
  const f: Record<string, string> = {};
  const project = options.str('project');
  const env = options.str('env');
  if (project) f.project = project;
  if (env) f.environment = env.includes('-') ? env : `${project}-${env}`;
  const pkgs = await (await engine()).listPackages(f);
  print(io, json, pkgs, () => pkgs.map((p) => `${p.id}  ${p.bundle}@${p.version}  ${p.status}`).join('\n') || '(none)');
  return 0;
}
