/**
 * `npm run demo -- --story drift`: the 2 a.m. story. A database requested in Jira is changed by
 * hand on the demo's real PostgreSQL (its connection limit, and the owner team recorded on the
 * database); `/drift check` in the ticket writes the drift comment; the requester adopts one
 * field (the data model takes reality's value, nothing is applied) and reverts the other (a
 * normal request: plan, approval, apply). The story prints the real effect read back from
 * PostgreSQL and the audit trail, and exits 0 when everything holds.
 */
import { execFileSync } from 'node:child_process';
import { createLogger } from '../engine/logger.ts';
import type { AuditEvent } from '../engine/model.ts';
import { PEOPLE, STATUSES } from '../../sandbox/jira/index.ts';
import { startStoryWorld, shiftedClock, type StoryWorld } from './story.ts';
import { conversation, fileDatabaseRequest, syncStoryForms, waitFor, type ConversationLine } from './story-steps.ts';
import { CLOCK_LINE, DEMO_START } from './demo-common.ts';

const PACKAGE = 'checkout-staging-orders-db';
const DRIFT_HEAD = new RegExp(`ticket-surface · drift · ${PACKAGE}`);

function say(line = ''): void {
  process.stdout.write(`${line}\n`);
}

function indent(text: string): string {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '' && !/^ts:status:/.test(l.trim()))
    .map((l) => `    ${l}`)
    .join('\n');
}

/** One SQL statement on the demo's PostgreSQL as its superuser; its trimmed output. */
function psql(world: StoryWorld, sql: string): string {
  const env = { ...process.env, ...world.pg.superuserEnv() };
  return execFileSync('psql', ['-X', '-A', '-t', '-c', sql], { env }).toString().trim();
}

/** The owner team the database's comment records (the bundle keeps its settings there). */
function ownerTeam(world: StoryWorld): string {
  const comment = psql(world, "select shobj_description(oid, 'pg_database') from pg_database where datname = 'checkout_orders'");
  return String((JSON.parse(comment || '{}') as { owner_team?: unknown }).owner_team ?? '(none)');
}

/** The issue's drift comment once it says what `match` looks for. */
function driftComment(world: StoryWorld, key: string, match: RegExp, what: string): Promise<ConversationLine> {
  return waitFor(() => conversation(world.sandbox, key).find((c) => DRIFT_HEAD.test(c.text) && match.test(c.text)), what, 60_000);
}

/** The database Dana requested, approved by Ari and applied; its issue key. */
async function requestedDatabase(world: StoryWorld): Promise<string> {
  const sb = world.sandbox;
  const key = await fileDatabaseRequest(world, PEOPLE.developer, { package: 'orders-db', database: 'checkout_orders', username: 'checkout_app', size: 50 });
  await waitFor(() => conversation(sb, key).find((c) => c.status && /AWAITING APPROVAL/.test(c.text)), 'the plan', 60_000);
  await waitFor(async () => ((await world.runtime.jira!['deps'].client.getStatus(key)) === STATUSES.awaitingApproval ? true : undefined), 'the approval status');
  sb.as(PEOPLE.approver).transition(key, STATUSES.approved);
  await waitFor(() => conversation(sb, key).find((c) => c.status && /APPLIED/.test(c.text)), 'the apply', 120_000);
  return key;
}

