/** Attestations and the audit log: `attest`, `audit list`, `audit verify`. */
import type { CommandContext } from './command.ts';
import { print } from './io.ts';

/** `attest <bundle>@<version> <kind> --by <user> [--note text]`. */
export async function attest({ io, args, options, json, actor, engine }: CommandContext): Promise<number> {
  const [target, kind] = args;
  const by = options.str('by');
  const at = target?.lastIndexOf('@') ?? -1;
  if (!target || at < 1 || !kind || !by) {
    io.err('usage: ticket-surface attest <bundle>@<version> <kind> --by <user> [--note text]');
    return 2;
  }
  const a = await (await engine()).attest(target.slice(0, at), target.slice(at + 1), kind, by, actor, options.str('note'));
  print(io, json, a, () => `${target} attested ${a.kind} by ${a.by} at ${a.at}`);
  return 0;
}

/** `audit list [--limit N] [--json]`: the last N events (default 50), oldest first. */
export async function auditList({ io, options, json, engine }: CommandContext): Promise<number> {
  const limit = options.str('limit') ? Number(options.str('limit')) : 50;
  const events = await (await engine()).listAudit({ limit, order: 'desc' });
  events.reverse();
  print(io, json, events, () => events.map((e) => `#${e.seq} ${e.at} ${e.surface}/${e.actor} ${e.action} ${e.subject.type}:${e.subject.id}`).join('\n') || '(empty)');
  return 0;
}

/** `audit verify`: exit 0 when the hash chain is intact, else 1 naming the first bad event. */
export async function auditVerify({ io, engine }: CommandContext): Promise<number> {
  const v = await (await engine()).verifyAudit();
  if (v.ok) {
    io.out(`ok: ${v.count} event${v.count === 1 ? '' : 's'}, chain intact`);
    return 0;
  }
  io.out(`audit chain broken at event #${v.seq}: ${v.reason}`);
  return 1;
}
