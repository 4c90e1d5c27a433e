import { execFileSync } from 'node:child_process';
import { createLogger } from '../engine/logger.ts';
import { PEOPLE, STATUSES } from '../../sandbox/jira/index.ts';
import { startStoryWorld, shiftedClock, type StoryWorld } from './story.ts';
import { conversation, fileDatabaseRequest, syncStoryForms, waitFor } from './story-steps.ts';
import { CLOCK_LINE, DEMO_START, KEEP_HINT, keepInstructions, unseenLines, untilStopped, wantsKeep } from './demo-common.ts';

// `npm run demo`: the developer-requests-a-database story, end to end, on embedded defaults.
// Everything runs privately on this machine: redis-server, PostgreSQL, the Jira sandbox, the
// service and its workers. The clock starts on a Tuesday at 10:00 in Berlin so the staging
// change window (Mon-Fri 07:00-20:00) is open whatever the real time is.

const NAMES: Record<string, string> = {
  [PEOPLE.developer]: 'Dana (developer)',
  [PEOPLE.approver]: 'Ari (approver)',
};

function say(line = ''): void {
  process.stdout.write(`${line}\n`);
}

function indent(lines: string[]): string {
  return lines
    .filter((l) => !/^ts:status:/.test(l.trim()))
    .map((l) => `    ${l}`)
    .join('\n');
}

/** Prints comments of the issue as they appear or change. */
function watchConversation(world: StoryWorld, key: string): () => void {
  const seen = new Map<string, string>();
  const shown = new Set<string>();
  const timer = setInterval(() => {
    for (const c of conversation(world.sandbox, key)) {
      if (seen.get(c.id) === c.text) continue;
      const edited = seen.has(c.id);
      seen.set(c.id, c.text);
      const who = NAMES[c.author] ?? 'ticket-surface';
      say(`  ${edited ? '✎ edited' : '💬 new'} comment by ${who}${c.status ? ' (status comment)' : ''}${edited ? ', what changed' : ''}:`);
      say(indent(unseenLines(c.text, shown)));
      say();
    }
  }, 50);
  return () => clearInterval(timer);
}

async function main(): Promise<number> {
  // `npm run demo -- --story NAME` tells another story: decommission (a database given back),
  // preview (a preview stack with a lease), drift (the 2 a.m. story: a hand change found,
  // adopted and reverted).
  const storyAt = process.argv.indexOf('--story');
  const story = storyAt >= 0 ? process.argv[storyAt + 1] : undefined;
  if (story === 'decommission') return (await import('./decommission-story.ts')).runDecommissionDemo();
  if (story === 'preview') return (await import('./preview-demo.ts')).runPreviewDemo();
  if (story === 'drift') return (await import('./drift-demo.ts')).runDriftDemo();
  if (storyAt >= 0) throw new Error(`--story must be decommission, preview or drift, not ${story ?? '(nothing)'}`);
  // `npm run demo -- --surface servicenow` tells the same story in ServiceNow.
  const at = process.argv.indexOf('--surface');
  const surface = at >= 0 ? process.argv[at + 1] : undefined;
  if (surface === 'servicenow') return (await import('./servicenow-demo.ts')).runServiceNowDemo();
  if (surface !== undefined && surface !== 'jira') throw new Error(`--surface must be jira or servicenow, not ${surface}`);
  say('ticket-surface demo: a developer asks for a PostgreSQL database in Jira');
  say('Starting a private redis-server and PostgreSQL, the Jira sandbox, the service and its workers…');
  const world = await startStoryWorld({ logger: createLogger(process.env.LOG_LEVEL ?? 'silent'), clock: shiftedClock(DEMO_START) });
  let stopWatching = () => {};
  try {
    const { engine } = world.runtime.opened;
    const ops = { actor: 'platform-admin', surface: 'cli' as const };
    await engine.createProject({ id: 'checkout', name: 'Checkout' }, ops);
    await engine.createEnvironment({ project: 'checkout', name: 'staging', labels: { production: false } }, ops);
    await engine.attest('postgres-database', '1.4.0', 'qa-signed', 'quinn', ops);
    say(`  service:      ${world.runtime.url}`);
    say(`  Jira sandbox: ${world.sandbox.url}`);
    say(CLOCK_LINE);
    say('  ops created project "checkout", environment "staging" (production: false), and QA signed postgres-database 1.4.0');

    const report = await syncStoryForms(world);
    say(`\n1. forms sync --surface jira: ${report.created.filter((c) => c.startsWith('field')).length} fields created, ${report.writes} write calls`);
    const again = await syncStoryForms(world);
    say(`   a second sync changes nothing: ${again.writes} write calls`);

    say('\n2. Dana files "Infrastructure request" INFRA: postgres-database, staging, orders-db, 50 GiB, not production-critical, team checkout');
    const key = await fileDatabaseRequest(world, PEOPLE.developer, { package: 'orders-db', database: 'checkout_orders', username: 'checkout_app', size: 50 });
    say(`   issue ${key} created; Jira sends a signed webhook to the service\n`);
    stopWatching = watchConversation(world, key);

    await waitFor(() => conversation(world.sandbox, key).find((c) => c.status && /AWAITING APPROVAL/.test(c.text)), 'the plan', 60_000);
    await new Promise((r) => setTimeout(r, 300));
    say(`3. Ari (platform-approvers) moves ${key} to "${STATUSES.approved}" inside the change window\n`);
    world.sandbox.as(PEOPLE.approver).transition(key, STATUSES.approved);

    await waitFor(() => conversation(world.sandbox, key).find((c) => c.status && /APPLIED/.test(c.text)), 'the result', 120_000);
    await new Promise((r) => setTimeout(r, 300));
    stopWatching();

    const env = { ...process.env, ...world.pg.superuserEnv() };
    const db = execFileSync('psql', ['-X', '-A', '-t', '-c', "select datname || ' owned by ' || pg_get_userbyid(datdba) from pg_database where datname = 'checkout_orders'"], { env }).toString().trim();
    say(`4. Real effect, read back from PostgreSQL: database ${db || '(missing!)'}`);
    const violations = world.sandbox.violations();
    say(`   Jira API calls checked against Atlassian's OpenAPI documents: ${violations.length} contract violations`);
    const audit = await engine.verifyAudit();
    say(`   audit log: ${audit.ok ? `${audit.count} events, hash chain intact` : `BROKEN at #${audit.seq}`}`);
    if (!db || violations.length || !audit.ok) return 1;
    if (!wantsKeep(process.argv)) {
      say(`\n${KEEP_HINT}\nDone.`);
      return 0;
    }
    for (const line of keepInstructions(world.runtime.config, 'checkout-staging-orders-db', { service: world.runtime.url ?? '', sandbox: world.sandbox.url })) say(line);
    await untilStopped();
    return 0;
  } finally {
    stopWatching();
    await world.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
