/**
 * Stacks from the command line: `stack request <template> <name>`, `stack extend <environment>
 * <duration>`, `stack resume <environment>`, `stack list`. The same desk as the ticket commands
 * (src/workflow/stacks.ts), as the operating-system user's person. This process runs no workers:
 * the workers' sweep picks up what it changed (the next package, a new lease expiry) from the
 * stored stack.
 */
import { SystemError } from '../../engine/errors.ts';
import type { Stack } from '../../workflow/stack-store.ts';
import type { CommandContext, OpenedWorkflow } from './command.ts';
import { print } from './io.ts';
import { parseLabels } from './options.ts';

/** One line per stack: where it is and when its lease ends. */
function stackLine(s: Stack): string {
  const lease = s.lease && s.phase === 'up' ? `, lease until ${s.lease.expiresAt} (at most ${s.lease.maxUntil})` : '';
  return `${s.id}  ${s.template}  ${s.failed ? `failed at ${s.failed.package}: ${s.failed.message}` : s.phase}${lease}`;
}

/** Who acts: the operating-system user on the CLI (the desk finds their person and checks what they may). */
function cliCaller(ctx: CommandContext): { actor: { id: string }; surface: 'cli' } {
  return { actor: { id: ctx.actor.actor }, surface: 'cli' };
}

/** Runs `fn` with the stack desk, then closes the workflow. */
async function withStacks(ctx: CommandContext, fn: (desk: NonNullable<OpenedWorkflow['stacks']>) => Promise<Stack>): Promise<number> {
  const opened = await ctx.openWorkflow(ctx.config, { logLevel: ctx.io.env.LOG_LEVEL ?? 'silent' });
  try {
    if (!opened.stacks) throw new SystemError('this process serves no stacks');
    const s = await fn(opened.stacks);
    print(ctx.io, ctx.json, s, () => stackLine(s));
    return 0;
  } finally {
    await opened.close();
  }
}

/** `stack request <template> <name> [--label k=v ...] [--set question=answer ...]`. */
export async function stackRequest(ctx: CommandContext): Promise<number> {
  const [template, name] = ctx.args;
  if (!template || !name) {
    ctx.io.err('usage: ticket-surface stack request <template> <name> [--label key=value ...] [--set question=answer ...]');
    return 2;
  }
  const answers = parseLabels(ctx.options.list('set'));
  const origin = { surface: 'cli' as const, ref: `stack-${name}` };
  return withStacks(ctx, (desk) => desk.request({ template, name, labels: parseLabels(ctx.options.list('label')), answers, origin, by: cliCaller(ctx) }));
}

/** `stack extend <environment> <duration>`: within the policy's maximum. */
export async function stackExtend(ctx: CommandContext): Promise<number> {
  const [id, duration] = ctx.args;
  if (!id || !duration) {
    ctx.io.err('usage: ticket-surface stack extend <environment> <duration, for example 1d>');
    return 2;
  }
  return withStacks(ctx, (desk) => desk.extend(id, duration, cliCaller(ctx)));
}

/** `stack resume <environment>`: goes on after a failed package. */
export async function stackResume(ctx: CommandContext): Promise<number> {
  const [id] = ctx.args;
  if (!id) {
    ctx.io.err('usage: ticket-surface stack resume <environment>');
    return 2;
  }
  return withStacks(ctx, (desk) => desk.resume(id, cliCaller(ctx)));
}

/** `stack list [--json]`: every stack, where it is, and its lease. */
export async function stackList(ctx: CommandContext): Promise<number> {
  const stacks = (await (await ctx.engine()).stacks?.list()) ?? [];
  print(ctx.io, ctx.json, stacks, () => stacks.map(stackLine).join('\n') || '(none)');
  return 0;
}
