/**
 * `npm run demo -- --story decommission`: a developer gives a database back from the Jira ticket
 * that created it. The database is requested and approved first (so there is something real to
 * give back); then `/decommission` on the same ticket plans the destroy (every resource marked,
 * the destructive warning shown), the approver approves as staging's policy asks, the apply
 * drops the real PostgreSQL database and role, and the package is decommissioned. The story
 * function runs on a world someone else started (the end-to-end test calls it too).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createLogger } from '../engine/logger.ts';
import { PEOPLE, STATUSES } from '../../sandbox/jira/index.ts';
import { startStoryWorld, shiftedClock, type StoryWorld } from './story.ts';
import { conversation, fileDatabaseRequest, syncStoryForms, waitFor, type ConversationLine } from './story-steps.ts';
import { CLOCK_LINE, DEMO_START } from './demo-common.ts';

const run = promisify(execFile);

/** The database the story creates and gives back. */
const DB = { package: 'reports-db', database: 'checkout_reports', username: 'reports_app', size: 20 } as const;

/** What the story saw, for whoever ran it (the demo's exit code, a test's assertions). */
export interface DecommissionStoryResult {
  /** Every check held: the database and role gone, the package decommissioned, no contract violation, the audit chain intact. */
  ok: boolean;
  /** The Jira issue the database was requested and given back on. */
  key: string;
  /** The status comment showing the destroy plan (awaiting approval). */
  destroyPlan: string;
  /** The ticket's final status comment. */
  finalComment: string;
  /** Databases and roles named like the story's, read back from PostgreSQL after the apply. */
  left: { databases: number; roles: number };
}

/** One SQL count on the world's PostgreSQL as its superuser. */
async function count(world: StoryWorld, sql: string): Promise<number> {
  const { stdout } = await run('psql', ['-X', '-A', '-t', '-c', sql], { env: { ...process.env, ...world.pg.superuserEnv() } });
  return Number(stdout.trim());
}

/** Counts of the story's database and role in PostgreSQL. */
async function realObjects(world: StoryWorld): Promise<{ databases: number; roles: number }> {
  return {
    databases: await count(world, `select count(*) from pg_database where datname = '${DB.database}'`),
    roles: await count(world, `select count(*) from pg_roles where rolname = '${DB.username}'`),
  };
}

/** The status comment of `key` once it matches `state` (AWAITING APPROVAL, APPLIED). */
function statusComment(world: StoryWorld, key: string, state: RegExp, what: string): Promise<ConversationLine> {
  return waitFor(() => conversation(world.sandbox, key).find((c) => c.status && state.test(c.text)), what, 120_000);
}

/** Waits until issue `key` is in status `name` (the service moves it after writing its comment). */
function issueIn(world: StoryWorld, key: string, name: string): Promise<true> {
  const { state } = world.sandbox;
  return waitFor(() => (state.statuses.get(state.issue(key).statusId)?.name === name ? true : undefined), `${key} ${name}`, 60_000);
}

/** The comment's text as a person reads it, indented, without the hidden marker. */
function indented(text: string): string {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '' && !/ts:status:/.test(l))
    .map((l) => `    ${l}`)
    .join('\n');
}

/** Sets the stage: project, staging environment, a qa-signed database version, the Jira forms. */
async function stage(world: StoryWorld, say: (line: string) => void): Promise<void> {
  const { engine } = world.runtime.opened;
  const ops = { actor: 'platform-admin', surface: 'cli' as const };
  await engine.createProject({ id: 'checkout', name: 'Checkout' }, ops);
  await engine.createEnvironment({ project: 'checkout', name: 'staging', labels: { production: false } }, ops);
  await engine.attest('postgres-database', '1.4.0', 'qa-signed', 'quinn', ops);
  await syncStoryForms(world);
  say('  ops created project "checkout", environment "staging", QA signed postgres-database 1.4.0, and synced the Jira forms');
}

/** Dana requests the database and Ari approves it: something real to give back. Returns the issue key. */
async function provision(world: StoryWorld, say: (line: string) => void): Promise<string> {
  const key = await fileDatabaseRequest(world, PEOPLE.developer, DB);
  say(`\n1. Dana requested ${DB.package} (database ${DB.database}, role ${DB.username}) in ${key}; Ari approved it`);
  await statusComment(world, key, /AWAITING APPROVAL/, 'the plan');
  await issueIn(world, key, STATUSES.awaitingApproval);
  world.sandbox.as(PEOPLE.approver).transition(key, STATUSES.approved);
  await statusComment(world, key, /APPLIED/, 'the database applied');
  await issueIn(world, key, STATUSES.done);
  const real = await realObjects(world);
  say(`   PostgreSQL now has ${real.databases} database ${DB.database} and ${real.roles} role ${DB.username}`);
  return key;
}

