/**
 * `npm run chaos`: the fault-injection harness (not part of `npm test`). See bench/README.md.
 *
 * Starts, each in its own process and on loopback only: Redis (AOF, `appendfsync always`), the
 * service (HTTP and webhooks, no workers), three worker processes, the Jira and the ServiceNow
 * sandbox (each behind a proxy that can answer 30 % 429/5xx, with a fan-out that delivers every
 * webhook three times out of order). It files CHAOS_TICKETS (default 120) tickets across both
 * surfaces for the `chaos-mark` bundle (no approval, so each one applies; every apply appends a
 * line to a marks file) and meanwhile SIGKILLs workers at random moments and, through the fault
 * hook, at named points; kills Redis once and starts it again; and turns the sandboxes flaky for
 * a stretch. Then it lets the system drain and checks every ticket against the sandboxes' records
 * and the marks. Its last line is:
 *
 *   chaos: tickets <n>, applied-once <n>, lost <n>, doubled <n>, stuck <n>, kills <n>, redis-restarts <n>, drained-in <s>s
 *
 * lost: no request reached a terminal state and none exists (a delivery lost); doubled: applied
 * twice, two status comments, or an event comment or work note posted twice; stuck: a request
 * not terminal after the drain. Exit 0 when lost, doubled and stuck are all 0.
 */
import { mkdtempSync, readFileSync, rmSync, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { Redis } from 'ioredis';
import { Inventory } from '../../src/engine/inventory.ts';
import { RequestService } from '../../src/engine/requests.ts';
import { SurfaceIdStore } from '../../src/engine/surface-ids.ts';
import { isTerminal } from '../../src/engine/request-lifecycle.ts';
import type { FaultPoint } from '../../src/workflow/faults.ts';
import { freePort, launch, readyLine, RedisProc, sleep, stopAll, WorkerSlot } from './procs.ts';

const TICKETS = Math.max(2, Number(process.env.CHAOS_TICKETS ?? 120));
const MIN_KILLS = Number(process.env.CHAOS_KILLS ?? 32);
const DRAIN_MS = 240_000;
const CHAOS_MAX_MS = 200_000;
const POINTS: FaultPoint[] = ['mid-evaluate', 'after-plan', 'between-state-and-notice', 'before-apply', 'after-apply-before-record', 'relay-after-add'];
const ROOT = resolve(import.meta.dirname, '../..');

interface Ticket {
  surface: 'jira' | 'servicenow';
  ref: string;
  label: string;
}

interface Sandbox {
  url: string;
  env: Record<string, string>;
}

const counts = { randomKills: 0, pointKills: 0, points: {} as Record<string, number>, redisRestarts: 0 };
const say = (line: string) => process.stdout.write(`${line}\n`);

async function post(url: string, body: unknown): Promise<any> {
  const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!r.ok) throw new Error(`${url}: ${r.status} ${await r.text()}`);
  return r.json();
}

async function startSandbox(surface: 'jira' | 'servicenow', serviceUrl: string, logDir: string): Promise<Sandbox> {
  const child = launch(`sandbox-${surface}`, [process.execPath, '--import', 'tsx', 'bench/chaos/sandbox-proc.ts', '--surface', surface, '--service-url', serviceUrl], process.env, logDir);
  return readyLine<Sandbox>(child);
}

async function waitHttp(url: string, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not up yet
    }
    await sleep(200);
  }
  throw new Error(`${url} did not answer`);
}

/** The CLI, as an operator runs it (forms sync). */
function cli(args: string[], env: NodeJS.ProcessEnv): void {
  const r = spawnSync(process.execPath, ['bin/ticket-surface.mjs', ...args], { env, encoding: 'utf8', cwd: ROOT });
  if (r.status !== 0) throw new Error(`ticket-surface ${args.join(' ')} failed: ${r.stderr}`);
}

