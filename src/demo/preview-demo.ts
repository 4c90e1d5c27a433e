/**
 * `npm run demo -- --story preview`: a developer asks for a preview environment of the checkout
 * service (the application with its own database and cache, examples/stacks/preview-checkout.yaml)
 * from one Jira issue. It comes up with real objects (a PostgreSQL database and role, a Redis ACL
 * user), is extended once, and when its lease runs out on a moved clock everything is destroyed
 * for real and the issue closed, saying what it cost while it lived.
 */
import { execFileSync } from 'node:child_process';
import { createLogger } from '../engine/logger.ts';
import { PEOPLE, STATUSES } from '../../sandbox/jira/index.ts';
import { startStoryWorld, type StoryWorld } from './story.ts';
import { conversation, waitFor } from './story-steps.ts';
import { DEMO_START } from './demo-common.ts';
import { attestPreviewBundles, movableClock, requestPreviewStack, stackIn } from './preview-steps.ts';

const HOUR = 3600_000;
const ENV = 'checkout-pr-42';

function say(line = ''): void {
  process.stdout.write(`${line}\n`);
}

/** The real objects of the stack, read back from PostgreSQL and Redis. */
async function realObjects(world: StoryWorld): Promise<{ database: boolean; role: boolean; aclUser: boolean }> {
  const env = { ...process.env, ...world.pg.superuserEnv() };
  const count = (sql: string) => execFileSync('psql', ['-X', '-A', '-t', '-c', sql], { env }).toString().trim() === '1';
  const users = (await world.runtime.opened.redis.redis.call('ACL', 'USERS')) as string[];
  return {
    database: count("select count(*) from pg_database where datname = 'checkout_pr_42'"),
    role: count("select count(*) from pg_roles where rolname = 'checkout_pr_42'"),
    aclUser: users.some((u) => u.includes('pr-42')),
  };
}

/** The stack's status comment on issue `key`, as text. */
function statusText(world: StoryWorld, key: string): string {
  return conversation(world.sandbox, key).find((c) => /Stack preview-checkout/.test(c.text))?.text ?? '(no status comment yet)';
}

function show(text: string): void {
  for (const line of text.split('\n').filter((l) => l.trim())) say(`    ${line}`);
}

/** Runs the story; 0 when everything came up and went away for real. */
export async function runPreviewDemo(): Promise<number> {
  say('ticket-surface demo: a preview environment with a lease, from one Jira issue');
  say('Starting a private redis-server and PostgreSQL, the Jira sandbox, the service and its workers…');
  const clock = movableClock(DEMO_START);
  const world = await startStoryWorld({ logger: createLogger(process.env.LOG_LEVEL ?? 'silent'), clock });
  try {
    await world.runtime.opened.engine.createProject({ id: 'checkout', name: 'Checkout' }, { actor: 'platform-admin', surface: 'cli' });
    await attestPreviewBundles(world);
    say('  ops created project "checkout"; QA signed postgres-database, redis-cache and checkout-api 2.14.0');
    const key = requestPreviewStack(world, 'pr-42');
    say(`\n1. Dana opens ${key} with the description "/stack preview-checkout pr-42 --labels owner=dev --replicas 1"`);
    const up = await stackIn(world, ENV, 'up', 180_000);
    await waitFor(() => /Lease: expires/.test(statusText(world, key)), 'the lease in the status comment');
    say(`   the stack is up, producers first (${up.packages.map((p) => p.name).join(' → ')}); its one status comment:`);
    show(statusText(world, key));
    const before = await realObjects(world);
    say(`   real objects: database checkout_pr_42 ${before.database ? '✔' : '✘'}, role checkout_pr_42 ${before.role ? '✔' : '✘'}, Redis ACL user ${before.aclUser ? '✔' : '✘'}`);

    say('\n2. A day later (the demo clock moves 25 h): the reminder, once');
    clock.advance(25 * HOUR);
    await world.runtime.stacks.tick();
    const reminder = await waitFor(() => conversation(world.sandbox, key).find((c) => /Reminder:/.test(c.text)), 'the reminder');
    show(reminder.text);
    say('\n3. Dana comments "/extend 1d"');
    world.sandbox.as(PEOPLE.developer).comment(key, '/extend 1d');
    await waitFor(() => /Lease extended/.test(statusText(world, key)), 'the extension');
    show(statusText(world, key).split('\n').filter((l) => /Lease/.test(l)).join('\n'));

    say('\n4. The lease runs out (the clock moves 2 days): everything destroyed, consumers first');
    clock.advance(48 * HOUR);
    await world.runtime.stacks.tick();
    await stackIn(world, ENV, 'destroyed', 180_000);
    await waitFor(async () => ((await world.runtime.jira!['deps'].client.getStatus(key)) === STATUSES.done ? true : undefined), 'the issue closed');
    show(statusText(world, key));
    const after = await realObjects(world);
    const gone = !after.database && !after.role && !after.aclUser;
    say(`   real objects now: database ${after.database ? 'still there ✘' : 'gone ✔'}, role ${after.role ? 'still there ✘' : 'gone ✔'}, Redis ACL user ${after.aclUser ? 'still there ✘' : 'gone ✔'}; ${key} is "${STATUSES.done}"`);
    const violations = world.sandbox.violations();
    say(`   Jira API calls checked against Atlassian's OpenAPI documents: ${violations.length} contract violations`);
    const ok = before.database && before.role && before.aclUser && gone && violations.length === 0;
    say(ok ? '\nDone.' : '\nSomething did not happen as it should (see above).');
    return ok ? 0 : 1;
  } finally {
    await world.close();
  }
}
