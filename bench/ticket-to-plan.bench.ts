/**
 * Ticket to plan: what one ticket costs and how long it waits, in four parts (BENCH_PARTS,
 * default `calls,layouts`; add `postgres` and `noop` for the single-process scenarios below).
 *
 * - `calls`: one no-op ticket's whole happy-path lifecycle (created, planned, approved, applied,
 *   result) in the Jira story world, after a first one that warms every path: Jira calls per phase
 *   from the sandbox's call log, by method and path template, beside the goals (<= 4 created ->
 *   plan visible, <= 10 for the lifecycle); Redis commands (`INFO commandstats` deltas) and client
 *   round trips (a counting wrapper on this process's socket writes to Redis: one write is one
 *   command, or one whole pipeline or MULTI block), each minus an idle stretch of the same length,
 *   beside the goal (<= 60 round trips). The same call count for ServiceNow through its sandbox
 *   (the database request; its plan's cost does not change what the service calls).
 * - `layouts`: the deployed layout, each in its own process (bench/lib/layout.ts): redis-server,
 *   the Jira sandbox, the compiled service (webhooks, no workers) and ONE, then TWO compiled
 *   worker processes, the noop bundle. With two workers: BENCH_LONE (default 9) lone tickets, one
 *   after another, created -> plan comment (goal p50 <= 100 ms). With each layout: BENCH_TICKETS
 *   (default 100) filed at once: p50, p99, drain time (first created -> last plan comment) side
 *   by side and the ratio (goal: p99 <= 1 s with two workers, two drain >= 1.7 x faster than
 *   one), and CPU per ticket of the service and worker processes, apart from the sandbox process
 *   (goal <= 30 ms), with the load average.
 * - The run ends with one line (bench/lib/speed-summary.ts):
 *   `speed: jira-calls created->plan <n>, lifecycle <n>; redis round-trips per ticket <n>; service cpu per ticket <ms> ms; lone p50 <ms> ms; 100-in-flight p99 <ms> ms (2 workers); load <avg>`
 *
 * The single-process scenarios (everything in this one node process, as before the layouts): time
 * from a Jira issue created to its plan in the status comment, with
 * BENCH_TICKETS (default 100) tickets filed at once; and, for BENCH_APPLIES (default 20) of them
 * approved at once, time from the apply finished (the request marked applied) to the result in
 * the status comment.
 *
 * World: `startStoryWorld` (private redis-server and PostgreSQL, the contract-checked Jira
 * sandbox, the service with its workers and the webhook registered). Two scenarios, each in its
 * own world:
 *
 * - `postgres`: the story's `postgres-database` request filed with `fileDatabaseRequest`. Its
 *   plan is a real one (the bundle's exec step: a `node` process that reads the PostgreSQL
 *   catalog, ~230 ms of CPU), so this figure is mostly plan run time and queueing.
 * - `noop`: the bench-only `noop` bundle (bench/fixtures/bundles/noop: plan and apply are one
 *   `/bin/sh -c printf`), its overlay (bench/fixtures/forms) and policy
 *   (bench/fixtures/policy-noop.yaml: staging, one approval, no window), filed with
 *   `fileNoopRequest`. This is the goal's "no-op plan": what is left is the service's own
 *   overhead. Run once per requests-worker concurrency in BENCH_CONCURRENCY (default "4,16").
 *
 * For every ticket the time is also split into phases from the request's history and its plan
 * deployment: webhook + intake (created -> request received), queue + evaluate (received -> plan
 * started), plan run, decide (plan finished -> awaiting approval), publish (awaiting approval ->
 * status comment written).
 *
 * Times come from the sandbox's own call log (`sb.calls[].at`: when the service's comment write
 * was answered) and the request's history, not from polling, so they are not rounded to a poll.
 *
 * Baseline, same run: the sandbox's webhook round trip, from issue created to the delivery
 * received by a no-op `node:http` endpoint, for the same number of issues filed at once.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism, loadavg } from 'node:os';
import { createLogger } from '../src/engine/logger.ts';
import { shiftedClock, startStoryWorld, type StoryWorld } from '../src/demo/story.ts';
import { adfPlain, fileDatabaseRequest, syncStoryForms, waitFor } from '../src/demo/story-steps.ts';
import { exampleSeed, PEOPLE, STATUSES, startJiraSandbox, type JiraSandbox } from '../sandbox/jira/index.ts';
import { fmt, printTable, summary, verdict, watchdog } from './lib/report.ts';
import { fileNoopRequest, noopWorldOptions } from './lib/noop-request.ts';
import { callsPart, layoutsPart } from './lib/speed-parts.ts';
import { openLayouts } from './lib/layout.ts';
import { speedSummaryLine } from './lib/speed-summary.ts';

const TICKETS = Math.min(500, Math.max(1, Number(process.env.BENCH_TICKETS ?? 100)));
const LONE = Math.min(50, Math.max(1, Number(process.env.BENCH_LONE ?? 9)));
const APPLIES = Math.min(TICKETS, Math.max(0, Number(process.env.BENCH_APPLIES ?? 20)));
const WAIT_MS = 300_000;
const CONCURRENCIES = (process.env.BENCH_CONCURRENCY ?? '4,16')
  .split(',')
  .map((v) => Math.min(64, Math.max(1, Math.round(Number(v)))))
  .filter((v) => Number.isFinite(v));
const SCENARIOS = new Set((process.env.BENCH_PARTS ?? process.env.BENCH_SCENARIOS ?? 'calls,layouts').split(',').map((v) => v.trim()));

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

/**
 * The service's answered comment writes, read from the sandbox's call log (append-only)
 * incrementally: the bench polls it every 50 ms in the same process as the service, so it must
 * not re-read and re-render every comment on each poll.
 */
