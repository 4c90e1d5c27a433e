/** Drift from the command line: `drift check <package>`. */
import { openFindings } from '../../engine/drift-merge.ts';
import type { DriftFinding } from '../../engine/model.ts';
import type { DriftCheckOutcome } from '../../workflow/drift.ts';
import type { CommandContext } from './command.ts';
import { print } from './io.ts';

const show = (v: unknown): string => (v === undefined ? '—' : JSON.stringify(v));

/** One line per finding that differs: field, class, the three values, owner and proposal. */
function findingLine(f: DriftFinding): string {
  const proposal = f.ignoredUntil ? `ignored until ${f.ignoredUntil.slice(0, 10)}` : f.proposal;
  return `  ${f.field}: ${f.class}; last applied ${show(f.lastApplied)}, desired ${show(f.desired)}, observed ${show(f.observed)}; owner ${f.owner}; proposal ${proposal}`;
}

/** The text of a check's outcome: in sync, or each field that differs, or why the check could not run. */
export function driftCheckText(outcome: DriftCheckOutcome): string {
  const id = outcome.package.id;
  if (outcome.error) return `✘ drift check of ${id} could not run${outcome.error.step ? ` (step ${outcome.error.step})` : ''}: ${outcome.error.message}`;
  const open = openFindings(outcome.findings);
  if (open.length === 0) return `✔ ${id} is in sync with what was applied`;
  return [`✘ ${id}: ${open.length} ${open.length === 1 ? 'field differs' : 'fields differ'} from what was applied`, ...open.map(findingLine)].join('\n');
}

/**
 * `drift check <package> [--json]`: reads reality (never changes it), stores what it saw on the
 * package and prints the findings; exit 0 in sync, 1 drifted or when the check could not run.
 * Authorized as `drift.check` for the operating-system user's person.
 */
export async function driftCheck(ctx: CommandContext): Promise<number> {
  const id = ctx.args[0];
  if (!id) {
    ctx.io.err('usage: ticket-surface drift check <package> [--json]');
    return 2;
  }
  const opened = await ctx.openWorkflow(ctx.config, { logLevel: ctx.io.env.LOG_LEVEL ?? 'silent' });
  try {
    if (!opened.drift || !opened.authorizer) throw new Error('this service has no drift desk');
    const principal = opened.authorizer.cliPrincipal(ctx.actor.actor);
    await opened.authorizer.require(principal, 'drift.check', { type: 'package', id });
    const outcome = await opened.drift.check(id, { actor: opened.authorizer.actorOf(principal), surface: 'cli' });
    const open = openFindings(outcome.findings);
    print(ctx.io, ctx.json, { package: id, inSync: !outcome.error && open.length === 0, findings: outcome.findings, ...(outcome.error ? { error: outcome.error } : {}) }, () => driftCheckText(outcome));
    return outcome.error || open.length > 0 ? 1 : 0;
  } finally {
    await opened.close();
  }
}