/**
 * Dana gives it back: `/decommission` plans the destroy (shown), Ari approves as staging asks,
 * the apply destroys it. Returns the destroy plan comment and the final one.
 */
async function giveBack(world: StoryWorld, key: string, say: (line: string) => void): Promise<{ destroyPlan: string; finalComment: string }> {
  say(`\n2. The team no longer needs it: Dana comments /decommission on ${key}, the ticket that created it`);
  world.sandbox.as(PEOPLE.developer).comment(key, '/decommission');
  const plan = await statusComment(world, key, /Decommission[\s\S]*AWAITING APPROVAL|AWAITING APPROVAL[\s\S]*Decommission/, 'the destroy plan');
  say('   ticket-surface edits the status comment: the destroy plan, every resource marked, the destructive warning shown');
  say(indented(plan.text));
  await issueIn(world, key, STATUSES.awaitingApproval);
  say(`\n3. Staging's policy needs one approval from platform-approvers: Ari moves ${key} to "${STATUSES.approved}"`);
  world.sandbox.as(PEOPLE.approver).transition(key, STATUSES.approved);
  const done = await waitFor(
    () => conversation(world.sandbox, key).find((c) => c.status && /APPLIED/.test(c.text) && /Decommission/.test(c.text)),
    'the decommission applied',
    120_000,
  );
  await issueIn(world, key, STATUSES.done);
  return { destroyPlan: plan.text, finalComment: done.text };
}

/**
 * Runs the decommission story on `world` (started, nothing staged yet), telling it through
 * `say`; see the module comment.
 */
export async function runDecommissionStory(world: StoryWorld, say: (line: string) => void): Promise<DecommissionStoryResult> {
  await stage(world, say);
  const key = await provision(world, say);
  const { destroyPlan, finalComment } = await giveBack(world, key, say);
  const { engine } = world.runtime.opened;
  const left = await realObjects(world);
  const pkg = await engine.getPackage(`checkout-staging-${DB.package}`);
  say(`\n4. Real effect, read back from PostgreSQL: ${left.databases} database ${DB.database}, ${left.roles} role ${DB.username} left`);
  say(`   package ${pkg.id}: ${pkg.status}, artifacts ${JSON.stringify(pkg.artifacts)}, monthly cost $${pkg.costMonthly ?? 0}`);
  say(`\n5. The ticket's final comment:`);
  say(indented(finalComment));
  const violations = world.sandbox.violations();
  const audit = await engine.verifyAudit();
  say(`\n   Jira API calls checked against Atlassian's OpenAPI documents: ${violations.length} contract violations`);
  say(`   audit log: ${audit.ok ? `${audit.count} events, hash chain intact` : `BROKEN at #${audit.seq}`}`);
  const ok = left.databases === 0 && left.roles === 0 && pkg.status === 'decommissioned' && violations.length === 0 && audit.ok;
  return { ok, key, destroyPlan, finalComment, left };
}

/** `npm run demo -- --story decommission`: starts a private world, runs the story, stops it; the exit code. */
export async function runDecommissionDemo(): Promise<number> {
  const say = (line = ''): void => void process.stdout.write(`${line}\n`);
  say('ticket-surface demo: a developer gives a PostgreSQL database back from its Jira ticket');
  say('Starting a private redis-server and PostgreSQL, the Jira sandbox, the service and its workers…');
  const world = await startStoryWorld({ logger: createLogger(process.env.LOG_LEVEL ?? 'silent'), clock: shiftedClock(DEMO_START) });
  try {
    say(`  service:      ${world.runtime.url}`);
    say(`  Jira sandbox: ${world.sandbox.url}`);
    say(CLOCK_LINE);
    const result = await runDecommissionStory(world, say);
    say(result.ok ? '\nDone: the database and its role are gone for real, the package is decommissioned.' : '\nSomething did not hold (see above).');
    return result.ok ? 0 : 1;
  } finally {
    await world.close();
  }
}
