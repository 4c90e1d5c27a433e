/**
 * What a surface adapter turns an inbound delivery (a Jira webhook, a ServiceNow business-rule
 * call) into: one neutral event the queue can act on without knowing the surface's payload shape.
 * Field values stay raw (keyed by the surface's field id); the form's reverse mapping turns them
 * into typed params later, where every error can be mapped back to a field label.
 */
import type { Actor, SurfaceName } from '../../engine/model.ts';

/** Kinds of event a delivery can become. */
export type SurfaceEventKind = 'request.created' | 'request.updated' | 'request.status_changed' | 'command' | 'ignored';

/** A command written in a comment, for example `/ask most-expensive --top 3`. */
export interface SurfaceCommand {
  /** Lower-case name without the slash: `plan`, `apply`, `cancel`, `ask`. */
  name: string;
  /** Positional arguments: `['most-expensive']`. */
  args: string[];
  /** `--key value` and bare `--flag` options: `{ top: '3' }`. */
  flags: Record<string, string | true>;
  /** The command line as written (sanitised of control characters). */
  raw: string;
}

/** One normalized inbound event. */
export interface SurfaceEvent {
  kind: SurfaceEventKind;
  /** The surface's delivery id, the same across retries of one delivery: the dedupe key. */
  deliveryId: string;
  /** How many times the surface says it retried this delivery (0 for the first attempt). */
  retry: number;
  surface: SurfaceName;
  /** Ticket reference (Jira issue key, ServiceNow number). */
  ref: string;
  /** The surface's internal id of the ticket (Jira issue id, ServiceNow sys_id). */
  ticketId?: string;
  /** A link a person can open. */
  url?: string;
  /** Who did it. */
  actor: Actor;
  /** The surface's project / catalog the ticket belongs to (Jira project key). */
  project?: string;
  /** The surface's ticket type (Jira issue type name). */
  issueType?: string;
  /** Raw field values as submitted, keyed by the surface's field id. */
  fields: Record<string, unknown>;
  /** Ids of the fields this delivery changed (updates only). */
  changed: string[];
  /** Status names before and after, for status changes. */
  fromStatus?: string;
  toStatus?: string;
  /** The command, for `kind: 'command'`. */
  command?: SurfaceCommand;
  /** The comment's id on the surface, for commands. */
  commentId?: string;
  /** Why the delivery is ignored, for `kind: 'ignored'`. */
  ignoreReason?: string;
  /** When the surface says the event happened (ISO). */
  at?: string;
}

/**
 * Parses a slash command from the first non-empty line of a comment: `/apply`,
 * `/ask most-expensive --top 3`, `/ask "most expensive" --top=3`. Returns undefined when the
 * comment does not start with a command.
 */
export function parseCommand(text: string): SurfaceCommand | undefined {
  const line = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .find((l) => l.length > 0);
  if (!line) return undefined;
  const m = /^\/([a-z][a-z0-9-]*)(?:\s+(.*))?$/i.exec(line);
  if (!m) return undefined;
  const tokens = tokenize(m[2] ?? '');
  const args: string[] = [];
  const flags: Record<string, string | true> = {};
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    const flag = /^--([a-z0-9][a-z0-9-]*)(?:=(.*))?$/i.exec(t);
    if (!flag) {
      args.push(t);
      continue;
    }
    if (flag[2] !== undefined) flags[flag[1]!] = flag[2];
    else if (i + 1 < tokens.length && !tokens[i + 1]!.startsWith('--')) flags[flag[1]!] = tokens[++i]!;
    else flags[flag[1]!] = true;
  }
  // eslint-disable-next-line no-control-regex
  return { name: m[1]!.toLowerCase(), args, flags, raw: line.replace(/[\u0000-\u001F\u007F]/g, '') };
}

function tokenize(s: string): string[] {
  const out: string[] = [];
  const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
  for (let m = re.exec(s); m; m = re.exec(s)) out.push(m[1] ?? m[2] ?? m[3]!);
  return out;
}
