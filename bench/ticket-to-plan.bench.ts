/**
 * Ticket to plan: time from a Jira issue created to its plan in the status comment, with
 * BENCH_TICKETS (default 100) tickets filed at once; and, for BENCH_APPLIES (default 20) of them
 * approved at once, time from the apply finished (the request marked applied) to the result in
 * the status comment.
 *
 * World: `startStoryWorld` (private redis-server and PostgreSQL, the contract-checked Jira
 * sandbox, the service with its workers and the webhook registered) and the story's
 * `postgres-database` request filed with `fileDatabaseRequest`. Its plan is a real one (the
 * bundle's exec step: a `node` process that reads the PostgreSQL catalog), the lightest plan the
 * example catalog has that needs no extra set-up.
 *
 * Times come from the sandbox's own call log (`sb.calls[].at`: when the service's comment write
 * was answered) and the request's history, not from polling, so they are not rounded to a poll.
 *
 * Baseline, same run: the sandbox's webhook round trip, from issue created to the delivery
 * received by a no-op `node:http` endpoint, for the same number of issues filed at once.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLogger } from '../src/engine/logger.ts';
import { shiftedClock, startStoryWorld, type StoryWorld } from '../src/demo/story.ts';
import { adfPlain, fileDatabaseRequest, syncStoryForms, waitFor } from '../src/demo/story-steps.ts';
import { exampleSeed, PEOPLE, STATUSES, startJiraSandbox, type JiraSandbox } from '../test/sandbox/jira/index.ts';
import { fmt, printTable, summary, verdict, watchdog } from './lib/report.ts';

const TICKETS = Math.min(500, Math.max(1, Number(process.env.BENCH_TICKETS ?? 100)));
const APPLIES = Math.min(TICKETS, Math.max(0, Number(process.env.BENCH_APPLIES ?? 20)));
const WAIT_MS = 300_000;

/** Sandbox webhook round trip to a no-op endpoint: created -> delivery received, in ms per issue. */
async function baselineRoundTrip(count: number): Promise<number[]> {
  const received = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const at = Date.now();
      try {
        const key = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { issue?: { key?: string } }).issue?.key;
        if (key && !received.has(key)) received.set(key, at);
      } catch {
        // not a delivery we sent
      }
      res.writeHead(202);
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const sb: JiraSandbox = await startJiraSandbox({ contract: true, seed: exampleSeed(), webhookSecret: 'bench-webhook-secret-0123456789' });
  try {
    sb.registerWebhook({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, events: ['jira:issue_created'] });
    const created = new Map<string, number>();
    for (let i = 0; i < count; i++) {
      const issue = sb.as(PEOPLE.developer).createIssue({ project: 'INFRA', issueType: 'Infrastructure request', summary: `Baseline ${i}` });
      created.set(issue.key, Date.now());
    }
    await waitFor(() => (received.size >= count ? true : undefined), 'baseline deliveries', WAIT_MS);
    return [...created].map(([key, at]) => received.get(key)! - at);
  } finally {
    await sb.stop();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
}

/** When the service's comment writes on each issue were answered, with their text. */
function commentWrites(sb: JiraSandbox): { key: string; at: number; text: string }[] {
  const keyById = new Map<string, string>();
  const out: { key: string; at: number; text: string }[] = [];
  for (const c of sb.calls) {
    if ((c.method !== 'POST' && c.method !== 'PUT') || c.status < 200 || c.status >= 300) continue;
    const m = /^\/rest\/api\/3\/issue\/([^/]+)\/comment(?:\/[^/]+)?$/.exec(c.path);
    if (!m) continue;
    const idOrKey = m[1]!;
    let key = keyById.get(idOrKey);
    if (key === undefined) {
      key = sb.state.issue(idOrKey).key;
      keyById.set(idOrKey, key);
    }
    const body = (c.body as { body?: unknown } | undefined)?.body;
    out.push({ key, at: c.at.getTime(), text: body ? adfPlain(body) : '' });
  }
  return out;
}

/** First answered comment write on `key` whose text matches `re`, in epoch ms. */
function firstWrite(writes: ReturnType<typeof commentWrites>, key: string, re: RegExp): number | undefined {
  return writes.find((w) => w.key === key && re.test(w.text))?.at;
}

const PLAN = /AWAITING APPROVAL/;
const RESULT = /APPLIED/;

