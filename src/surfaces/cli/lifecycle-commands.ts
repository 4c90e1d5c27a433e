/** The rest of a package's life from the command line: `decommission`, `freeze`, `unfreeze`. */
import { SystemError } from '../../engine/errors.ts';
import type { Principal } from '../../workflow/authorize.ts';
import { decommissionIntake } from '../../workflow/decommission.ts';
import type { CommandContext, OpenedWorkflow } from './command.ts';
import { print } from './io.ts';

/**
 * `decommission <package> [--json]`: files a decommission request for the package as the
 * operating-system user's person. The workers plan the destroy and ask policy; approve it with
 * `approve <request>` like any other request.
 */
export async function decommission(ctx: CommandContext): Promise<number> {
  const id = ctx.args[0];
  if (!id) {
    ctx.io.err('usage: ticket-surface decommission <package>');
    return 2;
  }
  const pkg = await (await ctx.engine()).getPackage(id);
  const opened = await ctx.openWorkflow(ctx.config, { logLevel: ctx.io.env.LOG_LEVEL ?? 'silent' });
  try {
    const origin = { surface: 'cli' as const, ref: `cli-${Date.now().toString(36)}` };
    const r = await opened.workflow.submit(decommissionIntake(pkg, { id: ctx.actor.actor }, origin));
    print(ctx.io, ctx.json, r, () => `request ${r.id} filed: decommission ${pkg.id}. The workers plan the destroy; see: ticket-surface request show ${r.id}`);
    return 0;
  } finally {
    await opened.close();
  }
}

/** Runs `fn` with the freeze desk and the CLI user's principal, then closes the workflow. */
async function withFreezes(ctx: CommandContext, fn: (desk: NonNullable<OpenedWorkflow['freezes']>, p: Principal) => Promise<number>): Promise<number> {
  const opened = await ctx.openWorkflow(ctx.config, { logLevel: ctx.io.env.LOG_LEVEL ?? 'silent' });
  try {
    if (!opened.freezes || !opened.authorizer) throw new SystemError('this process cannot freeze environments');
    return await fn(opened.freezes, opened.authorizer.cliPrincipal(ctx.actor.actor));
  } finally {
    await opened.close();
  }
}

/** `freeze <environment> --reason R [--until instant]`: freezes the environment now (admins only). */
export async function freeze(ctx: CommandContext): Promise<number> {
  const env = ctx.args[0];
  const reason = ctx.options.str('reason');
  const untilText = ctx.options.str('until');
  if (!env || !reason) {
    ctx.io.err('usage: ticket-surface freeze <environment> --reason R [--until 2026-12-24T18:00Z]');
    return 2;
  }
  const until = untilText === undefined ? undefined : new Date(untilText);
  if (until && Number.isNaN(until.getTime())) {
    ctx.io.err(`--until: "${untilText}" is not an instant (for example 2026-12-24T18:00Z)`);
    return 2;
  }
  return withFreezes(ctx, async (desk, p) => {
    const f = await desk.freeze(env, { reason, ...(until ? { until } : {}) }, p);
    print(ctx.io, ctx.json, f, () => `❄ ${f.environment} frozen since ${f.since}${f.until ? ` until ${f.until}` : ' until lifted'}: "${f.reason}"`);
    return 0;
  });
}

/** `unfreeze <environment>`: lifts the freeze; the requests it held go ahead in order. */
export async function unfreeze(ctx: CommandContext): Promise<number> {
  const env = ctx.args[0];
  if (!env) {
    ctx.io.err('usage: ticket-surface unfreeze <environment>');
    return 2;
  }
  return withFreezes(ctx, async (desk, p) => {
    const out = await desk.unfreeze(env, p);
    const ids = out.released.map((r) => r.id);
    print(ctx.io, ctx.json, { lifted: out.lifted ?? null, released: ids }, () =>
      out.lifted ? `freeze on ${env} lifted; ${ids.length} request(s) go ahead${ids.length ? `: ${ids.join(', ')}` : ''}` : `${env} was not frozen`,
    );
    return 0;
  });
}