/** Files one ticket on `surface` through its sandbox, as the developer does. */
async function fileTicket(surface: 'jira' | 'servicenow', sb: Sandbox, ids: SurfaceIdStore, i: number): Promise<Ticket> {
  const label = `${surface === 'jira' ? 'j' : 's'}-${String(i).padStart(3, '0')}`;
  if (surface === 'jira') {
    const f = await ids.all('jira');
    const fields = {
      [f['request/bundle']!]: { value: 'chaos-mark' },
      [f['request/environment']!]: { value: 'staging' },
      [f['request/package']!]: `pkg-${label}`,
      [f['chaos-mark/label']!]: label,
    };
    const { ref } = await post(`${sb.url}/chaos/file`, { summary: `Chaos ${label}`, fields });
    return { surface, ref, label };
  }
  const item = await ids.get('servicenow', 'item/chaos-mark');
  const { ref } = await post(`${sb.url}/chaos/file`, { item, variables: { request_environment: 'staging', request_package: `pkg-${label}`, label } });
  return { surface, ref, label };
}

/** The chaos: random kills, named-point kills, one Redis kill and restart, a flaky stretch; until enough kills and everything filed. */
async function chaos(slots: WorkerSlot[], redis: RedisProc, sandboxes: Sandbox[], filing: Promise<unknown>): Promise<void> {
  let filed = false;
  void filing.then(() => (filed = true));
  const t0 = Date.now();
  let redisDone = false;
  let flakyState: 'before' | 'on' | 'done' = 'before';
  const kills = () => counts.randomKills + counts.pointKills;
  while (Date.now() - t0 < CHAOS_MAX_MS && !(filed && kills() >= MIN_KILLS && redisDone && flakyState === 'done')) {
    const t = Date.now() - t0;
    if (!redisDone && t > 25_000) {
      say('  killing Redis (SIGKILL) and starting it again');
      await redis.kill();
      await sleep(1500);
      await redis.start();
      counts.redisRestarts += 1;
      redisDone = true;
    }
    if (flakyState === 'before' && t > 35_000) {
      say('  sandboxes answer 30 % 429/503 for 25 s');
      for (const sb of sandboxes) await post(`${sb.url}/chaos/flaky`, { on: true });
      flakyState = 'on';
    }
    if (flakyState === 'on' && t > 60_000) {
      for (const sb of sandboxes) await post(`${sb.url}/chaos/flaky`, { on: false });
      flakyState = 'done';
    }
    const live = slots.filter((s) => s.child);
    const victim = live[Math.floor(Math.random() * live.length)];
    if (victim?.killNow()) await sleep(50);
    await sleep(2500 + Math.floor(Math.random() * 1500));
  }
}

/**
 * No more random kills; the workers keep dying at named points (most requests plan and apply
 * now) until every point was hit once, or a minute and a half passed.
 */
async function namedPoints(): Promise<void> {
  const t0 = Date.now();
  while (Date.now() - t0 < 90_000 && POINTS.some((p) => !counts.points[p])) await sleep(1000);
}

/** Every ticket's request state, from the service's own records. */
async function requestStates(requests: RequestService, tickets: Ticket[]): Promise<Map<Ticket, string | undefined>> {
  const out = new Map<Ticket, string | undefined>();
  for (const t of tickets) {
    const all = await requests.forOrigin(t.surface, t.ref);
    const latest = all.sort((a, b) => a.createdAt.localeCompare(b.createdAt)).at(-1);
    out.set(t, latest?.state);
  }
  return out;
}

async function drain(requests: RequestService, tickets: Ticket[]): Promise<number> {
  const t0 = Date.now();
  let told = 0;
  while (Date.now() - t0 < DRAIN_MS) {
    const states = await requestStates(requests, tickets);
    const open = [...states.values()].filter((s) => !s || !isTerminal(s as never));
    if (open.length === 0) return (Date.now() - t0) / 1000;
    if (Date.now() - told > 15_000) {
      told = Date.now();
      const by: Record<string, number> = {};
      for (const s of open) by[s ?? 'no request'] = (by[s ?? 'no request'] ?? 0) + 1;
      say(`  ${Math.round((Date.now() - t0) / 1000)}s: ${open.length} open ${JSON.stringify(by)}`);
    }
    await sleep(2000);
  }
  return (Date.now() - t0) / 1000;
}