/** Changes the database by hand, the way someone fixing production at 2 a.m. would. */
function changeByHand(world: StoryWorld): void {
  psql(world, 'ALTER ROLE checkout_app CONNECTION LIMIT 400;');
  const comment = JSON.parse(psql(world, "select shobj_description(oid, 'pg_database') from pg_database where datname = 'checkout_orders'")) as Record<string, unknown>;
  const changed = JSON.stringify({ ...comment, owner_team: 'payments' }).replace(/'/g, "''");
  psql(world, `COMMENT ON DATABASE checkout_orders IS '${changed}';`);
}

/** `/drift revert owner_team`: the revert request is planned, approved by Ari and applied on the same issue. */
async function revertOwnerTeam(world: StoryWorld, key: string): Promise<void> {
  const sb = world.sandbox;
  const applied = conversation(sb, key).filter((c) => !c.status && /^✔ Applied/.test(c.text)).length;
  sb.as(PEOPLE.developer).comment(key, '/drift revert owner_team');
  const filed = await driftComment(world, key, /Revert filed by/, 'the revert in the drift comment');
  say(indent(filed.text.split('\n').find((l) => /Revert filed by/.test(l)) ?? ''));
  const plan = await waitFor(() => conversation(sb, key).find((c) => c.status && /AWAITING APPROVAL/.test(c.text) && /revision/.test(c.text) && /owner_team|1 to change/.test(c.text)), 'the revert plan', 60_000);
  say(indent(plan.text.split('\n').slice(0, 3).join('\n')));
  await waitFor(async () => ((await world.runtime.jira!['deps'].client.getStatus(key)) === STATUSES.awaitingApproval ? true : undefined), 'the approval status');
  say(`   Ari moves ${key} to "${STATUSES.approved}": the revert is applied like any change`);
  sb.as(PEOPLE.approver).transition(key, STATUSES.approved);
  await waitFor(() => (conversation(sb, key).filter((c) => !c.status && /^✔ Applied/.test(c.text)).length > applied ? true : undefined), 'the revert applied', 120_000);
}

/** The audit events of the package that tell the story, oldest first, one line each. */
function auditLines(events: readonly AuditEvent[]): string[] {
  return events.map((e) => `    ${e.at.slice(0, 19).replace('T', ' ')}  ${e.action.padEnd(22)} by ${e.actor} via ${e.surface}${e.reason ? `: ${e.reason}` : ''}`);
}

/** Sets the stage: project, environment, QA signature, synced forms. */
async function stage(world: StoryWorld): Promise<void> {
  const ops = { actor: 'platform-admin', surface: 'cli' as const };
  const { engine } = world.runtime.opened;
  await engine.createProject({ id: 'checkout', name: 'Checkout' }, ops);
  await engine.createEnvironment({ project: 'checkout', name: 'staging', labels: { production: false } }, ops);
  await engine.attest('postgres-database', '1.4.0', 'qa-signed', 'quinn', ops);
  await syncStoryForms(world);
}

/** The story on a started world; true when every check held. */
async function tell(world: StoryWorld): Promise<boolean> {
  const sb = world.sandbox;
  await stage(world);
  say('1. Dana requests orders-db in Jira; Ari approves; the service applies it on the real PostgreSQL');
  const key = await requestedDatabase(world);
  say(`   ${key} applied: connection limit ${psql(world, "select rolconnlimit from pg_roles where rolname = 'checkout_app'")}, owner team ${ownerTeam(world)}`);

  say('\n2. 2 a.m.: someone changes the database by hand, outside any ticket');
  changeByHand(world);
  say(`   ALTER ROLE checkout_app CONNECTION LIMIT 400; and the owner team recorded on the database is now "${ownerTeam(world)}"`);

  say(`\n3. Dana comments "/drift check" on ${key}; the service reads reality (a check changes nothing) and writes:`);
  sb.as(PEOPLE.developer).comment(key, '/drift check');
  say(indent((await driftComment(world, key, /400/, 'the drift comment')).text));

  say('\n4. Dana keeps the new connection limit: "/drift adopt connection_limit" (the data model takes reality\'s value; nothing is applied)');
  sb.as(PEOPLE.developer).comment(key, '/drift adopt connection_limit');
  const adopted = await driftComment(world, key, /Adopted by/, 'the adoption');
  say(indent(adopted.text.split('\n').find((l) => /Adopted by/.test(l)) ?? ''));

  say('\n5. The owner team must stay checkout: "/drift revert owner_team" files a normal request (plan, approval, apply)');
  await revertOwnerTeam(world, key);
  return effectAndAudit(world);
}

/** Prints the real effect and the audit trail; true when reality and the data model agree as the story says. */
async function effectAndAudit(world: StoryWorld): Promise<boolean> {
  const { engine } = world.runtime.opened;
  const limit = psql(world, "select rolconnlimit from pg_roles where rolname = 'checkout_app'");
  const team = ownerTeam(world);
  const pkg = await engine.inventory.get('package', PACKAGE);
  say('\n6. Real effect, read back from PostgreSQL:');
  say(`   connection limit ${limit} (adopted: data model says ${String(pkg.desiredParams.connection_limit)}, reality untouched)`);
  say(`   owner team ${team} (reverted by an approved apply)`);
  const plan = await world.runtime.runner.plan(PACKAGE);
  const noop = [plan.deployment.plan?.add, plan.deployment.plan?.change, plan.deployment.plan?.destroy].every((n) => n === 0);
  say(`   the next plan: ${noop ? 'no changes (the data model and reality agree)' : 'NOT a no-op!'}`);
  const check = await world.runtime.drift.check(PACKAGE, { actor: { id: 'platform-admin', displayName: 'Platform admin' }, surface: 'cli' });
  const open = check.findings.filter((f) => f.class !== 'in_sync').map((f) => f.field);
  say(`   a fresh drift check: ${open.length ? `still differs: ${open.join(', ')}` : 'reality matches what was applied'}`);
  say('\n7. The audit trail of the package (who changed what, where; adopt is recorded as coming from reality):');
  for (const line of auditLines(await engine.inventory.history('package', PACKAGE))) say(line);
  const audit = await engine.verifyAudit();
  const violations = world.sandbox.violations();
  say(`   audit log: ${audit.ok ? `${audit.count} events, hash chain intact` : `BROKEN at #${audit.seq}`}; Jira contract violations: ${violations.length}`);
  return limit === '400' && pkg.desiredParams.connection_limit === 400 && team === 'checkout' && noop && open.length === 0 && audit.ok && violations.length === 0;
}

/** Runs the drift story; the process exit code (0 when everything held). */
export async function runDriftDemo(): Promise<number> {
  say('ticket-surface demo: drift, a three-way merge with reality, decided in the ticket');
  say('Starting a private redis-server and PostgreSQL, the Jira sandbox, the service and its workers…');
  const world = await startStoryWorld({ logger: createLogger(process.env.LOG_LEVEL ?? 'silent'), clock: shiftedClock(DEMO_START) });
  try {
    say(CLOCK_LINE);
    const ok = await tell(world);
    say(ok ? '\nDone.' : '\nSomething did not hold (see above).');
    return ok ? 0 : 1;
  } finally {
    await world.close();
  }
}