class CommentLog {
  private seen = 0;
  private readonly keyById = new Map<string, string>();
  private readonly writes = new Map<string, { at: number; text: string }[]>();

  constructor(private readonly sb: JiraSandbox) {}

  /** When the first comment write on `key` whose text matches `re` was answered, in epoch ms. */
  first(key: string, re: RegExp): number | undefined {
    this.update();
    return this.writes.get(key)?.find((w) => re.test(w.text))?.at;
  }

  private update(): void {
    const calls = this.sb.calls;
    for (; this.seen < calls.length; this.seen++) {
      const c = calls[this.seen]!;
      if ((c.method !== 'POST' && c.method !== 'PUT') || c.status < 200 || c.status >= 300) continue;
      const m = /^\/rest\/api\/3\/issue\/([^/]+)\/comment(?:\/[^/]+)?$/.exec(c.path);
      if (!m) continue;
      const idOrKey = m[1]!;
      let key = this.keyById.get(idOrKey);
      if (key === undefined) {
        key = this.sb.state.issue(idOrKey).key;
        this.keyById.set(idOrKey, key);
      }
      const body = (c.body as { body?: unknown } | undefined)?.body;
      const list = this.writes.get(key) ?? [];
      list.push({ at: c.at.getTime(), text: body ? adfPlain(body) : '' });
      this.writes.set(key, list);
    }
  }
}

const PLAN = /AWAITING APPROVAL/;
/** The approval-needed event comment, which carries the plan's summary line (not the plan table). */
const APPROVAL_NEEDED = /Approval needed/;
const RESULT = /APPLIED/;

/** The 1-minute load average, printed before each part: a busy machine makes latencies noisy. */
function load(): string {
  return `load average ${fmt(loadavg()[0]!, 2)} on ${availableParallelism()} cores`;
}

/** Per-ticket phases of created -> plan comment, in ms (see the module comment). */
interface Phases {
  intake: number[];
  queued: number[];
  plan: number[];
  decide: number[];
  publish: number[];
}

/** Created -> plan comment, the plan command's run time and the phases, for a set of tickets. */
interface PlanTimes {
  toPlan: number[];
  /** Created -> the approval-needed event comment (plan summary line only). */
  toEvent: number[];
  /** Exec step run time of each plan (the bundle's own command). */
  planStep: number[];
  phases: Phases;
}

/** What one load of tickets measured. */
interface PlanLoad {
  scenario: string;
  concurrency: number;
  lone: PlanTimes;
  load: PlanTimes;
  filedMs: number;
  allPlannedMs: number;
  /** CPU time of this process (service, workers and sandbox share it) per ticket while the load ran. */
  cpuMsPerTicket: number;
  /** Event loop utilisation of this process while the load ran (1 = never idle). */
  elu: number;
  keys: string[];
}