async function main(): Promise<void> {
  let world: StoryWorld | undefined;
  watchdog(900_000, 'ticket-to-plan bench', () => world?.close());

  const baseline = await baselineRoundTrip(TICKETS);

  // Tuesday 10:00 in Berlin: the staging window is open, so approved requests apply at once.
  const clock = shiftedClock(new Date('2026-11-24T09:00:00Z'));
  const clockOffset = clock.now().getTime() - Date.now();
  world = await startStoryWorld({ logger: createLogger('silent'), clock });
  try {
    const { engine } = world.runtime.opened;
    const ctx = { actor: 'platform-admin', surface: 'cli' as const };
    await engine.createProject({ id: 'checkout', name: 'Checkout' }, ctx);
    await engine.createEnvironment({ project: 'checkout', name: 'staging', labels: { production: false } }, ctx);
    await engine.attest('postgres-database', '1.4.0', 'qa-signed', 'quinn', ctx);
    await syncStoryForms(world);
    const sb = world.sandbox;

    // One ticket alone first: warms every path and gives the unloaded figure.
    const lone = await fileDatabaseRequest(world, PEOPLE.developer, { package: 'warm-db', database: 'warm_db', username: 'warm_app', size: 20 });
    const loneCreated = Date.now();
    const lonePlanned = await waitFor(() => firstWrite(commentWrites(sb), lone, PLAN), 'the lone plan comment', 60_000);

    // The load: every ticket filed at once.
    const created = new Map<string, number>();
    const t0 = Date.now();
    for (let i = 0; i < TICKETS; i++) {
      const key = await fileDatabaseRequest(world, PEOPLE.developer, { package: `bench-db-${i}`, database: `bench_db_${i}`, username: `bench_app_${i}`, size: 20 });
      created.set(key, Date.now());
    }
    const filedMs = Date.now() - t0;
    const planAt = (key: string, writes: ReturnType<typeof commentWrites>) => firstWrite(writes, key, PLAN);
    await waitFor(
      () => {
        const w = commentWrites(sb);
        return [...created.keys()].every((k) => planAt(k, w) !== undefined) ? true : undefined;
      },
      `${TICKETS} plan comments`,
      WAIT_MS,
    ).catch((err: Error) => console.error(err.message));
    let writes = commentWrites(sb);
    const toPlan = [...created].flatMap(([k, at]) => {
      const p = planAt(k, writes);
      return p === undefined ? [] : [p - at];
    });
    // How long the bundle's own plan command ran, to tell the service's time from the plan's.
    const planStepMs: number[] = [];
    for (const key of created.keys()) {
      for (const req of await engine.requests.forOrigin('jira', key)) {
        if (!req.plan) continue;
        const d = await engine.inventory.get('deployment', req.plan.deploymentId);
        const ms = d.steps.reduce((sum, st) => sum + (st.startedAt && st.finishedAt ? Date.parse(st.finishedAt) - Date.parse(st.startedAt) : 0), 0);
        planStepMs.push(ms);
      }
    }
    const allPlannedMs = Math.max(...[...created.keys()].map((k) => planAt(k, writes) ?? Number.NaN)) - t0;

    // Approvals, all at once, of the first APPLIES tickets.
    const approved = [...created.keys()].slice(0, APPLIES);
    for (const key of approved) sb.as(PEOPLE.approver).transition(key, STATUSES.approved);
    await waitFor(
      () => {
        const w = commentWrites(sb);
        return approved.every((k) => firstWrite(w, k, RESULT) !== undefined) ? true : undefined;
      },
      `${APPLIES} result comments`,
      WAIT_MS,
    ).catch((err: Error) => console.error(err.message));
    writes = commentWrites(sb);
    const toResult: number[] = [];
    for (const key of approved) {
      const requests = await engine.requests.forOrigin('jira', key);
      const appliedAt = requests.flatMap((r) => r.history.filter((h) => h.to === 'applied').map((h) => Date.parse(h.at) - clockOffset))[0];
      const resultAt = firstWrite(writes, key, RESULT);
      if (appliedAt !== undefined && resultAt !== undefined) toResult.push(resultAt - appliedAt);
    }

    const b = summary(baseline);
    const p = summary(toPlan);
    const r = summary(toResult);
    const st = summary(planStepMs);
    console.log(`ticket-to-plan: story world (redis-server, PostgreSQL, contract-checked Jira sandbox, service + workers), postgres-database requests; ${TICKETS} tickets filed in ${filedMs} ms, all planned after ${fmt(allPlannedMs / 1000, 1)} s; ${APPLIES} approved at once`);
    printTable([
      ['measure', 'n', 'p50 (ms)', 'p99 (ms)', 'max (ms)', 'goal', ''],
      [`baseline: sandbox webhook round trip, no-op endpoint, ${TICKETS} at once`, String(b.n), fmt(b.p50, 0), fmt(b.p99, 0), fmt(b.max, 0), '', ''],
      ['one ticket alone: created -> plan comment', '1', fmt(lonePlanned - loneCreated, 0), '', '', '', ''],
      [`created -> plan comment, ${TICKETS} in flight`, `${p.n}/${TICKETS}`, fmt(p.p50, 0), fmt(p.p99, 0), fmt(p.max, 0), '<= 150 / <= 500 ms', `p50 ${verdict(p.p50 <= 150)}, p99 ${verdict(p.p99 <= 500)}`],
      [`  of which the plan command itself (exec step run time)`, String(st.n), fmt(st.p50, 0), fmt(st.p99, 0), fmt(st.max, 0), '', ''],
      [`apply finished -> result comment, ${APPLIES} at once`, `${r.n}/${APPLIES}`, fmt(r.p50, 0), fmt(r.p99, 0), fmt(r.max, 0), '<= 1000 ms', verdict(r.n === APPLIES && r.max <= 1000)],
    ]);
    const violations = sb.violations();
    if (violations.length) console.log(`contract violations: ${violations.length}`);
  } finally {
    await world.close();
  }
}

await main();
process.exit(0);
