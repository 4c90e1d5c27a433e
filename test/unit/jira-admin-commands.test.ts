/**
 * Admin commands in Jira tickets: the webhook reads comments in the admin project whatever the
 * issue type (and only comments), and {@link JiraAdminCommands} answers each command once:
 * usage problems and commands outside the admin project are refused before the freeze desk is
 * asked, the refusals outside it audited.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../../src/engine/logger.ts';
import type { AuditEventInput } from '../../src/engine/audit.ts';
import { parseCommand } from '../../src/surfaces/shared/surface-event.ts';
import { normalizeJiraDelivery } from '../../src/surfaces/jira/webhook.ts';
import { JiraAdminCommands, type JiraAdminCommandsDeps } from '../../src/surfaces/jira/admin-commands.ts';
import type { Freeze } from '../../src/workflow/freeze.ts';
import type { Principal } from '../../src/workflow/authorize.ts';

const headers = { 'x-atlassian-webhook-identifier': 'delivery-1' };
const author = { accountId: '712020:admin-quinn', displayName: 'Quinn Platform' };
const issue = (project: string, type: string) => ({ id: '1', key: `${project}-1`, fields: { project: { key: project }, issuetype: { name: type } } });

test('a comment in the admin project is read whatever its issue type; an issue created there is not', () => {
  const config = { projects: { INFRA: { issueTypes: ['Infrastructure request'] } }, adminProject: 'PLAT' };
  const comment = { webhookEvent: 'comment_created', issue: issue('PLAT', 'Task'), comment: { id: 'c1', author, body: '/freeze checkout-staging --reason "Year-end"' } };
  const event = normalizeJiraDelivery(headers, comment, config);
  assert.equal(event.kind, 'command');
  assert.deepEqual([event.command?.name, event.command?.args, event.command?.flags], ['freeze', ['checkout-staging'], { reason: 'Year-end' }]);
  assert.equal(event.project, 'PLAT');
  const created = normalizeJiraDelivery(headers, { webhookEvent: 'jira:issue_created', user: author, issue: issue('PLAT', 'Task') }, config);
  assert.equal(created.kind, 'ignored');
  // Without an admin project, the same comment is ignored as before.
  assert.equal(normalizeJiraDelivery(headers, comment, { projects: config.projects }).kind, 'ignored');
});

/** A freeze desk that records what it was asked; the principal is whoever commented. */
function world(adminProject?: string) {
  const calls: string[] = [];
  const audits: AuditEventInput[] = [];
  const replies: { ref: string; text: string; key: string }[] = [];
  const deps: JiraAdminCommandsDeps = {
    ...(adminProject ? { adminProject } : {}),
    freezes: () => ({
      principalOf: async (caller) => ({ person: { id: 'quinn' }, surface: 'jira', account: caller.actor.id, via: 'Jira account' }) as unknown as Principal,
      freeze: async (id, input) => {
        calls.push(`freeze ${id} ${input.reason} ${input.until?.toISOString() ?? '-'}`);
        return { environment: id, reason: input.reason, by: { id: author.accountId, displayName: 'Quinn Platform' }, since: '2026-11-24T09:00:00.000Z' } satisfies Freeze;
      },
      unfreeze: async (id) => {
        calls.push(`unfreeze ${id}`);
        return { released: [] };
      },
    }),
    audit: { append: async (e) => void audits.push(e) },
    reply: async (ref, text, key) => void replies.push({ ref, text, key }),
  };
  return { admin: new JiraAdminCommands(deps), calls, audits, replies };
}

const log = createLogger('silent');
const at = (project: string, commentId: string) => ({ ref: `${project}-7`, project, actor: { id: author.accountId }, commentId, deliveryId: 'd' });

test('in the admin project: freeze with --until, unfreeze of an environment not frozen, each answered once by its comment', async () => {
  const w = world('OPS');
  await w.admin.handle(at('OPS', 'c1'), parseCommand('/freeze checkout-staging --reason "Year-end" --until 2026-12-24T18:00Z')!, log);
  await w.admin.handle(at('OPS', 'c2'), parseCommand('/unfreeze checkout-staging')!, log);
  assert.deepEqual(w.calls, ['freeze checkout-staging Year-end 2026-12-24T18:00:00.000Z', 'unfreeze checkout-staging']);
  assert.deepEqual(w.replies.map((r) => r.key), ['admin:c1', 'admin:c2']);
  assert.match(w.replies[0]!.text, /^❄ checkout-staging is frozen by Quinn Platform since 2026-11-24 09:00 UTC/);
  assert.equal(w.replies[1]!.text, 'checkout-staging was not frozen: nothing to lift.');
});

test('a bad --until or no environment is refused in the ticket without asking the desk', async () => {
  const w = world('OPS');
  await w.admin.handle(at('OPS', 'c1'), parseCommand('/freeze checkout-staging --reason R --until tomorrow')!, log);
  await w.admin.handle(at('OPS', 'c2'), parseCommand('/unfreeze')!, log);
  assert.deepEqual(w.calls, []);
  assert.match(w.replies[0]!.text, /^✘ \/freeze not done: --until "tomorrow" is not an instant/);
  assert.match(w.replies[1]!.text, /^✘ \/unfreeze not done: name the environment/);
});

test('outside the admin project, or with none configured, the command is refused naming why, and audited', async () => {
  const elsewhere = world('OPS');
  await elsewhere.admin.handle(at('INFRA', 'c1'), parseCommand('/freeze checkout-staging --reason R')!, log);
  assert.deepEqual(elsewhere.calls, []);
  assert.match(elsewhere.replies[0]!.text, /only in issues of the admin project OPS, and INFRA-7 is in INFRA\. Nothing was changed\./);
  assert.deepEqual(elsewhere.audits.map((a) => [a.action, a.surface, a.subject.id]), [['authz.refused', 'jira', 'checkout-staging']]);
  const none = world();
  await none.admin.handle(at('OPS', 'c1'), parseCommand('/unfreeze checkout-staging')!, log);
  assert.match(none.replies[0]!.text, /no admin project is configured \(adminProject in the Jira configuration\)/);
  assert.equal(none.audits.length, 1);
});
