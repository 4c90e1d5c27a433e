/** Requests: `request list|show|stuck`, `approve`, `reject`. */
import { DEFAULT_STUCK_AFTER_MS } from '../../workflow/recovery.ts';
import { durationText, formatDuration, parseDuration } from '../../policy/duration.ts';
import type { CommandContext, OpenedWorkflow } from './command.ts';
import { print } from './io.ts';

/** `request list [--state S] [--json]`. */
export async function requestList({ io, options, json, engine }: CommandContext): Promise<number> {
  const state = options.str('state');
  const reqs = await (await engine()).listRequests(state ? { state: state as never } : {});
  print(io, json, reqs, () => reqs.map((r) => `${r.id}  ${r.state}  ${r.kind} ${r.bundle}${r.version ? `@${r.version}` : ''} in ${r.environment}  (${r.origin.surface} ${r.origin.ref})`).join('\n') || '(none)');
  return 0;
}

/** `request show <id> [--json]`: state, plan, policy decisions, approvals and problems. */
export async function requestShow({ io, args, json, engine }: CommandContext): Promise<number> {
  const id = args[0];
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

/**
 * `request stuck [--older-than 2m] [--json]`: requests that waited longer than the bound in a
 * state the engine moves on from, with no job and no outbox entry (the ones the workers' sweep
 * resumes). Read-only. Exit 0 when there are none, 1 when some are stuck (for monitoring).
 */
export async function requestStuck(ctx: CommandContext): Promise<number> {
  const text = ctx.options.str('older-than');
  const olderThanMs = text === undefined ? DEFAULT_STUCK_AFTER_MS : parseDuration(text);
  if (olderThanMs === null) {
    ctx.io.err(`--older-than: "${text}" is not a duration (for example 5m, 2h, 1d)`);
    return 2;
  }
  const stuck = await withWorkflow(ctx, async (_w, opened) => opened.recovery.stuck(olderThanMs));
  const rows = stuck.map(({ request: r, waitedMs }) => ({ id: r.id, state: r.state, waitedMs, bundle: r.bundle, environment: r.environment, origin: r.origin }));
  print(ctx.io, ctx.json, rows, () =>
    rows.length === 0
      ? `no request has waited longer than ${durationText(olderThanMs)} without an owner`
      : rows.map((r) => `${r.id}  ${r.state}  waiting ${formatDuration(r.waitedMs)}  ${r.bundle} in ${r.environment}  (${r.origin.surface} ${r.origin.ref})`).join('\n'),
  );
  return rows.length === 0 ? 0 : 1;
}

/**
 * The request id and the acting user of `approve|reject <request>` (the operating-system user,
 * whom the directory maps to a person), or undefined after printing the usage.
 */
function decisionArgs({ io, args, actor }: CommandContext, command: 'approve' | 'reject'): { id: string; as: string } | undefined {
  const id = args[0];
  if (id) return { id, as: actor.actor };
  io.err(`usage: ticket-surface ${command} <request>`);
  return undefined;
}

/** Runs `fn` against the workflow with the ticket surfaces attached, then closes it. */
async function withWorkflow<T>(ctx: CommandContext, fn: (workflow: OpenedWorkflow['workflow'], opened: OpenedWorkflow) => Promise<T>): Promise<T> {
  const opened = await ctx.openWorkflow(ctx.config, { logLevel: ctx.io.env.LOG_LEVEL ?? 'silent' });
  try {
    return await fn(opened.workflow, opened);
  } finally {
    await opened.close();
  }
}

/** `approve <request>`: approves, as the operating-system user's person, the current plan; exit 1 when policy does not count the approval. */
export async function approve(ctx: CommandContext): Promise<number> {
  const input = decisionArgs(ctx, 'approve');
  if (!input) return 2;
  return withWorkflow(ctx, async (workflow) => {
    const out = await workflow.approve({ requestId: input.id, approver: { id: input.as }, surface: 'cli' });
    ctx.io.out(out.counted ? `✔ ${out.message}${out.satisfied ? ` Request is ${out.request.state}.` : ''}` : `✘ ${out.message}`);
    return out.counted ? 0 : 1;
  });
}

/** `reject <request> [--note why]`, as the operating-system user's person. */
export async function reject(ctx: CommandContext): Promise<number> {
  const input = decisionArgs(ctx, 'reject');
  if (!input) return 2;
  return withWorkflow(ctx, async (workflow) => {
    const r = await workflow.close(input.id, 'rejected', { id: input.as }, 'cli', ctx.options.str('note'));
    ctx.io.out(`request ${r.id} ${r.state}`);
    return 0;
  });
}
