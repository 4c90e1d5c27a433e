/**
 * `token create|list|revoke`: API tokens, made by a platform admin for one person and one role.
 *
 * The CLI acts as the operating-system user, as the directory maps them to a person
 * (`authorizer.cliPrincipal`); the service's TokenStore decides, with the workflow's
 * `token.manage` action, that only an admin may run these commands. Each create and revoke is
 * audited (`token.create`, `token.revoke`) and each refusal too (`authz.refused`). A token is
 * printed once, by `create`; `list` shows the records, never a token or its hash.
 */
import { ValidationError } from '../../engine/errors.ts';
import { ROLES, type Role } from '../../policy/index.ts';
import type { Principal } from '../../workflow/authorize.ts';
import type { ApiToken } from '../../workflow/tokens.ts';
import type { CommandContext, OpenedTrust } from './command.ts';
import { print } from './io.ts';

/** Runs `work` as the CLI user's principal with the service's authorizer and tokens, then closes them. */
async function asCliUser<T>(ctx: CommandContext, work: (trust: OpenedTrust, by: Principal) => Promise<T>): Promise<T> {
  const trust = await ctx.openTrust(ctx.config, { logLevel: ctx.io.env.LOG_LEVEL ?? 'silent' });
  try {
    return await work(trust, trust.authorizer.cliPrincipal(ctx.actor.actor));
  } finally {
    await trust.close();
  }
}

/** `--expires`: an ISO 8601 date or date-time; undefined when absent. */
function expiresAt(value: string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const at = new Date(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(at.getTime())) {
    throw new ValidationError(`--expires ${value}: expected an ISO 8601 date or date-time (2027-01-31 or 2027-01-31T18:00:00Z)`, [{ pointer: '/expiresAt', field: '--expires', message: 'expected an ISO 8601 date or date-time' }]);
  }
  return at;
}

/** One line of `token list`: what the token is, whose, and whether it still works (never its text). */
function tokenLine(t: ApiToken): string {
  const state = t.revokedAt ? `revoked ${t.revokedAt} by ${t.revokedBy}` : t.expiresAt ? `expires ${t.expiresAt}` : 'no expiry';
  return `${t.id}  ${t.person}  ${t.role}  ${t.label ?? '-'}  created ${t.createdAt} by ${t.createdBy}  ${state}`;
}

/** `token create --person <id> --role <role> [--name label] [--expires date]`: prints the token, this once. */
export async function tokenCreate(ctx: CommandContext): Promise<number> {
  const { io, options } = ctx;
  const person = options.str('person');
  const role = options.str('role');
  if (!person || !role) {
    io.err(`usage: ticket-surface token create --person <id> --role <${ROLES.join('|')}> [--name label] [--expires date]`);
    return 2;
  }
  const label = options.str('name');
  const expires = expiresAt(options.str('expires'));
  const input = { person, role: role as Role, ...(label ? { label } : {}), ...(expires ? { expiresAt: expires } : {}) };
  const issued = await asCliUser(ctx, (trust, by) => trust.tokens.create(input, by));
  print(io, ctx.json, issued, () =>
    [
      `API token ${issued.record.id} created for ${issued.record.person} (${issued.record.role}${issued.record.expiresAt ? `, expires ${issued.record.expiresAt}` : ''}).`,
      'It is shown this once and kept only as a hash: copy it now.',
      issued.token,
    ].join('\n'),
  );
  return 0;
}

/** `token list [--person <id>] [--all] [--json]`: the tokens (`--all`: revoked ones too), never their text or hash. */
export async function tokenList(ctx: CommandContext): Promise<number> {
  const person = ctx.options.str('person');
  const filter = { ...(person ? { person } : {}), includeRevoked: ctx.options.flag('all') };
  const tokens = await asCliUser(ctx, (trust, by) => trust.tokens.list(by, filter));
  print(ctx.io, ctx.json, tokens, () => tokens.map(tokenLine).join('\n') || '(no tokens)');
  return 0;
}

/** `token revoke <id> [--note why]`: the token is refused from the next call on. */
export async function tokenRevoke(ctx: CommandContext): Promise<number> {
  const id = ctx.args[0];
  if (!id) {
    ctx.io.err('usage: ticket-surface token revoke <id> [--note why]');
    return 2;
  }
  const revoked = await asCliUser(ctx, (trust, by) => trust.tokens.revoke(id, by, ctx.options.str('note')));
  print(ctx.io, ctx.json, revoked, () => `API token ${revoked.id} of ${revoked.person} revoked (${revoked.revokedAt})`);
  return 0;
}