/** Checks every ticket against the sandboxes' records and the marks file; prints the findings and returns the figures. */
async function verdict(requests: RequestService, tickets: Ticket[], sandboxes: Record<string, Sandbox>, marksFile: string) {
  const marks = new Map<string, number>();
  if (existsSync(marksFile)) {
    for (const line of readFileSync(marksFile, 'utf8').split('\n').filter(Boolean)) {
      const label = (JSON.parse(line) as { label: string }).label;
      marks.set(label, (marks.get(label) ?? 0) + 1);
    }
  }
  const reports: Record<string, Map<string, any>> = {};
  for (const [surface, sb] of Object.entries(sandboxes)) {
    const r = (await (await fetch(`${sb.url}/chaos/report`)).json()) as { tickets: any[]; fan: { received: number; delivered: number } };
    reports[surface] = new Map(r.tickets.map((x) => [x.ref, x]));
    say(`  ${surface}: ${r.fan.received} webhooks from the sandbox, ${r.fan.delivered} copies delivered to the service`);
  }
  const states = await requestStates(requests, tickets);
  const fig = { appliedOnce: 0, lost: 0, doubled: 0, stuck: 0 };
  for (const t of tickets) {
    const state = states.get(t);
    const rec = reports[t.surface]!.get(t.ref);
    const keys: Record<string, number> = t.surface === 'jira' ? rec.eventKeys : rec.noteKeys;
    const dupKeys = Object.entries(keys).filter(([, n]) => n > 1).map(([k]) => k);
    const statusComments = t.surface === 'jira' ? Object.values(rec.statusComments as Record<string, number>).filter((n) => n > 1).length : 0;
    const applied = marks.get(t.label) ?? 0;
    const problems: string[] = [];
    if (!state) {
      fig.lost += 1;
      problems.push('lost (no request)');
    } else if (!isTerminal(state as never)) {
      fig.stuck += 1;
      problems.push(`stuck in ${state}`);
    }
    if (applied > 1 || dupKeys.length || statusComments) {
      fig.doubled += 1;
      problems.push(`doubled: ${applied} applies, ${dupKeys.length} repeated notes/comments ${dupKeys.join(' ')}, ${statusComments} extra status comments`);
    }
    if (state === 'applied' && applied === 1) fig.appliedOnce += 1;
    else if (state && isTerminal(state as never)) problems.push(`ended ${state} with ${applied} applies`);
    if (problems.length) say(`  ${t.surface} ${t.ref} (${t.label}): ${problems.join('; ')}`);
  }
  return fig;
}