/** Reads the times of tickets `created` (key -> epoch ms) from the call log and the engine. */
async function planTimes(world: StoryWorld, log: CommentLog, created: Map<string, number>, clockOffset: number): Promise<PlanTimes> {
  const { engine } = world.runtime.opened;
  const out: PlanTimes = { toPlan: [], toEvent: [], planStep: [], phases: { intake: [], queued: [], plan: [], decide: [], publish: [] } };
  const at = (iso: string | undefined) => (iso ? Date.parse(iso) - clockOffset : Number.NaN);
  const push = (list: number[], v: number) => {
    if (Number.isFinite(v)) list.push(v);
  };
  for (const [key, createdAt] of created) {
    const commentAt = log.first(key, PLAN);
    if (commentAt !== undefined) out.toPlan.push(commentAt - createdAt);
    const eventAt = log.first(key, APPROVAL_NEEDED);
    if (eventAt !== undefined) out.toEvent.push(eventAt - createdAt);
    for (const req of await engine.requests.forOrigin('jira', key)) {
      if (!req.plan) continue;
      const d = await engine.inventory.get('deployment', req.plan.deploymentId);
      out.planStep.push(d.steps.reduce((sum, st) => sum + (st.startedAt && st.finishedAt ? Date.parse(st.finishedAt) - Date.parse(st.startedAt) : 0), 0));
      const received = at(req.createdAt);
      const started = at(d.startedAt ?? d.createdAt);
      const finished = at(d.finishedAt);
      const awaiting = at(req.history.find((h) => h.to === 'awaiting_approval')?.at);
      push(out.phases.intake, received - createdAt);
      push(out.phases.queued, started - received);
      push(out.phases.plan, finished - started);
      push(out.phases.decide, awaiting - finished);
      if (commentAt !== undefined) push(out.phases.publish, commentAt - awaiting);
    }
  }
  return out;
}

/**
 * Files one ticket alone (warms every path, gives the unloaded figure), then TICKETS at once, and
 * measures created -> plan comment for each from the sandbox's call log.
 */
async function planLoad(world: StoryWorld, log: CommentLog, scenario: string, concurrency: number, clockOffset: number, file: (tag: string) => Promise<string>): Promise<PlanLoad> {
  const lone = await file('warm');
  const loneCreated = Date.now();
  await waitFor(() => log.first(lone, PLAN), 'the lone plan comment', 60_000);
  const loneTimes = await planTimes(world, log, new Map([[lone, loneCreated]]), clockOffset);

  const created = new Map<string, number>();
  const cpu0 = process.cpuUsage();
  const elu0 = performance.eventLoopUtilization();
  const t0 = Date.now();
  for (let i = 0; i < TICKETS; i++) {
    const key = await file(String(i));
    created.set(key, Date.now());
  }
  const filedMs = Date.now() - t0;
  await waitFor(() => ([...created.keys()].every((k) => log.first(k, PLAN) !== undefined) ? true : undefined), `${TICKETS} plan comments (${scenario})`, WAIT_MS).catch((err: Error) =>
    console.error(err.message),
  );
  const cpu = process.cpuUsage(cpu0);
  const elu = performance.eventLoopUtilization(elu0).utilization;
  const allPlannedMs = Math.max(...[...created.keys()].map((k) => log.first(k, PLAN) ?? Number.NaN)) - t0;
  return {
    scenario,
    concurrency,
    lone: loneTimes,
    load: await planTimes(world, log, created, clockOffset),
    filedMs,
    allPlannedMs,
    cpuMsPerTicket: (cpu.user + cpu.system) / 1000 / TICKETS,
    elu,
    keys: [...created.keys()],
  };
}

/** Approves the first APPLIES tickets at once; apply finished -> result comment, in ms. */
async function applyLoad(world: StoryWorld, log: CommentLog, keys: string[], clockOffset: number): Promise<number[]> {
  const sb = world.sandbox;
  const { engine } = world.runtime.opened;
  const approved = keys.slice(0, APPLIES);
  for (const key of approved) sb.as(PEOPLE.approver).transition(key, STATUSES.approved);
  await waitFor(() => (approved.every((k) => log.first(k, RESULT) !== undefined) ? true : undefined), `${APPLIES} result comments`, WAIT_MS).catch((err: Error) =>
    console.error(err.message),
  );
  const toResult: number[] = [];
  for (const key of approved) {
    const requests = await engine.requests.forOrigin('jira', key);
    const appliedAt = requests.flatMap((r) => r.history.filter((h) => h.to === 'applied').map((h) => Date.parse(h.at) - clockOffset))[0];
    const resultAt = log.first(key, RESULT);
    if (appliedAt !== undefined && resultAt !== undefined) toResult.push(resultAt - appliedAt);
  }
  return toResult;
}

