/**
 * `npm run demo -- --surface servicenow`: the developer-requests-a-database story of
 * `npm run demo`, told in ServiceNow. Everything runs privately on this machine: redis-server,
 * PostgreSQL, the ServiceNow sandbox (sending the shipped Business Rule's signed webhooks), the
 * service and its workers. The clock starts on a Tuesday at 10:00 in Berlin so the staging change
 * window (Mon-Fri 07:00-20:00) is open whatever the real time is.
 */
import { execFileSync } from 'node:child_process';
import { createLogger } from '../engine/logger.ts';
import { PEOPLE } from '../../sandbox/servicenow/example-seed.ts';
import { shiftedClock } from './story.ts';
import { startServiceNowWorld, type ServiceNowWorld } from './servicenow-world.ts';
import { orderDatabase, ritmState, syncServiceNowForms, waitFor, workNotes } from './servicenow-steps.ts';
import { CLOCK_LINE, DEMO_START, KEEP_HINT, keepInstructions, unseenLines, untilStopped, wantsKeep } from './demo-common.ts';

function say(line = ''): void {
  process.stdout.write(`${line}\n`);
}

function indent(lines: string[]): string {
  return lines
    .filter((l) => !/^ts:note:/.test(l.trim()))
    .map((l) => `    ${l}`)
    .join('\n');
}

/** Prints work notes of the requested item, and its state, as they appear. */
function watch(world: ServiceNowWorld, ritm: string): () => void {
  const seen = new Set<string>();
  const shown = new Set<string>();
  let state = '';
  const names = new Map<string, string>([[world.sandbox.credentials.username, 'ticket-surface']]);
  const timer = setInterval(() => {
    for (const n of workNotes(world.sandbox, ritm)) {
      if (seen.has(n.id)) continue;
      seen.add(n.id);
      say(`  📝 work note by ${names.get(n.author) ?? n.author}${n.status ? ' (status)' : ''}:`);
      say(indent(unseenLines(n.text, shown)));
      say();
    }
    const now = ritmState(world.sandbox, ritm);
    if (now !== state) {
      state = now;
      say(`  ⇢ requested item state: ${now}\n`);
    }
  }, 50);
  return () => clearInterval(timer);
}

/** Runs the ServiceNow demo; resolves to the process exit code. */
export async function runServiceNowDemo(): Promise<number> {
  say('ticket-surface demo: a developer asks for a PostgreSQL database in ServiceNow');
  say('Starting a private redis-server and PostgreSQL, the ServiceNow sandbox, the service and its workers…');
  const world = await startServiceNowWorld({ logger: createLogger(process.env.LOG_LEVEL ?? 'silent'), clock: shiftedClock(DEMO_START) });
  let stop = () => {};
  try {
    const { engine } = world.runtime.opened;
    const ops = { actor: 'platform-admin', surface: 'cli' as const };
    await engine.createProject({ id: 'checkout', name: 'Checkout' }, ops);
    await engine.createEnvironment({ project: 'checkout', name: 'staging', labels: { production: false } }, ops);
    await engine.attest('postgres-database', '1.4.0', 'qa-signed', 'quinn', ops);
    say(`  service:            ${world.runtime.url}`);
    say(`  ServiceNow sandbox: ${world.sandbox.url}`);
    say(CLOCK_LINE);
    say('  ops created project "checkout", environment "staging" (production: false), and QA signed postgres-database 1.4.0');

    const report = await syncServiceNowForms(world);
    const items = report.created.filter((c) => c.startsWith('catalog item')).length;
    const variables = report.created.filter((c) => c.startsWith('variable')).length;
    say(`\n1. forms sync --surface servicenow: ${items} catalog items, ${variables} variables, ${report.writes} write calls`);
    const again = await syncServiceNowForms(world);
    say(`   a second sync changes nothing: ${again.writes} write calls`);

    say('\n2. Dana orders "PostgreSQL database": staging, orders-db, 50 GiB, not production-critical, team checkout');
    const ritm = await orderDatabase(world, PEOPLE.developer, { package: 'orders-db', database: 'checkout_orders', username: 'checkout_app', size: 50 });
    say(`   ${ritm.number} created; the Business Rule sends a signed webhook, the service reads the item back\n`);
    stop = watch(world, ritm.sysId);

    await waitFor(() => workNotes(world.sandbox, ritm.sysId).find((n) => n.status && /AWAITING APPROVAL/.test(n.text)), 'the plan', 60_000);
    await new Promise((r) => setTimeout(r, 300));
    const approvers = world.sandbox.state.approvalsFor(ritm.sysId).map((a) => world.sandbox.state.records.get(a.approver!)?.name);
    say(`3. Approval records for platform-approvers: ${approvers.join(', ')}. Ari approves ${ritm.number}\n`);
    world.sandbox.as(PEOPLE.approver).approve(ritm.sysId);

    await waitFor(() => workNotes(world.sandbox, ritm.sysId).find((n) => n.status && /APPLIED/.test(n.text)), 'the result', 120_000);
    await new Promise((r) => setTimeout(r, 300));
    stop();

    const env = { ...process.env, ...world.pg.superuserEnv() };
    const db = execFileSync('psql', ['-X', '-A', '-t', '-c', "select datname || ' owned by ' || pg_get_userbyid(datdba) from pg_database where datname = 'checkout_orders'"], { env }).toString().trim();
    say(`4. Real effect, read back from PostgreSQL: database ${db || '(missing!)'}`);
    const violations = world.sandbox.violations();
    say(`   ServiceNow API calls checked against the platform's OpenAPI exports and documented examples: ${violations.length} contract violations`);
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
    stop();
    await world.close();
  }
}