async function main(): Promise<number> {
  const work = mkdtempSync(join(tmpdir(), 'ts-chaos-'));
  const logDir = join(work, 'logs');
  mkdirSync(logDir, { recursive: true });
  say(`chaos: ${TICKETS} tickets; logs in ${logDir}`);
  const [redisPort, servicePort] = [await freePort(), await freePort()];
  const redis = new RedisProc(redisPort, join(work, 'redis'), logDir);
  await redis.start();
  const serviceUrl = `http://127.0.0.1:${servicePort}`;
  const [jira, servicenow] = await Promise.all([startSandbox('jira', serviceUrl, logDir), startSandbox('servicenow', serviceUrl, logDir)]);
  const marksFile = join(work, 'marks.log');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...jira.env,
    ...servicenow.env,
    REDIS_URL: redis.url,
    DATA_DIR: join(work, 'data'),
    LOG_LEVEL: process.env.CHAOS_LOG_LEVEL ?? 'warn',
    POLICY_FILE: join(ROOT, 'bench/chaos/policy.yaml'),
    BUNDLE_PATH: join(ROOT, 'bench/chaos/bundles'),
    FORMS_DIR: join(ROOT, 'bench/chaos/forms'),
    TS_TARGET_CHAOS_MARKS: marksFile,
  };
  const conn = new Redis(redis.url, { maxRetriesPerRequest: null });
  conn.on('error', () => undefined); // Redis is killed on purpose; commands wait for it
  const inventory = new Inventory({ redis: conn, prefix: 'ts:' });
  const requests = new RequestService({ inventory });
  const ops = { actor: 'platform-admin', surface: 'cli' as const };
  await inventory.createProject({ name: 'checkout' }, ops);
  await inventory.createEnvironment({ project: 'checkout', name: 'staging', labels: { production: false } }, ops);
  try {
    launch('service', [process.execPath, '--import', 'tsx', 'src/main.ts'], { ...env, RUN_WORKERS: 'false', PORT: String(servicePort), HOST: '127.0.0.1' }, logDir);
    await waitHttp(`${serviceUrl}/healthz`, 60_000);
    cli(['forms', 'sync', '--surface', 'jira'], env);
    cli(['forms', 'sync', '--surface', 'servicenow'], env);
    const slots = [0, 1, 2].map(
      (i) =>
        new WorkerSlot(`worker-${i}`, env, logDir, (how, point) => {
          if (how === 'point') {
            counts.pointKills += 1;
            counts.points[point!] = (counts.points[point!] ?? 0) + 1;
          } else counts.randomKills += 1;
        }),
    );
    slots.forEach((s, i) => {
      if (i < 2) s.chaosEnv = { CHAOS_EXIT_AT: POINTS.filter((_, j) => j % 2 === i).join(','), CHAOS_EXIT_CHANCE: '0.25' };
      s.start();
    });
    const ids = new SurfaceIdStore(conn, 'ts:');
    const tickets: Ticket[] = [];
    say(`  service, 3 workers, Redis and both sandboxes up; filing ${TICKETS} tickets`);
    const filing = (async () => {
      for (let i = 0; i < TICKETS; i++) {
        const surface = i % 2 === 0 ? 'jira' : 'servicenow';
        for (;;) {
          try {
            tickets.push(await fileTicket(surface, surface === 'jira' ? jira : servicenow, ids, i));
            break;
          } catch (err) {
            // Redis down while reading the field ids: try again
            await sleep(300);
            if (!(err instanceof Error)) throw err;
          }
        }
        await sleep(400);
      }
    })();
    await chaos(slots, redis, [jira, servicenow], filing);
    await filing;
    await namedPoints();
    say(`  chaos over: ${counts.randomKills} random kills, ${counts.pointKills} at named points ${JSON.stringify(counts.points)}; draining`);
    await Promise.all(slots.map((s) => s.replace({})));
    const drainedIn = await drain(requests, tickets);
    await sleep(5000); // the last notices reach the tickets
    const fig = await verdict(requests, tickets, { jira, servicenow }, marksFile);
    const kills = counts.randomKills + counts.pointKills;
    await Promise.all(slots.map((s) => s.close()));
    say(
      `chaos: tickets ${tickets.length}, applied-once ${fig.appliedOnce}, lost ${fig.lost}, doubled ${fig.doubled}, stuck ${fig.stuck}, kills ${kills}, redis-restarts ${counts.redisRestarts}, drained-in ${Math.round(drainedIn)}s`,
    );
    return fig.lost + fig.doubled + fig.stuck === 0 ? 0 : 1;
  } finally {
    conn.disconnect();
    await stopAll();
    if (!process.env.CHAOS_KEEP) rmSync(work, { recursive: true, force: true });
  }
}

const timer = setTimeout(() => {
  say('chaos: gave up after 10 minutes');
  void stopAll().then(() => process.exit(2));
}, 580_000);
timer.unref();
process.exitCode = await main();