/** A world for one scenario, with the checkout project and its staging environment. */
async function openWorld(opts: Omit<Parameters<typeof startStoryWorld>[0], 'logger' | 'clock'>): Promise<{ world: StoryWorld; clockOffset: number }> {
  // Tuesday 10:00 in Berlin: the example staging window is open, so approved requests apply at once.
  const clock = shiftedClock(new Date('2026-11-24T09:00:00Z'));
  const clockOffset = clock.now().getTime() - Date.now();
  const world = await startStoryWorld({ logger: createLogger('silent'), clock, ...opts });
  const { engine } = world.runtime.opened;
  const ctx = { actor: 'platform-admin', surface: 'cli' as const };
  await engine.createProject({ id: 'checkout', name: 'Checkout' }, ctx);
  await engine.createEnvironment({ project: 'checkout', name: 'staging', labels: { production: false } }, ctx);
  return { world, clockOffset };
}

/** The single-process scenarios (`postgres`, `noop`), as measured before the layouts. */
async function singleProcessScenarios(): Promise<void> {
  let world: StoryWorld | undefined;

  console.log(`ticket-to-plan: ${load()} at start; ${TICKETS} tickets per load; scenarios ${[...SCENARIOS].join(', ')}; noop requests-worker concurrency ${CONCURRENCIES.join(', ')}`);
  const baseline = await baselineRoundTrip(TICKETS);
  const loads: PlanLoad[] = [];
  let toResult: number[] = [];

  if (SCENARIOS.has('postgres')) {
    console.log(`postgres scenario: ${load()}`);
    const opened = await openWorld({});
    world = opened.world;
    try {
      await world.runtime.opened.engine.attest('postgres-database', '1.4.0', 'qa-signed', 'quinn', { actor: 'platform-admin', surface: 'cli' });
      await syncStoryForms(world);
      const w = world;
      const log = new CommentLog(w.sandbox);
      const l = await planLoad(w, log, 'postgres-database', 4, opened.clockOffset, (tag) =>
        fileDatabaseRequest(w, PEOPLE.developer, { package: `bench-db-${tag}`, database: `bench_db_${tag}`, username: `bench_app_${tag}`, size: 20 }),
      );
      loads.push(l);
      toResult = await applyLoad(w, log, l.keys, opened.clockOffset);
      const violations = w.sandbox.violations();
      if (violations.length) console.log(`contract violations (postgres): ${violations.length}`);
    } finally {
      await world.close();
      world = undefined;
    }
  }

  if (SCENARIOS.has('noop')) {
    for (const c of CONCURRENCIES) {
      console.log(`noop scenario, requests concurrency ${c}: ${load()}`);
      const opened = await openWorld({ ...noopWorldOptions(), concurrency: { requests: c } });
      world = opened.world;
      try {
        await syncStoryForms(world);
        const w = world;
        loads.push(await planLoad(w, new CommentLog(w.sandbox), 'noop', c, opened.clockOffset, (tag) => fileNoopRequest(w, PEOPLE.developer, { package: `bench-noop-${tag}`, label: `bench-${tag}` })));
        const violations = w.sandbox.violations();
        if (violations.length) console.log(`contract violations (noop, ${c}): ${violations.length}`);
      } finally {
        await world.close();
        world = undefined;
      }
    }
  }

  const b = summary(baseline);
  console.log(`ticket-to-plan: story world (redis-server, PostgreSQL, contract-checked Jira sandbox, service + workers); ${load()} at the end`);
  for (const l of loads) console.log(`  ${l.scenario}, requests concurrency ${l.concurrency}: ${TICKETS} tickets filed in ${l.filedMs} ms, all planned after ${fmt(l.allPlannedMs / 1000, 1)} s`);
  const rows: string[][] = [
    ['measure', 'n', 'p50 (ms)', 'p99 (ms)', 'max (ms)', 'goal', ''],
    [`baseline: sandbox webhook round trip, no-op endpoint, ${TICKETS} at once`, String(b.n), fmt(b.p50, 0), fmt(b.p99, 0), fmt(b.max, 0), '', ''],
  ];
  for (const l of loads) {
    const p = summary(l.load.toPlan);
    const st = summary(l.load.planStep);
    const name = `${l.scenario}, concurrency ${l.concurrency}`;
    rows.push([`${name}: one ticket alone, created -> plan comment`, '1', fmt(l.lone.toPlan[0] ?? Number.NaN, 0), '', '', '', '']);
    rows.push([`${name}: created -> plan comment, ${TICKETS} in flight`, `${p.n}/${TICKETS}`, fmt(p.p50, 0), fmt(p.p99, 0), fmt(p.max, 0), '<= 150 / <= 500 ms', `p50 ${verdict(p.p50 <= 150)}, p99 ${verdict(p.p99 <= 500)}`]);
    rows.push([`  of which the plan command itself (exec step run time)`, String(st.n), fmt(st.p50, 0), fmt(st.p99, 0), fmt(st.max, 0), '', '']);
    const ev = summary(l.load.toEvent);
    rows.push([`  created -> "Approval needed" comment (plan summary line)`, `${ev.n}/${TICKETS}`, fmt(ev.p50, 0), fmt(ev.p99, 0), fmt(ev.max, 0), '', '']);
  }
  if (SCENARIOS.has('postgres')) {
    const r = summary(toResult);
    rows.push([`postgres-database: apply finished -> result comment, ${APPLIES} at once`, `${r.n}/${APPLIES}`, fmt(r.p50, 0), fmt(r.p99, 0), fmt(r.max, 0), '<= 1000 ms', verdict(r.n === APPLIES && r.max <= 1000)]);
  }
  printTable(rows);

  console.log('\nphases of created -> plan comment, p50 / p99 (ms); cpu = CPU of the one node process running service, workers and sandbox');
  const phaseRows: string[][] = [['scenario', 'webhook + intake', 'queue + evaluate', 'plan run', 'decide', 'publish', 'cpu / ticket', 'event loop busy']];
  const cell = (v: number[]) => {
    const s = summary(v);
    return s.n === 1 ? fmt(s.p50, 0) : `${fmt(s.p50, 0)} / ${fmt(s.p99, 0)}`;
  };
  for (const l of loads) {
    const name = `${l.scenario}, concurrency ${l.concurrency}`;
    const ph = (t: PlanTimes) => [cell(t.phases.intake), cell(t.phases.queued), cell(t.phases.plan), cell(t.phases.decide), cell(t.phases.publish)];
    phaseRows.push([`${name}, one alone`, ...ph(l.lone), '', '']);
    phaseRows.push([`${name}, ${TICKETS} in flight`, ...ph(l.load), `${fmt(l.cpuMsPerTicket, 1)} ms`, `${fmt(l.elu * 100, 0)} %`]);
  }
  printTable(phaseRows);
}

