/** The rest of a package's life from the command line: `decommission`. */
import { decommissionIntake } from '../../workflow/decommission.ts';
import type { CommandContext } from './command.ts';
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
