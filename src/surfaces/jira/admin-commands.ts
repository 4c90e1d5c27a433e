/**
 * Admin commands written in Jira tickets: `/freeze <environment> --reason R [--until instant]`
 * and `/unfreeze <environment>`. They are taken in issues of the configured admin project only
 * (`adminProject` in the Jira configuration); written anywhere else they are refused, audited,
 * with a reply naming the admin project. The freeze itself is the workflow's (freeze.ts), the
 * same call the CLI and the API make: it checks the commenter's admin role as the directory
 * person behind their Jira account, audits, and holds or releases the requests in flight. The
 * answer is one comment on the ticket, written once per command comment.
 */
import { UserError, ValidationError } from '../../engine/errors.ts';
import type { AuditEventInput } from '../../engine/audit.ts';
import type { Logger } from '../../engine/logger.ts';
import type { Actor } from '../../engine/model.ts';
import { ForbiddenError } from '../../workflow/authorize.ts';
import type { Freeze, FreezeDesk } from '../../workflow/freeze.ts';
import type { SurfaceCommand } from '../shared/surface-event.ts';

/** The names of the admin commands (without the slash). */
export const ADMIN_COMMANDS: ReadonlySet<string> = new Set(['freeze', 'unfreeze']);

/** How the commands are written, in a refusal. */
const USAGE = '/freeze <environment> --reason "..." [--until 2026-12-24T18:00Z] · /unfreeze <environment>';

/** The comment a command was written in. */
export interface AdminCommandEvent {
  /** Issue key. */
  ref: string;
  /** Jira project key of the issue. */
  project?: string;
  actor: Actor;
  /** The comment's id (else the delivery's): the answer is written once per command. */
  commentId?: string;
  deliveryId: string;
}

/** Dependencies of {@link JiraAdminCommands}. */
export interface JiraAdminCommandsDeps {
  /** The admin project's key; absent: admin commands are refused in every ticket. */
  adminProject?: string;
  /** The freeze desk (read at each use: the runtime builds it after the adapter). */
  freezes: () => Pick<FreezeDesk, 'freeze' | 'unfreeze' | 'principalOf'> | undefined;
  /** Where a refusal outside the admin project is audited. */
  audit: { append(input: AuditEventInput): Promise<unknown> };
  /** Writes `text` as one comment on issue `ref`, once per `key`. */
  reply(ref: string, text: string, key: string): Promise<void>;
}

/** A minute-precision UTC instant, as tickets show it. */
function minute(iso: string): string {
  return `${iso.slice(0, 16).replace('T', ' ')} UTC`;
}

/** The text a refused command answers with (a validation error lists its fields). */
function refusal(cmd: SurfaceCommand, err: UserError): string {
  const issues = err instanceof ValidationError && err.issues.length ? `: ${err.issues.map((i) => `${i.field ?? i.pointer} ${i.message}`).join('; ')}` : '';
  return `✘ /${cmd.name} not done: ${err.message}${issues}`;
}

/** What a freeze answers. */
function frozenText(f: Freeze): string {
  const until = f.until ? `until ${minute(f.until)}` : 'until it is lifted';
  return `❄ ${f.environment} is frozen by ${f.by.displayName ?? f.by.id} since ${minute(f.since)}, ${until}: "${f.reason}". Approved and scheduled requests there wait, and their tickets say why; /unfreeze ${f.environment} lifts it.`;
}

/** `/freeze` and `/unfreeze` in Jira tickets; see the module comment. */
export class JiraAdminCommands {
  constructor(private readonly deps: JiraAdminCommandsDeps) {}

  /** Runs admin command `cmd` written on `event`'s issue and answers it there (refusals included). */
  async handle(event: AdminCommandEvent, cmd: SurfaceCommand, log: Logger): Promise<void> {
    let text: string;
    try {
      text = await this.run(event, cmd);
      log.info({ command: cmd.name, environment: cmd.args[0] }, 'admin command done');
    } catch (err) {
      if (!(err instanceof UserError)) throw err;
      log.info({ code: err.code, problem: err.message }, 'admin command refused');
      text = refusal(cmd, err);
    }
    await this.deps.reply(event.ref, text, `admin:${event.commentId ?? event.deliveryId}`);
  }

  /** The answer of a command the workflow carried out; a refusal is thrown as a {@link UserError}. */
  private async run(event: AdminCommandEvent, cmd: SurfaceCommand): Promise<string> {
    const desk = this.deps.freezes();
    if (!desk) throw new UserError('config', 'this service cannot freeze environments');
    if (!this.deps.adminProject || event.project !== this.deps.adminProject) await this.refuseElsewhere(event, cmd);
    const env = cmd.args[0];
    if (!env) throw new UserError('validation', `name the environment: ${USAGE}`);
    const principal = await desk.principalOf({ actor: event.actor, surface: 'jira' });
    if (cmd.name === 'unfreeze') {
      const out = await desk.unfreeze(env, principal);
      if (!out.lifted) return `${env} was not frozen: nothing to lift.`;
      const ids = out.released.map((r) => r.id);
      const goes = ids.length ? `${ids.length} held request${ids.length === 1 ? ' goes' : 's go'} ahead, in the order they were approved: ${ids.join(', ')}` : 'no request was waiting on it';
      return `☀ The freeze of ${env} ("${out.lifted.reason}") is lifted; ${goes}.`;
    }
    const reason = typeof cmd.flags.reason === 'string' ? cmd.flags.reason : '';
    const untilText = cmd.flags.until;
    const until = typeof untilText === 'string' ? new Date(untilText) : undefined;
    if (untilText !== undefined && (!until || Number.isNaN(until.getTime()))) {
      throw new UserError('validation', `--until ${typeof untilText === 'string' ? `"${untilText}" ` : ''}is not an instant (for example 2026-12-24T18:00Z)`);
    }
    return frozenText(await desk.freeze(env, { reason, ...(until ? { until } : {}) }, principal));
  }

  /** Audits and throws the refusal of an admin command written outside the admin project. */
  private async refuseElsewhere(event: AdminCommandEvent, cmd: SurfaceCommand): Promise<never> {
    const where = this.deps.adminProject
      ? `it is taken only in issues of the admin project ${this.deps.adminProject}, and ${event.ref} is in ${event.project ?? 'another project'}`
      : 'no admin project is configured (adminProject in the Jira configuration); an admin uses `ticket-surface freeze` or the API';
    const message = `${where}. Nothing was changed.`;
    const needs = this.deps.adminProject ? `an issue of the admin project ${this.deps.adminProject}` : 'an admin project';
    await this.deps.audit.append({
      actor: event.actor.id,
      surface: 'jira',
      action: 'authz.refused',
      subject: { type: 'environment', id: cmd.args[0] || 'unnamed' },
      reason: `/${cmd.name} in ${event.ref}: ${message}`,
      after: { action: 'environment.freeze', needs, ...(event.actor.person ? { person: event.actor.person } : {}) },
    });
    throw new ForbiddenError('environment.freeze', needs, message);
  }
}