async function main(): Promise<void> {
  watchdog(1_500_000, 'ticket-to-plan bench', () => Promise.all([...openLayouts].map((l) => l.close())));
  console.log(`ticket-to-plan: ${load()} at start; parts ${[...SCENARIOS].join(', ')}`);
  const calls = SCENARIOS.has('calls') ? await callsPart() : undefined;
  if (SCENARIOS.has('layouts')) {
    const b = summary(await baselineRoundTrip(TICKETS));
    console.log(`\nsame-run baseline: the sandbox's webhook round trip to a no-op node:http endpoint, ${TICKETS} issues at once: p50 ${fmt(b.p50, 0)} ms, p99 ${fmt(b.p99, 0)} ms, max ${fmt(b.max, 0)} ms`);
  }
  const layouts = SCENARIOS.has('layouts') ? await layoutsPart(LONE, TICKETS) : undefined;
  if (SCENARIOS.has('postgres') || SCENARIOS.has('noop')) await singleProcessScenarios();
  const two = layouts?.two;
  const cpu = two ? two.cpu.service + two.cpu.workers : Number.NaN;
  console.log(
    '\n' +
      speedSummaryLine({
        jiraCallsToPlan: calls?.jiraToPlan ?? Number.NaN,
        jiraCallsLifecycle: calls?.jiraLifecycle ?? Number.NaN,
        redisRoundTrips: calls?.redisRoundTrips ?? Number.NaN,
        serviceCpuMs: cpu,
        loneP50Ms: two ? summary(two.lone).p50 : Number.NaN,
        inFlightP99Ms: two ? summary(two.toPlan).p99 : Number.NaN,
        load: loadavg()[0]!,
      }),
  );
}

await main();
process.exit(0);
